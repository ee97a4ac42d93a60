// SPDX-License-Identifier: GPL-2.0-only
/*
 * wse_lifecycle_test: module unload/reload with the device busy in between,
 * and hot-unplug of a busy device (asks the host through /dev/ttyS1, as
 * tools/wse-vm allows). Needs root; unplug needs a second device (/dev/wse1).
 */
#include <sys/wait.h>
#include <time.h>

#include "wse_util.h"
#include "kselftest_harness.h"

static int run(const char *cmd)
{
	int status = system(cmd);

	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Opens /dev/wse<index> once the driver has created it again. */
static int open_when_ready(int index)
{
	for (int i = 0; i < 500; i++) {
		int fd = wse_open(index);

		if (fd >= 0)
			return fd;
		usleep(10000);
	}
	return -1;
}

/* Leaves the device busy: jobs still queued when the file closes. */
static int keep_busy(int fd, int jobs)
{
	struct wse_copier c;
	uint32_t bo, sram;
	uint64_t dva = 0, sdva = 0, job = 0;
	int ret;

	ret = wse_copier_init(&c, fd);
	if (!ret)
		ret = wse_bo_create(fd, 64 * WSE_PAGE, &bo);
	if (!ret)
		ret = wse_sram_alloc(fd, 64 * WSE_PAGE, &sram);
	if (!ret)
		ret = wse_map(fd, c.ctx, bo, DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE, 0, &dva);
	if (!ret)
		ret = wse_map(fd, c.ctx, sram, DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE |
			      DRM_WSE_MAP_SRAM, 0, &sdva);
	if (!ret)
		ret = wse_copy(&c, dva, sdva, 64 * WSE_PAGE) == DRM_WSE_STATUS_OK ? 0 : -EIO;
	for (int i = 0; !ret && i < jobs; i++) {
		if (i % 8 == 0)
			ret = wse_copy_submit(&c, dva, sdva, 64 * WSE_PAGE,
					      DRM_WSE_QUEUE_DEFAULT, &job);
		else
			ret = wse_submit_nop(fd, c.ctx, DRM_WSE_QUEUE_DEFAULT, &job);
	}
	wse_copier_fini(&c);
	return ret;
}

TEST(module_reload_busy)
{
	if (geteuid() != 0)
		SKIP(return, "needs root");
	if (access("/sys/module/wse", F_OK))
		SKIP(return, "wse is not a loaded module");
	for (int cycle = 0; cycle < 20; cycle++) {
		int fd = open_when_ready(0);

		ASSERT_LE(0, fd) TH_LOG("cycle %d: no /dev/wse0", cycle);
		ASSERT_EQ(0, keep_busy(fd, 64)) TH_LOG("cycle %d", cycle);
		close(fd);
		ASSERT_EQ(0, run("rmmod wse")) TH_LOG("cycle %d: rmmod", cycle);
		ASSERT_EQ(0, run("modprobe wse")) TH_LOG("cycle %d: modprobe", cycle);
	}
	{
		int fd = open_when_ready(0);
		uint32_t ctx;
		uint64_t job;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, wse_ctx_create(fd, &ctx));
		ASSERT_EQ(0, wse_submit_nop(fd, ctx, DRM_WSE_QUEUE_DEFAULT, &job));
		EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(fd, job, WSE_WAIT_LONG));
		close(fd);
	}
}

/*
 * Both devices are kept busy and QEMU's "wse1" is unplugged; which /dev/wseN
 * that is depends on bus numbering, so the test finds out: exactly one
 * device must start failing with ENODEV while the other carries on.
 */
TEST(unplug_while_busy)
{
	struct drm_wse_query_info info = { 0 };
	int fd[2], gone = -1, ret;
	uint32_t ctx[2];
	uint64_t job[2] = { 0, 0 };
	time_t deadline;

	if (geteuid() != 0)
		SKIP(return, "needs root");
	fd[0] = wse_open(0);
	fd[1] = wse_open(1);
	if (fd[0] < 0 || fd[1] < 0)
		SKIP(return, "needs two devices (wse-vm --devices 2)");
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, keep_busy(fd[i], 200));
		ASSERT_EQ(0, wse_ctx_create(fd[i], &ctx[i]));
	}
	ASSERT_EQ(0, wse_write_file("/dev/ttyS1", "device_del wse1\n"));
	deadline = time(NULL) + 25;
	while (gone < 0 && time(NULL) < deadline) {
		for (int i = 0; i < 2 && gone < 0; i++) {
			ret = wse_submit_nop(fd[i], ctx[i], DRM_WSE_QUEUE_DEFAULT, &job[i]);
			if (ret == -ENODEV)
				gone = i;
			else
				ASSERT_EQ(0, ret);
		}
		usleep(20000);
	}
	ASSERT_LE(0, gone) TH_LOG("no device went away");
	EXPECT_EQ(-ENODEV, wse_ioctl(fd[gone], DRM_IOCTL_WSE_QUERY_INFO, &info));
	EXPECT_EQ(-ENODEV, wse_wait(fd[gone], job[gone], 0));
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(fd[!gone], job[!gone], WSE_WAIT_LONG));
	ASSERT_EQ(0, wse_submit_nop(fd[!gone], ctx[!gone], DRM_WSE_QUEUE_DEFAULT, &job[!gone]));
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(fd[!gone], job[!gone], WSE_WAIT_LONG));
	close(fd[gone]);
	close(fd[!gone]);
}

TEST_HARNESS_MAIN
