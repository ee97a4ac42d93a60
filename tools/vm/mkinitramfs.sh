#!/bin/bash
# mkinitramfs.sh KERNEL_DIR OUT.cpio.gz [MODULE.ko]: packs the wse test VM's
# initramfs: busybox-static, the kernel's DRM modules (decompressed, depmod'ed),
# the wse module when given, the project's build outputs under /wse with the
# shared libraries they need, and tools/vm/init as /init.
# Environment: BUILD (project build dir), WSE_VM_EXTRA (dir copied to /wse),
# WSE_VM_MODULES (the kernel's modules to pack; default the DRM ones, empty
# for the debug kernel, which has them built in).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=$1
out=$2
module=${3:-}
build=${BUILD:-$top/build}
kver=$(basename "$kdir")
modsrc=$kdir/root/lib/modules/$kver

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,wse,lib/modules/"$kver"}
# mktemp made the root 0700; tests run programs as an unprivileged user too.
chmod 0755 "$root"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' \
	> "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

cp /bin/busybox "$root/bin/busybox"
# Applets are linked at boot by /init; sh must exist before that.
ln -s busybox "$root/bin/sh"

# DRM modules the accel driver may need, with their dependencies.
declare -A seen=()
add_module() {
	local name=$1 file dep
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	file=$(find "$modsrc/kernel" -name "$name.ko*" -print -quit)
	[ -n "$file" ] || { echo "wse: module $name missing from $kver" >&2; exit 1; }
	local rel=${file#"$modsrc/"}
	mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
	case $file in
	*.xz) xz -dc "$file" > "$root/lib/modules/$kver/${rel%.xz}" ;;
	*) cp "$file" "$root/lib/modules/$kver/$rel" ;;
	esac
	for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
		add_module "$dep"
	done
}
for m in ${WSE_VM_MODULES-drm drm_shmem_helper gpu-sched drm_exec drm_gpuvm}; do
	add_module "$m"
done
cp "$modsrc"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/" 2>/dev/null || true
if [ -n "$module" ]; then
	mkdir -p "$root/lib/modules/$kver/extra"
	cp "$module" "$root/lib/modules/$kver/extra/"
fi
depmod -b "$root" "$kver"

# Project outputs and the shared libraries they link against.
for sub in bin tests lib; do
	[ -d "$build/$sub" ] && cp -a "$build/$sub" "$root/wse/$sub"
done
# the embedded default model, where wse-infer looks beside its bin/
if [ -f "$top/engine/models/default.gguf" ]; then
	mkdir -p "$root/wse/models"
	cp "$top/engine/models/default.gguf" "$root/wse/models/"
fi
[ -n "${WSE_VM_EXTRA:-}" ] && cp -a "$WSE_VM_EXTRA"/. "$root/wse/"
find "$root/wse" -type f -perm -u+x -print0 2>/dev/null |
	xargs -0 -r file -L | { grep -E 'ELF .*(dynamically|shared object)' || true; } | cut -d: -f1 |
	while read -r elf; do
		ldd "$elf" 2>/dev/null | grep -oE '(/[^ ]+)' || true
	done | sort -u | while read -r lib; do
		[ -f "$lib" ] || continue
		case $lib in "$root"/*|"$build"/*) continue ;; esac
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done

cp "$here/init" "$root/init"
chmod +x "$root/init"
echo "$kver" > "$root/etc/wse-kernel"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out"
