// SPDX-License-Identifier: MIT
/* ref.c - see ref.h. */
#include "engine/ref.h"

#include <math.h>
#include <stdlib.h>

struct eng_ref {
	const struct eng_model *m;
	uint32_t n_ctx;
	double *k, *v;		/* [layer][pos][kv_dim] */
	double *x, *xb, *q, *att, *gate, *up, *tmp, *scores;
};

struct eng_ref *eng_ref_create(const struct eng_model *m, uint32_t n_ctx)
{
	const struct eng_hparams *hp = &m->hp;
	struct eng_ref *r = calloc(1, sizeof(*r));
	size_t kv = (size_t)hp->n_kv_heads * hp->head_dim;
	size_t big = hp->dim > hp->hidden_dim ? hp->dim : hp->hidden_dim;

	if (!r)
		return NULL;
	r->m = m;
	r->n_ctx = n_ctx;
	r->k = calloc((size_t)hp->n_layers * n_ctx * kv, sizeof(double));
	r->v = calloc((size_t)hp->n_layers * n_ctx * kv, sizeof(double));
	r->x = calloc(hp->dim, sizeof(double));
	r->xb = calloc(hp->dim, sizeof(double));
	r->q = calloc(hp->dim, sizeof(double));
	r->att = calloc(hp->dim, sizeof(double));
	r->gate = calloc(hp->hidden_dim, sizeof(double));
	r->up = calloc(hp->hidden_dim, sizeof(double));
	r->tmp = calloc(big > hp->vocab_size ? big : hp->vocab_size, sizeof(double));
	r->scores = calloc(n_ctx, sizeof(double));
	if (!r->k || !r->v || !r->x || !r->xb || !r->q || !r->att || !r->gate || !r->up ||
	    !r->tmp || !r->scores) {
		eng_ref_free(r);
		return NULL;
	}
	return r;
}

void eng_ref_free(struct eng_ref *r)
{
	if (!r)
		return;
	free(r->k);
	free(r->v);
	free(r->x);
	free(r->xb);
	free(r->q);
	free(r->att);
	free(r->gate);
	free(r->up);
	free(r->tmp);
	free(r->scores);
	free(r);
}

/* out[i] = sum_c w[i][c] * in[c] */
static void matvec(const struct eng_tensor *w, const double *in, double *out)
{
	for (uint64_t i = 0; i < w->rows; i++) {
		const void *row = (const uint8_t *)w->data + i * w->row_bytes;
		double acc = 0;

		for (uint64_t c = 0; c < w->cols; c++)
			acc += (double)eng_row_get(row, w->type, c) * in[c];
		out[i] = acc;
	}
}

static void rmsnorm(double *out, const double *x, const struct eng_tensor *w, uint32_t dim, float eps)
{
	double ss = 0;

	for (uint32_t i = 0; i < dim; i++)
		ss += x[i] * x[i];
	ss = 1.0 / sqrt(ss / dim + eps);
	for (uint32_t i = 0; i < dim; i++)
		out[i] = x[i] * ss * eng_row_get(w->data, w->type, i);
}

static void rotate(double *vec, uint32_t n_heads, uint32_t hd, uint32_t pos, float theta)
{
	for (uint32_t h = 0; h < n_heads; h++) {
		for (uint32_t i = 0; i < hd; i += 2) {
			double freq = pow(theta, -(double)i / hd);
			double a = vec[h * hd + i], b = vec[h * hd + i + 1];
			double c = cos(pos * freq), s = sin(pos * freq);

			vec[h * hd + i] = a * c - b * s;
			vec[h * hd + i + 1] = a * s + b * c;
		}
	}
}

int eng_ref_forward(struct eng_ref *r, int32_t token, uint32_t pos, float *logits)
{
	const struct eng_model *m = r->m;
	const struct eng_hparams *hp = &m->hp;
	uint32_t dim = hp->dim, hd = hp->head_dim;
	size_t kv = (size_t)hp->n_kv_heads * hd;

	if (pos >= r->n_ctx || token < 0 || (uint32_t)token >= hp->vocab_size)
		return -1;
	for (uint32_t i = 0; i < dim; i++)
		r->x[i] = eng_row_get((const uint8_t *)m->tok_embd.data + (size_t)token * m->tok_embd.row_bytes,
				      m->tok_embd.type, i);
	for (uint32_t l = 0; l < hp->n_layers; l++) {
		const struct eng_layer *L = &m->layers[l];
		double *kl = r->k + (size_t)l * r->n_ctx * kv, *vl = r->v + (size_t)l * r->n_ctx * kv;

		rmsnorm(r->xb, r->x, &L->attn_norm, dim, hp->rms_eps);
		matvec(&L->wq, r->xb, r->q);
		matvec(&L->wk, r->xb, kl + pos * kv);
		matvec(&L->wv, r->xb, vl + pos * kv);
		rotate(r->q, hp->n_heads, hd, pos, hp->rope_theta);
		rotate(kl + pos * kv, hp->n_kv_heads, hd, pos, hp->rope_theta);
		for (uint32_t h = 0; h < hp->n_heads; h++) {
			uint32_t g = h / (hp->n_heads / hp->n_kv_heads);
			double max = -INFINITY, sum = 0;

			for (uint32_t j = 0; j <= pos; j++) {
				double d = 0;

				for (uint32_t i = 0; i < hd; i++)
					d += r->q[h * hd + i] * kl[j * kv + g * hd + i];
				r->scores[j] = d / sqrt((double)hd);
				if (r->scores[j] > max)
					max = r->scores[j];
			}
			for (uint32_t j = 0; j <= pos; j++) {
				r->scores[j] = exp(r->scores[j] - max);
				sum += r->scores[j];
			}
			for (uint32_t i = 0; i < hd; i++) {
				double acc = 0;

				for (uint32_t j = 0; j <= pos; j++)
					acc += r->scores[j] / sum * vl[j * kv + g * hd + i];
				r->att[h * hd + i] = acc;
			}
		}
		matvec(&L->wo, r->att, r->tmp);
		for (uint32_t i = 0; i < dim; i++)
			r->x[i] += r->tmp[i];
		rmsnorm(r->xb, r->x, &L->ffn_norm, dim, hp->rms_eps);
		matvec(&L->w_gate, r->xb, r->gate);
		matvec(&L->w_up, r->xb, r->up);
		for (uint32_t i = 0; i < hp->hidden_dim; i++)
			r->gate[i] = r->gate[i] / (1.0 + exp(-r->gate[i])) * r->up[i];
		matvec(&L->w_down, r->gate, r->tmp);
		for (uint32_t i = 0; i < dim; i++)
			r->x[i] += r->tmp[i];
	}
	rmsnorm(r->xb, r->x, &m->output_norm, dim, hp->rms_eps);
	matvec(&m->output, r->xb, r->tmp);
	for (uint32_t i = 0; i < hp->vocab_size; i++)
		logits[i] = (float)r->tmp[i];
	return 0;
}
