// Models (loaded sessions), their options, signatures and metadata, and the process-wide cache.
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <list>
#include <optional>

#include "bindings.hpp"
#include "fastort/error.hpp"
#include "fastort/model.hpp"
#include "fastort/model_cache.hpp"
#include "gil.hpp"
#include "numpy_interop.hpp"
#include "text.hpp"

namespace py = pybind11;

namespace fastort::bindings {
namespace {

using ProviderList =
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>;
using ConfigList = std::vector<std::pair<std::string, std::string>>;
using Dimensions = std::vector<std::pair<std::string, int64_t>>;
using Initializers = std::vector<std::pair<std::string, py::array>>;

std::vector<DimensionOverride> dimension_overrides(const Dimensions& dimensions) {
  std::vector<DimensionOverride> overrides;
  for (const auto& [name, value] : dimensions) overrides.push_back({name, value});
  return overrides;
}

// The elements are copied here, once (see InitializerTensor).
std::vector<NamedInitializer> copy_initializers(const Initializers& initializers) {
  std::vector<NamedInitializer> copies;
  std::list<std::vector<std::string>> strings;
  for (const auto& [name, array] : initializers) {
    const TensorView view = view_of(array, Subject{"initializer", name}, strings);
    copies.push_back({name, InitializerTensor::copy_of(view)});
  }
  return copies;
}

// Arguments arrive type-checked and normalised by fastort/session.py and
// fastort/onnxruntime; paths as bytes (os.fsencode), so that any file name the system allows
// gets through.
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
  return options;
}

}  // namespace

namespace {

// onnxruntime's two enums are C enums, which pybind11 makes equal to their ints
// (`options.graph_optimization_level == 99`, `ExecutionMode.ORT_SEQUENTIAL == 0`); a scoped
// enum cannot be, so these unscoped ones, with the values of fastort's, are what is bound.
enum OrtGraphOptimizationLevel : int {
  kOrtDisableAll = static_cast<int>(GraphOptimization::kDisable),
  kOrtEnableBasic = static_cast<int>(GraphOptimization::kBasic),
  kOrtEnableExtended = static_cast<int>(GraphOptimization::kExtended),
  kOrtEnableLayout = static_cast<int>(GraphOptimization::kLayout),
  kOrtEnableAll = static_cast<int>(GraphOptimization::kAll),
};
enum OrtExecutionMode : int {
  kOrtSequential = static_cast<int>(Execution::kSequential),
  kOrtParallel = static_cast<int>(Execution::kParallel),
};

}  // namespace

void register_onnxruntime_enums(py::module_& m) {
  py::enum_<OrtGraphOptimizationLevel>(
      m, "GraphOptimizationLevel",
      "ONNX Runtime's graph optimisation levels (onnxruntime's names).")
      .value("ORT_DISABLE_ALL", kOrtDisableAll)
      .value("ORT_ENABLE_BASIC", kOrtEnableBasic)
      .value("ORT_ENABLE_EXTENDED", kOrtEnableExtended)
      .value("ORT_ENABLE_LAYOUT", kOrtEnableLayout)
      .value("ORT_ENABLE_ALL", kOrtEnableAll);
  // The level's name as SessionOptions' `optimization` takes it: a string, since pybind11
  // converts those faster than a choice of types (Session(path) builds options every time).
  m.def(
      "graph_optimization_name",
      [](OrtGraphOptimizationLevel level) {
        return graph_optimization_name(static_cast<GraphOptimization>(level));
      },
      py::arg("level"),
      "'disable' | 'basic' | 'extended' | 'layout' | 'all' for a GraphOptimizationLevel.");
  py::enum_<OrtExecutionMode>(m, "ExecutionMode",
                              "Nodes one after another, or independent branches at once on the "
                              "inter-op threads.")
      .value("ORT_SEQUENTIAL", kOrtSequential)
      .value("ORT_PARALLEL", kOrtParallel);
}

namespace {

SessionSettings make_settings(
    bool parallel_execution, int log_severity_level, int log_verbosity_level,
    const std::string& log_id, bool enable_profiling, const py::bytes& profile_file_prefix,
    bool enable_mem_pattern, bool enable_cpu_mem_arena, bool deterministic_compute,
    const std::vector<py::bytes>& custom_ops_libraries, const Initializers& initializers,
    const Dimensions& free_dimensions_by_name, const Dimensions& free_dimensions_by_denotation,
    const Initializers& external_initializers,
    const std::vector<std::pair<py::bytes, py::bytes>>& external_files) {
  require_runtime();  // initializers become ORT values; custom-op libraries are probed
  SessionSettings settings;
  settings.execution_mode = parallel_execution ? Execution::kParallel : Execution::kSequential;
  settings.log_severity_level = log_severity_level;
  settings.log_verbosity_level = log_verbosity_level;
  settings.log_id = log_id;
  settings.enable_profiling = enable_profiling;
  settings.profile_file_prefix = profile_file_prefix;
  settings.enable_mem_pattern = enable_mem_pattern;
  settings.enable_cpu_mem_arena = enable_cpu_mem_arena;
  settings.deterministic_compute = deterministic_compute;
  for (const auto& path : custom_ops_libraries) settings.custom_ops_libraries.emplace_back(path);
  settings.initializers = copy_initializers(initializers);
  settings.external_initializers = copy_initializers(external_initializers);
  for (const auto& [name, bytes] : external_files) {
    settings.external_files.emplace_back(name, std::make_shared<const std::string>(bytes));
  }
  settings.free_dimensions_by_name = dimension_overrides(free_dimensions_by_name);
  settings.free_dimensions_by_denotation = dimension_overrides(free_dimensions_by_denotation);
  settings.validate();
  return settings;
}

// A value of its own, so that fastort.Session's options (created on every Session(path), the
// cached path too) keep a short keyword list: pybind11 looks every parameter up by name.
void register_session_settings(py::module_& m) {
  py::class_<SessionSettings>(m, "SessionSettings",
                              "Validated settings of a session beyond fastort.Session's options\n"
                              "(those of onnxruntime's SessionOptions).")
      .def(py::init(&make_settings), py::kw_only(), py::arg("parallel_execution") = false,
           py::arg("log_severity_level") = -1, py::arg("log_verbosity_level") = 0,
           py::arg("log_id") = "", py::arg("enable_profiling") = false,
           py::arg("profile_file_prefix") = py::bytes("onnxruntime_profile_"),
           py::arg("enable_mem_pattern") = true, py::arg("enable_cpu_mem_arena") = true,
           py::arg("deterministic_compute") = false,
           py::arg("custom_ops_libraries") = std::vector<py::bytes>{},
           py::arg("initializers") = Initializers{},
           py::arg("free_dimensions_by_name") = Dimensions{},
           py::arg("free_dimensions_by_denotation") = Dimensions{},
           py::arg("external_initializers") = Initializers{},
           py::arg("external_files") = std::vector<std::pair<py::bytes, py::bytes>>{});
}

void register_session_options(py::module_& m) {
  register_session_settings(m);
  py::class_<SessionOptions>(m, "SessionOptions", "Validated options of a session.")
      .def(py::init([](int threads, int inter_op_threads, const std::string& optimization,
                       const ProviderList& providers, const py::bytes& optimized_model_path,
                       const ConfigList& session_config, const py::bytes& external_data_dir,
                       const SessionSettings& settings) {
             require_runtime();  // validate() lists the providers; every Session starts here
             SessionOptions options =
                 make_options(threads, inter_op_threads, optimization, providers,
                              optimized_model_path, session_config, external_data_dir);
             options.settings = settings;
             options.validate();
             return options;
           }),
           py::kw_only(), py::arg("threads") = 0, py::arg("inter_op_threads") = 0,
           py::arg("optimization") = "all", py::arg("providers") = ProviderList{},
           py::arg("optimized_model_path") = py::bytes(), py::arg("session_config") = ConfigList{},
           py::arg("external_data_dir") = py::bytes(), py::arg("settings") = SessionSettings{})
      .def_property_readonly(
          "threads",
          [](py::handle self) {
            return initialized<SessionOptions>(self, "SessionOptions").intra_op_threads;
          })
      .def_property_readonly("external_data_dir", [](py::handle self) {
        return model_text(initialized<SessionOptions>(self, "SessionOptions").external_data_dir);
      });
}

using Shape = py::typing::List<py::typing::Optional<py::typing::Union<py::int_, py::str>>>;
using DType = py::typing::Optional<py::dtype>;
using Metadata = py::typing::Dict<py::str, py::str>;

Shape shape_of(const ValueInfo& info) {
  Shape shape;
  for (size_t i = 0; i < info.shape.size(); ++i) {
    if (info.shape[i] >= 0) {
      shape.append(info.shape[i]);
    } else if (!info.dim_names[i].empty()) {
      shape.append(model_text(info.dim_names[i]));
    } else {
      shape.append(py::none());
    }
  }
  return shape;
}

DType numpy_dtype_of(const ValueInfo& info) {
  // A tensor's, or an optional tensor's; sequences, maps and types numpy lacks (4-bit
  // integers) have none.
  const bool optional_tensor =
      info.kind == ValueKind::kOptional && info.contained == ValueKind::kTensor;
  const ElementType type = optional_tensor ? info.item_type : info.element_type;
  const bool has_dtype = (info.kind == ValueKind::kTensor || optional_tensor) &&
                         (type == ElementType::kString || element_size(type) > 0);
  return has_dtype ? DType(dtype_of(type)) : DType(py::none());
}

const ValueInfo& info_of(py::handle self) { return initialized<ValueInfo>(self, "ValueInfo"); }

void register_value_info(py::module_& m) {
  py::class_<ValueInfo>(m, "ValueInfo",
                        "A model input or output, like onnxruntime's NodeArg: `name`, `shape` "
                        "(an int per fixed dim,\nthe symbolic name or None per dynamic dim), "
                        "`type` (ONNX's spelling) and `dtype`\n(numpy's; an optional tensor's "
                        "element dtype; None for sequences and maps).")
      .def_property_readonly("name", [](py::handle self) { return model_text(info_of(self).name); })
      .def_property_readonly("shape", [](py::handle self) { return shape_of(info_of(self)); })
      .def_property_readonly("type", [](py::handle self) { return info_of(self).type_string; })
      .def_property_readonly("dtype", [](py::handle self) { return numpy_dtype_of(info_of(self)); })
      .def_property_readonly(
          "is_tensor", [](py::handle self) { return info_of(self).kind == ValueKind::kTensor; })
      .def(
          "__eq__",
          [](py::handle self, py::handle other) {
            return py::isinstance<ValueInfo>(other) && info_of(self) == info_of(other);
          },
          py::arg("other"))
      .def("__hash__",
           [](py::handle self) {
             const ValueInfo& info = info_of(self);
             return py::hash(py::make_tuple(model_text(info.name), info.type_string,
                                            py::tuple(shape_of(info))));
           })
      .def("__repr__", [](py::handle self) {
        const ValueInfo& info = info_of(self);
        return "ValueInfo(name=" + std::string(py::repr(model_text(info.name))) +
               ", shape=" + std::string(py::repr(shape_of(info))) +
               ", type=" + std::string(py::repr(py::str(info.type_string))) +
               ", dtype=" + std::string(py::repr(numpy_dtype_of(info))) + ")";
      });
}

const ModelMetadata& metadata_of(py::handle self) {
  return initialized<ModelMetadata>(self, "ModelMetadata");
}

void register_model_metadata(py::module_& m) {
  py::class_<ModelMetadata>(m, "ModelMetadata",
                            "The model's metadata, like onnxruntime's ModelMetadata.")
      .def_property_readonly(
          "producer_name",
          [](py::handle self) { return model_text(metadata_of(self).producer_name); })
      .def_property_readonly(
          "graph_name", [](py::handle self) { return model_text(metadata_of(self).graph_name); })
      .def_property_readonly("domain",
                             [](py::handle self) { return model_text(metadata_of(self).domain); })
      .def_property_readonly(
          "description", [](py::handle self) { return model_text(metadata_of(self).description); })
      .def_property_readonly(
          "graph_description",
          [](py::handle self) { return model_text(metadata_of(self).graph_description); })
      .def_property_readonly("version", [](py::handle self) { return metadata_of(self).version; })
      .def_property_readonly("custom_metadata_map", [](py::handle self) {
        Metadata custom;
        for (const auto& [key, value] : metadata_of(self).custom_metadata_map) {
          custom[model_text(key)] = model_text(value);
        }
        return custom;
      });
}

// fastort.Session's `cache` as it is: None (files through the cache, bytes privately), True
// (through the cache, bytes by their SHA-256) or False (a session of its own).
using Cache = std::optional<bool>;

CachePolicy policy(Cache cache) {
  if (!cache) return CachePolicy::kDefault;
  return *cache ? CachePolicy::kShared : CachePolicy::kPrivate;
}

}  // namespace

void register_session(py::module_& m) {
  register_session_options(m);
  register_value_info(m);
  register_model_metadata(m);
  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def_static(
          "load_file",
          [](const py::bytes& path_bytes, const SessionOptions& options, Cache cache) {
            require_runtime();
            const std::string path = path_bytes;
            return forwarding_ort_log([&] {
              return without_gil([&] { return open_model_file(path, options, policy(cache)); });
            });
          },
          py::arg("path"), py::arg("options"), py::arg("cache"))
      .def_static(
          "load_bytes",
          [](const py::bytes& model, const SessionOptions& options, Cache cache) {
            require_runtime();
            const std::string_view bytes = model;  // kept alive by the caller's reference
            // Bytes are found in the cache by their SHA-256; Python's is the fastest at hand.
            const std::string digest = caches_bytes(policy(cache)) ? py::module_::import("hashlib")
                                                                         .attr("sha256")(model)
                                                                         .attr("hexdigest")()
                                                                         .cast<std::string>()
                                                                   : std::string();
            return forwarding_ort_log([&] {
              return without_gil(
                  [&] { return open_model_bytes(bytes, digest, options, policy(cache)); });
            });
          },
          py::arg("model"), py::arg("options"), py::arg("cache"))
      .def_property_readonly("inputs",
                             [](py::handle s) { return initialized<Model>(s, "Model").inputs(); })
      .def_property_readonly("outputs",
                             [](py::handle s) { return initialized<Model>(s, "Model").outputs(); })
      .def_property_readonly(
          "providers", [](py::handle s) { return initialized<Model>(s, "Model").providers(); })
      .def_property_readonly("metadata",
                             [](py::handle s) { return initialized<Model>(s, "Model").metadata(); })
      .def_property_readonly(
          "threads",
          [](py::handle s) { return initialized<Model>(s, "Model").options().intra_op_threads; },
          "Intra-op threads (0: ONNX Runtime's default).")
      .def_property_readonly(
          "overridable_initializers",
          [](py::handle s) { return initialized<Model>(s, "Model").overridable_initializers(); })
      .def(
          "end_profiling",
          [](py::handle s) {
            const Model& model = initialized<Model>(s, "Model");
            return model_text(without_gil([&] { return model.end_profiling(); }));
          },
          "Ends profiling; the trace file's name, or '' when the session is not profiling.")
      .def_property_readonly("profiling_start_ns", [](py::handle s) {
        return initialized<Model>(s, "Model").profiling_start_ns();
      });

  m.def("cache_info", [] {
    const CacheInfo info = ModelCache::global().info();
    return py::make_tuple(info.hits, info.misses, info.max_size, info.current_size);
  });
  m.def("clear_cache", [] { without_gil([] { ModelCache::global().clear(); }); });
  m.def(
      "set_cache_size",
      [](size_t size) { without_gil([&] { ModelCache::global().set_max_size(size); }); },
      py::arg("maxsize"));
}

}  // namespace fastort::bindings
