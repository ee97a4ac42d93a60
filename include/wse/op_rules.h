/* SPDX-License-Identifier: MIT */
/*
 * wse/op_rules.h - the rulebook of the op records in wse/hw_ops.h: which
 * records, flags, dtypes and shapes the device accepts, and the operands
 * (address, extent, read or write) of each record.
 *
 * One table per op, read by one validator, so that libwse (which refuses a
 * bad record at the call that built it) and the wafer model (which executes
 * it) cannot disagree. Header-only: static const tables and static inline
 * functions, compiled into both without a library of its own. Userspace
 * only (libwse, the wafer model, the tests); the kernel never parses op
 * records.
 *
 * Adding an op: its record in wse/hw_ops.h, one entry in wse_op_specs[]
 * here, its kernel in the wafer model. Adding a dtype: enum wse_hw_dtype,
 * one entry in wse_dtypes[] here, its dot kernel.
 */
#ifndef WSE_OP_RULES_H
#define WSE_OP_RULES_H

#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wse/hw_device.h"
#include "wse/hw_ops.h"

/* ---- dtypes ----------------------------------------------------------------- */

struct wse_dtype_info {
	const char *name;
	__u32 block_elems;		/* a row is a whole number of blocks */
	__u32 block_bytes;
	__u32 align;			/* an operand's address must be a multiple */
	__u32 cap;			/* WSE_HW_CAP_* the device needs, 0: always */
	const char *block_rule;		/* why a row length is refused */
	const char *unsupported;	/* why the dtype is refused without cap */
};

#define WSE_RULE_DTYPE(name, elems, bytes, align, cap) \
	WSE_RULE_DTYPE_(name, elems, bytes, align, cap)
#define WSE_RULE_DTYPE_(name, elems, bytes, align, cap)					\
	{ #name, elems, bytes, align, cap, "must be a multiple of " #elems " for " #name,	\
	  "is " #name ", which this device does not support" }

/*
 * Names as GGUF and ggml spell them. cap: only the dtypes of device 1.0 have
 * one; a new dtype has cap 0 and is advertised by WSE_REG_DTYPES alone.
 */
static const struct wse_dtype_info wse_dtypes[WSE_HW_DTYPE_COUNT] = {
	[WSE_HW_DTYPE_F32] = WSE_RULE_DTYPE(F32, 1, 4, 4, 0),
	[WSE_HW_DTYPE_F16] = WSE_RULE_DTYPE(F16, 1, 2, 2, WSE_HW_CAP_F16),
	[WSE_HW_DTYPE_BF16] = WSE_RULE_DTYPE(BF16, 1, 2, 2, WSE_HW_CAP_BF16),
	/* The wafer reads q8_0 bytewise: blocks of 34 bytes have no alignment. */
	[WSE_HW_DTYPE_Q8_0] = WSE_RULE_DTYPE(Q8_0, WSE_Q8_0_BLOCK, WSE_Q8_0_BLOCK_BYTES, 1,
					     WSE_HW_CAP_Q8_0),
};

static_assert(WSE_HW_DTYPE_COUNT <= 32, "WSE_REG_DTYPES holds a bit per dtype");

/* WSE_REG_DTYPES of a device with caps: the dtypes every weight-taking op accepts. */
static inline __u32 wse_dtypes_of_caps(__u32 caps)
{
	__u32 set = 0, n;

	for (n = 0; n < WSE_HW_DTYPE_COUNT; n++)
		if (!(wse_dtypes[n].cap & ~caps))
			set |= 1u << n;
	return set;
}

/*
 * Bytes of a rows x cols matrix of dtype; 0 if dtype is unknown, cols is not
 * a whole number of blocks, or the size overflows.
 */
static inline __u64 wse_dtype_matrix_bytes(__u32 dtype, __u64 rows, __u64 cols)
{
	const struct wse_dtype_info *t;
	__u64 bytes;

	if (dtype >= WSE_HW_DTYPE_COUNT)
		return 0;
	t = &wse_dtypes[dtype];
	if (cols % t->block_elems ||
	    __builtin_mul_overflow(rows, cols / t->block_elems, &bytes) ||
	    __builtin_mul_overflow(bytes, t->block_bytes, &bytes))
		return 0;
	return bytes;
}

/* ---- the rule tables ------------------------------------------------------------ */

enum wse_rule_kind {
	WSE_RULE_END = 0,
	WSE_RULE_NONZERO,		/* a != 0 */
	WSE_RULE_NONZERO_U64,		/* the 64-bit field a != 0 */
	WSE_RULE_EVEN,			/* a % 2 == 0 */
	WSE_RULE_MULTIPLE,		/* a % b == 0 */
	WSE_RULE_NOT_ABOVE,		/* a <= b */
	WSE_RULE_SUM_WITHIN,		/* a + b <= c; c is the field named */
	WSE_RULE_SUM_U32,		/* a + b < 2^32 */
	WSE_RULE_PRODUCT_U32,		/* a * b < 2^32 */
	WSE_RULE_POSITIVE,		/* the float a is finite and > 0 */
};

/* A shape rule over uint32 fields at record offsets a, b, c. */
struct wse_shape_rule {
	__u8 kind;
	__u16 a, b, c;
	const char *field;
	const char *reason;
};

enum wse_elem {
	WSE_ELEM_F32,		/* fp32 activations */
	WSE_ELEM_U32,		/* token ids, indices */
	WSE_ELEM_WEIGHT,	/* the dtype in the record's dtype field */
	WSE_ELEM_BYTES,		/* raw bytes, extent from bytes() */
};

/*
 * An address operand: the uint64 field at addr spans (product of the rows
 * fields) x (product of the cols fields) elements; an offset of 0 stands
 * for a factor of 1 (offset 0 is the header, never a dimension).
 */
struct wse_operand_rule {
	const char *name;
	__u16 addr;
	__u8 writes;
	__u8 elem;		/* enum wse_elem */
	__u16 rows[2], cols[2];
	const char *cols_name;	/* what a weight's block rule names */
	__u64 (*bytes)(const void *record);
};

#define WSE_OP_MAX_RULES	16
#define WSE_OP_MAX_OPERANDS	13

struct wse_op_spec {
	const char *name;
	__u16 size;			/* the record's length */
	__u32 flags;			/* allowed flag bits */
	__u16 reserved;		/* offset of a uint32 that must be 0, or 0 */
	__u16 dtype;			/* offset of the weights' dtype field, or 0 */
	__u32 cap;			/* WSE_HW_CAP_* the op needs, or 0 */
	const char *unsupported;	/* why it is refused without cap */
	/* Its output may lie exactly over an input of the same extent. */
	__u8 in_place;
	__u8 n_operands;
	struct wse_shape_rule rules[WSE_OP_MAX_RULES];
	struct wse_operand_rule operands[WSE_OP_MAX_OPERANDS];
};

/* The little-endian field of bytes (2, 4 or 8) at offset, on any host. */
static inline __u64 wse_rule_field(const void *record, __u16 offset, unsigned int bytes)
{
	const __u8 *p = (const __u8 *)record + offset;
	__u64 v = 0;

	while (bytes--)
		v = v << 8 | p[bytes];
	return v;
}

static inline __u32 wse_rule_u32(const void *record, __u16 offset)
{
	return (__u32)wse_rule_field(record, offset, sizeof(__u32));
}

static inline float wse_rule_float(const void *record, __u16 offset)
{
	__u32 bits = wse_rule_u32(record, offset);
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

static inline __u64 wse_rule_copy_bytes(const void *record)
{
	return wse_rule_field(record, offsetof(struct wse_hw_op_copy, bytes), sizeof(__u64));
}

#define WSE_RULE_LAYER_U32(f) wse_rule_u32(record, offsetof(struct wse_hw_op_layer, f))

static inline __u64 wse_rule_layer_scratch(const void *record)
{
	return wse_hw_layer_scratch_bytes(WSE_RULE_LAYER_U32(dim), WSE_RULE_LAYER_U32(hidden_dim),
					  WSE_RULE_LAYER_U32(n_heads), WSE_RULE_LAYER_U32(head_dim),
					  WSE_RULE_LAYER_U32(n_tokens));
}

#undef WSE_RULE_LAYER_U32

#define WSE_F(type, f)	((__u16)offsetof(struct wse_hw_op_##type, f))
#define WSE_NONZERO(type, f)	{ WSE_RULE_NONZERO, WSE_F(type, f), 0, 0, #f, "must be non-zero" }
#define WSE_EVEN(type, f)		{ WSE_RULE_EVEN, WSE_F(type, f), 0, 0, #f, "must be even" }
#define WSE_MULTIPLE(type, f, g)	\
	{ WSE_RULE_MULTIPLE, WSE_F(type, f), WSE_F(type, g), 0, #f, "must be a multiple of " #g }
#define WSE_NOT_ABOVE(type, f, g)	\
	{ WSE_RULE_NOT_ABOVE, WSE_F(type, f), WSE_F(type, g), 0, #f, "must not be larger than " #g }
#define WSE_SUM_WITHIN(type, f, g, cap)							\
	{ WSE_RULE_SUM_WITHIN, WSE_F(type, f), WSE_F(type, g), WSE_F(type, cap), #cap,		\
	  "must hold " #f " + " #g }
#define WSE_SUM_U32(type, f, g)	\
	{ WSE_RULE_SUM_U32, WSE_F(type, f), WSE_F(type, g), 0, #f, "+ " #g " must be below 2^32" }
#define WSE_PRODUCT_U32(type, f, g)	\
	{ WSE_RULE_PRODUCT_U32, WSE_F(type, f), WSE_F(type, g), 0, #f " * " #g,	\
	  "must be below 2^32" }
#define WSE_POSITIVE(type, f)	\
	{ WSE_RULE_POSITIVE, WSE_F(type, f), 0, 0, #f, "must be a positive finite number" }

/* An fp32 or uint32 operand of r0 * r1 rows of c0 * c1 elements (0: a factor of 1). */
#define WSE_ARRAY(type, f, wr, el, r0, r1, c0, c1) \
	{ #f, WSE_F(type, f), wr, el, { r0, r1 }, { c0, c1 }, NULL, NULL }
#define WSE_IN(type, f, r0, r1, c0, c1)	WSE_ARRAY(type, f, 0, WSE_ELEM_F32, r0, r1, c0, c1)
#define WSE_OUT(type, f, r0, r1, c0, c1)	WSE_ARRAY(type, f, 1, WSE_ELEM_F32, r0, r1, c0, c1)
#define WSE_WEIGHT(type, f, r0, r1, c0, c1, cname) \
	{ #f, WSE_F(type, f), 0, WSE_ELEM_WEIGHT, { r0, r1 }, { c0, c1 }, cname, NULL }
#define WSE_SIZED(type, f, wr, fn) \
	{ #f, WSE_F(type, f), wr, WSE_ELEM_BYTES, { 0, 0 }, { 0, 0 }, NULL, fn }

#define WSE_SPEC(type)	.name = #type, .size = sizeof(struct wse_hw_op_##type)
/* out[i] = f(in1[i], in2[i]) over n fp32; out may be in1 or in2 exactly. */
#define WSE_ELEMENTWISE(type, in1, in2) {						\
		WSE_SPEC(type),								\
		.reserved = WSE_F(type, reserved),					\
		.in_place = 1,								\
		.rules = { WSE_NONZERO(type, n) },					\
		.n_operands = 3,							\
		.operands = { WSE_IN(type, in1, 0, 0, WSE_F(type, n), 0),		\
			      WSE_IN(type, in2, 0, 0, WSE_F(type, n), 0),		\
			      WSE_OUT(type, out, 0, 0, WSE_F(type, n), 0) },		\
	}

static const struct wse_op_spec wse_op_specs[WSE_OP_COUNT] = {
	[WSE_OP_NOP] = { .name = "nop", .size = sizeof(struct wse_hw_op_hdr) },
	[WSE_OP_COPY] = {
		WSE_SPEC(copy),
		.rules = { { WSE_RULE_NONZERO_U64, WSE_F(copy, bytes), 0, 0, "bytes",
			     "must be non-zero" } },
		/* The device relies on this order: src, then dst. */
		.n_operands = 2,
		.operands = { WSE_SIZED(copy, src, 0, wse_rule_copy_bytes),
			      WSE_SIZED(copy, dst, 1, wse_rule_copy_bytes) },
	},
	[WSE_OP_MATMUL] = {
		WSE_SPEC(matmul),
		.flags = WSE_MATMUL_ACCUMULATE,
		.dtype = WSE_F(matmul, wtype),
		.rules = { WSE_NONZERO(matmul, rows), WSE_NONZERO(matmul, cols),
			   WSE_NONZERO(matmul, batch) },
		.n_operands = 3,
		.operands = {
			WSE_WEIGHT(matmul, w, WSE_F(matmul, rows), 0, WSE_F(matmul, cols), 0,
				   "cols"),
			WSE_IN(matmul, x, WSE_F(matmul, batch), 0, WSE_F(matmul, cols), 0),
			WSE_OUT(matmul, y, WSE_F(matmul, batch), 0, WSE_F(matmul, rows), 0),
		},
	},
	[WSE_OP_RMSNORM] = {
		WSE_SPEC(rmsnorm),
		.reserved = WSE_F(rmsnorm, reserved),
		.in_place = 1,
		/* eps keeps an all-zero row at 0 instead of 0 * inf = NaN: it must be > 0. */
		.rules = { WSE_NONZERO(rmsnorm, dim), WSE_NONZERO(rmsnorm, rows),
			   WSE_POSITIVE(rmsnorm, eps) },
		.n_operands = 3,
		.operands = {
			WSE_IN(rmsnorm, x, WSE_F(rmsnorm, rows), 0, WSE_F(rmsnorm, dim), 0),
			WSE_IN(rmsnorm, w, 0, 0, WSE_F(rmsnorm, dim), 0),
			WSE_OUT(rmsnorm, y, WSE_F(rmsnorm, rows), 0, WSE_F(rmsnorm, dim), 0),
		},
	},
	[WSE_OP_ROPE] = {
		WSE_SPEC(rope),
		.reserved = WSE_F(rope, reserved),
		.rules = { WSE_NONZERO(rope, n_heads), WSE_NONZERO(rope, head_dim),
			   WSE_NONZERO(rope, rows), WSE_EVEN(rope, head_dim),
			   WSE_SUM_U32(rope, pos, rows), WSE_POSITIVE(rope, theta) },
		.n_operands = 1,
		.operands = { WSE_OUT(rope, x, WSE_F(rope, rows), 0, WSE_F(rope, n_heads),
				      WSE_F(rope, head_dim)) },
	},
	[WSE_OP_ATTENTION] = {
		WSE_SPEC(attention),
		.rules = { WSE_NONZERO(attention, n_heads), WSE_NONZERO(attention, n_kv_heads),
			   WSE_NONZERO(attention, head_dim), WSE_NONZERO(attention, n_tokens),
			   WSE_NONZERO(attention, kv_capacity),
			   WSE_MULTIPLE(attention, n_heads, n_kv_heads),
			   WSE_SUM_WITHIN(attention, pos, n_tokens, kv_capacity) },
		.n_operands = 4,
		.operands = {
			WSE_IN(attention, q, WSE_F(attention, n_tokens), 0,
			       WSE_F(attention, n_heads), WSE_F(attention, head_dim)),
			WSE_IN(attention, k_cache, WSE_F(attention, kv_capacity), 0,
			       WSE_F(attention, n_kv_heads), WSE_F(attention, head_dim)),
			WSE_IN(attention, v_cache, WSE_F(attention, kv_capacity), 0,
			       WSE_F(attention, n_kv_heads), WSE_F(attention, head_dim)),
			WSE_OUT(attention, out, WSE_F(attention, n_tokens), 0,
				WSE_F(attention, n_heads), WSE_F(attention, head_dim)),
		},
	},
	[WSE_OP_SILU_MUL] = WSE_ELEMENTWISE(silu_mul, gate, up),
	[WSE_OP_ADD] = WSE_ELEMENTWISE(add, a, b),
	[WSE_OP_EMBED] = {
		WSE_SPEC(embed),
		.dtype = WSE_F(embed, wtype),
		.rules = { WSE_NONZERO(embed, dim), WSE_NONZERO(embed, vocab),
			   WSE_NONZERO(embed, n_tokens) },
		.n_operands = 3,
		.operands = {
			WSE_WEIGHT(embed, table, WSE_F(embed, vocab), 0, WSE_F(embed, dim), 0,
				   "dim"),
			WSE_ARRAY(embed, tokens, 0, WSE_ELEM_U32, 0, 0, WSE_F(embed, n_tokens), 0),
			WSE_OUT(embed, out, WSE_F(embed, n_tokens), 0, WSE_F(embed, dim), 0),
		},
	},
	[WSE_OP_SOFTMAX] = {
		WSE_SPEC(softmax),
		.in_place = 1,
		.rules = { WSE_NONZERO(softmax, n), WSE_NONZERO(softmax, rows) },
		.n_operands = 2,
		.operands = { WSE_IN(softmax, x, WSE_F(softmax, rows), 0, WSE_F(softmax, n), 0),
			      WSE_OUT(softmax, y, WSE_F(softmax, rows), 0, WSE_F(softmax, n), 0) },
	},
	[WSE_OP_ARGMAX] = {
		WSE_SPEC(argmax),
		.rules = { WSE_NONZERO(argmax, n), WSE_NONZERO(argmax, rows) },
		.n_operands = 2,
		.operands = {
			WSE_IN(argmax, x, WSE_F(argmax, rows), 0, WSE_F(argmax, n), 0),
			WSE_ARRAY(argmax, out, 1, WSE_ELEM_U32, 0, 0, WSE_F(argmax, rows), 0),
		},
	},
	[WSE_OP_TOPK] = {
		WSE_SPEC(topk),
		.reserved = WSE_F(topk, reserved),
		.rules = { WSE_NONZERO(topk, n), WSE_NONZERO(topk, k), WSE_NONZERO(topk, rows),
			   WSE_NOT_ABOVE(topk, k, n) },
		.n_operands = 3,
		.operands = {
			WSE_IN(topk, x, WSE_F(topk, rows), 0, WSE_F(topk, n), 0),
			WSE_ARRAY(topk, out_index, 1, WSE_ELEM_U32, WSE_F(topk, rows), 0,
				  WSE_F(topk, k), 0),
			WSE_OUT(topk, out_value, WSE_F(topk, rows), 0, WSE_F(topk, k), 0),
		},
	},
	[WSE_OP_LAYER] = {
		WSE_SPEC(layer),
		.reserved = WSE_F(layer, reserved),
		.dtype = WSE_F(layer, wtype),
		.cap = WSE_HW_CAP_FUSED_LAYER,
		.unsupported = "needs a device with the fused layer op",
		.rules = { WSE_NONZERO(layer, dim), WSE_NONZERO(layer, hidden_dim),
			   WSE_NONZERO(layer, n_heads), WSE_NONZERO(layer, n_kv_heads),
			   WSE_NONZERO(layer, head_dim), WSE_NONZERO(layer, n_tokens),
			   WSE_NONZERO(layer, kv_capacity), WSE_EVEN(layer, head_dim),
			   WSE_MULTIPLE(layer, n_heads, n_kv_heads),
			   WSE_SUM_WITHIN(layer, pos, n_tokens, kv_capacity),
			   WSE_POSITIVE(layer, eps), WSE_POSITIVE(layer, rope_theta),
			   /* The layer's steps (wafer_layer_steps) must be records themselves. */
			   WSE_PRODUCT_U32(layer, n_heads, head_dim),
			   /* n_kv_heads * head_dim <= n_heads * head_dim follows. */
			   WSE_PRODUCT_U32(layer, n_tokens, hidden_dim) },
		.n_operands = 13,
		.operands = {
			WSE_OUT(layer, x, WSE_F(layer, n_tokens), 0, WSE_F(layer, dim), 0),
			WSE_IN(layer, attn_norm, 0, 0, WSE_F(layer, dim), 0),
			WSE_WEIGHT(layer, wq, WSE_F(layer, n_heads), WSE_F(layer, head_dim),
				   WSE_F(layer, dim), 0, "dim"),
			WSE_WEIGHT(layer, wk, WSE_F(layer, n_kv_heads), WSE_F(layer, head_dim),
				   WSE_F(layer, dim), 0, "dim"),
			WSE_WEIGHT(layer, wv, WSE_F(layer, n_kv_heads), WSE_F(layer, head_dim),
				   WSE_F(layer, dim), 0, "dim"),
			WSE_WEIGHT(layer, wo, WSE_F(layer, dim), 0, WSE_F(layer, n_heads),
				   WSE_F(layer, head_dim), "n_heads * head_dim"),
			WSE_IN(layer, ffn_norm, 0, 0, WSE_F(layer, dim), 0),
			WSE_WEIGHT(layer, w_gate, WSE_F(layer, hidden_dim), 0, WSE_F(layer, dim), 0,
				   "dim"),
			WSE_WEIGHT(layer, w_down, WSE_F(layer, dim), 0, WSE_F(layer, hidden_dim), 0,
				   "hidden_dim"),
			WSE_WEIGHT(layer, w_up, WSE_F(layer, hidden_dim), 0, WSE_F(layer, dim), 0,
				   "dim"),
			WSE_OUT(layer, k_cache, WSE_F(layer, kv_capacity), 0,
				WSE_F(layer, n_kv_heads), WSE_F(layer, head_dim)),
			WSE_OUT(layer, v_cache, WSE_F(layer, kv_capacity), 0,
				WSE_F(layer, n_kv_heads), WSE_F(layer, head_dim)),
			WSE_SIZED(layer, scratch, 1, wse_rule_layer_scratch),
		},
	},
};

#undef WSE_ELEMENTWISE
#undef WSE_SPEC
#undef WSE_SIZED
#undef WSE_WEIGHT
#undef WSE_OUT
#undef WSE_IN
#undef WSE_ARRAY
#undef WSE_POSITIVE
#undef WSE_PRODUCT_U32
#undef WSE_SUM_U32
#undef WSE_SUM_WITHIN
#undef WSE_NOT_ABOVE
#undef WSE_MULTIPLE
#undef WSE_EVEN
#undef WSE_NONZERO
#undef WSE_F
#undef WSE_RULE_DTYPE_
#undef WSE_RULE_DTYPE

/* ---- the validator --------------------------------------------------------------- */

/* Why a record failed, for a library's errno. */
enum wse_op_fault {
	WSE_OP_FAULT_NONE = 0,
	WSE_OP_FAULT_INVALID,		/* a value the op does not allow */
	WSE_OP_FAULT_OVERFLOW,		/* a size or position does not fit */
	WSE_OP_FAULT_UNSUPPORTED,	/* needs a cap the device lacks */
};

/*
 * The outcome of wse_op_check(): status WSE_HW_STATUS_OK, or the status the
 * device completes the record with, and what failed: "layer: head_dim (15)
 * must be even" is op "layer", field "head_dim", value 15, reason "must be
 * even". field is NULL when the record as a whole is refused.
 */
struct wse_op_verdict {
	__u32 status;		/* enum wse_hw_status */
	__u32 fault;			/* enum wse_op_fault */
	const char *op;			/* NULL for an unknown op code */
	const char *field;
	const char *reason;
	double value;			/* of field, when has_value */
	int has_value;
};

/* One operand of a record that passed: where its address is and what it spans. */
struct wse_op_operand {
	const char *name;
	__u16 offset;		/* of the uint64 address field in the record */
	__u8 writes;
	__u8 align;			/* the address must be a multiple */
	__u64 addr;
	__u64 bytes;			/* never 0 */
};

struct wse_op_operands {
	unsigned int n;
	struct wse_op_operand op[WSE_OP_MAX_OPERANDS];
};

static inline struct wse_op_verdict wse_op_refuse(__u32 status, __u32 fault,
						  const char *op, const char *field,
						  const char *reason)
{
	return (struct wse_op_verdict){ status, fault, op, field, reason, 0, 0 };
}

static inline struct wse_op_verdict wse_op_refuse_value(__u32 fault, const char *op,
							const char *field, const char *reason,
							double value)
{
	return (struct wse_op_verdict){ WSE_HW_STATUS_ERR_SHAPE, fault, op, field, reason,
					value, 1 };
}

/* The spec of a record's op, or NULL for an unknown op code. */
static inline const struct wse_op_spec *wse_op_spec_of(const void *record)
{
	__u64 code = wse_rule_field(record, offsetof(struct wse_hw_op_hdr, op), sizeof(__u16));

	return code < WSE_OP_COUNT ? &wse_op_specs[code] : NULL;
}

static inline struct wse_op_verdict wse_op_check_rule(const struct wse_op_spec *spec,
						      const struct wse_shape_rule *r,
						      const void *record)
{
	__u64 a = wse_rule_u32(record, r->a), b = 0, c = 0;
	__u32 fault = WSE_OP_FAULT_INVALID;
	double value = (double)a;
	int ok;

	if (r->b)
		b = wse_rule_u32(record, r->b);
	if (r->c)
		c = wse_rule_u32(record, r->c);
	switch (r->kind) {
	case WSE_RULE_NONZERO:
		ok = a != 0;
		break;
	case WSE_RULE_NONZERO_U64:
		a = wse_rule_field(record, r->a, sizeof(__u64));
		value = (double)a;
		ok = a != 0;
		break;
	case WSE_RULE_EVEN:
		ok = a % 2 == 0;
		break;
	case WSE_RULE_MULTIPLE:
		ok = a % b == 0;	/* b is checked non-zero by an earlier rule */
		break;
	case WSE_RULE_NOT_ABOVE:
		ok = a <= b;
		break;
	case WSE_RULE_SUM_WITHIN:
		ok = a + b <= c;
		value = (double)c;
		break;
	case WSE_RULE_SUM_U32:
		ok = a + b <= UINT32_MAX;
		fault = WSE_OP_FAULT_OVERFLOW;
		break;
	case WSE_RULE_PRODUCT_U32:
		ok = a * b <= UINT32_MAX;
		value = (double)(a * b);
		fault = WSE_OP_FAULT_OVERFLOW;
		break;
	case WSE_RULE_POSITIVE: {
		float f = wse_rule_float(record, r->a);

		/* NaN fails both comparisons. */
		ok = f > 0.0f && f <= FLT_MAX;
		value = f;
		break;
	}
	default:
		ok = 0;
		break;
	}
	if (ok)
		return wse_op_refuse(WSE_HW_STATUS_OK, WSE_OP_FAULT_NONE, NULL, NULL, NULL);
	return wse_op_refuse_value(fault, spec->name, r->field, r->reason, value);
}

static inline __u64 wse_op_factor(const void *record, const __u16 offsets[2])
{
	__u64 f = 1;

	for (int i = 0; i < 2; i++)
		if (offsets[i])
			f *= wse_rule_u32(record, offsets[i]);	/* two uint32: no overflow */
	return f;
}

/* The extent of one operand into *out, or why it has none. */
static inline struct wse_op_verdict wse_op_measure(const struct wse_op_spec *spec,
						   const struct wse_operand_rule *o,
						   const void *record, __u32 dtype,
						   struct wse_op_operand *out)
{
	__u64 rows = wse_op_factor(record, o->rows), cols = wse_op_factor(record, o->cols);
	const struct wse_dtype_info *t = &wse_dtypes[WSE_HW_DTYPE_F32];

	*out = (struct wse_op_operand){ o->name, o->addr, o->writes, 1,
					wse_rule_field(record, o->addr, sizeof(__u64)), 0 };
	if (o->elem == WSE_ELEM_BYTES) {
		out->bytes = o->bytes(record);
	} else {
		if (o->elem == WSE_ELEM_WEIGHT)
			t = &wse_dtypes[dtype];
		out->align = (__u8)t->align;
		if (cols % t->block_elems)
			return wse_op_refuse_value(WSE_OP_FAULT_INVALID, spec->name, o->cols_name,
						   t->block_rule, (double)cols);
		out->bytes = wse_dtype_matrix_bytes(o->elem == WSE_ELEM_WEIGHT ? dtype :
						    WSE_HW_DTYPE_F32, rows, cols);
	}
	/* Every dimension is non-zero by now: 0 bytes means the size overflowed. */
	if (!out->bytes)
		return wse_op_refuse(WSE_HW_STATUS_ERR_SHAPE, WSE_OP_FAULT_OVERFLOW, spec->name,
				     o->name, "size overflows 64 bits");
	return wse_op_refuse(WSE_HW_STATUS_OK, WSE_OP_FAULT_NONE, NULL, NULL, NULL);
}

/*
 * Checks one record against the rulebook: op code (ERR_OPCODE), length,
 * flags and reserved fields (ERR_STREAM), then the device's caps, shape
 * rules, dtype and every operand's extent (ERR_SHAPE); the first rule that
 * fails decides. record holds at least a header; no byte past hdr.length is
 * read, nor past the header before the length is known to be right. caps
 * are WSE_HW_CAP_* (~0u: all). When the record passes and operands is not
 * NULL it gets the record's operands, in the table's order.
 */
static inline struct wse_op_verdict wse_op_check(const void *record, __u32 caps,
						 struct wse_op_operands *operands)
{
	const struct wse_op_spec *spec = wse_op_spec_of(record);
	__u64 length = wse_rule_field(record, offsetof(struct wse_hw_op_hdr, length),
					 sizeof(__u16));
	struct wse_op_operand scratch_operand;
	struct wse_op_verdict v;
	__u32 dtype = 0;

	if (operands)
		operands->n = 0;
	if (!spec)
		return wse_op_refuse(WSE_HW_STATUS_ERR_OPCODE, WSE_OP_FAULT_INVALID, NULL, NULL,
				     "unknown op code");
	if (length != spec->size)
		return wse_op_refuse(WSE_HW_STATUS_ERR_STREAM, WSE_OP_FAULT_INVALID, spec->name,
				     "length", "is not the op's record size");
	if (wse_rule_u32(record, offsetof(struct wse_hw_op_hdr, flags)) & ~spec->flags)
		return wse_op_refuse(WSE_HW_STATUS_ERR_STREAM, WSE_OP_FAULT_INVALID, spec->name,
				     "flags", "has bits the op does not define");
	if (spec->reserved && wse_rule_u32(record, spec->reserved))
		return wse_op_refuse(WSE_HW_STATUS_ERR_STREAM, WSE_OP_FAULT_INVALID, spec->name,
				     "reserved", "must be 0");
	if (spec->cap & ~caps)
		return wse_op_refuse(WSE_HW_STATUS_ERR_OPCODE, WSE_OP_FAULT_UNSUPPORTED, spec->name,
				     NULL, spec->unsupported);
	for (const struct wse_shape_rule *r = spec->rules;
	     r < spec->rules + WSE_OP_MAX_RULES && r->kind != WSE_RULE_END; r++) {
		v = wse_op_check_rule(spec, r, record);
		if (v.status)
			return v;
	}
	if (spec->dtype) {
		dtype = wse_rule_u32(record, spec->dtype);
		if (dtype >= WSE_HW_DTYPE_COUNT)
			return wse_op_refuse_value(WSE_OP_FAULT_INVALID, spec->name, "wtype",
						   "is not a known dtype", dtype);
		if (wse_dtypes[dtype].cap & ~caps)
			return wse_op_refuse_value(WSE_OP_FAULT_UNSUPPORTED, spec->name, "wtype",
						   wse_dtypes[dtype].unsupported, dtype);
	}
	for (unsigned int i = 0; i < spec->n_operands; i++) {
		struct wse_op_operand *out = operands ? &operands->op[i] : &scratch_operand;

		v = wse_op_measure(spec, &spec->operands[i], record, dtype, out);
		if (v.status) {
			if (operands)
				operands->n = 0;
			return v;
		}
	}
	if (operands)
		operands->n = spec->n_operands;
	return wse_op_refuse(WSE_HW_STATUS_OK, WSE_OP_FAULT_NONE, spec->name, NULL, NULL);
}

/*
 * Why a PE region is refused, or NULL when it lies inside a grid_w x
 * grid_h grid (w = h = 0: the whole grid). A grid of 0 x 0 is not known
 * yet: only the region's own form is checked.
 */
static inline const char *wse_region_fault(const struct wse_hw_region *r, __u32 grid_w,
					   __u32 grid_h)
{
	if (!r->w && !r->h)
		return r->x || r->y ? "whole-wafer region (0x0) must start at 0,0" : NULL;
	if (!r->w || !r->h)
		return "one side is 0";
	if (grid_w && ((__u32)r->x + r->w > grid_w || (__u32)r->y + r->h > grid_h))
		return "is outside the PE grid";
	return NULL;
}

#endif /* WSE_OP_RULES_H */
