// SPDX-License-Identifier: MIT
/*
 * test_engine_gguf - the model loader: a valid tiny GGUF and llama2.c
 * checkpoint load with the right hyperparameters (RoPE base and RMS epsilon
 * included) and weights: values the test planted at known places, in every
 * dtype, read back through every path the backends use, against floats
 * worked out by hand. Every kind of broken file is refused with a message
 * that names the problem, down to a single byte at the edges of the data
 * section.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/gguf.h"
#include "engine/kernels/kernels.h"
#include "engine/tokenizer.h"
#include "tests/tap.h"
#include "tests/unit/engine_tiny_model.h"
#include "tests/unit/llama_ref.h"

static uint8_t *image;
static size_t image_size;

/* Loads a (possibly broken) image as a model; returns the error text or NULL. */
static const char *load_error(const void *buf, size_t size)
{
	static struct eng_err err;
	struct gguf_file *gf;
	struct eng_model *m;

	memset(&err, 0, sizeof(err));
	gf = gguf_open_mem(buf, size, &err);
	if (!gf)
		return err.msg;
	m = eng_model_from_gguf(gf, &err);
	if (!m) {
		gguf_close(gf);
		return err.msg;
	}
	eng_model_free(m);
	return NULL;
}

static void expect_error(const void *buf, size_t size, const char *needle, const char *what)
{
	const char *msg = load_error(buf, size);

	TAP_OK(msg && strstr(msg, needle), "%s: \"%s\"", what, msg ? msg : "(loaded!)");
}

static void expect_spec_error(struct tiny_spec s, const char *needle, const char *what)
{
	size_t size;
	void *buf = tiny_model_gguf(&s, &size);

	expect_error(buf, size, needle, what);
	free(buf);
}

/* A copy of the valid image with bytes patched at off. */
static uint8_t *patched(size_t off, const void *bytes, size_t n)
{
	uint8_t *b = malloc(image_size);

	memcpy(b, image, image_size);
	memcpy(b + off, bytes, n);
	return b;
}

/* Byte offset of the field after a tensor's name in the tensor-info table. */
static size_t tensor_info(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 8; i + n < image_size; i++)
		if (memcmp(image + i, name, n) == 0) {
			uint64_t len;

			memcpy(&len, image + i - 8, 8);
			if (len == n && image[i + n] <= 4 && image[i + n + 1] == 0)
				return i + n;
		}
	return 0;
}

static void test_valid(void)
{
	struct tiny_spec s = tiny_default();
	struct eng_err err = { "" };
	struct gguf_file *gf;
	struct eng_model *m;
	size_t size;
	void *buf;

	s.with_vocab = 1;
	s.wtype = ENG_BF16;
	buf = tiny_model_gguf(&s, &size);
	gf = gguf_open_mem(buf, size, &err);
	m = gf ? eng_model_from_gguf(gf, &err) : NULL;
	TAP_OK(m != NULL, "valid tiny model with vocabulary loads: %s", m ? "ok" : err.msg);
	if (m) {
		const struct eng_hparams *hp = &m->hp;

		TAP_OK(hp->dim == 64 && hp->hidden_dim == 96 && hp->n_layers == 2 && hp->n_heads == 4 &&
		       hp->n_kv_heads == 2 && hp->head_dim == 16 && hp->vocab_size == 300 && hp->ctx_len == 64,
		       "hyperparameters read from llama.* keys");
		TAP_OK(hp->rope_theta == 500000.0f && hp->rms_eps == 1e-6f,
		       "llama.rope.freq_base 500000 and llama.attention.layer_norm_rms_epsilon 1e-6 are read (%g, %g)",
		       hp->rope_theta, hp->rms_eps);
		TAP_OK(m->layers[1].wk.rows == 32 && m->layers[1].wk.cols == 64 && m->layers[1].wk.type == ENG_BF16 &&
		       m->layers[1].attn_norm.type == ENG_F32 && m->tied_output,
		       "layer weights keep their dtype and shape; output tied to the embedding");
		TAP_OK(m->tokenizer && eng_tokenizer_vocab_size(m->tokenizer) == 300, "tokenizer loaded with the model");
		if (m->tokenizer) {
			int32_t ids[8];
			int n = eng_tokenize(m->tokenizer, "a b!", 4, 1, ids, 8);

			TAP_OK(n == 4 && ids[0] == 1 && ids[1] == 259 && ids[2] == 260 && ids[3] == '!' + 3,
			       "tiny vocabulary: \"a b!\" -> <s> \xe2\x96\x81" "a \xe2\x96\x81" "b <0x21>");
		}
		TAP_OK(eng_model_param_count(m) == 2ull * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 96) + 64 + 300 * 64,
		       "parameter count");
		eng_model_free(m);
	} else {
		gguf_close(gf);
	}
	free(buf);
}

/* Without the keys the loader falls back to llama.cpp's defaults. */
static void test_defaults_when_keys_absent(void)
{
	static const char *const keys[2] = { "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon" };

	for (int i = 0; i < 2; i++) {
		struct tiny_spec s = tiny_default();
		struct eng_err err = { "" };
		struct gguf_file *gf;
		struct eng_model *m;
		size_t size;
		void *buf;

		s.omit_key = keys[i];
		buf = tiny_model_gguf(&s, &size);
		gf = buf ? gguf_open_mem(buf, size, &err) : NULL;
		m = gf ? eng_model_from_gguf(gf, &err) : NULL;
		TAP_OK(m && (i == 0 ? m->hp.rope_theta == 10000.0f && m->hp.rms_eps == 1e-6f
				    : m->hp.rope_theta == 500000.0f && m->hp.rms_eps == 1e-5f),
		       "without %s: rope_theta %g, rms_eps %g", keys[i], m ? m->hp.rope_theta : 0.0,
		       m ? m->hp.rms_eps : 0.0);
		if (m)
			eng_model_free(m);
		else
			gguf_close(gf);
		free(buf);
	}
}

/* The same weights as a llama2.c checkpoint must give the same logits. */
static void test_llama2c(void)
{
	struct tiny_spec s = tiny_default();
	struct tiny_weights written = { 0 };
	struct eng_err err = { "" };
	char path[] = "/tmp/wse-l2c-XXXXXX";
	struct gguf_file *gf;
	struct eng_model *m, *m2;
	size_t size;
	void *buf;
	FILE *f;
	int fd;

	s.untied = 1;
	/* a llama2.c checkpoint has no RoPE base or epsilon: its loader assumes 10000 and 1e-5 */
	s.rope_theta = 10000.0f;
	s.rms_eps = 1e-5f;
	s.keep = &written;
	buf = tiny_model_gguf(&s, &size);
	gf = gguf_open_mem(buf, size, &err);
	m = gf ? eng_model_from_gguf(gf, &err) : NULL;
	fd = mkstemp(path);
	if (!m || fd < 0) {
		TAP_OK(0, "setup for llama2.c test: %s", err.msg);
		return;
	}
	close(fd);
	f = fopen(path, "wb");
	{
		const struct eng_hparams *hp = &m->hp;
		int32_t h[7] = { (int32_t)hp->dim, (int32_t)hp->hidden_dim, (int32_t)hp->n_layers,
				 (int32_t)hp->n_heads, (int32_t)hp->n_kv_heads, -(int32_t)hp->vocab_size,
				 (int32_t)hp->ctx_len };
		float zero[8] = { 0 };

#define PUT(t) fwrite((t).data, (t).row_bytes, (t).rows, f)
		fwrite(h, 4, 7, f);
		PUT(m->tok_embd);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].attn_norm);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].wq);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].wk);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].wv);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].wo);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].ffn_norm);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].w_gate);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].w_down);
		for (uint32_t l = 0; l < hp->n_layers; l++) PUT(m->layers[l].w_up);
		PUT(m->output_norm);
		for (uint32_t i = 0; i < hp->ctx_len * hp->head_dim / 8; i++)
			fwrite(zero, 4, 8, f);
		PUT(m->output);
#undef PUT
	}
	fclose(f);
	m2 = eng_model_load(path, NULL, &err);
	TAP_OK(m2 != NULL, "llama2.c checkpoint (untied classifier) loads: %s", m2 ? "ok" : err.msg);
	if (m2) {
		static const int32_t toks[6] = { 2, 33, 64, 95, 0, 299 };
		struct lref_config rc = lref_config_of(&s);
		struct lref_model ref;
		char why[160] = "";
		float *a = malloc(sizeof(float) * 300 * 6), *b = malloc(sizeof(float) * 300 * 6);
		double *want = malloc(sizeof(double) * 300 * 6), worst = INFINITY;
		int ran = 0;

		if (lref_init(&ref, &rc, &written, why, sizeof(why)) == 0) {
			struct eng_backend_config bc = { .n_ctx = 8, .n_threads = 1 };
			struct eng_backend *b1 = eng_backend_create("cpu", m, &bc, &err);
			struct eng_backend *b2 = eng_backend_create("cpu", m2, &bc, &err);

			ran = b1 && b2 && eng_backend_forward(b1, toks, 6, 0, a, 1, &err) == 0 &&
			      eng_backend_forward(b2, toks, 6, 0, b, 1, &err) == 0 &&
			      lref_forward(&ref, toks, 6, want) == 0;
			if (ran)
				worst = lref_worst(b, want, 6, 300, 1);
			eng_backend_destroy(b1);
			eng_backend_destroy(b2);
			lref_free(&ref);
		} else {
			TAP_NOTE("%s", why);
		}
		TAP_OK(ran && !m2->tied_output && m2->hp.rope_theta == 10000.0f && m2->hp.rms_eps == 1e-5f &&
		       memcmp(a, b, sizeof(float) * 300 * 6) == 0,
		       "llama2.c checkpoint gives the same cpu logits as the GGUF");
		/* the cpu backend's own tolerance, see test_engine_forward */
		TAP_OK(worst <= 1e-5, "llama2.c checkpoint: cpu logits match the independent reference (worst %.2g)", worst);
		free(a);
		free(b);
		free(want);
		eng_model_free(m2);
	}
	/* one byte short */
	if (truncate(path, 28 + 100) == 0) {
		m2 = eng_model_load(path, NULL, &err);
		TAP_OK(!m2 && strstr(err.msg, "should be"), "truncated llama2.c checkpoint: \"%s\"", err.msg);
		eng_model_free(m2);
	}
	unlink(path);
	m2 = eng_model_load(path, NULL, &err);
	TAP_OK(!m2 && strstr(err.msg, "cannot open"), "missing file: \"%s\"", err.msg);
	eng_model_free(m);
	free(buf);
	tiny_weights_free(&written);
}

/* ---- known values at known places, every dtype ---------------------------------- */

/* A bit pattern and its value, worked out by hand from the format's definition. */
struct known16 {
	uint16_t bits;
	float value;
};

/* binary16: (1024 + frac) * 2^(exp - 25), subnormal frac * 2^-24 */
static const struct known16 f16_known[] = {
	{ 0x3555, 0.333251953125f },	/* exp 13, frac 0x155: 1365 * 2^-12 */
	{ 0xbe00, -1.5f },		/* exp 15, frac 0x200: -1536 * 2^-10 */
	{ 0x0001, 0x1p-24f },		/* smallest subnormal */
	{ 0x83ff, -0x3ffp-24f },	/* largest subnormal, negative: -1023 * 2^-24 */
	{ 0x0400, 0x1p-14f },		/* smallest normal */
	{ 0x2e66, 0.0999755859375f },	/* exp 11, frac 0x266: 1638 * 2^-14 */
};

/* bfloat16: (128 + frac) * 2^(exp - 134), subnormal frac * 2^-133 */
static const struct known16 bf16_known[] = {
	{ 0x3eab, 0.333984375f },	/* exp 0x7d, frac 0x2b: 171 * 2^-9 */
	{ 0xc0a0, -5.0f },		/* exp 0x81, frac 0x20: -160 * 2^-5 */
	{ 0x3dcd, 0.10009765625f },	/* exp 0x7b, frac 0x4d: 205 * 2^-11 */
	{ 0x0001, 0x1p-133f },		/* smallest subnormal */
	{ 0x8080, -0x1p-126f },		/* smallest normal, negative */
};

static const struct {
	uint32_t bits;
	float value;
} f32_known[] = {
	{ 0x3eaaaaab, 0x1.555556p-2f },	/* 1/3 rounded to 24 bits: 0x555556 * 2^-25 */
	{ 0xbfc00000, -1.5f },
	{ 0x00000001, 0x1p-149f },	/* smallest subnormal */
	{ 0x00800000, 0x1p-126f },	/* smallest normal */
};

/*
 * Q8_0 blocks: an f16 scale d, then 32 int8 q; value = d * q.
 * Block A: d = 0x2555 = 1365 * 2^-16, q[i] = i % 15 - 7.
 * Block B: d = 0x0003 = 3 * 2^-24 (an f16 subnormal), q[i] = 100 or -128.
 */
static const struct {
	int block, index;
	float value;
} q8_known[] = {
	{ 0, 0, -0x2553p-16f },		/* q -7: -9555 * 2^-16 = -0.1457977294921875 */
	{ 0, 14, 0x2553p-16f },		/* q 7 */
	{ 0, 20, -0xaaap-16f },		/* q -2: -2730 * 2^-16 = -0.041656494140625 */
	{ 0, 31, -0x1ffep-16f },	/* q -6: -8190 * 2^-16 = -0.124969482421875 */
	{ 1, 0, 0x12cp-24f },		/* q 100: 300 * 2^-24 */
	{ 1, 1, -0x180p-24f },		/* q -128: -384 * 2^-24 */
};

struct planted {
	char name[64];
	uint64_t row, col;
	float value;
};

struct plant_ctx {
	struct planted p[512];
	int n;
	int tensors;
};

static void plant_record(struct plant_ctx *c, const char *name, uint64_t row, uint64_t col, float value)
{
	if (c->n < 512) {
		snprintf(c->p[c->n].name, sizeof(c->p[c->n].name), "%s", name);
		c->p[c->n].row = row;
		c->p[c->n].col = col;
		c->p[c->n].value = value;
		c->n++;
	}
}

/*
 * tiny_edit_fn: every tensor gets each known value of its dtype at its own
 * places (they depend on the tensor's number), so that a loader handing
 * one tensor's data out as another's fails the read-back.
 */
static void plant(void *ctx, const char *name, enum eng_dtype type, uint64_t rows, uint64_t cols,
		  uint8_t *bytes)
{
	struct plant_ctx *c = ctx;
	uint64_t k = (uint64_t)c->tensors++;

	if (type == ENG_Q8_0) {
		uint64_t blocks = cols / 32, row_bytes = blocks * 34;

		for (int b = 0; b < 2; b++) {
			uint64_t r = (k * 5 + 1 + (uint64_t)b) % rows, blk = (k + (uint64_t)b) % blocks;
			uint8_t *p = bytes + r * row_bytes + blk * 34;
			uint16_t d = b == 0 ? 0x2555 : 0x0003;

			memcpy(p, &d, 2);
			for (int i = 0; i < 32; i++)
				p[2 + i] = (uint8_t)(int8_t)(b == 0 ? i % 15 - 7 : i % 2 ? -128 : 100);
			for (size_t j = 0; j < sizeof(q8_known) / sizeof(q8_known[0]); j++)
				if (q8_known[j].block == b)
					plant_record(c, name, r, blk * 32 + (uint64_t)q8_known[j].index,
						     q8_known[j].value);
		}
		return;
	}
	for (uint64_t j = 0;; j++) {
		uint64_t r = (k * 5 + j * 3 + 1) % rows, col = (k * 7 + j * 11 + 3) % cols;
		uint64_t at = r * cols + col;

		if (type == ENG_F32 && j < sizeof(f32_known) / sizeof(f32_known[0])) {
			memcpy(bytes + 4 * at, &f32_known[j].bits, 4);
			plant_record(c, name, r, col, f32_known[j].value);
		} else if (type != ENG_F32 && j < (type == ENG_F16 ? sizeof(f16_known) / sizeof(f16_known[0])
								  : sizeof(bf16_known) / sizeof(bf16_known[0]))) {
			const struct known16 *kn = type == ENG_F16 ? &f16_known[j] : &bf16_known[j];

			memcpy(bytes + 2 * at, &kn->bits, 2);
			plant_record(c, name, r, col, kn->value);
		} else {
			break;
		}
	}
}

/* y = W e_col for n activation rows, all e_col: every y[t][row] must be W[row][col] exactly. */
static int matmul_reads(const struct eng_tensor *t, uint64_t row, uint64_t col, float want)
{
	enum { N = 5 };
	float *x = calloc(N * t->cols, sizeof(float)), *y = calloc(N * t->rows, sizeof(float));
	struct kern_matrix w = { t->data, (enum kern_dtype)t->type, t->cols, t->row_bytes };
	int ok = x && y;

	for (int i = 0; ok && i < N; i++)
		x[i * t->cols + col] = 1.0f;
	for (int n = 1; ok && n <= N; n++) {
		kern_matmul_rows(kern_ops(), &w, row, row + 1, x, t->cols, (uint64_t)n, y, t->rows);
		for (int i = 0; i < n; i++)
			ok &= y[i * t->rows + row] == want;
	}
	free(x);
	free(y);
	return ok;
}

static void test_known_values(enum eng_dtype type)
{
	static struct plant_ctx ctx;
	struct tiny_spec s = tiny_default();
	struct eng_err err = { "" };
	struct gguf_file *gf;
	struct eng_model *m;
	size_t size;
	void *buf;
	int bad_get = 0, bad_row = 0, bad_simd = 0, bad_scalar = 0, bad_where = 0;
	float *row = malloc(sizeof(float) * 512);

	memset(&ctx, 0, sizeof(ctx));
	s.wtype = type;
	s.untied = 1;
	s.edit = plant;
	s.edit_ctx = &ctx;
	buf = tiny_model_gguf(&s, &size);
	gf = buf ? gguf_open_mem(buf, size, &err) : NULL;
	m = gf ? eng_model_from_gguf(gf, &err) : NULL;
	if (!TAP_OK(m && row, "%s model with planted values loads (%s)", eng_dtype_name(type), m ? "ok" : err.msg)) {
		gguf_close(gf);
		free(buf);
		free(row);
		return;
	}
	for (int i = 0; i < ctx.n; i++) {
		const struct planted *p = &ctx.p[i];
		const struct eng_tensor *t = tiny_model_tensor(m, p->name);
		const uint8_t *data;

		if (!t || p->row >= t->rows || p->col >= t->cols || t->cols > 512) {
			bad_where++;
			continue;
		}
		data = (const uint8_t *)t->data + p->row * t->row_bytes;
		if (eng_row_get(data, t->type, p->col) != p->value) {
			if (bad_get++ < 3)
				TAP_NOTE("%s[%llu][%llu]: eng_row_get %a, planted %a", p->name,
					 (unsigned long long)p->row, (unsigned long long)p->col,
					 eng_row_get(data, t->type, p->col), p->value);
		}
		eng_row_to_f32(data, t->type, t->cols, row);
		bad_row += row[p->col] != p->value;
		kern_force_portable(0);
		bad_simd += !matmul_reads(t, p->row, p->col, p->value);
		kern_force_portable(1);
		bad_scalar += !matmul_reads(t, p->row, p->col, p->value);
		kern_force_portable(0);
	}
	TAP_OK(ctx.n >= 20 && bad_where == 0,
	       "%s: %d values planted in %d tensors are found under their tensor's name and shape",
	       eng_dtype_name(type), ctx.n, ctx.tensors);
	TAP_OK(bad_get == 0 && bad_row == 0,
	       "%s: each reads back as its hand-computed float through eng_row_get and eng_row_to_f32 (%d, %d wrong)",
	       eng_dtype_name(type), bad_get, bad_row);
	TAP_OK(bad_simd == 0 && bad_scalar == 0,
	       "%s: and through the matmul kernels, SIMD and scalar, 1-5 activation rows (%d, %d wrong)",
	       eng_dtype_name(type), bad_simd, bad_scalar);
	free(row);
	eng_model_free(m);
	free(buf);
}

/* ---- the edges of the data section, byte by byte -------------------------------- */

struct raw_tensor {
	const char *name;
	uint32_t ggml_type;
	uint64_t cols;		/* one dimension */
	uint64_t offset;
};

/*
 * A GGUF v3 written byte by byte (not by gguf_write): general.alignment,
 * a padding string that makes the header a multiple of 4 bytes, 1D tensors
 * at the given offsets, then data_bytes of data. *data_offset receives
 * where the data section starts.
 */
static uint8_t *raw_gguf(uint32_t align, const struct raw_tensor *t, int n, uint64_t data_bytes,
			 size_t *size, size_t *data_offset)
{
	static const char align_key[] = "general.alignment", pad_key[] = "pad";
	uint64_t head = 24 + (8 + 17 + 4 + 4) + (8 + 3 + 4 + 8), pad, pos = 0, u64;
	uint32_t u32;
	uint8_t *b;

	for (int i = 0; i < n; i++)
		head += 8 + strlen(t[i].name) + 4 + 8 + 4 + 8;
	pad = (4 - head % 4) % 4;
	head += pad;
	*data_offset = (head + align - 1) / align * align;
	*size = *data_offset + data_bytes;
	b = calloc(1, *size);
#define PUT(p, len) (memcpy(b + pos, (p), (len)), pos += (len))
	PUT("GGUF", 4);
	u32 = 3;
	PUT(&u32, 4);
	u64 = (uint64_t)n;
	PUT(&u64, 8);
	u64 = 2;
	PUT(&u64, 8);
	u64 = 17;
	PUT(&u64, 8);
	PUT(align_key, 17);
	u32 = GGUF_TYPE_UINT32;
	PUT(&u32, 4);
	PUT(&align, 4);
	u64 = 3;
	PUT(&u64, 8);
	PUT(pad_key, 3);
	u32 = GGUF_TYPE_STRING;
	PUT(&u32, 4);
	PUT(&pad, 8);
	PUT("    ", pad);
	for (int i = 0; i < n; i++) {
		u64 = strlen(t[i].name);
		PUT(&u64, 8);
		PUT(t[i].name, u64);
		u32 = 1;
		PUT(&u32, 4);
		PUT(&t[i].cols, 8);
		PUT(&t[i].ggml_type, 4);
		PUT(&t[i].offset, 8);
	}
#undef PUT
	for (uint64_t i = *data_offset; i < *size; i++)
		b[i] = (uint8_t)(i * 7);
	return b;
}

/* Opens the raw file; returns the error text, or NULL when it was accepted (data pointers checked). */
static const char *raw_error(uint32_t align, const struct raw_tensor *t, int n, uint64_t data_bytes)
{
	static struct eng_err err;
	size_t size, data_offset;
	uint8_t *b = raw_gguf(align, t, n, data_bytes, &size, &data_offset);
	struct gguf_file *gf;
	const char *result = NULL;

	memset(&err, 0, sizeof(err));
	gf = gguf_open_mem(b, size, &err);
	if (!gf) {
		result = err.msg;
	} else {
		for (int i = 0; i < n; i++) {
			const struct gguf_tensor *gt = gguf_find_tensor(gf, t[i].name);

			if (!gt || gt->data != b + data_offset + t[i].offset) {
				snprintf(err.msg, sizeof(err.msg), "accepted, but tensor '%s' does not point at its bytes",
					 t[i].name);
				result = err.msg;
			}
		}
		gguf_close(gf);
	}
	free(b);
	return result;
}

static void expect_raw(const char *want, uint32_t align, const struct raw_tensor *t, int n,
		       uint64_t data_bytes, const char *what)
{
	const char *msg = raw_error(align, t, n, data_bytes);

	if (!want)
		TAP_OK(msg == NULL, "%s: accepted%s%s", what, msg ? ": " : "", msg ? msg : "");
	else
		TAP_OK(msg && strstr(msg, want), "%s: \"%s\"", what, msg ? msg : "(accepted!)");
}

static void test_data_section_edges(void)
{
	/* F32 a: 8 columns = 32 bytes at 0; b: 16 columns = 64 bytes right after */
	struct raw_tensor two[2] = { { "a", GGML_TYPE_F32, 8, 0 }, { "b", GGML_TYPE_F32, 16, 32 } };
	/* F16, 16 columns = 32 bytes each; listed out of offset order */
	struct raw_tensor three[3] = { { "c", GGML_TYPE_F16, 16, 64 }, { "a", GGML_TYPE_F16, 16, 0 },
				       { "b", GGML_TYPE_F16, 16, 32 } };

	expect_raw(NULL, 32, two, 2, 96, "last tensor ends exactly at the end of the file");
	expect_raw("tensor 'b' data [32, +64) lies outside the file's data section (95 bytes)", 32, two, 2, 95,
		   "last tensor one byte short of the end of the file");
	two[1].offset = 96;
	expect_raw("tensor 'b' data [96, +64) lies outside the file's data section (96 bytes)", 32, two, 2, 96,
		   "tensor offset equal to the data size");
	two[1].offset = 64;
	expect_raw(NULL, 32, two, 2, 128, "a gap between tensors is allowed");

	expect_raw(NULL, 2, three, 3, 96, "three F16 tensors back to back (alignment 2)");
	three[2].offset = 30;
	expect_raw("tensors 'a' and 'b' overlap in the data section", 2, three, 3, 96,
		   "one F16 element (2 bytes) of overlap");
	/*
	 * Every dtype's rows are an even number of bytes and its data must be
	 * 2-byte aligned in memory, so two tensors cannot overlap by one byte
	 * without one of them being misaligned: that is what rejects it.
	 */
	three[2].offset = 31;
	expect_raw("tensor 'b' data is not 2-byte aligned in memory", 1, three, 3, 96,
		   "one byte of overlap (alignment 1)");
	three[2].offset = 32;
	three[0].offset = 62;
	expect_raw("tensors 'b' and 'c' overlap in the data section", 2, three, 3, 94,
		   "overlap of the last two tensors, exact-fit file");
}

/* The tiny model cut at exactly the end of its last tensor loads; one byte less does not. */
static void test_exact_fit(void)
{
	struct eng_err err = { "" };
	struct gguf_file *gf = gguf_open_mem(image, image_size, &err);
	uint64_t end = 0, last_len = 0;
	const char *last = "";
	const char *msg;
	char want[320];

	if (!TAP_OK(gf != NULL, "baseline parses for the exact-fit check %s", err.msg))
		return;
	for (uint64_t i = 0; i < gf->n_tensors; i++)
		if (gf->tensors[i].offset + gf->tensors[i].nbytes > end) {
			end = gf->tensors[i].offset + gf->tensors[i].nbytes;
			last = gf->tensors[i].name.ptr;
			last_len = gf->tensors[i].name.len;
		}
	end += gf->data_offset;
	TAP_OK(end <= image_size && load_error(image, end) == NULL,
	       "tiny model ending right after its last tensor (byte %llu of %zu) loads", (unsigned long long)end,
	       image_size);
	snprintf(want, sizeof(want), "tensor '%.*s' data", (int)last_len, last);
	msg = load_error(image, end - 1);
	TAP_OK(msg && strstr(msg, want) && strstr(msg, "lies outside the file's data section"),
	       "one byte less: \"%s\"", msg ? msg : "(loaded!)");
	gguf_close(gf);
}

static void test_bad_headers(void)
{
	uint32_t u32;
	uint64_t u64;
	uint8_t *b;
	size_t off;

	expect_error(image, 10, "truncated GGUF header", "10-byte file");
	expect_error(image, 0, "truncated GGUF header", "empty file");
	b = patched(0, "GGML", 4);
	expect_error(b, image_size, "bad magic", "wrong magic");
	free(b);
	u32 = 1;
	b = patched(4, &u32, 4);
	expect_error(b, image_size, "unsupported GGUF version 1", "version 1");
	free(b);
	u32 = 99;
	b = patched(4, &u32, 4);
	expect_error(b, image_size, "unsupported GGUF version 99", "version 99");
	free(b);
	u64 = 1ull << 60;
	b = patched(8, &u64, 8);
	expect_error(b, image_size, "tensor count", "huge tensor count");
	free(b);
	b = patched(16, &u64, 8);
	expect_error(b, image_size, "metadata count", "huge metadata count");
	free(b);
	u64 = 1ull << 40;
	b = patched(24, &u64, 8);	/* length of the first key */
	expect_error(b, image_size, "runs past the end of the file", "key string past end of file");
	free(b);
	expect_error(image, 1000, "truncated file", "file cut inside the tensor table");

	off = tensor_info("blk.1.attn_v.weight");
	TAP_OK(off != 0, "found the tensor info of blk.1.attn_v.weight");
	u32 = 5;
	b = patched(off, &u32, 4);
	expect_error(b, image_size, "n_dims 5", "tensor with 5 dims");
	free(b);
	u32 = 2;			/* Q4_0 */
	b = patched(off + 4 + 16, &u32, 4);
	expect_error(b, image_size, "unsupported type Q4_0", "tensor of an unsupported dtype");
	free(b);
	u32 = 77;
	b = patched(off + 4 + 16, &u32, 4);
	expect_error(b, image_size, "unsupported type unknown (77)", "tensor of an unknown dtype");
	free(b);
	u64 = 0;
	b = patched(off + 4, &u64, 8);
	expect_error(b, image_size, "dimension 0 is 0", "zero dimension");
	free(b);
	memcpy(&u64, image + off + 4 + 16 + 4, 8);
	u64 += 4;
	b = patched(off + 4 + 16 + 4, &u64, 8);
	expect_error(b, image_size, "not a multiple of the alignment", "misaligned tensor offset");
	free(b);
	u64 = 1ull << 36;
	b = patched(off + 4 + 16 + 4, &u64, 8);
	expect_error(b, image_size, "outside the file's data section", "tensor offset beyond the file");
	free(b);
	u64 = 0;			/* token_embd is at offset 0 */
	b = patched(off + 4 + 16 + 4, &u64, 8);
	expect_error(b, image_size, "overlap", "two tensors over the same bytes");
	free(b);
	expect_error(image, image_size - 64, "outside the file's data section", "file cut inside the last tensor");
}

static void test_bad_models(void)
{
	struct tiny_spec s = tiny_default();

	s.omit_tensor = "blk.1.ffn_up.weight";
	expect_spec_error(s, "missing tensor 'blk.1.ffn_up.weight'", "missing tensor");
	s = tiny_default();
	s.omit_tensor = "output_norm.weight";
	expect_spec_error(s, "missing tensor 'output_norm.weight'", "missing output norm");
	s = tiny_default();
	s.reshape_tensor = "blk.0.attn_k.weight";
	expect_spec_error(s, "'blk.0.attn_k.weight' has wrong shape", "wrong shape");
	s = tiny_default();
	s.heads = 3;		/* written as head_count; 64 % 3 != 0 */
	s.kv_heads = 1;
	expect_spec_error(s, "inconsistent heads", "embedding not a multiple of heads");
	s = tiny_default();
	s.heads_kv_field = 3;
	expect_spec_error(s, "inconsistent heads: head count 4 is not a multiple of KV head count 3",
			  "heads not a multiple of KV heads");
	s = tiny_default();
	s.omit_key = "llama.block_count";
	expect_spec_error(s, "missing metadata 'llama.block_count'", "missing hyperparameter");
	s = tiny_default();
	s.arch = "gpt2";
	expect_spec_error(s, "architecture 'gpt2' is not supported", "other architecture");
	s = tiny_default();
	s.hidden = 0;
	expect_spec_error(s, "dimension 1 is 0", "zero-sized feed-forward tensors");
}

static void test_bad_metadata(void)
{
	struct eng_err err;
	void *buf;
	size_t size;
	struct gguf_writer *w;
	const char *toks[2] = { "a", "b" };
	float one = 1;

	w = gguf_writer_new();
	gguf_w_u32(w, "x", 1);
	gguf_w_u32(w, "x", 2);
	gguf_writer_to_mem(w, &buf, &size, &err);
	gguf_writer_free(w);
	expect_error(buf, size, "'x' appears more than once", "duplicate key");
	free(buf);

	w = gguf_writer_new();
	gguf_w_str(w, "general.architecture", "llama");
	gguf_w_str(w, "llama.embedding_length", "sixty-four");
	gguf_writer_to_mem(w, &buf, &size, &err);
	gguf_writer_free(w);
	expect_error(buf, size, "expected an integer", "hyperparameter of the wrong type");
	free(buf);

	w = gguf_writer_new();
	gguf_w_u32(w, "general.alignment", 24);
	gguf_writer_to_mem(w, &buf, &size, &err);
	gguf_writer_free(w);
	expect_error(buf, size, "not a power of two", "alignment 24");
	free(buf);

	{
		uint64_t ne[1] = { 4 };
		float data[4] = { 0 };

		w = gguf_writer_new();
		gguf_w_tensor(w, "t", ENG_F32, 1, ne, data);
		gguf_w_tensor(w, "t", ENG_F32, 1, ne, data);
		gguf_writer_to_mem(w, &buf, &size, &err);
		gguf_writer_free(w);
		expect_error(buf, size, "'t' appears more than once", "duplicate tensor name");
		free(buf);
	}

	/* tokenizer arrays that disagree: only seen when opening the vocabulary */
	w = gguf_writer_new();
	gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
	gguf_w_arr_f32(w, "tokenizer.ggml.scores", &one, 1);
	gguf_writer_to_mem(w, &buf, &size, &err);
	gguf_writer_free(w);
	{
		struct gguf_file *gf = gguf_open_mem(buf, size, &err);
		struct eng_tokenizer *t = NULL;

		TAP_OK(gf && eng_tokenizer_from_gguf(gf, &t, &err) != 0 && strstr(err.msg, "one score per token"),
		       "scores array shorter than tokens: \"%s\"", err.msg);
		gguf_close(gf);
	}
	free(buf);

	{
		int32_t bad_types[2] = { 1, 65542 };
		struct gguf_file *gf;
		struct eng_tokenizer *t = NULL;

		w = gguf_writer_new();
		gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
		gguf_w_arr_i32(w, "tokenizer.ggml.token_type", bad_types, 2);
		gguf_writer_to_mem(w, &buf, &size, &err);
		gguf_writer_free(w);
		gf = gguf_open_mem(buf, size, &err);
		TAP_OK(gf && eng_tokenizer_from_gguf(gf, &t, &err) != 0 && strstr(err.msg, "unknown token type 65542"),
		       "token type out of range (found by the fuzzer): \"%s\"", err.msg);
		gguf_close(gf);
		free(buf);
	}

	/* nested array: hand-made */
	{
		uint8_t raw[64] = { 'G', 'G', 'U', 'F', 3 };
		size_t p = 8 + 8;
		uint64_t one64 = 1, keylen = 1;
		uint32_t arr = GGUF_TYPE_ARRAY;

		memcpy(raw + p, &one64, 8); p += 8;
		memcpy(raw + p, &keylen, 8); p += 8;
		raw[p++] = 'k';
		memcpy(raw + p, &arr, 4); p += 4;
		memcpy(raw + p, &arr, 4); p += 4;
		memcpy(raw + p, &one64, 8); p += 8;
		expect_error(raw, p + 8, "nests arrays", "array of arrays");
	}
}

int main(void)
{
	struct tiny_spec s = tiny_default();

	image = tiny_model_gguf(&s, &image_size);
	TAP_OK(image != NULL && load_error(image, image_size) == NULL, "baseline tiny model loads");
	test_valid();
	test_defaults_when_keys_absent();
	test_known_values(ENG_F32);
	test_known_values(ENG_F16);
	test_known_values(ENG_BF16);
	test_known_values(ENG_Q8_0);
	test_llama2c();
	test_bad_headers();
	test_data_section_edges();
	test_exact_fit();
	test_bad_models();
	test_bad_metadata();
	free(image);
	return tap_done();
}
