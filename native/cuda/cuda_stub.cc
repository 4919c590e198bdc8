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

}  // namespace qh::cuda
