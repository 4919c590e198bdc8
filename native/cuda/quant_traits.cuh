// Weight types as compile-time traits for the CUDA weight ops (MATMUL, MATMUL_ID). One trait per GGUF type;
// block layouts are native/core/quant_blocks.h (spec §4.1). Every trait exposes the same two things:
//   kQK     elements per block (plain types: a virtual "block" of 8 elements, which may be cut short by the
//           row end; `kPlain` says so and callers then guard element-wise),
//   kBytes  bytes per block (plain: 8 · element size),
//   load8(blk, c, v)  v[i] = dequant(element 8c + i of the block at blk), c ∈ [0, kQK/8).
// Numerics: each value is formed exactly as ggml's f32 dequantize_row_* (and the CPU backend's
// native/cpu/quant_dot_scalar.cc) forms it: the products d·q, d·sc, d·sc·q are exact in f32 (≤ 24
// significant bits), so the only rounding is the final add/sub of a min, and contracting it into an FMA
// cannot change it (the product is exact). Results are therefore bit-identical to the CPU dequantization.
//
// All functions are __host__ __device__ so test/native can check them bit for bit against the CPU
// dequantization on a machine without a GPU.
//
// Alignment: blocks are byte-packed; loads here are at most as wide as the block's guaranteed alignment
// given a 16-byte-aligned row base (kAlign): 2 for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q6_K, 16 for Q4_K/Q5_K (whose
// load16 reads qs / qh with 128-bit loads). qh_row_load16 (16 elements) is what the GEMV uses.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "../core/dtype.h"

// `#pragma unroll` in device compilation only (the host pass would warn about an unknown pragma).
#if defined(__CUDA_ARCH__)
#define QH_TRAITS_UNROLL _Pragma("unroll")
#else
#define QH_TRAITS_UNROLL
#endif

namespace qh::cuda {

// binary16 bits -> f32 (exact; subnormals, inf, NaN kept).
__host__ __device__ __forceinline__ float qh_h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
// bfloat16 bits -> f32 (the upper half of the f32).
__host__ __device__ __forceinline__ float qh_bf2f(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}
__host__ __device__ __forceinline__ uint16_t qh_ld16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
// 8 consecutive bytes from a 2-byte-aligned address, byte i in bits 8i.. of the result.
__host__ __device__ __forceinline__ uint64_t qh_ld8_a2(const uint8_t* p) {
  const uint16_t* q = reinterpret_cast<const uint16_t*>(p);
  return static_cast<uint64_t>(q[0]) | (static_cast<uint64_t>(q[1]) << 16) | (static_cast<uint64_t>(q[2]) << 32) |
         (static_cast<uint64_t>(q[3]) << 48);
}
__host__ __device__ __forceinline__ uint64_t qh_ld8_a8(const uint8_t* p) { return *reinterpret_cast<const uint64_t*>(p); }
__host__ __device__ __forceinline__ int qh_byte(uint64_t v, int i) { return static_cast<int>((v >> (8 * i)) & 0xffu); }
// 16 consecutive bytes from a 16-byte-aligned address (one 128-bit load) as two little-endian u64.
struct QhBytes16 {
  uint64_t lo, hi;
  __host__ __device__ __forceinline__ int operator[](int i) const { return i < 8 ? qh_byte(lo, i) : qh_byte(hi, i - 8); }
};
__host__ __device__ __forceinline__ QhBytes16 qh_ld16_a16(const uint8_t* p) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  return {static_cast<uint64_t>(u.x) | (static_cast<uint64_t>(u.y) << 32), static_cast<uint64_t>(u.z) | (static_cast<uint64_t>(u.w) << 32)};
}

// 6-bit scale and min of sub-block s of a Q4_K / Q5_K block (quant_blocks.h k_scale_min).
__host__ __device__ __forceinline__ void qh_k_scale_min(const uint8_t* sc, int s, int* d, int* m) {
  if (s < 4) {
    *d = sc[s] & 63;
    *m = sc[s + 4] & 63;
  } else {
    *d = (sc[s + 4] & 15) | ((sc[s - 4] >> 6) << 4);
    *m = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
  }
}

template <DType T> struct QTraits;

// F32: plain; 8 elements = 32 bytes.
template <> struct QTraits<DType::F32> {
  static constexpr bool kPlain = true;
  static constexpr int kQK = 8, kBytes = 32, kAlign = 4;
  __host__ __device__ static __forceinline__ float elem(const uint8_t* row, int64_t i) {
    return reinterpret_cast<const float*>(row)[i];
  }
};
template <> struct QTraits<DType::F16> {
  static constexpr bool kPlain = true;
  static constexpr int kQK = 8, kBytes = 16, kAlign = 2;
  __host__ __device__ static __forceinline__ float elem(const uint8_t* row, int64_t i) {
    return qh_h2f(reinterpret_cast<const uint16_t*>(row)[i]);
  }
};
template <> struct QTraits<DType::BF16> {
  static constexpr bool kPlain = true;
  static constexpr int kQK = 8, kBytes = 16, kAlign = 2;
  __host__ __device__ static __forceinline__ float elem(const uint8_t* row, int64_t i) {
    return qh_bf2f(reinterpret_cast<const uint16_t*>(row)[i]);
  }
};

// Q4_0 {d, qs[16]}: x[j] = d·((qs[j] & 15) − 8), x[j+16] = d·((qs[j] >> 4) − 8).
template <> struct QTraits<DType::Q4_0> {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 18, kAlign = 2;
  __host__ __device__ static __forceinline__ void load8(const uint8_t* b, int c, float* v) {
    const float d = qh_h2f(qh_ld16(b));
    const uint64_t q = qh_ld8_a2(b + 2 + 8 * (c & 1));
    const int sh = (c >> 1) * 4;
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) v[i] = d * static_cast<float>(((qh_byte(q, i) >> sh) & 15) - 8);
  }
};

// Q4_1 {d, m, qs[16]}: x = d·q + m.
template <> struct QTraits<DType::Q4_1> {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 20, kAlign = 2;
  __host__ __device__ static __forceinline__ void load8(const uint8_t* b, int c, float* v) {
    const float d = qh_h2f(qh_ld16(b)), m = qh_h2f(qh_ld16(b + 2));
    const uint64_t q = qh_ld8_a2(b + 4 + 8 * (c & 1));
    const int sh = (c >> 1) * 4;
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) v[i] = d * static_cast<float>((qh_byte(q, i) >> sh) & 15) + m;
  }
};

// Q5_0 {d, qh[4], qs[16]}: element e ∈ [0,32): 4 low bits from qs[e & 15] (low nibble e < 16, high else),
// 5th bit = bit e of u32(qh); x = d·(q − 16).
template <> struct QTraits<DType::Q5_0> {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 22, kAlign = 2;
  __host__ __device__ static __forceinline__ void load8(const uint8_t* b, int c, float* v) {
    const float d = qh_h2f(qh_ld16(b));
    const uint32_t H = static_cast<uint32_t>(qh_ld16(b + 2)) | (static_cast<uint32_t>(qh_ld16(b + 4)) << 16);
    const uint64_t q = qh_ld8_a2(b + 6 + 8 * (c & 1));
    const int sh = (c >> 1) * 4;
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) {
      const int e = 8 * c + i;
      const int qq = ((qh_byte(q, i) >> sh) & 15) | static_cast<int>(((H >> e) & 1u) << 4);
      v[i] = d * static_cast<float>(qq - 16);
    }
  }
};

// Q5_1 {d, m, qh[4], qs[16]}: as Q5_0 without the −16, x = d·q + m.
template <> struct QTraits<DType::Q5_1> {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 24, kAlign = 2;
  __host__ __device__ static __forceinline__ void load8(const uint8_t* b, int c, float* v) {
    const float d = qh_h2f(qh_ld16(b)), m = qh_h2f(qh_ld16(b + 2));
    const uint32_t H = static_cast<uint32_t>(qh_ld16(b + 4)) | (static_cast<uint32_t>(qh_ld16(b + 6)) << 16);
    const uint64_t q = qh_ld8_a2(b + 8 + 8 * (c & 1));
    const int sh = (c >> 1) * 4;
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) {
      const int e = 8 * c + i;
      const int qq = ((qh_byte(q, i) >> sh) & 15) | static_cast<int>(((H >> e) & 1u) << 4);
      v[i] = d * static_cast<float>(qq) + m;
    }
  }
};

// Q8_0 {d, qs[32] int8}: x = d·qs.
template <> struct QTraits<DType::Q8_0> {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 34, kAlign = 2;
  __host__ __device__ static __forceinline__ void load8(const uint8_t* b, int c, float* v) {
    const float d = qh_h2f(qh_ld16(b));
    const uint64_t q = qh_ld8_a2(b + 2 + 8 * c);
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) v[i] = d * static_cast<float>(static_cast<int8_t>(qh_byte(q, i)));
  }
};

// Q4_K {d, dmin, scales[12], qs[128]}: element e = 64p + 32h + l (h = high nibble): q = nibble h of qs[32p+l],
// sub-block s = 2p + h; x = (d·sc_s)·q − dmin·m_s.
template <> struct QTraits<DType::Q4_K> {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 256, kBytes = 144, kAlign = 16;
  __host__ __device__ static __forceinline__ void load8(const uint8_t* b, int c, float* v) {
    const int e = 8 * c, p = e >> 6, h = (e >> 5) & 1, l0 = e & 31;
    const float d = qh_h2f(qh_ld16(b)), dmin = qh_h2f(qh_ld16(b + 2));
    int sc, mn;
    qh_k_scale_min(b + 4, 2 * p + h, &sc, &mn);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    const uint64_t q = qh_ld8_a8(b + 16 + 32 * p + l0);
    const int sh = 4 * h;
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) v[i] = d1 * static_cast<float>((qh_byte(q, i) >> sh) & 15) - m1;
  }
  // Elements 16c .. 16c+15, c ∈ [0, 16): one sub-block half, one 128-bit load of qs.
  static constexpr bool kHasLoad16 = true;
  __host__ __device__ static __forceinline__ void load16(const uint8_t* b, int c, float* v) {
    const int e = 16 * c, p = e >> 6, h = (e >> 5) & 1, l0 = e & 31;
    const float d = qh_h2f(qh_ld16(b)), dmin = qh_h2f(qh_ld16(b + 2));
    int sc, mn;
    qh_k_scale_min(b + 4, 2 * p + h, &sc, &mn);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    const QhBytes16 q = qh_ld16_a16(b + 16 + 32 * p + l0);
    const int sh = 4 * h;
QH_TRAITS_UNROLL
    for (int i = 0; i < 16; ++i) v[i] = d1 * static_cast<float>((q[i] >> sh) & 15) - m1;
  }
};

// Q5_K {d, dmin, scales[12], qh[32], qs[128]}: as Q4_K, q += 16 · bit (2p + h) of qh[l].
template <> struct QTraits<DType::Q5_K> {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 256, kBytes = 176, kAlign = 16;
  __host__ __device__ static __forceinline__ void load8(const uint8_t* b, int c, float* v) {
    const int e = 8 * c, p = e >> 6, h = (e >> 5) & 1, l0 = e & 31;
    const float d = qh_h2f(qh_ld16(b)), dmin = qh_h2f(qh_ld16(b + 2));
    int sc, mn;
    qh_k_scale_min(b + 4, 2 * p + h, &sc, &mn);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    const uint64_t hb = qh_ld8_a8(b + 16 + l0);
    const uint64_t q = qh_ld8_a8(b + 48 + 32 * p + l0);
    const int sh = 4 * h, hs = 2 * p + h;
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) {
      const int qq = ((qh_byte(q, i) >> sh) & 15) + (((qh_byte(hb, i) >> hs) & 1) << 4);
      v[i] = d1 * static_cast<float>(qq) - m1;
    }
  }
  // Elements 16c .. 16c+15: 128-bit loads of qh and qs.
  static constexpr bool kHasLoad16 = true;
  __host__ __device__ static __forceinline__ void load16(const uint8_t* b, int c, float* v) {
    const int e = 16 * c, p = e >> 6, h = (e >> 5) & 1, l0 = e & 31;
    const float d = qh_h2f(qh_ld16(b)), dmin = qh_h2f(qh_ld16(b + 2));
    int sc, mn;
    qh_k_scale_min(b + 4, 2 * p + h, &sc, &mn);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    const QhBytes16 hb = qh_ld16_a16(b + 16 + l0);
    const QhBytes16 q = qh_ld16_a16(b + 48 + 32 * p + l0);
    const int sh = 4 * h, hs = 2 * p + h;
QH_TRAITS_UNROLL
    for (int i = 0; i < 16; ++i) {
      const int qq = ((q[i] >> sh) & 15) + (((hb[i] >> hs) & 1) << 4);
      v[i] = d1 * static_cast<float>(qq) - m1;
    }
  }
};

// Q6_K {ql[128], qh[64], scales[16] int8, d}: element e = 128n + 32u + l (u ∈ [0,4), l ∈ [0,32)):
// low 4 bits = nibble (u >> 1) of ql[64n + 32(u & 1) + l], high 2 bits = bits 2u.. of qh[32n + l],
// scale scales[8n + l/16 + 2u]; x = (d·sc)·(q − 32).
template <> struct QTraits<DType::Q6_K> {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 256, kBytes = 210, kAlign = 2;
  __host__ __device__ static __forceinline__ void load8(const uint8_t* b, int c, float* v) {
    const int e = 8 * c, n = e >> 7, u = (e >> 5) & 3, l0 = e & 31;
    const float d = qh_h2f(qh_ld16(b + 208));
    const float ds = d * static_cast<float>(static_cast<int8_t>(b[192 + 8 * n + (l0 >> 4) + 2 * u]));
    const uint64_t lo = qh_ld8_a2(b + 64 * n + 32 * (u & 1) + l0);
    const uint64_t hi = qh_ld8_a2(b + 128 + 32 * n + l0);
    const int sl = 4 * (u >> 1), shh = 2 * u;
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) {
      const int qq = ((qh_byte(lo, i) >> sl) & 15) | (((qh_byte(hi, i) >> shh) & 3) << 4);
      v[i] = ds * static_cast<float>(qq - 32);
    }
  }
};

// Elements 8g .. 8g+7 of a weight row of k elements (g-th 8-element chunk). Plain types: elements ≥ k read as 0.
template <DType T>
__host__ __device__ __forceinline__ void qh_row_load8(const uint8_t* row, int64_t g, int64_t k, float* v) {
  using Q = QTraits<T>;
  if constexpr (Q::kPlain) {
    const int64_t e0 = 8 * g;
QH_TRAITS_UNROLL
    for (int i = 0; i < 8; ++i) v[i] = e0 + i < k ? Q::elem(row, e0 + i) : 0.0f;
  } else {
    constexpr int kChunks = Q::kQK / 8;
    Q::load8(row + (g / kChunks) * Q::kBytes, static_cast<int>(g % kChunks), v);
  }
}

template <typename Q, typename = void> struct QhHasLoad16 { static constexpr bool value = false; };
template <typename Q> struct QhHasLoad16<Q, decltype(void(Q::kHasLoad16))> { static constexpr bool value = Q::kHasLoad16; };

// Elements 16g .. 16g+15 of a weight row of k elements. Quantized types: a specialised 128-bit path where the
// layout allows (Q4_K, Q5_K), else two load8. Plain types: `vec` (row 16-byte aligned and 16g + 16 ≤ k) reads
// 128-bit words; otherwise element loads, elements ≥ k read as 0.
template <DType T>
__host__ __device__ __forceinline__ void qh_row_load16(const uint8_t* row, int64_t g, int64_t k, bool vec, float* v) {
  using Q = QTraits<T>;
  if constexpr (Q::kPlain) {
    const int64_t e0 = 16 * g;
    if (vec && e0 + 16 <= k) {
      if constexpr (T == DType::F32) {
        const float4* p = reinterpret_cast<const float4*>(row + e0 * 4);
QH_TRAITS_UNROLL
        for (int j = 0; j < 4; ++j) {
          const float4 f = p[j];
          v[4 * j] = f.x, v[4 * j + 1] = f.y, v[4 * j + 2] = f.z, v[4 * j + 3] = f.w;
        }
      } else {
        const uint8_t* p = row + e0 * 2;
QH_TRAITS_UNROLL
        for (int j = 0; j < 2; ++j) {
          const QhBytes16 u = qh_ld16_a16(p + 16 * j);
QH_TRAITS_UNROLL
          for (int i = 0; i < 8; ++i) {
            const uint16_t h = static_cast<uint16_t>(u[2 * i] | (u[2 * i + 1] << 8));
            v[8 * j + i] = T == DType::F16 ? qh_h2f(h) : qh_bf2f(h);
          }
        }
      }
    } else {
QH_TRAITS_UNROLL
      for (int i = 0; i < 16; ++i) v[i] = e0 + i < k ? Q::elem(row, e0 + i) : 0.0f;
    }
  } else if constexpr (QhHasLoad16<Q>::value) {
    constexpr int kChunks = Q::kQK / 16;
    Q::load16(row + (g / kChunks) * Q::kBytes, static_cast<int>(g % kChunks), v);
  } else {
    qh_row_load8<T>(row, 2 * g, k, v);
    qh_row_load8<T>(row, 2 * g + 1, k, v + 8);
  }
}

}  // namespace qh::cuda
