// Session.run called again with the arrays of one of the thread's recent calls: a loop over the
// same buffers, the usual shape of a latency-critical caller (or a few models in turn, each over
// its buffers).
//
// Every check a run makes (names, dtypes, shapes, contiguity, alignment, out arrays that are
// writable and overlap nothing) depends only on the names and on each array's memory address,
// dtype, shape and flags; the ONNX Runtime values made for the arrays record the same address,
// type and shape and own nothing. A later call whose arrays match in all of these, whatever
// the array objects are, can run the PreparedRun made for the first: nothing is checked,
// viewed or wrapped again. Only arrays read in place qualify (numeric, C-contiguous, aligned,
// fed as tensors); anything else runs as before.
#pragma once

#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fastort/model.hpp"
#include "fastort/reused_per_thread.hpp"
#include "run_bindings.hpp"

namespace fastort::bindings {

class RepeatedRun {
 public:
  // Whether this call passes what the recorded one did: same model (alive), same requested
  // outputs, dicts of exactly the same names and matching arrays, in the same order. If so,
  // `call` gets what run_borrowed reads (the requested outputs, the out arrays, strong
  // references to every array) and prepared() is ready to run.
  bool matches(const Model& model, pybind11::handle output_names, pybind11::handle input_feed,
               pybind11::handle out, BorrowedCall& call);

  // After borrow_inputs and borrow_outputs filled `call` (and nothing matched): prepares the
  // run into prepared() and records it when its arrays qualify. Throws what prepare_into
  // throws (the call's inputs are invalid); nothing is recorded then.
  void record(const std::shared_ptr<Model>& model, pybind11::handle output_names,
              pybind11::handle input_feed, pybind11::handle out, const BorrowedCall& call);

  // The run matches() found or record() prepared, and its run_key.
  PreparedRun& prepared() noexcept { return prepared_; }
  uint64_t key() const noexcept { return key_; }
  // The first dim of the first recorded input (a batcher's request rows); 0 if it has none.
  int64_t leading_dim() const noexcept {
    return inputs_.empty() || inputs_[0].array.rank == 0 ? 0 : inputs_[0].array.dims[0];
  }
  // The memory of the first recorded input (null: none), which tells most calls apart at once.
  const void* first_data() const noexcept {
    return inputs_.empty() ? nullptr : inputs_[0].array.data;
  }
  // Whether record() recorded the call (its arrays are read in place, from plain dicts).
  bool recorded() const noexcept { return valid_; }
  // After a recorded run: empties prepared() unless it was recorded (it may hold copies).
  void forget_unrecorded() noexcept;

 private:
  // What an array's view and ORT value depend on.
  struct ArrayKey {
    void* data = nullptr;
    int type_num = 0;
    char kind = 0, type = 0, byteorder = 0;
    int flags = 0;  // contiguity, alignment, writability
    int rank = 0;
    std::array<int64_t, 8> dims{};
  };
  struct Item {
    std::string name;
    ArrayKey array;
    size_t output = 0;  // out items: the position among the requested outputs
  };

  static bool key_of(pybind11::handle value, ArrayKey& key);
  static bool same_name(pybind11::handle name, const std::string& recorded);
  // The item of `name` and array `value`, viewed as `view` by the call being recorded; false
  // for an item that cannot be recorded (not a plain array of a numpy numeric dtype, or not
  // what was viewed).
  static bool record_item(pybind11::handle name, pybind11::handle value, const TensorView& view,
                          Item& item);
  bool same_items(pybind11::handle dict, const std::vector<Item>& items) const;
  bool same_output_names(pybind11::handle output_names) const;

  bool valid_ = false;
  const Model* model_ = nullptr;
  std::weak_ptr<const Model> alive_;  // model_ is the same model while this has not expired
  bool all_outputs_ = true;           // output_names was None or empty
  std::vector<std::string> output_names_;
  std::vector<size_t> outputs_;  // the request's output indices
  bool has_out_ = false;
  std::vector<Item> inputs_, outs_;
  PreparedRun prepared_;
  uint64_t key_ = 0;
};

// Clears a RepeatedRun's prepared run when it was not recorded: it may hold copies of inputs.
// Null: nothing to clear.
struct ForgetUnrecorded {
  RepeatedRun* run;
  ~ForgetUnrecorded() {
    if (run != nullptr) run->forget_unrecorded();
  }
};

// Whose record a thread keeps: Session.run's, or the batchers' quick requests' (which passed
// the Batcher's own checks as well: a record of Session.run's may feed an initializer).
struct SessionRuns;
struct BatcherRuns;

// A thread's few RepeatedRuns, so that a loop whose calls go to a few models in turn (a
// detector, then a classifier) or over a few feeds in turn finds each call's record.
class RepeatedRuns {
 public:
  // The calls kept: the most recent ones that could be recorded.
  static constexpr size_t kRecords = 4;

  // The record this call repeats (RepeatedRun::matches filled `call`), or null.
  RepeatedRun* match(const Model& model, pybind11::handle output_names, pybind11::handle input_feed,
                     pybind11::handle out, BorrowedCall& call);
  // RepeatedRun::record into the least recently used record. A call that cannot be recorded
  // (or is refused: this throws what RepeatedRun::record throws) takes the place of none of
  // the last kRecords that were: it goes to a spare, which the next call takes first.
  RepeatedRun& record(const std::shared_ptr<Model>& model, pybind11::handle output_names,
                      pybind11::handle input_feed, pybind11::handle out, const BorrowedCall& call);

 private:
  std::array<RepeatedRun, kRecords + 1> runs_;  // one spare
  std::array<uint64_t, kRecords + 1> used_{};   // when each was last matched or recorded; 0: not
  uint64_t clock_ = 0;
};

// The thread's records for `Use` for the length of one call; null for a call made while
// another call on this thread uses them (a run from a signal handler that interrupted a run).
template <typename Use>
using ThreadRepeatedRuns = ThreadExclusive<RepeatedRuns, Use>;

}  // namespace fastort::bindings
