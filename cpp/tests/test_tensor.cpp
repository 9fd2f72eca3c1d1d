// Runtime-free parts of the core: element types, views, option parsing, cache keys and the
// quick-run estimate.
#include <chrono>

#include "check.hpp"
#include "fastort/element_type.hpp"
#include "fastort/model.hpp"
#include "fastort/quick_runs.hpp"
#include "fastort/session_options.hpp"
#include "fastort/tensor.hpp"

using namespace fastort;

TEST_CASE(element_types_have_numpy_names_and_sizes) {
  CHECK(element_size(ElementType::kFloat32) == 4);
  CHECK(element_size(ElementType::kComplex128) == 16);
  CHECK(element_size(ElementType::kString) == 0);
  CHECK(std::string(element_type_name(ElementType::kFloat64)) == "float64");
  CHECK(std::string(onnx_type_name(ElementType::kFloat64)) == "double");
  CHECK(std::string(element_type_name(static_cast<ElementType>(99))) == "undefined");
}

TEST_CASE(contiguity_follows_numpy_rules) {
  TensorView view;
  view.type = ElementType::kFloat32;
  view.shape = {2, 3};
  CHECK(view.is_c_contiguous());
  view.strides = {12, 4};
  CHECK(view.is_c_contiguous());
  view.strides = {4, 8};  // a transpose
  CHECK(!view.is_c_contiguous());
  view.shape = {1, 3};
  view.strides = {999, 4};  // numpy ignores the stride of a length-1 dim
  CHECK(view.is_c_contiguous());
  view.shape = {0, 3};
  view.strides = {4, 8};
  CHECK(view.is_c_contiguous());
  CHECK(view.element_count() == 0);
}

TEST_CASE(tensor_descriptions_name_dynamic_dims) {
  CHECK(describe_tensor(ElementType::kFloat32, {-1, 3, 224}, {"N", "", ""}) == "float32[N,3,224]");
  CHECK(describe_tensor(ElementType::kInt64, {-1}) == "int64[?]");
  CHECK(describe_tensor(ElementType::kBool, {}) == "bool[]");
}

TEST_CASE(optimization_levels_parse_and_reject) {
  CHECK(parse_graph_optimization("basic") == GraphOptimization::kBasic);
  CHECK(std::string(graph_optimization_name(GraphOptimization::kExtended)) == "extended");
  CHECK_THROWS_KIND(parse_graph_optimization("fast"), ErrorKind::kInvalidArgument);
}

TEST_CASE(thread_counts_are_bounded) {
  SessionOptions options;
  options.intra_op_threads = -1;
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
  options.intra_op_threads = SessionOptions::kMaxThreads + 1;
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
  options.intra_op_threads = 2;
  options.inter_op_threads = -5;
  CHECK_THROWS_KIND(options.validate(), ErrorKind::kInvalidArgument);
}

TEST_CASE(cache_keys_differ_exactly_when_options_do) {
  SessionOptions a, b;
  CHECK(a.cache_key() == b.cache_key());
  b.intra_op_threads = 1;
  CHECK(a.cache_key() != b.cache_key());
  SessionOptions c, d;
  c.config = {{"ab", "c"}};
  d.config = {{"a", "bc"}};
  CHECK(c.cache_key() != d.cache_key());
}

TEST_MAIN()

TEST_CASE(input_bytes_count_tensors_and_parts_and_saturate) {
  NamedInput small;
  small.tensor.type = ElementType::kFloat32;
  small.tensor.shape = {2, 5};
  NamedInput sequence;
  sequence.kind = ValueKind::kSequence;
  TensorView part;
  part.type = ElementType::kInt64;
  part.shape = {3};
  sequence.parts = {part, part};
  CHECK(input_bytes({small}) == 40);
  CHECK(input_bytes({small, sequence}) == 40 + 48);
  NamedInput empty;
  empty.tensor.type = ElementType::kFloat32;
  empty.tensor.shape = {0, 1000};
  CHECK(input_bytes({empty}) == 0);
  // A product that does not fit in 64 bits still reads as "large".
  NamedInput huge;
  huge.tensor.type = ElementType::kFloat64;
  huge.tensor.shape = {int64_t{1} << 40, int64_t{1} << 40, 16};
  CHECK(input_bytes({huge}) > QuickRuns::kMaxBytes);
}

TEST_CASE(quick_runs_are_learned_by_size) {
  using std::chrono::microseconds;
  QuickRuns quick;
  CHECK(!quick.expected(0));  // nothing measured yet
  quick.record(100, microseconds(2), false);
  CHECK(quick.expected(100));
  CHECK(quick.expected(10));  // smaller inputs too
  CHECK(!quick.expected(101));
  quick.record(1000, microseconds(50), false);  // a slow run of a larger input: no change
  CHECK(quick.expected(100));
  CHECK(!quick.expected(1000));
  // Never beyond kMaxBytes, however quick.
  quick.record(QuickRuns::kMaxBytes, microseconds(1), false);
  CHECK(!quick.expected(QuickRuns::kMaxBytes));
  // A slow run that was not expected quick (it ran beside others) says nothing.
  for (int i = 0; i < 10; ++i) quick.record(50, microseconds(100), false);
  CHECK(quick.expected(100));
  // Rare slow runs among quick ones (a preempted thread) are forgiven.
  for (int round = 0; round < 10; ++round) {
    quick.record(50, microseconds(100), true);
    for (int i = 0; i < QuickRuns::kSurprise; ++i) quick.record(50, microseconds(2), true);
  }
  CHECK(quick.expected(100));
  quick.never();
  quick.record(10, microseconds(1), false);
  CHECK(!quick.expected(1));
}

// Runs of the same size that are often slow pause the expectation, for longer each time.
TEST_CASE(quick_runs_pause_when_time_follows_values_and_pauses_double) {
  using std::chrono::microseconds;
  QuickRuns quick;
  quick.record(8, microseconds(1), false);
  uint64_t pause = QuickRuns::kFirstPause;
  for (int time = 0; time < 3; ++time) {
    CHECK(quick.expected(8));
    for (int i = 0; i < QuickRuns::kGiveUp / QuickRuns::kSurprise; ++i) {
      quick.record(8, microseconds(100), true);
    }
    CHECK(!quick.expected(8));
    // Quick runs during the pause teach nothing...
    for (uint64_t i = 0; i < pause; ++i) quick.record(8, microseconds(1), false);
    CHECK(!quick.expected(8));
    // ...after it, one does.
    quick.record(8, microseconds(1), false);
    pause *= 2;
  }
}

TEST_CASE(a_run_of_milliseconds_counts_as_half_the_way_to_a_pause) {
  using std::chrono::milliseconds;
  QuickRuns quick;
  quick.record(8, std::chrono::microseconds(1), false);
  CHECK(quick.expected(8));
  quick.record(8, milliseconds(5), true);
  CHECK(quick.expected(8));
  quick.record(8, milliseconds(5), true);
  CHECK(!quick.expected(8));
}
