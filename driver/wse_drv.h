/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wse: DRM accel driver for the wse wafer-scale engine (see docs/ioctl-abi.md).
 */
#ifndef WSE_DRV_H
#define WSE_DRV_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_mm.h>

#include "wse/hw_device.h"
#include "wse_accel.h"

#define WSE_DRIVER_NAME		"wse"
#define WSE_EVQ_ENTRIES		256
#define WSE_MAX_BO_HANDLES	256
#define WSE_MAX_BO_SIZE		BIT_ULL(36)
#define WSE_DVA_START		BIT_ULL(20)
#define WSE_DVA_END		BIT_ULL(48)
/* Finished jobs whose results a file keeps for WAIT and JOB_STATUS. */
#define WSE_RETAINED_JOBS	1024
/*
 * Allocations whose number or size a user chooses: charged to the caller's
 * memory cgroup, and failing with ENOMEM rather than calling the OOM killer
 * or warning when the cgroup or the machine is out of memory.
 */
#define WSE_GFP_USER		(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

extern unsigned int wse_job_timeout_ms;
extern unsigned int wse_queue_depth;
extern unsigned int wse_max_contexts_per_file;
extern unsigned int wse_max_maps_per_context;
extern unsigned long long wse_max_sram_per_file;
extern struct workqueue_struct *wse_wq;

enum wse_state {
	WSE_STATE_READY = WSE_GENL_STATE_READY,
	WSE_STATE_RESETTING = WSE_GENL_STATE_RESETTING,
	WSE_STATE_FATAL = WSE_GENL_STATE_FATAL,
	WSE_STATE_GONE = WSE_GENL_STATE_GONE,
};

struct wse_device;

struct wse_queue {
	struct wse_device *wdev;
	u32 index;
	u32 size;
	struct wse_hw_sqe *sq;
	struct wse_hw_cqe *cq;
	dma_addr_t sq_dma;
	dma_addr_t cq_dma;
	/*
	 * Protects everything below and the queue's doorbells. Never held
	 * across a register write that may wait for the device (QREG_RESET).
	 */
	spinlock_t lock;
	u32 sq_tail;
	u32 cq_head;
	u16 phase;
	bool stopped;			/* being reset: no submissions, no doorbells */
	u64 next_seq;
	u32 inflight_count;
	struct list_head inflight;	/* wse_job.qnode, oldest first */
	/*
	 * Hang detection: the oldest job (clock_seq) has been seen running,
	 * or not served although the worker was free, since clock_start
	 * (jiffies). 0: the clock has not started for any job.
	 */
	u64 clock_seq;
	unsigned long clock_start;
	wait_queue_head_t space_wq;
	struct delayed_work timeout_work;
	int irq;
};

struct wse_device {
	struct drm_device drm;
	struct pci_dev *pdev;
	void __iomem *regs;
	struct list_head node;		/* wse_devices, for netlink */

	u32 hw_version;
	u32 caps;
	u32 dtypes;			/* WSE_REG_DTYPES, read at probe */
	u32 num_queues;
	u32 max_contexts;
	u64 sram_size;
	u32 grid_w, grid_h, pe_sram, clock_khz, serial;

	enum wse_state state;
	struct mutex reset_lock;	/* serialises device resets and teardown */
	struct work_struct reset_work;

	struct wse_hw_ctx *ctx_table;
	dma_addr_t ctx_table_dma;
	struct xarray contexts;		/* hw context id -> wse_ctx (weak) */
	struct mutex invalidate_lock;	/* ctx table writes + WSE_REG_CTX_INVALIDATE */

	struct mutex event_lock;	/* evq_head, and handling the events */
	struct wse_hw_event *evq;
	dma_addr_t evq_dma;
	u32 evq_head;
	int event_irq;

	struct mutex sram_lock;		/* sram_mm, sram_used */
	struct drm_mm sram_mm;
	u64 sram_used;

	struct wse_queue queues[WSE_MAX_QUEUES];
	atomic_t next_queue;

	atomic64_t jobs_submitted;
	atomic64_t jobs_done;
	atomic64_t faults;
	atomic64_t resets;
	atomic64_t timeouts;
	atomic64_t cycles;		/* modelled device cycles of finished jobs */
	/* ktime ns at which the device's one worker last finished a job. */
	atomic64_t busy_until_ns;
};

static inline struct wse_device *to_wse(struct drm_device *drm)
{
	return container_of(drm, struct wse_device, drm);
}

/*
 * What one open file used, for DRM fdinfo and the per-file limits. Jobs,
 * contexts and SRAM allocations outlive the file that made them, so each
 * holds a reference and gives back what it counted when it ends.
 */
struct wse_file_usage {
	struct kref ref;
	atomic64_t busy_ns;		/* device time of the file's jobs */
	atomic64_t cycles;		/* their modelled device cycles */
	atomic_t contexts;		/* contexts not yet freed */
	atomic64_t sram_bytes;		/* SRAM not yet freed */
};

/* Per open file. */
struct wse_file {
	struct wse_device *wdev;
	struct wse_file_usage *usage;
	struct mutex lock;		/* ctxs, srams, jobs, next_job_id */
	struct xarray ctxs;		/* handle -> wse_ctx */
	struct xarray srams;		/* handle -> wse_sram */
	struct xarray jobs;		/* id -> wse_job */
	u64 next_job_id;
	u32 retained;			/* jobs in @jobs */
};

struct wse_sram {
	struct kref ref;
	struct wse_device *wdev;
	struct wse_file_usage *usage;	/* charged with the allocation */
	struct drm_mm_node node;
};

/* One 4 KiB page of a host mapping's page tree. */
struct wse_pt_page {
	__le64 *entries;
	dma_addr_t dma;
};

struct wse_mapping {
	struct list_head link;		/* wse_ctx.maps, sorted by dva */
	struct drm_mm_node va;
	u32 flags;			/* WSE_HW_MAP_* of wse/hw_device.h */
	struct drm_gem_object *obj;	/* host mapping */
	u64 obj_offset;
	struct wse_sram *sram;		/* SRAM mapping */
	/*
	 * Host mapping: a flat page list in one allocation (flat_bytes), or
	 * with WSE_HW_MAP_TREE the tree's pages, leaves first, root last.
	 */
	__le64 *flat;
	dma_addr_t flat_dma;
	size_t flat_bytes;
	struct wse_pt_page *tree;
	u32 tree_pages;
	dma_addr_t target;		/* what the map table entry points at */
};

struct wse_ctx {
	struct kref ref;
	struct wse_device *wdev;
	struct wse_file_usage *usage;	/* counts this context until it is freed */
	u32 hw_id;
	u32 queue;
	struct mutex lock;		/* maps, va_mm, table */
	struct drm_mm va_mm;
	struct list_head maps;
	u32 num_maps;
	struct wse_hw_map *table;
	dma_addr_t table_dma;
	size_t table_bytes;
	atomic_t inflight;		/* jobs started; changes under @lock only upwards */
	atomic64_t jobs_done;
	atomic64_t faults;
	/* Taken inside wdev->event_lock, so never around anything else. */
	spinlock_t fault_lock;
	u64 last_fault_dva;
	u32 last_fault_status;		/* DRM_WSE_STATUS_* */
	struct work_struct free_work;
};

struct wse_job {
	struct kref ref;
	u64 id;
	struct wse_ctx *ctx;
	struct wse_file_usage *usage;
	struct wse_queue *queue;
	struct list_head qnode;
	u64 seq;
	struct wse_hw_sqe sqe;
	u32 slot;			/* SQ slot, valid while in the ring */
	struct drm_gem_object *stream;
	struct drm_gem_object **bos;
	u32 bo_count;
	ktime_t submit_time;
	ktime_t done_time;
	/* Results, valid once @done completed. */
	u32 status;			/* DRM_WSE_STATUS_* */
	u32 op_index;
	u64 cycles;
	struct completion done;
};

/* wse_queue.c */
void wse_queue_init_sw(struct wse_device *wdev, u32 index);
int wse_hw_init(struct wse_device *wdev);
void wse_hw_fini(struct wse_device *wdev);
int wse_irq_init(struct wse_device *wdev);
void wse_irq_fini(struct wse_device *wdev);
int wse_queue_submit(struct wse_queue *q, struct wse_job *job);
int wse_queue_reset(struct wse_queue *q, bool hung);
int wse_device_reset(struct wse_device *wdev);
void wse_device_abort_all(struct wse_device *wdev);
void wse_reset_work(struct work_struct *work);
void wse_events_process(struct wse_device *wdev);

/* wse_abi.c: device numbers <-> ioctl ABI numbers */
u32 wse_status_to_uapi(u32 hw_status);
u32 wse_caps_to_uapi(u32 hw_caps);
u32 wse_dtypes_to_uapi(u32 hw_version, u32 hw_dtypes, u32 hw_caps);
int wse_fault_mode_to_hw(u32 mode, u32 *hw_mode);
u32 wse_map_flags_to_hw(u32 flags);
u32 wse_event_to_genl(u32 hw_type);

/* wse_sram.c */
int wse_ioctl_sram_alloc(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ioctl_sram_free(struct drm_device *drm, void *data, struct drm_file *file);
struct wse_sram *wse_sram_lookup(struct wse_file *wfile, u32 handle);
void wse_sram_put(struct wse_sram *sram);

/* wse_gem.c */
int wse_ioctl_bo_create(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ioctl_bo_mmap_offset(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ioctl_bo_info(struct drm_device *drm, void *data, struct drm_file *file);

/* wse_ctx.c */
int wse_ioctl_ctx_create(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ioctl_ctx_destroy(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ioctl_ctx_info(struct drm_device *drm, void *data, struct drm_file *file);
struct wse_ctx *wse_ctx_lookup(struct wse_file *wfile, u32 handle);
void wse_ctx_put(struct wse_ctx *ctx);
struct wse_ctx *wse_ctx_get_by_hw_id(struct wse_device *wdev, u32 hw_id);
void wse_file_release_objects(struct wse_file *wfile);

/* wse_map.c */
int wse_ioctl_map(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ioctl_unmap(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ctx_start_job(struct wse_ctx *ctx, struct drm_gem_object *obj,
		      u64 offset, u32 length, u64 *dva);
void wse_ctx_unmap_all(struct wse_ctx *ctx);

/* wse_job.c */
int wse_ioctl_submit(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ioctl_wait(struct drm_device *drm, void *data, struct drm_file *file);
int wse_ioctl_job_status(struct drm_device *drm, void *data, struct drm_file *file);
void wse_job_finish(struct wse_job *job, u32 status, u32 op_index, u64 cycles);
void wse_job_put(struct wse_job *job);
void wse_file_release_jobs(struct wse_file *wfile);

/* wse_genl.c */
int wse_genl_register(void);
void wse_genl_unregister(void);
void wse_genl_add_device(struct wse_device *wdev);
void wse_genl_remove_device(struct wse_device *wdev);
void wse_genl_event(struct wse_device *wdev, u32 event, u32 queue, u32 status,
		    u32 context);

/* wse_drv.c */
extern const struct attribute_group *wse_sysfs_groups[];
u64 wse_sram_used(struct wse_device *wdev);
u32 wse_contexts_in_use(struct wse_device *wdev);
void wse_file_usage_put(struct wse_file_usage *usage);

#endif /* WSE_DRV_H */
