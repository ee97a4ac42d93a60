/* SPDX-License-Identifier: MIT */
/*
 * wafer_kernels.c - element conversions and the inner loops of the matrix
 * products: a portable version and an AVX2/FMA/F16C version, chosen at run
 * time. Both accumulate in fp32; they may differ in the last bits, so one
 * wafer always uses one set (fixed at wafer_create()).
 */
#include <string.h>

#include "wafer_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WAFER_HAVE_X86_SIMD 1
#include <cpuid.h>
#include <immintrin.h>
#endif

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

float wafer_f16_to_f32(uint16_t h)
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

uint16_t wafer_f32_to_f16(float f)
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

float wafer_bf16_to_f32(uint16_t b)
{
	return bits_f32((uint32_t)b << 16);
}

uint16_t wafer_f32_to_bf16(float f)
{
	uint32_t x = f32_bits(f);

	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (x >> 16) | 0x40u;	/* quiet the NaN; truncation could make it inf */
	return (x + 0x7fffu + ((x >> 16) & 1)) >> 16;
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

static float dot_f32_portable(const void *wv, const float *x, uint64_t n)
{
	const float *w = wv;
	float acc[DOT_LANES] = { 0 };
	uint64_t i = 0;
	float r;

	for (; i + DOT_LANES <= n; i += DOT_LANES)
		for (int k = 0; k < DOT_LANES; k++)
			acc[k] += w[i + k] * x[i + k];
	r = sum_lanes(acc);
	for (; i < n; i++)
		r += w[i] * x[i];
	return r;
}

static float dot_f16_portable(const void *wv, const float *x, uint64_t n)
{
	const uint16_t *w = wv;
	float acc[DOT_LANES] = { 0 };
	uint64_t i = 0;
	float r;

	for (; i + DOT_LANES <= n; i += DOT_LANES)
		for (int k = 0; k < DOT_LANES; k++)
			acc[k] += wafer_f16_to_f32(w[i + k]) * x[i + k];
	r = sum_lanes(acc);
	for (; i < n; i++)
		r += wafer_f16_to_f32(w[i]) * x[i];
	return r;
}

static float dot_bf16_portable(const void *wv, const float *x, uint64_t n)
{
	const uint16_t *w = wv;
	float acc[DOT_LANES] = { 0 };
	uint64_t i = 0;
	float r;

	for (; i + DOT_LANES <= n; i += DOT_LANES)
		for (int k = 0; k < DOT_LANES; k++)
			acc[k] += wafer_bf16_to_f32(w[i + k]) * x[i + k];
	r = sum_lanes(acc);
	for (; i < n; i++)
		r += wafer_bf16_to_f32(w[i]) * x[i];
	return r;
}

/* q8_0 blocks: an fp16 scale (unaligned in the row) then 32 int8 values. */
static float q8_0_scale(const uint8_t *block)
{
	uint16_t h;

	memcpy(&h, block, sizeof(h));
	return wafer_f16_to_f32(h);
}

static float dot_q8_0_portable(const void *wv, const float *x, uint64_t n)
{
	const uint8_t *block = wv;
	float r = 0;

	for (uint64_t i = 0; i < n; i += WSE_Q8_0_BLOCK, block += WSE_Q8_0_BLOCK_BYTES) {
		const int8_t *q = (const int8_t *)(block + 2);
		float acc[DOT_LANES] = { 0 };

		for (int j = 0; j < WSE_Q8_0_BLOCK; j += DOT_LANES)
			for (int k = 0; k < DOT_LANES; k++)
				acc[k] += (float)q[j + k] * x[i + j + k];
		r += q8_0_scale(block) * sum_lanes(acc);
	}
	return r;
}

static void axpy_portable(float *y, float a, const float *x, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

/* ---- AVX2 + FMA + F16C kernels --------------------------------------------------- */
#ifdef WAFER_HAVE_X86_SIMD
#define SIMD_TARGET __attribute__((target("avx2,fma,f16c")))

SIMD_TARGET static float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
	return _mm_cvtss_f32(s);
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

/*
 * Four accumulators of eight lanes hide the FMA latency; a matrix row
 * streams from memory and x stays in cache, so this runs at memory speed.
 */
#define DEFINE_DOT_AVX2(name, type, load, scalar)					\
SIMD_TARGET static float name(const void *wv, const float *x, uint64_t n)		\
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
		r += scalar(w[i]) * x[i];						\
	return r;									\
}

#define LOAD_F32(p) _mm256_loadu_ps(p)
#define SCALAR_F32(v) (v)

DEFINE_DOT_AVX2(dot_f32_avx2, float, LOAD_F32, SCALAR_F32)
DEFINE_DOT_AVX2(dot_f16_avx2, uint16_t, load8_f16, wafer_f16_to_f32)
DEFINE_DOT_AVX2(dot_bf16_avx2, uint16_t, load8_bf16, wafer_bf16_to_f32)

SIMD_TARGET static float dot_q8_0_avx2(const void *wv, const float *x, uint64_t n)
{
	const uint8_t *block = wv;
	__m256 acc = _mm256_setzero_ps();

	for (uint64_t i = 0; i < n; i += WSE_Q8_0_BLOCK, block += WSE_Q8_0_BLOCK_BYTES) {
		const int8_t *q = (const int8_t *)(block + 2);
		__m256 b0 = _mm256_mul_ps(load8_i8(q), _mm256_loadu_ps(x + i));
		__m256 b1 = _mm256_mul_ps(load8_i8(q + 8), _mm256_loadu_ps(x + i + 8));

		b0 = _mm256_fmadd_ps(load8_i8(q + 16), _mm256_loadu_ps(x + i + 16), b0);
		b1 = _mm256_fmadd_ps(load8_i8(q + 24), _mm256_loadu_ps(x + i + 24), b1);
		acc = _mm256_fmadd_ps(_mm256_set1_ps(q8_0_scale(block)), _mm256_add_ps(b0, b1), acc);
	}
	return hsum256(acc);
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
#endif /* WAFER_HAVE_X86_SIMD */

void wafer_kernels_init(struct wafer_kernels *kernels, int allow_simd)
{
	kernels->dot[WSE_HW_DTYPE_F32] = dot_f32_portable;
	kernels->dot[WSE_HW_DTYPE_F16] = dot_f16_portable;
	kernels->dot[WSE_HW_DTYPE_BF16] = dot_bf16_portable;
	kernels->dot[WSE_HW_DTYPE_Q8_0] = dot_q8_0_portable;
	kernels->axpy = axpy_portable;
	kernels->name = "portable";
#ifdef WAFER_HAVE_X86_SIMD
	if (allow_simd && cpu_has_avx2()) {
		kernels->dot[WSE_HW_DTYPE_F32] = dot_f32_avx2;
		kernels->dot[WSE_HW_DTYPE_F16] = dot_f16_avx2;
		kernels->dot[WSE_HW_DTYPE_BF16] = dot_bf16_avx2;
		kernels->dot[WSE_HW_DTYPE_Q8_0] = dot_q8_0_avx2;
		kernels->axpy = axpy_avx2;
		kernels->name = "avx2";
	}
#else
	(void)allow_simd;
#endif
}
