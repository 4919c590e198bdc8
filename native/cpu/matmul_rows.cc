#include "matmul_rows.h"

namespace qh::cpu {

size_t row_scratch_floats(int64_t k) {
  const int64_t panel = kRowBlock * kChunk;
  const int64_t n = k > panel ? k : panel;
  return static_cast<size_t>((n + 15) / 16 * 16);
}

int64_t row_chunk(int64_t m, size_t row_bytes, int n_threads) {
  int64_t c = static_cast<int64_t>((65536 + row_bytes - 1) / (row_bytes > 0 ? row_bytes : 1));
  const int64_t share = (m + 4 * n_threads - 1) / (4 * static_cast<int64_t>(n_threads));
  if (share < c) c = share;
  if (c < 1) c = 1;
  return (c + kRowBlock - 1) / kRowBlock * kRowBlock;
}

namespace {

// Reference: w = dequant(W[r]) (k floats), y_t[r] = Σ_c w[c]·x_t[c] summed in order.
void rows_scalar(const RowJob& job, int64_t r0, int64_t r1, const RowKernels& kern, float* scratch) {
  const DTypeInfo* info = dtype_info(job.type);
  for (int64_t r = r0; r < r1; ++r) {
    const char* row = job.W + static_cast<size_t>(r) * job.row_bytes;
    const float* w = scratch;
    if (job.type == DType::F32) w = reinterpret_cast<const float*>(row);
    else kern.dequant(row, job.k / info->block_size, scratch);
    for (int64_t t = 0; t < job.ntok; ++t) {
      const float* x = job.xrows[t];
      float s = 0.0f;
      for (int64_t c = 0; c < job.k; ++c) s += w[c] * x[c];
      job.yrows[t][r] = s;
    }
  }
}

}  // namespace

void run_rows(const RowJob& job, int64_t r0, int64_t r1, const RowKernels& kern, Isa isa, float* scratch) {
  if (isa == Isa::Scalar) return rows_scalar(job, r0, r1, kern, scratch);

  if (job.ntok == 1) {
    const float* x = job.xrows[0];
    float* y = job.yrows[0];
    for (int64_t r = r0; r < r1; ++r) y[r] = kern.dot1(job.W + static_cast<size_t>(r) * job.row_bytes, x, job.k);
    return;
  }

  const DTypeInfo* info = dtype_info(job.type);
  const int64_t bs = info->block_size, bb = info->block_bytes;
  for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const int64_t rows = r1 - rb < kRowBlock ? r1 - rb : kRowBlock;
    for (int64_t c0 = 0; c0 < job.k; c0 += kChunk) {
      const int64_t n = job.k - c0 < kChunk ? job.k - c0 : kChunk;
      PanelArgs a{};
      if (job.type == DType::F32) {  // already f32: the panel reads the weight rows in place
        a.W = reinterpret_cast<const float*>(job.W + static_cast<size_t>(rb) * job.row_bytes) + c0;
        a.ldw = static_cast<int64_t>(job.row_bytes / sizeof(float));
      } else {
        for (int64_t i = 0; i < rows; ++i) {
          const char* src = job.W + static_cast<size_t>(rb + i) * job.row_bytes + static_cast<size_t>(c0 / bs * bb);
          kern.dequant(src, n / bs, scratch + i * kChunk);
        }
        a.W = scratch;
        a.ldw = kChunk;
      }
      a.rows = rows;
      a.xrows = job.xrows;
      a.c0 = c0;
      a.n = n;
      a.yrows = job.yrows;
      a.r0 = rb;
      a.ntok = job.ntok;
      a.accumulate = c0 > 0;
      kern.panel(a);
    }
  }
}

}  // namespace qh::cpu
