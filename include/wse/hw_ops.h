/* SPDX-License-Identifier: MIT */
/*
 * wse/hw_ops.h - the op records of the wse device: what a WSE_CMD_EXEC
 * command's stream may contain, their operands, dtypes and shapes.
 *
 * The other half of the device contract (wse/hw_device.h is the register
 * and queue side). Written by libwse, executed by the wafer model; the
 * kernel never parses them. All multi-byte fields are little-endian; every
 * record has a fixed size checked at compile time.
 */
#ifndef WSE_HW_OPS_H
#define WSE_HW_OPS_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
#endif

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
	uint16_t x, y, w, h;
};

struct wse_hw_op_hdr {
	uint16_t op;		/* enum wse_hw_op_code */
	uint16_t length;	/* bytes of the whole record */
	uint32_t flags;		/* per op; unknown bits are an error */
	struct wse_hw_region region;
};

/* dst = src, bytes anywhere the context may read/write. */
struct wse_hw_op_copy {
	struct wse_hw_op_hdr hdr;
	uint64_t src, dst, bytes;
};

/*
 * y[n][m] (+)= sum_k w[m][k] * x[n][k]; w is rows x cols of wtype,
 * x is batch x cols fp32, y is batch x rows fp32.
 */
struct wse_hw_op_matmul {
	struct wse_hw_op_hdr hdr;
	uint64_t w, x, y;
	uint32_t rows, cols, batch, wtype;
};

#define WSE_MATMUL_ACCUMULATE	(1u << 0)

/* y[r] = x[r] / rms(x[r]) * w, for rows of dim fp32; w is fp32. */
struct wse_hw_op_rmsnorm {
	struct wse_hw_op_hdr hdr;
	uint64_t x, w, y;
	uint32_t dim, rows;
	float eps;
	uint32_t reserved;
};

/*
 * In place: rows x (n_heads * head_dim) fp32; row r is at position pos + r.
 * Rotates pairs (2i, 2i+1) of each head (GGUF/llama.cpp "normal" layout).
 */
struct wse_hw_op_rope {
	struct wse_hw_op_hdr hdr;
	uint64_t x;
	uint32_t n_heads, head_dim, rows, pos;
	float theta;
	uint32_t reserved;
};

/*
 * Causal attention of n_tokens queries at positions pos..pos+n_tokens-1
 * over the KV cache rows 0..pos+i. q and out are n_tokens x (n_heads *
 * head_dim); the caches are kv_capacity x (n_kv_heads * head_dim), fp32.
 */
struct wse_hw_op_attention {
	struct wse_hw_op_hdr hdr;
	uint64_t q, k_cache, v_cache, out;
	uint32_t n_heads, n_kv_heads, head_dim, n_tokens;
	uint32_t pos, kv_capacity;
};

/* out[i] = silu(gate[i]) * up[i] */
struct wse_hw_op_silu_mul {
	struct wse_hw_op_hdr hdr;
	uint64_t gate, up, out;
	uint32_t n, reserved;
};

/* out[i] = a[i] + b[i] */
struct wse_hw_op_add {
	struct wse_hw_op_hdr hdr;
	uint64_t a, b, out;
	uint32_t n, reserved;
};

/* out[t] = table[tokens[t]] as fp32; tokens are uint32, table vocab x dim. */
struct wse_hw_op_embed {
	struct wse_hw_op_hdr hdr;
	uint64_t table, tokens, out;
	uint32_t dim, vocab, n_tokens, wtype;
};

/* y[r] = softmax(x[r]) over rows of n fp32 */
struct wse_hw_op_softmax {
	struct wse_hw_op_hdr hdr;
	uint64_t x, y;
	uint32_t n, rows;
};

/* out[r] = index of the largest x[r][i] (lowest index on ties), uint32 */
struct wse_hw_op_argmax {
	struct wse_hw_op_hdr hdr;
	uint64_t x, out;
	uint32_t n, rows;
};

/* Per row: the k largest values (descending, ties by lower index), uint32 + fp32. */
struct wse_hw_op_topk {
	struct wse_hw_op_hdr hdr;
	uint64_t x, out_index, out_value;
	uint32_t n, k, rows, reserved;
};

/*
 * One Llama transformer layer on n_tokens rows of the residual stream x
 * (n_tokens x dim fp32, updated in place), with K/V of the new positions
 * written to the caches. scratch needs wse_hw_layer_scratch_bytes().
 */
struct wse_hw_op_layer {
	struct wse_hw_op_hdr hdr;
	uint64_t x;
	uint64_t attn_norm, wq, wk, wv, wo;
	uint64_t ffn_norm, w_gate, w_down, w_up;
	uint64_t k_cache, v_cache, scratch;
	uint32_t dim, hidden_dim, n_heads, n_kv_heads;
	uint32_t head_dim, n_tokens, pos, kv_capacity;
	uint32_t wtype;
	float eps, rope_theta;
	uint32_t reserved;
};

/* Scratch of a fused layer: q, attention out, gate and up rows of fp32. */
static inline uint64_t wse_hw_layer_scratch_bytes(uint32_t dim, uint32_t hidden_dim,
						  uint32_t n_heads, uint32_t head_dim,
						  uint32_t n_tokens)
{
	uint64_t q = (uint64_t)n_heads * head_dim;

	return 4ull * n_tokens * (dim + 2 * q + 2ull * hidden_dim);
}

#ifndef WSE_HW_CHECK_SIZE
#define WSE_HW_CHECK_SIZE(type, size) \
	_Static_assert(sizeof(struct type) == (size), #type " size")
#endif

WSE_HW_CHECK_SIZE(wse_hw_op_hdr, 16);
WSE_HW_CHECK_SIZE(wse_hw_op_copy, 40);
WSE_HW_CHECK_SIZE(wse_hw_op_matmul, 56);
WSE_HW_CHECK_SIZE(wse_hw_op_rmsnorm, 56);
WSE_HW_CHECK_SIZE(wse_hw_op_rope, 48);
WSE_HW_CHECK_SIZE(wse_hw_op_attention, 72);
WSE_HW_CHECK_SIZE(wse_hw_op_silu_mul, 48);
WSE_HW_CHECK_SIZE(wse_hw_op_add, 48);
WSE_HW_CHECK_SIZE(wse_hw_op_embed, 56);
WSE_HW_CHECK_SIZE(wse_hw_op_softmax, 40);
WSE_HW_CHECK_SIZE(wse_hw_op_argmax, 40);
WSE_HW_CHECK_SIZE(wse_hw_op_topk, 56);
WSE_HW_CHECK_SIZE(wse_hw_op_layer, 168);

#endif /* WSE_HW_OPS_H */
