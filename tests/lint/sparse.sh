#!/bin/bash
# Endianness and address-space annotations: the driver built against the
# cached Debian 6.12 headers with sparse on every file (make C=2), in a
# scratch copy so the checkout's build is left alone. One TAP line for the
# build, one per driver source and one for the device contract; a line fails
# on any sparse report about our files. Reports about the kernel's own
# headers are not ours and are left out.
top=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v sparse >/dev/null; then
	echo "not ok 1 - sparse is installed (tools/setup)"
	echo "1..1"
	exit 1
fi
if ! kernel=$("$top/tools/vm/fetch-kernel.sh") || [ ! -d "$kernel/kdir" ]; then
	echo "not ok 1 - the 6.12 kernel headers are cached (tools/vm/fetch-kernel.sh)"
	echo "1..1"
	exit 1
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$top/Kbuild" "$top/driver" "$top/include" "$top/uapi" "$scratch/"
rm -f "$scratch"/driver/*.o "$scratch"/driver/.*.cmd "$scratch"/driver/*.ko

n=1
failed=0
log=$scratch/sparse.log
if make -C "$kernel/kdir" M="$scratch" CONFIG_DEBUG_INFO_BTF_MODULES= C=2 CHECK=sparse \
	modules >"$log" 2>&1; then
	echo "ok $n - the module builds with sparse (C=2)"
else
	echo "not ok $n - the module builds with sparse (C=2)"
	tail -20 "$log" | sed 's/^/# /'
	failed=1
fi
# Sparse names files as the compiler saw them: absolute in the scratch copy.
ours=$(grep -E "^($scratch/)?(driver|include)/[^:]+:[0-9]+:" "$log" | sed "s|^$scratch/||" | awk '!seen[$0]++')

report() {
	local name=$1 pattern=$2 hits
	n=$((n + 1))
	hits=$(grep -E "^$pattern:" <<<"$ours")
	if [ -z "$hits" ]; then
		echo "ok $n - sparse: nothing about $name"
	else
		echo "not ok $n - sparse: $name"
		sed 's/^/# /' <<<"$hits"
		failed=1
	fi
}

cd "$top" || exit 1
for f in driver/wse_*.c; do
	report "$f" "$f"
done
report "the driver's headers and the device contract" '(driver/[^:]+\.h|include/[^:]+)'
# A scratch tree that had no driver sources would pass every line above.
if [ "$n" -lt 4 ]; then
	echo "not ok $((n + 1)) - driver sources found ($((n - 2)))"
	n=$((n + 1))
	failed=1
fi
echo "1..$n"
exit $failed
