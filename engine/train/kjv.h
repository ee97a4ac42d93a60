/* SPDX-License-Identifier: MIT */
/*
 * kjv.h - the training corpus: the King James Bible from Debian's
 * bible-kjv-text package, decompressed and split into train / held-out text.
 */
#ifndef ENGINE_TRAIN_KJV_H
#define ENGINE_TRAIN_KJV_H

#include <stddef.h>

#include "engine/engine.h"

#define KJV_DEFAULT_PATH "/usr/lib/bible.data"

/* Whole decompressed data file, NUL-terminated, malloc'd. 0 or -1 with err. */
int kjv_read(const char *path, char **text, size_t *len, struct eng_err *err);

#endif
