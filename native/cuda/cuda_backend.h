// CUDA backend as seen from host C++: plain types only, no CUDA headers, so native/addon compiles
// without the toolkit. Implemented by native/cuda/*.cu when CUDA is compiled in, and by
// native/cuda/cuda_stub.cc otherwise (CPU-only builds: CMake with QWEN_HYBRID_CUDA=OFF or no nvcc,
// and every node-gyp build).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/plan.h"

namespace qh::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0;  // compute capability, e.g. 9.0 for H100
  int cc_minor = 0;
  uint64_t total_memory_bytes = 0;
  int multiprocessor_count = 0;
  int memory_bus_width_bits = 0;
  int memory_clock_khz = 0;  // peak memory clock
};

struct DeviceList {
  bool available = false;
  // "N CUDA device(s)", "no CUDA device (<cuda error>)" or "CUDA not compiled in".
  std::string reason;
  std::vector<DeviceInfo> devices;
  int driver_version = 0;  // cudaDriverGetVersion: 1000*major + 10*minor; 0 = no driver
};

struct SelfTestResult {
  enum class Status { kOk, kFailed, kNoDevice, kBadIndex };
  Status status = Status::kFailed;
  std::string detail;
};

bool compiled();                 // true when this addon contains the CUDA backend
std::vector<int> archs();        // SM versions with device code in the binary, e.g. {80, 86, 89, 90, 120}
int runtime_version();           // CUDART_VERSION the addon was built against; 0 when not compiled
DeviceList list_devices();       // never fails: problems become available=false + reason
// Fills and transforms a device buffer with a tiny kernel, copies it back and checks every element.
SelfTestResult self_test(int device_index);

// ---- execution (native/cuda/backend.cu; the stub returns NO_CUDA_DEVICE "CUDA not compiled in") ----
// The mirror of native/cpu/backend.h: a device + stream, plans compiled for it (same validated CompiledGraph and
// arena layout as the CPU backend, arena/scratch in device memory), session state in device memory. Weights are
// host WeightData (mmap or copies) uploaded once per backend and shared by every plan that uses them.
class Backend;       // opaque outside native/cuda
class Plan;
class SessionState;

struct BackendInfo {
  int device = 0;
  std::string name;
  int cc = 0;  // 10*major + minor
  int sm_count = 0;
  uint64_t total_memory_bytes = 0;
  uint64_t free_memory_bytes = 0;      // cudaMemGetInfo at the time of the call
  uint64_t weight_bytes_resident = 0;  // device bytes held by uploaded weights
  int weights_resident = 0;
  bool graphs_enabled = false;      // steps are captured and replayed as CUDA graphs (QWEN_HYBRID_CUDA_GRAPHS != 0)
  uint64_t graph_captures = 0;      // (plan, state) pairs captured and instantiated so far
  uint64_t graph_launches = 0;      // steps run by cudaGraphLaunch
  uint64_t graph_capture_failures = 0;  // captures refused (the pair then runs op by op)
  std::vector<std::string> ops_without_kernel;  // op names this build has no CUDA kernel for (plan_compile refuses them)
};

// device: index into list_devices(). variants: per op id, the forced kernel variant (0 = auto; ctx.variant);
// shorter than kOpCount = the rest auto. NO_CUDA_DEVICE when there is no usable device, INVALID_ARGUMENT for a
// bad index, BACKEND_UNAVAILABLE when the device's SM has no code in this binary.
Status backend_create(int device, const std::vector<int>& variants, std::shared_ptr<Backend>* out);
BackendInfo backend_info(Backend& b);

// (bytes done, bytes total), called on the uploading thread after each staged chunk and once at the end.
using UploadProgress = std::function<void(uint64_t done, uint64_t total)>;
// Uploads every weight not yet resident on the backend's device: memory estimate first (OUT_OF_MEMORY naming
// the bytes needed, free and total), then the bytes through two pinned staging buffers with overlapped
// host→pinned memcpy and pinned→device cudaMemcpyAsync. Resident weights stay until release_weights or the
// backend is freed (plans keep their own references).
Status upload_weights(Backend& b, const std::vector<std::shared_ptr<const WeightData>>& weights, const UploadProgress& progress);
// Drops the backend's references to these weights' device copies (freed once no plan uses them).
void release_weights(Backend& b, const std::vector<std::shared_ptr<const WeightData>>& weights);

// Validates (native/core/plan), uploads missing weights, allocates the device arena and scratch. OUT_OF_MEMORY
// with the numbers when it does not fit; BACKEND_UNAVAILABLE naming the op when no CUDA kernel exists for it.
Status plan_compile(const std::shared_ptr<Backend>& b, Graph graph, std::shared_ptr<Plan>* out);
const CompiledGraph& plan_graph(const Plan& p);
size_t plan_scratch_bytes(const Plan& p);
// inputs/outputs: host memory, sizes as in plan_graph(p).inputs/.outputs. Blocks the calling thread until the
// outputs are on the host; serialised per backend, and per state. ATTENTION positions that come from a graph
// input are checked on the host first (CONTEXT_FULL / INVALID_ARGUMENT as the CPU kernel words them; nothing is
// launched then). CUDA graphs: the first run of a (plan, state) pair launches op by op; the second captures the
// whole step (input copies from pinned staging, every kernel, output copies) into a graph, instantiates it and
// launches it; later runs replay it. The only host synchronisation is the final stream synchronize.
// QWEN_HYBRID_CUDA_GRAPHS=0 (read at backend_create) turns capture off.
Status plan_run(Plan& p, const std::vector<const void*>& inputs, SessionState* state, const std::vector<void*>& outputs);

Status state_create(const Plan& p, std::shared_ptr<SessionState>* out);
const std::vector<IoSpec>& state_specs(const SessionState& s);
int state_find(const SessionState& s, const std::string& name);
// Copies state tensor idx to / from host memory (specs[idx].bytes). INVALID_ARGUMENT while a run holds the state.
Status state_read(SessionState& s, int idx, void* dst);
Status state_write(SessionState& s, int idx, const void* src);

// ---- measurement (native/cuda/bench_copy.cu) ----
// Device-to-device cudaMemcpyAsync of `bytes`, `iters` times after one warm-up, timed with events: seconds.
Status bench_copy(int device, size_t bytes, int iters, double* seconds);
// Dense fp16 GEMM C{m,n} f32 = A{m,k} f16 * B{k,n} f16 on tensor cores (own mma.sync kernel, sm_80+), `iters`
// times after one warm-up: seconds. The reference rate for prefill GEMM TFLOP/s (2*m*n*k flops per GEMM).
Status bench_gemm_f16(int device, int m, int n, int k, int iters, double* seconds);

}  // namespace qh::cuda
