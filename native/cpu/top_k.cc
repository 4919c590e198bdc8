// TOP_K: x f32 {V, T} -> ids i32 {K, T}, values f32 {K, T}; the K largest of each row, best first, ties to the
// lower id (order: a before b iff a.v > b.v, or a.v == b.v and a.id < b.id). NaN ranks as -inf. p.i[0] = K.
// One pass per row with a size-K heap kept directly in the output row (worst candidate at the root), then an
// in-place heap sort: O(V log K), no scratch. Threads over rows.
#include <cmath>
#include <utility>

#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

inline float key(float v) { return std::isnan(v) ? -INFINITY : v; }
// a ranks before (is better than) b
inline bool better(float av, int32_t ai, float bv, int32_t bi) { return av > bv || (av == bv && ai < bi); }

// Restore the min-heap (root = worst) below node i of heap [0, n).
void sift_down(float* v, int32_t* id, int64_t i, int64_t n) {
  for (;;) {
    const int64_t l = 2 * i + 1, r = l + 1;
    int64_t w = i;
    if (l < n && better(v[w], id[w], v[l], id[l])) w = l;
    if (r < n && better(v[w], id[w], v[r], id[r])) w = r;
    if (w == i) return;
    std::swap(v[i], v[w]);
    std::swap(id[i], id[w]);
    i = w;
  }
}

Status run_top_k(const OpCall& call, KernelContext& ctx) {
  const Tensor& x = call.in[0];
  const Tensor& ids = call.out[0];
  const Tensor& vals = call.out[1];
  const int64_t V = x.ne[0], K = call.p.i[0];
  ctx.pool->parallel_for(x.nrows(), 1, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = na::row_at<const float>(x, r);
      int32_t* id = na::row_at<int32_t>(ids, r);
      float* v = na::row_at<float>(vals, r);
      for (int64_t i = 0; i < K; ++i) {
        v[i] = key(xr[i]);
        id[i] = static_cast<int32_t>(i);
      }
      for (int64_t i = K / 2; i-- > 0;) sift_down(v, id, i, K);
      for (int64_t i = K; i < V; ++i) {
        const float xv = key(xr[i]);
        if (better(xv, static_cast<int32_t>(i), v[0], id[0])) {
          v[0] = xv;
          id[0] = static_cast<int32_t>(i);
          sift_down(v, id, 0, K);
        }
      }
      // heap sort: repeatedly move the worst to the end -> best first
      for (int64_t n = K; n > 1; --n) {
        std::swap(v[0], v[n - 1]);
        std::swap(id[0], id[n - 1]);
        sift_down(v, id, 0, n - 1);
      }
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(TOP_K, run_top_k, nullptr);

}  // namespace qh::cpu
