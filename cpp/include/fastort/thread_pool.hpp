// A process-wide pool of worker threads for data-parallel kernels.
#pragma once

#include <cstddef>
#include <functional>

namespace fastort {

// Runs body(i) for every i in [0, count) on up to `max_threads` threads, the calling thread
// included, and returns when all are done. The first exception thrown by a body is rethrown
// here (the remaining indices still run). max_threads <= 0 means one per hardware thread.
void parallel_for(size_t count, int max_threads, const std::function<void(size_t)>& body);

// Hardware threads of this machine (at least 1).
int hardware_threads() noexcept;

}  // namespace fastort
