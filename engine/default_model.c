// SPDX-License-Identifier: MIT
/* default_model.c - the one resolution of the default model (see default_model.h). */
#include "engine/default_model.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Directories up from the executable's own, and the path from there. */
static const struct {
	int up;
	const char *rest;
} beside_exe[] = {
	{ 2, "share/wse/models/default.gguf" },
	{ 2, "models/default.gguf" },
	{ 3, "engine/models/default.gguf" },
};

#define N_PLACES (sizeof(beside_exe) / sizeof(beside_exe[0]))

/*
 * Place i as an absolute path without "..": /proc/self/exe is already
 * canonical, so dropping components is exact and the messages show the
 * path a user would type (/usr/share/wse/..., not /usr/bin/../share/...).
 */
static int place(size_t i, char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int k;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	for (int up = 0; up < beside_exe[i].up; up++) {
		char *slash = strrchr(exe, '/');

		if (slash)
			*slash = 0;
	}
	k = snprintf(out, size, "%s/%s", exe, beside_exe[i].rest);
	return k < 0 || (size_t)k >= size ? -1 : 0;
}

static void list_places(char *buf, size_t size, const char *sep)
{
	size_t len = 0;
	char p[PATH_MAX];

	if (!size)
		return;
	buf[0] = 0;
	for (size_t i = 0; i < N_PLACES && len < size; i++) {
		int k = place(i, p, sizeof(p)) ? snprintf(buf + len, size - len, "%s<dir of the program>/%s",
							  i ? sep : "", beside_exe[i].rest)
					       : snprintf(buf + len, size - len, "%s%s", i ? sep : "", p);

		if (k < 0)
			return;
		len += (size_t)k;
	}
}

void eng_default_model_places(char *buf, size_t size, const char *sep)
{
	char list[3 * PATH_MAX];

	list_places(list, sizeof(list), sep);
	snprintf(buf, size, "$" ENG_MODEL_ENV "%s%s", sep, list);
}

int eng_default_model(char *path, size_t size, struct eng_err *err)
{
	const char *env = getenv(ENG_MODEL_ENV);
	char list[3 * PATH_MAX];

	if (env && *env) {
		if (access(env, R_OK))
			return eng_fail(err, "$" ENG_MODEL_ENV " is %s, which cannot be read: %s", env,
					strerror(errno));
		if ((size_t)snprintf(path, size, "%s", env) >= size)
			return eng_fail(err, "$" ENG_MODEL_ENV " is longer than %zu bytes", size - 1);
		return 0;
	}
	for (size_t i = 0; i < N_PLACES; i++)
		if (!place(i, path, size) && access(path, R_OK) == 0)
			return 0;
	list_places(list, sizeof(list), ", ");
	return eng_fail(err, "no model given and no default model: $" ENG_MODEL_ENV
			" is not set and none of %s can be read", list);
}
