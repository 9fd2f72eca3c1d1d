// Private: one batch of requests, from the copy of their rows to their outputs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "fastort/batcher.hpp"

namespace fastort::detail {

// The rows of a request: the first dim of its inputs, the same for all. Throws
// Error(kInvalidArgument) otherwise.
int64_t request_rows(const Model& model, const std::vector<const TensorView*>& inputs);

struct Batch {
  struct Entry {
    std::shared_ptr<BatchRequest> request;
    int64_t first_row;
  };

  // Room for `capacity` rows of inputs shaped like `inputs` (model order) after the first dim.
  Batch(const Model& model, const std::vector<const TensorView*>& inputs,
        std::vector<std::vector<int64_t>> key, int64_t capacity, bool began_under_load);

  // Copies `rows` rows of every input to rows [first_row, first_row + rows) of the batch.
  void copy_rows(const std::vector<const TensorView*>& inputs, int64_t first_row, int64_t rows);

  std::vector<std::vector<int64_t>> key;  // per input: the dims after the first
  std::vector<ElementType> types;
  std::vector<size_t> row_bytes;  // per input
  std::vector<std::unique_ptr<std::byte[]>> buffers;
  int64_t capacity;
  int64_t rows = 0;
  std::vector<Entry> requests;
  int pending_copies = 0;  // submitters copying rows in
  bool sealed = false;     // no more requests go in
  bool claimed = false;    // a worker waits for it to fill, or runs it
  bool began_under_load;
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_arrival = began;
};

struct BatchOutcome {
  uint64_t runs = 0;  // ORT runs: 1, or one per request after a failed batch
  // Requests dropped: cancelled (a Batcher counts those as they are cancelled instead), or not
  // started before their timeout.
  uint64_t cancelled = 0, timed_out = 0;
  std::vector<int64_t> run_rows;  // the rows of each of those runs
  std::vector<double> queue_delay_ms, run_ms;
};

// Told a part of a batch's outcome before any request it concerns completes, so that a client
// woken by its request finds that request counted (Batcher::stats). Called on the running
// thread, without the caller's locks; each part is counted once.
using CountOutcome = std::function<void(const BatchOutcome&)>;

// Runs the batch's requests that are neither cancelled nor past their timeout, and completes
// every request. When the batch fails in ONNX Runtime, each request runs again alone, so
// only the culprit fails, with the error of its own run. Returns the whole outcome.
// `in_ort`, when given, counts the calls into ONNX Runtime in progress: the batcher tells by it
// whether a request arrives under load (not while the worker only hands results out).
BatchOutcome run_batch(const std::shared_ptr<const Model>& model, Batch& batch,
                       std::atomic<int>* in_ort = nullptr, const CountOutcome& count = {});

// Runs one request alone on the caller's arrays (model order), without copying them, and
// completes it.
BatchOutcome run_alone(const std::shared_ptr<const Model>& model,
                       const std::vector<const TensorView*>& inputs,
                       const std::shared_ptr<BatchRequest>& request,
                       std::atomic<int>* in_ort = nullptr, const CountOutcome& count = {});

}  // namespace fastort::detail
