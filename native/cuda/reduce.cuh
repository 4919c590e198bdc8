// Block-wide reductions for the row kernels (rms_norm, l2_norm, log_softmax, argmax, moe_router). Every thread
// of the block must call them (they use __syncthreads); the result is returned to every thread.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace qh::cuda {

constexpr int kRowBlock = 256;  // threads per block in the row kernels (8 warps)

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// T = float or double. `shared` holds at least blockDim.x / 32 values.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // shared may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T r = 0;
  for (int w = 0; w < nw; ++w) r += shared[w];  // fixed order: deterministic
  return r;
}

__device__ __forceinline__ float block_max(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = -INFINITY;
  for (int w = 0; w < nw; ++w) r = fmaxf(r, shared[w]);
  return r;
}

// (value, index) best-of with the ops' tie rule: larger value wins, equal values keep the lower index. NaN
// never wins (callers map NaN to -inf first where the op says so).
__device__ __forceinline__ bool better(float av, int32_t ai, float bv, int32_t bi) { return av > bv || (av == bv && ai < bi); }

__device__ __forceinline__ void warp_best(float* v, int32_t* i) {
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, *v, o);
    const int32_t oi = __shfl_xor_sync(0xffffffffu, *i, o);
    if (better(ov, oi, *v, *i)) {
      *v = ov;
      *i = oi;
    }
  }
}

// shared_v / shared_i: blockDim.x / 32 entries each.
__device__ __forceinline__ void block_best(float* v, int32_t* i, float* shared_v, int32_t* shared_i) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  warp_best(v, i);
  __syncthreads();
  if (lane == 0) {
    shared_v[warp] = *v;
    shared_i[warp] = *i;
  }
  __syncthreads();
  float bv = shared_v[0];
  int32_t bi = shared_i[0];
  for (int w = 1; w < nw; ++w)
    if (better(shared_v[w], shared_i[w], bv, bi)) {
      bv = shared_v[w];
      bi = shared_i[w];
    }
  *v = bv;
  *i = bi;
}

}  // namespace qh::cuda
