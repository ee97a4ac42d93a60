// SPDX-License-Identifier: GPL-2.0-only
/*
 * The one place where the device's numbers (wse/hw_device.h) become the
 * ioctl ABI's (uapi/wse_accel.h) and back. The two sets are defined apart
 * and may drift; every family is converted by name, and a number the
 * device reports that the driver does not know becomes a defined value of
 * the ABI rather than leaking out.
 */
#include <linux/build_bug.h>
#include <linux/kernel.h>

#include "wse_drv.h"
#include "wse/hw_ops.h"

/*
 * Each ioctl's number carries the size of its struct, and 32-bit callers
 * must see the same layout: a size that changes is a new ABI, not an edit.
 */
static_assert(sizeof(struct drm_wse_bo_create) == 16, "uapi size");
static_assert(sizeof(struct drm_wse_bo_info) == 16, "uapi size");
static_assert(sizeof(struct drm_wse_bo_mmap_offset) == 16, "uapi size");
static_assert(sizeof(struct drm_wse_ctx_create) == 16, "uapi size");
static_assert(sizeof(struct drm_wse_ctx_destroy) == 8, "uapi size");
static_assert(sizeof(struct drm_wse_ctx_info) == 48, "uapi size");
static_assert(sizeof(struct drm_wse_fault_inject) == 16, "uapi size");
static_assert(sizeof(struct drm_wse_job_status) == 56, "uapi size");
static_assert(sizeof(struct drm_wse_map) == 40, "uapi size");
static_assert(sizeof(struct drm_wse_query_info) == 96, "uapi size");
static_assert(sizeof(struct drm_wse_reset) == 16, "uapi size");
static_assert(sizeof(struct drm_wse_sram_alloc) == 24, "uapi size");
static_assert(sizeof(struct drm_wse_sram_free) == 8, "uapi size");
static_assert(sizeof(struct drm_wse_submit) == 48, "uapi size");
static_assert(sizeof(struct drm_wse_unmap) == 16, "uapi size");
static_assert(sizeof(struct drm_wse_wait) == 32, "uapi size");

/* Completion and fault statuses: enum wse_hw_status -> DRM_WSE_STATUS_*. */
u32 wse_status_to_uapi(u32 hw_status)
{
	switch (hw_status) {
	case WSE_HW_STATUS_OK:
		return DRM_WSE_STATUS_OK;
	case WSE_HW_STATUS_ERR_OPCODE:
		return DRM_WSE_STATUS_ERR_OPCODE;
	case WSE_HW_STATUS_ERR_STREAM:
		return DRM_WSE_STATUS_ERR_STREAM;
	case WSE_HW_STATUS_ERR_CONTEXT:
		return DRM_WSE_STATUS_ERR_CONTEXT;
	case WSE_HW_STATUS_ERR_FAULT:
		return DRM_WSE_STATUS_ERR_FAULT;
	case WSE_HW_STATUS_ERR_SHAPE:
		return DRM_WSE_STATUS_ERR_SHAPE;
	case WSE_HW_STATUS_ERR_DMA:
		return DRM_WSE_STATUS_ERR_DMA;
	case WSE_HW_STATUS_ERR_SRAM:
		return DRM_WSE_STATUS_ERR_SRAM;
	case WSE_HW_STATUS_ERR_ABORTED:
		return DRM_WSE_STATUS_ERR_ABORTED;
	case WSE_HW_STATUS_ERR_REGION:
		return DRM_WSE_STATUS_ERR_REGION;
	default:
		/* A completion the driver cannot read is reported as one. */
		return DRM_WSE_STATUS_CORRUPT;
	}
}

static const struct {
	u32 hw;
	u32 uapi;
} wse_caps[] = {
	{ WSE_HW_CAP_F16, DRM_WSE_CAP_F16 },
	{ WSE_HW_CAP_BF16, DRM_WSE_CAP_BF16 },
	{ WSE_HW_CAP_Q8_0, DRM_WSE_CAP_Q8_0 },
	{ WSE_HW_CAP_FUSED_LAYER, DRM_WSE_CAP_FUSED_LAYER },
	{ WSE_HW_CAP_FAULT_INJECT, DRM_WSE_CAP_FAULT_INJECT },
	{ WSE_HW_CAP_MAP_TREE, DRM_WSE_CAP_LARGE_MAPS },
};

/*
 * Weight dtypes are the one family passed through by number: bit n of
 * drm_wse_query_info.dtypes is enum wse_hw_dtype n by definition (the
 * mapping is the identity), so a dtype added to the contract reaches
 * userspace without a new ABI constant. The asserts hold the numbers that
 * uapi/wse_accel.h spells out and the room of the field.
 */
static_assert(WSE_HW_DTYPE_F32 == 0 && WSE_HW_DTYPE_F16 == 1 && WSE_HW_DTYPE_BF16 == 2 &&
	      WSE_HW_DTYPE_Q8_0 == 3, "the dtype numbers uapi/wse_accel.h lists");
static_assert(BITS_PER_TYPE(((struct drm_wse_query_info *)0)->dtypes) >= WSE_HW_DTYPE_COUNT,
	      "a bit of drm_wse_query_info.dtypes per device dtype");

/*
 * A device before 1.1 has no WSE_REG_DTYPES: fp32 and the dtypes its caps
 * name, the only ones it can know.
 */
u32 wse_dtypes_to_uapi(u32 hw_version, u32 hw_dtypes, u32 hw_caps)
{
	if ((hw_version & 0xffff) >= 1)
		return hw_dtypes & GENMASK(WSE_HW_DTYPE_COUNT - 1, 0);
	return BIT(WSE_HW_DTYPE_F32) |
	       (hw_caps & WSE_HW_CAP_F16 ? BIT(WSE_HW_DTYPE_F16) : 0) |
	       (hw_caps & WSE_HW_CAP_BF16 ? BIT(WSE_HW_DTYPE_BF16) : 0) |
	       (hw_caps & WSE_HW_CAP_Q8_0 ? BIT(WSE_HW_DTYPE_Q8_0) : 0);
}

/* WSE_HW_CAP_* -> DRM_WSE_CAP_*; device bits without an ABI name are dropped. */
u32 wse_caps_to_uapi(u32 hw_caps)
{
	u32 caps = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(wse_caps); i++) {
		if (hw_caps & wse_caps[i].hw)
			caps |= wse_caps[i].uapi;
	}
	return caps;
}

/* DRM_WSE_FAULT_* -> WSE_HW_FAULT_*; -EINVAL for a mode the ABI lacks. */
int wse_fault_mode_to_hw(u32 mode, u32 *hw_mode)
{
	switch (mode) {
	case DRM_WSE_FAULT_NONE:
		*hw_mode = WSE_HW_FAULT_NONE;
		return 0;
	case DRM_WSE_FAULT_HANG_QUEUE:
		*hw_mode = WSE_HW_FAULT_HANG_QUEUE;
		return 0;
	case DRM_WSE_FAULT_FAIL_DMA:
		*hw_mode = WSE_HW_FAULT_FAIL_DMA;
		return 0;
	case DRM_WSE_FAULT_CORRUPT_CQE:
		*hw_mode = WSE_HW_FAULT_CORRUPT_CQE;
		return 0;
	case DRM_WSE_FAULT_SRAM_ERROR:
		*hw_mode = WSE_HW_FAULT_SRAM_ERROR;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * The access bits of DRM_WSE_MAP_* as WSE_HW_MAP_*. The other ABI flags
 * (FIXED, SRAM) say where a mapping goes, not what the device may do.
 */
u32 wse_map_flags_to_hw(u32 flags)
{
	u32 hw_flags = 0;

	if (flags & DRM_WSE_MAP_READ)
		hw_flags |= WSE_HW_MAP_READ;
	if (flags & DRM_WSE_MAP_WRITE)
		hw_flags |= WSE_HW_MAP_WRITE;
	return hw_flags;
}

/*
 * enum wse_hw_event_type -> WSE_GENL_EVENT_* for the events users hear of;
 * 0 for the others (reset completion, CQ overflow) and unknown types.
 */
u32 wse_event_to_genl(u32 hw_type)
{
	switch (hw_type) {
	case WSE_HW_EVENT_FAULT:
		return WSE_GENL_EVENT_FAULT;
	case WSE_HW_EVENT_DMA_ERROR:
		return WSE_GENL_EVENT_DMA_ERROR;
	case WSE_HW_EVENT_SRAM_ERROR:
		return WSE_GENL_EVENT_SRAM_ERROR;
	default:
		return 0;
	}
}
