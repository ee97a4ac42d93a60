# tools/install.mk: installing and packaging, included by the top Makefile
# after every build.mk, each of which adds its installable programs to
# INSTALL_BINS (`INSTALL_BINS += $(BUILD)/bin/wse-foo`).
#
#   make install [PREFIX=/usr/local] [DESTDIR=]  the tools, the default model, the man
#       pages, libwse (.so with soname links, .a, headers, libwse.pc), the udev rule and
#       its helper, the modules-load.d entry
#   make install-dkms [DESTDIR=]                 the module's source and dkms.conf in
#       /usr/src/wse-VERSION, for `dkms install wse/VERSION`
#   make deb                                     the Debian packages, in $(BUILD)/deb/

PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
MANDIR       ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# udev and systemd-modules-load read /usr/local/lib/... as well as /usr/lib/...
UDEVDIR        ?= $(PREFIX)/lib/udev
MODULESLOADDIR ?= $(PREFIX)/lib/modules-load.d
# dkms takes module sources from /usr/src only, whatever the prefix.
DKMS_SRCDIR    ?= /usr/src

# One version for the module and the packages: dkms.conf's (debian/rules checks
# that debian/changelog agrees).
WSE_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)

INSTALL_MODEL := engine/models/default.gguf
INSTALL_MAN1  := $(wildcard docs/man/*.1)
INSTALL_MAN3  := $(wildcard docs/man/*.3)
# Everything `install` needs built, without the module (which needs a kernel tree).
INSTALL_BUILT := $(INSTALL_BINS) $(LIBWSE_SO) $(LIBWSE_LINKS) $(LIBWSE_A)

# The module's source as DKMS builds it: the top Kbuild (obj-m += driver/),
# driver/, and the headers the driver shares with QEMU and userspace.
DKMS_SOURCES := dkms.conf Kbuild driver/Kbuild \
	$(filter-out %.mod.c,$(wildcard driver/*.c)) $(wildcard driver/*.h) \
	include/wse/hw_device.h include/wse/hw_ops.h uapi/wse_accel.h

.PHONY: install installable install-bin install-lib install-data install-system install-dkms deb
installable: $(INSTALL_BUILT)

install: install-bin install-lib install-data install-system

# The programs find libwse through their rpath $ORIGIN/../lib, which holds for
# BINDIR=$(PREFIX)/bin and LIBDIR=$(PREFIX)/lib (/usr/local/lib is not in
# ld.so's default path); the wse-infer and wse-train carry no library of ours.
install-bin: $(INSTALL_BINS)
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/

install-lib: $(LIBWSE_SO) $(LIBWSE_A) libwse/libwse.pc.in
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 0644 $(LIBWSE_SO) $(LIBWSE_A) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIBWSE_SO)) $(DESTDIR)$(LIBDIR)/$(LIBWSE_SONAME)
	ln -sf $(LIBWSE_SONAME) $(DESTDIR)$(LIBDIR)/libwse.so
	install -m 0644 $(LIBWSE_HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(LIBWSE_VERSION)|' libwse/libwse.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libwse.pc

install-data: $(INSTALL_MODEL) $(INSTALL_MAN1) $(INSTALL_MAN3)
	install -d $(DESTDIR)$(DATADIR)/wse/models $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 0644 $(INSTALL_MODEL) $(DESTDIR)$(DATADIR)/wse/models/default.gguf
	install -m 0644 $(INSTALL_MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(INSTALL_MAN3) $(DESTDIR)$(MANDIR)/man3/

# udev runs a PROGRAM= without a path from its own directory (/usr/lib/udev or
# /lib/udev), not from $(UDEVDIR), so the rule gets the helper's full path.
install-system: tools/udev/70-wse.rules tools/udev/wse-index
	install -d $(DESTDIR)$(UDEVDIR)/rules.d $(DESTDIR)$(MODULESLOADDIR)
	install -m 0755 tools/udev/wse-index $(DESTDIR)$(UDEVDIR)/wse-index
	sed 's|PROGRAM="wse-index |PROGRAM="$(UDEVDIR)/wse-index |' tools/udev/70-wse.rules \
		> $(DESTDIR)$(UDEVDIR)/rules.d/70-wse.rules
	printf '# Load the wse accelerator driver at boot (installed by wse).\nwse\n' \
		> $(DESTDIR)$(MODULESLOADDIR)/wse.conf

install-dkms: $(DKMS_SOURCES)
	@test -n "$(WSE_VERSION)" || { echo "install-dkms: no PACKAGE_VERSION in dkms.conf" >&2; exit 1; }
	for f in $(DKMS_SOURCES); do \
		install -D -m 0644 $$f $(DESTDIR)$(DKMS_SRCDIR)/wse-$(WSE_VERSION)/$$f || exit 1; \
	done

# ---- make deb: the Debian packages, built from a copy of the tree -----------
# The copy (build/deb/wse-VERSION: the files git would track, by the
# .gitignore files) keeps dpkg-buildpackage's writes out of the checkout; the
# packages, .changes and .buildinfo land in build/deb/. Packaging
# tools come from debian/control's Build-Depends, plus lintian, which must find
# no error or warning.
DEB_DIR := $(BUILD)/deb
DEB_SRC := $(DEB_DIR)/wse-$(WSE_VERSION)

deb:
	bash -c '. tools/vm/apt.sh && wse_apt_install dpkg-dev lintian && \
		if ! dpkg-checkbuilddeps 2>/dev/null; then wse_apt_setup && \
		DEBIAN_FRONTEND=noninteractive wse_apt build-dep -y --no-install-recommends ./ >/dev/null; fi'
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	tar -cf $(DEB_DIR)/tree.tar --exclude-vcs --exclude-vcs-ignores --exclude=./build \
		--exclude='./$(BUILD)' .
	tar -xf $(DEB_DIR)/tree.tar -C $(DEB_SRC) && rm $(DEB_DIR)/tree.tar
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error,warning $(DEB_DIR)/wse_*.changes
	@ls $(DEB_DIR)/*.deb
