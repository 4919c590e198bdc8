// The row engine behind MATMUL and MATMUL_ID: y_t[r] = Σ_c W[r][c]·x_t[c] for a range of weight rows and a
// list of tokens, each weight row read once.
//   scalar ISA : per row, dequantize the whole row into scratch, then one sequential f32 dot per token
//                (the reference path: reads like the formula).
//   1 token    : fused dequantize-and-dot per row (decode matvec; streams each row once, no scratch).
//   >1 tokens  : per block of kRowBlock rows and kChunk columns, dequantize into an f32 panel in scratch
//                (each weight block dequantized once), then the f32 panel kernel over all tokens; partial
//                sums of consecutive chunks are added into y.
// Every (row, token) result is independent of the row range a thread gets, so 1 thread == N threads exactly.
#pragma once

#include <cstddef>
#include <cstdint>

#include <atomic>

#include "quant_dot.h"

namespace qh::cpu {

constexpr int64_t kRowBlock = 16;  // rows per dequantized panel
constexpr int64_t kChunk = 1024;   // columns per panel (multiple of every block size: 4 K-quant blocks)

struct RowJob {
  const char* W;               // row 0 of the weight matrix {k, m}
  size_t row_bytes;            // bytes between rows
  DType type;
  int64_t k;                   // elements per row
  const float* const* xrows;   // [ntok] f32 activation rows of k elements
  float* const* yrows;         // [ntok] output rows; row r of the result goes to yrows[t][r]
  int64_t ntok;
};

// f32 scratch floats one thread needs for rows of k elements (64-byte multiple).
size_t row_scratch_floats(int64_t k);

// Computes rows [r_begin, r_end) of job. `scratch`: row_scratch_floats(job.k) floats, 64-byte aligned.
void run_rows(const RowJob& job, int64_t r_begin, int64_t r_end, const RowKernels& kern, Isa isa, float* scratch);

// Rows per dynamically scheduled chunk: about 64 KiB of weights (amortises the shared counter), at most m/(4·threads)
// so every thread gets several chunks, rounded up to whole 16-row panels.
int64_t row_chunk(int64_t m, size_t row_bytes, int n_threads);

// Calls work(begin, end, thread) for consecutive `chunk`-sized pieces of [0, n), handed out through an atomic
// counter: a thread that is descheduled (shared hosts) delays only the chunk it holds, not a static 1/N share.
// Results do not depend on which thread runs which chunk.
template <typename F>
void parallel_chunks(ThreadPool& pool, int64_t n, int64_t chunk, F&& work);

template <typename F>
void parallel_chunks(ThreadPool& pool, int64_t n, int64_t chunk, F&& work) {
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  const int64_t workers = n_chunks < pool.n_threads() ? n_chunks : pool.n_threads();
  std::atomic<int64_t> next{0};
  pool.parallel_for(workers, 1, [&](int64_t, int64_t, int thread) {
    for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < n_chunks; c = next.fetch_add(1, std::memory_order_relaxed)) {
      const int64_t b = c * chunk;
      work(b, b + chunk < n ? b + chunk : n, thread);
    }
  });
}

}  // namespace qh::cpu
