// GATED_DELTA_NET: the gated delta rule, f32 throughout (op_list.h; native/cpu/gated_delta_net.cc is the reference).
//   q, k f32 {dk, nk, T};  v f32 {dv, nv, T};  g, beta f32 {nv, T};  S f32 {dk, dv, nv} (updated);  out f32 {dv, nv, T}
// Per token, V head j, K head kh(j):  S <- e^g S;  delta = beta (v - S^T k);  S <- S + k delta^T;  o = S^T q.
// Kernels (native/cuda/gdn_kernels.cuh): token-serial (state columns in registers, tokens looped inside one
// launch) and chunked (a parallel per-chunk prep kernel, then a state pass sequential over chunks).
//
// Algorithm: ctx.variant 0 follows p.i[1] (0 auto, 1 token-serial, 2 chunked); ctx.variant 1 forces token-serial,
// 2 forces chunked. Auto takes the chunked form from T >= kAutoChunkMinT tokens: the CPU backend's threshold, kept
// so that a decode step and a short batch take the same kernel on both backends. It is NOT measured on a GPU
// yet: bench/gpu/gdn.bench.ts sweeps T for both kernels to set it.
// Chunk length: p.i[2] (0 -> 64). The chunked kernels' tiles hold at most kMaxChunk = 64 rows, so a longer chunk
// runs as chunks of 64 (the result is the same recurrence; only the rounding differs, as between any two chunk
// lengths on the CPU). Keys dk > kMaxChunkDk = 256 do not fit the state pass's shared slice: such shapes run
// the token-serial kernel (no Qwen3.5/3.6 model has them: dk = 128).
// Scratch (chunked): nv * ceil(T / C) * (2 C^2 + C) floats (Ti, M, gamma per V head and chunk): ~200 MB at the
// 27B shape with T = 8192. Reserved for every call the chunked kernels can take (the scratch function does not
// see the forced variant), i.e. whenever dk <= 256.
#include <string>

#include "backend.cuh"
#include "gdn_kernels.cuh"

namespace qh::cuda {
namespace {

constexpr int64_t kDefaultChunk = 64;
constexpr int64_t kAutoChunkMinT = 128;

enum GdnAlgo { kAuto = 0, kSerial = 1, kChunked = 2 };

bool chunk_capable(const OpCall& call) { return call.in[0].ne[0] <= gdn::kMaxChunkDk; }

int64_t chunk_len(const OpCall& call) {
  const int64_t c = call.p.i[2] > 0 ? call.p.i[2] : kDefaultChunk;
  return c < gdn::kMaxChunk ? c : gdn::kMaxChunk;
}

size_t chunk_scratch_bytes(const OpCall& call) {
  const int64_t T = call.in[0].ne[2], nv = call.in[2].ne[1], C = chunk_len(call);
  return static_cast<size_t>(nv * ((T + C - 1) / C) * gdn::ws_floats(C)) * sizeof(float);
}

size_t gdn_scratch(const OpCall& call, int /*sm_count*/) { return chunk_capable(call) ? chunk_scratch_bytes(call) : 0; }

// The algorithm a call runs (kSerial or kChunked), or -1 for an unknown forced variant.
int choose_algo(const OpCall& call, int variant) {
  int algo;
  if (variant == 0) {
    algo = static_cast<int>(call.p.i[1]);
    if (algo == kAuto) algo = call.in[0].ne[2] >= kAutoChunkMinT ? kChunked : kSerial;
  } else if (variant == kSerial || variant == kChunked) {
    algo = variant;
  } else {
    return -1;
  }
  return algo == kChunked && !chunk_capable(call) ? kSerial : algo;
}

Status launch_serial(const gdn::Args& a, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((a.dv + gdn::kSerialWarps - 1) / gdn::kSerialWarps), static_cast<unsigned>(a.nv));
  const dim3 block(gdn::kSerialWarps * 32);
  if (a.dk <= 32) gdn::gdn_serial_kernel<1><<<grid, block, 0, stream>>>(a);
  else if (a.dk <= 64) gdn::gdn_serial_kernel<2><<<grid, block, 0, stream>>>(a);
  else if (a.dk <= 128) gdn::gdn_serial_kernel<4><<<grid, block, 0, stream>>>(a);
  else if (a.dk <= 256) gdn::gdn_serial_kernel<8><<<grid, block, 0, stream>>>(a);
  else gdn::gdn_serial_kernel<0><<<grid, block, 0, stream>>>(a);
  return launch_status("gdn_serial_kernel");
}

Status launch_chunked(const gdn::Args& a, cudaStream_t stream) {
  gdn::gdn_chunk_prep_kernel<<<dim3(static_cast<unsigned>(a.n_chunks), static_cast<unsigned>(a.nv)), gdn::kChunkThreads, 0,
                               stream>>>(a);
  QH_RETURN_IF_ERROR(launch_status("gdn_chunk_prep_kernel"));
  const dim3 grid(static_cast<unsigned>((a.dv + gdn::kNC - 1) / gdn::kNC), static_cast<unsigned>(a.nv));
  gdn::gdn_chunk_state_kernel<<<grid, gdn::kChunkThreads, 0, stream>>>(a);
  return launch_status("gdn_chunk_state_kernel");
}

Status gdn_run(const OpCall& call, CudaKernelContext& ctx) {
  const int algo = choose_algo(call, ctx.variant);
  if (algo < 0) {
    return Status::error("INVALID_ARGUMENT", "GATED_DELTA_NET op: variant " + std::to_string(ctx.variant) +
                                                 " unknown (0 follow p.i[1], 1 token-serial, 2 chunked)");
  }
  gdn::Args a{};
  a.q = call.in[0].ptr<const float>();
  a.k = call.in[1].ptr<const float>();
  a.v = call.in[2].ptr<const float>();
  a.g = call.in[3].ptr<const float>();
  a.beta = call.in[4].ptr<const float>();
  a.S = call.in[5].ptr<float>();
  a.out = call.out[0].ptr<float>();
  a.dk = call.in[0].ne[0];
  a.nk = call.in[0].ne[1];
  a.T = call.in[0].ne[2];
  a.dv = call.in[2].ne[0];
  a.nv = call.in[2].ne[1];
  a.head_map = call.p.i[0];
  if (a.nv > 65535) {
    return Status::error("INVALID_ARGUMENT", "GATED_DELTA_NET op: " + std::to_string(a.nv) + " V heads exceed the 65535 grid limit");
  }
  if (algo == kSerial) return launch_serial(a, ctx.stream);

  a.chunk = chunk_len(call);
  a.n_chunks = (a.T + a.chunk - 1) / a.chunk;
  const size_t need = chunk_scratch_bytes(call);
  if (ctx.scratch == nullptr || ctx.scratch_size < need) {
    return Status::error("INVALID_ARGUMENT", "GATED_DELTA_NET op: scratch of " + std::to_string(ctx.scratch_size) +
                                                 " bytes, chunked form needs " + std::to_string(need));
  }
  if (a.n_chunks > 0x7fffffff) {
    return Status::error("INVALID_ARGUMENT", "GATED_DELTA_NET op: " + std::to_string(a.n_chunks) + " chunks exceed the grid limit");
  }
  a.ws = static_cast<float*>(ctx.scratch);
  return launch_chunked(a, ctx.stream);
}

}  // namespace

QH_CUDA_KERNEL(GATED_DELTA_NET, gdn_run, gdn_scratch);

}  // namespace qh::cuda
