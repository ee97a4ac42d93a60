#!/bin/bash
# Operations in the VM, one boot with two wse devices: `wse-smi -L`, `dmon`,
# `--query ... --format csv` (with and without header and units), -l with
# --count, the DRM fdinfo of open files (a `sleep` holding /dev/wse1, and
# tests/libwse/hold_device holding /dev/wse0 before and after it runs a job),
# `wse-smi ps` showing both, and wse-exporter's metrics (--once, and over HTTP
# on the guest's loopback with busybox wget), checked here on the host by
# `promtool check metrics`.
top=$(cd "$(dirname "$0")/../.." && pwd)
vm=$top/tools/wse-vm
build=${BUILD:-$top/build}
case $build in /*) ;; *) build=$top/$build ;; esac
. "$top/tests/vm/tap.sh"

require_built bin/wse-smi bin/wse-exporter tests/libwse/hold_device lib/libwse.so.0
promtool=${WSE_CACHE:-/var/cache/wse}/tools/bin/promtool
if [ ! -x "$promtool" ]; then
	check 1 "promtool is unpacked at $promtool (tools/setup)"
	finish
fi

work=$(mktemp -d /tmp/wse-ops-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/extra"
# The guest part: each step's output between markers, its status after it.
guest_script ops-guest.sh
cat >> "$work/extra/ops-guest.sh" <<'GUEST'
# wait_for FILE PATTERN: up to 30 s for a line in FILE
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1; i=$((i + 1))
	done
}
# the fd of PID that is an accel node
accel_fd() {
	for f in /proc/$1/fd/*; do
		case $(readlink "$f") in /dev/accel/accel*) echo "${f##*/}"; return ;; esac
	done
}
ifconfig lo 127.0.0.1 up

step list wse-smi -L
step list-missing wse-smi -L -d 7
step dmon wse-smi dmon -c 2 -l 0.5
step csv wse-smi --query index,name,pci.bus_id,state,serial,sram.total,sram.used,utilization.sram,jobs.submitted,jobs.done,jobs.inflight,cycles --format csv
step csv-bare wse-smi --query=index,sram.used,utilization.sram,contexts --format csv,noheader,nounits
step loop wse-smi -L -l 0.2 --count 3

# A process that only holds /dev/wse1, and one that holds /dev/wse0 with
# SRAM, buffers and a context and runs a job when told to.
sleep 600 3<>/dev/wse1 &
sleeper=$!
mkfifo /tmp/hold.in
WSE_DEVICE=/dev/wse0 /wse/tests/libwse/hold_device < /tmp/hold.in > /tmp/hold.out 2>&1 &
holder=$!
exec 7> /tmp/hold.in
wait_for /tmp/hold.out ready
echo "@@PIDS sleeper=$sleeper holder=$holder"
# busybox may run sleep inside the forked shell, so its command is what comm says
echo "@@COMM $(cat /proc/$sleeper/comm)"
sleeper_fd=$(accel_fd $sleeper)
holder_fd=$(accel_fd $holder)
echo "@@FDS sleeper=$sleeper_fd holder=$holder_fd"
step fdinfo-sleeper cat /proc/$sleeper/fdinfo/$sleeper_fd
step fdinfo-before cat /proc/$holder/fdinfo/$holder_fd
step ps wse-smi ps
step ps-json wse-smi ps --json
step ps-d1 wse-smi ps -d 1 --json
# as a user without access to the 0600 nodes and to root's processes
as_nobody() { su -s /bin/sh nobody -c "PATH=$PATH LD_LIBRARY_PATH=$LD_LIBRARY_PATH $*"; }
step nobody-ps as_nobody wse-smi ps
step nobody-csv as_nobody wse-smi --query index,state,sram.used --format csv,noheader,nounits
step nobody-once as_nobody wse-exporter --once
echo job >&7
wait_for /tmp/hold.out done
sed 's/^/@@HOLD /' /tmp/hold.out
step fdinfo-after cat /proc/$holder/fdinfo/$holder_fd
step ps-after wse-smi ps --json
step counters wse-smi --query jobs.submitted,jobs.done,jobs.inflight,cycles --format csv,noheader,nounits -d 0
# dmon over 3 s in which wse0 runs 10 more jobs
wse-smi dmon -d 0 -c 1 -l 3 > /tmp/dmon.out 2>&1 &
dmon=$!
wait_for /tmp/dmon.out Idx
for i in 1 2 3 4 5 6 7 8 9 10; do echo job >&7; done
i=0
while [ "$(grep -c '^done' /tmp/hold.out)" -lt 11 ] && [ $i -lt 300 ]; do
	sleep 0.1; i=$((i + 1))
done
wait $dmon
echo "@@DMON rc=$?"
sed 's/^/@@DM /' /tmp/dmon.out

step once wse-exporter --once
wse-exporter --listen 127.0.0.1:9464 2> /tmp/exporter.err &
exporter=$!
wait_for /tmp/exporter.err listening
step http wget -q -O - http://127.0.0.1:9464/metrics
step http-404 wget -q -O - http://127.0.0.1:9464/nothing
kill $exporter
wait $exporter
echo "@@EXPORTER rc=$?"
sed 's/^/@@EXPERR /' /tmp/exporter.err

exec 7>&-
wait $holder
echo "@@HOLDER rc=$?"
kill $sleeper
wait $sleeper
step ps-empty wse-smi ps
GUEST

run_guest ops-guest.sh 300 operations
# fdinfo NAME KEY: the number of one key in an fdinfo step
fdinfo() { section "$1" | sed -n "s/^$2:[[:space:]]*\([0-9]*\).*/\1/p"; }

section list | sed 's/^/# /'
pci='[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9]'
rows=$(section list | grep -cE "^wse[01]: wse [0-9]+x[0-9]+ \(PCI $pci, accel[0-9]+, hw [0-9]+\.[0-9]+, serial 0x[0-9a-f]{8}, [0-9.]+ [KMG]iB SRAM\)$")
[ "$(status list)" = 0 ] && [ "$rows" = 2 ] && [ "$(section list | wc -l)" = 2 ]
check $? "wse-smi -L prints one line per device, both devices ($rows lines match)"
[ "$(status list-missing)" = 4 ]
check $? "wse-smi -L -d 7 exits 4 (got '$(status list-missing)')"

section dmon | sed 's/^/# /'
headers=$(section dmon | grep -c '^#')
lines0=$(section dmon | grep -cE '^ +0 +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+$')
lines1=$(section dmon | grep -cE '^ +1 +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+$')
[ "$(status dmon)" = 0 ] && [ "$headers" = 2 ] && [ "$lines0" = 2 ] && [ "$lines1" = 2 ] &&
	[ "$(section dmon | wc -l)" = 6 ]
check $? "dmon -c 2 prints 2 header lines and 2 numeric lines per device ($lines0 and $lines1)"

section csv | sed 's/^/# /'
section csv > "$work/query.csv"
python3 - "$work/query.csv" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
header = lines[0].split(", ")
assert header[:3] == ["index", "name", "pci.bus_id"] and "sram.used [MiB]" in header, header
assert len(header) == 12, header
rows = [l.split(", ") for l in lines[1:]]
assert len(rows) == 2 and all(len(r) == len(header) for r in rows), rows
assert [r[0] for r in rows] == ["0", "1"], rows
for r in rows:
    f = dict(zip(header, r))
    assert re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9]", f["pci.bus_id"]), f
    assert f["state"] == "ready" and re.fullmatch(r"0x[0-9a-f]{8}", f["serial"]), f
    assert re.fullmatch(r"[1-9][0-9]* MiB", f["sram.total [MiB]"]), f
    assert re.fullmatch(r"[0-9]+ %", f["utilization.sram [%]"]), f
    for k in ("jobs.submitted", "jobs.done", "jobs.inflight", "cycles"):
        assert f[k].isdigit(), (k, f)
PY
check $? "--query with 12 fields --format csv: a header and 2 rows of 12 fields, values well-formed"
section csv-bare > "$work/bare.csv"
python3 - "$work/bare.csv" <<'PY'
import sys
rows = [l.split(", ") for l in open(sys.argv[1]).read().splitlines()]
assert len(rows) == 2 and all(len(r) == 4 and all(v.isdigit() for v in r) for r in rows), rows
PY
check $? "--format csv,noheader,nounits: 2 rows of 4 bare numbers ($(section csv-bare | tr '\n' ' '))"
[ "$(section loop | grep -c '^wse0: ')" = 3 ] && [ "$(section loop | grep -c '^wse1: ')" = 3 ] &&
	[ "$(status loop)" = 0 ]
check $? "-L -l 0.2 --count 3 shows the list 3 times and stops (status '$(status loop)')"

# fdinfo: the common keys and the driver's, for a file without objects and one with.
pids=$(sed -n 's/^@@PIDS //p' "$work/out.log")
sleeper=$(echo "$pids" | sed -n 's/.*sleeper=\([0-9]*\).*/\1/p')
holder=$(echo "$pids" | sed -n 's/.*holder=\([0-9]*\).*/\1/p')
section fdinfo-sleeper | sed 's/^/# sleep: /'
ok=0
for key in drm-driver drm-client-id drm-pdev drm-engine-compute drm-cycles-compute \
	drm-total-memory drm-shared-memory drm-resident-memory drm-total-sram drm-resident-sram; do
	section fdinfo-sleeper | grep -q "^$key:" || { echo "# missing $key"; ok=1; }
done
section fdinfo-sleeper | grep -qP '^drm-driver:\twse$' && [ "$(fdinfo fdinfo-sleeper drm-total-sram)" = 0 ] &&
	[ "$(fdinfo fdinfo-sleeper drm-engine-compute)" = 0 ] || ok=1
check $ok "fdinfo of a file that only holds /dev/wse1 has the drm-usage-stats keys, no SRAM, no time"

section fdinfo-before | sed 's/^/# before: /'
section fdinfo-after | sed 's/^/# after: /'
sram_before=$(fdinfo fdinfo-before drm-total-sram)
host_before=$(fdinfo fdinfo-before drm-total-memory)
[ "$sram_before" = 65536 ] && [ "$(fdinfo fdinfo-before drm-resident-sram)" = 65536 ] &&
	[ -n "$host_before" ] && [ "$host_before" -ge 65536 ]
check $? "hold_device's fdinfo counts its 64 KiB of SRAM and its host buffers (sram $sram_before, host $host_before)"
job_cycles=$(sed -n 's/^@@HOLD done //p' "$work/out.log" | head -n 1)
ns_before=$(fdinfo fdinfo-before drm-engine-compute)
ns_after=$(fdinfo fdinfo-after drm-engine-compute)
cyc_before=$(fdinfo fdinfo-before drm-cycles-compute)
cyc_after=$(fdinfo fdinfo-after drm-cycles-compute)
[ -n "$job_cycles" ] && [ "$job_cycles" -gt 0 ] && [ -n "$ns_after" ] &&
	[ "$ns_after" -gt "$ns_before" ]
check $? "drm-engine-compute grew when the job ran ($ns_before -> $ns_after ns)"
# One job ran on that file in between: the cycles it reported are exactly the growth.
[ -n "$cyc_after" ] && [ $((cyc_after - cyc_before)) = "$job_cycles" ]
check $? "drm-cycles-compute grew by the job's cycles ($cyc_before -> $cyc_after, job $job_cycles)"

sleeper_comm=$(sed -n 's/^@@COMM //p' "$work/out.log")
section ps | sed 's/^/# /'
[ "$(status ps)" = 0 ] && [ -n "$sleeper_comm" ] &&
	section ps | grep -qE "^wse0 +$holder +hold_device +[0-9]+ +64\.0 KiB " &&
	section ps | grep -qE "^wse1 +$sleeper +$sleeper_comm +[0-9]+ +0 B "
check $? "wse-smi ps shows hold_device ($holder) on wse0 with 64 KiB SRAM and $sleeper_comm ($sleeper) on wse1"
section ps-json > "$work/ps.json"
section ps-d1 > "$work/ps-d1.json"
section ps-after > "$work/ps-after.json"
python3 - "$work/ps.json" "$work/ps-d1.json" "$work/ps-after.json" "$holder" "$sleeper" \
	"$ns_after" "$cyc_after" "$sleeper_comm" <<'PY'
import json, sys
before, d1, after = (json.load(open(f))["processes"] for f in sys.argv[1:4])
holder, sleeper, ns, cycles = (int(v) for v in sys.argv[4:8])
sleeper_comm = sys.argv[8]
def of(procs, pid):
    found = [p for p in procs if p["pid"] == pid]
    assert len(found) == 1, (pid, procs)
    return found[0]
h, s = of(before, holder), of(before, sleeper)
assert h["device"] == "wse0" and h["command"] == "hold_device" and h["sram_bytes"] == 65536, h
assert s["device"] == "wse1" and s["command"] == sleeper_comm and s["sram_bytes"] == 0, s
assert [p["pid"] for p in d1] == [sleeper], d1
h = of(after, holder)
assert h["engine_ns"] == ns and h["cycles"] == cycles, (h, ns, cycles)
PY
check $? "wse-smi ps --json: both processes, -d 1 only the sleeper, and after the job the fdinfo's time and cycles"
section nobody-ps | sed 's/^/# nobody: /'
[ "$(status nobody-ps)" = 0 ] && section nobody-ps | grep -q '^No process holds' &&
	section nobody-ps | grep -qE '^note: the open files of [0-9]+ processes of other users'
check $? "wse-smi ps as nobody exits 0 and notes the processes it may not inspect"
[ "$(status nobody-csv)" = 0 ] && [ "$(section nobody-csv | grep -cE '^[01], ready, [0-9]+$')" = 2 ]
check $? "--query index,state,sram.used as nobody reads sysfs: $(section nobody-csv | tr '\n' ' ')"

counters=$(section counters)
submitted=$(echo "$counters" | cut -d, -f1)
done_jobs=$(echo "$counters" | cut -d, -f2 | tr -d ' ')
inflight=$(echo "$counters" | cut -d, -f3 | tr -d ' ')
dev_cycles=$(echo "$counters" | cut -d, -f4 | tr -d ' ')
[ -n "$submitted" ] && [ "$submitted" -ge 1 ] && [ "$done_jobs" = "$submitted" ] &&
	[ "$inflight" = 0 ] && [ "$dev_cycles" -ge "$job_cycles" ]
check $? "wse0's sysfs counters: jobs submitted = done ($submitted), none in flight, cycles $dev_cycles >= the job's"

grep '^@@DM ' "$work/out.log" | sed 's/^@@DM /# /'
dmon_line=$(grep -E '^@@DM +0 ' "$work/out.log")
# At most 10 jobs in at least 3 s: up to 3.33 jobs/s, printed to one decimal.
python3 - "$(sed -n 's/^@@DMON rc=//p' "$work/out.log")" $dmon_line <<'PY'
import sys
assert sys.argv[1] == "0", sys.argv
jobs, kcycles = float(sys.argv[4]), float(sys.argv[5])
assert 0 < jobs <= 3.4 and kcycles > 0, (jobs, kcycles)
PY
check $? "dmon -d 0 -l 3 counts the 10 jobs that ran meanwhile: jobs/s and kcycles/s above 0 ($dmon_line)"

# The exporter, checked by Prometheus's own linter.
section once > "$work/once.prom"
section http > "$work/http.prom"
section nobody-once > "$work/nobody.prom"
[ "$(status once)" = 0 ] && [ "$(status nobody-once)" = 0 ]
check $? "wse-exporter --once exits 0, as root and as nobody (status '$(status once)', '$(status nobody-once)')"
for f in once http nobody; do
	out=$("$promtool" check metrics < "$work/$f.prom" 2>&1)
	[ $? = 0 ] && [ -s "$work/$f.prom" ]
	check $? "promtool check metrics accepts the $f output ($(wc -l < "$work/$f.prom") lines)"
	[ -z "$out" ] || echo "$out" | sed 's/^/# promtool: /'
done
grep -v '^#' "$work/once.prom" | sed 's/^/# /' | head -n 40
python3 - "$work/once.prom" "$work/http.prom" "$job_cycles" "$work/nobody.prom" <<'PY'
import re, sys
def parse(path):
    series = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = re.fullmatch(r'([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)', line.strip())
        assert m, line
        series[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return series
once, http = parse(sys.argv[1]), parse(sys.argv[2])
job_cycles = int(sys.argv[3])
assert once[("wse_devices", "")] == 2, once
for dev in ("wse0", "wse1"):
    label = '{device="%s"}' % dev
    for name in ("wse_sram_total_bytes", "wse_sram_used_bytes", "wse_queues", "wse_contexts",
                 "wse_jobs_inflight", "wse_jobs_submitted_total", "wse_jobs_completed_total",
                 "wse_faults_total", "wse_resets_total", "wse_job_timeouts_total",
                 "wse_modelled_cycles_total"):
        assert (name, label) in once, (name, label)
    assert once[("wse_device_state", '{device="%s",state="ready"}' % dev)] == 1
assert once[("wse_sram_used_bytes", '{device="wse0"}')] >= 65536
assert once[("wse_jobs_submitted_total", '{device="wse0"}')] >= 1
assert once[("wse_modelled_cycles_total", '{device="wse0"}')] >= job_cycles
assert sorted(once) == sorted(http), set(once) ^ set(http)
nobody = parse(sys.argv[4])
assert sorted(once) == sorted(nobody), set(once) ^ set(nobody)
PY
check $? "the metrics name both devices with every family, wse0's SRAM, jobs and cycles; HTTP and nobody's have the same series"
[ "$(status http)" = 0 ] && [ "$(status http-404)" != 0 ]
check $? "HTTP: /metrics answers (wget status '$(status http)'), /nothing does not ('$(status http-404)')"
exp_rc=$(sed -n 's/^@@EXPORTER rc=//p' "$work/out.log")
[ "$exp_rc" = 0 ] && grep -q '^@@EXPERR wse-exporter: listening on http://127.0.0.1:9464/metrics' "$work/out.log"
check $? "the exporter said where it listens and exited 0 on SIGTERM (status '$exp_rc')"

hold_rc=$(sed -n 's/^@@HOLDER rc=//p' "$work/out.log")
[ "$hold_rc" = 0 ]
check $? "hold_device exited 0 at the end of its input (status '$hold_rc')"
section ps-empty | sed 's/^/# /'
[ "$(status ps-empty)" = 0 ] && section ps-empty | grep -q '^No process holds a wse device open\.$'
check $? "wse-smi ps shows no process once both have exited"

finish
