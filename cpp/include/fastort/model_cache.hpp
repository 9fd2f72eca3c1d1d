// Process-wide LRU cache of loaded models, so a second Session(path) is a lookup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "fastort/model.hpp"

namespace fastort {

// Whether a model is loaded through the process-wide cache.
enum class CachePolicy {
  kDefault,  // files through the cache, bytes privately (finding bytes means hashing them)
  kShared,   // through the cache: files by path and stamp, bytes by their digest
  kPrivate,  // a session of its own
};

// Whether bytes loaded under `policy` go through the cache (and so need a digest).
bool caches_bytes(CachePolicy policy) noexcept;

struct CacheInfo {
  uint64_t hits = 0;
  uint64_t misses = 0;
  size_t max_size = 0;
  size_t current_size = 0;
};

class ModelCache;

// The session for a model file under `policy`; options that are not shareable() (profiling,
// initializers, an optimised model to write) always load a session of their own.
std::shared_ptr<Model> open_model_file(const std::string& path, const SessionOptions& options,
                                       CachePolicy policy);
// The session for a model's bytes under `policy`; through the cache they are found by
// `digest`, a collision-free hash of them (SHA-256) that the caller computes when
// caches_bytes(policy). Throws Error(kInvalidArgument) when it is needed and empty.
std::shared_ptr<Model> open_model_bytes(std::string_view model, std::string_view digest,
                                        const SessionOptions& options, CachePolicy policy);

class ModelCache {
 public:
  static constexpr size_t kDefaultMaxSize = 32;

  // The process-wide cache (never destroyed: sessions must not outlive the runtime's
  // teardown at exit, so the Python module clears it from an atexit hook instead).
  static ModelCache& global();

  // Keyed by canonical path, device, inode, size, mtime and options, and checked against the
  // same stamp of every external data file: a model or weights file changed on disk misses
  // and replaces the stale entry.
  std::shared_ptr<Model> load_file(const std::string& path, const SessionOptions& options);
  // Keyed by `identity` (e.g. a digest of the bytes, computed by the caller) and options.
  std::shared_ptr<Model> load_bytes(std::string_view identity, std::string_view model,
                                    const SessionOptions& options);

  void clear();
  CacheInfo info() const;
  // Evicts least recently used entries beyond the new bound; 0 disables caching.
  void set_max_size(size_t max_size);

  // fork(): the lock is held across it; a child starts with an empty cache.
  void before_fork();
  void after_fork(bool child);

 private:
  struct Key {
    std::string source;   // what was loaded: canonical path or bytes identity
    std::string version;  // file stamp or byte count
    std::string options;  // SessionOptions::cache_key()
    bool operator==(const Key& other) const {
      return source == other.source && version == other.version && options == other.options;
    }
  };
  struct Entry {
    Key key;
    std::shared_ptr<Model> session;
  };

  std::shared_ptr<Model> find(const Key& key);
  void insert(Key key, std::shared_ptr<Model> session);
  // Moves entries beyond max_size_ into `evicted`; the caller holds the lock.
  void trim(std::list<Entry>& evicted);

  mutable std::mutex mutex_;
  std::list<Entry> entries_;  // most recently used first; small, so lookup is a scan
  size_t max_size_ = kDefaultMaxSize;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace fastort
