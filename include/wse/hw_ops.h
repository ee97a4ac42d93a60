/* SPDX-License-Identifier: MIT */
/*
 * wse/hw_ops.h - the op records of the wse device: what a WSE_CMD_EXEC
 * command's stream may contain, their operands, dtypes and shapes.
 *
 * The other half of the device contract (wse/hw_device.h is the register
 * and queue side). Written by libwse, executed by the wafer model; the
 * kernel never parses them. All multi-byte fields are little-endian
 * (__le16/32/64; float fields are IEEE 754 binary32, little-endian too);
 * every record's size and field offsets are checked at compile time.
 */
#ifndef WSE_HW_OPS_H
#define WSE_HW_OPS_H

#include "wse/hw_device.h"

/* ---- Op stream ------------------------------------------------------------ */
/*
 * A WSE_CMD_EXEC stream is a sequence of op records, each starting with
 * wse_hw_op_hdr; length covers the whole record and is a multiple of 8.
 * Compute operands live in SRAM (weights stay on the wafer); only COPY moves
 * data between host memory and SRAM. Activations are fp32; weights are
 * fp32, fp16, bf16 or q8_0. The region names the PE rectangle the op runs
 * on; it sets the op's modelled cost and must lie inside the grid
 * (w = h = 0 means the whole wafer).
 */
enum wse_hw_op_code {
	WSE_OP_NOP = 0,		/* exactly a wse_hw_op_hdr, no flags */
	WSE_OP_COPY = 1,
	WSE_OP_MATMUL = 2,
	WSE_OP_RMSNORM = 3,
	WSE_OP_ROPE = 4,
	WSE_OP_ATTENTION = 5,
	WSE_OP_SILU_MUL = 6,
	WSE_OP_ADD = 7,
	WSE_OP_EMBED = 8,
	WSE_OP_SOFTMAX = 9,
	WSE_OP_ARGMAX = 10,
	WSE_OP_TOPK = 11,
	WSE_OP_LAYER = 12,
	WSE_OP_COUNT
};

enum wse_hw_dtype {
	WSE_HW_DTYPE_F32 = 0,
	WSE_HW_DTYPE_F16 = 1,
	WSE_HW_DTYPE_BF16 = 2,
	WSE_HW_DTYPE_Q8_0 = 3,	/* blocks of 32: fp16 scale + 32 int8 */
	WSE_HW_DTYPE_COUNT
};

#define WSE_Q8_0_BLOCK		32
#define WSE_Q8_0_BLOCK_BYTES	34

struct wse_hw_region {
	__le16 x, y, w, h;
};

struct wse_hw_op_hdr {
	__le16 op;		/* enum wse_hw_op_code */
	__le16 length;		/* bytes of the whole record */
	__le32 flags;		/* per op; unknown bits are an error */
	struct wse_hw_region region;
};

/* dst = src, bytes anywhere the context may read/write. */
struct wse_hw_op_copy {
	struct wse_hw_op_hdr hdr;
	__le64 src, dst, bytes;
};

/*
 * y[n][m] (+)= sum_k w[m][k] * x[n][k]; w is rows x cols of wtype,
 * x is batch x cols fp32, y is batch x rows fp32.
 */
struct wse_hw_op_matmul {
	struct wse_hw_op_hdr hdr;
	__le64 w, x, y;
	__le32 rows, cols, batch, wtype;
};

#define WSE_MATMUL_ACCUMULATE	0x01u

/* y[r] = x[r] / rms(x[r]) * w, for rows of dim fp32; w is fp32. */
struct wse_hw_op_rmsnorm {
	struct wse_hw_op_hdr hdr;
	__le64 x, w, y;
	__le32 dim, rows;
	float eps;
	__le32 reserved;
};

/*
 * In place: rows x (n_heads * head_dim) fp32; row r is at position pos + r.
 * Rotates pairs (2i, 2i+1) of each head (GGUF/llama.cpp "normal" layout).
 */
struct wse_hw_op_rope {
	struct wse_hw_op_hdr hdr;
	__le64 x;
	__le32 n_heads, head_dim, rows, pos;
	float theta;
	__le32 reserved;
};

/*
 * Causal attention of n_tokens queries at positions pos..pos+n_tokens-1
 * over the KV cache rows 0..pos+i. q and out are n_tokens x (n_heads *
 * head_dim); the caches are kv_capacity x (n_kv_heads * head_dim), fp32.
 */
struct wse_hw_op_attention {
	struct wse_hw_op_hdr hdr;
	__le64 q, k_cache, v_cache, out;
	__le32 n_heads, n_kv_heads, head_dim, n_tokens;
	__le32 pos, kv_capacity;
};

/* out[i] = silu(gate[i]) * up[i] */
struct wse_hw_op_silu_mul {
	struct wse_hw_op_hdr hdr;
	__le64 gate, up, out;
	__le32 n, reserved;
};

/* out[i] = a[i] + b[i] */
struct wse_hw_op_add {
	struct wse_hw_op_hdr hdr;
	__le64 a, b, out;
	__le32 n, reserved;
};

/* out[t] = table[tokens[t]] as fp32; tokens are uint32, table vocab x dim. */
struct wse_hw_op_embed {
	struct wse_hw_op_hdr hdr;
	__le64 table, tokens, out;
	__le32 dim, vocab, n_tokens, wtype;
};

/* y[r] = softmax(x[r]) over rows of n fp32 */
struct wse_hw_op_softmax {
	struct wse_hw_op_hdr hdr;
	__le64 x, y;
	__le32 n, rows;
};

/* out[r] = index of the largest x[r][i] (lowest index on ties), uint32 */
struct wse_hw_op_argmax {
	struct wse_hw_op_hdr hdr;
	__le64 x, out;
	__le32 n, rows;
};

/* Per row: the k largest values (descending, ties by lower index), uint32 + fp32. */
struct wse_hw_op_topk {
	struct wse_hw_op_hdr hdr;
	__le64 x, out_index, out_value;
	__le32 n, k, rows, reserved;
};

/*
 * One Llama transformer layer on n_tokens rows of the residual stream x
 * (n_tokens x dim fp32, updated in place), with K/V of the new positions
 * written to the caches. scratch needs wse_hw_layer_scratch_bytes().
 */
struct wse_hw_op_layer {
	struct wse_hw_op_hdr hdr;
	__le64 x;
	__le64 attn_norm, wq, wk, wv, wo;
	__le64 ffn_norm, w_gate, w_down, w_up;
	__le64 k_cache, v_cache, scratch;
	__le32 dim, hidden_dim, n_heads, n_kv_heads;
	__le32 head_dim, n_tokens, pos, kv_capacity;
	__le32 wtype;
	float eps, rope_theta;
	__le32 reserved;
};

/*
 * The scratch of a fused layer: n_tokens rows of fp32 each of xn (dim), q
 * and att (n_heads * head_dim), gate and up (hidden_dim), in that order, as
 * byte offsets from the scratch operand, and its size. The one place the
 * layout is written: the wafer's layer steps, the rulebook and libwse use it.
 */
struct wse_hw_layer_scratch {
	__u64 xn, q, att, gate, up, bytes;
};

/* 0, or -1 when the scratch does not fit in 64 bits. */
static inline int wse_hw_layer_scratch_layout(__u32 dim, __u32 hidden_dim, __u32 n_heads,
					      __u32 head_dim, __u32 n_tokens,
					      struct wse_hw_layer_scratch *s)
{
	__u64 row = 4ull * n_tokens, xn, q, hidden;

	if (__builtin_mul_overflow(row, (__u64)dim, &xn) ||
	    __builtin_mul_overflow(row, (__u64)n_heads * head_dim, &q) ||
	    __builtin_mul_overflow(row, (__u64)hidden_dim, &hidden))
		return -1;
	s->xn = 0;
	s->q = xn;
	if (__builtin_add_overflow(s->q, q, &s->att) ||
	    __builtin_add_overflow(s->att, q, &s->gate) ||
	    __builtin_add_overflow(s->gate, hidden, &s->up) ||
	    __builtin_add_overflow(s->up, hidden, &s->bytes))
		return -1;
	return 0;
}

/* Bytes of a fused layer's scratch; 0 if the shape overflows. */
static inline __u64 wse_hw_layer_scratch_bytes(__u32 dim, __u32 hidden_dim,
					       __u32 n_heads, __u32 head_dim,
					       __u32 n_tokens)
{
	struct wse_hw_layer_scratch s;

	if (wse_hw_layer_scratch_layout(dim, hidden_dim, n_heads, head_dim, n_tokens, &s))
		return 0;
	return s.bytes;
}

WSE_HW_CHECK_SIZE(wse_hw_region, 8);
WSE_HW_CHECK_FIELD(wse_hw_region, x, 0);
WSE_HW_CHECK_FIELD(wse_hw_region, y, 2);
WSE_HW_CHECK_FIELD(wse_hw_region, w, 4);
WSE_HW_CHECK_FIELD(wse_hw_region, h, 6);

WSE_HW_CHECK_SIZE(wse_hw_op_hdr, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_hdr, op, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_hdr, length, 2);
WSE_HW_CHECK_FIELD(wse_hw_op_hdr, flags, 4);
WSE_HW_CHECK_FIELD(wse_hw_op_hdr, region, 8);

WSE_HW_CHECK_SIZE(wse_hw_op_copy, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_copy, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_copy, src, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_copy, dst, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_copy, bytes, 32);

WSE_HW_CHECK_SIZE(wse_hw_op_matmul, 56);
WSE_HW_CHECK_FIELD(wse_hw_op_matmul, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_matmul, w, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_matmul, x, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_matmul, y, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_matmul, rows, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_matmul, cols, 44);
WSE_HW_CHECK_FIELD(wse_hw_op_matmul, batch, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_matmul, wtype, 52);

WSE_HW_CHECK_SIZE(wse_hw_op_rmsnorm, 56);
WSE_HW_CHECK_FIELD(wse_hw_op_rmsnorm, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_rmsnorm, x, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_rmsnorm, w, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_rmsnorm, y, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_rmsnorm, dim, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_rmsnorm, rows, 44);
WSE_HW_CHECK_FIELD(wse_hw_op_rmsnorm, eps, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_rmsnorm, reserved, 52);

WSE_HW_CHECK_SIZE(wse_hw_op_rope, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_rope, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_rope, x, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_rope, n_heads, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_rope, head_dim, 28);
WSE_HW_CHECK_FIELD(wse_hw_op_rope, rows, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_rope, pos, 36);
WSE_HW_CHECK_FIELD(wse_hw_op_rope, theta, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_rope, reserved, 44);

WSE_HW_CHECK_SIZE(wse_hw_op_attention, 72);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, q, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, k_cache, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, v_cache, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, out, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, n_heads, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, n_kv_heads, 52);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, head_dim, 56);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, n_tokens, 60);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, pos, 64);
WSE_HW_CHECK_FIELD(wse_hw_op_attention, kv_capacity, 68);

WSE_HW_CHECK_SIZE(wse_hw_op_silu_mul, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_silu_mul, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_silu_mul, gate, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_silu_mul, up, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_silu_mul, out, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_silu_mul, n, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_silu_mul, reserved, 44);

WSE_HW_CHECK_SIZE(wse_hw_op_add, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_add, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_add, a, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_add, b, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_add, out, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_add, n, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_add, reserved, 44);

WSE_HW_CHECK_SIZE(wse_hw_op_embed, 56);
WSE_HW_CHECK_FIELD(wse_hw_op_embed, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_embed, table, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_embed, tokens, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_embed, out, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_embed, dim, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_embed, vocab, 44);
WSE_HW_CHECK_FIELD(wse_hw_op_embed, n_tokens, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_embed, wtype, 52);

WSE_HW_CHECK_SIZE(wse_hw_op_softmax, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_softmax, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_softmax, x, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_softmax, y, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_softmax, n, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_softmax, rows, 36);

WSE_HW_CHECK_SIZE(wse_hw_op_argmax, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_argmax, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_argmax, x, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_argmax, out, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_argmax, n, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_argmax, rows, 36);

WSE_HW_CHECK_SIZE(wse_hw_op_topk, 56);
WSE_HW_CHECK_FIELD(wse_hw_op_topk, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_topk, x, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_topk, out_index, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_topk, out_value, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_topk, n, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_topk, k, 44);
WSE_HW_CHECK_FIELD(wse_hw_op_topk, rows, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_topk, reserved, 52);

WSE_HW_CHECK_SIZE(wse_hw_op_layer, 168);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, hdr, 0);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, x, 16);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, attn_norm, 24);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, wq, 32);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, wk, 40);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, wv, 48);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, wo, 56);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, ffn_norm, 64);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, w_gate, 72);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, w_down, 80);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, w_up, 88);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, k_cache, 96);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, v_cache, 104);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, scratch, 112);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, dim, 120);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, hidden_dim, 124);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, n_heads, 128);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, n_kv_heads, 132);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, head_dim, 136);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, n_tokens, 140);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, pos, 144);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, kv_capacity, 148);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, wtype, 152);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, eps, 156);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, rope_theta, 160);
WSE_HW_CHECK_FIELD(wse_hw_op_layer, reserved, 164);

#endif /* WSE_HW_OPS_H */
