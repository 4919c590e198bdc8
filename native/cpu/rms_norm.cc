// RMS_NORM: x f32 {n, R...}, optional w f32 {n} -> y f32 {n, R...};
//   y = x / sqrt(mean(x^2) + eps) (* w), along ne[0] only (per-head norm = x viewed as {head_dim, n_head, T}).
// p.f[0] = eps. Sum of squares accumulated in f32 (n <= a few thousand: relative error ~ n * 2^-24 worst case,
// ~sqrt(n) * 2^-24 typical). Multi-threaded over rows.
#include <cmath>

#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

// y[i] = x[i] * inv (* w[i]),  inv = 1 / sqrt(sum_i x[i]^2 / n + eps)
void rms_row_scalar(const float* x, const float* w, float* y, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv;
  }
}

#ifdef QH_NA_X86
QH_NA_AVX2 void rms_row_avx2(const float* x, const float* w, float* y, int64_t n, float eps) {
  const float ss = na::sumsq256(x, n);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  int64_t i = 0;
  if (w) {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), _mm256_loadu_ps(w + i)));
    for (; i < n; ++i) y[i] = x[i] * inv * w[i];
  } else {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
    for (; i < n; ++i) y[i] = x[i] * inv;
  }
}
#endif

Status run_rms_norm(const OpCall& call, KernelContext& ctx) {
  const Tensor& x = call.in[0];
  const Tensor& y = call.out[0];
  const float* w = call.n_in > 1 ? call.in[1].ptr<const float>() : nullptr;
  const int64_t n = x.ne[0];
  const float eps = call.p.f[0];
  const bool simd = ctx.isa >= Isa::AVX2;
  ctx.pool->parallel_for(x.nrows(), 4096 / n + 1, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = na::row_at<const float>(x, r);
      float* yr = na::row_at<float>(y, r);
#ifdef QH_NA_X86
      if (simd) {
        rms_row_avx2(xr, w, yr, n, eps);
        continue;
      }
#endif
      (void)simd;
      rms_row_scalar(xr, w, yr, n, eps);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(RMS_NORM, run_rms_norm, nullptr);

}  // namespace qh::cpu
