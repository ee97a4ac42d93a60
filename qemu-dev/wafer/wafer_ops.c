/* SPDX-License-Identifier: MIT */
/*
 * wafer_ops.c - the tensor ops on SRAM. wafer_exec() has validated the
 * record, bounds-checked, aligned-checked and alias-checked every operand,
 * so these only compute. Activations are fp32 and sums are fp32 (with
 * double where a whole row is reduced to one number); the big ops run on
 * the wafer's thread pool in units whose result does not depend on which
 * thread computes them.
 *
 * Every loop that can run long asks wafer_tick() between rows, heads,
 * tiles or chunks, and returns as soon as the op must stop (a reset is
 * waiting for it). Chunks split loops without reordering any sum, so the
 * results are the same bits as one pass.
 *
 * SRAM is guest-writable while an op runs (the BAR2 window, without any
 * lock against the device's worker). Data read twice can only give a wrong
 * result; a value that decides an index or a size must be read once, and
 * the copy that was checked is the one used (run_embed's token ids, the
 * only such operand: every other index and size comes from the record,
 * which is the model's own copy).
 */
#include <math.h>
#include <string.h>

#include "wafer_internal.h"

/* Below this many multiply-adds, waking the pool costs more than it saves. */
#define PARALLEL_MIN_WORK	(1u << 16)
/* Weight bytes per matmul tile: stays in L2 while every batch row uses it. */
#define MATMUL_TILE_BYTES	(128u << 10)
/* Keys scored at once by attention before the running softmax is updated. */
#define ATTN_BLOCK		64

static float *f32_at(struct wafer *wafer, uint64_t offset)
{
	return (float *)(wafer->sram + offset);
}

/* The end of the chunk of at most WAFER_STOP_GRAIN elements starting at i0. */
static uint64_t chunk_end(uint64_t i0, uint64_t n)
{
	return n - i0 < WAFER_STOP_GRAIN ? n : i0 + WAFER_STOP_GRAIN;
}

int wafer_stopping(struct wafer *wafer)
{
	if (wafer_stop_seen(wafer))
		return 1;
	if (!wafer->stop_fn || !wafer->stop_fn(wafer->stop_ctx))
		return 0;
	atomic_store_explicit(&wafer->stopped, 1, memory_order_relaxed);
	return 1;
}

/* ---- matmul --------------------------------------------------------------------- */

struct matmul_job {
	struct wafer *wafer;
	kern_dot_fn *dot;
	kern_dot2_fn *dot2;
	const uint8_t *w;
	uint64_t row_bytes;
	const float *x;
	float *y;
	uint64_t rows, cols, batch, tile_rows;
	int accumulate;
};

/* y + dot, not a sum seeded with y: same bits as a separate ADD. */
static void matmul_store(float *y, float dot, int accumulate)
{
	*y = accumulate ? *y + dot : dot;
}

/*
 * Batch rows go in pairs that share each weight load; the library gives a
 * pair the bits of two single dot products, so batching changes no result.
 */
static void matmul_tiles(void *ctx, uint64_t begin, uint64_t end)
{
	const struct matmul_job *job = ctx;
	struct wafer_ticker ticker = wafer_ticker(job->wafer);

	for (uint64_t tile = begin; tile < end && !wafer_stop_seen(job->wafer); tile++) {
		uint64_t r0 = tile * job->tile_rows;
		uint64_t r1 = job->rows - r0 < job->tile_rows ? job->rows : r0 + job->tile_rows;

		for (uint64_t b = 0; b < job->batch; b += 2) {
			const float *x = job->x + b * job->cols;
			float *y = job->y + b * job->rows;
			int pair = b + 1 < job->batch;

			for (uint64_t r = r0; r < r1; r++) {
				const uint8_t *w = job->w + r * job->row_bytes;
				float d[2];

				if (pair) {
					job->dot2(w, x, x + job->cols, job->cols, d);
					matmul_store(&y[job->rows + r], d[1], job->accumulate);
				} else {
					d[0] = job->dot(w, x, job->cols);
				}
				matmul_store(&y[r], d[0], job->accumulate);
				/* One row's dot is the grain: splitting it would reorder its sum. */
				if (wafer_tick(&ticker, (uint64_t)(1 + pair) * job->cols))
					return;
			}
		}
	}
}

static void run_matmul(struct wafer *wafer, const struct wse_hw_op_matmul *op)
{
	struct matmul_job job = {
		.wafer = wafer,
		.dot = wafer->kernels.dot[op->wtype],
		.dot2 = wafer->kernels.dot2[op->wtype],
		.w = wafer->sram + op->w,
		.row_bytes = wafer_weight_bytes(op->wtype, 1, op->cols),
		.x = f32_at(wafer, op->x),
		.y = f32_at(wafer, op->y),
		.rows = op->rows,
		.cols = op->cols,
		.batch = op->batch,
		.accumulate = !!(op->hdr.flags & WSE_MATMUL_ACCUMULATE),
	};
	uint64_t workers = wafer->pool.n_threads + 1, tiles;

	job.tile_rows = MATMUL_TILE_BYTES / job.row_bytes;
	/* Several tiles per thread, so that a slow thread does not hold up the rest. */
	if (job.tile_rows * 4 * workers > job.rows)
		job.tile_rows = job.rows / (4 * workers);
	if (!job.tile_rows)
		job.tile_rows = 1;
	tiles = (job.rows + job.tile_rows - 1) / job.tile_rows;
	if ((uint64_t)op->rows * op->cols * op->batch < PARALLEL_MIN_WORK)
		matmul_tiles(&job, 0, tiles);
	else
		wafer_pool_run(&wafer->pool, matmul_tiles, &job, tiles, 1);
}

/* ---- row ops -------------------------------------------------------------------- */

static void rmsnorm_rows(struct wafer *wafer, const float *x, const float *w, float *y,
			 uint64_t dim, uint64_t rows, float eps)
{
	struct wafer_ticker ticker = wafer_ticker(wafer);

	for (uint64_t r = 0; r < rows; r++, x += dim, y += dim) {
		double ss = 0;
		float scale;

		for (uint64_t i0 = 0, i1; i0 < dim; i0 = i1) {
			i1 = chunk_end(i0, dim);
			for (uint64_t i = i0; i < i1; i++)
				ss += (double)x[i] * x[i];
			if (wafer_tick(&ticker, i1 - i0))
				return;
		}
		scale = (float)(1.0 / sqrt(ss / (double)dim + eps));
		for (uint64_t i0 = 0, i1; i0 < dim; i0 = i1) {
			i1 = chunk_end(i0, dim);
			for (uint64_t i = i0; i < i1; i++)
				y[i] = x[i] * scale * w[i];
			if (wafer_tick(&ticker, i1 - i0))
				return;
		}
	}
}

/*
 * Pairs (2i, 2i+1) of each head turn by (pos + row) * theta^(-2i / head_dim).
 * Heads go in groups of about WAFER_STOP_GRAIN elements; a group computes
 * its angles again, which gives the same bits.
 */
static void rope_rows(struct wafer *wafer, float *x, uint64_t n_heads, uint64_t head_dim,
		      uint64_t rows, uint64_t pos, float theta)
{
	struct wafer_ticker ticker = wafer_ticker(wafer);
	uint64_t width = n_heads * head_dim;
	uint64_t group = head_dim >= WAFER_STOP_GRAIN ? 1 : WAFER_STOP_GRAIN / head_dim;

	for (uint64_t r = 0; r < rows; r++, x += width) {
		double p = (double)(pos + r);

		for (uint64_t h0 = 0, h1; h0 < n_heads; h0 = h1) {
			h1 = n_heads - h0 < group ? n_heads : h0 + group;
			for (uint64_t i = 0; i < head_dim; i += 2) {
				double angle = p * pow(theta, -(double)i / (double)head_dim);
				double c = cos(angle), s = sin(angle);

				for (uint64_t h = h0; h < h1; h++) {
					float *v = x + h * head_dim + i;
					double a = v[0], b = v[1];

					v[0] = (float)(a * c - b * s);
					v[1] = (float)(a * s + b * c);
				}
				if (wafer_tick(&ticker, h1 - h0))
					return;
			}
		}
	}
}

static void softmax_rows(struct wafer *wafer, const float *x, float *y, uint64_t n,
			 uint64_t rows)
{
	struct wafer_ticker ticker = wafer_ticker(wafer);

	for (uint64_t r = 0; r < rows; r++, x += n, y += n) {
		float max = x[0];
		double sum = 0, inv;

		for (uint64_t i0 = 0, i1; i0 < n; i0 = i1) {
			i1 = chunk_end(i0, n);
			for (uint64_t i = i0 ? i0 : 1; i < i1; i++)
				max = fmaxf(max, x[i]);
			if (wafer_tick(&ticker, i1 - i0))
				return;
		}
		for (uint64_t i0 = 0, i1; i0 < n; i0 = i1) {
			i1 = chunk_end(i0, n);
			for (uint64_t i = i0; i < i1; i++) {
				y[i] = expf(x[i] - max);
				sum += y[i];
			}
			if (wafer_tick(&ticker, i1 - i0))
				return;
		}
		inv = 1.0 / sum;
		for (uint64_t i0 = 0, i1; i0 < n; i0 = i1) {
			i1 = chunk_end(i0, n);
			for (uint64_t i = i0; i < i1; i++)
				y[i] = (float)(y[i] * inv);
			if (wafer_tick(&ticker, i1 - i0))
				return;
		}
	}
}

/* ---- attention ------------------------------------------------------------------- */

struct attention_job {
	struct wafer *wafer;
	const struct wafer_kernels *k;
	const float *q, *k_cache, *v_cache;
	float *out;
	uint64_t n_heads, group, head_dim, kv_row, pos;
	float scale;
};

/*
 * One (token, head) pair: a single pass over its keys with a running max
 * and sum (online softmax), so no score buffer as long as the context is
 * needed and the result is numerically stable.
 */
static void attention_units(void *ctx, uint64_t begin, uint64_t end)
{
	const struct attention_job *job = ctx;
	struct wafer_ticker ticker = wafer_ticker(job->wafer);
	uint64_t hd = job->head_dim;

	for (uint64_t unit = begin; unit < end && !wafer_stop_seen(job->wafer); unit++) {
		uint64_t t = unit / job->n_heads, h = unit % job->n_heads;
		uint64_t keys = job->pos + t + 1;
		const float *q = job->q + unit * hd;
		const float *kc = job->k_cache + (h / job->group) * hd;
		const float *vc = job->v_cache + (h / job->group) * hd;
		float *out = job->out + unit * hd;
		float max = -INFINITY, sum = 0, scores[ATTN_BLOCK];

		memset(out, 0, hd * sizeof(*out));
		for (uint64_t j0 = 0; j0 < keys; j0 += ATTN_BLOCK) {
			uint64_t nb = keys - j0 < ATTN_BLOCK ? keys - j0 : ATTN_BLOCK;
			float block_max = -INFINITY;

			for (uint64_t j = 0; j < nb; j++) {
				scores[j] = job->k->dot[WSE_HW_DTYPE_F32](kc + (j0 + j) * job->kv_row,
								     q, hd) * job->scale;
				block_max = fmaxf(block_max, scores[j]);
			}
			if (block_max > max) {
				float rescale = expf(max - block_max);

				for (uint64_t i = 0; i < hd; i++)
					out[i] *= rescale;
				sum *= rescale;
				max = block_max;
			}
			for (uint64_t j = 0; j < nb; j++) {
				float p = expf(scores[j] - max);

				sum += p;
				job->k->axpy(out, p, vc + (j0 + j) * job->kv_row, hd);
			}
			if (wafer_tick(&ticker, 2 * nb * hd))
				return;
		}
		for (uint64_t i = 0; i < hd; i++)
			out[i] /= sum;
	}
}

static void run_attention(struct wafer *wafer, const struct wse_hw_op_attention *op)
{
	struct attention_job job = {
		.wafer = wafer,
		.k = &wafer->kernels,
		.q = f32_at(wafer, op->q),
		.k_cache = f32_at(wafer, op->k_cache),
		.v_cache = f32_at(wafer, op->v_cache),
		.out = f32_at(wafer, op->out),
		.n_heads = op->n_heads,
		.group = op->n_heads / op->n_kv_heads,
		.head_dim = op->head_dim,
		.kv_row = (uint64_t)op->n_kv_heads * op->head_dim,
		.pos = op->pos,
		.scale = (float)(1.0 / sqrt((double)op->head_dim)),
	};
	uint64_t units = (uint64_t)op->n_tokens * op->n_heads;
	uint64_t work = units * ((uint64_t)op->pos + op->n_tokens) * op->head_dim;

	if (work < PARALLEL_MIN_WORK)
		attention_units(&job, 0, units);
	else
		wafer_pool_run(&wafer->pool, attention_units, &job, units, 1);
}

/* ---- embed, argmax, topk ---------------------------------------------------------- */

/* Token ids copied out of SRAM at a time, checked, then used. */
#define EMBED_IDS	256

/*
 * An atomic load is one read the compiler can neither repeat nor split, so
 * the value checked is the value used however the guest races BAR2.
 */
static uint32_t load_token(const uint32_t *token)
{
	return __atomic_load_n(token, __ATOMIC_RELAXED);
}

static int run_embed(struct wafer *wafer, const struct wse_hw_op_embed *op)
{
	const uint32_t *tokens = (const uint32_t *)(wafer->sram + op->tokens);
	uint64_t row_bytes = wafer_weight_bytes(op->wtype, 1, op->dim);
	const uint8_t *table = wafer->sram + op->table;
	float *out = f32_at(wafer, op->out);
	struct wafer_ticker ticker = wafer_ticker(wafer);
	uint32_t ids[EMBED_IDS];

	/*
	 * All or nothing for a guest that does not race: a bad token leaves
	 * out untouched. Memory safety does not rest on this pass.
	 */
	for (uint32_t t = 0; t < op->n_tokens; t++)
		if (load_token(&tokens[t]) >= op->vocab)
			return WSE_HW_STATUS_ERR_SHAPE;
	for (uint32_t t0 = 0, n; t0 < op->n_tokens; t0 += n) {
		n = op->n_tokens - t0 < EMBED_IDS ? op->n_tokens - t0 : EMBED_IDS;
		for (uint32_t i = 0; i < n; i++) {
			ids[i] = load_token(&tokens[t0 + i]);
			/* Rewritten through BAR2 since the first pass: stop here. */
			if (ids[i] >= op->vocab)
				return WSE_HW_STATUS_ERR_SHAPE;
		}
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *row = table + ids[i] * row_bytes;
			float *dst = out + (uint64_t)(t0 + i) * op->dim;

			for (uint64_t c0 = 0, c1; c0 < op->dim; c0 = c1) {
				c1 = chunk_end(c0, op->dim);
				kern_row_to_f32(row, (enum kern_dtype)op->wtype, c0, c1, dst);
				if (wafer_tick(&ticker, c1 - c0))
					return WSE_HW_STATUS_OK;
			}
		}
	}
	return WSE_HW_STATUS_OK;
}

/* NaN ranks below every number; equal values rank by lower index first. */
static int ranks_below(float va, uint32_t ia, float vb, uint32_t ib)
{
	if (isnan(va) || isnan(vb)) {
		if (isnan(va) != isnan(vb))
			return isnan(va);
		return ia > ib;
	}
	if (va != vb)
		return va < vb;
	return ia > ib;
}

static void argmax_rows(struct wafer *wafer, const float *x, uint32_t *out, uint64_t n,
			uint64_t rows)
{
	struct wafer_ticker ticker = wafer_ticker(wafer);

	for (uint64_t r = 0; r < rows; r++, x += n) {
		uint32_t best = 0;

		for (uint64_t i0 = 0, i1; i0 < n; i0 = i1) {
			i1 = chunk_end(i0, n);
			for (uint32_t i = i0 ? (uint32_t)i0 : 1; i < i1; i++)
				if (ranks_below(x[best], best, x[i], i))
					best = i;
			if (wafer_tick(&ticker, i1 - i0))
				return;
		}
		out[r] = best;
	}
}

/* Min-heap (by rank) of the best k so far, kept in the output row itself. */
static void heap_sift_down(uint32_t *idx, float *val, uint64_t size, uint64_t i)
{
	for (;;) {
		uint64_t l = 2 * i + 1, r = l + 1, low = i;
		uint32_t ti;
		float tv;

		if (l < size && ranks_below(val[l], idx[l], val[low], idx[low]))
			low = l;
		if (r < size && ranks_below(val[r], idx[r], val[low], idx[low]))
			low = r;
		if (low == i)
			return;
		ti = idx[i], idx[i] = idx[low], idx[low] = ti;
		tv = val[i], val[i] = val[low], val[low] = tv;
		i = low;
	}
}

/*
 * The heap lives in the output rows, which the guest can rewrite while this
 * runs: its values are only compared and swapped, never used as an index.
 */
static void topk_rows(struct wafer *wafer, const float *x, uint32_t *out_index,
		      float *out_value, uint64_t n, uint64_t k, uint64_t rows)
{
	struct wafer_ticker ticker = wafer_ticker(wafer);

	for (uint64_t r = 0; r < rows; r++, x += n, out_index += k, out_value += k) {
		for (uint64_t i0 = 0, i1; i0 < k; i0 = i1) {
			i1 = chunk_end(i0, k);
			for (uint64_t i = i0; i < i1; i++) {
				out_index[i] = (uint32_t)i;
				out_value[i] = x[i];
			}
			if (wafer_tick(&ticker, i1 - i0))
				return;
		}
		for (uint64_t i = k / 2; i-- > 0;) {
			heap_sift_down(out_index, out_value, k, i);
			if (wafer_tick(&ticker, 1))
				return;
		}
		/* Most candidates only compare with the root, kept in registers. */
		for (uint64_t i0 = k, i1; i0 < n; i0 = i1) {
			float root_value = out_value[0];
			uint32_t root_index = out_index[0];

			i1 = chunk_end(i0, n);
			for (uint64_t i = i0; i < i1; i++) {
				if (!ranks_below(root_value, root_index, x[i], (uint32_t)i))
					continue;
				out_index[0] = (uint32_t)i;
				out_value[0] = x[i];
				heap_sift_down(out_index, out_value, k, 0);
				root_value = out_value[0];
				root_index = out_index[0];
			}
			if (wafer_tick(&ticker, i1 - i0))
				return;
		}
		/* Heap sort: moving the lowest to the back leaves the row best first. */
		for (uint64_t size = k; size > 1; size--) {
			uint32_t ti = out_index[0];
			float tv = out_value[0];

			out_index[0] = out_index[size - 1];
			out_value[0] = out_value[size - 1];
			out_index[size - 1] = ti;
			out_value[size - 1] = tv;
			heap_sift_down(out_index, out_value, size - 1, 0);
			if (wafer_tick(&ticker, 1))
				return;
		}
	}
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* memmove in chunks, in the order that keeps an overlapping source intact. */
static void copy_sram(struct wafer *wafer, uint64_t dst, uint64_t src, uint64_t bytes)
{
	const uint64_t chunk = 4ull * WAFER_STOP_GRAIN;
	uint8_t *d = wafer->sram + dst;
	const uint8_t *s = wafer->sram + src;

	if (dst <= src || dst >= src + bytes) {
		for (uint64_t done = 0, n; done < bytes; done += n) {
			n = bytes - done < chunk ? bytes - done : chunk;
			memmove(d + done, s + done, n);
			if (wafer_stopping(wafer))
				return;
		}
	} else {
		for (uint64_t left = bytes, n; left; left -= n) {
			n = left < chunk ? left : chunk;
			memmove(d + left - n, s + left - n, n);
			if (wafer_stopping(wafer))
				return;
		}
	}
}

static void silu_mul(struct wafer *wafer, const float *g, const float *u, float *out,
		     uint64_t n)
{
	for (uint64_t i0 = 0, i1; i0 < n; i0 = i1) {
		i1 = chunk_end(i0, n);
		kern_silu_mul(out + i0, g + i0, u + i0, i1 - i0);
		if (wafer_stopping(wafer))
			return;
	}
}

static void add(struct wafer *wafer, const float *a, const float *b, float *out, uint64_t n)
{
	for (uint64_t i0 = 0, i1; i0 < n; i0 = i1) {
		i1 = chunk_end(i0, n);
		for (uint64_t i = i0; i < i1; i++)
			out[i] = a[i] + b[i];
		if (wafer_stopping(wafer))
			return;
	}
}

int wafer_run_op(struct wafer *wafer, const union wafer_record *op)
{
	switch (op->hdr.op) {
	case WSE_OP_NOP:
		return WSE_HW_STATUS_OK;
	case WSE_OP_COPY:
		copy_sram(wafer, op->copy.dst, op->copy.src, op->copy.bytes);
		return WSE_HW_STATUS_OK;
	case WSE_OP_MATMUL:
		run_matmul(wafer, &op->matmul);
		return WSE_HW_STATUS_OK;
	case WSE_OP_RMSNORM:
		rmsnorm_rows(wafer, f32_at(wafer, op->rmsnorm.x), f32_at(wafer, op->rmsnorm.w),
			     f32_at(wafer, op->rmsnorm.y), op->rmsnorm.dim, op->rmsnorm.rows,
			     op->rmsnorm.eps);
		return WSE_HW_STATUS_OK;
	case WSE_OP_ROPE:
		rope_rows(wafer, f32_at(wafer, op->rope.x), op->rope.n_heads, op->rope.head_dim,
			  op->rope.rows, op->rope.pos, op->rope.theta);
		return WSE_HW_STATUS_OK;
	case WSE_OP_ATTENTION:
		run_attention(wafer, &op->attention);
		return WSE_HW_STATUS_OK;
	case WSE_OP_SILU_MUL:
		silu_mul(wafer, f32_at(wafer, op->silu_mul.gate), f32_at(wafer, op->silu_mul.up),
			 f32_at(wafer, op->silu_mul.out), op->silu_mul.n);
		return WSE_HW_STATUS_OK;
	case WSE_OP_ADD:
		add(wafer, f32_at(wafer, op->add.a), f32_at(wafer, op->add.b),
		    f32_at(wafer, op->add.out), op->add.n);
		return WSE_HW_STATUS_OK;
	case WSE_OP_EMBED:
		return run_embed(wafer, &op->embed);
	case WSE_OP_SOFTMAX:
		softmax_rows(wafer, f32_at(wafer, op->softmax.x), f32_at(wafer, op->softmax.y),
			     op->softmax.n, op->softmax.rows);
		return WSE_HW_STATUS_OK;
	case WSE_OP_ARGMAX:
		argmax_rows(wafer, f32_at(wafer, op->argmax.x),
			    (uint32_t *)(wafer->sram + op->argmax.out), op->argmax.n,
			    op->argmax.rows);
		return WSE_HW_STATUS_OK;
	case WSE_OP_TOPK:
		topk_rows(wafer, f32_at(wafer, op->topk.x),
			  (uint32_t *)(wafer->sram + op->topk.out_index),
			  f32_at(wafer, op->topk.out_value), op->topk.n, op->topk.k, op->topk.rows);
		return WSE_HW_STATUS_OK;
	default:
		/* LAYER runs as its steps in wafer.c; nothing else gets here. */
		return WSE_HW_STATUS_ERR_OPCODE;
	}
}
