// Dynamic batching: requests of a few rows each, from many threads, run together as one batch.
//
// submit() checks a request like Model::run checks its inputs, copies its rows into the batch
// being gathered (the one copy) and returns at once. The batcher's worker threads (one, or a
// few that run batches side by side on a session of few intra-op threads) run the batches and
// give each request views of its rows of the batch's outputs. Nothing here
// knows Python: the bindings wait for requests with the GIL released, or are told of their
// completion through a hook.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fastort/error.hpp"
#include "fastort/model.hpp"

namespace fastort {
namespace detail {
struct BatchOutcome;
}

struct BatcherOptions {
  int64_t max_batch_size = 32;  // rows in one batch (a larger request runs alone)
  double max_delay_ms = 2.0;    // under load, how long the oldest request waits for more
  int64_t max_queue = 1024;     // requests waiting; beyond it submit() fails (kQueueFull)
  // Threads running batches: more than one runs batches at the same time on the one session,
  // which pays when its runs use fewer intra-op threads than there are CPUs.
  int64_t workers = 1;

  // Throws Error(kInvalidArgument) naming the bad field.
  void validate() const;
};

// One output of a request: its rows of the batch's output, which `owner` keeps alive.
struct RequestOutput {
  TensorView view;  // C-contiguous; shape [rows, ...]
  std::shared_ptr<const void> owner;
};

class BatchRequest;
using CompletionHook = std::function<void(const std::shared_ptr<BatchRequest>&)>;

// A submitted request, shared by its submitter and the batcher.
class BatchRequest : public std::enable_shared_from_this<BatchRequest> {
 public:
  enum class State { kQueued, kRunning, kDone, kFailed, kCancelled };

  State state() const;
  bool done() const;  // kDone, kFailed or kCancelled
  // Cancels a request that has not started to run; false once it runs or has finished.
  bool cancel();
  // Waits until done; false when `timeout_seconds` (>= 0) passed first, < 0 waits forever.
  bool wait(double timeout_seconds) const;
  int64_t rows() const noexcept { return rows_; }
  // Once done: the outputs in model order (kDone), or the error (kFailed).
  const std::vector<RequestOutput>& outputs() const { return outputs_; }
  const std::optional<Error>& error() const { return error_; }
  // Called once when the request is done (or at once if it is), on the thread that finished
  // it: the batcher's worker, or the caller of cancel(). It must not block. Each hook given is
  // called, in the order given (a future's callbacks and an event loop's watch, say).
  void on_done(CompletionHook hook);

  // For the batcher.
  BatchRequest(int64_t rows, std::optional<std::chrono::steady_clock::time_point> deadline);
  bool start();  // kQueued -> kRunning; false when it was cancelled
  void finish(std::vector<RequestOutput> outputs);
  bool fail(Error error);  // false when it was done already (cancelled)
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept {
    return deadline_;
  }
  std::chrono::steady_clock::time_point submitted() const noexcept { return submitted_; }

 private:
  friend class Batcher;
  bool complete(State state, std::vector<RequestOutput> outputs, std::optional<Error> error);

  // The batcher that queued the request, told by cancel() while it lives: the request's place
  // in its queue is free at once, and the cancel counted.
  std::weak_ptr<void> queue_owner_;
  void (*on_cancel_)(void* owner, BatchRequest& request) = nullptr;
  bool holds_queue_place_ = false;  // guarded by the queue owner's lock

  const int64_t rows_;
  const std::optional<std::chrono::steady_clock::time_point> deadline_;
  const std::chrono::steady_clock::time_point submitted_;
  mutable std::mutex mutex_;
  mutable std::condition_variable done_;
  State state_ = State::kQueued;
  std::vector<RequestOutput> outputs_;
  std::optional<Error> error_;
  std::vector<CompletionHook> hooks_;
};

struct BatcherStats {
  uint64_t requests = 0;  // submitted and accepted
  uint64_t batches = 0;   // runs of ORT (re-runs of a failed batch's requests included)
  uint64_t rejected = 0;  // refused because the queue was full
  uint64_t cancelled = 0;
  uint64_t timed_out = 0;  // not started before their timeout
  // Runs by their number of rows: rows -> count (its counts add up to `batches`).
  std::vector<std::pair<int64_t, uint64_t>> batch_rows;
  // Milliseconds from submit to the start of the request's batch, and of each batch's run;
  // the most recent ones (at most 4096 of each).
  std::vector<double> queue_delay_ms;
  std::vector<double> run_ms;
};

class Batcher {
  struct Shared;  // the state shared with the workers

 public:
  // Throws Error(kInvalidArgument) for options out of range, or a model some of whose inputs
  // or outputs are not numeric tensors with a dynamic first axis.
  Batcher(std::shared_ptr<const Model> model, BatcherOptions options);
  // Closes (drains what is queued) and joins the workers; on a worker itself (from a
  // completion hook) it lets the workers drain and end on their own.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Checks the inputs like Model::run (every input once, its element type and trailing dims;
  // the first dim is the request's rows, the same for every input), copies the rows and
  // queues them. `timeout_seconds` > 0: a request not started by then fails (kTimedOut).
  // Throws kInvalidArgument/kTypeMismatch, kQueueFull, or kRuntime once closed.
  std::shared_ptr<BatchRequest> submit(const std::vector<NamedInput>& inputs,
                                       double timeout_seconds = 0);
  // submit() that runs the request at once on the calling thread, on the caller's arrays (no
  // copy), when the batcher is idle (nothing queued, nothing running) and that pays: one
  // client at a time, or runs so short that batching saves less than the hand-over to the
  // worker costs. One request at a time then costs what Model::run costs. Otherwise the
  // request is queued as by submit(). The caller waits for the request it gets back.
  std::shared_ptr<BatchRequest> run(const std::vector<NamedInput>& inputs,
                                    double timeout_seconds = 0);
  // A request that its caller runs itself, at once, busy or not: for a run so short that
  // batching it with others would cost more than it saves, as when handing results between
  // threads takes longer than the run (QuickRuns). run_here() checks it like run() and counts
  // it among the runs in progress (kRuntime once closed); the caller then runs the model and
  // reports the run's duration with finished(); destroyed unfinished, the run failed. Python
  // code may run on the thread meanwhile (a signal handler, a finalizer) and close() the
  // batcher: close() does not wait for the calling thread's own here-runs.
  class HereRun {
   public:
    ~HereRun();
    HereRun(HereRun&& other) noexcept
        : shared_(std::move(other.shared_)), rows_(other.rows_), run_ms_(other.run_ms_) {}
    HereRun(const HereRun&) = delete;
    HereRun& operator=(const HereRun&) = delete;
    void finished(double run_ms) noexcept { run_ms_ = run_ms; }

   private:
    friend class Batcher;
    HereRun(std::shared_ptr<Shared> shared, int64_t rows);
    std::shared_ptr<Shared> shared_;
    int64_t rows_;
    double run_ms_ = -1;
  };
  HereRun run_here(const std::vector<NamedInput>& inputs);
  // run_here() where run() would run the request on the caller's thread (the batcher idle,
  // and running alone paying); empty where it would queue it. For callers that run requests
  // as they run other runs (Session.run's path, with its output arrays and signals).
  std::optional<HereRun> run_here_if_idle(const std::vector<NamedInput>& inputs);
  // The request's rows, checked as run_here() checks it (and throwing what it throws).
  int64_t checked_rows(const std::vector<NamedInput>& inputs) const;
  // run_here() and run_here_if_idle() for a request that checked_rows() accepted, or one of the
  // same names, element types and shapes (a caller's loop over the same arrays): `rows` is
  // what it returned.
  HereRun run_here(int64_t rows);
  std::optional<HereRun> run_here_if_idle(int64_t rows);
  // Whether a request its caller would queue should be a HereRun instead, once in a while, so
  // that QuickRuns can learn that such runs are quick. The workers' runs teach it too, but
  // only the shapes they run: under load, batches of several requests, never the one request
  // that a client sends, which would then be handed over for good. True for one call in
  // kTrialEvery while no request waits to start and the batcher's last runs were no longer
  // than a hand-over (never before a worker has measured one), unless trials are paused.
  bool trial_here() noexcept;
  // Reports how long a trial's run took. A trial blocks its caller (an event loop, maybe) for
  // its run: one that took over kTrialLimitMs (a model whose run time follows its input
  // values) pauses trials for kTrialPause calls of trial_here(), doubled at each pause.
  void trial_finished(double run_ms) noexcept;
  static constexpr uint32_t kTrialEvery = 16;
  static constexpr double kTrialLimitMs = 1.0;
  static constexpr uint64_t kTrialPause = 1024;
  // Refuses new requests and returns when every queued one (and every run() and HereRun, but
  // the calling thread's) is done. Called from a completion hook (on a worker) it returns at
  // once; the workers drain the queue. In a fork()ed child it does nothing.
  void close();
  BatcherStats stats() const;
  const Model& model() const noexcept { return *model_; }
  const std::shared_ptr<const Model>& shared_model() const noexcept { return model_; }
  const BatcherOptions& options() const noexcept { return options_; }

 private:
  // A worker thread's loop.
  static void work(const std::shared_ptr<Shared>& shared, const std::shared_ptr<const Model>& model,
                   const BatcherOptions& options);
  // The request's inputs in model order, checked like Model::run checks them.
  std::vector<const TensorView*> check_request(const std::vector<NamedInput>& inputs) const;
  std::shared_ptr<BatchRequest> queue(const std::vector<const TensorView*>& inputs,
                                      double timeout_seconds);
  // Adds a run's outcome to the statistics; takes the lock (the runs tell it before their
  // requests complete).
  static void record(Shared& s, const detail::BatchOutcome& outcome);
  // A queued request was cancelled (`shared`: its batcher's Shared): its place in the queue is
  // free, and it is counted.
  static void forget_cancelled(void* shared, BatchRequest& request);
  // run_here(), or with `only_if_idle` run_here_if_idle(), for a checked request of `rows`.
  std::optional<HereRun> start_here_run(int64_t rows, bool only_if_idle);

  std::shared_ptr<const Model> model_;
  BatcherOptions options_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace fastort
