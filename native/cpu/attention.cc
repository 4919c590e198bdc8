// ATTENTION: causal GQA softmax attention over a per-session KV cache (spec §3.3 steps 5-6).
//   in:  q f32 {d, Hq, T}; k f32 {d, Hkv, T}; v f32 {dv, Hkv, T}; pos i32 {T} (strictly increasing);
//        STATE k_cache {d, Hkv, n_ctx}, v_cache {dv, Hkv, n_ctx}, both f32, both f16 or both q8_0.
//   out: f32 {dv, Hq, T}.  p.f[0] = scale (1/sqrt(d)).
// 1. Check positions: pos[t] >= n_ctx -> CONTEXT_FULL, negative / not increasing -> INVALID_ARGUMENT; nothing
//    is written before every position passed.
// 2. k_cache[pos[t]][g] = k[t][g], v_cache[pos[t]][g] = v[t][g] (rounded to f16 for f16 caches; for q8_0 caches
//    quantized per 32-element block as ggml's quantize_row_q8_0 reference: amax = max |x_i|, d = amax / 127,
//    id = d != 0 ? 1/d : 0, q_i = roundf(x_i * id) (half away from zero; clamped to [-127, 127], which only
//    matters for non-finite input: NaN -> -127), scale stored as f16(d); a row reads back as f16(d) * q_i).
// 3. For query token t, head h, KV head g = h / (Hq/Hkv), rows tau in [0, pos[t]]:
//      s_tau = scale * q[t][h] . K[tau][g];  p = softmax(s);  out[t][h] = sum_tau p_tau V[tau][g]
//    computed block by block (kBlock rows) with an online softmax in f32: running max m, running sum
//    l = sum e^(s - m), running acc = sum e^(s - m) V; on a new max both are rescaled by e^(m_old - m_new).
//    The G = Hq/Hkv query heads sharing a KV head are processed together so each K/V row is read once.
//    Scalar path: per row, f16 / q8_0 -> f32 row copy, then dot / axpy per head (reads like the formula); q8_0
//    caches always take it (the dot / axpy themselves are AVX2 where available).
//    AVX2 path (F16C for f16 caches): scores_avx2 loads each 16-element K slice once for up to 4 heads;
//    values_avx2 keeps a 16-column accumulator tile of up to 6 heads in registers across the block's rows
//    (the e^(m_old - m_new) rescale folded into the tile load); V rows of the block and K rows of the next
//    are prefetched during the score step (their lines are strided by Hkv*d elements).
// Work split (a pure function of shapes and positions, never of the thread count, so 1 thread == N threads
// bit for bit):
//    - prefill (T*Hkv > kSplitMaxPairs): one unit per (t, g), writing out directly;
//    - decode (T*Hkv <= kSplitMaxPairs): the rows of each (t, g) are also split into S_t =
//      min(S_max, ceil((pos[t]+1)/kMinChunk)) ranges (split-K, flash-decoding style); each unit leaves
//      (acc, m, l) in scratch and a combine pass merges them in split order:
//      m* = max_s m_s, out = sum_s e^(m_s - m*) acc_s / sum_s e^(m_s - m*) l_s.
#include <cmath>
#include <cstring>
#include <string>

#include "../core/cpu_features.h"
#include "../core/quant_blocks.h"
#include "kernel.h"
#include "simd.h"

namespace qh::cpu {
namespace {

constexpr int64_t kBlock = 64;          // KV rows per online-softmax step
constexpr int64_t kSplitMaxPairs = 16;  // split the KV length when T * Hkv <= this
constexpr int64_t kMinChunk = 256;      // minimum KV rows per split
constexpr int64_t kMaxSplit = 256;

enum class Cache { F32, F16, Q8_0 };

struct Shape {
  int64_t d, dv, hq, hkv, g, t, n_ctx;
  bool split;
  int64_t s_max;  // splits per (t, g) sized in scratch (1 when not splitting)
};

Shape shape_of(const OpCall& call) {
  Shape s;
  s.d = call.in[0].ne[0];
  s.hq = call.in[0].ne[1];
  s.t = call.in[0].ne[2];
  s.hkv = call.in[1].ne[1];
  s.dv = call.in[2].ne[0];
  s.n_ctx = call.in[4].ne[2];
  s.g = s.hq / s.hkv;
  s.split = s.t * s.hkv <= kSplitMaxPairs;
  const int64_t by_ctx = (s.n_ctx + kMinChunk - 1) / kMinChunk;
  s.s_max = s.split ? (by_ctx < kMaxSplit ? by_ctx : kMaxSplit) : 1;
  return s;
}

inline int64_t align16(int64_t n) { return (n + 15) & ~int64_t{15}; }

// Per-thread scratch: scores [G][kBlock], m [G], l [G], corr [G], k row [d], v row [dv] (f32 copies of f16 / q8_0
// rows for the scalar path).
int64_t per_thread_floats(const Shape& s) { return align16(s.g * kBlock) + align16(3 * s.g) + align16(s.d) + align16(s.dv); }
int64_t partial_floats(const Shape& s) { return s.g * (s.dv + 2); }  // [acc G x dv][m G][l G]

size_t attention_scratch(const OpCall& call, int n_threads) {
  const Shape s = shape_of(call);
  int64_t floats = per_thread_floats(s) * n_threads;
  if (s.split) floats += s.t * s.hkv * s.s_max * partial_floats(s);
  return static_cast<size_t>(floats) * sizeof(float);
}

// ---- row primitives: dot (scores), axpy (value accumulation), scale (rescale), f16 row conversion ----

float dot_scalar(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
void axpy_scalar(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
void f16_row_scalar(const uint16_t* h, float* f, int64_t n) {
  for (int64_t i = 0; i < n; ++i) f[i] = na::f16_to_f32(h[i]);
}
void to_f16_row_scalar(const float* f, uint16_t* h, int64_t n) {
  for (int64_t i = 0; i < n; ++i) h[i] = na::f32_to_f16(f[i]);
}
// q8_0 row (n a multiple of 32) <-> f32, the formulas of the header comment. Scalar on every ISA: same bytes.
void to_q8_0_row(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK32; ++b, x += kQK32) {
    float amax = 0.0f;
    for (int j = 0; j < kQK32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = na::f32_to_f16(d);
    for (int j = 0; j < kQK32; ++j) y[b].qs[j] = static_cast<int8_t>(std::fmin(std::fmax(std::round(x[j] * id), -127.0f), 127.0f));
  }
}
void q8_0_row(const BlockQ8_0* y, float* f, int64_t n) {
  for (int64_t b = 0; b < n / kQK32; ++b) {
    const float d = na::f16_to_f32(y[b].d);
    for (int j = 0; j < kQK32; ++j) f[b * kQK32 + j] = d * static_cast<float>(y[b].qs[j]);
  }
}

#ifdef QH_NA_X86
QH_NA_AVX2 float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = na::hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
QH_NA_AVX2 void axpy_avx2(float* y, float a, const float* x, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}
QH_NA_AVX2 void f16_row_avx2(const uint16_t* h, float* f, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(f + i, na::load_f16x8(h + i));
  for (; i < n; ++i) f[i] = na::f16_to_f32(h[i]);
}
QH_NA_AVX2 void to_f16_row_avx2(const float* f, uint16_t* h, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(f + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) h[i] = na::f32_to_f16(f[i]);
}
// p[i] = e^(s[i] - m), returns sum p
QH_NA_AVX2 float exp_sub_sum_avx2(float* s, int64_t n, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 p = na::exp256(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
    _mm256_storeu_ps(s + i, p);
    acc = _mm256_add_ps(acc, p);
  }
  float sum = na::hsum256(acc);
  for (; i < n; ++i) {
    s[i] = std::exp(s[i] - m);
    sum += s[i];
  }
  return sum;
}
// ---- AVX2 block kernels: the G heads of one KV head share every K/V load ----

QH_NA_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
QH_NA_AVX2 inline __m256 load8(const uint16_t* p) { return na::load_f16x8(p); }
inline float load1(const float* p) { return *p; }
inline float load1(const uint16_t* p) { return na::f16_to_f32(*p); }

// sc[jj*kBlock + r] = scale * q_jj . K_r for jj < JN, r < nb;  q_jj = q + jj*qs, K_r = k + r*ks (elements).
// 2 accumulators per head (16 columns per step) keep 2*JN FMA chains in flight.
// Prefetch: row r of pf[0] and pf[1] (V rows of this block, K rows of the next; pf_stride bytes apart,
// pf_bytes long, null = none) is requested while row r's scores are computed, so the value step and the next
// block find their rows in cache instead of missing once per row on strided lines.
struct Prefetch {
  const char* p[2];
  int64_t stride[2];
  int64_t bytes[2];
};

template <int JN, typename KT>
QH_NA_AVX2 void scores_tile_avx2(const float* q, int64_t qs, const KT* k, int64_t ks, int64_t nb, int64_t d, float scale,
                                 float* sc, const Prefetch* pf) {
  const int64_t d16 = d & ~int64_t{15};
  for (int64_t r = 0; r < nb; ++r) {
    if (pf) {
      for (int w = 0; w < 2; ++w) {
        if (!pf->p[w]) continue;
        const char* row = pf->p[w] + r * pf->stride[w];
        for (int64_t b = 0; b < pf->bytes[w]; b += 64) _mm_prefetch(row + b, _MM_HINT_T0);
      }
    }
    const KT* kr = k + r * ks;
    __m256 a0[JN], a1[JN];
    for (int jj = 0; jj < JN; ++jj) a0[jj] = a1[jj] = _mm256_setzero_ps();
    for (int64_t i = 0; i < d16; i += 16) {
      const __m256 k0 = load8(kr + i), k1 = load8(kr + i + 8);
      for (int jj = 0; jj < JN; ++jj) {
        a0[jj] = _mm256_fmadd_ps(_mm256_loadu_ps(q + jj * qs + i), k0, a0[jj]);
        a1[jj] = _mm256_fmadd_ps(_mm256_loadu_ps(q + jj * qs + i + 8), k1, a1[jj]);
      }
    }
    for (int jj = 0; jj < JN; ++jj) {
      float dot = na::hsum256(_mm256_add_ps(a0[jj], a1[jj]));
      for (int64_t i = d16; i < d; ++i) dot += q[jj * qs + i] * load1(kr + i);
      sc[jj * kBlock + r] = scale * dot;
    }
  }
}

// acc_jj = corr[jj] * acc_jj + sum_r p[jj*kBlock + r] * V_r for jj < JN;  acc_jj = acc + jj*as, V_r = v + r*vs.
// Columns in tiles of 16 held in registers (2*JN accumulators) across all nb rows of the block.
template <int JN, typename VT>
QH_NA_AVX2 void values_tile_avx2(const VT* v, int64_t vs, int64_t nb, int64_t dv, const float* p, const float* corr,
                                 float* acc, int64_t as) {
  const int64_t d16 = dv & ~int64_t{15};
  for (int64_t c = 0; c < d16; c += 16) {
    __m256 a0[JN], a1[JN];
    for (int jj = 0; jj < JN; ++jj) {
      const __m256 cj = _mm256_set1_ps(corr[jj]);
      a0[jj] = _mm256_mul_ps(_mm256_loadu_ps(acc + jj * as + c), cj);
      a1[jj] = _mm256_mul_ps(_mm256_loadu_ps(acc + jj * as + c + 8), cj);
    }
    for (int64_t r = 0; r < nb; ++r) {
      const __m256 v0 = load8(v + r * vs + c), v1 = load8(v + r * vs + c + 8);
      for (int jj = 0; jj < JN; ++jj) {
        const __m256 pj = _mm256_broadcast_ss(p + jj * kBlock + r);
        a0[jj] = _mm256_fmadd_ps(pj, v0, a0[jj]);
        a1[jj] = _mm256_fmadd_ps(pj, v1, a1[jj]);
      }
    }
    for (int jj = 0; jj < JN; ++jj) {
      _mm256_storeu_ps(acc + jj * as + c, a0[jj]);
      _mm256_storeu_ps(acc + jj * as + c + 8, a1[jj]);
    }
  }
  for (int64_t c = d16; c < dv; ++c) {
    for (int jj = 0; jj < JN; ++jj) {
      float a = acc[jj * as + c] * corr[jj];
      for (int64_t r = 0; r < nb; ++r) a += p[jj * kBlock + r] * load1(v + r * vs + c);
      acc[jj * as + c] = a;
    }
  }
}

template <typename KT>
void scores_avx2(const float* q, int64_t qs, int64_t G, const KT* k, int64_t ks, int64_t nb, int64_t d, float scale, float* sc,
                 const Prefetch& pf) {
  for (int64_t j0 = 0; j0 < G; j0 += 4) {
    const float* qj = q + j0 * qs;
    float* scj = sc + j0 * kBlock;
    const Prefetch* p = j0 == 0 ? &pf : nullptr;  // once per row
    switch (G - j0 < 4 ? G - j0 : 4) {
      case 1: scores_tile_avx2<1>(qj, qs, k, ks, nb, d, scale, scj, p); break;
      case 2: scores_tile_avx2<2>(qj, qs, k, ks, nb, d, scale, scj, p); break;
      case 3: scores_tile_avx2<3>(qj, qs, k, ks, nb, d, scale, scj, p); break;
      default: scores_tile_avx2<4>(qj, qs, k, ks, nb, d, scale, scj, p); break;
    }
  }
}

template <typename VT>
void values_avx2(const VT* v, int64_t vs, int64_t G, int64_t nb, int64_t dv, const float* p, const float* corr, float* acc, int64_t as) {
  for (int64_t j0 = 0; j0 < G; j0 += 6) {
    const float* pj = p + j0 * kBlock;
    const float* cj = corr + j0;
    float* aj = acc + j0 * as;
    switch (G - j0 < 6 ? G - j0 : 6) {
      case 1: values_tile_avx2<1>(v, vs, nb, dv, pj, cj, aj, as); break;
      case 2: values_tile_avx2<2>(v, vs, nb, dv, pj, cj, aj, as); break;
      case 3: values_tile_avx2<3>(v, vs, nb, dv, pj, cj, aj, as); break;
      case 4: values_tile_avx2<4>(v, vs, nb, dv, pj, cj, aj, as); break;
      case 5: values_tile_avx2<5>(v, vs, nb, dv, pj, cj, aj, as); break;
      default: values_tile_avx2<6>(v, vs, nb, dv, pj, cj, aj, as); break;
    }
  }
}
#endif


float exp_sub_sum_scalar(float* s, int64_t n, float m) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    s[i] = std::exp(s[i] - m);
    sum += s[i];
  }
  return sum;
}

struct Prims {
  float (*dot)(const float*, const float*, int64_t);
  void (*axpy)(float*, float, const float*, int64_t);
  void (*f16_row)(const uint16_t*, float*, int64_t);
  void (*to_f16_row)(const float*, uint16_t*, int64_t);
  float (*exp_sub_sum)(float*, int64_t, float);
  bool tiles;  // AVX2 block kernels (scores_avx2 / values_avx2); f16 caches also need F16C
};

Prims pick_prims(Isa isa) {
  Prims p{dot_scalar, axpy_scalar, f16_row_scalar, to_f16_row_scalar, exp_sub_sum_scalar, false};
#ifdef QH_NA_X86
  static const bool f16c = detect_cpu_features().f16c;
  if (isa >= Isa::AVX2) {
    p.dot = dot_avx2;
    p.axpy = axpy_avx2;
    p.exp_sub_sum = exp_sub_sum_avx2;
    p.tiles = true;
    if (f16c) {
      p.f16_row = f16_row_avx2;
      p.to_f16_row = to_f16_row_avx2;
    } else {
      p.tiles = false;  // f16 tiles convert with F16C; f32 ones would be fine but keep one rule
    }
  }
#else
  (void)isa;
#endif
  return p;
}

// One unit: the G query heads of KV head g at token t over cache rows [r0, r1).
// q_j = q.row(g*G + j, t); acc_j = acc + j*acc_stride (dv floats); m, l: G floats. Leaves acc unnormalised.
struct Unit {
  const Shape* s;
  const Prims* pr;
  const Tensor* q;
  const Tensor* kc;
  const Tensor* vc;
  float scale;
  Cache type;
  float* tmp;  // per-thread scratch
};

void attend(const Unit& u, int64_t t, int64_t g, int64_t r0, int64_t r1, float* acc, int64_t acc_stride, float* m,
            float* l) {
  const Shape& s = *u.s;
  const Prims& pr = *u.pr;
  float* scores = u.tmp;                                           // [G][kBlock]
  float* corr = u.tmp + align16(s.g * kBlock) + 2 * s.g;           // [G] (m, l of the unsplit path sit before it)
  float* krow = u.tmp + align16(s.g * kBlock) + align16(3 * s.g);  // [d]
  float* vrow = krow + align16(s.d);                               // [dv]
  const float* q = u.q->row<const float>(g * s.g, t);              // G query rows, stride qs
  const int64_t qs = static_cast<int64_t>(u.q->nb[1] / sizeof(float));
  const bool f16 = u.type == Cache::F16;
  const int64_t es = f16 ? 2 : 4;  // element bytes (tiles path: f32 / f16 only)
  const bool tiles = pr.tiles && u.type != Cache::Q8_0;
  const int64_t ks = static_cast<int64_t>(u.kc->nb[2]) / es, vs = static_cast<int64_t>(u.vc->nb[2]) / es;  // row stride
  for (int64_t j = 0; j < s.g; ++j) {
    m[j] = -INFINITY;
    l[j] = 0.0f;
    std::memset(acc + j * acc_stride, 0, static_cast<size_t>(s.dv) * sizeof(float));
  }
  for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
    const int64_t nb = (r1 - b0) < kBlock ? (r1 - b0) : kBlock;
    // scores[j][r] = scale * q_j . K[b0 + r][g]
#ifdef QH_NA_X86
    if (tiles) {
      // V rows [b0, b0+nb) and, when a full next block follows, its K rows
      const bool next_full = r1 - (b0 + nb) >= nb;
      const Prefetch pf{{u.vc->row<const char>(g, b0), next_full ? u.kc->row<const char>(g, b0 + nb) : nullptr},
                        {static_cast<int64_t>(u.vc->nb[2]), static_cast<int64_t>(u.kc->nb[2])},
                        {s.dv * es, s.d * es}};
      if (f16)
        scores_avx2(q, qs, s.g, u.kc->row<const uint16_t>(g, b0), ks, nb, s.d, u.scale, scores, pf);
      else
        scores_avx2(q, qs, s.g, u.kc->row<const float>(g, b0), ks, nb, s.d, u.scale, scores, pf);
    } else
#endif
    {
      for (int64_t r = 0; r < nb; ++r) {
        const float* kr = krow;
        if (u.type == Cache::F16)
          pr.f16_row(u.kc->row<const uint16_t>(g, b0 + r), krow, s.d);
        else if (u.type == Cache::Q8_0)
          q8_0_row(u.kc->row<const BlockQ8_0>(g, b0 + r), krow, s.d);
        else
          kr = u.kc->row<const float>(g, b0 + r);
        for (int64_t j = 0; j < s.g; ++j) scores[j * kBlock + r] = u.scale * pr.dot(q + j * qs, kr, s.d);
      }
    }
    // online softmax per head: m' = max(m, max_r s_r); corr = e^(m - m'); l = corr l + sum_r e^(s_r - m');
    // scores become p_r = e^(s_r - m'); acc is rescaled by corr in the value step
    for (int64_t j = 0; j < s.g; ++j) {
      float* sj = scores + j * kBlock;
      float mb = sj[0];
      for (int64_t r = 1; r < nb; ++r) mb = sj[r] > mb ? sj[r] : mb;
      const float mnew = mb > m[j] ? mb : m[j];
      corr[j] = m[j] == -INFINITY ? 0.0f : std::exp(m[j] - mnew);
      m[j] = mnew;
      l[j] = l[j] * corr[j] + pr.exp_sub_sum(sj, nb, mnew);
    }
    // acc_j = corr_j acc_j + sum_r p_j[r] * V[b0 + r][g]
#ifdef QH_NA_X86
    if (tiles) {
      if (f16)
        values_avx2(u.vc->row<const uint16_t>(g, b0), vs, s.g, nb, s.dv, scores, corr, acc, acc_stride);
      else
        values_avx2(u.vc->row<const float>(g, b0), vs, s.g, nb, s.dv, scores, corr, acc, acc_stride);
      continue;
    }
#endif
    for (int64_t j = 0; j < s.g; ++j) {
      if (corr[j] == 1.0f) continue;
      float* aj = acc + j * acc_stride;
      for (int64_t c = 0; c < s.dv; ++c) aj[c] *= corr[j];
    }
    for (int64_t r = 0; r < nb; ++r) {
      const float* vr = vrow;
      if (u.type == Cache::F16)
        pr.f16_row(u.vc->row<const uint16_t>(g, b0 + r), vrow, s.dv);
      else if (u.type == Cache::Q8_0)
        q8_0_row(u.vc->row<const BlockQ8_0>(g, b0 + r), vrow, s.dv);
      else
        vr = u.vc->row<const float>(g, b0 + r);
      for (int64_t j = 0; j < s.g; ++j) pr.axpy(acc + j * acc_stride, scores[j * kBlock + r], vr, s.dv);
    }
  }
}

Status run_attention(const OpCall& call, KernelContext& ctx) {
  const Shape s = shape_of(call);
  const Tensor& q = call.in[0];
  const Tensor& k = call.in[1];
  const Tensor& v = call.in[2];
  const int32_t* pos = call.in[3].ptr<const int32_t>();
  const Tensor& kc = call.in[4];
  const Tensor& vc = call.in[5];
  const Tensor& out = call.out[0];
  const Cache type = kc.type == DType::F16 ? Cache::F16 : kc.type == DType::Q8_0 ? Cache::Q8_0 : Cache::F32;

  // 1. positions
  for (int64_t t = 0; t < s.t; ++t) {
    if (pos[t] >= s.n_ctx)
      return Status::error("CONTEXT_FULL", "ATTENTION op: position " + std::to_string(pos[t]) + " of token " +
                                               std::to_string(t) + " is beyond the KV cache (n_ctx = " +
                                               std::to_string(s.n_ctx) + ")");
    if (pos[t] < 0)
      return Status::error("INVALID_ARGUMENT", "ATTENTION op: input 3 (pos) has negative position " +
                                                   std::to_string(pos[t]) + " at token " + std::to_string(t));
    if (t > 0 && pos[t] <= pos[t - 1])
      return Status::error("INVALID_ARGUMENT", "ATTENTION op: input 3 (pos) must be strictly increasing, got " +
                                                   std::to_string(pos[t - 1]) + " then " + std::to_string(pos[t]) +
                                                   " at token " + std::to_string(t));
  }

  const Prims pr = pick_prims(ctx.isa);
  // 2. cache rows
  ctx.pool->parallel_for(s.t * s.hkv, 16, [&](int64_t u0, int64_t u1, int) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t t = u / s.hkv, g = u % s.hkv;
      const float* kr = k.row<const float>(g, t);
      const float* vr = v.row<const float>(g, t);
      if (type == Cache::F16) {
        pr.to_f16_row(kr, kc.row<uint16_t>(g, pos[t]), s.d);
        pr.to_f16_row(vr, vc.row<uint16_t>(g, pos[t]), s.dv);
      } else if (type == Cache::Q8_0) {
        to_q8_0_row(kr, kc.row<BlockQ8_0>(g, pos[t]), s.d);
        to_q8_0_row(vr, vc.row<BlockQ8_0>(g, pos[t]), s.dv);
      } else {
        std::memcpy(kc.row<float>(g, pos[t]), kr, static_cast<size_t>(s.d) * sizeof(float));
        std::memcpy(vc.row<float>(g, pos[t]), vr, static_cast<size_t>(s.dv) * sizeof(float));
      }
    }
  });

  // 3. attention
  float* scratch = static_cast<float*>(ctx.scratch);
  const int64_t ptf = per_thread_floats(s);
  Unit base{&s, &pr, &q, &kc, &vc, call.p.f[0], type, nullptr};
  const int64_t out_stride = static_cast<int64_t>(out.nb[1] / sizeof(float));

  if (!s.split) {
    // Units (t, g) in a zig-zag order (0, N-1, 1, N-2, ...) so each thread's contiguous range mixes short
    // (early) and long (late) causal rows.
    const int64_t n = s.t * s.hkv;
    ctx.pool->parallel_for(n, 1, [&](int64_t u0, int64_t u1, int thread) {
      Unit u = base;
      u.tmp = scratch + thread * ptf;
      float* m = u.tmp + align16(s.g * kBlock);
      float* l = m + s.g;
      for (int64_t i = u0; i < u1; ++i) {
        const int64_t w = (i % 2 == 0) ? i / 2 : n - 1 - i / 2;
        const int64_t t = w / s.hkv, g = w % s.hkv;
        float* acc = out.row<float>(g * s.g, t);
        attend(u, t, g, 0, static_cast<int64_t>(pos[t]) + 1, acc, out_stride, m, l);
        for (int64_t j = 0; j < s.g; ++j) {
          const float inv = 1.0f / l[j];
          float* aj = acc + j * out_stride;
          for (int64_t c = 0; c < s.dv; ++c) aj[c] *= inv;
        }
      }
    });
    return Status::ok();
  }

  // Split-K: S_t ranges per (t, g); units enumerated t-major, then g, then split (no empty units).
  // The partial slots are the last T*Hkv*S_max*pf floats of scratch (attention_scratch()).
  const int64_t pf = partial_floats(s);
  float* partial = scratch + static_cast<int64_t>(ctx.scratch_size / sizeof(float)) - s.t * s.hkv * s.s_max * pf;
  auto n_split = [&](int64_t t) {
    const int64_t len = static_cast<int64_t>(pos[t]) + 1;
    const int64_t by_len = (len + kMinChunk - 1) / kMinChunk;
    return by_len < s.s_max ? by_len : s.s_max;
  };
  int64_t n_units = 0;
  for (int64_t t = 0; t < s.t; ++t) n_units += s.hkv * n_split(t);
  ctx.pool->parallel_for(n_units, 1, [&](int64_t u0, int64_t u1, int thread) {
    Unit u = base;
    u.tmp = scratch + thread * ptf;
    for (int64_t i = u0; i < u1; ++i) {
      int64_t t = 0, rem = i;
      while (rem >= s.hkv * n_split(t)) rem -= s.hkv * n_split(t++);
      const int64_t st = n_split(t);
      const int64_t g = rem / st, sp = rem % st;
      const int64_t len = static_cast<int64_t>(pos[t]) + 1;
      float* slot = partial + ((t * s.hkv + g) * s.s_max + sp) * pf;
      attend(u, t, g, len * sp / st, len * (sp + 1) / st, slot, s.dv, slot + s.g * s.dv, slot + s.g * s.dv + s.g);
    }
  });
  // combine: out[t][h] = sum_s e^(m_s - m*) acc_s / sum_s e^(m_s - m*) l_s, in split order
  ctx.pool->parallel_for(s.t * s.hq, 4, [&](int64_t u0, int64_t u1, int) {
    for (int64_t i = u0; i < u1; ++i) {
      const int64_t t = i / s.hq, h = i % s.hq, g = h / s.g, j = h % s.g;
      const int64_t st = n_split(t);
      const float* slots = partial + (t * s.hkv + g) * s.s_max * pf;
      float mstar = -INFINITY;
      for (int64_t sp = 0; sp < st; ++sp) {
        const float ms = slots[sp * pf + s.g * s.dv + j];
        mstar = ms > mstar ? ms : mstar;
      }
      float* o = out.row<float>(h, t);
      float lsum = 0.0f;
      for (int64_t sp = 0; sp < st; ++sp) {
        const float* slot = slots + sp * pf;
        const float w = std::exp(slot[s.g * s.dv + j] - mstar);
        lsum += w * slot[s.g * s.dv + s.g + j];
        const float* a = slot + j * s.dv;
        if (sp == 0) {
          for (int64_t c = 0; c < s.dv; ++c) o[c] = w * a[c];
        } else {
          for (int64_t c = 0; c < s.dv; ++c) o[c] += w * a[c];
        }
      }
      const float inv = 1.0f / lsum;
      for (int64_t c = 0; c < s.dv; ++c) o[c] *= inv;
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(ATTENTION, run_attention, attention_scratch);

}  // namespace qh::cpu
