// ADD, MUL: a {n0,n1,n2,n3} op b, b.ne[i] dividing a.ne[i] (ggml broadcast) -> y shape a (native/cpu/binary.cc).
// One thread per output element (grid-stride); b's index = each coordinate mod b.ne. Contiguous tensors.
#include "backend.cuh"

namespace qh::cuda {
namespace {

enum class Bin { Add, Mul };

struct Dims {
  int64_t a0, a1, a2;      // a.ne[0..2]
  int64_t b0, b1, b2, b3;  // b.ne[0..3]
};

template <Bin B>
__global__ void binary_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, int64_t n, Dims d) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i0 = i % d.a0;
    const int64_t r = i / d.a0;
    const int64_t i1 = r % d.a1, i2 = (r / d.a1) % d.a2, i3 = r / (d.a1 * d.a2);
    const int64_t j = (i0 % d.b0) + d.b0 * ((i1 % d.b1) + d.b1 * ((i2 % d.b2) + d.b2 * (i3 % d.b3)));
    if constexpr (B == Bin::Add) y[i] = a[i] + b[j];
    else y[i] = a[i] * b[j];
  }
}

// Same shape: no index arithmetic.
template <Bin B>
__global__ void binary_same_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if constexpr (B == Bin::Add) y[i] = a[i] + b[i];
    else y[i] = a[i] * b[i];
  }
}

template <Bin B>
Status run_binary(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& a = call.in[0];
  const Tensor& b = call.in[1];
  const int64_t n = a.nelements();
  if (n == 0) return Status::ok();
  constexpr int kBlock = 256;
  const unsigned grid = grid_for(n, kBlock, ctx.sm_count);
  if (b.nelements() == n) {
    binary_same_kernel<B><<<grid, kBlock, 0, ctx.stream>>>(a.ptr<const float>(), b.ptr<const float>(), call.out[0].ptr<float>(), n);
  } else {
    const Dims d{a.ne[0], a.ne[1], a.ne[2], b.ne[0], b.ne[1], b.ne[2], b.ne[3]};
    binary_kernel<B><<<grid, kBlock, 0, ctx.stream>>>(a.ptr<const float>(), b.ptr<const float>(), call.out[0].ptr<float>(), n, d);
  }
  return launch_status("binary_kernel");
}

}  // namespace

QH_CUDA_KERNEL(ADD, run_binary<Bin::Add>, nullptr);
QH_CUDA_KERNEL(MUL, run_binary<Bin::Mul>, nullptr);

}  // namespace qh::cuda
