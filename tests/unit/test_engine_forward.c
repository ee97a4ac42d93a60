// SPDX-License-Identifier: MIT
/*
 * test_engine_forward - the cpu backend against the naive reference forward
 * (engine/ref.c) at every position of a prompt, for each weight dtype; batched
 * prefill against token-by-token decode; thread count and SIMD/scalar
 * independence; the backend registry and its error paths.
 *
 * Tolerance: the reference sums in double, the backend in float with a
 * different order, so logits may differ by rounding: we require
 * max |cpu - ref| <= 1e-4 * (1 + max |ref|) per position (observed ~1e-6).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/gguf.h"
#include "engine/kernels.h"
#include "engine/ref.h"
#include "tests/tap.h"
#include "tests/unit/engine_tiny_model.h"

#define N_PROMPT 13

static const int32_t prompt[N_PROMPT] = { 1, 17, 42, 299, 5, 5, 260, 100, 7, 250, 3, 88, 1 };

static struct eng_model *open_model(const struct tiny_spec *s, void **image)
{
	struct eng_err err = { "" };
	size_t size;
	struct gguf_file *gf;
	struct eng_model *m;

	*image = tiny_model_gguf(s, &size);
	gf = *image ? gguf_open_mem(*image, size, &err) : NULL;
	m = gf ? eng_model_from_gguf(gf, &err) : NULL;
	if (!m) {
		TAP_NOTE("model: %s", err.msg);
		gguf_close(gf);
	}
	return m;
}

static float max_diff(const float *a, const float *b, size_t n, float *max_abs)
{
	float d = 0, mx = 0;

	for (size_t i = 0; i < n; i++) {
		d = fmaxf(d, fabsf(a[i] - b[i]));
		mx = fmaxf(mx, fabsf(b[i]));
	}
	if (max_abs)
		*max_abs = mx;
	return d;
}

static struct eng_backend *cpu(const struct eng_model *m, int threads, uint32_t batch)
{
	struct eng_backend_config cfg = { .n_ctx = 32, .n_threads = threads, .max_batch = batch };
	struct eng_err err = { "" };
	struct eng_backend *be = eng_backend_create("cpu", m, &cfg, &err);

	if (!be)
		TAP_NOTE("backend: %s", err.msg);
	return be;
}

static void test_against_reference(enum eng_dtype type, int untied)
{
	struct tiny_spec s = tiny_default();
	void *image;
	struct eng_model *m;
	struct eng_backend *be;
	struct eng_ref *ref;
	struct eng_err err;
	uint32_t V;
	float *got, *want, worst = 0;
	int ok = 1;

	s.wtype = type;
	s.untied = untied;
	s.seed = 7 + type;
	m = open_model(&s, &image);
	TAP_OK(m != NULL, "%s model (%s output) loads", eng_dtype_name(type), untied ? "untied" : "tied");
	if (!m)
		return;
	V = m->hp.vocab_size;
	be = cpu(m, 2, 64);
	ref = eng_ref_create(m, 32);
	got = malloc(sizeof(float) * V * N_PROMPT);
	want = malloc(sizeof(float) * V);
	TAP_OK(be && ref && eng_backend_forward(be, prompt, N_PROMPT, 0, got, 1, &err) == 0,
	       "%s: batched prefill of %d tokens with all logits", eng_dtype_name(type), N_PROMPT);
	for (int p = 0; p < N_PROMPT && be && ref; p++) {
		float mx, d;

		eng_ref_forward(ref, prompt[p], (uint32_t)p, want);
		d = max_diff(got + (size_t)p * V, want, V, &mx);
		worst = fmaxf(worst, d / (1 + mx));
		ok &= d <= 1e-4f * (1 + mx);
	}
	TAP_OK(ok, "%s: cpu logits match the reference at all %d positions (worst %.2g relative)",
	       eng_dtype_name(type), N_PROMPT, worst);
	free(got);
	free(want);
	eng_ref_free(ref);
	eng_backend_destroy(be);
	eng_model_free(m);
	free(image);
}

static void test_batching_and_threads(void)
{
	struct tiny_spec s = tiny_default();
	void *image;
	struct eng_model *m;
	struct eng_backend *batched, *stepped, *chunked, *single;
	struct eng_err err;
	float *a, *b, *c, *d;
	uint32_t V;
	int ok = 1;

	s.wtype = ENG_F16;
	s.dim = 40;		/* head_dim 10, cols not a multiple of 16: SIMD tails */
	s.hidden = 72;
	s.heads = 4;
	s.kv_heads = 1;
	s.layers = 3;
	m = open_model(&s, &image);
	if (!TAP_OK(m != NULL, "odd-sized GQA model (4 heads, 1 KV head) loads"))
		return;
	V = m->hp.vocab_size;
	a = malloc(sizeof(float) * V * N_PROMPT);
	b = malloc(sizeof(float) * V * N_PROMPT);
	c = malloc(sizeof(float) * V * N_PROMPT);
	d = malloc(sizeof(float) * V * N_PROMPT);
	batched = cpu(m, 2, 64);
	stepped = cpu(m, 2, 64);
	chunked = cpu(m, 2, 5);
	single = cpu(m, 1, 64);
	eng_backend_forward(batched, prompt, N_PROMPT, 0, a, 1, &err);
	for (int p = 0; p < N_PROMPT; p++)
		ok &= eng_backend_forward(stepped, prompt + p, 1, (uint32_t)p, b + (size_t)p * V, 0, &err) == 0;
	TAP_OK(ok && max_diff(a, b, (size_t)V * N_PROMPT, NULL) <= 1e-5f,
	       "batched prefill equals token-by-token decode (max diff %.2g)",
	       max_diff(a, b, (size_t)V * N_PROMPT, NULL));
	eng_backend_forward(chunked, prompt, N_PROMPT, 0, c, 1, &err);
	TAP_OK(max_diff(a, c, (size_t)V * N_PROMPT, NULL) <= 1e-5f, "prefill in chunks of 5 equals one batch");
	eng_backend_forward(single, prompt, N_PROMPT, 0, d, 1, &err);
	TAP_OK(memcmp(a, d, sizeof(float) * V * N_PROMPT) == 0, "1 thread and 2 threads give identical logits");

	eng_kernels_force_scalar(1);
	eng_backend_reset(single);
	eng_backend_forward(single, prompt, N_PROMPT, 0, d, 1, &err);
	eng_kernels_force_scalar(0);
	TAP_OK(max_diff(a, d, (size_t)V * N_PROMPT, NULL) <= 1e-4f, "scalar kernels match the SIMD kernels (max diff %.2g)",
	       max_diff(a, d, (size_t)V * N_PROMPT, NULL));

	/* last-token logits only; then continue decoding after a reset */
	eng_backend_reset(batched);
	TAP_OK(eng_backend_forward(batched, prompt, N_PROMPT, 0, b, 0, &err) == 0 &&
	       memcmp(b, a + (size_t)(N_PROMPT - 1) * V, sizeof(float) * V) == 0,
	       "after reset, a prefill returning only the last logits reproduces them");

	TAP_OK(eng_backend_forward(batched, prompt, 1, 32, b, 0, &err) != 0 && strstr(err.msg, "context full"),
	       "position past the context is refused: %s", err.msg);
	{
		int32_t bad = (int32_t)V;

		TAP_OK(eng_backend_forward(batched, &bad, 1, 0, b, 0, &err) != 0 && strstr(err.msg, "outside the vocabulary"),
		       "token id outside the vocabulary is refused: %s", err.msg);
	}
	eng_backend_destroy(batched);
	eng_backend_destroy(stepped);
	eng_backend_destroy(chunked);
	eng_backend_destroy(single);
	free(a);
	free(b);
	free(c);
	free(d);
	eng_model_free(m);
	free(image);
}

static void test_registry(void)
{
	struct tiny_spec s = tiny_default();
	struct eng_err err = { "" };
	void *image;
	struct eng_model *m = open_model(&s, &image);

	TAP_OK(m && !eng_backend_create("wse", m, NULL, &err) && strcmp(err.msg, "backend 'wse' is not built in") == 0,
	       "wse backend: '%s'", err.msg);
	TAP_OK(m && !eng_backend_create("gpu", m, NULL, &err) && strstr(err.msg, "unknown backend 'gpu'"),
	       "unknown backend: '%s'", err.msg);
	{
		struct eng_backend *be = m ? eng_backend_create("cpu", m, NULL, &err) : NULL;
		struct eng_backend_stats st;

		TAP_OK(be && be->cfg.n_ctx == 64 && be->cfg.max_batch == 64, "defaults: context from the model, batch 64");
		if (be) {
			float *l = malloc(sizeof(float) * m->hp.vocab_size);

			eng_backend_forward(be, prompt, 3, 0, l, 0, &err);
			eng_backend_forward(be, prompt + 3, 1, 3, l, 0, &err);
			eng_backend_get_stats(be, &st);
			TAP_OK(st.tokens == 4 && st.decode_steps == 1 && st.modelled_cycles == 0,
			       "stats count tokens and decode steps; no modelled cycles on cpu");
			free(l);
		}
		eng_backend_destroy(be);
	}
	eng_model_free(m);
	free(image);
}

int main(void)
{
	TAP_NOTE("SIMD kernels %s", eng_kernels_simd() ? "on" : "off (scalar only)");
	test_against_reference(ENG_F32, 0);
	test_against_reference(ENG_F16, 1);
	test_against_reference(ENG_BF16, 0);
	test_against_reference(ENG_Q8_0, 1);
	test_batching_and_threads();
	test_registry();
	return tap_done();
}
