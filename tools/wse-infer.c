// SPDX-License-Identifier: MIT
/*
 * wse-infer - run a Llama model: prompt in, streamed text out, and a stats
 * line (prompt tokens, generated tokens, time to first token, decode speed,
 * modelled CS-3 speed) on stderr. -i keeps a conversation (and its KV cache)
 * across lines read from stdin.
 *
 * Exit status: 0 done, 1 the model or backend failed, 2 bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/default_model.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"
#include "engine/wse_backend.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

struct options {
	const char *model, *prompt, *tokenizer, *backend;
	int n_predict, n_threads, n_devices, interactive, json, stats, plan;
	uint32_t n_ctx;
	struct eng_sampler_params sp;
	int seed_given;
};

struct session {
	struct options *opt;
	struct eng_model *model;
	struct eng_backend *be;
	struct eng_sampler *sampler;
	struct eng_detok detok;
	float *logits;
	int32_t *history;	/* every token in the KV cache, in order */
	uint32_t n_history;
	/* totals for the stats line */
	uint64_t prompt_tokens, generated;
	double ttft, decode_time, start_time;
	int first_token_seen;
	const char *stop_reason;
	char *json_text;
	size_t json_len, json_cap;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
	char places[4096];

	eng_default_model_places(places, sizeof(places), ",\n                          ");
	fprintf(f,
		"usage: wse-infer [-m MODEL] [-p PROMPT] [options]\n"
		"Runs a Llama model (GGUF or llama2.c .bin) and streams the generated text.\n\n"
		"  -m, --model PATH        model file (default: the first that is set and readable of\n"
		"                          %s)\n"
		"      --tokenizer PATH    tokenizer.bin for a llama2.c model (default: next to it)\n"
		"  -p, --prompt TEXT       prompt (default: empty, i.e. start from BOS)\n"
		"  -n, --n-predict N       tokens to generate (default 128)\n"
		"      --temp T            temperature, 0 = greedy (default 0.8)\n"
		"      --top-k K           keep the K most likely tokens, 0 = off (default 40)\n"
		"      --top-p P           nucleus sampling, 1 = off (default 0.95)\n"
		"      --min-p P           drop tokens below P x the top probability (default 0.05)\n"
		"      --repeat-penalty R  penalise recent tokens, 1 = off (default 1.1)\n"
		"      --repeat-last-n N   window of the penalty (default 64)\n"
		"      --seed S            sampling seed (default: from the clock)\n"
		"      --backend NAME      cpu or wse (default cpu)\n"
		"      --devices N|all     wse devices to use (default all)\n"
		"  -t, --threads N         host threads (default: all CPUs)\n"
		"  -c, --ctx N             context size (default: the model's, at most 4096)\n"
		"      --stats             more detail in the closing stats (and where the wse\n"
		"                          backend placed the layers)\n"
		"      --plan              print the wse backend's SRAM plan: every tensor's\n"
		"                          device, offset and size\n"
		"      --json              print one JSON object with the text and the stats\n"
		"  -i, --interactive       chat: each stdin line is a turn; KV cache kept; EOF ends\n"
		"  -h, --help              this text\n",
		places);
}

/* s as a number in lo..hi (integer: a whole decimal one); says why not. */
static int parse_number(const char *s, const char *what, double lo, double hi, int integer,
			double *out)
{
	char *end;
	double v;

	errno = 0;
	v = integer ? (double)strtol(s, &end, 10) : strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		if (integer)
			fprintf(stderr, "wse-infer: %s must be an integer in %.0f..%.0f, not '%s'\n", what,
				lo, hi, s);
		else
			fprintf(stderr, "wse-infer: %s must be a number in %g..%g, not '%s'\n", what, lo,
				hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { O_TEMP = 256, O_TOPK, O_TOPP, O_MINP, O_PEN, O_PENN, O_SEED, O_BACKEND, O_DEVICES,
	       O_STATS, O_JSON, O_TOKENIZER, O_PLAN };
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "n-predict", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "ctx", required_argument, NULL, 'c' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "temp", required_argument, NULL, O_TEMP },
		{ "top-k", required_argument, NULL, O_TOPK },
		{ "top-p", required_argument, NULL, O_TOPP },
		{ "min-p", required_argument, NULL, O_MINP },
		{ "repeat-penalty", required_argument, NULL, O_PEN },
		{ "repeat-last-n", required_argument, NULL, O_PENN },
		{ "seed", required_argument, NULL, O_SEED },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "devices", required_argument, NULL, O_DEVICES },
		{ "stats", no_argument, NULL, O_STATS },
		{ "json", no_argument, NULL, O_JSON },
		{ "tokenizer", required_argument, NULL, O_TOKENIZER },
		{ "plan", no_argument, NULL, O_PLAN },
		{ 0 }
	};
	int c;
	double v;

	eng_sampler_defaults(&o->sp);
	o->n_predict = 128;
	o->backend = "cpu";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:p:n:t:c:ih", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'p': o->prompt = optarg; break;
		case 'n':
			if (parse_number(optarg, "-n", 0, INT_MAX, 1, &v)) return -1;
			o->n_predict = (int)v;
			break;
		case 't':
			if (parse_number(optarg, "--threads", 1, 256, 1, &v)) return -1;
			o->n_threads = (int)v;
			break;
		case 'c':
			if (parse_number(optarg, "--ctx", 1, ENG_MAX_CTX, 1, &v)) return -1;
			o->n_ctx = (uint32_t)v;
			break;
		case 'i': o->interactive = 1; break;
		case 'h': usage(stdout); exit(0);
		case O_TEMP:
			if (parse_number(optarg, "--temp", 0, 100, 0, &v)) return -1;
			o->sp.temperature = (float)v;
			break;
		case O_TOPK:
			if (parse_number(optarg, "--top-k", 0, INT_MAX, 1, &v)) return -1;
			o->sp.top_k = (int)v;
			break;
		case O_TOPP:
			if (parse_number(optarg, "--top-p", 0, 1, 0, &v)) return -1;
			o->sp.top_p = (float)v;
			break;
		case O_MINP:
			if (parse_number(optarg, "--min-p", 0, 1, 0, &v)) return -1;
			o->sp.min_p = (float)v;
			break;
		case O_PEN:
			if (parse_number(optarg, "--repeat-penalty", 0.01, 100, 0, &v)) return -1;
			o->sp.repeat_penalty = (float)v;
			break;
		case O_PENN:
			if (parse_number(optarg, "--repeat-last-n", 0, INT_MAX, 1, &v)) return -1;
			o->sp.repeat_window = (int)v;
			break;
		case O_SEED: {
			char *end;

			errno = 0;
			o->sp.seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end) {
				fprintf(stderr, "wse-infer: --seed must be an unsigned integer, not '%s'\n", optarg);
				return -1;
			}
			o->seed_given = 1;
			break;
		}
		case O_BACKEND: o->backend = optarg; break;
		case O_DEVICES:
			if (strcmp(optarg, "all") == 0) {
				o->n_devices = 0;
			} else {
				if (parse_number(optarg, "--devices", 1, 64, 1, &v)) return -1;
				o->n_devices = (int)v;
			}
			break;
		case O_STATS: o->stats = 1; break;
		case O_JSON: o->json = 1; break;
		case O_TOKENIZER: o->tokenizer = optarg; break;
		case O_PLAN: o->plan = 1; break;
		default:
			if (optopt && optopt < 256)
				fprintf(stderr, "wse-infer: option -%c %s\n", optopt,
					strchr("mpntc", optopt) ? "needs a value" : "is unknown");
			else
				fprintf(stderr, "wse-infer: bad option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "Try 'wse-infer --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wse-infer: unexpected argument '%s'\nTry 'wse-infer --help'.\n", argv[optind]);
		return -1;
	}
	if (o->json && o->interactive) {
		fprintf(stderr, "wse-infer: --json and -i cannot be combined\n");
		return -1;
	}
	if (!o->seed_given)
		o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	return 0;
}

static void json_append(struct session *s, const char *p, size_t n)
{
	if (s->json_len + n + 1 > s->json_cap) {
		size_t cap = s->json_cap ? s->json_cap * 2 : 4096;
		char *q;

		while (cap < s->json_len + n + 1)
			cap *= 2;
		q = realloc(s->json_text, cap);
		if (!q)
			return;
		s->json_text = q;
		s->json_cap = cap;
	}
	memcpy(s->json_text + s->json_len, p, n);
	s->json_len += n;
}

static void emit_text(struct session *s, const char *p, size_t n)
{
	if (!n)
		return;
	if (s->opt->json) {
		json_append(s, p, n);
		return;
	}
	fwrite(p, 1, n, stdout);
	fflush(stdout);
}

static int history_push(struct session *s, const int32_t *t, uint32_t n)
{
	memcpy(s->history + s->n_history, t, n * sizeof(*t));
	s->n_history += n;
	return 0;
}

/*
 * Feeds a turn's tokens, then samples until EOS, n_predict or a full
 * context. Returns -1 on a backend error, 1 if the turn does not fit.
 */
static int run_turn(struct session *s, const int32_t *tokens, uint32_t n_tokens)
{
	struct eng_err err;
	uint32_t n_ctx = s->be->cfg.n_ctx;
	char piece[ENG_DETOK_BUF];
	int32_t eos = s->model->tokenizer ? eng_tokenizer_eos(s->model->tokenizer) : 2;
	double t_first = 0;

	if (s->n_history >= n_ctx || n_tokens >= n_ctx - s->n_history) {
		fprintf(stderr, "wse-infer: %u prompt tokens do not fit the %u free positions of the context (size %u)\n",
			n_tokens, s->n_history < n_ctx ? n_ctx - s->n_history : 0, n_ctx);
		s->stop_reason = "context";
		return 1;
	}
	if (eng_backend_forward(s->be, tokens, n_tokens, s->n_history, s->logits, 0, &err)) {
		fprintf(stderr, "wse-infer: %s\n", err.msg);
		return -1;
	}
	history_push(s, tokens, n_tokens);
	s->prompt_tokens += n_tokens;
	s->stop_reason = "length";
	for (int i = 0; i < s->opt->n_predict; i++) {
		int32_t next = eng_sampler_sample(s->sampler, s->logits, s->history, (int)s->n_history);
		double t = now();

		if (!s->first_token_seen) {
			s->first_token_seen = 1;
			s->ttft = t - s->start_time;
		}
		if (i == 0)
			t_first = t;
		if (next == eos) {
			s->stop_reason = "eos";
			break;
		}
		s->generated++;
		if (s->model->tokenizer)
			emit_text(s, piece, eng_detok_push(&s->detok, next, piece));
		else
			emit_text(s, piece, (size_t)snprintf(piece, sizeof(piece), "[%d]", next));
		if (s->n_history >= n_ctx) {
			s->stop_reason = "context";
			break;
		}
		if (i + 1 == s->opt->n_predict)
			break;
		if (eng_backend_forward(s->be, &next, 1, s->n_history, s->logits, 0, &err)) {
			fprintf(stderr, "wse-infer: %s\n", err.msg);
			return -1;
		}
		history_push(s, &next, 1);
	}
	if (t_first > 0)
		s->decode_time += now() - t_first;
	if (s->model->tokenizer)
		emit_text(s, piece, eng_detok_flush(&s->detok, piece));
	return 0;
}

/* BOS only at the very start of the context. */
static int tokenize(struct session *s, const char *text, int32_t **out, uint32_t *n_out)
{
	const struct eng_tokenizer *tok = s->model->tokenizer;
	size_t len = strlen(text);
	int n, add_bos;

	if (!tok) {
		fprintf(stderr, "wse-infer: the model has no tokenizer (for a llama2.c model, pass --tokenizer tokenizer.bin)\n");
		return -1;
	}
	add_bos = s->n_history == 0 && eng_tokenizer_add_bos(tok);
	if (len > (1u << 24)) {
		fprintf(stderr, "wse-infer: input of %zu bytes is too long\n", len);
		return -1;
	}
	/* byte fallback can make several tokens of one byte: ask, then retry with room */
	*out = malloc((len + 2) * sizeof(int32_t));
	n = *out ? eng_tokenize(tok, text, len, add_bos, *out, (int)(len + 2)) : -1;
	if (n > (int)(len + 2)) {
		int32_t *bigger = realloc(*out, (size_t)n * sizeof(int32_t));

		if (bigger) {
			*out = bigger;
			n = eng_tokenize(tok, text, len, add_bos, *out, n);
		} else {
			n = -1;
		}
	}
	if (n < 0) {
		free(*out);
		*out = NULL;
		fprintf(stderr, "wse-infer: out of memory while tokenizing\n");
		return -1;
	}
	*n_out = (uint32_t)n;
	return 0;
}

static void print_json_string(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			printf("\\n");
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void report(struct session *s)
{
	struct eng_backend_stats st;
	double decode_rate = 0, modelled = 0;
	char modelled_text[32] = "n/a";

	eng_backend_get_stats(s->be, &st);
	if (s->generated > 1 && s->decode_time > 0)
		decode_rate = (double)(s->generated - 1) / s->decode_time;
	if (st.modelled_decode_cycles && st.modelled_clock_hz > 0 && st.decode_steps) {
		modelled = (double)st.decode_steps * st.modelled_clock_hz / (double)st.modelled_decode_cycles;
		snprintf(modelled_text, sizeof(modelled_text), "%.1f", modelled);
	}
	fprintf(stderr,
		"\n[stats] prompt tokens %llu, generated tokens %llu, time to first token %.1f ms, "
		"decode %.2f tok/s, modelled CS-3 %s tok/s\n",
		(unsigned long long)s->prompt_tokens, (unsigned long long)s->generated, s->ttft * 1e3,
		decode_rate, modelled_text);
	if (s->opt->stats)
		fprintf(stderr,
			"[stats] backend %s, threads %d, context %u, stop: %s, weights %.1f MB (%.1f MB read per token), "
			"effective weight bandwidth %.2f GB/s, seed %llu\n",
			s->opt->backend, s->be->cfg.n_threads, s->be->cfg.n_ctx, s->stop_reason,
			s->model->weight_bytes / 1e6, s->model->decode_bytes / 1e6,
			decode_rate * s->model->decode_bytes / 1e9, (unsigned long long)s->opt->sp.seed);
	if (s->opt->stats) {
		char where[1024];

		if (eng_wse_describe(s->be, where, sizeof(where)))
			fprintf(stderr, "[stats] placement: %s\n", where);
	}
	if (s->opt->json) {
		printf("{\"backend\":\"%s\",\"prompt_tokens\":%llu,\"generated_tokens\":%llu,"
		       "\"ttft_ms\":%.3f,\"decode_tok_s\":%.3f,\"modelled_cs3_tok_s\":",
		       s->opt->backend, (unsigned long long)s->prompt_tokens,
		       (unsigned long long)s->generated, s->ttft * 1e3, decode_rate);
		if (modelled > 0)
			printf("%.3f", modelled);
		else
			printf("null");
		printf(",\"stop\":\"%s\",\"seed\":%llu,\"text\":", s->stop_reason,
		       (unsigned long long)s->opt->sp.seed);
		print_json_string(s->json_text ? s->json_text : "", s->json_len);
		printf("}\n");
	}
}

int main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct session s = { .opt = &opt, .stop_reason = "length" };
	struct eng_backend_config cfg = { 0 };
	struct eng_err err;
	char path_buf[4096];
	int rc = EXIT_RUNTIME;
	int32_t *tokens = NULL;
	uint32_t n_tokens;

	if (parse_args(argc, argv, &opt))
		return EXIT_USAGE;
	if (!opt.model) {
		if (eng_default_model(path_buf, sizeof(path_buf), &err)) {
			fprintf(stderr, "wse-infer: %s\nPass -m MODEL (a GGUF or llama2.c .bin Llama model) or set "
				ENG_MODEL_ENV ".\n", err.msg);
			return EXIT_RUNTIME;
		}
		opt.model = path_buf;
	}
	s.model = eng_model_load(opt.model, opt.tokenizer, &err);
	if (!s.model) {
		fprintf(stderr, "wse-infer: %s\n", err.msg);
		return EXIT_RUNTIME;
	}
	cfg.n_ctx = opt.n_ctx;
	cfg.n_threads = opt.n_threads;
	cfg.n_devices = opt.n_devices;
	s.be = eng_backend_create(opt.backend, s.model, &cfg, &err);
	if (!s.be) {
		fprintf(stderr, "wse-infer: %s\n", err.msg);
		goto out;
	}
	if (opt.plan)
		eng_wse_print_plan(s.be, stderr);
	s.sampler = eng_sampler_create(&opt.sp, s.model->hp.vocab_size);
	s.logits = malloc(sizeof(float) * s.model->hp.vocab_size);
	s.history = malloc(sizeof(int32_t) * (s.be->cfg.n_ctx + 1));
	if (!s.sampler || !s.logits || !s.history) {
		fprintf(stderr, "wse-infer: out of memory\n");
		goto out;
	}
	if (s.model->tokenizer)
		eng_detok_init(&s.detok, s.model->tokenizer);
	s.start_time = now();

	if (!opt.interactive || opt.prompt) {
		if (tokenize(&s, opt.prompt ? opt.prompt : "", &tokens, &n_tokens))
			goto out;
		if (n_tokens == 0)
			tokens[n_tokens++] = eng_tokenizer_bos(s.model->tokenizer);
		if (!opt.json && !opt.interactive && opt.prompt) {
			fputs(opt.prompt, stdout);
			fflush(stdout);
		}
		/* the prompt is echoed; continue the text right after it */
		s.detok.at_start = 0;
		if (run_turn(&s, tokens, n_tokens)) {
			putchar('\n');
			goto out;
		}
		free(tokens);
		tokens = NULL;
		if (!opt.json)
			putchar('\n');
	}
	if (opt.interactive) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		int tty = isatty(0);

		for (;;) {
			if (tty)
				fprintf(stderr, "> ");
			len = getline(&line, &cap, stdin);
			if (len < 0)
				break;
			if (len && line[len - 1] == '\n')
				line[--len] = 0;
			if (tokenize(&s, line, &tokens, &n_tokens))
				break;
			if (n_tokens == 0) {
				free(tokens);
				tokens = NULL;
				continue;
			}
			s.start_time = now();
			s.first_token_seen = 0;
			s.detok.at_start = 1;
			int turn = run_turn(&s, tokens, n_tokens);

			if (turn < 0) {
				free(line);
				goto out;
			}
			if (turn > 0)
				break;
			free(tokens);
			tokens = NULL;
			putchar('\n');
			fflush(stdout);
			if (strcmp(s.stop_reason, "context") == 0) {
				fprintf(stderr, "wse-infer: context full; ending the conversation\n");
				break;
			}
		}
		free(line);
	}
	report(&s);
	rc = 0;
out:
	free(tokens);
	free(s.logits);
	free(s.history);
	free(s.json_text);
	eng_sampler_free(s.sampler);
	eng_backend_destroy(s.be);
	eng_model_free(s.model);
	return rc;
}
