/* SPDX-License-Identifier: MIT */
/*
 * util.h - small helpers the host tests share (header-only, like tap.h).
 */
#ifndef WSE_TESTS_UTIL_H
#define WSE_TESTS_UTIL_H

#include <stdio.h>
#include <stdlib.h>

/*
 * The whole file, NUL-terminated (the NUL not counted in *len) so that text
 * files read as strings; NULL when it cannot be read. The caller frees it.
 */
__attribute__((unused))
static char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

#endif /* WSE_TESTS_UTIL_H */
