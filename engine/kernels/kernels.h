/* SPDX-License-Identifier: MIT */
/*
 * kernels.h - the compute kernels of the engine's cpu backend and of the
 * wafer model, one library for both: weight-row dot products and matrix
 * products for f32, f16, bf16 and q8_0 weights with fp32 activations and
 * fp32 sums, the f16/bf16 conversions, and the row loops both sides compute
 * the same way.
 *
 * Plain C11 without engine or QEMU headers: QEMU compiles it into the device
 * (tools/vm/build-qemu.sh). Each instruction set is one struct kern_ops,
 * chosen at run time from what the CPU runs, never from build flags (the
 * build targets x86-64-v2). Sets may differ in the last bits of a sum, so a
 * caller that promises reproducible results (the wafer model) keeps one set
 * for its life. Within one set, the dot product of a weight row with an
 * activation row gives the same bits through every entry point and in every
 * batch position, so batching, row ranges and threads change no result.
 */
#ifndef KERNELS_H
#define KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* The engine's enum eng_dtype and the device's WSE_HW_DTYPE_* use these numbers. */
enum kern_dtype {
	KERN_F32 = 0,
	KERN_F16 = 1,
	KERN_BF16 = 2,
	KERN_Q8_0 = 3,	/* blocks of 32 weights: an fp16 scale, then 32 int8 */
	KERN_DTYPE_COUNT
};

#define KERN_Q8_0_BLOCK		32
#define KERN_Q8_0_BLOCK_BYTES	34

float kern_f16_to_f32(uint16_t h);
/* Round to nearest even; NaN stays a (quiet) NaN, overflow gives infinity. */
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t b);
uint16_t kern_f32_to_bf16(float f);

/* Columns [c0, c1) of a weight row as fp32; for q8_0 both are multiples of the block. */
void kern_row_to_f32(const void *row, enum kern_dtype dtype, uint64_t c0, uint64_t c1,
		     float *out);

/* A row-major weight matrix as the matrix products read it. */
struct kern_matrix {
	const void *data;
	enum kern_dtype dtype;
	uint64_t cols;
	uint64_t row_bytes;	/* distance between rows */
};

/* The dot product of one weight row of n columns with n fp32 values. */
typedef float kern_dot_fn(const void *w, const float *x, uint64_t n);
/* The same row with two activation rows at once, each sum exactly as kern_dot_fn's. */
typedef void kern_dot2_fn(const void *w, const float *x0, const float *x1, uint64_t n,
			  float out[2]);
/* Three activation rows, x + 0, x + x_stride, x + 2 * x_stride; sums as kern_dot_fn's. */
typedef void kern_dot3_fn(const void *w, const float *x, size_t x_stride, uint64_t n,
			  float out[3]);

struct kern_ops {
	const char *name;	/* "portable", "avx2" */
	kern_dot_fn *dot[KERN_DTYPE_COUNT];
	kern_dot2_fn *dot2[KERN_DTYPE_COUNT];
	kern_dot3_fn *dot3[KERN_DTYPE_COUNT];
	/* y[i] += a * x[i] */
	void (*axpy)(float *y, float a, const float *x, uint64_t n);
};

/*
 * The instruction sets, fastest last. An AVX-512 set would go after AVX2:
 * a kernels_avx512.c like kernels_avx2.c and a line in kern_ops_for().
 */
enum kern_isa {
	KERN_ISA_PORTABLE,
	KERN_ISA_AVX2,	/* with FMA and F16C */
	KERN_ISA_COUNT
};

/* The set of isa, or NULL when this CPU (or this build) cannot run it. */
const struct kern_ops *kern_ops_for(enum kern_isa isa);
/*
 * The fastest set this CPU runs, unless kern_force_portable(1) asked for
 * the portable one (tests compare the two through the whole engine).
 */
const struct kern_ops *kern_ops(void);
void kern_force_portable(int on);
/* 1: kern_ops() is a SIMD set. */
int kern_simd(void);

/*
 * For weight rows r in [r0, r1) and activation rows t in [0, n) (x + t *
 * x_stride, w->cols floats): y[t * y_stride + r] = dot(w row r, x row t).
 * Rows are independent: a caller may split [r0, r1) over threads.
 */
void kern_matmul_rows(const struct kern_ops *ops, const struct kern_matrix *w, uint64_t r0,
		      uint64_t r1, const float *x, size_t x_stride, uint64_t n, float *y,
		      size_t y_stride);

/* out = x / sqrt(mean(x^2) + eps) * w, the sum of squares in float. */
void kern_rmsnorm(float *out, const float *x, const float *w, uint64_t dim, float eps);

/* out[i] = silu(gate[i]) * up[i]; out may be gate. */
void kern_silu_mul(float *out, const float *gate, const float *up, uint64_t n);

#endif /* KERNELS_H */
