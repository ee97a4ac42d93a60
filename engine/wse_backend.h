/* SPDX-License-Identifier: MIT */
/* wse_backend.h - what the wse backend offers beyond struct eng_backend_ops. */
#ifndef ENGINE_WSE_BACKEND_H
#define ENGINE_WSE_BACKEND_H

#include <stddef.h>
#include <stdio.h>

#include "engine/backend.h"

extern const struct eng_backend_ops eng_wse_backend_ops;

/*
 * For a backend created as "wse": writes where the model was placed, e.g.
 * "/dev/wse0: layers 0..5 + embedding (212.3 MiB SRAM); /dev/wse1: ...",
 * into buf and returns the number of devices in use.
 */
int eng_wse_describe(const struct eng_backend *be, char *buf, size_t size);

/* For a backend created as "wse": every tensor's SRAM offset and size, by device. */
void eng_wse_print_plan(const struct eng_backend *be, FILE *f);

#endif /* ENGINE_WSE_BACKEND_H */
