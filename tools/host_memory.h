/* SPDX-License-Identifier: MIT */
/*
 * host_memory.h - the read-only sum that wse-wafer-bench and wse-infer-bench
 * time as the host's read bandwidth: the limit of a matrix-vector product,
 * which only reads its weights once per use.
 */
#ifndef TOOLS_HOST_MEMORY_H
#define TOOLS_HOST_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* 16 bytes: SSE2 on x86-64, so one core can issue loads faster than memory answers. */
typedef uint64_t host_u64x2 __attribute__((vector_size(16)));

/* The sum of n words (a multiple of 8), read as four streams of 16-byte loads. */
static inline uint64_t host_read_sum(const uint64_t *words, size_t n)
{
	const host_u64x2 *v = (const host_u64x2 *)words;
	host_u64x2 s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };

	for (size_t i = 0; i < n / 2; i += 4) {
		s0 += v[i];
		s1 += v[i + 1];
		s2 += v[i + 2];
		s3 += v[i + 3];
	}
	s0 += s1 + s2 + s3;
	return s0[0] + s0[1];
}

#endif /* TOOLS_HOST_MEMORY_H */
