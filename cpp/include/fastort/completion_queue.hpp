// Keys of finished work and a descriptor that is readable while some wait: what an event loop
// watches (asyncio's add_reader) to learn of completions, so that the thread finishing the
// work never waits for the loop's thread or its locks.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace fastort {

namespace platform {
class WakeupPipe;
}

class CompletionQueue {
 public:
  CompletionQueue();  // throws Error(kRuntime) when no descriptors are left
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // Readable while keys wait; -1 where the platform has no such descriptor (Windows).
  int fd() const noexcept;
  // From any thread; never blocks on the reader.
  void push(uint64_t key);
  // The keys pushed so far, in order; leaves the descriptor unreadable until the next push.
  std::vector<uint64_t> take();

 private:
  std::unique_ptr<platform::WakeupPipe> pipe_;
  std::mutex mutex_;
  std::vector<uint64_t> keys_;
  bool signalled_ = false;  // a byte is in the pipe for the keys waiting
};

}  // namespace fastort
