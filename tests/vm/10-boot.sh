#!/bin/bash
# VM smoke test: the guest boots with several wse devices, sees them on PCI,
# names them /dev/wse0.. in PCI address order (as tools/udev/70-wse.rules
# does), wse-smi lists them in that order, and wse-vm propagates the
# command's exit status and enforces its timeout.
top=$(cd "$(dirname "$0")/../.." && pwd)
vm=$top/tools/wse-vm
. "$top/tests/vm/tap.sh"

work=$(mktemp -d /tmp/wse-boot-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One boot with 4 devices and the driver. Lines: "@@PCI addr" for each wse
# function, "@@NODE N accelM addr" for each /dev/wseN, then wse-smi with the
# links and without them (bare accel nodes, libwse's own order).
mkdir -p "$work/extra"
cat > "$work/extra/names.sh" <<'GUEST'
for f in /sys/bus/pci/devices/*; do
	[ "$(cat "$f/vendor")" = 0x1e3a ] && [ "$(cat "$f/device")" = 0x0003 ] &&
		echo "@@PCI ${f##*/}"
done
for link in /dev/wse*; do
	[ -e "$link" ] || continue
	accel=$(readlink -f "$link")
	pci=$(readlink -f "/sys/class/accel/${accel##*/}/device")
	echo "@@NODE ${link#/dev/wse} ${accel##*/} ${pci##*/}"
done
echo "@@SMI-JSON-BEGIN"; wse-smi --json; echo "@@SMI-JSON-END rc=$?"
echo "@@SMI-BEGIN"; wse-smi; echo "@@SMI-END rc=$?"
rm -f /dev/wse*
echo "@@BARE-BEGIN"; wse-smi; echo "@@BARE-END rc=$?"
GUEST
"$vm" --devices 4 --extra "$work/extra" -- sh /wse/names.sh > "$work/console.log" 2>&1
vm_rc=$?
tr -d '\r' < "$work/console.log" > "$work/out.log"
# between BEGIN END: the lines of one block
block() { sed -n "/^@@$1-BEGIN\$/,/^@@$1-END rc=/p" "$work/out.log" | sed '1d;$d'; }
block_rc() { sed -n "s/^@@$1-END rc=//p" "$work/out.log"; }

count=$(grep -c '^@@PCI ' "$work/out.log")
[ "$count" = 4 ]
check $? "4 wse devices (1e3a:0003) are visible to the guest (saw $count)"
[ -f "$top/driver/wse.ko" ]
check $? "driver/wse.ko is built (make module), so the devices get nodes"
[ $vm_rc = 0 ] || sed 's/^/# /' "$work/out.log" | tail -n 30

sed -n 's/^@@NODE /# \/dev\/wse/p' "$work/out.log"
# wseN in N order; their PCI addresses must be the sorted list of all wse functions.
nodes=$(sed -n 's/^@@NODE //p' "$work/out.log" | sort -n)
pci_sorted=$(sed -n 's/^@@PCI //p' "$work/out.log" | LC_ALL=C sort)
[ "$(echo "$nodes" | cut -d' ' -f1 | tr '\n' ' ')" = "0 1 2 3 " ]
check $? "/dev/wse0../dev/wse3 exist, no more ($(echo "$nodes" | cut -d' ' -f1 | tr '\n' ' '))"
[ -n "$pci_sorted" ] && [ "$(echo "$nodes" | cut -d' ' -f3)" = "$pci_sorted" ]
check $? "/dev/wse0..3 resolve to the wse PCI addresses in ascending order"
# In this VM probe order (the accel minor) is the reverse of PCI order, so a
# rule that named devices by minor would fail the check above.
echo "# accel minors of wse0..3: $(echo "$nodes" | cut -d' ' -f2 | tr '\n' ' ')"

block SMI | sed 's/^/# /'
smi_rows=$(block SMI | awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9a-f]+:[0-9a-f]+:/ { print $1, $2, $3 }')
expect_rows=$(echo "$nodes" | awk '{ print $1, $3, "wse" $1 }')
[ "$(block_rc SMI)" = 0 ] && [ -n "$smi_rows" ] && [ "$smi_rows" = "$expect_rows" ]
check $? "wse-smi lists wse0..3 in PCI address order"

block BARE | sed 's/^/# without the links: /'
bare_pci=$(block BARE | awk '$1 == "-" && $2 ~ /^[0-9a-f]+:[0-9a-f]+:/ { print $2 }')
[ "$(block_rc BARE)" = 0 ] && [ "$bare_pci" = "$pci_sorted" ]
check $? "without /dev/wseN, libwse lists the bare accel nodes in PCI address order too"

# QEMU's wseN is /dev/wseN (tools/wse-vm places the root ports so), which
# "device_del wseN" relies on. The device's default serial counts QEMU's
# devices in creation order from 0x5e000001.
block SMI-JSON > "$work/smi.json"
python3 - "$work/smi.json" <<'PY'
import json, sys
devs = json.load(open(sys.argv[1]))["devices"]
got = [(d["index"], d.get("serial")) for d in devs]
want = [(i, 0x5e000001 + i) for i in range(4)]
print("# (index, serial):", got)
sys.exit(got != want)
PY
check $? "QEMU device wseN is /dev/wseN (serial 0x5e000001 + N)"

# The helper on a made-up sysfs: what this VM cannot show, a domain wider
# than 4 hex digits (VMD's 10000 sorts after 0000), a wse device on bus 0a
# after one on bus 02, and a device of another vendor having no number.
fake=$work/sys
fake_dev() {	# ADDR VENDOR MINOR
	local dir=$fake/devices/pci/$1
	mkdir -p "$dir/accel/accel$3" "$fake/bus/pci/devices" "$fake/class/accel"
	echo "$2" > "$dir/vendor"
	echo 0x0003 > "$dir/device"
	ln -s ../.. "$dir/accel/accel$3/device"
	ln -s "$dir" "$fake/bus/pci/devices/$1"
	ln -s "$dir/accel/accel$3" "$fake/class/accel/accel$3"
}
fake_dev 10000:00:00.0 0x1e3a 0
fake_dev 0000:0a:00.0 0x1e3a 1
fake_dev 0000:02:00.0 0x1e3a 2
fake_dev 0000:01:00.0 0x8086 3
got=
for m in 0 1 2 3; do
	got+="$(WSE_SYSFS=$fake sh "$top/tools/udev/wse-index" "$fake/class/accel/accel$m" || echo x) "
done
via_devpath=$(WSE_SYSFS=$fake sh "$top/tools/udev/wse-index" /devices/pci/0000:02:00.0/accel/accel2)
[ "$got" = "2 1 0 x " ] && [ "$via_devpath" = 0 ]
check $? "wse-index: 10000:00:00.0 -> 2, 0000:0a:00.0 -> 1, 0000:02:00.0 -> 0, other vendor fails ($got; by devpath $via_devpath)"

"$vm" --devices 1 --no-module -- false > /dev/null 2>&1
check $(($? == 1 ? 0 : 1)) "wse-vm -- false exits with 1"

"$vm" --devices 1 --no-module -- sh -c 'exit 7' > /dev/null 2>&1
check $(($? == 7 ? 0 : 1)) "wse-vm propagates exit status 7"

"$vm" --devices 0 --no-module --timeout 20 -- sleep 600 > /dev/null 2>&1
check $(($? == 124 ? 0 : 1)) "a guest that hangs is killed after the timeout (status 124)"

finish
