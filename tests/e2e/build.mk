# tests/e2e/: end-to-end programs that run in the VM (tests/vm/50-e2e.sh) and
# compare the wse backend on the devices with the cpu backend.

E2E_TESTS := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e/%,$(subst _,-,$(wildcard tests/e2e/*.c)))

$(BUILD)/tests/e2e/e2e-infer: $(BUILD)/obj/tests/e2e/e2e_infer.o $(ENGINE_WSE_LIB) $(ENGINE_LIB) \
		$(BUILD)/lib/libwse.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -o $@ $< $(ENGINE_WSE_LINK) $(LDLIBS_USER)

ALL_TARGETS += $(E2E_TESTS)
