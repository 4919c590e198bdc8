// GET_ROWS: W {n, rows} (any weight type), ids i32 {T} -> out f32 {n, T}; out[t] = dequant(W[ids[t]]) (embedding;
// native/cpu/get_rows.cc). One thread per 8-element chunk of an output row, dequantized by the weight type's
// trait (quant_traits.cuh: bit-identical to the CPU dequantization); the type is chosen in one switch.
// Ids are data on the device: the CPU backend rejects an id outside [0, rows) with INVALID_ARGUMENT before any
// work; here that would need a host sync per step, so an out-of-range id yields a row of NaN instead (never an
// out-of-bounds read), which every downstream consumer turns into a visibly broken result.
#include "backend.cuh"
#include "quant_traits.cuh"

namespace qh::cuda {
namespace {

template <DType T>
__global__ void get_rows_kernel(const uint8_t* __restrict__ W, size_t row_bytes, int64_t rows, const int32_t* __restrict__ ids, float* __restrict__ out,
                                int64_t n, int64_t chunks, int64_t total) {
  for (int64_t u = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; u < total; u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = u / chunks, g = u % chunks;
    const int32_t id = ids[t];
    float* o = out + t * n + 8 * g;
    const int m = n - 8 * g < 8 ? static_cast<int>(n - 8 * g) : 8;
    if (id < 0 || id >= rows) {
      for (int i = 0; i < m; ++i) o[i] = __int_as_float(0x7fc00000);
      continue;
    }
    float v[8];
    qh_row_load8<T>(W + static_cast<size_t>(id) * row_bytes, g, n, v);
    for (int i = 0; i < m; ++i) o[i] = v[i];
  }
}

template <DType T>
Status launch(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor& W = call.in[0];
  const int64_t n = W.ne[0], T_ = call.in[1].ne[0];
  const int64_t chunks = (n + 7) / 8, total = chunks * T_;
  if (total == 0) return Status::ok();
  constexpr int kBlock = 256;
  get_rows_kernel<T><<<grid_for(total, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(
      static_cast<const uint8_t*>(W.data), W.nb[1], W.ne[1], call.in[1].ptr<const int32_t>(), call.out[0].ptr<float>(), n, chunks, total);
  return launch_status("get_rows_kernel");
}

Status run_get_rows(const OpCall& call, CudaKernelContext& ctx) {
  switch (call.in[0].type) {
    case DType::F32: return launch<DType::F32>(call, ctx);
    case DType::F16: return launch<DType::F16>(call, ctx);
    case DType::BF16: return launch<DType::BF16>(call, ctx);
    case DType::Q4_0: return launch<DType::Q4_0>(call, ctx);
    case DType::Q4_1: return launch<DType::Q4_1>(call, ctx);
    case DType::Q5_0: return launch<DType::Q5_0>(call, ctx);
    case DType::Q5_1: return launch<DType::Q5_1>(call, ctx);
    case DType::Q8_0: return launch<DType::Q8_0>(call, ctx);
    case DType::Q4_K: return launch<DType::Q4_K>(call, ctx);
    case DType::Q5_K: return launch<DType::Q5_K>(call, ctx);
    case DType::Q6_K: return launch<DType::Q6_K>(call, ctx);
    default: break;
  }
  return Status::error("INVALID_ARGUMENT", std::string("GET_ROWS on CUDA: weight type ") + dtype_info(call.in[0].type)->name + " is not supported");
}

}  // namespace

QH_CUDA_KERNEL(GET_ROWS, run_get_rows, nullptr);

}  // namespace qh::cuda
