// AVX2 versions of the quantized-activation dots of quant_q8.h. Integer products by _mm256_maddubs_epi16
// (u8 × s8 → pairwise-summed i16; operands chosen so no pair sum saturates: ≤ 2·63·127 for K-quants,
// ≤ 2·128·127 for the sign trick of Q8_0/Q4_0), then _mm256_madd_epi16 with the sub-block scales → i32
// lanes (exact), converted to f32 once per block and accumulated with one FMA per block.
#include "quant_q8.h"

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

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }  // F16C: exact binary16 → f32

// Q4_K / Q5_K: per group p the 32 bytes qs[32p..] give sub-block 2p (low nibbles) and 2p+1 (high nibbles).
template <bool kQ5>
float dot_qk45(const void* wrow, const void* xq, int64_t k) {
  const BlockQ8K* x = static_cast<const BlockQ8K*>(xq);
  const __m256i m4 = _mm256_set1_epi8(15);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
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
    uint8_t sc[8], mn[8];
    k_scales_mins(scales, sc, mn);
    // Σ_s m_s·(bsums[2s] + bsums[2s+1]): mins widened and duplicated per bsums pair, one madd, horizontal i32 sum.
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
    const __m256i mdup = _mm256_setr_m128i(_mm_unpacklo_epi16(m16, m16), _mm_unpackhi_epi16(m16, m16));
    const __m256i mp = _mm256_madd_epi16(loadu(x[b].bsums), mdup);
    __m128i ms = _mm_add_epi32(_mm256_castsi256_si128(mp), _mm256_extracti128_si256(mp, 1));
    ms = _mm_add_epi32(ms, _mm_shuffle_epi32(ms, 0x4e));
    ms = _mm_add_epi32(ms, _mm_shuffle_epi32(ms, 0xb1));
    const int32_t msum = _mm_cvtsi128_si32(ms);
    const __m256i hb = kQ5 ? loadu(qh) : _mm256_setzero_si256();
    __m256i isum = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      const __m256i q = loadu(qs + 32 * p);
      __m256i lo = _mm256_and_si256(q, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if constexpr (kQ5) {  // 5th bit of sub-block s = bit s of qh[l]
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p + 1), one), 4));
      }
      const __m256i plo = _mm256_maddubs_epi16(lo, loadu(x[b].qs + 64 * p));
      const __m256i phi = _mm256_maddubs_epi16(hi, loadu(x[b].qs + 64 * p + 32));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(plo, _mm256_set1_epi16(static_cast<int16_t>(sc[2 * p]))));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(phi, _mm256_set1_epi16(static_cast<int16_t>(sc[2 * p + 1]))));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(x[b].d * d), _mm256_cvtepi32_ps(isum), acc);
    mins += x[b].d * dmin * static_cast<float>(msum);
  }
  return hsum(acc) - mins;
}

// Q6_K: half n, 32-byte group j gives elements 128n+32j+l; bytes l < 16 use scales[8n+2j], l ≥ 16 scales[8n+2j+1].
// Σ (q−32)·q8 = Σ q·q8 − 32·bsums (q ∈ [0,63] as the unsigned maddubs operand).
float dot_q6k(const void* wrow, const void* xq, int64_t k) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wrow);
  const BlockQ8K* x = static_cast<const BlockQ8K*>(xq);
  const __m256i m4 = _mm256_set1_epi8(15);
  const __m256i m2 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK8K; ++b) {
    int32_t corr = 0;
    for (int i = 0; i < 16; ++i) corr += w[b].scales[i] * x[b].bsums[i];
    __m256i isum = _mm256_setzero_si256();
    for (int n = 0; n < 2; ++n) {
      const __m256i l0 = loadu(w[b].ql + 64 * n);
      const __m256i l1 = loadu(w[b].ql + 64 * n + 32);
      const __m256i h = loadu(w[b].qh + 32 * n);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4)),
      };
      const int8_t* sc = w[b].scales + 8 * n;
      for (int j = 0; j < 4; ++j) {
        const __m256i pr = _mm256_maddubs_epi16(q[j], loadu(x[b].qs + 128 * n + 32 * j));
        const __m256i s = _mm256_setr_m128i(_mm_set1_epi16(sc[2 * j]), _mm_set1_epi16(sc[2 * j + 1]));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(pr, s));
      }
    }
    // isum lanes sum to Σ sc·Σ q·q8; subtract 32·corr from lane 0 (exact i32).
    isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(x[b].d * h2f(w[b].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

// Σ a·b of 32 signed bytes: |a| (u8) × sign(b, a) (s8), pairwise i16 → i32.
inline __m256i dot_s8(__m256i a, __m256i b) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

float dot_q80(const void* wrow, const void* xq, int64_t k) {
  const BlockQ8_0* w = static_cast<const BlockQ8_0*>(wrow);
  const BlockQ8A* x = static_cast<const BlockQ8A*>(xq);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK8A; ++b) {
    const __m256i s = dot_s8(loadu(w[b].qs), loadu(x[b].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * x[b].d), _mm256_cvtepi32_ps(s), acc);
  }
  return hsum(acc);
}

float dot_q40(const void* wrow, const void* xq, int64_t k) {
  const BlockQ4_0* w = static_cast<const BlockQ4_0*>(wrow);
  const BlockQ8A* x = static_cast<const BlockQ8A*>(xq);
  const __m256i m4 = _mm256_set1_epi8(15);
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK8A; ++b) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    // bytes 0..15: low nibbles (elements 0..15), 16..31: high nibbles (16..31), minus 8
    const __m256i v = _mm256_sub_epi8(
        _mm256_and_si256(_mm256_setr_m128i(q, _mm_srli_epi16(q, 4)), m4), eight);
    const __m256i s = dot_s8(v, loadu(x[b].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * x[b].d), _mm256_cvtepi32_ps(s), acc);
  }
  return hsum(acc);
}

const Q8DotEntry kEntries[] = {
    {DType::Q4_K, dot_qk45<false>}, {DType::Q5_K, dot_qk45<true>}, {DType::Q6_K, dot_q6k},
    {DType::Q8_0, dot_q80},         {DType::Q4_0, dot_q40},
};

}  // namespace
}  // namespace qh::cpu

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace qh::cpu {
Q8DotFn q8_dot_avx2(DType w) {
  return find_q8_dot(kEntries, w);
}
}  // namespace qh::cpu

#else  // not x86-64

namespace qh::cpu {
Q8DotFn q8_dot_avx2(DType) { return nullptr; }
}  // namespace qh::cpu

#endif
