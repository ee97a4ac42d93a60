/* SPDX-License-Identifier: MIT */
/*
 * llama_ref.h - an independent, double-precision Llama forward pass for the
 * tests.
 *
 * It shares nothing with the engine: the weights come from the tensors a
 * test wrote (struct tiny_weights, or the trainer's floats), F16, BF16 and
 * Q8_0 are decoded here from the formats' definitions (not by eng_row_get or
 * the f16 helpers of engine.h), and the hyperparameters, RoPE base and RMS
 * epsilon included, are the ones the test chose, not the ones the loader
 * read. Every position is recomputed from scratch; slow and plain by design.
 *
 * Conventions it holds the engine to: RMSNorm x / sqrt(mean(x^2) + eps) * w;
 * RoPE rotates the pairs (2i, 2i+1) of each head by pos * theta^(-2i/hd);
 * query head h reads KV head h / (heads / kv_heads); SwiGLU
 * silu(gate x) * (up x); the classifier is output.weight, or token_embd
 * when the file has no output.weight.
 */
#ifndef LLAMA_REF_H
#define LLAMA_REF_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/engine_tiny_model.h"

/* IEEE binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits. */
static inline double lref_f16(uint16_t h)
{
	int exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
	double v;

	if (exp == 0)
		v = ldexp(frac, -24);		/* subnormal: frac * 2^-14 / 2^10 */
	else if (exp == 31)
		v = frac ? NAN : INFINITY;
	else
		v = ldexp(1024 + frac, exp - 25);	/* (1 + frac / 2^10) * 2^(exp - 15) */
	return h & 0x8000 ? -v : v;
}

/* bfloat16: 1 sign, 8 exponent (bias 127), 7 fraction bits. */
static inline double lref_bf16(uint16_t h)
{
	int exp = (h >> 7) & 0xff, frac = h & 0x7f;
	double v;

	if (exp == 0)
		v = ldexp(frac, -133);		/* frac * 2^-126 / 2^7 */
	else if (exp == 255)
		v = frac ? NAN : INFINITY;
	else
		v = ldexp(128 + frac, exp - 134);
	return h & 0x8000 ? -v : v;
}

/*
 * Element (r, c) of a row-major rows x cols tensor stored as type. Q8_0:
 * each run of 32 values is an f16 scale d then 32 int8 q; value = d * q.
 */
static inline double lref_weight(enum eng_dtype type, const void *data, uint64_t cols, uint64_t r,
				 uint64_t c)
{
	const uint8_t *p = data;
	uint16_t h;
	float f;

	switch (type) {
	case ENG_F32:
		memcpy(&f, p + 4 * (r * cols + c), 4);
		return f;
	case ENG_F16:
		memcpy(&h, p + 2 * (r * cols + c), 2);
		return lref_f16(h);
	case ENG_BF16:
		memcpy(&h, p + 2 * (r * cols + c), 2);
		return lref_bf16(h);
	case ENG_Q8_0: {
		const uint8_t *block = p + r * (cols / 32 * 34) + c / 32 * 34;

		memcpy(&h, block, 2);
		return lref_f16(h) * (int8_t)block[2 + c % 32];
	}
	default:
		return NAN;
	}
}

struct lref_config {
	uint32_t dim, hidden, layers, heads, kv_heads, vocab;
	double rope_theta, rms_eps;
};

struct lref_layer {
	double *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *gate, *up, *down;
};

struct lref_model {
	struct lref_config c;
	double *embd, *out, *out_norm;	/* out == embd when tied */
	struct lref_layer *layer;
	double *all[8 + 9 * 64];	/* everything allocated, for lref_free */
	int n_all;
};

static inline struct lref_config lref_config_of(const struct tiny_spec *s)
{
	return (struct lref_config){ .dim = s->dim, .hidden = s->hidden, .layers = s->layers,
				     .heads = s->heads, .kv_heads = s->kv_heads, .vocab = s->vocab,
				     .rope_theta = tiny_rope_theta(s), .rms_eps = tiny_rms_eps(s) };
}

/* Decodes a whole tensor; NULL (why filled) if it is missing or has another shape. */
static inline double *lref_take(struct lref_model *m, const struct tiny_weights *w, const char *name,
				uint64_t rows, uint64_t cols, char *why, size_t why_len)
{
	const struct tiny_tensor *t = tiny_weights_find(w, name);
	double *d;

	if (!t || t->rows != rows || t->cols != cols) {
		snprintf(why, why_len, "reference: tensor %s is %s", name, t ? "of another shape" : "missing");
		return NULL;
	}
	d = malloc(rows * cols * sizeof(double));
	if (!d || m->n_all == (int)(sizeof(m->all) / sizeof(m->all[0]))) {
		free(d);
		snprintf(why, why_len, "reference: out of memory");
		return NULL;
	}
	m->all[m->n_all++] = d;
	for (uint64_t r = 0; r < rows; r++)
		for (uint64_t c = 0; c < cols; c++)
			d[r * cols + c] = lref_weight(t->type, t->data, cols, r, c);
	return d;
}

static inline void lref_free(struct lref_model *m)
{
	for (int i = 0; i < m->n_all; i++)
		free(m->all[i]);
	free(m->layer);
	memset(m, 0, sizeof(*m));
}

/* 0, or -1 with why filled. */
static inline int lref_init(struct lref_model *m, const struct lref_config *c, const struct tiny_weights *w,
			    char *why, size_t why_len)
{
	uint64_t D = c->dim, F = c->hidden, KV = (uint64_t)c->dim / c->heads * c->kv_heads;
	char name[64];

	memset(m, 0, sizeof(*m));
	m->c = *c;
	if (w->failed || c->layers > 64 || !(m->layer = calloc(c->layers, sizeof(*m->layer)))) {
		snprintf(why, why_len, "reference: incomplete weights or out of memory");
		return -1;
	}
	m->embd = lref_take(m, w, "token_embd.weight", c->vocab, D, why, why_len);
	m->out_norm = lref_take(m, w, "output_norm.weight", 1, D, why, why_len);
	m->out = tiny_weights_find(w, "output.weight") ?
		 lref_take(m, w, "output.weight", c->vocab, D, why, why_len) : m->embd;
	if (!m->embd || !m->out_norm || !m->out)
		goto fail;
	for (uint32_t l = 0; l < c->layers; l++) {
		struct lref_layer *L = &m->layer[l];
		struct { const char *suffix; uint64_t rows, cols; double **dst; } t[] = {
			{ "attn_norm", 1, D, &L->attn_norm }, { "attn_q", D, D, &L->wq },
			{ "attn_k", KV, D, &L->wk }, { "attn_v", KV, D, &L->wv },
			{ "attn_output", D, D, &L->wo }, { "ffn_norm", 1, D, &L->ffn_norm },
			{ "ffn_gate", F, D, &L->gate }, { "ffn_up", F, D, &L->up },
			{ "ffn_down", D, F, &L->down },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, t[i].suffix);
			*t[i].dst = lref_take(m, w, name, t[i].rows, t[i].cols, why, why_len);
			if (!*t[i].dst)
				goto fail;
		}
	}
	return 0;
fail:
	lref_free(m);
	return -1;
}

static inline void lref_rmsnorm(double *out, const double *x, const double *w, uint32_t n, double eps)
{
	double ss = 0;

	for (uint32_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	for (uint32_t i = 0; i < n; i++)
		out[i] = x[i] / sqrt(ss / n + eps) * w[i];
}

/* out[r] = sum_c W[r][c] x[c] */
static inline void lref_matvec(double *out, const double *W, const double *x, uint64_t rows, uint64_t cols)
{
	for (uint64_t r = 0; r < rows; r++) {
		double s = 0;

		for (uint64_t c = 0; c < cols; c++)
			s += W[r * cols + c] * x[c];
		out[r] = s;
	}
}

static inline void lref_rope(double *v, uint32_t heads, uint32_t hd, uint32_t pos, double theta)
{
	for (uint32_t h = 0; h < heads; h++)
		for (uint32_t i = 0; i < hd / 2; i++) {
			double angle = pos * pow(theta, -2.0 * i / hd);
			double a = v[h * hd + 2 * i], b = v[h * hd + 2 * i + 1];

			v[h * hd + 2 * i] = a * cos(angle) - b * sin(angle);
			v[h * hd + 2 * i + 1] = a * sin(angle) + b * cos(angle);
		}
}

/* Logits of every position of tokens[0..n-1] (n x vocab); 0, or -1 out of memory. */
static inline int lref_forward(const struct lref_model *m, const int32_t *tokens, uint32_t n, double *logits)
{
	const struct lref_config *c = &m->c;
	uint32_t D = c->dim, F = c->hidden, hd = c->dim / c->heads, KV = hd * c->kv_heads;
	uint32_t group = c->heads / c->kv_heads;
	double *x = calloc((size_t)n * D, sizeof(double)), *xb = calloc(D, sizeof(double));
	double *q = calloc((size_t)n * D, sizeof(double)), *k = calloc((size_t)n * KV, sizeof(double));
	double *v = calloc((size_t)n * KV, sizeof(double)), *att = calloc(D, sizeof(double));
	double *tmp = calloc(D, sizeof(double)), *g = calloc(F, sizeof(double));
	double *u = calloc(F, sizeof(double)), *score = calloc(n, sizeof(double));
	int rc = 0;

	if (!x || !xb || !q || !k || !v || !att || !tmp || !g || !u || !score) {
		rc = -1;
		goto out;
	}
	for (uint32_t t = 0; t < n; t++)
		memcpy(x + (size_t)t * D, m->embd + (size_t)tokens[t] * D, D * sizeof(double));
	for (uint32_t l = 0; l < c->layers; l++) {
		const struct lref_layer *L = &m->layer[l];

		for (uint32_t t = 0; t < n; t++) {
			lref_rmsnorm(xb, x + (size_t)t * D, L->attn_norm, D, c->rms_eps);
			lref_matvec(q + (size_t)t * D, L->wq, xb, D, D);
			lref_matvec(k + (size_t)t * KV, L->wk, xb, KV, D);
			lref_matvec(v + (size_t)t * KV, L->wv, xb, KV, D);
			lref_rope(q + (size_t)t * D, c->heads, hd, t, c->rope_theta);
			lref_rope(k + (size_t)t * KV, c->kv_heads, hd, t, c->rope_theta);
		}
		for (uint32_t t = 0; t < n; t++) {
			for (uint32_t h = 0; h < c->heads; h++) {
				const double *qh = q + (size_t)t * D + (size_t)h * hd;
				uint32_t kvh = h / group;
				double max = -INFINITY, sum = 0;

				for (uint32_t s = 0; s <= t; s++) {
					double d = 0;

					for (uint32_t i = 0; i < hd; i++)
						d += qh[i] * k[(size_t)s * KV + (size_t)kvh * hd + i];
					score[s] = d / sqrt((double)hd);
					max = fmax(max, score[s]);
				}
				for (uint32_t s = 0; s <= t; s++)
					sum += score[s] = exp(score[s] - max);
				for (uint32_t i = 0; i < hd; i++) {
					double a = 0;

					for (uint32_t s = 0; s <= t; s++)
						a += score[s] / sum * v[(size_t)s * KV + (size_t)kvh * hd + i];
					att[h * hd + i] = a;
				}
			}
			lref_matvec(tmp, L->wo, att, D, D);
			for (uint32_t i = 0; i < D; i++)
				x[(size_t)t * D + i] += tmp[i];
		}
		for (uint32_t t = 0; t < n; t++) {
			lref_rmsnorm(xb, x + (size_t)t * D, L->ffn_norm, D, c->rms_eps);
			lref_matvec(g, L->gate, xb, F, D);
			lref_matvec(u, L->up, xb, F, D);
			for (uint32_t i = 0; i < F; i++)
				g[i] = g[i] / (1 + exp(-g[i])) * u[i];
			lref_matvec(tmp, L->down, g, D, F);
			for (uint32_t i = 0; i < D; i++)
				x[(size_t)t * D + i] += tmp[i];
		}
	}
	for (uint32_t t = 0; t < n; t++) {
		lref_rmsnorm(xb, x + (size_t)t * D, m->out_norm, D, c->rms_eps);
		lref_matvec(logits + (size_t)t * c->vocab, m->out, xb, c->vocab, D);
	}
out:
	free(x);
	free(xb);
	free(q);
	free(k);
	free(v);
	free(att);
	free(tmp);
	free(g);
	free(u);
	free(score);
	return rc;
}

/*
 * Worst |got - want| / (floor + max |want|) over the rows x vocab logits,
 * each row scaled by its own largest reference logit: floor 1 for
 * "tol * (1 + max |ref|)", floor 0 for purely relative (a row whose
 * reference logits are all zero then counts its absolute error). NaN or
 * infinity in got gives INFINITY, so a broken result never passes.
 */
static inline double lref_worst(const float *got, const double *want, uint32_t rows, uint32_t vocab,
				double floor)
{
	double worst = 0;

	for (uint32_t t = 0; t < rows; t++) {
		double mx = 0, d = 0;

		for (uint32_t i = 0; i < vocab; i++) {
			double gi = got[(size_t)t * vocab + i], wi = want[(size_t)t * vocab + i];

			if (!isfinite(gi) || !isfinite(wi))
				return INFINITY;
			mx = fmax(mx, fabs(wi));
			d = fmax(d, fabs(gi - wi));
		}
		worst = fmax(worst, floor + mx > 0 ? d / (floor + mx) : d);
	}
	return worst;
}

#endif /* LLAMA_REF_H */
