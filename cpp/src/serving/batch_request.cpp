#include "fastort/batcher.hpp"

namespace fastort {

BatchRequest::BatchRequest(int64_t rows,
                           std::optional<std::chrono::steady_clock::time_point> deadline)
    : rows_(rows), deadline_(deadline), submitted_(std::chrono::steady_clock::now()) {}

BatchRequest::State BatchRequest::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

bool BatchRequest::done() const {
  const State state = this->state();
  return state != State::kQueued && state != State::kRunning;
}

bool BatchRequest::cancel() { return complete(State::kCancelled, {}, std::nullopt); }

bool BatchRequest::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != State::kQueued) return false;
  state_ = State::kRunning;
  return true;
}

bool BatchRequest::wait(double timeout_seconds) const {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto finished = [this] { return state_ != State::kQueued && state_ != State::kRunning; };
  if (timeout_seconds < 0) {
    done_.wait(lock, finished);
    return true;
  }
  return done_.wait_for(lock, std::chrono::duration<double>(timeout_seconds), finished);
}

void BatchRequest::finish(std::vector<RequestOutput> outputs) {
  complete(State::kDone, std::move(outputs), std::nullopt);
}

bool BatchRequest::fail(Error error) { return complete(State::kFailed, {}, std::move(error)); }

void BatchRequest::on_done(CompletionHook hook) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ == State::kQueued || state_ == State::kRunning) {
      hooks_.push_back(std::move(hook));
      return;
    }
  }
  hook(shared_from_this());
}

bool BatchRequest::complete(State state, std::vector<RequestOutput> outputs,
                            std::optional<Error> error) {
  std::vector<CompletionHook> hooks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A request finishes once; one not started yet may only be cancelled or fail (a cancel
    // racing the worker's start: whoever changed the state first decided).
    const bool queued = state_ == State::kQueued;
    if (!queued && state_ != State::kRunning) return false;
    if (state == State::kCancelled && !queued) return false;
    state_ = state;
    outputs_ = std::move(outputs);
    error_ = std::move(error);
    hooks.swap(hooks_);
  }
  done_.notify_all();
  // Before the hooks: a done-callback reading the batcher's statistics finds the cancel.
  if (state == State::kCancelled && on_cancel_ != nullptr) {
    if (const std::shared_ptr<void> owner = queue_owner_.lock()) on_cancel_(owner.get(), *this);
  }
  if (!hooks.empty()) {
    const std::shared_ptr<BatchRequest> self = shared_from_this();
    for (const CompletionHook& hook : hooks) hook(self);
  }
  return true;
}

}  // namespace fastort
