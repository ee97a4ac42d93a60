/* SPDX-License-Identifier: MIT */
/*
 * test_libwse_stream: the op-stream builder of libwse without a device:
 * record layout, and every validation rule (zero and overflowing shapes,
 * dtypes, q8_0 blocks, head counts, cache capacity, regions, stream size),
 * each limit at its edge, and the exact extent of every operand of every op.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "libwse/wse.h"
#include "wse/hw_device.h"
#include "wse/hw_ops.h"
#include "wse/op_rules.h"
#include "tests/tap.h"
#include "tests/unit/op_rule_cases.h"

static wse_stream *s;

/* True when the last append failed with err, left the stream as it was and said why. */
static int rejected(int rc, int err, size_t len_before, const char *word)
{
	return rc == err && wse_stream_length(s) == len_before &&
	       strstr(wse_stream_last_error(s), word) != NULL;
}

/* The same for a stream other than s. */
static int rejected_by(wse_stream *st, int rc, int err, size_t len_before)
{
	return rc == err && wse_stream_length(st) == len_before && *wse_stream_last_error(st);
}

static const struct wse_hw_op_hdr *last_hdr(size_t size)
{
	return (const void *)((const uint8_t *)wse_stream_data(s) + wse_stream_length(s) - size);
}

static void test_records(void)
{
	struct wse_matmul mm = { .w = 0x100000, .x = 0x200000, .y = 0x300000,
				 .rows = 8, .cols = 64, .batch = 2, .wtype = WSE_DT_F16,
				 .accumulate = 1 };
	const struct wse_hw_op_matmul *rec;
	const struct wse_hw_op_copy *cp;

	TAP_OK(wse_stream_nop(s) == 0 && wse_stream_length(s) == sizeof(struct wse_hw_op_hdr),
	       "nop appends a bare 16-byte header");
	TAP_OK(wse_stream_copy(s, 0x5000, 0x4000, 4096) == 0, "copy of 4096 bytes is accepted");
	cp = (const void *)last_hdr(sizeof(*cp));
	TAP_OK(cp->hdr.op == WSE_OP_COPY && cp->hdr.length == sizeof(*cp) && cp->src == 0x4000 &&
	       cp->dst == 0x5000 && cp->bytes == 4096, "copy record has op, length, src, dst, bytes");
	TAP_OK(wse_stream_matmul(s, &mm) == 0, "f16 matmul is accepted");
	rec = (const void *)last_hdr(sizeof(*rec));
	TAP_OK(rec->hdr.op == WSE_OP_MATMUL && rec->hdr.length == 56 &&
	       rec->hdr.flags == WSE_MATMUL_ACCUMULATE && rec->rows == 8 && rec->cols == 64 &&
	       rec->batch == 2 && rec->wtype == WSE_HW_DTYPE_F16 && rec->w == 0x100000 &&
	       rec->x == 0x200000 && rec->y == 0x300000,
	       "matmul record carries every field and the ACCUMULATE flag");
	TAP_OK(wse_stream_ops(s) == 3 && wse_stream_length(s) == 16 + 40 + 56,
	       "3 ops, 112 bytes in the stream");
	TAP_OK(wse_stream_length(s) % 8 == 0, "stream length is a multiple of 8");
	wse_stream_reset(s);
	TAP_OK(wse_stream_length(s) == 0 && wse_stream_ops(s) == 0, "reset empties the stream");
}

static void test_every_op_accepted(void)
{
	struct wse_attention at = { .q = 0x10000, .k_cache = 0x20000, .v_cache = 0x30000,
				    .out = 0x40000, .n_heads = 8, .n_kv_heads = 2,
				    .head_dim = 16, .n_tokens = 4, .pos = 3, .kv_capacity = 16 };
	struct wse_layer ly = { .x = 0x100000, .attn_norm = 0x200000, .wq = 0x300000,
				.wk = 0x400000, .wv = 0x500000, .wo = 0x600000,
				.ffn_norm = 0x700000, .w_gate = 0x800000, .w_down = 0x900000,
				.w_up = 0xa00000, .k_cache = 0xb00000, .v_cache = 0xc00000,
				.scratch = 0xd00000, .dim = 64, .hidden_dim = 128, .n_heads = 4,
				.n_kv_heads = 2, .head_dim = 16, .n_tokens = 2, .pos = 0,
				.kv_capacity = 32, .wtype = WSE_DT_Q8_0, .eps = 1e-5f,
				.rope_theta = 10000.0f };
	static const uint16_t sizes[] = { 56, 48, 72, 48, 48, 56, 40, 40, 56, 168 };
	static const uint16_t codes[] = { WSE_OP_RMSNORM, WSE_OP_ROPE, WSE_OP_ATTENTION,
					  WSE_OP_SILU_MUL, WSE_OP_ADD, WSE_OP_EMBED,
					  WSE_OP_SOFTMAX, WSE_OP_ARGMAX, WSE_OP_TOPK, WSE_OP_LAYER };
	const uint8_t *p;
	size_t off = 0;
	unsigned i;
	int ok = 1;

	TAP_OK(wse_stream_rmsnorm(s, 0x1000, 0x2000, 0x3000, 64, 2, 1e-5f) == 0, "rmsnorm accepted");
	TAP_OK(wse_stream_rope(s, 0x1000, 4, 16, 2, 5, 10000.0f) == 0, "rope accepted");
	TAP_OK(wse_stream_attention(s, &at) == 0, "attention (GQA 8/2) accepted");
	TAP_OK(wse_stream_silu_mul(s, 0x1000, 0x2000, 0x3000, 100) == 0, "silu_mul accepted");
	TAP_OK(wse_stream_add(s, 0x1000, 0x2000, 0x3000, 100) == 0, "add accepted");
	TAP_OK(wse_stream_embed(s, 0x10000, 0x2000, 0x3000, 64, 1000, 3, WSE_DT_BF16) == 0,
	       "embed accepted");
	TAP_OK(wse_stream_softmax(s, 0x1000, 0x2000, 10, 2) == 0, "softmax accepted");
	TAP_OK(wse_stream_argmax(s, 0x1000, 0x2000, 10, 2) == 0, "argmax accepted");
	TAP_OK(wse_stream_topk(s, 0x1000, 0x2000, 0x3000, 10, 10, 2) == 0, "topk with k == n accepted");
	TAP_OK(wse_stream_layer(s, &ly) == 0, "fused q8_0 layer accepted");
	p = wse_stream_data(s);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		const struct wse_hw_op_hdr *h = (const void *)(p + off);

		ok &= h->op == codes[i] && h->length == sizes[i] && h->flags == 0;
		off += h->length;
	}
	TAP_OK(ok && off == wse_stream_length(s), "each record has its opcode and wse/hw_ops.h size");
	wse_stream_reset(s);
}

static void test_zero_dims(void)
{
	struct wse_matmul mm = { .w = 0x1000, .x = 0x2000, .y = 0x3000, .rows = 4, .cols = 4,
				 .batch = 1 };
	struct wse_attention at = { .n_heads = 4, .n_kv_heads = 4, .head_dim = 8, .n_tokens = 1,
				    .kv_capacity = 4 };

	TAP_OK(rejected(wse_stream_copy(s, 0x1000, 0x2000, 0), -EINVAL, 0, "bytes"),
	       "copy of 0 bytes is rejected, naming 'bytes'");
	mm.rows = 0;
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EINVAL, 0, "rows"), "matmul rows 0 rejected");
	mm.rows = 4, mm.batch = 0;
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EINVAL, 0, "batch"), "matmul batch 0 rejected");
	TAP_OK(rejected(wse_stream_rmsnorm(s, 1, 2, 3, 0, 1, 1e-5f), -EINVAL, 0, "dim"),
	       "rmsnorm dim 0 rejected");
	TAP_OK(rejected(wse_stream_rope(s, 1, 0, 8, 1, 0, 1e4f), -EINVAL, 0, "n_heads"),
	       "rope n_heads 0 rejected");
	at.n_kv_heads = 0;
	TAP_OK(rejected(wse_stream_attention(s, &at), -EINVAL, 0, "n_kv_heads"),
	       "attention n_kv_heads 0 rejected");
	TAP_OK(rejected(wse_stream_add(s, 1, 2, 3, 0), -EINVAL, 0, "add"), "add n 0 rejected");
	TAP_OK(rejected(wse_stream_silu_mul(s, 1, 2, 3, 0), -EINVAL, 0, "silu_mul"),
	       "silu_mul n 0 rejected");
	TAP_OK(rejected(wse_stream_embed(s, 1, 2, 3, 8, 0, 1, WSE_DT_F32), -EINVAL, 0, "vocab"),
	       "embed vocab 0 rejected");
	TAP_OK(rejected(wse_stream_softmax(s, 1, 2, 8, 0), -EINVAL, 0, "rows"),
	       "softmax rows 0 rejected");
	TAP_OK(rejected(wse_stream_argmax(s, 1, 2, 0, 1), -EINVAL, 0, "argmax: n"),
	       "argmax n 0 rejected");
	TAP_OK(rejected(wse_stream_topk(s, 1, 2, 3, 8, 0, 1), -EINVAL, 0, "k"),
	       "topk k 0 rejected");
}

static void test_shape_rules(void)
{
	struct wse_matmul mm = { .w = 0x1000, .x = 0x2000, .y = 0x3000, .rows = 4, .cols = 33,
				 .batch = 1, .wtype = WSE_DT_Q8_0 };
	struct wse_attention at = { .q = 1, .k_cache = 2, .v_cache = 3, .out = 4, .n_heads = 6,
				    .n_kv_heads = 4, .head_dim = 8, .n_tokens = 1,
				    .kv_capacity = 8 };
	struct wse_layer ly = { .dim = 64, .hidden_dim = 100, .n_heads = 4, .n_kv_heads = 4,
				.head_dim = 16, .n_tokens = 1, .kv_capacity = 8,
				.wtype = WSE_DT_Q8_0, .eps = 1e-5f, .rope_theta = 1e4f };

	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EINVAL, 0, "multiple of 32"),
	       "q8_0 matmul with cols 33 is rejected (block multiple)");
	mm.cols = 64;
	TAP_OK(wse_stream_matmul(s, &mm) == 0, "q8_0 matmul with cols 64 is accepted");
	wse_stream_reset(s);
	mm.wtype = 4;
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EINVAL, 0, "dtype"), "unknown dtype 4 rejected");
	mm.wtype = 0xffffffffu;
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EINVAL, 0, "dtype"),
	       "unknown dtype 0xffffffff rejected");
	TAP_OK(rejected(wse_stream_embed(s, 1, 2, 3, 48, 10, 1, WSE_DT_Q8_0), -EINVAL, 0, "dim"),
	       "q8_0 embed with dim 48 rejected");
	TAP_OK(rejected(wse_stream_rope(s, 1, 4, 7, 1, 0, 1e4f), -EINVAL, 0, "even"),
	       "rope with odd head_dim rejected");
	TAP_OK(rejected(wse_stream_rope(s, 1, 4, 8, 2, UINT32_MAX, 1e4f), -EOVERFLOW, 0, "pos"),
	       "rope whose positions overflow rejected");
	TAP_OK(rejected(wse_stream_rope(s, 1, 4, 8, 1, 0, NAN), -EINVAL, 0, "theta"),
	       "rope with NaN theta rejected");
	TAP_OK(rejected(wse_stream_rmsnorm(s, 1, 2, 3, 8, 1, 0.0f), -EINVAL, 0, "eps"),
	       "rmsnorm with eps 0 rejected");
	TAP_OK(rejected(wse_stream_rmsnorm(s, 1, 2, 3, 8, 1, INFINITY), -EINVAL, 0, "eps"),
	       "rmsnorm with infinite eps rejected");
	TAP_OK(rejected(wse_stream_attention(s, &at), -EINVAL, 0, "multiple of n_kv_heads"),
	       "attention with 6 heads over 4 kv heads rejected");
	at.n_kv_heads = 3, at.pos = 8;
	TAP_OK(rejected(wse_stream_attention(s, &at), -EINVAL, 0, "kv_capacity"),
	       "attention past the cache capacity rejected");
	at.pos = UINT32_MAX, at.n_tokens = UINT32_MAX, at.kv_capacity = UINT32_MAX;
	TAP_OK(rejected(wse_stream_attention(s, &at), -EINVAL, 0, "kv_capacity"),
	       "attention with pos + n_tokens wrapping 32 bits rejected");
	TAP_OK(rejected(wse_stream_topk(s, 1, 2, 3, 5, 6, 1), -EINVAL, 0, "larger than n"),
	       "topk with k > n rejected");
	TAP_OK(rejected(wse_stream_layer(s, &ly), -EINVAL, 0, "hidden_dim"),
	       "q8_0 layer with hidden_dim 100 rejected");
	ly.hidden_dim = 128, ly.head_dim = 15, ly.n_heads = 4;
	TAP_OK(rejected(wse_stream_layer(s, &ly), -EINVAL, 0, "even"),
	       "layer with odd head_dim rejected");
	ly.head_dim = 16, ly.rope_theta = -1.0f;
	TAP_OK(rejected(wse_stream_layer(s, &ly), -EINVAL, 0, "rope_theta"),
	       "layer with negative rope_theta rejected");
	TAP_OK(rejected(wse_stream_matmul(s, NULL), -EINVAL, 0, "no arguments"),
	       "matmul with NULL arguments rejected");
	TAP_OK(wse_stream_copy(NULL, 1, 2, 3) == -EINVAL, "a NULL stream is -EINVAL, not a crash");
}

static void test_overflow(void)
{
	struct wse_matmul mm = { .w = 0x1000, .x = 0x2000, .y = 0x3000, .rows = UINT32_MAX,
				 .cols = UINT32_MAX, .batch = 1, .wtype = WSE_DT_F32 };
	struct wse_layer ly = { .dim = UINT32_MAX - 31, .hidden_dim = UINT32_MAX - 31,
				.n_heads = 2, .n_kv_heads = 1, .head_dim = UINT32_MAX - 1,
				.n_tokens = UINT32_MAX, .kv_capacity = UINT32_MAX,
				.wtype = WSE_DT_F32, .eps = 1e-5f, .rope_theta = 1e4f };

	TAP_OK(wse_stream_matmul(s, &mm) == -EOVERFLOW && wse_stream_length(s) == 0,
	       "matmul whose weight size overflows 64 bits rejected (-EOVERFLOW)");
	mm.rows = 4, mm.cols = 4, mm.x = UINT64_MAX - 8;
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EOVERFLOW, 0, "wraps"),
	       "matmul x range wrapping the address space rejected");
	TAP_OK(rejected(wse_stream_copy(s, UINT64_MAX, 0x1000, 2), -EOVERFLOW, 0, "dst"),
	       "copy dst range wrapping rejected");
	TAP_OK(wse_stream_copy(s, UINT64_MAX - 1, 0x1000, 1) == 0,
	       "copy ending exactly at 2^64 - 1 accepted");
	wse_stream_reset(s);
	TAP_OK(wse_stream_layer(s, &ly) == -EOVERFLOW && wse_stream_length(s) == 0,
	       "layer with overflowing shapes rejected (-EOVERFLOW)");
	TAP_OK(wse_stream_softmax(s, 0x1000, 0x2000, UINT32_MAX, 1u << 20) == 0,
	       "softmax of 2^54 bytes fits in 64 bits and is accepted");
	TAP_OK(wse_stream_softmax(s, 0x1000, 0x2000, UINT32_MAX, UINT32_MAX) == -EOVERFLOW,
	       "softmax of 2^66 bytes is -EOVERFLOW");
	wse_stream_reset(s);
	TAP_OK(wse_dtype_bytes(WSE_DT_Q8_0, 32, 64) == 32 * 2 * 34 &&
	       wse_dtype_bytes(WSE_DT_F16, 3, 5) == 30 && wse_dtype_bytes(WSE_DT_F32, 2, 2) == 16,
	       "wse_dtype_bytes: q8_0, f16, f32");
	TAP_OK(wse_dtype_bytes(WSE_DT_Q8_0, 1, 31) == 0 && wse_dtype_bytes(9, 1, 1) == 0 &&
	       wse_dtype_bytes(WSE_DT_F32, UINT64_MAX, 2) == 0,
	       "wse_dtype_bytes: 0 for a partial block, bad dtype, overflow");
	TAP_OK(wse_layer_scratch_bytes(64, 128, 4, 16, 2) ==
	       wse_hw_layer_scratch_bytes(64, 128, 4, 16, 2),
	       "wse_layer_scratch_bytes agrees with wse/hw_ops.h");
}

/*
 * Every operand's extent, op by op: placed so that it ends exactly at the
 * top of the 64-bit address space (the last byte at 2^64 - 2: the builder
 * refuses a range whose end wraps to 0) it is accepted, one byte higher it is
 * -EOVERFLOW naming the operand. The extents are worked out here from the
 * shapes, not taken from libwse, so a size computed one element or one row
 * short or long (or from a swapped dimension: no shape here is square) fails.
 */
enum { MAX_OPERANDS = 13 };

struct extent_case {
	const char *op;
	int (*append)(const uint64_t *addr);
	int n;
	const char *name[MAX_OPERANDS];
	uint64_t bytes[MAX_OPERANDS];
};

/* Shapes of the cases; each dimension differs from the others. */
#define MM_ROWS 5
#define MM_COLS 64
#define MM_BATCH 3
#define RN_DIM 24
#define RN_ROWS 3
#define ROPE_HEADS 3
#define ROPE_HD 10
#define ROPE_ROWS 7
#define AT_HEADS 6
#define AT_KV 2
#define AT_HD 12
#define AT_TOKENS 5
#define AT_CAP 11
#define EW_N 37
#define EM_DIM 96
#define EM_VOCAB 7
#define EM_TOKENS 5
#define SM_N 13
#define SM_ROWS 3
#define TK_K 4
#define LY_DIM 64
#define LY_HIDDEN 160
#define LY_HEADS 4
#define LY_KV 2
#define LY_HD 8
#define LY_TOKENS 3
#define LY_CAP 9

static uint32_t case_dtype;

/* Bytes of a rows x cols weight matrix of case_dtype, from the dtype's layout. */
static uint64_t wbytes(uint64_t rows, uint64_t cols)
{
	static const uint64_t num[] = { 4, 2, 2, 34 }, den[] = { 1, 1, 1, 32 };

	return rows * cols * num[case_dtype] / den[case_dtype];
}

static int ap_copy(const uint64_t *a)
{
	return wse_stream_copy(s, a[0], a[1], 4000);
}

static int ap_matmul(const uint64_t *a)
{
	struct wse_matmul mm = { .w = a[0], .x = a[1], .y = a[2], .rows = MM_ROWS,
				 .cols = MM_COLS, .batch = MM_BATCH, .wtype = case_dtype };

	return wse_stream_matmul(s, &mm);
}

static int ap_rmsnorm(const uint64_t *a)
{
	return wse_stream_rmsnorm(s, a[0], a[1], a[2], RN_DIM, RN_ROWS, 1e-5f);
}

static int ap_rope(const uint64_t *a)
{
	return wse_stream_rope(s, a[0], ROPE_HEADS, ROPE_HD, ROPE_ROWS, 2, 1e4f);
}

static int ap_attention(const uint64_t *a)
{
	struct wse_attention at = { .q = a[0], .k_cache = a[1], .v_cache = a[2], .out = a[3],
				    .n_heads = AT_HEADS, .n_kv_heads = AT_KV, .head_dim = AT_HD,
				    .n_tokens = AT_TOKENS, .pos = 1, .kv_capacity = AT_CAP };

	return wse_stream_attention(s, &at);
}

static int ap_add(const uint64_t *a)
{
	return wse_stream_add(s, a[0], a[1], a[2], EW_N);
}

static int ap_silu_mul(const uint64_t *a)
{
	return wse_stream_silu_mul(s, a[0], a[1], a[2], EW_N);
}

static int ap_embed(const uint64_t *a)
{
	return wse_stream_embed(s, a[0], a[1], a[2], EM_DIM, EM_VOCAB, EM_TOKENS, case_dtype);
}

static int ap_softmax(const uint64_t *a)
{
	return wse_stream_softmax(s, a[0], a[1], SM_N, SM_ROWS);
}

static int ap_argmax(const uint64_t *a)
{
	return wse_stream_argmax(s, a[0], a[1], SM_N, SM_ROWS);
}

static int ap_topk(const uint64_t *a)
{
	return wse_stream_topk(s, a[0], a[1], a[2], SM_N, TK_K, SM_ROWS);
}

static int ap_layer(const uint64_t *a)
{
	struct wse_layer ly = { .x = a[0], .attn_norm = a[1], .ffn_norm = a[2], .wq = a[3],
				.wk = a[4], .wv = a[5], .wo = a[6], .w_gate = a[7], .w_up = a[8],
				.w_down = a[9], .k_cache = a[10], .v_cache = a[11],
				.scratch = a[12], .dim = LY_DIM, .hidden_dim = LY_HIDDEN,
				.n_heads = LY_HEADS, .n_kv_heads = LY_KV, .head_dim = LY_HD,
				.n_tokens = LY_TOKENS, .pos = 2, .kv_capacity = LY_CAP,
				.wtype = case_dtype, .eps = 1e-5f, .rope_theta = 1e4f };

	return wse_stream_layer(s, &ly);
}

/* Checks every operand of c at its last accepted address and one byte above; 1 if all hold. */
static int extents_hold(const struct extent_case *c, const char *dtype)
{
	char where[64];
	int ok = 1;

	for (int i = 0; i < c->n; i++) {
		uint64_t addr[MAX_OPERANDS];
		size_t before = wse_stream_length(s), after_fit;
		int rc_fit, rc_over;

		for (int j = 0; j < c->n; j++)
			addr[j] = 0x100000ull * (j + 1);
		addr[i] = UINT64_MAX - c->bytes[i];
		rc_fit = c->append(addr);
		after_fit = wse_stream_length(s);
		addr[i]++;
		rc_over = c->append(addr);
		snprintf(where, sizeof(where), "%s: %s at ", c->op, c->name[i]);
		if (rc_fit != 0 || after_fit <= before ||
		    !rejected(rc_over, -EOVERFLOW, after_fit, where)) {
			TAP_NOTE("%s%s (%llu bytes): at the top %d, one byte over %d (%s)", where,
				 dtype, (unsigned long long)c->bytes[i], rc_fit, rc_over,
				 wse_stream_last_error(s));
			ok = 0;
		}
		wse_stream_reset(s);
	}
	return ok;
}

static void test_operand_extents(void)
{
	static const char *const dtype_name[] = { "f32", "f16", "bf16", "q8_0" };
	const uint64_t at_q = 4ull * AT_TOKENS * AT_HEADS * AT_HD;
	const uint64_t at_c = 4ull * AT_CAP * AT_KV * AT_HD;
	const uint64_t ly_q = LY_HEADS * LY_HD, ly_kv = LY_KV * LY_HD;
	const uint64_t ly_scratch = 4ull * LY_TOKENS * (LY_DIM + 2 * ly_q + 2 * LY_HIDDEN);
	int ok;

	const struct extent_case plain[] = {
		{ "copy", ap_copy, 2, { "dst", "src" }, { 4000, 4000 } },
		{ "rmsnorm", ap_rmsnorm, 3, { "x", "w", "y" },
		  { 4ull * RN_ROWS * RN_DIM, 4ull * RN_DIM, 4ull * RN_ROWS * RN_DIM } },
		{ "rope", ap_rope, 1, { "x" }, { 4ull * ROPE_ROWS * ROPE_HEADS * ROPE_HD } },
		{ "attention", ap_attention, 4, { "q", "k_cache", "v_cache", "out" },
		  { at_q, at_c, at_c, at_q } },
		{ "add", ap_add, 3, { "a", "b", "out" }, { 4 * EW_N, 4 * EW_N, 4 * EW_N } },
		{ "silu_mul", ap_silu_mul, 3, { "gate", "up", "out" },
		  { 4 * EW_N, 4 * EW_N, 4 * EW_N } },
		{ "softmax", ap_softmax, 2, { "x", "y" }, { 4 * SM_N * SM_ROWS, 4 * SM_N * SM_ROWS } },
		{ "argmax", ap_argmax, 2, { "x", "out" }, { 4 * SM_N * SM_ROWS, 4 * SM_ROWS } },
		{ "topk", ap_topk, 3, { "x", "out_index", "out_value" },
		  { 4 * SM_N * SM_ROWS, 4 * TK_K * SM_ROWS, 4 * TK_K * SM_ROWS } },
	};

	ok = 1;
	case_dtype = WSE_DT_F32;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		ok &= extents_hold(&plain[i], "");
	TAP_OK(ok, "copy, rmsnorm, rope, attention, add, silu_mul, softmax, argmax, topk: every "
	       "operand accepted ending at 2^64 - 1, -EOVERFLOW one byte higher");
	for (case_dtype = WSE_DT_F32; case_dtype <= WSE_DT_Q8_0; case_dtype++) {
		const struct extent_case weighted[] = {
			{ "matmul", ap_matmul, 3, { "w", "x", "y" },
			  { wbytes(MM_ROWS, MM_COLS), 4ull * MM_BATCH * MM_COLS,
			    4ull * MM_BATCH * MM_ROWS } },
			{ "embed", ap_embed, 3, { "table", "tokens", "out" },
			  { wbytes(EM_VOCAB, EM_DIM), 4ull * EM_TOKENS, 4ull * EM_TOKENS * EM_DIM } },
			{ "layer", ap_layer, 13,
			  { "x", "attn_norm", "ffn_norm", "wq", "wk", "wv", "wo", "w_gate", "w_up",
			    "w_down", "k_cache", "v_cache", "scratch" },
			  { 4ull * LY_TOKENS * LY_DIM, 4ull * LY_DIM, 4ull * LY_DIM,
			    wbytes(ly_q, LY_DIM), wbytes(ly_kv, LY_DIM), wbytes(ly_kv, LY_DIM),
			    wbytes(LY_DIM, ly_q), wbytes(LY_HIDDEN, LY_DIM), wbytes(LY_HIDDEN, LY_DIM),
			    wbytes(LY_DIM, LY_HIDDEN), 4ull * LY_CAP * ly_kv, 4ull * LY_CAP * ly_kv,
			    ly_scratch } },
		};

		ok = 1;
		for (size_t i = 0; i < sizeof(weighted) / sizeof(weighted[0]); i++)
			ok &= extents_hold(&weighted[i], dtype_name[case_dtype]);
		TAP_OK(ok, "%s matmul, embed and fused layer: every operand's extent is exact",
		       dtype_name[case_dtype]);
	}
}

/* Each limit at its edge: the last value that passes passes, the next one does not. */
static void test_edges(void)
{
	struct wse_attention at = { .q = 0x1000, .k_cache = 0x20000, .v_cache = 0x30000,
				    .out = 0x40000, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
				    .n_tokens = 3, .pos = 5, .kv_capacity = 8 };
	struct wse_layer ly = { .x = 0x100000, .attn_norm = 0x200000, .ffn_norm = 0x300000,
				.wq = 0x400000, .wk = 0x500000, .wv = 0x600000, .wo = 0x700000,
				.w_gate = 0x800000, .w_up = 0x900000, .w_down = 0xa00000,
				.k_cache = 0xb00000, .v_cache = 0xc00000, .scratch = 0xd00000,
				.dim = 64, .hidden_dim = 96, .n_heads = 4, .n_kv_heads = 2,
				.head_dim = 16, .n_tokens = 2, .pos = 6, .kv_capacity = 8,
				.wtype = WSE_DT_F32, .eps = 1e-5f, .rope_theta = 1e4f };
	struct wse_matmul mm = { .w = 0x1000, .x = 0x20000, .y = 0x30000, .rows = 4, .cols = 32,
				 .batch = 1, .wtype = WSE_DT_Q8_0 };
	wse_stream *tiny;

	TAP_OK(wse_stream_attention(s, &at) == 0,
	       "attention with pos + n_tokens == kv_capacity accepted");
	at.pos = 6;
	TAP_OK(rejected(wse_stream_attention(s, &at), -EINVAL, wse_stream_length(s), "kv_capacity"),
	       "attention with pos + n_tokens == kv_capacity + 1 rejected");
	at.pos = 0, at.n_tokens = 8;
	TAP_OK(wse_stream_attention(s, &at) == 0, "attention filling the whole cache from 0 accepted");
	TAP_OK(wse_stream_layer(s, &ly) == 0, "layer with pos + n_tokens == kv_capacity accepted");
	ly.n_tokens = 3;
	TAP_OK(rejected(wse_stream_layer(s, &ly), -EINVAL, wse_stream_length(s), "kv_capacity"),
	       "layer with pos + n_tokens == kv_capacity + 1 rejected");
	TAP_OK(wse_stream_rope(s, 0x1000, 2, 4, 1, UINT32_MAX - 1, 1e4f) == 0,
	       "rope whose last position is 2^32 - 2 (pos + rows == 2^32 - 1) accepted");
	TAP_OK(rejected(wse_stream_rope(s, 0x1000, 2, 4, 2, UINT32_MAX - 1, 1e4f), -EOVERFLOW,
			wse_stream_length(s), "pos"),
	       "rope with pos + rows == 2^32 rejected");
	TAP_OK(wse_stream_topk(s, 0x1000, 0x2000, 0x3000, 1, 1, 1) == 0, "topk k == n == 1 accepted");
	TAP_OK(rejected(wse_stream_topk(s, 0x1000, 0x2000, 0x3000, 7, 8, 1), -EINVAL,
			wse_stream_length(s), "larger than n"), "topk k == n + 1 rejected");
	TAP_OK(wse_stream_matmul(s, &mm) == 0, "q8_0 matmul with one block per row (cols 32) accepted");
	mm.cols = 16;
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EINVAL, wse_stream_length(s), "multiple of 32"),
	       "q8_0 matmul with half a block (cols 16) rejected");
	mm.cols = 96;
	mm.wtype = WSE_DT_Q8_0 + 1;
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EINVAL, wse_stream_length(s), "dtype"),
	       "the dtype after q8_0 is unknown");
	TAP_OK(rejected(wse_stream_embed(s, 1, 2, 3, 64 + 8, 10, 1, WSE_DT_Q8_0), -EINVAL,
			wse_stream_length(s), "dim"), "q8_0 embed with dim 72 rejected");
	ly.n_tokens = 2, ly.wtype = WSE_DT_Q8_0, ly.n_heads = 5, ly.n_kv_heads = 1, ly.head_dim = 8;
	TAP_OK(rejected(wse_stream_layer(s, &ly), -EINVAL, wse_stream_length(s), "n_heads * head_dim"),
	       "q8_0 layer whose n_heads * head_dim (40) is no multiple of 32 rejected");
	wse_stream_reset(s);

	TAP_OK(wse_stream_set_limits(s, 64, 48, ~0u, 0) == 0, "limits: a 64 x 48 grid");
	TAP_OK(wse_stream_set_region(s, 63, 47, 1, 1) == 0, "region: the last PE of the grid");
	TAP_OK(wse_stream_set_region(s, 57, 0, 8, 4) == -EINVAL,
	       "region: x + w == grid width + 1 rejected");
	TAP_OK(wse_stream_set_region(s, 0, 41, 4, 8) == -EINVAL,
	       "region: y + h == grid height + 1 rejected");
	TAP_OK(wse_stream_set_region(s, 0, 40, 64, 8) == 0, "region: y + h == grid height accepted");
	wse_stream_set_region(s, 0, 0, 0, 0);
	wse_stream_set_limits(s, 0, 0, ~0u, 0);

	TAP_OK(wse_stream_create(sizeof(struct wse_hw_op_hdr) - 1, &tiny) == -EINVAL,
	       "a stream one byte smaller than a header is refused");
	TAP_OK(wse_stream_create(sizeof(struct wse_hw_op_hdr), &tiny) == 0,
	       "a stream of exactly one header is created");
	TAP_OK(wse_stream_nop(tiny) == 0 && wse_stream_length(tiny) == 16, "and holds one nop");
	TAP_OK(rejected_by(tiny, wse_stream_nop(tiny), -ENOSPC, 16), "but not a second one");
	wse_stream_destroy(tiny);
	TAP_OK(wse_stream_create(40 + 16, &tiny) == 0 && wse_stream_copy(tiny, 1, 2, 3) == 0 &&
	       wse_stream_nop(tiny) == 0 && wse_stream_length(tiny) == 56,
	       "a 56-byte stream holds a copy (40) and a nop (16) exactly");
	TAP_OK(wse_stream_set_limits(tiny, 0, 0, ~0u, 48) == -EINVAL && wse_stream_length(tiny) == 56,
	       "set_limits below the current length (48 < 56) is -EINVAL");
	TAP_OK(wse_stream_set_limits(tiny, 0, 0, ~0u, 56) == 0 &&
	       rejected_by(tiny, wse_stream_nop(tiny), -ENOSPC, 56),
	       "set_limits to exactly the current length is accepted, and the stream is full");
	TAP_OK(wse_stream_set_limits(tiny, 0, 0, ~0u, 72) == 0 && wse_stream_nop(tiny) == 0 &&
	       wse_stream_length(tiny) == 72, "raised by 16 bytes it takes one more nop");
	wse_stream_destroy(tiny);
}

static void test_limits_and_regions(void)
{
	struct wse_matmul mm = { .w = 0x1000, .x = 0x2000, .y = 0x3000, .rows = 4, .cols = 64,
				 .batch = 1, .wtype = WSE_DT_BF16 };
	struct wse_layer ly = { .dim = 64, .hidden_dim = 64, .n_heads = 4, .n_kv_heads = 4,
				.head_dim = 16, .n_tokens = 1, .kv_capacity = 8,
				.eps = 1e-5f, .rope_theta = 1e4f };
	const struct wse_hw_op_hdr *h;
	wse_stream *small;

	TAP_OK(wse_stream_set_limits(s, 64, 0, ~0u, 0) == -EINVAL, "a 64x0 grid is rejected");
	TAP_OK(wse_stream_set_limits(s, 64, 64, WSE_FEATURE_F16, 0) == 0, "limits set: 64x64, f16 only");
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EOPNOTSUPP, 0, "BF16"),
	       "bf16 weights on a device without bf16 are -EOPNOTSUPP");
	TAP_OK(rejected(wse_stream_layer(s, &ly), -EOPNOTSUPP, 0, "fused"),
	       "fused layer on a device without it is -EOPNOTSUPP");
	TAP_OK(wse_stream_set_region(s, 60, 0, 8, 8) == -EINVAL &&
	       strstr(wse_stream_last_error(s), "outside"), "region past the grid's edge rejected");
	TAP_OK(wse_stream_set_region(s, 0, 0, 0, 4) == -EINVAL, "region with one zero side rejected");
	TAP_OK(wse_stream_set_region(s, 3, 0, 0, 0) == -EINVAL,
	       "whole-wafer region with an offset rejected");
	TAP_OK(wse_stream_set_region(s, 32, 16, 32, 48) == 0, "region 32x48 at (32,16) accepted");
	TAP_OK(wse_stream_nop(s) == 0, "nop after set_region");
	h = wse_stream_data(s);
	TAP_OK(h->region.x == 32 && h->region.y == 16 && h->region.w == 32 && h->region.h == 48,
	       "the record carries the region");
	wse_stream_reset(s);
	wse_stream_set_region(s, 0, 0, 0, 0);
	wse_stream_set_limits(s, 0, 0, ~0u, 0);

	TAP_OK(wse_stream_create(8, &small) == -EINVAL, "a stream smaller than a header is refused");
	TAP_OK(wse_stream_create(64, &small) == 0, "a 64-byte stream");
	TAP_OK(wse_stream_copy(small, 1, 2, 3) == 0, "first copy (40 bytes) fits");
	TAP_OK(wse_stream_copy(small, 1, 2, 3) == -ENOSPC && wse_stream_length(small) == 40 &&
	       strstr(wse_stream_last_error(small), "full"), "second copy is -ENOSPC, stream unchanged");
	TAP_OK(wse_stream_nop(small) == 0 && wse_stream_length(small) == 56,
	       "a 16-byte nop still fits after the refusal");
	wse_stream_destroy(small);
	TAP_OK(wse_stream_create(0, NULL) == -EINVAL, "create with NULL out is -EINVAL");
	wse_stream_destroy(NULL);
}

/* Appends the record r describes through its op's builder call. */
static int append_record(const union wafer_record *r)
{
	switch (r->hdr.op) {
	case WSE_OP_NOP:
		return wse_stream_nop(s);
	case WSE_OP_COPY:
		return wse_stream_copy(s, r->copy.dst, r->copy.src, r->copy.bytes);
	case WSE_OP_MATMUL: {
		const struct wse_hw_op_matmul *m = &r->matmul;
		struct wse_matmul mm = { .w = m->w, .x = m->x, .y = m->y, .rows = m->rows,
					 .cols = m->cols, .batch = m->batch, .wtype = m->wtype,
					 .accumulate = !!(m->hdr.flags & WSE_MATMUL_ACCUMULATE) };

		return wse_stream_matmul(s, &mm);
	}
	case WSE_OP_RMSNORM:
		return wse_stream_rmsnorm(s, r->rmsnorm.x, r->rmsnorm.w, r->rmsnorm.y,
					  r->rmsnorm.dim, r->rmsnorm.rows, r->rmsnorm.eps);
	case WSE_OP_ROPE:
		return wse_stream_rope(s, r->rope.x, r->rope.n_heads, r->rope.head_dim,
				       r->rope.rows, r->rope.pos, r->rope.theta);
	case WSE_OP_ATTENTION: {
		const struct wse_hw_op_attention *a = &r->attention;
		struct wse_attention at = { .q = a->q, .k_cache = a->k_cache,
					    .v_cache = a->v_cache, .out = a->out,
					    .n_heads = a->n_heads, .n_kv_heads = a->n_kv_heads,
					    .head_dim = a->head_dim, .n_tokens = a->n_tokens,
					    .pos = a->pos, .kv_capacity = a->kv_capacity };

		return wse_stream_attention(s, &at);
	}
	case WSE_OP_SILU_MUL:
		return wse_stream_silu_mul(s, r->silu_mul.gate, r->silu_mul.up, r->silu_mul.out,
					   r->silu_mul.n);
	case WSE_OP_ADD:
		return wse_stream_add(s, r->add.a, r->add.b, r->add.out, r->add.n);
	case WSE_OP_EMBED:
		return wse_stream_embed(s, r->embed.table, r->embed.tokens, r->embed.out,
					r->embed.dim, r->embed.vocab, r->embed.n_tokens,
					r->embed.wtype);
	case WSE_OP_SOFTMAX:
		return wse_stream_softmax(s, r->softmax.x, r->softmax.y, r->softmax.n,
					  r->softmax.rows);
	case WSE_OP_ARGMAX:
		return wse_stream_argmax(s, r->argmax.x, r->argmax.out, r->argmax.n,
					 r->argmax.rows);
	case WSE_OP_TOPK:
		return wse_stream_topk(s, r->topk.x, r->topk.out_index, r->topk.out_value,
				       r->topk.n, r->topk.k, r->topk.rows);
	case WSE_OP_LAYER: {
		const struct wse_hw_op_layer *l = &r->layer;
		struct wse_layer ly = {
			.x = l->x, .attn_norm = l->attn_norm, .wq = l->wq, .wk = l->wk,
			.wv = l->wv, .wo = l->wo, .ffn_norm = l->ffn_norm, .w_gate = l->w_gate,
			.w_down = l->w_down, .w_up = l->w_up, .k_cache = l->k_cache,
			.v_cache = l->v_cache, .scratch = l->scratch, .dim = l->dim,
			.hidden_dim = l->hidden_dim, .n_heads = l->n_heads,
			.n_kv_heads = l->n_kv_heads, .head_dim = l->head_dim,
			.n_tokens = l->n_tokens, .pos = l->pos, .kv_capacity = l->kv_capacity,
			.wtype = l->wtype, .eps = l->eps, .rope_theta = l->rope_theta };

		/* Garbage in the struct's tail padding must not reach the record. */
		memset((uint8_t *)&ly + offsetof(struct wse_layer, rope_theta) + sizeof(float), 0xa5,
		       sizeof(ly) - offsetof(struct wse_layer, rope_theta) - sizeof(float));
		return wse_stream_layer(s, &ly);
	}
	}
	return -ENOSYS;
}

/*
 * The cases test_wafer runs on the device: each valid record is appended
 * byte for byte as the device gets it; each broken rule is refused with its
 * errno, the stream unchanged and the op and field named.
 */
static void test_rulebook(void)
{
	char want[96];
	int ok = 1, rc;

	wse_stream_reset(s);
	for (uint16_t code = 0; code < WSE_OP_COUNT; code++) {
		const union wafer_record *r = &op_rule_valid[code];

		rc = append_record(r);
		if (rc || memcmp(last_hdr(r->hdr.length), r, r->hdr.length)) {
			TAP_NOTE("valid %s record: %d (%s)", wse_op_specs[code].name, rc,
				 wse_stream_last_error(s));
			ok = 0;
		}
	}
	TAP_OK(ok, "rulebook: a valid record of each of the %d ops is appended as it is",
	       WSE_OP_COUNT);
	for (size_t i = 0; i < OP_RULE_N_CASES; i++) {
		const struct op_rule_case *c = &op_rule_cases[i];
		union wafer_record r = op_rule_broken(c);
		size_t before = wse_stream_length(s);

		if (!c->err)
			continue;	/* the header and reserved fields are libwse's to write */
		snprintf(want, sizeof(want), "%s: %s ", wse_op_specs[c->code].name, c->field);
		rc = append_record(&r);
		TAP_OK(rejected(rc, -c->err, before, want), "rulebook: %s with %s broken: %d (want %d): %s",
		       wse_op_specs[c->code].name, c->field, rc, -c->err, wse_stream_last_error(s));
	}
	wse_stream_reset(s);
}

int main(void)
{
	TAP_OK(wse_stream_create(0, &s) == 0 && wse_stream_length(s) == 0, "empty stream created");
	test_records();
	test_every_op_accepted();
	test_zero_dims();
	test_shape_rules();
	test_overflow();
	test_operand_extents();
	test_edges();
	test_limits_and_regions();
	test_rulebook();
	wse_stream_destroy(s);
	return tap_done();
}
