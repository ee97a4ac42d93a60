/* SPDX-License-Identifier: MIT */
/*
 * wse.h - libwse, the C library of the wse wafer-scale engine.
 *
 * libwse opens a wse accelerator (/dev/wse0, or /dev/accel/accelN whose DRM
 * driver is "wse"), creates contexts (device address spaces), host buffers
 * and device memory (SRAM), maps them into a context, builds op streams that
 * the device executes, submits them as jobs and waits for their completion;
 * it also reads the driver's telemetry and events through generic netlink.
 *
 * Errors: every function that can fail returns 0 (or a count) on success and
 * a negative errno-style code on failure (-ENOENT, -EACCES, -EINVAL, ...);
 * wse_strerror() turns a code into text, and the handle the call was made on
 * keeps a longer message saying what failed and why (wse_last_error(),
 * wse_stream_last_error(), wse_telemetry_last_error()). A failed call has no
 * effect and leaves its output parameters untouched unless it says otherwise.
 *
 * Threads: the library has no global state. A wse_device and everything
 * created from it (contexts, buffers, SRAM) may be used from several threads
 * at once; the device handle serialises the library's own bookkeeping with a
 * mutex and the kernel serialises the rest. The last-error message is per
 * handle, not per thread: when threads share a handle, use the returned code
 * or wse_last_error_copy(). A wse_stream and a wse_telemetry handle must be
 * used by one thread at a time. Destroying an object while another thread
 * still uses it is the caller's bug, as with free().
 *
 * Lifetime: objects belong to the device handle they were created from and
 * must be freed before it is closed; wse_close() frees whatever is left.
 *
 * Link with `pkg-config --cflags --libs libwse`.
 */
#ifndef WSE_H
#define WSE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__cplusplus)
extern "C" {
#endif

/* Version of this API; grows when functions are added. */
#define WSE_API_VERSION		3

typedef struct wse_device wse_device;
typedef struct wse_ctx wse_ctx;
typedef struct wse_bo wse_bo;
typedef struct wse_sram wse_sram;
typedef struct wse_stream wse_stream;
typedef struct wse_telemetry wse_telemetry;

/* ===================================================================== */
/* Errors                                                                 */
/* ===================================================================== */

/*
 * Text for a (negative or positive) errno-style code returned by libwse.
 * Always returns a string with static storage; never NULL.
 */
const char *wse_strerror(int err);

/*
 * The message of the most recent failure on dev (or of wse_open() when it
 * returned a handle-less error: see wse_open()). "" when nothing failed.
 * The pointer stays valid until the next failing call on dev.
 */
const char *wse_last_error(const wse_device *dev);

/* Copies the last-error message of dev into buf (always NUL-terminated). */
void wse_last_error_copy(const wse_device *dev, char *buf, size_t len);

/* Name of a job completion status (WSE_JOB_* status), e.g. "address fault". */
const char *wse_status_str(uint32_t status);

/* Job completion statuses, as the device and driver report them. */
#define WSE_JOB_OK		0
#define WSE_JOB_ERR_OPCODE	1	/* unknown command or op */
#define WSE_JOB_ERR_STREAM	2	/* malformed op stream */
#define WSE_JOB_ERR_CONTEXT	3	/* context not set up */
#define WSE_JOB_ERR_FAULT	4	/* address not mapped or out of range */
#define WSE_JOB_ERR_SHAPE	5	/* dimensions zero, overflowing, inconsistent */
#define WSE_JOB_ERR_DMA	6	/* host DMA failed */
#define WSE_JOB_ERR_SRAM	7	/* uncorrectable SRAM error */
#define WSE_JOB_ERR_ABORTED	8	/* queue or device reset while pending */
#define WSE_JOB_ERR_REGION	9	/* PE region outside the grid */
#define WSE_JOB_TIMEOUT	64	/* job hung; the driver reset its queue */
#define WSE_JOB_CORRUPT	65	/* completion did not match the job */
#define WSE_JOB_DEVICE_LOST	66	/* device reset or removed */
#define WSE_JOB_ERR_UNKNOWN	127	/* a status this libwse does not know (newer driver) */

/* ===================================================================== */
/* Devices                                                                */
/* ===================================================================== */

#define WSE_DEFAULT_DEVICE	"/dev/wse0"
#define WSE_PATH_MAX		256

struct wse_device_entry {
	char path[WSE_PATH_MAX];	/* node to pass to wse_open() */
	int index;			/* N of /dev/wseN, or -1 when only an accel node */
	int accel_minor;		/* N of /dev/accel/accelN, or -1 if unknown */
	int accessible;			/* 1 if this process may open it read-write */
};

/*
 * Lists the wse devices under dev_root (NULL: "/dev"): the wseN links, and
 * the accelN nodes of dev_root/accel whose DRM driver is "wse" and that no
 * wseN link points at. Entries are sorted: wseN by N, then accel nodes by
 * PCI address (the order in which tools/udev/70-wse.rules numbers wseN).
 * Fills at most capacity entries (entries may be NULL when capacity is 0)
 * and returns how many devices there are, which may be more than capacity;
 * 0 when there are none or dev_root does not exist. Negative only for bad
 * arguments (-EINVAL).
 */
int wse_enumerate(const char *dev_root, struct wse_device_entry *entries, size_t capacity);

/*
 * Opens a wse device read-write: path NULL means $WSE_DEVICE, or
 * WSE_DEFAULT_DEVICE when that is unset. On success *out is a new handle.
 * Errors: -ENOENT (no such node; message says whether the wse module is
 * loaded), -EACCES (permission denied), -ENODEV (the node is not a wse
 * device), -ENOMEM. When it fails, errmsg (if not NULL) receives the message,
 * since there is no handle to keep it.
 */
int wse_open(const char *path, wse_device **out, char *errmsg, size_t errmsg_len);

/* Opens /dev/wse<index>. Same errors as wse_open(). */
int wse_open_index(int index, wse_device **out, char *errmsg, size_t errmsg_len);

/* Frees every object left on dev and closes it. NULL is ignored. */
void wse_close(wse_device *dev);

/* The DRM file descriptor of dev (owned by dev; do not close it). */
int wse_device_fd(const wse_device *dev);

/* 1 if the wse kernel module is loaded (/sys/module/wse exists), else 0. */
int wse_module_loaded(void);

/* F16, BF16, Q8_0 stay for existing callers; wse_info.dtypes says which dtypes run. */
#define WSE_FEATURE_F16		(1u << 0)
#define WSE_FEATURE_BF16		(1u << 1)
#define WSE_FEATURE_Q8_0		(1u << 2)
#define WSE_FEATURE_FUSED_LAYER	(1u << 3)
#define WSE_FEATURE_FAULT_INJECT	(1u << 4)
#define WSE_FEATURE_LARGE_MAPS	(1u << 6)	/* host mappings over 2 GiB */

struct wse_info {
	char driver[32];		/* DRM driver name: "wse" */
	char driver_desc[64];
	int driver_major, driver_minor, driver_patch;
	char pci_name[32];		/* PCI address, "" if unknown */
	int accel_minor;		/* N of /dev/accel/accelN, -1 if unknown */
	uint32_t abi_version;		/* ioctl ABI version of the driver */
	uint32_t hw_version;		/* device major << 16 | minor */
	uint32_t caps;			/* WSE_FEATURE_*; bits libwse does not know are left out */
	uint64_t sram_size;		/* bytes of SRAM */
	uint64_t sram_used;		/* bytes allocated by all users */
	uint32_t grid_width, grid_height;	/* PE grid */
	uint32_t pe_sram;		/* SRAM bytes per PE */
	uint32_t clock_khz;		/* modelled core clock */
	uint32_t num_queues, queue_depth;
	uint32_t max_contexts;
	uint32_t max_stream;		/* largest op stream, bytes */
	uint64_t dva_start, dva_end;	/* device virtual address space */
	uint32_t serial;
	uint32_t max_bo_handles;	/* buffers one job may use */
	/*
	 * Weight dtypes every op that takes one accepts: bit n = dtype n
	 * (enum wse_dtype, the device's own numbering), so a dtype newer than
	 * this header still shows up by number. From a driver older than ABI 2,
	 * fp32 and the dtypes of caps.
	 */
	uint32_t dtypes;
};

/* Reads the device's identity, limits and current SRAM use. */
int wse_query_info(wse_device *dev, struct wse_info *info);

/* ===================================================================== */
/* Contexts                                                               */
/* ===================================================================== */

/*
 * A context is one device address space; jobs run in a context and may only
 * touch what is mapped into it. Contexts are private to the device handle.
 */
int wse_ctx_create(wse_device *dev, wse_ctx **out);

/* Unmaps everything, destroys the context. NULL is ignored. */
void wse_ctx_destroy(wse_ctx *ctx);

struct wse_ctx_info {
	uint32_t queue;			/* default hardware queue */
	uint32_t num_maps;
	uint64_t jobs_done;
	uint64_t faults;		/* device faults of this context */
	uint64_t last_fault_dva;
	uint32_t last_fault_status;	/* WSE_JOB_* status */
};

int wse_ctx_query(wse_ctx *ctx, struct wse_ctx_info *info);

/* ===================================================================== */
/* Host buffers (GEM objects)                                             */
/* ===================================================================== */

/* Creates a zeroed host buffer of size bytes (rounded up to 4 KiB). */
int wse_bo_create(wse_device *dev, uint64_t size, wse_bo **out);

/*
 * Maps the buffer into this process (once; later calls return the same
 * address) and stores the address in *ptr.
 */
int wse_bo_map(wse_bo *bo, void **ptr);

/* Size in bytes (after rounding). */
uint64_t wse_bo_size(const wse_bo *bo);

/* The GEM handle, for code that issues its own ioctls. */
uint32_t wse_bo_handle(const wse_bo *bo);

/* Exports the buffer as a dma-buf file descriptor (O_CLOEXEC, read-write). */
int wse_bo_export(wse_bo *bo, int *dmabuf_fd);

/*
 * Imports a dma-buf (from wse_bo_export() of another handle or device, or
 * another exporter) as a buffer of dev. The caller keeps ownership of fd.
 */
int wse_bo_import(wse_device *dev, int dmabuf_fd, wse_bo **out);

/* Unmaps and frees the buffer; it must not be mapped into a context. NULL ok. */
void wse_bo_free(wse_bo *bo);

/* ===================================================================== */
/* Device memory (SRAM)                                                   */
/* ===================================================================== */

/*
 * Allocates size bytes of SRAM (rounded up to 4 KiB) aligned to alignment
 * (a power of two >= 4096, or 0 for 4096). -ENOSPC when SRAM is full.
 */
int wse_sram_alloc(wse_device *dev, uint64_t size, uint64_t alignment, wse_sram **out);

uint64_t wse_sram_size(const wse_sram *sram);

/* Frees the allocation; it must not be mapped into a context. NULL ok. */
void wse_sram_free(wse_sram *sram);

/* ===================================================================== */
/* Mapping into a context                                                 */
/* ===================================================================== */

#define WSE_ACCESS_READ		(1u << 0)
#define WSE_ACCESS_WRITE		(1u << 1)
#define WSE_ACCESS_RW		(WSE_ACCESS_READ | WSE_ACCESS_WRITE)
#define WSE_MAP_FIXED		(1u << 2)	/* *dva is the address to use */

/*
 * Maps [offset, offset + size) of bo into ctx (size 0: the rest of bo; both
 * 4 KiB multiples) with WSE_ACCESS_* | WSE_MAP_FIXED flags, READ and/or WRITE required. The
 * device address is stored in *dva (read from it with WSE_MAP_FIXED).
 * Buffers mapped into a context are listed in its jobs automatically.
 */
int wse_map_bo(wse_ctx *ctx, wse_bo *bo, uint64_t offset, uint64_t size,
	       uint32_t flags, uint64_t *dva);

/* Same for an SRAM allocation. */
int wse_map_sram(wse_ctx *ctx, wse_sram *sram, uint64_t offset, uint64_t size,
		 uint32_t flags, uint64_t *dva);

/* Removes the mapping that starts at dva. */
int wse_unmap(wse_ctx *ctx, uint64_t dva);

/* ===================================================================== */
/* Op streams                                                             */
/* ===================================================================== */

/*
 * A stream builder collects op records for one job. Every append validates
 * the op as the device would (zero or overflowing dimensions, dtypes, q8_0
 * block multiples, head counts, cache capacity, PE region inside the grid,
 * address ranges that wrap) and fails with -EINVAL, -EOVERFLOW, -ENOSPC
 * (stream full) or -EOPNOTSUPP (dtype the device lacks) without appending;
 * wse_stream_last_error() says which field is wrong. A stream does not
 * depend on a device; wse_stream_set_limits() (or wse_stream_create_for())
 * adds the device's grid, caps and stream size to the checks.
 */

/*
 * Element types of weights; activations are always fp32. The numbers are
 * the device contract's (enum wse_hw_dtype), checked at compile time: a
 * dtype the device adds can be passed by number before it has a name here.
 */
enum wse_dtype {
	WSE_DT_F32 = 0,
	WSE_DT_F16 = 1,
	WSE_DT_BF16 = 2,
	WSE_DT_Q8_0 = 3,	/* blocks of 32: fp16 scale + 32 int8 (34 bytes) */
};

/* Bytes of a rows x cols matrix of dtype; 0 if invalid or overflowing. */
uint64_t wse_dtype_bytes(uint32_t dtype, uint64_t rows, uint64_t cols);

/* Largest stream a device accepts unless it says otherwise (1 MiB). */
#define WSE_STREAM_MAX_DEFAULT	(1u << 20)

/* Creates an empty stream of at most max_bytes (0: WSE_STREAM_MAX_DEFAULT). */
int wse_stream_create(size_t max_bytes, wse_stream **out);

/* Creates a stream with the limits of dev (grid, caps, max_stream). */
int wse_stream_create_for(wse_device *dev, wse_stream **out);

/*
 * Adds device limits to the checks: PE grid (0 x 0: unknown), WSE_FEATURE_*
 * dtype caps (~0u: all), stream size (0: keep).
 */
int wse_stream_set_limits(wse_stream *s, uint32_t grid_width, uint32_t grid_height,
			  uint32_t caps, size_t max_bytes);

void wse_stream_destroy(wse_stream *s);

/* Empties the stream (keeps limits and region). */
void wse_stream_reset(wse_stream *s);

/* Bytes and op records in the stream. */
size_t wse_stream_length(const wse_stream *s);
unsigned wse_stream_ops(const wse_stream *s);

/* The records, for submitting by hand or inspection. */
const void *wse_stream_data(const wse_stream *s);

const char *wse_stream_last_error(const wse_stream *s);

/*
 * PE rectangle the following ops run on (it sets their modelled cost).
 * w = h = 0 (the default) means the whole wafer.
 */
int wse_stream_set_region(wse_stream *s, uint16_t x, uint16_t y, uint16_t w, uint16_t h);

int wse_stream_nop(wse_stream *s);

/* dst = src, bytes of any mapping (host <-> SRAM, SRAM <-> SRAM). */
int wse_stream_copy(wse_stream *s, uint64_t dst, uint64_t src, uint64_t bytes);

/* y[n][m] (+)= sum_k w[m][k] * x[n][k]: w rows x cols of wtype; x, y fp32. */
struct wse_matmul {
	uint64_t w, x, y;
	uint32_t rows, cols, batch;
	uint32_t wtype;			/* enum wse_dtype */
	int accumulate;			/* 1: y += w x */
};
int wse_stream_matmul(wse_stream *s, const struct wse_matmul *op);

/* y[r] = x[r] / rms(x[r]) * w over rows of dim fp32; eps > 0. */
int wse_stream_rmsnorm(wse_stream *s, uint64_t x, uint64_t w, uint64_t y,
		       uint32_t dim, uint32_t rows, float eps);

/* In-place RoPE of rows x (n_heads * head_dim) at positions pos.. ; head_dim even. */
int wse_stream_rope(wse_stream *s, uint64_t x, uint32_t n_heads, uint32_t head_dim,
		    uint32_t rows, uint32_t pos, float theta);

/* Causal attention of n_tokens queries at pos.. over KV cache rows 0..pos+i. */
struct wse_attention {
	uint64_t q, k_cache, v_cache, out;
	uint32_t n_heads, n_kv_heads, head_dim, n_tokens;
	uint32_t pos, kv_capacity;
};
int wse_stream_attention(wse_stream *s, const struct wse_attention *op);

/* out[i] = silu(gate[i]) * up[i], n fp32. */
int wse_stream_silu_mul(wse_stream *s, uint64_t gate, uint64_t up, uint64_t out, uint32_t n);

/* out[i] = a[i] + b[i], n fp32. */
int wse_stream_add(wse_stream *s, uint64_t a, uint64_t b, uint64_t out, uint32_t n);

/* out[t] = table[tokens[t]] as fp32; table vocab x dim of wtype, tokens uint32. */
int wse_stream_embed(wse_stream *s, uint64_t table, uint64_t tokens, uint64_t out,
		     uint32_t dim, uint32_t vocab, uint32_t n_tokens, uint32_t wtype);

/* y[r] = softmax(x[r]) over rows of n fp32. */
int wse_stream_softmax(wse_stream *s, uint64_t x, uint64_t y, uint32_t n, uint32_t rows);

/* out[r] = index (uint32) of the largest x[r][i], lowest index on ties. */
int wse_stream_argmax(wse_stream *s, uint64_t x, uint64_t out, uint32_t n, uint32_t rows);

/* Per row the k largest values, descending: uint32 indices and fp32 values. */
int wse_stream_topk(wse_stream *s, uint64_t x, uint64_t out_index, uint64_t out_value,
		    uint32_t n, uint32_t k, uint32_t rows);

/*
 * One fused Llama layer on n_tokens rows of x (updated in place). The fields
 * are those of the device's LAYER record in its order, which libwse checks
 * at build time and copies whole.
 */
struct wse_layer {
	uint64_t x;
	uint64_t attn_norm, wq, wk, wv, wo;
	uint64_t ffn_norm, w_gate, w_down, w_up;
	uint64_t k_cache, v_cache, scratch;
	uint32_t dim, hidden_dim, n_heads, n_kv_heads;
	uint32_t head_dim, n_tokens, pos, kv_capacity;
	uint32_t wtype;			/* enum wse_dtype of the weight matrices */
	float eps, rope_theta;
};
int wse_stream_layer(wse_stream *s, const struct wse_layer *op);

/* Scratch bytes a fused layer needs (the device's formula); 0 if the shape overflows. */
uint64_t wse_layer_scratch_bytes(uint32_t dim, uint32_t hidden_dim, uint32_t n_heads,
				 uint32_t head_dim, uint32_t n_tokens);

/* ===================================================================== */
/* Jobs                                                                   */
/* ===================================================================== */

#define WSE_QUEUE_DEFAULT	0xffffffffu

/*
 * Submits the stream as a job of ctx on queue (WSE_QUEUE_DEFAULT: the
 * context's). The records are copied into a staging buffer that libwse maps
 * into ctx, so s may be changed or reused at once. Every buffer mapped into
 * ctx is listed in the job. *job_id identifies the job on this device handle.
 * -EINVAL for an empty stream, -E2BIG when more buffers are mapped than one
 * job may list.
 */
int wse_submit(wse_ctx *ctx, const wse_stream *s, uint32_t queue, uint64_t *job_id);

/* Submits an empty job (a NOP command, no stream). */
int wse_submit_nop(wse_ctx *ctx, uint32_t queue, uint64_t *job_id);

/*
 * Submits length bytes of records at offset of bo, which the caller has
 * mapped into ctx readable, without validating them.
 */
int wse_submit_raw(wse_ctx *ctx, wse_bo *bo, uint64_t offset, uint32_t length,
		   uint32_t queue, uint64_t *job_id);

#define WSE_JOB_STATE_PENDING		0
#define WSE_JOB_STATE_DONE		1

struct wse_job_result {
	uint32_t state;			/* WSE_JOB_* */
	uint32_t status;		/* WSE_JOB_* status, once done */
	uint32_t op_index;		/* failing op record, or ops executed */
	uint32_t queue;
	uint64_t cycles;		/* modelled device cycles */
	uint64_t submit_ns, done_ns;	/* CLOCK_MONOTONIC, 0 if unknown */
};

#define WSE_WAIT_FOREVER	UINT64_MAX

/*
 * Waits up to timeout_ns (0 polls) for the job. Returns 0 when it completed
 * with WSE_JOB_OK, -EIO when it completed with an error status (see
 * result->status and wse_last_error()), -ETIMEDOUT when it is still running,
 * -EINVAL (or -ENOENT) for a job id this handle never had. result may be NULL.
 */
int wse_wait(wse_device *dev, uint64_t job_id, uint64_t timeout_ns,
	     struct wse_job_result *result);

/* Reads the job's state without waiting; 0 on success whatever its status. */
int wse_job_status(wse_device *dev, uint64_t job_id, struct wse_job_result *result);

/* ===================================================================== */
/* Debug and recovery (CAP_SYS_ADMIN)                                     */
/* ===================================================================== */

#define WSE_INJECT_NONE		0
#define WSE_INJECT_HANG_QUEUE	1
#define WSE_INJECT_FAIL_DMA	2
#define WSE_INJECT_CORRUPT_CQE	3
#define WSE_INJECT_SRAM_ERROR	4

/*
 * Arms a device fault on queue (see WSE_INJECT_*). -EPERM without privilege,
 * -EINVAL for a mode that is not a WSE_INJECT_*.
 */
int wse_fault_inject(wse_device *dev, uint32_t mode, uint32_t queue);

#define WSE_RESET_QUEUE		0
#define WSE_RESET_DEVICE	1

/*
 * Resets one queue or the whole device (WSE_RESET_*; another kind is -EINVAL);
 * pending jobs end with ERR_ABORTED.
 */
int wse_reset(wse_device *dev, uint32_t kind, uint32_t queue);

/* ===================================================================== */
/* Telemetry and events (generic netlink family "wse")                    */
/* ===================================================================== */

#define WSE_STATE_READY		0
#define WSE_STATE_RESETTING	1
#define WSE_STATE_FATAL		2
#define WSE_STATE_GONE		3
#define WSE_STATE_UNKNOWN	4	/* a state this libwse does not know */

/* Name of a WSE_STATE_*, e.g. "ready". */
const char *wse_state_str(uint32_t state);

struct wse_dev_stats {
	uint32_t dev_index;		/* N of /dev/accel/accelN */
	char pci_name[32];
	uint32_t state;			/* WSE_STATE_* */
	uint64_t sram_total, sram_used;
	uint32_t queues;
	uint32_t grid_width, grid_height;
	uint32_t contexts;		/* in use */
	uint64_t jobs_done, faults, resets, timeouts;
};

#define WSE_EV_JOB_TIMEOUT	1
#define WSE_EV_QUEUE_RESET	2
#define WSE_EV_DEVICE_RESET	3
#define WSE_EV_FAULT		4
#define WSE_EV_SRAM_ERROR	5
#define WSE_EV_DMA_ERROR	6
#define WSE_EV_UNKNOWN		0	/* an event this libwse does not know */

/* Name of a WSE_EV_*, e.g. "fault". */
const char *wse_event_str(uint32_t type);

struct wse_event {
	uint32_t type;			/* WSE_EV_* */
	uint32_t dev_index;		/* N of /dev/accel/accelN, ~0u if absent */
	char pci_name[32];		/* "" if absent */
	uint32_t queue, status, context;	/* ~0u where absent */
};

/*
 * Connects to the driver's generic netlink family. -ENOENT when the family
 * is not registered (wse module not loaded), -EPROTONOSUPPORT without
 * generic netlink. The message is kept in errmsg, as for wse_open().
 */
int wse_telemetry_open(wse_telemetry **out, char *errmsg, size_t errmsg_len);

void wse_telemetry_close(wse_telemetry *t);

const char *wse_telemetry_last_error(const wse_telemetry *t);

/* Counters of the device whose accel minor is dev_index. -ENODEV if none. */
int wse_telemetry_get(wse_telemetry *t, uint32_t dev_index, struct wse_dev_stats *stats);

/*
 * Counters of every wse device, sorted by dev_index: fills at most capacity
 * entries and returns how many devices there are.
 */
int wse_telemetry_list(wse_telemetry *t, struct wse_dev_stats *stats, size_t capacity);

/*
 * Reads the same counters from sysfs, where the driver keeps them on the PCI
 * device (/sys/class/accel/accel<accel_minor>/device/wse/{state,sram_used,...}),
 * for when generic netlink is not available. sysfs_root NULL means "/sys".
 * -ENOENT when there is no such accel device or it is not a wse device.
 */
int wse_sysfs_read(const char *sysfs_root, uint32_t accel_minor, struct wse_dev_stats *stats);

/*
 * One numeric attribute of that sysfs directory by name, for the counters
 * that struct wse_dev_stats does not carry: "jobs_submitted", "inflight"
 * (jobs in the hardware rings now) and "cycles" (modelled device cycles of
 * finished jobs). -ENOENT when the device or the attribute does not exist
 * (an older driver), -EINVAL when it is not a number.
 */
int wse_sysfs_counter(const char *sysfs_root, uint32_t accel_minor, const char *name,
		      uint64_t *value);

/*
 * What a monitoring tool shows of one device without opening its node (so
 * that it needs no access to it and does not count as one of its clients).
 * The have_* fields say whether the value beside them was read.
 */
struct wse_device_sample {
	struct wse_device_entry entry;	/* as wse_enumerate() lists it */
	struct wse_dev_stats stats;	/* generic netlink, else sysfs */
	int have_stats;
	uint64_t jobs_submitted;	/* sysfs counters: see wse_sysfs_counter() */
	uint64_t inflight;
	uint64_t cycles;
	int have_jobs_submitted, have_inflight, have_cycles;	/* 0 on older drivers */
};

/*
 * Lists the devices as wse_enumerate(dev_root, ...) does and samples each
 * one's counters: from generic netlink when it answers and sysfs_root is
 * NULL ("/sys", the live system), else from sysfs_root by wse_sysfs_read();
 * then the wse_sysfs_counter() counters "jobs_submitted", "inflight" and
 * "cycles". A device whose accel node is unknown has only its entry. Fills
 * at most capacity samples (samples may be NULL when capacity is 0) and
 * returns how many devices there are, which may be more than capacity.
 * Negative only for bad arguments (-EINVAL) or -ENOMEM. Since API 3.
 */
int wse_sample_devices(const char *dev_root, const char *sysfs_root,
		       struct wse_device_sample *samples, size_t capacity);

/* Joins the "events" multicast group. -EPERM without CAP_NET_ADMIN. */
int wse_telemetry_subscribe(wse_telemetry *t);

/* Socket to poll() for POLLIN before wse_telemetry_next_event(). */
int wse_telemetry_fd(const wse_telemetry *t);

/*
 * Waits up to timeout_ms (-1: forever) for the next event of a subscribed
 * handle. 0 with *ev filled, -ETIMEDOUT, -EINTR when a signal arrived.
 */
int wse_telemetry_next_event(wse_telemetry *t, struct wse_event *ev, int timeout_ms);

#if defined(__cplusplus)
}
#endif

#endif /* WSE_H */
