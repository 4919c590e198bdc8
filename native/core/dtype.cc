#include "dtype.h"

namespace qh {

const DTypeInfo* dtype_info(int32_t id) {
  static const DTypeInfo kF32{"F32", 1, 4, false}, kF16{"F16", 1, 2, false}, kBF16{"BF16", 1, 2, false},
      kI32{"I32", 1, 4, false}, kQ4_0{"Q4_0", 32, 18, true}, kQ4_1{"Q4_1", 32, 20, true}, kQ5_0{"Q5_0", 32, 22, true},
      kQ5_1{"Q5_1", 32, 24, true}, kQ8_0{"Q8_0", 32, 34, true}, kQ4_K{"Q4_K", 256, 144, true},
      kQ5_K{"Q5_K", 256, 176, true}, kQ6_K{"Q6_K", 256, 210, true};
  switch (static_cast<DType>(id)) {
    case DType::F32: return &kF32;
    case DType::F16: return &kF16;
    case DType::BF16: return &kBF16;
    case DType::I32: return &kI32;
    case DType::Q4_0: return &kQ4_0;
    case DType::Q4_1: return &kQ4_1;
    case DType::Q5_0: return &kQ5_0;
    case DType::Q5_1: return &kQ5_1;
    case DType::Q8_0: return &kQ8_0;
    case DType::Q4_K: return &kQ4_K;
    case DType::Q5_K: return &kQ5_K;
    case DType::Q6_K: return &kQ6_K;
  }
  return nullptr;
}

}  // namespace qh
