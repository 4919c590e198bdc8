// The CPU backend: a thread pool + ISA choice, plans compiled for it (kernels, arena, scratch), session state
// buffers, and plan execution. Plain C++ (no N-API); native/addon/runtime.cc wraps it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../core/aligned.h"
#include "../core/plan.h"
#include "kernel.h"
#include "thread_pool.h"

namespace qh::cpu {

const char* isa_name(Isa isa);
// ISAs this machine can run, best last: always "scalar", then "avx2" (AVX2+FMA+F16C) and "avx512"
// (AVX-512 F+BW+DQ+VL) where the CPU and OS support them; env QWEN_HYBRID_CPU_ISA_MAX=scalar|avx2 caps the list.
std::vector<Isa> isa_available();

class Backend {
 public:
  // threads: 0 = every usable CPU. isa: "auto" (best available), "scalar", "avx2", "avx512".
  // BACKEND_UNAVAILABLE when the forced ISA cannot run here; INVALID_ARGUMENT for bad values.
  static Status create(int threads, const std::string& isa, std::shared_ptr<Backend>* out);

  int threads() const { return pool_->n_threads(); }
  Isa isa() const { return isa_; }
  ThreadPool& pool() { return *pool_; }
  // Held for a whole plan run: one step at a time per backend (the pool is one resource).
  std::mutex& run_mutex() { return run_mutex_; }

 private:
  Backend() = default;
  std::unique_ptr<ThreadPool> pool_;
  Isa isa_ = Isa::Scalar;
  std::mutex run_mutex_;
};

// A session's state buffers (KV caches, conv and GDN states), zero-initialised. Any plan whose state tensors
// match by name, type and shape can run on it (a prefill plan and a decode plan share one session).
struct SessionState {
  std::vector<IoSpec> specs;
  std::vector<AlignedBuffer> bufs;
  std::mutex mu;  // held by a run for its whole duration
  int find(const std::string& name) const;
};

class Plan {
 public:
  static Status compile(std::shared_ptr<Backend> backend, Graph graph, std::shared_ptr<Plan>* out);

  const CompiledGraph& graph() const { return g_; }
  size_t scratch_bytes() const { return scratch_.size(); }
  const std::shared_ptr<Backend>& backend() const { return backend_; }

  Status create_state(std::shared_ptr<SessionState>* out) const;

  // Runs every op once. inputs[k]: g_.inputs[k].bytes bytes; outputs[k]: g_.outputs[k].bytes bytes, written.
  // state may be null only when the plan has no state tensors. Locks the backend, then the state.
  Status run(const std::vector<const void*>& inputs, SessionState* state, const std::vector<void*>& outputs);

 private:
  struct StateFixup {
    size_t op;
    int slot;       // input slot
    size_t state;   // index into g_.states
    size_t offset;  // view byte offset
  };
  Plan() = default;
  std::shared_ptr<Backend> backend_;
  CompiledGraph g_;
  std::vector<const CpuKernel*> kernels_;
  AlignedBuffer arena_;
  AlignedBuffer scratch_;
  std::vector<StateFixup> fixups_;
  std::vector<const void*> output_src_;  // non-state outputs: resolved pointer; state outputs: nullptr
  std::vector<size_t> state_slot_;       // run-time: g_.states[k] → index in the SessionState
};

// Bandwidth of a large multi-threaded memcpy: copies `bytes` `iters` times (after one warm-up copy) split over
// `threads` threads. Returns seconds of the timed copies; OUT_OF_MEMORY / INVALID_ARGUMENT on bad sizes.
Status bench_memcpy(size_t bytes, int iters, int threads, double* seconds);

}  // namespace qh::cpu
