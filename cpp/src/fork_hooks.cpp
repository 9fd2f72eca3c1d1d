#include "fork_hooks.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "platform.hpp"

namespace fastort::detail {
namespace {

std::atomic<uint64_t> g_generation{0};

// Counts OrtStateChanges in progress; a fork closes it to new ones and waits for the count to
// reach zero, so that steady loading in other threads cannot keep a fork waiting.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  int active = 0;
  bool forking = false;
};

Gate& gate() {
  static Gate* instance = new Gate();  // never destroyed: used until the process ends
  return *instance;
}

void close_gate() {
  Gate& g = gate();
  std::unique_lock<std::mutex> lock(g.mutex);
  g.forking = true;
  g.changed.wait(lock, [&] { return g.active == 0; });
  lock.release();  // held across fork()
}

void open_gate(bool child) {
  Gate& g = gate();
  g.forking = false;
  g.mutex.unlock();
  // In the child no other thread exists to be woken.
  if (!child) g.changed.notify_all();
}

void before_fork() {
  close_gate();
  runtime_before_fork();
  cache_before_fork();
  run_options_before_fork();
  watchdog_before_fork();
  ort_log_before_fork();
}

void after_fork(bool child) {
  if (child) {
    g_generation.fetch_add(1);
    // ONNX Runtime's static destructors, run by exit(), wait for the parent's pool threads,
    // which the child does not have: a child that returns from main or calls sys.exit()
    // would hang (or abort) in them. It ends after the handlers registered from here on.
    platform::skip_earlier_exit_handlers();
  }
  thread_pool_after_fork(child);
  ort_log_after_fork(child);
  watchdog_after_fork(child);
  run_options_after_fork(child);
  cache_after_fork(child);
  runtime_after_fork(child);
  open_gate(child);
}

}  // namespace

OrtStateChange::OrtStateChange() {
  Gate& g = gate();
  std::unique_lock<std::mutex> lock(g.mutex);
  g.changed.wait(lock, [&] { return !g.forking; });
  ++g.active;
}

OrtStateChange::~OrtStateChange() {
  Gate& g = gate();
  std::lock_guard<std::mutex> lock(g.mutex);
  if (--g.active == 0 && g.forking) g.changed.notify_all();
}

void install_fork_hooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    platform::at_fork(&before_fork, [] { after_fork(false); }, [] { after_fork(true); });
  });
}

uint64_t fork_generation() noexcept { return g_generation.load(std::memory_order_relaxed); }

}  // namespace fastort::detail
