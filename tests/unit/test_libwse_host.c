/* SPDX-License-Identifier: MIT */
/*
 * test_libwse_host: the parts of libwse that need no wse device: error
 * texts, status names, enumeration of empty and fake /dev trees, the errors
 * of wse_open() and wse_telemetry_open() without the module (or, where it is
 * loaded, the matching success), NULL handles, the one mapping of each
 * constant family between libwse and the uapi, and wse_sample_devices() over
 * fake /dev and sysfs trees. The permission check needs an
 * unprivileged user, so as root it drops to nobody in a child.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libwse/internal.h"
#include "libwse/wse.h"
#include "tests/tap.h"
#include "uapi/wse_accel.h"

static char root[64];

/* The uid and gid of "nobody": an account without any privilege, present or not. */
#define UNPRIVILEGED_ID 65534

static void touch(const char *rel)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd >= 0)
		close(fd);
}

static void link_to(const char *target, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (symlink(target, path))
		perror("symlink");
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		perror("rm");
}

static void test_errors(void)
{
	int codes[] = { 0, -ENOENT, ENOENT, -EACCES, -ENODEV, -EINVAL, -ETIMEDOUT, -EIO, -ENOSPC,
			-E2BIG, -EOPNOTSUPP, -EOVERFLOW, -EPERM, -ENOMEM, -123456 };
	unsigned i;
	int ok = 1;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *m = wse_strerror(codes[i]);

		ok &= m && *m;
	}
	TAP_OK(ok, "wse_strerror has text for every code, even unknown ones");
	TAP_OK(strcmp(wse_strerror(-ENOENT), wse_strerror(ENOENT)) == 0,
	       "wse_strerror takes the code with either sign");
	TAP_OK(strstr(wse_strerror(-EACCES), "permission") != NULL, "-EACCES reads as permission denied");
	TAP_OK(strcmp(wse_strerror(-ENOMEM), strerrordesc_np(ENOMEM)) == 0,
	       "codes without a wse-specific text fall back to the C library's");
	TAP_OK(strcmp(wse_status_str(WSE_JOB_ERR_FAULT), "address fault") == 0 &&
	       strcmp(wse_status_str(WSE_JOB_OK), "ok") == 0, "status names: ok, address fault");
	TAP_OK(strcmp(wse_status_str(1000), "unknown status") == 0, "unknown status has a name");
	TAP_OK(strcmp(wse_state_str(WSE_STATE_RESETTING), "resetting") == 0 &&
	       strcmp(wse_state_str(77), "unknown") == 0, "state names");
	TAP_OK(strcmp(wse_event_str(WSE_EV_FAULT), "fault") == 0 &&
	       strcmp(wse_event_str(0), "unknown") == 0, "event names");
}

static void test_enumerate(void)
{
	struct wse_device_entry e[8];
	char path[256];
	int n;

	memset(e, 0x5a, sizeof(e));
	TAP_OK(wse_enumerate(root, e, 8) == 0, "an empty directory has no devices");
	TAP_OK(wse_enumerate("/nonexistent/wse-test", e, 8) == 0, "a missing directory has no devices");
	TAP_OK(wse_enumerate(root, NULL, 4) == -EINVAL, "entries NULL with capacity 4 is -EINVAL");
	TAP_OK(wse_enumerate(root, NULL, 0) == 0, "entries NULL with capacity 0 counts");

	/* wse1 and wse10 resolve; wse2 dangles; the rest are not device names. */
	link_to("/dev/null", "wse1");
	link_to("/dev/zero", "wse10");
	link_to("/nonexistent/accel9", "wse2");
	touch("wsefoo");
	touch("wse");
	touch("wse-1");
	snprintf(path, sizeof(path), "%s/accel", root);
	mkdir(path, 0700);
	touch("accel/accel0");	/* a regular file: not a DRM device */
	touch("accel/accelX");

	n = wse_enumerate(root, e, 8);
	TAP_OK(n == 2, "two wseN links resolve (saw %d)", n);
	snprintf(path, sizeof(path), "%s/wse1", root);
	TAP_OK(n >= 2 && e[0].index == 1 && e[1].index == 10 && strcmp(e[0].path, path) == 0,
	       "sorted by index numerically (1 before 10), with their paths");
	TAP_OK(n >= 1 && e[0].accel_minor == -1, "a link to a non-accel node has accel_minor -1");
	TAP_OK(n >= 1 && e[0].accessible == (access("/dev/null", R_OK | W_OK) == 0),
	       "accessible tells whether the node may be opened read-write");
	memset(e, 0x5a, sizeof(e));
	TAP_OK(wse_enumerate(root, e, 1) == 2 && e[0].index == 1 &&
	       (unsigned char)((char *)&e[1])[0] == 0x5a,
	       "capacity 1: returns the full count, writes one entry only");
}

/*
 * Opens path with its mode 0 as an unprivileged user: root's DAC override
 * would open it, so as root the open runs in a child that drops to nobody
 * and sends back the code and the message.
 */
static void test_open_unreadable(const char *path)
{
	struct { int rc; char msg[200]; } got = { 0, "" };
	wse_device *dev = NULL;
	int fds[2], status = -1;
	pid_t pid;

	if (chmod(path, 0) || chmod(root, 0711) || pipe(fds)) {
		TAP_OK(0, "setting up the unreadable node: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (geteuid() == 0 && (setgroups(0, NULL) || setgid(UNPRIVILEGED_ID) ||
				       setuid(UNPRIVILEGED_ID)))
			_exit(3);
		got.rc = wse_open(path, &dev, got.msg, sizeof(got.msg));
		_exit(write(fds[1], &got, sizeof(got)) == sizeof(got) ? 0 : 4);
	}
	close(fds[1]);
	if (pid > 0 && read(fds[0], &got, sizeof(got)) != sizeof(got))
		got.rc = 1;
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	chmod(root, 0700);
	TAP_OK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && got.rc == -EACCES &&
	       strstr(got.msg, "permission denied"),
	       "an unreadable node is -EACCES, 'permission denied', as uid %d (rc %d, exit 0x%x: %s)",
	       geteuid() == 0 ? UNPRIVILEGED_ID : (int)geteuid(), got.rc, status, got.msg);
}

static void test_open_errors(void)
{
	char msg[256], path[256];
	wse_device *dev = (wse_device *)0x1;
	int rc;

	rc = wse_open("/nonexistent/wse0", &dev, msg, sizeof(msg));
	TAP_OK(rc == -ENOENT && dev == (wse_device *)0x1, "a missing node is -ENOENT, *out untouched");
	TAP_OK(strstr(msg, "/nonexistent/wse0") && strstr(msg, "module"),
	       "the message names the node and the module: %s", msg);
	if (wse_module_loaded())
		TAP_OK(strstr(msg, "no such wse device") != NULL,
		       "with the module loaded it says 'no such wse device'");
	else
		TAP_OK(strstr(msg, "not loaded") != NULL, "without the module it says 'not loaded'");

	rc = wse_open("/dev/null", &dev, msg, sizeof(msg));
	TAP_OK(rc == -ENODEV && strstr(msg, "not a wse device"),
	       "/dev/null is -ENODEV, 'not a wse device' (%s)", msg);

	snprintf(path, sizeof(path), "%s/plain", root);
	touch("plain");
	rc = wse_open(path, &dev, msg, sizeof(msg));
	TAP_OK(rc == -ENODEV, "a regular file is -ENODEV (rc %d)", rc);

	rc = wse_open(root, &dev, msg, sizeof(msg));
	TAP_OK(rc == -EISDIR && *msg, "a directory is -EISDIR with a message (%s)", msg);

	test_open_unreadable(path);

	setenv("WSE_DEVICE", "/nonexistent/from-env", 1);
	rc = wse_open(NULL, &dev, msg, sizeof(msg));
	TAP_OK(rc == -ENOENT && strstr(msg, "/nonexistent/from-env"),
	       "path NULL opens $WSE_DEVICE");
	unsetenv("WSE_DEVICE");

	TAP_OK(wse_open_index(-1, &dev, msg, sizeof(msg)) == -EINVAL, "index -1 is -EINVAL");
	TAP_OK(wse_open("/dev/null", NULL, NULL, 0) == -EINVAL, "out NULL is -EINVAL (no errmsg ok)");
	rc = wse_open("/nonexistent/x", &dev, msg, 8);
	TAP_OK(rc == -ENOENT && strlen(msg) == 7, "a short message buffer is truncated, not overrun");
}

static void free_null(void)
{
	wse_close(NULL);
	wse_bo_free(NULL);
	wse_sram_free(NULL);
	wse_ctx_destroy(NULL);
	wse_stream_destroy(NULL);
	wse_telemetry_close(NULL);
}

/* True when fn returns normally in a child: a crash there costs one check, not the run. */
static int survives(void (*fn)(void))
{
	int status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		fn();
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

static void test_null_handles(void)
{
	struct wse_info info;
	struct wse_job_result r;
	wse_bo *bo;
	uint64_t dva, job;
	char buf[32];

	TAP_OK(wse_query_info(NULL, &info) == -EINVAL, "query_info(NULL) is -EINVAL");
	TAP_OK(wse_bo_create(NULL, 4096, &bo) == -EINVAL, "bo_create(NULL) is -EINVAL");
	TAP_OK(wse_map_bo(NULL, NULL, 0, 0, WSE_ACCESS_RW, &dva) == -EINVAL, "map_bo(NULL) is -EINVAL");
	TAP_OK(wse_submit(NULL, NULL, WSE_QUEUE_DEFAULT, &job) == -EINVAL, "submit(NULL) is -EINVAL");
	TAP_OK(wse_wait(NULL, 1, 0, &r) == -EINVAL, "wait(NULL) is -EINVAL");
	TAP_OK(wse_telemetry_get(NULL, 0, NULL) == -EINVAL, "telemetry_get(NULL) is -EINVAL");
	TAP_OK(wse_device_fd(NULL) == -1 && wse_bo_size(NULL) == 0, "accessors of NULL are harmless");
	TAP_OK(wse_last_error(NULL) && *wse_last_error(NULL), "last_error(NULL) is a string");
	wse_last_error_copy(NULL, buf, sizeof(buf));
	TAP_OK(buf[0] != 0, "last_error_copy(NULL) writes a message");
	TAP_OK(survives(free_null), "the free functions accept NULL (a child calling them exits 0)");
}

static void write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_sysfs(void)
{
	struct wse_dev_stats st;
	char path[256], sys[128];

	snprintf(sys, sizeof(sys), "%s/sys", root);
	TAP_OK(wse_sysfs_read(sys, 3, &st) == -ENOENT, "sysfs: no accel3 is -ENOENT");
	snprintf(path, sizeof(path), "mkdir -p '%s/sys/class/accel/accel3' "
		 "'%s/sys/devices/pci0000:00/0000:01:00.0/wse'", root, root);
	if (system(path))
		perror("mkdir");
	link_to("../../../devices/pci0000:00/0000:01:00.0", "sys/class/accel/accel3/device");
	TAP_OK(wse_sysfs_read(sys, 3, &st) == -ENOENT,
	       "sysfs: a device without the wse attributes is -ENOENT");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/state", "resetting\n");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/sram_total", "1073741824\n");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/sram_used", "8192\n");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/queues", "4\n");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/jobs_done", "12345678901\n");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/faults", "2\n");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/pe_grid", "64x32\n");
	memset(&st, 0x5a, sizeof(st));
	TAP_OK(wse_sysfs_read(sys, 3, &st) == 0, "sysfs: a fake wse device is read");
	TAP_OK(st.dev_index == 3 && st.state == WSE_STATE_RESETTING &&
	       strcmp(st.pci_name, "0000:01:00.0") == 0, "sysfs: index, state, PCI address");
	TAP_OK(st.sram_total == 1073741824ull && st.sram_used == 8192 && st.queues == 4 &&
	       st.jobs_done == 12345678901ull && st.faults == 2 && st.resets == 0,
	       "sysfs: counters, missing ones read as 0");
	TAP_OK(st.grid_width == 64 && st.grid_height == 32, "sysfs: PE grid 64x32");
	TAP_OK(wse_sysfs_read(sys, 3, NULL) == -EINVAL, "sysfs: stats NULL is -EINVAL");
}

static void test_sample(void)
{
	struct wse_device_sample s[4];
	char dev[128], sys[128], accel[160];
	int n;

	snprintf(dev, sizeof(dev), "%s/sampled", root);
	snprintf(sys, sizeof(sys), "%s/sys", root);
	mkdir(dev, 0700);
	TAP_OK(wse_sample_devices(dev, sys, s, 4) == 0, "sample: no devices, count 0");
	TAP_OK(wse_sample_devices(dev, sys, NULL, 2) == -EINVAL,
	       "sample: samples NULL with capacity 2 is -EINVAL");
	/* wse3 is the accel3 of test_sysfs's tree; wse5 is a node sysfs does not know. */
	snprintf(accel, sizeof(accel), "%s/accel", dev);
	mkdir(accel, 0700);
	touch("sampled/accel/accel3");
	link_to("accel/accel3", "sampled/wse3");
	link_to("/dev/null", "sampled/wse5");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/jobs_submitted", "77\n");
	write_file("sys/devices/pci0000:00/0000:01:00.0/wse/inflight", "3\n");
	TAP_OK(wse_sample_devices(dev, sys, NULL, 0) == 2, "sample: capacity 0 counts 2 devices");
	memset(s, 0x5a, sizeof(s));
	n = wse_sample_devices(dev, sys, s, 4);
	TAP_OK(n == 2 && s[0].entry.index == 3 && s[0].entry.accel_minor == 3 &&
	       s[1].entry.index == 5, "sample: wse3 (accel3) and wse5, in order (n %d)", n);
	TAP_OK(n >= 1 && s[0].have_stats && s[0].stats.state == WSE_STATE_RESETTING &&
	       s[0].stats.jobs_done == 12345678901ull && s[0].stats.grid_width == 64,
	       "sample: wse3's counters come from the sysfs tree");
	TAP_OK(n >= 1 && s[0].have_jobs_submitted && s[0].jobs_submitted == 77 &&
	       s[0].have_inflight && s[0].inflight == 3 && !s[0].have_cycles && s[0].cycles == 0,
	       "sample: jobs_submitted 77 and inflight 3 read, cycles (absent) not");
	TAP_OK(n >= 2 && s[1].entry.accel_minor == -1 && !s[1].have_stats &&
	       !s[1].have_jobs_submitted && !s[1].have_inflight && !s[1].have_cycles,
	       "sample: a device without an accel node has its entry only, zeroed");
	memset(s, 0x5a, sizeof(s));
	TAP_OK(wse_sample_devices(dev, sys, s, 1) == 2 && s[0].entry.index == 3 &&
	       (unsigned char)((char *)&s[1])[0] == 0x5a,
	       "sample: capacity 1 returns the full count and writes one sample only");
}

/* Every kernel value of each family, by name, and what unknown ones become. */
static void test_uapi_map(void)
{
	static const uint32_t status_pairs[][2] = {
		{ DRM_WSE_STATUS_OK, WSE_JOB_OK },
		{ DRM_WSE_STATUS_ERR_OPCODE, WSE_JOB_ERR_OPCODE },
		{ DRM_WSE_STATUS_ERR_STREAM, WSE_JOB_ERR_STREAM },
		{ DRM_WSE_STATUS_ERR_CONTEXT, WSE_JOB_ERR_CONTEXT },
		{ DRM_WSE_STATUS_ERR_FAULT, WSE_JOB_ERR_FAULT },
		{ DRM_WSE_STATUS_ERR_SHAPE, WSE_JOB_ERR_SHAPE },
		{ DRM_WSE_STATUS_ERR_DMA, WSE_JOB_ERR_DMA },
		{ DRM_WSE_STATUS_ERR_SRAM, WSE_JOB_ERR_SRAM },
		{ DRM_WSE_STATUS_ERR_ABORTED, WSE_JOB_ERR_ABORTED },
		{ DRM_WSE_STATUS_ERR_REGION, WSE_JOB_ERR_REGION },
		{ DRM_WSE_STATUS_TIMEOUT, WSE_JOB_TIMEOUT },
		{ DRM_WSE_STATUS_CORRUPT, WSE_JOB_CORRUPT },
		{ DRM_WSE_STATUS_DEVICE_LOST, WSE_JOB_DEVICE_LOST },
	};
	static const uint32_t unknown_statuses[] = { 10, 63, 67, 1000, ~0u };
	static const uint32_t inject_pairs[][2] = {
		{ WSE_INJECT_NONE, DRM_WSE_FAULT_NONE },
		{ WSE_INJECT_HANG_QUEUE, DRM_WSE_FAULT_HANG_QUEUE },
		{ WSE_INJECT_FAIL_DMA, DRM_WSE_FAULT_FAIL_DMA },
		{ WSE_INJECT_CORRUPT_CQE, DRM_WSE_FAULT_CORRUPT_CQE },
		{ WSE_INJECT_SRAM_ERROR, DRM_WSE_FAULT_SRAM_ERROR },
	};
	uint32_t all_caps = DRM_WSE_CAP_F16 | DRM_WSE_CAP_BF16 | DRM_WSE_CAP_Q8_0 |
			    DRM_WSE_CAP_FUSED_LAYER | DRM_WSE_CAP_FAULT_INJECT | DRM_WSE_CAP_LARGE_MAPS;
	uint32_t out = 0xdead, bad = 0;
	size_t i;

	for (i = 0; i < sizeof(status_pairs) / sizeof(status_pairs[0]); i++)
		bad += wse__status_from_uapi(status_pairs[i][0]) != status_pairs[i][1];
	TAP_OK(bad == 0, "each of the 13 DRM_WSE_STATUS_* becomes its WSE_JOB_* (%u wrong)", bad);
	for (bad = 0, i = 0; i < sizeof(unknown_statuses) / sizeof(unknown_statuses[0]); i++)
		bad += wse__status_from_uapi(unknown_statuses[i]) != WSE_JOB_ERR_UNKNOWN;
	TAP_OK(bad == 0 && strcmp(wse_status_str(WSE_JOB_ERR_UNKNOWN), "unknown status") == 0,
	       "statuses the library does not know become WSE_JOB_ERR_UNKNOWN, 'unknown status'");
	TAP_OK(wse__job_state_from_uapi(DRM_WSE_JOB_PENDING) == WSE_JOB_STATE_PENDING &&
	       wse__job_state_from_uapi(DRM_WSE_JOB_DONE) == WSE_JOB_STATE_DONE &&
	       wse__job_state_from_uapi(7) == WSE_JOB_STATE_PENDING,
	       "job states: pending, done; an unknown one is not reported done");
	TAP_OK(wse__features_from_uapi(all_caps) ==
	       (WSE_FEATURE_F16 | WSE_FEATURE_BF16 | WSE_FEATURE_Q8_0 | WSE_FEATURE_FUSED_LAYER |
		WSE_FEATURE_FAULT_INJECT | WSE_FEATURE_LARGE_MAPS),
	       "every DRM_WSE_CAP_* becomes its WSE_FEATURE_*");
	TAP_OK(wse__features_from_uapi(DRM_WSE_CAP_BF16 | 0x20u | 0x80000000u) == WSE_FEATURE_BF16,
	       "cap bits the library does not know are left out");
	/* A dtype newer than wse.h (bit 9 here) still arrives, by its number. */
	TAP_OK(wse__dtypes_from_uapi(2, 1u << WSE_DT_F32 | 1u << WSE_DT_Q8_0 | 1u << 9, all_caps) ==
	       (1u << WSE_DT_F32 | 1u << WSE_DT_Q8_0 | 1u << 9),
	       "ABI 2 dtypes pass through bit for bit, unknown ones too, whatever the caps say");
	TAP_OK(wse__dtypes_from_uapi(1, 0, DRM_WSE_CAP_BF16 | DRM_WSE_CAP_Q8_0) ==
	       (1u << WSE_DT_F32 | 1u << WSE_DT_BF16 | 1u << WSE_DT_Q8_0) &&
	       wse__dtypes_from_uapi(1, 0, all_caps) ==
	       (1u << WSE_DT_F32 | 1u << WSE_DT_F16 | 1u << WSE_DT_BF16 | 1u << WSE_DT_Q8_0) &&
	       wse__dtypes_from_uapi(1, 0, 0) == 1u << WSE_DT_F32,
	       "an ABI 1 driver's dtypes are fp32 and those its caps name");
	TAP_OK(wse__map_flags_to_uapi(WSE_ACCESS_READ) == DRM_WSE_MAP_READ &&
	       wse__map_flags_to_uapi(WSE_ACCESS_WRITE | WSE_MAP_FIXED) ==
	       (DRM_WSE_MAP_WRITE | DRM_WSE_MAP_FIXED) &&
	       !(wse__map_flags_to_uapi(~0u) & DRM_WSE_MAP_SRAM),
	       "map flags: READ, WRITE, FIXED to the uapi's; never the driver's SRAM bit");
	for (bad = 0, i = 0; i < sizeof(inject_pairs) / sizeof(inject_pairs[0]); i++)
		bad += wse__inject_to_uapi(inject_pairs[i][0], &out) || out != inject_pairs[i][1];
	TAP_OK(bad == 0, "each WSE_INJECT_* becomes its DRM_WSE_FAULT_* (%u wrong)", bad);
	out = 0xdead;
	TAP_OK(wse__inject_to_uapi(5, &out) == -EINVAL && out == 0xdead,
	       "an unknown injection mode is -EINVAL, nothing written");
	TAP_OK(wse__reset_to_uapi(WSE_RESET_QUEUE, &out) == 0 && out == DRM_WSE_RESET_QUEUE &&
	       wse__reset_to_uapi(WSE_RESET_DEVICE, &out) == 0 && out == DRM_WSE_RESET_DEVICE &&
	       wse__reset_to_uapi(2, &out) == -EINVAL, "reset kinds: queue, device; 2 is -EINVAL");
	TAP_OK(wse__state_from_genl(WSE_GENL_STATE_READY) == WSE_STATE_READY &&
	       wse__state_from_genl(WSE_GENL_STATE_RESETTING) == WSE_STATE_RESETTING &&
	       wse__state_from_genl(WSE_GENL_STATE_FATAL) == WSE_STATE_FATAL &&
	       wse__state_from_genl(WSE_GENL_STATE_GONE) == WSE_STATE_GONE &&
	       wse__state_from_genl(9) == WSE_STATE_UNKNOWN &&
	       strcmp(wse_state_str(WSE_STATE_UNKNOWN), "unknown") == 0,
	       "telemetry states, and an unknown one becomes WSE_STATE_UNKNOWN");
	TAP_OK(wse__event_from_genl(WSE_GENL_EVENT_JOB_TIMEOUT) == WSE_EV_JOB_TIMEOUT &&
	       wse__event_from_genl(WSE_GENL_EVENT_QUEUE_RESET) == WSE_EV_QUEUE_RESET &&
	       wse__event_from_genl(WSE_GENL_EVENT_DEVICE_RESET) == WSE_EV_DEVICE_RESET &&
	       wse__event_from_genl(WSE_GENL_EVENT_FAULT) == WSE_EV_FAULT &&
	       wse__event_from_genl(WSE_GENL_EVENT_SRAM_ERROR) == WSE_EV_SRAM_ERROR &&
	       wse__event_from_genl(WSE_GENL_EVENT_DMA_ERROR) == WSE_EV_DMA_ERROR &&
	       wse__event_from_genl(99) == WSE_EV_UNKNOWN &&
	       strcmp(wse_event_str(WSE_EV_UNKNOWN), "unknown") == 0,
	       "telemetry events, and an unknown one becomes WSE_EV_UNKNOWN");
}

static void test_telemetry_open(void)
{
	wse_telemetry *const untouched = (wse_telemetry *)0x1, *t = untouched;
	char msg[256];
	int rc;

	rc = wse_telemetry_open(&t, msg, sizeof(msg));
	if (wse_module_loaded()) {
		/* The module registers its family when it loads, devices or not. */
		TAP_OK(rc == 0 && t != NULL && t != untouched,
		       "with the module loaded telemetry_open succeeds (rc %d: %s)", rc, msg);
		TAP_OK(rc != 0 || *msg == 0, "and leaves no error message: '%s'", msg);
		if (rc == 0)
			wse_telemetry_close(t);
		return;
	}
	TAP_OK(rc == -ENOENT && t == untouched,
	       "telemetry_open without the module is -ENOENT, *out untouched (rc %d)", rc);
	TAP_OK(strstr(msg, "not loaded (modprobe wse)") != NULL,
	       "and says the module is not loaded: %s", msg);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/libwse-test.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_errors();
	test_enumerate();
	test_open_errors();
	test_null_handles();
	test_sysfs();
	test_sample();
	test_uapi_map();
	test_telemetry_open();
	cleanup();
	return tap_done();
}
