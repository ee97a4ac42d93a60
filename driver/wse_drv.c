// SPDX-License-Identifier: GPL-2.0-only
/*
 * wse: DRM accel driver for the wse wafer-scale engine, a PCIe device
 * modelled on the Cerebras CS-3 (qemu-dev/). This file holds the PCI and DRM
 * glue, the device-wide ioctls and the sysfs attributes.
 */
#include <linux/capability.h>
#include <linux/dma-mapping.h>
#include <linux/iopoll.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <drm/drm_accel.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_managed.h>
#include <drm/drm_print.h>

#include "wse_drv.h"

#define WSE_QUIESCE_TIMEOUT_US	(2 * USEC_PER_SEC)

unsigned int wse_job_timeout_ms = 2000;
unsigned int wse_queue_depth = 256;
unsigned int wse_max_contexts_per_file = 64;
unsigned int wse_max_maps_per_context = 4096;
unsigned long long wse_max_sram_per_file;
struct workqueue_struct *wse_wq;

static int wse_set_job_timeout(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 10, 600000);
}

static const struct kernel_param_ops wse_job_timeout_ops = {
	.set = wse_set_job_timeout,
	.get = param_get_uint,
};

module_param_cb(job_timeout_ms, &wse_job_timeout_ops, &wse_job_timeout_ms, 0644);
MODULE_PARM_DESC(job_timeout_ms,
		 "Time a queue may make no progress before its job is failed and the queue reset (10..600000 ms, default 2000)");

static int wse_set_queue_depth(const char *val, const struct kernel_param *kp)
{
	unsigned int depth;
	int ret;

	ret = kstrtouint(val, 0, &depth);
	if (ret)
		return ret;
	if (depth < 2 || depth > 4096 || !is_power_of_2(depth))
		return -EINVAL;
	*(unsigned int *)kp->arg = depth;
	return 0;
}

static const struct kernel_param_ops wse_queue_depth_ops = {
	.set = wse_set_queue_depth,
	.get = param_get_uint,
};

module_param_cb(queue_depth, &wse_queue_depth_ops, &wse_queue_depth, 0444);
MODULE_PARM_DESC(queue_depth, "Entries of each hardware ring (power of two, 2..4096, default 256)");

/*
 * Per-file limits: what one open file may hold of the kernel memory and
 * device resources shared by every user. Exceeding one fails with EDQUOT.
 */
static int wse_set_max_contexts(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, WSE_MAX_CONTEXTS - 1);
}

static const struct kernel_param_ops wse_max_contexts_ops = {
	.set = wse_set_max_contexts,
	.get = param_get_uint,
};

module_param_cb(max_contexts_per_file, &wse_max_contexts_ops, &wse_max_contexts_per_file, 0644);
MODULE_PARM_DESC(max_contexts_per_file,
		 "Contexts one open file may hold, until freed (1..1023, default 64)");

static int wse_set_max_maps(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, WSE_CTX_MAX_MAPS);
}

static const struct kernel_param_ops wse_max_maps_ops = {
	.set = wse_set_max_maps,
	.get = param_get_uint,
};

module_param_cb(max_maps_per_context, &wse_max_maps_ops, &wse_max_maps_per_context, 0644);
MODULE_PARM_DESC(max_maps_per_context,
		 "Mappings one context may hold (1..65536, default 4096)");

module_param_named(max_sram_per_file, wse_max_sram_per_file, ullong, 0644);
MODULE_PARM_DESC(max_sram_per_file,
		 "Bytes of device SRAM one open file may hold, until freed (0 = no limit, default)");

u64 wse_sram_used(struct wse_device *wdev)
{
	u64 used;

	mutex_lock(&wdev->sram_lock);
	used = wdev->sram_used;
	mutex_unlock(&wdev->sram_lock);
	return used;
}

u32 wse_contexts_in_use(struct wse_device *wdev)
{
	unsigned long index;
	struct wse_ctx *ctx;
	u32 count = 0;

	xa_lock(&wdev->contexts);
	xa_for_each(&wdev->contexts, index, ctx)
		count++;
	xa_unlock(&wdev->contexts);
	return count;
}

/* ---- Device-wide ioctls ------------------------------------------------ */

static int wse_ioctl_query_info(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct drm_wse_query_info *args = data;

	if (args->flags) {
		drm_dbg(drm, "query_info: unknown flags %#x\n", args->flags);
		return -EINVAL;
	}
	args->abi_version = DRM_WSE_ABI_VERSION;
	args->hw_version = wdev->hw_version;
	args->caps = wse_caps_to_uapi(wdev->caps);
	args->dtypes = wse_dtypes_to_uapi(wdev->hw_version, wdev->dtypes, wdev->caps);
	args->sram_size = wdev->sram_size;
	args->sram_used = wse_sram_used(wdev);
	args->grid_width = wdev->grid_w;
	args->grid_height = wdev->grid_h;
	args->pe_sram = wdev->pe_sram;
	args->clock_khz = wdev->clock_khz;
	args->num_queues = wdev->num_queues;
	args->queue_depth = wdev->queues[0].size - 1;
	args->max_contexts = wdev->max_contexts - 1;
	args->max_stream = WSE_MAX_STREAM;
	args->dva_start = WSE_DVA_START;
	args->dva_end = WSE_DVA_END;
	args->serial = wdev->serial;
	args->max_bo_handles = WSE_MAX_BO_HANDLES;
	args->pad = 0;
	return 0;
}

static int wse_ioctl_fault_inject(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct drm_wse_fault_inject *args = data;
	u32 hw_mode;
	int idx;

	if (!capable(CAP_SYS_ADMIN)) {
		drm_dbg(drm, "fault_inject: needs CAP_SYS_ADMIN\n");
		return -EPERM;
	}
	if (args->flags || args->pad) {
		drm_dbg(drm, "fault_inject: flags %#x or pad not 0\n", args->flags);
		return -EINVAL;
	}
	if (!(wdev->caps & WSE_HW_CAP_FAULT_INJECT)) {
		drm_dbg(drm, "fault_inject: the device has no fault injection\n");
		return -EOPNOTSUPP;
	}
	if (wse_fault_mode_to_hw(args->mode, &hw_mode) || args->queue >= wdev->num_queues) {
		drm_dbg(drm, "fault_inject: mode %u unknown or queue %u of %u\n",
			args->mode, args->queue, wdev->num_queues);
		return -EINVAL;
	}
	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;
	writel(hw_mode | args->queue << WSE_HW_FAULT_QUEUE_SHIFT,
	       wdev->regs + WSE_REG_FAULT_INJECT);
	drm_dev_exit(idx);
	return 0;
}

static int wse_ioctl_reset(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct wse_device *wdev = to_wse(drm);
	struct drm_wse_reset *args = data;

	if (!capable(CAP_SYS_ADMIN)) {
		drm_dbg(drm, "reset: needs CAP_SYS_ADMIN\n");
		return -EPERM;
	}
	if (args->flags || args->pad) {
		drm_dbg(drm, "reset: flags %#x or pad not 0\n", args->flags);
		return -EINVAL;
	}
	switch (args->kind) {
	case DRM_WSE_RESET_QUEUE:
		if (args->queue >= wdev->num_queues) {
			drm_dbg(drm, "reset: queue %u of %u\n", args->queue, wdev->num_queues);
			return -EINVAL;
		}
		return wse_queue_reset(&wdev->queues[args->queue], false);
	case DRM_WSE_RESET_DEVICE:
		if (args->queue) {
			drm_dbg(drm, "reset: queue %u given for a device reset\n", args->queue);
			return -EINVAL;
		}
		return wse_device_reset(wdev);
	default:
		drm_dbg(drm, "reset: unknown kind %u\n", args->kind);
		return -EINVAL;
	}
}

static const struct drm_ioctl_desc wse_ioctls[] = {
	DRM_IOCTL_DEF_DRV(WSE_QUERY_INFO, wse_ioctl_query_info, 0),
	DRM_IOCTL_DEF_DRV(WSE_CTX_CREATE, wse_ioctl_ctx_create, 0),
	DRM_IOCTL_DEF_DRV(WSE_CTX_DESTROY, wse_ioctl_ctx_destroy, 0),
	DRM_IOCTL_DEF_DRV(WSE_CTX_INFO, wse_ioctl_ctx_info, 0),
	DRM_IOCTL_DEF_DRV(WSE_BO_CREATE, wse_ioctl_bo_create, 0),
	DRM_IOCTL_DEF_DRV(WSE_BO_MMAP_OFFSET, wse_ioctl_bo_mmap_offset, 0),
	DRM_IOCTL_DEF_DRV(WSE_BO_INFO, wse_ioctl_bo_info, 0),
	DRM_IOCTL_DEF_DRV(WSE_SRAM_ALLOC, wse_ioctl_sram_alloc, 0),
	DRM_IOCTL_DEF_DRV(WSE_SRAM_FREE, wse_ioctl_sram_free, 0),
	DRM_IOCTL_DEF_DRV(WSE_MAP, wse_ioctl_map, 0),
	DRM_IOCTL_DEF_DRV(WSE_UNMAP, wse_ioctl_unmap, 0),
	DRM_IOCTL_DEF_DRV(WSE_SUBMIT, wse_ioctl_submit, 0),
	DRM_IOCTL_DEF_DRV(WSE_WAIT, wse_ioctl_wait, 0),
	DRM_IOCTL_DEF_DRV(WSE_JOB_STATUS, wse_ioctl_job_status, 0),
	DRM_IOCTL_DEF_DRV(WSE_FAULT_INJECT, wse_ioctl_fault_inject, 0),
	DRM_IOCTL_DEF_DRV(WSE_RESET, wse_ioctl_reset, 0),
};

/* ---- Files ------------------------------------------------------------- */

static void wse_file_usage_release(struct kref *ref)
{
	kfree(container_of(ref, struct wse_file_usage, ref));
}

void wse_file_usage_put(struct wse_file_usage *usage)
{
	kref_put(&usage->ref, wse_file_usage_release);
}

static int wse_open(struct drm_device *drm, struct drm_file *file)
{
	struct wse_file *wfile;

	wfile = kzalloc(sizeof(*wfile), GFP_KERNEL_ACCOUNT);
	if (!wfile)
		return -ENOMEM;
	wfile->usage = kzalloc(sizeof(*wfile->usage), GFP_KERNEL_ACCOUNT);
	if (!wfile->usage) {
		kfree(wfile);
		return -ENOMEM;
	}
	kref_init(&wfile->usage->ref);
	wfile->wdev = to_wse(drm);
	mutex_init(&wfile->lock);
	xa_init_flags(&wfile->ctxs, XA_FLAGS_ALLOC1);
	xa_init_flags(&wfile->srams, XA_FLAGS_ALLOC1);
	xa_init(&wfile->jobs);
	file->driver_priv = wfile;
	return 0;
}

static void wse_postclose(struct drm_device *drm, struct drm_file *file)
{
	struct wse_file *wfile = file->driver_priv;

	/* Pending jobs keep their context, mappings and SRAM until they end. */
	wse_file_release_jobs(wfile);
	wse_file_release_objects(wfile);
	xa_destroy(&wfile->jobs);
	xa_destroy(&wfile->ctxs);
	xa_destroy(&wfile->srams);
	mutex_destroy(&wfile->lock);
	wse_file_usage_put(wfile->usage);
	kfree(wfile);
}

/*
 * DRM fdinfo (Documentation/gpu/drm-usage-stats.rst) after the common keys of
 * drm_show_fdinfo(): the device time and modelled cycles of the file's jobs
 * on the one engine, "compute"; host buffers in region "memory" (the name
 * the document reserves for system memory) and SRAM in region "sram", in
 * bytes. No drm-active-*: jobs do not mark the buffers they use.
 */
static void wse_show_fdinfo(struct drm_printer *p, struct drm_file *file)
{
	struct wse_file *wfile = file->driver_priv;
	u64 total = 0, shared = 0, resident = 0, sram = 0;
	struct drm_gem_object *obj;
	struct wse_sram *alloc;
	unsigned long index;
	int id;

	drm_printf(p, "drm-engine-compute:\t%llu ns\n",
		   (u64)atomic64_read(&wfile->usage->busy_ns));
	drm_printf(p, "drm-cycles-compute:\t%llu\n",
		   (u64)atomic64_read(&wfile->usage->cycles));

	/* Every object is shmem: created here or imported as an sg table. */
	spin_lock(&file->table_lock);
	idr_for_each_entry(&file->object_idr, obj, id) {
		total += obj->size;
		if (obj->handle_count > 1 || obj->dma_buf)
			shared += obj->size;
		if (READ_ONCE(to_drm_gem_shmem_obj(obj)->pages) || obj->import_attach)
			resident += obj->size;
	}
	spin_unlock(&file->table_lock);
	drm_printf(p, "drm-total-memory:\t%llu\n", total);
	drm_printf(p, "drm-shared-memory:\t%llu\n", shared);
	drm_printf(p, "drm-resident-memory:\t%llu\n", resident);

	/* The table's reference keeps an entry alive while xa_lock is held. */
	xa_lock(&wfile->srams);
	xa_for_each(&wfile->srams, index, alloc)
		sram += alloc->node.size;
	xa_unlock(&wfile->srams);
	drm_printf(p, "drm-total-sram:\t%llu\n", sram);
	drm_printf(p, "drm-resident-sram:\t%llu\n", sram);
}

/*
 * DRM core's GET_UNIQUE and GET_MAGIC dereference the file's master, which
 * an accel file never has: on 6.12 any user of the node oopses the kernel
 * with either (found by tests/kselftest/wse_ioctl_fuzz.c). Neither means
 * anything without a master, so they fail here, natively and in compat.
 */
static bool wse_core_ioctl_needs_master(unsigned int cmd)
{
	unsigned int nr = _IOC_NR(cmd);

	return _IOC_TYPE(cmd) == DRM_IOCTL_BASE &&
	       (nr == DRM_IOCTL_NR(DRM_IOCTL_GET_UNIQUE) ||
		nr == DRM_IOCTL_NR(DRM_IOCTL_GET_MAGIC));
}

static long wse_unlocked_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	if (wse_core_ioctl_needs_master(cmd))
		return -EOPNOTSUPP;
	return drm_ioctl(filp, cmd, arg);
}

#ifdef CONFIG_COMPAT
static long wse_compat_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	if (wse_core_ioctl_needs_master(cmd))
		return -EOPNOTSUPP;
	return drm_compat_ioctl(filp, cmd, arg);
}
#else
#define wse_compat_ioctl NULL
#endif

/* DRM_ACCEL_FOPS with the two ioctl entries above. */
static const struct file_operations wse_fops = {
	.owner = THIS_MODULE,
	.open = accel_open,
	.release = drm_release,
	.unlocked_ioctl = wse_unlocked_ioctl,
	.compat_ioctl = wse_compat_ioctl,
	.poll = drm_poll,
	.read = drm_read,
	.llseek = noop_llseek,
	.mmap = drm_gem_mmap,
	.fop_flags = FOP_UNSIGNED_OFFSET,
	.show_fdinfo = drm_show_fdinfo,
};

static const struct drm_driver wse_drm_driver = {
	.driver_features = DRIVER_GEM | DRIVER_COMPUTE_ACCEL,
	.open = wse_open,
	.postclose = wse_postclose,
	.show_fdinfo = wse_show_fdinfo,
	.gem_prime_import_sg_table = drm_gem_shmem_prime_import_sg_table,
	.ioctls = wse_ioctls,
	.num_ioctls = ARRAY_SIZE(wse_ioctls),
	.fops = &wse_fops,
	.name = WSE_DRIVER_NAME,
	.desc = "wse wafer-scale engine",
	.date = "20250101",
	.major = 1,
	.minor = DRM_WSE_ABI_VERSION,
};

/* ---- sysfs (on the PCI device) ----------------------------------------- */

static struct wse_device *wse_from_dev(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

static ssize_t state_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	static const char * const names[] = {
		[WSE_STATE_READY] = "ready",
		[WSE_STATE_RESETTING] = "resetting",
		[WSE_STATE_FATAL] = "fatal",
		[WSE_STATE_GONE] = "gone",
	};
	enum wse_state state = READ_ONCE(wse_from_dev(dev)->state);

	return sysfs_emit(buf, "%s\n", names[state]);
}
static DEVICE_ATTR_RO(state);

static ssize_t sram_used_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", wse_sram_used(wse_from_dev(dev)));
}
static DEVICE_ATTR_RO(sram_used);

static ssize_t sram_total_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", wse_from_dev(dev)->sram_size);
}
static DEVICE_ATTR_RO(sram_total);

static ssize_t queues_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", wse_from_dev(dev)->num_queues);
}
static DEVICE_ATTR_RO(queues);

static ssize_t contexts_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", wse_contexts_in_use(wse_from_dev(dev)));
}
static DEVICE_ATTR_RO(contexts);

static ssize_t jobs_done_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&wse_from_dev(dev)->jobs_done));
}
static DEVICE_ATTR_RO(jobs_done);

static ssize_t faults_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&wse_from_dev(dev)->faults));
}
static DEVICE_ATTR_RO(faults);

static ssize_t resets_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&wse_from_dev(dev)->resets));
}
static DEVICE_ATTR_RO(resets);

static ssize_t timeouts_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&wse_from_dev(dev)->timeouts));
}
static DEVICE_ATTR_RO(timeouts);

static ssize_t jobs_submitted_show(struct device *dev, struct device_attribute *attr,
				   char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&wse_from_dev(dev)->jobs_submitted));
}
static DEVICE_ATTR_RO(jobs_submitted);

/* Jobs in the hardware rings now, of every queue. */
static ssize_t inflight_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct wse_device *wdev = wse_from_dev(dev);
	u32 i, count = 0;

	for (i = 0; i < wdev->num_queues; i++)
		count += READ_ONCE(wdev->queues[i].inflight_count);
	return sysfs_emit(buf, "%u\n", count);
}
static DEVICE_ATTR_RO(inflight);

static ssize_t cycles_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&wse_from_dev(dev)->cycles));
}
static DEVICE_ATTR_RO(cycles);

static ssize_t pe_grid_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct wse_device *wdev = wse_from_dev(dev);

	return sysfs_emit(buf, "%ux%u\n", wdev->grid_w, wdev->grid_h);
}
static DEVICE_ATTR_RO(pe_grid);

static struct attribute *wse_sysfs_attrs[] = {
	&dev_attr_state.attr,
	&dev_attr_sram_used.attr,
	&dev_attr_sram_total.attr,
	&dev_attr_queues.attr,
	&dev_attr_contexts.attr,
	&dev_attr_jobs_done.attr,
	&dev_attr_faults.attr,
	&dev_attr_resets.attr,
	&dev_attr_timeouts.attr,
	&dev_attr_jobs_submitted.attr,
	&dev_attr_inflight.attr,
	&dev_attr_cycles.attr,
	&dev_attr_pe_grid.attr,
	NULL,
};

static const struct attribute_group wse_sysfs_group = {
	.name = "wse",
	.attrs = wse_sysfs_attrs,
};

const struct attribute_group *wse_sysfs_groups[] = {
	&wse_sysfs_group,
	NULL,
};

/* ---- PCI --------------------------------------------------------------- */

static void wse_drm_release(struct drm_device *drm, void *arg)
{
	struct wse_device *wdev = arg;

	if (wdev->ctx_table)
		dma_free_coherent(drm->dev, wdev->max_contexts * sizeof(*wdev->ctx_table),
				  wdev->ctx_table, wdev->ctx_table_dma);
	wdev->ctx_table = NULL;
	if (drm_mm_initialized(&wdev->sram_mm))
		drm_mm_takedown(&wdev->sram_mm);
	xa_destroy(&wdev->contexts);
}

/*
 * Stops the device from touching host memory: a device reset returns once
 * nothing runs any more; the event ring survives it, so it goes separately.
 * Harmless if the device is gone.
 */
/*
 * A device reset returns at once; READY comes back once no command of the
 * device touches host memory any more. The rings and tables are freed after
 * this, so wait for it (not when the device is gone), and if it never comes,
 * take bus mastering away so that nothing can reach the freed memory.
 */
static void wse_hw_quiesce(struct wse_device *wdev)
{
	u32 status;

	writel(WSE_CONTROL_RESET, wdev->regs + WSE_REG_CONTROL);
	writel(0, wdev->regs + WSE_REG_EVQ_SIZE);
	if (readl_poll_timeout(wdev->regs + WSE_REG_STATUS, status,
			       status == U32_MAX || (status & WSE_HW_DEV_READY),
			       1000, WSE_QUIESCE_TIMEOUT_US)) {
		drm_warn(&wdev->drm, "device reset did not complete; bus mastering off\n");
		pci_clear_master(wdev->pdev);
	}
}

static int wse_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct wse_device *wdev;
	u32 i;
	int ret;

	wdev = devm_drm_dev_alloc(&pdev->dev, &wse_drm_driver, struct wse_device, drm);
	if (IS_ERR(wdev))
		return PTR_ERR(wdev);
	wdev->pdev = pdev;
	INIT_LIST_HEAD(&wdev->node);
	mutex_init(&wdev->reset_lock);
	mutex_init(&wdev->invalidate_lock);
	mutex_init(&wdev->event_lock);
	mutex_init(&wdev->sram_lock);
	INIT_WORK(&wdev->reset_work, wse_reset_work);
	xa_init_flags(&wdev->contexts, XA_FLAGS_ALLOC);
	for (i = 0; i < WSE_MAX_QUEUES; i++)
		wse_queue_init_sw(wdev, i);
	ret = drmm_add_action_or_reset(&wdev->drm, wse_drm_release, wdev);
	if (ret)
		return ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	pci_set_master(pdev);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	if (pci_resource_len(pdev, WSE_BAR_REGS) < WSE_REGS_SIZE)
		return -ENODEV;
	wdev->regs = pcim_iomap_region(pdev, WSE_BAR_REGS, WSE_DRIVER_NAME);
	if (IS_ERR(wdev->regs))
		return PTR_ERR(wdev->regs);

	ret = wse_hw_init(wdev);
	if (ret)
		goto err_hw;
	drm_mm_init(&wdev->sram_mm, 0, wdev->sram_size);
	ret = wse_irq_init(wdev);
	if (ret)
		goto err_hw;
	pci_set_drvdata(pdev, wdev);
	ret = drm_dev_register(&wdev->drm, 0);
	if (ret)
		goto err_irq;
	wse_genl_add_device(wdev);
	drm_info(&wdev->drm, "wse %u.%u: %u queues, %llu MiB SRAM, %ux%u PEs\n",
		 wdev->hw_version >> 16, wdev->hw_version & 0xffff, wdev->num_queues,
		 wdev->sram_size >> 20, wdev->grid_w, wdev->grid_h);
	return 0;

err_irq:
	wse_hw_quiesce(wdev);
	wse_irq_fini(wdev);
err_hw:
	wse_hw_quiesce(wdev);
	wse_hw_fini(wdev);
	return ret;
}

static void wse_remove(struct pci_dev *pdev)
{
	struct wse_device *wdev = pci_get_drvdata(pdev);
	u32 i;

	wse_genl_remove_device(wdev);
	drm_dev_unplug(&wdev->drm);
	for (i = 0; i < wdev->num_queues; i++)
		wake_up_all(&wdev->queues[i].space_wq);
	wse_hw_quiesce(wdev);
	wse_irq_fini(wdev);
	cancel_work_sync(&wdev->reset_work);
	for (i = 0; i < wdev->num_queues; i++)
		cancel_delayed_work_sync(&wdev->queues[i].timeout_work);
	wse_device_abort_all(wdev);
	wse_hw_fini(wdev);
}

static const struct pci_device_id wse_pci_ids[] = {
	{ PCI_DEVICE(WSE_PCI_VENDOR_ID, WSE_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, wse_pci_ids);

static struct pci_driver wse_pci_driver = {
	.name = WSE_DRIVER_NAME,
	.id_table = wse_pci_ids,
	.probe = wse_probe,
	.remove = wse_remove,
	.dev_groups = wse_sysfs_groups,
};

static int __init wse_init(void)
{
	int ret;

	wse_wq = alloc_workqueue("wse", WQ_UNBOUND, 0);
	if (!wse_wq)
		return -ENOMEM;
	ret = wse_genl_register();
	if (ret)
		goto err_wq;
	ret = pci_register_driver(&wse_pci_driver);
	if (ret)
		goto err_genl;
	return 0;
err_genl:
	wse_genl_unregister();
err_wq:
	destroy_workqueue(wse_wq);
	return ret;
}

static void __exit wse_exit(void)
{
	pci_unregister_driver(&wse_pci_driver);
	/* Contexts of closed files may still be waiting to be freed. */
	destroy_workqueue(wse_wq);
	wse_genl_unregister();
}

module_init(wse_init);
module_exit(wse_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("DRM accel driver for the wse wafer-scale engine");
MODULE_AUTHOR("The wse project");
MODULE_IMPORT_NS(DMA_BUF);
