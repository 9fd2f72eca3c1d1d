// The floor that per-call overhead is measured against: a loop over ORT's own C++ API doing
// what a C++ service does per request (wrap the input memory, Run, release the outputs).
#pragma once

#include <cstddef>
#include <vector>

#include "fastort/session.hpp"

namespace fastort {

// Seconds taken by `iterations` raw runs of all outputs. Inputs are model-ordered, dense and
// already validated by the caller (e.g. by one Session::run with the same inputs).
double time_raw_runs(const Session& session, const std::vector<TensorView>& inputs,
                     size_t iterations);

}  // namespace fastort
