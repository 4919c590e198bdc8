// SWIGLU: gate f32 {n, T}, up f32 {n, T} (contiguous) -> y f32 {n, T};  y = silu(gate) * up
//   = gate / (1 + e^-gate) * up. Scalar: libm expf; AVX2: na::silu256 (~2 ulp).
#include <cmath>

#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

#ifdef QH_NA_X86
QH_NA_AVX2 void swiglu_avx2(const float* g, const float* u, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(na::silu256(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
  for (; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}
#endif

Status run_swiglu(const OpCall& call, KernelContext& ctx) {
  const float* g = call.in[0].ptr<const float>();
  const float* u = call.in[1].ptr<const float>();
  float* y = call.out[0].ptr<float>();
  const bool simd = ctx.isa >= Isa::AVX2;
  ctx.pool->parallel_for(call.in[0].nelements(), 8192, [&](int64_t b, int64_t e, int) {
#ifdef QH_NA_X86
    if (simd) return swiglu_avx2(g + b, u + b, y + b, e - b);
#endif
    (void)simd;
    for (int64_t i = b; i < e; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];  // silu(g) * u
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(SWIGLU, run_swiglu, nullptr);

}  // namespace qh::cpu
