// SPDX-License-Identifier: MIT
/* gguf_write.c - GGUF v3 writer; see gguf_write.h. */
#include "engine/gguf_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"

struct pending_tensor {
	char *name;
	uint32_t ggml_type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t nbytes;
	const void *data;
};

struct gguf_writer {
	uint8_t *meta;
	size_t meta_len, meta_cap;
	uint64_t n_kv;
	struct pending_tensor *tensors;
	size_t n_tensors, cap_tensors;
	int failed;
};

struct gguf_writer *gguf_writer_new(void)
{
	return calloc(1, sizeof(struct gguf_writer));
}

void gguf_writer_free(struct gguf_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_tensors; i++)
		free(w->tensors[i].name);
	free(w->tensors);
	free(w->meta);
	free(w);
}

static int put(struct gguf_writer *w, const void *p, size_t n)
{
	if (w->failed)
		return -1;
	if (w->meta_len + n > w->meta_cap) {
		size_t cap = w->meta_cap ? w->meta_cap : 256;
		uint8_t *m;

		while (cap < w->meta_len + n)
			cap *= 2;
		m = realloc(w->meta, cap);
		if (!m) {
			w->failed = 1;
			return -1;
		}
		w->meta = m;
		w->meta_cap = cap;
	}
	memcpy(w->meta + w->meta_len, p, n);
	w->meta_len += n;
	return 0;
}

static int put_u32(struct gguf_writer *w, uint32_t v) { return put(w, &v, 4); }
static int put_u64(struct gguf_writer *w, uint64_t v) { return put(w, &v, 8); }

static int put_str(struct gguf_writer *w, const char *s)
{
	size_t n = strlen(s);

	return put_u64(w, n) | put(w, s, n);
}

static int key(struct gguf_writer *w, const char *k, uint32_t type)
{
	w->n_kv++;
	return put_str(w, k) | put_u32(w, type);
}

int gguf_w_u32(struct gguf_writer *w, const char *k, uint32_t v)
{
	return key(w, k, GGUF_TYPE_UINT32) | put_u32(w, v);
}

int gguf_w_f32(struct gguf_writer *w, const char *k, float v)
{
	return key(w, k, GGUF_TYPE_FLOAT32) | put(w, &v, 4);
}

int gguf_w_bool(struct gguf_writer *w, const char *k, int v)
{
	uint8_t b = v != 0;

	return key(w, k, GGUF_TYPE_BOOL) | put(w, &b, 1);
}

int gguf_w_str(struct gguf_writer *w, const char *k, const char *v)
{
	return key(w, k, GGUF_TYPE_STRING) | put_str(w, v);
}

int gguf_w_arr_str(struct gguf_writer *w, const char *k, const char *const *v, size_t n)
{
	int rc = key(w, k, GGUF_TYPE_ARRAY) | put_u32(w, GGUF_TYPE_STRING) | put_u64(w, n);

	for (size_t i = 0; i < n; i++)
		rc |= put_str(w, v[i]);
	return rc;
}

int gguf_w_arr_f32(struct gguf_writer *w, const char *k, const float *v, size_t n)
{
	return key(w, k, GGUF_TYPE_ARRAY) | put_u32(w, GGUF_TYPE_FLOAT32) | put_u64(w, n) |
	       put(w, v, n * 4);
}

int gguf_w_arr_i32(struct gguf_writer *w, const char *k, const int32_t *v, size_t n)
{
	return key(w, k, GGUF_TYPE_ARRAY) | put_u32(w, GGUF_TYPE_INT32) | put_u64(w, n) |
	       put(w, v, n * 4);
}

int gguf_w_tensor(struct gguf_writer *w, const char *name, enum eng_dtype type,
		  uint32_t n_dims, const uint64_t *ne, const void *data)
{
	static const uint32_t ggml_of[ENG_DTYPE_COUNT] = {
		[ENG_F32] = GGML_TYPE_F32, [ENG_F16] = GGML_TYPE_F16,
		[ENG_BF16] = GGML_TYPE_BF16, [ENG_Q8_0] = GGML_TYPE_Q8_0,
	};
	struct pending_tensor *t;
	uint64_t rows = 1;

	if (w->failed || n_dims < 1 || n_dims > GGUF_MAX_DIMS || (unsigned)type >= ENG_DTYPE_COUNT)
		return w->failed = 1, -1;
	if (w->n_tensors == w->cap_tensors) {
		size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
		struct pending_tensor *n = realloc(w->tensors, cap * sizeof(*n));

		if (!n)
			return w->failed = 1, -1;
		w->tensors = n;
		w->cap_tensors = cap;
	}
	t = &w->tensors[w->n_tensors];
	memset(t, 0, sizeof(*t));
	t->name = strdup(name);
	if (!t->name)
		return w->failed = 1, -1;
	t->ggml_type = ggml_of[type];
	t->n_dims = n_dims;
	for (uint32_t d = 0; d < n_dims; d++) {
		t->ne[d] = ne[d];
		if (d)
			rows *= ne[d];
	}
	t->nbytes = eng_row_bytes(type, ne[0]) * rows;
	t->data = data;
	w->n_tensors++;
	return 0;
}

static int pad_to(FILE *f, uint64_t *pos, uint64_t align)
{
	static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT];
	uint64_t n = (align - *pos % align) % align;

	*pos += n;
	return fwrite(zeros, 1, n, f) == n ? 0 : -1;
}

int gguf_writer_write(struct gguf_writer *w, FILE *f, struct eng_err *err)
{
	uint32_t head[2] = { GGUF_MAGIC, 3 };
	uint64_t counts[2] = { w->n_tensors, w->n_kv };
	uint64_t pos, offset = 0;
	int bad = 0;

	if (w->failed)
		return eng_fail(err, "gguf writer: out of memory or bad tensor while building");
	bad |= fwrite(head, 4, 2, f) != 2;
	bad |= fwrite(counts, 8, 2, f) != 2;
	bad |= w->meta_len && fwrite(w->meta, 1, w->meta_len, f) != w->meta_len;
	pos = 24 + w->meta_len;
	for (size_t i = 0; i < w->n_tensors; i++) {
		struct pending_tensor *t = &w->tensors[i];
		uint64_t len = strlen(t->name);

		bad |= fwrite(&len, 8, 1, f) != 1;
		bad |= fwrite(t->name, 1, len, f) != len;
		bad |= fwrite(&t->n_dims, 4, 1, f) != 1;
		bad |= fwrite(t->ne, 8, t->n_dims, f) != t->n_dims;
		bad |= fwrite(&t->ggml_type, 4, 1, f) != 1;
		bad |= fwrite(&offset, 8, 1, f) != 1;
		pos += 8 + len + 4 + 8ull * t->n_dims + 4 + 8;
		offset += (t->nbytes + GGUF_DEFAULT_ALIGNMENT - 1) / GGUF_DEFAULT_ALIGNMENT * GGUF_DEFAULT_ALIGNMENT;
	}
	bad |= pad_to(f, &pos, GGUF_DEFAULT_ALIGNMENT);
	for (size_t i = 0; i < w->n_tensors; i++) {
		struct pending_tensor *t = &w->tensors[i];

		bad |= t->nbytes && fwrite(t->data, 1, t->nbytes, f) != t->nbytes;
		pos += t->nbytes;
		bad |= pad_to(f, &pos, GGUF_DEFAULT_ALIGNMENT);
	}
	if (bad || ferror(f))
		return eng_fail(err, "gguf writer: write failed: %s", strerror(errno));
	return 0;
}

int gguf_writer_save(struct gguf_writer *w, const char *path, struct eng_err *err)
{
	FILE *f = fopen(path, "wb");
	int rc;

	if (!f)
		return eng_fail(err, "cannot create %s: %s", path, strerror(errno));
	rc = gguf_writer_write(w, f, err);
	if (fclose(f) && rc == 0)
		rc = eng_fail(err, "cannot write %s: %s", path, strerror(errno));
	return rc;
}

int gguf_writer_to_mem(struct gguf_writer *w, void **buf, size_t *size, struct eng_err *err)
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);
	int rc;

	if (!f)
		return eng_fail(err, "out of memory");
	rc = gguf_writer_write(w, f, err);
	if (fclose(f) && rc == 0)
		rc = eng_fail(err, "out of memory");
	if (rc) {
		free(p);
		return rc;
	}
	*buf = p;
	*size = n;
	return 0;
}
