/* SPDX-License-Identifier: MIT */
/*
 * wafer_internal.h - what the wafer model's .c files share with each other
 * and with the unit test (to force the portable kernels, to look inside).
 * Not part of the device's API: QEMU and the tools use wafer.h only.
 */
#ifndef WAFER_INTERNAL_H
#define WAFER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/kernels/kernels.h"
#include "wafer.h"

/* ---- presets --------------------------------------------------------------- */
#define WAFER_SMALL_GRID_W	64
#define WAFER_SMALL_GRID_H	64
#define WAFER_SMALL_PE_SRAM	(256u << 10)
#define WAFER_CS3_GRID_W	762
#define WAFER_CS3_GRID_H	1172
#define WAFER_CS3_PE_SRAM	(48u << 10)
#define WAFER_CLOCK_KHZ		1100000u

#define WAFER_SRAM_MIN		(1ull << 20)

/* ---- thread pool ------------------------------------------------------------- */
/* Runs items [begin, end) of a job; items are independent of each other. */
typedef void wafer_task_fn(void *ctx, uint64_t begin, uint64_t end);

struct wafer_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t done;
	pthread_t *threads;
	uint32_t n_threads;	/* helpers; the calling thread works too */
	uint64_t generation;	/* bumped once per job */
	uint32_t busy;		/* helpers still working on the current job */
	int stop;
	wafer_task_fn *fn;
	void *ctx;
	uint64_t total, grain;
	atomic_uint_fast64_t next;
};

int wafer_pool_init(struct wafer_pool *pool, uint32_t workers);
void wafer_pool_destroy(struct wafer_pool *pool);
/*
 * Calls fn over [0, total) in chunks of grain items, spread over the pool.
 * Which thread runs a chunk is not fixed, so fn must give the same result
 * for an item whichever thread runs it: that keeps results independent of
 * the thread count.
 */
void wafer_pool_run(struct wafer_pool *pool, wafer_task_fn *fn, void *ctx,
		    uint64_t total, uint64_t grain);

/* ---- kernels ------------------------------------------------------------------ */
/*
 * The kernel library's set a wafer computes with (engine/kernels/kernels.h),
 * by device dtype; fixed at wafer_create(), as sets differ in the last bits.
 */
struct wafer_kernels {
	kern_dot_fn *dot[WSE_HW_DTYPE_COUNT];
	kern_dot2_fn *dot2[WSE_HW_DTYPE_COUNT];
	/* y[i] += a * x[i] */
	void (*axpy)(float *y, float a, const float *x, uint64_t n);
	const char *name;	/* "avx2" or "portable" */
};

/* Picks the fastest set the CPU runs when allowed, else the portable one. */
void wafer_kernels_init(struct wafer_kernels *kernels, int allow_simd);

struct wafer {
	uint8_t *sram;
	uint64_t sram_bytes;
	uint32_t grid_w, grid_h;
	uint32_t pe_sram_bytes;
	uint32_t clock_khz;
	struct wafer_kernels kernels;
	struct wafer_pool pool;
	/* The running op's stop request (wafer_exec_stoppable), NULL when none. */
	wafer_stop_fn *stop_fn;
	void *stop_ctx;
	atomic_int stopped;	/* stop_fn said yes during the running op */
};

/*
 * Whether the running op must stop; once it said yes it keeps saying so
 * until the op returns, on every thread, so the pool drains at once.
 */
int wafer_stopping(struct wafer *wafer);

/*
 * Counts work between two looks at wafer_stopping(): wafer_tick() adds the
 * elements just processed and asks on its first call, then once every
 * WAFER_STOP_GRAIN elements, so tiny rows do not pay for a question each
 * and a pool chunk asks at least once. One per thread and call.
 */
struct wafer_ticker {
	struct wafer *wafer;
	uint64_t work;
};

/*
 * Whether some thread already saw the stop: a plain load, cheap enough for
 * the start of every pool unit, so the rest of a job drains at once.
 */
static inline int wafer_stop_seen(struct wafer *wafer)
{
	return atomic_load_explicit(&wafer->stopped, memory_order_relaxed);
}

static inline struct wafer_ticker wafer_ticker(struct wafer *wafer)
{
	return (struct wafer_ticker){ wafer, WAFER_STOP_GRAIN };
}

static inline int wafer_tick(struct wafer_ticker *t, uint64_t elements)
{
	t->work += elements;
	if (t->work < WAFER_STOP_GRAIN)
		return 0;
	t->work = 0;
	return wafer_stopping(t->wafer);
}

/* ---- records ------------------------------------------------------------------ */
/*
 * WSE_HW_STATUS_OK and the resolved region, or WSE_HW_STATUS_ERR_REGION when the
 * record's region does not lie inside the grid.
 */
int wafer_resolve_region(const struct wafer *wafer, const struct wse_hw_op_hdr *hdr,
			 struct wafer_region *region);

/* The op kernels on SRAM that wafer_exec() has bounds-checked (wafer_ops.c). */
int wafer_run_op(struct wafer *wafer, const union wafer_record *op);

#endif /* WAFER_INTERNAL_H */
