// Model against a real runtime and onnxruntime's bundled sample models.
#include <cmath>
#include <vector>

#include "check.hpp"
#include "fastort/debug_counters.hpp"
#include "fastort/model.hpp"
#include "fastort/runtime.hpp"
#include "fixtures.hpp"

using namespace fastort;
using namespace fastort::testing;

namespace {

RunRequest sigmoid_request(TensorView view) {
  RunRequest request;
  request.inputs.push_back({"x", std::move(view)});
  request.outputs = {0};
  return request;
}

}  // namespace

TEST_CASE(runtime_loads_and_reports_versions) {
  load();
  CHECK(runtime_loaded());
  CHECK(!runtime_version().empty());
  load();  // idempotent for the same path
  CHECK_THROWS_KIND(load_runtime("/nonexistent/libonnxruntime.so"), ErrorKind::kRuntimeLoad);
}

TEST_CASE(sigmoid_runs_and_reads_its_signature) {
  load();
  auto session = Model::load_file(model_path("sigmoid.onnx"), {});
  CHECK(session->inputs().size() == 1);
  CHECK(session->inputs()[0].name == "x");
  CHECK(session->inputs()[0].describe() == "float32[3,4,5]");
  CHECK(session->outputs()[0].type_string == "tensor(float)");
  std::vector<float> x(60);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) / 10.0f - 3.0f;
  auto results = session->run(sigmoid_request(float_view(x, {3, 4, 5})));
  CHECK(results.size() == 1);
  const TensorView y = results[0].tensor();
  CHECK(y.shape == std::vector<int64_t>({3, 4, 5}));
  const float* values = static_cast<const float*>(y.data);
  for (size_t i = 0; i < x.size(); ++i) {
    CHECK(std::fabs(values[i] - 1.0f / (1.0f + std::exp(-x[i]))) < 1e-6f);
  }
}

TEST_CASE(strided_inputs_are_copied_once_and_counted) {
  load();
  auto session = Model::load_file(model_path("sigmoid.onnx"), {});
  std::vector<float> wide(120, 0.5f);
  TensorView view = float_view(wide, {3, 4, 5});
  view.strides = {160, 40, 8};  // every other float
  const uint64_t before = debug_counters().input_bytes_copied;
  auto request = sigmoid_request(view);
  session->run(request);
  CHECK(debug_counters().input_bytes_copied - before == 60 * sizeof(float));
  request.allow_copy = false;
  CHECK_THROWS_KIND(session->run(request), ErrorKind::kInvalidArgument);
}

TEST_CASE(bad_inputs_are_rejected_before_ort_runs) {
  load();
  auto session = Model::load_file(model_path("sigmoid.onnx"), {});
  std::vector<float> x(60);
  CHECK_THROWS_KIND(session->run(sigmoid_request(float_view(x, {3, 4}))),
                    ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(session->run(sigmoid_request(float_view(x, {4, 3, 5}))),
                    ErrorKind::kInvalidArgument);
  TensorView wrong_type = float_view(x, {3, 4, 5});
  wrong_type.type = ElementType::kInt32;
  CHECK_THROWS_KIND(session->run(sigmoid_request(wrong_type)), ErrorKind::kTypeMismatch);
  RunRequest missing;
  missing.outputs = {0};
  CHECK_THROWS_KIND(session->run(missing), ErrorKind::kInvalidArgument);
  RunRequest unknown = sigmoid_request(float_view(x, {3, 4, 5}));
  unknown.inputs[0].name = "z";
  CHECK_THROWS_KIND(session->run(unknown), ErrorKind::kInvalidArgument);
  RunRequest twice = sigmoid_request(float_view(x, {3, 4, 5}));
  twice.inputs.push_back(twice.inputs[0]);
  CHECK_THROWS_KIND(session->run(twice), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(session->output_index("nope"), ErrorKind::kInvalidArgument);
}

TEST_CASE(out_buffers_receive_results_without_allocation) {
  load();
  auto session = Model::load_file(model_path("sigmoid.onnx"), {});
  std::vector<float> x(60, 0.0f), y(60, -1.0f);
  RunRequest request = sigmoid_request(float_view(x, {3, 4, 5}));
  request.out = {float_view(y, {3, 4, 5})};
  auto results = session->run(request);
  CHECK(results[0].tensor().data == y.data());
  CHECK(y[0] == 0.5f && y[59] == 0.5f);
  request.out = {float_view(y, {3, 4, 6})};
  CHECK_THROWS_KIND(session->run(request), ErrorKind::kInvalidArgument);
}

TEST_CASE(out_buffers_may_not_overlap_inputs) {
  load();
  auto session = Model::load_file(model_path("sigmoid.onnx"), {});
  std::vector<float> x(90, 0.0f);
  RunRequest request = sigmoid_request(float_view(x, {3, 4, 5}));
  request.out = {float_view(x, {3, 4, 5})};  // the very same memory
  CHECK_THROWS_KIND(session->run(request), ErrorKind::kInvalidArgument);
  TensorView shifted = float_view(x, {3, 4, 5});
  shifted.data = x.data() + 30;  // half overlapping
  request.out = {shifted};
  CHECK_THROWS_KIND(session->run(request), ErrorKind::kInvalidArgument);
}

TEST_CASE(run_options_terminate_and_let_runs_go_again) {
  load();
  auto session = Model::load_file(model_path("sigmoid.onnx"), {});
  std::vector<float> x(60, 0.0f);
  RunOptions::Settings settings;
  settings.tag = "test";
  auto options = std::make_shared<RunOptions>(settings);
  options->set_terminate(true);
  RunRequest request = sigmoid_request(float_view(x, {3, 4, 5}));
  {
    RunControl control(options, false);
    request.control = &control;
    CHECK_THROWS_KIND(session->run(request), ErrorKind::kTerminated);
  }
  options->set_terminate(false);
  for (const bool own_settings : {true, false}) {
    auto plain = own_settings ? options : std::make_shared<RunOptions>(RunOptions::Settings{});
    RunControl control(plain, false);
    request.control = &control;
    CHECK(session->run(request).size() == 1);
  }
  RunOptions::Settings bad;
  bad.timeout_seconds = -1;
  CHECK_THROWS_KIND(RunOptions{bad}, ErrorKind::kInvalidArgument);
  bad.timeout_seconds = 0;
  bad.log_severity_level = 9;
  CHECK_THROWS_KIND(RunOptions{bad}, ErrorKind::kInvalidArgument);
}

TEST_CASE(model_files_fail_with_typed_errors) {
  load();
  CHECK_THROWS_KIND(Model::load_file("/nonexistent/model.onnx", {}), ErrorKind::kFileNotFound);
  CHECK_THROWS_KIND(Model::load_file("/tmp", {}), ErrorKind::kIsADirectory);
  CHECK_THROWS_KIND(Model::load_bytes("not a model", {}), ErrorKind::kInvalidModel);
  CHECK_THROWS_KIND(Model::load_bytes("", {}), ErrorKind::kInvalidModel);
  CHECK_THROWS_KIND(Model::load_file(model_path("sigmoid.onnx") + std::string(1, '\0'), {}),
                    ErrorKind::kInvalidArgument);
  SessionOptions bad_provider;
  bad_provider.providers.push_back({"NoSuchExecutionProvider", {}});
  CHECK_THROWS_KIND(Model::load_file(model_path("sigmoid.onnx"), bad_provider),
                    ErrorKind::kInvalidArgument);
}

TEST_CASE(sequence_of_map_outputs_are_readable) {
  load();
  auto session = Model::load_file(model_path("logreg_iris.onnx"), {});
  CHECK(session->outputs()[1].type_string == "seq(map(int64,tensor(float)))");
  std::vector<float> x(6, 1.0f);
  RunRequest request;
  request.inputs.push_back({"float_input", float_view(x, {3, 2})});
  request.outputs = {0, 1};
  const int64_t live_before = debug_counters().live_values;
  {
    auto results = session->run(request);
    CHECK(results[1].kind() == ValueKind::kSequence);
    CHECK(results[1].sequence_length() == 3);
    OwnedValue first = results[1].sequence_element(0);
    CHECK(first.kind() == ValueKind::kMap);
    CHECK(first.map_keys().tensor().type == ElementType::kInt64);
    CHECK(first.map_values().tensor().type == ElementType::kFloat32);
  }
  CHECK(debug_counters().live_values == live_before);
}

TEST_MAIN()
