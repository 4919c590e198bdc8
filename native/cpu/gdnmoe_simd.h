// AVX2+FMA helpers shared by the GDN/MoE family kernels (ssm_conv.cc, gated_rms_norm.cc, gated_delta_net.cc).
// Compiled only inside target("avx2,fma") functions; the binary never needs AVX2 to load.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#define QH_GDNMOE_X86 1
#include <immintrin.h>

namespace qh::cpu::gdnmoe {

#define QH_AVX2 __attribute__((target("avx2,fma")))

// exp(x) for 8 floats: x = n ln2 + r, |r| <= ln2/2 (ln2 split hi/lo so r is exact to ~1 ulp), e^r by the
// degree-6 Taylor/minimax polynomial of Cephes expf (rel. error < 2e-7 on the reduced range), times 2^n.
// Inputs are clamped to [-87.3, 88.37] so 2^n stays a normal float (n in [-126, 127]); below -87.3 the result is
// ~1e-38 instead of a denormal/0, which SiLU and the decays cannot tell apart.
QH_AVX2 static inline __m256 exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3762626647949f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// SiLU(x) = x / (1 + e^-x).
QH_AVX2 static inline __m256 silu256(__m256 x) {
  const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

// Sum of the 8 lanes.
QH_AVX2 static inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace qh::cpu::gdnmoe
#endif
