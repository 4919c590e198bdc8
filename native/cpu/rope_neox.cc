// ROPE_NEOX: x f32 {d, H, T}, pos i32 {T} -> y f32 {d, H, T}; partial NeoX (rotate-half) RoPE (spec §3.3 step 4):
//   for i in [0, n_rot/2):  theta_i = pos[t] * base^(-2i/n_rot)
//     y[i]          = x[i] cos theta_i - x[i + n_rot/2] sin theta_i
//     y[i+n_rot/2]  = x[i + n_rot/2] cos theta_i + x[i] sin theta_i
//   y[i] = x[i] for i >= n_rot.   p.i[0] = n_rot (even, <= d), p.f[0] = base.
// theta, cos, sin and the rotation are computed in f64 and rounded once: positions reach 2^18 and
// theta_0 = pos, so an f32 theta would carry an absolute phase error of ~pos * 2^-24 (0.016 rad at 262144).
// Per token the n_rot/2 (cos, sin) pairs are computed once and applied to all H heads. Threads over tokens.
// Safe in place (y == x): every element is read before its slot is written.
#include <cmath>

#include "kernel.h"

namespace qh::cpu {
namespace {

Status run_rope_neox(const OpCall& call, KernelContext& ctx) {
  const Tensor& x = call.in[0];
  const int32_t* pos = call.in[1].ptr<const int32_t>();
  const Tensor& y = call.out[0];
  const int64_t d = x.ne[0], H = x.ne[1], T = x.ne[2];
  const int64_t half = call.p.i[0] / 2;
  const double base = call.p.f[0];
  ctx.pool->parallel_for(T, 1, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      const double p = static_cast<double>(pos[t]);
      for (int64_t i = 0; i < half; ++i) {
        const double theta = p * std::pow(base, -static_cast<double>(i) / static_cast<double>(half));
        const double c = std::cos(theta), s = std::sin(theta);
        for (int64_t h = 0; h < H; ++h) {
          const float* xr = x.row<const float>(h, t);
          float* yr = y.row<float>(h, t);
          const double a = xr[i], b = xr[i + half];
          yr[i] = static_cast<float>(a * c - b * s);
          yr[i + half] = static_cast<float>(b * c + a * s);
        }
      }
      if (x.data != y.data) {
        for (int64_t h = 0; h < H; ++h) {
          const float* xr = x.row<const float>(h, t);
          float* yr = y.row<float>(h, t);
          for (int64_t i = 2 * half; i < d; ++i) yr[i] = xr[i];
        }
      }
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(ROPE_NEOX, run_rope_neox, nullptr);

}  // namespace qh::cpu
