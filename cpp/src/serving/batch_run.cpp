#include "batch_run.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "fastort/debug_counters.hpp"

namespace fastort::detail {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

std::string seconds_text(Clock::duration duration) {
  // The deadline is taken a moment before the request's submit time: a tiny timeout may come
  // out below zero.
  duration = std::max(duration, Clock::duration::zero());
  std::string text = std::to_string(std::chrono::duration<double>(duration).count());
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text + " s";
}

// What a request fails with: fastort's errors as they are; anything else (out of memory) as a
// runtime error, since the worker thread must go on.
Error as_error(const std::exception& error) {
  if (const auto* typed = dynamic_cast<const Error*>(&error)) return *typed;
  return Error(ErrorKind::kRuntime, error.what());
}

// A batch's outcome as its requests complete: count() tells the CountOutcome what was added
// since it was last told, before the requests that added it complete.
class Tally {
 public:
  explicit Tally(const CountOutcome& count) : count_(count) {}

  BatchOutcome& outcome() noexcept { return whole_; }

  void count() {
    if (!count_) return;
    const Told now{whole_.runs,
                   whole_.cancelled,
                   whole_.timed_out,
                   static_cast<ptrdiff_t>(whole_.run_rows.size()),
                   static_cast<ptrdiff_t>(whole_.queue_delay_ms.size()),
                   static_cast<ptrdiff_t>(whole_.run_ms.size())};
    if (now == told_) return;
    if (told_ == Told{}) {
      count_(whole_);  // the first part is the whole so far: told without a copy
    } else {
      BatchOutcome part;
      part.runs = now.runs - told_.runs;
      part.cancelled = now.cancelled - told_.cancelled;
      part.timed_out = now.timed_out - told_.timed_out;
      part.run_rows.assign(whole_.run_rows.begin() + told_.run_rows, whole_.run_rows.end());
      part.queue_delay_ms.assign(whole_.queue_delay_ms.begin() + told_.queue_delay_ms,
                                 whole_.queue_delay_ms.end());
      part.run_ms.assign(whole_.run_ms.begin() + told_.run_ms, whole_.run_ms.end());
      count_(part);
    }
    told_ = now;
  }

 private:
  struct Told {
    uint64_t runs = 0, cancelled = 0, timed_out = 0;
    ptrdiff_t run_rows = 0, queue_delay_ms = 0, run_ms = 0;
    bool operator==(const Told& other) const {
      return runs == other.runs && cancelled == other.cancelled && timed_out == other.timed_out &&
             run_rows == other.run_rows && queue_delay_ms == other.queue_delay_ms &&
             run_ms == other.run_ms;
    }
  };

  const CountOutcome& count_;
  BatchOutcome whole_;
  Told told_;
};

// Counts one call into ONNX Runtime while it lasts.
class InOrt {
 public:
  explicit InOrt(std::atomic<int>* count) : count_(count) {
    if (count_) count_->fetch_add(1, std::memory_order_relaxed);
  }
  ~InOrt() {
    if (count_) count_->fetch_sub(1, std::memory_order_relaxed);
  }
  InOrt(const InOrt&) = delete;
  InOrt& operator=(const InOrt&) = delete;

 private:
  std::atomic<int>* count_;
};

// The batch's inputs (its first `rows` rows), or one request's rows of them.
RunRequest request_for(const Model& model, const Batch& batch, int64_t first_row, int64_t rows) {
  RunRequest request;
  for (size_t i = 0; i < batch.buffers.size(); ++i) {
    TensorView view;
    view.data = batch.buffers[i].get() + static_cast<size_t>(first_row) * batch.row_bytes[i];
    view.type = batch.types[i];
    view.shape.push_back(rows);
    view.shape.insert(view.shape.end(), batch.key[i].begin(), batch.key[i].end());
    request.inputs.push_back({model.inputs()[i].name, std::move(view), ValueKind::kTensor, {}});
  }
  for (size_t k = 0; k < model.outputs().size(); ++k) request.outputs.push_back(k);
  return request;
}

// The outputs of one run, and the model whose allocator their memory came from.
struct RunResults {
  std::shared_ptr<const Model> model;
  std::vector<OwnedValue> values;
};

// Gives each request its rows of the outputs of a run over `rows` rows; the outputs (and the
// model) stay alive as long as any request's view of them.
void deliver(const std::shared_ptr<const Model>& model_ptr, std::vector<OwnedValue> results,
             const std::vector<Batch::Entry>& entries, int64_t rows) {
  const Model& model = *model_ptr;
  auto owner = std::make_shared<RunResults>(RunResults{model_ptr, std::move(results)});
  std::vector<TensorView> whole;
  std::vector<size_t> row_bytes;
  for (size_t k = 0; k < owner->values.size(); ++k) {
    TensorView view = owner->values[k].tensor();
    if (view.shape.empty() || view.shape[0] != rows) {
      const Error error(ErrorKind::kRuntime,
                        "output '" + model.outputs()[k].name + "' has " +
                            (view.shape.empty() ? std::string("no axis")
                                                : std::to_string(view.shape[0]) + " rows") +
                            " for a batch of " + std::to_string(rows) +
                            " rows: this model's outputs do not follow its batch axis");
      for (const Batch::Entry& entry : entries) entry.request->fail(error);
      return;
    }
    row_bytes.push_back(static_cast<size_t>(view.element_count() / rows) * element_size(view.type));
    whole.push_back(std::move(view));
  }
  for (const Batch::Entry& entry : entries) {
    std::vector<RequestOutput> outputs;
    outputs.reserve(whole.size());
    for (size_t k = 0; k < whole.size(); ++k) {
      TensorView view;
      view.data = static_cast<std::byte*>(whole[k].data) +
                  static_cast<size_t>(entry.first_row) * row_bytes[k];
      view.type = whole[k].type;
      view.shape = whole[k].shape;
      view.shape[0] = entry.request->rows();
      outputs.push_back({std::move(view), owner});
    }
    entry.request->finish(std::move(outputs));
  }
}

}  // namespace

int64_t request_rows(const Model& model, const std::vector<const TensorView*>& inputs) {
  const int64_t rows = inputs.empty() ? 0 : inputs[0]->shape[0];
  const std::string rule =
      "a request's inputs need the same number of rows (>= 1) along their first axis: input '";
  if (rows < 1) {
    throw Error(ErrorKind::kInvalidArgument,
                rule + model.inputs()[0].name + "' has " + std::to_string(rows));
  }
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i]->shape[0] != rows) {
      throw Error(ErrorKind::kInvalidArgument,
                  rule + model.inputs()[0].name + "' has " + std::to_string(rows) + ", input '" +
                      model.inputs()[i].name + "' has " + std::to_string(inputs[i]->shape[0]));
    }
  }
  return rows;
}

Batch::Batch(const Model& model, const std::vector<const TensorView*>& inputs,
             std::vector<std::vector<int64_t>> key_, int64_t capacity_, bool began_under_load_)
    : key(std::move(key_)), capacity(capacity_), began_under_load(began_under_load_) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    size_t bytes = element_size(model.inputs()[i].element_type);
    for (int64_t dim : key[i]) bytes *= static_cast<size_t>(dim);
    types.push_back(model.inputs()[i].element_type);
    row_bytes.push_back(bytes);
    // Every byte of the first `rows` rows is written before the batch runs.
    buffers.emplace_back(new std::byte[std::max<size_t>(bytes * static_cast<size_t>(capacity), 1)]);
  }
}

void Batch::copy_rows(const std::vector<const TensorView*>& inputs, int64_t first_row,
                      int64_t count) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::byte* target = buffers[i].get() + static_cast<size_t>(first_row) * row_bytes[i];
    const TensorView& view = *inputs[i];
    count_input_copy(static_cast<uint64_t>(count) * row_bytes[i]);
    if (view.is_c_contiguous()) {
      std::memcpy(target, view.data, static_cast<size_t>(count) * row_bytes[i]);
      continue;
    }
    // A strided array: element by element, in C order.
    const size_t item = element_size(view.type);
    const size_t rank = view.shape.size();
    std::vector<int64_t> index(rank, 0);
    const int64_t elements = view.element_count();
    for (int64_t n = 0; n < elements; ++n) {
      int64_t offset = 0;
      for (size_t d = 0; d < rank; ++d) offset += index[d] * view.strides[d];
      std::memcpy(target + static_cast<size_t>(n) * item,
                  static_cast<const std::byte*>(view.data) + offset, item);
      for (size_t d = rank; d-- > 0;) {
        if (++index[d] < view.shape[d]) break;
        index[d] = 0;
      }
    }
  }
}

BatchOutcome run_batch(const std::shared_ptr<const Model>& model_ptr, Batch& batch,
                       std::atomic<int>* in_ort, const CountOutcome& count) {
  const Model& model = *model_ptr;
  Tally tally(count);
  BatchOutcome& outcome = tally.outcome();
  const Clock::time_point now = Clock::now();
  // Requests cancelled or past their timeout are dropped, and the rows of the others moved
  // down over theirs, before anything runs. A late request is taken (started) first, so that
  // a cancel cannot race its failing once counted.
  std::vector<Batch::Entry> live;
  std::vector<std::shared_ptr<BatchRequest>> late;
  int64_t rows = 0;
  for (Batch::Entry& entry : batch.requests) {
    if (!entry.request->start()) {
      ++outcome.cancelled;
      continue;
    }
    const auto& deadline = entry.request->deadline();
    if (deadline && *deadline <= now) {
      late.push_back(entry.request);
      ++outcome.timed_out;
      continue;
    }
    outcome.queue_delay_ms.push_back(ms_between(entry.request->submitted(), now));
    if (entry.first_row != rows) {
      for (size_t i = 0; i < batch.buffers.size(); ++i) {
        std::memmove(
            batch.buffers[i].get() + static_cast<size_t>(rows) * batch.row_bytes[i],
            batch.buffers[i].get() + static_cast<size_t>(entry.first_row) * batch.row_bytes[i],
            static_cast<size_t>(entry.request->rows()) * batch.row_bytes[i]);
      }
    }
    live.push_back({entry.request, rows});
    rows += entry.request->rows();
  }
  if (!late.empty()) {
    tally.count();
    for (const auto& request : late) {
      request->fail(Error(ErrorKind::kTimedOut,
                          "the request was not started within its timeout of " +
                              seconds_text(*request->deadline() - request->submitted())));
    }
  }
  if (live.empty()) {
    tally.count();
    return std::move(outcome);
  }
  const auto run = [&](int64_t first_row, int64_t count) {
    const RunRequest request = request_for(model, batch, first_row, count);
    const Clock::time_point start = Clock::now();
    ++outcome.runs;
    outcome.run_rows.push_back(count);
    const InOrt counted(in_ort);
    std::vector<OwnedValue> results;
    try {
      results = model.run(request);
    } catch (...) {
      tally.count();  // a failed run counts too, before its requests fail
      throw;
    }
    const Clock::time_point end = Clock::now();
    outcome.run_ms.push_back(ms_between(start, end));
    // As in run_alone: a batch of one request's rows teaches that request's callers.
    model.quick_runs().record(run_key(request.inputs), end - start, false, RunStart::kWoken);
    tally.count();
    return results;
  };
  try {
    deliver(model_ptr, run(0, rows), live, rows);
    return std::move(outcome);
  } catch (const std::exception& error) {
    if (live.size() == 1) {
      live[0].request->fail(as_error(error));
      return std::move(outcome);
    }
  }
  // One request made the batch fail: each runs alone, so only the culprit gets an error.
  for (const Batch::Entry& entry : live) {
    try {
      deliver(model_ptr, run(entry.first_row, entry.request->rows()), {{entry.request, 0}},
              entry.request->rows());
    } catch (const std::exception& error) {
      entry.request->fail(as_error(error));
    }
  }
  return std::move(outcome);
}

BatchOutcome run_alone(const std::shared_ptr<const Model>& model_ptr,
                       const std::vector<const TensorView*>& inputs,
                       const std::shared_ptr<BatchRequest>& request, std::atomic<int>* in_ort,
                       const CountOutcome& count) {
  const Model& model = *model_ptr;
  Tally tally(count);
  BatchOutcome& outcome = tally.outcome();
  request->start();
  outcome.queue_delay_ms.push_back(0);
  RunRequest run;
  for (size_t i = 0; i < inputs.size(); ++i)
    run.inputs.push_back({model.inputs()[i].name, *inputs[i], ValueKind::kTensor, {}});
  for (size_t k = 0; k < model.outputs().size(); ++k) run.outputs.push_back(k);
  const Clock::time_point start = Clock::now();
  ++outcome.runs;
  outcome.run_rows.push_back(request->rows());
  try {
    std::vector<OwnedValue> results = [&] {
      const InOrt counted(in_ort);
      return model.run(run);
    }();
    const Clock::time_point end = Clock::now();
    outcome.run_ms.push_back(ms_between(start, end));
    // The caller does not hold the GIL (or another lock) around this run: others ran beside
    // it, so a slow one says nothing against an expectation (QuickRuns::record). Its thread
    // has often just woken from waiting for its last request's run.
    model.quick_runs().record(run_key(run.inputs), end - start, false, RunStart::kWoken);
    tally.count();
    deliver(model_ptr, std::move(results), {{request, 0}}, request->rows());
  } catch (const std::exception& error) {
    tally.count();
    request->fail(as_error(error));
  }
  return std::move(outcome);
}

}  // namespace fastort::detail
