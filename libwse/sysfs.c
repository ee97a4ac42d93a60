/* SPDX-License-Identifier: MIT */
/*
 * sysfs.c - the driver's counters from sysfs: the "wse" attribute group of
 * the PCI device, /sys/class/accel/accelN/device/wse/.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libwse/internal.h"

static int read_attr(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static uint64_t attr_u64(const char *dir, const char *name)
{
	char buf[64];

	if (read_attr(dir, name, buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 0);
}

int wse_sysfs_read(const char *sysfs_root, uint32_t accel_minor, struct wse_dev_stats *stats)
{
	static const char *const states[] = { "ready", "resetting", "fatal", "gone" };
	char dev[PATH_MAX], dir[PATH_MAX], real[PATH_MAX], buf[64];
	struct wse_dev_stats st = { 0 };
	const char *base;
	unsigned i, w, h;

	if (!stats)
		return -EINVAL;
	if (!sysfs_root)
		sysfs_root = "/sys";
	if (snprintf(dev, sizeof(dev), "%s/class/accel/accel%" PRIu32 "/device", sysfs_root,
		     accel_minor) >= (int)sizeof(dev) ||
	    snprintf(dir, sizeof(dir), "%s/wse", dev) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	if (read_attr(dir, "state", buf, sizeof(buf)))
		return -ENOENT;
	st.state = WSE_STATE_UNKNOWN;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(buf, states[i]) == 0)
			st.state = i;
	st.dev_index = accel_minor;
	if (realpath(dev, real) && (base = strrchr(real, '/')))
		snprintf(st.pci_name, sizeof(st.pci_name), "%s", base + 1);
	st.sram_total = attr_u64(dir, "sram_total");
	st.sram_used = attr_u64(dir, "sram_used");
	st.queues = (uint32_t)attr_u64(dir, "queues");
	st.contexts = (uint32_t)attr_u64(dir, "contexts");
	st.jobs_done = attr_u64(dir, "jobs_done");
	st.faults = attr_u64(dir, "faults");
	st.resets = attr_u64(dir, "resets");
	st.timeouts = attr_u64(dir, "timeouts");
	if (!read_attr(dir, "pe_grid", buf, sizeof(buf)) && sscanf(buf, "%ux%u", &w, &h) == 2) {
		st.grid_width = w;
		st.grid_height = h;
	}
	*stats = st;
	return 0;
}

int wse_sysfs_counter(const char *sysfs_root, uint32_t accel_minor, const char *name,
		      uint64_t *value)
{
	char dir[PATH_MAX], buf[64], *end;
	unsigned long long v;
	int err;

	if (!name || !*name || strchr(name, '/') || !value)
		return -EINVAL;
	if (!sysfs_root)
		sysfs_root = "/sys";
	if (snprintf(dir, sizeof(dir), "%s/class/accel/accel%" PRIu32 "/device/wse", sysfs_root,
		     accel_minor) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	err = read_attr(dir, name, buf, sizeof(buf));
	if (err)
		return err == -EACCES ? err : -ENOENT;
	errno = 0;
	v = strtoull(buf, &end, 0);
	if (errno || end == buf || *end)
		return -EINVAL;
	*value = v;
	return 0;
}
