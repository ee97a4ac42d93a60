# driver/: the wse.ko DRM accel driver, built by Kbuild against the Debian
# 6.12 kernel headers that tools/vm/fetch-kernel.sh downloads (once).
# Debian's headers enable BTF for modules, which needs the vmlinux BTF we
# do not ship: building without it is what an out-of-tree module does anyway.
# Evaluated at first use only, and then once.
KDIR ?= $(eval KDIR := $$(shell tools/vm/fetch-kernel.sh)/kdir)$(KDIR)

.PHONY: module module-clean
module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) CONFIG_DEBUG_INFO_BTF_MODULES= modules

module-clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

ALL_TARGETS += module
