// Batcher: submit() gathers requests into batches; worker threads run them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "batcher_state.hpp"

namespace fastort {
namespace {

using detail::Clock;
constexpr int64_t kMaxWorkers = 64;

// The dims after the first of every input: requests with different ones go to separate
// batches (variable sequence lengths, say) instead of failing.
using BatchKey = std::vector<std::vector<int64_t>>;

void check_batched(const char* role, const ValueInfo& info) {
  const bool numeric = info.kind == ValueKind::kTensor && element_size(info.element_type) > 0;
  if (!numeric || info.shape.empty() || info.shape[0] >= 0) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string(role) + " '" + info.name + "' is " + info.describe() +
                    "; a Batcher needs every input and output to be a numeric tensor with a "
                    "dynamic first (batch) axis");
  }
}

}  // namespace

void BatcherOptions::validate() const {
  if (max_batch_size < 1 || max_batch_size > (int64_t{1} << 24)) {
    throw Error(ErrorKind::kInvalidArgument, "max_batch_size must be between 1 and 16777216, got " +
                                                 std::to_string(max_batch_size));
  }
  if (!std::isfinite(max_delay_ms) || max_delay_ms < 0 || max_delay_ms > 60000) {
    throw Error(ErrorKind::kInvalidArgument,
                "max_delay_ms must be between 0 and 60000, got " + std::to_string(max_delay_ms));
  }
  if (max_queue < 1) {
    throw Error(ErrorKind::kInvalidArgument,
                "max_queue must be at least 1, got " + std::to_string(max_queue));
  }
  if (workers < 1 || workers > kMaxWorkers) {
    throw Error(ErrorKind::kInvalidArgument, "workers must be between 1 and " +
                                                 std::to_string(kMaxWorkers) + ", got " +
                                                 std::to_string(workers));
  }
}

namespace {

// Calls `f` when it goes out of scope, however the scope is left.
template <typename F>
class Finally {
 public:
  explicit Finally(F f) : f_(std::move(f)) {}
  ~Finally() { f_(); }
  Finally(const Finally&) = delete;
  Finally& operator=(const Finally&) = delete;

 private:
  F f_;
};

}  // namespace

Batcher::Batcher(std::shared_ptr<const Model> model, BatcherOptions options)
    : model_(std::move(model)), options_(options), shared_(std::make_shared<Shared>()) {
  options_.validate();
  for (const ValueInfo& info : model_->inputs()) check_batched("input", info);
  for (const ValueInfo& info : model_->outputs()) check_batched("output", info);
  // The workers hold what they use: they may outlive this object (see the destructor).
  // Started with the lock held, so that none looks at `workers` before it is complete.
  std::unique_lock<std::mutex> lock(shared_->mutex);
  shared_->workers.reserve(static_cast<size_t>(options_.workers));
  try {
    for (int64_t i = 0; i < options_.workers; ++i) {
      shared_->workers.emplace_back(
          [shared = shared_, model = model_, options = options_] { work(shared, model, options); });
    }
  } catch (...) {  // no thread left to start: those started end before this throws
    shared_->closing = true;
    shared_->work.notify_all();
    lock.unlock();
    for (std::thread& worker : shared_->workers) worker.join();
    throw;
  }
}

Batcher::~Batcher() {
  // In a fork()ed child the workers and whoever held the lock belong to the parent.
  if (shared_->generation != fork_generation()) {
    static_cast<void>(new std::shared_ptr<Shared>(std::move(shared_)));  // never destroyed
    return;
  }
  if (shared_->on_worker()) {
    // The last reference went in a done-callback, on a worker: it cannot wait for itself, so
    // the workers drain the queue and end on their own once the callback returns.
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      shared_->closing = true;
      shared_->work.notify_all();
    }
    for (std::thread& worker : shared_->workers) worker.detach();
    return;
  }
  close();
  for (std::thread& worker : shared_->workers) {
    if (worker.joinable()) worker.join();
  }
}

std::vector<const TensorView*> Batcher::check_request(const std::vector<NamedInput>& inputs) const {
  detail::refuse_if_forked(shared_->generation);
  const std::vector<const NamedInput*> fed = model_->match_inputs(inputs);
  // A batch is one run over the model's inputs; an initializer fed per request cannot be.
  for (size_t i = model_->inputs().size(); i < fed.size(); ++i) {
    if (fed[i] != nullptr) {
      throw Error(ErrorKind::kInvalidArgument,
                  "the Batcher takes the model's inputs only; initializer '" +
                      model_->overridable_initializers()[i - model_->inputs().size()].name +
                      "' cannot be fed per request");
    }
  }
  // The Batcher takes models with batched tensor inputs only (checked when it was made).
  std::vector<const TensorView*> views(model_->inputs().size(), nullptr);
  for (size_t i = 0; i < views.size(); ++i) views[i] = &fed[i]->tensor;
  return views;
}

std::shared_ptr<BatchRequest> Batcher::submit(const std::vector<NamedInput>& inputs,
                                              double timeout_seconds) {
  return queue(check_request(inputs), timeout_seconds);
}

std::shared_ptr<BatchRequest> Batcher::run(const std::vector<NamedInput>& inputs,
                                           double timeout_seconds) {
  const std::vector<const TensorView*> views = check_request(inputs);
  // Everything that may throw happens before the batcher counts the run.
  auto request = std::make_shared<BatchRequest>(detail::request_rows(*model_, views), std::nullopt);
  Shared& s = *shared_;
  std::unique_lock<std::mutex> lock(s.mutex);
  if (s.closing) throw Error(ErrorKind::kRuntime, "the Batcher is closed");
  if (!s.inline_pays() || s.in_ort.load(std::memory_order_relaxed) > 0 || !s.batches.empty()) {
    lock.unlock();
    return queue(views, timeout_seconds);
  }
  // Idle: the request is a batch of its own, run here on the caller's arrays. It counts as in
  // ORT from here, so that no other caller finds the batcher idle meanwhile.
  ++s.running;
  ++s.requests;
  s.in_ort.fetch_add(1, std::memory_order_relaxed);
  lock.unlock();
  try {
    detail::run_alone(model_, views, request, nullptr,
                      [&s](const detail::BatchOutcome& outcome) { record(s, outcome); });
  } catch (...) {  // run_alone completes the request with ORT's errors; this is bad_alloc
    request->fail(Error(ErrorKind::kRuntime, "out of memory"));
  }
  s.in_ort.fetch_sub(1, std::memory_order_relaxed);
  lock.lock();
  --s.running;
  // Requests that came meanwhile were queued under load: the workers may run them now.
  if (!s.batches.empty()) s.work.notify_all();
  if (s.closing) s.idle.notify_all();
  return request;
}

std::shared_ptr<BatchRequest> Batcher::queue(const std::vector<const TensorView*>& views,
                                             double timeout_seconds) {
  const int64_t rows = detail::request_rows(*model_, views);
  BatchKey key;
  key.reserve(views.size());
  for (const TensorView* view : views) key.emplace_back(view->shape.begin() + 1, view->shape.end());
  std::optional<Clock::time_point> deadline;
  if (timeout_seconds > 0) {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(timeout_seconds));
  }
  auto request = std::make_shared<BatchRequest>(rows, deadline);

  Shared& s = *shared_;
  std::unique_lock<std::mutex> lock(s.mutex);
  if (s.closing) throw Error(ErrorKind::kRuntime, "the Batcher is closed");
  if (s.queued >= options_.max_queue) {
    ++s.rejected;
    throw Error(ErrorKind::kQueueFull,
                "the Batcher's queue holds max_queue=" + std::to_string(options_.max_queue) +
                    " requests; try again later");
  }
  // The newest open batch of the same shapes takes the rows if they fit; else a new one.
  detail::Batch* batch = nullptr;
  for (auto it = s.batches.rbegin(); it != s.batches.rend(); ++it) {
    if (!(*it)->sealed && (*it)->key == key) {
      if ((*it)->rows + rows <= (*it)->capacity)
        batch = it->get();
      else
        (*it)->sealed = true;  // full for this request: it runs as it is
      break;
    }
  }
  const bool new_batch = batch == nullptr;
  if (new_batch) {
    s.batches.push_back(std::make_unique<detail::Batch>(
        *model_, views, std::move(key), std::max(options_.max_batch_size, rows),
        s.in_ort.load(std::memory_order_relaxed) > 0));
    batch = s.batches.back().get();
  }
  const Clock::time_point now = Clock::now();
  const double gap = std::chrono::duration<double>(now - s.last_submit).count();
  s.mean_gap_seconds = 0.9 * s.mean_gap_seconds + 0.1 * std::min(gap, options_.max_delay_ms / 1e3);
  s.last_submit = now;
  batch->last_arrival = now;
  const int64_t first_row = batch->rows;
  batch->rows += rows;
  batch->requests.push_back({request, first_row});
  request->queue_owner_ = shared_;
  request->on_cancel_ = &Batcher::forget_cancelled;
  request->holds_queue_place_ = true;
  ++batch->pending_copies;
  ++s.queued;
  s.cycle_peak = std::max(s.cycle_peak, s.queued);
  ++s.requests;
  const bool full = batch->rows >= options_.max_batch_size;
  if (full) batch->sealed = true;
  const bool everyone_in = s.queued == s.clients;  // a lingering worker may stop waiting
  lock.unlock();

  // Copied without the lock: rows may be large, and other submitters and the workers go on.
  batch->copy_rows(views, first_row, rows);

  lock.lock();
  const bool copies_done = --batch->pending_copies == 0;
  const bool wake_for_copies = copies_done && batch->sealed;
  lock.unlock();
  // A worker sleeps only when there is nothing to run or it lets a batch fill up.
  if (new_batch || full || everyone_in) s.work.notify_all();
  if (wake_for_copies) s.copied.notify_all();
  return request;
}

void Batcher::close() {
  Shared& s = *shared_;
  // In a fork()ed child there are no workers to wait for, and the lock may have been held by a
  // parent's thread: nothing to do (requests are refused there already).
  if (s.generation != fork_generation()) return;
  std::unique_lock<std::mutex> lock(s.mutex);
  s.closing = true;
  s.work.notify_all();
  // From a done-callback, on a worker: the workers drain the queue once the callback returns.
  if (s.on_worker()) return;
  // Python code run inside this thread's own HereRun (a signal handler) may close: those runs
  // end once it returns.
  const int own = detail::here_runs_on_this_thread(&s);
  s.idle.wait(lock, [&] { return s.finished == s.workers.size() && s.running == own; });
}

void Batcher::work(const std::shared_ptr<Shared>& shared, const std::shared_ptr<const Model>& model,
                   const BatcherOptions& options) {
  Shared& s = *shared;
  const auto max_delay = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(options.max_delay_ms));
  // Counted before the batch's requests complete: a client sees its request in stats().
  const detail::CountOutcome count = [&s](const detail::BatchOutcome& outcome) {
    record(s, outcome);
  };
  std::unique_lock<std::mutex> lock(s.mutex);
  // The worker's end, counted however it comes: a done-callback run on this thread takes the
  // GIL, and Python ends a thread waiting for it once the interpreter shuts down by unwinding
  // it (pthread_exit) from there. close() must not wait for a worker gone that way.
  bool in_batch = false;
  const Finally counted_out([&] {
    if (!lock.owns_lock()) lock.lock();
    if (in_batch) --s.running;
    ++s.finished;
    s.idle.notify_all();
  });
  // The oldest batch no other worker has claimed, or null.
  const auto unclaimed = [&]() -> detail::Batch* {
    for (const auto& batch : s.batches) {
      if (!batch->claimed) return batch.get();
    }
    return nullptr;
  };
  for (;;) {
    s.work.wait(lock, [&] { return unclaimed() != nullptr || s.closing; });
    detail::Batch* batch = unclaimed();
    if (batch == nullptr) break;  // closing, and every queued batch is another worker's
    batch->claimed = true;
    // A batch begun while nothing ran in ONNX Runtime runs at once: one request at a time
    // costs what a run costs. Under load (begun while a batch ran) it fills up, until full, until
    // its oldest request has waited max_delay, or until requests stop coming: no new one within
    // twice the recent mean gap between requests (clients waiting for their results send
    // nothing more, so waiting longer would only add latency), or until as many requests
    // wait as there were clients waiting at once in recent cycles.
    const auto everyone_in = [&] { return s.clients > 0 && s.queued >= s.clients; };
    while (!batch->sealed && batch->began_under_load && !s.closing && !everyone_in()) {
      const auto linger = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(2 * s.mean_gap_seconds));
      const Clock::time_point until =
          std::min(batch->began + max_delay, batch->last_arrival + linger);
      if (Clock::now() >= until) break;
      s.work.wait_until(lock, until, [&] { return batch->sealed || s.closing || everyone_in(); });
    }
    batch->sealed = true;
    s.copied.wait(lock, [&] { return batch->pending_copies == 0; });
    const auto position = std::find_if(s.batches.begin(), s.batches.end(),
                                       [&](const auto& queued) { return queued.get() == batch; });
    std::unique_ptr<detail::Batch> taken = std::move(*position);
    s.batches.erase(position);
    for (const detail::Batch::Entry& entry : taken->requests) {
      // A request cancelled while queued gave its place back already.
      if (entry.request->holds_queue_place_) --s.queued;
      entry.request->holds_queue_place_ = false;
    }
    s.recent_peaks[s.next_peak++ % s.recent_peaks.size()] = s.cycle_peak;
    s.clients = *std::max_element(s.recent_peaks.begin(), s.recent_peaks.end());
    s.cycle_peak = s.queued;
    ++s.running;
    in_batch = true;
    lock.unlock();
    detail::run_batch(model, *taken, &s.in_ort, count);
    lock.lock();
    in_batch = false;
    --s.running;
  }
}

void Batcher::forget_cancelled(void* shared, BatchRequest& request) {
  Shared& s = *static_cast<Shared*>(shared);
  // In a fork()ed child the lock may have been held by a parent's thread; nothing runs there.
  if (s.generation != fork_generation()) return;
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.cancelled;
  if (request.holds_queue_place_) --s.queued;
  request.holds_queue_place_ = false;
}

void Batcher::record(Shared& s, const detail::BatchOutcome& outcome) {
  std::lock_guard<std::mutex> lock(s.mutex);
  s.runs += outcome.runs;
  s.timed_out += outcome.timed_out;
  for (int64_t rows : outcome.run_rows) ++s.batch_rows[rows];
  for (double delay : outcome.queue_delay_ms) s.queue_delay_ms.add(delay);
  for (double ms : outcome.run_ms) {
    s.run_ms.add(ms);
    s.mean_run_ms = s.mean_run_ms == 0 ? ms : 0.9 * s.mean_run_ms + 0.1 * ms;
  }
}

BatcherStats Batcher::stats() const {
  const Shared& s = *shared_;
  std::lock_guard<std::mutex> lock(const_cast<std::mutex&>(s.mutex));
  BatcherStats stats;
  stats.requests = s.requests;
  stats.batches = s.runs;
  stats.rejected = s.rejected;
  stats.cancelled = s.cancelled;
  stats.timed_out = s.timed_out;
  stats.batch_rows.assign(s.batch_rows.begin(), s.batch_rows.end());
  stats.queue_delay_ms = s.queue_delay_ms.oldest_first();
  stats.run_ms = s.run_ms.oldest_first();
  return stats;
}

}  // namespace fastort
