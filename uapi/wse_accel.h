/* SPDX-License-Identifier: MIT */
/*
 * wse_accel.h - the ioctl ABI of the wse DRM accel driver (/dev/accel/accelN,
 * named /dev/wseN by udev). Shared by driver/ and libwse; docs/ioctl-abi.md
 * explains every call and its errors.
 *
 * Versioning: every struct is passed through DRM's size handling (the size is
 * encoded in the ioctl number; the kernel zero-fills a shorter struct and
 * ignores the tail of a longer one), so fields are only ever appended and a
 * zero value of a new field keeps the old behaviour. DRM_WSE_ABI_VERSION
 * (returned by QUERY_INFO) counts such additions. Reserved and padding fields
 * must be zero and unknown flag bits are rejected with EINVAL, so that they
 * can be given a meaning later.
 *
 * Userspace: compile with `pkg-config --cflags libdrm` so that "drm.h" is
 * libdrm's copy of the DRM core ABI.
 */
#ifndef WSE_ACCEL_H
#define WSE_ACCEL_H

#ifdef __KERNEL__
#include <drm/drm.h>
#else
#include "drm.h"
#endif

#if defined(__cplusplus)
extern "C" {
#endif

#define DRM_WSE_ABI_VERSION		2	/* 2: QUERY_INFO dtypes */

#define DRM_WSE_QUERY_INFO		0x00
#define DRM_WSE_CTX_CREATE		0x01
#define DRM_WSE_CTX_DESTROY		0x02
#define DRM_WSE_CTX_INFO		0x03
#define DRM_WSE_BO_CREATE		0x04
#define DRM_WSE_BO_MMAP_OFFSET		0x05
#define DRM_WSE_BO_INFO			0x06
#define DRM_WSE_SRAM_ALLOC		0x07
#define DRM_WSE_SRAM_FREE		0x08
#define DRM_WSE_MAP			0x09
#define DRM_WSE_UNMAP			0x0a
#define DRM_WSE_SUBMIT			0x0b
#define DRM_WSE_WAIT			0x0c
#define DRM_WSE_JOB_STATUS		0x0d
#define DRM_WSE_FAULT_INJECT		0x0e
#define DRM_WSE_RESET			0x0f

/* Page granularity of every device mapping, SRAM allocation and offset. */
#define DRM_WSE_PAGE_SIZE		4096ull

/* ---- QUERY_INFO: device identity and limits ------------------------------ */
/* F16, BF16, Q8_0: kept for ABI 1 userspace; QUERY_INFO's dtypes says more. */
#define DRM_WSE_CAP_F16			0x1
#define DRM_WSE_CAP_BF16		0x2
#define DRM_WSE_CAP_Q8_0		0x4
#define DRM_WSE_CAP_FUSED_LAYER		0x8
#define DRM_WSE_CAP_FAULT_INJECT	0x10
/*
 * MAP of host buffers of any size (up to the BO limit). Without it a host
 * mapping is at most 2 GiB; a larger MAP fails with E2BIG.
 */
#define DRM_WSE_CAP_LARGE_MAPS		0x40

struct drm_wse_query_info {
	__u32 flags;		/* in: must be 0 */
	__u32 abi_version;	/* out: DRM_WSE_ABI_VERSION of the driver */
	__u32 hw_version;	/* out: device major << 16 | minor */
	__u32 caps;		/* out: DRM_WSE_CAP_* */
	__u64 sram_size;	/* out: bytes of device SRAM */
	__u64 sram_used;	/* out: bytes allocated by all files */
	__u32 grid_width;	/* out: PE columns */
	__u32 grid_height;	/* out: PE rows */
	__u32 pe_sram;		/* out: SRAM bytes per PE */
	__u32 clock_khz;	/* out: modelled core clock */
	__u32 num_queues;	/* out: hardware queues */
	__u32 queue_depth;	/* out: jobs in flight per queue at most */
	__u32 max_contexts;	/* out: contexts the device holds (all files) */
	__u32 max_stream;	/* out: largest op stream in bytes */
	__u64 dva_start;	/* out: lowest device virtual address */
	__u64 dva_end;		/* out: end (exclusive) of the DVA space */
	__u32 serial;		/* out: device serial number */
	__u32 max_bo_handles;	/* out: BO handles one SUBMIT may list */
	/*
	 * out (ABI 2): the weight dtypes every op that takes one accepts. Bit
	 * n is the device contract's enum wse_hw_dtype n (include/wse/hw_ops.h:
	 * 0 F32, 1 F16, 2 BF16, 3 Q8_0, later ones appended), passed through by
	 * number on purpose so that a new dtype needs no new ABI constant. A
	 * driver of ABI 1 leaves it as the caller set it (0 from a zeroed struct).
	 */
	__u32 dtypes;
	__u32 pad;		/* out: 0 */
};

/* ---- Contexts: one device address space each, per open file ------------- */
struct drm_wse_ctx_create {
	__u32 flags;		/* in: must be 0 */
	__u32 handle;		/* out: context handle, never 0 */
	__u32 queue;		/* out: the context's default hardware queue */
	__u32 pad;		/* must be 0 */
};

struct drm_wse_ctx_destroy {
	__u32 handle;
	__u32 pad;		/* must be 0 */
};

struct drm_wse_ctx_info {
	__u32 handle;		/* in */
	__u32 flags;		/* in: must be 0 */
	__u32 queue;		/* out: default queue */
	__u32 num_maps;		/* out: mappings in the address space */
	__u64 jobs_done;	/* out: jobs of this context completed */
	__u64 faults;		/* out: device faults reported for this context */
	__u64 last_fault_dva;	/* out: address of the most recent fault */
	__u32 last_fault_status;/* out: DRM_WSE_STATUS_* of the most recent fault */
	__u32 pad;
};

/* ---- Host buffers: GEM objects (shmem), mmap-able, PRIME-exportable ------ */
struct drm_wse_bo_create {
	__u64 size;		/* in: bytes, rounded up to DRM_WSE_PAGE_SIZE */
	__u32 flags;		/* in: must be 0 */
	__u32 handle;		/* out: GEM handle */
};

struct drm_wse_bo_mmap_offset {
	__u32 handle;		/* in */
	__u32 pad;		/* must be 0 */
	__u64 offset;		/* out: pass to mmap() on the device fd */
};

#define DRM_WSE_BO_IMPORTED		0x1	/* from another device's dma-buf */

struct drm_wse_bo_info {
	__u32 handle;		/* in */
	__u32 flags;		/* out: DRM_WSE_BO_* */
	__u64 size;		/* out: bytes */
};

/* ---- Device memory (SRAM): per file, freed when the file closes ---------- */
struct drm_wse_sram_alloc {
	__u64 size;		/* in: bytes, rounded up to DRM_WSE_PAGE_SIZE */
	__u64 alignment;	/* in: power of two >= 4096, or 0 for 4096 */
	__u32 flags;		/* in: must be 0 */
	__u32 handle;		/* out: SRAM handle (its own namespace, not GEM) */
};

struct drm_wse_sram_free {
	__u32 handle;
	__u32 pad;		/* must be 0 */
};

/* ---- MAP/UNMAP: put a BO or an SRAM allocation into a context ----------- */
#define DRM_WSE_MAP_READ		0x1
#define DRM_WSE_MAP_WRITE		0x2
#define DRM_WSE_MAP_FIXED		0x4	/* dva is given, not chosen */
#define DRM_WSE_MAP_SRAM		0x8	/* handle is an SRAM handle */

struct drm_wse_map {
	__u32 ctx;		/* in: context handle */
	__u32 flags;		/* in: DRM_WSE_MAP_*, READ and/or WRITE required */
	__u32 handle;		/* in: GEM handle, or SRAM handle with MAP_SRAM */
	__u32 pad;		/* must be 0 */
	__u64 offset;		/* in: page-aligned offset into the object */
	__u64 size;		/* in: page-aligned bytes; 0 = rest of the object */
	__u64 dva;		/* in with MAP_FIXED (page-aligned), else out */
};

struct drm_wse_unmap {
	__u32 ctx;		/* in */
	__u32 pad;		/* must be 0 */
	__u64 dva;		/* in: start of a mapping, as MAP returned it */
};

/* ---- Jobs --------------------------------------------------------------- */
#define DRM_WSE_SUBMIT_NOP		0x1	/* no stream: a NOP command */
#define DRM_WSE_QUEUE_DEFAULT		0xffffffffu

struct drm_wse_submit {
	__u32 ctx;		/* in: context the job runs in */
	__u32 flags;		/* in: DRM_WSE_SUBMIT_* */
	__u32 queue;		/* in: queue index or DRM_WSE_QUEUE_DEFAULT */
	__u32 stream_handle;	/* in: GEM handle of the op stream BO (0 with NOP) */
	__u64 stream_offset;	/* in: byte offset of the stream, multiple of 8 */
	__u32 stream_length;	/* in: bytes, multiple of 8, 1..max_stream */
	__u32 bo_count;		/* in: entries of bo_handles, <= max_bo_handles */
	__u64 bo_handles;	/* in: user pointer to __u32 GEM handles the job uses */
	__u64 job_id;		/* out: per-file job id, never 0 */
};

/* Job states */
#define DRM_WSE_JOB_PENDING		0
#define DRM_WSE_JOB_DONE		1

/*
 * Job status: 0..9 are the device's completion codes; 64 and above are
 * the driver's.
 */
#define DRM_WSE_STATUS_OK		0
#define DRM_WSE_STATUS_ERR_OPCODE	1
#define DRM_WSE_STATUS_ERR_STREAM	2
#define DRM_WSE_STATUS_ERR_CONTEXT	3
#define DRM_WSE_STATUS_ERR_FAULT	4
#define DRM_WSE_STATUS_ERR_SHAPE	5
#define DRM_WSE_STATUS_ERR_DMA		6
#define DRM_WSE_STATUS_ERR_SRAM		7
#define DRM_WSE_STATUS_ERR_ABORTED	8
#define DRM_WSE_STATUS_ERR_REGION	9
#define DRM_WSE_STATUS_TIMEOUT		64	/* hung: the queue was reset */
#define DRM_WSE_STATUS_CORRUPT		65	/* completion did not match the job */
#define DRM_WSE_STATUS_DEVICE_LOST	66	/* device reset or removed */

struct drm_wse_wait {
	__u64 job_id;		/* in */
	__u64 timeout_ns;	/* in: relative; 0 polls */
	__u32 flags;		/* in: must be 0 */
	__u32 status;		/* out: DRM_WSE_STATUS_* once done */
	__u64 cycles;		/* out: modelled device cycles once done */
};

struct drm_wse_job_status {
	__u64 job_id;		/* in */
	__u32 flags;		/* in: must be 0 */
	__u32 state;		/* out: DRM_WSE_JOB_* */
	__u32 status;		/* out: DRM_WSE_STATUS_*, valid when DONE */
	__u32 op_index;		/* out: failing op record, or ops executed */
	__u64 cycles;		/* out: modelled device cycles */
	__u32 queue;		/* out: hardware queue the job ran on */
	__u32 pad;
	__u64 submit_ns;	/* out: CLOCK_MONOTONIC of the submission */
	__u64 done_ns;		/* out: CLOCK_MONOTONIC of the completion */
};

/* ---- Debug and recovery (CAP_SYS_ADMIN) --------------------------------- */
#define DRM_WSE_FAULT_NONE		0
#define DRM_WSE_FAULT_HANG_QUEUE	1
#define DRM_WSE_FAULT_FAIL_DMA		2
#define DRM_WSE_FAULT_CORRUPT_CQE	3
#define DRM_WSE_FAULT_SRAM_ERROR	4

struct drm_wse_fault_inject {
	__u32 mode;		/* in: DRM_WSE_FAULT_* */
	__u32 queue;		/* in: queue index */
	__u32 flags;		/* in: must be 0 */
	__u32 pad;		/* must be 0 */
};

#define DRM_WSE_RESET_QUEUE		0	/* reset one queue */
#define DRM_WSE_RESET_DEVICE		1	/* full device reset */

struct drm_wse_reset {
	__u32 kind;		/* in: DRM_WSE_RESET_* */
	__u32 queue;		/* in: with RESET_QUEUE */
	__u32 flags;		/* in: must be 0 */
	__u32 pad;		/* must be 0 */
};

#define DRM_IOCTL_WSE_QUERY_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_QUERY_INFO, struct drm_wse_query_info)
#define DRM_IOCTL_WSE_CTX_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_CTX_CREATE, struct drm_wse_ctx_create)
#define DRM_IOCTL_WSE_CTX_DESTROY \
	DRM_IOW(DRM_COMMAND_BASE + DRM_WSE_CTX_DESTROY, struct drm_wse_ctx_destroy)
#define DRM_IOCTL_WSE_CTX_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_CTX_INFO, struct drm_wse_ctx_info)
#define DRM_IOCTL_WSE_BO_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_BO_CREATE, struct drm_wse_bo_create)
#define DRM_IOCTL_WSE_BO_MMAP_OFFSET \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_BO_MMAP_OFFSET, struct drm_wse_bo_mmap_offset)
#define DRM_IOCTL_WSE_BO_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_BO_INFO, struct drm_wse_bo_info)
#define DRM_IOCTL_WSE_SRAM_ALLOC \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_SRAM_ALLOC, struct drm_wse_sram_alloc)
#define DRM_IOCTL_WSE_SRAM_FREE \
	DRM_IOW(DRM_COMMAND_BASE + DRM_WSE_SRAM_FREE, struct drm_wse_sram_free)
#define DRM_IOCTL_WSE_MAP \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_MAP, struct drm_wse_map)
#define DRM_IOCTL_WSE_UNMAP \
	DRM_IOW(DRM_COMMAND_BASE + DRM_WSE_UNMAP, struct drm_wse_unmap)
#define DRM_IOCTL_WSE_SUBMIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_SUBMIT, struct drm_wse_submit)
#define DRM_IOCTL_WSE_WAIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_WAIT, struct drm_wse_wait)
#define DRM_IOCTL_WSE_JOB_STATUS \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_WSE_JOB_STATUS, struct drm_wse_job_status)
#define DRM_IOCTL_WSE_FAULT_INJECT \
	DRM_IOW(DRM_COMMAND_BASE + DRM_WSE_FAULT_INJECT, struct drm_wse_fault_inject)
#define DRM_IOCTL_WSE_RESET \
	DRM_IOW(DRM_COMMAND_BASE + DRM_WSE_RESET, struct drm_wse_reset)

/* ---- Generic netlink family "wse" (telemetry, read with libnl-genl) ----- */
#define WSE_GENL_NAME			"wse"
#define WSE_GENL_VERSION		1
#define WSE_GENL_MCGRP_EVENTS		"events"	/* needs CAP_NET_ADMIN */

enum wse_genl_cmd {
	WSE_GENL_CMD_UNSPEC,
	WSE_GENL_CMD_GET_DEVICE,	/* doit with DEV_INDEX, or dump all */
	WSE_GENL_CMD_EVENT,		/* multicast on "events" */
	__WSE_GENL_CMD_MAX,
};

enum wse_genl_attr {
	WSE_GENL_A_UNSPEC,
	WSE_GENL_A_PAD,
	WSE_GENL_A_DEV_INDEX,		/* u32: N of /dev/accel/accelN */
	WSE_GENL_A_PCI_NAME,		/* string */
	WSE_GENL_A_STATE,		/* u32: WSE_GENL_STATE_* */
	WSE_GENL_A_SRAM_TOTAL,		/* u64 */
	WSE_GENL_A_SRAM_USED,		/* u64 */
	WSE_GENL_A_QUEUES,		/* u32 */
	WSE_GENL_A_JOBS_DONE,		/* u64 */
	WSE_GENL_A_FAULTS,		/* u64 */
	WSE_GENL_A_RESETS,		/* u64 */
	WSE_GENL_A_TIMEOUTS,		/* u64 */
	WSE_GENL_A_GRID_W,		/* u32 */
	WSE_GENL_A_GRID_H,		/* u32 */
	WSE_GENL_A_CONTEXTS,		/* u32: contexts in use */
	WSE_GENL_A_EVENT,		/* u32: WSE_GENL_EVENT_* */
	WSE_GENL_A_EVENT_QUEUE,		/* u32 */
	WSE_GENL_A_EVENT_STATUS,	/* u32: DRM_WSE_STATUS_* */
	WSE_GENL_A_EVENT_CONTEXT,	/* u32: device context id */
	__WSE_GENL_A_MAX,
};

#define WSE_GENL_A_MAX			(__WSE_GENL_A_MAX - 1)

enum wse_genl_state {
	WSE_GENL_STATE_READY = 0,
	WSE_GENL_STATE_RESETTING = 1,
	WSE_GENL_STATE_FATAL = 2,
	WSE_GENL_STATE_GONE = 3,
};

enum wse_genl_event {
	WSE_GENL_EVENT_JOB_TIMEOUT = 1,
	WSE_GENL_EVENT_QUEUE_RESET = 2,
	WSE_GENL_EVENT_DEVICE_RESET = 3,
	WSE_GENL_EVENT_FAULT = 4,
	WSE_GENL_EVENT_SRAM_ERROR = 5,
	WSE_GENL_EVENT_DMA_ERROR = 6,
};

#if defined(__cplusplus)
}
#endif

#endif /* WSE_ACCEL_H */
