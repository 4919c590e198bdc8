// Validators of the weight-op family: GET_ROWS, MATMUL, MATMUL_ID. Every precondition the CPU kernels
// (native/cpu/{get_rows,matmul,matmul_id}.cc) assume is checked here, once, at plan compile time (all plan
// tensors are contiguous: plan.h tensor_view). compile_graph prefixes "op #i (KIND): ".
// Data-dependent checks (ids in range) are the kernels'.
#include <string>

#include "op.h"
#include "plan.h"

namespace qh {
namespace {

Status bad(const std::string& msg) { return Status::error("INVALID_ARGUMENT", msg); }

const char* type_name(DType t) {
  const DTypeInfo* info = dtype_info(t);
  return info ? info->name : "unknown";
}

std::string shp(const Tensor& t) { return shape_string(t.ne); }

// The weight types the row kernels implement (spec §4.1; every one has a scalar reference).
bool is_weight_type(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q8_0:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

// W: a supported weight type, rows of ne0 (a positive multiple of the block size), `dims` dimensions used.
Status expect_weight(const char* op, const Tensor& W, int dims) {
  if (!is_weight_type(W.type)) {
    return bad(std::string(op) + " op: input 0 (W) has type " + type_name(W.type) +
               "; supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K");
  }
  const DTypeInfo* info = dtype_info(W.type);
  if (W.ne[0] < 1 || W.ne[0] % info->block_size != 0) {
    return bad(std::string(op) + " op: input 0 (W) " + type_name(W.type) + " " + shp(W) + ": ne0 must be a positive multiple of the block size " +
               std::to_string(info->block_size));
  }
  for (int d = 1; d < 4; ++d) {
    if (W.ne[d] < 1 || (d >= dims && W.ne[d] != 1)) {
      return bad(std::string(op) + " op: input 0 (W) must be " + std::to_string(dims) + "-D (" +
                 (dims == 2 ? "{k, m}" : "{k, m, E}") + "), got " + shp(W));
    }
  }
  return Status::ok();
}

// t must have type `type` and shape {e0, e1, e2, e3}.
Status expect(const char* op, const char* what, const Tensor& t, DType type, int64_t e0, int64_t e1, int64_t e2, int64_t e3,
              const char* why) {
  if (t.type == type && t.ne[0] == e0 && t.ne[1] == e1 && t.ne[2] == e2 && t.ne[3] == e3) return Status::ok();
  const int64_t want[4] = {e0, e1, e2, e3};
  return bad(std::string(op) + " op: " + what + " must be " + type_name(type) + " " + shape_string(want) + " (" + why +
             "), got " + type_name(t.type) + " " + shp(t));
}

// in: W {n, rows}; ids i32 {T}. out: f32 {n, T}.
Status validate_get_rows(const OpCall& c) {
  const char* op = "GET_ROWS";
  if (c.n_in != 2 || c.n_out != 1) return bad("GET_ROWS op: takes (W, ids) and gives one output");
  const Tensor& W = c.in[0];
  QH_RETURN_IF_ERROR(expect_weight(op, W, 2));
  const Tensor& ids = c.in[1];
  if (ids.type != DType::I32 || ids.ne[0] < 1 || ids.ne[1] != 1 || ids.ne[2] != 1 || ids.ne[3] != 1) {
    return bad("GET_ROWS op: input 1 (ids) must be i32 {T} with T >= 1, got " + std::string(type_name(ids.type)) + " " + shp(ids));
  }
  return expect(op, "output 0", c.out[0], DType::F32, W.ne[0], ids.ne[0], 1, 1, "{n = W.ne0, T = ids.ne0}");
}

// in: W {k, m}; x f32 {k, T}. out: f32 {m, T}.
Status validate_matmul(const OpCall& c) {
  const char* op = "MATMUL";
  if (c.n_in != 2 || c.n_out != 1) return bad("MATMUL op: takes (W, x) and gives one output");
  const Tensor& W = c.in[0];
  QH_RETURN_IF_ERROR(expect_weight(op, W, 2));
  if (c.p.i[1] != 0 && c.p.i[1] != 1) {
    return bad("MATMUL op: p.i[1] (activations) must be 0 (f32, exact) or 1 (quantized to Q8_K / Q8_0), got " + std::to_string(c.p.i[1]));
  }
  const Tensor& x = c.in[1];
  if (x.type != DType::F32 || x.ne[0] != W.ne[0] || x.ne[1] < 1 || x.ne[2] != 1 || x.ne[3] != 1) {
    return bad("MATMUL op: input 1 (x) must be f32 {k, T} with k = W.ne0 = " + std::to_string(W.ne[0]) + ", got " +
               type_name(x.type) + " " + shp(x));
  }
  return expect(op, "output 0", c.out[0], DType::F32, W.ne[1], x.ne[1], 1, 1, "{m = W.ne1, T = x.ne1}");
}

// in: W {k, m, E}; x f32 {k, T} (p.i[0] = 0) or {k, K, T} (p.i[0] = 1); ids i32 {K, T}. out: f32 {m, K, T}.
Status validate_matmul_id(const OpCall& c) {
  const char* op = "MATMUL_ID";
  if (c.n_in != 3 || c.n_out != 1) return bad("MATMUL_ID op: takes (W, x, ids) and gives one output");
  const Tensor& W = c.in[0];
  QH_RETURN_IF_ERROR(expect_weight(op, W, 3));
  if (c.p.i[0] != 0 && c.p.i[0] != 1) {
    return bad("MATMUL_ID op: p.i[0] (x mode) must be 0 (x {k, T} shared by all slots) or 1 (x {k, K, T} per slot), got " +
               std::to_string(c.p.i[0]));
  }
  if (c.p.i[1] != 0 && c.p.i[1] != 1) {
    return bad("MATMUL_ID op: p.i[1] (activations) must be 0 (f32, exact) or 1 (quantized to Q8_K / Q8_0), got " + std::to_string(c.p.i[1]));
  }
  const Tensor& ids = c.in[2];
  if (ids.type != DType::I32 || ids.ne[0] < 1 || ids.ne[1] < 1 || ids.ne[2] != 1 || ids.ne[3] != 1) {
    return bad("MATMUL_ID op: input 2 (ids) must be i32 {K, T} with K, T >= 1, got " + std::string(type_name(ids.type)) + " " + shp(ids));
  }
  const int64_t K = ids.ne[0], T = ids.ne[1];
  const Tensor& x = c.in[1];
  if (c.p.i[0] == 0) {
    QH_RETURN_IF_ERROR(expect(op, "input 1 (x)", x, DType::F32, W.ne[0], T, 1, 1, "x mode 0: {k = W.ne0, T = ids.ne1}"));
  } else {
    QH_RETURN_IF_ERROR(expect(op, "input 1 (x)", x, DType::F32, W.ne[0], K, T, 1, "x mode 1: {k = W.ne0, K = ids.ne0, T = ids.ne1}"));
  }
  return expect(op, "output 0", c.out[0], DType::F32, W.ne[1], K, T, 1, "{m = W.ne1, K = ids.ne0, T = ids.ne1}");
}

}  // namespace

QH_OP_VALIDATOR(GET_ROWS, validate_get_rows);
QH_OP_VALIDATOR(MATMUL, validate_matmul);
QH_OP_VALIDATOR(MATMUL_ID, validate_matmul_id);

}  // namespace qh
