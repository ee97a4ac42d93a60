/* SPDX-License-Identifier: MIT */
/*
 * model.c - forward and backward pass of the trainer's Llama.
 */
#include "engine/train/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *tr_config_check(const struct tr_config *c)
{
	if (c->dim < 4 || c->dim > 4096 || c->dim % 2)
		return "dim must be even and in 4..4096";
	if (c->hidden < 1 || c->hidden > 16384)
		return "hidden must be in 1..16384";
	if (c->n_layers < 1 || c->n_layers > 64)
		return "layers must be in 1..64";
	if (c->n_heads < 1 || c->dim % c->n_heads || (c->dim / c->n_heads) % 2)
		return "heads must divide dim into even head sizes";
	if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads)
		return "kv heads must divide heads";
	if (c->vocab < 260 || c->vocab > 65536)
		return "vocab must be in 260..65536";
	if (c->seq_len < 2 || c->seq_len > 4096)
		return "context must be in 2..4096";
	if (!(c->rope_theta > 1.0f) || !(c->rms_eps > 0.0f))
		return "rope theta must be > 1 and rms eps > 0";
	return NULL;
}

struct tr_model *tr_model_new(const struct tr_config *c)
{
	struct tr_model *m;
	size_t off = 0, d = (size_t)c->dim, f = (size_t)c->hidden;
	size_t kvd = (size_t)c->n_kv_heads * (size_t)(c->dim / c->n_heads);
	int hd = c->dim / c->n_heads;

	if (tr_config_check(c))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->c = *c;
	m->layer = calloc((size_t)c->n_layers, sizeof(*m->layer));
	m->rope_cos = malloc(sizeof(float) * (size_t)c->seq_len * (size_t)(hd / 2));
	m->rope_sin = malloc(sizeof(float) * (size_t)c->seq_len * (size_t)(hd / 2));
	if (!m->layer || !m->rope_cos || !m->rope_sin) {
		tr_model_free(m);
		return NULL;
	}
	m->tok_embd = off;
	off += (size_t)c->vocab * d;
	for (int l = 0; l < c->n_layers; l++) {
		struct tr_layer_off *L = &m->layer[l];

		L->attn_norm = off; off += d;
		L->wq = off; off += d * d;
		L->wk = off; off += kvd * d;
		L->wv = off; off += kvd * d;
		L->wo = off; off += d * d;
		L->ffn_norm = off; off += d;
		L->w_gate = off; off += f * d;
		L->w_up = off; off += f * d;
		L->w_down = off; off += d * f;
	}
	m->output_norm = off;
	off += d;
	m->n_params = off;
	m->p = calloc(off, sizeof(float));
	m->pt = calloc(off, sizeof(float));
	if (!m->p || !m->pt) {
		tr_model_free(m);
		return NULL;
	}
	tr_rope_table(m->rope_cos, m->rope_sin, c->seq_len, hd, c->rope_theta);
	return m;
}

void tr_model_free(struct tr_model *m)
{
	if (!m)
		return;
	free(m->layer);
	free(m->rope_cos);
	free(m->rope_sin);
	free(m->p);
	free(m->pt);
	free(m);
}

/* splitmix64: a seedable generator whose stream is the same everywhere. */
static uint64_t mix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform01(uint64_t *s)
{
	return ((double)(mix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void fill_normal(float *x, size_t n, double std, uint64_t *s)
{
	for (size_t i = 0; i < n; i++) {
		double u1 = uniform01(s), u2 = uniform01(s);

		x[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
	}
}

void tr_model_init(struct tr_model *m, uint64_t seed)
{
	const struct tr_config *c = &m->c;
	size_t d = (size_t)c->dim, f = (size_t)c->hidden;
	size_t kvd = (size_t)c->n_kv_heads * (size_t)(c->dim / c->n_heads);
	double std = 0.02, res_std = 0.02 / sqrt(2.0 * c->n_layers);
	uint64_t s = seed ^ 0x5eed5eed5eedull;

	fill_normal(m->p + m->tok_embd, (size_t)c->vocab * d, std, &s);
	for (int l = 0; l < c->n_layers; l++) {
		struct tr_layer_off *L = &m->layer[l];

		for (size_t i = 0; i < d; i++) {
			m->p[L->attn_norm + i] = 1.0f;
			m->p[L->ffn_norm + i] = 1.0f;
		}
		fill_normal(m->p + L->wq, d * d, std, &s);
		fill_normal(m->p + L->wk, kvd * d, std, &s);
		fill_normal(m->p + L->wv, kvd * d, std, &s);
		fill_normal(m->p + L->wo, d * d, res_std, &s);
		fill_normal(m->p + L->w_gate, f * d, std, &s);
		fill_normal(m->p + L->w_up, f * d, std, &s);
		fill_normal(m->p + L->w_down, d * f, res_std, &s);
	}
	for (size_t i = 0; i < d; i++)
		m->p[m->output_norm + i] = 1.0f;
	tr_model_sync(m);
}

static void transpose(float *dst, const float *src, size_t rows, size_t cols)
{
	/* blocked so that both sides stay in cache */
	for (size_t r0 = 0; r0 < rows; r0 += 32)
		for (size_t c0 = 0; c0 < cols; c0 += 32)
			for (size_t r = r0; r < rows && r < r0 + 32; r++)
				for (size_t c = c0; c < cols && c < c0 + 32; c++)
					dst[c * rows + r] = src[r * cols + c];
}

void tr_model_sync(struct tr_model *m)
{
	const struct tr_config *c = &m->c;
	size_t d = (size_t)c->dim, f = (size_t)c->hidden;
	size_t kvd = (size_t)c->n_kv_heads * (size_t)(c->dim / c->n_heads);

	transpose(m->pt + m->tok_embd, m->p + m->tok_embd, (size_t)c->vocab, d);
	for (int l = 0; l < c->n_layers; l++) {
		struct tr_layer_off *L = &m->layer[l];

		transpose(m->pt + L->wq, m->p + L->wq, d, d);
		transpose(m->pt + L->wk, m->p + L->wk, kvd, d);
		transpose(m->pt + L->wv, m->p + L->wv, kvd, d);
		transpose(m->pt + L->wo, m->p + L->wo, d, d);
		transpose(m->pt + L->w_gate, m->p + L->w_gate, f, d);
		transpose(m->pt + L->w_up, m->p + L->w_up, f, d);
		transpose(m->pt + L->w_down, m->p + L->w_down, d, f);
	}
}

int tr_param_is_matrix(const struct tr_model *m, size_t i)
{
	size_t d = (size_t)m->c.dim;

	if (i >= m->output_norm)
		return 0;
	for (int l = 0; l < m->c.n_layers; l++) {
		const struct tr_layer_off *L = &m->layer[l];

		if ((i >= L->attn_norm && i < L->attn_norm + d) ||
		    (i >= L->ffn_norm && i < L->ffn_norm + d))
			return 0;
	}
	return 1;
}

/* ---- primitives ---------------------------------------------------------- */

void tr_gemm_acc(float *C, int ldc, const float *A, int lda, const float *B, int ldb,
		 int M, int N, int K)
{
	int m = 0;

	/* 4x4 register tile of A: each pass over a C row does 16 FMAs per 4 loads + 4 stores */
	for (; m + 4 <= M; m += 4) {
		float *restrict c0 = C + (size_t)m * ldc;
		float *restrict c1 = c0 + ldc;
		float *restrict c2 = c1 + ldc;
		float *restrict c3 = c2 + ldc;
		const float *a0 = A + (size_t)m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
		int k = 0;

		for (; k + 4 <= K; k += 4) {
			const float *restrict b0 = B + (size_t)k * ldb;
			const float *restrict b1 = b0 + ldb;
			const float *restrict b2 = b1 + ldb;
			const float *restrict b3 = b2 + ldb;
			float x00 = a0[k], x01 = a0[k + 1], x02 = a0[k + 2], x03 = a0[k + 3];
			float x10 = a1[k], x11 = a1[k + 1], x12 = a1[k + 2], x13 = a1[k + 3];
			float x20 = a2[k], x21 = a2[k + 1], x22 = a2[k + 2], x23 = a2[k + 3];
			float x30 = a3[k], x31 = a3[k + 1], x32 = a3[k + 2], x33 = a3[k + 3];

			for (int n = 0; n < N; n++) {
				float y0 = b0[n], y1 = b1[n], y2 = b2[n], y3 = b3[n];

				c0[n] += x00 * y0 + x01 * y1 + x02 * y2 + x03 * y3;
				c1[n] += x10 * y0 + x11 * y1 + x12 * y2 + x13 * y3;
				c2[n] += x20 * y0 + x21 * y1 + x22 * y2 + x23 * y3;
				c3[n] += x30 * y0 + x31 * y1 + x32 * y2 + x33 * y3;
			}
		}
		for (; k < K; k++) {
			const float *restrict b = B + (size_t)k * ldb;
			float x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];

			for (int n = 0; n < N; n++) {
				c0[n] += x0 * b[n];
				c1[n] += x1 * b[n];
				c2[n] += x2 * b[n];
				c3[n] += x3 * b[n];
			}
		}
	}
	for (; m < M; m++) {
		float *restrict c = C + (size_t)m * ldc;
		const float *a = A + (size_t)m * lda;

		for (int k = 0; k < K; k++) {
			const float *restrict b = B + (size_t)k * ldb;
			float x = a[k];

			for (int n = 0; n < N; n++)
				c[n] += x * b[n];
		}
	}
}

void tr_matmul_fwd(float *Y, const float *X, const float *WT, int T, int K, int N)
{
	memset(Y, 0, sizeof(float) * (size_t)T * (size_t)N);
	tr_gemm_acc(Y, N, X, K, WT, N, T, N, K);
}

void tr_matmul_bwd(float *dX, float *dW, const float *dY, const float *X, const float *W,
		   int T, int K, int N, float *scratch)
{
	if (dX)
		tr_gemm_acc(dX, K, dY, N, W, K, T, K, N);
	if (dW) {
		transpose(scratch, dY, (size_t)T, (size_t)N);
		tr_gemm_acc(dW, K, scratch, T, X, K, N, K, T);
	}
}

void tr_rmsnorm_fwd(float *y, float *inv, const float *x, const float *w, int T, int D, float eps)
{
	for (int t = 0; t < T; t++) {
		const float *xr = x + (size_t)t * D;
		float *yr = y + (size_t)t * D;
		float ss = 0.0f, r;

		for (int i = 0; i < D; i++)
			ss += xr[i] * xr[i];
		r = 1.0f / sqrtf(ss / (float)D + eps);
		inv[t] = r;
		for (int i = 0; i < D; i++)
			yr[i] = xr[i] * r * w[i];
	}
}

void tr_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w,
		    const float *inv, int T, int D)
{
	for (int t = 0; t < T; t++) {
		const float *xr = x + (size_t)t * D, *dyr = dy + (size_t)t * D;
		float *dxr = dx + (size_t)t * D;
		float r = inv[t], dot = 0.0f, k;

		for (int i = 0; i < D; i++) {
			dot += dyr[i] * w[i] * xr[i];
			dw[i] += dyr[i] * xr[i] * r;
		}
		k = r * r * r * dot / (float)D;
		for (int i = 0; i < D; i++)
			dxr[i] += r * dyr[i] * w[i] - k * xr[i];
	}
}

void tr_rope_table(float *cos_t, float *sin_t, int T, int head_dim, float theta)
{
	int half = head_dim / 2;

	for (int t = 0; t < T; t++)
		for (int i = 0; i < half; i++) {
			double freq = pow((double)theta, -2.0 * i / head_dim);
			double a = (double)t * freq;

			cos_t[(size_t)t * half + i] = (float)cos(a);
			sin_t[(size_t)t * half + i] = (float)sin(a);
		}
}

void tr_rope(float *x, int T, int n_heads, int head_dim, const float *cos_t, const float *sin_t,
	     int sign)
{
	int half = head_dim / 2;

	for (int t = 0; t < T; t++) {
		const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;

		for (int h = 0; h < n_heads; h++) {
			float *v = x + ((size_t)t * n_heads + h) * head_dim;

			for (int i = 0; i < half; i++) {
				float a = v[2 * i], b = v[2 * i + 1], sn = sign * s[i];

				v[2 * i] = a * c[i] - b * sn;
				v[2 * i + 1] = a * sn + b * c[i];
			}
		}
	}
}

static float dot(const float *a, const float *b, int n)
{
	float s = 0.0f;

	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

void tr_attention_fwd(float *out, float *probs, const float *q, const float *k, const float *v,
		      int T, int n_heads, int n_kv_heads, int head_dim)
{
	int qd = n_heads * head_dim, kvd = n_kv_heads * head_dim, group = n_heads / n_kv_heads;
	float scale = 1.0f / sqrtf((float)head_dim);

	for (int h = 0; h < n_heads; h++) {
		int g = h / group;

		for (int t = 0; t < T; t++) {
			const float *qt = q + (size_t)t * qd + (size_t)h * head_dim;
			float *p = probs + ((size_t)h * T + t) * T;
			float *o = out + (size_t)t * qd + (size_t)h * head_dim;
			float mx = -INFINITY, sum = 0.0f;

			for (int u = 0; u <= t; u++) {
				p[u] = dot(qt, k + (size_t)u * kvd + (size_t)g * head_dim, head_dim) * scale;
				if (p[u] > mx)
					mx = p[u];
			}
			for (int u = 0; u <= t; u++) {
				p[u] = expf(p[u] - mx);
				sum += p[u];
			}
			for (int u = 0; u <= t; u++)
				p[u] /= sum;
			for (int u = t + 1; u < T; u++)
				p[u] = 0.0f;
			memset(o, 0, sizeof(float) * (size_t)head_dim);
			for (int u = 0; u <= t; u++) {
				const float *vu = v + (size_t)u * kvd + (size_t)g * head_dim;

				for (int i = 0; i < head_dim; i++)
					o[i] += p[u] * vu[i];
			}
		}
	}
}

void tr_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *probs,
		      const float *q, const float *k, const float *v, int T, int n_heads,
		      int n_kv_heads, int head_dim, float *dp)
{
	int qd = n_heads * head_dim, kvd = n_kv_heads * head_dim, group = n_heads / n_kv_heads;
	float scale = 1.0f / sqrtf((float)head_dim);

	memset(dq, 0, sizeof(float) * (size_t)T * qd);
	memset(dk, 0, sizeof(float) * (size_t)T * kvd);
	memset(dv, 0, sizeof(float) * (size_t)T * kvd);
	for (int h = 0; h < n_heads; h++) {
		int g = h / group;

		for (int t = 0; t < T; t++) {
			const float *p = probs + ((size_t)h * T + t) * T;
			const float *dot_t = dout + (size_t)t * qd + (size_t)h * head_dim;
			const float *qt = q + (size_t)t * qd + (size_t)h * head_dim;
			float *dqt = dq + (size_t)t * qd + (size_t)h * head_dim;
			float sum = 0.0f;

			for (int u = 0; u <= t; u++) {
				const float *vu = v + (size_t)u * kvd + (size_t)g * head_dim;
				float *dvu = dv + (size_t)u * kvd + (size_t)g * head_dim;

				dp[u] = dot(dot_t, vu, head_dim);
				for (int i = 0; i < head_dim; i++)
					dvu[i] += p[u] * dot_t[i];
				sum += p[u] * dp[u];
			}
			for (int u = 0; u <= t; u++) {
				const float *ku = k + (size_t)u * kvd + (size_t)g * head_dim;
				float *dku = dk + (size_t)u * kvd + (size_t)g * head_dim;
				float ds = p[u] * (dp[u] - sum) * scale;

				for (int i = 0; i < head_dim; i++) {
					dqt[i] += ds * ku[i];
					dku[i] += ds * qt[i];
				}
			}
		}
	}
}

static float sigmoidf(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

void tr_swiglu_fwd(float *h, const float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h[i] = g[i] * sigmoidf(g[i]) * u[i];
}

void tr_swiglu_bwd(float *dg, float *du, const float *dh, const float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float s = sigmoidf(g[i]);

		du[i] = dh[i] * g[i] * s;
		dg[i] = dh[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
	}
}

double tr_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int T, int V,
			float scale)
{
	double loss = 0.0;

	for (int t = 0; t < T; t++) {
		const float *l = logits + (size_t)t * V;
		float *d = dlogits ? dlogits + (size_t)t * V : NULL;
		float mx = l[0];
		double sum = 0.0;

		for (int i = 1; i < V; i++)
			if (l[i] > mx)
				mx = l[i];
		for (int i = 0; i < V; i++)
			sum += exp((double)(l[i] - mx));
		loss += log(sum) + mx - l[targets[t]];
		if (d) {
			float inv = (float)(1.0 / sum);

			for (int i = 0; i < V; i++)
				d[i] = scale * expf(l[i] - mx) * inv;
			d[targets[t]] -= scale;
		}
	}
	return loss;
}

/* ---- whole sequence ------------------------------------------------------- */

struct tr_layer_acts {
	float *x_in, *inv1, *xn1, *q, *k, *v, *probs, *att, *x_mid, *inv2, *xn2, *g, *u, *h;
};

struct tr_work {
	struct tr_config c;
	struct tr_layer_acts *la;
	float *x_final, *invf, *xf, *logits;
	float *dx, *dxn, *dxf, *dq, *dk, *dv, *datt, *dg, *du, *dh, *dlogits, *scratch, *dp;
	float *block;
};

struct tr_work *tr_work_new(const struct tr_config *c)
{
	size_t T = (size_t)c->seq_len, D = (size_t)c->dim, F = (size_t)c->hidden, V = (size_t)c->vocab;
	size_t H = (size_t)c->n_heads;
	size_t KV = (size_t)c->n_kv_heads * (D / H);
	size_t per_layer = T * (4 * D + 2 * KV + 3 * F + D + D + 2) + H * T * T;
	size_t big = (V > F ? V : F) > D ? (V > F ? V : F) : D;
	size_t total = per_layer * (size_t)c->n_layers + T * (3 * D + 1 + V) +
		       T * (5 * D + 2 * KV + 3 * F + V) + big * T + T;
	struct tr_work *w;
	float *p;

	if (tr_config_check(c))
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->c = *c;
	w->la = calloc((size_t)c->n_layers, sizeof(*w->la));
	w->block = calloc(total, sizeof(float));
	if (!w->la || !w->block) {
		tr_work_free(w);
		return NULL;
	}
	p = w->block;
#define TAKE(n) (p += (n), p - (n))
	for (int l = 0; l < c->n_layers; l++) {
		struct tr_layer_acts *a = &w->la[l];

		a->x_in = TAKE(T * D);
		a->inv1 = TAKE(T);
		a->xn1 = TAKE(T * D);
		a->q = TAKE(T * D);
		a->k = TAKE(T * KV);
		a->v = TAKE(T * KV);
		a->probs = TAKE(H * T * T);
		a->att = TAKE(T * D);
		a->x_mid = TAKE(T * D);
		a->inv2 = TAKE(T);
		a->xn2 = TAKE(T * D);
		a->g = TAKE(T * F);
		a->u = TAKE(T * F);
		a->h = TAKE(T * F);
	}
	w->x_final = TAKE(T * D);
	w->invf = TAKE(T);
	w->xf = TAKE(T * D);
	w->logits = TAKE(T * V);
	w->dx = TAKE(T * D);
	w->dxn = TAKE(T * D);
	w->dxf = TAKE(T * D);
	w->dq = TAKE(T * D);
	w->dk = TAKE(T * KV);
	w->dv = TAKE(T * KV);
	w->datt = TAKE(T * D);
	w->dg = TAKE(T * F);
	w->du = TAKE(T * F);
	w->dh = TAKE(T * F);
	w->dlogits = TAKE(T * V);
	w->scratch = TAKE(big * T);
	w->dp = TAKE(T);
#undef TAKE
	return w;
}

void tr_work_free(struct tr_work *w)
{
	if (!w)
		return;
	free(w->la);
	free(w->block);
	free(w);
}

const float *tr_work_logits(const struct tr_work *w, int t)
{
	return w->logits + (size_t)t * (size_t)w->c.vocab;
}

static void add_into(float *dst, const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = a[i] + b[i];
}

double tr_sequence(const struct tr_model *m, struct tr_work *w, const int32_t *tokens, int n,
		   float *grad, float grad_scale)
{
	const struct tr_config *c = &m->c;
	int D = c->dim, F = c->hidden, V = c->vocab, H = c->n_heads, KVH = c->n_kv_heads;
	int hd = D / H, KV = KVH * hd, L = c->n_layers;
	const float *P = m->p, *PT = m->pt;
	double loss;

	if (n < 1 || n > c->seq_len)
		return NAN;
	for (int t = 0; t < n; t++)
		memcpy(w->la[0].x_in + (size_t)t * D, P + m->tok_embd + (size_t)tokens[t] * D,
		       sizeof(float) * (size_t)D);
	for (int l = 0; l < L; l++) {
		const struct tr_layer_off *O = &m->layer[l];
		struct tr_layer_acts *a = &w->la[l];
		float *x_out = l + 1 < L ? w->la[l + 1].x_in : w->x_final;

		tr_rmsnorm_fwd(a->xn1, a->inv1, a->x_in, P + O->attn_norm, n, D, c->rms_eps);
		tr_matmul_fwd(a->q, a->xn1, PT + O->wq, n, D, D);
		tr_matmul_fwd(a->k, a->xn1, PT + O->wk, n, D, KV);
		tr_matmul_fwd(a->v, a->xn1, PT + O->wv, n, D, KV);
		tr_rope(a->q, n, H, hd, m->rope_cos, m->rope_sin, 1);
		tr_rope(a->k, n, KVH, hd, m->rope_cos, m->rope_sin, 1);
		tr_attention_fwd(a->att, a->probs, a->q, a->k, a->v, n, H, KVH, hd);
		tr_matmul_fwd(w->dx, a->att, PT + O->wo, n, D, D);
		add_into(a->x_mid, a->x_in, w->dx, (size_t)n * D);
		tr_rmsnorm_fwd(a->xn2, a->inv2, a->x_mid, P + O->ffn_norm, n, D, c->rms_eps);
		tr_matmul_fwd(a->g, a->xn2, PT + O->w_gate, n, D, F);
		tr_matmul_fwd(a->u, a->xn2, PT + O->w_up, n, D, F);
		tr_swiglu_fwd(a->h, a->g, a->u, (size_t)n * F);
		tr_matmul_fwd(w->dx, a->h, PT + O->w_down, n, F, D);
		add_into(x_out, a->x_mid, w->dx, (size_t)n * D);
	}
	tr_rmsnorm_fwd(w->xf, w->invf, w->x_final, P + m->output_norm, n, D, c->rms_eps);
	tr_matmul_fwd(w->logits, w->xf, PT + m->tok_embd, n, D, V);
	loss = tr_cross_entropy(grad ? w->dlogits : NULL, w->logits, tokens + 1, n, V, grad_scale);
	if (!grad)
		return loss;

	memset(w->dxf, 0, sizeof(float) * (size_t)n * D);
	tr_matmul_bwd(w->dxf, grad + m->tok_embd, w->dlogits, w->xf, P + m->tok_embd, n, D, V,
		      w->scratch);
	memset(w->dx, 0, sizeof(float) * (size_t)n * D);
	tr_rmsnorm_bwd(w->dx, grad + m->output_norm, w->dxf, w->x_final, P + m->output_norm,
		       w->invf, n, D);
	for (int l = L - 1; l >= 0; l--) {
		const struct tr_layer_off *O = &m->layer[l];
		struct tr_layer_acts *a = &w->la[l];

		/* w->dx is d(layer output); the residual passes it straight through */
		memset(w->dh, 0, sizeof(float) * (size_t)n * F);
		tr_matmul_bwd(w->dh, grad + O->w_down, w->dx, a->h, P + O->w_down, n, F, D, w->scratch);
		tr_swiglu_bwd(w->dg, w->du, w->dh, a->g, a->u, (size_t)n * F);
		memset(w->dxn, 0, sizeof(float) * (size_t)n * D);
		tr_matmul_bwd(w->dxn, grad + O->w_gate, w->dg, a->xn2, P + O->w_gate, n, D, F, w->scratch);
		tr_matmul_bwd(w->dxn, grad + O->w_up, w->du, a->xn2, P + O->w_up, n, D, F, w->scratch);
		tr_rmsnorm_bwd(w->dx, grad + O->ffn_norm, w->dxn, a->x_mid, P + O->ffn_norm, a->inv2, n, D);

		memset(w->datt, 0, sizeof(float) * (size_t)n * D);
		tr_matmul_bwd(w->datt, grad + O->wo, w->dx, a->att, P + O->wo, n, D, D, w->scratch);
		tr_attention_bwd(w->dq, w->dk, w->dv, w->datt, a->probs, a->q, a->k, a->v, n, H, KVH, hd,
				 w->dp);
		tr_rope(w->dq, n, H, hd, m->rope_cos, m->rope_sin, -1);
		tr_rope(w->dk, n, KVH, hd, m->rope_cos, m->rope_sin, -1);
		memset(w->dxn, 0, sizeof(float) * (size_t)n * D);
		tr_matmul_bwd(w->dxn, grad + O->wq, w->dq, a->xn1, P + O->wq, n, D, D, w->scratch);
		tr_matmul_bwd(w->dxn, grad + O->wk, w->dk, a->xn1, P + O->wk, n, D, KV, w->scratch);
		tr_matmul_bwd(w->dxn, grad + O->wv, w->dv, a->xn1, P + O->wv, n, D, KV, w->scratch);
		tr_rmsnorm_bwd(w->dx, grad + O->attn_norm, w->dxn, a->x_in, P + O->attn_norm, a->inv1, n, D);
	}
	for (int t = 0; t < n; t++) {
		float *ge = grad + m->tok_embd + (size_t)tokens[t] * D;
		const float *d = w->dx + (size_t)t * D;

		for (int i = 0; i < D; i++)
			ge[i] += d[i];
	}
	return loss;
}
