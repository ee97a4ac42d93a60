/* SPDX-License-Identifier: MIT */
/*
 * hold_device: keeps one wse device open for the operations tests
 * (tests/vm/45-ops.sh), so that its DRM fdinfo and `wse-smi ps` can be read
 * while the file lives. Opens $WSE_DEVICE (default /dev/wse0), maps a 64 KiB
 * host buffer and 64 KiB of SRAM into a context, prints "ready", then runs
 * one job (host -> SRAM -> host) per line read from stdin and prints
 * "done CYCLES" after each; exits 0 at the end of stdin, 1 on any failure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "libwse/wse.h"

#define HOLD_BYTES 65536

int main(void)
{
	struct wse_job_result r = { 0 };
	wse_device *dev;
	wse_ctx *ctx;
	wse_bo *bo;
	wse_sram *sram;
	wse_stream *s;
	uint64_t host, dev_mem, job;
	char msg[256], line[64];

	if (wse_open(NULL, &dev, msg, sizeof(msg))) {
		fprintf(stderr, "hold_device: %s\n", msg);
		return 1;
	}
	if (wse_ctx_create(dev, &ctx) || wse_bo_create(dev, HOLD_BYTES, &bo) ||
	    wse_sram_alloc(dev, HOLD_BYTES, 0, &sram) ||
	    wse_map_bo(ctx, bo, 0, 0, WSE_ACCESS_RW, &host) ||
	    wse_map_sram(ctx, sram, 0, 0, WSE_ACCESS_RW, &dev_mem) ||
	    wse_stream_create_for(dev, &s) || wse_stream_copy(s, dev_mem, host, HOLD_BYTES) ||
	    wse_stream_copy(s, host, dev_mem, HOLD_BYTES)) {
		fprintf(stderr, "hold_device: set-up failed: %s\n", wse_last_error(dev));
		wse_close(dev);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (wse_submit(ctx, s, WSE_QUEUE_DEFAULT, &job) ||
		    wse_wait(dev, job, 60ull * 1000000000ull, &r)) {
			fprintf(stderr, "hold_device: job failed: %s\n", wse_last_error(dev));
			wse_close(dev);
			return 1;
		}
		printf("done %" PRIu64 "\n", r.cycles);
		fflush(stdout);
	}
	wse_stream_destroy(s);
	wse_close(dev);
	return 0;
}
