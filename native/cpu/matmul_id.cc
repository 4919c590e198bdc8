// MATMUL_ID: W {k, m, E} (any weight type), x f32 {k, T} (p.i[0] = 0) or {k, K, T} (p.i[0] = 1), ids i32 {K, T}
// -> y f32 {m, K, T};  y[t][s] = W[ids[t][s]] · (x[t] or x[t][s]).
// Reads only the selected experts: the (t, s) pairs are grouped by expert (counting sort, order of t then s
// kept), then every used expert runs the MATMUL row engine over its pairs, so an expert's weights are read
// once per call however many tokens chose it. Work units = (used expert, block of kUnitRows rows), handed out
// dynamically (parallel_chunks).
// p.i[1] = 1 and T ≤ kQ8MaxTokens (decode; prefill stays exact): activation-quantized path (quant_q8.h) for
// Q4_K/Q5_K/Q6_K/Q8_0/Q4_0 (other types stay exact): each
// pair's x row is quantized once (in pair order, scratch), then the expert's rows are dotted with it; F16/BF16:
// the pair's x row is rounded to f16/bf16 (scratch) and the exact path runs on it.
#include <cstdint>
#include <string>

#include "kernel.h"
#include "matmul_rows.h"
#include "quant_q8.h"

namespace qh::cpu {
namespace {

constexpr size_t kAlign = 64;
inline size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
constexpr int64_t kUnitRows = 32;

struct Layout {
  size_t counts, active, order, xrows, yrows, threads, per_thread, total;
  size_t xq, qrow;  // q8 path: quantized x rows [T·K] of qrow bytes at xq (qrow = 0 otherwise)
};

ActQuant q8_mode(const OpCall& call) {
  return call.p.i[1] == 1 && call.in[2].ne[1] <= kQ8MaxTokens ? act_quant_for(call.in[0].type) : ActQuant::None;
}

// Scratch: counts/offsets [E+1], active experts [E] (int64), pair order [T·K] (int64), x/y row pointers
// [T·K] each, then per thread row_scratch_floats(k) floats.
Layout layout(const OpCall& call, int n_threads) {
  const int64_t E = call.in[0].ne[2], K = call.in[2].ne[0], T = call.in[2].ne[1];
  const size_t P = static_cast<size_t>(K * T);
  Layout L{};
  L.counts = 0;
  L.active = L.counts + align_up(static_cast<size_t>(E + 1) * sizeof(int64_t));
  L.order = L.active + align_up(static_cast<size_t>(E) * sizeof(int64_t));
  L.xrows = L.order + align_up(P * sizeof(int64_t));
  L.yrows = L.xrows + align_up(P * sizeof(void*));
  L.threads = L.yrows + align_up(P * sizeof(void*));
  L.per_thread = align_up(row_scratch_floats(call.in[0].ne[0]) * sizeof(float));
  L.total = L.threads + static_cast<size_t>(n_threads) * L.per_thread;
  L.xq = L.total;
  L.qrow = 0;
  if (const ActQuant aq = q8_mode(call); aq != ActQuant::None) {
    L.qrow = align_up(act_row_bytes(aq, call.in[0].ne[0]));
    L.total += P * L.qrow;
  }
  return L;
}

size_t matmul_id_scratch(const OpCall& call, int n_threads) { return layout(call, n_threads).total; }

Status matmul_id_run(const OpCall& call, KernelContext& ctx) {
  const Tensor& W = call.in[0];    // {k, m, E}
  const Tensor& x = call.in[1];    // f32 {k, T} or {k, K, T}
  const Tensor& ids = call.in[2];  // i32 {K, T}
  const Tensor& y = call.out[0];   // f32 {m, K, T}
  const int64_t k = W.ne[0], m = W.ne[1], E = W.ne[2], K = ids.ne[0], T = ids.ne[1];
  const bool per_slot = call.p.i[0] == 1;
  const int64_t P = K * T;

  const Layout L = layout(call, ctx.pool->n_threads());
  char* base = static_cast<char*>(ctx.scratch);
  int64_t* off = reinterpret_cast<int64_t*>(base + L.counts);
  int64_t* active = reinterpret_cast<int64_t*>(base + L.active);
  int64_t* order = reinterpret_cast<int64_t*>(base + L.order);
  const float** xrows = reinterpret_cast<const float**>(base + L.xrows);
  float** yrows = reinterpret_cast<float**>(base + L.yrows);

  // ids are data: check them before any work (no partial output on error).
  const int32_t* id = ids.ptr<const int32_t>();
  for (int64_t j = 0; j < P; ++j) {
    if (id[j] < 0 || id[j] >= E) {
      return Status::error("INVALID_ARGUMENT", "MATMUL_ID op: input 2 (ids) [slot " + std::to_string(j % K) + ", token " +
                                                   std::to_string(j / K) + "] = " + std::to_string(id[j]) +
                                                   " is not an expert index in [0, " + std::to_string(E) + ")");
    }
  }
  // Counting sort of pairs j = t·K + s by expert.
  for (int64_t e = 0; e <= E; ++e) off[e] = 0;
  for (int64_t j = 0; j < P; ++j) ++off[id[j] + 1];
  int64_t n_active = 0;
  for (int64_t e = 0; e < E; ++e) {
    if (off[e + 1] > 0) active[n_active++] = e;
    off[e + 1] += off[e];
  }
  for (int64_t j = 0; j < P; ++j) order[off[id[j]]++] = j;  // off[e] now = end of expert e
  for (int64_t q = 0; q < P; ++q) {
    const int64_t j = order[q], t = j / K, s = j % K;
    xrows[q] = per_slot ? x.row<const float>(s, t) : x.row<const float>(t);
    yrows[q] = y.row<float>(s, t);
  }

  const ActQuant aq = q8_mode(call);
  if (aq != ActQuant::None && !act_is_int8(aq)) {  // f16/bf16-rounded x rows, then the exact path below
    for (int64_t q = 0; q < P; ++q) {
      float* r = reinterpret_cast<float*>(base + L.xq + static_cast<size_t>(q) * L.qrow);
      quantize_act_row(aq, xrows[q], k, r);
      xrows[q] = r;
    }
  }
  if (act_is_int8(aq)) {
    char* xq = base + L.xq;
    for (int64_t q = 0; q < P; ++q) quantize_act_row(aq, xrows[q], k, xq + static_cast<size_t>(q) * L.qrow);
    const Q8DotFn dot = select_q8_dot(W.type, ctx.isa);
    const int64_t nb = (m + kUnitRows - 1) / kUnitRows;
    parallel_chunks(*ctx.pool, n_active * nb, 1, [&](int64_t u0, int64_t u1, int) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t e = active[u / nb], b = u % nb;
        const int64_t end = off[e], begin = e == 0 ? 0 : off[e - 1];
        const char* we = static_cast<const char*>(W.data) + static_cast<size_t>(e) * W.nb[2];
        const int64_t r0 = b * kUnitRows, r1 = r0 + kUnitRows < m ? r0 + kUnitRows : m;
        for (int64_t r = r0; r < r1; ++r) {
          const char* wr = we + static_cast<size_t>(r) * W.nb[1];
          for (int64_t q = begin; q < end; ++q) yrows[q][r] = dot(wr, xq + static_cast<size_t>(q) * L.qrow, k);
        }
      }
    });
    return Status::ok();
  }

  const RowKernels kern = select_row_kernels(W.type, ctx.isa);
  const Isa isa = ctx.isa;
  const int64_t blocks = (m + kUnitRows - 1) / kUnitRows;
  char* thread_scratch = base + L.threads;
  parallel_chunks(*ctx.pool, n_active * blocks, 1, [&](int64_t u0, int64_t u1, int thread) {
    float* scratch = reinterpret_cast<float*>(thread_scratch + static_cast<size_t>(thread) * L.per_thread);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t e = active[u / blocks], b = u % blocks;
      const int64_t end = off[e], begin = e == 0 ? 0 : off[e - 1];
      const RowJob job{static_cast<const char*>(W.data) + static_cast<size_t>(e) * W.nb[2], W.nb[1], W.type, k,
                       xrows + begin, yrows + begin, end - begin};
      const int64_t r0 = b * kUnitRows, r1 = r0 + kUnitRows < m ? r0 + kUnitRows : m;
      run_rows(job, r0, r1, kern, isa, scratch);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(MATMUL_ID, matmul_id_run, matmul_id_scratch);

}  // namespace qh::cpu
