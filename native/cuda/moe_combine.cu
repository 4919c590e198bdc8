// MOE_COMBINE: y f32 {n, K, T}, w f32 {K, T} -> out f32 {n, T}; out[t][i] = sum_s w[t][s] * y[t][s][i], summed in
// slot order with separately rounded multiply and add (__fmul_rn/__fadd_rn: no fma contraction), i.e. the same
// f32 operations as native/cpu/moe_combine.cc. One thread per output element.
#include "backend.cuh"

namespace qh::cuda {
namespace {

__global__ void moe_combine_kernel(const float* __restrict__ y, const float* __restrict__ w, float* __restrict__ out, int64_t n, int64_t K,
                                   int64_t total) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total; o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = o / n, i = o % n;
    float acc = 0.0f;
    for (int64_t s = 0; s < K; ++s) acc = __fadd_rn(acc, __fmul_rn(w[t * K + s], y[(t * K + s) * n + i]));
    out[o] = acc;
  }
}

Status run_moe_combine(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& y = call.in[0];
  const int64_t n = y.ne[0], K = y.ne[1], T = y.ne[2];
  const int64_t total = n * T;
  if (total == 0) return Status::ok();
  constexpr int kBlock = 256;
  moe_combine_kernel<<<grid_for(total, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(y.ptr<const float>(), call.in[1].ptr<const float>(),
                                                                                       call.out[0].ptr<float>(), n, K, total);
  return launch_status("moe_combine_kernel");
}

}  // namespace

QH_CUDA_KERNEL(MOE_COMBINE, run_moe_combine, nullptr);

}  // namespace qh::cuda
