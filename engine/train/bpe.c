/* SPDX-License-Identifier: MIT */
/*
 * bpe.c - BPE vocabulary training (see bpe.h).
 */
#include "engine/train/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/gguf_write.h"
#include "engine/tokenizer.h"

/* ---- string -> int map (open addressing; keys are copied) ---- */
struct strmap {
	char **key;
	size_t *klen;
	int *val;
	size_t cap, used;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static int strmap_init(struct strmap *m, size_t cap)
{
	m->cap = cap;
	m->used = 0;
	m->key = calloc(cap, sizeof(*m->key));
	m->klen = calloc(cap, sizeof(*m->klen));
	m->val = calloc(cap, sizeof(*m->val));
	return m->key && m->klen && m->val ? 0 : -1;
}

static void strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap && m->key; i++)
		free(m->key[i]);
	free(m->key);
	free(m->klen);
	free(m->val);
}

static size_t strmap_slot(const struct strmap *m, const char *s, size_t n)
{
	size_t i = hash_bytes(s, n) & (m->cap - 1);

	while (m->key[i] && !(m->klen[i] == n && memcmp(m->key[i], s, n) == 0))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int strmap_grow(struct strmap *m)
{
	struct strmap bigger;

	if (strmap_init(&bigger, m->cap * 2))
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->key[i]) {
			size_t j = strmap_slot(&bigger, m->key[i], m->klen[i]);

			bigger.key[j] = m->key[i];
			bigger.klen[j] = m->klen[i];
			bigger.val[j] = m->val[i];
			bigger.used++;
		}
	free(m->key);
	free(m->klen);
	free(m->val);
	*m = bigger;
	return 0;
}

/* Pointer to the value of s, inserted with 0 when absent; NULL when out of memory. */
static int *strmap_get(struct strmap *m, const char *s, size_t n, int insert)
{
	size_t i;

	if (insert && 2 * (m->used + 1) > m->cap && strmap_grow(m))
		return NULL;
	i = strmap_slot(m, s, n);
	if (!m->key[i]) {
		if (!insert)
			return NULL;
		m->key[i] = malloc(n + 1);
		if (!m->key[i])
			return NULL;
		memcpy(m->key[i], s, n);
		m->key[i][n] = 0;
		m->klen[i] = n;
		m->val[i] = 0;
		m->used++;
	}
	return &m->val[i];
}

static size_t utf8_len(uint8_t c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

struct word {
	int32_t *sym;
	int n;
	int count;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_token(struct bpe_vocab *v, int cap, const char *text, float score, int32_t type)
{
	if (v->n >= cap)
		return -1;
	v->text[v->n] = strdup(text);
	if (!v->text[v->n])
		return -1;
	v->score[v->n] = score;
	v->type[v->n] = type;
	v->n++;
	return 0;
}

int bpe_train(const char *text, size_t len, int vocab_size, struct bpe_vocab *out,
	      struct eng_err *err)
{
	struct strmap words = { 0 }, chars = { 0 }, tokens = { 0 };
	struct word *wl = NULL;
	size_t n_words = 0;
	char **char_list = NULL;
	int n_chars = 0, rc = -1, first_char_id;
	int32_t *pair_count = NULL, *touched = NULL;
	size_t n_touched = 0;
	char buf[4096];

	memset(out, 0, sizeof(*out));
	if (vocab_size < 300 || vocab_size > 65536)
		return eng_fail(err, "vocab size %d out of range 300..65536", vocab_size);
	out->text = calloc((size_t)vocab_size, sizeof(char *));
	out->score = calloc((size_t)vocab_size, sizeof(float));
	out->type = calloc((size_t)vocab_size, sizeof(int32_t));
	pair_count = calloc((size_t)vocab_size * (size_t)vocab_size, sizeof(int32_t));
	touched = malloc(sizeof(int32_t) * (size_t)vocab_size * (size_t)vocab_size);
	if (!out->text || !out->score || !out->type || !pair_count || !touched ||
	    strmap_init(&words, 1 << 14) || strmap_init(&chars, 256) || strmap_init(&tokens, 1 << 12)) {
		eng_fail(err, "out of memory");
		goto done;
	}

	/* count words, each with its SentencePiece space marker */
	for (size_t i = 0; i < len;) {
		size_t j = i, n;
		int *cnt;

		while (j < len && text[j] != ' ' && text[j] != '\n')
			j++;
		n = j - i;
		if (n > 0) {
			if (n + 4 > sizeof(buf)) {
				eng_fail(err, "a word of %zu bytes is too long for BPE training", n);
				goto done;
			}
			memcpy(buf, BPE_SPACE, 3);
			memcpy(buf + 3, text + i, n);
			cnt = strmap_get(&words, buf, n + 3, 1);
			if (!cnt) {
				eng_fail(err, "out of memory");
				goto done;
			}
			(*cnt)++;
		}
		i = j + 1;
	}
	if (words.used == 0) {
		eng_fail(err, "no words to train a vocabulary on");
		goto done;
	}

	/* base characters, sorted so that ids do not depend on hashing */
	for (size_t s = 0; s < words.cap; s++) {
		const char *w = words.key[s];

		if (!w)
			continue;
		for (size_t i = 0; i < words.klen[s];) {
			size_t cl = utf8_len((uint8_t)w[i]);

			if (i + cl > words.klen[s])
				cl = 1;
			if (!strmap_get(&chars, w + i, cl, 1)) {
				eng_fail(err, "out of memory");
				goto done;
			}
			i += cl;
		}
	}
	char_list = malloc(sizeof(char *) * chars.used);
	if (!char_list) {
		eng_fail(err, "out of memory");
		goto done;
	}
	for (size_t s = 0; s < chars.cap; s++)
		if (chars.key[s])
			char_list[n_chars++] = chars.key[s];
	qsort(char_list, (size_t)n_chars, sizeof(char *), cmp_str);

	if (add_token(out, vocab_size, "<unk>", 0.0f, ENG_TOKEN_UNKNOWN) ||
	    add_token(out, vocab_size, "<s>", 0.0f, ENG_TOKEN_CONTROL) ||
	    add_token(out, vocab_size, "</s>", 0.0f, ENG_TOKEN_CONTROL))
		goto oom;
	for (int b = 0; b < 256; b++) {
		snprintf(buf, sizeof(buf), "<0x%02X>", b);
		if (add_token(out, vocab_size, buf, 0.0f, ENG_TOKEN_BYTE))
			goto oom;
	}
	first_char_id = out->n;
	if (first_char_id + n_chars >= vocab_size) {
		eng_fail(err, "vocab size %d leaves no room for merges over %d characters", vocab_size, n_chars);
		goto done;
	}
	for (int c = 0; c < n_chars; c++) {
		int *id;

		/* below every merge: single characters never compete in merging */
		if (add_token(out, vocab_size, char_list[c], -1e6f - (float)c, ENG_TOKEN_NORMAL))
			goto oom;
		id = strmap_get(&tokens, char_list[c], strlen(char_list[c]), 1);
		if (!id)
			goto oom;
		*id = out->n - 1;
	}

	/* words as symbol sequences */
	wl = calloc(words.used, sizeof(*wl));
	if (!wl)
		goto oom;
	{
		/* sorted order keeps pair counting independent of the hash layout */
		char **wkeys = malloc(sizeof(char *) * words.used);
		size_t k = 0;

		if (!wkeys)
			goto oom;
		for (size_t s = 0; s < words.cap; s++)
			if (words.key[s])
				wkeys[k++] = words.key[s];
		qsort(wkeys, k, sizeof(char *), cmp_str);
		for (size_t w = 0; w < k; w++) {
			const char *s = wkeys[w];
			size_t n = strlen(s);

			wl[w].count = *strmap_get(&words, s, n, 0);
			wl[w].sym = malloc(sizeof(int32_t) * n);
			if (!wl[w].sym) {
				free(wkeys);
				goto oom;
			}
			for (size_t i = 0; i < n;) {
				size_t cl = utf8_len((uint8_t)s[i]);

				if (i + cl > n)
					cl = 1;
				wl[w].sym[wl[w].n++] = *strmap_get(&tokens, s + i, cl, 0);
				i += cl;
			}
		}
		n_words = k;
		free(wkeys);
	}

	while (out->n < vocab_size) {
		int32_t best = 0, best_a = -1, best_b = -1, new_id;
		size_t la, lb;
		int *slot;

		n_touched = 0;
		for (size_t w = 0; w < n_words; w++)
			for (int i = 0; i + 1 < wl[w].n; i++) {
				size_t key = (size_t)wl[w].sym[i] * vocab_size + (size_t)wl[w].sym[i + 1];

				if (pair_count[key] == 0)
					touched[n_touched++] = (int32_t)key;
				pair_count[key] += wl[w].count;
			}
		for (size_t t = 0; t < n_touched; t++) {
			size_t key = (size_t)touched[t];
			int32_t a = (int32_t)(key / vocab_size), b = (int32_t)(key % vocab_size);

			if (pair_count[key] > best ||
			    (pair_count[key] == best && (a < best_a || (a == best_a && b < best_b)))) {
				best = pair_count[key];
				best_a = a;
				best_b = b;
			}
			pair_count[key] = 0;
		}
		if (best < 2)
			break;
		la = strlen(out->text[best_a]);
		lb = strlen(out->text[best_b]);
		if (la + lb + 1 > sizeof(buf))
			break;
		memcpy(buf, out->text[best_a], la);
		memcpy(buf + la, out->text[best_b], lb + 1);
		slot = strmap_get(&tokens, buf, la + lb, 0);
		if (slot) {
			new_id = *slot;	/* the same text reached by another pair */
		} else {
			if (add_token(out, vocab_size, buf, -(float)out->n_merges, ENG_TOKEN_NORMAL))
				goto oom;
			new_id = out->n - 1;
			slot = strmap_get(&tokens, buf, la + lb, 1);
			if (!slot)
				goto oom;
			*slot = new_id;
			out->n_merges++;
		}
		for (size_t w = 0; w < n_words; w++) {
			int o = 0;

			for (int i = 0; i < wl[w].n; i++) {
				if (i + 1 < wl[w].n && wl[w].sym[i] == best_a && wl[w].sym[i + 1] == best_b) {
					wl[w].sym[o++] = new_id;
					i++;
				} else {
					wl[w].sym[o++] = wl[w].sym[i];
				}
			}
			wl[w].n = o;
		}
	}
	rc = 0;
	goto done;
oom:
	eng_fail(err, "out of memory");
done:
	for (size_t w = 0; wl && w < n_words; w++)
		free(wl[w].sym);
	free(wl);
	free(char_list);
	free(pair_count);
	free(touched);
	strmap_free(&words);
	strmap_free(&chars);
	strmap_free(&tokens);
	if (rc)
		bpe_vocab_free(out);
	return rc;
}

void bpe_vocab_free(struct bpe_vocab *v)
{
	for (int i = 0; v->text && i < v->n; i++)
		free(v->text[i]);
	free(v->text);
	free(v->score);
	free(v->type);
	memset(v, 0, sizeof(*v));
}

int bpe_write_gguf(const struct bpe_vocab *v, struct gguf_writer *w)
{
	int rc = 0;

	rc |= gguf_w_str(w, "tokenizer.ggml.model", "llama");
	rc |= gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->text, (size_t)v->n);
	rc |= gguf_w_arr_f32(w, "tokenizer.ggml.scores", v->score, (size_t)v->n);
	rc |= gguf_w_arr_i32(w, "tokenizer.ggml.token_type", v->type, (size_t)v->n);
	rc |= gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);
	rc |= gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
	rc |= gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
	rc |= gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 1);
	rc |= gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 0);
	rc |= gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", 1);
	return rc ? -1 : 0;
}

struct eng_tokenizer *bpe_engine_tokenizer(const struct bpe_vocab *v, struct eng_err *err)
{
	struct gguf_writer *w = gguf_writer_new();
	struct eng_tokenizer *tok = NULL;
	struct gguf_file *gf;
	void *buf = NULL;
	size_t size;

	if (!w) {
		eng_fail(err, "out of memory");
		return NULL;
	}
	if (gguf_w_str(w, "general.architecture", "llama") || bpe_write_gguf(v, w)) {
		eng_fail(err, "out of memory");
		gguf_writer_free(w);
		return NULL;
	}
	if (gguf_writer_to_mem(w, &buf, &size, err)) {
		gguf_writer_free(w);
		return NULL;
	}
	gguf_writer_free(w);
	gf = gguf_open_mem(buf, size, err);
	if (gf) {
		if (eng_tokenizer_from_gguf(gf, &tok, err))
			tok = NULL;
		gguf_close(gf);
	}
	free(buf);
	return tok;
}
