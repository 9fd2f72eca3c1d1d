#include "fastort/debug_counters.hpp"

#include <atomic>

namespace fastort {
namespace {
std::atomic<uint64_t> g_input_bytes_copied{0};
std::atomic<uint64_t> g_output_bytes_copied{0};
std::atomic<int64_t> g_live_values{0};
std::atomic<uint64_t> g_image_bytes_copied{0};
std::atomic<uint64_t> g_quick_runs{0};
std::atomic<uint64_t> g_repeated_runs{0};
}  // namespace

DebugCounters debug_counters() noexcept {
  return {g_input_bytes_copied.load(std::memory_order_relaxed),
          g_output_bytes_copied.load(std::memory_order_relaxed),
          g_live_values.load(std::memory_order_relaxed),
          g_image_bytes_copied.load(std::memory_order_relaxed),
          g_quick_runs.load(std::memory_order_relaxed),
          g_repeated_runs.load(std::memory_order_relaxed)};
}

namespace detail {
void count_input_copy(uint64_t bytes) noexcept {
  g_input_bytes_copied.fetch_add(bytes, std::memory_order_relaxed);
}
void count_output_copy(uint64_t bytes) noexcept {
  g_output_bytes_copied.fetch_add(bytes, std::memory_order_relaxed);
}
void count_value_created() noexcept { g_live_values.fetch_add(1, std::memory_order_relaxed); }
void count_value_destroyed() noexcept { g_live_values.fetch_sub(1, std::memory_order_relaxed); }
void count_image_copy(uint64_t bytes) noexcept {
  g_image_bytes_copied.fetch_add(bytes, std::memory_order_relaxed);
}
void count_quick_run() noexcept { g_quick_runs.fetch_add(1, std::memory_order_relaxed); }
void count_repeated_run() noexcept { g_repeated_runs.fetch_add(1, std::memory_order_relaxed); }
}  // namespace detail

}  // namespace fastort
