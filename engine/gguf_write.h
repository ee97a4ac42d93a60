/* SPDX-License-Identifier: MIT */
/*
 * gguf_write.h - a small GGUF v3 writer: the tests build tiny models with it,
 * the benchmark a large one, and the trainer will save its model with it.
 * Metadata is serialised as it is added; tensor data is only referenced and
 * must stay valid until the file is written.
 */
#ifndef ENGINE_GGUF_WRITE_H
#define ENGINE_GGUF_WRITE_H

#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);

/* Each returns 0, or -1 when out of memory (the writer then refuses to write). */
int gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t value);
int gguf_w_f32(struct gguf_writer *w, const char *key, float value);
int gguf_w_bool(struct gguf_writer *w, const char *key, int value);
int gguf_w_str(struct gguf_writer *w, const char *key, const char *value);
int gguf_w_arr_str(struct gguf_writer *w, const char *key, const char *const *values, size_t n);
int gguf_w_arr_f32(struct gguf_writer *w, const char *key, const float *values, size_t n);
int gguf_w_arr_i32(struct gguf_writer *w, const char *key, const int32_t *values, size_t n);

/* ne[0] is the innermost dimension (columns), as in ggml. */
int gguf_w_tensor(struct gguf_writer *w, const char *name, enum eng_dtype type,
		  uint32_t n_dims, const uint64_t *ne, const void *data);

int gguf_writer_write(struct gguf_writer *w, FILE *f, struct eng_err *err);
int gguf_writer_save(struct gguf_writer *w, const char *path, struct eng_err *err);
/* malloc'd buffer the caller frees. */
int gguf_writer_to_mem(struct gguf_writer *w, void **buf, size_t *size, struct eng_err *err);

#endif /* ENGINE_GGUF_WRITE_H */
