// SPDX-License-Identifier: MIT
/*
 * replay - runs the GGUF fuzz target (fuzz_gguf.c, LLVMFuzzerTestOneInput)
 * over every file of the checked-in corpus, without libFuzzer: built with
 * gcc and ASan + UBSan as a unit test, so each corpus file, the crashers
 * the fuzzer once found included, is replayed by every `make check-unit`.
 *
 *   replay [DIR]    DIR: the corpus (default $WSE_FUZZ_CORPUS, then
 *                   tests/fuzz/corpus from the top of the checkout)
 *
 * Each file runs in a child process, so a sanitizer report (a leak
 * included) fails that file's TAP line and the others still run. The files named valid_* must
 * also load as a model: otherwise the replay would no longer reach the model
 * and tokenizer code it is there to exercise.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "tests/tap.h"
#include "tests/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the fuzz target on one input in a child; 0 when it returned normally. */
static int replay_one(const uint8_t *data, size_t size, char *why, size_t why_len)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		snprintf(why, why_len, "fork failed");
		return -1;
	}
	if (pid == 0) {
		LLVMFuzzerTestOneInput(data, size);
		exit(0);	/* not _exit: LeakSanitizer checks at exit, as libFuzzer would */
	}
	if (waitpid(pid, &status, 0) != pid) {
		snprintf(why, why_len, "waitpid failed");
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		snprintf(why, why_len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, why_len, "exit status %d (a sanitizer report, see above)", WEXITSTATUS(status));
	return -1;
}

static int loads_as_model(const uint8_t *data, size_t size, struct eng_err *err)
{
	struct gguf_file *gf = gguf_open_mem(data, size, err);
	struct eng_model *m = gf ? eng_model_from_gguf(gf, err) : NULL;

	if (!m) {
		gguf_close(gf);
		return 0;
	}
	eng_model_free(m);
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("WSE_FUZZ_CORPUS");
	char **names = NULL;
	size_t n = 0, cap = 0, valid = 0;
	struct dirent *e;
	DIR *d;

	if (!dir)
		dir = "tests/fuzz/corpus";
	d = opendir(dir);
	if (!TAP_OK(d != NULL, "corpus directory %s opens (run from the top of the checkout)", dir))
		return tap_done();
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				return 1;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		char path[4096], why[128] = "";
		size_t size = 0;
		uint8_t *data;
		int rc;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		data = (uint8_t *)test_read_file(path, &size);
		if (!data) {
			TAP_OK(0, "%s cannot be read", names[i]);
			free(names[i]);
			continue;
		}
		rc = replay_one(data, size, why, sizeof(why));
		TAP_OK(rc == 0, "fuzz target replays %s (%zu bytes)%s%s", names[i], size, why[0] ? ": " : "", why);
		if (strncmp(names[i], "valid_", 6) == 0) {
			struct eng_err err = { "" };

			valid++;
			rc = loads_as_model(data, size, &err);
			TAP_OK(rc, "%s loads as a model%s%s", names[i], rc ? "" : ": ", err.msg);
		}
		free(data);
		free(names[i]);
	}
	free(names);
	TAP_OK(n > 0 && valid > 0, "corpus %s: %zu files replayed, %zu of them valid models", dir, n, valid);
	return tap_done();
}
