// CUDA backend as seen from host C++: plain types only, no CUDA headers, so native/addon compiles
// without the toolkit. Implemented by native/cuda/*.cu when CUDA is compiled in, and by
// native/cuda/cuda_stub.cc otherwise (CPU-only builds: CMake with QWEN_HYBRID_CUDA=OFF or no nvcc,
// and every node-gyp build).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qh::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0;  // compute capability, e.g. 9.0 for H100
  int cc_minor = 0;
  uint64_t total_memory_bytes = 0;
  int multiprocessor_count = 0;
  int memory_bus_width_bits = 0;
  int memory_clock_khz = 0;  // peak memory clock
};

struct DeviceList {
  bool available = false;
  // "N CUDA device(s)", "no CUDA device (<cuda error>)" or "CUDA not compiled in".
  std::string reason;
  std::vector<DeviceInfo> devices;
  int driver_version = 0;  // cudaDriverGetVersion: 1000*major + 10*minor; 0 = no driver
};

struct SelfTestResult {
  enum class Status { kOk, kFailed, kNoDevice, kBadIndex };
  Status status = Status::kFailed;
  std::string detail;
};

bool compiled();                 // true when this addon contains the CUDA backend
std::vector<int> archs();        // SM versions with device code in the binary, e.g. {80, 86, 89, 90, 120}
int runtime_version();           // CUDART_VERSION the addon was built against; 0 when not compiled
DeviceList list_devices();       // never fails: problems become available=false + reason
// Fills and transforms a device buffer with a tiny kernel, copies it back and checks every element.
SelfTestResult self_test(int device_index);

}  // namespace qh::cuda
