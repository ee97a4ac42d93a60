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

/* Every fallible call fills one of these with a sentence naming the problem. */
struct eng_err {
	char msg[320];
};

__attribute__((format(printf, 2, 3)))
int eng_fail(struct eng_err *err, const char *fmt, ...);

/* Same numbering as enum wse_hw_dtype so the wse backend can pass it through. */
enum eng_dtype {
	ENG_F32 = 0,
	ENG_F16 = 1,
	ENG_BF16 = 2,
	ENG_Q8_0 = 3,
	ENG_DTYPE_COUNT
};

#define ENG_Q8_0_BLOCK		32
#define ENG_Q8_0_BLOCK_BYTES	34

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
uint64_t eng_model_param_count(const struct eng_model *model);

/* ---- numeric helpers --------------------------------------------------- */

static inline float eng_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;
	uint32_t bits;
	float f;

	if (exp == 0) {
		/* subnormal or zero: value = mant * 2^-24 */
		f = (float)mant * (1.0f / 16777216.0f);
		return sign ? -f : f;
	}
	if (exp == 31)
		bits = sign | 0x7f800000u | (mant << 13);
	else
		bits = sign | ((exp + 112) << 23) | (mant << 13);
	memcpy(&f, &bits, 4);
	return f;
}

static inline uint16_t eng_f32_to_f16(float f)
{
	uint32_t x;
	uint32_t sign, mant;
	int32_t exp;

	memcpy(&x, &f, 4);
	sign = (x >> 16) & 0x8000;
	exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
	mant = x & 0x7fffff;
	if (((x >> 23) & 0xff) == 0xff)
		return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		uint32_t shift, half_mant, rem, halfway;

		if (exp < -10)
			return (uint16_t)sign;
		mant |= 0x800000;
		shift = (uint32_t)(14 - exp);
		half_mant = mant >> shift;
		rem = mant & ((1u << shift) - 1);
		halfway = 1u << (shift - 1);
		if (rem > halfway || (rem == halfway && (half_mant & 1)))
			half_mant++;
		return (uint16_t)(sign | half_mant);
	}
	{
		uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
		uint32_t rem = mant & 0x1fff;

		/* round to nearest even; a carry into the exponent is correct */
		if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
			h++;
		return (uint16_t)h;
	}
}

static inline float eng_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

static inline uint16_t eng_f32_to_bf16(float f)
{
	uint32_t x;

	memcpy(&x, &f, 4);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((x >> 16) | 0x40);
	x += 0x7fff + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

/* Element i of a row as fp32, any dtype (slow path for references and gathers). */
float eng_row_get(const void *row, enum eng_dtype type, uint64_t i);
/* Converts a whole row to fp32. */
void eng_row_to_f32(const void *row, enum eng_dtype type, uint64_t cols, float *out);

#endif /* ENGINE_H */
