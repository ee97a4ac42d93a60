// SPDX-License-Identifier: GPL-2.0-only
/*
 * Contexts: the device address spaces a file creates, each with a hardware
 * context id and a queue. What a context maps is wse_map.c's business; a
 * context is freed (its mappings and its id given back) from a work item
 * once the file and every job that used it have let go.
 */
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_print.h>

#include "wse_drv.h"

static void wse_ctx_free_work(struct work_struct *work)
{
	struct wse_ctx *ctx = container_of(work, struct wse_ctx, free_work);
	struct wse_device *wdev = ctx->wdev;

	wse_ctx_unmap_all(ctx);
	/*
	 * Events the device posted for this context are handled (and, the
	 * context being dead, dropped) before its id can go to a new owner,
	 * who would otherwise be told about this context's faults.
	 */
	mutex_lock(&wdev->event_lock);
	wse_events_process(wdev);
	xa_erase(&wdev->contexts, ctx->hw_id);
	mutex_unlock(&wdev->event_lock);

	atomic_dec(&ctx->usage->contexts);
	wse_file_usage_put(ctx->usage);
	mutex_destroy(&ctx->lock);
	kfree(ctx);
	drm_dev_put(&wdev->drm);
}

static void wse_ctx_release(struct kref *ref)
{
	struct wse_ctx *ctx = container_of(ref, struct wse_ctx, ref);

	/* Callers may hold locks the table update needs. */
	queue_work(wse_wq, &ctx->free_work);
}

void wse_ctx_put(struct wse_ctx *ctx)
{
	kref_put(&ctx->ref, wse_ctx_release);
}

struct wse_ctx *wse_ctx_lookup(struct wse_file *wfile, u32 handle)
{
	struct wse_ctx *ctx;

	xa_lock(&wfile->ctxs);
	ctx = xa_load(&wfile->ctxs, handle);
	if (ctx)
		kref_get(&ctx->ref);
	xa_unlock(&wfile->ctxs);
	if (!ctx)
		drm_dbg(&wfile->wdev->drm, "no context handle %u\n", handle);
	return ctx;
}

struct wse_ctx *wse_ctx_get_by_hw_id(struct wse_device *wdev, u32 hw_id)
{
	struct wse_ctx *ctx;

	xa_lock(&wdev->contexts);
	ctx = xa_load(&wdev->contexts, hw_id);
	if (ctx && !kref_get_unless_zero(&ctx->ref))
		ctx = NULL;
	xa_unlock(&wdev->contexts);
	return ctx;
}

int wse_ioctl_ctx_create(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_ctx_create *args = data;
	struct wse_ctx *ctx;
	u32 handle;
	int ret;

	if (args->flags || args->pad) {
		drm_dbg(drm, "ctx_create: flags %#x or pad not 0\n", args->flags);
		return -EINVAL;
	}
	if (atomic_inc_return(&wfile->usage->contexts) > READ_ONCE(wse_max_contexts_per_file)) {
		atomic_dec(&wfile->usage->contexts);
		drm_dbg(drm, "ctx_create: file holds max_contexts_per_file contexts\n");
		return -EDQUOT;
	}
	ctx = kzalloc(sizeof(*ctx), WSE_GFP_USER);
	if (!ctx) {
		atomic_dec(&wfile->usage->contexts);
		return -ENOMEM;
	}
	kref_init(&ctx->ref);
	ctx->wdev = wdev;
	mutex_init(&ctx->lock);
	spin_lock_init(&ctx->fault_lock);
	INIT_LIST_HEAD(&ctx->maps);
	INIT_WORK(&ctx->free_work, wse_ctx_free_work);
	drm_mm_init(&ctx->va_mm, WSE_DVA_START, WSE_DVA_END - WSE_DVA_START);
	ctx->queue = (u32)atomic_inc_return(&wdev->next_queue) % wdev->num_queues;

	/* Device context 0 is never handed out, so a zeroed id is never valid. */
	ret = xa_alloc(&wdev->contexts, &ctx->hw_id, ctx,
		       XA_LIMIT(1, wdev->max_contexts - 1), WSE_GFP_USER);
	if (ret) {
		drm_mm_takedown(&ctx->va_mm);
		kfree(ctx);
		atomic_dec(&wfile->usage->contexts);
		return ret == -EBUSY ? -ENOSPC : ret;
	}
	/* From here the free gives the count back. */
	kref_get(&wfile->usage->ref);
	ctx->usage = wfile->usage;
	drm_dev_get(drm);
	ret = xa_alloc(&wfile->ctxs, &handle, ctx, xa_limit_31b, WSE_GFP_USER);
	if (ret) {
		wse_ctx_put(ctx);
		return ret == -EBUSY ? -ENOSPC : ret;
	}
	args->handle = handle;
	args->queue = ctx->queue;
	return 0;
}

int wse_ioctl_ctx_destroy(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_ctx_destroy *args = data;
	struct wse_ctx *ctx;

	if (args->pad) {
		drm_dbg(drm, "ctx_destroy: pad is not 0\n");
		return -EINVAL;
	}
	ctx = xa_erase(&wfile->ctxs, args->handle);
	if (!ctx) {
		drm_dbg(drm, "ctx_destroy: no context handle %u\n", args->handle);
		return -ENOENT;
	}
	/* Jobs in flight keep the address space until they complete. */
	wse_ctx_put(ctx);
	return 0;
}

int wse_ioctl_ctx_info(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_ctx_info *args = data;
	struct wse_ctx *ctx;

	if (args->flags) {
		drm_dbg(drm, "ctx_info: unknown flags %#x\n", args->flags);
		return -EINVAL;
	}
	ctx = wse_ctx_lookup(wfile, args->handle);
	if (!ctx)
		return -ENOENT;
	mutex_lock(&ctx->lock);
	args->queue = ctx->queue;
	args->num_maps = ctx->num_maps;
	mutex_unlock(&ctx->lock);
	spin_lock(&ctx->fault_lock);
	args->last_fault_dva = ctx->last_fault_dva;
	args->last_fault_status = ctx->last_fault_status;
	spin_unlock(&ctx->fault_lock);
	args->jobs_done = atomic64_read(&ctx->jobs_done);
	args->faults = atomic64_read(&ctx->faults);
	args->pad = 0;
	wse_ctx_put(ctx);
	return 0;
}

void wse_file_release_objects(struct wse_file *wfile)
{
	struct wse_sram *sram;
	struct wse_ctx *ctx;
	unsigned long index;

	xa_for_each(&wfile->ctxs, index, ctx) {
		xa_erase(&wfile->ctxs, index);
		wse_ctx_put(ctx);
	}
	xa_for_each(&wfile->srams, index, sram) {
		xa_erase(&wfile->srams, index);
		wse_sram_put(sram);
	}
}
