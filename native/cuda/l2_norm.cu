// L2_NORM: x f32 {n, R...} -> y;  y = x / max(||x||_2, eps) along ne[0], p.f[0] = eps (native/cpu/l2_norm.cc).
// One block per row; f32 sum of squares reduced as in rms_norm.cu.
#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

__global__ void l2_norm_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, float eps) {
  __shared__ float red[kRowBlock / 32];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * n;
  float* yr = y + row * n;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
  ss = block_sum(ss, red);
  const float inv = 1.0f / fmaxf(sqrtf(ss), eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * inv;
}

Status run_l2_norm(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& x = call.in[0];
  const int64_t rows = x.nrows();
  if (rows == 0) return Status::ok();
  l2_norm_kernel<<<static_cast<unsigned>(rows), kRowBlock, 0, ctx.stream>>>(x.ptr<const float>(), call.out[0].ptr<float>(), x.ne[0], call.p.f[0]);
  return launch_status("l2_norm_kernel");
}

}  // namespace

QH_CUDA_KERNEL(L2_NORM, run_l2_norm, nullptr);

}  // namespace qh::cuda
