// SPDX-License-Identifier: MIT
/* threadpool.c - see threadpool.h. */
#include "engine/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

struct worker {
	struct eng_pool *pool;
	int index;
	pthread_t thread;
};

struct eng_pool {
	int n_threads;
	struct worker *workers;
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	uint64_t generation;
	int stop;
	int busy_workers;
	eng_task_fn fn;
	void *ctx;
	int n_tasks;
	atomic_int next_task;
};

static void drain(struct eng_pool *p, int thread)
{
	for (;;) {
		int t = atomic_fetch_add(&p->next_task, 1);

		if (t >= p->n_tasks)
			return;
		p->fn(p->ctx, t, thread);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct eng_pool *p = w->pool;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->generation == seen)
			pthread_cond_wait(&p->work_cv, &p->mu);
		if (p->stop)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->mu);
		drain(p, w->index);
		pthread_mutex_lock(&p->mu);
		if (--p->busy_workers == 0)
			pthread_cond_signal(&p->done_cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct eng_pool *eng_pool_create(int n_threads)
{
	struct eng_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->n_threads = n_threads < 1 ? 1 : n_threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	p->workers = calloc((size_t)p->n_threads, sizeof(*p->workers));
	if (!p->workers) {
		free(p);
		return NULL;
	}
	for (int i = 1; i < p->n_threads; i++) {
		p->workers[i].pool = p;
		p->workers[i].index = i;
		if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i])) {
			p->n_threads = i;
			eng_pool_destroy(p);
			return NULL;
		}
	}
	return p;
}

void eng_pool_destroy(struct eng_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n_threads; i++)
		pthread_join(p->workers[i].thread, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	free(p->workers);
	free(p);
}

int eng_pool_threads(const struct eng_pool *p)
{
	return p->n_threads;
}

void eng_pool_run(struct eng_pool *p, eng_task_fn fn, void *ctx, int n_tasks)
{
	if (p->n_threads == 1 || n_tasks <= 1) {
		for (int t = 0; t < n_tasks; t++)
			fn(ctx, t, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->n_tasks = n_tasks;
	atomic_store(&p->next_task, 0);
	p->busy_workers = p->n_threads - 1;
	p->generation++;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	drain(p, 0);
	pthread_mutex_lock(&p->mu);
	while (p->busy_workers)
		pthread_cond_wait(&p->done_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
