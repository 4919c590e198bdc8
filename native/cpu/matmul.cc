// MATMUL: W {k, m} (any weight type) x x f32 {k, T} -> y f32 {m, T};  y[t][r] = Σ_c W[r][c]·x[t][c].
// Multi-threaded over chunks of output rows (dynamic); each weight row is streamed once per call (matmul_rows.h).
// p.i[1] = 1 and T ≤ kQ8MaxTokens (decode; prefill stays exact): activation-quantized path (quant_q8.h) for
// Q4_K/Q5_K/Q6_K/Q8_0/Q4_0 (int8 dots); F16/BF16: x rounded to f16/bf16 first, then this exact path; other types
// stay exact.
#include <cstdint>

#include "kernel.h"
#include "matmul_rows.h"
#include "quant_q8.h"

namespace qh::cpu {
namespace {

constexpr size_t kAlign = 64;
inline size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// p.i[1] = 1 and a weight type with an activation format (quant_q8.h): the q8 path.
ActQuant q8_mode(const OpCall& call) {
  return call.p.i[1] == 1 && call.in[1].ne[1] <= kQ8MaxTokens ? act_quant_for(call.in[0].type) : ActQuant::None;
}

// Scratch: [T] x row pointers, [T] y row pointers, then per thread row_scratch_floats(k) floats; q8 path:
// T quantized activation rows instead (int8 formats), or the exact layout plus T rounded f32 rows (f16/bf16).
size_t matmul_scratch(const OpCall& call, int n_threads) {
  const int64_t T = call.in[1].ne[1];
  const ActQuant aq = q8_mode(call);
  if (act_is_int8(aq)) return static_cast<size_t>(T) * align_up(act_row_bytes(aq, call.in[0].ne[0]));
  const size_t ptrs = align_up(2 * static_cast<size_t>(T) * sizeof(void*));
  const size_t exact = ptrs + static_cast<size_t>(n_threads) * align_up(row_scratch_floats(call.in[0].ne[0]) * sizeof(float));
  return exact + static_cast<size_t>(T) * align_up(act_row_bytes(aq, call.in[0].ne[0]));
}

// q8 path: quantize every x_t once (scalar, same bytes on every ISA), then y_t[r] = dot(W[r], q(x_t)) with each
// weight row read once for all T tokens (tokens looped inside the row loop; any T).
Status matmul_q8_run(const OpCall& call, KernelContext& ctx, ActQuant aq) {
  const Tensor& W = call.in[0];
  const Tensor& x = call.in[1];
  const Tensor& y = call.out[0];
  const int64_t k = W.ne[0], m = W.ne[1], T = x.ne[1];
  const size_t qrow = align_up(act_row_bytes(aq, k));
  char* xq = static_cast<char*>(ctx.scratch);
  for (int64_t t = 0; t < T; ++t) quantize_act_row(aq, x.row<const float>(t), k, xq + static_cast<size_t>(t) * qrow);
  const Q8DotFn dot = select_q8_dot(W.type, ctx.isa);
  const char* w0 = static_cast<const char*>(W.data);
  const size_t wb = W.nb[1];
  parallel_chunks(*ctx.pool, m, row_chunk(m, wb, ctx.pool->n_threads()), [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const char* wr = w0 + static_cast<size_t>(r) * wb;
      for (int64_t t = 0; t < T; ++t) y.row<float>(t)[r] = dot(wr, xq + static_cast<size_t>(t) * qrow, k);
    }
  });
  return Status::ok();
}

Status matmul_run(const OpCall& call, KernelContext& ctx) {
  const Tensor& W = call.in[0];  // {k, m}
  const Tensor& x = call.in[1];  // f32 {k, T}
  const Tensor& y = call.out[0]; // f32 {m, T}
  const int64_t k = W.ne[0], m = W.ne[1], T = x.ne[1];
  const ActQuant aq = q8_mode(call);
  if (act_is_int8(aq)) return matmul_q8_run(call, ctx, aq);

  char* base = static_cast<char*>(ctx.scratch);
  const float** xrows = reinterpret_cast<const float**>(base);
  float** yrows = reinterpret_cast<float**>(base + static_cast<size_t>(T) * sizeof(void*));
  char* thread_scratch = base + align_up(2 * static_cast<size_t>(T) * sizeof(void*));
  const size_t per_thread = align_up(row_scratch_floats(k) * sizeof(float));
  for (int64_t t = 0; t < T; ++t) {
    xrows[t] = x.row<const float>(t);
    yrows[t] = y.row<float>(t);
  }
  if (aq != ActQuant::None) {  // f16/bf16-rounded activations (after the per-thread scratch)
    const size_t rrow = align_up(act_row_bytes(aq, k));
    char* rbuf = thread_scratch + static_cast<size_t>(ctx.pool->n_threads()) * per_thread;
    for (int64_t t = 0; t < T; ++t) {
      float* r = reinterpret_cast<float*>(rbuf + static_cast<size_t>(t) * rrow);
      quantize_act_row(aq, xrows[t], k, r);
      xrows[t] = r;
    }
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
