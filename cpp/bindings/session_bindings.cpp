// Session, its options and the process-wide cache.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "fastort/raw_benchmark.hpp"
#include "fastort/session.hpp"
#include "fastort/session_cache.hpp"
#include "numpy_interop.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

using ProviderList =
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>;
using ConfigList = std::vector<std::pair<std::string, std::string>>;

// Arguments arrive type-checked and normalised by fastort/session.py.
SessionOptions make_options(int threads, int inter_op_threads, const std::string& optimization,
                            const ProviderList& providers, const std::string& optimized_model_path,
                            const ConfigList& config) {
  SessionOptions options;
  options.intra_op_threads = threads;
  options.inter_op_threads = inter_op_threads;
  options.optimization = parse_graph_optimization(optimization);
  for (const auto& [name, provider_options] : providers) {
    options.providers.push_back(ProviderSpec{name, provider_options});
  }
  options.optimized_model_path = optimized_model_path;
  options.config = config;
  return options;
}

std::string_view str_view(py::handle key, const char* role) {
  Py_ssize_t size = 0;
  const char* text =
      PyUnicode_Check(key.ptr()) ? PyUnicode_AsUTF8AndSize(key.ptr(), &size) : nullptr;
  if (text == nullptr) {
    PyErr_Clear();
    throw Error(ErrorKind::kTypeMismatch,
                std::string(role) + " names must be str, got " +
                    std::string(py::str(key.get_type().attr("__name__"))));
  }
  return {text, static_cast<size_t>(size)};
}

// Everything one run borrows from Python, kept alive until the results are built.
struct BorrowedCall {
  RunRequest request;
  std::vector<py::array> arrays;        // inputs and out buffers
  std::vector<py::object> out_objects;  // parallel to request.outputs; None where ORT allocates
  std::deque<std::vector<std::string>> strings;
};

void borrow_inputs(BorrowedCall& call, const py::handle& input_feed) {
  if (!PyDict_Check(input_feed.ptr())) {
    throw Error(ErrorKind::kTypeMismatch,
                "input_feed must be a dict of input name -> array, got " +
                    std::string(py::str(input_feed.get_type().attr("__name__"))));
  }
  const auto feed = py::reinterpret_borrow<py::dict>(input_feed);
  call.request.inputs.reserve(feed.size());
  for (auto [key, value] : feed) {
    const Subject subject{"input", str_view(key, "input")};
    call.arrays.push_back(as_array(value, subject));
    call.request.inputs.push_back(
        {subject.name, view_of(call.arrays.back(), subject, call.strings)});
  }
}

void borrow_outputs(BorrowedCall& call, const Session& session, const py::handle& output_names,
                    const py::handle& out) {
  if (output_names.is_none() || py::len(output_names) == 0) {
    for (size_t i = 0; i < session.outputs().size(); ++i) call.request.outputs.push_back(i);
  } else {
    if (PyUnicode_Check(output_names.ptr())) {
      throw Error(ErrorKind::kTypeMismatch, "output_names must be a list of names, not a str");
    }
    for (py::handle name : output_names) {
      call.request.outputs.push_back(session.output_index(str_view(name, "output")));
    }
  }
  if (out.is_none()) return;
  if (!PyDict_Check(out.ptr())) {
    throw Error(ErrorKind::kTypeMismatch, "out must be a dict of output name -> numpy array");
  }
  call.request.out.resize(call.request.outputs.size());
  call.out_objects.resize(call.request.outputs.size());
  for (auto [key, value] : py::reinterpret_borrow<py::dict>(out)) {
    const std::string_view name = str_view(key, "output");
    const size_t index = session.output_index(name);
    size_t k = 0;
    while (k < call.request.outputs.size() && call.request.outputs[k] != index) ++k;
    if (k == call.request.outputs.size()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "out names output '" + std::string(name) + "', which is not requested");
    }
    const Subject subject{"out", name};
    if (!py::isinstance<py::array>(value)) {
      throw Error(ErrorKind::kTypeMismatch,
                  subject.text() + " must be a numpy array, got " +
                      std::string(py::str(value.get_type().attr("__name__"))));
    }
    call.arrays.push_back(py::reinterpret_borrow<py::array>(value));
    call.request.out[k] = view_of(call.arrays.back(), subject, call.strings);
    call.out_objects[k] = py::reinterpret_borrow<py::object>(value);
  }
}

py::list run(const std::shared_ptr<Session>& session, py::handle output_names,
             py::handle input_feed, py::handle out, bool strict) {
  BorrowedCall call;
  borrow_inputs(call, input_feed);
  borrow_outputs(call, *session, output_names, out);
  call.request.allow_copy = !strict;
  std::vector<OwnedValue> results;
  {
    // Every pointer ORT needs is gathered; the arrays stay referenced by `call`.
    py::gil_scoped_release release;
    results = session->run(call.request);
  }
  py::list converted(results.size());
  for (size_t k = 0; k < results.size(); ++k) {
    if (!call.out_objects.empty() && call.out_objects[k]) {
      converted[k] = call.out_objects[k];
    } else {
      const ValueInfo& declared = session->outputs()[call.request.outputs[k]];
      converted[k] = to_python(std::move(results[k]), declared, session);
    }
  }
  return converted;
}

double time_raw(const std::shared_ptr<Session>& session, py::handle input_feed, size_t iterations) {
  BorrowedCall call;
  borrow_inputs(call, input_feed);
  call.request.outputs.push_back(0);
  session->run(call.request);  // validates the inputs
  std::vector<TensorView> ordered(session->inputs().size());
  for (const auto& input : call.request.inputs) {
    size_t i = 0;
    while (session->inputs()[i].name != input.name) ++i;
    ordered[i] = input.tensor;
  }
  py::gil_scoped_release release;
  return time_raw_runs(*session, ordered, iterations);
}

py::dict value_info(const ValueInfo& info) {
  py::list shape;
  for (size_t i = 0; i < info.shape.size(); ++i) {
    if (info.shape[i] >= 0) {
      shape.append(info.shape[i]);
    } else if (!info.dim_names[i].empty()) {
      shape.append(info.dim_names[i]);
    } else {
      shape.append(py::none());
    }
  }
  py::dict result;
  result["name"] = info.name;
  result["type"] = info.type_string;
  result["shape"] = shape;
  bool has_dtype = info.kind == ValueKind::kTensor && info.element_type != ElementType::kString &&
                   element_size(info.element_type) > 0;
  result["dtype"] = has_dtype
                        ? py::object(dtype_of(info.element_type))
                        : (info.element_type == ElementType::kString ? py::object(py::dtype("O"))
                                                                     : py::object(py::none()));
  return result;
}

py::list value_infos(const std::vector<ValueInfo>& infos) {
  py::list result;
  for (const auto& info : infos) result.append(value_info(info));
  return result;
}

}  // namespace

void register_session(py::module_& m) {
  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def_static("load_file",
                  [](const std::string& path, bool cached, int threads, int inter_op_threads,
                     const std::string& optimization, const ProviderList& providers,
                     const std::string& optimized_model_path, const ConfigList& config) {
                    const SessionOptions options =
                        make_options(threads, inter_op_threads, optimization, providers,
                                     optimized_model_path, config);
                    py::gil_scoped_release release;
                    return cached ? SessionCache::global().load_file(path, options)
                                  : Session::load_file(path, options);
                  })
      .def_static(
          "load_bytes",
          [](const py::bytes& model, const std::string& identity, int threads, int inter_op_threads,
             const std::string& optimization, const ProviderList& providers,
             const std::string& optimized_model_path, const ConfigList& config) {
            const SessionOptions options = make_options(threads, inter_op_threads, optimization,
                                                        providers, optimized_model_path, config);
            const std::string_view bytes = model;  // kept alive by the caller's reference
            py::gil_scoped_release release;
            return identity.empty() ? Session::load_bytes(bytes, options)
                                    : SessionCache::global().load_bytes(identity, bytes, options);
          })
      .def("run", &run, py::arg("output_names"), py::arg("input_feed"), py::arg("out"),
           py::arg("strict"))
      .def("time_raw_runs", &time_raw, py::arg("input_feed"), py::arg("iterations"),
           "Seconds for `iterations` runs through ORT's C++ API alone (a benchmark floor).")
      .def_property_readonly("inputs", [](const Session& s) { return value_infos(s.inputs()); })
      .def_property_readonly("outputs", [](const Session& s) { return value_infos(s.outputs()); })
      .def_property_readonly("providers", &Session::providers)
      .def_property_readonly("metadata", [](const Session& s) {
        const ModelMetadata& meta = s.metadata();
        py::dict result;
        result["producer_name"] = meta.producer_name;
        result["graph_name"] = meta.graph_name;
        result["domain"] = meta.domain;
        result["description"] = meta.description;
        result["graph_description"] = meta.graph_description;
        result["version"] = meta.version;
        result["custom_metadata_map"] = meta.custom_metadata_map;
        return result;
      });

  m.def("cache_info", [] {
    const CacheInfo info = SessionCache::global().info();
    return py::make_tuple(info.hits, info.misses, info.max_size, info.current_size);
  });
  m.def("clear_cache", [] {
    py::gil_scoped_release release;
    SessionCache::global().clear();
  });
  m.def("set_cache_size", [](size_t size) {
    py::gil_scoped_release release;
    SessionCache::global().set_max_size(size);
  });
}

}  // namespace fastort::bindings
