// MOE_COMBINE: weighted sum of the K selected experts' outputs (spec §3.5 step 5).
//   y f32 {n, K, T};  w f32 {K, T}
//   out f32 {n, T}: out[t] = sum_{s=0..K-1} w[t][s] y[t][s], accumulated in slot order (f32).
// Bandwidth-trivial (n = 2048, K = 8); the compiler vectorises the inner loop, identical on every ISA.
#include <algorithm>

#include "kernel.h"

namespace qh::cpu {
namespace {

Status moe_combine_run(const OpCall& call, KernelContext& ctx) {
  const float* y = call.in[0].ptr<const float>();
  const float* w = call.in[1].ptr<const float>();
  float* out = call.out[0].ptr<float>();
  const int64_t n = call.in[0].ne[0], K = call.in[0].ne[1], T = call.in[0].ne[2];
  ctx.pool->parallel_for(T, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n * K)), [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = out + t * n;
      for (int64_t i = 0; i < n; ++i) o[i] = 0.0f;
      for (int64_t s = 0; s < K; ++s) {
        const float ws = w[t * K + s];
        const float* ys = y + (t * K + s) * n;
        for (int64_t i = 0; i < n; ++i) o[i] += ws * ys[i];
      }
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(MOE_COMBINE, moe_combine_run, nullptr);

}  // namespace qh::cpu
