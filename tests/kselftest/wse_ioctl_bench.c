// SPDX-License-Identifier: GPL-2.0-only
/*
 * wse-ioctl-bench [DEVICE_INDEX [ITERATIONS]]: round trip of an empty (NOP)
 * job, SUBMIT then WAIT, against a no-op ioctl (QUERY_INFO) on the same
 * file; prints p50/p99 of each and their ratio.
 */
#include <time.h>

#include "wse_util.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t percentile(uint64_t *sorted, int n, int pct)
{
	int i = (int)((long long)n * pct / 100);

	return sorted[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
	int index = argc > 1 ? atoi(argv[1]) : 0;
	int n = argc > 2 ? atoi(argv[2]) : 2000;
	struct drm_wse_query_info info = { 0 };
	uint64_t *ioctl_ns, *job_ns, job;
	uint32_t ctx;
	int fd;

	if (n < 10 || n > 10000000) {
		fprintf(stderr, "wse-ioctl-bench: ITERATIONS must be 10..10000000\n");
		return 2;
	}
	fd = wse_open(index);
	if (fd < 0) {
		fprintf(stderr, "wse-ioctl-bench: %s: %s\n", wse_dev_path(index), strerror(errno));
		return 1;
	}
	ioctl_ns = calloc((size_t)n, sizeof(*ioctl_ns));
	job_ns = calloc((size_t)n, sizeof(*job_ns));
	if (!ioctl_ns || !job_ns || wse_ctx_create(fd, &ctx)) {
		fprintf(stderr, "wse-ioctl-bench: set-up failed\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (wse_ioctl(fd, DRM_IOCTL_WSE_QUERY_INFO, &info)) {
			fprintf(stderr, "wse-ioctl-bench: QUERY_INFO failed\n");
			return 1;
		}
		ioctl_ns[i] = now_ns() - t0;
	}
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		int status;

		if (wse_submit_nop(fd, ctx, DRM_WSE_QUEUE_DEFAULT, &job)) {
			fprintf(stderr, "wse-ioctl-bench: SUBMIT failed\n");
			return 1;
		}
		status = wse_wait(fd, job, 10ull * 1000 * 1000 * 1000);
		if (status != DRM_WSE_STATUS_OK) {
			fprintf(stderr, "wse-ioctl-bench: NOP job ended with %d\n", status);
			return 1;
		}
		job_ns[i] = now_ns() - t0;
	}
	qsort(ioctl_ns, (size_t)n, sizeof(*ioctl_ns), compare_u64);
	qsort(job_ns, (size_t)n, sizeof(*job_ns), compare_u64);
	printf("wse-ioctl-bench: %d iterations on %s\n", n, wse_dev_path(index));
	printf("  no-op ioctl (QUERY_INFO):     p50 %8.1f us  p99 %8.1f us\n",
	       percentile(ioctl_ns, n, 50) / 1e3, percentile(ioctl_ns, n, 99) / 1e3);
	printf("  NOP job submit->completion:   p50 %8.1f us  p99 %8.1f us\n",
	       percentile(job_ns, n, 50) / 1e3, percentile(job_ns, n, 99) / 1e3);
	printf("  ratio job/ioctl:              p50 %8.1f x   p99 %8.1f x\n",
	       (double)percentile(job_ns, n, 50) / (double)percentile(ioctl_ns, n, 50),
	       (double)percentile(job_ns, n, 99) / (double)percentile(ioctl_ns, n, 99));
	close(fd);
	return 0;
}
