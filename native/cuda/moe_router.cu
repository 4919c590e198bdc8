// MOE_ROUTER: logits f32 {E, T} -> ids i32 {K, T}, weights f32 {K, T}; p.i[0] = K (native/cpu/moe_router.cc):
//   p_e = f32(e^(l_e - max)) * f32(1 / Z), Z = sum_e e^(l_e - max) in f64;
//   top-K of p (descending, ties to the lower id);  w_s = f32(p_{id_s} / sum_s' p_{id_s'}) (f64 sum, slot order).
// One 256-thread block per token; p in dynamic shared memory (E floats); K selection passes as in top_k.cu.
#include <climits>

#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void moe_router_kernel(const float* __restrict__ logits, int32_t* __restrict__ ids, float* __restrict__ wts, int64_t E, int64_t K) {
  extern __shared__ float p[];  // {E}
  __shared__ float sv[32];
  __shared__ int32_t si[32];
  __shared__ double sd[32];
  const int64_t t = blockIdx.x;
  const float* l = logits + t * E;
  float mx = -INFINITY;
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) mx = fmaxf(mx, l[e]);
  mx = block_max(mx, sv);
  double z = 0.0;
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    p[e] = expf(l[e] - mx);
    z += static_cast<double>(p[e]);
  }
  z = block_sum(z, sd);
  const float invz = static_cast<float>(1.0 / z);
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) p[e] = __fmul_rn(p[e], invz);
  __syncthreads();

  int32_t* id = ids + t * K;
  float* w = wts + t * K;
  float prev_v = INFINITY;
  int32_t prev_i = -1;
  for (int64_t s = 0; s < K; ++s) {
    float best = -INFINITY;
    int32_t bi = INT_MAX;
    for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
      const int32_t ei = static_cast<int32_t>(e);
      if (better(prev_v, prev_i, p[e], ei) && better(p[e], ei, best, bi)) {
        best = p[e];
        bi = ei;
      }
    }
    block_best(&best, &bi, sv, si);
    if (threadIdx.x == 0) {
      id[s] = bi;
      w[s] = best;
    }
    prev_v = best;
    prev_i = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double sel = 0.0;
    for (int64_t s = 0; s < K; ++s) sel += static_cast<double>(w[s]);
    for (int64_t s = 0; s < K; ++s) w[s] = static_cast<float>(static_cast<double>(w[s]) / sel);
  }
}

Status run_moe_router(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& x = call.in[0];
  const int64_t E = x.ne[0], T = x.ne[1], K = call.p.i[0];
  if (T == 0 || K <= 0) return Status::ok();
  const size_t smem = static_cast<size_t>(E) * sizeof(float);
  if (smem > 48 * 1024) {
    return Status::error("INVALID_ARGUMENT", "MOE_ROUTER on CUDA supports at most 12288 experts, got " + std::to_string(E));
  }
  moe_router_kernel<<<static_cast<unsigned>(T), kBlock, smem, ctx.stream>>>(x.ptr<const float>(), call.out[0].ptr<int32_t>(), call.out[1].ptr<float>(),
                                                                           E, K);
  return launch_status("moe_router_kernel");
}

}  // namespace

QH_CUDA_KERNEL(MOE_ROUTER, run_moe_router, nullptr);

}  // namespace qh::cuda
