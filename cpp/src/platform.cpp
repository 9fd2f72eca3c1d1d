#include "platform.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fastort/error.hpp"

#ifdef _WIN32
#define NOMINMAX
#include <windows.h>
#else
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#endif

namespace fastort::platform {

void* library_symbol(const std::string& path, const char* symbol) {
#ifdef _WIN32
  HMODULE handle = LoadLibraryA(path.c_str());
  if (handle == nullptr) {
    throw Error(ErrorKind::kRuntimeLoad, "cannot load ONNX Runtime library '" + path + "' (error " +
                                             std::to_string(GetLastError()) + ")");
  }
  return reinterpret_cast<void*>(GetProcAddress(handle, symbol));
#else
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = dlerror();
    throw Error(ErrorKind::kRuntimeLoad, "cannot load ONNX Runtime library '" + path +
                                             "': " + (reason ? reason : "unknown error"));
  }
  return dlsym(handle, symbol);
#endif
}

void at_fork(void (*prepare)(), void (*in_parent)(), void (*in_child)()) {
#ifdef _WIN32
  (void)prepare, (void)in_parent, (void)in_child;
#else
  pthread_atfork(prepare, in_parent, in_child);
#endif
}

void skip_earlier_exit_handlers() {
#if defined(__GLIBC__)
  // on_exit (not atexit): its handlers receive exit()'s status.
  on_exit(
      [](int status, void*) {
        std::fflush(nullptr);
        _exit(status);
      },
      nullptr);
#endif
}

std::string file_stamp(const std::string& path) {
#ifdef _WIN32
  struct _stat64 info{};
  if (::_stat64(path.c_str(), &info) != 0) return "missing";
  const long long seconds = info.st_mtime, nanoseconds = 0;
  const std::string changed;
#else
  struct stat info{};
  if (::stat(path.c_str(), &info) != 0) return "missing";
#if defined(__APPLE__)
  const auto& mtime = info.st_mtimespec;
  const auto& ctime = info.st_ctimespec;
#else
  const auto& mtime = info.st_mtim;
  const auto& ctime = info.st_ctim;
#endif
  const long long seconds = mtime.tv_sec, nanoseconds = mtime.tv_nsec;
  // The status change time too: a file rewritten in place whose mtime was then put back (cp -p,
  // rsync -a, tar x, touch -r) keeps its inode, size and mtime, but no program can set ctime.
  const std::string changed =
      ":" + std::to_string(ctime.tv_sec) + "." + std::to_string(ctime.tv_nsec);
#endif
  return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" +
         std::to_string(info.st_size) + ":" + std::to_string(seconds) + "." +
         std::to_string(nanoseconds) + changed;
}

int64_t physical_memory_bytes() {
  static const int64_t bytes = [] {
#ifdef _WIN32
    MEMORYSTATUSEX status;
    status.dwLength = sizeof status;
    if (GlobalMemoryStatusEx(&status)) {
      return static_cast<int64_t>(std::min<DWORDLONG>(status.ullTotalPhys, INT64_MAX));
    }
#else
    const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page_size > 0) {
      return pages > INT64_MAX / page_size ? INT64_MAX : int64_t{pages} * page_size;
    }
#endif
    return INT64_MAX;
  }();
  return bytes;
}

#ifdef _WIN32

WakeupPipe::WakeupPipe() = default;
WakeupPipe::~WakeupPipe() = default;
int WakeupPipe::write_fd() const noexcept { return -1; }
int WakeupPipe::read_fd() const noexcept { return -1; }

void WakeupPipe::wake() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_ += '\0';
  woken_.notify_all();
}

void WakeupPipe::wait(int timeout_ms, std::string& bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto ready = [this] { return !pending_.empty(); };
  if (timeout_ms < 0) {
    woken_.wait(lock, ready);
  } else {
    woken_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
  }
  bytes += pending_;
  pending_.clear();
}

void WakeupPipe::renew_after_fork() noexcept {}

#else

namespace {

void make_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

}  // namespace

WakeupPipe::WakeupPipe() {
  int fds[2];
  if (::pipe(fds) != 0) {
    throw Error(ErrorKind::kRuntime,
                std::string("cannot create a pipe for the run watchdog: ") + std::strerror(errno));
  }
  // Non-blocking both ways: a signal handler must never block on a full pipe.
  make_nonblocking(fds[0]);
  make_nonblocking(fds[1]);
  read_fd_ = fds[0];
  write_fd_ = fds[1];
}

WakeupPipe::~WakeupPipe() {
  ::close(read_fd_);
  ::close(write_fd_);
}

int WakeupPipe::write_fd() const noexcept { return write_fd_; }
int WakeupPipe::read_fd() const noexcept { return read_fd_; }

void WakeupPipe::wake() noexcept {
  const char byte = 0;
  while (::write(write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
}

void WakeupPipe::wait(int timeout_ms, std::string& bytes) {
  pollfd entry{read_fd_, POLLIN, 0};
  if (::poll(&entry, 1, timeout_ms) <= 0) return;  // timeout, or EINTR from a signal
  char buffer[256];
  for (;;) {
    const ssize_t count = ::read(read_fd_, buffer, sizeof buffer);
    if (count <= 0) return;
    bytes.append(buffer, static_cast<size_t>(count));
  }
}

void WakeupPipe::renew_after_fork() noexcept {
  int fds[2];
  if (::pipe(fds) != 0) return;  // keeps the shared pipe: better than none
  ::dup2(fds[0], read_fd_);
  ::dup2(fds[1], write_fd_);
  ::close(fds[0]);
  ::close(fds[1]);
  make_nonblocking(read_fd_);
  make_nonblocking(write_fd_);
}

#endif

}  // namespace fastort::platform
