// SILU, SIGMOID, SOFTPLUS, EXP: elementwise f32, out shape = in shape (native/cpu/unary.cc):
//   silu(x) = x / (1 + e^-x);  sigmoid(x) = 1 / (1 + e^-x);  softplus(x) = x > 20 ? x : log1p(e^x);  exp(x).
// One grid-stride kernel templated on the function; expf/log1pf (CUDA's, <= 2 ulp), no fast-math intrinsics.
#include "backend.cuh"

namespace qh::cuda {
namespace {

enum class Unary { Silu, Sigmoid, Softplus, Exp };

template <Unary U>
__device__ __forceinline__ float apply(float x) {
  if constexpr (U == Unary::Silu) return x / (1.0f + expf(-x));
  if constexpr (U == Unary::Sigmoid) return 1.0f / (1.0f + expf(-x));
  if constexpr (U == Unary::Softplus) return x > 20.0f ? x : log1pf(expf(x));
  return expf(x);
}

template <Unary U>
__global__ void unary_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = apply<U>(x[i]);
}

template <Unary U>
Status run_unary(const OpCall& call, CudaKernelContext& ctx) {
  const int64_t n = call.in[0].nelements();
  if (n == 0) return Status::ok();
  constexpr int kBlock = 256;
  unary_kernel<U><<<grid_for(n, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(call.in[0].ptr<const float>(), call.out[0].ptr<float>(), n);
  return launch_status("unary_kernel");
}

}  // namespace

QH_CUDA_KERNEL(SILU, run_unary<Unary::Silu>, nullptr);
QH_CUDA_KERNEL(SIGMOID, run_unary<Unary::Sigmoid>, nullptr);
QH_CUDA_KERNEL(SOFTPLUS, run_unary<Unary::Softplus>, nullptr);
QH_CUDA_KERNEL(EXP, run_unary<Unary::Exp>, nullptr);

}  // namespace qh::cuda
