/* SPDX-License-Identifier: MIT */
/*
 * engine.h - types shared by every part of the inference engine: errors,
 * weight dtypes, tensors, hyperparameters and the loaded Llama model.
 *
 * Weights are never copied: a model points into the mmapped file, so a
 * backend sees each layer's tensors with their dtype exactly as stored.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/kernels.h"

/* Every fallible call fills one of these with a sentence naming the problem (error.c). */
struct eng_err {
	char msg[320];
};

__attribute__((format(printf, 2, 3)))
int eng_fail(struct eng_err *err, const char *fmt, ...);

/*
 * The device contract's numbering (enum wse_hw_dtype, asserted in dtype.c),
 * so the wse backend passes dtypes through and dtype.c reads the contract's
 * table; the kernel library numbers them the same way.
 */
enum eng_dtype {
	ENG_F32 = 0,
	ENG_F16 = 1,
	ENG_BF16 = 2,
	ENG_Q8_0 = 3,
	ENG_DTYPE_COUNT
};

#define ENG_Q8_0_BLOCK		KERN_Q8_0_BLOCK

/* dtype.c: below the GGUF reader, the loader and the backends, which all size rows here. */
const char *eng_dtype_name(enum eng_dtype type);
/* Bytes of one row of cols elements; 0 if cols does not fit the dtype. */
uint64_t eng_row_bytes(enum eng_dtype type, uint64_t cols);

/* A 2D weight, rows x cols, row-major (ggml ne[1] x ne[0]); 1D: rows = 1. */
struct eng_tensor {
	const void *data;
	enum eng_dtype type;
	uint64_t rows, cols;
	uint64_t row_bytes;
};

struct eng_hparams {
	uint32_t dim;		/* embedding_length */
	uint32_t hidden_dim;	/* feed_forward_length */
	uint32_t n_layers;
	uint32_t n_heads;
	uint32_t n_kv_heads;
	uint32_t head_dim;	/* dim / n_heads */
	uint32_t vocab_size;
	uint32_t ctx_len;	/* context_length the model was trained for */
	float rope_theta;
	float rms_eps;
};

/* Per layer, in the order of the fused LAYER op of wse/hw_ops.h; norms are fp32. */
struct eng_layer {
	struct eng_tensor attn_norm, wq, wk, wv, wo;
	struct eng_tensor ffn_norm, w_gate, w_down, w_up;
};

/*
 * The same tensors by number, for code that walks them all (loaders, the wse
 * backend's SRAM plan). The order is the struct's, the LAYER op's and a
 * llama2.c checkpoint's.
 */
enum eng_layer_tensor {
	ENG_ATTN_NORM, ENG_WQ, ENG_WK, ENG_WV, ENG_WO,
	ENG_FFN_NORM, ENG_W_GATE, ENG_W_DOWN, ENG_W_UP,
	ENG_LAYER_TENSORS
};

struct eng_layer_tensor_desc {
	const char *name;	/* the struct field's name, for messages */
	const char *gguf;	/* blk.N.<gguf>.weight */
	size_t offset;		/* of the struct eng_tensor in struct eng_layer */
	int is_norm;		/* a [dim] fp32 vector */
};

extern const struct eng_layer_tensor_desc eng_layer_tensors[ENG_LAYER_TENSORS];

static inline const struct eng_tensor *eng_layer_get(const struct eng_layer *L,
						     enum eng_layer_tensor which)
{
	return (const struct eng_tensor *)((const char *)L + eng_layer_tensors[which].offset);
}

static inline struct eng_tensor *eng_layer_slot(struct eng_layer *L, enum eng_layer_tensor which)
{
	return (struct eng_tensor *)((char *)L + eng_layer_tensors[which].offset);
}

struct gguf_file;
struct eng_tokenizer;

struct eng_model {
	struct eng_hparams hp;
	struct eng_tensor tok_embd;	/* vocab x dim */
	struct eng_tensor output_norm;	/* dim, fp32 */
	struct eng_tensor output;	/* vocab x dim; == tok_embd when tied */
	int tied_output;
	struct eng_layer *layers;	/* n_layers */
	struct eng_tokenizer *tokenizer;	/* NULL if the file has none */

	/* Where the weights live. */
	struct gguf_file *gguf;		/* GGUF models */
	void *map;			/* llama2.c models */
	size_t map_size;
	uint64_t weight_bytes;		/* all tensors */
	uint64_t decode_bytes;		/* weights read per decoded token */
};

/* Limits that keep a hostile file from asking for absurd allocations. */
#define ENG_MAX_DIM		(1u << 16)
#define ENG_MAX_HIDDEN		(1u << 18)
#define ENG_MAX_LAYERS		1024
#define ENG_MAX_VOCAB		(1u << 20)
#define ENG_MAX_CTX		(1u << 20)

/*
 * Opens a GGUF (by magic) or a llama2.c checkpoint. tokenizer_path may name
 * a llama2.c tokenizer.bin (NULL: tokenizer.bin next to a .bin model, if it
 * exists). Returns NULL with err filled.
 */
struct eng_model *eng_model_load(const char *path, const char *tokenizer_path,
				 struct eng_err *err);
/* Model from an already parsed GGUF; takes ownership of gf on success. */
struct eng_model *eng_model_from_gguf(struct gguf_file *gf, struct eng_err *err);
void eng_model_free(struct eng_model *model);
/* Rows and columns of a layer tensor for these hyperparameters (a norm: 1 x dim). */
void eng_layer_shape(const struct eng_hparams *hp, enum eng_layer_tensor which,
		     uint64_t *rows, uint64_t *cols);
uint64_t eng_model_param_count(const struct eng_model *model);

/* The whole file mapped read-only (err names the path on failure); NULL-safe unmap. */
void *eng_file_map(const char *path, size_t *size, struct eng_err *err);
void eng_file_unmap(void *map, size_t size);

/* ---- numeric helpers --------------------------------------------------- */
/* fp16/bf16 conversions: kern_f16_to_f32() and the rest, in engine/kernels/kernels.h. */

/* Element i of a row as fp32, any dtype (slow path for references and gathers). */
float eng_row_get(const void *row, enum eng_dtype type, uint64_t i);
/* Converts a whole row to fp32. */
void eng_row_to_f32(const void *row, enum eng_dtype type, uint64_t cols, float *out);

#endif /* ENGINE_H */
