// RMS_NORM: x f32 {n, R...}, optional w f32 {n} -> y {n, R...};  y = x / sqrt(mean(x^2) + eps) (* w), p.f[0] = eps.
// One block per row: f32 sum of squares (per-thread strided partials, warp shuffles, warps summed in order),
// then one scaling pass. Same formula as native/cpu/rms_norm.cc (x * inv * w, inv = 1 / sqrt(ss / n + eps)).
#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ y, int64_t n,
                                float eps) {
  __shared__ float red[kRowBlock / 32];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * n;
  float* yr = y + row * n;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
  ss = block_sum(ss, red);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
  if (w) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
  } else {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * inv;
  }
}

Status run_rms_norm(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& x = call.in[0];
  const int64_t rows = x.nrows();
  if (rows == 0) return Status::ok();
  const float* w = call.n_in > 1 ? call.in[1].ptr<const float>() : nullptr;
  rms_norm_kernel<<<static_cast<unsigned>(rows), kRowBlock, 0, ctx.stream>>>(x.ptr<const float>(), w, call.out[0].ptr<float>(), x.ne[0],
                                                                             call.p.f[0]);
  return launch_status("rms_norm_kernel");
}

}  // namespace

QH_CUDA_KERNEL(RMS_NORM, run_rms_norm, nullptr);

}  // namespace qh::cuda
