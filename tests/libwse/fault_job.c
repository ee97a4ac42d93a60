/* SPDX-License-Identifier: MIT */
/*
 * fault_job: makes the device report a fault from this process, for the
 * `wse-smi events` test: with --inject it arms a DMA failure through
 * FAULT_INJECT (needs CAP_SYS_ADMIN), otherwise it reads an unmapped
 * address; either way the job must fail and the driver multicasts an event.
 */
#include <errno.h>
#include <string.h>

#include "libwse/wse.h"
#include "tests/tap.h"

int main(int argc, char **argv)
{
	int inject = argc > 1 && strcmp(argv[1], "--inject") == 0;
	struct wse_job_result r = { 0 };
	struct wse_info info;
	wse_device *dev;
	wse_ctx *ctx;
	wse_bo *bo;
	wse_sram *sram;
	wse_stream *s;
	uint64_t hd, sd, job;
	char msg[256];
	int rc;

	rc = wse_open(NULL, &dev, msg, sizeof(msg));
	TAP_OK(rc == 0, "open (%s)", rc ? msg : "ok");
	if (rc)
		return tap_done();
	wse_query_info(dev, &info);
	rc = wse_ctx_create(dev, &ctx) || wse_bo_create(dev, 65536, &bo) ||
	     wse_sram_alloc(dev, 65536, 0, &sram) ||
	     wse_map_bo(ctx, bo, 0, 0, WSE_ACCESS_RW, &hd) ||
	     wse_map_sram(ctx, sram, 0, 0, WSE_ACCESS_RW, &sd) || wse_stream_create_for(dev, &s);
	TAP_OK(rc == 0, "context, buffer and SRAM set up (%s)", wse_last_error(dev));
	if (rc)
		return tap_done();
	if (inject) {
		struct wse_ctx_info ci;

		wse_ctx_query(ctx, &ci);
		rc = wse_fault_inject(dev, WSE_INJECT_FAIL_DMA, ci.queue);
		TAP_OK(rc == 0, "DMA failure armed on queue %u (%s)", ci.queue,
		       rc ? wse_last_error(dev) : "ok");
		wse_stream_copy(s, sd, hd, 65536);
	} else {
		wse_stream_copy(s, sd, info.dva_end - 65536, 4096);
	}
	rc = wse_submit(ctx, s, WSE_QUEUE_DEFAULT, &job);
	if (!rc)
		rc = wse_wait(dev, job, 30ull * 1000000000ull, &r);
	TAP_OK(rc == -EIO && r.status == (inject ? WSE_JOB_ERR_DMA : WSE_JOB_ERR_FAULT),
	       "the job failed with %s (%s)", wse_status_str(r.status), wse_last_error(dev));
	wse_stream_destroy(s);
	wse_close(dev);
	return tap_done();
}
