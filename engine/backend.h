/* SPDX-License-Identifier: MIT */
/*
 * backend.h - one interface for every place a model can run.
 *
 * A backend is created from a loaded model and owns its KV cache. forward()
 * runs n_tokens tokens at positions pos..pos+n_tokens-1 (a prompt batch or a
 * single decode step) and returns logits. The layout the interface assumes
 * matches the wse device (include/wse/hw_ops.h): the model exposes each layer's
 * weights with their dtype (struct eng_layer, one fused LAYER op per layer
 * per step), and the KV cache of a layer is [capacity][n_kv_heads * head_dim]
 * fp32, like the caches of WSE_OP_ATTENTION.
 */
#ifndef ENGINE_BACKEND_H
#define ENGINE_BACKEND_H

#include <stdint.h>

#include "engine/engine.h"

struct eng_backend_config {
	uint32_t n_ctx;		/* KV capacity; 0: the model's context length (at most 4096) */
	int n_threads;		/* host threads; 0: one per online CPU */
	int n_devices;		/* devices to spread layers over (wse); 0: all */
	uint32_t max_batch;	/* tokens per forward step in prefill; 0: 64 */
};

struct eng_backend_stats {
	uint64_t forward_calls;
	uint64_t tokens;		/* positions processed */
	uint64_t modelled_cycles;	/* device cycles; 0 for host backends */
	uint64_t modelled_decode_cycles;	/* of single-token steps */
	uint64_t decode_steps;
	double modelled_clock_hz;	/* 0 when nothing is modelled */
};

struct eng_backend;

struct eng_backend_ops {
	const char *name;
	/* Set be->priv; be->model and be->cfg (resolved) are filled in. */
	int (*create)(struct eng_backend *be, struct eng_err *err);
	/*
	 * tokens are valid ids, pos + n_tokens <= n_ctx, n_tokens <= max_batch
	 * (checked by the caller). logits: NULL (none wanted), the last
	 * token's vocab_size values, or with all_logits n_tokens x vocab_size.
	 */
	int (*forward)(struct eng_backend *be, const int32_t *tokens, uint32_t n_tokens,
		       uint32_t pos, float *logits, int all_logits, struct eng_err *err);
	void (*reset)(struct eng_backend *be);
	void (*stats)(struct eng_backend *be, struct eng_backend_stats *out);
	void (*destroy)(struct eng_backend *be);
};

struct eng_backend {
	const struct eng_backend_ops *ops;
	const struct eng_model *model;
	struct eng_backend_config cfg;
	void *priv;
};

/* "backend 'wse' is not built in" / "unknown backend" come back through err. */
struct eng_backend *eng_backend_create(const char *name, const struct eng_model *model,
				       const struct eng_backend_config *cfg, struct eng_err *err);
/*
 * Any number of tokens: split into max_batch steps. logits as in
 * eng_backend_ops.forward. Rejects bad ids and context overflow.
 */
int eng_backend_forward(struct eng_backend *be, const int32_t *tokens, uint32_t n_tokens,
			uint32_t pos, float *logits, int all_logits, struct eng_err *err);
void eng_backend_reset(struct eng_backend *be);
void eng_backend_get_stats(struct eng_backend *be, struct eng_backend_stats *out);
void eng_backend_destroy(struct eng_backend *be);
/* Comma-separated names of every registered backend, built in or not. */
const char *eng_backend_list(void);

extern const struct eng_backend_ops eng_cpu_backend_ops;

#endif /* ENGINE_BACKEND_H */
