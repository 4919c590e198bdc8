// Owned, 64-byte aligned, zero-initialised byte buffer (arena, scratch, state, copied weights).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace qh {

class AlignedBuffer {
 public:
  static constexpr size_t kAlign = 64;

  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; o.size_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  ~AlignedBuffer() { reset(); }

  // false on allocation failure (the caller reports OUT_OF_MEMORY). size 0 gives a null buffer.
  bool allocate(size_t size) {
    reset();
    if (size == 0) return true;
    const size_t rounded = (size + kAlign - 1) / kAlign * kAlign;
    if (rounded < size) return false;
    void* p = std::aligned_alloc(kAlign, rounded);
    if (p == nullptr) return false;
    std::memset(p, 0, rounded);
    data_ = p;
    size_ = size;
    return true;
  }
  void reset() {
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
  }
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace qh
