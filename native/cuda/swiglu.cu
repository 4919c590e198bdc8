// SWIGLU: gate {n, T}, up {n, T} -> y = g / (1 + e^-g) * u elementwise f32 (native/cpu/swiglu.cc).
#include "backend.cuh"

namespace qh::cuda {
namespace {

__global__ void swiglu_kernel(const float* __restrict__ g, const float* __restrict__ u, float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    y[i] = gi / (1.0f + expf(-gi)) * u[i];
  }
}

Status run_swiglu(const OpCall& call, CudaKernelContext& ctx) {
  const int64_t n = call.in[0].nelements();
  if (n == 0) return Status::ok();
  constexpr int kBlock = 256;
  swiglu_kernel<<<grid_for(n, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(call.in[0].ptr<const float>(), call.in[1].ptr<const float>(),
                                                                              call.out[0].ptr<float>(), n);
  return launch_status("swiglu_kernel");
}

}  // namespace

QH_CUDA_KERNEL(SWIGLU, run_swiglu, nullptr);

}  // namespace qh::cuda
