// One op of a plan as kernels and validators see it: kind, params, input and output views.
#pragma once

#include <cstdint>

#include "op_list.h"
#include "status.h"
#include "tensor.h"

namespace qh {

struct OpParams {
  int64_t i[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float f[8] = {0, 0, 0, 0, 0, 0, 0, 0};
};

constexpr int kMaxOpInputs = 8;
constexpr int kMaxOpOutputs = 4;

struct OpCall {
  OpKind kind;
  OpParams p;
  int n_in = 0;
  int n_out = 0;
  Tensor in[kMaxOpInputs];    // state tensors appear here too (the op comment says which it updates)
  Tensor out[kMaxOpOutputs];
};

// Backend-independent check of an op's shapes, types and params, run when a plan is compiled (design §5.4:
// validate once at the boundary; kernels assume the preconditions). Messages name the op and the tensor.
// Data-dependent checks (e.g. positions beyond the KV cache) are the kernel's and return CONTEXT_FULL etc.
using ValidateFn = Status (*)(const OpCall& call);

// Registration: one line per op in native/core/validate_<family>.cc:  QH_OP_VALIDATOR(RMS_NORM, validate_rms_norm);
bool register_validator(OpKind kind, ValidateFn fn);
ValidateFn find_validator(OpKind kind);

#define QH_OP_VALIDATOR(KIND, FN) \
  static const bool qh_validator_registered_##KIND = ::qh::register_validator(::qh::OpKind::KIND, FN)

}  // namespace qh
