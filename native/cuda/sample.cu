// SAMPLE: logits f32 {V, R}, hist i32 {N, R}, cfg f32 {8, R} -> out i32 {R} (native/core/op_list.h; the CPU
// reference native/cpu/sample.cc, the definition src/runtime/sampler.ts). One 1024-thread block per row, f32
// values, no sort and no data-dependent amount of work: every step is a fixed number of passes over the row.
//
//   1. vals (scratch, f32 {V, R}) = logits; the penalties rewrite the window's distinct tokens (hist is short).
//   2. block max / argmax (lowest id on ties) / NaN flag: NaN -> -1; greedy or a +-inf max -> the argmax.
//   3. Every kept set of the chain is a best-first prefix (order: value desc, id asc) of the finite tokens, cut
//      again by min-p's l >= max + ln(min_p). A prefix is held as a Bound (key, id): the member ranked last.
//      Each filter, and the final draw, is one question: "which member does the cumulative weight, taken in
//      best-first order, cross tau at?", with
//        top-k:   weight 1,                    tau = k,     crossing cum >= tau  (the k-th token)
//        top-p:   weight e^(l - max),          tau = p·z,   crossing cum >= tau  (z = total over the set)
//        draw:    weight e^((l - max) / T),    tau = u·z,   crossing cum >  tau  (walk: u·z < cum)
//      answered by a radix descent on the order-preserving u32 key of the f32 value: 4 levels of 8 bits, each
//      one pass building a 256-bin weight histogram of the members under the prefix found so far, and a warp
//      scanning the bins from the top; then the exact key's tie group (equal values, equal weights) is walked
//      in id order (select_id_order). Without top-k and top-p the draw walks the kept set in id order directly.
//   Weights are 2^-40 fixed point in u64 (a weight < 2^-41 counts 0: such a token is never drawn): sums are
//   exact integers, so the result does not depend on the summation order and the levels agree with each other
//   (V <= 2^24, validate_sample.cc, keeps every sum below 2^64). Only expf and the f32 penalties/thresholds
//   differ from the f64 CPU reference: the op picks the CPU's token except where u·z, p·z or the min-p threshold
//   falls within f32 rounding of a boundary (test/gpu/sample.test.ts).
// Cost per row: ~2 + 6 passes per active filter/draw over V floats (~19 for top-k + top-p + min-p), read from
// L2 by one SM. Scratch: R·V floats.
#include <climits>
#include <cstdint>

#include "backend.cuh"
#include "reduce.cuh"

namespace qh::cuda {
namespace {

using u64 = unsigned long long;

constexpr int kBlock = 1024;
constexpr int kWarps = kBlock / 32;
constexpr float kFix = 1099511627776.0f;  // 2^40
constexpr uint32_t kFiniteLo = 0x00800000u;  // key_of(-FLT_MAX): keys >= it are finite (or +inf)

// The cfg row, sanitised as op_list.h says (the same rules as native/cpu/sample.cc read_cfg).
struct Cfg {
  bool greedy;  // temperature <= 0 or NaN
  float temp;
  bool top_k;  // 1 <= k < V
  float k;     // truncated to an integer
  bool top_p;  // p < 1
  float p;
  bool min_p;  // min_p > 0, clamped to 1
  float min_p_value;
  float rep, pres, freq;
  float u;  // in [0, 1)
};

__device__ Cfg read_cfg(const float* c, int64_t V) {
  Cfg g;
  g.greedy = !(c[0] > 0.0f);
  g.temp = c[0];
  g.top_k = c[1] >= 1.0f && static_cast<double>(c[1]) < static_cast<double>(V);
  g.k = g.top_k ? truncf(c[1]) : 0.0f;
  g.top_p = c[2] < 1.0f;
  g.p = c[2];
  g.min_p = c[3] > 0.0f;
  g.min_p_value = fminf(c[3], 1.0f);
  g.rep = c[4];
  g.pres = c[5];
  g.freq = c[6];
  const float u = c[7];
  g.u = u >= 0.0f && u < 1.0f ? u : (u >= 1.0f ? 1.0f - 0x1p-24f : 0.0f);
  return g;
}

// Order-preserving map of a non-NaN f32 to u32 (larger value, larger key); -0 and +0 share a key.
__device__ __forceinline__ uint32_t key_of(float v) {
  const uint32_t b = __float_as_uint(v == 0.0f ? 0.0f : v);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// A best-first prefix: the tokens ranked at or before (key, id). {0, INT_MAX} holds every token.
struct Bound {
  uint32_t key;
  int32_t id;
};

__device__ __forceinline__ bool member(uint32_t key, int32_t i, Bound b, uint32_t lo) {
  return key >= lo && (key > b.key || (key == b.key && i <= b.id));
}

// Weight of a member with value v: 1 (counting), or e^((v - max) / tdiv) in 2^-40 fixed point (v <= max).
struct Weight {
  bool count;
  float max;
  float tdiv;
};

__device__ __forceinline__ u64 weight(const Weight& w, float v) {
  if (w.count) return 1ull;
  return __float2ull_rn(expf((v - w.max) / w.tdiv) * kFix);
}

__device__ __forceinline__ bool crosses(u64 cum, double tau, bool inclusive) {
  const double c = static_cast<double>(cum);
  return inclusive ? c >= tau : c > tau;
}

struct Shared {
  u64 hist[256];
  u64 warp[kWarps];
  double tau;
  u64 excl;
  int digit;
  int winner;
  int32_t result;
};

// Block-wide exclusive prefix sum of x (thread order) and the total. Every thread must call it.
__device__ u64 block_excl_scan(u64 x, u64* total, Shared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  u64 incl = x;
  for (int o = 1; o < 32; o <<= 1) {
    const u64 y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  __syncthreads();  // sh.warp may still be read from a previous call
  if (lane == 31) sh.warp[warp] = incl;
  __syncthreads();
  u64 before = 0, tot = 0;
  for (int w = 0; w < kWarps; ++w) {
    const u64 t = sh.warp[w];
    if (w < warp) before += t;
    tot += t;
  }
  *total = tot;
  return before + incl - x;
}

// The first member of `in` with key >= lo (and, if `tie`, key == tie_key), in ID order, at which
// base + the cumulative weight crosses tau = tau_abs + tau_frac * (total weight of those members); -1 if none.
// Each thread sums a contiguous segment, a block scan places the segments, and the one thread whose segment
// holds the crossing walks it. Every thread must call it.
__device__ int32_t select_id_order(const float* vals, int64_t V, Bound in, uint32_t lo, bool tie, uint32_t tie_key, Weight w,
                                   u64 base, double tau_abs, double tau_frac, bool inclusive, Shared& sh) {
  const int64_t seg = (V + kBlock - 1) / kBlock;
  const int64_t beg = min(V, static_cast<int64_t>(threadIdx.x) * seg), end = min(V, beg + seg);
  u64 s = 0;
  for (int64_t i = beg; i < end; ++i) {
    const float v = vals[i];
    const uint32_t key = key_of(v);
    if (member(key, static_cast<int32_t>(i), in, lo) && (!tie || key == tie_key)) s += weight(w, v);
  }
  u64 total;
  const u64 excl = block_excl_scan(s, &total, sh);
  const double tau = tau_abs + tau_frac * static_cast<double>(total);
  if (threadIdx.x == 0) sh.winner = INT_MAX;
  __syncthreads();
  // cum is monotone: the first segment whose end crosses holds the crossing.
  if (s > 0 && crosses(base + excl + s, tau, inclusive)) atomicMin(&sh.winner, static_cast<int>(threadIdx.x));
  __syncthreads();
  if (static_cast<int>(threadIdx.x) == sh.winner) {
    u64 cum = base + excl;
    int32_t found = -1;
    for (int64_t i = beg; i < end; ++i) {
      const float v = vals[i];
      const uint32_t key = key_of(v);
      if (!member(key, static_cast<int32_t>(i), in, lo) || (tie && key != tie_key)) continue;
      const u64 x = weight(w, v);
      if (x == 0) continue;
      cum += x;
      if (crosses(cum, tau, inclusive)) {
        found = static_cast<int32_t>(i);
        break;
      }
    }
    sh.result = found;
  }
  __syncthreads();
  const int32_t r = sh.winner == INT_MAX ? -1 : sh.result;
  __syncthreads();  // sh.winner / sh.result are rewritten by the next call
  return r;
}

struct Pick {
  bool found;
  Bound at;  // the crossing member
};

// The first member of `in` with key >= lo, in BEST-FIRST order, at which the cumulative weight crosses
// tau = tau_abs + tau_frac * (total weight of the members). Every thread must call it.
__device__ Pick select_best_first(const float* vals, int64_t V, Bound in, uint32_t lo, Weight w, double tau_abs, double tau_frac,
                                  bool inclusive, Shared& sh) {
  uint32_t prefix = 0, mask = 0;
  u64 base = 0;  // weight of the members ranked before the current prefix
  for (int level = 0; level < 4; ++level) {
    const int shift = 24 - 8 * level;
    for (int d = threadIdx.x; d < 256; d += kBlock) sh.hist[d] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < V; i += kBlock) {
      const float v = vals[i];
      const uint32_t key = key_of(v);
      if ((key & mask) != prefix || !member(key, static_cast<int32_t>(i), in, lo)) continue;
      const u64 x = weight(w, v);
      if (x) atomicAdd(&sh.hist[(key >> shift) & 255u], x);
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      // lane l owns digits 255 - 8l down to 248 - 8l: lanes in order = digits in best-first order
      const int lane = threadIdx.x;
      u64 own = 0;
      for (int j = 0; j < 8; ++j) own += sh.hist[255 - 8 * lane - j];
      u64 incl = own;
      for (int o = 1; o < 32; o <<= 1) {
        const u64 y = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += y;
      }
      const u64 total = __shfl_sync(0xffffffffu, incl, 31);
      const double tau = level == 0 ? tau_abs + tau_frac * static_cast<double>(total) : sh.tau;
      int found = -1;
      u64 above = incl - own;  // weight of this level's digits above the lane's first digit
      for (int j = 0; j < 8; ++j) {
        const int d = 255 - 8 * lane - j;
        const u64 hv = sh.hist[d];
        if (hv > 0 && crosses(base + above + hv, tau, inclusive)) {
          found = d;
          break;
        }
        above += hv;
      }
      const unsigned ball = __ballot_sync(0xffffffffu, found >= 0);
      if (ball == 0) {
        if (lane == 0) sh.digit = -1;
      } else if (lane == __ffs(ball) - 1) {
        sh.digit = found;
        sh.excl = above;
      }
      if (level == 0 && lane == 0) sh.tau = tau;
    }
    __syncthreads();
    const int d = sh.digit;
    if (d < 0) return {false, in};  // the same for every thread: the total never crosses tau
    base += sh.excl;
    prefix |= static_cast<uint32_t>(d) << shift;
    mask |= 0xffu << shift;
    __syncthreads();  // hist, digit and excl are rewritten by the next level
  }
  // prefix is now the exact key: the crossing member is in its tie group, taken in id order.
  const int32_t id = select_id_order(vals, V, in, lo, true, prefix, w, base, sh.tau, 0.0, inclusive, sh);
  return {id >= 0, Bound{prefix, id}};
}

__global__ void __launch_bounds__(kBlock)
    sample_kernel(const float* __restrict__ logits,  // [R][V]
                  const int32_t* __restrict__ hist,  // [R][N]
                  const float* __restrict__ cfg,     // [R][8]
                  int32_t* __restrict__ out,         // [R]
                  float* __restrict__ scratch,       // [R][V] working logits
                  int64_t V, int64_t N) {
  __shared__ Shared sh;
  __shared__ float best_v[kWarps];
  __shared__ int32_t best_i[kWarps];
  const int64_t row = blockIdx.x;
  const float* x = logits + row * V;
  const int32_t* h = hist + row * N;
  float* vals = scratch + row * V;
  const Cfg g = read_cfg(cfg + row * 8, V);

  // 1. working logits; the first occurrence of each window token applies its penalty (count over the window)
  for (int64_t i = threadIdx.x; i < V; i += kBlock) vals[i] = x[i];
  __syncthreads();
  for (int64_t j = threadIdx.x; j < N; j += kBlock) {
    const int32_t t = h[j];
    if (t < 0 || t >= V) continue;
    bool first = true;
    for (int64_t e = 0; e < j && first; ++e) first = h[e] != t;
    if (!first) continue;
    int32_t c = 0;
    for (int64_t e = j; e < N; ++e) c += h[e] == t;
    float l = x[t];
    l = l <= 0.0f ? l * g.rep : l / g.rep;
    l -= static_cast<float>(c) * g.freq + g.pres;
    vals[t] = l;
  }
  __syncthreads();

  // 2. max / argmax / NaN
  float best = -INFINITY;
  int32_t bi = INT_MAX;
  int nan = 0;
  for (int64_t i = threadIdx.x; i < V; i += kBlock) {
    const float v = vals[i];
    if (isnan(v)) nan = 1;
    else if (better(v, static_cast<int32_t>(i), best, bi)) {
      best = v;
      bi = static_cast<int32_t>(i);
    }
  }
  if (__syncthreads_or(nan)) {
    if (threadIdx.x == 0) out[row] = -1;
    return;
  }
  block_best(&best, &bi, best_v, best_i);
  if (g.greedy || isinf(best)) {
    if (threadIdx.x == 0) out[row] = bi;
    return;
  }

  // 3. top-k, top-p (as bounds on the best-first order), min-p (as a key floor), then the draw
  Bound b{0u, INT_MAX};
  if (g.top_k) {
    const Pick p = select_best_first(vals, V, b, kFiniteLo, Weight{true, best, 1.0f}, g.k, 0.0, true, sh);
    if (p.found) b = p.at;  // else fewer than k finite tokens: all stay
  }
  if (g.top_p) {
    const Pick p = select_best_first(vals, V, b, kFiniteLo, Weight{false, best, 1.0f}, 0.0, g.p, true, sh);
    if (p.found) b = p.at;  // else the mass never reaches p (rounding): all stay
  }
  const uint32_t lo = g.min_p ? max(kFiniteLo, key_of(best + logf(g.min_p_value))) : kFiniteLo;
  const Weight walk{false, best, g.temp};
  int32_t id;
  if (g.top_k || g.top_p) {
    const Pick p = select_best_first(vals, V, b, lo, walk, 0.0, g.u, false, sh);
    id = p.found ? p.at.id : bi;
  } else {
    id = select_id_order(vals, V, b, lo, false, 0u, walk, 0ull, 0.0, g.u, false, sh);
  }
  if (threadIdx.x == 0) out[row] = id >= 0 ? id : bi;  // u·z < z always crosses; bi guards the impossible
}

size_t sample_scratch(const OpCall& call, int) {
  return static_cast<size_t>(call.in[0].ne[0]) * static_cast<size_t>(call.in[0].ne[1]) * sizeof(float);
}

Status run_sample(const OpCall& call, CudaKernelContext& ctx) {
  const Tensor &logits = call.in[0], &hist = call.in[1], &cfg = call.in[2];
  const int64_t V = logits.ne[0], R = logits.ne[1], N = hist.ne[0];
  const size_t need = sample_scratch(call, ctx.sm_count);
  if (ctx.scratch == nullptr || ctx.scratch_size < need)
    return Status::error("INVALID_ARGUMENT", "SAMPLE op: scratch of " + std::to_string(ctx.scratch_size) + " bytes, need " + std::to_string(need));
  sample_kernel<<<static_cast<unsigned>(R), kBlock, 0, ctx.stream>>>(logits.ptr<const float>(), hist.ptr<const int32_t>(), cfg.ptr<const float>(),
                                                                    call.out[0].ptr<int32_t>(), static_cast<float*>(ctx.scratch), V, N);
  return launch_status("sample_kernel");
}

}  // namespace

QH_CUDA_KERNEL(SAMPLE, run_sample, sample_scratch);

}  // namespace qh::cuda
