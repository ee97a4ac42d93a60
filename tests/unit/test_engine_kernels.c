// SPDX-License-Identifier: MIT
/*
 * test_engine_kernels - the cpu backend's kernels against double precision:
 * eng_rmsnorm on ordinary rows, rows whose mean square is near eps (where a
 * wrong sign or a missing eps shows at once) and an all-zero row; and
 * eng_matmul_rows for every dtype, SIMD and scalar, with column counts that
 * leave tails and 1 to 5 activation rows (the decode, 2-row and 4-row
 * paths), weights decoded by the test's own code (tests/unit/llama_ref.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels.h"
#include "engine/sampler.h"
#include "tests/tap.h"
#include "tests/unit/engine_tiny_model.h"
#include "tests/unit/llama_ref.h"

/*
 * eng_rmsnorm sums squares in float: worst observed relative error 1.1e-7
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
		eng_rmsnorm(out, x, w, D, eps);
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
	TAP_OK(finite, "eng_rmsnorm output is finite for every row, the all-zero row included");
	TAP_OK(zero_ok, "eng_rmsnorm of an all-zero row is exactly zero");
	TAP_OK(worst <= NORM_TOL, "eng_rmsnorm matches double precision for mean squares 1e-6..1/3 with eps 1e-5 (worst %.2g relative)",
	       worst);
}

static void check_matmul(enum eng_dtype type, uint64_t rows, uint64_t cols, int scalar, double *worst)
{
	float *f = malloc(rows * cols * sizeof(float));
	uint8_t *wbytes;
	struct eng_tensor t;
	int n = 5;
	float *x = malloc((size_t)n * cols * sizeof(float)), *y = malloc((size_t)n * rows * sizeof(float));

	for (uint64_t i = 0; i < rows * cols; i++)
		f[i] = uniform(0.5f);
	wbytes = tiny_encode(f, type, rows, cols);	/* frees f */
	for (uint64_t i = 0; i < (uint64_t)n * cols; i++)
		x[i] = uniform(1.0f);
	t = (struct eng_tensor){ .data = wbytes, .type = type, .rows = rows, .cols = cols,
				 .row_bytes = tiny_row_bytes(type, cols) };
	eng_kernels_force_scalar(scalar);
	for (int batch = 1; batch <= n; batch++) {
		/* rows split in two calls, as the thread pool does */
		eng_matmul_rows(&t, x, cols, batch, y, rows, 0, rows / 2);
		eng_matmul_rows(&t, x, cols, batch, y, rows, rows / 2, rows);
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
	eng_kernels_force_scalar(0);
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
			       eng_dtype_name(types[i]), scalar ? "scalar" : eng_kernels_simd() ? "SIMD" : "scalar (no SIMD)",
			       (unsigned long long)cols[1], (unsigned long long)cols[2], worst);
		}
}

int main(void)
{
	eng_rng_seed(&rng, 2024);
	test_rmsnorm();
	test_matmul();
	return tap_done();
}
