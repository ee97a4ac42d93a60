/* SPDX-License-Identifier: MIT */
/*
 * test_train_grad.c - every backward pass of the trainer against central
 * finite differences on tiny shapes.
 *
 * Each layer is checked through the scalar L = sum(out * G) for a fixed
 * random G, so one backward call with dout = G yields dL/dinput. In float,
 * with inputs of order 1 and step 1e-2, the finite difference is accurate
 * to about 1e-4 (truncation ~ step^2, rounding ~ 1e-7 / step); an element
 * passes when |analytic - numeric| <= 2e-3 + 2e-2 * |numeric|.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train/model.h"
#include "tests/tap.h"

#define STEP	1e-2f
#define ABS_TOL	2e-3
#define REL_TOL	2e-2

static uint64_t rng_state = 12345;

static float frand(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((double)(rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static void fill(float *x, size_t n, float scale)
{
	for (size_t i = 0; i < n; i++)
		x[i] = frand() * scale;
}

static double project(const float *out, const float *G, size_t n)
{
	double s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double)out[i] * G[i];
	return s;
}

/* Evaluates the layer's L for the current inputs. */
typedef double (*loss_fn)(void *ctx);

/* Compares grad[i] with the central difference of f along x[i]; returns the worst excess. */
static int check(const char *what, loss_fn f, void *ctx, float *x, const float *grad, size_t n)
{
	int bad = 0;
	double worst = 0.0;

	for (size_t i = 0; i < n; i++) {
		float keep = x[i];
		double up, down, num, err;

		x[i] = keep + STEP;
		up = f(ctx);
		x[i] = keep - STEP;
		down = f(ctx);
		x[i] = keep;
		num = (up - down) / (2.0 * STEP);
		err = fabs(num - grad[i]);
		if (err > worst)
			worst = err;
		if (err > ABS_TOL + REL_TOL * fabs(num)) {
			if (bad < 3)
				TAP_NOTE("%s[%zu]: analytic %g numeric %g", what, i, grad[i], num);
			bad++;
		}
	}
	return TAP_OK(bad == 0, "%s gradient matches finite differences (%zu elements, worst abs err %.2g)",
		      what, n, worst);
}

/* ---- matmul ---- */
struct mm_ctx {
	int T, K, N;
	float *X, *W, *WT, *Y, *G;
};

static double mm_loss(void *p)
{
	struct mm_ctx *c = p;

	for (int n = 0; n < c->N; n++)
		for (int k = 0; k < c->K; k++)
			c->WT[k * c->N + n] = c->W[n * c->K + k];
	tr_matmul_fwd(c->Y, c->X, c->WT, c->T, c->K, c->N);
	return project(c->Y, c->G, (size_t)c->T * c->N);
}

static void test_matmul(void)
{
	struct mm_ctx c = { .T = 5, .K = 7, .N = 6 };
	float X[35], W[42], WT[42], Y[30], G[30], dX[35], dW[42], scratch[64];

	c.X = X; c.W = W; c.WT = WT; c.Y = Y; c.G = G;
	fill(X, 35, 1.0f);
	fill(W, 42, 1.0f);
	fill(G, 30, 1.0f);
	memset(dX, 0, sizeof(dX));
	memset(dW, 0, sizeof(dW));
	mm_loss(&c);
	tr_matmul_bwd(dX, dW, G, X, W, c.T, c.K, c.N, scratch);
	check("matmul dX", mm_loss, &c, X, dX, 35);
	check("matmul dW", mm_loss, &c, W, dW, 42);
}

/* gemm tiles of 4 with tails must agree with the naive product */
static void test_gemm_shapes(void)
{
	int bad = 0;

	for (int M = 1; M <= 9; M += 4)
		for (int N = 1; N <= 7; N += 3)
			for (int K = 1; K <= 10; K += 3) {
				float A[90], B[70], C[63];

				fill(A, (size_t)M * K, 1.0f);
				fill(B, (size_t)K * N, 1.0f);
				memset(C, 0, sizeof(C));
				tr_gemm_acc(C, N, A, K, B, N, M, N, K);
				for (int m = 0; m < M; m++)
					for (int n = 0; n < N; n++) {
						double s = 0;

						for (int k = 0; k < K; k++)
							s += (double)A[m * K + k] * B[k * N + n];
						if (fabs(s - C[m * N + n]) > 1e-5)
							bad++;
					}
			}
	TAP_OK(bad == 0, "gemm agrees with the naive product on ragged shapes (%d mismatches)", bad);
}

/* ---- rmsnorm ---- */
struct rms_ctx {
	int T, D;
	float *x, *w, *y, *inv, *G;
};

static double rms_loss(void *p)
{
	struct rms_ctx *c = p;

	tr_rmsnorm_fwd(c->y, c->inv, c->x, c->w, c->T, c->D, 1e-5f);
	return project(c->y, c->G, (size_t)c->T * c->D);
}

static void test_rmsnorm(void)
{
	struct rms_ctx c = { .T = 3, .D = 8 };
	float x[24], w[8], y[24], inv[3], G[24], dx[24], dw[8];

	c.x = x; c.w = w; c.y = y; c.inv = inv; c.G = G;
	fill(x, 24, 1.0f);
	fill(w, 8, 1.0f);
	fill(G, 24, 1.0f);
	memset(dx, 0, sizeof(dx));
	memset(dw, 0, sizeof(dw));
	rms_loss(&c);
	tr_rmsnorm_bwd(dx, dw, G, x, w, inv, c.T, c.D);
	check("rmsnorm dx", rms_loss, &c, x, dx, 24);
	check("rmsnorm dw", rms_loss, &c, w, dw, 8);
}

/*
 * RMSNorm where eps matters, against double precision: rows of mean square
 * 1e-6..1e-4 around eps = 1e-5, an all-zero row and an ordinary row,
 * forward (y and the saved 1/rms) and backward (dx, dw):
 *   r = 1 / sqrt(mean(x^2) + eps), y = x r w,
 *   dx_j = r dy_j w_j - r^3 x_j sum_i(dy_i w_i x_i) / D, dw_i = sum_t dy_i x_i r.
 * fp32 sums of 24 terms: worst observed relative error 1.5e-7 (forward) and
 * 2.2e-7 (backward); NORM_TOL is about 20x. A dropped eps makes the zero
 * row NaN; a negated one, every row below eps.
 */
#define NORM_TOL 5e-6

static double rel_err(const float *got, const double *want, size_t n)
{
	double mx = 0, d = 0;

	for (size_t i = 0; i < n; i++) {
		if (!isfinite(got[i]))
			return INFINITY;
		mx = fmax(mx, fabs(want[i]));
		d = fmax(d, fabs(got[i] - want[i]));
	}
	return mx > 0 ? d / mx : d;
}

static void test_rmsnorm_near_eps(void)
{
	enum { T = 6, D = 24 };
	static const double mean_square[T] = { 0, 1e-6, 1e-5, 3e-5, 1e-4, 1.0 / 3 };
	const float eps = 1e-5f;
	float x[T * D], w[D], y[T * D], inv[T], G[T * D], dx[T * D], dw[D];
	double y_ref[D], dx_ref[D], dw_ref[D] = { 0 }, worst_fwd = 0, worst_bwd = 0;
	int zero_row_ok;

	fill(w, D, 0.3f);
	for (int i = 0; i < D; i++)
		w[i] += 1.0f;
	for (int t = 0; t < T; t++)
		fill(x + t * D, D, (float)sqrt(3 * mean_square[t]));	/* uniform: mean square a^2 / 3 */
	fill(G, T * D, 1.0f);
	tr_rmsnorm_fwd(y, inv, x, w, T, D, eps);
	memset(dx, 0, sizeof(dx));
	memset(dw, 0, sizeof(dw));
	tr_rmsnorm_bwd(dx, dw, G, x, w, inv, T, D);
	for (int t = 0; t < T; t++) {
		const float *xr = x + t * D, *g = G + t * D;
		double ss = 0, r, dot = 0, inv_ref;

		for (int i = 0; i < D; i++)
			ss += (double)xr[i] * xr[i];
		r = 1 / sqrt(ss / D + eps);
		for (int i = 0; i < D; i++) {
			y_ref[i] = xr[i] * r * w[i];
			dot += (double)g[i] * w[i] * xr[i];
			dw_ref[i] += (double)g[i] * xr[i] * r;
		}
		for (int i = 0; i < D; i++)
			dx_ref[i] = r * g[i] * w[i] - r * r * r * xr[i] * dot / D;
		inv_ref = r;
		worst_fwd = fmax(worst_fwd, rel_err(y + t * D, y_ref, D));
		worst_fwd = fmax(worst_fwd, rel_err(inv + t, &inv_ref, 1));
		worst_bwd = fmax(worst_bwd, rel_err(dx + t * D, dx_ref, D));
	}
	worst_bwd = fmax(worst_bwd, rel_err(dw, dw_ref, D));
	zero_row_ok = isfinite(inv[0]);
	for (int i = 0; i < D; i++)
		zero_row_ok &= y[i] == 0.0f;
	TAP_OK(zero_row_ok, "rmsnorm of an all-zero row: y = 0, 1/rms = 1/sqrt(eps) = %g", inv[0]);
	TAP_OK(worst_fwd <= NORM_TOL, "rmsnorm forward, mean squares 0 and 1e-6..1/3 with eps 1e-5, matches double (worst %.2g relative)",
	       worst_fwd);
	TAP_OK(worst_bwd <= NORM_TOL, "rmsnorm backward on the same rows matches the double-precision gradient (worst %.2g relative)",
	       worst_bwd);
}

/* ---- rope ---- */
struct rope_ctx {
	int T, H, hd;
	float *x, *y, *cs, *sn, *G;
};

static double rope_loss(void *p)
{
	struct rope_ctx *c = p;
	size_t n = (size_t)c->T * c->H * c->hd;

	memcpy(c->y, c->x, n * sizeof(float));
	tr_rope(c->y, c->T, c->H, c->hd, c->cs, c->sn, 1);
	return project(c->y, c->G, n);
}

static void test_rope(void)
{
	struct rope_ctx c = { .T = 4, .H = 2, .hd = 4 };
	float x[32], y[32], G[32], dx[32], cs[8], sn[8];

	c.x = x; c.y = y; c.cs = cs; c.sn = sn; c.G = G;
	tr_rope_table(cs, sn, 4, 4, 10000.0f);
	fill(x, 32, 1.0f);
	fill(G, 32, 1.0f);
	memcpy(dx, G, sizeof(dx));
	tr_rope(dx, c.T, c.H, c.hd, cs, sn, -1);
	check("rope dx", rope_loss, &c, x, dx, 32);
	/* position 1, pair 0 rotates by exactly 1 radian */
	{
		float v[8] = { 1, 0, 0, 0, 1, 0, 0, 0 };

		tr_rope(v, 2, 1, 4, cs, sn, 1);
		TAP_OK(fabsf(v[4] - cosf(1.0f)) < 1e-6f && fabsf(v[5] - sinf(1.0f)) < 1e-6f,
		       "rope rotates pair (2i, 2i+1) by pos * theta^(-2i/d)");
	}
}

/* ---- attention ---- */
struct att_ctx {
	int T, H, KV, hd;
	float *q, *k, *v, *out, *probs, *G;
};

static double att_loss(void *p)
{
	struct att_ctx *c = p;

	tr_attention_fwd(c->out, c->probs, c->q, c->k, c->v, c->T, c->H, c->KV, c->hd);
	return project(c->out, c->G, (size_t)c->T * c->H * c->hd);
}

static void test_attention(void)
{
	struct att_ctx c = { .T = 5, .H = 4, .KV = 2, .hd = 4 };
	float q[80], k[40], v[40], out[80], probs[100], G[80], dq[80], dk[40], dv[40], dp[5];

	c.q = q; c.k = k; c.v = v; c.out = out; c.probs = probs; c.G = G;
	fill(q, 80, 1.5f);
	fill(k, 40, 1.5f);
	fill(v, 40, 1.0f);
	fill(G, 80, 1.0f);
	att_loss(&c);
	tr_attention_bwd(dq, dk, dv, G, probs, q, k, v, c.T, c.H, c.KV, c.hd, dp);
	check("attention dq", att_loss, &c, q, dq, 80);
	check("attention dk (GQA, 2 heads per kv head)", att_loss, &c, k, dk, 40);
	check("attention dv", att_loss, &c, v, dv, 40);
	/* causality: position 0 attends only to itself */
	TAP_OK(probs[0] == 1.0f && probs[1] == 0.0f, "attention is causal");
}

/* ---- swiglu ---- */
struct sw_ctx {
	size_t n;
	float *g, *u, *h, *G;
};

static double sw_loss(void *p)
{
	struct sw_ctx *c = p;

	tr_swiglu_fwd(c->h, c->g, c->u, c->n);
	return project(c->h, c->G, c->n);
}

static void test_swiglu(void)
{
	struct sw_ctx c = { .n = 20 };
	float g[20], u[20], h[20], G[20], dg[20], du[20];

	c.g = g; c.u = u; c.h = h; c.G = G;
	fill(g, 20, 3.0f);
	fill(u, 20, 1.0f);
	fill(G, 20, 1.0f);
	tr_swiglu_bwd(dg, du, G, g, u, 20);
	check("swiglu dgate", sw_loss, &c, g, dg, 20);
	check("swiglu dup", sw_loss, &c, u, du, 20);
}

/* ---- cross-entropy ---- */
struct ce_ctx {
	float *logits;
	int32_t *targets;
};

static double ce_loss(void *p)
{
	struct ce_ctx *c = p;

	return tr_cross_entropy(NULL, c->logits, c->targets, 3, 260, 1.0f);
}

static void test_cross_entropy(void)
{
	static float logits[3 * 260], dl[3 * 260];
	int32_t targets[3] = { 5, 259, 0 };
	struct ce_ctx c = { logits, targets };
	double loss;

	fill(logits, 3 * 260, 2.0f);
	loss = tr_cross_entropy(dl, logits, targets, 3, 260, 1.0f);
	TAP_OK(loss > 0.0 && isfinite(loss), "cross-entropy is positive (%g)", loss);
	check("cross-entropy dlogits", ce_loss, &c, logits, dl, 3 * 260);
}

/* ---- the whole model, embedding included ---- */
struct model_ctx {
	struct tr_model *m;
	struct tr_work *w;
	int32_t *tokens;
	int n;
};

static double model_loss(void *p)
{
	struct model_ctx *c = p;

	tr_model_sync(c->m);
	return tr_sequence(c->m, c->w, c->tokens, c->n, NULL, 1.0f);
}

static void test_model(void)
{
	struct tr_config cfg = { .dim = 8, .hidden = 12, .n_layers = 2, .n_heads = 2,
				 .n_kv_heads = 1, .vocab = 260, .seq_len = 6,
				 .rope_theta = 10000.0f, .rms_eps = 1e-5f };
	int32_t tokens[7] = { 1, 17, 200, 17, 3, 259, 42 };
	struct tr_model *m = tr_model_new(&cfg);
	struct tr_work *w = tr_work_new(&cfg);
	struct model_ctx c = { m, w, tokens, 6 };
	float *grad;
	double loss;

	if (!TAP_OK(m && w, "tiny model allocates"))
		return;
	tr_model_init(m, 7);
	/* larger weights than the training init so every path carries signal */
	for (size_t i = 0; i < m->n_params; i++)
		if (tr_param_is_matrix(m, i))
			m->p[i] *= 25.0f;
		else
			m->p[i] += 0.3f * frand();
	tr_model_sync(m);
	grad = calloc(m->n_params, sizeof(float));
	loss = tr_sequence(m, w, tokens, 6, grad, 1.0f);
	TAP_OK(isfinite(loss), "model loss is finite (%g nats over 6 tokens)", loss);
	{
		/* every tensor kind, sampled: embedding rows used and unused, each layer matrix, norms */
		const struct tr_layer_off *L = &m->layer[1];
		struct { const char *name; size_t off, n; } part[] = {
			{ "model token_embd (rows of used tokens)", m->tok_embd + 17 * 8, 8 },
			{ "model token_embd (unused row, output only)", m->tok_embd + 100 * 8, 8 },
			{ "model attn_norm", L->attn_norm, 8 },
			{ "model wq", L->wq, 16 },
			{ "model wk", L->wk, 16 },
			{ "model wv", L->wv, 16 },
			{ "model wo", L->wo, 16 },
			{ "model ffn_norm", L->ffn_norm, 8 },
			{ "model w_gate", L->w_gate, 16 },
			{ "model w_up", L->w_up, 16 },
			{ "model w_down", L->w_down, 16 },
			{ "model output_norm", m->output_norm, 8 },
			{ "model layer 0 wq", m->layer[0].wq, 16 },
		};

		for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++)
			check(part[i].name, model_loss, &c, m->p + part[i].off, grad + part[i].off, part[i].n);
	}
	TAP_OK(isnan(tr_sequence(m, w, tokens, 7, NULL, 1.0f)), "a sequence longer than the context is refused");
	free(grad);
	tr_work_free(w);
	tr_model_free(m);
}

static void test_config_checks(void)
{
	struct tr_config bad = { .dim = 10, .hidden = 12, .n_layers = 1, .n_heads = 3,
				 .n_kv_heads = 1, .vocab = 300, .seq_len = 8,
				 .rope_theta = 10000.0f, .rms_eps = 1e-5f };

	TAP_OK(tr_config_check(&bad) != NULL && tr_model_new(&bad) == NULL,
	       "heads that do not divide dim are refused");
	bad.n_heads = 5;
	bad.n_kv_heads = 2;
	TAP_OK(tr_config_check(&bad) != NULL, "kv heads that do not divide heads are refused");
}

int main(void)
{
	test_gemm_shapes();
	test_matmul();
	test_rmsnorm();
	test_rmsnorm_near_eps();
	test_rope();
	test_attention();
	test_swiglu();
	test_cross_entropy();
	test_model();
	test_config_checks();
	return tap_done();
}
