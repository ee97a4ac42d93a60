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
