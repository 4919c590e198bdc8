// Shared by MATMUL (matmul.cu) and MATMUL_ID (matmul_id.cu): the weight-times-activations engine over
// "pairs" (an output row y_j = W_e · x_j) grouped into tiles of pairs that share one weight matrix W_e.
//   MATMUL:    pairs j = t ∈ [0, T), one weight, tiles = consecutive runs of tokens.
//   MATMUL_ID: pairs j = t·K + s, weight W[ids[t][s]]; tiles come from a device-side grouping by expert
//              (matmul_id.cu) so each selected expert's rows are streamed once per tile of pairs.
// Kernels (matmul.cu), chosen by mm_choose_variant (a pure function):
//   kGemv  exact mode: weights dequantized to f32 exactly as the CPU does, activations f32, f32 accumulation;
//          one warp per weight row, a tile of ≤ 8 pairs per warp (decode, and the exact path at any T).
//   kMma   tensor cores: mma.sync m16n8k16, weight tiles dequantized to fp16 in shared memory, activations
//          rounded to fp16, f32 accumulation; 64 rows × 64 pairs per block (prefill).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../core/dtype.h"
#include "../core/status.h"

namespace qh::cuda {

enum MatmulVariant : int {
  kMmAuto = 0,  // ctx.variant 0: kGemv for ≤ 8 tokens, kMma above
  kMmGemv = 1,  // ctx.variant 1: force the exact f32 GEMV at any token count
  kMmMma = 2,   // ctx.variant 2: force the fp16 tensor-core GEMM at any token count
};

constexpr int kMmMaxGemvTokens = 8;  // auto picks kGemv for T ≤ this
constexpr int kMmTileN = 64;         // pairs per kMma tile

// Pure: the kernel for `tokens` tokens under ctx.variant `forced` (kMmAuto = choose). Returns kMmGemv / kMmMma,
// or -1 for an unknown forced value.
inline int mm_choose_variant(int64_t tokens, int forced) {
  if (forced == kMmGemv || forced == kMmMma) return forced;
  if (forced != kMmAuto) return -1;
  return tokens <= kMmMaxGemvTokens ? kMmGemv : kMmMma;
}

// Pairs per tile for a variant: kGemv's tile = the smallest of 1, 2, 4, 8 ≥ tokens (capped at 8);
// kMma's = kMmTileN.
inline int mm_tile_pairs(int variant, int64_t tokens) {
  if (variant == kMmMma) return kMmTileN;
  if (tokens <= 1) return 1;
  if (tokens <= 2) return 2;
  if (tokens <= 4) return 4;
  return 8;
}

struct MmArgs {
  const uint8_t* W;    // weight 0 (expert 0)
  size_t w_nb1;        // bytes per weight row
  size_t w_nb2;        // bytes per expert
  int64_t k, m;        // row length, rows per expert
  const float* x;      // activations
  size_t x_nb1, x_nb2; // MATMUL: row t at x + t·x_nb1. MATMUL_ID: x_per_slot ? x[t][s] = x + s·x_nb1 + t·x_nb2 : x + t·x_nb1
  bool x_per_slot;
  float* y;            // outputs: pair (t, s) at y + s·y_nb1 + t·y_nb2 (MATMUL: K = 1, s = 0, y_nb2 = row stride)
  size_t y_nb1, y_nb2;
  int64_t K;           // slots per token (1 for MATMUL)
  int64_t n_pairs;     // K·T
  // Tiles. Device arrays from the MATMUL_ID grouping (order: pair indices sorted by expert; tile_*: per tile
  // expert, first position in `order`, pair count; n_tiles: count), or all null for MATMUL (tile g = pairs
  // [g·tile, min((g+1)·tile, n_pairs)) of expert 0).
  const int32_t* order;
  const int32_t* tile_expert;
  const int32_t* tile_start;
  const int32_t* tile_count;
  const int32_t* n_tiles;
  int64_t max_tiles;   // grid size in tiles (an upper bound for MATMUL_ID)
  bool x_vec;          // set by mm_launch: x rows 16-byte aligned and k % 16 == 0 (float4 loads)
  bool w_vec;          // set by mm_launch: weight base and strides 16-byte aligned (128-bit loads of plain types)
};

// Enqueues the kernel `variant` (kMmGemv / kMmMma, from mm_choose_variant) for weight type `type` on `stream`.
// The tile size must be mm_tile_pairs(variant, tokens) (MATMUL_ID built its tiles with it).
Status mm_launch(DType type, int variant, int tile_pairs, const MmArgs& a, cudaStream_t stream);

}  // namespace qh::cuda
