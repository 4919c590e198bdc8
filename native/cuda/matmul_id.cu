// MATMUL_ID: W {k, m, E} (any weight type), x f32 {k, T} (p.i[0] = 0) or {k, K, T} (p.i[0] = 1), ids i32 {K, T}
// -> y f32 {m, K, T};  y[t][s] = W[ids[t][s]] · (x[t] or x[t][s]).
// Reads only the selected experts, with no host synchronisation:
//   1. mmid_group_kernel (one block): counting sort of the pairs j = t·K + s by expert on the device, then cuts
//      each expert's run of pairs into tiles of `tile` pairs (tile = mm_tile_pairs: ≤ 8 for the GEMV, 64 for
//      the tensor-core GEMM) -> order[], tile_{expert,start,count}[], n_tiles.
//   2. the MATMUL engine (matmul.cuh / matmul.cu) over those tiles: grid.y = an upper bound on the tile count,
//      blocks past n_tiles exit. Each tile streams its expert's weight rows once.
// Decode (T = 1, K = 8 distinct experts): 8 tiles of one pair, each reading one expert. Prefill: tokens
// grouped by expert, 64 per GEMM tile.
// Order of pairs inside an expert's run comes from shared-memory atomics (not deterministic), but every
// output element's arithmetic depends only on its own weight row and activation row, so results are.
// ids outside [0, E) (the CPU kernel returns INVALID_ARGUMENT; a kernel cannot return a status without a
// host sync): those pairs' output rows are filled with NaN so the error cannot go unnoticed.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend.cuh"
#include "matmul.cuh"

namespace qh::cuda {
namespace {

constexpr int kGroupThreads = 1024;
constexpr int64_t kMaxExperts = 6144;  // 2 int32 per expert in shared memory (48 KiB)
constexpr size_t kAlign = 256;
inline size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct Layout {
  size_t order, t_expert, t_start, t_count, n_tiles, total;
  int64_t max_tiles;
};

// Scratch: order [P] i32, tile_expert/tile_start/tile_count [max_tiles] i32 each, n_tiles i32.
// max_tiles = ceil(P / tile) + min(E, P) ≥ Σ_e ceil(count_e / tile).
Layout layout(int64_t P, int64_t E, int tile) {
  Layout L{};
  L.max_tiles = (P + tile - 1) / tile + (E < P ? E : P);
  const size_t mt = static_cast<size_t>(L.max_tiles) * sizeof(int32_t);
  L.order = 0;
  L.t_expert = L.order + align_up(static_cast<size_t>(P) * sizeof(int32_t));
  L.t_start = L.t_expert + align_up(mt);
  L.t_count = L.t_start + align_up(mt);
  L.n_tiles = L.t_count + align_up(mt);
  L.total = L.n_tiles + kAlign;
  return L;
}

Layout layout_for(const OpCall& call, int forced_variant) {
  const int64_t E = call.in[0].ne[2], K = call.in[2].ne[0], T = call.in[2].ne[1];
  int variant = mm_choose_variant(T, forced_variant);
  if (variant < 0) variant = kMmGemv;
  return layout(K * T, E, mm_tile_pairs(variant, T));
}

// Scratch for the worst case over variants (the context's forced variant is not known at plan time).
size_t matmul_id_scratch(const OpCall& call, int) {
  const size_t a = layout_for(call, kMmGemv).total, b = layout_for(call, kMmMma).total;
  return a > b ? a : b;
}

// One block of kGroupThreads; dynamic shared memory 2·E int32. See the file comment (step 1).
__global__ void __launch_bounds__(kGroupThreads)
    mmid_group_kernel(const int32_t* __restrict__ ids, int64_t P, int E, int tile, int32_t* __restrict__ order,
                      int32_t* __restrict__ t_expert, int32_t* __restrict__ t_start, int32_t* __restrict__ t_count,
                      int32_t* __restrict__ n_tiles, MmArgs a) {
  extern __shared__ int32_t sm[];
  int32_t* cnt = sm;       // [E] pairs per expert
  int32_t* cur = sm + E;   // [E] next free position of each expert's run
  const int tid = static_cast<int>(threadIdx.x);
  for (int e = tid; e < E; e += kGroupThreads) cnt[e] = 0;
  __syncthreads();
  for (int64_t j = tid; j < P; j += kGroupThreads) {
    const int32_t e = ids[j];
    if (e >= 0 && e < E) {
      atomicAdd(&cnt[e], 1);
    } else {
      float* yr = reinterpret_cast<float*>(reinterpret_cast<char*>(a.y) + (j % a.K) * a.y_nb1 + (j / a.K) * a.y_nb2);
      for (int64_t r = 0; r < a.m; ++r) yr[r] = __int_as_float(0x7fc00000);
    }
  }
  __syncthreads();
  if (tid == 0) {
    int32_t off = 0, nt = 0;
    for (int e = 0; e < E; ++e) {
      const int32_t c = cnt[e];
      cur[e] = off;
      for (int32_t s = 0; s < c; s += tile) {
        t_expert[nt] = e;
        t_start[nt] = off + s;
        t_count[nt] = c - s < tile ? c - s : tile;
        ++nt;
      }
      off += c;
    }
    *n_tiles = nt;
  }
  __syncthreads();
  for (int64_t j = tid; j < P; j += kGroupThreads) {
    const int32_t e = ids[j];
    if (e >= 0 && e < E) order[atomicAdd(&cur[e], 1)] = static_cast<int32_t>(j);
  }
}

Status matmul_id_run(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& W = call.in[0];    // {k, m, E}
  const Tensor& x = call.in[1];    // f32 {k, T} or {k, K, T}
  const Tensor& ids = call.in[2];  // i32 {K, T}
  const Tensor& y = call.out[0];   // f32 {m, K, T}
  const int64_t E = W.ne[2], K = ids.ne[0], T = ids.ne[1], P = K * T;
  const int variant = mm_choose_variant(T, ctx.variant);
  if (variant < 0) {
    return Status::error("INVALID_ARGUMENT", "MATMUL_ID op: variant " + std::to_string(ctx.variant) +
                                                 " unknown (0 auto, 1 gemv, 2 mma)");
  }
  if (E > kMaxExperts) {
    return Status::error("INVALID_ARGUMENT", "MATMUL_ID op: input 0 (W) has " + std::to_string(E) +
                                                 " experts; the CUDA kernel supports at most " + std::to_string(kMaxExperts));
  }
  if (P >= (int64_t{1} << 31)) {
    return Status::error("INVALID_ARGUMENT", "MATMUL_ID op: " + std::to_string(P) + " (token, slot) pairs exceed int32");
  }
  if (P == 0 || W.ne[1] == 0) return Status::ok();
  const int tile = mm_tile_pairs(variant, T);
  const Layout L = layout(P, E, tile);
  if (ctx.scratch == nullptr || ctx.scratch_size < L.total) {
    return Status::error("INVALID_ARGUMENT", "MATMUL_ID op: scratch of " + std::to_string(ctx.scratch_size) +
                                                 " bytes, needs " + std::to_string(L.total));
  }
  char* base = static_cast<char*>(ctx.scratch);
  MmArgs a{};
  a.W = static_cast<const uint8_t*>(W.data);
  a.w_nb1 = W.nb[1];
  a.w_nb2 = W.nb[2];
  a.k = W.ne[0];
  a.m = W.ne[1];
  a.x = static_cast<const float*>(x.data);
  a.x_per_slot = call.p.i[0] == 1;
  a.x_nb1 = x.nb[1];
  a.x_nb2 = a.x_per_slot ? x.nb[2] : 0;
  a.y = static_cast<float*>(y.data);
  a.y_nb1 = y.nb[1];
  a.y_nb2 = y.nb[2];
  a.K = K;
  a.n_pairs = P;
  int32_t* order = reinterpret_cast<int32_t*>(base + L.order);
  int32_t* t_expert = reinterpret_cast<int32_t*>(base + L.t_expert);
  int32_t* t_start = reinterpret_cast<int32_t*>(base + L.t_start);
  int32_t* t_count = reinterpret_cast<int32_t*>(base + L.t_count);
  int32_t* n_tiles = reinterpret_cast<int32_t*>(base + L.n_tiles);
  a.order = order;
  a.tile_expert = t_expert;
  a.tile_start = t_start;
  a.tile_count = t_count;
  a.n_tiles = n_tiles;
  a.max_tiles = L.max_tiles;

  const size_t smem = 2 * static_cast<size_t>(E) * sizeof(int32_t);
  mmid_group_kernel<<<1, kGroupThreads, smem, ctx.stream>>>(static_cast<const int32_t*>(ids.data), P,
                                                             static_cast<int>(E), tile, order, t_expert, t_start,
                                                             t_count, n_tiles, a);
  QH_RETURN_IF_ERROR(launch_status("mmid_group_kernel"));
  return mm_launch(W.type, variant, tile, a, ctx.stream);
}

}  // namespace

QH_CUDA_KERNEL(MATMUL_ID, matmul_id_run, matmul_id_scratch);

}  // namespace qh::cuda
