#include "fastort/quick_runs.hpp"

#include <algorithm>

#include "fastort/model.hpp"

namespace fastort {
namespace {

// A multiply-and-fold hash of 64-bit words: one multiplication per word, on the hot path.
struct KeyHash {
  uint64_t value = 0xcbf29ce484222325ULL;
  void add(uint64_t word) noexcept {
    value = (value ^ word) * 0x9e3779b97f4a7c15ULL;
    value ^= value >> 29;
  }
};

// Adds one tensor's type and shape to `hash`; false when its bytes exceed kMaxRunBytes (a
// shape's product may not fit in 64 bits: it is checked dim by dim).
bool add_tensor(const TensorView& view, KeyHash& hash, size_t& bytes) noexcept {
  hash.add(static_cast<uint64_t>(view.type));
  hash.add(view.shape.size());
  size_t tensor = view.strings != nullptr ? 0 : element_size(view.type);
  for (int64_t dim : view.shape) {
    hash.add(static_cast<uint64_t>(dim));
    // A zero-size dim is taken as 1: later nodes may read the other dims (Shape), and a
    // [0, 50000000] tensor is not small.
    const auto counted = static_cast<size_t>(std::max<int64_t>(dim, 1));
    if (counted > kMaxRunBytes || (tensor != 0 && tensor > kMaxRunBytes / counted)) return false;
    tensor *= counted;
  }
  if (view.strings != nullptr) {
    for (const std::string& text : *view.strings) {
      tensor += text.size() + 1;
      if (tensor > kMaxRunBytes) return false;
    }
  }
  bytes += tensor;
  return bytes <= kMaxRunBytes;
}

}  // namespace

void QuickRuns::never() noexcept {
  never_.store(true, std::memory_order_relaxed);
  forget();
}

void QuickRuns::forget() noexcept {
  for (auto& slot : known_) slot.store(0, std::memory_order_relaxed);
}

void QuickRuns::record(uint64_t key, std::chrono::nanoseconds elapsed, bool expected_quick,
                       RunStart start) noexcept {
  if (key == 0 || never_.load(std::memory_order_relaxed)) return;
  uint64_t left = pause_left_.load(std::memory_order_relaxed);
  while (left > 0) {
    if (pause_left_.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) return;
  }
  if (start == RunStart::kWoken) {
    if (elapsed < kSlow) known_[key % kSlots].store(key, std::memory_order_relaxed);
    return;
  }
  if (elapsed < kQuick) {
    if (expected_quick) {
      int score = score_.load(std::memory_order_relaxed);
      while (score > 0 &&
             !score_.compare_exchange_weak(score, score - 1, std::memory_order_relaxed)) {
      }
      const int doublings = doublings_.load(std::memory_order_relaxed);
      if (doublings > 0 &&
          since_pause_.fetch_add(1, std::memory_order_relaxed) + 1 >= kFirstPause << doublings) {
        since_pause_.store(0, std::memory_order_relaxed);
        doublings_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    known_[key % kSlots].store(key, std::memory_order_relaxed);
  } else if (expected_quick) {
    const int weight = elapsed >= kVerySlow ? kPauseScore : elapsed > kSlow ? kSurprise : kNearMiss;
    if (score_.fetch_add(weight, std::memory_order_relaxed) + weight >= kPauseScore) pause();
  }
}

void QuickRuns::pause() noexcept {
  forget();
  score_.store(0, std::memory_order_relaxed);
  since_pause_.store(0, std::memory_order_relaxed);
  int doublings = doublings_.load(std::memory_order_relaxed);
  while (!doublings_.compare_exchange_weak(doublings, std::min(doublings + 1, kMaxDoublings),
                                           std::memory_order_relaxed)) {
  }
  pause_left_.store(kFirstPause << doublings, std::memory_order_relaxed);
}

uint64_t run_key(const std::vector<NamedInput>& inputs) noexcept {
  KeyHash hash;
  size_t bytes = 0;
  for (const NamedInput& input : inputs) {
    hash.add(static_cast<uint64_t>(input.kind));  // an optional input left without a value
    if (!add_tensor(input.tensor, hash, bytes)) return 0;
    hash.add(input.parts.size());
    for (const TensorView& part : input.parts) {
      if (!add_tensor(part, hash, bytes)) return 0;
    }
  }
  return hash.value == 0 ? 1 : hash.value;
}

}  // namespace fastort
