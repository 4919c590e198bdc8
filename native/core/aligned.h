// Owned, 64-byte aligned, zero-initialised byte buffer (arena, scratch, state, copied weights).
// Buffers of kLazyBytes or more are anonymous mmap pages on POSIX: zero by definition and committed only when first
// touched, so a session's KV cache costs resident memory for the positions it has reached, not for its whole
// context (measured: a context of 8,388,608 on the demo model committed 4.1 GB at createSession with memset).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define QH_ALIGNED_MMAP 1
#endif

namespace qh {

class AlignedBuffer {
 public:
  static constexpr size_t kAlign = 64;
  static constexpr size_t kLazyBytes = size_t{1} << 20;

  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_), mapped_(o.mapped_) {
    o.data_ = nullptr;
    o.size_ = 0;
    o.mapped_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = o.data_;
      size_ = o.size_;
      mapped_ = o.mapped_;
      o.data_ = nullptr;
      o.size_ = 0;
      o.mapped_ = 0;
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
#ifdef QH_ALIGNED_MMAP
    if (rounded >= kLazyBytes) {
      void* m = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) return false;
      data_ = m;
      size_ = size;
      mapped_ = rounded;
      return true;
    }
#endif
    void* p = std::aligned_alloc(kAlign, rounded);
    if (p == nullptr) return false;
    std::memset(p, 0, rounded);
    data_ = p;
    size_ = size;
    return true;
  }
  void reset() {
#ifdef QH_ALIGNED_MMAP
    if (mapped_ != 0) {
      munmap(data_, mapped_);
      data_ = nullptr;
      size_ = 0;
      mapped_ = 0;
      return;
    }
#endif
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
  }
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // mmap length (page-rounded by the kernel), 0 for aligned_alloc memory
};

}  // namespace qh
