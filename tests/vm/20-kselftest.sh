#!/bin/bash
# The driver's kselftests in the VM with two wse devices and room for a MAP of
# over 2 GiB (their TAP lines pass through; tests/kselftest/run-in-vm.sh also
# fails on Oops/WARNING/BUG in dmesg).
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$top/build}
if [ ! -x "$build/tests/kselftest/run-in-vm.sh" ] || [ ! -f "$top/driver/wse.ko" ]; then
	echo "not ok 1 - kselftests and driver/wse.ko are built (make all)"
	exit 1
fi
exec "$top/tools/wse-vm" --devices 2 --mem 4G --timeout 900 -- /wse/tests/kselftest/run-in-vm.sh
