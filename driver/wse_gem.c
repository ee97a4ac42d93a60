// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host buffers: GEM shmem objects that user space maps with mmap and the
 * device reaches through a context's host mappings (wse_map.c).
 */
#include <drm/drm_drv.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_print.h>

#include "wse_drv.h"

int wse_ioctl_bo_create(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_wse_bo_create *args = data;
	struct drm_gem_shmem_object *shmem;
	u32 handle;
	int ret;

	if (args->flags) {
		drm_dbg(drm, "bo_create: unknown flags %#x\n", args->flags);
		return -EINVAL;
	}
	if (!args->size) {
		drm_dbg(drm, "bo_create: size is 0\n");
		return -EINVAL;
	}
	if (args->size > WSE_MAX_BO_SIZE) {
		drm_dbg(drm, "bo_create: size %#llx exceeds %#llx\n", args->size, WSE_MAX_BO_SIZE);
		return -E2BIG;
	}
	shmem = drm_gem_shmem_create(drm, round_up(args->size, PAGE_SIZE));
	if (IS_ERR(shmem))
		return PTR_ERR(shmem);
	ret = drm_gem_handle_create(file, &shmem->base, &handle);
	drm_gem_object_put(&shmem->base);
	if (ret)
		return ret;
	args->handle = handle;
	return 0;
}

int wse_ioctl_bo_mmap_offset(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_wse_bo_mmap_offset *args = data;
	struct drm_gem_object *obj;
	int ret;

	if (args->pad) {
		drm_dbg(drm, "bo_mmap_offset: pad is not 0\n");
		return -EINVAL;
	}
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj) {
		drm_dbg(drm, "bo_mmap_offset: no buffer handle %u\n", args->handle);
		return -ENOENT;
	}
	ret = drm_gem_create_mmap_offset(obj);
	if (!ret)
		args->offset = drm_vma_node_offset_addr(&obj->vma_node);
	drm_gem_object_put(obj);
	return ret;
}

int wse_ioctl_bo_info(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_wse_bo_info *args = data;
	struct drm_gem_object *obj;

	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj) {
		drm_dbg(drm, "bo_info: no buffer handle %u\n", args->handle);
		return -ENOENT;
	}
	args->size = obj->size;
	args->flags = obj->import_attach ? DRM_WSE_BO_IMPORTED : 0;
	drm_gem_object_put(obj);
	return 0;
}
