// Weight-row primitives shared by GET_ROWS, MATMUL and MATMUL_ID: dequantize blocks to f32, fused
// dequantize-and-dot of one row with one f32 vector, and an f32 panel product (dequantized rows x tokens).
// Each exists per ISA; select_row_kernels(type, isa) is the one pure selection point (design §5.8).
//
// Numerics (exact mode): every path first forms the weight exactly as ggml's f32 dequantization does
// (each K-quant product d·sc·q is exact in f32; a subtraction of the min rounds once, done as one FMA),
// then accumulates w·x in f32. No path quantizes activations.
#pragma once

#include <cstdint>

#include "../core/dtype.h"
#include "kernel.h"

namespace qh::cpu {

// out[0 .. nblocks·QK) = dequant(blocks[0 .. nblocks)); `blocks` points at the first block (any alignment).
using DequantFn = void (*)(const void* blocks, int64_t nblocks, float* out);
// Σ_{c<k} W[c]·x[c] for one weight row of k elements (k a multiple of the block size).
using Dot1Fn = float (*)(const void* row, const float* x, int64_t k);

// y_t[r] (+)= Σ_{c<n} W[r·ldw + c] · x_t[c] for r < rows, t < ntok, where x_t = xrows[t] + c0 and the result
// goes to yrows[t][r0 + r] (accumulate = add to it, else overwrite). W is an f32 panel (dequantized rows).
// Every (r, t) is computed by the same sequence of operations whatever rows/ntok are, so results do not
// depend on tiling or on how rows are split over threads.
struct PanelArgs {
  const float* W;
  int64_t ldw;
  int64_t rows;
  const float* const* xrows;
  int64_t c0;
  int64_t n;
  float* const* yrows;
  int64_t r0;
  int64_t ntok;
  bool accumulate;
};
using PanelFn = void (*)(const PanelArgs& a);

struct RowKernels {
  DequantFn dequant;  // never null
  Dot1Fn dot1;        // never null (falls back to dequant-into-L1 + f32 dot)
  PanelFn panel;      // never null
  Isa isa;            // the ISA these kernels were compiled for (the highest <= the requested one)
};

// Pure: the kernels for weight type `type` at the highest ISA <= `isa` that has them (per function).
// `type` must be one of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K.
RowKernels select_row_kernels(DType type, Isa isa);

// Per-ISA tables (fields null where that ISA has no specialised version); defined in quant_dot_<isa>.cc.
struct RowKernelTable {
  DequantFn dequant;
  Dot1Fn dot1;
};
RowKernelTable row_kernels_scalar(DType type);
RowKernelTable row_kernels_avx2(DType type);    // all null on non-x86 builds
RowKernelTable row_kernels_avx512(DType type);  // all null on non-x86 builds
PanelFn panel_scalar();
PanelFn panel_avx2();    // null on non-x86 builds
PanelFn panel_avx512();  // null on non-x86 builds
// f32 dot of n contiguous elements (used by the dequant-into-L1 fallback of dot1).
using DotF32Fn = float (*)(const float* a, const float* b, int64_t n);
DotF32Fn dot_f32_avx2();
DotF32Fn dot_f32_avx512();

}  // namespace qh::cpu
