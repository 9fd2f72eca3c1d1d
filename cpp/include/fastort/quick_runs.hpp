// Which runs of a model are quick: shorter than handing a lock to another thread and back.
//
// Python's GIL is the lock in question. Releasing it around a run lets other threads work
// meanwhile, but when the run takes a few microseconds the hand-over costs more than it
// frees: eight threads calling a 3 us model with the GIL released get 0.4x the calls of one
// thread, and 0.96x with it held. numpy keeps the GIL for small operations for the same
// reason. A caller asks expected() before a run and reports every run it timed with record().
//
// Runs are told apart by the shapes and element types of their inputs (run_key): a run of
// shapes measured quick is expected quick again. Input values can change a run's time too (a
// Loop's trip count, ConstantOfShape's shape); a run expected quick that was not is a
// surprise, and surprises pause the expectations (see kSurprise).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastort/tensor.hpp"

namespace fastort {

struct NamedInput;

// How a timed run began: on a thread that was running already, or on one that had just woken
// from a wait (a batcher's worker given a batch, a client back from waiting for its last
// result). A run of a tiny model begun on such a thread, on a core its wait left cold, takes
// two to three times the same run's time on a busy thread: 8.5-9 us against 2.6 us for a
// Sigmoid run on a 2-core VM.
enum class RunStart { kBusy, kWoken };

class QuickRuns {
 public:
  // A run under this is quick. Measured on a 2-core VM: a Sigmoid run of ~4 us gave 8
  // threads 1.0x of one thread with the GIL held and 0.5x released; one of ~6 us gave 2
  // threads 1.5x released and 0.9x held, 8 threads about the same either way.
  static constexpr std::chrono::nanoseconds kQuick{5000};
  // A run expected quick that takes longer than this is a surprise.
  static constexpr std::chrono::nanoseconds kSlow{2 * kQuick};
  // A surprise adds kSurprise to a score, a run expected quick that was quick takes one off:
  // rare slow runs (the thread preempted) are forgiven. A near miss (between kQuick and kSlow)
  // adds kNearMiss: runs learned quick on a woken thread (below) that are not, on a busy one,
  // are let go once they are a third of the runs. A score of kPauseScore, or one run of
  // kVerySlow or more (Python's own switch interval: no thread is meant to keep the GIL
  // longer), pauses the expectations for kFirstPause recorded runs, doubled at each further
  // pause, halved again after as many runs expected quick without one: a model whose time
  // follows its input values keeps the GIL through a long run ever more rarely, and a busy
  // machine does not end quick runs for good.
  static constexpr int kSurprise = 16;
  static constexpr int kNearMiss = 2;
  static constexpr int kPauseScore = 4 * kSurprise;
  static constexpr std::chrono::nanoseconds kVerySlow{5000000};
  static constexpr uint64_t kFirstPause = 256;
  static constexpr int kMaxDoublings = 24;
  // Runs of the shapes of this many inputs at once are remembered (the latest of those whose
  // keys fall in the same slot).
  static constexpr size_t kSlots = 16;

  // True when a run of these inputs' shapes (run_key) was measured quick, and no pause began
  // since.
  bool expected(uint64_t key) const noexcept {
    return key != 0 && known_[key % kSlots].load(std::memory_order_relaxed) == key;
  }
  // No run is expected quick, from now on.
  void never() noexcept;
  // Learns from one completed run of `key` that took `elapsed`; `expected_quick`: what
  // expected() said before it. Only such a run can show the expectation wrong: one run beside
  // others (the lock released) may be slowed by them. A run that began on a woken thread is
  // quick under kSlow (a run that short on a busy thread is quick, or so near it that keeping
  // the GIL costs nothing) and is never a surprise: a client that only waits for batches
  // would otherwise never learn that its runs are quick, and never stop waiting.
  void record(uint64_t key, std::chrono::nanoseconds elapsed, bool expected_quick,
              RunStart start = RunStart::kBusy) noexcept;

 private:
  void forget() noexcept;
  void pause() noexcept;

  std::array<std::atomic<uint64_t>, kSlots> known_{};  // keys of quick runs; 0: none
  std::atomic<int> score_{0};                          // the surprises, as above
  std::atomic<uint64_t> pause_left_{0};  // recorded runs until quick runs are learned again
  std::atomic<int> doublings_{0};
  std::atomic<uint64_t> since_pause_{0};  // runs expected quick that were, since the last pause
  std::atomic<bool> never_{false};
};

// A run's inputs as QuickRuns tells runs apart: a hash of their kinds, element types and
// shapes (zero-size dims included). 0 for inputs of more than kMaxRunBytes, never quick.
constexpr size_t kMaxRunBytes = 64 * 1024;
uint64_t run_key(const std::vector<NamedInput>& inputs) noexcept;

}  // namespace fastort
