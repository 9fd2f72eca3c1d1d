// Model's profiling: ORT traces every run of a session made with enable_profiling and writes
// the trace when profiling ends. Such sessions are never shared through the cache, so the
// trace and its end belong to one owner.
#include "fastort/error.hpp"
#include "fastort/model.hpp"
#include "ort_error.hpp"

namespace fastort {

std::string Model::end_profiling() const {
  return detail::call_ort(ErrorKind::kRuntime, "cannot end profiling", [&] {
    Ort::AllocatorWithDefaultOptions allocator;
    return std::string(session_.EndProfilingAllocated(allocator).get());
  });
}

uint64_t Model::profiling_start_ns() const {
  return detail::call_ort(ErrorKind::kRuntime, "cannot read the profiling start",
                          [&] { return session_.GetProfilingStartTimeNs(); });
}

}  // namespace fastort
