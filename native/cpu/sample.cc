// SAMPLE: logits f32 {V, R}, hist i32 {N, R}, cfg f32 {8, R} -> out i32 {R} (native/core/op_list.h). The
// reference: src/runtime/sampler.ts Sampler.sampleWith step for step, in f64 like the Sampler, with the same
// summation orders (so the two agree except where libm's and V8's exp/log differ by an ulp at a boundary):
//   1. vals = logits (f64); token t of the window seen c > 0 times: l <- l / rep (l > 0) or l * rep (l <= 0),
//      then l <- l - (c * freq + pres).
//   2. max (lowest id on ties); a NaN anywhere -> -1; greedy (temperature <= 0) or a +-inf max -> the argmax.
//   3. top-k (1 <= k < V): the k best finite tokens (value desc, id asc), then top-p over them (z over the set),
//      then min-p (l >= max + ln(min_p)) as a filter; or, without top-k, top-p by the Sampler's threshold search
//      (theta steps of 8 below the max until the mass above theta reaches top_p); or min-p alone, in id order.
//   4. walk: w = exp((l - max) / T) over the kept list in its order, first token with u * z < cum.
// The cfg values are data (one plan serves every setting), sanitised as op_list.h says. Scratch per thread:
// V doubles (the working logits) and V int32 (candidate ids). Threads over rows.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernel.h"

namespace qh::cpu {
namespace {

struct Cfg {
  bool greedy;  // temperature <= 0 or NaN
  double temp;
  bool top_k;  // 1 <= k < V
  int64_t k;
  bool top_p;  // p < 1
  double p;
  bool min_p;  // min_p > 0 (clamped to 1)
  double min_p_value;
  double rep, pres, freq;
  double u;  // in [0, 1)
};

Cfg read_cfg(const float* c, int64_t V) {
  Cfg g{};
  g.greedy = !(c[0] > 0.0f);
  g.temp = c[0];
  g.top_k = c[1] >= 1.0f && static_cast<double>(c[1]) < static_cast<double>(V);
  g.k = g.top_k ? static_cast<int64_t>(c[1]) : 0;
  g.top_p = c[2] < 1.0f;
  g.p = c[2];
  g.min_p = c[3] > 0.0f;
  g.min_p_value = std::min(c[3], 1.0f);
  g.rep = c[4];
  g.pres = c[5];
  g.freq = c[6];
  const float u = c[7];
  g.u = u >= 0.0f && u < 1.0f ? u : (u >= 1.0f ? 1.0 - 0x1p-24 : 0.0);
  return g;
}

struct Row {
  int64_t V;
  const Cfg* cfg;
  double* vals;  // [V] working logits
  int32_t* ids;  // [V] candidate ids
};

inline bool better(const double* v, int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); }

// Length of the shortest prefix of ids[0, n) (best first) whose probability e^(l - max) / z sums to >= p (>= 1).
int64_t top_p_cut(const Row& r, int64_t n, double max, double z) {
  double cum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    cum += std::exp(r.vals[r.ids[j]] - max) / z;
    if (cum >= r.cfg->p) return j + 1;
  }
  return n;
}

// ids[0, n) <- finite tokens with l >= theta, id order.
int64_t above(const Row& r, double theta) {
  int64_t n = 0;
  for (int64_t i = 0; i < r.V; ++i)
    if (r.vals[i] >= theta && r.vals[i] > -INFINITY) r.ids[n++] = static_cast<int32_t>(i);
  return n;
}

// The kept list (Sampler.keep with sorted = false): fills ids[0, n) and returns n (>= 1: the argmax is kept).
int64_t keep(const Row& r, double max) {
  const Cfg& g = *r.cfg;
  const double* v = r.vals;
  const auto by_rank = [v](int32_t a, int32_t b) { return better(v, a, b); };
  const double min_logit = g.min_p ? max + std::log(g.min_p_value) : -INFINITY;
  if (g.top_k) {
    int64_t n = above(r, -INFINITY);  // finite tokens
    if (n > g.k) {
      std::nth_element(r.ids, r.ids + g.k, r.ids + n, by_rank);
      n = g.k;
    }
    std::sort(r.ids, r.ids + n, by_rank);
    int64_t cut = n;
    if (g.top_p) {
      double z = 0.0;
      for (int64_t j = 0; j < n; ++j) z += std::exp(v[r.ids[j]] - max);
      cut = top_p_cut(r, n, max, z);
    }
    int64_t m = 0;
    for (int64_t j = 0; j < cut; ++j)
      if (v[r.ids[j]] >= min_logit) r.ids[m++] = r.ids[j];
    return m;
  }
  if (g.top_p) {
    double z = 0.0;
    int64_t finite = 0;
    for (int64_t i = 0; i < r.V; ++i) {
      z += std::exp(v[i] - max);
      finite += v[i] > -INFINITY;
    }
    double theta = std::max(min_logit, max - 8.0);
    for (;;) {
      const int64_t n = above(r, theta);
      double mass = 0.0;
      for (int64_t j = 0; j < n; ++j) mass += std::exp(v[r.ids[j]] - max) / z;
      // Stops once every finite token is in (their mass can round below top_p), as the Sampler does.
      if (mass >= g.p || theta <= min_logit || n == finite) {
        std::sort(r.ids, r.ids + n, by_rank);
        return top_p_cut(r, n, max, z);
      }
      const double next = std::max(min_logit, theta - 8.0);
      theta = next < theta ? next : min_logit;  // |theta| so large that -8 is lost: the last step at once
    }
  }
  return above(r, min_logit);
}

int32_t sample_row(const Row& r, const float* x, const int32_t* h, int64_t N) {
  const Cfg& g = *r.cfg;
  const int64_t V = r.V;
  double* v = r.vals;
  for (int64_t i = 0; i < V; ++i) v[i] = x[i];
  for (int64_t j = 0; j < N; ++j) {
    const int32_t t = h[j];
    if (t < 0 || t >= V) continue;
    bool first = true;
    for (int64_t e = 0; e < j && first; ++e) first = h[e] != t;
    if (!first) continue;
    int64_t c = 0;
    for (int64_t e = j; e < N; ++e) c += h[e] == t;
    double l = x[t];
    l = l <= 0.0 ? l * g.rep : l / g.rep;
    l -= static_cast<double>(c) * g.freq + g.pres;
    v[t] = l;
  }
  double max = -INFINITY;
  int32_t arg = 0;
  for (int64_t i = 0; i < V; ++i) {
    if (std::isnan(v[i])) return -1;
    if (v[i] > max) {
      max = v[i];
      arg = static_cast<int32_t>(i);
    }
  }
  if (g.greedy || std::isinf(max)) return arg;
  const int64_t n = keep(r, max);
  if (n == 1) return r.ids[0];
  double m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) m = std::max(m, v[r.ids[j]]);
  // w_j = e^((l - m) / T); the weights go into vals in place of the logits of the kept tokens (each id once).
  double z = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const int32_t i = r.ids[j];
    v[i] = std::exp((v[i] - m) / g.temp);
    z += v[i];
  }
  const double target = g.u * z;
  double cum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    cum += v[r.ids[j]];
    if (target < cum) return r.ids[j];
  }
  return r.ids[n - 1];
}

// Bytes of one thread's scratch: vals then ids, rounded up to 64 so every thread's doubles stay aligned.
size_t per_thread(int64_t V) { return (static_cast<size_t>(V) * (sizeof(double) + sizeof(int32_t)) + 63) / 64 * 64; }

size_t sample_scratch(const OpCall& call, int n_threads) { return static_cast<size_t>(n_threads) * per_thread(call.in[0].ne[0]); }

Status run_sample(const OpCall& call, KernelContext& ctx) {
  const Tensor &logits = call.in[0], &hist = call.in[1], &cfg = call.in[2];
  const int64_t V = logits.ne[0], R = logits.ne[1], N = hist.ne[0];
  int32_t* out = call.out[0].ptr<int32_t>();
  char* scratch = static_cast<char*>(ctx.scratch);
  ctx.pool->parallel_for(R, 1, [&](int64_t r0, int64_t r1, int thread) {
    char* base = scratch + static_cast<size_t>(thread) * per_thread(V);
    for (int64_t row = r0; row < r1; ++row) {
      const Cfg g = read_cfg(cfg.row<const float>(row), V);
      const Row r{V, &g, reinterpret_cast<double*>(base), reinterpret_cast<int32_t*>(base + static_cast<size_t>(V) * sizeof(double))};
      out[row] = sample_row(r, logits.row<const float>(row), hist.row<const int32_t>(row), N);
    }
  });
  return Status::ok();
}

}  // namespace

QH_CPU_KERNEL(SAMPLE, run_sample, sample_scratch);

}  // namespace qh::cpu
