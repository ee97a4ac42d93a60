# wse: top-level build. `make` builds everything userspace and the module;
# `make check` runs every test; `make demo` is the main job (see README.md).
# Each folder contributes a build.mk that adds its targets to the lists below.

BUILD      ?= build
CC         ?= gcc
WSE_CACHE  ?= /var/cache/wse
export WSE_CACHE

CSTD       := -std=c11 -D_GNU_SOURCE
WARN       := -Wall -Wextra -Werror
OPT        ?= -O2 -march=x86-64-v2 -g
# No path of the build machine in the binaries (debug info, __FILE__): paths are the checkout's.
PATHMAP    := -ffile-prefix-map=$(CURDIR)=.
CFLAGS_USER = $(CSTD) $(WARN) $(OPT) $(PATHMAP) -pthread -I. -Iinclude -fPIC
# Host unit tests build everything they touch a second time with sanitizers.
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
CFLAGS_SAN  = $(CSTD) $(WARN) -O1 -g -pthread -I. -Iinclude $(SANFLAGS)
LDLIBS_USER := -lm -pthread

# Filled in by the build.mk files.
ALL_TARGETS :=
UNIT_TESTS  :=
INSTALL_BINS :=
CLEAN_DIRS  := $(BUILD)

.PHONY: all clean check check-unit check-lint check-qtest check-vm qemu
.DELETE_ON_ERROR:
all:

-include $(sort $(wildcard */build.mk */*/build.mk))
# make install, make install-dkms, make deb: after the build.mk files, whose
# INSTALL_BINS it installs.
include tools/install.mk

all: $(ALL_TARGETS)

# make demo, the README's first command: inference on the embedded default
# model (which the VM's initramfs carries as /wse/models/default.gguf, found
# by wse-infer from /wse/bin) on one wse device in the VM.
DEMO_PROMPT ?= In the beginning
DEMO_TOKENS ?= 100
.PHONY: demo
demo:
	tools/setup
	$(MAKE) --no-print-directory -j2 all
	tools/wse-vm --devices 1 -- wse-infer --backend wse -p "$(DEMO_PROMPT)" -n $(DEMO_TOKENS) --stats

# Object rules shared by every folder: build/obj (optimised) and build/san.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -MMD -MP -c $< -o $@

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)

# A test that fails to build is removed (not run stale) and counted as failed
# by tests/run-suite, while the others still run.
check-unit:
	@$(MAKE) --no-print-directory -k $(UNIT_TESTS) || true
	@for t in $(UNIT_TESTS); do $(MAKE) --no-print-directory -q $$t 2>/dev/null || rm -f $$t; done
	tests/run-suite unit $(UNIT_TESTS)

qemu:
	tools/vm/build-qemu.sh

check-qtest:
	tests/qtest/run

# The device fuzzer under the ASan+UBSan QEMU for FUZZ_DEVICE_TIME seconds.
.PHONY: fuzz-device
fuzz-device:
	tests/qtest/fuzz-device

check-lint:
	tests/run-suite lint tests/lint/*.sh

check-vm: all
	tests/vm/run

# The test command of README.md: every suite, one closing summary line.
check:
	tests/run-all

clean:
	rm -rf $(CLEAN_DIRS)

# The README's two commands in a fresh Debian 12 root (debootstrap), from a
# clean clone of HEAD with an empty cache (tools/check-fresh).
.PHONY: check-fresh
check-fresh:
	tools/check-fresh

# The ioctl fuzzer's long campaign (tests/vm/25-ioctl-fuzz.sh with a big
# root run): 1,000,000 calls take about 8 minutes under TCG (7 of fuzzing).
FUZZ_IOCTL_CALLS ?= 1000000
FUZZ_IOCTL_SEED  ?= $(shell date +%s)
.PHONY: fuzz-ioctl
fuzz-ioctl: all
	WSE_FUZZ_SEED=$(FUZZ_IOCTL_SEED) WSE_FUZZ_CALLS=$(FUZZ_IOCTL_CALLS) \
	WSE_FUZZ_MIN_CALLS=$(FUZZ_IOCTL_CALLS) WSE_FUZZ_TIME=0 WSE_FUZZ_PROCS=4 \
	WSE_FUZZ_THREADS=4 WSE_FUZZ_UNPLUG=1 WSE_VM_TIMEOUT=14400 tests/vm/25-ioctl-fuzz.sh

# Deliberate bugs, one at a time, each of which the suite must catch
# (tests/mutate/mutations); MUTATIONS="name ..." picks some.
.PHONY: mutate
mutate:
	tests/mutate/run $(MUTATIONS)
