// What a CPU kernel gets and how it registers. One op per file: native/cpu/<op>.cc holds the scalar reference
// (reads like the formula) and SIMD fast paths beside it; selection is a pure function of (call, isa) so tests
// and benches can force each variant (design §5.2, §5.8).
#pragma once

#include <cstddef>

#include "../core/op.h"
#include "thread_pool.h"

namespace qh::cpu {

enum class Isa : int32_t { Scalar = 0, AVX2 = 1, AVX512 = 2 };

struct KernelContext {
  ThreadPool* pool;
  Isa isa;              // the highest ISA the kernel may use (forced by tests/benches, else detected)
  void* scratch;        // scratch_bytes() bytes, 64-byte aligned, owned by the plan; no allocation in run
  size_t scratch_size;
};

using KernelFn = Status (*)(const OpCall& call, KernelContext& ctx);
// Scratch bytes the kernel needs for this call (nullptr = none).
using ScratchFn = size_t (*)(const OpCall& call, int n_threads);

struct CpuKernel {
  KernelFn run = nullptr;
  ScratchFn scratch = nullptr;
};

bool register_kernel(OpKind kind, CpuKernel kernel);
const CpuKernel* find_kernel(OpKind kind);

#define QH_CPU_KERNEL(KIND, RUN, SCRATCH) \
  static const bool qh_cpu_kernel_registered_##KIND = ::qh::cpu::register_kernel(::qh::OpKind::KIND, {RUN, SCRATCH})

}  // namespace qh::cpu
