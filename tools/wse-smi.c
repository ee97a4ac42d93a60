/* SPDX-License-Identifier: MIT */
/*
 * wse-smi: the state of the wse devices in nvidia-smi's habits: a table of
 * devices, one line each (-L), a detailed query, JSON, chosen fields as CSV
 * (--query), any of these again every N seconds (-l), a monitor (dmon), the
 * processes that hold a device open (ps, from DRM fdinfo), live events and
 * device reset. See docs/man/wse-smi.1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libwse/wse.h"
#include "tools/exit_status.h"

#define MAX_DEVICES 64

struct device_view {
	struct wse_device_sample sample;	/* counters, without opening the node */
	struct wse_info info;		/* QUERY_INFO, when the node was opened */
	int have_info;
	char open_error[256];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* SIGINT and SIGTERM end the repeating views; no SA_RESTART, so sleeps end too. */
static void catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void sleep_seconds(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - floor(s)) * 1e9) };

	while (!stop && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wse-smi [-d N] [-q | -L | --json | --query FIELD,... [--format csv[,noheader][,nounits]]]\n"
		"               [-l SEC [--count N]]\n"
		"       wse-smi dmon [-d N] [-l SEC] [-c COUNT]\n"
		"       wse-smi ps [-d N] [--json] [-l SEC [--count N]]\n"
		"       wse-smi events [-d N] [--count N] [--timeout SEC] [--json]\n"
		"       wse-smi reset -d N [--queue Q]\n"
		"\n"
		"Shows the wse wafer-scale engine devices: a table by default.\n"
		"\n"
		"  -d, --device N      only device N (/dev/wseN)\n"
		"  -L, --list          one line per device: name, PCI address, accel node\n"
		"  -q, --query         full detail of each device\n"
		"      --query FIELD,...  the fields as CSV (--help-query lists them)\n"
		"      --format F      csv, with ,noheader and/or ,nounits\n"
		"  -j, --json          JSON instead of text\n"
		"  -l, --loop SEC      show the view again every SEC seconds until SIGINT\n"
		"  -c, --count N       with -l: stop after N views; dmon: N samples;\n"
		"                      events: N events\n"
		"      --help-query    the fields of --query\n"
		"  -h, --help          this text\n"
		"  -V, --version       library version\n"
		"\n"
		"Commands:\n"
		"  dmon             one line per device every interval (-l SEC, --delay SEC;\n"
		"                   default 1): jobs/s, modelled kcycles/s, jobs in flight,\n"
		"                   SRAM used, faults, resets; -c COUNT lines per device\n"
		"  ps               the processes that hold a device open, from DRM fdinfo:\n"
		"                   pid, command, SRAM, host memory, engine time, cycles\n"
		"  events           print device events (faults, resets, timeouts, SRAM and DMA\n"
		"                   errors) as they happen, until SIGINT; needs CAP_NET_ADMIN.\n"
		"                   --count N stops after N events, --timeout SEC after SEC\n"
		"                   seconds (status 1 when no event came)\n"
		"  reset -d N       full reset of device N (or of one queue with --queue Q);\n"
		"                   needs CAP_SYS_ADMIN\n"
		"\n"
		"Exit status: 0 success, 1 an operation failed, 2 usage error, 3 the wse module\n"
		"is not loaded, 4 no such wse device, 5 permission denied.\n");
}

/* "1.5 GiB" */
static const char *human_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
	return buf;
}

/* "12.3k", "4.5M": counters stay narrow in the table. */
static const char *human_count(uint64_t v, char *buf, size_t len)
{
	if (v < 100000)
		snprintf(buf, len, "%" PRIu64, v);
	else if (v < 100000000ull)
		snprintf(buf, len, "%.1fk", (double)v / 1e3);
	else
		snprintf(buf, len, "%.1fM", (double)v / 1e6);
	return buf;
}

/* "850 ns", "12.3 ms", "4.56 s" */
static const char *human_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
	return buf;
}

/*
 * Fills views with the devices (only want, unless -1). open_nodes: also open
 * each node for QUERY_INFO; the views that need no identity beyond sysfs do
 * without, so that they run unprivileged and do not show up as clients.
 */
static int collect(struct device_view *views, int want, int open_nodes)
{
	static struct wse_device_sample samples[MAX_DEVICES];
	int n, i, count = 0;

	n = wse_sample_devices(NULL, NULL, samples, MAX_DEVICES);
	if (n < 0)
		return n;
	if (n > MAX_DEVICES)
		n = MAX_DEVICES;
	for (i = 0; i < n; i++) {
		struct device_view *v = &views[count];
		wse_device *dev;

		if (want >= 0 && samples[i].entry.index != want)
			continue;
		memset(v, 0, sizeof(*v));
		v->sample = samples[i];
		if (open_nodes &&
		    wse_open(samples[i].entry.path, &dev, v->open_error, sizeof(v->open_error)) == 0) {
			v->have_info = wse_query_info(dev, &v->info) == 0;
			wse_close(dev);
		}
		count++;
	}
	return count;
}

/* Copies s into buf, cut to fit: query fields are bounded by design. */
static void put_field(char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (!len)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

static const char *pci_of(const struct device_view *v)
{
	if (v->sample.have_stats && v->sample.stats.pci_name[0])
		return v->sample.stats.pci_name;
	if (v->have_info && v->info.pci_name[0])
		return v->info.pci_name;
	return "-";
}

static uint64_t sram_total(const struct device_view *v)
{
	if (v->sample.have_stats)
		return v->sample.stats.sram_total;
	return v->have_info ? v->info.sram_size : 0;
}

static uint64_t sram_used(const struct device_view *v)
{
	if (v->sample.have_stats)
		return v->sample.stats.sram_used;
	return v->have_info ? v->info.sram_used : 0;
}

static const char *state_of(const struct device_view *v)
{
	if (v->sample.have_stats)
		return wse_state_str(v->sample.stats.state);
	return v->have_info ? "ready" : "no access";
}

/* PE grid from QUERY_INFO or sysfs; 0 when neither said. */
static void grid_of(const struct device_view *v, uint32_t *w, uint32_t *h)
{
	*w = v->have_info ? v->info.grid_width : v->sample.stats.grid_width;
	*h = v->have_info ? v->info.grid_height : v->sample.stats.grid_height;
}

/* "wse0", or "accel3" for an accel node without a wseN link. */
static const char *node_name(const struct device_view *v)
{
	const char *base = strrchr(v->sample.entry.path, '/');

	return base ? base + 1 : v->sample.entry.path;
}

/* The model name: "wse 64x64" (the PE grid is what tells presets apart). */
static const char *device_name(const struct device_view *v, char *buf, size_t len)
{
	uint32_t w, h;

	grid_of(v, &w, &h);
	if (w)
		snprintf(buf, len, "wse %ux%u", w, h);
	else
		snprintf(buf, len, "wse");
	return buf;
}

static void print_table(const struct device_view *views, int n)
{
	char a[32], b[32], grid[32], sram[64], jobs[16], faults[16], resets[16], node[64];
	int i;

	printf("%-3s %-13s %-11s %-9s %-9s %-21s %6s %4s %9s %7s %7s\n", "ID", "PCI", "NODE",
	       "STATE", "PE GRID", "SRAM USED / TOTAL", "QUEUES", "CTX", "JOBS", "FAULTS",
	       "RESETS");
	for (i = 0; i < n; i++) {
		const struct device_view *v = &views[i];
		uint32_t gw, gh;

		grid_of(v, &gw, &gh);
		if (gw)
			snprintf(grid, sizeof(grid), "%ux%u", gw, gh);
		else
			snprintf(grid, sizeof(grid), "-");
		snprintf(sram, sizeof(sram), "%s / %s", human_bytes(sram_used(v), a, sizeof(a)),
			 human_bytes(sram_total(v), b, sizeof(b)));
		snprintf(node, sizeof(node), "%s", v->sample.entry.path + (strncmp(v->sample.entry.path, "/dev/", 5)
								    ? 0 : 5));
		if (v->sample.entry.index >= 0)
			printf("%-3d ", v->sample.entry.index);
		else
			printf("%-3s ", "-");
		printf("%-13s %-11s %-9s %-9s %-21s %6u %4u %9s %7s %7s\n", pci_of(v), node,
		       state_of(v), grid, sram,
		       v->sample.have_stats ? v->sample.stats.queues : v->info.num_queues, v->sample.stats.contexts,
		       human_count(v->sample.stats.jobs_done, jobs, sizeof(jobs)),
		       human_count(v->sample.stats.faults, faults, sizeof(faults)),
		       human_count(v->sample.stats.resets, resets, sizeof(resets)));
	}
	for (i = 0; i < n; i++)
		if (!views[i].have_info && views[i].open_error[0])
			printf("note: %s\n", views[i].open_error);
}

/* -L: "wse0: wse 64x64 (PCI 0000:00:08.0, accel0, hw 1.0, serial 0x..., 256.0 MiB SRAM)" */
static void print_list(const struct device_view *views, int n)
{
	char name[64], size[32];
	int i;

	for (i = 0; i < n; i++) {
		const struct device_view *v = &views[i];

		printf("%s: %s (PCI %s", node_name(v), device_name(v, name, sizeof(name)),
		       pci_of(v));
		if (v->sample.entry.accel_minor >= 0)
			printf(", accel%d", v->sample.entry.accel_minor);
		if (v->have_info)
			printf(", hw %u.%u, serial 0x%08x", v->info.hw_version >> 16,
			       v->info.hw_version & 0xffff, v->info.serial);
		printf(", %s SRAM)\n", human_bytes(sram_total(v), size, sizeof(size)));
	}
}

/* ---- --query FIELD,... --format csv ------------------------------------------ */

enum field_id {
	F_INDEX, F_NAME, F_PCI, F_NODE, F_ACCEL, F_STATE, F_SERIAL, F_HW_VERSION,
	F_DRIVER_VERSION, F_ABI_VERSION, F_GRID, F_PES, F_CLOCK, F_SRAM_TOTAL, F_SRAM_USED,
	F_SRAM_FREE, F_SRAM_UTIL, F_QUEUES, F_QUEUE_DEPTH, F_CONTEXTS, F_JOBS_SUBMITTED,
	F_JOBS_DONE, F_JOBS_INFLIGHT, F_FAULTS, F_RESETS, F_TIMEOUTS, F_CYCLES, F_COUNT
};

static const struct field {
	const char *name;
	const char *unit;	/* in the header as " [unit]" and after values; or NULL */
	int needs_node;		/* from QUERY_INFO: needs access to the device node */
	const char *help;
} fields[F_COUNT] = {
	[F_INDEX] = { "index", NULL, 0, "N of /dev/wseN (-1 for an accel node without one)" },
	[F_NAME] = { "name", NULL, 0, "model name, \"wse WxH\" after the PE grid" },
	[F_PCI] = { "pci.bus_id", NULL, 0, "PCI address, domain:bus:device.function" },
	[F_NODE] = { "node", NULL, 0, "device node, /dev/wseN" },
	[F_ACCEL] = { "accel", NULL, 0, "N of /dev/accel/accelN" },
	[F_STATE] = { "state", NULL, 0, "ready, resetting, fatal or gone" },
	[F_SERIAL] = { "serial", NULL, 1, "serial number, hexadecimal" },
	[F_HW_VERSION] = { "hw_version", NULL, 1, "hardware version, major.minor" },
	[F_DRIVER_VERSION] = { "driver_version", NULL, 1, "wse.ko version" },
	[F_ABI_VERSION] = { "abi_version", NULL, 1, "ioctl ABI version of the driver" },
	[F_GRID] = { "pe.grid", NULL, 0, "PE grid, width x height" },
	[F_PES] = { "pe.count", NULL, 0, "processing elements" },
	[F_CLOCK] = { "clocks.max", "MHz", 1, "modelled core clock" },
	[F_SRAM_TOTAL] = { "sram.total", "MiB", 0, "SRAM of the device" },
	[F_SRAM_USED] = { "sram.used", "MiB", 0, "SRAM allocated by all users" },
	[F_SRAM_FREE] = { "sram.free", "MiB", 0, "SRAM not allocated" },
	[F_SRAM_UTIL] = { "utilization.sram", "%", 0, "SRAM used of total" },
	[F_QUEUES] = { "queues", NULL, 0, "hardware queues" },
	[F_QUEUE_DEPTH] = { "queue.depth", NULL, 1, "jobs each hardware ring holds" },
	[F_CONTEXTS] = { "contexts", NULL, 0, "contexts (device address spaces) in use" },
	[F_JOBS_SUBMITTED] = { "jobs.submitted", NULL, 0, "jobs put into the rings" },
	[F_JOBS_DONE] = { "jobs.done", NULL, 0, "jobs completed, failed or aborted" },
	[F_JOBS_INFLIGHT] = { "jobs.inflight", NULL, 0, "jobs in the rings now" },
	[F_FAULTS] = { "faults", NULL, 0, "device faults" },
	[F_RESETS] = { "resets", NULL, 0, "queue and device resets" },
	[F_TIMEOUTS] = { "timeouts", NULL, 0, "jobs that hung and were failed" },
	[F_CYCLES] = { "cycles", NULL, 0, "modelled device cycles of finished jobs" },
};

static void print_help_query(void)
{
	int i;

	printf("Fields of wse-smi --query FIELD,... --format csv[,noheader][,nounits]\n"
	       "([N/A] where the value is not known: fields marked * need access to the\n"
	       "device node, the others come from sysfs or netlink):\n\n");
	for (i = 0; i < F_COUNT; i++) {
		char name[48];

		snprintf(name, sizeof(name), "%s%s%s%s", fields[i].name,
			 fields[i].unit ? " [" : "", fields[i].unit ? fields[i].unit : "",
			 fields[i].unit ? "]" : "");
		printf("  %-24s %s %s\n", name, fields[i].needs_node ? "*" : " ", fields[i].help);
	}
}

static int field_by_name(const char *name, size_t len)
{
	int i;

	for (i = 0; i < F_COUNT; i++)
		if (strlen(fields[i].name) == len && strncmp(fields[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Parses "a,b,c" into ids; the count, or -1 after saying which name is unknown. */
static int parse_fields(const char *list, int *ids, int capacity)
{
	const char *p = list;
	int n = 0;

	for (;;) {
		size_t len = strcspn(p, ",");
		int id = field_by_name(p, len);

		if (id < 0 || n == capacity) {
			fprintf(stderr, "wse-smi: %s field '%.*s' (see --help-query)\n",
				id < 0 ? "unknown" : "too many fields at", (int)len, p);
			return -1;
		}
		ids[n++] = id;
		if (!p[len])
			return n;
		p += len + 1;
	}
}

static uint64_t mib(uint64_t bytes)
{
	return (bytes + (1u << 19)) >> 20;
}

/* The value of one field, or "[N/A]" (returns 0 then, so no unit follows). */
static int field_value(const struct device_view *v, int id, char *buf, size_t len)
{
	const struct wse_info *in = &v->info;
	uint32_t w, h;

	if (fields[id].needs_node && !v->have_info)
		goto na;
	grid_of(v, &w, &h);
	switch (id) {
	case F_INDEX: snprintf(buf, len, "%d", v->sample.entry.index); break;
	case F_NAME: device_name(v, buf, len); break;
	case F_PCI:
		if (!strcmp(pci_of(v), "-"))
			goto na;
		put_field(buf, len, pci_of(v));
		break;
	case F_NODE: put_field(buf, len, v->sample.entry.path); break;
	case F_ACCEL:
		if (v->sample.entry.accel_minor < 0)
			goto na;
		snprintf(buf, len, "%d", v->sample.entry.accel_minor);
		break;
	case F_STATE: put_field(buf, len, state_of(v)); break;
	case F_SERIAL: snprintf(buf, len, "0x%08x", in->serial); break;
	case F_HW_VERSION:
		snprintf(buf, len, "%u.%u", in->hw_version >> 16, in->hw_version & 0xffff);
		break;
	case F_DRIVER_VERSION:
		snprintf(buf, len, "%d.%d.%d", in->driver_major, in->driver_minor,
			 in->driver_patch);
		break;
	case F_ABI_VERSION: snprintf(buf, len, "%u", in->abi_version); break;
	case F_GRID:
	case F_PES:
		if (!w)
			goto na;
		if (id == F_GRID)
			snprintf(buf, len, "%ux%u", w, h);
		else
			snprintf(buf, len, "%" PRIu64, (uint64_t)w * h);
		break;
	case F_CLOCK: snprintf(buf, len, "%u", in->clock_khz / 1000); break;
	case F_SRAM_TOTAL:
	case F_SRAM_USED:
	case F_SRAM_FREE:
	case F_SRAM_UTIL: {
		uint64_t total = sram_total(v), used = sram_used(v);

		if (!v->sample.have_stats && !v->have_info)
			goto na;
		if (id == F_SRAM_UTIL)
			snprintf(buf, len, "%.0f", total ? 100.0 * (double)used / (double)total : 0.0);
		else
			snprintf(buf, len, "%" PRIu64, mib(id == F_SRAM_TOTAL ? total :
						       id == F_SRAM_USED ? used :
						       total > used ? total - used : 0));
		break;
	}
	case F_QUEUES:
		if (!v->sample.have_stats && !v->have_info)
			goto na;
		snprintf(buf, len, "%u", v->sample.have_stats ? v->sample.stats.queues : in->num_queues);
		break;
	case F_QUEUE_DEPTH: snprintf(buf, len, "%u", in->queue_depth); break;
	case F_CONTEXTS:
	case F_JOBS_DONE:
	case F_FAULTS:
	case F_RESETS:
	case F_TIMEOUTS:
		if (!v->sample.have_stats)
			goto na;
		snprintf(buf, len, "%" PRIu64, id == F_CONTEXTS ? v->sample.stats.contexts :
			 id == F_JOBS_DONE ? v->sample.stats.jobs_done : id == F_FAULTS ? v->sample.stats.faults :
			 id == F_RESETS ? v->sample.stats.resets : v->sample.stats.timeouts);
		break;
	case F_JOBS_SUBMITTED:
		if (!v->sample.have_jobs_submitted)
			goto na;
		snprintf(buf, len, "%" PRIu64, v->sample.jobs_submitted);
		break;
	case F_JOBS_INFLIGHT:
		if (!v->sample.have_inflight)
			goto na;
		snprintf(buf, len, "%" PRIu64, v->sample.inflight);
		break;
	case F_CYCLES:
		if (!v->sample.have_cycles)
			goto na;
		snprintf(buf, len, "%" PRIu64, v->sample.cycles);
		break;
	}
	return 1;
na:
	snprintf(buf, len, "[N/A]");
	return 0;
}

struct csv_format {
	int header, units;
};

static int parse_format(const char *s, struct csv_format *f)
{
	const char *p = s;
	int csv = 0;

	f->header = 1;
	f->units = 1;
	for (;;) {
		size_t len = strcspn(p, ",");

		if (len == 3 && !strncmp(p, "csv", 3))
			csv = 1;
		else if (len == 8 && !strncmp(p, "noheader", 8))
			f->header = 0;
		else if (len == 7 && !strncmp(p, "nounits", 7))
			f->units = 0;
		else
			break;
		if (!p[len])
			return csv ? 0 : -1;
		p += len + 1;
	}
	return -1;
}

/* nvidia-smi's CSV: ", " between values, units in the header and after values. */
static void print_csv(const struct device_view *views, int n, const int *ids, int nids,
		      const struct csv_format *f, int header)
{
	char value[128];
	int i, k;

	if (header && f->header) {
		for (k = 0; k < nids; k++) {
			printf("%s%s", k ? ", " : "", fields[ids[k]].name);
			if (fields[ids[k]].unit)
				printf(" [%s]", fields[ids[k]].unit);
		}
		printf("\n");
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k < nids; k++) {
			int known = field_value(&views[i], ids[k], value, sizeof(value));

			printf("%s%s", k ? ", " : "", value);
			if (known && f->units && fields[ids[k]].unit)
				printf(" %s", fields[ids[k]].unit);
		}
		printf("\n");
	}
}

static void print_caps(uint32_t caps, FILE *f)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ WSE_FEATURE_F16, "f16" }, { WSE_FEATURE_BF16, "bf16" },
		{ WSE_FEATURE_Q8_0, "q8_0" }, { WSE_FEATURE_FUSED_LAYER, "fused-layer" },
		{ WSE_FEATURE_FAULT_INJECT, "fault-inject" }, { WSE_FEATURE_LARGE_MAPS, "large-maps" },
	};
	unsigned i;

	fprintf(f, "f32");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (caps & names[i].bit)
			fprintf(f, " %s", names[i].name);
}

static void print_detail(const struct device_view *v)
{
	const struct wse_info *in = &v->info;
	char a[32], b[32];
	uint64_t total = sram_total(v);

	printf("Device %d: %s", v->sample.entry.index, v->sample.entry.path);
	if (v->sample.entry.accel_minor >= 0)
		printf(" (/dev/accel/accel%d)", v->sample.entry.accel_minor);
	printf("\n");
	printf("    %-20s: %s\n", "PCI address", pci_of(v));
	printf("    %-20s: %s\n", "State", state_of(v));
	if (v->have_info) {
		printf("    %-20s: %s %d.%d.%d, ioctl ABI %u\n", "Driver", in->driver,
		       in->driver_major, in->driver_minor, in->driver_patch, in->abi_version);
		printf("    %-20s: %u.%u\n", "Hardware version", in->hw_version >> 16,
		       in->hw_version & 0xffff);
		printf("    %-20s: 0x%08x\n", "Serial", in->serial);
		printf("    %-20s: %u x %u (%" PRIu64 " PEs), %s SRAM each\n", "PE grid",
		       in->grid_width, in->grid_height,
		       (uint64_t)in->grid_width * in->grid_height,
		       human_bytes(in->pe_sram, a, sizeof(a)));
		printf("    %-20s: %.3f GHz (modelled)\n", "Clock", in->clock_khz / 1e6);
	}
	printf("    %-20s: %s used of %s (%.1f%%)\n", "SRAM",
	       human_bytes(sram_used(v), a, sizeof(a)), human_bytes(total, b, sizeof(b)),
	       total ? 100.0 * (double)sram_used(v) / (double)total : 0.0);
	if (v->have_info) {
		printf("    %-20s: %u, %u jobs deep each\n", "Queues", in->num_queues,
		       in->queue_depth);
		printf("    %-20s: %u in use, %u at most\n", "Contexts", v->sample.stats.contexts,
		       in->max_contexts);
		printf("    %-20s: %s, %u buffers per job\n", "Max op stream",
		       human_bytes(in->max_stream, a, sizeof(a)), in->max_bo_handles);
		printf("    %-20s: 0x%" PRIx64 " - 0x%" PRIx64 "\n", "Device address space",
		       in->dva_start, in->dva_end);
		printf("    %-20s: ", "Capabilities");
		print_caps(in->caps, stdout);
		printf("\n");
	} else if (v->open_error[0]) {
		printf("    %-20s: %s\n", "Device node", v->open_error);
	}
	if (v->sample.have_jobs_submitted)
		printf("    %-20s: %" PRIu64 "\n", "Jobs submitted", v->sample.jobs_submitted);
	if (v->sample.have_inflight)
		printf("    %-20s: %" PRIu64 "\n", "Jobs in flight", v->sample.inflight);
	if (v->sample.have_cycles)
		printf("    %-20s: %" PRIu64 "\n", "Modelled cycles", v->sample.cycles);
	if (v->sample.have_stats) {
		printf("    %-20s: %" PRIu64 "\n", "Jobs done", v->sample.stats.jobs_done);
		printf("    %-20s: %" PRIu64 "\n", "Faults", v->sample.stats.faults);
		printf("    %-20s: %" PRIu64 "\n", "Resets", v->sample.stats.resets);
		printf("    %-20s: %" PRIu64 "\n", "Job timeouts", v->sample.stats.timeouts);
	}
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_json(const struct device_view *views, int n)
{
	int i;

	printf("{\"devices\": [");
	for (i = 0; i < n; i++) {
		const struct device_view *v = &views[i];
		const struct wse_info *in = &v->info;

		printf("%s\n  {\"index\": %d, \"node\": ", i ? "," : "", v->sample.entry.index);
		json_string(v->sample.entry.path);
		printf(", \"accel_minor\": %d, \"pci\": ", v->sample.entry.accel_minor);
		json_string(pci_of(v));
		printf(", \"state\": ");
		json_string(state_of(v));
		printf(", \"sram_used\": %" PRIu64 ", \"sram_total\": %" PRIu64, sram_used(v),
		       sram_total(v));
		if (v->sample.have_stats)
			printf(", \"queues\": %u, \"contexts\": %u, \"jobs_done\": %" PRIu64
			       ", \"faults\": %" PRIu64 ", \"resets\": %" PRIu64
			       ", \"timeouts\": %" PRIu64, v->sample.stats.queues, v->sample.stats.contexts,
			       v->sample.stats.jobs_done, v->sample.stats.faults, v->sample.stats.resets,
			       v->sample.stats.timeouts);
		if (v->sample.have_jobs_submitted)
			printf(", \"jobs_submitted\": %" PRIu64, v->sample.jobs_submitted);
		if (v->sample.have_inflight)
			printf(", \"jobs_inflight\": %" PRIu64, v->sample.inflight);
		if (v->sample.have_cycles)
			printf(", \"cycles\": %" PRIu64, v->sample.cycles);
		if (v->have_info) {
			printf(", \"driver\": ");
			json_string(in->driver);
			printf(", \"abi_version\": %u, \"hw_version\": \"%u.%u\", \"serial\": %u"
			       ", \"grid_width\": %u, \"grid_height\": %u, \"pe_sram\": %u"
			       ", \"clock_khz\": %u, \"queue_depth\": %u, \"max_contexts\": %u"
			       ", \"max_stream\": %u, \"caps\": %u",
			       in->abi_version, in->hw_version >> 16, in->hw_version & 0xffff,
			       in->serial, in->grid_width, in->grid_height, in->pe_sram,
			       in->clock_khz, in->queue_depth, in->max_contexts, in->max_stream,
			       in->caps);
		} else {
			printf(", \"error\": ");
			json_string(v->open_error);
		}
		printf("}");
	}
	printf("\n]}\n");
}

static int no_devices(int want)
{
	if (!wse_module_loaded()) {
		fprintf(stderr, "wse-smi: the wse kernel module is not loaded (modprobe wse)\n");
		return EXIT_NO_MODULE;
	}
	if (want >= 0)
		fprintf(stderr, "wse-smi: no wse device %d (/dev/wse%d)\n", want, want);
	else
		fprintf(stderr, "wse-smi: the wse module is loaded but there is no wse device\n");
	return EXIT_NO_DEVICE;
}

/* ---- ps: the processes that hold a device, from DRM fdinfo ------------------- */

struct client {
	int pid;
	char command[64];
	int accel_minor;
	uint64_t client_id;
	uint64_t engine_ns, cycles, sram, host;	/* drm-engine-compute, ... */
};

struct client_list {
	struct client *items;
	size_t count, capacity;
	unsigned denied;		/* processes whose fds this user may not read */
};

/* "123 KiB" -> bytes; "45 ns" -> 45. */
static uint64_t fdinfo_value(const char *s)
{
	static const struct { const char *unit; uint64_t scale; } units[] = {
		{ "KiB", 1ull << 10 }, { "MiB", 1ull << 20 }, { "GiB", 1ull << 30 },
	};
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	unsigned i;

	while (*end == ' ')
		end++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strncmp(end, units[i].unit, 3))
			return v * units[i].scale;
	return v;
}

/* Reads /proc/PID/fdinfo/FD; 1 if it is a wse DRM file (c filled), else 0. */
static int read_fdinfo(int pid, const char *fd, struct client *c)
{
	char path[PATH_MAX], line[256];
	int is_wse = 0, have_id = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *value;

		if (!colon)
			continue;
		*colon = 0;
		value = colon + 1 + strspn(colon + 1, " \t");
		value[strcspn(value, "\n")] = 0;
		if (!strcmp(line, "drm-driver"))
			is_wse = !strcmp(value, "wse");
		else if (!strcmp(line, "drm-client-id"))
			have_id = sscanf(value, "%" SCNu64, &c->client_id) == 1;
		else if (!strcmp(line, "drm-engine-compute"))
			c->engine_ns = fdinfo_value(value);
		else if (!strcmp(line, "drm-cycles-compute"))
			c->cycles = fdinfo_value(value);
		else if (!strcmp(line, "drm-total-sram"))
			c->sram = fdinfo_value(value);
		else if (!strcmp(line, "drm-total-memory"))
			c->host = fdinfo_value(value);
	}
	fclose(f);
	return is_wse && have_id;
}

static int client_seen(const struct client_list *l, int pid, uint64_t id)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		if (l->items[i].pid == pid && l->items[i].client_id == id)
			return 1;
	return 0;
}

/* Kernel threads (and zombies) have an empty command line and no files. */
static int has_cmdline(int pid)
{
	char path[64], c;
	FILE *f;
	int yes;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	yes = fread(&c, 1, 1, f) == 1;
	fclose(f);
	return yes;
}

/* The open files of one process that are accel nodes of the wse driver. */
static int scan_process(int pid, struct client_list *l)
{
	char path[64], target[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d) {
		if ((errno == EACCES || errno == EPERM) && has_cmdline(pid))
			l->denied++;
		return 0;	/* gone meanwhile, or not readable */
	}
	while ((de = readdir(d))) {
		struct client c = { .pid = pid };
		const char *base;
		ssize_t n;
		char *end;
		long minor;

		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		base = strrchr(target, '/');
		base = base ? base + 1 : target;
		if (strncmp(base, "accel", 5))
			continue;
		minor = strtol(base + 5, &end, 10);
		if (end == base + 5 || *end || minor < 0 || minor > INT_MAX)
			continue;
		if (!read_fdinfo(pid, de->d_name, &c) || client_seen(l, pid, c.client_id))
			continue;
		c.accel_minor = (int)minor;
		if (l->count == l->capacity) {
			size_t cap = l->capacity ? 2 * l->capacity : 16;
			struct client *items = realloc(l->items, cap * sizeof(*items));

			if (!items) {
				closedir(d);
				return -ENOMEM;
			}
			l->items = items;
			l->capacity = cap;
		}
		l->items[l->count++] = c;
	}
	closedir(d);
	return 0;
}

static int scan_clients(struct client_list *l)
{
	struct dirent *de;
	DIR *proc = opendir("/proc");
	int err = 0;

	if (!proc)
		return -errno;
	while (!err && (de = readdir(proc))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (end == de->d_name || *end || pid <= 0 || pid > INT_MAX)
			continue;
		err = scan_process((int)pid, l);
	}
	closedir(proc);
	return err;
}

static void client_command(struct client *c)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", c->pid);
	snprintf(c->command, sizeof(c->command), "?");
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(c->command, sizeof(c->command), f))
		c->command[strcspn(c->command, "\n")] = 0;
	fclose(f);
}

static int compare_clients(const void *a, const void *b)
{
	const struct client *x = a, *y = b;

	if (x->accel_minor != y->accel_minor)
		return x->accel_minor < y->accel_minor ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->client_id < y->client_id ? -1 : x->client_id > y->client_id;
}

/* The device view of a client's accel minor, or NULL when not listed. */
static const struct device_view *view_of(const struct device_view *views, int n, int minor)
{
	int i;

	for (i = 0; i < n; i++)
		if (views[i].sample.entry.accel_minor == minor)
			return &views[i];
	return NULL;
}

static int show_ps(const struct device_view *views, int n, int json)
{
	struct client_list l = { 0 };
	char sram[32], host[32], busy[32];
	size_t i, shown = 0;
	int err;

	err = scan_clients(&l);
	if (err) {
		fprintf(stderr, "wse-smi: cannot read /proc: %s\n", strerror(-err));
		free(l.items);
		return EXIT_FAIL;
	}
	if (l.count)
		qsort(l.items, l.count, sizeof(*l.items), compare_clients);
	if (json)
		printf("{\"processes\": [");
	for (i = 0; i < l.count; i++) {
		struct client *c = &l.items[i];
		const struct device_view *v = view_of(views, n, c->accel_minor);

		if (!v)
			continue;	/* another device than -d asked for */
		client_command(c);
		if (json) {
			printf("%s\n  {\"device\": ", shown ? "," : "");
			json_string(node_name(v));
			printf(", \"index\": %d, \"accel_minor\": %d, \"pid\": %d, \"command\": ",
			       v->sample.entry.index, c->accel_minor, c->pid);
			json_string(c->command);
			printf(", \"client_id\": %" PRIu64 ", \"sram_bytes\": %" PRIu64
			       ", \"host_bytes\": %" PRIu64 ", \"engine_ns\": %" PRIu64
			       ", \"cycles\": %" PRIu64 "}", c->client_id, c->sram, c->host,
			       c->engine_ns, c->cycles);
		} else {
			if (!shown)
				printf("%-7s %7s %-16s %7s %11s %11s %12s %12s\n", "DEVICE", "PID",
				       "COMMAND", "CLIENT", "SRAM", "HOST MEM", "ENGINE TIME",
				       "CYCLES");
			printf("%-7s %7d %-16s %7" PRIu64 " %11s %11s %12s %12" PRIu64 "\n",
			       node_name(v), c->pid, c->command, c->client_id,
			       human_bytes(c->sram, sram, sizeof(sram)),
			       human_bytes(c->host, host, sizeof(host)),
			       human_ns(c->engine_ns, busy, sizeof(busy)), c->cycles);
		}
		shown++;
	}
	if (json)
		printf("%s]}\n", shown ? "\n" : "");
	else if (!shown)
		printf("No process holds a wse device open.\n");
	if (!json && l.denied)
		printf("note: the open files of %u processes of other users are not readable "
		       "(run as root to see them)\n", l.denied);
	free(l.items);
	return EXIT_OK;
}

/* ---- dmon ------------------------------------------------------------------- */

static const struct device_view *same_device(const struct device_view *views, int n,
					     const struct device_view *v)
{
	int i;

	for (i = 0; i < n; i++)
		if (views[i].sample.entry.index == v->sample.entry.index &&
		    views[i].sample.entry.accel_minor == v->sample.entry.accel_minor)
			return &views[i];
	return NULL;
}

/* "12.5" per second from two counter readings, or "-" when there are not two. */
static const char *rate(uint64_t now, uint64_t before, int known, double dt, double scale,
			char *buf, size_t len)
{
	if (!known || now < before || dt <= 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", (double)(now - before) / dt / scale);
	return buf;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/*
 * One line per device every interval, like nvidia-smi dmon: each line holds
 * the rates over the interval before it, so the first comes after one
 * interval. Faults and resets are the device's totals.
 */
static int cmd_dmon(int want, double interval, long count)
{
	static struct device_view prev[MAX_DEVICES], cur[MAX_DEVICES];
	struct timespec t0, t1;
	long line;
	int n, m, i;

	n = collect(prev, want, 0);
	if (n < 0) {
		fprintf(stderr, "wse-smi: cannot list devices: %s\n", wse_strerror(n));
		return EXIT_FAIL;
	}
	if (n == 0)
		return no_devices(want);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	catch_stop_signals();
	printf("# %4s %8s %8s %8s %10s %6s %7s %7s\n", "dev", "jobs", "kcycles", "inflight",
	       "sram", "sram", "faults", "resets");
	printf("# %4s %8s %8s %8s %10s %6s %7s %7s\n", "Idx", "1/s", "k/s", "jobs", "MiB", "%",
	       "total", "total");
	fflush(stdout);
	for (line = 0; !stop && (count <= 0 || line < count); line++) {
		double dt;

		sleep_seconds(interval);
		if (stop)
			break;
		m = collect(cur, want, 0);
		if (m < 0) {
			fprintf(stderr, "wse-smi: cannot list devices: %s\n", wse_strerror(m));
			return EXIT_FAIL;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		dt = seconds_between(&t0, &t1);
		for (i = 0; i < m; i++) {
			const struct device_view *v = &cur[i], *p = same_device(prev, n, v);
			char jobs[32], cycles[32], inflight[32], used[32], util[32], number[16];
			const char *idx = node_name(v);
			uint64_t total = sram_total(v);

			if (v->sample.entry.index >= 0) {
				snprintf(number, sizeof(number), "%d", v->sample.entry.index);
				idx = number;
			}
			rate(v->sample.stats.jobs_done, p ? p->sample.stats.jobs_done : 0,
			     p && p->sample.have_stats && v->sample.have_stats, dt, 1.0, jobs, sizeof(jobs));
			rate(v->sample.cycles, p ? p->sample.cycles : 0, p && p->sample.have_cycles && v->sample.have_cycles, dt,
			     1e3, cycles, sizeof(cycles));
			if (v->sample.have_inflight)
				snprintf(inflight, sizeof(inflight), "%" PRIu64, v->sample.inflight);
			else
				snprintf(inflight, sizeof(inflight), "-");
			snprintf(used, sizeof(used), "%.1f", (double)sram_used(v) / (1 << 20));
			snprintf(util, sizeof(util), "%.1f",
				 total ? 100.0 * (double)sram_used(v) / (double)total : 0.0);
			printf("  %4s %8s %8s %8s %10s %6s %7" PRIu64 " %7" PRIu64 "\n", idx, jobs,
			       cycles, inflight, used, util, v->sample.stats.faults, v->sample.stats.resets);
		}
		fflush(stdout);
		memcpy(prev, cur, (size_t)m * sizeof(cur[0]));
		n = m;
		t0 = t1;
	}
	return EXIT_OK;
}

/* ---- the views that -l repeats ------------------------------------------------- */

enum view { VIEW_TABLE, VIEW_DETAIL, VIEW_JSON, VIEW_LIST, VIEW_CSV, VIEW_PS };

struct args {
	long want, count, timeout_s, queue;
	double interval;		/* -l, --loop, --delay; 0: once */
	int detail, json, list, help_query;
	const char *fields;		/* --query FIELD,... */
	const char *format;		/* --format */
};

struct view_spec {
	enum view view;
	int want, json;
	int ids[F_COUNT];		/* VIEW_CSV */
	int nids;
	struct csv_format csv;
};

static int show(const struct view_spec *s, int first)
{
	static struct device_view views[MAX_DEVICES];
	int open_nodes = s->view == VIEW_TABLE || s->view == VIEW_DETAIL ||
			 s->view == VIEW_JSON || s->view == VIEW_LIST;
	int n, i;

	for (i = 0; s->view == VIEW_CSV && i < s->nids; i++)
		open_nodes |= fields[s->ids[i]].needs_node;
	n = collect(views, s->want, open_nodes);
	if (n < 0) {
		fprintf(stderr, "wse-smi: cannot list devices: %s\n", wse_strerror(n));
		return EXIT_FAIL;
	}
	if (n == 0)
		return no_devices(s->want);
	switch (s->view) {
	case VIEW_TABLE: print_table(views, n); break;
	case VIEW_LIST: print_list(views, n); break;
	case VIEW_JSON: print_json(views, n); break;
	case VIEW_CSV: print_csv(views, n, s->ids, s->nids, &s->csv, first); break;
	case VIEW_PS: return show_ps(views, n, s->json);
	case VIEW_DETAIL:
		for (i = 0; i < n; i++) {
			if (i)
				printf("\n");
			print_detail(&views[i]);
		}
		break;
	}
	return EXIT_OK;
}

/* Shows the view once, or every interval until SIGINT or count views. */
static int run_view(const struct view_spec *s, double interval, long count)
{
	int text = s->view == VIEW_TABLE || s->view == VIEW_DETAIL || s->view == VIEW_PS ||
		   s->view == VIEW_LIST;
	long i;
	int rc;

	if (interval <= 0)
		return show(s, 1);
	catch_stop_signals();
	for (i = 0; !stop; i++) {
		if (text) {
			char when[64];
			time_t now = time(NULL);
			struct tm tm;

			localtime_r(&now, &tm);
			strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
			printf("%s%s\n", i ? "\n" : "", when);
		}
		rc = show(s, i == 0);
		fflush(stdout);
		if (rc != EXIT_OK)
			return rc;
		if (count > 0 && i + 1 >= count)
			break;
		sleep_seconds(interval);
	}
	return EXIT_OK;
}

/* ---- events and reset ------------------------------------------------------------ */

/* /dev/wse<index> of an accel minor, or -1: events name devices by accel minor. */
static int index_of_accel(uint32_t minor)
{
	struct wse_device_entry e[MAX_DEVICES];
	int n = wse_enumerate(NULL, e, MAX_DEVICES), i;

	for (i = 0; i < n && i < MAX_DEVICES; i++)
		if (e[i].accel_minor >= 0 && (uint32_t)e[i].accel_minor == minor)
			return e[i].index;
	return -1;
}

static int cmd_events(int accel, long count, long timeout_s, int json)
{
	struct sigaction sa = { .sa_handler = on_signal };
	wse_telemetry *t;
	struct wse_event ev;
	char msg[256];
	long seen = 0;
	time_t end = timeout_s > 0 ? time(NULL) + timeout_s : 0;
	int err;

	err = wse_telemetry_open(&t, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "wse-smi: %s\n", msg);
		return exit_status_for(err);
	}
	err = wse_telemetry_subscribe(t);
	if (err) {
		fprintf(stderr, "wse-smi: %s\n", wse_telemetry_last_error(t));
		wse_telemetry_close(t);
		return exit_status_for(err);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "wse-smi: listening for wse events (Ctrl-C to stop)\n");
	if (!json)
		printf("%-24s %-6s %-13s %-13s %5s %-26s %7s\n", "TIME", "DEVICE", "PCI", "EVENT",
		       "QUEUE", "STATUS", "CONTEXT");
	fflush(stdout);
	while (!stop && (count <= 0 || seen < count)) {
		struct timespec ts;
		struct tm tm;
		char when[32], name[24];
		int index;

		if (end && time(NULL) >= end)
			break;
		err = wse_telemetry_next_event(t, &ev, 200);
		if (err == -ETIMEDOUT || err == -EINTR)
			continue;
		if (err) {
			fprintf(stderr, "wse-smi: %s\n", wse_telemetry_last_error(t));
			wse_telemetry_close(t);
			return EXIT_FAIL;
		}
		if (accel >= 0 && ev.dev_index != (uint32_t)accel)
			continue;
		seen++;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		index = index_of_accel(ev.dev_index);
		if (index >= 0)
			snprintf(name, sizeof(name), "wse%d", index);
		else
			snprintf(name, sizeof(name), "accel%u", ev.dev_index);
		if (json) {
			printf("{\"time\": \"%s.%03ld\", \"device\": \"%s\", \"accel_minor\": %u, "
			       "\"pci\": ", when, ts.tv_nsec / 1000000, name, ev.dev_index);
			json_string(ev.pci_name);
			printf(", \"event\": \"%s\", \"queue\": %u, \"status\": %u, "
			       "\"status_text\": \"%s\", \"context\": %u}\n", wse_event_str(ev.type),
			       ev.queue, ev.status, wse_status_str(ev.status), ev.context);
		} else {
			printf("%s.%03ld  %-6s %-13s %-13s %5u %-26s %7u\n", when,
			       ts.tv_nsec / 1000000, name,
			       ev.pci_name[0] ? ev.pci_name : "-", wse_event_str(ev.type), ev.queue,
			       wse_status_str(ev.status), ev.context);
		}
		fflush(stdout);
	}
	wse_telemetry_close(t);
	if (count > 0 && seen < count && !stop)
		return EXIT_FAIL;	/* --timeout expired first */
	return EXIT_OK;
}

static int cmd_reset(int want, long queue)
{
	wse_device *dev;
	char msg[256];
	int err;

	if (want < 0) {
		fprintf(stderr, "wse-smi: reset needs -d N\n");
		return EXIT_USAGE;
	}
	err = wse_open_index(want, &dev, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "wse-smi: %s\n", msg);
		return exit_status_for(err);
	}
	err = queue >= 0 ? wse_reset(dev, WSE_RESET_QUEUE, (uint32_t)queue)
			 : wse_reset(dev, WSE_RESET_DEVICE, 0);
	if (err) {
		fprintf(stderr, "wse-smi: %s\n", wse_last_error(dev));
		wse_close(dev);
		return err == -EPERM || err == -EACCES ? EXIT_PERM : EXIT_FAIL;
	}
	if (queue >= 0)
		printf("wse%d: queue %ld reset\n", want, queue);
	else
		printf("wse%d: device reset\n", want);
	wse_close(dev);
	return EXIT_OK;
}

static int parse_long(const char *s, long min, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > 1000000000L)
		return -1;
	*out = v;
	return 0;
}

/* Seconds between views: 0.1 to a day. */
static int parse_interval(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.1 && v <= 86400.0))
		return -1;
	*out = v;
	return 0;
}

static int is_command(const char *s)
{
	return !strcmp(s, "events") || !strcmp(s, "reset") || !strcmp(s, "dmon") ||
	       !strcmp(s, "ps");
}

/* Parses options up to the first non-option; -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, struct args *a)
{
	enum { OPT_FORMAT = 256, OPT_HELP_QUERY, OPT_DELAY, OPT_QUERY };
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "query", optional_argument, NULL, OPT_QUERY },
		{ "list", no_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "loop", required_argument, NULL, 'l' },
		{ "delay", required_argument, NULL, OPT_DELAY },
		{ "count", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "help-query", no_argument, NULL, OPT_HELP_QUERY },
		{ "timeout", required_argument, NULL, 't' },
		{ "queue", required_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;

	optind = 0;	/* glibc: full re-initialisation, so this can run twice */
	while ((c = getopt_long(argc, argv, "+d:qLjl:c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_long(optarg, 0, &a->want)) {
				fprintf(stderr, "wse-smi: -d needs a device number, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'q': a->detail = 1; break;
		case OPT_QUERY:
			/* --query=F,... or --query F,...: CSV fields; alone, like -q. */
			if (optarg)
				a->fields = optarg;
			else if (optind < argc && argv[optind][0] != '-' && !is_command(argv[optind]))
				a->fields = argv[optind++];
			else
				a->detail = 1;
			break;
		case 'L': a->list = 1; break;
		case 'j': a->json = 1; break;
		case 'l':
		case OPT_DELAY:
			if (parse_interval(optarg, &a->interval)) {
				fprintf(stderr, "wse-smi: %s needs seconds (0.1 to 86400), not '%s'\n",
					c == 'l' ? "-l" : "--delay", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'c':
			if (parse_long(optarg, 1, &a->count)) {
				fprintf(stderr, "wse-smi: --count needs a positive number\n");
				return EXIT_USAGE;
			}
			break;
		case OPT_FORMAT: a->format = optarg; break;
		case OPT_HELP_QUERY: a->help_query = 1; break;
		case 't':
			if (parse_long(optarg, 1, &a->timeout_s)) {
				fprintf(stderr, "wse-smi: --timeout needs a positive number of seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'Q':
			if (parse_long(optarg, 0, &a->queue)) {
				fprintf(stderr, "wse-smi: --queue needs a queue number\n");
				return EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("wse-smi (libwse API %d)\n", WSE_API_VERSION); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	return -1;
}

/* The accel minor of /dev/wse<index>, which events carry; -1 if unknown. */
static int accel_of(int index)
{
	struct wse_device_entry e[MAX_DEVICES];
	int n = wse_enumerate(NULL, e, MAX_DEVICES), i;

	for (i = 0; i < n && i < MAX_DEVICES; i++)
		if (e[i].index == index)
			return e[i].accel_minor;
	return -1;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "wse-smi: %s (see --help)\n", msg);
	return EXIT_USAGE;
}

/* The device views (no command, or ps): which one, checked for conflicts. */
static int views_main(const struct args *a, int ps)
{
	struct view_spec s = { .want = (int)a->want, .json = a->json };

	if (ps) {
		if (a->list || a->detail || a->fields || a->format)
			return usage_error("ps takes -d, --json, -l and --count");
		s.view = VIEW_PS;
	} else if (a->fields) {
		if (a->list || a->detail || a->json)
			return usage_error("--query FIELD,... does not combine with -q, -L or --json");
		s.nids = parse_fields(a->fields, s.ids, F_COUNT);
		if (s.nids < 0)
			return EXIT_USAGE;
		if (parse_format(a->format ? a->format : "csv", &s.csv))
			return usage_error("--format is csv, csv,noheader, csv,nounits or "
					   "csv,noheader,nounits");
		s.view = VIEW_CSV;
	} else if (a->format) {
		return usage_error("--format goes with --query FIELD,...");
	} else if (a->list) {
		if (a->detail || a->json)
			return usage_error("-L does not combine with -q or --json");
		s.view = VIEW_LIST;
	} else {
		s.view = a->json ? VIEW_JSON : a->detail ? VIEW_DETAIL : VIEW_TABLE;
	}
	if (a->count > 0 && a->interval <= 0)
		return usage_error("--count goes with -l SEC");
	return run_view(&s, a->interval, a->count);
}

int main(int argc, char **argv)
{
	struct args a = { .want = -1, .queue = -1 };
	const char *cmd = NULL;
	int rc;

	rc = parse_options(argc, argv, &a);
	if (rc >= 0)
		return rc;
	if (optind < argc) {
		/* Options may follow the command too: `wse-smi reset -d 1`. */
		int first = optind;

		cmd = argv[first];
		rc = parse_options(argc - first, argv + first, &a);
		if (rc >= 0)
			return rc;
		if (optind < argc - first) {
			fprintf(stderr, "wse-smi: unexpected argument '%s' (see --help)\n",
				argv[first + optind]);
			return EXIT_USAGE;
		}
	}
	if (a.help_query) {
		print_help_query();
		return EXIT_OK;
	}
	if (!cmd || !strcmp(cmd, "ps"))
		return views_main(&a, cmd != NULL);
	if (a.list || a.detail || a.fields || a.format)
		return usage_error("-L, -q and --query FIELD,... are for the device views");
	if (strcmp(cmd, "dmon") == 0) {
		if (a.json || a.timeout_s || a.queue >= 0)
			return usage_error("dmon takes -d, -l SEC (or --delay SEC) and -c COUNT");
		return cmd_dmon((int)a.want, a.interval > 0 ? a.interval : 1.0, a.count);
	}
	if (a.interval > 0)
		return usage_error("-l is for the device views, ps and dmon");
	if (strcmp(cmd, "events") == 0) {
		int accel = -1;

		if (a.want >= 0 && (accel = accel_of((int)a.want)) < 0)
			return no_devices((int)a.want);
		return cmd_events(accel, a.count, a.timeout_s, a.json);
	}
	if (strcmp(cmd, "reset") == 0)
		return cmd_reset((int)a.want, a.queue);
	fprintf(stderr, "wse-smi: unknown command '%s' (see --help)\n", cmd);
	return EXIT_USAGE;
}
