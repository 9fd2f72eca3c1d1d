// fastort-bench: native latency and throughput of a model through ORT's C++ API and the
// fastort core, and of the preprocessing kernels. Links only fastort_core.
//
//   fastort-bench --model m.onnx [--library libonnxruntime.so] [--batch 1,8] [--threads 1]
//                 [--callers 1,2] [--warmup 20] [--runs 200] [--images 640x480,1920x1080]
//                 [--image-threads 1,2] [--json out.json]
//   fastort-bench --raw-only --model m.onnx [--iterations N] [--batch ...] [--threads ...]
//
// The library defaults to $FASTORT_ORT_LIBRARY. Prints a table; --json writes every figure
// (--json - writes them to stdout and the table to stderr). --raw-only measures only the raw
// ORT C++ loop, without loading the model into the core; with --iterations it times N
// back-to-back calls after the warm-up as one figure, which is how `fastort bench` takes its
// raw floor once per round.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fastort/error.hpp"
#include "fastort/image.hpp"
#include "fastort/model.hpp"
#include "fastort/runtime.hpp"
#include "raw_ort.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model, library, json;
  std::vector<int> batches{1}, callers{1}, image_threads{1};
  std::vector<std::pair<int, int>> images;
  int threads = 1, warmup = 20, runs = 200;
  bool raw_only = false;
  bool prebound = false;  // --raw-only: input values made once, only Run timed
  int iterations = 0;     // > 0: one timed loop of this many raw calls per batch size
};

// The table goes to stderr when the JSON goes to stdout.
std::FILE* report = stdout;

struct Stats {
  double p50 = 0, p90 = 0, p99 = 0, mean = 0, per_second = 0;
};

Stats summarize(std::vector<double> micros, double wall_seconds, size_t items) {
  Stats stats;
  if (micros.empty()) return stats;
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) {
    return micros[std::min(micros.size() - 1, size_t(q * micros.size()))];
  };
  stats.p50 = at(0.50);
  stats.p90 = at(0.90);
  stats.p99 = at(0.99);
  double total = 0;
  for (double value : micros) total += value;
  stats.mean = total / micros.size();
  stats.per_second = wall_seconds > 0 ? items / wall_seconds : 0;
  return stats;
}

std::vector<int> parse_ints(const std::string& text) {
  std::vector<int> values;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    const int value = std::stoi(item);
    if (value < 1) throw std::invalid_argument("values must be >= 1: " + text);
    values.push_back(value);
  }
  return values;
}

std::vector<std::pair<int, int>> parse_sizes(const std::string& text) {
  std::vector<std::pair<int, int>> sizes;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    const auto x = item.find('x');
    if (x == std::string::npos) throw std::invalid_argument("image sizes are WxH: " + item);
    const int width = std::stoi(item.substr(0, x)), height = std::stoi(item.substr(x + 1));
    if (width < 1 || height < 1) throw std::invalid_argument("image sizes must be >= 1: " + item);
    sizes.emplace_back(width, height);
  }
  return sizes;
}

Options parse(int argc, char** argv) {
  Options options;
  if (const char* library = std::getenv("FASTORT_ORT_LIBRARY")) options.library = library;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(
          "usage: fastort-bench [--model M] [--library L] [--batch 1,8] [--threads N]\n"
          "                     [--callers 1,2] [--warmup N] [--runs N]\n"
          "                     [--images WxH,...] [--image-threads 1,2] [--json F|-]\n"
          "       fastort-bench --raw-only [--prebound] --model M [--iterations N] [--library L]\n"
          "                     [--batch 1,8] [--threads N] [--warmup N] [--runs N] [--json "
          "F|-]\n");
      std::exit(0);
    }
    if (flag == "--raw-only") {
      options.raw_only = true;
      continue;
    }
    if (flag == "--prebound") {
      options.prebound = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument("missing value for " + flag);
    const std::string value = argv[++i];
    if (flag == "--model")
      options.model = value;
    else if (flag == "--library")
      options.library = value;
    else if (flag == "--json")
      options.json = value;
    else if (flag == "--batch")
      options.batches = parse_ints(value);
    else if (flag == "--callers")
      options.callers = parse_ints(value);
    else if (flag == "--image-threads")
      options.image_threads = parse_ints(value);
    else if (flag == "--images")
      options.images = parse_sizes(value);
    else if (flag == "--threads")
      options.threads = parse_ints(value).at(0);
    else if (flag == "--warmup")
      options.warmup = parse_ints(value).at(0);
    else if (flag == "--runs")
      options.runs = parse_ints(value).at(0);
    else if (flag == "--iterations")
      options.iterations = parse_ints(value).at(0);
    else
      throw std::invalid_argument("unknown option " + flag);
  }
  if (options.model.empty() && options.images.empty()) {
    throw std::invalid_argument("nothing to measure: give --model and/or --images");
  }
  if (options.raw_only && (options.model.empty() || !options.images.empty() ||
                           options.callers != std::vector<int>{1})) {
    throw std::invalid_argument("--raw-only measures a --model alone (no --images, --callers)");
  }
  if (options.prebound && !options.raw_only) {
    throw std::invalid_argument("--prebound needs --raw-only");
  }
  if (options.iterations > 0 && !options.raw_only) {
    throw std::invalid_argument("--iterations needs --raw-only");
  }
  return options;
}

// Dense random inputs for every model input; dynamic axis 0 is the batch, others are 1.
struct Inputs {
  std::vector<std::vector<unsigned char>> buffers;
  std::vector<fastort::TensorView> views;
};

Inputs make_inputs(const std::vector<fastort::ValueInfo>& infos, int batch) {
  Inputs inputs;
  std::mt19937 random(1);
  for (const auto& info : infos) {
    fastort::TensorView view;
    view.type = info.element_type;
    const size_t item = fastort::element_size(info.element_type);
    if (info.kind != fastort::ValueKind::kTensor || item == 0) {
      throw std::invalid_argument("input '" + info.name + "' is not a numeric tensor");
    }
    for (size_t axis = 0; axis < info.shape.size(); ++axis) {
      view.shape.push_back(info.shape[axis] >= 0 ? info.shape[axis] : (axis == 0 ? batch : 1));
    }
    std::vector<unsigned char> bytes(static_cast<size_t>(view.element_count()) * item);
    if (info.element_type == fastort::ElementType::kFloat32) {
      std::uniform_real_distribution<float> values(-1.0f, 1.0f);
      for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
        const float value = values(random);
        std::memcpy(&bytes[i], &value, 4);
      }
    }
    inputs.buffers.push_back(std::move(bytes));
    view.data = inputs.buffers.back().data();
    inputs.views.push_back(view);
  }
  return inputs;
}

std::vector<double> time_calls(int warmup, int runs, const std::function<void()>& call) {
  for (int i = 0; i < warmup; ++i) call();
  std::vector<double> micros;
  micros.reserve(runs);
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    call();
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return micros;
}

std::string json_stats(const Stats& s) {
  char text[256];
  std::snprintf(text, sizeof text,
                "{\"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f, \"mean_us\": %.3f, "
                "\"per_second\": %.3f}",
                s.p50, s.p90, s.p99, s.mean, s.per_second);
  return text;
}

void print_row(const std::string& name, const Stats& s, const char* unit) {
  std::fprintf(report, "  %-44s p50 %9.2f us  p90 %9.2f  p99 %9.2f  mean %9.2f  %10.1f %s\n",
               name.c_str(), s.p50, s.p90, s.p99, s.mean, s.per_second, unit);
}

std::string model_row(const std::string& name, int batch, const std::vector<double>& micros) {
  double total = 0;
  for (double m : micros) total += m;
  const Stats stats = summarize(micros, total / 1e6, micros.size() * batch);
  print_row(name, stats, "items/s");
  return "{\"name\": \"" + name + "\", \"batch\": " + std::to_string(batch) +
         ", \"stats\": " + json_stats(stats) + "}";
}

std::string raw_name(int batch, bool prebound = false) {
  return std::string(prebound ? "raw ORT C++ API pre-bound" : "raw ORT C++ API") + " batch " +
         std::to_string(batch);
}

// --raw-only: the model is loaded by the raw loop alone.
std::vector<std::string> bench_raw(const Options& options) {
  std::vector<std::string> rows;
  fastort_bench::RawSession raw(options.model, options.threads);
  std::fprintf(report, "%s (ORT %s, %d intra-op thread(s)), raw ORT C++ API only\n",
               options.model.c_str(), fastort::runtime_version().c_str(), options.threads);
  for (int batch : options.batches) {
    const Inputs inputs = make_inputs(raw.inputs(), batch);
    if (options.prebound) raw.bind(inputs.views);
    const std::function<void()> call = options.prebound
                                           ? std::function<void()>([&] { raw.run_bound(); })
                                           : std::function<void()>([&] { raw.run(inputs.views); });
    const std::string name = raw_name(batch, options.prebound);
    if (options.iterations == 0) {
      rows.push_back(model_row(name, batch, time_calls(options.warmup, options.runs, call)));
      continue;
    }
    for (int i = 0; i < options.warmup; ++i) call();
    const auto start = Clock::now();
    for (int i = 0; i < options.iterations; ++i) call();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::fprintf(report, "  %-44s %d calls in %.6f s, %.3f us per call\n", name.c_str(),
                 options.iterations, seconds, seconds / options.iterations * 1e6);
    char figures[160];
    std::snprintf(figures, sizeof figures,
                  ", \"iterations\": %d, \"warmup\": %d, \"seconds\": %.9f, \"mean_us\": %.3f",
                  options.iterations, options.warmup, seconds, seconds / options.iterations * 1e6);
    rows.push_back("{\"name\": \"" + name + "\", \"batch\": " + std::to_string(batch) + figures +
                   "}");
  }
  return rows;
}

std::vector<std::string> bench_model(const Options& options) {
  std::vector<std::string> rows;
  fastort::SessionOptions session_options;
  session_options.intra_op_threads = options.threads;
  const auto session = fastort::Model::load_file(options.model, session_options);
  fastort_bench::RawSession raw(options.model, options.threads);
  std::fprintf(report, "%s (ORT %s, %d intra-op thread(s))\n", options.model.c_str(),
               fastort::runtime_version().c_str(), options.threads);
  for (int batch : options.batches) {
    Inputs inputs = make_inputs(session->inputs(), batch);
    fastort::RunRequest request;
    for (size_t i = 0; i < inputs.views.size(); ++i) {
      request.inputs.push_back(
          {session->inputs()[i].name, inputs.views[i], fastort::ValueKind::kTensor, {}});
    }
    for (size_t i = 0; i < session->outputs().size(); ++i) request.outputs.push_back(i);
    // Bound outputs: buffers shaped like one run's results.
    auto first = session->run(request);
    std::vector<std::vector<unsigned char>> out_buffers;
    fastort::RunRequest bound = request;
    bool can_bind = true;
    for (auto& value : first) {
      if (value.kind() != fastort::ValueKind::kTensor) can_bind = false;
      if (!can_bind) break;
      fastort::TensorView view = value.tensor();
      if (view.type == fastort::ElementType::kString) can_bind = false;
      if (!can_bind) break;
      out_buffers.emplace_back(view.element_count() * fastort::element_size(view.type) + 1);
      view.data = out_buffers.back().data();
      bound.out.push_back(view);
    }
    const std::string suffix = " batch " + std::to_string(batch);
    rows.push_back(model_row(raw_name(batch), batch, time_calls(options.warmup, options.runs, [&] {
                               raw.run(inputs.views);
                             })));
    rows.push_back(
        model_row("fastort core Model::run" + suffix, batch,
                  time_calls(options.warmup, options.runs, [&] { session->run(request); })));
    if (can_bind) {
      rows.push_back(
          model_row("fastort core, bound outputs" + suffix, batch,
                    time_calls(options.warmup, options.runs, [&] { session->run(bound); })));
    }
    for (int callers : options.callers) {
      if (callers == 1) continue;
      std::vector<std::vector<double>> per_thread(callers);
      const auto start = Clock::now();
      std::vector<std::thread> threads;
      for (int t = 0; t < callers; ++t) {
        threads.emplace_back([&, t] {
          per_thread[t] = time_calls(options.warmup, options.runs, [&] { session->run(request); });
        });
      }
      for (auto& thread : threads) thread.join();
      const double wall = std::chrono::duration<double>(Clock::now() - start).count();
      std::vector<double> all;
      for (auto& micros : per_thread) all.insert(all.end(), micros.begin(), micros.end());
      const Stats stats = summarize(all, wall, all.size() * batch);
      const std::string name = std::to_string(callers) + " callers, Model::run" + suffix;
      print_row(name, stats, "items/s");
      rows.push_back("{\"name\": \"" + name + "\", \"batch\": " + std::to_string(batch) +
                     ", \"callers\": " + std::to_string(callers) +
                     ", \"stats\": " + json_stats(stats) + "}");
    }
  }
  return rows;
}

std::vector<std::string> bench_images(const Options& options) {
  std::vector<std::string> rows;
  std::fprintf(report, "preprocessing -> 1x3x224x224 float32 (bilinear, Pillow-exact)\n");
  std::mt19937 random(2);
  for (const auto& [width, height] : options.images) {
    std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * 3);
    for (auto& p : pixels) p = static_cast<uint8_t>(random());
    const fastort::ImageView image{pixels.data(), height, width, 3, int64_t(width) * 3};
    fastort::ImageTransformSpec spec;
    for (int threads : options.image_threads) {
      spec.threads = threads;
      const int batch = std::max(threads, 1) * 4;
      std::vector<fastort::ImageView> images(batch, image);
      std::vector<float> out(static_cast<size_t>(batch) * 3 * 224 * 224);
      fastort::TensorView view;
      view.data = out.data();
      view.type = fastort::ElementType::kFloat32;
      view.shape = {batch, 3, 224, 224};
      const int runs = std::max(3, options.runs / 20);
      auto micros = time_calls(2, runs, [&] { fastort::transform_images(images, spec, view); });
      double total = 0;
      for (double m : micros) total += m;
      const Stats stats = summarize(micros, total / 1e6, micros.size() * batch);
      const double megapixels = stats.per_second * width * height / 1e6;
      char name[96];
      std::snprintf(name, sizeof name, "%dx%d, batch %d, %d thread(s)", width, height, batch,
                    threads);
      std::fprintf(report, "  %-36s %8.1f images/s  %8.1f Mpx/s  (%.2f ms per batch)\n", name,
                   stats.per_second, megapixels, stats.p50 / 1e3);
      char extra[160];
      std::snprintf(extra, sizeof extra,
                    ", \"width\": %d, \"height\": %d, \"threads\": %d, \"batch\": %d, "
                    "\"megapixels_per_second\": %.3f",
                    width, height, threads, batch, megapixels);
      rows.push_back(std::string("{\"name\": \"") + name + "\"" + extra +
                     ", \"stats\": " + json_stats(stats) + "}");
    }
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    if (options.json == "-") report = stderr;
    std::vector<std::string> model_rows, image_rows;
    if (!options.model.empty()) {
      if (options.library.empty()) {
        throw std::invalid_argument("give --library or set FASTORT_ORT_LIBRARY");
      }
      fastort::load_runtime(options.library);
      model_rows = options.raw_only ? bench_raw(options) : bench_model(options);
    }
    if (!options.images.empty()) image_rows = bench_images(options);
    if (!options.json.empty()) {
      auto join = [](const std::vector<std::string>& rows) {
        std::string text;
        for (const auto& row : rows) text += (text.empty() ? "\n    " : ",\n    ") + row;
        return text;
      };
      const std::string text = "{\n  \"model\": [" + join(model_rows) + "\n  ],\n  \"images\": [" +
                               join(image_rows) + "\n  ]\n}\n";
      if (options.json == "-") {
        std::fputs(text.c_str(), stdout);
        if (std::fflush(stdout) != 0) throw std::runtime_error("cannot write to stdout");
      } else {
        std::ofstream file(options.json);
        file << text;
        if (!file) throw std::runtime_error("cannot write " + options.json);
      }
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fastort-bench: error: %s\n", error.what());
    return 1;
  }
}
