/* SPDX-License-Identifier: MIT */
/*
 * wafer_ops.c - the tensor ops on SRAM. wafer_exec() has validated the
 * record, bounds-checked, aligned-checked and alias-checked every operand,
 * so these only compute. Activations are fp32 and sums are fp32 (with
 * double where a whole row is reduced to one number); the big ops run on
 * the wafer's thread pool in units whose result does not depend on which
 * thread computes them.
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

/* ---- matmul --------------------------------------------------------------------- */

struct matmul_job {
	wafer_dot_fn *dot;
	const uint8_t *w;
	uint64_t row_bytes;
	const float *x;
	float *y;
	uint64_t rows, cols, batch, tile_rows;
	int accumulate;
};

static void matmul_tiles(void *ctx, uint64_t begin, uint64_t end)
{
	const struct matmul_job *job = ctx;

	for (uint64_t tile = begin; tile < end; tile++) {
		uint64_t r0 = tile * job->tile_rows;
		uint64_t r1 = job->rows - r0 < job->tile_rows ? job->rows : r0 + job->tile_rows;

		for (uint64_t b = 0; b < job->batch; b++) {
			const float *x = job->x + b * job->cols;
			float *y = job->y + b * job->rows;

			for (uint64_t r = r0; r < r1; r++) {
				float d = job->dot(job->w + r * job->row_bytes, x, job->cols);

				/* y + dot, not a sum seeded with y: same bits as a separate ADD. */
				y[r] = job->accumulate ? y[r] + d : d;
			}
		}
	}
}

static void run_matmul(struct wafer *wafer, const struct wse_hw_op_matmul *op)
{
	struct matmul_job job = {
		.dot = wafer->kernels.dot[op->wtype],
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

static void rmsnorm_rows(const float *x, const float *w, float *y, uint64_t dim,
			 uint64_t rows, float eps)
{
	for (uint64_t r = 0; r < rows; r++, x += dim, y += dim) {
		double ss = 0;
		float scale;

		for (uint64_t i = 0; i < dim; i++)
			ss += (double)x[i] * x[i];
		scale = (float)(1.0 / sqrt(ss / (double)dim + eps));
		for (uint64_t i = 0; i < dim; i++)
			y[i] = x[i] * scale * w[i];
	}
}

/* Pairs (2i, 2i+1) of each head turn by (pos + row) * theta^(-2i / head_dim). */
static void rope_rows(float *x, uint64_t n_heads, uint64_t head_dim, uint64_t rows,
		      uint64_t pos, float theta)
{
	uint64_t width = n_heads * head_dim;

	for (uint64_t r = 0; r < rows; r++, x += width) {
		double p = (double)(pos + r);

		for (uint64_t i = 0; i < head_dim; i += 2) {
			double angle = p * pow(theta, -(double)i / (double)head_dim);
			double c = cos(angle), s = sin(angle);

			for (uint64_t h = 0; h < n_heads; h++) {
				float *v = x + h * head_dim + i;
				double a = v[0], b = v[1];

				v[0] = (float)(a * c - b * s);
				v[1] = (float)(a * s + b * c);
			}
		}
	}
}

static void softmax_rows(const float *x, float *y, uint64_t n, uint64_t rows)
{
	for (uint64_t r = 0; r < rows; r++, x += n, y += n) {
		float max = x[0];
		double sum = 0, inv;

		for (uint64_t i = 1; i < n; i++)
			max = fmaxf(max, x[i]);
		for (uint64_t i = 0; i < n; i++) {
			y[i] = expf(x[i] - max);
			sum += y[i];
		}
		inv = 1.0 / sum;
		for (uint64_t i = 0; i < n; i++)
			y[i] = (float)(y[i] * inv);
	}
}

/* ---- attention ------------------------------------------------------------------- */

struct attention_job {
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
	uint64_t hd = job->head_dim;

	for (uint64_t unit = begin; unit < end; unit++) {
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
				scores[j] = job->k->dot[WSE_DTYPE_F32](kc + (j0 + j) * job->kv_row,
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
		}
		for (uint64_t i = 0; i < hd; i++)
			out[i] /= sum;
	}
}

static void run_attention(struct wafer *wafer, const struct wse_hw_op_attention *op)
{
	struct attention_job job = {
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

static void embed_row(const uint8_t *row, uint32_t wtype, float *out, uint64_t dim)
{
	const uint16_t *h = (const uint16_t *)row;

	switch (wtype) {
	case WSE_DTYPE_F32:
		memcpy(out, row, dim * sizeof(float));
		break;
	case WSE_DTYPE_F16:
		for (uint64_t i = 0; i < dim; i++)
			out[i] = wafer_f16_to_f32(h[i]);
		break;
	case WSE_DTYPE_BF16:
		for (uint64_t i = 0; i < dim; i++)
			out[i] = wafer_bf16_to_f32(h[i]);
		break;
	default:	/* q8_0 */
		for (uint64_t i = 0; i < dim; i += WSE_Q8_0_BLOCK, row += WSE_Q8_0_BLOCK_BYTES) {
			const int8_t *q = (const int8_t *)(row + 2);
			uint16_t scale_bits;
			float scale;

			memcpy(&scale_bits, row, sizeof(scale_bits));
			scale = wafer_f16_to_f32(scale_bits);
			for (int j = 0; j < WSE_Q8_0_BLOCK; j++)
				out[i + j] = scale * (float)q[j];
		}
		break;
	}
}

static int run_embed(struct wafer *wafer, const struct wse_hw_op_embed *op)
{
	const uint32_t *tokens = (const uint32_t *)(wafer->sram + op->tokens);
	uint64_t row_bytes = wafer_weight_bytes(op->wtype, 1, op->dim);
	float *out = f32_at(wafer, op->out);

	/* All or nothing: a bad token leaves out untouched. */
	for (uint32_t t = 0; t < op->n_tokens; t++)
		if (tokens[t] >= op->vocab)
			return WSE_STATUS_ERR_SHAPE;
	for (uint32_t t = 0; t < op->n_tokens; t++)
		embed_row(wafer->sram + op->table + tokens[t] * row_bytes, op->wtype,
			  out + (uint64_t)t * op->dim, op->dim);
	return WSE_STATUS_OK;
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

static void argmax_rows(const float *x, uint32_t *out, uint64_t n, uint64_t rows)
{
	for (uint64_t r = 0; r < rows; r++, x += n) {
		uint32_t best = 0;

		for (uint32_t i = 1; i < n; i++)
			if (ranks_below(x[best], best, x[i], i))
				best = i;
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

static void topk_rows(const float *x, uint32_t *out_index, float *out_value, uint64_t n,
		      uint64_t k, uint64_t rows)
{
	for (uint64_t r = 0; r < rows; r++, x += n, out_index += k, out_value += k) {
		for (uint64_t i = 0; i < k; i++) {
			out_index[i] = (uint32_t)i;
			out_value[i] = x[i];
		}
		for (uint64_t i = k / 2; i-- > 0;)
			heap_sift_down(out_index, out_value, k, i);
		for (uint64_t i = k; i < n; i++) {
			if (!ranks_below(out_value[0], out_index[0], x[i], (uint32_t)i))
				continue;
			out_index[0] = (uint32_t)i;
			out_value[0] = x[i];
			heap_sift_down(out_index, out_value, k, 0);
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
		}
	}
}

/* ---- dispatch ------------------------------------------------------------------------ */

int wafer_run_op(struct wafer *wafer, const union wafer_record *op)
{
	switch (op->hdr.op) {
	case WSE_OP_NOP:
		return WSE_STATUS_OK;
	case WSE_OP_COPY:
		if (op->copy.bytes)
			memmove(wafer->sram + op->copy.dst, wafer->sram + op->copy.src, op->copy.bytes);
		return WSE_STATUS_OK;
	case WSE_OP_MATMUL:
		run_matmul(wafer, &op->matmul);
		return WSE_STATUS_OK;
	case WSE_OP_RMSNORM:
		rmsnorm_rows(f32_at(wafer, op->rmsnorm.x), f32_at(wafer, op->rmsnorm.w),
			     f32_at(wafer, op->rmsnorm.y), op->rmsnorm.dim, op->rmsnorm.rows,
			     op->rmsnorm.eps);
		return WSE_STATUS_OK;
	case WSE_OP_ROPE:
		rope_rows(f32_at(wafer, op->rope.x), op->rope.n_heads, op->rope.head_dim,
			  op->rope.rows, op->rope.pos, op->rope.theta);
		return WSE_STATUS_OK;
	case WSE_OP_ATTENTION:
		run_attention(wafer, &op->attention);
		return WSE_STATUS_OK;
	case WSE_OP_SILU_MUL: {
		const float *g = f32_at(wafer, op->silu_mul.gate), *u = f32_at(wafer, op->silu_mul.up);
		float *out = f32_at(wafer, op->silu_mul.out);

		for (uint64_t i = 0; i < op->silu_mul.n; i++)
			out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
		return WSE_STATUS_OK;
	}
	case WSE_OP_ADD: {
		const float *a = f32_at(wafer, op->add.a), *b = f32_at(wafer, op->add.b);
		float *out = f32_at(wafer, op->add.out);

		for (uint64_t i = 0; i < op->add.n; i++)
			out[i] = a[i] + b[i];
		return WSE_STATUS_OK;
	}
	case WSE_OP_EMBED:
		return run_embed(wafer, &op->embed);
	case WSE_OP_SOFTMAX:
		softmax_rows(f32_at(wafer, op->softmax.x), f32_at(wafer, op->softmax.y),
			     op->softmax.n, op->softmax.rows);
		return WSE_STATUS_OK;
	case WSE_OP_ARGMAX:
		argmax_rows(f32_at(wafer, op->argmax.x), (uint32_t *)(wafer->sram + op->argmax.out),
			    op->argmax.n, op->argmax.rows);
		return WSE_STATUS_OK;
	case WSE_OP_TOPK:
		topk_rows(f32_at(wafer, op->topk.x), (uint32_t *)(wafer->sram + op->topk.out_index),
			  f32_at(wafer, op->topk.out_value), op->topk.n, op->topk.k, op->topk.rows);
		return WSE_STATUS_OK;
	default:
		/* LAYER runs as its steps in wafer.c; nothing else gets here. */
		return WSE_STATUS_ERR_OPCODE;
	}
}
