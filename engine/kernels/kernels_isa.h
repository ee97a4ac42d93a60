/* SPDX-License-Identifier: MIT */
/*
 * kernels_isa.h - what the files of the kernel library share with each
 * other and nobody else: one entry per SIMD set, and the q8_0 block scale
 * every set reads the same way.
 */
#ifndef KERNELS_ISA_H
#define KERNELS_ISA_H

#include "engine/kernels/kernels.h"

/* The AVX2 + FMA + F16C set, or NULL when the CPU or the OS lacks it. */
const struct kern_ops *kern_avx2_ops(void);

/* The fp16 scale at the start of a q8_0 block. */
float kern_q8_0_scale(const uint8_t *block);

#endif /* KERNELS_ISA_H */
