// SPDX-License-Identifier: MIT
/*
 * kernels.c - the conversions, the portable kernels, the choice of a set at
 * run time and the loops built on a set (see kernels.h). The SIMD sets live
 * in files of their own (kernels_avx2.c), compiled for x86-64-v2 like the
 * rest and switched to their instructions by target attributes.
 */
#include "engine/kernels/kernels.h"

#include <math.h>
#include <string.h>

#include "engine/kernels/kernels_isa.h"

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

float kern_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t mant = h & 0x3ffu;

	if (exp == 0) {
		/* Zero or subnormal: mant * 2^-24 is exact in fp32. */
		float v = (float)mant * 0x1p-24f;

		return sign ? -v : v;
	}
	if (exp == 31)
		return bits_f32(sign | 0x7f800000u | mant << 13);
	return bits_f32(sign | (exp + 112) << 23 | mant << 13);
}

uint16_t kern_f32_to_f16(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (x >> 16) & 0x8000u;
	uint32_t h, rem;

	x &= 0x7fffffffu;
	if (x >= 0x7f800000u) {
		if (x == 0x7f800000u)
			return sign | 0x7c00u;
		/* NaN stays NaN (quiet), keeping the top of its payload. */
		return sign | 0x7e00u | ((x >> 13) & 0x3ffu);
	}
	if (x >= 0x477ff000u)	/* >= 65520 rounds to infinity */
		return sign | 0x7c00u;
	if (x < 0x38800000u) {	/* below 2^-14: subnormal half or zero */
		uint32_t mant = (x & 0x7fffffu) | 0x800000u;
		uint32_t shift = 126 - (x >> 23);	/* to units of 2^-24 */

		if (shift > 24)	/* below 2^-25 (the halfway point to 2^-24) */
			return sign;
		h = mant >> shift;
		rem = mant & ((1u << shift) - 1);
		if (rem > 1u << (shift - 1) || (rem == 1u << (shift - 1) && (h & 1)))
			h++;
		return sign | h;
	}
	h = (x - 0x38000000u) >> 13;	/* rebias 127 -> 15 */
	rem = x & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
		h++;	/* a carry into the exponent is the right answer */
	return sign | h;
}

float kern_bf16_to_f32(uint16_t b)
{
	return bits_f32((uint32_t)b << 16);
}

uint16_t kern_f32_to_bf16(float f)
{
	uint32_t x = f32_bits(f);

	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (x >> 16) | 0x40u;	/* quiet the NaN; truncation could make it inf */
	return (x + 0x7fffu + ((x >> 16) & 1)) >> 16;
}

float kern_q8_0_scale(const uint8_t *block)
{
	uint16_t h;

	memcpy(&h, block, sizeof(h));	/* unaligned in the row */
	return kern_f16_to_f32(h);
}

void kern_row_to_f32(const void *row, enum kern_dtype dtype, uint64_t c0, uint64_t c1,
		     float *out)
{
	const uint16_t *h = row;
	const uint8_t *block;

	switch (dtype) {
	case KERN_F32:
		memcpy(out + c0, (const float *)row + c0, (c1 - c0) * sizeof(float));
		break;
	case KERN_F16:
		for (uint64_t i = c0; i < c1; i++)
			out[i] = kern_f16_to_f32(h[i]);
		break;
	case KERN_BF16:
		for (uint64_t i = c0; i < c1; i++)
			out[i] = kern_bf16_to_f32(h[i]);
		break;
	default:
		block = (const uint8_t *)row + c0 / KERN_Q8_0_BLOCK * KERN_Q8_0_BLOCK_BYTES;
		for (uint64_t i = c0; i < c1; i += KERN_Q8_0_BLOCK, block += KERN_Q8_0_BLOCK_BYTES) {
			const int8_t *q = (const int8_t *)(block + 2);
			float scale = kern_q8_0_scale(block);

			for (int j = 0; j < KERN_Q8_0_BLOCK; j++)
				out[i + j] = scale * (float)q[j];
		}
		break;
	}
}

/* ---- portable kernels ------------------------------------------------------------ */
/*
 * Eight independent partial sums: exact in program order, and a shape the
 * compiler vectorises without reassociating anything.
 */
#define DOT_LANES 8

static float sum_lanes(const float acc[DOT_LANES])
{
	return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

#define DEFINE_DOT_PORTABLE(name, type, to_f32)						\
static float name(const void *wv, const float *x, uint64_t n)				\
{											\
	const type *w = wv;								\
	float acc[DOT_LANES] = { 0 };							\
	uint64_t i = 0;									\
	float r;									\
											\
	for (; i + DOT_LANES <= n; i += DOT_LANES)					\
		for (int k = 0; k < DOT_LANES; k++)					\
			acc[k] += to_f32(w[i + k]) * x[i + k];				\
	r = sum_lanes(acc);								\
	for (; i < n; i++)								\
		r += to_f32(w[i]) * x[i];						\
	return r;									\
}

#define F32_AS_F32(v) (v)

DEFINE_DOT_PORTABLE(dot_f32_portable, float, F32_AS_F32)
DEFINE_DOT_PORTABLE(dot_f16_portable, uint16_t, kern_f16_to_f32)
DEFINE_DOT_PORTABLE(dot_bf16_portable, uint16_t, kern_bf16_to_f32)

static float dot_q8_0_portable(const void *wv, const float *x, uint64_t n)
{
	const uint8_t *block = wv;
	float r = 0;

	for (uint64_t i = 0; i < n; i += KERN_Q8_0_BLOCK, block += KERN_Q8_0_BLOCK_BYTES) {
		const int8_t *q = (const int8_t *)(block + 2);
		float acc[DOT_LANES] = { 0 };

		for (int j = 0; j < KERN_Q8_0_BLOCK; j += DOT_LANES)
			for (int k = 0; k < DOT_LANES; k++)
				acc[k] += (float)q[j + k] * x[i + j + k];
		r += kern_q8_0_scale(block) * sum_lanes(acc);
	}
	return r;
}

#define DEFINE_DOT2_PORTABLE(name, dot)							\
static void name(const void *w, const float *x0, const float *x1, uint64_t n, float out[2])	\
{											\
	out[0] = dot(w, x0, n);								\
	out[1] = dot(w, x1, n);								\
}

DEFINE_DOT2_PORTABLE(dot2_f32_portable, dot_f32_portable)
DEFINE_DOT2_PORTABLE(dot2_f16_portable, dot_f16_portable)
DEFINE_DOT2_PORTABLE(dot2_bf16_portable, dot_bf16_portable)
DEFINE_DOT2_PORTABLE(dot2_q8_0_portable, dot_q8_0_portable)

#define DEFINE_DOT3_PORTABLE(name, dot)							\
static void name(const void *w, const float *x, size_t x_stride, uint64_t n, float out[3])	\
{											\
	for (int t = 0; t < 3; t++)							\
		out[t] = dot(w, x + t * x_stride, n);					\
}

DEFINE_DOT3_PORTABLE(dot3_f32_portable, dot_f32_portable)
DEFINE_DOT3_PORTABLE(dot3_f16_portable, dot_f16_portable)
DEFINE_DOT3_PORTABLE(dot3_bf16_portable, dot_bf16_portable)
DEFINE_DOT3_PORTABLE(dot3_q8_0_portable, dot_q8_0_portable)

static void axpy_portable(float *y, float a, const float *x, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

static const struct kern_ops portable_ops = {
	.name = "portable",
	.dot = { dot_f32_portable, dot_f16_portable, dot_bf16_portable, dot_q8_0_portable },
	.dot2 = { dot2_f32_portable, dot2_f16_portable, dot2_bf16_portable, dot2_q8_0_portable },
	.dot3 = { dot3_f32_portable, dot3_f16_portable, dot3_bf16_portable, dot3_q8_0_portable },
	.axpy = axpy_portable,
};

/* ---- choosing a set -------------------------------------------------------------- */

const struct kern_ops *kern_ops_for(enum kern_isa isa)
{
	switch (isa) {
	case KERN_ISA_PORTABLE:
		return &portable_ops;
	case KERN_ISA_AVX2:
		return kern_avx2_ops();
	default:
		return NULL;
	}
}

static int force_portable;

void kern_force_portable(int on)
{
	force_portable = on;
}

const struct kern_ops *kern_ops(void)
{
	/* Racing first calls all store the same pointer. */
	static const struct kern_ops *_Atomic best;
	const struct kern_ops *ops = best;

	if (force_portable)
		return &portable_ops;
	if (!ops) {
		for (int isa = KERN_ISA_PORTABLE; isa < KERN_ISA_COUNT; isa++)
			if (kern_ops_for((enum kern_isa)isa))
				ops = kern_ops_for((enum kern_isa)isa);
		best = ops;
	}
	return ops;
}

int kern_simd(void)
{
	return kern_ops() != &portable_ops;
}

/* ---- loops on a set --------------------------------------------------------------- */

void kern_matmul_rows(const struct kern_ops *ops, const struct kern_matrix *w, uint64_t r0,
		      uint64_t r1, const float *x, size_t x_stride, uint64_t n, float *y,
		      size_t y_stride)
{
	kern_dot_fn *dot = ops->dot[w->dtype];
	kern_dot2_fn *dot2 = ops->dot2[w->dtype];
	kern_dot3_fn *dot3 = ops->dot3[w->dtype];

	for (uint64_t r = r0; r < r1; r++) {
		const uint8_t *row = (const uint8_t *)w->data + r * w->row_bytes;
		uint64_t t = 0;
		float d[3];

		/* Three activation rows share every weight load (four take more registers than AVX2 has). */
		for (; t + 3 <= n; t += 3) {
			dot3(row, x + t * x_stride, x_stride, w->cols, d);
			for (int k = 0; k < 3; k++)
				y[(t + k) * y_stride + r] = d[k];
		}
		if (t + 2 == n) {
			dot2(row, x + t * x_stride, x + (t + 1) * x_stride, w->cols, d);
			y[t * y_stride + r] = d[0];
			y[(t + 1) * y_stride + r] = d[1];
		} else if (t < n) {
			y[t * y_stride + r] = dot(row, x + t * x_stride, w->cols);
		}
	}
}

void kern_rmsnorm(float *out, const float *x, const float *w, uint64_t dim, float eps)
{
	float ss = 0, scale;

	for (uint64_t i = 0; i < dim; i++)
		ss += x[i] * x[i];
	scale = 1.0f / sqrtf(ss / (float)dim + eps);
	for (uint64_t i = 0; i < dim; i++)
		out[i] = x[i] * scale * w[i];
}

void kern_silu_mul(float *out, const float *gate, const float *up, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
