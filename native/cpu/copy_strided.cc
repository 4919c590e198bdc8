// COPY_STRIDED: src f32/i32 (contiguous, any shape) -> out contiguous {ne0, ne1, ne2, ne3} of the same type;
//   out[i0,i1,i2,i3] = src_flat[off + i0 + i1*s1 + i2*s2 + i3*s3],  off = p.i[0], s1..s3 = p.i[1..3]
// (element units; dim 0 is contiguous in src). The validator proves every read is inside src.
// One memcpy per output row, rows split over threads.
#include <cstring>

#include "kernel.h"

namespace qh::cpu {
namespace {

Status run_copy_strided(const OpCall& call, KernelContext& ctx) {
  const Tensor& src = call.in[0];
  const Tensor& y = call.out[0];
  const int64_t off = call.p.i[0], s1 = call.p.i[1], s2 = call.p.i[2], s3 = call.p.i[3];
  const size_t esz = 4;  // f32 and i32
  const size_t row_bytes = static_cast<size_t>(y.ne[0]) * esz;
  const char* s = static_cast<const char*>(src.data);
  ctx.pool->parallel_for(y.nrows(), 65536 / static_cast<int64_t>(row_bytes) + 1, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i1 = r % y.ne[1], i2 = (r / y.ne[1]) % y.ne[2], i3 = r / (y.ne[1] * y.ne[2]);
      const int64_t e = off + i1 * s1 + i2 * s2 + i3 * s3;
      std::memcpy(y.row<char>(i1, i2, i3), s + static_cast<size_t>(e) * esz, row_bytes);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(COPY_STRIDED, run_copy_strided, nullptr);

}  // namespace qh::cpu
