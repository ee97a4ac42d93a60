// SPDX-License-Identifier: MIT
/*
 * sram_plan.c - the layout of a model in device SRAM (see sram_plan.h).
 *
 * One function lays a device out (layout_device); placement measures with
 * it and loading reads what it wrote, so a size is computed in one place.
 */
#include "engine/sram_plan.h"

#include <stdlib.h>
#include <string.h>

#include "wse/hw_ops.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static double mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

static struct eng_plan_span take(uint64_t *off, uint64_t bytes)
{
	struct eng_plan_span s = { *off, align_up(bytes, ENG_PLAN_ALIGN) };

	*off += s.bytes;
	return s;
}

/* The dtype a tensor is kept in on a device: as stored, or fp32 if the device lacks it. */
static enum eng_dtype kept_as(enum eng_dtype type, const struct eng_plan_device *dev)
{
	return type == ENG_F32 || (dev->dtypes & (1u << type)) ? type : ENG_F32;
}

static uint64_t tensor_bytes(const struct eng_tensor *t, enum eng_dtype type)
{
	return eng_row_bytes(type, t->cols) * t->rows;
}

/* The LAYER op takes one wtype: the matrices' own if they agree and the device has it. */
static enum eng_dtype layer_wtype(const struct eng_layer *L, const struct eng_plan_device *dev)
{
	enum eng_dtype t = L->wq.type;

	for (int i = 0; i < ENG_LAYER_TENSORS; i++)
		if (!eng_layer_tensors[i].is_norm && eng_layer_get(L, i)->type != t)
			return ENG_F32;
	return kept_as(t, dev);
}

/* Lays layer l out from *off on dev; returns its bytes. */
static uint64_t layout_layer(const struct eng_model *m, uint32_t l, uint32_t n_ctx,
			     const struct eng_plan_device *dev, struct eng_plan_layer *P, uint64_t *off)
{
	const struct eng_layer *L = &m->layers[l];
	uint64_t start = *off, kv_bytes = 4ull * n_ctx * m->hp.n_kv_heads * m->hp.head_dim;

	P->wtype = layer_wtype(L, dev);
	for (int i = 0; i < ENG_LAYER_TENSORS; i++)
		P->tensor[i] = take(off, tensor_bytes(eng_layer_get(L, i),
						      eng_layer_tensors[i].is_norm ? ENG_F32 : P->wtype));
	P->k_cache = take(off, kv_bytes);
	P->v_cache = take(off, kv_bytes);
	P->bytes = *off - start;
	return P->bytes;
}

static uint64_t layer_bytes(const struct eng_model *m, uint32_t l, uint32_t n_ctx,
			    const struct eng_plan_device *dev)
{
	struct eng_plan_layer scratch;
	uint64_t off = 0;

	return layout_layer(m, l, n_ctx, dev, &scratch, &off);
}

/* The whole allocation of a device holding layers [l0, l1); returns its bytes. */
static uint64_t layout_device(const struct eng_model *m, const struct eng_plan_device *dev,
			      uint32_t l0, uint32_t l1, int first, int last, uint32_t n_ctx,
			      uint32_t max_batch, struct eng_plan_dev *D, struct eng_plan_layer *layers)
{
	const struct eng_hparams *hp = &m->hp;
	uint64_t B = max_batch, off = 0;

	memset(D, 0, sizeof(*D));
	snprintf(D->name, sizeof(D->name), "%s", dev->name ? dev->name : "?");
	D->l0 = l0;
	D->l1 = l1;
	D->first = first;
	D->last = last;
	D->x = take(&off, 4 * B * hp->dim);
	D->scratch = take(&off, wse_hw_layer_scratch_bytes(hp->dim, hp->hidden_dim, hp->n_heads,
							   hp->head_dim, max_batch));
	if (first) {
		D->embd_type = kept_as(m->tok_embd.type, dev);
		D->tokens = take(&off, 4 * B);
		D->embd = take(&off, tensor_bytes(&m->tok_embd, D->embd_type));
	}
	if (last) {
		D->out_type = kept_as(m->output.type, dev);
		D->out_norm = take(&off, 4ull * hp->dim);
		D->xn = take(&off, 4 * B * hp->dim);
		D->logits = take(&off, 4 * B * hp->vocab_size);
		D->out_w_is_embd = first && m->tied_output && D->out_type == D->embd_type;
		D->out_w = D->out_w_is_embd ? D->embd : take(&off, tensor_bytes(&m->output, D->out_type));
	}
	for (uint32_t l = l0; l < l1; l++) {
		struct eng_plan_layer scratch;

		layout_layer(m, l, n_ctx, dev, layers ? &layers[l] : &scratch, &off);
	}
	D->bytes = off;
	return off;
}

/* Bytes of a device holding no layer: activations, and the table and head if it holds them. */
static uint64_t fixed_bytes(const struct eng_model *m, const struct eng_plan_device *dev, int first,
			    int last, uint32_t n_ctx, uint32_t max_batch)
{
	struct eng_plan_dev D;

	return layout_device(m, dev, 0, 0, first, last, n_ctx, max_batch, &D, NULL);
}

/* "weights W MiB, KV cache K MiB, activations A MiB" of a device's layout. */
static void breakdown(const struct eng_sram_plan *p, const struct eng_plan_dev *D, char *buf,
		      size_t size)
{
	uint64_t kv = 0, weights = D->embd.bytes + D->out_norm.bytes +
				   (D->out_w_is_embd ? 0 : D->out_w.bytes);

	for (uint32_t l = D->l0; l < D->l1; l++) {
		kv += p->layer[l].k_cache.bytes + p->layer[l].v_cache.bytes;
		weights += p->layer[l].bytes - p->layer[l].k_cache.bytes - p->layer[l].v_cache.bytes;
	}
	snprintf(buf, size, "weights %.1f MiB, a %u-token KV cache %.1f MiB, activations %.1f MiB",
		 mib(weights), p->n_ctx, mib(kv), mib(D->bytes - weights - kv));
}

static const char *layers_text(const struct eng_plan_dev *D, char *buf, size_t size)
{
	if (D->l1 > D->l0)
		snprintf(buf, size, "layers %u..%u%s%s", D->l0, D->l1 - 1,
			 D->first ? " + embedding" : "", D->last ? " + output head" : "");
	else
		snprintf(buf, size, "%s", D->first ? "the embedding and output head" : "the output head");
	return buf;
}

/* Contiguous groups, each device's share of the layer bytes in proportion to its free SRAM. */
static int split_proportionally(struct eng_sram_plan *p, const struct eng_model *m,
				const struct eng_plan_device *devs, int n_dev, struct eng_err *err)
{
	uint32_t L = m->hp.n_layers, l = 0;
	unsigned __int128 cap_total = 0, cap_before = 0;
	uint64_t *lb = calloc(L, sizeof(*lb));

	if (!lb)
		return eng_fail(err, "out of memory");
	if ((uint32_t)n_dev > L) {
		free(lb);
		return eng_fail(err, "wse backend: cannot split %u layers over %d wse devices; use at most %u",
				L, n_dev, L);
	}
	for (int d = 0; d < n_dev; d++)
		cap_total += devs[d].sram_free;
	for (int d = 0; d < n_dev; d++) {
		uint32_t keep = (uint32_t)(n_dev - 1 - d);	/* one layer for each later device */
		uint64_t total = 0, acc = 0, target;

		/* this device's own dtypes size every layer, also those before it */
		for (uint32_t k = 0; k < L; k++) {
			lb[k] = layer_bytes(m, k, p->n_ctx, &devs[d]);
			total += lb[k];
			if (k < l)
				acc += lb[k];
		}
		cap_before += devs[d].sram_free;
		target = cap_total ? (uint64_t)(total * cap_before / cap_total)
				   : total * (uint64_t)(d + 1) / (uint64_t)n_dev;
		p->dev[d].l0 = l;
		acc += lb[l++];
		while (l < L - keep && (keep == 0 || acc + lb[l] / 2 <= target))
			acc += lb[l++];
		p->dev[d].l1 = l;
	}
	p->n_dev = n_dev;
	free(lb);
	return 0;
}

/* Each device in turn takes what it holds; the last one used also holds the head. */
static int fill_in_turn(struct eng_sram_plan *p, const struct eng_model *m,
			const struct eng_plan_device *devs, int n_dev, struct eng_err *err)
{
	uint32_t L = m->hp.n_layers, l = 0;
	int d;

	for (d = 0; d < n_dev; d++) {
		const struct eng_plan_device *dev = &devs[d];
		uint64_t sum = fixed_bytes(m, dev, d == 0, 0, p->n_ctx, p->max_batch);
		uint64_t head = fixed_bytes(m, dev, d == 0, 1, p->n_ctx, p->max_batch) - sum;
		uint32_t k = 0;

		while (l + k < L && sum + layer_bytes(m, l + k, p->n_ctx, dev) <= dev->sram_free)
			sum += layer_bytes(m, l + k++, p->n_ctx, dev);
		p->dev[d].l0 = l;
		if (l + k == L) {
			while (k > 0 && sum + head > dev->sram_free)
				sum -= layer_bytes(m, l + --k, p->n_ctx, dev);
			if (sum + head <= dev->sram_free) {
				p->dev[d].l1 = l + k;
				break;
			}
		}
		if (k == 0 && l < L)
			return eng_fail(err,
					"wse backend: layer %u needs %.1f MiB of SRAM (with %.1f MiB of activations%s) "
					"but %s has only %.1f MiB free; use a smaller --ctx",
					l, mib(sum + layer_bytes(m, l, p->n_ctx, dev)), mib(sum),
					d == 0 ? " and the embedding" : "", dev->name, mib(dev->sram_free));
		p->dev[d].l1 = l + k;
		l += k;
	}
	if (d == n_dev) {
		struct eng_plan_dev all;
		uint64_t free_total = 0;
		char what[160];

		for (int i = 0; i < n_dev; i++)
			free_total += devs[i].sram_free;
		layout_device(m, &devs[0], 0, L, 1, 1, p->n_ctx, p->max_batch, &all, p->layer);
		breakdown(p, &all, what, sizeof(what));
		return eng_fail(err,
				"wse backend: the model needs %.1f MiB of SRAM (%s), more than the %.1f MiB "
				"the %d wse device%s have free; use a smaller --ctx or more devices",
				mib(all.bytes), what, mib(free_total), n_dev, n_dev == 1 ? "" : "s");
	}
	p->n_dev = d + 1;
	return 0;
}

/* Bands of PE rows, one per item, in proportion to the SRAM each item holds. */
static void place_regions(struct eng_sram_plan *p, const struct eng_plan_device *dev,
			  struct eng_plan_dev *D)
{
	uint32_t H = dev->grid_height, W = dev->grid_width;
	uint64_t items[2 + ENG_MAX_LAYERS], rows[2 + ENG_MAX_LAYERS], total = 0, rows_sum = 0;
	struct eng_plan_region *where[2 + ENG_MAX_LAYERS];
	uint32_t n = 0, y = 0;

	for (uint32_t l = D->l0; l < D->l1; l++) {
		where[n] = &p->layer[l].region;
		items[n++] = p->layer[l].bytes;
	}
	if (D->first) {
		where[n] = &D->embd_region;
		items[n++] = D->embd.bytes;
	}
	if (D->last) {
		where[n] = &D->head_region;
		items[n++] = D->out_w.bytes;
	}
	for (uint32_t i = 0; i < n; i++)
		total += items[i];
	for (uint32_t i = 0; i < n; i++) {
		rows[i] = H * items[i] / (total ? total : 1);
		if (!rows[i])
			rows[i] = 1;
		rows_sum += rows[i];
	}
	/* a grid too small for one band each (or too big to name) runs everything on the whole wafer */
	if (!W || !H || n > H || rows_sum > H || H > UINT16_MAX || W > UINT16_MAX) {
		for (uint32_t i = 0; i < n; i++)
			*where[i] = (struct eng_plan_region){ 0, 0, 0, 0 };
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		/* the last item takes the rows that rounding left over */
		uint64_t r = i == n - 1 ? H - y : rows[i];

		*where[i] = (struct eng_plan_region){ 0, (uint16_t)y, (uint16_t)W, (uint16_t)r };
		y += (uint32_t)r;
	}
}

int eng_sram_plan_make(struct eng_sram_plan *p, const struct eng_model *m,
		       const struct eng_plan_device *devs, int n_dev, int split_over_all,
		       uint32_t n_ctx, uint32_t max_batch, struct eng_err *err)
{
	uint32_t L = m->hp.n_layers;
	int rc;

	memset(p, 0, sizeof(*p));
	if (n_dev < 1 || n_dev > ENG_PLAN_MAX_DEVICES)
		return eng_fail(err, "wse backend: the device count must be 1..%d", ENG_PLAN_MAX_DEVICES);
	if (L < 1 || L > ENG_MAX_LAYERS)
		return eng_fail(err, "wse backend: %u layers is out of range (1..%u)", L, ENG_MAX_LAYERS);
	p->n_layers = L;
	p->n_ctx = n_ctx;
	p->max_batch = max_batch;
	p->layer = calloc(L, sizeof(*p->layer));
	if (!p->layer)
		return eng_fail(err, "out of memory");
	rc = split_over_all ? split_proportionally(p, m, devs, n_dev, err)
			    : fill_in_turn(p, m, devs, n_dev, err);
	for (int d = 0; !rc && d < p->n_dev; d++) {
		struct eng_plan_dev *D = &p->dev[d];
		char what[160], layers[64];

		layout_device(m, &devs[d], D->l0, D->l1, d == 0, d == p->n_dev - 1, n_ctx, max_batch,
			      D, p->layer);
		if (D->bytes > devs[d].sram_free) {
			breakdown(p, D, what, sizeof(what));
			rc = eng_fail(err,
				      "wse backend: %s need %.1f MiB of SRAM (%s) but %s has %.1f MiB free; "
				      "use more devices or a smaller --ctx",
				      layers_text(D, layers, sizeof(layers)), mib(D->bytes), what, D->name,
				      mib(devs[d].sram_free));
			break;
		}
		place_regions(p, &devs[d], D);
	}
	if (rc)
		eng_sram_plan_free(p);
	return rc;
}

void eng_sram_plan_free(struct eng_sram_plan *p)
{
	free(p->layer);
	p->layer = NULL;
	p->n_dev = 0;
}

int eng_sram_plan_describe(const struct eng_sram_plan *p, char *buf, size_t size)
{
	size_t len = 0;

	if (size)
		buf[0] = 0;
	for (int d = 0; d < p->n_dev && len < size; d++) {
		const struct eng_plan_dev *D = &p->dev[d];
		char layers[64];
		int k = snprintf(buf + len, size - len, "%s%s: %s (%.1f MiB SRAM)", d ? "; " : "",
				 D->name, layers_text(D, layers, sizeof(layers)), mib(D->bytes));

		if (k < 0)
			break;
		len += (size_t)k;
	}
	return p->n_dev;
}

static void print_span(FILE *f, const char *what, const struct eng_plan_span *s)
{
	fprintf(f, "  %-24s %12llu %12llu\n", what, (unsigned long long)s->off,
		(unsigned long long)s->bytes);
}

void eng_sram_plan_print(const struct eng_sram_plan *p, FILE *f)
{
	for (int d = 0; d < p->n_dev; d++) {
		const struct eng_plan_dev *D = &p->dev[d];
		char name[48], layers[64];

		fprintf(f, "%s: %s, %llu bytes of SRAM\n  %-24s %12s %12s\n", D->name,
			layers_text(D, layers, sizeof(layers)), (unsigned long long)D->bytes, "tensor",
			"offset", "bytes");
		print_span(f, "x", &D->x);
		print_span(f, "scratch", &D->scratch);
		if (D->first) {
			print_span(f, "tokens", &D->tokens);
			snprintf(name, sizeof(name), "token_embd (%s)", eng_dtype_name(D->embd_type));
			print_span(f, name, &D->embd);
		}
		if (D->last) {
			print_span(f, "output_norm", &D->out_norm);
			print_span(f, "xn", &D->xn);
			print_span(f, "logits", &D->logits);
			snprintf(name, sizeof(name), "output (%s%s)", eng_dtype_name(D->out_type),
				 D->out_w_is_embd ? ", = token_embd" : "");
			print_span(f, name, &D->out_w);
		}
		for (uint32_t l = D->l0; l < D->l1; l++) {
			const struct eng_plan_layer *P = &p->layer[l];

			for (int i = 0; i < ENG_LAYER_TENSORS; i++) {
				snprintf(name, sizeof(name), "blk.%u.%s (%s)", l, eng_layer_tensors[i].name,
					 eng_dtype_name(eng_layer_tensors[i].is_norm ? ENG_F32 : P->wtype));
				print_span(f, name, &P->tensor[i]);
			}
			snprintf(name, sizeof(name), "blk.%u.k_cache", l);
			print_span(f, name, &P->k_cache);
			snprintf(name, sizeof(name), "blk.%u.v_cache", l);
			print_span(f, name, &P->v_cache);
		}
	}
}
