// MATMUL: W {k, m} (any weight type) x x f32 {k, T} -> y f32 {m, T};  y[t][r] = Σ_c W[r][c]·x[t][c].
// Multi-threaded over chunks of output rows (dynamic); each weight row is streamed once per call (matmul_rows.h).
#include <cstdint>

#include "kernel.h"
#include "matmul_rows.h"

namespace qh::cpu {
namespace {

constexpr size_t kAlign = 64;
inline size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Scratch: [T] x row pointers, [T] y row pointers, then per thread row_scratch_floats(k) floats.
size_t matmul_scratch(const OpCall& call, int n_threads) {
  const int64_t T = call.in[1].ne[1];
  const size_t ptrs = align_up(2 * static_cast<size_t>(T) * sizeof(void*));
  return ptrs + static_cast<size_t>(n_threads) * align_up(row_scratch_floats(call.in[0].ne[0]) * sizeof(float));
}

Status matmul_run(const OpCall& call, KernelContext& ctx) {
  const Tensor& W = call.in[0];  // {k, m}
  const Tensor& x = call.in[1];  // f32 {k, T}
  const Tensor& y = call.out[0]; // f32 {m, T}
  const int64_t k = W.ne[0], m = W.ne[1], T = x.ne[1];

  char* base = static_cast<char*>(ctx.scratch);
  const float** xrows = reinterpret_cast<const float**>(base);
  float** yrows = reinterpret_cast<float**>(base + static_cast<size_t>(T) * sizeof(void*));
  char* thread_scratch = base + align_up(2 * static_cast<size_t>(T) * sizeof(void*));
  const size_t per_thread = align_up(row_scratch_floats(k) * sizeof(float));
  for (int64_t t = 0; t < T; ++t) {
    xrows[t] = x.row<const float>(t);
    yrows[t] = y.row<float>(t);
  }

  const RowJob job{static_cast<const char*>(W.data), W.nb[1], W.type, k, xrows, yrows, T};
  const RowKernels kern = select_row_kernels(W.type, ctx.isa);
  const Isa isa = ctx.isa;
  parallel_chunks(*ctx.pool, m, row_chunk(m, W.nb[1], ctx.pool->n_threads()), [&](int64_t r0, int64_t r1, int thread) {
    run_rows(job, r0, r1, kern, isa, reinterpret_cast<float*>(thread_scratch + static_cast<size_t>(thread) * per_thread));
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(MATMUL, matmul_run, matmul_scratch);

}  // namespace qh::cpu
