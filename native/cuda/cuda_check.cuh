// Error checking for CUDA runtime calls in code that reports failures as values.
// No exceptions, no abort:
//   if (std::string e = QH_CUDA_ERR(cudaMalloc(&p, n)); !e.empty()) return fail(e);
#pragma once

#include <cuda_runtime.h>

#include <string>

namespace qh::cuda {

// "" on success, else "cudaMalloc(&p, n): out of memory [cudaErrorMemoryAllocation] at self_test.cu:42".
inline std::string check_cuda(cudaError_t err, const char* what, const char* file, int line) {
  if (err == cudaSuccess) return std::string();
  std::string s = what;
  s += ": ";
  s += cudaGetErrorString(err);
  s += " [";
  s += cudaGetErrorName(err);
  s += "] at ";
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/' || *p == '\\') base = p + 1;
  s += base;
  s += ":";
  s += std::to_string(line);
  return s;
}

}  // namespace qh::cuda

#define QH_CUDA_ERR(call) ::qh::cuda::check_cuda((call), #call, __FILE__, __LINE__)
