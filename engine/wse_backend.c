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
 * a spatially placed model rather than of a whole wafer per op. Which layers
 * go where, every tensor's SRAM offset and the PE bands all come from the
 * one SRAM plan (sram_plan.c), made from each device's own SRAM and
 * dtypes: wse_info.dtypes numbers dtypes as enum eng_dtype does (both are the
 * device's), so a device's set is the plan's as it stands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/sram_plan.h"
#include "engine/wse_backend.h"
#include "libwse/wse.h"

_Static_assert(ENG_F32 == (int)WSE_DT_F32 && ENG_F16 == (int)WSE_DT_F16 && ENG_BF16 == (int)WSE_DT_BF16 &&
	       ENG_Q8_0 == (int)WSE_DT_Q8_0, "wse_info.dtypes has a bit per enum eng_dtype");

#define WSE_MAX_DEVICES		ENG_PLAN_MAX_DEVICES
/* Weights go through a host staging buffer of at most this size, at least the smaller. */
#define STAGING_BYTES		(16u << 20)
#define STAGING_MIN_BYTES	(4u << 20)	/* twice the longest fp32 row (ENG_MAX_HIDDEN) */
/* A job of one forward step runs at host speed in the device; minutes mean a hang. */
#define JOB_TIMEOUT_NS		(300ull * 1000000000ull)

struct wse_dev {
	char path[WSE_PATH_MAX];
	wse_device *dev;
	wse_ctx *ctx;
	struct wse_info info;
	uint64_t avail;			/* SRAM free when opened */
	const struct eng_plan_dev *plan;	/* its part of the SRAM plan */
	/* SRAM: one allocation, mapped at sram_dva; the plan's offsets are into it */
	wse_sram *sram;
	uint64_t sram_dva;
	/* host buffer: in area at 0, out area at io_out */
	wse_bo *io;
	uint8_t *io_ptr;
	uint64_t io_dva, io_out, io_bytes;
	wse_stream *stream;
};

struct wse_state {
	int n_dev;
	struct wse_dev dev[WSE_MAX_DEVICES];
	struct eng_sram_plan plan;
	struct eng_backend_stats stats;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static double mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
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

/* Allocates the device's SRAM as the plan lays it out and copies its weights in. */
static int load_device(struct eng_backend *be, struct wse_state *s, struct wse_dev *D,
		       struct eng_err *err)
{
	const struct eng_model *m = be->model;
	const struct eng_hparams *hp = &m->hp;
	const struct eng_plan_dev *P = D->plan;
	uint64_t B = s->plan.max_batch, in_bytes, out_bytes;
	struct uploader u = { .D = D };
	int rc;

	rc = wse_sram_alloc(D->dev, P->bytes, 0, &D->sram);
	if (rc == -ENOSPC)
		return eng_fail(err, "wse backend: %s has no room for %.1f MiB of SRAM (another user took it?)",
				D->path, mib(P->bytes));
	if (rc)
		return dev_fail(D, err, "allocating SRAM", rc);
	rc = wse_map_sram(D->ctx, D->sram, 0, 0, WSE_ACCESS_RW, &D->sram_dva);
	if (rc)
		return dev_fail(D, err, "mapping SRAM", rc);

	/* in: the tokens (first device) or the residual stream, whichever is larger */
	in_bytes = align_up(4 * B * hp->dim, 4096);
	out_bytes = align_up(P->last ? 4 * B * hp->vocab_size : 4 * B * hp->dim, 4096);
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
	u.size = align_up(P->bytes, 1u << 20);
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
	if (P->first && upload_tensor(&u, &m->tok_embd, P->embd_type, P->embd.off, err))
		goto out;
	if (P->last) {
		if (upload_tensor(&u, &m->output_norm, ENG_F32, P->out_norm.off, err))
			goto out;
		if (!P->out_w_is_embd && upload_tensor(&u, &m->output, P->out_type, P->out_w.off, err))
			goto out;
	}
	for (uint32_t l = P->l0; l < P->l1; l++) {
		const struct eng_plan_layer *PL = &s->plan.layer[l];

		for (int i = 0; i < ENG_LAYER_TENSORS; i++)
			if (upload_tensor(&u, eng_layer_get(&m->layers[l], i),
					  eng_layer_tensors[i].is_norm ? ENG_F32 : PL->wtype,
					  PL->tensor[i].off, err))
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

/*
 * Adding ops to a device's stream: the first op libwse refuses ends the
 * step, and err names that op and libwse's reason. Later ops are not added,
 * so the stream's last error is still the first one's.
 */
struct step {
	struct wse_dev *D;
	struct eng_err *err;
};

static int added(struct step *sp, const char *op, int rc)
{
	if (rc)
		eng_fail(sp->err, "wse backend: adding %s to the op stream for %s failed: %s", op,
			 sp->D->path, wse_stream_last_error(sp->D->stream));
	return rc;
}

static int set_region(wse_stream *st, const struct eng_plan_region *r)
{
	return wse_stream_set_region(st, r->x, r->y, r->w, r->h);
}

static int build_step(struct eng_backend *be, struct wse_state *s, struct wse_dev *D,
		      const int32_t *tokens, uint32_t n, uint32_t pos, int want_logits,
		      int all_logits, struct eng_err *err)
{
	const struct eng_hparams *hp = &be->model->hp;
	const struct eng_plan_dev *P = D->plan;
	wse_stream *st = D->stream;
	uint64_t sram = D->sram_dva, x_bytes = 4ull * n * hp->dim;
	static const struct eng_plan_region whole = { 0, 0, 0, 0 };
	struct step sp = { D, err };

	wse_stream_reset(st);
	if (added(&sp, "the whole-wafer region", set_region(st, &whole)))
		return -1;
	if (P->first) {
		for (uint32_t t = 0; t < n; t++) {
			uint32_t id = (uint32_t)tokens[t];

			memcpy(D->io_ptr + 4 * t, &id, 4);
		}
		if (added(&sp, "the COPY of the tokens in",
			  wse_stream_copy(st, sram + P->tokens.off, D->io_dva, 4ull * n)) ||
		    added(&sp, "the embedding's region", set_region(st, &P->embd_region)) ||
		    added(&sp, "the EMBED op",
			  wse_stream_embed(st, sram + P->embd.off, sram + P->tokens.off, sram + P->x.off,
					   hp->dim, hp->vocab_size, n, P->embd_type)))
			return -1;
	} else if (added(&sp, "the COPY of the residual stream in",
			 wse_stream_copy(st, sram + P->x.off, D->io_dva, x_bytes))) {
		return -1;
	}
	for (uint32_t l = P->l0; l < P->l1; l++) {
		const struct eng_plan_layer *PL = &s->plan.layer[l];
		struct wse_layer op = {
			.x = sram + P->x.off,
			.attn_norm = sram + PL->tensor[ENG_ATTN_NORM].off,
			.wq = sram + PL->tensor[ENG_WQ].off,
			.wk = sram + PL->tensor[ENG_WK].off,
			.wv = sram + PL->tensor[ENG_WV].off,
			.wo = sram + PL->tensor[ENG_WO].off,
			.ffn_norm = sram + PL->tensor[ENG_FFN_NORM].off,
			.w_gate = sram + PL->tensor[ENG_W_GATE].off,
			.w_down = sram + PL->tensor[ENG_W_DOWN].off,
			.w_up = sram + PL->tensor[ENG_W_UP].off,
			.k_cache = sram + PL->k_cache.off, .v_cache = sram + PL->v_cache.off,
			.scratch = sram + P->scratch.off,
			.dim = hp->dim, .hidden_dim = hp->hidden_dim, .n_heads = hp->n_heads,
			.n_kv_heads = hp->n_kv_heads, .head_dim = hp->head_dim, .n_tokens = n,
			.pos = pos, .kv_capacity = s->plan.n_ctx, .wtype = PL->wtype,
			.eps = hp->rms_eps, .rope_theta = hp->rope_theta,
		};
		char what[48];

		snprintf(what, sizeof(what), "the LAYER op of layer %u", l);
		if (added(&sp, "a layer's region", set_region(st, &PL->region)) ||
		    added(&sp, what, wse_stream_layer(st, &op)))
			return -1;
	}
	if (!P->last) {
		if (added(&sp, "the whole-wafer region", set_region(st, &whole)) ||
		    added(&sp, "the COPY of the residual stream out",
			  wse_stream_copy(st, D->io_dva + D->io_out, sram + P->x.off, x_bytes)))
			return -1;
	} else if (want_logits) {
		uint32_t first = all_logits ? 0 : n - 1, rows = n - first;
		struct wse_matmul mm = {
			.w = sram + P->out_w.off, .x = sram + P->xn.off, .y = sram + P->logits.off,
			.rows = hp->vocab_size, .cols = hp->dim, .batch = rows, .wtype = P->out_type,
		};

		if (added(&sp, "the output head's region", set_region(st, &P->head_region)) ||
		    added(&sp, "the final RMSNORM op",
			  wse_stream_rmsnorm(st, sram + P->x.off + 4ull * first * hp->dim,
					     sram + P->out_norm.off, sram + P->xn.off, hp->dim, rows,
					     hp->rms_eps)) ||
		    added(&sp, "the output MATMUL op", wse_stream_matmul(st, &mm)) ||
		    added(&sp, "the whole-wafer region", set_region(st, &whole)) ||
		    added(&sp, "the COPY of the logits out",
			  wse_stream_copy(st, D->io_dva + D->io_out, sram + P->logits.off,
					  4ull * rows * hp->vocab_size)))
			return -1;
	}
	return 0;
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
		if (build_step(be, s, D, tokens, n, pos, logits != NULL, all_logits, err) ||
		    run_job(D, D->stream, &cycles, what, err))
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
	eng_sram_plan_free(&s->plan);
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

/* Plans the layout from each open device's own SRAM, dtypes and grid; closes the devices it leaves out. */
static int plan_layout(struct eng_backend *be, struct wse_state *s, struct eng_err *err)
{
	struct eng_plan_device in[WSE_MAX_DEVICES];

	for (int d = 0; d < s->n_dev; d++) {
		const struct wse_dev *D = &s->dev[d];

		in[d] = (struct eng_plan_device){
			.name = D->path, .sram_free = D->avail, .dtypes = D->info.dtypes,
			.grid_width = D->info.grid_width, .grid_height = D->info.grid_height,
		};
	}
	if (eng_sram_plan_make(&s->plan, be->model, in, s->n_dev, be->cfg.n_devices > 0,
			       be->cfg.n_ctx, be->cfg.max_batch, err))
		return -1;
	for (int d = s->plan.n_dev; d < s->n_dev; d++) {
		wse_close(s->dev[d].dev);
		s->dev[d].dev = NULL;
	}
	s->n_dev = s->plan.n_dev;
	for (int d = 0; d < s->n_dev; d++)
		s->dev[d].plan = &s->plan.dev[d];
	return 0;
}

static int wse_create(struct eng_backend *be, struct eng_err *err)
{
	struct wse_state *s = calloc(1, sizeof(*s));

	if (!s)
		return eng_fail(err, "out of memory");
	be->priv = s;
	if (be->cfg.n_devices < 0 || be->cfg.n_devices > WSE_MAX_DEVICES) {
		wse_destroy(be);
		return eng_fail(err, "wse backend: the device count must be 1..%d (or 0: all)",
				WSE_MAX_DEVICES);
	}
	if (open_devices(s, be->cfg.n_devices, err) || plan_layout(be, s, err))
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

	if (size)
		buf[0] = 0;
	if (be->ops != &eng_wse_backend_ops || !s)
		return 0;
	return eng_sram_plan_describe(&s->plan, buf, size);
}

void eng_wse_print_plan(const struct eng_backend *be, FILE *f)
{
	const struct wse_state *s = be->priv;

	if (be->ops == &eng_wse_backend_ops && s)
		eng_sram_plan_print(&s->plan, f);
}

const struct eng_backend_ops eng_wse_backend_ops = {
	.name = "wse",
	.create = wse_create,
	.forward = wse_forward,
	.reset = wse_reset_backend,
	.stats = wse_stats,
	.destroy = wse_destroy,
};
