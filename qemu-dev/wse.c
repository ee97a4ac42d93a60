/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wse.c - the wse PCIe device: a wafer-scale AI engine modelled on the
 * Cerebras WSE-3. The hardware contract is include/wse/ (hw_device.h,
 * hw_ops.h); docs/hw-spec.md describes it in prose.
 *
 * Threading: MMIO handlers run under the BQL and only record state and kick
 * the worker. One worker thread per device fetches commands and executes
 * them. All register and queue state is protected by the BQL; the worker
 * holds the BQL while it fetches a submission entry and while it posts a
 * completion (CQE write, counters, events, msix_notify), and drops it for
 * everything in between (context tables, op stream, translation, host DMA,
 * computation).
 *
 * No MMIO handler waits for a command. A queue or device reset and a
 * context invalidation that find a command running record what they need,
 * raise abort_mask where the command must stop (it looks between records,
 * pages and chunks of every op, a few milliseconds apart) and return; the
 * worker finishes them when the command returns, and the driver polls a
 * status register (docs/hw-spec.md sections 8, 9). Only QEMU's own device reset
 * and unplug wait for the worker (qemu_cond_wait_bql, bounded by the same
 * abort checks), and never when they run on the worker itself.
 *
 * Every DMA goes through wse_dma_rw(), which reaches guest RAM only, and
 * every MSI-X message through wse_msi_trigger(), which reaches the interrupt
 * window or RAM only: nothing the guest programs steers a device write at
 * MMIO (registers, ECAM, a root port's slot controls, another device).
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "system/dma.h"

#include "wse/hw_device.h"
#include "wse/hw_ops.h"
#include "wse/op_rules.h"
#include "wafer/wafer.h"
#include "trace.h"

/* Op records are handed to the wafer model in place, in host byte order. */
#if HOST_BIG_ENDIAN
#error "the wse device supports little-endian hosts only"
#endif

#define TYPE_WSE "wse"
OBJECT_DECLARE_SIMPLE_TYPE(WseState, WSE)

#define WSE_QUEUE_MIN_ENTRIES	2
#define WSE_QUEUE_MAX_ENTRIES	4096
#define WSE_EVQ_MAX_ENTRIES	65536
#define WSE_NO_QUEUE		(-1)
#define WSE_HW_EVENT_ALL_QUEUES	0xffffffffu
#define WSE_ABORT_ALL		(1u << WSE_MAX_QUEUES)

typedef struct WseQueue {
	uint64_t sq_base;
	uint64_t cq_base;
	uint32_t size;
	bool enabled;
	bool hung;
	uint32_t sq_tail;	/* doorbell */
	uint32_t cq_head;	/* doorbell */
	uint32_t sq_head;
	uint32_t cq_tail;
	bool phase;
	/* Faults armed through WSE_REG_FAULT_INJECT or a property. */
	bool fault_dma;
	bool fault_cqe;
	bool fault_sram;
	bool overflow_reported;
	/* Reset while its command ran: RESET_DONE is due when the command stops. */
	bool reset_pending;
	/* A completion the CQ had no room for; posted before anything else. */
	bool cqe_pending;
	struct wse_hw_cqe pending;
	/* Bumped by every reset so that a result computed before it is dropped. */
	uint32_t generation;
} WseQueue;

struct WseState {
	PCIDevice parent_obj;

	MemoryRegion regs;
	MemoryRegion sram_window;

	/* Properties. */
	uint32_t num_queues;
	uint64_t sram_size;
	char *preset;
	char *serial;
	uint32_t threads;
	bool sram_window_enabled;
	int32_t fault_hang_queue;
	int32_t fault_dma_queue;
	int32_t fault_cqe_queue;
	int32_t fault_sram_queue;

	struct wafer *wafer;
	struct wafer_info info;
	/* QEMU's MSI sender, for messages to the MSI window (wse_msi_trigger). */
	MSITriggerFunc *msi_trigger_default;
	uint32_t serial_number;
	uint32_t caps;
	uint32_t dtypes;	/* WSE_REG_DTYPES */

	/* Register state, protected by the BQL. */
	uint32_t status;
	uint64_t ctx_base;
	uint32_t ctx_count;
	uint64_t evq_base;
	uint32_t evq_size;
	uint32_t evq_tail;
	uint32_t evq_head;
	uint32_t evq_dropped;
	uint32_t err_status;
	uint32_t err_context;
	uint64_t err_addr;
	uint32_t err_count;
	uint64_t cmds_done;
	uint64_t cycles;
	uint32_t cmds_done_hi_latch;
	uint32_t cycles_hi_latch;
	uint64_t sram_window_offset;
	uint64_t scrub_offset, scrub_len;
	WseQueue queues[WSE_MAX_QUEUES];
	uint32_t next_queue;
	bool startup_faults_armed;

	/* Worker coordination, protected by the BQL. */
	QemuThread worker;
	bool worker_started;
	/* Unplugged from the worker thread itself: the worker frees what is left. */
	bool worker_frees;
	QemuCond work_cond;
	QemuCond idle_cond;
	bool stopping;
	/* Device reset asked for while a command ran; READY is clear meanwhile. */
	bool reset_pending;
	bool reset_done_event;	/* post RESET_DONE when it completes (CONTROL) */
	/* WSE_REG_CTX_INVALIDATE reads: the running command's context was invalidated. */
	bool invalidate_busy;
	int exec_queue;
	uint32_t exec_context;
	/*
	 * Queues (bit i) whose running command must stop, WSE_ABORT_ALL for
	 * all; read by the worker without the BQL between records and pages.
	 */
	uint32_t abort_mask;

	/* Worker-private buffers. */
	uint8_t *stream;
	struct wse_hw_map *maps;
	uint32_t maps_capacity;
	uint8_t bounce[WSE_PAGE_SIZE];
};

/* One command as the worker executes it, outside the BQL. */
typedef struct WseCmd {
	WseState *dev;
	uint32_t queue;
	uint64_t seq;
	uint32_t context;
	uint64_t ctx_base;
	uint32_t ctx_count;
	bool fault_dma;		/* armed: the next host transfer fails */
	bool fault_dma_fired;
	bool fault_sram;
	const struct wse_hw_map *maps;
	uint32_t map_count;
	/* Result. */
	uint32_t status;
	uint32_t op_index;
	uint64_t cycles;
	uint64_t fault_addr;
} WseCmd;

/* The device whose worker this thread is, NULL on every other thread. */
static __thread WseState *wse_worker_of;
static uint32_t wse_instances;

static bool is_pow2_in(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v >= lo && v <= hi && is_power_of_2(v);
}

/* ---- DMA ----------------------------------------------------------------- */

/*
 * All device DMA: rings, SQEs, completions, events, context and map tables,
 * page lists and COPY data. MemTxAttrs.memory makes QEMU refuse
 * (MEMTX_ACCESS_ERROR) every part of the range that is not RAM, checked in
 * the flat view the access itself uses, so no remap can slip between check
 * and access. A guest driver can thus never steer the device at MMIO: its
 * own registers, ECAM, a root port's slot controls or another device.
 */
static MemTxResult wse_dma_rw(WseState *s, uint64_t addr, void *buf, uint64_t len,
			      DMADirection dir)
{
	const MemTxAttrs attrs = { .memory = true };

	return pci_dma_rw(PCI_DEVICE(s), addr, buf, len, dir, attrs);
}

static MemTxResult wse_dma_read(WseState *s, uint64_t addr, void *buf, uint64_t len)
{
	return wse_dma_rw(s, addr, buf, len, DMA_DIRECTION_TO_DEVICE);
}

static MemTxResult wse_dma_write(WseState *s, uint64_t addr, const void *buf, uint64_t len)
{
	return wse_dma_rw(s, addr, (void *)buf, len, DMA_DIRECTION_FROM_DEVICE);
}

/* x86's MSI window: a write there is an interrupt to a local APIC. */
#define WSE_MSI_WINDOW_BASE	0xfee00000ull
#define WSE_MSI_WINDOW_SIZE	0x100000ull

/*
 * Replaces QEMU's message sender, a plain store to wherever the guest aimed
 * the vector, for msix_notify() and for msix.c's resend of a pending vector
 * when the guest unmasks it. Aimed at the MSI window, a message is an
 * interrupt; aimed at RAM, a store like any of the device's DMA (mailboxes,
 * as libqos uses); anything else is dropped, so that a completion on the
 * worker can never write a register, ECAM or a root port's slot control and
 * reset or unplug the device under its own worker.
 */
static void wse_msi_trigger(PCIDevice *pdev, MSIMessage msg)
{
	WseState *s = WSE(pdev);
	uint32_t data = cpu_to_le32(msg.data);

	if (msg.address - WSE_MSI_WINDOW_BASE < WSE_MSI_WINDOW_SIZE) {
		s->msi_trigger_default(pdev, msg);
		return;
	}
	if (wse_dma_write(s, msg.address, &data, sizeof(data)) != MEMTX_OK)
		qemu_log_mask(LOG_GUEST_ERROR,
			      "wse: MSI-X message to 0x%" PRIx64 " dropped: not the MSI window nor RAM\n",
			      msg.address);
}

/* ---- events, errors, completions (BQL held) ----------------------------- */

static void wse_post_event(WseState *s, uint32_t type, uint32_t context,
			   uint32_t queue, uint32_t status, uint64_t addr,
			   uint64_t seq)
{
	struct wse_hw_event ev;
	uint32_t next;

	if (!s->evq_size)
		return;
	next = (s->evq_tail + 1) & (s->evq_size - 1);
	if (next == s->evq_head) {
		s->evq_dropped++;
		trace_wse_event_dropped(type, s->evq_dropped);
		return;
	}
	trace_wse_event(type, context, queue, status);
	ev.type = cpu_to_le32(type);
	ev.context = cpu_to_le32(context);
	ev.queue = cpu_to_le32(queue);
	ev.status = cpu_to_le32(status);
	ev.addr = cpu_to_le64(addr);
	ev.seq = cpu_to_le64(seq);
	if (wse_dma_write(s, s->evq_base + (uint64_t)s->evq_tail * sizeof(ev), &ev,
			  sizeof(ev)) != MEMTX_OK) {
		s->evq_dropped++;
		return;
	}
	s->evq_tail = next;
	/* Last: the message may reset or unplug this device (see the top). */
	msix_notify(PCI_DEVICE(s), WSE_MSIX_EVENT_VECTOR(s->num_queues));
}

static uint32_t wse_event_for_status(uint32_t status)
{
	switch (status) {
	case WSE_HW_STATUS_ERR_FAULT:
	case WSE_HW_STATUS_ERR_CONTEXT:
		return WSE_HW_EVENT_FAULT;
	case WSE_HW_STATUS_ERR_DMA:
		return WSE_HW_EVENT_DMA_ERROR;
	case WSE_HW_STATUS_ERR_SRAM:
		return WSE_HW_EVENT_SRAM_ERROR;
	default:
		return 0;
	}
}

static void wse_log_error(WseState *s, uint32_t status, uint32_t context,
			  uint64_t addr)
{
	s->err_status = status;
	s->err_context = context;
	s->err_addr = addr;
	s->err_count++;
}

static bool wse_cq_full(const WseQueue *q)
{
	return ((q->cq_tail + 1) & (q->size - 1)) == q->cq_head;
}

/*
 * Writes the CQE so that the phase bit becomes visible last: everything but
 * the flags first, then the flags. dma_memory_rw orders the writes.
 */
static bool wse_write_cqe(WseState *s, WseQueue *q, const struct wse_hw_cqe *cqe)
{
	uint64_t addr = q->cq_base + (uint64_t)q->cq_tail * sizeof(*cqe);
	const uint8_t *bytes = (const uint8_t *)cqe;
	size_t flags_at = offsetof(struct wse_hw_cqe, flags);
	size_t after_flags = flags_at + sizeof(cqe->flags);

	return wse_dma_write(s, addr, bytes, flags_at) == MEMTX_OK &&
	       wse_dma_write(s, addr + after_flags, bytes + after_flags,
			     sizeof(*cqe) - after_flags) == MEMTX_OK &&
	       wse_dma_write(s, addr + flags_at, bytes + flags_at,
			     sizeof(cqe->flags)) == MEMTX_OK;
}

/* Posts q->pending if the CQ has room; returns true when it was posted. */
static bool wse_post_pending_cqe(WseState *s, uint32_t qi)
{
	WseQueue *q = &s->queues[qi];
	struct wse_hw_cqe cqe = q->pending;

	if (wse_cq_full(q))
		return false;
	q->cqe_pending = false;
	cqe.flags = cpu_to_le16(q->phase ? WSE_CQE_PHASE : 0);
	if (!wse_write_cqe(s, q, &cqe)) {
		/* The driver gave us a CQ we cannot write: the completion is lost. */
		wse_log_error(s, WSE_HW_STATUS_ERR_DMA, le32_to_cpu(cqe.context),
			      q->cq_base);
		wse_post_event(s, WSE_HW_EVENT_DMA_ERROR, le32_to_cpu(cqe.context), qi,
			       WSE_HW_STATUS_ERR_DMA, 0, le64_to_cpu(cqe.seq));
		return true;
	}
	q->cq_tail = (q->cq_tail + 1) & (q->size - 1);
	if (q->cq_tail == 0)
		q->phase = !q->phase;
	/* Last: the message may reset or unplug this device (see the top). */
	msix_notify(PCI_DEVICE(s), qi);
	return true;
}

static void wse_complete(WseState *s, uint32_t qi, const WseCmd *c,
			 uint16_t sq_head)
{
	WseQueue *q = &s->queues[qi];
	uint32_t generation = q->generation;
	uint64_t seq = c->seq;
	uint32_t event;

	s->cmds_done++;
	s->cycles += c->cycles;
	trace_wse_cmd_complete(qi, c->seq, c->status, c->op_index, c->cycles);
	if (c->status != WSE_HW_STATUS_OK) {
		trace_wse_cmd_fault(qi, c->seq, c->status, c->context, c->fault_addr);
		wse_log_error(s, c->status, c->context, c->fault_addr);
		event = wse_event_for_status(c->status);
		if (event)
			wse_post_event(s, event, c->context, qi, c->status,
				       c->fault_addr, c->seq);
		/* The event's message reset the queue or took the device away. */
		if (s->stopping || generation != q->generation)
			return;
	}
	if (q->fault_cqe) {
		q->fault_cqe = false;
		seq = ~seq;
	}
	memset(&q->pending, 0, sizeof(q->pending));
	q->pending.seq = cpu_to_le64(seq);
	q->pending.cycles = cpu_to_le64(c->cycles);
	q->pending.status = cpu_to_le32(c->status);
	q->pending.op_index = cpu_to_le32(c->op_index);
	q->pending.sq_head = cpu_to_le16(sq_head);
	q->pending.context = cpu_to_le32(c->context);
	q->cqe_pending = true;
	wse_post_pending_cqe(s, qi);
}

/* ---- address translation (worker, no BQL) -------------------------------- */

/* A reset or unplug is waiting for this command: stop, the result is dropped. */
static bool wse_aborted(WseState *s, const WseCmd *c)
{
	return qatomic_read(&s->abort_mask) & (WSE_ABORT_ALL | 1u << c->queue);
}

/* The wafer model asks this between rows, heads and chunks of an op. */
static int wse_op_must_stop(void *opaque)
{
	const WseCmd *c = opaque;

	return wse_aborted(c->dev, c);
}

static uint32_t wse_dma_error(WseCmd *c, uint64_t dva)
{
	c->fault_addr = dva;
	return WSE_HW_STATUS_ERR_DMA;
}

static uint32_t wse_fault(WseCmd *c, uint64_t dva)
{
	c->fault_addr = dva;
	return WSE_HW_STATUS_ERR_FAULT;
}

static bool wse_map_valid(const WseState *s, const struct wse_hw_map *m)
{
	uint32_t kind = m->flags & (WSE_HW_MAP_SRAM | WSE_HW_MAP_HOST);
	uint32_t known = WSE_HW_MAP_SRAM | WSE_HW_MAP_HOST | WSE_HW_MAP_READ | WSE_HW_MAP_WRITE |
			 WSE_HW_MAP_TREE;

	if (m->flags & ~known || m->reserved)
		return false;
	if (kind != WSE_HW_MAP_SRAM && kind != WSE_HW_MAP_HOST)
		return false;
	if (m->dva % WSE_PAGE_SIZE || m->size % WSE_PAGE_SIZE || !m->size)
		return false;
	if (m->dva + m->size < m->dva)
		return false;
	if (kind == WSE_HW_MAP_SRAM &&
	    (m->target > s->info.sram_bytes || m->size > s->info.sram_bytes - m->target))
		return false;
	if (m->flags & WSE_HW_MAP_TREE)
		return kind == WSE_HW_MAP_HOST && m->target % WSE_PAGE_SIZE == 0;
	/* A page list of size / 4 KiB addresses must not wrap the DMA space. */
	if (kind == WSE_HW_MAP_HOST && m->target + (m->size / WSE_PAGE_SIZE) * 8 < m->target)
		return false;
	return true;
}

/*
 * The DMA address of page @page of host mapping @m: one entry of its flat
 * page list, or a walk down its page tree (WSE_HW_MAP_TREE).
 */
static bool wse_page_addr(WseState *s, const struct wse_hw_map *m, uint64_t page,
			  uint64_t *pa)
{
	uint64_t table = m->target, entry;
	uint32_t level;

	if (!(m->flags & WSE_HW_MAP_TREE)) {
		if (wse_dma_read(s, table + page * 8, &entry, sizeof(entry)) != MEMTX_OK)
			return false;
		*pa = le64_to_cpu(entry);
		return true;
	}
	level = wse_hw_tree_levels(m->size / WSE_PAGE_SIZE);
	while (level--) {
		uint64_t index = (page >> (WSE_TREE_SHIFT * level)) % WSE_TREE_ENTRIES;

		if (wse_dma_read(s, table + index * 8, &entry, sizeof(entry)) != MEMTX_OK)
			return false;
		table = le64_to_cpu(entry);
		if (level && table % WSE_PAGE_SIZE)
			return false;
	}
	*pa = table;
	return true;
}

/*
 * Reads the context's map table into s->maps (bounded by WSE_CTX_MAX_MAPS
 * entries, 2 MiB) and checks it once per command: valid entries, sorted by
 * DVA, no overlaps. The table is re-read for every command, which is what
 * makes WSE_REG_CTX_INVALIDATE cheap.
 */
static uint32_t wse_load_context(WseState *s, WseCmd *c)
{
	struct wse_hw_ctx ctx;
	uint64_t map_dma;
	uint32_t count, i;

	if (c->context >= c->ctx_count)
		return WSE_HW_STATUS_ERR_CONTEXT;
	if (wse_dma_read(s, c->ctx_base + (uint64_t)c->context * sizeof(ctx), &ctx,
			 sizeof(ctx)) != MEMTX_OK)
		return wse_dma_error(c, 0);
	map_dma = le64_to_cpu(ctx.map_dma);
	count = le32_to_cpu(ctx.map_count);
	if (le32_to_cpu(ctx.flags) != WSE_CTX_VALID || count > WSE_CTX_MAX_MAPS)
		return WSE_HW_STATUS_ERR_CONTEXT;
	if (count > s->maps_capacity) {
		s->maps = g_renew(struct wse_hw_map, s->maps, count);
		s->maps_capacity = count;
	}
	if (count && wse_dma_read(s, map_dma, s->maps,
				  (uint64_t)count * sizeof(*s->maps)) != MEMTX_OK)
		return wse_dma_error(c, 0);
	for (i = 0; i < count; i++) {
		struct wse_hw_map *m = &s->maps[i];

		m->dva = le64_to_cpu(m->dva);
		m->size = le64_to_cpu(m->size);
		m->target = le64_to_cpu(m->target);
		m->flags = le32_to_cpu(m->flags);
		m->reserved = le32_to_cpu(m->reserved);
		if (!wse_map_valid(s, m)) {
			c->fault_addr = m->dva;
			return WSE_HW_STATUS_ERR_CONTEXT;
		}
		if (i && s->maps[i - 1].dva + s->maps[i - 1].size > m->dva) {
			c->fault_addr = m->dva;
			return WSE_HW_STATUS_ERR_CONTEXT;
		}
	}
	c->maps = s->maps;
	c->map_count = count;
	return WSE_HW_STATUS_OK;
}

/* Finds the mapping holding all of [dva, dva + len) with the permission needed. */
static uint32_t wse_translate(WseCmd *c, uint64_t dva, uint64_t len,
			      uint32_t need, const struct wse_hw_map **out)
{
	uint32_t lo = 0, hi = c->map_count;
	const struct wse_hw_map *m;
	uint64_t off;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->maps[mid].dva <= dva)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return wse_fault(c, dva);
	m = &c->maps[lo - 1];
	off = dva - m->dva;
	if (off >= m->size || len > m->size - off || (m->flags & need) != need)
		return wse_fault(c, dva);
	*out = m;
	return WSE_HW_STATUS_OK;
}

/*
 * Moves len bytes between buf and a host mapping at byte offset off, one
 * 4 KiB page of the page list at a time.
 */
static uint32_t wse_host_xfer(WseState *s, WseCmd *c, const struct wse_hw_map *m,
			      uint64_t off, void *buf, uint64_t len, bool to_host)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t page = off / WSE_PAGE_SIZE;
		uint64_t in_page = off % WSE_PAGE_SIZE;
		uint64_t chunk = MIN(len, WSE_PAGE_SIZE - in_page);
		uint64_t dva = m->dva + off;
		uint64_t pa;
		MemTxResult r;

		/* Host copies can be long (a page list per mapping): stop per page. */
		if (wse_aborted(s, c))
			return WSE_HW_STATUS_ERR_ABORTED;
		if (c->fault_dma) {
			c->fault_dma = false;
			c->fault_dma_fired = true;
			return wse_dma_error(c, dva);
		}
		if (!wse_page_addr(s, m, page, &pa))
			return wse_dma_error(c, dva);
		if (pa % WSE_PAGE_SIZE)
			return wse_dma_error(c, dva);
		if (to_host)
			r = wse_dma_write(s, pa + in_page, p, chunk);
		else
			r = wse_dma_read(s, pa + in_page, p, chunk);
		if (r != MEMTX_OK)
			return wse_dma_error(c, dva);
		p += chunk;
		off += chunk;
		len -= chunk;
	}
	return WSE_HW_STATUS_OK;
}

static void *wse_sram_of(WseState *s, const struct wse_hw_map *m, uint64_t dva,
			 uint64_t len)
{
	return wafer_sram(s->wafer, m->target + (dva - m->dva), len);
}

/* ---- execution (worker, no BQL) ------------------------------------------- */

static uint32_t wse_exec_copy(WseState *s, WseCmd *c, void *rec,
			      struct wafer_operand *ops)
{
	uint64_t src = *ops[0].addr, dst = *ops[1].addr, bytes = ops[0].bytes;
	const struct wse_hw_map *ms, *md;
	uint64_t cycles = 0, done;
	uint32_t st;
	void *p;

	st = wse_translate(c, src, bytes, WSE_HW_MAP_READ, &ms);
	if (!st)
		st = wse_translate(c, dst, bytes, WSE_HW_MAP_WRITE, &md);
	if (st)
		return st;
	if ((ms->flags & WSE_HW_MAP_SRAM) && (md->flags & WSE_HW_MAP_SRAM)) {
		*ops[0].addr = ms->target + (src - ms->dva);
		*ops[1].addr = md->target + (dst - md->dva);
		st = wafer_exec_stoppable(s->wafer, rec, &cycles, wse_op_must_stop, c);
		c->cycles += cycles;
		return st;
	}
	if (ms->flags & WSE_HW_MAP_SRAM) {
		p = wse_sram_of(s, ms, src, bytes);
		if (!p)
			return wse_fault(c, src);
		st = wse_host_xfer(s, c, md, dst - md->dva, p, bytes, true);
	} else if (md->flags & WSE_HW_MAP_SRAM) {
		p = wse_sram_of(s, md, dst, bytes);
		if (!p)
			return wse_fault(c, dst);
		st = wse_host_xfer(s, c, ms, src - ms->dva, p, bytes, false);
	} else {
		/* Host to host: through a bounce page, crossing the link twice. */
		for (done = 0; done < bytes && !st; done += WSE_PAGE_SIZE) {
			uint64_t chunk = MIN(bytes - done, WSE_PAGE_SIZE);

			st = wse_host_xfer(s, c, ms, src - ms->dva + done, s->bounce,
					   chunk, false);
			if (!st)
				st = wse_host_xfer(s, c, md, dst - md->dva + done,
						   s->bounce, chunk, true);
		}
		bytes *= 2;
	}
	if (!st)
		c->cycles += wafer_host_copy_cycles(s->wafer, bytes);
	return st;
}

static uint32_t wse_exec_op(WseState *s, WseCmd *c, void *rec)
{
	const struct wse_hw_op_hdr *hdr = rec;
	struct wafer_operand ops[WAFER_MAX_OPERANDS];
	uint64_t cycles = 0;
	uint32_t st;
	int n, i;

	n = wafer_op_operands(rec, ops);
	if (n < 0)
		return -n;
	if (n > WAFER_MAX_OPERANDS)
		return WSE_HW_STATUS_ERR_STREAM;
	if (hdr->op == WSE_OP_COPY)
		return n == 2 ? wse_exec_copy(s, c, rec, ops) : WSE_HW_STATUS_ERR_STREAM;
	for (i = 0; i < n; i++) {
		const struct wse_hw_map *m;
		uint64_t dva = *ops[i].addr;

		if (!ops[i].bytes)
			continue;
		st = wse_translate(c, dva, ops[i].bytes,
				   ops[i].writes ? WSE_HW_MAP_WRITE : WSE_HW_MAP_READ, &m);
		if (st)
			return st;
		/* Compute runs on the wafer: host memory is reachable by COPY only. */
		if (!(m->flags & WSE_HW_MAP_SRAM))
			return wse_fault(c, dva);
		*ops[i].addr = m->target + (dva - m->dva);
	}
	st = wafer_exec_stoppable(s->wafer, rec, &cycles, wse_op_must_stop, c);
	c->cycles += cycles;
	return st;
}

/* Copies the op stream out of the context's address space into s->stream. */
static uint32_t wse_fetch_stream(WseState *s, WseCmd *c, uint64_t dva, uint32_t len)
{
	const struct wse_hw_map *m;
	uint32_t st;
	void *p;

	st = wse_translate(c, dva, len, WSE_HW_MAP_READ, &m);
	if (st)
		return st;
	if (m->flags & WSE_HW_MAP_SRAM) {
		p = wse_sram_of(s, m, dva, len);
		if (!p)
			return wse_fault(c, dva);
		memcpy(s->stream, p, len);
		return WSE_HW_STATUS_OK;
	}
	st = wse_host_xfer(s, c, m, dva - m->dva, s->stream, len, false);
	if (!st)
		c->cycles += wafer_host_copy_cycles(s->wafer, len);
	return st;
}

static uint32_t wse_exec_stream(WseState *s, WseCmd *c, const struct wse_hw_sqe *sqe)
{
	uint64_t dva = le64_to_cpu(sqe->stream_dva);
	uint32_t len = le32_to_cpu(sqe->stream_len);
	uint32_t off = 0, st;

	if (!len || len % 8 || len > WSE_MAX_STREAM)
		return WSE_HW_STATUS_ERR_STREAM;
	st = wse_load_context(s, c);
	if (!st)
		st = wse_fetch_stream(s, c, dva, len);
	if (st)
		return st;
	c->op_index = 0;
	while (off < len) {
		struct wse_hw_op_hdr *hdr = (struct wse_hw_op_hdr *)(s->stream + off);
		uint32_t rec_len;

		if (wse_aborted(s, c))
			return WSE_HW_STATUS_ERR_ABORTED;
		if (len - off < sizeof(*hdr))
			return WSE_HW_STATUS_ERR_STREAM;
		rec_len = le16_to_cpu(hdr->length);
		if (rec_len < sizeof(*hdr) || rec_len % 8 || rec_len > len - off)
			return WSE_HW_STATUS_ERR_STREAM;
		st = wse_exec_op(s, c, hdr);
		if (st)
			return st;
		off += rec_len;
		c->op_index++;
	}
	return WSE_HW_STATUS_OK;
}

static uint32_t wse_execute(WseState *s, WseCmd *c, const struct wse_hw_sqe *sqe)
{
	int i;

	if (c->fault_sram)
		return WSE_HW_STATUS_ERR_SRAM;
	if (le16_to_cpu(sqe->flags) || sqe->reserved0)
		return WSE_HW_STATUS_ERR_STREAM;
	for (i = 0; i < ARRAY_SIZE(sqe->reserved); i++)
		if (sqe->reserved[i])
			return WSE_HW_STATUS_ERR_STREAM;
	switch (le16_to_cpu(sqe->opcode)) {
	case WSE_CMD_NOP:
		return WSE_HW_STATUS_OK;
	case WSE_CMD_EXEC:
		return wse_exec_stream(s, c, sqe);
	default:
		return WSE_HW_STATUS_ERR_OPCODE;
	}
}

/* ---- worker ---------------------------------------------------------------- */

static void wse_finish_resets(WseState *s);

/* Next queue with a command to run, round robin; -1 if none. BQL held. */
static int wse_pick_queue(WseState *s)
{
	uint32_t i;

	if (s->reset_pending || !(s->status & WSE_HW_DEV_READY))
		return WSE_NO_QUEUE;
	/* An MSI-X message below may unplug the device: look again each time. */
	for (i = 0; i < s->num_queues && !s->stopping; i++) {
		uint32_t qi = (s->next_queue + i) % s->num_queues;
		WseQueue *q = &s->queues[qi];

		if (!q->enabled || q->hung)
			continue;
		if (q->cqe_pending && !wse_post_pending_cqe(s, qi))
			continue;
		if (q->sq_head == q->sq_tail || s->stopping || !q->enabled)
			continue;
		if (wse_cq_full(q)) {
			if (!q->overflow_reported) {
				q->overflow_reported = true;
				wse_post_event(s, WSE_HW_EVENT_CQ_OVERFLOW, 0, qi, 0, 0, 0);
			}
			continue;
		}
		s->next_queue = (qi + 1) % s->num_queues;
		return qi;
	}
	return WSE_NO_QUEUE;
}

static void wse_run_one(WseState *s, uint32_t qi)
{
	WseQueue *q = &s->queues[qi];
	struct wse_hw_sqe sqe;
	WseCmd c = { .dev = s, .queue = qi };
	uint32_t generation = q->generation;
	MemTxResult r;
	uint16_t sq_head;

	r = wse_dma_read(s, q->sq_base + (uint64_t)q->sq_head * sizeof(sqe), &sqe, sizeof(sqe));
	q->sq_head = (q->sq_head + 1) & (q->size - 1);
	sq_head = q->sq_head;
	if (r != MEMTX_OK)
		memset(&sqe, 0, sizeof(sqe));
	c.seq = le64_to_cpu(sqe.seq);
	c.context = le32_to_cpu(sqe.context);
	trace_wse_cmd_fetch(qi, c.seq, le16_to_cpu(sqe.opcode), c.context,
			    le32_to_cpu(sqe.stream_len));
	c.ctx_base = s->ctx_base;
	c.ctx_count = s->ctx_count;
	c.fault_dma = q->fault_dma;
	c.fault_sram = q->fault_sram;
	q->fault_sram = false;
	s->exec_queue = qi;
	s->exec_context = c.context;

	bql_unlock();
	if (r != MEMTX_OK)
		c.status = wse_dma_error(&c, 0);
	else
		c.status = wse_execute(s, &c, &sqe);
	bql_lock();

	/* Abort requests and invalidations were about this command only. */
	s->exec_queue = WSE_NO_QUEUE;
	qatomic_set(&s->abort_mask, 0);
	s->invalidate_busy = false;
	wse_finish_resets(s);
	qemu_cond_broadcast(&s->idle_cond);
	if (generation != q->generation || s->stopping)
		return;
	if (c.fault_dma_fired)
		q->fault_dma = false;
	/* A queue hung by fault injection swallows its completions. */
	if (q->hung)
		return;
	wse_complete(s, qi, &c, sq_head);
}

static void wse_free_buffers(WseState *s)
{
	wafer_destroy(s->wafer);
	s->wafer = NULL;
	g_free(s->stream);
	s->stream = NULL;
	g_free(s->maps);
	s->maps = NULL;
	s->maps_capacity = 0;
}

static void *wse_worker(void *opaque)
{
	WseState *s = opaque;

	wse_worker_of = s;
	rcu_register_thread();
	bql_lock();
	while (!s->stopping) {
		int qi = wse_pick_queue(s);

		if (s->stopping)
			break;
		if (qi == WSE_NO_QUEUE) {
			qemu_cond_wait_bql(&s->work_cond);
			continue;
		}
		wse_run_one(s, qi);
	}
	if (s->worker_frees) {
		/* wse_exit() ran on this thread: nobody joins it, it cleans up. */
		pthread_detach(pthread_self());
		wse_free_buffers(s);
		object_unref(OBJECT(s));
	}
	bql_unlock();
	rcu_unregister_thread();
	return NULL;
}

static void wse_kick(WseState *s)
{
	qemu_cond_signal(&s->work_cond);
}

/* ---- reset ----------------------------------------------------------------- */

static void wse_queue_clear(WseQueue *q, bool keep_config)
{
	uint64_t sq_base = q->sq_base, cq_base = q->cq_base;
	uint32_t size = q->size, generation = q->generation + 1;

	memset(q, 0, sizeof(*q));
	q->generation = generation;
	q->phase = true;
	if (keep_config) {
		q->sq_base = sq_base;
		q->cq_base = cq_base;
		q->size = size;
	}
}

static void wse_arm_fault(WseState *s, uint32_t mode, uint32_t qi)
{
	WseQueue *q = &s->queues[qi];

	trace_wse_fault_inject(mode, qi);
	switch (mode) {
	case WSE_HW_FAULT_NONE:
		q->fault_dma = q->fault_cqe = q->fault_sram = false;
		break;
	case WSE_HW_FAULT_HANG_QUEUE:
		q->hung = true;
		break;
	case WSE_HW_FAULT_FAIL_DMA:
		q->fault_dma = true;
		break;
	case WSE_HW_FAULT_CORRUPT_CQE:
		q->fault_cqe = true;
		break;
	case WSE_HW_FAULT_SRAM_ERROR:
		q->fault_sram = true;
		break;
	default:
		qemu_log_mask(LOG_GUEST_ERROR, "wse: unknown fault mode %u\n", mode);
	}
}

static void wse_arm_startup_faults(WseState *s)
{
	const struct { int32_t queue; uint32_t mode; } faults[] = {
		{ s->fault_hang_queue, WSE_HW_FAULT_HANG_QUEUE },
		{ s->fault_dma_queue, WSE_HW_FAULT_FAIL_DMA },
		{ s->fault_cqe_queue, WSE_HW_FAULT_CORRUPT_CQE },
		{ s->fault_sram_queue, WSE_HW_FAULT_SRAM_ERROR },
	};
	int i;

	for (i = 0; i < ARRAY_SIZE(faults); i++)
		if (faults[i].queue >= 0)
			wse_arm_fault(s, faults[i].mode, faults[i].queue);
}

/*
 * Clears the registers, the queues and SRAM, with no command running (or
 * only the caller's own, which is dropped when it returns). The event ring
 * as it is now survives a CONTROL reset so that RESET_DONE reaches the
 * driver; a driver that turned the ring off meanwhile gets no event.
 */
static void wse_do_reset_device(WseState *s)
{
	uint64_t evq_base = s->evq_base;
	uint32_t evq_size = s->evq_size;
	bool event = s->reset_done_event;
	uint32_t i;

	for (i = 0; i < WSE_MAX_QUEUES; i++)
		wse_queue_clear(&s->queues[i], false);
	s->ctx_base = 0;
	s->ctx_count = 0;
	s->evq_base = 0;
	s->evq_size = 0;
	s->evq_tail = s->evq_head = s->evq_dropped = 0;
	s->err_status = s->err_context = s->err_count = 0;
	s->scrub_offset = s->scrub_len = 0;
	s->err_addr = 0;
	s->cmds_done = s->cycles = 0;
	s->cmds_done_hi_latch = s->cycles_hi_latch = 0;
	s->sram_window_offset = 0;
	s->next_queue = 0;
	s->invalidate_busy = false;
	wafer_reset(s->wafer);
	s->reset_pending = false;
	s->reset_done_event = false;
	s->status = WSE_HW_DEV_READY;
	trace_wse_reset_device_done();
	if (!s->startup_faults_armed) {
		s->startup_faults_armed = true;
		wse_arm_startup_faults(s);
	}
	wse_kick(s);
	qemu_cond_broadcast(&s->idle_cond);
	if (event) {
		s->evq_base = evq_base;
		s->evq_size = evq_size;
		wse_post_event(s, WSE_HW_EVENT_RESET_DONE, 0, WSE_HW_EVENT_ALL_QUEUES, 0, 0, 0);
	}
}

/*
 * Starts a device reset. READY drops at once; with no command running the
 * reset completes before this returns, otherwise the command is told to
 * stop and the worker completes the reset when it returns (within a few
 * milliseconds of work). On the worker itself (a message of its own reset
 * the device) it completes at once: the worker cannot wait for itself.
 */
static void wse_request_reset_device(WseState *s, bool event)
{
	trace_wse_reset_device_request(event, s->exec_queue != WSE_NO_QUEUE);
	s->reset_pending = true;
	s->reset_done_event |= event;
	s->status &= ~WSE_HW_DEV_READY;
	if (s->exec_queue != WSE_NO_QUEUE)
		qatomic_or(&s->abort_mask, WSE_ABORT_ALL);
	if (s->exec_queue == WSE_NO_QUEUE || wse_worker_of == s)
		wse_do_reset_device(s);
}

/*
 * Clears queue qi at once, keeping its configuration, so the driver can
 * refill it right away. A command of the queue that is running is dropped
 * (the generation changed) and told to stop; until it has, the queue
 * reports WSE_QSTATUS_RESETTING and RESET_DONE waits (wse_finish_resets).
 */
static void wse_reset_queue(WseState *s, uint32_t qi)
{
	WseQueue *q = &s->queues[qi];
	bool running = s->exec_queue == (int)qi;

	trace_wse_reset_queue(qi, running);
	wse_queue_clear(q, true);
	msix_clr_pending(PCI_DEVICE(s), qi);
	if (running) {
		qatomic_or(&s->abort_mask, 1u << qi);
		if (wse_worker_of != s) {
			q->reset_pending = true;
			return;
		}
	}
	wse_kick(s);
	wse_post_event(s, WSE_HW_EVENT_RESET_DONE, 0, qi, 0, 0, 0);
}

/* The worker, back from a command: completes the resets that waited for it. */
static void wse_finish_resets(WseState *s)
{
	uint32_t qi;

	if (s->reset_pending)
		wse_do_reset_device(s);
	for (qi = 0; qi < s->num_queues && !s->stopping; qi++) {
		if (!s->queues[qi].reset_pending)
			continue;
		s->queues[qi].reset_pending = false;
		wse_post_event(s, WSE_HW_EVENT_RESET_DONE, 0, qi, 0, 0, 0);
	}
}

/*
 * QEMU's reset (machine reset, bus reset, slot power): the device must be
 * quiet when this returns, so it waits for a running command to stop,
 * which the abort checks bound to milliseconds. The worker itself never
 * waits (wse_request_reset_device completed the reset inline).
 */
static void wse_pci_reset(DeviceState *dev)
{
	WseState *s = WSE(dev);

	wse_request_reset_device(s, false);
	while (s->reset_pending && !s->stopping)
		qemu_cond_wait_bql(&s->idle_cond);
}

/* ---- registers -------------------------------------------------------------- */

static uint64_t wse_queue_read(WseState *s, uint32_t qi, hwaddr reg)
{
	WseQueue *q = &s->queues[qi];
	uint32_t st;

	switch (reg) {
	case WSE_QREG_SQ_BASE_LO:
		return (uint32_t)q->sq_base;
	case WSE_QREG_SQ_BASE_HI:
		return q->sq_base >> 32;
	case WSE_QREG_CQ_BASE_LO:
		return (uint32_t)q->cq_base;
	case WSE_QREG_CQ_BASE_HI:
		return q->cq_base >> 32;
	case WSE_QREG_SIZE:
		return q->size;
	case WSE_QREG_ENABLE:
		return q->enabled;
	case WSE_QREG_SQ_TAIL:
		return q->sq_tail;
	case WSE_QREG_CQ_HEAD:
		return q->cq_head;
	case WSE_QREG_SQ_HEAD:
		return q->sq_head;
	case WSE_QREG_STATUS:
		st = q->enabled ? WSE_QSTATUS_ENABLED : 0;
		if (s->exec_queue == (int)qi || q->sq_head != q->sq_tail || q->cqe_pending)
			st |= WSE_QSTATUS_BUSY;
		if (q->hung)
			st |= WSE_QSTATUS_HUNG;
		if (q->reset_pending)
			st |= WSE_QSTATUS_RESETTING;
		return st;
	default:
		return 0;
	}
}

static void wse_queue_write(WseState *s, uint32_t qi, hwaddr reg, uint32_t val)
{
	WseQueue *q = &s->queues[qi];

	switch (reg) {
	case WSE_QREG_SQ_BASE_LO:
	case WSE_QREG_SQ_BASE_HI:
	case WSE_QREG_CQ_BASE_LO:
	case WSE_QREG_CQ_BASE_HI:
	case WSE_QREG_SIZE:
		if (q->enabled) {
			qemu_log_mask(LOG_GUEST_ERROR,
				      "wse: queue %u configured while enabled\n", qi);
			return;
		}
		if (reg == WSE_QREG_SQ_BASE_LO)
			q->sq_base = deposit64(q->sq_base, 0, 32, val);
		else if (reg == WSE_QREG_SQ_BASE_HI)
			q->sq_base = deposit64(q->sq_base, 32, 32, val);
		else if (reg == WSE_QREG_CQ_BASE_LO)
			q->cq_base = deposit64(q->cq_base, 0, 32, val);
		else if (reg == WSE_QREG_CQ_BASE_HI)
			q->cq_base = deposit64(q->cq_base, 32, 32, val);
		else
			q->size = val;
		return;
	case WSE_QREG_ENABLE:
		if (!(val & 1)) {
			q->enabled = false;
			trace_wse_queue_enable(qi, q->size, false);
			return;
		}
		if (!is_pow2_in(q->size, WSE_QUEUE_MIN_ENTRIES, WSE_QUEUE_MAX_ENTRIES) ||
		    q->sq_base % sizeof(struct wse_hw_sqe) ||
		    q->cq_base % sizeof(struct wse_hw_cqe)) {
			qemu_log_mask(LOG_GUEST_ERROR,
				      "wse: queue %u: bad size or unaligned ring\n", qi);
			return;
		}
		if (q->sq_head >= q->size || q->sq_tail >= q->size ||
		    q->cq_head >= q->size || q->cq_tail >= q->size) {
			/* The size shrank while disabled: start the rings over. */
			q->sq_head = q->sq_tail = q->cq_head = q->cq_tail = 0;
			q->phase = true;
		}
		q->enabled = true;
		trace_wse_queue_enable(qi, q->size, true);
		wse_kick(s);
		return;
	case WSE_QREG_SQ_TAIL:
	case WSE_QREG_CQ_HEAD:
		if (!q->size || val >= q->size) {
			qemu_log_mask(LOG_GUEST_ERROR, "wse: queue %u: doorbell %u out of range\n",
				      qi, val);
			return;
		}
		if (reg == WSE_QREG_SQ_TAIL) {
			trace_wse_doorbell_sq(qi, val);
			q->sq_tail = val;
		} else {
			trace_wse_doorbell_cq(qi, val);
			q->cq_head = val;
			q->overflow_reported = false;
		}
		wse_kick(s);
		return;
	case WSE_QREG_RESET:
		if (val & 1)
			wse_reset_queue(s, qi);
		return;
	default:
		qemu_log_mask(LOG_GUEST_ERROR, "wse: write to RO/unknown queue reg 0x%x\n",
			      (unsigned)reg);
	}
}

static uint64_t wse_reg_read(void *opaque, hwaddr addr, unsigned size)
{
	WseState *s = opaque;

	if (addr >= WSE_REG_QUEUE_BASE) {
		uint64_t qi = (addr - WSE_REG_QUEUE_BASE) / WSE_REG_QUEUE_STRIDE;

		if (qi >= s->num_queues)
			return 0;
		return wse_queue_read(s, qi, (addr - WSE_REG_QUEUE_BASE) % WSE_REG_QUEUE_STRIDE);
	}
	switch (addr) {
	case WSE_REG_MAGIC:
		return WSE_HW_MAGIC;
	case WSE_REG_VERSION:
		return WSE_HW_VERSION;
	case WSE_REG_CAPS:
		return s->caps;
	case WSE_REG_NUM_QUEUES:
		return s->num_queues;
	case WSE_REG_SRAM_SIZE_LO:
		return (uint32_t)s->info.sram_bytes;
	case WSE_REG_SRAM_SIZE_HI:
		return s->info.sram_bytes >> 32;
	case WSE_REG_GRID_W:
		return s->info.grid_w;
	case WSE_REG_GRID_H:
		return s->info.grid_h;
	case WSE_REG_PE_SRAM:
		return s->info.pe_sram_bytes;
	case WSE_REG_CLOCK_KHZ:
		return s->info.clock_khz;
	case WSE_REG_STATUS:
		return s->status;
	case WSE_REG_MAX_CONTEXTS:
		return WSE_MAX_CONTEXTS;
	case WSE_REG_SERIAL:
		return s->serial_number;
	case WSE_REG_DTYPES:
		return s->dtypes;
	case WSE_REG_CTX_BASE_LO:
		return (uint32_t)s->ctx_base;
	case WSE_REG_CTX_BASE_HI:
		return s->ctx_base >> 32;
	case WSE_REG_CTX_COUNT:
		return s->ctx_count;
	case WSE_REG_EVQ_BASE_LO:
		return (uint32_t)s->evq_base;
	case WSE_REG_EVQ_BASE_HI:
		return s->evq_base >> 32;
	case WSE_REG_EVQ_SIZE:
		return s->evq_size;
	case WSE_REG_EVQ_TAIL:
		return s->evq_tail;
	case WSE_REG_EVQ_HEAD:
		return s->evq_head;
	case WSE_REG_EVQ_DROPPED:
		return s->evq_dropped;
	case WSE_REG_ERR_STATUS:
		return s->err_status;
	case WSE_REG_ERR_CONTEXT:
		return s->err_context;
	case WSE_REG_ERR_ADDR_LO:
		return (uint32_t)s->err_addr;
	case WSE_REG_ERR_ADDR_HI:
		return s->err_addr >> 32;
	case WSE_REG_ERR_COUNT:
		return s->err_count;
	case WSE_REG_CMDS_DONE_LO:
		s->cmds_done_hi_latch = s->cmds_done >> 32;
		return (uint32_t)s->cmds_done;
	case WSE_REG_CMDS_DONE_HI:
		return s->cmds_done_hi_latch;
	case WSE_REG_CYCLES_LO:
		s->cycles_hi_latch = s->cycles >> 32;
		return (uint32_t)s->cycles;
	case WSE_REG_CYCLES_HI:
		return s->cycles_hi_latch;
	case WSE_REG_SRAM_WINDOW_LO:
		return (uint32_t)s->sram_window_offset;
	case WSE_REG_SRAM_WINDOW_HI:
		return s->sram_window_offset >> 32;
	case WSE_REG_CTX_INVALIDATE:
		return s->invalidate_busy;
	default:
		/* CONTROL, FAULT_INJECT: writes act at once, reads 0. */
		return 0;
	}
}

static void wse_reg_write(void *opaque, hwaddr addr, uint64_t val64, unsigned size)
{
	WseState *s = opaque;
	uint32_t val = val64;

	/*
	 * Neither command DMA nor an MSI-X message (wse_msi_trigger) reaches
	 * MMIO; should any other device write land here from a worker, it
	 * must still not act on it: refuse it.
	 */
	if (wse_worker_of) {
		qemu_log_mask(LOG_GUEST_ERROR, "wse: device write to registers ignored\n");
		return;
	}
	if (addr >= WSE_REG_QUEUE_BASE) {
		uint64_t qi = (addr - WSE_REG_QUEUE_BASE) / WSE_REG_QUEUE_STRIDE;

		if (qi < s->num_queues)
			wse_queue_write(s, qi, (addr - WSE_REG_QUEUE_BASE) % WSE_REG_QUEUE_STRIDE,
					val);
		else
			qemu_log_mask(LOG_GUEST_ERROR, "wse: write to absent queue %u\n",
				      (unsigned)qi);
		return;
	}
	switch (addr) {
	case WSE_REG_CONTROL:
		if (val & WSE_CONTROL_RESET)
			wse_request_reset_device(s, true);
		return;
	case WSE_REG_CTX_BASE_LO:
		s->ctx_base = deposit64(s->ctx_base, 0, 32, val);
		return;
	case WSE_REG_CTX_BASE_HI:
		s->ctx_base = deposit64(s->ctx_base, 32, 32, val);
		return;
	case WSE_REG_CTX_COUNT:
		if (val > WSE_MAX_CONTEXTS) {
			qemu_log_mask(LOG_GUEST_ERROR, "wse: CTX_COUNT %u too large\n", val);
			return;
		}
		s->ctx_count = val;
		return;
	case WSE_REG_CTX_INVALIDATE:
		/*
		 * Tables are read afresh by every command, so only a running
		 * command of the context can still use the old ones; the driver
		 * polls until it has returned. Never waits here. Busy stays
		 * busy: an earlier invalidation may still be waiting for it.
		 */
		if (s->exec_queue != WSE_NO_QUEUE && s->exec_context == val)
			s->invalidate_busy = true;
		return;
	case WSE_REG_EVQ_BASE_LO:
	case WSE_REG_EVQ_BASE_HI:
		if (s->evq_size) {
			qemu_log_mask(LOG_GUEST_ERROR, "wse: EVQ base written while enabled\n");
			return;
		}
		s->evq_base = deposit64(s->evq_base, addr == WSE_REG_EVQ_BASE_LO ? 0 : 32, 32,
					val);
		return;
	case WSE_REG_EVQ_SIZE:
		if (val && (!is_pow2_in(val, 2, WSE_EVQ_MAX_ENTRIES) ||
			    s->evq_base % sizeof(struct wse_hw_event))) {
			qemu_log_mask(LOG_GUEST_ERROR, "wse: bad EVQ size %u or base\n", val);
			return;
		}
		s->evq_size = val;
		s->evq_tail = s->evq_head = 0;
		return;
	case WSE_REG_EVQ_HEAD:
		if (val >= s->evq_size) {
			qemu_log_mask(LOG_GUEST_ERROR, "wse: EVQ head %u out of range\n", val);
			return;
		}
		s->evq_head = val;
		return;
	case WSE_REG_FAULT_INJECT: {
		uint32_t qi = (val >> WSE_HW_FAULT_QUEUE_SHIFT) & 0xff;

		if (qi >= s->num_queues) {
			qemu_log_mask(LOG_GUEST_ERROR, "wse: fault injection on absent queue %u\n",
				      qi);
			return;
		}
		wse_arm_fault(s, val & WSE_HW_FAULT_MODE_MASK, qi);
		return;
	}
	case WSE_REG_SCRUB_OFFSET_LO:
	case WSE_REG_SCRUB_OFFSET_HI:
		s->scrub_offset = deposit64(s->scrub_offset, addr == WSE_REG_SCRUB_OFFSET_LO ? 0 : 32,
					    32, val);
		return;
	case WSE_REG_SCRUB_LEN_LO:
	case WSE_REG_SCRUB_LEN_HI:
		s->scrub_len = deposit64(s->scrub_len, addr == WSE_REG_SCRUB_LEN_LO ? 0 : 32, 32, val);
		return;
	case WSE_REG_SCRUB:
		/*
		 * Synchronous: madvise() of whole pages is cheap, and the driver needs
		 * the range zeroed before it hands the allocation out.
		 */
		if (!(val & WSE_SCRUB_GO))
			return;
		if ((s->scrub_offset | s->scrub_len) % WSE_PAGE_SIZE ||
		    wafer_scrub(s->wafer, s->scrub_offset, s->scrub_len)) {
			qemu_log_mask(LOG_GUEST_ERROR, "wse: bad scrub range 0x%" PRIx64 "+0x%" PRIx64 "\n",
				      s->scrub_offset, s->scrub_len);
			wse_log_error(s, WSE_HW_STATUS_ERR_FAULT, 0, s->scrub_offset);
		}
		return;
	case WSE_REG_SRAM_WINDOW_LO:
		s->sram_window_offset = deposit64(s->sram_window_offset, 0, 32,
						  val & ~(WSE_PAGE_SIZE - 1));
		return;
	case WSE_REG_SRAM_WINDOW_HI:
		s->sram_window_offset = deposit64(s->sram_window_offset, 32, 32, val);
		return;
	default:
		qemu_log_mask(LOG_GUEST_ERROR, "wse: write to RO/unknown reg 0x%x\n",
			      (unsigned)addr);
	}
}

static const MemoryRegionOps wse_reg_ops = {
	.read = wse_reg_read,
	.write = wse_reg_write,
	.endianness = DEVICE_LITTLE_ENDIAN,
	.valid = { .min_access_size = 4, .max_access_size = 8 },
	.impl = { .min_access_size = 4, .max_access_size = 4 },
};

/* BAR2: a debug view of SRAM; bytes outside SRAM read as zero. */
static uint64_t wse_sram_window_read(void *opaque, hwaddr addr, unsigned size)
{
	WseState *s = opaque;
	void *p = wafer_sram(s->wafer, s->sram_window_offset + addr, size);

	return p ? ldn_le_p(p, size) : 0;
}

static void wse_sram_window_write(void *opaque, hwaddr addr, uint64_t val,
				  unsigned size)
{
	WseState *s = opaque;
	void *p = wafer_sram(s->wafer, s->sram_window_offset + addr, size);

	if (p)
		stn_le_p(p, size, val);
}

static const MemoryRegionOps wse_sram_window_ops = {
	.read = wse_sram_window_read,
	.write = wse_sram_window_write,
	.endianness = DEVICE_LITTLE_ENDIAN,
	.valid = { .min_access_size = 1, .max_access_size = 8 },
	.impl = { .min_access_size = 1, .max_access_size = 8 },
};

/* ---- lifecycle ---------------------------------------------------------------- */

static bool wse_create_wafer(WseState *s, Error **errp)
{
	struct wafer_config config = {
		.sram_bytes = s->sram_size,
		.threads = s->threads,
	};

	if (!s->preset || !strcmp(s->preset, "small")) {
		config.preset = WAFER_PRESET_SMALL;
	} else if (!strcmp(s->preset, "cs3")) {
		config.preset = WAFER_PRESET_CS3;
	} else {
		error_setg(errp, "wse: preset must be \"small\" or \"cs3\", not \"%s\"",
			   s->preset);
		return false;
	}
	s->wafer = wafer_create(&config);
	if (!s->wafer) {
		error_setg_errno(errp, errno, "wse: cannot create the wafer model "
				 "(sram-size %" PRIu64 ")", s->sram_size);
		return false;
	}
	wafer_get_info(s->wafer, &s->info);
	return true;
}

static bool wse_check_props(WseState *s, Error **errp)
{
	const struct { const char *name; int32_t queue; } faults[] = {
		{ "fault-hang-queue", s->fault_hang_queue },
		{ "fault-dma-queue", s->fault_dma_queue },
		{ "fault-cqe-queue", s->fault_cqe_queue },
		{ "fault-sram-queue", s->fault_sram_queue },
	};
	int i;

	if (s->num_queues < 1 || s->num_queues > WSE_MAX_QUEUES) {
		error_setg(errp, "wse: queues must be 1..%d, not %u", WSE_MAX_QUEUES,
			   s->num_queues);
		return false;
	}
	for (i = 0; i < ARRAY_SIZE(faults); i++) {
		if (faults[i].queue < -1 || faults[i].queue >= (int32_t)s->num_queues) {
			error_setg(errp, "wse: %s must be -1 (off) or a queue below %u",
				   faults[i].name, s->num_queues);
			return false;
		}
	}
	return true;
}

static uint32_t wse_parse_serial(const char *serial)
{
	char *end;
	unsigned long v;

	if (!serial)
		return 0x5e000000u + ++wse_instances;
	errno = 0;
	v = strtoul(serial, &end, 0);
	if (!errno && *serial && !*end && v <= UINT32_MAX)
		return v;
	return g_str_hash(serial);
}

static void wse_realize(PCIDevice *pdev, Error **errp)
{
	WseState *s = WSE(pdev);
	uint32_t i;

	if (!wse_check_props(s, errp) || !wse_create_wafer(s, errp))
		return;
	s->serial_number = wse_parse_serial(s->serial);
	s->caps = WSE_HW_CAP_F16 | WSE_HW_CAP_BF16 | WSE_HW_CAP_FUSED_LAYER | WSE_HW_CAP_FAULT_INJECT |
		  WSE_HW_CAP_MAP_TREE;
	if (wafer_weight_bytes(WSE_HW_DTYPE_Q8_0, 1, WSE_Q8_0_BLOCK))
		s->caps |= WSE_HW_CAP_Q8_0;
	if (s->sram_window_enabled)
		s->caps |= WSE_HW_CAP_SRAM_WINDOW;
	/* The wafer model computes every dtype of the rulebook; the caps still gate the old three. */
	s->dtypes = wse_dtypes_of_caps(s->caps);

	pdev->config[PCI_INTERRUPT_PIN] = 0;
	if (pcie_endpoint_cap_init(pdev, 0x80) < 0) {
		error_setg(errp, "wse: cannot add the PCIe capability");
		goto fail_wafer;
	}
	memory_region_init_io(&s->regs, OBJECT(s), &wse_reg_ops, s, "wse-regs",
			      WSE_REGS_SIZE);
	/* 32-bit: a 64-bit BAR0 would take BAR1's slot, which MSI-X needs. */
	pci_register_bar(pdev, WSE_BAR_REGS, PCI_BASE_ADDRESS_SPACE_MEMORY, &s->regs);
	if (msix_init_exclusive_bar(pdev, WSE_MSIX_VECTORS(s->num_queues), WSE_BAR_MSIX,
				    errp))
		goto fail_pcie;
	for (i = 0; i < WSE_MSIX_VECTORS(s->num_queues); i++)
		msix_vector_use(pdev, i);
	if (s->sram_window_enabled) {
		memory_region_init_io(&s->sram_window, OBJECT(s), &wse_sram_window_ops, s,
				      "wse-sram-window", WSE_SRAM_WINDOW_SIZE);
		pci_register_bar(pdev, WSE_BAR_SRAM, PCI_BASE_ADDRESS_SPACE_MEMORY |
				 PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH,
				 &s->sram_window);
	}

	s->stream = g_malloc(WSE_MAX_STREAM);
	for (i = 0; i < WSE_MAX_QUEUES; i++)
		wse_queue_clear(&s->queues[i], false);
	s->exec_queue = WSE_NO_QUEUE;
	s->status = WSE_HW_DEV_READY;
	s->stopping = false;
	s->startup_faults_armed = false;
	qemu_thread_create(&s->worker, "wse-worker", wse_worker, s, QEMU_THREAD_JOINABLE);
	s->worker_started = true;
	return;

fail_pcie:
	pcie_cap_exit(pdev);
fail_wafer:
	wafer_destroy(s->wafer);
	s->wafer = NULL;
}

static void wse_exit(PCIDevice *pdev)
{
	WseState *s = WSE(pdev);

	if (s->worker_started) {
		s->stopping = true;
		qatomic_or(&s->abort_mask, WSE_ABORT_ALL);
		qemu_cond_broadcast(&s->work_cond);
		qemu_cond_broadcast(&s->idle_cond);
		if (wse_worker_of == s) {
			/*
			 * Unplugged from the worker itself (no MSI-X message can
			 * do it since wse_msi_trigger; kept for any other route):
			 * it cannot join itself. It stops when it gets back to its
			 * loop and frees the rest; the object lives until then.
			 */
			s->worker_frees = true;
			object_ref(OBJECT(s));
		} else {
			/* The worker may be waiting for the BQL to finish its command. */
			bql_unlock();
			qemu_thread_join(&s->worker);
			bql_lock();
		}
		s->worker_started = false;
	}
	msix_unuse_all_vectors(pdev);
	msix_uninit_exclusive_bar(pdev);
	pcie_cap_exit(pdev);
	if (!s->worker_frees)
		wse_free_buffers(s);
}

static void wse_instance_init(Object *obj)
{
	WseState *s = WSE(obj);

	qemu_cond_init(&s->work_cond);
	qemu_cond_init(&s->idle_cond);
	s->exec_queue = WSE_NO_QUEUE;
}

/* Waiters woken by unrealize may still be returning through these. */
static void wse_instance_finalize(Object *obj)
{
	WseState *s = WSE(obj);

	qemu_cond_destroy(&s->work_cond);
	qemu_cond_destroy(&s->idle_cond);
}

static const Property wse_properties[] = {
	DEFINE_PROP_UINT32("queues", WseState, num_queues, 4),
	DEFINE_PROP_SIZE("sram-size", WseState, sram_size, 0),
	DEFINE_PROP_STRING("preset", WseState, preset),
	DEFINE_PROP_STRING("serial", WseState, serial),
	DEFINE_PROP_UINT32("threads", WseState, threads, 0),
	DEFINE_PROP_BOOL("sram-window", WseState, sram_window_enabled, false),
	DEFINE_PROP_INT32("fault-hang-queue", WseState, fault_hang_queue, -1),
	DEFINE_PROP_INT32("fault-dma-queue", WseState, fault_dma_queue, -1),
	DEFINE_PROP_INT32("fault-cqe-queue", WseState, fault_cqe_queue, -1),
	DEFINE_PROP_INT32("fault-sram-queue", WseState, fault_sram_queue, -1),
};

/* Device state lives in guest memory and a worker thread: no migration. */
static const VMStateDescription wse_vmstate = {
	.name = TYPE_WSE,
	.unmigratable = 1,
};

/* QEMU's realize of every PCI device, which installs its MSI sender last. */
static DeviceRealize wse_pci_qdev_realize;

/* Realizes as any PCI device, then puts wse_msi_trigger() in front of QEMU's sender. */
static void wse_qdev_realize(DeviceState *dev, Error **errp)
{
	PCIDevice *pdev = PCI_DEVICE(dev);
	WseState *s = WSE(dev);
	Error *err = NULL;

	wse_pci_qdev_realize(dev, &err);
	if (err) {
		error_propagate(errp, err);
		return;
	}
	s->msi_trigger_default = pdev->msi_trigger;
	pdev->msi_trigger = wse_msi_trigger;
}

static void wse_class_init(ObjectClass *klass, void *data)
{
	DeviceClass *dc = DEVICE_CLASS(klass);
	PCIDeviceClass *pc = PCI_DEVICE_CLASS(klass);

	pc->realize = wse_realize;
	pc->exit = wse_exit;
	device_class_set_parent_realize(dc, wse_qdev_realize, &wse_pci_qdev_realize);
	pc->vendor_id = WSE_PCI_VENDOR_ID;
	pc->device_id = WSE_PCI_DEVICE_ID;
	pc->class_id = WSE_PCI_CLASS;
	pc->revision = WSE_PCI_REVISION;
	dc->desc = "wse wafer-scale AI engine (WSE-3 model)";
	dc->vmsd = &wse_vmstate;
	device_class_set_props(dc, wse_properties);
	device_class_set_legacy_reset(dc, wse_pci_reset);
	set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo wse_info = {
	.name = TYPE_WSE,
	.parent = TYPE_PCI_DEVICE,
	.instance_size = sizeof(WseState),
	.instance_init = wse_instance_init,
	.instance_finalize = wse_instance_finalize,
	.class_init = wse_class_init,
	.interfaces = (InterfaceInfo[]) {
		{ INTERFACE_PCIE_DEVICE },
		{ }
	},
};

static void wse_register_types(void)
{
	type_register_static(&wse_info);
}

type_init(wse_register_types)
