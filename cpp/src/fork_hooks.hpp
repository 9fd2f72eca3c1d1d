// Private: what every part of the core does around fork().
//
// A child starts with only the thread that forked. Every mutex of the core is taken before the
// fork (so no other thread holds one half-way through an update) and released after it, in
// both processes; the child then drops what belonged to the parent's other threads. The
// hooks are called in this order before fork() and in reverse after it; a part that takes two
// of these locks at once takes them in the same order (only the runtime's, then the log's).
#pragma once

#include <cstdint>

namespace fastort::detail {

void runtime_before_fork();
void runtime_after_fork(bool child);
void cache_before_fork();
void cache_after_fork(bool child);
void run_options_before_fork();
void run_options_after_fork(bool child);
void watchdog_before_fork();
void watchdog_after_fork(bool child);
void ort_log_before_fork();
void ort_log_after_fork(bool child);
void thread_pool_after_fork(bool child);

// Creating or destroying an ORT session takes process-wide locks inside ORT, which a child
// forked meanwhile would find held forever. Such calls happen inside a OrtStateChange, and
// fork() waits until none is in progress (runs are not waited for).
class OrtStateChange {
 public:
  OrtStateChange();
  ~OrtStateChange();
  OrtStateChange(const OrtStateChange&) = delete;
  OrtStateChange& operator=(const OrtStateChange&) = delete;
};

// Registers the hooks with the system once per process (pthread_atfork); called when the
// runtime is loaded.
void install_fork_hooks();

// Incremented in every forked child: what was made in another generation belongs to the
// parent, whose threads (ORT's thread pools among them) do not exist here.
uint64_t fork_generation() noexcept;

}  // namespace fastort::detail
