# tools/: wse-exporter, the Prometheus exporter (libmicrohttpd). The other
# tools build from libwse/build.mk and engine/build.mk.

EXPORTER_PKGS := libmicrohttpd
# pkg-config may be missing before tools/setup has run; the fallback is Debian's.
EXPORTER_CFLAGS := $(shell pkg-config --cflags $(EXPORTER_PKGS) 2>/dev/null)
EXPORTER_LIBS := $(or $(shell pkg-config --libs $(EXPORTER_PKGS) 2>/dev/null),-lmicrohttpd)

$(BUILD)/obj/tools/wse-exporter.o: CFLAGS_USER += $(EXPORTER_CFLAGS)
$(BUILD)/bin/wse-exporter: $(BUILD)/obj/tools/wse-exporter.o $(LIBWSE_LINKS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -o $@ $< $(call LIBWSE_LINK,../lib) $(EXPORTER_LIBS) $(LDLIBS_USER)

ALL_TARGETS += $(BUILD)/bin/wse-exporter
INSTALL_BINS += $(BUILD)/bin/wse-exporter
