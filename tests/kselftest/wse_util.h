/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the wse kselftests: thin ioctl wrappers that return
 * -errno, and a small "copy job" (a stream BO with one COPY op record) used
 * to make the device read and write through a context's address space.
 */
#ifndef WSE_KSELFTEST_UTIL_H
#define WSE_KSELFTEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "uapi/wse_accel.h"
#include "wse/hw_device.h"
#include "wse/hw_ops.h"

#define WSE_PAGE 4096u

static inline const char *wse_dev_path(int index)
{
	static char path[32];

	snprintf(path, sizeof(path), "/dev/wse%d", index);
	return path;
}

static inline int wse_open(int index)
{
	return open(wse_dev_path(index), O_RDWR | O_CLOEXEC);
}

static inline int wse_ioctl(int fd, unsigned long request, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, request, arg);
	} while (ret < 0 && (errno == EINTR || errno == EAGAIN));
	return ret < 0 ? -errno : 0;
}

static inline int wse_ctx_create(int fd, uint32_t *ctx)
{
	struct drm_wse_ctx_create args = { 0 };
	int ret = wse_ioctl(fd, DRM_IOCTL_WSE_CTX_CREATE, &args);

	*ctx = args.handle;
	return ret;
}

static inline int wse_bo_create(int fd, uint64_t size, uint32_t *handle)
{
	struct drm_wse_bo_create args = { .size = size };
	int ret = wse_ioctl(fd, DRM_IOCTL_WSE_BO_CREATE, &args);

	*handle = args.handle;
	return ret;
}

static inline void *wse_bo_mmap(int fd, uint32_t handle, size_t size)
{
	struct drm_wse_bo_mmap_offset args = { .handle = handle };
	void *ptr;

	if (wse_ioctl(fd, DRM_IOCTL_WSE_BO_MMAP_OFFSET, &args))
		return NULL;
	ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)args.offset);
	return ptr == MAP_FAILED ? NULL : ptr;
}

static inline int wse_sram_alloc(int fd, uint64_t size, uint32_t *handle)
{
	struct drm_wse_sram_alloc args = { .size = size };
	int ret = wse_ioctl(fd, DRM_IOCTL_WSE_SRAM_ALLOC, &args);

	*handle = args.handle;
	return ret;
}

/* Maps at *dva when fixed, else returns the chosen address in *dva. */
static inline int wse_map(int fd, uint32_t ctx, uint32_t handle, uint32_t flags,
			  uint64_t size, uint64_t *dva)
{
	struct drm_wse_map args = {
		.ctx = ctx, .flags = flags, .handle = handle, .size = size,
		.dva = (flags & DRM_WSE_MAP_FIXED) ? *dva : 0,
	};
	int ret = wse_ioctl(fd, DRM_IOCTL_WSE_MAP, &args);

	if (!ret)
		*dva = args.dva;
	return ret;
}

static inline int wse_submit_nop(int fd, uint32_t ctx, uint32_t queue, uint64_t *job)
{
	struct drm_wse_submit args = {
		.ctx = ctx, .flags = DRM_WSE_SUBMIT_NOP, .queue = queue,
	};
	int ret = wse_ioctl(fd, DRM_IOCTL_WSE_SUBMIT, &args);

	*job = args.job_id;
	return ret;
}

/* Returns -errno of WAIT, or the job's DRM_WSE_STATUS_* (>= 0). */
static inline int wse_wait(int fd, uint64_t job, uint64_t timeout_ns)
{
	struct drm_wse_wait args = { .job_id = job, .timeout_ns = timeout_ns };
	int ret = wse_ioctl(fd, DRM_IOCTL_WSE_WAIT, &args);

	return ret ? ret : (int)args.status;
}

#define WSE_WAIT_LONG (30ull * 1000 * 1000 * 1000)

/* A context with a stream BO (mapped read-only) to run COPY jobs from. */
struct wse_copier {
	int fd;
	uint32_t ctx;
	uint32_t stream;
	uint64_t stream_dva;
	struct wse_hw_op_copy *ops;
};

static inline int wse_copier_init(struct wse_copier *c, int fd)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	ret = wse_ctx_create(fd, &c->ctx);
	if (!ret)
		ret = wse_bo_create(fd, WSE_PAGE, &c->stream);
	if (!ret)
		ret = wse_map(fd, c->ctx, c->stream, DRM_WSE_MAP_READ, 0, &c->stream_dva);
	if (!ret) {
		c->ops = wse_bo_mmap(fd, c->stream, WSE_PAGE);
		if (!c->ops)
			ret = -ENOMEM;
	}
	return ret;
}

/* The stream's mmap pins the file: unmap it before close() to release it. */
static inline void wse_copier_fini(struct wse_copier *c)
{
	if (c->ops)
		munmap(c->ops, WSE_PAGE);
	c->ops = NULL;
}

/* Submits one COPY of @bytes from @src to @dst (device addresses of c->ctx). */
static inline int wse_copy_submit(struct wse_copier *c, uint64_t src, uint64_t dst,
				  uint64_t bytes, uint32_t queue, uint64_t *job)
{
	struct drm_wse_submit args = {
		.ctx = c->ctx, .queue = queue, .stream_handle = c->stream,
		.stream_length = sizeof(struct wse_hw_op_copy),
	};
	struct wse_hw_op_copy op = {
		.hdr = { .op = WSE_OP_COPY, .length = sizeof(op) },
		.src = src, .dst = dst, .bytes = bytes,
	};
	int ret;

	c->ops[0] = op;
	ret = wse_ioctl(c->fd, DRM_IOCTL_WSE_SUBMIT, &args);
	*job = args.job_id;
	return ret;
}

/* Runs a COPY to completion: the job's status, or -errno. */
static inline int wse_copy(struct wse_copier *c, uint64_t src, uint64_t dst, uint64_t bytes)
{
	uint64_t job;
	int ret = wse_copy_submit(c, src, dst, bytes, DRM_WSE_QUEUE_DEFAULT, &job);

	return ret ? ret : wse_wait(c->fd, job, WSE_WAIT_LONG);
}

static inline int wse_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static inline long long wse_read_sysfs_number(int fd, const char *attr)
{
	char path[256], buf[64] = "";
	struct stat st;
	FILE *f;

	if (fstat(fd, &st))
		return -1;
	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/device/wse/%s",
		 major(st.st_rdev), minor(st.st_rdev), attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return atoll(buf);
}

#endif /* WSE_KSELFTEST_UTIL_H */
