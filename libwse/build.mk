# libwse/: the library (shared with soname + version script, static, pkg-config
# file), the tools built on it (wse-smi, wse-bench), its host unit tests, its
# API tests for the VM, and what `make install` takes (tools/install.mk).

LIBWSE_VERSION := 0.1.0
LIBWSE_SONAME  := libwse.so.0
LIBWSE_PKGS    := libdrm libnl-genl-3.0
# pkg-config may be missing before tools/setup has run; the fallbacks are Debian's paths.
LIBWSE_CFLAGS  := $(or $(shell pkg-config --cflags $(LIBWSE_PKGS) 2>/dev/null),-I/usr/include/libdrm -I/usr/include/libnl3)
LIBWSE_LIBS    := $(or $(shell pkg-config --libs $(LIBWSE_PKGS) 2>/dev/null),-ldrm -lnl-genl-3 -lnl-3)

LIBWSE_SRCS := libwse/error.c libwse/uapi_map.c libwse/device.c libwse/buffer.c \
	libwse/context.c libwse/job.c libwse/stream.c libwse/telemetry.c libwse/sysfs.c \
	libwse/sample.c
LIBWSE_OBJS := $(LIBWSE_SRCS:%.c=$(BUILD)/obj/%.o)
LIBWSE_SAN_OBJS := $(LIBWSE_SRCS:%.c=$(BUILD)/san/%.o)

LIBWSE_SO    := $(BUILD)/lib/libwse.so.$(LIBWSE_VERSION)
LIBWSE_LINKS := $(BUILD)/lib/$(LIBWSE_SONAME) $(BUILD)/lib/libwse.so
LIBWSE_A     := $(BUILD)/lib/libwse.a
LIBWSE_PC    := $(BUILD)/lib/pkgconfig/libwse.pc

$(BUILD)/obj/libwse/%.o: CFLAGS_USER += $(LIBWSE_CFLAGS)
$(BUILD)/san/libwse/%.o: CFLAGS_SAN += $(LIBWSE_CFLAGS)

$(LIBWSE_SO): $(LIBWSE_OBJS) libwse/libwse.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(LIBWSE_SONAME) -Wl,--version-script=libwse/libwse.map \
		-Wl,--no-undefined -o $@ $(LIBWSE_OBJS) $(LIBWSE_LIBS) -pthread

$(LIBWSE_LINKS): $(LIBWSE_SO)
	ln -sf $(notdir $(LIBWSE_SO)) $@

$(LIBWSE_A): $(LIBWSE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# In-tree pkg-config file: PKG_CONFIG_PATH=build/lib/pkgconfig finds the build.
$(LIBWSE_PC): libwse/libwse.pc.in libwse/build.mk
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(abspath $(BUILD))|' -e 's|@LIBDIR@|$(abspath $(BUILD)/lib)|' \
		-e 's|@INCLUDEDIR@|$(abspath libwse)|' -e 's|@VERSION@|$(LIBWSE_VERSION)|' $< > $@

# Programs link the shared library and find it next to themselves, on the host
# (build/bin/../lib) as in the VM (/wse/bin/../lib) or after `make install`.
LIBWSE_LINK = -L$(BUILD)/lib -lwse -Wl,-rpath,'$$ORIGIN/$(1)'

LIBWSE_TOOLS := $(BUILD)/bin/wse-smi $(BUILD)/bin/wse-bench
$(LIBWSE_TOOLS): $(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIBWSE_LINKS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -o $@ $< $(call LIBWSE_LINK,../lib) $(LDLIBS_USER)

# API tests that run in the VM against the device (tests/vm/40-libwse.sh).
LIBWSE_API_TESTS := $(patsubst tests/libwse/%.c,$(BUILD)/tests/libwse/%,$(wildcard tests/libwse/*.c))
$(LIBWSE_API_TESTS): $(BUILD)/tests/libwse/%: $(BUILD)/obj/tests/libwse/%.o $(LIBWSE_LINKS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -o $@ $< $(call LIBWSE_LINK,../../lib) $(LDLIBS_USER)

ALL_TARGETS += $(LIBWSE_SO) $(LIBWSE_LINKS) $(LIBWSE_A) $(LIBWSE_PC) $(LIBWSE_TOOLS) \
	$(LIBWSE_API_TESTS)

# Host unit tests: the library's objects rebuilt with sanitizers, linked directly.
LIBWSE_UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_libwse*.c))
$(BUILD)/san/tests/unit/test_libwse%.o: CFLAGS_SAN += $(LIBWSE_CFLAGS)
$(LIBWSE_UNIT_TESTS): $(BUILD)/tests/%: $(BUILD)/san/tests/unit/%.o $(LIBWSE_SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -o $@ $^ $(LIBWSE_LIBS) $(LDLIBS_USER)
UNIT_TESTS += $(LIBWSE_UNIT_TESTS)

# ---- what `make install` (tools/install.mk) takes from here -------------------
# The public headers: wse.h and every header it includes with "".
LIBWSE_HEADERS := libwse/wse.h
INSTALL_BINS += $(LIBWSE_TOOLS)
