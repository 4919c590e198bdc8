// MOE_ROUTER: softmax over all E experts -> top-K (descending; ties to the lower id) -> renormalise to sum 1
// (spec §3.5 steps 2-4; pitfall 15: no sigmoid, no bias, no extra scale).
//   logits f32 {E, T}
//   out[0] ids i32 {K, T};  out[1] weights f32 {K, T}.  p.i[0] = K.
// p_e = e^(l_e - max) / Z (Z summed in f64);  w_s = p_{id_s} / sum_{s'} p_{id_s'} (f64 sum).
// Selection compares the f32 probabilities p_e (what llama.cpp's top-k sees); exp(l - max) is monotonic, so it
// is the logit order except where two logits round to the same probability, and then the lower id wins.
// Not a hot op (E = 256, K = 8 per token): scalar only; threads split the tokens.
#include <algorithm>
#include <cmath>

#include "kernel.h"

namespace qh::cpu {
namespace {

Status moe_router_run(const OpCall& call, KernelContext& ctx) {
  const float* logits = call.in[0].ptr<const float>();
  int32_t* ids = call.out[0].ptr<int32_t>();
  float* wts = call.out[1].ptr<float>();
  const int64_t E = call.in[0].ne[0], T = call.in[0].ne[1], K = call.p.i[0];
  float* prob_all = static_cast<float*>(ctx.scratch);  // {E} per thread
  ctx.pool->parallel_for(T, std::max<int64_t>(1, 4096 / E), [&](int64_t t0, int64_t t1, int thread) {
    float* p = prob_all + static_cast<size_t>(thread) * static_cast<size_t>(E);
    for (int64_t t = t0; t < t1; ++t) {
      const float* l = logits + t * E;
      float mx = l[0];
      for (int64_t e = 1; e < E; ++e) mx = std::max(mx, l[e]);
      double Z = 0.0;
      for (int64_t e = 0; e < E; ++e) {
        p[e] = std::exp(l[e] - mx);
        Z += p[e];
      }
      const float invZ = static_cast<float>(1.0 / Z);
      for (int64_t e = 0; e < E; ++e) p[e] *= invZ;
      // Sorted insertion into the K best: ids are visited in increasing order and an equal probability never
      // displaces an earlier id (strict >), so ties keep the lower id first.
      int32_t* id = ids + t * K;
      float* w = wts + t * K;
      int64_t have = 0;
      for (int64_t e = 0; e < E; ++e) {
        if (have == K && !(p[e] > w[K - 1])) continue;
        int64_t pos = std::min(have, K - 1);
        while (pos > 0 && p[e] > w[pos - 1]) {
          if (pos < K) {
            w[pos] = w[pos - 1];
            id[pos] = id[pos - 1];
          }
          --pos;
        }
        w[pos] = p[e];
        id[pos] = static_cast<int32_t>(e);
        if (have < K) ++have;
      }
      double sel = 0.0;
      for (int64_t s = 0; s < K; ++s) sel += w[s];
      for (int64_t s = 0; s < K; ++s) w[s] = static_cast<float>(w[s] / sel);
    }
  });
  return Status::ok();
}

size_t moe_router_scratch(const OpCall& call, int n_threads) {
  return static_cast<size_t>(call.in[0].ne[0]) * sizeof(float) * static_cast<size_t>(std::max(1, n_threads));
}

}  // namespace

QH_CPU_KERNEL(MOE_ROUTER, moe_router_run, moe_router_scratch);

}  // namespace qh::cpu
