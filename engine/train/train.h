/* SPDX-License-Identifier: MIT */
/*
 * train.h - corpus preparation, the training loop (data-parallel over
 * pthreads, AdamW, checkpoints), GGUF export/import and held-out scoring.
 *
 * Determinism: every sequence of a batch gets its own gradient buffer and
 * the buffers are summed in sequence order, so the weights after N steps
 * depend only on the seed and the options, not on the thread count.
 */
#ifndef ENGINE_TRAIN_TRAIN_H
#define ENGINE_TRAIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/train/bpe.h"
#include "engine/train/kjv.h"
#include "engine/train/model.h"

/*
 * Token stream: each verse tokenized on its own by the engine's tokenizer
 * (space prefix, no BOS) followed by the <0x0A> byte token; verse_start[i]
 * is the index of verse i's first token.
 */
struct tr_stream {
	int32_t *tok;
	size_t n;
	size_t *verse_start;
	size_t n_verses;
	size_t bytes;		/* bytes of text the stream encodes */
};

struct eng_tokenizer;
int tr_stream_build(const struct eng_tokenizer *tok, const struct tr_verses *v,
		    struct tr_stream *s, struct eng_err *err);
void tr_stream_free(struct tr_stream *s);

struct tr_options {
	struct tr_config cfg;
	int steps;
	int batch;		/* sequences per step */
	float lr, lr_min;
	int warmup;
	float weight_decay;	/* matrices only */
	float clip;		/* global gradient norm */
	float beta1, beta2, adam_eps;
	uint64_t seed;
	int threads;
};

void tr_options_default(struct tr_options *o);

struct tr_trainer;

/* stream must outlive the trainer. */
struct tr_trainer *tr_trainer_new(const struct tr_options *o, const struct tr_stream *train,
				  struct eng_err *err);
void tr_trainer_free(struct tr_trainer *t);
struct tr_model *tr_trainer_model(struct tr_trainer *t);
int tr_trainer_step_index(const struct tr_trainer *t);
/* One optimiser step; returns the mean training loss (nats/token), NAN on failure. */
double tr_trainer_step(struct tr_trainer *t, float *lr_out, float *grad_norm_out);

int tr_checkpoint_save(const struct tr_trainer *t, const char *path, struct eng_err *err);
/* Restores weights, optimiser state and step; the options must describe the same model. */
int tr_checkpoint_load(struct tr_trainer *t, const char *path, struct eng_err *err);

/* Model + tokenizer as a GGUF v3 llama; F16 matrices unless f32. */
int tr_save_gguf(const struct tr_model *m, const struct bpe_vocab *v, const char *path, int f32,
		 const char *description, struct eng_err *err);
/* A tied-embedding GGUF llama as a trainer model (weights widened to F32). */
struct tr_model *tr_load_gguf(const char *path, struct eng_tokenizer **tok, struct eng_err *err);

/*
 * Held-out cross-entropy: the stream in chunks of at most seq_len tokens,
 * each starting with BOS at a verse start where possible. Returns total
 * bits (NAN on failure); max_chunks 0 means all.
 */
double tr_score_bits(const struct tr_model *m, const struct tr_stream *s, int threads,
		     size_t max_chunks, size_t *tokens_scored);

#endif /* ENGINE_TRAIN_TRAIN_H */
