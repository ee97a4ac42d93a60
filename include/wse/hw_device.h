/* SPDX-License-Identifier: MIT */
/*
 * wse/hw_device.h - the wse PCIe device's contract with its driver: PCI
 * identity, the BAR0 register map, queue entries, events and the address
 * translation tables that the kernel owns.
 *
 * One of the two halves of the device contract (the other is wse/hw_ops.h,
 * the op records a command runs). Included as "wse/hw_device.h" by the QEMU
 * device, the kernel driver, libwse and the tests; docs/hw-spec.md says the
 * same in prose. All multi-byte fields are little-endian; every structure
 * has a fixed size checked at compile time.
 */
#ifndef WSE_HW_DEVICE_H
#define WSE_HW_DEVICE_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/build_bug.h>
#include <linux/stddef.h>
#else
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#endif

/*
 * Layout checks: the size of every structure and the offset of each field
 * are part of the contract. static_assert comes from <linux/build_bug.h> in
 * the kernel and <assert.h> in userspace.
 */
#define WSE_HW_CHECK_SIZE(type, size) \
	static_assert(sizeof(struct type) == (size), #type " size")
#define WSE_HW_CHECK_FIELD(type, field, offset) \
	static_assert(offsetof(struct type, field) == (offset), #type "." #field)

/* ---- PCI identity ------------------------------------------------------ */
#define WSE_PCI_VENDOR_ID	0x1e3a	/* unassigned in pci.ids; ours */
#define WSE_PCI_DEVICE_ID	0x0003	/* "WSE-3" */
#define WSE_PCI_CLASS		0x1200	/* processing accelerator */
#define WSE_PCI_REVISION	0x01

#define WSE_BAR_REGS		0	/* 64 KiB of registers, a 32-bit BAR */
#define WSE_BAR_MSIX		1	/* MSI-X table and PBA */
#define WSE_BAR_SRAM		2	/* optional debug window into SRAM, 64-bit prefetchable */
#define WSE_REGS_SIZE		0x10000
#define WSE_SRAM_WINDOW_SIZE	(16u << 20)

#define WSE_HW_MAGIC		0x33455357u	/* "WSE3" little-endian */
#define WSE_HW_VERSION_MAJOR	1
#define WSE_HW_VERSION_MINOR	1	/* 1.1: WSE_REG_DTYPES */
#define WSE_HW_VERSION		((WSE_HW_VERSION_MAJOR << 16) | WSE_HW_VERSION_MINOR)

#define WSE_MAX_QUEUES		16
#define WSE_MAX_CONTEXTS	1024
#define WSE_PAGE_SIZE		4096u
#define WSE_PAGE_SHIFT		12

/* ---- BAR0 register map (all registers 32 bits wide) -------------------- */
#define WSE_REG_MAGIC		0x000	/* RO WSE_HW_MAGIC */
#define WSE_REG_VERSION		0x004	/* RO major << 16 | minor */
#define WSE_REG_CAPS		0x008	/* RO WSE_HW_CAP_* */
#define WSE_REG_NUM_QUEUES	0x00c	/* RO hardware queue pairs */
#define WSE_REG_SRAM_SIZE_LO	0x010	/* RO total SRAM bytes */
#define WSE_REG_SRAM_SIZE_HI	0x014
#define WSE_REG_GRID_W		0x018	/* RO PE columns */
#define WSE_REG_GRID_H		0x01c	/* RO PE rows */
#define WSE_REG_PE_SRAM		0x020	/* RO SRAM bytes per PE */
#define WSE_REG_CLOCK_KHZ	0x024	/* RO modelled core clock */
#define WSE_REG_STATUS		0x028	/* RO WSE_HW_STATUS_* */
#define WSE_REG_CONTROL		0x02c	/* WO WSE_CONTROL_* */
#define WSE_REG_MAX_CONTEXTS	0x030	/* RO contexts the device can hold */
#define WSE_REG_SERIAL		0x034	/* RO per-device serial number */
/*
 * RO since 1.1: bit n set = enum wse_hw_dtype n is accepted by every op that
 * takes a weight dtype. A new dtype needs no cap bit: it shows up here.
 */
#define WSE_REG_DTYPES		0x038

/* Context table: host memory, WSE_REG_CTX_COUNT entries of wse_hw_ctx. */
#define WSE_REG_CTX_BASE_LO	0x040
#define WSE_REG_CTX_BASE_HI	0x044
#define WSE_REG_CTX_COUNT	0x048	/* 0 disables translation */
/*
 * Writing a context id here makes the device drop the context's old tables:
 * the driver writes it after changing a context's map, then polls until
 * reads return 0, and only then frees what was unmapped. The write returns
 * at once; reads stay non-zero while a command of that context that was
 * running at the write is still executing (every later command reads the
 * new tables).
 */
#define WSE_REG_CTX_INVALIDATE	0x04c

/* Device event ring: host memory, written by the device, MSI-X vector NUM_QUEUES. */
#define WSE_REG_EVQ_BASE_LO	0x060
#define WSE_REG_EVQ_BASE_HI	0x064
#define WSE_REG_EVQ_SIZE	0x068	/* entries, power of two; 0 disables */
#define WSE_REG_EVQ_TAIL	0x06c	/* RO next entry the device writes */
#define WSE_REG_EVQ_HEAD	0x070	/* RW next entry the driver reads */
#define WSE_REG_EVQ_DROPPED	0x074	/* RO events lost because the ring was full */

/* Error log: the most recent device error, kept until the next one. */
#define WSE_REG_ERR_STATUS	0x080	/* WSE_HW_STATUS_ERR_* of the last error */
#define WSE_REG_ERR_CONTEXT	0x084
#define WSE_REG_ERR_ADDR_LO	0x088	/* faulting device address, if any */
#define WSE_REG_ERR_ADDR_HI	0x08c
#define WSE_REG_ERR_COUNT	0x090	/* RO errors since reset */

/* Counters since the last reset; _LO is latched, read it first. */
#define WSE_REG_CMDS_DONE_LO	0x0a0
#define WSE_REG_CMDS_DONE_HI	0x0a4
#define WSE_REG_CYCLES_LO	0x0a8	/* modelled device cycles executed */
#define WSE_REG_CYCLES_HI	0x0ac

/* Debug: fault injection, WSE_HW_FAULT_* | queue << 8. Not for production use. */
#define WSE_REG_FAULT_INJECT	0x0c0
/* Debug: SRAM byte offset that BAR2 shows at its start (4 KiB aligned). */
#define WSE_REG_SRAM_WINDOW_LO	0x0c8
#define WSE_REG_SRAM_WINDOW_HI	0x0cc

/*
 * SRAM scrub: writing WSE_SCRUB_GO zeroes [OFFSET, OFFSET + LEN) of SRAM
 * before the write completes (both 4 KiB aligned, inside SRAM; otherwise
 * nothing is zeroed and the error log records WSE_HW_STATUS_ERR_FAULT). The
 * driver scrubs every SRAM allocation so no file sees another's old data.
 */
#define WSE_REG_SCRUB_OFFSET_LO	0x0d0
#define WSE_REG_SCRUB_OFFSET_HI	0x0d4
#define WSE_REG_SCRUB_LEN_LO	0x0d8
#define WSE_REG_SCRUB_LEN_HI	0x0dc
#define WSE_REG_SCRUB		0x0e0	/* WO WSE_SCRUB_GO */
#define WSE_SCRUB_GO		1u

/* Per-queue register block i at WSE_REG_QUEUE(i). */
#define WSE_REG_QUEUE_BASE	0x1000
#define WSE_REG_QUEUE_STRIDE	0x40
#define WSE_REG_QUEUE(i)	(WSE_REG_QUEUE_BASE + (i) * WSE_REG_QUEUE_STRIDE)
#define WSE_QREG_SQ_BASE_LO	0x00
#define WSE_QREG_SQ_BASE_HI	0x04
#define WSE_QREG_CQ_BASE_LO	0x08
#define WSE_QREG_CQ_BASE_HI	0x0c
#define WSE_QREG_SIZE		0x10	/* entries in SQ and CQ, power of two, 2..4096 */
#define WSE_QREG_ENABLE		0x14	/* 1 enables; 0 stops after the current command */
#define WSE_QREG_SQ_TAIL	0x18	/* doorbell: driver writes next free SQ slot */
#define WSE_QREG_CQ_HEAD	0x1c	/* doorbell: driver writes next CQ slot it will read */
#define WSE_QREG_SQ_HEAD	0x20	/* RO next SQ slot the device will fetch */
#define WSE_QREG_STATUS		0x24	/* RO WSE_QSTATUS_* */
/*
 * WO 1: drop pending commands, heads = tails = 0, disabled (configuration
 * kept), at once; a running command of the queue is aborted and never
 * completes. The write returns at once: until that command has stopped,
 * WSE_QSTATUS_RESETTING is set and the driver must not free memory the
 * command may still access; RESET_DONE follows when it clears.
 */
#define WSE_QREG_RESET		0x28

/* WSE_REG_CAPS; F16, BF16 and Q8_0 are kept for 1.0 drivers, WSE_REG_DTYPES says more */
#define WSE_HW_CAP_F16		0x01u
#define WSE_HW_CAP_BF16		0x02u
#define WSE_HW_CAP_Q8_0		0x04u
#define WSE_HW_CAP_FUSED_LAYER	0x08u
#define WSE_HW_CAP_FAULT_INJECT	0x10u
#define WSE_HW_CAP_SRAM_WINDOW	0x20u
#define WSE_HW_CAP_MAP_TREE	0x40u	/* host mappings may use a page tree */

/* WSE_REG_STATUS */
#define WSE_HW_DEV_READY	0x01u
#define WSE_HW_DEV_FATAL	0x02u	/* needs a device reset */

/*
 * WSE_REG_CONTROL. RESET returns at once with READY clear; READY comes back
 * once a running command has stopped (milliseconds) and everything is
 * cleared. Until then the device may still access host memory: poll READY
 * before freeing or reprogramming anything.
 */
#define WSE_CONTROL_RESET	0x01u

/* WSE_QREG_STATUS */
#define WSE_QSTATUS_ENABLED	0x01u
#define WSE_QSTATUS_BUSY	0x02u
#define WSE_QSTATUS_HUNG	0x04u	/* fault injection: stopped until reset */
#define WSE_QSTATUS_RESETTING	0x08u	/* QREG_RESET: aborted command not yet stopped */

/* WSE_REG_FAULT_INJECT modes (bits 0..7); the queue index is bits 8..15. */
#define WSE_HW_FAULT_NONE		0
#define WSE_HW_FAULT_HANG_QUEUE		1	/* queue stops completing until reset */
#define WSE_HW_FAULT_FAIL_DMA		2	/* next host DMA of the queue fails */
#define WSE_HW_FAULT_CORRUPT_CQE	3	/* next completion has a wrong seq */
#define WSE_HW_FAULT_SRAM_ERROR		4	/* uncorrectable SRAM error, next command */
#define WSE_HW_FAULT_MODE_MASK		0xffu
#define WSE_HW_FAULT_QUEUE_SHIFT	8

/* ---- MSI-X ------------------------------------------------------------- */
/* Vector i (i < NUM_QUEUES) signals completions of queue i; the next one events. */
#define WSE_MSIX_EVENT_VECTOR(nq)	(nq)
#define WSE_MSIX_VECTORS(nq)		((nq) + 1)

/* ---- Queue entries ----------------------------------------------------- */
enum wse_hw_cmd_opcode {
	WSE_CMD_NOP = 0,	/* completes at once with status OK */
	WSE_CMD_EXEC = 1,	/* run the op stream at stream_dva */
};

/* Submission queue entry, 64 bytes. */
struct wse_hw_sqe {
	__le16 opcode;		/* enum wse_hw_cmd_opcode */
	__le16 flags;		/* must be 0 */
	__le32 context;		/* address space the command runs in */
	__le64 seq;		/* echoed in the completion */
	__le64 stream_dva;	/* WSE_CMD_EXEC: first op record */
	__le32 stream_len;	/* bytes, multiple of 8, at most WSE_MAX_STREAM */
	__le32 reserved0;
	__le64 reserved[4];
};

#define WSE_MAX_STREAM		0x100000u	/* 1 MiB */

/* Completion queue entry, 32 bytes. */
struct wse_hw_cqe {
	__le64 seq;		/* the sqe's seq */
	__le64 cycles;		/* modelled device cycles the command took */
	__le32 status;		/* enum wse_hw_status */
	__le32 op_index;	/* failing op record, or number of ops executed */
	__le16 sq_head;		/* device's SQ head after this command */
	__le16 flags;		/* bit 0: phase, flips on each pass of the ring */
	__le32 context;
};

#define WSE_CQE_PHASE		0x01u

enum wse_hw_status {
	WSE_HW_STATUS_OK = 0,
	WSE_HW_STATUS_ERR_OPCODE = 1,	/* unknown command or op opcode */
	WSE_HW_STATUS_ERR_STREAM = 2,	/* malformed op stream (length, flags, reserved) */
	WSE_HW_STATUS_ERR_CONTEXT = 3,	/* context id invalid or not set up */
	/*
	 * Address not mapped, wrong kind, out of range, misaligned for its
	 * element type, or overlapping another operand where the op forbids it.
	 */
	WSE_HW_STATUS_ERR_FAULT = 4,
	WSE_HW_STATUS_ERR_SHAPE = 5,	/* dimensions zero, overflowing or inconsistent */
	WSE_HW_STATUS_ERR_DMA = 6,		/* host DMA failed */
	WSE_HW_STATUS_ERR_SRAM = 7,	/* uncorrectable SRAM error */
	WSE_HW_STATUS_ERR_ABORTED = 8,	/* queue or device reset while pending */
	WSE_HW_STATUS_ERR_REGION = 9,	/* PE region outside the grid */
};

/* ---- Device events ----------------------------------------------------- */
enum wse_hw_event_type {
	WSE_HW_EVENT_FAULT = 1,		/* address fault in a context */
	WSE_HW_EVENT_DMA_ERROR = 2,
	WSE_HW_EVENT_SRAM_ERROR = 3,
	WSE_HW_EVENT_RESET_DONE = 4,
	WSE_HW_EVENT_CQ_OVERFLOW = 5,	/* driver did not consume completions */
};

/* Event ring entry, 32 bytes. */
struct wse_hw_event {
	__le32 type;		/* enum wse_hw_event_type */
	__le32 context;
	__le32 queue;
	__le32 status;		/* enum wse_hw_status, where one applies */
	__le64 addr;		/* faulting device address, where one applies */
	__le64 seq;		/* command sequence number, where one applies */
};

/* ---- Address translation ------------------------------------------------ */
/*
 * Each context's device address space is a sorted array of non-overlapping
 * mappings in host memory, owned by the kernel. A device virtual address
 * (DVA) range used by a command must lie inside one mapping; anything else
 * faults. Host mappings point at a page list: one 64-bit DMA address per
 * 4 KiB page of the mapping, or (WSE_HW_MAP_TREE) at the root of a page tree.
 */
struct wse_hw_ctx {
	__le64 map_dma;		/* DMA address of map_count wse_hw_map entries */
	__le32 map_count;
	__le32 flags;		/* WSE_CTX_VALID */
};

#define WSE_CTX_VALID		0x01u
#define WSE_CTX_MAX_MAPS	65536

struct wse_hw_map {
	__le64 dva;		/* 4 KiB aligned */
	__le64 size;		/* 4 KiB multiple, non-zero */
	__le64 target;		/* SRAM: byte offset; HOST: DMA address of the page list */
	__le32 flags;		/* WSE_MAP_* */
	__le32 reserved;
};

#define WSE_HW_MAP_SRAM		0x01u
#define WSE_HW_MAP_HOST		0x02u
#define WSE_HW_MAP_READ		0x04u
#define WSE_HW_MAP_WRITE	0x08u
#define WSE_HW_MAP_TREE		0x10u	/* HOST only, with WSE_HW_CAP_MAP_TREE */

/*
 * Page tree of a host mapping (WSE_HW_MAP_TREE): target is the DMA address of
 * a 4 KiB-aligned table of WSE_TREE_ENTRIES 64-bit entries, the root of a
 * radix tree of wse_hw_tree_levels(size / 4 KiB) levels. Page p of the
 * mapping is entry (p >> (WSE_TREE_SHIFT * l)) % WSE_TREE_ENTRIES of its
 * table at level l, walked from the root (l = levels - 1) down to 0: an
 * entry above level 0 is the DMA address of the next table (4 KiB aligned),
 * an entry at level 0 the page's address. Entries past the mapping's last
 * page are never read. Unlike a flat page list, a tree of any size is made
 * of single pages. One level is a flat list that fits in a page.
 */
#define WSE_TREE_SHIFT		9
#define WSE_TREE_ENTRIES	512u	/* 1 << WSE_TREE_SHIFT */

static inline __u32 wse_hw_tree_levels(__u64 pages)
{
	__u32 levels = 1;

	while (pages > WSE_TREE_ENTRIES) {
		pages = (pages + WSE_TREE_ENTRIES - 1) >> WSE_TREE_SHIFT;
		levels++;
	}
	return levels;
}

static_assert(WSE_TREE_ENTRIES == 1u << WSE_TREE_SHIFT, "page tree fan-out");

WSE_HW_CHECK_SIZE(wse_hw_sqe, 64);
WSE_HW_CHECK_FIELD(wse_hw_sqe, opcode, 0);
WSE_HW_CHECK_FIELD(wse_hw_sqe, flags, 2);
WSE_HW_CHECK_FIELD(wse_hw_sqe, context, 4);
WSE_HW_CHECK_FIELD(wse_hw_sqe, seq, 8);
WSE_HW_CHECK_FIELD(wse_hw_sqe, stream_dva, 16);
WSE_HW_CHECK_FIELD(wse_hw_sqe, stream_len, 24);
WSE_HW_CHECK_FIELD(wse_hw_sqe, reserved0, 28);
WSE_HW_CHECK_FIELD(wse_hw_sqe, reserved, 32);

WSE_HW_CHECK_SIZE(wse_hw_cqe, 32);
WSE_HW_CHECK_FIELD(wse_hw_cqe, seq, 0);
WSE_HW_CHECK_FIELD(wse_hw_cqe, cycles, 8);
WSE_HW_CHECK_FIELD(wse_hw_cqe, status, 16);
WSE_HW_CHECK_FIELD(wse_hw_cqe, op_index, 20);
WSE_HW_CHECK_FIELD(wse_hw_cqe, sq_head, 24);
WSE_HW_CHECK_FIELD(wse_hw_cqe, flags, 26);
WSE_HW_CHECK_FIELD(wse_hw_cqe, context, 28);

WSE_HW_CHECK_SIZE(wse_hw_event, 32);
WSE_HW_CHECK_FIELD(wse_hw_event, type, 0);
WSE_HW_CHECK_FIELD(wse_hw_event, context, 4);
WSE_HW_CHECK_FIELD(wse_hw_event, queue, 8);
WSE_HW_CHECK_FIELD(wse_hw_event, status, 12);
WSE_HW_CHECK_FIELD(wse_hw_event, addr, 16);
WSE_HW_CHECK_FIELD(wse_hw_event, seq, 24);

WSE_HW_CHECK_SIZE(wse_hw_ctx, 16);
WSE_HW_CHECK_FIELD(wse_hw_ctx, map_dma, 0);
WSE_HW_CHECK_FIELD(wse_hw_ctx, map_count, 8);
WSE_HW_CHECK_FIELD(wse_hw_ctx, flags, 12);

WSE_HW_CHECK_SIZE(wse_hw_map, 32);
WSE_HW_CHECK_FIELD(wse_hw_map, dva, 0);
WSE_HW_CHECK_FIELD(wse_hw_map, size, 8);
WSE_HW_CHECK_FIELD(wse_hw_map, target, 16);
WSE_HW_CHECK_FIELD(wse_hw_map, flags, 24);
WSE_HW_CHECK_FIELD(wse_hw_map, reserved, 28);

#endif /* WSE_HW_DEVICE_H */
