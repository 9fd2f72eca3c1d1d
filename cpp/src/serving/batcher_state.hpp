// The state a Batcher shares with its workers and with the runs its callers make themselves
// (HereRun): private to the batcher's sources.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "batch_run.hpp"
#include "fastort/batcher.hpp"
#include "fastort/runtime.hpp"

namespace fastort {
namespace detail {

using Clock = std::chrono::steady_clock;
constexpr size_t kKeptTimings = 4096;
constexpr double kHandOverMs = 0.05;  // a worker's wake-up and the client's, measured

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

// A batcher made before fork() (in process generation `made`) has no workers in the child: it
// refuses requests there.
inline void refuse_if_forked(uint64_t made) {
  if (made != fork_generation()) {
    throw Error(ErrorKind::kRuntime,
                "this Batcher was made before fork(); make a new one in this process");
  }
}

// How many runs of the batcher whose Shared state is `shared` its callers have in progress on
// this thread (HereRun): Python code run inside one (a signal handler) may close the batcher.
int here_runs_on_this_thread(const void* shared);

}  // namespace detail

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
  detail::Clock::time_point last_submit = detail::Clock::now();
  double mean_gap_seconds = 0;
  std::vector<std::thread> workers;
  uint64_t generation = fork_generation();

  // Running a lone request on its caller's thread pays (see mean_run_ms). With the lock held.
  bool inline_pays() const { return clients <= 1 || mean_run_ms <= detail::kHandOverMs; }

  bool on_worker() const {
    const std::thread::id self = std::this_thread::get_id();
    return std::any_of(workers.begin(), workers.end(),
                       [&](const std::thread& worker) { return worker.get_id() == self; });
  }

  // Statistics.
  uint64_t requests = 0, runs = 0, rejected = 0, cancelled = 0, timed_out = 0;
  std::map<int64_t, uint64_t> batch_rows;
  detail::RecentTimings queue_delay_ms, run_ms;
};

}  // namespace fastort
