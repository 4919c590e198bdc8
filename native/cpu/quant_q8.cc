// Activation quantization (Q8_K, Q8_0-style) and the scalar reference dots of quant_q8.h; the one selection
// point select_q8_dot.
#include "quant_q8.h"

#include <cmath>
#include <cstring>

#include "../core/quant_blocks.h"
#include "simd.h"

namespace qh::cpu {

ActQuant act_quant_for(DType w) {
  switch (w) {
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: return ActQuant::Q8K;
    case DType::Q8_0: case DType::Q4_0: return ActQuant::Q8A;
    case DType::F16: return ActQuant::RoundF16;
    case DType::BF16: return ActQuant::RoundBF16;
    default: return ActQuant::None;
  }
}

size_t act_row_bytes(ActQuant a, int64_t k) {
  if (a == ActQuant::Q8K) return static_cast<size_t>(k / kQK8K) * sizeof(BlockQ8K);
  if (a == ActQuant::Q8A) return static_cast<size_t>(k / kQK8A) * sizeof(BlockQ8A);
  if (a == ActQuant::RoundF16 || a == ActQuant::RoundBF16) return static_cast<size_t>(k) * sizeof(float);
  return 0;
}

namespace {

// Round half to even in the default FP environment (the backend never changes the rounding mode).
inline int rne(float v) { return static_cast<int>(std::nearbyint(v)); }

void quantize_q8k(const float* x, int64_t k, BlockQ8K* y) {
  for (int64_t b = 0; b < k / kQK8K; ++b, x += kQK8K) {
    BlockQ8K& o = y[b];
    float amax = 0.0f, mx = 0.0f;
    for (int j = 0; j < kQK8K; ++j) {
      const float a = std::fabs(x[j]);
      if (a > amax) { amax = a; mx = x[j]; }
    }
    if (amax == 0.0f) {
      std::memset(&o, 0, sizeof o);
      continue;
    }
    const float iscale = -127.0f / mx;  // maps mx to −127
    for (int j = 0; j < kQK8K; ++j) {
      const int v = rne(iscale * x[j]);
      o.qs[j] = static_cast<int8_t>(v > 127 ? 127 : v);
    }
    for (int i = 0; i < 16; ++i) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += o.qs[16 * i + j];
      o.bsums[i] = static_cast<int16_t>(s);
    }
    o.d = 1.0f / iscale;
  }
}

void quantize_q8a(const float* x, int64_t k, BlockQ8A* y) {
  for (int64_t b = 0; b < k / kQK8A; ++b, x += kQK8A) {
    float amax = 0.0f;
    for (int j = 0; j < kQK8A; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = qh::f16_to_f32(na::f32_to_f16(d));
    for (int j = 0; j < kQK8A; ++j) y[b].qs[j] = static_cast<int8_t>(rne(x[j] * id));
  }
}

// ---- scalar reference dots (formulas in quant_q8.h) ----

float dot_q4k_scalar(const void* wrow, const void* xq, int64_t k) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wrow);
  const BlockQ8K* x = static_cast<const BlockQ8K*>(xq);
  float acc = 0.0f;
  for (int64_t b = 0; b < k / kQK8K; ++b) {
    int32_t isum = 0, msum = 0;
    for (int s = 0; s < 8; ++s) {
      int sc, m;
      k_scale_min(w[b].scales, s, &sc, &m);
      // sub-block s = group p = s/2, low nibble (s even) or high nibble (s odd) of qs[32p + l]
      const uint8_t* q = w[b].qs + 32 * (s / 2);
      const int shift = (s & 1) * 4;
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) dot += ((q[l] >> shift) & 15) * x[b].qs[32 * s + l];
      isum += sc * dot;
      msum += m * (x[b].bsums[2 * s] + x[b].bsums[2 * s + 1]);
    }
    acc += x[b].d * f16_to_f32(w[b].d) * static_cast<float>(isum) - x[b].d * f16_to_f32(w[b].dmin) * static_cast<float>(msum);
  }
  return acc;
}

float dot_q5k_scalar(const void* wrow, const void* xq, int64_t k) {
  const BlockQ5_K* w = static_cast<const BlockQ5_K*>(wrow);
  const BlockQ8K* x = static_cast<const BlockQ8K*>(xq);
  float acc = 0.0f;
  for (int64_t b = 0; b < k / kQK8K; ++b) {
    int32_t isum = 0, msum = 0;
    for (int s = 0; s < 8; ++s) {
      int sc, m;
      k_scale_min(w[b].scales, s, &sc, &m);
      const uint8_t* q = w[b].qs + 32 * (s / 2);
      const int shift = (s & 1) * 4;
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) {
        const int qv = ((q[l] >> shift) & 15) | (((w[b].qh[l] >> s) & 1) << 4);  // 5th bit: bit s of qh[l]
        dot += qv * x[b].qs[32 * s + l];
      }
      isum += sc * dot;
      msum += m * (x[b].bsums[2 * s] + x[b].bsums[2 * s + 1]);
    }
    acc += x[b].d * f16_to_f32(w[b].d) * static_cast<float>(isum) - x[b].d * f16_to_f32(w[b].dmin) * static_cast<float>(msum);
  }
  return acc;
}

float dot_q6k_scalar(const void* wrow, const void* xq, int64_t k) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wrow);
  const BlockQ8K* x = static_cast<const BlockQ8K*>(xq);
  float acc = 0.0f;
  for (int64_t b = 0; b < k / kQK8K; ++b) {
    int32_t isum = 0;
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = w[b].ql + 64 * n;
      const uint8_t* qh = w[b].qh + 32 * n;
      const int8_t* sc = w[b].scales + 8 * n;
      const int8_t* q8 = x[b].qs + 128 * n;
      for (int j = 0; j < 4; ++j) {  // elements 128n + 32j + l; sub-block 8n + 2j + l/16
        for (int h = 0; h < 2; ++h) {
          int32_t dot = 0;
          for (int l = 16 * h; l < 16 * h + 16; ++l) {
            const int lo = (j & 1) ? ql[32 + l] : ql[l];
            const int q = ((j < 2 ? lo & 15 : lo >> 4) | (((qh[l] >> (2 * j)) & 3) << 4)) - 32;
            dot += q * q8[32 * j + l];
          }
          isum += sc[2 * j + h] * dot;
        }
      }
    }
    acc += x[b].d * f16_to_f32(w[b].d) * static_cast<float>(isum);
  }
  return acc;
}

float dot_q80_scalar(const void* wrow, const void* xq, int64_t k) {
  const BlockQ8_0* w = static_cast<const BlockQ8_0*>(wrow);
  const BlockQ8A* x = static_cast<const BlockQ8A*>(xq);
  float acc = 0.0f;
  for (int64_t b = 0; b < k / kQK8A; ++b) {
    int32_t dot = 0;
    for (int l = 0; l < 32; ++l) dot += w[b].qs[l] * x[b].qs[l];
    acc += f16_to_f32(w[b].d) * x[b].d * static_cast<float>(dot);
  }
  return acc;
}

float dot_q40_scalar(const void* wrow, const void* xq, int64_t k) {
  const BlockQ4_0* w = static_cast<const BlockQ4_0*>(wrow);
  const BlockQ8A* x = static_cast<const BlockQ8A*>(xq);
  float acc = 0.0f;
  for (int64_t b = 0; b < k / kQK8A; ++b) {
    int32_t dot = 0;
    for (int l = 0; l < 16; ++l) {
      dot += ((w[b].qs[l] & 15) - 8) * x[b].qs[l];
      dot += ((w[b].qs[l] >> 4) - 8) * x[b].qs[l + 16];
    }
    acc += f16_to_f32(w[b].d) * x[b].d * static_cast<float>(dot);
  }
  return acc;
}

}  // namespace

void quantize_act_row(ActQuant a, const float* x, int64_t k, void* out) {
  if (a == ActQuant::Q8K) quantize_q8k(x, k, static_cast<BlockQ8K*>(out));
  else if (a == ActQuant::Q8A) quantize_q8a(x, k, static_cast<BlockQ8A*>(out));
  else if (a == ActQuant::RoundF16) {
    float* o = static_cast<float*>(out);
    for (int64_t i = 0; i < k; ++i) o[i] = qh::f16_to_f32(na::f32_to_f16(x[i]));
  } else if (a == ActQuant::RoundBF16) {
    float* o = static_cast<float*>(out);
    for (int64_t i = 0; i < k; ++i) {  // RNE to the upper 16 bits; NaN kept quiet
      uint32_t u;
      std::memcpy(&u, &x[i], 4);
      u = (u & 0x7fffffffu) > 0x7f800000u ? (u | 0x00400000u) & 0xffff0000u : ((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
      std::memcpy(&o[i], &u, 4);
    }
  }
}

Q8DotFn q8_dot_scalar(DType w) {
  switch (w) {
    case DType::Q4_K: return dot_q4k_scalar;
    case DType::Q5_K: return dot_q5k_scalar;
    case DType::Q6_K: return dot_q6k_scalar;
    case DType::Q8_0: return dot_q80_scalar;
    case DType::Q4_0: return dot_q40_scalar;
    default: return nullptr;
  }
}

Q8DotFn select_q8_dot(DType w, Isa isa) {
  if (isa >= Isa::AVX512) {
    if (Q8DotFn f = q8_dot_avx512(w)) return f;
  }
  if (isa >= Isa::AVX2) {
    if (Q8DotFn f = q8_dot_avx2(w)) return f;
  }
  return q8_dot_scalar(w);
}

}  // namespace qh::cpu
