#!/bin/bash
# VM smoke test: the guest boots with several wse devices, sees them on PCI,
# and wse-vm propagates the command's exit status and enforces its timeout.
top=$(cd "$(dirname "$0")/../.." && pwd)
vm=$top/tools/wse-vm
. "$top/tests/vm/tap.sh"

out=$("$vm" --devices 4 --no-module -- sh -c \
	'grep -l 0x1e3a /sys/bus/pci/devices/*/vendor | while read -r f; do
	 cat "${f%/vendor}/device"; done | grep -c 0x0003' 2>&1)
count=$(echo "$out" | tr -d '\r' | grep -E '^[0-9]+$' | tail -n 1)
[ "$count" = 4 ]
check $? "4 wse devices (1e3a:0003) are visible to the guest (saw '${count:-none}')"

"$vm" --devices 1 --no-module -- false > /dev/null 2>&1
check $(($? == 1 ? 0 : 1)) "wse-vm -- false exits with 1"

"$vm" --devices 1 --no-module -- sh -c 'exit 7' > /dev/null 2>&1
check $(($? == 7 ? 0 : 1)) "wse-vm propagates exit status 7"

"$vm" --devices 0 --no-module --timeout 20 -- sleep 600 > /dev/null 2>&1
check $(($? == 124 ? 0 : 1)) "a guest that hangs is killed after the timeout (status 124)"

finish
