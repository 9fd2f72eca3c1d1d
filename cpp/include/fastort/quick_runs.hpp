// Which runs of a model are quick: shorter than handing a lock to another thread and back.
//
// Python's GIL is the lock in question. Releasing it around a run lets other threads work
// meanwhile, but when the run takes a few microseconds the hand-over costs more than it
// frees: eight threads calling a 3 us model with the GIL released get 0.4x the calls of one
// thread, and 0.96x with it held. numpy keeps the GIL for small operations for the same
// reason. A caller asks expected() before a run and reports timed runs with record().
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastort/tensor.hpp"

namespace fastort {

struct NamedInput;

class QuickRuns {
 public:
  // A run under this is quick. Measured on a 2-core VM: a Sigmoid run of ~4 us gave 8
  // threads 1.0x of one thread with the GIL held and 0.5x released; one of ~6 us gave 2
  // threads 1.5x released and 0.9x held, 8 threads about the same either way.
  static constexpr std::chrono::nanoseconds kQuick{5000};
  // A run expected quick that takes longer than this was a surprise.
  static constexpr std::chrono::nanoseconds kSlow{2 * kQuick};
  static constexpr std::chrono::nanoseconds kVerySlow{1000000};
  // Inputs beyond this are never expected quick, whatever was measured.
  static constexpr size_t kMaxBytes = 64 * 1024;
  // A surprise adds kSurprise to a score (half of kGiveUp when it took kVerySlow or more), a
  // run expected quick that was quick takes one off. At kGiveUp no run is expected quick for
  // a pause of kFirstPause recorded runs, doubled at each further time: the model's time does
  // not follow the size of its inputs, or the machine is busy. A rare slow run (the thread
  // preempted) does not get there; a machine busy for a while does not end quick runs for
  // good; a model whose time follows its values keeps the GIL through a long run ever more
  // rarely.
  static constexpr int kSurprise = 16;
  static constexpr int kGiveUp = 4 * kSurprise;
  static constexpr uint64_t kFirstPause = 256;
  static constexpr int kMaxDoublings = 24;

  // True when runs fed as many bytes were measured quick (and no pause began since).
  bool expected(size_t input_bytes) const noexcept {
    return input_bytes < below_.load(std::memory_order_relaxed);
  }
  // No run is expected quick, from now on.
  void never() noexcept {
    never_.store(true, std::memory_order_relaxed);
    below_.store(0, std::memory_order_relaxed);
  }
  // Learns from one completed run fed `input_bytes` that took `elapsed`; `expected_quick`:
  // what expected() said before it. Only such a run can show the expectation wrong: one run
  // beside others (the lock released) may be slowed by them.
  void record(size_t input_bytes, std::chrono::nanoseconds elapsed, bool expected_quick) noexcept;

 private:
  void pause() noexcept;

  // Runs fed fewer bytes than this are expected quick; 0 until a run was measured quick.
  std::atomic<size_t> below_{0};
  std::atomic<int> score_{0};            // the surprises, as above
  std::atomic<uint64_t> pause_left_{0};  // recorded runs until quick runs are learned again
  std::atomic<int> pauses_{0};
  std::atomic<bool> never_{false};
};

// The bytes a run reads from its inputs (tensors, and the parts of sequences and maps).
size_t input_bytes(const std::vector<NamedInput>& inputs) noexcept;

}  // namespace fastort
