// SPDX-License-Identifier: MIT
/*
 * wse-infer-bench - decode speed of the cpu backend against this host's
 * memory bandwidth, measured in the same run. Decode reads every weight once
 * per token, so tokens/s x weight bytes per token cannot exceed the host's
 * read bandwidth; the printed fraction says how close the backend gets.
 * The limit is the strongest the machine shows: a read-only sum on every
 * online core (a backend on fewer threads has the same memory to read), or
 * the backend's thread count if that read more while other load spoilt the
 * all-core runs. The read bandwidth of the backend's thread count and an
 * all-core copy are printed beside it, each labelled with what it is.
 * Without -m it builds a random Llama of ~134M parameters in memory.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/gguf.h"
#include "engine/gguf_write.h"
#include "engine/sampler.h"
#include "engine/threadpool.h"
#include "tools/host_memory.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct mem_job {
	const uint64_t *src;
	uint64_t *dst;		/* NULL: read-only sum */
	size_t words_per_task;
	uint64_t sums[64];
};

static void mem_task(void *ctx, int task, int thread)
{
	struct mem_job *j = ctx;
	size_t first = (size_t)task * j->words_per_task;

	if (j->dst) {
		memcpy(j->dst + first, j->src + first, j->words_per_task * 8);
		return;
	}
	j->sums[thread & 63] += host_read_sum(j->src + first, j->words_per_task);
}

/*
 * Best of 5 passes of the pool's threads over a buffer much larger than the
 * caches, in bytes/s: a read-only sum, or with copy a memcpy into a second
 * buffer, counted as the bytes read plus the bytes written.
 */
static double host_bandwidth(struct eng_pool *pool, size_t bytes, int copy)
{
	struct mem_job job = { 0 };
	uint64_t *src = malloc(bytes), *dst = copy ? malloc(bytes) : NULL;
	int tasks = 256;
	double best = 0, moved;

	if (!src || (copy && !dst)) {
		free(src);
		return 0;
	}
	memset(src, 1, bytes);
	if (dst)
		memset(dst, 2, bytes);
	job.src = src;
	job.dst = dst;
	job.words_per_task = bytes / 8 / (size_t)tasks / 8 * 8;
	moved = (double)job.words_per_task * 8 * tasks * (copy ? 2 : 1);
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now(), t;

		eng_pool_run(pool, mem_task, &job, tasks);
		t = now() - t0;
		if (moved / t > best)
			best = moved / t;
	}
	if (job.sums[0] == 42 || (dst && dst[1] == 42))	/* keep the results alive */
		printf(" ");
	free(src);
	free(dst);
	return best;
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

struct mem_figures {
	double read_all;	/* read-only sum on every online core */
	double read_own;	/* read-only sum on the backend's thread count */
	double copy_all;	/* memcpy on every online core, read + write counted */
};

/*
 * One pass of the three measurements, each kept if better than before: the
 * caller runs a pass before and one after the decode, so that other load on
 * the host during one of them does not lower the limit. 0 on success.
 */
static int measure_memory(struct mem_figures *f, int cores, int own_threads)
{
	const size_t bytes = (size_t)512 << 20;
	struct eng_pool *pool = eng_pool_create(cores);
	double read_all = 0, read_own = 0, copy_all = 0;

	if (pool) {
		read_all = host_bandwidth(pool, bytes, 0);
		copy_all = host_bandwidth(pool, bytes, 1);
		eng_pool_destroy(pool);
	}
	if (own_threads == cores) {
		read_own = read_all;
	} else if ((pool = eng_pool_create(own_threads))) {
		read_own = host_bandwidth(pool, bytes, 0);
		eng_pool_destroy(pool);
	}
	if (read_all <= 0 || read_own <= 0 || copy_all <= 0)
		return -1;
	f->read_all = read_all > f->read_all ? read_all : f->read_all;
	f->read_own = read_own > f->read_own ? read_own : f->read_own;
	f->copy_all = copy_all > f->copy_all ? copy_all : f->copy_all;
	return 0;
}

static void *random_weights(struct eng_rng *rng, enum eng_dtype type, uint64_t rows, uint64_t cols, float scale)
{
	uint64_t bytes = eng_row_bytes(type, cols) * rows;
	uint8_t *out = malloc(bytes);

	if (!out)
		return NULL;
	for (uint64_t r = 0; r < rows; r++) {
		uint8_t *row = out + r * eng_row_bytes(type, cols);

		for (uint64_t c = 0; c < cols; c++) {
			float f = scale * (2.0f * eng_rng_float(rng) - 1.0f);
			uint16_t h;

			switch (type) {
			case ENG_F32: memcpy(row + 4 * c, &f, 4); break;
			case ENG_F16: h = kern_f32_to_f16(f); memcpy(row + 2 * c, &h, 2); break;
			case ENG_BF16: h = kern_f32_to_bf16(f); memcpy(row + 2 * c, &h, 2); break;
			case ENG_Q8_0:
				if (c % 32 == 0) {
					h = kern_f32_to_f16(scale / 127.0f);
					memcpy(row + c / 32 * 34, &h, 2);
				}
				row[c / 32 * 34 + 2 + c % 32] = (uint8_t)(int8_t)(f / scale * 127.0f);
				break;
			default: break;
			}
		}
	}
	return out;
}

/* dim 768, 12 layers, FFN 2048, vocab 32000, untied output: 134M parameters. */
static void *build_model(enum eng_dtype type, uint32_t layers, size_t *size)
{
	const uint32_t dim = 768, hidden = 2048, heads = 12, vocab = 32000;
	struct gguf_writer *w = gguf_writer_new();
	void **keep = calloc(16 + 9 * (size_t)layers, sizeof(void *));
	int n_keep = 0;
	struct eng_rng rng;
	struct eng_err err;
	void *buf = NULL;
	char name[64];
	float *norm = malloc(dim * sizeof(float));

	eng_rng_seed(&rng, 1);
	for (uint32_t i = 0; i < dim; i++)
		norm[i] = 1.0f;
	gguf_w_str(w, "general.architecture", "llama");
	gguf_w_u32(w, "llama.embedding_length", dim);
	gguf_w_u32(w, "llama.block_count", layers);
	gguf_w_u32(w, "llama.feed_forward_length", hidden);
	gguf_w_u32(w, "llama.attention.head_count", heads);
	gguf_w_u32(w, "llama.attention.head_count_kv", heads);
	gguf_w_u32(w, "llama.context_length", 1024);
#define ADD(nm, rows, cols, data) do { uint64_t ne[2] = { cols, rows }; \
	gguf_w_tensor(w, nm, (rows) == 1 ? ENG_F32 : type, (rows) == 1 ? 1 : 2, ne, data); } while (0)
	ADD("token_embd.weight", vocab, dim, keep[n_keep++] = random_weights(&rng, type, vocab, dim, 1.0f));
	ADD("output.weight", vocab, dim, keep[n_keep++] = random_weights(&rng, type, vocab, dim, 0.05f));
	ADD("output_norm.weight", 1, dim, norm);
	for (uint32_t l = 0; l < layers; l++) {
		const struct { const char *s; uint32_t rows, cols; } t[] = {
			{ "attn_q", dim, dim }, { "attn_k", dim, dim }, { "attn_v", dim, dim },
			{ "attn_output", dim, dim }, { "ffn_gate", hidden, dim }, { "ffn_down", dim, hidden },
			{ "ffn_up", hidden, dim },
		};

		snprintf(name, sizeof(name), "blk.%u.attn_norm.weight", l);
		ADD(name, 1, dim, norm);
		snprintf(name, sizeof(name), "blk.%u.ffn_norm.weight", l);
		ADD(name, 1, dim, norm);
		for (int i = 0; i < 7; i++) {
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, t[i].s);
			ADD(name, t[i].rows, t[i].cols,
			    keep[n_keep++] = random_weights(&rng, type, t[i].rows, t[i].cols, 0.03f));
		}
	}
#undef ADD
	if (gguf_writer_to_mem(w, &buf, size, &err)) {
		fprintf(stderr, "wse-infer-bench: %s\n", err.msg);
		buf = NULL;
	}
	gguf_writer_free(w);
	for (int i = 0; i < n_keep; i++)
		free(keep[i]);
	free(keep);
	free(norm);
	return buf;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' }, { "type", required_argument, NULL, 'T' },
		{ "tokens", required_argument, NULL, 'n' }, { "threads", required_argument, NULL, 't' },
		{ "layers", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
		{ "backend", required_argument, NULL, 'b' }, { "devices", required_argument, NULL, 'd' },
		{ 0 }
	};
	const char *model_path = NULL, *backend = "cpu";
	enum eng_dtype type = ENG_F16;
	int n_decode = 32, threads = 0, layers = 12, c;
	struct eng_backend_config cfg = { .n_ctx = 256 };
	struct eng_model *m = NULL;
	struct eng_backend *be;
	struct eng_err err;
	void *image = NULL;
	size_t image_size;
	float *logits;
	int32_t tok = 1, prompt[32];
	double t0, t_prefill, t_decode, modelled = 0;
	struct mem_figures mem = { 0 };
	int cores = online_cpus();
	struct eng_backend_stats st;

	while ((c = getopt_long(argc, argv, "m:T:n:t:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': backend = optarg; break;
		case 'd': cfg.n_devices = atoi(optarg); break;
		case 'm': model_path = optarg; break;
		case 'T':
			if (!strcmp(optarg, "f32")) type = ENG_F32;
			else if (!strcmp(optarg, "f16")) type = ENG_F16;
			else if (!strcmp(optarg, "bf16")) type = ENG_BF16;
			else if (!strcmp(optarg, "q8_0")) type = ENG_Q8_0;
			else { fprintf(stderr, "wse-infer-bench: --type is f32, f16, bf16 or q8_0\n"); return 2; }
			break;
		case 'n': n_decode = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'l': layers = atoi(optarg); break;
		case 'h':
			printf("usage: wse-infer-bench [-m MODEL] [--type f32|f16|bf16|q8_0] [--tokens N] [--threads N] [--layers N]\n"
			       "                       [--backend cpu|wse] [--devices N]\n"
			       "Decode tokens/s of a backend and its fraction of the host read bandwidth.\n"
			       "The last line, \"bench: key=value ...\", is for tools/wse-compare.\n");
			return 0;
		default:
			fprintf(stderr, "Try 'wse-infer-bench --help'.\n");
			return 2;
		}
	}
	if (n_decode < 1 || n_decode > 200 || layers < 1 || layers > 64 || threads < 0 ||
	    cfg.n_devices < 0 || cfg.n_devices > 64) {
		fprintf(stderr, "wse-infer-bench: --tokens 1..200, --layers 1..64, --threads >= 0, --devices 0..64\n");
		return 2;
	}
	if (model_path) {
		m = eng_model_load(model_path, NULL, &err);
	} else {
		struct gguf_file *gf;

		printf("building a random %d-layer %s model in memory...\n", layers, eng_dtype_name(type));
		fflush(stdout);
		image = build_model(type, (uint32_t)layers, &image_size);
		gf = image ? gguf_open_mem(image, image_size, &err) : NULL;
		m = gf ? eng_model_from_gguf(gf, &err) : NULL;
		if (gf && !m)
			gguf_close(gf);
	}
	if (!m) {
		fprintf(stderr, "wse-infer-bench: %s\n", err.msg);
		free(image);
		return 1;
	}
	cfg.n_threads = threads;
	be = eng_backend_create(backend, m, &cfg, &err);
	if (!be) {
		fprintf(stderr, "wse-infer-bench: %s\n", err.msg);
		return 1;
	}
	printf("model: %.1fM parameters, %.1f MB of weights, %.1f MB read per decoded token; backend %s, %d threads\n",
	       eng_model_param_count(m) / 1e6, m->weight_bytes / 1e6, m->decode_bytes / 1e6, backend,
	       be->cfg.n_threads);
	logits = malloc(sizeof(float) * m->hp.vocab_size);
	for (int i = 0; i < 32; i++)
		prompt[i] = (int32_t)((i * 7919u + 1) % m->hp.vocab_size);

	if (measure_memory(&mem, cores, be->cfg.n_threads)) {
		fprintf(stderr, "wse-infer-bench: cannot allocate the 2 x 512 MiB bandwidth buffers\n");
		return 1;
	}
	t0 = now();
	if (eng_backend_forward(be, prompt, 32, 0, logits, 0, &err)) {
		fprintf(stderr, "wse-infer-bench: %s\n", err.msg);
		return 1;
	}
	t_prefill = now() - t0;
	/* greedy continuation; the first step also warms the page cache / TLB */
	if (eng_backend_forward(be, &tok, 1, 32, logits, 0, &err)) {
		fprintf(stderr, "wse-infer-bench: %s\n", err.msg);
		return 1;
	}
	t0 = now();
	for (int i = 0; i < n_decode; i++) {
		int32_t best = 0;

		for (uint32_t v = 1; v < m->hp.vocab_size; v++)
			if (logits[v] > logits[best])
				best = (int32_t)v;
		if (eng_backend_forward(be, &best, 1, 33 + (uint32_t)i, logits, 0, &err)) {
			fprintf(stderr, "wse-infer-bench: %s\n", err.msg);
			return 1;
		}
	}
	t_decode = now() - t0;
	if (measure_memory(&mem, cores, be->cfg.n_threads)) {
		fprintf(stderr, "wse-infer-bench: cannot allocate the 2 x 512 MiB bandwidth buffers\n");
		return 1;
	}
	{
		double tps = n_decode / t_decode;
		double achieved = tps * (double)m->decode_bytes;
		/* The limit is the most the host read: all cores, unless other load spoilt both runs. */
		double limit = mem.read_all >= mem.read_own ? mem.read_all : mem.read_own;
		int threads = be->cfg.n_threads;
		char label[80];

		printf("prefill: 32 tokens in %.3f s (%.1f tok/s, batched)\n", t_prefill, 32 / t_prefill);
		printf("decode: %d tokens in %.3f s = %.2f tok/s -> %.2f GB/s of weights\n", n_decode, t_decode,
		       tps, achieved / 1e9);
		printf("host memory, same run (512 MiB buffers, best of 2 x 5 passes, before and after the decode):\n");
		snprintf(label, sizeof(label), "read-only sum, all %d cores", cores);
		printf("  %-44s %7.2f GB/s -> %.2f tok/s%s\n", label, mem.read_all / 1e9,
		       mem.read_all / (double)m->decode_bytes,
		       mem.read_all >= mem.read_own ? "  [the limit]" : "");
		if (threads != cores) {
			snprintf(label, sizeof(label), "read-only sum, the backend's %d thread(s)", threads);
			printf("  %-44s %7.2f GB/s -> %.2f tok/s%s\n", label, mem.read_own / 1e9,
			       mem.read_own / (double)m->decode_bytes,
			       mem.read_all < mem.read_own ? "  [the limit: more than all cores read]" : "");
		}
		snprintf(label, sizeof(label), "memcpy, all %d cores (read + write counted)", cores);
		printf("  %-44s %7.2f GB/s (no limit: decode only reads)\n", label, mem.copy_all / 1e9);
		printf("fraction of the limit (read-only sum, %s): %.2f\n",
		       mem.read_all >= mem.read_own ? "all cores" : "the backend's threads",
		       achieved / limit);
		if (threads != cores)
			printf("fraction of the read-only sum on the backend's %d thread(s): %.2f\n",
			       threads, achieved / mem.read_own);
		eng_backend_get_stats(be, &st);
		if (st.modelled_decode_cycles && st.decode_steps && st.modelled_clock_hz > 0)
			modelled = st.decode_steps * st.modelled_clock_hz / (double)st.modelled_decode_cycles;
		/* host_read_bw is the limit; tools/wse-compare divides by it. */
		printf("bench: backend=%s params=%llu decode_bytes=%llu decode_tok_s=%.4f host_read_bw=%.0f "
		       "host_cores=%d host_read_bw_all_cores=%.0f backend_threads=%d "
		       "backend_threads_read_bw=%.0f host_copy_bw=%.0f prefill_tok_s=%.2f "
		       "modelled_tok_s=%.1f\n", backend,
		       (unsigned long long)eng_model_param_count(m), (unsigned long long)m->decode_bytes,
		       tps, limit, cores, mem.read_all, threads, mem.read_own, mem.copy_all,
		       32 / t_prefill, modelled);
	}
	free(logits);
	eng_backend_destroy(be);
	eng_model_free(m);
	free(image);
	return 0;
}
