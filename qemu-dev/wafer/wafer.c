/* SPDX-License-Identifier: MIT */
/*
 * wafer.c - the wafer model's lifecycle, SRAM and execution. Records are
 * validated, and their operands listed, by the rulebook that libwse runs
 * too (wse/op_rules.h); the kernels are in wafer_ops.c, the cycle counts in
 * wafer_timing.c.
 *
 * Aliasing rules (what wafer_exec() accepts when operands overlap):
 *  - COPY is a memmove: src and dst may overlap in any way.
 *  - ROPE and the residual x of LAYER are updated in place (one operand).
 *  - The element-wise ops ADD, SILU_MUL, RMSNORM and SOFTMAX may write
 *    their output exactly over an input of the same extent (out == a);
 *    each element is read before it is written.
 *  - Inputs may overlap each other freely.
 *  - Any other overlap of an operand the op writes with another operand
 *    (e.g. a matmul whose y overlaps x, or attention writing over q) is
 *    rejected with WSE_HW_STATUS_ERR_FAULT, since its result would depend on
 *    the order in which the host happens to compute.
 * Operands must also be aligned to their element size (4 bytes for fp32
 * and uint32 data, 2 for fp16/bf16 weights; q8_0 has no constraint), as
 * the wafer moves 32-bit wavelets: WSE_HW_STATUS_ERR_FAULT otherwise.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wafer_internal.h"
#include "wse/op_rules.h"

/* ---- lifecycle ----------------------------------------------------------------- */

static void *map_sram(uint64_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct wafer *wafer_create(const struct wafer_config *config)
{
	struct wafer *wafer;
	uint32_t threads;
	long cpus;

	if (!config) {
		errno = EINVAL;
		return NULL;
	}
	wafer = calloc(1, sizeof(*wafer));
	if (!wafer) {
		errno = ENOMEM;
		return NULL;
	}
	switch (config->preset) {
	case WAFER_PRESET_SMALL:
		wafer->grid_w = WAFER_SMALL_GRID_W;
		wafer->grid_h = WAFER_SMALL_GRID_H;
		wafer->pe_sram_bytes = WAFER_SMALL_PE_SRAM;
		break;
	case WAFER_PRESET_CS3:
		wafer->grid_w = WAFER_CS3_GRID_W;
		wafer->grid_h = WAFER_CS3_GRID_H;
		wafer->pe_sram_bytes = WAFER_CS3_PE_SRAM;
		break;
	default:
		free(wafer);
		errno = EINVAL;
		return NULL;
	}
	wafer->clock_khz = WAFER_CLOCK_KHZ;
	wafer->sram_bytes = config->sram_bytes;
	if (!wafer->sram_bytes)
		wafer->sram_bytes = (uint64_t)wafer->grid_w * wafer->grid_h * wafer->pe_sram_bytes;
	threads = config->threads;
	if (!threads) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cpus < 1 ? 1 : cpus > WAFER_MAX_THREADS ? WAFER_MAX_THREADS : (uint32_t)cpus;
	}
	if (wafer->sram_bytes < WAFER_SRAM_MIN || wafer->sram_bytes > WAFER_SRAM_MAX ||
	    wafer->sram_bytes % WSE_PAGE_SIZE || threads > WAFER_MAX_THREADS) {
		free(wafer);
		errno = EINVAL;
		return NULL;
	}
	wafer->sram = map_sram(wafer->sram_bytes);
	if (!wafer->sram) {
		free(wafer);
		errno = ENOMEM;
		return NULL;
	}
	if (wafer_pool_init(&wafer->pool, threads)) {
		munmap(wafer->sram, wafer->sram_bytes);
		free(wafer);
		errno = ENOMEM;
		return NULL;
	}
	wafer_kernels_init(&wafer->kernels, 1);
	atomic_init(&wafer->stopped, 0);
	return wafer;
}

void wafer_destroy(struct wafer *wafer)
{
	if (!wafer)
		return;
	wafer_pool_destroy(&wafer->pool);
	munmap(wafer->sram, wafer->sram_bytes);
	free(wafer);
}

void wafer_get_info(const struct wafer *wafer, struct wafer_info *info)
{
	info->sram_bytes = wafer->sram_bytes;
	info->grid_w = wafer->grid_w;
	info->grid_h = wafer->grid_h;
	info->pe_sram_bytes = wafer->pe_sram_bytes;
	info->clock_khz = wafer->clock_khz;
}

void *wafer_sram(struct wafer *wafer, uint64_t offset, uint64_t len)
{
	if (offset > wafer->sram_bytes || len > wafer->sram_bytes - offset)
		return NULL;
	return wafer->sram + offset;
}

void wafer_reset(struct wafer *wafer)
{
	void *p;

	if (!madvise(wafer->sram, wafer->sram_bytes, MADV_DONTNEED))
		return;
	/* Replacing the mapping in place zeroes it as well. */
	p = mmap(wafer->sram, wafer->sram_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		memset(wafer->sram, 0, wafer->sram_bytes);
}

int wafer_scrub(struct wafer *wafer, uint64_t offset, uint64_t len)
{
	uint8_t *base = wafer_sram(wafer, offset, len);
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start, first_page, end_page, end;

	if (!base)
		return -1;
	start = (uintptr_t)base;
	end = start + len;
	first_page = (start + page - 1) & ~(page - 1);
	end_page = end & ~(page - 1);
	if (first_page >= end_page ||
	    madvise((void *)first_page, end_page - first_page, MADV_DONTNEED)) {
		memset(base, 0, len);
		return 0;
	}
	memset(base, 0, first_page - start);
	memset((void *)end_page, 0, end - end_page);
	return 0;
}

uint64_t wafer_host_copy_cycles(const struct wafer *wafer, uint64_t bytes)
{
	(void)wafer;
	return wafer_timing_host_copy(bytes);
}

uint64_t wafer_weight_bytes(uint32_t dtype, uint64_t rows, uint64_t cols)
{
	return wse_dtype_matrix_bytes(dtype, rows, cols);
}

/* ---- op records: validation and operands -------------------------------------------- */

/* The model implements every dtype and op: the device's caps only say so. */
#define WAFER_CAPS	(~0u)

/* Negative wse_hw_status, or 0 with the record's operands (wse/op_rules.h) in list. */
static int list_operands(const void *record, struct wse_op_operands *list)
{
	struct wse_op_verdict verdict = wse_op_check(record, WAFER_CAPS, list);

	return -(int)verdict.status;
}

static __le64 *operand_addr(void *record, const struct wse_op_operand *o)
{
	return (__le64 *)((uint8_t *)record + o->offset);
}

int wafer_op_operands(void *op, struct wafer_operand operands[WAFER_MAX_OPERANDS])
{
	struct wse_op_operands list;
	int err = list_operands(op, &list);

	_Static_assert(WSE_OP_MAX_OPERANDS <= WAFER_MAX_OPERANDS, "room for every operand");
	if (err)
		return err;
	for (unsigned int i = 0; i < list.n; i++)
		operands[i] = (struct wafer_operand){
			operand_addr(op, &list.op[i]), list.op[i].bytes, list.op[i].writes
		};
	return (int)list.n;
}

/* ---- execution ------------------------------------------------------------------------ */

int wafer_resolve_region(const struct wafer *wafer, const struct wse_hw_op_hdr *hdr,
			 struct wafer_region *region)
{
	const struct wse_hw_region *r = &hdr->region;

	if (wse_region_fault(r, wafer->grid_w, wafer->grid_h))
		return WSE_HW_STATUS_ERR_REGION;
	if (!r->w)
		*region = (struct wafer_region){ 0, 0, wafer->grid_w, wafer->grid_h };
	else
		*region = (struct wafer_region){ r->x, r->y, r->w, r->h };
	return WSE_HW_STATUS_OK;
}

/* Operands inside SRAM, aligned, and not written over another (the aliasing rules above). */
static int check_operands(const struct wafer *wafer, uint16_t code,
			  const struct wse_op_operands *list)
{
	for (unsigned int i = 0; i < list->n; i++) {
		const struct wse_op_operand *o = &list->op[i];

		if (o->addr > wafer->sram_bytes || o->bytes > wafer->sram_bytes - o->addr ||
		    o->addr % o->align)
			return WSE_HW_STATUS_ERR_FAULT;
	}
	if (code == WSE_OP_COPY)
		return WSE_HW_STATUS_OK;
	for (unsigned int i = 0; i < list->n; i++) {
		const struct wse_op_operand *o = &list->op[i];

		if (!o->writes)
			continue;
		for (unsigned int j = 0; j < list->n; j++) {
			const struct wse_op_operand *p = &list->op[j];

			if (j == i || o->addr >= p->addr + p->bytes || p->addr >= o->addr + o->bytes)
				continue;
			if (wse_op_specs[code].in_place && o->addr == p->addr && o->bytes == p->bytes)
				continue;
			return WSE_HW_STATUS_ERR_FAULT;
		}
	}
	return WSE_HW_STATUS_OK;
}

/*
 * The fused layer, written as the op records it stands for. With xn, q,
 * att, gate and up laid out in that order in scratch, fp32:
 *   1 rmsnorm  x -> xn (attn_norm)        8 matmul wo * att -> x (accumulate)
 *   2 matmul   wq * xn -> q               9 rmsnorm  x -> xn (ffn_norm)
 *   3 matmul   wk * xn -> k_cache[pos]   10 matmul   w_gate * xn -> gate
 *   4 matmul   wv * xn -> v_cache[pos]   11 matmul   w_up * xn -> up
 *   5 rope     q                         12 silu_mul gate, up -> gate
 *   6 rope     k_cache[pos]              13 matmul   w_down * gate -> x (accumulate)
 *   7 attention q, caches -> att
 */
void wafer_layer_steps(const struct wse_hw_op_layer *l, union wafer_record steps[WAFER_LAYER_STEPS])
{
	uint64_t q_dim = (uint64_t)l->n_heads * l->head_dim;
	uint64_t kv_row = 4ull * l->n_kv_heads * l->head_dim;
	struct wse_hw_layer_scratch layout = { 0 };
	uint64_t xn, q, att, gate, up;
	uint64_t k_new = l->k_cache + kv_row * l->pos, v_new = l->v_cache + kv_row * l->pos;
	struct wse_hw_op_hdr hdr = { .region = l->hdr.region };
	int i = 0;

	/* The record passed its rules, so the layout does not overflow. */
	wse_hw_layer_scratch_layout(l->dim, l->hidden_dim, l->n_heads, l->head_dim, l->n_tokens,
				    &layout);
	xn = l->scratch + layout.xn;
	q = l->scratch + layout.q;
	att = l->scratch + layout.att;
	gate = l->scratch + layout.gate;
	up = l->scratch + layout.up;

#define STEP(code, type, ...)								\
	do {										\
		memset(&steps[i], 0, sizeof(steps[i]));					\
		steps[i].type = (struct wse_hw_op_##type){ __VA_ARGS__ };		\
		steps[i].hdr = hdr;							\
		steps[i].hdr.op = code;							\
		steps[i].hdr.length = sizeof(struct wse_hw_op_##type);			\
		i++;									\
	} while (0)
#define MATMUL(wm, xin, yout, r, c, fl)							\
	STEP(WSE_OP_MATMUL, matmul, .w = (wm), .x = (xin), .y = (yout), .rows = (r),	\
	     .cols = (c), .batch = l->n_tokens, .wtype = l->wtype);			\
	steps[i - 1].hdr.flags = (fl)

	STEP(WSE_OP_RMSNORM, rmsnorm, .x = l->x, .w = l->attn_norm, .y = xn, .dim = l->dim,
	     .rows = l->n_tokens, .eps = l->eps);
	MATMUL(l->wq, xn, q, q_dim, l->dim, 0);
	MATMUL(l->wk, xn, k_new, l->n_kv_heads * l->head_dim, l->dim, 0);
	MATMUL(l->wv, xn, v_new, l->n_kv_heads * l->head_dim, l->dim, 0);
	STEP(WSE_OP_ROPE, rope, .x = q, .n_heads = l->n_heads, .head_dim = l->head_dim,
	     .rows = l->n_tokens, .pos = l->pos, .theta = l->rope_theta);
	STEP(WSE_OP_ROPE, rope, .x = k_new, .n_heads = l->n_kv_heads, .head_dim = l->head_dim,
	     .rows = l->n_tokens, .pos = l->pos, .theta = l->rope_theta);
	STEP(WSE_OP_ATTENTION, attention, .q = q, .k_cache = l->k_cache, .v_cache = l->v_cache,
	     .out = att, .n_heads = l->n_heads, .n_kv_heads = l->n_kv_heads,
	     .head_dim = l->head_dim, .n_tokens = l->n_tokens, .pos = l->pos,
	     .kv_capacity = l->kv_capacity);
	MATMUL(l->wo, att, l->x, l->dim, q_dim, WSE_MATMUL_ACCUMULATE);
	STEP(WSE_OP_RMSNORM, rmsnorm, .x = l->x, .w = l->ffn_norm, .y = xn, .dim = l->dim,
	     .rows = l->n_tokens, .eps = l->eps);
	MATMUL(l->w_gate, xn, gate, l->hidden_dim, l->dim, 0);
	MATMUL(l->w_up, xn, up, l->hidden_dim, l->dim, 0);
	STEP(WSE_OP_SILU_MUL, silu_mul, .gate = gate, .up = up, .out = gate,
	     .n = l->n_tokens * l->hidden_dim);
	MATMUL(l->w_down, gate, l->x, l->dim, l->hidden_dim, WSE_MATMUL_ACCUMULATE);
#undef MATMUL
#undef STEP
}

static int exec_record(struct wafer *wafer, union wafer_record *op, uint64_t *cycles);

static int exec_layer(struct wafer *wafer, const struct wse_hw_op_layer *layer, uint64_t *cycles)
{
	union wafer_record steps[WAFER_LAYER_STEPS];
	uint64_t step_cycles;
	int st;

	wafer_layer_steps(layer, steps);
	for (int i = 0; i < WAFER_LAYER_STEPS; i++) {
		st = exec_record(wafer, &steps[i], &step_cycles);
		if (st)
			return st;
		*cycles += step_cycles;
	}
	return WSE_HW_STATUS_OK;
}

/* Validates, checks and runs one record that the model owns a copy of. */
static int exec_record(struct wafer *wafer, union wafer_record *op, uint64_t *cycles)
{
	struct wse_op_operands list;
	struct wafer_region region;
	int st;

	*cycles = 0;
	st = list_operands(op, &list);
	if (st)
		return -st;
	st = wafer_resolve_region(wafer, &op->hdr, &region);
	if (st)
		return st;
	st = check_operands(wafer, op->hdr.op, &list);
	if (st)
		return st;
	if (op->hdr.op == WSE_OP_LAYER)
		return exec_layer(wafer, &op->layer, cycles);
	if (wafer_stopping(wafer))
		return WSE_HW_STATUS_ERR_ABORTED;
	st = wafer_run_op(wafer, op);
	/* The kernels return early when told to stop; what they left is not a result. */
	if (!st && wafer_stop_seen(wafer))
		st = WSE_HW_STATUS_ERR_ABORTED;
	if (!st)
		*cycles = wafer_timing_cycles(op, &region);
	return st;
}

int wafer_exec_stoppable(struct wafer *wafer, void *op, uint64_t *cycles,
			 wafer_stop_fn *stop, void *ctx)
{
	union wafer_record record;
	const struct wse_hw_op_hdr *hdr = op;
	uint64_t spent = 0;
	size_t len = hdr->length;
	int st;

	/* Our own copy: the caller's record cannot change between check and use. */
	memset(&record, 0, sizeof(record));
	if (len < sizeof(*hdr))
		len = sizeof(*hdr);
	memcpy(&record, op, len < sizeof(record) ? len : sizeof(record));
	/* The pool's hand-off (a mutex) publishes these to the helper threads. */
	wafer->stop_fn = stop;
	wafer->stop_ctx = ctx;
	atomic_store_explicit(&wafer->stopped, 0, memory_order_relaxed);
	st = exec_record(wafer, &record, &spent);
	wafer->stop_fn = NULL;
	wafer->stop_ctx = NULL;
	if (cycles)
		*cycles = st ? 0 : spent;
	return st;
}

int wafer_exec(struct wafer *wafer, void *op, uint64_t *cycles)
{
	return wafer_exec_stoppable(wafer, op, cycles, NULL, NULL);
}
