// LOG_SOFTMAX: x f32 {V, T} -> y;  y[i] = x[i] - (m + log(sum_j e^(x[j] - m))), m = max_j x[j], along ne[0]
// (native/cpu/log_softmax.cc). One 1024-thread block per row: f32 max, then e^(x - m) (expf) summed in f64 per
// thread and across the block in a fixed order, lse in f64, y rounded from f64 like the CPU.
#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

constexpr int kBlock = 1024;

__global__ void log_softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t V) {
  __shared__ float redf[32];
  __shared__ double redd[32];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * V;
  float* yr = y + row * V;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) m = fmaxf(m, xr[i]);
  m = block_max(m, redf);
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) s += static_cast<double>(expf(xr[i] - m));
  s = block_sum(s, redd);
  const double lse = static_cast<double>(m) + log(s);
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) yr[i] = static_cast<float>(static_cast<double>(xr[i]) - lse);
}

Status run_log_softmax(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& x = call.in[0];
  const int64_t rows = x.nrows();
  if (rows == 0) return Status::ok();
  log_softmax_kernel<<<static_cast<unsigned>(rows), kBlock, 0, ctx.stream>>>(x.ptr<const float>(), call.out[0].ptr<float>(), x.ne[0]);
  return launch_status("log_softmax_kernel");
}

}  // namespace

QH_CUDA_KERNEL(LOG_SOFTMAX, run_log_softmax, nullptr);

}  // namespace qh::cuda
