// Private: the SessionOptions beyond threads, optimisation, config entries and providers,
// applied to ORT's session options (model.cpp applies those four).
#pragma once

#include "fastort/ort.hpp"
#include "fastort/session_options.hpp"

namespace fastort::detail {

// Execution mode, logging, profiling, memory planning, determinism, custom-op libraries,
// initializers and dimension overrides. Throws Ort::Exception.
void apply_session_settings(const SessionSettings& options, Ort::SessionOptions& ort_options);

}  // namespace fastort::detail
