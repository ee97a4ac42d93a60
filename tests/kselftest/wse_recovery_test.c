// SPDX-License-Identifier: GPL-2.0-only
/*
 * wse_recovery_test: injected device faults (FAULT_INJECT, needs root):
 * hang -> timeout -> queue reset -> recovery while other contexts carry on;
 * corrupt completions, failed DMA, SRAM errors; device reset.
 */
#include "wse_util.h"
#include "kselftest_harness.h"

#define TIMEOUT_PARAM "/sys/module/wse/parameters/job_timeout_ms"

FIXTURE(rec) {
	int fd;
	struct wse_copier c;
	uint32_t bo;
	uint64_t dva;
	uint32_t *ptr;
	uint32_t queues;
};

FIXTURE_SETUP(rec)
{
	struct drm_wse_query_info info = { 0 };

	if (geteuid() != 0)
		SKIP(return, "fault injection needs CAP_SYS_ADMIN");
	self->fd = wse_open(0);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &info));
	if (!(info.caps & DRM_WSE_CAP_FAULT_INJECT))
		SKIP(return, "device without fault injection");
	self->queues = info.num_queues;
	ASSERT_EQ(0, wse_write_file(TIMEOUT_PARAM, "500"));
	ASSERT_EQ(0, wse_copier_init(&self->c, self->fd));
	ASSERT_EQ(0, wse_bo_create(self->fd, 2 * WSE_PAGE, &self->bo));
	self->dva = 0;
	ASSERT_EQ(0, wse_map(self->fd, self->c.ctx, self->bo,
			     DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE, 0, &self->dva));
	self->ptr = wse_bo_mmap(self->fd, self->bo, 2 * WSE_PAGE);
	ASSERT_NE(NULL, self->ptr);
}

FIXTURE_TEARDOWN(rec)
{
	if (geteuid() != 0)
		return;
	wse_write_file(TIMEOUT_PARAM, "2000");
	close(self->fd);
}

static int inject(int fd, uint32_t mode, uint32_t queue)
{
	struct drm_wse_fault_inject fi = { .mode = mode, .queue = queue };

	return wse_ioctl(fd, DRM_IOCTL_WSE_FAULT_INJECT, &fi);
}

static uint32_t ctx_queue(int fd, uint32_t ctx)
{
	struct drm_wse_ctx_info info = { .handle = ctx };

	wse_ioctl(fd, DRM_IOCTL_WSE_CTX_INFO, &info);
	return info.queue;
}

TEST_F(rec, hang_timeout_reset_recovery)
{
	uint32_t q = ctx_queue(self->fd, self->c.ctx), other_ctx;
	long long timeouts = wse_read_sysfs_number(self->fd, "timeouts");
	uint64_t hung, behind, other;

	ASSERT_EQ(0, wse_ctx_create(self->fd, &other_ctx));
	ASSERT_EQ(0, inject(self->fd, DRM_WSE_FAULT_HANG_QUEUE, q));
	ASSERT_EQ(0, wse_submit_nop(self->fd, self->c.ctx, q, &hung));
	ASSERT_EQ(0, wse_submit_nop(self->fd, self->c.ctx, q, &behind));
	/* Another queue carries on while this one hangs. */
	if (self->queues > 1) {
		ASSERT_EQ(0, wse_submit_nop(self->fd, other_ctx, (q + 1) % self->queues, &other));
		EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(self->fd, other, 200ull * 1000 * 1000));
	}
	EXPECT_EQ(-ETIME, wse_wait(self->fd, hung, 1000 * 1000));
	EXPECT_EQ(DRM_WSE_STATUS_TIMEOUT, wse_wait(self->fd, hung, WSE_WAIT_LONG));
	/* The job queued behind the hung one is resubmitted, not lost. */
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(self->fd, behind, WSE_WAIT_LONG));
	EXPECT_EQ(timeouts + 1, wse_read_sysfs_number(self->fd, "timeouts"));
	self->ptr[0] = 77;
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_copy(&self->c, self->dva, self->dva + WSE_PAGE, 4));
	EXPECT_EQ(77u, self->ptr[WSE_PAGE / 4]);
}

TEST_F(rec, corrupt_completion)
{
	uint32_t q = ctx_queue(self->fd, self->c.ctx);
	uint64_t job;

	ASSERT_EQ(0, inject(self->fd, DRM_WSE_FAULT_CORRUPT_CQE, q));
	ASSERT_EQ(0, wse_submit_nop(self->fd, self->c.ctx, q, &job));
	EXPECT_EQ(DRM_WSE_STATUS_CORRUPT, wse_wait(self->fd, job, WSE_WAIT_LONG));
	ASSERT_EQ(0, wse_submit_nop(self->fd, self->c.ctx, q, &job));
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(self->fd, job, WSE_WAIT_LONG));
}

TEST_F(rec, failed_dma)
{
	uint32_t q = ctx_queue(self->fd, self->c.ctx);

	ASSERT_EQ(0, inject(self->fd, DRM_WSE_FAULT_FAIL_DMA, q));
	EXPECT_EQ(DRM_WSE_STATUS_ERR_DMA,
		  wse_copy(&self->c, self->dva, self->dva + WSE_PAGE, 64));
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_copy(&self->c, self->dva, self->dva + WSE_PAGE, 64));
}

TEST_F(rec, sram_error)
{
	uint32_t q = ctx_queue(self->fd, self->c.ctx);
	long long faults = wse_read_sysfs_number(self->fd, "faults");

	ASSERT_EQ(0, inject(self->fd, DRM_WSE_FAULT_SRAM_ERROR, q));
	EXPECT_EQ(DRM_WSE_STATUS_ERR_SRAM,
		  wse_copy(&self->c, self->dva, self->dva + WSE_PAGE, 64));
	for (int i = 0; i < 100 && wse_read_sysfs_number(self->fd, "faults") == faults; i++)
		usleep(10000);
	EXPECT_LT(faults, wse_read_sysfs_number(self->fd, "faults"));
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_copy(&self->c, self->dva, self->dva + WSE_PAGE, 64));
}

TEST_F(rec, device_reset)
{
	struct drm_wse_reset r = { .kind = DRM_WSE_RESET_DEVICE };
	uint32_t q = ctx_queue(self->fd, self->c.ctx);
	long long resets = wse_read_sysfs_number(self->fd, "resets");
	uint64_t job;
	int status;

	ASSERT_EQ(0, inject(self->fd, DRM_WSE_FAULT_HANG_QUEUE, q));
	ASSERT_EQ(0, wse_submit_nop(self->fd, self->c.ctx, q, &job));
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_RESET, &r));
	status = wse_wait(self->fd, job, WSE_WAIT_LONG);
	EXPECT_TRUE(status == DRM_WSE_STATUS_ERR_ABORTED || status == DRM_WSE_STATUS_TIMEOUT);
	EXPECT_LT(resets, wse_read_sysfs_number(self->fd, "resets"));
	/* Mappings survive a reset. */
	self->ptr[1] = 1234;
	EXPECT_EQ(DRM_WSE_STATUS_OK,
		  wse_copy(&self->c, self->dva + 4, self->dva + WSE_PAGE + 4, 4));
	EXPECT_EQ(1234u, self->ptr[WSE_PAGE / 4 + 1]);
}

TEST_F(rec, queue_reset_ioctl)
{
	struct drm_wse_reset r = { .kind = DRM_WSE_RESET_QUEUE };
	uint64_t job;

	r.queue = ctx_queue(self->fd, self->c.ctx);
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_RESET, &r));
	ASSERT_EQ(0, wse_submit_nop(self->fd, self->c.ctx, r.queue, &job));
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(self->fd, job, WSE_WAIT_LONG));
}

TEST_HARNESS_MAIN
