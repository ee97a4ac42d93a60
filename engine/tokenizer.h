/* SPDX-License-Identifier: MIT */
/*
 * tokenizer.h - SentencePiece-style BPE with byte fallback, as llama.cpp's
 * "llama" (SPM) tokenizer does it, from GGUF metadata or a llama2.c
 * tokenizer.bin; and a streaming detokenizer that only ever emits complete,
 * valid UTF-8.
 */
#ifndef ENGINE_TOKENIZER_H
#define ENGINE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* GGUF tokenizer.ggml.token_type values. */
enum eng_token_type {
	ENG_TOKEN_NORMAL = 1,
	ENG_TOKEN_UNKNOWN = 2,
	ENG_TOKEN_CONTROL = 3,
	ENG_TOKEN_USER_DEFINED = 4,
	ENG_TOKEN_UNUSED = 5,
	ENG_TOKEN_BYTE = 6,
};

/* Longest token text accepted from a file. */
#define ENG_TOKEN_MAX_BYTES	1024
/* Output buffer that eng_detok_push/flush always fit in. */
#define ENG_DETOK_BUF		(3 * ENG_TOKEN_MAX_BYTES + 16)

struct gguf_file;
struct eng_tokenizer;

int eng_tokenizer_from_gguf(const struct gguf_file *gf, struct eng_tokenizer **out,
			    struct eng_err *err);
int eng_tokenizer_from_llama2c(const char *path, uint32_t vocab_size, struct eng_tokenizer **out,
			       struct eng_err *err);
/* Vocab-only open: a GGUF that may hold no tensors at all. */
struct eng_tokenizer *eng_tokenizer_load(const char *path, struct eng_err *err);
void eng_tokenizer_free(struct eng_tokenizer *tok);

uint32_t eng_tokenizer_vocab_size(const struct eng_tokenizer *tok);
int32_t eng_tokenizer_bos(const struct eng_tokenizer *tok);
int32_t eng_tokenizer_eos(const struct eng_tokenizer *tok);
int eng_tokenizer_add_bos(const struct eng_tokenizer *tok);
/* Raw vocabulary text of a token (with U+2581 for spaces); NULL if out of range. */
const char *eng_token_text(const struct eng_tokenizer *tok, int32_t id, size_t *len);
enum eng_token_type eng_token_type(const struct eng_tokenizer *tok, int32_t id);
float eng_token_score(const struct eng_tokenizer *tok, int32_t id);

/*
 * Tokenizes len bytes of text (special-token text is not parsed; the
 * SentencePiece space prefix is added to non-empty text when the vocabulary
 * asks for it). Writes at most max_tokens ids and returns how many the text
 * needs, so a return value > max_tokens means "call again with more room";
 * -1 if out of memory.
 */
int eng_tokenize(const struct eng_tokenizer *tok, const char *text, size_t len, int add_bos,
		 int32_t *tokens, int max_tokens);

/* Streaming detokenizer state. */
struct eng_detok {
	const struct eng_tokenizer *tok;
	uint8_t pending[4];	/* start of an incomplete UTF-8 sequence */
	int n_pending;
	int need;		/* bytes the pending sequence needs in total */
	int at_start;		/* drop one leading space: start of text or after BOS */
};

void eng_detok_init(struct eng_detok *d, const struct eng_tokenizer *tok);
/* Appends the complete UTF-8 that token id finishes; out holds ENG_DETOK_BUF. */
size_t eng_detok_push(struct eng_detok *d, int32_t id, char *out);
/* Ends the stream: an unfinished sequence becomes U+FFFD. */
size_t eng_detok_flush(struct eng_detok *d, char *out);

#endif /* ENGINE_TOKENIZER_H */
