// SPDX-License-Identifier: MIT
/*
 * tokenizer.c - SentencePiece BPE as llama.cpp's SPM tokenizer runs it:
 * split the (space-escaped) text into UTF-8 characters, repeatedly merge the
 * adjacent pair whose concatenation is the highest-scoring vocabulary entry
 * (leftmost on ties), then emit each final piece, or its bytes as <0xNN>
 * tokens when the piece is not in the vocabulary.
 */
#include "engine/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"

#define SPACE_MARK	"\xe2\x96\x81"	/* U+2581, SentencePiece's space */
#define SPACE_MARK_LEN	3

struct eng_tokenizer {
	uint32_t n_tokens;
	char *text;		/* all pieces, each NUL-terminated */
	uint64_t *offset;
	uint32_t *length;
	float *score;
	uint8_t *type;
	uint32_t *hash_slot;	/* token id + 1; 0 = empty */
	uint32_t hash_mask;
	int32_t byte_token[256];
	int32_t bos, eos, unk;
	int add_bos;
	int add_space_prefix;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static int32_t lookup(const struct eng_tokenizer *t, const char *s, size_t n)
{
	uint32_t i = (uint32_t)hash_bytes(s, n) & t->hash_mask;

	for (;; i = (i + 1) & t->hash_mask) {
		uint32_t slot = t->hash_slot[i];

		if (!slot)
			return -1;
		if (t->length[slot - 1] == n && memcmp(t->text + t->offset[slot - 1], s, n) == 0)
			return (int32_t)(slot - 1);
	}
}

void eng_tokenizer_free(struct eng_tokenizer *t)
{
	if (!t)
		return;
	free(t->text);
	free(t->offset);
	free(t->length);
	free(t->score);
	free(t->type);
	free(t->hash_slot);
	free(t);
}

static struct eng_tokenizer *alloc_tokenizer(uint32_t n, uint64_t text_bytes)
{
	struct eng_tokenizer *t = calloc(1, sizeof(*t));
	uint32_t cap = 1;

	if (!t)
		return NULL;
	while (cap < 2 * n)
		cap *= 2;
	t->n_tokens = n;
	t->text = malloc(text_bytes + n + 1);
	t->offset = calloc(n, sizeof(*t->offset));
	t->length = calloc(n, sizeof(*t->length));
	t->score = calloc(n, sizeof(*t->score));
	t->type = calloc(n, sizeof(*t->type));
	t->hash_slot = calloc(cap, sizeof(*t->hash_slot));
	t->hash_mask = cap - 1;
	if (!t->text || !t->offset || !t->length || !t->score || !t->type || !t->hash_slot) {
		eng_tokenizer_free(t);
		return NULL;
	}
	return t;
}

/* After text/offset/length/type are filled: index, byte tokens, special ids. */
static int finish_tokenizer(struct eng_tokenizer *t, struct eng_err *err)
{
	for (uint32_t id = 0; id < t->n_tokens; id++) {
		uint32_t i = (uint32_t)hash_bytes(t->text + t->offset[id], t->length[id]) & t->hash_mask;

		/* a later duplicate wins, as in llama.cpp's text-to-token map */
		for (;; i = (i + 1) & t->hash_mask) {
			uint32_t slot = t->hash_slot[i];

			if (!slot || (t->length[slot - 1] == t->length[id] &&
				      memcmp(t->text + t->offset[slot - 1], t->text + t->offset[id], t->length[id]) == 0)) {
				t->hash_slot[i] = id + 1;
				break;
			}
		}
	}
	for (int b = 0; b < 256; b++) {
		char name[8];

		snprintf(name, sizeof(name), "<0x%02X>", b);
		t->byte_token[b] = lookup(t, name, 6);
		if (t->byte_token[b] < 0)
			t->byte_token[b] = t->unk;
	}
	if (t->bos < 0 || (uint32_t)t->bos >= t->n_tokens || t->eos < 0 ||
	    (uint32_t)t->eos >= t->n_tokens || t->unk < 0 || (uint32_t)t->unk >= t->n_tokens)
		return eng_fail(err, "tokenizer special ids (bos %d, eos %d, unk %d) must be below the vocabulary size %u",
				t->bos, t->eos, t->unk, t->n_tokens);
	return 0;
}

static int get_id_key(const struct gguf_file *gf, const char *key, int32_t *out, struct eng_err *err)
{
	uint64_t v;
	int rc = gguf_get_u64(gf, key, &v, err);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (v > INT32_MAX)
			return eng_fail(err, "metadata '%s' = %llu is not a token id", key, (unsigned long long)v);
		*out = (int32_t)v;
	}
	return 0;
}

int eng_tokenizer_from_gguf(const struct gguf_file *gf, struct eng_tokenizer **out, struct eng_err *err)
{
	const struct gguf_kv *tokens = gguf_find_kv(gf, "tokenizer.ggml.tokens");
	const struct gguf_kv *scores = gguf_find_kv(gf, "tokenizer.ggml.scores");
	const struct gguf_kv *types = gguf_find_kv(gf, "tokenizer.ggml.token_type");
	struct gguf_str model;
	struct eng_tokenizer *t;
	const uint8_t *cur;
	uint64_t text_bytes = 0, pos = 0;
	int rc;

	rc = gguf_get_str(gf, "tokenizer.ggml.model", &model, err);
	if (rc < 0)
		return -1;
	if (rc == 0 && !gguf_str_eq(model, "llama"))
		return eng_fail(err, "tokenizer model '%.*s' is not supported (only 'llama', SentencePiece BPE)",
				(int)(model.len > 64 ? 64 : model.len), model.ptr);
	if (!tokens)
		return eng_fail(err, "missing metadata 'tokenizer.ggml.tokens'");
	if (tokens->type != GGUF_TYPE_ARRAY || tokens->elem_type != GGUF_TYPE_STRING)
		return eng_fail(err, "metadata 'tokenizer.ggml.tokens' must be an array of strings");
	if (tokens->count == 0 || tokens->count > ENG_MAX_VOCAB)
		return eng_fail(err, "tokenizer has %llu tokens (must be 1..%u)",
				(unsigned long long)tokens->count, ENG_MAX_VOCAB);
	if (scores && (scores->type != GGUF_TYPE_ARRAY || scores->elem_type != GGUF_TYPE_FLOAT32 ||
		       scores->count != tokens->count))
		return eng_fail(err, "metadata 'tokenizer.ggml.scores' must be a float32 array with one score per token (%llu)",
				(unsigned long long)tokens->count);
	if (types && (types->type != GGUF_TYPE_ARRAY || types->elem_type != GGUF_TYPE_INT32 ||
		      types->count != tokens->count))
		return eng_fail(err, "metadata 'tokenizer.ggml.token_type' must be an int32 array with one type per token (%llu)",
				(unsigned long long)tokens->count);
	cur = tokens->data;
	for (uint64_t i = 0; i < tokens->count; i++) {
		struct gguf_str s = gguf_arr_str_next(&cur);

		if (s.len > ENG_TOKEN_MAX_BYTES)
			return eng_fail(err, "token %llu is %llu bytes long (limit %d)",
					(unsigned long long)i, (unsigned long long)s.len, ENG_TOKEN_MAX_BYTES);
		text_bytes += s.len;
	}
	t = alloc_tokenizer((uint32_t)tokens->count, text_bytes);
	if (!t)
		return eng_fail(err, "out of memory");
	cur = tokens->data;
	for (uint32_t i = 0; i < t->n_tokens; i++) {
		struct gguf_str s = gguf_arr_str_next(&cur);

		t->offset[i] = pos;
		t->length[i] = (uint32_t)s.len;
		memcpy(t->text + pos, s.ptr, s.len);
		t->text[pos + s.len] = 0;
		pos += s.len + 1;
		t->score[i] = scores ? (float)gguf_arr_num(scores, i) : 0.0f;
		if (types) {
			double type = gguf_arr_num(types, i);

			if (!(type >= 0 && type <= ENG_TOKEN_BYTE)) {
				eng_tokenizer_free(t);
				return eng_fail(err, "token %u has unknown token type %.0f (known: 0..6)", i, type);
			}
			t->type[i] = (uint8_t)type;
		} else {
			t->type[i] = ENG_TOKEN_NORMAL;
		}
	}
	t->bos = 1;
	t->eos = 2;
	t->unk = 0;
	t->add_bos = 1;
	t->add_space_prefix = 1;
	if (get_id_key(gf, "tokenizer.ggml.bos_token_id", &t->bos, err) ||
	    get_id_key(gf, "tokenizer.ggml.eos_token_id", &t->eos, err) ||
	    get_id_key(gf, "tokenizer.ggml.unknown_token_id", &t->unk, err) ||
	    gguf_get_bool(gf, "tokenizer.ggml.add_bos_token", &t->add_bos, err) < 0 ||
	    gguf_get_bool(gf, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err) < 0 ||
	    finish_tokenizer(t, err)) {
		eng_tokenizer_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int eng_tokenizer_from_llama2c(const char *path, uint32_t vocab_size, struct eng_tokenizer **out,
			       struct eng_err *err)
{
	FILE *f = fopen(path, "rb");
	struct eng_tokenizer *t = NULL;
	char *piece = NULL;
	int32_t max_len;
	uint64_t pos = 0;
	long file_size;

	if (!f)
		return eng_fail(err, "cannot open tokenizer %s: %s", path, strerror(errno));
	if (vocab_size == 0 || vocab_size > ENG_MAX_VOCAB) {
		eng_fail(err, "%s: vocabulary size %u is out of range", path, vocab_size);
		goto fail;
	}
	if (fseek(f, 0, SEEK_END) || (file_size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		eng_fail(err, "%s: cannot seek", path);
		goto fail;
	}
	if (fread(&max_len, 4, 1, f) != 1) {
		eng_fail(err, "%s: truncated tokenizer.bin header", path);
		goto fail;
	}
	/* pieces grow by at most 2 bytes per space when escaped; file size bounds the text */
	t = alloc_tokenizer(vocab_size, 3 * (uint64_t)file_size);
	piece = malloc(ENG_TOKEN_MAX_BYTES + 1);
	if (!t || !piece) {
		eng_fail(err, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < vocab_size; i++) {
		int32_t len;
		unsigned hex;
		char tail;

		if (fread(&t->score[i], 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1) {
			eng_fail(err, "%s: truncated at token %u of %u", path, i, vocab_size);
			goto fail;
		}
		if (len < 0 || len > ENG_TOKEN_MAX_BYTES) {
			eng_fail(err, "%s: token %u has length %d (must be 0..%d)", path, i, len, ENG_TOKEN_MAX_BYTES);
			goto fail;
		}
		if (len && fread(piece, 1, (size_t)len, f) != (size_t)len) {
			eng_fail(err, "%s: truncated in the text of token %u", path, i);
			goto fail;
		}
		piece[len] = 0;
		t->offset[i] = pos;
		/* the export replaced U+2581 by ' ' (and wrapped BOS/EOS in newlines) */
		for (int32_t k = 0; k < len; k++) {
			if (piece[k] == ' ') {
				memcpy(t->text + pos, SPACE_MARK, SPACE_MARK_LEN);
				pos += SPACE_MARK_LEN;
			} else {
				t->text[pos++] = piece[k];
			}
		}
		t->length[i] = (uint32_t)(pos - t->offset[i]);
		t->text[pos++] = 0;
		if (i == 0)
			t->type[i] = ENG_TOKEN_UNKNOWN;
		else if (i == 1 || i == 2)
			t->type[i] = ENG_TOKEN_CONTROL;
		else if (len == 6 && sscanf(piece, "<0x%2X%c", &hex, &tail) == 2 && tail == '>')
			t->type[i] = ENG_TOKEN_BYTE;
		else
			t->type[i] = ENG_TOKEN_NORMAL;
	}
	fclose(f);
	free(piece);
	t->bos = 1;
	t->eos = 2;
	t->unk = 0;
	t->add_bos = 1;
	t->add_space_prefix = 1;
	if (vocab_size < 3 || finish_tokenizer(t, err)) {
		if (vocab_size < 3)
			eng_fail(err, "%s: a llama2.c vocabulary needs at least <unk>, <s> and </s>", path);
		eng_tokenizer_free(t);
		return -1;
	}
	*out = t;
	return 0;
fail:
	fclose(f);
	free(piece);
	eng_tokenizer_free(t);
	return -1;
}

struct eng_tokenizer *eng_tokenizer_load(const char *path, struct eng_err *err)
{
	struct eng_tokenizer *t = NULL;
	struct gguf_file *gf = gguf_open(path, err);

	if (!gf)
		return NULL;
	if (eng_tokenizer_from_gguf(gf, &t, err)) {
		char inner[sizeof(err->msg)];

		snprintf(inner, sizeof(inner), "%s", err->msg);
		eng_fail(err, "%s: %s", path, inner);
		t = NULL;
	}
	gguf_close(gf);
	return t;
}

uint32_t eng_tokenizer_vocab_size(const struct eng_tokenizer *t) { return t->n_tokens; }
int32_t eng_tokenizer_bos(const struct eng_tokenizer *t) { return t->bos; }
int32_t eng_tokenizer_eos(const struct eng_tokenizer *t) { return t->eos; }
int eng_tokenizer_add_bos(const struct eng_tokenizer *t) { return t->add_bos; }

const char *eng_token_text(const struct eng_tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || (uint32_t)id >= t->n_tokens)
		return NULL;
	if (len)
		*len = t->length[id];
	return t->text + t->offset[id];
}

enum eng_token_type eng_token_type(const struct eng_tokenizer *t, int32_t id)
{
	if (id < 0 || (uint32_t)id >= t->n_tokens)
		return ENG_TOKEN_UNUSED;
	return t->type[id];
}

float eng_token_score(const struct eng_tokenizer *t, int32_t id)
{
	if (id < 0 || (uint32_t)id >= t->n_tokens)
		return 0;
	return t->score[id];
}

/* ---- encoding ------------------------------------------------------------------ */

struct symbol {
	int prev, next;
	size_t start, len;	/* len 0: merged into its left neighbour */
};

struct bigram {
	int left, right;
	float score;
	size_t len;
};

struct heap {
	struct bigram *items;
	size_t n, cap;
};

static int bigram_before(const struct bigram *a, const struct bigram *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(struct heap *h, struct bigram b)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct bigram *n = realloc(h->items, cap * sizeof(*n));

		if (!n)
			return -1;
		h->items = n;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0 && bigram_before(&b, &h->items[(i - 1) / 2])) {
		h->items[i] = h->items[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->items[i] = b;
	return 0;
}

static struct bigram heap_pop(struct heap *h)
{
	struct bigram top = h->items[0], last = h->items[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && bigram_before(&h->items[c + 1], &h->items[c]))
			c++;
		if (!bigram_before(&h->items[c], &last))
			break;
		h->items[i] = h->items[c];
		i = c;
	}
	if (h->n)
		h->items[i] = last;
	return top;
}

static int try_bigram(const struct eng_tokenizer *t, const char *text, const struct symbol *sym,
		      int left, int right, struct heap *h)
{
	size_t len;
	int32_t id;

	if (left < 0 || right < 0)
		return 0;
	len = sym[left].len + sym[right].len;
	id = lookup(t, text + sym[left].start, len);
	if (id < 0)
		return 0;
	return heap_push(h, (struct bigram){ left, right, t->score[id], len });
}

static size_t utf8_len(uint8_t c)
{
	static const uint8_t by_high_nibble[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };

	return by_high_nibble[c >> 4];
}

static void emit(int32_t *tokens, int max, int *n, int32_t id)
{
	if (*n < max)
		tokens[*n] = id;
	(*n)++;
}

int eng_tokenize(const struct eng_tokenizer *t, const char *in, size_t in_len, int add_bos,
		 int32_t *tokens, int max_tokens)
{
	struct symbol *sym = NULL;
	struct heap heap = { 0 };
	char *text = NULL;
	size_t len = 0, n_sym = 0;
	int n_out = 0, rc = -1;

	if (add_bos)
		emit(tokens, max_tokens, &n_out, t->bos);
	if (in_len == 0)
		return n_out;
	/* escape: optional leading space, every ' ' becomes U+2581 */
	text = malloc(3 * in_len + SPACE_MARK_LEN + 1);
	sym = malloc((in_len + 1) * sizeof(*sym));
	if (!text || !sym)
		goto out;
	if (t->add_space_prefix) {
		memcpy(text, SPACE_MARK, SPACE_MARK_LEN);
		len = SPACE_MARK_LEN;
	}
	for (size_t i = 0; i < in_len; i++) {
		if (in[i] == ' ') {
			memcpy(text + len, SPACE_MARK, SPACE_MARK_LEN);
			len += SPACE_MARK_LEN;
		} else {
			text[len++] = in[i];
		}
	}
	for (size_t off = 0; off < len; n_sym++) {
		size_t n = utf8_len((uint8_t)text[off]);

		if (n > len - off)
			n = len - off;
		sym[n_sym] = (struct symbol){ (int)n_sym - 1, (int)n_sym + 1, off, n };
		off += n;
	}
	sym[n_sym - 1].next = -1;
	for (size_t i = 1; i < n_sym; i++)
		if (try_bigram(t, text, sym, (int)i - 1, (int)i, &heap))
			goto out;
	while (heap.n) {
		struct bigram b = heap_pop(&heap);
		struct symbol *l = &sym[b.left], *r = &sym[b.right];

		/* stale: one side was merged away since this pair was queued */
		if (l->len == 0 || r->len == 0 || l->len + r->len != b.len)
			continue;
		l->len += r->len;
		r->len = 0;
		l->next = r->next;
		if (r->next >= 0)
			sym[r->next].prev = b.left;
		if (try_bigram(t, text, sym, l->prev, b.left, &heap) ||
		    try_bigram(t, text, sym, b.left, l->next, &heap))
			goto out;
	}
	for (int i = 0; i >= 0; i = sym[i].next) {
		int32_t id = lookup(t, text + sym[i].start, sym[i].len);

		if (id >= 0) {
			emit(tokens, max_tokens, &n_out, id);
			continue;
		}
		for (size_t k = 0; k < sym[i].len; k++)
			emit(tokens, max_tokens, &n_out, t->byte_token[(uint8_t)text[sym[i].start + k]]);
	}
	rc = n_out;
out:
	free(heap.items);
	free(sym);
	free(text);
	return rc;
}

/* ---- decoding ------------------------------------------------------------------ */

void eng_detok_init(struct eng_detok *d, const struct eng_tokenizer *tok)
{
	memset(d, 0, sizeof(*d));
	d->tok = tok;
	d->at_start = 1;
}

static size_t put_replacement(char *out)
{
	memcpy(out, "\xef\xbf\xbd", 3);
	return 3;
}

static int valid_second(uint8_t lead, uint8_t b)
{
	if (b < 0x80 || b > 0xbf)
		return 0;
	switch (lead) {
	case 0xe0: return b >= 0xa0;
	case 0xed: return b <= 0x9f;
	case 0xf0: return b >= 0x90;
	case 0xf4: return b <= 0x8f;
	default: return 1;
	}
}

/* Feeds one byte of raw token output into the UTF-8 assembler. */
static size_t feed_byte(struct eng_detok *d, uint8_t b, char *out)
{
	size_t n = 0;

	if (d->n_pending) {
		int ok = d->n_pending == 1 ? valid_second(d->pending[0], b) : (b >= 0x80 && b <= 0xbf);

		if (ok) {
			d->pending[d->n_pending++] = b;
			if (d->n_pending == d->need) {
				memcpy(out, d->pending, (size_t)d->need);
				n = (size_t)d->need;
				d->n_pending = 0;
			}
			return n;
		}
		n += put_replacement(out);
		d->n_pending = 0;
	}
	if (b < 0x80) {
		out[n++] = (char)b;
	} else if (b >= 0xc2 && b <= 0xf4) {
		d->pending[0] = b;
		d->n_pending = 1;
		d->need = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
	} else {
		n += put_replacement(out + n);
	}
	return n;
}

size_t eng_detok_push(struct eng_detok *d, int32_t id, char *out)
{
	const struct eng_tokenizer *t = d->tok;
	uint8_t raw[ENG_TOKEN_MAX_BYTES + 4];
	size_t raw_len = 0, n = 0;
	const char *s;

	if (id < 0 || (uint32_t)id >= t->n_tokens)
		return 0;
	s = t->text + t->offset[id];
	switch (t->type[id]) {
	case ENG_TOKEN_CONTROL:
		if (id == t->bos)
			d->at_start = 1;
		return 0;
	case ENG_TOKEN_UNUSED:
		return 0;
	case ENG_TOKEN_UNKNOWN:
		memcpy(raw, "\xe2\x96\x85", 3);	/* U+2585, as llama.cpp shows <unk> */
		raw_len = 3;
		break;
	case ENG_TOKEN_BYTE: {
		unsigned v;

		if (sscanf(s, "<0x%2X>", &v) == 1)
			raw[raw_len++] = (uint8_t)v;
		break;
	}
	default:
		for (size_t i = 0; i < t->length[id];) {
			if (t->length[id] - i >= SPACE_MARK_LEN && memcmp(s + i, SPACE_MARK, SPACE_MARK_LEN) == 0) {
				raw[raw_len++] = ' ';
				i += SPACE_MARK_LEN;
			} else {
				raw[raw_len++] = (uint8_t)s[i++];
			}
		}
	}
	for (size_t i = 0; i < raw_len; i++) {
		if (d->at_start) {
			d->at_start = 0;
			if (raw[i] == ' ' && t->add_space_prefix)
				continue;
		}
		n += feed_byte(d, raw[i], out + n);
	}
	return n;
}

size_t eng_detok_flush(struct eng_detok *d, char *out)
{
	if (!d->n_pending)
		return 0;
	d->n_pending = 0;
	return put_replacement(out);
}
