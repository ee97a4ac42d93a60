// SPDX-License-Identifier: GPL-2.0-only
/*
 * Jobs: SUBMIT checks everything a user passes, takes references on the
 * context and every buffer the job names and puts the command into the
 * hardware ring; the references are dropped when the job completes, times
 * out or is aborted. Results stay for WAIT and JOB_STATUS until the file
 * closes or more than WSE_RETAINED_JOBS finished jobs pile up.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <drm/drm_drv.h>
#include <drm/drm_print.h>

#include "wse_drv.h"

static void wse_job_drop_objects(struct wse_job *job)
{
	u32 i;

	if (job->bos) {
		for (i = 0; i < job->bo_count; i++) {
			if (job->bos[i])
				drm_gem_object_put(job->bos[i]);
		}
		kvfree(job->bos);
		job->bos = NULL;
	}
	if (job->stream) {
		drm_gem_object_put(job->stream);
		job->stream = NULL;
	}
}

static void wse_job_release(struct kref *ref)
{
	struct wse_job *job = container_of(ref, struct wse_job, ref);

	wse_job_drop_objects(job);
	if (job->ctx)
		wse_ctx_put(job->ctx);
	if (job->usage)
		wse_file_usage_put(job->usage);
	kfree(job);
}

void wse_job_put(struct wse_job *job)
{
	kref_put(&job->ref, wse_job_release);
}

/*
 * Charges the job's device time to its file. The device runs one command at
 * a time, so a job ran from its submission or from the previous job's end,
 * whichever came later, until it was seen done.
 */
static void wse_job_account(struct wse_device *wdev, struct wse_job *job)
{
	s64 done = ktime_to_ns(job->done_time);
	s64 start = max_t(s64, ktime_to_ns(job->submit_time),
			  atomic64_xchg(&wdev->busy_until_ns, done));

	if (done > start)
		atomic64_add(done - start, &job->usage->busy_ns);
	atomic64_add(job->cycles, &job->usage->cycles);
	atomic64_add(job->cycles, &wdev->cycles);
}

/* Ends a job that has left its queue; drops the queue's reference. */
void wse_job_finish(struct wse_job *job, u32 status, u32 op_index, u64 cycles)
{
	struct wse_ctx *ctx = job->ctx;

	job->status = status;
	job->op_index = op_index;
	job->cycles = cycles;
	job->done_time = ktime_get();
	wse_job_account(ctx->wdev, job);
	atomic64_inc(&ctx->jobs_done);
	atomic64_inc(&ctx->wdev->jobs_done);
	atomic_dec(&ctx->inflight);
	complete_all(&job->done);

	wse_job_drop_objects(job);
	job->ctx = NULL;
	wse_ctx_put(ctx);
	wse_job_put(job);
}

static int wse_submit_check(struct wse_device *wdev, const struct drm_wse_submit *args)
{
	struct drm_device *drm = &wdev->drm;

	if (args->flags & ~DRM_WSE_SUBMIT_NOP) {
		drm_dbg(drm, "submit: unknown flags %#x\n", args->flags);
		return -EINVAL;
	}
	if (args->queue != DRM_WSE_QUEUE_DEFAULT && args->queue >= wdev->num_queues) {
		drm_dbg(drm, "submit: queue %u of %u\n", args->queue, wdev->num_queues);
		return -EINVAL;
	}
	if (args->bo_count > WSE_MAX_BO_HANDLES) {
		drm_dbg(drm, "submit: bo_count %u exceeds %u\n", args->bo_count,
			WSE_MAX_BO_HANDLES);
		return -E2BIG;
	}
	if (args->bo_count && !args->bo_handles) {
		drm_dbg(drm, "submit: bo_count %u without bo_handles\n", args->bo_count);
		return -EFAULT;
	}
	if (args->flags & DRM_WSE_SUBMIT_NOP) {
		if (args->stream_handle || args->stream_offset || args->stream_length) {
			drm_dbg(drm, "submit: NOP with a stream\n");
			return -EINVAL;
		}
		return 0;
	}
	if (!args->stream_length || !IS_ALIGNED(args->stream_length, 8) ||
	    !IS_ALIGNED(args->stream_offset, 8)) {
		drm_dbg(drm, "submit: stream length %u or offset %#llx not a multiple of 8\n",
			args->stream_length, args->stream_offset);
		return -EINVAL;
	}
	if (args->stream_length > WSE_MAX_STREAM) {
		drm_dbg(drm, "submit: stream length %u exceeds %u\n", args->stream_length,
			WSE_MAX_STREAM);
		return -E2BIG;
	}
	return 0;
}

/* wfile->lock held: forgets the oldest finished jobs beyond the bound. */
static void wse_file_prune_jobs(struct wse_file *wfile)
{
	struct wse_job *job;
	unsigned long index;

	if (wfile->retained < 2 * WSE_RETAINED_JOBS)
		return;
	xa_for_each(&wfile->jobs, index, job) {
		if (wfile->retained <= WSE_RETAINED_JOBS)
			break;
		if (!completion_done(&job->done))
			continue;
		xa_erase(&wfile->jobs, index);
		wfile->retained--;
		wse_job_put(job);
	}
}

int wse_ioctl_submit(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_submit *args = data;
	struct wse_queue *q;
	struct wse_job *job;
	u64 stream_dva = 0, id;
	int ret;

	ret = wse_submit_check(wdev, args);
	if (ret)
		return ret;
	job = kzalloc(sizeof(*job), WSE_GFP_USER);
	if (!job)
		return -ENOMEM;
	kref_init(&job->ref);
	init_completion(&job->done);
	INIT_LIST_HEAD(&job->qnode);
	kref_get(&wfile->usage->ref);
	job->usage = wfile->usage;
	job->ctx = wse_ctx_lookup(wfile, args->ctx);
	if (!job->ctx) {
		ret = -ENOENT;
		goto out_put;
	}
	if (args->bo_count) {
		job->bo_count = args->bo_count;
		ret = drm_gem_objects_lookup(file, u64_to_user_ptr(args->bo_handles),
					     args->bo_count, &job->bos);
		if (ret) {
			drm_dbg(drm, "submit: bo_handles: %d\n", ret);
			goto out_put;
		}
	}
	if (!(args->flags & DRM_WSE_SUBMIT_NOP)) {
		job->stream = drm_gem_object_lookup(file, args->stream_handle);
		if (!job->stream) {
			drm_dbg(drm, "submit: no stream buffer handle %u\n", args->stream_handle);
			ret = -ENOENT;
			goto out_put;
		}
		if (args->stream_offset > job->stream->size ||
		    args->stream_length > job->stream->size - args->stream_offset) {
			drm_dbg(drm, "submit: stream %#llx+%u passes the buffer's end\n",
				args->stream_offset, args->stream_length);
			ret = -EINVAL;
			goto out_put;
		}
	}
	/* From here the job counts as running in its context: see UNMAP. */
	ret = wse_ctx_start_job(job->ctx, job->stream, args->stream_offset,
				args->stream_length, &stream_dva);
	if (ret) {
		drm_dbg(drm, "submit: stream not mapped readable in the context\n");
		ret = -ENXIO;
		goto out_put;
	}
	job->sqe.opcode = cpu_to_le16(args->flags & DRM_WSE_SUBMIT_NOP ?
				      WSE_CMD_NOP : WSE_CMD_EXEC);
	job->sqe.context = cpu_to_le32(job->ctx->hw_id);
	job->sqe.stream_dva = cpu_to_le64(stream_dva);
	job->sqe.stream_len = cpu_to_le32(args->stream_length);
	q = &wdev->queues[args->queue == DRM_WSE_QUEUE_DEFAULT ? job->ctx->queue : args->queue];

	mutex_lock(&wfile->lock);
	wse_file_prune_jobs(wfile);
	job->id = wfile->next_job_id + 1;
	ret = xa_insert(&wfile->jobs, job->id, job, WSE_GFP_USER);
	if (!ret) {
		wfile->next_job_id++;
		wfile->retained++;
	}
	mutex_unlock(&wfile->lock);
	if (ret) {
		atomic_dec(&job->ctx->inflight);
		goto out_put;
	}

	/* One reference for the file's table, one for the queue. */
	id = job->id;
	kref_get(&job->ref);
	job->submit_time = ktime_get();
	ret = wse_queue_submit(q, job);
	if (ret) {
		atomic_dec(&job->ctx->inflight);
		mutex_lock(&wfile->lock);
		xa_erase(&wfile->jobs, id);
		wfile->retained--;
		mutex_unlock(&wfile->lock);
		wse_job_put(job);
		goto out_put;
	}
	args->job_id = id;
	return 0;

out_put:
	wse_job_put(job);
	return ret;
}

/*
 * The job a WAIT or JOB_STATUS names, referenced; NULL with *err set when
 * the ioctl's flags are not 0 or no such job is retained.
 */
static struct wse_job *wse_job_lookup(struct wse_file *wfile, const char *ioctl, u32 flags,
				      u64 id, int *err)
{
	struct drm_device *drm = &wfile->wdev->drm;
	struct wse_job *job;

	if (flags) {
		drm_dbg(drm, "%s: unknown flags %#x\n", ioctl, flags);
		*err = -EINVAL;
		return NULL;
	}
	mutex_lock(&wfile->lock);
	job = xa_load(&wfile->jobs, id);
	if (job)
		kref_get(&job->ref);
	else
		*err = (!id || id > wfile->next_job_id) ? -EINVAL : -ENOENT;
	mutex_unlock(&wfile->lock);
	if (!job)
		drm_dbg(drm, "%s: job %llu %s\n", ioctl, id,
			*err == -EINVAL ? "was never submitted" : "is no longer retained");
	return job;
}

int wse_ioctl_wait(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_wait *args = data;
	struct wse_job *job;
	long left;
	int ret = 0;

	job = wse_job_lookup(wfile, "wait", args->flags, args->job_id, &ret);
	if (!job)
		return ret;
	if (args->timeout_ns) {
		u64 timeout = min_t(u64, nsecs_to_jiffies64(args->timeout_ns),
				    MAX_SCHEDULE_TIMEOUT - 1);

		left = wait_for_completion_interruptible_timeout(&job->done,
								 max_t(u64, timeout, 1));
		if (left < 0)
			ret = left;
	}
	if (!ret && !completion_done(&job->done))
		ret = -ETIME;
	if (!ret) {
		args->status = job->status;
		args->cycles = job->cycles;
	}
	wse_job_put(job);
	return ret;
}

int wse_ioctl_job_status(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_job_status *args = data;
	struct wse_job *job;
	int ret = 0;

	job = wse_job_lookup(wfile, "job_status", args->flags, args->job_id, &ret);
	if (!job)
		return ret;
	args->submit_ns = ktime_to_ns(job->submit_time);
	args->queue = job->queue ? job->queue->index : 0;
	args->pad = 0;
	if (completion_done(&job->done)) {
		args->state = DRM_WSE_JOB_DONE;
		args->status = job->status;
		args->op_index = job->op_index;
		args->cycles = job->cycles;
		args->done_ns = ktime_to_ns(job->done_time);
	} else {
		args->state = DRM_WSE_JOB_PENDING;
		args->status = 0;
		args->op_index = 0;
		args->cycles = 0;
		args->done_ns = 0;
	}
	wse_job_put(job);
	return 0;
}

void wse_file_release_jobs(struct wse_file *wfile)
{
	struct wse_job *job;
	unsigned long index;

	xa_for_each(&wfile->jobs, index, job) {
		xa_erase(&wfile->jobs, index);
		wse_job_put(job);
	}
}
