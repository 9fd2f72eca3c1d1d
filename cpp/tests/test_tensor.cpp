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

TEST_CASE(run_keys_tell_kinds_types_and_shapes_apart_and_refuse_large_inputs) {
  NamedInput small;
  small.tensor.type = ElementType::kFloat32;
  small.tensor.shape = {2, 5};
  NamedInput other = small;
  other.tensor.shape = {5, 2};
  NamedInput sequence;
  sequence.kind = ValueKind::kSequence;
  TensorView part;
  part.type = ElementType::kInt64;
  part.shape = {3};
  sequence.parts = {part, part};
  const uint64_t key = run_key({small});
  CHECK(key != 0);
  CHECK(run_key({small}) == key);  // the same shapes: the same key
  CHECK(run_key({other}) != key);  // as many bytes, other shapes (broadcasting differs)
  CHECK(run_key({small, sequence}) != key);
  NamedInput doubles = small;
  doubles.tensor.type = ElementType::kFloat64;
  CHECK(run_key({doubles}) != key);
  // Zero-size dims count as 1: [0, 50000000] is not small.
  NamedInput empty;
  empty.tensor.type = ElementType::kFloat32;
  empty.tensor.shape = {0, 50000000};
  CHECK(run_key({empty}) == 0);
  empty.tensor.shape = {0, 16};
  CHECK(run_key({empty}) != 0);
  // A product that does not fit in 64 bits still reads as large.
  NamedInput huge;
  huge.tensor.type = ElementType::kFloat64;
  huge.tensor.shape = {int64_t{1} << 40, int64_t{1} << 40, 16};
  CHECK(run_key({huge}) == 0);
  NamedInput large;
  large.tensor.type = ElementType::kUInt8;
  large.tensor.shape = {static_cast<int64_t>(kMaxRunBytes) + 1};
  CHECK(run_key({large}) == 0);
}

TEST_CASE(quick_runs_are_learned_by_key) {
  using std::chrono::microseconds;
  QuickRuns quick;
  CHECK(!quick.expected(7));  // nothing measured yet
  CHECK(!quick.expected(0));
  quick.record(7, microseconds(2), false);
  CHECK(quick.expected(7));
  CHECK(!quick.expected(8));
  quick.record(0, microseconds(2), false);  // too large to key: never quick
  CHECK(!quick.expected(0));
  quick.record(9, microseconds(50), false);  // slow: not learned
  CHECK(!quick.expected(9));
  // A slow run that was not expected quick (it ran beside others) says nothing.
  for (int i = 0; i < 10; ++i) quick.record(7, microseconds(100), false);
  CHECK(quick.expected(7));
  // Rare slow runs among quick ones (a preempted thread) are forgiven.
  for (int round = 0; round < 10; ++round) {
    quick.record(7, microseconds(100), true);
    for (int i = 0; i < QuickRuns::kSurprise; ++i) quick.record(7, microseconds(2), true);
  }
  CHECK(quick.expected(7));
  quick.never();
  quick.record(7, microseconds(1), false);
  CHECK(!quick.expected(7));
}

// Runs of the same shapes that are often slow pause the expectations, for longer each time.
TEST_CASE(quick_runs_pause_when_time_follows_values_and_pauses_double) {
  using std::chrono::microseconds;
  QuickRuns quick;
  quick.record(8, microseconds(1), false);
  uint64_t pause = QuickRuns::kFirstPause;
  for (int time = 0; time < 3; ++time) {
    CHECK(quick.expected(8));
    for (int i = 0; i < QuickRuns::kPauseScore / QuickRuns::kSurprise; ++i) {
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

TEST_CASE(a_run_that_kept_the_lock_a_switch_interval_pauses_at_once) {
  QuickRuns quick;
  quick.record(8, std::chrono::microseconds(1), false);
  quick.record(9, std::chrono::microseconds(1), false);
  CHECK(quick.expected(8) && quick.expected(9));
  quick.record(8, std::chrono::milliseconds(1), true);  // a surprise, not yet a pause
  CHECK(quick.expected(8) && quick.expected(9));
  quick.record(8, QuickRuns::kVerySlow, true);
  CHECK(!quick.expected(8) && !quick.expected(9));
}

TEST_CASE(pauses_shrink_again_after_as_many_quick_runs) {
  using std::chrono::microseconds;
  QuickRuns quick;
  const auto pause_now = [&] {
    quick.record(8, QuickRuns::kVerySlow, true);
    uint64_t runs = 0;
    while (!quick.expected(8)) {
      quick.record(8, microseconds(1), false);
      ++runs;
    }
    return runs;  // the pause, and the run that taught it again
  };
  quick.record(8, microseconds(1), false);
  CHECK(pause_now() == QuickRuns::kFirstPause + 1);
  CHECK(pause_now() == 2 * QuickRuns::kFirstPause + 1);
  // As many runs expected quick as the next pause would last: it is halved.
  for (uint64_t i = 0; i < 4 * QuickRuns::kFirstPause; ++i) quick.record(8, microseconds(1), true);
  CHECK(pause_now() == 2 * QuickRuns::kFirstPause + 1);
}

// A run timed on a woken thread (a batcher's worker) is taken as quick under kSlow, since
// waking slows a tiny run two to three times; it never counts against an expectation.
TEST_CASE(runs_on_woken_threads_are_quick_under_the_slow_mark) {
  using std::chrono::microseconds;
  QuickRuns quick;
  quick.record(8, microseconds(9), false, RunStart::kWoken);
  CHECK(quick.expected(8));
  quick.record(9, microseconds(9), false);  // the same time on a busy thread: not quick
  CHECK(!quick.expected(9));
  quick.record(10, QuickRuns::kSlow, false, RunStart::kWoken);
  CHECK(!quick.expected(10));
  for (int i = 0; i < 4 * QuickRuns::kPauseScore; ++i) {
    quick.record(8, microseconds(100), true, RunStart::kWoken);
  }
  CHECK(quick.expected(8));
  // During a pause a woken run teaches nothing either.
  quick.record(8, QuickRuns::kVerySlow, true);
  quick.record(8, microseconds(1), false, RunStart::kWoken);
  CHECK(!quick.expected(8));
}

// Runs expected quick that take between kQuick and kSlow on a busy thread (near misses) pause
// the expectations once they are more than a third of the runs; fewer are forgiven.
TEST_CASE(near_misses_pause_when_they_are_a_third_of_the_runs) {
  using std::chrono::microseconds;
  QuickRuns quick;
  quick.record(8, microseconds(9), false, RunStart::kWoken);
  for (int i = 0; i < 1000; ++i) {  // one in four: forgiven
    quick.record(8, microseconds(7), true);
    for (int k = 0; k < 3; ++k) quick.record(8, microseconds(2), true);
  }
  CHECK(quick.expected(8));
  int runs = 0;
  while (quick.expected(8) && runs < 1000) {  // every other one
    quick.record(8, microseconds(7), true);
    quick.record(8, microseconds(2), true);
    runs += 2;
  }
  CHECK(!quick.expected(8));
  // Each pair adds kNearMiss - 1 = 1 to the score: about kPauseScore pairs.
  CHECK(runs > QuickRuns::kPauseScore && runs <= 2 * QuickRuns::kPauseScore);
}
