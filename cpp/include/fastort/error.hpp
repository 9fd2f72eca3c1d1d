// Typed errors of the core. The Python bindings map each kind to an exception class, so the
// kind is part of the API: pick the one a caller would want to catch.
#pragma once

#include <stdexcept>
#include <string>

namespace fastort {

enum class ErrorKind {
  kRuntime,           // anything else, including ORT failures while running
  kInvalidArgument,   // a bad value: unknown name, wrong shape, absurd option
  kTypeMismatch,      // a value of the wrong type or element type
  kFileNotFound,      // a model path that does not exist
  kIsADirectory,      // a model path that is a directory
  kPermissionDenied,  // a file this process may not read
  kInvalidModel,      // a model that ONNX Runtime cannot load
  kRuntimeLoad,       // libonnxruntime missing, unloadable or too old
  kTerminated,        // a run stopped by RunOptions' terminate flag
  kTimedOut,          // a run stopped because its RunOptions timeout passed
  kInterrupted,       // a run stopped by a signal (the bindings let Python handle it)
  kQueueFull,         // a Batcher's queue holds max_queue requests already
};

// Sentinel for errors that did not come from ONNX Runtime.
inline constexpr int kNoOrtCode = -1;

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, int ort_code = kNoOrtCode,
        std::string path = {})
      : std::runtime_error(message), kind_(kind), ort_code_(ort_code), path_(std::move(path)) {}

  ErrorKind kind() const noexcept { return kind_; }
  // OrtErrorCode of the failing ORT call, or kNoOrtCode.
  int ort_code() const noexcept { return ort_code_; }
  // The file the error is about, for kFileNotFound, kIsADirectory and kPermissionDenied.
  const std::string& path() const noexcept { return path_; }

 private:
  ErrorKind kind_;
  int ort_code_;
  std::string path_;
};

// "ORT_INVALID_PROTOBUF" for the numeric OrtErrorCode, "ORT_UNKNOWN" for an unknown one.
const char* ort_error_code_name(int ort_code) noexcept;

}  // namespace fastort
