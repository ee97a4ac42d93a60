// SPDX-License-Identifier: GPL-2.0-only
/*
 * Mappings: what puts host buffers and SRAM allocations into a context's
 * device address space. The kernel owns every table the device reads: a
 * context's map table is rebuilt in full on each change and swapped in
 * through WSE_REG_CTX_INVALIDATE, so the device never sees a half-updated
 * table. Host mappings point at a page list or a page tree of DMA
 * addresses. Every entry the device reads is little-endian.
 */
#include <linux/dma-mapping.h>
#include <linux/iopoll.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_print.h>

#include "wse_drv.h"

static bool wse_page_aligned(u64 value)
{
	return IS_ALIGNED(value, WSE_PAGE_SIZE);
}

/*
 * Points the device at a context's new map table and waits until the device
 * has dropped the old one, after which the caller may free it (0). If the
 * device does not confirm that in time, only a device reset makes sure of
 * it; an error means the device may still read the old table.
 */
static int wse_ctx_table_update(struct wse_device *wdev, u32 hw_id, dma_addr_t map_dma,
				u32 map_count, bool valid)
{
	struct wse_hw_ctx *entry = &wdev->ctx_table[hw_id];
	u64 timeout_us = (u64)wse_job_timeout_ms * USEC_PER_MSEC + USEC_PER_SEC;
	int idx, ret = 0;
	u32 val;

	mutex_lock(&wdev->invalidate_lock);
	/*
	 * The device reads the entry for every command, possibly while it
	 * changes. Changing one field at a time, in this order, means that
	 * any mix of old and new fields it might read stays inside a table
	 * that has at least map_count entries.
	 */
	if (!valid)
		WRITE_ONCE(entry->flags, cpu_to_le32(0));
	wmb();	/* invalid before the table goes */
	if (map_count > le32_to_cpu(READ_ONCE(entry->map_count))) {
		WRITE_ONCE(entry->map_dma, cpu_to_le64(map_dma));
		wmb();	/* the larger table is in place before the count grows */
		WRITE_ONCE(entry->map_count, cpu_to_le32(map_count));
	} else {
		WRITE_ONCE(entry->map_count, cpu_to_le32(map_count));
		wmb();	/* the count has shrunk before the smaller table is in place */
		WRITE_ONCE(entry->map_dma, cpu_to_le64(map_dma));
	}
	wmb();	/* the table is in place before the entry is valid */
	if (valid)
		WRITE_ONCE(entry->flags, cpu_to_le32(WSE_CTX_VALID));
	if (drm_dev_enter(&wdev->drm, &idx)) {
		writel(hw_id, wdev->regs + WSE_REG_CTX_INVALIDATE);
		ret = readl_poll_timeout(wdev->regs + WSE_REG_CTX_INVALIDATE, val,
					 val == 0 || val == U32_MAX, 10, timeout_us);
		drm_dev_exit(idx);
	}
	mutex_unlock(&wdev->invalidate_lock);
	if (ret) {
		drm_err(&wdev->drm, "context %u: invalidation timed out, resetting the device\n",
			hw_id);
		ret = wse_device_reset(wdev);
	}
	return ret;
}

static void wse_mapping_free(struct wse_device *wdev, struct wse_mapping *map)
{
	u32 i;

	if (drm_mm_node_allocated(&map->va))
		drm_mm_remove_node(&map->va);
	if (map->flat)
		dma_free_coherent(wdev->drm.dev, map->flat_bytes, map->flat, map->flat_dma);
	for (i = 0; i < map->tree_pages; i++)
		dma_free_coherent(wdev->drm.dev, WSE_PAGE_SIZE, map->tree[i].entries,
				  map->tree[i].dma);
	kvfree(map->tree);
	if (map->obj)
		drm_gem_object_put(map->obj);
	if (map->sram)
		wse_sram_put(map->sram);
	kfree(map);
}

/*
 * Takes a dying context out of the device's context table and frees its
 * mappings. If the device did not confirm that it let go, the table, the
 * page lists and the pages behind them stay allocated and referenced for
 * good rather than becoming someone else's memory.
 */
void wse_ctx_unmap_all(struct wse_ctx *ctx)
{
	struct wse_device *wdev = ctx->wdev;
	struct wse_mapping *map, *tmp;

	if (wse_ctx_table_update(wdev, ctx->hw_id, 0, 0, false)) {
		drm_err(&wdev->drm, "context %u: leaking its mappings, the device may use them\n",
			ctx->hw_id);
		return;
	}
	list_for_each_entry_safe(map, tmp, &ctx->maps, link) {
		list_del(&map->link);
		wse_mapping_free(wdev, map);
	}
	if (ctx->table)
		dma_free_coherent(wdev->drm.dev, ctx->table_bytes, ctx->table, ctx->table_dma);
	drm_mm_takedown(&ctx->va_mm);
}

/*
 * ctx->lock held. Writes the sorted table and swaps it in. -ENOMEM: nothing
 * changed. -EIO: the new table is in place, but the device may still read
 * the old one and whatever it points at, which must then never be freed.
 */
static int wse_ctx_commit(struct wse_ctx *ctx)
{
	struct wse_device *wdev = ctx->wdev;
	struct wse_hw_map *table;
	struct wse_mapping *map;
	dma_addr_t table_dma;
	size_t bytes;
	u32 i = 0;
	int ret;

	bytes = max_t(size_t, ctx->num_maps, 1) * sizeof(*table);
	table = dma_alloc_coherent(wdev->drm.dev, bytes, &table_dma, WSE_GFP_USER);
	if (!table)
		return -ENOMEM;
	list_for_each_entry(map, &ctx->maps, link) {
		u64 target = map->sram ? map->sram->node.start + map->obj_offset : map->target;

		table[i].dva = cpu_to_le64(map->va.start);
		table[i].size = cpu_to_le64(map->va.size);
		table[i].target = cpu_to_le64(target);
		table[i].flags = cpu_to_le32(map->flags);
		i++;
	}
	ret = wse_ctx_table_update(wdev, ctx->hw_id, table_dma, ctx->num_maps, true);
	if (ret) {
		/* The device may read either table now: keep both. */
		drm_err(&wdev->drm, "context %u: leaking a map table\n", ctx->hw_id);
		ret = -EIO;
	} else if (ctx->table) {
		dma_free_coherent(wdev->drm.dev, ctx->table_bytes, ctx->table, ctx->table_dma);
	}
	ctx->table = table;
	ctx->table_dma = table_dma;
	ctx->table_bytes = bytes;
	return ret;
}

/*
 * The largest flat page list, one allocation of the page allocator's
 * largest order (4 MiB: 2 GiB mappings). Only a device without page trees
 * needs one of more than a page.
 */
#define WSE_FLAT_LIST_MAX	(PAGE_SIZE << MAX_PAGE_ORDER)

static bool wse_has_trees(struct wse_device *wdev)
{
	return wdev->caps & WSE_HW_CAP_MAP_TREE;
}

/* Whether a host mapping of @npages pages can have a page list at all. */
static int wse_check_page_list(struct wse_device *wdev, u64 npages)
{
	if (!wse_has_trees(wdev) && npages > WSE_FLAT_LIST_MAX / sizeof(__le64)) {
		drm_dbg(&wdev->drm, "map: %llu pages need page trees, which the device lacks\n",
			npages);
		return -E2BIG;
	}
	return 0;
}

/*
 * Allocates a page tree (see WSE_HW_MAP_TREE in wse/hw_device.h) of single pages,
 * whatever its size: the tables of level 0 first, then each level above,
 * the root last, each entry above level 0 pointing at a table below.
 */
static int wse_tree_alloc(struct wse_device *wdev, struct wse_mapping *map, u64 npages)
{
	u32 levels = wse_hw_tree_levels(npages), level;
	u64 tables = 0, count = npages, first = 0, i;

	for (level = 0; level < levels; level++) {
		count = DIV_ROUND_UP(count, WSE_TREE_ENTRIES);
		tables += count;
	}
	map->tree = kvcalloc(tables, sizeof(*map->tree), WSE_GFP_USER);
	if (!map->tree)
		return -ENOMEM;
	for (i = 0; i < tables; i++) {
		struct wse_pt_page *pt = &map->tree[i];

		pt->entries = dma_alloc_coherent(wdev->drm.dev, WSE_PAGE_SIZE, &pt->dma,
						 WSE_GFP_USER);
		if (!pt->entries)
			return -ENOMEM;
		map->tree_pages++;
	}
	count = DIV_ROUND_UP(npages, WSE_TREE_ENTRIES);
	for (level = 1; level < levels; level++) {
		u64 above = first + count;

		for (i = 0; i < count; i++)
			map->tree[above + i / WSE_TREE_ENTRIES].entries[i % WSE_TREE_ENTRIES] =
				cpu_to_le64(map->tree[first + i].dma);
		first = above;
		count = DIV_ROUND_UP(count, WSE_TREE_ENTRIES);
	}
	map->target = map->tree[tables - 1].dma;
	map->flags |= WSE_HW_MAP_TREE;
	return 0;
}

static __le64 *wse_page_entry(struct wse_mapping *map, u64 page)
{
	if (map->tree)
		return &map->tree[page / WSE_TREE_ENTRIES].entries[page % WSE_TREE_ENTRIES];
	return &map->flat[page];
}

/* Fills a host mapping's page list or tree: one DMA address per 4 KiB page. */
static int wse_mapping_fill_pages(struct wse_device *wdev, struct wse_mapping *map,
				  struct sg_table *sgt, u64 offset, u64 size)
{
	u64 npages = size >> WSE_PAGE_SHIFT, skip = offset >> WSE_PAGE_SHIFT, n = 0;
	struct scatterlist *sg;
	unsigned int i;
	int ret;

	if (wse_has_trees(wdev)) {
		ret = wse_tree_alloc(wdev, map, npages);
		if (ret)
			return ret;
	} else {
		map->flat_bytes = npages * sizeof(__le64);
		map->flat = dma_alloc_coherent(wdev->drm.dev, map->flat_bytes, &map->flat_dma,
					       WSE_GFP_USER);
		if (!map->flat)
			return -ENOMEM;
		map->target = map->flat_dma;
	}
	for_each_sgtable_dma_sg(sgt, sg, i) {
		dma_addr_t addr = sg_dma_address(sg);
		u64 len = sg_dma_len(sg);

		if (!IS_ALIGNED(addr, WSE_PAGE_SIZE) || !IS_ALIGNED(len, WSE_PAGE_SIZE))
			return -EINVAL;
		for (; len && n < npages; addr += WSE_PAGE_SIZE, len -= WSE_PAGE_SIZE) {
			if (skip) {
				skip--;
				continue;
			}
			*wse_page_entry(map, n++) = cpu_to_le64(addr);
		}
		if (n == npages)
			break;
	}
	return n == npages ? 0 : -EINVAL;
}

/* ctx->lock held. */
static void wse_ctx_link(struct wse_ctx *ctx, struct wse_mapping *map)
{
	struct wse_mapping *pos;

	list_for_each_entry(pos, &ctx->maps, link) {
		if (pos->va.start > map->va.start) {
			list_add_tail(&map->link, &pos->link);
			goto linked;
		}
	}
	list_add_tail(&map->link, &ctx->maps);
linked:
	ctx->num_maps++;
}

static int wse_map_target(struct drm_file *file, struct drm_wse_map *args,
			  struct wse_mapping *map, u64 *size)
{
	struct wse_device *wdev = to_wse(file->minor->dev);
	struct wse_file *wfile = file->driver_priv;
	u64 object_size;

	if (args->flags & DRM_WSE_MAP_SRAM) {
		map->sram = wse_sram_lookup(wfile, args->handle);
		if (!map->sram) {
			drm_dbg(&wdev->drm, "map: no SRAM handle %u\n", args->handle);
			return -ENOENT;
		}
		object_size = map->sram->node.size;
		map->flags = WSE_HW_MAP_SRAM;
	} else {
		map->obj = drm_gem_object_lookup(file, args->handle);
		if (!map->obj) {
			drm_dbg(&wdev->drm, "map: no buffer handle %u\n", args->handle);
			return -ENOENT;
		}
		object_size = map->obj->size;
		map->flags = WSE_HW_MAP_HOST;
	}
	map->flags |= wse_map_flags_to_hw(args->flags);
	if (args->offset >= object_size) {
		drm_dbg(&wdev->drm, "map: offset %#llx past object size %#llx\n",
			args->offset, object_size);
		return -EINVAL;
	}
	*size = args->size ? args->size : object_size - args->offset;
	if (*size > object_size - args->offset || !wse_page_aligned(*size)) {
		drm_dbg(&wdev->drm, "map: size %#llx at offset %#llx does not fit the object\n",
			*size, args->offset);
		return -EINVAL;
	}
	map->obj_offset = args->offset;
	if (map->obj) {
		struct sg_table *sgt;
		int ret;

		/* Refused before any page of the object is pinned. */
		ret = wse_check_page_list(wdev, *size >> WSE_PAGE_SHIFT);
		if (ret)
			return ret;
		sgt = drm_gem_shmem_get_pages_sgt(to_drm_gem_shmem_obj(map->obj));
		if (IS_ERR(sgt))
			return PTR_ERR(sgt);
		return wse_mapping_fill_pages(wdev, map, sgt, args->offset, *size);
	}
	return 0;
}

static int wse_map_check(struct drm_device *drm, const struct drm_wse_map *args)
{
	const u32 known = DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE | DRM_WSE_MAP_FIXED |
			  DRM_WSE_MAP_SRAM;

	if ((args->flags & ~known) || args->pad) {
		drm_dbg(drm, "map: unknown flags %#x or pad not 0\n", args->flags);
		return -EINVAL;
	}
	if (!(args->flags & (DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE))) {
		drm_dbg(drm, "map: flags %#x grant neither READ nor WRITE\n", args->flags);
		return -EINVAL;
	}
	if (!wse_page_aligned(args->offset) || !wse_page_aligned(args->size)) {
		drm_dbg(drm, "map: offset %#llx or size %#llx not 4K aligned\n",
			args->offset, args->size);
		return -EINVAL;
	}
	if (args->flags & DRM_WSE_MAP_FIXED) {
		if (!wse_page_aligned(args->dva) || args->dva < WSE_DVA_START) {
			drm_dbg(drm, "map: FIXED dva %#llx not 4K aligned or below %#llx\n",
				args->dva, WSE_DVA_START);
			return -EINVAL;
		}
	} else if (args->dva) {
		drm_dbg(drm, "map: dva %#llx given without FIXED\n", args->dva);
		return -EINVAL;
	}
	return 0;
}

/* ctx->lock held: places @map at the user's DVA or at a free one. */
static int wse_map_place(struct wse_ctx *ctx, const struct drm_wse_map *args,
			 struct wse_mapping *map, u64 size)
{
	struct drm_device *drm = &ctx->wdev->drm;
	u64 end;
	int ret;

	if (!(args->flags & DRM_WSE_MAP_FIXED)) {
		ret = drm_mm_insert_node_in_range(&ctx->va_mm, &map->va, size, WSE_PAGE_SIZE, 0,
						  WSE_DVA_START, WSE_DVA_END,
						  DRM_MM_INSERT_BEST);
		if (ret)
			drm_dbg(drm, "map: no free DVA range of %#llx: %d\n", size, ret);
		return ret;
	}
	if (check_add_overflow(args->dva, size, &end) || end > WSE_DVA_END) {
		drm_dbg(drm, "map: FIXED dva %#llx + %#llx passes %#llx\n",
			args->dva, size, WSE_DVA_END);
		return -EINVAL;
	}
	map->va.start = args->dva;
	map->va.size = size;
	if (drm_mm_reserve_node(&ctx->va_mm, &map->va)) {
		drm_dbg(drm, "map: FIXED dva %#llx overlaps a mapping\n", args->dva);
		return -EEXIST;
	}
	return 0;
}

int wse_ioctl_map(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_map *args = data;
	struct wse_mapping *map;
	struct wse_ctx *ctx;
	u64 size;
	int ret;

	ret = wse_map_check(drm, args);
	if (ret)
		return ret;
	ctx = wse_ctx_lookup(wfile, args->ctx);
	if (!ctx)
		return -ENOENT;
	/* Checked again under the lock; this spares pinning pages in vain. */
	if (READ_ONCE(ctx->num_maps) >= READ_ONCE(wse_max_maps_per_context)) {
		drm_dbg(drm, "map: context holds max_maps_per_context mappings\n");
		ret = -EDQUOT;
		goto out_ctx;
	}
	map = kzalloc(sizeof(*map), WSE_GFP_USER);
	if (!map) {
		ret = -ENOMEM;
		goto out_ctx;
	}
	ret = wse_map_target(file, args, map, &size);
	if (ret)
		goto out_map;

	mutex_lock(&ctx->lock);
	if (ctx->num_maps >= READ_ONCE(wse_max_maps_per_context)) {
		drm_dbg(drm, "map: context holds max_maps_per_context mappings\n");
		ret = -EDQUOT;
		goto out_unlock;
	}
	ret = wse_map_place(ctx, args, map, size);
	if (ret)
		goto out_unlock;
	wse_ctx_link(ctx, map);
	ret = wse_ctx_commit(ctx);
	if (ret == -ENOMEM) {
		list_del(&map->link);
		ctx->num_maps--;
		goto out_unlock;
	}
	/* With -EIO the mapping is in the table nonetheless. */
	args->dva = map->va.start;
	mutex_unlock(&ctx->lock);
	wse_ctx_put(ctx);
	return 0;

out_unlock:
	if (drm_mm_node_allocated(&map->va))
		drm_mm_remove_node(&map->va);
	mutex_unlock(&ctx->lock);
out_map:
	wse_mapping_free(wdev, map);
out_ctx:
	wse_ctx_put(ctx);
	return ret;
}

int wse_ioctl_unmap(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_unmap *args = data;
	struct wse_mapping *map, *found = NULL;
	struct wse_ctx *ctx;
	int ret;

	if (args->pad) {
		drm_dbg(drm, "unmap: pad is not 0\n");
		return -EINVAL;
	}
	ctx = wse_ctx_lookup(wfile, args->ctx);
	if (!ctx)
		return -ENOENT;
	mutex_lock(&ctx->lock);
	list_for_each_entry(map, &ctx->maps, link) {
		if (map->va.start == args->dva) {
			found = map;
			break;
		}
	}
	if (!found) {
		drm_dbg(drm, "unmap: no mapping starts at dva %#llx\n", args->dva);
		ret = -ENOENT;
	} else if (atomic_read(&ctx->inflight)) {
		/* A running job may use the mapping; jobs start under ctx->lock. */
		drm_dbg(drm, "unmap: jobs of the context are running\n");
		ret = -EBUSY;
	} else {
		list_del(&found->link);
		ctx->num_maps--;
		ret = wse_ctx_commit(ctx);
		if (ret == -ENOMEM) {
			wse_ctx_link(ctx, found);
		} else if (ret) {
			/* Gone from the table, but the device may still use it. */
			drm_err(&wdev->drm, "context %u: leaking an unmapped mapping\n",
				ctx->hw_id);
			ret = 0;
		} else {
			wse_mapping_free(wdev, found);
		}
	}
	mutex_unlock(&ctx->lock);
	wse_ctx_put(ctx);
	return ret;
}

/*
 * Counts a job as running in @ctx, so that UNMAP refuses until it ends,
 * and for a job with a stream (@obj) finds the DVA at which @offset of @obj
 * is readable. Both under ctx->lock, so that no UNMAP can slip in between
 * finding the stream and counting the job. -ENOENT: not mapped.
 */
int wse_ctx_start_job(struct wse_ctx *ctx, struct drm_gem_object *obj, u64 offset,
		      u32 length, u64 *dva)
{
	struct wse_mapping *map;
	int ret = 0;

	mutex_lock(&ctx->lock);
	if (obj) {
		ret = -ENOENT;
		list_for_each_entry(map, &ctx->maps, link) {
			u64 at = offset - map->obj_offset;

			if (map->obj != obj || !(map->flags & WSE_HW_MAP_READ))
				continue;
			if (offset < map->obj_offset || at > map->va.size ||
			    length > map->va.size - at)
				continue;
			*dva = map->va.start + at;
			ret = 0;
			break;
		}
	}
	if (!ret)
		atomic_inc(&ctx->inflight);
	mutex_unlock(&ctx->lock);
	return ret;
}
