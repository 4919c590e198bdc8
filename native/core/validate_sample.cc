// SAMPLE validator (native/core/op_list.h): logits f32 {V, R}, hist i32 {N, R}, cfg f32 {8, R} -> out i32 {R}.
// Shapes and types only: the cfg VALUES are data (one plan serves every sampling setting), so the kernels
// sanitise them at run time as the op comment says. V <= 2^24 keeps the CUDA kernel's 2^-40 fixed-point mass
// sums below 2^64 (every weight is <= 1) and every id exact in f32.
#include <string>

#include "op.h"
#include "plan.h"

namespace qh {
namespace {

constexpr int64_t kMaxVocab = int64_t{1} << 24;

const char* type_name(DType t) {
  const DTypeInfo* info = dtype_info(t);
  return info ? info->name : "unknown";
}

Status bad(const std::string& msg) { return Status::error("INVALID_ARGUMENT", msg); }

// t must have type `type` and shape {e0, e1, 1, 1}.
Status expect2(const char* what, const Tensor& t, DType type, int64_t e0, int64_t e1, const char* why) {
  if (t.type == type && t.ne[0] == e0 && t.ne[1] == e1 && t.ne[2] == 1 && t.ne[3] == 1) return Status::ok();
  const int64_t want[4] = {e0, e1, 1, 1};
  return bad(std::string("SAMPLE op: ") + what + " must be " + type_name(type) + " " + shape_string(want) + " (" + why +
             "), got " + type_name(t.type) + " " + shape_string(t.ne));
}

Status validate_sample(const OpCall& c) {
  const Tensor &logits = c.in[0], &hist = c.in[1], &cfg = c.in[2];
  const int64_t V = logits.ne[0], R = logits.ne[1];
  if (logits.type != DType::F32 || V < 1 || R < 1 || logits.ne[2] != 1 || logits.ne[3] != 1 || V > kMaxVocab)
    return bad(std::string("SAMPLE op: input 0 (logits) must be f32 {V, R} with 1 <= V <= 2^24, got ") + type_name(logits.type) +
               " " + shape_string(logits.ne));
  if (hist.type != DType::I32 || hist.ne[0] < 1 || hist.ne[1] != R || hist.ne[2] != 1 || hist.ne[3] != 1)
    return bad("SAMPLE op: input 1 (hist) must be i32 {N, R} with N >= 1 and R = " + std::to_string(R) +
               " (the penalty window of each row, -1 padded), got " + type_name(hist.type) + " " + shape_string(hist.ne));
  QH_RETURN_IF_ERROR(expect2("input 2 (cfg)", cfg, DType::F32, 8, R,
                             "[temperature, top_k, top_p, min_p, repeat, presence, frequency, u] per row"));
  return expect2("output 0", c.out[0], DType::I32, R, 1, "one id per row of logits");
}

}  // namespace

QH_OP_VALIDATOR(SAMPLE, validate_sample);

}  // namespace qh
