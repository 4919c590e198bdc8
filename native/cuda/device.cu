// Build facts and device enumeration for the CUDA backend.
#include <cuda_runtime.h>

#include "cuda_backend.h"
#include "cuda_check.cuh"

namespace qh::cuda {

bool compiled() { return true; }

// __CUDA_ARCH_LIST__ (nvcc >= 11.5) lists every arch nvcc generated code for in this translation
// unit, as 10*SM: 800,860,890,900,1200. It is what was compiled, not what CMake asked for.
std::vector<int> archs() {
#ifdef __CUDA_ARCH_LIST__
  static const int kList[] = {__CUDA_ARCH_LIST__};
  std::vector<int> out;
  for (int a : kList) {
    const int sm = a / 10;
    if (out.empty() || out.back() != sm) out.push_back(sm);
  }
  return out;
#else
  return {};
#endif
}

int runtime_version() { return CUDART_VERSION; }

DeviceList list_devices() {
  DeviceList list;
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess) list.driver_version = driver;

  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // No GPU, no driver (libcuda.so.1 missing) or a driver older than this runtime all land here.
    list.reason = std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(err) + " [" +
                  cudaGetErrorName(err) + "])";
    cudaGetLastError();  // clear the non-sticky error so later calls do not report it again
    return list;
  }
  if (count <= 0) {
    list.reason = "no CUDA device (cudaGetDeviceCount returned 0)";
    return list;
  }

  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (std::string e = QH_CUDA_ERR(cudaGetDeviceProperties(&prop, i)); !e.empty()) {
      list.devices.clear();
      list.reason = "no CUDA device (" + e + ")";
      return list;
    }
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.total_memory_bytes = static_cast<uint64_t>(prop.totalGlobalMem);
    d.multiprocessor_count = prop.multiProcessorCount;
    d.memory_bus_width_bits = prop.memoryBusWidth;
    // cudaDeviceProp::memoryClockRate was removed in CUDA 13; the attribute remains.
    int clock_khz = 0;
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, i) == cudaSuccess) d.memory_clock_khz = clock_khz;
    list.devices.push_back(d);
  }
  list.available = true;
  list.reason = std::to_string(count) + (count == 1 ? " CUDA device" : " CUDA devices");
  return list;
}

}  // namespace qh::cuda
