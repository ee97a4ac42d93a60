#!/bin/bash
# End-to-end inference in the VM. One boot with 4 wse devices: the wse
# backend on 1, 2 and 4 devices gives the cpu backend's logits (within
# e2e-infer's stated tolerance) and greedy tokens for random models in every
# weight dtype and for the default model; wse-infer writes the same text on
# both backends; a bad model path, too many devices, a model too big for the
# SRAM and a device fault give clear errors. A second boot without a device:
# the wse backend says so. The cpu reference runs are made here on the host,
# natively: under TCG the guest would compute them ~100x slower. The guest's
# TAP lines are relayed, renumbered.
top=$(cd "$(dirname "$0")/../.." && pwd)
vm=$top/tools/wse-vm
export BUILD=${BUILD:-$top/build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
. "$top/tests/vm/tap.sh"

e2e=$BUILD/tests/e2e/e2e-infer
if [ ! -x "$e2e" ] || [ ! -x "$BUILD/bin/wse-infer" ]; then
	check 1 "e2e-infer and wse-infer are built (run make all)"
	finish
fi

work=$(mktemp -d /tmp/wse-e2e.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/extra/ref"
# The guest has the default model as /wse/models/default.gguf (tools/vm/mkinitramfs.sh);
# its reference is found by the file's base name.
models=()
[ -f "$top/engine/models/default.gguf" ] && models=(--model "$top/engine/models/default.gguf")
"$e2e" --write-reference "$work/extra/ref" "${models[@]}" > /dev/null
check $? "the cpu reference runs are written on the host ($(ls "$work/extra/ref" | wc -l) models)"

# relay LABEL FILE: re-emits the guest's TAP results; sets relayed to their count.
relay() {
	local line desc
	relayed=0
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		"ok "[0-9]*|"not ok "[0-9]*)
			desc=${line#* - }
			case $line in "not ok"*) check 1 "$1$desc" ;; *) check 0 "$1$desc" ;; esac
			relayed=$((relayed + 1)) ;;
		"# "*) echo "$line" ;;
		esac
	done < "$2"
}

# marker FILE NAME: the value the guest printed as NAME=value.
marker() {
	tr -d '\r' < "$1" | sed -n "s/^$2=//p" | tail -n 1
}

out=$work/out
"$vm" --devices 4 --extra "$work/extra" -- sh -c '
	/wse/tests/e2e/e2e-infer --devices 1,2,4 --reference /wse/ref
	echo E2E-RC=$?
	/wse/tests/e2e/e2e-infer --write-model /tmp/m.gguf
	wse-infer -m /tmp/m.gguf --backend cpu --temp 0 -p "In the beginning" -n 40 > /tmp/cpu.txt 2>/tmp/cpu.err
	echo CPU-RC=$?
	wse-infer -m /tmp/m.gguf --backend wse --devices 2 --temp 0 -p "In the beginning" -n 40 --stats > /tmp/wse.txt 2>/tmp/wse.err
	echo WSE-RC=$?
	cmp -s /tmp/cpu.txt /tmp/wse.txt && echo SAME-TEXT=yes || echo SAME-TEXT=no
	grep -o "modelled CS-3 [0-9.]* tok/s" /tmp/wse.err | sed "s/^/MODELLED=/"
	wse-infer -m /nonexistent/model.gguf --backend wse -p hi > /dev/null 2>/tmp/bad.err
	echo BAD-RC=$?
	sed "s/^/BAD-MSG=/" /tmp/bad.err' > "$out" 2>&1
vm_rc=$?
relay "" "$out"
rc=$(marker "$out" E2E-RC)
if [ "$relayed" = 0 ] || [ "$rc" != 0 ]; then
	echo "# guest output (vm status $vm_rc):"
	tr -d '\r' < "$out" | grep -av '^\[ *[0-9.]*\]' | tail -n 40 | sed 's/^/#   /'
fi
check $([ "$relayed" -gt 0 ] && [ "$rc" = 0 ]; echo $?) \
	"e2e-infer ran $relayed checks in the guest and passed (status ${rc:-none})"
check $([ "$(marker "$out" CPU-RC)" = 0 ] && [ "$(marker "$out" WSE-RC)" = 0 ]; echo $?) \
	"wse-infer runs with --backend cpu and with --backend wse --devices 2 in the guest"
check $([ "$(marker "$out" SAME-TEXT)" = yes ]; echo $?) \
	"wse-infer --temp 0 writes the same 40 tokens of text on both backends"
check $([ -n "$(marker "$out" MODELLED)" ]; echo $?) \
	"wse-infer --backend wse reports a modelled CS-3 speed ($(marker "$out" MODELLED))"
msg=$(marker "$out" BAD-MSG)
check $([ "$(marker "$out" BAD-RC)" = 1 ] && echo "$msg" | grep -q /nonexistent/model.gguf; echo $?) \
	"a bad model path fails with status 1 and names the file: $msg"

# A VM without a wse device: the wse backend says so instead of crashing.
"$vm" --devices 0 -- sh -c '
	/wse/tests/e2e/e2e-infer --write-model /tmp/m.gguf
	wse-infer -m /tmp/m.gguf --backend wse -p hi > /dev/null 2>/tmp/err
	echo NODEV-RC=$?
	sed "s/^/NODEV-MSG=/" /tmp/err' > "$out" 2>&1
msg=$(marker "$out" NODEV-MSG)
check $([ "$(marker "$out" NODEV-RC)" = 1 ] && echo "$msg" | grep -q "no wse device"; echo $?) \
	"without a device wse-infer --backend wse fails with status 1: $msg"

finish
