/* SPDX-License-Identifier: MIT */
/*
 * wafer_kernels.c - the wafer model's side of the kernel library
 * (engine/kernels/, shared with the engine's cpu backend): the set a wafer
 * computes with, indexed by the device's dtypes, and the element
 * conversions of wafer.h.
 */
#include "engine/kernels/kernels.h"
#include "wafer_internal.h"

_Static_assert(WSE_HW_DTYPE_F32 == (int)KERN_F32 && WSE_HW_DTYPE_F16 == (int)KERN_F16 &&
	       WSE_HW_DTYPE_BF16 == (int)KERN_BF16 && WSE_HW_DTYPE_Q8_0 == (int)KERN_Q8_0 &&
	       WSE_HW_DTYPE_COUNT == (int)KERN_DTYPE_COUNT,
	       "the kernel library reads the device's dtypes as its own");
_Static_assert(WSE_Q8_0_BLOCK == KERN_Q8_0_BLOCK && WSE_Q8_0_BLOCK_BYTES == KERN_Q8_0_BLOCK_BYTES,
	       "one q8_0 block layout");

float wafer_f16_to_f32(uint16_t h)
{
	return kern_f16_to_f32(h);
}

uint16_t wafer_f32_to_f16(float f)
{
	return kern_f32_to_f16(f);
}

float wafer_bf16_to_f32(uint16_t b)
{
	return kern_bf16_to_f32(b);
}

uint16_t wafer_f32_to_bf16(float f)
{
	return kern_f32_to_bf16(f);
}

void wafer_kernels_init(struct wafer_kernels *kernels, int allow_simd)
{
	const struct kern_ops *ops = allow_simd ? kern_ops() : kern_ops_for(KERN_ISA_PORTABLE);

	for (int dtype = 0; dtype < WSE_HW_DTYPE_COUNT; dtype++) {
		kernels->dot[dtype] = ops->dot[dtype];
		kernels->dot2[dtype] = ops->dot2[dtype];
	}
	kernels->axpy = ops->axpy;
	kernels->name = ops->name;
}

const char *wafer_kernels_name(const struct wafer *wafer)
{
	return wafer->kernels.name;
}
