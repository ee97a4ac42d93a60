/* SPDX-License-Identifier: MIT */
/*
 * device.c - devices, contexts, buffers, SRAM, mappings and jobs: thin
 * wrappers of the wse ioctls (uapi/wse_accel.h) through libdrm, plus the
 * bookkeeping that lets a job list its buffers and wse_close() clean up.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <xf86drm.h>

#include "libwse/internal.h"
#include "uapi/wse_accel.h"

_Static_assert(WSE_ACCESS_READ == DRM_WSE_MAP_READ && WSE_ACCESS_WRITE == DRM_WSE_MAP_WRITE &&
	       WSE_MAP_FIXED == DRM_WSE_MAP_FIXED, "map flags match the uapi");
_Static_assert(WSE_JOB_DEVICE_LOST == DRM_WSE_STATUS_DEVICE_LOST &&
	       WSE_JOB_ERR_REGION == DRM_WSE_STATUS_ERR_REGION, "statuses match the uapi");
_Static_assert(WSE_INJECT_SRAM_ERROR == DRM_WSE_FAULT_SRAM_ERROR &&
	       WSE_RESET_DEVICE == DRM_WSE_RESET_DEVICE, "debug codes match the uapi");
_Static_assert(WSE_FEATURE_FAULT_INJECT == DRM_WSE_CAP_FAULT_INJECT, "caps match the uapi");
_Static_assert(WSE_QUEUE_DEFAULT == DRM_WSE_QUEUE_DEFAULT, "default queue matches the uapi");

/* Longest single WAIT ioctl; WSE_WAIT_FOREVER loops over these. */
#define WAIT_SLICE_NS		(10ull * 1000000000ull)

int wse_module_loaded(void)
{
	return access("/sys/module/wse", F_OK) == 0;
}

/* ---- enumeration ----------------------------------------------------------- */

/* Parses "<prefix><digits>" into its number, or returns -1. */
static int numbered(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	long v;

	if (strncmp(name, prefix, n) || !isdigit((unsigned char)name[n]))
		return -1;
	v = strtol(name + n, &end, 10);
	if (*end || v < 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

/* N of the accel node a path resolves to, or -1. */
static int accel_minor_of(const char *path)
{
	char real[PATH_MAX];
	const char *base;

	if (!realpath(path, real))
		return -1;
	base = strrchr(real, '/');
	return numbered(base ? base + 1 : real, "accel");
}

static int is_wse_fd(int fd)
{
	drmVersionPtr v = drmGetVersion(fd);
	int yes;

	if (!v)
		return 0;
	yes = v->name && strcmp(v->name, "wse") == 0;
	drmFreeVersion(v);
	return yes;
}

/* Whether accelN belongs to the wse driver: ask DRM, or sysfs if we may not open it. */
static int accel_is_wse(const char *path, int minor)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		int yes = is_wse_fd(fd);

		close(fd);
		return yes;
	}
	snprintf(link, sizeof(link), "/sys/class/accel/accel%d/device/driver", minor);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = 0;
	base = strrchr(target, '/');
	return strcmp(base ? base + 1 : target, "wse") == 0;
}

/* A listed device and the PCI address its bare accel node sorts by. */
struct listed {
	struct wse_device_entry e;
	unsigned long long pci;		/* domain, bus, slot, function packed; ~0 if unknown */
};

/*
 * PCI address of accelN packed so that numeric order is PCI address order
 * (domain, bus, slot, function): the order the udev rule's wse-index names
 * /dev/wseN in, which bare accel nodes follow too.
 */
static unsigned long long accel_pci_key(int minor)
{
	struct wse_dev_stats st;
	unsigned domain, bus, slot, fn;

	if (minor < 0 || wse_sysfs_read(NULL, (uint32_t)minor, &st) ||
	    sscanf(st.pci_name, "%x:%x:%x.%x", &domain, &bus, &slot, &fn) != 4)
		return ~0ull;
	return (unsigned long long)domain << 24 | (bus & 0xff) << 16 | (slot & 0xff) << 8 |
	       (fn & 0xff);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;

	/* wseN first by N, then bare accel nodes by PCI address, then by minor. */
	if ((x->e.index < 0) != (y->e.index < 0))
		return x->e.index < 0 ? 1 : -1;
	if (x->e.index != y->e.index)
		return x->e.index < y->e.index ? -1 : 1;
	if (x->pci != y->pci)
		return x->pci < y->pci ? -1 : 1;
	return (x->e.accel_minor > y->e.accel_minor) - (x->e.accel_minor < y->e.accel_minor);
}

struct entry_list {
	struct listed *v;
	size_t n, cap;
};

static int entry_push(struct entry_list *l, const struct wse_device_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct listed *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].e = *e;
	l->v[l->n].pci = e->index < 0 ? accel_pci_key(e->accel_minor) : 0;
	l->n++;
	return 0;
}

int wse_enumerate(const char *dev_root, struct wse_device_entry *entries, size_t capacity)
{
	struct entry_list list = { 0 };
	char accel_dir[WSE_PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int err = 0;

	if (!dev_root)
		dev_root = "/dev";
	if ((capacity && !entries) || strlen(dev_root) > WSE_PATH_MAX - 32)
		return -EINVAL;

	dir = opendir(dev_root);
	while (dir && (d = readdir(dir)) != NULL && !err) {
		struct wse_device_entry e = { .accel_minor = -1 };
		struct stat st;

		e.index = numbered(d->d_name, "wse");
		if (e.index < 0)
			continue;
		if (snprintf(e.path, sizeof(e.path), "%s/%s", dev_root, d->d_name) >=
		    (int)sizeof(e.path) || stat(e.path, &st))	/* a dangling link: the device went away */
			continue;
		e.accel_minor = accel_minor_of(e.path);
		e.accessible = access(e.path, R_OK | W_OK) == 0;
		err = entry_push(&list, &e);
	}
	if (dir)
		closedir(dir);

	snprintf(accel_dir, sizeof(accel_dir), "%s/accel", dev_root);
	dir = opendir(accel_dir);
	while (dir && (d = readdir(dir)) != NULL && !err) {
		struct wse_device_entry e = { .index = -1 };
		size_t i;
		int dup = 0;

		e.accel_minor = numbered(d->d_name, "accel");
		if (e.accel_minor < 0)
			continue;
		for (i = 0; i < list.n; i++)
			dup |= list.v[i].e.accel_minor == e.accel_minor;
		if (dup)
			continue;
		if (snprintf(e.path, sizeof(e.path), "%s/%s", accel_dir, d->d_name) >=
		    (int)sizeof(e.path) || !accel_is_wse(e.path, e.accel_minor))
			continue;
		e.accessible = access(e.path, R_OK | W_OK) == 0;
		err = entry_push(&list, &e);
	}
	if (dir)
		closedir(dir);

	if (!err) {
		if (list.n > 1)
			qsort(list.v, list.n, sizeof(*list.v), entry_cmp);
		for (size_t i = 0; i < list.n && i < capacity; i++)
			entries[i] = list.v[i].e;
		err = list.n > INT_MAX ? INT_MAX : (int)list.n;
	}
	free(list.v);
	return err;
}

/* ---- open / close / info ----------------------------------------------------- */

static void fill_identity(wse_device *dev)
{
	char link[128], target[PATH_MAX];
	drmVersionPtr v;
	struct stat st;
	ssize_t n;
	char *p;

	v = drmGetVersion(dev->fd);
	if (v) {
		snprintf(dev->info.driver, sizeof(dev->info.driver), "%s", v->name ? v->name : "");
		snprintf(dev->info.driver_desc, sizeof(dev->info.driver_desc), "%s",
			 v->desc ? v->desc : "");
		dev->info.driver_major = v->version_major;
		dev->info.driver_minor = v->version_minor;
		dev->info.driver_patch = v->version_patchlevel;
		drmFreeVersion(v);
	}
	dev->info.accel_minor = -1;
	if (fstat(dev->fd, &st) || !S_ISCHR(st.st_mode))
		return;
	/* /sys/dev/char/M:m -> .../0000:01:00.0/accel/accelN */
	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u", major(st.st_rdev), minor(st.st_rdev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = 0;
	p = strrchr(target, '/');
	if (!p)
		return;
	dev->info.accel_minor = numbered(p + 1, "accel");
	*p = 0;
	if ((p = strrchr(target, '/')) && strcmp(p + 1, "accel") == 0) {
		*p = 0;
		p = strrchr(target, '/');
		if (p)
			snprintf(dev->info.pci_name, sizeof(dev->info.pci_name), "%s", p + 1);
	}
}

static int query_info(wse_device *dev, struct wse_info *info)
{
	struct drm_wse_query_info q = { 0 };

	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_QUERY_INFO, &q))
		return wse__neg_errno();
	info->abi_version = q.abi_version;
	info->hw_version = q.hw_version;
	info->caps = q.caps;
	info->sram_size = q.sram_size;
	info->sram_used = q.sram_used;
	info->grid_width = q.grid_width;
	info->grid_height = q.grid_height;
	info->pe_sram = q.pe_sram;
	info->clock_khz = q.clock_khz;
	info->num_queues = q.num_queues;
	info->queue_depth = q.queue_depth;
	info->max_contexts = q.max_contexts;
	info->max_stream = q.max_stream;
	info->dva_start = q.dva_start;
	info->dva_end = q.dva_end;
	info->serial = q.serial;
	info->max_bo_handles = q.max_bo_handles;
	return 0;
}

int wse_open(const char *path, wse_device **out, char *errmsg, size_t errmsg_len)
{
	wse_device *dev;
	int fd, err;

	if (errmsg && errmsg_len)
		errmsg[0] = 0;
	if (!out)
		return wse__failbuf(errmsg, errmsg_len, -EINVAL, "wse_open: out is NULL");
	if (!path || !*path)
		path = getenv("WSE_DEVICE");
	if (!path || !*path)
		path = WSE_DEFAULT_DEVICE;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = wse__neg_errno();
		if (err == -ENOENT && !wse_module_loaded())
			return wse__failbuf(errmsg, errmsg_len, err,
					    "%s does not exist: the wse kernel module is not loaded "
					    "(modprobe wse)", path);
		if (err == -ENOENT)
			return wse__failbuf(errmsg, errmsg_len, err,
					    "%s does not exist: no such wse device (the module is "
					    "loaded; see wse-smi for the devices there are)", path);
		if (err == -EACCES || err == -EPERM)
			return wse__failbuf(errmsg, errmsg_len, -EACCES,
					    "permission denied opening %s: the device needs read-write "
					    "access (the 'render' group, or root)", path);
		return wse__failbuf(errmsg, errmsg_len, err, "cannot open %s: %s", path,
				    wse_strerror(err));
	}
	if (!is_wse_fd(fd)) {
		close(fd);
		return wse__failbuf(errmsg, errmsg_len, -ENODEV,
				    "%s is not a wse device (its DRM driver is not \"wse\")", path);
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		close(fd);
		return wse__failbuf(errmsg, errmsg_len, -ENOMEM, "out of memory");
	}
	dev->fd = fd;
	pthread_mutex_init(&dev->lock, NULL);
	dev->ctxs.next = dev->ctxs.prev = &dev->ctxs;
	dev->bos.next = dev->bos.prev = &dev->bos;
	dev->srams.next = dev->srams.prev = &dev->srams;
	fill_identity(dev);
	err = query_info(dev, &dev->info);
	if (err) {
		wse__failbuf(errmsg, errmsg_len, err, "%s: QUERY_INFO failed: %s", path,
			     wse_strerror(err));
		wse_close(dev);
		return err;
	}
	*out = dev;
	return 0;
}

int wse_open_index(int index, wse_device **out, char *errmsg, size_t errmsg_len)
{
	char path[64];

	if (index < 0)
		return wse__failbuf(errmsg, errmsg_len, -EINVAL, "device index %d is negative",
				    index);
	snprintf(path, sizeof(path), "/dev/wse%d", index);
	return wse_open(path, out, errmsg, errmsg_len);
}

int wse_device_fd(const wse_device *dev)
{
	return dev ? dev->fd : -1;
}

int wse_query_info(wse_device *dev, struct wse_info *info)
{
	struct wse_info fresh;
	int err;

	if (!dev || !info)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	fresh = dev->info;
	pthread_mutex_unlock(&dev->lock);
	err = query_info(dev, &fresh);
	if (err)
		return wse__fail(dev, err, "QUERY_INFO failed: %s", wse_strerror(err));
	*info = fresh;
	return 0;
}

/* ---- buffers -------------------------------------------------------------------- */

static void gem_close(wse_device *dev, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	drmIoctl(dev->fd, DRM_IOCTL_GEM_CLOSE, &c);
}

static int bo_wrap(wse_device *dev, uint32_t handle, uint64_t size, wse_bo **out)
{
	wse_bo *bo = calloc(1, sizeof(*bo));

	if (!bo) {
		gem_close(dev, handle);
		return wse__fail(dev, -ENOMEM, "out of memory");
	}
	bo->dev = dev;
	bo->handle = handle;
	bo->size = size;
	pthread_mutex_lock(&dev->lock);
	wse__link_add(&dev->bos, &bo->link);
	pthread_mutex_unlock(&dev->lock);
	*out = bo;
	return 0;
}

int wse_bo_create(wse_device *dev, uint64_t size, wse_bo **out)
{
	struct drm_wse_bo_create c = { .size = size };
	int err;

	if (!dev)
		return -EINVAL;
	if (!out || size == 0)
		return wse__fail(dev, -EINVAL, "bo_create: %s", out ? "size is 0" : "out is NULL");
	if (size > UINT64_MAX - (DRM_WSE_PAGE_SIZE - 1))
		return wse__fail(dev, -EOVERFLOW, "bo_create: size %llu overflows",
				 (unsigned long long)size);
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_BO_CREATE, &c)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "BO_CREATE of %llu bytes failed: %s",
				 (unsigned long long)size, wse_strerror(err));
	}
	return bo_wrap(dev, c.handle, (size + DRM_WSE_PAGE_SIZE - 1) & ~(DRM_WSE_PAGE_SIZE - 1), out);
}

int wse_bo_map(wse_bo *bo, void **ptr)
{
	struct drm_wse_bo_mmap_offset m = { 0 };
	wse_device *dev;
	void *p;
	int err;

	if (!bo || !ptr)
		return -EINVAL;
	dev = bo->dev;
	pthread_mutex_lock(&dev->lock);
	p = bo->ptr;
	pthread_mutex_unlock(&dev->lock);
	if (p) {
		*ptr = p;
		return 0;
	}
	m.handle = bo->handle;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_BO_MMAP_OFFSET, &m)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "BO_MMAP_OFFSET failed: %s", wse_strerror(err));
	}
	p = mmap(NULL, bo->size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd, (off_t)m.offset);
	if (p == MAP_FAILED) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "mmap of a %llu-byte buffer failed: %s",
				 (unsigned long long)bo->size, wse_strerror(err));
	}
	pthread_mutex_lock(&dev->lock);
	if (bo->ptr) {		/* another thread won the race */
		munmap(p, bo->size);
		p = bo->ptr;
	} else {
		bo->ptr = p;
	}
	pthread_mutex_unlock(&dev->lock);
	*ptr = p;
	return 0;
}

uint64_t wse_bo_size(const wse_bo *bo)
{
	return bo ? bo->size : 0;
}

uint32_t wse_bo_handle(const wse_bo *bo)
{
	return bo ? bo->handle : 0;
}

int wse_bo_export(wse_bo *bo, int *dmabuf_fd)
{
	int fd, err;

	if (!bo || !dmabuf_fd)
		return -EINVAL;
	if (drmPrimeHandleToFD(bo->dev->fd, bo->handle, DRM_CLOEXEC | DRM_RDWR, &fd)) {
		err = wse__neg_errno();
		return wse__fail(bo->dev, err, "dma-buf export failed: %s", wse_strerror(err));
	}
	*dmabuf_fd = fd;
	return 0;
}

int wse_bo_import(wse_device *dev, int dmabuf_fd, wse_bo **out)
{
	struct drm_wse_bo_info info = { 0 };
	uint32_t handle;
	int err;

	if (!dev)
		return -EINVAL;
	if (!out || dmabuf_fd < 0)
		return wse__fail(dev, -EINVAL, "bo_import: %s",
				 out ? "bad dma-buf fd" : "out is NULL");
	if (drmPrimeFDToHandle(dev->fd, dmabuf_fd, &handle)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "dma-buf import failed: %s", wse_strerror(err));
	}
	/* Importing our own export returns a handle we may already wrap. */
	pthread_mutex_lock(&dev->lock);
	for (struct wse_link *l = dev->bos.next; l != &dev->bos; l = l->next) {
		if (WSE_CONTAINER(l, wse_bo, link)->handle == handle) {
			pthread_mutex_unlock(&dev->lock);
			return wse__fail(dev, -EBUSY,
					 "bo_import: the dma-buf is a buffer of this handle already");
		}
	}
	pthread_mutex_unlock(&dev->lock);
	info.handle = handle;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_BO_INFO, &info)) {
		err = wse__neg_errno();
		gem_close(dev, handle);
		return wse__fail(dev, err, "BO_INFO of an imported buffer failed: %s",
				 wse_strerror(err));
	}
	return bo_wrap(dev, handle, info.size, out);
}

static void bo_release(wse_bo *bo)
{
	if (bo->ptr)
		munmap(bo->ptr, bo->size);
	gem_close(bo->dev, bo->handle);
	free(bo);
}

void wse_bo_free(wse_bo *bo)
{
	wse_device *dev;

	if (!bo)
		return;
	dev = bo->dev;
	pthread_mutex_lock(&dev->lock);
	if (bo->mappings) {
		/* Freeing it would leave a dangling entry in a context's job list. */
		snprintf(dev->errmsg, sizeof(dev->errmsg),
			 "bo_free: buffer still mapped in %u context mapping(s); not freed",
			 bo->mappings);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	wse__link_del(&bo->link);
	pthread_mutex_unlock(&dev->lock);
	bo_release(bo);
}

/* ---- SRAM ------------------------------------------------------------------------- */

int wse_sram_alloc(wse_device *dev, uint64_t size, uint64_t alignment, wse_sram **out)
{
	struct drm_wse_sram_alloc a = { .size = size, .alignment = alignment };
	wse_sram *sram;
	int err;

	if (!dev)
		return -EINVAL;
	if (!out || size == 0)
		return wse__fail(dev, -EINVAL, "sram_alloc: %s", out ? "size is 0" : "out is NULL");
	if (alignment && (alignment < DRM_WSE_PAGE_SIZE || (alignment & (alignment - 1))))
		return wse__fail(dev, -EINVAL,
				 "sram_alloc: alignment %llu is not a power of two >= 4096",
				 (unsigned long long)alignment);
	if (size > UINT64_MAX - (DRM_WSE_PAGE_SIZE - 1))
		return wse__fail(dev, -EOVERFLOW, "sram_alloc: size overflows");
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_SRAM_ALLOC, &a)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "SRAM_ALLOC of %llu bytes failed: %s",
				 (unsigned long long)size, wse_strerror(err));
	}
	sram = calloc(1, sizeof(*sram));
	if (!sram) {
		struct drm_wse_sram_free f = { .handle = a.handle };

		drmIoctl(dev->fd, DRM_IOCTL_WSE_SRAM_FREE, &f);
		return wse__fail(dev, -ENOMEM, "out of memory");
	}
	sram->dev = dev;
	sram->handle = a.handle;
	sram->size = (size + DRM_WSE_PAGE_SIZE - 1) & ~(DRM_WSE_PAGE_SIZE - 1);
	pthread_mutex_lock(&dev->lock);
	wse__link_add(&dev->srams, &sram->link);
	pthread_mutex_unlock(&dev->lock);
	*out = sram;
	return 0;
}

uint64_t wse_sram_size(const wse_sram *sram)
{
	return sram ? sram->size : 0;
}

static void sram_release(wse_sram *sram)
{
	struct drm_wse_sram_free f = { .handle = sram->handle };

	drmIoctl(sram->dev->fd, DRM_IOCTL_WSE_SRAM_FREE, &f);
	free(sram);
}

void wse_sram_free(wse_sram *sram)
{
	wse_device *dev;

	if (!sram)
		return;
	dev = sram->dev;
	pthread_mutex_lock(&dev->lock);
	if (sram->mappings) {
		snprintf(dev->errmsg, sizeof(dev->errmsg),
			 "sram_free: allocation still mapped in %u context mapping(s); not freed",
			 sram->mappings);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	wse__link_del(&sram->link);
	pthread_mutex_unlock(&dev->lock);
	sram_release(sram);
}

/* ---- contexts and mappings ------------------------------------------------------ */

int wse_ctx_create(wse_device *dev, wse_ctx **out)
{
	struct drm_wse_ctx_create c = { 0 };
	wse_ctx *ctx;
	int err;

	if (!dev)
		return -EINVAL;
	if (!out)
		return wse__fail(dev, -EINVAL, "ctx_create: out is NULL");
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_CTX_CREATE, &c)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "CTX_CREATE failed: %s%s", wse_strerror(err),
				 err == -ENOSPC ? " (the device holds no more contexts)" : "");
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		struct drm_wse_ctx_destroy d = { .handle = c.handle };

		drmIoctl(dev->fd, DRM_IOCTL_WSE_CTX_DESTROY, &d);
		return wse__fail(dev, -ENOMEM, "out of memory");
	}
	ctx->dev = dev;
	ctx->handle = c.handle;
	ctx->queue = c.queue;
	pthread_mutex_lock(&dev->lock);
	wse__link_add(&dev->ctxs, &ctx->link);
	pthread_mutex_unlock(&dev->lock);
	*out = ctx;
	return 0;
}

/* Called with dev->lock held. */
static int map_record(wse_ctx *ctx, uint64_t dva, wse_bo *bo, wse_sram *sram)
{
	if (ctx->num_maps == ctx->cap_maps) {
		unsigned cap = ctx->cap_maps ? 2 * ctx->cap_maps : 16;
		struct wse_mapping *m = realloc(ctx->maps, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		ctx->maps = m;
		ctx->cap_maps = cap;
	}
	ctx->maps[ctx->num_maps++] = (struct wse_mapping){ .dva = dva, .bo = bo, .sram = sram };
	if (bo)
		bo->mappings++;
	else
		sram->mappings++;
	return 0;
}

static int do_map(wse_ctx *ctx, wse_bo *bo, wse_sram *sram, uint64_t offset, uint64_t size,
		  uint32_t flags, uint64_t *dva)
{
	wse_device *dev = ctx->dev;
	struct drm_wse_map m = { 0 };
	int err;

	if (flags & ~(uint32_t)(WSE_ACCESS_RW | WSE_MAP_FIXED))
		return wse__fail(dev, -EINVAL, "map: unknown flags 0x%x", flags);
	if (!(flags & WSE_ACCESS_RW))
		return wse__fail(dev, -EINVAL, "map: needs WSE_ACCESS_READ and/or WSE_ACCESS_WRITE");
	if (!dva)
		return wse__fail(dev, -EINVAL, "map: dva is NULL");
	if ((offset | size) & (DRM_WSE_PAGE_SIZE - 1))
		return wse__fail(dev, -EINVAL, "map: offset and size must be multiples of 4096");
	m.ctx = ctx->handle;
	m.flags = flags | (sram ? DRM_WSE_MAP_SRAM : 0);
	m.handle = bo ? bo->handle : sram->handle;
	m.offset = offset;
	m.size = size;
	if (flags & WSE_MAP_FIXED)
		m.dva = *dva;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_MAP, &m)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "MAP of %s handle %u (offset %llu, size %llu) failed: %s",
				 sram ? "SRAM" : "buffer", m.handle, (unsigned long long)offset,
				 (unsigned long long)size, wse_strerror(err));
	}
	pthread_mutex_lock(&dev->lock);
	err = map_record(ctx, m.dva, bo, sram);
	pthread_mutex_unlock(&dev->lock);
	if (err) {
		struct drm_wse_unmap u = { .ctx = ctx->handle, .dva = m.dva };

		drmIoctl(dev->fd, DRM_IOCTL_WSE_UNMAP, &u);
		return wse__fail(dev, err, "out of memory");
	}
	*dva = m.dva;
	return 0;
}

int wse_map_bo(wse_ctx *ctx, wse_bo *bo, uint64_t offset, uint64_t size, uint32_t flags,
	       uint64_t *dva)
{
	if (!ctx)
		return -EINVAL;
	if (!bo || bo->dev != ctx->dev)
		return wse__fail(ctx->dev, -EINVAL, "map_bo: %s",
				 bo ? "buffer belongs to another device handle" : "bo is NULL");
	return do_map(ctx, bo, NULL, offset, size, flags, dva);
}

int wse_map_sram(wse_ctx *ctx, wse_sram *sram, uint64_t offset, uint64_t size,
		 uint32_t flags, uint64_t *dva)
{
	if (!ctx)
		return -EINVAL;
	if (!sram || sram->dev != ctx->dev)
		return wse__fail(ctx->dev, -EINVAL, "map_sram: %s",
				 sram ? "allocation belongs to another device handle"
				      : "sram is NULL");
	return do_map(ctx, NULL, sram, offset, size, flags, dva);
}

int wse_unmap(wse_ctx *ctx, uint64_t dva)
{
	struct drm_wse_unmap u = { 0 };
	wse_device *dev;
	unsigned i;
	int err;

	if (!ctx)
		return -EINVAL;
	dev = ctx->dev;
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < ctx->num_maps && ctx->maps[i].dva != dva; i++)
		;
	pthread_mutex_unlock(&dev->lock);
	if (i == ctx->num_maps)
		return wse__fail(dev, -ENOENT, "unmap: no mapping starts at 0x%llx",
				 (unsigned long long)dva);
	u.ctx = ctx->handle;
	u.dva = dva;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_UNMAP, &u)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "UNMAP of 0x%llx failed: %s", (unsigned long long)dva,
				 wse_strerror(err));
	}
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < ctx->num_maps; i++) {
		if (ctx->maps[i].dva != dva)
			continue;
		if (ctx->maps[i].bo)
			ctx->maps[i].bo->mappings--;
		else
			ctx->maps[i].sram->mappings--;
		ctx->maps[i] = ctx->maps[--ctx->num_maps];
		break;
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* Destroying the kernel context drops its mappings; the list only needs its counts undone. */
static void ctx_release(wse_ctx *ctx)
{
	wse_device *dev = ctx->dev;
	struct drm_wse_ctx_destroy d = { .handle = ctx->handle };
	unsigned i;

	drmIoctl(dev->fd, DRM_IOCTL_WSE_CTX_DESTROY, &d);
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < ctx->num_maps; i++) {
		if (ctx->maps[i].bo)
			ctx->maps[i].bo->mappings--;
		else
			ctx->maps[i].sram->mappings--;
	}
	ctx->num_maps = 0;
	pthread_mutex_unlock(&dev->lock);
	for (i = 0; i < WSE_STAGING_SLOTS; i++)
		if (ctx->staging[i].bo)
			wse_bo_free(ctx->staging[i].bo);
	free(ctx->maps);
	free(ctx);
}

void wse_ctx_destroy(wse_ctx *ctx)
{
	if (!ctx)
		return;
	pthread_mutex_lock(&ctx->dev->lock);
	wse__link_del(&ctx->link);
	pthread_mutex_unlock(&ctx->dev->lock);
	ctx_release(ctx);
}

int wse_ctx_query(wse_ctx *ctx, struct wse_ctx_info *info)
{
	struct drm_wse_ctx_info q = { 0 };
	int err;

	if (!ctx || !info)
		return -EINVAL;
	q.handle = ctx->handle;
	if (drmIoctl(ctx->dev->fd, DRM_IOCTL_WSE_CTX_INFO, &q)) {
		err = wse__neg_errno();
		return wse__fail(ctx->dev, err, "CTX_INFO failed: %s", wse_strerror(err));
	}
	info->queue = q.queue;
	info->num_maps = q.num_maps;
	info->jobs_done = q.jobs_done;
	info->faults = q.faults;
	info->last_fault_dva = q.last_fault_dva;
	info->last_fault_status = q.last_fault_status;
	return 0;
}

void wse_close(wse_device *dev)
{
	if (!dev)
		return;
	/* Contexts first: their staging buffers and mapping counts go with them. */
	while (dev->ctxs.next != &dev->ctxs) {
		struct wse_link *l = dev->ctxs.next;

		wse__link_del(l);
		ctx_release(WSE_CONTAINER(l, wse_ctx, link));
	}
	while (dev->bos.next != &dev->bos) {
		struct wse_link *l = dev->bos.next;

		wse__link_del(l);
		bo_release(WSE_CONTAINER(l, wse_bo, link));
	}
	while (dev->srams.next != &dev->srams) {
		struct wse_link *l = dev->srams.next;

		wse__link_del(l);
		sram_release(WSE_CONTAINER(l, wse_sram, link));
	}
	close(dev->fd);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* ---- jobs ------------------------------------------------------------------------ */

static int job_done_or_gone(wse_device *dev, uint64_t job)
{
	struct drm_wse_job_status st = { .job_id = job };

	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_JOB_STATUS, &st))
		return errno == ENOENT;	/* no longer retained: long finished */
	return st.state == DRM_WSE_JOB_DONE;
}

static int do_submit(wse_ctx *ctx, uint32_t flags, uint32_t queue, wse_bo *stream_bo,
		     uint64_t offset, uint32_t length, uint64_t *job_id)
{
	wse_device *dev = ctx->dev;
	struct drm_wse_submit sub = { 0 };
	uint32_t *handles = NULL;
	unsigned i, j, n = 0;
	int err;

	pthread_mutex_lock(&dev->lock);
	handles = malloc((ctx->num_maps + 1) * sizeof(*handles));
	if (!handles) {
		pthread_mutex_unlock(&dev->lock);
		return wse__fail(dev, -ENOMEM, "out of memory");
	}
	if (stream_bo)
		handles[n++] = stream_bo->handle;
	for (i = 0; i < ctx->num_maps; i++) {
		wse_bo *bo = ctx->maps[i].bo;

		if (!bo || bo->internal)
			continue;
		for (j = 0; j < n && handles[j] != bo->handle; j++)
			;
		if (j == n)
			handles[n++] = bo->handle;
	}
	pthread_mutex_unlock(&dev->lock);
	if (dev->info.max_bo_handles && n > dev->info.max_bo_handles) {
		free(handles);
		return wse__fail(dev, -E2BIG,
				 "submit: %u buffers are mapped in the context; a job lists at most %u",
				 n, dev->info.max_bo_handles);
	}
	sub.ctx = ctx->handle;
	sub.flags = flags;
	sub.queue = queue;
	sub.stream_handle = stream_bo ? stream_bo->handle : 0;
	sub.stream_offset = offset;
	sub.stream_length = length;
	sub.bo_count = n;
	sub.bo_handles = (uintptr_t)handles;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_SUBMIT, &sub)) {
		err = wse__neg_errno();
		free(handles);
		return wse__fail(dev, err, "SUBMIT failed: %s", wse_strerror(err));
	}
	free(handles);
	*job_id = sub.job_id;
	return 0;
}

int wse_submit_nop(wse_ctx *ctx, uint32_t queue, uint64_t *job_id)
{
	if (!ctx)
		return -EINVAL;
	if (!job_id)
		return wse__fail(ctx->dev, -EINVAL, "submit: job_id is NULL");
	return do_submit(ctx, DRM_WSE_SUBMIT_NOP, queue, NULL, 0, 0, job_id);
}

int wse_submit_raw(wse_ctx *ctx, wse_bo *bo, uint64_t offset, uint32_t length, uint32_t queue,
		   uint64_t *job_id)
{
	if (!ctx)
		return -EINVAL;
	if (!bo || !job_id || bo->dev != ctx->dev)
		return wse__fail(ctx->dev, -EINVAL, "submit_raw: bad buffer or job_id");
	if (length == 0 || (length | offset) % 8)
		return wse__fail(ctx->dev, -EINVAL,
				 "submit_raw: offset and length must be multiples of 8, length > 0");
	return do_submit(ctx, 0, queue, bo, offset, length, job_id);
}

/* A staging slot big enough for length bytes, marked busy; NULL with the error in *err. */
static struct wse_staging *staging_get(wse_ctx *ctx, size_t length, int *err)
{
	wse_device *dev = ctx->dev;
	struct wse_staging *slot = NULL, *oldest = NULL;
	uint64_t size = WSE_STAGING_MIN, dva = 0;
	wse_bo *bo;
	void *ptr;
	int i;

	while (size < length)
		size *= 2;
	for (;;) {
		pthread_mutex_lock(&dev->lock);
		for (i = 0; i < WSE_STAGING_SLOTS && !slot; i++) {
			struct wse_staging *st = &ctx->staging[i];

			if (st->last_job == STAGING_BUSY)
				continue;
			if (!st->bo) {
				slot = st;
			} else if (st->bo->size >= length &&
				   (st->last_job == 0 || job_done_or_gone(dev, st->last_job))) {
				slot = st;
			} else if (!oldest || st->last_job < oldest->last_job) {
				oldest = st;
			}
		}
		if (slot)
			slot->last_job = STAGING_BUSY;
		pthread_mutex_unlock(&dev->lock);
		if (slot)
			break;
		if (!oldest) {
			*err = wse__fail(dev, -EBUSY, "submit: every staging buffer is being filled");
			return NULL;
		}
		/* All slots carry running jobs: wait for the oldest, then retry. */
		wse_wait(dev, oldest->last_job, WSE_WAIT_FOREVER, NULL);
		if (oldest->bo->size < length) {
			pthread_mutex_lock(&dev->lock);
			if (oldest->last_job != STAGING_BUSY) {
				oldest->last_job = STAGING_BUSY;
				slot = oldest;
			}
			pthread_mutex_unlock(&dev->lock);
			if (slot) {
				wse_unmap(ctx, slot->dva);
				wse_bo_free(slot->bo);
				slot->bo = NULL;
				break;
			}
		}
		oldest = NULL;
	}
	if (slot->bo)
		return slot;

	*err = wse_bo_create(dev, size, &bo);
	if (*err)
		goto fail;
	bo->internal = 1;
	*err = wse_bo_map(bo, &ptr);
	if (!*err)
		*err = wse_map_bo(ctx, bo, 0, 0, WSE_ACCESS_READ, &dva);
	if (*err) {
		wse_bo_free(bo);
		goto fail;
	}
	slot->bo = bo;
	slot->dva = dva;
	return slot;
fail:
	pthread_mutex_lock(&dev->lock);
	slot->last_job = 0;
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

int wse_submit(wse_ctx *ctx, const wse_stream *s, uint32_t queue, uint64_t *job_id)
{
	struct wse_staging *slot;
	uint64_t job = 0;
	int err;

	if (!ctx)
		return -EINVAL;
	if (!s || !job_id)
		return wse__fail(ctx->dev, -EINVAL, "submit: %s is NULL", s ? "job_id" : "stream");
	if (s->length == 0)
		return wse__fail(ctx->dev, -EINVAL, "submit: the stream is empty");
	if (ctx->dev->info.max_stream && s->length > ctx->dev->info.max_stream)
		return wse__fail(ctx->dev, -E2BIG, "submit: stream of %zu bytes; the device takes %u",
				 s->length, ctx->dev->info.max_stream);
	slot = staging_get(ctx, s->length, &err);
	if (!slot)
		return err;
	memcpy(slot->bo->ptr, s->data, s->length);
	err = do_submit(ctx, 0, queue, slot->bo, 0, (uint32_t)s->length, &job);
	pthread_mutex_lock(&ctx->dev->lock);
	slot->last_job = err ? 0 : job;
	pthread_mutex_unlock(&ctx->dev->lock);
	if (!err)
		*job_id = job;
	return err;
}

static int fill_status(wse_device *dev, uint64_t job, struct wse_job_result *r)
{
	struct drm_wse_job_status st = { .job_id = job };

	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_JOB_STATUS, &st))
		return wse__neg_errno();
	r->state = st.state;
	r->status = st.status;
	r->op_index = st.op_index;
	r->queue = st.queue;
	r->cycles = st.cycles;
	r->submit_ns = st.submit_ns;
	r->done_ns = st.done_ns;
	return 0;
}

int wse_job_status(wse_device *dev, uint64_t job_id, struct wse_job_result *result)
{
	struct wse_job_result r = { 0 };
	int err;

	if (!dev)
		return -EINVAL;
	if (!result)
		return wse__fail(dev, -EINVAL, "job_status: result is NULL");
	err = fill_status(dev, job_id, &r);
	if (err)
		return wse__fail(dev, err, "JOB_STATUS of job %llu failed: %s",
				 (unsigned long long)job_id, wse_strerror(err));
	*result = r;
	return 0;
}

int wse_wait(wse_device *dev, uint64_t job_id, uint64_t timeout_ns, struct wse_job_result *result)
{
	struct drm_wse_wait w = { 0 };
	struct wse_job_result r = { 0 };
	uint64_t left = timeout_ns;
	int err;

	if (!dev)
		return -EINVAL;
	for (;;) {
		w.job_id = job_id;
		w.timeout_ns = left > WAIT_SLICE_NS ? WAIT_SLICE_NS : left;
		w.flags = 0;
		if (drmIoctl(dev->fd, DRM_IOCTL_WSE_WAIT, &w) == 0)
			break;
		err = wse__neg_errno();
		if (err == -ETIME || err == -ETIMEDOUT || err == -EBUSY || err == -EAGAIN) {
			if (timeout_ns == WSE_WAIT_FOREVER || left > WAIT_SLICE_NS) {
				if (timeout_ns != WSE_WAIT_FOREVER)
					left -= WAIT_SLICE_NS;
				continue;
			}
			return wse__fail(dev, -ETIMEDOUT, "job %llu still running after %llu ns",
					 (unsigned long long)job_id, (unsigned long long)timeout_ns);
		}
		return wse__fail(dev, err, "WAIT for job %llu failed: %s",
				 (unsigned long long)job_id, wse_strerror(err));
	}
	r.state = WSE_JOB_STATE_DONE;
	r.status = w.status;
	r.cycles = w.cycles;
	if (result || w.status != WSE_JOB_OK)
		fill_status(dev, job_id, &r);	/* op_index, queue, times; best effort */
	if (result)
		*result = r;
	if (w.status != WSE_JOB_OK)
		return wse__fail(dev, -EIO, "job %llu failed: %s (status %u) at op %u",
				 (unsigned long long)job_id, wse_status_str(w.status), w.status,
				 r.op_index);
	return 0;
}

/* ---- debug and recovery ------------------------------------------------------------ */

int wse_fault_inject(wse_device *dev, uint32_t mode, uint32_t queue)
{
	struct drm_wse_fault_inject f = { .mode = mode, .queue = queue };
	int err;

	if (!dev)
		return -EINVAL;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_FAULT_INJECT, &f)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "FAULT_INJECT mode %u on queue %u failed: %s%s", mode,
				 queue, wse_strerror(err),
				 err == -EPERM ? " (needs CAP_SYS_ADMIN)" : "");
	}
	return 0;
}

int wse_reset(wse_device *dev, uint32_t kind, uint32_t queue)
{
	struct drm_wse_reset rs = { .kind = kind, .queue = queue };
	int err;

	if (!dev)
		return -EINVAL;
	if (drmIoctl(dev->fd, DRM_IOCTL_WSE_RESET, &rs)) {
		err = wse__neg_errno();
		return wse__fail(dev, err, "RESET (%s) failed: %s%s",
				 kind == WSE_RESET_DEVICE ? "device" : "queue", wse_strerror(err),
				 err == -EPERM ? " (needs CAP_SYS_ADMIN)" : "");
	}
	return 0;
}

int wse_stream_create_for(wse_device *dev, wse_stream **out)
{
	wse_stream *s;
	int err;

	if (!dev)
		return -EINVAL;
	err = wse_stream_create(dev->info.max_stream, &s);
	if (err)
		return wse__fail(dev, err, "stream_create: %s", wse_strerror(err));
	err = wse_stream_set_limits(s, dev->info.grid_width, dev->info.grid_height,
				    dev->info.caps, 0);
	if (err) {
		wse__fail(dev, err, "stream_create: %s", wse_stream_last_error(s));
		wse_stream_destroy(s);
		return err;
	}
	*out = s;
	return 0;
}
