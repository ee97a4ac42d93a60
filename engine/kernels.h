/* SPDX-License-Identifier: MIT */
/*
 * kernels.h - the host compute kernels of the cpu backend: weight-row dot
 * products for every dtype with fp32 accumulate, AVX2/FMA/F16C when the CPU
 * has them (checked at run time), portable C otherwise.
 */
#ifndef ENGINE_KERNELS_H
#define ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/*
 * For rows r in [r0, r1) of w and the n activation rows x[t] (x + t *
 * x_stride, w->cols floats): y[t * y_stride + r] = dot(w[r], x[t]).
 */
void eng_matmul_rows(const struct eng_tensor *w, const float *x, size_t x_stride, int n,
		     float *y, size_t y_stride, uint64_t r0, uint64_t r1);

/* 1: the SIMD path is in use. eng_kernels_force_scalar(1) is for tests. */
int eng_kernels_simd(void);
void eng_kernels_force_scalar(int on);

void eng_rmsnorm(float *out, const float *x, const float *w, uint32_t dim, float eps);

#endif /* ENGINE_KERNELS_H */
