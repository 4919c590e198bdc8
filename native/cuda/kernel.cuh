// What a CUDA kernel gets and how it registers: the mirror of native/cpu/kernel.h. One op per file
// (native/cuda/<op>.cu): `static __global__` kernels → a launcher that picks block sizes and template
// instantiations → one registered entry (design §5.3). Quant types are compile-time traits chosen in ONE switch
// per op family; the variant choice is a pure function of (call, device, forced variant) so tests and benches
// can force each variant (design §5.8). Shapes/types were validated when the plan was compiled (the same
// validators as the CPU backend: native/core/validate_*.cc); kernels assume those preconditions.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "../core/op.h"

namespace qh::cuda {

struct CudaKernelContext {
  cudaStream_t stream;  // every launch goes on this stream; no host synchronisation inside a step
  int device;
  int sm_count;
  int cc;                // compute capability as 10*major + minor (90 = H100)
  void* scratch;         // scratch_bytes() bytes of device memory, 256-byte aligned, owned by the plan
  size_t scratch_size;
  int variant;           // 0 = auto; >0 forces a kernel variant (op-specific meaning, documented per op)
};

// All tensors in `call` point to device memory (weights, activations, state) except where an op says otherwise.
// Launch errors are returned as Status (code "CUDA_ERROR" is not a JS code: use "BACKEND_UNAVAILABLE" for
// unsupported devices and "OUT_OF_MEMORY" for allocation failures; anything else "INVALID_ARGUMENT").
using CudaKernelFn = Status (*)(const OpCall& call, CudaKernelContext& ctx);
using CudaScratchFn = size_t (*)(const OpCall& call, int sm_count);

struct CudaKernel {
  CudaKernelFn run = nullptr;
  CudaScratchFn scratch = nullptr;
};

bool register_kernel(OpKind kind, CudaKernel kernel);
const CudaKernel* find_kernel(OpKind kind);

#define QH_CUDA_KERNEL(KIND, RUN, SCRATCH) \
  static const bool qh_cuda_kernel_registered_##KIND = ::qh::cuda::register_kernel(::qh::OpKind::KIND, {RUN, SCRATCH})

}  // namespace qh::cuda
