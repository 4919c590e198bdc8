// ARGMAX: x f32 {V, T} -> i32 {T}; index of the maximum along ne[0], the lowest index on ties. NaN never
// wins (comparisons with NaN are false); a row of only -inf/NaN gives 0. Threads over rows.
#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

Status run_argmax(const OpCall& call, KernelContext& ctx) {
  const Tensor& x = call.in[0];
  int32_t* y = call.out[0].ptr<int32_t>();
  const int64_t V = x.ne[0];
  ctx.pool->parallel_for(x.nrows(), 1, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = na::row_at<const float>(x, r);
      float best = -INFINITY;
      int64_t idx = 0;
      for (int64_t i = 0; i < V; ++i) {
        if (xr[i] > best) {  // strict: an equal later value keeps the lower index
          best = xr[i];
          idx = i;
        }
      }
      y[r] = static_cast<int32_t>(idx);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(ARGMAX, run_argmax, nullptr);

}  // namespace qh::cpu
