// SPDX-License-Identifier: MIT
/*
 * test_engine_gguf - the model loader: a valid tiny GGUF and llama2.c
 * checkpoint load with the right hyperparameters and weights, and every kind
 * of broken file is refused with a message that names the problem.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/ref.h"
#include "engine/tokenizer.h"
#include "tests/tap.h"
#include "tests/unit/engine_tiny_model.h"

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

/* The same weights as a llama2.c checkpoint must give the same logits. */
static void test_llama2c(void)
{
	struct tiny_spec s = tiny_default();
	struct eng_err err = { "" };
	char path[] = "/tmp/wse-l2c-XXXXXX";
	struct gguf_file *gf;
	struct eng_model *m, *m2;
	size_t size;
	void *buf;
	FILE *f;
	int fd;

	s.untied = 1;
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
		struct eng_ref *r1 = eng_ref_create(m, 8), *r2 = eng_ref_create(m2, 8);
		float a[300], b[300];
		int same = 1;

		for (uint32_t p = 0; p < 4; p++) {
			eng_ref_forward(r1, (int32_t)(p * 31 + 2), p, a);
			eng_ref_forward(r2, (int32_t)(p * 31 + 2), p, b);
			same &= memcmp(a, b, sizeof(a)) == 0;
		}
		TAP_OK(same && !m2->tied_output, "llama2.c checkpoint gives the same logits as the GGUF");
		eng_ref_free(r1);
		eng_ref_free(r2);
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
	test_llama2c();
	test_bad_headers();
	test_bad_models();
	test_bad_metadata();
	free(image);
	return tap_done();
}
