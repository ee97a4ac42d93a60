// SPDX-License-Identifier: MIT
/*
 * gen_corpus - writes the seed corpus of fuzz_gguf into a directory: small
 * valid models (with a vocabulary, several dtypes), a vocab-only file, and
 * broken variants. `make fuzz-corpus` runs it; keep the total tiny.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/engine_tiny_model.h"

static int save(const char *dir, const char *name, const void *buf, size_t size)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (tiny_write_file(path, buf, size)) {
		fprintf(stderr, "gen_corpus: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tiny_spec s = tiny_default();
	size_t size;
	uint8_t *buf, *copy;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	s.dim = 32;
	s.hidden = 32;
	s.heads = 2;
	s.kv_heads = 1;
	s.layers = 1;
	s.vocab = 272;
	s.with_vocab = 1;
	s.wtype = ENG_F16;
	buf = tiny_model_gguf(&s, &size);
	if (!buf)
		return 1;
	rc |= save(argv[1], "valid_f16.gguf", buf, size);
	rc |= save(argv[1], "truncated_half.gguf", buf, size / 2);
	rc |= save(argv[1], "truncated_header.gguf", buf, 20);
	copy = malloc(size);
	memcpy(copy, buf, size);
	memcpy(copy, "GGUX", 4);
	rc |= save(argv[1], "bad_magic.gguf", copy, 64);
	memcpy(copy, buf, size);
	copy[16] = 0xff;	/* metadata count low byte */
	copy[22] = 0x10;
	rc |= save(argv[1], "huge_kv_count.gguf", copy, size);
	free(copy);
	free(buf);

	s.with_vocab = 0;
	s.wtype = ENG_Q8_0;
	s.untied = 1;
	s.vocab = 40;
	buf = tiny_model_gguf(&s, &size);
	rc |= buf ? save(argv[1], "valid_q8_0_untied.gguf", buf, size) : -1;
	free(buf);

	s.wtype = ENG_BF16;
	s.untied = 0;
	s.omit_tensor = "blk.0.ffn_up.weight";
	buf = tiny_model_gguf(&s, &size);
	rc |= buf ? save(argv[1], "missing_tensor.gguf", buf, size) : -1;
	free(buf);

	/* vocab-only: a tokenizer and no tensors */
	{
		struct gguf_writer *w = gguf_writer_new();
		const char *tokens[] = { "<unk>", "<s>", "</s>", "<0x0A>", "\xe2\x96\x81", "\xe2\x96\x81h", "hi", "i" };
		float scores[] = { 0, 0, 0, 0, -1, -2, -3, -4 };
		int32_t types[] = { 2, 3, 3, 6, 1, 1, 1, 1 };
		struct eng_err err;
		void *v;

		gguf_w_str(w, "tokenizer.ggml.model", "llama");
		gguf_w_arr_str(w, "tokenizer.ggml.tokens", tokens, 8);
		gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, 8);
		gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, 8);
		gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
		gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 1);
		if (gguf_writer_to_mem(w, &v, &size, &err) == 0) {
			rc |= save(argv[1], "vocab_only.gguf", v, size);
			free(v);
		}
		gguf_writer_free(w);
	}
	return rc ? 1 : 0;
}
