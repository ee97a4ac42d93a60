#!/bin/bash
# check-debs.sh DEBDIR: installs the Debian packages that `make deb` left in
# DEBDIR (wse-dkms, libwse0, libwse-dev, wse-tools) with apt and checks them as
# a user would meet them; prints TAP. Run it as root on a Debian 12 machine or
# chroot that is thrown away afterwards (it installs packages and a module for
# the project's kernel; it purges the packages again at the end).
#
# The module is built by DKMS for the project's Debian 6.12 kernel: the headers
# tree is $WSE_KDIR, or else the one tools/vm/fetch-kernel.sh prints (cached in
# $WSE_CACHE, downloaded once); the kernel version is its kernel.release.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/vm/tap.sh"
. "$top/tools/vm/apt.sh"

if [ $# != 1 ] || [ ! -d "$1" ]; then
	echo "usage: check-debs.sh DEBDIR" >&2
	exit 2
fi
[ "$(id -u)" = 0 ] || { echo "check-debs.sh: needs root (apt, dkms)" >&2; exit 2; }
debdir=$(cd "$1" && pwd)
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/wse-check-debs.XXXXXX)
trap 'rm -f "$log"' EXIT
# run DESCRIPTION CMD...: one TAP line for CMD; its output goes to the TAP
# stream as comments when it fails.
run() {
	local what=$1
	shift
	"$@" > "$log" 2>&1
	local rc=$?
	[ $rc = 0 ] || sed 's/^/# /' "$log" | tail -25
	check $rc "$what"
	return $rc
}

packages=(wse-dkms libwse0 libwse-dev wse-tools)
debs=()
for pkg in "${packages[@]}"; do
	deb=$(find "$debdir" -maxdepth 1 -name "${pkg}_*.deb" | head -1)
	[ -n "$deb" ] && debs+=("$deb")
done
[ ${#debs[@]} = ${#packages[@]} ]
check $? "DEBDIR holds the ${#packages[@]} packages (${packages[*]}): found ${#debs[@]}"
[ ${#debs[@]} = ${#packages[@]} ] || finish

# --no-install-recommends: the packages' Depends alone must make them work.
wse_apt_setup
run "apt-get installs the packages and their dependencies" \
	wse_apt install -y --no-install-recommends "${debs[@]}"

version=$(dpkg-query -W -f='${Version}' wse-dkms 2>/dev/null)
version=${version%%-*}
[ -n "$version" ] && [ -f "/usr/src/wse-$version/dkms.conf" ]
check $? "wse-dkms put the module source and dkms.conf in /usr/src/wse-$version"
dkms status wse > "$log" 2>&1
grep -q "^wse/$version" "$log"
check $? "the package registered wse/$version with DKMS ($(head -1 "$log"))"

# The kernel to build for.
kdir=${WSE_KDIR:-}
if [ -z "$kdir" ]; then
	kernel=$("$top/tools/vm/fetch-kernel.sh" 2> "$log") && kdir=$kernel/kdir
fi
kver=$(cat "$kdir/include/config/kernel.release" 2>/dev/null)
case $kver in 6.12.*) true ;; *) false ;; esac
check $? "the Debian 6.12 headers to build for: ${kver:-none} (${kdir:-not found})"
[ -n "$kver" ] || finish

# The cached headers are unpacked packages (linux-headers-VERSION and
# linux-kbuild-BASE) without what those depend on (gcc-12, libelf1 for
# objtool, ...): install that as apt would, less the linux-* packages.
mapfile -t header_deps < <(
	wse_apt_cache show "linux-headers-$kver" "linux-kbuild-${kver%-amd64}" 2>/dev/null |
		sed -n 's/^Depends: //p' | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' |
		grep -v '^linux-' | grep . | sort -u)
[ ${#header_deps[@]} -gt 0 ] && run "the headers' dependencies install (${header_deps[*]})" \
	wse_apt install -y --no-install-recommends "${header_deps[@]}"
[ ${#header_deps[@]} -gt 0 ] ||
	check 1 "apt knows the dependencies of linux-headers-$kver and linux-kbuild-${kver%-amd64}"

# dkms installs only into a kernel's existing /lib/modules/VERSION; a root
# that has the headers but runs another kernel lacks it: make it, and take it
# away again at the end.
made_moddir=0
if [ ! -d "/lib/modules/$kver" ]; then
	mkdir -p "/lib/modules/$kver" && made_moddir=1
	echo "# /lib/modules/$kver made: this root has the headers, not that kernel"
fi
run "dkms build wse/$version -k $kver" \
	dkms build "wse/$version" -k "$kver" --kernelsourcedir "$kdir"
run "dkms install wse/$version -k $kver" \
	dkms install "wse/$version" -k "$kver" --kernelsourcedir "$kdir"
dkms status wse > "$log" 2>&1
sed 's/^/# /' "$log"
grep -F "wse/$version, $kver, " "$log" | grep -q ': installed$'
check $? "dkms status: wse/$version installed for $kver"
module=$(find "/lib/modules/$kver/updates" -name 'wse.ko*' 2>/dev/null | head -1)
vermagic=$(modinfo -F vermagic "$module" 2>/dev/null)
[ -n "$module" ] && [[ $vermagic == "$kver "* ]]
check $? "the installed module (${module:-none}) is built for $kver"
# What systemd-modules-load does at boot with wse.conf: resolve "wse" by name.
grep -qx wse /usr/lib/modules-load.d/wse.conf &&
	modprobe --dry-run --show-depends --set-version "$kver" wse 2>/dev/null | grep -q "/wse.ko"
check $? "modules-load.d names wse, and modprobe finds it for $kver"

# The tools from PATH, as a user runs them: the cpu backend and the default
# model installed in /usr/share/wse/models (no -m, no $WSE_MODEL).
[ "$(command -v wse-infer)" = /usr/bin/wse-infer ]
check $? "wse-infer is on PATH as /usr/bin/wse-infer"
out=$(cd / && env -u WSE_MODEL wse-infer -n 8 -p "In the beginning" --seed 1 2> "$log")
rc=$?
echo "# $out"
sed 's/^/# /' "$log"
[ $rc = 0 ] && [[ $out == "In the beginning"?* ]] &&
	grep -q 'generated tokens 8,' "$log"
check $? "wse-infer -n 8 -p 'In the beginning' continues the prompt with 8 tokens"
in_help=$(wse-infer --help 2>&1)
[[ $in_help == *"/usr/share/wse/models/default.gguf"* ]] &&
	[ "$(dpkg-query -S /usr/share/wse/models/default.gguf 2>/dev/null)" = "wse-tools: /usr/share/wse/models/default.gguf" ]
check $? "the default model is wse-tools' /usr/share/wse/models/default.gguf"
for tool in wse-infer wse-train wse-smi wse-bench wse-exporter; do
	[ -x "/usr/bin/$tool" ] && [ -f "/usr/share/man/man1/$tool.1.gz" ]
	check $? "$tool is installed with its man page"
done
# libwse0's file, wherever ld.so's cache reaches it from (/lib is /usr/lib).
libwse=$(readlink -f "$(dpkg-query -L libwse0 | grep '/libwse\.so\.0$' | head -1)")
# uses_libwse0 PROGRAM: PROGRAM loads libwse0's libwse.so.0, and has no rpath.
uses_libwse0() {
	local lib
	lib=$(ldd "$1" 2>/dev/null | sed -n 's/^[[:space:]]*libwse\.so\.0 => \([^ ]*\) .*/\1/p')
	[ -n "$lib" ] && [ "$(readlink -f "$lib")" = "$libwse" ] &&
		! readelf -d "$1" 2>/dev/null | grep -Eq 'R(UN)?PATH'
}
uses_libwse0 /usr/bin/wse-smi
check $? "wse-smi loads libwse0's ${libwse:-libwse.so.0 (not found)}, without an rpath"
wse-smi --help > "$log" 2>&1
check $? "wse-smi --help runs"

rules=/usr/lib/udev/rules.d/70-wse.rules
helper=$(sed -n 's/.*PROGRAM="\([^ "]*\).*/\1/p' "$rules" 2>/dev/null | head -1)
[ -f "$rules" ] && [ -n "$helper" ] && [ -x "$helper" ]
check $? "the udev rule is installed and its PROGRAM (${helper:-none}) is executable"

# libwse-dev: a program built with pkg-config, against the shared and the
# static library.
run "a C compiler and pkg-config for it install" wse_apt_install libc6-dev pkgconf
tmp=$(mktemp -d /tmp/wse-check-debs-cc.XXXXXX)
cat > "$tmp/t.c" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <wse.h>

int main(void)
{
	char msg[256] = "";
	wse_device *dev = NULL;
	int rc = wse_open("/nonexistent/wse0", &dev, msg, sizeof(msg));

	printf("wse_open: %d (%s): %s\n", rc, wse_strerror(rc), msg);
	return rc == -ENOENT && msg[0] && !dev ? 0 : 1;
}
EOF
# Called through run. pkg-config's words are separate arguments.
# shellcheck disable=SC2046,SC2317
build_shared() {
	gcc -std=c11 -Wall -Werror -o "$tmp/t" "$tmp/t.c" $(pkg-config --cflags --libs libwse) &&
		"$tmp/t" && uses_libwse0 "$tmp/t"
}
# shellcheck disable=SC2046,SC2317
build_static() {
	gcc -std=c11 -Wall -Werror -o "$tmp/t-static" "$tmp/t.c" $(pkg-config --cflags libwse) \
		-Wl,-Bstatic -lwse -Wl,-Bdynamic $(pkg-config --static --libs libwse | sed 's/-lwse //') &&
		"$tmp/t-static" && ! ldd "$tmp/t-static" | grep -q libwse
}
run "a program builds with pkg-config libwse and loads libwse0's libwse.so.0" build_shared
run "the same program links libwse.a (pkg-config --static)" build_static
rm -rf "$tmp"

# Removal: the prerm takes the module out of DKMS and /lib/modules.
run "apt-get purges the packages" \
	wse_apt purge -y "${packages[@]}"
[ ! -e /usr/bin/wse-infer ] && [ ! -e "/usr/src/wse-$version" ] &&
	[ -z "$(find "/lib/modules/$kver" -name 'wse.ko*' 2>/dev/null)" ] &&
	! dkms status wse 2>/dev/null | grep -q .
check $? "after the purge no wse file, module or DKMS entry is left"
[ $made_moddir = 0 ] || rm -rf "/lib/modules/$kver"
finish
