// ADD / MUL: a f32 {n0, n1, n2, n3}, b f32 with b.ne[i] dividing a.ne[i] (ggml broadcasting: b repeats along
// every dim where it is smaller). out f32 = shape of a;
//   out[i0,i1,i2,i3] = a[i0,i1,i2,i3] (+|*) b[i0 % b0, i1 % b1, i2 % b2, i3 % b3].
// Work units = (row of a, block of kColBlock columns), so a single long row (decode) still uses every thread.
// Paths per unit: b0 == n0 (vector op), b0 == 1 (scalar broadcast), otherwise b0 | n0 (index modulo b0).
// One rounding per element in every path: scalar and AVX2 agree bit for bit.
#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

constexpr int64_t kColBlock = 8192;

enum class Bin { Add, Mul };

template <Bin B> inline float apply(float a, float b) {
  if constexpr (B == Bin::Add) return a + b;
  return a * b;
}

#ifdef QH_NA_X86
template <Bin B> QH_NA_AVX2 inline __m256 apply8(__m256 a, __m256 b) {
  if constexpr (B == Bin::Add) return _mm256_add_ps(a, b);
  return _mm256_mul_ps(a, b);
}

// y[i] = a[i] op b[i]
template <Bin B> QH_NA_AVX2 void vec_avx2(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, apply8<B>(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) y[i] = apply<B>(a[i], b[i]);
}
// y[i] = a[i] op s
template <Bin B> QH_NA_AVX2 void bcast_avx2(const float* a, float s, float* y, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, apply8<B>(_mm256_loadu_ps(a + i), vs));
  for (; i < n; ++i) y[i] = apply<B>(a[i], s);
}
#endif

template <Bin B>
Status run_binary(const OpCall& call, KernelContext& ctx) {
  const Tensor& a = call.in[0];
  const Tensor& b = call.in[1];
  const Tensor& y = call.out[0];
  const int64_t n0 = a.ne[0], b0 = b.ne[0];
  const int64_t ncb = (n0 + kColBlock - 1) / kColBlock;
  const bool simd = ctx.isa >= Isa::AVX2;
  ctx.pool->parallel_for(a.nrows() * ncb, 8192 / n0 + 1, [&](int64_t u0, int64_t u1, int) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t r = u / ncb;
      const int64_t c0 = (u % ncb) * kColBlock;
      const int64_t c1 = c0 + kColBlock < n0 ? c0 + kColBlock : n0;
      const int64_t i1 = r % a.ne[1], i2 = (r / a.ne[1]) % a.ne[2], i3 = r / (a.ne[1] * a.ne[2]);
      const float* ar = a.row<const float>(i1, i2, i3);
      const float* br = b.row<const float>(i1 % b.ne[1], i2 % b.ne[2], i3 % b.ne[3]);
      float* yr = y.row<float>(i1, i2, i3);
      if (b0 == n0) {
#ifdef QH_NA_X86
        if (simd) {
          vec_avx2<B>(ar + c0, br + c0, yr + c0, c1 - c0);
          continue;
        }
#endif
        for (int64_t c = c0; c < c1; ++c) yr[c] = apply<B>(ar[c], br[c]);
      } else if (b0 == 1) {
#ifdef QH_NA_X86
        if (simd) {
          bcast_avx2<B>(ar + c0, br[0], yr + c0, c1 - c0);
          continue;
        }
#endif
        for (int64_t c = c0; c < c1; ++c) yr[c] = apply<B>(ar[c], br[0]);
      } else {
        for (int64_t c = c0; c < c1; ++c) yr[c] = apply<B>(ar[c], br[c % b0]);
      }
    }
  });
  (void)simd;
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(ADD, run_binary<Bin::Add>, nullptr);
QH_CPU_KERNEL(MUL, run_binary<Bin::Mul>, nullptr);

}  // namespace qh::cpu
