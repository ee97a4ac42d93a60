# qemu-dev/wafer/: the wafer model as a plain C library (also compiled into
# QEMU by qemu-dev's meson glue), its unit test and its benchmark command.

# KERNELS_SRCS: the kernel library of engine/build.mk (included before this file).
WAFER_SRCS := qemu-dev/wafer/wafer.c qemu-dev/wafer/wafer_ops.c qemu-dev/wafer/wafer_kernels.c \
	qemu-dev/wafer/wafer_pool.c qemu-dev/wafer/wafer_timing.c $(KERNELS_SRCS)
WAFER_LIB := $(BUILD)/lib/libwafer.a
WAFER_SAN_LIB := $(BUILD)/lib/libwafer-san.a

$(WAFER_LIB): $(WAFER_SRCS:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(WAFER_SAN_LIB): $(WAFER_SRCS:%.c=$(BUILD)/san/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

WAFER_BENCH := $(BUILD)/bin/wse-wafer-bench
$(WAFER_BENCH): $(BUILD)/obj/tools/wse-wafer-bench.o $(WAFER_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -o $@ $^ $(LDLIBS_USER)

ALL_TARGETS += $(WAFER_LIB) $(WAFER_BENCH)

WAFER_TEST := $(BUILD)/tests/test_wafer
$(WAFER_TEST): $(BUILD)/san/tests/unit/test_wafer.o $(WAFER_SAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -o $@ $^ $(LDLIBS_USER)
UNIT_TESTS += $(WAFER_TEST)
