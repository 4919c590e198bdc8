// The CPU backend's worker threads. parallel_for splits [0, n) into contiguous ranges, runs them on the pool's
// threads (the calling thread included) and returns when all are done. No allocation per call.
#pragma once

#include <cstdint>

namespace qh::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const;

  // fn(ctx, begin, end, thread_index) for disjoint ranges covering [0, n); at most n_threads ranges.
  // `grain` = minimum range length worth a thread (small n runs on the calling thread only).
  void parallel_for(int64_t n, int64_t grain, void (*fn)(void* ctx, int64_t begin, int64_t end, int thread), void* ctx);

  template <typename F>
  void parallel_for(int64_t n, int64_t grain, F&& f) {
    parallel_for(
        n, grain, [](void* c, int64_t b, int64_t e, int t) { (*static_cast<F*>(c))(b, e, t); }, &f);
  }

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace qh::cpu
