/* SPDX-License-Identifier: MIT */
/*
 * device.c - finding, opening, querying and closing wse devices. The objects
 * a handle owns live in buffer.c (host buffers), context.c (contexts, SRAM,
 * mappings) and job.c (jobs); wse_close() releases whatever is left of them.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <xf86drm.h>

#include "libwse/internal.h"
#include "uapi/wse_accel.h"

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

/* Where sysfs keeps a character device: /sys/dev/char/M:m -> .../0000:01:00.0/accel/accelN. */
static int char_dev_sysfs(dev_t rdev, char *target, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u", major(rdev), minor(rdev));
	n = readlink(link, target, len - 1);
	if (n <= 0)
		return -1;
	target[n] = 0;
	return 0;
}

/*
 * N of the accel node a path resolves to, or -1: by name through links, else
 * by device number, for a node made with mknod under another name.
 */
static int accel_minor_of(const char *path)
{
	char real[PATH_MAX];
	const char *base;
	struct stat st;
	int minor = -1;

	if (realpath(path, real)) {
		base = strrchr(real, '/');
		minor = numbered(base ? base + 1 : real, "accel");
	}
	if (minor >= 0 || stat(path, &st) || !S_ISCHR(st.st_mode) ||
	    char_dev_sysfs(st.st_rdev, real, sizeof(real)))
		return minor;
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
	char target[PATH_MAX];
	drmVersionPtr v;
	struct stat st;
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
	if (fstat(dev->fd, &st) || !S_ISCHR(st.st_mode) ||
	    char_dev_sysfs(st.st_rdev, target, sizeof(target)))
		return;
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
	info->caps = wse__features_from_uapi(q.caps);
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
	info->dtypes = wse__dtypes_from_uapi(q.abi_version, q.dtypes, q.caps);
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


void wse_close(wse_device *dev)
{
	if (!dev)
		return;
	/* Contexts first: their staging buffers and mapping counts go with them. */
	while (dev->ctxs.next != &dev->ctxs) {
		struct wse_link *l = dev->ctxs.next;

		wse__link_del(l);
		wse__ctx_release(WSE_CONTAINER(l, wse_ctx, link));
	}
	while (dev->bos.next != &dev->bos) {
		struct wse_link *l = dev->bos.next;

		wse__link_del(l);
		wse__bo_release(WSE_CONTAINER(l, wse_bo, link));
	}
	while (dev->srams.next != &dev->srams) {
		struct wse_link *l = dev->srams.next;

		wse__link_del(l);
		wse__sram_release(WSE_CONTAINER(l, wse_sram, link));
	}
	close(dev->fd);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}
