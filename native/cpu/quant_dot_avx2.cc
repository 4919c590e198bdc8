// AVX2 + FMA + F16C versions of the weight-row primitives of quant_dot.h (8 f32 lanes). Compiled for that
// target through a file-level target pragma; reached only when select_row_kernels is asked for Isa::AVX2 or
// higher, which the backend grants only when the CPU and OS support it. Only intrinsics headers and
// quant_blocks.h's static inlines are used inside the target region.
//
// Weights are formed exactly as ggml's f32 dequantization: q is converted to f32 and w = d·q (exact) or
// w = fma(d·sc, q, −dmin·m) (d·sc·q exact, so the one rounding equals ggml's). Fused dots keep 4 accumulators.
#include "quant_dot.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstring>

#include "../core/quant_blocks.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace qh::cpu {
namespace {

constexpr int L = 8;  // f32 lanes

struct StoreSink {
  float* out;
  template <int S> void put(int off, __m256 w) { _mm256_storeu_ps(out + off, w); }
};
struct DotSink {
  const float* x;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  template <int S> void put(int off, __m256 w) {
    const __m256 xv = _mm256_loadu_ps(x + off);
    if constexpr (S == 0) a0 = _mm256_fmadd_ps(w, xv, a0);
    if constexpr (S == 1) a1 = _mm256_fmadd_ps(w, xv, a1);
    if constexpr (S == 2) a2 = _mm256_fmadd_ps(w, xv, a2);
    if constexpr (S == 3) a3 = _mm256_fmadd_ps(w, xv, a3);
  }
  float sum() const;
};

// Horizontal sum of 8 lanes, fixed order: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
float DotSink::sum() const { return hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))); }

inline __m256i bytes8(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
inline __m256i sbytes8(const int8_t* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
inline __m256 cvt(__m256i v) { return _mm256_cvtepi32_ps(v); }
inline uint32_t u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
// Bits [base, base+8) of H as 0/16 in 8 lanes.
inline __m256i hbits16(uint32_t H, int base) {
  const __m256i sh = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(base));
  return _mm256_slli_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(H)), sh), _mm256_set1_epi32(1)), 4);
}

// d·sc_s and −dmin·m_s of the 8 sub-blocks of a Q4_K / Q5_K block (header = d, dmin, scales[12]), unpacked
// 4 at a time: sc_0..3 = bytes 0-3 & 63, m_0..3 = bytes 4-7 & 63; sc_4..7 = low nibbles of bytes 8-11 | top
// 2 bits of bytes 0-3 << 4; m_4..7 = high nibbles of bytes 8-11 | top 2 bits of bytes 4-7 << 4 (spec §4.4).
// d·sc and dmin·m are exact in f32 (11 x 6 significant bits).
inline void k_scales(const uint8_t* hdr, float* dsc, float* ndm) {
  uint32_t u[3], dd;
  std::memcpy(&dd, hdr, 4);
  std::memcpy(u, hdr + 4, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu, m_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  const __m128 h = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dd)));  // lane 0 = d, lane 1 = dmin
  const __m256 d = _mm256_broadcastss_ps(h);
  const __m256 ndmin = _mm256_broadcastss_ps(_mm_sub_ps(_mm_setzero_ps(), _mm_movehdup_ps(h)));
  const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, static_cast<int>(sc_hi), static_cast<int>(sc_lo))));
  const __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, static_cast<int>(m_hi), static_cast<int>(m_lo))));
  _mm256_storeu_ps(dsc, _mm256_mul_ps(d, sc));
  _mm256_storeu_ps(ndm, _mm256_mul_ps(ndmin, mn));
}

// ---- 32-element formats ------------------------------------------------------------------------------
struct Q4_0 {
  using Block = BlockQ4_0;
  static constexpr int QK = 32;
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d));
    const __m256i c15 = _mm256_set1_epi32(15), c8 = _mm256_set1_epi32(8);
    const __m256i v0 = bytes8(b->qs), v1 = bytes8(b->qs + 8);
    s.template put<0>(0, _mm256_mul_ps(d, cvt(_mm256_sub_epi32(_mm256_and_si256(v0, c15), c8))));
    s.template put<1>(8, _mm256_mul_ps(d, cvt(_mm256_sub_epi32(_mm256_and_si256(v1, c15), c8))));
    s.template put<2>(16, _mm256_mul_ps(d, cvt(_mm256_sub_epi32(_mm256_srli_epi32(v0, 4), c8))));
    s.template put<3>(24, _mm256_mul_ps(d, cvt(_mm256_sub_epi32(_mm256_srli_epi32(v1, 4), c8))));
  }
};

struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr int QK = 32;
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d)), m = _mm256_set1_ps(_cvtsh_ss(b->m));
    const __m256i c15 = _mm256_set1_epi32(15);
    const __m256i v0 = bytes8(b->qs), v1 = bytes8(b->qs + 8);
    s.template put<0>(0, _mm256_fmadd_ps(d, cvt(_mm256_and_si256(v0, c15)), m));
    s.template put<1>(8, _mm256_fmadd_ps(d, cvt(_mm256_and_si256(v1, c15)), m));
    s.template put<2>(16, _mm256_fmadd_ps(d, cvt(_mm256_srli_epi32(v0, 4)), m));
    s.template put<3>(24, _mm256_fmadd_ps(d, cvt(_mm256_srli_epi32(v1, 4)), m));
  }
};

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr int QK = 32;
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d));
    const __m256i c15 = _mm256_set1_epi32(15), c16 = _mm256_set1_epi32(16);
    const uint32_t H = u32le(b->qh);
    const __m256i v0 = bytes8(b->qs), v1 = bytes8(b->qs + 8);
    auto q = [&](__m256i nib, int base) { return _mm256_sub_epi32(_mm256_or_si256(nib, hbits16(H, base)), c16); };
    s.template put<0>(0, _mm256_mul_ps(d, cvt(q(_mm256_and_si256(v0, c15), 0))));
    s.template put<1>(8, _mm256_mul_ps(d, cvt(q(_mm256_and_si256(v1, c15), 8))));
    s.template put<2>(16, _mm256_mul_ps(d, cvt(q(_mm256_srli_epi32(v0, 4), 16))));
    s.template put<3>(24, _mm256_mul_ps(d, cvt(q(_mm256_srli_epi32(v1, 4), 24))));
  }
};

struct Q5_1 {
  using Block = BlockQ5_1;
  static constexpr int QK = 32;
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d)), m = _mm256_set1_ps(_cvtsh_ss(b->m));
    const __m256i c15 = _mm256_set1_epi32(15);
    const uint32_t H = u32le(b->qh);
    const __m256i v0 = bytes8(b->qs), v1 = bytes8(b->qs + 8);
    s.template put<0>(0, _mm256_fmadd_ps(d, cvt(_mm256_or_si256(_mm256_and_si256(v0, c15), hbits16(H, 0))), m));
    s.template put<1>(8, _mm256_fmadd_ps(d, cvt(_mm256_or_si256(_mm256_and_si256(v1, c15), hbits16(H, 8))), m));
    s.template put<2>(16, _mm256_fmadd_ps(d, cvt(_mm256_or_si256(_mm256_srli_epi32(v0, 4), hbits16(H, 16))), m));
    s.template put<3>(24, _mm256_fmadd_ps(d, cvt(_mm256_or_si256(_mm256_srli_epi32(v1, 4), hbits16(H, 24))), m));
  }
};

struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr int QK = 32;
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d));
    s.template put<0>(0, _mm256_mul_ps(d, cvt(sbytes8(b->qs))));
    s.template put<1>(8, _mm256_mul_ps(d, cvt(sbytes8(b->qs + 8))));
    s.template put<2>(16, _mm256_mul_ps(d, cvt(sbytes8(b->qs + 16))));
    s.template put<3>(24, _mm256_mul_ps(d, cvt(sbytes8(b->qs + 24))));
  }
};

// ---- K-quants ----------------------------------------------------------------------------------------
struct Q4_K {
  using Block = BlockQ4_K;
  static constexpr int QK = 256;
  // pre[0..8) = d·sc_s, pre[8..16) = −dmin·m_s
  static void prep(const Block* b, float* pre) { k_scales(reinterpret_cast<const uint8_t*>(b), pre, pre + 8); }
  template <class S> static void run(const Block* b, const float* pre, S& s) {
    const float* dsc = pre;
    const float* ndm = pre + 8;
    const __m256i c15 = _mm256_set1_epi32(15);
    for (int p = 0; p < 4; ++p) {
      const __m256 d1 = _mm256_set1_ps(dsc[2 * p]), m1 = _mm256_set1_ps(ndm[2 * p]);
      const __m256 d2 = _mm256_set1_ps(dsc[2 * p + 1]), m2 = _mm256_set1_ps(ndm[2 * p + 1]);
      const uint8_t* qs = b->qs + 32 * p;
      const int o = 64 * p;
      __m256i v = bytes8(qs);
      s.template put<0>(o, _mm256_fmadd_ps(cvt(_mm256_and_si256(v, c15)), d1, m1));
      s.template put<1>(o + 32, _mm256_fmadd_ps(cvt(_mm256_srli_epi32(v, 4)), d2, m2));
      v = bytes8(qs + 8);
      s.template put<2>(o + 8, _mm256_fmadd_ps(cvt(_mm256_and_si256(v, c15)), d1, m1));
      s.template put<3>(o + 40, _mm256_fmadd_ps(cvt(_mm256_srli_epi32(v, 4)), d2, m2));
      v = bytes8(qs + 16);
      s.template put<0>(o + 16, _mm256_fmadd_ps(cvt(_mm256_and_si256(v, c15)), d1, m1));
      s.template put<1>(o + 48, _mm256_fmadd_ps(cvt(_mm256_srli_epi32(v, 4)), d2, m2));
      v = bytes8(qs + 24);
      s.template put<2>(o + 24, _mm256_fmadd_ps(cvt(_mm256_and_si256(v, c15)), d1, m1));
      s.template put<3>(o + 56, _mm256_fmadd_ps(cvt(_mm256_srli_epi32(v, 4)), d2, m2));
    }
  }
};

struct Q5_K {
  using Block = BlockQ5_K;
  static constexpr int QK = 256;
  // pre[0..8) = d·sc_s, pre[8..16) = −dmin·m_s
  static void prep(const Block* b, float* pre) { k_scales(reinterpret_cast<const uint8_t*>(b), pre, pre + 8); }
  template <class S> static void run(const Block* b, const float* pre, S& s) {
    const float* dsc = pre;
    const float* ndm = pre + 8;
    const __m256i c15 = _mm256_set1_epi32(15), c16 = _mm256_set1_epi32(16);
    __m256i h[4] = {bytes8(b->qh), bytes8(b->qh + 8), bytes8(b->qh + 16), bytes8(b->qh + 24)};  // >> 2 per p
    for (int p = 0; p < 4; ++p) {
      const __m256 d1 = _mm256_set1_ps(dsc[2 * p]), m1 = _mm256_set1_ps(ndm[2 * p]);
      const __m256 d2 = _mm256_set1_ps(dsc[2 * p + 1]), m2 = _mm256_set1_ps(ndm[2 * p + 1]);
      const uint8_t* qs = b->qs + 32 * p;
      const int o = 64 * p;
      // q_lo = (v & 15) | ((h << 4) & 16), q_hi = (v >> 4) | ((h << 3) & 16)
#define QH_Q5K_STEP(j, s0, s1)                                                                                  \
  {                                                                                                             \
    const __m256i v = bytes8(qs + 8 * (j));                                                                     \
    const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, c15), _mm256_and_si256(_mm256_slli_epi32(h[j], 4), c16)); \
    const __m256i hi = _mm256_or_si256(_mm256_srli_epi32(v, 4), _mm256_and_si256(_mm256_slli_epi32(h[j], 3), c16)); \
    s.template put<s0>(o + 8 * (j), _mm256_fmadd_ps(cvt(lo), d1, m1));                                          \
    s.template put<s1>(o + 32 + 8 * (j), _mm256_fmadd_ps(cvt(hi), d2, m2));                                     \
    h[j] = _mm256_srli_epi32(h[j], 2);                                                                          \
  }
      QH_Q5K_STEP(0, 0, 1)
      QH_Q5K_STEP(1, 2, 3)
      QH_Q5K_STEP(2, 0, 1)
      QH_Q5K_STEP(3, 2, 3)
#undef QH_Q5K_STEP
    }
  }
};

struct Q6_K {
  using Block = BlockQ6_K;
  static constexpr int QK = 256;
  // w = (d·sc)·(q − 32), both products exact.
  // pre[j] = d·sc_j for the 16 sub-blocks (exact: 11 x 8 significant bits)
  static void prep(const Block* b, float* pre) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d));
    _mm256_store_ps(pre, _mm256_mul_ps(d, cvt(sbytes8(b->scales))));
    _mm256_store_ps(pre + 8, _mm256_mul_ps(d, cvt(sbytes8(b->scales + 8))));
  }
  // w = (d·sc)·(q − 32), both products exact. q − 32 is assembled for 32 elements at a time in bytes:
  //   q0 = (ql[l] & 15) | (qh[l] << 4 & 48), q1 = (ql[l+32] & 15) | (qh[l] << 2 & 48),
  //   q2 = (ql[l] >> 4) | (qh[l] & 48),      q3 = (ql[l+32] >> 4) | (qh[l] >> 2 & 48)   (l ∈ [0,32))
  // then sign-extended 8 at a time; two 8-lane vectors per sub-block (one scale).
  template <class S> static void run(const Block* b, const float* dsc, S& s) {
    const __m256i c15 = _mm256_set1_epi8(15), c48 = _mm256_set1_epi8(48), c32 = _mm256_set1_epi8(32);
    for (int n = 0; n < 2; ++n) {
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->ql + 64 * n));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->ql + 64 * n + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh + 32 * n));
      const __m256i q0 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l0, c15), _mm256_and_si256(_mm256_slli_epi16(h, 4), c48)), c32);
      const __m256i q1 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l1, c15), _mm256_and_si256(_mm256_slli_epi16(h, 2), c48)), c32);
      const __m256i q2 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), c15), _mm256_and_si256(h, c48)), c32);
      const __m256i q3 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), c15), _mm256_and_si256(_mm256_srli_epi16(h, 2), c48)), c32);
      const float* sc = dsc + 8 * n;
      const int o = 128 * n;
#define QH_Q6K_PUT(S0, S1, q, off, si)                                                                  \
  {                                                                                                     \
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);                  \
    const __m256 d0 = _mm256_set1_ps(sc[si]), d1 = _mm256_set1_ps(sc[(si) + 1]);                         \
    s.template put<S0>(o + (off), _mm256_mul_ps(d0, cvt(_mm256_cvtepi8_epi32(lo))));                     \
    s.template put<S1>(o + (off) + 8, _mm256_mul_ps(d0, cvt(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))))); \
    s.template put<S0>(o + (off) + 16, _mm256_mul_ps(d1, cvt(_mm256_cvtepi8_epi32(hi))));                \
    s.template put<S1>(o + (off) + 24, _mm256_mul_ps(d1, cvt(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))))); \
  }
      QH_Q6K_PUT(0, 1, q0, 0, 0)
      QH_Q6K_PUT(2, 3, q1, 32, 2)
      QH_Q6K_PUT(0, 1, q2, 64, 4)
      QH_Q6K_PUT(2, 3, q3, 96, 6)
#undef QH_Q6K_PUT
    }
  }
};

// Per-block scale preparation runs one block ahead of the block it is for: its results go through memory
// (broadcast loads), and reading them right after the vector store stalls on store-to-load forwarding
// (measured: +20 % Q4_K matvec throughput from the one-block lead).
template <class T> void dequant_blocks(const void* src, int64_t nb, float* y) {
  const typename T::Block* b = static_cast<const typename T::Block*>(src);
  alignas(64) float pre[2][16];
  if (nb > 0) T::prep(b, pre[0]);
  for (int64_t i = 0; i < nb; ++i) {
    if (i + 1 < nb) T::prep(b + i + 1, pre[(i + 1) & 1]);
    StoreSink s{y + i * T::QK};
    T::run(b + i, pre[i & 1], s);
  }
}

template <class T> float dot1_blocks(const void* row, const float* x, int64_t k) {
  const typename T::Block* b = static_cast<const typename T::Block*>(row);
  DotSink s{x};
  const int64_t nb = k / T::QK;
  alignas(64) float pre[2][16];
  if (nb > 0) T::prep(b, pre[0]);
  for (int64_t i = 0; i < nb; ++i) {
    if (i + 1 < nb) T::prep(b + i + 1, pre[(i + 1) & 1]);
    s.x = x + i * T::QK;
    T::run(b + i, pre[i & 1], s);
  }
  return s.sum();
}

// ---- plain types: 8 elements per step, masked tail -----------------------------------------------------
inline __m256i tail_mask(int64_t r) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(r)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline __m256 load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline __m256 load_bf16(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}
// Tails of 16-bit types go through a zero-padded copy (no 16-bit masked load in AVX2).
inline __m128i load16_tail(const uint16_t* p, int64_t r) {
  alignas(16) uint16_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < r; ++i) buf[i] = p[i];
  return _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
}

void dq_f16(const void* src, int64_t n, float* y) {
  const uint16_t* p = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + L <= n; i += L) _mm256_storeu_ps(y + i, load_f16(p + i));
  if (i < n) _mm256_maskstore_ps(y + i, tail_mask(n - i), _mm256_cvtph_ps(load16_tail(p + i, n - i)));
}
void dq_bf16(const void* src, int64_t n, float* y) {
  const uint16_t* p = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + L <= n; i += L) _mm256_storeu_ps(y + i, load_bf16(p + i));
  if (i < n)
    _mm256_maskstore_ps(y + i, tail_mask(n - i),
                        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load16_tail(p + i, n - i)), 16)));
}

template <class LoadFull, class LoadTail>
inline float dot_plain(int64_t n, const float* x, LoadFull lf, LoadTail lt) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    a0 = _mm256_fmadd_ps(lf(i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(lf(i + L), _mm256_loadu_ps(x + i + L), a1);
    a2 = _mm256_fmadd_ps(lf(i + 2 * L), _mm256_loadu_ps(x + i + 2 * L), a2);
    a3 = _mm256_fmadd_ps(lf(i + 3 * L), _mm256_loadu_ps(x + i + 3 * L), a3);
  }
  for (; i + L <= n; i += L) a0 = _mm256_fmadd_ps(lf(i), _mm256_loadu_ps(x + i), a0);
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    a0 = _mm256_fmadd_ps(lt(i, n - i), _mm256_maskload_ps(x + i, k), a0);
  }
  return hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

float dot1_f32(const void* row, const float* x, int64_t k) {
  const float* w = static_cast<const float*>(row);
  return dot_plain(
      k, x, [w](int64_t i) { return _mm256_loadu_ps(w + i); },
      [w](int64_t i, int64_t r) { return _mm256_maskload_ps(w + i, tail_mask(r)); });
}
float dot1_f16(const void* row, const float* x, int64_t k) {
  const uint16_t* w = static_cast<const uint16_t*>(row);
  return dot_plain(
      k, x, [w](int64_t i) { return load_f16(w + i); },
      [w](int64_t i, int64_t r) { return _mm256_cvtph_ps(load16_tail(w + i, r)); });
}
float dot1_bf16(const void* row, const float* x, int64_t k) {
  const uint16_t* w = static_cast<const uint16_t*>(row);
  return dot_plain(
      k, x, [w](int64_t i) { return load_bf16(w + i); },
      [w](int64_t i, int64_t r) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load16_tail(w + i, r)), 16));
      });
}
float dot_f32_impl(const float* a, const float* b, int64_t n) { return dot1_f32(a, b, n); }

// ---- f32 panel: 3 x 4 tiles (12 accumulators + 3 weight vectors + 1 x vector = 16 ymm) ----------------
// Per (r, t): one accumulator, FMAs over c in steps of 8, a masked tail, then hsum8: the same sequence in
// every tile shape, so results do not depend on the tiling.
constexpr int MR = 3, NR = 4;

template <int mr, int nr> void tile(const PanelArgs& a, int64_t r, int64_t t) {
  const float* w[mr];
  const float* x[nr];
  for (int i = 0; i < mr; ++i) w[i] = a.W + (r + i) * a.ldw;
  for (int j = 0; j < nr; ++j) x[j] = a.xrows[t + j] + a.c0;
  __m256 acc[mr][nr];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) acc[i][j] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + L <= a.n; c += L) {
    __m256 wv[mr];
    for (int i = 0; i < mr; ++i) wv[i] = _mm256_loadu_ps(w[i] + c);
    for (int j = 0; j < nr; ++j) {
      const __m256 xv = _mm256_loadu_ps(x[j] + c);
      for (int i = 0; i < mr; ++i) acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
    }
  }
  if (c < a.n) {
    const __m256i k = tail_mask(a.n - c);
    __m256 wv[mr];
    for (int i = 0; i < mr; ++i) wv[i] = _mm256_maskload_ps(w[i] + c, k);
    for (int j = 0; j < nr; ++j) {
      const __m256 xv = _mm256_maskload_ps(x[j] + c, k);
      for (int i = 0; i < mr; ++i) acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
    }
  }
  for (int j = 0; j < nr; ++j) {
    float* y = a.yrows[t + j] + a.r0 + r;
    for (int i = 0; i < mr; ++i) {
      const float s = hsum8(acc[i][j]);
      y[i] = a.accumulate ? y[i] + s : s;
    }
  }
}

using TileFn = void (*)(const PanelArgs&, int64_t, int64_t);
const TileFn kTiles[MR][NR] = {
    {tile<1, 1>, tile<1, 2>, tile<1, 3>, tile<1, 4>},
    {tile<2, 1>, tile<2, 2>, tile<2, 3>, tile<2, 4>},
    {tile<3, 1>, tile<3, 2>, tile<3, 3>, tile<3, 4>},
};

void panel_impl(const PanelArgs& a) {
  for (int64_t t = 0; t < a.ntok; t += NR) {
    const int64_t nt = a.ntok - t < NR ? a.ntok - t : NR;
    for (int64_t r = 0; r < a.rows; r += MR) {
      const int64_t nr = a.rows - r < MR ? a.rows - r : MR;
      kTiles[nr - 1][nt - 1](a, r, t);
    }
  }
}

// Tables as data inside the target region; the getters below are compiled for the baseline target.
struct Entry {
  DType type;
  RowKernelTable k;
};
const Entry kEntries[] = {
    {DType::F32, {nullptr, dot1_f32}},
    {DType::F16, {dq_f16, dot1_f16}},
    {DType::BF16, {dq_bf16, dot1_bf16}},
    {DType::Q4_0, {dequant_blocks<Q4_0>, dot1_blocks<Q4_0>}},
    {DType::Q4_1, {dequant_blocks<Q4_1>, dot1_blocks<Q4_1>}},
    {DType::Q5_0, {dequant_blocks<Q5_0>, dot1_blocks<Q5_0>}},
    {DType::Q5_1, {dequant_blocks<Q5_1>, dot1_blocks<Q5_1>}},
    {DType::Q8_0, {dequant_blocks<Q8_0>, dot1_blocks<Q8_0>}},
    {DType::Q4_K, {dequant_blocks<Q4_K>, dot1_blocks<Q4_K>}},
    {DType::Q5_K, {dequant_blocks<Q5_K>, dot1_blocks<Q5_K>}},
    {DType::Q6_K, {dequant_blocks<Q6_K>, dot1_blocks<Q6_K>}},
};
const PanelFn kPanel = panel_impl;
const DotF32Fn kDotF32 = dot_f32_impl;

}  // namespace
}  // namespace qh::cpu

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace qh::cpu {
RowKernelTable row_kernels_avx2(DType type) {
  for (const Entry& e : kEntries)
    if (e.type == type) return e.k;
  return {nullptr, nullptr};
}
PanelFn panel_avx2() { return kPanel; }
DotF32Fn dot_f32_avx2() { return kDotF32; }
}  // namespace qh::cpu

#else  // not x86-64: no AVX2 kernels

namespace qh::cpu {
RowKernelTable row_kernels_avx2(DType) { return {nullptr, nullptr}; }
PanelFn panel_avx2() { return nullptr; }
DotF32Fn dot_f32_avx2() { return nullptr; }
}  // namespace qh::cpu

#endif
