// Element / block types. Ids are ggml's (GGUF tensor infos use them), so a GGUF type id is a DType.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qh {

enum class DType : int32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  I32 = 26,
  BF16 = 30,
};

struct DTypeInfo {
  const char* name;
  int32_t block_size;   // elements per block (1 for plain types)
  int32_t block_bytes;  // bytes per block
  bool quantized;       // true for block formats a MATMUL / GET_ROWS weight may have
};

// nullptr for an id that is not a DType we execute.
const DTypeInfo* dtype_info(int32_t id);
inline const DTypeInfo* dtype_info(DType t) { return dtype_info(static_cast<int32_t>(t)); }

// Bytes of one row of ne0 elements (ne0 must be a multiple of the block size).
inline size_t row_bytes(const DTypeInfo& info, int64_t ne0) {
  return static_cast<size_t>(ne0 / info.block_size) * static_cast<size_t>(info.block_bytes);
}

}  // namespace qh
