// Batcher::HereRun: a request its caller runs itself, on its own thread, counted among the
// batcher's runs; and the trials that tell when such runs pay.
#include <algorithm>
#include <iterator>

#include "batcher_state.hpp"

namespace fastort {
namespace {

// The batchers (their Shared state) with a HereRun in progress on this thread, innermost last.
std::vector<const void*>& here_run_stack() {
  thread_local std::vector<const void*> batchers;
  return batchers;
}

}  // namespace

int detail::here_runs_on_this_thread(const void* shared) {
  const std::vector<const void*>& mine = here_run_stack();
  return static_cast<int>(std::count(mine.begin(), mine.end(), shared));
}

Batcher::HereRun::HereRun(std::shared_ptr<Shared> shared, int64_t rows)
    : shared_(std::move(shared)), rows_(rows) {
  here_run_stack().push_back(shared_.get());
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
  detail::refuse_if_forked(s.generation);
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
  return !s.closing && s.queued == 0 && s.mean_run_ms > 0 && s.mean_run_ms <= detail::kHandOverMs;
}

void Batcher::trial_finished(double run_ms) noexcept {
  if (!(run_ms > kTrialLimitMs)) return;
  Shared& s = *shared_;
  const int pauses = std::min(s.trial_pauses.fetch_add(1, std::memory_order_relaxed), 24);
  s.trial_pause_left.store(kTrialPause << pauses, std::memory_order_relaxed);
}

Batcher::HereRun::~HereRun() {
  if (!shared_) return;  // moved from
  std::vector<const void*>& mine = here_run_stack();
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

}  // namespace fastort
