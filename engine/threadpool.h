/* SPDX-License-Identifier: MIT */
/*
 * threadpool.h - a fixed pthread pool for data-parallel loops: the caller
 * thread works too, tasks are handed out through an atomic counter.
 */
#ifndef ENGINE_THREADPOOL_H
#define ENGINE_THREADPOOL_H

typedef void (*eng_task_fn)(void *ctx, int task, int thread);

struct eng_pool;

/* n_threads counts the caller; 1 runs everything inline. NULL if out of resources. */
struct eng_pool *eng_pool_create(int n_threads);
void eng_pool_destroy(struct eng_pool *pool);
int eng_pool_threads(const struct eng_pool *pool);
/* Runs fn(ctx, 0..n_tasks-1, thread) and returns when all are done. */
void eng_pool_run(struct eng_pool *pool, eng_task_fn fn, void *ctx, int n_tasks);

#endif /* ENGINE_THREADPOOL_H */
