// CUDA kernel registry: one slot per op id, filled by QH_CUDA_KERNEL lines at static-initialisation time (the
// op files are linked as objects, not from an archive, so every registration runs).
#include "kernel.cuh"

namespace qh::cuda {

namespace {
// Function-local so registrations from other translation units' static initialisers are order-safe.
CudaKernel* kernel_table() {
  static CudaKernel table[kOpCount] = {};
  return table;
}
}  // namespace

bool register_kernel(OpKind kind, CudaKernel kernel) {
  const int id = static_cast<int>(kind);
  if (id < 0 || id >= kOpCount || kernel.run == nullptr) return false;
  kernel_table()[id] = kernel;
  return true;
}

const CudaKernel* find_kernel(OpKind kind) {
  const int id = static_cast<int>(kind);
  if (id < 0 || id >= kOpCount) return nullptr;
  const CudaKernel* k = &kernel_table()[id];
  return k->run != nullptr ? k : nullptr;
}

}  // namespace qh::cuda
