/* SPDX-License-Identifier: MIT */
/*
 * tap.h - minimal TAP output for the host unit tests, so every suite
 * (unit, qtest, kselftest) reports in the same format that tests/run-suite
 * counts.
 */
#ifndef WSE_TAP_H
#define WSE_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_count;
static int tap_failures;

__attribute__((format(printf, 4, 5), unused))
static int tap_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!ok)
		tap_failures++;
	printf("%s %d - ", ok ? "ok" : "not ok", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf(" # at %s:%d", file, line);
	printf("\n");
	fflush(stdout);
	return ok;
}

/* TAP_OK(condition, "description %d", args...) */
#define TAP_OK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Diagnostic line; never counted. */
#define TAP_NOTE(...) (printf("# " __VA_ARGS__), printf("\n"))

__attribute__((unused))
static int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failures || tap_count == 0 ? 1 : 0;
}

#endif /* WSE_TAP_H */
