// Activation-quantized matmul (MATMUL / MATMUL_ID p.i[1] = 1): the activation row x (k floats) is quantized
// once per op, then each weight row is dotted with it in integer arithmetic (llama.cpp's "vec_dot" scheme).
//
//   K-quant weights (Q4_K, Q5_K, Q6_K) use Q8_K activations: per 256 elements
//     amax = max_j |x_j|, mx = the first x_j with |x_j| = amax, iscale = −127 / mx (f32),
//     q_j = min(127, rne(iscale·x_j)) (rne: round half to even), d = 1 / iscale (f32), bsums[i] = Σ_{16 i..16 i+15} q.
//     (amax = 0: d = 0, q = 0.)  Then x_j ≈ d·q_j, |x_j − d·q_j| ≤ |d|/2 (+ f32 rounding).
//   Q8_0 and Q4_0 weights use Q8_0-style activations: per 32 elements
//     d = amax / 127 (f32), id = d ≠ 0 ? 1/d : 0, q_j = rne(x_j·id); the stored scale is d rounded to f16 (as
//     llama.cpp's block_q8_0), so x_j ≈ f16(d)·q_j.
//   F16 / BF16 weights: x rounded to f16 / bf16 (RNE), then the exact f32 path (llama.cpp's vec_dot_type for
//     those weights); the rounded row is f32 again (k floats).
//
// Dot of one weight row with one quantized activation row, per weight block b (all integer sums exact in i32):
//   Q4_K/Q5_K: s_b = (xd·d)·Σ_s sc_s·Σ_l q_w·q_x − (xd·dmin)·Σ_s m_s·(bsums[2s] + bsums[2s+1])      (spec §4.4)
//   Q6_K     : s_b = (xd·d)·Σ_i sc_i·(Σ_l q_w·q_x − 32·bsums[i])                 (q_w ∈ [0,63], 16 sub-blocks)
//   Q8_0     : s_b = (d·xd)·Σ_l q_w·q_x          Q4_0: s_b = (d·xd)·Σ_l (q_w − 8)·q_x
// and the row result is Σ_b s_b accumulated in f32 (scalar: in block order; SIMD: lane-parallel, reordered).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../core/dtype.h"
#include "kernel.h"

namespace qh::cpu {

constexpr int64_t kQK8K = 256;
constexpr int64_t kQK8A = 32;

// Q8_K activation block, 292 B: x[j] ≈ d·qs[j].
struct BlockQ8K {
  float d;            // scale (may be negative: d = −mx/127)
  int8_t qs[256];     // quants in [−127, 127]
  int16_t bsums[16];  // bsums[i] = Σ_{j<16} qs[16 i + j]
};
static_assert(sizeof(BlockQ8K) == 292, "Q8_K activation block is 292 bytes");

// Q8_0-style activation block with an f32 scale, 36 B: x[j] ≈ d·qs[j].
struct BlockQ8A {
  float d;            // amax / 127
  int8_t qs[32];      // quants in [−127, 127]
};
static_assert(sizeof(BlockQ8A) == 36, "Q8_0 activation block is 36 bytes");

enum class ActQuant : int32_t { None = 0, Q8K = 1, Q8A = 2, RoundF16 = 3, RoundBF16 = 4 };
inline bool act_is_int8(ActQuant a) { return a == ActQuant::Q8K || a == ActQuant::Q8A; }

// The activation format weight type w is dotted with in q8 mode (None: the op stays on the exact path).
ActQuant act_quant_for(DType w);
// Bytes of one quantized activation row of k elements (k a multiple of the format's block).
size_t act_row_bytes(ActQuant a, int64_t k);
// Quantizes x[0..k) into `out` (act_row_bytes(a, k) bytes). Scalar only: same bytes on every ISA.
void quantize_act_row(ActQuant a, const float* x, int64_t k, void* out);

// The quantized path serves decode-sized calls: T ≤ kQ8MaxTokens tokens (MATMUL x.ne1, MATMUL_ID ids.ne1). Larger
// T (prefill) stays on the exact path, whose dequantized-panel GEMM is faster than per-token int8 row dots here.
constexpr int64_t kQ8MaxTokens = 8;

// Σ_c W[c]·x[c] of one weight row with one quantized activation row of k elements.
using Q8DotFn = float (*)(const void* wrow, const void* xq, int64_t k);
// Pure: the dot for weight type w at the highest ISA <= isa that has one (null when act_quant_for(w) = None).
Q8DotFn select_q8_dot(DType w, Isa isa);
Q8DotFn q8_dot_scalar(DType w);
// The per-ISA files list their dots as a table; this looks a type up in one (null when absent).
struct Q8DotEntry {
  DType type;
  Q8DotFn f;
};
template <size_t N>
Q8DotFn find_q8_dot(const Q8DotEntry (&table)[N], DType w) {
  for (const Q8DotEntry& e : table)
    if (e.type == w) return e.f;
  return nullptr;
}

Q8DotFn q8_dot_avx2(DType w);    // null on non-x86 builds or types without an AVX2 version
Q8DotFn q8_dot_avx512(DType w);  // AVX-512 F/BW/VL/DQ: Q4_K, Q5_K, Q6_K only (null otherwise)

}  // namespace qh::cpu
