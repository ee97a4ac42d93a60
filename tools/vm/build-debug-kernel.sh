#!/bin/bash
# build-debug-kernel.sh: builds Debian's linux-source-6.12 with the detectors
# of tools/vm/debug-kernel.config (KASAN, KFENCE, lockdep, kmemleak, UBSAN...)
# for `tools/wse-vm --debug-kernel`, and prints the kernel's directory, laid
# out like tools/vm/fetch-kernel.sh's: vmlinuz, root/lib/modules/<release>/,
# kdir (a tree to build wse.ko against). What the VM needs is built in, so
# wse.ko is the only module.
# Cached under $WSE_CACHE/debug-kernel/<key>/<release>, keyed by the config
# fragment, this script and the source package's version; a miss rebuilds
# in one work tree ($WSE_CACHE/debug-kernel/work).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/apt.sh"

fragment=$here/debug-kernel.config
cache=$WSE_CACHE/debug-kernel
download=$cache/download

# The source package: the one downloaded before, else the archive's newest
# (empty $WSE_CACHE/debug-kernel/download to move to a newer one).
source_deb() {
	ls "$download"/linux-source-6.12_*.deb 2>/dev/null | sort -V | tail -n 1
}
deb=$(source_deb)
if [ -z "$deb" ]; then
	wse_apt_setup
	mkdir -p "$download"
	(cd "$download" && wse_apt -o APT::Sandbox::User=root download linux-source-6.12 >/dev/null)
	deb=$(source_deb)
	[ -n "$deb" ] || { echo "wse: could not download linux-source-6.12" >&2; exit 1; }
fi
version=$(dpkg-deb -f "$deb" Version)
key=$({ cat "$fragment" "$here/build-debug-kernel.sh"; echo "$version"; } | sha256sum | cut -c1-16)
out=$cache/$key
if [ -f "$out/complete" ]; then
	echo "$out/$(cat "$out/release")"
	exit 0
fi

wse_apt_install gcc make bc flex bison libelf-dev xz-utils kmod cpio

work=$cache/work
mkdir -p "$work"
exec 9> "$work/lock"
flock 9
# Another build may have finished while we waited for the lock.
if [ -f "$out/complete" ]; then
	echo "$out/$(cat "$out/release")"
	exit 0
fi
src=$work/linux-$version
build=$work/build
if [ ! -f "$src/Makefile" ]; then
	rm -rf "$work"/linux-* "$build" "$work/unpack"
	dpkg-deb -x "$deb" "$work/unpack"
	mkdir -p "$src"
	tar -C "$src" --strip-components=1 -xaf "$work"/unpack/usr/src/linux-source-6.12.tar.*
	rm -rf "$work/unpack"
fi

kmake() {
	make -C "$src" O="$build" ARCH=x86_64 -j"${WSE_JOBS:-2}" "$@"
}
mkdir -p "$build"
kmake KCONFIG_ALLCONFIG="$fragment" allnoconfig > "$work/config.log"
# Kconfig drops a request whose dependencies are not met without a word.
missing=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) want=$line ;;
	"# CONFIG_"*" is not set") want=$line ;;
	*) continue ;;
	esac
	if ! grep -qxF "$want" "$build/.config"; then
		echo "wse: debug kernel config: '$want' did not take" >&2
		missing=1
	fi
done < "$fragment"
[ $missing = 0 ] || exit 1

start=$SECONDS
kmake bzImage modules > "$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	echo "wse: the debug kernel did not build (log: $work/build.log)" >&2
	exit 1
}
release=$(cat "$build/include/config/kernel.release")

rm -rf "$out.tmp"
dir=$out.tmp/$release
mkdir -p "$dir/root"
cp "$build/arch/x86/boot/bzImage" "$dir/vmlinuz"
cp "$build/.config" "$dir/config"
kmake INSTALL_MOD_PATH="$dir/root" modules_install > /dev/null
rm -f "$dir/root/lib/modules/$release/build"
# What `make M=...` needs (the kernel's own recipe for linux-headers).
(cd "$build" && srctree=$src objtree=$build SRCARCH=x86 KCONFIG_CONFIG=.config CC=gcc HOSTCC=gcc MAKE=make \
	"$src/scripts/package/install-extmod-build" "$dir/kdir") > /dev/null
cp "$build/System.map" "$dir/System.map"
echo "$release" > "$out.tmp/release"
echo "$((SECONDS - start))" > "$out.tmp/build-seconds"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/complete"
echo "$out/$release"
