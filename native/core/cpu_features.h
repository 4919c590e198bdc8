// Runtime CPU feature detection (what THIS machine can execute, not what the compiler targeted).
// A feature counts only if the CPU reports it AND the OS saves the register state it needs
// (XCR0: YMM for AVX2/FMA/F16C, ZMM + opmask for AVX-512).
#pragma once

namespace qh {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512f = false;
  bool fma = false;
  bool f16c = false;
};

CpuFeatures detect_cpu_features();

}  // namespace qh
