/* SPDX-License-Identifier: MIT */
/*
 * bpe.h - trains a SentencePiece-style BPE vocabulary with byte fallback and
 * turns it into llama-format GGUF tokenizer metadata.
 *
 * Layout: <unk>=0, <s>=1, </s>=2, <0x00>..<0xFF> = 3..258, then the single
 * characters of the training text ("▁" for a space), then one token per
 * merge. A merge's score is minus its rank, so SentencePiece's
 * "merge the adjacent pair whose concatenation scores highest" (what
 * llama.cpp and engine/tokenizer.c do) applies merges in training order.
 */
#ifndef ENGINE_TRAIN_BPE_H
#define ENGINE_TRAIN_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#define BPE_FIRST_BYTE_TOKEN	3
#define BPE_SPACE		"\xe2\x96\x81"	/* U+2581, SentencePiece's space */

struct bpe_vocab {
	int n;
	char **text;		/* NUL-terminated UTF-8 */
	float *score;
	int32_t *type;		/* enum eng_token_type */
	int n_merges;
};

/*
 * Words are the runs between spaces and newlines, each given a leading "▁";
 * merges never cross a word. Stops early when no pair occurs twice.
 */
int bpe_train(const char *text, size_t len, int vocab_size, struct bpe_vocab *out,
	      struct eng_err *err);
void bpe_vocab_free(struct bpe_vocab *v);

struct gguf_writer;
/* Adds tokenizer.ggml.* (model "llama", add_bos, no eos) to w. */
int bpe_write_gguf(const struct bpe_vocab *v, struct gguf_writer *w);

struct eng_tokenizer;
/* The engine's tokenizer for this vocabulary (via in-memory GGUF metadata). */
struct eng_tokenizer *bpe_engine_tokenizer(const struct bpe_vocab *v, struct eng_err *err);

#endif
