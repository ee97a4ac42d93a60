/* SPDX-License-Identifier: MIT */
/*
 * wse-exporter: the counters of every wse device as Prometheus metrics, served
 * over HTTP with libmicrohttpd (GET /metrics) or printed once on stdout
 * (--once). Everything comes from the driver's netlink family and sysfs, so
 * the exporter runs unprivileged and never opens a device node: it does not
 * show up as a client of the devices it watches. See docs/man/wse-exporter.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "libwse/wse.h"
#include "tools/exit_status.h"

#define MAX_DEVICES 64
#define DEFAULT_LISTEN "127.0.0.1:9464"
/* The Prometheus text exposition format. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A growing text buffer; failed stays set once an allocation failed. */
struct text {
	char *data;
	size_t len, cap;
	int failed;
};

__attribute__((format(printf, 2, 3)))
static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0,
			      fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if (t->data && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap : 4096;
		char *data;

		while (cap <= t->len + (size_t)n)
			cap *= 2;
		data = realloc(t->data, cap);
		if (!data) {
			t->failed = 1;
			return;
		}
		t->data = data;
		t->cap = cap;
	}
}

/* A label value with the escapes of the exposition format. */
static void text_label(struct text *t, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			text_printf(t, "\\%c", *s);
		else if (*s == '\n')
			text_printf(t, "\\n");
		else
			text_printf(t, "%c", *s);
	}
}

/* "wse0", or "accel3" for an accel node without a wseN link. */
static const char *device_label(const struct wse_device_sample *s)
{
	const char *base = strrchr(s->entry.path, '/');

	return base ? base + 1 : s->entry.path;
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void series_start(struct text *t, const char *name, const struct wse_device_sample *s)
{
	text_printf(t, "%s{device=\"", name);
	text_label(t, device_label(s));
	text_printf(t, "\"");
}

enum counter_id {
	C_SRAM_TOTAL, C_SRAM_USED, C_QUEUES, C_CONTEXTS, C_INFLIGHT, C_SUBMITTED, C_DONE,
	C_FAULTS, C_RESETS, C_TIMEOUTS, C_CYCLES,
};

static const struct metric {
	enum counter_id id;
	const char *name, *type, *help;
} metrics[] = {
	{ C_SRAM_TOTAL, "wse_sram_total_bytes", "gauge", "SRAM of the device." },
	{ C_SRAM_USED, "wse_sram_used_bytes", "gauge", "SRAM allocated by all users." },
	{ C_QUEUES, "wse_queues", "gauge", "Hardware queues of the device." },
	{ C_CONTEXTS, "wse_contexts", "gauge", "Contexts (device address spaces) in use." },
	{ C_INFLIGHT, "wse_jobs_inflight", "gauge",
	  "Jobs in the hardware rings of all queues (the queue depth now)." },
	{ C_SUBMITTED, "wse_jobs_submitted_total", "counter", "Jobs put into the hardware rings." },
	{ C_DONE, "wse_jobs_completed_total", "counter",
	  "Jobs that ended: completed, failed or aborted." },
	{ C_FAULTS, "wse_faults_total", "counter", "Device faults." },
	{ C_RESETS, "wse_resets_total", "counter", "Queue and device resets." },
	{ C_TIMEOUTS, "wse_job_timeouts_total", "counter", "Jobs that hung and were failed." },
	{ C_CYCLES, "wse_modelled_cycles_total", "counter",
	  "Modelled WSE-3 cycles of the finished jobs, as the device counts them." },
};

/* The value of one metric of a device; 0 when the driver does not say. */
static int metric_value(const struct wse_device_sample *s, enum counter_id id, uint64_t *v)
{
	const struct wse_dev_stats *st = &s->stats;

	switch (id) {
	case C_INFLIGHT: *v = s->inflight; return s->have_inflight;
	case C_SUBMITTED: *v = s->jobs_submitted; return s->have_jobs_submitted;
	case C_CYCLES: *v = s->cycles; return s->have_cycles;
	case C_SRAM_TOTAL: *v = st->sram_total; break;
	case C_SRAM_USED: *v = st->sram_used; break;
	case C_QUEUES: *v = st->queues; break;
	case C_CONTEXTS: *v = st->contexts; break;
	case C_DONE: *v = st->jobs_done; break;
	case C_FAULTS: *v = st->faults; break;
	case C_RESETS: *v = st->resets; break;
	case C_TIMEOUTS: *v = st->timeouts; break;
	}
	return s->have_stats;
}

/* The whole exposition; returns the device count or a negative errno. */
static int render_metrics(struct text *t)
{
	static const char *const states[] = { "ready", "resetting", "fatal", "gone" };
	static struct wse_device_sample devs[MAX_DEVICES];
	unsigned m, k;
	int n, i;

	n = wse_sample_devices(NULL, NULL, devs, MAX_DEVICES);
	if (n < 0)
		return n;
	if (n > MAX_DEVICES)
		n = MAX_DEVICES;
	family(t, "wse_devices", "gauge", "wse devices found.");
	text_printf(t, "wse_devices %d\n", n);

	family(t, "wse_device_info", "gauge",
	       "Identity of a wse device: accel node, PCI address and PE grid (value 1).");
	for (i = 0; i < n; i++) {
		series_start(t, "wse_device_info", &devs[i]);
		text_printf(t, ",accel=\"");
		if (devs[i].entry.accel_minor >= 0)
			text_printf(t, "accel%d", devs[i].entry.accel_minor);
		text_printf(t, "\",pci=\"");
		text_label(t, devs[i].stats.pci_name);
		text_printf(t, "\",pe_grid=\"");
		if (devs[i].stats.grid_width)
			text_printf(t, "%ux%u", devs[i].stats.grid_width, devs[i].stats.grid_height);
		text_printf(t, "\"} 1\n");
	}

	family(t, "wse_device_state", "gauge",
	       "1 for the state the device is in (ready, resetting, fatal, gone), else 0.");
	for (i = 0; i < n; i++) {
		if (!devs[i].have_stats)
			continue;
		for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			series_start(t, "wse_device_state", &devs[i]);
			text_printf(t, ",state=\"%s\"} %d\n", states[k], devs[i].stats.state == k);
		}
	}

	for (m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
		family(t, metrics[m].name, metrics[m].type, metrics[m].help);
		for (i = 0; i < n; i++) {
			uint64_t v = 0;

			if (!metric_value(&devs[i], metrics[m].id, &v))
				continue;
			series_start(t, metrics[m].name, &devs[i]);
			text_printf(t, "} %" PRIu64 "\n", v);
		}
	}
	return t->failed ? -ENOMEM : n;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *content_type, char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
				  const char *msg)
{
	char *body = strdup(msg);

	return body ? reply(conn, status, "text/plain; charset=utf-8", body, strlen(body))
		    : MHD_NO;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version, const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	struct text t = { 0 };
	int n;

	(void)cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (*upload_data_size)
		return reply_text(conn, MHD_HTTP_BAD_REQUEST, "no request body expected\n");
	if (!strcmp(url, "/"))
		return reply_text(conn, MHD_HTTP_OK,
				  "wse-exporter: the metrics are at /metrics\n");
	if (strcmp(url, "/metrics"))
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics\n");
	n = render_metrics(&t);
	if (n < 0) {
		free(t.data);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "cannot read the wse devices\n");
	}
	return reply(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, t.data, t.len);
}

/* "ADDR:PORT", "[ADDR6]:PORT" or ":PORT" (every IPv4 address). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128], *end;
	const char *colon;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = 0;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
		return -1;
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -1;
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (host[0] && inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -1;
		if (!host[0])
			a4->sin_addr.s_addr = htonl(INADDR_ANY);
		*len = sizeof(*a4);
	}
	return 0;
}

static int print_once(void)
{
	struct text t = { 0 };
	int n = render_metrics(&t);

	if (n < 0) {
		fprintf(stderr, "wse-exporter: cannot read the wse devices: %s\n",
			wse_strerror(n));
		free(t.data);
		return EXIT_FAIL;
	}
	fwrite(t.data, 1, t.len, stdout);
	free(t.data);
	if (fflush(stdout))
		return EXIT_FAIL;
	if (!wse_module_loaded()) {
		fprintf(stderr, "wse-exporter: the wse kernel module is not loaded\n");
		return EXIT_NO_MODULE;
	}
	if (n == 0) {
		fprintf(stderr, "wse-exporter: the wse module is loaded but there is no wse device\n");
		return EXIT_NO_DEVICE;
	}
	return EXIT_OK;
}

static int serve(const char *listen)
{
	struct sockaddr_storage addr;
	struct MHD_Daemon *d;
	sigset_t stop_signals;
	socklen_t len;
	int sig;

	if (parse_listen(listen, &addr, &len)) {
		fprintf(stderr, "wse-exporter: --listen needs ADDR:PORT, [ADDR6]:PORT or :PORT, "
			"not '%s'\n", listen);
		return EXIT_USAGE;
	}
	/* Blocked before the server thread starts, so only sigwait() sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			     (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
			     0, NULL, NULL, handle_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			     MHD_OPTION_CONNECTION_LIMIT, 64u,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "wse-exporter: cannot listen on %s: %s\n", listen,
			strerror(errno ? errno : EADDRINUSE));
		return EXIT_FAIL;
	}
	if (!wse_module_loaded())
		fprintf(stderr, "wse-exporter: warning: the wse kernel module is not loaded\n");
	fprintf(stderr, "wse-exporter: listening on http://%s/metrics\n", listen);
	sigwait(&stop_signals, &sig);
	MHD_stop_daemon(d);
	return EXIT_OK;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wse-exporter [--listen ADDR:PORT] [--once]\n"
		"\n"
		"Serves the counters of every wse device as Prometheus metrics at\n"
		"http://ADDR:PORT/metrics until SIGINT or SIGTERM.\n"
		"\n"
		"  -l, --listen ADDR:PORT  where to listen (default " DEFAULT_LISTEN
		"); [ADDR6]:PORT\n"
		"                          for IPv6, :PORT for every IPv4 address\n"
		"  -1, --once              print the metrics on stdout once and exit\n"
		"  -h, --help              this text\n"
		"\n"
		"Exit status: 0 success, 1 failure (cannot listen), 2 usage error; with --once\n"
		"also 3 the wse module is not loaded, 4 no wse device (the metrics are printed\n"
		"all the same).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "once", no_argument, NULL, '1' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *listen = DEFAULT_LISTEN;
	int once = 0, c;

	while ((c = getopt_long(argc, argv, "l:1h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case '1': once = 1; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wse-exporter: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	return once ? print_once() : serve(listen);
}
