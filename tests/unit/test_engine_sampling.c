// SPDX-License-Identifier: MIT
/*
 * test_engine_sampling - each sampling stage on hand-made logits: greedy,
 * temperature, top-k, top-p, min-p, repetition penalty and its window, and
 * seeded determinism. Draw counts are deterministic (fixed seeds), so the
 * bounds below are exact properties of this PRNG, not flaky statistics.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "tests/tap.h"

#define V 8
static const float base[V] = { 1.0f, 3.0f, 2.5f, 0.5f, -1.0f, 2.9f, 0.0f, -3.0f };

static struct eng_sampler *make(float temp, int top_k, float top_p, float min_p, float pen, int window,
				uint64_t seed)
{
	struct eng_sampler_params p = { temp, top_k, top_p, min_p, pen, window, seed };

	return eng_sampler_create(&p, V);
}

static void draw(struct eng_sampler *s, int n, int counts[V])
{
	memset(counts, 0, V * sizeof(int));
	for (int i = 0; i < n; i++) {
		float l[V];
		int32_t t;

		memcpy(l, base, sizeof(l));
		t = eng_sampler_sample(s, l, NULL, 0);
		if (t >= 0 && t < V)
			counts[t]++;
	}
}

int main(void)
{
	struct eng_sampler *s;
	int counts[V], other;
	int32_t ids[V];
	float probs[V], l[V];
	int n;

	s = make(0, 0, 1, 0, 1, 0, 1);
	draw(s, 50, counts);
	TAP_OK(counts[1] == 50, "greedy (temperature 0) always picks the largest logit");
	eng_sampler_free(s);

	s = make(0.05f, 0, 1, 0, 1, 0, 1);
	draw(s, 2000, counts);
	/* logits 3.0 vs 2.9 at T 0.05: odds e^2 = 7.4, so about 1760 : 240; the rest ~0 */
	TAP_OK(counts[1] > 1600 && counts[5] > 150 && counts[5] < 350 && counts[1] + counts[5] > 1990,
	       "low temperature: odds follow exp(dlogit / T) (%d, %d)",
	       counts[1], counts[5]);
	eng_sampler_free(s);

	s = make(100.0f, 0, 1, 0, 1, 0, 2);
	draw(s, 8000, counts);
	other = 1;
	for (int i = 0; i < V; i++)
		other &= counts[i] > 800 && counts[i] < 1200;
	TAP_OK(other, "high temperature: close to uniform over all 8 tokens (min %d)", counts[7]);
	eng_sampler_free(s);

	s = make(1.0f, 2, 1, 0, 1, 0, 3);
	draw(s, 2000, counts);
	TAP_OK(counts[1] + counts[5] == 2000 && counts[1] > counts[5] && counts[5] > 500,
	       "top-k 2: only tokens 1 and 5 (%d, %d)", counts[1], counts[5]);
	n = eng_sampler_candidates(s, base, ids, probs);
	TAP_OK(n == 2 && ids[0] == 1 && ids[1] == 5 && fabsf(probs[0] + probs[1] - 1) < 1e-6f,
	       "top-k 2 candidate set is {1, 5}, renormalised");
	eng_sampler_free(s);

	/* softmax of base: p1 ~ .34, p5 ~ .31, p2 ~ .21, ...; cumulative .65 after two, .86 after three */
	s = make(1.0f, 0, 0.7f, 0, 1, 0, 4);
	n = eng_sampler_candidates(s, base, ids, probs);
	TAP_OK(n == 3 && ids[0] == 1 && ids[1] == 5 && ids[2] == 2, "top-p 0.7 keeps the 3 tokens that reach 70%% (%d)", n);
	draw(s, 2000, counts);
	TAP_OK(counts[1] + counts[5] + counts[2] == 2000 && counts[2] > 300, "top-p: draws stay in the nucleus");
	eng_sampler_free(s);

	/* min-p 0.5: keep p >= 0.5 * p_max -> tokens 1 (3.0), 5 (2.9), 2 (2.5 -> e^-0.5 = .61) */
	s = make(1.0f, 0, 1, 0.5f, 1, 0, 5);
	n = eng_sampler_candidates(s, base, ids, probs);
	TAP_OK(n == 3 && ids[2] == 2, "min-p 0.5 keeps tokens within half the top probability (%d)", n);
	eng_sampler_free(s);
	s = make(1.0f, 0, 1, 0.7f, 1, 0, 5);
	n = eng_sampler_candidates(s, base, ids, probs);
	TAP_OK(n == 2, "min-p 0.7 drops token 2 (e^-0.5 = 0.61 of the top)");
	draw(s, 1000, counts);
	TAP_OK(counts[1] + counts[5] == 1000, "min-p: draws stay in the kept set");
	eng_sampler_free(s);

	/* repetition penalty: positive logits divided, negative multiplied */
	{
		const int32_t hist[3] = { 1, 4, 1 };

		memcpy(l, base, sizeof(l));
		eng_apply_repeat_penalty(l, V, hist, 3, 2.0f, 0);
		TAP_OK(l[1] == 1.5f && l[4] == -2.0f && l[5] == 2.9f,
		       "penalty 2: token 1 3.0 -> 1.5 (once, though repeated), token 4 -1 -> -2, others unchanged");
		s = make(0, 0, 1, 0, 2.0f, 0, 1);
		memcpy(l, base, sizeof(l));
		TAP_OK(eng_sampler_sample(s, l, hist, 3) == 5, "greedy with the penalty moves off the repeated token");
		eng_sampler_free(s);
		/* window 1: only the last token (1) counts, so 4 is left alone */
		memcpy(l, base, sizeof(l));
		eng_apply_repeat_penalty(l, V, hist, 3, 2.0f, 1);
		TAP_OK(l[1] == 1.5f && l[4] == -1.0f, "penalty window 1 only sees the last token");
		{
			const int32_t old[3] = { 1, 6, 6 };

			s = make(0, 0, 1, 0, 2.0f, 2, 1);
			memcpy(l, base, sizeof(l));
			TAP_OK(eng_sampler_sample(s, l, old, 3) == 1,
			       "a token older than the window is not penalised");
			eng_sampler_free(s);
		}
	}

	/* determinism */
	{
		struct eng_sampler *a = make(1.0f, 0, 1, 0, 1, 0, 42), *b = make(1.0f, 0, 1, 0, 1, 0, 42);
		struct eng_sampler *c = make(1.0f, 0, 1, 0, 1, 0, 43);
		int same = 1, diff = 0;

		for (int i = 0; i < 200; i++) {
			float la[V], lb[V], lc[V];
			int32_t ta, tb, tc;

			memcpy(la, base, sizeof(la));
			memcpy(lb, base, sizeof(lb));
			memcpy(lc, base, sizeof(lc));
			ta = eng_sampler_sample(a, la, NULL, 0);
			tb = eng_sampler_sample(b, lb, NULL, 0);
			tc = eng_sampler_sample(c, lc, NULL, 0);
			same &= ta == tb;
			diff += ta != tc;
		}
		TAP_OK(same, "same seed, same 200 tokens");
		TAP_OK(diff > 20, "another seed gives another sequence (%d of 200 differ)", diff);
		eng_sampler_free(a);
		eng_sampler_free(b);
		eng_sampler_free(c);
	}
	{
		struct eng_rng r;
		uint64_t first;
		float lo = 1, hi = 0;

		eng_rng_seed(&r, 0);
		first = eng_rng_next(&r);
		eng_rng_seed(&r, 0);
		TAP_OK(eng_rng_next(&r) == first && eng_rng_next(&r) != first, "PRNG is reproducible and moves on");
		for (int i = 0; i < 10000; i++) {
			float f = eng_rng_float(&r);

			lo = fminf(lo, f);
			hi = fmaxf(hi, f);
		}
		TAP_OK(lo >= 0 && hi < 1 && lo < 0.001f && hi > 0.999f, "uniform floats cover [0, 1)");
	}
	{
		float nan_logits[V];

		memcpy(nan_logits, base, sizeof(nan_logits));
		nan_logits[3] = NAN;
		s = make(1.0f, 0, 1, 0, 1, 0, 9);
		n = eng_sampler_candidates(s, nan_logits, ids, probs);
		other = 1;
		for (int i = 0; i < n; i++)
			other &= ids[i] != 3 || probs[i] == 0;
		TAP_OK(other, "a NaN logit is never drawn");
		eng_sampler_free(s);
	}
	return tap_done();
}
