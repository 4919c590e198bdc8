// select_row_kernels: the one place a weight-row kernel variant is chosen (a pure function of type and ISA).
#include "quant_dot.h"

namespace qh::cpu {
namespace {

// Scalar dot1: dequantize 256 elements at a time into an L1 buffer, then a sequential f32 sum.
template <DType T> float dot1_scalar(const void* row, const float* x, int64_t k) {
  static const DequantFn dq = row_kernels_scalar(T).dequant;
  const DTypeInfo* info = dtype_info(T);
  const int64_t chunk = 256;  // multiple of every block size
  alignas(64) float buf[256];
  const char* src = static_cast<const char*>(row);
  float s = 0.0f;
  for (int64_t c = 0; c < k; c += chunk) {
    const int64_t n = k - c < chunk ? k - c : chunk;
    dq(src + (c / info->block_size) * info->block_bytes, n / info->block_size, buf);
    for (int64_t i = 0; i < n; ++i) s += buf[i] * x[c + i];
  }
  return s;
}

DequantFn pick_dequant(DType type, Isa isa) {
  if (isa >= Isa::AVX512) {
    if (DequantFn f = row_kernels_avx512(type).dequant) return f;
  }
  if (isa >= Isa::AVX2) {
    if (DequantFn f = row_kernels_avx2(type).dequant) return f;
  }
  return row_kernels_scalar(type).dequant;
}

Dot1Fn pick_dot1(DType type, Isa isa) {
  if (isa >= Isa::AVX512) {
    if (Dot1Fn f = row_kernels_avx512(type).dot1) return f;
  }
  if (isa >= Isa::AVX2) {
    if (Dot1Fn f = row_kernels_avx2(type).dot1) return f;
  }
  switch (type) {
    case DType::F32: return dot1_scalar<DType::F32>;
    case DType::F16: return dot1_scalar<DType::F16>;
    case DType::BF16: return dot1_scalar<DType::BF16>;
    case DType::Q4_0: return dot1_scalar<DType::Q4_0>;
    case DType::Q4_1: return dot1_scalar<DType::Q4_1>;
    case DType::Q5_0: return dot1_scalar<DType::Q5_0>;
    case DType::Q5_1: return dot1_scalar<DType::Q5_1>;
    case DType::Q8_0: return dot1_scalar<DType::Q8_0>;
    case DType::Q4_K: return dot1_scalar<DType::Q4_K>;
    case DType::Q5_K: return dot1_scalar<DType::Q5_K>;
    case DType::Q6_K: return dot1_scalar<DType::Q6_K>;
    default: return nullptr;
  }
}

}  // namespace

RowKernels select_row_kernels(DType type, Isa isa) {
  RowKernels k{};
  k.dequant = pick_dequant(type, isa);
  k.dot1 = pick_dot1(type, isa);
  k.panel = nullptr;
  k.isa = Isa::Scalar;
  if (isa >= Isa::AVX512 && panel_avx512()) {
    k.panel = panel_avx512();
    k.isa = Isa::AVX512;
  } else if (isa >= Isa::AVX2 && panel_avx2()) {
    k.panel = panel_avx2();
    k.isa = Isa::AVX2;
  } else {
    k.panel = panel_scalar();
  }
  return k;
}

}  // namespace qh::cpu
