// SPDX-License-Identifier: GPL-2.0-only
/*
 * wse_ioctl_fuzz: a structure-aware fuzzer of the wse driver's ioctls, run as
 * root in the VM against /dev/wse0..N. Each worker thread keeps a model of
 * the objects it created (contexts, BOs, SRAM, maps, jobs, and "kits": a
 * context with a mapped op-stream BO, data BO and SRAM that valid jobs run
 * on) and builds every call's argument as valid (from the model), boundary
 * (limits, handles of other files, destroyed handles) or mutated (bit flips,
 * reserved fields, flags, the ioctl's size). Calls are interleaved with fd
 * reopen, context destroy and unmap under running jobs, queue and device
 * resets, fault injection and, with --unplug, a hot-unplug of the last device.
 *
 * Before the random phase every ioctl number of DRM core and of the driver
 * is called once with a zeroed argument. Each thread's random stream derives
 * from --seed and the thread's index; which calls succeed also depends on the
 * interleaving and on job timing, so only --procs 1 --threads 1 comes close
 * to repeating a run. After the run every remaining device must complete a
 * COPY round trip on every queue from a fresh open. The VM suite
 * tests/vm/25-ioctl-fuzz.sh checks the kernel log.
 *
 * Exit status: 0 ok, 1 the device failed the check afterwards, 2 usage,
 * 3 a worker made no progress (watchdog) or died.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>

#include "wse_util.h"

#define MAX_PROCS	16
#define MAX_THREADS	8
#define MAX_DEVICES	8
#define SLOTS_PER_DEV	2	/* two files per device: handles of "other files" */
#define MAX_SLOTS	(MAX_DEVICES * SLOTS_PER_DEV)
#define POOL		16	/* objects of each kind a thread remembers */
#define GRAVE		32	/* destroyed handles remembered for reuse */
#define MAX_ERRNO	134
#define ARG_BYTES	256	/* every argument buffer; bounds mutated ioctl sizes */
#define WATCHDOG_S	60	/* no call returned for this long: a hang */
#define CHECK_TIMEOUT_S	300	/* the check afterwards: queues x 2 jobs of 30 s at most */
#define MAX_MAPPED_BO	(1ull << 20)	/* bigger BOs are closed at once */
#define LONG_WAIT_NS	(5ull * 1000 * 1000 * 1000)

enum call {
	C_QUERY_INFO, C_CTX_CREATE, C_CTX_DESTROY, C_CTX_INFO, C_BO_CREATE,
	C_BO_MMAP_OFFSET, C_BO_INFO, C_SRAM_ALLOC, C_SRAM_FREE, C_MAP, C_UNMAP,
	C_SUBMIT, C_WAIT, C_JOB_STATUS, C_FAULT_INJECT, C_RESET,
	C_GEM_CLOSE, C_PRIME_EXPORT, C_PRIME_IMPORT, C_DRM_VERSION, C_DRM_GET_CAP,
	C_DRM_OTHER, C_UNKNOWN_NR, C_MMAP, C_REOPEN, C_UNPLUG,
	C_COUNT
};

static const char *const call_names[C_COUNT] = {
	"QUERY_INFO", "CTX_CREATE", "CTX_DESTROY", "CTX_INFO", "BO_CREATE",
	"BO_MMAP_OFFSET", "BO_INFO", "SRAM_ALLOC", "SRAM_FREE", "MAP", "UNMAP",
	"SUBMIT", "WAIT", "JOB_STATUS", "FAULT_INJECT", "RESET",
	"GEM_CLOSE", "PRIME_HANDLE_TO_FD", "PRIME_FD_TO_HANDLE", "DRM_VERSION",
	"DRM_GET_CAP", "DRM_other", "unknown_nr", "mmap", "reopen", "unplug",
};

/* Shared by every process (MAP_SHARED): figures and the watchdog's view. */
struct worker_slot {
	uint64_t calls;
	uint64_t last_progress_ns;
	int in_call;		/* enum call in flight, or -1 */
	int finished;		/* the thread left its loop */
};

struct shared {
	uint64_t calls_left;
	uint64_t calls_done;
	uint64_t deadline_ns;	/* 0: none */
	uint64_t unplug_at;	/* calls_done at which the unplug happens */
	int stop;
	int unplugged;
	uint64_t hist[C_COUNT][MAX_ERRNO + 1];	/* [call][errno], 0 = success */
	uint64_t job_status[128];		/* WAIT results by DRM_WSE_STATUS_* */
	uint64_t job_status_seen[128];		/* JOB_STATUS of DONE jobs, the same */
	struct worker_slot workers[MAX_PROCS * MAX_THREADS];
};

struct options {
	uint64_t seed, calls;
	unsigned int procs, threads, seconds;
	unsigned int job_timeout_ms;	/* 0: the module's, else set for the run */
	bool unplug, no_device_reset;
};

static struct options opt = {
	.seed = 1, .calls = 5000, .procs = 2, .threads = 2,
};
static struct shared *sh;
static int num_devices;
static struct drm_wse_query_info dev_info[MAX_DEVICES];

/* Per process: the files, reopened in place with dup2 so numbers stay. */
static int slot_fd[MAX_SLOTS];
static unsigned int slot_gen[MAX_SLOTS];
static int num_slots;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- randomness: xorshift64*, one stream per thread --------------------- */
struct rng { uint64_t s; };

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

static uint32_t below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

static bool one_in(struct rng *r, uint32_t n)
{
	return below(r, n) == 0;
}

/* ---- the model of one thread ------------------------------------------- */
struct object {
	int slot;
	unsigned int gen;	/* slot_gen when created: stale after a reopen */
	uint32_t handle;
	uint64_t size;
};

struct mapping {
	int slot;
	unsigned int gen;
	uint32_t ctx;
	uint64_t dva, size;
};

struct job {
	int slot;
	uint64_t id;
};

/* A context with what valid jobs need: a stream BO mapped read-only (and
 * mmapped to write records), a data BO mapped read-write, SRAM mapped. */
struct kit {
	bool live;
	int slot;
	unsigned int gen;
	uint32_t ctx, stream, data, sram;
	uint64_t stream_dva, data_dva, sram_dva;
	void *ops;
};

#define KIT_DATA_BYTES	(4 * WSE_PAGE)
#define KIT_SRAM_BYTES	(4 * WSE_PAGE)

struct worker {
	struct rng rng;
	int index;		/* into sh->workers */
	struct object ctxs[POOL], bos[POOL], srams[POOL];
	struct mapping maps[POOL];
	struct job jobs[POOL];
	uint32_t grave[GRAVE];	/* handles of any kind that were destroyed */
	unsigned int grave_next;
	struct kit kits[2];
};

static void bury(struct worker *w, uint32_t handle)
{
	w->grave[w->grave_next++ % GRAVE] = handle;
}

static bool fresh(int slot, unsigned int gen)
{
	return __atomic_load_n(&slot_gen[slot], __ATOMIC_RELAXED) == gen;
}

/* ---- calls ------------------------------------------------------------- */
static void begin_call(struct worker *w, enum call c)
{
	__atomic_store_n(&sh->workers[w->index].in_call, (int)c, __ATOMIC_RELAXED);
}

static void count_call(struct worker *w, enum call c, int err)
{
	struct worker_slot *ws = &sh->workers[w->index];

	if (err < 0 || err > MAX_ERRNO)
		err = MAX_ERRNO;
	__atomic_fetch_add(&sh->hist[c][err], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sh->calls_done, 1, __ATOMIC_RELAXED);
	ws->calls++;
	__atomic_store_n(&ws->last_progress_ns, now_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&ws->in_call, -1, __ATOMIC_RELAXED);
}

/*
 * One ioctl on a slot's file. Now and then the size encoded in the request
 * is changed (DRM zero-fills a short struct and ignores a long tail), within
 * the ARG_BYTES every argument buffer has. Returns 0 or -errno.
 */
static int fz_ioctl(struct worker *w, enum call c, int slot, unsigned long req, void *arg)
{
	int ret;

	/* Not for PRIME: a dma-buf fd the kernel could not report would leak. */
	if (c != C_PRIME_EXPORT && c != C_PRIME_IMPORT && one_in(&w->rng, 64)) {
		unsigned long size = below(&w->rng, ARG_BYTES + 1);

		req = (req & ~((unsigned long)_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
		      (size << _IOC_SIZESHIFT);
	}
	begin_call(w, c);
	ret = ioctl(slot_fd[slot], req, arg) < 0 ? errno : 0;
	count_call(w, c, ret);
	return -ret;
}

union arg {
	unsigned char bytes[ARG_BYTES];
	struct drm_wse_query_info query;
	struct drm_wse_ctx_create ctx_create;
	struct drm_wse_ctx_destroy ctx_destroy;
	struct drm_wse_ctx_info ctx_info;
	struct drm_wse_bo_create bo_create;
	struct drm_wse_bo_mmap_offset mmap_offset;
	struct drm_wse_bo_info bo_info;
	struct drm_wse_sram_alloc sram_alloc;
	struct drm_wse_sram_free sram_free;
	struct drm_wse_map map;
	struct drm_wse_unmap unmap;
	struct drm_wse_submit submit;
	struct drm_wse_wait wait;
	struct drm_wse_job_status job_status;
	struct drm_wse_fault_inject fault;
	struct drm_wse_reset reset;
	struct drm_gem_close gem_close;
	struct drm_prime_handle prime;
	struct drm_version version;
	struct drm_get_cap get_cap;
};

/* Flips 1..3 random bits of the first @len bytes: a mutated valid struct. */
static void flip_bits(struct worker *w, void *p, size_t len)
{
	unsigned char *b = p;
	unsigned int n = 1 + below(&w->rng, 3);

	while (n--) {
		uint32_t bit = below(&w->rng, (uint32_t)len * 8);

		b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
}

/* Mutates a valid argument one time in @odds. */
static void maybe_mutate(struct worker *w, void *p, size_t len, uint32_t odds)
{
	if (one_in(&w->rng, odds))
		flip_bits(w, p, len);
}

static const uint64_t boundary_u64[] = {
	0, 1, 2, 7, 8, 4095, 4096, 4097, 8192, 65536, 1ull << 20, 1ull << 30,
	0x7fffffffull, 0x80000000ull, 0xfffff000ull, 0xffffffffull, 1ull << 32,
	(1ull << 32) + 4096, 1ull << 40, 1ull << 47, 1ull << 63, ~0ull - 4095,
	~0ull - 1, ~0ull,
};

static uint64_t boundary(struct worker *w)
{
	return boundary_u64[below(&w->rng, sizeof(boundary_u64) / sizeof(boundary_u64[0]))];
}

/* A small size, mostly page multiples. */
static uint64_t small_size(struct worker *w)
{
	uint64_t pages = 1 + below(&w->rng, 8);

	if (one_in(&w->rng, 8))
		return pages * WSE_PAGE - below(&w->rng, WSE_PAGE);
	return pages * WSE_PAGE;
}

static uint64_t size_arg(struct worker *w)
{
	return one_in(&w->rng, 4) ? boundary(w) : small_size(w);
}

static uint32_t u32_flags(struct worker *w)
{
	switch (below(&w->rng, 4)) {
	case 0: return 1u << below(&w->rng, 32);
	case 1: return (uint32_t)rnd(&w->rng);
	case 2: return ~0u;
	default: return 0;
	}
}

static int pick_slot(struct worker *w)
{
	return (int)below(&w->rng, (uint32_t)num_slots);
}

static int slot_device(int slot)
{
	return slot / SLOTS_PER_DEV;
}

/* An object of @pool, preferring ones of @slot that are still fresh. */
static struct object *pick_object(struct worker *w, struct object *pool, int slot)
{
	int start = (int)below(&w->rng, POOL);

	for (int i = 0; i < POOL; i++) {
		struct object *o = &pool[(start + i) % POOL];

		if (o->handle && o->slot == slot && fresh(o->slot, o->gen))
			return o;
	}
	return NULL;
}

/*
 * A handle for @slot: mostly a live one of the model, else one of another
 * file, a destroyed one, a boundary value or noise.
 */
static uint32_t pick_handle(struct worker *w, struct object *pool, int slot)
{
	struct object *o;

	switch (below(&w->rng, 10)) {
	case 0:
		return pool[below(&w->rng, POOL)].handle;	/* any file's, maybe stale */
	case 1:
		return w->grave[below(&w->rng, GRAVE)];
	case 2:
		return (uint32_t)boundary(w);
	case 3:
		return (uint32_t)rnd(&w->rng);
	default:
		o = pick_object(w, pool, slot);
		return o ? o->handle : 1 + below(&w->rng, 4);
	}
}

static void remember(struct worker *w, struct object *pool, int slot, uint32_t handle,
		     uint64_t size)
{
	struct object *o = &pool[below(&w->rng, POOL)];

	if (o->handle)
		bury(w, o->handle);	/* forgotten, not freed: the file's close frees it */
	*o = (struct object){ slot, slot_gen[slot], handle, size };
}

static void forget(struct worker *w, struct object *pool, int slot, uint32_t handle)
{
	for (int i = 0; i < POOL; i++)
		if (pool[i].handle == handle && pool[i].slot == slot)
			pool[i].handle = 0;
	bury(w, handle);
}

/* ---- one action per ioctl ---------------------------------------------- */
static void do_query_info(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.query.flags = one_in(&w->rng, 8) ? u32_flags(w) : 0;
	maybe_mutate(w, &a.query, sizeof(a.query), 16);
	fz_ioctl(w, C_QUERY_INFO, slot, DRM_IOCTL_WSE_QUERY_INFO, &a);
}

static void do_ctx_create(struct worker *w, int slot)
{
	union arg a = { 0 };

	if (one_in(&w->rng, 8))
		a.ctx_create.flags = u32_flags(w);
	if (one_in(&w->rng, 8))
		a.ctx_create.pad = u32_flags(w);
	if (!fz_ioctl(w, C_CTX_CREATE, slot, DRM_IOCTL_WSE_CTX_CREATE, &a) &&
	    a.ctx_create.handle)
		remember(w, w->ctxs, slot, a.ctx_create.handle, 0);
}

static void do_ctx_destroy(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.ctx_destroy.handle = pick_handle(w, w->ctxs, slot);
	maybe_mutate(w, &a.ctx_destroy, sizeof(a.ctx_destroy), 16);
	if (!fz_ioctl(w, C_CTX_DESTROY, slot, DRM_IOCTL_WSE_CTX_DESTROY, &a))
		forget(w, w->ctxs, slot, a.ctx_destroy.handle);
}

static void do_ctx_info(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.ctx_info.handle = pick_handle(w, w->ctxs, slot);
	maybe_mutate(w, &a.ctx_info, sizeof(a.ctx_info), 8);
	fz_ioctl(w, C_CTX_INFO, slot, DRM_IOCTL_WSE_CTX_INFO, &a);
}

static void do_bo_create(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.bo_create.size = size_arg(w);
	if (one_in(&w->rng, 8))
		a.bo_create.flags = u32_flags(w);
	if (fz_ioctl(w, C_BO_CREATE, slot, DRM_IOCTL_WSE_BO_CREATE, &a))
		return;
	if (a.bo_create.size <= MAX_MAPPED_BO) {
		remember(w, w->bos, slot, a.bo_create.handle, a.bo_create.size);
		return;
	}
	/* A MAP pins the whole BO: a few of GiB ones would exhaust the guest. */
	uint32_t handle = a.bo_create.handle;

	memset(&a, 0, sizeof(a));
	a.gem_close.handle = handle;
	fz_ioctl(w, C_GEM_CLOSE, slot, DRM_IOCTL_GEM_CLOSE, &a);
	bury(w, handle);
}

/* Asks for the mmap offset and maps a valid or boundary range; a valid
 * mapping of a known BO is written and read back. */
static void do_bo_mmap(struct worker *w, int slot)
{
	struct object *bo = pick_object(w, w->bos, slot);
	union arg a = { 0 };
	size_t len;
	unsigned char *p;

	a.mmap_offset.handle = bo && !one_in(&w->rng, 4) ? bo->handle : pick_handle(w, w->bos, slot);
	if (one_in(&w->rng, 16))
		a.mmap_offset.pad = u32_flags(w);
	if (fz_ioctl(w, C_BO_MMAP_OFFSET, slot, DRM_IOCTL_WSE_BO_MMAP_OFFSET, &a))
		return;
	bool valid = bo && bo->handle == a.mmap_offset.handle && !one_in(&w->rng, 4);
	uint64_t offset = a.mmap_offset.offset;

	if (valid) {
		len = (size_t)((bo->size + WSE_PAGE - 1) & ~(uint64_t)(WSE_PAGE - 1));
		if (len > 8 * WSE_PAGE)
			len = 8 * WSE_PAGE;
	} else {
		len = one_in(&w->rng, 2) ? WSE_PAGE * (1 + below(&w->rng, 64)) :
			(size_t)(boundary(w) & 0xffffffffull);
		if (one_in(&w->rng, 2))
			offset += boundary(w) & ~(uint64_t)(WSE_PAGE - 1);
	}
	begin_call(w, C_MMAP);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, slot_fd[slot], (off_t)offset);
	count_call(w, C_MMAP, p == MAP_FAILED ? errno : 0);
	if (p == MAP_FAILED)
		return;
	if (valid) {
		for (size_t i = 0; i < len; i += WSE_PAGE)
			p[i] = (unsigned char)i;
		for (size_t i = 0; i < len; i += WSE_PAGE)
			if (p[i] != (unsigned char)i)
				fprintf(stderr, "# mmap of BO %u reads back %u at %zu\n",
					bo->handle, p[i], i);
	}
	munmap(p, len);
}

static void do_bo_info(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.bo_info.handle = pick_handle(w, w->bos, slot);
	maybe_mutate(w, &a.bo_info, sizeof(a.bo_info), 8);
	fz_ioctl(w, C_BO_INFO, slot, DRM_IOCTL_WSE_BO_INFO, &a);
}

static void do_sram_alloc(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.sram_alloc.size = size_arg(w);
	if (one_in(&w->rng, 4))
		a.sram_alloc.alignment = one_in(&w->rng, 2) ? boundary(w) :
			WSE_PAGE << below(&w->rng, 12);
	if (one_in(&w->rng, 8))
		a.sram_alloc.flags = u32_flags(w);
	if (!fz_ioctl(w, C_SRAM_ALLOC, slot, DRM_IOCTL_WSE_SRAM_ALLOC, &a))
		remember(w, w->srams, slot, a.sram_alloc.handle, a.sram_alloc.size);
}

static void do_sram_free(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.sram_free.handle = pick_handle(w, w->srams, slot);
	maybe_mutate(w, &a.sram_free, sizeof(a.sram_free), 16);
	if (!fz_ioctl(w, C_SRAM_FREE, slot, DRM_IOCTL_WSE_SRAM_FREE, &a))
		forget(w, w->srams, slot, a.sram_free.handle);
}

static uint64_t dva_arg(struct worker *w, int slot)
{
	const struct drm_wse_query_info *info = &dev_info[slot_device(slot)];
	uint64_t span = info->dva_end - info->dva_start;

	switch (below(&w->rng, 4)) {
	case 0:
		return boundary(w);
	case 1:
		return info->dva_end - WSE_PAGE * below(&w->rng, 3);
	default:
		return info->dva_start + (span ? (rnd(&w->rng) % span) & ~(uint64_t)(WSE_PAGE - 1) : 0);
	}
}

static void do_map(struct worker *w, int slot)
{
	bool sram = one_in(&w->rng, 3);
	struct object *target = pick_object(w, sram ? w->srams : w->bos, slot);
	union arg a = { 0 };

	a.map.ctx = pick_handle(w, w->ctxs, slot);
	a.map.flags = (uint32_t)(1 + below(&w->rng, 3)) | (sram ? DRM_WSE_MAP_SRAM : 0);
	if (one_in(&w->rng, 4))
		a.map.flags |= DRM_WSE_MAP_FIXED;
	if (one_in(&w->rng, 16))
		a.map.flags = u32_flags(w);
	a.map.handle = target && !one_in(&w->rng, 4) ? target->handle :
		pick_handle(w, sram ? w->srams : w->bos, slot);
	if (one_in(&w->rng, 4))
		a.map.offset = one_in(&w->rng, 2) ? boundary(w) : WSE_PAGE * below(&w->rng, 4);
	if (one_in(&w->rng, 3))
		a.map.size = one_in(&w->rng, 2) ? boundary(w) : WSE_PAGE * below(&w->rng, 4);
	if (a.map.flags & DRM_WSE_MAP_FIXED)
		a.map.dva = dva_arg(w, slot);
	if (one_in(&w->rng, 16))
		a.map.pad = u32_flags(w);
	maybe_mutate(w, &a.map, sizeof(a.map), 16);
	if (!fz_ioctl(w, C_MAP, slot, DRM_IOCTL_WSE_MAP, &a)) {
		struct mapping *m = &w->maps[below(&w->rng, POOL)];

		*m = (struct mapping){ slot, slot_gen[slot], a.map.ctx, a.map.dva, a.map.size };
	}
}

static void do_unmap(struct worker *w, int slot)
{
	struct mapping *m = &w->maps[below(&w->rng, POOL)];
	union arg a = { 0 };

	if (m->ctx && m->slot == slot && !one_in(&w->rng, 4)) {
		a.unmap.ctx = m->ctx;
		a.unmap.dva = m->dva;
		if (one_in(&w->rng, 8))
			a.unmap.dva += one_in(&w->rng, 2) ? WSE_PAGE : 1;
	} else {
		a.unmap.ctx = pick_handle(w, w->ctxs, slot);
		a.unmap.dva = dva_arg(w, slot);
	}
	maybe_mutate(w, &a.unmap, sizeof(a.unmap), 16);
	if (!fz_ioctl(w, C_UNMAP, slot, DRM_IOCTL_WSE_UNMAP, &a) && m->ctx == a.unmap.ctx)
		m->ctx = 0;
}

static void remember_job(struct worker *w, int slot, uint64_t id)
{
	w->jobs[below(&w->rng, POOL)] = (struct job){ slot, id };
}

static uint64_t pick_job(struct worker *w, int slot)
{
	struct job *j = &w->jobs[below(&w->rng, POOL)];

	if (j->id && (j->slot == slot || one_in(&w->rng, 4)) && !one_in(&w->rng, 8))
		return j->id;
	return one_in(&w->rng, 2) ? boundary(w) : j->id + below(&w->rng, 3);
}

static uint64_t wait_timeout(struct worker *w)
{
	switch (below(&w->rng, 16)) {
	case 0:
		return LONG_WAIT_NS;
	case 1:
	case 2:
		return 0;
	case 3:
		return 1;
	default:
		return below(&w->rng, 200) * 1000000ull;
	}
}

static void do_wait(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.wait.job_id = pick_job(w, slot);
	a.wait.timeout_ns = wait_timeout(w);
	if (one_in(&w->rng, 16))
		a.wait.flags = u32_flags(w);
	if (!fz_ioctl(w, C_WAIT, slot, DRM_IOCTL_WSE_WAIT, &a))
		__atomic_fetch_add(&sh->job_status[a.wait.status & 127], 1, __ATOMIC_RELAXED);
}

static void do_job_status(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.job_status.job_id = pick_job(w, slot);
	if (one_in(&w->rng, 16))
		a.job_status.flags = u32_flags(w);
	if (!fz_ioctl(w, C_JOB_STATUS, slot, DRM_IOCTL_WSE_JOB_STATUS, &a) &&
	    a.job_status.state == DRM_WSE_JOB_DONE)
		__atomic_fetch_add(&sh->job_status_seen[a.job_status.status & 127], 1,
				   __ATOMIC_RELAXED);
}

static uint32_t queue_arg(struct worker *w, int slot)
{
	uint32_t n = dev_info[slot_device(slot)].num_queues;

	switch (below(&w->rng, 8)) {
	case 0:
		return (uint32_t)boundary(w);
	case 1:
		return n;
	case 2:
		return DRM_WSE_QUEUE_DEFAULT;
	default:
		return below(&w->rng, n ? n : 1);
	}
}

static void do_fault_inject(struct worker *w, int slot)
{
	union arg a = { 0 };

	/* Mostly clearing: an armed fault persists until cleared, and a hung
	 * queue costs every job on it a job_timeout_ms. */
	a.fault.mode = one_in(&w->rng, 3) ? below(&w->rng, 6) : DRM_WSE_FAULT_NONE;
	if (one_in(&w->rng, 16))
		a.fault.mode = (uint32_t)boundary(w);
	a.fault.queue = queue_arg(w, slot);
	maybe_mutate(w, &a.fault, sizeof(a.fault), 16);
	fz_ioctl(w, C_FAULT_INJECT, slot, DRM_IOCTL_WSE_FAULT_INJECT, &a);
}

static void do_reset(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.reset.kind = DRM_WSE_RESET_QUEUE;
	if (!opt.no_device_reset && one_in(&w->rng, 8))
		a.reset.kind = DRM_WSE_RESET_DEVICE;
	if (one_in(&w->rng, 16))
		a.reset.kind = (uint32_t)boundary(w);
	a.reset.queue = queue_arg(w, slot);
	if (one_in(&w->rng, 16))
		a.reset.flags = u32_flags(w);
	fz_ioctl(w, C_RESET, slot, DRM_IOCTL_WSE_RESET, &a);
}

static void do_gem_close(struct worker *w, int slot)
{
	union arg a = { 0 };

	a.gem_close.handle = pick_handle(w, w->bos, slot);
	if (one_in(&w->rng, 16))
		a.gem_close.pad = u32_flags(w);
	if (!fz_ioctl(w, C_GEM_CLOSE, slot, DRM_IOCTL_GEM_CLOSE, &a))
		forget(w, w->bos, slot, a.gem_close.handle);
}

/* Exports a BO of @slot and imports it into another file (same device or
 * not); now and then imports a non-dma-buf fd or a closed one. */
static void do_prime(struct worker *w, int slot)
{
	int to = pick_slot(w);
	union arg a = { 0 };
	int dmabuf = -1;

	a.prime.handle = pick_handle(w, w->bos, slot);
	a.prime.flags = one_in(&w->rng, 2) ? DRM_CLOEXEC | DRM_RDWR : DRM_CLOEXEC;
	if (one_in(&w->rng, 16))
		a.prime.flags = u32_flags(w);
	if (!fz_ioctl(w, C_PRIME_EXPORT, slot, DRM_IOCTL_PRIME_HANDLE_TO_FD, &a))
		dmabuf = a.prime.fd;
	memset(&a, 0, sizeof(a));
	switch (below(&w->rng, 6)) {
	case 0:
		a.prime.fd = slot_fd[to];	/* a device file, not a dma-buf */
		break;
	case 1:
		a.prime.fd = (int32_t)boundary(w);
		break;
	default:
		a.prime.fd = dmabuf;
	}
	if (!fz_ioctl(w, C_PRIME_IMPORT, to, DRM_IOCTL_PRIME_FD_TO_HANDLE, &a))
		remember(w, w->bos, to, a.prime.handle, WSE_PAGE);
	if (dmabuf >= 0) {
		/* A dma-buf mmap reaches the same pages through another route. */
		if (one_in(&w->rng, 4)) {
			begin_call(w, C_MMAP);
			void *p = mmap(NULL, WSE_PAGE, PROT_READ, MAP_SHARED, dmabuf, 0);

			count_call(w, C_MMAP, p == MAP_FAILED ? errno : 0);
			if (p != MAP_FAILED) {
				(void)*(volatile unsigned char *)p;
				munmap(p, WSE_PAGE);
			}
		}
		close(dmabuf);
	}
}

static void do_drm_generic(struct worker *w, int slot)
{
	union arg a = { 0 };
	char name[64], date[64], desc[64];

	switch (below(&w->rng, 4)) {
	case 0:
		a.version.name = name;
		a.version.name_len = one_in(&w->rng, 4) ? (size_t)boundary(w) : sizeof(name);
		a.version.date = date;
		a.version.date_len = sizeof(date);
		a.version.desc = desc;
		a.version.desc_len = below(&w->rng, sizeof(desc));
		if (a.version.name_len > sizeof(name))
			a.version.name = NULL;	/* the kernel must fault, not overrun */
		fz_ioctl(w, C_DRM_VERSION, slot, DRM_IOCTL_VERSION, &a);
		break;
	case 1:
		a.get_cap.capability = one_in(&w->rng, 2) ? below(&w->rng, 0x20) : boundary(w);
		fz_ioctl(w, C_DRM_GET_CAP, slot, DRM_IOCTL_GET_CAP, &a);
		break;
	case 2: {
		/* Generic DRM ioctls an accel node refuses or accepts: flink,
		 * gem open, client caps, auth, set version, mode calls. */
		static const unsigned long reqs[] = {
			DRM_IOCTL_GEM_FLINK, DRM_IOCTL_GEM_OPEN, DRM_IOCTL_SET_CLIENT_CAP,
			DRM_IOCTL_GET_MAGIC, DRM_IOCTL_AUTH_MAGIC, DRM_IOCTL_SET_VERSION,
			DRM_IOCTL_GET_UNIQUE, DRM_IOCTL_MODE_GETRESOURCES,
			DRM_IOCTL_SYNCOBJ_CREATE,
		};
		unsigned long req = reqs[below(&w->rng, sizeof(reqs) / sizeof(reqs[0]))];
		unsigned int nr;

		/* Or any number of DRM core's table (0x00-0x3f, 0xa0-0xcf),
		 * but PRIME export, whose dma-buf fd could leak unreported. */
		if (one_in(&w->rng, 2)) {
			do
				nr = one_in(&w->rng, 2) ? below(&w->rng, 0x40) : 0xa0 + below(&w->rng, 0x30);
			while (nr == _IOC_NR(DRM_IOCTL_PRIME_HANDLE_TO_FD));
			req = _IOWR(DRM_IOCTL_BASE, nr, union arg);
		}
		/* Mostly zeroed: a NULL user pointer with a zero count. */
		if (one_in(&w->rng, 4))
			for (size_t i = 0; i < 16; i++)
				a.bytes[below(&w->rng, 64)] = (unsigned char)rnd(&w->rng);
		fz_ioctl(w, C_DRM_OTHER, slot, req, &a);
		break;
	}
	default: {
		/* Numbers past the driver's table, in every direction. */
		unsigned int nr = DRM_COMMAND_BASE + 0x10 + below(&w->rng, 0x70);
		unsigned long req = _IOC(below(&w->rng, 4), DRM_IOCTL_BASE, nr,
					 below(&w->rng, ARG_BYTES + 1));

		fz_ioctl(w, C_UNKNOWN_NR, slot, req, &a);
	}
	}
}

/* Reopens a file in place: every handle of the old file becomes stale while
 * other threads may still be inside ioctls and mmaps of it. */
static void do_reopen(struct worker *w, int slot)
{
	int fd, ret;

	begin_call(w, C_REOPEN);
	fd = wse_open(slot_device(slot));
	if (fd < 0) {
		count_call(w, C_REOPEN, errno);
		return;
	}
	__atomic_fetch_add(&slot_gen[slot], 1, __ATOMIC_RELAXED);
	ret = dup3(fd, slot_fd[slot], O_CLOEXEC) < 0 ? errno : 0;
	close(fd);
	count_call(w, C_REOPEN, ret);
}

/* ---- jobs on kits -------------------------------------------------------- */
static void kit_drop(struct kit *k)
{
	if (k->ops)
		munmap(k->ops, WSE_PAGE);
	memset(k, 0, sizeof(*k));
}

static int kit_map(struct worker *w, struct kit *k, uint32_t handle, uint32_t flags,
		   uint64_t *dva)
{
	union arg a = { 0 };

	a.map.ctx = k->ctx;
	a.map.flags = flags;
	a.map.handle = handle;
	if (fz_ioctl(w, C_MAP, k->slot, DRM_IOCTL_WSE_MAP, &a))
		return -1;
	*dva = a.map.dva;
	return 0;
}

/* Builds a kit with valid calls; its objects join the model, so random
 * destroys, closes and unmaps hit them too. */
static void kit_build(struct worker *w, struct kit *k, int slot)
{
	union arg a = { 0 };

	kit_drop(k);
	k->slot = slot;
	k->gen = slot_gen[slot];
	if (fz_ioctl(w, C_CTX_CREATE, slot, DRM_IOCTL_WSE_CTX_CREATE, &a))
		return;
	k->ctx = a.ctx_create.handle;
	remember(w, w->ctxs, slot, k->ctx, 0);
	memset(&a, 0, sizeof(a));
	a.bo_create.size = WSE_PAGE;
	if (fz_ioctl(w, C_BO_CREATE, slot, DRM_IOCTL_WSE_BO_CREATE, &a))
		return;
	k->stream = a.bo_create.handle;
	remember(w, w->bos, slot, k->stream, WSE_PAGE);
	memset(&a, 0, sizeof(a));
	a.bo_create.size = KIT_DATA_BYTES;
	if (fz_ioctl(w, C_BO_CREATE, slot, DRM_IOCTL_WSE_BO_CREATE, &a))
		return;
	k->data = a.bo_create.handle;
	remember(w, w->bos, slot, k->data, KIT_DATA_BYTES);
	memset(&a, 0, sizeof(a));
	a.sram_alloc.size = KIT_SRAM_BYTES;
	if (fz_ioctl(w, C_SRAM_ALLOC, slot, DRM_IOCTL_WSE_SRAM_ALLOC, &a))
		return;
	k->sram = a.sram_alloc.handle;
	remember(w, w->srams, slot, k->sram, KIT_SRAM_BYTES);
	if (kit_map(w, k, k->stream, DRM_WSE_MAP_READ, &k->stream_dva) ||
	    kit_map(w, k, k->data, DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE, &k->data_dva) ||
	    kit_map(w, k, k->sram, DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE | DRM_WSE_MAP_SRAM,
		    &k->sram_dva))
		return;
	memset(&a, 0, sizeof(a));
	a.mmap_offset.handle = k->stream;
	if (fz_ioctl(w, C_BO_MMAP_OFFSET, slot, DRM_IOCTL_WSE_BO_MMAP_OFFSET, &a))
		return;
	begin_call(w, C_MMAP);
	k->ops = mmap(NULL, WSE_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, slot_fd[slot],
		      (off_t)a.mmap_offset.offset);
	count_call(w, C_MMAP, k->ops == MAP_FAILED ? errno : 0);
	if (k->ops == MAP_FAILED) {
		k->ops = NULL;
		return;
	}
	k->live = true;
}

static uint64_t data_addr(struct worker *w, const struct kit *k, uint64_t bytes)
{
	return k->data_dva + ((rnd(&w->rng) % (KIT_DATA_BYTES - bytes + 1)) & ~7ull);
}

static uint64_t sram_addr(struct worker *w, const struct kit *k, uint64_t bytes)
{
	return k->sram_dva + ((rnd(&w->rng) % (KIT_SRAM_BYTES - bytes + 1)) & ~7ull);
}

/*
 * Writes 1..6 records into the kit's stream: valid NOP, COPY (host to host,
 * host to SRAM and back) and ADD (SRAM), then maybe mutated ones (any op
 * code, lengths, addresses, counts, regions). Returns the stream's bytes.
 */
static uint32_t write_stream(struct worker *w, struct kit *k)
{
	unsigned char *p = k->ops;
	uint32_t used = 0;
	unsigned int records = 1 + below(&w->rng, 6);

	for (unsigned int i = 0; i < records; i++) {
		unsigned char rec[128];
		uint32_t len;

		memset(rec, 0, sizeof(rec));
		switch (below(&w->rng, 4)) {
		case 0: {
			struct wse_hw_op_hdr *h = (void *)rec;

			h->op = WSE_OP_NOP;
			h->length = sizeof(*h);
			len = sizeof(*h);
			break;
		}
		case 1:
		case 2: {
			struct wse_hw_op_copy *c = (void *)rec;
			uint64_t bytes = 8 * (1 + below(&w->rng, 256));
			bool to_sram = one_in(&w->rng, 2);

			c->hdr.op = WSE_OP_COPY;
			c->hdr.length = sizeof(*c);
			c->bytes = bytes;
			c->src = data_addr(w, k, bytes);
			c->dst = to_sram ? sram_addr(w, k, bytes) : data_addr(w, k, bytes);
			if (to_sram && one_in(&w->rng, 2)) {
				uint64_t t = c->src - k->data_dva;

				c->src = c->dst;
				c->dst = k->data_dva + t;
			}
			len = sizeof(*c);
			break;
		}
		default: {
			struct wse_hw_op_add *add = (void *)rec;
			uint32_t n = 2 * (1 + below(&w->rng, 256));

			add->hdr.op = WSE_OP_ADD;
			add->hdr.length = sizeof(*add);
			add->n = n;
			add->a = sram_addr(w, k, 4ull * n);
			add->b = sram_addr(w, k, 4ull * n);
			add->out = sram_addr(w, k, 4ull * n);
			len = sizeof(*add);
			break;
		}
		}
		if (one_in(&w->rng, 4)) {
			struct wse_hw_op_hdr *h = (void *)rec;

			switch (below(&w->rng, 6)) {
			case 0:
				h->op = (uint16_t)below(&w->rng, WSE_OP_COUNT + 3);
				len = 8 * (2 + below(&w->rng, 14));
				for (uint32_t b = sizeof(*h); b < len; b++)
					rec[b] = one_in(&w->rng, 4) ? (unsigned char)rnd(&w->rng) : 0;
				h->length = (uint16_t)len;
				break;
			case 1:
				h->length = (uint16_t)(one_in(&w->rng, 2) ? boundary(w) : len + 8);
				break;
			case 2:
				h->flags = u32_flags(w);
				break;
			case 3:
				h->region.x = (uint16_t)rnd(&w->rng);
				h->region.w = (uint16_t)rnd(&w->rng);
				h->region.h = (uint16_t)below(&w->rng, 2048);
				break;
			case 4:
				/* an operand or count of the record set to a boundary */
				if (len > sizeof(*h)) {
					uint64_t v = boundary(w);
					uint32_t word = below(&w->rng, (len - sizeof(*h)) / 8);

					memcpy(rec + sizeof(*h) + 8 * word, &v, sizeof(v));
				}
				break;
			default:
				flip_bits(w, rec, len);
			}
		}
		if (used + len > WSE_PAGE)
			break;
		memcpy(p + used, rec, len);
		used += len;
	}
	return used;
}

static void submit_on_kit(struct worker *w, struct kit *k)
{
	union arg a = { 0 };
	uint32_t handles[8];

	a.submit.ctx = k->ctx;
	a.submit.queue = one_in(&w->rng, 2) ? DRM_WSE_QUEUE_DEFAULT : queue_arg(w, k->slot);
	if (one_in(&w->rng, 8)) {
		a.submit.flags = DRM_WSE_SUBMIT_NOP;
	} else {
		a.submit.stream_handle = k->stream;
		a.submit.stream_length = write_stream(w, k);
	}
	if (one_in(&w->rng, 4)) {
		handles[0] = k->data;
		handles[1] = k->stream;
		a.submit.bo_count = 2;
		a.submit.bo_handles = (uintptr_t)handles;
	}
	if (one_in(&w->rng, 4)) {
		switch (below(&w->rng, 6)) {
		case 0:
			a.submit.stream_offset = one_in(&w->rng, 2) ? boundary(w) : 8 * below(&w->rng, 600);
			break;
		case 1:
			a.submit.stream_length = (uint32_t)boundary(w);
			break;
		case 2:
			a.submit.bo_count = (uint32_t)boundary(w);
			a.submit.bo_handles = (uintptr_t)handles;
			handles[0] = pick_handle(w, w->bos, k->slot);
			break;
		case 3:
			a.submit.bo_count = 1 + below(&w->rng, 8);
			a.submit.bo_handles = one_in(&w->rng, 2) ? boundary(w) : (uintptr_t)handles;
			for (int i = 0; i < 8; i++)
				handles[i] = pick_handle(w, w->bos, k->slot);
			break;
		case 4:
			a.submit.flags = u32_flags(w);
			break;
		default:
			flip_bits(w, &a.submit, sizeof(a.submit));
		}
	}
	if (!fz_ioctl(w, C_SUBMIT, k->slot, DRM_IOCTL_WSE_SUBMIT, &a))
		remember_job(w, k->slot, a.submit.job_id);
}

/* A submit with random fields, from the model but without a kit. */
static void do_submit_loose(struct worker *w, int slot)
{
	union arg a = { 0 };
	uint32_t handles[4] = { 0 };

	a.submit.ctx = pick_handle(w, w->ctxs, slot);
	a.submit.flags = one_in(&w->rng, 2) ? DRM_WSE_SUBMIT_NOP : (one_in(&w->rng, 4) ? u32_flags(w) : 0);
	a.submit.queue = queue_arg(w, slot);
	if (!(a.submit.flags & DRM_WSE_SUBMIT_NOP)) {
		a.submit.stream_handle = pick_handle(w, w->bos, slot);
		a.submit.stream_length = one_in(&w->rng, 2) ? (uint32_t)boundary(w) : 8 * below(&w->rng, 64);
		a.submit.stream_offset = one_in(&w->rng, 2) ? boundary(w) : 0;
	}
	if (one_in(&w->rng, 4)) {
		a.submit.bo_count = one_in(&w->rng, 2) ? (uint32_t)boundary(w) : 4;
		for (int i = 0; i < 4; i++)
			handles[i] = pick_handle(w, w->bos, slot);
		a.submit.bo_handles = (uintptr_t)handles;
	}
	maybe_mutate(w, &a.submit, sizeof(a.submit), 8);
	if (!fz_ioctl(w, C_SUBMIT, slot, DRM_IOCTL_WSE_SUBMIT, &a))
		remember_job(w, slot, a.submit.job_id);
}

static struct kit *live_kit(struct worker *w, int slot)
{
	struct kit *k = &w->kits[below(&w->rng, 2)];

	if (!k->live || !fresh(k->slot, k->gen) || one_in(&w->rng, 64))
		kit_build(w, k, slot);
	return k->live ? k : NULL;
}

/* A job on a kit; sometimes its context is destroyed or its data unmapped
 * right after the submit, while the job may still run. */
static void do_job(struct worker *w, int slot)
{
	struct kit *k = live_kit(w, slot);
	union arg a = { 0 };

	if (!k)
		return;
	submit_on_kit(w, k);
	switch (below(&w->rng, 16)) {
	case 0:
		a.ctx_destroy.handle = k->ctx;
		if (!fz_ioctl(w, C_CTX_DESTROY, k->slot, DRM_IOCTL_WSE_CTX_DESTROY, &a))
			forget(w, w->ctxs, k->slot, k->ctx);
		k->live = false;
		break;
	case 1:
		a.unmap.ctx = k->ctx;
		a.unmap.dva = one_in(&w->rng, 2) ? k->data_dva : k->sram_dva;
		fz_ioctl(w, C_UNMAP, k->slot, DRM_IOCTL_WSE_UNMAP, &a);
		k->live = false;
		break;
	case 2:
	case 3:
		do_wait(w, k->slot);
		break;
	default:
		break;
	}
}

/*
 * Hangs a queue and waits for a job on it: the job must end, timed out
 * (or aborted by a reset another worker made meanwhile), never hang.
 */
static void do_hang_and_wait(struct worker *w, int slot)
{
	struct kit *k = live_kit(w, slot);
	uint32_t queues = dev_info[slot_device(slot)].num_queues;
	union arg a = { 0 };

	if (!k || !queues)
		return;
	a.fault.mode = DRM_WSE_FAULT_HANG_QUEUE;
	a.fault.queue = below(&w->rng, queues);
	if (fz_ioctl(w, C_FAULT_INJECT, k->slot, DRM_IOCTL_WSE_FAULT_INJECT, &a))
		return;
	uint32_t queue = a.fault.queue;

	memset(&a, 0, sizeof(a));
	a.submit.ctx = k->ctx;
	a.submit.flags = DRM_WSE_SUBMIT_NOP;
	a.submit.queue = queue;
	if (fz_ioctl(w, C_SUBMIT, k->slot, DRM_IOCTL_WSE_SUBMIT, &a))
		return;
	uint64_t job = a.submit.job_id;

	remember_job(w, k->slot, job);
	memset(&a, 0, sizeof(a));
	a.wait.job_id = job;
	a.wait.timeout_ns = LONG_WAIT_NS;
	if (!fz_ioctl(w, C_WAIT, k->slot, DRM_IOCTL_WSE_WAIT, &a))
		__atomic_fetch_add(&sh->job_status[a.wait.status & 127], 1, __ATOMIC_RELAXED);
}

/* ---- the worker loop ------------------------------------------------------ */
static bool take_call(void)
{
	if (__atomic_load_n(&sh->stop, __ATOMIC_RELAXED))
		return false;
	if (sh->deadline_ns && now_ns() > sh->deadline_ns)
		return false;
	if (opt.calls && __atomic_sub_fetch(&sh->calls_left, 1, __ATOMIC_RELAXED) >= (1ull << 62)) {
		__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/* The one hot-unplug of a run (--unplug): the last device, from process 0. */
static void maybe_unplug(struct worker *w)
{
	char cmd[32];
	int ret;

	if (!opt.unplug || w->index != 0 || sh->unplugged ||
	    __atomic_load_n(&sh->calls_done, __ATOMIC_RELAXED) < sh->unplug_at)
		return;
	sh->unplugged = 1;
	snprintf(cmd, sizeof(cmd), "device_del wse%d\n", num_devices - 1);
	begin_call(w, C_UNPLUG);
	ret = wse_write_file("/dev/ttyS1", cmd);
	count_call(w, C_UNPLUG, -ret);
	printf("# unplug of wse%d asked after %llu calls: %s\n", num_devices - 1,
	       (unsigned long long)sh->calls_done, ret ? strerror(-ret) : "ok");
	fflush(stdout);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (take_call()) {
		int slot = pick_slot(w);
		uint32_t dice = below(&w->rng, 1000);

		maybe_unplug(w);
		if (dice < 200)
			do_job(w, slot);
		else if (dice < 250)
			do_submit_loose(w, slot);
		else if (dice < 320)
			do_wait(w, slot);
		else if (dice < 360)
			do_job_status(w, slot);
		else if (dice < 400)
			do_query_info(w, slot);
		else if (dice < 450)
			do_ctx_create(w, slot);
		else if (dice < 490)
			do_ctx_destroy(w, slot);
		else if (dice < 520)
			do_ctx_info(w, slot);
		else if (dice < 580)
			do_bo_create(w, slot);
		else if (dice < 610)
			do_bo_mmap(w, slot);
		else if (dice < 630)
			do_bo_info(w, slot);
		else if (dice < 670)
			do_sram_alloc(w, slot);
		else if (dice < 700)
			do_sram_free(w, slot);
		else if (dice < 780)
			do_map(w, slot);
		else if (dice < 830)
			do_unmap(w, slot);
		else if (dice < 860)
			do_gem_close(w, slot);
		else if (dice < 900)
			do_prime(w, slot);
		else if (dice < 960)
			do_drm_generic(w, slot);
		else if (dice < 970)
			do_reopen(w, slot);
		else if (dice < 973)
			do_hang_and_wait(w, slot);
		else if (dice < 985)
			do_fault_inject(w, slot);
		else
			do_reset(w, slot);
	}
	for (int i = 0; i < 2; i++)
		kit_drop(&w->kits[i]);
	__atomic_store_n(&sh->workers[w->index].finished, 1, __ATOMIC_RELAXED);
	return NULL;
}

static int run_process(unsigned int proc)
{
	pthread_t tids[MAX_THREADS];
	static struct worker workers[MAX_THREADS];

	for (int d = 0; d < num_devices; d++)
		for (int s = 0; s < SLOTS_PER_DEV; s++) {
			int slot = d * SLOTS_PER_DEV + s;

			slot_fd[slot] = wse_open(d);
			if (slot_fd[slot] < 0) {
				fprintf(stderr, "# process %u: open %s: %s\n", proc, wse_dev_path(d),
					strerror(errno));
				return 3;
			}
		}
	num_slots = num_devices * SLOTS_PER_DEV;
	for (unsigned int t = 0; t < opt.threads; t++) {
		struct worker *w = &workers[t];

		memset(w, 0, sizeof(*w));
		w->index = (int)(proc * opt.threads + t);
		/* splitmix64 of the seed and the worker: distinct, nonzero streams */
		uint64_t z = opt.seed + 0x9e3779b97f4a7c15ull * (uint64_t)(w->index + 1);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		w->rng.s = (z ^ (z >> 31)) | 1;
		sh->workers[w->index].last_progress_ns = now_ns();
		sh->workers[w->index].in_call = -1;
		if (pthread_create(&tids[t], NULL, worker_main, w)) {
			fprintf(stderr, "# process %u: pthread_create failed\n", proc);
			return 3;
		}
	}
	for (unsigned int t = 0; t < opt.threads; t++)
		pthread_join(tids[t], NULL);
	return 0;
}

/*
 * Before the random phase: every number of DRM core's table and of the
 * driver's range once on each device, argument zeroed, so that a core ioctl
 * that an accel file cannot take (GET_UNIQUE and GET_MAGIC oopsed 6.12) is
 * met on every run, not by chance.
 */
static void sweep_ioctl_numbers(struct worker *w)
{
	for (int d = 0; d < num_devices; d++) {
		for (unsigned int nr = 0; nr < 0x100; nr++) {
			union arg a = { 0 };
			unsigned int slot = (unsigned int)d * SLOTS_PER_DEV;
			enum call c = nr >= DRM_COMMAND_BASE && nr < DRM_COMMAND_END ?
				C_UNKNOWN_NR : C_DRM_OTHER;

			/* PRIME export could leave a dma-buf fd; the admin calls
			 * and RESET's device reset are the random phase's. */
			if (nr == _IOC_NR(DRM_IOCTL_PRIME_HANDLE_TO_FD) ||
			    (nr >= DRM_COMMAND_BASE + DRM_WSE_FAULT_INJECT &&
			     nr <= DRM_COMMAND_BASE + DRM_WSE_RESET))
				continue;
			begin_call(w, c);
			count_call(w, c, ioctl(slot_fd[slot], _IOWR(DRM_IOCTL_BASE, nr, union arg),
					       &a) < 0 ? errno : 0);
		}
	}
}

/* ---- the parent: watchdog, figures, the check afterwards ----------------- */
static int watch_children(pid_t *pids)
{
	unsigned int running = opt.procs;
	int result = 0;

	while (running) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				printf("# worker process %d ended with status 0x%x\n", pid, status);
				result = 3;
			}
			continue;
		}
		usleep(200000);
		uint64_t t = now_ns();

		for (unsigned int i = 0; i < opt.procs * opt.threads; i++) {
			struct worker_slot *ws = &sh->workers[i];
			int in_call = __atomic_load_n(&ws->in_call, __ATOMIC_RELAXED);
			uint64_t last = __atomic_load_n(&ws->last_progress_ns, __ATOMIC_RELAXED);

			/* last may be newer than t: a call returned meanwhile */
			if (__atomic_load_n(&ws->finished, __ATOMIC_RELAXED) || last > t ||
			    t - last < WATCHDOG_S * 1000000000ull)
				continue;
			printf("# watchdog: worker %u made no progress for %d s, %s %s\n", i,
			       WATCHDOG_S, in_call < 0 ? "between calls" : "inside",
			       in_call < 0 ? "" : call_names[in_call]);
			__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
			for (unsigned int p = 0; p < opt.procs; p++)
				kill(pids[p], SIGKILL);
			return 3;
		}
	}
	return result;
}

static void print_figures(double seconds)
{
	printf("# %-20s %10s  errno histogram (0 = success)\n", "call", "count");
	for (int c = 0; c < C_COUNT; c++) {
		uint64_t total = 0;
		char line[1024];
		int len = 0;

		for (int e = 0; e <= MAX_ERRNO; e++) {
			uint64_t n = sh->hist[c][e];

			total += n;
			if (n && len < (int)sizeof(line) - 64)
				len += snprintf(line + len, sizeof(line) - (size_t)len, " %s=%llu",
						e == 0 ? "ok" : e == MAX_ERRNO ? "other" :
						strerrorname_np(e) ? strerrorname_np(e) : "?",
						(unsigned long long)n);
		}
		printf("# %-20s %10llu %s\n", call_names[c], (unsigned long long)total,
		       total ? line : "");
	}
	printf("# job status from WAIT:");
	for (int s = 0; s < 128; s++)
		if (sh->job_status[s])
			printf(" %d=%llu", s, (unsigned long long)sh->job_status[s]);
	printf("\n# job status from JOB_STATUS:");
	for (int s = 0; s < 128; s++)
		if (sh->job_status_seen[s])
			printf(" %d=%llu", s, (unsigned long long)sh->job_status_seen[s]);
	printf("\n# %.1f s, %.0f calls/s\n", seconds, sh->calls_done / (seconds > 0 ? seconds : 1));
	printf("calls=%llu\n", (unsigned long long)sh->calls_done);
}

/* A fresh open of every device still present: as root, faults cleared and
 * each queue reset; then a COPY round trip through SRAM on every queue. */
static int check_device(int index)
{
	struct wse_copier c;
	struct drm_wse_query_info info = { 0 };
	uint32_t src, dst, sram;
	uint64_t src_dva, dst_dva, sram_dva;
	unsigned char *sp, *dp;
	int fd = wse_open(index), ret;

	if (fd < 0) {
		printf("# wse%d: open: %s\n", index, strerror(errno));
		return -1;
	}
	ret = wse_ioctl(fd, DRM_IOCTL_WSE_QUERY_INFO, &info);
	/* Only root could have injected faults, and only root may clear them. */
	for (uint32_t q = 0; !ret && geteuid() == 0 && q < info.num_queues; q++) {
		struct drm_wse_fault_inject clear = { .mode = DRM_WSE_FAULT_NONE, .queue = q };
		struct drm_wse_reset reset = { .kind = DRM_WSE_RESET_QUEUE, .queue = q };

		ret = wse_ioctl(fd, DRM_IOCTL_WSE_FAULT_INJECT, &clear);
		if (ret == -EOPNOTSUPP)
			ret = 0;
		if (!ret)
			ret = wse_ioctl(fd, DRM_IOCTL_WSE_RESET, &reset);
	}
	if (!ret)
		ret = wse_copier_init(&c, fd);
	if (!ret)
		ret = wse_bo_create(fd, WSE_PAGE, &src);
	if (!ret)
		ret = wse_bo_create(fd, WSE_PAGE, &dst);
	if (!ret)
		ret = wse_sram_alloc(fd, WSE_PAGE, &sram);
	if (!ret)
		ret = wse_map(fd, c.ctx, src, DRM_WSE_MAP_READ, 0, &src_dva);
	if (!ret)
		ret = wse_map(fd, c.ctx, dst, DRM_WSE_MAP_WRITE, 0, &dst_dva);
	if (!ret)
		ret = wse_map(fd, c.ctx, sram, DRM_WSE_MAP_READ | DRM_WSE_MAP_WRITE |
			      DRM_WSE_MAP_SRAM, 0, &sram_dva);
	if (ret) {
		printf("# wse%d: setting up the round trip: %s\n", index, strerror(-ret));
		close(fd);
		return -1;
	}
	sp = wse_bo_mmap(fd, src, WSE_PAGE);
	dp = wse_bo_mmap(fd, dst, WSE_PAGE);
	if (!sp || !dp) {
		printf("# wse%d: mmap of the round trip's BOs failed\n", index);
		close(fd);
		return -1;
	}
	for (uint32_t q = 0; !ret && q < info.num_queues; q++) {
		uint64_t job;

		for (unsigned int i = 0; i < WSE_PAGE; i++)
			sp[i] = (unsigned char)(i * 7 + q + 1);
		memset(dp, 0, WSE_PAGE);
		ret = wse_copy_submit(&c, src_dva, sram_dva, WSE_PAGE, q, &job);
		if (!ret)
			ret = wse_wait(fd, job, WSE_WAIT_LONG);
		if (!ret)
			ret = wse_copy_submit(&c, sram_dva, dst_dva, WSE_PAGE, q, &job);
		if (!ret)
			ret = wse_wait(fd, job, WSE_WAIT_LONG);
		if (ret)
			printf("# wse%d queue %u: COPY round trip: %s %d\n", index, q,
			       ret < 0 ? strerror(-ret) : "job status", ret);
		else if (memcmp(sp, dp, WSE_PAGE)) {
			printf("# wse%d queue %u: COPY round trip returned other bytes\n", index, q);
			ret = -1;
		}
	}
	munmap(sp, WSE_PAGE);
	munmap(dp, WSE_PAGE);
	wse_copier_fini(&c);
	close(fd);
	return ret ? -1 : (int)info.num_queues;
}

/*
 * A short hang timeout makes jobs on a queue hung by fault injection time
 * out before a random reset frees them; the check afterwards runs with the
 * module's own again.
 */
#define JOB_TIMEOUT_PARAM "/sys/module/wse/parameters/job_timeout_ms"

static int set_job_timeout(unsigned int ms, unsigned int *old)
{
	char text[32];
	FILE *f;

	if (old) {
		f = fopen(JOB_TIMEOUT_PARAM, "r");
		if (!f || fscanf(f, "%u", old) != 1) {
			printf("# cannot read %s\n", JOB_TIMEOUT_PARAM);
			if (f)
				fclose(f);
			return -1;
		}
		fclose(f);
	}
	snprintf(text, sizeof(text), "%u\n", ms);
	if (wse_write_file(JOB_TIMEOUT_PARAM, text)) {
		printf("# cannot write %s\n", JOB_TIMEOUT_PARAM);
		return -1;
	}
	printf("# job_timeout_ms = %u\n", ms);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wse_ioctl_fuzz [--seed N] [--calls N] [--procs N] [--threads N]\n"
		"                      [--time S] [--unplug] [--no-device-reset]\n"
		"                      [--job-timeout-ms N]\n"
		"Fuzzes the wse ioctls on every /dev/wseN (as root, in the VM). --calls 0\n"
		"means no limit but --time; --unplug hot-unplugs the last device halfway;\n"
		"--job-timeout-ms sets the driver's hang timeout for the random phase.\n");
}

static uint64_t number(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (!*s || *end) {
		usage(stderr);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "calls", required_argument, NULL, 'c' },
		{ "procs", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "time", required_argument, NULL, 'T' },
		{ "unplug", no_argument, NULL, 'u' },
		{ "no-device-reset", no_argument, NULL, 'R' },
		{ "job-timeout-ms", required_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	pid_t pids[MAX_PROCS];
	unsigned int saved_timeout = 0;
	int ch, result, checked = 0;
	uint64_t start;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': opt.seed = number(optarg); break;
		case 'c': opt.calls = number(optarg); break;
		case 'p': opt.procs = (unsigned int)number(optarg); break;
		case 't': opt.threads = (unsigned int)number(optarg); break;
		case 'T': opt.seconds = (unsigned int)number(optarg); break;
		case 'u': opt.unplug = true; break;
		case 'R': opt.no_device_reset = true; break;
		case 'J': opt.job_timeout_ms = (unsigned int)number(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !opt.procs || opt.procs > MAX_PROCS || !opt.threads ||
	    opt.threads > MAX_THREADS || (!opt.calls && !opt.seconds)) {
		usage(stderr);
		return 2;
	}
	for (num_devices = 0; num_devices < MAX_DEVICES; num_devices++) {
		int fd = wse_open(num_devices);

		if (fd < 0)
			break;
		if (wse_ioctl(fd, DRM_IOCTL_WSE_QUERY_INFO, &dev_info[num_devices])) {
			printf("# wse%d: QUERY_INFO failed\n", num_devices);
			return 1;
		}
		close(fd);
	}
	if (!num_devices || (opt.unplug && num_devices < 2)) {
		printf("# wse_ioctl_fuzz needs %s (found %d)\n",
		       opt.unplug ? "two devices for --unplug" : "a /dev/wseN", num_devices);
		return 1;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 3;
	sh->calls_left = opt.calls;
	start = now_ns();
	for (unsigned int i = 0; i < MAX_PROCS * MAX_THREADS; i++) {
		sh->workers[i].last_progress_ns = start;
		sh->workers[i].in_call = -1;
	}
	sh->deadline_ns = opt.seconds ? start + opt.seconds * 1000000000ull : 0;
	sh->unplug_at = opt.calls ? opt.calls / 2 : ~0ull;
	if (opt.unplug && !opt.calls)
		sh->unplug_at = 0;	/* time-bounded: right away */
	{
		static struct worker sweeper;

		for (int d = 0; d < num_devices; d++)
			slot_fd[d * SLOTS_PER_DEV] = wse_open(d);
		sweep_ioctl_numbers(&sweeper);
		for (int d = 0; d < num_devices; d++)
			close(slot_fd[d * SLOTS_PER_DEV]);
	}
	printf("# wse_ioctl_fuzz --seed %llu --calls %llu --procs %u --threads %u --time %u%s "
	       "on %d device(s)\n", (unsigned long long)opt.seed, (unsigned long long)opt.calls,
	       opt.procs, opt.threads, opt.seconds, opt.unplug ? " --unplug" : "", num_devices);
	fflush(stdout);
	if (opt.job_timeout_ms && set_job_timeout(opt.job_timeout_ms, &saved_timeout))
		return 1;
	for (unsigned int p = 0; p < opt.procs; p++) {
		pids[p] = fork();
		if (pids[p] < 0)
			return 3;
		if (!pids[p])
			_exit(run_process(p));
	}
	result = watch_children(pids);
	print_figures((double)(now_ns() - start) / 1e9);
	if (opt.job_timeout_ms && set_job_timeout(saved_timeout, NULL))
		result = result ? result : 1;
	if (result) {
		printf("# FAIL: a worker hung or died\n");
		return result;
	}
	/* The check below waits with timeouts, but an ioctl stuck in the
	 * kernel would not return: SIGALRM's default action ends us. */
	alarm(CHECK_TIMEOUT_S);
	for (int d = 0; d < num_devices; d++) {
		int queues;

		if (opt.unplug && d == num_devices - 1) {
			/* The unplugged device's node must be gone within a while. */
			int fd = -1;

			for (int tries = 0; tries < 100 && (fd = wse_open(d)) >= 0; tries++) {
				close(fd);
				usleep(100000);
			}
			printf("# wse%d after unplug: %s\n", d, fd < 0 ? "gone" : "still there");
			if (fd >= 0)
				result = 1;
			continue;
		}
		queues = check_device(d);
		if (queues < 0) {
			result = 1;
			continue;
		}
		checked++;
		printf("# wse%d works afterwards: COPY round trip on %d queue(s)\n", d, queues);
	}
	printf("# devices checked afterwards: %d, %s\n", checked, result ? "FAIL" : "ok");
	return result;
}
