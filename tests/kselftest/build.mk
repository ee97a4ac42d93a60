# tests/kselftest/: the driver's kselftests, run inside the VM by
# tests/kselftest/run-in-vm.sh, and wse-ioctl-bench. kselftest_harness.h comes
# from the linux-source tree that `tools/vm/fetch-kernel.sh --source` unpacks;
# (tools/setup runs it); without it the build stops and says so.
KSFT_DIR     ?= $(WSE_CACHE)/linux-source/tree/tools/testing/selftests
KSFT_CFLAGS   = $(CFLAGS_USER) $(shell pkg-config --cflags libdrm 2>/dev/null || echo -I/usr/include/libdrm)
KSFT_TESTS   := wse_abi_test wse_isolation_test wse_recovery_test wse_hostile_test \
		wse_lifecycle_test
KSFT_BINS    := $(addprefix $(BUILD)/tests/kselftest/,$(KSFT_TESTS))
KSFT_HEADERS := tests/kselftest/wse_util.h uapi/wse_accel.h include/wse/hw_device.h include/wse/hw_ops.h

.PHONY: kselftest
kselftest: $(KSFT_BINS) $(BUILD)/tests/kselftest/run-in-vm.sh

$(BUILD)/tests/kselftest/%: tests/kselftest/%.c $(KSFT_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(KSFT_CFLAGS) -isystem $(KSFT_DIR) $< -o $@ $(LDLIBS_USER)

$(BUILD)/tests/kselftest/run-in-vm.sh: tests/kselftest/run-in-vm.sh
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/bin/wse-ioctl-bench: tests/kselftest/wse_ioctl_bench.c $(KSFT_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(KSFT_CFLAGS) $< -o $@ $(LDLIBS_USER)

# The ioctl fuzzer needs no kselftest harness (tests/vm/25-ioctl-fuzz.sh, make fuzz-ioctl).
$(BUILD)/tests/kselftest/wse_ioctl_fuzz: tests/kselftest/wse_ioctl_fuzz.c $(KSFT_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(KSFT_CFLAGS) $< -o $@ $(LDLIBS_USER)

$(KSFT_DIR)/kselftest_harness.h:
	@echo "kselftest_harness.h is missing: run tools/vm/fetch-kernel.sh --source (tools/setup does)" >&2
	@false

$(KSFT_BINS): $(KSFT_DIR)/kselftest_harness.h

ALL_TARGETS += $(BUILD)/bin/wse-ioctl-bench kselftest $(BUILD)/tests/kselftest/wse_ioctl_fuzz
