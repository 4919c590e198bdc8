// Internals of the CUDA backend shared by native/cuda/*.cu (never included by host-only code): device
// buffers, the device guard, the Backend / Plan / SessionState classes behind cuda_backend.h, and launch helpers
// for the op files.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/plan.h"
#include "cuda_backend.h"
#include "cuda_check.cuh"
#include "kernel.cuh"

namespace qh::cuda {

// cudaError → stable JS code: allocation failures OUT_OF_MEMORY, missing device code BACKEND_UNAVAILABLE,
// anything else INVALID_ARGUMENT (kernel.cuh: there is no CUDA-specific JS code).
inline const char* status_code_for(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation: return "OUT_OF_MEMORY";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorInsufficientDriver:
    case cudaErrorNoDevice: return "BACKEND_UNAVAILABLE";
    default: return "INVALID_ARGUMENT";
  }
}

// Status from a CUDA call; ok on cudaSuccess. `what` prefixes the message.
#define QH_CUDA_STATUS(call, what)                                                                          \
  do {                                                                                                      \
    const cudaError_t _qh_e = (call);                                                                       \
    if (_qh_e != cudaSuccess)                                                                               \
      return ::qh::Status::error(::qh::cuda::status_code_for(_qh_e),                                        \
                                 std::string(what) + ": " + ::qh::cuda::check_cuda(_qh_e, #call, __FILE__, __LINE__)); \
  } while (0)

// After a launch: the launch error (bad configuration, no image for this device) as a Status.
inline Status launch_status(const char* kernel) {
  const cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return Status::ok();
  return Status::error(status_code_for(e), std::string(kernel) + " launch: " + cudaGetErrorString(e) + " [" + cudaGetErrorName(e) + "]");
}

// Grid for a grid-stride loop over n items with `block` threads: enough blocks to fill the device a few times,
// never more than needed.
inline unsigned grid_for(int64_t n, int block, int sm_count) {
  const int64_t want = (n + block - 1) / block;
  const int64_t cap = static_cast<int64_t>(sm_count > 0 ? sm_count : 1) * 32;
  const int64_t g = want < cap ? want : cap;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

// Sets the current device for this thread and restores the previous one on scope exit (runs happen on libuv
// worker threads, whose current device is whatever the last user left).
class DeviceGuard {
 public:
  DeviceGuard() = default;
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  ~DeviceGuard() {
    if (prev_ >= 0 && prev_ != cur_) cudaSetDevice(prev_);
  }
  Status enter(int device) {
    int prev = -1;
    if (cudaGetDevice(&prev) == cudaSuccess) prev_ = prev;
    else cudaGetLastError();
    cur_ = device;
    QH_CUDA_STATUS(cudaSetDevice(device), "device " + std::to_string(device));
    return Status::ok();
  }

 private:
  int prev_ = -1;
  int cur_ = -1;
};

// One cudaMalloc; freed on the owning device when the last reference goes.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();
};
// OUT_OF_MEMORY names `what`, the bytes asked for and the device's free/total memory. bytes == 0 gives a null ptr.
Status device_alloc(int device, size_t bytes, const std::string& what, std::shared_ptr<DeviceBuffer>* out);

// "12.3 GiB" for messages.
std::string human_bytes(uint64_t b);

class Plan;
class SessionState;

// One captured step: the launch sequence of a plan run with one session state (state pointers are baked into the
// kernel nodes), instantiated for replay with cudaGraphLaunch.
struct GraphEntry {
  int direct_runs = 0;            // runs launched op by op so far (capture happens on the second run)
  bool capture_failed = false;    // a capture was refused once: this pair runs op by op from now on
  cudaGraphExec_t exec = nullptr;
};

class Backend {
 public:
  int device = 0;
  DeviceInfo info;
  int cc = 0;
  std::vector<int> variants;  // per op id
  cudaStream_t stream = nullptr;
  std::mutex run_mutex;  // one step at a time per backend (one stream)

  // Uploaded weights, keyed by host WeightData. `host` detects a freed-and-reused address.
  struct Resident {
    std::weak_ptr<const WeightData> host;
    std::shared_ptr<DeviceBuffer> dev;
  };
  std::mutex weights_mu;
  std::unordered_map<const WeightData*, Resident> resident;

  // CUDA-graph replay of steps (plan_run): off when QWEN_HYBRID_CUDA_GRAPHS=0 at backend creation.
  bool graphs_enabled = true;
  // Exec graphs keyed by (plan, state); state null = a stateless plan. Entries are destroyed eagerly by ~Plan and
  // ~SessionState (both hold the backend, so it outlives them), so no exec graph outlives a pointer it bakes in.
  std::mutex graphs_mu;
  std::map<std::pair<const Plan*, const SessionState*>, GraphEntry> graphs;
  std::atomic<uint64_t> graph_captures{0};  // counters for backend_info
  std::atomic<uint64_t> graph_launches{0};
  std::atomic<uint64_t> graph_capture_failures{0};
  // Destroys the exec graphs that bake in `plan` (or `state`); called from their destructors.
  void drop_graphs(const Plan* plan, const SessionState* state);

  ~Backend();
  int variant(OpKind k) const {
    const size_t i = static_cast<size_t>(k);
    return i < variants.size() ? variants[i] : 0;
  }
};

// Uploads what is missing (caller holds b.weights_mu) and returns the device copies in `weights` order.
// `extra_bytes` are counted in the fit check (a plan's arena and scratch).
Status upload_locked(Backend& b, const std::vector<std::shared_ptr<const WeightData>>& weights, uint64_t extra_bytes,
                     const UploadProgress& progress, std::vector<std::shared_ptr<DeviceBuffer>>* dev);

class SessionState {
 public:
  std::shared_ptr<Backend> backend;
  std::vector<IoSpec> specs;
  std::vector<std::shared_ptr<DeviceBuffer>> bufs;
  std::mutex mu;  // held by a run for its whole duration
  ~SessionState();
};

class Plan {
 public:
  struct StateFixup {
    size_t op;
    int slot;       // input slot
    size_t state;   // index into g.states
    size_t offset;  // view byte offset
  };
  std::shared_ptr<Backend> backend;
  CompiledGraph g;
  std::vector<const CudaKernel*> kernels;
  std::vector<int> variants;  // per op
  std::shared_ptr<DeviceBuffer> arena;
  std::shared_ptr<DeviceBuffer> scratch;
  std::vector<std::shared_ptr<DeviceBuffer>> weights;  // keeps the device copies this plan reads alive
  std::vector<StateFixup> fixups;
  // ATTENTION calls whose pos input is a graph input: checked on the host before a run (CONTEXT_FULL etc.), since
  // kernels cannot report data errors and a captured step must not write past the cache.
  struct PosCheck {
    size_t op;
    size_t input;        // index into g.inputs
    size_t elem_offset;  // first element of pos in that input (a view's offset)
    int64_t count;       // T
    int64_t n_ctx;       // k_cache ne[2]
  };
  std::vector<PosCheck> pos_checks;
  std::vector<const void*> output_src;  // device pointers; nullptr = state-rooted, resolved per run
  std::vector<size_t> state_slot;
  // Pinned host staging for inputs then outputs (async copies without a pageable bounce).
  void* pinned = nullptr;
  size_t pinned_bytes = 0;
  std::vector<size_t> in_off, out_off;
  ~Plan();
};

}  // namespace qh::cuda
