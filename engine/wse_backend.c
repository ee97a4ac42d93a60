// SPDX-License-Identifier: MIT
/*
 * wse_backend.c - runs the model on wse devices through libwse.
 *
 * Weights are stationary: at load every layer's matrices, the embedding
 * table (first device) and the output head (last device) are copied once
 * into one SRAM allocation per device, next to each layer's KV cache. The
 * layers are cut into contiguous groups, one per device, forming a
 * pipeline; activations pass from one device to the next through host
 * memory. A forward step is ONE job per device: COPY the tokens (or the
 * residual stream) in, EMBED, one fused LAYER op per layer, then either the
 * final norm and output matmul with a COPY of the logits out (last device)
 * or a COPY of the residual stream out. Each layer runs on its own band of
 * PE rows, sized by the SRAM it holds, so the modelled cycles are those of
 * a spatially placed model rather than of a whole wafer per op.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/wse_backend.h"
#include "libwse/wse.h"

#define WSE_MAX_DEVICES		64
#define SRAM_ALIGN		256u
/* Weights go through a host staging buffer of at most this size, at least the smaller. */
#define STAGING_BYTES		(16u << 20)
#define STAGING_MIN_BYTES	(4u << 20)	/* twice the longest fp32 row (ENG_MAX_HIDDEN) */
/* A job of one forward step runs at host speed in the device; minutes mean a hang. */
#define JOB_TIMEOUT_NS		(300ull * 1000000000ull)

/* A PE rectangle as wse_stream_set_region() takes it; w = h = 0 is the whole wafer. */
struct pe_region {
	uint16_t x, y, w, h;
};

struct layer_place {
	uint64_t off[9];	/* attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_down, w_up */
	uint64_t k_cache, v_cache;
	uint32_t wtype;
	struct pe_region region;
};

struct wse_dev {
	char path[WSE_PATH_MAX];
	wse_device *dev;
	wse_ctx *ctx;
	struct wse_info info;
	uint64_t avail;			/* SRAM free when opened */
	uint32_t l0, l1;		/* layers [l0, l1) */
	int first, last;
	/* SRAM: one allocation, mapped at sram_dva; the offsets below are into it */
	wse_sram *sram;
	uint64_t sram_dva, sram_bytes;
	uint64_t x, scratch, tokens, embd, out_norm, out_w, xn, logits;
	uint32_t embd_type, out_type;
	struct pe_region embd_region, head_region;
	/* host buffer: in area at 0, out area at io_out */
	wse_bo *io;
	uint8_t *io_ptr;
	uint64_t io_dva, io_out, io_bytes;
	wse_stream *stream;
};

struct wse_state {
	int n_dev;
	struct wse_dev dev[WSE_MAX_DEVICES];
	struct layer_place *layers;
	uint32_t max_batch, n_ctx, kv_dim;
	struct eng_backend_stats stats;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint32_t feature_of(uint32_t dtype)
{
	return dtype == ENG_F16 ? WSE_FEATURE_F16 : dtype == ENG_BF16 ? WSE_FEATURE_BF16 :
	       dtype == ENG_Q8_0 ? WSE_FEATURE_Q8_0 : 0;
}

/* The dtype a tensor is stored in on the device: as in the file, or fp32 if unsupported. */
static uint32_t device_dtype(uint32_t dtype, uint32_t caps)
{
	uint32_t f = feature_of(dtype);

	return f && !(caps & f) ? ENG_F32 : dtype;
}

static const struct eng_tensor *layer_tensor(const struct eng_layer *L, int i)
{
	const struct eng_tensor *t[9] = { &L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo,
					  &L->ffn_norm, &L->w_gate, &L->w_down, &L->w_up };

	return t[i];
}

/* The LAYER op takes one wtype: the matrices' own if they agree and the device has it. */
static uint32_t layer_wtype(const struct eng_layer *L, uint32_t caps)
{
	uint32_t t = L->wq.type;

	for (int i = 1; i < 9; i++)
		if (i != 5 && layer_tensor(L, i)->type != t)
			return ENG_F32;
	return device_dtype(t, caps);
}

static uint64_t tensor_bytes(const struct eng_tensor *t, uint32_t dtype)
{
	return align_up(eng_row_bytes(dtype, t->cols) * t->rows, SRAM_ALIGN);
}

/* SRAM a layer needs: its weights and its KV cache. */
static uint64_t layer_bytes(const struct eng_backend *be, uint32_t l, uint32_t caps)
{
	const struct eng_layer *L = &be->model->layers[l];
	const struct eng_hparams *hp = &be->model->hp;
	uint32_t wt = layer_wtype(L, caps);
	uint64_t sum = 0;

	for (int i = 0; i < 9; i++)
		sum += tensor_bytes(layer_tensor(L, i), i == 0 || i == 5 ? ENG_F32 : wt);
	return sum + 2 * align_up(4ull * be->cfg.n_ctx * hp->n_kv_heads * hp->head_dim, SRAM_ALIGN);
}

/* SRAM of everything but the layers: activations, and the table / head where placed. */
static uint64_t fixed_bytes(const struct eng_backend *be, int first, int last, int shared_table,
			    uint32_t caps)
{
	const struct eng_model *m = be->model;
	const struct eng_hparams *hp = &m->hp;
	uint64_t B = be->cfg.max_batch;
	uint64_t sum = align_up(4 * B * hp->dim, SRAM_ALIGN) +
		       align_up(wse_layer_scratch_bytes(hp->dim, hp->hidden_dim, hp->n_heads,
							hp->head_dim, (uint32_t)B), SRAM_ALIGN);

	if (first)
		sum += align_up(4 * B, SRAM_ALIGN) +
		       tensor_bytes(&m->tok_embd, device_dtype(m->tok_embd.type, caps));
	if (last) {
		sum += align_up(4ull * hp->dim, SRAM_ALIGN) + align_up(4 * B * hp->dim, SRAM_ALIGN) +
		       align_up(4 * B * hp->vocab_size, SRAM_ALIGN);
		if (!(shared_table && first))
			sum += tensor_bytes(&m->output, device_dtype(m->output.type, caps));
	}
	return sum;
}

static double mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

/* ---- placement ---------------------------------------------------------------------- */

/*
 * Asked for a device count: contiguous groups of about equal bytes, one per
 * device. Asked for "all": fill each device in turn, so that a model that
 * fits one wafer uses one.
 */
static int place_layers(struct eng_backend *be, struct wse_state *s, int explicit_count,
			struct eng_err *err)
{
	const struct eng_model *m = be->model;
	uint32_t L = m->hp.n_layers, caps = s->dev[0].info.caps;
	int tied = m->tied_output;
	uint64_t *lb = calloc(L ? L : 1, sizeof(*lb)), total = 0;
	int used = 0, rc = 0;

	if (!lb)
		return eng_fail(err, "out of memory");
	for (uint32_t l = 0; l < L; l++)
		total += lb[l] = layer_bytes(be, l, caps);

	if (explicit_count) {
		uint32_t l = 0;

		if ((uint32_t)s->n_dev > L) {
			rc = eng_fail(err, "wse backend: cannot split %u layers over %d wse devices; use at most %u",
				      L, s->n_dev, L);
			goto out;
		}
		uint64_t acc = 0;

		for (int d = 0; d < s->n_dev; d++) {
			uint32_t keep = (uint32_t)(s->n_dev - 1 - d);	/* one layer for each later device */
			uint64_t target = total * (uint64_t)(d + 1) / (uint64_t)s->n_dev;

			s->dev[d].l0 = l;
			acc += lb[l++];
			while (l < L - keep && (keep == 0 || acc + lb[l] / 2 <= target))
				acc += lb[l++];
			s->dev[d].l1 = l;
		}
		used = s->n_dev;
	} else {
		uint32_t l = 0;
		int d;

		for (d = 0; d < s->n_dev; d++) {
			struct wse_dev *D = &s->dev[d];
			uint64_t sum = fixed_bytes(be, d == 0, 0, tied, caps);
			uint64_t head = fixed_bytes(be, d == 0, 1, tied, caps) - sum;
			uint32_t k = 0;

			while (l + k < L && sum + lb[l + k] <= D->avail)
				sum += lb[l + k++];
			D->l0 = l;
			if (l + k == L) {
				while (k > 0 && sum + head > D->avail)
					sum -= lb[l + --k];
				if (sum + head <= D->avail) {
					D->l1 = l + k;
					break;
				}
			}
			if (k == 0 && l < L) {
				rc = eng_fail(err,
					      "wse backend: layer %u needs %.1f MiB of SRAM but %s has only %.1f MiB free",
					      l, mib(lb[l] + sum), D->path, mib(D->avail));
				goto out;
			}
			D->l1 = l + k;
			l += k;
		}
		if (d == s->n_dev) {
			rc = eng_fail(err,
				      "wse backend: the model needs %.1f MiB of SRAM (weights and a %u-token KV cache), "
				      "more than the %d wse device%s have free; use a smaller --ctx or more devices",
				      mib(total + fixed_bytes(be, 1, 1, tied, caps)), be->cfg.n_ctx,
				      s->n_dev, s->n_dev == 1 ? "" : "s");
			goto out;
		}
		used = d + 1;
	}
	for (int d = 0; d < used; d++) {
		struct wse_dev *D = &s->dev[d];
		uint64_t need;

		D->first = d == 0;
		D->last = d == used - 1;
		need = fixed_bytes(be, D->first, D->last, tied, caps);
		for (uint32_t l = D->l0; l < D->l1; l++)
			need += lb[l];
		if (need > D->avail) {
			rc = eng_fail(err,
				      "wse backend: layers %u..%u need %.1f MiB of SRAM but %s has %.1f MiB free; "
				      "use more devices or a smaller --ctx",
				      D->l0, D->l1 - 1, mib(need), D->path, mib(D->avail));
			goto out;
		}
		D->sram_bytes = need;
	}
	/* devices the model does not need are not kept open */
	for (int d = used; d < s->n_dev; d++) {
		wse_close(s->dev[d].dev);
		s->dev[d].dev = NULL;
	}
	s->n_dev = used;
out:
	free(lb);
	return rc;
}

/* Bands of PE rows, one per item, in proportion to the SRAM each item holds. */
static void place_regions(const struct eng_backend *be, struct wse_state *s, struct wse_dev *D)
{
	uint32_t caps = s->dev[0].info.caps;
	uint32_t H = D->info.grid_height, W = D->info.grid_width;
	uint64_t items[WSE_MAX_DEVICES + ENG_MAX_LAYERS], rows[WSE_MAX_DEVICES + ENG_MAX_LAYERS];
	uint64_t total = 0, rows_sum = 0;
	struct pe_region *where[WSE_MAX_DEVICES + ENG_MAX_LAYERS];
	uint32_t n = 0, y = 0;

	for (uint32_t l = D->l0; l < D->l1; l++) {
		where[n] = &s->layers[l].region;
		items[n++] = layer_bytes(be, l, caps);
	}
	if (D->first) {
		where[n] = &D->embd_region;
		items[n++] = tensor_bytes(&be->model->tok_embd, D->embd_type);
	}
	if (D->last) {
		where[n] = &D->head_region;
		items[n++] = tensor_bytes(&be->model->output, D->out_type);
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
			*where[i] = (struct pe_region){ 0, 0, 0, 0 };
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		/* the last item takes the rows that rounding left over */
		uint64_t r = i == n - 1 ? H - y : rows[i];

		*where[i] = (struct pe_region){ 0, (uint16_t)y, (uint16_t)W, (uint16_t)r };
		y += (uint32_t)r;
	}
}

/* ---- loading the weights -------------------------------------------------------------- */

struct uploader {
	struct wse_dev *D;
	wse_bo *bo;
	uint8_t *ptr;
	uint64_t dva, fill, size;
	wse_stream *s;
};

static int dev_fail(struct wse_dev *D, struct eng_err *err, const char *what, int code)
{
	const char *msg = wse_last_error(D->dev);

	return eng_fail(err, "wse backend: %s on %s failed: %s", what, D->path,
			msg && *msg ? msg : wse_strerror(code));
}

static int run_job(struct wse_dev *D, wse_stream *st, uint64_t *cycles, const char *what,
		   struct eng_err *err)
{
	struct wse_job_result res = { 0 };
	uint64_t job;
	int rc;

	rc = wse_submit(D->ctx, st, WSE_QUEUE_DEFAULT, &job);
	if (rc)
		return dev_fail(D, err, what, rc);
	rc = wse_wait(D->dev, job, JOB_TIMEOUT_NS, &res);
	if (rc == -ETIMEDOUT)
		return eng_fail(err, "wse backend: %s on %s did not finish within %llu s; the device hangs",
				what, D->path, JOB_TIMEOUT_NS / 1000000000ull);
	if (rc == -EIO)
		return eng_fail(err, "wse backend: %s on %s failed on the device: %s (status %u, op %u)",
				what, D->path, wse_status_str(res.status), res.status, res.op_index);
	if (rc)
		return dev_fail(D, err, what, rc);
	if (cycles)
		*cycles += res.cycles;
	return 0;
}

static int upload_flush(struct uploader *u, struct eng_err *err)
{
	int rc = 0;

	if (wse_stream_ops(u->s))
		rc = run_job(u->D, u->s, NULL, "loading the weights", err);
	wse_stream_reset(u->s);
	u->fill = 0;
	return rc;
}

/* Room for n more bytes in the staging buffer (and a COPY record); flushes if needed. */
static int upload_room(struct uploader *u, uint64_t n, struct eng_err *err)
{
	if (u->fill + n > u->size || wse_stream_length(u->s) + 64 > u->D->info.max_stream ||
	    wse_stream_length(u->s) + 64 > WSE_STREAM_MAX_DEFAULT)
		return upload_flush(u, err);
	return 0;
}

static int upload_copy(struct uploader *u, uint64_t sram_off, uint64_t n, struct eng_err *err)
{
	int rc = wse_stream_copy(u->s, u->D->sram_dva + sram_off, u->dva + u->fill, n);

	if (rc)
		return eng_fail(err, "wse backend: building a copy op: %s", wse_stream_last_error(u->s));
	u->fill = align_up(u->fill + n, 64);
	return 0;
}

/* Copies a tensor into SRAM at sram_off as dtype (its own, or fp32). */
static int upload_tensor(struct uploader *u, const struct eng_tensor *t, uint32_t dtype,
			 uint64_t sram_off, struct eng_err *err)
{
	const uint8_t *src = t->data;

	if (dtype == (uint32_t)t->type) {
		uint64_t total = t->row_bytes * t->rows, done = 0;

		while (done < total) {
			uint64_t n = total - done;

			if (n > u->size / 2)
				n = u->size / 2;
			if (upload_room(u, n, err))
				return -1;
			memcpy(u->ptr + u->fill, src + done, n);
			if (upload_copy(u, sram_off + done, n, err))
				return -1;
			done += n;
		}
		return 0;
	}
	/* converted row by row; a row of fp32 is at most 4 * ENG_MAX_HIDDEN bytes */
	for (uint64_t r = 0; r < t->rows;) {
		uint64_t row_f32 = 4 * t->cols, n_rows = u->size / 2 / row_f32;

		if (n_rows == 0)
			return eng_fail(err, "wse backend: rows of %llu values are too long to convert",
					(unsigned long long)t->cols);
		if (n_rows > t->rows - r)
			n_rows = t->rows - r;
		if (upload_room(u, n_rows * row_f32, err))
			return -1;
		for (uint64_t i = 0; i < n_rows; i++)
			eng_row_to_f32(src + (r + i) * t->row_bytes, t->type, t->cols,
				       (float *)(u->ptr + u->fill + i * row_f32));
		if (upload_copy(u, sram_off + r * row_f32, n_rows * row_f32, err))
			return -1;
		r += n_rows;
	}
	return 0;
}

/* Lays out the device's SRAM and copies its weights in. */
static int load_device(struct eng_backend *be, struct wse_state *s, struct wse_dev *D,
		       struct eng_err *err)
{
	const struct eng_model *m = be->model;
	const struct eng_hparams *hp = &m->hp;
	uint32_t caps = s->dev[0].info.caps;
	uint64_t B = s->max_batch, off = 0, in_bytes, out_bytes;
	struct uploader u = { .D = D };
	int rc;

#define TAKE(var, bytes) do { (var) = off; off += align_up((bytes), SRAM_ALIGN); } while (0)
	TAKE(D->x, 4 * B * hp->dim);
	TAKE(D->scratch, wse_layer_scratch_bytes(hp->dim, hp->hidden_dim, hp->n_heads, hp->head_dim,
						 (uint32_t)B));
	if (D->first) {
		D->embd_type = device_dtype(m->tok_embd.type, caps);
		TAKE(D->tokens, 4 * B);
		TAKE(D->embd, eng_row_bytes(D->embd_type, hp->dim) * hp->vocab_size);
	}
	if (D->last) {
		D->out_type = device_dtype(m->output.type, caps);
		TAKE(D->out_norm, 4ull * hp->dim);
		TAKE(D->xn, 4 * B * hp->dim);
		TAKE(D->logits, 4 * B * hp->vocab_size);
		if (D->first && m->tied_output && D->out_type == D->embd_type)
			D->out_w = D->embd;
		else
			TAKE(D->out_w, eng_row_bytes(D->out_type, hp->dim) * hp->vocab_size);
	}
	for (uint32_t l = D->l0; l < D->l1; l++) {
		struct layer_place *P = &s->layers[l];
		const struct eng_layer *L = &m->layers[l];

		P->wtype = layer_wtype(L, caps);
		for (int i = 0; i < 9; i++) {
			const struct eng_tensor *t = layer_tensor(L, i);

			TAKE(P->off[i], eng_row_bytes(i == 0 || i == 5 ? ENG_F32 : P->wtype, t->cols) * t->rows);
		}
		TAKE(P->k_cache, 4ull * s->n_ctx * s->kv_dim);
		TAKE(P->v_cache, 4ull * s->n_ctx * s->kv_dim);
	}
#undef TAKE
	D->sram_bytes = off;
	place_regions(be, s, D);

	rc = wse_sram_alloc(D->dev, D->sram_bytes, 0, &D->sram);
	if (rc == -ENOSPC)
		return eng_fail(err, "wse backend: %s has no room for %.1f MiB of SRAM (another user took it?)",
				D->path, mib(D->sram_bytes));
	if (rc)
		return dev_fail(D, err, "allocating SRAM", rc);
	rc = wse_map_sram(D->ctx, D->sram, 0, 0, WSE_ACCESS_RW, &D->sram_dva);
	if (rc)
		return dev_fail(D, err, "mapping SRAM", rc);

	/* in: the tokens (first device) or the residual stream, whichever is larger */
	in_bytes = align_up(4 * B * hp->dim, 4096);
	out_bytes = align_up(D->last ? 4 * B * hp->vocab_size : 4 * B * hp->dim, 4096);
	D->io_out = in_bytes;
	D->io_bytes = in_bytes + out_bytes;
	rc = wse_bo_create(D->dev, D->io_bytes, &D->io);
	if (!rc)
		rc = wse_bo_map(D->io, (void **)&D->io_ptr);
	if (!rc)
		rc = wse_map_bo(D->ctx, D->io, 0, 0, WSE_ACCESS_RW, &D->io_dva);
	if (rc)
		return dev_fail(D, err, "setting up the activation buffer", rc);
	rc = wse_stream_create_for(D->dev, &D->stream);
	if (rc)
		return dev_fail(D, err, "creating an op stream", rc);

	/* the staging buffer lives only while loading, so that jobs list few buffers */
	/* small models need no big buffer: creating and mapping one costs under TCG */
	u.size = align_up(D->sram_bytes, 1u << 20);
	u.size = u.size < STAGING_MIN_BYTES ? STAGING_MIN_BYTES :
		 u.size > STAGING_BYTES ? STAGING_BYTES : u.size;
	rc = wse_bo_create(D->dev, u.size, &u.bo);
	if (!rc)
		rc = wse_bo_map(u.bo, (void **)&u.ptr);
	if (!rc)
		rc = wse_map_bo(D->ctx, u.bo, 0, 0, WSE_ACCESS_READ, &u.dva);
	if (!rc)
		rc = wse_stream_create_for(D->dev, &u.s);
	if (rc) {
		dev_fail(D, err, "setting up the weight staging buffer", rc);
		goto out;
	}
	rc = -1;
	if (D->first && upload_tensor(&u, &m->tok_embd, D->embd_type, D->embd, err))
		goto out;
	if (D->last) {
		if (upload_tensor(&u, &m->output_norm, ENG_F32, D->out_norm, err))
			goto out;
		if (D->out_w != D->embd && upload_tensor(&u, &m->output, D->out_type, D->out_w, err))
			goto out;
	}
	for (uint32_t l = D->l0; l < D->l1; l++) {
		const struct layer_place *P = &s->layers[l];

		for (int i = 0; i < 9; i++)
			if (upload_tensor(&u, layer_tensor(&m->layers[l], i),
					  i == 0 || i == 5 ? ENG_F32 : P->wtype, P->off[i], err))
				goto out;
	}
	rc = upload_flush(&u, err);
out:
	wse_stream_destroy(u.s);
	if (u.dva)
		wse_unmap(D->ctx, u.dva);
	wse_bo_free(u.bo);
	return rc;
}

/* ---- forward ----------------------------------------------------------------------------- */

static int set_region(wse_stream *st, const struct pe_region *r)
{
	return wse_stream_set_region(st, r->x, r->y, r->w, r->h);
}

static int build_step(struct eng_backend *be, struct wse_state *s, struct wse_dev *D,
		      const int32_t *tokens, uint32_t n, uint32_t pos, int want_logits,
		      int all_logits)
{
	const struct eng_hparams *hp = &be->model->hp;
	wse_stream *st = D->stream;
	uint64_t sram = D->sram_dva, x_bytes = 4ull * n * hp->dim;
	static const struct pe_region whole = { 0, 0, 0, 0 };
	int rc = 0;

	wse_stream_reset(st);
	rc |= set_region(st, &whole);
	if (D->first) {
		for (uint32_t t = 0; t < n; t++) {
			uint32_t id = (uint32_t)tokens[t];

			memcpy(D->io_ptr + 4 * t, &id, 4);
		}
		rc |= wse_stream_copy(st, sram + D->tokens, D->io_dva, 4ull * n);
		rc |= set_region(st, &D->embd_region);
		rc |= wse_stream_embed(st, sram + D->embd, sram + D->tokens, sram + D->x, hp->dim,
				       hp->vocab_size, n, D->embd_type);
	} else {
		rc |= wse_stream_copy(st, sram + D->x, D->io_dva, x_bytes);
	}
	for (uint32_t l = D->l0; l < D->l1 && !rc; l++) {
		const struct layer_place *P = &s->layers[l];
		struct wse_layer op = {
			.x = sram + D->x,
			.attn_norm = sram + P->off[0], .wq = sram + P->off[1], .wk = sram + P->off[2],
			.wv = sram + P->off[3], .wo = sram + P->off[4], .ffn_norm = sram + P->off[5],
			.w_gate = sram + P->off[6], .w_down = sram + P->off[7], .w_up = sram + P->off[8],
			.k_cache = sram + P->k_cache, .v_cache = sram + P->v_cache,
			.scratch = sram + D->scratch,
			.dim = hp->dim, .hidden_dim = hp->hidden_dim, .n_heads = hp->n_heads,
			.n_kv_heads = hp->n_kv_heads, .head_dim = hp->head_dim, .n_tokens = n,
			.pos = pos, .kv_capacity = s->n_ctx, .wtype = P->wtype,
			.eps = hp->rms_eps, .rope_theta = hp->rope_theta,
		};

		rc |= set_region(st, &P->region);
		rc |= wse_stream_layer(st, &op);
	}
	if (rc)
		return rc;
	if (!D->last) {
		rc |= set_region(st, &whole);
		rc |= wse_stream_copy(st, D->io_dva + D->io_out, sram + D->x, x_bytes);
	} else if (want_logits) {
		uint32_t first = all_logits ? 0 : n - 1, rows = n - first;
		struct wse_matmul mm = {
			.w = sram + D->out_w, .x = sram + D->xn, .y = sram + D->logits,
			.rows = hp->vocab_size, .cols = hp->dim, .batch = rows, .wtype = D->out_type,
		};

		rc |= set_region(st, &D->head_region);
		rc |= wse_stream_rmsnorm(st, sram + D->x + 4ull * first * hp->dim, sram + D->out_norm,
					 sram + D->xn, hp->dim, rows, hp->rms_eps);
		rc |= wse_stream_matmul(st, &mm);
		rc |= set_region(st, &whole);
		rc |= wse_stream_copy(st, D->io_dva + D->io_out, sram + D->logits,
				      4ull * rows * hp->vocab_size);
	}
	return rc;
}

static int wse_forward(struct eng_backend *be, const int32_t *tokens, uint32_t n, uint32_t pos,
		       float *logits, int all_logits, struct eng_err *err)
{
	struct wse_state *s = be->priv;
	const struct eng_hparams *hp = &be->model->hp;
	uint64_t cycles = 0;
	char what[96];

	snprintf(what, sizeof(what), "the forward step at positions %u..%u", pos, pos + n - 1);
	for (int d = 0; d < s->n_dev; d++) {
		struct wse_dev *D = &s->dev[d];

		if (d > 0)
			memcpy(D->io_ptr, s->dev[d - 1].io_ptr + s->dev[d - 1].io_out, 4ull * n * hp->dim);
		if (build_step(be, s, D, tokens, n, pos, logits != NULL, all_logits))
			return eng_fail(err, "wse backend: building the op stream for %s: %s", D->path,
					wse_stream_last_error(D->stream));
		if (run_job(D, D->stream, &cycles, what, err))
			return -1;
	}
	if (logits) {
		const struct wse_dev *D = &s->dev[s->n_dev - 1];
		uint32_t rows = all_logits ? n : 1;

		memcpy(logits, D->io_ptr + D->io_out, 4ull * rows * hp->vocab_size);
	}
	s->stats.forward_calls++;
	s->stats.tokens += n;
	s->stats.modelled_cycles += cycles;
	if (n == 1) {
		s->stats.decode_steps++;
		s->stats.modelled_decode_cycles += cycles;
	}
	return 0;
}

static void wse_reset_backend(struct eng_backend *be)
{
	(void)be;	/* positions restart at 0; cache rows are written before they are read */
}

static void wse_stats(struct eng_backend *be, struct eng_backend_stats *out)
{
	struct wse_state *s = be->priv;

	*out = s->stats;
}

static void wse_destroy(struct eng_backend *be)
{
	struct wse_state *s = be->priv;

	if (!s)
		return;
	for (int d = 0; d < s->n_dev; d++) {
		wse_stream_destroy(s->dev[d].stream);
		wse_close(s->dev[d].dev);	/* frees its buffers, SRAM and contexts */
	}
	free(s->layers);
	free(s);
	be->priv = NULL;
}

/* ---- create ---------------------------------------------------------------------------- */

static int open_devices(struct wse_state *s, int wanted, struct eng_err *err)
{
	struct wse_device_entry entries[WSE_MAX_DEVICES];
	int count = wse_enumerate(NULL, entries, WSE_MAX_DEVICES);

	if (count < 0)
		return eng_fail(err, "wse backend: listing devices failed: %s", wse_strerror(count));
	if (count == 0)
		return eng_fail(err, "wse backend: no wse device found (no /dev/wseN or wse accel node; %s)",
				wse_module_loaded() ? "the wse module is loaded but has no device"
						    : "the wse kernel module is not loaded");
	if (count > WSE_MAX_DEVICES)
		count = WSE_MAX_DEVICES;
	if (wanted > count)
		return eng_fail(err, "wse backend: asked for %d wse devices but only %d %s present",
				wanted, count, count == 1 ? "is" : "are");
	s->n_dev = wanted ? wanted : count;
	for (int d = 0; d < s->n_dev; d++) {
		struct wse_dev *D = &s->dev[d];
		char msg[256] = "";
		int rc;

		memcpy(D->path, entries[d].path, sizeof(D->path));
		D->path[sizeof(D->path) - 1] = 0;
		rc = wse_open(D->path, &D->dev, msg, sizeof(msg));
		if (rc) {
			D->dev = NULL;
			return eng_fail(err, "wse backend: cannot open %s: %s", D->path,
					*msg ? msg : wse_strerror(rc));
		}
		rc = wse_query_info(D->dev, &D->info);
		if (rc)
			return dev_fail(D, err, "querying the device", rc);
		if (!(D->info.caps & WSE_FEATURE_FUSED_LAYER))
			return eng_fail(err, "wse backend: %s lacks the fused layer op the backend needs",
					D->path);
		D->avail = D->info.sram_size > D->info.sram_used ? D->info.sram_size - D->info.sram_used : 0;
		rc = wse_ctx_create(D->dev, &D->ctx);
		if (rc)
			return dev_fail(D, err, "creating a context", rc);
	}
	return 0;
}

static int wse_create(struct eng_backend *be, struct eng_err *err)
{
	const struct eng_hparams *hp = &be->model->hp;
	struct wse_state *s = calloc(1, sizeof(*s));

	if (!s)
		return eng_fail(err, "out of memory");
	be->priv = s;
	s->max_batch = be->cfg.max_batch;
	s->n_ctx = be->cfg.n_ctx;
	s->kv_dim = hp->n_kv_heads * hp->head_dim;
	s->layers = calloc(hp->n_layers ? hp->n_layers : 1, sizeof(*s->layers));
	if (!s->layers) {
		wse_destroy(be);
		return eng_fail(err, "out of memory");
	}
	if (be->cfg.n_devices < 0 || be->cfg.n_devices > WSE_MAX_DEVICES) {
		wse_destroy(be);
		return eng_fail(err, "wse backend: the device count must be 1..%d (or 0: all)",
				WSE_MAX_DEVICES);
	}
	if (open_devices(s, be->cfg.n_devices, err) ||
	    place_layers(be, s, be->cfg.n_devices > 0, err))
		goto fail;
	for (int d = 0; d < s->n_dev; d++)
		if (load_device(be, s, &s->dev[d], err))
			goto fail;
	s->stats.modelled_clock_hz = s->dev[0].info.clock_khz * 1000.0;
	return 0;
fail:
	wse_destroy(be);
	return -1;
}

int eng_wse_describe(const struct eng_backend *be, char *buf, size_t size)
{
	const struct wse_state *s = be->priv;
	size_t len = 0;

	if (size)
		buf[0] = 0;
	if (be->ops != &eng_wse_backend_ops || !s)
		return 0;
	for (int d = 0; d < s->n_dev && len < size; d++) {
		const struct wse_dev *D = &s->dev[d];
		int k;

		if (D->l1 > D->l0)
			k = snprintf(buf + len, size - len, "%s%s: layers %u..%u%s%s (%.1f MiB SRAM)",
				     d ? "; " : "", D->path, D->l0, D->l1 - 1,
				     D->first ? " + embedding" : "", D->last ? " + output head" : "",
				     mib(D->sram_bytes));
		else
			k = snprintf(buf + len, size - len, "%s%s: output head (%.1f MiB SRAM)",
				     d ? "; " : "", D->path, mib(D->sram_bytes));
		if (k < 0)
			break;
		len += (size_t)k;
	}
	return s->n_dev;
}

const struct eng_backend_ops eng_wse_backend_ops = {
	.name = "wse",
	.create = wse_create,
	.forward = wse_forward,
	.reset = wse_reset_backend,
	.stats = wse_stats,
	.destroy = wse_destroy,
};
