#include "fastort/error.hpp"

namespace fastort {

const char* ort_error_code_name(int ort_code) noexcept {
  // OrtErrorCode values, stable across ORT releases (the C API is append-only).
  static constexpr const char* kNames[] = {
      "ORT_OK",
      "ORT_FAIL",
      "ORT_INVALID_ARGUMENT",
      "ORT_NO_SUCHFILE",
      "ORT_NO_MODEL",
      "ORT_ENGINE_ERROR",
      "ORT_RUNTIME_EXCEPTION",
      "ORT_INVALID_PROTOBUF",
      "ORT_MODEL_LOADED",
      "ORT_NOT_IMPLEMENTED",
      "ORT_INVALID_GRAPH",
      "ORT_EP_FAIL",
      "ORT_MODEL_LOAD_CANCELED",
      "ORT_MODEL_REQUIRES_COMPILATION",
      "ORT_NOT_FOUND",
  };
  if (ort_code < 0 || ort_code >= static_cast<int>(std::size(kNames))) return "ORT_UNKNOWN";
  return kNames[ort_code];
}

}  // namespace fastort
