// N-API glue only: converts between JS values and the plain C++ types of native/core, native/cpu and
// native/cuda. Built with C++ exceptions off (NAPI_DISABLE_CPP_EXCEPTIONS): every failure is a
// pending JS exception plus an early return, never a throw or an abort.
//
// Exports (flat; mirrored by src/native/types.ts):
//   buildInfo()                → BuildInfo
//   cudaDevices()              → CudaDeviceList   (never throws)
//   cudaSelfTest(deviceIndex)  → { ok, detail }   (throws code NO_CUDA_DEVICE / INVALID_ARGUMENT)
//   + the execution exports of runtime.cc (opList, cpuBackend*, weight*, plan*, state*, benchMemcpy)
#include <napi.h>

#include <cmath>
#include <string>

#include "../core/build_info.h"
#include "../core/cpu_features.h"
#include "../cpu/cpu_backend.h"
#include "../cuda/cuda_backend.h"
#include "runtime.h"

namespace {

// "13.0" from 13000 (1000*major + 10*minor).
std::string cuda_version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

enum class ErrorKind { kError, kTypeError, kRangeError };

// Throws `new Error(message)` (or TypeError/RangeError) with `.code = code` in JS; returns undefined to C++.
Napi::Value throw_with_code(Napi::Env env, const char* code, const std::string& message, ErrorKind kind = ErrorKind::kError) {
  Napi::Error err = kind == ErrorKind::kTypeError    ? Napi::TypeError::New(env, message)
                    : kind == ErrorKind::kRangeError ? Napi::RangeError::New(env, message)
                                                     : Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const qh::BuildInfo b = qh::build_info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", b.version);
  o.Set("builder", b.builder);
  o.Set("cuda", Napi::Boolean::New(env, qh::cuda::compiled()));
  const std::vector<int> archs = qh::cuda::archs();
  Napi::Array a = Napi::Array::New(env, archs.size());
  for (size_t i = 0; i < archs.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, archs[i]));
  o.Set("cudaArchs", a);
  const int rt = qh::cuda::runtime_version();
  o.Set("cudaRuntimeVersion", rt > 0 ? Napi::Value(Napi::String::New(env, cuda_version_string(rt))) : env.Null());
  o.Set("compiler", b.compiler);
  const qh::CpuFeatures f = qh::detect_cpu_features();
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("avx2", Napi::Boolean::New(env, f.avx2));
  cpu.Set("avx512f", Napi::Boolean::New(env, f.avx512f));
  cpu.Set("fma", Napi::Boolean::New(env, f.fma));
  cpu.Set("f16c", Napi::Boolean::New(env, f.f16c));
  o.Set("cpu", cpu);
  o.Set("cpuThreads", Napi::Number::New(env, qh::cpu::usable_threads()));
  return o;
}

Napi::Value CudaDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const qh::cuda::DeviceList list = qh::cuda::list_devices();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Boolean::New(env, list.available));
  o.Set("reason", list.reason);
  o.Set("driverVersion",
        list.driver_version > 0 ? Napi::Value(Napi::String::New(env, cuda_version_string(list.driver_version))) : env.Null());
  Napi::Array devs = Napi::Array::New(env, list.devices.size());
  for (size_t i = 0; i < list.devices.size(); ++i) {
    const qh::cuda::DeviceInfo& d = list.devices[i];
    Napi::Object dv = Napi::Object::New(env);
    dv.Set("index", Napi::Number::New(env, d.index));
    dv.Set("name", d.name);
    dv.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    // f64 holds byte counts exactly up to 2^53 (8 PiB).
    dv.Set("totalMemoryBytes", Napi::Number::New(env, static_cast<double>(d.total_memory_bytes)));
    dv.Set("multiProcessorCount", Napi::Number::New(env, d.multiprocessor_count));
    dv.Set("memoryBusWidthBits", Napi::Number::New(env, d.memory_bus_width_bits));
    dv.Set("memoryClockKHz", Napi::Number::New(env, d.memory_clock_khz));
    devs.Set(static_cast<uint32_t>(i), dv);
  }
  o.Set("devices", devs);
  return o;
}

Napi::Value CudaSelfTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    return throw_with_code(env, "INVALID_ARGUMENT", "cudaSelfTest(deviceIndex): deviceIndex must be a number",
                           ErrorKind::kTypeError);
  }
  const double idx = info[0].As<Napi::Number>().DoubleValue();
  if (!(idx >= 0) || idx != std::floor(idx) || idx > 1e6) {
    return throw_with_code(env, "INVALID_ARGUMENT",
                           "cudaSelfTest(deviceIndex): deviceIndex must be a non-negative integer, got " +
                               info[0].ToString().Utf8Value(),
                           ErrorKind::kRangeError);
  }
  const qh::cuda::SelfTestResult r = qh::cuda::self_test(static_cast<int>(idx));
  using S = qh::cuda::SelfTestResult::Status;
  if (r.status == S::kNoDevice) return throw_with_code(env, "NO_CUDA_DEVICE", "cudaSelfTest: " + r.detail);
  if (r.status == S::kBadIndex) return throw_with_code(env, "INVALID_ARGUMENT", "cudaSelfTest: " + r.detail, ErrorKind::kRangeError);
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, r.status == S::kOk));
  o.Set("detail", r.detail);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("cudaDevices", Napi::Function::New(env, CudaDevices, "cudaDevices"));
  exports.Set("cudaSelfTest", Napi::Function::New(env, CudaSelfTest, "cudaSelfTest"));
  qh::addon::register_runtime_exports(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(qwen_hybrid, Init)
