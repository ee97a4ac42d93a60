// SPDX-License-Identifier: MIT
/*
 * dtype.c - what the engine knows of each weight dtype: its name, the bytes
 * of a row, and reading a row back as fp32. The GGUF reader, the model
 * loader and the backends all size and read rows here, below them all.
 *
 * Nothing here is the engine's own: names and block sizes are the device
 * contract's dtype table (wse_dtypes[] in wse/op_rules.h), decoding is the
 * kernel library's, both indexed by the number enum eng_dtype shares with
 * them. The engine may know fewer dtypes than the device, never others.
 */
#include <string.h>

#include "engine/engine.h"
#include "wse/op_rules.h"

_Static_assert(ENG_F32 == (int)WSE_HW_DTYPE_F32 && ENG_F16 == (int)WSE_HW_DTYPE_F16 &&
	       ENG_BF16 == (int)WSE_HW_DTYPE_BF16 && ENG_Q8_0 == (int)WSE_HW_DTYPE_Q8_0 &&
	       ENG_DTYPE_COUNT <= (int)WSE_HW_DTYPE_COUNT,
	       "enum eng_dtype indexes the contract's wse_dtypes[]");
_Static_assert(ENG_Q8_0_BLOCK == WSE_Q8_0_BLOCK && KERN_Q8_0_BLOCK_BYTES == WSE_Q8_0_BLOCK_BYTES,
	       "the kernel library's q8_0 blocks are the contract's");

/* The largest block eng_row_get() decodes at once: GGUF's k-quants have 256. */
#define ROW_GET_MAX_BLOCK 256

static const struct wse_dtype_info *dtype_info(enum eng_dtype type)
{
	return (unsigned int)type < ENG_DTYPE_COUNT ? &wse_dtypes[type] : NULL;
}

const char *eng_dtype_name(enum eng_dtype type)
{
	const struct wse_dtype_info *t = dtype_info(type);

	return t ? t->name : "unknown";
}

uint64_t eng_row_bytes(enum eng_dtype type, uint64_t cols)
{
	return dtype_info(type) ? wse_dtype_matrix_bytes(type, 1, cols) : 0;
}

float eng_row_get(const void *row, enum eng_dtype type, uint64_t i)
{
	const struct wse_dtype_info *t = dtype_info(type);
	float block[ROW_GET_MAX_BLOCK];

	if (!t || t->block_elems > ROW_GET_MAX_BLOCK)
		return 0;
	kern_row_to_f32((const uint8_t *)row + i / t->block_elems * t->block_bytes,
			(enum kern_dtype)type, 0, t->block_elems, block);
	return block[i % t->block_elems];
}

void eng_row_to_f32(const void *row, enum eng_dtype type, uint64_t cols, float *out)
{
	if (!dtype_info(type)) {
		memset(out, 0, cols * sizeof(*out));
		return;
	}
	kern_row_to_f32(row, (enum kern_dtype)type, 0, cols, out);
}
