#!/bin/bash
# check-install.sh: `make install` into a staging DESTDIR (PREFIX=/usr/local),
# then checks what landed there and runs it from there; prints TAP. Needs no
# root and leaves nothing behind; builds what `make install` needs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/vm/tap.sh"

prefix=/usr/local
stage=$(mktemp -d /tmp/wse-check-install.XXXXXX)
log=$stage.log
trap 'rm -rf "$stage" "$log"' EXIT
root=$stage$prefix

make -C "$top" --no-print-directory install DESTDIR="$stage" PREFIX=$prefix > "$log" 2>&1
rc=$?
[ $rc = 0 ] || tail -20 "$log" | sed 's/^/# /'
check $rc "make install DESTDIR=... PREFIX=$prefix"
[ $rc = 0 ] || finish

tools=(wse-infer wse-train wse-smi wse-bench wse-exporter)
for tool in "${tools[@]}"; do
	[ -x "$root/bin/$tool" ] && [ -f "$root/share/man/man1/$tool.1" ]
	check $? "$tool is in bin/ with its man page"
done

lib=$root/lib
real=$(readlink -f "$lib/libwse.so.0")
[ -f "$lib/libwse.a" ] && [[ $real == "$(readlink -f "$lib")/libwse.so.0."* ]] && [ -f "$real" ] &&
	[ "$(readlink "$lib/libwse.so")" = libwse.so.0 ] &&
	[ "$(readelf -d "$lib/libwse.so.0" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')" = libwse.so.0 ]
check $? "libwse: libwse.a, libwse.so.0.x with its soname, libwse.so.0 and libwse.so links"
pc=$lib/pkgconfig/libwse.pc
grep -qx "prefix=$prefix" "$pc" && grep -qx "libdir=$prefix/lib" "$pc" &&
	grep -qx "includedir=$prefix/include" "$pc" && [ -f "$root/include/wse.h" ] &&
	[ -f "$root/share/man/man3/libwse.3" ]
check $? "libwse.pc names the installed paths; wse.h and libwse(3) are installed"

# Every header wse.h includes with "" must be installed beside it.
missing=$(sed -n 's/^#include "\(.*\)"/\1/p' "$root/include/wse.h" |
	while read -r h; do [ -f "$root/include/$h" ] || echo "$h"; done)
[ -z "$missing" ]
check $? "the headers wse.h includes are installed${missing:+ (missing: $missing)}"

# A program built against the staged library runs with it.
cat > "$stage/t.c" <<'EOF'
#include <errno.h>
#include <wse.h>

int main(void)
{
	char msg[256] = "";
	wse_device *dev = NULL;

	return wse_open("/nonexistent/wse0", &dev, msg, sizeof(msg)) == -ENOENT && msg[0] ? 0 : 1;
}
EOF
cc -std=c11 -Wall -Werror -I"$root/include" -o "$stage/t" "$stage/t.c" -L"$lib" -lwse \
	-Wl,-rpath,"$lib" > "$log" 2>&1 && "$stage/t" >> "$log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$log"
check $rc "a program builds against the installed wse.h and libwse.so and runs"

# The tools find libwse through $ORIGIN/../lib, wherever the prefix is.
found=$(ldd "$root/bin/wse-smi" 2>/dev/null | sed -n 's/^[[:space:]]*libwse\.so\.0 => \([^ ]*\) .*/\1/p')
[ "$(readlink -f "$found")" = "$(readlink -f "$lib/libwse.so.0")" ] && "$root/bin/wse-smi" --help > /dev/null
check $? "wse-smi runs from bin/ with the libwse.so.0 in ../lib (${found:-not found})"

# wse-infer without -m uses share/wse/models/default.gguf beside its bin/,
# before any model of the build tree: a broken installed model must fail.
model=$root/share/wse/models/default.gguf
out=$(cd / && env -u WSE_MODEL "$root/bin/wse-infer" -n 8 -p "In the beginning" --seed 1 2> "$log")
rc=$?
echo "# $out"
[ $rc = 0 ] && [[ $out == "In the beginning"?* ]] && grep -q 'generated tokens 8,' "$log"
check $? "the installed wse-infer continues 'In the beginning' with 8 tokens of the default model"
cmp -s "$model" "$top/engine/models/default.gguf" && truncate -s 1000 "$model" &&
	! (cd / && env -u WSE_MODEL "$root/bin/wse-infer" -n 1 > "$log" 2>&1) &&
	grep -qF "$root/share/wse/models/default.gguf" "$log"
check $? "it reads the installed share/wse/models/default.gguf first (a truncated copy fails)"

rules=$root/lib/udev/rules.d/70-wse.rules
helper=$(sed -n 's/.*PROGRAM="\([^ "]*\).*/\1/p' "$rules" 2>/dev/null | head -1)
[ "$helper" = "$prefix/lib/udev/wse-index" ] && [ -x "$stage$helper" ]
check $? "the udev rule runs the installed helper by its full path (${helper:-none})"
grep -qx wse "$root/lib/modules-load.d/wse.conf"
check $? "modules-load.d/wse.conf names wse"

# The DKMS source tree alone (as the wse-dkms package ships it) builds wse.ko:
# a header the driver includes but the tree lacks fails here, not at dkms time.
dkms=$stage/dkms
make -C "$top" --no-print-directory install-dkms DESTDIR="$dkms" > "$log" 2>&1 &&
	src=$(ls -d "$dkms"/usr/src/wse-*) &&
	kdir=$("$top/tools/vm/fetch-kernel.sh")/kdir &&
	make -C "$kdir" M="$src" CONFIG_DEBUG_INFO_BTF_MODULES= modules >> "$log" 2>&1 &&
	[ -f "$src/driver/wse.ko" ]
rc=$?
[ $rc = 0 ] || grep -E 'error|Error' "$log" | head -10 | sed 's/^/# /'
check $rc "the installed DKMS source tree builds wse.ko against the 6.12 headers"
finish
