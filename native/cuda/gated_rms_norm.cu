// GATED_RMS_NORM: per-head RMSNorm with one weight shared by all heads, times SiLU(z) (spec §3.2 step 8, norm
// before gate; native/cpu/gated_rms_norm.cc is the reference).
//   x f32 {dv, nv, T};  w f32 {dv};  z f32 {dv, nv, T}
//   out f32 {dv, nv, T}: out = x * inv * w * SiLU(z), inv = 1 / sqrt(sum(x^2) / dv + eps), per row of dv.  p.f[0] = eps.
// One warp per row (rows are one head: 128 floats in the models), kRows rows per block; f32 sum of squares
// (lane-strided fmaf partials, warp shuffles), then the products in the CPU's order.
#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

constexpr int kRows = 8;  // warps (rows) per block

__global__ void __launch_bounds__(kRows * 32) gated_rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                                    const float* __restrict__ z, float* __restrict__ out,
                                                                    int64_t rows, int64_t n, float eps) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRows + (threadIdx.x >> 5);
  if (row >= rows) return;  // warp-uniform; no block-wide synchronisation below
  const int lane = static_cast<int>(threadIdx.x & 31);
  const float* xr = x + row * n;
  const float* zr = z + row * n;
  float* orow = out + row * n;
  float ss = 0.0f;
  for (int64_t i = lane; i < n; i += 32) ss = fmaf(xr[i], xr[i], ss);
  ss = warp_sum(ss);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
  for (int64_t i = lane; i < n; i += 32) {
    const float zi = zr[i];
    orow[i] = xr[i] * inv * w[i] * (zi / (1.0f + expf(-zi)));
  }
}

Status gated_rms_norm_run(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& x = call.in[0];
  const int64_t rows = x.nrows();
  const int64_t blocks = (rows + kRows - 1) / kRows;
  if (blocks > 0x7fffffff) {
    return Status::error("INVALID_ARGUMENT", "GATED_RMS_NORM op: " + std::to_string(rows) + " rows exceed the grid limit");
  }
  gated_rms_norm_kernel<<<static_cast<unsigned>(blocks), kRows * 32, 0, ctx.stream>>>(
      x.ptr<const float>(), call.in[1].ptr<const float>(), call.in[2].ptr<const float>(), call.out[0].ptr<float>(), rows, x.ne[0],
      call.p.f[0]);
  return launch_status("gated_rms_norm_kernel");
}

}  // namespace

QH_CUDA_KERNEL(GATED_RMS_NORM, gated_rms_norm_run, nullptr);

}  // namespace qh::cuda
