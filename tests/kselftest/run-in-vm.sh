#!/bin/sh
# run-in-vm.sh: runs every wse kselftest INSIDE the test VM (tools/wse-vm),
# prints one TAP stream (the ABI tests also as user nobody) and fails if a test
# failed or the kernel log shows an Oops, WARNING or BUG. The unplug test needs
# `wse-vm --devices 2`; the module reload and unplug tests run last because
# they disturb the devices.
#   tools/wse-vm --devices 2 -- /wse/tests/kselftest/run-in-vm.sh
dir=$(cd "$(dirname "$0")" && pwd)
n=0
failed=0
dmesg -c > /dev/null 2>&1
# Each program's own TAP lines (one per test case) pass through; a program
# that dies without reporting a failure adds one.
run_tests() {
	for t in "$@"; do
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
}
run_tests wse_abi_test wse_isolation_test wse_recovery_test
# The ABI tests again as an unprivileged user who was given the device node
# (as a 'render' group rule would): everything but the admin ioctls works,
# and those fail with EPERM. Without the node's permission, open fails.
for node in /dev/accel/accel*; do chmod 0666 "$node"; done
su -s /bin/sh nobody -c "$dir/wse_abi_test" > /tmp/unpriv.log 2>&1
rc=$?
for node in /dev/accel/accel*; do chmod 0600 "$node"; done
sed -e 's/^ok \([0-9]*\) /ok \1 as nobody: /' -e 's/^not ok \([0-9]*\) /not ok \1 as nobody: /' \
	/tmp/unpriv.log
if [ $rc -ne 0 ]; then
	grep -q '^not ok' /tmp/unpriv.log || echo "not ok - wse_abi_test as nobody exited with status $rc"
	failed=$((failed + 1))
fi
if su -s /bin/sh nobody -c 'exec 3<>/dev/accel/accel0' 2> /tmp/open.err; then
	echo "not ok 1 - nobody opened a 0600 device node"
	failed=$((failed + 1))
elif grep -q 'Permission denied' /tmp/open.err; then
	echo "ok 1 - nobody cannot open a 0600 device node: $(cat /tmp/open.err)"
else
	echo "not ok 1 - opening a 0600 device node as nobody failed for another reason: $(cat /tmp/open.err)"
	failed=$((failed + 1))
fi
run_tests wse_lifecycle_test
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
