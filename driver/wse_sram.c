// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device SRAM allocations: a drm_mm range allocator over the device's SRAM,
 * charged to the allocating file and scrubbed before a file sees them.
 */
#include <linux/log2.h>
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_print.h>

#include "wse_drv.h"

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

void wse_sram_put(struct wse_sram *sram)
{
	kref_put(&sram->ref, wse_sram_release);
}

struct wse_sram *wse_sram_lookup(struct wse_file *wfile, u32 handle)
{
	struct wse_sram *sram;

	xa_lock(&wfile->srams);
	sram = xa_load(&wfile->srams, handle);
	if (sram)
		kref_get(&sram->ref);
	xa_unlock(&wfile->srams);
	return sram;
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

static int wse_sram_alloc_check(struct wse_device *wdev, const struct drm_wse_sram_alloc *args,
				u64 *align)
{
	if (args->flags) {
		drm_dbg(&wdev->drm, "sram_alloc: unknown flags %#x\n", args->flags);
		return -EINVAL;
	}
	*align = args->alignment ? args->alignment : WSE_PAGE_SIZE;
	if (!is_power_of_2(*align) || *align < WSE_PAGE_SIZE || *align > wdev->sram_size) {
		drm_dbg(&wdev->drm, "sram_alloc: alignment %#llx is not a power of two in 4K..SRAM\n",
			args->alignment);
		return -EINVAL;
	}
	if (!args->size) {
		drm_dbg(&wdev->drm, "sram_alloc: size is 0\n");
		return -EINVAL;
	}
	if (args->size > wdev->sram_size) {
		drm_dbg(&wdev->drm, "sram_alloc: size %#llx exceeds SRAM %#llx\n",
			args->size, wdev->sram_size);
		return -ENOSPC;
	}
	return 0;
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

	ret = wse_sram_alloc_check(wdev, args, &align);
	if (ret)
		return ret;
	size = round_up(args->size, WSE_PAGE_SIZE);
	if (!wse_charge(&wfile->usage->sram_bytes, size, READ_ONCE(wse_max_sram_per_file))) {
		drm_dbg(drm, "sram_alloc: size %#llx passes max_sram_per_file\n", size);
		return -EDQUOT;
	}

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
		drm_dbg(drm, "sram_alloc: no free range of %#llx aligned to %#llx\n", size, align);
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

	if (args->pad) {
		drm_dbg(drm, "sram_free: pad is not 0\n");
		return -EINVAL;
	}
	sram = xa_erase(&wfile->srams, args->handle);
	if (!sram) {
		drm_dbg(drm, "sram_free: no SRAM handle %u\n", args->handle);
		return -ENOENT;
	}
	/* Mappings hold their own reference: the memory stays until unmapped. */
	wse_sram_put(sram);
	return 0;
}
