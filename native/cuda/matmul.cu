// MATMUL: W {k, m} (any weight type) x x f32 {k, T} -> y f32 {m, T};  y[t][r] = Σ_c W[r][c]·x[t][c].
// Also the kernels behind MATMUL_ID (matmul.cuh: pairs, tiles, variants).
//   kGemv (exact): block = kGemvWarps warps, one weight row per warp; lane l handles the 16-element chunks
//     g ≡ l (mod 32) of the row (128-bit loads of weights where the layout allows, and of x) for every pair of
//     the tile (≤ NT ∈ {1,2,4,8}), so each weight byte is read
//     once per tile; f32 FMA accumulation, warp-shuffle reduction. The weight values are the CPU's exactly
//     (quant_traits.cuh); only the summation order differs from the CPU's sequential sum.
//   kMma (fp16 tensor cores): block = 4 warps, 64 weight rows × 64 pairs, k in steps of 32. Per step the
//     block dequantizes the 64×32 weight tile to fp16 (round-to-nearest of the exact f32 value) and the
//     64×32 activation tile to fp16 in shared memory (global loads for step s+1 are issued into registers
//     before step s computes); each warp computes 32 rows × 32 pairs with mma.sync.m16n8k16 (f32 accumulate). Error per product ≤ ~2·2^-11 relative (two fp16 roundings).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend.cuh"
#include "matmul.cuh"
#include "quant_traits.cuh"

namespace qh::cuda {
namespace {

constexpr int kGemvWarps = 4;
constexpr int kBM = 64, kBN = kMmTileN, kBK = 32;
constexpr int kLds = kBK + 8;  // halves per shared-memory row: 80 B, conflict-free fragment loads
constexpr int kMmaThreads = 128;
static_assert(kBN == 64, "kMma warp layout assumes 64 pairs per tile");
static_assert(kBM * kBK / 8 == 2 * kMmaThreads && kBN * kBK / 8 == 2 * kMmaThreads, "2 weight + 2 activation chunks per thread");

struct TileInfo {
  int expert;
  int64_t start;  // first position in the pair order
  int count;
};

// Tile g of the launch; false when g is past the last tile.
__device__ __forceinline__ bool mm_tile(const MmArgs& a, int64_t g, int tile, TileInfo* ti) {
  if (a.tile_count != nullptr) {
    if (g >= static_cast<int64_t>(*a.n_tiles)) return false;
    ti->expert = a.tile_expert[g];
    ti->start = a.tile_start[g];
    ti->count = a.tile_count[g];
    return true;
  }
  const int64_t s = g * tile;
  if (s >= a.n_pairs) return false;
  ti->expert = 0;
  ti->start = s;
  ti->count = static_cast<int>(a.n_pairs - s < tile ? a.n_pairs - s : tile);
  return true;
}

__device__ __forceinline__ int64_t mm_pair(const MmArgs& a, int64_t pos) { return a.order ? a.order[pos] : pos; }

__device__ __forceinline__ const float* mm_xrow(const MmArgs& a, int64_t j) {
  const int64_t t = j / a.K, s = j % a.K;
  const char* base = reinterpret_cast<const char*>(a.x);
  return reinterpret_cast<const float*>(a.x_per_slot ? base + s * a.x_nb1 + t * a.x_nb2 : base + t * a.x_nb1);
}

__device__ __forceinline__ float* mm_yrow(const MmArgs& a, int64_t j) {
  const int64_t t = j / a.K, s = j % a.K;
  return reinterpret_cast<float*>(reinterpret_cast<char*>(a.y) + s * a.y_nb1 + t * a.y_nb2);
}

// ---- kGemv ----
// grid (ceil(m / kGemvWarps), max_tiles), block kGemvWarps·32.
template <DType TY, int NT>
__global__ void __launch_bounds__(kGemvWarps * 32) mm_gemv_kernel(const MmArgs a) {
  TileInfo ti;
  if (!mm_tile(a, blockIdx.y, NT, &ti)) return;
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
  if (r >= a.m) return;  // warp-uniform
  const uint8_t* row = a.W + static_cast<size_t>(ti.expert) * a.w_nb2 + static_cast<size_t>(r) * a.w_nb1;

  const float* xr[NT];
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    acc[t] = 0.0f;
    xr[t] = t < ti.count ? mm_xrow(a, mm_pair(a, ti.start + t)) : nullptr;
  }
  const int64_t k = a.k, nch = (k + 15) / 16;
  for (int64_t g = lane; g < nch; g += 32) {
    float w[16];
    qh_row_load16<TY>(row, g, k, a.w_vec, w);
    const int64_t e0 = 16 * g;
    if (a.x_vec) {
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        if (t < ti.count) {
          const float4* xp = reinterpret_cast<const float4*>(xr[t] + e0);
          float s = acc[t];
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const float4 xv = __ldg(xp + j);
            s = fmaf(w[4 * j], xv.x, s);
            s = fmaf(w[4 * j + 1], xv.y, s);
            s = fmaf(w[4 * j + 2], xv.z, s);
            s = fmaf(w[4 * j + 3], xv.w, s);
          }
          acc[t] = s;
        }
      }
    } else {
      const int n = k - e0 < 16 ? static_cast<int>(k - e0) : 16;  // < 16 only at the end of a plain-type row
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        if (t < ti.count) {
          float s = acc[t];
#pragma unroll
          for (int i = 0; i < 16; ++i) {
            if (i < n) s = fmaf(w[i], __ldg(xr[t] + e0 + i), s);
          }
          acc[t] = s;
        }
      }
    }
  }
#pragma unroll
  for (int t = 0; t < NT; ++t) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], off);
  }
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      if (t < ti.count) mm_yrow(a, mm_pair(a, ti.start + t))[r] = acc[t];
    }
  }
}

// ---- kMma ----
__device__ __forceinline__ uint32_t ld_h2(const __half* p) { return *reinterpret_cast<const uint32_t*>(p); }

__device__ __forceinline__ uint4 pack8(const float* v) {
  __half2 h0 = __floats2half2_rn(v[0], v[1]), h1 = __floats2half2_rn(v[2], v[3]);
  __half2 h2 = __floats2half2_rn(v[4], v[5]), h3 = __floats2half2_rn(v[6], v[7]);
  uint4 u;
  u.x = *reinterpret_cast<uint32_t*>(&h0);
  u.y = *reinterpret_cast<uint32_t*>(&h1);
  u.z = *reinterpret_cast<uint32_t*>(&h2);
  u.w = *reinterpret_cast<uint32_t*>(&h3);
  return u;
}

// D = A·B + D; A 16×16 fp16 row-major fragment, B 16×8 fp16 col-major fragment, D 16×8 f32 (PTX ISA
// "mma.m16n8k16" fragment layouts; sm_80+).
__device__ __forceinline__ void mma_16816(float* d, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// grid (ceil(m / kBM), max_tiles), block kMmaThreads. Tile size kBN pairs.
template <DType TY>
__global__ void __launch_bounds__(kMmaThreads) mm_mma_kernel(const MmArgs a) {
  __shared__ __align__(16) __half As[kBM][kLds];  // weights: row r, k offset c
  __shared__ __align__(16) __half Bs[kBN][kLds];  // activations: pair n, k offset c
  __shared__ const float* xs[kBN];
  __shared__ float* ys[kBN];

  TileInfo ti;
  if (!mm_tile(a, blockIdx.y, kBN, &ti)) return;  // block-uniform
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < kBN) {
    const bool live = tid < ti.count;
    const int64_t j = live ? mm_pair(a, ti.start + tid) : 0;
    xs[tid] = live ? mm_xrow(a, j) : nullptr;
    ys[tid] = live ? mm_yrow(a, j) : nullptr;
  }
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t k = a.k, m = a.m;
  const uint8_t* Wb = a.W + static_cast<size_t>(ti.expert) * a.w_nb2;
  const int warp = tid >> 5, lane = tid & 31, wm = warp >> 1, wn = warp & 1, gid = lane >> 2, tig = lane & 3;

  float acc[2][4][4];
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[mi][ni][q] = 0.0f;
  __syncthreads();

  // Global -> registers (fp16, packed) for the k-step at k0: this thread's 2 of the 256 weight chunks
  // (64 rows × 4 chunks of 8) and 2 of the 256 activation chunks (64 pairs × 4 chunks of 8). Issued one step
  // ahead, so the loads of step k0 + kBK are in flight while step k0 runs on the tensor cores.
  uint4 ra[2], rb[2];
  auto load_step = [&](int64_t k0) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int q = tid + i * kMmaThreads;
      const int r = q >> 2, cc = q & 3;
      const int64_t gr = row0 + r, e0 = k0 + 8 * cc;
      float v[8];
      if (gr < m && e0 < k) {
        qh_row_load8<TY>(Wb + static_cast<size_t>(gr) * a.w_nb1, e0 / 8, k, v);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] = 0.0f;
      }
      ra[i] = pack8(v);
      const float* xp = xs[r];  // activation chunk q: pair r, chunk cc
      if (xp != nullptr && a.x_vec && e0 < k) {
        const float4 x0 = __ldg(reinterpret_cast<const float4*>(xp + e0));
        const float4 x1 = __ldg(reinterpret_cast<const float4*>(xp + e0 + 4));
        v[0] = x0.x, v[1] = x0.y, v[2] = x0.z, v[3] = x0.w, v[4] = x1.x, v[5] = x1.y, v[6] = x1.z, v[7] = x1.w;
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] = (xp != nullptr && e0 + j < k) ? __ldg(xp + e0 + j) : 0.0f;
      }
      rb[i] = pack8(v);
    }
  };
  load_step(0);

  for (int64_t k0 = 0; k0 < k; k0 += kBK) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int q = tid + i * kMmaThreads, r = q >> 2, cc = q & 3;
      *reinterpret_cast<uint4*>(&As[r][8 * cc]) = ra[i];
      *reinterpret_cast<uint4*>(&Bs[r][8 * cc]) = rb[i];
    }
    __syncthreads();
    if (k0 + kBK < k) load_step(k0 + kBK);
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      uint32_t af[2][4], bf[4][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        const int ar = wm * 32 + mi * 16 + gid;
        af[mi][0] = ld_h2(&As[ar][kk + 2 * tig]);
        af[mi][1] = ld_h2(&As[ar + 8][kk + 2 * tig]);
        af[mi][2] = ld_h2(&As[ar][kk + 2 * tig + 8]);
        af[mi][3] = ld_h2(&As[ar + 8][kk + 2 * tig + 8]);
      }
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const int nb = wn * 32 + ni * 8 + gid;
        bf[ni][0] = ld_h2(&Bs[nb][kk + 2 * tig]);
        bf[ni][1] = ld_h2(&Bs[nb][kk + 2 * tig + 8]);
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_16816(acc[mi][ni], af[mi], bf[ni]);
    }
    __syncthreads();
  }

  // D fragment: d0, d1 at (row gid, pair 2·tig + {0,1}); d2, d3 at row gid + 8.
#pragma unroll
  for (int mi = 0; mi < 2; ++mi) {
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int64_t r = row0 + wm * 32 + mi * 16 + gid;
      const int n = wn * 32 + ni * 8 + 2 * tig;
      float* y0 = ys[n];
      float* y1 = ys[n + 1];
      if (r < m) {
        if (y0) y0[r] = acc[mi][ni][0];
        if (y1) y1[r] = acc[mi][ni][1];
      }
      if (r + 8 < m) {
        if (y0) y0[r + 8] = acc[mi][ni][2];
        if (y1) y1[r + 8] = acc[mi][ni][3];
      }
    }
  }
}

template <DType TY>
Status launch_typed(int variant, int tile, const MmArgs& a, cudaStream_t stream) {
  using Q = QTraits<TY>;
  const uintptr_t wa = reinterpret_cast<uintptr_t>(a.W);
  if (wa % Q::kAlign != 0 || a.w_nb1 % Q::kAlign != 0 || a.w_nb2 % Q::kAlign != 0) {
    return Status::error("INVALID_ARGUMENT", "MATMUL op: input 0 (W) device data/strides not " +
                                                 std::to_string(Q::kAlign) + "-byte aligned");
  }
  if (a.max_tiles > 65535) {
    return Status::error("INVALID_ARGUMENT",
                         "MATMUL op: " + std::to_string(a.max_tiles) + " pair tiles exceed the 65535 grid limit");
  }
  const unsigned tiles = static_cast<unsigned>(a.max_tiles);
  if (variant == kMmGemv) {
    const dim3 grid(static_cast<unsigned>((a.m + kGemvWarps - 1) / kGemvWarps), tiles);
    const dim3 block(kGemvWarps * 32);
    switch (tile) {
      case 1: mm_gemv_kernel<TY, 1><<<grid, block, 0, stream>>>(a); break;
      case 2: mm_gemv_kernel<TY, 2><<<grid, block, 0, stream>>>(a); break;
      case 4: mm_gemv_kernel<TY, 4><<<grid, block, 0, stream>>>(a); break;
      case 8: mm_gemv_kernel<TY, 8><<<grid, block, 0, stream>>>(a); break;
      default: return Status::error("INVALID_ARGUMENT", "MATMUL: GEMV tile " + std::to_string(tile) + " not in {1,2,4,8}");
    }
    return launch_status("mm_gemv_kernel");
  }
  if (variant == kMmMma) {
    if (tile != kBN) return Status::error("INVALID_ARGUMENT", "MATMUL: mma tile must be " + std::to_string(kBN));
    const dim3 grid(static_cast<unsigned>((a.m + kBM - 1) / kBM), tiles);
    mm_mma_kernel<TY><<<grid, kMmaThreads, 0, stream>>>(a);
    return launch_status("mm_mma_kernel");
  }
  return Status::error("INVALID_ARGUMENT", "MATMUL: unknown variant " + std::to_string(variant));
}

Status matmul_run(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& W = call.in[0];  // {k, m}
  const Tensor& x = call.in[1];  // f32 {k, T}
  const Tensor& y = call.out[0]; // f32 {m, T}
  const int64_t T = x.ne[1];
  const int variant = mm_choose_variant(T, ctx.variant);
  if (variant < 0) {
    return Status::error("INVALID_ARGUMENT", "MATMUL op: variant " + std::to_string(ctx.variant) +
                                                 " unknown (0 auto, 1 gemv, 2 mma)");
  }
  if (T == 0 || W.ne[1] == 0) return Status::ok();
  const int tile = mm_tile_pairs(variant, T);
  MmArgs a{};
  a.W = static_cast<const uint8_t*>(W.data);
  a.w_nb1 = W.nb[1];
  a.w_nb2 = W.nb[2];
  a.k = W.ne[0];
  a.m = W.ne[1];
  a.x = static_cast<const float*>(x.data);
  a.x_nb1 = x.nb[1];
  a.x_nb2 = 0;
  a.x_per_slot = false;
  a.y = static_cast<float*>(y.data);
  a.y_nb1 = 0;
  a.y_nb2 = y.nb[1];
  a.K = 1;
  a.n_pairs = T;
  a.max_tiles = (T + tile - 1) / tile;
  return mm_launch(W.type, variant, tile, a, ctx.stream);
}

}  // namespace

Status mm_launch(DType type, int variant, int tile_pairs, const MmArgs& args, cudaStream_t stream) {
  MmArgs a = args;
  const uintptr_t xa = reinterpret_cast<uintptr_t>(a.x);
  a.x_vec = a.k % 16 == 0 && xa % 16 == 0 && a.x_nb1 % 16 == 0 && a.x_nb2 % 16 == 0;
  a.w_vec = reinterpret_cast<uintptr_t>(a.W) % 16 == 0 && a.w_nb1 % 16 == 0 && a.w_nb2 % 16 == 0;
  switch (type) {  // the one switch over weight types for the matmul family
    case DType::F32: return launch_typed<DType::F32>(variant, tile_pairs, a, stream);
    case DType::F16: return launch_typed<DType::F16>(variant, tile_pairs, a, stream);
    case DType::BF16: return launch_typed<DType::BF16>(variant, tile_pairs, a, stream);
    case DType::Q4_0: return launch_typed<DType::Q4_0>(variant, tile_pairs, a, stream);
    case DType::Q4_1: return launch_typed<DType::Q4_1>(variant, tile_pairs, a, stream);
    case DType::Q5_0: return launch_typed<DType::Q5_0>(variant, tile_pairs, a, stream);
    case DType::Q5_1: return launch_typed<DType::Q5_1>(variant, tile_pairs, a, stream);
    case DType::Q8_0: return launch_typed<DType::Q8_0>(variant, tile_pairs, a, stream);
    case DType::Q4_K: return launch_typed<DType::Q4_K>(variant, tile_pairs, a, stream);
    case DType::Q5_K: return launch_typed<DType::Q5_K>(variant, tile_pairs, a, stream);
    case DType::Q6_K: return launch_typed<DType::Q6_K>(variant, tile_pairs, a, stream);
    default:
      return Status::error("INVALID_ARGUMENT", "MATMUL op: weight type id " + std::to_string(static_cast<int>(type)) +
                                                   " has no CUDA kernel");
  }
}

QH_CUDA_KERNEL(MATMUL, matmul_run, nullptr);

}  // namespace qh::cuda
