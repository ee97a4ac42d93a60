// SPDX-License-Identifier: MIT
/*
 * gguf.c - validating GGUF reader. Every count read from the file is checked
 * against the bytes that remain before anything is allocated or looped over,
 * so a truncated or hostile file ends in an error message, never a crash.
 */
#include "engine/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const uint8_t *base;
	size_t size;
	size_t pos;
	struct eng_err *err;
};

static size_t remaining(const struct reader *r)
{
	return r->size - r->pos;
}

static int read_bytes(struct reader *r, void *out, size_t n, const char *what)
{
	if (remaining(r) < n)
		return eng_fail(r->err, "truncated file: %s at byte %zu needs %zu bytes, only %zu left",
				what, r->pos, n, remaining(r));
	memcpy(out, r->base + r->pos, n);
	r->pos += n;
	return 0;
}

static int read_u32(struct reader *r, uint32_t *out, const char *what)
{
	return read_bytes(r, out, 4, what);
}

static int read_u64(struct reader *r, uint64_t *out, const char *what)
{
	return read_bytes(r, out, 8, what);
}

static int read_str(struct reader *r, struct gguf_str *out, const char *what)
{
	uint64_t len = 0;

	if (read_u64(r, &len, what))
		return -1;
	if (len > remaining(r))
		return eng_fail(r->err, "%s at byte %zu: string length %llu runs past the end of the file (%zu bytes left)",
				what, r->pos - 8, (unsigned long long)len, remaining(r));
	out->ptr = (const char *)r->base + r->pos;
	out->len = len;
	r->pos += len;
	return 0;
}

static const size_t scalar_size[GGUF_TYPE_COUNT] = {
	[GGUF_TYPE_UINT8] = 1, [GGUF_TYPE_INT8] = 1, [GGUF_TYPE_UINT16] = 2,
	[GGUF_TYPE_INT16] = 2, [GGUF_TYPE_UINT32] = 4, [GGUF_TYPE_INT32] = 4,
	[GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1, [GGUF_TYPE_UINT64] = 8,
	[GGUF_TYPE_INT64] = 8, [GGUF_TYPE_FLOAT64] = 8,
};

const char *gguf_type_name(enum gguf_type type)
{
	static const char *const names[GGUF_TYPE_COUNT] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
		"bool", "string", "array", "uint64", "int64", "float64",
	};

	return (unsigned)type < GGUF_TYPE_COUNT ? names[type] : "unknown";
}

static const char *ggml_type_name(uint32_t type)
{
	static const char *const names[] = {
		"F32", "F16", "Q4_0", "Q4_1", "type 4", "type 5", "Q5_0", "Q5_1",
		"Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K",
		"IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S",
		"IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

static int parse_kv(struct reader *r, struct gguf_kv *kv, uint64_t index)
{
	uint32_t type = 0;
	char what[64];

	snprintf(what, sizeof(what), "key of metadata entry %llu", (unsigned long long)index);
	if (read_str(r, &kv->key, what))
		return -1;
	if (kv->key.len == 0)
		return eng_fail(r->err, "metadata entry %llu has an empty key", (unsigned long long)index);
	if (read_u32(r, &type, "metadata value type"))
		return -1;
	if (type >= GGUF_TYPE_COUNT)
		return eng_fail(r->err, "metadata '%.*s' has unknown value type %u",
				(int)kv->key.len, kv->key.ptr, type);
	kv->type = type;
	kv->count = 1;
	kv->data = r->base + r->pos;
	if (type == GGUF_TYPE_STRING) {
		struct gguf_str s;

		return read_str(r, &s, "metadata string value");
	}
	if (type != GGUF_TYPE_ARRAY) {
		if (remaining(r) < scalar_size[type])
			return eng_fail(r->err, "truncated file: value of metadata '%.*s' runs past the end",
					(int)kv->key.len, kv->key.ptr);
		r->pos += scalar_size[type];
		return 0;
	}
	if (read_u32(r, &type, "array element type") || read_u64(r, &kv->count, "array length"))
		return -1;
	if (type >= GGUF_TYPE_COUNT)
		return eng_fail(r->err, "metadata array '%.*s' has unknown element type %u",
				(int)kv->key.len, kv->key.ptr, type);
	if (type == GGUF_TYPE_ARRAY)
		return eng_fail(r->err, "metadata array '%.*s' nests arrays, which is not supported",
				(int)kv->key.len, kv->key.ptr);
	kv->elem_type = type;
	kv->data = r->base + r->pos;
	if (type == GGUF_TYPE_STRING) {
		/* each element needs at least its 8-byte length */
		if (kv->count > remaining(r) / 8)
			return eng_fail(r->err, "metadata array '%.*s' claims %llu strings, more than the file could hold",
					(int)kv->key.len, kv->key.ptr, (unsigned long long)kv->count);
		for (uint64_t i = 0; i < kv->count; i++) {
			struct gguf_str s;

			if (read_str(r, &s, "array string element"))
				return -1;
		}
		return 0;
	}
	if (kv->count > remaining(r) / scalar_size[type])
		return eng_fail(r->err, "metadata array '%.*s' claims %llu %s elements, more than the file could hold",
				(int)kv->key.len, kv->key.ptr, (unsigned long long)kv->count,
				gguf_type_name(type));
	r->pos += kv->count * scalar_size[type];
	return 0;
}

static int dtype_of_ggml(uint32_t ggml_type, enum eng_dtype *out)
{
	switch (ggml_type) {
	case GGML_TYPE_F32: *out = ENG_F32; return 0;
	case GGML_TYPE_F16: *out = ENG_F16; return 0;
	case GGML_TYPE_BF16: *out = ENG_BF16; return 0;
	case GGML_TYPE_Q8_0: *out = ENG_Q8_0; return 0;
	default: return -1;
	}
}

static int parse_tensor_info(struct reader *r, struct gguf_tensor *t, uint64_t index)
{
	uint64_t elements = 1;
	char what[64];

	snprintf(what, sizeof(what), "name of tensor %llu", (unsigned long long)index);
	if (read_str(r, &t->name, what))
		return -1;
	if (t->name.len == 0 || t->name.len > 256)
		return eng_fail(r->err, "tensor %llu has a name of %llu bytes (must be 1..256)",
				(unsigned long long)index, (unsigned long long)t->name.len);
	if (read_u32(r, &t->n_dims, "tensor n_dims"))
		return -1;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return eng_fail(r->err, "tensor '%.*s' has n_dims %u (must be 1..%d)",
				(int)t->name.len, t->name.ptr, t->n_dims, GGUF_MAX_DIMS);
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (uint32_t d = 0; d < t->n_dims; d++) {
		if (read_u64(r, &t->ne[d], "tensor dimension"))
			return -1;
		if (t->ne[d] == 0 || t->ne[d] > (1ull << 40))
			return eng_fail(r->err, "tensor '%.*s' dimension %u is %llu (must be 1..2^40)",
					(int)t->name.len, t->name.ptr, d, (unsigned long long)t->ne[d]);
		if (__builtin_mul_overflow(elements, t->ne[d], &elements) || elements > (1ull << 48))
			return eng_fail(r->err, "tensor '%.*s' has too many elements",
					(int)t->name.len, t->name.ptr);
	}
	if (read_u32(r, &t->ggml_type, "tensor type") || read_u64(r, &t->offset, "tensor offset"))
		return -1;
	if (dtype_of_ggml(t->ggml_type, &t->type))
		return eng_fail(r->err, "tensor '%.*s' has unsupported type %s (%u); supported: F32, F16, BF16, Q8_0",
				(int)t->name.len, t->name.ptr, ggml_type_name(t->ggml_type), t->ggml_type);
	t->nbytes = eng_row_bytes(t->type, t->ne[0]);
	if (t->nbytes == 0)
		return eng_fail(r->err, "tensor '%.*s' of type Q8_0 has %llu columns, not a multiple of %d",
				(int)t->name.len, t->name.ptr, (unsigned long long)t->ne[0], ENG_Q8_0_BLOCK);
	t->nbytes *= elements / t->ne[0];	/* < 2^48 * 34 / 32: no overflow */
	return 0;
}

static int cmp_kv_key(const void *a, const void *b)
{
	const struct gguf_kv *x = *(const struct gguf_kv *const *)a;
	const struct gguf_kv *y = *(const struct gguf_kv *const *)b;
	uint64_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = memcmp(x->key.ptr, y->key.ptr, n);

	return c ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

static int cmp_tensor_name(const void *a, const void *b)
{
	const struct gguf_tensor *x = a, *y = b;
	uint64_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
	int c = memcmp(x->name.ptr, y->name.ptr, n);

	return c ? c : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

static int cmp_tensor_offset_ptr(const void *a, const void *b)
{
	const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
	const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;

	return (x->offset > y->offset) - (x->offset < y->offset);
}

static int check_unique_keys(struct gguf_file *gf, struct eng_err *err)
{
	const struct gguf_kv **sorted;
	int rc = 0;

	if (gf->n_kv < 2)
		return 0;
	sorted = malloc(gf->n_kv * sizeof(*sorted));
	if (!sorted)
		return eng_fail(err, "out of memory");
	for (uint64_t i = 0; i < gf->n_kv; i++)
		sorted[i] = &gf->kv[i];
	qsort(sorted, gf->n_kv, sizeof(*sorted), cmp_kv_key);
	for (uint64_t i = 1; i < gf->n_kv; i++) {
		if (cmp_kv_key(&sorted[i - 1], &sorted[i]) == 0) {
			rc = eng_fail(err, "metadata key '%.*s' appears more than once",
				      (int)sorted[i]->key.len, sorted[i]->key.ptr);
			break;
		}
	}
	free(sorted);
	return rc;
}

/* Tensors are kept sorted by name (for lookup); checks names and overlap. */
static int check_tensor_layout(struct gguf_file *gf, struct eng_err *err)
{
	const struct gguf_tensor **by_offset;
	int rc = 0;

	qsort(gf->tensors, gf->n_tensors, sizeof(*gf->tensors), cmp_tensor_name);
	for (uint64_t i = 1; i < gf->n_tensors; i++)
		if (cmp_tensor_name(&gf->tensors[i - 1], &gf->tensors[i]) == 0)
			return eng_fail(err, "tensor name '%.*s' appears more than once",
					(int)gf->tensors[i].name.len, gf->tensors[i].name.ptr);
	if (gf->n_tensors < 2)
		return 0;
	by_offset = malloc(gf->n_tensors * sizeof(*by_offset));
	if (!by_offset)
		return eng_fail(err, "out of memory");
	for (uint64_t i = 0; i < gf->n_tensors; i++)
		by_offset[i] = &gf->tensors[i];
	qsort(by_offset, gf->n_tensors, sizeof(*by_offset), cmp_tensor_offset_ptr);
	for (uint64_t i = 1; i < gf->n_tensors; i++) {
		const struct gguf_tensor *a = by_offset[i - 1], *b = by_offset[i];

		if (a->offset + a->nbytes > b->offset) {
			rc = eng_fail(err, "tensors '%.*s' and '%.*s' overlap in the data section",
				      (int)a->name.len, a->name.ptr, (int)b->name.len, b->name.ptr);
			break;
		}
	}
	free(by_offset);
	return rc;
}

static int parse(struct gguf_file *gf, struct eng_err *err)
{
	struct reader r = { .base = gf->base, .size = gf->size, .err = err };
	uint32_t magic;
	uint64_t data_size;

	if (gf->size < 24)
		return eng_fail(err, "truncated GGUF header: file is %zu bytes, a header needs 24", gf->size);
	read_u32(&r, &magic, "magic");
	if (magic != GGUF_MAGIC)
		return eng_fail(err, "bad magic 0x%08x: not a GGUF file (expected \"GGUF\")", magic);
	read_u32(&r, &gf->version, "version");
	if (gf->version != 2 && gf->version != 3)
		return eng_fail(err, "unsupported GGUF version %u (this reader handles 2 and 3)", gf->version);
	read_u64(&r, &gf->n_tensors, "tensor count");
	read_u64(&r, &gf->n_kv, "metadata count");
	/* smallest possible entries: kv 8+1+4+1 bytes, tensor info 8+1+4+8+4+8 */
	if (gf->n_kv > remaining(&r) / 14)
		return eng_fail(err, "metadata count %llu is larger than a %zu-byte file could hold",
				(unsigned long long)gf->n_kv, gf->size);
	if (gf->n_tensors > remaining(&r) / 33)
		return eng_fail(err, "tensor count %llu is larger than a %zu-byte file could hold",
				(unsigned long long)gf->n_tensors, gf->size);
	gf->kv = calloc(gf->n_kv ? gf->n_kv : 1, sizeof(*gf->kv));
	gf->tensors = calloc(gf->n_tensors ? gf->n_tensors : 1, sizeof(*gf->tensors));
	if (!gf->kv || !gf->tensors)
		return eng_fail(err, "out of memory");
	for (uint64_t i = 0; i < gf->n_kv; i++)
		if (parse_kv(&r, &gf->kv[i], i))
			return -1;
	if (check_unique_keys(gf, err))
		return -1;

	gf->alignment = GGUF_DEFAULT_ALIGNMENT;
	{
		const struct gguf_kv *kv = gguf_find_kv(gf, "general.alignment");

		if (kv) {
			uint32_t a;

			if (kv->type != GGUF_TYPE_UINT32)
				return eng_fail(err, "general.alignment has type %s, expected uint32",
						gguf_type_name(kv->type));
			memcpy(&a, kv->data, 4);
			if (a == 0 || (a & (a - 1)) || a > (1u << 16))
				return eng_fail(err, "general.alignment %u is not a power of two in 1..65536", a);
			gf->alignment = a;
		}
	}

	for (uint64_t i = 0; i < gf->n_tensors; i++)
		if (parse_tensor_info(&r, &gf->tensors[i], i))
			return -1;
	gf->data_offset = (r.pos + gf->alignment - 1) / gf->alignment * gf->alignment;
	if (gf->n_tensors == 0)
		return 0;
	if (gf->data_offset > gf->size)
		return eng_fail(err, "truncated file: data section would start at byte %llu, file is %zu bytes",
				(unsigned long long)gf->data_offset, gf->size);
	data_size = gf->size - gf->data_offset;
	for (uint64_t i = 0; i < gf->n_tensors; i++) {
		struct gguf_tensor *t = &gf->tensors[i];
		size_t elem_align = t->type == ENG_F32 ? 4 : 2;

		if (t->offset % gf->alignment)
			return eng_fail(err, "tensor '%.*s' offset %llu is not a multiple of the alignment %u",
					(int)t->name.len, t->name.ptr, (unsigned long long)t->offset, gf->alignment);
		if (t->offset > data_size || t->nbytes > data_size - t->offset)
			return eng_fail(err, "tensor '%.*s' data [%llu, +%llu) lies outside the file's data section (%llu bytes)",
					(int)t->name.len, t->name.ptr, (unsigned long long)t->offset,
					(unsigned long long)t->nbytes, (unsigned long long)data_size);
		t->data = gf->base + gf->data_offset + t->offset;
		if ((uintptr_t)t->data % elem_align)
			return eng_fail(err, "tensor '%.*s' data is not %zu-byte aligned in memory",
					(int)t->name.len, t->name.ptr, elem_align);
	}
	return check_tensor_layout(gf, err);
}

struct gguf_file *gguf_open_mem(const void *data, size_t size, struct eng_err *err)
{
	struct gguf_file *gf = calloc(1, sizeof(*gf));

	if (!gf) {
		eng_fail(err, "out of memory");
		return NULL;
	}
	gf->base = data;
	gf->size = size;
	if (parse(gf, err)) {
		gguf_close(gf);
		return NULL;
	}
	return gf;
}

struct gguf_file *gguf_open(const char *path, struct eng_err *err)
{
	struct gguf_file *gf;
	size_t size;
	void *map = eng_file_map(path, &size, err);

	if (!map)
		return NULL;
	gf = gguf_open_mem(map, size, err);
	if (!gf) {
		char inner[sizeof(err->msg)];

		eng_file_unmap(map, size);
		if (err) {
			snprintf(inner, sizeof(inner), "%s", err->msg);
			eng_fail(err, "%s: %s", path, inner);
		}
		return NULL;
	}
	gf->owns_map = 1;
	return gf;
}

void gguf_close(struct gguf_file *gf)
{
	if (!gf)
		return;
	if (gf->owns_map)
		eng_file_unmap((void *)gf->base, gf->size);
	free(gf->kv);
	free(gf->tensors);
	free(gf);
}

int gguf_str_eq(struct gguf_str s, const char *c)
{
	size_t n = strlen(c);

	return s.len == n && memcmp(s.ptr, c, n) == 0;
}

const struct gguf_kv *gguf_find_kv(const struct gguf_file *gf, const char *key)
{
	for (uint64_t i = 0; i < gf->n_kv; i++)
		if (gguf_str_eq(gf->kv[i].key, key))
			return &gf->kv[i];
	return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *gf, const char *name)
{
	struct gguf_tensor key = { .name = { name, strlen(name) } };

	return bsearch(&key, gf->tensors, gf->n_tensors, sizeof(*gf->tensors), cmp_tensor_name);
}

static int scalar_as_double(enum gguf_type type, const uint8_t *p, double *out)
{
	union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
		float f32; uint64_t u64; int64_t i64; double f64; } v;

	if (type >= GGUF_TYPE_COUNT || scalar_size[type] == 0)
		return -1;
	memcpy(&v, p, scalar_size[type]);
	switch (type) {
	case GGUF_TYPE_UINT8: *out = v.u8; break;
	case GGUF_TYPE_INT8: *out = v.i8; break;
	case GGUF_TYPE_UINT16: *out = v.u16; break;
	case GGUF_TYPE_INT16: *out = v.i16; break;
	case GGUF_TYPE_UINT32: *out = v.u32; break;
	case GGUF_TYPE_INT32: *out = v.i32; break;
	case GGUF_TYPE_FLOAT32: *out = v.f32; break;
	case GGUF_TYPE_BOOL: *out = v.u8; break;
	case GGUF_TYPE_UINT64: *out = (double)v.u64; break;
	case GGUF_TYPE_INT64: *out = (double)v.i64; break;
	case GGUF_TYPE_FLOAT64: *out = v.f64; break;
	default: return -1;
	}
	return 0;
}

double gguf_arr_num(const struct gguf_kv *kv, uint64_t index)
{
	double d = 0;

	scalar_as_double(kv->elem_type, kv->data + index * scalar_size[kv->elem_type], &d);
	return d;
}

struct gguf_str gguf_arr_str_next(const uint8_t **cursor)
{
	struct gguf_str s;
	uint64_t len;

	memcpy(&len, *cursor, 8);
	s.ptr = (const char *)*cursor + 8;
	s.len = len;
	*cursor += 8 + len;
	return s;
}

int gguf_get_u64(const struct gguf_file *gf, const char *key, uint64_t *out, struct eng_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(gf, key);
	int64_t s;

	if (!kv)
		return 1;
	switch (kv->type) {
	case GGUF_TYPE_UINT8: *out = kv->data[0]; return 0;
	case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, kv->data, 2); *out = v; return 0; }
	case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, kv->data, 4); *out = v; return 0; }
	case GGUF_TYPE_UINT64: memcpy(out, kv->data, 8); return 0;
	case GGUF_TYPE_INT8: s = (int8_t)kv->data[0]; break;
	case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, kv->data, 2); s = v; break; }
	case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, kv->data, 4); s = v; break; }
	case GGUF_TYPE_INT64: memcpy(&s, kv->data, 8); break;
	default:
		return eng_fail(err, "metadata '%s' has type %s, expected an integer", key,
				gguf_type_name(kv->type));
	}
	if (s < 0)
		return eng_fail(err, "metadata '%s' is negative (%lld)", key, (long long)s);
	*out = (uint64_t)s;
	return 0;
}

int gguf_get_f32(const struct gguf_file *gf, const char *key, float *out, struct eng_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(gf, key);
	double d;

	if (!kv)
		return 1;
	if (kv->type == GGUF_TYPE_ARRAY || kv->type == GGUF_TYPE_STRING ||
	    scalar_as_double(kv->type, kv->data, &d))
		return eng_fail(err, "metadata '%s' has type %s, expected a number", key,
				gguf_type_name(kv->type));
	*out = (float)d;
	return 0;
}

int gguf_get_bool(const struct gguf_file *gf, const char *key, int *out, struct eng_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(gf, key);

	if (!kv)
		return 1;
	if (kv->type != GGUF_TYPE_BOOL)
		return eng_fail(err, "metadata '%s' has type %s, expected bool", key,
				gguf_type_name(kv->type));
	*out = kv->data[0] != 0;
	return 0;
}

int gguf_get_str(const struct gguf_file *gf, const char *key, struct gguf_str *out, struct eng_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(gf, key);
	const uint8_t *cursor;

	if (!kv)
		return 1;
	if (kv->type != GGUF_TYPE_STRING)
		return eng_fail(err, "metadata '%s' has type %s, expected string", key,
				gguf_type_name(kv->type));
	cursor = kv->data;
	*out = gguf_arr_str_next(&cursor);
	return 0;
}
