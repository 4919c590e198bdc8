// Validators of the GDN / MoE family: SSM_CONV, GATED_DELTA_NET, GATED_RMS_NORM, MOE_ROUTER, MOE_COMBINE.
// Every precondition the CPU kernels (native/cpu/<op>.cc) assume is checked here, once, at plan compile time.
// compile_graph prefixes messages with "op #i (KIND): ".
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

// t must have type `type` and shape {e0, e1, e2, e3}.
Status expect(const char* op, const char* what, const Tensor& t, DType type, int64_t e0, int64_t e1, int64_t e2,
              int64_t e3, const std::string& why) {
  if (t.type == type && t.ne[0] == e0 && t.ne[1] == e1 && t.ne[2] == e2 && t.ne[3] == e3) return Status::ok();
  const int64_t want[4] = {e0, e1, e2, e3};
  return Status::error("INVALID_ARGUMENT", std::string(op) + " op: " + what + " must be " + type_name(type) + " " +
                                               shape_string(want) + (why.empty() ? "" : " (" + why + ")") +
                                               ", got " + type_name(t.type) + " " + shp(t));
}

Status expect_arity(const char* op, const OpCall& c, int n_in, int n_out) {
  if (c.n_in == n_in && c.n_out == n_out) return Status::ok();
  return Status::error("INVALID_ARGUMENT", std::string(op) + " op: expects " + std::to_string(n_in) + " inputs and " +
                                               std::to_string(n_out) + " outputs, got " + std::to_string(c.n_in) +
                                               " and " + std::to_string(c.n_out));
}

Status bad(const std::string& msg) { return Status::error("INVALID_ARGUMENT", msg); }

// in: x {C, T}, w {K, C}, state {C, K-1}; out {C, T}.
Status validate_ssm_conv(const OpCall& c) {
  const char* op = "SSM_CONV";
  QH_RETURN_IF_ERROR(expect_arity(op, c, 3, 1));
  const Tensor &x = c.in[0], &w = c.in[1], &st = c.in[2];
  const int64_t C = x.ne[0], T = x.ne[1], K = w.ne[0];
  QH_RETURN_IF_ERROR(expect(op, "input 0 (x)", x, DType::F32, C, T, 1, 1, "raw projections {C, T}"));
  if (C < 1 || T < 1) return bad(std::string(op) + " op: input 0 (x) must have C >= 1 and T >= 1, got " + shp(x));
  if (K < 2) return bad(std::string(op) + " op: input 1 (w) must have K = ne0 >= 2 taps, got " + shp(w));
  QH_RETURN_IF_ERROR(expect(op, "input 1 (w)", w, DType::F32, K, C, 1, 1, "K taps per channel, C = x.ne0 = " + std::to_string(C)));
  QH_RETURN_IF_ERROR(expect(op, "input 2 (conv_state)", st, DType::F32, C, K - 1, 1, 1,
                            "{C, K-1} with C = " + std::to_string(C) + ", K = " + std::to_string(K)));
  return expect(op, "output 0", c.out[0], DType::F32, C, T, 1, 1, "same as x");
}

// in: q {dk, nk, T}, k {dk, nk, T}, v {dv, nv, T}, g {nv, T}, beta {nv, T}, S {dk, dv, nv}; out {dv, nv, T}.
Status validate_gated_delta_net(const OpCall& c) {
  const char* op = "GATED_DELTA_NET";
  QH_RETURN_IF_ERROR(expect_arity(op, c, 6, 1));
  const Tensor &q = c.in[0], &v = c.in[2];
  const int64_t dk = q.ne[0], nk = q.ne[1], T = q.ne[2], dv = v.ne[0], nv = v.ne[1];
  QH_RETURN_IF_ERROR(expect(op, "input 0 (q)", q, DType::F32, dk, nk, T, 1, "{dk, nk, T}"));
  if (dk < 1 || nk < 1 || T < 1) return bad(std::string(op) + " op: input 0 (q) must be non-empty {dk, nk, T}, got " + shp(q));
  QH_RETURN_IF_ERROR(expect(op, "input 1 (k)", c.in[1], DType::F32, dk, nk, T, 1, "same as q"));
  QH_RETURN_IF_ERROR(expect(op, "input 2 (v)", v, DType::F32, dv, nv, T, 1, "{dv, nv, T} with T = " + std::to_string(T)));
  if (dv < 1 || nv < 1 || nv % nk != 0)
    return bad(std::string(op) + " op: input 2 (v) must have dv >= 1 and nv a multiple of nk = " + std::to_string(nk) +
               ", got " + shp(v));
  QH_RETURN_IF_ERROR(expect(op, "input 3 (g)", c.in[3], DType::F32, nv, T, 1, 1, "{nv, T}"));
  QH_RETURN_IF_ERROR(expect(op, "input 4 (beta)", c.in[4], DType::F32, nv, T, 1, 1, "{nv, T}"));
  QH_RETURN_IF_ERROR(expect(op, "input 5 (state S)", c.in[5], DType::F32, dk, dv, nv, 1, "{dk, dv, nv}"));
  QH_RETURN_IF_ERROR(expect(op, "output 0", c.out[0], DType::F32, dv, nv, T, 1, "{dv, nv, T}"));
  if (c.p.i[0] != 0 && c.p.i[0] != 1)
    return bad(std::string(op) + " op: p.i[0] (head map) must be 0 (tiled j mod nk) or 1 (grouped j / (nv/nk)), got " +
               std::to_string(c.p.i[0]));
  if (c.p.i[1] < 0 || c.p.i[1] > 2)
    return bad(std::string(op) + " op: p.i[1] (algorithm) must be 0 auto, 1 token-serial or 2 chunked, got " +
               std::to_string(c.p.i[1]));
  if (c.p.i[2] < 0 || c.p.i[2] > 1024)
    return bad(std::string(op) + " op: p.i[2] (chunk length) must be in [1, 1024] (0 = 64), got " + std::to_string(c.p.i[2]));
  return Status::ok();
}

// in: x {n, R...}, w {n}, z = shape of x; out = shape of x. p.f[0] = eps > 0.
Status validate_gated_rms_norm(const OpCall& c) {
  const char* op = "GATED_RMS_NORM";
  QH_RETURN_IF_ERROR(expect_arity(op, c, 3, 1));
  const Tensor& x = c.in[0];
  QH_RETURN_IF_ERROR(expect(op, "input 0 (x)", x, DType::F32, x.ne[0], x.ne[1], x.ne[2], x.ne[3], ""));
  if (x.nelements() < 1) return bad(std::string(op) + " op: input 0 (x) is empty: " + shp(x));
  QH_RETURN_IF_ERROR(expect(op, "input 1 (w)", c.in[1], DType::F32, x.ne[0], 1, 1, 1, "one weight per head dim, shared by all heads"));
  QH_RETURN_IF_ERROR(expect(op, "input 2 (z)", c.in[2], DType::F32, x.ne[0], x.ne[1], x.ne[2], x.ne[3], "same as x"));
  QH_RETURN_IF_ERROR(expect(op, "output 0", c.out[0], DType::F32, x.ne[0], x.ne[1], x.ne[2], x.ne[3], "same as x"));
  if (!(c.p.f[0] > 0.0f) || !std::isfinite(c.p.f[0]))
    return bad(std::string(op) + " op: p.f[0] (eps) must be a finite number > 0, got " + std::to_string(c.p.f[0]));
  return Status::ok();
}

// in: logits {E, T}; out ids i32 {K, T}, weights f32 {K, T}; p.i[0] = K in [1, E].
Status validate_moe_router(const OpCall& c) {
  const char* op = "MOE_ROUTER";
  QH_RETURN_IF_ERROR(expect_arity(op, c, 1, 2));
  const Tensor& l = c.in[0];
  const int64_t E = l.ne[0], T = l.ne[1], K = c.p.i[0];
  QH_RETURN_IF_ERROR(expect(op, "input 0 (logits)", l, DType::F32, E, T, 1, 1, "{E, T}"));
  if (E < 1 || T < 1) return bad(std::string(op) + " op: input 0 (logits) is empty: " + shp(l));
  if (K < 1 || K > E)
    return bad(std::string(op) + " op: p.i[0] (K experts per token) must be in [1, E = " + std::to_string(E) + "], got " +
               std::to_string(K));
  QH_RETURN_IF_ERROR(expect(op, "output 0 (ids)", c.out[0], DType::I32, K, T, 1, 1, "{K, T}"));
  return expect(op, "output 1 (weights)", c.out[1], DType::F32, K, T, 1, 1, "{K, T}");
}

// in: y {n, K, T}, w {K, T}; out {n, T}.
Status validate_moe_combine(const OpCall& c) {
  const char* op = "MOE_COMBINE";
  QH_RETURN_IF_ERROR(expect_arity(op, c, 2, 1));
  const Tensor& y = c.in[0];
  const int64_t n = y.ne[0], K = y.ne[1], T = y.ne[2];
  QH_RETURN_IF_ERROR(expect(op, "input 0 (y)", y, DType::F32, n, K, T, 1, "{n, K, T}"));
  if (y.nelements() < 1) return bad(std::string(op) + " op: input 0 (y) is empty: " + shp(y));
  QH_RETURN_IF_ERROR(expect(op, "input 1 (w)", c.in[1], DType::F32, K, T, 1, 1, "{K, T} matching y"));
  return expect(op, "output 0", c.out[0], DType::F32, n, T, 1, 1, "{n, T}");
}

}  // namespace

QH_OP_VALIDATOR(SSM_CONV, validate_ssm_conv);
QH_OP_VALIDATOR(GATED_DELTA_NET, validate_gated_delta_net);
QH_OP_VALIDATOR(GATED_RMS_NORM, validate_gated_rms_norm);
QH_OP_VALIDATOR(MOE_ROUTER, validate_moe_router);
QH_OP_VALIDATOR(MOE_COMBINE, validate_moe_combine);

}  // namespace qh
