// SCALE: x f32 (contiguous, any shape) -> y = p.f[0] * x + p.f[1], same shape. One fused multiply-add per
// element in both paths (fmaf / vfmadd), so scalar and AVX2 agree bit for bit.
#include <cmath>

#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

#ifdef QH_NA_X86
QH_NA_AVX2 void scale_avx2(const float* x, float* y, int64_t n, float s, float b) {
  const __m256 vs = _mm256_set1_ps(s), vb = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(x + i), vs, vb));
  for (; i < n; ++i) y[i] = std::fma(x[i], s, b);
}
#endif

Status run_scale(const OpCall& call, KernelContext& ctx) {
  const float* x = call.in[0].ptr<const float>();
  float* y = call.out[0].ptr<float>();
  const float s = call.p.f[0], b = call.p.f[1];
  const bool simd = ctx.isa >= Isa::AVX2;
  ctx.pool->parallel_for(call.in[0].nelements(), 32768, [&](int64_t b0, int64_t e0, int) {
#ifdef QH_NA_X86
    if (simd) return scale_avx2(x + b0, y + b0, e0 - b0, s, b);
#endif
    (void)simd;
    for (int64_t i = b0; i < e0; ++i) y[i] = std::fma(x[i], s, b);  // s * x + b
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(SCALE, run_scale, nullptr);

}  // namespace qh::cpu
