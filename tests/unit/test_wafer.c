/* SPDX-License-Identifier: MIT */
/*
 * test_wafer.c - the wafer model against naive double-precision references.
 *
 * Results are fp32 computed with fp32 sums. A sum is compared relative to
 * the sum of the absolute values of its terms, an element-wise result
 * relative to |ref| + a floor. Half-precision and q8_0 weights are compared
 * twice: tightly against a reference using the same decoded weights, and
 * loosely against the fp32 weights they were rounded from, which checks the
 * encoders as well. Every check prints the worst error it saw; the
 * tolerances below say what that was (AVX2 and portable kernels, this
 * file's fixed seeds) and sit 13-16x above it, or at a rounding bound where
 * one exists.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qemu-dev/wafer/wafer_internal.h"
#include "tests/tap.h"
#include "tests/unit/op_rule_cases.h"
#include "wse/op_rules.h"

#define TOL_DOT		5e-7	/* dot kernels: observed 3.5e-8 */
#define TOL_AXPY	1e-6	/* observed 7.9e-8 */
#define TOL_MATMUL	2e-6	/* against the decoded weights: observed 1.3e-7 (f32, avx2) */
#define TOL_RMSNORM	2e-6	/* observed 1.3e-7, also on the rows near eps */
#define TOL_ROPE	5e-7	/* floor 1: observed 3.8e-8 */
#define TOL_ATTENTION	2e-6	/* floor 1: observed 1.4e-7 */
#define TOL_SILU	2e-6	/* floor 1e-3: observed 1.3e-7 */
#define TOL_LAYER	5e-6	/* floor 1: observed 3.9e-7 (q8_0, portable kernels) */
/* One fp32 rounding is at most 2^-24 = 6.0e-8 relative: observed 6.0e-8. */
#define TOL_ADD		1e-7
/*
 * x - max rounded to fp32 moves exp(x - max) by up to |x - max| 2^-24
 * relative: 6.6e-6 for the |x - max| <= 110 used. Observed 3.8e-6.
 */
#define TOL_SOFTMAX	1e-5
/*
 * Against the fp32 weights, the encoding's rounding: f16 at most 2^-11 =
 * 4.9e-4 of each weight (observed 3.8e-4), bf16 2^-8 = 3.9e-3 (observed
 * 2.5e-3), q8_0 half a step of amax / 127 (observed 3.0e-3).
 */
#define TOL_ENC_F16	1e-3
#define TOL_ENC_BF16	8e-3
#define TOL_ENC_Q8_0	1.6e-2

#define RMSNORM_EPS	1e-5f	/* Llama's */

/* ---- helpers ----------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Uniform in [-1, 1). */
static float rng_float(void)
{
	return (float)((double)(rng_next() >> 11) * 0x1p-52 - 1.0);
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng_next() % n);
}

static void fill(float *p, uint64_t n, float scale)
{
	for (uint64_t i = 0; i < n; i++)
		p[i] = rng_float() * scale;
}

/*
 * The worst error seen by the current check, in the units its tolerance is
 * stated in (|got - ref| over |ref| + floor, or over the sum of |terms|);
 * each check prints it beside the tolerance.
 */
static double worst;

static void observe(double err, double scale)
{
	double e = err == 0 ? 0 : scale > 0 ? err / scale : INFINITY;

	if (!(e <= worst))
		worst = isnan(e) ? INFINITY : e;
}

/* A bump allocator over the wafer's SRAM. */
struct arena {
	struct wafer *w;
	uint64_t used;
};

static uint64_t arena_alloc(struct arena *a, uint64_t bytes)
{
	uint64_t off = a->used;

	a->used = (a->used + bytes + 255) & ~255ull;
	return off;
}

static void *at(struct arena *a, uint64_t off)
{
	return wafer_sram(a->w, off, 0);
}

static uint64_t put(struct arena *a, const void *data, uint64_t bytes)
{
	uint64_t off = arena_alloc(a, bytes);

	memcpy(at(a, off), data, bytes);
	return off;
}

#define HDR(code, type) { .op = (code), .length = sizeof(struct type) }

static struct wafer *make_wafer(uint32_t threads, uint64_t sram)
{
	struct wafer_config config = { .preset = WAFER_PRESET_SMALL, .sram_bytes = sram,
				       .threads = threads };

	return wafer_create(&config);
}

static int exec(struct wafer *w, void *rec)
{
	uint64_t cycles = 0;

	return wafer_exec(w, rec, &cycles);
}

/* ---- independent element references -------------------------------------------------- */

static double ref_f16(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);

	return h & 0x8000 ? -v : v;
}

/* Nearest half by binary search over the ordered positive halves, ties to even. */
static uint16_t ref_to_f16(float f)
{
	double a = fabs((double)f);
	uint16_t sign = signbit(f) ? 0x8000 : 0, lo = 0, hi = 0x7c00;

	if (isnan(f))
		return 0x7e00;
	if (a >= 65520.0)
		return sign | 0x7c00;
	while (hi - lo > 1) {
		uint16_t mid = (uint16_t)((lo + hi) / 2);

		if (ref_f16(mid) <= a)
			lo = mid;
		else
			hi = mid;
	}
	if (a - ref_f16(lo) < ref_f16(hi) - a)
		return sign | lo;
	if (a - ref_f16(lo) > ref_f16(hi) - a)
		return sign | hi;
	return sign | (lo & 1 ? hi : lo);
}

static double decode_weight(const void *w, uint32_t dtype, uint64_t cols, uint64_t r, uint64_t c)
{
	if (dtype == WSE_HW_DTYPE_F32)
		return ((const float *)w)[r * cols + c];
	if (dtype == WSE_HW_DTYPE_F16)
		return ref_f16(((const uint16_t *)w)[r * cols + c]);
	if (dtype == WSE_HW_DTYPE_BF16) {
		uint32_t bits = (uint32_t)((const uint16_t *)w)[r * cols + c] << 16;
		float f;

		memcpy(&f, &bits, sizeof(f));
		return f;
	}
	const uint8_t *block = (const uint8_t *)w + r * (cols / 32) * 34 + (c / 32) * 34;
	uint16_t scale;

	memcpy(&scale, block, 2);
	return ref_f16(scale) * (int8_t)block[2 + c % 32];
}

/* Encodes rows x cols fp32 as dtype into a new buffer of wafer_weight_bytes(). */
static void *encode(const float *src, uint32_t dtype, uint64_t rows, uint64_t cols)
{
	uint64_t bytes = wafer_weight_bytes(dtype, rows, cols);
	uint8_t *out = malloc(bytes);

	if (dtype == WSE_HW_DTYPE_F32) {
		memcpy(out, src, bytes);
	} else if (dtype == WSE_HW_DTYPE_F16 || dtype == WSE_HW_DTYPE_BF16) {
		for (uint64_t i = 0; i < rows * cols; i++) {
			uint16_t h = dtype == WSE_HW_DTYPE_F16 ? wafer_f32_to_f16(src[i]) :
							      wafer_f32_to_bf16(src[i]);
			memcpy(out + 2 * i, &h, 2);
		}
	} else {
		for (uint64_t b = 0; b < rows * cols / 32; b++) {
			const float *v = src + b * 32;
			uint8_t *block = out + b * 34;
			float amax = 0, d;
			uint16_t dh;

			for (int j = 0; j < 32; j++)
				amax = fmaxf(amax, fabsf(v[j]));
			d = amax / 127;
			dh = wafer_f32_to_f16(d);
			memcpy(block, &dh, 2);
			for (int j = 0; j < 32; j++)
				block[2 + j] = (uint8_t)(int8_t)(d ? lrintf(v[j] / d) : 0);
		}
	}
	return out;
}

static const char *const dtype_name[] = { "f32", "f16", "bf16", "q8_0" };

/* ---- conversions ------------------------------------------------------------------------- */

static float bits_to_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static void test_f16_conversion(void)
{
	struct { float in; uint16_t want; } cases[] = {
		{ 0.0f, 0x0000 }, { -0.0f, 0x8000 }, { 1.0f, 0x3c00 }, { -2.0f, 0xc000 },
		{ 65504.0f, 0x7bff }, { 65519.0f, 0x7bff }, { 65520.0f, 0x7c00 }, { 1e9f, 0x7c00 },
		{ 0x1p-14f, 0x0400 }, { 0x1p-24f, 0x0001 }, { 0x1p-25f, 0x0000 },
		{ 0x1.000002p-25f, 0x0001 }, { 0x3p-25f, 0x0002 }, { 0x5p-25f, 0x0002 },
		{ 0x1.ff8p-15f, 0x03ff }, { 0x1.ffcp-15f, 0x0400 }, { 0x1.ffap-15f, 0x03ff },
		{ 1.0f + 0x1p-11f, 0x3c00 }, { 1.0f + 0x3p-11f, 0x3c02 }, { 1.0f + 0x1.8p-11f, 0x3c01 },
		{ INFINITY, 0x7c00 }, { -INFINITY, 0xfc00 }, { 1e-30f, 0x0000 },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t got = wafer_f32_to_f16(cases[i].in);

		if (!TAP_OK(got == cases[i].want, "f32_to_f16(%a) = 0x%04x (want 0x%04x)",
			    cases[i].in, got, cases[i].want))
			bad++;
	}
	TAP_OK(isnan(wafer_f16_to_f32(wafer_f32_to_f16(NAN))), "f16: NaN stays NaN");
	TAP_OK(isnan(wafer_f16_to_f32(wafer_f32_to_f16(bits_to_f32(0x7f800001u)))),
	       "f16: a signalling NaN with a low payload stays NaN");
	/* Every half decodes exactly and encodes back to itself. */
	bad = 0;
	for (uint32_t h = 0; h < 0x10000; h++) {
		float f = wafer_f16_to_f32((uint16_t)h);
		double want = ref_f16((uint16_t)h);

		if (isnan(want) ? !isnan(f) || wafer_f32_to_f16(f) != (h | 0x200) :
		    (double)f != want || wafer_f32_to_f16(f) != h || !!signbit(f) != !!(h & 0x8000))
			bad++;
	}
	TAP_OK(!bad, "f16: all 65536 halves decode exactly and round-trip (%d bad)", bad);
	/* Random floats over the whole half range round like the reference. */
	bad = 0;
	for (int i = 0; i < 20000; i++) {
		float f = ldexpf(rng_float(), (int)rng_below(46) - 28);

		if (wafer_f32_to_f16(f) != ref_to_f16(f))
			bad++;
	}
	TAP_OK(!bad, "f16: 20000 random floats round to nearest even (%d bad)", bad);
}

static void test_bf16_conversion(void)
{
	TAP_OK(wafer_f32_to_bf16(1.0f) == 0x3f80, "bf16: 1.0");
	TAP_OK(wafer_f32_to_bf16(bits_to_f32(0x3f808000u)) == 0x3f80, "bf16: tie rounds to even (down)");
	TAP_OK(wafer_f32_to_bf16(bits_to_f32(0x3f818000u)) == 0x3f82, "bf16: tie rounds to even (up)");
	TAP_OK(wafer_f32_to_bf16(bits_to_f32(0x3f808001u)) == 0x3f81, "bf16: above the tie rounds up");
	TAP_OK(wafer_f32_to_bf16(bits_to_f32(0x7f7fffffu)) == 0x7f80, "bf16: FLT_MAX rounds to inf");
	TAP_OK(wafer_f32_to_bf16(-INFINITY) == 0xff80, "bf16: -inf");
	TAP_OK(wafer_f32_to_bf16(bits_to_f32(0x00010000u)) == 0x0001, "bf16: subnormal kept");
	TAP_OK(isnan(wafer_bf16_to_f32(wafer_f32_to_bf16(bits_to_f32(0x7f800001u)))),
	       "bf16: NaN with a low payload stays NaN");
	TAP_OK(wafer_bf16_to_f32(0xc040) == -3.0f, "bf16: decode -3");
}

static void test_weight_bytes(void)
{
	TAP_OK(wafer_weight_bytes(WSE_HW_DTYPE_F32, 3, 5) == 60, "weight bytes f32");
	TAP_OK(wafer_weight_bytes(WSE_HW_DTYPE_BF16, 3, 5) == 30, "weight bytes bf16");
	TAP_OK(wafer_weight_bytes(WSE_HW_DTYPE_Q8_0, 3, 64) == 3 * 2 * 34, "weight bytes q8_0");
	TAP_OK(wafer_weight_bytes(WSE_HW_DTYPE_Q8_0, 3, 33) == 0, "q8_0 needs cols %% 32 == 0");
	TAP_OK(wafer_weight_bytes(WSE_HW_DTYPE_COUNT, 3, 5) == 0, "unknown dtype has no size");
	TAP_OK(wafer_weight_bytes(WSE_HW_DTYPE_F32, 1ull << 32, 1ull << 31) == 0, "overflow gives 0");
}

/* ---- the dot kernels, SIMD and portable ------------------------------------------------------- */

static void test_kernels(void)
{
	struct wafer_kernels simd, portable;
	const uint64_t sizes[] = { 1, 3, 8, 17, 31, 32, 33, 64, 127, 255, 1000 };
	int bad = 0, checked = 0;

	wafer_kernels_init(&simd, 1);
	wafer_kernels_init(&portable, 0);
	worst = 0;
	TAP_NOTE("kernels on this CPU: %s", simd.name);
	for (uint32_t dt = 0; dt < WSE_HW_DTYPE_COUNT; dt++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			uint64_t n = dt == WSE_HW_DTYPE_Q8_0 ? (sizes[s] + 31) / 32 * 32 : sizes[s];
			float *wf = malloc(n * 4), *x = malloc(n * 4);
			void *w;
			double ref = 0, bound = 0;

			fill(wf, n, 1);
			fill(x, n, 1);
			w = encode(wf, dt, 1, n);
			for (uint64_t i = 0; i < n; i++) {
				double t = decode_weight(w, dt, n, 0, i) * x[i];

				ref += t;
				bound += fabs(t);
			}
			for (int k = 0; k < 2; k++) {
				float got = (k ? &portable : &simd)->dot[dt](w, x, n);

				checked++;
				observe(fabs(got - ref), bound);
				if (!(fabs(got - ref) <= TOL_DOT * bound + 1e-30)) {
					bad++;
					TAP_NOTE("dot %s n=%lu %s: %g vs %g", dtype_name[dt],
						 (unsigned long)n, k ? "portable" : "simd", got, ref);
				}
			}
			free(w);
			free(wf);
			free(x);
		}
	}
	TAP_OK(!bad, "dot kernels (simd and portable, 4 dtypes, %d cases) within %g (worst %.2g)",
	       checked, TOL_DOT, worst);

	/* 19: two 8-wide steps and a scalar tail; a = 0.7 is no power of 2, so a * x rounds. */
	float y0[19], y[2][19], xx[19];

	fill(y0, 19, 1);
	fill(xx, 19, 1);
	memcpy(y[0], y0, sizeof(y0));
	memcpy(y[1], y0, sizeof(y0));
	simd.axpy(y[0], 0.7f, xx, 19);
	portable.axpy(y[1], 0.7f, xx, 19);
	bad = 0;
	worst = 0;
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 19; i++) {
			double ref = y0[i] + (double)0.7f * xx[i];
			double bound = fabs(y0[i]) + fabs((double)0.7f * xx[i]);

			observe(fabs(y[k][i] - ref), bound);
			bad += !(fabs(y[k][i] - ref) <= TOL_AXPY * bound);
		}
	TAP_OK(!bad, "axpy (simd and portable) within %g of y + a x in double (worst %.2g)",
	       TOL_AXPY, worst);
}

/* ---- ops against naive references --------------------------------------------------------- */

/* worst_exact: the worst error against the fp32 weights before encoding. */
static int run_matmul_case(struct wafer *w, uint32_t dt, uint32_t rows, uint32_t cols,
			   uint32_t batch, int accumulate, double *worst_exact)
{
	struct arena a = { w, 0 };
	float *wf = malloc((uint64_t)rows * cols * 4), *x = malloc((uint64_t)batch * cols * 4);
	float *y0 = malloc((uint64_t)batch * rows * 4);
	void *wenc;
	int ok = 1;

	fill(wf, (uint64_t)rows * cols, 1);
	fill(x, (uint64_t)batch * cols, 1);
	fill(y0, (uint64_t)batch * rows, 1);
	wenc = encode(wf, dt, rows, cols);
	struct wse_hw_op_matmul op = {
		.hdr = HDR(WSE_OP_MATMUL, wse_hw_op_matmul),
		.w = put(&a, wenc, wafer_weight_bytes(dt, rows, cols)),
		.x = put(&a, x, (uint64_t)batch * cols * 4),
		.y = put(&a, y0, (uint64_t)batch * rows * 4),
		.rows = rows, .cols = cols, .batch = batch, .wtype = dt,
	};
	float *y = at(&a, op.y);
	double loose = dt == WSE_HW_DTYPE_F32 ? TOL_MATMUL : dt == WSE_HW_DTYPE_F16 ? TOL_ENC_F16 :
		       dt == WSE_HW_DTYPE_BF16 ? TOL_ENC_BF16 : TOL_ENC_Q8_0;

	op.hdr.flags = accumulate ? WSE_MATMUL_ACCUMULATE : 0;
	if (exec(w, &op) != WSE_HW_STATUS_OK)
		ok = 0;
	for (uint32_t b = 0; ok && b < batch; b++) {
		for (uint32_t r = 0; r < rows; r++) {
			double ref = accumulate ? y0[b * rows + r] : 0, bound = fabs(ref);
			double exact = ref, exact_bound = bound;

			for (uint32_t c = 0; c < cols; c++) {
				double t = decode_weight(wenc, dt, cols, r, c) * x[b * cols + c];
				double u = (double)wf[(uint64_t)r * cols + c] * x[b * cols + c];

				ref += t;
				bound += fabs(t);
				exact += u;
				exact_bound += fabs(u);
			}
			observe(fabs(y[b * rows + r] - ref), bound);
			if (exact_bound > 0 && fabs(y[b * rows + r] - exact) / exact_bound > *worst_exact)
				*worst_exact = fabs(y[b * rows + r] - exact) / exact_bound;
			if (!(fabs(y[b * rows + r] - ref) <= TOL_MATMUL * bound + 1e-30) ||
			    !(fabs(y[b * rows + r] - exact) <= loose * exact_bound + 1e-30)) {
				TAP_NOTE("matmul %s %ux%u b%u: y[%u][%u] = %g, want %g (exact %g)",
					 dtype_name[dt], rows, cols, batch, b, r, y[b * rows + r], ref,
					 exact);
				ok = 0;
				break;
			}
		}
	}
	free(wenc);
	free(wf);
	free(x);
	free(y0);
	return ok;
}

static void test_matmul(struct wafer *w, const char *kernels)
{
	const uint32_t shapes[][3] = {
		{ 1, 1, 1 }, { 3, 17, 1 }, { 17, 33, 2 }, { 127, 3, 3 }, { 33, 127, 1 },
		{ 64, 256, 4 }, { 300, 260, 1 }, { 5, 1000, 2 },
	};

	for (uint32_t dt = 0; dt < WSE_HW_DTYPE_COUNT; dt++) {
		double worst_exact = 0;
		int ok = 1, n = 0;

		worst = 0;
		for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
			uint32_t cols = shapes[s][1];

			if (dt == WSE_HW_DTYPE_Q8_0)
				cols = (cols + 31) / 32 * 32;
			ok &= run_matmul_case(w, dt, shapes[s][0], cols, shapes[s][2], (int)(s & 1),
					      &worst_exact);
			n++;
		}
		/* A few random shapes as well. */
		for (int i = 0; i < 3; i++) {
			uint32_t rows = 1 + rng_below(70), cols = 1 + rng_below(150), batch = 1 + rng_below(4);

			if (dt == WSE_HW_DTYPE_Q8_0)
				cols = (cols + 31) / 32 * 32;
			ok &= run_matmul_case(w, dt, rows, cols, batch, i & 1, &worst_exact);
			n++;
		}
		TAP_OK(ok, "matmul %s (%s kernels): %d shapes incl. odd sizes and accumulate "
		       "(worst %.2g vs the decoded weights, %.2g vs the fp32 ones)",
		       dtype_name[dt], kernels, n, worst, worst_exact);
	}
}

/* The same matmul on 1 and 2 threads gives the same bits. */
static void test_matmul_threads(void)
{
	struct wafer *w1 = make_wafer(1, 16u << 20), *w2 = make_wafer(2, 16u << 20);
	const uint32_t rows = 301, cols = 515, batch = 3;
	float *wf = malloc(rows * cols * 4), *x = malloc(batch * cols * 4);
	int same;

	fill(wf, rows * cols, 1);
	fill(x, batch * cols, 1);
	struct wse_hw_op_matmul op = {
		.hdr = HDR(WSE_OP_MATMUL, wse_hw_op_matmul),
		.w = 0, .x = 1u << 20, .y = 2u << 20,
		.rows = rows, .cols = cols, .batch = batch, .wtype = WSE_HW_DTYPE_F32,
	};
	for (int k = 0; k < 2; k++) {
		struct wafer *w = k ? w2 : w1;

		memcpy(wafer_sram(w, op.w, rows * cols * 4), wf, rows * cols * 4);
		memcpy(wafer_sram(w, op.x, batch * cols * 4), x, batch * cols * 4);
		TAP_OK(exec(w, &op) == WSE_HW_STATUS_OK, "matmul on %d thread(s)", k + 1);
	}
	same = !memcmp(wafer_sram(w1, op.y, rows * batch * 4), wafer_sram(w2, op.y, rows * batch * 4),
		       rows * batch * 4);
	TAP_OK(same, "matmul: 1 and 2 threads give identical results");
	free(wf);
	free(x);
	wafer_destroy(w1);
	wafer_destroy(w2);
}

static void ref_rmsnorm(const double *x, const double *w, double *y, uint32_t dim, uint32_t rows,
			float eps)
{
	for (uint32_t r = 0; r < rows; r++) {
		double ss = 0;

		for (uint32_t i = 0; i < dim; i++)
			ss += x[r * dim + i] * x[r * dim + i];
		ss = 1 / sqrt(ss / dim + eps);
		for (uint32_t i = 0; i < dim; i++)
			y[r * dim + i] = x[r * dim + i] * ss * w[i];
	}
}

static double *to_double(const float *f, uint64_t n)
{
	double *d = malloc(n * sizeof(*d));

	for (uint64_t i = 0; i < n; i++)
		d[i] = f[i];
	return d;
}

/* |got - ref| <= tol * (|ref| + floor) for all n. */
static int all_close(const float *got, const double *ref, uint64_t n, double tol, double floor)
{
	for (uint64_t i = 0; i < n; i++) {
		observe(fabs(got[i] - ref[i]), fabs(ref[i]) + floor);
		if (!(fabs(got[i] - ref[i]) <= tol * (fabs(ref[i]) + floor))) {
			TAP_NOTE("element %lu: got %.9g want %.9g", (unsigned long)i, got[i], ref[i]);
			return 0;
		}
	}
	return 1;
}

/* Runs rmsnorm on x (rows x dim) separately and in place; 1 if both match ref within tol. */
static int rmsnorm_case(struct wafer *w, const float *x, const float *nw, uint32_t dim,
			uint32_t rows, double tol)
{
	struct arena a = { w, 0 };
	double *xd = to_double(x, (uint64_t)dim * rows), *wd = to_double(nw, dim);
	double *ref = malloc((uint64_t)dim * rows * sizeof(double));
	int ok;

	ref_rmsnorm(xd, wd, ref, dim, rows, RMSNORM_EPS);
	struct wse_hw_op_rmsnorm op = {
		.hdr = HDR(WSE_OP_RMSNORM, wse_hw_op_rmsnorm),
		.x = put(&a, x, dim * rows * 4), .w = put(&a, nw, dim * 4),
		.dim = dim, .rows = rows, .eps = RMSNORM_EPS,
	};
	op.y = arena_alloc(&a, dim * rows * 4);
	ok = exec(w, &op) == WSE_HW_STATUS_OK && all_close(at(&a, op.y), ref, dim * rows, tol, 1e-3);
	/* In place: y == x. */
	op.y = op.x;
	ok &= exec(w, &op) == WSE_HW_STATUS_OK && all_close(at(&a, op.x), ref, dim * rows, tol, 1e-3);
	free(xd);
	free(wd);
	free(ref);
	return ok;
}

static void test_rmsnorm(struct wafer *w)
{
	const uint32_t shapes[][2] = { { 1, 1 }, { 3, 2 }, { 17, 3 }, { 127, 1 }, { 1000, 2 } };
	/*
	 * Row scales: mean square 3.3e-7 (eps decides the result), 1e-5 (eps
	 * half of it), 3.3e-5, 3.3e-3 and 3: a dropped, negated or misplaced eps
	 * moves the first rows by factors of 1.4 to 5.5, far outside tol.
	 */
	const float scales[] = { 1e-3f, 5.4772256e-3f, 1e-2f, 0.1f, 3.0f };
	const uint32_t dim = 256, rows = sizeof(scales) / sizeof(scales[0]) + 1;
	float *x = malloc(dim * rows * 4), *nw = malloc(1000 * 4);	/* the widest shape */
	struct arena a = { w, 0 };
	int ok = 1, zero_ok = 1;

	worst = 0;
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t d = shapes[s][0], r = shapes[s][1];
		float *xs = malloc(d * r * 4);

		fill(xs, d * r, 3);
		fill(nw, d, 1);
		ok &= rmsnorm_case(w, xs, nw, d, r, TOL_RMSNORM);
		free(xs);
	}
	TAP_OK(ok, "rmsnorm: 5 shapes, mean square ~3, separate and in place, within %g (worst %.2g)",
	       TOL_RMSNORM, worst);

	worst = 0;
	fill(nw, dim, 1);
	for (uint32_t r = 0; r + 1 < rows; r++)
		fill(x + r * dim, dim, scales[r]);
	memset(x + (rows - 1) * dim, 0, dim * 4);
	ok = rmsnorm_case(w, x, nw, dim, rows, TOL_RMSNORM);
	TAP_OK(ok, "rmsnorm with eps %g: rows of mean square 3.3e-7 .. 3 and an all-zero row, "
	       "within %g of the double reference (worst %.2g)", RMSNORM_EPS, TOL_RMSNORM, worst);
	/* 0 / sqrt(0 + eps) is 0: without eps it would be 0 * inf = NaN. */
	struct wse_hw_op_rmsnorm zero = {
		.hdr = HDR(WSE_OP_RMSNORM, wse_hw_op_rmsnorm), .x = put(&a, x + (rows - 1) * dim, dim * 4),
		.w = put(&a, nw, dim * 4), .dim = dim, .rows = 1, .eps = RMSNORM_EPS,
	};
	zero.y = arena_alloc(&a, dim * 4);
	memset(at(&a, zero.y), 0x7f, dim * 4);
	zero_ok = exec(w, &zero) == WSE_HW_STATUS_OK;
	for (uint32_t i = 0; i < dim; i++)
		zero_ok &= ((float *)at(&a, zero.y))[i] == 0.0f;
	TAP_OK(zero_ok, "rmsnorm of an all-zero row is exactly 0 (not NaN)");
	free(x);
	free(nw);
}

static void ref_rope(double *x, uint32_t n_heads, uint32_t hd, uint32_t rows, uint32_t pos,
		     double theta)
{
	for (uint32_t r = 0; r < rows; r++)
		for (uint32_t h = 0; h < n_heads; h++)
			for (uint32_t i = 0; i < hd / 2; i++) {
				double *v = x + ((uint64_t)r * n_heads + h) * hd + 2 * i;
				double ang = (pos + r) * pow(theta, -2.0 * i / hd);
				double a = v[0], b = v[1];

				v[0] = a * cos(ang) - b * sin(ang);
				v[1] = a * sin(ang) + b * cos(ang);
			}
}

static void test_rope(struct wafer *w)
{
	const uint32_t shapes[][4] = {	/* n_heads, head_dim, rows, pos */
		{ 1, 2, 1, 0 }, { 3, 8, 2, 5 }, { 17, 4, 3, 1000 }, { 2, 126, 1, 33 }, { 1, 64, 5, 127 },
	};
	int ok = 1;

	worst = 0;
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct arena a = { w, 0 };
		uint32_t nh = shapes[s][0], hd = shapes[s][1], rows = shapes[s][2], pos = shapes[s][3];
		uint64_t n = (uint64_t)nh * hd * rows;
		float *x = malloc(n * 4);
		double *ref;

		fill(x, n, 2);
		ref = to_double(x, n);
		ref_rope(ref, nh, hd, rows, pos, 10000.0);
		struct wse_hw_op_rope op = {
			.hdr = HDR(WSE_OP_ROPE, wse_hw_op_rope), .x = put(&a, x, n * 4),
			.n_heads = nh, .head_dim = hd, .rows = rows, .pos = pos, .theta = 10000.0f,
		};
		ok &= exec(w, &op) == WSE_HW_STATUS_OK && all_close(at(&a, op.x), ref, n, TOL_ROPE, 1);
		free(x);
		free(ref);
	}
	TAP_OK(ok, "rope: 5 shapes within %g of the rotation in double (worst %.2g)", TOL_ROPE,
	       worst);
}

static void ref_attention(const double *q, const double *kc, const double *vc, double *out,
			  uint32_t nh, uint32_t nkv, uint32_t hd, uint32_t nt, uint32_t pos)
{
	uint32_t kvd = nkv * hd;
	double *s = malloc((pos + nt) * sizeof(double));

	for (uint32_t t = 0; t < nt; t++)
		for (uint32_t h = 0; h < nh; h++) {
			const double *qv = q + ((uint64_t)t * nh + h) * hd;
			uint32_t g = h / (nh / nkv), keys = pos + t + 1;
			double max = -INFINITY, sum = 0;

			for (uint32_t j = 0; j < keys; j++) {
				double d = 0;

				for (uint32_t i = 0; i < hd; i++)
					d += qv[i] * kc[(uint64_t)j * kvd + g * hd + i];
				s[j] = d / sqrt(hd);
				max = fmax(max, s[j]);
			}
			for (uint32_t j = 0; j < keys; j++)
				sum += s[j] = exp(s[j] - max);
			for (uint32_t i = 0; i < hd; i++) {
				double o = 0;

				for (uint32_t j = 0; j < keys; j++)
					o += s[j] * vc[(uint64_t)j * kvd + g * hd + i];
				out[((uint64_t)t * nh + h) * hd + i] = o / sum;
			}
		}
	free(s);
}

static void test_attention(struct wafer *w)
{
	const uint32_t shapes[][6] = {	/* n_heads, n_kv, head_dim, n_tokens, pos, cap */
		{ 1, 1, 1, 1, 0, 1 }, { 4, 2, 8, 2, 3, 8 }, { 3, 3, 17, 3, 130, 140 },
		{ 8, 1, 33, 1, 200, 201 }, { 6, 3, 4, 17, 0, 20 }, { 2, 1, 64, 5, 63, 127 },
	};
	int ok = 1;

	worst = 0;
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct arena a = { w, 0 };
		uint32_t nh = shapes[s][0], nkv = shapes[s][1], hd = shapes[s][2];
		uint32_t nt = shapes[s][3], pos = shapes[s][4], cap = shapes[s][5];
		uint64_t qn = (uint64_t)nt * nh * hd, kvn = (uint64_t)cap * nkv * hd;
		float *q = malloc(qn * 4), *kc = malloc(kvn * 4), *vc = malloc(kvn * 4);
		double *qd, *kd, *vd, *ref = malloc(qn * sizeof(double));

		fill(q, qn, 2);
		fill(kc, kvn, 2);
		fill(vc, kvn, 1);
		qd = to_double(q, qn);
		kd = to_double(kc, kvn);
		vd = to_double(vc, kvn);
		ref_attention(qd, kd, vd, ref, nh, nkv, hd, nt, pos);
		struct wse_hw_op_attention op = {
			.hdr = HDR(WSE_OP_ATTENTION, wse_hw_op_attention),
			.q = put(&a, q, qn * 4), .k_cache = put(&a, kc, kvn * 4),
			.v_cache = put(&a, vc, kvn * 4),
			.n_heads = nh, .n_kv_heads = nkv, .head_dim = hd, .n_tokens = nt,
			.pos = pos, .kv_capacity = cap,
		};
		op.out = arena_alloc(&a, qn * 4);
		/* Outputs are convex combinations of values in [-1, 1]: an absolute bound. */
		ok &= exec(w, &op) == WSE_HW_STATUS_OK && all_close(at(&a, op.out), ref, qn, TOL_ATTENTION, 1);
		free(q);
		free(kc);
		free(vc);
		free(qd);
		free(kd);
		free(vd);
		free(ref);
	}
	TAP_OK(ok, "attention: 6 shapes (GQA, causal, blocks of keys) within %g (worst %.2g)",
	       TOL_ATTENTION, worst);
}

static void test_elementwise(struct wafer *w)
{
	const uint32_t sizes[] = { 1, 3, 17, 127, 1000 };
	int ok_add = 1, ok_silu = 1, ok_alias = 1;
	double worst_add = 0, worst_silu = 0;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct arena a = { w, 0 };
		uint32_t n = sizes[s];
		float *x = malloc(n * 4), *y = malloc(n * 4);
		double *ra = malloc(n * sizeof(double)), *rs = malloc(n * sizeof(double));

		fill(x, n, 8);
		fill(y, n, 2);
		for (uint32_t i = 0; i < n; i++) {
			ra[i] = (double)x[i] + y[i];
			rs[i] = x[i] / (1 + exp(-(double)x[i])) * y[i];
		}
		struct wse_hw_op_add add = {
			.hdr = HDR(WSE_OP_ADD, wse_hw_op_add),
			.a = put(&a, x, n * 4), .b = put(&a, y, n * 4), .n = n,
		};
		struct wse_hw_op_silu_mul sm = {
			.hdr = HDR(WSE_OP_SILU_MUL, wse_hw_op_silu_mul),
			.gate = add.a, .up = add.b, .n = n,
		};
		add.out = arena_alloc(&a, n * 4);
		sm.out = arena_alloc(&a, n * 4);
		worst = worst_add;
		ok_add &= exec(w, &add) == WSE_HW_STATUS_OK && all_close(at(&a, add.out), ra, n, TOL_ADD, 0);
		worst_add = worst;
		worst = worst_silu;
		ok_silu &= exec(w, &sm) == WSE_HW_STATUS_OK && all_close(at(&a, sm.out), rs, n, TOL_SILU, 1e-3);
		worst_silu = worst;
		/* out == gate, then out == a == b */
		sm.out = sm.gate;
		ok_alias &= exec(w, &sm) == WSE_HW_STATUS_OK && all_close(at(&a, sm.gate), rs, n, TOL_SILU, 1e-3);
		memcpy(at(&a, add.a), x, n * 4);
		add.b = add.out = add.a;
		for (uint32_t i = 0; i < n; i++)
			ra[i] = 2.0 * x[i];
		ok_alias &= exec(w, &add) == WSE_HW_STATUS_OK && all_close(at(&a, add.a), ra, n, 0, 0);
		free(x);
		free(y);
		free(ra);
		free(rs);
	}
	TAP_OK(ok_add, "add: 5 sizes exact to fp32 rounding, within %g (worst %.2g)", TOL_ADD,
	       worst_add);
	TAP_OK(ok_silu, "silu_mul: 5 sizes within %g (worst %.2g)", TOL_SILU, worst_silu);
	TAP_OK(ok_alias, "add and silu_mul with out == an input");
}

static void test_embed(struct wafer *w)
{
	for (uint32_t dt = 0; dt < WSE_HW_DTYPE_COUNT; dt++) {
		struct arena a = { w, 0 };
		uint32_t vocab = 37, dim = dt == WSE_HW_DTYPE_Q8_0 ? 64 : 17, nt = 5;
		uint32_t tokens[5] = { 36, 0, 5, 5, 17 };
		float *table = malloc(vocab * dim * 4);
		void *enc;
		int ok = 1;

		fill(table, vocab * dim, 4);
		enc = encode(table, dt, vocab, dim);
		struct wse_hw_op_embed op = {
			.hdr = HDR(WSE_OP_EMBED, wse_hw_op_embed),
			.table = put(&a, enc, wafer_weight_bytes(dt, vocab, dim)),
			.tokens = put(&a, tokens, sizeof(tokens)),
			.dim = dim, .vocab = vocab, .n_tokens = nt, .wtype = dt,
		};
		op.out = arena_alloc(&a, nt * dim * 4);
		ok = exec(w, &op) == WSE_HW_STATUS_OK;
		for (uint32_t t = 0; ok && t < nt; t++)
			for (uint32_t i = 0; i < dim; i++)
				if (((float *)at(&a, op.out))[t * dim + i] !=
				    (float)decode_weight(enc, dt, dim, tokens[t], i))
					ok = 0;
		TAP_OK(ok, "embed %s: rows gathered and decoded exactly", dtype_name[dt]);
		free(table);
		free(enc);
	}
}

static void test_softmax(struct wafer *w)
{
	const uint32_t shapes[][2] = { { 1, 1 }, { 3, 2 }, { 17, 1 }, { 1000, 3 } };
	int ok = 1;

	worst = 0;
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct arena a = { w, 0 };
		uint32_t n = shapes[s][0], rows = shapes[s][1];
		float *x = malloc(n * rows * 4);
		double *ref = malloc(n * rows * sizeof(double));

		fill(x, n * rows, 30);
		x[0] = 80.0f;	/* exp(80) overflows fp32: needs the max subtracted */
		for (uint32_t r = 0; r < rows; r++) {
			double max = -INFINITY, sum = 0;

			for (uint32_t i = 0; i < n; i++)
				max = fmax(max, x[r * n + i]);
			for (uint32_t i = 0; i < n; i++)
				sum += exp(x[r * n + i] - max);
			for (uint32_t i = 0; i < n; i++)
				ref[r * n + i] = exp(x[r * n + i] - max) / sum;
		}
		struct wse_hw_op_softmax op = {
			.hdr = HDR(WSE_OP_SOFTMAX, wse_hw_op_softmax),
			.x = put(&a, x, n * rows * 4), .n = n, .rows = rows,
		};
		op.y = arena_alloc(&a, n * rows * 4);
		ok &= exec(w, &op) == WSE_HW_STATUS_OK && all_close(at(&a, op.y), ref, n * rows, TOL_SOFTMAX, 1e-30);
		op.y = op.x;
		ok &= exec(w, &op) == WSE_HW_STATUS_OK && all_close(at(&a, op.x), ref, n * rows, TOL_SOFTMAX, 1e-30);
		free(x);
		free(ref);
	}
	TAP_OK(ok, "softmax: 4 shapes (one with exp overflow), separate and in place, within %g "
	       "(worst %.2g)", TOL_SOFTMAX, worst);
}

/* Reference ordering for argmax and topk: value descending, then index; NaN last. */
static const float *sort_x;

static int cmp_rank(const void *pa, const void *pb)
{
	uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
	float va = sort_x[ia], vb = sort_x[ib];

	if (isnan(va) != isnan(vb))
		return isnan(va) ? 1 : -1;
	if (!isnan(va) && va != vb)
		return va > vb ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

static void test_argmax_topk(struct wafer *w)
{
	const uint32_t shapes[][3] = { { 1, 1, 1 }, { 3, 3, 2 }, { 17, 5, 2 }, { 127, 1, 1 },
				       { 1000, 33, 2 }, { 50, 50, 1 } };
	int ok_arg = 1, ok_top = 1;

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct arena a = { w, 0 };
		uint32_t n = shapes[s][0], k = shapes[s][1], rows = shapes[s][2];
		float *x = malloc(n * rows * 4);
		uint32_t *order = malloc(n * 4);

		/* Few distinct values, so that ties are everywhere. */
		for (uint32_t i = 0; i < n * rows; i++)
			x[i] = (float)rng_below(7) - 3;
		if (n > 10) {
			x[3] = NAN;
			x[0] = NAN;	/* a NaN first must not stick as the best */
		}
		struct wse_hw_op_argmax am = {
			.hdr = HDR(WSE_OP_ARGMAX, wse_hw_op_argmax),
			.x = put(&a, x, n * rows * 4), .n = n, .rows = rows,
		};
		struct wse_hw_op_topk tk = {
			.hdr = HDR(WSE_OP_TOPK, wse_hw_op_topk), .x = am.x, .n = n, .k = k, .rows = rows,
		};
		am.out = arena_alloc(&a, rows * 4);
		tk.out_index = arena_alloc(&a, rows * k * 4);
		tk.out_value = arena_alloc(&a, rows * k * 4);
		ok_arg &= exec(w, &am) == WSE_HW_STATUS_OK;
		ok_top &= exec(w, &tk) == WSE_HW_STATUS_OK;
		for (uint32_t r = 0; r < rows; r++) {
			const uint32_t *idx = (uint32_t *)at(&a, tk.out_index) + r * k;
			const float *val = (float *)at(&a, tk.out_value) + r * k;

			for (uint32_t i = 0; i < n; i++)
				order[i] = i;
			sort_x = x + r * n;
			qsort(order, n, 4, cmp_rank);
			ok_arg &= ((uint32_t *)at(&a, am.out))[r] == order[0];
			for (uint32_t j = 0; j < k; j++)
				ok_top &= idx[j] == order[j] &&
					  (memcmp(&val[j], &sort_x[order[j]], 4) == 0);
		}
		free(x);
		free(order);
	}
	TAP_OK(ok_arg, "argmax: lowest index on ties, NaN never wins");
	TAP_OK(ok_top, "topk: descending, ties by lower index, k = 1 .. n");
}

/* ---- the fused layer -------------------------------------------------------------------------- */

struct layer_shape {
	uint32_t dim, hidden, n_heads, n_kv, hd, n_tokens, pos, cap, wtype;
};

struct layer_data {
	float *x, *an, *fn, *w[7], *kc, *vc;	/* wq wk wv wo w_gate w_down w_up */
	void *enc[7];
	uint32_t rows[7], cols[7];
};

static void layer_data_make(const struct layer_shape *s, struct layer_data *d)
{
	uint32_t qd = s->n_heads * s->hd, kvd = s->n_kv * s->hd;
	uint32_t rows[7] = { qd, kvd, kvd, s->dim, s->hidden, s->dim, s->hidden };
	uint32_t cols[7] = { s->dim, s->dim, s->dim, qd, s->dim, s->hidden, s->dim };

	d->x = malloc(s->n_tokens * s->dim * 4);
	d->an = malloc(s->dim * 4);
	d->fn = malloc(s->dim * 4);
	d->kc = malloc(s->cap * kvd * 4);
	d->vc = malloc(s->cap * kvd * 4);
	fill(d->x, s->n_tokens * s->dim, 1);
	fill(d->an, s->dim, 1);
	fill(d->fn, s->dim, 1);
	fill(d->kc, s->cap * kvd, 1);
	fill(d->vc, s->cap * kvd, 1);
	for (int i = 0; i < 7; i++) {
		d->rows[i] = rows[i];
		d->cols[i] = cols[i];
		d->w[i] = malloc(rows[i] * cols[i] * 4);
		fill(d->w[i], rows[i] * cols[i], 0.3f);
		d->enc[i] = encode(d->w[i], s->wtype, rows[i], cols[i]);
	}
}

static void layer_data_free(struct layer_data *d)
{
	free(d->x);
	free(d->an);
	free(d->fn);
	free(d->kc);
	free(d->vc);
	for (int i = 0; i < 7; i++) {
		free(d->w[i]);
		free(d->enc[i]);
	}
}

/* Uploads the data and fills in a layer record for it. */
static void layer_upload(struct arena *a, const struct layer_shape *s, const struct layer_data *d,
			 struct wse_hw_op_layer *op)
{
	uint32_t kvd = s->n_kv * s->hd;
	uint64_t wo[7];

	for (int i = 0; i < 7; i++)
		wo[i] = put(a, d->enc[i], wafer_weight_bytes(s->wtype, d->rows[i], d->cols[i]));
	*op = (struct wse_hw_op_layer){
		.hdr = HDR(WSE_OP_LAYER, wse_hw_op_layer),
		.x = put(a, d->x, s->n_tokens * s->dim * 4),
		.attn_norm = put(a, d->an, s->dim * 4), .ffn_norm = put(a, d->fn, s->dim * 4),
		.wq = wo[0], .wk = wo[1], .wv = wo[2], .wo = wo[3], .w_gate = wo[4], .w_down = wo[5],
		.w_up = wo[6],
		.k_cache = put(a, d->kc, s->cap * kvd * 4), .v_cache = put(a, d->vc, s->cap * kvd * 4),
		.scratch = arena_alloc(a, wse_hw_layer_scratch_bytes(s->dim, s->hidden, s->n_heads,
								     s->hd, s->n_tokens)),
		.dim = s->dim, .hidden_dim = s->hidden, .n_heads = s->n_heads, .n_kv_heads = s->n_kv,
		.head_dim = s->hd, .n_tokens = s->n_tokens, .pos = s->pos, .kv_capacity = s->cap,
		.wtype = s->wtype, .eps = 1e-5f, .rope_theta = 10000.0f,
	};
}

/* The layer as the documented op sequence, written out independently of wafer.c. */
static int layer_as_ops(struct wafer *w, const struct wse_hw_op_layer *l, uint64_t *cycles)
{
	uint64_t qd = (uint64_t)l->n_heads * l->head_dim, kvd = (uint64_t)l->n_kv_heads * l->head_dim;
	uint64_t nt = l->n_tokens, xn = l->scratch, q = xn + 4 * nt * l->dim, att = q + 4 * nt * qd;
	uint64_t gate = att + 4 * nt * qd, up = gate + 4 * nt * l->hidden_dim;
	uint64_t kn = l->k_cache + 4 * kvd * l->pos, vn = l->v_cache + 4 * kvd * l->pos, c;
	struct wse_hw_op_rmsnorm n1 = { .hdr = HDR(WSE_OP_RMSNORM, wse_hw_op_rmsnorm), .x = l->x,
					.w = l->attn_norm, .y = xn, .dim = l->dim, .rows = l->n_tokens,
					.eps = l->eps };
	struct wse_hw_op_rmsnorm n2 = n1;
	struct wse_hw_op_matmul mm = { .hdr = HDR(WSE_OP_MATMUL, wse_hw_op_matmul),
				       .batch = l->n_tokens, .wtype = l->wtype };
	struct wse_hw_op_matmul m[7];
	struct wse_hw_op_rope rq = { .hdr = HDR(WSE_OP_ROPE, wse_hw_op_rope), .x = q,
				     .n_heads = l->n_heads, .head_dim = l->head_dim,
				     .rows = l->n_tokens, .pos = l->pos, .theta = l->rope_theta };
	struct wse_hw_op_rope rk = rq;
	struct wse_hw_op_attention at = {
		.hdr = HDR(WSE_OP_ATTENTION, wse_hw_op_attention), .q = q, .k_cache = l->k_cache,
		.v_cache = l->v_cache, .out = att, .n_heads = l->n_heads, .n_kv_heads = l->n_kv_heads,
		.head_dim = l->head_dim, .n_tokens = l->n_tokens, .pos = l->pos,
		.kv_capacity = l->kv_capacity };
	struct wse_hw_op_silu_mul sm = { .hdr = HDR(WSE_OP_SILU_MUL, wse_hw_op_silu_mul),
					 .gate = gate, .up = up, .out = gate,
					 .n = l->n_tokens * l->hidden_dim };
	void *seq[13];
	int st;

	n2.x = l->x;
	n2.w = l->ffn_norm;
	rk.x = kn;
	rk.n_heads = l->n_kv_heads;
	for (int i = 0; i < 7; i++)
		m[i] = mm;
	m[0].w = l->wq, m[0].x = xn, m[0].y = q, m[0].rows = qd, m[0].cols = l->dim;
	m[1].w = l->wk, m[1].x = xn, m[1].y = kn, m[1].rows = kvd, m[1].cols = l->dim;
	m[2].w = l->wv, m[2].x = xn, m[2].y = vn, m[2].rows = kvd, m[2].cols = l->dim;
	m[3].w = l->wo, m[3].x = att, m[3].y = l->x, m[3].rows = l->dim, m[3].cols = qd;
	m[3].hdr.flags = WSE_MATMUL_ACCUMULATE;
	m[4].w = l->w_gate, m[4].x = xn, m[4].y = gate, m[4].rows = l->hidden_dim, m[4].cols = l->dim;
	m[5].w = l->w_up, m[5].x = xn, m[5].y = up, m[5].rows = l->hidden_dim, m[5].cols = l->dim;
	m[6].w = l->w_down, m[6].x = gate, m[6].y = l->x, m[6].rows = l->dim, m[6].cols = l->hidden_dim;
	m[6].hdr.flags = WSE_MATMUL_ACCUMULATE;
	seq[0] = &n1, seq[1] = &m[0], seq[2] = &m[1], seq[3] = &m[2], seq[4] = &rq, seq[5] = &rk;
	seq[6] = &at, seq[7] = &m[3], seq[8] = &n2, seq[9] = &m[4], seq[10] = &m[5], seq[11] = &sm;
	seq[12] = &m[6];
	*cycles = 0;
	for (int i = 0; i < 13; i++) {
		((struct wse_hw_op_hdr *)seq[i])->region = l->hdr.region;
		st = wafer_exec(w, seq[i], &c);
		if (st)
			return st;
		*cycles += c;
	}
	return WSE_HW_STATUS_OK;
}

static void ref_matvec_rows(const void *enc, uint32_t dtype, uint32_t rows, uint32_t cols,
			    const double *x, double *y, uint32_t nt)
{
	for (uint32_t t = 0; t < nt; t++)
		for (uint32_t r = 0; r < rows; r++) {
			double s = 0;

			for (uint32_t c = 0; c < cols; c++)
				s += decode_weight(enc, dtype, cols, r, c) * x[(uint64_t)t * cols + c];
			y[(uint64_t)t * rows + r] = s;
		}
}

/* The naive layer in double; x, kc and vc are updated. */
static void ref_layer(const struct layer_shape *s, const struct layer_data *d, double *x,
		      double *kc, double *vc)
{
	uint32_t nt = s->n_tokens, dim = s->dim, qd = s->n_heads * s->hd, kvd = s->n_kv * s->hd;
	double *an = to_double(d->an, dim), *fn = to_double(d->fn, dim);
	double *xn = malloc(nt * dim * 8), *q = malloc(nt * qd * 8), *att = malloc(nt * qd * 8);
	double *o = malloc(nt * dim * 8), *g = malloc(nt * s->hidden * 8), *u = malloc(nt * s->hidden * 8);

	ref_rmsnorm(x, an, xn, dim, nt, 1e-5f);
	ref_matvec_rows(d->enc[0], s->wtype, qd, dim, xn, q, nt);
	ref_matvec_rows(d->enc[1], s->wtype, kvd, dim, xn, kc + (uint64_t)s->pos * kvd, nt);
	ref_matvec_rows(d->enc[2], s->wtype, kvd, dim, xn, vc + (uint64_t)s->pos * kvd, nt);
	ref_rope(q, s->n_heads, s->hd, nt, s->pos, 10000.0);
	ref_rope(kc + (uint64_t)s->pos * kvd, s->n_kv, s->hd, nt, s->pos, 10000.0);
	ref_attention(q, kc, vc, att, s->n_heads, s->n_kv, s->hd, nt, s->pos);
	ref_matvec_rows(d->enc[3], s->wtype, dim, qd, att, o, nt);
	for (uint32_t i = 0; i < nt * dim; i++)
		x[i] += o[i];
	ref_rmsnorm(x, fn, xn, dim, nt, 1e-5f);
	ref_matvec_rows(d->enc[4], s->wtype, s->hidden, dim, xn, g, nt);
	ref_matvec_rows(d->enc[6], s->wtype, s->hidden, dim, xn, u, nt);
	for (uint32_t i = 0; i < nt * s->hidden; i++)
		g[i] = g[i] / (1 + exp(-g[i])) * u[i];
	ref_matvec_rows(d->enc[5], s->wtype, dim, s->hidden, g, o, nt);
	for (uint32_t i = 0; i < nt * dim; i++)
		x[i] += o[i];
	free(an);
	free(fn);
	free(xn);
	free(q);
	free(att);
	free(o);
	free(g);
	free(u);
}

static void test_layer(struct wafer *w)
{
	const struct layer_shape shapes[] = {
		{ 16, 24, 4, 2, 4, 2, 1, 8, WSE_HW_DTYPE_F32 },
		{ 17, 33, 3, 1, 6, 3, 5, 9, WSE_HW_DTYPE_F32 },
		{ 32, 64, 4, 2, 8, 1, 70, 80, WSE_HW_DTYPE_F16 },
		{ 24, 40, 2, 2, 12, 4, 0, 4, WSE_HW_DTYPE_BF16 },
		{ 64, 96, 4, 1, 16, 2, 3, 6, WSE_HW_DTYPE_Q8_0 },
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const struct layer_shape *s = &shapes[i];
		struct layer_data d;
		struct arena a1 = { w, 0 }, a2;
		struct wse_hw_op_layer l1, l2;
		uint32_t kvd = s->n_kv * s->hd;
		uint64_t c1 = 0, c2 = 0, xb = (uint64_t)s->n_tokens * s->dim * 4, cb = (uint64_t)s->cap * kvd * 4;
		double *x, *kc, *vc;
		int st1, st2, close;

		layer_data_make(s, &d);
		layer_upload(&a1, s, &d, &l1);
		a2 = (struct arena){ w, a1.used };
		layer_upload(&a2, s, &d, &l2);
		l1.hdr.region = l2.hdr.region = (struct wse_hw_region){ 1, 2, 30, 20 };
		st1 = wafer_exec(w, &l1, &c1);
		st2 = layer_as_ops(w, &l2, &c2);
		TAP_OK(st1 == WSE_HW_STATUS_OK && st2 == WSE_HW_STATUS_OK, "layer %zu (%s): runs fused and as ops",
		       i, dtype_name[s->wtype]);
		TAP_OK(!memcmp(at(&a1, l1.x), at(&a2, l2.x), xb) &&
		       !memcmp(at(&a1, l1.k_cache), at(&a2, l2.k_cache), cb) &&
		       !memcmp(at(&a1, l1.v_cache), at(&a2, l2.v_cache), cb),
		       "layer %zu: fused == op sequence, bit for bit (x and caches)", i);
		TAP_OK(c1 == c2 && c1 > 0, "layer %zu: fused cycles %llu == sum of the ops' %llu", i,
		       (unsigned long long)c1, (unsigned long long)c2);
		x = to_double(d.x, (uint64_t)s->n_tokens * s->dim);
		kc = to_double(d.kc, (uint64_t)s->cap * kvd);
		vc = to_double(d.vc, (uint64_t)s->cap * kvd);
		ref_layer(s, &d, x, kc, vc);
		worst = 0;
		close = all_close(at(&a1, l1.x), x, (uint64_t)s->n_tokens * s->dim, TOL_LAYER, 1);
		close &= all_close(at(&a1, l1.k_cache), kc, (uint64_t)s->cap * kvd, TOL_LAYER, 1);
		close &= all_close(at(&a1, l1.v_cache), vc, (uint64_t)s->cap * kvd, TOL_LAYER, 1);
		TAP_OK(close, "layer %zu: matches the naive double layer within %g (worst %.2g)", i,
		       TOL_LAYER, worst);
		free(x);
		free(kc);
		free(vc);
		layer_data_free(&d);
	}
}

/* ---- the rulebook (tests/unit/op_rule_cases.h) ------------------------------------------------ */

/*
 * A valid record of every op runs; each rule broken in turn is refused with
 * its status, and the rulebook the wafer runs names the field (libwse's
 * builder gets the same cases in test_libwse_stream).
 */
static void test_rulebook(struct wafer *w)
{
	union wafer_record r;
	struct wse_op_verdict v;
	int ok = 1, st;

	/* Zero SRAM: token ids 0 are inside every vocab. */
	wafer_reset(w);
	for (uint16_t code = 0; code < WSE_OP_COUNT; code++) {
		r = op_rule_valid[code];
		st = exec(w, &r);
		if (st) {
			TAP_NOTE("valid %s record: status %d", wse_op_specs[code].name, st);
			ok = 0;
		}
	}
	TAP_OK(ok, "rulebook: a valid record of each of the %d ops runs", WSE_OP_COUNT);
	for (size_t i = 0; i < OP_RULE_N_CASES; i++) {
		const struct op_rule_case *c = &op_rule_cases[i];

		r = op_rule_broken(c);
		st = exec(w, &r);
		v = wse_op_check(&r, ~0u, NULL);
		TAP_OK(st == (int)c->status && v.status == c->status && v.field &&
		       !strcmp(v.field, c->field),
		       "rulebook: %s with %s broken: status %d (want %u), names %s (%s)",
		       wse_op_specs[c->code].name, c->field, st, c->status,
		       v.field ? v.field : "nothing", v.reason ? v.reason : "");
	}
}

/* ---- bad records ----------------------------------------------------------------------------- */

static int status_of(struct wafer *w, void *rec)
{
	struct wafer_operand ops[WAFER_MAX_OPERANDS];
	uint64_t cycles = 12345;
	int st = wafer_exec(w, rec, &cycles);

	if (st && cycles)
		return -1000;	/* an error must not report cycles */
	(void)ops;
	return st;
}

/* wafer_op_operands() status: 0 for a valid record. */
static int operands_status(void *rec)
{
	struct wafer_operand ops[WAFER_MAX_OPERANDS];
	int n = wafer_op_operands(rec, ops);

	return n < 0 ? -n : 0;
}

static struct wse_hw_op_add good_add(void)
{
	return (struct wse_hw_op_add){ .hdr = HDR(WSE_OP_ADD, wse_hw_op_add),
				       .a = 0, .b = 0x100, .out = 0x200, .n = 16 };
}

static struct wse_hw_op_matmul good_matmul(void)
{
	return (struct wse_hw_op_matmul){ .hdr = HDR(WSE_OP_MATMUL, wse_hw_op_matmul),
					  .w = 0, .x = 0x1000, .y = 0x2000, .rows = 4, .cols = 32,
					  .batch = 2, .wtype = WSE_HW_DTYPE_F32 };
}

static struct wse_hw_op_layer good_layer(void)
{
	struct wse_hw_op_layer l = { .hdr = HDR(WSE_OP_LAYER, wse_hw_op_layer),
				     .dim = 32, .hidden_dim = 64, .n_heads = 4, .n_kv_heads = 2,
				     .head_dim = 8, .n_tokens = 2, .pos = 1, .kv_capacity = 8,
				     .wtype = WSE_HW_DTYPE_F32, .eps = 1e-5f, .rope_theta = 10000 };
	__le64 *f[] = { &l.x, &l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate,
			  &l.w_down, &l.w_up, &l.k_cache, &l.v_cache, &l.scratch };

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		*f[i] = (uint64_t)i << 16;
	return l;
}

static void test_bad_records(struct wafer *w)
{
	struct wse_hw_op_add add;
	struct wse_hw_op_matmul mm;
	struct wse_hw_op_layer layer;
	struct wafer_operand ops[WAFER_MAX_OPERANDS];
	struct wafer_info info;
	uint64_t sram;

	wafer_get_info(w, &info);
	sram = info.sram_bytes;

	add = good_add();
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_OK, "a good add runs");
	TAP_OK(wafer_op_operands(&add, ops) == 3 && ops[0].addr == &add.a && ops[1].bytes == 64 &&
	       ops[2].writes && !ops[0].writes, "add lists a, b, out with 64-byte extents");

	/* opcodes */
	struct { struct wse_hw_op_hdr hdr; uint64_t body; } bad_op = {
		{ .op = WSE_OP_COUNT, .length = 24 }, 0 };
	TAP_OK(status_of(w, &bad_op) == WSE_HW_STATUS_ERR_OPCODE && operands_status(&bad_op) ==
	       WSE_HW_STATUS_ERR_OPCODE, "opcode WSE_OP_COUNT: ERR_OPCODE");
	bad_op.hdr.op = 0xffff;
	bad_op.hdr.length = 16;
	TAP_OK(status_of(w, &bad_op) == WSE_HW_STATUS_ERR_OPCODE, "opcode 0xffff: ERR_OPCODE");

	/* lengths */
	struct { struct wse_hw_op_add op; uint64_t pad; } long_add = { good_add(), 0 };
	long_add.op.hdr.length += 8;
	TAP_OK(status_of(w, &long_add) == WSE_HW_STATUS_ERR_STREAM, "add 8 bytes too long: ERR_STREAM");
	add = good_add();
	add.hdr.length -= 8;
	TAP_OK(operands_status(&add) == WSE_HW_STATUS_ERR_STREAM, "add 8 bytes short: ERR_STREAM");
	struct { struct wse_hw_op_hdr hdr; uint64_t body; } nop = { { .op = WSE_OP_NOP, .length = 16 }, 0 };
	uint64_t cycles = 0;
	TAP_OK(wafer_exec(w, &nop, &cycles) == WSE_HW_STATUS_OK && cycles >= 1 &&
	       wafer_op_operands(&nop, ops) == 0, "NOP runs, has no operands");
	nop.hdr.length = 24;
	TAP_OK(status_of(w, &nop) == WSE_HW_STATUS_ERR_STREAM, "NOP with a body: ERR_STREAM");
	nop.hdr.length = 16;
	nop.hdr.flags = 1;
	TAP_OK(status_of(w, &nop) == WSE_HW_STATUS_ERR_STREAM, "NOP with flags: ERR_STREAM");

	/* flags and reserved fields */
	add = good_add();
	add.hdr.flags = 0x80;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_STREAM, "add with unknown flags: ERR_STREAM");
	add = good_add();
	add.reserved = 1;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_STREAM, "add reserved != 0: ERR_STREAM");
	mm = good_matmul();
	mm.hdr.flags = 2;
	TAP_OK(status_of(w, &mm) == WSE_HW_STATUS_ERR_STREAM, "matmul flag bit 1: ERR_STREAM");
	struct wse_hw_op_rmsnorm rn = { .hdr = HDR(WSE_OP_RMSNORM, wse_hw_op_rmsnorm), .x = 0,
					.w = 0x100, .y = 0x200, .dim = 8, .rows = 1, .reserved = 3 };
	TAP_OK(status_of(w, &rn) == WSE_HW_STATUS_ERR_STREAM, "rmsnorm reserved != 0: ERR_STREAM");
	struct wse_hw_op_rope rp = { .hdr = HDR(WSE_OP_ROPE, wse_hw_op_rope), .n_heads = 1,
				     .head_dim = 4, .rows = 1, .theta = 10000, .reserved = 1 };
	TAP_OK(status_of(w, &rp) == WSE_HW_STATUS_ERR_STREAM, "rope reserved != 0: ERR_STREAM");
	struct wse_hw_op_topk tk = { .hdr = HDR(WSE_OP_TOPK, wse_hw_op_topk), .x = 0,
				     .out_index = 0x100, .out_value = 0x200, .n = 8, .k = 2, .rows = 1,
				     .reserved = 9 };
	TAP_OK(status_of(w, &tk) == WSE_HW_STATUS_ERR_STREAM, "topk reserved != 0: ERR_STREAM");
	layer = good_layer();
	layer.reserved = 1;
	TAP_OK(status_of(w, &layer) == WSE_HW_STATUS_ERR_STREAM, "layer reserved != 0: ERR_STREAM");

	/* shapes */
	add = good_add();
	add.n = 0;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_SHAPE, "add n = 0: ERR_SHAPE");
	mm = good_matmul();
	mm.rows = mm.cols = mm.batch = 0xffffffffu;
	TAP_OK(status_of(w, &mm) == WSE_HW_STATUS_ERR_SHAPE &&
	       operands_status(&mm) == WSE_HW_STATUS_ERR_SHAPE, "matmul 2^32-1 cubed: ERR_SHAPE");
	mm = good_matmul();
	mm.wtype = WSE_HW_DTYPE_COUNT;
	TAP_OK(status_of(w, &mm) == WSE_HW_STATUS_ERR_SHAPE, "matmul unknown dtype: ERR_SHAPE");
	mm = good_matmul();
	mm.wtype = WSE_HW_DTYPE_Q8_0;
	mm.cols = 33;
	TAP_OK(status_of(w, &mm) == WSE_HW_STATUS_ERR_SHAPE, "matmul q8_0 cols 33: ERR_SHAPE");
	mm.cols = 64;
	TAP_OK(wafer_op_operands(&mm, ops) == 3 && ops[0].bytes == 4 * 2 * 34 &&
	       ops[1].bytes == 2 * 64 * 4 && ops[2].bytes == 2 * 4 * 4,
	       "matmul q8_0 operand extents are exact");
	mm = good_matmul();
	mm.rows = 1u << 20;
	mm.cols = 1u << 20;
	TAP_OK(status_of(w, &mm) == WSE_HW_STATUS_ERR_FAULT, "matmul 4 TiB of weights: ERR_FAULT, no crash");
	rp.reserved = 0;
	rp.head_dim = 5;
	TAP_OK(status_of(w, &rp) == WSE_HW_STATUS_ERR_SHAPE, "rope odd head_dim: ERR_SHAPE");
	rp.head_dim = 4;
	rp.theta = NAN;
	TAP_OK(status_of(w, &rp) == WSE_HW_STATUS_ERR_SHAPE, "rope theta NaN: ERR_SHAPE");
	rn.reserved = 0;
	rn.eps = -1;
	TAP_OK(status_of(w, &rn) == WSE_HW_STATUS_ERR_SHAPE, "rmsnorm eps < 0: ERR_SHAPE");
	struct wse_hw_op_attention att = { .hdr = HDR(WSE_OP_ATTENTION, wse_hw_op_attention),
					  .q = 0, .k_cache = 0x1000, .v_cache = 0x2000, .out = 0x3000,
					  .n_heads = 4, .n_kv_heads = 3, .head_dim = 4, .n_tokens = 1,
					  .pos = 0, .kv_capacity = 4 };
	TAP_OK(status_of(w, &att) == WSE_HW_STATUS_ERR_SHAPE, "attention n_heads %% n_kv_heads: ERR_SHAPE");
	att.n_kv_heads = 2;
	TAP_OK(status_of(w, &att) == WSE_HW_STATUS_OK && wafer_op_operands(&att, ops) == 4 &&
	       ops[1].bytes == 4ull * 4 * 2 * 4, "attention caches span kv_capacity rows");
	att.pos = 3;
	att.n_tokens = 2;
	TAP_OK(status_of(w, &att) == WSE_HW_STATUS_ERR_SHAPE, "attention pos + n_tokens > capacity: ERR_SHAPE");
	att.pos = 0xffffffffu;
	att.n_tokens = 1;
	TAP_OK(status_of(w, &att) == WSE_HW_STATUS_ERR_SHAPE, "attention pos overflow: ERR_SHAPE");
	tk.reserved = 0;
	tk.k = 9;
	TAP_OK(status_of(w, &tk) == WSE_HW_STATUS_ERR_SHAPE, "topk k > n: ERR_SHAPE");
	layer = good_layer();
	TAP_OK(operands_status(&layer) == 0 && wafer_op_operands(&layer, ops) == 13,
	       "layer lists 13 operands");
	TAP_OK(ops[12].bytes == wse_hw_layer_scratch_bytes(32, 64, 4, 8, 2) &&
	       ops[10].bytes == 8ull * 16 * 4 && ops[2].bytes == 32ull * 32 * 4 &&
	       ops[0].writes && ops[10].writes && !ops[2].writes, "layer operand extents");
	layer.n_kv_heads = 3;
	TAP_OK(status_of(w, &layer) == WSE_HW_STATUS_ERR_SHAPE, "layer n_heads %% n_kv_heads: ERR_SHAPE");
	layer = good_layer();
	layer.wtype = WSE_HW_DTYPE_Q8_0;
	layer.dim = 48;
	TAP_OK(status_of(w, &layer) == WSE_HW_STATUS_ERR_SHAPE, "layer q8_0 dim 48: ERR_SHAPE");
	layer = good_layer();
	layer.n_tokens = 0x10000;
	layer.hidden_dim = 0x10000;
	TAP_OK(status_of(w, &layer) == WSE_HW_STATUS_ERR_SHAPE, "layer with n_tokens * hidden >= 2^32: ERR_SHAPE");

	/* offsets */
	add = good_add();
	add.b = sram - 32;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_FAULT, "add b crossing the end of SRAM: ERR_FAULT");
	add.b = sram - 64;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_OK, "add b ending at the end of SRAM runs");
	add.out = ~0ull - 16;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_FAULT, "add out near 2^64 (wraps): ERR_FAULT");
	add = good_add();
	add.a = 2;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_FAULT, "add a misaligned: ERR_FAULT");
	struct wse_hw_op_copy cp = { .hdr = HDR(WSE_OP_COPY, wse_hw_op_copy), .src = 0x1000,
				     .dst = 0, .bytes = ~0ull - 0x800 };
	TAP_OK(status_of(w, &cp) == WSE_HW_STATUS_ERR_FAULT, "copy of 2^64 bytes: ERR_FAULT");
	cp.bytes = 0;
	TAP_OK(status_of(w, &cp) == WSE_HW_STATUS_ERR_SHAPE,
	       "copy of 0 bytes: ERR_SHAPE, as every other zero size (and as libwse refuses it)");

	/* overlaps */
	mm = good_matmul();
	mm.y = mm.x + 4;
	TAP_OK(status_of(w, &mm) == WSE_HW_STATUS_ERR_FAULT, "matmul y overlapping x: ERR_FAULT");
	add = good_add();
	add.out = add.a + 4;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_FAULT, "add out partly over a: ERR_FAULT");
	tk.k = 2;
	tk.out_value = tk.out_index + 4;
	TAP_OK(status_of(w, &tk) == WSE_HW_STATUS_ERR_FAULT, "topk outputs overlapping: ERR_FAULT");
	att.pos = 0;
	att.out = att.q;
	TAP_OK(status_of(w, &att) == WSE_HW_STATUS_ERR_FAULT, "attention out == q: ERR_FAULT");
	layer = good_layer();
	layer.scratch = layer.x;
	TAP_OK(status_of(w, &layer) == WSE_HW_STATUS_ERR_FAULT, "layer scratch over x: ERR_FAULT");

	/* regions */
	add = good_add();
	add.hdr.region = (struct wse_hw_region){ .x = 60, .y = 0, .w = 10, .h = 1 };
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_REGION, "region x + w > grid_w: ERR_REGION");
	add.hdr.region = (struct wse_hw_region){ .x = 0, .y = 63, .w = 1, .h = 2 };
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_REGION, "region y + h > grid_h: ERR_REGION");
	add.hdr.region = (struct wse_hw_region){ .w = 0, .h = 3 };
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_REGION, "region w = 0, h = 3: ERR_REGION");
	add.hdr.region = (struct wse_hw_region){ .x = 0xffff, .y = 0xffff, .w = 0xffff, .h = 0xffff };
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_REGION, "region all ones: ERR_REGION");
	add.hdr.region = (struct wse_hw_region){ .x = 63, .y = 63, .w = 1, .h = 1 };
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_OK, "region: the last PE is fine");
	/* Region errors win over bad offsets: the region is checked first. */
	add.hdr.region.w = 2;
	add.a = sram;
	TAP_OK(status_of(w, &add) == WSE_HW_STATUS_ERR_REGION, "region checked before operands");

	/* tokens */
	struct arena a = { w, 0 };
	uint32_t tokens[3] = { 1, 7, 2 };
	float table[7 * 4];
	fill(table, 28, 1);
	struct wse_hw_op_embed em = { .hdr = HDR(WSE_OP_EMBED, wse_hw_op_embed),
				      .table = put(&a, table, sizeof(table)),
				      .tokens = put(&a, tokens, sizeof(tokens)), .dim = 4, .vocab = 7,
				      .n_tokens = 3, .wtype = WSE_HW_DTYPE_F32 };
	em.out = arena_alloc(&a, 3 * 16);
	memset(at(&a, em.out), 0x5a, 3 * 16);
	TAP_OK(status_of(w, &em) == WSE_HW_STATUS_ERR_SHAPE, "embed token == vocab: ERR_SHAPE");
	TAP_OK(((uint8_t *)at(&a, em.out))[0] == 0x5a, "embed with a bad token writes nothing");
	em.vocab = 8;
	TAP_OK(status_of(w, &em) == WSE_HW_STATUS_OK, "embed token < vocab runs");

	/* wafer_exec must not read past a short record's length. */
	uint8_t *tail = malloc(16);
	memcpy(tail, &(struct wse_hw_op_hdr){ .op = WSE_OP_ADD, .length = 16 }, 16);
	TAP_OK(status_of(w, tail) == WSE_HW_STATUS_ERR_STREAM, "a bare add header: ERR_STREAM, no overread");
	free(tail);
}

/* ---- guest writes racing an op ---------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct token_flipper {
	uint32_t *token;
	uint32_t good, bad;
	atomic_int stop;
	uint64_t flips;
};

/* What a vCPU does through BAR2: rewrites a token id as fast as it can. */
static void *flip_token(void *arg)
{
	struct token_flipper *f = arg;

	while (!atomic_load(&f->stop)) {
		__atomic_store_n(f->token, f->bad, __ATOMIC_RELAXED);
		__atomic_store_n(f->token, f->good, __ATOMIC_RELAXED);
		f->flips++;
	}
	return NULL;
}

/*
 * EMBED's token ids live in guest-writable SRAM: a token that turns out of
 * vocab between a check and its use must not index past the table (the old
 * code read it twice and gathered from table + 0xffffffff rows, far outside
 * SRAM: a SEGV under ASan). The racing token is the last of many, so the
 * window between a first and a second read is a whole pass over the others.
 */
static void test_embed_race(void)
{
	const uint32_t vocab = 64, dim = 64, nt = 4096;
	struct wafer *w = make_wafer(2, 16u << 20);
	struct arena a = { w, 0 };
	struct token_flipper f = { .good = 7, .bad = 0xffffffffu };
	uint32_t *tokens = malloc(nt * 4);
	uint64_t runs = 0, ok_runs = 0, shape_runs = 0, other = 0;
	pthread_t thread;
	double end;

	if (!TAP_OK(w && tokens, "embed race: wafer created"))
		return;
	for (uint32_t t = 0; t < nt; t++)
		tokens[t] = t % vocab;
	struct wse_hw_op_embed op = {
		.hdr = HDR(WSE_OP_EMBED, wse_hw_op_embed),
		.table = arena_alloc(&a, (uint64_t)vocab * dim * 4),
		.tokens = put(&a, tokens, nt * 4),
		.dim = dim, .vocab = vocab, .n_tokens = nt, .wtype = WSE_HW_DTYPE_F32,
	};
	op.out = arena_alloc(&a, (uint64_t)nt * dim * 4);
	for (uint64_t i = 0; i < (uint64_t)vocab * dim; i++)
		((float *)at(&a, op.table))[i] = (float)i;
	f.token = (uint32_t *)at(&a, op.tokens) + nt - 1;
	atomic_init(&f.stop, 0);
	pthread_create(&thread, NULL, flip_token, &f);
	/* Bounded: 1.5 s, about 10^4 runs here; the old code crashed within the first hundred. */
	end = now_s() + 1.5;
	while (now_s() < end) {
		int st = exec(w, &op);

		runs++;
		if (st == WSE_HW_STATUS_OK)
			ok_runs++;
		else if (st == WSE_HW_STATUS_ERR_SHAPE)
			shape_runs++;
		else
			other++;
	}
	atomic_store(&f.stop, 1);
	pthread_join(thread, NULL);
	TAP_NOTE("embed race: %llu runs (%llu ok, %llu ERR_SHAPE) against %llu flips",
		 (unsigned long long)runs, (unsigned long long)ok_runs,
		 (unsigned long long)shape_runs, (unsigned long long)f.flips);
	TAP_OK(runs > 0 && f.flips > 0 && !other,
	       "embed with a token rewritten concurrently: only OK or ERR_SHAPE, no stray read");
	/* Whatever the race left, a settled token list gathers the right rows. */
	*f.token = 5;
	int good = exec(w, &op) == WSE_HW_STATUS_OK;
	for (uint32_t i = 0; good && i < dim; i++)
		good = ((float *)at(&a, op.out))[(uint64_t)(nt - 1) * dim + i] == (float)(5 * dim + i);
	TAP_OK(good, "embed after the race: the last row is table row 5");
	free(tokens);
	wafer_destroy(w);
}

/* ---- stopping long ops ------------------------------------------------------------------------- */

struct stop_counter {
	atomic_uint_fast64_t asked;
	uint64_t yes_from;	/* answer yes from this question on; 0: never */
	atomic_int flag;	/* or when this is set */
};

static int stop_when(void *ctx)
{
	struct stop_counter *c = ctx;
	uint64_t n = atomic_fetch_add(&c->asked, 1) + 1;

	return (c->yes_from && n >= c->yes_from) || atomic_load(&c->flag);
}

/* An op of each kind, big enough (a few M elements) to ask many times. */
static int big_op(uint32_t code, union wafer_record *r)
{
	memset(r, 0, sizeof(*r));
	r->hdr.op = code;
	switch (code) {
	case WSE_OP_COPY:
		r->hdr.length = sizeof(r->copy);
		r->copy = (struct wse_hw_op_copy){ r->hdr, 0, 12u << 20, 8u << 20 };
		return 1;
	case WSE_OP_MATMUL:
		r->matmul = (struct wse_hw_op_matmul){ HDR(WSE_OP_MATMUL, wse_hw_op_matmul),
			.w = 0, .x = 8u << 20, .y = 9u << 20, .rows = 2048, .cols = 1024,
			.batch = 1, .wtype = WSE_HW_DTYPE_F32 };
		return 1;
	case WSE_OP_RMSNORM:
		r->rmsnorm = (struct wse_hw_op_rmsnorm){ HDR(WSE_OP_RMSNORM, wse_hw_op_rmsnorm),
			.x = 0, .w = 8u << 20, .y = 9u << 20, .dim = 4096, .rows = 512, .eps = 1e-5f };
		return 1;
	case WSE_OP_ROPE:
		r->rope = (struct wse_hw_op_rope){ HDR(WSE_OP_ROPE, wse_hw_op_rope),
			.x = 0, .n_heads = 32, .head_dim = 128, .rows = 512, .theta = 10000 };
		return 1;
	case WSE_OP_ATTENTION:
		r->attention = (struct wse_hw_op_attention){ HDR(WSE_OP_ATTENTION, wse_hw_op_attention),
			.q = 0, .k_cache = 4u << 20, .v_cache = 4u << 20, .out = 12u << 20,
			.n_heads = 8, .n_kv_heads = 8, .head_dim = 64, .n_tokens = 64, .pos = 1984,
			.kv_capacity = 2048 };
		return 1;
	case WSE_OP_SILU_MUL:
		r->silu_mul = (struct wse_hw_op_silu_mul){ HDR(WSE_OP_SILU_MUL, wse_hw_op_silu_mul),
			.gate = 0, .up = 8u << 20, .out = 16u << 20, .n = 2u << 20 };
		return 1;
	case WSE_OP_ADD:
		r->add = (struct wse_hw_op_add){ HDR(WSE_OP_ADD, wse_hw_op_add),
			.a = 0, .b = 8u << 20, .out = 16u << 20, .n = 2u << 20 };
		return 1;
	case WSE_OP_EMBED:
		r->embed = (struct wse_hw_op_embed){ HDR(WSE_OP_EMBED, wse_hw_op_embed),
			.table = 0, .tokens = 8u << 20, .out = 9u << 20, .dim = 1024, .vocab = 1024,
			.n_tokens = 2048, .wtype = WSE_HW_DTYPE_F32 };
		return 1;
	case WSE_OP_SOFTMAX:
		r->softmax = (struct wse_hw_op_softmax){ HDR(WSE_OP_SOFTMAX, wse_hw_op_softmax),
			.x = 0, .y = 8u << 20, .n = 4096, .rows = 512 };
		return 1;
	case WSE_OP_ARGMAX:
		r->argmax = (struct wse_hw_op_argmax){ HDR(WSE_OP_ARGMAX, wse_hw_op_argmax),
			.x = 0, .out = 8u << 20, .n = 4096, .rows = 512 };
		return 1;
	case WSE_OP_TOPK:
		r->topk = (struct wse_hw_op_topk){ HDR(WSE_OP_TOPK, wse_hw_op_topk),
			.x = 0, .out_index = 8u << 20, .out_value = 9u << 20, .n = 2u << 20,
			.k = 64, .rows = 1 };
		return 1;
	case WSE_OP_LAYER:
		r->layer = (struct wse_hw_op_layer){ HDR(WSE_OP_LAYER, wse_hw_op_layer),
			.x = 0, .attn_norm = 1u << 20, .wq = 2u << 20, .wk = 6u << 20,
			.wv = 10u << 20, .wo = 14u << 20, .ffn_norm = 18u << 20, .w_gate = 19u << 20,
			.w_down = 23u << 20, .w_up = 27u << 20, .k_cache = 31u << 20,
			.v_cache = 32u << 20, .scratch = 33u << 20, .dim = 1024, .hidden_dim = 1024,
			.n_heads = 8, .n_kv_heads = 8, .head_dim = 128, .n_tokens = 4, .pos = 0,
			.kv_capacity = 64, .wtype = WSE_HW_DTYPE_F32, .eps = 1e-5f, .rope_theta = 10000 };
		return 1;
	default:
		return 0;
	}
}

/*
 * Every op asks whether to stop again and again while it runs, not only
 * before it starts: counted with a stop function that never says yes, then
 * told yes halfway through those questions, it returns ERR_ABORTED without
 * cycles. Without a stop function the same op still runs to the end.
 */
static void test_stop_each_op(void)
{
	struct wafer *w = make_wafer(2, 64u << 20);
	union wafer_record rec;
	int ok_many = 1, ok_abort = 1, ok_plain = 1;
	uint64_t fewest = UINT64_MAX;

	if (!TAP_OK(w != NULL, "stop: wafer created"))
		return;
	for (uint32_t code = WSE_OP_COPY; code < WSE_OP_COUNT; code++) {
		struct stop_counter never = { .yes_from = 0 }, half = { .yes_from = 0 };
		uint64_t cycles = 1;
		int st;

		if (!big_op(code, &rec))
			continue;
		atomic_init(&never.asked, 0);
		atomic_init(&never.flag, 0);
		st = wafer_exec_stoppable(w, &rec, &cycles, stop_when, &never);
		if (st != WSE_HW_STATUS_OK) {
			TAP_NOTE("op %u: status %d without a stop", code, st);
			ok_plain = 0;
		}
		if (atomic_load(&never.asked) < 8) {
			TAP_NOTE("op %u asked only %llu times", code,
				 (unsigned long long)atomic_load(&never.asked));
			ok_many = 0;
		}
		if (atomic_load(&never.asked) < fewest)
			fewest = atomic_load(&never.asked);
		half.yes_from = atomic_load(&never.asked) / 2;
		atomic_init(&half.asked, 0);
		atomic_init(&half.flag, 0);
		cycles = 1;
		st = wafer_exec_stoppable(w, &rec, &cycles, stop_when, &half);
		if (st != WSE_HW_STATUS_ERR_ABORTED || cycles) {
			TAP_NOTE("op %u: status %d, cycles %llu when told to stop", code, st,
				 (unsigned long long)cycles);
			ok_abort = 0;
		}
		ok_plain &= exec(w, &rec) == WSE_HW_STATUS_OK;
	}
	TAP_OK(ok_many, "stop: every op asks at least 8 times on a few M elements (fewest %llu)",
	       (unsigned long long)fewest);
	TAP_OK(ok_abort, "stop: every op told to stop halfway returns ERR_ABORTED, no cycles");
	TAP_OK(ok_plain, "stop: the same ops run to the end without a stop (or with a silent one)");
	wafer_destroy(w);
}

struct delayed_stop {
	struct stop_counter *c;
	double delay, set_at;
};

static void *set_stop_later(void *arg)
{
	struct delayed_stop *d = arg;
	struct timespec ts = { 0, (long)(d->delay * 1e9) };

	nanosleep(&ts, NULL);
	d->set_at = now_s();
	atomic_store(&d->c->flag, 1);
	return NULL;
}

/*
 * What a queue reset needs: an attention record sized to run for minutes
 * (about 2.7e11 multiply-adds) stops soon after it is told to, on both
 * threads of the pool.
 */
static void test_stop_long_attention(void)
{
	struct wafer *w = make_wafer(2, 128u << 20);
	struct stop_counter c = { .yes_from = 0 };
	struct delayed_stop d = { .c = &c, .delay = 0.05 };
	struct wse_hw_op_attention op = {
		.hdr = HDR(WSE_OP_ATTENTION, wse_hw_op_attention),
		.q = 0, .k_cache = 32u << 20, .v_cache = 32u << 20, .out = 96u << 20,
		.n_heads = 32, .n_kv_heads = 4, .head_dim = 128, .n_tokens = 1024,
		.pos = 31744, .kv_capacity = 32768,
	};
	pthread_t thread;
	uint64_t cycles = 1;
	double latency;
	int st;

	if (!TAP_OK(w != NULL, "stop: 128 MiB wafer created"))
		return;
	atomic_init(&c.asked, 0);
	atomic_init(&c.flag, 0);
	pthread_create(&thread, NULL, set_stop_later, &d);
	st = wafer_exec_stoppable(w, &op, &cycles, stop_when, &c);
	latency = now_s() - d.set_at;
	pthread_join(thread, NULL);
	/*
	 * Observed: a few ms (one block of 64 keys per thread, plus waking up).
	 * 2 s leaves room for a loaded 2-core host; the whole op takes minutes.
	 */
	TAP_OK(st == WSE_HW_STATUS_ERR_ABORTED && !cycles && latency < 2.0,
	       "stop: a minutes-long attention returns ERR_ABORTED %.1f ms after the stop",
	       latency * 1e3);
	wafer_destroy(w);
}

/* ---- lifecycle, SRAM, presets ------------------------------------------------------------------ */

static void test_create(void)
{
	struct wafer_config config = { .preset = WAFER_PRESET_SMALL };
	struct wafer_info info;
	struct wafer *w;

	errno = 0;
	TAP_OK(!wafer_create(NULL) && errno == EINVAL, "create(NULL): EINVAL");
	config.preset = 7;
	errno = 0;
	TAP_OK(!wafer_create(&config) && errno == EINVAL, "unknown preset: EINVAL");
	config.preset = WAFER_PRESET_SMALL;
	const uint64_t bad_sizes[] = { (1u << 20) - 4096, (64ull << 30) + 4096, (2u << 20) + 100 };
	for (int i = 0; i < 3; i++) {
		config.sram_bytes = bad_sizes[i];
		errno = 0;
		TAP_OK(!wafer_create(&config) && errno == EINVAL, "sram_bytes %llu: EINVAL",
		       (unsigned long long)bad_sizes[i]);
	}
	config.sram_bytes = 0;
	config.threads = 100000;
	errno = 0;
	TAP_OK(!wafer_create(&config) && errno == EINVAL, "100000 threads: EINVAL");

	config.threads = 2;
	w = wafer_create(&config);
	TAP_OK(w != NULL, "small preset created");
	wafer_get_info(w, &info);
	TAP_OK(info.grid_w == 64 && info.grid_h == 64 && info.pe_sram_bytes == 256 << 10 &&
	       info.sram_bytes == 1ull << 30 && info.clock_khz == 1100000,
	       "small preset: 64 x 64 PEs, 256 KiB each, 1 GiB, 1.1 GHz");
	TAP_OK(wafer_sram(w, info.sram_bytes - 8, 8) && !wafer_sram(w, info.sram_bytes - 8, 9) &&
	       !wafer_sram(w, ~0ull, 2), "wafer_sram bounds");
	uint8_t *p = wafer_sram(w, 12345, 1);
	*p = 7;
	wafer_reset(w);
	TAP_OK(*(volatile uint8_t *)wafer_sram(w, 12345, 1) == 0, "wafer_reset zeroes SRAM");
	wafer_destroy(w);

	/* The real thing: 44 GB, backed lazily. */
	config.preset = WAFER_PRESET_CS3;
	config.threads = 1;
	w = wafer_create(&config);
	TAP_OK(w != NULL, "cs3 preset created (errno %d)", w ? 0 : errno);
	if (!w)
		return;
	wafer_get_info(w, &info);
	TAP_OK(info.grid_w == 762 && info.grid_h == 1172 && info.pe_sram_bytes == 48 << 10 &&
	       info.sram_bytes == 762ull * 1172 * 48 * 1024, "cs3: 762 x 1172 PEs, 48 KiB each, %.1f GB",
	       info.sram_bytes / 1e9);
	{
		struct wse_hw_op_add add = { .hdr = HDR(WSE_OP_ADD, wse_hw_op_add),
					     .a = info.sram_bytes - 4096, .b = info.sram_bytes - 4096,
					     .out = info.sram_bytes - 4096, .n = 1024 };
		float *f = wafer_sram(w, add.a, 4096);

		f[1023] = 1.5f;
		TAP_OK(exec(w, &add) == WSE_HW_STATUS_OK && f[1023] == 3.0f, "cs3: an op at the end of 44 GB");
		add.hdr.region = (struct wse_hw_region){ .x = 700, .y = 1100, .w = 62, .h = 72 };
		TAP_OK(exec(w, &add) == WSE_HW_STATUS_OK, "cs3: region at the far corner of the grid");
		add.hdr.region.w = 63;
		TAP_OK(exec(w, &add) == WSE_HW_STATUS_ERR_REGION, "cs3: one PE past the grid");
		wafer_reset(w);
		TAP_OK(f[1023] == 0.0f, "cs3: reset zeroes the last page");
	}
	wafer_destroy(w);
	wafer_destroy(NULL);
}

/* ---- timing model ----------------------------------------------------------------------------- */

static uint64_t cycles_of(struct wafer *w, void *rec)
{
	uint64_t c = 0;

	return wafer_exec(w, rec, &c) == WSE_HW_STATUS_OK ? c : 0;
}

static void test_timing(struct wafer *w)
{
	struct wse_hw_op_matmul mm = good_matmul();
	uint64_t small, big, corner, whole, explicit_whole;

	mm.rows = 64;
	mm.cols = 256;
	mm.batch = 1;
	mm.x = 4u << 20;
	mm.y = 5u << 20;
	small = cycles_of(w, &mm);
	mm.rows = 512;
	mm.cols = 1024;
	big = cycles_of(w, &mm);
	whole = big;
	mm.hdr.region = (struct wse_hw_region){ 0, 0, 64, 64 };
	explicit_whole = cycles_of(w, &mm);
	mm.hdr.region = (struct wse_hw_region){ 0, 0, 4, 4 };
	corner = cycles_of(w, &mm);
	TAP_OK(small > 0 && big > small, "timing: a bigger matmul costs more (%llu > %llu)",
	       (unsigned long long)big, (unsigned long long)small);
	TAP_OK(whole == explicit_whole, "timing: region 0x0 is the whole grid");
	TAP_OK(corner > whole, "timing: 16 PEs are slower than 4096 on 2 MB of weights (%llu > %llu)",
	       (unsigned long long)corner, (unsigned long long)whole);
	mm.wtype = WSE_HW_DTYPE_F16;
	TAP_OK(cycles_of(w, &mm) < corner, "timing: 16-bit weights are cheaper than fp32");
	TAP_OK(wafer_host_copy_cycles(w, 1 << 20) > wafer_host_copy_cycles(w, 1 << 10) &&
	       wafer_host_copy_cycles(w, 1) >= 1, "timing: host copies scale with bytes");
	/* 1.2 Tb/s at 1.1 GHz: 1 MiB takes 1048576 / 136.36 = 7690 cycles. */
	TAP_OK(wafer_host_copy_cycles(w, 1 << 20) == 7690, "timing: host copy of 1 MiB = %llu cycles",
	       (unsigned long long)wafer_host_copy_cycles(w, 1 << 20));
}

int main(void)
{
	struct wafer *w;

	test_f16_conversion();
	test_bf16_conversion();
	test_weight_bytes();
	test_kernels();
	test_create();

	w = make_wafer(2, 64u << 20);
	if (!TAP_OK(w != NULL, "test wafer created"))
		return tap_done();
	TAP_NOTE("ops with the %s kernels", w->kernels.name);
	test_matmul(w, w->kernels.name);
	test_rmsnorm(w);
	test_rope(w);
	test_attention(w);
	test_elementwise(w);
	test_embed(w);
	test_softmax(w);
	test_argmax_topk(w);
	test_layer(w);
	/* Again on the portable kernels, which machines without AVX2 use. */
	wafer_kernels_init(&w->kernels, 0);
	test_matmul(w, w->kernels.name);
	test_attention(w);
	test_layer(w);
	wafer_kernels_init(&w->kernels, 1);
	test_matmul_threads();
	test_bad_records(w);
	test_rulebook(w);
	test_timing(w);
	wafer_destroy(w);
	test_embed_race();
	test_stop_each_op();
	test_stop_long_attention();
	return tap_done();
}
