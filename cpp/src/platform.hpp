// Private: what differs between operating systems, in one place. Every other file of the core
// is portable C++17.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

namespace fastort::platform {

// Loads the shared library at `path` (once; it is never unloaded) without exposing its symbols
// to later libraries, and returns the address of `symbol` in it, or nullptr when it has none.
// Throws Error(kRuntimeLoad) with the system's reason when the library does not load.
void* library_symbol(const std::string& path, const char* symbol);

// Calls `prepare` before every fork() of this process and `in_parent`/`in_child` after it
// (pthread_atfork); nothing where processes do not fork (Windows).
void at_fork(void (*prepare)(), void (*in_parent)(), void (*in_child)());

// From now on, this process ends at exit() right after the exit handlers registered later
// than this call, keeping exit()'s status and flushing C stdio, without running the handlers
// and static destructors registered before it (those of ONNX Runtime among them). For a
// forked child, whose copies of the parent's threads do not exist: ONNX Runtime's
// destructors wait for them forever. Nothing where exit() gives handlers no status (non-glibc).
void skip_earlier_exit_handlers();

// Identifies one version of a file: a rewrite changes its size or modification time, an
// atomic replace (write, then rename over it) its identity. "missing" when it cannot be read.
std::string file_stamp(const std::string& path);

// This machine's physical memory in bytes, read once; INT64_MAX when the system does not say.
int64_t physical_memory_bytes();

// Bytes that signal handlers may write (Python's signal wakeup fd), and a way for one thread
// to wait for them, or for wake(), or for a timeout. On Windows, where Python's wakeup fd is
// a socket, only wake() and timeouts end a wait, and write_fd() is -1.
class WakeupPipe {
 public:
  WakeupPipe();  // throws Error(kRuntime) when no descriptors are left
  ~WakeupPipe();
  WakeupPipe(const WakeupPipe&) = delete;
  WakeupPipe& operator=(const WakeupPipe&) = delete;

  int write_fd() const noexcept;
  int read_fd() const noexcept;  // what a waiter may poll itself (-1 on Windows)
  // Ends a wait; it reads as a 0 byte (no signal has number 0).
  void wake() noexcept;
  // Waits up to timeout_ms (< 0: no limit) for bytes and appends those that arrived.
  void wait(int timeout_ms, std::string& bytes);
  // In a forked child: the same descriptor numbers, now for a new pipe not shared with the
  // parent.
  void renew_after_fork() noexcept;

 private:
#ifdef _WIN32
  std::mutex mutex_;
  std::condition_variable woken_;
  std::string pending_;
#else
  int read_fd_ = -1;
  int write_fd_ = -1;
#endif
};

}  // namespace fastort::platform
