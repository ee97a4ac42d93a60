// SPDX-License-Identifier: MIT
/*
 * e2e-infer - end-to-end test of the wse backend on real (virtual) devices,
 * run inside the VM by tests/vm/50-e2e.sh.
 *
 *   e2e-infer [--devices LIST] [--reference DIR] [--model PATH]...
 *        TAP: the wse backend on each device count of LIST (e.g. 1,2,4)
 *        against the cpu backend
 *   e2e-infer --write-reference DIR [--model PATH]...
 *        runs the cpu backend and saves its runs to DIR (natively on the
 *        host: under TCG the guest computes the reference 100x slower)
 *   e2e-infer --write-model PATH
 *        writes a small random model with a tokenizer (for the wse-infer
 *        checks of tests/vm/50-e2e.sh)
 *
 * For every model (small random ones in each weight dtype, plus each --model
 * and /wse/models/default.gguf when present) the same 64-position greedy run
 * is made on both backends: a 20-token prompt in batches of 8 with the
 * logits of every prompt position, then 44 decode steps. The cpu run comes
 * from DIR/<model>.ref when given, else is made in this process. At every
 * position the wse logits must match the cpu logits within
 *   |wse - cpu| <= the model's tolerance * max|cpu logits of that position|
 * and the greedy tokens must be identical. Then the errors a user can meet:
 * more devices than exist, a model too big for the SRAM, a device fault.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/gguf.h"
#include "engine/wse_backend.h"
#include "libwse/wse.h"
#include "tests/tap.h"
#include "tests/unit/engine_tiny_model.h"

#define RUN_POSITIONS	64
#define PROMPT_TOKENS	20
#define BATCH		8
/*
 * Tolerances of |wse - cpu| / max|logit|, about 15x the worst seen at any
 * position (the same on 1, 2 and 4 devices): the random f32 model 2.43e-7
 * (max |diff| 1.53e-5), f16 4.64e-7, bf16 4.72e-7, q8_0 4.27e-7, the
 * default model 6.05e-7 (max |diff| 5.72e-6).
 */
#define TOL_F32		4e-6
#define TOL_F16		7e-6
#define TOL_BF16	7e-6
#define TOL_Q8_0	6e-6
#define TOL_DEFAULT	9e-6	/* engine/models/default.gguf, found by its base name */
/* A --model measured nowhere: the largest of the above. */
#define TOL_OTHER	9e-6


static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct loaded {
	struct eng_model *model;
	void *image;	/* backing memory of an in-memory model */
	char name[160];
	double tol;		/* of the logits, see the file comment */
};

static int load_mem(struct loaded *out, const struct tiny_spec *spec, const char *name)
{
	struct eng_err err;
	struct gguf_file *gf;
	size_t size;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->image = tiny_model_gguf(spec, &size);
	if (!out->image)
		return -1;
	gf = gguf_open_mem(out->image, size, &err);
	out->model = gf ? eng_model_from_gguf(gf, &err) : NULL;
	if (!out->model) {
		if (gf)
			gguf_close(gf);
		TAP_NOTE("%s: %s", name, err.msg);
		free(out->image);
		return -1;
	}
	return 0;
}

static void unload(struct loaded *l)
{
	eng_model_free(l->model);
	free(l->image);
}

static int32_t argmax(const float *v, uint32_t n)
{
	uint32_t best = 0;

	for (uint32_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return (int32_t)best;
}

struct run {
	int32_t tokens[RUN_POSITIONS + 1];
	float *logits;		/* RUN_POSITIONS x vocab */
	struct eng_backend_stats stats;
	char where[512];
};

/* The greedy run of the file comment; 0 on success, else err is filled. */
static int greedy_run(const struct eng_model *m, const char *backend, int devices,
		      struct run *r, struct eng_err *err)
{
	struct eng_backend_config cfg = { .n_ctx = 128, .max_batch = BATCH, .n_devices = devices };
	uint32_t vocab = m->hp.vocab_size;
	struct eng_backend *be = eng_backend_create(backend, m, &cfg, err);
	int rc = 0;

	if (!be)
		return -1;
	eng_wse_describe(be, r->where, sizeof(r->where));
	r->logits = calloc((size_t)RUN_POSITIONS * vocab, sizeof(float));
	if (!r->logits) {
		eng_backend_destroy(be);
		return eng_fail(err, "out of memory");
	}
	r->tokens[0] = 1;
	for (uint32_t i = 1; i < PROMPT_TOKENS; i++)
		r->tokens[i] = (int32_t)((i * 7919u + 13) % vocab);
	rc = eng_backend_forward(be, r->tokens, PROMPT_TOKENS, 0, r->logits, 1, err);
	for (uint32_t pos = PROMPT_TOKENS; pos < RUN_POSITIONS && !rc; pos++) {
		r->tokens[pos] = argmax(r->logits + (size_t)(pos - 1) * vocab, vocab);
		rc = eng_backend_forward(be, &r->tokens[pos], 1, pos, r->logits + (size_t)pos * vocab,
					 0, err);
	}
	r->tokens[RUN_POSITIONS] = argmax(r->logits + (size_t)(RUN_POSITIONS - 1) * vocab, vocab);
	eng_backend_get_stats(be, &r->stats);
	eng_backend_destroy(be);
	return rc;
}

#define REF_MAGIC	0x31464552u	/* "REF1" */

static const char *base_name(const char *path)
{
	return strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
}

/* DIR/<base name of the model>.ref */
static void ref_path(char *buf, size_t size, const char *dir, const char *name)
{
	const char *base = base_name(name);

	snprintf(buf, size, "%s/%s.ref", dir, base);
	for (char *p = buf + strlen(dir) + 1; *p; p++)
		if (*p == ' ')
			*p = '-';
}

static int ref_save(const char *dir, const struct loaded *l, const struct run *r)
{
	uint32_t head[3] = { REF_MAGIC, l->model->hp.vocab_size, RUN_POSITIONS };
	char path[512];
	FILE *f;
	int ok;

	ref_path(path, sizeof(path), dir, l->name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	ok = fwrite(head, sizeof(head), 1, f) == 1 &&
	     fwrite(r->tokens, sizeof(r->tokens), 1, f) == 1 &&
	     fwrite(r->logits, sizeof(float) * head[1], RUN_POSITIONS, f) == RUN_POSITIONS;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* 1 loaded, 0 no such file, -1 a file that does not fit the model. */
static int ref_load(const char *dir, const struct loaded *l, struct run *r)
{
	uint32_t head[3], vocab = l->model->hp.vocab_size;
	char path[512];
	FILE *f;
	int ok;

	ref_path(path, sizeof(path), dir, l->name);
	f = fopen(path, "rb");
	if (!f)
		return 0;
	r->logits = calloc((size_t)RUN_POSITIONS * vocab, sizeof(float));
	ok = r->logits && fread(head, sizeof(head), 1, f) == 1 && head[0] == REF_MAGIC &&
	     head[1] == vocab && head[2] == RUN_POSITIONS &&
	     fread(r->tokens, sizeof(r->tokens), 1, f) == 1 &&
	     fread(r->logits, sizeof(float) * vocab, RUN_POSITIONS, f) == RUN_POSITIONS;
	fclose(f);
	return ok ? 1 : -1;
}

static void compare_one(const struct loaded *l, const struct run *cpu, int devices)
{
	uint32_t vocab = l->model->hp.vocab_size;
	struct run wse = { 0 };
	struct eng_err err;
	double max_diff = 0, max_ratio = 0, max_rel = 0, t0 = now_ms();
	int worst_pos = -1, bad_pos = -1, same_tokens = 1;

	if (greedy_run(l->model, "wse", devices, &wse, &err)) {
		TAP_OK(0, "%s: wse run on %d device(s): %s", l->name, devices, err.msg);
		free(wse.logits);
		return;
	}
	TAP_NOTE("%s: placed as %s; wse run %.0f ms (load and %d steps)", l->name, wse.where,
		 now_ms() - t0, 3 + RUN_POSITIONS - PROMPT_TOKENS);
	for (int pos = 0; pos < RUN_POSITIONS; pos++) {
		const float *a = cpu->logits + (size_t)pos * vocab, *b = wse.logits + (size_t)pos * vocab;
		double scale = 0, diff = 0;

		for (uint32_t i = 0; i < vocab; i++)
			scale = fmax(scale, fabs(a[i]));
		for (uint32_t i = 0; i < vocab; i++) {
			double d = fabs((double)a[i] - b[i]);

			if (!(d <= diff))	/* NaN counts as the worst */
				diff = isnan(d) ? INFINITY : d;
		}
		if (diff > max_diff || worst_pos < 0) {
			max_diff = diff;
			worst_pos = pos;
		}
		if (scale > 0 && diff / scale > max_rel)
			max_rel = diff / scale;
		if (diff > 0 && diff / (l->tol * scale) > max_ratio)
			max_ratio = diff / (l->tol * scale);
		if (!(diff <= l->tol * scale) && bad_pos < 0)
			bad_pos = pos;
	}
	for (int i = 0; i <= RUN_POSITIONS; i++)
		if (cpu->tokens[i] != wse.tokens[i])
			same_tokens = 0;
	TAP_OK(bad_pos < 0,
	       "%s, %d device(s): logits match the cpu backend at all %d positions "
	       "(max |diff| %.3g at position %d; max |diff| / max|logit| %.3g, %.3f of the "
	       "tolerance %g)",
	       l->name, devices, RUN_POSITIONS, max_diff, worst_pos, max_rel, max_ratio, l->tol);
	if (bad_pos >= 0)
		TAP_NOTE("first position out of tolerance: %d", bad_pos);
	TAP_OK(same_tokens, "%s, %d device(s): the %d greedy tokens are identical", l->name,
	       devices, RUN_POSITIONS + 1 - PROMPT_TOKENS);
	TAP_OK(wse.stats.decode_steps == RUN_POSITIONS - PROMPT_TOKENS &&
	       wse.stats.modelled_decode_cycles > 0 && wse.stats.modelled_clock_hz > 0 &&
	       wse.stats.modelled_cycles > wse.stats.modelled_decode_cycles,
	       "%s, %d device(s): stats count %llu decode steps, %llu modelled decode cycles at "
	       "%.0f MHz (modelled %.0f tok/s)", l->name, devices,
	       (unsigned long long)wse.stats.decode_steps,
	       (unsigned long long)wse.stats.modelled_decode_cycles, wse.stats.modelled_clock_hz / 1e6,
	       wse.stats.modelled_decode_cycles ?
	       wse.stats.decode_steps * wse.stats.modelled_clock_hz / wse.stats.modelled_decode_cycles : 0);
	free(wse.logits);
}

/* The reference run (from ref_dir, or made here), then the wse run on each device count. */
static void compare_model(const struct loaded *l, const char *ref_dir, const int *counts,
			  int n_counts)
{
	struct run cpu = { 0 };
	struct eng_err err;
	int got = ref_dir ? ref_load(ref_dir, l, &cpu) : 0;
	double t0 = now_ms();

	if (got < 0) {
		TAP_OK(0, "%s: the reference run in %s does not fit the model", l->name, ref_dir);
		goto out;
	}
	if (!got) {
		free(cpu.logits);
		cpu.logits = NULL;
		if (greedy_run(l->model, "cpu", 0, &cpu, &err)) {
			TAP_OK(0, "%s: cpu reference run: %s", l->name, err.msg);
			goto out;
		}
		TAP_NOTE("%s: cpu reference run here, %.0f ms", l->name, now_ms() - t0);
	}
	for (int i = 0; i < n_counts; i++)
		compare_one(l, &cpu, counts[i]);
out:
	free(cpu.logits);
}

static int count_devices_in(const char *where)
{
	int n = *where ? 1 : 0;

	for (const char *p = where; (p = strstr(p, "; ")); p += 2)
		n++;
	return n;
}

static void placement_checks(const struct loaded *l, int n_devices)
{
	struct eng_backend_config cfg = { .n_ctx = 64, .n_devices = n_devices, .max_batch = BATCH };
	struct eng_err err;
	struct eng_backend *be = eng_backend_create("wse", l->model, &cfg, &err);
	char where[512] = "";
	int used = be ? eng_wse_describe(be, where, sizeof(where)) : 0;

	TAP_OK(be && used == n_devices && count_devices_in(where) == n_devices,
	       "--devices %d splits the layers over %d devices as a pipeline (%s)", n_devices, used,
	       be ? where : err.msg);
	eng_backend_destroy(be);
}

/* "all": a model that fits one wafer stays on one */
static void placement_all_check(const struct loaded *l)
{
	struct eng_backend_config cfg = { .n_ctx = 64, .n_devices = 0, .max_batch = BATCH };
	struct eng_err err;
	struct eng_backend *be;
	char where[512] = "";
	int used;

	be = eng_backend_create("wse", l->model, &cfg, &err);
	used = be ? eng_wse_describe(be, where, sizeof(where)) : 0;
	TAP_OK(be && used == 1, "--devices all places a small model on one device (%s)",
	       be ? where : err.msg);
	eng_backend_destroy(be);
}

static void error_checks(const struct loaded *l, int n_devices)
{
	struct eng_backend_config cfg = { .n_ctx = 64, .n_devices = n_devices + 1 };
	struct eng_err err = { "" };
	struct eng_backend *be = eng_backend_create("wse", l->model, &cfg, &err);

	TAP_OK(!be && strstr(err.msg, "asked for") && strstr(err.msg, "present"),
	       "asking for %d devices when %d exist fails clearly: %s", n_devices + 1, n_devices,
	       err.msg);
	eng_backend_destroy(be);

	/* each layer's KV cache for a million positions (2 GiB) is more than a wafer's SRAM */
	{
		struct tiny_spec spec = { .dim = 256, .hidden = 256, .layers = 4, .heads = 8,
					  .kv_heads = 8, .vocab = 300, .ctx = 128, .wtype = ENG_F16,
					  .seed = 5 };
		struct loaded big;

		if (load_mem(&big, &spec, "wide model")) {
			TAP_OK(0, "building the wide model");
			return;
		}
		cfg = (struct eng_backend_config){ .n_ctx = ENG_MAX_CTX, .n_devices = n_devices };
		err.msg[0] = 0;
		be = eng_backend_create("wse", big.model, &cfg, &err);
		TAP_OK(!be && strstr(err.msg, "MiB") && strstr(err.msg, "SRAM"),
		       "a model too big for the SRAM fails clearly: %s", err.msg);
		eng_backend_destroy(be);
		cfg.n_devices = 0;
		err.msg[0] = 0;
		be = eng_backend_create("wse", big.model, &cfg, &err);
		TAP_OK(!be && strstr(err.msg, "MiB") && strstr(err.msg, "SRAM"),
		       "... also when every device may be used: %s", err.msg);
		eng_backend_destroy(be);
		unload(&big);
	}
}

/* An uncorrectable SRAM error injected on every queue makes the next step fail with a message. */
static void fault_checks(const struct loaded *l)
{
	struct eng_backend_config cfg = { .n_ctx = 64, .n_devices = 1, .max_batch = BATCH };
	struct eng_err err = { "" };
	struct eng_backend *be = eng_backend_create("wse", l->model, &cfg, &err);
	struct wse_device_entry first_dev;
	wse_device *dev = NULL;
	struct wse_info info;
	char msg[256] = "";
	float *logits = malloc(sizeof(float) * l->model->hp.vocab_size);
	int32_t tok = 1;
	int rc;

	/* the device the backend uses: the first one listed */
	if (!be || !logits || wse_enumerate(NULL, &first_dev, 1) < 1 ||
	    wse_open(first_dev.path, &dev, msg, sizeof(msg)) || wse_query_info(dev, &info)) {
		TAP_OK(0, "device fault set-up: %s%s", err.msg, msg);
		goto out;
	}
	if (!TAP_OK(info.caps & WSE_FEATURE_FAULT_INJECT, "the device offers fault injection"))
		goto out;
	for (uint32_t q = 0; q < info.num_queues; q++)
		wse_fault_inject(dev, WSE_INJECT_SRAM_ERROR, q);
	rc = eng_backend_forward(be, &tok, 1, 0, logits, 0, &err);
	TAP_OK(rc && strstr(err.msg, "wse") && strstr(err.msg, "/dev/"),
	       "a device fault during a step gives a clear error: %s", rc ? err.msg : "(no error)");
	/* leave no armed fault behind for later runs */
	for (uint32_t q = 0; q < info.num_queues; q++)
		wse_fault_inject(dev, WSE_INJECT_NONE, q);
out:
	wse_close(dev);
	eng_backend_destroy(be);
	free(logits);
}

static int write_demo_model(const char *path)
{
	struct tiny_spec spec = { .dim = 128, .hidden = 320, .layers = 4, .heads = 4, .kv_heads = 2,
				  .vocab = 512, .ctx = 512, .wtype = ENG_F16, .with_vocab = 1,
				  .untied = 1, .seed = 7 };
	size_t size;
	void *image = tiny_model_gguf(&spec, &size);
	int rc = image ? tiny_write_file(path, image, size) : -1;

	free(image);
	if (rc)
		fprintf(stderr, "e2e-infer: cannot write %s: %s\n", path, strerror(errno));
	return rc ? 1 : 0;
}

/* "1,2,4" -> counts; the number of counts, or -1. */
static int parse_counts(const char *list, int *counts, int max)
{
	int n = 0;

	while (*list && n < max) {
		char *end;
		long v = strtol(list, &end, 10);

		if (end == list || v < 1 || v > 64 || (*end && *end != ','))
			return -1;
		counts[n++] = (int)v;
		list = *end ? end + 1 : end;
	}
	return *list ? -1 : n;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum eng_dtype type;
		int untied;
		double tol;
	} kinds[] = {
		{ "random f32 model", ENG_F32, 0, TOL_F32 },
		{ "random f16 model", ENG_F16, 1, TOL_F16 },
		{ "random bf16 model", ENG_BF16, 1, TOL_BF16 },
		{ "random q8_0 model", ENG_Q8_0, 1, TOL_Q8_0 },
	};
	const char *extra[8], *ref_dir = NULL, *write_ref = NULL;
	int n_extra = 0, counts[8] = { 1 }, n_counts = 1, present;
	struct loaded first = { 0 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--write-model") && i + 1 < argc)
			return write_demo_model(argv[i + 1]);
		if (!strcmp(argv[i], "--devices") && i + 1 < argc) {
			n_counts = parse_counts(argv[++i], counts, 8);
			if (n_counts < 1) {
				fprintf(stderr, "e2e-infer: --devices takes counts 1..64, e.g. 1,2,4\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--reference") && i + 1 < argc) {
			ref_dir = argv[++i];
		} else if (!strcmp(argv[i], "--write-reference") && i + 1 < argc) {
			write_ref = argv[++i];
		} else if (!strcmp(argv[i], "--model") && i + 1 < argc && n_extra < 7) {
			extra[n_extra++] = argv[++i];
		} else {
			fprintf(stderr, "usage: e2e-infer [--devices 1,2,4] [--reference DIR] [--model PATH]...\n"
					"       e2e-infer --write-reference DIR [--model PATH]...\n"
					"       e2e-infer --write-model PATH\n");
			return 2;
		}
	}
	if (!write_ref && access("/wse/models/default.gguf", R_OK) == 0)
		extra[n_extra++] = "/wse/models/default.gguf";

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) + (size_t)n_extra; k++) {
		struct loaded l = { 0 };

		if (k < sizeof(kinds) / sizeof(kinds[0])) {
			/* GQA, 4 layers so that 4 devices get one each, FFN not a multiple of 64 */
			struct tiny_spec spec = { .dim = 128, .hidden = 352, .layers = 4, .heads = 8,
						  .kv_heads = 2, .vocab = 320, .ctx = 128,
						  .wtype = kinds[k].type, .untied = kinds[k].untied,
						  .seed = 11 + k };

			if (load_mem(&l, &spec, kinds[k].name)) {
				TAP_OK(0, "building the %s", kinds[k].name);
				continue;
			}
			l.tol = kinds[k].tol;
		} else {
			const char *path = extra[k - sizeof(kinds) / sizeof(kinds[0])];
			struct eng_err err;

			snprintf(l.name, sizeof(l.name), "%s", path);
			l.tol = strcmp(base_name(path), "default.gguf") ? TOL_OTHER : TOL_DEFAULT;
			l.model = eng_model_load(path, NULL, &err);
			if (!TAP_OK(l.model != NULL, "loading %s%s%s", path, l.model ? "" : ": ",
				    l.model ? "" : err.msg))
				continue;
		}
		if (write_ref) {
			struct run cpu = { 0 };
			struct eng_err err;
			int rc = greedy_run(l.model, "cpu", 0, &cpu, &err);

			if (rc) {
				fprintf(stderr, "e2e-infer: %s: %s\n", l.name, err.msg);
			} else if (ref_save(write_ref, &l, &cpu)) {
				fprintf(stderr, "e2e-infer: writing the reference of %s to %s: %s\n",
					l.name, write_ref, strerror(errno));
				rc = -1;
			}
			free(cpu.logits);
			unload(&l);
			if (rc)
				return 1;
			continue;
		}
		compare_model(&l, ref_dir, counts, n_counts);
		if (k == 0)
			first = l;
		else
			unload(&l);
	}
	if (write_ref)
		return 0;
	present = wse_enumerate(NULL, NULL, 0);
	if (first.model) {
		for (int i = 0; i < n_counts; i++)
			placement_checks(&first, counts[i]);
		placement_all_check(&first);
		error_checks(&first, present > 0 ? present : 1);
		fault_checks(&first);
		unload(&first);
	}
	return tap_done();
}
