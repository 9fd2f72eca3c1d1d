// SessionOptions beyond threads and providers: validation, cache keys, and their effect on a
// real runtime (profiling traces, initializers, dimension overrides, runtime settings).
#include <filesystem>
#include <vector>

#include "check.hpp"
#include "fastort/model.hpp"
#include "fastort/model_cache.hpp"
#include "fastort/runtime.hpp"
#include "fixtures.hpp"

using namespace fastort;
using namespace fastort::testing;

namespace {

// mul_1.onnx: Y = X * W, with W = [[1, 2], [3, 4], [5, 6]] stored as an initializer.
std::vector<float> run_mul(const Model& model, std::vector<float> x) {
  RunRequest request;
  request.inputs.push_back({"X", float_view(x, {3, 2})});
  request.outputs = {0};
  auto results = model.run(request);
  const auto* y = static_cast<const float*>(results[0].tensor().data);
  return std::vector<float>(y, y + 6);
}

}  // namespace

TEST_CASE(bad_settings_are_rejected_by_validate) {
  load();
  SessionOptions options;
  options.settings.log_severity_level = 5;
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
  options = {};
  options.settings.log_verbosity_level = -1;
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
  options = {};
  options.settings.free_dimensions_by_name = {{"N", -1}};
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
  options.settings.free_dimensions_by_name = {{"N", 1}, {"N", 2}};
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
  options = {};
  options.settings.profile_file_prefix = std::string("a\0b", 3);
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
  options = {};
  std::vector<float> two(1, 2.0f);
  auto tensor = InitializerTensor::copy_of(float_view(two, {}));
  options.settings.initializers = {{"W", tensor}, {"W", tensor}};
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
}

TEST_CASE(an_unloadable_custom_ops_library_fails_with_orts_code) {
  load();
  SessionOptions options;
  options.settings.custom_ops_libraries = {"/nonexistent/libcustom_ops.so"};
  try {
    options.validate();
    CHECK(false);
  } catch (const Error& error) {
    CHECK(error.kind() == ErrorKind::kInvalidArgument);
    CHECK(std::string(ort_error_code_name(error.ort_code())) == "ORT_FAIL");
  }
}

TEST_CASE(every_setting_is_part_of_the_cache_key) {
  load();
  const SessionOptions base;
  std::vector<SessionOptions> changed(9, base);
  changed[0].settings.execution_mode = Execution::kParallel;
  changed[1].settings.log_severity_level = 3;
  changed[2].settings.log_verbosity_level = 1;
  changed[3].settings.log_id = "id";
  changed[4].settings.profile_file_prefix = "trace_";
  changed[5].settings.enable_mem_pattern = false;
  changed[6].settings.enable_cpu_mem_arena = false;
  changed[7].settings.deterministic_compute = true;
  changed[8].settings.free_dimensions_by_denotation = {{"DATA_BATCH", 1}};
  for (size_t i = 0; i < changed.size(); ++i) {
    CHECK(changed[i].cache_key() != base.cache_key());
    for (size_t j = 0; j < i; ++j) CHECK(changed[i].cache_key() != changed[j].cache_key());
  }
  CHECK(base.shareable());
}

TEST_CASE(profiling_sessions_are_private_and_write_a_trace) {
  load();
  SessionOptions options;
  options.settings.enable_profiling = true;
  const auto folder = std::filesystem::temp_directory_path() / "fastort_profiling_test";
  std::filesystem::create_directories(folder);
  options.settings.profile_file_prefix = (folder / "trace").string();
  CHECK(!options.shareable());
  auto first = open_model_file(model_path("mul_1.onnx"), options, CachePolicy::kShared);
  auto second = open_model_file(model_path("mul_1.onnx"), options, CachePolicy::kShared);
  CHECK(first != second);
  CHECK(first->profiling_start_ns() > 0);
  run_mul(*first, std::vector<float>(6, 1.0f));
  const std::string trace = first->end_profiling();
  CHECK(trace.rfind(options.settings.profile_file_prefix, 0) == 0);
  CHECK(std::filesystem::file_size(trace) > 0);
  CHECK(first->end_profiling().empty());  // ended already
  auto plain = Model::load_file(model_path("mul_1.onnx"), {});
  CHECK(plain->end_profiling().empty());
  CHECK(plain->profiling_start_ns() == 0);
  std::filesystem::remove_all(folder);
}

TEST_CASE(an_initializer_replaces_the_models_and_is_copied_once) {
  load();
  std::vector<float> sevens(6, 7.0f);
  SessionOptions options;
  options.settings.initializers = {{"W", InitializerTensor::copy_of(float_view(sevens, {3, 2}))}};
  sevens.assign(6, -1.0f);  // the options hold their own copy
  CHECK(!options.shareable());
  auto model = open_model_file(model_path("mul_1.onnx"), options, CachePolicy::kShared);
  CHECK(run_mul(*model, std::vector<float>(6, 2.0f)) == std::vector<float>(6, 14.0f));
  auto plain = Model::load_file(model_path("mul_1.onnx"), {});
  CHECK(run_mul(*plain, std::vector<float>(6, 1.0f)) ==
        std::vector<float>({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}));
}

TEST_CASE(runtime_settings_reach_the_runtime) {
  load();
  CHECK(runtime_build_info().find("Build Info") != std::string::npos);
  CHECK_THROWS_KIND(set_ort_log_severity(5), ErrorKind::kInvalidArgument);
  set_ort_log_severity(3);
  set_ort_log_severity(2);
  set_ort_telemetry(false);
}

TEST_MAIN()
