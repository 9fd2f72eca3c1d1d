// Process-wide counters that make the zero-copy and no-leak claims testable.
#pragma once

#include <cstdint>

namespace fastort {

struct DebugCounters {
  // Bytes of inputs copied: strided or unaligned arrays, and rows queued in a Batcher.
  uint64_t input_bytes_copied = 0;
  uint64_t output_bytes_copied = 0;  // bytes copied because ORT returned an input's own memory
  int64_t live_values = 0;           // OwnedValue objects currently alive
  uint64_t image_bytes_copied = 0;   // bytes copied because an image's pixels were not packed
  uint64_t quick_runs = 0;     // runs expected quick (QuickRuns), run without releasing the GIL
  uint64_t repeated_runs = 0;  // Session.run calls over the arrays of the thread's last call
};

DebugCounters debug_counters() noexcept;

namespace detail {
void count_input_copy(uint64_t bytes) noexcept;
void count_output_copy(uint64_t bytes) noexcept;
void count_value_created() noexcept;
void count_value_destroyed() noexcept;
void count_image_copy(uint64_t bytes) noexcept;
void count_quick_run() noexcept;
void count_repeated_run() noexcept;
}  // namespace detail

}  // namespace fastort
