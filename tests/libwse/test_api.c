/* SPDX-License-Identifier: MIT */
/*
 * test_api: libwse against a real wse device (run in the VM by
 * tests/vm/40-libwse.sh): enumeration, info, buffers and dma-buf, SRAM,
 * mappings, a host->SRAM->host round trip, a matmul checked against the
 * host, a faulting job reported as an error, the staging pool under many
 * jobs in flight, telemetry over netlink and sysfs, wse_sample_devices(),
 * and the modes and kinds libwse refuses before asking the driver.
 * Environment: WSE_EXPECT_DEVICES=N checks the number of devices found.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libwse/wse.h"
#include "tests/tap.h"

#define MiB (1ull << 20)

static wse_device *dev;
static wse_ctx *ctx;
static struct wse_info info;

/* Submits s, waits up to 30 s; returns wse_wait()'s code. */
static int run(wse_stream *s, struct wse_job_result *r)
{
	uint64_t job;
	int err = wse_submit(ctx, s, WSE_QUEUE_DEFAULT, &job);

	if (err)
		return err;
	return wse_wait(dev, job, 30ull * 1000000000ull, r);
}

static void test_enumerate_and_info(void)
{
	struct wse_device_entry e[16];
	const char *expect = getenv("WSE_EXPECT_DEVICES");
	int n = wse_enumerate(NULL, e, 16);

	TAP_OK(n >= 1, "wse_enumerate finds the devices (%d)", n);
	if (expect)
		TAP_OK(n == atoi(expect), "exactly %s devices", expect);
	TAP_OK(n >= 1 && e[0].index == 0 && e[0].accel_minor >= 0 && e[0].accessible,
	       "entry 0 is /dev/wse0 -> an accel node, accessible");
	TAP_OK(strcmp(info.driver, "wse") == 0, "driver name is wse");
	TAP_OK(info.abi_version >= 2, "ioctl ABI version %u", info.abi_version);
	/* the VM's devices take every dtype (the qtest pins their register); wse.h names four */
	TAP_OK((info.dtypes & 0xfu) == (1u << WSE_DT_F32 | 1u << WSE_DT_F16 | 1u << WSE_DT_BF16 |
					1u << WSE_DT_Q8_0),
	       "weight dtypes 0x%x include f32, f16, bf16, q8_0", info.dtypes);
	TAP_OK(info.sram_size > 0 && info.grid_width > 0 && info.grid_height > 0 &&
	       info.clock_khz > 0, "SRAM %llu bytes, grid %ux%u, clock %u kHz",
	       (unsigned long long)info.sram_size, info.grid_width, info.grid_height,
	       info.clock_khz);
	TAP_OK(info.num_queues > 0 && info.max_stream >= 4096 && info.max_bo_handles > 0 &&
	       info.dva_end > info.dva_start, "queues %u, max stream %u, %u BOs per job",
	       info.num_queues, info.max_stream, info.max_bo_handles);
	TAP_OK(info.pci_name[0] && info.accel_minor >= 0, "PCI address %s, accel%d",
	       info.pci_name, info.accel_minor);
}

static void test_buffers(void)
{
	wse_device *other = NULL;
	wse_bo *bo, *imported = NULL;
	uint32_t *p, *q;
	char msg[256];
	int fd = -1, rc;

	TAP_OK(wse_bo_create(dev, 5000, &bo) == 0 && wse_bo_size(bo) == 8192,
	       "a 5000-byte buffer is rounded up to 8192");
	TAP_OK(wse_bo_map(bo, (void **)&p) == 0 && p[0] == 0 && p[2047] == 0,
	       "mapped; a new buffer reads as zero");
	p[0] = 0xdeadbeef;
	p[2047] = 0x12345678;
	TAP_OK(wse_bo_map(bo, (void **)&q) == 0 && q == p, "a second map returns the same address");
	rc = wse_bo_export(bo, &fd);
	TAP_OK(rc == 0 && fd >= 0, "exported as a dma-buf (fd %d)", fd);
	rc = wse_open(NULL, &other, msg, sizeof(msg));
	TAP_OK(rc == 0, "a second handle on the device: %s", rc ? msg : "ok");
	if (!rc && fd >= 0) {
		rc = wse_bo_import(other, fd, &imported);
		TAP_OK(rc == 0 && wse_bo_size(imported) == 8192,
		       "imported into the other handle with its size (%s)",
		       rc ? wse_last_error(other) : "ok");
		if (!rc && wse_bo_map(imported, (void **)&q) == 0)
			TAP_OK(q[0] == 0xdeadbeef && q[2047] == 0x12345678,
			       "the import sees the exporter's data");
	}
	if (fd >= 0)
		close(fd);
	wse_close(other);	/* frees the import */
	TAP_OK(wse_bo_import(dev, -1, &imported) == -EINVAL, "import of fd -1 is -EINVAL");
	rc = wse_bo_create(dev, 0, &imported);
	TAP_OK(rc == -EINVAL && strstr(wse_last_error(dev), "size"), "a 0-byte buffer is -EINVAL");
	wse_bo_free(bo);
}

static void test_sram(void)
{
	wse_sram *a, *b;
	int rc;

	TAP_OK(wse_sram_alloc(dev, 3 * 4096 + 1, 0, &a) == 0 && wse_sram_size(a) == 4 * 4096,
	       "SRAM allocation rounded up to pages");
	TAP_OK(wse_sram_alloc(dev, 4096, 3000, &b) == -EINVAL, "alignment 3000 is -EINVAL");
	rc = wse_sram_alloc(dev, info.sram_size * 2, 0, &b);
	TAP_OK(rc == -ENOSPC || rc == -ENOMEM || rc == -E2BIG || rc == -EINVAL,
	       "twice the SRAM size fails (%d: %s)", rc, wse_last_error(dev));
	wse_sram_free(a);
}

static void test_copy_round_trip(wse_bo *bo, uint8_t *host, uint64_t host_dva, uint64_t sram_dva)
{
	struct wse_job_result r = { 0 };
	wse_stream *s;
	unsigned i, bad = 0;
	int rc;

	for (i = 0; i < MiB; i++)
		host[i] = (uint8_t)(i * 7 + 3);
	memset(host + MiB, 0, MiB);
	TAP_OK(wse_stream_create_for(dev, &s) == 0, "stream with the device's limits");
	wse_stream_copy(s, sram_dva + 4096, host_dva, MiB);
	wse_stream_copy(s, host_dva + MiB, sram_dva + 4096, MiB);
	rc = run(s, &r);
	TAP_OK(rc == 0 && r.status == WSE_JOB_OK && r.state == WSE_JOB_STATE_DONE,
	       "host -> SRAM -> host copy job completed (%s)", rc ? wse_last_error(dev) : "ok");
	TAP_OK(r.cycles > 0 && r.op_index == 2, "it reports %llu modelled cycles and 2 ops",
	       (unsigned long long)r.cycles);
	for (i = 0; i < MiB; i++)
		bad += host[MiB + i] != (uint8_t)(i * 7 + 3);
	TAP_OK(bad == 0, "1 MiB came back unchanged (%u bytes differ)", bad);
	wse_stream_destroy(s);
	(void)bo;
}

static void test_matmul(uint8_t *host, uint64_t host_dva, uint64_t sram_dva)
{
	enum { ROWS = 64, COLS = 128, BATCH = 4 };
	float *w = (float *)host, *x = w + ROWS * COLS, *y = x + BATCH * COLS;
	uint64_t off_x = ROWS * COLS * 4, off_y = off_x + BATCH * COLS * 4;
	struct wse_matmul mm = { .w = sram_dva, .x = sram_dva + off_x, .y = sram_dva + off_y,
				 .rows = ROWS, .cols = COLS, .batch = BATCH,
				 .wtype = WSE_DT_F32 };
	struct wse_job_result r;
	double max_err = 0.0;
	wse_stream *s;
	int rc;

	srand(42);
	for (int i = 0; i < ROWS * COLS; i++)
		w[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
	for (int i = 0; i < BATCH * COLS; i++)
		x[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
	memset(y, 0xff, BATCH * ROWS * 4);	/* NaN until the device writes it */
	wse_stream_create_for(dev, &s);
	wse_stream_copy(s, sram_dva, host_dva, off_y);
	wse_stream_matmul(s, &mm);
	wse_stream_copy(s, host_dva + off_y, sram_dva + off_y, BATCH * ROWS * 4);
	rc = run(s, &r);
	TAP_OK(rc == 0, "upload, matmul 64x128 x batch 4, download (%s)",
	       rc ? wse_last_error(dev) : "ok");
	for (int n = 0; n < BATCH; n++)
		for (int m = 0; m < ROWS; m++) {
			double ref = 0.0, e;

			for (int k = 0; k < COLS; k++)
				ref += (double)w[m * COLS + k] * x[n * COLS + k];
			e = fabs(ref - y[n * ROWS + m]);
			if (!(e <= max_err))
				max_err = isnan(e) ? INFINITY : e;
		}
	TAP_OK(max_err < 1e-3, "matmul matches the host within 1e-3 (max error %g)", max_err);
	TAP_OK(r.cycles > 0, "matmul job took %llu modelled cycles", (unsigned long long)r.cycles);
	wse_stream_destroy(s);
}

static void test_fault(uint64_t host_dva, uint64_t sram_dva)
{
	struct wse_job_result r = { 0 };
	struct wse_ctx_info ci = { 0 }, before = { 0 };
	uint64_t unmapped = info.dva_end - 64 * 4096;
	wse_stream *s;
	int rc;

	wse_ctx_query(ctx, &before);
	wse_stream_create_for(dev, &s);
	wse_stream_copy(s, sram_dva, host_dva, 4096);
	wse_stream_copy(s, sram_dva, unmapped, 4096);
	rc = run(s, &r);
	TAP_OK(rc == -EIO, "a job reading an unmapped address fails with -EIO (%d)", rc);
	TAP_OK(r.state == WSE_JOB_STATE_DONE && r.status == WSE_JOB_ERR_FAULT,
	       "its status is 'address fault' (%u: %s)", r.status, wse_status_str(r.status));
	TAP_OK(r.op_index == 1, "the failing op is record 1 (%u)", r.op_index);
	TAP_OK(strstr(wse_last_error(dev), "address fault") != NULL, "last error: %s",
	       wse_last_error(dev));
	/* The driver counts a context's faults from the device's event ring, which may
	 * be read a little after the job's completion: poll, bounded. */
	for (int i = 0; i < 200 && wse_ctx_query(ctx, &ci) == 0 && ci.faults == before.faults; i++)
		usleep(10000);
	TAP_OK(wse_ctx_query(ctx, &ci) == 0 && ci.faults == before.faults + 1 &&
	       ci.last_fault_status == WSE_JOB_ERR_FAULT,
	       "the context counts the fault (%llu) and its status",
	       (unsigned long long)ci.faults);
	TAP_OK(ci.last_fault_dva >= unmapped && ci.last_fault_dva < unmapped + 4096,
	       "and the faulting address 0x%llx", (unsigned long long)ci.last_fault_dva);
	wse_stream_reset(s);
	wse_stream_copy(s, sram_dva, host_dva, 4096);
	TAP_OK(run(s, &r) == 0, "the context still runs jobs after the fault");
	wse_stream_destroy(s);
}

static void test_jobs(uint64_t host_dva, uint64_t sram_dva)
{
	enum { JOBS = 40 };
	uint64_t ids[JOBS];
	struct wse_job_result r;
	wse_stream *s, *empty;
	int ok = 1, rc;

	wse_stream_create_for(dev, &s);
	wse_stream_create(0, &empty);
	TAP_OK(wse_submit(ctx, empty, WSE_QUEUE_DEFAULT, &ids[0]) == -EINVAL,
	       "submitting an empty stream is -EINVAL");
	for (int i = 0; i < JOBS && ok; i++) {
		wse_stream_reset(s);
		wse_stream_copy(s, sram_dva + (uint64_t)i * 4096, host_dva + (uint64_t)i * 4096, 4096);
		ok = wse_submit(ctx, s, WSE_QUEUE_DEFAULT, &ids[i]) == 0;
	}
	TAP_OK(ok, "%d jobs submitted back to back (staging buffers reused)", JOBS);
	for (int i = 0; i < JOBS && ok; i++)
		ok = wse_wait(dev, ids[i], 30ull * 1000000000ull, NULL) == 0;
	TAP_OK(ok, "all %d completed OK", JOBS);
	TAP_OK(wse_wait(dev, ids[0], 0, &r) == 0 && r.status == WSE_JOB_OK,
	       "polling a finished job returns its result");
	rc = wse_wait(dev, 1ull << 40, 0, &r);
	TAP_OK(rc == -ENOENT || rc == -EINVAL, "an unknown job id is an error (%d)", rc);
	TAP_OK(wse_submit_nop(ctx, WSE_QUEUE_DEFAULT, &ids[0]) == 0 &&
	       wse_wait(dev, ids[0], 10ull * 1000000000ull, &r) == 0, "an empty NOP job completes");
	rc = wse_submit_nop(ctx, 9999, &ids[0]);
	TAP_OK(rc == -EINVAL, "queue 9999 is -EINVAL (%d)", rc);
	wse_stream_destroy(s);
	wse_stream_destroy(empty);
}

static void test_telemetry(void)
{
	struct wse_dev_stats st[16], one, sys;
	wse_telemetry *t;
	char msg[256];
	int n, rc;

	rc = wse_telemetry_open(&t, msg, sizeof(msg));
	TAP_OK(rc == 0, "generic netlink family resolved (%s)", rc ? msg : "ok");
	if (rc)
		return;
	n = wse_telemetry_list(t, st, 16);
	TAP_OK(n == wse_enumerate(NULL, NULL, 0), "netlink lists as many devices as /dev has (%d)", n);
	rc = wse_telemetry_get(t, (uint32_t)info.accel_minor, &one);
	TAP_OK(rc == 0 && one.sram_total == info.sram_size && strcmp(one.pci_name, info.pci_name) == 0,
	       "GET_DEVICE of accel%d: SRAM total and PCI address match QUERY_INFO", info.accel_minor);
	TAP_OK(rc == 0 && one.jobs_done >= 40 && one.faults >= 1 && one.state == WSE_STATE_READY,
	       "counters: %llu jobs done, %llu faults, state %s",
	       (unsigned long long)one.jobs_done, (unsigned long long)one.faults,
	       wse_state_str(one.state));
	TAP_OK(wse_telemetry_get(t, 4000, &one) == -ENODEV, "an unknown device index is -ENODEV");
	TAP_OK(wse_sysfs_read(NULL, (uint32_t)info.accel_minor, &sys) == 0 &&
	       sys.sram_total == info.sram_size && sys.jobs_done >= 40,
	       "sysfs has the same counters");
	wse_telemetry_close(t);
}

static void test_sample(void)
{
	struct wse_device_sample s[16];
	const struct wse_device_sample *mine = NULL;
	int n, i;

	n = wse_sample_devices(NULL, NULL, s, 16);
	TAP_OK(n == wse_enumerate(NULL, NULL, 0), "wse_sample_devices lists every device (%d)", n);
	for (i = 0; i < n && i < 16; i++)
		if (s[i].entry.accel_minor == info.accel_minor)
			mine = &s[i];
	TAP_OK(mine && mine->have_stats && mine->stats.sram_total == info.sram_size &&
	       mine->stats.jobs_done >= 40 && mine->stats.state == WSE_STATE_READY,
	       "its sample of accel%d carries the telemetry counters", info.accel_minor);
	/* test_jobs waited for every job it submitted, and the matmul counted cycles. */
	TAP_OK(mine && mine->have_jobs_submitted && mine->jobs_submitted >= 40 &&
	       mine->have_inflight && mine->inflight == 0 && mine->have_cycles && mine->cycles > 0,
	       "and the sysfs counters: %llu jobs submitted, %llu in flight, %llu cycles",
	       mine ? (unsigned long long)mine->jobs_submitted : 0ull,
	       mine ? (unsigned long long)mine->inflight : 0ull,
	       mine ? (unsigned long long)mine->cycles : 0ull);
}

/* Values wse.h does not define never reach the driver; the kernel's unknown bits never reach us. */
static void test_constants(void)
{
	const uint32_t known = WSE_FEATURE_F16 | WSE_FEATURE_BF16 | WSE_FEATURE_Q8_0 |
			       WSE_FEATURE_FUSED_LAYER | WSE_FEATURE_FAULT_INJECT |
			       WSE_FEATURE_LARGE_MAPS;

	TAP_OK((info.caps & ~known) == 0 && (info.caps & WSE_FEATURE_FAULT_INJECT),
	       "caps 0x%x: WSE_FEATURE_* bits only, fault injection among them", info.caps);
	TAP_OK(wse_fault_inject(dev, 99, 0) == -EINVAL &&
	       strstr(wse_last_error(dev), "unknown mode 99") != NULL,
	       "fault injection mode 99 is -EINVAL: %s", wse_last_error(dev));
	TAP_OK(wse_reset(dev, 7, 0) == -EINVAL && strstr(wse_last_error(dev), "unknown kind 7"),
	       "reset kind 7 is -EINVAL: %s", wse_last_error(dev));
}

int main(void)
{
	uint64_t host_dva = 0, sram_dva = 0, dva;
	wse_bo *bo = NULL;
	wse_sram *sram = NULL;
	uint8_t *host = NULL;
	char msg[256];
	int rc;

	rc = wse_open(NULL, &dev, msg, sizeof(msg));
	TAP_OK(rc == 0, "open the default device (%s)", rc ? msg : "ok");
	if (rc)
		return tap_done();
	TAP_OK(wse_query_info(dev, &info) == 0, "QUERY_INFO");
	test_enumerate_and_info();
	test_buffers();
	test_sram();

	TAP_OK(wse_ctx_create(dev, &ctx) == 0, "context created");
	TAP_OK(wse_bo_create(dev, 4 * MiB, &bo) == 0 && wse_bo_map(bo, (void **)&host) == 0,
	       "4 MiB host buffer mapped");
	TAP_OK(wse_sram_alloc(dev, 4 * MiB, 0, &sram) == 0, "4 MiB of SRAM");
	rc = wse_map_bo(ctx, bo, 0, 0, WSE_ACCESS_RW, &host_dva);
	TAP_OK(rc == 0 && host_dva >= info.dva_start, "buffer mapped at 0x%llx",
	       (unsigned long long)host_dva);
	rc = wse_map_sram(ctx, sram, 0, 0, WSE_ACCESS_RW, &sram_dva);
	TAP_OK(rc == 0 && sram_dva != host_dva, "SRAM mapped at 0x%llx", (unsigned long long)sram_dva);
	TAP_OK(wse_map_bo(ctx, bo, 0, 0, 0, &dva) == -EINVAL, "a mapping without access is -EINVAL");
	TAP_OK(wse_map_bo(ctx, bo, 100, 0, WSE_ACCESS_RW, &dva) == -EINVAL,
	       "an unaligned offset is -EINVAL");
	if (!host || !host_dva || !sram_dva)
		return tap_done();

	test_copy_round_trip(bo, host, host_dva, sram_dva);
	test_matmul(host, host_dva, sram_dva);
	test_fault(host_dva, sram_dva);
	test_jobs(host_dva, sram_dva);
	test_telemetry();
	test_sample();
	test_constants();

	wse_bo_free(bo);	/* refused: still mapped */
	TAP_OK(strstr(wse_last_error(dev), "still mapped") != NULL, "freeing a mapped buffer is refused");
	TAP_OK(wse_unmap(ctx, host_dva) == 0, "unmap the buffer");
	TAP_OK(wse_unmap(ctx, host_dva) == -ENOENT, "unmapping it twice is -ENOENT");
	wse_bo_free(bo);
	wse_ctx_destroy(ctx);	/* drops the SRAM mapping */
	wse_sram_free(sram);
	wse_close(dev);
	return tap_done();
}
