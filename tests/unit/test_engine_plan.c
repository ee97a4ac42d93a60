// SPDX-License-Identifier: MIT
/*
 * test_engine_plan - the wse backend's SRAM plan on the host, without a
 * device: every tensor aligned, inside its device's allocation and apart
 * from every other; sizes from the tensors' own shapes and each device's own
 * dtypes; the allocation within each device's free SRAM; a device with less
 * SRAM gets fewer layers; a model that cannot fit names what is short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/sram_plan.h"
#include "tests/tap.h"
#include "tests/unit/engine_tiny_model.h"
#include "wse/hw_ops.h"

#define MIB		(1024ull * 1024ull)
#define ALL_DTYPES	(1u << ENG_F32 | 1u << ENG_F16 | 1u << ENG_BF16 | 1u << ENG_Q8_0)

struct fixture {
	void *image;
	struct eng_model *m;
};

static int fixture_open(struct fixture *f, uint32_t layers, enum eng_dtype wtype, int untied)
{
	struct tiny_spec spec = { .dim = 128, .hidden = 352, .layers = layers, .heads = 8,
				  .kv_heads = 2, .vocab = 320, .ctx = 128, .wtype = wtype,
				  .untied = untied, .seed = 3 };
	struct eng_err err = { "" };
	struct gguf_file *gf;
	size_t size;

	memset(f, 0, sizeof(*f));
	f->image = tiny_model_gguf(&spec, &size);
	gf = f->image ? gguf_open_mem(f->image, size, &err) : NULL;
	f->m = gf ? eng_model_from_gguf(gf, &err) : NULL;
	if (!f->m) {
		TAP_NOTE("model: %s", err.msg);
		gguf_close(gf);
	}
	return f->m ? 0 : -1;
}

static void fixture_close(struct fixture *f)
{
	eng_model_free(f->m);
	free(f->image);
}

static uint64_t aligned(uint64_t v)
{
	return (v + ENG_PLAN_ALIGN - 1) / ENG_PLAN_ALIGN * ENG_PLAN_ALIGN;
}

struct named_span {
	const char *what;
	uint32_t layer;
	struct eng_plan_span s;
};

static int by_offset(const void *a, const void *b)
{
	const struct named_span *x = a, *y = b;

	return x->s.off < y->s.off ? -1 : x->s.off > y->s.off;
}

/* Records a span and checks its size; returns 1 if the size is wrong. */
static int want(const struct eng_plan_dev *D, struct named_span *all, size_t *n,
		struct eng_plan_span span, const char *what, uint32_t layer, uint64_t expect)
{
	all[(*n)++] = (struct named_span){ what, layer, span };
	if (span.bytes == aligned(expect))
		return 0;
	TAP_NOTE("%s %s (layer %u): %llu bytes, expected %llu", D->name, what, layer,
		 (unsigned long long)span.bytes, (unsigned long long)aligned(expect));
	return 1;
}

/*
 * Every span of device d: aligned, inside the allocation, apart from the
 * others (the tied output may be the embedding itself), and of the size its
 * tensor's shape and dtype give. Returns the number of problems, noted.
 */
static int check_device(const struct eng_sram_plan *p, const struct eng_model *m, int d)
{
	const struct eng_plan_dev *D = &p->dev[d];
	const struct eng_hparams *hp = &m->hp;
	struct named_span *all = calloc(8 + (size_t)p->n_layers * (ENG_LAYER_TENSORS + 2), sizeof(*all));
	uint64_t B = p->max_batch, kv = 4ull * p->n_ctx * hp->n_kv_heads * hp->head_dim;
	size_t n = 0;
	int bad = 0;

	if (!all)
		return 1;
	bad += want(D, all, &n, D->x, "x", 0, 4 * B * hp->dim);
	bad += want(D, all, &n, D->scratch, "scratch", 0, wse_hw_layer_scratch_bytes(hp->dim, hp->hidden_dim, hp->n_heads,
								   hp->head_dim, p->max_batch));
	if (D->first) {
		bad += want(D, all, &n, D->tokens, "tokens", 0, 4 * B);
		bad += want(D, all, &n, D->embd, "token_embd", 0, eng_row_bytes(D->embd_type, hp->dim) * hp->vocab_size);
	}
	if (D->last) {
		bad += want(D, all, &n, D->out_norm, "output_norm", 0, 4ull * hp->dim);
		bad += want(D, all, &n, D->xn, "xn", 0, 4 * B * hp->dim);
		bad += want(D, all, &n, D->logits, "logits", 0, 4 * B * hp->vocab_size);
		if (D->out_w_is_embd) {
			if (D->out_w.off != D->embd.off || !m->tied_output) {
				TAP_NOTE("%s: the output is marked as the embedding but is not", D->name);
				bad++;
			}
		} else {
			bad += want(D, all, &n, D->out_w, "output", 0, eng_row_bytes(D->out_type, hp->dim) * hp->vocab_size);
		}
	}
	for (uint32_t l = D->l0; l < D->l1; l++) {
		const struct eng_plan_layer *P = &p->layer[l];

		for (int i = 0; i < ENG_LAYER_TENSORS; i++) {
			const struct eng_tensor *t = eng_layer_get(&m->layers[l], i);
			enum eng_dtype type = eng_layer_tensors[i].is_norm ? ENG_F32 : P->wtype;

			bad += want(D, all, &n, P->tensor[i], eng_layer_tensors[i].name, l, eng_row_bytes(type, t->cols) * t->rows);
		}
		bad += want(D, all, &n, P->k_cache, "k_cache", l, kv);
		bad += want(D, all, &n, P->v_cache, "v_cache", l, kv);
	}
	qsort(all, n, sizeof(*all), by_offset);
	for (size_t i = 0; i < n; i++) {
		const struct eng_plan_span *s = &all[i].s;

		if (s->off % ENG_PLAN_ALIGN || s->off + s->bytes > D->bytes) {
			TAP_NOTE("%s %s (layer %u) at %llu+%llu: unaligned or past the allocation of %llu",
				 D->name, all[i].what, all[i].layer, (unsigned long long)s->off,
				 (unsigned long long)s->bytes, (unsigned long long)D->bytes);
			bad++;
		}
		if (i + 1 < n && s->off + s->bytes > all[i + 1].s.off) {
			TAP_NOTE("%s %s (layer %u) overlaps %s (layer %u)", D->name, all[i].what,
				 all[i].layer, all[i + 1].what, all[i + 1].layer);
			bad++;
		}
	}
	free(all);
	return bad;
}

/* Every layer on exactly one device, in order, the embedding first and the head last. */
static int check_layers_once(const struct eng_sram_plan *p)
{
	uint32_t next = 0;

	for (int d = 0; d < p->n_dev; d++) {
		if (p->dev[d].l0 != next || p->dev[d].first != (d == 0) ||
		    p->dev[d].last != (d == p->n_dev - 1))
			return 0;
		next = p->dev[d].l1;
	}
	return next == p->n_layers;
}

static int check_all(const struct eng_sram_plan *p, const struct eng_model *m,
		     const struct eng_plan_device *devs)
{
	int bad = !check_layers_once(p);

	for (int d = 0; d < p->n_dev; d++) {
		bad += check_device(p, m, d);
		if (p->dev[d].bytes > devs[d].sram_free) {
			TAP_NOTE("%s: %llu bytes planned, %llu free", p->dev[d].name,
				 (unsigned long long)p->dev[d].bytes, (unsigned long long)devs[d].sram_free);
			bad++;
		}
	}
	return bad == 0;
}

static uint32_t layers_on(const struct eng_sram_plan *p, int d)
{
	return p->dev[d].l1 - p->dev[d].l0;
}

/* The PE bands of a device: one per item, next to each other, covering the grid's rows. */
static int check_regions(const struct eng_sram_plan *p, int d, uint32_t width, uint32_t height)
{
	const struct eng_plan_dev *D = &p->dev[d];
	uint32_t y = 0;

	for (uint32_t l = D->l0; l < D->l1; l++) {
		const struct eng_plan_region *r = &p->layer[l].region;

		if (r->y != y || r->w != width || r->h == 0)
			return 0;
		y += r->h;
	}
	if (D->first) {
		if (D->embd_region.y != y || D->embd_region.h == 0)
			return 0;
		y += D->embd_region.h;
	}
	if (D->last) {
		if (D->head_region.y != y || D->head_region.h == 0)
			return 0;
		y += D->head_region.h;
	}
	return y == height;
}

static void test_split_equal(const struct eng_model *m)
{
	struct eng_plan_device devs[2] = {
		{ "dev0", 64 * MIB, ALL_DTYPES, 32, 48 }, { "dev1", 64 * MIB, ALL_DTYPES, 32, 48 },
	};
	struct eng_sram_plan p;
	struct eng_err err = { "" };
	char where[256];
	int rc = eng_sram_plan_make(&p, m, devs, 2, 1, 128, 8, &err);

	if (!TAP_OK(rc == 0, "4 f16 layers split over 2 equal devices: %s", rc ? err.msg : "planned"))
		return;
	TAP_OK(check_all(&p, m, devs), "every tensor aligned, apart, sized by its shape, within each device's SRAM");
	TAP_OK(layers_on(&p, 0) == 2 && layers_on(&p, 1) == 2, "equal devices get equal shares (%u + %u layers)",
	       layers_on(&p, 0), layers_on(&p, 1));
	TAP_OK(p.layer[0].wtype == ENG_F16 && p.layer[3].wtype == ENG_F16,
	       "devices with f16 keep the f16 weights as stored");
	TAP_OK(check_regions(&p, 0, 32, 48) && check_regions(&p, 1, 32, 48),
	       "each layer, the embedding and the head get their own band of PE rows, together the whole grid");
	{
		char *listing = NULL, *line;
		size_t size = 0;
		FILE *f = open_memstream(&listing, &size);
		int tensor_lines = 0, named = 0;

		if (f) {
			eng_sram_plan_print(&p, f);
			fclose(f);
		}
		for (line = listing; line && (line = strstr(line, "\n  ")); line += 3)
			tensor_lines++;
		named = listing && strstr(listing, "blk.3.w_up (F16)") && strstr(listing, "blk.0.attn_norm (F32)") &&
			strstr(listing, "token_embd (F16)") && strstr(listing, "output (F16)");
		/* per device a header row, x, scratch; dev0 tokens + table, dev1 norm, xn, logits, head; 11 a layer */
		TAP_OK(named && tensor_lines == 2 * 3 + 2 + 4 + 4 * (ENG_LAYER_TENSORS + 2),
		       "--plan lists every tensor by name with its dtype (%d lines)", tensor_lines);
		free(listing);
	}
	eng_sram_plan_describe(&p, where, sizeof(where));
	TAP_OK(strstr(where, "dev0: layers 0..1 + embedding (") && strstr(where, "; dev1: layers 2..3 + output head ("),
	       "the summary reads the plan: %s", where);
	eng_sram_plan_free(&p);
}

static void test_own_caps(const struct eng_model *m)
{
	struct eng_plan_device devs[2] = {
		{ "dev0", 64 * MIB, ALL_DTYPES, 0, 0 }, { "dev1", 64 * MIB, 1u << ENG_F32, 0, 0 },
	};
	struct eng_sram_plan p;
	struct eng_err err = { "" };
	int rc = eng_sram_plan_make(&p, m, devs, 2, 1, 128, 8, &err);

	if (!TAP_OK(rc == 0, "a device without f16 beside one with it: %s", rc ? err.msg : "planned"))
		return;
	TAP_OK(check_all(&p, m, devs), "... every tensor aligned, apart and sized by its own device's dtypes");
	TAP_OK(p.layer[p.dev[0].l0].wtype == ENG_F16 && p.layer[p.dev[1].l0].wtype == ENG_F32 &&
	       p.dev[1].out_type == ENG_F32 && p.dev[0].embd_type == ENG_F16,
	       "each device's own dtypes decide: f16 on dev0, fp32 on dev1 (layers, output)");
	TAP_OK(p.layer[p.dev[1].l0].tensor[ENG_WQ].bytes == 2 * p.layer[p.dev[0].l0].tensor[ENG_WQ].bytes,
	       "an fp32 copy of wq takes twice the SRAM of the f16 one (%llu vs %llu bytes)",
	       (unsigned long long)p.layer[p.dev[1].l0].tensor[ENG_WQ].bytes,
	       (unsigned long long)p.layer[p.dev[0].l0].tensor[ENG_WQ].bytes);
	TAP_OK(p.dev[0].x.bytes && p.dev[1].x.bytes && !(devs[0].grid_height) &&
	       p.layer[0].region.w == 0 && p.layer[0].region.h == 0,
	       "an unknown PE grid runs every op on the whole wafer");
	eng_sram_plan_free(&p);
}

static void test_less_sram(const struct eng_model *m)
{
	struct eng_plan_device devs[2] = {
		{ "small", 0, ALL_DTYPES, 0, 0 }, { "large", 0, ALL_DTYPES, 0, 0 },
	};
	struct eng_sram_plan p;
	struct eng_err err = { "" };
	uint64_t one_device;
	int rc;

	/* the size of the whole model on one device, to give the two a known share of it */
	devs[0].sram_free = 1ull << 40;
	rc = eng_sram_plan_make(&p, m, devs, 1, 0, 128, 8, &err);
	if (!TAP_OK(rc == 0 && p.n_dev == 1, "8 layers fit one large device: %s", rc ? err.msg : "planned"))
		return;
	one_device = p.dev[0].bytes;
	eng_sram_plan_free(&p);

	devs[0].sram_free = one_device / 3;
	devs[1].sram_free = one_device;
	rc = eng_sram_plan_make(&p, m, devs, 2, 1, 128, 8, &err);
	if (TAP_OK(rc == 0, "split over a small and a large device: %s", rc ? err.msg : "planned")) {
		TAP_OK(check_all(&p, m, devs), "... every tensor aligned, apart, within each device's own SRAM");
		TAP_OK(layers_on(&p, 0) < layers_on(&p, 1),
		       "the device with a third of the SRAM gets fewer layers (%u vs %u)",
		       layers_on(&p, 0), layers_on(&p, 1));
		eng_sram_plan_free(&p);
	}
	rc = eng_sram_plan_make(&p, m, devs, 2, 0, 128, 8, &err);
	if (TAP_OK(rc == 0, "filling the small device first, then the large: %s", rc ? err.msg : "planned")) {
		TAP_OK(check_all(&p, m, devs) && p.n_dev == 2,
		       "... both used, every tensor aligned, apart, within each device's own SRAM");
		TAP_OK(layers_on(&p, 0) >= 1 && layers_on(&p, 0) < layers_on(&p, 1),
		       "... the small device holds what fits (%u layers), the large the rest (%u)",
		       layers_on(&p, 0), layers_on(&p, 1));
		eng_sram_plan_free(&p);
	}
	devs[0].sram_free = one_device;
	rc = eng_sram_plan_make(&p, m, devs, 2, 0, 128, 8, &err);
	TAP_OK(rc == 0 && p.n_dev == 1 && p.dev[0].bytes == one_device,
	       "a model that fits the first device stays on it (%d device%s)", p.n_dev, p.n_dev == 1 ? "" : "s");
	if (rc == 0)
		eng_sram_plan_free(&p);
}

static void test_tied(const struct eng_model *m)
{
	struct eng_plan_device dev = { "dev0", 64 * MIB, ALL_DTYPES, 16, 16 };
	struct eng_sram_plan p;
	struct eng_err err = { "" };
	int rc = eng_sram_plan_make(&p, m, &dev, 1, 1, 64, 4, &err);

	if (!TAP_OK(rc == 0, "a tied f32 model on one device: %s", rc ? err.msg : "planned"))
		return;
	TAP_OK(check_all(&p, m, &dev) && p.dev[0].out_w_is_embd && p.dev[0].out_w.off == p.dev[0].embd.off,
	       "the tied output head is the embedding table, stored once");
	TAP_OK(check_regions(&p, 0, 16, 16), "... with a band for each of its 2 layers, the table and the head");
	eng_sram_plan_free(&p);
}

static void test_too_big(const struct eng_model *m)
{
	struct eng_plan_device devs[2] = {
		{ "/dev/wse0", 2 * MIB, ALL_DTYPES, 0, 0 }, { "/dev/wse1", 2 * MIB, ALL_DTYPES, 0, 0 },
	};
	struct eng_sram_plan p;
	struct eng_err err = { "" };
	int rc;

	/* a 65536-token KV cache: 2 x 256 B (kv_dim 32 fp32) per position and layer, 32 MiB a layer */
	rc = eng_sram_plan_make(&p, m, devs, 2, 1, 65536, 8, &err);
	TAP_OK(rc && strstr(err.msg, "/dev/wse0") && strstr(err.msg, "MiB free") &&
	       strstr(err.msg, "65536-token KV cache") && strstr(err.msg, "layers 0..") && !p.layer,
	       "split: too little SRAM names the device, its layers and what they need: %s", err.msg);
	eng_sram_plan_free(&p);	/* a no-op after a refusal */
	rc = eng_sram_plan_make(&p, m, devs, 2, 0, 65536, 8, &err);
	TAP_OK(rc && strstr(err.msg, "layer 0 needs") && strstr(err.msg, "/dev/wse0") &&
	       strstr(err.msg, "MiB free"),
	       "fill: a layer no device can hold is named: %s", err.msg);
	eng_sram_plan_free(&p);
	devs[0].sram_free = devs[1].sram_free = 600 * 1024;	/* a layer each, not all four */
	rc = eng_sram_plan_make(&p, m, devs, 2, 0, 256, 8, &err);
	TAP_OK(rc && strstr(err.msg, "the model needs") && strstr(err.msg, "weights") &&
	       strstr(err.msg, "KV cache") && strstr(err.msg, "the 2 wse devices have free"),
	       "fill: a model larger than all devices together says how much of what: %s", err.msg);
	eng_sram_plan_free(&p);
	{
		struct eng_plan_device five[5] = {
			{ "a", 64 * MIB, ALL_DTYPES, 0, 0 }, { "b", 64 * MIB, ALL_DTYPES, 0, 0 },
			{ "c", 64 * MIB, ALL_DTYPES, 0, 0 }, { "d", 64 * MIB, ALL_DTYPES, 0, 0 },
			{ "e", 64 * MIB, ALL_DTYPES, 0, 0 },
		};

		rc = eng_sram_plan_make(&p, m, five, 5, 1, 64, 8, &err);
		TAP_OK(rc && strstr(err.msg, "cannot split 4 layers over 5") && p.layer == NULL,
		       "more devices than layers is refused: %s", err.msg);
		eng_sram_plan_free(&p);
	}
}

int main(void)
{
	struct fixture f4, f8, tied;

	if (!fixture_open(&f4, 4, ENG_F16, 1)) {
		test_split_equal(f4.m);
		test_own_caps(f4.m);
		test_too_big(f4.m);
		fixture_close(&f4);
	} else {
		TAP_OK(0, "building the 4-layer f16 model");
	}
	if (!fixture_open(&f8, 8, ENG_F32, 1)) {
		test_less_sram(f8.m);
		fixture_close(&f8);
	} else {
		TAP_OK(0, "building the 8-layer f32 model");
	}
	if (!fixture_open(&tied, 2, ENG_F32, 0)) {
		test_tied(tied.m);
		fixture_close(&tied);
	} else {
		TAP_OK(0, "building the tied model");
	}
	return tap_done();
}
