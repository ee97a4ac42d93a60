#!/bin/bash
# fetch-kernel.sh: downloads (once) Debian's newest linux 6.12 image, headers
# and kbuild into $WSE_CACHE/kernel/<version>/ and prints that directory.
# Layout: vmlinuz, root/lib/modules/<version>/, kdir -> the headers tree.
# With --source it also unpacks linux-source-6.12 (checkpatch, kselftest).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/apt.sh"

want_source=0
[ "${1:-}" = --source ] && want_source=1

wse_apt_install xz-utils

resolve_version() {
	if [ -n "${WSE_KERNEL_VERSION:-}" ]; then
		echo "$WSE_KERNEL_VERSION"
		return
	fi
	wse_apt_setup
	wse_apt_cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' |
		awk '{print $1}' | sed 's/^linux-image-//' | sort -V -r
}

fetch_one() {
	local kver=$1 dir=$WSE_CACHE/kernel/$1
	[ -f "$dir/complete" ] && return 0
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/debs"
	local base=${kver%-amd64}
	(cd "$dir.tmp/debs" && wse_apt -o APT::Sandbox::User=root download "linux-image-$kver" \
		"linux-headers-$kver" "linux-headers-$base-common" \
		"linux-kbuild-$base" >/dev/null) || return 1
	local deb
	for deb in "$dir.tmp"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dir.tmp/root"
	done
	cp "$dir.tmp/root/boot/vmlinuz-$kver" "$dir.tmp/vmlinuz"
	ln -s "root/usr/src/linux-headers-$kver" "$dir.tmp/kdir"
	rm -rf "$dir.tmp/debs" "$dir"
	mv "$dir.tmp" "$dir"
	touch "$dir/complete"
}

fetch_source() {
	local dir=$WSE_CACHE/linux-source
	[ -f "$dir/complete" ] && return 0
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	wse_apt_setup
	(cd "$dir.tmp" && wse_apt -o APT::Sandbox::User=root download linux-source-6.12 >/dev/null)
	dpkg-deb -x "$dir.tmp"/linux-source-6.12_*.deb "$dir.tmp/root"
	tar -C "$dir.tmp" -xaf "$dir.tmp"/root/usr/src/linux-source-6.12.tar.* \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch' \
		'*/tools/testing/selftests/kselftest_harness.h' \
		'*/tools/testing/selftests/kselftest.h' \
		'*/drivers/accel/*' '*/include/drm/*'
	mv "$dir.tmp"/linux-source-6.12 "$dir.tmp/tree"
	rm -rf "$dir.tmp/root" "$dir.tmp"/*.deb "$dir"
	mv "$dir.tmp" "$dir"
	touch "$dir/complete"
}

for kver in $(resolve_version); do
	if fetch_one "$kver"; then
		# Debian's headers Makefile includes the -common tree by its installed
		# path; point it at the unpacked copy so `make -C kdir` works.
		sed -i "s|^include /usr/src/|include $WSE_CACHE/kernel/$kver/root/usr/src/|" \
			"$WSE_CACHE/kernel/$kver/kdir/Makefile"
		[ $want_source = 1 ] && fetch_source
		echo "$WSE_CACHE/kernel/$kver"
		exit 0
	fi
	echo "wse: linux $kver could not be downloaded, trying an older one" >&2
done
echo "wse: no Debian linux 6.12 image could be downloaded" >&2
exit 1
