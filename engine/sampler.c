// SPDX-License-Identifier: MIT
/* sampler.c - see sampler.h. */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct candidate {
	float logit;
	int32_t id;
};

struct eng_sampler {
	struct eng_sampler_params p;
	uint32_t vocab_size;
	struct eng_rng rng;
	struct candidate *cand;
	int32_t *ids;
	float *probs;
	uint8_t *seen;
};

void eng_sampler_defaults(struct eng_sampler_params *p)
{
	*p = (struct eng_sampler_params){
		.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
		.repeat_penalty = 1.1f, .repeat_window = 64, .seed = 0,
	};
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void eng_rng_seed(struct eng_rng *rng, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** */
uint64_t eng_rng_next(struct eng_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

float eng_rng_float(struct eng_rng *rng)
{
	return (float)(eng_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

struct eng_sampler *eng_sampler_create(const struct eng_sampler_params *p, uint32_t vocab_size)
{
	struct eng_sampler *s = calloc(1, sizeof(*s));

	if (!s || vocab_size == 0)
		goto fail;
	s->p = *p;
	s->vocab_size = vocab_size;
	s->cand = malloc(vocab_size * sizeof(*s->cand));
	s->ids = malloc(vocab_size * sizeof(*s->ids));
	s->probs = malloc(vocab_size * sizeof(*s->probs));
	s->seen = calloc(vocab_size, 1);
	if (!s->cand || !s->ids || !s->probs || !s->seen)
		goto fail;
	eng_rng_seed(&s->rng, p->seed);
	return s;
fail:
	eng_sampler_free(s);
	return NULL;
}

void eng_sampler_free(struct eng_sampler *s)
{
	if (!s)
		return;
	free(s->cand);
	free(s->ids);
	free(s->probs);
	free(s->seen);
	free(s);
}

static void penalise(float *logits, uint32_t vocab_size, const int32_t *history, int n_history,
		     float penalty, int window, uint8_t *seen)
{
	int start = window > 0 && n_history > window ? n_history - window : 0;

	if (penalty == 1.0f || !(penalty > 0))
		return;
	/* each distinct token is penalised once, however often it repeats */
	for (int i = start; i < n_history; i++) {
		int32_t id = history[i];

		if (id < 0 || (uint32_t)id >= vocab_size || seen[id])
			continue;
		seen[id] = 1;
		logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
	}
	for (int i = start; i < n_history; i++)
		if (history[i] >= 0 && (uint32_t)history[i] < vocab_size)
			seen[history[i]] = 0;
}

void eng_apply_repeat_penalty(float *logits, uint32_t vocab_size, const int32_t *history,
			      int n_history, float penalty, int window)
{
	uint8_t *seen = calloc(vocab_size, 1);

	if (!seen)
		return;
	penalise(logits, vocab_size, history, n_history, penalty, window, seen);
	free(seen);
}

static int cmp_candidate(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

static int32_t argmax(const float *logits, uint32_t n)
{
	int32_t best = 0;

	for (uint32_t i = 1; i < n; i++)
		if (logits[i] > logits[best])
			best = (int32_t)i;
	return best;
}

int eng_sampler_candidates(struct eng_sampler *s, const float *logits, int32_t *ids, float *probs)
{
	uint32_t n = s->vocab_size;
	int k = s->p.top_k > 0 && (uint32_t)s->p.top_k < n ? s->p.top_k : (int)n;
	float temp = s->p.temperature > 0 ? s->p.temperature : 1.0f;
	double sum = 0, cum;
	int keep;

	for (uint32_t i = 0; i < n; i++)
		s->cand[i] = (struct candidate){ isnan(logits[i]) ? -INFINITY : logits[i], (int32_t)i };
	if (k < (int)n) {
		/* keep the k best in front without sorting the whole vocabulary */
		int filled = 0;

		for (uint32_t i = 0; i < n; i++) {
			struct candidate c = s->cand[i];
			int j;

			if (filled == k && cmp_candidate(&c, &s->cand[k - 1]) >= 0)
				continue;
			j = filled < k ? filled++ : k - 1;
			while (j > 0 && cmp_candidate(&c, &s->cand[j - 1]) < 0) {
				s->cand[j] = s->cand[j - 1];
				j--;
			}
			s->cand[j] = c;
		}
	} else {
		qsort(s->cand, n, sizeof(*s->cand), cmp_candidate);
	}
	for (int i = 0; i < k; i++) {
		probs[i] = expf((s->cand[i].logit - s->cand[0].logit) / temp);
		ids[i] = s->cand[i].id;
		sum += probs[i];
	}
	keep = k;
	cum = 0;
	if (s->p.top_p > 0 && s->p.top_p < 1) {
		for (int i = 0; i < k; i++) {
			cum += probs[i] / sum;
			if (cum >= s->p.top_p) {
				keep = i + 1;
				break;
			}
		}
	}
	if (s->p.min_p > 0) {
		float floor_p = s->p.min_p * probs[0];

		for (int i = 1; i < keep; i++) {
			if (probs[i] < floor_p) {
				keep = i;
				break;
			}
		}
	}
	sum = 0;
	for (int i = 0; i < keep; i++)
		sum += probs[i];
	for (int i = 0; i < keep; i++)
		probs[i] = (float)(probs[i] / sum);
	return keep;
}

int32_t eng_sampler_sample(struct eng_sampler *s, float *logits, const int32_t *history, int n_history)
{
	int n;
	float r, cum = 0;

	penalise(logits, s->vocab_size, history, n_history, s->p.repeat_penalty,
		 s->p.repeat_window, s->seen);
	if (!(s->p.temperature > 0))
		return argmax(logits, s->vocab_size);
	n = eng_sampler_candidates(s, logits, s->ids, s->probs);
	r = eng_rng_float(&s->rng);
	for (int i = 0; i < n; i++) {
		cum += s->probs[i];
		if (r < cum)
			return s->ids[i];
	}
	return s->ids[n - 1];
}
