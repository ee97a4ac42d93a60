// SPDX-License-Identifier: MIT
/*
 * cpu_backend.c - the native backend: weights used in place from the mapped
 * file, fp32 activations and KV cache, a pthread pool splitting matmul rows
 * and attention heads. A prompt batch runs as matrix-matrix products so each
 * weight row is read once per batch, not once per token.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/kernels/kernels.h"
#include "engine/threadpool.h"

_Static_assert(ENG_F32 == (int)KERN_F32 && ENG_F16 == (int)KERN_F16 && ENG_BF16 == (int)KERN_BF16 &&
	       ENG_Q8_0 == (int)KERN_Q8_0 && ENG_DTYPE_COUNT == (int)KERN_DTYPE_COUNT,
	       "the kernel library reads the engine's dtypes as its own");

struct cpu_state {
	struct eng_pool *pool;
	uint32_t n_ctx, max_batch, kv_dim, q_dim;
	float *k_cache, *v_cache;	/* per layer [n_ctx][kv_dim] */
	float *x, *xb, *q, *k, *v, *att, *gate, *up;
	float *scores;			/* per thread, n_ctx */
	float *inv_freq;		/* head_dim / 2 */
	struct eng_backend_stats stats;
};

/* ---- parallel matmul ------------------------------------------------------------- */

struct matmul_job {
	const struct kern_ops *ops;
	const struct eng_tensor *w[3];
	float *y[3];
	int n_w;
	const float *x;
	int n;
	uint64_t rows_per_task;
	uint64_t total_rows;
	uint64_t y_stride[3];
};

static void matmul_task(void *ctx, int task, int thread)
{
	struct matmul_job *job = ctx;
	uint64_t r0 = (uint64_t)task * job->rows_per_task;
	uint64_t r1 = r0 + job->rows_per_task;
	uint64_t base = 0;

	(void)thread;
	if (r1 > job->total_rows)
		r1 = job->total_rows;
	/* a task's row range may span the end of one weight and the start of the next */
	for (int i = 0; i < job->n_w; i++) {
		const struct eng_tensor *w = job->w[i];
		uint64_t lo = r0 > base ? r0 - base : 0;
		uint64_t hi = r1 - base < w->rows ? r1 - base : w->rows;

		if (r1 > base && lo < w->rows && lo < hi) {
			struct kern_matrix m = { w->data, (enum kern_dtype)w->type, w->cols, w->row_bytes };

			kern_matmul_rows(job->ops, &m, lo, hi, job->x, w->cols, (uint64_t)job->n,
					 job->y[i], job->y_stride[i]);
		}
		base += w->rows;
	}
}

/* y_i = x W_i^T for up to three weights sharing x (Q/K/V, gate/up). */
static void matmul(struct cpu_state *s, const float *x, int n, int n_w,
		   const struct eng_tensor *w0, float *y0, const struct eng_tensor *w1, float *y1,
		   const struct eng_tensor *w2, float *y2)
{
	struct matmul_job job = { .ops = kern_ops(), .w = { w0, w1, w2 }, .y = { y0, y1, y2 },
				  .n_w = n_w, .x = x, .n = n };
	int threads = eng_pool_threads(s->pool);
	uint64_t tasks;

	for (int i = 0; i < n_w; i++) {
		job.total_rows += job.w[i]->rows;
		job.y_stride[i] = job.w[i]->rows;
	}
	/* enough tasks to balance threads, big enough to amortise the hand-out */
	job.rows_per_task = job.total_rows / ((uint64_t)threads * 8);
	if (job.rows_per_task < 16)
		job.rows_per_task = 16;
	tasks = (job.total_rows + job.rows_per_task - 1) / job.rows_per_task;
	eng_pool_run(s->pool, matmul_task, &job, (int)tasks);
}

/* ---- attention --------------------------------------------------------------------- */

struct attn_job {
	struct cpu_state *s;
	const struct kern_ops *ops;
	const struct eng_hparams *hp;
	const float *k_cache, *v_cache;
	uint32_t pos;
};

static void attn_task(void *ctx, int task, int thread)
{
	struct attn_job *job = ctx;
	struct cpu_state *s = job->s;
	const struct eng_hparams *hp = job->hp;
	uint32_t t = (uint32_t)task / hp->n_heads, h = (uint32_t)task % hp->n_heads;
	uint32_t hd = hp->head_dim, kvh = h / (hp->n_heads / hp->n_kv_heads);
	uint32_t n_keys = job->pos + t + 1;
	const float *q = s->q + (size_t)t * s->q_dim + (size_t)h * hd;
	float *out = s->att + (size_t)t * s->q_dim + (size_t)h * hd;
	float *sc = s->scores + (size_t)thread * s->n_ctx;
	float scale = 1.0f / sqrtf((float)hd), max = -INFINITY, sum = 0;

	for (uint32_t j = 0; j < n_keys; j++) {
		const float *k = job->k_cache + (size_t)j * s->kv_dim + (size_t)kvh * hd;

		sc[j] = job->ops->dot[KERN_F32](k, q, hd) * scale;
		if (sc[j] > max)
			max = sc[j];
	}
	for (uint32_t j = 0; j < n_keys; j++) {
		sc[j] = expf(sc[j] - max);
		sum += sc[j];
	}
	memset(out, 0, hd * sizeof(*out));
	for (uint32_t j = 0; j < n_keys; j++) {
		const float *v = job->v_cache + (size_t)j * s->kv_dim + (size_t)kvh * hd;

		job->ops->axpy(out, sc[j] / sum, v, hd);
	}
}

static void rope(const struct cpu_state *s, float *vec, uint32_t n_heads, uint32_t head_dim,
		 uint32_t pos)
{
	for (uint32_t i = 0; i < head_dim / 2; i++) {
		float angle = (float)pos * s->inv_freq[i];
		float c = cosf(angle), sn = sinf(angle);

		for (uint32_t h = 0; h < n_heads; h++) {
			float *p = vec + (size_t)h * head_dim + 2 * i;
			float a = p[0], b = p[1];

			p[0] = a * c - b * sn;
			p[1] = a * sn + b * c;
		}
	}
}

/* ---- forward ------------------------------------------------------------------------ */

static int cpu_forward(struct eng_backend *be, const int32_t *tokens, uint32_t n, uint32_t pos,
		       float *logits, int all_logits, struct eng_err *err)
{
	struct cpu_state *s = be->priv;
	const struct eng_model *m = be->model;
	const struct eng_hparams *hp = &m->hp;
	uint32_t dim = hp->dim, hidden = hp->hidden_dim;

	(void)err;
	for (uint32_t t = 0; t < n; t++)
		eng_row_to_f32((const uint8_t *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes,
			       m->tok_embd.type, dim, s->x + (size_t)t * dim);
	for (uint32_t l = 0; l < hp->n_layers; l++) {
		const struct eng_layer *L = &m->layers[l];
		float *kc = s->k_cache + (size_t)l * s->n_ctx * s->kv_dim;
		float *vc = s->v_cache + (size_t)l * s->n_ctx * s->kv_dim;
		struct attn_job aj = { s, kern_ops(), hp, kc, vc, pos };

		for (uint32_t t = 0; t < n; t++)
			kern_rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, L->attn_norm.data, dim,
				     hp->rms_eps);
		/* K and V land directly in the cache rows of their positions */
		matmul(s, s->xb, (int)n, 3, &L->wq, s->q, &L->wk, kc + (size_t)pos * s->kv_dim,
		       &L->wv, vc + (size_t)pos * s->kv_dim);
		for (uint32_t t = 0; t < n; t++) {
			rope(s, s->q + (size_t)t * s->q_dim, hp->n_heads, hp->head_dim, pos + t);
			rope(s, kc + (size_t)(pos + t) * s->kv_dim, hp->n_kv_heads, hp->head_dim, pos + t);
		}
		eng_pool_run(s->pool, attn_task, &aj, (int)(n * hp->n_heads));
		matmul(s, s->att, (int)n, 1, &L->wo, s->xb, NULL, NULL, NULL, NULL);
		for (size_t i = 0; i < (size_t)n * dim; i++)
			s->x[i] += s->xb[i];

		for (uint32_t t = 0; t < n; t++)
			kern_rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, L->ffn_norm.data, dim,
				     hp->rms_eps);
		matmul(s, s->xb, (int)n, 2, &L->w_gate, s->gate, &L->w_up, s->up, NULL, NULL);
		kern_silu_mul(s->gate, s->gate, s->up, (size_t)n * hidden);
		matmul(s, s->gate, (int)n, 1, &L->w_down, s->xb, NULL, NULL, NULL, NULL);
		for (size_t i = 0; i < (size_t)n * dim; i++)
			s->x[i] += s->xb[i];
	}
	if (logits) {
		uint32_t first = all_logits ? 0 : n - 1;
		uint32_t rows = n - first;

		for (uint32_t t = first; t < n; t++)
			kern_rmsnorm(s->xb + (size_t)(t - first) * dim, s->x + (size_t)t * dim,
				     m->output_norm.data, dim, hp->rms_eps);
		matmul(s, s->xb, (int)rows, 1, &m->output, logits, NULL, NULL, NULL, NULL);
	}
	s->stats.forward_calls++;
	s->stats.tokens += n;
	if (n == 1)
		s->stats.decode_steps++;
	return 0;
}

static void cpu_reset(struct eng_backend *be)
{
	(void)be;	/* positions restart at 0; stale cache rows are overwritten before use */
}

static void cpu_stats(struct eng_backend *be, struct eng_backend_stats *out)
{
	struct cpu_state *s = be->priv;

	*out = s->stats;
}

static void cpu_destroy(struct eng_backend *be)
{
	struct cpu_state *s = be->priv;

	if (!s)
		return;
	eng_pool_destroy(s->pool);
	free(s->k_cache);
	free(s->v_cache);
	free(s->x);
	free(s->xb);
	free(s->q);
	free(s->att);
	free(s->gate);
	free(s->up);
	free(s->scores);
	free(s->inv_freq);
	free(s);
	be->priv = NULL;
}

static int cpu_create(struct eng_backend *be, struct eng_err *err)
{
	const struct eng_hparams *hp = &be->model->hp;
	struct cpu_state *s = calloc(1, sizeof(*s));
	size_t B, cache;

	if (!s)
		return eng_fail(err, "out of memory");
	be->priv = s;
	s->n_ctx = be->cfg.n_ctx;
	s->max_batch = be->cfg.max_batch;
	s->q_dim = hp->n_heads * hp->head_dim;
	s->kv_dim = hp->n_kv_heads * hp->head_dim;
	B = s->max_batch;
	cache = (size_t)hp->n_layers * s->n_ctx * s->kv_dim;
	s->pool = eng_pool_create(be->cfg.n_threads);
	s->k_cache = calloc(cache, sizeof(float));
	s->v_cache = calloc(cache, sizeof(float));
	/* xb is also the output-norm buffer and the matmul target of wo/w_down */
	s->x = malloc(B * hp->dim * sizeof(float));
	s->xb = malloc(B * hp->dim * sizeof(float));
	s->q = malloc(B * s->q_dim * sizeof(float));
	s->att = malloc(B * s->q_dim * sizeof(float));
	s->gate = malloc(B * hp->hidden_dim * sizeof(float));
	s->up = malloc(B * hp->hidden_dim * sizeof(float));
	s->scores = malloc((size_t)be->cfg.n_threads * s->n_ctx * sizeof(float));
	s->inv_freq = malloc(hp->head_dim / 2 * sizeof(float));
	if (!s->pool || !s->k_cache || !s->v_cache || !s->x || !s->xb || !s->q || !s->att ||
	    !s->gate || !s->up || !s->scores || !s->inv_freq) {
		cpu_destroy(be);
		return eng_fail(err, "out of memory for a %u-token context (KV cache %zu MiB)",
				be->cfg.n_ctx, 2 * cache * sizeof(float) >> 20);
	}
	for (uint32_t i = 0; i < hp->head_dim / 2; i++)
		s->inv_freq[i] = powf(hp->rope_theta, -2.0f * (float)i / (float)hp->head_dim);
	return 0;
}

const struct eng_backend_ops eng_cpu_backend_ops = {
	.name = "cpu",
	.create = cpu_create,
	.forward = cpu_forward,
	.reset = cpu_reset,
	.stats = cpu_stats,
	.destroy = cpu_destroy,
};
