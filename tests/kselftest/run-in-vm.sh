#!/bin/sh
# run-in-vm.sh: runs every wse kselftest INSIDE the test VM (tools/wse-vm),
# prints one TAP stream (the ABI tests also as user nobody) and fails if a test
# failed or the kernel log shows an Oops, WARNING or BUG. The unplug test needs
# `wse-vm --devices 2`, the large MAP test `--mem 4G`; the module reload and
# unplug tests run last because they disturb the devices.
#   tools/wse-vm --devices 2 --mem 4G -- /wse/tests/kselftest/run-in-vm.sh
# With --debug-kernel (under `wse-vm --debug-kernel`) it also checks that the
# detectors are on and fails on kmemleak's findings after the tests.
dir=$(cd "$(dirname "$0")" && pwd)
n=0
failed=0
# The log of the boot and of loading wse.ko (probe) is checked with the rest.
dmesg -c > /tmp/dmesg-boot.log 2>&1
kmemleak=/sys/kernel/debug/kmemleak
if [ -w $kmemleak ]; then
	echo scan > $kmemleak
	echo clear > $kmemleak
fi
# Every program's results are renumbered into one TAP stream with one plan at
# the end (tests/run-suite checks it); each program must meet its own plan,
# and one that dies without reporting a failure adds one.
result() { # result STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; failed=$((failed + 1)); fi
}
pass_through() { # pass_through PREFIX LOG: renumbers LOG's results
	results=0 plan= bad=0
	while IFS= read -r line; do
		case $line in
		"ok "*) results=$((results + 1)); result 0 "$1${line#ok [0-9]* }" ;;
		"not ok "*) results=$((results + 1)) bad=1; result 1 "$1${line#not ok [0-9]* }" ;;
		1..*) plan=${line#1..} ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done < "$2"
	[ "$plan" = "$results" ] || result 1 "- $1 planned '${plan}' results but printed $results"
}
run_tests() {
	for t in "$@"; do
		out=/tmp/$t.log
		"$dir/$t" > "$out" 2>&1
		rc=$?
		pass_through "$t: " "$out"
		[ $rc -ne 0 ] && [ $bad -eq 0 ] && result 1 "- $t exited with status $rc"
	done
}
if [ "${1:-}" = --debug-kernel ]; then
	detectors=
	grep -q 'KernelAddressSanitizer initialized' /tmp/dmesg-boot.log || detectors="$detectors KASAN"
	grep -q 'kfence: initialized' /tmp/dmesg-boot.log || detectors="$detectors KFENCE"
	[ -e /proc/lockdep ] || detectors="$detectors lockdep"
	[ -w $kmemleak ] || detectors="$detectors kmemleak"
	if [ -z "$detectors" ]; then
		result 0 "- the debug kernel's detectors are on ($(uname -r))"
	else
		result 1 "- the debug kernel's detectors are on ($(uname -r)); missing:$detectors"
	fi
fi
run_tests wse_abi_test wse_isolation_test wse_recovery_test wse_hostile_test
# The ABI tests again as an unprivileged user who was given the device node
# (as a 'render' group rule would): everything but the admin ioctls works,
# and those fail with EPERM. Without the node's permission, open fails.
for node in /dev/accel/accel*; do chmod 0666 "$node"; done
su -s /bin/sh nobody -c "$dir/wse_abi_test" > /tmp/unpriv.log 2>&1
rc=$?
for node in /dev/accel/accel*; do chmod 0600 "$node"; done
pass_through "wse_abi_test as nobody: " /tmp/unpriv.log
[ $rc -ne 0 ] && [ $bad -eq 0 ] && result 1 "- wse_abi_test as nobody exited with status $rc"
if su -s /bin/sh nobody -c 'exec 3<>/dev/accel/accel0' 2> /tmp/open.err; then
	result 1 "- nobody opened a 0600 device node"
elif grep -q 'Permission denied' /tmp/open.err; then
	result 0 "- nobody cannot open a 0600 device node: $(cat /tmp/open.err)"
else
	result 1 "- opening a 0600 device node as nobody failed for another reason: $(cat /tmp/open.err)"
fi
run_tests wse_lifecycle_test
# The debug kernel (tools/wse-vm --debug-kernel) has kmemleak: a last scan
# (two, as kmemleak's documentation advises, so that objects in flight are
# not reported) lists what the tests leaked; boot-time leaks were cleared.
if [ -w $kmemleak ]; then
	echo scan > $kmemleak
	sleep 6
	echo scan > $kmemleak
	cat $kmemleak > /tmp/kmemleak.log
	if [ -s /tmp/kmemleak.log ]; then
		result 1 "- kmemleak: no unreferenced objects after the tests"
		sed 's/^/# /' /tmp/kmemleak.log | head -n 200
	else
		result 0 "- kmemleak: no unreferenced objects after the tests"
	fi
fi
# The reports of the stock kernel and of the debug kernel's detectors:
# KASAN and KFENCE ("BUG: KASAN:", "BUG: KFENCE:"), lockdep and
# DEBUG_ATOMIC_SLEEP ("WARNING: possible ...", "BUG: sleeping function ..."),
# UBSAN, DEBUG_LIST, RCU stalls.
bad='Oops|WARNING:|BUG:|general protection|KASAN|KFENCE|UBSAN|refcount_t|list_(add|del) corruption|detected stalls|kmemleak: .*suspected memory leak'
dmesg > /tmp/dmesg-tests.log 2>&1
if cat /tmp/dmesg-boot.log /tmp/dmesg-tests.log | grep -E "$bad" > /tmp/dmesg-bad.log; then
	result 1 "- kernel log is clean"
	# the whole of the first report, then the matching lines of the others
	cat /tmp/dmesg-boot.log /tmp/dmesg-tests.log | grep -E -m 1 -A 60 "$bad" | sed 's/^/# /'
	sed 's/^/# /' /tmp/dmesg-bad.log | head -n 40
else
	result 0 "- kernel log is clean"
fi
echo "1..$n"
echo "# wse kselftests: $failed failed"
[ $failed -eq 0 ]
