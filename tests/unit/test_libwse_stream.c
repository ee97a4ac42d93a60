/* SPDX-License-Identifier: MIT */
/*
 * test_libwse_stream: the op-stream builder of libwse without a device:
 * record layout, and every validation rule (zero and overflowing shapes,
 * dtypes, q8_0 blocks, head counts, cache capacity, regions, stream size).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "libwse/wse.h"
#include "qemu-dev/wse_hw.h"
#include "tests/tap.h"

static wse_stream *s;

/* True when the last append failed with err, left the stream as it was and said why. */
static int rejected(int rc, int err, size_t len_before, const char *word)
{
	return rc == err && wse_stream_length(s) == len_before &&
	       strstr(wse_stream_last_error(s), word) != NULL;
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
	       rec->batch == 2 && rec->wtype == WSE_DTYPE_F16 && rec->w == 0x100000 &&
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
	TAP_OK(ok && off == wse_stream_length(s), "each record has its opcode and wse_hw.h size");
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
	       "wse_layer_scratch_bytes agrees with wse_hw.h");
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
	TAP_OK(rejected(wse_stream_matmul(s, &mm), -EOPNOTSUPP, 0, "bf16"),
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

int main(void)
{
	TAP_OK(wse_stream_create(0, &s) == 0 && wse_stream_length(s) == 0, "empty stream created");
	test_records();
	test_every_op_accepted();
	test_zero_dims();
	test_shape_rules();
	test_overflow();
	test_limits_and_regions();
	wse_stream_destroy(s);
	return tap_done();
}
