#include "weights.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "aligned.h"

#if defined(_WIN32)
#define QH_NO_MMAP 1
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace qh {

MappedFile::~MappedFile() {
#if !defined(QH_NO_MMAP)
  if (mapped_ && data_ != nullptr) munmap(data_, size_);
#endif
  if (!mapped_) delete[] data_;
}

Status MappedFile::open(const std::string& path, std::shared_ptr<MappedFile>* out) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
#if !defined(QH_NO_MMAP)
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return Status::error(e == ENOENT ? "FILE_NOT_FOUND" : "FILE_READ_ERROR",
                         "cannot open weight file " + path + ": " + std::strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error("FILE_READ_ERROR", "weight file " + path + " is not a regular file");
  }
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    // MAP_PRIVATE + PROT_READ: pages come from the page cache on first touch, never copied.
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return Status::error(e == ENOMEM ? "OUT_OF_MEMORY" : "FILE_READ_ERROR",
                           "cannot mmap weight file " + path + ": " + std::strerror(e));
    }
    f->data_ = static_cast<uint8_t*>(p);
    f->mapped_ = true;
  }
  ::close(fd);  // the mapping keeps its own reference to the file
#else
  FILE* fp = std::fopen(path.c_str(), "rb");
  if (fp == nullptr) return Status::error("FILE_NOT_FOUND", "cannot open weight file " + path);
  std::fseek(fp, 0, SEEK_END);
  const long n = std::ftell(fp);
  std::fseek(fp, 0, SEEK_SET);
  f->size_ = n > 0 ? static_cast<size_t>(n) : 0;
  if (f->size_ > 0) {
    f->data_ = new uint8_t[f->size_];
    if (std::fread(f->data_, 1, f->size_, fp) != f->size_) {
      std::fclose(fp);
      return Status::error("FILE_READ_ERROR", "cannot read weight file " + path);
    }
  }
  std::fclose(fp);
#endif
  *out = std::move(f);
  return Status::ok();
}

Status check_weight_shape(const std::string& name, int32_t type_id, const int64_t* ne, int n_dims, size_t bytes,
                          size_t* expected_bytes) {
  const DTypeInfo* info = dtype_info(type_id);
  if (info == nullptr) {
    return Status::error("BAD_TENSOR", "weight '" + name + "': unsupported tensor type id " + std::to_string(type_id));
  }
  if (n_dims < 1 || n_dims > 4) {
    return Status::error("BAD_TENSOR", "weight '" + name + "': shape must have 1 to 4 dims, got " + std::to_string(n_dims));
  }
  uint64_t elements = 1;
  for (int d = 0; d < n_dims; ++d) {
    if (ne[d] < 1 || ne[d] > (int64_t(1) << 40)) {
      return Status::error("BAD_TENSOR", "weight '" + name + "': dim " + std::to_string(d) + " = " + std::to_string(ne[d]) +
                                             " is not a positive size");
    }
    elements *= static_cast<uint64_t>(ne[d]);
    if (elements > (uint64_t(1) << 50)) return Status::error("BAD_TENSOR", "weight '" + name + "': element count overflows");
  }
  if (ne[0] % info->block_size != 0) {
    return Status::error("BAD_TENSOR", "weight '" + name + "': ne0 = " + std::to_string(ne[0]) + " is not a multiple of the " +
                                           info->name + " block size " + std::to_string(info->block_size));
  }
  const size_t expect = static_cast<size_t>(elements / static_cast<uint64_t>(info->block_size)) *
                        static_cast<size_t>(info->block_bytes);
  if (bytes != expect) {
    return Status::error("BAD_TENSOR", "weight '" + name + "': " + std::to_string(bytes) + " bytes given, but a " + info->name +
                                           " tensor of this shape has " + std::to_string(expect));
  }
  if (expected_bytes) *expected_bytes = expect;
  return Status::ok();
}

namespace {
void fill_shape(WeightData& w, const int64_t* ne, int n_dims) {
  for (int d = 0; d < 4; ++d) w.ne[d] = d < n_dims ? ne[d] : 1;
}
}  // namespace

Status weight_from_bytes(const std::string& name, int32_t type_id, const int64_t* ne, int n_dims, const void* src,
                         size_t bytes, std::shared_ptr<WeightData>* out) {
  QH_RETURN_IF_ERROR(check_weight_shape(name, type_id, ne, n_dims, bytes, nullptr));
  auto buf = std::make_shared<AlignedBuffer>();
  if (!buf->allocate(bytes)) {
    return Status::error("OUT_OF_MEMORY", "weight '" + name + "': cannot allocate " + std::to_string(bytes) + " bytes");
  }
  if (bytes > 0) std::memcpy(buf->data(), src, bytes);
  auto w = std::make_shared<WeightData>();
  w->name = name;
  w->type = static_cast<DType>(type_id);
  fill_shape(*w, ne, n_dims);
  w->data = buf->data();
  w->bytes = bytes;
  w->owner = std::shared_ptr<const void>(buf, buf->data());
  *out = std::move(w);
  return Status::ok();
}

Status weight_from_file(const std::shared_ptr<MappedFile>& file, const std::string& name, int32_t type_id,
                        const int64_t* ne, int n_dims, uint64_t offset, uint64_t bytes, std::shared_ptr<WeightData>* out) {
  const uint64_t size = file->size();
  if (offset > size || bytes > size - offset) {
    return Status::error("GGUF_TENSOR_OUT_OF_BOUNDS", "tensor '" + name + "': bytes [" + std::to_string(offset) + ", " +
                                                          std::to_string(offset + bytes) + ") lie outside " + file->path() +
                                                          " (" + std::to_string(size) + " bytes)");
  }
  QH_RETURN_IF_ERROR(check_weight_shape(name, type_id, ne, n_dims, static_cast<size_t>(bytes), nullptr));
  auto w = std::make_shared<WeightData>();
  w->name = name;
  w->type = static_cast<DType>(type_id);
  fill_shape(*w, ne, n_dims);
  w->data = file->data() + offset;
  w->bytes = static_cast<size_t>(bytes);
  w->owner = std::shared_ptr<const void>(file, file->data());
  *out = std::move(w);
  return Status::ok();
}

}  // namespace qh
