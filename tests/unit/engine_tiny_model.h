/* SPDX-License-Identifier: MIT */
/*
 * engine_tiny_model.h - builds small random Llama GGUF files in memory for
 * the engine tests, with knobs to break them in specific ways, and keeps a
 * copy of every tensor it wrote (struct tiny_weights) so that a test can
 * hold the engine's view of the file against what was actually written.
 */
#ifndef ENGINE_TINY_MODEL_H
#define ENGINE_TINY_MODEL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf_write.h"
#include "engine/sampler.h"

/* One tensor as written into the file: its bytes, in its dtype. */
struct tiny_tensor {
	char name[64];
	enum eng_dtype type;
	uint64_t rows, cols;	/* a 1D tensor has rows == 1 */
	uint8_t *data;		/* rows * row bytes, owned */
};

struct tiny_weights {
	struct tiny_tensor *t;
	int n, cap;
	int failed;		/* out of memory: the record is incomplete */
};

/* Called with each tensor's bytes before they are written (and recorded). */
typedef void (*tiny_edit_fn)(void *ctx, const char *name, enum eng_dtype type, uint64_t rows,
			     uint64_t cols, uint8_t *bytes);

struct tiny_spec {
	uint32_t dim, hidden, layers, heads, kv_heads, vocab, ctx;
	enum eng_dtype wtype;
	int untied;		/* write output.weight */
	int with_vocab;		/* tokenizer metadata: <unk> <s> </s>, 256 bytes, then words */
	uint64_t seed;
	/* 0: the keys are written with llama.cpp's defaults (10000, 1e-5) */
	float rope_theta, rms_eps;
	/*
	 * Token 0's embedding row is all zeros and token TINY_SMALL_TOKEN's
	 * holds values of about 1e-3, so RMSNorm meets a zero row and a row
	 * whose mean square is near eps.
	 */
	int norm_edge_rows;
	/*
	 * 0 or 1: normal. Otherwise scales the embedding and the residual
	 * projections (attn_output, ffn_down) so that the whole residual
	 * stream, and so every RMSNorm's input, stays that small.
	 */
	float residual_scale;
	tiny_edit_fn edit;
	void *edit_ctx;
	struct tiny_weights *keep;	/* receives a copy of every tensor written */
	/* breakage */
	const char *omit_tensor;
	const char *reshape_tensor;	/* written with its dims swapped and one added */
	const char *omit_key;
	const char *arch;		/* NULL: "llama" */
	uint32_t heads_kv_field;	/* nonzero: written as head_count_kv instead */
};

#define TINY_SMALL_TOKEN	3
/* RoPE base of Llama 3 and RMS epsilon of Llama 1: both differ from the loader's defaults. */
#define TINY_ROPE_THETA		500000.0f
#define TINY_RMS_EPS		1e-6f

static inline struct tiny_spec tiny_default(void)
{
	return (struct tiny_spec){ .dim = 64, .hidden = 96, .layers = 2, .heads = 4, .kv_heads = 2,
				   .vocab = 300, .ctx = 64, .wtype = ENG_F32, .seed = 1,
				   .rope_theta = TINY_ROPE_THETA, .rms_eps = TINY_RMS_EPS,
				   .norm_edge_rows = 1 };
}

static inline float tiny_rope_theta(const struct tiny_spec *s)
{
	return s->rope_theta > 0 ? s->rope_theta : 10000.0f;
}

static inline float tiny_rms_eps(const struct tiny_spec *s)
{
	return s->rms_eps > 0 ? s->rms_eps : 1e-5f;
}

/* ---- the record of written tensors ------------------------------------------ */

static inline uint64_t tiny_row_bytes(enum eng_dtype type, uint64_t cols)
{
	switch (type) {
	case ENG_F32: return 4 * cols;
	case ENG_F16:
	case ENG_BF16: return 2 * cols;
	case ENG_Q8_0: return cols / 32 * 34;
	default: return 0;
	}
}

/* Copies the tensor into the record. */
static inline void tiny_weights_add(struct tiny_weights *w, const char *name, enum eng_dtype type,
				    uint64_t rows, uint64_t cols, const void *data)
{
	size_t bytes = tiny_row_bytes(type, cols) * rows;
	struct tiny_tensor *t;

	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 32;
		struct tiny_tensor *grown = realloc(w->t, (size_t)cap * sizeof(*grown));

		if (!grown) {
			w->failed = 1;
			return;
		}
		w->t = grown;
		w->cap = cap;
	}
	t = &w->t[w->n];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->type = type;
	t->rows = rows;
	t->cols = cols;
	t->data = malloc(bytes ? bytes : 1);
	if (!t->data) {
		w->failed = 1;
		return;
	}
	memcpy(t->data, data, bytes);
	w->n++;
}

static inline const struct tiny_tensor *tiny_weights_find(const struct tiny_weights *w, const char *name)
{
	for (int i = 0; i < w->n; i++)
		if (strcmp(w->t[i].name, name) == 0)
			return &w->t[i];
	return NULL;
}

static inline void tiny_weights_free(struct tiny_weights *w)
{
	for (int i = 0; i < w->n; i++)
		free(w->t[i].data);
	free(w->t);
	memset(w, 0, sizeof(*w));
}

/* The loaded model's tensor of a GGUF name ("blk.1.ffn_up.weight"); NULL if none. */
static inline const struct eng_tensor *tiny_model_tensor(const struct eng_model *m, const char *name)
{
	static const char *const suffix[] = { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
					      "ffn_norm", "ffn_gate", "ffn_down", "ffn_up" };
	unsigned layer;
	char kind[32];

	if (strcmp(name, "token_embd.weight") == 0)
		return &m->tok_embd;
	if (strcmp(name, "output_norm.weight") == 0)
		return &m->output_norm;
	if (strcmp(name, "output.weight") == 0)
		return &m->output;
	if (sscanf(name, "blk.%u.%31[a-z_].weight", &layer, kind) != 2 || layer >= m->hp.n_layers)
		return NULL;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if (strcmp(kind, suffix[i]))
			continue;
		switch (i) {
		case 0: return &m->layers[layer].attn_norm;
		case 1: return &m->layers[layer].wq;
		case 2: return &m->layers[layer].wk;
		case 3: return &m->layers[layer].wv;
		case 4: return &m->layers[layer].wo;
		case 5: return &m->layers[layer].ffn_norm;
		case 6: return &m->layers[layer].w_gate;
		case 7: return &m->layers[layer].w_down;
		default: return &m->layers[layer].w_up;
		}
	}
	return NULL;
}

/* ---- generator ----------------------------------------------------------------- */

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

static inline float *tiny_floats(struct eng_rng *rng, uint64_t rows, uint64_t cols, float scale,
				 float offset)
{
	uint64_t n = rows * cols;
	float *f = malloc(n * sizeof(float));

	for (uint64_t i = 0; i < n; i++)
		f[i] = offset + scale * (2.0f * eng_rng_float(rng) - 1.0f);
	return f;
}

/* Converts (and frees) a row-major float matrix into the requested dtype. */
static inline uint8_t *tiny_encode(float *f, enum eng_dtype type, uint64_t rows, uint64_t cols)
{
	uint64_t row_bytes = tiny_row_bytes(type, cols);
	uint8_t *out;

	if (type == ENG_F32)
		return (uint8_t *)f;
	out = malloc(row_bytes * rows + 1);
	for (uint64_t r = 0; r < rows; r++) {
		const float *src = f + r * cols;
		uint8_t *dst = out + r * row_bytes;

		if (type == ENG_Q8_0) {
			for (uint64_t blk = 0; blk < cols / 32; blk++) {
				float amax = 0, d;
				uint16_t hd;

				for (int i = 0; i < 32; i++)
					amax = fmaxf(amax, fabsf(src[blk * 32 + i]));
				d = amax / 127.0f;
				hd = kern_f32_to_f16(d);
				d = kern_f16_to_f32(hd);
				memcpy(dst + blk * 34, &hd, 2);
				for (int i = 0; i < 32; i++) {
					/* a subnormal f16 scale rounds coarsely: keep q in -127..127 */
					long q = d > 0 ? lrintf(src[blk * 32 + i] / d) : 0;

					q = q > 127 ? 127 : q < -127 ? -127 : q;
					dst[blk * 34 + 2 + i] = (uint8_t)(int8_t)q;
				}
			}
		} else {
			for (uint64_t i = 0; i < cols; i++) {
				uint16_t h = type == ENG_F16 ? kern_f32_to_f16(src[i]) : kern_f32_to_bf16(src[i]);

				memcpy(dst + 2 * i, &h, 2);
			}
		}
	}
	free(f);
	return out;
}

static inline void tiny_add(struct gguf_writer *w, struct tiny_buffers *b, const struct tiny_spec *s,
			    const char *name, enum eng_dtype type, uint64_t rows, uint64_t cols,
			    float *values)
{
	uint64_t ne[2] = { cols, rows };
	uint8_t *data = tiny_keep(b, tiny_encode(values, type, rows, cols));

	if (s->omit_tensor && strcmp(s->omit_tensor, name) == 0)
		return;
	if (s->edit)
		s->edit(s->edit_ctx, name, type, rows, cols, data);
	if (s->keep)
		tiny_weights_add(s->keep, name, type, rows, cols, data);
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

static inline void tiny_f32(struct gguf_writer *w, const struct tiny_spec *s, const char *key, float v)
{
	if (!s->omit_key || strcmp(s->omit_key, key))
		gguf_w_f32(w, key, v);
}

/* Returns a malloc'd GGUF image (free it), or NULL. */
static inline void *tiny_model_gguf(const struct tiny_spec *s, size_t *size)
{
	struct gguf_writer *w = gguf_writer_new();
	struct tiny_buffers b = { .n = 0 };
	struct eng_rng rng;
	uint32_t kv = s->dim / s->heads * s->kv_heads;
	float resid = s->residual_scale > 0 ? s->residual_scale : 1.0f;
	char name[64];
	void *buf = NULL;
	char **tokens = NULL;
	float *scores = NULL;
	int32_t *types = NULL;
	float *embd;
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
	tiny_f32(w, s, "llama.rope.freq_base", tiny_rope_theta(s));
	tiny_f32(w, s, "llama.attention.layer_norm_rms_epsilon", tiny_rms_eps(s));
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
	embd = tiny_floats(&rng, s->vocab, s->dim, resid, 0);
	if (s->norm_edge_rows && s->vocab > TINY_SMALL_TOKEN) {
		memset(embd, 0, s->dim * sizeof(float));
		for (uint32_t i = 0; i < s->dim; i++)
			embd[TINY_SMALL_TOKEN * s->dim + i] *= 1e-3f;
	}
	tiny_add(w, &b, s, "token_embd.weight", s->wtype, s->vocab, s->dim, embd);
	tiny_add(w, &b, s, "output_norm.weight", ENG_F32, 1, s->dim, tiny_floats(&rng, 1, s->dim, 0.2f, 1.0f));
	if (s->untied)
		tiny_add(w, &b, s, "output.weight", s->wtype, s->vocab, s->dim,
			 tiny_floats(&rng, s->vocab, s->dim, 0.5f, 0));
	for (uint32_t l = 0; l < s->layers && b.n < 500; l++) {
		float a = 1.0f / sqrtf((float)s->dim), h = 1.0f / sqrtf((float)s->hidden);
		struct { const char *suffix; uint64_t rows, cols; float scale, offset; enum eng_dtype type; } t[] = {
			{ "attn_norm", 1, s->dim, 0.2f, 1.0f, ENG_F32 },
			{ "attn_q", s->dim, s->dim, 2 * a, 0, s->wtype },
			{ "attn_k", kv, s->dim, 2 * a, 0, s->wtype },
			{ "attn_v", kv, s->dim, a, 0, s->wtype },
			{ "attn_output", s->dim, s->dim, a * resid, 0, s->wtype },
			{ "ffn_norm", 1, s->dim, 0.2f, 1.0f, ENG_F32 },
			{ "ffn_gate", s->hidden, s->dim, a, 0, s->wtype },
			{ "ffn_down", s->dim, s->hidden, h * resid, 0, s->wtype },
			{ "ffn_up", s->hidden, s->dim, a, 0, s->wtype },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, t[i].suffix);
			tiny_add(w, &b, s, name, t[i].type, t[i].rows, t[i].cols,
				 tiny_floats(&rng, t[i].rows, t[i].cols, t[i].scale, t[i].offset));
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
