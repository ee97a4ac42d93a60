/* SPDX-License-Identifier: MIT */
/*
 * buffer.c - host buffers (GEM objects): create, mmap, dma-buf export and
 * import, free. Each buffer is on its device handle's list until it is
 * freed, so that wse_close() can release what the caller left.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <xf86drm.h>

#include "libwse/internal.h"
#include "uapi/wse_accel.h"

static void gem_close(wse_device *dev, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	drmIoctl(dev->fd, DRM_IOCTL_GEM_CLOSE, &c);
}

static int bo_wrap(wse_device *dev, uint32_t handle, uint64_t size, wse_bo **out)
{
	wse_bo *bo = calloc(1, sizeof(*bo));

	if (!bo) {
		gem_close(dev, handle);
		return wse__fail(dev, -ENOMEM, "out of memory");
	}
	bo->dev = dev;
	bo->handle = handle;
	bo->size = size;
	pthread_mutex_lock(&dev->lock);
	wse__link_add(&dev->bos, &bo->link);
	pthread_mutex_unlock(&dev->lock);
	*out = bo;
	return 0;
}

int wse_bo_create(wse_device *dev, uint64_t size, wse_bo **out)
{
	struct drm_wse_bo_create c = { .size = size };
	int err;

	if (!dev)
		return -EINVAL;
	if (!out || size == 0)
		return wse__fail(dev, -EINVAL, "bo_create: %s", out ? "size is 0" : "out is NULL");
	if (size > UINT64_MAX - (DRM_WSE_PAGE_SIZE - 1))
		return wse__fail(dev, -EOVERFLOW, "bo_create: size %llu overflows",
				 (unsigned long long)size);
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_BO_CREATE, &c)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "BO_CREATE of %llu bytes failed: %s",
				 (unsigned long long)size, wse_strerror(err));
	}
	return bo_wrap(dev, c.handle, (size + DRM_WSE_PAGE_SIZE - 1) & ~(DRM_WSE_PAGE_SIZE - 1), out);
}

int wse_bo_map(wse_bo *bo, void **ptr)
{
	struct drm_wse_bo_mmap_offset m = { 0 };
	wse_device *dev;
	void *p;
	int err;

	if (!bo || !ptr)
		return -EINVAL;
	dev = bo->dev;
	pthread_mutex_lock(&dev->lock);
	p = bo->ptr;
	pthread_mutex_unlock(&dev->lock);
	if (p) {
		*ptr = p;
		return 0;
	}
	m.handle = bo->handle;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_BO_MMAP_OFFSET, &m)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "BO_MMAP_OFFSET failed: %s", wse_strerror(err));
	}
	p = mmap(NULL, bo->size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd, (off_t)m.offset);
	if (p == MAP_FAILED) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "mmap of a %llu-byte buffer failed: %s",
				 (unsigned long long)bo->size, wse_strerror(err));
	}
	pthread_mutex_lock(&dev->lock);
	if (bo->ptr) {		/* another thread won the race */
		munmap(p, bo->size);
		p = bo->ptr;
	} else {
		bo->ptr = p;
	}
	pthread_mutex_unlock(&dev->lock);
	*ptr = p;
	return 0;
}

uint64_t wse_bo_size(const wse_bo *bo)
{
	return bo ? bo->size : 0;
}

uint32_t wse_bo_handle(const wse_bo *bo)
{
	return bo ? bo->handle : 0;
}

int wse_bo_export(wse_bo *bo, int *dmabuf_fd)
{
	int fd, err;

	if (!bo || !dmabuf_fd)
		return -EINVAL;
	if (drmPrimeHandleToFD(bo->dev->fd, bo->handle, DRM_CLOEXEC | DRM_RDWR, &fd)) {
		err = wse__neg_errno();
		return wse__fail(bo->dev, err, "dma-buf export failed: %s", wse_strerror(err));
	}
	*dmabuf_fd = fd;
	return 0;
}

int wse_bo_import(wse_device *dev, int dmabuf_fd, wse_bo **out)
{
	struct drm_wse_bo_info info = { 0 };
	uint32_t handle;
	int err;

	if (!dev)
		return -EINVAL;
	if (!out || dmabuf_fd < 0)
		return wse__fail(dev, -EINVAL, "bo_import: %s",
				 out ? "bad dma-buf fd" : "out is NULL");
	if (drmPrimeFDToHandle(dev->fd, dmabuf_fd, &handle)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "dma-buf import failed: %s", wse_strerror(err));
	}
	/* Importing our own export returns a handle we may already wrap. */
	pthread_mutex_lock(&dev->lock);
	for (struct wse_link *l = dev->bos.next; l != &dev->bos; l = l->next) {
		if (WSE_CONTAINER(l, wse_bo, link)->handle == handle) {
			pthread_mutex_unlock(&dev->lock);
			return wse__fail(dev, -EBUSY,
					 "bo_import: the dma-buf is a buffer of this handle already");
		}
	}
	pthread_mutex_unlock(&dev->lock);
	info.handle = handle;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_BO_INFO, &info)) {
		err = wse__neg_errno();
		gem_close(dev, handle);
		return wse__fail(dev, err, "BO_INFO of an imported buffer failed: %s",
				 wse_strerror(err));
	}
	return bo_wrap(dev, handle, info.size, out);
}

void wse__bo_release(wse_bo *bo)
{
	if (bo->ptr)
		munmap(bo->ptr, bo->size);
	gem_close(bo->dev, bo->handle);
	free(bo);
}

void wse_bo_free(wse_bo *bo)
{
	wse_device *dev;

	if (!bo)
		return;
	dev = bo->dev;
	pthread_mutex_lock(&dev->lock);
	if (bo->mappings) {
		/* Freeing it would leave a dangling entry in a context's job list. */
		snprintf(dev->errmsg, sizeof(dev->errmsg),
			 "bo_free: buffer still mapped in %u context mapping(s); not freed",
			 bo->mappings);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	wse__link_del(&bo->link);
	pthread_mutex_unlock(&dev->lock);
	wse__bo_release(bo);
}
