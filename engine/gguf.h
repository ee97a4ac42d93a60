/* SPDX-License-Identifier: MIT */
/*
 * gguf.h - a validating reader for GGUF (versions 2 and 3).
 *
 * The whole header is parsed and checked once at open time (counts against
 * the bytes that remain, string and array lengths, tensor dims, dtypes,
 * offsets, alignment and overlap), so the accessors below never read outside
 * the buffer. Strings in the file are not NUL-terminated: they are returned
 * as (pointer, length).
 */
#ifndef ENGINE_GGUF_H
#define ENGINE_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#define GGUF_MAGIC		0x46554747u	/* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT	32u
#define GGUF_MAX_DIMS		4

enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT
};

/* ggml tensor type ids that the engine reads. */
#define GGML_TYPE_F32	0
#define GGML_TYPE_F16	1
#define GGML_TYPE_Q8_0	8
#define GGML_TYPE_BF16	30

struct gguf_str {
	const char *ptr;
	uint64_t len;
};

struct gguf_kv {
	struct gguf_str key;
	enum gguf_type type;
	enum gguf_type elem_type;	/* arrays */
	uint64_t count;			/* arrays: elements; scalars: 1 */
	const uint8_t *data;		/* scalar value, or first array element */
};

struct gguf_tensor {
	struct gguf_str name;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];	/* ne[0] innermost; unused dims are 1 */
	uint32_t ggml_type;
	enum eng_dtype type;
	uint64_t offset;		/* from the start of the data section */
	uint64_t nbytes;
	const void *data;
};

struct gguf_file {
	const uint8_t *base;
	size_t size;
	int owns_map;			/* munmap base on close */
	uint32_t version;
	uint32_t alignment;
	uint64_t data_offset;
	uint64_t n_kv, n_tensors;
	struct gguf_kv *kv;
	struct gguf_tensor *tensors;
};

/* Parses a GGUF held in memory (the buffer must outlive the result). */
struct gguf_file *gguf_open_mem(const void *data, size_t size, struct eng_err *err);
/* mmaps and parses a file. */
struct gguf_file *gguf_open(const char *path, struct eng_err *err);
void gguf_close(struct gguf_file *gf);

const struct gguf_kv *gguf_find_kv(const struct gguf_file *gf, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *gf, const char *name);
int gguf_str_eq(struct gguf_str s, const char *c);

/*
 * Typed getters: 0 on success, 1 if the key is absent (out untouched), -1
 * with err filled if it exists with an unusable type or value.
 */
int gguf_get_u64(const struct gguf_file *gf, const char *key, uint64_t *out, struct eng_err *err);
int gguf_get_f32(const struct gguf_file *gf, const char *key, float *out, struct eng_err *err);
int gguf_get_bool(const struct gguf_file *gf, const char *key, int *out, struct eng_err *err);
int gguf_get_str(const struct gguf_file *gf, const char *key, struct gguf_str *out, struct eng_err *err);

/*
 * String arrays: *cursor starts at kv->data; each call returns one element
 * and advances. Safe for exactly kv->count calls (validated at open).
 */
struct gguf_str gguf_arr_str_next(const uint8_t **cursor);
/* Numeric elements widened; callers check elem_type first. */
double gguf_arr_num(const struct gguf_kv *kv, uint64_t index);

const char *gguf_type_name(enum gguf_type type);

#endif /* ENGINE_GGUF_H */
