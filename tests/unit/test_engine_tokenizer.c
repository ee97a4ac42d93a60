// SPDX-License-Identifier: MIT
/*
 * test_engine_tokenizer - the SPM tokenizer against llama.cpp's own test
 * vectors (tests/data/llama-vocab, or $WSE_LLAMA_VOCAB_DIR), the same
 * vocabulary re-exported as a llama2.c tokenizer.bin, and the streaming
 * detokenizer's UTF-8 handling. Missing vectors are a failure, not a skip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/tokenizer.h"
#include "tests/tap.h"
#include "tests/util.h"

#define SEPARATOR "\n__ggml_vocab_test__\n"
#define MAX_TESTS 64

struct vector {
	const char *text;
	size_t len;
	int32_t ids[512];
	int n_ids;
};

static int load_vectors(const char *dir, struct vector *v, char **inp_buf, char **out_buf)
{
	char path[4096];
	size_t inp_len, out_len;
	char *p, *end, *line;
	int n = 0;

	snprintf(path, sizeof(path), "%s/ggml-vocab-llama-spm.gguf.inp", dir);
	*inp_buf = test_read_file(path, &inp_len);
	snprintf(path, sizeof(path), "%s/ggml-vocab-llama-spm.gguf.out", dir);
	*out_buf = test_read_file(path, &out_len);
	if (!*inp_buf || !*out_buf)
		return -1;
	p = *inp_buf;
	end = p + inp_len;
	while (p < end && n < MAX_TESTS) {
		char *sep = memmem(p, (size_t)(end - p), SEPARATOR, strlen(SEPARATOR));

		if (!sep)
			break;
		v[n].text = p;
		v[n].len = (size_t)(sep - p);
		n++;
		p = sep + strlen(SEPARATOR);
	}
	line = *out_buf;
	for (int i = 0; i < n; i++) {
		char *nl = strchr(line, '\n');
		char *tok, *save;

		if (!nl)
			return -1;
		*nl = 0;
		v[i].n_ids = 0;
		for (tok = strtok_r(line, " ", &save); tok && v[i].n_ids < 512; tok = strtok_r(NULL, " ", &save))
			v[i].ids[v[i].n_ids++] = (int32_t)strtol(tok, NULL, 10);
		line = nl + 1;
	}
	return n;
}

static int check_vectors(struct eng_tokenizer *tok, const struct vector *v, int n, const char *label)
{
	int all_ok = 1;

	for (int i = 0; i < n; i++) {
		int32_t got[1024];
		int m = eng_tokenize(tok, v[i].text, v[i].len, 0, got, 1024);
		int ok = m == v[i].n_ids && memcmp(got, v[i].ids, (size_t)m * sizeof(int32_t)) == 0;

		if (!ok) {
			TAP_NOTE("%s vector %d: got %d tokens, want %d", label, i, m, v[i].n_ids);
			for (int k = 0; k < m && k < 1024 && k < 40; k++)
				printf("#  got[%d]=%d want=%d\n", k, got[k], k < v[i].n_ids ? v[i].ids[k] : -1);
		}
		all_ok &= ok;
		TAP_OK(ok, "%s: vector %d (%zu bytes) -> %d tokens", label, i, v[i].len, v[i].n_ids);
	}
	return all_ok;
}

static void test_roundtrip(struct eng_tokenizer *tok, const struct vector *v, int n)
{
	int good = 0;

	for (int i = 0; i < n; i++) {
		int32_t ids[1024];
		char out[8192], piece[ENG_DETOK_BUF];
		size_t len = 0;
		struct eng_detok d;
		int m = eng_tokenize(tok, v[i].text, v[i].len, 1, ids, 1024);

		eng_detok_init(&d, tok);
		for (int k = 0; k < m; k++) {
			size_t got = eng_detok_push(&d, ids[k], piece);

			memcpy(out + len, piece, got);
			len += got;
		}
		len += eng_detok_flush(&d, out + len);
		if (len == v[i].len && memcmp(out, v[i].text, len) == 0)
			good++;
		else
			TAP_NOTE("round trip %d differs: '%.*s'", i, (int)len, out);
	}
	TAP_OK(good == n, "tokenize(BOS + text) then streamed detokenize gives the text back (%d/%d)", good, n);
}

static void test_utf8_streaming(struct eng_tokenizer *tok)
{
	/* 🦙 is F0 9F A6 99, byte tokens are value + 3 in this vocabulary */
	const int32_t llama[4] = { 0xf0 + 3, 0x9f + 3, 0xa6 + 3, 0x99 + 3 };
	char out[ENG_DETOK_BUF];
	struct eng_detok d;
	size_t n[4];

	eng_detok_init(&d, tok);
	for (int i = 0; i < 4; i++)
		n[i] = eng_detok_push(&d, llama[i], out);
	TAP_OK(n[0] == 0 && n[1] == 0 && n[2] == 0 && n[3] == 4 && memcmp(out, "\xf0\x9f\xa6\x99", 4) == 0,
	       "a 4-byte character split over byte tokens is held until complete");

	eng_detok_init(&d, tok);
	n[0] = eng_detok_push(&d, 0xff + 3, out);
	TAP_OK(n[0] == 3 && memcmp(out, "\xef\xbf\xbd", 3) == 0, "byte 0xFF (never valid UTF-8) becomes U+FFFD");

	eng_detok_init(&d, tok);
	n[0] = eng_detok_push(&d, 0xe2 + 3, out);
	n[1] = eng_detok_push(&d, 'A' + 3, out);
	TAP_OK(n[0] == 0 && n[1] == 4 && memcmp(out, "\xef\xbf\xbd" "A", 4) == 0,
	       "an interrupted sequence becomes U+FFFD followed by the next character");

	eng_detok_init(&d, tok);
	eng_detok_push(&d, 0xe2 + 3, out);
	n[0] = eng_detok_flush(&d, out);
	TAP_OK(n[0] == 3, "flush turns an unfinished sequence into U+FFFD");

	eng_detok_init(&d, tok);
	n[0] = eng_detok_push(&d, 1, out);		/* <s> */
	n[1] = eng_detok_push(&d, 15043, out);		/* ▁Hello */
	TAP_OK(n[0] == 0 && n[1] == 5 && memcmp(out, "Hello", 5) == 0,
	       "BOS prints nothing and the leading space after it is dropped");
	n[0] = eng_detok_push(&d, 3186, out);		/* ▁world */
	TAP_OK(n[0] == 6 && memcmp(out, " world", 6) == 0, "later tokens keep their space");
	n[0] = eng_detok_push(&d, 2, out);		/* </s> */
	TAP_OK(n[0] == 0, "EOS prints nothing");
}

/* Re-export the GGUF vocabulary the way llama2.c's tokenizer.py does. */
static int write_llama2c_tokenizer(struct eng_tokenizer *tok, const char *path)
{
	FILE *f = fopen(path, "wb");
	int32_t max_len = 0;
	uint32_t n = eng_tokenizer_vocab_size(tok);

	if (!f)
		return -1;
	fwrite(&max_len, 4, 1, f);
	for (uint32_t i = 0; i < n; i++) {
		size_t len;
		const char *t = eng_token_text(tok, (int32_t)i, &len);
		char buf[4096];
		size_t m = 0;
		float score = 0;
		int32_t l;

		score = eng_token_score(tok, (int32_t)i);
		if (i == 1) {
			t = "\n<s>\n";
			len = 5;
		} else if (i == 2) {
			t = "\n</s>\n";
			len = 6;
		}
		for (size_t k = 0; k < len;) {
			if (len - k >= 3 && memcmp(t + k, "\xe2\x96\x81", 3) == 0) {
				buf[m++] = ' ';
				k += 3;
			} else {
				buf[m++] = t[k++];
			}
		}
		l = (int32_t)m;
		fwrite(&score, 4, 1, f);
		fwrite(&l, 4, 1, f);
		fwrite(buf, 1, m, f);
	}
	return fclose(f);
}

int main(void)
{
	const char *dir = getenv("WSE_LLAMA_VOCAB_DIR");
	struct vector *v = calloc(MAX_TESTS, sizeof(*v));
	char *inp = NULL, *outb = NULL, path[4096], tmp[] = "/tmp/wse-tok-XXXXXX";
	struct eng_tokenizer *tok, *tok2 = NULL;
	struct eng_err err = { "" };
	int n;

	/* Tests run from the top of the checkout (tests/run-suite). */
	if (!dir)
		dir = "tests/data/llama-vocab";
	n = load_vectors(dir, v, &inp, &outb);
	TAP_OK(n == 46, "read 46 test vectors from %s (got %d)", dir, n);
	snprintf(path, sizeof(path), "%s/ggml-vocab-llama-spm.gguf", dir);
	tok = eng_tokenizer_load(path, &err);
	TAP_OK(tok != NULL, "vocab-only GGUF opens as a tokenizer: %s", tok ? "ok" : err.msg);
	if (!tok || n <= 0) {
		eng_tokenizer_free(tok);
		free(inp);
		free(outb);
		free(v);
		return tap_done();
	}
	TAP_OK(eng_tokenizer_vocab_size(tok) == 32000 && eng_tokenizer_bos(tok) == 1 &&
	       eng_tokenizer_eos(tok) == 2 && eng_tokenizer_add_bos(tok) == 1,
	       "vocab size 32000, bos 1, eos 2, add_bos");
	check_vectors(tok, v, n, "gguf");
	{
		int32_t ids[4];
		int m = eng_tokenize(tok, "Hello world", 11, 1, ids, 4);

		TAP_OK(m == 3 && ids[0] == 1 && ids[1] == 15043 && ids[2] == 3186, "add_bos puts <s> first");
		m = eng_tokenize(tok, "Hello world", 11, 1, ids, 1);
		TAP_OK(m == 3 && ids[0] == 1, "a short buffer reports the count needed");
	}
	test_roundtrip(tok, v, n);
	test_utf8_streaming(tok);

	{
		int fd = mkstemp(tmp);

		if (fd >= 0)
			close(fd);
		TAP_OK(fd >= 0 && write_llama2c_tokenizer(tok, tmp) == 0, "wrote a llama2.c tokenizer.bin");
		TAP_OK(eng_tokenizer_from_llama2c(tmp, 32000, &tok2, &err) == 0,
		       "llama2.c tokenizer.bin loads: %s", tok2 ? "ok" : err.msg);
		if (tok2)
			check_vectors(tok2, v, n, "tokenizer.bin");
		TAP_OK(eng_tokenizer_from_llama2c(tmp, 40000, &tok2, &err) != 0 && strstr(err.msg, "truncated"),
		       "tokenizer.bin shorter than the vocabulary is rejected: %s", err.msg);
		unlink(tmp);
	}
	eng_tokenizer_free(tok2);
	eng_tokenizer_free(tok);
	free(inp);
	free(outb);
	free(v);
	return tap_done();
}
