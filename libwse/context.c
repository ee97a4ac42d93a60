/* SPDX-License-Identifier: MIT */
/*
 * context.c - device address spaces: contexts, the SRAM allocations and
 * host buffers mapped into them, and the mapping list that wse_submit()
 * turns into a job's buffer list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <xf86drm.h>

#include "libwse/internal.h"
#include "uapi/wse_accel.h"


int wse_sram_alloc(wse_device *dev, uint64_t size, uint64_t alignment, wse_sram **out)
{
	struct drm_wse_sram_alloc a = { .size = size, .alignment = alignment };
	wse_sram *sram;
	int err;

	if (!dev)
		return -EINVAL;
	if (!out || size == 0)
		return wse__fail(dev, -EINVAL, "sram_alloc: %s", out ? "size is 0" : "out is NULL");
	if (alignment && (alignment < DRM_WSE_PAGE_SIZE || (alignment & (alignment - 1))))
		return wse__fail(dev, -EINVAL,
				 "sram_alloc: alignment %llu is not a power of two >= 4096",
				 (unsigned long long)alignment);
	if (size > UINT64_MAX - (DRM_WSE_PAGE_SIZE - 1))
		return wse__fail(dev, -EOVERFLOW, "sram_alloc: size overflows");
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_SRAM_ALLOC, &a)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "SRAM_ALLOC of %llu bytes failed: %s",
				 (unsigned long long)size, wse_strerror(err));
	}
	sram = calloc(1, sizeof(*sram));
	if (!sram) {
		struct drm_wse_sram_free f = { .handle = a.handle };

		drmIoctl(dev->fd, DRM_IOCTL_WSE_SRAM_FREE, &f);
		return wse__fail(dev, -ENOMEM, "out of memory");
	}
	sram->dev = dev;
	sram->handle = a.handle;
	sram->size = (size + DRM_WSE_PAGE_SIZE - 1) & ~(DRM_WSE_PAGE_SIZE - 1);
	pthread_mutex_lock(&dev->lock);
	wse__link_add(&dev->srams, &sram->link);
	pthread_mutex_unlock(&dev->lock);
	*out = sram;
	return 0;
}

uint64_t wse_sram_size(const wse_sram *sram)
{
	return sram ? sram->size : 0;
}

void wse__sram_release(wse_sram *sram)
{
	struct drm_wse_sram_free f = { .handle = sram->handle };

	drmIoctl(sram->dev->fd, DRM_IOCTL_WSE_SRAM_FREE, &f);
	free(sram);
}

void wse_sram_free(wse_sram *sram)
{
	wse_device *dev;

	if (!sram)
		return;
	dev = sram->dev;
	pthread_mutex_lock(&dev->lock);
	if (sram->mappings) {
		snprintf(dev->errmsg, sizeof(dev->errmsg),
			 "sram_free: allocation still mapped in %u context mapping(s); not freed",
			 sram->mappings);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	wse__link_del(&sram->link);
	pthread_mutex_unlock(&dev->lock);
	wse__sram_release(sram);
}

/* ---- contexts and mappings ----------------------------------------------------- */

int wse_ctx_create(wse_device *dev, wse_ctx **out)
{
	struct drm_wse_ctx_create c = { 0 };
	wse_ctx *ctx;
	int err;

	if (!dev)
		return -EINVAL;
	if (!out)
		return wse__fail(dev, -EINVAL, "ctx_create: out is NULL");
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_CTX_CREATE, &c)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "CTX_CREATE failed: %s%s", wse_strerror(err),
				 err == -ENOSPC ? " (the device holds no more contexts)" : "");
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		struct drm_wse_ctx_destroy d = { .handle = c.handle };

		drmIoctl(dev->fd, DRM_IOCTL_WSE_CTX_DESTROY, &d);
		return wse__fail(dev, -ENOMEM, "out of memory");
	}
	ctx->dev = dev;
	ctx->handle = c.handle;
	ctx->queue = c.queue;
	pthread_mutex_lock(&dev->lock);
	wse__link_add(&dev->ctxs, &ctx->link);
	pthread_mutex_unlock(&dev->lock);
	*out = ctx;
	return 0;
}

/* Called with dev->lock held. */
static int map_record(wse_ctx *ctx, uint64_t dva, wse_bo *bo, wse_sram *sram)
{
	if (ctx->num_maps == ctx->cap_maps) {
		unsigned cap = ctx->cap_maps ? 2 * ctx->cap_maps : 16;
		struct wse_mapping *m = realloc(ctx->maps, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		ctx->maps = m;
		ctx->cap_maps = cap;
	}
	ctx->maps[ctx->num_maps++] = (struct wse_mapping){ .dva = dva, .bo = bo, .sram = sram };
	if (bo)
		bo->mappings++;
	else
		sram->mappings++;
	return 0;
}

static int do_map(wse_ctx *ctx, wse_bo *bo, wse_sram *sram, uint64_t offset, uint64_t size,
		  uint32_t flags, uint64_t *dva)
{
	wse_device *dev = ctx->dev;
	struct drm_wse_map m = { 0 };
	int err;

	if (flags & ~(uint32_t)(WSE_ACCESS_RW | WSE_MAP_FIXED))
		return wse__fail(dev, -EINVAL, "map: unknown flags 0x%x", flags);
	if (!(flags & WSE_ACCESS_RW))
		return wse__fail(dev, -EINVAL, "map: needs WSE_ACCESS_READ and/or WSE_ACCESS_WRITE");
	if (!dva)
		return wse__fail(dev, -EINVAL, "map: dva is NULL");
	if ((offset | size) & (DRM_WSE_PAGE_SIZE - 1))
		return wse__fail(dev, -EINVAL, "map: offset and size must be multiples of 4096");
	m.ctx = ctx->handle;
	m.flags = wse__map_flags_to_uapi(flags) | (sram ? DRM_WSE_MAP_SRAM : 0);
	m.handle = bo ? bo->handle : sram->handle;
	m.offset = offset;
	m.size = size;
	if (flags & WSE_MAP_FIXED)
		m.dva = *dva;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_MAP, &m)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "MAP of %s handle %u (offset %llu, size %llu) failed: %s",
				 sram ? "SRAM" : "buffer", m.handle, (unsigned long long)offset,
				 (unsigned long long)size, wse_strerror(err));
	}
	pthread_mutex_lock(&dev->lock);
	err = map_record(ctx, m.dva, bo, sram);
	pthread_mutex_unlock(&dev->lock);
	if (err) {
		struct drm_wse_unmap u = { .ctx = ctx->handle, .dva = m.dva };

		drmIoctl(dev->fd, DRM_IOCTL_WSE_UNMAP, &u);
		return wse__fail(dev, err, "out of memory");
	}
	*dva = m.dva;
	return 0;
}

int wse_map_bo(wse_ctx *ctx, wse_bo *bo, uint64_t offset, uint64_t size, uint32_t flags,
	       uint64_t *dva)
{
	if (!ctx)
		return -EINVAL;
	if (!bo || bo->dev != ctx->dev)
		return wse__fail(ctx->dev, -EINVAL, "map_bo: %s",
				 bo ? "buffer belongs to another device handle" : "bo is NULL");
	return do_map(ctx, bo, NULL, offset, size, flags, dva);
}

int wse_map_sram(wse_ctx *ctx, wse_sram *sram, uint64_t offset, uint64_t size,
		 uint32_t flags, uint64_t *dva)
{
	if (!ctx)
		return -EINVAL;
	if (!sram || sram->dev != ctx->dev)
		return wse__fail(ctx->dev, -EINVAL, "map_sram: %s",
				 sram ? "allocation belongs to another device handle"
				      : "sram is NULL");
	return do_map(ctx, NULL, sram, offset, size, flags, dva);
}

int wse_unmap(wse_ctx *ctx, uint64_t dva)
{
	struct drm_wse_unmap u = { 0 };
	wse_device *dev;
	unsigned i;
	int err;

	if (!ctx)
		return -EINVAL;
	dev = ctx->dev;
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < ctx->num_maps && ctx->maps[i].dva != dva; i++)
		;
	pthread_mutex_unlock(&dev->lock);
	if (i == ctx->num_maps)
		return wse__fail(dev, -ENOENT, "unmap: no mapping starts at 0x%llx",
				 (unsigned long long)dva);
	u.ctx = ctx->handle;
	u.dva = dva;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_UNMAP, &u)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "UNMAP of 0x%llx failed: %s", (unsigned long long)dva,
				 wse_strerror(err));
	}
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < ctx->num_maps; i++) {
		if (ctx->maps[i].dva != dva)
			continue;
		if (ctx->maps[i].bo)
			ctx->maps[i].bo->mappings--;
		else
			ctx->maps[i].sram->mappings--;
		ctx->maps[i] = ctx->maps[--ctx->num_maps];
		break;
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* Destroying the kernel context drops its mappings; the list only needs its counts undone. */
void wse__ctx_release(wse_ctx *ctx)
{
	wse_device *dev = ctx->dev;
	struct drm_wse_ctx_destroy d = { .handle = ctx->handle };
	unsigned i;

	drmIoctl(dev->fd, DRM_IOCTL_WSE_CTX_DESTROY, &d);
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < ctx->num_maps; i++) {
		if (ctx->maps[i].bo)
			ctx->maps[i].bo->mappings--;
		else
			ctx->maps[i].sram->mappings--;
	}
	ctx->num_maps = 0;
	pthread_mutex_unlock(&dev->lock);
	for (i = 0; i < WSE_STAGING_SLOTS; i++)
		if (ctx->staging[i].bo)
			wse_bo_free(ctx->staging[i].bo);
	free(ctx->maps);
	free(ctx);
}

void wse_ctx_destroy(wse_ctx *ctx)
{
	if (!ctx)
		return;
	pthread_mutex_lock(&ctx->dev->lock);
	wse__link_del(&ctx->link);
	pthread_mutex_unlock(&ctx->dev->lock);
	wse__ctx_release(ctx);
}

int wse_ctx_query(wse_ctx *ctx, struct wse_ctx_info *info)
{
	struct drm_wse_ctx_info q = { 0 };
	int err;

	if (!ctx || !info)
		return -EINVAL;
	q.handle = ctx->handle;
	if (drmIoctl(ctx->dev->fd, DRM_IOCTL_WSE_CTX_INFO, &q)) {
		err = wse__neg_errno();
		return wse__fail(ctx->dev, err, "CTX_INFO failed: %s", wse_strerror(err));
	}
	info->queue = q.queue;
	info->num_maps = q.num_maps;
	info->jobs_done = q.jobs_done;
	info->faults = q.faults;
	info->last_fault_dva = q.last_fault_dva;
	info->last_fault_status = wse__status_from_uapi(q.last_fault_status);
	return 0;
}
