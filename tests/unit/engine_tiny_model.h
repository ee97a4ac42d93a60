/* SPDX-License-Identifier: MIT */
/*
 * engine_tiny_model.h - builds small random Llama GGUF files in memory for
 * the engine tests, with knobs to break them in specific ways.
 */
#ifndef ENGINE_TINY_MODEL_H
#define ENGINE_TINY_MODEL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf_write.h"
#include "engine/sampler.h"

struct tiny_spec {
	uint32_t dim, hidden, layers, heads, kv_heads, vocab, ctx;
	enum eng_dtype wtype;
	int untied;		/* write output.weight */
	int with_vocab;		/* tokenizer metadata: <unk> <s> </s>, 256 bytes, then words */
	uint64_t seed;
	/* breakage */
	const char *omit_tensor;
	const char *reshape_tensor;	/* written with its dims swapped and one added */
	const char *omit_key;
	const char *arch;		/* NULL: "llama" */
	uint32_t heads_kv_field;	/* nonzero: written as head_count_kv instead */
};

static inline struct tiny_spec tiny_default(void)
{
	return (struct tiny_spec){ .dim = 64, .hidden = 96, .layers = 2, .heads = 4, .kv_heads = 2,
				   .vocab = 300, .ctx = 64, .wtype = ENG_F32, .seed = 1 };
}

struct tiny_buffers {
	void *ptr[512];
	int n;
};

static inline void *tiny_keep(struct tiny_buffers *b, void *p)
{
	if (b->n < 512)
		b->ptr[b->n++] = p;
	return p;
}

/* Random values scaled like a trained layer, converted to the requested dtype. */
static inline void *tiny_weight(struct tiny_buffers *b, struct eng_rng *rng, enum eng_dtype type,
				uint64_t rows, uint64_t cols, float scale, float offset)
{
	uint64_t n = rows * cols;
	float *f = malloc(n * sizeof(float));
	uint8_t *out;

	for (uint64_t i = 0; i < n; i++)
		f[i] = offset + scale * (2.0f * eng_rng_float(rng) - 1.0f);
	if (type == ENG_F32)
		return tiny_keep(b, f);
	out = malloc(eng_row_bytes(type, cols) * rows + 1);
	for (uint64_t r = 0; r < rows; r++) {
		const float *src = f + r * cols;
		uint8_t *dst = out + r * eng_row_bytes(type, cols);

		if (type == ENG_Q8_0) {
			for (uint64_t blk = 0; blk < cols / 32; blk++) {
				float amax = 0, d;
				uint16_t hd;

				for (int i = 0; i < 32; i++)
					amax = fmaxf(amax, fabsf(src[blk * 32 + i]));
				d = amax / 127.0f;
				hd = eng_f32_to_f16(d);
				d = eng_f16_to_f32(hd);
				memcpy(dst + blk * 34, &hd, 2);
				for (int i = 0; i < 32; i++)
					dst[blk * 34 + 2 + i] = (uint8_t)(int8_t)lrintf(d > 0 ? src[blk * 32 + i] / d : 0);
			}
		} else {
			for (uint64_t i = 0; i < cols; i++) {
				uint16_t h = type == ENG_F16 ? eng_f32_to_f16(src[i]) : eng_f32_to_bf16(src[i]);

				memcpy(dst + 2 * i, &h, 2);
			}
		}
	}
	free(f);
	return tiny_keep(b, out);
}

static inline void tiny_add(struct gguf_writer *w, const struct tiny_spec *s, const char *name,
			    enum eng_dtype type, uint64_t rows, uint64_t cols, const void *data)
{
	uint64_t ne[2] = { cols, rows };

	if (s->omit_tensor && strcmp(s->omit_tensor, name) == 0)
		return;
	if (s->reshape_tensor && strcmp(s->reshape_tensor, name) == 0) {
		/* same byte count is not needed: the data just has to be in the file */
		ne[0] = rows;
		ne[1] = cols + (rows == cols);
		if (eng_row_bytes(type, ne[0]) * ne[1] > eng_row_bytes(type, cols) * rows)
			ne[1] = cols;	/* keep inside the written buffer */
	}
	gguf_w_tensor(w, name, type, rows == 1 ? 1 : 2, ne, data);
}

static inline void tiny_u32(struct gguf_writer *w, const struct tiny_spec *s, const char *key, uint32_t v)
{
	if (!s->omit_key || strcmp(s->omit_key, key))
		gguf_w_u32(w, key, v);
}

/* Returns a malloc'd GGUF image (free it), or NULL. */
static inline void *tiny_model_gguf(const struct tiny_spec *s, size_t *size)
{
	struct gguf_writer *w = gguf_writer_new();
	struct tiny_buffers b = { .n = 0 };
	struct eng_rng rng;
	uint32_t kv = s->dim / s->heads * s->kv_heads;
	char name[64];
	void *buf = NULL;
	char **tokens = NULL;
	float *scores = NULL;
	int32_t *types = NULL;
	struct eng_err err;

	eng_rng_seed(&rng, s->seed);
	gguf_w_str(w, "general.architecture", s->arch ? s->arch : "llama");
	gguf_w_u32(w, "general.alignment", 32);
	tiny_u32(w, s, "llama.embedding_length", s->dim);
	tiny_u32(w, s, "llama.block_count", s->layers);
	tiny_u32(w, s, "llama.feed_forward_length", s->hidden);
	tiny_u32(w, s, "llama.attention.head_count", s->heads);
	tiny_u32(w, s, "llama.attention.head_count_kv", s->heads_kv_field ? s->heads_kv_field : s->kv_heads);
	tiny_u32(w, s, "llama.context_length", s->ctx);
	gguf_w_f32(w, "llama.rope.freq_base", 10000.0f);
	gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	if (s->with_vocab) {
		tokens = calloc(s->vocab, sizeof(*tokens));
		scores = calloc(s->vocab, sizeof(*scores));
		types = calloc(s->vocab, sizeof(*types));
		for (uint32_t i = 0; i < s->vocab; i++) {
			tokens[i] = malloc(32);
			types[i] = 1;
			if (i < 3) {
				snprintf(tokens[i], 32, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
				types[i] = i == 0 ? 2 : 3;
			} else if (i < 259) {
				snprintf(tokens[i], 32, "<0x%02X>", i - 3);
				types[i] = 6;
			} else {
				/* "▁a", "▁b", ... then "ab", "ac", ... */
				uint32_t k = i - 259;

				if (k < 26)
					snprintf(tokens[i], 32, "\xe2\x96\x81%c", 'a' + k);
				else
					snprintf(tokens[i], 32, "%c%c", 'a' + (k / 26) % 26, 'a' + k % 26);
				scores[i] = -(float)k;
			}
		}
		gguf_w_str(w, "tokenizer.ggml.model", "llama");
		gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens, s->vocab);
		gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, s->vocab);
		gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, s->vocab);
		gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
		gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
		gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);
	}
	tiny_add(w, s, "token_embd.weight", s->wtype, s->vocab, s->dim,
		 tiny_weight(&b, &rng, s->wtype, s->vocab, s->dim, 1.0f, 0));
	tiny_add(w, s, "output_norm.weight", ENG_F32, 1, s->dim,
		 tiny_weight(&b, &rng, ENG_F32, 1, s->dim, 0.2f, 1.0f));
	if (s->untied)
		tiny_add(w, s, "output.weight", s->wtype, s->vocab, s->dim,
			 tiny_weight(&b, &rng, s->wtype, s->vocab, s->dim, 0.5f, 0));
	for (uint32_t l = 0; l < s->layers && b.n < 500; l++) {
		float a = 1.0f / sqrtf((float)s->dim), h = 1.0f / sqrtf((float)s->hidden);
		struct { const char *suffix; uint64_t rows, cols; float scale, offset; enum eng_dtype type; } t[] = {
			{ "attn_norm", 1, s->dim, 0.2f, 1.0f, ENG_F32 },
			{ "attn_q", s->dim, s->dim, 2 * a, 0, s->wtype },
			{ "attn_k", kv, s->dim, 2 * a, 0, s->wtype },
			{ "attn_v", kv, s->dim, a, 0, s->wtype },
			{ "attn_output", s->dim, s->dim, a, 0, s->wtype },
			{ "ffn_norm", 1, s->dim, 0.2f, 1.0f, ENG_F32 },
			{ "ffn_gate", s->hidden, s->dim, a, 0, s->wtype },
			{ "ffn_down", s->dim, s->hidden, h, 0, s->wtype },
			{ "ffn_up", s->hidden, s->dim, a, 0, s->wtype },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, t[i].suffix);
			tiny_add(w, s, name, t[i].type, t[i].rows, t[i].cols,
				 tiny_weight(&b, &rng, t[i].type, t[i].rows, t[i].cols, t[i].scale, t[i].offset));
		}
	}
	if (gguf_writer_to_mem(w, &buf, size, &err))
		buf = NULL;
	gguf_writer_free(w);
	for (int i = 0; i < b.n; i++)
		free(b.ptr[i]);
	if (tokens)
		for (uint32_t i = 0; i < s->vocab; i++)
			free(tokens[i]);
	free(tokens);
	free(scores);
	free(types);
	return buf;
}

static inline int tiny_write_file(const char *path, const void *buf, size_t size)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(buf, 1, size, f) == size;
	return fclose(f) == 0 && ok ? 0 : -1;
}

#endif /* ENGINE_TINY_MODEL_H */
