// Host-side check of native/cuda/quant_traits.cuh against the CPU backend's scalar dequantization
// (native/cpu/quant_dot_scalar.cc, itself checked against ggml): for every weight type, random block bytes
// (random half scales too, so subnormals, inf and NaN occur) are dequantized both ways and compared bit for
// bit (NaN = any NaN), through both the 8-element (GEMM tiles) and 16-element (GEMV) loaders. Runs without a GPU: the traits are __host__ __device__.
// Build: nvcc -std=c++17 test/native/quant_traits_check.cu native/cpu/quant_dot_scalar.cc -o check
// Output: one line per type "TYPE ok N" or "TYPE MISMATCH ...", exit status 1 on any mismatch.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../../native/cpu/quant_dot.h"
#include "../../native/cuda/matmul.cuh"
#include "../../native/cuda/quant_traits.cuh"

using qh::DType;

template <DType T>
static int check(const char* name, int64_t k, int rows, std::mt19937& rng) {
  using Q = qh::cuda::QTraits<T>;
  const qh::cpu::DequantFn dq = qh::cpu::row_kernels_scalar(T).dequant;
  const int64_t elem_bytes = Q::kPlain ? Q::kBytes / 8 : 0;
  const int64_t row_bytes = Q::kPlain ? k * elem_bytes : k / Q::kQK * Q::kBytes;
  const int64_t n_units = Q::kPlain ? k : k / Q::kQK;  // what the CPU dequant counts
  // 16-byte aligned rows as on the device.
  const int64_t stride = (row_bytes + 15) / 16 * 16;
  std::vector<uint64_t> storage(static_cast<size_t>(stride * rows / 8 + 2));
  uint8_t* base = reinterpret_cast<uint8_t*>(storage.data());
  for (int64_t i = 0; i < stride * rows; ++i) base[i] = static_cast<uint8_t>(rng() & 0xff);
  std::vector<float> ref(static_cast<size_t>(k)), got(static_cast<size_t>(k) + 8);
  int64_t checked = 0;
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = base + r * stride;
    dq(row, n_units, ref.data());
    for (int64_t g = 0; g < (k + 7) / 8; ++g) qh::cuda::qh_row_load8<T>(row, g, k, got.data() + 8 * g);
    for (int64_t i = 0; i < k; ++i) {
      const float a = ref[static_cast<size_t>(i)], b = got[static_cast<size_t>(i)];
      uint32_t ua, ub;
      std::memcpy(&ua, &a, 4);
      std::memcpy(&ub, &b, 4);
      const bool same = (std::isnan(a) && std::isnan(b)) || ua == ub;
      if (!same) {
        std::printf("%s MISMATCH row %d elem %lld: cpu %.9g (0x%08x) cuda-trait %.9g (0x%08x)\n", name, r,
                    static_cast<long long>(i), a, ua, b, ub);
        return 1;
      }
      ++checked;
    }
    for (int64_t i = k; i < (k + 7) / 8 * 8; ++i) {
      if (got[static_cast<size_t>(i)] != 0.0f) {
        std::printf("%s MISMATCH tail elem %lld not zero\n", name, static_cast<long long>(i));
        return 1;
      }
    }
    // 16-element loads (the GEMV's), 128-bit path (rows here are 16-byte aligned) and element path.
    for (int vec = 0; vec < 2; ++vec) {
      std::vector<float> got16(static_cast<size_t>((k + 15) / 16 * 16));
      for (int64_t g = 0; g < (k + 15) / 16; ++g) qh::cuda::qh_row_load16<T>(row, g, k, vec != 0, got16.data() + 16 * g);
      for (int64_t i = 0; i < static_cast<int64_t>(got16.size()); ++i) {
        const float a = i < k ? ref[static_cast<size_t>(i)] : 0.0f, b = got16[static_cast<size_t>(i)];
        uint32_t ua, ub;
        std::memcpy(&ua, &a, 4);
        std::memcpy(&ub, &b, 4);
        if (!((std::isnan(a) && std::isnan(b)) || ua == ub)) {
          std::printf("%s MISMATCH load16 (vec %d) row %d elem %lld: cpu %.9g (0x%08x) cuda-trait %.9g (0x%08x)\n", name, vec, r,
                      static_cast<long long>(i), a, ua, b, ub);
          return 1;
        }
        ++checked;
      }
    }
  }
  std::printf("%s ok %lld\n", name, static_cast<long long>(checked));
  return 0;
}

int main() {
  std::mt19937 rng(12345);
  int bad = 0;
  bad += check<DType::F32>("F32", 37, 9, rng);
  bad += check<DType::F32>("F32", 64, 9, rng);
  bad += check<DType::F16>("F16", 45, 9, rng);
  bad += check<DType::F16>("F16", 48, 9, rng);
  bad += check<DType::BF16>("BF16", 1027, 9, rng);
  bad += check<DType::Q4_0>("Q4_0", 32 * 33, 40, rng);
  bad += check<DType::Q4_1>("Q4_1", 32 * 33, 40, rng);
  bad += check<DType::Q5_0>("Q5_0", 32 * 33, 40, rng);
  bad += check<DType::Q5_1>("Q5_1", 32 * 33, 40, rng);
  bad += check<DType::Q8_0>("Q8_0", 32 * 33, 40, rng);
  bad += check<DType::Q4_K>("Q4_K", 256 * 5, 64, rng);
  bad += check<DType::Q5_K>("Q5_K", 256 * 5, 64, rng);
  bad += check<DType::Q6_K>("Q6_K", 256 * 5, 64, rng);
  // Variant choice (matmul.cuh): a pure function of (tokens, forced variant).
  int vbad = 0;
  for (int64_t T = 1; T <= 300; ++T) {
    if (qh::cuda::mm_choose_variant(T, qh::cuda::kMmAuto) != (T <= 8 ? qh::cuda::kMmGemv : qh::cuda::kMmMma)) ++vbad;
    if (qh::cuda::mm_choose_variant(T, qh::cuda::kMmGemv) != qh::cuda::kMmGemv) ++vbad;
    if (qh::cuda::mm_choose_variant(T, qh::cuda::kMmMma) != qh::cuda::kMmMma) ++vbad;
    if (qh::cuda::mm_choose_variant(T, 3) != -1) ++vbad;
    const int tile = qh::cuda::mm_tile_pairs(qh::cuda::kMmGemv, T);
    if (tile != (T <= 1 ? 1 : T <= 2 ? 2 : T <= 4 ? 4 : 8)) ++vbad;
    if (qh::cuda::mm_tile_pairs(qh::cuda::kMmMma, T) != 64) ++vbad;
  }
  std::printf(vbad == 0 ? "variants ok\n" : "variants MISMATCH\n");
  return bad == 0 && vbad == 0 ? 0 : 1;
}
