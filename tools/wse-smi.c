/* SPDX-License-Identifier: MIT */
/*
 * wse-smi: the state of the wse devices, like nvidia-smi: a table of devices,
 * a detailed query, JSON, live events and device reset. See docs/man/wse-smi.1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libwse/wse.h"

/* Exit statuses (documented in --help and the man page). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* an operation failed */
	EXIT_USAGE = 2,
	EXIT_NO_MODULE = 3,	/* the wse kernel module is not loaded */
	EXIT_NO_DEVICE = 4,	/* no wse device, or not the one asked for */
	EXIT_PERM = 5,		/* permission denied */
};

#define MAX_DEVICES 64

struct device_view {
	struct wse_device_entry entry;
	struct wse_dev_stats stats;	/* netlink, or sysfs */
	int have_stats;
	struct wse_info info;		/* QUERY_INFO, when the node could be opened */
	int have_info;
	char open_error[256];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wse-smi [-d N] [-q] [--json]\n"
		"       wse-smi events [-d N] [--count N] [--timeout SEC] [--json]\n"
		"       wse-smi reset -d N [--queue Q]\n"
		"\n"
		"Shows the wse wafer-scale engine devices: a table by default.\n"
		"\n"
		"  -d, --device N   only device N (/dev/wseN)\n"
		"  -q, --query      full detail of each device\n"
		"  -j, --json       JSON instead of text\n"
		"  -h, --help       this text\n"
		"  -V, --version    library version\n"
		"\n"
		"Commands:\n"
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

static int exit_for(int err)
{
	switch (err) {
	case -EACCES:
	case -EPERM:
		return EXIT_PERM;
	case -ENOENT:
	case -ENODEV:
		return wse_module_loaded() ? EXIT_NO_DEVICE : EXIT_NO_MODULE;
	}
	return EXIT_FAIL;
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

static int collect(struct device_view *views, int want)
{
	struct wse_device_entry entries[MAX_DEVICES];
	struct wse_dev_stats stats[MAX_DEVICES];
	wse_telemetry *t = NULL;
	int n, nstats = -1, i, j, count = 0;
	char msg[256];

	n = wse_enumerate(NULL, entries, MAX_DEVICES);
	if (n < 0)
		return n;
	if (n > MAX_DEVICES)
		n = MAX_DEVICES;
	if (wse_telemetry_open(&t, msg, sizeof(msg)) == 0) {
		nstats = wse_telemetry_list(t, stats, MAX_DEVICES);
		wse_telemetry_close(t);
	}
	for (i = 0; i < n; i++) {
		struct device_view *v = &views[count];
		wse_device *dev;

		if (want >= 0 && entries[i].index != want)
			continue;
		memset(v, 0, sizeof(*v));
		v->entry = entries[i];
		if (wse_open(entries[i].path, &dev, v->open_error, sizeof(v->open_error)) == 0) {
			v->have_info = wse_query_info(dev, &v->info) == 0;
			wse_close(dev);
			if (v->entry.accel_minor < 0)
				v->entry.accel_minor = v->info.accel_minor;
		}
		for (j = 0; j < nstats && v->entry.accel_minor >= 0; j++) {
			if (stats[j].dev_index == (uint32_t)v->entry.accel_minor) {
				v->stats = stats[j];
				v->have_stats = 1;
			}
		}
		if (!v->have_stats && v->entry.accel_minor >= 0)
			v->have_stats = wse_sysfs_read(NULL, (uint32_t)v->entry.accel_minor,
						       &v->stats) == 0;
		count++;
	}
	return count;
}

static const char *pci_of(const struct device_view *v)
{
	if (v->have_stats && v->stats.pci_name[0])
		return v->stats.pci_name;
	if (v->have_info && v->info.pci_name[0])
		return v->info.pci_name;
	return "-";
}

static uint64_t sram_total(const struct device_view *v)
{
	return v->have_stats ? v->stats.sram_total : v->have_info ? v->info.sram_size : 0;
}

static uint64_t sram_used(const struct device_view *v)
{
	return v->have_stats ? v->stats.sram_used : v->have_info ? v->info.sram_used : 0;
}

static const char *state_of(const struct device_view *v)
{
	if (v->have_stats)
		return wse_state_str(v->stats.state);
	return v->have_info ? "ready" : "no access";
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
		uint32_t gw = v->have_info ? v->info.grid_width : v->stats.grid_width;
		uint32_t gh = v->have_info ? v->info.grid_height : v->stats.grid_height;

		if (gw)
			snprintf(grid, sizeof(grid), "%ux%u", gw, gh);
		else
			snprintf(grid, sizeof(grid), "-");
		snprintf(sram, sizeof(sram), "%s / %s", human_bytes(sram_used(v), a, sizeof(a)),
			 human_bytes(sram_total(v), b, sizeof(b)));
		snprintf(node, sizeof(node), "%s", v->entry.path + (strncmp(v->entry.path, "/dev/", 5)
								    ? 0 : 5));
		if (v->entry.index >= 0)
			printf("%-3d ", v->entry.index);
		else
			printf("%-3s ", "-");
		printf("%-13s %-11s %-9s %-9s %-21s %6u %4u %9s %7s %7s\n", pci_of(v), node,
		       state_of(v), grid, sram,
		       v->have_stats ? v->stats.queues : v->info.num_queues, v->stats.contexts,
		       human_count(v->stats.jobs_done, jobs, sizeof(jobs)),
		       human_count(v->stats.faults, faults, sizeof(faults)),
		       human_count(v->stats.resets, resets, sizeof(resets)));
	}
	for (i = 0; i < n; i++)
		if (!views[i].have_info && views[i].open_error[0])
			printf("note: %s\n", views[i].open_error);
}

static void print_caps(uint32_t caps, FILE *f)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ WSE_FEATURE_F16, "f16" }, { WSE_FEATURE_BF16, "bf16" },
		{ WSE_FEATURE_Q8_0, "q8_0" }, { WSE_FEATURE_FUSED_LAYER, "fused-layer" },
		{ WSE_FEATURE_FAULT_INJECT, "fault-inject" },
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

	printf("Device %d: %s", v->entry.index, v->entry.path);
	if (v->entry.accel_minor >= 0)
		printf(" (/dev/accel/accel%d)", v->entry.accel_minor);
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
		printf("    %-20s: %u in use, %u at most\n", "Contexts", v->stats.contexts,
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
	if (v->have_stats) {
		printf("    %-20s: %" PRIu64 "\n", "Jobs done", v->stats.jobs_done);
		printf("    %-20s: %" PRIu64 "\n", "Faults", v->stats.faults);
		printf("    %-20s: %" PRIu64 "\n", "Resets", v->stats.resets);
		printf("    %-20s: %" PRIu64 "\n", "Job timeouts", v->stats.timeouts);
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

		printf("%s\n  {\"index\": %d, \"node\": ", i ? "," : "", v->entry.index);
		json_string(v->entry.path);
		printf(", \"accel_minor\": %d, \"pci\": ", v->entry.accel_minor);
		json_string(pci_of(v));
		printf(", \"state\": ");
		json_string(state_of(v));
		printf(", \"sram_used\": %" PRIu64 ", \"sram_total\": %" PRIu64, sram_used(v),
		       sram_total(v));
		if (v->have_stats)
			printf(", \"queues\": %u, \"contexts\": %u, \"jobs_done\": %" PRIu64
			       ", \"faults\": %" PRIu64 ", \"resets\": %" PRIu64
			       ", \"timeouts\": %" PRIu64, v->stats.queues, v->stats.contexts,
			       v->stats.jobs_done, v->stats.faults, v->stats.resets,
			       v->stats.timeouts);
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

static int cmd_list(int want, int query, int json)
{
	static struct device_view views[MAX_DEVICES];
	int n, i;

	n = collect(views, want);
	if (n < 0) {
		fprintf(stderr, "wse-smi: cannot list devices: %s\n", wse_strerror(n));
		return EXIT_FAIL;
	}
	if (n == 0)
		return no_devices(want);
	if (json)
		print_json(views, n);
	else if (query)
		for (i = 0; i < n; i++) {
			if (i)
				printf("\n");
			print_detail(&views[i]);
		}
	else
		print_table(views, n);
	return EXIT_OK;
}

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
		return exit_for(err);
	}
	err = wse_telemetry_subscribe(t);
	if (err) {
		fprintf(stderr, "wse-smi: %s\n", wse_telemetry_last_error(t));
		wse_telemetry_close(t);
		return exit_for(err);
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
		return exit_for(err);
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

struct args {
	long want, count, timeout_s, queue;
	int query, json;
};

/* Parses options up to the first non-option; -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "query", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "queue", required_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;

	optind = 0;	/* glibc: full re-initialisation, so this can run twice */
	while ((c = getopt_long(argc, argv, "+d:qjhV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_long(optarg, 0, &a->want)) {
				fprintf(stderr, "wse-smi: -d needs a device number, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'q': a->query = 1; break;
		case 'j': a->json = 1; break;
		case 'c':
			if (parse_long(optarg, 1, &a->count)) {
				fprintf(stderr, "wse-smi: --count needs a positive number\n");
				return EXIT_USAGE;
			}
			break;
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
	if (!cmd)
		return cmd_list((int)a.want, a.query, a.json);
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
