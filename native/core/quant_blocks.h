// GGUF weight block layouts (spec §4.1; ggml-common.h). A quantized row of ne0 elements is ne0 / QK
// consecutive blocks; blocks never straddle rows. All multi-byte fields are little-endian, `half` fields are
// raw IEEE binary16 bits (decode with f16_to_f32). Structs are byte-packed by construction (u8/u16 fields,
// 2-byte alignment); the static_asserts pin the sizes to the GGUF format.
//
// Also: exact scalar conversions half/bf16 -> f32 (every half and bf16 value is an f32, so no rounding).
#pragma once

#include <cstdint>
#include <cstring>

namespace qh {

constexpr int kQK32 = 32;   // elements per block of the 32-element formats
constexpr int kQKK = 256;   // elements per K-quant super-block
constexpr int kKScaleBytes = 12;  // packed 6-bit scales/mins of Q4_K / Q5_K

// Q4_0, 18 B: x[j] = d·((qs[j] & 15) − 8), x[j+16] = d·((qs[j] >> 4) − 8), j ∈ [0,16).
struct BlockQ4_0 {
  uint16_t d;        // half: scale
  uint8_t qs[16];    // nibbles: low = element j, high = element j+16
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes");

// Q4_1, 20 B: x[j] = d·(qs[j] & 15) + m, x[j+16] = d·(qs[j] >> 4) + m.
struct BlockQ4_1 {
  uint16_t d;        // half: scale
  uint16_t m;        // half: offset (min)
  uint8_t qs[16];    // nibbles: low = element j, high = element j+16
};
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block is 20 bytes");

// Q5_0, 22 B: H = u32(qh); x[j] = d·(((qs[j] & 15) | bit_j(H)·16) − 16),
// x[j+16] = d·(((qs[j] >> 4) | bit_{j+16}(H)·16) − 16).
struct BlockQ5_0 {
  uint16_t d;        // half: scale
  uint8_t qh[4];     // u32 LE: bit i = 5th bit of element i (i ∈ [0,32))
  uint8_t qs[16];    // low 4 bits: low nibble = element j, high nibble = element j+16
};
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block is 22 bytes");

// Q5_1, 24 B: as Q5_0 without the −16, plus m: x = d·q + m.
struct BlockQ5_1 {
  uint16_t d;        // half: scale
  uint16_t m;        // half: offset (min)
  uint8_t qh[4];     // u32 LE: bit i = 5th bit of element i
  uint8_t qs[16];    // low 4 bits of elements j (low nibble) and j+16 (high nibble)
};
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block is 24 bytes");

// Q8_0, 34 B: x[i] = d·qs[i].
struct BlockQ8_0 {
  uint16_t d;        // half: scale
  int8_t qs[32];     // signed quants, element i
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes");

// Q4_K, 144 B: 8 sub-blocks s of 32 elements, x = d·sc_s·q − dmin·m_s, q ∈ [0,15] (spec §4.4).
// Group p ∈ [0,4): element 64p+l = low nibble of qs[32p+l] (sub-block 2p), 64p+32+l = high nibble (2p+1).
struct BlockQ4_K {
  uint16_t d;                     // half: super-block scale of the sub-block scales
  uint16_t dmin;                  // half: super-block scale of the sub-block mins
  uint8_t scales[kKScaleBytes];   // 6-bit sc_s and m_s packed (k_scale_min below)
  uint8_t qs[128];                // nibbles, layout above
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block is 144 bytes");

// Q5_K, 176 B: as Q4_K plus a 5th bit: element 64p+l has bit 2p of qh[l], 64p+32+l bit 2p+1; q ∈ [0,31].
struct BlockQ5_K {
  uint16_t d;                     // half: scale of the sub-block scales
  uint16_t dmin;                  // half: scale of the sub-block mins
  uint8_t scales[kKScaleBytes];   // 6-bit sc_s and m_s packed (k_scale_min below)
  uint8_t qh[32];                 // 5th bits, layout above
  uint8_t qs[128];                // low nibbles, as Q4_K
};
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block is 176 bytes");

// Q6_K, 210 B: 16 sub-blocks of 16 elements, x = d·sc·(q − 32), q ∈ [0,63]. Half n ∈ {0,1} (128 elements)
// uses ql[64n..], qh[32n..], scales[8n..]; for l ∈ [0,32), is = l/16:
//   128n+l    : (ql[64n+l] & 15)    | ((qh[32n+l] >> 0) & 3) << 4, scale scales[8n+is]
//   128n+32+l : (ql[64n+32+l] & 15) | ((qh[32n+l] >> 2) & 3) << 4, scale scales[8n+is+2]
//   128n+64+l : (ql[64n+l] >> 4)    | ((qh[32n+l] >> 4) & 3) << 4, scale scales[8n+is+4]
//   128n+96+l : (ql[64n+32+l] >> 4) | ((qh[32n+l] >> 6) & 3) << 4, scale scales[8n+is+6]
struct BlockQ6_K {
  uint8_t ql[128];      // low 4 bits, layout above
  uint8_t qh[64];       // high 2 bits, four per byte
  int8_t scales[16];    // signed 8-bit sub-block scales
  uint16_t d;           // half: super-block scale (note: LAST field)
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block is 210 bytes");

// 6-bit scale and min of sub-block s ∈ [0,8) of a Q4_K / Q5_K block (spec §4.4):
//   s < 4: sc = scales[s] & 63,                             m = scales[s+4] & 63
//   s ≥ 4: sc = (scales[s+4] & 15) | ((scales[s-4] >> 6) << 4), m = (scales[s+4] >> 4) | ((scales[s] >> 6) << 4)
static inline void k_scale_min(const uint8_t* scales, int s, int* sc, int* m) {
  if (s < 4) {
    *sc = scales[s] & 63;
    *m = scales[s + 4] & 63;
  } else {
    *sc = (scales[s + 4] & 15) | ((scales[s - 4] >> 6) << 4);
    *m = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
  }
}

// All 8 scales and mins of a Q4_K / Q5_K block at once (k_scale_min for s = 0..7), from the three 32-bit words
// a, b, c of scales[0..12), four sub-blocks per word, one byte each:
//   sc[0..4) = a & 63,  sc[4..8) = (c & 15) | ((a >> 6) << 4),  m[0..4) = b & 63,  m[4..8) = (c >> 4) | ((b >> 6) << 4).
static inline void k_scales_mins(const uint8_t* scales, uint8_t sc[8], uint8_t mn[8]) {
  uint32_t a, b, c;
  std::memcpy(&a, scales, 4);
  std::memcpy(&b, scales + 4, 4);
  std::memcpy(&c, scales + 8, 4);
  const uint32_t w[4] = {a & 0x3f3f3f3fu, (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u), b & 0x3f3f3f3fu,
                         ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u)};
  std::memcpy(sc, w, 8);
  std::memcpy(mn, w + 2, 8);
}

static inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// binary16 -> f32, exact: sign(1) | exponent(5, bias 15) | mantissa(10); subnormals, inf and NaN kept.
static inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  if (e == 0x1f) return f32_from_bits(sign | 0x7f800000u | (m << 13));  // inf / NaN
  if (e != 0) return f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));  // normal: rebias 15 -> 127
  if (m == 0) return f32_from_bits(sign);                                  // ±0
  // subnormal: m · 2^-24; normalise into an f32 (always normal there)
  int shift = 0;
  while ((m & 0x400u) == 0) {
    m <<= 1;
    ++shift;
  }
  return f32_from_bits(sign | ((113u - static_cast<uint32_t>(shift)) << 23) | ((m & 0x3ffu) << 13));
}

// bfloat16 -> f32: the 16 bits are the upper half of the f32.
static inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

}  // namespace qh
