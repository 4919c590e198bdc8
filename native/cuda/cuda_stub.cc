// CPU-only builds: the CUDA backend's interface with nothing behind it.
#include "cuda_backend.h"

namespace qh::cuda {

static const char kNotCompiled[] = "CUDA not compiled in";

bool compiled() { return false; }
std::vector<int> archs() { return {}; }
int runtime_version() { return 0; }

DeviceList list_devices() {
  DeviceList list;
  list.available = false;
  list.reason = kNotCompiled;
  return list;
}

SelfTestResult self_test(int) {
  SelfTestResult r;
  r.status = SelfTestResult::Status::kNoDevice;
  r.detail = kNotCompiled;
  return r;
}

// No Backend can exist, so nothing below is reachable with a real Plan or SessionState.
static Status not_compiled(const char* what) { return Status::error("NO_CUDA_DEVICE", std::string(what) + ": " + kNotCompiled); }

Status backend_create(int, const std::vector<int>&, std::shared_ptr<Backend>*) { return not_compiled("cudaBackendCreate"); }
BackendInfo backend_info(Backend&) { return BackendInfo(); }
Status upload_weights(Backend&, const std::vector<std::shared_ptr<const WeightData>>&, const UploadProgress&) {
  return not_compiled("cudaUploadWeights");
}
void release_weights(Backend&, const std::vector<std::shared_ptr<const WeightData>>&) {}
Status plan_compile(const std::shared_ptr<Backend>&, Graph, std::shared_ptr<Plan>*) { return not_compiled("planCompile"); }
const CompiledGraph& plan_graph(const Plan&) {
  static const CompiledGraph empty;
  return empty;
}
size_t plan_scratch_bytes(const Plan&) { return 0; }
Status plan_run(Plan&, const std::vector<const void*>&, SessionState*, const std::vector<void*>&) { return not_compiled("planRun"); }
Status state_create(const Plan&, std::shared_ptr<SessionState>*) { return not_compiled("stateCreate"); }
const std::vector<IoSpec>& state_specs(const SessionState&) {
  static const std::vector<IoSpec> empty;
  return empty;
}
int state_find(const SessionState&, const std::string&) { return -1; }
Status state_read(SessionState&, int, void*) { return not_compiled("stateRead"); }
Status state_write(SessionState&, int, const void*) { return not_compiled("stateWrite"); }
Status bench_copy(int, size_t, int, double*) { return not_compiled("cudaBenchCopy"); }
Status bench_gemm_f16(int, int, int, int, int, double*) { return not_compiled("cudaBenchGemmF16"); }

}  // namespace qh::cuda
