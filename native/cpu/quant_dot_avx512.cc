// AVX-512 (F, BW, VL, DQ) + FMA + F16C versions of the weight-row primitives of quant_dot.h.
// Compiled for that target through a file-level target pragma (the binary still runs anywhere: these
// functions are reached only when select_row_kernels is asked for Isa::AVX512, which the backend grants
// only when the CPU and OS support it). Only intrinsics headers and quant_blocks.h's static inlines are
// used after the pragma, so no inline function of a shared header gets an AVX-512 body.
//
// Weights are formed exactly as ggml's f32 dequantization (see quant_dot.h) 16 lanes at a time:
//   Q4_0/Q4_1/Q4_K: a 16-entry table T[q] = d·q − m (one FMA per sub-block) indexed by the nibble with
//   vpermps; Q5_0/Q5_1/Q5_K: a 32-entry table (two vpermps / vpermt2ps); Q6_K, Q8_0: (d·sc)·(q − 32) and
//   d·q by conversion and one exact product. Fused dot products keep 4 accumulators for FMA latency.
#include "quant_dot.h"

#if defined(__x86_64__) || defined(_M_X64)

// GCC 12's AVX-512 headers build undefined vectors with a self-initialisation (`__m512 __Y = __Y;`) that
// -Wuninitialized flags once inlined; the warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "../core/quant_blocks.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif

namespace qh::cpu {
namespace {

constexpr int L = 16;  // f32 lanes

// Receives dequantized 16-lane vectors at element offset `off` of the current block.
struct StoreSink {
  float* out;
  template <int S> void put(int off, __m512 w) { _mm512_storeu_ps(out + off, w); }
};
struct DotSink {
  const float* x;
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  template <int S> void put(int off, __m512 w) {
    const __m512 xv = _mm512_loadu_ps(x + off);
    if constexpr (S == 0) a0 = _mm512_fmadd_ps(w, xv, a0);
    if constexpr (S == 1) a1 = _mm512_fmadd_ps(w, xv, a1);
    if constexpr (S == 2) a2 = _mm512_fmadd_ps(w, xv, a2);
    if constexpr (S == 3) a3 = _mm512_fmadd_ps(w, xv, a3);
  }
  float sum() const { return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); }
};

inline __m512 iota16() { return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
inline __m512i bytes16(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline __m512i sbytes16(const int8_t* p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline uint32_t u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
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
  // T[q] = d·(q − 8) (exact); low nibbles -> elements 0..15, high -> 16..31.
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m512 t = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b->d)), _mm512_sub_ps(iota16(), _mm512_set1_ps(8.0f)));
    const __m512i v = bytes16(b->qs);
    s.template put<0>(0, _mm512_permutexvar_ps(v, t));  // vpermps reads index bits [3:0]: the low nibble
    s.template put<1>(16, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t));
  }
};

struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr int QK = 32;
  // T[q] = d·q + m, one rounding (d·q exact).
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m512 t = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(b->d)), iota16(), _mm512_set1_ps(_cvtsh_ss(b->m)));
    const __m512i v = bytes16(b->qs);
    s.template put<0>(0, _mm512_permutexvar_ps(v, t));
    s.template put<1>(16, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t));
  }
};

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr int QK = 32;
  // q = nibble + 16·bit: tables for bit 0 (d·(q − 16)) and bit 1 (d·q), chosen per lane by the bits of H.
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d));
    const __m512 t0 = _mm512_mul_ps(d, _mm512_sub_ps(iota16(), _mm512_set1_ps(16.0f)));
    const __m512 t1 = _mm512_mul_ps(d, iota16());
    const uint32_t H = u32le(b->qh);
    const __m512i v = bytes16(b->qs), vh = _mm512_srli_epi32(v, 4);
    s.template put<0>(0, _mm512_mask_blend_ps(static_cast<__mmask16>(H & 0xffff), _mm512_permutexvar_ps(v, t0),
                                              _mm512_permutexvar_ps(v, t1)));
    s.template put<1>(16, _mm512_mask_blend_ps(static_cast<__mmask16>(H >> 16), _mm512_permutexvar_ps(vh, t0),
                                               _mm512_permutexvar_ps(vh, t1)));
  }
};

struct Q5_1 {
  using Block = BlockQ5_1;
  static constexpr int QK = 32;
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d)), m = _mm512_set1_ps(_cvtsh_ss(b->m));
    const __m512 t0 = _mm512_fmadd_ps(d, iota16(), m);
    const __m512 t1 = _mm512_fmadd_ps(d, _mm512_add_ps(iota16(), _mm512_set1_ps(16.0f)), m);
    const uint32_t H = u32le(b->qh);
    const __m512i v = bytes16(b->qs), vh = _mm512_srli_epi32(v, 4);
    s.template put<0>(0, _mm512_mask_blend_ps(static_cast<__mmask16>(H & 0xffff), _mm512_permutexvar_ps(v, t0),
                                              _mm512_permutexvar_ps(v, t1)));
    s.template put<1>(16, _mm512_mask_blend_ps(static_cast<__mmask16>(H >> 16), _mm512_permutexvar_ps(vh, t0),
                                               _mm512_permutexvar_ps(vh, t1)));
  }
};

struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr int QK = 32;
  static void prep(const Block*, float*) {}
  template <class S> static void run(const Block* b, const float*, S& s) {
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d));
    s.template put<0>(0, _mm512_mul_ps(d, _mm512_cvtepi32_ps(sbytes16(b->qs))));
    s.template put<1>(16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(sbytes16(b->qs + 16))));
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
    const __m512 io = iota16();
    for (int p = 0; p < 4; ++p) {
      // T[q] = d·sc·q − dmin·m for the sub-blocks of the low (2p) and high (2p+1) nibbles
      const __m512 t1 = _mm512_fmadd_ps(_mm512_set1_ps(dsc[2 * p]), io, _mm512_set1_ps(ndm[2 * p]));
      const __m512 t2 = _mm512_fmadd_ps(_mm512_set1_ps(dsc[2 * p + 1]), io, _mm512_set1_ps(ndm[2 * p + 1]));
      const __m512i v0 = bytes16(b->qs + 32 * p), v1 = bytes16(b->qs + 32 * p + 16);
      s.template put<0>(64 * p, _mm512_permutexvar_ps(v0, t1));
      s.template put<1>(64 * p + 16, _mm512_permutexvar_ps(v1, t1));
      s.template put<2>(64 * p + 32, _mm512_permutexvar_ps(_mm512_srli_epi32(v0, 4), t2));
      s.template put<3>(64 * p + 48, _mm512_permutexvar_ps(_mm512_srli_epi32(v1, 4), t2));
    }
  }
};

struct Q5_K {
  using Block = BlockQ5_K;
  static constexpr int QK = 256;
  // idx = nibble | (5th bit << 4) selects among 32 table entries T[q] = d·sc·q − dmin·m (vpermt2ps).
  // pre[0..8) = d·sc_s, pre[8..16) = −dmin·m_s
  static void prep(const Block* b, float* pre) { k_scales(reinterpret_cast<const uint8_t*>(b), pre, pre + 8); }
  // idx = nibble | (5th bit << 4) is assembled 32 elements at a time in bytes (5th bit of element 64p+l is bit
  // 2p of qh[l], of 64p+32+l bit 2p+1; qh is shifted right by 2 per p), widened 16 at a time, and selects one of
  // 32 table entries T[q] = d·sc·q − dmin·m (vpermt2ps reads index bits [4:0]).
  template <class S> static void run(const Block* b, const float* pre, S& s) {
    const float* dsc = pre;
    const float* ndm = pre + 8;
    const __m512 io = iota16(), io16 = _mm512_add_ps(io, _mm512_set1_ps(16.0f));
    const __m256i c15 = _mm256_set1_epi8(15), c16 = _mm256_set1_epi8(16);
    __m256i hq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh));
    for (int p = 0; p < 4; ++p) {
      __m512 dv = _mm512_set1_ps(dsc[2 * p]), mv = _mm512_set1_ps(ndm[2 * p]);
      const __m512 t1a = _mm512_fmadd_ps(dv, io, mv), t1b = _mm512_fmadd_ps(dv, io16, mv);
      dv = _mm512_set1_ps(dsc[2 * p + 1]);
      mv = _mm512_set1_ps(ndm[2 * p + 1]);
      const __m512 t2a = _mm512_fmadd_ps(dv, io, mv), t2b = _mm512_fmadd_ps(dv, io16, mv);
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs + 32 * p));
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, c15), _mm256_and_si256(_mm256_slli_epi16(hq, 4), c16));
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), c15), _mm256_and_si256(_mm256_slli_epi16(hq, 3), c16));
      hq = _mm256_srli_epi16(hq, 2);
      s.template put<0>(64 * p, _mm512_permutex2var_ps(t1a, _mm512_cvtepu8_epi32(_mm256_castsi256_si128(lo)), t1b));
      s.template put<1>(64 * p + 16, _mm512_permutex2var_ps(t1a, _mm512_cvtepu8_epi32(_mm256_extracti128_si256(lo, 1)), t1b));
      s.template put<2>(64 * p + 32, _mm512_permutex2var_ps(t2a, _mm512_cvtepu8_epi32(_mm256_castsi256_si128(hi)), t2b));
      s.template put<3>(64 * p + 48, _mm512_permutex2var_ps(t2a, _mm512_cvtepu8_epi32(_mm256_extracti128_si256(hi, 1)), t2b));
    }
  }
};

struct Q6_K {
  using Block = BlockQ6_K;
  static constexpr int QK = 256;
  // pre[j] = d·sc_j for the 16 sub-blocks (exact: 11 x 8 significant bits)
  static void prep(const Block* b, float* pre) {
    _mm512_store_ps(pre, _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b->d)), _mm512_cvtepi32_ps(sbytes16(b->scales))));
  }
  // w = (d·sc)·(q − 32), both products exact. q − 32 is assembled for 32 elements at a time in bytes:
  //   q0 = (ql[l] & 15) | (qh[l] << 4 & 48), q1 = (ql[l+32] & 15) | (qh[l] << 2 & 48),
  //   q2 = (ql[l] >> 4) | (qh[l] & 48),      q3 = (ql[l+32] >> 4) | (qh[l] >> 2 & 48)   (l ∈ [0,32))
  // then sign-extended 16 at a time; each 16-lane vector is one sub-block (one scale).
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
#define QH_Q6K_PUT(S0, S1, q, off, si)                                                                              \
  s.template put<S0>(o + (off), _mm512_mul_ps(_mm512_set1_ps(sc[si]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))))); \
  s.template put<S1>(o + (off) + 16, _mm512_mul_ps(_mm512_set1_ps(sc[(si) + 1]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)))));
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

// ---- plain types: 16 elements per step, masked tail ---------------------------------------------------
inline __m512 load_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline __m512 load_f16_tail(const uint16_t* p, __mmask16 k) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p)); }
inline __m512 load_bf16(const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
}
inline __m512 load_bf16_tail(const uint16_t* p, __mmask16 k) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p)), 16));
}
inline __mmask16 tail_mask(int64_t r) { return static_cast<__mmask16>((1u << r) - 1u); }

void dq_f16(const void* src, int64_t n, float* y) {
  const uint16_t* p = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + L <= n; i += L) _mm512_storeu_ps(y + i, load_f16(p + i));
  if (i < n) _mm512_mask_storeu_ps(y + i, tail_mask(n - i), load_f16_tail(p + i, tail_mask(n - i)));
}
void dq_bf16(const void* src, int64_t n, float* y) {
  const uint16_t* p = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + L <= n; i += L) _mm512_storeu_ps(y + i, load_bf16(p + i));
  if (i < n) _mm512_mask_storeu_ps(y + i, tail_mask(n - i), load_bf16_tail(p + i, tail_mask(n - i)));
}

// Σ w·x over n elements; 4 accumulators over consecutive 16-lane steps, masked tail into accumulator 0.
template <class LoadFull, class LoadTail>
inline float dot_plain(int64_t n, const float* x, LoadFull lf, LoadTail lt) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    a0 = _mm512_fmadd_ps(lf(i), _mm512_loadu_ps(x + i), a0);
    a1 = _mm512_fmadd_ps(lf(i + L), _mm512_loadu_ps(x + i + L), a1);
    a2 = _mm512_fmadd_ps(lf(i + 2 * L), _mm512_loadu_ps(x + i + 2 * L), a2);
    a3 = _mm512_fmadd_ps(lf(i + 3 * L), _mm512_loadu_ps(x + i + 3 * L), a3);
  }
  for (; i + L <= n; i += L) a0 = _mm512_fmadd_ps(lf(i), _mm512_loadu_ps(x + i), a0);
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    a0 = _mm512_fmadd_ps(lt(i, k), _mm512_maskz_loadu_ps(k, x + i), a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

float dot1_f32(const void* row, const float* x, int64_t k) {
  const float* w = static_cast<const float*>(row);
  return dot_plain(
      k, x, [w](int64_t i) { return _mm512_loadu_ps(w + i); },
      [w](int64_t i, __mmask16 m) { return _mm512_maskz_loadu_ps(m, w + i); });
}
float dot1_f16(const void* row, const float* x, int64_t k) {
  const uint16_t* w = static_cast<const uint16_t*>(row);
  return dot_plain(
      k, x, [w](int64_t i) { return load_f16(w + i); }, [w](int64_t i, __mmask16 m) { return load_f16_tail(w + i, m); });
}
float dot1_bf16(const void* row, const float* x, int64_t k) {
  const uint16_t* w = static_cast<const uint16_t*>(row);
  return dot_plain(
      k, x, [w](int64_t i) { return load_bf16(w + i); }, [w](int64_t i, __mmask16 m) { return load_bf16_tail(w + i, m); });
}
float dot_f32_impl(const float* a, const float* b, int64_t n) { return dot1_f32(a, b, n); }

// ---- f32 panel: MR x NR tiles of (row, token) dot products ---------------------------------------------
// Per (r, t): one accumulator, FMAs over c in steps of 16, a masked tail, then _mm512_reduce_add_ps — the
// same sequence in every tile shape, so results do not depend on the tiling.
constexpr int MR = 4, NR = 4;

template <int mr, int nr> void tile(const PanelArgs& a, int64_t r, int64_t t) {
  const float* w[mr];
  const float* x[nr];
  for (int i = 0; i < mr; ++i) w[i] = a.W + (r + i) * a.ldw;
  for (int j = 0; j < nr; ++j) x[j] = a.xrows[t + j] + a.c0;
  __m512 acc[mr][nr];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) acc[i][j] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + L <= a.n; c += L) {
    __m512 wv[mr];
    for (int i = 0; i < mr; ++i) wv[i] = _mm512_loadu_ps(w[i] + c);
    for (int j = 0; j < nr; ++j) {
      const __m512 xv = _mm512_loadu_ps(x[j] + c);
      for (int i = 0; i < mr; ++i) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
    }
  }
  if (c < a.n) {
    const __mmask16 k = tail_mask(a.n - c);
    __m512 wv[mr];
    for (int i = 0; i < mr; ++i) wv[i] = _mm512_maskz_loadu_ps(k, w[i] + c);
    for (int j = 0; j < nr; ++j) {
      const __m512 xv = _mm512_maskz_loadu_ps(k, x[j] + c);
      for (int i = 0; i < mr; ++i) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
    }
  }
  for (int j = 0; j < nr; ++j) {
    float* y = a.yrows[t + j] + a.r0 + r;
    for (int i = 0; i < mr; ++i) {
      const float s = _mm512_reduce_add_ps(acc[i][j]);
      y[i] = a.accumulate ? y[i] + s : s;
    }
  }
}

using TileFn = void (*)(const PanelArgs&, int64_t, int64_t);
const TileFn kTiles[MR][NR] = {
    {tile<1, 1>, tile<1, 2>, tile<1, 3>, tile<1, 4>},
    {tile<2, 1>, tile<2, 2>, tile<2, 3>, tile<2, 4>},
    {tile<3, 1>, tile<3, 2>, tile<3, 3>, tile<3, 4>},
    {tile<4, 1>, tile<4, 2>, tile<4, 3>, tile<4, 4>},
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

// Tables as data inside the target region (so every instantiation gets the AVX-512 target); the getters
// below are compiled for the baseline target, since they run before anyone knows the CPU has AVX-512.
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
RowKernelTable row_kernels_avx512(DType type) {
  for (const Entry& e : kEntries)
    if (e.type == type) return e.k;
  return {nullptr, nullptr};
}
PanelFn panel_avx512() { return kPanel; }
DotF32Fn dot_f32_avx512() { return kDotF32; }
}  // namespace qh::cpu

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#else  // not x86-64: no AVX-512 kernels

namespace qh::cpu {
RowKernelTable row_kernels_avx512(DType) { return {nullptr, nullptr}; }
PanelFn panel_avx512() { return nullptr; }
DotF32Fn dot_f32_avx512() { return nullptr; }
}  // namespace qh::cpu

#endif
