/* SPDX-License-Identifier: MIT */
/*
 * wse-train - trains the project's default Llama on the King James Bible
 * (Debian's bible-kjv-text) and writes it as a GGUF, or scores a model on
 * the held-out books against xz -9 and gzip -9.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/tokenizer.h"
#include "engine/train/bpe.h"
#include "engine/train/kjv.h"
#include "engine/train/train.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wse-train [options]          train, write --out, then score it\n"
		"       wse-train --score MODEL      held-out bits/byte of MODEL vs xz -9 and gzip -9\n"
		"options (defaults in brackets):\n"
		"  --out PATH            GGUF to write (required; `make model` writes engine/models/default.gguf)\n"
		"  --corpus PATH         bible-kjv-text data file [" KJV_DEFAULT_PATH "]\n"
		"  --steps N [560]  --batch N [16]  --seed N [1]  --threads N [2]\n"
		"  --dim N [192]  --hidden N [512]  --layers N [4]  --heads N [6]  --kv-heads N [2]\n"
		"  --vocab N [2048]  --ctx N [128]\n"
		"  --lr X [2e-3]  --min-lr X [1e-4]  --warmup N [30]  --wd X [0.1]  --clip X [1.0]\n"
		"  --checkpoint PATH     save training state every --checkpoint-every steps [100]\n"
		"  --resume PATH         continue from a checkpoint (same options)\n"
		"  --stop-after N        stop (after checkpointing) at step N, for resume tests\n"
		"  --log-every N [10]  --eval-every N [100]  --f32 (write F32 instead of F16)\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_dur(char *buf, size_t n, double s)
{
	if (s < 0 || !isfinite(s))
		s = 0;
	snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

/* Size in bytes of `cmd < path`'s stdout; -1 when the command fails. */
static long compressed_size(const char *cmd, const char *path)
{
	char line[4200], buf[65536];
	FILE *p;
	long total = 0;
	size_t got;

	snprintf(line, sizeof(line), "%s < '%s'", cmd, path);
	p = popen(line, "r");
	if (!p)
		return -1;
	while ((got = fread(buf, 1, sizeof(buf), p)) > 0)
		total += (long)got;
	return pclose(p) == 0 ? total : -1;
}

static int score(const char *model_path, const char *corpus_path, int threads)
{
	struct eng_err err = { "" };
	struct tr_corpus corpus;
	struct eng_tokenizer *tok = NULL;
	struct tr_model *m;
	struct tr_stream s;
	char tmp[] = "/tmp/wse-heldout-XXXXXX";
	char *text;
	size_t len, scored;
	double bits, t0 = now_s();
	long xz, gz;
	int fd, rc = 0;

	m = tr_load_gguf(model_path, &tok, &err);
	if (!m) {
		fprintf(stderr, "wse-train: %s\n", err.msg);
		return 1;
	}
	if (tr_corpus_load(corpus_path, &corpus, &err) || tr_stream_build(tok, &corpus.heldout, &s, &err)) {
		fprintf(stderr, "wse-train: %s\n", err.msg);
		tr_model_free(m);
		eng_tokenizer_free(tok);
		return 1;
	}
	bits = tr_score_bits(m, &s, threads, 0, &scored);
	text = tr_verses_join(&corpus.heldout, &len);
	fd = mkstemp(tmp);
	if (!text || fd < 0 || write(fd, text, len) != (ssize_t)len) {
		fprintf(stderr, "wse-train: cannot write the held-out text to %s\n", tmp);
		rc = 1;
	}
	if (fd >= 0)
		close(fd);
	xz = rc ? -1 : compressed_size("xz -9 -c", tmp);
	gz = rc ? -1 : compressed_size("gzip -9 -c", tmp);
	remove(tmp);
	if (!isfinite(bits) || len != s.bytes) {
		fprintf(stderr, "wse-train: scoring failed\n");
		rc = 1;
	} else {
		double model_bpb = bits / (double)len;

		printf("held-out text : %zu verses, %zu bytes, %zu tokens (books with index %% %d == %d)\n",
		       corpus.heldout.n, len, scored, TR_HELDOUT_BOOK_MOD, TR_HELDOUT_BOOK_REM);
		printf("model   %s : %.4f bits/byte (%.4f nats/token, %.1f s)\n", model_path, model_bpb,
		       bits * M_LN2 / (double)scored, now_s() - t0);
		if (xz > 0)
			printf("xz -9   : %.4f bits/byte (%ld bytes)\n", 8.0 * xz / (double)len, xz);
		else
			printf("xz -9   : unavailable\n");
		if (gz > 0)
			printf("gzip -9 : %.4f bits/byte (%ld bytes)\n", 8.0 * gz / (double)len, gz);
		else
			printf("gzip -9 : unavailable\n");
		if (xz > 0 && gz > 0)
			printf("model beats xz -9 and gzip -9: %s\n",
			       bits < 8.0 * xz && bits < 8.0 * gz ? "yes" : "NO");
	}
	free(text);
	tr_stream_free(&s);
	tr_corpus_free(&corpus);
	tr_model_free(m);
	eng_tokenizer_free(tok);
	return rc;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_float(const char *s, float *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v))
		return -1;
	*out = (float)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct tr_options o;
	struct eng_err err = { "" };
	const char *out = NULL, *corpus_path = KJV_DEFAULT_PATH;
	const char *ckpt = NULL, *resume = NULL, *score_path = NULL;
	int ckpt_every = 100, log_every = 10, eval_every = 100, f32 = 0, stop_after = 0, seed = 1;
	struct tr_corpus corpus;
	struct bpe_vocab vocab;
	struct eng_tokenizer *tok;
	struct tr_stream train_s, held_s;
	struct tr_trainer *t;
	char *train_text;
	size_t train_len;
	double t0, t_start, loss_sum = 0.0;
	int loss_n = 0, first_step;

	tr_options_default(&o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--f32")) {
			f32 = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "wse-train: %s needs a value (or is unknown)\n", a);
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--out")) out = v;
		else if (!strcmp(a, "--corpus")) corpus_path = v;
		else if (!strcmp(a, "--score")) score_path = v;
		else if (!strcmp(a, "--checkpoint")) ckpt = v;
		else if (!strcmp(a, "--resume")) resume = v;
		else if (!strcmp(a, "--steps")) bad = parse_int(v, 1, 10000000, &o.steps);
		else if (!strcmp(a, "--batch")) bad = parse_int(v, 1, 1024, &o.batch);
		else if (!strcmp(a, "--seed")) bad = parse_int(v, 0, 1 << 30, &seed);
		else if (!strcmp(a, "--threads")) bad = parse_int(v, 1, 256, &o.threads);
		else if (!strcmp(a, "--dim")) bad = parse_int(v, 4, 4096, &o.cfg.dim);
		else if (!strcmp(a, "--hidden")) bad = parse_int(v, 1, 16384, &o.cfg.hidden);
		else if (!strcmp(a, "--layers")) bad = parse_int(v, 1, 64, &o.cfg.n_layers);
		else if (!strcmp(a, "--heads")) bad = parse_int(v, 1, 4096, &o.cfg.n_heads);
		else if (!strcmp(a, "--kv-heads")) bad = parse_int(v, 1, 4096, &o.cfg.n_kv_heads);
		else if (!strcmp(a, "--vocab")) bad = parse_int(v, 300, 65536, &o.cfg.vocab);
		else if (!strcmp(a, "--ctx")) bad = parse_int(v, 2, 4096, &o.cfg.seq_len);
		else if (!strcmp(a, "--warmup")) bad = parse_int(v, 0, 10000000, &o.warmup);
		else if (!strcmp(a, "--checkpoint-every")) bad = parse_int(v, 1, 10000000, &ckpt_every);
		else if (!strcmp(a, "--stop-after")) bad = parse_int(v, 1, 10000000, &stop_after);
		else if (!strcmp(a, "--log-every")) bad = parse_int(v, 1, 10000000, &log_every);
		else if (!strcmp(a, "--eval-every")) bad = parse_int(v, 1, 10000000, &eval_every);
		else if (!strcmp(a, "--lr")) bad = parse_float(v, &o.lr);
		else if (!strcmp(a, "--min-lr")) bad = parse_float(v, &o.lr_min);
		else if (!strcmp(a, "--wd")) bad = parse_float(v, &o.weight_decay);
		else if (!strcmp(a, "--clip")) bad = parse_float(v, &o.clip);
		else {
			fprintf(stderr, "wse-train: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "wse-train: bad value '%s' for %s\n", v, a);
			return 2;
		}
	}
	o.seed = (uint64_t)seed;
	if (score_path)
		return score(score_path, corpus_path, o.threads);
	if (!out) {
		/* never overwrite the committed model by accident */
		fprintf(stderr, "wse-train: say where to write the model with --out PATH\n");
		usage(stderr);
		return 2;
	}

	{
		/* find out now, not after the whole run, that the output cannot be written */
		int existed = access(out, F_OK) == 0;
		FILE *f = fopen(out, "ab");

		if (!f) {
			fprintf(stderr, "wse-train: cannot write %s: %s\n", out, strerror(errno));
			return 1;
		}
		fclose(f);
		if (!existed)
			remove(out);
	}
	t0 = now_s();
	if (tr_corpus_load(corpus_path, &corpus, &err)) {
		fprintf(stderr, "wse-train: %s\n", err.msg);
		return 1;
	}
	train_text = tr_verses_join(&corpus.train, &train_len);
	if (!train_text || bpe_train(train_text, train_len, o.cfg.vocab, &vocab, &err)) {
		fprintf(stderr, "wse-train: %s\n", train_text ? err.msg : "out of memory");
		return 1;
	}
	free(train_text);
	if (vocab.n != o.cfg.vocab) {
		fprintf(stderr, "wse-train: the corpus only supports %d tokens; use --vocab %d\n", vocab.n,
			vocab.n);
		return 1;
	}
	tok = bpe_engine_tokenizer(&vocab, &err);
	if (!tok || tr_stream_build(tok, &corpus.train, &train_s, &err) ||
	    tr_stream_build(tok, &corpus.heldout, &held_s, &err)) {
		fprintf(stderr, "wse-train: %s\n", err.msg);
		return 1;
	}
	printf("corpus: %d books; train %zu verses %zu bytes %zu tokens (%.2f bytes/token); "
	       "held-out %zu verses %zu bytes; vocab %d (%d merges); prep %.1f s\n",
	       corpus.n_books, corpus.train.n, train_s.bytes, train_s.n,
	       (double)train_s.bytes / (double)train_s.n, corpus.heldout.n, held_s.bytes, vocab.n,
	       vocab.n_merges, now_s() - t0);
	t = tr_trainer_new(&o, &train_s, &err);
	if (!t) {
		fprintf(stderr, "wse-train: %s\n", err.msg);
		return 1;
	}
	if (resume) {
		if (tr_checkpoint_load(t, resume, &err)) {
			fprintf(stderr, "wse-train: %s\n", err.msg);
			return 1;
		}
		printf("resumed from %s at step %d\n", resume, tr_trainer_step_index(t));
	}
	printf("model: dim %d hidden %d layers %d heads %d/%d ctx %d vocab %d, %zu parameters; "
	       "steps %d batch %d lr %g->%g warmup %d wd %g clip %g seed %llu threads %d\n",
	       o.cfg.dim, o.cfg.hidden, o.cfg.n_layers, o.cfg.n_heads, o.cfg.n_kv_heads, o.cfg.seq_len,
	       o.cfg.vocab, tr_trainer_model(t)->n_params, o.steps, o.batch, o.lr, o.lr_min, o.warmup,
	       o.weight_decay, o.clip, (unsigned long long)o.seed, o.threads);
	fflush(stdout);
	first_step = tr_trainer_step_index(t);
	t_start = now_s();
	while (tr_trainer_step_index(t) < o.steps) {
		float lr, gn;
		double loss = tr_trainer_step(t, &lr, &gn);
		int s = tr_trainer_step_index(t);

		if (!isfinite(loss)) {
			fprintf(stderr, "wse-train: loss is not finite at step %d\n", s);
			return 1;
		}
		loss_sum += loss;
		loss_n++;
		if (s % log_every == 0 || s == o.steps) {
			double el = now_s() - t_start;
			double tps = (double)(s - first_step) * o.batch * o.cfg.seq_len / el;
			char e[32], eta[32];

			fmt_dur(e, sizeof(e), el);
			fmt_dur(eta, sizeof(eta), el / (s - first_step) * (o.steps - s));
			printf("step %5d/%d  loss %.4f  lr %.2e  |g| %.3f  %.0f tok/s  elapsed %s  ETA %s\n",
			       s, o.steps, loss_sum / loss_n, lr, gn, tps, e, eta);
			fflush(stdout);
			loss_sum = 0.0;
			loss_n = 0;
		}
		if (s % eval_every == 0 || s == o.steps) {
			size_t nt;
			double bits = tr_score_bits(tr_trainer_model(t), &held_s, o.threads, 32, &nt);

			printf("eval  %5d  held-out (first 32 chunks) %.4f nats/token\n", s, bits * M_LN2 / nt);
			fflush(stdout);
		}
		if (ckpt && (s % ckpt_every == 0 || s == stop_after || s == o.steps)) {
			if (tr_checkpoint_save(t, ckpt, &err)) {
				fprintf(stderr, "wse-train: %s\n", err.msg);
				return 1;
			}
		}
		if (stop_after && s >= stop_after) {
			printf("stopped after step %d as asked\n", s);
			return 0;
		}
	}
	{
		char desc[512], e[32];

		snprintf(desc, sizeof(desc),
			 "wse-train on KJV (bible-kjv-text) minus held-out books; dim %d hidden %d layers %d "
			 "heads %d/%d ctx %d vocab %d; steps %d batch %d lr %g->%g warmup %d wd %g clip %g seed %llu",
			 o.cfg.dim, o.cfg.hidden, o.cfg.n_layers, o.cfg.n_heads, o.cfg.n_kv_heads,
			 o.cfg.seq_len, o.cfg.vocab, o.steps, o.batch, o.lr, o.lr_min, o.warmup,
			 o.weight_decay, o.clip, (unsigned long long)o.seed);
		if (tr_save_gguf(tr_trainer_model(t), &vocab, out, f32, desc, &err)) {
			fprintf(stderr, "wse-train: %s\n", err.msg);
			return 1;
		}
		fmt_dur(e, sizeof(e), now_s() - t0);
		printf("wrote %s (training wall time %s)\n", out, e);
		fflush(stdout);
	}
	tr_trainer_free(t);
	tr_stream_free(&train_s);
	tr_stream_free(&held_s);
	eng_tokenizer_free(tok);
	bpe_vocab_free(&vocab);
	tr_corpus_free(&corpus);
	return score(out, corpus_path, o.threads);
}
