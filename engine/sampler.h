/* SPDX-License-Identifier: MIT */
/*
 * sampler.h - next-token selection: repetition penalty over a window of
 * recent tokens, then greedy, or top-k -> temperature -> top-p -> min-p and a
 * draw from the engine's own seeded PRNG (same seed, same tokens, anywhere).
 */
#ifndef ENGINE_SAMPLER_H
#define ENGINE_SAMPLER_H

#include <stdint.h>

struct eng_sampler_params {
	float temperature;	/* <= 0: greedy */
	int top_k;		/* <= 0: off */
	float top_p;		/* >= 1: off */
	float min_p;		/* <= 0: off */
	float repeat_penalty;	/* 1: off */
	int repeat_window;	/* last N tokens penalised; <= 0: all given */
	uint64_t seed;
};

void eng_sampler_defaults(struct eng_sampler_params *p);

struct eng_rng {
	uint64_t s[4];
};

void eng_rng_seed(struct eng_rng *rng, uint64_t seed);
uint64_t eng_rng_next(struct eng_rng *rng);
/* Uniform in [0, 1). */
float eng_rng_float(struct eng_rng *rng);

struct eng_sampler;

struct eng_sampler *eng_sampler_create(const struct eng_sampler_params *p, uint32_t vocab_size);
void eng_sampler_free(struct eng_sampler *s);

/*
 * Picks the next token from logits (vocab_size values, modified in place by
 * the penalty); history holds the tokens so far (prompt and output).
 */
int32_t eng_sampler_sample(struct eng_sampler *s, float *logits, const int32_t *history,
			   int n_history);

/* The repetition penalty alone, as the sampler applies it. */
void eng_apply_repeat_penalty(float *logits, uint32_t vocab_size, const int32_t *history,
			      int n_history, float penalty, int window);

/*
 * Candidate set after top-k/temperature/top-p/min-p: fills ids and probs
 * (sorted by decreasing probability, renormalised), returns the count.
 * Exposed so the tests can check each filter.
 */
int eng_sampler_candidates(struct eng_sampler *s, const float *logits, int32_t *ids, float *probs);

#endif /* ENGINE_SAMPLER_H */
