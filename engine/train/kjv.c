/* SPDX-License-Identifier: MIT */
/*
 * kjv.c - reads Debian's bible-kjv-text data file (/usr/lib/bible.data)
 * and parses it into verses, split into train and held-out books.
 *
 * The file is the "EC02" windowed format of the Bible Retrieval System: a
 * header with big-endian window size and count, a table of window offsets,
 * then each 64 KiB window compressed independently in the LZW format of
 * Unix compress(1). Only the first window is preceded by compress's 3-byte
 * header (1f 9d, flags); every window uses its settings.
 */
#include "engine/train/kjv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EC_HEADER_BYTES		84
#define LZW_FIRST		257
#define LZW_CLEAR		256
#define LZW_INIT_BITS		9
#define LZW_MAX_BITS		16

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct lzw_reader {
	const uint8_t *in, *end;
	const uint8_t *group;	/* codes come in groups of n_bits bytes */
	int group_bits, offset;
	int n_bits, max_bits, clear;
	int32_t max_code, max_max_code, free_ent;
};

/* -1 at end of input. */
static int32_t lzw_next(struct lzw_reader *r)
{
	int32_t code = 0;
	int i;

	if (r->clear || r->offset >= r->group_bits || r->free_ent > r->max_code) {
		int64_t avail;

		/* compress(1) starts a new group whenever the code width changes */
		if (r->free_ent > r->max_code) {
			r->n_bits++;
			r->max_code = r->n_bits == r->max_bits ? r->max_max_code
							       : (1 << r->n_bits) - 1;
		}
		if (r->clear) {
			r->n_bits = LZW_INIT_BITS;
			r->max_code = (1 << r->n_bits) - 1;
			r->clear = 0;
		}
		avail = r->end - r->in;
		if (avail <= 0)
			return -1;
		if (avail > r->n_bits)
			avail = r->n_bits;
		r->group = r->in;
		r->in += avail;
		r->offset = 0;
		r->group_bits = (int)avail * 8 - (r->n_bits - 1);
		if (r->group_bits <= 0)
			return -1;
	}
	for (i = 0; i < r->n_bits; i++) {
		int bit = r->offset + i;

		code |= (int32_t)((r->group[bit >> 3] >> (bit & 7)) & 1) << i;
	}
	r->offset += r->n_bits;
	return code;
}

/* Decompresses one headerless block-mode LZW stream; -1 on corrupt data. */
static int64_t lzw_decompress(const uint8_t *in, size_t n, int max_bits, uint8_t *out, size_t cap)
{
	static uint16_t prefix[1 << LZW_MAX_BITS];
	static uint8_t suffix[1 << LZW_MAX_BITS];
	static uint8_t stack[1 << LZW_MAX_BITS];
	struct lzw_reader r;
	int32_t code, old_code, in_code;
	size_t out_len = 0, sp;
	int fin_char;

	memset(&r, 0, sizeof(r));
	r.max_bits = max_bits;
	r.in = in;
	r.end = in + n;
	r.n_bits = LZW_INIT_BITS;
	r.max_code = (1 << LZW_INIT_BITS) - 1;
	r.max_max_code = 1 << r.max_bits;
	r.free_ent = LZW_FIRST;
	for (code = 0; code < 256; code++) {
		prefix[code] = 0;
		suffix[code] = (uint8_t)code;
	}
	old_code = lzw_next(&r);
	if (old_code < 0)
		return 0;
	if (old_code > 255)
		return -1;
	fin_char = old_code;
	if (out_len >= cap)
		return -1;
	out[out_len++] = (uint8_t)fin_char;
	while ((code = lzw_next(&r)) >= 0) {
		if (code == LZW_CLEAR) {
			r.clear = 1;
			r.free_ent = LZW_FIRST - 1;
			code = lzw_next(&r);
			if (code < 0)
				break;
		}
		in_code = code;
		sp = 0;
		if (code >= r.free_ent) {
			if (code > r.free_ent)
				return -1;
			stack[sp++] = (uint8_t)fin_char;
			code = old_code;
		}
		while (code >= 256) {
			if (sp >= sizeof(stack) - 1)
				return -1;
			stack[sp++] = suffix[code];
			code = prefix[code];
		}
		fin_char = suffix[code];
		stack[sp++] = (uint8_t)fin_char;
		if (out_len + sp > cap)
			return -1;
		while (sp > 0)
			out[out_len++] = stack[--sp];
		if (r.free_ent < r.max_max_code) {
			prefix[r.free_ent] = (uint16_t)old_code;
			suffix[r.free_ent] = (uint8_t)fin_char;
			r.free_ent++;
		}
		old_code = in_code;
	}
	return (int64_t)out_len;
}

int kjv_read(const char *path, char **text, size_t *len, struct eng_err *err)
{
	FILE *f;
	uint8_t *file = NULL, *out = NULL;
	long size;
	uint32_t wsize, wnum, w, first;
	size_t total = 0;
	int max_bits;

	*text = NULL;
	*len = 0;
	f = fopen(path, "rb");
	if (!f)
		return eng_fail(err, "cannot open %s (is bible-kjv-text installed?)", path);
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return eng_fail(err, "cannot size %s", path);
	}
	file = malloc((size_t)size + 1);
	if (!file || fread(file, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		free(file);
		return eng_fail(err, "cannot read %s", path);
	}
	fclose(f);
	if (size < EC_HEADER_BYTES + 8 || memcmp(file, "EC02", 4) != 0) {
		free(file);
		return eng_fail(err, "%s is not an EC02 bible data file", path);
	}
	wsize = be32(file + EC_HEADER_BYTES);
	wnum = be32(file + EC_HEADER_BYTES + 4);
	if (wsize == 0 || wsize > (1u << 24) || wnum == 0 || wnum > 4096 ||
	    EC_HEADER_BYTES + 8 + 4 * ((uint64_t)wnum + 1) > (uint64_t)size) {
		free(file);
		return eng_fail(err, "%s: implausible window table (%u x %u)", path, wnum, wsize);
	}
	out = malloc((size_t)wsize * wnum + 1);
	if (!out) {
		free(file);
		return eng_fail(err, "out of memory reading %s", path);
	}
	first = be32(file + EC_HEADER_BYTES + 8);
	if (first < 3 || first > (uint64_t)size || file[first - 3] != 0x1f || file[first - 2] != 0x9d ||
	    !(file[first - 1] & 0x80) || (file[first - 1] & 0x1f) < LZW_INIT_BITS ||
	    (file[first - 1] & 0x1f) > LZW_MAX_BITS) {
		free(file);
		free(out);
		return eng_fail(err, "%s: no compress(1) header before the first window", path);
	}
	max_bits = file[first - 1] & 0x1f;
	for (w = 0; w < wnum; w++) {
		const uint8_t *entry = file + EC_HEADER_BYTES + 8 + 4 * w;
		uint32_t start = be32(entry), stop = be32(entry + 4);
		int64_t got;

		if (stop < start || stop > (uint64_t)size) {
			free(file);
			free(out);
			return eng_fail(err, "%s: window %u out of bounds", path, w);
		}
		got = lzw_decompress(file + start, stop - start, max_bits, out + total, wsize);
		if (got < 0 || (w + 1 < wnum && (uint32_t)got != wsize)) {
			free(file);
			free(out);
			return eng_fail(err, "%s: window %u does not decompress", path, w);
		}
		total += (size_t)got;
	}
	free(file);
	out[total] = 0;
	*text = (char *)out;
	*len = total;
	return 0;
}

/* ---- verses: the data file's "Ge1:1 In the beginning ..." lines ----------- */

static int verses_push(struct tr_verses *v, size_t *cap, char *text)
{
	if (v->n == *cap) {
		size_t nc = *cap ? 2 * *cap : 1024;
		char **n = realloc(v->text, nc * sizeof(*n));

		if (!n)
			return -1;
		v->text = n;
		*cap = nc;
	}
	v->text[v->n++] = text;
	v->bytes += strlen(text) + 1;
	return 0;
}

/* "1Sa12:3" -> book "1Sa"; 0 if the token is not a reference. */
static size_t reference_book_len(const char *ref, size_t n)
{
	size_t i = n;
	int digits = 0;

	while (i > 0 && ref[i - 1] >= '0' && ref[i - 1] <= '9')
		i--, digits++;
	if (!digits || i == 0 || ref[i - 1] != ':')
		return 0;
	i--;
	digits = 0;
	while (i > 0 && ref[i - 1] >= '0' && ref[i - 1] <= '9')
		i--, digits++;
	return digits && i > 0 ? i : 0;
}

int tr_corpus_from_text(char *text, struct tr_corpus *c, struct eng_err *err)
{
	size_t cap_train = 0, cap_held = 0;
	char prev_book[16] = "";
	int book = -1;
	char *line = text;

	memset(c, 0, sizeof(*c));
	c->raw = text;
	while (*line) {
		char *nl = strchr(line, '\n'), *sp, *body;
		size_t book_len;

		if (nl)
			*nl = 0;
		sp = strchr(line, ' ');
		/* lines without a "Book1:1 " reference (the title line) are not verses */
		if (sp && (book_len = reference_book_len(line, (size_t)(sp - line))) > 0 &&
		    book_len < sizeof(prev_book)) {
			body = sp + 1;
			while (*body == ' ')
				body++;
			if (strncmp(prev_book, line, book_len) != 0 || prev_book[book_len] != 0) {
				memcpy(prev_book, line, book_len);
				prev_book[book_len] = 0;
				book++;
			}
			/* strip trailing spaces / CR so the verse text is clean */
			for (char *e = body + strlen(body); e > body && (e[-1] == ' ' || e[-1] == '\r');)
				*--e = 0;
			if (*body) {
				int held = book % TR_HELDOUT_BOOK_MOD == TR_HELDOUT_BOOK_REM;

				if (verses_push(held ? &c->heldout : &c->train, held ? &cap_held : &cap_train,
						body)) {
					tr_corpus_free(c);
					return eng_fail(err, "out of memory splitting the corpus");
				}
			}
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	c->n_books = book + 1;
	if (c->train.n == 0 || c->heldout.n == 0) {
		tr_corpus_free(c);
		return eng_fail(err, "corpus needs verses in both parts (found %zu train, %zu held-out in %d books)",
				c->train.n, c->heldout.n, book + 1);
	}
	return 0;
}

int tr_corpus_load(const char *path, struct tr_corpus *c, struct eng_err *err)
{
	char *text;
	size_t len;

	memset(c, 0, sizeof(*c));
	if (kjv_read(path, &text, &len, err))
		return -1;
	return tr_corpus_from_text(text, c, err);
}

void tr_corpus_free(struct tr_corpus *c)
{
	free(c->train.text);
	free(c->heldout.text);
	free(c->raw);
	memset(c, 0, sizeof(*c));
}

char *tr_verses_join(const struct tr_verses *v, size_t *len)
{
	char *out = malloc(v->bytes + 1), *p = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < v->n; i++) {
		size_t n = strlen(v->text[i]);

		memcpy(p, v->text[i], n);
		p += n;
		*p++ = '\n';
	}
	*p = 0;
	*len = (size_t)(p - out);
	return out;
}
