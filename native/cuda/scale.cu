// SCALE: y = fma(x, p.f[0], p.f[1]) elementwise f32 (native/cpu/scale.cc).
#include "backend.cuh"

namespace qh::cuda {
namespace {

__global__ void scale_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, float s, float b) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = fmaf(x[i], s, b);
}

Status run_scale(const OpCall& call, CudaKernelContext& ctx) {
  const int64_t n = call.in[0].nelements();
  if (n == 0) return Status::ok();
  constexpr int kBlock = 256;
  scale_kernel<<<grid_for(n, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(call.in[0].ptr<const float>(), call.out[0].ptr<float>(), n,
                                                                             call.p.f[0], call.p.f[1]);
  return launch_status("scale_kernel");
}

}  // namespace

QH_CUDA_KERNEL(SCALE, run_scale, nullptr);

}  // namespace qh::cuda
