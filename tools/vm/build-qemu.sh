#!/bin/bash
# build-qemu.sh: builds qemu-system-x86_64 with the wse device (qemu-dev/)
# and the device's qtest from Debian's QEMU 10.0.2 source, and prints the
# directory holding both. Results are cached under $WSE_CACHE/qemu/<hash>,
# keyed by the content of everything injected into the QEMU tree; a miss
# rebuilds incrementally in one work tree ($WSE_CACHE/qemu-work).
#
# --asan builds a second flavour with ASan and UBSan, plus the device fuzzer
# (tests/qtest/wse-fuzz.c), in its own work tree ($WSE_CACHE/qemu-asan-work)
# cached as $WSE_CACHE/qemu/asan-<hash>, so that neither flavour disturbs the
# other's incremental state.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/apt.sh"

flavour=plain
case ${1:-} in
--asan) flavour=asan ;;
'') ;;
*) echo "usage: build-qemu.sh [--asan]" >&2; exit 2 ;;
esac

QEMU_VERSION=10.0.2
inputs=("$here/build-qemu.sh" "$top/tests/qtest/wse-test.c")
qtests=(wse-test)
[ $flavour = asan ] && inputs+=("$top/tests/qtest/wse-fuzz.c") && qtests+=(wse-fuzz)
mapfile -t -O ${#inputs[@]} inputs < <(find "$top/qemu-dev" "$top/include/wse" "$top/engine/kernels" -type f ! -name build.mk | sort)
key=$(cat "${inputs[@]}" | sha256sum | cut -c1-16)
work=$WSE_CACHE/qemu-work
out=$WSE_CACHE/qemu/$key
if [ $flavour = asan ]; then
	work=$WSE_CACHE/qemu-asan-work
	out=$WSE_CACHE/qemu/asan-$key
fi
cached() {
	local t
	[ -x "$out/qemu-system-x86_64" ] || return 1
	for t in "${qtests[@]}"; do [ -x "$out/$t" ] || return 1; done
}
if cached; then
	echo "$out"
	exit 0
fi

wse_apt_install -t bookworm-backports meson python3-pycotap
wse_apt_install ninja-build gcc pkgconf libglib2.0-dev libpixman-1-dev zlib1g-dev \
	flex bison python3-venv seabios qemu-system-data xz-utils patch
# gcc's sanitizer runtimes (gcc pulls them in through libgcc-12-dev; named for --asan).
[ $flavour = plain ] || wse_apt_install libasan8 libubsan1

mkdir -p "$work"
exec 9> "$work/lock"
flock 9
src=$work/qemu-$QEMU_VERSION
build=$work/build

prepare_source() {
	# Both flavours unpack the one downloaded tarball.
	local dl=$WSE_CACHE/qemu-work/download
	mkdir -p "$dl"
	exec 8> "$dl/.lock"
	flock 8
	if ! ls "$dl"/qemu_"$QEMU_VERSION"*.orig.tar.xz >/dev/null 2>&1; then
		wse_apt_setup
		# The .dsc may lag behind the mirror; the upstream tarball is all we use.
		(cd "$dl" && wse_apt source --download-only "qemu/bookworm-backports" >/dev/null 2>&1 || true)
		ls "$dl"/qemu_"$QEMU_VERSION"*.orig.tar.xz >/dev/null 2>&1 || {
			echo "wse: could not download Debian's qemu $QEMU_VERSION source" >&2
			exit 1
		}
	fi
	rm -rf "$src" "$build"
	tar -C "$work" -xf "$dl"/qemu_"$QEMU_VERSION"*.orig.tar.xz
	flock -u 8
	# Hooks hw/misc/wse into QEMU's meson, Kconfig, trace events and qtests,
	# and keeps meson from unpacking the edk2 blobs that Debian strips.
	patch -s -p1 -d "$src" < "$top/qemu-dev/qemu-hooks.patch"
	if [ $flavour = asan ]; then
		# The fuzzer joins the device's qtests in this tree only, so the
		# plain flavour's hooks (and its warm tree) stay as they are.
		sed -i "s/? \['wse-test'\] :/? ['wse-test', 'wse-fuzz'] :/" "$src/tests/qtest/meson.build"
		grep -q "'wse-fuzz'" "$src/tests/qtest/meson.build"
	fi
	mkdir -p "$src/hw/misc/wse"
}

# Copies a file into the tree only when it changed, so ninja rebuilds the least.
sync_file() {
	mkdir -p "$(dirname "$2")"
	cmp -s "$1" "$2" || cp "$1" "$2"
}

inject() {
	local dst=$src/hw/misc/wse f rel
	# QEMU compiles everything with -I include, so the device, the wafer model
	# and the qtest all include the contract as "wse/...", as the driver does.
	for f in "$top"/include/wse/*.h; do
		sync_file "$f" "$src/include/wse/$(basename "$f")"
	done
	# The wafer model's kernel library: its headers where "engine/kernels/..."
	# resolves (include/), its sources beside the device (qemu-dev/meson.build).
	for f in "$top"/engine/kernels/*.[ch]; do
		case $f in
		*.h) sync_file "$f" "$src/include/engine/kernels/$(basename "$f")" ;;
		*) sync_file "$f" "$dst/kernels/$(basename "$f")" ;;
		esac
	done
	# The device with its checked-in glue (meson.build, Kconfig, trace-events).
	while read -r f; do
		rel=${f#"$top/qemu-dev/"}
		sync_file "$f" "$dst/$rel"
	done < <(find "$top/qemu-dev" -type f ! -name build.mk ! -name qemu-hooks.patch ! -name wse.mak | sort)
	sync_file "$top/qemu-dev/wse.mak" "$src/configs/devices/x86_64-softmmu/wse.mak"
	sync_file "$top/tests/qtest/wse-test.c" "$src/tests/qtest/wse-test.c"
	[ $flavour = plain ] || sync_file "$top/tests/qtest/wse-fuzz.c" "$src/tests/qtest/wse-fuzz.c"
}

# A changed hooks patch needs a pristine tree to apply to.
prepared=$(sha256sum < "$top/qemu-dev/qemu-hooks.patch" | cut -c1-16)
[ $flavour = plain ] || prepared="$prepared-$flavour"
[ "$(cat "$src/.wse-prepared" 2>/dev/null)" = "$prepared" ] || {
	prepare_source
	echo "$prepared" > "$src/.wse-prepared"
}
inject
# x86_64 needs no libfdt, and a build must never reach for the network (meson
# would otherwise clone dtc and other subprojects that the tarball lacks).
configure_flags=(--python=/usr/bin/python3 --target-list=x86_64-softmmu
	--without-default-features --without-default-devices --with-devices-x86_64=wse
	--enable-tcg --enable-kvm --disable-docs --disable-werror --disable-install-blobs
	--disable-fdt --disable-download
	--firmwarepath=/usr/share/qemu:/usr/share/seabios)
[ $flavour = plain ] || configure_flags+=(--enable-asan --enable-ubsan)
if [ ! -f "$build/build.ninja" ] || [ "$(cat "$build/wse-configure" 2>/dev/null)" != "${configure_flags[*]}" ]; then
	rm -rf "$build"
	mkdir -p "$build"
	echo "wse: configuring QEMU $QEMU_VERSION (cold build, a few minutes)" >&2
	(cd "$build" && "$src/configure" "${configure_flags[@]}") > "$work/configure.log" 2>&1 || {
		tail -20 "$work/configure.log" >&2
		exit 1
	}
	echo "${configure_flags[*]}" > "$build/wse-configure"
fi
ninja -j2 -C "$build" qemu-system-x86_64 "${qtests[@]/#/tests/qtest/}" > "$work/build.log" 2>&1 || {
	grep -E 'error|Error' "$work/build.log" | head -40 >&2
	echo "wse: QEMU build failed; full log in $work/build.log" >&2
	exit 1
}
mkdir -p "$out.tmp"
cp "$build/qemu-system-x86_64" "${qtests[@]/#/$build/tests/qtest/}" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
