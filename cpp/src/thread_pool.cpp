#include "fastort/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fastort/cpu_budget.hpp"
#include "fastort/error.hpp"
#include "fork_hooks.hpp"

namespace fastort {
namespace {

// One parallel_for call. Shared with the queued helper tasks, which may start after the call
// returned (they then find nothing left to do).
struct Job {
  const std::function<void(size_t)>* body = nullptr;
  size_t count = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex mutex;
  std::condition_variable finished;
  std::exception_ptr error;

  void work() {
    size_t finished_here = 0;
    for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
      try {
        (*body)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
      }
      ++finished_here;
    }
    if (finished_here > 0 && done.fetch_add(finished_here) + finished_here == count) {
      std::lock_guard<std::mutex> lock(mutex);
      finished.notify_all();
    }
  }
};

class Pool {
 public:
  // Never destroyed: workers block forever in wait(), and joining them at exit would race
  // with the interpreter's teardown. Made on first use, without a lock (so that fork() can
  // never find one held): a thread that loses the race drops its copy, which has no workers.
  static Pool& instance() {
    Pool* pool = current().load(std::memory_order_acquire);
    if (pool != nullptr) return *pool;
    auto fresh = std::make_unique<Pool>();
    if (current().compare_exchange_strong(pool, fresh.get())) return *fresh.release();
    return *pool;
  }

  // After fork() only the forking thread exists in the child: the next use starts a fresh
  // pool, and the parent's, whose workers are not here, is left as it is.
  static void forget() { current().store(nullptr, std::memory_order_release); }

  void submit(const std::shared_ptr<Job>& job, int helpers) {
    ensure_workers(helpers);
    std::lock_guard<std::mutex> lock(mutex_);
    for (int i = 0; i < helpers; ++i) queue_.push_back(job);
    wake_.notify_all();
  }

 private:
  static std::atomic<Pool*>& current() {
    static std::atomic<Pool*> pool{nullptr};
    return pool;
  }

  void ensure_workers(int wanted) {
    std::lock_guard<std::mutex> lock(mutex_);
    while (static_cast<int>(workers_.size()) < std::min(wanted, kMaxThreads - 1)) {
      workers_.emplace_back([this] { loop(); });
      workers_.back().detach();
    }
  }

  void loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->work();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> workers_;
};

}  // namespace

namespace detail {
void thread_pool_after_fork(bool child) {
  if (child) Pool::forget();
}
}  // namespace detail

void check_threads(const char* option, int64_t value) {
  if (value < 0 || value > kMaxThreads) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string(option) + " must be between 0 (the default) and " +
                    std::to_string(kMaxThreads) + ", got " + std::to_string(value));
  }
}

int hardware_threads() noexcept {
  // Read once: the budget is a property of how the process was started.
  static const int count = [] {
    try {
      return cpu_budget().worker_threads();
    } catch (...) {
      return 1;
    }
  }();
  return count;
}

void parallel_for(size_t count, int max_threads, const std::function<void(size_t)>& body) {
  if (count == 0) return;
  const int threads = std::min(max_threads <= 0 ? hardware_threads() : max_threads, kMaxThreads);
  const int helpers = static_cast<int>(std::min<size_t>(count, threads)) - 1;
  if (helpers <= 0) {
    for (size_t i = 0; i < count; ++i) body(i);
    return;
  }
  auto job = std::make_shared<Job>();
  job->body = &body;
  job->count = count;
  Pool::instance().submit(job, helpers);
  job->work();
  std::unique_lock<std::mutex> lock(job->mutex);
  job->finished.wait(lock, [&] { return job->done.load() == count; });
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace fastort
