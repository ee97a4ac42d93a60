// SPDX-License-Identifier: MIT
/*
 * fuzz_gguf - libFuzzer target for everything that reads an untrusted model
 * file: the GGUF parser, the Llama model checks and the tokenizer (including
 * a vocab-only file), then a short tokenize/detokenize round through the
 * tokenizer if one loaded. Build and run with `make fuzz` (clang).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise_tokenizer(const struct eng_tokenizer *tok)
{
	static const char text[] = "Hello  w\xc3\xb6rld \xf0\x9f\xa6\x99\n\xff";
	int32_t ids[128];
	char out[ENG_DETOK_BUF];
	struct eng_detok d;
	int n = eng_tokenize(tok, text, sizeof(text) - 1, 1, ids, 128);

	eng_detok_init(&d, tok);
	for (int i = 0; i < n && i < 128; i++)
		eng_detok_push(&d, ids[i], out);
	eng_detok_flush(&d, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eng_err err;
	/* a private copy: the parser may keep pointers, and alignment must be realistic */
	uint8_t *copy = malloc(size ? size : 1);
	struct gguf_file *gf;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	gf = gguf_open_mem(copy, size, &err);
	if (gf) {
		struct eng_tokenizer *tok = NULL;
		struct eng_model *m;

		if (eng_tokenizer_from_gguf(gf, &tok, &err) == 0) {
			exercise_tokenizer(tok);
			eng_tokenizer_free(tok);
		}
		m = eng_model_from_gguf(gf, &err);
		if (m) {
			/* touch the first and last byte of every weight the model points at */
			volatile uint8_t sink = 0;

			for (uint32_t l = 0; l < m->hp.n_layers; l++) {
				const struct eng_tensor *t = &m->layers[l].w_down;

				sink ^= ((const uint8_t *)t->data)[0];
				sink ^= ((const uint8_t *)t->data)[t->rows * t->row_bytes - 1];
			}
			(void)sink;
			eng_model_free(m);	/* closes gf */
		} else {
			gguf_close(gf);
		}
	}
	free(copy);
	return 0;
}
