// ARGMAX: x f32 {V, T} -> i32 {T}; index of the max along ne[0], lowest index on ties; NaN never wins; a row of
// only -inf/NaN gives 0 (native/cpu/argmax.cc). One 1024-thread block per row: each thread scans its strided
// indices in increasing order with a strict '>', then (value, index) pairs are reduced with the tie rule.
#include <climits>

#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

constexpr int kBlock = 1024;

__global__ void argmax_kernel(const float* __restrict__ x, int32_t* __restrict__ out, int64_t V) {
  __shared__ float sv[32];
  __shared__ int32_t si[32];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * V;
  float best = -INFINITY;
  int32_t idx = INT_MAX;  // "none": loses every tie against a real index
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
    if (xr[i] > best) {
      best = xr[i];
      idx = static_cast<int32_t>(i);
    }
  }
  block_best(&best, &idx, sv, si);
  if (threadIdx.x == 0) out[row] = idx == INT_MAX ? 0 : idx;
}

Status run_argmax(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& x = call.in[0];
  const int64_t rows = x.nrows();
  if (rows == 0) return Status::ok();
  argmax_kernel<<<static_cast<unsigned>(rows), kBlock, 0, ctx.stream>>>(x.ptr<const float>(), call.out[0].ptr<int32_t>(), x.ne[0]);
  return launch_status("argmax_kernel");
}

}  // namespace

QH_CUDA_KERNEL(ARGMAX, run_argmax, nullptr);

}  // namespace qh::cuda
