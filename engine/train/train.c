/* SPDX-License-Identifier: MIT */
/*
 * train.c - token stream, training loop, checkpoints, GGUF export/import, scoring
 * (the verses come from kjv.c).
 */
#include "engine/train/train.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/gguf_write.h"
#include "engine/tokenizer.h"

/* ---- token stream ------------------------------------------------------------ */

int tr_stream_build(const struct eng_tokenizer *tok, const struct tr_verses *v,
		    struct tr_stream *s, struct eng_err *err)
{
	size_t cap = v->bytes / 2 + 1024;
	int32_t newline = BPE_FIRST_BYTE_TOKEN + '\n';

	memset(s, 0, sizeof(*s));
	if (eng_token_type(tok, newline) != ENG_TOKEN_BYTE)
		return eng_fail(err, "tokenizer has no <0x0A> byte token at id %d", newline);
	s->tok = malloc(cap * sizeof(int32_t));
	s->verse_start = malloc((v->n + 1) * sizeof(size_t));
	if (!s->tok || !s->verse_start) {
		tr_stream_free(s);
		return eng_fail(err, "out of memory");
	}
	for (size_t i = 0; i < v->n; i++) {
		size_t len = strlen(v->text[i]);
		int need;

		for (;;) {
			int room = (int)(cap - s->n - 1 > (size_t)1 << 30 ? 1 << 30 : cap - s->n - 1);

			need = eng_tokenize(tok, v->text[i], len, 0, s->tok + s->n, room);
			if (need < 0) {
				tr_stream_free(s);
				return eng_fail(err, "tokenizer out of memory");
			}
			if (need <= room)
				break;
			cap = 2 * cap + (size_t)need;
			{
				int32_t *n = realloc(s->tok, cap * sizeof(int32_t));

				if (!n) {
					tr_stream_free(s);
					return eng_fail(err, "out of memory");
				}
				s->tok = n;
			}
		}
		s->verse_start[i] = s->n;
		s->n += (size_t)need;
		s->tok[s->n++] = newline;
	}
	s->verse_start[v->n] = s->n;
	s->n_verses = v->n;
	s->bytes = v->bytes;
	return 0;
}

void tr_stream_free(struct tr_stream *s)
{
	free(s->tok);
	free(s->verse_start);
	memset(s, 0, sizeof(*s));
}

/* ---- training ------------------------------------------------------------------- */

void tr_options_default(struct tr_options *o)
{
	memset(o, 0, sizeof(*o));
	o->cfg = (struct tr_config){ .dim = 192, .hidden = 512, .n_layers = 4, .n_heads = 6,
				     .n_kv_heads = 2, .vocab = 2048, .seq_len = 128,
				     .rope_theta = 10000.0f, .rms_eps = 1e-5f };
	o->steps = 560;
	o->batch = 16;
	o->lr = 2e-3f;
	o->lr_min = 1e-4f;
	o->warmup = 30;
	o->weight_decay = 0.1f;
	o->clip = 1.0f;
	o->beta1 = 0.9f;
	o->beta2 = 0.95f;
	o->adam_eps = 1e-8f;
	o->seed = 1;
	o->threads = 2;
}

#define NORM_CHUNKS 64

struct tr_trainer {
	struct tr_options o;
	const struct tr_stream *data;
	struct tr_model *m;
	float *adam_m, *adam_v;
	uint8_t *decay;
	float **grad;			/* one per sequence of the batch */
	struct tr_work **work;		/* one per thread */
	int32_t *seq;			/* batch x (seq_len + 1) */
	double *seq_loss;
	double norm_part[NORM_CHUNKS];
	int step;
	float lr_now, clip_scale;
	size_t n_starts;		/* verses a full sequence can start at */
};

struct tr_trainer *tr_trainer_new(const struct tr_options *o, const struct tr_stream *train,
				  struct eng_err *err)
{
	struct tr_trainer *t;
	const char *why = tr_config_check(&o->cfg);
	size_t T = (size_t)o->cfg.seq_len;

	if (why) {
		eng_fail(err, "bad model shape: %s", why);
		return NULL;
	}
	if (o->batch < 1 || o->batch > 1024 || o->threads < 1 || o->threads > 256 || o->steps < 1) {
		eng_fail(err, "batch must be 1..1024, threads 1..256, steps >= 1");
		return NULL;
	}
	if (!(o->lr > 0) || !(o->lr_min >= 0) || o->warmup < 0 || !(o->clip > 0) ||
	    !(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1)) {
		eng_fail(err, "bad optimiser settings (lr > 0, clip > 0, betas in [0, 1))");
		return NULL;
	}
	for (size_t i = 0; i < train->n; i++)
		if (train->tok[i] < 0 || train->tok[i] >= o->cfg.vocab) {
			eng_fail(err, "token %d at %zu is outside the vocabulary (%d)", train->tok[i], i,
				 o->cfg.vocab);
			return NULL;
		}
	t = calloc(1, sizeof(*t));
	if (!t) {
		eng_fail(err, "out of memory");
		return NULL;
	}
	t->o = *o;
	t->data = train;
	while (t->n_starts < train->n_verses && train->verse_start[t->n_starts] + T <= train->n)
		t->n_starts++;
	if (t->n_starts == 0) {
		eng_fail(err, "training text (%zu tokens) is shorter than one sequence (%zu)", train->n, T);
		tr_trainer_free(t);
		return NULL;
	}
	t->m = tr_model_new(&o->cfg);
	if (!t->m)
		goto oom;
	t->adam_m = calloc(t->m->n_params, sizeof(float));
	t->adam_v = calloc(t->m->n_params, sizeof(float));
	t->decay = malloc(t->m->n_params);
	t->grad = calloc((size_t)o->batch, sizeof(float *));
	t->work = calloc((size_t)o->threads, sizeof(*t->work));
	t->seq = malloc(sizeof(int32_t) * (size_t)o->batch * (T + 1));
	t->seq_loss = calloc((size_t)o->batch, sizeof(double));
	if (!t->adam_m || !t->adam_v || !t->decay || !t->grad || !t->work || !t->seq || !t->seq_loss)
		goto oom;
	for (int b = 0; b < o->batch; b++)
		if (!(t->grad[b] = malloc(t->m->n_params * sizeof(float))))
			goto oom;
	for (int i = 0; i < o->threads; i++)
		if (!(t->work[i] = tr_work_new(&o->cfg)))
			goto oom;
	memset(t->decay, 1, t->m->n_params);
	for (size_t i = 0; i < (size_t)o->cfg.dim; i++) {
		t->decay[t->m->output_norm + i] = 0;
		for (int l = 0; l < o->cfg.n_layers; l++) {
			t->decay[t->m->layer[l].attn_norm + i] = 0;
			t->decay[t->m->layer[l].ffn_norm + i] = 0;
		}
	}
	tr_model_init(t->m, o->seed);
	return t;
oom:
	eng_fail(err, "out of memory for the trainer");
	tr_trainer_free(t);
	return NULL;
}

void tr_trainer_free(struct tr_trainer *t)
{
	if (!t)
		return;
	for (int b = 0; t->grad && b < t->o.batch; b++)
		free(t->grad[b]);
	for (int i = 0; t->work && i < t->o.threads; i++)
		tr_work_free(t->work[i]);
	free(t->grad);
	free(t->work);
	free(t->seq);
	free(t->seq_loss);
	free(t->adam_m);
	free(t->adam_v);
	free(t->decay);
	tr_model_free(t->m);
	free(t);
}

struct tr_model *tr_trainer_model(struct tr_trainer *t)
{
	return t->m;
}

int tr_trainer_step_index(const struct tr_trainer *t)
{
	return t->step;
}

static uint64_t mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Sequence b of step s depends only on (seed, s, b): resuming replays the same data. */
static void fill_batch(struct tr_trainer *t)
{
	size_t T = (size_t)t->o.cfg.seq_len;

	for (int b = 0; b < t->o.batch; b++) {
		uint64_t r = mix(mix(t->o.seed * 0x100000001b3ull + (uint64_t)t->step) + (uint64_t)b);
		size_t start = t->data->verse_start[r % t->n_starts];
		int32_t *s = t->seq + (size_t)b * (T + 1);

		s[0] = 1;	/* BOS, as at inference */
		memcpy(s + 1, t->data->tok + start, T * sizeof(int32_t));
	}
}

enum phase { PHASE_SEQUENCES, PHASE_REDUCE, PHASE_UPDATE };

struct worker {
	struct tr_trainer *t;
	int id;
	enum phase phase;
};

static void chunk_range(size_t n, int chunks, int c, size_t *lo, size_t *hi)
{
	*lo = n * (size_t)c / (size_t)chunks;
	*hi = n * (size_t)(c + 1) / (size_t)chunks;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct tr_trainer *t = w->t;
	int nth = t->o.threads, B = t->o.batch;
	size_t P = t->m->n_params, T = (size_t)t->o.cfg.seq_len;

	if (w->phase == PHASE_SEQUENCES) {
		float scale = 1.0f / (float)((size_t)B * T);

		for (int b = w->id; b < B; b += nth) {
			memset(t->grad[b], 0, P * sizeof(float));
			t->seq_loss[b] = tr_sequence(t->m, t->work[w->id], t->seq + (size_t)b * (T + 1),
						     (int)T, t->grad[b], scale);
		}
	} else if (w->phase == PHASE_REDUCE) {
		/* fixed chunks, batch summed in order: independent of the thread count */
		for (int c = w->id; c < NORM_CHUNKS; c += nth) {
			size_t lo, hi;
			double ss = 0.0;

			chunk_range(P, NORM_CHUNKS, c, &lo, &hi);
			for (int b = 1; b < B; b++) {
				float *restrict g0 = t->grad[0];
				const float *restrict gb = t->grad[b];

				for (size_t i = lo; i < hi; i++)
					g0[i] += gb[i];
			}
			for (size_t i = lo; i < hi; i++)
				ss += (double)t->grad[0][i] * t->grad[0][i];
			t->norm_part[c] = ss;
		}
	} else {
		float b1 = t->o.beta1, b2 = t->o.beta2, lr = t->lr_now, wd = t->o.weight_decay;
		float bc1 = 1.0f - powf(b1, (float)(t->step + 1));
		float bc2 = 1.0f - powf(b2, (float)(t->step + 1));
		float cs = t->clip_scale;
		size_t lo, hi;

		chunk_range(P, nth, w->id, &lo, &hi);
		for (size_t i = lo; i < hi; i++) {
			float g = t->grad[0][i] * cs;
			float mm = t->adam_m[i] = b1 * t->adam_m[i] + (1.0f - b1) * g;
			float vv = t->adam_v[i] = b2 * t->adam_v[i] + (1.0f - b2) * g * g;
			float upd = (mm / bc1) / (sqrtf(vv / bc2) + t->o.adam_eps);

			if (t->decay[i])
				upd += wd * t->m->p[i];
			t->m->p[i] -= lr * upd;
		}
	}
	return NULL;
}

static int run_phase(struct tr_trainer *t, enum phase phase)
{
	pthread_t tid[256];
	struct worker w[256];
	int started[256] = { 0 };

	for (int i = 0; i < t->o.threads; i++) {
		w[i] = (struct worker){ t, i, phase };
		if (i > 0)
			started[i] = pthread_create(&tid[i], NULL, worker_main, &w[i]) == 0;
	}
	worker_main(&w[0]);
	for (int i = 1; i < t->o.threads; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			worker_main(&w[i]);	/* no thread: same work, same result */
	}
	return 0;
}

double tr_trainer_step(struct tr_trainer *t, float *lr_out, float *grad_norm_out)
{
	double loss = 0.0, norm2 = 0.0, norm;
	int s = t->step, S = t->o.steps;

	fill_batch(t);
	if (run_phase(t, PHASE_SEQUENCES) || run_phase(t, PHASE_REDUCE))
		return NAN;
	for (int b = 0; b < t->o.batch; b++)
		loss += t->seq_loss[b];
	for (int c = 0; c < NORM_CHUNKS; c++)
		norm2 += t->norm_part[c];
	norm = sqrt(norm2);
	t->clip_scale = norm > t->o.clip ? (float)(t->o.clip / norm) : 1.0f;
	if (s < t->o.warmup) {
		t->lr_now = t->o.lr * (float)(s + 1) / (float)t->o.warmup;
	} else {
		double span = S - t->o.warmup > 1 ? S - t->o.warmup - 1 : 1;
		double progress = (s - t->o.warmup) / span;

		if (progress > 1.0)
			progress = 1.0;
		t->lr_now = t->o.lr_min + 0.5f * (t->o.lr - t->o.lr_min) * (float)(1.0 + cos(M_PI * progress));
	}
	if (run_phase(t, PHASE_UPDATE))
		return NAN;
	tr_model_sync(t->m);
	t->step++;
	if (lr_out)
		*lr_out = t->lr_now;
	if (grad_norm_out)
		*grad_norm_out = (float)norm;
	return loss / ((double)t->o.batch * t->o.cfg.seq_len);
}

/* ---- checkpoints -------------------------------------------------------------- */

#define CKPT_MAGIC "WSETRCK1"

struct ckpt_header {
	char magic[8];
	struct tr_config cfg;
	uint64_t seed;
	int32_t step, batch;
	uint64_t n_params;
};

int tr_checkpoint_save(const struct tr_trainer *t, const char *path, struct eng_err *err)
{
	struct ckpt_header h;
	char tmp[4096];
	FILE *f;
	size_t P = t->m->n_params;
	int ok;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CKPT_MAGIC, 8);
	h.cfg = t->o.cfg;
	h.seed = t->o.seed;
	h.step = t->step;
	h.batch = t->o.batch;
	h.n_params = P;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return eng_fail(err, "checkpoint path too long");
	f = fopen(tmp, "wb");
	if (!f)
		return eng_fail(err, "cannot write %s: %s", tmp, strerror(errno));
	ok = fwrite(&h, sizeof(h), 1, f) == 1 && fwrite(t->m->p, sizeof(float), P, f) == P &&
	     fwrite(t->adam_m, sizeof(float), P, f) == P && fwrite(t->adam_v, sizeof(float), P, f) == P;
	ok = (fclose(f) == 0) && ok;
	/* rename last, so an interrupted save never replaces a good checkpoint */
	if (!ok || rename(tmp, path) != 0) {
		remove(tmp);
		return eng_fail(err, "cannot write checkpoint %s", path);
	}
	return 0;
}

int tr_checkpoint_load(struct tr_trainer *t, const char *path, struct eng_err *err)
{
	struct ckpt_header h;
	FILE *f = fopen(path, "rb");
	size_t P = t->m->n_params;
	int ok;

	if (!f)
		return eng_fail(err, "cannot open checkpoint %s: %s", path, strerror(errno));
	if (fread(&h, sizeof(h), 1, f) != 1 || memcmp(h.magic, CKPT_MAGIC, 8) != 0) {
		fclose(f);
		return eng_fail(err, "%s is not a wse-train checkpoint", path);
	}
	if (memcmp(&h.cfg, &t->o.cfg, sizeof(h.cfg)) != 0 || h.n_params != P) {
		fclose(f);
		return eng_fail(err, "checkpoint %s is for a different model shape", path);
	}
	if (h.seed != t->o.seed || h.batch != t->o.batch) {
		fclose(f);
		return eng_fail(err, "checkpoint %s used seed %llu batch %d (now %llu, %d)", path,
				(unsigned long long)h.seed, h.batch, (unsigned long long)t->o.seed, t->o.batch);
	}
	if (h.step < 0 || h.step > t->o.steps) {
		fclose(f);
		return eng_fail(err, "checkpoint %s is at step %d, beyond the %d requested", path, h.step,
				t->o.steps);
	}
	ok = fread(t->m->p, sizeof(float), P, f) == P && fread(t->adam_m, sizeof(float), P, f) == P &&
	     fread(t->adam_v, sizeof(float), P, f) == P;
	fclose(f);
	if (!ok)
		return eng_fail(err, "checkpoint %s is truncated", path);
	for (size_t i = 0; i < P; i++)
		if (!isfinite(t->m->p[i]))
			return eng_fail(err, "checkpoint %s holds non-finite weights", path);
	t->step = h.step;
	tr_model_sync(t->m);
	return 0;
}

/* ---- GGUF ------------------------------------------------------------------------ */

int tr_save_gguf(const struct tr_model *m, const struct bpe_vocab *v, const char *path, int f32,
		 const char *description, struct eng_err *err)
{
	const struct tr_config *c = &m->c;
	struct gguf_writer *w = gguf_writer_new();
	uint16_t *half = NULL;
	uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->hidden, hd = D / (uint64_t)c->n_heads;
	uint64_t KVD = hd * (uint64_t)c->n_kv_heads;
	int rc = 0;
	char name[96];

	if (!w)
		return eng_fail(err, "out of memory");
	if (v->n != c->vocab) {
		gguf_writer_free(w);
		return eng_fail(err, "vocabulary has %d tokens, model %d", v->n, c->vocab);
	}
	if (!f32) {
		half = malloc(m->n_params * sizeof(uint16_t));
		if (!half) {
			gguf_writer_free(w);
			return eng_fail(err, "out of memory");
		}
		for (size_t i = 0; i < m->n_params; i++)
			half[i] = kern_f32_to_f16(m->p[i]);
	}
	rc |= gguf_w_str(w, "general.architecture", "llama");
	rc |= gguf_w_str(w, "general.name", "wse-kjv");
	rc |= gguf_w_str(w, "general.description", description ? description : "");
	rc |= gguf_w_str(w, "general.license", "public domain text; model MIT");
	rc |= gguf_w_u32(w, "general.file_type", f32 ? 0 : 1);
	rc |= gguf_w_u32(w, "llama.context_length", (uint32_t)c->seq_len);
	rc |= gguf_w_u32(w, "llama.embedding_length", (uint32_t)D);
	rc |= gguf_w_u32(w, "llama.block_count", (uint32_t)c->n_layers);
	rc |= gguf_w_u32(w, "llama.feed_forward_length", (uint32_t)F);
	rc |= gguf_w_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
	rc |= gguf_w_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
	rc |= gguf_w_u32(w, "llama.rope.dimension_count", (uint32_t)hd);
	rc |= gguf_w_f32(w, "llama.rope.freq_base", c->rope_theta);
	rc |= gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", c->rms_eps);
	rc |= gguf_w_u32(w, "llama.vocab_size", (uint32_t)c->vocab);
	rc |= bpe_write_gguf(v, w);

#define MATRIX(nm, off, rows, cols) do {						\
		uint64_t ne[2] = { (cols), (rows) };					\
		rc |= gguf_w_tensor(w, nm, f32 ? ENG_F32 : ENG_F16, 2, ne,		\
				    f32 ? (const void *)(m->p + (off)) : (const void *)(half + (off))); \
	} while (0)
#define VECTOR(nm, off) do {								\
		uint64_t ne[1] = { D };							\
		rc |= gguf_w_tensor(w, nm, ENG_F32, 1, ne, m->p + (off));		\
	} while (0)

	MATRIX("token_embd.weight", m->tok_embd, (uint64_t)c->vocab, D);
	for (int l = 0; l < c->n_layers; l++) {
		const struct tr_layer_off *L = &m->layer[l];
		/* in the order the trainer has always written them; rows 0: a norm vector */
		const struct { const char *gguf; size_t off; uint64_t rows, cols; } blk[] = {
			{ "attn_norm", L->attn_norm, 0, D }, { "attn_q", L->wq, D, D },
			{ "attn_k", L->wk, KVD, D }, { "attn_v", L->wv, KVD, D },
			{ "attn_output", L->wo, D, D }, { "ffn_norm", L->ffn_norm, 0, D },
			{ "ffn_gate", L->w_gate, F, D }, { "ffn_up", L->w_up, F, D },
			{ "ffn_down", L->w_down, D, F },
		};

		for (size_t i = 0; i < sizeof(blk) / sizeof(blk[0]); i++) {
			snprintf(name, sizeof(name), "blk.%d.%s.weight", l, blk[i].gguf);
			if (blk[i].rows)
				MATRIX(name, blk[i].off, blk[i].rows, blk[i].cols);
			else
				VECTOR(name, blk[i].off);
		}
	}
	VECTOR("output_norm.weight", m->output_norm);
#undef MATRIX
#undef VECTOR
	if (rc) {
		eng_fail(err, "out of memory building the GGUF");
	} else {
		rc = gguf_writer_save(w, path, err);
	}
	gguf_writer_free(w);
	free(half);
	return rc ? -1 : 0;
}

static int copy_tensor(float *dst, const struct eng_tensor *t, uint64_t rows, uint64_t cols,
		       const char *what, struct eng_err *err)
{
	if (t->rows != rows || t->cols != cols || !t->data)
		return eng_fail(err, "%s is %llux%llu, expected %llux%llu", what,
				(unsigned long long)t->rows, (unsigned long long)t->cols,
				(unsigned long long)rows, (unsigned long long)cols);
	for (uint64_t r = 0; r < rows; r++)
		eng_row_to_f32((const uint8_t *)t->data + r * t->row_bytes, t->type, cols, dst + r * cols);
	return 0;
}

struct tr_model *tr_load_gguf(const char *path, struct eng_tokenizer **tok, struct eng_err *err)
{
	struct eng_model *em = eng_model_load(path, NULL, err);
	struct tr_model *m = NULL;
	struct tr_config c;
	const char *why;
	int rc = 0;

	*tok = NULL;
	if (!em)
		return NULL;
	c = (struct tr_config){ .dim = (int)em->hp.dim, .hidden = (int)em->hp.hidden_dim,
				.n_layers = (int)em->hp.n_layers, .n_heads = (int)em->hp.n_heads,
				.n_kv_heads = (int)em->hp.n_kv_heads, .vocab = (int)em->hp.vocab_size,
				.seq_len = (int)em->hp.ctx_len, .rope_theta = em->hp.rope_theta,
				.rms_eps = em->hp.rms_eps };
	if (c.seq_len > 4096)
		c.seq_len = 4096;
	why = tr_config_check(&c);
	if (why || !em->tied_output || !em->gguf) {
		eng_fail(err, "%s: cannot score this model (%s)", path,
			 why ? why : "wse-train scores GGUF models with tied output embeddings only");
		eng_model_free(em);
		return NULL;
	}
	m = tr_model_new(&c);
	if (!m) {
		eng_fail(err, "out of memory");
		eng_model_free(em);
		return NULL;
	}
	{
		uint64_t D = (uint64_t)c.dim, F = (uint64_t)c.hidden;
		uint64_t KVD = D / (uint64_t)c.n_heads * (uint64_t)c.n_kv_heads;

		rc |= copy_tensor(m->p + m->tok_embd, &em->tok_embd, (uint64_t)c.vocab, D, "token_embd", err);
		rc |= copy_tensor(m->p + m->output_norm, &em->output_norm, 1, D, "output_norm", err);
		for (int l = 0; l < c.n_layers && !rc; l++) {
			const struct eng_layer *E = &em->layers[l];
			const struct tr_layer_off *L = &m->layer[l];

			rc |= copy_tensor(m->p + L->attn_norm, &E->attn_norm, 1, D, "attn_norm", err);
			rc |= copy_tensor(m->p + L->wq, &E->wq, D, D, "attn_q", err);
			rc |= copy_tensor(m->p + L->wk, &E->wk, KVD, D, "attn_k", err);
			rc |= copy_tensor(m->p + L->wv, &E->wv, KVD, D, "attn_v", err);
			rc |= copy_tensor(m->p + L->wo, &E->wo, D, D, "attn_output", err);
			rc |= copy_tensor(m->p + L->ffn_norm, &E->ffn_norm, 1, D, "ffn_norm", err);
			rc |= copy_tensor(m->p + L->w_gate, &E->w_gate, F, D, "ffn_gate", err);
			rc |= copy_tensor(m->p + L->w_up, &E->w_up, F, D, "ffn_up", err);
			rc |= copy_tensor(m->p + L->w_down, &E->w_down, D, F, "ffn_down", err);
		}
	}
	if (!rc && em->gguf && eng_tokenizer_from_gguf(em->gguf, tok, err))
		rc = -1;
	if (!rc && !*tok)
		rc = eng_fail(err, "%s has no tokenizer", path);
	eng_model_free(em);
	if (rc) {
		tr_model_free(m);
		return NULL;
	}
	tr_model_sync(m);
	return m;
}

/* ---- scoring ------------------------------------------------------------------------ */

struct chunk {
	size_t start, n;
};

struct score_job {
	const struct tr_model *m;
	const struct tr_stream *s;
	const struct chunk *chunks;
	size_t n_chunks;
	double *bits;
	int id, threads;
	int failed;
};

static void *score_main(void *arg)
{
	struct score_job *j = arg;
	size_t T = (size_t)j->m->c.seq_len;
	struct tr_work *w = tr_work_new(&j->m->c);
	int32_t *seq = malloc((T + 1) * sizeof(int32_t));

	if (!w || !seq) {
		j->failed = 1;
	} else {
		for (size_t c = (size_t)j->id; c < j->n_chunks; c += (size_t)j->threads) {
			seq[0] = 1;
			memcpy(seq + 1, j->s->tok + j->chunks[c].start, j->chunks[c].n * sizeof(int32_t));
			j->bits[c] = tr_sequence(j->m, w, seq, (int)j->chunks[c].n, NULL, 1.0f) / M_LN2;
		}
	}
	free(seq);
	tr_work_free(w);
	return NULL;
}

double tr_score_bits(const struct tr_model *m, const struct tr_stream *s, int threads,
		     size_t max_chunks, size_t *tokens_scored)
{
	size_t T = (size_t)m->c.seq_len, n_chunks = 0, pos = 0, v = 0, scored = 0;
	struct chunk *chunks = malloc(sizeof(*chunks) * (s->n / 1 + 1));
	struct score_job jobs[64];
	pthread_t tid[64];
	double *bits, total = 0.0;
	int failed = 0;

	if (!chunks)
		return NAN;
	for (size_t i = 0; i < s->n; i++)
		if (s->tok[i] < 0 || s->tok[i] >= m->c.vocab) {
			free(chunks);
			return NAN;
		}
	/* whole verses per chunk where they fit; a verse longer than T is cut */
	while (pos < s->n && (!max_chunks || n_chunks < max_chunks)) {
		size_t end = pos + T < s->n ? pos + T : s->n, cut = pos;

		while (v < s->n_verses && s->verse_start[v] <= pos)
			v++;
		for (size_t u = v; u <= s->n_verses && s->verse_start[u] <= end; u++)
			cut = s->verse_start[u];
		if (end == s->n)
			cut = end;
		if (cut <= pos)
			cut = end;
		chunks[n_chunks++] = (struct chunk){ pos, cut - pos };
		scored += cut - pos;
		pos = cut;
	}
	bits = calloc(n_chunks + 1, sizeof(double));
	if (!bits) {
		free(chunks);
		return NAN;
	}
	if (threads < 1)
		threads = 1;
	if (threads > 64)
		threads = 64;
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct score_job){ m, s, chunks, n_chunks, bits, i, threads, 0 };
		if (i > 0 && pthread_create(&tid[i], NULL, score_main, &jobs[i]) != 0)
			jobs[i].failed = 2;
	}
	score_main(&jobs[0]);
	for (int i = 1; i < threads; i++) {
		if (jobs[i].failed != 2)
			pthread_join(tid[i], NULL);
		else
			score_main(&jobs[i]);	/* no thread: run its share here */
		failed |= jobs[i].failed == 1;
	}
	failed |= jobs[0].failed;
	for (size_t c = 0; c < n_chunks; c++)
		total += bits[c];
	free(bits);
	free(chunks);
	if (tokens_scored)
		*tokens_scored = scored;
	return failed ? NAN : total;
}
