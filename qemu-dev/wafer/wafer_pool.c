/* SPDX-License-Identifier: MIT */
/*
 * wafer_pool.c - the small persistent thread pool that runs the big ops.
 * Helpers sleep on a condition variable between jobs and take chunks of
 * a job from an atomic counter; the thread that calls wafer_exec() works
 * on the job too, so a pool of N threads has N - 1 helpers.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "wafer_internal.h"

static void run_chunks(struct wafer_pool *pool)
{
	for (;;) {
		uint64_t begin = atomic_fetch_add(&pool->next, pool->grain);
		uint64_t end;

		if (begin >= pool->total)
			return;
		end = pool->total - begin < pool->grain ? pool->total : begin + pool->grain;
		pool->fn(pool->ctx, begin, end);
	}
}

static void *pool_worker(void *arg)
{
	struct wafer_pool *pool = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool->stop && pool->generation == seen)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->stop)
			break;
		seen = pool->generation;
		pthread_mutex_unlock(&pool->lock);
		run_chunks(pool);
		pthread_mutex_lock(&pool->lock);
		if (--pool->busy == 0)
			pthread_cond_signal(&pool->done);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

int wafer_pool_init(struct wafer_pool *pool, uint32_t workers)
{
	sigset_t all, old;
	uint32_t i;

	pool->n_threads = 0;
	pool->generation = 0;
	pool->busy = 0;
	pool->stop = 0;
	atomic_init(&pool->next, 0);
	pool->threads = NULL;
	if (pthread_mutex_init(&pool->lock, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&pool->wake, NULL)) {
		pthread_mutex_destroy(&pool->lock);
		return -ENOMEM;
	}
	if (pthread_cond_init(&pool->done, NULL)) {
		pthread_cond_destroy(&pool->wake);
		pthread_mutex_destroy(&pool->lock);
		return -ENOMEM;
	}
	if (workers <= 1)
		return 0;
	pool->threads = calloc(workers - 1, sizeof(*pool->threads));
	if (!pool->threads) {
		wafer_pool_destroy(pool);
		return -ENOMEM;
	}
	/* Helpers must not take the host program's signals (QEMU relies on that). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < workers - 1; i++) {
		if (pthread_create(&pool->threads[i], NULL, pool_worker, pool))
			break;
		pool->n_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Fewer helpers than asked for is slower, not wrong. */
	return 0;
}

void wafer_pool_destroy(struct wafer_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (uint32_t i = 0; i < pool->n_threads; i++)
		pthread_join(pool->threads[i], NULL);
	free(pool->threads);
	pool->threads = NULL;
	pool->n_threads = 0;
	pthread_cond_destroy(&pool->done);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
}

void wafer_pool_run(struct wafer_pool *pool, wafer_task_fn *fn, void *ctx,
		    uint64_t total, uint64_t grain)
{
	if (!total)
		return;
	if (!grain)
		grain = 1;
	if (!pool->n_threads || total <= grain) {
		fn(ctx, 0, total);
		return;
	}
	pthread_mutex_lock(&pool->lock);
	pool->fn = fn;
	pool->ctx = ctx;
	pool->total = total;
	pool->grain = grain;
	atomic_store(&pool->next, 0);
	pool->busy = pool->n_threads;
	pool->generation++;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	run_chunks(pool);
	pthread_mutex_lock(&pool->lock);
	while (pool->busy)
		pthread_cond_wait(&pool->done, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
}
