// COPY_STRIDED: src f32/i32 -> contiguous y {ne0..3}; y[i0,i1,i2,i3] = src[p.i[0] + i0 + i1*p.i[1] + i2*p.i[2] +
// i3*p.i[3]] (element offsets/strides; native/cpu/copy_strided.cc). 4-byte elements copied as bits.
#include "backend.cuh"

namespace qh::cuda {
namespace {

struct View {
  int64_t off, s1, s2, s3;
  int64_t n0, n1, n2;
};

__global__ void copy_strided_kernel(const uint32_t* __restrict__ src, uint32_t* __restrict__ y, int64_t n, View v) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i0 = i % v.n0, r = i / v.n0;
    const int64_t i1 = r % v.n1, i2 = (r / v.n1) % v.n2, i3 = r / (v.n1 * v.n2);
    y[i] = src[v.off + i0 + i1 * v.s1 + i2 * v.s2 + i3 * v.s3];
  }
}

Status run_copy_strided(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& y = call.out[0];
  const int64_t n = y.nelements();
  if (n == 0) return Status::ok();
  constexpr int kBlock = 256;
  const View v{call.p.i[0], call.p.i[1], call.p.i[2], call.p.i[3], y.ne[0], y.ne[1], y.ne[2]};
  copy_strided_kernel<<<grid_for(n, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(call.in[0].ptr<const uint32_t>(), y.ptr<uint32_t>(), n, v);
  return launch_status("copy_strided_kernel");
}

}  // namespace

QH_CUDA_KERNEL(COPY_STRIDED, run_copy_strided, nullptr);

}  // namespace qh::cuda
