// Weight upload: host bytes (usually a read-only mmap of the GGUF) → one device buffer per weight, through two
// pinned staging buffers: while chunk n is copied pinned → device by the DMA engine (cudaMemcpyAsync), the host
// copies chunk n+1 mmap → the other pinned buffer (page faults on the mapping happen here, overlapped with DMA).
// A fit check runs first: the bytes to upload (+ a plan's arena and scratch) against cudaMemGetInfo's free memory.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "backend.cuh"

namespace qh::cuda {

namespace {

constexpr size_t kStageBytes = size_t{32} << 20;  // per staging buffer: large enough to amortise a copy's setup
constexpr size_t kAllocGranule = 512;              // cudaMalloc rounds allocations up; count them that way
// Left free for the CUDA context's own growth, cuBLAS-free kernels' local memory and fragmentation.
constexpr uint64_t kReserveBytes = uint64_t{256} << 20;

struct Staging {
  void* host[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  cudaStream_t stream = nullptr;
  ~Staging() {
    if (stream) cudaStreamSynchronize(stream);
    for (int i = 0; i < 2; ++i) {
      if (done[i]) cudaEventDestroy(done[i]);
      if (host[i]) cudaFreeHost(host[i]);
    }
    if (stream) cudaStreamDestroy(stream);
  }
};

}  // namespace

Status upload_locked(Backend& b, const std::vector<std::shared_ptr<const WeightData>>& weights, uint64_t extra_bytes,
                     const UploadProgress& progress, std::vector<std::shared_ptr<DeviceBuffer>>* dev) {
  // Forget device copies whose host weight is gone (its address may be reused by a new weight).
  for (auto it = b.resident.begin(); it != b.resident.end();) {
    if (it->second.host.expired()) it = b.resident.erase(it);
    else ++it;
  }
  std::vector<const WeightData*> todo;
  std::unordered_set<const WeightData*> seen;
  uint64_t total = 0, need = extra_bytes;
  const WeightData* largest = nullptr;
  for (const auto& w : weights) {
    if (!w) return Status::error("INVALID_ARGUMENT", "weight upload: null weight");
    if (b.resident.count(w.get()) || !seen.insert(w.get()).second) continue;
    todo.push_back(w.get());
    total += w->bytes;
    need += (w->bytes + kAllocGranule - 1) / kAllocGranule * kAllocGranule;
    if (!largest || w->bytes > largest->bytes) largest = w.get();
  }

  DeviceGuard guard;
  QH_RETURN_IF_ERROR(guard.enter(b.device));
  if (need > 0) {
    size_t free_b = 0, total_b = 0;
    QH_CUDA_STATUS(cudaMemGetInfo(&free_b, &total_b), "weight upload");
    if (need + kReserveBytes > free_b) {
      return Status::error("OUT_OF_MEMORY", "device " + std::to_string(b.device) + " (" + b.info.name + ") needs " + human_bytes(need) + " for " +
                                                std::to_string(todo.size()) + " weight(s) (" + human_bytes(total) + ", largest '" +
                                                (largest ? largest->name : std::string("-")) + "' " + human_bytes(largest ? largest->bytes : 0) +
                                                ") and " + human_bytes(extra_bytes) + " of plan buffers, plus a reserve of " +
                                                human_bytes(kReserveBytes) + ", but has " + human_bytes(free_b) + " free of " + human_bytes(total_b));
    }
  }

  if (!todo.empty()) {
    // Declared before the staging (destroyed after it): on an error return ~Staging drains the stream before
    // these buffers are freed, and nothing half-copied becomes resident.
    std::vector<std::shared_ptr<DeviceBuffer>> fresh;
    Staging stg;
    const size_t stage = static_cast<size_t>(std::min<uint64_t>(kStageBytes, std::max<uint64_t>(total, 1)));
    QH_CUDA_STATUS(cudaStreamCreateWithFlags(&stg.stream, cudaStreamNonBlocking), "weight upload");
    for (int i = 0; i < 2; ++i) {
      const cudaError_t e = cudaHostAlloc(&stg.host[i], stage, cudaHostAllocPortable);
      if (e != cudaSuccess) {
        stg.host[i] = nullptr;
        cudaGetLastError();
        return Status::error("OUT_OF_MEMORY", "weight upload: cudaHostAlloc of " + human_bytes(stage) + " pinned staging failed: " + cudaGetErrorString(e));
      }
      QH_CUDA_STATUS(cudaEventCreateWithFlags(&stg.done[i], cudaEventDisableTiming), "weight upload");
    }
    uint64_t done = 0;
    int slot = 0;
    for (const WeightData* w : todo) {
      std::shared_ptr<DeviceBuffer> buf;
      QH_RETURN_IF_ERROR(device_alloc(b.device, w->bytes, "weight '" + w->name + "'", &buf));
      fresh.push_back(buf);
      const char* src = static_cast<const char*>(w->data);
      for (size_t off = 0; off < w->bytes; off += stage) {
        const size_t n = std::min(stage, w->bytes - off);
        // The previous copy out of this staging buffer must have finished before it is overwritten.
        QH_CUDA_STATUS(cudaEventSynchronize(stg.done[slot]), "weight upload '" + w->name + "'");
        std::memcpy(stg.host[slot], src + off, n);
        QH_CUDA_STATUS(cudaMemcpyAsync(static_cast<char*>(buf->ptr) + off, stg.host[slot], n, cudaMemcpyHostToDevice, stg.stream),
                       "weight upload '" + w->name + "'");
        QH_CUDA_STATUS(cudaEventRecord(stg.done[slot], stg.stream), "weight upload '" + w->name + "'");
        slot ^= 1;
        done += n;
        if (progress) progress(done, total);
      }
    }
    QH_CUDA_STATUS(cudaStreamSynchronize(stg.stream), "weight upload");
    for (size_t i = 0; i < todo.size(); ++i) {
      Backend::Resident r;
      for (const auto& wp : weights)
        if (wp.get() == todo[i]) r.host = wp;
      r.dev = fresh[i];
      b.resident[todo[i]] = std::move(r);
    }
  }
  dev->clear();
  for (const auto& w : weights) dev->push_back(b.resident[w.get()].dev);
  if (progress && total == 0) progress(0, 0);
  return Status::ok();
}

}  // namespace qh::cuda
