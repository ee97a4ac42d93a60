// SPDX-License-Identifier: MIT
/*
 * dtype.c - what the engine knows of each weight dtype: its name, the bytes
 * of a row, and reading a row back as fp32. The GGUF reader, the model
 * loader and the backends all size and read rows here, below them all.
 */
#include <string.h>

#include "engine/engine.h"

const char *eng_dtype_name(enum eng_dtype type)
{
	switch (type) {
	case ENG_F32: return "F32";
	case ENG_F16: return "F16";
	case ENG_BF16: return "BF16";
	case ENG_Q8_0: return "Q8_0";
	default: return "unknown";
	}
}

uint64_t eng_row_bytes(enum eng_dtype type, uint64_t cols)
{
	switch (type) {
	case ENG_F32: return 4 * cols;
	case ENG_F16:
	case ENG_BF16: return 2 * cols;
	case ENG_Q8_0:
		return cols % ENG_Q8_0_BLOCK ? 0 : cols / ENG_Q8_0_BLOCK * ENG_Q8_0_BLOCK_BYTES;
	default: return 0;
	}
}

float eng_row_get(const void *row, enum eng_dtype type, uint64_t i)
{
	const uint8_t *p = row;
	uint16_t h;
	float f;

	switch (type) {
	case ENG_F32:
		memcpy(&f, p + 4 * i, 4);
		return f;
	case ENG_F16:
		memcpy(&h, p + 2 * i, 2);
		return kern_f16_to_f32(h);
	case ENG_BF16:
		memcpy(&h, p + 2 * i, 2);
		return kern_bf16_to_f32(h);
	case ENG_Q8_0: {
		const uint8_t *block = p + i / ENG_Q8_0_BLOCK * ENG_Q8_0_BLOCK_BYTES;

		memcpy(&h, block, 2);
		return kern_f16_to_f32(h) * (float)(int8_t)block[2 + i % ENG_Q8_0_BLOCK];
	}
	default:
		return 0;
	}
}

void eng_row_to_f32(const void *row, enum eng_dtype type, uint64_t cols, float *out)
{
	if (type == ENG_F32) {
		memcpy(out, row, 4 * cols);
		return;
	}
	for (uint64_t i = 0; i < cols; i++)
		out[i] = eng_row_get(row, type, i);
}
