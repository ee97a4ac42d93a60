/* SPDX-License-Identifier: MIT */
/*
 * sample.c - wse_sample_devices(): every device with its counters, without
 * opening a node, for the monitoring tools (wse-smi, wse-exporter). The
 * counters come from generic netlink when the live system is asked, else
 * from sysfs; the ones struct wse_dev_stats does not carry, from sysfs.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "libwse/internal.h"

/* Every device's telemetry, or NULL (*n = 0) when netlink does not answer. */
static struct wse_dev_stats *telemetry_all(size_t *n)
{
	struct wse_dev_stats *all = NULL;
	wse_telemetry *t;
	int count;

	*n = 0;
	if (wse_telemetry_open(&t, NULL, 0))
		return NULL;
	count = wse_telemetry_list(t, NULL, 0);
	if (count > 0 && (all = calloc((size_t)count, sizeof(*all)))) {
		int again = wse_telemetry_list(t, all, (size_t)count);

		*n = again < 0 ? 0 : (size_t)(again < count ? again : count);
	}
	wse_telemetry_close(t);
	return all;
}

static void sample_one(struct wse_device_sample *s, const char *sysfs_root,
		       const struct wse_dev_stats *telemetry, size_t n_telemetry)
{
	uint32_t minor;

	if (s->entry.accel_minor < 0)
		return;
	minor = (uint32_t)s->entry.accel_minor;
	for (size_t j = 0; j < n_telemetry && !s->have_stats; j++) {
		if (telemetry[j].dev_index == minor) {
			s->stats = telemetry[j];
			s->have_stats = 1;
		}
	}
	if (!s->have_stats)
		s->have_stats = wse_sysfs_read(sysfs_root, minor, &s->stats) == 0;
	s->have_jobs_submitted = wse_sysfs_counter(sysfs_root, minor, "jobs_submitted",
						   &s->jobs_submitted) == 0;
	s->have_inflight = wse_sysfs_counter(sysfs_root, minor, "inflight", &s->inflight) == 0;
	s->have_cycles = wse_sysfs_counter(sysfs_root, minor, "cycles", &s->cycles) == 0;
}

int wse_sample_devices(const char *dev_root, const char *sysfs_root,
		       struct wse_device_sample *samples, size_t capacity)
{
	struct wse_device_entry *entries;
	struct wse_dev_stats *telemetry = NULL;
	size_t n_telemetry = 0, i, fill;
	int n;

	if (capacity && !samples)
		return -EINVAL;
	n = wse_enumerate(dev_root, NULL, 0);
	if (n <= 0 || capacity == 0)
		return n;
	fill = (size_t)n < capacity ? (size_t)n : capacity;
	entries = calloc(fill, sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	/* Devices may come or go between the two calls: the second one counts. */
	n = wse_enumerate(dev_root, entries, fill);
	if (n < 0) {
		free(entries);
		return n;
	}
	if ((size_t)n < fill)
		fill = (size_t)n;
	/* Netlink speaks of the live system only, not of a sysfs tree elsewhere. */
	if (!sysfs_root)
		telemetry = telemetry_all(&n_telemetry);
	for (i = 0; i < fill; i++) {
		memset(&samples[i], 0, sizeof(samples[i]));
		samples[i].entry = entries[i];
		sample_one(&samples[i], sysfs_root, telemetry, n_telemetry);
	}
	free(telemetry);
	free(entries);
	return n;
}
