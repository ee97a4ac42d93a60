// SPDX-License-Identifier: MIT
/*
 * kernels_avx2.c - the AVX2 + FMA + F16C set. Only these functions carry
 * the target attribute, so the file builds with the project's x86-64-v2
 * flags (and QEMU's) and runs nowhere unless kern_avx2_ops() said the CPU
 * has the instructions.
 */
#include "engine/kernels/kernels_isa.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define SIMD_TARGET __attribute__((target("avx2,fma,f16c")))

SIMD_TARGET static float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
	return _mm_cvtss_f32(s);
}

SIMD_TARGET static __m256 load8_f32(const float *p)
{
	return _mm256_loadu_ps(p);
}

SIMD_TARGET static __m256 load8_f16(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

SIMD_TARGET static __m256 load8_bf16(const uint16_t *p)
{
	__m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));

	return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

SIMD_TARGET static __m256 load8_i8(const int8_t *p)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* F16C converts the block scale exactly, as kern_f16_to_f32() does. */
SIMD_TARGET static float q8_0_scale(const uint8_t *block)
{
	uint16_t h;

	memcpy(&h, block, sizeof(h));
	return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

#define F32_AS_F32(v) (v)

/*
 * Four accumulators of eight lanes hide the FMA latency; a weight row
 * streams from memory and x stays in cache, so this runs at memory speed.
 * The two-row version keeps four accumulators per activation row and adds
 * them in the same order, so each of its sums is the one-row sum's bits.
 */
#define DEFINE_DOT_AVX2(dot, dot2, dot3, type, load, to_f32)					\
SIMD_TARGET static float dot(const void *wv, const float *x, uint64_t n)		\
{											\
	const type *w = wv;								\
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();			\
	__m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();			\
	uint64_t i = 0;									\
	float r;									\
											\
	for (; i + 32 <= n; i += 32) {							\
		a0 = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), a0);		\
		a1 = _mm256_fmadd_ps(load(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);	\
		a2 = _mm256_fmadd_ps(load(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);	\
		a3 = _mm256_fmadd_ps(load(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);	\
	}										\
	for (; i + 8 <= n; i += 8)							\
		a0 = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), a0);		\
	r = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));	\
	for (; i < n; i++)								\
		r += to_f32(w[i]) * x[i];						\
	return r;									\
}											\
											\
SIMD_TARGET static void dot2(const void *wv, const float *x0, const float *x1,		\
			     uint64_t n, float out[2])					\
{											\
	const type *w = wv;								\
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;			\
	__m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0, v;					\
	uint64_t i = 0;									\
	float r0, r1;									\
											\
	for (; i + 32 <= n; i += 32) {							\
		v = load(w + i);							\
		a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i), a0);			\
		b0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i), b0);			\
		v = load(w + i + 8);							\
		a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i + 8), a1);		\
		b1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i + 8), b1);		\
		v = load(w + i + 16);							\
		a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i + 16), a2);		\
		b2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i + 16), b2);		\
		v = load(w + i + 24);							\
		a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i + 24), a3);		\
		b3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i + 24), b3);		\
	}										\
	for (; i + 8 <= n; i += 8) {							\
		v = load(w + i);							\
		a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i), a0);			\
		b0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i), b0);			\
	}										\
	r0 = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));	\
	r1 = hsum256(_mm256_add_ps(_mm256_add_ps(b0, b1), _mm256_add_ps(b2, b3)));	\
	for (; i < n; i++) {								\
		r0 += to_f32(w[i]) * x0[i];						\
		r1 += to_f32(w[i]) * x1[i];						\
	}										\
	out[0] = r0;									\
	out[1] = r1;									\
}											\
											\
SIMD_TARGET static void dot3(const void *wv, const float *x0, size_t stride,		\
			     uint64_t n, float out[3])					\
{											\
	const type *w = wv;								\
	const float *x1 = x0 + stride, *x2 = x1 + stride;				\
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;			\
	__m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;					\
	__m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0, v;					\
	uint64_t i = 0;									\
	float r0, r1, r2;								\
											\
	for (; i + 32 <= n; i += 32) {							\
		v = load(w + i);							\
		a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i), a0);			\
		b0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i), b0);			\
		c0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x2 + i), c0);			\
		v = load(w + i + 8);							\
		a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i + 8), a1);		\
		b1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i + 8), b1);		\
		c1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x2 + i + 8), c1);		\
		v = load(w + i + 16);							\
		a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i + 16), a2);		\
		b2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i + 16), b2);		\
		c2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x2 + i + 16), c2);		\
		v = load(w + i + 24);							\
		a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i + 24), a3);		\
		b3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i + 24), b3);		\
		c3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x2 + i + 24), c3);		\
	}										\
	for (; i + 8 <= n; i += 8) {							\
		v = load(w + i);							\
		a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x0 + i), a0);			\
		b0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x1 + i), b0);			\
		c0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x2 + i), c0);			\
	}										\
	r0 = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));	\
	r1 = hsum256(_mm256_add_ps(_mm256_add_ps(b0, b1), _mm256_add_ps(b2, b3)));	\
	r2 = hsum256(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)));	\
	for (; i < n; i++) {								\
		r0 += to_f32(w[i]) * x0[i];						\
		r1 += to_f32(w[i]) * x1[i];						\
		r2 += to_f32(w[i]) * x2[i];						\
	}										\
	out[0] = r0;									\
	out[1] = r1;									\
	out[2] = r2;									\
}

DEFINE_DOT_AVX2(dot_f32_avx2, dot2_f32_avx2, dot3_f32_avx2, float, load8_f32, F32_AS_F32)
DEFINE_DOT_AVX2(dot_f16_avx2, dot2_f16_avx2, dot3_f16_avx2, uint16_t, load8_f16, kern_f16_to_f32)
DEFINE_DOT_AVX2(dot_bf16_avx2, dot2_bf16_avx2, dot3_bf16_avx2, uint16_t, load8_bf16,
		kern_bf16_to_f32)

/*
 * A q8_0 block's 32 weights, converted once and used for every activation
 * row: each row sums its products in two vectors, and the block is scaled
 * once, a multiply per block instead of one per weight.
 */
struct q8_0_block {
	__m256 scale, q0, q1, q2, q3;
};

SIMD_TARGET __attribute__((always_inline)) static inline struct q8_0_block
q8_0_load(const uint8_t *block)
{
	const int8_t *q = (const int8_t *)(block + 2);

	return (struct q8_0_block){ _mm256_set1_ps(q8_0_scale(block)), load8_i8(q),
				    load8_i8(q + 8), load8_i8(q + 16), load8_i8(q + 24) };
}

/* acc + scale * (the block's products with x[0..31]) */
SIMD_TARGET __attribute__((always_inline)) static inline __m256
q8_0_fma(const struct q8_0_block *b, const float *x, __m256 acc)
{
	__m256 s0 = _mm256_mul_ps(b->q0, _mm256_loadu_ps(x));
	__m256 s1 = _mm256_mul_ps(b->q1, _mm256_loadu_ps(x + 8));

	s0 = _mm256_fmadd_ps(b->q2, _mm256_loadu_ps(x + 16), s0);
	s1 = _mm256_fmadd_ps(b->q3, _mm256_loadu_ps(x + 24), s1);
	return _mm256_fmadd_ps(b->scale, _mm256_add_ps(s0, s1), acc);
}

SIMD_TARGET static float dot_q8_0_avx2(const void *wv, const float *x, uint64_t n)
{
	const uint8_t *block = wv;
	__m256 acc = _mm256_setzero_ps();

	for (uint64_t i = 0; i < n; i += KERN_Q8_0_BLOCK, block += KERN_Q8_0_BLOCK_BYTES) {
		struct q8_0_block b = q8_0_load(block);

		acc = q8_0_fma(&b, x + i, acc);
	}
	return hsum256(acc);
}

SIMD_TARGET static void dot2_q8_0_avx2(const void *wv, const float *x0, const float *x1,
				       uint64_t n, float out[2])
{
	const uint8_t *block = wv;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;

	for (uint64_t i = 0; i < n; i += KERN_Q8_0_BLOCK, block += KERN_Q8_0_BLOCK_BYTES) {
		struct q8_0_block b = q8_0_load(block);

		acc0 = q8_0_fma(&b, x0 + i, acc0);
		acc1 = q8_0_fma(&b, x1 + i, acc1);
	}
	out[0] = hsum256(acc0);
	out[1] = hsum256(acc1);
}

SIMD_TARGET static void dot3_q8_0_avx2(const void *wv, const float *x0, size_t stride,
				       uint64_t n, float out[3])
{
	const uint8_t *block = wv;
	const float *x1 = x0 + stride, *x2 = x1 + stride;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0;

	for (uint64_t i = 0; i < n; i += KERN_Q8_0_BLOCK, block += KERN_Q8_0_BLOCK_BYTES) {
		struct q8_0_block b = q8_0_load(block);

		acc0 = q8_0_fma(&b, x0 + i, acc0);
		acc1 = q8_0_fma(&b, x1 + i, acc1);
		acc2 = q8_0_fma(&b, x2 + i, acc2);
	}
	out[0] = hsum256(acc0);
	out[1] = hsum256(acc1);
	out[2] = hsum256(acc2);
}

SIMD_TARGET static void axpy_avx2(float *y, float a, const float *x, uint64_t n)
{
	__m256 va = _mm256_set1_ps(a);
	uint64_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
							_mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] += a * x[i];
}

/*
 * CPUID rather than __builtin_cpu_supports(): clang's builtin does not know
 * "f16c". The OS must also save the YMM registers (XCR0 bits 1 and 2).
 */
static int cpu_has_avx2(void)
{
	unsigned int a, b, c, d, xcr0_lo, xcr0_hi;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	if (!(c & bit_OSXSAVE) || !(c & bit_AVX) || !(c & bit_FMA) || !(c & bit_F16C))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	(void)xcr0_hi;
	if ((xcr0_lo & 6) != 6 || __get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	return !!(b & bit_AVX2);
}

static const struct kern_ops avx2_ops = {
	.name = "avx2",
	.dot = { dot_f32_avx2, dot_f16_avx2, dot_bf16_avx2, dot_q8_0_avx2 },
	.dot2 = { dot2_f32_avx2, dot2_f16_avx2, dot2_bf16_avx2, dot2_q8_0_avx2 },
	.dot3 = { dot3_f32_avx2, dot3_f16_avx2, dot3_bf16_avx2, dot3_q8_0_avx2 },
	.axpy = axpy_avx2,
};

const struct kern_ops *kern_avx2_ops(void)
{
	return cpu_has_avx2() ? &avx2_ops : NULL;
}

#else /* not x86-64 */

const struct kern_ops *kern_avx2_ops(void)
{
	return NULL;
}

#endif
