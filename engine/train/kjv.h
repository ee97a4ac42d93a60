/* SPDX-License-Identifier: MIT */
/*
 * kjv.h - the training corpus: the King James Bible from Debian's
 * bible-kjv-text package, decompressed, parsed into verses and split into
 * train / held-out text.
 */
#ifndef ENGINE_TRAIN_KJV_H
#define ENGINE_TRAIN_KJV_H

#include <stddef.h>

#include "engine/engine.h"

#define KJV_DEFAULT_PATH "/usr/lib/bible.data"

/* Whole decompressed data file, NUL-terminated, malloc'd. 0 or -1 with err. */
int kjv_read(const char *path, char **text, size_t *len, struct eng_err *err);

/* Held-out part: every book whose 0-based index is 19 mod 20 (Proverbs, Matthew, 1 Peter). */
#define TR_HELDOUT_BOOK_MOD	20
#define TR_HELDOUT_BOOK_REM	19

/* Verses without their "Ge1:1 " references; one NUL-terminated string each. */
struct tr_verses {
	char **text;
	size_t n;
	size_t bytes;		/* sum of strlen + 1 (the newline between verses) */
};

struct tr_corpus {
	char *raw;
	struct tr_verses train, heldout;
	int n_books;
};

int tr_corpus_load(const char *path, struct tr_corpus *c, struct eng_err *err);
/* Splits text already in memory ("Ge1:1 In the ...\n" lines); takes ownership of text. */
int tr_corpus_from_text(char *text, struct tr_corpus *c, struct eng_err *err);
void tr_corpus_free(struct tr_corpus *c);
/* Verses joined with '\n' (and a final '\n'); malloc'd. */
char *tr_verses_join(const struct tr_verses *v, size_t *len);

#endif
