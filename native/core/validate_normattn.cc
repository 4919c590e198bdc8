// Validators of the norm / elementwise / RoPE / attention / sampling family: RMS_NORM, L2_NORM, SILU, SIGMOID,
// SOFTPLUS, EXP, SCALE, ADD, MUL, SWIGLU, COPY_STRIDED, ROPE_NEOX, ATTENTION, LOG_SOFTMAX, ARGMAX, TOP_K.
// Every precondition the CPU kernels (native/cpu/<op>.cc) assume is checked here, once, at plan compile time
// (all plan tensors are contiguous: plan.h tensor_view). compile_graph prefixes "op #i (KIND): ".
// Data-dependent checks (ATTENTION positions) are the kernel's.
#include <cmath>
#include <string>

#include "op.h"
#include "plan.h"

namespace qh {
namespace {

std::string shp(const Tensor& t) { return shape_string(t.ne); }

const char* type_name(DType t) {
  const DTypeInfo* info = dtype_info(t);
  return info ? info->name : "unknown";
}

Status bad(const std::string& msg) { return Status::error("INVALID_ARGUMENT", msg); }

bool non_empty(const Tensor& t) { return t.ne[0] >= 1 && t.ne[1] >= 1 && t.ne[2] >= 1 && t.ne[3] >= 1; }

// t must have type `type` and shape {e0, e1, e2, e3}.
Status expect(const char* op, const char* what, const Tensor& t, DType type, int64_t e0, int64_t e1, int64_t e2,
              int64_t e3, const std::string& why) {
  if (t.type == type && t.ne[0] == e0 && t.ne[1] == e1 && t.ne[2] == e2 && t.ne[3] == e3) return Status::ok();
  const int64_t want[4] = {e0, e1, e2, e3};
  return bad(std::string(op) + " op: " + what + " must be " + type_name(type) + " " + shape_string(want) +
             (why.empty() ? "" : " (" + why + ")") + ", got " + type_name(t.type) + " " + shp(t));
}

Status expect_like(const char* op, const char* what, const Tensor& t, DType type, const Tensor& like, const char* why) {
  return expect(op, what, t, type, like.ne[0], like.ne[1], like.ne[2], like.ne[3], why);
}

// x: non-empty f32 of any shape.
Status expect_f32_input(const char* op, const char* what, const Tensor& x) {
  if (x.type == DType::F32 && non_empty(x)) return Status::ok();
  return bad(std::string(op) + " op: " + what + " must be a non-empty f32 tensor, got " + type_name(x.type) + " " + shp(x));
}

Status expect_eps(const char* op, float eps) {
  if (std::isfinite(eps) && eps >= 0.0f) return Status::ok();
  return bad(std::string(op) + " op: p.f[0] (eps) must be finite and >= 0, got " + std::to_string(eps));
}

// in: x f32 {n, R...}, optional w f32 {n}; out like x.
Status validate_rms_norm(const OpCall& c) {
  const char* op = "RMS_NORM";
  if (c.n_in != 1 && c.n_in != 2) return bad(std::string(op) + " op: takes x and an optional weight w, got " + std::to_string(c.n_in) + " inputs");
  const Tensor& x = c.in[0];
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (x)", x));
  if (c.n_in == 2) QH_RETURN_IF_ERROR(expect(op, "input 1 (w)", c.in[1], DType::F32, x.ne[0], 1, 1, 1, "one weight per element of a row of x"));
  QH_RETURN_IF_ERROR(expect_eps(op, c.p.f[0]));
  return expect_like(op, "output 0", c.out[0], DType::F32, x, "same as x");
}

Status validate_l2_norm(const OpCall& c) {
  const char* op = "L2_NORM";
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (x)", c.in[0]));
  QH_RETURN_IF_ERROR(expect_eps(op, c.p.f[0]));
  return expect_like(op, "output 0", c.out[0], DType::F32, c.in[0], "same as x");
}

template <OpKind K>
Status validate_unary(const OpCall& c) {
  const char* op = kOpMeta[static_cast<int>(K)].name;
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (x)", c.in[0]));
  return expect_like(op, "output 0", c.out[0], DType::F32, c.in[0], "same as x");
}

Status validate_scale(const OpCall& c) {
  const char* op = "SCALE";
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (x)", c.in[0]));
  if (!std::isfinite(c.p.f[0]) || !std::isfinite(c.p.f[1]))
    return bad(std::string(op) + " op: p.f[0] (scale) and p.f[1] (bias) must be finite, got " + std::to_string(c.p.f[0]) +
               " and " + std::to_string(c.p.f[1]));
  return expect_like(op, "output 0", c.out[0], DType::F32, c.in[0], "same as x");
}

// a {n0..n3}, b with b.ne[i] dividing a.ne[i]; out like a.
template <OpKind K>
Status validate_binary(const OpCall& c) {
  const char* op = kOpMeta[static_cast<int>(K)].name;
  const Tensor &a = c.in[0], &b = c.in[1];
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (a)", a));
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 1 (b)", b));
  for (int d = 0; d < 4; ++d) {
    if (a.ne[d] % b.ne[d] != 0)
      return bad(std::string(op) + " op: input 1 (b) " + shp(b) + " does not broadcast to input 0 (a) " + shp(a) +
                 ": b.ne[" + std::to_string(d) + "] must divide a.ne[" + std::to_string(d) + "]");
  }
  return expect_like(op, "output 0", c.out[0], DType::F32, a, "same as a");
}

Status validate_swiglu(const OpCall& c) {
  const char* op = "SWIGLU";
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (gate)", c.in[0]));
  QH_RETURN_IF_ERROR(expect_like(op, "input 1 (up)", c.in[1], DType::F32, c.in[0], "same as gate"));
  return expect_like(op, "output 0", c.out[0], DType::F32, c.in[0], "same as gate");
}

// src f32/i32; out {ne0..ne3} same type; every read src[off + i0 + i1 s1 + i2 s2 + i3 s3] inside src.
Status validate_copy_strided(const OpCall& c) {
  const char* op = "COPY_STRIDED";
  const Tensor &src = c.in[0], &y = c.out[0];
  if ((src.type != DType::F32 && src.type != DType::I32) || !non_empty(src))
    return bad(std::string(op) + " op: input 0 (src) must be a non-empty f32 or i32 tensor, got " + type_name(src.type) + " " + shp(src));
  if (y.type != src.type || !non_empty(y))
    return bad(std::string(op) + " op: output 0 must be a non-empty " + type_name(src.type) + " tensor (the type of src), got " +
               type_name(y.type) + " " + shp(y));
  const int64_t off = c.p.i[0];
  const int64_t st[4] = {1, c.p.i[1], c.p.i[2], c.p.i[3]};
  const int64_t limit = int64_t{1} << 40;  // keeps the extent arithmetic below far from int64 overflow
  if (off < 0 || off > limit)
    return bad(std::string(op) + " op: p.i[0] (element offset) must be in [0, 2^40], got " + std::to_string(off));
  int64_t last = off + y.ne[0] - 1;  // largest element index read
  for (int d = 1; d < 4; ++d) {
    if (st[d] < 0 || st[d] > limit)
      return bad(std::string(op) + " op: p.i[" + std::to_string(d) + "] (element stride of dim " + std::to_string(d) +
                 ") must be in [0, 2^40], got " + std::to_string(st[d]));
    last += (y.ne[d] - 1) * st[d];
  }
  if (last >= src.nelements())
    return bad(std::string(op) + " op: output " + shp(y) + " at offset " + std::to_string(off) + " with strides {1, " +
               std::to_string(st[1]) + ", " + std::to_string(st[2]) + ", " + std::to_string(st[3]) +
               "} reads element " + std::to_string(last) + " of input 0 (src) " + shp(src) + ", which has " +
               std::to_string(src.nelements()) + " elements");
  return Status::ok();
}

// x f32 {d, H, T}; pos i32 {T}; out like x; n_rot even in (0, d]; base > 0.
Status validate_rope_neox(const OpCall& c) {
  const char* op = "ROPE_NEOX";
  const Tensor& x = c.in[0];
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (x)", x));
  QH_RETURN_IF_ERROR(expect(op, "input 0 (x)", x, DType::F32, x.ne[0], x.ne[1], x.ne[2], 1, "{d, H, T}"));
  QH_RETURN_IF_ERROR(expect(op, "input 1 (pos)", c.in[1], DType::I32, x.ne[2], 1, 1, 1, "one position per token"));
  const int64_t n_rot = c.p.i[0];
  if (n_rot < 2 || n_rot % 2 != 0 || n_rot > x.ne[0])
    return bad(std::string(op) + " op: p.i[0] (n_rot) must be even and in [2, d = " + std::to_string(x.ne[0]) + "], got " +
               std::to_string(n_rot));
  if (!(std::isfinite(c.p.f[0]) && c.p.f[0] > 0.0f))
    return bad(std::string(op) + " op: p.f[0] (base) must be finite and > 0, got " + std::to_string(c.p.f[0]));
  return expect_like(op, "output 0", c.out[0], DType::F32, x, "same as x");
}

// q {d, Hq, T}, k {d, Hkv, T}, v {dv, Hkv, T}, pos {T}, k_cache {d, Hkv, n_ctx}, v_cache {dv, Hkv, n_ctx} (both f32,
// both f16 or both q8_0; q8_0 rows are whole 32-element blocks); out {dv, Hq, T}.
Status validate_attention(const OpCall& c) {
  const char* op = "ATTENTION";
  const Tensor &q = c.in[0], &k = c.in[1], &v = c.in[2], &kc = c.in[4], &vc = c.in[5];
  const int64_t d = q.ne[0], hq = q.ne[1], T = q.ne[2], hkv = k.ne[1], dv = v.ne[0], n_ctx = kc.ne[2];
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (q)", q));
  QH_RETURN_IF_ERROR(expect(op, "input 0 (q)", q, DType::F32, d, hq, T, 1, "{d, Hq, T}"));
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 1 (k)", k));
  QH_RETURN_IF_ERROR(expect(op, "input 1 (k)", k, DType::F32, d, hkv, T, 1, "{d, Hkv, T} with d, T of q"));
  if (hq % hkv != 0)
    return bad(std::string(op) + " op: Hq = " + std::to_string(hq) + " query heads (input 0) must be a multiple of Hkv = " +
               std::to_string(hkv) + " KV heads (input 1)");
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 2 (v)", v));
  QH_RETURN_IF_ERROR(expect(op, "input 2 (v)", v, DType::F32, dv, hkv, T, 1, "{dv, Hkv, T} with Hkv, T of k"));
  QH_RETURN_IF_ERROR(expect(op, "input 3 (pos)", c.in[3], DType::I32, T, 1, 1, 1, "one position per token"));
  if (kc.type != DType::F32 && kc.type != DType::F16 && kc.type != DType::Q8_0)
    return bad(std::string(op) + " op: input 4 (k_cache) must be f32, f16 or q8_0, got " + type_name(kc.type));
  if (n_ctx < 1) return bad(std::string(op) + " op: input 4 (k_cache) must have n_ctx = ne2 >= 1, got " + shp(kc));
  if (kc.type == DType::Q8_0 && (d % 32 != 0 || dv % 32 != 0))
    return bad(std::string(op) + " op: a q8_0 KV cache needs d and dv multiples of the 32-element block, got d = " +
               std::to_string(d) + ", dv = " + std::to_string(dv));
  QH_RETURN_IF_ERROR(expect(op, "input 4 (k_cache)", kc, kc.type, d, hkv, n_ctx, 1, "{d, Hkv, n_ctx}"));
  QH_RETURN_IF_ERROR(expect(op, "input 5 (v_cache)", vc, kc.type, dv, hkv, n_ctx, 1, "{dv, Hkv, n_ctx}, the type of k_cache"));
  if (n_ctx > (int64_t{1} << 31) - 1) return bad(std::string(op) + " op: n_ctx must fit in i32, got " + std::to_string(n_ctx));
  if (!(std::isfinite(c.p.f[0]) && c.p.f[0] > 0.0f))
    return bad(std::string(op) + " op: p.f[0] (scale, 1/sqrt(d)) must be finite and > 0, got " + std::to_string(c.p.f[0]));
  return expect(op, "output 0", c.out[0], DType::F32, dv, hq, T, 1, "{dv, Hq, T}");
}

Status validate_log_softmax(const OpCall& c) {
  const char* op = "LOG_SOFTMAX";
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (x)", c.in[0]));
  return expect_like(op, "output 0", c.out[0], DType::F32, c.in[0], "same as x");
}

// x {V, R1, R2, R3} -> i32 {R1, R2, R3}
Status validate_argmax(const OpCall& c) {
  const char* op = "ARGMAX";
  const Tensor& x = c.in[0];
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (x)", x));
  if (x.ne[0] > (int64_t{1} << 31) - 1) return bad(std::string(op) + " op: input 0 (x) row length must fit in i32, got " + shp(x));
  return expect(op, "output 0", c.out[0], DType::I32, x.ne[1], x.ne[2], x.ne[3], 1, "one index per row of x");
}

// x {V, R...} -> ids i32 {K, R...}, values f32 {K, R...}; 1 <= K <= V.
Status validate_top_k(const OpCall& c) {
  const char* op = "TOP_K";
  const Tensor& x = c.in[0];
  QH_RETURN_IF_ERROR(expect_f32_input(op, "input 0 (x)", x));
  if (x.ne[0] > (int64_t{1} << 31) - 1) return bad(std::string(op) + " op: input 0 (x) row length must fit in i32, got " + shp(x));
  const int64_t K = c.p.i[0];
  if (K < 1 || K > x.ne[0])
    return bad(std::string(op) + " op: p.i[0] (K) must be in [1, V = " + std::to_string(x.ne[0]) + "], got " + std::to_string(K));
  QH_RETURN_IF_ERROR(expect(op, "output 0 (ids)", c.out[0], DType::I32, K, x.ne[1], x.ne[2], x.ne[3], "{K, rows of x}"));
  return expect(op, "output 1 (values)", c.out[1], DType::F32, K, x.ne[1], x.ne[2], x.ne[3], "{K, rows of x}");
}

}  // namespace

QH_OP_VALIDATOR(RMS_NORM, validate_rms_norm);
QH_OP_VALIDATOR(L2_NORM, validate_l2_norm);
QH_OP_VALIDATOR(SILU, validate_unary<OpKind::SILU>);
QH_OP_VALIDATOR(SIGMOID, validate_unary<OpKind::SIGMOID>);
QH_OP_VALIDATOR(SOFTPLUS, validate_unary<OpKind::SOFTPLUS>);
QH_OP_VALIDATOR(EXP, validate_unary<OpKind::EXP>);
QH_OP_VALIDATOR(SCALE, validate_scale);
QH_OP_VALIDATOR(ADD, validate_binary<OpKind::ADD>);
QH_OP_VALIDATOR(MUL, validate_binary<OpKind::MUL>);
QH_OP_VALIDATOR(SWIGLU, validate_swiglu);
QH_OP_VALIDATOR(COPY_STRIDED, validate_copy_strided);
QH_OP_VALIDATOR(ROPE_NEOX, validate_rope_neox);
QH_OP_VALIDATOR(ATTENTION, validate_attention);
QH_OP_VALIDATOR(LOG_SOFTMAX, validate_log_softmax);
QH_OP_VALIDATOR(ARGMAX, validate_argmax);
QH_OP_VALIDATOR(TOP_K, validate_top_k);

}  // namespace qh
