// N-API glue for plans, weights, session state and the CPU backend. Native objects cross to JS as opaque
// externals (a tagged Handle holding a shared_ptr); dispose() drops the handle's reference, so memory is freed
// once no in-flight run or plan still uses it. Every failure is a JS Error with a stable `.code`.
//
// Exports (flat; mirrored by src/native/types.ts):
//   opList()                                   → { id, name, nInputs, nOutputs, description }[]
//   cpuBackendCreate(threads, isa)             → BackendHandle
//   cpuBackendInfo(backend)                    → { threads, isa, isaAvailable }
//   cpuBackendDispose(backend)
//   weightFromBytes(type, shape, bytes, name)  → WeightHandle (copy)
//   weightFileMap(path, entries)               → { file: WeightFileHandle, tensors: WeightHandle[] } (mmap)
//   weightDispose(weight) / weightFileDispose(file)
//   planCompile(backend, desc)                 → PlanHandle
//   planInfo(plan)                             → PlanInfo
//   planRun(plan, inputs, state | null)        → Promise<Record<string, TypedArray>> (worker thread)
//   planDispose(plan)
//   stateCreate(plan)                          → StateHandle
//   stateRead(state, name) / stateWrite(state, name, data) / stateDispose(state)
//   benchMemcpy(bytes, iters, threads)         → seconds
//   cudaBackendCreate(device, variants)        → BackendHandle (NO_CUDA_DEVICE without a usable device)
//   cudaBackendInfo(backend)                   → CudaBackendInfo
//   cudaBackendDispose(backend)
//   cudaUploadWeights(backend, weights, onProgress | null) → Promise<void> (worker thread; progress on the JS thread)
//   cudaReleaseWeights(backend, weights)
//   cudaBenchCopy(device, bytes, iters)        → seconds;  cudaBenchGemmF16(device, m, n, k, iters) → seconds
// Plans, runs and states are shared by both backends: planCompile dispatches on the backend handle's kind and
// the plan / state remember theirs (a CPU state cannot run with a CUDA plan and vice versa).
#include "runtime.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "../core/plan.h"
#include "../core/weights.h"
#include "../cpu/backend.h"
#include "../cuda/cuda_backend.h"

namespace qh::addon {

namespace {

using cpu::Backend;
using cpu::Plan;
using cpu::SessionState;

constexpr uint32_t kHandleMagic = 0x51484e44;  // "QHND"

enum class HandleKind : uint32_t { Backend = 1, Weight = 2, WeightFile = 3, Plan = 4, State = 5 };

const char* handle_kind_name(HandleKind k) {
  switch (k) {
    case HandleKind::Backend: return "backend";
    case HandleKind::Weight: return "weight";
    case HandleKind::WeightFile: return "weight file";
    case HandleKind::Plan: return "plan";
    case HandleKind::State: return "state";
  }
  return "?";
}

struct Handle {
  uint32_t magic = kHandleMagic;
  HandleKind kind;
  std::shared_ptr<void> ptr;  // null once disposed
};

class RunWorker;

// Runs of one backend execute one at a time, in call order: a FIFO of queued workers, touched only on the JS
// thread (planRun and OnOK). At most one libuv thread per backend is busy, none blocked waiting for another run.
struct RunQueue {
  std::deque<RunWorker*> pending;
  bool busy = false;
  void submit(RunWorker* w);
  void finished();
};

// Exactly one of backend (CPU) / cuda is set.
struct BackendEntry {
  std::shared_ptr<Backend> backend;
  std::shared_ptr<cuda::Backend> cuda;
  std::shared_ptr<RunQueue> queue;
};

struct PlanEntry {
  std::shared_ptr<Plan> plan;         // CPU
  std::shared_ptr<cuda::Plan> cuda;   // or CUDA
  std::shared_ptr<RunQueue> queue;  // the backend's
  const CompiledGraph& graph() const { return plan ? plan->graph() : cuda::plan_graph(*cuda); }
  size_t scratch_bytes() const { return plan ? plan->scratch_bytes() : cuda::plan_scratch_bytes(*cuda); }
};

struct StateEntry {
  std::shared_ptr<SessionState> cpu;
  std::shared_ptr<cuda::SessionState> cuda;
  const std::vector<IoSpec>& specs() const { return cpu ? cpu->specs : cuda::state_specs(*cuda); }
  int find(const std::string& name) const { return cpu ? cpu->find(name) : cuda::state_find(*cuda, name); }
};

Napi::Value make_handle(Napi::Env env, HandleKind kind, std::shared_ptr<void> ptr) {
  Handle* h = new Handle{kHandleMagic, kind, std::move(ptr)};
  // The finalizer only drops a reference: dispose() is the deterministic path, GC a safety net.
  return Napi::External<Handle>::New(env, h, [](Napi::Env, Handle* p) { delete p; });
}

Napi::Value throw_code(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value throw_status(Napi::Env env, const Status& s) { return throw_code(env, s.code, s.message); }

// The handle in `v` of kind `kind`; nullptr with a pending JS error (INVALID_ARGUMENT or DISPOSED).
template <typename T>
std::shared_ptr<T> get_handle(Napi::Env env, const Napi::Value& v, HandleKind kind, const char* what) {
  if (!v.IsExternal()) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + " must be a " + handle_kind_name(kind) + " handle");
    return nullptr;
  }
  Handle* h = v.As<Napi::External<Handle>>().Data();
  if (h == nullptr || h->magic != kHandleMagic || h->kind != kind) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + " must be a " + handle_kind_name(kind) + " handle");
    return nullptr;
  }
  if (!h->ptr) {
    throw_code(env, "DISPOSED", std::string(what) + ": this " + handle_kind_name(kind) + " was disposed");
    return nullptr;
  }
  return std::static_pointer_cast<T>(h->ptr);
}

// Drops the handle's reference; idempotent. Throws only for a value that is not a handle of `kind`.
Napi::Value dispose_handle(const Napi::CallbackInfo& info, HandleKind kind, const char* what) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) return throw_code(env, "INVALID_ARGUMENT", std::string(what) + " must be a handle");
  Handle* h = info[0].As<Napi::External<Handle>>().Data();
  if (h == nullptr || h->magic != kHandleMagic || h->kind != kind) {
    return throw_code(env, "INVALID_ARGUMENT", std::string(what) + " must be a " + handle_kind_name(kind) + " handle");
  }
  h->ptr.reset();
  return env.Undefined();
}

bool get_int(Napi::Env env, const Napi::Value& v, const char* what, double lo, double hi, int64_t* out) {
  if (!v.IsNumber()) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + " must be a number");
    return false;
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != std::floor(d)) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + " must be an integer in [" + std::to_string(static_cast<int64_t>(lo)) + ", " +
                                            std::to_string(static_cast<int64_t>(hi)) + "], got " + v.ToString().Utf8Value());
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool get_shape(Napi::Env env, const Napi::Value& v, const char* what, std::vector<int64_t>* out) {
  if (!v.IsArray()) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + " must be an array of 1 to 4 dims");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() < 1 || a.Length() > 4) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + " must have 1 to 4 dims, got " + std::to_string(a.Length()));
    return false;
  }
  out->clear();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    int64_t d = 0;
    if (!get_int(env, a.Get(i), what, 1, 1099511627776.0, &d)) return false;
    out->push_back(d);
  }
  return true;
}

// Typed array of the expected kind at obj[key]; false with a pending error.
template <typename T>
bool get_typed(Napi::Env env, const Napi::Object& obj, const char* key, napi_typedarray_type type, Napi::TypedArrayOf<T>* out) {
  Napi::Value v = obj.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw_code(env, "INVALID_ARGUMENT", std::string("graph description: '") + key + "' has the wrong type");
    return false;
  }
  *out = v.As<Napi::TypedArrayOf<T>>();
  return true;
}

// The JS typed array kind that carries a tensor of `type`: f32 Float32Array, i32 Int32Array, f16/bf16
// Uint16Array (raw halves), block types Uint8Array (raw bytes).
napi_typedarray_type js_array_type(DType t) {
  switch (t) {
    case DType::F32: return napi_float32_array;
    case DType::I32: return napi_int32_array;
    case DType::F16:
    case DType::BF16: return napi_uint16_array;
    default: return napi_uint8_array;
  }
}
const char* js_array_name(DType t) {
  switch (js_array_type(t)) {
    case napi_float32_array: return "Float32Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint16_array: return "Uint16Array";
    default: return "Uint8Array";
  }
}
size_t js_element_bytes(DType t) {
  switch (js_array_type(t)) {
    case napi_float32_array:
    case napi_int32_array: return 4;
    case napi_uint16_array: return 2;
    default: return 1;
  }
}

// A new typed array of `bytes` bytes for a tensor of type t (zeroed); data pointer in *data.
Napi::Value new_tensor_array(Napi::Env env, DType t, size_t bytes, void** data) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes);
  *data = ab.Data();
  const size_t n = bytes / js_element_bytes(t);
  switch (js_array_type(t)) {
    case napi_float32_array: return Napi::Float32Array::New(env, n, ab, 0);
    case napi_int32_array: return Napi::Int32Array::New(env, n, ab, 0);
    case napi_uint16_array: return Napi::Uint16Array::New(env, n, ab, 0);
    default: return Napi::Uint8Array::New(env, n, ab, 0);
  }
}

// Checks that v is the typed array for spec (kind and element count); returns its bytes.
bool check_tensor_array(Napi::Env env, const Napi::Value& v, const IoSpec& spec, const char* role, const void** data) {
  const std::string label = std::string(role) + " '" + spec.name + "'";
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != js_array_type(spec.type)) {
    throw_code(env, "INVALID_ARGUMENT", label + ": expected a " + js_array_name(spec.type) + " (" + dtype_info(spec.type)->name + " " +
                                            shape_string(spec.ne) + ")");
    return false;
  }
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.ByteLength() != spec.bytes) {
    throw_code(env, "INVALID_ARGUMENT", label + ": expected " + std::to_string(spec.bytes / js_element_bytes(spec.type)) +
                                            " elements (" + dtype_info(spec.type)->name + " " + shape_string(spec.ne) + "), got " +
                                            std::to_string(ta.ElementLength()));
    return false;
  }
  *data = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return true;
}

Napi::Value shape_array(Napi::Env env, const int64_t ne[4]) {
  int n = 4;
  while (n > 1 && ne[n - 1] == 1) --n;
  Napi::Array a = Napi::Array::New(env, static_cast<size_t>(n));
  for (int d = 0; d < n; ++d) a.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(ne[d])));
  return a;
}

// ---- opList ----

Napi::Value OpList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env, kOpCount);
  for (int i = 0; i < kOpCount; ++i) {
    const OpMeta& m = kOpMeta[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Napi::Number::New(env, static_cast<int>(m.kind)));
    o.Set("name", m.name);
    o.Set("nInputs", Napi::Number::New(env, m.n_inputs));
    o.Set("nOutputs", Napi::Number::New(env, m.n_outputs));
    o.Set("description", m.description);
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

// ---- backend ----

Napi::Value CpuBackendCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t threads = 0;
  if (info.Length() < 2 || !get_int(env, info[0], "cpuBackendCreate(threads, isa): threads", 0, 1024, &threads)) {
    if (!env.IsExceptionPending()) throw_code(env, "INVALID_ARGUMENT", "cpuBackendCreate(threads, isa): 2 arguments required");
    return env.Undefined();
  }
  if (!info[1].IsString()) return throw_code(env, "INVALID_ARGUMENT", "cpuBackendCreate(threads, isa): isa must be a string");
  std::shared_ptr<Backend> b;
  const Status st = Backend::create(static_cast<int>(threads), info[1].As<Napi::String>().Utf8Value(), &b);
  if (!st.is_ok()) return throw_status(env, st);
  auto entry = std::make_shared<BackendEntry>();
  entry->backend = std::move(b);
  entry->queue = std::make_shared<RunQueue>();
  return make_handle(env, HandleKind::Backend, entry);
}

Napi::Value CpuBackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entry = get_handle<BackendEntry>(env, info[0], HandleKind::Backend, "cpuBackendInfo(backend)");
  if (!entry) return env.Undefined();
  if (!entry->backend) return throw_code(env, "INVALID_ARGUMENT", "cpuBackendInfo(backend): this is a CUDA backend");
  const std::shared_ptr<Backend>& b = entry->backend;
  Napi::Object o = Napi::Object::New(env);
  o.Set("threads", Napi::Number::New(env, b->threads()));
  o.Set("isa", cpu::isa_name(b->isa()));
  const std::vector<cpu::Isa> avail = cpu::isa_available();
  Napi::Array a = Napi::Array::New(env, avail.size());
  for (size_t i = 0; i < avail.size(); ++i) a.Set(static_cast<uint32_t>(i), cpu::isa_name(avail[i]));
  o.Set("isaAvailable", a);
  return o;
}

Napi::Value CpuBackendDispose(const Napi::CallbackInfo& info) { return dispose_handle(info, HandleKind::Backend, "cpuBackendDispose(backend)"); }

// ---- weights ----

Napi::Value WeightFromBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t type = 0;
  std::vector<int64_t> shape;
  if (info.Length() < 4) return throw_code(env, "INVALID_ARGUMENT", "weightFromBytes(type, shape, bytes, name): 4 arguments required");
  if (!get_int(env, info[0], "weightFromBytes: type", 0, 1000, &type)) return env.Undefined();
  if (!get_shape(env, info[1], "weightFromBytes: shape", &shape)) return env.Undefined();
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return throw_code(env, "INVALID_ARGUMENT", "weightFromBytes: bytes must be a Uint8Array");
  }
  if (!info[3].IsString()) return throw_code(env, "INVALID_ARGUMENT", "weightFromBytes: name must be a string");
  Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
  std::shared_ptr<WeightData> w;
  const Status st = weight_from_bytes(info[3].As<Napi::String>().Utf8Value(), static_cast<int32_t>(type), shape.data(),
                                      static_cast<int>(shape.size()), bytes.Data(), bytes.ByteLength(), &w);
  if (!st.is_ok()) return throw_status(env, st);
  return make_handle(env, HandleKind::Weight, w);
}

Napi::Value WeightFileMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) {
    return throw_code(env, "INVALID_ARGUMENT", "weightFileMap(path, entries): a path string and an array of entries required");
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  std::shared_ptr<MappedFile> file;
  const Status st = MappedFile::open(path, &file);
  if (!st.is_ok()) return throw_status(env, st);
  Napi::Array entries = info[1].As<Napi::Array>();
  Napi::Array tensors = Napi::Array::New(env, entries.Length());
  for (uint32_t i = 0; i < entries.Length(); ++i) {
    Napi::Value ev = entries.Get(i);
    if (!ev.IsObject()) return throw_code(env, "INVALID_ARGUMENT", "weightFileMap: entry " + std::to_string(i) + " must be an object");
    Napi::Object e = ev.As<Napi::Object>();
    if (!e.Get("name").IsString()) return throw_code(env, "INVALID_ARGUMENT", "weightFileMap: entry " + std::to_string(i) + ": name must be a string");
    const std::string name = e.Get("name").As<Napi::String>().Utf8Value();
    const std::string what = "weightFileMap: tensor '" + name + "'";
    int64_t offset = 0, size = 0, type = 0;
    std::vector<int64_t> shape;
    if (!get_int(env, e.Get("offset"), (what + ": offset").c_str(), 0, 9007199254740991.0, &offset) ||
        !get_int(env, e.Get("byteSize"), (what + ": byteSize").c_str(), 0, 9007199254740991.0, &size) ||
        !get_int(env, e.Get("type"), (what + ": type").c_str(), 0, 1000, &type) ||
        !get_shape(env, e.Get("shape"), (what + ": shape").c_str(), &shape)) {
      return env.Undefined();
    }
    std::shared_ptr<WeightData> w;
    const Status ws = weight_from_file(file, name, static_cast<int32_t>(type), shape.data(), static_cast<int>(shape.size()),
                                       static_cast<uint64_t>(offset), static_cast<uint64_t>(size), &w);
    if (!ws.is_ok()) return throw_status(env, ws);
    tensors.Set(i, make_handle(env, HandleKind::Weight, w));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("file", make_handle(env, HandleKind::WeightFile, file));
  o.Set("tensors", tensors);
  o.Set("fileBytes", Napi::Number::New(env, static_cast<double>(file->size())));
  return o;
}

Napi::Value WeightDispose(const Napi::CallbackInfo& info) { return dispose_handle(info, HandleKind::Weight, "weightDispose(weight)"); }
Napi::Value WeightFileDispose(const Napi::CallbackInfo& info) { return dispose_handle(info, HandleKind::WeightFile, "weightFileDispose(file)"); }

// ---- plans ----

// desc (src/model/graph/builder.ts GraphDesc):
//   tensorRoles Int32Array[n], tensorTypes Int32Array[n], tensorShapes Float64Array[4n], tensorNames string[n],
//   tensorWeights (WeightHandle | null)[n], tensorViewOf Int32Array[n], tensorViewOffset Float64Array[n],
//   opKinds Int32Array[m], opNumIn Int32Array[m], opNumOut Int32Array[m], opArgs Int32Array (per op: inputs then
//   outputs), opParamsI Float64Array[8m], opParamsF Float32Array[8m], outputNames string[k], outputTensors Int32Array[k]
Napi::Value PlanCompile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto backend = get_handle<BackendEntry>(env, info[0], HandleKind::Backend, "planCompile(backend, desc): backend");
  if (!backend) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsObject()) return throw_code(env, "INVALID_ARGUMENT", "planCompile(backend, desc): desc must be an object");
  Napi::Object d = info[1].As<Napi::Object>();
  Napi::Int32Array roles, types, viewOf, opKinds, opNumIn, opNumOut, opArgs, outTensors;
  Napi::Float64Array shapes, viewOffset, pi;
  Napi::Float32Array pf;
  if (!get_typed(env, d, "tensorRoles", napi_int32_array, &roles) || !get_typed(env, d, "tensorTypes", napi_int32_array, &types) ||
      !get_typed(env, d, "tensorShapes", napi_float64_array, &shapes) || !get_typed(env, d, "tensorViewOf", napi_int32_array, &viewOf) ||
      !get_typed(env, d, "tensorViewOffset", napi_float64_array, &viewOffset) || !get_typed(env, d, "opKinds", napi_int32_array, &opKinds) ||
      !get_typed(env, d, "opNumIn", napi_int32_array, &opNumIn) || !get_typed(env, d, "opNumOut", napi_int32_array, &opNumOut) ||
      !get_typed(env, d, "opArgs", napi_int32_array, &opArgs) || !get_typed(env, d, "opParamsI", napi_float64_array, &pi) ||
      !get_typed(env, d, "opParamsF", napi_float32_array, &pf) || !get_typed(env, d, "outputTensors", napi_int32_array, &outTensors)) {
    return env.Undefined();
  }
  if (!d.Get("tensorNames").IsArray() || !d.Get("tensorWeights").IsArray() || !d.Get("outputNames").IsArray()) {
    return throw_code(env, "INVALID_ARGUMENT", "graph description: tensorNames, tensorWeights and outputNames must be arrays");
  }
  Napi::Array names = d.Get("tensorNames").As<Napi::Array>();
  Napi::Array weights = d.Get("tensorWeights").As<Napi::Array>();
  Napi::Array outNames = d.Get("outputNames").As<Napi::Array>();
  const size_t n = roles.ElementLength();
  const size_t m = opKinds.ElementLength();
  if (types.ElementLength() != n || shapes.ElementLength() != 4 * n || viewOf.ElementLength() != n || viewOffset.ElementLength() != n ||
      names.Length() != n || weights.Length() != n || opNumIn.ElementLength() != m || opNumOut.ElementLength() != m ||
      pi.ElementLength() != 8 * m || pf.ElementLength() != 8 * m || outNames.Length() != outTensors.ElementLength()) {
    return throw_code(env, "INVALID_ARGUMENT", "graph description: array lengths disagree");
  }
  Graph g;
  g.tensors.resize(n);
  for (size_t j = 0; j < n; ++j) {
    GraphTensor& t = g.tensors[j];
    t.role = static_cast<TensorRole>(roles[j]);
    t.type = static_cast<DType>(types[j]);
    for (int k = 0; k < 4; ++k) {
      const double v = shapes[4 * j + static_cast<size_t>(k)];
      t.ne[k] = (v >= 0 && v <= 1099511627776.0 && v == std::floor(v)) ? static_cast<int64_t>(v) : 0;  // 0 → BAD_TENSOR
    }
    Napi::Value nm = names.Get(static_cast<uint32_t>(j));
    if (nm.IsString()) t.name = nm.As<Napi::String>().Utf8Value();
    t.view_of = viewOf[j];
    const double vo = viewOffset[j];
    t.view_offset = (vo >= 0 && vo == std::floor(vo)) ? static_cast<uint64_t>(vo) : ~uint64_t(0);
    Napi::Value wv = weights.Get(static_cast<uint32_t>(j));
    if (t.role == TensorRole::Weight) {
      auto w = get_handle<WeightData>(env, wv, HandleKind::Weight, ("graph tensor #" + std::to_string(j) + " weight").c_str());
      if (!w) return env.Undefined();
      t.weight = w;
      if (t.name.empty()) t.name = w->name;
    }
  }
  size_t at = 0;
  g.ops.resize(m);
  for (size_t i = 0; i < m; ++i) {
    GraphOp& op = g.ops[i];
    op.kind = static_cast<OpKind>(opKinds[i]);
    const int32_t ni = opNumIn[i], no = opNumOut[i];
    if (ni < 0 || no < 0 || at + static_cast<size_t>(ni) + static_cast<size_t>(no) > opArgs.ElementLength()) {
      return throw_code(env, "INVALID_ARGUMENT", "graph description: op #" + std::to_string(i) + " argument counts overrun opArgs");
    }
    for (int32_t s = 0; s < ni; ++s) op.in.push_back(opArgs[at++]);
    for (int32_t s = 0; s < no; ++s) op.out.push_back(opArgs[at++]);
    for (int k = 0; k < 8; ++k) {
      op.p.i[k] = static_cast<int64_t>(pi[8 * i + static_cast<size_t>(k)]);
      op.p.f[k] = pf[8 * i + static_cast<size_t>(k)];
    }
  }
  for (uint32_t k = 0; k < outNames.Length(); ++k) {
    GraphOutput o;
    Napi::Value nm = outNames.Get(k);
    if (nm.IsString()) o.name = nm.As<Napi::String>().Utf8Value();
    o.tensor = outTensors[k];
    g.outputs.push_back(o);
  }
  auto entry = std::make_shared<PlanEntry>();
  if (backend->cuda) {
    const Status st = cuda::plan_compile(backend->cuda, std::move(g), &entry->cuda);
    if (!st.is_ok()) return throw_status(env, st);
  } else {
    const Status st = Plan::compile(backend->backend, std::move(g), &entry->plan);
    if (!st.is_ok()) return throw_status(env, st);
  }
  entry->queue = backend->queue;
  return make_handle(env, HandleKind::Plan, entry);
}

Napi::Value PlanInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entry = get_handle<PlanEntry>(env, info[0], HandleKind::Plan, "planInfo(plan)");
  if (!entry) return env.Undefined();
  const CompiledGraph& g = entry->graph();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ops", Napi::Number::New(env, static_cast<double>(g.calls.size())));
  o.Set("arenaBytes", Napi::Number::New(env, static_cast<double>(g.arena_bytes)));
  o.Set("activationBytes", Napi::Number::New(env, static_cast<double>(g.activation_bytes)));
  o.Set("scratchBytes", Napi::Number::New(env, static_cast<double>(entry->scratch_bytes())));
  auto specs = [&](const std::vector<IoSpec>& v) {
    Napi::Array a = Napi::Array::New(env, v.size());
    for (size_t k = 0; k < v.size(); ++k) {
      Napi::Object s = Napi::Object::New(env);
      s.Set("name", v[k].name);
      s.Set("type", Napi::Number::New(env, static_cast<int>(v[k].type)));
      s.Set("shape", shape_array(env, v[k].ne));
      s.Set("bytes", Napi::Number::New(env, static_cast<double>(v[k].bytes)));
      a.Set(static_cast<uint32_t>(k), s);
    }
    return a;
  };
  o.Set("inputs", specs(g.inputs));
  o.Set("outputs", specs(g.outputs));
  o.Set("states", specs(g.states));
  return o;
}

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<PlanEntry> plan, std::shared_ptr<RunQueue> queue, std::shared_ptr<StateEntry> state,
            std::vector<std::vector<uint8_t>> inputs, Napi::Object result, std::vector<void*> outputs)
      : Napi::AsyncWorker(env, "qwen-hybrid:planRun"),
        deferred_(Napi::Promise::Deferred::New(env)),
        plan_(std::move(plan)),
        queue_(std::move(queue)),
        state_(std::move(state)),
        inputs_(std::move(inputs)),
        result_(Napi::Persistent(result)),
        outputs_(std::move(outputs)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    std::vector<const void*> in(inputs_.size());
    for (size_t k = 0; k < inputs_.size(); ++k) in[k] = inputs_[k].data();
    if (plan_->plan) status_ = plan_->plan->run(in, state_ ? state_->cpu.get() : nullptr, outputs_);
    else status_ = cuda::plan_run(*plan_->cuda, in, state_ ? state_->cuda.get() : nullptr, outputs_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (status_.is_ok()) {
      deferred_.Resolve(result_.Value());
    } else {
      Napi::Error err = Napi::Error::New(env, status_.message);
      err.Set("code", Napi::String::New(env, status_.code));
      deferred_.Reject(err.Value());
    }
    result_.Reset();
    queue_->finished();  // starts the next queued run of this backend
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<PlanEntry> plan_;
  std::shared_ptr<RunQueue> queue_;
  std::shared_ptr<StateEntry> state_;
  std::vector<std::vector<uint8_t>> inputs_;
  Napi::ObjectReference result_;
  std::vector<void*> outputs_;
  Status status_;
};

Napi::Value PlanRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entry = get_handle<PlanEntry>(env, info[0], HandleKind::Plan, "planRun(plan, inputs, state)");
  if (!entry) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsObject()) return throw_code(env, "INVALID_ARGUMENT", "planRun(plan, inputs, state): inputs must be an object");
  std::shared_ptr<StateEntry> state;
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    state = get_handle<StateEntry>(env, info[2], HandleKind::State, "planRun: state");
    if (!state) return env.Undefined();
    if (static_cast<bool>(state->cuda) != static_cast<bool>(entry->cuda)) {
      return throw_code(env, "INVALID_ARGUMENT", std::string("planRun: a ") + (state->cuda ? "CUDA" : "CPU") + " state cannot run with a " +
                                                     (entry->cuda ? "CUDA" : "CPU") + " plan");
    }
  }
  const CompiledGraph& g = entry->graph();
  if (!g.states.empty() && !state) {
    return throw_code(env, "INVALID_ARGUMENT", "planRun: the plan has state tensors ('" + g.states[0].name + "', ...) but no state was given");
  }
  Napi::Object in = info[1].As<Napi::Object>();
  // Inputs are copied now: JS may reuse its arrays while the run is in flight.
  std::vector<std::vector<uint8_t>> inputs(g.inputs.size());
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    const IoSpec& s = g.inputs[k];
    if (!in.HasOwnProperty(s.name)) return throw_code(env, "INVALID_ARGUMENT", "planRun: missing input '" + s.name + "'");
    const void* src = nullptr;
    if (!check_tensor_array(env, in.Get(s.name), s, "input", &src)) return env.Undefined();
    inputs[k].assign(static_cast<const uint8_t*>(src), static_cast<const uint8_t*>(src) + s.bytes);
  }
  Napi::Array keys = in.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).ToString().Utf8Value();
    bool known = false;
    for (const IoSpec& s : g.inputs) known = known || s.name == key;
    if (!known) return throw_code(env, "INVALID_ARGUMENT", "planRun: the plan has no input named '" + key + "'");
  }
  // Outputs: fresh arrays the worker fills; JS sees them only when the promise resolves.
  Napi::Object result = Napi::Object::New(env);
  std::vector<void*> outputs(g.outputs.size());
  for (size_t k = 0; k < g.outputs.size(); ++k) result.Set(g.outputs[k].name, new_tensor_array(env, g.outputs[k].type, g.outputs[k].bytes, &outputs[k]));
  RunWorker* w = new RunWorker(env, entry, entry->queue, state, std::move(inputs), result, std::move(outputs));
  Napi::Promise p = w->promise();
  entry->queue->submit(w);
  return p;
}

void RunQueue::submit(RunWorker* w) {
  if (busy) {
    pending.push_back(w);
  } else {
    busy = true;
    w->Queue();
  }
}

void RunQueue::finished() {
  if (pending.empty()) {
    busy = false;
    return;
  }
  RunWorker* next = pending.front();
  pending.pop_front();
  next->Queue();
}

Napi::Value PlanDispose(const Napi::CallbackInfo& info) { return dispose_handle(info, HandleKind::Plan, "planDispose(plan)"); }

// ---- state ----

Napi::Value StateCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entry = get_handle<PlanEntry>(env, info[0], HandleKind::Plan, "stateCreate(plan)");
  if (!entry) return env.Undefined();
  auto s = std::make_shared<StateEntry>();
  const Status st = entry->plan ? entry->plan->create_state(&s->cpu) : cuda::state_create(*entry->cuda, &s->cuda);
  if (!st.is_ok()) return throw_status(env, st);
  return make_handle(env, HandleKind::State, s);
}

// The state buffer `name`, locked without waiting (a run in flight holds the lock: INVALID_ARGUMENT).
int state_lookup(Napi::Env env, const std::shared_ptr<StateEntry>& s, const Napi::Value& name, const char* what) {
  if (!name.IsString()) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + ": name must be a string");
    return -1;
  }
  const int idx = s->find(name.As<Napi::String>().Utf8Value());
  if (idx < 0) {
    std::string list;
    for (const IoSpec& sp : s->specs()) list += (list.empty() ? "'" : ", '") + sp.name + "'";
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + ": no state tensor '" + name.As<Napi::String>().Utf8Value() + "' (has " +
                                            (list.empty() ? std::string("none") : list) + ")");
  }
  return idx;
}

Napi::Value StateRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = get_handle<StateEntry>(env, info[0], HandleKind::State, "stateRead(state, name)");
  if (!s) return env.Undefined();
  const int idx = state_lookup(env, s, info[1], "stateRead");
  if (idx < 0) return env.Undefined();
  const IoSpec& sp = s->specs()[static_cast<size_t>(idx)];
  void* dst = nullptr;
  Napi::Value arr = new_tensor_array(env, sp.type, sp.bytes, &dst);
  if (s->cuda) {
    const Status st = cuda::state_read(*s->cuda, idx, dst);  // refuses while a run holds the state
    if (!st.is_ok()) return throw_status(env, st);
    return arr;
  }
  std::unique_lock<std::mutex> lock(s->cpu->mu, std::try_to_lock);
  if (!lock.owns_lock()) return throw_code(env, "INVALID_ARGUMENT", "stateRead: the state is in use by a running plan; await the run first");
  if (sp.bytes > 0) std::memcpy(dst, s->cpu->bufs[static_cast<size_t>(idx)].data(), sp.bytes);
  return arr;
}

Napi::Value StateWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = get_handle<StateEntry>(env, info[0], HandleKind::State, "stateWrite(state, name, data)");
  if (!s) return env.Undefined();
  const int idx = state_lookup(env, s, info[1], "stateWrite");
  if (idx < 0) return env.Undefined();
  const IoSpec& sp = s->specs()[static_cast<size_t>(idx)];
  const void* src = nullptr;
  if (!check_tensor_array(env, info[2], sp, "stateWrite: state", &src)) return env.Undefined();
  if (s->cuda) {
    const Status st = cuda::state_write(*s->cuda, idx, src);
    if (!st.is_ok()) return throw_status(env, st);
    return env.Undefined();
  }
  std::unique_lock<std::mutex> lock(s->cpu->mu, std::try_to_lock);
  if (!lock.owns_lock()) return throw_code(env, "INVALID_ARGUMENT", "stateWrite: the state is in use by a running plan; await the run first");
  if (sp.bytes > 0) std::memcpy(s->cpu->bufs[static_cast<size_t>(idx)].data(), src, sp.bytes);
  return env.Undefined();
}

Napi::Value StateDispose(const Napi::CallbackInfo& info) { return dispose_handle(info, HandleKind::State, "stateDispose(state)"); }

// ---- bench ----

Napi::Value BenchMemcpy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t bytes = 0, iters = 0, threads = 0;
  if (info.Length() < 3) return throw_code(env, "INVALID_ARGUMENT", "benchMemcpy(bytes, iters, threads): 3 arguments required");
  if (!get_int(env, info[0], "benchMemcpy: bytes", 1, 68719476736.0, &bytes) || !get_int(env, info[1], "benchMemcpy: iters", 1, 1e6, &iters) ||
      !get_int(env, info[2], "benchMemcpy: threads", 1, 1024, &threads)) {
    return env.Undefined();
  }
  double seconds = 0;
  const Status st = cpu::bench_memcpy(static_cast<size_t>(bytes), static_cast<int>(iters), static_cast<int>(threads), &seconds);
  if (!st.is_ok()) return throw_status(env, st);
  return Napi::Number::New(env, seconds);
}


// ---- CUDA backend ----

Napi::Value CudaBackendCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t device = 0;
  if (info.Length() < 1 || !get_int(env, info[0], "cudaBackendCreate(device, variants): device", 0, 1024, &device)) {
    if (!env.IsExceptionPending()) throw_code(env, "INVALID_ARGUMENT", "cudaBackendCreate(device, variants): device required");
    return env.Undefined();
  }
  std::vector<int> variants;
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsArray()) return throw_code(env, "INVALID_ARGUMENT", "cudaBackendCreate: variants must be an array of integers (per op id)");
    Napi::Array a = info[1].As<Napi::Array>();
    if (a.Length() > static_cast<uint32_t>(kOpCount)) {
      return throw_code(env, "INVALID_ARGUMENT", "cudaBackendCreate: variants has " + std::to_string(a.Length()) + " entries, more than the " +
                                                     std::to_string(kOpCount) + " ops");
    }
    for (uint32_t i = 0; i < a.Length(); ++i) {
      int64_t v = 0;
      if (!get_int(env, a.Get(i), "cudaBackendCreate: variants[i]", 0, 1000, &v)) return env.Undefined();
      variants.push_back(static_cast<int>(v));
    }
  }
  std::shared_ptr<cuda::Backend> b;
  const Status st = cuda::backend_create(static_cast<int>(device), variants, &b);
  if (!st.is_ok()) return throw_status(env, st);
  auto entry = std::make_shared<BackendEntry>();
  entry->cuda = std::move(b);
  entry->queue = std::make_shared<RunQueue>();
  return make_handle(env, HandleKind::Backend, entry);
}

std::shared_ptr<BackendEntry> get_cuda_backend(Napi::Env env, const Napi::Value& v, const char* what) {
  auto entry = get_handle<BackendEntry>(env, v, HandleKind::Backend, what);
  if (!entry) return nullptr;
  if (!entry->cuda) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + ": this is a CPU backend");
    return nullptr;
  }
  return entry;
}

Napi::Value CudaBackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entry = get_cuda_backend(env, info[0], "cudaBackendInfo(backend)");
  if (!entry) return env.Undefined();
  const cuda::BackendInfo i = cuda::backend_info(*entry->cuda);
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", Napi::Number::New(env, i.device));
  o.Set("name", i.name);
  o.Set("computeCapability", std::to_string(i.cc / 10) + "." + std::to_string(i.cc % 10));
  o.Set("multiProcessorCount", Napi::Number::New(env, i.sm_count));
  o.Set("totalMemoryBytes", Napi::Number::New(env, static_cast<double>(i.total_memory_bytes)));
  o.Set("freeMemoryBytes", Napi::Number::New(env, static_cast<double>(i.free_memory_bytes)));
  o.Set("weightBytesResident", Napi::Number::New(env, static_cast<double>(i.weight_bytes_resident)));
  o.Set("weightsResident", Napi::Number::New(env, i.weights_resident));
  o.Set("cudaGraphs", Napi::Boolean::New(env, i.graphs_enabled));
  o.Set("graphCaptures", Napi::Number::New(env, static_cast<double>(i.graph_captures)));
  o.Set("graphLaunches", Napi::Number::New(env, static_cast<double>(i.graph_launches)));
  o.Set("graphCaptureFailures", Napi::Number::New(env, static_cast<double>(i.graph_capture_failures)));
  Napi::Array missing = Napi::Array::New(env, i.ops_without_kernel.size());
  for (uint32_t k = 0; k < i.ops_without_kernel.size(); ++k) missing.Set(k, i.ops_without_kernel[k]);
  o.Set("opsWithoutKernel", missing);
  return o;
}

Napi::Value CudaBackendDispose(const Napi::CallbackInfo& info) { return dispose_handle(info, HandleKind::Backend, "cudaBackendDispose(backend)"); }

bool get_weight_list(Napi::Env env, const Napi::Value& v, const char* what, std::vector<std::shared_ptr<const WeightData>>* out) {
  if (!v.IsArray()) {
    throw_code(env, "INVALID_ARGUMENT", std::string(what) + ": weights must be an array of weight handles");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    auto w = get_handle<WeightData>(env, a.Get(i), HandleKind::Weight, (std::string(what) + ": weights[" + std::to_string(i) + "]").c_str());
    if (!w) return false;
    out->push_back(w);
  }
  return true;
}

struct UploadTick {
  double done = 0, total = 0;
};

// Uploads on a libuv thread; progress goes to the JS callback (the latest tick; intermediate ones may coalesce).
class UploadWorker : public Napi::AsyncProgressWorker<UploadTick> {
 public:
  UploadWorker(Napi::Env env, std::shared_ptr<BackendEntry> backend, std::vector<std::shared_ptr<const WeightData>> weights, Napi::Value progress)
      : Napi::AsyncProgressWorker<UploadTick>(env, "qwen-hybrid:cudaUploadWeights"),
        deferred_(Napi::Promise::Deferred::New(env)),
        backend_(std::move(backend)),
        weights_(std::move(weights)) {
    if (progress.IsFunction()) progress_ = Napi::Persistent(progress.As<Napi::Function>());
  }
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& p) override {
    status_ = cuda::upload_weights(*backend_->cuda, weights_, [&p](uint64_t done, uint64_t total) {
      UploadTick t{static_cast<double>(done), static_cast<double>(total)};
      p.Send(&t, 1);
    });
  }
  void OnProgress(const UploadTick* data, size_t count) override {
    if (progress_.IsEmpty() || data == nullptr || count == 0) return;
    Napi::Env env = Env();
    progress_.Call({Napi::Number::New(env, data[count - 1].done), Napi::Number::New(env, data[count - 1].total)});
    if (env.IsExceptionPending()) env.GetAndClearPendingException();  // a throwing progress callback does not stop the upload
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (status_.is_ok()) {
      deferred_.Resolve(env.Undefined());
    } else {
      Napi::Error err = Napi::Error::New(env, status_.message);
      err.Set("code", Napi::String::New(env, status_.code));
      deferred_.Reject(err.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<BackendEntry> backend_;
  std::vector<std::shared_ptr<const WeightData>> weights_;
  Napi::FunctionReference progress_;
  Status status_;
};

Napi::Value CudaUploadWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entry = get_cuda_backend(env, info[0], "cudaUploadWeights(backend, weights, onProgress)");
  if (!entry) return env.Undefined();
  std::vector<std::shared_ptr<const WeightData>> weights;
  if (!get_weight_list(env, info[1], "cudaUploadWeights", &weights)) return env.Undefined();
  UploadWorker* w = new UploadWorker(env, entry, std::move(weights), info.Length() > 2 ? info[2] : env.Undefined());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value CudaReleaseWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entry = get_cuda_backend(env, info[0], "cudaReleaseWeights(backend, weights)");
  if (!entry) return env.Undefined();
  std::vector<std::shared_ptr<const WeightData>> weights;
  if (!get_weight_list(env, info[1], "cudaReleaseWeights", &weights)) return env.Undefined();
  cuda::release_weights(*entry->cuda, weights);
  return env.Undefined();
}

Napi::Value CudaBenchCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t device = 0, bytes = 0, iters = 0;
  if (info.Length() < 3) return throw_code(env, "INVALID_ARGUMENT", "cudaBenchCopy(device, bytes, iters): 3 arguments required");
  if (!get_int(env, info[0], "cudaBenchCopy: device", 0, 1024, &device) || !get_int(env, info[1], "cudaBenchCopy: bytes", 1, 68719476736.0, &bytes) ||
      !get_int(env, info[2], "cudaBenchCopy: iters", 1, 1e6, &iters)) {
    return env.Undefined();
  }
  double seconds = 0;
  const Status st = cuda::bench_copy(static_cast<int>(device), static_cast<size_t>(bytes), static_cast<int>(iters), &seconds);
  if (!st.is_ok()) return throw_status(env, st);
  return Napi::Number::New(env, seconds);
}

Napi::Value CudaBenchGemmF16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t device = 0, m = 0, n = 0, k = 0, iters = 0;
  if (info.Length() < 5) return throw_code(env, "INVALID_ARGUMENT", "cudaBenchGemmF16(device, m, n, k, iters): 5 arguments required");
  if (!get_int(env, info[0], "cudaBenchGemmF16: device", 0, 1024, &device) || !get_int(env, info[1], "cudaBenchGemmF16: m", 1, 1 << 20, &m) ||
      !get_int(env, info[2], "cudaBenchGemmF16: n", 1, 1 << 20, &n) || !get_int(env, info[3], "cudaBenchGemmF16: k", 1, 1 << 20, &k) ||
      !get_int(env, info[4], "cudaBenchGemmF16: iters", 1, 1e6, &iters)) {
    return env.Undefined();
  }
  double seconds = 0;
  const Status st = cuda::bench_gemm_f16(static_cast<int>(device), static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                                         static_cast<int>(iters), &seconds);
  if (!st.is_ok()) return throw_status(env, st);
  return Napi::Number::New(env, seconds);
}

}  // namespace

void register_runtime_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("opList", Napi::Function::New(env, OpList, "opList"));
  exports.Set("cpuBackendCreate", Napi::Function::New(env, CpuBackendCreate, "cpuBackendCreate"));
  exports.Set("cpuBackendInfo", Napi::Function::New(env, CpuBackendInfo, "cpuBackendInfo"));
  exports.Set("cpuBackendDispose", Napi::Function::New(env, CpuBackendDispose, "cpuBackendDispose"));
  exports.Set("weightFromBytes", Napi::Function::New(env, WeightFromBytes, "weightFromBytes"));
  exports.Set("weightFileMap", Napi::Function::New(env, WeightFileMap, "weightFileMap"));
  exports.Set("weightDispose", Napi::Function::New(env, WeightDispose, "weightDispose"));
  exports.Set("weightFileDispose", Napi::Function::New(env, WeightFileDispose, "weightFileDispose"));
  exports.Set("planCompile", Napi::Function::New(env, PlanCompile, "planCompile"));
  exports.Set("planInfo", Napi::Function::New(env, PlanInfo, "planInfo"));
  exports.Set("planRun", Napi::Function::New(env, PlanRun, "planRun"));
  exports.Set("planDispose", Napi::Function::New(env, PlanDispose, "planDispose"));
  exports.Set("stateCreate", Napi::Function::New(env, StateCreate, "stateCreate"));
  exports.Set("stateRead", Napi::Function::New(env, StateRead, "stateRead"));
  exports.Set("stateWrite", Napi::Function::New(env, StateWrite, "stateWrite"));
  exports.Set("stateDispose", Napi::Function::New(env, StateDispose, "stateDispose"));
  exports.Set("benchMemcpy", Napi::Function::New(env, BenchMemcpy, "benchMemcpy"));
  exports.Set("cudaBackendCreate", Napi::Function::New(env, CudaBackendCreate, "cudaBackendCreate"));
  exports.Set("cudaBackendInfo", Napi::Function::New(env, CudaBackendInfo, "cudaBackendInfo"));
  exports.Set("cudaBackendDispose", Napi::Function::New(env, CudaBackendDispose, "cudaBackendDispose"));
  exports.Set("cudaUploadWeights", Napi::Function::New(env, CudaUploadWeights, "cudaUploadWeights"));
  exports.Set("cudaReleaseWeights", Napi::Function::New(env, CudaReleaseWeights, "cudaReleaseWeights"));
  exports.Set("cudaBenchCopy", Napi::Function::New(env, CudaBenchCopy, "cudaBenchCopy"));
  exports.Set("cudaBenchGemmF16", Napi::Function::New(env, CudaBenchGemmF16, "cudaBenchGemmF16"));
}

}  // namespace qh::addon
