// TOP_K: x f32 {V, T} -> ids i32 {K, T}, values f32 {K, T}; the K largest of each row, best first; order: a before
// b iff a.v > b.v or (a.v == b.v and a.id < b.id); NaN ranks as -inf; p.i[0] = K (native/cpu/top_k.cc).
// One 1024-thread block per row and K block-wide selection passes: pass s picks the best element ranked strictly
// after pick s-1 in that total order, so the picks are exactly the sorted top K. O(K·V / 1024) per row: fine for
// the sampler's and the router's K; no scratch.
#include <climits>

#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

constexpr int kBlock = 1024;

__device__ __forceinline__ float rank_key(float v) { return isnan(v) ? -INFINITY : v; }

__global__ void top_k_kernel(const float* __restrict__ x, int32_t* __restrict__ ids, float* __restrict__ vals, int64_t V, int64_t K) {
  __shared__ float sv[32];
  __shared__ int32_t si[32];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * V;
  float prev_v = INFINITY;
  int32_t prev_i = -1;  // (inf, -1) ranks before everything
  for (int64_t s = 0; s < K; ++s) {
    float best = -INFINITY;
    int32_t bi = INT_MAX;
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
      const float v = rank_key(xr[i]);
      const int32_t ii = static_cast<int32_t>(i);
      if (better(prev_v, prev_i, v, ii) && better(v, ii, best, bi)) {
        best = v;
        bi = ii;
      }
    }
    block_best(&best, &bi, sv, si);
    if (threadIdx.x == 0) {
      ids[row * K + s] = bi;
      vals[row * K + s] = best;
    }
    prev_v = best;
    prev_i = bi;
  }
}

Status run_top_k(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& x = call.in[0];
  const int64_t rows = x.nrows();
  if (rows == 0 || call.p.i[0] <= 0) return Status::ok();
  top_k_kernel<<<static_cast<unsigned>(rows), kBlock, 0, ctx.stream>>>(x.ptr<const float>(), call.out[0].ptr<int32_t>(), call.out[1].ptr<float>(),
                                                                       x.ne[0], call.p.i[0]);
  return launch_status("top_k_kernel");
}

}  // namespace

QH_CUDA_KERNEL(TOP_K, run_top_k, nullptr);

}  // namespace qh::cuda
