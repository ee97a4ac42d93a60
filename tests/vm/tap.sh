# Sourced by the tests/vm/NN-*.sh suites: TAP output with running numbers.
# check STATUS DESCRIPTION prints "ok N - ..." when STATUS is 0, else
# "not ok N - ..." and remembers the failure; finish prints the plan and
# exits 1 if anything failed.
n=0
failed=0
check() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}
finish() {
	echo "1..$n"
	exit $failed
}

# ---- the guest-step harness of the suites that run one guest script ----
# They set top, vm, build and work (a temporary directory with extra/ in it).

# require_built FILE...: the files under $build and driver/wse.ko exist, or
# one failing line says which is missing and the suite ends.
require_built() {
	for f in "$@"; do
		if [ ! -e "$build/$f" ]; then
			check 1 "$build/$f is built (run make first)"
			finish
		fi
	done
	if [ ! -f "$top/driver/wse.ko" ]; then
		check 1 "driver/wse.ko is built (make module)"
		finish
	fi
}

# guest_script NAME: starts $work/extra/NAME (append the steps to it) with
# `step NAME CMD...`, which prints CMD's output between markers and its exit
# status after them, for section and status to find on the host.
guest_script() {
	echo 'step() { echo "@@BEGIN $1"; shift; "$@"; echo "@@END rc=$?"; }' \
		> "$work/extra/$1"
}

# run_guest NAME TIMEOUT WHAT: boots a VM with two devices and $work/extra on
# /wse, runs `sh /wse/NAME` there, keeps the console in $work/out.log and
# checks that the VM ran it (WHAT names the steps in that line).
run_guest() {
	"$vm" --devices 2 --timeout "$2" --extra "$work/extra" -- sh "/wse/$1" \
		> "$work/console.log" 2>&1
	vm_rc=$?
	tr -d '\r' < "$work/console.log" > "$work/out.log"
	check $vm_rc "the VM ran the $3 steps (wse-vm status $vm_rc)"
	[ $vm_rc = 0 ] || sed 's/^/# /' "$work/out.log" | tail -n 40
}

# section NAME: the lines of one guest step; status NAME: its exit status.
section() { sed -n "/^@@BEGIN $1\$/,/^@@END rc=/p" "$work/out.log" | sed '1d;$d'; }
status() { sed -n "/^@@BEGIN $1\$/,/^@@END rc=/p" "$work/out.log" | sed -n 's/^@@END rc=//p'; }
