// ModelCache: hits, LRU bound, reload of files changed on disk.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "check.hpp"
#include "fastort/model_cache.hpp"
#include "fastort/runtime.hpp"

using namespace fastort;
using fastort::testing::env_or_empty;

namespace {

std::string copy_model(const char* name, const std::string& to) {
  std::filesystem::copy_file(env_or_empty("FASTORT_TEST_MODELS") + "/" + name, to,
                             std::filesystem::copy_options::overwrite_existing);
  return to;
}

}  // namespace

TEST_CASE(second_load_is_a_hit) {
  load_runtime(env_or_empty("FASTORT_ORT_LIBRARY"));
  ModelCache cache;
  const std::string path = copy_model("sigmoid.onnx", "cache_a.onnx");
  auto first = cache.load_file(path, {});
  auto second = cache.load_file("./" + path, {});
  CHECK(first == second);
  CHECK(cache.info().hits == 1 && cache.info().misses == 1);
  SessionOptions one_thread;
  one_thread.intra_op_threads = 1;
  CHECK(cache.load_file(path, one_thread) != first);
  CHECK(cache.info().current_size == 2);
}

TEST_CASE(changed_file_is_reloaded_not_served_stale) {
  load_runtime(env_or_empty("FASTORT_ORT_LIBRARY"));
  ModelCache cache;
  const std::string path = copy_model("sigmoid.onnx", "cache_b.onnx");
  auto first = cache.load_file(path, {});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  copy_model("mul_1.onnx", path);
  auto second = cache.load_file(path, {});
  CHECK(second != first);
  CHECK(second->inputs()[0].name == "X");
  CHECK(cache.info().current_size == 1);  // the stale entry was replaced
}

TEST_CASE(lru_bound_evicts_and_zero_disables) {
  load_runtime(env_or_empty("FASTORT_ORT_LIBRARY"));
  ModelCache cache;
  cache.set_max_size(1);
  const std::string a = copy_model("sigmoid.onnx", "cache_c.onnx");
  const std::string b = copy_model("mul_1.onnx", "cache_d.onnx");
  cache.load_file(a, {});
  cache.load_file(b, {});
  CHECK(cache.info().current_size == 1);
  cache.load_file(b, {});
  CHECK(cache.info().hits == 1);
  cache.set_max_size(0);
  CHECK(cache.info().current_size == 0);
  cache.load_file(a, {});
  CHECK(cache.info().current_size == 0);
  cache.clear();
  CHECK(cache.info().hits == 0);
}

TEST_MAIN()
