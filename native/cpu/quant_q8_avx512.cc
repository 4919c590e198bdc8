// AVX-512 (F, BW, VL, DQ) versions of the K-quant dots of quant_q8.h: the AVX2 scheme (quant_q8_avx2.cc) on 64-byte
// registers, so one u8 × s8 multiply (vpmaddubsw) and one scale multiply-add (vpmaddwd) cover two 32-element
// sub-blocks. The two halves of a register hold sub-blocks whose activations are not adjacent in the Q8_K block
// (Q4_K: low nibbles of qs[0..64) are sub-blocks 0 and 2), so activations are gathered as two 32-byte loads; the
// per-lane sub-block scales come from one vpermw of the block's widened scales. Integer sums are exact in i32 (same
// bounds as the AVX2 file); the f32 accumulation is lane-parallel per block, as there.
//
// Q4_K / Q5_K and Q6_K only: these carry almost all of a Q4_K_M model's decode bytes. Q8_0 / Q4_0 stay on AVX2
// (select_q8_dot falls back per type).
#include "quant_q8.h"

#if defined(__x86_64__) || defined(_M_X64)

// GCC 12's AVX-512 headers build undefined vectors with a self-initialisation that -Wuninitialized flags once
// inlined (see quant_dot_avx512.cc).
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

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }  // F16C: exact binary16 → f32

inline __m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m512i loadu512(const void* p) { return _mm512_loadu_si512(p); }
// [a (32 bytes) | b (32 bytes)]
inline __m512i join(const void* a, const void* b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(a)), loadu256(b), 1);
}

// i16 lane i (of 32) = v[idx_i]: the per-lane scale vector of two sub-blocks, 16 lanes each.
inline __m512i lanes16(__m512i v, int lo, int hi) {
  const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(lo)), _mm256_set1_epi16(static_cast<int16_t>(hi)), 1);
  return _mm512_permutexvar_epi16(idx, v);
}

// Q4_K / Q5_K. Register r (r = 0, 1) holds qs[64r..64r+64): its low nibbles are sub-blocks 4r (bytes 0..31) and
// 4r+2 (bytes 32..63), its high nibbles sub-blocks 4r+1 and 4r+3; sub-block s reads activations x.qs[32s..32s+32).
template <bool kQ5>
float dot_qk45(const void* wrow, const void* xq, int64_t k) {
  const BlockQ8K* x = static_cast<const BlockQ8K*>(xq);
  const __m512i m4 = _mm512_set1_epi8(15);
  const __m512i one = _mm512_set1_epi8(1);
  // Q5_K: bit s of qh[l] is the fifth bit of sub-block s; lanes of the upper half shift 2 further than the lower.
  const __m512i sh02 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK8K; ++b) {
    const uint8_t* scales;
    const uint8_t* qs;
    const uint8_t* qh = nullptr;
    float d, dmin;
    if constexpr (kQ5) {
      const BlockQ5_K& w = static_cast<const BlockQ5_K*>(wrow)[b];
      scales = w.scales; qs = w.qs; qh = w.qh; d = h2f(w.d); dmin = h2f(w.dmin);
    } else {
      const BlockQ4_K& w = static_cast<const BlockQ4_K*>(wrow)[b];
      scales = w.scales; qs = w.qs; d = h2f(w.d); dmin = h2f(w.dmin);
    }
    const BlockQ8K& xb = x[b];
    uint8_t sc[8], mn[8];
    k_scales_mins(scales, sc, mn);
    // Mins: Σ_s m_s·(bsums[2s] + bsums[2s+1]) as 8 i32 lanes, accumulated in f32 lanes (reduced once at the end).
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
    const __m256i mdup = _mm256_setr_m128i(_mm_unpacklo_epi16(m16, m16), _mm_unpackhi_epi16(m16, m16));
    const __m256i mp = _mm256_madd_epi16(loadu256(xb.bsums), mdup);
    accm = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * dmin), _mm256_cvtepi32_ps(mp), accm);

    const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))));
    const __m512i hb = kQ5 ? _mm512_broadcast_i64x4(loadu256(qh)) : _mm512_setzero_si512();
    __m512i isum = _mm512_setzero_si512();
    for (int r = 0; r < 2; ++r) {
      const __m512i q = loadu512(qs + 64 * r);
      __m512i lo = _mm512_and_si512(q, m4);
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
      if constexpr (kQ5) {
        // lo halves are sub-blocks 4r, 4r+2 (bits 4r, 4r+2 of qh); hi halves 4r+1, 4r+3.
        const __m512i hlo = _mm512_srlv_epi16(_mm512_srli_epi16(hb, 4 * r), sh02);
        const __m512i hhi = _mm512_srlv_epi16(_mm512_srli_epi16(hb, 4 * r + 1), sh02);
        lo = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(hlo, one), 4));
        hi = _mm512_or_si512(hi, _mm512_slli_epi16(_mm512_and_si512(hhi, one), 4));
      }
      const int s0 = 4 * r;
      const __m512i plo = _mm512_maddubs_epi16(lo, join(xb.qs + 32 * s0, xb.qs + 32 * (s0 + 2)));
      const __m512i phi = _mm512_maddubs_epi16(hi, join(xb.qs + 32 * (s0 + 1), xb.qs + 32 * (s0 + 3)));
      isum = _mm512_add_epi32(isum, _mm512_madd_epi16(plo, lanes16(sc16, s0, s0 + 2)));
      isum = _mm512_add_epi32(isum, _mm512_madd_epi16(phi, lanes16(sc16, s0 + 1, s0 + 3)));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(xb.d * d), _mm512_cvtepi32_ps(isum), acc);
  }
  const __m128 m4s = _mm_add_ps(_mm256_castps256_ps128(accm), _mm256_extractf128_ps(accm, 1));
  __m128 ms = _mm_add_ps(m4s, _mm_movehl_ps(m4s, m4s));
  ms = _mm_add_ss(ms, _mm_movehdup_ps(ms));
  return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(ms);
}

// Q6_K. Half n (128 elements) has ql[64n..64n+64) and qh[32n..32n+32). Register A = low nibbles of the 64 ql bytes
// with qh bits 0-1 (bytes 0..31) / 2-3 (bytes 32..63) on top: elements 128n + [0, 64), contiguous activations.
// Register B = high nibbles with qh bits 4-5 / 6-7: elements 128n + [64, 128). Each 16 bytes has one scale:
// element e uses scales[e / 16]. Σ (q − 32)·q8 = Σ q·q8 − 32·Σ_i sc_i·bsums_i (q ∈ [0, 63] unsigned for maddubs).
float dot_q6k(const void* wrow, const void* xq, int64_t k) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wrow);
  const BlockQ8K* x = static_cast<const BlockQ8K*>(xq);
  const __m512i m4 = _mm512_set1_epi8(15);
  const __m512i m2 = _mm512_set1_epi8(3);
  const __m512i shA = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);  // qh bits 0-1 | 2-3
  const __m512i shB = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);   // qh bits 4-5 | 6-7
  // i16 lane l of a 64-byte register covers bytes 2l, 2l+1 → scale index (2l)/16 = l/8 within the register's 4.
  alignas(64) static const int16_t kIdx[4][32] = {
      {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
      {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
      {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
      {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
  };
  const __m512i idx0 = _mm512_load_si512(kIdx[0]), idx1 = _mm512_load_si512(kIdx[1]);
  const __m512i idx2 = _mm512_load_si512(kIdx[2]), idx3 = _mm512_load_si512(kIdx[3]);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < k / kQK8K; ++b) {
    const BlockQ6_K& wb = w[b];
    const BlockQ8K& xb = x[b];
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales)));
    const __m512i sc = _mm512_castsi256_si512(s16);
    // 32·Σ_i sc_i·bsums_i as 8 i32 lanes, subtracted from the lower half of the block's integer sum.
    const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(s16, loadu256(xb.bsums)), 5);
    __m512i isum = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(corr));
    for (int n = 0; n < 2; ++n) {
      const __m512i l = loadu512(wb.ql + 64 * n);
      const __m512i h = _mm512_broadcast_i64x4(loadu256(wb.qh + 32 * n));
      const __m512i qa = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(h, shA), m2), 4));
      const __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                         _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(h, shB), m2), 4));
      const __m512i pa = _mm512_maddubs_epi16(qa, loadu512(xb.qs + 128 * n));
      const __m512i pb = _mm512_maddubs_epi16(qb, loadu512(xb.qs + 128 * n + 64));
      isum = _mm512_add_epi32(isum, _mm512_madd_epi16(pa, _mm512_permutexvar_epi16(n == 0 ? idx0 : idx2, sc)));
      isum = _mm512_add_epi32(isum, _mm512_madd_epi16(pb, _mm512_permutexvar_epi16(n == 0 ? idx1 : idx3, sc)));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(xb.d * h2f(wb.d)), _mm512_cvtepi32_ps(isum), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

const Q8DotEntry kEntries[] = {{DType::Q4_K, dot_qk45<false>}, {DType::Q5_K, dot_qk45<true>}, {DType::Q6_K, dot_q6k}};

}  // namespace
}  // namespace qh::cpu

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace qh::cpu {
Q8DotFn q8_dot_avx512(DType w) {
  return find_q8_dot(kEntries, w);
}
}  // namespace qh::cpu

#else  // not x86-64

namespace qh::cpu {
Q8DotFn q8_dot_avx512(DType) { return nullptr; }
}  // namespace qh::cpu

#endif
