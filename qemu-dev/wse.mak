# configs/devices/x86_64-softmmu/wse.mak: the only devices the wse QEMU build
# has (--without-default-devices --with-devices-x86_64=wse): q35 with PCIe
# root ports (hot-unplug), a serial console and the wse device.
CONFIG_Q35=y
CONFIG_PCIE_PORT=y
CONFIG_SERIAL_ISA=y
CONFIG_WSE=y
