// ROPE_NEOX: x f32 {d, H, T}, pos i32 {T} -> y f32 {d, H, T}; partial NeoX (rotate-half) RoPE (spec §3.3 step 4):
//   for i in [0, half), half = n_rot/2:  theta_i = pos[t] * base^(-i/half)
//     y[i]        = x[i] cos theta_i - x[i + half] sin theta_i
//     y[i + half] = x[i + half] cos theta_i + x[i] sin theta_i
//   y[i] = x[i] for i >= n_rot.   p.i[0] = n_rot (even, <= d), p.f[0] = base.
// Same arithmetic as native/cpu/rope_neox.cc: theta, cos, sin and the rotation in f64 (positions reach 2^18, an f32
// theta would be off by ~pos·2^-24 rad), rounded once to f32; the products and sums use __dmul_rn / __dadd_rn /
// __dsub_rn so no fma contraction changes the f64 rounding. CUDA's f64 pow / sincos are within ~1-2 ulp of
// glibc's, so outputs equal the CPU's except for a rare last-bit difference.
// One thread per (t, i) for the n_rot/2 rotated pairs: (cos, sin) once, applied to all H heads (consecutive threads,
// consecutive i: coalesced); when y != x, one thread per (t, i) for the d - n_rot pass-through dims too.
// Grid-stride loop over those T · (half + tail) items. In place (y == x) is safe: each element is read by the
// thread that writes it, before it writes.
#include "backend.cuh"

namespace qh::cuda {
namespace {

// x, y: {d, H, T} f32 contiguous; pos: {T} i32. tail = d - 2·half when y != x, else 0.
__global__ void rope_neox_kernel(const float* __restrict__ x, const int32_t* __restrict__ pos, float* y, int64_t d, int64_t H,
                                 int64_t T, int64_t half, int64_t tail, double base) {
  const int64_t w = half + tail;
  const int64_t n = T * w;
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < n;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = u / w, i = u % w;
    const float* xt = x + t * H * d;
    float* yt = y + t * H * d;
    if (i >= half) {  // pass-through dim (only launched when y != x)
      const int64_t e = 2 * half + (i - half);
      for (int64_t h = 0; h < H; ++h) yt[h * d + e] = xt[h * d + e];
      continue;
    }
    const double p = static_cast<double>(pos[t]);
    const double theta = __dmul_rn(p, pow(base, -static_cast<double>(i) / static_cast<double>(half)));
    double s, c;
    sincos(theta, &s, &c);
    for (int64_t h = 0; h < H; ++h) {
      const double a = xt[h * d + i], b = xt[h * d + i + half];
      yt[h * d + i] = static_cast<float>(__dsub_rn(__dmul_rn(a, c), __dmul_rn(b, s)));
      yt[h * d + i + half] = static_cast<float>(__dadd_rn(__dmul_rn(b, c), __dmul_rn(a, s)));
    }
  }
}

Status run_rope_neox(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& x = call.in[0];
  const Tensor& y = call.out[0];
  const int64_t d = x.ne[0], H = x.ne[1], T = x.ne[2];
  const int64_t half = call.p.i[0] / 2;
  const int64_t tail = x.data != y.data ? d - 2 * half : 0;
  const int64_t n = T * (half + tail);
  if (n == 0) return Status::ok();
  constexpr int kBlock = 128;
  rope_neox_kernel<<<grid_for(n, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(
      x.ptr<const float>(), call.in[1].ptr<const int32_t>(), y.ptr<float>(), d, H, T, half, tail, static_cast<double>(call.p.f[0]));
  return launch_status("rope_neox_kernel");
}

}  // namespace

QH_CUDA_KERNEL(ROPE_NEOX, run_rope_neox, nullptr);

}  // namespace qh::cuda
