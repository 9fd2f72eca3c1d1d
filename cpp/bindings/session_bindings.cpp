// Session, its options and the process-wide cache.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "fastort/raw_benchmark.hpp"
#include "fastort/session.hpp"
#include "fastort/session_cache.hpp"
#include "gil.hpp"
#include "numpy_interop.hpp"
#include "run_bindings.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

using ProviderList =
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>;
using ConfigList = std::vector<std::pair<std::string, std::string>>;

// Arguments arrive type-checked and normalised by fastort/session.py; paths as bytes
// (os.fsencode), so that any file name the system allows gets through.
SessionOptions make_options(int threads, int inter_op_threads, const std::string& optimization,
                            const ProviderList& providers, const py::bytes& optimized_model_path,
                            const ConfigList& config, const py::bytes& external_data_dir) {
  SessionOptions options;
  options.intra_op_threads = threads;
  options.inter_op_threads = inter_op_threads;
  options.optimization = parse_graph_optimization(optimization);
  for (const auto& [name, provider_options] : providers) {
    options.providers.push_back(ProviderSpec{name, provider_options});
  }
  options.optimized_model_path = optimized_model_path;
  options.config = config;
  options.external_data_dir = external_data_dir;
  options.validate();
  return options;
}

void register_session_options(py::module_& m) {
  py::class_<SessionOptions>(m, "SessionOptions", "Validated options of a session.")
      .def(py::init(&make_options), py::kw_only(), py::arg("threads") = 0,
           py::arg("inter_op_threads") = 0, py::arg("optimization") = "all",
           py::arg("providers") = ProviderList{}, py::arg("optimized_model_path") = py::bytes(),
           py::arg("session_config") = ConfigList{}, py::arg("external_data_dir") = py::bytes())
      .def_property_readonly(
          "threads",
          [](py::handle self) {
            return initialized<SessionOptions>(self, "SessionOptions").intra_op_threads;
          })
      .def_property_readonly("external_data_dir", [](py::handle self) {
        return model_text(initialized<SessionOptions>(self, "SessionOptions").external_data_dir);
      });
}

double time_raw(py::handle self, py::handle input_feed, size_t iterations) {
  const Session& session = initialized<Session>(self, "Session");
  BorrowedCall call;
  borrow_inputs(call, input_feed);
  call.request.outputs.push_back(0);
  session.run(call.request);  // validates the inputs
  std::vector<TensorView> ordered(session.inputs().size());
  for (const auto& input : call.request.inputs) {
    size_t i = 0;
    while (session.inputs()[i].name != input.name) ++i;
    ordered[i] = input.tensor;
  }
  return without_gil([&] { return time_raw_runs(session, ordered, iterations); });
}

py::dict value_info(const ValueInfo& info) {
  py::list shape;
  for (size_t i = 0; i < info.shape.size(); ++i) {
    if (info.shape[i] >= 0) {
      shape.append(info.shape[i]);
    } else if (!info.dim_names[i].empty()) {
      shape.append(model_text(info.dim_names[i]));
    } else {
      shape.append(py::none());
    }
  }
  py::dict result;
  result["name"] = model_text(info.name);
  result["type"] = info.type_string;
  result["shape"] = shape;
  // Sequences, maps and types numpy lacks (4-bit integers) have no dtype.
  const bool has_dtype =
      info.kind == ValueKind::kTensor &&
      (info.element_type == ElementType::kString || element_size(info.element_type) > 0);
  result["dtype"] = has_dtype ? py::object(dtype_of(info.element_type)) : py::object(py::none());
  return result;
}

py::list value_infos(const std::vector<ValueInfo>& infos) {
  py::list result;
  for (const auto& info : infos) result.append(value_info(info));
  return result;
}

}  // namespace

void register_session(py::module_& m) {
  register_session_options(m);
  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def_static(
          "load_file",
          [](const py::bytes& path_bytes, const SessionOptions& options, bool cached) {
            const std::string path = path_bytes;
            return forwarding_ort_log([&] {
              return without_gil([&] {
                return cached ? SessionCache::global().load_file(path, options)
                              : Session::load_file(path, options);
              });
            });
          },
          py::arg("path"), py::arg("options"), py::arg("cached"))
      .def_static(
          "load_bytes",
          [](const py::bytes& model, const SessionOptions& options, const std::string& identity) {
            const std::string_view bytes = model;  // kept alive by the caller's reference
            return forwarding_ort_log([&] {
              return without_gil([&] {
                return identity.empty()
                           ? Session::load_bytes(bytes, options)
                           : SessionCache::global().load_bytes(identity, bytes, options);
              });
            });
          },
          py::arg("model"), py::arg("options"), py::arg("identity"))
      .def("time_raw_runs", &time_raw, py::arg("input_feed"), py::arg("iterations"),
           "Seconds for `iterations` runs through ORT's C++ API alone (a benchmark floor).")
      .def_property_readonly(
          "inputs",
          [](py::handle s) { return value_infos(initialized<Session>(s, "Session").inputs()); })
      .def_property_readonly(
          "outputs",
          [](py::handle s) { return value_infos(initialized<Session>(s, "Session").outputs()); })
      .def_property_readonly(
          "providers", [](py::handle s) { return initialized<Session>(s, "Session").providers(); })
      .def_property_readonly("metadata", [](py::handle self) {
        const Session& s = initialized<Session>(self, "Session");
        const ModelMetadata& meta = s.metadata();
        py::dict custom;
        for (const auto& [key, value] : meta.custom_metadata_map) {
          custom[model_text(key)] = model_text(value);
        }
        py::dict result;
        result["producer_name"] = model_text(meta.producer_name);
        result["graph_name"] = model_text(meta.graph_name);
        result["domain"] = model_text(meta.domain);
        result["description"] = model_text(meta.description);
        result["graph_description"] = model_text(meta.graph_description);
        result["version"] = meta.version;
        result["custom_metadata_map"] = custom;
        return result;
      });

  m.def("cache_info", [] {
    const CacheInfo info = SessionCache::global().info();
    return py::make_tuple(info.hits, info.misses, info.max_size, info.current_size);
  });
  m.def("clear_cache", [] { without_gil([] { SessionCache::global().clear(); }); });
  m.def("set_cache_size",
        [](size_t size) { without_gil([&] { SessionCache::global().set_max_size(size); }); });
}

}  // namespace fastort::bindings
