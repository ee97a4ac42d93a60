# engine/: the inference engine library, wse-infer, its benchmark, its unit
# tests and the GGUF fuzz target (`make fuzz`, not part of `all`).

# The kernel library, shared with the wafer model (qemu-dev/wafer/build.mk).
KERNELS_SRCS := engine/kernels/kernels.c engine/kernels/kernels_avx2.c
ENGINE_SRCS := engine/error.c engine/dtype.c engine/file_map.c engine/default_model.c \
	engine/sram_plan.c \
	engine/gguf.c engine/gguf_write.c engine/model.c engine/tokenizer.c \
	engine/sampler.c engine/backend.c engine/cpu_backend.c engine/threadpool.c \
	$(KERNELS_SRCS)
ENGINE_LIB := $(BUILD)/lib/libwseengine.a
ENGINE_SAN_LIB := $(BUILD)/lib/libwseengine-san.a

$(ENGINE_LIB): $(ENGINE_SRCS:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(ENGINE_SAN_LIB): $(ENGINE_SRCS:%.c=$(BUILD)/san/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# The wse backend lives in its own archive, with a registry (backend.c built
# with ENGINE_WITH_WSE) that names it, so that programs that only need the
# cpu backend (the trainer, the unit tests) do not pull in libwse. Programs
# that want it link ENGINE_WSE_LINK, which takes libwse statically: the
# binaries run on the host and in the VM without a library path.
ENGINE_WSE_LIB := $(BUILD)/lib/libwseengine-wse.a
ENGINE_WSE_OBJS := $(BUILD)/obj/engine/wse_backend.o $(BUILD)/obj/engine/backend-wse.o
ENGINE_WSE_SYSLIBS := $(or $(shell pkg-config --libs libdrm libnl-genl-3.0 2>/dev/null),-ldrm -lnl-genl-3 -lnl-3)
ENGINE_WSE_LINK = $(ENGINE_WSE_LIB) $(ENGINE_LIB) $(BUILD)/lib/libwse.a $(ENGINE_WSE_SYSLIBS)

$(BUILD)/obj/engine/backend-wse.o: engine/backend.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -DENGINE_WITH_WSE -MMD -MP -c $< -o $@

$(ENGINE_WSE_LIB): $(ENGINE_WSE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

ENGINE_TOOLS := $(BUILD)/bin/wse-infer $(BUILD)/bin/wse-infer-bench
$(ENGINE_TOOLS): $(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(ENGINE_WSE_LIB) $(ENGINE_LIB) $(BUILD)/lib/libwse.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -o $@ $< $(ENGINE_WSE_LINK) $(LDLIBS_USER)

ALL_TARGETS += $(ENGINE_LIB) $(ENGINE_WSE_LIB) $(ENGINE_TOOLS)
INSTALL_BINS += $(BUILD)/bin/wse-infer

ENGINE_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_engine_*.c))
$(ENGINE_TESTS): $(BUILD)/tests/%: $(BUILD)/san/tests/unit/%.o $(ENGINE_SAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -o $@ $^ $(LDLIBS_USER)
UNIT_TESTS += $(ENGINE_TESTS)

# The fuzz target replayed over the checked-in corpus by gcc with the
# sanitizers, without libFuzzer: every crasher once found stays a unit test.
FUZZ_REPLAY := $(BUILD)/tests/fuzz_gguf_replay
$(FUZZ_REPLAY): $(BUILD)/san/tests/fuzz/replay.o $(BUILD)/san/tests/fuzz/fuzz_gguf.o $(ENGINE_SAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -o $@ $^ $(LDLIBS_USER)
UNIT_TESTS += $(FUZZ_REPLAY)

# ---- fuzzing (clang + libFuzzer) ------------------------------------------------
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_SRCS := tests/fuzz/fuzz_gguf.c engine/error.c engine/dtype.c engine/file_map.c \
	engine/gguf.c engine/model.c engine/tokenizer.c $(KERNELS_SRCS)
FUZZ_BIN := $(BUILD)/fuzz/fuzz_gguf

$(FUZZ_BIN): $(FUZZ_SRCS) $(wildcard engine/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) $(WARN) -g -O1 -I. -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(FUZZ_SRCS) -lm

# Regenerates the checked-in seed corpus.
$(BUILD)/bin/gen-fuzz-corpus: $(BUILD)/obj/tests/fuzz/gen_corpus.o $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -o $@ $^ $(LDLIBS_USER)

.PHONY: fuzz fuzz-corpus
fuzz-corpus: $(BUILD)/bin/gen-fuzz-corpus
	$(BUILD)/bin/gen-fuzz-corpus tests/fuzz/corpus

fuzz:
	@if ! command -v $(FUZZ_CC) >/dev/null; then \
		echo "fuzz: $(FUZZ_CC) not found; the fuzz target needs clang with libFuzzer"; exit 1; fi
	$(MAKE) --no-print-directory $(FUZZ_BIN)
	@mkdir -p $(BUILD)/fuzz/corpus
	cp -n tests/fuzz/corpus/* $(BUILD)/fuzz/corpus/ 2>/dev/null || true
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus
