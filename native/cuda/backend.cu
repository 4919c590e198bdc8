// The CUDA backend: device + stream, plans (the CPU backend's validated CompiledGraph and arena layout, with the
// arena, scratch, weights and state in device memory), session state, and plan execution on one stream with a
// single host synchronisation at the end of a step.
//
// A step (plan_run): host checks (state match, ATTENTION positions) → inputs memcpy'd into the plan's pinned
// staging → enqueue [H2D input copies, every op's launcher, D2H output copies into staging] → stream synchronize →
// outputs memcpy'd out of staging. The enqueue part is what a CUDA graph captures: its first run for a (plan,
// state) pair goes op by op, the second captures and instantiates it, later ones are one cudaGraphLaunch. That is
// valid because everything the launchers see is fixed per pair: shapes, variants, scratch, arena, weight and state
// pointers, the staging addresses; the data that changes (inputs) is read from staging when the graph runs.
// Launchers therefore must be capture-safe: stream-ordered work on ctx.stream only (kernels, cudaMemsetAsync /
// cudaMemcpyAsync between device or pinned buffers), no cudaMalloc / cudaMemset / synchronisation. A capture that
// fails anyway (e.g. a launcher that is not) is counted, and that pair runs op by op from then on.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backend.cuh"

namespace qh::cuda {

namespace {

std::string op_label(size_t i, OpKind kind) {
  return "op #" + std::to_string(i) + " (" + kOpMeta[static_cast<int>(kind)].name + ")";
}

size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

}  // namespace

std::string human_bytes(uint64_t b) {
  char buf[64];
  const double gib = 1024.0 * 1024.0 * 1024.0;
  if (b >= static_cast<uint64_t>(gib)) std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(b) / gib);
  else std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
  return std::to_string(b) + " bytes (" + buf + ")";
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr == nullptr) return;
  int prev = -1;
  if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
  if (prev != device) cudaSetDevice(device);
  cudaFree(ptr);
  if (prev >= 0 && prev != device) cudaSetDevice(prev);
}

Status device_alloc(int device, size_t bytes, const std::string& what, std::shared_ptr<DeviceBuffer>* out) {
  auto b = std::make_shared<DeviceBuffer>();
  b->device = device;
  b->bytes = bytes;
  if (bytes > 0) {
    const cudaError_t e = cudaMalloc(&b->ptr, bytes);
    if (e != cudaSuccess) {
      b->ptr = nullptr;
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      cudaGetLastError();
      return Status::error(e == cudaErrorMemoryAllocation ? "OUT_OF_MEMORY" : status_code_for(e),
                           what + ": cudaMalloc of " + human_bytes(bytes) + " failed on device " + std::to_string(device) + " (" +
                               cudaGetErrorString(e) + "; " + human_bytes(free_b) + " free of " + human_bytes(total_b) + ")");
    }
  }
  *out = std::move(b);
  return Status::ok();
}

void Backend::drop_graphs(const Plan* plan, const SessionState* state) {
  std::lock_guard<std::mutex> lock(graphs_mu);
  bool any = false;
  for (const auto& kv : graphs) any = any || (kv.second.exec != nullptr && (kv.first.first == plan || (state != nullptr && kv.first.second == state)));
  DeviceGuard guard;
  if (any && !guard.enter(device).is_ok()) cudaGetLastError();
  for (auto it = graphs.begin(); it != graphs.end();) {
    if (it->first.first == plan || (state != nullptr && it->first.second == state)) {
      if (it->second.exec) cudaGraphExecDestroy(it->second.exec);
      it = graphs.erase(it);
    } else {
      ++it;
    }
  }
}

SessionState::~SessionState() {
  if (backend) backend->drop_graphs(nullptr, this);
}

Backend::~Backend() {
  resident.clear();
  if (stream) {
    int prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    cudaSetDevice(device);
    cudaStreamDestroy(stream);
    if (prev >= 0 && prev != device) cudaSetDevice(prev);
  }
}

Plan::~Plan() {
  if (backend) backend->drop_graphs(this, nullptr);
  if (pinned) cudaFreeHost(pinned);
}

Status backend_create(int device, const std::vector<int>& variants, std::shared_ptr<Backend>* out) {
  const DeviceList list = list_devices();
  if (!list.available) return Status::error("NO_CUDA_DEVICE", "cudaBackendCreate: " + list.reason);
  if (device < 0 || device >= static_cast<int>(list.devices.size())) {
    return Status::error("INVALID_ARGUMENT", "cudaBackendCreate: device " + std::to_string(device) + " out of range: " +
                                                 std::to_string(list.devices.size()) + " CUDA device(s)");
  }
  const DeviceInfo& d = list.devices[static_cast<size_t>(device)];
  const int cc = d.cc_major * 10 + d.cc_minor;
  // Runnable: SASS for exactly this SM, or the newest arch's PTX (JIT for anything newer).
  const std::vector<int> built = archs();
  bool runnable = std::find(built.begin(), built.end(), cc) != built.end();
  if (!runnable && !built.empty() && cc > built.back()) runnable = true;
  if (!runnable) {
    std::string list_s;
    for (int a : built) list_s += (list_s.empty() ? "" : ",") + std::to_string(a);
    return Status::error("BACKEND_UNAVAILABLE", "cudaBackendCreate: device " + std::to_string(device) + " (" + d.name + ", sm_" +
                                                    std::to_string(cc) + ") has no code in this build (sm_" + list_s + ")");
  }
  std::shared_ptr<Backend> b(new Backend());
  b->device = device;
  b->info = d;
  b->cc = cc;
  b->variants = variants;
  b->variants.resize(static_cast<size_t>(kOpCount), 0);
  const char* graphs_env = std::getenv("QWEN_HYBRID_CUDA_GRAPHS");
  b->graphs_enabled = !(graphs_env != nullptr && std::strcmp(graphs_env, "0") == 0);
  DeviceGuard guard;
  QH_RETURN_IF_ERROR(guard.enter(device));
  QH_CUDA_STATUS(cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking), "cudaBackendCreate");
  *out = std::move(b);
  return Status::ok();
}

BackendInfo backend_info(Backend& b) {
  BackendInfo i;
  i.device = b.device;
  i.name = b.info.name;
  i.cc = b.cc;
  i.sm_count = b.info.multiprocessor_count;
  i.total_memory_bytes = b.info.total_memory_bytes;
  DeviceGuard guard;
  if (guard.enter(b.device).is_ok()) {
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) == cudaSuccess) i.free_memory_bytes = f;
    else cudaGetLastError();
  }
  std::lock_guard<std::mutex> lock(b.weights_mu);
  for (const auto& kv : b.resident) {
    if (kv.second.host.expired()) continue;
    i.weight_bytes_resident += kv.second.dev->bytes;
    ++i.weights_resident;
  }
  for (int k = 0; k < kOpCount; ++k)
    if (find_kernel(static_cast<OpKind>(k)) == nullptr) i.ops_without_kernel.push_back(kOpMeta[k].name);
  i.graphs_enabled = b.graphs_enabled;
  i.graph_captures = b.graph_captures;
  i.graph_launches = b.graph_launches;
  i.graph_capture_failures = b.graph_capture_failures;
  return i;
}

Status upload_weights(Backend& b, const std::vector<std::shared_ptr<const WeightData>>& weights, const UploadProgress& progress) {
  std::lock_guard<std::mutex> lock(b.weights_mu);
  std::vector<std::shared_ptr<DeviceBuffer>> dev;
  return upload_locked(b, weights, 0, progress, &dev);
}

void release_weights(Backend& b, const std::vector<std::shared_ptr<const WeightData>>& weights) {
  std::lock_guard<std::mutex> lock(b.weights_mu);
  for (const auto& w : weights) b.resident.erase(w.get());
}

Status plan_compile(const std::shared_ptr<Backend>& backend, Graph graph, std::shared_ptr<Plan>* out) {
  std::shared_ptr<Plan> p(new Plan());
  p->backend = backend;
  QH_RETURN_IF_ERROR(compile_graph(std::move(graph), &p->g));
  const CompiledGraph& g = p->g;
  const Graph& gr = g.graph;
  Backend& b = *backend;

  size_t scratch = 0;
  p->kernels.resize(gr.ops.size());
  p->variants.resize(gr.ops.size());
  for (size_t i = 0; i < gr.ops.size(); ++i) {
    const CudaKernel* k = find_kernel(gr.ops[i].kind);
    if (k == nullptr) return Status::error("BACKEND_UNAVAILABLE", op_label(i, gr.ops[i].kind) + ": no CUDA kernel in this build");
    p->kernels[i] = k;
    p->variants[i] = b.variant(gr.ops[i].kind);
    if (k->scratch) scratch = std::max(scratch, k->scratch(g.calls[i], b.info.multiprocessor_count));
  }
  scratch = align_up(scratch, 256);

  // Weights: one device copy per WeightData on this backend, uploaded now if missing.
  std::vector<std::shared_ptr<const WeightData>> wlist;
  std::vector<int32_t> wtensor;
  for (size_t j = 0; j < gr.tensors.size(); ++j) {
    if (gr.tensors[j].role == TensorRole::Weight) {
      wlist.push_back(gr.tensors[j].weight);
      wtensor.push_back(static_cast<int32_t>(j));
    }
  }
  DeviceGuard guard;
  QH_RETURN_IF_ERROR(guard.enter(b.device));
  {
    std::lock_guard<std::mutex> lock(b.weights_mu);
    QH_RETURN_IF_ERROR(upload_locked(b, wlist, g.arena_bytes + scratch, UploadProgress(), &p->weights));
  }
  std::vector<const void*> wptr(gr.tensors.size(), nullptr);
  for (size_t k = 0; k < wtensor.size(); ++k) wptr[static_cast<size_t>(wtensor[k])] = p->weights[k]->ptr;

  QH_RETURN_IF_ERROR(device_alloc(b.device, g.arena_bytes, "plan arena", &p->arena));
  QH_RETURN_IF_ERROR(device_alloc(b.device, scratch, "plan scratch", &p->scratch));

  size_t pinned = 0;
  for (const IoSpec& s : g.inputs) {
    p->in_off.push_back(pinned);
    pinned += align_up(s.bytes, 64);
  }
  for (const IoSpec& s : g.outputs) {
    p->out_off.push_back(pinned);
    pinned += align_up(s.bytes, 64);
  }
  if (pinned > 0) {
    const cudaError_t e = cudaHostAlloc(&p->pinned, pinned, cudaHostAllocPortable);
    if (e != cudaSuccess) {
      p->pinned = nullptr;
      cudaGetLastError();
      return Status::error("OUT_OF_MEMORY", "plan io staging: cudaHostAlloc of " + human_bytes(pinned) + " failed: " + cudaGetErrorString(e));
    }
    p->pinned_bytes = pinned;
  }

  // Data pointers: arena / weight now; state-rooted ones per run (fixups). Same resolution as the CPU backend.
  auto state_index = [&](int32_t id) -> size_t {
    for (size_t k = 0; k < g.states.size(); ++k)
      if (g.states[k].tensor == id) return k;
    return g.states.size();
  };
  auto resolve = [&](int32_t id, int32_t* root, size_t* offset) {
    const GraphTensor& t = gr.tensors[static_cast<size_t>(id)];
    *root = t.role == TensorRole::View ? t.view_of : id;
    *offset = t.role == TensorRole::View ? static_cast<size_t>(t.view_offset) : 0;
  };
  char* arena = static_cast<char*>(p->arena->ptr);
  auto pointer = [&](int32_t root, size_t offset) -> void* {
    const GraphTensor& t = gr.tensors[static_cast<size_t>(root)];
    if (t.role == TensorRole::Weight) return const_cast<char*>(static_cast<const char*>(wptr[static_cast<size_t>(root)])) + offset;
    if (t.role == TensorRole::State) return nullptr;
    const int64_t a = g.arena_offset[static_cast<size_t>(root)];
    return a < 0 ? nullptr : arena + a + offset;
  };
  for (size_t i = 0; i < gr.ops.size(); ++i) {
    OpCall& call = p->g.calls[i];
    for (int s = 0; s < call.n_in; ++s) {
      int32_t root;
      size_t off;
      resolve(gr.ops[i].in[static_cast<size_t>(s)], &root, &off);
      if (gr.tensors[static_cast<size_t>(root)].role == TensorRole::State) p->fixups.push_back({i, s, state_index(root), off});
      call.in[s].data = pointer(root, off);
    }
    for (int s = 0; s < call.n_out; ++s) call.out[s].data = pointer(gr.ops[i].out[static_cast<size_t>(s)], 0);
  }
  for (const IoSpec& o : g.outputs) {
    int32_t root;
    size_t off;
    resolve(o.tensor, &root, &off);
    p->output_src.push_back(pointer(root, off));
  }
  // Positions the host can see (ATTENTION's pos straight from a graph input): checked before every run.
  for (size_t i = 0; i < gr.ops.size(); ++i) {
    if (gr.ops[i].kind != OpKind::ATTENTION) continue;
    int32_t root;
    size_t off;
    resolve(gr.ops[i].in[3], &root, &off);
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      if (g.inputs[k].tensor != root) continue;
      const OpCall& call = g.calls[i];
      p->pos_checks.push_back({i, k, off / sizeof(int32_t), call.in[3].ne[0], call.in[4].ne[2]});
    }
  }
  *out = std::move(p);
  return Status::ok();
}

const CompiledGraph& plan_graph(const Plan& p) { return p.g; }
size_t plan_scratch_bytes(const Plan& p) { return p.scratch ? p.scratch->bytes : 0; }

Status state_create(const Plan& p, std::shared_ptr<SessionState>* out) {
  auto s = std::make_shared<SessionState>();
  s->backend = p.backend;
  s->specs = p.g.states;
  s->bufs.resize(s->specs.size());
  DeviceGuard guard;
  QH_RETURN_IF_ERROR(guard.enter(p.backend->device));
  for (size_t k = 0; k < s->specs.size(); ++k) {
    QH_RETURN_IF_ERROR(device_alloc(p.backend->device, s->specs[k].bytes, "state '" + s->specs[k].name + "'", &s->bufs[k]));
    if (s->specs[k].bytes > 0) QH_CUDA_STATUS(cudaMemset(s->bufs[k]->ptr, 0, s->specs[k].bytes), "state '" + s->specs[k].name + "'");
  }
  QH_CUDA_STATUS(cudaDeviceSynchronize(), "stateCreate");
  *out = std::move(s);
  return Status::ok();
}

const std::vector<IoSpec>& state_specs(const SessionState& s) { return s.specs; }

int state_find(const SessionState& s, const std::string& name) {
  for (size_t i = 0; i < s.specs.size(); ++i)
    if (s.specs[i].name == name) return static_cast<int>(i);
  return -1;
}

Status state_read(SessionState& s, int idx, void* dst) {
  std::unique_lock<std::mutex> lock(s.mu, std::try_to_lock);
  if (!lock.owns_lock()) return Status::error("INVALID_ARGUMENT", "stateRead: the state is in use by a running plan; await the run first");
  const size_t k = static_cast<size_t>(idx);
  if (idx < 0 || k >= s.specs.size()) return Status::error("INVALID_ARGUMENT", "stateRead: bad state index");
  if (s.specs[k].bytes == 0) return Status::ok();
  DeviceGuard guard;
  QH_RETURN_IF_ERROR(guard.enter(s.backend->device));
  QH_CUDA_STATUS(cudaMemcpy(dst, s.bufs[k]->ptr, s.specs[k].bytes, cudaMemcpyDeviceToHost), "stateRead '" + s.specs[k].name + "'");
  return Status::ok();
}

Status state_write(SessionState& s, int idx, const void* src) {
  std::unique_lock<std::mutex> lock(s.mu, std::try_to_lock);
  if (!lock.owns_lock()) return Status::error("INVALID_ARGUMENT", "stateWrite: the state is in use by a running plan; await the run first");
  const size_t k = static_cast<size_t>(idx);
  if (idx < 0 || k >= s.specs.size()) return Status::error("INVALID_ARGUMENT", "stateWrite: bad state index");
  if (s.specs[k].bytes == 0) return Status::ok();
  DeviceGuard guard;
  QH_RETURN_IF_ERROR(guard.enter(s.backend->device));
  QH_CUDA_STATUS(cudaMemcpy(s.bufs[k]->ptr, src, s.specs[k].bytes, cudaMemcpyHostToDevice), "stateWrite '" + s.specs[k].name + "'");
  return Status::ok();
}

namespace {

// The CPU ATTENTION kernel's position checks (native/cpu/attention.cc step 1), worded the same, on the host copy of
// the pos input.
Status check_positions(const Plan& p, const std::vector<const void*>& inputs) {
  for (const Plan::PosCheck& c : p.pos_checks) {
    const int32_t* pos = static_cast<const int32_t*>(inputs[c.input]) + c.elem_offset;
    for (int64_t t = 0; t < c.count; ++t) {
      Status s;
      if (pos[t] >= c.n_ctx) {
        s = Status::error("CONTEXT_FULL", "ATTENTION op: position " + std::to_string(pos[t]) + " of token " + std::to_string(t) +
                                              " is beyond the KV cache (n_ctx = " + std::to_string(c.n_ctx) + ")");
      } else if (pos[t] < 0) {
        s = Status::error("INVALID_ARGUMENT", "ATTENTION op: input 3 (pos) has negative position " + std::to_string(pos[t]) + " at token " +
                                                  std::to_string(t));
      } else if (t > 0 && pos[t] <= pos[t - 1]) {
        s = Status::error("INVALID_ARGUMENT", "ATTENTION op: input 3 (pos) must be strictly increasing, got " + std::to_string(pos[t - 1]) +
                                                  " then " + std::to_string(pos[t]) + " at token " + std::to_string(t));
      }
      if (!s.is_ok()) return Status::error(s.code, op_label(c.op, OpKind::ATTENTION) + ": " + s.message);
    }
  }
  return Status::ok();
}

}  // namespace

Status plan_run(Plan& p, const std::vector<const void*>& inputs, SessionState* state, const std::vector<void*>& outputs) {
  const CompiledGraph& g = p.g;
  if (inputs.size() != g.inputs.size() || outputs.size() != g.outputs.size()) {
    return Status::error("INVALID_ARGUMENT", "plan run: wrong number of inputs or outputs");
  }
  if (!g.states.empty() && state == nullptr) {
    return Status::error("INVALID_ARGUMENT", "plan run: the plan has state tensors ('" + g.states[0].name + "', ...) but no state was given");
  }
  Backend& b = *p.backend;
  if (state != nullptr && state->backend.get() != &b) {
    return Status::error("INVALID_ARGUMENT", "plan run: the state was created on another CUDA backend");
  }
  QH_RETURN_IF_ERROR(check_positions(p, inputs));
  std::lock_guard<std::mutex> run_lock(b.run_mutex);
  std::unique_lock<std::mutex> state_lock;
  if (state != nullptr) state_lock = std::unique_lock<std::mutex>(state->mu);

  p.state_slot.assign(g.states.size(), 0);
  for (size_t k = 0; k < g.states.size(); ++k) {
    const IoSpec& want = g.states[k];
    const int idx = state_find(*state, want.name);
    if (idx < 0) return Status::error("INVALID_ARGUMENT", "plan run: the state has no tensor '" + want.name + "'");
    const IoSpec& have = state->specs[static_cast<size_t>(idx)];
    bool same = have.type == want.type;
    for (int d = 0; d < 4; ++d) same = same && have.ne[d] == want.ne[d];
    if (!same) {
      return Status::error("INVALID_ARGUMENT", "plan run: state '" + want.name + "' is " + dtype_info(have.type)->name + " " + shape_string(have.ne) +
                                                   " but the plan needs " + dtype_info(want.type)->name + " " + shape_string(want.ne));
    }
    p.state_slot[k] = static_cast<size_t>(idx);
  }
  auto state_ptr = [&](size_t k, size_t offset) -> char* {
    return static_cast<char*>(state->bufs[p.state_slot[k]]->ptr) + offset;
  };
  for (const Plan::StateFixup& f : p.fixups) p.g.calls[f.op].in[f.slot].data = state_ptr(f.state, f.offset);
  std::vector<const void*> out_src = p.output_src;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    if (out_src[k] != nullptr) continue;
    const GraphTensor& t = g.graph.tensors[static_cast<size_t>(g.outputs[k].tensor)];
    const int32_t root = t.role == TensorRole::View ? t.view_of : g.outputs[k].tensor;
    for (size_t s = 0; s < g.states.size(); ++s)
      if (g.states[s].tensor == root) out_src[k] = state_ptr(s, t.role == TensorRole::View ? static_cast<size_t>(t.view_offset) : 0);
  }

  DeviceGuard guard;
  QH_RETURN_IF_ERROR(guard.enter(b.device));
  cudaStream_t st = b.stream;
  char* pinned = static_cast<char*>(p.pinned);
  char* arena = p.arena ? static_cast<char*>(p.arena->ptr) : nullptr;
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    if (g.inputs[k].bytes > 0) std::memcpy(pinned + p.in_off[k], inputs[k], g.inputs[k].bytes);
  }

  // The step's stream work; captured into a graph or issued directly. Reads inputs from, and writes outputs to,
  // the pinned staging only.
  auto enqueue = [&]() -> Status {
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      const size_t n = g.inputs[k].bytes;
      if (n == 0) continue;
      QH_CUDA_STATUS(cudaMemcpyAsync(arena + g.arena_offset[static_cast<size_t>(g.inputs[k].tensor)], pinned + p.in_off[k], n,
                                     cudaMemcpyHostToDevice, st),
                     "plan run: input '" + g.inputs[k].name + "'");
    }
    CudaKernelContext ctx{st, b.device, b.info.multiprocessor_count, b.cc, p.scratch ? p.scratch->ptr : nullptr, p.scratch ? p.scratch->bytes : 0, 0};
    for (size_t i = 0; i < g.calls.size(); ++i) {
      ctx.variant = p.variants[i];
      Status s = p.kernels[i]->run(g.calls[i], ctx);
      if (s.is_ok()) s = launch_status(kOpMeta[static_cast<int>(g.calls[i].kind)].name);
      if (!s.is_ok()) return Status::error(s.code, op_label(i, g.calls[i].kind) + ": " + s.message);
    }
    for (size_t k = 0; k < g.outputs.size(); ++k) {
      if (out_src[k] == nullptr || g.outputs[k].bytes == 0) continue;
      QH_CUDA_STATUS(cudaMemcpyAsync(pinned + p.out_off[k], out_src[k], g.outputs[k].bytes, cudaMemcpyDeviceToHost, st),
                     "plan run: output '" + g.outputs[k].name + "'");
    }
    return Status::ok();
  };

  // Graph bookkeeping for this (plan, state) pair. The entry cannot be erased while we run: erasure happens only in
  // ~Plan / ~SessionState, and the caller holds both.
  cudaGraphExec_t exec = nullptr;
  bool capture = false;
  if (b.graphs_enabled) {
    std::lock_guard<std::mutex> lock(b.graphs_mu);
    GraphEntry& e = b.graphs[{&p, state}];
    exec = e.exec;
    capture = exec == nullptr && !e.capture_failed && e.direct_runs >= 1;
  }
  if (capture) {
    cudaGraph_t graph = nullptr;
    bool ok = cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
    if (ok) {
      const Status s = enqueue();
      const cudaError_t end = cudaStreamEndCapture(st, &graph);  // always ends the capture, even after a failure
      ok = s.is_ok() && end == cudaSuccess && graph != nullptr;
      if (ok) ok = cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
      if (graph != nullptr) cudaGraphDestroy(graph);
    }
    if (!ok) {
      exec = nullptr;
      cudaGetLastError();  // the capture's error is not this step's: the step now runs op by op and reports its own
      ++b.graph_capture_failures;
    } else {
      ++b.graph_captures;
    }
    std::lock_guard<std::mutex> lock(b.graphs_mu);
    GraphEntry& e = b.graphs[{&p, state}];
    e.exec = exec;
    e.capture_failed = !ok;
  }

  Status failed;
  if (exec != nullptr) {
    const cudaError_t e = cudaGraphLaunch(exec, st);
    if (e != cudaSuccess) failed = Status::error(status_code_for(e), std::string("plan run: cudaGraphLaunch: ") + cudaGetErrorString(e));
    else ++b.graph_launches;
  } else {
    failed = enqueue();
    if (b.graphs_enabled) {
      std::lock_guard<std::mutex> lock(b.graphs_mu);
      ++b.graphs[{&p, state}].direct_runs;
    }
  }
  // Always drain the stream: a failed step must not leave work in flight on buffers the caller may free.
  const cudaError_t se = cudaStreamSynchronize(st);
  if (!failed.is_ok()) return failed;
  if (se != cudaSuccess) {
    return Status::error(status_code_for(se), std::string("plan run: a kernel failed on device ") + std::to_string(b.device) + ": " +
                                                  cudaGetErrorString(se) + " [" + cudaGetErrorName(se) + "]");
  }
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    if (out_src[k] != nullptr && g.outputs[k].bytes > 0) std::memcpy(outputs[k], pinned + p.out_off[k], g.outputs[k].bytes);
  }
  return Status::ok();
}

}  // namespace qh::cuda
