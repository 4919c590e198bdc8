// Execution exports (N-API glue for native/cpu/backend.h): registered by addon.cc's Init.
#pragma once

#include <napi.h>

namespace qh::addon {

void register_runtime_exports(Napi::Env env, Napi::Object exports);

}  // namespace qh::addon
