// Build-time facts about this addon: package version, which builder produced it, host compiler.
// The values come from compile definitions set by CMakeLists.txt / binding.gyp.
#pragma once

#include <string>

namespace qh {

struct BuildInfo {
  std::string version;   // package.json "version"
  std::string builder;   // "cmake-js" | "cmake" | "node-gyp"
  std::string compiler;  // host C++ compiler, e.g. "GCC 12.2.0"
};

BuildInfo build_info();

}  // namespace qh
