#!/bin/bash
# The driver's kselftests again, under the debug kernel (tools/wse-vm
# --debug-kernel: KASAN, KFENCE, lockdep, DEBUG_ATOMIC_SLEEP, kmemleak, UBSAN)
# with a wse.ko built against it: any report of theirs in the kernel log, or a
# leak kmemleak finds after the tests, fails the suite with the report.
# tests/vm/20-kselftest.sh keeps running them on Debian's kernel, the one
# users run, whose timing the hostile tests' bounds were measured on.
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$top/build}
if [ ! -x "$build/tests/kselftest/run-in-vm.sh" ]; then
	echo "not ok 1 - the kselftests are built (make all)"
	exit 1
fi
exec "$top/tools/wse-vm" --debug-kernel --devices 2 --mem 4G --timeout 1200 -- \
	/wse/tests/kselftest/run-in-vm.sh --debug-kernel
