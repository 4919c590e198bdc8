// SSM_CONV: depthwise causal conv1d over [conv_state; x] with K taps per channel, then SiLU (spec §3.2 step 2;
// native/cpu/ssm_conv.cc is the reference).
//   x     f32 {C, T}    raw projections (row t = token t)
//   w     f32 {K, C}    w[c][k] at k + K c; tap K-1 multiplies the current token
//   state f32 {C, K-1}  row r = input at t-(K-1)+r (oldest first); updated to the last K-1 RAW rows of xin
//   out   f32 {C, T}    out[t][c] = SiLU(sum_k w[c][k] xin[t+k][c]),  xin = [state; x] ({C, K-1+T})
// Two launches on the stream: the conv (one thread per output, taps summed in k order with fmaf as the CPU's
// SIMD path) reads the old state; only after it has finished does the second launch roll the state (one thread
// per channel). With T < K-1 the new state mixes old state rows and new inputs: state row r <- xin row T + r,
// copied in ascending r by the one thread of that channel, and xin row T + r (state row T + r while T + r < K-1)
// is never a row already overwritten (T + r > r), so the in-place roll is race-free.
#include "backend.cuh"

namespace qh::cuda {
namespace {

constexpr int kBlock = 256;

// xin row r of channel c: state row r, then x row r-(K-1).
__device__ __forceinline__ float xin(const float* __restrict__ x, const float* state, int64_t C, int64_t K, int64_t r, int64_t c) {
  return r < K - 1 ? state[r * C + c] : x[(r - (K - 1)) * C + c];
}

__global__ void ssm_conv_kernel(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ state,
                                float* __restrict__ out, int64_t C, int64_t T, int64_t K) {
  const int64_t n = C * T;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = e / C, c = e % C;
    float acc = 0.0f;
    for (int64_t k = 0; k < K; ++k) acc = fmaf(w[c * K + k], xin(x, state, C, K, t + k, c), acc);
    out[e] = acc / (1.0f + expf(-acc));
  }
}

__global__ void ssm_conv_roll_kernel(const float* __restrict__ x, float* state, int64_t C, int64_t T, int64_t K) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    for (int64_t r = 0; r < K - 1; ++r) state[r * C + c] = xin(x, state, C, K, T + r, c);
  }
}

Status ssm_conv_run(const OpCall& call, CudaKernelContext& ctx) {
  const float* x = call.in[0].ptr<const float>();
  const float* w = call.in[1].ptr<const float>();
  float* state = call.in[2].ptr<float>();
  const int64_t C = call.in[0].ne[0], T = call.in[0].ne[1], K = call.in[1].ne[0];
  ssm_conv_kernel<<<grid_for(C * T, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(x, w, state, call.out[0].ptr<float>(), C, T, K);
  QH_RETURN_IF_ERROR(launch_status("ssm_conv_kernel"));
  ssm_conv_roll_kernel<<<grid_for(C, kBlock, ctx.sm_count), kBlock, 0, ctx.stream>>>(x, state, C, T, K);
  return launch_status("ssm_conv_roll_kernel");
}

}  // namespace

QH_CUDA_KERNEL(SSM_CONV, ssm_conv_run, nullptr);

}  // namespace qh::cuda
