/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libwse's private structures, shared by its source files and
 * by the host unit tests (which link the objects directly).
 */
#ifndef LIBWSE_INTERNAL_H
#define LIBWSE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "libwse/wse.h"

#define WSE_ERRMSG_LEN		256
#define WSE_STAGING_SLOTS	8
#define WSE_STAGING_MIN		(64u << 10)

/* Intrusive list of the objects a device handle owns, freed by wse_close(). */
struct wse_link {
	struct wse_link *prev, *next;
};

struct wse_device {
	int fd;
	/* Guards the lists, mapping tables, staging pools and the message. */
	pthread_mutex_t lock;
	char errmsg[WSE_ERRMSG_LEN];
	struct wse_info info;
	struct wse_link ctxs, bos, srams;
};

struct wse_bo {
	struct wse_link link;
	wse_device *dev;
	uint32_t handle;
	uint64_t size;
	void *ptr;			/* mmap of the whole buffer, or NULL */
	unsigned mappings;		/* context mappings that use it */
	int internal;			/* a staging buffer of a context */
};

struct wse_sram {
	struct wse_link link;
	wse_device *dev;
	uint32_t handle;
	uint64_t size;
	unsigned mappings;
};

struct wse_mapping {
	uint64_t dva;
	wse_bo *bo;			/* one of bo, sram */
	wse_sram *sram;
};

/* A buffer that wse_submit() copies streams into; reused once its job ended. */
struct wse_staging {
	wse_bo *bo;
	uint64_t dva;
	uint64_t last_job;		/* 0: free; STAGING_BUSY: being filled */
};

#define STAGING_BUSY		UINT64_MAX

struct wse_ctx {
	struct wse_link link;
	wse_device *dev;
	uint32_t handle;
	uint32_t queue;
	struct wse_mapping *maps;
	unsigned num_maps, cap_maps;
	struct wse_staging staging[WSE_STAGING_SLOTS];
};

struct wse_stream {
	uint8_t *data;
	size_t length, capacity, max_bytes;
	unsigned ops;
	uint32_t grid_w, grid_h, caps;
	uint16_t region[4];
	char errmsg[WSE_ERRMSG_LEN];
};

/* Records msg on dev (under its lock) and returns err (negative). */
int wse__fail(wse_device *dev, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, into a plain buffer. */
int wse__failbuf(char *buf, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int wse__vfailbuf(char *buf, size_t len, int err, const char *fmt, va_list ap);

/* -errno of the last failed call, never 0. */
int wse__neg_errno(void);

void wse__link_add(struct wse_link *head, struct wse_link *node);
void wse__link_del(struct wse_link *node);

/* Undo one object in the kernel and free it; the caller took it off its list. */
void wse__bo_release(wse_bo *bo);
void wse__sram_release(wse_sram *sram);
void wse__ctx_release(wse_ctx *ctx);

/*
 * uapi_map.c: the one place where libwse's constants meet the kernel's
 * (uapi/wse_accel.h). A value from the kernel that this library does not
 * know becomes a defined libwse value (the *_UNKNOWN ones), never passes
 * through; a libwse value without a kernel counterpart is -EINVAL.
 */
uint32_t wse__status_from_uapi(uint32_t drm_status);	/* WSE_JOB_* status */
uint32_t wse__job_state_from_uapi(uint32_t drm_state);	/* WSE_JOB_STATE_* */
uint32_t wse__features_from_uapi(uint32_t drm_caps);	/* unknown bits dropped */
/* 1u << WSE_DT_*; from an ABI 1 driver, fp32 and the dtypes of its caps */
uint32_t wse__dtypes_from_uapi(uint32_t abi_version, uint32_t drm_dtypes, uint32_t drm_caps);
uint32_t wse__map_flags_to_uapi(uint32_t flags);	/* known WSE_ACCESS_*, WSE_MAP_FIXED */
int wse__inject_to_uapi(uint32_t mode, uint32_t *drm_mode);
int wse__reset_to_uapi(uint32_t kind, uint32_t *drm_kind);
uint32_t wse__state_from_genl(uint32_t genl_state);	/* WSE_STATE_* */
uint32_t wse__event_from_genl(uint32_t genl_event);	/* WSE_EV_* */

#define WSE_CONTAINER(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#endif /* LIBWSE_INTERNAL_H */
