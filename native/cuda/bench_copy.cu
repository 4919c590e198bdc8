// Reference rates measured in the same run as the kernel benches (bench/gpu/lib.ts):
//   bench_copy      device-to-device cudaMemcpyAsync: the memory roof GEMV bandwidth is compared with.
//   bench_gemm_f16  a dense fp16 tensor-core GEMM (own mma.sync kernel; no cuBLAS in the offline toolkit): the
//                   compute roof the prefill GEMM's TFLOP/s is compared with.
// Both time `iters` launches after one warm-up with CUDA events on a private stream.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "backend.cuh"

namespace qh::cuda {

namespace {

// Owns a stream, two events and up to three device buffers; frees on every path.
struct BenchScope {
  cudaStream_t stream = nullptr;
  cudaEvent_t t0 = nullptr, t1 = nullptr;
  void* buf[3] = {nullptr, nullptr, nullptr};
  ~BenchScope() {
    if (stream) cudaStreamSynchronize(stream);
    for (void* b : buf)
      if (b) cudaFree(b);
    if (t0) cudaEventDestroy(t0);
    if (t1) cudaEventDestroy(t1);
    if (stream) cudaStreamDestroy(stream);
  }
  Status init(const char* what) {
    QH_CUDA_STATUS(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), what);
    QH_CUDA_STATUS(cudaEventCreate(&t0), what);
    QH_CUDA_STATUS(cudaEventCreate(&t1), what);
    return Status::ok();
  }
  Status alloc(int i, size_t bytes, const char* what) {
    const cudaError_t e = cudaMalloc(&buf[i], bytes);
    if (e != cudaSuccess) {
      buf[i] = nullptr;
      cudaGetLastError();
      return Status::error("OUT_OF_MEMORY", std::string(what) + ": cudaMalloc of " + human_bytes(bytes) + " failed: " + cudaGetErrorString(e));
    }
    return Status::ok();
  }
};

Status open_device(int device, const char* what) {
  const DeviceList list = list_devices();
  if (!list.available) return Status::error("NO_CUDA_DEVICE", std::string(what) + ": " + list.reason);
  if (device < 0 || device >= static_cast<int>(list.devices.size())) {
    return Status::error("INVALID_ARGUMENT", std::string(what) + ": device " + std::to_string(device) + " out of range");
  }
  QH_CUDA_STATUS(cudaSetDevice(device), what);
  return Status::ok();
}

// ---- dense fp16 GEMM: C{M, N} f32 = A{M, K} · Bt{N, K}ᵀ, A and Bt row-major (K contiguous, like weight rows) ----
// Block tile 128×128×32, 8 warps as 2 (M) × 4 (N), warp tile 64×32 = 4×4 mma.m16n8k16 (f16 in, f32 accumulate).
// Tiles stream global → shared with cp.async (16 B per copy, double-buffered); fragments via ldmatrix.
// Shared rows are padded to 40 halves (80 B: 16-byte aligned for ldmatrix, and consecutive rows fall on
// different banks). Requires M, N multiples of 128 and K of 32 (the bench picks such shapes).
constexpr int kBM = 128, kBN = 128, kBK = 32, kPad = 40;
constexpr int kGemmThreads = 256;

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(smem)), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem)));
}

__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], const uint32_t b[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// One 128×32 tile of a row-major {rows, K} matrix: 512 16-byte chunks, 2 per thread.
__device__ __forceinline__ void load_tile(__half (*dst)[kPad], const __half* src, int64_t ld, int tid) {
  for (int c = tid; c < kBM * (kBK / 8); c += kGemmThreads) {
    const int r = c / (kBK / 8), k8 = (c % (kBK / 8)) * 8;
    cp_async16(&dst[r][k8], src + r * ld + k8);
  }
}

__global__ void __launch_bounds__(kGemmThreads) gemm_f16_kernel(const __half* __restrict__ A, const __half* __restrict__ Bt, float* __restrict__ C,
                                                               int M, int N, int K) {
  __shared__ __align__(16) __half sa[2][kBM][kPad];
  __shared__ __align__(16) __half sb[2][kBN][kPad];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kBM, n0 = static_cast<int64_t>(blockIdx.x) * kBN;
  const __half* a_blk = A + m0 * K;
  const __half* b_blk = Bt + n0 * K;
  float acc[4][4][4] = {};

  const int kt_n = K / kBK;
  load_tile(sa[0], a_blk, K, tid);
  load_tile(sb[0], b_blk, K, tid);
  cp_async_commit();
  for (int kt = 0; kt < kt_n; ++kt) {
    const int cur = kt & 1;
    if (kt + 1 < kt_n) {
      load_tile(sa[cur ^ 1], a_blk + (kt + 1) * kBK, K, tid);
      load_tile(sb[cur ^ 1], b_blk + (kt + 1) * kBK, K, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    for (int ks = 0; ks < kBK; ks += 16) {
      uint32_t af[4][4], bf[4][2];
      // A 16×16 fragments: lane l addresses row l % 16, column block (l / 16) * 8.
      for (int i = 0; i < 4; ++i) ldmatrix_x4(af[i], &sa[cur][wm + i * 16 + (lane & 15)][ks + (lane >> 4) * 8]);
      // B: two n8 tiles per ldmatrix.x4; lane l addresses n = (l / 16) * 8 + l % 8, k block ((l / 8) % 2) * 8.
      for (int j = 0; j < 2; ++j) {
        uint32_t r[4];
        ldmatrix_x4(r, &sb[cur][wn + j * 16 + (lane >> 4) * 8 + (lane & 7)][ks + ((lane >> 3) & 1) * 8]);
        bf[2 * j][0] = r[0];
        bf[2 * j][1] = r[1];
        bf[2 * j + 1][0] = r[2];
        bf[2 * j + 1][1] = r[3];
      }
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) mma_16816(acc[i][j], af[i], bf[j]);
    }
    __syncthreads();
  }
  // C fragment: c0, c1 at (row g, cols 2t, 2t+1), c2, c3 at row g + 8; g = lane / 4, t = lane % 4.
  const int g = lane >> 2, t4 = lane & 3;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const int64_t r = m0 + wm + i * 16 + g;
      const int64_t c = n0 + wn + j * 8 + t4 * 2;
      C[r * N + c] = acc[i][j][0];
      C[r * N + c + 1] = acc[i][j][1];
      C[(r + 8) * N + c] = acc[i][j][2];
      C[(r + 8) * N + c + 1] = acc[i][j][3];
    }
  (void)M;
}

// Small exactly representable values (multiples of 1/16 in [-0.5, 0.5]) so sums stay finite.
__global__ void fill_half_kernel(__half* x, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint32_t h = (static_cast<uint32_t>(i) ^ seed) * 2654435761u;
    x[i] = __float2half(static_cast<float>(static_cast<int>((h >> 16) % 17u) - 8) / 16.0f);
  }
}

}  // namespace

Status bench_copy(int device, size_t bytes, int iters, double* seconds) {
  if (bytes == 0 || iters < 1) return Status::error("INVALID_ARGUMENT", "cudaBenchCopy: bytes > 0 and iters >= 1 required");
  DeviceGuard guard;
  QH_RETURN_IF_ERROR(open_device(device, "cudaBenchCopy"));
  QH_RETURN_IF_ERROR(guard.enter(device));
  BenchScope s;
  QH_RETURN_IF_ERROR(s.init("cudaBenchCopy"));
  QH_RETURN_IF_ERROR(s.alloc(0, bytes, "cudaBenchCopy src"));
  QH_RETURN_IF_ERROR(s.alloc(1, bytes, "cudaBenchCopy dst"));
  QH_CUDA_STATUS(cudaMemsetAsync(s.buf[0], 1, bytes, s.stream), "cudaBenchCopy");
  QH_CUDA_STATUS(cudaMemcpyAsync(s.buf[1], s.buf[0], bytes, cudaMemcpyDeviceToDevice, s.stream), "cudaBenchCopy warm-up");
  QH_CUDA_STATUS(cudaEventRecord(s.t0, s.stream), "cudaBenchCopy");
  for (int i = 0; i < iters; ++i)
    QH_CUDA_STATUS(cudaMemcpyAsync(s.buf[1], s.buf[0], bytes, cudaMemcpyDeviceToDevice, s.stream), "cudaBenchCopy");
  QH_CUDA_STATUS(cudaEventRecord(s.t1, s.stream), "cudaBenchCopy");
  QH_CUDA_STATUS(cudaEventSynchronize(s.t1), "cudaBenchCopy");
  float ms = 0;
  QH_CUDA_STATUS(cudaEventElapsedTime(&ms, s.t0, s.t1), "cudaBenchCopy");
  *seconds = static_cast<double>(ms) / 1000.0;
  return Status::ok();
}

Status bench_gemm_f16(int device, int m, int n, int k, int iters, double* seconds) {
  if (m <= 0 || n <= 0 || k <= 0 || m % kBM || n % kBN || k % kBK || k > 16384 || iters < 1) {
    return Status::error("INVALID_ARGUMENT", "cudaBenchGemmF16: m, n multiples of 128, k a multiple of 32 up to 16384, iters >= 1 required; got m=" +
                                                 std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
  }
  DeviceGuard guard;
  QH_RETURN_IF_ERROR(open_device(device, "cudaBenchGemmF16"));
  QH_RETURN_IF_ERROR(guard.enter(device));
  int major = 0;
  QH_CUDA_STATUS(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaBenchGemmF16");
  if (major < 8) return Status::error("BACKEND_UNAVAILABLE", "cudaBenchGemmF16: mma.sync f16 needs sm_80 or newer");
  BenchScope s;
  QH_RETURN_IF_ERROR(s.init("cudaBenchGemmF16"));
  const size_t a_n = static_cast<size_t>(m) * k, b_n = static_cast<size_t>(n) * k, c_n = static_cast<size_t>(m) * n;
  QH_RETURN_IF_ERROR(s.alloc(0, a_n * sizeof(__half), "cudaBenchGemmF16 A"));
  QH_RETURN_IF_ERROR(s.alloc(1, b_n * sizeof(__half), "cudaBenchGemmF16 B"));
  QH_RETURN_IF_ERROR(s.alloc(2, c_n * sizeof(float), "cudaBenchGemmF16 C"));
  __half* A = static_cast<__half*>(s.buf[0]);
  __half* B = static_cast<__half*>(s.buf[1]);
  float* C = static_cast<float*>(s.buf[2]);
  fill_half_kernel<<<1024, 256, 0, s.stream>>>(A, static_cast<int64_t>(a_n), 0x1234u);
  QH_RETURN_IF_ERROR(launch_status("fill_half_kernel"));
  fill_half_kernel<<<1024, 256, 0, s.stream>>>(B, static_cast<int64_t>(b_n), 0x9876u);
  QH_RETURN_IF_ERROR(launch_status("fill_half_kernel"));
  const dim3 grid(static_cast<unsigned>(n / kBN), static_cast<unsigned>(m / kBM));
  gemm_f16_kernel<<<grid, kGemmThreads, 0, s.stream>>>(A, B, C, m, n, k);
  QH_RETURN_IF_ERROR(launch_status("gemm_f16_kernel"));
  // Self-check of the warm-up result at 64 spread-out elements: inputs are multiples of 1/16 in [-0.5, 0.5], so
  // every product is a multiple of 1/256 and every partial sum (|s| <= k/4) is exact in f32 for k <= 2^14:
  // the kernel must match the f64 host dot exactly. A wrong fragment layout cannot report a rate.
  {
    std::vector<__half> ha(a_n), hb(b_n);
    std::vector<float> hc(c_n);
    QH_CUDA_STATUS(cudaMemcpyAsync(ha.data(), A, a_n * sizeof(__half), cudaMemcpyDeviceToHost, s.stream), "cudaBenchGemmF16 check");
    QH_CUDA_STATUS(cudaMemcpyAsync(hb.data(), B, b_n * sizeof(__half), cudaMemcpyDeviceToHost, s.stream), "cudaBenchGemmF16 check");
    QH_CUDA_STATUS(cudaMemcpyAsync(hc.data(), C, c_n * sizeof(float), cudaMemcpyDeviceToHost, s.stream), "cudaBenchGemmF16 check");
    QH_CUDA_STATUS(cudaStreamSynchronize(s.stream), "cudaBenchGemmF16 check");
    for (int q = 0; q < 64; ++q) {
      const int64_t r = (static_cast<int64_t>(q) * 7919) % m, c = (static_cast<int64_t>(q) * 104729 + 13) % n;
      double ref = 0;
      for (int64_t kk = 0; kk < k; ++kk)
        ref += static_cast<double>(__half2float(ha[static_cast<size_t>(r * k + kk)])) * static_cast<double>(__half2float(hb[static_cast<size_t>(c * k + kk)]));
      const float got = hc[static_cast<size_t>(r * n + c)];
      if (static_cast<double>(got) != ref) {
        return Status::error("INVALID_ARGUMENT", "cudaBenchGemmF16: self-check failed at C[" + std::to_string(r) + "][" + std::to_string(c) +
                                                     "]: got " + std::to_string(got) + ", expected " + std::to_string(ref));
      }
    }
  }
  QH_CUDA_STATUS(cudaEventRecord(s.t0, s.stream), "cudaBenchGemmF16");
  for (int i = 0; i < iters; ++i) gemm_f16_kernel<<<grid, kGemmThreads, 0, s.stream>>>(A, B, C, m, n, k);
  QH_RETURN_IF_ERROR(launch_status("gemm_f16_kernel"));
  QH_CUDA_STATUS(cudaEventRecord(s.t1, s.stream), "cudaBenchGemmF16");
  QH_CUDA_STATUS(cudaEventSynchronize(s.t1), "cudaBenchGemmF16");
  float ms = 0;
  QH_CUDA_STATUS(cudaEventElapsedTime(&ms, s.t0, s.t1), "cudaBenchGemmF16");
  *seconds = static_cast<double>(ms) / 1000.0;
  return Status::ok();
}

}  // namespace qh::cuda
