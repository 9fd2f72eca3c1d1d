// Private: turns Ort::Exception into fastort::Error at the boundary of every ORT call.
#pragma once

#include <string>
#include <utility>

#include "fastort/error.hpp"
#include "fastort/ort.hpp"

namespace fastort::detail {

// Runs f(); an Ort::Exception becomes Error(kind) whose message starts with `context`.
template <typename F>
decltype(auto) call_ort(ErrorKind kind, const char* context, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const Ort::Exception& e) {
    throw Error(kind, std::string(context) + ": " + e.what(),
                static_cast<int>(e.GetOrtErrorCode()));
  }
}

}  // namespace fastort::detail
