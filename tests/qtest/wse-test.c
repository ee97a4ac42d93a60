/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wse-test.c - qtests of the wse PCIe device (qemu-dev/wse.c): registers,
 * queues, MSI-X, address translation, every op against a small reference,
 * faults, fault injection, resets and unplug. Built inside QEMU's tree by
 * tools/vm/build-qemu.sh; run by tests/qtest/run.
 *
 * Each test boots its own q35 machine with one wse device at 00:04.0 and
 * talks to it through MMIO and guest memory only; the device works on its
 * own thread, so results are polled with a generous deadline.
 */
#include "qemu/osdep.h"
#include <math.h>
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/libqos-pc.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"
#include "wse/hw_device.h"
#include "wse/hw_ops.h"

#define WSE_DEVFN		QPCI_DEVFN(4, 0)
#define POLL_DEADLINE_US	(20 * G_USEC_PER_SEC)
/*
 * Resets return at once and finish within milliseconds of work (observed:
 * under 20 ms); these bounds leave room for a loaded 2-core host and are
 * far below the tens of seconds the long records below run for.
 */
#define MMIO_RETURN_US		G_USEC_PER_SEC
#define RESET_WAIT_US		(2 * G_USEC_PER_SEC)

/* The wse behind a PCIe root port (boot_behind_root_port). */
#define ROOT_PORT_DEVFN		QPCI_DEVFN(5, 0)
/* Q35's MCH: PCIEXBAR (config 0x60) enables ECAM; no firmware does it here. */
#define Q35_PCIEXBAR		0x60
#define ECAM_BASE		0xb0000000ull

/* The test context's address space. */
#define SRAM_DVA		0x100000000ull	/* RW SRAM mapping */
#define SRAM_SIZE		(32u << 20)
#define SRAM_TARGET		0x400000ull
#define RO_DVA			0x200000000ull	/* read-only SRAM mapping */
#define RO_SIZE			0x10000u
#define RO_TARGET		0x3000000ull
#define HOST_DVA		0x300000000ull	/* host mapping */
#define HOST_SIZE		0x40000u
#define STREAM_OFF		0x30000u	/* stream area inside the host mapping */
#define STREAM_MAX		0x10000u
#define UNMAPPED_DVA		0x180000000ull

#define CTX_GOOD		0
#define CTX_INVALID		1	/* flags without WSE_CTX_VALID */
#define CTX_BAD_TABLE		2	/* map table rewritten per test */
#define CTX_COUNT		3

#define QSIZE			16
#define EVQ_SIZE		64

typedef struct TQueue {
	uint64_t sq, cq;
	uint32_t size;
	uint32_t tail, head;
	bool phase;
} TQueue;

typedef struct T {
	QOSState *qs;
	QTestState *qts;
	QPCIDevice *dev;
	QPCIDevice *rp;		/* root port, when behind one */
	QPCIBar bar;
	uint32_t nq;
	TQueue q[WSE_MAX_QUEUES];
	uint64_t ctx_table;
	uint64_t maps;		/* good context's map table */
	uint64_t bad_maps;	/* CTX_BAD_TABLE's map table */
	uint64_t host;		/* HOST_SIZE bytes behind the host mapping */
	uint64_t page_list;
	uint64_t evq;
	uint32_t ev_head;
	uint64_t next_seq;
} T;

/* ---- plumbing ------------------------------------------------------------- */

static uint32_t rd(T *t, uint32_t reg)
{
	return qpci_io_readl(t->dev, t->bar, reg);
}

static void wr(T *t, uint32_t reg, uint32_t v)
{
	qpci_io_writel(t->dev, t->bar, reg, v);
}

static uint32_t qrd(T *t, int qi, uint32_t reg)
{
	return rd(t, WSE_REG_QUEUE(qi) + reg);
}

static void qwr(T *t, int qi, uint32_t reg, uint32_t v)
{
	wr(t, WSE_REG_QUEUE(qi) + reg, v);
}

static uint64_t alloc_zeroed(T *t, size_t bytes)
{
	uint64_t a = guest_alloc(&t->qs->alloc, bytes);
	g_autofree uint8_t *zero = g_malloc0(bytes);

	g_assert(a % WSE_PAGE_SIZE == 0);
	qtest_memwrite(t->qts, a, zero, bytes);
	return a;
}

static void queue_setup(T *t, int qi, uint32_t size)
{
	TQueue *q = &t->q[qi];

	q->size = size;
	q->sq = alloc_zeroed(t, size * sizeof(struct wse_hw_sqe));
	q->cq = alloc_zeroed(t, size * sizeof(struct wse_hw_cqe));
	q->tail = q->head = 0;
	q->phase = true;
	qwr(t, qi, WSE_QREG_SQ_BASE_LO, (uint32_t)q->sq);
	qwr(t, qi, WSE_QREG_SQ_BASE_HI, q->sq >> 32);
	qwr(t, qi, WSE_QREG_CQ_BASE_LO, (uint32_t)q->cq);
	qwr(t, qi, WSE_QREG_CQ_BASE_HI, q->cq >> 32);
	qwr(t, qi, WSE_QREG_SIZE, size);
	qwr(t, qi, WSE_QREG_ENABLE, 1);
	g_assert_cmpuint(qrd(t, qi, WSE_QREG_ENABLE), ==, 1);
}

/* After a queue reset the device starts the rings over; so does the test. */
static void queue_restart(T *t, int qi)
{
	TQueue *q = &t->q[qi];
	g_autofree uint8_t *zero = g_malloc0(q->size * sizeof(struct wse_hw_cqe));

	qtest_memwrite(t->qts, q->cq, zero, q->size * sizeof(struct wse_hw_cqe));
	q->tail = q->head = 0;
	q->phase = true;
	qwr(t, qi, WSE_QREG_ENABLE, 1);
}

static void evq_setup(T *t, uint32_t entries)
{
	t->evq = alloc_zeroed(t, entries * sizeof(struct wse_hw_event));
	t->ev_head = 0;
	wr(t, WSE_REG_EVQ_BASE_LO, (uint32_t)t->evq);
	wr(t, WSE_REG_EVQ_BASE_HI, t->evq >> 32);
	wr(t, WSE_REG_EVQ_SIZE, entries);
}

static void put_map(T *t, uint64_t table, int i, uint64_t dva, uint64_t size,
		    uint64_t target, uint32_t flags)
{
	struct wse_hw_map m = {
		.dva = cpu_to_le64(dva), .size = cpu_to_le64(size),
		.target = cpu_to_le64(target), .flags = cpu_to_le32(flags),
	};

	qtest_memwrite(t->qts, table + i * sizeof(m), &m, sizeof(m));
}

static void put_ctx(T *t, uint32_t id, uint64_t maps, uint32_t count, uint32_t flags)
{
	struct wse_hw_ctx c = {
		.map_dma = cpu_to_le64(maps), .map_count = cpu_to_le32(count),
		.flags = cpu_to_le32(flags),
	};

	qtest_memwrite(t->qts, t->ctx_table + id * sizeof(c), &c, sizeof(c));
}

static void contexts_setup(T *t)
{
	uint32_t i;

	t->host = alloc_zeroed(t, HOST_SIZE);
	t->page_list = alloc_zeroed(t, (HOST_SIZE / WSE_PAGE_SIZE) * 8);
	/* Scatter the pages: the list runs backwards through the buffer. */
	for (i = 0; i < HOST_SIZE / WSE_PAGE_SIZE; i++) {
		uint64_t pa = t->host + (HOST_SIZE / WSE_PAGE_SIZE - 1 - i) * WSE_PAGE_SIZE;

		qtest_writeq(t->qts, t->page_list + i * 8, pa);
	}
	t->maps = alloc_zeroed(t, 8 * sizeof(struct wse_hw_map));
	put_map(t, t->maps, 0, SRAM_DVA, SRAM_SIZE, SRAM_TARGET,
		WSE_HW_MAP_SRAM | WSE_HW_MAP_READ | WSE_HW_MAP_WRITE);
	put_map(t, t->maps, 1, RO_DVA, RO_SIZE, RO_TARGET, WSE_HW_MAP_SRAM | WSE_HW_MAP_READ);
	put_map(t, t->maps, 2, HOST_DVA, HOST_SIZE, t->page_list,
		WSE_HW_MAP_HOST | WSE_HW_MAP_READ | WSE_HW_MAP_WRITE);
	t->bad_maps = alloc_zeroed(t, 8 * sizeof(struct wse_hw_map));
	t->ctx_table = alloc_zeroed(t, CTX_COUNT * sizeof(struct wse_hw_ctx));
	put_ctx(t, CTX_GOOD, t->maps, 3, WSE_CTX_VALID);
	put_ctx(t, CTX_INVALID, t->maps, 3, 0);
	put_ctx(t, CTX_BAD_TABLE, t->bad_maps, 0, WSE_CTX_VALID);
	wr(t, WSE_REG_CTX_BASE_LO, (uint32_t)t->ctx_table);
	wr(t, WSE_REG_CTX_BASE_HI, t->ctx_table >> 32);
	wr(t, WSE_REG_CTX_COUNT, CTX_COUNT);
}

/* Boots a machine with "-device wse,<props>" and sets up queue 0, events, contexts. */
static T *boot_with(const char *machine_extra, const char *device)
{
	T *t = g_new0(T, 1);
	uint64_t size;

	t->qs = qtest_pc_boot("-machine q35 -m 256M -nodefaults %s %s", machine_extra, device);
	t->qts = t->qs->qts;
	t->dev = qpci_device_find(t->qs->pcibus, WSE_DEVFN);
	g_assert(t->dev);
	qpci_device_enable(t->dev);
	t->bar = qpci_iomap(t->dev, WSE_BAR_REGS, &size);
	g_assert_cmpuint(size, ==, WSE_REGS_SIZE);
	qpci_msix_enable(t->dev);
	t->nq = rd(t, WSE_REG_NUM_QUEUES);
	t->next_seq = 0x1000;
	evq_setup(t, EVQ_SIZE);
	contexts_setup(t);
	queue_setup(t, 0, QSIZE);
	return t;
}

static T *boot(const char *props)
{
	g_autofree char *dev = g_strdup_printf("-device wse,addr=04.0%s%s",
					       props && *props ? "," : "", props ? props : "");

	return boot_with("", dev);
}

static void shutdown_t(T *t)
{
	g_free(t->rp);
	g_free(t->dev);
	qtest_shutdown(t->qs);
	g_free(t);
}

static void submit(T *t, int qi, const struct wse_hw_sqe *sqe)
{
	TQueue *q = &t->q[qi];

	qtest_memwrite(t->qts, q->sq + q->tail * sizeof(*sqe), sqe, sizeof(*sqe));
	q->tail = (q->tail + 1) % q->size;
	qwr(t, qi, WSE_QREG_SQ_TAIL, q->tail);
}

static uint64_t submit_cmd(T *t, int qi, uint16_t opcode, uint32_t ctx,
			   uint64_t stream_dva, uint32_t stream_len)
{
	struct wse_hw_sqe sqe = {
		.opcode = cpu_to_le16(opcode), .context = cpu_to_le32(ctx),
		.seq = cpu_to_le64(++t->next_seq), .stream_dva = cpu_to_le64(stream_dva),
		.stream_len = cpu_to_le32(stream_len),
	};

	submit(t, qi, &sqe);
	return t->next_seq;
}

static bool cqe_ready(T *t, int qi, struct wse_hw_cqe *cqe)
{
	TQueue *q = &t->q[qi];

	qtest_memread(t->qts, q->cq + q->head * sizeof(*cqe), cqe, sizeof(*cqe));
	return !!(le16_to_cpu(cqe->flags) & WSE_CQE_PHASE) == q->phase;
}

/* Waits for the next completion of queue qi and consumes it. */
static struct wse_hw_cqe wait_cqe(T *t, int qi)
{
	TQueue *q = &t->q[qi];
	gint64 deadline = g_get_monotonic_time() + POLL_DEADLINE_US;
	struct wse_hw_cqe cqe;

	while (!cqe_ready(t, qi, &cqe)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(200);
	}
	q->head = (q->head + 1) % q->size;
	if (q->head == 0)
		q->phase = !q->phase;
	qwr(t, qi, WSE_QREG_CQ_HEAD, q->head);
	cqe.seq = le64_to_cpu(cqe.seq);
	cqe.cycles = le64_to_cpu(cqe.cycles);
	cqe.status = le32_to_cpu(cqe.status);
	cqe.op_index = le32_to_cpu(cqe.op_index);
	cqe.sq_head = le16_to_cpu(cqe.sq_head);
	cqe.flags = le16_to_cpu(cqe.flags);
	cqe.context = le32_to_cpu(cqe.context);
	return cqe;
}

/* A NOP through the device proves that everything submitted before it is done. */
static void drain(T *t, int qi)
{
	uint64_t seq = submit_cmd(t, qi, WSE_CMD_NOP, 0, 0, 0);
	struct wse_hw_cqe cqe = wait_cqe(t, qi);

	g_assert_cmphex(cqe.seq, ==, seq);
}

/* Polls STATUS until READY (a CONTROL reset finishes on the worker); returns the wait. */
static gint64 wait_ready(T *t)
{
	gint64 start = g_get_monotonic_time();

	while (!(rd(t, WSE_REG_STATUS) & WSE_HW_DEV_READY)) {
		g_assert_cmpint(g_get_monotonic_time() - start, <, RESET_WAIT_US);
		g_usleep(100);
	}
	return g_get_monotonic_time() - start;
}

/* Polls a queue until its reset is done (RESETTING clear); returns the wait. */
static gint64 wait_queue_reset(T *t, int qi)
{
	gint64 start = g_get_monotonic_time();

	while (qrd(t, qi, WSE_QREG_STATUS) & WSE_QSTATUS_RESETTING) {
		g_assert_cmpint(g_get_monotonic_time() - start, <, RESET_WAIT_US);
		g_usleep(100);
	}
	return g_get_monotonic_time() - start;
}

static bool next_event(T *t, struct wse_hw_event *ev)
{
	if (rd(t, WSE_REG_EVQ_TAIL) == t->ev_head)
		return false;
	qtest_memread(t->qts, t->evq + t->ev_head * sizeof(*ev), ev, sizeof(*ev));
	t->ev_head = (t->ev_head + 1) % rd(t, WSE_REG_EVQ_SIZE);
	wr(t, WSE_REG_EVQ_HEAD, t->ev_head);
	ev->type = le32_to_cpu(ev->type);
	ev->context = le32_to_cpu(ev->context);
	ev->queue = le32_to_cpu(ev->queue);
	ev->status = le32_to_cpu(ev->status);
	ev->addr = le64_to_cpu(ev->addr);
	ev->seq = le64_to_cpu(ev->seq);
	return true;
}

static void expect_event(T *t, uint32_t type, uint32_t status, uint64_t seq)
{
	struct wse_hw_event ev;

	g_assert_true(next_event(t, &ev));
	g_assert_cmpuint(ev.type, ==, type);
	g_assert_cmpuint(ev.status, ==, status);
	g_assert_cmphex(ev.seq, ==, seq);
}

static void drain_events(T *t)
{
	struct wse_hw_event ev;

	while (next_event(t, &ev))
		;
}

static void expect_no_event(T *t)
{
	struct wse_hw_event ev;

	g_assert_false(next_event(t, &ev));
}

/* ---- op streams ------------------------------------------------------------- */

static void host_write(T *t, uint64_t off, const void *data, size_t len);

typedef struct Stream {
	uint64_t buf[STREAM_MAX / 8];
	uint32_t len;
	uint32_t ops;
} Stream;

static void *st_add(Stream *st, uint16_t op, size_t size)
{
	struct wse_hw_op_hdr *hdr = (void *)((uint8_t *)st->buf + st->len);

	g_assert(st->len + size <= STREAM_MAX);
	memset(hdr, 0, size);
	hdr->op = op;
	hdr->length = size;
	st->len += size;
	st->ops++;
	return hdr;
}

static void st_copy(Stream *st, uint64_t src, uint64_t dst, uint64_t bytes)
{
	struct wse_hw_op_copy *c = st_add(st, WSE_OP_COPY, sizeof(*c));

	c->src = src;
	c->dst = dst;
	c->bytes = bytes;
}

/* Runs a stream (placed in the host mapping) through queue 0 and returns the CQE. */
static struct wse_hw_cqe run_on(T *t, int qi, const Stream *st, uint32_t ctx)
{
	uint64_t seq;
	struct wse_hw_cqe cqe;

	host_write(t, STREAM_OFF, st->buf, st->len);
	seq = submit_cmd(t, qi, WSE_CMD_EXEC, ctx, HOST_DVA + STREAM_OFF, st->len);
	cqe = wait_cqe(t, qi);
	g_assert_cmphex(cqe.seq, ==, seq);
	return cqe;
}

static struct wse_hw_cqe run(T *t, const Stream *st)
{
	return run_on(t, 0, st, CTX_GOOD);
}

static void run_ok(T *t, const Stream *st)
{
	struct wse_hw_cqe cqe = run(t, st);

	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_OK);
	g_assert_cmpuint(cqe.op_index, ==, st->ops);
}

/* Host buffer access through the host mapping's (backwards) page list. */
static uint64_t host_pa(T *t, uint64_t off)
{
	return t->host + (HOST_SIZE / WSE_PAGE_SIZE - 1 - off / WSE_PAGE_SIZE) * WSE_PAGE_SIZE +
	       off % WSE_PAGE_SIZE;
}

static void host_write(T *t, uint64_t off, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		size_t chunk = MIN(len, WSE_PAGE_SIZE - off % WSE_PAGE_SIZE);

		qtest_memwrite(t->qts, host_pa(t, off), p, chunk);
		p += chunk;
		off += chunk;
		len -= chunk;
	}
}

static void host_read(T *t, uint64_t off, void *data, size_t len)
{
	uint8_t *p = data;

	while (len) {
		size_t chunk = MIN(len, WSE_PAGE_SIZE - off % WSE_PAGE_SIZE);

		qtest_memread(t->qts, host_pa(t, off), p, chunk);
		p += chunk;
		off += chunk;
		len -= chunk;
	}
}

/* Moves data into SRAM (at SRAM_DVA + off) through the host mapping. */
static void upload(T *t, uint64_t sram_off, const void *data, size_t len)
{
	Stream st = { 0 };

	g_assert(len <= STREAM_OFF);
	host_write(t, 0, data, len);
	st_copy(&st, HOST_DVA, SRAM_DVA + sram_off, len);
	run_ok(t, &st);
}

static void download(T *t, uint64_t sram_off, void *data, size_t len)
{
	Stream st = { 0 };

	g_assert(len <= STREAM_OFF);
	st_copy(&st, SRAM_DVA + sram_off, HOST_DVA, len);
	run_ok(t, &st);
	host_read(t, 0, data, len);
}

/* ---- references ---------------------------------------------------------------- */

/*
 * Tolerances of assert_close(), relative to 1 + |want|, each 12-28x the
 * worst error observed (printed by "wse-test -p PATH --verbose").
 * Inputs are multiples of 1/8 in [-1, 1] (val()), so matmul and add are
 * exact in any order: every product is a multiple of 1/64 and every partial
 * sum stays below 2^6, well inside fp32's 24 bits.
 */
#define TOL_MATMUL	0
#define TOL_ADD		0
#define TOL_RMSNORM	5e-7	/* observed 3.6e-8, also on the rows near eps */
#define TOL_SILU	3e-7	/* against exp() in double: observed 1.2e-8 */
#define TOL_SOFTMAX	3e-8	/* probabilities ~0.02: observed 1.8e-9 */
/* The reference rotates in double as the device does: observed 0; one fp32 rounding allowed. */
#define TOL_ROPE	1.2e-7
#define TOL_ATTENTION	1e-6	/* observed 4.7e-8 */
#define TOL_LAYER_CACHE	2e-6	/* K rows after RoPE: observed 1.2e-7 */
#define TOL_LAYER_X	1e-5	/* the residual after both halves: observed 8.5e-7 */

static float val(int i, int salt)
{
	/* Multiples of 1/8 in [-1, 1]: exact in f32, f16 and bf16. */
	return (float)(((i * 7 + salt * 13) % 17) - 8) / 8.0f;
}

static uint16_t f32_to_f16(float f)
{
	uint32_t x, mant;
	int exp;

	memcpy(&x, &f, 4);
	if (!(x & 0x7fffffff))
		return (x >> 16) & 0x8000;
	exp = (int)((x >> 23) & 0xff) - 127 + 15;
	mant = x & 0x7fffff;
	g_assert(exp > 0 && exp < 31 && !(mant & 0x1fff));
	return ((x >> 16) & 0x8000) | exp << 10 | mant >> 13;
}

static uint16_t f32_to_bf16(float f)
{
	uint32_t x;

	memcpy(&x, &f, 4);
	g_assert(!(x & 0xffff));
	return x >> 16;
}

static void ref_matmul(const float *w, const float *x, float *y, int rows, int cols, int batch)
{
	for (int n = 0; n < batch; n++) {
		for (int m = 0; m < rows; m++) {
			double acc = 0;

			for (int k = 0; k < cols; k++)
				acc += (double)w[m * cols + k] * x[n * cols + k];
			y[n * rows + m] = acc;
		}
	}
}

static void ref_rmsnorm(const float *x, const float *w, float *y, int dim, int rows, float eps)
{
	for (int r = 0; r < rows; r++) {
		double ss = 0;

		for (int i = 0; i < dim; i++)
			ss += (double)x[r * dim + i] * x[r * dim + i];
		ss = 1.0 / sqrt(ss / dim + eps);
		for (int i = 0; i < dim; i++)
			y[r * dim + i] = x[r * dim + i] * ss * w[i];
	}
}

static void ref_rope(float *x, int n_heads, int head_dim, int rows, int pos, float theta)
{
	for (int r = 0; r < rows; r++) {
		for (int h = 0; h < n_heads; h++) {
			for (int i = 0; i < head_dim; i += 2) {
				float *v = x + r * n_heads * head_dim + h * head_dim + i;
				double freq = pow(theta, -(double)i / head_dim);
				double a = (pos + r) * freq;
				float v0 = v[0], v1 = v[1];

				v[0] = v0 * cos(a) - v1 * sin(a);
				v[1] = v0 * sin(a) + v1 * cos(a);
			}
		}
	}
}

static void ref_attention(const float *q, const float *kc, const float *vc, float *out,
			  int n_heads, int n_kv, int hd, int n_tokens, int pos)
{
	int group = n_heads / n_kv;

	for (int t = 0; t < n_tokens; t++) {
		for (int h = 0; h < n_heads; h++) {
			int kvh = h / group, len = pos + t + 1;
			const float *qv = q + t * n_heads * hd + h * hd;
			g_autofree double *sc = g_new(double, len);
			double mx = -INFINITY, sum = 0;

			for (int j = 0; j < len; j++) {
				double d = 0;

				for (int i = 0; i < hd; i++)
					d += (double)qv[i] * kc[j * n_kv * hd + kvh * hd + i];
				sc[j] = d / sqrt(hd);
				mx = MAX(mx, sc[j]);
			}
			for (int j = 0; j < len; j++) {
				sc[j] = exp(sc[j] - mx);
				sum += sc[j];
			}
			for (int i = 0; i < hd; i++) {
				double acc = 0;

				for (int j = 0; j < len; j++)
					acc += sc[j] / sum * vc[j * n_kv * hd + kvh * hd + i];
				out[t * n_heads * hd + h * hd + i] = acc;
			}
		}
	}
}

static float silu(float g)
{
	return g / (1.0f + expf(-g));
}

/*
 * |got - want| <= tol * (1 + |want|) for all n, NaN failing; the worst
 * |got - want| / (1 + |want|) goes to the test log ("-p PATH --verbose").
 */
static void assert_close(const float *got, const float *want, int n, float tol)
{
	double worst = 0;

	for (int i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]), scale = 1.0 + fabs((double)want[i]);

		if (!(d <= tol * scale)) {
			g_test_message("element %d: got %g, want %g (tolerance %g)", i, got[i], want[i],
				       tol);
			g_assert_cmpfloat(d, <=, tol * scale);
		}
		worst = MAX(worst, d / scale);
	}
	g_test_message("%d elements, worst error %.2g, tolerance %g", n, worst, tol);
}

static float *fill(int n, int salt)
{
	float *v = g_new(float, n);

	for (int i = 0; i < n; i++)
		v[i] = val(i, salt);
	return v;
}

/* ---- tests: identity, properties, reset ---------------------------------------- */

/*
 * WSE_REG_DTYPES against the caps of version 1.0, written out here rather
 * than computed from the rulebook as the device does: fp32 always, each old
 * dtype exactly when its cap is set, no bit past the contract's dtypes.
 */
static void check_dtypes_match_caps(T *t)
{
	uint32_t caps = rd(t, WSE_REG_CAPS), dtypes = rd(t, WSE_REG_DTYPES);

	g_assert_cmphex(dtypes & 1u << WSE_HW_DTYPE_F32, !=, 0);
	g_assert_cmpint(!!(dtypes & 1u << WSE_HW_DTYPE_F16), ==, !!(caps & WSE_HW_CAP_F16));
	g_assert_cmpint(!!(dtypes & 1u << WSE_HW_DTYPE_BF16), ==, !!(caps & WSE_HW_CAP_BF16));
	g_assert_cmpint(!!(dtypes & 1u << WSE_HW_DTYPE_Q8_0), ==, !!(caps & WSE_HW_CAP_Q8_0));
	g_assert_cmphex(dtypes >> WSE_HW_DTYPE_COUNT, ==, 0);
	/* the default device computes every dtype it knows */
	g_assert_cmphex(dtypes, ==, (1u << WSE_HW_DTYPE_COUNT) - 1);
	/* read-only */
	wr(t, WSE_REG_DTYPES, 0);
	g_assert_cmphex(rd(t, WSE_REG_DTYPES), ==, dtypes);
}

static void test_identity(void)
{
	T *t = boot(NULL);
	uint64_t sram;

	g_assert_cmphex(qpci_config_readw(t->dev, PCI_VENDOR_ID), ==, WSE_PCI_VENDOR_ID);
	g_assert_cmphex(qpci_config_readw(t->dev, PCI_DEVICE_ID), ==, WSE_PCI_DEVICE_ID);
	g_assert_cmphex(qpci_config_readw(t->dev, PCI_CLASS_DEVICE), ==, WSE_PCI_CLASS);
	g_assert_cmphex(qpci_config_readb(t->dev, PCI_REVISION_ID), ==, WSE_PCI_REVISION);
	g_assert_cmphex(qpci_find_capability(t->dev, PCI_CAP_ID_EXP, 0), !=, 0);
	g_assert_cmpuint(qpci_msix_table_size(t->dev), ==, WSE_MSIX_VECTORS(4));
	g_assert_cmphex(rd(t, WSE_REG_MAGIC), ==, WSE_HW_MAGIC);
	g_assert_cmphex(rd(t, WSE_REG_VERSION), ==, WSE_HW_VERSION);
	g_assert_cmphex(rd(t, WSE_REG_CAPS) & (WSE_HW_CAP_F16 | WSE_HW_CAP_BF16 | WSE_HW_CAP_FUSED_LAYER |
					       WSE_HW_CAP_FAULT_INJECT),
			==, WSE_HW_CAP_F16 | WSE_HW_CAP_BF16 | WSE_HW_CAP_FUSED_LAYER | WSE_HW_CAP_FAULT_INJECT);
	g_assert_cmphex(rd(t, WSE_REG_CAPS) & WSE_HW_CAP_SRAM_WINDOW, ==, 0);
	check_dtypes_match_caps(t);
	g_assert_cmpuint(rd(t, WSE_REG_NUM_QUEUES), ==, 4);
	sram = rd(t, WSE_REG_SRAM_SIZE_LO) | (uint64_t)rd(t, WSE_REG_SRAM_SIZE_HI) << 32;
	g_assert_cmpuint(sram, ==, (uint64_t)rd(t, WSE_REG_GRID_W) * rd(t, WSE_REG_GRID_H) *
			 rd(t, WSE_REG_PE_SRAM));
	g_assert_cmpuint(sram, >=, SRAM_TARGET + SRAM_SIZE);
	g_assert_cmpuint(rd(t, WSE_REG_CLOCK_KHZ), >, 0);
	g_assert_cmpuint(rd(t, WSE_REG_MAX_CONTEXTS), ==, WSE_MAX_CONTEXTS);
	g_assert_cmphex(rd(t, WSE_REG_STATUS), ==, WSE_HW_DEV_READY);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_COUNT), ==, 0);
	/* Reading an unknown register and writing a read-only one do nothing. */
	g_assert_cmphex(rd(t, 0x800), ==, 0);
	wr(t, WSE_REG_MAGIC, 0);
	g_assert_cmphex(rd(t, WSE_REG_MAGIC), ==, WSE_HW_MAGIC);
	shutdown_t(t);
}

static void test_properties(void)
{
	T *t = boot("queues=16,sram-size=64M,serial=1234,sram-window=on,threads=1");
	uint64_t size;

	g_assert_cmpuint(rd(t, WSE_REG_NUM_QUEUES), ==, 16);
	g_assert_cmpuint(qpci_msix_table_size(t->dev), ==, WSE_MSIX_VECTORS(16));
	g_assert_cmpuint(rd(t, WSE_REG_SRAM_SIZE_LO), ==, 64u << 20);
	g_assert_cmpuint(rd(t, WSE_REG_SRAM_SIZE_HI), ==, 0);
	g_assert_cmpuint(rd(t, WSE_REG_SERIAL), ==, 1234);
	g_assert_cmphex(rd(t, WSE_REG_CAPS) & WSE_HW_CAP_SRAM_WINDOW, ==, WSE_HW_CAP_SRAM_WINDOW);
	qpci_iomap(t->dev, WSE_BAR_SRAM, &size);
	g_assert_cmpuint(size, ==, WSE_SRAM_WINDOW_SIZE);
	/* Queue 15 exists and works. */
	queue_setup(t, 15, 4);
	drain(t, 15);
	g_assert_true(qpci_msix_pending(t->dev, 15));
	shutdown_t(t);
}

static void test_preset_cs3(void)
{
	T *t = boot("preset=cs3,sram-size=256M");

	g_assert_cmpuint(rd(t, WSE_REG_GRID_W), ==, 762);
	g_assert_cmpuint(rd(t, WSE_REG_GRID_H), ==, 1172);
	g_assert_cmpuint(rd(t, WSE_REG_PE_SRAM), ==, 48 * 1024);
	g_assert_cmpuint(rd(t, WSE_REG_SRAM_SIZE_LO), ==, 256u << 20);
	drain(t, 0);
	shutdown_t(t);
}

/* Bad properties stop QEMU with an error message, never a crash. */
static void test_bad_properties(void)
{
	const char *bad[] = {
		"queues=0", "queues=17", "preset=gpu", "fault-hang-queue=4",
		"fault-dma-queue=-2",
	};
	const char *qemu = g_getenv("QTEST_QEMU_BINARY");

	g_assert(qemu);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *dev = g_strdup_printf("wse,%s", bad[i]);
		const char *argv[] = {
			qemu, "-machine", "q35", "-accel", "qtest", "-display", "none",
			"-nodefaults", "-S", "-device", dev, NULL,
		};
		g_autofree char *out = NULL, *err = NULL;
		int status;

		g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
					   NULL, &out, &err, &status, NULL));
		g_test_message("%s: %s", bad[i], err);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 1);
		g_assert_nonnull(strstr(err, "wse"));
	}
}

static void test_device_reset(void)
{
	T *t = boot(NULL);
	struct wse_hw_event ev;

	drain(t, 0);
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 1);
	wr(t, WSE_REG_SRAM_WINDOW_LO, 0x5000);
	wr(t, WSE_REG_CONTROL, WSE_CONTROL_RESET);
	g_assert_cmphex(rd(t, WSE_REG_STATUS), ==, WSE_HW_DEV_READY);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_COUNT), ==, 0);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_BASE_LO), ==, 0);
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 0);
	g_assert_cmpuint(rd(t, WSE_REG_SRAM_WINDOW_LO), ==, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_ENABLE), ==, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SIZE), ==, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SQ_HEAD), ==, 0);
	/* The event ring survives a CONTROL_RESET so that RESET_DONE arrives. */
	g_assert_cmpuint(rd(t, WSE_REG_EVQ_SIZE), ==, EVQ_SIZE);
	t->ev_head = 0;
	g_assert_true(next_event(t, &ev));
	g_assert_cmpuint(ev.type, ==, WSE_HW_EVENT_RESET_DONE);
	g_assert_cmphex(ev.queue, ==, 0xffffffffu);
	g_assert_true(qpci_msix_pending(t->dev, WSE_MSIX_EVENT_VECTOR(4)));
	/* Fully usable again after reprogramming. */
	contexts_setup(t);
	queue_setup(t, 0, QSIZE);
	drain(t, 0);
	shutdown_t(t);
}

/* SRAM is cleared by a reset. */
static void test_reset_clears_sram(void)
{
	T *t = boot(NULL);
	uint32_t data[64], back[64];

	for (int i = 0; i < 64; i++)
		data[i] = 0xa5a50000 + i;
	upload(t, 0, data, sizeof(data));
	download(t, 0, back, sizeof(back));
	g_assert_cmpmem(back, sizeof(back), data, sizeof(data));
	wr(t, WSE_REG_CONTROL, WSE_CONTROL_RESET);
	contexts_setup(t);
	queue_setup(t, 0, QSIZE);
	download(t, 0, back, sizeof(back));
	for (int i = 0; i < 64; i++)
		g_assert_cmphex(back[i], ==, 0);
	shutdown_t(t);
}

/* SCRUB zeroes exactly the range it names; a bad range zeroes nothing and is logged. */
static void test_sram_scrub(void)
{
	T *t = boot(NULL);
	uint32_t data[3 * 1024], back[3 * 1024];
	uint32_t errors;

	for (int i = 0; i < 3 * 1024; i++)
		data[i] = 0x5c0b0000 + i;
	upload(t, 0, data, sizeof(data));
	/* Zero the middle page of the three (SRAM_DVA maps SRAM_TARGET). */
	wr(t, WSE_REG_SCRUB_OFFSET_LO, (uint32_t)(SRAM_TARGET + 4096));
	wr(t, WSE_REG_SCRUB_OFFSET_HI, (SRAM_TARGET + 4096) >> 32);
	wr(t, WSE_REG_SCRUB_LEN_LO, 4096);
	wr(t, WSE_REG_SCRUB_LEN_HI, 0);
	wr(t, WSE_REG_SCRUB, WSE_SCRUB_GO);
	download(t, 0, back, sizeof(back));
	for (int i = 0; i < 3 * 1024; i++)
		g_assert_cmphex(back[i], ==, i >= 1024 && i < 2048 ? 0 : data[i]);

	errors = rd(t, WSE_REG_ERR_COUNT);
	wr(t, WSE_REG_SCRUB_OFFSET_LO, (uint32_t)SRAM_TARGET + 100);	/* misaligned */
	wr(t, WSE_REG_SCRUB, WSE_SCRUB_GO);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_COUNT), ==, errors + 1);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_STATUS), ==, WSE_HW_STATUS_ERR_FAULT);
	wr(t, WSE_REG_SCRUB_OFFSET_LO, 0);
	wr(t, WSE_REG_SCRUB_OFFSET_HI, 0x1000);		/* far beyond SRAM */
	wr(t, WSE_REG_SCRUB, WSE_SCRUB_GO);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_COUNT), ==, errors + 2);
	download(t, 0, back, sizeof(back));
	g_assert_cmphex(back[0], ==, data[0]);
	shutdown_t(t);
}

/* ---- tests: queues, phase, MSI-X -------------------------------------------------- */

static void test_nop(void)
{
	T *t = boot(NULL);
	uint64_t seq;
	struct wse_hw_cqe cqe;

	g_assert_false(qpci_msix_pending(t->dev, 0));
	seq = submit_cmd(t, 0, WSE_CMD_NOP, 7, 0, 0);
	cqe = wait_cqe(t, 0);
	g_assert_cmphex(cqe.seq, ==, seq);
	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_OK);
	g_assert_cmpuint(cqe.flags, ==, WSE_CQE_PHASE);
	g_assert_cmpuint(cqe.sq_head, ==, 1);
	g_assert_cmpuint(cqe.context, ==, 7);
	g_assert_cmpuint(cqe.op_index, ==, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SQ_HEAD), ==, 1);
	/* Vectors start masked: the completion shows up in the PBA of vector 0 only. */
	g_assert_true(qpci_msix_masked(t->dev, 0));
	g_assert_true(qpci_msix_pending(t->dev, 0));
	g_assert_false(qpci_msix_pending(t->dev, 1));
	g_assert_false(qpci_msix_pending(t->dev, WSE_MSIX_EVENT_VECTOR(4)));
	g_assert_cmphex(qrd(t, 0, WSE_QREG_STATUS), ==, WSE_QSTATUS_ENABLED);
	expect_no_event(t);
	shutdown_t(t);
}

/* The device's trace events (qemu-dev/trace-events) reach QEMU's log. */
static void test_trace_events(void)
{
	g_autofree char *log_path = NULL;
	g_autofree char *log = NULL;
	g_autofree char *extra = NULL;
	int fd = g_file_open_tmp("wse-trace-XXXXXX", &log_path, NULL);
	T *t;

	g_assert_cmpint(fd, >=, 0);
	close(fd);
	extra = g_strdup_printf("-trace enable=wse_* -D %s", log_path);
	t = boot_with(extra, "-device wse,addr=04.0");
	submit_cmd(t, 0, WSE_CMD_NOP, 7, 0, 0);
	wait_cqe(t, 0);
	qwr(t, 0, WSE_QREG_RESET, 1);
	shutdown_t(t);
	g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
	unlink(log_path);
	g_assert_nonnull(strstr(log, "wse_queue_enable queue 0 size"));
	g_assert_nonnull(strstr(log, "wse_doorbell_sq queue 0 sq_tail 1"));
	g_assert_nonnull(strstr(log, "wse_cmd_fetch queue 0 seq 4097 opcode 0 context 7"));
	g_assert_nonnull(strstr(log, "wse_cmd_complete queue 0 seq 4097 status 0"));
	g_assert_nonnull(strstr(log, "wse_reset_queue queue 0 running 0"));
}

static void test_phase_wrap(void)
{
	T *t = boot(NULL);

	queue_setup(t, 1, 4);
	for (int i = 0; i < 10; i++) {
		bool phase = t->q[1].phase;
		uint64_t seq = submit_cmd(t, 1, WSE_CMD_NOP, 0, 0, 0);
		struct wse_hw_cqe cqe = wait_cqe(t, 1);

		g_assert_cmphex(cqe.seq, ==, seq);
		g_assert_cmpuint(cqe.flags & WSE_CQE_PHASE, ==, phase ? WSE_CQE_PHASE : 0);
		g_assert_cmpuint(cqe.sq_head, ==, (i + 1) % 4);
	}
	/* 10 completions on a 4-entry ring: passes 0, 1 and half of 2. */
	g_assert_true(t->q[1].phase);
	g_assert_true(qpci_msix_pending(t->dev, 1));
	g_assert_false(qpci_msix_pending(t->dev, 2));
	shutdown_t(t);
}

/* An unmasked vector really sends its message: MSI-X writes data to the address. */
static void test_msix_delivery(void)
{
	T *t = boot(NULL);
	uint64_t mailbox = alloc_zeroed(t, WSE_PAGE_SIZE);
	uint64_t entry = t->dev->msix_table_off + 0 * PCI_MSIX_ENTRY_SIZE;

	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_LOWER_ADDR,
		       (uint32_t)mailbox);
	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_UPPER_ADDR,
		       mailbox >> 32);
	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_DATA, 0xc0de);
	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	g_assert_false(qpci_msix_masked(t->dev, 0));
	drain(t, 0);
	g_assert_cmphex(qtest_readl(t->qts, mailbox), ==, 0xc0de);
	g_assert_false(qpci_msix_pending(t->dev, 0));
	qtest_writel(t->qts, mailbox, 0);
	drain(t, 0);
	g_assert_cmphex(qtest_readl(t->qts, mailbox), ==, 0xc0de);
	shutdown_t(t);
}

static void test_multi_queue(void)
{
	T *t = boot(NULL);
	uint64_t seqs[4];

	for (int qi = 1; qi < 4; qi++)
		queue_setup(t, qi, 8);
	for (int qi = 0; qi < 4; qi++)
		seqs[qi] = submit_cmd(t, qi, WSE_CMD_NOP, qi, 0, 0);
	for (int qi = 3; qi >= 0; qi--) {
		struct wse_hw_cqe cqe = wait_cqe(t, qi);

		g_assert_cmphex(cqe.seq, ==, seqs[qi]);
		g_assert_cmpuint(cqe.context, ==, qi);
		g_assert_true(qpci_msix_pending(t->dev, qi));
	}
	shutdown_t(t);
}

static void test_queue_config_checks(void)
{
	T *t = boot(NULL);

	/* Sizes must be powers of two in 2..4096, rings aligned. */
	qwr(t, 1, WSE_QREG_SIZE, 6);
	qwr(t, 1, WSE_QREG_ENABLE, 1);
	g_assert_cmpuint(qrd(t, 1, WSE_QREG_ENABLE), ==, 0);
	qwr(t, 1, WSE_QREG_SIZE, 8192);
	qwr(t, 1, WSE_QREG_ENABLE, 1);
	g_assert_cmpuint(qrd(t, 1, WSE_QREG_ENABLE), ==, 0);
	qwr(t, 1, WSE_QREG_SIZE, 8);
	qwr(t, 1, WSE_QREG_SQ_BASE_LO, 0x10020);
	qwr(t, 1, WSE_QREG_ENABLE, 1);
	g_assert_cmpuint(qrd(t, 1, WSE_QREG_ENABLE), ==, 0);
	/* Config writes to an enabled queue and out-of-range doorbells are ignored. */
	qwr(t, 0, WSE_QREG_SIZE, 4);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SIZE), ==, QSIZE);
	qwr(t, 0, WSE_QREG_SQ_TAIL, QSIZE);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SQ_TAIL), ==, 0);
	qwr(t, 0, WSE_QREG_CQ_HEAD, 1000);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_CQ_HEAD), ==, 0);
	/* Registers of absent queues read 0 and ignore writes. */
	qwr(t, 7, WSE_QREG_SIZE, 4);
	g_assert_cmpuint(qrd(t, 7, WSE_QREG_SIZE), ==, 0);
	/* Disabled queue: doorbell recorded, nothing runs until enabled. */
	qwr(t, 0, WSE_QREG_ENABLE, 0);
	submit_cmd(t, 0, WSE_CMD_NOP, 0, 0, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SQ_HEAD), ==, 0);
	g_assert_cmphex(qrd(t, 0, WSE_QREG_STATUS), ==, WSE_QSTATUS_BUSY);
	qwr(t, 0, WSE_QREG_ENABLE, 1);
	wait_cqe(t, 0);
	drain(t, 0);
	shutdown_t(t);
}

/* With the CQ full the queue stalls (no completion is dropped) and resumes. */
static void test_cq_full_stalls(void)
{
	T *t = boot(NULL);
	struct wse_hw_cqe cqe;
	uint64_t seqs[6];
	gint64 deadline;

	queue_setup(t, 1, 4);
	for (int i = 0; i < 3; i++)
		seqs[i] = submit_cmd(t, 1, WSE_CMD_NOP, 0, 0, 0);
	/* Wait for all three without consuming them: the CQ is then full. */
	deadline = g_get_monotonic_time() + POLL_DEADLINE_US;
	while (qrd(t, 1, WSE_QREG_SQ_HEAD) != 3 || qrd(t, 1, WSE_QREG_STATUS) & WSE_QSTATUS_BUSY) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(200);
	}
	for (int i = 3; i < 5; i++)
		seqs[i] = submit_cmd(t, 1, WSE_CMD_NOP, 0, 0, 0);
	/* The stall is reported once, as an event; nothing was fetched. */
	deadline = g_get_monotonic_time() + POLL_DEADLINE_US;
	while (rd(t, WSE_REG_EVQ_TAIL) == t->ev_head) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(200);
	}
	struct wse_hw_event ev;
	g_assert_true(next_event(t, &ev));
	g_assert_cmpuint(ev.type, ==, WSE_HW_EVENT_CQ_OVERFLOW);
	g_assert_cmpuint(ev.queue, ==, 1);
	g_assert_cmpuint(qrd(t, 1, WSE_QREG_SQ_HEAD), ==, 3);
	g_assert_cmphex(qrd(t, 1, WSE_QREG_STATUS) & WSE_QSTATUS_BUSY, ==, WSE_QSTATUS_BUSY);
	/* Consuming the completions lets the rest through, in order. */
	for (int i = 0; i < 5; i++) {
		cqe = wait_cqe(t, 1);
		g_assert_cmphex(cqe.seq, ==, seqs[i]);
	}
	/* Each time the queue stalls again it says so; nothing else happened. */
	while (next_event(t, &ev)) {
		g_assert_cmpuint(ev.type, ==, WSE_HW_EVENT_CQ_OVERFLOW);
		g_assert_cmpuint(ev.queue, ==, 1);
	}
	shutdown_t(t);
}

/* ---- tests: data movement -------------------------------------------------------- */

static void test_copy_roundtrip(void)
{
	T *t = boot(NULL);
	const size_t n = 3 * WSE_PAGE_SIZE + 100;
	g_autofree uint8_t *data = g_malloc(n), *back = g_malloc0(n);
	Stream st = { 0 };
	struct wse_hw_cqe cqe;

	for (size_t i = 0; i < n; i++)
		data[i] = i * 31 + 7;
	/* Unaligned in the host pages (which are scattered) and in SRAM. */
	host_write(t, 0x123, data, n);
	st_copy(&st, HOST_DVA + 0x123, SRAM_DVA + 0x10007, n);
	st_copy(&st, SRAM_DVA + 0x10007, SRAM_DVA + 0x20001, n);
	st_copy(&st, SRAM_DVA + 0x20001, HOST_DVA + 0x8011, n);
	st_copy(&st, HOST_DVA + 0x8011, HOST_DVA + 0x10ff3, n);
	cqe = run(t, &st);
	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_OK);
	g_assert_cmpuint(cqe.op_index, ==, 4);
	g_assert_cmpuint(cqe.cycles, >, 0);
	host_read(t, 0x8011, back, n);
	g_assert_cmpmem(back, n, data, n);
	memset(back, 0, n);
	host_read(t, 0x10ff3, back, n);
	g_assert_cmpmem(back, n, data, n);
	shutdown_t(t);
}

/* The op stream itself may live in SRAM. */
static void test_stream_in_sram(void)
{
	T *t = boot(NULL);
	Stream inner = { 0 };
	uint32_t data[16], back[16];
	uint64_t seq;
	struct wse_hw_cqe cqe;

	for (int i = 0; i < 16; i++)
		data[i] = 0x1000 + i;
	upload(t, 0x1000, data, sizeof(data));
	st_copy(&inner, SRAM_DVA + 0x1000, SRAM_DVA + 0x3000, sizeof(data));
	upload(t, 0x8000, inner.buf, inner.len);
	seq = submit_cmd(t, 0, WSE_CMD_EXEC, CTX_GOOD, SRAM_DVA + 0x8000, inner.len);
	cqe = wait_cqe(t, 0);
	g_assert_cmphex(cqe.seq, ==, seq);
	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_OK);
	g_assert_cmpuint(cqe.op_index, ==, 1);
	download(t, 0x3000, back, sizeof(back));
	g_assert_cmpmem(back, sizeof(back), data, sizeof(data));
	shutdown_t(t);
}

static void test_sram_window(void)
{
	T *t = boot("sram-window=on");
	QPCIBar win = qpci_iomap(t->dev, WSE_BAR_SRAM, NULL);
	uint32_t back[4], data[4] = { 0x11111111, 0x22222222, 0x33333333, 0x44444444 };

	/* Through the window at SRAM_TARGET + 0x5000 ... */
	wr(t, WSE_REG_SRAM_WINDOW_LO, (uint32_t)(SRAM_TARGET + 0x5000));
	wr(t, WSE_REG_SRAM_WINDOW_HI, 0);
	for (int i = 0; i < 4; i++)
		qpci_io_writel(t->dev, win, 0x10 + 4 * i, data[i]);
	/* ... is SRAM_DVA + 0x5000 for the context. */
	download(t, 0x5010, back, sizeof(back));
	g_assert_cmpmem(back, sizeof(back), data, sizeof(data));
	upload(t, 0x6000, data, sizeof(data));
	g_assert_cmphex(qpci_io_readl(t->dev, win, 0x100c), ==, data[3]);
	g_assert_cmphex(qpci_io_readb(t->dev, win, 0x1000), ==, 0x11);
	/* Beyond the end of SRAM reads as zero, writes vanish. */
	wr(t, WSE_REG_SRAM_WINDOW_HI, 0x100);
	qpci_io_writel(t->dev, win, 0, 0xdead);
	g_assert_cmphex(qpci_io_readl(t->dev, win, 0), ==, 0);
	shutdown_t(t);
}

/* ---- tests: ops against the references ---------------------------------------------- */

enum { OFF_A = 0x0, OFF_B = 0x40000, OFF_C = 0x80000, OFF_D = 0xc0000, OFF_E = 0x100000,
       OFF_F = 0x140000, OFF_G = 0x180000 };

static void matmul_case(uint32_t wtype, bool accumulate)
{
	T *t = boot(NULL);
	const int rows = 24, cols = 40, batch = 3;
	g_autofree float *w = fill(rows * cols, 1), *x = fill(cols * batch, 2);
	g_autofree float *y = fill(rows * batch, 3), *want = g_new(float, rows * batch);
	g_autofree float *got = g_new(float, rows * batch);
	g_autofree uint16_t *w16 = g_new(uint16_t, rows * cols);
	Stream st = { 0 };
	struct wse_hw_op_matmul *op;

	if (wtype == WSE_HW_DTYPE_F32) {
		upload(t, OFF_A, w, rows * cols * 4);
	} else {
		for (int i = 0; i < rows * cols; i++)
			w16[i] = wtype == WSE_HW_DTYPE_F16 ? f32_to_f16(w[i]) : f32_to_bf16(w[i]);
		upload(t, OFF_A, w16, rows * cols * 2);
	}
	upload(t, OFF_B, x, cols * batch * 4);
	upload(t, OFF_C, y, rows * batch * 4);
	op = st_add(&st, WSE_OP_MATMUL, sizeof(*op));
	op->hdr.flags = accumulate ? WSE_MATMUL_ACCUMULATE : 0;
	op->w = SRAM_DVA + OFF_A;
	op->x = SRAM_DVA + OFF_B;
	op->y = SRAM_DVA + OFF_C;
	op->rows = rows;
	op->cols = cols;
	op->batch = batch;
	op->wtype = wtype;
	run_ok(t, &st);
	download(t, OFF_C, got, rows * batch * 4);
	ref_matmul(w, x, want, rows, cols, batch);
	if (accumulate)
		for (int i = 0; i < rows * batch; i++)
			want[i] += y[i];
	assert_close(got, want, rows * batch, TOL_MATMUL);
	shutdown_t(t);
}

static void test_matmul_f32(void)
{
	matmul_case(WSE_HW_DTYPE_F32, false);
}

static void test_matmul_f16(void)
{
	matmul_case(WSE_HW_DTYPE_F16, false);
}

static void test_matmul_bf16_accumulate(void)
{
	matmul_case(WSE_HW_DTYPE_BF16, true);
}

/*
 * Rows of mean square 0.375 (val()), 3.75e-7 (eps decides the result) and
 * 1e-5 (eps is half of it), and an all-zero row, whose result is 0 only
 * because eps keeps the divisor from 0: a dropped, negated or misplaced eps
 * moves the small rows by factors of 1.4 to 5, or makes NaN.
 */
static void test_rmsnorm(void)
{
	T *t = boot(NULL);
	const int dim = 48, rows = 6;
	const float eps = 1e-5f, scales[] = { 1, 1, 1, 1e-3f, 5.164e-3f, 0 };
	g_autofree float *x = fill(dim * rows, 4), *w = fill(dim, 5);
	g_autofree float *want = g_new(float, dim * rows), *got = g_new(float, dim * rows);
	Stream st = { 0 };
	struct wse_hw_op_rmsnorm *op = st_add(&st, WSE_OP_RMSNORM, sizeof(*op));

	for (int i = 0; i < dim * rows; i++)
		x[i] *= scales[i / dim];
	upload(t, OFF_A, x, dim * rows * 4);
	upload(t, OFF_B, w, dim * 4);
	op->x = SRAM_DVA + OFF_A;
	op->w = SRAM_DVA + OFF_B;
	op->y = SRAM_DVA + OFF_C;
	op->dim = dim;
	op->rows = rows;
	op->eps = eps;
	run_ok(t, &st);
	download(t, OFF_C, got, dim * rows * 4);
	ref_rmsnorm(x, w, want, dim, rows, eps);
	assert_close(got, want, dim * rows, TOL_RMSNORM);
	for (int i = (rows - 1) * dim; i < rows * dim; i++)
		g_assert_cmpfloat(got[i], ==, 0.0f);
	shutdown_t(t);
}

static void test_add_and_silu_mul(void)
{
	T *t = boot(NULL);
	const int n = 333;
	g_autofree float *a = fill(n, 6), *b = fill(n, 7);
	g_autofree float *got = g_new(float, n), *want = g_new(float, n);
	Stream st = { 0 };
	struct wse_hw_op_add *add;
	struct wse_hw_op_silu_mul *sm;

	upload(t, OFF_A, a, n * 4);
	upload(t, OFF_B, b, n * 4);
	add = st_add(&st, WSE_OP_ADD, sizeof(*add));
	add->a = SRAM_DVA + OFF_A;
	add->b = SRAM_DVA + OFF_B;
	add->out = SRAM_DVA + OFF_C;
	add->n = n;
	sm = st_add(&st, WSE_OP_SILU_MUL, sizeof(*sm));
	sm->gate = SRAM_DVA + OFF_A;
	sm->up = SRAM_DVA + OFF_B;
	sm->out = SRAM_DVA + OFF_D;
	sm->n = n;
	run_ok(t, &st);
	download(t, OFF_C, got, n * 4);
	for (int i = 0; i < n; i++)
		want[i] = a[i] + b[i];
	assert_close(got, want, n, TOL_ADD);
	download(t, OFF_D, got, n * 4);
	for (int i = 0; i < n; i++)
		want[i] = a[i] / (1.0 + exp(-(double)a[i])) * b[i];
	assert_close(got, want, n, TOL_SILU);
	shutdown_t(t);
}

static void test_softmax_argmax_topk(void)
{
	T *t = boot(NULL);
	const int n = 50, rows = 2, k = 5;
	g_autofree float *x = fill(n * rows, 8), *got = g_new(float, n * rows);
	g_autofree float *want = g_new(float, n * rows);
	uint32_t idx[2], topi[2 * 5];
	float topv[2 * 5];
	Stream st = { 0 };
	struct wse_hw_op_softmax *sm;
	struct wse_hw_op_argmax *am;
	struct wse_hw_op_topk *tk;

	/* Distinct maxima, and a tie in row 1 that the lower index wins. */
	x[17] = 3.0f;
	x[n + 9] = 2.5f;
	x[n + 30] = 2.5f;
	upload(t, OFF_A, x, n * rows * 4);
	sm = st_add(&st, WSE_OP_SOFTMAX, sizeof(*sm));
	sm->x = SRAM_DVA + OFF_A;
	sm->y = SRAM_DVA + OFF_B;
	sm->n = n;
	sm->rows = rows;
	am = st_add(&st, WSE_OP_ARGMAX, sizeof(*am));
	am->x = SRAM_DVA + OFF_A;
	am->out = SRAM_DVA + OFF_C;
	am->n = n;
	am->rows = rows;
	tk = st_add(&st, WSE_OP_TOPK, sizeof(*tk));
	tk->x = SRAM_DVA + OFF_A;
	tk->out_index = SRAM_DVA + OFF_D;
	tk->out_value = SRAM_DVA + OFF_E;
	tk->n = n;
	tk->k = k;
	tk->rows = rows;
	run_ok(t, &st);
	download(t, OFF_B, got, n * rows * 4);
	for (int r = 0; r < rows; r++) {
		double mx = -INFINITY, sum = 0;

		for (int i = 0; i < n; i++)
			mx = MAX(mx, x[r * n + i]);
		for (int i = 0; i < n; i++)
			sum += exp(x[r * n + i] - mx);
		for (int i = 0; i < n; i++)
			want[r * n + i] = exp(x[r * n + i] - mx) / sum;
	}
	assert_close(got, want, n * rows, TOL_SOFTMAX);
	download(t, OFF_C, idx, sizeof(idx));
	g_assert_cmpuint(idx[0], ==, 17);
	g_assert_cmpuint(idx[1], ==, 9);
	download(t, OFF_D, topi, sizeof(topi));
	download(t, OFF_E, topv, sizeof(topv));
	for (int r = 0; r < rows; r++) {
		g_assert_cmpuint(topi[r * k], ==, idx[r]);
		for (int j = 0; j < k; j++) {
			g_assert_cmpfloat(topv[r * k + j], ==, x[r * n + topi[r * k + j]]);
			if (j)
				g_assert_cmpfloat(topv[r * k + j - 1], >=, topv[r * k + j]);
		}
	}
	g_assert_cmpuint(topi[k + 1], ==, 30);
	shutdown_t(t);
}

static void test_embed(void)
{
	T *t = boot(NULL);
	const int vocab = 20, dim = 12, n_tokens = 4;
	g_autofree float *table = fill(vocab * dim, 9), *got = g_new(float, dim * n_tokens);
	uint32_t tokens[4] = { 3, 0, 19, 3 };
	Stream st = { 0 };
	struct wse_hw_op_embed *op = st_add(&st, WSE_OP_EMBED, sizeof(*op));

	upload(t, OFF_A, table, vocab * dim * 4);
	upload(t, OFF_B, tokens, sizeof(tokens));
	op->table = SRAM_DVA + OFF_A;
	op->tokens = SRAM_DVA + OFF_B;
	op->out = SRAM_DVA + OFF_C;
	op->dim = dim;
	op->vocab = vocab;
	op->n_tokens = n_tokens;
	op->wtype = WSE_HW_DTYPE_F32;
	run_ok(t, &st);
	download(t, OFF_C, got, dim * n_tokens * 4);
	for (int i = 0; i < n_tokens; i++)
		assert_close(got + i * dim, table + tokens[i] * dim, dim, 0);
	shutdown_t(t);
}

static void test_rope(void)
{
	T *t = boot(NULL);
	const int n_heads = 3, hd = 8, rows = 2, pos = 5;
	const int n = n_heads * hd * rows;
	g_autofree float *x = fill(n, 10), *got = g_new(float, n);
	Stream st = { 0 };
	struct wse_hw_op_rope *op = st_add(&st, WSE_OP_ROPE, sizeof(*op));

	upload(t, OFF_A, x, n * 4);
	op->x = SRAM_DVA + OFF_A;
	op->n_heads = n_heads;
	op->head_dim = hd;
	op->rows = rows;
	op->pos = pos;
	op->theta = 10000.0f;
	run_ok(t, &st);
	download(t, OFF_A, got, n * 4);
	ref_rope(x, n_heads, hd, rows, pos, 10000.0f);
	assert_close(got, x, n, TOL_ROPE);
	shutdown_t(t);
}

static void test_attention(void)
{
	T *t = boot(NULL);
	const int n_heads = 4, n_kv = 2, hd = 8, n_tokens = 2, pos = 3, cap = 8;
	const int qn = n_tokens * n_heads * hd, kvn = cap * n_kv * hd;
	g_autofree float *q = fill(qn, 11), *kc = fill(kvn, 12), *vc = fill(kvn, 13);
	g_autofree float *got = g_new(float, qn), *want = g_new(float, qn);
	Stream st = { 0 };
	struct wse_hw_op_attention *op = st_add(&st, WSE_OP_ATTENTION, sizeof(*op));

	upload(t, OFF_A, q, qn * 4);
	upload(t, OFF_B, kc, kvn * 4);
	upload(t, OFF_C, vc, kvn * 4);
	op->q = SRAM_DVA + OFF_A;
	op->k_cache = SRAM_DVA + OFF_B;
	op->v_cache = SRAM_DVA + OFF_C;
	op->out = SRAM_DVA + OFF_D;
	op->n_heads = n_heads;
	op->n_kv_heads = n_kv;
	op->head_dim = hd;
	op->n_tokens = n_tokens;
	op->pos = pos;
	op->kv_capacity = cap;
	run_ok(t, &st);
	download(t, OFF_D, got, qn * 4);
	ref_attention(q, kc, vc, want, n_heads, n_kv, hd, n_tokens, pos);
	assert_close(got, want, qn, TOL_ATTENTION);
	/* The last tokens fit the cache exactly; one more is a shape error. */
	op->pos = cap - n_tokens;
	run_ok(t, &st);
	op->pos = cap - n_tokens + 1;
	g_assert_cmpuint(run(t, &st).status, ==, WSE_HW_STATUS_ERR_SHAPE);
	shutdown_t(t);
}

/* The fused layer against the same layer composed from the reference ops. */
static void test_layer(void)
{
	T *t = boot(NULL);
	const int dim = 16, hidden = 24, n_heads = 4, n_kv = 2, hd = 4, n_tokens = 2, pos = 1;
	const int cap = 8, qd = n_heads * hd, kvd = n_kv * hd;
	const float eps = 1e-5f, theta = 10000.0f;
	g_autofree float *x = fill(n_tokens * dim, 14), *an = fill(dim, 15), *fn = fill(dim, 16);
	g_autofree float *wq = fill(qd * dim, 17), *wk = fill(kvd * dim, 18);
	g_autofree float *wv = fill(kvd * dim, 19), *wo = fill(dim * qd, 20);
	g_autofree float *wg = fill(hidden * dim, 21), *wd = fill(dim * hidden, 22);
	g_autofree float *wu = fill(hidden * dim, 23);
	g_autofree float *kc = fill(cap * kvd, 24), *vc = fill(cap * kvd, 25);
	g_autofree float *xb = g_new(float, n_tokens * dim), *qv = g_new(float, n_tokens * qd);
	g_autofree float *kv = g_new(float, n_tokens * kvd), *vv = g_new(float, n_tokens * kvd);
	g_autofree float *att = g_new(float, n_tokens * qd), *o = g_new(float, n_tokens * dim);
	g_autofree float *g = g_new(float, n_tokens * hidden), *u = g_new(float, n_tokens * hidden);
	g_autofree float *got = g_new(float, n_tokens * dim), *gotk = g_new(float, cap * kvd);
	uint64_t scratch = wse_hw_layer_scratch_bytes(dim, hidden, n_heads, hd, n_tokens);
	Stream st = { 0 };
	struct wse_hw_op_layer *op = st_add(&st, WSE_OP_LAYER, sizeof(*op));
	struct { __le64 *field; float *data; int n; } up[] = {
		{ &op->x, x, n_tokens * dim }, { &op->attn_norm, an, dim },
		{ &op->wq, wq, qd * dim }, { &op->wk, wk, kvd * dim }, { &op->wv, wv, kvd * dim },
		{ &op->wo, wo, dim * qd }, { &op->ffn_norm, fn, dim },
		{ &op->w_gate, wg, hidden * dim }, { &op->w_down, wd, dim * hidden },
		{ &op->w_up, wu, hidden * dim }, { &op->k_cache, kc, cap * kvd },
		{ &op->v_cache, vc, cap * kvd },
	};
	uint64_t off = 0;

	for (size_t i = 0; i < G_N_ELEMENTS(up); i++) {
		upload(t, off, up[i].data, up[i].n * 4);
		*up[i].field = SRAM_DVA + off;
		off += ROUND_UP(up[i].n * 4, 256);
	}
	op->scratch = SRAM_DVA + off;
	g_assert_cmpuint(off + scratch, <=, SRAM_SIZE);
	op->dim = dim;
	op->hidden_dim = hidden;
	op->n_heads = n_heads;
	op->n_kv_heads = n_kv;
	op->head_dim = hd;
	op->n_tokens = n_tokens;
	op->pos = pos;
	op->kv_capacity = cap;
	op->wtype = WSE_HW_DTYPE_F32;
	op->eps = eps;
	op->rope_theta = theta;
	uint64_t x_off = op->x - SRAM_DVA, k_off = op->k_cache - SRAM_DVA;
	run_ok(t, &st);
	download(t, x_off, got, n_tokens * dim * 4);
	download(t, k_off, gotk, cap * kvd * 4);

	ref_rmsnorm(x, an, xb, dim, n_tokens, eps);
	ref_matmul(wq, xb, qv, qd, dim, n_tokens);
	ref_matmul(wk, xb, kv, kvd, dim, n_tokens);
	ref_matmul(wv, xb, vv, kvd, dim, n_tokens);
	ref_rope(qv, n_heads, hd, n_tokens, pos, theta);
	ref_rope(kv, n_kv, hd, n_tokens, pos, theta);
	memcpy(kc + pos * kvd, kv, n_tokens * kvd * 4);
	memcpy(vc + pos * kvd, vv, n_tokens * kvd * 4);
	ref_attention(qv, kc, vc, att, n_heads, n_kv, hd, n_tokens, pos);
	ref_matmul(wo, att, o, dim, qd, n_tokens);
	for (int i = 0; i < n_tokens * dim; i++)
		x[i] += o[i];
	ref_rmsnorm(x, fn, xb, dim, n_tokens, eps);
	ref_matmul(wg, xb, g, hidden, dim, n_tokens);
	ref_matmul(wu, xb, u, hidden, dim, n_tokens);
	for (int i = 0; i < n_tokens * hidden; i++)
		g[i] = silu(g[i]) * u[i];
	ref_matmul(wd, g, o, dim, hidden, n_tokens);
	for (int i = 0; i < n_tokens * dim; i++)
		x[i] += o[i];
	assert_close(gotk, kc, cap * kvd, TOL_LAYER_CACHE);
	assert_close(got, x, n_tokens * dim, TOL_LAYER_X);
	shutdown_t(t);
}

/* ---- tests: faults -------------------------------------------------------------- */

static void expect_error(T *t, const Stream *st, uint32_t ctx, uint32_t status,
			 uint32_t op_index, uint32_t event, uint64_t addr)
{
	uint32_t errs = rd(t, WSE_REG_ERR_COUNT);
	struct wse_hw_cqe cqe = run_on(t, 0, st, ctx);
	struct wse_hw_event ev;

	g_assert_cmpuint(cqe.status, ==, status);
	g_assert_cmpuint(cqe.op_index, ==, op_index);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_COUNT), ==, errs + 1);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_STATUS), ==, status);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_CONTEXT), ==, ctx);
	if (!event) {
		expect_no_event(t);
		return;
	}
	g_assert_true(next_event(t, &ev));
	g_assert_cmpuint(ev.type, ==, event);
	g_assert_cmpuint(ev.status, ==, status);
	g_assert_cmpuint(ev.context, ==, ctx);
	g_assert_cmpuint(ev.queue, ==, 0);
	g_assert_cmphex(ev.seq, ==, cqe.seq);
	if (addr != ~0ull) {
		g_assert_cmphex(ev.addr, ==, addr);
		g_assert_cmphex(rd(t, WSE_REG_ERR_ADDR_LO) |
				(uint64_t)rd(t, WSE_REG_ERR_ADDR_HI) << 32, ==, addr);
	}
	g_assert_true(qpci_msix_pending(t->dev, WSE_MSIX_EVENT_VECTOR(t->nq)));
	expect_no_event(t);
}

static struct wse_hw_op_add *st_add_op(Stream *st, uint64_t a, uint64_t b, uint64_t out,
				       uint32_t n)
{
	struct wse_hw_op_add *op = st_add(st, WSE_OP_ADD, sizeof(*op));

	op->a = a;
	op->b = b;
	op->out = out;
	op->n = n;
	return op;
}

static void test_fault_unmapped(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };

	st_add_op(&st, SRAM_DVA, SRAM_DVA, SRAM_DVA + 0x100, 4);
	st_add_op(&st, SRAM_DVA, UNMAPPED_DVA + 0x40, SRAM_DVA, 4);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_FAULT, 1, WSE_HW_EVENT_FAULT,
		     UNMAPPED_DVA + 0x40);
	/* Below the first mapping, too. */
	st = (Stream){ 0 };
	st_add_op(&st, 0x1000, SRAM_DVA, SRAM_DVA, 4);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_FAULT, 0, WSE_HW_EVENT_FAULT, 0x1000);
	/* The queue keeps working after a fault. */
	drain(t, 0);
	shutdown_t(t);
}

static void test_fault_crossing_end(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };

	/* 16 bytes starting 8 bytes before the end of the mapping. */
	st_add_op(&st, SRAM_DVA + SRAM_SIZE - 8, SRAM_DVA, SRAM_DVA + 0x100, 4);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_FAULT, 0, WSE_HW_EVENT_FAULT,
		     SRAM_DVA + SRAM_SIZE - 8);
	st = (Stream){ 0 };
	st_copy(&st, HOST_DVA + HOST_SIZE - 4, SRAM_DVA, 8);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_FAULT, 0, WSE_HW_EVENT_FAULT,
		     HOST_DVA + HOST_SIZE - 4);
	/* A huge length must fault, not wrap around. */
	st = (Stream){ 0 };
	st_copy(&st, SRAM_DVA + 0x1000, SRAM_DVA, ~0ull - 0x800);
	g_assert_cmpuint(run(t, &st).status, ==, WSE_HW_STATUS_ERR_FAULT);
	drain(t, 0);
	shutdown_t(t);
}

static void test_fault_read_only(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };

	/* Reading a read-only mapping is fine, writing it faults. */
	st_add_op(&st, RO_DVA, RO_DVA + 0x100, SRAM_DVA, 16);
	st_add_op(&st, SRAM_DVA, SRAM_DVA, RO_DVA + 0x200, 16);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_FAULT, 1, WSE_HW_EVENT_FAULT,
		     RO_DVA + 0x200);
	st = (Stream){ 0 };
	st_copy(&st, HOST_DVA, RO_DVA, 64);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_FAULT, 0, WSE_HW_EVENT_FAULT, RO_DVA);
	shutdown_t(t);
}

static void test_fault_host_compute(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };

	st_add_op(&st, SRAM_DVA, HOST_DVA + 0x100, SRAM_DVA + 0x1000, 8);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_FAULT, 0, WSE_HW_EVENT_FAULT,
		     HOST_DVA + 0x100);
	st = (Stream){ 0 };
	st_add_op(&st, SRAM_DVA, SRAM_DVA, HOST_DVA, 8);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_FAULT, 0, WSE_HW_EVENT_FAULT, HOST_DVA);
	shutdown_t(t);
}

static void test_fault_context(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };
	uint64_t seq;
	struct wse_hw_cqe cqe;

	st_add_op(&st, SRAM_DVA, SRAM_DVA, SRAM_DVA, 4);
	expect_error(t, &st, CTX_INVALID, WSE_HW_STATUS_ERR_CONTEXT, 0, WSE_HW_EVENT_FAULT, ~0ull);
	expect_error(t, &st, CTX_COUNT, WSE_HW_STATUS_ERR_CONTEXT, 0, WSE_HW_EVENT_FAULT, ~0ull);
	expect_error(t, &st, 0xffffffffu, WSE_HW_STATUS_ERR_CONTEXT, 0, WSE_HW_EVENT_FAULT, ~0ull);
	/* Too many maps. */
	put_ctx(t, CTX_BAD_TABLE, t->maps, WSE_CTX_MAX_MAPS + 1, WSE_CTX_VALID);
	expect_error(t, &st, CTX_BAD_TABLE, WSE_HW_STATUS_ERR_CONTEXT, 0, WSE_HW_EVENT_FAULT, ~0ull);
	/* CTX_COUNT 0 disables translation altogether. */
	wr(t, WSE_REG_CTX_COUNT, 0);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_CONTEXT, 0, WSE_HW_EVENT_FAULT, ~0ull);
	wr(t, WSE_REG_CTX_COUNT, WSE_MAX_CONTEXTS + 1);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_COUNT), ==, 0);
	wr(t, WSE_REG_CTX_COUNT, CTX_COUNT);
	/* A NOP needs no context. */
	seq = submit_cmd(t, 0, WSE_CMD_NOP, 999, 0, 0);
	cqe = wait_cqe(t, 0);
	g_assert_cmphex(cqe.seq, ==, seq);
	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_OK);
	run_ok(t, &st);
	shutdown_t(t);
}

/* Map tables the kernel got wrong are refused as a whole. */
static void test_fault_bad_map_table(void)
{
	T *t = boot(NULL);
	const uint32_t rw = WSE_HW_MAP_SRAM | WSE_HW_MAP_READ | WSE_HW_MAP_WRITE;
	struct { uint64_t dva[2], size[2], target[2]; uint32_t flags[2]; const char *what; } bad[] = {
		{ { 0x20000, 0x10000 }, { 0x1000, 0x1000 }, { 0, 0x1000 }, { rw, rw }, "unsorted" },
		{ { 0x10000, 0x11000 }, { 0x2000, 0x1000 }, { 0, 0x4000 }, { rw, rw }, "overlap" },
		{ { 0x10000, 0x10800 }, { 0x1000, 0x1000 }, { 0, 0x4000 }, { rw, rw }, "unaligned" },
		{ { 0x10000, 0x20000 }, { 0x1000, 0 }, { 0, 0x4000 }, { rw, rw }, "empty" },
		{ { 0x10000, 0x20000 }, { 0x1000, 0x1000 }, { 0, 0x4000 },
		  { rw, rw | WSE_HW_MAP_HOST }, "both kinds" },
		{ { 0x10000, 0x20000 }, { 0x1000, 0x1000 }, { 0, 0x4000 },
		  { rw, 1u << 9 | rw }, "unknown flag" },
		{ { 0x10000, 0x20000 }, { 0x1000, 0x1000 }, { 0, ~0ull - 0xfff }, { rw, rw },
		  "beyond SRAM" },
		{ { 0x10000, ~0ull - 0xfff }, { 0x1000, 0x2000 }, { 0, 0 }, { rw, rw }, "wraps" },
	};
	Stream st = { 0 };

	st_add_op(&st, 0x10000, 0x10000, 0x10000, 4);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_test_message("map table: %s", bad[i].what);
		for (int j = 0; j < 2; j++)
			put_map(t, t->bad_maps, j, bad[i].dva[j], bad[i].size[j], bad[i].target[j],
				bad[i].flags[j]);
		put_ctx(t, CTX_BAD_TABLE, t->bad_maps, 2, WSE_CTX_VALID);
		expect_error(t, &st, CTX_BAD_TABLE, WSE_HW_STATUS_ERR_CONTEXT, 0, WSE_HW_EVENT_FAULT,
			     ~0ull);
	}
	/* And a good one in the same slot works. */
	put_map(t, t->bad_maps, 0, 0x10000, 0x1000, 0, rw);
	put_map(t, t->bad_maps, 1, 0x20000, 0x1000, 0x1000, rw);
	put_map(t, t->bad_maps, 2, HOST_DVA, HOST_SIZE, t->page_list,
		WSE_HW_MAP_HOST | WSE_HW_MAP_READ | WSE_HW_MAP_WRITE);
	put_ctx(t, CTX_BAD_TABLE, t->bad_maps, 3, WSE_CTX_VALID);
	g_assert_cmpuint(run_on(t, 0, &st, CTX_BAD_TABLE).status, ==, WSE_HW_STATUS_OK);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_COUNT), ==, G_N_ELEMENTS(bad));
	shutdown_t(t);
}

/* ---- tests: malformed commands ----------------------------------------------------- */

static void test_bad_opcodes(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };
	uint64_t seq;
	struct wse_hw_cqe cqe;

	seq = submit_cmd(t, 0, 0x77, CTX_GOOD, 0, 0);
	cqe = wait_cqe(t, 0);
	g_assert_cmphex(cqe.seq, ==, seq);
	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_ERR_OPCODE);
	expect_no_event(t);
	st_add(&st, WSE_OP_NOP, sizeof(struct wse_hw_op_hdr));
	st_add(&st, WSE_OP_COUNT, sizeof(struct wse_hw_op_hdr) + 8);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_OPCODE, 1, 0, 0);
	st = (Stream){ 0 };
	st_add(&st, 0xffff, sizeof(struct wse_hw_op_hdr));
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_OPCODE, 0, 0, 0);
	shutdown_t(t);
}

static void test_bad_stream_lengths(void)
{
	T *t = boot(NULL);
	const uint32_t lens[] = { 0, 12, WSE_MAX_STREAM + 8, 0xfffffff8u };
	Stream st = { 0 };
	struct wse_hw_op_hdr *hdr;

	for (size_t i = 0; i < G_N_ELEMENTS(lens); i++) {
		uint64_t seq = submit_cmd(t, 0, WSE_CMD_EXEC, CTX_GOOD, HOST_DVA + STREAM_OFF,
					  lens[i]);
		struct wse_hw_cqe cqe = wait_cqe(t, 0);

		g_assert_cmphex(cqe.seq, ==, seq);
		g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_ERR_STREAM);
	}
	/* The stream must lie in the context's address space. */
	submit_cmd(t, 0, WSE_CMD_EXEC, CTX_GOOD, UNMAPPED_DVA, 64);
	g_assert_cmpuint(wait_cqe(t, 0).status, ==, WSE_HW_STATUS_ERR_FAULT);
	expect_event(t, WSE_HW_EVENT_FAULT, WSE_HW_STATUS_ERR_FAULT, t->next_seq);
	submit_cmd(t, 0, WSE_CMD_EXEC, CTX_GOOD, HOST_DVA + HOST_SIZE - 8, 16);
	g_assert_cmpuint(wait_cqe(t, 0).status, ==, WSE_HW_STATUS_ERR_FAULT);
	expect_event(t, WSE_HW_EVENT_FAULT, WSE_HW_STATUS_ERR_FAULT, t->next_seq);
	/* Record lengths: zero, below the header, not a multiple of 8, past the end. */
	const uint16_t rec_lens[] = { 0, 8, 20, 24 };
	for (size_t i = 0; i < G_N_ELEMENTS(rec_lens); i++) {
		st = (Stream){ 0 };
		st_add(&st, WSE_OP_NOP, sizeof(*hdr));
		hdr = st_add(&st, WSE_OP_NOP, sizeof(*hdr));
		hdr->length = rec_lens[i];
		expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_STREAM, 1, 0, 0);
	}
	/* A record of the wrong size for its op. */
	st = (Stream){ 0 };
	st_add(&st, WSE_OP_ADD, sizeof(struct wse_hw_op_add) + 8);
	run(t, &st);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_STATUS), ==, WSE_HW_STATUS_ERR_STREAM);
	shutdown_t(t);
}

static void test_reserved_fields(void)
{
	T *t = boot(NULL);
	struct wse_hw_sqe sqe = { .opcode = WSE_CMD_NOP };
	Stream st = { 0 };
	struct wse_hw_op_add *op;

	for (int i = 0; i < 3; i++) {
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = WSE_CMD_NOP;
		sqe.seq = ++t->next_seq;
		if (i == 0)
			sqe.flags = 1;
		else if (i == 1)
			sqe.reserved0 = 2;
		else
			sqe.reserved[3] = 3;
		submit(t, 0, &sqe);
		g_assert_cmpuint(wait_cqe(t, 0).status, ==, WSE_HW_STATUS_ERR_STREAM);
	}
	/* Unknown op flags and reserved op fields. */
	op = st_add_op(&st, SRAM_DVA, SRAM_DVA, SRAM_DVA, 4);
	op->hdr.flags = 0x80;
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_STREAM, 0, 0, 0);
	st = (Stream){ 0 };
	op = st_add_op(&st, SRAM_DVA, SRAM_DVA, SRAM_DVA, 4);
	op->reserved = 1;
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_STREAM, 0, 0, 0);
	shutdown_t(t);
}

static void test_bad_shapes(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };
	struct wse_hw_op_matmul *mm;
	struct wse_hw_op_add *add;

	st_add_op(&st, SRAM_DVA, SRAM_DVA, SRAM_DVA, 0);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_SHAPE, 0, 0, 0);
	/* Dimensions whose products overflow 64 bits. */
	st = (Stream){ 0 };
	mm = st_add(&st, WSE_OP_MATMUL, sizeof(*mm));
	mm->w = mm->x = mm->y = SRAM_DVA;
	mm->rows = mm->cols = mm->batch = 0xffffffffu;
	mm->wtype = WSE_HW_DTYPE_F32;
	g_assert_cmpuint(run(t, &st).status, ==, WSE_HW_STATUS_ERR_SHAPE);
	expect_no_event(t);
	/* Large but representable: must fault (beyond the mapping), not allocate. */
	st = (Stream){ 0 };
	mm = st_add(&st, WSE_OP_MATMUL, sizeof(*mm));
	mm->w = mm->x = mm->y = SRAM_DVA;
	mm->rows = mm->cols = 1u << 20;
	mm->batch = 1;
	mm->wtype = WSE_HW_DTYPE_F32;
	g_assert_cmpuint(run(t, &st).status, ==, WSE_HW_STATUS_ERR_FAULT);
	drain_events(t);
	/* Unknown weight type. */
	st = (Stream){ 0 };
	mm = st_add(&st, WSE_OP_MATMUL, sizeof(*mm));
	mm->w = mm->x = mm->y = SRAM_DVA;
	mm->rows = mm->cols = mm->batch = 4;
	mm->wtype = WSE_HW_DTYPE_COUNT;
	g_assert_cmpuint(run(t, &st).status, ==, WSE_HW_STATUS_ERR_SHAPE);
	expect_no_event(t);
	/* A PE region outside the grid. */
	st = (Stream){ 0 };
	add = st_add_op(&st, SRAM_DVA, SRAM_DVA, SRAM_DVA, 4);
	add->hdr.region = (struct wse_hw_region){ .x = 60, .y = 0, .w = 10, .h = 1 };
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_REGION, 0, 0, 0);
	drain(t, 0);
	g_assert_cmphex(rd(t, WSE_REG_STATUS), ==, WSE_HW_DEV_READY);
	shutdown_t(t);
}

/* ---- tests: fault injection --------------------------------------------------------- */

static void inject(T *t, uint32_t mode, uint32_t qi)
{
	wr(t, WSE_REG_FAULT_INJECT, mode | qi << WSE_HW_FAULT_QUEUE_SHIFT);
}

static void test_inject_hang(void)
{
	T *t = boot(NULL);
	struct wse_hw_cqe cqe;
	struct wse_hw_event ev;

	queue_setup(t, 1, 8);
	inject(t, WSE_HW_FAULT_HANG_QUEUE, 0);
	g_assert_cmphex(qrd(t, 0, WSE_QREG_STATUS) & WSE_QSTATUS_HUNG, ==, WSE_QSTATUS_HUNG);
	submit_cmd(t, 0, WSE_CMD_NOP, 0, 0, 0);
	submit_cmd(t, 0, WSE_CMD_NOP, 0, 0, 0);
	/* Another queue carries on; its NOP completing proves queue 0 had its chance. */
	drain(t, 1);
	drain(t, 1);
	g_assert_false(cqe_ready(t, 0, &cqe));
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SQ_HEAD), ==, 0);
	g_assert_cmphex(qrd(t, 0, WSE_QREG_STATUS), ==,
			WSE_QSTATUS_ENABLED | WSE_QSTATUS_BUSY | WSE_QSTATUS_HUNG);
	/* A queue reset drops what was pending and clears the hang. */
	qwr(t, 0, WSE_QREG_RESET, 1);
	g_assert_cmphex(qrd(t, 0, WSE_QREG_STATUS), ==, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SQ_HEAD), ==, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SQ_TAIL), ==, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_SIZE), ==, QSIZE);
	g_assert_true(next_event(t, &ev));
	g_assert_cmpuint(ev.type, ==, WSE_HW_EVENT_RESET_DONE);
	g_assert_cmpuint(ev.queue, ==, 0);
	queue_restart(t, 0);
	drain(t, 0);
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 3);
	shutdown_t(t);
}

static void test_inject_hang_device_reset(void)
{
	T *t = boot(NULL);

	inject(t, WSE_HW_FAULT_HANG_QUEUE, 0);
	submit_cmd(t, 0, WSE_CMD_NOP, 0, 0, 0);
	wr(t, WSE_REG_CONTROL, WSE_CONTROL_RESET);
	g_assert_cmphex(qrd(t, 0, WSE_QREG_STATUS), ==, 0);
	contexts_setup(t);
	queue_setup(t, 0, QSIZE);
	drain(t, 0);
	shutdown_t(t);
}

static void test_inject_fail_dma(void)
{
	T *t = boot(NULL);
	uint32_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, back[8];
	Stream st = { 0 };

	upload(t, 0, data, sizeof(data));
	/* Armed on queue 1: queue 0 is not affected. */
	inject(t, WSE_HW_FAULT_FAIL_DMA, 1);
	download(t, 0, back, sizeof(back));
	g_assert_cmpmem(back, sizeof(back), data, sizeof(data));
	inject(t, WSE_HW_FAULT_NONE, 1);
	inject(t, WSE_HW_FAULT_FAIL_DMA, 0);
	/* A command without host DMA leaves the fault armed ... */
	drain(t, 0);
	/*
	 * ... the next host transfer fails. The stream itself is fetched from the
	 * host mapping, so the failure hits the fetch: op_index 0.
	 */
	st_copy(&st, SRAM_DVA, HOST_DVA, sizeof(data));
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_DMA, 0, WSE_HW_EVENT_DMA_ERROR,
		     HOST_DVA + STREAM_OFF);
	/* One shot: the same command works now. */
	run_ok(t, &st);
	shutdown_t(t);
}

static void test_inject_corrupt_cqe(void)
{
	T *t = boot(NULL);
	uint64_t seq;

	inject(t, WSE_HW_FAULT_CORRUPT_CQE, 0);
	seq = submit_cmd(t, 0, WSE_CMD_NOP, 0, 0, 0);
	g_assert_cmphex(wait_cqe(t, 0).seq, !=, seq);
	seq = submit_cmd(t, 0, WSE_CMD_NOP, 0, 0, 0);
	g_assert_cmphex(wait_cqe(t, 0).seq, ==, seq);
	shutdown_t(t);
}

static void test_inject_sram_error(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };

	st_add_op(&st, SRAM_DVA, SRAM_DVA, SRAM_DVA + 0x100, 4);
	inject(t, WSE_HW_FAULT_SRAM_ERROR, 0);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_SRAM, 0, WSE_HW_EVENT_SRAM_ERROR, ~0ull);
	run_ok(t, &st);
	/* NONE disarms a fault that has not fired yet. */
	inject(t, WSE_HW_FAULT_SRAM_ERROR, 0);
	inject(t, WSE_HW_FAULT_NONE, 0);
	run_ok(t, &st);
	/* Fault injection aimed at an absent queue is ignored. */
	inject(t, WSE_HW_FAULT_HANG_QUEUE, 9);
	drain(t, 0);
	shutdown_t(t);
}

static void test_inject_properties(void)
{
	T *t = boot("fault-hang-queue=1,fault-sram-queue=0,fault-cqe-queue=2,fault-dma-queue=3");
	uint32_t data[4] = { 9, 8, 7, 6 };
	Stream st = { 0 };
	struct wse_hw_cqe cqe;
	uint64_t seq;

	g_assert_cmphex(qrd(t, 1, WSE_QREG_STATUS), ==, WSE_QSTATUS_HUNG);
	submit_cmd(t, 0, WSE_CMD_NOP, 0, 0, 0);
	g_assert_cmpuint(wait_cqe(t, 0).status, ==, WSE_HW_STATUS_ERR_SRAM);
	expect_event(t, WSE_HW_EVENT_SRAM_ERROR, WSE_HW_STATUS_ERR_SRAM, t->next_seq);
	queue_setup(t, 2, 4);
	seq = submit_cmd(t, 2, WSE_CMD_NOP, 0, 0, 0);
	g_assert_cmphex(wait_cqe(t, 2).seq, !=, seq);
	queue_setup(t, 3, 4);
	host_write(t, 0, data, sizeof(data));
	st_copy(&st, HOST_DVA, SRAM_DVA, sizeof(data));
	cqe = run_on(t, 3, &st, CTX_GOOD);
	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_ERR_DMA);
	cqe = run_on(t, 3, &st, CTX_GOOD);
	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_OK);
	shutdown_t(t);
}

/* ---- tests: resets while busy, invalidation, unplug ------------------------------------ */

/*
 * A command that keeps the worker busy for a while: many SRAM copies of
 * chunk MiB. The reset tests use ~10 GB of copying, which they abort.
 */
static uint64_t submit_long(T *t, int qi, int records, uint32_t chunk_mib)
{
	Stream *st = g_new0(Stream, 1);
	uint64_t seq;

	g_assert(chunk_mib <= 8);
	for (int i = 0; i < records; i++)
		st_copy(st, SRAM_DVA + (i % 2) * (chunk_mib << 20), SRAM_DVA + (16u << 20),
			chunk_mib << 20);
	host_write(t, STREAM_OFF, st->buf, st->len);
	seq = submit_cmd(t, qi, WSE_CMD_EXEC, CTX_GOOD, HOST_DVA + STREAM_OFF, st->len);
	g_free(st);
	return seq;
}

static void wait_fetched(T *t, int qi, uint32_t sq_head)
{
	gint64 deadline = g_get_monotonic_time() + POLL_DEADLINE_US;

	while (qrd(t, qi, WSE_QREG_SQ_HEAD) != sq_head) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(100);
	}
}

static void test_reset_mid_queue(void)
{
	T *t = boot(NULL);
	struct wse_hw_cqe cqe;

	submit_long(t, 0, 1600, 8);
	submit_cmd(t, 0, WSE_CMD_NOP, 0, 0, 0);
	wait_fetched(t, 0, 1);
	/* READY once the running command stopped; it and the NOP never complete. */
	wr(t, WSE_REG_CONTROL, WSE_CONTROL_RESET);
	wait_ready(t);
	g_assert_cmphex(rd(t, WSE_REG_STATUS), ==, WSE_HW_DEV_READY);
	g_assert_false(cqe_ready(t, 0, &cqe));
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 0);
	contexts_setup(t);
	queue_setup(t, 0, QSIZE);
	drain(t, 0);
	g_assert_false(cqe_ready(t, 0, &cqe));
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 1);
	shutdown_t(t);
}

static void test_queue_reset_mid_command(void)
{
	T *t = boot(NULL);
	struct wse_hw_cqe cqe;

	queue_setup(t, 1, 4);
	submit_long(t, 1, 1600, 8);
	wait_fetched(t, 1, 1);
	qwr(t, 1, WSE_QREG_RESET, 1);
	/* Cleared at once; RESETTING until the command has stopped. */
	g_assert_cmpuint(qrd(t, 1, WSE_QREG_SQ_HEAD), ==, 0);
	wait_queue_reset(t, 1);
	g_assert_cmphex(qrd(t, 1, WSE_QREG_STATUS), ==, 0);
	g_assert_false(cqe_ready(t, 1, &cqe));
	expect_event(t, WSE_HW_EVENT_RESET_DONE, 0, 0);
	/* Queue 0 was never disturbed. */
	drain(t, 0);
	queue_restart(t, 1);
	drain(t, 1);
	shutdown_t(t);
}

/*
 * One ATTENTION record that runs for tens of seconds here: 512 query rows
 * of 32 heads x 128 over 32512..33023 cached keys (K and V the same 16 MiB),
 * about 1.4e11 multiply-adds streaming 256 GiB of cache. Fills the 32 MiB
 * SRAM mapping: q, out, then the cache.
 */
static uint64_t submit_long_attention(T *t, int qi)
{
	Stream st = { 0 };
	struct wse_hw_op_attention *op = st_add(&st, WSE_OP_ATTENTION, sizeof(*op));

	op->q = SRAM_DVA;
	op->out = SRAM_DVA + (8u << 20);
	op->k_cache = SRAM_DVA + (16u << 20);
	op->v_cache = op->k_cache;
	op->n_heads = 32;
	op->n_kv_heads = 1;
	op->head_dim = 128;
	op->n_tokens = 512;
	op->kv_capacity = 32768;
	op->pos = op->kv_capacity - op->n_tokens;
	host_write(t, STREAM_OFF, st.buf, st.len);
	return submit_cmd(t, qi, WSE_CMD_EXEC, CTX_GOOD, HOST_DVA + STREAM_OFF, st.len);
}

/* Starts the long record on queue qi and returns once it is well under way. */
static void start_long_attention(T *t, int qi)
{
	submit_long_attention(t, qi);
	wait_fetched(t, qi, 1);
	g_usleep(200 * 1000);
	g_assert_cmphex(qrd(t, qi, WSE_QREG_STATUS) & WSE_QSTATUS_BUSY, ==, WSE_QSTATUS_BUSY);
}

/*
 * Issue 12, finding 3: one long record held a queue reset (the driver's
 * timeout path, with a spinlock held) for the whole record. Now the write
 * returns at once, the record stops within milliseconds, and the queue is
 * usable again while another queue never noticed.
 */
static void test_queue_reset_long_attention(void)
{
	T *t = boot(NULL);
	struct wse_hw_cqe cqe;
	struct wse_hw_event ev;
	gint64 start, took, waited;

	queue_setup(t, 1, 4);
	start_long_attention(t, 1);
	start = g_get_monotonic_time();
	qwr(t, 1, WSE_QREG_RESET, 1);
	took = g_get_monotonic_time() - start;
	g_test_message("QREG_RESET returned after %" PRId64 " us", took);
	g_assert_cmpint(took, <, MMIO_RETURN_US);
	g_assert_cmpuint(qrd(t, 1, WSE_QREG_SQ_HEAD), ==, 0);
	g_assert_cmpuint(qrd(t, 1, WSE_QREG_ENABLE), ==, 0);
	waited = wait_queue_reset(t, 1);
	g_test_message("RESETTING cleared after %" PRId64 " us more", waited);
	g_assert_cmphex(qrd(t, 1, WSE_QREG_STATUS), ==, 0);
	g_assert_true(next_event(t, &ev));
	g_assert_cmpuint(ev.type, ==, WSE_HW_EVENT_RESET_DONE);
	g_assert_cmpuint(ev.queue, ==, 1);
	g_assert_false(cqe_ready(t, 1, &cqe));
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 0);
	drain(t, 0);
	queue_restart(t, 1);
	drain(t, 1);
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 2);
	shutdown_t(t);
}

/* The same for a device reset: CONTROL returns at once, READY follows soon. */
static void test_device_reset_long_attention(void)
{
	T *t = boot(NULL);
	struct wse_hw_event ev;
	gint64 start, took, waited;

	start_long_attention(t, 0);
	start = g_get_monotonic_time();
	wr(t, WSE_REG_CONTROL, WSE_CONTROL_RESET);
	took = g_get_monotonic_time() - start;
	g_test_message("CONTROL_RESET returned after %" PRId64 " us", took);
	g_assert_cmpint(took, <, MMIO_RETURN_US);
	waited = wait_ready(t);
	g_test_message("READY after %" PRId64 " us more", waited);
	g_assert_cmphex(rd(t, WSE_REG_STATUS), ==, WSE_HW_DEV_READY);
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 0);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_ENABLE), ==, 0);
	t->ev_head = 0;
	g_assert_true(next_event(t, &ev));
	g_assert_cmpuint(ev.type, ==, WSE_HW_EVENT_RESET_DONE);
	g_assert_cmphex(ev.queue, ==, 0xffffffffu);
	contexts_setup(t);
	queue_setup(t, 0, QSIZE);
	drain(t, 0);
	shutdown_t(t);
}

/*
 * A context invalidation while a long record of that context runs returns
 * at once and reads busy; a queue reset ends the record and the
 * invalidation with it.
 */
static void test_invalidate_long_attention(void)
{
	T *t = boot(NULL);
	gint64 start, took;

	start_long_attention(t, 0);
	wr(t, WSE_REG_CTX_INVALIDATE, CTX_BAD_TABLE);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_INVALIDATE), ==, 0);
	start = g_get_monotonic_time();
	wr(t, WSE_REG_CTX_INVALIDATE, CTX_GOOD);
	took = g_get_monotonic_time() - start;
	g_test_message("CTX_INVALIDATE returned after %" PRId64 " us", took);
	g_assert_cmpint(took, <, MMIO_RETURN_US);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_INVALIDATE), !=, 0);
	qwr(t, 0, WSE_QREG_RESET, 1);
	wait_queue_reset(t, 0);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_INVALIDATE), ==, 0);
	queue_restart(t, 0);
	drain(t, 0);
	shutdown_t(t);
}

/*
 * CTX_INVALIDATE returns at once, never holding the vCPU for a command, and
 * reads non-zero until the command of that context that was running has
 * returned; its completion is posted by then.
 */
static void test_ctx_invalidate(void)
{
	T *t = boot(NULL);
	struct wse_hw_cqe cqe;
	gint64 start;
	uint64_t seq;

	wr(t, WSE_REG_CTX_INVALIDATE, CTX_GOOD);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_INVALIDATE), ==, 0);
	seq = submit_long(t, 0, 300, 4);
	wait_fetched(t, 0, 1);
	wr(t, WSE_REG_CTX_INVALIDATE, CTX_GOOD);
	start = g_get_monotonic_time();
	while (rd(t, WSE_REG_CTX_INVALIDATE)) {
		g_assert_cmpint(g_get_monotonic_time() - start, <, POLL_DEADLINE_US);
		g_usleep(100);
	}
	g_assert_true(cqe_ready(t, 0, &cqe));
	g_assert_cmphex(le64_to_cpu(cqe.seq), ==, seq);
	g_assert_cmpuint(le32_to_cpu(cqe.status), ==, WSE_HW_STATUS_OK);
	g_assert_cmpuint(le32_to_cpu(cqe.op_index), ==, 300);
	/* Invalidating a context that is not running is done at once. */
	seq = submit_long(t, 0, 300, 4);
	wait_fetched(t, 0, 2);
	wr(t, WSE_REG_CTX_INVALIDATE, CTX_BAD_TABLE);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_INVALIDATE), ==, 0);
	cqe = wait_cqe(t, 0);
	cqe = wait_cqe(t, 0);
	g_assert_cmphex(cqe.seq, ==, seq);
	shutdown_t(t);
}

static void test_counters(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };
	struct wse_hw_cqe cqe;
	uint64_t cycles, total = 0;

	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 0);
	g_assert_cmpuint(rd(t, WSE_REG_CYCLES_LO), ==, 0);
	st_add_op(&st, SRAM_DVA, SRAM_DVA + 0x1000, SRAM_DVA + 0x2000, 1024);
	for (int i = 0; i < 3; i++) {
		cqe = run(t, &st);
		g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_OK);
		g_assert_cmpuint(cqe.cycles, >, 0);
		total += cqe.cycles;
	}
	drain(t, 0);
	submit_cmd(t, 0, 0x55, 0, 0, 0);
	g_assert_cmpuint(wait_cqe(t, 0).status, ==, WSE_HW_STATUS_ERR_OPCODE);
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_LO), ==, 5);
	g_assert_cmpuint(rd(t, WSE_REG_CMDS_DONE_HI), ==, 0);
	cycles = rd(t, WSE_REG_CYCLES_LO);
	cycles |= (uint64_t)rd(t, WSE_REG_CYCLES_HI) << 32;
	g_assert_cmpuint(cycles, ==, total);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_COUNT), ==, 1);
	g_assert_cmpuint(rd(t, WSE_REG_ERR_STATUS), ==, WSE_HW_STATUS_ERR_OPCODE);
	shutdown_t(t);
}

static void test_event_ring_overflow(void)
{
	T *t = boot(NULL);
	Stream st = { 0 };
	struct wse_hw_event ev;

	wr(t, WSE_REG_EVQ_SIZE, 0);
	evq_setup(t, 4);
	st_add_op(&st, UNMAPPED_DVA, SRAM_DVA, SRAM_DVA, 4);
	for (int i = 0; i < 5; i++)
		g_assert_cmpuint(run(t, &st).status, ==, WSE_HW_STATUS_ERR_FAULT);
	/* Three fit (one slot stays empty), two were dropped. */
	g_assert_cmpuint(rd(t, WSE_REG_EVQ_TAIL), ==, 3);
	g_assert_cmpuint(rd(t, WSE_REG_EVQ_DROPPED), ==, 2);
	for (int i = 0; i < 3; i++) {
		g_assert_true(next_event(t, &ev));
		g_assert_cmpuint(ev.type, ==, WSE_HW_EVENT_FAULT);
	}
	g_assert_false(next_event(t, &ev));
	g_assert_cmpuint(run(t, &st).status, ==, WSE_HW_STATUS_ERR_FAULT);
	g_assert_true(next_event(t, &ev));
	g_assert_cmpuint(rd(t, WSE_REG_EVQ_DROPPED), ==, 2);
	/* Bad ring sizes are refused. */
	wr(t, WSE_REG_EVQ_SIZE, 0);
	wr(t, WSE_REG_EVQ_SIZE, 3);
	g_assert_cmpuint(rd(t, WSE_REG_EVQ_SIZE), ==, 0);
	shutdown_t(t);
}

/* Points page 3 of the host mapping at addr, or back at its RAM page. */
static void aim_host_page(T *t, uint64_t addr)
{
	qtest_writeq(t->qts, t->page_list + 3 * 8, addr ? addr : host_pa(t, 3 * WSE_PAGE_SIZE));
}

/*
 * Command DMA reaches guest RAM only: data, page lists, rings aimed at the
 * device's own registers are refused with ERR_DMA and a DMA_ERROR event
 * (the registers are untouched), and the device carries on.
 */
static void test_dma_to_own_registers(void)
{
	T *t = boot(NULL);
	const uint64_t page3 = HOST_DVA + 3 * WSE_PAGE_SIZE;
	uint8_t ones[WSE_PAGE_SIZE];
	struct wse_hw_cqe cqe;
	Stream st = { 0 };

	memset(ones, 0xff, sizeof(ones));
	upload(t, 0, ones, sizeof(ones));
	/* Data: host page 3 is BAR0 (CONTROL, queue resets, ...), written and read. */
	aim_host_page(t, t->bar.addr);
	st_copy(&st, SRAM_DVA, page3, WSE_PAGE_SIZE);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_DMA, 0, WSE_HW_EVENT_DMA_ERROR, page3);
	st = (Stream){ 0 };
	st_copy(&st, page3 + 0xa0, SRAM_DVA, 8);
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_DMA, 0, WSE_HW_EVENT_DMA_ERROR, page3 + 0xa0);
	aim_host_page(t, 0);
	g_assert_cmphex(rd(t, WSE_REG_STATUS), ==, WSE_HW_DEV_READY);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_ENABLE), ==, 1);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_COUNT), ==, CTX_COUNT);
	/* A page list in BAR0: the stream fetch through it fails. */
	put_map(t, t->bad_maps, 0, HOST_DVA, HOST_SIZE, t->bar.addr,
		WSE_HW_MAP_HOST | WSE_HW_MAP_READ | WSE_HW_MAP_WRITE);
	put_ctx(t, CTX_BAD_TABLE, t->bad_maps, 1, WSE_CTX_VALID);
	st = (Stream){ 0 };
	st_copy(&st, HOST_DVA, HOST_DVA + WSE_PAGE_SIZE, 8);
	expect_error(t, &st, CTX_BAD_TABLE, WSE_HW_STATUS_ERR_DMA, 0, WSE_HW_EVENT_DMA_ERROR,
		     HOST_DVA + STREAM_OFF);
	/* A submission ring in BAR0: the entry cannot be fetched. */
	qwr(t, 1, WSE_QREG_SQ_BASE_LO, (uint32_t)t->bar.addr);
	qwr(t, 1, WSE_QREG_SQ_BASE_HI, t->bar.addr >> 32);
	t->q[1].cq = alloc_zeroed(t, 4 * sizeof(struct wse_hw_cqe));
	qwr(t, 1, WSE_QREG_CQ_BASE_LO, (uint32_t)t->q[1].cq);
	qwr(t, 1, WSE_QREG_CQ_BASE_HI, t->q[1].cq >> 32);
	qwr(t, 1, WSE_QREG_SIZE, 4);
	qwr(t, 1, WSE_QREG_ENABLE, 1);
	t->q[1].size = 4;
	t->q[1].phase = true;
	qwr(t, 1, WSE_QREG_SQ_TAIL, 1);
	cqe = wait_cqe(t, 1);
	g_assert_cmpuint(cqe.status, ==, WSE_HW_STATUS_ERR_DMA);
	g_assert_cmphex(rd(t, WSE_REG_STATUS), ==, WSE_HW_DEV_READY);
	g_assert_cmpuint(rd(t, WSE_REG_CTX_COUNT), ==, CTX_COUNT);
	/* Still working: a copy to RAM and back. */
	drain_events(t);
	download(t, 0, ones, 64);
	g_assert_cmphex(ones[63], ==, 0xff);
	drain(t, 0);
	shutdown_t(t);
}

static void wait_deleted(QTestState *qts, const char *id)
{
	for (;;) {
		QDict *resp = qtest_qmp_eventwait_ref(qts, "DEVICE_DELETED");
		QDict *data = qdict_get_qdict(resp, "data");
		bool match = data && qdict_haskey(data, "device") &&
			     !strcmp(qdict_get_str(data, "device"), id);

		qobject_unref(resp);
		if (match)
			return;
	}
}

/*
 * A q35 machine with the wse (id wse0) behind a hot-plug capable PCIe root
 * port at 00:05.0, programmed by hand: no firmware runs under qtest. Queue 0,
 * events and contexts are set up as boot() does. native_hotplug: the root
 * port's own slot controls do hot-plug, not ACPI (q35's default).
 */
static T *boot_behind_root_port(bool native_hotplug, const char *props)
{
	T *t = g_new0(T, 1);
	QPCIDevice *rp;
	uint64_t size;

	t->qs = qtest_pc_boot("-machine q35 -m 256M -nodefaults %s -device pcie-root-port,id=rp1,"
			      "bus=pcie.0,addr=05.0,chassis=1 -device wse,bus=rp1,id=wse0%s%s",
			      native_hotplug ?
			      "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off" : "",
			      props ? "," : "", props ? props : "");
	t->qts = t->qs->qts;
	rp = qpci_device_find(t->qs->pcibus, ROOT_PORT_DEVFN);
	g_assert(rp);
	qpci_config_writeb(rp, PCI_PRIMARY_BUS, 0);
	qpci_config_writeb(rp, PCI_SECONDARY_BUS, 1);
	qpci_config_writeb(rp, PCI_SUBORDINATE_BUS, 1);
	qpci_config_writew(rp, PCI_MEMORY_BASE, 0xe000);
	qpci_config_writew(rp, PCI_MEMORY_LIMIT, 0xeff0);
	qpci_config_writew(rp, PCI_PREF_MEMORY_BASE, 0xfff0);
	qpci_config_writew(rp, PCI_PREF_MEMORY_LIMIT, 0x0000);
	qpci_device_enable(rp);
	t->rp = rp;
	t->qs->pcibus->mmio_alloc_ptr = 0xe0000000;
	t->qs->pcibus->mmio_limit = 0xf0000000;
	t->dev = qpci_device_find(t->qs->pcibus, QPCI_DEVFN(0, 0) | 1 << 8);
	g_assert(t->dev);
	qpci_device_enable(t->dev);
	t->bar = qpci_iomap(t->dev, WSE_BAR_REGS, &size);
	qpci_msix_enable(t->dev);
	g_assert_cmphex(rd(t, WSE_REG_MAGIC), ==, WSE_HW_MAGIC);
	t->nq = rd(t, WSE_REG_NUM_QUEUES);
	t->next_seq = 0x1000;
	evq_setup(t, EVQ_SIZE);
	contexts_setup(t);
	queue_setup(t, 0, QSIZE);
	return t;
}

/*
 * Turns on Q35's ECAM window, so that the root port's configuration space
 * is memory that device DMA or an MSI-X message could be aimed at. Returns
 * the address of the root port's slot control register.
 */
static uint64_t root_port_sltctl(T *t)
{
	QPCIDevice *mch = qpci_device_find(t->qs->pcibus, QPCI_DEVFN(0, 0));
	uint64_t cfg = ECAM_BASE + ((uint64_t)ROOT_PORT_DEVFN << 12);
	uint8_t exp = qpci_find_capability(t->rp, PCI_CAP_ID_EXP, 0);

	g_assert(mch && exp);
	qpci_config_writel(mch, Q35_PCIEXBAR, (uint32_t)ECAM_BASE | 1);
	qpci_config_writel(mch, Q35_PCIEXBAR + 4, 0);
	g_free(mch);
	g_assert_cmphex(qtest_readw(t->qts, cfg + PCI_VENDOR_ID), ==,
			qpci_config_readw(t->rp, PCI_VENDOR_ID));
	g_assert_cmphex(qtest_readw(t->qts, cfg + exp + PCI_EXP_SLTCTL), ==,
			qpci_config_readw(t->rp, exp + PCI_EXP_SLTCTL));
	return cfg + exp + PCI_EXP_SLTCTL;
}

/*
 * Issue 12, finding 1: a COPY into the root port's slot control (through
 * ECAM) used to power the slot off, which reset the device on its own
 * worker thread, which then waited for itself forever. Refused now, both
 * ways, and the slot, the device and QEMU carry on.
 */
static void test_dma_to_root_port(void)
{
	T *t = boot_behind_root_port(false, NULL);
	uint64_t sltctl_addr = root_port_sltctl(t);
	uint8_t exp = qpci_find_capability(t->rp, PCI_CAP_ID_EXP, 0);
	uint16_t sltctl = qpci_config_readw(t->rp, exp + PCI_EXP_SLTCTL);
	uint16_t power_off = sltctl | PCI_EXP_SLTCTL_PCC;
	const uint64_t page3 = HOST_DVA + 3 * WSE_PAGE_SIZE;
	uint64_t dva = page3 + sltctl_addr % WSE_PAGE_SIZE;
	uint8_t data[64];
	Stream st = { 0 };

	g_assert_cmphex(sltctl & PCI_EXP_SLTCTL_PCC, ==, PCI_EXP_SLTCTL_PWR_ON);
	upload(t, 0, &power_off, sizeof(power_off));
	aim_host_page(t, sltctl_addr & ~(uint64_t)(WSE_PAGE_SIZE - 1));
	st_copy(&st, SRAM_DVA, dva, sizeof(power_off));
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_DMA, 0, WSE_HW_EVENT_DMA_ERROR, dva);
	g_assert_cmphex(qpci_config_readw(t->rp, exp + PCI_EXP_SLTCTL), ==, sltctl);
	st = (Stream){ 0 };
	st_copy(&st, page3, SRAM_DVA + 0x1000, sizeof(data));
	expect_error(t, &st, CTX_GOOD, WSE_HW_STATUS_ERR_DMA, 0, WSE_HW_EVENT_DMA_ERROR, page3);
	/* The next COPY to RAM works. */
	aim_host_page(t, 0);
	memset(data, 0x3c, sizeof(data));
	host_write(t, 3 * WSE_PAGE_SIZE, data, sizeof(data));
	st = (Stream){ 0 };
	st_copy(&st, page3, SRAM_DVA + 0x1000, sizeof(data));
	st_copy(&st, SRAM_DVA + 0x1000, HOST_DVA + 0x100, sizeof(data));
	run_ok(t, &st);
	memset(data, 0, sizeof(data));
	host_read(t, 0x100, data, sizeof(data));
	g_assert_cmphex(data[sizeof(data) - 1], ==, 0x3c);
	shutdown_t(t);
}

/* Points queue 0's MSI-X vector at addr with data, unmasked. */
static void aim_msix(T *t, uint64_t addr, uint32_t data)
{
	uint64_t entry = t->dev->msix_table_off;

	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_LOWER_ADDR,
		       (uint32_t)addr);
	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_UPPER_ADDR,
		       addr >> 32);
	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_DATA, data);
	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
}

/* The root port's slot is powered, its device present and answering. */
static void assert_slot_untouched(T *t, uint16_t sltctl)
{
	uint8_t exp = qpci_find_capability(t->rp, PCI_CAP_ID_EXP, 0);

	g_assert_cmphex(qpci_config_readw(t->rp, exp + PCI_EXP_SLTCTL), ==, sltctl);
	g_assert_cmphex(qpci_config_readw(t->rp, exp + PCI_EXP_SLTSTA) & PCI_EXP_SLTSTA_PDS, ==,
			PCI_EXP_SLTSTA_PDS);
	g_assert_cmphex(qpci_config_readw(t->dev, PCI_VENDOR_ID), ==, WSE_PCI_VENDOR_ID);
	g_assert_cmphex(rd(t, WSE_REG_STATUS), ==, WSE_HW_DEV_READY);
}

/*
 * An MSI-X vector aimed at MMIO: the root port's slot control (through
 * ECAM), to power the slot off or unplug the device from its own worker,
 * and the device's own CONTROL register. The device sends messages to the
 * MSI window and RAM only: these are dropped, from the worker (a
 * completion) and from the vCPU (msix.c resending a pending vector when
 * it is unmasked). They used to power the slot off and unplug the device.
 */
static void test_msix_to_mmio_dropped(void)
{
	T *t = boot_behind_root_port(true, NULL);
	uint64_t sltctl_addr = root_port_sltctl(t);
	uint8_t exp = qpci_find_capability(t->rp, PCI_CAP_ID_EXP, 0);
	uint16_t sltctl = qpci_config_readw(t->rp, exp + PCI_EXP_SLTCTL);
	/* Power and its indicator off: the slot's "safe to remove" state. */
	uint32_t unplug = (sltctl & ~PCI_EXP_SLTCTL_PIC) | PCI_EXP_SLTCTL_PWR_IND_OFF |
			  PCI_EXP_SLTCTL_PCC;
	uint64_t entry = t->dev->msix_table_off;
	uint64_t regs = qpci_config_readl(t->dev, PCI_BASE_ADDRESS_0) & PCI_BASE_ADDRESS_MEM_MASK;

	assert_slot_untouched(t, sltctl);
	aim_msix(t, sltctl_addr, sltctl | PCI_EXP_SLTCTL_PCC);
	drain(t, 0);
	assert_slot_untouched(t, sltctl);
	aim_msix(t, sltctl_addr, unplug);
	drain(t, 0);
	assert_slot_untouched(t, sltctl);
	aim_msix(t, regs + WSE_REG_CONTROL, WSE_CONTROL_RESET);
	drain(t, 0);
	assert_slot_untouched(t, sltctl);
	g_assert_cmpuint(qrd(t, 0, WSE_QREG_ENABLE), ==, 1);

	/* Masked: the completion leaves the vector pending; unmasking sends it. */
	qpci_io_writel(t->dev, t->dev->msix_table_bar, entry + PCI_MSIX_ENTRY_VECTOR_CTRL,
		       PCI_MSIX_ENTRY_CTRL_MASKBIT);
	drain(t, 0);
	g_assert_true(qpci_msix_pending(t->dev, 0));
	aim_msix(t, sltctl_addr, unplug);
	g_assert_false(qpci_msix_pending(t->dev, 0));
	assert_slot_untouched(t, sltctl);
	drain(t, 0);
	shutdown_t(t);
}

/* Hot-unplug from a PCIe root port with a hung queue and a command running. */
static void test_unplug_busy(void)
{
	T *t = boot_behind_root_port(false, "fault-hang-queue=1");

	queue_setup(t, 1, 4);
	submit_cmd(t, 1, WSE_CMD_NOP, 0, 0, 0);
	submit_long(t, 0, 1600, 8);
	wait_fetched(t, 0, 1);
	qtest_qmp_device_del_send(t->qts, "wse0");
	qtest_system_reset_nowait(t->qts);
	wait_deleted(t->qts, "wse0");
	/* QEMU is alive and the device is gone. */
	g_assert_cmphex(qpci_config_readw(t->dev, PCI_VENDOR_ID), ==, 0xffff);
	shutdown_t(t);
}

int main(int argc, char **argv)
{
	static const struct { const char *name; void (*fn)(void); } tests[] = {
		{ "identity", test_identity },
		{ "properties", test_properties },
		{ "preset-cs3", test_preset_cs3 },
		{ "bad-properties", test_bad_properties },
		{ "device-reset", test_device_reset },
		{ "reset-clears-sram", test_reset_clears_sram },
		{ "sram-scrub", test_sram_scrub },
		{ "nop", test_nop },
		{ "trace-events", test_trace_events },
		{ "phase-wrap", test_phase_wrap },
		{ "msix-delivery", test_msix_delivery },
		{ "multi-queue", test_multi_queue },
		{ "queue-config-checks", test_queue_config_checks },
		{ "cq-full-stalls", test_cq_full_stalls },
		{ "copy-roundtrip", test_copy_roundtrip },
		{ "stream-in-sram", test_stream_in_sram },
		{ "sram-window", test_sram_window },
		{ "op/matmul-f32", test_matmul_f32 },
		{ "op/matmul-f16", test_matmul_f16 },
		{ "op/matmul-bf16-accumulate", test_matmul_bf16_accumulate },
		{ "op/rmsnorm", test_rmsnorm },
		{ "op/add-silu-mul", test_add_and_silu_mul },
		{ "op/softmax-argmax-topk", test_softmax_argmax_topk },
		{ "op/embed", test_embed },
		{ "op/rope", test_rope },
		{ "op/attention", test_attention },
		{ "op/layer", test_layer },
		{ "fault/unmapped", test_fault_unmapped },
		{ "fault/crossing-end", test_fault_crossing_end },
		{ "fault/read-only", test_fault_read_only },
		{ "fault/host-compute", test_fault_host_compute },
		{ "fault/context", test_fault_context },
		{ "fault/bad-map-table", test_fault_bad_map_table },
		{ "bad/opcodes", test_bad_opcodes },
		{ "bad/stream-lengths", test_bad_stream_lengths },
		{ "bad/reserved-fields", test_reserved_fields },
		{ "bad/shapes", test_bad_shapes },
		{ "inject/hang", test_inject_hang },
		{ "inject/hang-device-reset", test_inject_hang_device_reset },
		{ "inject/fail-dma", test_inject_fail_dma },
		{ "inject/corrupt-cqe", test_inject_corrupt_cqe },
		{ "inject/sram-error", test_inject_sram_error },
		{ "inject/properties", test_inject_properties },
		{ "reset-mid-queue", test_reset_mid_queue },
		{ "queue-reset-mid-command", test_queue_reset_mid_command },
		{ "ctx-invalidate", test_ctx_invalidate },
		{ "counters", test_counters },
		{ "event-ring-overflow", test_event_ring_overflow },
		{ "dma/own-registers", test_dma_to_own_registers },
		{ "dma/root-port", test_dma_to_root_port },
		{ "msix/to-mmio-dropped", test_msix_to_mmio_dropped },
		{ "reset/queue-long-attention", test_queue_reset_long_attention },
		{ "reset/device-long-attention", test_device_reset_long_attention },
		{ "reset/invalidate-long-attention", test_invalidate_long_attention },
		{ "unplug-busy", test_unplug_busy },
	};

	g_test_init(&argc, &argv, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(tests); i++) {
		g_autofree char *path = g_strdup_printf("/wse/%s", tests[i].name);

		qtest_add_func(path, tests[i].fn);
	}
	return g_test_run();
}
