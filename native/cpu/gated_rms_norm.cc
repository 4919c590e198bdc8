// GATED_RMS_NORM: per-head RMSNorm with one weight shared by all heads, times SiLU(z) (spec §3.2 step 8,
// norm before gate).
//   x f32 {dv, nv, T};  w f32 {dv};  z f32 {dv, nv, T}
//   out f32 {dv, nv, T}: out = x / sqrt(mean(x^2) + eps) * w * SiLU(z), per row of dv.  p.f[0] = eps.
#include <algorithm>
#include <cmath>

#include "simd.h"
#include "kernel.h"

namespace qh::cpu {
namespace {

struct NormArgs {
  const float *x, *w, *z;
  float* out;
  int64_t n;  // dv
  float eps;
};

void row_scalar(const NormArgs& a, int64_t r) {
  const float *x = a.x + r * a.n, *z = a.z + r * a.n;
  float* o = a.out + r * a.n;
  float ss = 0.0f;  // sum x^2
  for (int64_t i = 0; i < a.n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(a.n) + a.eps);
  for (int64_t i = 0; i < a.n; ++i) o[i] = x[i] * inv * a.w[i] * (z[i] / (1.0f + std::exp(-z[i])));
}

#if defined(QH_NA_X86)
QH_NA_AVX2 void row_avx2(const NormArgs& a, int64_t r) {
  using namespace na;
  const float *x = a.x + r * a.n, *z = a.z + r * a.n;
  float* o = a.out + r * a.n;
  const int64_t n8 = a.n / 8 * 8;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    acc = _mm256_fmadd_ps(xv, xv, acc);
  }
  float ss = hsum256(acc);
  for (int64_t i = n8; i < a.n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(a.n) + a.eps);
  const __m256 iv = _mm256_set1_ps(inv);
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 y = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), iv), _mm256_loadu_ps(a.w + i));
    _mm256_storeu_ps(o + i, _mm256_mul_ps(y, silu256(_mm256_loadu_ps(z + i))));
  }
  for (int64_t i = n8; i < a.n; ++i) o[i] = x[i] * inv * a.w[i] * (z[i] / (1.0f + std::exp(-z[i])));
}
#endif

Status gated_rms_norm_run(const OpCall& call, KernelContext& ctx) {
  NormArgs a{call.in[0].ptr<const float>(), call.in[1].ptr<const float>(), call.in[2].ptr<const float>(),
             call.out[0].ptr<float>(), call.in[0].ne[0], call.p.f[0]};
  const int64_t rows = call.in[0].nrows();
  const bool simd = ctx.isa != Isa::Scalar;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, a.n));
  ctx.pool->parallel_for(rows, grain, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
#if defined(QH_NA_X86)
      if (simd) {
        row_avx2(a, r);
        continue;
      }
#endif
      (void)simd;
      row_scalar(a, r);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(GATED_RMS_NORM, gated_rms_norm_run, nullptr);

}  // namespace qh::cpu
