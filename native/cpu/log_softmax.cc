// LOG_SOFTMAX: x f32 {V, T} -> y f32 {V, T};  y[i] = x[i] - m - log(sum_j e^(x[j] - m)),  m = max_j x[j],
// along ne[0]; the sum of exponentials is accumulated in f64 (V = 248320 terms).
// Rows are cut into fixed kChunk-column chunks so one long decode row still uses every thread; partial maxima
// and f64 partial sums go to scratch and are combined in chunk order, so the result does not depend on the
// thread count. Scalar: libm expf; AVX2: na::exp256 (~2 ulp), summed in f64 lanes.
#include <cmath>

#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

constexpr int64_t kChunk = 16384;

int64_t n_chunks(int64_t v) { return (v + kChunk - 1) / kChunk; }

size_t log_softmax_scratch(const OpCall& call, int) {
  const Tensor& x = call.in[0];
  return static_cast<size_t>(x.nrows() * n_chunks(x.ne[0])) * (sizeof(double) + sizeof(float));
}

float max_scalar(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
double sum_exp_scalar(const float* x, int64_t n, float m) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(std::exp(x[i] - m));
  return s;
}

#ifdef QH_NA_X86
QH_NA_AVX2 float max_avx2(const float* x, int64_t n) {
  __m256 vm = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
  float m = na::hmax256(vm);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
QH_NA_AVX2 double sum_exp_avx2(const float* x, int64_t n, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = na::exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(a0, a1));
  double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) s += static_cast<double>(std::exp(x[i] - m));
  return s;
}
#endif

Status run_log_softmax(const OpCall& call, KernelContext& ctx) {
  const Tensor& x = call.in[0];
  const Tensor& y = call.out[0];
  const int64_t V = x.ne[0], R = x.nrows(), nc = n_chunks(V);
  double* psum = static_cast<double*>(ctx.scratch);   // [R][nc]
  float* pmax = reinterpret_cast<float*>(psum + R * nc);  // [R][nc]
  const bool simd = ctx.isa >= Isa::AVX2;
  (void)simd;
  auto chunk = [&](int64_t u, const float*& xs, int64_t& n, int64_t& r) {
    r = u / nc;
    const int64_t c0 = (u % nc) * kChunk;
    n = (V - c0) < kChunk ? (V - c0) : kChunk;
    xs = na::row_at<const float>(x, r) + c0;
  };
  // chunk maxima
  ctx.pool->parallel_for(R * nc, 1, [&](int64_t u0, int64_t u1, int) {
    for (int64_t u = u0; u < u1; ++u) {
      const float* xs;
      int64_t n, r;
      chunk(u, xs, n, r);
#ifdef QH_NA_X86
      if (simd) {
        pmax[u] = max_avx2(xs, n);
        continue;
      }
#endif
      pmax[u] = max_scalar(xs, n);
    }
  });
  // chunk sums of e^(x - m_row) in f64
  ctx.pool->parallel_for(R * nc, 1, [&](int64_t u0, int64_t u1, int) {
    for (int64_t u = u0; u < u1; ++u) {
      const float* xs;
      int64_t n, r;
      chunk(u, xs, n, r);
      float m = -INFINITY;
      for (int64_t c = 0; c < nc; ++c) m = pmax[r * nc + c] > m ? pmax[r * nc + c] : m;
#ifdef QH_NA_X86
      if (simd) {
        psum[u] = sum_exp_avx2(xs, n, m);
        continue;
      }
#endif
      psum[u] = sum_exp_scalar(xs, n, m);
    }
  });
  // y = x - (m + log(sum)), sums combined in chunk order
  ctx.pool->parallel_for(R * nc, 1, [&](int64_t u0, int64_t u1, int) {
    for (int64_t u = u0; u < u1; ++u) {
      const float* xs;
      int64_t n, r;
      chunk(u, xs, n, r);
      float m = -INFINITY;
      double sum = 0.0;
      for (int64_t c = 0; c < nc; ++c) {
        m = pmax[r * nc + c] > m ? pmax[r * nc + c] : m;
        sum += psum[r * nc + c];
      }
      const double lse = static_cast<double>(m) + std::log(sum);
      float* ys = na::row_at<float>(y, r) + (u % nc) * kChunk;
      for (int64_t i = 0; i < n; ++i) ys[i] = static_cast<float>(static_cast<double>(xs[i]) - lse);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(LOG_SOFTMAX, run_log_softmax, log_softmax_scratch);

}  // namespace qh::cpu
