// SPDX-License-Identifier: MIT
/*
 * error.c - the engine's error sentences. Every other engine file reports
 * through eng_fail(), so this file depends on nothing of the engine's.
 */
#include <stdarg.h>
#include <stdio.h>

#include "engine/engine.h"

int eng_fail(struct eng_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}
