// The GATED_DELTA_NET kernels (launched by native/cuda/gated_delta_net.cu). Plain CUDA C++ with no include of
// its own beyond <cstdint>: the includer provides the CUDA runtime, so the kernels can also be compiled on the
// host against a thread-per-CUDA-thread emulation to check their indexing and math without a GPU.
//
// Shapes (op_list.h): q, k {dk, nk, T}; v {dv, nv, T}; g, beta {nv, T}; S {dk, dv, nv} with V head j a dv x dk
// block, element (key i, value c) at [j][c][i]; out {dv, nv, T}. V head j reads K head kh(j).
//
// Token-serial (decode): one warp per value column c of S_j (columns are independent recurrences given k, q):
// the column's dk keys live in registers (NR per lane) for all T tokens of the launch, so S is read and written
// once. Per token:  r = alpha (s . k);  delta = beta (v_c - r);  s <- alpha s + delta k;  o_c = s . q
// (the formula with the decay folded into the two passes, as native/cpu/gated_delta_net.cc's SIMD path).
//
// Chunked (prefill), chunk length C <= kMaxChunk, two kernels (spec §3.2, same algebra as the CPU chunked path):
//   prep, one block per (chunk, V head j), independent:
//     gamma_t = sum_{s<=t} g_s (sequential f32 sum, as the CPU);  D_ts = e^(gamma_t - gamma_s) for s <= t only;
//     A_ts = beta_t D_ts (k_t . k_s) for s < t;  M_ts = D_ts (q_t . k_s) for s <= t;  Ti = (I + A)^-1
//     -> scratch per (j, chunk): Ti {C, C}, M {C, C}, gamma {C}.
//   state pass, one block per (V head j, slice of kNC value columns), sequential over the chunks, the state
//   slice in shared memory for the whole launch:
//     X = K S;  Y = Q S;  R = diag(beta) (V - diag(Gamma) X);  V' = Ti R   (= U - W S of the spec)
//     O = diag(Gamma) Y + M V';   S <- Gamma_n S + (diag(e^(gamma_n - gamma_t)) K)^T V'.
// Value columns never interact, so the slices are exact partitions of the work. The last chunk has n < C rows:
// every loop stops at n (the zero-padded rows of the spec, never computed).
// All arithmetic is f32 on the CUDA cores: tf32 tensor cores (10-bit mantissa) would be far outside the 2e-5
// bound the chunked form is held to vs the token-serial one (a 3xTF32 split is the way to tensor cores).
// Speed not measured yet (no GPU when written): bench/gpu/gdn.bench.ts.
#pragma once

#include <cstdint>

namespace qh::cuda::gdn {

constexpr int kSerialWarps = 4;     // value columns (warps) per token-serial block
constexpr int kMaxChunk = 64;       // chunk rows the chunked kernels' tiles hold
constexpr int kMaxChunkDk = 256;    // keys the state pass's shared state slice holds
constexpr int kNC = 16;             // value columns per state-pass block
constexpr int kChunkThreads = 256;  // threads of both chunked kernels
constexpr int kKeyTile = 32;        // keys per staged tile of the prep kernel's Gram products

struct Args {
  const float* q;     // {dk, nk, T}
  const float* k;     // {dk, nk, T}
  const float* v;     // {dv, nv, T}
  const float* g;     // {nv, T}
  const float* beta;  // {nv, T}
  float* S;           // {dk, dv, nv}, updated
  float* out;         // {dv, nv, T}
  float* ws;          // chunked: scratch, ws_floats(C) per (V head, chunk), V head major
  int64_t dk, dv, nk, nv, T;
  int64_t head_map;   // 0 tiled (j mod nk), 1 grouped (j / (nv/nk))
  int64_t chunk;      // chunked: C in [1, kMaxChunk]
  int64_t n_chunks;   // chunked: ceil(T / C)
};

// Scratch floats per (V head, chunk): Ti {C, C}, M {C, C}, gamma {C}.
__host__ __device__ inline int64_t ws_floats(int64_t C) { return 2 * C * C + C; }

__device__ __forceinline__ int64_t k_head(const Args& a, int64_t j) {
  return a.head_map == 0 ? j % a.nk : j / (a.nv / a.nk);
}

__device__ __forceinline__ float gdn_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// ---- token-serial ----
// grid (ceil(dv / kSerialWarps), nv), block kSerialWarps * 32. Lane l holds keys l + 32 r, r < NR (NR * 32 >= dk);
// NR == 0: keys dk > 256 stay in global memory (each lane owns keys l mod 32; read and written per token).
template <int NR>
__global__ void __launch_bounds__(kSerialWarps * 32) gdn_serial_kernel(const Args a) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kSerialWarps + (threadIdx.x >> 5);
  const int64_t j = blockIdx.y;
  if (c >= a.dv) return;  // warp-uniform
  const int64_t dk = a.dk, h = k_head(a, j);
  float* col = a.S + (j * a.dv + c) * dk;  // column c of S_j: col[i] = S_j(key i, value c)
  float s[NR > 0 ? NR : 1];
  if constexpr (NR > 0) {
#pragma unroll
    for (int r = 0; r < NR; ++r) {
      const int64_t i = lane + 32 * r;
      s[r] = i < dk ? col[i] : 0.0f;
    }
  }
  for (int64_t t = 0; t < a.T; ++t) {
    const float alpha = expf(a.g[t * a.nv + j]), b = a.beta[t * a.nv + j];
    const float* kt = a.k + (t * a.nk + h) * dk;
    const float* qt = a.q + (t * a.nk + h) * dk;
    float r = 0.0f;  // s . k (undecayed s)
    if constexpr (NR > 0) {
#pragma unroll
      for (int rr = 0; rr < NR; ++rr) {
        const int64_t i = lane + 32 * rr;
        if (i < dk) r = fmaf(s[rr], kt[i], r);
      }
    } else {
      for (int64_t i = lane; i < dk; i += 32) r = fmaf(col[i], kt[i], r);
    }
    r = gdn_warp_sum(r);
    const float delta = b * (a.v[(t * a.nv + j) * a.dv + c] - alpha * r);
    float o = 0.0f;  // s' . q with s' = alpha s + delta k
    if constexpr (NR > 0) {
#pragma unroll
      for (int rr = 0; rr < NR; ++rr) {
        const int64_t i = lane + 32 * rr;
        if (i < dk) {
          s[rr] = fmaf(alpha, s[rr], delta * kt[i]);
          o = fmaf(s[rr], qt[i], o);
        }
      }
    } else {
      for (int64_t i = lane; i < dk; i += 32) {
        const float sn = fmaf(alpha, col[i], delta * kt[i]);
        col[i] = sn;
        o = fmaf(sn, qt[i], o);
      }
    }
    o = gdn_warp_sum(o);
    if (lane == 0) a.out[(t * a.nv + j) * a.dv + c] = o;
  }
  if constexpr (NR > 0) {
#pragma unroll
    for (int r = 0; r < NR; ++r) {
      const int64_t i = lane + 32 * r;
      if (i < dk) col[i] = s[r];
    }
  }
}

// ---- chunked: prep ----
// grid (n_chunks, nv), block kChunkThreads. Gram products K K^T and Q K^T over key tiles of kKeyTile staged in
// shared memory; thread (tr, tc) = (tid / 16, tid % 16) owns rows t = tr + 16 a and columns s = tc + 16 b
// (a, b < 4: 64 x 64; strided so a warp's 16 column rows fall in 16 distinct banks). Then the decay and masks,
// then Ti = (I + A)^-1 by forward substitution (Ti_tc = -sum_{c<=s<t} A_ts Ti_sc for c < t: one thread per
// column c, rows in order), in shared memory overlaid on the key tiles.
constexpr int kTileLd = kKeyTile + 1;  // padded row stride of the key tiles
constexpr int kSqLd = kMaxChunk + 1;   // padded row stride of A and Ti
static_assert(kChunkThreads == 256 && kMaxChunk == 64, "prep thread layout: 16 x 16 threads x 4 x 4 entries");
static_assert(kMaxChunk * kSqLd <= 2 * kMaxChunk * kTileLd, "Ti overlays the two key tiles");

__global__ void __launch_bounds__(kChunkThreads) gdn_chunk_prep_kernel(const Args a) {
  __shared__ float tiles[2 * kMaxChunk * kTileLd];  // Ks {64, 33} then Qs {64, 33}; later Ti {64, 65}
  __shared__ float As[kMaxChunk * kSqLd];
  __shared__ float gs[kMaxChunk], bs[kMaxChunk];
  float* Ks = tiles;
  float* Qs = tiles + kMaxChunk * kTileLd;
  float* Ti = tiles;

  const int tid = static_cast<int>(threadIdx.x);
  const int64_t ch = blockIdx.x, j = blockIdx.y, h = k_head(a, j), C = a.chunk, dk = a.dk;
  const int64_t t0 = ch * C, ldq = a.nk * dk;
  const int n = static_cast<int>(a.T - t0 < C ? a.T - t0 : C);  // rows of this chunk, 1..C
  const float* K = a.k + t0 * ldq + h * dk;  // row t at K + t ldq
  const float* Q = a.q + t0 * ldq + h * dk;
  float* ws = a.ws + (j * a.n_chunks + ch) * ws_floats(C);
  float* Tg = ws;              // Ti {C, C}
  float* Mg = ws + C * C;      // M {C, C}
  float* Gg = ws + 2 * C * C;  // gamma {C}

  if (tid == 0) {  // cumulative log decay, sequential as on the CPU; rows >= n repeat gamma_{n-1}
    float acc = 0.0f;
    for (int t = 0; t < kMaxChunk; ++t) {
      if (t < n) acc += a.g[(t0 + t) * a.nv + j];
      gs[t] = acc;
    }
  }
  if (tid < kMaxChunk) bs[tid] = tid < n ? a.beta[(t0 + tid) * a.nv + j] : 0.0f;

  const int tr = tid / 16, tc = tid % 16;
  float kk[4][4], qk[4][4];
#pragma unroll
  for (int x = 0; x < 4; ++x)
#pragma unroll
    for (int y = 0; y < 4; ++y) kk[x][y] = qk[x][y] = 0.0f;
  for (int64_t i0 = 0; i0 < dk; i0 += kKeyTile) {
    __syncthreads();  // the previous tile is consumed (and gs/bs are visible after the first pass)
    for (int e = tid; e < kMaxChunk * kKeyTile; e += kChunkThreads) {
      const int t = e / kKeyTile, x = e % kKeyTile;
      const int64_t i = i0 + x;
      const bool ok = t < n && i < dk;
      Ks[t * kTileLd + x] = ok ? K[t * ldq + i] : 0.0f;
      Qs[t * kTileLd + x] = ok ? Q[t * ldq + i] : 0.0f;
    }
    __syncthreads();
    for (int x = 0; x < kKeyTile; ++x) {
      float kt[4], qt[4], ks[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        kt[r] = Ks[(tr + 16 * r) * kTileLd + x];
        qt[r] = Qs[(tr + 16 * r) * kTileLd + x];
        ks[r] = Ks[(tc + 16 * r) * kTileLd + x];
      }
#pragma unroll
      for (int y0 = 0; y0 < 4; ++y0)
#pragma unroll
        for (int y1 = 0; y1 < 4; ++y1) {
          kk[y0][y1] = fmaf(kt[y0], ks[y1], kk[y0][y1]);
          qk[y0][y1] = fmaf(qt[y0], ks[y1], qk[y0][y1]);
        }
    }
  }
  // Decay and masks; D only where s <= t (gamma_t - gamma_s > 0 above the diagonal: mask before exp).
#pragma unroll
  for (int y0 = 0; y0 < 4; ++y0)
#pragma unroll
    for (int y1 = 0; y1 < 4; ++y1) {
      const int t = tr + 16 * y0, s = tc + 16 * y1;
      const bool low = t < n && s <= t;
      const float D = low ? expf(gs[t] - gs[s]) : 0.0f;
      if (t < C && s < C) Mg[t * C + s] = low ? qk[y0][y1] * D : 0.0f;
      As[t * kSqLd + s] = low && s < t ? bs[t] * D * kk[y0][y1] : 0.0f;
    }
  __syncthreads();  // As complete; the key tiles are dead from here (Ti overlays them)
  if (tid < C) {  // column c of Ti reads only column c of Ti: no synchronisation between rows
    const int c = tid;
    for (int t = 0; t < C; ++t) {  // rows >= n: A is zero there, Ti row = e_t
      float v = c == t ? 1.0f : 0.0f;
      if (c < t) {
        float acc = 0.0f;
        for (int s = c; s < t; ++s) acc = fmaf(As[t * kSqLd + s], Ti[s * kSqLd + c], acc);
        v = -acc;
      }
      Ti[t * kSqLd + c] = v;
    }
  }
  __syncthreads();
  for (int e = tid; e < C * C; e += kChunkThreads) Tg[e] = Ti[(e / C) * kSqLd + e % C];
  if (tid < C) Gg[tid] = gs[tid];
}

// ---- chunked: state pass ----
// grid (ceil(dv / kNC), nv), block kChunkThreads; dk <= kMaxChunkDk. Every thread owns the value columns
// c0 = 2 (tid mod 8) and c0 + 1 of the slice. Per chunk:
//   1. warps 0-3 compute X = K S and R, warps 4-7 Y = Q S (scaled by Gamma), rows rg + 16 r (rg = (tid mod 128) / 8);
//   2. all threads: V' = Ti R, rows rw + 32 r (rw = tid / 8, r < 2);
//   3. all threads: O = diag(Gamma) Y + M V' for the same rows, and the state update for keys rw + 32 r (+ 128
//      per pass), so every (row, column) and (key, column) has exactly one owner.
static_assert(kChunkThreads == 256 && kNC == 16 && kMaxChunk == 64, "state-pass thread layout: 32 row groups x 8 column pairs");

__global__ void __launch_bounds__(kChunkThreads) gdn_chunk_state_kernel(const Args a) {
  __shared__ float ST[kMaxChunkDk * kNC];  // ST[i kNC + c] = S_j(key i, value col0 + c)
  __shared__ float Rs[kMaxChunk * kNC];    // R {n, kNC}
  __shared__ float Vs[kMaxChunk * kNC];    // V' {n, kNC}
  __shared__ float Ys[kMaxChunk * kNC];    // diag(Gamma) Q S {n, kNC}
  __shared__ float Gt[kMaxChunk], Ed[kMaxChunk], Bs[kMaxChunk];  // Gamma_t, e^(gamma_n - gamma_t), beta_t
  __shared__ float gamma_n;                                      // Gamma_n (e^gamma of the last row)

  const int tid = static_cast<int>(threadIdx.x);
  const int64_t j = blockIdx.y, col0 = static_cast<int64_t>(blockIdx.x) * kNC;
  const int64_t dk = a.dk, dv = a.dv, C = a.chunk, h = k_head(a, j);
  const int64_t ldq = a.nk * dk, ldv = a.nv * dv;
  const int ncol = static_cast<int>(dv - col0 < kNC ? dv - col0 : kNC);
  float* Sj = a.S + (j * dv + col0) * dk;  // column c of the slice at Sj + c dk

  for (int64_t e = tid; e < dk * kNC; e += kChunkThreads) {  // coalesced along the keys of a column
    const int c = static_cast<int>(e / dk);
    const int64_t i = e % dk;
    ST[i * kNC + c] = c < ncol ? Sj[c * dk + i] : 0.0f;
  }

  const bool xw = tid < 128;  // step 1 only: warp-uniform split
  const int c0 = 2 * (tid % 8), rg = (tid & 127) / 8, rw = tid / 8;
  for (int64_t ch = 0; ch < a.n_chunks; ++ch) {
    const int64_t t0 = ch * C;
    const int n = static_cast<int>(a.T - t0 < C ? a.T - t0 : C);
    const float* wsb = a.ws + (j * a.n_chunks + ch) * ws_floats(C);
    const float* Tg = wsb;
    const float* Mg = wsb + C * C;
    const float* Gg = wsb + 2 * C * C;
    if (tid < n) {
      const float gam = Gg[tid];
      Gt[tid] = expf(gam);
      Ed[tid] = expf(Gg[n - 1] - gam);
      Bs[tid] = a.beta[(t0 + tid) * a.nv + j];
    }
    if (tid == 0) gamma_n = expf(Gg[n - 1]);
    __syncthreads();  // also: ST loaded (first chunk) / updated (previous chunk)

    // 1. X = K S (warps 0-3) or Y = Q S (warps 4-7), rows rg + 16 r, columns c0, c0 + 1.
    {
      const float* P = (xw ? a.k : a.q) + t0 * ldq + h * dk;
      float acc[4][2];
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[r][0] = acc[r][1] = 0.0f;
      for (int64_t i = 0; i < dk; ++i) {
        const float s0 = ST[i * kNC + c0], s1 = ST[i * kNC + c0 + 1];
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int t = rg + 16 * r;
          if (t < n) {
            const float p = P[t * ldq + i];
            acc[r][0] = fmaf(p, s0, acc[r][0]);
            acc[r][1] = fmaf(p, s1, acc[r][1]);
          }
        }
      }
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int t = rg + 16 * r;
        if (t >= n) continue;
        if (xw) {  // R = diag(beta) (V - diag(Gamma) X); zero in padded columns
          const float* vt = a.v + (t0 + t) * ldv + j * dv + col0;
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int c = c0 + e;
            Rs[t * kNC + c] = c < ncol ? Bs[t] * (vt[c] - Gt[t] * acc[r][e]) : 0.0f;
          }
        } else {
          Ys[t * kNC + c0] = Gt[t] * acc[r][0];
          Ys[t * kNC + c0 + 1] = Gt[t] * acc[r][1];
        }
      }
    }
    __syncthreads();
    // 2. V' = Ti R  (Ti unit lower triangular)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int t = rw + 32 * r;
      if (t >= n) continue;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int c = c0 + e;
        float v = Rs[t * kNC + c];
        for (int s = 0; s < t; ++s) v = fmaf(Tg[t * C + s], Rs[s * kNC + c], v);
        Vs[t * kNC + c] = v;
      }
    }
    __syncthreads();
    // 3a. O = diag(Gamma) Y + M V'  (M lower triangular incl. the diagonal)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int t = rw + 32 * r;
      if (t >= n) continue;
      float* ot = a.out + (t0 + t) * ldv + j * dv + col0;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int c = c0 + e;
        if (c >= ncol) continue;
        float o = Ys[t * kNC + c];
        for (int s = 0; s <= t; ++s) o = fmaf(Mg[t * C + s], Vs[s * kNC + c], o);
        ot[c] = o;
      }
    }
    // 3b. S <- Gamma_n S + Kd^T V',  Kd_t = e^(gamma_n - gamma_t) k_t;  keys rw + 32 r + 128 p
    {
      const float* K = a.k + t0 * ldq + h * dk;
      const float gn = gamma_n;
      for (int64_t i0 = rw; i0 < dk; i0 += 128) {
        float up[4][2];
#pragma unroll
        for (int r = 0; r < 4; ++r) up[r][0] = up[r][1] = 0.0f;
        for (int t = 0; t < n; ++t) {
          const float v0 = Vs[t * kNC + c0], v1 = Vs[t * kNC + c0 + 1], ed = Ed[t];
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const int64_t i = i0 + 32 * r;
            if (i < dk) {
              const float kd = ed * K[t * ldq + i];
              up[r][0] = fmaf(kd, v0, up[r][0]);
              up[r][1] = fmaf(kd, v1, up[r][1]);
            }
          }
        }
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int64_t i = i0 + 32 * r;
          if (i >= dk) continue;
          ST[i * kNC + c0] = gn * ST[i * kNC + c0] + up[r][0];
          ST[i * kNC + c0 + 1] = gn * ST[i * kNC + c0 + 1] + up[r][1];
        }
      }
    }
    __syncthreads();  // ST, Rs, Vs, Ys and the per-row arrays are reused by the next chunk
  }

  for (int64_t e = tid; e < dk * kNC; e += kChunkThreads) {
    const int c = static_cast<int>(e / dk);
    const int64_t i = e % dk;
    if (c < ncol) Sj[c * dk + i] = ST[i * kNC + c];
  }
}

}  // namespace qh::cuda::gdn
