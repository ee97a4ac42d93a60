// SPDX-License-Identifier: GPL-2.0-only
/*
 * wse_abi_test: every ioctl's good path, and the errno of each bad input.
 */
#include "wse_util.h"
#include "kselftest_harness.h"

FIXTURE(dev) {
	int fd;
	uint32_t ctx;
};

FIXTURE_SETUP(dev)
{
	self->fd = wse_open(0);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", wse_dev_path(0), strerror(errno));
	ASSERT_EQ(0, wse_ctx_create(self->fd, &self->ctx));
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
}

TEST_F(dev, query_info)
{
	struct drm_wse_query_info info = { 0 };

	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &info));
	EXPECT_EQ(DRM_WSE_ABI_VERSION, info.abi_version);
	EXPECT_EQ(1u, info.hw_version >> 16);
	EXPECT_LT(0u, info.num_queues);
	EXPECT_LT(0ull, info.sram_size);
	EXPECT_LT(0u, info.grid_width);
	EXPECT_LT(0u, info.grid_height);
	EXPECT_EQ(WSE_MAX_STREAM, info.max_stream);
	EXPECT_LT(info.dva_start, info.dva_end);
	/*
	 * wse-vm's devices are QEMU's presets, whose WSE_REG_DTYPES the qtest
	 * identity test pins to every dtype of the contract; the old caps must
	 * agree bit for bit with it.
	 */
	EXPECT_EQ((1u << WSE_HW_DTYPE_COUNT) - 1, info.dtypes);
	EXPECT_EQ(!!(info.caps & DRM_WSE_CAP_F16), !!(info.dtypes & 1u << WSE_HW_DTYPE_F16));
	EXPECT_EQ(!!(info.caps & DRM_WSE_CAP_BF16), !!(info.dtypes & 1u << WSE_HW_DTYPE_BF16));
	EXPECT_EQ(!!(info.caps & DRM_WSE_CAP_Q8_0), !!(info.dtypes & 1u << WSE_HW_DTYPE_Q8_0));
	EXPECT_EQ(0u, info.pad);
	info.flags = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &info));
}

/*
 * A caller built against ABI 1 passes the 88 bytes before dtypes: DRM copies
 * that many in and out, so it gets the same answers and nothing past its
 * struct is written.
 */
TEST_F(dev, query_info_abi1_size)
{
	const size_t abi1_size = offsetof(struct drm_wse_query_info, dtypes);
	const unsigned long abi1_cmd = _IOC(_IOC_READ | _IOC_WRITE, DRM_IOCTL_BASE,
					    DRM_COMMAND_BASE + DRM_WSE_QUERY_INFO, abi1_size);
	struct drm_wse_query_info now = { 0 };
	unsigned int written_past = 0;
	union {
		struct drm_wse_query_info info;
		unsigned char bytes[sizeof(struct drm_wse_query_info)];
	} old;

	ASSERT_EQ(88u, abi1_size);
	memset(&old, 0xa5, sizeof(old));
	old.info.flags = 0;
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &now));
	ASSERT_EQ(0, wse_ioctl(self->fd, abi1_cmd, &old));
	EXPECT_EQ(now.abi_version, old.info.abi_version);
	EXPECT_EQ(now.hw_version, old.info.hw_version);
	EXPECT_EQ(now.caps, old.info.caps);
	EXPECT_EQ(now.sram_size, old.info.sram_size);
	EXPECT_EQ(now.serial, old.info.serial);
	EXPECT_EQ(now.max_bo_handles, old.info.max_bo_handles);
	for (size_t i = abi1_size; i < sizeof(old); i++)
		written_past += old.bytes[i] != 0xa5;
	EXPECT_EQ(0u, written_past) TH_LOG("bytes written past the ABI 1 struct");
	old.info.flags = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, abi1_cmd, &old));
}

TEST_F(dev, drm_version)
{
	char name[16] = "";
	struct drm_version v = { .name = name, .name_len = sizeof(name) - 1 };

	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_VERSION, &v));
	EXPECT_STREQ("wse", name);
}

TEST_F(dev, ctx_lifecycle)
{
	struct drm_wse_ctx_info info = { .handle = self->ctx };
	struct drm_wse_ctx_destroy destroy = { .handle = self->ctx };
	struct drm_wse_ctx_create create = { .flags = 1 };
	uint32_t other;

	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_INFO, &info));
	EXPECT_EQ(0u, info.num_maps);
	EXPECT_EQ(0ull, info.faults);
	ASSERT_EQ(0, wse_ctx_create(self->fd, &other));
	EXPECT_NE(self->ctx, other);
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_CREATE, &create));
	create.flags = 0;
	create.pad = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_CREATE, &create));
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_DESTROY, &destroy));
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_DESTROY, &destroy));
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_INFO, &info));
	destroy.handle = 0;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_DESTROY, &destroy));
	destroy.handle = other;
	destroy.pad = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_DESTROY, &destroy));
	info.handle = other;
	info.flags = 2;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_INFO, &info));
}

TEST_F(dev, bo_create_mmap_info)
{
	struct drm_wse_bo_info info = { 0 };
	struct drm_wse_bo_create create = { .size = 10000 };
	struct drm_wse_bo_mmap_offset off = { 0 };
	struct drm_gem_close close_args = { 0 };
	uint8_t *ptr;

	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_CREATE, &create));
	info.handle = create.handle;
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_INFO, &info));
	EXPECT_EQ(12288ull, info.size);
	EXPECT_EQ(0u, info.flags);
	ptr = wse_bo_mmap(self->fd, create.handle, info.size);
	ASSERT_NE(NULL, ptr);
	memset(ptr, 0x5a, info.size);
	EXPECT_EQ(0x5a, ptr[info.size - 1]);
	munmap(ptr, info.size);

	off.handle = create.handle;
	off.pad = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_MMAP_OFFSET, &off));
	off.handle = 9999;
	off.pad = 0;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_MMAP_OFFSET, &off));
	info.handle = 9999;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_INFO, &info));

	create.size = 0;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_CREATE, &create));
	create.size = 4096;
	create.flags = 0x80;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_CREATE, &create));
	create.size = ~0ull;
	create.flags = 0;
	EXPECT_EQ(-E2BIG, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_CREATE, &create));

	close_args.handle = info.handle = create.handle = 0;
	ASSERT_EQ(0, wse_bo_create(self->fd, 4096, &close_args.handle));
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_GEM_CLOSE, &close_args));
	info.handle = close_args.handle;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_BO_INFO, &info));
}

TEST_F(dev, bo_prime_export_import)
{
	struct drm_prime_handle exp = { .flags = DRM_CLOEXEC | DRM_RDWR };
	struct drm_prime_handle imp = { 0 };
	uint32_t *a, *b;
	int fd2;

	ASSERT_EQ(0, wse_bo_create(self->fd, WSE_PAGE, &exp.handle));
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &exp));
	ASSERT_LE(0, exp.fd);
	fd2 = wse_open(0);
	ASSERT_LE(0, fd2);
	imp.fd = exp.fd;
	ASSERT_EQ(0, wse_ioctl(fd2, DRM_IOCTL_PRIME_FD_TO_HANDLE, &imp));
	a = wse_bo_mmap(self->fd, exp.handle, WSE_PAGE);
	b = wse_bo_mmap(fd2, imp.handle, WSE_PAGE);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	a[7] = 0xdeadbeef;
	EXPECT_EQ(0xdeadbeef, b[7]);
	munmap(a, WSE_PAGE);
	munmap(b, WSE_PAGE);
	close(exp.fd);
	close(fd2);
}

TEST_F(dev, sram_alloc_free)
{
	struct drm_wse_query_info q0 = { 0 }, q1 = { 0 };
	struct drm_wse_sram_alloc a = { .size = 5000 };
	struct drm_wse_sram_free f = { 0 };

	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &q0));
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_ALLOC, &a));
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &q1));
	EXPECT_EQ(q0.sram_used + 8192, q1.sram_used);
	f.handle = a.handle;
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_FREE, &f));
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_FREE, &f));
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &q1));
	EXPECT_EQ(q0.sram_used, q1.sram_used);

	a.size = 0;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_ALLOC, &a));
	a.size = q0.sram_size + 1;
	EXPECT_EQ(-ENOSPC, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_ALLOC, &a));
	a.size = 4096;
	a.alignment = 3000;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_ALLOC, &a));
	a.alignment = 0;
	a.flags = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_ALLOC, &a));
	f.handle = 0;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_FREE, &f));
	f.pad = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SRAM_FREE, &f));
}

TEST_F(dev, sram_freed_on_close)
{
	struct drm_wse_query_info q0 = { 0 }, q1 = { 0 };
	uint32_t sram, ctx;
	uint64_t dva = 0;
	int fd2 = wse_open(0);

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &q0));
	ASSERT_EQ(0, wse_ctx_create(fd2, &ctx));
	ASSERT_EQ(0, wse_sram_alloc(fd2, 1 << 20, &sram));
	ASSERT_EQ(0, wse_map(fd2, ctx, sram, DRM_WSE_MAP_READ | DRM_WSE_MAP_SRAM, 0, &dva));
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &q1));
	EXPECT_EQ(q0.sram_used + (1 << 20), q1.sram_used);
	close(fd2);
	/* The context is freed asynchronously; give it a moment. */
	for (int i = 0; i < 100; i++) {
		ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_QUERY_INFO, &q1));
		if (q1.sram_used == q0.sram_used)
			break;
		usleep(10000);
	}
	EXPECT_EQ(q0.sram_used, q1.sram_used);
}

TEST_F(dev, map_unmap_and_bad_maps)
{
	struct drm_wse_unmap unmap = { .ctx = self->ctx };
	struct drm_wse_ctx_info info = { .handle = self->ctx };
	uint32_t bo, sram;
	uint64_t dva = 0, fixed = 0x40000000;

	ASSERT_EQ(0, wse_bo_create(self->fd, 4 * WSE_PAGE, &bo));
	ASSERT_EQ(0, wse_sram_alloc(self->fd, 4 * WSE_PAGE, &sram));
	ASSERT_EQ(0, wse_map(self->fd, self->ctx, bo, DRM_WSE_MAP_READ, 0, &dva));
	EXPECT_NE(0ull, dva);
	EXPECT_EQ(0ull, dva % WSE_PAGE);
	ASSERT_EQ(0, wse_map(self->fd, self->ctx, sram,
			     DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE | DRM_WSE_MAP_SRAM | DRM_WSE_MAP_FIXED,
			     0, &fixed));
	EXPECT_EQ(0x40000000ull, fixed);
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_CTX_INFO, &info));
	EXPECT_EQ(2u, info.num_maps);

	/* Overlapping a fixed mapping, misaligned, outside the space. */
	fixed = 0x40001000;
	EXPECT_EQ(-EEXIST, wse_map(self->fd, self->ctx, bo,
				   DRM_WSE_MAP_READ | DRM_WSE_MAP_FIXED, WSE_PAGE, &fixed));
	fixed = 0x50000010;
	EXPECT_EQ(-EINVAL, wse_map(self->fd, self->ctx, bo,
				   DRM_WSE_MAP_READ | DRM_WSE_MAP_FIXED, 0, &fixed));
	fixed = 0;
	EXPECT_EQ(-EINVAL, wse_map(self->fd, self->ctx, bo,
				   DRM_WSE_MAP_READ | DRM_WSE_MAP_FIXED, 0, &fixed));
	fixed = ~0ull & ~0xfffull;
	EXPECT_EQ(-EINVAL, wse_map(self->fd, self->ctx, bo,
				   DRM_WSE_MAP_READ | DRM_WSE_MAP_FIXED, 0, &fixed));
	/* No permission, unknown flag, bad handles, sizes beyond the object. */
	EXPECT_EQ(-EINVAL, wse_map(self->fd, self->ctx, bo, 0, 0, &dva));
	EXPECT_EQ(-EINVAL, wse_map(self->fd, self->ctx, bo, DRM_WSE_MAP_READ | 0x100, 0, &dva));
	EXPECT_EQ(-ENOENT, wse_map(self->fd, self->ctx, 777, DRM_WSE_MAP_READ, 0, &dva));
	EXPECT_EQ(-ENOENT, wse_map(self->fd, self->ctx, 777,
				   DRM_WSE_MAP_READ | DRM_WSE_MAP_SRAM, 0, &dva));
	EXPECT_EQ(-ENOENT, wse_map(self->fd, 777, bo, DRM_WSE_MAP_READ, 0, &dva));
	EXPECT_EQ(-EINVAL, wse_map(self->fd, self->ctx, bo, DRM_WSE_MAP_READ, 5 * WSE_PAGE, &dva));
	EXPECT_EQ(-EINVAL, wse_map(self->fd, self->ctx, bo, DRM_WSE_MAP_READ, 100, &dva));
	/* One page past an SRAM allocation would reach another file's SRAM. */
	EXPECT_EQ(-EINVAL, wse_map(self->fd, self->ctx, sram,
				   DRM_WSE_MAP_READ | DRM_WSE_MAP_SRAM, 5 * WSE_PAGE, &dva));
	{
		struct drm_wse_map m = {
			.ctx = self->ctx, .flags = DRM_WSE_MAP_READ, .handle = bo,
			.offset = 3 * WSE_PAGE, .size = 2 * WSE_PAGE,
		};

		EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_MAP, &m));
		m.offset = ~0ull & ~0xfffull;
		m.size = 2 * WSE_PAGE;
		EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_MAP, &m));
		m.offset = 12;
		EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_MAP, &m));
		m.offset = 0;
		m.size = 0;
		m.pad = 1;
		EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_MAP, &m));
		m.pad = 0;
		m.dva = 0x100000;
		EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_MAP, &m));
		m.dva = 0;
		m.offset = WSE_PAGE;
		EXPECT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_MAP, &m));
	}

	unmap.dva = dva;
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_UNMAP, &unmap));
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_UNMAP, &unmap));
	unmap.dva = 0x40000000 + WSE_PAGE;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_UNMAP, &unmap));
	unmap.dva = 0x40000000;
	unmap.pad = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_UNMAP, &unmap));
	unmap.pad = 0;
	unmap.ctx = 777;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_UNMAP, &unmap));
}

TEST_F(dev, submit_nop_wait_status)
{
	struct drm_wse_job_status st = { 0 };
	uint64_t job;

	ASSERT_EQ(0, wse_submit_nop(self->fd, self->ctx, DRM_WSE_QUEUE_DEFAULT, &job));
	EXPECT_NE(0ull, job);
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(self->fd, job, WSE_WAIT_LONG));
	st.job_id = job;
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_JOB_STATUS, &st));
	EXPECT_EQ(DRM_WSE_JOB_DONE, st.state);
	EXPECT_EQ(DRM_WSE_STATUS_OK, st.status);
	EXPECT_LE(st.submit_ns, st.done_ns);
	/* Waiting again returns the same result. */
	EXPECT_EQ(DRM_WSE_STATUS_OK, wse_wait(self->fd, job, 0));

	st.flags = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_JOB_STATUS, &st));
	st.flags = 0;
	st.job_id = job + 1000;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_JOB_STATUS, &st));
	EXPECT_EQ(-EINVAL, wse_wait(self->fd, 0, 0));
	EXPECT_EQ(-EINVAL, wse_wait(self->fd, job + 1000, 0));
	{
		struct drm_wse_wait w = { .job_id = job, .flags = 4 };

		EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_WAIT, &w));
	}
}

TEST_F(dev, copy_job_through_sram)
{
	struct wse_copier c;
	uint32_t src, dst, sram;
	uint64_t src_dva = 0, dst_dva = 0, sram_dva = 0;
	struct drm_wse_job_status st = { 0 };
	uint32_t *a, *b;
	uint64_t job;

	ASSERT_EQ(0, wse_copier_init(&c, self->fd));
	ASSERT_EQ(0, wse_bo_create(self->fd, 2 * WSE_PAGE, &src));
	ASSERT_EQ(0, wse_bo_create(self->fd, 2 * WSE_PAGE, &dst));
	ASSERT_EQ(0, wse_sram_alloc(self->fd, 2 * WSE_PAGE, &sram));
	ASSERT_EQ(0, wse_map(self->fd, c.ctx, src, DRM_WSE_MAP_READ, 0, &src_dva));
	ASSERT_EQ(0, wse_map(self->fd, c.ctx, dst, DRM_WSE_MAP_WRITE, 0, &dst_dva));
	ASSERT_EQ(0, wse_map(self->fd, c.ctx, sram,
			     DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE | DRM_WSE_MAP_SRAM, 0, &sram_dva));
	a = wse_bo_mmap(self->fd, src, 2 * WSE_PAGE);
	b = wse_bo_mmap(self->fd, dst, 2 * WSE_PAGE);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	for (unsigned int i = 0; i < 2 * WSE_PAGE / 4; i++)
		a[i] = i * 2654435761u;
	memset(b, 0, 2 * WSE_PAGE);
	ASSERT_EQ(DRM_WSE_STATUS_OK, wse_copy(&c, src_dva, sram_dva, 2 * WSE_PAGE));
	ASSERT_EQ(0, wse_copy_submit(&c, sram_dva, dst_dva, 2 * WSE_PAGE,
				     DRM_WSE_QUEUE_DEFAULT, &job));
	ASSERT_EQ(DRM_WSE_STATUS_OK, wse_wait(self->fd, job, WSE_WAIT_LONG));
	EXPECT_EQ(0, memcmp(a, b, 2 * WSE_PAGE));
	st.job_id = job;
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_JOB_STATUS, &st));
	EXPECT_EQ(1u, st.op_index);
	EXPECT_LT(0ull, st.cycles);
	/* Writing through a read-only mapping faults. */
	EXPECT_EQ(DRM_WSE_STATUS_ERR_FAULT, wse_copy(&c, dst_dva, src_dva, 64));
	/* Unmapping while nothing runs works; the address then faults. */
	{
		struct drm_wse_unmap u = { .ctx = c.ctx, .dva = dst_dva };

		ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_UNMAP, &u));
	}
	EXPECT_EQ(DRM_WSE_STATUS_ERR_FAULT, wse_copy(&c, src_dva, dst_dva, 64));
}

TEST_F(dev, bad_submits)
{
	struct wse_copier c;
	uint32_t handles[2] = { 0, 4242 };
	uint32_t unmapped;
	struct drm_wse_submit s;
	uint64_t job;

	ASSERT_EQ(0, wse_copier_init(&c, self->fd));
	ASSERT_EQ(0, wse_bo_create(self->fd, WSE_PAGE, &unmapped));
	handles[0] = c.stream;
#define SUBMIT_BASE { .ctx = c.ctx, .queue = DRM_WSE_QUEUE_DEFAULT, \
		      .stream_handle = c.stream, .stream_length = 40 }
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.flags = 0x10;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.ctx = 999;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.queue = 1000;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.stream_length = 0;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.stream_length = 12;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.stream_offset = 4;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.stream_length = WSE_MAX_STREAM + 8;
	EXPECT_EQ(-E2BIG, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.stream_offset = 4096 - 32;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.stream_offset = ~0ull & ~7ull;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.stream_handle = 4242;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.stream_handle = unmapped;
	EXPECT_EQ(-ENXIO, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.bo_count = 2;
	s.bo_handles = (uintptr_t)handles;
	EXPECT_EQ(-ENOENT, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s.bo_handles = 16;
	EXPECT_EQ(-EFAULT, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s.bo_handles = 0;
	EXPECT_EQ(-EFAULT, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s.bo_count = 100000;
	EXPECT_EQ(-E2BIG, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.flags = DRM_WSE_SUBMIT_NOP;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	/* A malformed op stream is the device's to reject. */
	memset(c.ops, 0xff, 64);
	s = (struct drm_wse_submit)SUBMIT_BASE;
	s.bo_count = 1;
	s.bo_handles = (uintptr_t)handles;
	ASSERT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_SUBMIT, &s));
	job = s.job_id;
	EXPECT_LT(DRM_WSE_STATUS_OK, wse_wait(self->fd, job, WSE_WAIT_LONG));
#undef SUBMIT_BASE
}

TEST_F(dev, admin_ioctls_bad_input)
{
	struct drm_wse_fault_inject fi = { .mode = 99 };
	struct drm_wse_reset r = { .kind = 7 };

	if (geteuid() != 0) {
		EXPECT_EQ(-EPERM, wse_ioctl(self->fd, DRM_IOCTL_WSE_FAULT_INJECT, &fi));
		EXPECT_EQ(-EPERM, wse_ioctl(self->fd, DRM_IOCTL_WSE_RESET, &r));
		return;
	}
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_FAULT_INJECT, &fi));
	fi.mode = DRM_WSE_FAULT_NONE;
	fi.queue = 99;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_FAULT_INJECT, &fi));
	fi.queue = 0;
	fi.pad = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_FAULT_INJECT, &fi));
	fi.pad = 0;
	EXPECT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_FAULT_INJECT, &fi));
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_RESET, &r));
	r.kind = DRM_WSE_RESET_QUEUE;
	r.queue = 99;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_RESET, &r));
	r.queue = 0;
	r.flags = 1;
	EXPECT_EQ(-EINVAL, wse_ioctl(self->fd, DRM_IOCTL_WSE_RESET, &r));
	r.flags = 0;
	EXPECT_EQ(0, wse_ioctl(self->fd, DRM_IOCTL_WSE_RESET, &r));
}

TEST_F(dev, sysfs_telemetry)
{
	long long before = wse_read_sysfs_number(self->fd, "jobs_done");
	uint64_t job;

	ASSERT_LE(0, before);
	ASSERT_EQ(0, wse_submit_nop(self->fd, self->ctx, DRM_WSE_QUEUE_DEFAULT, &job));
	ASSERT_EQ(DRM_WSE_STATUS_OK, wse_wait(self->fd, job, WSE_WAIT_LONG));
	EXPECT_LT(before, wse_read_sysfs_number(self->fd, "jobs_done"));
	EXPECT_LT(0, wse_read_sysfs_number(self->fd, "sram_total"));
	EXPECT_LT(0, wse_read_sysfs_number(self->fd, "queues"));
}

TEST_HARNESS_MAIN
