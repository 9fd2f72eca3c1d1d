#include "fastort/quick_runs.hpp"

#include <algorithm>

#include "fastort/model.hpp"

namespace fastort {
namespace {

// Bytes of one tensor, saturating just above QuickRuns::kMaxBytes: only "small or not" matters,
// and a shape's product may not fit in 64 bits.
size_t tensor_bytes(const TensorView& view) noexcept {
  constexpr size_t kBeyond = QuickRuns::kMaxBytes + 1;
  size_t bytes = 1;
  if (view.strings != nullptr) {
    for (const std::string& text : *view.strings) {
      bytes += text.size() + 1;
      if (bytes >= kBeyond) return kBeyond;
    }
    return bytes;
  }
  bytes = element_size(view.type);
  for (int64_t dim : view.shape) {
    if (dim <= 0) return 0;
    if (static_cast<size_t>(dim) >= kBeyond) return kBeyond;
    bytes *= static_cast<size_t>(dim);
    if (bytes >= kBeyond) return kBeyond;
  }
  return bytes;
}

}  // namespace

void QuickRuns::record(size_t input_bytes, std::chrono::nanoseconds elapsed,
                       bool expected_quick) noexcept {
  if (never_.load(std::memory_order_relaxed)) return;
  uint64_t left = pause_left_.load(std::memory_order_relaxed);
  while (left > 0) {
    if (pause_left_.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) return;
  }
  if (elapsed < kQuick) {
    if (expected_quick) {
      int score = score_.load(std::memory_order_relaxed);
      while (score > 0 &&
             !score_.compare_exchange_weak(score, score - 1, std::memory_order_relaxed)) {
      }
    }
    if (input_bytes >= kMaxBytes) return;
    // Every smaller input is taken as quick too: a model's time grows with what it is fed.
    size_t below = below_.load(std::memory_order_relaxed);
    while (below <= input_bytes &&
           !below_.compare_exchange_weak(below, input_bytes + 1, std::memory_order_relaxed)) {
    }
  } else if (elapsed > kSlow && expected_quick) {
    const int weight = elapsed >= kVerySlow ? kGiveUp / 2 : kSurprise;
    if (score_.fetch_add(weight, std::memory_order_relaxed) + weight >= kGiveUp) pause();
  }
}

void QuickRuns::pause() noexcept {
  below_.store(0, std::memory_order_relaxed);
  score_.store(0, std::memory_order_relaxed);
  const int doublings = std::min(pauses_.fetch_add(1, std::memory_order_relaxed), kMaxDoublings);
  pause_left_.store(kFirstPause << doublings, std::memory_order_relaxed);
}

size_t input_bytes(const std::vector<NamedInput>& inputs) noexcept {
  size_t total = 0;
  for (const NamedInput& input : inputs) {
    total += tensor_bytes(input.tensor);
    for (const TensorView& part : input.parts) total += tensor_bytes(part);
    if (total > QuickRuns::kMaxBytes) return QuickRuns::kMaxBytes + 1;
  }
  return total;
}

}  // namespace fastort
