// A tensor view handed to kernels: data pointer, type, ggml-order shape and byte strides. Never owns memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dtype.h"

namespace qh {

struct Tensor {
  void* data = nullptr;
  DType type = DType::F32;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] fastest-varying
  size_t nb[4] = {0, 0, 0, 0};   // byte strides; nb[1] = bytes of one row (blocks for quantized types)

  int64_t nelements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t nrows() const { return ne[1] * ne[2] * ne[3]; }
  template <typename T> T* ptr() const { return static_cast<T*>(data); }
  // Row (i1, i2, i3) start.
  template <typename T> T* row(int64_t i1, int64_t i2 = 0, int64_t i3 = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(data) + i1 * nb[1] + i2 * nb[2] + i3 * nb[3]);
  }
};

// Contiguous strides for `type` and shape `ne` (ne[0] a multiple of the block size).
inline void set_contiguous_strides(Tensor& t) {
  const DTypeInfo* info = dtype_info(t.type);
  t.nb[0] = static_cast<size_t>(info->block_bytes);
  t.nb[1] = row_bytes(*info, t.ne[0]);
  t.nb[2] = t.nb[1] * static_cast<size_t>(t.ne[1]);
  t.nb[3] = t.nb[2] * static_cast<size_t>(t.ne[2]);
}

}  // namespace qh
