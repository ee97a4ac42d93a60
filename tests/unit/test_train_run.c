/* SPDX-License-Identifier: MIT */
/*
 * test_train_run.c - the trainer end to end on a small synthetic corpus in
 * the bible-kjv-text line format: split, BPE + the engine's tokenizer,
 * loss going down, determinism across thread counts, resume, GGUF export
 * read back by the engine, scoring, and bad input.
 *
 * The export is held against the trainer's model as it is in memory, not
 * against a reload (which goes through the engine's loader and would share
 * its mistakes): the engine's tensors must hold the trainer's floats
 * exactly, and the trainer, the engine's cpu backend and the independent
 * double-precision reference (tests/unit/llama_ref.h) must give the same
 * logits, with a non-default RoPE base and RMS epsilon, a zero embedding
 * row and one whose mean square is near eps.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/tokenizer.h"
#include "engine/train/bpe.h"
#include "engine/train/kjv.h"
#include "engine/train/train.h"
#include "tests/tap.h"
#include "tests/unit/engine_tiny_model.h"
#include "tests/unit/llama_ref.h"

/*
 * Tolerances relative to each position's largest logit (the cases run with
 * logits up to ~7 and up to ~0.03).
 * Trainer vs engine, both fp32 with different sum orders: worst observed
 * 2.1e-7 (1.4e-6 at logits of 7.1); about 20x.
 */
#define LOGIT_TOL 4e-6
/* fp32 (trainer or engine) against the double reference: worst observed 2.0e-7; 20x. */
#define REF_TOL 4e-6

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
	/* RoPE base and epsilon other than the engine's defaults, so the export must carry them */
	o.cfg = (struct tr_config){ .dim = 16, .hidden = 24, .n_layers = 2, .n_heads = 2,
				    .n_kv_heads = 1, .vocab = vocab, .seq_len = 16,
				    .rope_theta = 500000.0f, .rms_eps = 1e-6f };
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

/* bible-kjv-text is in tools/setup's list: a missing corpus is a broken set-up, not a skip. */
static void test_real_corpus(void)
{
	struct eng_err err = { "" };
	struct tr_corpus c;

	if (access(KJV_DEFAULT_PATH, R_OK) != 0) {
		TAP_OK(0, "the KJV corpus %s is missing: install bible-kjv-text (tools/setup)", KJV_DEFAULT_PATH);
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

/* x rounded to the nearest binary16 value, ties to even: 11 significant bits, or a multiple of 2^-24 below 2^-14. */
static float round_to_f16(float x)
{
	int e;
	double m;

	if (x == 0 || !isfinite(x))
		return x;
	if (fabsf(x) < 0x1p-14f)
		return (float)ldexp(nearbyint(ldexp(x, 24)), -24);
	m = frexp(x, &e);
	return (float)ldexp(nearbyint(ldexp(m, 11)), e - 11);
}

/* Visits every tensor of the trainer's model under its GGUF name. */
static void trainer_tensors(const struct tr_model *m,
			    void (*fn)(void *ctx, const char *name, uint64_t rows, uint64_t cols, const float *p),
			    void *ctx)
{
	const struct tr_config *c = &m->c;
	uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->hidden, KV = D / (uint64_t)c->n_heads * (uint64_t)c->n_kv_heads;
	char name[64];

	fn(ctx, "token_embd.weight", (uint64_t)c->vocab, D, m->p + m->tok_embd);
	fn(ctx, "output_norm.weight", 1, D, m->p + m->output_norm);
	for (int l = 0; l < c->n_layers; l++) {
		const struct tr_layer_off *L = &m->layer[l];
		struct { const char *suffix; size_t off; uint64_t rows, cols; } t[] = {
			{ "attn_norm", L->attn_norm, 1, D }, { "attn_q", L->wq, D, D },
			{ "attn_k", L->wk, KV, D }, { "attn_v", L->wv, KV, D },
			{ "attn_output", L->wo, D, D }, { "ffn_norm", L->ffn_norm, 1, D },
			{ "ffn_gate", L->w_gate, F, D }, { "ffn_up", L->w_up, F, D },
			{ "ffn_down", L->w_down, D, F },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			snprintf(name, sizeof(name), "blk.%d.%s.weight", l, t[i].suffix);
			fn(ctx, name, t[i].rows, t[i].cols, m->p + t[i].off);
		}
	}
}

static void record_tensor(void *ctx, const char *name, uint64_t rows, uint64_t cols, const float *p)
{
	tiny_weights_add(ctx, name, ENG_F32, rows, cols, p);
}

struct compare_ctx {
	const struct eng_model *em;
	enum eng_dtype want_type;
	int tensors, bad;
};

/* The engine's tensor of that name, decoded by the test's own code, must hold the trainer's floats. */
static void compare_tensor(void *ctx, const char *name, uint64_t rows, uint64_t cols, const float *p)
{
	struct compare_ctx *c = ctx;
	const struct eng_tensor *t = tiny_model_tensor(c->em, name);
	enum eng_dtype want = rows == 1 ? ENG_F32 : c->want_type;	/* norms stay F32 */
	int bad = !t || t->rows != rows || t->cols != cols || t->type != want;

	for (uint64_t r = 0; !bad && r < rows; r++)
		for (uint64_t k = 0; k < cols; k++)
			bad |= lref_weight(t->type, (const uint8_t *)t->data + r * t->row_bytes, cols, 0, k) !=
			       p[r * cols + k];
	if (bad && c->bad < 3)
		TAP_NOTE("engine tensor %s differs from the trainer's", name);
	c->tensors++;
	c->bad += bad;
}

/*
 * The trainer's model in memory, its GGUF export in the engine, and the
 * reference, on one sequence; kind names the case, and the largest logit
 * must exceed min_logit so that the comparison means something.
 */
static void check_export(struct tr_model *am, const struct bpe_vocab *vocab, const int32_t *seq, int n,
			 const char *path, int f32, const char *kind, float min_logit)
{
	struct eng_err err = { "" };
	struct tr_work *w = tr_work_new(&am->c);
	struct tiny_weights tw = { 0 };
	struct lref_model ref;
	struct lref_config rc = { .dim = (uint32_t)am->c.dim, .hidden = (uint32_t)am->c.hidden,
				  .layers = (uint32_t)am->c.n_layers, .heads = (uint32_t)am->c.n_heads,
				  .kv_heads = (uint32_t)am->c.n_kv_heads, .vocab = (uint32_t)am->c.vocab,
				  .rope_theta = am->c.rope_theta, .rms_eps = am->c.rms_eps };
	uint32_t V = (uint32_t)am->c.vocab;
	float *trainer = malloc(sizeof(float) * V * (size_t)n), *engine = malloc(sizeof(float) * V * (size_t)n);
	double *want = malloc(sizeof(double) * V * (size_t)n);
	char why[160] = "";
	struct eng_model *em = NULL;
	struct eng_tokenizer *tok2 = NULL;
	struct tr_model *back = NULL;
	float biggest = 0;
	double worst_cpu = 0, worst_ref;
	int ref_ok;

	if (!f32) {
		/* F16-representable weights: the export is then exact and the in-memory model is the file */
		for (size_t i = 0; i < am->n_params; i++)
			am->p[i] = round_to_f16(am->p[i]);
		tr_model_sync(am);
	}
	if (!w || !trainer || !engine || !want) {
		TAP_OK(0, "%s: out of memory", kind);
		goto out;
	}
	tr_sequence(am, w, seq, n, NULL, 1.0f);
	for (int t = 0; t < n; t++)
		memcpy(trainer + (size_t)t * V, tr_work_logits(w, t), sizeof(float) * V);
	for (size_t i = 0; i < (size_t)V * n; i++)
		biggest = fmaxf(biggest, fabsf(trainer[i]));
	TAP_OK(biggest > min_logit, "%s: test logits are large enough to compare (max |logit| %.2g > %g)", kind,
	       biggest, min_logit);

	trainer_tensors(am, record_tensor, &tw);
	ref_ok = lref_init(&ref, &rc, &tw, why, sizeof(why)) == 0;
	if (TAP_OK(ref_ok && lref_forward(&ref, seq, (uint32_t)n, want) == 0,
		   "%s: independent reference built from the trainer's floats%s%s", kind, ref_ok ? "" : ": ", why)) {
		double d = lref_worst(trainer, want, (uint32_t)n, V, 0);

		TAP_OK(d <= REF_TOL, "%s: the trainer's forward matches the double-precision reference (worst %.2g relative)",
		       kind, d);
	}
	if (ref_ok)
		lref_free(&ref);

	if (!TAP_OK(tr_save_gguf(am, vocab, path, f32, "test", &err) == 0, "writes %s GGUF (%s)", kind, err.msg))
		goto out;
	em = eng_model_load(path, NULL, &err);
	if (!TAP_OK(em != NULL, "engine loads the %s GGUF (%s)", kind, em ? "ok" : err.msg))
		goto out;
	TAP_OK(em->hp.rope_theta == am->c.rope_theta && em->hp.rms_eps == am->c.rms_eps &&
	       em->hp.dim == (uint32_t)am->c.dim && em->hp.n_kv_heads == (uint32_t)am->c.n_kv_heads &&
	       em->hp.ctx_len == (uint32_t)am->c.seq_len && em->tied_output,
	       "%s: the engine reads the trainer's hyperparameters (rope_theta %g, rms_eps %g)", kind,
	       em->hp.rope_theta, em->hp.rms_eps);
	{
		struct compare_ctx cc = { .em = em, .want_type = f32 ? ENG_F32 : ENG_F16 };

		trainer_tensors(am, compare_tensor, &cc);
		TAP_OK(cc.bad == 0 && cc.tensors == 2 + 9 * am->c.n_layers,
		       "%s: all %d engine tensors hold the in-memory trainer's floats exactly (%d differ)", kind,
		       cc.tensors, cc.bad);
	}
	{
		struct eng_backend_config bc = { .n_ctx = 16, .n_threads = 1 };
		struct eng_backend *be = eng_backend_create("cpu", em, &bc, &err);

		if (TAP_OK(be && eng_backend_forward(be, seq, (uint32_t)n, 0, engine, 1, &err) == 0,
			   "%s: cpu backend runs (%s)", kind, err.msg)) {
			for (int t = 0; t < n; t++) {
				double mx = 0, d = 0;

				for (uint32_t i = 0; i < V; i++) {
					float e = engine[(size_t)t * V + i], r = trainer[(size_t)t * V + i];

					d = isfinite(e) && isfinite(r) ? fmax(d, fabsf(e - r)) : INFINITY;
					mx = fmax(mx, fabsf(r));
				}
				worst_cpu = fmax(worst_cpu, mx > 0 ? d / mx : d);
			}
			TAP_OK(worst_cpu <= LOGIT_TOL,
			       "%s: engine cpu backend matches the in-memory trainer (worst %.2g relative, tolerance %g)",
			       kind, worst_cpu, LOGIT_TOL);
			worst_ref = lref_worst(engine, want, (uint32_t)n, V, 0);
			TAP_OK(worst_ref <= REF_TOL, "%s: and the double-precision reference (worst %.2g relative)", kind,
			       worst_ref);
		}
		eng_backend_destroy(be);
	}
	back = tr_load_gguf(path, &tok2, &err);
	TAP_OK(back && tok2 && eng_tokenizer_vocab_size(tok2) == (uint32_t)vocab->n &&
	       back->n_params == am->n_params && memcmp(back->p, am->p, am->n_params * sizeof(float)) == 0 &&
	       back->c.rope_theta == am->c.rope_theta && back->c.rms_eps == am->c.rms_eps,
	       "%s: the trainer reads its GGUF back exactly, tokenizer included (%s)", kind, back ? "ok" : err.msg);
out:
	tr_model_free(back);
	eng_tokenizer_free(tok2);
	eng_model_free(em);
	tiny_weights_free(&tw);
	tr_work_free(w);
	free(trainer);
	free(engine);
	free(want);
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
	test_real_corpus();

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
		int32_t seq[12] = { 1 };

		for (int i = 1; i < 12; i++)
			seq[i] = held_s.tok[i];
		for (size_t i = 0; i < am->n_params; i++)
			if (tr_param_is_matrix(am, i))
				am->p[i] *= 12.0f;
		/*
		 * RMSNorm edges: BOS (position 0) gets an all-zero embedding row,
		 * so every norm of that position sees zeros; the token at
		 * position 5 a row of mean square ~1e-6, near rms_eps.
		 */
		memset(am->p + am->tok_embd + (size_t)seq[0] * am->c.dim, 0, sizeof(float) * (size_t)am->c.dim);
		for (int i = 0; i < am->c.dim; i++)
			am->p[am->tok_embd + (size_t)seq[5] * am->c.dim + i] *= 4e-3f;
		tr_model_sync(am);
		TAP_OK(seq[5] != seq[0], "the near-eps token (%d) is not BOS", seq[5]);
		check_export(am, &vocab, seq, 11, gguf, 1, "F32", 2.0f);
		check_export(am, &vocab, seq, 11, gguf, 0, "F16", 2.0f);
		/*
		 * A residual stream of ~1e-3 everywhere (embedding and the residual
		 * projections scaled down): every RMSNorm of every layer, and the
		 * output norm, works at a mean square near rms_eps = 1e-6. The tied
		 * classifier makes the logits ~1e-3 too.
		 */
		for (size_t i = 0; i < (size_t)am->c.vocab * am->c.dim; i++)
			am->p[am->tok_embd + i] *= 4e-3f;
		for (int l = 0; l < am->c.n_layers; l++) {
			for (size_t i = 0; i < (size_t)am->c.dim * am->c.dim; i++)
				am->p[am->layer[l].wo + i] *= 1e-3f;
			for (size_t i = 0; i < (size_t)am->c.dim * am->c.hidden; i++)
				am->p[am->layer[l].w_down + i] *= 1e-3f;
		}
		tr_model_sync(am);
		check_export(am, &vocab, seq, 11, gguf, 1, "F32, residual stream ~1e-3", 1e-3f);
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
