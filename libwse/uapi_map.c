/* SPDX-License-Identifier: MIT */
/*
 * uapi_map.c - libwse's public constants (wse.h) against the kernel's
 * (uapi/wse_accel.h), one table per family. The numbers happen to be equal
 * today; the tables keep them independent, so that a value a newer driver
 * adds reaches callers as a defined WSE_* value and not as a number that
 * wse.h does not name.
 */
#include <errno.h>

#include "libwse/internal.h"
#include "uapi/wse_accel.h"
#include "wse/hw_ops.h"

/* Queue numbers pass through unchanged; only the default has a name. */
_Static_assert(WSE_QUEUE_DEFAULT == DRM_WSE_QUEUE_DEFAULT, "default queue matches the uapi");

struct pair {
	uint32_t wse, drm;
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct pair statuses[] = {
	{ WSE_JOB_OK, DRM_WSE_STATUS_OK },
	{ WSE_JOB_ERR_OPCODE, DRM_WSE_STATUS_ERR_OPCODE },
	{ WSE_JOB_ERR_STREAM, DRM_WSE_STATUS_ERR_STREAM },
	{ WSE_JOB_ERR_CONTEXT, DRM_WSE_STATUS_ERR_CONTEXT },
	{ WSE_JOB_ERR_FAULT, DRM_WSE_STATUS_ERR_FAULT },
	{ WSE_JOB_ERR_SHAPE, DRM_WSE_STATUS_ERR_SHAPE },
	{ WSE_JOB_ERR_DMA, DRM_WSE_STATUS_ERR_DMA },
	{ WSE_JOB_ERR_SRAM, DRM_WSE_STATUS_ERR_SRAM },
	{ WSE_JOB_ERR_ABORTED, DRM_WSE_STATUS_ERR_ABORTED },
	{ WSE_JOB_ERR_REGION, DRM_WSE_STATUS_ERR_REGION },
	{ WSE_JOB_TIMEOUT, DRM_WSE_STATUS_TIMEOUT },
	{ WSE_JOB_CORRUPT, DRM_WSE_STATUS_CORRUPT },
	{ WSE_JOB_DEVICE_LOST, DRM_WSE_STATUS_DEVICE_LOST },
};

static const struct pair job_states[] = {
	{ WSE_JOB_STATE_PENDING, DRM_WSE_JOB_PENDING },
	{ WSE_JOB_STATE_DONE, DRM_WSE_JOB_DONE },
};

static const struct pair features[] = {
	{ WSE_FEATURE_F16, DRM_WSE_CAP_F16 },
	{ WSE_FEATURE_BF16, DRM_WSE_CAP_BF16 },
	{ WSE_FEATURE_Q8_0, DRM_WSE_CAP_Q8_0 },
	{ WSE_FEATURE_FUSED_LAYER, DRM_WSE_CAP_FUSED_LAYER },
	{ WSE_FEATURE_FAULT_INJECT, DRM_WSE_CAP_FAULT_INJECT },
	{ WSE_FEATURE_LARGE_MAPS, DRM_WSE_CAP_LARGE_MAPS },
};

static const struct pair map_flags[] = {
	{ WSE_ACCESS_READ, DRM_WSE_MAP_READ },
	{ WSE_ACCESS_WRITE, DRM_WSE_MAP_WRITE },
	{ WSE_MAP_FIXED, DRM_WSE_MAP_FIXED },
};

static const struct pair inject_modes[] = {
	{ WSE_INJECT_NONE, DRM_WSE_FAULT_NONE },
	{ WSE_INJECT_HANG_QUEUE, DRM_WSE_FAULT_HANG_QUEUE },
	{ WSE_INJECT_FAIL_DMA, DRM_WSE_FAULT_FAIL_DMA },
	{ WSE_INJECT_CORRUPT_CQE, DRM_WSE_FAULT_CORRUPT_CQE },
	{ WSE_INJECT_SRAM_ERROR, DRM_WSE_FAULT_SRAM_ERROR },
};

static const struct pair reset_kinds[] = {
	{ WSE_RESET_QUEUE, DRM_WSE_RESET_QUEUE },
	{ WSE_RESET_DEVICE, DRM_WSE_RESET_DEVICE },
};

static const struct pair device_states[] = {
	{ WSE_STATE_READY, WSE_GENL_STATE_READY },
	{ WSE_STATE_RESETTING, WSE_GENL_STATE_RESETTING },
	{ WSE_STATE_FATAL, WSE_GENL_STATE_FATAL },
	{ WSE_STATE_GONE, WSE_GENL_STATE_GONE },
};

static const struct pair events[] = {
	{ WSE_EV_JOB_TIMEOUT, WSE_GENL_EVENT_JOB_TIMEOUT },
	{ WSE_EV_QUEUE_RESET, WSE_GENL_EVENT_QUEUE_RESET },
	{ WSE_EV_DEVICE_RESET, WSE_GENL_EVENT_DEVICE_RESET },
	{ WSE_EV_FAULT, WSE_GENL_EVENT_FAULT },
	{ WSE_EV_SRAM_ERROR, WSE_GENL_EVENT_SRAM_ERROR },
	{ WSE_EV_DMA_ERROR, WSE_GENL_EVENT_DMA_ERROR },
};

static uint32_t from_drm(const struct pair *table, size_t n, uint32_t drm, uint32_t unknown)
{
	for (size_t i = 0; i < n; i++)
		if (table[i].drm == drm)
			return table[i].wse;
	return unknown;
}

static int to_drm(const struct pair *table, size_t n, uint32_t wse, uint32_t *drm)
{
	for (size_t i = 0; i < n; i++) {
		if (table[i].wse == wse) {
			*drm = table[i].drm;
			return 0;
		}
	}
	return -EINVAL;
}

/* Bit sets: each known bit translated on its own; the others go. */
static uint32_t bits(const struct pair *table, size_t n, uint32_t set, int to_kernel)
{
	uint32_t out = 0;

	for (size_t i = 0; i < n; i++)
		if (set & (to_kernel ? table[i].wse : table[i].drm))
			out |= to_kernel ? table[i].drm : table[i].wse;
	return out;
}

uint32_t wse__status_from_uapi(uint32_t drm_status)
{
	return from_drm(statuses, COUNT(statuses), drm_status, WSE_JOB_ERR_UNKNOWN);
}

uint32_t wse__job_state_from_uapi(uint32_t drm_state)
{
	/* A state this library cannot read is not one it may report as finished. */
	return from_drm(job_states, COUNT(job_states), drm_state, WSE_JOB_STATE_PENDING);
}

uint32_t wse__features_from_uapi(uint32_t drm_caps)
{
	return bits(features, COUNT(features), drm_caps, 0);
}

/*
 * Weight dtypes pass through by number, the one family that does: the
 * uapi's bit n is the device contract's dtype n by definition, and so is
 * enum wse_dtype, as these asserts hold.
 */
_Static_assert((int)WSE_DT_F32 == WSE_HW_DTYPE_F32 && (int)WSE_DT_F16 == WSE_HW_DTYPE_F16 &&
	       (int)WSE_DT_BF16 == WSE_HW_DTYPE_BF16 && (int)WSE_DT_Q8_0 == WSE_HW_DTYPE_Q8_0,
	       "enum wse_dtype numbers the device's dtypes");

uint32_t wse__dtypes_from_uapi(uint32_t abi_version, uint32_t drm_dtypes, uint32_t drm_caps)
{
	if (abi_version >= 2)
		return drm_dtypes;
	/* ABI 1 had no dtypes field: what its caps name is all it can say. */
	return 1u << WSE_DT_F32 | (drm_caps & DRM_WSE_CAP_F16 ? 1u << WSE_DT_F16 : 0) |
	       (drm_caps & DRM_WSE_CAP_BF16 ? 1u << WSE_DT_BF16 : 0) |
	       (drm_caps & DRM_WSE_CAP_Q8_0 ? 1u << WSE_DT_Q8_0 : 0);
}

uint32_t wse__map_flags_to_uapi(uint32_t flags)
{
	return bits(map_flags, COUNT(map_flags), flags, 1);
}

int wse__inject_to_uapi(uint32_t mode, uint32_t *drm_mode)
{
	return to_drm(inject_modes, COUNT(inject_modes), mode, drm_mode);
}

int wse__reset_to_uapi(uint32_t kind, uint32_t *drm_kind)
{
	return to_drm(reset_kinds, COUNT(reset_kinds), kind, drm_kind);
}

uint32_t wse__state_from_genl(uint32_t genl_state)
{
	return from_drm(device_states, COUNT(device_states), genl_state, WSE_STATE_UNKNOWN);
}

uint32_t wse__event_from_genl(uint32_t genl_event)
{
	return from_drm(events, COUNT(events), genl_event, WSE_EV_UNKNOWN);
}
