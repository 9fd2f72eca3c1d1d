// A process-wide pool of worker threads for data-parallel kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace fastort {

// The most threads any option of fastort accepts (a session's intra- and inter-op threads, an
// image transform's threads), and the most the pool runs at once, the caller included.
inline constexpr int kMaxThreads = 1024;

// Throws Error(kInvalidArgument) naming `option` unless 0 <= value <= kMaxThreads, where 0
// means the default. The one check of every thread-count option.
void check_threads(const char* option, int64_t value);

// Runs body(i) for every i in [0, count) on up to `max_threads` threads, the calling thread
// included, and returns when all are done. The first exception thrown by a body is rethrown
// here (the remaining indices still run). max_threads <= 0 means hardware_threads();
// at most kMaxThreads run.
void parallel_for(size_t count, int max_threads, const std::function<void(size_t)>& body);

// Hardware threads this process may use (at least 1): cpu_budget().worker_threads(), read
// once. What max_threads <= 0 means.
int hardware_threads() noexcept;

}  // namespace fastort
