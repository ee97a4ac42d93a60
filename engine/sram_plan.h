/* SPDX-License-Identifier: MIT */
/*
 * sram_plan.h - the one layout of a model in the SRAM of wse devices.
 *
 * From the model's shapes, what each device offers (its own free SRAM, the
 * dtypes it computes in, its PE grid), the context length and the batch, the
 * plan says which layers go on which device and, for each device, the byte
 * offset and size of every tensor by name inside the one SRAM allocation the
 * device gets, and the band of PE rows each item runs on. Placement, loading
 * and every printout read this plan and nothing else, so they cannot
 * disagree. It needs no device: the unit tests run it on the host.
 */
#ifndef ENGINE_SRAM_PLAN_H
#define ENGINE_SRAM_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"

#define ENG_PLAN_ALIGN		256u	/* every tensor starts on this boundary */
#define ENG_PLAN_MAX_DEVICES	64

/* What the plan needs to know of one device. */
struct eng_plan_device {
	const char *name;		/* for messages: "/dev/wse0" */
	uint64_t sram_free;		/* bytes */
	uint32_t dtypes;		/* 1u << ENG_*: kept as stored; others become fp32 */
	uint32_t grid_width, grid_height;	/* PE grid; 0: unknown */
};

/* [off, off + bytes) of the device's SRAM allocation; bytes is aligned. */
struct eng_plan_span {
	uint64_t off, bytes;
};

/* A PE rectangle as wse_stream_set_region() takes it; w = h = 0 is the whole wafer. */
struct eng_plan_region {
	uint16_t x, y, w, h;
};

struct eng_plan_layer {
	struct eng_plan_span tensor[ENG_LAYER_TENSORS];	/* by enum eng_layer_tensor */
	struct eng_plan_span k_cache, v_cache;		/* n_ctx x kv_dim fp32 each */
	enum eng_dtype wtype;		/* of the matrices; the norms are fp32 */
	uint64_t bytes;			/* weights and KV cache */
	struct eng_plan_region region;
};

struct eng_plan_dev {
	char name[64];
	uint32_t l0, l1;		/* layers [l0, l1) */
	int first, last;		/* holds the embedding / the output head */
	struct eng_plan_span x, scratch;	/* residual stream, fused-layer scratch */
	struct eng_plan_span tokens, embd;	/* first device */
	enum eng_dtype embd_type;
	struct eng_plan_span out_norm, xn, logits, out_w;	/* last device */
	enum eng_dtype out_type;
	int out_w_is_embd;		/* tied output on a device holding both */
	uint64_t bytes;			/* the whole allocation */
	struct eng_plan_region embd_region, head_region;
};

struct eng_sram_plan {
	uint32_t n_layers, n_ctx, max_batch;
	int n_dev;			/* devices used: the first n_dev given */
	struct eng_plan_dev dev[ENG_PLAN_MAX_DEVICES];
	struct eng_plan_layer *layer;	/* n_layers */
};

/*
 * split_over_all: spread the layers over all n_dev devices in contiguous
 * groups, in proportion to each device's free SRAM. Otherwise fill each
 * device in turn, so that a model that fits one device uses one. Fails with
 * a sentence naming the device, the layers and the bytes that are short.
 */
int eng_sram_plan_make(struct eng_sram_plan *plan, const struct eng_model *m,
		       const struct eng_plan_device *devs, int n_dev, int split_over_all,
		       uint32_t n_ctx, uint32_t max_batch, struct eng_err *err);
void eng_sram_plan_free(struct eng_sram_plan *plan);

/* "/dev/wse0: layers 0..5 + embedding (212.3 MiB SRAM); ..."; returns n_dev. */
int eng_sram_plan_describe(const struct eng_sram_plan *plan, char *buf, size_t size);

/* Every tensor of every device by name with its offset and size, one a line. */
void eng_sram_plan_print(const struct eng_sram_plan *plan, FILE *f);

#endif /* ENGINE_SRAM_PLAN_H */
