// Batcher: submit() gathers requests into batches; worker threads run them.
#include "fastort/batcher.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <thread>

#include "batch_run.hpp"
#include "fastort/runtime.hpp"

namespace fastort {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kKeptTimings = 4096;
constexpr int64_t kMaxWorkers = 64;
constexpr double kHandOverMs = 0.05;  // a worker's wake-up and the client's, measured

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

// The last kKeptTimings values: a ring that allocates nothing once full, as every run adds
// to it with the batcher's lock held.
class RecentTimings {
 public:
  void add(double value) {
    if (values_.size() < kKeptTimings) {
      values_.push_back(value);
      return;
    }
    values_[next_] = value;
    next_ = (next_ + 1) % kKeptTimings;
  }
  std::vector<double> oldest_first() const {
    std::vector<double> ordered(values_.begin() + static_cast<std::ptrdiff_t>(next_),
                                values_.end());
    ordered.insert(ordered.end(), values_.begin(),
                   values_.begin() + static_cast<std::ptrdiff_t>(next_));
    return ordered;
  }

 private:
  std::vector<double> values_;
  size_t next_ = 0;  // the oldest value, once full
};

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

struct Batcher::Shared {
  std::mutex mutex;
  // Several workers may wait on each: every notification wakes them all, and each checks
  // what it waits for.
  std::condition_variable work;    // the workers: a batch to run, or closing
  std::condition_variable copied;  // the workers: the copies into a sealed batch are done
  std::condition_variable idle;    // close(): the workers have finished everything
  // Oldest first; open or sealed, claimed by a worker or not.
  std::deque<std::unique_ptr<detail::Batch>> batches;
  int64_t queued = 0;  // requests not started yet
  // Clients that wait for their results send nothing more until they have them. The most
  // requests waiting at once in each of the last batch cycles tells how many such clients
  // there are: once that many are queued, nobody else is coming and a batch runs at once.
  int64_t cycle_peak = 0;
  std::array<int64_t, 16> recent_peaks{};
  size_t next_peak = 0;
  int64_t clients = 0;  // the largest of recent_peaks
  // Recent ORT runs' mean duration (decaying). Running a lone request on its caller's thread
  // saves the hand-over to the worker and back, but takes a batch's place: worth it when a
  // run costs no more than such a hand-over, or when there is a single client anyway.
  double mean_run_ms = 0;
  bool closing = false;
  int running = 0;  // runs in progress: the workers', and run()'s on callers' threads
  // Of those, the ones inside ONNX Runtime: a request that comes while results are only being
  // handed out (its client just got its own) does not arrive under load.
  std::atomic<int> in_ort{0};
  size_t finished = 0;                        // workers that have returned
  std::atomic<uint32_t> trial_calls{1};       // trial_here()'s, counted without the lock
  std::atomic<uint64_t> trial_pause_left{0};  // calls of trial_here() until trials resume
  std::atomic<int> trial_pauses{0};
  // Arrivals: the time of the last submit and the mean gap between submits (decaying), which
  // tells a worker whether waiting for more rows is worth it.
  Clock::time_point last_submit = Clock::now();
  double mean_gap_seconds = 0;
  std::vector<std::thread> workers;
  uint64_t generation = fork_generation();

  // Running a lone request on its caller's thread pays (see mean_run_ms). With the lock held.
  bool inline_pays() const { return clients <= 1 || mean_run_ms <= kHandOverMs; }

  bool on_worker() const {
    const std::thread::id self = std::this_thread::get_id();
    return std::any_of(workers.begin(), workers.end(),
                       [&](const std::thread& worker) { return worker.get_id() == self; });
  }

  // Statistics.
  uint64_t requests = 0, runs = 0, rejected = 0, cancelled = 0, timed_out = 0;
  std::map<int64_t, uint64_t> batch_rows;
  RecentTimings queue_delay_ms, run_ms;
};

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

// A batcher made before fork() (in process generation `made`) has no workers in the child: it
// refuses requests there.
void refuse_if_forked(uint64_t made) {
  if (made != fork_generation()) {
    throw Error(ErrorKind::kRuntime,
                "this Batcher was made before fork(); make a new one in this process");
  }
}

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
  refuse_if_forked(shared_->generation);
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

namespace {

// The batchers (their Shared state) with a HereRun in progress on this thread, innermost last.
std::vector<const void*>& here_runs_on_this_thread() {
  thread_local std::vector<const void*> batchers;
  return batchers;
}

}  // namespace

Batcher::HereRun::HereRun(std::shared_ptr<Shared> shared, int64_t rows)
    : shared_(std::move(shared)), rows_(rows) {
  here_runs_on_this_thread().push_back(shared_.get());
}

int64_t Batcher::checked_rows(const std::vector<NamedInput>& inputs) const {
  return detail::request_rows(*model_, check_request(inputs));
}

Batcher::HereRun Batcher::run_here(const std::vector<NamedInput>& inputs) {
  return run_here(checked_rows(inputs));
}

std::optional<Batcher::HereRun> Batcher::run_here_if_idle(const std::vector<NamedInput>& inputs) {
  return run_here_if_idle(checked_rows(inputs));
}

Batcher::HereRun Batcher::run_here(int64_t rows) { return std::move(*start_here_run(rows, false)); }

std::optional<Batcher::HereRun> Batcher::run_here_if_idle(int64_t rows) {
  return start_here_run(rows, true);
}

std::optional<Batcher::HereRun> Batcher::start_here_run(int64_t rows, bool only_if_idle) {
  Shared& s = *shared_;
  // Also for a request checked before fork() (a loop's arrays, recorded).
  refuse_if_forked(s.generation);
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.closing) throw Error(ErrorKind::kRuntime, "the Batcher is closed");
  if (only_if_idle &&
      (!s.inline_pays() || s.in_ort.load(std::memory_order_relaxed) > 0 || !s.batches.empty())) {
    return std::nullopt;
  }
  ++s.running;
  ++s.requests;
  s.in_ort.fetch_add(1, std::memory_order_relaxed);
  try {
    return HereRun(shared_, rows);
  } catch (...) {  // bad_alloc: not counted after all
    --s.running;
    --s.requests;
    s.in_ort.fetch_sub(1, std::memory_order_relaxed);
    throw;
  }
}

bool Batcher::trial_here() noexcept {
  Shared& s = *shared_;
  uint64_t left = s.trial_pause_left.load(std::memory_order_relaxed);
  while (left > 0) {
    if (s.trial_pause_left.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) {
      return false;
    }
  }
  if (s.trial_calls.fetch_add(1, std::memory_order_relaxed) % kTrialEvery != 0) return false;
  std::lock_guard<std::mutex> lock(s.mutex);
  // A worker may still be handing out the last batch's results: a synchronous client's next
  // request comes meanwhile. Requests waiting to start are a load that batches them.
  return !s.closing && s.queued == 0 && s.mean_run_ms > 0 && s.mean_run_ms <= kHandOverMs;
}

void Batcher::trial_finished(double run_ms) noexcept {
  if (!(run_ms > kTrialLimitMs)) return;
  Shared& s = *shared_;
  const int pauses = std::min(s.trial_pauses.fetch_add(1, std::memory_order_relaxed), 24);
  s.trial_pause_left.store(kTrialPause << pauses, std::memory_order_relaxed);
}

Batcher::HereRun::~HereRun() {
  if (!shared_) return;  // moved from
  std::vector<const void*>& mine = here_runs_on_this_thread();
  const auto it = std::find(mine.rbegin(), mine.rend(), shared_.get());
  if (it != mine.rend()) mine.erase(std::next(it).base());
  Shared& s = *shared_;
  s.in_ort.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(s.mutex);
  --s.running;
  // Counted as run_alone() counts a request run alone: a batch of its own, its run time
  // only when it succeeded.
  ++s.runs;
  ++s.batch_rows[rows_];
  s.queue_delay_ms.add(0);
  if (run_ms_ >= 0) {
    s.run_ms.add(run_ms_);
    s.mean_run_ms = s.mean_run_ms == 0 ? run_ms_ : 0.9 * s.mean_run_ms + 0.1 * run_ms_;
  }
  if (!s.batches.empty()) s.work.notify_all();
  if (s.closing) s.idle.notify_all();
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
  const std::vector<const void*>& mine = here_runs_on_this_thread();
  const auto own = static_cast<int>(std::count(mine.begin(), mine.end(), &s));
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
    s.queued -= static_cast<int64_t>(taken->requests.size());
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

void Batcher::record(Shared& s, const detail::BatchOutcome& outcome) {
  std::lock_guard<std::mutex> lock(s.mutex);
  s.runs += outcome.runs;
  s.cancelled += outcome.cancelled;
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
