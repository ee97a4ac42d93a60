/* SPDX-License-Identifier: MIT */
/*
 * wafer_timing.c - modelled WSE-3 cycles per op. docs/timing-model.md gives
 * every constant's source and derivation and each op's formula; keep the
 * two in step.
 *
 * An op on a region of w x h PEs costs
 *   cycles = max(compute, sram, fabric) + fill
 * compute = flops / (PEs * flops per PE per cycle) (16-bit or fp32 rate),
 * sram    = bytes the PEs read and write / (PEs * SRAM bytes per PE per cycle),
 * fabric  = wavelets that must pass the busiest link (one per cycle),
 * fill    = hops of the dependent traversals of the region (one hop per
 *           cycle), e.g. w + h to broadcast an input and reduce a result.
 * The three throughput terms overlap (the wafer is a dataflow machine);
 * the fill does not.
 */
#include <math.h>

#include "wafer_internal.h"
#include "wse/op_rules.h"

/* Public WSE-3 / CS-3 figures. */
#define CS3_PES			(762.0 * 1172.0)	/* SDK fabric */
#define CS3_CLOCK_HZ		1.1e9
#define CS3_PEAK_FLOPS16	125e15			/* 125 PFLOP/s, 16-bit */
#define CS3_SRAM_BYTES_S	21e15			/* 21 PB/s */
#define CS3_IO_BITS_S		1.2e12			/* 1.2 Tb/s per system */

/* Derived per PE per cycle (docs/timing-model.md). */
#define FLOPS16_PER_PE		(CS3_PEAK_FLOPS16 / (CS3_PES * CS3_CLOCK_HZ))	/* ~127 */
#define FLOPS32_PER_PE		(FLOPS16_PER_PE / 4)	/* assumption: fp32 at 1/4 rate */
#define SRAM_BYTES_PER_PE	(CS3_SRAM_BYTES_S / (CS3_PES * CS3_CLOCK_HZ))	/* ~21.4 */
#define WAVELET_BYTES		4.0			/* 32-bit wavelets */
#define FLOPS_PER_TRANSCENDENTAL 16.0			/* exp, sin, cos, rsqrt: a polynomial */
#define IO_BYTES_PER_CYCLE	(CS3_IO_BITS_S / 8 / CS3_CLOCK_HZ)		/* ~136 */

struct cost {
	double flops16;		/* at the 16-bit rate */
	double flops32;		/* at the fp32 rate */
	double sram_bytes;
	double wavelets;	/* on the busiest link */
	double fill;		/* hops */
};

static double ceil_div(double a, double b)
{
	return ceil(a / b);
}

static uint64_t cycles_of(const struct cost *c, const struct wafer_region *r)
{
	double pes = (double)r->w * r->h;
	double compute = c->flops16 / (pes * FLOPS16_PER_PE) + c->flops32 / (pes * FLOPS32_PER_PE);
	double sram = c->sram_bytes / (pes * SRAM_BYTES_PER_PE);
	double busiest = fmax(compute, fmax(sram, c->wavelets));
	double total = ceil(busiest + c->fill);

	if (!(total < 0x1p64))	/* absurd shapes saturate instead of wrapping */
		return UINT64_MAX;
	return total < 1 ? 1 : (uint64_t)total;
}

/* Bytes per weight, from the rulebook's table; records reaching here passed its checks. */
static double dtype_bytes(uint32_t dtype)
{
	const struct wse_dtype_info *t = &wse_dtypes[dtype < WSE_HW_DTYPE_COUNT ? dtype : 0];

	return (double)t->block_bytes / t->block_elems;
}

/*
 * Weights are tiled over the region: PE (i, j) holds a (rows / h) x
 * (cols / w) block. x is broadcast down the PE columns (cols / w wavelets
 * per link per batch row) and the partial sums are reduced along the PE
 * rows (rows / h per link); the two use different links and overlap.
 */
static void cost_matmul(const struct wse_hw_op_matmul *op, const struct wafer_region *r,
			struct cost *c)
{
	double rows = op->rows, cols = op->cols, batch = op->batch;
	double flops = 2 * rows * cols * batch;

	if (op->wtype == WSE_HW_DTYPE_F32)
		c->flops32 = flops;
	else
		c->flops16 = flops;
	c->sram_bytes = rows * cols * dtype_bytes(op->wtype) + 4 * batch * cols +
			4 * batch * rows * (op->hdr.flags & WSE_MATMUL_ACCUMULATE ? 2 : 1);
	c->wavelets = batch * fmax(ceil_div(cols, r->w), ceil_div(rows, r->h));
	c->fill = r->w + r->h;
}

/* Attention: Σ over the n_tokens queries of the keys each one sees. */
static void cost_attention(const struct wse_hw_op_attention *op, const struct wafer_region *r,
			   struct cost *c)
{
	double n = op->n_tokens, q_dim = (double)op->n_heads * op->head_dim;
	double kv_dim = (double)op->n_kv_heads * op->head_dim;
	double keys = n * op->pos + n * (n + 1) / 2;

	c->flops32 = keys * (4 * q_dim + op->n_heads * FLOPS_PER_TRANSCENDENTAL);
	c->sram_bytes = keys * 2 * kv_dim * 4 + 2 * 4 * n * q_dim;
	/* q in, out reduced, and a max and a sum reduced per head. */
	c->wavelets = n * (ceil_div(q_dim, r->w) + ceil_div(q_dim, r->h) + 2.0 * op->n_heads);
	c->fill = 3.0 * (r->w + r->h);
}

static void cost_of(const union wafer_record *op, const struct wafer_region *r, struct cost *c)
{
	double span = (double)r->w + r->h;

	switch (op->hdr.op) {
	case WSE_OP_NOP:
		break;
	case WSE_OP_COPY:
		/* Through the region's h row links, one wavelet each per cycle. */
		c->sram_bytes = 2.0 * op->copy.bytes;
		c->wavelets = ceil_div(ceil_div((double)op->copy.bytes, WAVELET_BYTES), r->h);
		c->fill = span;
		break;
	case WSE_OP_MATMUL:
		cost_matmul(&op->matmul, r, c);
		break;
	case WSE_OP_RMSNORM: {
		double rows = op->rmsnorm.rows, dim = op->rmsnorm.dim;

		c->flops32 = rows * (4 * dim + FLOPS_PER_TRANSCENDENTAL);
		c->sram_bytes = 4 * (2 * rows * dim + dim);
		c->wavelets = 2 * rows;			/* a sum reduced, a scale broadcast */
		c->fill = 2 * span;
		break;
	}
	case WSE_OP_ROPE: {
		double rows = op->rope.rows, hd = op->rope.head_dim;
		double elems = rows * op->rope.n_heads * hd;

		c->flops32 = 3 * elems + rows * hd * FLOPS_PER_TRANSCENDENTAL;
		c->sram_bytes = 8 * elems;
		c->fill = span;
		break;
	}
	case WSE_OP_ATTENTION:
		cost_attention(&op->attention, r, c);
		break;
	case WSE_OP_SILU_MUL:
		c->flops32 = op->silu_mul.n * (3 + FLOPS_PER_TRANSCENDENTAL);
		c->sram_bytes = 12.0 * op->silu_mul.n;
		c->fill = span;
		break;
	case WSE_OP_ADD:
		c->flops32 = op->add.n;
		c->sram_bytes = 12.0 * op->add.n;
		c->fill = span;
		break;
	case WSE_OP_EMBED: {
		double elems = (double)op->embed.n_tokens * op->embed.dim;

		c->flops32 = elems;
		c->sram_bytes = elems * (dtype_bytes(op->embed.wtype) + 4) + 4.0 * op->embed.n_tokens;
		c->wavelets = op->embed.n_tokens * ceil_div(op->embed.dim, r->h);
		c->fill = span;
		break;
	}
	case WSE_OP_SOFTMAX: {
		double elems = (double)op->softmax.rows * op->softmax.n;

		c->flops32 = elems * (3 + FLOPS_PER_TRANSCENDENTAL);
		c->sram_bytes = 8 * elems;
		c->wavelets = 4.0 * op->softmax.rows;	/* max and sum, reduced and broadcast */
		c->fill = 4 * span;
		break;
	}
	case WSE_OP_ARGMAX: {
		double elems = (double)op->argmax.rows * op->argmax.n;

		c->flops32 = elems;
		c->sram_bytes = 4 * elems + 4.0 * op->argmax.rows;
		c->wavelets = 2.0 * op->argmax.rows;	/* value and index */
		c->fill = span;
		break;
	}
	case WSE_OP_TOPK: {
		double elems = (double)op->topk.rows * op->topk.n, k = op->topk.k;

		c->flops32 = elems * ceil(log2(k + 1));
		c->sram_bytes = 4 * elems + 8 * op->topk.rows * k;
		c->wavelets = 2 * op->topk.rows * k;	/* each PE's best k merged on the way */
		c->fill = span;
		break;
	}
	default:
		break;
	}
}

uint64_t wafer_timing_cycles(const union wafer_record *op, const struct wafer_region *region)
{
	struct cost c = { 0 };

	if (op->hdr.op == WSE_OP_LAYER) {
		union wafer_record steps[WAFER_LAYER_STEPS];
		uint64_t total = 0;

		wafer_layer_steps(&op->layer, steps);
		for (int i = 0; i < WAFER_LAYER_STEPS; i++)
			total += wafer_timing_cycles(&steps[i], region);
		return total;
	}
	cost_of(op, region, &c);
	return cycles_of(&c, region);
}

uint64_t wafer_timing_host_copy(uint64_t bytes)
{
	double cycles = ceil((double)bytes / IO_BYTES_PER_CYCLE);

	if (!(cycles < 0x1p64))
		return UINT64_MAX;
	return cycles < 1 ? 1 : (uint64_t)cycles;
}
