#include "fastort/model_cache.hpp"

#include <filesystem>

#include "fastort/error.hpp"
#include "fastort/runtime.hpp"
#include "fork_hooks.hpp"
#include "platform.hpp"

namespace fastort {
namespace {

std::string canonical_path(const std::string& path) {
  std::error_code error;
  auto canonical = std::filesystem::canonical(path, error);
  // A missing path is reported by Model::load_file with the caller's spelling.
  return error ? path : canonical.string();
}

// While ONNX Runtime logs verbose or info records, for the process or for these options, a
// load is not shared: its log is what the caller turned them on for, and a hit logs nothing.
bool logs_its_load(const SessionOptions& options) {
  constexpr int kWarning = 2;
  const int session = options.settings.log_severity_level;
  return ort_log_severity() < kWarning || (session >= 0 && session < kWarning);
}

}  // namespace

bool caches_bytes(CachePolicy policy) noexcept { return policy == CachePolicy::kShared; }

std::shared_ptr<Model> open_model_file(const std::string& path, const SessionOptions& options,
                                       CachePolicy policy) {
  if (policy == CachePolicy::kPrivate || !options.shareable() || logs_its_load(options)) {
    return Model::load_file(path, options);
  }
  return ModelCache::global().load_file(path, options);
}

std::shared_ptr<Model> open_model_bytes(std::string_view model, std::string_view digest,
                                        const SessionOptions& options, CachePolicy policy) {
  if (!caches_bytes(policy) || !options.shareable() || logs_its_load(options)) {
    return Model::load_bytes(model, options);
  }
  if (digest.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "model bytes shared through the cache need a digest");
  }
  return ModelCache::global().load_bytes(digest, model, options);
}

ModelCache& ModelCache::global() {
  static ModelCache* cache = new ModelCache();
  return *cache;
}

std::shared_ptr<Model> ModelCache::load_file(const std::string& path,
                                             const SessionOptions& options) {
  Key key{"file:" + canonical_path(path), platform::file_stamp(path), options.cache_key()};
  if (auto session = find(key)) return session;
  // Loaded without the lock: loads take milliseconds to seconds and other models may be
  // wanted meanwhile. Two threads missing at once both load; the later insert wins.
  auto session = Model::load_file(path, options);
  insert(std::move(key), session);
  return session;
}

std::shared_ptr<Model> ModelCache::load_bytes(std::string_view identity, std::string_view model,
                                              const SessionOptions& options) {
  Key key{"bytes:" + std::string(identity), std::to_string(model.size()), options.cache_key()};
  if (auto session = find(key)) return session;
  auto session = Model::load_bytes(model, options);
  insert(std::move(key), session);
  return session;
}

namespace {

// True while every external data file is the version the session read.
bool external_data_unchanged(const Model& session) {
  for (const ExternalFile& file : session.external_data()) {
    if (platform::file_stamp(file.path) != file.stamp) return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<Model> ModelCache::find(const Key& key) {
  std::shared_ptr<Model> found;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->key == key) {
        entries_.splice(entries_.begin(), entries_, it);
        found = it->session;
        break;
      }
    }
  }
  // Checked without the lock: a model may have many external files. A changed one makes
  // this a miss, and the reload replaces the entry.
  const bool hit = found != nullptr && external_data_unchanged(*found);
  std::lock_guard<std::mutex> lock(mutex_);
  ++(hit ? hits_ : misses_);
  return hit ? found : nullptr;
}

void ModelCache::insert(Key key, std::shared_ptr<Model> session) {
  // Evicted sessions are released after the lock: ORT's teardown can take a while.
  std::list<Entry> evicted;
  std::lock_guard<std::mutex> lock(mutex_);
  if (max_size_ == 0) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    // Same source and options: a concurrent load of the same file, or a stale version of it.
    if (it->key.source == key.source && it->key.options == key.options) {
      evicted.splice(evicted.end(), entries_, it);
    }
    it = next;
  }
  entries_.push_front(Entry{std::move(key), std::move(session)});
  trim(evicted);
}

void ModelCache::trim(std::list<Entry>& evicted) {
  while (entries_.size() > max_size_) {
    evicted.splice(evicted.end(), entries_, std::prev(entries_.end()));
  }
}

void ModelCache::clear() {
  std::list<Entry> evicted;
  std::lock_guard<std::mutex> lock(mutex_);
  evicted.swap(entries_);
  hits_ = 0;
  misses_ = 0;
}

CacheInfo ModelCache::info() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return CacheInfo{hits_, misses_, max_size_, entries_.size()};
}

void ModelCache::set_max_size(size_t max_size) {
  std::list<Entry> evicted;
  std::lock_guard<std::mutex> lock(mutex_);
  max_size_ = max_size;
  trim(evicted);
}

void ModelCache::before_fork() { mutex_.lock(); }

void ModelCache::after_fork(bool child) {
  // A child does not share the parent's cache: it loads its own sessions on first use. The
  // parent's are dropped (their ORT sessions are left undestroyed, see ~Model).
  std::list<Entry> dropped;
  if (child) dropped.swap(entries_);
  mutex_.unlock();
}

namespace detail {
void cache_before_fork() { ModelCache::global().before_fork(); }
void cache_after_fork(bool child) { ModelCache::global().after_fork(child); }
}  // namespace detail

}  // namespace fastort
