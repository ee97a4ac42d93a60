/* SPDX-License-Identifier: MIT */
/*
 * test_train_run.c - the trainer end to end on a small synthetic corpus in
 * the bible-kjv-text line format: split, BPE + the engine's tokenizer,
 * loss going down, determinism across thread counts, resume, GGUF export
 * read back by the engine (reference forward and cpu backend give the
 * trainer's logits), scoring, and bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/ref.h"
#include "engine/tokenizer.h"
#include "engine/train/bpe.h"
#include "engine/train/kjv.h"
#include "engine/train/train.h"
#include "tests/tap.h"

/* Logit agreement between trainer and engine (both fp32 arithmetic, different sum orders). */
#define LOGIT_TOL 2e-3f

static const char *words[] = {
	"and", "the", "lord", "said", "unto", "moses", "of", "israel", "children", "land",
	"god", "made", "heaven", "earth", "light", "waters", "day", "night", "king", "house",
	"behold", "thou", "shalt", "not", "which", "were", "upon", "face", "deep", "spirit",
};

static char *synthetic_corpus(void)
{
	size_t cap = 1 << 20, len = 0;
	char *t = malloc(cap);
	uint64_t s = 99;

	len += (size_t)snprintf(t + len, cap - len, "Holy Bible, a title line that is not a verse.\n");
	for (int book = 0; book < 21; book++)
		for (int v = 1; v <= 12; v++) {
			int n = 6 + (int)(s % 9);

			len += (size_t)snprintf(t + len, cap - len, "%c%c%d:%d", 'A' + book % 26, 'b',
						1 + v / 5, v);
			for (int w = 0; w < n; w++) {
				s = s * 6364136223846793005ull + 1442695040888963407ull;
				/* a learnable pattern: each word mostly predicts the next */
				len += (size_t)snprintf(t + len, cap - len, " %s",
							words[(w * 7 + (int)((s >> 33) % 3)) % 30]);
			}
			len += (size_t)snprintf(t + len, cap - len, ".\n");
		}
	return t;
}

static struct tr_options tiny_options(int vocab)
{
	struct tr_options o;

	tr_options_default(&o);
	o.cfg = (struct tr_config){ .dim = 16, .hidden = 24, .n_layers = 2, .n_heads = 2,
				    .n_kv_heads = 1, .vocab = vocab, .seq_len = 16,
				    .rope_theta = 10000.0f, .rms_eps = 1e-5f };
	o.batch = 4;
	o.steps = 40;
	o.warmup = 4;
	o.lr = 1e-2f;
	o.threads = 1;
	o.seed = 5;
	return o;
}

static int same_params(struct tr_trainer *a, struct tr_trainer *b)
{
	struct tr_model *ma = tr_trainer_model(a), *mb = tr_trainer_model(b);

	return ma->n_params == mb->n_params &&
	       memcmp(ma->p, mb->p, ma->n_params * sizeof(float)) == 0;
}

static void run_steps(struct tr_trainer *t, int n)
{
	for (int i = 0; i < n; i++)
		tr_trainer_step(t, NULL, NULL);
}

static void test_bad_inputs(void)
{
	struct eng_err err = { "" };
	char *text;
	size_t len;
	char path[] = "/tmp/wse-train-test-XXXXXX";
	int fd = mkstemp(path);
	struct tr_corpus c;

	TAP_OK(kjv_read("/nonexistent/bible.data", &text, &len, &err) == -1 && err.msg[0],
	       "missing corpus file: %s", err.msg);
	if (fd >= 0) {
		if (write(fd, "EC02 but far too short", 22) != 22)
			TAP_NOTE("short write");
		close(fd);
	}
	TAP_OK(kjv_read(path, &text, &len, &err) == -1, "truncated EC02 file refused: %s", err.msg);
	remove(path);
	TAP_OK(tr_corpus_from_text(strdup("no references here\nnone at all\n"), &c, &err) == -1,
	       "text without verses refused: %s", err.msg);
	{
		struct bpe_vocab v;

		TAP_OK(bpe_train("a b", 3, 100, &v, &err) == -1, "absurd vocab size refused: %s", err.msg);
	}
}

static void test_real_corpus_if_present(void)
{
	struct eng_err err = { "" };
	struct tr_corpus c;

	if (access(KJV_DEFAULT_PATH, R_OK) != 0) {
		TAP_OK(1, "bible-kjv-text not installed; real-corpus check skipped");
		return;
	}
	if (!TAP_OK(tr_corpus_load(KJV_DEFAULT_PATH, &c, &err) == 0, "KJV decompresses and splits (%s)",
		    err.msg))
		return;
	TAP_OK(c.n_books == 66 && c.train.n + c.heldout.n == 31102,
	       "66 books and 31102 verses (%d, %zu)", c.n_books, c.train.n + c.heldout.n);
	TAP_OK(strcmp(c.train.text[0], "In the beginning God created the heaven and the earth.") == 0,
	       "first verse has its reference stripped: '%s'", c.train.text[0]);
	TAP_OK(strncmp(c.heldout.text[0], "The proverbs of Solomon", 23) == 0,
	       "held-out starts with Proverbs");
	tr_corpus_free(&c);
}

int main(void)
{
	struct eng_err err = { "" };
	struct tr_corpus corpus;
	struct bpe_vocab vocab;
	struct eng_tokenizer *tok;
	struct tr_stream train_s, held_s;
	struct tr_options o;
	struct tr_trainer *a, *b, *c;
	char *text;
	size_t len;
	char ckpt[] = "/tmp/wse-train-ckpt-XXXXXX", gguf[] = "/tmp/wse-train-gguf-XXXXXX";

	test_bad_inputs();
	test_real_corpus_if_present();

	if (!TAP_OK(tr_corpus_from_text(synthetic_corpus(), &corpus, &err) == 0, "synthetic corpus splits (%s)",
		    err.msg))
		return tap_done();
	TAP_OK(corpus.n_books == 21 && corpus.heldout.n == 12 && corpus.train.n == 20 * 12,
	       "book 19 (0-based) is held out: %d books, %zu held-out verses", corpus.n_books,
	       corpus.heldout.n);
	TAP_OK(corpus.train.text[0][0] >= 'a' && corpus.train.text[0][0] <= 'z' &&
	       strchr(corpus.train.text[0], ':') == NULL,
	       "references are stripped ('%s')", corpus.train.text[0]);

	text = tr_verses_join(&corpus.train, &len);
	if (!TAP_OK(bpe_train(text, len, 330, &vocab, &err) == 0, "BPE trains (%s)", err.msg))
		return tap_done();
	free(text);
	TAP_OK(vocab.n == 330 && vocab.n_merges > 0 && strcmp(vocab.text[1], "<s>") == 0 &&
	       strcmp(vocab.text[3 + 0x41], "<0x41>") == 0 && vocab.type[3 + 0x41] == ENG_TOKEN_BYTE,
	       "vocab layout: specials, 256 byte tokens, chars, %d merges", vocab.n_merges);
	tok = bpe_engine_tokenizer(&vocab, &err);
	if (!TAP_OK(tok != NULL, "engine tokenizer accepts the vocabulary (%s)", err.msg))
		return tap_done();
	{
		const char *s = "the lord said unto moses";
		int32_t ids[64];
		int n = eng_tokenize(tok, s, strlen(s), 1, ids, 64);
		size_t tl;
		const char *first = n > 1 ? eng_token_text(tok, ids[1], &tl) : NULL;
		char out[256] = "";
		struct eng_detok d;
		size_t o_len = 0;
		char buf[ENG_DETOK_BUF];

		TAP_OK(n > 1 && n < 1 + (int)strlen(s) && ids[0] == 1 && first && strncmp(first, BPE_SPACE, 3) == 0,
		       "merged words with the space marker (%d tokens, first '%s')", n, first ? first : "");
		eng_detok_init(&d, tok);
		for (int i = 0; i < n && i < 64; i++) {
			size_t k = eng_detok_push(&d, ids[i], buf);

			memcpy(out + o_len, buf, k);
			o_len += k;
		}
		o_len += eng_detok_flush(&d, out + o_len);
		out[o_len] = 0;
		TAP_OK(strcmp(out, s) == 0, "detokenizes back: '%s'", out);
		n = eng_tokenize(tok, "#\xc3\xa9", 3, 0, ids, 64);
		TAP_OK(n >= 3 && ids[n - 1] == 3 + 0xa9 && ids[n - 2] == 3 + 0xc3,
		       "unknown characters fall back to byte tokens");
	}
	if (!TAP_OK(tr_stream_build(tok, &corpus.train, &train_s, &err) == 0 &&
		    tr_stream_build(tok, &corpus.heldout, &held_s, &err) == 0, "token streams (%s)", err.msg))
		return tap_done();
	TAP_OK(train_s.tok[train_s.verse_start[1] - 1] == 3 + '\n', "verses end with the <0x0A> token");

	/* loss decreases */
	o = tiny_options(vocab.n);
	a = tr_trainer_new(&o, &train_s, &err);
	if (!TAP_OK(a != NULL, "trainer starts (%s)", err.msg))
		return tap_done();
	{
		double first = 0, last = 0, held0, held1;
		size_t nt;

		held0 = tr_score_bits(tr_trainer_model(a), &held_s, 2, 0, &nt);
		for (int i = 0; i < o.steps; i++) {
			double l = tr_trainer_step(a, NULL, NULL);

			if (i < 3)
				first += l / 3;
			if (i >= o.steps - 3)
				last += l / 3;
		}
		held1 = tr_score_bits(tr_trainer_model(a), &held_s, 2, 0, &nt);
		TAP_OK(last < first - 1.0, "training loss falls: %.3f -> %.3f nats/token", first, last);
		TAP_OK(held1 < held0 && nt == held_s.n, "held-out bits fall: %.0f -> %.0f over %zu tokens",
		       held0, held1, nt);
		TAP_OK(tr_score_bits(tr_trainer_model(a), &held_s, 1, 0, NULL) == held1,
		       "scoring is deterministic across thread counts");
	}
	tr_trainer_free(a);

	/* determinism across thread counts and runs */
	o.steps = 5;
	a = tr_trainer_new(&o, &train_s, &err);
	o.threads = 3;
	b = tr_trainer_new(&o, &train_s, &err);
	if (a && b) {
		run_steps(a, 5);
		run_steps(b, 5);
		TAP_OK(same_params(a, b), "5 steps with 1 and 3 threads give bit-identical weights");
	}
	tr_trainer_free(b);

	/* resume == uninterrupted */
	o.threads = 2;
	b = tr_trainer_new(&o, &train_s, &err);
	c = tr_trainer_new(&o, &train_s, &err);
	{
		int fd = mkstemp(ckpt);

		if (fd >= 0)
			close(fd);
	}
	if (a && b && c) {
		run_steps(b, 2);
		TAP_OK(tr_checkpoint_save(b, ckpt, &err) == 0, "checkpoint saves (%s)", err.msg);
		TAP_OK(tr_checkpoint_load(c, ckpt, &err) == 0 && tr_trainer_step_index(c) == 2,
		       "checkpoint loads at step 2 (%s)", err.msg);
		run_steps(c, 3);
		TAP_OK(same_params(a, c), "resumed run matches the uninterrupted one bit for bit");
	}
	tr_trainer_free(b);
	tr_trainer_free(c);
	{
		struct tr_options o2 = o;

		o2.cfg.dim = 32;
		b = tr_trainer_new(&o2, &train_s, &err);
		TAP_OK(b && tr_checkpoint_load(b, ckpt, &err) == -1,
		       "checkpoint of another shape refused: %s", err.msg);
		tr_trainer_free(b);
		if (truncate(ckpt, 100) == 0) {
			b = tr_trainer_new(&o, &train_s, &err);
			TAP_OK(b && tr_checkpoint_load(b, ckpt, &err) == -1, "truncated checkpoint refused: %s",
			       err.msg);
			tr_trainer_free(b);
		}
		remove(ckpt);
	}

	/* GGUF export read back by the engine */
	{
		int fd = mkstemp(gguf);

		if (fd >= 0)
			close(fd);
	}
	if (a) {
		/* weights well beyond the init scale, so that logits reach several units */
		struct tr_model *am = tr_trainer_model(a);

		for (size_t i = 0; i < am->n_params; i++)
			if (tr_param_is_matrix(am, i))
				am->p[i] *= 12.0f;
		tr_model_sync(am);
	}
	for (int f32 = 1; f32 >= 0 && a; f32--) {
		struct eng_tokenizer *tok2 = NULL;
		struct tr_model *m;
		struct eng_model *em;
		struct tr_work *w;
		int32_t seq[12] = { 1 };
		float worst_ref = 0.0f, worst_cpu = 0.0f, biggest = 0.0f;

		if (!TAP_OK(tr_save_gguf(tr_trainer_model(a), &vocab, gguf, f32, "test", &err) == 0,
			    "writes %s GGUF (%s)", f32 ? "F32" : "F16", err.msg))
			break;
		m = tr_load_gguf(gguf, &tok2, &err);
		if (!TAP_OK(m && tok2 && eng_tokenizer_vocab_size(tok2) == (uint32_t)vocab.n,
			    "trainer reads its GGUF back with the tokenizer (%s)", err.msg))
			break;
		if (f32)
			TAP_OK(memcmp(m->p, tr_trainer_model(a)->p, m->n_params * sizeof(float)) == 0,
			       "F32 round trip is exact");
		for (int i = 1; i < 12; i++)
			seq[i] = held_s.tok[i];
		w = tr_work_new(&m->c);
		tr_sequence(m, w, seq, 11, NULL, 1.0f);
		for (int t = 0; t < 11; t++)
			for (int i = 0; i < vocab.n; i++)
				biggest = fmaxf(biggest, fabsf(tr_work_logits(w, t)[i]));
		TAP_OK(biggest > 2.0f, "test logits are large enough to compare (max |logit| %.2f)", biggest);
		em = eng_model_load(gguf, NULL, &err);
		if (TAP_OK(em != NULL, "engine loads the GGUF (%s)", err.msg)) {
			struct eng_ref *ref = eng_ref_create(em, 16);
			struct eng_backend_config bc = { .n_ctx = 16, .n_threads = 1 };
			struct eng_backend *be = eng_backend_create("cpu", em, &bc, &err);
			float *logits = malloc(sizeof(float) * (size_t)vocab.n * 11);

			for (int t = 0; ref && t < 11; t++) {
				eng_ref_forward(ref, seq[t], (uint32_t)t, logits);
				for (int i = 0; i < vocab.n; i++) {
					float d = fabsf(logits[i] - tr_work_logits(w, t)[i]);

					worst_ref = d > worst_ref ? d : worst_ref;
				}
			}
			TAP_OK(ref && worst_ref < LOGIT_TOL,
			       "%s: engine reference forward matches the trainer (max |dlogit| %.2g < %g)",
			       f32 ? "F32" : "F16", worst_ref, LOGIT_TOL);
			if (be && eng_backend_forward(be, seq, 11, 0, logits, 1, &err) == 0) {
				for (int t = 0; t < 11; t++)
					for (int i = 0; i < vocab.n; i++) {
						float d = fabsf(logits[(size_t)t * vocab.n + i] - tr_work_logits(w, t)[i]);

						worst_cpu = d > worst_cpu ? d : worst_cpu;
					}
				TAP_OK(worst_cpu < LOGIT_TOL,
				       "%s: engine cpu backend matches the trainer (max |dlogit| %.2g < %g)",
				       f32 ? "F32" : "F16", worst_cpu, LOGIT_TOL);
			} else {
				TAP_OK(0, "cpu backend runs (%s)", err.msg);
			}
			free(logits);
			eng_backend_destroy(be);
			eng_ref_free(ref);
			eng_model_free(em);
		}
		tr_work_free(w);
		tr_model_free(m);
		eng_tokenizer_free(tok2);
	}
	remove(gguf);
	{
		struct eng_tokenizer *none;

		TAP_OK(tr_load_gguf("/nonexistent.gguf", &none, &err) == NULL && !none,
		       "missing model refused: %s", err.msg);
	}

	tr_trainer_free(a);
	tr_stream_free(&train_s);
	tr_stream_free(&held_s);
	eng_tokenizer_free(tok);
	bpe_vocab_free(&vocab);
	tr_corpus_free(&corpus);
	return tap_done();
}
