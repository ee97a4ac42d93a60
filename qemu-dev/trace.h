/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The wse device's trace events (trace-events beside this file). */
#include "trace/trace-hw_misc_wse.h"
