#include "fastort/completion_queue.hpp"

#include <string>

#include "platform.hpp"

namespace fastort {

CompletionQueue::CompletionQueue() : pipe_(std::make_unique<platform::WakeupPipe>()) {}

CompletionQueue::~CompletionQueue() = default;

int CompletionQueue::fd() const noexcept { return pipe_->read_fd(); }

void CompletionQueue::push(uint64_t key) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    keys_.push_back(key);
    wake = !signalled_;
    signalled_ = true;
  }
  // One byte per batch of keys, so the pipe never fills however much is pushed.
  if (wake) pipe_->wake();
}

std::vector<uint64_t> CompletionQueue::take() {
  // The byte is read before the keys are: a push in between leaves its key for this take and
  // adds no byte, one after it adds a byte for the next take.
  std::string bytes;
  pipe_->wait(0, bytes);
  std::vector<uint64_t> keys;
  std::lock_guard<std::mutex> lock(mutex_);
  keys.swap(keys_);
  signalled_ = false;
  return keys;
}

}  // namespace fastort
