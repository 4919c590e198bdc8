// The op list: ONE definition shared by the CPU backend, the CUDA backend and TypeScript
// (src/model/graph/ops.ts mirrors it; test/unit/graph-ops.test.ts checks the mirror against the addon's
// opList() export). Append only: ids are part of the graph format.
//
// Conventions for every op:
//   - Shapes are ggml `ne` order: ne[0] is the fastest-varying (contiguous) dimension; unused dims are 1.
//     "{k, T}" = T rows of k contiguous elements. Tensors an op reads or writes are contiguous unless stated.
//   - Activations are f32; token ids / positions / expert ids are i32; weights keep their GGUF type (any type
//     of native/core/dtype.h), and weight rows are blocks of that type (spec §0).
//   - p.i[] are int64 params, p.f[] float params (OpParams in native/core/plan.h); unused entries are 0.
//   - STATE tensors (KV cache, conv state, GDN state) belong to a session; ops that say "updates" write them
//     in place. Everything else is written only through the op's outputs.
//   - Numerics: accumulate in f32 (or wider); exact mode keeps activations f32 (design §2.5).
//
// X(NAME, id, n_inputs, n_outputs, description)
#pragma once

#include <cstddef>
#include <cstdint>

#define QH_OP_LIST(X)                                                                                              \
  /* in: W {n, rows} any type; ids i32 {T}.  out: f32 {n, T}; row t = dequant(W[ids[t]]) (embedding). */       \
  X(GET_ROWS, 0, 2, 1, "embedding row gather with dequantization")                                            \
  /* in: W {k, m} any type; x f32 {k, T}.  out: y f32 {m, T}; y[t][r] = sum_c W[r][c] * x[t][c].               \
     p.i[1]: activations; 0 = f32 (exact, default); 1 = quantized per op (native/cpu/quant_q8.h): Q4_K, Q5_K,  \
     Q6_K weights dot Q8_K activations, Q8_0 / Q4_0 weights dot Q8_0 activations (int8 dots), F16 / BF16      \
     weights see x rounded to f16 / bf16; other types stay exact. Applies for T <= 8 (decode); larger T       \
     (prefill) stays exact. */                                                                                \
  X(MATMUL, 1, 2, 1, "weight x activations (decode T=1: matvec; prefill: batched)")                           \
  /* in: W {k, m, E} any type; x f32 {k, T} (p.i[0]=0: every slot reads x[t]) or {k, K, T} (p.i[0]=1: slot s   \
     reads x[t][s]); ids i32 {K, T} expert per slot.  out: y f32 {m, K, T}; y[t][s] = W[ids[t][s]] . x.         \
     Reads only the selected experts.                                                                         \
     p.i[1]: activations, as MATMUL's p.i[1] (the same types, per (t, s) pair). */                            \
  X(MATMUL_ID, 2, 3, 1, "MoE expert matmul over selected experts of a 3-D weight")                            \
  /* in: x f32 {n, R...}; optional w f32 {n}.  out: same shape as x; x / sqrt(mean(x^2) + eps) (* w).          \
     Along ne[0] only, so per-head norm = x viewed as {head_dim, n_head, T}. p.f[0] = eps. */                  \
  X(RMS_NORM, 3, -1, 1, "RMSNorm along ne0, optional weight")                                                 \
  /* in: x f32 {n, R...}.  out: x / max(||x||_2, eps) along ne[0]. p.f[0] = eps. */                            \
  X(L2_NORM, 4, 1, 1, "L2 normalisation along ne0")                                                           \
  /* elementwise, out shape = in shape */                                                                     \
  X(SILU, 5, 1, 1, "x * sigmoid(x)")                                                                          \
  X(SIGMOID, 6, 1, 1, "1 / (1 + exp(-x))")                                                                    \
  X(SOFTPLUS, 7, 1, 1, "log(1 + exp(x)); x for x > 20")                                                       \
  X(EXP, 8, 1, 1, "exp(x)")                                                                                   \
  /* p.f[0] * x + p.f[1] */                                                                                   \
  X(SCALE, 9, 1, 1, "affine scale")                                                                           \
  /* a {n0,n1,n2,n3}, b with b.ne[i] dividing a.ne[i] (broadcast, ggml style). out shape = a. */              \
  X(ADD, 10, 2, 1, "a + b with broadcasting of b")                                                            \
  X(MUL, 11, 2, 1, "a * b with broadcasting of b")                                                            \
  /* in: gate {n, T}, up {n, T}. out: silu(gate) * up. */                                                     \
  X(SWIGLU, 12, 2, 1, "SiLU(gate) * up")                                                                      \
  /* in: src f32/i32 (any shape, contiguous). out: contiguous {ne[0..3]} read from src at element offset       \
     p.i[0] with element strides p.i[1], p.i[2], p.i[3] for dims 1..3 (dim 0 is contiguous in src).           \
     Used to split fused projections (attn_q's per-head [q|gate], GDN's [q;k;v]) and to take the last row. */  \
  X(COPY_STRIDED, 13, 1, 1, "gather a strided view into a contiguous tensor")                                 \
  /* in: x f32 {d, H, T}; pos i32 {T}. out: same shape. NeoX rotate-half on dims [0, n_rot) of each head:      \
     theta_i = pos * base^(-2i/n_rot), pairs (i, i + n_rot/2); dims >= n_rot pass through.                    \
     p.i[0] = n_rot, p.f[0] = base. */                                                                        \
  X(ROPE_NEOX, 14, 2, 1, "partial NeoX RoPE")                                                                 \
  /* in: q f32 {d, Hq, T}; k f32 {d, Hkv, T}; v f32 {dv, Hkv, T}; pos i32 {T} (positions of the T tokens,     \
     increasing; the cache holds positions [0, pos[0]) already); STATE k_cache {d, Hkv, n_ctx} and             \
     v_cache {dv, Hkv, n_ctx}, f32, f16 or q8_0 (q8_0: d and dv multiples of 32, each 32 values stored as    \
     ggml's quantize_row_q8_0 does: d = amax/127, q = round(x/d), f16 scale).  out: f32 {dv, Hq, T}.         \
     Updates the caches at rows pos[t], then causal softmax attention of each query over cache rows             \
     [0, pos[t]]; query head h reads KV head h / (Hq / Hkv) (grouped GQA). scale = p.f[0] (1/sqrt(d)).        \
     pos beyond n_ctx is a validation error at run time (CONTEXT_FULL), never a silent write. */              \
  X(ATTENTION, 15, 6, 1, "causal GQA attention over a per-session KV cache")                                  \
  /* in: x f32 {C, T} (raw projections); w f32 {K, C} (ggml ssm_conv1d: K taps per channel); STATE            \
     conv_state f32 {C, K-1} (row j = input at t-(K-1)+j, oldest first).                                       \
     out: f32 {C, T}; out[t][c] = SiLU(sum_k w[c][k] * xin[t-(K-1)+k][c]) where xin is [state; x].            \
     Updates conv_state to the last K-1 input rows (raw, pre-activation). */                                  \
  X(SSM_CONV, 16, 3, 1, "depthwise causal conv1d with rolling state, then SiLU")                              \
  /* in: q f32 {dk, nk, T} (L2-normed and scaled by 1/sqrt(dk)); k f32 {dk, nk, T} (L2-normed);                \
     v f32 {dv, nv, T}; g f32 {nv, T} (log decay, <= 0); beta f32 {nv, T}; STATE S f32 {dk, dv, nv}           \
     (per V head j a dv x dk block: element (key i, value c) at [j][c][i], value columns contiguous in key).   \
     out: f32 {dv, nv, T}. Per token and V head j with K head kh(j):                                          \
       S <- exp(g) S;  delta = beta (v - S^T k);  S <- S + k delta^T;  o = S^T q.                               \
     kh(j) = j mod nk if p.i[0] == 0 (GGUF tiled order), j / (nv/nk) if p.i[0] == 1 (grouped).                 \
     p.i[1]: 0 auto, 1 token-serial recurrence, 2 chunked (chunk length p.i[2], default 64). Updates S. */     \
  X(GATED_DELTA_NET, 17, 6, 1, "Gated DeltaNet recurrence (serial or chunked)")                               \
  /* in: x f32 {dv, nv, T}; w f32 {dv}; z f32 {dv, nv, T}. out: RMSNorm(x_head; w) * SiLU(z) per head.         \
     p.f[0] = eps. */                                                                                         \
  X(GATED_RMS_NORM, 18, 3, 1, "per-head RMSNorm times SiLU(z)")                                               \
  /* in: logits f32 {E, T}. out[0]: ids i32 {K, T}; out[1]: weights f32 {K, T}. softmax over all E, top-K      \
     (descending; ties to the lower id), renormalised to sum 1. p.i[0] = K. */                                \
  X(MOE_ROUTER, 19, 1, 2, "softmax, top-k, renormalise")                                                      \
  /* in: y f32 {n, K, T}; w f32 {K, T}. out: f32 {n, T}; out[t] = sum_s w[t][s] * y[t][s]. */                 \
  X(MOE_COMBINE, 20, 2, 1, "weighted sum of expert outputs")                                                  \
  /* in: x f32 {V, T}. out: log-softmax along ne[0] (max-subtracted, f64 sum of exps). */                      \
  X(LOG_SOFTMAX, 21, 1, 1, "log-softmax along ne0")                                                           \
  /* in: x f32 {V, T}. out: i32 {T}, index of the max (lowest index on ties). */                               \
  X(ARGMAX, 22, 1, 1, "argmax along ne0")                                                                     \
  /* in: x f32 {V, T}. out[0]: ids i32 {K, T}; out[1]: values f32 {K, T}; best first (ties: lower id).          \
     p.i[0] = K. */                                                                                           \
  X(TOP_K, 23, 1, 2, "top-k along ne0")                                                                      \
  /* in: logits f32 {V, R}; hist i32 {N, R} (penalty window per row, oldest first; entries < 0 or >= V are      \
     ignored: the host puts the last min(N, penaltyLastN) tokens there and pads with -1); cfg f32 {8, R} per    \
     row [temperature, top_k, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty, u], u in      \
     [0, 1) the uniform draw.  out: i32 {R}, the sampled id per row. Parameters are an input, not p.f, so one  \
     plan (one captured CUDA graph) serves every sampling setting. Semantics = src/runtime/sampler.ts           \
     Sampler.sampleWith(logits, history, u): penalties -> top-k -> top-p -> min-p -> temperature -> walk of the \
     cumulative softmax of the kept tokens (best first when top-k or top-p truncates, else id order) to the    \
     first token with u*z < cum. temperature <= 0 (or NaN), or a +-inf max: argmax after penalties (lowest id  \
     on ties). top_k truncated to an integer, off unless 1 <= top_k < V; top_p off unless < 1; min_p off unless \
     > 0 (clamped to 1); u outside [0, 1) clamped into it (NaN: 0). A row with a NaN logit after the penalties  \
     samples -1 (the host raises the Sampler's error). CPU: f64 as the Sampler; CUDA: f32, 2^-40 fixed-point   \
     masses. */                                                                                               \
  X(SAMPLE, 24, 3, 1, "penalties, top-k, top-p, min-p, temperature, draw")

namespace qh {

enum class OpKind : int32_t {
#define QH_OP_ENUM(name, id, nin, nout, desc) name = id,
  QH_OP_LIST(QH_OP_ENUM)
#undef QH_OP_ENUM
};

constexpr int32_t kOpCount = 0
#define QH_OP_COUNT(name, id, nin, nout, desc) +1
    QH_OP_LIST(QH_OP_COUNT)
#undef QH_OP_COUNT
    ;

struct OpMeta {
  OpKind kind;
  const char* name;
  int32_t n_inputs;  // -1: variable (see the op's comment)
  int32_t n_outputs;
  const char* description;
};

// Indexed by op id (ids are dense from 0).
inline constexpr OpMeta kOpMeta[] = {
#define QH_OP_META(name, id, nin, nout, desc) {OpKind::name, #name, nin, nout, desc},
    QH_OP_LIST(QH_OP_META)
#undef QH_OP_META
};

static_assert(sizeof(kOpMeta) / sizeof(kOpMeta[0]) == static_cast<size_t>(kOpCount), "op ids must be dense");

}  // namespace qh
