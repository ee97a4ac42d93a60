// SPDX-License-Identifier: MIT
/* backend.c - the backend registry and the checks every backend shares. */
#include "engine/backend.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef ENGINE_WITH_WSE
extern const struct eng_backend_ops eng_wse_backend_ops;
#define WSE_OPS (&eng_wse_backend_ops)
#else
#define WSE_OPS NULL
#endif

static const struct {
	const char *name;
	const struct eng_backend_ops *ops;	/* NULL: known but not built in */
} registry[] = {
	{ "cpu", &eng_cpu_backend_ops },
	{ "wse", WSE_OPS },
};

const char *eng_backend_list(void)
{
	return "cpu, wse";
}

struct eng_backend *eng_backend_create(const char *name, const struct eng_model *model,
				       const struct eng_backend_config *cfg, struct eng_err *err)
{
	const struct eng_backend_ops *ops = NULL;
	struct eng_backend *be;
	size_t i;

	for (i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (strcmp(registry[i].name, name) == 0)
			break;
	if (i == sizeof(registry) / sizeof(registry[0])) {
		eng_fail(err, "unknown backend '%s' (known: %s)", name, eng_backend_list());
		return NULL;
	}
	ops = registry[i].ops;
	if (!ops) {
		eng_fail(err, "backend '%s' is not built in", name);
		return NULL;
	}
	be = calloc(1, sizeof(*be));
	if (!be) {
		eng_fail(err, "out of memory");
		return NULL;
	}
	be->ops = ops;
	be->model = model;
	if (cfg)
		be->cfg = *cfg;
	if (be->cfg.n_ctx == 0)
		be->cfg.n_ctx = model->hp.ctx_len < 4096 ? model->hp.ctx_len : 4096;
	if (be->cfg.n_ctx > ENG_MAX_CTX) {
		eng_fail(err, "context size %u is larger than the limit %u", be->cfg.n_ctx, ENG_MAX_CTX);
		free(be);
		return NULL;
	}
	if (be->cfg.n_threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		be->cfg.n_threads = n > 0 ? (int)(n > 64 ? 64 : n) : 1;
	}
	if (be->cfg.max_batch == 0)
		be->cfg.max_batch = 64;
	if (ops->create(be, err)) {
		free(be);
		return NULL;
	}
	return be;
}

int eng_backend_forward(struct eng_backend *be, const int32_t *tokens, uint32_t n_tokens,
			uint32_t pos, float *logits, int all_logits, struct eng_err *err)
{
	uint32_t vocab = be->model->hp.vocab_size;

	if (n_tokens == 0)
		return eng_fail(err, "forward of zero tokens");
	if (pos > be->cfg.n_ctx || n_tokens > be->cfg.n_ctx - pos)
		return eng_fail(err, "context full: positions %u..%u do not fit a context of %u",
				pos, pos + n_tokens - 1, be->cfg.n_ctx);
	for (uint32_t i = 0; i < n_tokens; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= vocab)
			return eng_fail(err, "token id %d at index %u is outside the vocabulary (%u)",
					tokens[i], i, vocab);
	for (uint32_t done = 0; done < n_tokens;) {
		uint32_t n = n_tokens - done < be->cfg.max_batch ? n_tokens - done : be->cfg.max_batch;
		int last = done + n == n_tokens;
		float *out = NULL;

		if (logits && all_logits)
			out = logits + (size_t)done * vocab;
		else if (logits && last)
			out = logits;
		if (be->ops->forward(be, tokens + done, n, pos + done, out, all_logits, err))
			return -1;
		done += n;
	}
	return 0;
}

void eng_backend_reset(struct eng_backend *be)
{
	be->ops->reset(be);
}

void eng_backend_get_stats(struct eng_backend *be, struct eng_backend_stats *out)
{
	memset(out, 0, sizeof(*out));
	be->ops->stats(be, out);
}

void eng_backend_destroy(struct eng_backend *be)
{
	if (!be)
		return;
	be->ops->destroy(be);
	free(be);
}
