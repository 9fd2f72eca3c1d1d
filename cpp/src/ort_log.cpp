#include "fastort/ort_log.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>

#include "fork_hooks.hpp"

namespace fastort {
namespace {

// A model that warns on every run must not grow memory without bound.
constexpr size_t kMaxWaiting = 1000;

struct Log {
  std::mutex mutex;
  std::deque<OrtLogRecord> records;
  size_t dropped = 0;
  uint64_t logged = 0;
  std::atomic<bool> pending{false};
};

Log& log() {
  static Log* instance = new Log();  // never destroyed: ORT may log during exit
  return *instance;
}

}  // namespace

bool ort_log_pending() noexcept { return log().pending.load(std::memory_order_relaxed); }

std::vector<OrtLogRecord> take_ort_log(size_t& dropped) {
  Log& l = log();
  std::lock_guard<std::mutex> lock(l.mutex);
  std::vector<OrtLogRecord> taken(std::make_move_iterator(l.records.begin()),
                                  std::make_move_iterator(l.records.end()));
  l.records.clear();
  dropped = l.dropped;
  l.dropped = 0;
  l.pending.store(false, std::memory_order_relaxed);
  return taken;
}

uint64_t ort_log_mark() noexcept {
  Log& l = log();
  std::lock_guard<std::mutex> lock(l.mutex);
  return l.logged;
}

void discard_ort_log(uint64_t mark) noexcept {
  Log& l = log();
  std::lock_guard<std::mutex> lock(l.mutex);
  const std::thread::id self = std::this_thread::get_id();
  l.records.erase(std::remove_if(l.records.begin(), l.records.end(),
                                 [&](const OrtLogRecord& record) {
                                   return record.thread == self && record.number >= mark;
                                 }),
                  l.records.end());
  l.pending.store(!l.records.empty() || l.dropped > 0, std::memory_order_relaxed);
}

namespace detail {

void collect_ort_log(void*, int severity, const char* category, const char* logid,
                     const char* location, const char* message) noexcept {
  try {
    OrtLogRecord record{severity,           category ? category : "", location ? location : "",
                        logid ? logid : "", message ? message : "",   std::this_thread::get_id()};
    Log& l = log();
    std::lock_guard<std::mutex> lock(l.mutex);
    record.number = l.logged++;
    if (l.records.size() >= kMaxWaiting) {
      l.records.pop_front();
      ++l.dropped;
    }
    l.records.push_back(std::move(record));
    l.pending.store(true, std::memory_order_relaxed);
  } catch (...) {
    // Out of memory while logging: the record is lost, ORT goes on.
  }
}

void ort_log_before_fork() { log().mutex.lock(); }
void ort_log_after_fork(bool) { log().mutex.unlock(); }

}  // namespace detail
}  // namespace fastort
