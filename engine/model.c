// SPDX-License-Identifier: MIT
/*
 * model.c - Llama models from GGUF and llama2.c checkpoints: hyperparameters,
 * the per-layer weight table (pointers into the mapped file) and every
 * consistency check between the two.
 */
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"

#define LAYER_TENSOR(id, field, gguf_name, norm) \
	[id] = { #field, gguf_name, offsetof(struct eng_layer, field), norm }
const struct eng_layer_tensor_desc eng_layer_tensors[ENG_LAYER_TENSORS] = {
	LAYER_TENSOR(ENG_ATTN_NORM, attn_norm, "attn_norm", 1),
	LAYER_TENSOR(ENG_WQ, wq, "attn_q", 0),
	LAYER_TENSOR(ENG_WK, wk, "attn_k", 0),
	LAYER_TENSOR(ENG_WV, wv, "attn_v", 0),
	LAYER_TENSOR(ENG_WO, wo, "attn_output", 0),
	LAYER_TENSOR(ENG_FFN_NORM, ffn_norm, "ffn_norm", 1),
	LAYER_TENSOR(ENG_W_GATE, w_gate, "ffn_gate", 0),
	LAYER_TENSOR(ENG_W_DOWN, w_down, "ffn_down", 0),
	LAYER_TENSOR(ENG_W_UP, w_up, "ffn_up", 0),
};
#undef LAYER_TENSOR

void eng_layer_shape(const struct eng_hparams *hp, enum eng_layer_tensor which,
		     uint64_t *rows, uint64_t *cols)
{
	uint64_t kv_dim = (uint64_t)hp->n_kv_heads * hp->head_dim;

	*rows = hp->dim;
	*cols = hp->dim;
	switch (which) {
	case ENG_ATTN_NORM:
	case ENG_FFN_NORM: *rows = 1; break;
	case ENG_WK:
	case ENG_WV: *rows = kv_dim; break;
	case ENG_W_GATE:
	case ENG_W_UP: *rows = hp->hidden_dim; break;
	case ENG_W_DOWN: *cols = hp->hidden_dim; break;
	default: break;
	}
}

static int check_hparams(struct eng_hparams *hp, struct eng_err *err)
{
	if (hp->dim == 0 || hp->dim > ENG_MAX_DIM)
		return eng_fail(err, "embedding length %u is out of range (1..%u)", hp->dim, ENG_MAX_DIM);
	if (hp->hidden_dim == 0 || hp->hidden_dim > ENG_MAX_HIDDEN)
		return eng_fail(err, "feed-forward length %u is out of range (1..%u)", hp->hidden_dim, ENG_MAX_HIDDEN);
	if (hp->n_layers == 0 || hp->n_layers > ENG_MAX_LAYERS)
		return eng_fail(err, "block count %u is out of range (1..%u)", hp->n_layers, ENG_MAX_LAYERS);
	if (hp->n_heads == 0 || hp->dim % hp->n_heads)
		return eng_fail(err, "inconsistent heads: embedding length %u is not a multiple of head count %u",
				hp->dim, hp->n_heads);
	if (hp->n_kv_heads == 0 || hp->n_kv_heads > hp->n_heads || hp->n_heads % hp->n_kv_heads)
		return eng_fail(err, "inconsistent heads: head count %u is not a multiple of KV head count %u",
				hp->n_heads, hp->n_kv_heads);
	hp->head_dim = hp->dim / hp->n_heads;
	if (hp->head_dim % 2)
		return eng_fail(err, "head dimension %u is odd; RoPE needs pairs", hp->head_dim);
	if (hp->vocab_size == 0 || hp->vocab_size > ENG_MAX_VOCAB)
		return eng_fail(err, "vocabulary size %u is out of range (1..%u)", hp->vocab_size, ENG_MAX_VOCAB);
	if (hp->ctx_len == 0 || hp->ctx_len > ENG_MAX_CTX)
		return eng_fail(err, "context length %u is out of range (1..%u)", hp->ctx_len, ENG_MAX_CTX);
	if (!(hp->rope_theta > 0) || !isfinite(hp->rope_theta))
		return eng_fail(err, "rope frequency base %g must be a positive number", hp->rope_theta);
	if (!(hp->rms_eps > 0) || !(hp->rms_eps < 1))
		return eng_fail(err, "RMS norm epsilon %g must be in (0, 1)", hp->rms_eps);
	return 0;
}

static void account(struct eng_model *m)
{
	const struct eng_hparams *hp = &m->hp;
	uint64_t layer_bytes = 0;

	for (uint32_t l = 0; l < hp->n_layers; l++) {
		for (int i = 0; i < ENG_LAYER_TENSORS; i++) {
			const struct eng_tensor *t = eng_layer_get(&m->layers[l], i);

			layer_bytes += t->rows * t->row_bytes;
		}
	}
	m->decode_bytes = layer_bytes + m->output.rows * m->output.row_bytes +
			  m->output_norm.row_bytes + m->tok_embd.row_bytes;
	m->weight_bytes = layer_bytes + m->output_norm.row_bytes +
			  m->tok_embd.rows * m->tok_embd.row_bytes +
			  (m->tied_output ? 0 : m->output.rows * m->output.row_bytes);
}

uint64_t eng_model_param_count(const struct eng_model *m)
{
	const struct eng_hparams *hp = &m->hp;
	uint64_t kv = (uint64_t)hp->n_kv_heads * hp->head_dim;
	uint64_t per_layer = 2ull * hp->dim + 2ull * hp->dim * hp->dim + 2ull * kv * hp->dim +
			     3ull * hp->dim * hp->hidden_dim;

	return per_layer * hp->n_layers + hp->dim +
	       (uint64_t)hp->vocab_size * hp->dim * (m->tied_output ? 1 : 2);
}

/* ---- GGUF ------------------------------------------------------------------ */

static int gguf_weight(const struct gguf_file *gf, const char *name, uint64_t rows, uint64_t cols,
		       struct eng_tensor *out, struct eng_err *err)
{
	const struct gguf_tensor *t = gguf_find_tensor(gf, name);
	int is_vector = rows == 0;

	if (!t)
		return eng_fail(err, "missing tensor '%s'", name);
	if (is_vector ? (t->n_dims != 1 || t->ne[0] != cols)
		      : (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)) {
		if (is_vector)
			return eng_fail(err, "tensor '%s' has wrong shape [%llu, %llu] (%u dims), expected [%llu]",
					name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
					t->n_dims, (unsigned long long)cols);
		return eng_fail(err, "tensor '%s' has wrong shape [%llu, %llu] (%u dims), expected [%llu, %llu]",
				name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], t->n_dims,
				(unsigned long long)cols, (unsigned long long)rows);
	}
	if (is_vector && t->type != ENG_F32)
		return eng_fail(err, "norm tensor '%s' has type %s; norm weights must be F32",
				name, eng_dtype_name(t->type));
	out->data = t->data;
	out->type = t->type;
	out->rows = is_vector ? 1 : rows;
	out->cols = cols;
	out->row_bytes = eng_row_bytes(t->type, cols);
	return 0;
}

static int get_u32_key(const struct gguf_file *gf, const char *key, uint32_t *out, int required,
		       struct eng_err *err)
{
	uint64_t v;
	int rc = gguf_get_u64(gf, key, &v, err);

	if (rc < 0)
		return -1;
	if (rc == 1)
		return required ? eng_fail(err, "missing metadata '%s'", key) : 0;
	if (v > UINT32_MAX)
		return eng_fail(err, "metadata '%s' = %llu is too large", key, (unsigned long long)v);
	*out = (uint32_t)v;
	return 0;
}

struct eng_model *eng_model_from_gguf(struct gguf_file *gf, struct eng_err *err)
{
	struct eng_model *m = calloc(1, sizeof(*m));
	struct eng_hparams *hp;
	struct gguf_str arch;
	const struct gguf_tensor *embd;
	uint32_t rope_dims = 0;
	char name[96];
	int rc;

	if (!m) {
		eng_fail(err, "out of memory");
		return NULL;
	}
	hp = &m->hp;
	rc = gguf_get_str(gf, "general.architecture", &arch, err);
	if (rc == 1)
		eng_fail(err, "missing metadata 'general.architecture'");
	if (rc)
		goto fail;
	if (!gguf_str_eq(arch, "llama")) {
		eng_fail(err, "architecture '%.*s' is not supported (only 'llama')",
			 (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
		goto fail;
	}
	hp->ctx_len = 2048;
	hp->rope_theta = 10000.0f;
	hp->rms_eps = 1e-5f;
	if (get_u32_key(gf, "llama.embedding_length", &hp->dim, 1, err) ||
	    get_u32_key(gf, "llama.block_count", &hp->n_layers, 1, err) ||
	    get_u32_key(gf, "llama.feed_forward_length", &hp->hidden_dim, 1, err) ||
	    get_u32_key(gf, "llama.attention.head_count", &hp->n_heads, 1, err) ||
	    get_u32_key(gf, "llama.context_length", &hp->ctx_len, 0, err) ||
	    get_u32_key(gf, "llama.rope.dimension_count", &rope_dims, 0, err))
		goto fail;
	hp->n_kv_heads = hp->n_heads;
	if (get_u32_key(gf, "llama.attention.head_count_kv", &hp->n_kv_heads, 0, err) ||
	    gguf_get_f32(gf, "llama.rope.freq_base", &hp->rope_theta, err) < 0 ||
	    gguf_get_f32(gf, "llama.attention.layer_norm_rms_epsilon", &hp->rms_eps, err) < 0)
		goto fail;
	embd = gguf_find_tensor(gf, "token_embd.weight");
	if (!embd) {
		eng_fail(err, "missing tensor 'token_embd.weight'");
		goto fail;
	}
	if (embd->n_dims != 2 || embd->ne[1] > ENG_MAX_VOCAB) {
		eng_fail(err, "tensor 'token_embd.weight' has wrong shape [%llu, %llu] (%u dims), expected [dim, vocab]",
			 (unsigned long long)embd->ne[0], (unsigned long long)embd->ne[1], embd->n_dims);
		goto fail;
	}
	hp->vocab_size = (uint32_t)embd->ne[1];
	if (check_hparams(hp, err))
		goto fail;
	if (rope_dims && rope_dims != hp->head_dim) {
		eng_fail(err, "rope.dimension_count %u differs from the head dimension %u (partial RoPE is not supported)",
			 rope_dims, hp->head_dim);
		goto fail;
	}
	m->layers = calloc(hp->n_layers, sizeof(*m->layers));
	if (!m->layers) {
		eng_fail(err, "out of memory");
		goto fail;
	}
	if (gguf_weight(gf, "token_embd.weight", hp->vocab_size, hp->dim, &m->tok_embd, err) ||
	    gguf_weight(gf, "output_norm.weight", 0, hp->dim, &m->output_norm, err))
		goto fail;
	if (gguf_find_tensor(gf, "output.weight")) {
		if (gguf_weight(gf, "output.weight", hp->vocab_size, hp->dim, &m->output, err))
			goto fail;
	} else {
		m->output = m->tok_embd;
		m->tied_output = 1;
	}
	for (uint32_t l = 0; l < hp->n_layers; l++) {
		for (int i = 0; i < ENG_LAYER_TENSORS; i++) {
			const struct eng_layer_tensor_desc *d = &eng_layer_tensors[i];
			uint64_t rows, cols;

			eng_layer_shape(hp, i, &rows, &cols);
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, d->gguf);
			if (gguf_weight(gf, name, d->is_norm ? 0 : rows, cols,
					eng_layer_slot(&m->layers[l], i), err))
				goto fail;
		}
	}
	if (gguf_find_kv(gf, "tokenizer.ggml.tokens")) {
		if (eng_tokenizer_from_gguf(gf, &m->tokenizer, err))
			goto fail;
		if (eng_tokenizer_vocab_size(m->tokenizer) != hp->vocab_size) {
			eng_fail(err, "tokenizer has %u tokens but token_embd.weight has %u rows",
				 eng_tokenizer_vocab_size(m->tokenizer), hp->vocab_size);
			goto fail;
		}
	}
	account(m);
	m->gguf = gf;
	return m;
fail:
	eng_tokenizer_free(m->tokenizer);
	free(m->layers);
	free(m);
	return NULL;
}

/* ---- llama2.c checkpoints ------------------------------------------------------ */

struct llama2c_header {
	int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

static struct eng_tensor f32_tensor(const uint8_t **cursor, uint64_t rows, uint64_t cols)
{
	struct eng_tensor t = { .data = *cursor, .type = ENG_F32, .rows = rows, .cols = cols,
				.row_bytes = 4 * cols };

	*cursor += rows * cols * 4;
	return t;
}

static struct eng_model *model_from_llama2c(void *map, size_t size, const char *path,
					    struct eng_err *err)
{
	struct llama2c_header h;
	struct eng_model *m;
	struct eng_hparams *hp;
	uint64_t expect, kv_dim, L, D, H, V;
	const uint8_t *cur;
	int shared;

	if (size < sizeof(h)) {
		eng_fail(err, "%s: truncated llama2.c header (%zu bytes, need %zu)", path, size, sizeof(h));
		return NULL;
	}
	memcpy(&h, map, sizeof(h));
	if ((uint32_t)h.dim == 0x616b3432u) {
		eng_fail(err, "%s: llama2.c export version 1+ (\"ak42\") is not supported; use the legacy export or GGUF", path);
		return NULL;
	}
	if (h.dim <= 0 || h.hidden_dim <= 0 || h.n_layers <= 0 || h.n_heads <= 0 ||
	    h.n_kv_heads <= 0 || h.vocab_size == 0 || h.vocab_size == INT32_MIN || h.seq_len <= 0) {
		eng_fail(err, "%s: not a GGUF file, and its llama2.c header has non-positive fields (dim %d, hidden %d, layers %d, heads %d, kv heads %d, vocab %d, seq %d)",
			 path, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		eng_fail(err, "out of memory");
		return NULL;
	}
	hp = &m->hp;
	shared = h.vocab_size > 0;
	*hp = (struct eng_hparams){
		.dim = (uint32_t)h.dim, .hidden_dim = (uint32_t)h.hidden_dim,
		.n_layers = (uint32_t)h.n_layers, .n_heads = (uint32_t)h.n_heads,
		.n_kv_heads = (uint32_t)h.n_kv_heads,
		.vocab_size = (uint32_t)(shared ? h.vocab_size : -h.vocab_size),
		.ctx_len = (uint32_t)h.seq_len, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
	};
	if (check_hparams(hp, err)) {
		char inner[sizeof(err->msg)];

		snprintf(inner, sizeof(inner), "%s", err->msg);
		eng_fail(err, "%s: llama2.c header: %s", path, inner);
		goto fail;
	}
	L = hp->n_layers;
	D = hp->dim;
	H = hp->hidden_dim;
	V = hp->vocab_size;
	kv_dim = (uint64_t)hp->n_kv_heads * hp->head_dim;
	expect = V * D + L * (2 * D + 2 * D * D + 2 * kv_dim * D + 3 * D * H) + D +
		 (uint64_t)hp->ctx_len * hp->head_dim + (shared ? 0 : V * D);
	expect = expect * 4 + sizeof(h);
	if (expect != size) {
		eng_fail(err, "%s: llama2.c checkpoint should be %llu bytes for its header's hyperparameters, but the file has %zu",
			 path, (unsigned long long)expect, size);
		goto fail;
	}
	m->layers = calloc(L, sizeof(*m->layers));
	if (!m->layers) {
		eng_fail(err, "out of memory");
		goto fail;
	}
	cur = (const uint8_t *)map + sizeof(h);
	m->tok_embd = f32_tensor(&cur, V, D);
	/* weights are grouped by kind across layers */
	for (int i = 0; i < ENG_LAYER_TENSORS; i++) {
		uint64_t rows, cols;

		eng_layer_shape(hp, i, &rows, &cols);
		for (uint64_t l = 0; l < L; l++)
			*eng_layer_slot(&m->layers[l], i) = f32_tensor(&cur, rows, cols);
	}
	m->output_norm = f32_tensor(&cur, 1, D);
	cur += (uint64_t)hp->ctx_len * hp->head_dim * 4;	/* legacy RoPE tables, unused */
	if (shared) {
		m->output = m->tok_embd;
		m->tied_output = 1;
	} else {
		m->output = f32_tensor(&cur, V, D);
	}
	m->map = map;
	m->map_size = size;
	account(m);
	return m;
fail:
	free(m->layers);
	free(m);
	return NULL;
}

struct eng_model *eng_model_load(const char *path, const char *tokenizer_path, struct eng_err *err)
{
	struct eng_model *m;
	size_t size;
	void *map = eng_file_map(path, &size, err);
	uint32_t magic = 0;

	if (!map)
		return NULL;
	if (size >= 4)
		memcpy(&magic, map, 4);
	if (magic == GGUF_MAGIC) {
		struct gguf_file *gf;

		eng_file_unmap(map, size);
		gf = gguf_open(path, err);
		if (!gf)
			return NULL;
		m = eng_model_from_gguf(gf, err);
		if (!m) {
			char inner[sizeof(err->msg)];

			gguf_close(gf);
			snprintf(inner, sizeof(inner), "%s", err->msg);
			eng_fail(err, "%s: %s", path, inner);
		}
		return m;
	}
	m = model_from_llama2c(map, size, path, err);
	if (!m) {
		eng_file_unmap(map, size);
		return NULL;
	}
	{
		char guess[4096];
		const char *tp = tokenizer_path;

		if (!tp) {
			const char *slash = strrchr(path, '/');
			int dir_len = slash ? (int)(slash - path + 1) : 0;

			snprintf(guess, sizeof(guess), "%.*stokenizer.bin", dir_len, path);
			if (access(guess, R_OK) == 0)
				tp = guess;
		}
		if (tp && eng_tokenizer_from_llama2c(tp, m->hp.vocab_size, &m->tokenizer, err)) {
			eng_model_free(m);
			return NULL;
		}
	}
	return m;
}

void eng_model_free(struct eng_model *m)
{
	if (!m)
		return;
	eng_tokenizer_free(m->tokenizer);
	if (m->gguf)
		gguf_close(m->gguf);
	if (m->map)
		eng_file_unmap(m->map, m->map_size);
	free(m->layers);
	free(m);
}
