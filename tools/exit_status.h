/* SPDX-License-Identifier: MIT */
/*
 * exit_status.h - the exit statuses that wse-smi, wse-bench and wse-exporter
 * share (each documents them in --help and its man page), and the one rule
 * by which a libwse error code becomes one of them.
 */
#ifndef WSE_TOOLS_EXIT_STATUS_H
#define WSE_TOOLS_EXIT_STATUS_H

#include <errno.h>

#include "libwse/wse.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* an operation failed */
	EXIT_USAGE = 2,
	EXIT_NO_MODULE = 3,	/* the wse kernel module is not loaded */
	EXIT_NO_DEVICE = 4,	/* no wse device, or not the one asked for */
	EXIT_PERM = 5,		/* permission denied */
};

/* Status for a failed libwse call on a device: whose fault it is decides. */
static inline int exit_status_for(int err)
{
	switch (err) {
	case -EACCES:
	case -EPERM:
		return EXIT_PERM;
	case -ENOENT:
	case -ENODEV:
		return wse_module_loaded() ? EXIT_NO_DEVICE : EXIT_NO_MODULE;
	}
	return EXIT_FAIL;
}

#endif /* WSE_TOOLS_EXIT_STATUS_H */
