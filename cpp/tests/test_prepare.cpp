// Model::prepare and Model::run(prepared): checked once, run many times on whatever the
// caller's buffers hold, outputs named in any order, passed-through inputs kept apart.
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "check.hpp"
#include "fixtures.hpp"
#include "onnx_writer.hpp"

using namespace fastort;
using namespace fastort::testing;

namespace {

// y = x + x, z = -x, and the input x itself as a third output; x float[N, 3].
std::shared_ptr<const Model> three_outputs() {
  return Model::load_bytes(
      model(field(1, node("Add", {"x", "x"}, {"y"})) + field(1, node("Neg", {"x"}, {"z"})),
            field(11, tensor_info("x", 1, {"N", "3"})),
            field(12, tensor_info("y", 1, {"N", "3"})) +
                field(12, tensor_info("z", 1, {"N", "3"})) +
                field(12, tensor_info("x", 1, {"N", "3"}))),
      {});
}

RunRequest request_for(std::vector<float>& x, std::vector<size_t> outputs) {
  RunRequest request;
  request.inputs.push_back({"x", float_view(x, {static_cast<int64_t>(x.size() / 3), 3})});
  request.outputs = std::move(outputs);
  return request;
}

std::vector<float> values_of(const OwnedValue& value) {
  const TensorView view = value.tensor();
  const auto* data = static_cast<const float*>(view.data);
  return {data, data + view.element_count()};
}

std::vector<float> scaled(const std::vector<float>& x, float factor) {
  std::vector<float> result;
  for (float v : x) result.push_back(v * factor);
  return result;
}

}  // namespace

TEST_CASE(a_prepared_run_reads_the_buffers_as_they_are_at_each_run) {
  load();
  const auto session = three_outputs();
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const PreparedRun prepared = session->prepare(request_for(x, {0}));
  for (int round = 0; round < 3; ++round) {
    for (float& v : x) v += 1.0f;
    const auto results = session->run(prepared, nullptr);
    CHECK(results.size() == 1);
    CHECK(values_of(results[0]) == scaled(x, 2.0f));
  }
}

TEST_CASE(outputs_come_in_the_order_asked_for) {
  load();
  const auto session = three_outputs();
  std::vector<float> x = {1, -2, 3};
  // Every output in model order (the model's own name list), then subsets and other orders.
  for (const std::vector<size_t>& order :
       {std::vector<size_t>{0, 1, 2}, {2, 1, 0}, {1}, {1, 0}, {0, 2}}) {
    const PreparedRun prepared = session->prepare(request_for(x, order));
    const auto results = session->run(prepared, nullptr);
    CHECK(results.size() == order.size());
    for (size_t k = 0; k < order.size(); ++k) {
      const float factor = order[k] == 0 ? 2.0f : (order[k] == 1 ? -1.0f : 1.0f);
      CHECK(values_of(results[k]) == scaled(x, factor));
    }
  }
}

TEST_CASE(a_moved_prepared_run_still_runs) {
  load();
  const auto session = three_outputs();
  std::vector<float> x = {1, 2, 3};
  std::vector<PreparedRun> runs;
  for (const std::vector<size_t>& order : {std::vector<size_t>{0, 1, 2}, {1, 0}}) {
    runs.push_back(session->prepare(request_for(x, order)));
  }
  runs.reserve(64);  // moves both elsewhere
  CHECK(values_of(session->run(runs[0], nullptr)[1]) == scaled(x, -1.0f));
  CHECK(values_of(session->run(runs[1], nullptr)[1]) == scaled(x, 2.0f));
}

TEST_CASE(a_passed_through_input_comes_back_in_memory_of_its_own) {
  load();
  const auto session = three_outputs();
  std::vector<float> x = {7, 8, 9};
  const PreparedRun prepared = session->prepare(request_for(x, {2}));
  const auto results = session->run(prepared, nullptr);
  const TensorView view = results[0].tensor();
  CHECK(view.data != x.data());
  CHECK(values_of(results[0]) == x);
  x[0] = 100;  // the result does not change with the input
  CHECK(values_of(results[0])[0] == 7.0f);
}

TEST_CASE(output_buffers_are_written_for_one_run) {
  load();
  const auto session = three_outputs();
  std::vector<float> x = {1, 2, 3};
  const PreparedRun prepared = session->prepare(request_for(x, {0, 1, 2}));
  for (int round = 0; round < 2; ++round) {
    std::vector<float> y(3, 0.0f), passed(3, 0.0f);
    const OutputBuffer y_buffer = session->output_buffer(0, float_view(y, {1, 3}));
    const OutputBuffer passed_buffer = session->output_buffer(2, float_view(passed, {1, 3}));
    const auto results = session->run(prepared, nullptr, {&y_buffer, nullptr, &passed_buffer});
    CHECK(!results[0].is_set());  // written into y
    CHECK(y == scaled(x, 2.0f));
    CHECK(values_of(results[1]) == scaled(x, -1.0f));  // unbound: ORT's own value
    // A passed-through input is ORT's value of its own, whatever the buffer.
    CHECK(results[2].is_set() && values_of(results[2]) == x);
    x[0] += 1.0f;
  }
  // The plain run of the same prepared run still allocates every output.
  const auto plain = session->run(prepared, nullptr);
  CHECK(plain[0].is_set() && values_of(plain[0]) == scaled(x, 2.0f));
  std::vector<float> wrong(4, 0.0f), y(3, 0.0f);
  CHECK_THROWS_KIND(session->output_buffer(0, float_view(wrong, {1, 4})),
                    ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(session->output_buffer(3, float_view(y, {1, 3})), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(session->run(prepared, nullptr, {nullptr}), ErrorKind::kInvalidArgument);
  // A buffer is for the output, and the model, it was made for.
  const OutputBuffer second = session->output_buffer(1, float_view(y, {1, 3}));
  CHECK_THROWS_KIND(session->run(prepared, nullptr, {&second, nullptr, nullptr}),
                    ErrorKind::kInvalidArgument);
  const auto other = three_outputs();
  const OutputBuffer foreign = other->output_buffer(0, float_view(y, {1, 3}));
  CHECK_THROWS_KIND(session->run(prepared, nullptr, {&foreign, nullptr, nullptr}),
                    ErrorKind::kInvalidArgument);
  // ORT would read the prepared input while it writes the output.
  const OutputBuffer over_x = session->output_buffer(0, float_view(x, {1, 3}));
  CHECK_THROWS_KIND(session->run(prepared, nullptr, {&over_x, nullptr, nullptr}),
                    ErrorKind::kInvalidArgument);
}

TEST_CASE(one_output_buffer_serves_many_runs) {
  load();
  const auto session = three_outputs();
  std::vector<float> x = {1, 2, 3}, y(3, 0.0f);
  const OutputBuffer buffer = session->output_buffer(0, float_view(y, {1, 3}));
  for (int round = 0; round < 3; ++round) {
    x[2] += 1.0f;
    const auto results = session->run(request_for(x, {0, 1}), {&buffer, nullptr});
    CHECK(!results[0].is_set());
    CHECK(y == scaled(x, 2.0f));
    CHECK(values_of(results[1]) == scaled(x, -1.0f));
  }
  // ORT would read the input while it writes the output.
  const OutputBuffer over_x = session->output_buffer(0, float_view(x, {1, 3}));
  CHECK_THROWS_KIND(session->run(request_for(x, {0}), {&over_x}), ErrorKind::kInvalidArgument);
}

TEST_CASE(out_buffers_are_written_at_each_prepared_run) {
  load();
  const auto session = three_outputs();
  std::vector<float> x = {1, 2, 3}, y(3, 0.0f), passed(3, 0.0f);
  RunRequest request = request_for(x, {0, 1, 2});
  request.out = {float_view(y, {1, 3}), std::nullopt, float_view(passed, {1, 3})};
  const PreparedRun prepared = session->prepare(request);
  CHECK(prepared.has_out());
  for (int round = 0; round < 2; ++round) {
    x[1] += 10.0f;
    const auto results = session->run(prepared, nullptr);
    CHECK(y == scaled(x, 2.0f));
    CHECK(passed == x);
    CHECK(values_of(results[1]) == scaled(x, -1.0f));  // the one ORT allocated
  }
}

TEST_CASE(prepare_checks_what_run_checks) {
  load();
  const auto session = three_outputs();
  std::vector<float> x = {1, 2, 3, 4};
  RunRequest wrong_shape;
  wrong_shape.inputs.push_back({"x", float_view(x, {1, 4})});
  wrong_shape.outputs = {0};
  CHECK_THROWS_KIND(session->prepare(wrong_shape), ErrorKind::kInvalidArgument);
  std::vector<float> three = {1, 2, 3};
  CHECK_THROWS_KIND(session->prepare(request_for(three, {0, 0})), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(session->prepare(request_for(three, {3})), ErrorKind::kInvalidArgument);
  RunRequest bad_out = request_for(three, {0});
  std::vector<float> small(2);
  bad_out.out = {float_view(small, {1, 2})};
  CHECK_THROWS_KIND(session->prepare(bad_out), ErrorKind::kInvalidArgument);
  RunRequest overlapping = request_for(three, {0});
  overlapping.out = {float_view(three, {1, 3})};
  CHECK_THROWS_KIND(session->prepare(overlapping), ErrorKind::kInvalidArgument);
}

TEST_CASE(a_prepared_run_without_out_runs_on_many_threads_at_once) {
  load();
  const auto session = three_outputs();
  std::vector<float> x(300);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  const PreparedRun prepared = session->prepare(request_for(x, {1, 0}));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        const auto results = session->run(prepared, nullptr);
        if (values_of(results[0]) != scaled(x, -1.0f) || values_of(results[1]) != scaled(x, 2.0f))
          ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong.load() == 0);
}

TEST_MAIN()
