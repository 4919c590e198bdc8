// Elementwise unary ops on contiguous f32 tensors (out shape = in shape), one kernel per op:
//   SILU     y = x * sigmoid(x) = x / (1 + e^-x)
//   SIGMOID  y = 1 / (1 + e^-x)
//   SOFTPLUS y = log(1 + e^x) (log1p, exact for very negative x); y = x for x > 20 (e^-20 < 2^-28: the
//            f32 result is x already)
//   EXP      y = e^x
// Scalar paths use libm expf/log1pf; AVX2 paths (SILU, SIGMOID, EXP) use na::exp256 (~2 ulp). SOFTPLUS is
// scalar only: it runs on {n_v_heads, T} gate tensors (tiny next to every other op of a GDN layer).
// Validated contiguous (validate_normattn.cc), so the tensor is one flat array split over threads.
#include <cmath>

#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

constexpr int64_t kGrain = 16384;

inline float silu_scalar(float x) { return x / (1.0f + std::exp(-x)); }
inline float sigmoid_scalar(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float softplus_scalar(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

#ifdef QH_NA_X86
QH_NA_AVX2 void silu_avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, na::silu256(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = silu_scalar(x[i]);
}
QH_NA_AVX2 void sigmoid_avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, na::sigmoid256(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = sigmoid_scalar(x[i]);
}
QH_NA_AVX2 void exp_avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, na::exp256(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = std::exp(x[i]);
}
#endif

enum class Unary { Silu, Sigmoid, Softplus, Exp };

template <Unary U>
Status run_unary(const OpCall& call, KernelContext& ctx) {
  const float* x = call.in[0].ptr<const float>();
  float* y = call.out[0].ptr<float>();
  const bool simd = ctx.isa >= Isa::AVX2;
  ctx.pool->parallel_for(call.in[0].nelements(), kGrain, [&](int64_t b, int64_t e, int) {
    const float* xs = x + b;
    float* ys = y + b;
    const int64_t n = e - b;
#ifdef QH_NA_X86
    if (simd) {
      if constexpr (U == Unary::Silu) return silu_avx2(xs, ys, n);
      if constexpr (U == Unary::Sigmoid) return sigmoid_avx2(xs, ys, n);
      if constexpr (U == Unary::Exp) return exp_avx2(xs, ys, n);
    }
#endif
    (void)simd;
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (U == Unary::Silu) ys[i] = silu_scalar(xs[i]);
      if constexpr (U == Unary::Sigmoid) ys[i] = sigmoid_scalar(xs[i]);
      if constexpr (U == Unary::Softplus) ys[i] = softplus_scalar(xs[i]);
      if constexpr (U == Unary::Exp) ys[i] = std::exp(xs[i]);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(SILU, run_unary<Unary::Silu>, nullptr);
QH_CPU_KERNEL(SIGMOID, run_unary<Unary::Sigmoid>, nullptr);
QH_CPU_KERNEL(SOFTPLUS, run_unary<Unary::Softplus>, nullptr);
QH_CPU_KERNEL(EXP, run_unary<Unary::Exp>, nullptr);

}  // namespace qh::cpu
