// GATED_DELTA_NET: the gated delta rule (spec §3.2 steps 6-7 and its chunked form), f32 throughout.
//   q    f32 {dk, nk, T}   L2-normed, scaled by 1/sqrt(dk)
//   k    f32 {dk, nk, T}   L2-normed
//   v    f32 {dv, nv, T}
//   g    f32 {nv, T}       log decay (<= 0)
//   beta f32 {nv, T}
//   S    f32 {dk, dv, nv}  state; V head j is a dv x dk block, element (key i, value c) at [j][c][i]
//   out  f32 {dv, nv, T}
// Per token, V head j, K head h = kh(j):  S <- e^g S;  delta = beta (v - S^T k);  S <- S + k delta^T;  o = S^T q.
// kh(j) = j mod nk (p.i[0] = 0, GGUF tiled) or j / (nv/nk) (p.i[0] = 1, grouped).
// p.i[1]: 0 auto (chunked when T >= kAutoChunkMinT), 1 token-serial, 2 chunked with chunk length p.i[2] (0 -> 64).
// Threads split the V heads: every head's arithmetic is the same whatever the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "simd.h"
#include "kernel.h"

namespace qh::cpu {
namespace {

constexpr int64_t kDefaultChunk = 64;
// Auto mode: chunked from this many tokens on. Measured by bench/ops/gdn.bench.ts (27B layer shape, 2-core AVX-512
// EPYC VM, AVX2 kernels): serial wins below T = 32 (chunked/serial 0.55x at T = 8, 0.68x at 16); from 32 up
// the two are within noise (1.00-1.12x at 32..4096, 1.01x at 512, 1.02x at 4096); 128 is where parity was
// stable across runs. The serial path also keeps decode == batched prefill bit-exact below it.
constexpr int64_t kAutoChunkMinT = 128;

struct GdnArgs {
  const float *q, *k, *v, *g, *beta;
  float* S;
  float* out;
  int64_t dk, dv, nk, nv, T;
  int64_t head_map;  // 0 tiled, 1 grouped
  int64_t chunk;     // chunk length (chunked mode)
  bool simd;
  float* scratch;        // chunked: per-thread workspace of ws_floats floats
  size_t ws_floats;

  int64_t kh(int64_t j) const { return head_map == 0 ? j % nk : j / (nv / nk); }
  const float* q_row(int64_t t, int64_t h) const { return q + (t * nk + h) * dk; }
  const float* k_row(int64_t t, int64_t h) const { return k + (t * nk + h) * dk; }
  const float* v_row(int64_t t, int64_t j) const { return v + (t * nv + j) * dv; }
  float* o_row(int64_t t, int64_t j) const { return out + (t * nv + j) * dv; }
  float* s_col(int64_t j, int64_t c) const { return S + (j * dv + c) * dk; }
  float gate(int64_t t, int64_t j) const { return g[t * nv + j]; }
  float bet(int64_t t, int64_t j) const { return beta[t * nv + j]; }
};

int64_t resolve_mode(const OpCall& call) {
  const int64_t mode = call.p.i[1];
  if (mode != 0) return mode;
  return call.in[0].ne[2] >= kAutoChunkMinT ? 2 : 1;
}
int64_t resolve_chunk(const OpCall& call) { return call.p.i[2] > 0 ? call.p.i[2] : kDefaultChunk; }

// ---------------------------------------------------------------------------------------------------------
// Token-serial recurrence.

// Scalar reference: the formula, one V head.
void serial_scalar(const GdnArgs& a, int64_t j) {
  const int64_t h = a.kh(j);
  for (int64_t t = 0; t < a.T; ++t) {
    const float alpha = std::exp(a.gate(t, j)), b = a.bet(t, j);
    const float *kt = a.k_row(t, h), *qt = a.q_row(t, h), *vt = a.v_row(t, j);
    float* ot = a.o_row(t, j);
    for (int64_t c = 0; c < a.dv; ++c) {
      float* s = a.s_col(j, c);  // column c of S_j: s[i] = S_j(key i, value c)
      for (int64_t i = 0; i < a.dk; ++i) s[i] *= alpha;            // S <- alpha S
      float r = 0.0f;                                                // r_c = (S^T k)_c
      for (int64_t i = 0; i < a.dk; ++i) r += s[i] * kt[i];
      const float delta = b * (vt[c] - r);                          // delta_c = beta (v_c - r_c)
      for (int64_t i = 0; i < a.dk; ++i) s[i] += kt[i] * delta;     // S <- S + k delta^T
      float o = 0.0f;                                                // o_c = (S^T q)_c
      for (int64_t i = 0; i < a.dk; ++i) o += s[i] * qt[i];
      ot[c] = o;
    }
  }
}

#if defined(QH_NA_X86)
// Columns of S are independent recurrences (column c only reads v_c), so the fast path walks blocks of 4
// columns (4 dk floats: L1-resident) through a tile of tokens, instead of streaming the whole dv x dk state
// per token. The 4 columns are interleaved for ILP. r = alpha (s . k) and s' = alpha s + delta k fold the decay
// into the two passes (algebraically the formula; rounding differs from the scalar path by a few ulps).
template <int NC>
QH_NA_AVX2 inline void serial_cols_avx2(const GdnArgs& a, int64_t j, int64_t h, int64_t c0, int64_t t0, int64_t t1) {
  using namespace na;
  const int64_t dk = a.dk, dk8 = dk / 8 * 8;
  float* s[NC];
  for (int n = 0; n < NC; ++n) s[n] = a.s_col(j, c0 + n);
  for (int64_t t = t0; t < t1; ++t) {
    const float alpha = std::exp(a.gate(t, j)), b = a.bet(t, j);
    const float *kt = a.k_row(t, h), *qt = a.q_row(t, h), *vt = a.v_row(t, j);
    // pass 1: r_n = alpha * (s_n . k)
    // Two accumulators per column: 2 NC independent FMA chains cover the FMA latency.
    __m256 acc[NC], acc2[NC];
    for (int n = 0; n < NC; ++n) acc[n] = acc2[n] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= dk8; i += 16) {
      const __m256 k0 = _mm256_loadu_ps(kt + i), k1 = _mm256_loadu_ps(kt + i + 8);
      for (int n = 0; n < NC; ++n) {
        acc[n] = _mm256_fmadd_ps(_mm256_loadu_ps(s[n] + i), k0, acc[n]);
        acc2[n] = _mm256_fmadd_ps(_mm256_loadu_ps(s[n] + i + 8), k1, acc2[n]);
      }
    }
    for (; i < dk8; i += 8) {
      const __m256 kv = _mm256_loadu_ps(kt + i);
      for (int n = 0; n < NC; ++n) acc[n] = _mm256_fmadd_ps(_mm256_loadu_ps(s[n] + i), kv, acc[n]);
    }
    float delta[NC];
    for (int n = 0; n < NC; ++n) {
      float r = hsum256(_mm256_add_ps(acc[n], acc2[n]));
      for (int64_t i = dk8; i < dk; ++i) r += s[n][i] * kt[i];
      delta[n] = b * (vt[c0 + n] - alpha * r);
    }
    // pass 2: s_n <- alpha s_n + delta_n k;  o_n = s_n . q
    const __m256 av = _mm256_set1_ps(alpha);
    __m256 dv[NC];
    for (int n = 0; n < NC; ++n) {
      dv[n] = _mm256_set1_ps(delta[n]);
      acc[n] = acc2[n] = _mm256_setzero_ps();
    }
    for (i = 0; i + 16 <= dk8; i += 16) {
      const __m256 k0 = _mm256_loadu_ps(kt + i), q0 = _mm256_loadu_ps(qt + i);
      const __m256 k1 = _mm256_loadu_ps(kt + i + 8), q1 = _mm256_loadu_ps(qt + i + 8);
      for (int n = 0; n < NC; ++n) {
        const __m256 s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(s[n] + i), _mm256_mul_ps(dv[n], k0));
        const __m256 s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(s[n] + i + 8), _mm256_mul_ps(dv[n], k1));
        _mm256_storeu_ps(s[n] + i, s0);
        _mm256_storeu_ps(s[n] + i + 8, s1);
        acc[n] = _mm256_fmadd_ps(s0, q0, acc[n]);
        acc2[n] = _mm256_fmadd_ps(s1, q1, acc2[n]);
      }
    }
    for (; i < dk8; i += 8) {
      const __m256 kv = _mm256_loadu_ps(kt + i), qv = _mm256_loadu_ps(qt + i);
      for (int n = 0; n < NC; ++n) {
        const __m256 sn = _mm256_fmadd_ps(av, _mm256_loadu_ps(s[n] + i), _mm256_mul_ps(dv[n], kv));
        _mm256_storeu_ps(s[n] + i, sn);
        acc[n] = _mm256_fmadd_ps(sn, qv, acc[n]);
      }
    }
    float* ot = a.o_row(t, j);
    for (int n = 0; n < NC; ++n) {
      float o = hsum256(_mm256_add_ps(acc[n], acc2[n]));
      for (int64_t i = dk8; i < dk; ++i) {
        s[n][i] = alpha * s[n][i] + delta[n] * kt[i];
        o += s[n][i] * qt[i];
      }
      ot[c0 + n] = o;
    }
  }
}

QH_NA_AVX2 void serial_avx2(const GdnArgs& a, int64_t j) {
  const int64_t h = a.kh(j);
  constexpr int64_t kTokTile = 64;  // k/q rows of a tile (64 x 2 x dk floats) stay in L2 across column blocks
  for (int64_t t0 = 0; t0 < a.T; t0 += kTokTile) {
    const int64_t t1 = std::min(a.T, t0 + kTokTile);
    int64_t c = 0;
    for (; c + 4 <= a.dv; c += 4) serial_cols_avx2<4>(a, j, h, c, t0, t1);
    for (; c < a.dv; ++c) serial_cols_avx2<1>(a, j, h, c, t0, t1);
  }
}
#endif

// ---------------------------------------------------------------------------------------------------------
// Chunked form (spec §3.2), per V head, chunk of n <= L tokens, incoming state S (dk x dv):
//   gamma_t = sum_{s<=t} g_s;  Gamma_t = e^gamma_t;  D_ts = e^(gamma_t - gamma_s) for s <= t (exp only there)
//   A_ts = beta_t (k_t . k_s) D_ts  (s < t);   (I + A) [U | W] = [diag(beta) V | diag(beta Gamma) K]
//   V' = U - W S;   O = diag(Gamma) Q S + (D o Q K^T) V';   S <- Gamma_n S + (diag(e^(gamma_n - gamma_t)) K)^T V'
// The last chunk simply has n < L: that is exactly the zero-padded chunk (q = k = v = beta = 0, g = 0 rows
// change no real row and no state) with the padded rows never computed. The state is held transposed
// (ST[i][c], value index contiguous) for the whole call so every product below is a row-major GEMM.

// C (m x N, row stride ldc) = [C +] alpha * A B, A(r, p) = A[r*ars + p*acs], B (kd x N, row stride ldb).
void gemm_scalar(int64_t m, int64_t N, int64_t kd, const float* A, int64_t ars, int64_t acs, const float* B,
                 int64_t ldb, float* C, int64_t ldc, float alpha, bool accumulate) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < N; ++c) {
      float acc = 0.0f;
      for (int64_t p = 0; p < kd; ++p) acc += A[r * ars + p * acs] * B[p * ldb + c];
      C[r * ldc + c] = (accumulate ? C[r * ldc + c] : 0.0f) + alpha * acc;
    }
}

#if defined(QH_NA_X86)
// MR x 16 register block (2 * MR accumulators), then MR x 8, then scalar columns.
template <int MR>
QH_NA_AVX2 inline void gemm_rows_avx2(int64_t N, int64_t kd, const float* A, int64_t ars, int64_t acs,
                                   const float* B, int64_t ldb, float* C, int64_t ldc, float alpha,
                                   bool accumulate) {
  const __m256 al = _mm256_set1_ps(alpha);
  int64_t c = 0;
  for (; c + 16 <= N; c += 16) {
    __m256 acc0[MR], acc1[MR];
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kd; ++p) {
      const __m256 b0 = _mm256_loadu_ps(B + p * ldb + c), b1 = _mm256_loadu_ps(B + p * ldb + c + 8);
      for (int r = 0; r < MR; ++r) {
        const __m256 av = _mm256_broadcast_ss(A + r * ars + p * acs);
        acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
        acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
      }
    }
    for (int r = 0; r < MR; ++r) {
      float* cr = C + r * ldc + c;
      __m256 c0 = accumulate ? _mm256_loadu_ps(cr) : _mm256_setzero_ps();
      __m256 c1 = accumulate ? _mm256_loadu_ps(cr + 8) : _mm256_setzero_ps();
      _mm256_storeu_ps(cr, _mm256_fmadd_ps(al, acc0[r], c0));
      _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(al, acc1[r], c1));
    }
  }
  for (; c + 8 <= N; c += 8) {
    __m256 acc0[MR];
    for (int r = 0; r < MR; ++r) acc0[r] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kd; ++p) {
      const __m256 b0 = _mm256_loadu_ps(B + p * ldb + c);
      for (int r = 0; r < MR; ++r) acc0[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + r * ars + p * acs), b0, acc0[r]);
    }
    for (int r = 0; r < MR; ++r) {
      float* cr = C + r * ldc + c;
      __m256 c0 = accumulate ? _mm256_loadu_ps(cr) : _mm256_setzero_ps();
      _mm256_storeu_ps(cr, _mm256_fmadd_ps(al, acc0[r], c0));
    }
  }
  for (; c < N; ++c)
    for (int r = 0; r < MR; ++r) {
      float acc = 0.0f;
      for (int64_t p = 0; p < kd; ++p) acc = std::fma(A[r * ars + p * acs], B[p * ldb + c], acc);
      C[r * ldc + c] = (accumulate ? C[r * ldc + c] : 0.0f) + alpha * acc;
    }
}

// Column panels of 64 outer, row blocks inner: the kd x 64 panel of B (32 KiB at kd = 128) stays in L1 while
// every row block streams past it (B rows outer would re-read all of B from L2 per 6 rows).
QH_NA_AVX2 void gemm_avx2(int64_t m, int64_t N, int64_t kd, const float* A, int64_t ars, int64_t acs,
                       const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, bool accumulate) {
  for (int64_t c0 = 0; c0 < N; c0 += 64) {
    const int64_t nc = std::min<int64_t>(64, N - c0);
    int64_t r = 0;
    for (; r + 6 <= m; r += 6)
      gemm_rows_avx2<6>(nc, kd, A + r * ars, ars, acs, B + c0, ldb, C + r * ldc + c0, ldc, alpha, accumulate);
    for (; r < m; ++r)
      gemm_rows_avx2<1>(nc, kd, A + r * ars, ars, acs, B + c0, ldb, C + r * ldc + c0, ldc, alpha, accumulate);
  }
}
#endif

inline void gemm(bool simd, int64_t m, int64_t N, int64_t kd, const float* A, int64_t ars, int64_t acs,
                 const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, bool accumulate) {
  if (m <= 0 || N <= 0) return;
#if defined(QH_NA_X86)
  if (simd) {
    gemm_avx2(m, N, kd, A, ars, acs, B, ldb, C, ldc, alpha, accumulate);
    return;
  }
#endif
  (void)simd;
  gemm_scalar(m, N, kd, A, ars, acs, B, ldb, C, ldc, alpha, accumulate);
}

// Per-thread workspace, in floats (each piece rounded up to 16 floats: keeps the 64-byte alignment).
constexpr int64_t up16(int64_t n) { return (n + 15) / 16 * 16; }
size_t chunk_ws_floats(int64_t dk, int64_t dv, int64_t L) {
  return static_cast<size_t>(up16(dk * dv)      // ST {dv, dk}: ST[i][c]
                             + up16(L * (dv + dk))  // X {dv + dk, L}: row t = [U_t | W_t]; U becomes V'
                             + up16(L * dk) * 2     // Kd {dk, L}; KT {L, dk} (K^T of the chunk)
                             + up16(L * L) * 2      // A (first K K^T), M (first Q K^T)
                             + up16(L) * 2);        // gamma, Gamma
}

// Lower-triangular block product C[t][s] = sum_i P[t][i] KT[i][s] for s <= t (rounded up to whole row blocks
// of 6: entries above the diagonal may be written and are overwritten by the caller).
void lower_products(bool simd, int64_t n, int64_t dk, const float* P, int64_t ldp, const float* KT, int64_t L, float* C) {
  for (int64_t r0 = 0; r0 < n; r0 += 6) {
    const int64_t R = std::min<int64_t>(6, n - r0);
    gemm(simd, R, std::min(n, r0 + R), dk, P + r0 * ldp, ldp, 1, KT, L, C + r0 * L, L, 1.0f, false);
  }
}

// In place: X <- (I + A)^{-1} X for the strictly lower A (n x n, row stride L), X n x N (row stride ldx).
// Blocked forward substitution: rows [r0, r0+6) first take the GEMM update from all earlier blocks, then the
// substitution finishes inside the 6 x 6 diagonal block. Same sums as row-by-row X_t -= sum_{s<t} A_ts X_s.
void forward_subst(bool simd, int64_t n, int64_t N, const float* A, int64_t L, float* X, int64_t ldx) {
  for (int64_t r0 = 0; r0 < n; r0 += 6) {
    const int64_t R = std::min<int64_t>(6, n - r0);
    if (r0 > 0) gemm(simd, R, N, r0, A + r0 * L, L, 1, X, ldx, X + r0 * ldx, ldx, -1.0f, true);
    for (int64_t t = r0 + 1; t < r0 + R; ++t)
      gemm(simd, 1, N, t - r0, A + t * L + r0, 0, 1, X + r0 * ldx, ldx, X + t * ldx, ldx, -1.0f, true);
  }
}

void chunked_head(const GdnArgs& a, int64_t j, float* ws) {
  const int64_t dk = a.dk, dv = a.dv, L = a.chunk, h = a.kh(j), ldx = dv + dk;
  float* ST = ws;
  float* X = ST + up16(dk * dv);
  float* Kd = X + up16(L * ldx);
  float* KT = Kd + up16(L * dk);
  float* A = KT + up16(L * dk);
  float* M = A + up16(L * L);
  float* gam = M + up16(L * L);
  float* Gam = gam + up16(L);
  const int64_t ldq = a.nk * dk, ldv = a.nv * dv;  // row strides of one head's q/k rows and v/out rows

  for (int64_t c = 0; c < dv; ++c) {  // ST[i][c] = S_j(i, c)
    const float* s = a.s_col(j, c);
    for (int64_t i = 0; i < dk; ++i) ST[i * dv + c] = s[i];
  }
  for (int64_t t0 = 0; t0 < a.T; t0 += L) {
    const int64_t n = std::min(L, a.T - t0);
    const float *Q = a.q_row(t0, h), *K = a.k_row(t0, h), *V = a.v_row(t0, j);
    float* O = a.o_row(t0, j);
    float acc = 0.0f;
    for (int64_t t = 0; t < n; ++t) {  // cumulative log-decay; every exp below is of a value <= 0
      acc += a.gate(t0 + t, j);
      gam[t] = acc;
      Gam[t] = std::exp(acc);
    }
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < dk; ++i) KT[i * L + t] = K[t * ldq + i];
    lower_products(a.simd, n, dk, K, ldq, KT, L, A);  // A <- K K^T (lower)
    lower_products(a.simd, n, dk, Q, ldq, KT, L, M);  // M <- Q K^T (lower)
    // A_ts = beta_t D_ts (k_t . k_s) for s < t, M_ts = D_ts (q_t . k_s) for s <= t; D only where s <= t
    // (mask before exp: gamma_t - gamma_s > 0 above the diagonal).
    for (int64_t t = 0; t < n; ++t) {
      const float bt = a.bet(t0 + t, j);
      for (int64_t s = 0; s <= t; ++s) {
        const float D = std::exp(gam[t] - gam[s]);
        M[t * L + s] *= D;
        A[t * L + s] = s < t ? bt * D * A[t * L + s] : 0.0f;
      }
      for (int64_t s = t + 1; s < n; ++s) M[t * L + s] = A[t * L + s] = 0.0f;
    }
    // Right-hand sides: U_t = beta_t v_t, W_t = beta_t Gamma_t k_t; Kd_t = e^(gamma_n - gamma_t) k_t.
    for (int64_t t = 0; t < n; ++t) {
      const float bt = a.bet(t0 + t, j), bg = bt * Gam[t], kd = std::exp(gam[n - 1] - gam[t]);
      const float *vt = V + t * ldv, *kt = K + t * ldq;
      float* xt = X + t * ldx;
      for (int64_t c = 0; c < dv; ++c) xt[c] = bt * vt[c];
      for (int64_t i = 0; i < dk; ++i) {
        xt[dv + i] = bg * kt[i];
        Kd[t * dk + i] = kd * kt[i];
      }
    }
    forward_subst(a.simd, n, ldx, A, L, X, ldx);  // [U | W] = (I + A)^{-1} [diag(beta) V | diag(beta Gamma) K]
    // V' = U - W S   (n x dv, in the U columns of X)
    gemm(a.simd, n, dv, dk, X + dv, ldx, 1, ST, dv, X, ldx, -1.0f, true);
    // O = diag(Gamma) Q S + M V'
    gemm(a.simd, n, dv, dk, Q, ldq, 1, ST, dv, O, ldv, 1.0f, false);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t c = 0; c < dv; ++c) O[t * ldv + c] *= Gam[t];
    gemm(a.simd, n, dv, n, M, L, 1, X, ldx, O, ldv, 1.0f, true);
    // S <- Gamma_n S + Kd^T V'   (dk x dv; Kd^T(i, t) = Kd[t][i])
    const float gn = Gam[n - 1];
    for (int64_t e = 0; e < dk * dv; ++e) ST[e] *= gn;
    gemm(a.simd, dk, dv, n, Kd, 1, dk, X, ldx, ST, dv, 1.0f, true);
  }
  for (int64_t c = 0; c < dv; ++c) {
    float* s = a.s_col(j, c);
    for (int64_t i = 0; i < dk; ++i) s[i] = ST[i * dv + c];
  }
}

size_t gdn_scratch(const OpCall& call, int n_threads) {
  if (resolve_mode(call) != 2) return 0;
  const int64_t dk = call.in[0].ne[0], dv = call.in[2].ne[0];
  return chunk_ws_floats(dk, dv, resolve_chunk(call)) * sizeof(float) * static_cast<size_t>(std::max(1, n_threads));
}

Status gdn_run(const OpCall& call, KernelContext& ctx) {
  GdnArgs a;
  a.q = call.in[0].ptr<const float>();
  a.k = call.in[1].ptr<const float>();
  a.v = call.in[2].ptr<const float>();
  a.g = call.in[3].ptr<const float>();
  a.beta = call.in[4].ptr<const float>();
  a.S = call.in[5].ptr<float>();
  a.out = call.out[0].ptr<float>();
  a.dk = call.in[0].ne[0];
  a.nk = call.in[0].ne[1];
  a.T = call.in[0].ne[2];
  a.dv = call.in[2].ne[0];
  a.nv = call.in[2].ne[1];
  a.head_map = call.p.i[0];
  a.chunk = resolve_chunk(call);
  a.simd = ctx.isa != Isa::Scalar;
  a.scratch = static_cast<float*>(ctx.scratch);
  a.ws_floats = chunk_ws_floats(a.dk, a.dv, a.chunk);
  const bool chunked = resolve_mode(call) == 2;
  // One head costs ~3 dk dv T FMAs; give a thread at least ~64k of them.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, 3 * a.dk * a.dv * a.T));
  ctx.pool->parallel_for(a.nv, grain, [&](int64_t j0, int64_t j1, int thread) {
    for (int64_t j = j0; j < j1; ++j) {
      if (chunked) {
        chunked_head(a, j, a.scratch + a.ws_floats * static_cast<size_t>(thread));
        continue;
      }
#if defined(QH_NA_X86)
      if (a.simd) {
        serial_avx2(a, j);
        continue;
      }
#endif
      serial_scalar(a, j);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(GATED_DELTA_NET, gdn_run, gdn_scratch);

}  // namespace qh::cpu
