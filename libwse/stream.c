/* SPDX-License-Identifier: MIT */
/*
 * stream.c - the op-stream builder. Each append builds the device's record
 * and checks it with the device's own rulebook (wse/op_rules.h, which the
 * wafer model runs too), so that a bad shape is reported at the call that
 * made it, with the field's name, instead of as a job status later.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libwse/internal.h"
#include "wse/hw_device.h"
#include "wse/hw_ops.h"
#include "wse/op_rules.h"

_Static_assert(WSE_STREAM_MAX_DEFAULT == WSE_MAX_STREAM, "stream limit matches wse/hw_device.h");
/* Records are built in host order and the device reads little-endian. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "libwse runs on little-endian hosts");

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
	return wse_dtype_matrix_bytes(dtype, rows, cols);
}

uint64_t wse_layer_scratch_bytes(uint32_t dim, uint32_t hidden_dim, uint32_t n_heads,
				 uint32_t head_dim, uint32_t n_tokens)
{
	return wse_hw_layer_scratch_bytes(dim, hidden_dim, n_heads, head_dim, n_tokens);
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
	const struct wse_hw_region region = { .x = x, .y = y, .w = w, .h = h };
	const char *why = wse_region_fault(&region, s->grid_w, s->grid_h);

	if (why)
		return stream_fail(s, -EINVAL, "region %ux%u at (%u,%u) %s (grid %ux%u)", w, h, x, y,
				   why, s->grid_w, s->grid_h);
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

/* ---- appending a record ------------------------------------------------------ */

/* The device caps (WSE_HW_CAP_*) the rulebook asks for, from WSE_FEATURE_* bits. */
static uint32_t hw_caps_of(uint32_t features)
{
	static const struct { uint32_t feature, cap; } map[] = {
		{ WSE_FEATURE_F16, WSE_HW_CAP_F16 },
		{ WSE_FEATURE_BF16, WSE_HW_CAP_BF16 },
		{ WSE_FEATURE_Q8_0, WSE_HW_CAP_Q8_0 },
		{ WSE_FEATURE_FUSED_LAYER, WSE_HW_CAP_FUSED_LAYER },
	};
	uint32_t caps = 0;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (features & map[i].feature)
			caps |= map[i].cap;
	return caps;
}

/* The rulebook's verdict as an errno and the stream's last error. */
static int refuse(wse_stream *s, const struct wse_op_verdict *v)
{
	int err = v->fault == WSE_OP_FAULT_OVERFLOW ? -EOVERFLOW :
		  v->fault == WSE_OP_FAULT_UNSUPPORTED ? -EOPNOTSUPP : -EINVAL;

	if (!v->field)
		return stream_fail(s, err, "%s: %s", v->op, v->reason);
	if (!v->has_value)
		return stream_fail(s, err, "%s: %s %s", v->op, v->field, v->reason);
	/* Shapes are whole numbers (printed exactly); eps and theta are not. */
	if (v->value >= 0 && v->value < 0x1p64 && v->value == (double)(uint64_t)v->value)
		return stream_fail(s, err, "%s: %s (%llu) %s", v->op, v->field,
				   (unsigned long long)v->value, v->reason);
	return stream_fail(s, err, "%s: %s (%g) %s", v->op, v->field, v->value, v->reason);
}

/*
 * Fills in the header of record (size bytes of op), checks it as the device
 * will, and appends it (-EINVAL for a NULL stream). Beyond the device's
 * rules, no operand may wrap the 64-bit address space (the device would
 * only see a fault).
 */
static int append(wse_stream *s, void *record, uint16_t op, size_t size, uint32_t flags)
{
	struct wse_hw_op_hdr *hdr = record;
	struct wse_op_operands operands;
	struct wse_op_verdict verdict;
	uint64_t end;
	size_t need;

	if (!s)
		return -EINVAL;
	hdr->op = op;
	hdr->length = (uint16_t)size;
	hdr->flags = flags;
	hdr->region.x = s->region[0];
	hdr->region.y = s->region[1];
	hdr->region.w = s->region[2];
	hdr->region.h = s->region[3];
	verdict = wse_op_check(record, hw_caps_of(s->caps), &operands);
	if (verdict.status)
		return refuse(s, &verdict);
	for (unsigned int i = 0; i < operands.n; i++) {
		const struct wse_op_operand *o = &operands.op[i];

		if (__builtin_add_overflow(o->addr, o->bytes, &end))
			return stream_fail(s, -EOVERFLOW,
					   "%s: %s at 0x%llx + %llu bytes wraps the address space",
					   verdict.op, o->name, (unsigned long long)o->addr,
					   (unsigned long long)o->bytes);
	}
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
	memcpy(s->data + s->length, record, size);
	s->length += size;
	s->ops++;
	s->errmsg[0] = 0;
	return 0;
}

/*
 * struct wse_attention and struct wse_layer are the bodies of their records
 * (what follows the header, up to a reserved tail), field for field, so a
 * record takes their bytes whole. libwse's public header cannot include the
 * device's, so the layout is checked here, field by field.
 */
#define SAME_FIELD(args, rec, f)							\
	_Static_assert(offsetof(struct args, f) + sizeof(struct wse_hw_op_hdr) ==	\
		       offsetof(struct rec, f), #args "." #f " is " #rec "." #f)
#define ATTENTION_FIELD(f)	SAME_FIELD(wse_attention, wse_hw_op_attention, f)
#define LAYER_FIELD(f)		SAME_FIELD(wse_layer, wse_hw_op_layer, f)

ATTENTION_FIELD(q); ATTENTION_FIELD(k_cache); ATTENTION_FIELD(v_cache); ATTENTION_FIELD(out);
ATTENTION_FIELD(n_heads); ATTENTION_FIELD(n_kv_heads); ATTENTION_FIELD(head_dim);
ATTENTION_FIELD(n_tokens); ATTENTION_FIELD(pos); ATTENTION_FIELD(kv_capacity);
_Static_assert(sizeof(struct wse_attention) + sizeof(struct wse_hw_op_hdr) ==
	       sizeof(struct wse_hw_op_attention), "struct wse_attention is the whole body");

LAYER_FIELD(x); LAYER_FIELD(attn_norm); LAYER_FIELD(wq); LAYER_FIELD(wk); LAYER_FIELD(wv);
LAYER_FIELD(wo); LAYER_FIELD(ffn_norm); LAYER_FIELD(w_gate); LAYER_FIELD(w_down);
LAYER_FIELD(w_up); LAYER_FIELD(k_cache); LAYER_FIELD(v_cache); LAYER_FIELD(scratch);
LAYER_FIELD(dim); LAYER_FIELD(hidden_dim); LAYER_FIELD(n_heads); LAYER_FIELD(n_kv_heads);
LAYER_FIELD(head_dim); LAYER_FIELD(n_tokens); LAYER_FIELD(pos); LAYER_FIELD(kv_capacity);
LAYER_FIELD(wtype); LAYER_FIELD(eps); LAYER_FIELD(rope_theta);
/* Up to rope_theta: struct wse_layer may end in padding, which must not reach reserved. */
#define LAYER_BODY_BYTES (offsetof(struct wse_hw_op_layer, reserved) - sizeof(struct wse_hw_op_hdr))
_Static_assert(offsetof(struct wse_layer, rope_theta) + sizeof(float) == LAYER_BODY_BYTES,
	       "struct wse_layer is the LAYER record's body but reserved");

static void set_body(void *record, const void *args, size_t bytes)
{
	memcpy((uint8_t *)record + sizeof(struct wse_hw_op_hdr), args, bytes);
}

/* ---- ops ------------------------------------------------------------------- */

int wse_stream_nop(wse_stream *s)
{
	struct wse_hw_op_hdr rec = { 0 };

	return append(s, &rec, WSE_OP_NOP, sizeof(rec), 0);
}

int wse_stream_copy(wse_stream *s, uint64_t dst, uint64_t src, uint64_t bytes)
{
	struct wse_hw_op_copy rec = { .src = src, .dst = dst, .bytes = bytes };

	return append(s, &rec, WSE_OP_COPY, sizeof(rec), 0);
}

int wse_stream_matmul(wse_stream *s, const struct wse_matmul *op)
{
	struct wse_hw_op_matmul rec;

	if (!s)
		return -EINVAL;
	if (!op)
		return stream_fail(s, -EINVAL, "matmul: no arguments");
	rec = (struct wse_hw_op_matmul){ .w = op->w, .x = op->x, .y = op->y, .rows = op->rows,
					 .cols = op->cols, .batch = op->batch,
					 .wtype = op->wtype };
	return append(s, &rec, WSE_OP_MATMUL, sizeof(rec),
		      op->accumulate ? WSE_MATMUL_ACCUMULATE : 0);
}

int wse_stream_rmsnorm(wse_stream *s, uint64_t x, uint64_t w, uint64_t y,
		       uint32_t dim, uint32_t rows, float eps)
{
	struct wse_hw_op_rmsnorm rec = { .x = x, .w = w, .y = y, .dim = dim, .rows = rows,
					 .eps = eps };

	return append(s, &rec, WSE_OP_RMSNORM, sizeof(rec), 0);
}

int wse_stream_rope(wse_stream *s, uint64_t x, uint32_t n_heads, uint32_t head_dim,
		    uint32_t rows, uint32_t pos, float theta)
{
	struct wse_hw_op_rope rec = { .x = x, .n_heads = n_heads, .head_dim = head_dim,
				      .rows = rows, .pos = pos, .theta = theta };

	return append(s, &rec, WSE_OP_ROPE, sizeof(rec), 0);
}

int wse_stream_attention(wse_stream *s, const struct wse_attention *op)
{
	struct wse_hw_op_attention rec = { 0 };

	if (!s)
		return -EINVAL;
	if (!op)
		return stream_fail(s, -EINVAL, "attention: no arguments");
	set_body(&rec, op, sizeof(*op));
	return append(s, &rec, WSE_OP_ATTENTION, sizeof(rec), 0);
}

int wse_stream_silu_mul(wse_stream *s, uint64_t gate, uint64_t up, uint64_t out, uint32_t n)
{
	struct wse_hw_op_silu_mul rec = { .gate = gate, .up = up, .out = out, .n = n };

	return append(s, &rec, WSE_OP_SILU_MUL, sizeof(rec), 0);
}

int wse_stream_add(wse_stream *s, uint64_t a, uint64_t b, uint64_t out, uint32_t n)
{
	struct wse_hw_op_add rec = { .a = a, .b = b, .out = out, .n = n };

	return append(s, &rec, WSE_OP_ADD, sizeof(rec), 0);
}

int wse_stream_embed(wse_stream *s, uint64_t table, uint64_t tokens, uint64_t out,
		     uint32_t dim, uint32_t vocab, uint32_t n_tokens, uint32_t wtype)
{
	struct wse_hw_op_embed rec = { .table = table, .tokens = tokens, .out = out,
				       .dim = dim, .vocab = vocab, .n_tokens = n_tokens,
				       .wtype = wtype };

	return append(s, &rec, WSE_OP_EMBED, sizeof(rec), 0);
}

int wse_stream_softmax(wse_stream *s, uint64_t x, uint64_t y, uint32_t n, uint32_t rows)
{
	struct wse_hw_op_softmax rec = { .x = x, .y = y, .n = n, .rows = rows };

	return append(s, &rec, WSE_OP_SOFTMAX, sizeof(rec), 0);
}

int wse_stream_argmax(wse_stream *s, uint64_t x, uint64_t out, uint32_t n, uint32_t rows)
{
	struct wse_hw_op_argmax rec = { .x = x, .out = out, .n = n, .rows = rows };

	return append(s, &rec, WSE_OP_ARGMAX, sizeof(rec), 0);
}

int wse_stream_topk(wse_stream *s, uint64_t x, uint64_t out_index, uint64_t out_value,
		    uint32_t n, uint32_t k, uint32_t rows)
{
	struct wse_hw_op_topk rec = { .x = x, .out_index = out_index, .out_value = out_value,
				      .n = n, .k = k, .rows = rows };

	return append(s, &rec, WSE_OP_TOPK, sizeof(rec), 0);
}

int wse_stream_layer(wse_stream *s, const struct wse_layer *op)
{
	struct wse_hw_op_layer rec = { 0 };

	if (!s)
		return -EINVAL;
	if (!op)
		return stream_fail(s, -EINVAL, "layer: no arguments");
	set_body(&rec, op, LAYER_BODY_BYTES);
	return append(s, &rec, WSE_OP_LAYER, sizeof(rec), 0);
}
