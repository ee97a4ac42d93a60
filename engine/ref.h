/* SPDX-License-Identifier: MIT */
/*
 * ref.h - a deliberately plain single-threaded forward pass, one token at a
 * time, weights read element by element, double-precision sums. It shares no
 * code with the backends so that tests can hold them against it.
 */
#ifndef ENGINE_REF_H
#define ENGINE_REF_H

#include <stdint.h>

#include "engine/engine.h"

struct eng_ref;

struct eng_ref *eng_ref_create(const struct eng_model *model, uint32_t n_ctx);
void eng_ref_free(struct eng_ref *ref);
/* Runs the token at position pos (< n_ctx, positions in order) and writes vocab_size logits. */
int eng_ref_forward(struct eng_ref *ref, int32_t token, uint32_t pos, float *logits);

#endif /* ENGINE_REF_H */
