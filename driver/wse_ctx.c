// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-file objects of wse: contexts (device address spaces), host buffers
 * (GEM shmem), SRAM allocations and the mappings that put them into a
 * context. The kernel owns every table the device reads: a context's map
 * table is rebuilt in full on each change and swapped in through
 * WSE_REG_CTX_INVALIDATE, so the device never sees a half-updated table.
 */
#include <linux/dma-mapping.h>
#include <linux/log2.h>
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

/* ---- SRAM allocations ------------------------------------------------- */

/* Adds @amount to a per-file counter unless that passes @limit (0: none). */
static bool wse_charge(atomic64_t *counter, u64 amount, u64 limit)
{
	if (!limit)
		limit = U64_MAX;
	if ((u64)atomic64_add_return(amount, counter) <= limit)
		return true;
	atomic64_sub(amount, counter);
	return false;
}

static void wse_sram_release(struct kref *ref)
{
	struct wse_sram *sram = container_of(ref, struct wse_sram, ref);
	struct wse_device *wdev = sram->wdev;
	u64 size = sram->node.size;

	mutex_lock(&wdev->sram_lock);
	wdev->sram_used -= size;
	drm_mm_remove_node(&sram->node);
	mutex_unlock(&wdev->sram_lock);
	atomic64_sub(size, &sram->usage->sram_bytes);
	wse_file_usage_put(sram->usage);
	kfree(sram);
}

static void wse_sram_put(struct wse_sram *sram)
{
	kref_put(&sram->ref, wse_sram_release);
}

/*
 * Zeroes a fresh allocation on the device so that no file reads what the
 * previous owner left in SRAM. Called with sram_lock held, which also keeps
 * the scrub registers to one user. False if the device is gone.
 */
static bool wse_sram_scrub(struct wse_device *wdev, u64 offset, u64 size)
{
	int idx;

	if (!drm_dev_enter(&wdev->drm, &idx))
		return false;
	writel(lower_32_bits(offset), wdev->regs + WSE_REG_SCRUB_OFFSET_LO);
	writel(upper_32_bits(offset), wdev->regs + WSE_REG_SCRUB_OFFSET_HI);
	writel(lower_32_bits(size), wdev->regs + WSE_REG_SCRUB_LEN_LO);
	writel(upper_32_bits(size), wdev->regs + WSE_REG_SCRUB_LEN_HI);
	writel(WSE_SCRUB_GO, wdev->regs + WSE_REG_SCRUB);
	drm_dev_exit(idx);
	return true;
}

int wse_ioctl_sram_alloc(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_sram_alloc *args = data;
	struct wse_sram *sram;
	u64 size, align;
	u32 handle;
	int ret;

	if (args->flags)
		return -EINVAL;
	align = args->alignment ? args->alignment : WSE_PAGE_SIZE;
	if (!is_power_of_2(align) || align < WSE_PAGE_SIZE || align > wdev->sram_size)
		return -EINVAL;
	if (!args->size)
		return -EINVAL;
	if (args->size > wdev->sram_size)
		return -ENOSPC;
	size = round_up(args->size, WSE_PAGE_SIZE);
	if (!wse_charge(&wfile->usage->sram_bytes, size, READ_ONCE(wse_max_sram_per_file)))
		return -EDQUOT;

	sram = kzalloc(sizeof(*sram), WSE_GFP_USER);
	if (!sram) {
		atomic64_sub(size, &wfile->usage->sram_bytes);
		return -ENOMEM;
	}
	kref_init(&sram->ref);
	sram->wdev = wdev;
	mutex_lock(&wdev->sram_lock);
	ret = drm_mm_insert_node_in_range(&wdev->sram_mm, &sram->node, size, align, 0,
					  0, wdev->sram_size, DRM_MM_INSERT_BEST);
	if (ret) {
		ret = -ENOSPC;
	} else if (!wse_sram_scrub(wdev, sram->node.start, size)) {
		drm_mm_remove_node(&sram->node);
		ret = -ENODEV;
	} else {
		wdev->sram_used += size;
	}
	mutex_unlock(&wdev->sram_lock);
	if (ret) {
		kfree(sram);
		atomic64_sub(size, &wfile->usage->sram_bytes);
		return ret;
	}
	/* From here the release gives the charge back. */
	kref_get(&wfile->usage->ref);
	sram->usage = wfile->usage;
	ret = xa_alloc(&wfile->srams, &handle, sram, xa_limit_31b, WSE_GFP_USER);
	if (ret) {
		wse_sram_put(sram);
		return ret == -EBUSY ? -ENOSPC : ret;
	}
	args->handle = handle;
	return 0;
}

int wse_ioctl_sram_free(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_sram_free *args = data;
	struct wse_sram *sram;

	if (args->pad)
		return -EINVAL;
	sram = xa_erase(&wfile->srams, args->handle);
	if (!sram)
		return -ENOENT;
	/* Mappings hold their own reference: the memory stays until unmapped. */
	wse_sram_put(sram);
	return 0;
}

/* ---- Host buffers ------------------------------------------------------ */

int wse_ioctl_bo_create(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_wse_bo_create *args = data;
	struct drm_gem_shmem_object *shmem;
	u32 handle;
	int ret;

	if (args->flags)
		return -EINVAL;
	if (!args->size)
		return -EINVAL;
	if (args->size > WSE_MAX_BO_SIZE)
		return -E2BIG;
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

	if (args->pad)
		return -EINVAL;
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
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
	if (!obj)
		return -ENOENT;
	args->size = obj->size;
	args->flags = obj->import_attach ? DRM_WSE_BO_IMPORTED : 0;
	drm_gem_object_put(obj);
	return 0;
}

/* ---- Contexts ---------------------------------------------------------- */

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

static void wse_ctx_free_work(struct work_struct *work)
{
	struct wse_ctx *ctx = container_of(work, struct wse_ctx, free_work);
	struct wse_device *wdev = ctx->wdev;
	struct wse_mapping *map, *tmp;
	int ret;

	ret = wse_ctx_table_update(wdev, ctx->hw_id, 0, 0, false);
	if (ret) {
		/*
		 * The device may still read the table, the page lists and the
		 * pages behind them: they stay allocated and referenced for
		 * good rather than becoming someone else's memory.
		 */
		drm_err(&wdev->drm, "context %u: leaking its mappings, the device may use them\n",
			ctx->hw_id);
	} else {
		list_for_each_entry_safe(map, tmp, &ctx->maps, link) {
			list_del(&map->link);
			wse_mapping_free(wdev, map);
		}
		if (ctx->table)
			dma_free_coherent(wdev->drm.dev, ctx->table_bytes, ctx->table,
					  ctx->table_dma);
		drm_mm_takedown(&ctx->va_mm);
	}
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

	if (args->flags || args->pad)
		return -EINVAL;
	if (atomic_inc_return(&wfile->usage->contexts) > READ_ONCE(wse_max_contexts_per_file)) {
		atomic_dec(&wfile->usage->contexts);
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

	if (args->pad)
		return -EINVAL;
	ctx = xa_erase(&wfile->ctxs, args->handle);
	if (!ctx)
		return -ENOENT;
	/* Jobs in flight keep the address space until they complete. */
	wse_ctx_put(ctx);
	return 0;
}

int wse_ioctl_ctx_info(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_ctx_info *args = data;
	struct wse_ctx *ctx;

	if (args->flags)
		return -EINVAL;
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
		table[i].dva = map->va.start;
		table[i].size = map->va.size;
		table[i].target = map->sram ? map->sram->node.start + map->obj_offset :
					      map->target;
		table[i].flags = map->flags;
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
	if (!wse_has_trees(wdev) && npages > WSE_FLAT_LIST_MAX / sizeof(u64))
		return -E2BIG;
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
				map->tree[first + i].dma;
		first = above;
		count = DIV_ROUND_UP(count, WSE_TREE_ENTRIES);
	}
	map->target = map->tree[tables - 1].dma;
	map->flags |= WSE_HW_MAP_TREE;
	return 0;
}

static u64 *wse_page_entry(struct wse_mapping *map, u64 page)
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
		map->flat_bytes = npages * sizeof(u64);
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
			*wse_page_entry(map, n++) = addr;
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
		xa_lock(&wfile->srams);
		map->sram = xa_load(&wfile->srams, args->handle);
		if (map->sram)
			kref_get(&map->sram->ref);
		xa_unlock(&wfile->srams);
		if (!map->sram)
			return -ENOENT;
		object_size = map->sram->node.size;
		map->flags = WSE_HW_MAP_SRAM;
	} else {
		map->obj = drm_gem_object_lookup(file, args->handle);
		if (!map->obj)
			return -ENOENT;
		object_size = map->obj->size;
		map->flags = WSE_HW_MAP_HOST;
	}
	if (args->offset >= object_size)
		return -EINVAL;
	*size = args->size ? args->size : object_size - args->offset;
	if (*size > object_size - args->offset || !wse_page_aligned(*size))
		return -EINVAL;
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

int wse_ioctl_map(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct wse_file *wfile = file->driver_priv;
	struct drm_wse_map *args = data;
	const u32 known = DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE | DRM_WSE_MAP_FIXED |
			  DRM_WSE_MAP_SRAM;
	struct wse_mapping *map;
	struct wse_ctx *ctx;
	u64 size, end;
	int ret;

	if ((args->flags & ~known) || args->pad)
		return -EINVAL;
	if (!(args->flags & (DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE)))
		return -EINVAL;
	if (!wse_page_aligned(args->offset) || !wse_page_aligned(args->size))
		return -EINVAL;
	if (args->flags & DRM_WSE_MAP_FIXED) {
		if (!wse_page_aligned(args->dva) || args->dva < WSE_DVA_START)
			return -EINVAL;
	} else if (args->dva) {
		return -EINVAL;
	}
	ctx = wse_ctx_lookup(wfile, args->ctx);
	if (!ctx)
		return -ENOENT;
	/* Checked again under the lock; this spares pinning pages in vain. */
	if (READ_ONCE(ctx->num_maps) >= READ_ONCE(wse_max_maps_per_context)) {
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
	if (args->flags & DRM_WSE_MAP_READ)
		map->flags |= WSE_HW_MAP_READ;
	if (args->flags & DRM_WSE_MAP_WRITE)
		map->flags |= WSE_HW_MAP_WRITE;

	mutex_lock(&ctx->lock);
	if (ctx->num_maps >= READ_ONCE(wse_max_maps_per_context)) {
		ret = -EDQUOT;
		goto out_unlock;
	}
	if (args->flags & DRM_WSE_MAP_FIXED) {
		if (check_add_overflow(args->dva, size, &end) || end > WSE_DVA_END) {
			ret = -EINVAL;
			goto out_unlock;
		}
		map->va.start = args->dva;
		map->va.size = size;
		ret = drm_mm_reserve_node(&ctx->va_mm, &map->va);
		if (ret)
			ret = -EEXIST;
	} else {
		ret = drm_mm_insert_node_in_range(&ctx->va_mm, &map->va, size, WSE_PAGE_SIZE, 0,
						  WSE_DVA_START, WSE_DVA_END,
						  DRM_MM_INSERT_BEST);
	}
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

	if (args->pad)
		return -EINVAL;
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
		ret = -ENOENT;
	} else if (atomic_read(&ctx->inflight)) {
		/* A running job may use the mapping; jobs start under ctx->lock. */
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
