// Self-test: proves that this binary has device code the GPU can run, that allocation, launch and
// copies work, and that results come back bit-exact. Not a model kernel.
//   x[i] = (i mod 2048) - 1024                       (fill)
//   y[i] = 0.5 * x[i] + 3                            (axpb)
// Every value is a multiple of 0.5 with |v| <= 1024, exact in f32, so the host check is equality.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "cuda_backend.h"
#include "cuda_check.cuh"

namespace qh::cuda {

namespace {

constexpr float kScale = 0.5f;
constexpr float kBias = 3.0f;

// x: [n] f32, written
__global__ void fill_kernel(float* __restrict__ x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = static_cast<float>(static_cast<int>(i % 2048) - 1024);
  }
}

// x: [n] f32, read; y: [n] f32, written. y = a*x + b
__global__ void axpb_kernel(const float* __restrict__ x, float* __restrict__ y, float a, float b, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = fmaf(a, x[i], b);
  }
}

// Grid capped below n/block so the grid-stride loop runs more than once per thread.
std::string launch(float* x, float* y, int64_t n, cudaStream_t stream) {
  constexpr int kBlock = 256;
  constexpr int kMaxGrid = 1024;
  const int64_t want = (n + kBlock - 1) / kBlock;
  const int grid = static_cast<int>(want < kMaxGrid ? want : kMaxGrid);
  fill_kernel<<<grid, kBlock, 0, stream>>>(x, n);
  if (std::string e = QH_CUDA_ERR(cudaGetLastError()); !e.empty()) return "fill_kernel launch: " + e;
  axpb_kernel<<<grid, kBlock, 0, stream>>>(x, y, kScale, kBias, n);
  if (std::string e = QH_CUDA_ERR(cudaGetLastError()); !e.empty()) return "axpb_kernel launch: " + e;
  return std::string();
}

// Owns device allocations and the stream; frees on every exit path and restores the caller's device.
struct Scope {
  int prev_device = -1;
  float* x = nullptr;
  float* y = nullptr;
  cudaStream_t stream = nullptr;
  ~Scope() {
    if (stream) cudaStreamDestroy(stream);
    if (x) cudaFree(x);
    if (y) cudaFree(y);
    if (prev_device >= 0) cudaSetDevice(prev_device);
  }
};

SelfTestResult fail(std::string detail) {
  SelfTestResult r;
  r.status = SelfTestResult::Status::kFailed;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

SelfTestResult self_test(int device_index) {
  const DeviceList list = list_devices();
  if (!list.available) {
    SelfTestResult r;
    r.status = SelfTestResult::Status::kNoDevice;
    r.detail = list.reason;
    return r;
  }
  if (device_index < 0 || device_index >= static_cast<int>(list.devices.size())) {
    SelfTestResult r;
    r.status = SelfTestResult::Status::kBadIndex;
    r.detail = "deviceIndex " + std::to_string(device_index) + " out of range: " + std::to_string(list.devices.size()) +
               " CUDA device(s)";
    return r;
  }
  const DeviceInfo& dev = list.devices[static_cast<size_t>(device_index)];
  const std::string where = "device " + std::to_string(device_index) + " (" + dev.name + ", sm_" +
                            std::to_string(dev.cc_major) + std::to_string(dev.cc_minor) + ")";

  // 2^20 + 3 elements: not a multiple of the block size, and more than one grid-stride pass.
  const int64_t n = (int64_t{1} << 20) + 3;
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);

  Scope s;
  int prev = 0;
  if (cudaGetDevice(&prev) == cudaSuccess) s.prev_device = prev;
  if (std::string e = QH_CUDA_ERR(cudaSetDevice(device_index)); !e.empty()) return fail(where + ": " + e);
  if (std::string e = QH_CUDA_ERR(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking)); !e.empty())
    return fail(where + ": " + e);
  if (std::string e = QH_CUDA_ERR(cudaMalloc(reinterpret_cast<void**>(&s.x), bytes)); !e.empty()) return fail(where + ": " + e);
  if (std::string e = QH_CUDA_ERR(cudaMalloc(reinterpret_cast<void**>(&s.y), bytes)); !e.empty()) return fail(where + ": " + e);
  // Poison y so a kernel that silently did nothing cannot pass.
  if (std::string e = QH_CUDA_ERR(cudaMemsetAsync(s.y, 0xFF, bytes, s.stream)); !e.empty()) return fail(where + ": " + e);
  if (std::string e = launch(s.x, s.y, n, s.stream); !e.empty()) return fail(where + ": " + e);

  std::vector<float> host(static_cast<size_t>(n));
  if (std::string e = QH_CUDA_ERR(cudaMemcpyAsync(host.data(), s.y, bytes, cudaMemcpyDeviceToHost, s.stream)); !e.empty())
    return fail(where + ": " + e);
  if (std::string e = QH_CUDA_ERR(cudaStreamSynchronize(s.stream)); !e.empty()) return fail(where + ": " + e);

  int64_t mismatches = 0;
  int64_t first_bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    const float expect = kScale * static_cast<float>(static_cast<int>(i % 2048) - 1024) + kBias;
    if (host[static_cast<size_t>(i)] != expect) {
      if (first_bad < 0) first_bad = i;
      ++mismatches;
    }
  }
  if (mismatches != 0) {
    const float expect = kScale * static_cast<float>(static_cast<int>(first_bad % 2048) - 1024) + kBias;
    return fail(where + ": " + std::to_string(mismatches) + " of " + std::to_string(n) + " elements wrong; first at " +
                std::to_string(first_bad) + ": got " + std::to_string(host[static_cast<size_t>(first_bad)]) + ", expected " +
                std::to_string(expect));
  }
  SelfTestResult r;
  r.status = SelfTestResult::Status::kOk;
  r.detail = where + ": fill + axpb over " + std::to_string(n) + " f32 verified bit-exact";
  return r;
}

}  // namespace qh::cuda
