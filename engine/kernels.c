// SPDX-License-Identifier: MIT
/* kernels.c - see kernels.h. */
#include "engine/kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#endif

static int force_scalar;

void eng_kernels_force_scalar(int on)
{
	force_scalar = on;
}

int eng_kernels_simd(void)
{
#ifdef HAVE_X86_SIMD
	static int cached = -1;

	if (cached < 0) {
		__builtin_cpu_init();
		cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
			 __builtin_cpu_supports("f16c");
	}
	return cached && !force_scalar;
#else
	return 0;
#endif
}

/* ---- portable path ------------------------------------------------------------- */

static void rows_scalar(const struct eng_tensor *w, const float *x, size_t x_stride, int n,
			float *y, size_t y_stride, uint64_t r0, uint64_t r1)
{
	float buf[256];
	uint64_t cols = w->cols;

	for (uint64_t r = r0; r < r1; r++) {
		const uint8_t *row = (const uint8_t *)w->data + r * w->row_bytes;

		for (int t = 0; t < n; t++)
			y[(size_t)t * y_stride + r] = 0;
		/* convert a slice of the row once, use it for every activation row */
		for (uint64_t c0 = 0; c0 < cols; c0 += 256) {
			uint64_t m = cols - c0 < 256 ? cols - c0 : 256;

			for (uint64_t i = 0; i < m; i++)
				buf[i] = eng_row_get(row, w->type, c0 + i);
			for (int t = 0; t < n; t++) {
				const float *xt = x + (size_t)t * x_stride + c0;
				float acc = 0;

				for (uint64_t i = 0; i < m; i++)
					acc += buf[i] * xt[i];
				y[(size_t)t * y_stride + r] += acc;
			}
		}
	}
}

#ifdef HAVE_X86_SIMD
#define SIMD __attribute__((target("avx2,fma,f16c")))

SIMD static inline float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

SIMD static inline __m256 load8(const uint8_t *row, enum eng_dtype type, uint64_t c)
{
	switch (type) {
	case ENG_F16:
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * c)));
	case ENG_BF16:
		return _mm256_castsi256_ps(_mm256_slli_epi32(
			_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * c))), 16));
	default:
		return _mm256_loadu_ps((const float *)(row + 4 * c));
	}
}

/* Tail columns (cols % 16) of one dot product. */
static inline float dot_tail(const uint8_t *row, enum eng_dtype type, const float *x, uint64_t c,
			     uint64_t cols)
{
	float acc = 0;

	for (; c < cols; c++)
		acc += eng_row_get(row, type, c) * x[c];
	return acc;
}

/*
 * The dtype is a compile-time constant in each instantiation (always_inline
 * from a switch), and the accumulators are named variables so that they stay
 * in registers: one activation row (decode) uses 4 column streams, four rows
 * (prefill) share every weight load.
 */
SIMD __attribute__((always_inline)) static inline void
rows_avx2_t(const struct eng_tensor *w, const float *x, size_t x_stride, int n, float *y,
	    size_t y_stride, uint64_t r0, uint64_t r1, const enum eng_dtype type)
{
	const uint64_t cols = w->cols, c32 = cols & ~31ull, c16 = cols & ~15ull;

	for (uint64_t r = r0; r < r1; r++) {
		const uint8_t *row = (const uint8_t *)w->data + r * w->row_bytes;
		int t = 0;

		for (; t + 4 <= n; t += 4) {
			const float *x0 = x + (size_t)t * x_stride, *x1 = x0 + x_stride;
			const float *x2 = x1 + x_stride, *x3 = x2 + x_stride;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			__m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
			uint64_t c;

			for (c = 0; c < c16; c += 16) {
				__m256 w0 = load8(row, type, c), w1 = load8(row, type, c + 8);

				a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + c), a0);
				a1 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + c), a1);
				a2 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x2 + c), a2);
				a3 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x3 + c), a3);
				b0 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x0 + c + 8), b0);
				b1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x1 + c + 8), b1);
				b2 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x2 + c + 8), b2);
				b3 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x3 + c + 8), b3);
			}
			y[(size_t)t * y_stride + r] = hsum(_mm256_add_ps(a0, b0)) + dot_tail(row, type, x0, c, cols);
			y[(size_t)(t + 1) * y_stride + r] = hsum(_mm256_add_ps(a1, b1)) + dot_tail(row, type, x1, c, cols);
			y[(size_t)(t + 2) * y_stride + r] = hsum(_mm256_add_ps(a2, b2)) + dot_tail(row, type, x2, c, cols);
			y[(size_t)(t + 3) * y_stride + r] = hsum(_mm256_add_ps(a3, b3)) + dot_tail(row, type, x3, c, cols);
		}
		for (; t < n; t++) {
			const float *x0 = x + (size_t)t * x_stride;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			uint64_t c;

			for (c = 0; c < c32; c += 32) {
				a0 = _mm256_fmadd_ps(load8(row, type, c), _mm256_loadu_ps(x0 + c), a0);
				a1 = _mm256_fmadd_ps(load8(row, type, c + 8), _mm256_loadu_ps(x0 + c + 8), a1);
				a2 = _mm256_fmadd_ps(load8(row, type, c + 16), _mm256_loadu_ps(x0 + c + 16), a2);
				a3 = _mm256_fmadd_ps(load8(row, type, c + 24), _mm256_loadu_ps(x0 + c + 24), a3);
			}
			for (; c < c16; c += 16) {
				a0 = _mm256_fmadd_ps(load8(row, type, c), _mm256_loadu_ps(x0 + c), a0);
				a1 = _mm256_fmadd_ps(load8(row, type, c + 8), _mm256_loadu_ps(x0 + c + 8), a1);
			}
			y[(size_t)t * y_stride + r] = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) +
						      dot_tail(row, type, x0, c, cols);
		}
	}
}

SIMD static void rows_avx2(const struct eng_tensor *w, const float *x, size_t x_stride, int n,
			   float *y, size_t y_stride, uint64_t r0, uint64_t r1)
{
	switch (w->type) {
	case ENG_F16: rows_avx2_t(w, x, x_stride, n, y, y_stride, r0, r1, ENG_F16); break;
	case ENG_BF16: rows_avx2_t(w, x, x_stride, n, y, y_stride, r0, r1, ENG_BF16); break;
	default: rows_avx2_t(w, x, x_stride, n, y, y_stride, r0, r1, ENG_F32); break;
	}
}

/* One Q8_0 block (32 weights) as four vectors of fp32. */
SIMD static inline void q8_block(const uint8_t *blk, __m256 out[4])
{
	uint16_t hd;
	__m256 d;

	memcpy(&hd, blk, 2);
	d = _mm256_set1_ps(eng_f16_to_f32(hd));
	for (int q = 0; q < 4; q++)
		out[q] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
			_mm_loadl_epi64((const __m128i *)(blk + 2 + 8 * q)))));
}

SIMD static void rows_q8_avx2(const struct eng_tensor *w, const float *x, size_t x_stride, int n,
			      float *y, size_t y_stride, uint64_t r0, uint64_t r1)
{
	const uint64_t blocks = w->cols / ENG_Q8_0_BLOCK;

	for (uint64_t r = r0; r < r1; r++) {
		const uint8_t *row = (const uint8_t *)w->data + r * w->row_bytes;
		int t = 0;

		for (; t + 2 <= n; t += 2) {
			const float *x0 = x + (size_t)t * x_stride, *x1 = x0 + x_stride;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;

			for (uint64_t b = 0; b < blocks; b++) {
				const float *p0 = x0 + b * 32, *p1 = x1 + b * 32;
				__m256 wq[4];

				q8_block(row + b * ENG_Q8_0_BLOCK_BYTES, wq);
				a0 = _mm256_fmadd_ps(wq[0], _mm256_loadu_ps(p0), a0);
				b0 = _mm256_fmadd_ps(wq[1], _mm256_loadu_ps(p0 + 8), b0);
				a0 = _mm256_fmadd_ps(wq[2], _mm256_loadu_ps(p0 + 16), a0);
				b0 = _mm256_fmadd_ps(wq[3], _mm256_loadu_ps(p0 + 24), b0);
				a1 = _mm256_fmadd_ps(wq[0], _mm256_loadu_ps(p1), a1);
				b1 = _mm256_fmadd_ps(wq[1], _mm256_loadu_ps(p1 + 8), b1);
				a1 = _mm256_fmadd_ps(wq[2], _mm256_loadu_ps(p1 + 16), a1);
				b1 = _mm256_fmadd_ps(wq[3], _mm256_loadu_ps(p1 + 24), b1);
			}
			y[(size_t)t * y_stride + r] = hsum(_mm256_add_ps(a0, b0));
			y[(size_t)(t + 1) * y_stride + r] = hsum(_mm256_add_ps(a1, b1));
		}
		for (; t < n; t++) {
			const float *x0 = x + (size_t)t * x_stride;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;

			for (uint64_t b = 0; b < blocks; b++) {
				const float *p0 = x0 + b * 32;
				__m256 wq[4];

				q8_block(row + b * ENG_Q8_0_BLOCK_BYTES, wq);
				a0 = _mm256_fmadd_ps(wq[0], _mm256_loadu_ps(p0), a0);
				a1 = _mm256_fmadd_ps(wq[1], _mm256_loadu_ps(p0 + 8), a1);
				a2 = _mm256_fmadd_ps(wq[2], _mm256_loadu_ps(p0 + 16), a2);
				a3 = _mm256_fmadd_ps(wq[3], _mm256_loadu_ps(p0 + 24), a3);
			}
			y[(size_t)t * y_stride + r] = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
		}
	}
}
#endif

void eng_matmul_rows(const struct eng_tensor *w, const float *x, size_t x_stride, int n,
		     float *y, size_t y_stride, uint64_t r0, uint64_t r1)
{
#ifdef HAVE_X86_SIMD
	if (eng_kernels_simd()) {
		if (w->type == ENG_Q8_0)
			rows_q8_avx2(w, x, x_stride, n, y, y_stride, r0, r1);
		else
			rows_avx2(w, x, x_stride, n, y, y_stride, r0, r1);
		return;
	}
#endif
	rows_scalar(w, x, x_stride, n, y, y_stride, r0, r1);
}

void eng_rmsnorm(float *out, const float *x, const float *w, uint32_t dim, float eps)
{
	float ss = 0, scale;

	for (uint32_t i = 0; i < dim; i++)
		ss += x[i] * x[i];
	scale = 1.0f / sqrtf(ss / (float)dim + eps);
	for (uint32_t i = 0; i < dim; i++)
		out[i] = x[i] * scale * w[i];
}
