#!/bin/bash
# Kernel style: every driver source, the uapi header and the device contract pass
# checkpatch.pl --strict from Debian's linux-source-6.12 (one TAP line each).
top=$(cd "$(dirname "$0")/../.." && pwd)
checkpatch=${WSE_CACHE:-/var/cache/wse}/linux-source/tree/scripts/checkpatch.pl
if [ ! -x "$checkpatch" ]; then
	echo "not ok 1 - checkpatch.pl is unpacked (tools/setup)"
	exit 1
fi
n=0
failed=0
cd "$top" || exit 1
for f in driver/wse_*.[ch] uapi/wse_accel.h include/wse/*.h; do
	n=$((n + 1))
	if out=$("$checkpatch" --strict --no-tree --quiet --show-types -f "$f" 2>&1) && [ -z "$out" ]; then
		echo "ok $n - checkpatch --strict $f"
	else
		echo "not ok $n - checkpatch --strict $f"
		echo "$out" | sed 's/^/# /'
		failed=1
	fi
done
echo "1..$n"
exit $failed
