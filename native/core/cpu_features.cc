#include "cpu_features.h"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#define QH_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#include <immintrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace qh {

#ifdef QH_X86

// regs = {eax, ebx, ecx, edx} of CPUID(leaf, subleaf); false if the leaf is beyond the max leaf.
static bool cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
#if defined(_MSC_VER)
  int r[4];
  __cpuid(r, 0);
  if (static_cast<uint32_t>(r[0]) < leaf) return false;
  __cpuidex(r, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) regs[i] = static_cast<uint32_t>(r[i]);
  return true;
#else
  return __get_cpuid_count(leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3]) != 0;
#endif
}

// XCR0 (which register files the OS saves on context switch). Only valid when OSXSAVE is set.
static uint64_t xcr0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
#endif
}

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
  uint32_t r1[4] = {0, 0, 0, 0};
  if (!cpuid(1, 0, r1)) return f;
  const uint32_t ecx1 = r1[2];
  const bool osxsave = (ecx1 >> 27) & 1;
  const bool avx = (ecx1 >> 28) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t x = xcr0();
  const bool ymm_saved = (x & 0x6) == 0x6;     // bit 1 SSE, bit 2 AVX (upper YMM)
  const bool zmm_saved = (x & 0xE6) == 0xE6;   // + bits 5..7: opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_saved) return f;
  f.fma = (ecx1 >> 12) & 1;
  f.f16c = (ecx1 >> 29) & 1;
  uint32_t r7[4] = {0, 0, 0, 0};
  if (cpuid(7, 0, r7)) {
    const uint32_t ebx7 = r7[1];
    f.avx2 = (ebx7 >> 5) & 1;
    f.avx512f = zmm_saved && ((ebx7 >> 16) & 1);
  }
  return f;
}

#else

// Non-x86 hosts (arm64, …): none of these x86 extensions exist.
CpuFeatures detect_cpu_features() { return CpuFeatures{}; }

#endif

}  // namespace qh
