// SPDX-License-Identifier: MIT
/*
 * test_engine_kernels - the kernel library (engine/kernels/) that the cpu
 * backend and the wafer model share, against double precision:
 * kern_rmsnorm on ordinary rows, rows whose mean square is near eps (where
 * a wrong sign or a missing eps shows at once) and an all-zero row; and
 * kern_matmul_rows for every dtype, SIMD and portable, with column counts
 * that leave tails and 1 to 5 activation rows (the one-, two- and
 * three-row kernels), weights decoded by the test's own code (tests/unit/llama_ref.h);
 * and that a batch gives every activation row the bits of its lone dot
 * product, which the wafer model's reproducibility rests on.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernels.h"
#include "engine/sampler.h"
#include "tests/tap.h"
#include "tests/unit/engine_tiny_model.h"
#include "tests/unit/llama_ref.h"

/*
 * kern_rmsnorm sums squares in float: worst observed relative error 1.1e-7
 * (about one ulp); 18x. With eps negated the row of mean square 1e-4 is
 * off by 10% and the smaller rows turn NaN.
 */
#define NORM_TOL 2e-6

/*
 * |y - y_ref| / sum_c |w_rc x_c|: fp32 products summed in float, worst
 * observed 5.7e-8 (SIMD) and 1.1e-7 (scalar); 18x the larger.
 */
#define MATMUL_TOL 2e-6

static struct eng_rng rng;

static float uniform(float scale)
{
	return scale * (2.0f * eng_rng_float(&rng) - 1.0f);
}

static void test_rmsnorm(void)
{
	enum { D = 40 };
	/* mean squares around eps = 1e-5, and an ordinary row */
	static const double mean_square[] = { 0, 1e-6, 5e-6, 1e-5, 2e-5, 1e-4, 1.0 / 3 };
	const float eps = 1e-5f;
	float x[D], w[D], out[D];
	double worst = 0;
	int zero_ok = 1, finite = 1;

	for (int i = 0; i < D; i++)
		w[i] = 1.0f + uniform(0.3f);
	for (size_t k = 0; k < sizeof(mean_square) / sizeof(mean_square[0]); k++) {
		double ss = 0, scale, mx = 0, err = 0;

		/* uniform in [-a, a] has mean square a^2 / 3 */
		for (int i = 0; i < D; i++)
			x[i] = uniform((float)sqrt(3 * mean_square[k]));
		kern_rmsnorm(out, x, w, D, eps);
		for (int i = 0; i < D; i++)
			ss += (double)x[i] * x[i];
		scale = 1 / sqrt(ss / D + eps);
		for (int i = 0; i < D; i++) {
			double want = x[i] * scale * w[i];

			finite &= isfinite(out[i]);
			mx = fmax(mx, fabs(want));
			err = fmax(err, fabs(out[i] - want));
		}
		if (mean_square[k] == 0)
			for (int i = 0; i < D; i++)
				zero_ok &= out[i] == 0.0f;
		else
			worst = fmax(worst, err / mx);
		TAP_NOTE("rmsnorm mean square %.1g: relative error %.2g", ss / D, mx > 0 ? err / mx : err);
	}
	TAP_OK(finite, "kern_rmsnorm output is finite for every row, the all-zero row included");
	TAP_OK(zero_ok, "kern_rmsnorm of an all-zero row is exactly zero");
	TAP_OK(worst <= NORM_TOL, "kern_rmsnorm matches double precision for mean squares 1e-6..1/3 with eps 1e-5 (worst %.2g relative)",
	       worst);
}

static void check_matmul(enum eng_dtype type, uint64_t rows, uint64_t cols, int scalar, double *worst)
{
	float *f = malloc(rows * cols * sizeof(float));
	uint8_t *wbytes;
	struct kern_matrix t;
	int n = 5;
	float *x = malloc((size_t)n * cols * sizeof(float)), *y = malloc((size_t)n * rows * sizeof(float));

	for (uint64_t i = 0; i < rows * cols; i++)
		f[i] = uniform(0.5f);
	wbytes = tiny_encode(f, type, rows, cols);	/* frees f */
	for (uint64_t i = 0; i < (uint64_t)n * cols; i++)
		x[i] = uniform(1.0f);
	t = (struct kern_matrix){ .data = wbytes, .dtype = (enum kern_dtype)type, .cols = cols,
				  .row_bytes = tiny_row_bytes(type, cols) };
	kern_force_portable(scalar);
	for (int batch = 1; batch <= n; batch++) {
		/* rows split in two calls, as the thread pool does */
		kern_matmul_rows(kern_ops(), &t, 0, rows / 2, x, cols, (uint64_t)batch, y, rows);
		kern_matmul_rows(kern_ops(), &t, rows / 2, rows, x, cols, (uint64_t)batch, y, rows);
		for (int b = 0; b < batch; b++)
			for (uint64_t r = 0; r < rows; r++) {
				double want = 0, mag = 0, got = y[(size_t)b * rows + r];

				for (uint64_t c = 0; c < cols; c++) {
					double p = lref_weight(type, wbytes, cols, r, c) * x[(size_t)b * cols + c];

					want += p;
					mag += fabs(p);
				}
				*worst = isfinite(got) ? fmax(*worst, fabs(got - want) / mag) : INFINITY;
			}
	}
	kern_force_portable(0);
	free(wbytes);
	free(x);
	free(y);
}

static void test_matmul(void)
{
	static const enum eng_dtype types[] = { ENG_F32, ENG_F16, ENG_BF16, ENG_Q8_0 };

	for (int scalar = 0; scalar <= 1; scalar++)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			/* Q8_0 needs whole 32-column blocks; the others get SIMD tails */
			uint64_t cols[] = { 32, types[i] == ENG_Q8_0 ? 96 : 45, types[i] == ENG_Q8_0 ? 288 : 263 };
			double worst = 0;

			for (size_t k = 0; k < 3; k++)
				check_matmul(types[i], 7, cols[k], scalar, &worst);
			TAP_OK(worst <= MATMUL_TOL, "%s matmul rows (%s), 32/%llu/%llu columns, 1-5 activation rows: worst %.2g relative",
			       eng_dtype_name(types[i]), scalar ? "portable" : kern_ops()->name,
			       (unsigned long long)cols[1], (unsigned long long)cols[2], worst);
		}
}

/*
 * Each set gives an activation row the bits of its lone dot product in
 * every batch position, through the three-, two- or one-row kernel: the
 * wafer model batches ops and promises results that batching cannot change.
 */
static void test_batch_bits(void)
{
	static const enum eng_dtype types[] = { ENG_F32, ENG_F16, ENG_BF16, ENG_Q8_0 };
	enum { ROWS = 5, N = 5 };

	for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
		const struct kern_ops *ops = kern_ops_for((enum kern_isa)isa);
		int differ = 0, checked = 0;

		if (!ops) {
			/* The portable set always exists: a missing one is a machine without AVX2. */
			TAP_OK(isa != KERN_ISA_PORTABLE, "kernel set %d is not available on this CPU", isa);
			continue;
		}
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			uint64_t cols = types[i] == ENG_Q8_0 ? 288 : 263;
			uint64_t row_bytes = tiny_row_bytes(types[i], cols);
			float *f = malloc(ROWS * cols * sizeof(float)), *x = malloc(N * cols * sizeof(float));
			float y[N * ROWS];
			struct kern_matrix t = { .dtype = (enum kern_dtype)types[i], .cols = cols,
						 .row_bytes = row_bytes };

			for (uint64_t k = 0; k < ROWS * cols; k++)
				f[k] = uniform(0.5f);
			for (uint64_t k = 0; k < N * cols; k++)
				x[k] = uniform(1.0f);
			t.data = tiny_encode(f, types[i], ROWS, cols);	/* frees f */
			for (uint64_t n = 1; n <= N; n++) {
				kern_matmul_rows(ops, &t, 0, ROWS, x, cols, n, y, ROWS);
				for (uint64_t b = 0; b < n; b++)
					for (uint64_t r = 0; r < ROWS; r++) {
						float want = ops->dot[t.dtype]((const uint8_t *)t.data + r * row_bytes,
									       x + b * cols, cols);

						checked++;
						differ += memcmp(&want, &y[b * ROWS + r], sizeof(want)) != 0;
					}
			}
			free((void *)t.data);
			free(x);
		}
		TAP_OK(checked > 0 && differ == 0,
		       "%s kernels: batches of 1-5 give each of %d (row, activation) pairs its lone dot product's bits (%d differ)",
		       ops->name, checked, differ);
	}
}

static void test_conversions(void)
{
	int bad_f16 = 0, bad_bf16 = 0;

	/* Every finite half and bfloat converts to fp32 and back unchanged. */
	for (uint32_t h = 0; h <= 0xffff; h++) {
		if (((h >> 10) & 0x1f) != 0x1f && kern_f32_to_f16(kern_f16_to_f32((uint16_t)h)) != h)
			bad_f16++;
		if (((h >> 7) & 0xff) != 0xff && kern_f32_to_bf16(kern_bf16_to_f32((uint16_t)h)) != h)
			bad_bf16++;
	}
	TAP_OK(bad_f16 == 0 && bad_bf16 == 0, "f16 and bf16 round-trip through fp32 (%d, %d wrong)",
	       bad_f16, bad_bf16);
	TAP_OK(kern_f16_to_f32(0x3c00) == 1.0f && kern_f16_to_f32(0xc000) == -2.0f &&
	       kern_f16_to_f32(0x0001) == 0x1p-24f && kern_bf16_to_f32(0x3f80) == 1.0f,
	       "f16 1, -2 and the smallest subnormal, bf16 1 decode exactly");
}

int main(void)
{
	eng_rng_seed(&rng, 2024);
	test_rmsnorm();
	test_matmul();
	test_batch_bits();
	test_conversions();
	return tap_done();
}
