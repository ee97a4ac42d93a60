#!/bin/sh
# run-in-vm.sh: runs every wse kselftest INSIDE the test VM (tools/wse-vm),
# prints one TAP stream and fails if a test failed or the kernel log shows an
# Oops, WARNING or BUG. The unplug test needs `wse-vm --devices 2`; the
# module reload and unplug tests run last because they disturb the devices.
#   tools/wse-vm --devices 2 -- /wse/tests/kselftest/run-in-vm.sh
dir=$(cd "$(dirname "$0")" && pwd)
tests="wse_abi_test wse_isolation_test wse_recovery_test wse_lifecycle_test"
n=0
failed=0
dmesg -c > /dev/null 2>&1
# Each program's own TAP lines (one per test case) pass through; a program
# that dies without reporting a failure adds one.
for t in $tests; do
	out=/tmp/$t.log
	"$dir/$t" > "$out" 2>&1
	rc=$?
	cat "$out"
	if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
		echo "not ok - $t exited with status $rc"
		failed=$((failed + 1))
	elif [ $rc -ne 0 ]; then
		failed=$((failed + 1))
	fi
done
n=0
if dmesg | grep -E "Oops|WARNING:|BUG:|general protection|KASAN|refcount_t" > /tmp/dmesg-bad.log; then
	echo "not ok $((n + 1)) kernel log is clean"
	sed 's/^/# /' /tmp/dmesg-bad.log
	failed=$((failed + 1))
else
	echo "ok $((n + 1)) kernel log is clean"
fi
echo "# wse kselftests: $failed failed"
[ $failed -eq 0 ]
