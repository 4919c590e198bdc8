#include "build_info.h"

#ifndef QWEN_HYBRID_VERSION
#define QWEN_HYBRID_VERSION "unknown"
#endif
#ifndef QWEN_HYBRID_BUILDER
#define QWEN_HYBRID_BUILDER "unknown"
#endif

#define QH_STR2(x) #x
#define QH_STR(x) QH_STR2(x)

namespace qh {

static std::string compiler_name() {
#if defined(__clang__)
  return "Clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " QH_STR(__GNUC__) "." QH_STR(__GNUC_MINOR__) "." QH_STR(__GNUC_PATCHLEVEL__);
#elif defined(_MSC_VER)
  return "MSVC " QH_STR(_MSC_FULL_VER);
#else
  return "unknown";
#endif
}

BuildInfo build_info() {
  return BuildInfo{QWEN_HYBRID_VERSION, QWEN_HYBRID_BUILDER, compiler_name()};
}

}  // namespace qh
