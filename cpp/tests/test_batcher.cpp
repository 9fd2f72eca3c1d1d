// The batcher against a real runtime: rows in and out, isolation, shapes, close, cancel.
#include <atomic>
#include <future>
#include <optional>
#include <thread>
#include <vector>

#include "check.hpp"
#include "fastort/batcher.hpp"
#include "fastort/runtime.hpp"
#include "onnx_writer.hpp"
#include "serving/batch_run.hpp"

using namespace fastort;
using namespace fastort::testing;

namespace {

void load() { load_runtime(env_or_empty("FASTORT_ORT_LIBRARY")); }

// y = x + x, x float[N, M].
std::shared_ptr<const Model> doubler() {
  return Model::load_bytes(
      model(field(1, node("Add", {"x", "x"}, {"y"})), field(11, tensor_info("x", 1, {"N", "M"})),
            field(12, tensor_info("y", 1, {"N", "M"}))),
      {});
}

// y = data[i] for data = [0, 10, ..., 90]: an index beyond 9 fails in ORT.
std::shared_ptr<const Model> gatherer() {
  std::vector<float> data;
  for (int i = 0; i < 10; ++i) data.push_back(10.0f * static_cast<float>(i));
  return Model::load_bytes(
      model(field(1, node("Gather", {"data", "i"}, {"y"})), field(11, tensor_info("i", 7, {"N"})),
            field(12, tensor_info("y", 1, {"N"})), field(5, float_initializer("data", data))),
      {});
}

TensorView view_of(std::vector<float>& values, std::vector<int64_t> shape) {
  TensorView view;
  view.data = values.data();
  view.type = ElementType::kFloat32;
  view.shape = std::move(shape);
  return view;
}

float first_output(const BatchRequest& request, size_t index) {
  return static_cast<const float*>(request.outputs()[0].view.data)[index];
}

}  // namespace

void check_rows_from_many_threads(int workers) {
  load();
  Batcher batcher(doubler(), BatcherOptions{8, 1.0, 4096, workers});
  std::atomic<int> wrong{0};
  std::atomic<int64_t> sent{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 200; ++n) {
        const int rows = 1 + (n + t) % 3;
        sent += rows;
        std::vector<float> x(static_cast<size_t>(rows) * 2);
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(t * 1000 + n + i);
        // Odd threads run (at once when the batcher is idle), even ones submit.
        auto request = t % 2 ? batcher.run({{"x", view_of(x, {rows, 2})}})
                             : batcher.submit({{"x", view_of(x, {rows, 2})}});
        request->wait(-1);
        if (request->state() != BatchRequest::State::kDone ||
            request->outputs()[0].view.shape != std::vector<int64_t>{rows, 2}) {
          ++wrong;
          continue;
        }
        for (size_t i = 0; i < x.size(); ++i) {
          if (first_output(*request, i) != 2 * x[i]) ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong.load() == 0);
  const BatcherStats stats = batcher.stats();
  CHECK(stats.requests == 8 * 200);
  CHECK(stats.batches >= 1 && stats.batches <= stats.requests);
  // Every row counted once, though clients may ask before a worker is done handing out.
  int64_t rows = 0;
  for (const auto& [batch_rows, count] : stats.batch_rows)
    rows += batch_rows * static_cast<int64_t>(count);
  CHECK(rows == sent.load());
}

TEST_CASE(requests_get_their_own_rows_from_many_threads) { check_rows_from_many_threads(1); }

TEST_CASE(several_workers_give_every_request_its_own_rows) { check_rows_from_many_threads(3); }

TEST_CASE(run_on_an_idle_batcher_runs_on_the_callers_thread) {
  load();
  Batcher batcher(doubler(), BatcherOptions{8, 1000.0, 16});
  std::vector<float> x = {1, 2, 3, 4};
  auto request = batcher.run({{"x", view_of(x, {2, 2})}});
  CHECK(request->done());  // no worker involved, and no waiting out max_delay_ms
  CHECK(request->state() == BatchRequest::State::kDone && first_output(*request, 3) == 8.0f);
  CHECK(batcher.stats().batches == 1 && batcher.stats().requests == 1);
}

// run_here_if_idle: a HereRun where run() would run the request on the caller's thread, none
// while another run is in progress; counted like run()'s.
TEST_CASE(run_here_if_idle_only_when_idle) {
  load();
  Batcher batcher(doubler(), BatcherOptions{8, 1000.0, 16});
  std::vector<float> x = {1, 2, 3, 4};
  const std::vector<NamedInput> request = {{"x", view_of(x, {2, 2})}};
  {
    std::optional<Batcher::HereRun> first = batcher.run_here_if_idle(request);
    CHECK(first.has_value());
    CHECK(!batcher.run_here_if_idle(request).has_value());  // busy: the first is in progress
    first->finished(0.01);
  }
  CHECK(batcher.run_here_if_idle(request).has_value());  // idle again, and done at once
  const BatcherStats stats = batcher.stats();
  CHECK(stats.requests == 2 && stats.batches == 2 && stats.run_ms.size() == 1);
  batcher.close();
  bool refused = false;
  try {
    batcher.run_here_if_idle(request);
  } catch (const Error& error) {
    refused = error.kind() == ErrorKind::kRuntime;
  }
  CHECK(refused);
}

// checked_rows, then run_here(rows): a caller that checked a request before (a loop's arrays)
// runs it again without checking it; the batcher still counts its rows and refuses it closed.
TEST_CASE(a_request_checked_before_runs_here_by_its_rows) {
  load();
  Batcher batcher(doubler(), BatcherOptions{8, 1000.0, 16});
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  CHECK(batcher.checked_rows({{"x", view_of(x, {3, 2})}}) == 3);
  bool refused = false;
  try {
    batcher.checked_rows({{"nope", view_of(x, {3, 2})}});
  } catch (const Error& error) {
    refused = error.kind() == ErrorKind::kInvalidArgument;
  }
  CHECK(refused);
  batcher.run_here(3).finished(0.01);
  batcher.run_here_if_idle(3)->finished(0.01);
  const BatcherStats stats = batcher.stats();
  CHECK(stats.requests == 2 && stats.batch_rows.size() == 1 && stats.batch_rows[0].first == 3 &&
        stats.batch_rows[0].second == 2);
  batcher.close();
  refused = false;
  try {
    batcher.run_here(3);
  } catch (const Error& error) {
    refused = error.kind() == ErrorKind::kRuntime;
  }
  CHECK(refused);
}

// Trials (Batcher::trial_here) come once in kTrialEvery calls once runs measured the batcher
// cheap; a trial that took long pauses them for kTrialPause calls, doubled at each pause.
TEST_CASE(trials_come_once_in_a_while_and_a_long_one_pauses_them) {
  load();
  Batcher batcher(doubler(), BatcherOptions{8, 1000.0, 16});
  const auto trials_in = [&](uint64_t calls) {
    uint64_t trials = 0;
    for (uint64_t i = 0; i < calls; ++i) trials += batcher.trial_here() ? 1 : 0;
    return trials;
  };
  constexpr uint64_t kEvery = Batcher::kTrialEvery;
  CHECK(trials_in(4 * kEvery) == 0);  // nothing measured yet
  std::vector<float> x = {1, 2, 3, 4};
  // Idle: each runs on this thread, measured; the first run's allocations fade from the mean.
  for (int i = 0; i < 100; ++i) batcher.run({{"x", view_of(x, {2, 2})}});
  const uint64_t first = trials_in(4 * kEvery);
  if (first == 0) {
    // Runs longer than a hand-over (a sanitizer build): never worth a trial. Say why: the
    // batcher's mean decays by a tenth a run, so its last 30 runs took most of it.
    const std::vector<double> run_ms = batcher.stats().run_ms;
    double recent = 0;
    for (size_t i = run_ms.size() - 30; i < run_ms.size(); ++i) recent += run_ms[i] / 30;
    CHECK(recent > 0.02);
    return;
  }
  CHECK(first == 4);
  batcher.trial_finished(0.5);  // short enough: nothing changes
  CHECK(trials_in(4 * kEvery) == 4);
  batcher.trial_finished(5.0);
  CHECK(trials_in(Batcher::kTrialPause) == 0);
  CHECK(trials_in(4 * kEvery) == 4);
  batcher.trial_finished(5.0);  // the next pause is twice as long
  CHECK(trials_in(2 * Batcher::kTrialPause) == 0);
  CHECK(trials_in(4 * kEvery) == 4);
  batcher.close();
  CHECK(trials_in(4 * kEvery) == 0);
}

// The stats keep the last 4096 timings of each kind, oldest first.
TEST_CASE(stats_keep_the_latest_timings) {
  load();
  Batcher batcher(doubler(), BatcherOptions{8, 1000.0, 16});
  std::vector<float> x = {1, 2, 3, 4};
  for (int i = 0; i < 5000; ++i) batcher.run({{"x", view_of(x, {2, 2})}});
  const BatcherStats stats = batcher.stats();
  CHECK(stats.batches == 5000 && stats.run_ms.size() == 4096);
  CHECK(stats.queue_delay_ms.size() == 4096);
  for (double ms : stats.run_ms) CHECK(ms >= 0);
}

// A client woken by its request finds it counted: each run, and each request dropped, is
// counted before the requests it concerns complete (a completion hook runs on the worker, at
// the moment the client would wake).
TEST_CASE(stats_count_a_request_before_it_completes) {
  load();
  Batcher batcher(gatherer(), BatcherOptions{8, 1.0, 16});
  std::vector<int64_t> good = {1, 2, 3}, bad = {20};
  TensorView view;
  view.type = ElementType::kInt64;
  // Whether the statistics had counted `batches` runs and `timed_out` requests when `request`
  // completed.
  const auto counted_when_done = [&](const std::shared_ptr<BatchRequest>& request, uint64_t batches,
                                     uint64_t timed_out) {
    std::promise<bool> counted;
    request->on_done([&](const std::shared_ptr<BatchRequest>&) {
      const BatcherStats stats = batcher.stats();
      counted.set_value(stats.batches == batches && stats.timed_out == timed_out);
    });
    return counted.get_future().get();
  };
  for (uint64_t n = 0; n < 50; ++n) {
    view.data = good.data();
    view.shape = {3};
    auto request = batcher.submit({{"i", view}});
    CHECK(counted_when_done(request, 2 * n + 1, n));
    CHECK(request->state() == BatchRequest::State::kDone);

    view.data = bad.data();
    view.shape = {1};
    request = batcher.submit({{"i", view}});  // fails in ORT: a run all the same
    CHECK(counted_when_done(request, 2 * n + 2, n));
    CHECK(request->state() == BatchRequest::State::kFailed);

    view.data = good.data();
    request = batcher.submit({{"i", view}}, 1e-9);  // late when the worker takes it
    CHECK(counted_when_done(request, 2 * n + 2, n + 1));
    CHECK(request->error() && request->error()->kind() == ErrorKind::kTimedOut);
  }
  const BatcherStats stats = batcher.stats();
  CHECK(stats.batch_rows == (std::vector<std::pair<int64_t, uint64_t>>{{1, 50}, {3, 50}}));
}

TEST_CASE(one_bad_request_fails_alone) {
  load();
  auto gather = gatherer();
  std::vector<int64_t> good = {1, 2}, bad = {42}, other = {0};
  std::vector<std::vector<int64_t>*> rows = {&good, &bad, &other};
  std::vector<TensorView> views;
  for (auto* values : rows) {
    TensorView view;
    view.data = values->data();
    view.type = ElementType::kInt64;
    view.shape = {static_cast<int64_t>(values->size())};
    views.push_back(view);
  }
  // One batch of the three, as the worker would take it.
  detail::Batch batch(*gather, {&views[0]}, {{}}, 8, false);
  int64_t first_row = 0;
  for (const TensorView& view : views) {
    auto request = std::make_shared<BatchRequest>(view.shape[0], std::nullopt);
    batch.copy_rows({&view}, first_row, view.shape[0]);
    batch.requests.push_back({request, first_row});
    first_row += view.shape[0];
    batch.rows = first_row;
  }
  const detail::BatchOutcome outcome = detail::run_batch(gather, batch);
  CHECK(outcome.runs == 4);  // the batch, then each request alone
  const auto& a = *batch.requests[0].request;
  const auto& b = *batch.requests[1].request;
  const auto& c = *batch.requests[2].request;
  CHECK(a.state() == BatchRequest::State::kDone && first_output(a, 1) == 20.0f);
  CHECK(c.state() == BatchRequest::State::kDone && first_output(c, 0) == 0.0f);
  CHECK(b.state() == BatchRequest::State::kFailed);
  CHECK(b.error() && b.error()->kind() == ErrorKind::kRuntime);
}

TEST_CASE(cancelled_and_expired_requests_do_not_run) {
  load();
  auto gather = gatherer();
  std::vector<int64_t> indices = {1, 2, 3};
  TensorView view;
  view.data = indices.data();
  view.type = ElementType::kInt64;
  view.shape = {1};
  detail::Batch batch(*gather, {&view}, {{}}, 8, false);
  const auto past = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  std::vector<std::shared_ptr<BatchRequest>> requests = {
      std::make_shared<BatchRequest>(1, std::nullopt), std::make_shared<BatchRequest>(1, past),
      std::make_shared<BatchRequest>(1, std::nullopt)};
  for (int64_t row = 0; row < 3; ++row) {
    TensorView one = view;
    one.data = indices.data() + row;
    batch.copy_rows({&one}, row, 1);
    batch.requests.push_back({requests[static_cast<size_t>(row)], row});
  }
  batch.rows = 3;
  CHECK(requests[0]->cancel());
  const detail::BatchOutcome outcome = detail::run_batch(gather, batch);
  CHECK(outcome.cancelled == 1 && outcome.timed_out == 1 &&
        outcome.run_rows == std::vector<int64_t>{1});
  CHECK(requests[0]->state() == BatchRequest::State::kCancelled);
  CHECK(requests[1]->error() && requests[1]->error()->kind() == ErrorKind::kTimedOut);
  // The third request's row moved down to row 0 and gave its own value.
  CHECK(requests[2]->state() == BatchRequest::State::kDone &&
        first_output(*requests[2], 0) == 30.0f);
}

TEST_CASE(bad_requests_and_models_are_refused_at_once) {
  load();
  Batcher batcher(doubler(), BatcherOptions{});
  std::vector<float> x(6);
  CHECK_THROWS_KIND(batcher.submit({{"z", view_of(x, {3, 2})}}), ErrorKind::kInvalidArgument);
  TensorView ints = view_of(x, {3, 2});
  ints.type = ElementType::kInt32;
  CHECK_THROWS_KIND(batcher.submit({{"x", ints}}), ErrorKind::kTypeMismatch);
  CHECK_THROWS_KIND(batcher.submit({{"x", view_of(x, {0, 2})}}), ErrorKind::kInvalidArgument);
  // No dynamic first axis: sigmoid.onnx is float[3,4,5].
  auto fixed = Model::load_file(env_or_empty("FASTORT_TEST_MODELS") + "/sigmoid.onnx", {});
  CHECK_THROWS_KIND(Batcher(fixed, BatcherOptions{}), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(Batcher(doubler(), BatcherOptions{0, 1.0, 8}), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(Batcher(doubler(), BatcherOptions{8, -1.0, 8}), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(Batcher(doubler(), BatcherOptions{8, 1.0, 8, 0}), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(Batcher(doubler(), BatcherOptions{8, 1.0, 8, 65}), ErrorKind::kInvalidArgument);
}

TEST_CASE(initializers_fed_per_request_are_refused) {
  // y = x + b, where the initializer b = [1, 2] is also a graph input (overridable by a run).
  load();
  auto shifted = Model::load_bytes(
      model(field(1, node("Add", {"x", "b"}, {"y"})),
            field(11, tensor_info("x", 1, {"N", "2"})) + field(11, tensor_info("b", 1, {"2"})),
            field(12, tensor_info("y", 1, {"N", "2"})), field(5, float_initializer("b", {1, 2}))),
      {});
  CHECK(shifted->overridable_initializers().size() == 1);
  Batcher batcher(shifted, BatcherOptions{});
  std::vector<float> x(4), b(2);
  CHECK_THROWS_KIND(batcher.submit({{"x", view_of(x, {2, 2})}, {"b", view_of(b, {2})}}),
                    ErrorKind::kInvalidArgument);
  auto request = batcher.submit({{"x", view_of(x, {2, 2})}});
  request->wait(-1);
  CHECK(request->state() == BatchRequest::State::kDone);
  CHECK(first_output(*request, 1) == 2.0f);
}

TEST_CASE(different_trailing_shapes_run_in_separate_batches) {
  load();
  Batcher batcher(doubler(), BatcherOptions{16, 20.0, 64});
  std::vector<float> narrow(2, 1.0f), wide(3, 2.0f);
  auto a = batcher.submit({{"x", view_of(narrow, {1, 2})}});
  auto b = batcher.submit({{"x", view_of(wide, {1, 3})}});
  auto c = batcher.submit({{"x", view_of(narrow, {1, 2})}});
  for (const auto& request : {a, b, c}) request->wait(-1);
  CHECK(a->state() == BatchRequest::State::kDone && first_output(*a, 1) == 2.0f);
  CHECK(b->outputs()[0].view.shape == std::vector<int64_t>({1, 3}) && first_output(*b, 2) == 4.0f);
  CHECK(c->state() == BatchRequest::State::kDone);
}

void check_close_drains_and_refuses_and_cancel_drops(int workers) {
  load();
  auto batcher = std::make_unique<Batcher>(doubler(), BatcherOptions{4, 100.0, 2, workers});
  std::vector<float> x(2, 1.0f);
  std::vector<std::shared_ptr<BatchRequest>> requests;
  int refused = 0;
  // Several workers may keep up with one submitter for a while: it goes on until refused.
  for (int n = 0; n < 50 || (refused == 0 && n < 100000); ++n) {
    try {
      requests.push_back(batcher->submit({{"x", view_of(x, {1, 2})}}));
    } catch (const Error& error) {
      CHECK(error.kind() == ErrorKind::kQueueFull);
      ++refused;
    }
  }
  CHECK(refused > 0);
  const bool cancelled = requests.back()->cancel();
  batcher->close();
  for (const auto& request : requests) CHECK(request->done());
  if (cancelled) CHECK(requests.back()->state() == BatchRequest::State::kCancelled);
  CHECK_THROWS_KIND(batcher->submit({{"x", view_of(x, {1, 2})}}), ErrorKind::kRuntime);
  CHECK(batcher->stats().rejected == static_cast<uint64_t>(refused));
  batcher.reset();  // joins the workers
}

TEST_CASE(close_drains_and_refuses_and_cancel_drops) {
  check_close_drains_and_refuses_and_cancel_drops(1);
}

TEST_CASE(close_drains_several_workers) { check_close_drains_and_refuses_and_cancel_drops(4); }

TEST_MAIN()
