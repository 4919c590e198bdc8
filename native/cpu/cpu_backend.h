// CPU backend entry points. Ops arrive in later issues (one op per file: native/cpu/<op>.cc).
#pragma once

namespace qh::cpu {

// Threads the CPU backend may use: CPUs in this process's affinity mask (Linux), else the
// hardware thread count. Never less than 1.
unsigned usable_threads();

}  // namespace qh::cpu
