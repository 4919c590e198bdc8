// SSM_CONV: depthwise causal conv1d over [conv_state; x] with K taps per channel, then SiLU (spec §3.2 step 2).
//   x     f32 {C, T}    raw projections (row t = token t)
//   w     f32 {K, C}    w[c][k] at k + K c; tap K-1 multiplies the current token
//   state f32 {C, K-1}  row j = input at t-(K-1)+j (oldest first); updated to the last K-1 RAW input rows
//   out   f32 {C, T}    out[t][c] = SiLU(sum_k w[c][k] xin[t+k][c]),  xin = [state; x] ({C, K-1+T})
// Threads split the channels; each thread also rolls the state of its own channels, after its outputs.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "simd.h"
#include "kernel.h"

namespace qh::cpu {
namespace {

struct ConvArgs {
  const float* x;      // {C, T}
  const float* w;      // {K, C}
  float* state;        // {C, K-1}
  float* out;          // {C, T}
  float* wt;           // scratch {C, K}: wt[k][c] = w[c][k] (taps transposed so channels are contiguous)
  int64_t C, T, K;
};

// xin row r (r in [0, K-1+T)): state row r, then x row r-(K-1).
inline const float* xin_row(const ConvArgs& a, int64_t r) {
  return r < a.K - 1 ? a.state + r * a.C : a.x + (r - (a.K - 1)) * a.C;
}

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }

// state <- last K-1 rows of xin, for channels [c0, c1). Rows T.. of xin: when T < K-1 the state shifts up by T
// rows (ascending copy is safe: source row > destination row) and the T new rows follow.
void roll_state(const ConvArgs& a, int64_t c0, int64_t c1) {
  const int64_t n = a.K - 1, len = c1 - c0;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t r = a.T + j;  // xin row that becomes state row j
    const float* src = xin_row(a, r) + c0;
    float* dst = a.state + j * a.C + c0;
    if (src != dst) std::memmove(dst, src, static_cast<size_t>(len) * sizeof(float));
  }
}

void conv_scalar(const ConvArgs& a, int64_t c0, int64_t c1) {
  for (int64_t t = 0; t < a.T; ++t) {
    float* o = a.out + t * a.C;
    for (int64_t c = c0; c < c1; ++c) {
      float acc = 0.0f;  // sum_k w[c][k] * xin[t+k][c]
      for (int64_t k = 0; k < a.K; ++k) acc += a.w[c * a.K + k] * xin_row(a, t + k)[c];
      o[c] = silu(acc);
    }
  }
}

#if defined(QH_NA_X86)
QH_NA_AVX2 void conv_avx2(const ConvArgs& a, int64_t c0, int64_t c1) {
  using namespace na;
  for (int64_t k = 0; k < a.K; ++k)
    for (int64_t c = c0; c < c1; ++c) a.wt[k * a.C + c] = a.w[c * a.K + k];
  const int64_t c8 = c0 + (c1 - c0) / 8 * 8;
  for (int64_t t = 0; t < a.T; ++t) {
    float* o = a.out + t * a.C;
    int64_t c = c0;
    for (; c < c8; c += 8) {
      __m256 acc = _mm256_setzero_ps();
      for (int64_t k = 0; k < a.K; ++k)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a.wt + k * a.C + c), _mm256_loadu_ps(xin_row(a, t + k) + c), acc);
      _mm256_storeu_ps(o + c, silu256(acc));
    }
    for (; c < c1; ++c) {
      float acc = 0.0f;
      for (int64_t k = 0; k < a.K; ++k) acc = std::fma(a.wt[k * a.C + c], xin_row(a, t + k)[c], acc);
      o[c] = silu(acc);
    }
  }
}
#endif

size_t ssm_conv_scratch(const OpCall& call, int /*n_threads*/) {
  return static_cast<size_t>(call.in[1].ne[0] * call.in[1].ne[1]) * sizeof(float);
}

Status ssm_conv_run(const OpCall& call, KernelContext& ctx) {
  ConvArgs a;
  a.x = call.in[0].ptr<const float>();
  a.w = call.in[1].ptr<const float>();
  a.state = call.in[2].ptr<float>();
  a.out = call.out[0].ptr<float>();
  a.wt = static_cast<float*>(ctx.scratch);
  a.C = call.in[0].ne[0];
  a.T = call.in[0].ne[1];
  a.K = call.in[1].ne[0];
  const bool simd = ctx.isa != Isa::Scalar;
  // Blocks of 64 channels; a block costs ~T*K*64 FMAs, so ask for >= ~16k FMAs per thread.
  const int64_t nblk = (a.C + 63) / 64;
  const int64_t grain = std::max<int64_t>(1, 256 / std::max<int64_t>(1, a.T * a.K));
  ctx.pool->parallel_for(nblk, grain, [&](int64_t b0, int64_t b1, int) {
    const int64_t c0 = b0 * 64, c1 = std::min(a.C, b1 * 64);
#if defined(QH_NA_X86)
    if (simd) conv_avx2(a, c0, c1);
    else conv_scalar(a, c0, c1);
#else
    (void)simd;
    conv_scalar(a, c0, c1);
#endif
    roll_state(a, c0, c1);
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(SSM_CONV, ssm_conv_run, ssm_conv_scratch);

}  // namespace qh::cpu
