// The one place that includes ORT's C++ API. The API pointer is installed by load_runtime()
// (ORT_API_MANUAL_INIT is defined for every target that includes this).
#pragma once

#ifndef ORT_API_MANUAL_INIT
#error "fastort builds with ORT_API_MANUAL_INIT; the CMake target defines it"
#endif

#include <onnxruntime_cxx_api.h>
