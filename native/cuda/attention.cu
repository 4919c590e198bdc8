// ATTENTION: causal GQA softmax attention over a per-session KV cache (spec §3.3 steps 5-6; native/cpu/attention.cc
// is the reference it is tested against).
//   in:  q f32 {d, Hq, T}; k f32 {d, Hkv, T}; v f32 {dv, Hkv, T}; pos i32 {T};
//        STATE k_cache {d, Hkv, n_ctx}, v_cache {dv, Hkv, n_ctx}: both f32, both f16 or both q8_0.
//   out: f32 {dv, Hq, T}.  p.f[0] = scale.  G = Hq / Hkv; query head h reads KV head g = h / G.
//
// 1. kv_write_kernel (one block per (t, g)): cache row pos[t] of KV head g := k[t][g], v[t][g], converted as the CPU
//    does: f16 round-to-nearest-even (__float2half_rn); q8_0 per 32-element block, one warp per block, as ggml's
//    quantize_row_q8_0 reference: amax = max |x| (NaN ignored), d = amax / 127, id = d != 0 ? 1/d : 0,
//    q = roundf(x·id) clamped to [-127, 127], scale f16(d) (IEEE division: the build has no fast math). A row reads
//    back as f16(d)·q, the CPU's value exactly.
//    Positions: the host refuses pos >= n_ctx (CONTEXT_FULL) before a step runs; the kernels still never touch memory
//    outside the caches: a position outside [0, n_ctx) is not written, its query attends over the rows
//    [0, min(pos + 1, n_ctx)) (nothing for a negative position: its output is 0).
// 2. attention of token t over cache rows [0, L_t), L_t = pos[t] + 1, with an online softmax in f32 (running max m,
//    running sum l = Σ e^(s − m), running acc = Σ e^(s − m)·V; on a new max both are rescaled by e^(m_old − m_new)),
//    s = scale·(q · K_row) as on the CPU. Two kernels, chosen by ctx.variant:
//      0 auto: decode for T <= kDecodeMaxT, prefill above;  1: decode;  2: prefill.
//    The prefill tile kernel holds head dims <= kPrefillMaxDim; larger d or dv always run the decode kernel.
//    Both are correct for every T (the GPU tests run both on every shape).
//  decode (flash-decoding, split-K): block = (token t, KV head g, up to kMaxG of its G query heads, split s); the
//    block's query rows live in shared memory and each K / V row it reads serves all of them (GQA: K/V read once per
//    group). The KV range [0, L_t) is cut into S_t = min(S, ceil(L_t / kMinChunk)) equal ranges; S (same for the
//    whole launch, from the shapes and the SM count: enough blocks to fill the device twice even at T = 1 with 2 KV
//    heads, capped by n_ctx / kMinChunk) sizes the scratch, S_t (from pos[t], read on the device) is what a token
//    uses. Per tile of kTile rows: scores (one warp per row, lanes over d, warp-shuffle sums), softmax update (one
//    warp per head), values (one thread per output column, accumulators of all heads in registers, acc in shared).
//    S = 1: the block normalises and writes out. S > 1: (acc, m, l) go to scratch and attn_combine_kernel merges them
//    in split order: m* = max m_s, out = Σ e^(m_s − m*) acc_s / Σ e^(m_s − m*) l_s.
//  prefill (flash-attention tiles, f32 CUDA cores): block = (KV head g, kBQ query rows), the rows of a KV head being
//    (t, j) pairs, t-major (row ρ = t·G + j), so a tile mixes the G heads of a few tokens and K/V tiles are shared by
//    them. Q tile in shared memory; per tile of kBK keys: S = Q·K^T with K streamed in kCh-dim chunks, causal mask
//    key < L_t per row, online softmax per row, then O += P·V with V streamed in kCh-column chunks. Thread (r, c4)
//    owns query row r (4 threads per row, adjacent lanes) for keys c4 + 4i and output columns c4 + 4i of each chunk,
//    so the row max / sum are two xor-shuffles and the rescale of O needs no communication. Tensor cores are a later
//    optimisation.
// Differences from the CPU are f32 summation order (dot products, softmax sums, split merge) and expf vs the CPU's
// exp polynomial; the stored cache values are bit-identical.
#include <cuda_fp16.h>

#include <cstdint>
#include <string>

#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

constexpr int kThreads = 128;             // every kernel here: 4 warps
constexpr int kWarps = kThreads / 32;
constexpr int64_t kDecodeMaxT = 8;        // auto: decode kernel up to this many tokens
constexpr int kMaxG = 8;                  // decode: query heads per block
constexpr int kTile = 64;                 // decode: KV rows per online-softmax step
constexpr int64_t kMinChunk = 64;         // decode: minimum KV rows per split
constexpr int kMaxSplit = 256;
constexpr size_t kSmemMax = 48 * 1024;    // dynamic shared memory without opt-in
constexpr int kBQ = 32, kBK = 32, kCh = 64;  // prefill: query rows, keys per tile, dim chunk
constexpr int64_t kPrefillMaxDim = 4 * kCh;  // prefill: d, dv <= 256 (Q tile and O registers)
static_assert(kBQ * 4 == kThreads && kBK == 8 * 4, "prefill: 4 threads per query row, 8 keys each");

struct AttnArgs {
  const float* q;        // {d, Hq, T}
  const float* k;        // {d, Hkv, T}
  const float* v;        // {dv, Hkv, T}
  const int32_t* pos;    // {T}
  uint8_t* kc;           // {d, Hkv, n_ctx} of the cache type; row (g, p) at g·k_nb1 + p·k_nb2 bytes
  uint8_t* vc;           // {dv, Hkv, n_ctx}
  float* out;            // {dv, Hq, T}
  float* part_acc;       // decode, S > 1: [T][Hq][S][dv]
  float* part_ml;        // decode, S > 1: [T][Hq][S][2] (m, l)
  int64_t d, dv, hq, hkv, g, T, n_ctx;
  int64_t k_nb1, k_nb2, v_nb1, v_nb2;
  float scale;
  int S;                 // decode: splits per (t, head) sized in scratch
  int gbm;               // decode: query heads per block (<= kMaxG)
  int ngb;               // decode: head blocks per KV head, ceil(G / gbm)
};

// ---- cache element types ----

template <DType C>
struct Kv;
template <>
struct Kv<DType::F32> {
  static __device__ __forceinline__ float load(const uint8_t* row, int64_t e) { return reinterpret_cast<const float*>(row)[e]; }
};
template <>
struct Kv<DType::F16> {
  static __device__ __forceinline__ float load(const uint8_t* row, int64_t e) { return __half2float(reinterpret_cast<const __half*>(row)[e]); }
};
// ggml block_q8_0, 34 B: f16 scale at byte 0, int8 quants at bytes 2..33 (native/core/quant_blocks.h BlockQ8_0).
constexpr int kQ8Bytes = 34;
template <>
struct Kv<DType::Q8_0> {
  static __device__ __forceinline__ float load(const uint8_t* row, int64_t e) {
    const uint8_t* blk = row + (e / 32) * kQ8Bytes;
    return __fmul_rn(__half2float(*reinterpret_cast<const __half*>(blk)), static_cast<float>(static_cast<int8_t>(blk[2 + e % 32])));
  }
};

// Valid KV length of token t: pos[t] + 1, clamped to [0, n_ctx] (header: bad positions stay in bounds).
__device__ __forceinline__ int64_t kv_len(const AttnArgs& a, int64_t t) {
  const int64_t p = a.pos[t];
  return p < 0 ? 0 : (p >= a.n_ctx ? a.n_ctx : p + 1);
}

// Splits token t uses: S_t = min(S, ceil(L / kMinChunk)), at least 1.
__device__ __forceinline__ int n_split(const AttnArgs& a, int64_t L) {
  const int64_t by_len = (L + kMinChunk - 1) / kMinChunk;
  return static_cast<int>(by_len < 1 ? 1 : (by_len < a.S ? by_len : a.S));
}

// ---- 1. cache write ----

// x: n floats -> dst: one cache row of n elements. All threads of the block call it.
template <DType C>
__device__ __forceinline__ void store_row(const float* __restrict__ x, uint8_t* dst, int64_t n) {
  if constexpr (C == DType::F32) {
    for (int64_t e = threadIdx.x; e < n; e += blockDim.x) reinterpret_cast<float*>(dst)[e] = x[e];
  } else if constexpr (C == DType::F16) {
    for (int64_t e = threadIdx.x; e < n; e += blockDim.x) reinterpret_cast<__half*>(dst)[e] = __float2half_rn(x[e]);
  } else {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t b = warp; b < n / 32; b += kWarps) {
      const float xv = x[32 * b + lane];
      const float amax = warp_max(fmaxf(0.0f, fabsf(xv)));  // fmaxf drops NaN, as the CPU's std::fmax from 0
      const float dd = amax / 127.0f;
      const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
      const float qv = fminf(fmaxf(roundf(__fmul_rn(xv, id)), -127.0f), 127.0f);  // NaN -> -127, as the CPU
      uint8_t* blk = dst + b * kQ8Bytes;
      if (lane == 0) *reinterpret_cast<__half*>(blk) = __float2half_rn(dd);
      blk[2 + lane] = static_cast<uint8_t>(static_cast<int8_t>(qv));
    }
  }
}

// grid T·Hkv, block kThreads: block (t, g) writes cache rows pos[t] of KV head g.
template <DType C>
__global__ void __launch_bounds__(kThreads) kv_write_kernel(const AttnArgs a) {
  const int64_t t = blockIdx.x / a.hkv, g = blockIdx.x % a.hkv;
  const int64_t p = a.pos[t];
  if (p < 0 || p >= a.n_ctx) return;  // never written (block-uniform)
  store_row<C>(a.k + (t * a.hkv + g) * a.d, a.kc + g * a.k_nb1 + p * a.k_nb2, a.d);
  store_row<C>(a.v + (t * a.hkv + g) * a.dv, a.vc + g * a.v_nb1 + p * a.v_nb2, a.dv);
}

// ---- 2a. decode (split-K) ----

// Dynamic shared memory of the decode kernel for gbm heads per block.
size_t decode_smem(int64_t gbm, int64_t d, int64_t dv) {
  return static_cast<size_t>(gbm * (d + kTile + dv) + 3 * gbm) * sizeof(float);
}

// grid (T·S, Hkv·ngb), block kThreads, dynamic shared memory decode_smem(gbm, d, dv).
// blockIdx.x = t·S + s; blockIdx.y = g·ngb + head block.
template <DType C>
__global__ void __launch_bounds__(kThreads) attn_decode_kernel(const AttnArgs a) {
  extern __shared__ float smem[];
  const int gbm = a.gbm;
  const int64_t d = a.d, dv = a.dv;
  float* qs = smem;                // [gbm][d]     query rows of the block's heads
  float* ps = qs + gbm * d;        // [gbm][kTile] scores, then probabilities
  float* acc = ps + gbm * kTile;   // [gbm][dv]    unnormalised outputs
  float* m_s = acc + gbm * dv;     // [gbm]        running max
  float* l_s = m_s + gbm;          // [gbm]        running sum
  float* c_s = l_s + gbm;          // [gbm]        rescale of this tile

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t t = blockIdx.x / a.S;
  const int s = static_cast<int>(blockIdx.x % a.S);
  const int64_t g = blockIdx.y / a.ngb;
  const int64_t j0 = static_cast<int64_t>(blockIdx.y % a.ngb) * gbm;  // first head of the block within the group
  const int gb = static_cast<int>(a.g - j0 < gbm ? a.g - j0 : gbm);
  const int64_t L = kv_len(a, t);
  const int st = n_split(a, L);
  if (s >= st) return;  // block-uniform: this token uses fewer splits
  const int64_t r0 = L * s / st, r1 = L * (s + 1) / st;
  const int64_t h0 = g * a.g + j0;  // first query head

  const float* qrow = a.q + (t * a.hq + h0) * d;  // the gb heads are consecutive rows
  for (int64_t i = tid; i < gb * d; i += kThreads) qs[i] = qrow[i];
  for (int64_t i = tid; i < gb * dv; i += kThreads) acc[i] = 0.0f;
  if (tid < gb) {
    m_s[tid] = -INFINITY;
    l_s[tid] = 0.0f;
  }
  __syncthreads();

  const uint8_t* kbase = a.kc + g * a.k_nb1;
  const uint8_t* vbase = a.vc + g * a.v_nb1;
  for (int64_t b0 = r0; b0 < r1; b0 += kTile) {
    const int nb = static_cast<int>(r1 - b0 < kTile ? r1 - b0 : kTile);
    // scores: ps[j][r] = scale · q_j · K[b0 + r]; one warp per row
    for (int r = warp; r < nb; r += kWarps) {
      const uint8_t* krow = kbase + (b0 + r) * a.k_nb2;
      float part[kMaxG];
#pragma unroll
      for (int j = 0; j < kMaxG; ++j) part[j] = 0.0f;
      for (int64_t e = lane; e < d; e += 32) {
        const float kv = Kv<C>::load(krow, e);
#pragma unroll
        for (int j = 0; j < kMaxG; ++j)
          if (j < gb) part[j] = fmaf(qs[j * d + e], kv, part[j]);
      }
#pragma unroll
      for (int j = 0; j < kMaxG; ++j) {
        if (j < gb) {  // gb is block-uniform: the whole warp shuffles
          const float sum = warp_sum(part[j]);
          if (lane == 0) ps[j * kTile + r] = a.scale * sum;
        }
      }
    }
    __syncthreads();
    // online softmax, one warp per head: m' = max(m, max_r s_r); corr = e^(m - m'); p_r = e^(s_r - m');
    // l = corr·l + Σ p_r
    for (int j = warp; j < gb; j += kWarps) {
      float* pj = ps + j * kTile;
      float mb = -INFINITY;
      for (int r = lane; r < nb; r += 32) mb = fmaxf(mb, pj[r]);
      mb = warp_max(mb);
      const float mold = m_s[j];
      const float mnew = fmaxf(mold, mb);
      const float corr = mold == -INFINITY ? 0.0f : expf(mold - mnew);
      float sum = 0.0f;
      for (int r = lane; r < nb; r += 32) {
        const float p = expf(pj[r] - mnew);
        pj[r] = p;
        sum += p;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        m_s[j] = mnew;
        l_s[j] = l_s[j] * corr + sum;
        c_s[j] = corr;
      }
    }
    __syncthreads();
    // values: acc_j[c] = corr_j · acc_j[c] + Σ_r p_j[r] · V[b0 + r][c]; one thread per column
    for (int64_t c = tid; c < dv; c += kThreads) {
      float o[kMaxG];
#pragma unroll
      for (int j = 0; j < kMaxG; ++j) o[j] = j < gb ? acc[j * dv + c] * c_s[j] : 0.0f;
      for (int r = 0; r < nb; ++r) {
        const float vv = Kv<C>::load(vbase + (b0 + r) * a.v_nb2, c);
#pragma unroll
        for (int j = 0; j < kMaxG; ++j)
          if (j < gb) o[j] = fmaf(ps[j * kTile + r], vv, o[j]);
      }
#pragma unroll
      for (int j = 0; j < kMaxG; ++j)
        if (j < gb) acc[j * dv + c] = o[j];
    }
    __syncthreads();
  }

  if (a.S == 1) {
    for (int64_t i = tid; i < gb * dv; i += kThreads) {
      const int64_t j = i / dv, c = i % dv;
      const float l = l_s[j];
      a.out[((t * a.hq + h0 + j) * dv) + c] = l > 0.0f ? acc[i] * (1.0f / l) : 0.0f;
    }
    return;
  }
  for (int64_t i = tid; i < gb * dv; i += kThreads) {
    const int64_t j = i / dv, c = i % dv;
    const int64_t slot = (t * a.hq + h0 + j) * a.S + s;
    a.part_acc[slot * dv + c] = acc[i];
  }
  if (tid < gb) {
    const int64_t slot = (t * a.hq + h0 + tid) * a.S + s;
    a.part_ml[2 * slot] = m_s[tid];
    a.part_ml[2 * slot + 1] = l_s[tid];
  }
}

// grid T·Hq (blockIdx.x = t·Hq + h), block kThreads: merges the S_t partials of (t, h) in split order.
__global__ void __launch_bounds__(kThreads) attn_combine_kernel(const AttnArgs a) {
  __shared__ float w_s[kMaxSplit];  // e^(m_s - m*)
  const int64_t t = blockIdx.x / a.hq, h = blockIdx.x % a.hq;
  const int st = n_split(a, kv_len(a, t));
  const int64_t slot0 = (t * a.hq + h) * a.S;
  const float* ml = a.part_ml + 2 * slot0;
  float mstar = -INFINITY;
  for (int sp = 0; sp < st; ++sp) mstar = fmaxf(mstar, ml[2 * sp]);
  for (int sp = threadIdx.x; sp < st; sp += kThreads) w_s[sp] = ml[2 * sp] == -INFINITY ? 0.0f : expf(ml[2 * sp] - mstar);
  __syncthreads();
  float lsum = 0.0f;
  for (int sp = 0; sp < st; ++sp) lsum += w_s[sp] * ml[2 * sp + 1];
  const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
  const float* pa = a.part_acc + slot0 * a.dv;
  float* o = a.out + (t * a.hq + h) * a.dv;
  for (int64_t c = threadIdx.x; c < a.dv; c += kThreads) {
    float sum = 0.0f;
    for (int sp = 0; sp < st; ++sp) sum = fmaf(w_s[sp], pa[sp * a.dv + c], sum);
    o[c] = sum * inv;
  }
}

// ---- 2b. prefill (tiles) ----

size_t prefill_smem(int64_t d) {
  return static_cast<size_t>(kBQ * (d + 1) + kBK * (kCh + 1) + kBQ * (kBK + 1) + kBQ) * sizeof(float);
}

// grid (ceil(T·G / kBQ), Hkv), block kThreads, dynamic shared memory prefill_smem(d). NC = ceil(dv / kCh) <= 4.
template <DType C, int NC>
__global__ void __launch_bounds__(kThreads) attn_prefill_kernel(const AttnArgs a) {
  extern __shared__ float smem[];
  const int64_t d = a.d, dv = a.dv, G = a.g;
  const int64_t qstride = d + 1;  // +1: the 8 rows a warp reads sit in distinct banks
  float* qs = smem;                        // [kBQ][d + 1]    query rows
  float* kvs = qs + kBQ * qstride;         // [kBK][kCh + 1]  K or V chunk
  float* ss = kvs + kBK * (kCh + 1);       // [kBQ][kBK + 1]  probabilities of the tile
  int* lrow = reinterpret_cast<int*>(ss + kBQ * (kBK + 1));  // [kBQ] KV length per row (0: padding row)
  __shared__ int kmax_s;

  const int tid = threadIdx.x;
  const int64_t g = blockIdx.y;
  const int64_t R = a.T * G;  // query rows of this KV head
  const int64_t rho0 = static_cast<int64_t>(blockIdx.x) * kBQ;
  if (tid < kBQ) {
    const int64_t rho = rho0 + tid;
    lrow[tid] = rho < R ? static_cast<int>(kv_len(a, rho / G)) : 0;
  }
  for (int64_t i = tid; i < kBQ * d; i += kThreads) {
    const int64_t r = i / d, e = i % d, rho = rho0 + r;
    qs[r * qstride + e] = rho < R ? a.q[((rho / G) * a.hq + g * G + rho % G) * d + e] : 0.0f;
  }
  __syncthreads();
  if (tid == 0) {
    int km = 0;
    for (int r = 0; r < kBQ; ++r) km = lrow[r] > km ? lrow[r] : km;
    kmax_s = km;
  }
  __syncthreads();
  const int64_t kmax = kmax_s;

  const int r = tid >> 2, c4 = tid & 3;  // query row; keys / columns c4 + 4i
  const int64_t L = lrow[r];
  const uint8_t* kbase = a.kc + g * a.k_nb1;
  const uint8_t* vbase = a.vc + g * a.v_nb1;
  float m = -INFINITY, l = 0.0f;
  float o[NC][16];
#pragma unroll
  for (int ch = 0; ch < NC; ++ch)
#pragma unroll
    for (int i = 0; i < 16; ++i) o[ch][i] = 0.0f;

  for (int64_t k0 = 0; k0 < kmax; k0 += kBK) {
    const int nb = static_cast<int>(kmax - k0 < kBK ? kmax - k0 : kBK);
    // S = Q·K^T for keys k0 + c4 + 4i, K streamed in chunks of kCh dims
    float s[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i] = 0.0f;
    for (int64_t dc = 0; dc < d; dc += kCh) {
      const int nd = static_cast<int>(d - dc < kCh ? d - dc : kCh);
      for (int i = tid; i < kBK * kCh; i += kThreads) {
        const int kr = i / kCh, e = i % kCh;
        kvs[kr * (kCh + 1) + e] = (kr < nb && e < nd) ? Kv<C>::load(kbase + (k0 + kr) * a.k_nb2, dc + e) : 0.0f;
      }
      __syncthreads();
      const float* qr = qs + r * qstride + dc;
      for (int e = 0; e < nd; ++e) {
        const float qv = qr[e];
#pragma unroll
        for (int i = 0; i < 8; ++i) s[i] = fmaf(qv, kvs[(c4 + 4 * i) * (kCh + 1) + e], s[i]);
      }
      __syncthreads();
    }
    // causal mask (key < L of the row), online softmax over the row's 32 keys held by 4 adjacent lanes
    float mb = -INFINITY;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      s[i] = k0 + c4 + 4 * i < L ? a.scale * s[i] : -INFINITY;
      mb = fmaxf(mb, s[i]);
    }
    mb = fmaxf(mb, __shfl_xor_sync(0xffffffffu, mb, 1));
    mb = fmaxf(mb, __shfl_xor_sync(0xffffffffu, mb, 2));
    const float mnew = fmaxf(m, mb);
    const float corr = m == -INFINITY ? 0.0f : expf(m - mnew);
    float psum = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float p = s[i] == -INFINITY ? 0.0f : expf(s[i] - mnew);
      ss[r * (kBK + 1) + c4 + 4 * i] = p;
      psum += p;
    }
    psum += __shfl_xor_sync(0xffffffffu, psum, 1);
    psum += __shfl_xor_sync(0xffffffffu, psum, 2);
    l = l * corr + psum;
    m = mnew;
#pragma unroll
    for (int ch = 0; ch < NC; ++ch)
#pragma unroll
      for (int i = 0; i < 16; ++i) o[ch][i] *= corr;
    // O += P·V, V streamed in chunks of kCh columns
#pragma unroll
    for (int ch = 0; ch < NC; ++ch) {
      const int64_t c0 = static_cast<int64_t>(ch) * kCh;
      const int ncol = static_cast<int>(dv - c0 < kCh ? dv - c0 : kCh);
      __syncthreads();  // ss complete (ch 0) / kvs no longer read (ch > 0)
      for (int i = tid; i < kBK * kCh; i += kThreads) {
        const int kr = i / kCh, e = i % kCh;
        kvs[kr * (kCh + 1) + e] = (kr < nb && e < ncol) ? Kv<C>::load(vbase + (k0 + kr) * a.v_nb2, c0 + e) : 0.0f;
      }
      __syncthreads();
      const float* pr = ss + r * (kBK + 1);
      for (int kr = 0; kr < nb; ++kr) {
        const float p = pr[kr];
        const float* vr = kvs + kr * (kCh + 1) + c4;
#pragma unroll
        for (int i = 0; i < 16; ++i) o[ch][i] = fmaf(p, vr[4 * i], o[ch][i]);
      }
    }
    __syncthreads();  // kvs / ss are rewritten by the next tile
  }

  const int64_t rho = rho0 + r;
  if (rho >= R) return;
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  float* orow = a.out + ((rho / G) * a.hq + g * G + rho % G) * dv;
#pragma unroll
  for (int ch = 0; ch < NC; ++ch)
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int64_t c = static_cast<int64_t>(ch) * kCh + c4 + 4 * i;
      if (c < dv) orow[c] = o[ch][i] * inv;
    }
}

// ---- launcher ----

// Decode geometry: a pure function of the shapes and the SM count (the scratch function and the launcher agree).
struct DecodeGeom {
  int gbm = 0;  // query heads per block; 0: d + dv too large for shared memory
  int ngb = 1;
  int S = 1;
};

DecodeGeom decode_geom(const OpCall& call, int sm_count) {
  const int64_t d = call.in[0].ne[0], hq = call.in[0].ne[1], T = call.in[0].ne[2];
  const int64_t hkv = call.in[1].ne[1], dv = call.in[2].ne[0], n_ctx = call.in[4].ne[2];
  const int64_t G = hq / hkv;
  DecodeGeom geo;
  int64_t gbm = G < kMaxG ? G : kMaxG;
  while (gbm > 0 && decode_smem(gbm, d, dv) > kSmemMax) --gbm;
  if (gbm == 0) return geo;
  geo.gbm = static_cast<int>(gbm);
  geo.ngb = static_cast<int>((G + gbm - 1) / gbm);
  const int64_t blocks = T * hkv * geo.ngb;
  const int64_t want = 2 * static_cast<int64_t>(sm_count > 0 ? sm_count : 1);
  int64_t S = blocks < want ? (want + blocks - 1) / blocks : 1;
  const int64_t by_ctx = (n_ctx + kMinChunk - 1) / kMinChunk;
  if (S > by_ctx) S = by_ctx;
  if (S > kMaxSplit) S = kMaxSplit;
  geo.S = static_cast<int>(S < 1 ? 1 : S);
  return geo;
}

size_t attention_scratch(const OpCall& call, int sm_count) {
  const DecodeGeom geo = decode_geom(call, sm_count);
  if (geo.S <= 1) return 0;
  const int64_t hq = call.in[0].ne[1], T = call.in[0].ne[2], dv = call.in[2].ne[0];
  return static_cast<size_t>(T * hq * geo.S * (dv + 2)) * sizeof(float);
}

template <DType C>
Status launch(const OpCall& call, CudaKernelContext& ctx, AttnArgs a) {
  kv_write_kernel<C><<<static_cast<unsigned>(a.T * a.hkv), kThreads, 0, ctx.stream>>>(a);
  QH_RETURN_IF_ERROR(launch_status("kv_write_kernel"));

  const bool fits_prefill = a.d <= kPrefillMaxDim && a.dv <= kPrefillMaxDim;
  const bool decode = !fits_prefill || ctx.variant == 1 || (ctx.variant != 2 && a.T <= kDecodeMaxT);
  if (!decode) {
    const dim3 grid(static_cast<unsigned>((a.T * a.g + kBQ - 1) / kBQ), static_cast<unsigned>(a.hkv));
    const size_t smem = prefill_smem(a.d);
    switch ((a.dv + kCh - 1) / kCh) {
      case 1: attn_prefill_kernel<C, 1><<<grid, kThreads, smem, ctx.stream>>>(a); break;
      case 2: attn_prefill_kernel<C, 2><<<grid, kThreads, smem, ctx.stream>>>(a); break;
      case 3: attn_prefill_kernel<C, 3><<<grid, kThreads, smem, ctx.stream>>>(a); break;
      default: attn_prefill_kernel<C, 4><<<grid, kThreads, smem, ctx.stream>>>(a); break;
    }
    return launch_status("attn_prefill_kernel");
  }

  const DecodeGeom geo = decode_geom(call, ctx.sm_count);
  if (geo.gbm == 0)
    return Status::error("INVALID_ARGUMENT", "ATTENTION op (CUDA): head dims d = " + std::to_string(a.d) + ", dv = " +
                                                 std::to_string(a.dv) + " are too large for the decode kernel's shared memory");
  a.gbm = geo.gbm;
  a.ngb = geo.ngb;
  a.S = geo.S;
  if (a.S > 1) {
    const size_t need = attention_scratch(call, ctx.sm_count);
    if (ctx.scratch == nullptr || ctx.scratch_size < need)
      return Status::error("INVALID_ARGUMENT", "ATTENTION op (CUDA): scratch of " + std::to_string(ctx.scratch_size) +
                                                   " bytes, the split-K partials need " + std::to_string(need));
    a.part_acc = static_cast<float*>(ctx.scratch);
    a.part_ml = a.part_acc + a.T * a.hq * a.S * a.dv;
  }
  const dim3 grid(static_cast<unsigned>(a.T * a.S), static_cast<unsigned>(a.hkv * a.ngb));
  attn_decode_kernel<C><<<grid, kThreads, decode_smem(a.gbm, a.d, a.dv), ctx.stream>>>(a);
  QH_RETURN_IF_ERROR(launch_status("attn_decode_kernel"));
  if (a.S == 1) return Status::ok();
  attn_combine_kernel<<<static_cast<unsigned>(a.T * a.hq), kThreads, 0, ctx.stream>>>(a);
  return launch_status("attn_combine_kernel");
}

Status run_attention(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor &q = call.in[0], &k = call.in[1], &v = call.in[2], &kc = call.in[4], &vc = call.in[5];
  AttnArgs a{};
  a.q = q.ptr<const float>();
  a.k = k.ptr<const float>();
  a.v = v.ptr<const float>();
  a.pos = call.in[3].ptr<const int32_t>();
  a.kc = kc.ptr<uint8_t>();
  a.vc = vc.ptr<uint8_t>();
  a.out = call.out[0].ptr<float>();
  a.d = q.ne[0];
  a.hq = q.ne[1];
  a.T = q.ne[2];
  a.hkv = k.ne[1];
  a.dv = v.ne[0];
  a.g = a.hq / a.hkv;
  a.n_ctx = kc.ne[2];
  a.k_nb1 = static_cast<int64_t>(kc.nb[1]);
  a.k_nb2 = static_cast<int64_t>(kc.nb[2]);
  a.v_nb1 = static_cast<int64_t>(vc.nb[1]);
  a.v_nb2 = static_cast<int64_t>(vc.nb[2]);
  a.scale = call.p.f[0];
  switch (kc.type) {
    case DType::F32: return launch<DType::F32>(call, ctx, a);
    case DType::F16: return launch<DType::F16>(call, ctx, a);
    case DType::Q8_0: return launch<DType::Q8_0>(call, ctx, a);
    default: return Status::error("INVALID_ARGUMENT", "ATTENTION op (CUDA): unsupported KV cache type");
  }
}

}  // namespace

QH_CUDA_KERNEL(ATTENTION, run_attention, attention_scratch);

}  // namespace qh::cuda
