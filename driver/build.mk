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

# wse.ko for the debug kernel (tools/vm/build-debug-kernel.sh), for
# `tools/wse-vm --debug-kernel`: Kbuild writes objects beside the sources, so
# this one builds from a copy of driver/ in $(BUILD)/module-debug (the module
# is $(BUILD)/module-debug/driver/wse.ko) and leaves driver/wse.ko as it is.
DEBUG_KDIR ?= $(eval DEBUG_KDIR := $$(shell tools/vm/build-debug-kernel.sh)/kdir)$(DEBUG_KDIR)
MODULE_DEBUG_DIR := $(BUILD)/module-debug

.PHONY: module-debug
module-debug:
	@mkdir -p $(MODULE_DEBUG_DIR)/driver
	@ln -sfn $(CURDIR)/include $(MODULE_DEBUG_DIR)/include
	@ln -sfn $(CURDIR)/uapi $(MODULE_DEBUG_DIR)/uapi
	@cp -u Kbuild $(MODULE_DEBUG_DIR)/
	@cp -u driver/Kbuild driver/wse_*.[ch] $(MODULE_DEBUG_DIR)/driver/
	$(MAKE) -C $(DEBUG_KDIR) M=$(abspath $(MODULE_DEBUG_DIR)) modules

ALL_TARGETS += module
