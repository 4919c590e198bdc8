// Scalar reference dequantization of every weight type (spec §4), one function per format, written as the
// formulas. Each result equals ggml's f32 dequantize_row_* bit for bit: the products d·q, d·sc, d·sc·q are
// exact in f32 (≤ 24 significant bits), so only the final add/sub of a min rounds, once.
// Also the scalar f32 panel product (plain sequential dot products).
#include <cstring>

#include "../core/quant_blocks.h"
#include "quant_dot.h"

namespace qh::cpu {
namespace {

// F32: copied.
void dq_f32(const void* src, int64_t n, float* y) { std::memcpy(y, src, static_cast<size_t>(n) * 4); }

// F16: IEEE binary16 -> f32.
void dq_f16(const void* src, int64_t n, float* y) {
  const uint8_t* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) y[i] = f16_to_f32(static_cast<uint16_t>(b[2 * i] | (b[2 * i + 1] << 8)));
}

// BF16: upper 16 bits of an f32.
void dq_bf16(const void* src, int64_t n, float* y) {
  const uint8_t* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(static_cast<uint16_t>(b[2 * i] | (b[2 * i + 1] << 8)));
}

// Q4_0: x[j] = d·((qs[j] & 15) − 8), x[j+16] = d·((qs[j] >> 4) − 8).
void dq_q4_0(const void* src, int64_t nb, float* y) {
  const BlockQ4_0* blk = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < nb; ++i, y += kQK32) {
    const float d = f16_to_f32(blk[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>((blk[i].qs[j] & 15) - 8);
      y[j + 16] = d * static_cast<float>((blk[i].qs[j] >> 4) - 8);
    }
  }
}

// Q4_1: x[j] = d·(qs[j] & 15) + m, x[j+16] = d·(qs[j] >> 4) + m.
void dq_q4_1(const void* src, int64_t nb, float* y) {
  const BlockQ4_1* blk = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < nb; ++i, y += kQK32) {
    const float d = f16_to_f32(blk[i].d), m = f16_to_f32(blk[i].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(blk[i].qs[j] & 15) + m;
      y[j + 16] = d * static_cast<float>(blk[i].qs[j] >> 4) + m;
    }
  }
}

static inline uint32_t load_u32_le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

// Q5_0: H = u32(qh); x[j] = d·(((qs[j] & 15) | bit_j·16) − 16), x[j+16] = d·(((qs[j] >> 4) | bit_{j+16}·16) − 16).
void dq_q5_0(const void* src, int64_t nb, float* y) {
  const BlockQ5_0* blk = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < nb; ++i, y += kQK32) {
    const float d = f16_to_f32(blk[i].d);
    const uint32_t H = load_u32_le(blk[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int q0 = (blk[i].qs[j] & 15) | static_cast<int>(((H >> j) & 1u) << 4);
      const int q1 = (blk[i].qs[j] >> 4) | static_cast<int>(((H >> (j + 16)) & 1u) << 4);
      y[j] = d * static_cast<float>(q0 - 16);
      y[j + 16] = d * static_cast<float>(q1 - 16);
    }
  }
}

// Q5_1: x = d·q + m with q the 5-bit value of Q5_0 (no −16).
void dq_q5_1(const void* src, int64_t nb, float* y) {
  const BlockQ5_1* blk = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < nb; ++i, y += kQK32) {
    const float d = f16_to_f32(blk[i].d), m = f16_to_f32(blk[i].m);
    const uint32_t H = load_u32_le(blk[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int q0 = (blk[i].qs[j] & 15) | static_cast<int>(((H >> j) & 1u) << 4);
      const int q1 = (blk[i].qs[j] >> 4) | static_cast<int>(((H >> (j + 16)) & 1u) << 4);
      y[j] = d * static_cast<float>(q0) + m;
      y[j + 16] = d * static_cast<float>(q1) + m;
    }
  }
}

// Q8_0: x[i] = d·qs[i].
void dq_q8_0(const void* src, int64_t nb, float* y) {
  const BlockQ8_0* blk = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < nb; ++i, y += kQK32) {
    const float d = f16_to_f32(blk[i].d);
    for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(blk[i].qs[j]);
  }
}

// Q4_K: sub-block s: x = (d·sc_s)·q − dmin·m_s; group p: low nibbles -> sub-block 2p, high -> 2p+1.
void dq_q4_k(const void* src, int64_t nb, float* y) {
  const BlockQ4_K* blk = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = f16_to_f32(blk[i].d), dmin = f16_to_f32(blk[i].dmin);
    for (int p = 0; p < 4; ++p) {
      int sc, m;
      k_scale_min(blk[i].scales, 2 * p, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      k_scale_min(blk[i].scales, 2 * p + 1, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      const uint8_t* qs = blk[i].qs + 32 * p;
      for (int l = 0; l < 32; ++l) {
        y[64 * p + l] = d1 * static_cast<float>(qs[l] & 15) - m1;
        y[64 * p + 32 + l] = d2 * static_cast<float>(qs[l] >> 4) - m2;
      }
    }
  }
}

// Q5_K: as Q4_K with q = nibble + 16·(bit 2p (low) or 2p+1 (high) of qh[l]).
void dq_q5_k(const void* src, int64_t nb, float* y) {
  const BlockQ5_K* blk = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = f16_to_f32(blk[i].d), dmin = f16_to_f32(blk[i].dmin);
    for (int p = 0; p < 4; ++p) {
      int sc, m;
      k_scale_min(blk[i].scales, 2 * p, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      k_scale_min(blk[i].scales, 2 * p + 1, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      const uint8_t* qs = blk[i].qs + 32 * p;
      for (int l = 0; l < 32; ++l) {
        const int q0 = (qs[l] & 15) + (((blk[i].qh[l] >> (2 * p)) & 1) << 4);
        const int q1 = (qs[l] >> 4) + (((blk[i].qh[l] >> (2 * p + 1)) & 1) << 4);
        y[64 * p + l] = d1 * static_cast<float>(q0) - m1;
        y[64 * p + 32 + l] = d2 * static_cast<float>(q1) - m2;
      }
    }
  }
}

// Q6_K: x = (d·sc)·(q − 32), q = 4 low bits from ql | 2 high bits from qh (layout in quant_blocks.h).
void dq_q6_k(const void* src, int64_t nb, float* y) {
  const BlockQ6_K* blk = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = f16_to_f32(blk[i].d);
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = blk[i].ql + 64 * n;
      const uint8_t* qh = blk[i].qh + 32 * n;
      const int8_t* sc = blk[i].scales + 8 * n;
      float* yn = y + 128 * n;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q0 = (ql[l] & 15) | (((qh[l] >> 0) & 3) << 4);
        const int q1 = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4);
        const int q2 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        const int q3 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        yn[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q0 - 32);
        yn[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q1 - 32);
        yn[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q2 - 32);
        yn[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q3 - 32);
      }
    }
  }
}

// y_t[r] (+)= Σ_c W[r][c]·x_t[c], sequential f32 sum.
void panel_scalar_impl(const PanelArgs& a) {
  for (int64_t t = 0; t < a.ntok; ++t) {
    const float* x = a.xrows[t] + a.c0;
    float* y = a.yrows[t] + a.r0;
    for (int64_t r = 0; r < a.rows; ++r) {
      const float* w = a.W + r * a.ldw;
      float s = 0.0f;
      for (int64_t c = 0; c < a.n; ++c) s += w[c] * x[c];
      y[r] = a.accumulate ? y[r] + s : s;
    }
  }
}

}  // namespace

RowKernelTable row_kernels_scalar(DType type) {
  switch (type) {
    case DType::F32: return {dq_f32, nullptr};
    case DType::F16: return {dq_f16, nullptr};
    case DType::BF16: return {dq_bf16, nullptr};
    case DType::Q4_0: return {dq_q4_0, nullptr};
    case DType::Q4_1: return {dq_q4_1, nullptr};
    case DType::Q5_0: return {dq_q5_0, nullptr};
    case DType::Q5_1: return {dq_q5_1, nullptr};
    case DType::Q8_0: return {dq_q8_0, nullptr};
    case DType::Q4_K: return {dq_q4_k, nullptr};
    case DType::Q5_K: return {dq_q5_k, nullptr};
    case DType::Q6_K: return {dq_q6_k, nullptr};
    default: return {nullptr, nullptr};
  }
}

PanelFn panel_scalar() { return panel_scalar_impl; }

}  // namespace qh::cpu
