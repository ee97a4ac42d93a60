/* SPDX-License-Identifier: MIT */
/*
 * op_rule_cases.h - the rulebook's cases, shared by test_wafer (the device
 * executes each record) and test_libwse_stream (libwse's builder appends it):
 * one valid record of every op, and every rule of wse/op_rules.h broken in
 * turn, each with the field that must be named and the status and errno it
 * must give. Written out by hand from docs/hw-spec.md and wse/hw_ops.h, not
 * derived from the rulebook's tables, so a rule dropped or changed there
 * fails here in both programs.
 */
#ifndef OP_RULE_CASES_H
#define OP_RULE_CASES_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wse/hw_device.h"
#include "wse/hw_ops.h"
/* For union wafer_record, a record of any op: a type only, nothing is linked. */
#include "qemu-dev/wafer/wafer.h"

#define OP_RULE_HDR(code, type) { .op = (code), .length = sizeof(struct type) }
/* Operand i of a valid record: 64 KiB apart, so none overlaps another. */
#define OP_RULE_AT(i) (0x10000ull * (i))

/*
 * A valid record of every op, small enough to run on a 64 MiB wafer whose
 * SRAM is zero (token ids 0 are in range, and rmsnorm of zeros is 0).
 * Shapes are chosen so that one field more breaks one rule: matmul's cols
 * (48) and embed's dim (48) are no multiple of the q8_0 block.
 */
static const union wafer_record op_rule_valid[WSE_OP_COUNT] = {
	[WSE_OP_NOP] = { .hdr = OP_RULE_HDR(WSE_OP_NOP, wse_hw_op_hdr) },
	[WSE_OP_COPY] = { .copy = { OP_RULE_HDR(WSE_OP_COPY, wse_hw_op_copy),
				    .src = OP_RULE_AT(1), .dst = OP_RULE_AT(2), .bytes = 100 } },
	[WSE_OP_MATMUL] = { .matmul = { OP_RULE_HDR(WSE_OP_MATMUL, wse_hw_op_matmul),
					.w = OP_RULE_AT(1), .x = OP_RULE_AT(2), .y = OP_RULE_AT(3),
					.rows = 5, .cols = 48, .batch = 3,
					.wtype = WSE_HW_DTYPE_F32 } },
	[WSE_OP_RMSNORM] = { .rmsnorm = { OP_RULE_HDR(WSE_OP_RMSNORM, wse_hw_op_rmsnorm),
					  .x = OP_RULE_AT(1), .w = OP_RULE_AT(2),
					  .y = OP_RULE_AT(3), .dim = 24, .rows = 3,
					  .eps = 1e-5f } },
	[WSE_OP_ROPE] = { .rope = { OP_RULE_HDR(WSE_OP_ROPE, wse_hw_op_rope), .x = OP_RULE_AT(1),
				    .n_heads = 3, .head_dim = 10, .rows = 7, .pos = 2,
				    .theta = 10000.0f } },
	[WSE_OP_ATTENTION] = { .attention = {
		OP_RULE_HDR(WSE_OP_ATTENTION, wse_hw_op_attention), .q = OP_RULE_AT(1),
		.k_cache = OP_RULE_AT(2), .v_cache = OP_RULE_AT(3), .out = OP_RULE_AT(4),
		.n_heads = 6, .n_kv_heads = 2, .head_dim = 12, .n_tokens = 5, .pos = 1,
		.kv_capacity = 11 } },
	[WSE_OP_SILU_MUL] = { .silu_mul = { OP_RULE_HDR(WSE_OP_SILU_MUL, wse_hw_op_silu_mul),
					    .gate = OP_RULE_AT(1), .up = OP_RULE_AT(2),
					    .out = OP_RULE_AT(3), .n = 37 } },
	[WSE_OP_ADD] = { .add = { OP_RULE_HDR(WSE_OP_ADD, wse_hw_op_add), .a = OP_RULE_AT(1),
				  .b = OP_RULE_AT(2), .out = OP_RULE_AT(3), .n = 37 } },
	[WSE_OP_EMBED] = { .embed = { OP_RULE_HDR(WSE_OP_EMBED, wse_hw_op_embed),
				      .table = OP_RULE_AT(1), .tokens = OP_RULE_AT(2),
				      .out = OP_RULE_AT(3), .dim = 48, .vocab = 7, .n_tokens = 5,
				      .wtype = WSE_HW_DTYPE_BF16 } },
	[WSE_OP_SOFTMAX] = { .softmax = { OP_RULE_HDR(WSE_OP_SOFTMAX, wse_hw_op_softmax),
					  .x = OP_RULE_AT(1), .y = OP_RULE_AT(2), .n = 13,
					  .rows = 3 } },
	[WSE_OP_ARGMAX] = { .argmax = { OP_RULE_HDR(WSE_OP_ARGMAX, wse_hw_op_argmax),
					.x = OP_RULE_AT(1), .out = OP_RULE_AT(2), .n = 13,
					.rows = 3 } },
	[WSE_OP_TOPK] = { .topk = { OP_RULE_HDR(WSE_OP_TOPK, wse_hw_op_topk), .x = OP_RULE_AT(1),
				    .out_index = OP_RULE_AT(2), .out_value = OP_RULE_AT(3),
				    .n = 13, .k = 4, .rows = 3 } },
	[WSE_OP_LAYER] = { .layer = {
		OP_RULE_HDR(WSE_OP_LAYER, wse_hw_op_layer), .x = OP_RULE_AT(1),
		.attn_norm = OP_RULE_AT(2), .wq = OP_RULE_AT(3), .wk = OP_RULE_AT(4),
		.wv = OP_RULE_AT(5), .wo = OP_RULE_AT(6), .ffn_norm = OP_RULE_AT(7),
		.w_gate = OP_RULE_AT(8), .w_down = OP_RULE_AT(9), .w_up = OP_RULE_AT(10),
		.k_cache = OP_RULE_AT(11), .v_cache = OP_RULE_AT(12), .scratch = OP_RULE_AT(13),
		.dim = 64, .hidden_dim = 96, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
		.n_tokens = 2, .pos = 1, .kv_capacity = 9, .wtype = WSE_HW_DTYPE_F32,
		.eps = 1e-5f, .rope_theta = 10000.0f } },
};

/* Sets a field of width bytes (little-endian) at offset. */
struct op_rule_set {
	uint16_t offset;
	uint8_t width;
	uint64_t value;
};

struct op_rule_case {
	uint16_t code;
	struct op_rule_set set[4];	/* width 0: unused */
	uint32_t status;		/* what the device completes it with */
	int err;			/* libwse's errno; 0: not expressible through libwse */
	const char *field;		/* what both must name */
};

#define OP_RULE_FIELD(type, f) \
	(uint16_t)offsetof(struct wse_hw_op_##type, f), sizeof(((struct wse_hw_op_##type *)0)->f)
/* One field of op (wse_hw_op_<type>) set to v gives status and errno, naming name. */
#define OP_RULE_BREAK(code, type, f, v, st, e, name) \
	{ code, { { OP_RULE_FIELD(type, f), v } }, WSE_HW_STATUS_ERR_##st, e, name }
#define OP_RULE_SHAPE(code, type, f, v, name) OP_RULE_BREAK(code, type, f, v, SHAPE, EINVAL, name)
#define OP_RULE_ZERO(code, type, f) OP_RULE_SHAPE(code, type, f, 0, #f)

#define OP_RULE_F32_NAN		0x7fc00000u
#define OP_RULE_F32_INF		0x7f800000u
#define OP_RULE_F32_MINUS_1	0xbf800000u

static const struct op_rule_case op_rule_cases[] = {
	/* The record as a whole: device only, libwse always writes these right. */
	OP_RULE_BREAK(WSE_OP_NOP, hdr, flags, 1, STREAM, 0, "flags"),
	OP_RULE_BREAK(WSE_OP_NOP, hdr, length, 24, STREAM, 0, "length"),
	OP_RULE_BREAK(WSE_OP_ADD, add, hdr.length, 40, STREAM, 0, "length"),
	OP_RULE_BREAK(WSE_OP_MATMUL, matmul, hdr.flags, 2, STREAM, 0, "flags"),
	OP_RULE_BREAK(WSE_OP_RMSNORM, rmsnorm, reserved, 1, STREAM, 0, "reserved"),
	OP_RULE_BREAK(WSE_OP_ROPE, rope, reserved, 1, STREAM, 0, "reserved"),
	OP_RULE_BREAK(WSE_OP_SILU_MUL, silu_mul, reserved, 1, STREAM, 0, "reserved"),
	OP_RULE_BREAK(WSE_OP_ADD, add, reserved, 1, STREAM, 0, "reserved"),
	OP_RULE_BREAK(WSE_OP_TOPK, topk, reserved, 1, STREAM, 0, "reserved"),
	OP_RULE_BREAK(WSE_OP_LAYER, layer, reserved, 1, STREAM, 0, "reserved"),

	OP_RULE_ZERO(WSE_OP_COPY, copy, bytes),

	OP_RULE_ZERO(WSE_OP_MATMUL, matmul, rows),
	OP_RULE_ZERO(WSE_OP_MATMUL, matmul, cols),
	OP_RULE_ZERO(WSE_OP_MATMUL, matmul, batch),
	OP_RULE_SHAPE(WSE_OP_MATMUL, matmul, wtype, WSE_HW_DTYPE_COUNT, "wtype"),
	OP_RULE_SHAPE(WSE_OP_MATMUL, matmul, wtype, 0xffffffffu, "wtype"),
	OP_RULE_SHAPE(WSE_OP_MATMUL, matmul, wtype, WSE_HW_DTYPE_Q8_0, "cols"),
	{ WSE_OP_MATMUL, { { OP_RULE_FIELD(matmul, rows), 0xffffffffu },
			   { OP_RULE_FIELD(matmul, cols), 0xffffffffu } },
	  WSE_HW_STATUS_ERR_SHAPE, EOVERFLOW, "w" },

	OP_RULE_ZERO(WSE_OP_RMSNORM, rmsnorm, dim),
	OP_RULE_ZERO(WSE_OP_RMSNORM, rmsnorm, rows),
	/* eps == 0 is refused: an all-zero row would be 0 * inf = NaN. */
	OP_RULE_SHAPE(WSE_OP_RMSNORM, rmsnorm, eps, 0, "eps"),
	OP_RULE_SHAPE(WSE_OP_RMSNORM, rmsnorm, eps, OP_RULE_F32_MINUS_1, "eps"),
	OP_RULE_SHAPE(WSE_OP_RMSNORM, rmsnorm, eps, OP_RULE_F32_NAN, "eps"),
	OP_RULE_SHAPE(WSE_OP_RMSNORM, rmsnorm, eps, OP_RULE_F32_INF, "eps"),

	OP_RULE_ZERO(WSE_OP_ROPE, rope, n_heads),
	OP_RULE_ZERO(WSE_OP_ROPE, rope, head_dim),
	OP_RULE_ZERO(WSE_OP_ROPE, rope, rows),
	OP_RULE_SHAPE(WSE_OP_ROPE, rope, head_dim, 9, "head_dim"),
	OP_RULE_BREAK(WSE_OP_ROPE, rope, pos, 0xffffffffu - 6, SHAPE, EOVERFLOW, "pos"),
	OP_RULE_SHAPE(WSE_OP_ROPE, rope, theta, 0, "theta"),
	OP_RULE_SHAPE(WSE_OP_ROPE, rope, theta, OP_RULE_F32_NAN, "theta"),

	OP_RULE_ZERO(WSE_OP_ATTENTION, attention, n_heads),
	OP_RULE_ZERO(WSE_OP_ATTENTION, attention, n_kv_heads),
	OP_RULE_ZERO(WSE_OP_ATTENTION, attention, head_dim),
	OP_RULE_ZERO(WSE_OP_ATTENTION, attention, n_tokens),
	OP_RULE_ZERO(WSE_OP_ATTENTION, attention, kv_capacity),
	OP_RULE_SHAPE(WSE_OP_ATTENTION, attention, n_kv_heads, 4, "n_heads"),
	OP_RULE_SHAPE(WSE_OP_ATTENTION, attention, pos, 7, "kv_capacity"),
	OP_RULE_SHAPE(WSE_OP_ATTENTION, attention, pos, 0xffffffffu, "kv_capacity"),

	OP_RULE_ZERO(WSE_OP_SILU_MUL, silu_mul, n),
	OP_RULE_ZERO(WSE_OP_ADD, add, n),

	OP_RULE_ZERO(WSE_OP_EMBED, embed, dim),
	OP_RULE_ZERO(WSE_OP_EMBED, embed, vocab),
	OP_RULE_ZERO(WSE_OP_EMBED, embed, n_tokens),
	OP_RULE_SHAPE(WSE_OP_EMBED, embed, wtype, 9, "wtype"),
	OP_RULE_SHAPE(WSE_OP_EMBED, embed, wtype, WSE_HW_DTYPE_Q8_0, "dim"),

	OP_RULE_ZERO(WSE_OP_SOFTMAX, softmax, n),
	OP_RULE_ZERO(WSE_OP_SOFTMAX, softmax, rows),
	{ WSE_OP_SOFTMAX, { { OP_RULE_FIELD(softmax, n), 0xffffffffu },
			    { OP_RULE_FIELD(softmax, rows), 0xffffffffu } },
	  WSE_HW_STATUS_ERR_SHAPE, EOVERFLOW, "x" },
	OP_RULE_ZERO(WSE_OP_ARGMAX, argmax, n),
	OP_RULE_ZERO(WSE_OP_ARGMAX, argmax, rows),
	OP_RULE_ZERO(WSE_OP_TOPK, topk, n),
	OP_RULE_ZERO(WSE_OP_TOPK, topk, k),
	OP_RULE_ZERO(WSE_OP_TOPK, topk, rows),
	OP_RULE_SHAPE(WSE_OP_TOPK, topk, k, 14, "k"),

	OP_RULE_ZERO(WSE_OP_LAYER, layer, dim),
	OP_RULE_ZERO(WSE_OP_LAYER, layer, hidden_dim),
	OP_RULE_ZERO(WSE_OP_LAYER, layer, n_heads),
	OP_RULE_ZERO(WSE_OP_LAYER, layer, n_kv_heads),
	OP_RULE_ZERO(WSE_OP_LAYER, layer, head_dim),
	OP_RULE_ZERO(WSE_OP_LAYER, layer, n_tokens),
	OP_RULE_ZERO(WSE_OP_LAYER, layer, kv_capacity),
	OP_RULE_SHAPE(WSE_OP_LAYER, layer, head_dim, 7, "head_dim"),
	OP_RULE_SHAPE(WSE_OP_LAYER, layer, n_kv_heads, 3, "n_heads"),
	OP_RULE_SHAPE(WSE_OP_LAYER, layer, pos, 8, "kv_capacity"),
	OP_RULE_SHAPE(WSE_OP_LAYER, layer, eps, 0, "eps"),
	OP_RULE_SHAPE(WSE_OP_LAYER, layer, rope_theta, OP_RULE_F32_NAN, "rope_theta"),
	OP_RULE_SHAPE(WSE_OP_LAYER, layer, wtype, WSE_HW_DTYPE_COUNT, "wtype"),
	{ WSE_OP_LAYER, { { OP_RULE_FIELD(layer, n_heads), 0x80000000u } },
	  WSE_HW_STATUS_ERR_SHAPE, EOVERFLOW, "n_heads * head_dim" },
	{ WSE_OP_LAYER, { { OP_RULE_FIELD(layer, n_tokens), 0x10000 },
			  { OP_RULE_FIELD(layer, kv_capacity), 0x10001 },
			  { OP_RULE_FIELD(layer, hidden_dim), 0x10000 } },
	  WSE_HW_STATUS_ERR_SHAPE, EOVERFLOW, "n_tokens * hidden_dim" },
	/* q8_0 rows are whole blocks: dim, n_heads * head_dim and hidden_dim. */
	{ WSE_OP_LAYER, { { OP_RULE_FIELD(layer, wtype), WSE_HW_DTYPE_Q8_0 },
			  { OP_RULE_FIELD(layer, dim), 48 } },
	  WSE_HW_STATUS_ERR_SHAPE, EINVAL, "dim" },
	{ WSE_OP_LAYER, { { OP_RULE_FIELD(layer, wtype), WSE_HW_DTYPE_Q8_0 },
			  { OP_RULE_FIELD(layer, head_dim), 4 } },
	  WSE_HW_STATUS_ERR_SHAPE, EINVAL, "n_heads * head_dim" },
	{ WSE_OP_LAYER, { { OP_RULE_FIELD(layer, wtype), WSE_HW_DTYPE_Q8_0 },
			  { OP_RULE_FIELD(layer, hidden_dim), 48 } },
	  WSE_HW_STATUS_ERR_SHAPE, EINVAL, "hidden_dim" },
	/* n_tokens x dim fp32 is 2^66 bytes. */
	{ WSE_OP_LAYER, { { OP_RULE_FIELD(layer, n_tokens), 0xfffffff0u },
			  { OP_RULE_FIELD(layer, kv_capacity), 0xffffffffu },
			  { OP_RULE_FIELD(layer, hidden_dim), 1 },
			  { OP_RULE_FIELD(layer, dim), 0xffffffe0u } },
	  WSE_HW_STATUS_ERR_SHAPE, EOVERFLOW, "x" },
};

#define OP_RULE_N_CASES (sizeof(op_rule_cases) / sizeof(op_rule_cases[0]))

/* The valid record of c's op with c's fields set. */
static inline union wafer_record op_rule_broken(const struct op_rule_case *c)
{
	union wafer_record r = op_rule_valid[c->code];

	for (int i = 0; i < 4 && c->set[i].width; i++)
		memcpy((uint8_t *)&r + c->set[i].offset, &c->set[i].value, c->set[i].width);
	return r;
}

#endif /* OP_RULE_CASES_H */
