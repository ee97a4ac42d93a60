/* SPDX-License-Identifier: MIT */
/*
 * model.h - the trainer's Llama: forward exactly as the engine computes it
 * (RMSNorm, RoPE on interleaved pairs (2i, 2i+1), GQA attention, SwiGLU,
 * tied output), the matching backward pass, and the layer primitives the
 * gradient tests check one by one.
 *
 * All parameters live in one flat float array so that the optimiser,
 * checkpoints and gradient reductions treat them as a single vector.
 */
#ifndef ENGINE_TRAIN_MODEL_H
#define ENGINE_TRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct tr_config {
	int dim;
	int hidden;
	int n_layers;
	int n_heads;
	int n_kv_heads;
	int vocab;
	int seq_len;		/* tokens per training sequence (= context length) */
	float rope_theta;
	float rms_eps;
};

/* Offsets into tr_model.p of one layer's tensors. */
struct tr_layer_off {
	size_t attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
};

struct tr_model {
	struct tr_config c;
	size_t n_params;
	float *p;
	/*
	 * Transposed copy of every matrix at the same offset, so each matmul
	 * of the forward and backward pass runs as a row-major axpy product.
	 */
	float *pt;
	size_t tok_embd, output_norm;
	struct tr_layer_off *layer;
	float *rope_cos, *rope_sin;	/* seq_len x head_dim/2 */
};

/* NULL-terminated error string, or NULL when the config is usable. */
const char *tr_config_check(const struct tr_config *c);
/* Parameters uninitialised (zero); NULL when out of memory. */
struct tr_model *tr_model_new(const struct tr_config *c);
void tr_model_free(struct tr_model *m);
/* Norms 1, matrices N(0, 0.02), residual projections scaled by 1/sqrt(2 L). */
void tr_model_init(struct tr_model *m, uint64_t seed);
/* Refreshes the transposed copies after p changed. */
void tr_model_sync(struct tr_model *m);

/* Is parameter i part of a matrix (weight decay applies) or a norm? */
int tr_param_is_matrix(const struct tr_model *m, size_t i);

/* Per-thread scratch for one sequence: activations saved for backward. */
struct tr_work;
struct tr_work *tr_work_new(const struct tr_config *c);
void tr_work_free(struct tr_work *w);

/*
 * Forward (and, when grad is non-NULL, backward) of one sequence:
 * inputs tokens[0..n-1], targets tokens[1..n], n <= seq_len. Returns the
 * summed cross-entropy in nats; grad (n_params floats) receives
 * grad_scale * d(sum CE)/dp, added to what it holds.
 */
double tr_sequence(const struct tr_model *m, struct tr_work *w, const int32_t *tokens, int n,
		   float *grad, float grad_scale);
/* Logits of position t of the last tr_sequence call (vocab floats). */
const float *tr_work_logits(const struct tr_work *w, int t);

/* ---- layer primitives (row-major; T rows of width D unless stated) ---- */

/* C(MxN) += A(MxK) . B(KxN) */
void tr_gemm_acc(float *C, int ldc, const float *A, int lda, const float *B, int ldb,
		 int M, int N, int K);
/* Y(TxN) = X(TxK) . W^T for W (NxK) given as WT (KxN). */
void tr_matmul_fwd(float *Y, const float *X, const float *WT, int T, int K, int N);
/* dX += dY . W, dW += dY^T . X; scratch holds N*T floats. */
void tr_matmul_bwd(float *dX, float *dW, const float *dY, const float *X, const float *W,
		   int T, int K, int N, float *scratch);

void tr_rmsnorm_fwd(float *y, float *inv, const float *x, const float *w, int T, int D, float eps);
/* dx += ..., dw += ... */
void tr_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w,
		    const float *inv, int T, int D);

/* In place on T rows of n_heads heads of head_dim; sign -1 rotates back (backward). */
void tr_rope(float *x, int T, int n_heads, int head_dim, const float *cos_t, const float *sin_t,
	     int sign);
void tr_rope_table(float *cos_t, float *sin_t, int T, int head_dim, float theta);

/* Causal attention: q (T x H*hd), k, v (T x KV*hd); probs (H x T x T). */
void tr_attention_fwd(float *out, float *probs, const float *q, const float *k, const float *v,
		      int T, int n_heads, int n_kv_heads, int head_dim);
/* dq, dk, dv are overwritten; dp_scratch holds T floats. */
void tr_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *probs,
		      const float *q, const float *k, const float *v, int T, int n_heads,
		      int n_kv_heads, int head_dim, float *dp_scratch);

void tr_swiglu_fwd(float *h, const float *g, const float *u, size_t n);
/* dg, du overwritten. */
void tr_swiglu_bwd(float *dg, float *du, const float *dh, const float *g, const float *u, size_t n);

/* Softmax cross-entropy over V logits per row; returns summed nats, writes scale * dlogits. */
double tr_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int T, int V,
			float scale);

#endif /* ENGINE_TRAIN_MODEL_H */
