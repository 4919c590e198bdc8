// CPU kernel registry: one slot per op id, filled by QH_CPU_KERNEL lines at static-initialisation time.
#include "kernel.h"

namespace qh::cpu {

namespace {
CpuKernel* kernel_table() {
  static CpuKernel table[kOpCount] = {};
  return table;
}
}  // namespace

bool register_kernel(OpKind kind, CpuKernel kernel) {
  const int id = static_cast<int>(kind);
  if (id < 0 || id >= kOpCount || kernel.run == nullptr) return false;
  kernel_table()[id] = kernel;
  return true;
}

const CpuKernel* find_kernel(OpKind kind) {
  const int id = static_cast<int>(kind);
  if (id < 0 || id >= kOpCount) return nullptr;
  const CpuKernel* k = &kernel_table()[id];
  return k->run != nullptr ? k : nullptr;
}

}  // namespace qh::cpu
