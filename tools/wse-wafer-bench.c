/* SPDX-License-Identifier: MIT */
/*
 * wse-wafer-bench - how fast the wafer model runs on this host, measured
 * against the host's own memory bandwidth in the same run, and what the
 * timing model predicts for Llama 3.1 8B / 70B decoding on CS-3 systems.
 *
 * A matrix-vector product only reads its weights, so its limit is the
 * host's read bandwidth, measured the strongest way the machine allows: a
 * read-only sum on every online core. A copy is printed too, but it is no
 * limit for a read: it also writes, and unless its stores bypass the cache,
 * write-allocate reads each destination line before writing it, so a copy
 * moves more bytes than it counts.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qemu-dev/wafer/wafer.h"
#include "tools/host_memory.h"

struct options {
	uint32_t dtype;
	uint64_t mib;
	uint32_t threads;
	uint32_t reps;
	int llama_only;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: wse-wafer-bench [options]\n"
		"\n"
		"Measures the host's read bandwidth on all online cores (a read-only sum: the\n"
		"limit of a matrix-vector product, which only reads its weights) and its copy\n"
		"bandwidth, then the wafer model's matrix-vector product on a weight matrix\n"
		"bigger than the last-level cache, and prints them in GB/s with the product's\n"
		"fraction of each, the read-only one first; then GFLOP/s of a few other ops;\n"
		"then the timing model's Llama 3.1 8B / 70B decode prediction.\n"
		"\n"
		"  -d, --dtype TYPE   weight type of the matrix-vector test: f32 (default),\n"
		"                     f16, bf16 or q8_0\n"
		"  -m, --mib N        size of the weight matrix in MiB (default 512); the\n"
		"                     memory tests use arrays of this size\n"
		"  -t, --threads N    the wafer model's threads, 0 = one per online CPU\n"
		"                     (default 0); the memory limit always uses every CPU\n"
		"  -r, --reps N       repetitions, the best one counts (default 5)\n"
		"      --llama        only print the timing model's Llama predictions\n"
		"  -h, --help         this text\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static uint32_t online_cpus(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus < 1 ? 1 : cpus > WAFER_MAX_THREADS ? WAFER_MAX_THREADS : (uint32_t)cpus;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "dtype", required_argument, NULL, 'd' },
		{ "mib", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },
		{ "llama", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const names[] = { "f32", "f16", "bf16", "q8_0" };
	uint64_t v;
	int c;

	*o = (struct options){ .dtype = WSE_HW_DTYPE_F32, .mib = 512, .reps = 5 };
	while ((c = getopt_long(argc, argv, "d:m:t:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dtype = WSE_HW_DTYPE_COUNT;
			for (uint32_t i = 0; i < WSE_HW_DTYPE_COUNT; i++)
				if (!strcmp(optarg, names[i]))
					o->dtype = i;
			if (o->dtype == WSE_HW_DTYPE_COUNT) {
				fprintf(stderr, "wse-wafer-bench: --dtype must be f32, f16, bf16 or q8_0, not \"%s\"\n",
					optarg);
				return -1;
			}
			break;
		case 'm':
			if (parse_u64(optarg, 16, 16384, &v)) {
				fprintf(stderr, "wse-wafer-bench: --mib must be 16..16384, not \"%s\"\n", optarg);
				return -1;
			}
			o->mib = v;
			break;
		case 't':
			if (parse_u64(optarg, 0, WAFER_MAX_THREADS, &v)) {
				fprintf(stderr, "wse-wafer-bench: --threads must be 0..%u, not \"%s\"\n",
					WAFER_MAX_THREADS, optarg);
				return -1;
			}
			o->threads = (uint32_t)v;
			break;
		case 'r':
			if (parse_u64(optarg, 1, 1000, &v)) {
				fprintf(stderr, "wse-wafer-bench: --reps must be 1..1000, not \"%s\"\n", optarg);
				return -1;
			}
			o->reps = (uint32_t)v;
			break;
		case 'L':
			o->llama_only = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wse-wafer-bench: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (!o->threads)
		o->threads = online_cpus();
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- host memory bandwidth ----------------------------------------------------- */

struct mem_part {
	const uint64_t *a;
	uint64_t *b;		/* NULL: read-only sum */
	size_t n;		/* words, a multiple of 8 */
	uint64_t sum;
};

static void *mem_worker(void *arg)
{
	struct mem_part *p = arg;

	if (p->b)
		memcpy(p->b, p->a, p->n * sizeof(*p->a));
	else
		p->sum = host_read_sum(p->a, p->n);
	return NULL;
}

/* Best seconds of reps passes over n words (b NULL: reading a; else copying a to b) on threads. */
static double mem_run(const uint64_t *a, uint64_t *b, size_t n, uint32_t threads, uint32_t reps,
		      uint64_t *sink)
{
	pthread_t tid[WAFER_MAX_THREADS];
	struct mem_part parts[WAFER_MAX_THREADS];
	double best = INFINITY;

	for (uint32_t r = 0; r < reps; r++) {
		int started[WAFER_MAX_THREADS] = { 0 };
		double t0 = now();

		for (uint32_t i = 0; i < threads; i++) {
			size_t begin = n * i / threads / 8 * 8, end = n * (i + 1) / threads / 8 * 8;

			parts[i] = (struct mem_part){ a + begin, b ? b + begin : NULL, end - begin, 0 };
		}
		for (uint32_t i = 1; i < threads; i++)
			started[i] = !pthread_create(&tid[i], NULL, mem_worker, &parts[i]);
		mem_worker(&parts[0]);
		for (uint32_t i = 1; i < threads; i++) {
			if (started[i])
				pthread_join(tid[i], NULL);
			else
				mem_worker(&parts[i]);
		}
		best = fmin(best, now() - t0);
		for (uint32_t i = 0; i < threads; i++)
			*sink += parts[i].sum;
	}
	return best;
}

/* ---- the wafer model on this host ------------------------------------------------- */

static uint64_t xorshift = 0x2545f4914f6cdd1dull;

static float rnd(void)
{
	xorshift ^= xorshift << 13;
	xorshift ^= xorshift >> 7;
	xorshift ^= xorshift << 17;
	return (float)((xorshift >> 40) * 0x1p-24 - 0.5);
}

/* Fills bytes of SRAM with a matrix of random weights of dtype (cols per row). */
static void fill_weights(uint8_t *p, uint32_t dtype, uint64_t rows, uint64_t cols)
{
	uint64_t n = rows * cols;

	for (uint64_t i = 0; i < n; i++) {
		switch (dtype) {
		case WSE_HW_DTYPE_F32:
			((float *)p)[i] = rnd();
			break;
		case WSE_HW_DTYPE_F16:
			((uint16_t *)p)[i] = wafer_f32_to_f16(rnd());
			break;
		case WSE_HW_DTYPE_BF16:
			((uint16_t *)p)[i] = wafer_f32_to_bf16(rnd());
			break;
		default:
			if (i % WSE_Q8_0_BLOCK == 0) {
				uint16_t scale = wafer_f32_to_f16(0.01f);

				memcpy(p + i / WSE_Q8_0_BLOCK * WSE_Q8_0_BLOCK_BYTES, &scale, 2);
			}
			p[i / WSE_Q8_0_BLOCK * WSE_Q8_0_BLOCK_BYTES + 2 + i % WSE_Q8_0_BLOCK] =
				(uint8_t)(int8_t)(rnd() * 200);
			break;
		}
	}
}

static void fill_f32(float *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		p[i] = rnd();
}

/* Best seconds of reps runs of one record; *cycles gets its modelled cycles. */
static double time_op(struct wafer *w, void *rec, uint32_t reps, uint64_t *cycles)
{
	double best = INFINITY;

	for (uint32_t r = 0; r < reps; r++) {
		double t0 = now();
		int st = wafer_exec(w, rec, cycles);

		if (st) {
			fprintf(stderr, "wse-wafer-bench: op %u failed with status %d\n",
				((struct wse_hw_op_hdr *)rec)->op, st);
			exit(1);
		}
		best = fmin(best, now() - t0);
	}
	return best;
}

/* Times one record and prints host GFLOP/s next to its modelled cycles. */
static void bench_op(struct wafer *w, void *rec, uint32_t reps, const char *what, double flops)
{
	uint64_t cycles = 0;
	double seconds = time_op(w, rec, reps, &cycles);

	printf("  %-44s %9.3f ms %8.2f GFLOP/s   modelled %9llu cycles (%.2f us on a CS-3)\n",
	       what, seconds * 1e3, flops / seconds * 1e-9, (unsigned long long)cycles,
	       cycles / 1.1e3);
}

static const char *const dtype_names[] = { "f32", "f16", "bf16", "q8_0" };

static int host_benchmarks(const struct options *o)
{
	uint64_t bytes = o->mib << 20, n = bytes / sizeof(uint64_t), sink = 0;
	uint64_t *a = malloc(bytes), *b = malloc(bytes);
	uint32_t cores = online_cpus();
	double t_mv = INFINITY, copy_gbs = 0, read_gbs = 0, own_read_gbs = 0, limit_gbs, mv_gbs;
	const char *limit_from;
	char label[80];
	uint64_t cols = 4096, rows, wbytes, cycles, off;
	struct wafer_config config = { .preset = WAFER_PRESET_SMALL, .threads = o->threads };
	struct wafer_info info;
	struct wafer *w;

	if (!a || !b) {
		fprintf(stderr, "wse-wafer-bench: cannot allocate 2 x %llu MiB\n",
			(unsigned long long)o->mib);
		return 1;
	}
	memset(a, 1, bytes);
	memset(b, 2, bytes);
	/* One matrix of --mib MiB, rows of 4096 weights, plus room for x, y and the others. */
	rows = bytes / wafer_weight_bytes(o->dtype, 1, cols);
	wbytes = wafer_weight_bytes(o->dtype, rows, cols);
	config.sram_bytes = (wbytes + (256ull << 20) + 4095) & ~4095ull;
	if (config.sram_bytes > WAFER_SRAM_MAX)
		config.sram_bytes = WAFER_SRAM_MAX;
	w = wafer_create(&config);
	if (!w) {
		fprintf(stderr, "wse-wafer-bench: cannot create a wafer of %llu bytes: %s\n",
			(unsigned long long)config.sram_bytes, strerror(errno));
		return 1;
	}
	wafer_get_info(w, &info);
	fill_weights(wafer_sram(w, 0, wbytes), o->dtype, rows, cols);
	off = (wbytes + 4095) & ~4095ull;
	struct wse_hw_op_matmul mv = {
		.hdr = { .op = WSE_OP_MATMUL, .length = sizeof(mv) },
		.w = 0, .x = off, .y = off + (1u << 20), .rows = rows, .cols = cols, .batch = 1,
		.wtype = o->dtype,
	};
	fill_f32(wafer_sram(w, mv.x, cols * 4), cols);

	/*
	 * The memory figures are the best of passes before and after the product,
	 * so that other load on the host during one of them does not lower the
	 * limit the product is held to.
	 */
	for (int pass = 0; pass < 2; pass++) {
		read_gbs = fmax(read_gbs, bytes / mem_run(a, NULL, n, cores, o->reps, &sink) * 1e-9);
		if (o->threads != cores)
			own_read_gbs = fmax(own_read_gbs,
					    bytes / mem_run(a, NULL, n, o->threads, o->reps, &sink) * 1e-9);
		copy_gbs = fmax(copy_gbs, 2.0 * bytes / mem_run(a, b, n, cores, o->reps, &sink) * 1e-9);
		if (pass == 0)
			t_mv = time_op(w, &mv, o->reps, &cycles);
	}
	free(a);
	free(b);
	if (o->threads == cores)
		own_read_gbs = read_gbs;
	/* The limit is the most the host read: all cores, unless other load spoilt both of those runs. */
	limit_gbs = fmax(read_gbs, own_read_gbs);
	limit_from = read_gbs >= own_read_gbs ? "all cores" : "its threads";

	printf("host memory (arrays of %llu MiB, best of 2 x %u passes):\n",
	       (unsigned long long)o->mib, o->reps);
	snprintf(label, sizeof(label), "read-only sum, all %u cores", cores);
	printf("  %-52s %8.2f GB/s%s\n", label, read_gbs,
	       read_gbs >= own_read_gbs ? "  [the limit]" : "");
	if (o->threads != cores) {
		snprintf(label, sizeof(label), "read-only sum, the wafer's %u thread(s)", o->threads);
		printf("  %-52s %8.2f GB/s%s\n", label, own_read_gbs,
		       read_gbs < own_read_gbs ? "  [the limit: more than all cores read]" : "");
	}
	snprintf(label, sizeof(label), "memcpy, all %u cores (read + write counted)", cores);
	printf("  %-52s %8.2f GB/s  (no limit for a read)\n", label, copy_gbs);

	printf("\nwafer model (%s kernels, %u threads):\n", wafer_kernels_name(w), o->threads);
	mv_gbs = wbytes / t_mv * 1e-9;
	snprintf(label, sizeof(label), "matrix-vector %llu x %llu %s (%.0f MiB)",
		 (unsigned long long)rows, (unsigned long long)cols, dtype_names[o->dtype],
		 wbytes / 1048576.0);
	printf("  %-52s %8.2f GB/s of weights, %.2f GFLOP/s\n", label, mv_gbs,
	       2.0 * rows * cols / t_mv * 1e-9);
	snprintf(label, sizeof(label), "fraction of the limit (read-only, %s)", limit_from);
	printf("  %-52s %8.2f\n", label, mv_gbs / limit_gbs);
	if (o->threads != cores) {
		snprintf(label, sizeof(label), "fraction of the read-only sum on its %u thread(s)",
			 o->threads);
		printf("  %-52s %8.2f\n", label, mv_gbs / own_read_gbs);
	}
	printf("  %-52s %8.2f\n", "ratio to the all-core memcpy (read + write counted)",
	       mv_gbs / copy_gbs);

	/* A few more ops, on the same weights where they need some. */
	printf("\nother ops (best of %u; GFLOP/s on this host, cycles from the timing model\n"
	       "on the whole %u x %u grid):\n", o->reps, info.grid_w, info.grid_h);
	uint64_t act = off + (2u << 20);
	float *scratch_f = wafer_sram(w, act, 64ull << 20);

	fill_f32(scratch_f, (64ull << 20) / 4);
	mv.rows = rows < 4096 ? (uint32_t)rows : 4096;
	mv.batch = 16;
	mv.x = act;
	mv.y = act + (1u << 20);
	bench_op(w, &mv, o->reps, "matmul 4096 x 4096, batch 16 (prefill)",
		 2.0 * mv.rows * cols * 16);

	struct wse_hw_op_attention att = {
		.hdr = { .op = WSE_OP_ATTENTION, .length = sizeof(att) },
		.q = act, .k_cache = act + (1u << 20), .v_cache = act + (9u << 20),
		.out = act + (17u << 20), .n_heads = 32, .n_kv_heads = 8, .head_dim = 128,
		.n_tokens = 1, .pos = 2047, .kv_capacity = 2048,
	};
	bench_op(w, &att, o->reps, "attention 32 heads (8 kv) x 128, 2048 keys",
		 4.0 * 32 * 128 * 2048);

	struct wse_hw_op_rmsnorm rn = {
		.hdr = { .op = WSE_OP_RMSNORM, .length = sizeof(rn) },
		.x = act, .w = act + (1u << 20), .y = act + (2u << 20), .dim = 4096, .rows = 16,
		.eps = 1e-5f,
	};
	bench_op(w, &rn, o->reps, "rmsnorm 16 x 4096", 4.0 * 4096 * 16);

	struct wse_hw_op_softmax sm = {
		.hdr = { .op = WSE_OP_SOFTMAX, .length = sizeof(sm) },
		.x = act, .y = act + (4u << 20), .n = 128256, .rows = 1,
	};
	bench_op(w, &sm, o->reps, "softmax over 128256 logits", 5.0 * 128256);

	struct wse_hw_op_topk tk = {
		.hdr = { .op = WSE_OP_TOPK, .length = sizeof(tk) },
		.x = act, .out_index = act + (4u << 20), .out_value = act + (5u << 20),
		.n = 128256, .k = 40, .rows = 1,
	};
	bench_op(w, &tk, o->reps, "topk 40 of 128256 (flops = comparisons)", 128256.0);

	/* One layer of a ~1B Llama (dim 2048, 32 heads of 64, 8 kv heads) in f16. */
	uint64_t base = act + (32u << 20);
	struct wse_hw_op_layer layer = {
		.hdr = { .op = WSE_OP_LAYER, .length = sizeof(layer) },
		.dim = 2048, .hidden_dim = 5632, .n_heads = 32, .n_kv_heads = 8, .head_dim = 64,
		.n_tokens = 1, .pos = 511, .kv_capacity = 1024, .wtype = WSE_HW_DTYPE_F16,
		.eps = 1e-5f, .rope_theta = 10000.0f,
	};
	uint64_t qw = 2048ull * 2048 * 2, kvw = 512ull * 2048 * 2, fw = 5632ull * 2048 * 2;
	uint64_t cache = 1024ull * 512 * 4;

	layer.x = base;
	layer.attn_norm = base + 0x10000;
	layer.ffn_norm = base + 0x20000;
	layer.scratch = base + 0x30000;
	layer.k_cache = base + 0x100000;
	layer.v_cache = layer.k_cache + cache;
	layer.wq = layer.v_cache + cache;
	layer.wk = layer.wq + qw;
	layer.wv = layer.wk + kvw;
	layer.wo = layer.wv + kvw;
	layer.w_gate = layer.wo + qw;
	layer.w_up = layer.w_gate + fw;
	layer.w_down = layer.w_up + fw;
	if (layer.w_down + fw <= info.sram_bytes) {
		fill_weights(wafer_sram(w, layer.wq, layer.w_down + fw - layer.wq), WSE_HW_DTYPE_F16, 1,
			     (layer.w_down + fw - layer.wq) / 2);
		/* 2 flops per 2-byte weight, plus attention over 512 keys. */
		bench_op(w, &layer, o->reps, "fused layer, dim 2048, f16, 1 token at 511",
			 (double)(2 * qw + 2 * kvw + 3 * fw) + 4.0 * 2048 * 512);
	}
	if (sink == 1)	/* keeps the read-only sums from being optimised away */
		printf("\n");
	wafer_destroy(w);
	return 0;
}

/* ---- the timing model on Llama 3.1 shapes ------------------------------------------- */

struct llama {
	const char *name;
	uint32_t dim, hidden, n_heads, n_kv, head_dim, layers, vocab, wafers;
	double published;	/* tokens/s */
	const char *published_note;
};

static uint64_t record_cycles(void *rec, const struct wafer_region *r)
{
	return wafer_timing_cycles(rec, r);
}

static void llama_prediction(const struct wafer_info *info, const struct llama *m, uint32_t ctx)
{
	uint32_t per_wafer = (m->layers + m->wafers - 1) / m->wafers;
	uint64_t q_dim = (uint64_t)m->n_heads * m->head_dim, kv_dim = (uint64_t)m->n_kv * m->head_dim;
	uint64_t layer_bytes = 2 * (2 * q_dim * m->dim + 2 * kv_dim * m->dim + 3ull * m->hidden * m->dim);
	uint64_t cache_bytes = 2ull * ctx * kv_dim * 4;
	uint64_t table_bytes = 2ull * m->vocab * m->dim;
	uint64_t pe_bytes = info->pe_sram_bytes;
	struct wafer_region tile = { 0 };
	uint32_t tiles = 0, table_tiles = 0;

	/*
	 * Cut the grid into cx x cy tiles: one per layer of this wafer plus whole
	 * tiles for the embedding table and the output head. Decode is latency
	 * bound (the fill terms), so the tiles with the fewest hops across win.
	 */
	for (uint32_t cx = 1; cx <= 64; cx++) {
		for (uint32_t cy = 1; cy <= 64; cy++) {
			struct wafer_region r = { 0, 0, info->grid_w / cx, info->grid_h / cy };
			uint64_t tile_bytes = (uint64_t)r.w * r.h * pe_bytes;
			uint32_t tt;

			if (tile_bytes < layer_bytes + cache_bytes)
				continue;
			tt = (uint32_t)((table_bytes + tile_bytes - 1) / tile_bytes);
			if (cx * cy < per_wafer + 2 * tt)
				continue;
			if (!tile.w || r.w + r.h < tile.w + tile.h) {
				tile = r;
				tiles = cx * cy;
				table_tiles = tt;
			}
		}
	}
	if (!tile.w) {
		printf("\n%s: does not fit on %u wafers\n", m->name, m->wafers);
		return;
	}

	struct wse_hw_op_layer layer = {
		.hdr = { .op = WSE_OP_LAYER, .length = sizeof(layer),
			 .region = { 0, 0, tile.w, tile.h } },
		.dim = m->dim, .hidden_dim = m->hidden, .n_heads = m->n_heads, .n_kv_heads = m->n_kv,
		.head_dim = m->head_dim, .n_tokens = 1, .pos = ctx - 1, .kv_capacity = ctx,
		.wtype = WSE_HW_DTYPE_BF16, .eps = 1e-5f, .rope_theta = 500000.0f,
	};
	struct wse_hw_op_copy hop = { .hdr = { .op = WSE_OP_COPY, .length = sizeof(hop),
					       .region = layer.hdr.region },
				      .bytes = 4ull * m->dim };
	struct wse_hw_op_embed embed = { .hdr = { .op = WSE_OP_EMBED, .length = sizeof(embed),
						  .region = layer.hdr.region },
					 .dim = m->dim, .vocab = m->vocab, .n_tokens = 1,
					 .wtype = WSE_HW_DTYPE_BF16 };
	struct wse_hw_op_rmsnorm norm = { .hdr = { .op = WSE_OP_RMSNORM, .length = sizeof(norm),
						   .region = layer.hdr.region },
					  .dim = m->dim, .rows = 1, .eps = 1e-5f };
	/* The output head is split by rows over its tiles, which run at the same time. */
	struct wse_hw_op_matmul head = { .hdr = { .op = WSE_OP_MATMUL, .length = sizeof(head),
						  .region = layer.hdr.region },
					 .rows = (m->vocab + table_tiles - 1) / table_tiles,
					 .cols = m->dim, .batch = 1, .wtype = WSE_HW_DTYPE_BF16 };
	struct wse_hw_op_argmax am = { .hdr = { .op = WSE_OP_ARGMAX, .length = sizeof(am),
						.region = layer.hdr.region },
				       .n = m->vocab, .rows = 1 };
	uint64_t c_layer = record_cycles(&layer, &tile), c_hop = record_cycles(&hop, &tile);
	uint64_t c_embed = record_cycles(&embed, &tile), c_norm = record_cycles(&norm, &tile);
	uint64_t c_head = record_cycles(&head, &tile), c_argmax = record_cycles(&am, &tile);
	uint64_t c_link = wafer_timing_host_copy(4ull * m->dim);
	uint64_t total = c_embed + m->layers * (c_layer + c_hop) + (m->wafers - 1) * c_link +
			 c_norm + c_head + c_argmax;
	double tps = 1.1e9 / total;
	union wafer_record steps[WAFER_LAYER_STEPS];
	static const char *const step_names[WAFER_LAYER_STEPS] = {
		"rmsnorm", "matmul wq", "matmul wk", "matmul wv", "rope q", "rope k", "attention",
		"matmul wo (+x)", "rmsnorm", "matmul w_gate", "matmul w_up", "silu_mul",
		"matmul w_down (+x)",
	};

	printf("\n%s, bf16 weights, decode at context %u, %u CS-3 (%u layers each):\n", m->name, ctx,
	       m->wafers, per_wafer);
	printf("  placement: %u tiles of %u x %u PEs per wafer (%.2f GB each): one per layer "
	       "(%.2f GB of weights + %.3f GB of KV cache), %u each for the embedding table and the "
	       "output head (%.2f GB)\n",
	       tiles, tile.w, tile.h, (double)tile.w * tile.h * pe_bytes / 1e9, layer_bytes / 1e9,
	       cache_bytes / 1e9, table_tiles, table_bytes / 1e9);
	printf("  one layer: %llu cycles =", (unsigned long long)c_layer);
	wafer_layer_steps(&layer, steps);
	for (int i = 0; i < WAFER_LAYER_STEPS; i++)
		printf("%s %s %llu", i ? " +" : "", step_names[i],
		       (unsigned long long)wafer_timing_cycles(&steps[i], &tile));
	printf("\n");
	printf("  per token: embed %llu + %u x (layer %llu + hop to the next tile %llu) + %u x "
	       "wafer-to-wafer %llu + norm %llu + output head %llu + argmax %llu = %llu cycles\n",
	       (unsigned long long)c_embed, m->layers, (unsigned long long)c_layer,
	       (unsigned long long)c_hop, m->wafers - 1, (unsigned long long)c_link,
	       (unsigned long long)c_norm, (unsigned long long)c_head, (unsigned long long)c_argmax,
	       (unsigned long long)total);
	printf("  predicted %.0f tokens/s (%.1f us/token); published %.0f tokens/s (%s): "
	       "model / published = %.2f\n",
	       tps, total / 1.1e3, m->published, m->published_note, tps / m->published);
}

static void llama_predictions(void)
{
	struct wafer_config config = { .preset = WAFER_PRESET_CS3, .threads = 1 };
	struct wafer *w = wafer_create(&config);
	struct wafer_info info;
	const struct llama models[] = {
		{ "Llama 3.1 8B", 4096, 14336, 32, 8, 128, 32, 128256, 1, 1800,
		  "Cerebras Inference launch, Aug 2024" },
		{ "Llama 3.1 70B", 8192, 28672, 64, 8, 128, 80, 128256, 4, 450,
		  "launch, Aug 2024, on 4 CS-3; ~2,100 after later software updates" },
	};

	if (!w) {
		fprintf(stderr, "wse-wafer-bench: cannot create a cs3 wafer: %s\n", strerror(errno));
		return;
	}
	wafer_get_info(w, &info);
	printf("\ntiming model predictions (cs3 preset: %u x %u PEs, %u KiB each, 1.1 GHz)\n",
	       info.grid_w, info.grid_h, info.pe_sram_bytes >> 10);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		llama_prediction(&info, &models[i], 1024);
		llama_prediction(&info, &models[i], 8192);
	}
	wafer_destroy(w);
}

int main(int argc, char **argv)
{
	struct options o;

	if (parse_options(argc, argv, &o))
		return 2;
	if (!o.llama_only && host_benchmarks(&o))
		return 1;
	llama_predictions();
	return 0;
}
