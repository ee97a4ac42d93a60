/* SPDX-License-Identifier: MIT */
/*
 * stream.c - the op-stream builder. Each append checks the record with the
 * rules the device applies (wse/hw_ops.h, wafer_op_operands()), so that
 * a bad shape is reported at the call that made it, with the field's name,
 * instead of as a job status later.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libwse/internal.h"
#include "wse/hw_device.h"
#include "wse/hw_ops.h"

_Static_assert(WSE_HW_DTYPE_Q8_0 == 3 && WSE_HW_DTYPE_COUNT == 4, "dtype numbering matches wse/hw_ops.h");
_Static_assert(WSE_STREAM_MAX_DEFAULT == WSE_MAX_STREAM, "stream limit matches wse/hw_ops.h");

static int stream_fail(wse_stream *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int stream_fail(wse_stream *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wse__vfailbuf(s->errmsg, sizeof(s->errmsg), err, fmt, ap);
	va_end(ap);
	return err;
}

uint64_t wse_dtype_bytes(uint32_t dtype, uint64_t rows, uint64_t cols)
{
	uint64_t elems;

	if (rows == 0 || cols == 0 || __builtin_mul_overflow(rows, cols, &elems))
		return 0;
	switch (dtype) {
	case WSE_HW_DTYPE_F32:
		return __builtin_mul_overflow(elems, 4, &elems) ? 0 : elems;
	case WSE_HW_DTYPE_F16:
	case WSE_HW_DTYPE_BF16:
		return __builtin_mul_overflow(elems, 2, &elems) ? 0 : elems;
	case WSE_HW_DTYPE_Q8_0:
		if (cols % WSE_Q8_0_BLOCK)
			return 0;
		return __builtin_mul_overflow(elems / WSE_Q8_0_BLOCK, WSE_Q8_0_BLOCK_BYTES, &elems)
			? 0 : elems;
	}
	return 0;
}

uint64_t wse_layer_scratch_bytes(uint32_t dim, uint32_t hidden_dim, uint32_t n_heads,
				 uint32_t head_dim, uint32_t n_tokens)
{
	/* Every factor is < 2^32 and the sum < 2^35 * 2^32, so only the last product can wrap. */
	uint64_t q = (uint64_t)n_heads * head_dim;
	uint64_t row = (uint64_t)dim + 2 * q + 2ull * hidden_dim, bytes;

	if (__builtin_mul_overflow(row, 4ull * n_tokens, &bytes))
		return 0;
	return bytes;
}

int wse_stream_create(size_t max_bytes, wse_stream **out)
{
	wse_stream *s;

	if (!out)
		return -EINVAL;
	if (max_bytes == 0)
		max_bytes = WSE_STREAM_MAX_DEFAULT;
	if (max_bytes < sizeof(struct wse_hw_op_hdr))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->max_bytes = max_bytes;
	s->caps = ~0u;
	*out = s;
	return 0;
}

int wse_stream_set_limits(wse_stream *s, uint32_t grid_width, uint32_t grid_height,
			  uint32_t caps, size_t max_bytes)
{
	if (!s)
		return -EINVAL;
	if ((grid_width == 0) != (grid_height == 0))
		return stream_fail(s, -EINVAL, "grid %ux%u: both sides or neither must be 0",
				   grid_width, grid_height);
	if (max_bytes && max_bytes < s->length)
		return stream_fail(s, -EINVAL, "stream limit %zu is below its current length %zu",
				   max_bytes, s->length);
	s->grid_w = grid_width;
	s->grid_h = grid_height;
	s->caps = caps;
	if (max_bytes)
		s->max_bytes = max_bytes;
	return 0;
}

void wse_stream_destroy(wse_stream *s)
{
	if (!s)
		return;
	free(s->data);
	free(s);
}

void wse_stream_reset(wse_stream *s)
{
	if (!s)
		return;
	s->length = 0;
	s->ops = 0;
	s->errmsg[0] = 0;
}

size_t wse_stream_length(const wse_stream *s)
{
	return s ? s->length : 0;
}

unsigned wse_stream_ops(const wse_stream *s)
{
	return s ? s->ops : 0;
}

const void *wse_stream_data(const wse_stream *s)
{
	return s ? s->data : NULL;
}

const char *wse_stream_last_error(const wse_stream *s)
{
	return s ? s->errmsg : "no stream handle";
}

static int region_check(wse_stream *s, uint16_t x, uint16_t y, uint16_t w, uint16_t h)
{
	if (w == 0 && h == 0) {
		if (x || y)
			return stream_fail(s, -EINVAL, "region: whole-wafer region (0x0) must start at 0,0");
		return 0;
	}
	if (w == 0 || h == 0)
		return stream_fail(s, -EINVAL, "region %ux%u: one side is 0", w, h);
	if (s->grid_w && ((uint32_t)x + w > s->grid_w || (uint32_t)y + h > s->grid_h))
		return stream_fail(s, -EINVAL,
				   "region %ux%u at (%u,%u) is outside the %ux%u PE grid",
				   w, h, x, y, s->grid_w, s->grid_h);
	return 0;
}

int wse_stream_set_region(wse_stream *s, uint16_t x, uint16_t y, uint16_t w, uint16_t h)
{
	int err;

	if (!s)
		return -EINVAL;
	err = region_check(s, x, y, w, h);
	if (err)
		return err;
	s->region[0] = x;
	s->region[1] = y;
	s->region[2] = w;
	s->region[3] = h;
	return 0;
}

/* ---- validation helpers: each returns 0 or records the failure ---------- */

static int need_nonzero(wse_stream *s, const char *op, const char *field, uint64_t v)
{
	if (v == 0)
		return stream_fail(s, -EINVAL, "%s: %s is 0", op, field);
	return 0;
}

/* *out = a * b * c * 4 (fp32 elements), failing on overflow. */
static int f32_bytes(wse_stream *s, const char *op, const char *what,
		     uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
	uint64_t v;

	if (__builtin_mul_overflow(a, b, &v) || __builtin_mul_overflow(v, c, &v) ||
	    __builtin_mul_overflow(v, 4, &v))
		return stream_fail(s, -EOVERFLOW, "%s: size of %s overflows", op, what);
	*out = v;
	return 0;
}

/* [addr, addr + bytes) must not wrap around the 64-bit address space. */
static int range_ok(wse_stream *s, const char *op, const char *what, uint64_t addr, uint64_t bytes)
{
	uint64_t end;

	if (__builtin_add_overflow(addr, bytes, &end))
		return stream_fail(s, -EOVERFLOW,
				   "%s: %s at 0x%llx + %llu bytes wraps the address space", op, what,
				   (unsigned long long)addr, (unsigned long long)bytes);
	return 0;
}

static int dtype_ok(wse_stream *s, const char *op, uint32_t dtype, uint64_t cols,
		    const char *cols_name)
{
	static const uint32_t cap_of[] = { 0, WSE_FEATURE_F16, WSE_FEATURE_BF16, WSE_FEATURE_Q8_0 };
	static const char *const names[] = { "f32", "f16", "bf16", "q8_0" };

	if (dtype >= WSE_HW_DTYPE_COUNT)
		return stream_fail(s, -EINVAL, "%s: unknown weight dtype %u", op, dtype);
	if (cap_of[dtype] && !(s->caps & cap_of[dtype]))
		return stream_fail(s, -EOPNOTSUPP, "%s: the device does not support %s weights",
				   op, names[dtype]);
	if (dtype == WSE_HW_DTYPE_Q8_0 && cols % WSE_Q8_0_BLOCK)
		return stream_fail(s, -EINVAL,
				   "%s: q8_0 needs %s (%llu) to be a multiple of %u", op, cols_name,
				   (unsigned long long)cols, WSE_Q8_0_BLOCK);
	return 0;
}

static int weight_bytes(wse_stream *s, const char *op, const char *what, uint32_t dtype,
			uint64_t rows, uint64_t cols, uint64_t *out)
{
	*out = wse_dtype_bytes(dtype, rows, cols);
	if (*out == 0)
		return stream_fail(s, -EOVERFLOW, "%s: size of %s (%llu x %llu) overflows", op, what,
				   (unsigned long long)rows, (unsigned long long)cols);
	return 0;
}

static int finite_positive(wse_stream *s, const char *op, const char *field, float v)
{
	if (!isfinite(v) || v <= 0.0f)
		return stream_fail(s, -EINVAL, "%s: %s must be a positive finite number (%g)",
				   op, field, (double)v);
	return 0;
}

/* Appends a record whose header this fills in. */
static int append(wse_stream *s, void *record, uint16_t op, size_t size, uint32_t flags)
{
	struct wse_hw_op_hdr *hdr = record;
	size_t need;

	if (s->length > s->max_bytes || size > s->max_bytes - s->length)
		return stream_fail(s, -ENOSPC,
				   "stream full: %zu bytes + a %zu-byte record exceed its %zu-byte limit",
				   s->length, size, s->max_bytes);
	need = s->length + size;
	if (need > s->capacity) {
		size_t cap = s->capacity ? s->capacity : 512;
		uint8_t *data;

		while (cap < need)
			cap *= 2;
		if (cap > s->max_bytes)
			cap = s->max_bytes;
		data = realloc(s->data, cap);
		if (!data)
			return stream_fail(s, -ENOMEM, "out of memory growing the stream");
		s->data = data;
		s->capacity = cap;
	}
	hdr->op = op;
	hdr->length = (uint16_t)size;
	hdr->flags = flags;
	hdr->region.x = s->region[0];
	hdr->region.y = s->region[1];
	hdr->region.w = s->region[2];
	hdr->region.h = s->region[3];
	memcpy(s->data + s->length, record, size);
	s->length += size;
	s->ops++;
	s->errmsg[0] = 0;
	return 0;
}

#define TRY(expr) do { int err_ = (expr); if (err_) return err_; } while (0)

/* ---- ops ------------------------------------------------------------------- */

int wse_stream_nop(wse_stream *s)
{
	struct wse_hw_op_hdr rec = { 0 };

	if (!s)
		return -EINVAL;
	return append(s, &rec, WSE_OP_NOP, sizeof(rec), 0);
}

int wse_stream_copy(wse_stream *s, uint64_t dst, uint64_t src, uint64_t bytes)
{
	struct wse_hw_op_copy rec = { .src = src, .dst = dst, .bytes = bytes };

	if (!s)
		return -EINVAL;
	TRY(need_nonzero(s, "copy", "bytes", bytes));
	TRY(range_ok(s, "copy", "src", src, bytes));
	TRY(range_ok(s, "copy", "dst", dst, bytes));
	return append(s, &rec, WSE_OP_COPY, sizeof(rec), 0);
}

int wse_stream_matmul(wse_stream *s, const struct wse_matmul *op)
{
	struct wse_hw_op_matmul rec = { 0 };
	uint64_t wb = 0, xb = 0, yb = 0;

	if (!s)
		return -EINVAL;
	if (!op)
		return stream_fail(s, -EINVAL, "matmul: no arguments");
	TRY(need_nonzero(s, "matmul", "rows", op->rows));
	TRY(need_nonzero(s, "matmul", "cols", op->cols));
	TRY(need_nonzero(s, "matmul", "batch", op->batch));
	TRY(dtype_ok(s, "matmul", op->wtype, op->cols, "cols"));
	TRY(weight_bytes(s, "matmul", "w", op->wtype, op->rows, op->cols, &wb));
	TRY(f32_bytes(s, "matmul", "x", op->batch, op->cols, 1, &xb));
	TRY(f32_bytes(s, "matmul", "y", op->batch, op->rows, 1, &yb));
	TRY(range_ok(s, "matmul", "w", op->w, wb));
	TRY(range_ok(s, "matmul", "x", op->x, xb));
	TRY(range_ok(s, "matmul", "y", op->y, yb));
	rec.w = op->w;
	rec.x = op->x;
	rec.y = op->y;
	rec.rows = op->rows;
	rec.cols = op->cols;
	rec.batch = op->batch;
	rec.wtype = op->wtype;
	return append(s, &rec, WSE_OP_MATMUL, sizeof(rec),
		      op->accumulate ? WSE_MATMUL_ACCUMULATE : 0);
}

int wse_stream_rmsnorm(wse_stream *s, uint64_t x, uint64_t w, uint64_t y,
		       uint32_t dim, uint32_t rows, float eps)
{
	struct wse_hw_op_rmsnorm rec = { .x = x, .w = w, .y = y, .dim = dim, .rows = rows,
					 .eps = eps };
	uint64_t xb = 0;

	if (!s)
		return -EINVAL;
	TRY(need_nonzero(s, "rmsnorm", "dim", dim));
	TRY(need_nonzero(s, "rmsnorm", "rows", rows));
	TRY(finite_positive(s, "rmsnorm", "eps", eps));
	TRY(f32_bytes(s, "rmsnorm", "x", rows, dim, 1, &xb));
	TRY(range_ok(s, "rmsnorm", "x", x, xb));
	TRY(range_ok(s, "rmsnorm", "y", y, xb));
	TRY(range_ok(s, "rmsnorm", "w", w, 4ull * dim));
	return append(s, &rec, WSE_OP_RMSNORM, sizeof(rec), 0);
}

int wse_stream_rope(wse_stream *s, uint64_t x, uint32_t n_heads, uint32_t head_dim,
		    uint32_t rows, uint32_t pos, float theta)
{
	struct wse_hw_op_rope rec = { .x = x, .n_heads = n_heads, .head_dim = head_dim,
				      .rows = rows, .pos = pos, .theta = theta };
	uint64_t xb = 0;

	if (!s)
		return -EINVAL;
	TRY(need_nonzero(s, "rope", "n_heads", n_heads));
	TRY(need_nonzero(s, "rope", "head_dim", head_dim));
	TRY(need_nonzero(s, "rope", "rows", rows));
	if (head_dim % 2)
		return stream_fail(s, -EINVAL, "rope: head_dim (%u) must be even", head_dim);
	if ((uint64_t)pos + rows > UINT32_MAX)
		return stream_fail(s, -EOVERFLOW, "rope: pos + rows overflows");
	TRY(finite_positive(s, "rope", "theta", theta));
	TRY(f32_bytes(s, "rope", "x", rows, n_heads, head_dim, &xb));
	TRY(range_ok(s, "rope", "x", x, xb));
	return append(s, &rec, WSE_OP_ROPE, sizeof(rec), 0);
}

static int heads_ok(wse_stream *s, const char *op, uint32_t n_heads, uint32_t n_kv_heads)
{
	if (n_heads % n_kv_heads)
		return stream_fail(s, -EINVAL,
				   "%s: n_heads (%u) must be a multiple of n_kv_heads (%u)",
				   op, n_heads, n_kv_heads);
	return 0;
}

static int cache_ok(wse_stream *s, const char *op, uint32_t pos, uint32_t n_tokens,
		    uint32_t kv_capacity)
{
	if ((uint64_t)pos + n_tokens > kv_capacity)
		return stream_fail(s, -EINVAL,
				   "%s: pos %u + n_tokens %u exceeds kv_capacity %u",
				   op, pos, n_tokens, kv_capacity);
	return 0;
}

int wse_stream_attention(wse_stream *s, const struct wse_attention *op)
{
	struct wse_hw_op_attention rec = { 0 };
	uint64_t qb = 0, cb = 0;

	if (!s)
		return -EINVAL;
	if (!op)
		return stream_fail(s, -EINVAL, "attention: no arguments");
	TRY(need_nonzero(s, "attention", "n_heads", op->n_heads));
	TRY(need_nonzero(s, "attention", "n_kv_heads", op->n_kv_heads));
	TRY(need_nonzero(s, "attention", "head_dim", op->head_dim));
	TRY(need_nonzero(s, "attention", "n_tokens", op->n_tokens));
	TRY(need_nonzero(s, "attention", "kv_capacity", op->kv_capacity));
	TRY(heads_ok(s, "attention", op->n_heads, op->n_kv_heads));
	TRY(cache_ok(s, "attention", op->pos, op->n_tokens, op->kv_capacity));
	TRY(f32_bytes(s, "attention", "q", op->n_tokens, op->n_heads, op->head_dim, &qb));
	TRY(f32_bytes(s, "attention", "kv cache", op->kv_capacity, op->n_kv_heads,
		      op->head_dim, &cb));
	TRY(range_ok(s, "attention", "q", op->q, qb));
	TRY(range_ok(s, "attention", "out", op->out, qb));
	TRY(range_ok(s, "attention", "k_cache", op->k_cache, cb));
	TRY(range_ok(s, "attention", "v_cache", op->v_cache, cb));
	rec.q = op->q;
	rec.k_cache = op->k_cache;
	rec.v_cache = op->v_cache;
	rec.out = op->out;
	rec.n_heads = op->n_heads;
	rec.n_kv_heads = op->n_kv_heads;
	rec.head_dim = op->head_dim;
	rec.n_tokens = op->n_tokens;
	rec.pos = op->pos;
	rec.kv_capacity = op->kv_capacity;
	return append(s, &rec, WSE_OP_ATTENTION, sizeof(rec), 0);
}

static int elementwise(wse_stream *s, uint16_t opcode, const char *op, uint64_t a,
		       const char *an, uint64_t b, const char *bn, uint64_t out, uint32_t n)
{
	struct wse_hw_op_add rec = { .a = a, .b = b, .out = out, .n = n };

	_Static_assert(sizeof(struct wse_hw_op_add) == sizeof(struct wse_hw_op_silu_mul),
		       "add and silu_mul share a layout");
	TRY(need_nonzero(s, op, "n", n));
	TRY(range_ok(s, op, an, a, 4ull * n));
	TRY(range_ok(s, op, bn, b, 4ull * n));
	TRY(range_ok(s, op, "out", out, 4ull * n));
	return append(s, &rec, opcode, sizeof(rec), 0);
}

int wse_stream_silu_mul(wse_stream *s, uint64_t gate, uint64_t up, uint64_t out, uint32_t n)
{
	if (!s)
		return -EINVAL;
	return elementwise(s, WSE_OP_SILU_MUL, "silu_mul", gate, "gate", up, "up", out, n);
}

int wse_stream_add(wse_stream *s, uint64_t a, uint64_t b, uint64_t out, uint32_t n)
{
	if (!s)
		return -EINVAL;
	return elementwise(s, WSE_OP_ADD, "add", a, "a", b, "b", out, n);
}

int wse_stream_embed(wse_stream *s, uint64_t table, uint64_t tokens, uint64_t out,
		     uint32_t dim, uint32_t vocab, uint32_t n_tokens, uint32_t wtype)
{
	struct wse_hw_op_embed rec = { .table = table, .tokens = tokens, .out = out,
				       .dim = dim, .vocab = vocab, .n_tokens = n_tokens,
				       .wtype = wtype };
	uint64_t tb = 0, ob = 0;

	if (!s)
		return -EINVAL;
	TRY(need_nonzero(s, "embed", "dim", dim));
	TRY(need_nonzero(s, "embed", "vocab", vocab));
	TRY(need_nonzero(s, "embed", "n_tokens", n_tokens));
	TRY(dtype_ok(s, "embed", wtype, dim, "dim"));
	TRY(weight_bytes(s, "embed", "table", wtype, vocab, dim, &tb));
	TRY(f32_bytes(s, "embed", "out", n_tokens, dim, 1, &ob));
	TRY(range_ok(s, "embed", "table", table, tb));
	TRY(range_ok(s, "embed", "tokens", tokens, 4ull * n_tokens));
	TRY(range_ok(s, "embed", "out", out, ob));
	return append(s, &rec, WSE_OP_EMBED, sizeof(rec), 0);
}

int wse_stream_softmax(wse_stream *s, uint64_t x, uint64_t y, uint32_t n, uint32_t rows)
{
	struct wse_hw_op_softmax rec = { .x = x, .y = y, .n = n, .rows = rows };
	uint64_t xb = 0;

	if (!s)
		return -EINVAL;
	TRY(need_nonzero(s, "softmax", "n", n));
	TRY(need_nonzero(s, "softmax", "rows", rows));
	TRY(f32_bytes(s, "softmax", "x", rows, n, 1, &xb));
	TRY(range_ok(s, "softmax", "x", x, xb));
	TRY(range_ok(s, "softmax", "y", y, xb));
	return append(s, &rec, WSE_OP_SOFTMAX, sizeof(rec), 0);
}

int wse_stream_argmax(wse_stream *s, uint64_t x, uint64_t out, uint32_t n, uint32_t rows)
{
	struct wse_hw_op_argmax rec = { .x = x, .out = out, .n = n, .rows = rows };
	uint64_t xb = 0;

	if (!s)
		return -EINVAL;
	TRY(need_nonzero(s, "argmax", "n", n));
	TRY(need_nonzero(s, "argmax", "rows", rows));
	TRY(f32_bytes(s, "argmax", "x", rows, n, 1, &xb));
	TRY(range_ok(s, "argmax", "x", x, xb));
	TRY(range_ok(s, "argmax", "out", out, 4ull * rows));
	return append(s, &rec, WSE_OP_ARGMAX, sizeof(rec), 0);
}

int wse_stream_topk(wse_stream *s, uint64_t x, uint64_t out_index, uint64_t out_value,
		    uint32_t n, uint32_t k, uint32_t rows)
{
	struct wse_hw_op_topk rec = { .x = x, .out_index = out_index, .out_value = out_value,
				      .n = n, .k = k, .rows = rows };
	uint64_t xb = 0, ob = 0;

	if (!s)
		return -EINVAL;
	TRY(need_nonzero(s, "topk", "n", n));
	TRY(need_nonzero(s, "topk", "k", k));
	TRY(need_nonzero(s, "topk", "rows", rows));
	if (k > n)
		return stream_fail(s, -EINVAL, "topk: k (%u) is larger than n (%u)", k, n);
	TRY(f32_bytes(s, "topk", "x", rows, n, 1, &xb));
	TRY(f32_bytes(s, "topk", "outputs", rows, k, 1, &ob));
	TRY(range_ok(s, "topk", "x", x, xb));
	TRY(range_ok(s, "topk", "out_index", out_index, ob));
	TRY(range_ok(s, "topk", "out_value", out_value, ob));
	return append(s, &rec, WSE_OP_TOPK, sizeof(rec), 0);
}

int wse_stream_layer(wse_stream *s, const struct wse_layer *op)
{
	struct wse_hw_op_layer rec = { 0 };
	uint64_t q_dim, kv_dim, xb = 0, cb = 0, sb, b = 0;

	if (!s)
		return -EINVAL;
	if (!op)
		return stream_fail(s, -EINVAL, "layer: no arguments");
	if (!(s->caps & WSE_FEATURE_FUSED_LAYER))
		return stream_fail(s, -EOPNOTSUPP, "layer: the device has no fused layer op");
	TRY(need_nonzero(s, "layer", "dim", op->dim));
	TRY(need_nonzero(s, "layer", "hidden_dim", op->hidden_dim));
	TRY(need_nonzero(s, "layer", "n_heads", op->n_heads));
	TRY(need_nonzero(s, "layer", "n_kv_heads", op->n_kv_heads));
	TRY(need_nonzero(s, "layer", "head_dim", op->head_dim));
	TRY(need_nonzero(s, "layer", "n_tokens", op->n_tokens));
	TRY(need_nonzero(s, "layer", "kv_capacity", op->kv_capacity));
	if (op->head_dim % 2)
		return stream_fail(s, -EINVAL, "layer: head_dim (%u) must be even", op->head_dim);
	TRY(heads_ok(s, "layer", op->n_heads, op->n_kv_heads));
	TRY(cache_ok(s, "layer", op->pos, op->n_tokens, op->kv_capacity));
	TRY(finite_positive(s, "layer", "eps", op->eps));
	TRY(finite_positive(s, "layer", "rope_theta", op->rope_theta));
	q_dim = (uint64_t)op->n_heads * op->head_dim;
	kv_dim = (uint64_t)op->n_kv_heads * op->head_dim;
	/* Weights whose rows are dot products over dim, q_dim or hidden_dim. */
	TRY(dtype_ok(s, "layer", op->wtype, op->dim, "dim"));
	TRY(dtype_ok(s, "layer", op->wtype, q_dim, "n_heads * head_dim"));
	TRY(dtype_ok(s, "layer", op->wtype, op->hidden_dim, "hidden_dim"));
	TRY(f32_bytes(s, "layer", "x", op->n_tokens, op->dim, 1, &xb));
	TRY(f32_bytes(s, "layer", "kv cache", op->kv_capacity, kv_dim, 1, &cb));
	sb = wse_layer_scratch_bytes(op->dim, op->hidden_dim, op->n_heads, op->head_dim,
				     op->n_tokens);
	if (!sb)
		return stream_fail(s, -EOVERFLOW, "layer: size of scratch overflows");
	TRY(range_ok(s, "layer", "x", op->x, xb));
	TRY(range_ok(s, "layer", "attn_norm", op->attn_norm, 4ull * op->dim));
	TRY(range_ok(s, "layer", "ffn_norm", op->ffn_norm, 4ull * op->dim));
	TRY(weight_bytes(s, "layer", "wq", op->wtype, q_dim, op->dim, &b));
	TRY(range_ok(s, "layer", "wq", op->wq, b));
	TRY(weight_bytes(s, "layer", "wk", op->wtype, kv_dim, op->dim, &b));
	TRY(range_ok(s, "layer", "wk", op->wk, b));
	TRY(range_ok(s, "layer", "wv", op->wv, b));
	TRY(weight_bytes(s, "layer", "wo", op->wtype, op->dim, q_dim, &b));
	TRY(range_ok(s, "layer", "wo", op->wo, b));
	TRY(weight_bytes(s, "layer", "w_gate", op->wtype, op->hidden_dim, op->dim, &b));
	TRY(range_ok(s, "layer", "w_gate", op->w_gate, b));
	TRY(range_ok(s, "layer", "w_up", op->w_up, b));
	TRY(weight_bytes(s, "layer", "w_down", op->wtype, op->dim, op->hidden_dim, &b));
	TRY(range_ok(s, "layer", "w_down", op->w_down, b));
	TRY(range_ok(s, "layer", "k_cache", op->k_cache, cb));
	TRY(range_ok(s, "layer", "v_cache", op->v_cache, cb));
	TRY(range_ok(s, "layer", "scratch", op->scratch, sb));
	rec.x = op->x;
	rec.attn_norm = op->attn_norm;
	rec.wq = op->wq;
	rec.wk = op->wk;
	rec.wv = op->wv;
	rec.wo = op->wo;
	rec.ffn_norm = op->ffn_norm;
	rec.w_gate = op->w_gate;
	rec.w_down = op->w_down;
	rec.w_up = op->w_up;
	rec.k_cache = op->k_cache;
	rec.v_cache = op->v_cache;
	rec.scratch = op->scratch;
	rec.dim = op->dim;
	rec.hidden_dim = op->hidden_dim;
	rec.n_heads = op->n_heads;
	rec.n_kv_heads = op->n_kv_heads;
	rec.head_dim = op->head_dim;
	rec.n_tokens = op->n_tokens;
	rec.pos = op->pos;
	rec.kv_capacity = op->kv_capacity;
	rec.wtype = op->wtype;
	rec.eps = op->eps;
	rec.rope_theta = op->rope_theta;
	return append(s, &rec, WSE_OP_LAYER, sizeof(rec), 0);
}
