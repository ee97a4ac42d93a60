/* SPDX-License-Identifier: MIT */
/*
 * job.c - jobs: submitting streams through per-context staging buffers,
 * waiting, status, fault injection and reset; and wse_stream_create_for(),
 * where a stream takes the limits of the device its jobs will run on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xf86drm.h>

#include "libwse/internal.h"
#include "uapi/wse_accel.h"

/* Longest single WAIT ioctl; WSE_WAIT_FOREVER loops over these. */
#define WAIT_SLICE_NS		(10ull * 1000000000ull)

static int job_done_or_gone(wse_device *dev, uint64_t job)
{
	struct drm_wse_job_status st = { .job_id = job };

	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_JOB_STATUS, &st))
		return errno == ENOENT;	/* no longer retained: long finished */
	return st.state == DRM_WSE_JOB_DONE;
}

static int do_submit(wse_ctx *ctx, uint32_t flags, uint32_t queue, wse_bo *stream_bo,
		     uint64_t offset, uint32_t length, uint64_t *job_id)
{
	wse_device *dev = ctx->dev;
	struct drm_wse_submit sub = { 0 };
	uint32_t *handles = NULL;
	unsigned i, j, n = 0;
	int err;

	pthread_mutex_lock(&dev->lock);
	handles = malloc((ctx->num_maps + 1) * sizeof(*handles));
	if (!handles) {
		pthread_mutex_unlock(&dev->lock);
		return wse__fail(dev, -ENOMEM, "out of memory");
	}
	if (stream_bo)
		handles[n++] = stream_bo->handle;
	for (i = 0; i < ctx->num_maps; i++) {
		wse_bo *bo = ctx->maps[i].bo;

		if (!bo || bo->internal)
			continue;
		for (j = 0; j < n && handles[j] != bo->handle; j++)
			;
		if (j == n)
			handles[n++] = bo->handle;
	}
	pthread_mutex_unlock(&dev->lock);
	if (dev->info.max_bo_handles && n > dev->info.max_bo_handles) {
		free(handles);
		return wse__fail(dev, -E2BIG,
				 "submit: %u buffers are mapped in the context; a job lists at most %u",
				 n, dev->info.max_bo_handles);
	}
	sub.ctx = ctx->handle;
	sub.flags = flags;
	sub.queue = queue;
	sub.stream_handle = stream_bo ? stream_bo->handle : 0;
	sub.stream_offset = offset;
	sub.stream_length = length;
	sub.bo_count = n;
	sub.bo_handles = (uintptr_t)handles;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_SUBMIT, &sub)) {
		err = wse__neg_errno();
		free(handles);
		return wse__fail(dev, err, "SUBMIT failed: %s", wse_strerror(err));
	}
	free(handles);
	*job_id = sub.job_id;
	return 0;
}

int wse_submit_nop(wse_ctx *ctx, uint32_t queue, uint64_t *job_id)
{
	if (!ctx)
		return -EINVAL;
	if (!job_id)
		return wse__fail(ctx->dev, -EINVAL, "submit: job_id is NULL");
	return do_submit(ctx, DRM_WSE_SUBMIT_NOP, queue, NULL, 0, 0, job_id);
}

int wse_submit_raw(wse_ctx *ctx, wse_bo *bo, uint64_t offset, uint32_t length, uint32_t queue,
		   uint64_t *job_id)
{
	if (!ctx)
		return -EINVAL;
	if (!bo || !job_id || bo->dev != ctx->dev)
		return wse__fail(ctx->dev, -EINVAL, "submit_raw: bad buffer or job_id");
	if (length == 0 || (length | offset) % 8)
		return wse__fail(ctx->dev, -EINVAL,
				 "submit_raw: offset and length must be multiples of 8, length > 0");
	return do_submit(ctx, 0, queue, bo, offset, length, job_id);
}

/* A staging slot big enough for length bytes, marked busy; NULL with the error in *err. */
static struct wse_staging *staging_get(wse_ctx *ctx, size_t length, int *err)
{
	wse_device *dev = ctx->dev;
	struct wse_staging *slot = NULL, *oldest = NULL;
	uint64_t size = WSE_STAGING_MIN, dva = 0;
	wse_bo *bo;
	void *ptr;
	int i;

	while (size < length)
		size *= 2;
	for (;;) {
		pthread_mutex_lock(&dev->lock);
		for (i = 0; i < WSE_STAGING_SLOTS && !slot; i++) {
			struct wse_staging *st = &ctx->staging[i];

			if (st->last_job == STAGING_BUSY)
				continue;
			if (!st->bo) {
				slot = st;
			} else if (st->bo->size >= length &&
				   (st->last_job == 0 || job_done_or_gone(dev, st->last_job))) {
				slot = st;
			} else if (!oldest || st->last_job < oldest->last_job) {
				oldest = st;
			}
		}
		if (slot)
			slot->last_job = STAGING_BUSY;
		pthread_mutex_unlock(&dev->lock);
		if (slot)
			break;
		if (!oldest) {
			*err = wse__fail(dev, -EBUSY, "submit: every staging buffer is being filled");
			return NULL;
		}
		/* All slots carry running jobs: wait for the oldest, then retry. */
		wse_wait(dev, oldest->last_job, WSE_WAIT_FOREVER, NULL);
		if (oldest->bo->size < length) {
			pthread_mutex_lock(&dev->lock);
			if (oldest->last_job != STAGING_BUSY) {
				oldest->last_job = STAGING_BUSY;
				slot = oldest;
			}
			pthread_mutex_unlock(&dev->lock);
			if (slot) {
				wse_unmap(ctx, slot->dva);
				wse_bo_free(slot->bo);
				slot->bo = NULL;
				break;
			}
		}
		oldest = NULL;
	}
	if (slot->bo)
		return slot;

	*err = wse_bo_create(dev, size, &bo);
	if (*err)
		goto fail;
	bo->internal = 1;
	*err = wse_bo_map(bo, &ptr);
	if (!*err)
		*err = wse_map_bo(ctx, bo, 0, 0, WSE_ACCESS_READ, &dva);
	if (*err) {
		wse_bo_free(bo);
		goto fail;
	}
	slot->bo = bo;
	slot->dva = dva;
	return slot;
fail:
	pthread_mutex_lock(&dev->lock);
	slot->last_job = 0;
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

int wse_submit(wse_ctx *ctx, const wse_stream *s, uint32_t queue, uint64_t *job_id)
{
	struct wse_staging *slot;
	uint64_t job = 0;
	int err;

	if (!ctx)
		return -EINVAL;
	if (!s || !job_id)
		return wse__fail(ctx->dev, -EINVAL, "submit: %s is NULL", s ? "job_id" : "stream");
	if (s->length == 0)
		return wse__fail(ctx->dev, -EINVAL, "submit: the stream is empty");
	if (ctx->dev->info.max_stream && s->length > ctx->dev->info.max_stream)
		return wse__fail(ctx->dev, -E2BIG, "submit: stream of %zu bytes; the device takes %u",
				 s->length, ctx->dev->info.max_stream);
	slot = staging_get(ctx, s->length, &err);
	if (!slot)
		return err;
	memcpy(slot->bo->ptr, s->data, s->length);
	err = do_submit(ctx, 0, queue, slot->bo, 0, (uint32_t)s->length, &job);
	pthread_mutex_lock(&ctx->dev->lock);
	slot->last_job = err ? 0 : job;
	pthread_mutex_unlock(&ctx->dev->lock);
	if (!err)
		*job_id = job;
	return err;
}

static int fill_status(wse_device *dev, uint64_t job, struct wse_job_result *r)
{
	struct drm_wse_job_status st = { .job_id = job };

	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_JOB_STATUS, &st))
		return wse__neg_errno();
	r->state = wse__job_state_from_uapi(st.state);
	r->status = wse__status_from_uapi(st.status);
	r->op_index = st.op_index;
	r->queue = st.queue;
	r->cycles = st.cycles;
	r->submit_ns = st.submit_ns;
	r->done_ns = st.done_ns;
	return 0;
}

int wse_job_status(wse_device *dev, uint64_t job_id, struct wse_job_result *result)
{
	struct wse_job_result r = { 0 };
	int err;

	if (!dev)
		return -EINVAL;
	if (!result)
		return wse__fail(dev, -EINVAL, "job_status: result is NULL");
	err = fill_status(dev, job_id, &r);
	if (err)
		return wse__fail(dev, err, "JOB_STATUS of job %llu failed: %s",
				 (unsigned long long)job_id, wse_strerror(err));
	*result = r;
	return 0;
}

int wse_wait(wse_device *dev, uint64_t job_id, uint64_t timeout_ns, struct wse_job_result *result)
{
	struct drm_wse_wait w = { 0 };
	struct wse_job_result r = { 0 };
	uint64_t left = timeout_ns;
	int err;

	if (!dev)
		return -EINVAL;
	for (;;) {
		w.job_id = job_id;
		w.timeout_ns = left > WAIT_SLICE_NS ? WAIT_SLICE_NS : left;
		w.flags = 0;
		if (drmIoctl(dev->fd, DRM_IOCTL_WSE_WAIT, &w) == 0)
			break;
		err = wse__neg_errno();
		if (err == -ETIME || err == -ETIMEDOUT || err == -EBUSY || err == -EAGAIN) {
			if (timeout_ns == WSE_WAIT_FOREVER || left > WAIT_SLICE_NS) {
				if (timeout_ns != WSE_WAIT_FOREVER)
					left -= WAIT_SLICE_NS;
				continue;
			}
			return wse__fail(dev, -ETIMEDOUT, "job %llu still running after %llu ns",
					 (unsigned long long)job_id, (unsigned long long)timeout_ns);
		}
		return wse__fail(dev, err, "WAIT for job %llu failed: %s",
				 (unsigned long long)job_id, wse_strerror(err));
	}
	r.state = WSE_JOB_STATE_DONE;
	r.status = wse__status_from_uapi(w.status);
	r.cycles = w.cycles;
	if (result || r.status != WSE_JOB_OK)
		fill_status(dev, job_id, &r);	/* op_index, queue, times; best effort */
	if (result)
		*result = r;
	if (r.status != WSE_JOB_OK)
		return wse__fail(dev, -EIO, "job %llu failed: %s (status %u) at op %u",
				 (unsigned long long)job_id, wse_status_str(r.status), w.status,
				 r.op_index);
	return 0;
}

/* ---- debug and recovery ------------------------------------------------------------ */

int wse_fault_inject(wse_device *dev, uint32_t mode, uint32_t queue)
{
	struct drm_wse_fault_inject f = { .queue = queue };
	int err;

	if (!dev)
		return -EINVAL;
	if (wse__inject_to_uapi(mode, &f.mode))
		return wse__fail(dev, -EINVAL, "fault_inject: unknown mode %u (WSE_INJECT_*)", mode);
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_FAULT_INJECT, &f)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "FAULT_INJECT mode %u on queue %u failed: %s%s", mode,
				 queue, wse_strerror(err),
				 err == -EPERM ? " (needs CAP_SYS_ADMIN)" : "");
	}
	return 0;
}

int wse_reset(wse_device *dev, uint32_t kind, uint32_t queue)
{
	struct drm_wse_reset rs = { .queue = queue };
	int err;

	if (!dev)
		return -EINVAL;
	if (wse__reset_to_uapi(kind, &rs.kind))
		return wse__fail(dev, -EINVAL, "reset: unknown kind %u (WSE_RESET_*)", kind);
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_RESET, &rs)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "RESET (%s) failed: %s%s",
				 kind == WSE_RESET_DEVICE ? "device" : "queue", wse_strerror(err),
				 err == -EPERM ? " (needs CAP_SYS_ADMIN)" : "");
	}
	return 0;
}

int wse_stream_create_for(wse_device *dev, wse_stream **out)
{
	wse_stream *s;
	int err;

	if (!dev)
		return -EINVAL;
	err = wse_stream_create(dev->info.max_stream, &s);
	if (err)
		return wse__fail(dev, err, "stream_create: %s", wse_strerror(err));
	err = wse_stream_set_limits(s, dev->info.grid_width, dev->info.grid_height,
				    dev->info.caps, 0);
	if (err) {
		wse__fail(dev, err, "stream_create: %s", wse_stream_last_error(s));
		wse_stream_destroy(s);
		return err;
	}
	*out = s;
	return 0;
}
