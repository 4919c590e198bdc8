// Persistent worker threads. A parallel_for publishes one job (fn, ctx, ranges) under a generation counter;
// workers spin briefly on the counter (decode runs ~1000 small ops per token, so a futex wake per op would
// cost more than the op), then sleep on a condition variable. Ranges are claimed from an atomic counter by
// whoever comes first, the caller included: a worker descheduled on an oversubscribed machine delays nothing,
// because the caller takes its range. The `thread` argument is the range index (< n_threads), so per-thread
// scratch slots stay exclusive. Nothing is allocated per call.
#include "thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QH_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define QH_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define QH_CPU_RELAX() ((void)0)
#endif

namespace qh::cpu {

namespace {
// Set on pool worker threads: a parallel_for issued from inside a job runs inline (no nested dispatch).
thread_local bool t_in_pool_job = false;
constexpr int kSpinIterations = 1 << 14;  // ~0.2-1 ms of pause before a worker sleeps
}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;  // n_threads - 1; the caller is thread 0

  std::mutex dispatch_mutex;  // one job at a time, whoever calls
  std::mutex sleep_mutex;
  std::condition_variable sleep_cv;
  std::atomic<uint64_t> generation{0};
  // (ranges << 32) | next unclaimed range. The range count travels in the same word as the claim counter, so a
  // late worker decides "nothing left" without reading job fields the caller may be rewriting for the next job.
  std::atomic<uint64_t> claim{0};
  std::atomic<int> done{0};  // ranges finished
  std::atomic<bool> stop{false};  // set together with a generation bump

  // The current job (written before generation is released).
  void (*fn)(void*, int64_t, int64_t, int) = nullptr;
  void* ctx = nullptr;
  int64_t n = 0;

  // Claims and runs ranges until none is left. A late worker may claim a range of the NEXT job: its fields are
  // written before `claim` is reset (release) and read after a successful claim (acquire), and they cannot change
  // again before every range of that job is done.
  void run_chunks() {
    for (;;) {
      const uint64_t v = claim.fetch_add(1, std::memory_order_acq_rel);
      const int64_t total = static_cast<int64_t>(v >> 32);
      const int64_t c = static_cast<int64_t>(v & 0xffffffffu);
      if (c >= total) return;
      const int64_t begin = n * c / total;
      const int64_t end = n * (c + 1) / total;
      if (begin < end) fn(ctx, begin, end, static_cast<int>(c));
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void worker_loop(int index) {
    t_in_pool_job = true;
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
        QH_CPU_RELAX();
        g = generation.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(sleep_mutex);
        sleep_cv.wait(lock, [&] { return generation.load(std::memory_order_acquire) != seen; });
        g = generation.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop.load(std::memory_order_acquire)) return;
      (void)index;
      run_chunks();
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) {
  impl_->n_threads = n_threads < 1 ? 1 : n_threads;
  impl_->workers.reserve(static_cast<size_t>(impl_->n_threads - 1));
  for (int i = 1; i < impl_->n_threads; ++i) impl_->workers.emplace_back([this, i] { impl_->worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->sleep_mutex);
    impl_->stop.store(true, std::memory_order_release);
    impl_->generation.fetch_add(1, std::memory_order_acq_rel);
  }
  impl_->sleep_cv.notify_all();
  for (std::thread& t : impl_->workers) t.join();
  delete impl_;
}

int ThreadPool::n_threads() const { return impl_->n_threads; }

void ThreadPool::parallel_for(int64_t n, int64_t grain, void (*fn)(void*, int64_t, int64_t, int), void* ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t by_grain = (n + grain - 1) / grain;
  const int chunks = static_cast<int>(by_grain < impl_->n_threads ? by_grain : impl_->n_threads);
  if (chunks <= 1 || t_in_pool_job) {
    fn(ctx, 0, n, 0);
    return;
  }
  Impl& s = *impl_;
  std::lock_guard<std::mutex> dispatch(s.dispatch_mutex);
  s.fn = fn;
  s.ctx = ctx;
  s.n = n;
  s.done.store(0, std::memory_order_relaxed);
  s.claim.store(static_cast<uint64_t>(chunks) << 32, std::memory_order_release);
  {
    // Under the sleep mutex so a worker between its predicate check and its wait cannot miss the bump.
    std::lock_guard<std::mutex> lock(s.sleep_mutex);
    s.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  s.sleep_cv.notify_all();
  t_in_pool_job = true;
  s.run_chunks();
  t_in_pool_job = false;
  for (int spin = 0; s.done.load(std::memory_order_acquire) < chunks; ++spin) {
    if (spin < kSpinIterations) QH_CPU_RELAX();
    else std::this_thread::yield();
  }
}

}  // namespace qh::cpu
