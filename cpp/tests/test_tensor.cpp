// Runtime-free parts of the core: element types, views, option parsing and cache keys.
#include "check.hpp"
#include "fastort/element_type.hpp"
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
