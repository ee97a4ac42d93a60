/* SPDX-License-Identifier: MIT */
/*
 * wse-bench: measures a wse device against the host it runs on, in one run:
 * host<->SRAM DMA bandwidth beside host memcpy, submit-to-completion latency
 * of an empty job beside a plain ioctl, and op throughput (matmul, add,
 * rmsnorm) beside the same computation on the host CPU. Prints ratios, since
 * absolute figures depend on the machine. See docs/man/wse-bench.1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libwse/wse.h"
#include "tools/exit_status.h"

#define MIN_SIZE	(4u << 10)
#define DEFAULT_MAX	(256ull << 20)
#define MAX_SIZES	16

struct dma_row {
	uint64_t bytes;
	unsigned reps;
	double h2d_gbps, d2h_gbps, memcpy_gbps;
	double h2d_model_gbps, d2h_model_gbps;
};

struct lat {
	double p50_us, p99_us;
};

struct op_row {
	char name[32], shape[48];
	double flops;			/* per op; bytes for bandwidth-bound ops */
	int bandwidth;			/* 1: figures are GB/s, not GFLOP/s */
	unsigned reps;
	double device, modelled, host;
	double max_err;
};

struct bench {
	wse_device *dev;
	wse_ctx *ctx;
	struct wse_info info;
	int progress;
	uint64_t max_size;
	unsigned iterations;
	/* One host buffer and one SRAM allocation, both mapped, shared by every test. */
	wse_bo *bo;
	void *host;
	uint64_t host_dva;
	wse_sram *sram;
	uint64_t sram_dva;
	wse_stream *s;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress(struct bench *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void progress(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (!b->progress)
		return;
	fprintf(stderr, "\r\033[K[wse-bench] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static void progress_done(struct bench *b)
{
	if (b->progress)
		fprintf(stderr, "\r\033[K");
}

static const char *human_bytes(uint64_t v, char *buf, size_t len)
{
	if (v >= (1ull << 30) && v % (1ull << 30) == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", v >> 30);
	else if (v >= (1ull << 20) && v % (1ull << 20) == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", v >> 20);
	else if (v >= 1024 && v % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 " KiB", v >> 10);
	else
		snprintf(buf, len, "%" PRIu64 " B", v);
	return buf;
}

static int fail(struct bench *b, const char *what)
{
	progress_done(b);
	fprintf(stderr, "wse-bench: %s: %s\n", what, wse_last_error(b->dev));
	return EXIT_FAIL;
}

/* Submits the stream and waits; returns 0 and the job's cycles. */
static int run(struct bench *b, uint64_t *cycles)
{
	struct wse_job_result r;
	uint64_t job;
	int err;

	err = wse_submit(b->ctx, b->s, WSE_QUEUE_DEFAULT, &job);
	if (!err)
		err = wse_wait(b->dev, job, 60ull * 1000000000ull, &r);
	if (!err && cycles)
		*cycles = r.cycles;
	return err;
}

static double clock_hz(const struct bench *b)
{
	return b->info.clock_khz ? b->info.clock_khz * 1e3 : 1.1e9;
}

/* ---- DMA ------------------------------------------------------------------ */

static int copy_rate(struct bench *b, uint64_t dst, uint64_t src, uint64_t bytes, unsigned reps,
		     double *gbps, double *model_gbps)
{
	uint64_t cycles, total_cycles = 0;
	double t0, t;
	unsigned i;

	wse_stream_reset(b->s);
	if (wse_stream_copy(b->s, dst, src, bytes)) {
		fprintf(stderr, "wse-bench: %s\n", wse_stream_last_error(b->s));
		return -EINVAL;
	}
	if (run(b, NULL))	/* warm-up: first touch of pages on both sides */
		return -EIO;
	t0 = now();
	for (i = 0; i < reps; i++) {
		if (run(b, &cycles))
			return -EIO;
		total_cycles += cycles;
	}
	t = now() - t0;
	*gbps = (double)bytes * reps / t / 1e9;
	*model_gbps = total_cycles ? (double)bytes * reps / ((double)total_cycles / clock_hz(b)) / 1e9
				   : 0.0;
	return 0;
}

static double memcpy_rate(void *dst, const void *src, uint64_t bytes, unsigned reps)
{
	double t0, t;
	unsigned i;

	memcpy(dst, src, bytes);
	t0 = now();
	for (i = 0; i < reps; i++) {
		memcpy(dst, src, bytes);
		/* Keeps the compiler from merging the copies. */
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	t = now() - t0;
	return (double)bytes * reps / t / 1e9;
}

static int bench_dma(struct bench *b, struct dma_row *rows, int *nrows)
{
	uint8_t *src = malloc(b->max_size), *dst = malloc(b->max_size);
	uint64_t size;
	int n = 0, err = 0;
	char h[32];

	if (!src || !dst) {
		free(src);
		free(dst);
		fprintf(stderr, "wse-bench: cannot allocate %s twice for memcpy\n",
			human_bytes(b->max_size, h, sizeof(h)));
		return EXIT_FAIL;
	}
	memset(src, 0x5a, b->max_size);
	memset(dst, 0, b->max_size);
	memset(b->host, 0xa5, b->max_size);
	for (size = MIN_SIZE; size <= b->max_size && n < MAX_SIZES; size *= 4) {
		struct dma_row *r = &rows[n];
		uint64_t budget = b->max_size < (64ull << 20) ? b->max_size : (64ull << 20);
		unsigned reps = (unsigned)(budget / size);

		if (reps < 3)
			reps = 3;
		if (reps > 200)
			reps = 200;
		r->bytes = size;
		r->reps = reps;
		progress(b, "DMA %s host->SRAM (%d of %d sizes)", human_bytes(size, h, sizeof(h)), n + 1,
			 (int)(log(b->max_size / MIN_SIZE) / log(4)) + 1);
		err = copy_rate(b, b->sram_dva, b->host_dva, size, reps, &r->h2d_gbps,
				&r->h2d_model_gbps);
		if (err)
			break;
		progress(b, "DMA %s SRAM->host", h);
		err = copy_rate(b, b->host_dva, b->sram_dva, size, reps, &r->d2h_gbps,
				&r->d2h_model_gbps);
		if (err)
			break;
		progress(b, "memcpy %s", h);
		r->memcpy_gbps = memcpy_rate(dst, src, size, reps);
		n++;
	}
	free(src);
	free(dst);
	*nrows = n;
	return err ? fail(b, "DMA copy") : 0;
}

/* ---- latency ---------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct lat percentiles(double *v, unsigned n)
{
	struct lat l;

	qsort(v, n, sizeof(*v), cmp_double);
	l.p50_us = v[n / 2] * 1e6;
	l.p99_us = v[(size_t)((n - 1) * 0.99)] * 1e6;
	return l;
}

static int bench_latency(struct bench *b, struct lat *nop, struct lat *stream, struct lat *ioctl_)
{
	double *t = calloc(b->iterations, sizeof(*t)), t0;
	struct wse_job_result r;
	uint64_t job = 0;
	unsigned i;

	if (!t)
		return EXIT_FAIL;
	for (i = 0; i < b->iterations; i++) {
		if (i % 256 == 0)
			progress(b, "latency: empty job %u/%u", i, b->iterations);
		t0 = now();
		if (wse_submit_nop(b->ctx, WSE_QUEUE_DEFAULT, &job) ||
		    wse_wait(b->dev, job, 10ull * 1000000000ull, NULL)) {
			free(t);
			return fail(b, "empty job");
		}
		t[i] = now() - t0;
	}
	*nop = percentiles(t, b->iterations);

	wse_stream_reset(b->s);
	wse_stream_nop(b->s);
	for (i = 0; i < b->iterations; i++) {
		if (i % 256 == 0)
			progress(b, "latency: one-op stream %u/%u", i, b->iterations);
		t0 = now();
		if (run(b, NULL)) {
			free(t);
			return fail(b, "one-op stream job");
		}
		t[i] = now() - t0;
	}
	*stream = percentiles(t, b->iterations);

	/*
	 * The cheapest round trip into the driver: the status of a finished job.
	 * The driver keeps a file's results only for a window of its newest jobs
	 * (docs/ioctl-abi.md), and the stream loop above has just submitted
	 * --iterations more, so the last empty job may be gone: ask about a fresh
	 * one. Nothing is submitted during the loop, so it stays in the window.
	 */
	if (wse_submit_nop(b->ctx, WSE_QUEUE_DEFAULT, &job) ||
	    wse_wait(b->dev, job, 10ull * 1000000000ull, NULL)) {
		free(t);
		return fail(b, "empty job");
	}
	for (i = 0; i < b->iterations; i++) {
		t0 = now();
		if (wse_job_status(b->dev, job, &r)) {
			free(t);
			return fail(b, "JOB_STATUS ioctl");
		}
		t[i] = now() - t0;
	}
	*ioctl_ = percentiles(t, b->iterations);
	free(t);
	return 0;
}

/* ---- op throughput ----------------------------------------------------------------- */

static void host_matmul(const float *w, const float *x, float *y, unsigned rows, unsigned cols,
			unsigned batch)
{
	for (unsigned n = 0; n < batch; n++)
		for (unsigned m = 0; m < rows; m++) {
			const float *wr = w + (size_t)m * cols, *xr = x + (size_t)n * cols;
			float acc = 0.0f;

			for (unsigned k = 0; k < cols; k++)
				acc += wr[k] * xr[k];
			y[(size_t)n * rows + m] = acc;
		}
}

static void host_rmsnorm(const float *x, const float *w, float *y, unsigned dim, unsigned rows)
{
	for (unsigned r = 0; r < rows; r++) {
		const float *xr = x + (size_t)r * dim;
		float ss = 0.0f, scale;

		for (unsigned i = 0; i < dim; i++)
			ss += xr[i] * xr[i];
		scale = 1.0f / sqrtf(ss / (float)dim + 1e-5f);
		for (unsigned i = 0; i < dim; i++)
			y[(size_t)r * dim + i] = xr[i] * scale * w[i];
	}
}

static void host_add(const float *a, const float *c, float *out, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		out[i] = a[i] + c[i];
}

enum op_kind { OP_MATMUL, OP_ADD, OP_RMSNORM };

struct op_case {
	enum op_kind kind;
	unsigned a, c, d;	/* matmul: rows, cols, batch; add: n; rmsnorm: dim, rows */
};

/*
 * Layout in the host buffer and SRAM (same offsets): input 0 at 0, input 1
 * at in1, output at out. Inputs are copied to SRAM once, the op runs reps
 * times in SRAM, the output is copied back and checked against the host's.
 */
static int bench_op(struct bench *b, const struct op_case *oc, struct op_row *row)
{
	uint64_t n0, n1, nout, in1, out, cycles = 0, bytes;
	float *h = b->host, *ref;
	double t0, t, ops_per_job;
	unsigned reps, per_job, i, j;
	struct wse_matmul mm = { 0 };

	switch (oc->kind) {
	case OP_MATMUL:
		n0 = (uint64_t)oc->a * oc->c;		/* w */
		n1 = (uint64_t)oc->d * oc->c;		/* x */
		nout = (uint64_t)oc->d * oc->a;		/* y */
		row->flops = 2.0 * oc->a * oc->c * oc->d;
		snprintf(row->name, sizeof(row->name), "matmul-f32");
		snprintf(row->shape, sizeof(row->shape), "%ux%u x batch %u", oc->a, oc->c, oc->d);
		break;
	case OP_ADD:
		n0 = n1 = nout = oc->a;
		row->flops = 12.0 * oc->a;	/* bytes moved */
		row->bandwidth = 1;
		snprintf(row->name, sizeof(row->name), "add");
		snprintf(row->shape, sizeof(row->shape), "%u", oc->a);
		break;
	default:
		n0 = (uint64_t)oc->a * oc->c;		/* x */
		n1 = oc->a;				/* w */
		nout = n0;
		row->flops = 8.0 * oc->a * oc->c + 4.0 * oc->a;
		row->bandwidth = 1;
		snprintf(row->name, sizeof(row->name), "rmsnorm");
		snprintf(row->shape, sizeof(row->shape), "%u x %u rows", oc->a, oc->c);
		break;
	}
	in1 = (n0 * 4 + 4095) & ~4095ull;
	out = (in1 + n1 * 4 + 4095) & ~4095ull;
	bytes = out + nout * 4;
	if (bytes > b->max_size) {
		row->reps = 0;
		return 0;	/* does not fit in the buffers: skipped */
	}
	ref = malloc(nout * sizeof(*ref));
	if (!ref) {
		fprintf(stderr, "wse-bench: out of memory\n");
		return EXIT_FAIL;
	}
	srand(1);
	for (i = 0; i < n0; i++)
		h[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
	for (i = 0; i < n1; i++)
		h[in1 / 4 + i] = (float)(rand() % 2001 - 1000) / 1000.0f;

	/* Upload the inputs. */
	wse_stream_reset(b->s);
	if (wse_stream_copy(b->s, b->sram_dva, b->host_dva, out) || run(b, NULL)) {
		free(ref);
		return fail(b, "uploading op inputs");
	}

	/* A stream of several ops per job, so that the op and not the submit is timed. */
	per_job = (unsigned)(2e8 / row->flops);
	if (per_job < 1)
		per_job = 1;
	if (per_job > 64)
		per_job = 64;
	wse_stream_reset(b->s);
	for (j = 0; j < per_job; j++) {
		int err;

		switch (oc->kind) {
		case OP_MATMUL:
			mm.w = b->sram_dva;
			mm.x = b->sram_dva + in1;
			mm.y = b->sram_dva + out;
			mm.rows = oc->a;
			mm.cols = oc->c;
			mm.batch = oc->d;
			mm.wtype = WSE_DT_F32;
			err = wse_stream_matmul(b->s, &mm);
			break;
		case OP_ADD:
			err = wse_stream_add(b->s, b->sram_dva, b->sram_dva + in1, b->sram_dva + out,
					     oc->a);
			break;
		default:
			err = wse_stream_rmsnorm(b->s, b->sram_dva, b->sram_dva + in1,
						 b->sram_dva + out, oc->a, oc->c, 1e-5f);
			break;
		}
		if (err) {
			fprintf(stderr, "wse-bench: %s\n", wse_stream_last_error(b->s));
			free(ref);
			return EXIT_FAIL;
		}
	}
	reps = 3;
	if (run(b, NULL)) {
		free(ref);
		return fail(b, row->name);
	}
	t0 = now();
	for (i = 0; i < reps; i++) {
		uint64_t c;

		progress(b, "op %s %s (%u/%u)", row->name, row->shape, i + 1, reps);
		if (run(b, &c)) {
			free(ref);
			return fail(b, row->name);
		}
		cycles += c;
	}
	t = now() - t0;
	ops_per_job = per_job;
	row->reps = reps * per_job;
	row->device = row->flops * ops_per_job * reps / t / 1e9;
	row->modelled = cycles ? row->flops * ops_per_job * reps / ((double)cycles / clock_hz(b)) / 1e9
			       : 0.0;

	/* Download the result next to the inputs' end, then compute the reference. */
	wse_stream_reset(b->s);
	if (wse_stream_copy(b->s, b->host_dva + out, b->sram_dva + out, nout * 4) || run(b, NULL)) {
		free(ref);
		return fail(b, "downloading the op result");
	}
	t0 = now();
	for (i = 0; i < reps; i++) {
		switch (oc->kind) {
		case OP_MATMUL:
			host_matmul(h, h + in1 / 4, ref, oc->a, oc->c, oc->d);
			break;
		case OP_ADD:
			host_add(h, h + in1 / 4, ref, oc->a);
			break;
		default:
			host_rmsnorm(h, h + in1 / 4, ref, oc->a, oc->c);
			break;
		}
		__asm__ volatile("" : : "r"(ref) : "memory");
	}
	t = now() - t0;
	row->host = row->flops * reps / t / 1e9;
	row->max_err = 0.0;
	for (i = 0; i < nout; i++) {
		double e = fabs((double)h[out / 4 + i] - (double)ref[i]);

		if (!(e <= row->max_err))	/* NaN counts as the largest error */
			row->max_err = isnan(e) ? INFINITY : e;
	}
	free(ref);
	return 0;
}

/* ---- output --------------------------------------------------------------------------- */

static void print_text(const struct bench *b, const struct dma_row *dma, int ndma,
		       const struct lat *nop, const struct lat *stream, const struct lat *io,
		       const struct op_row *ops, int nops)
{
	char h[32];
	int i;

	printf("wse-bench on %s (%s), PE grid %ux%u, %.2f GHz modelled clock\n\n",
	       b->info.pci_name[0] ? b->info.pci_name : "wse", b->info.driver,
	       b->info.grid_width, b->info.grid_height, clock_hz(b) / 1e9);
	printf("DMA bandwidth (one COPY job per transfer; GB/s = 1e9 bytes/s)\n");
	printf("%10s %6s %10s %10s %10s %9s %12s\n", "size", "reps", "host->SRAM", "SRAM->host",
	       "memcpy", "DMA/memcpy", "modelled h2d");
	for (i = 0; i < ndma; i++)
		printf("%10s %6u %10.2f %10.2f %10.2f %9.2f %12.2f\n",
		       human_bytes(dma[i].bytes, h, sizeof(h)), dma[i].reps, dma[i].h2d_gbps,
		       dma[i].d2h_gbps, dma[i].memcpy_gbps,
		       dma[i].memcpy_gbps > 0 ? dma[i].h2d_gbps / dma[i].memcpy_gbps : 0.0,
		       dma[i].h2d_model_gbps);
	printf("\nSubmit-to-completion latency (%u samples, microseconds)\n", b->iterations);
	printf("%-28s %10s %10s\n", "", "p50", "p99");
	printf("%-28s %10.1f %10.1f\n", "empty job (NOP command)", nop->p50_us, nop->p99_us);
	printf("%-28s %10.1f %10.1f\n", "one-op stream job", stream->p50_us, stream->p99_us);
	printf("%-28s %10.1f %10.1f\n", "no-op ioctl (JOB_STATUS)", io->p50_us, io->p99_us);
	printf("empty job / ioctl (p50): %.1fx\n", io->p50_us > 0 ? nop->p50_us / io->p50_us : 0.0);
	printf("\nOp throughput (device wall clock vs the host CPU, single thread)\n");
	printf("%-11s %-24s %7s %10s %10s %10s %8s %9s\n", "op", "shape", "ops", "device",
	       "modelled", "host", "dev/host", "max err");
	for (i = 0; i < nops; i++) {
		const char *unit = ops[i].bandwidth ? "GB/s" : "GFLOP/s";

		if (!ops[i].reps) {
			printf("%-11s %-24s (skipped: larger than --max-size allows)\n", ops[i].name,
			       ops[i].shape);
			continue;
		}
		printf("%-11s %-24s %7u %10.2f %10.1f %10.2f %8.2f %9.2g  %s\n", ops[i].name,
		       ops[i].shape, ops[i].reps, ops[i].device, ops[i].modelled, ops[i].host,
		       ops[i].host > 0 ? ops[i].device / ops[i].host : 0.0, ops[i].max_err, unit);
	}
}

static void print_json(const struct bench *b, const struct dma_row *dma, int ndma,
		       const struct lat *nop, const struct lat *stream, const struct lat *io,
		       const struct op_row *ops, int nops)
{
	int i;

	printf("{\n  \"device\": {\"pci\": \"%s\", \"driver\": \"%s\", \"grid_width\": %u, "
	       "\"grid_height\": %u, \"clock_khz\": %u, \"sram_size\": %" PRIu64 "},\n",
	       b->info.pci_name, b->info.driver, b->info.grid_width, b->info.grid_height,
	       b->info.clock_khz, b->info.sram_size);
	printf("  \"dma\": [");
	for (i = 0; i < ndma; i++)
		printf("%s\n    {\"bytes\": %" PRIu64 ", \"reps\": %u, \"h2d_gbps\": %.4f, "
		       "\"d2h_gbps\": %.4f, \"memcpy_gbps\": %.4f, \"h2d_vs_memcpy\": %.4f, "
		       "\"h2d_modelled_gbps\": %.4f, \"d2h_modelled_gbps\": %.4f}",
		       i ? "," : "", dma[i].bytes, dma[i].reps, dma[i].h2d_gbps, dma[i].d2h_gbps,
		       dma[i].memcpy_gbps,
		       dma[i].memcpy_gbps > 0 ? dma[i].h2d_gbps / dma[i].memcpy_gbps : 0.0,
		       dma[i].h2d_model_gbps, dma[i].d2h_model_gbps);
	printf("\n  ],\n  \"latency_us\": {\"samples\": %u, "
	       "\"empty_job\": {\"p50\": %.3f, \"p99\": %.3f}, "
	       "\"one_op_stream_job\": {\"p50\": %.3f, \"p99\": %.3f}, "
	       "\"noop_ioctl\": {\"p50\": %.3f, \"p99\": %.3f}, \"empty_job_vs_ioctl_p50\": %.3f},\n",
	       b->iterations, nop->p50_us, nop->p99_us, stream->p50_us, stream->p99_us,
	       io->p50_us, io->p99_us, io->p50_us > 0 ? nop->p50_us / io->p50_us : 0.0);
	printf("  \"ops\": [");
	for (i = 0; i < nops; i++) {
		printf("%s\n    {\"op\": \"%s\", \"shape\": \"%s\", \"unit\": \"%s\", \"ops\": %u",
		       i ? "," : "", ops[i].name, ops[i].shape,
		       ops[i].bandwidth ? "GB/s" : "GFLOP/s", ops[i].reps);
		if (ops[i].reps)
			printf(", \"device\": %.4f, \"modelled\": %.4f, \"host\": %.4f, "
			       "\"device_vs_host\": %.4f, \"max_abs_error\": %.6g",
			       ops[i].device, ops[i].modelled, ops[i].host,
			       ops[i].host > 0 ? ops[i].device / ops[i].host : 0.0,
			       isfinite(ops[i].max_err) ? ops[i].max_err : -1.0);
		printf("}");
	}
	printf("\n  ]\n}\n");
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wse-bench [-d N] [--json] [--max-size BYTES] [--iterations N] [--quick]\n"
		"\n"
		"Measures a wse device against this host in one run:\n"
		"  - DMA bandwidth host<->SRAM for 4 KiB .. --max-size, beside host memcpy;\n"
		"  - submit-to-completion latency p50/p99 of an empty job, beside a no-op ioctl;\n"
		"  - op throughput (matmul GFLOP/s, add and rmsnorm GB/s), beside the host CPU.\n"
		"\n"
		"  -d, --device N       use /dev/wseN (default: $WSE_DEVICE or /dev/wse0)\n"
		"  -j, --json           JSON on stdout\n"
		"  -m, --max-size SIZE  largest DMA transfer, e.g. 64M (default 256M, min 4K)\n"
		"  -n, --iterations N   latency samples (default 2000)\n"
		"  -q, --quick          --max-size 4M --iterations 200\n"
		"      --progress       force the progress line (default: when stderr is a tty)\n"
		"      --no-progress    never print it\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 success, 1 a measurement failed, 2 usage error, 3 the wse module\n"
		"is not loaded, 4 no such wse device, 5 permission denied.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || v < MIN_SIZE || v > (16ull << 30))
		return -1;
	*out = v;
	return 0;
}

static int setup(struct bench *b)
{
	if (wse_ctx_create(b->dev, &b->ctx))
		return fail(b, "creating a context");
	if (wse_bo_create(b->dev, b->max_size, &b->bo) || wse_bo_map(b->bo, &b->host) ||
	    wse_map_bo(b->ctx, b->bo, 0, 0, WSE_ACCESS_RW, &b->host_dva))
		return fail(b, "host buffer");
	if (wse_sram_alloc(b->dev, b->max_size, 0, &b->sram) ||
	    wse_map_sram(b->ctx, b->sram, 0, 0, WSE_ACCESS_RW, &b->sram_dva))
		return fail(b, "SRAM");
	if (wse_stream_create_for(b->dev, &b->s))
		return fail(b, "stream");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "quick", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "no-progress", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct op_case cases[] = {
		{ OP_MATMUL, 1024, 1024, 1 },
		{ OP_MATMUL, 1024, 1024, 32 },
		{ OP_ADD, 1u << 20, 0, 0 },
		{ OP_RMSNORM, 4096, 64, 0 },
	};
	struct bench b = { .max_size = DEFAULT_MAX, .iterations = 2000 };
	struct dma_row dma[MAX_SIZES];
	struct op_row ops[sizeof(cases) / sizeof(cases[0])] = { 0 };
	struct lat nop = { 0 }, stream = { 0 }, io = { 0 };
	int json = 0, ndma = 0, rc, c, force_progress = -1;
	long device = -1;
	char msg[256], *end;
	unsigned i;

	while ((c = getopt_long(argc, argv, "d:jm:n:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			device = strtol(optarg, &end, 10);
			if (*end || end == optarg || device < 0 || device > 1000000) {
				fprintf(stderr, "wse-bench: -d needs a device number, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': json = 1; break;
		case 'm':
			if (parse_size(optarg, &b.max_size)) {
				fprintf(stderr, "wse-bench: --max-size needs a size from 4K to 16G, "
					"not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n': {
			long n = strtol(optarg, &end, 10);

			if (*end || end == optarg || n < 10 || n > 10000000) {
				fprintf(stderr, "wse-bench: --iterations needs a number from 10 up\n");
				return EXIT_USAGE;
			}
			b.iterations = (unsigned)n;
			break;
		}
		case 'q':
			b.max_size = 4u << 20;
			b.iterations = 200;
			break;
		case 'P': force_progress = 1; break;
		case 'N': force_progress = 0; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wse-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
		return EXIT_USAGE;
	}
	/* Smaller --max-size: smaller square matrices, so that every op still runs. */
	while ((uint64_t)cases[0].a * cases[0].c * 4 > b.max_size / 2 && cases[0].a > 32) {
		cases[0].a /= 2, cases[0].c /= 2;
		cases[1].a /= 2, cases[1].c /= 2;
	}
	while ((uint64_t)cases[2].a * 16 > b.max_size && cases[2].a > 1024)
		cases[2].a /= 2;
	while ((uint64_t)cases[3].a * cases[3].c * 12 > b.max_size && cases[3].c > 1)
		cases[3].c /= 2;
	b.progress = force_progress >= 0 ? force_progress : isatty(STDERR_FILENO);

	rc = device >= 0 ? wse_open_index((int)device, &b.dev, msg, sizeof(msg))
			 : wse_open(NULL, &b.dev, msg, sizeof(msg));
	if (rc) {
		fprintf(stderr, "wse-bench: %s\n", msg);
		return exit_status_for(rc);
	}
	if (wse_query_info(b.dev, &b.info)) {
		rc = fail(&b, "query");
		goto out;
	}
	if (b.info.sram_size - b.info.sram_used < b.max_size) {
		char h[32];

		fprintf(stderr, "wse-bench: --max-size %s does not fit in the free SRAM\n",
			human_bytes(b.max_size, h, sizeof(h)));
		rc = EXIT_FAIL;
		goto out;
	}
	rc = setup(&b);
	if (!rc)
		rc = bench_dma(&b, dma, &ndma);
	if (!rc)
		rc = bench_latency(&b, &nop, &stream, &io);
	for (i = 0; !rc && i < sizeof(cases) / sizeof(cases[0]); i++)
		rc = bench_op(&b, &cases[i], &ops[i]);
	progress_done(&b);
	if (!rc) {
		if (json)
			print_json(&b, dma, ndma, &nop, &stream, &io, ops, (int)i);
		else
			print_text(&b, dma, ndma, &nop, &stream, &io, ops, (int)i);
	}
out:
	wse_stream_destroy(b.s);
	wse_close(b.dev);	/* frees the context, buffer and SRAM */
	return rc;
}
