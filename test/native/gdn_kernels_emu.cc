// Host emulation of native/cuda/gdn_kernels.cuh: one std::thread per CUDA thread, blocks run one after another
// (so `static` stands in for __shared__), __syncthreads = a block barrier, __shfl_xor_sync = a warp exchange.
// Compares the token-serial and chunked kernels against a double-precision serial reference of the formula.
// Runs without a GPU: native/cuda/gdn_kernels.cuh includes nothing CUDA-specific, so the real kernel source compiles
// here against the shims below. It cannot see races a concurrent schedule would show (fibers switch only at barriers).
// Build and run (≈ 5 min on 2 cores; not part of CI):
//   g++ -std=c++20 -O2 test/native/gdn_kernels_emu.cc -o /tmp/gdn-emu && /tmp/gdn-emu
// Output: one "ok"/"FAIL" line per case (normalised max error of output and state), then "N failures"; exit 1 on any.
#include <ucontext.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>
#include <algorithm>

struct dim3 { unsigned x = 1, y = 1, z = 1; dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {} };
// Cooperative fibers (ucontext): one per CUDA thread of the block being run; a barrier wait yields to the
// scheduler until the barrier's generation moves on (the last arriver, or a fiber dropping out, advances it).
struct Bar { int expected = 0, count = 0; long gen = 0; };
struct Fiber { ucontext_t ctx; std::vector<char> stack; bool done = false; dim3 tid; };
dim3 threadIdx, blockIdx, blockDim, gridDim;
static ucontext_t g_sched;
static std::vector<Fiber> g_fib;
static int g_cur = -1;
static Bar g_block;
static std::vector<Bar> g_warps;
static std::vector<float> g_xchg;
inline void fiber_yield() { swapcontext(&g_fib[g_cur].ctx, &g_sched); }
inline void bar_arrive(Bar& b) { if (++b.count >= b.expected) { b.count = 0; ++b.gen; } }
inline void bar_wait(Bar& b) { const long my = b.gen; bar_arrive(b); while (b.gen == my) fiber_yield(); }
inline void bar_drop(Bar& b) { --b.expected; if (b.count > 0 && b.count >= b.expected) { b.count = 0; ++b.gen; } }
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static
inline void __syncthreads() { bar_wait(g_block); }
inline float __shfl_xor_sync(unsigned, float v, int o) {
  const int tid = threadIdx.x, w = tid / 32, lane = tid % 32;
  g_xchg[tid] = v;
  bar_wait(g_warps[w]);
  const float r = g_xchg[w * 32 + (lane ^ o)];
  bar_wait(g_warps[w]);
  return r;
}
#include "../../native/cuda/gdn_kernels.cuh"

using namespace qh::cuda::gdn;

static const std::function<void()>* g_body;
static void fiber_main() {
  g_body[0]();
  Fiber& f = g_fib[g_cur];
  bar_drop(g_warps[f.tid.x / 32]);
  bar_drop(g_block);
  f.done = true;
  swapcontext(&f.ctx, &g_sched);
}

void launch(dim3 grid, dim3 block, const std::function<void()>& body) {
  gridDim = grid;
  blockDim = block;
  g_body = &body;
  const unsigned nt = block.x;
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      blockIdx = dim3(bx, by);
      g_block = Bar{(int)nt, 0, 0};
      g_warps.assign((nt + 31) / 32, Bar{32, 0, 0});
      g_xchg.assign(nt, 0.f);
      g_fib.assign(nt, Fiber{});
      for (unsigned t = 0; t < nt; ++t) {
        Fiber& f = g_fib[t];
        f.tid = dim3(t);
        f.stack.resize(256 * 1024);
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack.data();
        f.ctx.uc_stack.ss_size = f.stack.size();
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, fiber_main, 0);
      }
      for (bool live = true; live;) {
        live = false;
        for (unsigned t = 0; t < nt; ++t) {
          if (g_fib[t].done) continue;
          live = true;
          g_cur = (int)t;
          threadIdx = g_fib[t].tid;
          swapcontext(&g_sched, &g_fib[t].ctx);
        }
      }
    }
}

struct Shape { int64_t dk, dv, nk, nv, hm; };

void reference(const Shape& s, int64_t T, const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
               const std::vector<float>& g, const std::vector<float>& beta, std::vector<double>& S, std::vector<double>& out) {
  for (int64_t j = 0; j < s.nv; ++j) {
    const int64_t h = s.hm == 0 ? j % s.nk : j / (s.nv / s.nk);
    for (int64_t t = 0; t < T; ++t) {
      const double al = std::exp((double)g[t * s.nv + j]), b = beta[t * s.nv + j];
      const float* kt = &k[(t * s.nk + h) * s.dk];
      const float* qt = &q[(t * s.nk + h) * s.dk];
      for (int64_t c = 0; c < s.dv; ++c) {
        double* col = &S[(j * s.dv + c) * s.dk];
        double r = 0;
        for (int64_t i = 0; i < s.dk; ++i) { col[i] *= al; r += col[i] * kt[i]; }
        const double d = b * (v[(t * s.nv + j) * s.dv + c] - r);
        double o = 0;
        for (int64_t i = 0; i < s.dk; ++i) { col[i] += kt[i] * d; o += col[i] * qt[i]; }
        out[(t * s.nv + j) * s.dv + c] = o;
      }
    }
  }
}

double normerr(const std::vector<float>& a, const std::vector<double>& b) {
  double e = 0, m = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) { if (!std::isfinite(a[i])) return INFINITY; e = std::max(e, std::fabs(a[i] - b[i])); m = std::max(m, std::fabs(b[i])); }
  return e / m;
}

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::mt19937 rng(1);
  std::normal_distribution<float> N(0, 1);
  std::uniform_real_distribution<float> U(0, 1);
  Shape shapes[] = {{20, 37, 2, 6, 0}, {20, 13, 3, 6, 1}, {128, 128, 2, 4, 1}, {128, 20, 2, 2, 0}, {300, 20, 1, 2, 0}};
  int64_t Ts[] = {1, 15, 63, 64, 65, 130};
  int64_t chunks[] = {64, 16, 100, 1};
  int fails = 0;
  for (const Shape& s : shapes) for (int64_t T : Ts) for (int64_t C0 : chunks) {
    if (C0 != 64 && (s.dk != 20 || T == 1)) continue;
    auto unit = [&](int64_t rows, int64_t d, float sc) { std::vector<float> a(rows * d); for (int64_t r = 0; r < rows; ++r) { double ss = 0; for (int64_t i = 0; i < d; ++i) { a[r*d+i] = N(rng); ss += a[r*d+i]*a[r*d+i]; } for (int64_t i = 0; i < d; ++i) a[r*d+i] = a[r*d+i] * sc / std::sqrt(ss); } return a; };
    std::vector<float> q = unit(s.nk * T, s.dk, 1 / std::sqrt((float)s.dk)), k = unit(s.nk * T, s.dk, 1);
    std::vector<float> v(s.dv * s.nv * T), g(s.nv * T), beta(s.nv * T), S0(s.dk * s.dv * s.nv);
    for (auto& x : v) x = N(rng);
    for (auto& x : g) x = -0.5f * U(rng);
    for (auto& x : beta) x = U(rng);
    for (auto& x : S0) x = 0.5f * N(rng);
    std::vector<double> Sref(S0.begin(), S0.end()), oref(v.size());
    reference(s, T, q, k, v, g, beta, Sref, oref);
    for (int algo = 1; algo <= 2; ++algo) {
      if (algo == 1 && C0 != 64) continue;
      if (algo == 2 && s.dk > kMaxChunkDk) continue;
      std::vector<float> S = S0, out(v.size(), NAN), ws;
      Args a{};
      a.q = q.data(); a.k = k.data(); a.v = v.data(); a.g = g.data(); a.beta = beta.data(); a.S = S.data(); a.out = out.data();
      a.dk = s.dk; a.dv = s.dv; a.nk = s.nk; a.nv = s.nv; a.T = T; a.head_map = s.hm;
      if (algo == 1) {
        dim3 grid((s.dv + kSerialWarps - 1) / kSerialWarps, s.nv);
        if (s.dk <= 32) launch(grid, dim3(kSerialWarps * 32), [&] { gdn_serial_kernel<1>(a); });
        else if (s.dk <= 128) launch(grid, dim3(kSerialWarps * 32), [&] { gdn_serial_kernel<4>(a); });
        else launch(grid, dim3(kSerialWarps * 32), [&] { gdn_serial_kernel<0>(a); });
      } else {
        a.chunk = std::min<int64_t>(C0, kMaxChunk);
        a.n_chunks = (T + a.chunk - 1) / a.chunk;
        ws.assign(s.nv * a.n_chunks * ws_floats(a.chunk), NAN);
        a.ws = ws.data();
        launch(dim3(a.n_chunks, s.nv), dim3(kChunkThreads), [&] { gdn_chunk_prep_kernel(a); });
        launch(dim3((s.dv + kNC - 1) / kNC, s.nv), dim3(kChunkThreads), [&] { gdn_chunk_state_kernel(a); });
      }
      const double eo = normerr(out, oref), es = normerr(S, Sref);
      const bool ok = eo < 2e-5 && es < 2e-5;
      fails += !ok;
      printf("%s dk%ld dv%ld nk%ld nv%ld map%ld T%ld algo%d C%ld: out %.2e state %.2e\n", ok ? "ok  " : "FAIL", s.dk, s.dv, s.nk, s.nv, s.hm, T, algo, C0, eo, es);
    }
  }
  printf("%d failures\n", fails);
  return fails != 0;
}
