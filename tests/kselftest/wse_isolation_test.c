// SPDX-License-Identifier: GPL-2.0-only
/*
 * wse_isolation_test: two processes must not reach each other's buffers,
 * SRAM, contexts or jobs, by guessing handles or device addresses; a fault
 * is reported to the faulting context only; SRAM is scrubbed between
 * owners; concurrent submitters.
 */
#include <pthread.h>
#include <sys/wait.h>

#include "wse_util.h"
#include "kselftest_harness.h"

#define SECRET_DVA	0x80000000ull
#define SECRET_SRAM_DVA	0x90000000ull

/* The parent's secrets: a BO and an SRAM allocation at fixed addresses. */
static int make_secrets(int fd, uint32_t *ctx)
{
	uint32_t bo, sram;
	uint64_t dva = SECRET_DVA, sdva = SECRET_SRAM_DVA;
	uint32_t *p;
	int ret;

	ret = wse_ctx_create(fd, ctx);
	if (!ret)
		ret = wse_bo_create(fd, WSE_PAGE, &bo);
	if (!ret)
		ret = wse_sram_alloc(fd, WSE_PAGE, &sram);
	if (!ret)
		ret = wse_map(fd, *ctx, bo, DRM_WSE_MAP_READ | DRM_WSE_MAP_FIXED, 0, &dva);
	if (!ret)
		ret = wse_map(fd, *ctx, sram, DRM_WSE_MAP_READ | DRM_WSE_MAP_SRAM |
			      DRM_WSE_MAP_FIXED, 0, &sdva);
	if (ret)
		return ret;
	p = wse_bo_mmap(fd, bo, WSE_PAGE);
	if (!p)
		return -ENOMEM;
	for (unsigned int i = 0; i < WSE_PAGE / 4; i++)
		p[i] = 0x5ec7e7;
	return 0;
}

TEST(handle_guessing)
{
	int fd = wse_open(0), status;
	uint32_t ctx;
	pid_t pid;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, make_secrets(fd, &ctx));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int mine = wse_open(0), bad = 0;

		for (uint32_t h = 0; h < 64; h++) {
			struct drm_wse_bo_info bi = { .handle = h };
			struct drm_wse_ctx_info ci = { .handle = h };
			struct drm_wse_sram_free sf = { .handle = h };
			struct drm_wse_ctx_destroy cd = { .handle = h };
			uint64_t dva = 0, job = 0;

			bad |= wse_ioctl(mine, DRM_IOCTL_WSE_BO_INFO, &bi) != -ENOENT;
			bad |= wse_ioctl(mine, DRM_IOCTL_WSE_CTX_INFO, &ci) != -ENOENT;
			bad |= wse_ioctl(mine, DRM_IOCTL_WSE_SRAM_FREE, &sf) != -ENOENT;
			bad |= wse_ioctl(mine, DRM_IOCTL_WSE_CTX_DESTROY, &cd) != -ENOENT;
			bad |= wse_map(mine, h, h, DRM_WSE_MAP_READ, 0, &dva) != -ENOENT;
			bad |= wse_submit_nop(mine, h, DRM_WSE_QUEUE_DEFAULT, &job) != -ENOENT;
			bad |= wse_wait(mine, h, 0) >= 0;
		}
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

TEST(dva_guessing)
{
	int fd = wse_open(0), status;
	uint32_t ctx;
	pid_t pid;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, make_secrets(fd, &ctx));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int mine = wse_open(0), bad = 0;
		struct wse_copier c;
		uint32_t dst, *out;
		uint64_t dst_dva = 0;

		if (mine < 0 || wse_copier_init(&c, mine) ||
		    wse_bo_create(mine, WSE_PAGE, &dst) ||
		    wse_map(mine, c.ctx, dst, DRM_WSE_MAP_WRITE, 0, &dst_dva))
			_exit(2);
		out = wse_bo_mmap(mine, dst, WSE_PAGE);
		if (!out)
			_exit(3);
		memset(out, 0, WSE_PAGE);
		/* The same addresses in the child's own space are unmapped. */
		bad |= wse_copy(&c, SECRET_DVA, dst_dva, 64) != DRM_WSE_STATUS_ERR_FAULT;
		bad |= wse_copy(&c, SECRET_SRAM_DVA, dst_dva, 64) != DRM_WSE_STATUS_ERR_FAULT;
		for (uint64_t a = 0x100000; a < 0x100000000ull; a += 0x10000000)
			bad |= wse_copy(&c, a, dst_dva, 8) == DRM_WSE_STATUS_OK && a != c.stream_dva;
		for (unsigned int i = 0; i < WSE_PAGE / 4; i++)
			bad |= out[i] == 0x5ec7e7;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

#define SCRUB_BYTES (64u * 1024)

/* Fills SRAM through a fresh file, closes it; returns 0 on success. */
static int leave_sram_behind(void)
{
	int fd = wse_open(0), ret;
	struct wse_copier c;
	uint32_t bo, sram;
	uint64_t bo_dva = 0, sram_dva = 0;
	uint32_t *p;

	if (fd < 0)
		return fd;
	ret = wse_copier_init(&c, fd);
	if (!ret)
		ret = wse_bo_create(fd, SCRUB_BYTES, &bo);
	if (!ret)
		ret = wse_sram_alloc(fd, SCRUB_BYTES, &sram);
	if (!ret)
		ret = wse_map(fd, c.ctx, bo, DRM_WSE_MAP_READ, 0, &bo_dva);
	if (!ret)
		ret = wse_map(fd, c.ctx, sram, DRM_WSE_MAP_WRITE | DRM_WSE_MAP_SRAM, 0, &sram_dva);
	if (!ret) {
		p = wse_bo_mmap(fd, bo, SCRUB_BYTES);
		if (!p)
			ret = -ENOMEM;
	}
	if (!ret) {
		for (unsigned int i = 0; i < SCRUB_BYTES / 4; i++)
			p[i] = 0x5ec7e7;
		munmap(p, SCRUB_BYTES);
		ret = wse_copy(&c, bo_dva, sram_dva, SCRUB_BYTES);
	}
	wse_copier_fini(&c);
	close(fd);
	return ret;
}

/* SRAM a closed file left behind reads as zero in the next file's allocation. */
TEST(sram_scrubbed_between_files)
{
	int fd;
	struct wse_copier c;
	uint32_t bo, sram;
	uint64_t bo_dva = 0, sram_dva = 0;
	uint32_t *p, leaked = 0;

	ASSERT_EQ(0, leave_sram_behind());
	fd = wse_open(0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, wse_copier_init(&c, fd));
	ASSERT_EQ(0, wse_bo_create(fd, SCRUB_BYTES, &bo));
	ASSERT_EQ(0, wse_sram_alloc(fd, SCRUB_BYTES, &sram));
	ASSERT_EQ(0, wse_map(fd, c.ctx, bo, DRM_WSE_MAP_WRITE, 0, &bo_dva));
	ASSERT_EQ(0, wse_map(fd, c.ctx, sram, DRM_WSE_MAP_READ | DRM_WSE_MAP_SRAM, 0, &sram_dva));
	p = wse_bo_mmap(fd, bo, SCRUB_BYTES);
	ASSERT_NE(NULL, p);
	memset(p, 0xff, SCRUB_BYTES);
	ASSERT_EQ(DRM_WSE_STATUS_OK, wse_copy(&c, sram_dva, bo_dva, SCRUB_BYTES));
	for (unsigned int i = 0; i < SCRUB_BYTES / 4; i++)
		leaked |= p[i];
	EXPECT_EQ(0u, leaked);
	munmap(p, SCRUB_BYTES);
	wse_copier_fini(&c);
	close(fd);
}

TEST(fault_reported_to_own_context_only)
{
	int a = wse_open(0), b = wse_open(0);
	struct wse_copier ca, cb;
	struct drm_wse_ctx_info ia = { 0 }, ib = { 0 };
	uint32_t bo;
	uint64_t dva = 0;

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, wse_copier_init(&ca, a));
	ASSERT_EQ(0, wse_copier_init(&cb, b));
	ASSERT_EQ(0, wse_bo_create(b, WSE_PAGE, &bo));
	ASSERT_EQ(0, wse_map(b, cb.ctx, bo, DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE, 0, &dva));

	EXPECT_EQ(DRM_WSE_STATUS_ERR_FAULT, wse_copy(&ca, 0x7000000000ull, ca.stream_dva, 8));
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_copy(&cb, dva, dva + 2048, 1024));
	/* The fault event is handled asynchronously. */
	for (int i = 0; i < 200; i++) {
		ia.handle = ca.ctx;
		ASSERT_EQ(0, wse_ioctl(a, DRM_IOCTL_WSE_CTX_INFO, &ia));
		if (ia.faults)
			break;
		usleep(10000);
	}
	ib.handle = cb.ctx;
	ASSERT_EQ(0, wse_ioctl(b, DRM_IOCTL_WSE_CTX_INFO, &ib));
	EXPECT_EQ(1ull, ia.faults);
	EXPECT_EQ(0x7000000000ull, ia.last_fault_dva);
	EXPECT_EQ(DRM_WSE_STATUS_ERR_FAULT, ia.last_fault_status);
	EXPECT_EQ(0ull, ib.faults);
	EXPECT_EQ(0ull, ib.last_fault_dva);
	close(a);
	close(b);
}

struct submitter {
	int fd;
	int jobs;
	int failures;
};

static void *submit_loop(void *arg)
{
	struct submitter *s = arg;
	struct wse_copier c;
	uint32_t bo;
	uint64_t dva = 0, job;
	uint32_t *p;

	if (wse_copier_init(&c, s->fd) || wse_bo_create(s->fd, 2 * WSE_PAGE, &bo) ||
	    wse_map(s->fd, c.ctx, bo, DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE, 0, &dva)) {
		s->failures++;
		return NULL;
	}
	p = wse_bo_mmap(s->fd, bo, 2 * WSE_PAGE);
	for (int i = 0; i < s->jobs; i++) {
		if (i % 4 == 3) {
			p[0] = (uint32_t)i;
			p[WSE_PAGE / 4] = 0;
			s->failures += wse_copy(&c, dva, dva + WSE_PAGE, 64) != DRM_WSE_STATUS_OK;
			s->failures += p[WSE_PAGE / 4] != (uint32_t)i;
		} else {
			s->failures += wse_submit_nop(s->fd, c.ctx, DRM_WSE_QUEUE_DEFAULT, &job) != 0;
			s->failures += wse_wait(s->fd, job, WSE_WAIT_LONG) != DRM_WSE_STATUS_OK;
		}
	}
	return NULL;
}

TEST(concurrent_submitters)
{
	struct submitter subs[4];
	pthread_t threads[4];
	int shared = wse_open(0);
	long long before;

	ASSERT_LE(0, shared);
	before = wse_read_sysfs_number(shared, "jobs_done");
	for (int i = 0; i < 4; i++) {
		/* Two threads share a file, two have their own. */
		subs[i] = (struct submitter){ .fd = i < 2 ? shared : wse_open(0), .jobs = 200 };
		ASSERT_LE(0, subs[i].fd);
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, submit_loop, &subs[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		EXPECT_EQ(0, subs[i].failures) TH_LOG("submitter %d", i);
	}
	EXPECT_LE(before + 800, wse_read_sysfs_number(shared, "jobs_done"));
	for (int i = 2; i < 4; i++)
		close(subs[i].fd);
	close(shared);
}

TEST(many_jobs_without_waiting)
{
	int fd = wse_open(0);
	uint32_t ctx;
	uint64_t job = 0, first = 0;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, wse_ctx_create(fd, &ctx));
	/* More than the ring holds and more results than a file keeps. */
	for (int i = 0; i < 3000; i++) {
		ASSERT_EQ(0, wse_submit_nop(fd, ctx, DRM_WSE_QUEUE_DEFAULT, &job));
		if (!first)
			first = job;
	}
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(fd, job, WSE_WAIT_LONG));
	/* The oldest results may have been dropped: ENOENT, never a crash. */
	{
		int r = wse_wait(fd, first, 0);

		EXPECT_TRUE(r == DRM_WSE_STATUS_OK || r == -ENOENT);
	}
	close(fd);
}

TEST_HARNESS_MAIN
