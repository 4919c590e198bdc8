// GET_ROWS: W {n, rows} (any weight type), ids i32 {T} -> out f32 {n, T};  out[t] = dequant(W[ids[t]]).
// The embedding lookup; multi-threaded over tokens.
#include <cstdint>
#include <string>

#include "kernel.h"
#include "quant_dot.h"

namespace qh::cpu {
namespace {

Status get_rows_run(const OpCall& call, KernelContext& ctx) {
  const Tensor& W = call.in[0];    // {n, rows}
  const Tensor& ids = call.in[1];  // i32 {T}
  const Tensor& out = call.out[0]; // f32 {n, T}
  const int64_t n = W.ne[0], rows = W.ne[1], T = ids.ne[0];
  const int32_t* id = ids.ptr<const int32_t>();
  for (int64_t t = 0; t < T; ++t) {  // ids are data: checked before any work
    if (id[t] < 0 || id[t] >= rows) {
      return Status::error("INVALID_ARGUMENT", "GET_ROWS op: input 1 (ids) [" + std::to_string(t) + "] = " +
                                                   std::to_string(id[t]) + " is not a row of input 0 (W) in [0, " +
                                                   std::to_string(rows) + ")");
    }
  }
  const DequantFn dq = select_row_kernels(W.type, ctx.isa).dequant;
  const int64_t nblocks = n / dtype_info(W.type)->block_size;
  const int64_t grain = 16384 / n > 1 ? 16384 / n : 1;
  ctx.pool->parallel_for(T, grain, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) dq(W.row<const char>(id[t]), nblocks, out.row<float>(t));
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(GET_ROWS, get_rows_run, nullptr);

}  // namespace qh::cpu
