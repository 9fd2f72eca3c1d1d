// ONNX Runtime's log, collected instead of printed to stderr.
//
// ORT logs from its own threads and during Run, where nothing may call into Python; records
// wait here until the bindings hand them to Python's logging, after a load or a run.
#pragma once

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace fastort {

struct OrtLogRecord {
  int severity = 0;  // OrtLoggingLevel: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
  std::string category;
  std::string location;  // ORT's source file and line
  std::string logid;     // the session's or run's log id
  std::string message;
  std::thread::id thread;  // the thread ORT logged it on
  uint64_t number = 0;     // records logged before it in this process
};

// True when records are waiting; cheap enough to ask after every run.
bool ort_log_pending() noexcept;

// The waiting records, oldest first, and how many were dropped because too many waited.
std::vector<OrtLogRecord> take_ort_log(size_t& dropped);

// The number the next record will get: a mark for discard_ort_log.
uint64_t ort_log_mark() noexcept;
// Drops the waiting records that the calling thread logged from `mark` on: those of a run
// whose failure the caller handles itself (it runs it again another way).
void discard_ort_log(uint64_t mark) noexcept;

namespace detail {
// The OrtLoggingFunction that the process-wide environment is created with.
void collect_ort_log(void* param, int severity, const char* category, const char* logid,
                     const char* location, const char* message) noexcept;
}  // namespace detail

}  // namespace fastort
