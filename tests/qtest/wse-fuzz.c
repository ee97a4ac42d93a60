/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wse-fuzz.c - a structure-aware fuzzer of the wse PCIe device
 * (qemu-dev/wse.c), driven through qtest like wse-test.c. Built inside
 * QEMU's tree by tools/vm/build-qemu.sh --asan, so that it and the QEMU it
 * drives run under ASan and UBSan; run by tests/qtest/run (bounded) and by
 * `make fuzz-device` (a long campaign).
 *
 * From a seed, each iteration is one action on a q35 machine holding two wse
 * devices and an empty PCIe root port: random register writes (BAR0, every
 * queue block, out-of-range queues), queue set-ups, doorbells, SQEs, op
 * streams built from the op rulebook (include/wse/op_rules.h) and then
 * mutated, context and map tables (valid, overlapping, out of bounds,
 * aimed at RAM, at MMIO: the device's own BAR0 and BAR2, its MSI-X table,
 * the other wse, ECAM, the APIC window, unassigned space), page lists,
 * MSI-X vectors, fault injection, scrubs, queue and device resets, and BAR2
 * writes racing long commands (the worker runs concurrently with qtest).
 * Every session ends with a liveness check: a device reset must finish
 * and a NOP must complete within POLL_DEADLINE_US, or the run fails.
 *
 * The action sequence is deterministic from the seed; what the device's
 * worker is doing at each qtest command is not (it is a thread).
 * Environment: WSE_FUZZ_SEED (default: from the clock; printed),
 * WSE_FUZZ_ITERATIONS (default 2000), WSE_FUZZ_SECONDS (default 60): it
 * stops at whichever comes first. A QEMU crash, an ASan or UBSan report
 * (QEMU exits non-zero, which libqtest turns into an abort) or a hang
 * fails it.
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/libqos-pc.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "wse/hw_device.h"
#include "wse/hw_ops.h"
#include "wse/op_rules.h"

#define WSE_DEVFN		QPCI_DEVFN(4, 0)
#define OTHER_WSE_DEVFN		QPCI_DEVFN(5, 0)
#define ROOT_PORT_DEVFN		QPCI_DEVFN(6, 0)
/* Q35's MCH: PCIEXBAR (config 0x60) enables ECAM; no firmware does it here. */
#define Q35_PCIEXBAR		0x60
#define ECAM_BASE		0xb0000000ull
#define MSI_WINDOW		0xfee00000ull
#define UNASSIGNED		0xd0000000ull

/*
 * Everything the device does finishes in milliseconds (resets) to a second
 * (the longest streams built here, under ASan); 20 s means it hung.
 */
#define POLL_DEADLINE_US	(20 * G_USEC_PER_SEC)
#define ACTIONS_PER_SESSION	250

/* The fuzzed context 0's address space, as wse-test.c lays it out. */
#define SRAM_DVA		0x100000000ull
#define SRAM_MAP_SIZE		(32u << 20)
#define RO_DVA			0x200000000ull
#define RO_SIZE			0x10000u
#define RO_TARGET		0x3000000ull
#define HOST_DVA		0x300000000ull
#define HOST_SIZE		0x40000u
#define STREAM_OFF		0x30000u
#define STREAM_MAX		0x10000u
#define UNMAPPED_DVA		0x180000000ull

#define CONTEXTS		4
#define MAPS_PER_CTX		8
#define RING_ENTRIES		64	/* the most a fuzzed queue is set up with */
#define EVQ_ENTRIES		64

typedef struct FQueue {
	uint64_t sq, cq;
	uint32_t size;
	uint32_t tail, head;
	bool phase;
} FQueue;

typedef struct F {
	uint64_t rng;
	QOSState *qs;
	QTestState *qts;
	QPCIDevice *dev, *other;
	QPCIBar bar, sram_bar, other_bar;
	uint32_t nq;
	uint64_t sram_bytes;
	FQueue q[WSE_MAX_QUEUES];
	uint64_t ctx_table, maps, host, page_list, evq, mailbox;
	uint64_t next_seq;
	/* MMIO and other addresses that DMA, maps and MSI-X are aimed at. */
	uint64_t aims[12];
	unsigned int n_aims;
	/* Completions seen, by status (the last slot: any other value). */
	uint64_t statuses[WSE_HW_STATUS_ERR_REGION + 2];
} F;

/* ---- randomness ---------------------------------------------------------- */

static uint64_t rnd(F *f)
{
	/* splitmix64: tiny, and the same stream on every host for a seed. */
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(F *f, uint32_t n)
{
	return rnd(f) % n;
}

static bool chance(F *f, uint32_t percent)
{
	return below(f, 100) < percent;
}

static uint32_t interesting_u32(F *f)
{
	static const uint32_t v[] = {
		0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 33, 63, 64, 4095, 4096, 4097, 65535, 65536,
		0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, WSE_MAX_STREAM, WSE_MAX_CONTEXTS,
		WSE_CTX_MAX_MAPS, WSE_CTX_MAX_MAPS + 1,
	};

	return chance(f, 70) ? v[below(f, ARRAY_SIZE(v))] : (uint32_t)rnd(f);
}

/* A device address or DMA address worth trying. */
static uint64_t interesting_addr(F *f)
{
	switch (below(f, 10)) {
	case 0:
		return SRAM_DVA + below(f, SRAM_MAP_SIZE / 64) * 64ull;
	case 1:
		return SRAM_DVA + SRAM_MAP_SIZE - 4 * below(f, 4);
	case 2:
		return RO_DVA + below(f, RO_SIZE);
	case 3:
		return HOST_DVA + below(f, HOST_SIZE / 4) * 4ull;
	case 4:
		return UNMAPPED_DVA;
	case 5:
		return f->aims[below(f, f->n_aims)] + below(f, 16) * 4;
	case 6:
		return -(uint64_t)below(f, 4096) - 1;
	case 7:
		return f->host + below(f, HOST_SIZE);
	case 8:
		return (uint64_t)interesting_u32(f) << (below(f, 2) * 32);
	default:
		return rnd(f);
	}
}

/* ---- plumbing ------------------------------------------------------------ */

static uint32_t rd(F *f, uint32_t reg)
{
	return qpci_io_readl(f->dev, f->bar, reg);
}

static void wr(F *f, uint32_t reg, uint32_t v)
{
	qpci_io_writel(f->dev, f->bar, reg, v);
}

static void qwr(F *f, uint32_t qi, uint32_t reg, uint32_t v)
{
	wr(f, WSE_REG_QUEUE(qi) + reg, v);
}

static uint64_t alloc_zeroed(F *f, size_t bytes)
{
	uint64_t a = guest_alloc(&f->qs->alloc, bytes);
	g_autofree uint8_t *zero = g_malloc0(bytes);

	qtest_memwrite(f->qts, a, zero, bytes);
	return a;
}

static void put_map(F *f, uint32_t ctx, uint32_t i, uint64_t dva, uint64_t size,
		    uint64_t target, uint32_t flags)
{
	struct wse_hw_map m = {
		.dva = cpu_to_le64(dva), .size = cpu_to_le64(size),
		.target = cpu_to_le64(target), .flags = cpu_to_le32(flags),
	};
	uint64_t at = f->maps + ((uint64_t)ctx * MAPS_PER_CTX + i) * sizeof(m);

	qtest_memwrite(f->qts, at, &m, sizeof(m));
}

static void put_ctx(F *f, uint32_t id, uint64_t maps, uint32_t count, uint32_t flags)
{
	struct wse_hw_ctx c = {
		.map_dma = cpu_to_le64(maps), .map_count = cpu_to_le32(count),
		.flags = cpu_to_le32(flags),
	};

	qtest_memwrite(f->qts, f->ctx_table + id * sizeof(c), &c, sizeof(c));
}

static void queue_setup(F *f, uint32_t qi, uint32_t size)
{
	FQueue *q = &f->q[qi];
	g_autofree uint8_t *zero = g_malloc0(RING_ENTRIES * sizeof(struct wse_hw_cqe));

	qtest_memwrite(f->qts, q->cq, zero, RING_ENTRIES * sizeof(struct wse_hw_cqe));
	q->size = size;
	q->tail = q->head = 0;
	q->phase = true;
	qwr(f, qi, WSE_QREG_ENABLE, 0);
	qwr(f, qi, WSE_QREG_SQ_BASE_LO, (uint32_t)q->sq);
	qwr(f, qi, WSE_QREG_SQ_BASE_HI, q->sq >> 32);
	qwr(f, qi, WSE_QREG_CQ_BASE_LO, (uint32_t)q->cq);
	qwr(f, qi, WSE_QREG_CQ_BASE_HI, q->cq >> 32);
	qwr(f, qi, WSE_QREG_SIZE, size);
	qwr(f, qi, WSE_QREG_ENABLE, 1);
}

static void valid_context(F *f, uint32_t ctx);

/* The valid state: events, the four contexts' tables, queue 0. */
static void device_setup(F *f)
{
	uint32_t i;

	wr(f, WSE_REG_EVQ_BASE_LO, (uint32_t)f->evq);
	wr(f, WSE_REG_EVQ_BASE_HI, f->evq >> 32);
	wr(f, WSE_REG_EVQ_SIZE, EVQ_ENTRIES);
	for (i = 0; i < HOST_SIZE / WSE_PAGE_SIZE; i++)
		qtest_writeq(f->qts, f->page_list + i * 8, f->host + i * WSE_PAGE_SIZE);
	for (i = 0; i < CONTEXTS; i++)
		valid_context(f, i);
	wr(f, WSE_REG_CTX_BASE_LO, (uint32_t)f->ctx_table);
	wr(f, WSE_REG_CTX_BASE_HI, f->ctx_table >> 32);
	wr(f, WSE_REG_CTX_COUNT, CONTEXTS);
	queue_setup(f, 0, 16);
}

static QPCIDevice *find_wse(F *f, int devfn, QPCIBar *bar)
{
	QPCIDevice *dev = qpci_device_find(f->qs->pcibus, devfn);
	uint64_t size;

	g_assert(dev);
	qpci_device_enable(dev);
	*bar = qpci_iomap(dev, WSE_BAR_REGS, &size);
	g_assert_cmpuint(size, ==, WSE_REGS_SIZE);
	return dev;
}

static void enable_ecam(F *f)
{
	QPCIDevice *mch = qpci_device_find(f->qs->pcibus, QPCI_DEVFN(0, 0));

	g_assert(mch);
	qpci_config_writel(mch, Q35_PCIEXBAR, (uint32_t)ECAM_BASE | 1);
	qpci_config_writel(mch, Q35_PCIEXBAR + 4, 0);
	g_free(mch);
}

static void boot(F *f)
{
	uint64_t size;
	uint32_t qi;

	f->qs = qtest_pc_boot("-machine q35 -m 256M -nodefaults "
			      "-device wse,addr=04.0,sram-window=on "
			      "-device wse,addr=05.0,queues=2 "
			      "-device pcie-root-port,id=rp1,bus=pcie.0,addr=06.0,chassis=1");
	f->qts = f->qs->qts;
	f->dev = find_wse(f, WSE_DEVFN, &f->bar);
	f->other = find_wse(f, OTHER_WSE_DEVFN, &f->other_bar);
	f->sram_bar = qpci_iomap(f->dev, WSE_BAR_SRAM, &size);
	g_assert_cmpuint(size, ==, WSE_SRAM_WINDOW_SIZE);
	qpci_msix_enable(f->dev);
	enable_ecam(f);
	f->nq = rd(f, WSE_REG_NUM_QUEUES);
	f->sram_bytes = rd(f, WSE_REG_SRAM_SIZE_LO) | (uint64_t)rd(f, WSE_REG_SRAM_SIZE_HI) << 32;
	g_assert_cmpuint(f->sram_bytes, >=, RO_TARGET + RO_SIZE);
	f->ctx_table = alloc_zeroed(f, CONTEXTS * sizeof(struct wse_hw_ctx));
	f->maps = alloc_zeroed(f, CONTEXTS * MAPS_PER_CTX * sizeof(struct wse_hw_map));
	f->host = alloc_zeroed(f, HOST_SIZE);
	f->page_list = alloc_zeroed(f, HOST_SIZE / WSE_PAGE_SIZE * 8);
	f->evq = alloc_zeroed(f, EVQ_ENTRIES * sizeof(struct wse_hw_event));
	f->mailbox = alloc_zeroed(f, WSE_PAGE_SIZE);
	for (qi = 0; qi < f->nq; qi++) {
		f->q[qi].sq = alloc_zeroed(f, RING_ENTRIES * sizeof(struct wse_hw_sqe));
		f->q[qi].cq = alloc_zeroed(f, RING_ENTRIES * sizeof(struct wse_hw_cqe));
	}
	f->n_aims = 0;
	f->aims[f->n_aims++] = f->bar.addr;
	f->aims[f->n_aims++] = f->bar.addr + WSE_REG_CONTROL;
	f->aims[f->n_aims++] = f->bar.addr + WSE_REG_QUEUE(0) + WSE_QREG_RESET;
	f->aims[f->n_aims++] = f->sram_bar.addr;
	f->aims[f->n_aims++] = f->dev->msix_table_bar.addr + f->dev->msix_table_off;
	f->aims[f->n_aims++] = f->other_bar.addr + WSE_REG_CONTROL;
	f->aims[f->n_aims++] = ECAM_BASE + ((uint64_t)ROOT_PORT_DEVFN << 12);
	f->aims[f->n_aims++] = ECAM_BASE + ((uint64_t)WSE_DEVFN << 12) + PCI_COMMAND;
	f->aims[f->n_aims++] = MSI_WINDOW;
	f->aims[f->n_aims++] = UNASSIGNED;
	f->aims[f->n_aims++] = f->mailbox;
	f->aims[f->n_aims++] = 0xfffffffffffff000ull;
	g_assert_cmpuint(f->n_aims, <=, ARRAY_SIZE(f->aims));
	f->next_seq = 1;
	device_setup(f);
}

static void shutdown_f(F *f)
{
	g_free(f->dev);
	g_free(f->other);
	qtest_shutdown(f->qs);
}

/* ---- queues ---------------------------------------------------------------- */

static void submit(F *f, uint32_t qi, const struct wse_hw_sqe *sqe)
{
	FQueue *q = &f->q[qi];

	if (!q->size)
		return;
	qtest_memwrite(f->qts, q->sq + (q->tail % RING_ENTRIES) * sizeof(*sqe), sqe, sizeof(*sqe));
	q->tail = (q->tail + 1) % q->size;
	qwr(f, qi, WSE_QREG_SQ_TAIL, q->tail);
}

static uint64_t submit_cmd(F *f, uint32_t qi, uint16_t opcode, uint32_t ctx, uint64_t dva,
			   uint32_t len)
{
	struct wse_hw_sqe sqe = {
		.opcode = cpu_to_le16(opcode), .context = cpu_to_le32(ctx),
		.seq = cpu_to_le64(++f->next_seq), .stream_dva = cpu_to_le64(dva),
		.stream_len = cpu_to_le32(len),
	};

	submit(f, qi, &sqe);
	return f->next_seq;
}

/* Consumes whatever completions and events are there. */
static void reap(F *f)
{
	uint32_t qi, tail;

	for (qi = 0; qi < f->nq; qi++) {
		FQueue *q = &f->q[qi];
		struct wse_hw_cqe cqe;
		uint32_t n;

		for (n = 0; q->size && n < RING_ENTRIES; n++) {
			qtest_memread(f->qts, q->cq + (q->head % RING_ENTRIES) * sizeof(cqe), &cqe,
				      sizeof(cqe));
			if (!!(le16_to_cpu(cqe.flags) & WSE_CQE_PHASE) != q->phase)
				break;
			f->statuses[MIN(le32_to_cpu(cqe.status), ARRAY_SIZE(f->statuses) - 1)]++;
			q->head = (q->head + 1) % q->size;
			if (q->head == 0)
				q->phase = !q->phase;
			qwr(f, qi, WSE_QREG_CQ_HEAD, q->head);
		}
	}
	tail = rd(f, WSE_REG_EVQ_TAIL);
	wr(f, WSE_REG_EVQ_HEAD, tail);
}

/* ---- op records from the rulebook ------------------------------------------- */

static void set_u32(uint8_t *rec, uint16_t off, uint32_t v)
{
	uint32_t le = cpu_to_le32(v);

	memcpy(rec + off, &le, 4);
}

static void set_u64(uint8_t *rec, uint16_t off, uint64_t v)
{
	uint64_t le = cpu_to_le64(v);

	memcpy(rec + off, &le, 8);
}

static uint32_t get_u32(const uint8_t *rec, uint16_t off)
{
	return (uint32_t)wse_rule_field(rec, off, 4);
}

static void small_dim(F *f, uint8_t *rec, uint16_t off, bool big)
{
	static const uint32_t dims[] = { 1, 2, 4, 8, 16, 32, 64 };

	if (off && off >= sizeof(struct wse_hw_op_hdr) && !get_u32(rec, off))
		set_u32(rec, off, big ? 256u << below(f, 3) : dims[below(f, ARRAY_SIZE(dims))]);
}

/* Makes the record meet its shape rules, field by field, in rule order. */
static void satisfy_rules(F *f, const struct wse_op_spec *sp, uint8_t *rec)
{
	const struct wse_shape_rule *r;
	float positive;

	for (r = sp->rules; r < sp->rules + WSE_OP_MAX_RULES && r->kind; r++) {
		uint32_t a = r->a ? get_u32(rec, r->a) : 0, b = r->b ? get_u32(rec, r->b) : 0;

		switch (r->kind) {
		case WSE_RULE_NONZERO:
			if (!a)
				set_u32(rec, r->a, 1);
			break;
		case WSE_RULE_EVEN:
			set_u32(rec, r->a, a + (a & 1));
			break;
		case WSE_RULE_MULTIPLE:
			if (b && a % b)
				set_u32(rec, r->a, b * (1 + below(f, 2)));
			break;
		case WSE_RULE_NOT_ABOVE:
			if (a > b)
				set_u32(rec, r->b, a);
			break;
		case WSE_RULE_SUM_WITHIN:
			if ((uint64_t)a + b > get_u32(rec, r->c))
				set_u32(rec, r->c, a + b + below(f, 4));
			break;
		case WSE_RULE_POSITIVE:
			positive = chance(f, 50) ? 1e-5f : 10000.0f;
			memcpy(rec + r->a, &positive, 4);
			break;
		default:
			break;
		}
	}
}

static uint64_t operand_bytes(const struct wse_op_spec *sp, const struct wse_operand_rule *o,
			      const uint8_t *rec)
{
	uint64_t rows = 1, cols = 1;
	int i;

	if (o->elem == WSE_ELEM_BYTES)
		return o->bytes(rec);
	for (i = 0; i < 2; i++) {
		rows *= o->rows[i] ? get_u32(rec, o->rows[i]) : 1;
		cols *= o->cols[i] ? get_u32(rec, o->cols[i]) : 1;
	}
	if (o->elem == WSE_ELEM_WEIGHT)
		return wse_dtype_matrix_bytes(get_u32(rec, sp->dtype), rows, cols);
	return rows * cols * 4;
}

/*
 * A record of op that the rulebook accepts (mostly: some random shapes
 * still break a rule), its operands laid out one after the other in the
 * SRAM mapping from *sram_off; big asks for shapes that run for a while.
 */
static uint32_t valid_record(F *f, uint16_t op, uint8_t *rec, uint64_t *sram_off, bool big)
{
	const struct wse_op_spec *sp = &wse_op_specs[op];
	struct wse_hw_op_hdr *hdr = (void *)rec;
	int i, j;

	memset(rec, 0, sp->size);
	hdr->op = cpu_to_le16(op);
	hdr->length = cpu_to_le16(sp->size);
	if (op == WSE_OP_NOP)
		return sp->size;
	if (sp->flags && chance(f, 50))
		hdr->flags = cpu_to_le32(sp->flags);
	if (sp->dtype) {
		static const uint32_t dtypes[] = {
			WSE_HW_DTYPE_F32, WSE_HW_DTYPE_F16, WSE_HW_DTYPE_BF16, WSE_HW_DTYPE_Q8_0,
		};

		set_u32(rec, sp->dtype, dtypes[below(f, ARRAY_SIZE(dtypes))]);
	}
	for (i = 0; i < WSE_OP_MAX_RULES && sp->rules[i].kind; i++) {
		if (sp->rules[i].kind == WSE_RULE_POSITIVE || sp->rules[i].kind == WSE_RULE_NONZERO_U64)
			continue;
		small_dim(f, rec, sp->rules[i].a, big);
		small_dim(f, rec, sp->rules[i].b, big);
	}
	for (i = 0; i < sp->n_operands; i++) {
		for (j = 0; j < 2; j++) {
			small_dim(f, rec, sp->operands[i].rows[j], big);
			small_dim(f, rec, sp->operands[i].cols[j], big);
		}
	}
	if (op == WSE_OP_COPY)
		set_u64(rec, offsetof(struct wse_hw_op_copy, bytes),
			big ? SRAM_MAP_SIZE / 4 : 1 + below(f, 3 * WSE_PAGE_SIZE));
	satisfy_rules(f, sp, rec);
	for (i = 0; i < sp->n_operands; i++) {
		const struct wse_operand_rule *o = &sp->operands[i];
		uint64_t bytes = operand_bytes(sp, o, rec);

		if (op == WSE_OP_COPY && chance(f, 30)) {
			/* Through the host mapping, page by page. */
			set_u64(rec, o->addr, HOST_DVA + below(f, HOST_SIZE / 2));
			continue;
		}
		if (sp->in_place && i == sp->n_operands - 1 && chance(f, 30)) {
			set_u64(rec, o->addr, wse_rule_field(rec, sp->operands[0].addr, 8));
			continue;
		}
		*sram_off = QEMU_ALIGN_UP(*sram_off, 64);
		set_u64(rec, o->addr, SRAM_DVA + *sram_off % SRAM_MAP_SIZE);
		*sram_off += bytes;
	}
	return sp->size;
}

static void mutate_record(F *f, uint8_t *rec, uint32_t size)
{
	struct wse_hw_op_hdr *hdr = (void *)rec;
	uint32_t n = 1 + below(f, 3), off;

	while (n--) {
		switch (below(f, 6)) {
		case 0:
			rec[below(f, size)] = rnd(f);
			break;
		case 1:
			off = below(f, size / 4) * 4;
			set_u32(rec, off, interesting_u32(f));
			break;
		case 2:
			off = 8 + below(f, (size - 8) / 8) * 8;
			set_u64(rec, off, interesting_addr(f));
			break;
		case 3:
			hdr->flags = cpu_to_le32(interesting_u32(f));
			break;
		case 4:
			hdr->region.x = cpu_to_le16(rnd(f));
			hdr->region.y = cpu_to_le16(below(f, 4));
			hdr->region.w = cpu_to_le16(rnd(f));
			hdr->region.h = cpu_to_le16(below(f, 64));
			break;
		default:
			hdr->length = cpu_to_le16(chance(f, 50) ? size + 8 * below(f, 3) - 8 :
						  (uint16_t)rnd(f));
			break;
		}
	}
}

/* 1..4 records, valid and then mutated now and then, into the stream area. */
static uint32_t build_stream(F *f, uint8_t *buf, bool big)
{
	uint32_t len = 0, n = 1 + below(f, 4), size;
	uint64_t sram_off = below(f, 1024) * 64;

	while (n--) {
		uint16_t op = chance(f, 3) ? rnd(f) : below(f, WSE_OP_COUNT);

		if (op >= WSE_OP_COUNT) {
			/* An opcode the device does not know, with a plausible length. */
			struct wse_hw_op_hdr *hdr = (void *)(buf + len);

			memset(hdr, 0, sizeof(*hdr));
			hdr->op = cpu_to_le16(op);
			hdr->length = cpu_to_le16(sizeof(*hdr));
			len += sizeof(*hdr);
			continue;
		}
		if (len + wse_op_specs[op].size > STREAM_MAX)
			break;
		size = valid_record(f, op, buf + len, &sram_off, big);
		if (!big && chance(f, 30))
			mutate_record(f, buf + len, size);
		len += size;
	}
	return len;
}

static void host_write(F *f, uint64_t off, const void *data, size_t len)
{
	/* The host mapping's page list is identity unless an action aimed it elsewhere. */
	qtest_memwrite(f->qts, f->host + off, data, len);
}

static void submit_stream(F *f, uint32_t qi, const uint8_t *buf, uint32_t len)
{
	host_write(f, STREAM_OFF, buf, len);
	submit_cmd(f, qi, WSE_CMD_EXEC, 0, HOST_DVA + STREAM_OFF, len);
}

/* ---- actions ----------------------------------------------------------------- */

static uint32_t some_queue(F *f)
{
	return below(f, f->nq);
}

static void act_register(F *f)
{
	uint32_t reg;

	if (chance(f, 50))
		reg = below(f, 0x100 / 4) * 4;
	else
		reg = WSE_REG_QUEUE(below(f, WSE_MAX_QUEUES + 2)) +
		      below(f, WSE_REG_QUEUE_STRIDE / 4) * 4;
	if (chance(f, 30))
		rd(f, reg);
	else
		wr(f, reg, reg == WSE_REG_CONTROL && chance(f, 80) ? 0 : interesting_u32(f));
}

static void act_queue_setup(F *f)
{
	queue_setup(f, some_queue(f), 2u << below(f, 5));
}

static void act_sqe(F *f)
{
	struct wse_hw_sqe sqe = {
		.opcode = cpu_to_le16(chance(f, 90) ? below(f, 2) : rnd(f)),
		.flags = cpu_to_le16(chance(f, 90) ? 0 : rnd(f)),
		.context = cpu_to_le32(chance(f, 80) ? below(f, CONTEXTS + 1) : interesting_u32(f)),
		.seq = cpu_to_le64(++f->next_seq),
		.stream_dva = cpu_to_le64(chance(f, 50) ? HOST_DVA + STREAM_OFF : interesting_addr(f)),
		.stream_len = cpu_to_le32(chance(f, 50) ? 8 * below(f, 64) : interesting_u32(f)),
	};

	if (chance(f, 10))
		sqe.reserved[below(f, 4)] = rnd(f);
	submit(f, some_queue(f), &sqe);
}

static void act_stream(F *f)
{
	uint8_t buf[STREAM_MAX];
	uint32_t len = build_stream(f, buf, false);

	/* Mostly queue 0, which every session sets up, so that most streams run. */
	submit_stream(f, chance(f, 70) ? 0 : some_queue(f), buf, len);
}

static void act_doorbell(F *f)
{
	uint32_t qi = below(f, f->nq + 1);

	qwr(f, qi, chance(f, 50) ? WSE_QREG_SQ_TAIL : WSE_QREG_CQ_HEAD, interesting_u32(f));
}

/* Context ctx's tables as device_setup() writes them. */
static void valid_context(F *f, uint32_t ctx)
{
	uint64_t table = f->maps + (uint64_t)ctx * MAPS_PER_CTX * sizeof(struct wse_hw_map);

	put_map(f, ctx, 0, SRAM_DVA, SRAM_MAP_SIZE, 0,
		WSE_HW_MAP_SRAM | WSE_HW_MAP_READ | WSE_HW_MAP_WRITE);
	put_map(f, ctx, 1, RO_DVA, RO_SIZE, RO_TARGET, WSE_HW_MAP_SRAM | WSE_HW_MAP_READ);
	put_map(f, ctx, 2, HOST_DVA, HOST_SIZE, f->page_list,
		WSE_HW_MAP_HOST | WSE_HW_MAP_READ | WSE_HW_MAP_WRITE);
	put_ctx(f, ctx, table, 3, WSE_CTX_VALID);
}

static void act_map(F *f)
{
	uint32_t ctx = below(f, CONTEXTS), i = below(f, MAPS_PER_CTX);
	uint64_t dva = chance(f, 50) ? SRAM_DVA + below(f, 8) * 0x1000000ull : interesting_addr(f);
	uint64_t size = chance(f, 50) ? (1 + below(f, 64)) * (uint64_t)WSE_PAGE_SIZE :
					interesting_addr(f);
	uint64_t target;
	uint32_t flags = below(f, 0x20);

	if (flags & WSE_HW_MAP_HOST)
		target = chance(f, 30) ? f->page_list : interesting_addr(f);
	else
		target = chance(f, 50) ? below(f, 64) * (uint64_t)WSE_PAGE_SIZE : interesting_addr(f);
	if (chance(f, 40))
		valid_context(f, ctx);
	else
		put_map(f, ctx, i, dva, size, target, chance(f, 10) ? rnd(f) : flags);
	if (chance(f, 30))
		put_ctx(f, ctx, chance(f, 70) ? f->maps + ctx * MAPS_PER_CTX * sizeof(struct wse_hw_map) :
			interesting_addr(f), chance(f, 70) ? 1 + below(f, MAPS_PER_CTX) : interesting_u32(f),
			chance(f, 90) ? WSE_CTX_VALID : rnd(f));
	wr(f, WSE_REG_CTX_INVALIDATE, chance(f, 90) ? ctx : interesting_u32(f));
}

static void act_page_list(F *f)
{
	uint32_t page = below(f, HOST_SIZE / WSE_PAGE_SIZE);
	uint64_t pa = chance(f, 40) ? f->host + page * WSE_PAGE_SIZE : interesting_addr(f);

	qtest_writeq(f->qts, f->page_list + page * 8, pa);
}

static void act_fault_inject(F *f)
{
	wr(f, WSE_REG_FAULT_INJECT, below(f, 6) | below(f, f->nq + 1) << WSE_HW_FAULT_QUEUE_SHIFT);
}

static void act_reset(F *f)
{
	switch (below(f, 4)) {
	case 0:
		wr(f, WSE_REG_CONTROL, WSE_CONTROL_RESET);
		if (chance(f, 70)) {
			gint64 deadline = g_get_monotonic_time() + POLL_DEADLINE_US;

			while (!(rd(f, WSE_REG_STATUS) & WSE_HW_DEV_READY)) {
				g_assert_cmpint(g_get_monotonic_time(), <, deadline);
				g_usleep(100);
			}
			device_setup(f);
		}
		break;
	case 1:
		qwr(f, some_queue(f), WSE_QREG_RESET, 1);
		break;
	default: {
		uint32_t qi = some_queue(f);

		qwr(f, qi, WSE_QREG_RESET, 1);
		queue_setup(f, qi, 2u << below(f, 5));
		break;
	}
	}
}

static void act_msix(F *f)
{
	uint32_t vector = below(f, f->nq + 1);
	uint64_t entry = f->dev->msix_table_off + vector * PCI_MSIX_ENTRY_SIZE;
	QPCIBar bar = f->dev->msix_table_bar;
	uint64_t addr = chance(f, 30) ? MSI_WINDOW + below(f, 256) * 0x1000 :
			chance(f, 30) ? f->mailbox : interesting_addr(f);

	qpci_io_writel(f->dev, bar, entry + PCI_MSIX_ENTRY_VECTOR_CTRL, 1);
	qpci_io_writel(f->dev, bar, entry + PCI_MSIX_ENTRY_LOWER_ADDR, (uint32_t)addr);
	qpci_io_writel(f->dev, bar, entry + PCI_MSIX_ENTRY_UPPER_ADDR, addr >> 32);
	qpci_io_writel(f->dev, bar, entry + PCI_MSIX_ENTRY_DATA,
		       chance(f, 50) ? WSE_CONTROL_RESET : interesting_u32(f));
	qpci_io_writel(f->dev, bar, entry + PCI_MSIX_ENTRY_VECTOR_CTRL, below(f, 2));
}

static void act_scrub(F *f)
{
	uint64_t off = chance(f, 60) ? below(f, 64) * (uint64_t)WSE_PAGE_SIZE : interesting_addr(f);
	uint64_t len = chance(f, 60) ? (1 + below(f, 16)) * (uint64_t)WSE_PAGE_SIZE :
				       interesting_addr(f);

	wr(f, WSE_REG_SCRUB_OFFSET_LO, (uint32_t)off);
	wr(f, WSE_REG_SCRUB_OFFSET_HI, off >> 32);
	wr(f, WSE_REG_SCRUB_LEN_LO, (uint32_t)len);
	wr(f, WSE_REG_SCRUB_LEN_HI, len >> 32);
	wr(f, WSE_REG_SCRUB, chance(f, 90) ? WSE_SCRUB_GO : interesting_u32(f));
}

static void bar2_write(F *f)
{
	uint64_t off = chance(f, 80) ? below(f, 4096) * 4 : below(f, WSE_SRAM_WINDOW_SIZE / 4) * 4;

	if (chance(f, 10)) {
		uint64_t window = chance(f, 80) ? below(f, 16) * 0x100000ull : interesting_addr(f);

		wr(f, WSE_REG_SRAM_WINDOW_LO, (uint32_t)window);
		wr(f, WSE_REG_SRAM_WINDOW_HI, window >> 32);
	}
	switch (below(f, 3)) {
	case 0:
		qpci_io_writel(f->dev, f->sram_bar, off, interesting_u32(f));
		break;
	case 1:
		qpci_io_writeb(f->dev, f->sram_bar, off + below(f, 4), rnd(f));
		break;
	default:
		qpci_io_readl(f->dev, f->sram_bar, off);
		break;
	}
}

/*
 * A stream of big, valid records (tens of milliseconds to seconds), and
 * BAR2 writes into the SRAM its operands live in while it runs: every
 * operand the device reads twice is a chance for the guest to change it in
 * between (issue 12, finding 2).
 */
/*
 * EMBED records reading their tokens from the start of SRAM, where the
 * race below writes: tokens valid (0) when the stream starts.
 */
static uint32_t embed_stream(F *f, uint8_t *buf)
{
	const uint32_t n_tokens = 1024, dim = 1024, vocab = 16, records = 32;
	struct wse_hw_op_embed *e = (void *)buf;
	g_autofree uint8_t *zero = g_malloc0(n_tokens * 4);
	uint32_t i;

	wr(f, WSE_REG_SRAM_WINDOW_LO, 0);
	wr(f, WSE_REG_SRAM_WINDOW_HI, 0);
	qtest_memwrite(f->qts, f->sram_bar.addr, zero, n_tokens * 4);
	for (i = 0; i < records; i++, e++) {
		memset(e, 0, sizeof(*e));
		e->hdr.op = cpu_to_le16(WSE_OP_EMBED);
		e->hdr.length = cpu_to_le16(sizeof(*e));
		e->tokens = cpu_to_le64(SRAM_DVA);
		e->table = cpu_to_le64(SRAM_DVA + 0x100000);
		e->out = cpu_to_le64(SRAM_DVA + 0x400000);
		e->dim = cpu_to_le32(dim);
		e->vocab = cpu_to_le32(vocab);
		e->n_tokens = cpu_to_le32(n_tokens);
		e->wtype = cpu_to_le32(WSE_HW_DTYPE_F32);
	}
	return records * sizeof(*e);
}

static void act_race(F *f)
{
	uint8_t buf[STREAM_MAX];
	bool embed = chance(f, 40);
	uint32_t len = embed ? embed_stream(f, buf) : build_stream(f, buf, true);
	uint32_t n = 20 + below(f, 200);
	uint64_t window = 0;

	wr(f, WSE_REG_SRAM_WINDOW_LO, 0);
	wr(f, WSE_REG_SRAM_WINDOW_HI, 0);
	submit_stream(f, chance(f, 70) ? 0 : some_queue(f), buf, len);
	while (n--) {
		if (!embed && chance(f, 5)) {
			window = below(f, SRAM_MAP_SIZE / WSE_SRAM_WINDOW_SIZE) * WSE_SRAM_WINDOW_SIZE;
			wr(f, WSE_REG_SRAM_WINDOW_LO, (uint32_t)window);
		}
		qpci_io_writel(f->dev, f->sram_bar, below(f, embed ? 1024 : 0x40000) * 4,
			       chance(f, 50) ? 0xffffffff : interesting_u32(f));
	}
}

static void act_sleep(F *f)
{
	g_usleep(below(f, 2000));
	reap(f);
}

typedef void (*Action)(F *f);

static const Action actions[] = {
	act_register, act_register, act_queue_setup, act_sqe, act_sqe, act_stream, act_stream,
	act_stream, act_stream, act_doorbell, act_map, act_map, act_page_list, act_fault_inject,
	act_reset, act_msix, act_scrub, bar2_write, bar2_write, act_race, reap, reap, act_sleep,
};

/*
 * The device must still work: a device reset finishes, and then a NOP on a
 * fresh queue 0 completes. A device wedged by anything before fails here.
 */
static void check_alive(F *f)
{
	gint64 deadline = g_get_monotonic_time() + POLL_DEADLINE_US;
	struct wse_hw_cqe cqe;
	uint64_t seq;
	uint32_t vector;

	/* Messages to RAM again, so the liveness NOP sends nothing anywhere odd. */
	for (vector = 0; vector <= f->nq; vector++)
		qpci_io_writel(f->dev, f->dev->msix_table_bar,
			       f->dev->msix_table_off + vector * PCI_MSIX_ENTRY_SIZE +
			       PCI_MSIX_ENTRY_VECTOR_CTRL, 1);
	wr(f, WSE_REG_CONTROL, WSE_CONTROL_RESET);
	while (!(rd(f, WSE_REG_STATUS) & WSE_HW_DEV_READY)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(200);
	}
	g_assert_cmphex(rd(f, WSE_REG_MAGIC), ==, WSE_HW_MAGIC);
	device_setup(f);
	seq = submit_cmd(f, 0, WSE_CMD_NOP, 0, 0, 0);
	for (;;) {
		qtest_memread(f->qts, f->q[0].cq, &cqe, sizeof(cqe));
		if (le16_to_cpu(cqe.flags) & WSE_CQE_PHASE)
			break;
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(200);
	}
	g_assert_cmphex(le64_to_cpu(cqe.seq), ==, seq);
	g_assert_cmpuint(le32_to_cpu(cqe.status), ==, WSE_HW_STATUS_OK);
}

static uint64_t env_u64(const char *name, uint64_t fallback)
{
	const char *v = g_getenv(name);

	return v && *v ? g_ascii_strtoull(v, NULL, 0) : fallback;
}

static void test_fuzz(void)
{
	uint64_t seed = env_u64("WSE_FUZZ_SEED", g_get_real_time());
	uint64_t iterations = env_u64("WSE_FUZZ_ITERATIONS", 2000);
	gint64 budget = env_u64("WSE_FUZZ_SECONDS", 60) * G_USEC_PER_SEC;
	gint64 start = g_get_monotonic_time();
	uint64_t done = 0, sessions = 0;
	F f = { .rng = seed };
	char statuses[256] = "";
	size_t i;

	g_test_message("seed %" PRIu64 " (WSE_FUZZ_SEED replays the same actions)", seed);
	while (done < iterations && g_get_monotonic_time() - start < budget) {
		uint32_t n;

		boot(&f);
		sessions++;
		for (n = 0; n < ACTIONS_PER_SESSION && done < iterations; n++, done++) {
			actions[below(&f, ARRAY_SIZE(actions))](&f);
			if (g_get_monotonic_time() - start >= budget)
				break;
		}
		check_alive(&f);
		shutdown_f(&f);
		if (sessions % 10 == 0)
			g_test_message("%" PRIu64 " iterations, %" PRIu64 " sessions, %.0f s", done,
				       sessions, (g_get_monotonic_time() - start) / 1e6);
	}
	for (i = 0; i < ARRAY_SIZE(f.statuses); i++)
		g_snprintf(statuses + strlen(statuses), sizeof(statuses) - strlen(statuses), "%s%" PRIu64,
			   i ? " " : "", f.statuses[i]);
	g_test_message("completions by status (OK, OPCODE, STREAM, CONTEXT, FAULT, SHAPE, DMA, "
		       "SRAM, ABORTED, REGION, other): %s", statuses);
	g_test_message("wse-fuzz: seed %" PRIu64 ", %" PRIu64 " iterations, %" PRIu64
		       " sessions, %.1f s, no crash, no sanitizer report, no hang",
		       seed, done, sessions, (g_get_monotonic_time() - start) / 1e6);
	g_assert_cmpuint(done, >, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	qtest_add_func("/wse/fuzz/device", test_fuzz);
	return g_test_run();
}
