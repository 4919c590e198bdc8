// L2_NORM: x f32 {n, R...} -> y f32 {n, R...};  y = x / max(||x||_2, eps) along ne[0]. p.f[0] = eps.
// Sum of squares in f32; multi-threaded over rows.
#include <cmath>

#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

// y = x * inv,  inv = 1 / max(sqrt(sum_i x[i]^2), eps)
void l2_row_scalar(const float* x, float* y, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::fmax(std::sqrt(ss), eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv;
}

#ifdef QH_NA_X86
QH_NA_AVX2 void l2_row_avx2(const float* x, float* y, int64_t n, float eps) {
  const float ss = na::sumsq256(x, n);
  const float inv = 1.0f / std::fmax(std::sqrt(ss), eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  for (; i < n; ++i) y[i] = x[i] * inv;
}
#endif

Status run_l2_norm(const OpCall& call, KernelContext& ctx) {
  const Tensor& x = call.in[0];
  const Tensor& y = call.out[0];
  const int64_t n = x.ne[0];
  const float eps = call.p.f[0];
  const bool simd = ctx.isa >= Isa::AVX2;
  ctx.pool->parallel_for(x.nrows(), 4096 / n + 1, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = na::row_at<const float>(x, r);
      float* yr = na::row_at<float>(y, r);
#ifdef QH_NA_X86
      if (simd) {
        l2_row_avx2(xr, yr, n, eps);
        continue;
      }
#endif
      (void)simd;
      l2_row_scalar(xr, yr, n, eps);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(L2_NORM, run_l2_norm, nullptr);

}  // namespace qh::cpu
