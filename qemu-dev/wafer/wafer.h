/* SPDX-License-Identifier: MIT */
/*
 * wafer.h - the wafer model: SRAM, PE grid, fabric and the tensor operations
 * of the wse device, as a plain C library (no QEMU headers).
 *
 * The QEMU device translates the device addresses of an op record into SRAM
 * byte offsets and hands the rewritten record to wafer_exec(); the model
 * checks every operand against the SRAM size again, computes at native speed
 * and returns the modelled WSE-3 cycles (docs/timing-model.md).
 */
#ifndef WAFER_H
#define WAFER_H

#include <stddef.h>
#include <stdint.h>

#include "wse/hw_device.h"
#include "wse/hw_ops.h"

enum wafer_preset {
	WAFER_PRESET_SMALL = 0,	/* 64 x 64 PEs, 256 KiB each: 1 GiB, for tests */
	WAFER_PRESET_CS3 = 1,	/* 762 x 1172 PEs, 48 KiB each: the WSE-3 */
};

struct wafer_config {
	enum wafer_preset preset;
	uint64_t sram_bytes;	/* 0: grid_w * grid_h * pe_sram_bytes of the preset */
	uint32_t threads;	/* compute threads; 0: one per online CPU */
};

/* The most sram_bytes and threads a config may ask for. */
#define WAFER_SRAM_MAX		(64ull << 30)
#define WAFER_MAX_THREADS	256u

struct wafer_info {
	uint64_t sram_bytes;
	uint32_t grid_w, grid_h;
	uint32_t pe_sram_bytes;
	uint32_t clock_khz;
};

struct wafer;

/* Returns NULL with errno set (EINVAL for a bad config, ENOMEM). */
struct wafer *wafer_create(const struct wafer_config *config);
void wafer_destroy(struct wafer *wafer);
void wafer_get_info(const struct wafer *wafer, struct wafer_info *info);

/*
 * Host pointer to SRAM [offset, offset + len), or NULL if the range is not
 * inside SRAM. SRAM is backed lazily: untouched pages read as zero.
 */
void *wafer_sram(struct wafer *wafer, uint64_t offset, uint64_t len);

/* Zeroes all SRAM (device reset); releases the host memory behind it. */
void wafer_reset(struct wafer *wafer);

/*
 * Zeroes SRAM [offset, offset + len), releasing whole pages' host memory.
 * Returns 0, or -1 if the range is not inside SRAM.
 */
int wafer_scrub(struct wafer *wafer, uint64_t offset, uint64_t len);

/* One operand of an op record: where its address field is and what it spans. */
struct wafer_operand {
	__le64 *addr;		/* points into the record (little-endian) */
	uint64_t bytes;		/* extent the op touches */
	int writes;		/* 1 if the op writes through it */
};

#define WAFER_MAX_OPERANDS	16

/*
 * Validates the record's header, flags, reserved fields and shape
 * (dimensions non-zero, products not overflowing) and lists its address
 * operands. op points at a whole record of hdr.length bytes, which the
 * caller has checked is at least sizeof(struct wse_hw_op_hdr) and not past
 * the stream end. Returns the number of operands, or a negative
 * enum wse_hw_status (-WSE_HW_STATUS_ERR_OPCODE, _STREAM, _SHAPE).
 * WSE_OP_COPY and WSE_OP_NOP are described too (COPY: src then dst).
 */
int wafer_op_operands(void *op, struct wafer_operand operands[WAFER_MAX_OPERANDS]);

/*
 * Executes a record whose address fields are SRAM byte offsets (the caller
 * translated them). WSE_OP_COPY here copies SRAM to SRAM. Returns
 * WSE_HW_STATUS_OK or an error status; *cycles gets the modelled cost.
 */
int wafer_exec(struct wafer *wafer, void *op, uint64_t *cycles);

/*
 * Says whether the op that is running must stop (a queue or device reset).
 * Called from the wafer's compute threads as well as the caller's, so it
 * must be thread-safe, and cheap: it runs every few microseconds of work.
 */
typedef int wafer_stop_fn(void *ctx);

/*
 * wafer_exec() that gives up early: every row, head, tile or chunk of at
 * most WAFER_STOP_GRAIN elements it asks stop(ctx), and once that returns
 * non-zero it returns WSE_HW_STATUS_ERR_ABORTED with the outputs partly
 * written. Work between two questions is one chunk, or one weight row of a
 * matmul (its dot product is never split, to keep its sum in order):
 * microseconds to milliseconds on model shapes (docs/hw-spec.md section 8).
 */
int wafer_exec_stoppable(struct wafer *wafer, void *op, uint64_t *cycles,
			 wafer_stop_fn *stop, void *ctx);

#define WAFER_STOP_GRAIN	(1u << 16)

/* Modelled cycles of moving bytes between host memory and SRAM over PCIe/IO. */
uint64_t wafer_host_copy_cycles(const struct wafer *wafer, uint64_t bytes);

/* ---- the timing model on its own ------------------------------------------------ */
/*
 * What a benchmark needs to price shapes whose weights do not exist on this
 * host, without a wafer to run them on.
 */
union wafer_record {
	struct wse_hw_op_hdr hdr;
	struct wse_hw_op_copy copy;
	struct wse_hw_op_matmul matmul;
	struct wse_hw_op_rmsnorm rmsnorm;
	struct wse_hw_op_rope rope;
	struct wse_hw_op_attention attention;
	struct wse_hw_op_silu_mul silu_mul;
	struct wse_hw_op_add add;
	struct wse_hw_op_embed embed;
	struct wse_hw_op_softmax softmax;
	struct wse_hw_op_argmax argmax;
	struct wse_hw_op_topk topk;
	struct wse_hw_op_layer layer;
};

/* The PE rectangle an op runs on, with w = h = 0 resolved to the whole grid. */
struct wafer_region {
	uint32_t x, y, w, h;
};

/*
 * The fused layer as the sequence of op records it is defined to be (see
 * wafer.c): the engine may run these records itself and gets the same
 * bits. The layer record must have passed wafer_op_operands().
 */
#define WAFER_LAYER_STEPS	13
void wafer_layer_steps(const struct wse_hw_op_layer *layer,
		       union wafer_record steps[WAFER_LAYER_STEPS]);

/*
 * Modelled cycles of a record that passed wafer_op_operands(), on a region
 * inside the grid. Never executes anything, so a benchmark can price
 * shapes whose weights do not exist here.
 */
uint64_t wafer_timing_cycles(const union wafer_record *op, const struct wafer_region *region);
/* wafer_host_copy_cycles() without a wafer. */
uint64_t wafer_timing_host_copy(uint64_t bytes);

/* The kernel set the wafer computes with ("avx2", "portable"): engine/kernels/. */
const char *wafer_kernels_name(const struct wafer *wafer);

/* Element conversions of the device's dtypes: the kernel library's, for the tests and tools. */
float wafer_f16_to_f32(uint16_t h);
uint16_t wafer_f32_to_f16(float f);
float wafer_bf16_to_f32(uint16_t b);
uint16_t wafer_f32_to_bf16(float f);

/* Bytes of a rows x cols weight matrix of dtype, 0 if invalid or overflowing. */
uint64_t wafer_weight_bytes(uint32_t dtype, uint64_t rows, uint64_t cols);

#endif /* WAFER_H */
