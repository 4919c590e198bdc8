// Weight tensors: bytes that outlive the plans using them. Either copied into owned memory (tests) or
// served zero-copy from a read-only memory map of the GGUF file (design §2.2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dtype.h"
#include "status.h"

namespace qh {

// A read-only mapping of a whole file (POSIX mmap; a plain read into memory on Windows).
class MappedFile {
 public:
  ~MappedFile();
  static Status open(const std::string& path, std::shared_ptr<MappedFile>* out);
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // false: data_ is a heap copy (Windows) or null (empty file)
  std::string path_;
};

// One weight tensor. `owner` keeps the bytes alive (a MappedFile or an AlignedBuffer).
struct WeightData {
  std::string name;
  DType type = DType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  const void* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<const void> owner;
};

// Checks type, shape (ne0 a multiple of the block size, dims >= 1, up to 4) and that `bytes` is the exact
// size of that shape. Names the tensor in the message. `ne` has n_dims entries.
Status check_weight_shape(const std::string& name, int32_t type_id, const int64_t* ne, int n_dims, size_t bytes,
                          size_t* expected_bytes);

// Copy of `bytes` bytes into owned 64-byte aligned memory.
Status weight_from_bytes(const std::string& name, int32_t type_id, const int64_t* ne, int n_dims, const void* src,
                         size_t bytes, std::shared_ptr<WeightData>* out);

// Zero-copy view of [offset, offset + bytes) of a mapped file. GGUF_TENSOR_OUT_OF_BOUNDS (naming the tensor, the
// file and the byte range) when the range leaves the file.
Status weight_from_file(const std::shared_ptr<MappedFile>& file, const std::string& name, int32_t type_id,
                        const int64_t* ne, int n_dims, uint64_t offset, uint64_t bytes, std::shared_ptr<WeightData>* out);

}  // namespace qh
