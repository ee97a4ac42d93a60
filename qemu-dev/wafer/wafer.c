/* SPDX-License-Identifier: MIT */
/*
 * wafer.c - the wafer model's lifecycle, SRAM, op record validation and
 * execution. The kernels are in wafer_ops.c, the cycle counts in
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
	uint64_t elems, bytes;

	if (__builtin_mul_overflow(rows, cols, &elems))
		return 0;
	switch (dtype) {
	case WSE_HW_DTYPE_F32:
		return __builtin_mul_overflow(elems, 4, &bytes) ? 0 : bytes;
	case WSE_HW_DTYPE_F16:
	case WSE_HW_DTYPE_BF16:
		return __builtin_mul_overflow(elems, 2, &bytes) ? 0 : bytes;
	case WSE_HW_DTYPE_Q8_0:
		if (cols % WSE_Q8_0_BLOCK)
			return 0;
		return __builtin_mul_overflow(elems / WSE_Q8_0_BLOCK, WSE_Q8_0_BLOCK_BYTES, &bytes) ?
		       0 : bytes;
	default:
		return 0;
	}
}

/* ---- op records: validation and operands -------------------------------------------- */

/* One operand as the validator sees it: the public part plus its alignment. */
struct operand_info {
	uint64_t *addr;
	uint64_t bytes;
	int writes;
	uint32_t align;
};

struct operand_list {
	struct operand_info op[WAFER_MAX_OPERANDS];
	int n;
};

static void add_operand(struct operand_list *list, uint64_t *addr, uint64_t bytes,
			int writes, uint32_t align)
{
	list->op[list->n++] = (struct operand_info){ addr, bytes, writes, align };
}

/* bytes = 4 * a * b * c, or 0 when that does not fit in 64 bits. */
static uint64_t f32_bytes(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t r;

	if (__builtin_mul_overflow(a, b, &r) || __builtin_mul_overflow(r, c, &r) ||
	    __builtin_mul_overflow(r, 4, &r))
		return 0;
	return r;
}

static uint32_t dtype_align(uint32_t dtype)
{
	return dtype == WSE_HW_DTYPE_F32 ? 4 : dtype == WSE_HW_DTYPE_Q8_0 ? 1 : 2;
}

static const uint16_t record_size[WSE_OP_COUNT] = {
	[WSE_OP_NOP] = sizeof(struct wse_hw_op_hdr),
	[WSE_OP_COPY] = sizeof(struct wse_hw_op_copy),
	[WSE_OP_MATMUL] = sizeof(struct wse_hw_op_matmul),
	[WSE_OP_RMSNORM] = sizeof(struct wse_hw_op_rmsnorm),
	[WSE_OP_ROPE] = sizeof(struct wse_hw_op_rope),
	[WSE_OP_ATTENTION] = sizeof(struct wse_hw_op_attention),
	[WSE_OP_SILU_MUL] = sizeof(struct wse_hw_op_silu_mul),
	[WSE_OP_ADD] = sizeof(struct wse_hw_op_add),
	[WSE_OP_EMBED] = sizeof(struct wse_hw_op_embed),
	[WSE_OP_SOFTMAX] = sizeof(struct wse_hw_op_softmax),
	[WSE_OP_ARGMAX] = sizeof(struct wse_hw_op_argmax),
	[WSE_OP_TOPK] = sizeof(struct wse_hw_op_topk),
	[WSE_OP_LAYER] = sizeof(struct wse_hw_op_layer),
};

static int valid_eps(float eps)
{
	return isfinite(eps) && eps >= 0;
}

static int valid_theta(float theta)
{
	return isfinite(theta) && theta > 0;
}

#define SHAPE_ERR (-WSE_HW_STATUS_ERR_SHAPE)
#define STREAM_ERR (-WSE_HW_STATUS_ERR_STREAM)

static int list_matmul(struct wse_hw_op_matmul *op, struct operand_list *list)
{
	uint64_t w, x, y;

	if (op->hdr.flags & ~WSE_MATMUL_ACCUMULATE)
		return STREAM_ERR;
	if (!op->rows || !op->cols || !op->batch || op->wtype >= WSE_HW_DTYPE_COUNT)
		return SHAPE_ERR;
	w = wafer_weight_bytes(op->wtype, op->rows, op->cols);
	x = f32_bytes(op->batch, op->cols, 1);
	y = f32_bytes(op->batch, op->rows, 1);
	if (!w || !x || !y)
		return SHAPE_ERR;
	add_operand(list, &op->w, w, 0, dtype_align(op->wtype));
	add_operand(list, &op->x, x, 0, 4);
	add_operand(list, &op->y, y, 1, 4);
	return 0;
}

static int list_rmsnorm(struct wse_hw_op_rmsnorm *op, struct operand_list *list)
{
	uint64_t x;

	if (op->hdr.flags || op->reserved)
		return STREAM_ERR;
	if (!op->dim || !op->rows || !valid_eps(op->eps))
		return SHAPE_ERR;
	x = f32_bytes(op->rows, op->dim, 1);
	if (!x)
		return SHAPE_ERR;
	add_operand(list, &op->x, x, 0, 4);
	add_operand(list, &op->w, 4ull * op->dim, 0, 4);
	add_operand(list, &op->y, x, 1, 4);
	return 0;
}

static int list_rope(struct wse_hw_op_rope *op, struct operand_list *list)
{
	uint64_t x;

	if (op->hdr.flags || op->reserved)
		return STREAM_ERR;
	if (!op->n_heads || !op->head_dim || !op->rows || op->head_dim % 2 ||
	    !valid_theta(op->theta))
		return SHAPE_ERR;
	x = f32_bytes(op->rows, op->n_heads, op->head_dim);
	if (!x)
		return SHAPE_ERR;
	add_operand(list, &op->x, x, 1, 4);
	return 0;
}

static int list_attention(struct wse_hw_op_attention *op, struct operand_list *list)
{
	uint64_t q, kv;

	if (op->hdr.flags)
		return STREAM_ERR;
	if (!op->n_heads || !op->n_kv_heads || !op->head_dim || !op->n_tokens ||
	    op->n_heads % op->n_kv_heads ||
	    (uint64_t)op->pos + op->n_tokens > op->kv_capacity)
		return SHAPE_ERR;
	q = f32_bytes(op->n_tokens, op->n_heads, op->head_dim);
	kv = f32_bytes(op->kv_capacity, op->n_kv_heads, op->head_dim);
	if (!q || !kv)
		return SHAPE_ERR;
	add_operand(list, &op->q, q, 0, 4);
	add_operand(list, &op->k_cache, kv, 0, 4);
	add_operand(list, &op->v_cache, kv, 0, 4);
	add_operand(list, &op->out, q, 1, 4);
	return 0;
}

static int list_elementwise(struct wse_hw_op_hdr *hdr, uint32_t n, uint32_t reserved,
			    uint64_t *a, uint64_t *b, uint64_t *out, struct operand_list *list)
{
	if (hdr->flags || reserved)
		return STREAM_ERR;
	if (!n)
		return SHAPE_ERR;
	add_operand(list, a, 4ull * n, 0, 4);
	add_operand(list, b, 4ull * n, 0, 4);
	add_operand(list, out, 4ull * n, 1, 4);
	return 0;
}

static int list_embed(struct wse_hw_op_embed *op, struct operand_list *list)
{
	uint64_t table, out;

	if (op->hdr.flags)
		return STREAM_ERR;
	if (!op->dim || !op->vocab || !op->n_tokens || op->wtype >= WSE_HW_DTYPE_COUNT)
		return SHAPE_ERR;
	table = wafer_weight_bytes(op->wtype, op->vocab, op->dim);
	out = f32_bytes(op->n_tokens, op->dim, 1);
	if (!table || !out)
		return SHAPE_ERR;
	add_operand(list, &op->table, table, 0, dtype_align(op->wtype));
	add_operand(list, &op->tokens, 4ull * op->n_tokens, 0, 4);
	add_operand(list, &op->out, out, 1, 4);
	return 0;
}

static int list_softmax(struct wse_hw_op_softmax *op, struct operand_list *list)
{
	uint64_t x;

	if (op->hdr.flags)
		return STREAM_ERR;
	if (!op->n || !op->rows)
		return SHAPE_ERR;
	x = f32_bytes(op->rows, op->n, 1);
	if (!x)
		return SHAPE_ERR;
	add_operand(list, &op->x, x, 0, 4);
	add_operand(list, &op->y, x, 1, 4);
	return 0;
}

static int list_argmax(struct wse_hw_op_argmax *op, struct operand_list *list)
{
	uint64_t x;

	if (op->hdr.flags)
		return STREAM_ERR;
	if (!op->n || !op->rows)
		return SHAPE_ERR;
	x = f32_bytes(op->rows, op->n, 1);
	if (!x)
		return SHAPE_ERR;
	add_operand(list, &op->x, x, 0, 4);
	add_operand(list, &op->out, 4ull * op->rows, 1, 4);
	return 0;
}

static int list_topk(struct wse_hw_op_topk *op, struct operand_list *list)
{
	uint64_t x, out;

	if (op->hdr.flags || op->reserved)
		return STREAM_ERR;
	if (!op->n || !op->k || !op->rows || op->k > op->n)
		return SHAPE_ERR;
	x = f32_bytes(op->rows, op->n, 1);
	out = f32_bytes(op->rows, op->k, 1);
	if (!x || !out)
		return SHAPE_ERR;
	add_operand(list, &op->x, x, 0, 4);
	add_operand(list, &op->out_index, out, 1, 4);
	add_operand(list, &op->out_value, out, 1, 4);
	return 0;
}

static int list_layer(struct wse_hw_op_layer *op, struct operand_list *list)
{
	uint64_t q_dim = (uint64_t)op->n_heads * op->head_dim;
	uint64_t kv_dim = (uint64_t)op->n_kv_heads * op->head_dim;
	uint64_t x, wq, wkv, wo, wup, wdown, cache, scratch, per_token;
	uint32_t align = dtype_align(op->wtype);

	if (op->hdr.flags || op->reserved)
		return STREAM_ERR;
	if (!op->dim || !op->hidden_dim || !op->n_heads || !op->n_kv_heads || !op->head_dim ||
	    !op->n_tokens || op->head_dim % 2 || op->n_heads % op->n_kv_heads ||
	    (uint64_t)op->pos + op->n_tokens > op->kv_capacity ||
	    op->wtype >= WSE_HW_DTYPE_COUNT || !valid_eps(op->eps) || !valid_theta(op->rope_theta))
		return SHAPE_ERR;
	/* The steps of the layer (wafer_layer_steps) must be expressible as records. */
	if (q_dim > UINT32_MAX || kv_dim > UINT32_MAX ||
	    (uint64_t)op->n_tokens * op->hidden_dim > UINT32_MAX)
		return SHAPE_ERR;
	x = f32_bytes(op->n_tokens, op->dim, 1);
	wq = wafer_weight_bytes(op->wtype, q_dim, op->dim);
	wkv = wafer_weight_bytes(op->wtype, kv_dim, op->dim);
	wo = wafer_weight_bytes(op->wtype, op->dim, q_dim);
	wup = wafer_weight_bytes(op->wtype, op->hidden_dim, op->dim);
	wdown = wafer_weight_bytes(op->wtype, op->dim, op->hidden_dim);
	cache = f32_bytes(op->kv_capacity, kv_dim, 1);
	per_token = op->dim + 2 * q_dim + 2ull * op->hidden_dim;
	scratch = f32_bytes(op->n_tokens, per_token, 1);
	if (!x || !wq || !wkv || !wo || !wup || !wdown || !cache || !scratch)
		return SHAPE_ERR;
	add_operand(list, &op->x, x, 1, 4);
	add_operand(list, &op->attn_norm, 4ull * op->dim, 0, 4);
	add_operand(list, &op->wq, wq, 0, align);
	add_operand(list, &op->wk, wkv, 0, align);
	add_operand(list, &op->wv, wkv, 0, align);
	add_operand(list, &op->wo, wo, 0, align);
	add_operand(list, &op->ffn_norm, 4ull * op->dim, 0, 4);
	add_operand(list, &op->w_gate, wup, 0, align);
	add_operand(list, &op->w_down, wdown, 0, align);
	add_operand(list, &op->w_up, wup, 0, align);
	add_operand(list, &op->k_cache, cache, 1, 4);
	add_operand(list, &op->v_cache, cache, 1, 4);
	add_operand(list, &op->scratch, scratch, 1, 4);
	return 0;
}

/* Negative wse_hw_status, or 0 with the record's operands in list. */
static int list_operands(void *record, struct operand_list *list)
{
	union wafer_record *op = record;
	uint16_t code = op->hdr.op;

	list->n = 0;
	if (code >= WSE_OP_COUNT)
		return -WSE_HW_STATUS_ERR_OPCODE;
	if (op->hdr.length != record_size[code])
		return STREAM_ERR;
	switch (code) {
	case WSE_OP_NOP:
		return op->hdr.flags ? STREAM_ERR : 0;
	case WSE_OP_COPY:
		if (op->hdr.flags)
			return STREAM_ERR;
		add_operand(list, &op->copy.src, op->copy.bytes, 0, 1);
		add_operand(list, &op->copy.dst, op->copy.bytes, 1, 1);
		return 0;
	case WSE_OP_MATMUL:
		return list_matmul(&op->matmul, list);
	case WSE_OP_RMSNORM:
		return list_rmsnorm(&op->rmsnorm, list);
	case WSE_OP_ROPE:
		return list_rope(&op->rope, list);
	case WSE_OP_ATTENTION:
		return list_attention(&op->attention, list);
	case WSE_OP_SILU_MUL:
		return list_elementwise(&op->hdr, op->silu_mul.n, op->silu_mul.reserved,
					&op->silu_mul.gate, &op->silu_mul.up, &op->silu_mul.out, list);
	case WSE_OP_ADD:
		return list_elementwise(&op->hdr, op->add.n, op->add.reserved,
					&op->add.a, &op->add.b, &op->add.out, list);
	case WSE_OP_EMBED:
		return list_embed(&op->embed, list);
	case WSE_OP_SOFTMAX:
		return list_softmax(&op->softmax, list);
	case WSE_OP_ARGMAX:
		return list_argmax(&op->argmax, list);
	case WSE_OP_TOPK:
		return list_topk(&op->topk, list);
	case WSE_OP_LAYER:
		return list_layer(&op->layer, list);
	default:
		return -WSE_HW_STATUS_ERR_OPCODE;
	}
}

int wafer_op_operands(void *op, struct wafer_operand operands[WAFER_MAX_OPERANDS])
{
	struct operand_list list;
	int err = list_operands(op, &list);

	if (err)
		return err;
	for (int i = 0; i < list.n; i++)
		operands[i] = (struct wafer_operand){
			list.op[i].addr, list.op[i].bytes, list.op[i].writes
		};
	return list.n;
}

/* ---- execution ------------------------------------------------------------------------ */

int wafer_resolve_region(const struct wafer *wafer, const struct wse_hw_op_hdr *hdr,
			 struct wafer_region *region)
{
	const struct wse_hw_region *r = &hdr->region;

	if (!r->w && !r->h) {
		if (r->x || r->y)
			return WSE_HW_STATUS_ERR_REGION;
		*region = (struct wafer_region){ 0, 0, wafer->grid_w, wafer->grid_h };
		return WSE_HW_STATUS_OK;
	}
	if (!r->w || !r->h || (uint32_t)r->x + r->w > wafer->grid_w ||
	    (uint32_t)r->y + r->h > wafer->grid_h)
		return WSE_HW_STATUS_ERR_REGION;
	*region = (struct wafer_region){ r->x, r->y, r->w, r->h };
	return WSE_HW_STATUS_OK;
}

static int exact_alias_allowed(uint16_t code)
{
	return code == WSE_OP_ADD || code == WSE_OP_SILU_MUL || code == WSE_OP_RMSNORM ||
	       code == WSE_OP_SOFTMAX;
}

static int check_operands(const struct wafer *wafer, uint16_t code,
			  const struct operand_list *list)
{
	for (int i = 0; i < list->n; i++) {
		const struct operand_info *o = &list->op[i];

		if (!o->bytes)
			continue;
		if (*o->addr > wafer->sram_bytes || o->bytes > wafer->sram_bytes - *o->addr ||
		    *o->addr % o->align)
			return WSE_HW_STATUS_ERR_FAULT;
	}
	if (code == WSE_OP_COPY)
		return WSE_HW_STATUS_OK;
	for (int i = 0; i < list->n; i++) {
		const struct operand_info *o = &list->op[i];

		if (!o->writes)
			continue;
		for (int j = 0; j < list->n; j++) {
			const struct operand_info *p = &list->op[j];

			if (j == i || *o->addr >= *p->addr + p->bytes ||
			    *p->addr >= *o->addr + o->bytes)
				continue;
			if (exact_alias_allowed(code) && *o->addr == *p->addr && o->bytes == p->bytes)
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
	uint64_t xn = l->scratch;
	uint64_t q = xn + 4ull * l->n_tokens * l->dim;
	uint64_t att = q + 4 * l->n_tokens * q_dim;
	uint64_t gate = att + 4 * l->n_tokens * q_dim;
	uint64_t up = gate + 4ull * l->n_tokens * l->hidden_dim;
	uint64_t k_new = l->k_cache + kv_row * l->pos, v_new = l->v_cache + kv_row * l->pos;
	struct wse_hw_op_hdr hdr = { .region = l->hdr.region };
	int i = 0;

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
	struct operand_list list;
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
