#include "backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <vector>

#include "../core/cpu_features.h"
#include "cpu_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace qh::cpu {

namespace {

// QWEN_HYBRID_PROFILE=1 (or =cpu): wall (or calling-thread CPU) time of every kernel call summed per (op, first input's dtype), printed on stderr at
// exit, biggest first. A development aid for finding where a step's time goes; off (one branch per call) otherwise.
constexpr int kTypeIds = 31;  // DType ids are ggml's, all < 31
struct OpProfile {
  std::mutex mu;
  double seconds[kOpCount][kTypeIds] = {};
  int64_t calls[kOpCount][kTypeIds] = {};
  // 0 off, 1 wall time, 2 CPU time of the calling thread (QWEN_HYBRID_PROFILE=cpu: with threads = 1 the kernels
  // run on that thread, and CPU time leaves out the time a busy machine keeps the thread waiting).
  static int mode() {
    static const int m = [] {
      const char* v = std::getenv("QWEN_HYBRID_PROFILE");
      if (v == nullptr || v[0] == '\0' || (v[0] == '0' && v[1] == '\0')) return 0;
      return std::strcmp(v, "cpu") == 0 ? 2 : 1;
    }();
    return m;
  }
  static double now(int m) {
    if (m == 2) {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  static OpProfile& get() {
    static OpProfile* p = [] {
      auto* q = new OpProfile();
      std::atexit([] { OpProfile::get().print(); });
      return q;
    }();
    return *p;
  }
  void add(OpKind k, DType t, double s) {
    std::lock_guard<std::mutex> lock(mu);
    seconds[static_cast<int>(k)][static_cast<int>(t)] += s;
    calls[static_cast<int>(k)][static_cast<int>(t)] += 1;
  }
  void print() {
    struct Row { double s; int64_t n; int k, t; };
    std::vector<Row> rows;
    double total = 0;
    for (int k = 0; k < kOpCount; ++k)
      for (int t = 0; t < kTypeIds; ++t)
        if (calls[k][t] > 0) rows.push_back({seconds[k][t], calls[k][t], k, t}), total += seconds[k][t];
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.s > b.s; });
    std::fprintf(stderr, "qwen-hybrid profile (CPU backend, per op and input-0 dtype, %s): %.3f s total\n",
                 mode() == 2 ? "calling-thread CPU time" : "wall time", total);
    for (const Row& r : rows) {
      std::fprintf(stderr, "  %-16s %-5s %10.3f ms %5.1f %%  %8lld calls  %8.1f us/call\n", kOpMeta[r.k].name,
                   dtype_info(static_cast<DType>(r.t))->name, r.s * 1e3, total > 0 ? 100 * r.s / total : 0.0,
                   static_cast<long long>(r.n), 1e6 * r.s / static_cast<double>(r.n));
    }
  }
};

// AVX-512 kernels may use BW/DQ/VL instructions (contract: target("avx512f,avx512bw,...")): require all four.
bool has_avx512_bw_dq_vl() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  return dq && bw && vl;
#else
  return false;
#endif
}

Status parse_isa(const std::string& s, bool* is_auto, Isa* isa) {
  *is_auto = false;
  if (s == "auto") *is_auto = true;
  else if (s == "scalar") *isa = Isa::Scalar;
  else if (s == "avx2") *isa = Isa::AVX2;
  else if (s == "avx512") *isa = Isa::AVX512;
  else return Status::error("INVALID_ARGUMENT", "isa must be 'auto', 'scalar', 'avx2' or 'avx512', got '" + s + "'");
  return Status::ok();
}

std::string op_label(size_t i, OpKind kind) {
  return "op #" + std::to_string(i) + " (" + kOpMeta[static_cast<int>(kind)].name + ")";
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::AVX2: return "avx2";
    case Isa::AVX512: return "avx512";
  }
  return "?";
}

std::vector<Isa> isa_available() {
  std::vector<Isa> v{Isa::Scalar};
  const CpuFeatures f = detect_cpu_features();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  if (avx2) v.push_back(Isa::AVX2);
  if (avx2 && f.avx512f && has_avx512_bw_dq_vl()) v.push_back(Isa::AVX512);
  // QWEN_HYBRID_CPU_ISA_MAX=scalar|avx2 hides better ISAs (e.g. to avoid AVX-512 clock drops, or to test the
  // fallback paths of 'auto' on a machine that has everything).
  if (const char* cap = std::getenv("QWEN_HYBRID_CPU_ISA_MAX")) {
    const std::string c = cap;
    const Isa max = c == "scalar" ? Isa::Scalar : c == "avx2" ? Isa::AVX2 : Isa::AVX512;
    while (v.size() > 1 && static_cast<int>(v.back()) > static_cast<int>(max)) v.pop_back();
  }
  return v;
}

Status Backend::create(int threads, const std::string& isa, std::shared_ptr<Backend>* out) {
  if (threads < 0 || threads > 1024) {
    return Status::error("INVALID_ARGUMENT", "threads must be 0 (all usable CPUs) to 1024, got " + std::to_string(threads));
  }
  bool is_auto = false;
  Isa want = Isa::Scalar;
  QH_RETURN_IF_ERROR(parse_isa(isa, &is_auto, &want));
  const std::vector<Isa> avail = isa_available();
  if (is_auto) {
    want = avail.back();
  } else {
    bool ok = false;
    for (Isa a : avail) ok = ok || a == want;
    if (!ok) {
      std::string list;
      for (Isa a : avail) list += std::string(list.empty() ? "" : ", ") + isa_name(a);
      return Status::error("BACKEND_UNAVAILABLE", std::string("isa '") + isa_name(want) + "' is not supported by this CPU (available: " + list + ")");
    }
  }
  std::shared_ptr<Backend> b(new Backend());
  b->isa_ = want;
  b->pool_.reset(new ThreadPool(threads == 0 ? static_cast<int>(usable_threads()) : threads));
  *out = std::move(b);
  return Status::ok();
}

int SessionState::find(const std::string& name) const {
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

Status Plan::compile(std::shared_ptr<Backend> backend, Graph graph, std::shared_ptr<Plan>* out) {
  std::shared_ptr<Plan> p(new Plan());
  p->backend_ = std::move(backend);
  QH_RETURN_IF_ERROR(compile_graph(std::move(graph), &p->g_));
  const CompiledGraph& g = p->g_;
  const Graph& gr = g.graph;
  const int n_threads = p->backend_->threads();

  size_t scratch = 0;
  p->kernels_.resize(gr.ops.size());
  for (size_t i = 0; i < gr.ops.size(); ++i) {
    const CpuKernel* k = find_kernel(gr.ops[i].kind);
    if (k == nullptr) return Status::error("BACKEND_UNAVAILABLE", op_label(i, gr.ops[i].kind) + ": no CPU kernel in this build");
    p->kernels_[i] = k;
    if (k->scratch) {
      const size_t s = k->scratch(g.calls[i], n_threads);
      if (s > scratch) scratch = s;
    }
  }
  if (!p->arena_.allocate(g.arena_bytes)) {
    return Status::error("OUT_OF_MEMORY", "plan arena: cannot allocate " + std::to_string(g.arena_bytes) + " bytes");
  }
  if (!p->scratch_.allocate(scratch)) {
    return Status::error("OUT_OF_MEMORY", "plan scratch: cannot allocate " + std::to_string(scratch) + " bytes");
  }

  // Data pointers: arena / weight now; state-rooted ones per run (fixups).
  auto state_index = [&](int32_t id) -> size_t {
    for (size_t k = 0; k < g.states.size(); ++k) {
      if (g.states[k].tensor == id) return k;
    }
    return g.states.size();
  };
  // root id, byte offset into root
  auto resolve = [&](int32_t id, int32_t* root, size_t* offset) {
    const GraphTensor& t = gr.tensors[static_cast<size_t>(id)];
    *root = t.role == TensorRole::View ? t.view_of : id;
    *offset = t.role == TensorRole::View ? static_cast<size_t>(t.view_offset) : 0;
  };
  auto pointer = [&](int32_t root, size_t offset) -> void* {
    const GraphTensor& t = gr.tensors[static_cast<size_t>(root)];
    if (t.role == TensorRole::Weight) return const_cast<char*>(static_cast<const char*>(t.weight->data)) + offset;
    if (t.role == TensorRole::State) return nullptr;
    const int64_t a = g.arena_offset[static_cast<size_t>(root)];
    return a < 0 ? nullptr : static_cast<char*>(p->arena_.data()) + a + offset;
  };
  for (size_t i = 0; i < gr.ops.size(); ++i) {
    OpCall& call = p->g_.calls[i];
    for (int s = 0; s < call.n_in; ++s) {
      int32_t root;
      size_t off;
      resolve(gr.ops[i].in[static_cast<size_t>(s)], &root, &off);
      if (gr.tensors[static_cast<size_t>(root)].role == TensorRole::State) {
        p->fixups_.push_back({i, s, state_index(root), off});
      }
      call.in[s].data = pointer(root, off);
    }
    for (int s = 0; s < call.n_out; ++s) call.out[s].data = pointer(gr.ops[i].out[static_cast<size_t>(s)], 0);
  }
  for (const IoSpec& o : g.outputs) {
    int32_t root;
    size_t off;
    resolve(o.tensor, &root, &off);
    p->output_src_.push_back(pointer(root, off));
  }
  *out = std::move(p);
  return Status::ok();
}

Status Plan::create_state(std::shared_ptr<SessionState>* out) const {
  auto s = std::make_shared<SessionState>();
  s->specs = g_.states;
  s->bufs.resize(g_.states.size());
  for (size_t k = 0; k < g_.states.size(); ++k) {
    if (!s->bufs[k].allocate(g_.states[k].bytes)) {
      return Status::error("OUT_OF_MEMORY", "state '" + g_.states[k].name + "': cannot allocate " + std::to_string(g_.states[k].bytes) + " bytes");
    }
  }
  *out = std::move(s);
  return Status::ok();
}

Status Plan::run(const std::vector<const void*>& inputs, SessionState* state, const std::vector<void*>& outputs) {
  if (inputs.size() != g_.inputs.size() || outputs.size() != g_.outputs.size()) {
    return Status::error("INVALID_ARGUMENT", "plan run: wrong number of inputs or outputs");
  }
  if (!g_.states.empty() && state == nullptr) {
    return Status::error("INVALID_ARGUMENT", "plan run: the plan has state tensors ('" + g_.states[0].name + "', ...) but no state was given");
  }
  std::lock_guard<std::mutex> run_lock(backend_->run_mutex());
  std::unique_lock<std::mutex> state_lock;
  if (state != nullptr) state_lock = std::unique_lock<std::mutex>(state->mu);

  // Match the plan's state tensors to the session's buffers by name, type and shape.
  state_slot_.assign(g_.states.size(), 0);
  for (size_t k = 0; k < g_.states.size(); ++k) {
    const IoSpec& want = g_.states[k];
    const int idx = state->find(want.name);
    if (idx < 0) return Status::error("INVALID_ARGUMENT", "plan run: the state has no tensor '" + want.name + "'");
    const IoSpec& have = state->specs[static_cast<size_t>(idx)];
    bool same = have.type == want.type;
    for (int d = 0; d < 4; ++d) same = same && have.ne[d] == want.ne[d];
    if (!same) {
      return Status::error("INVALID_ARGUMENT", "plan run: state '" + want.name + "' is " + dtype_info(have.type)->name + " " +
                                                   shape_string(have.ne) + " but the plan needs " + dtype_info(want.type)->name + " " +
                                                   shape_string(want.ne));
    }
    state_slot_[k] = static_cast<size_t>(idx);
  }
  auto state_ptr = [&](size_t k, size_t offset) {
    return static_cast<char*>(state->bufs[state_slot_[k]].data()) + offset;
  };
  for (const StateFixup& f : fixups_) g_.calls[f.op].in[f.slot].data = state_ptr(f.state, f.offset);

  char* arena = static_cast<char*>(arena_.data());
  for (size_t k = 0; k < g_.inputs.size(); ++k) {
    if (g_.inputs[k].bytes > 0) std::memcpy(arena + g_.arena_offset[static_cast<size_t>(g_.inputs[k].tensor)], inputs[k], g_.inputs[k].bytes);
  }

  KernelContext ctx{&backend_->pool(), backend_->isa(), scratch_.data(), scratch_.size()};
  const int profile = OpProfile::mode();
  for (size_t i = 0; i < g_.calls.size(); ++i) {
    const double t0 = profile ? OpProfile::now(profile) : 0.0;
    const Status st = kernels_[i]->run(g_.calls[i], ctx);
    if (!st.is_ok()) return Status::error(st.code, op_label(i, g_.calls[i].kind) + ": " + st.message);
    if (profile) {
      const OpCall& c = g_.calls[i];
      OpProfile::get().add(c.kind, c.n_in > 0 ? c.in[0].type : DType::F32, OpProfile::now(profile) - t0);
    }
  }

  for (size_t k = 0; k < g_.outputs.size(); ++k) {
    const void* src = output_src_[k];
    if (src == nullptr) {
      // State-rooted output: view offset into the session buffer.
      const GraphTensor& t = g_.graph.tensors[static_cast<size_t>(g_.outputs[k].tensor)];
      const int32_t root = t.role == TensorRole::View ? t.view_of : g_.outputs[k].tensor;
      for (size_t s = 0; s < g_.states.size(); ++s) {
        if (g_.states[s].tensor == root) src = state_ptr(s, t.role == TensorRole::View ? static_cast<size_t>(t.view_offset) : 0);
      }
    }
    if (src != nullptr && g_.outputs[k].bytes > 0) std::memcpy(outputs[k], src, g_.outputs[k].bytes);
  }
  return Status::ok();
}

Status bench_memcpy(size_t bytes, int iters, int threads, double* seconds) {
  if (bytes == 0 || iters < 1 || threads < 1 || threads > 1024) {
    return Status::error("INVALID_ARGUMENT", "benchMemcpy: bytes > 0, iters >= 1 and 1 <= threads <= 1024 required");
  }
  AlignedBuffer src, dst;
  if (!src.allocate(bytes) || !dst.allocate(bytes)) {
    return Status::error("OUT_OF_MEMORY", "benchMemcpy: cannot allocate 2 x " + std::to_string(bytes) + " bytes");
  }
  std::memset(src.data(), 1, bytes);  // touch every page of both buffers before timing
  ThreadPool pool(threads);
  const char* s = static_cast<const char*>(src.data());
  char* d = static_cast<char*>(dst.data());
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  auto copy = [&] {
    pool.parallel_for(chunks, 1, [&](int64_t b, int64_t e, int) {
      const size_t lo = static_cast<size_t>(b * kChunk);
      const size_t hi = std::min(bytes, static_cast<size_t>(e * kChunk));
      std::memcpy(d + lo, s + lo, hi - lo);
    });
  };
  copy();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) copy();
  const auto t1 = std::chrono::steady_clock::now();
  *seconds = std::chrono::duration<double>(t1 - t0).count();
  return Status::ok();
}

}  // namespace qh::cpu
