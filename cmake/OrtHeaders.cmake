# Finds ONNX Runtime's C/C++ headers (the onnxruntime wheel ships none). In order:
#   1. FASTORT_ORT_ROOT (CMake or environment variable): any ORT release or install with include/
#   2. the system include directories (a distribution's libonnxruntime-dev)
#   3. scripts/fetch_ort_headers.sh, which unpacks Debian's libonnxruntime-dev into the build tree
# Sets FASTORT_ORT_INCLUDE_DIR to the directory holding onnxruntime_cxx_api.h.

set(FASTORT_ORT_ROOT "$ENV{FASTORT_ORT_ROOT}" CACHE PATH "ONNX Runtime release or install root")
set(_fastort_fetched_root "${CMAKE_BINARY_DIR}/_deps/ort-headers")

if(FASTORT_ORT_ROOT)
  find_path(FASTORT_ORT_INCLUDE_DIR onnxruntime_cxx_api.h
    PATHS "${FASTORT_ORT_ROOT}/include" "${FASTORT_ORT_ROOT}"
    PATH_SUFFIXES onnxruntime onnxruntime/core/session
    NO_DEFAULT_PATH)
  if(NOT FASTORT_ORT_INCLUDE_DIR)
    message(WARNING "FASTORT_ORT_ROOT=${FASTORT_ORT_ROOT} has no onnxruntime_cxx_api.h; "
                    "trying the system and then Debian's package")
  endif()
endif()

if(NOT FASTORT_ORT_INCLUDE_DIR)
  find_path(FASTORT_ORT_INCLUDE_DIR onnxruntime_cxx_api.h PATH_SUFFIXES onnxruntime)
endif()

if(NOT FASTORT_ORT_INCLUDE_DIR AND NOT EXISTS "${_fastort_fetched_root}/include/onnxruntime")
  message(STATUS "fastort: fetching ONNX Runtime headers (Debian libonnxruntime-dev)")
  execute_process(
    COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/scripts/fetch_ort_headers.sh" "${_fastort_fetched_root}"
    RESULT_VARIABLE _fastort_fetch_result)
  if(NOT _fastort_fetch_result EQUAL 0)
    message(STATUS "fastort: fetching the headers failed")
  endif()
endif()

if(NOT FASTORT_ORT_INCLUDE_DIR)
  find_path(FASTORT_ORT_INCLUDE_DIR onnxruntime_cxx_api.h
    PATHS "${_fastort_fetched_root}/include/onnxruntime" NO_DEFAULT_PATH)
endif()

if(NOT FASTORT_ORT_INCLUDE_DIR)
  message(FATAL_ERROR
    "ONNX Runtime headers (onnxruntime_cxx_api.h) not found. fastort looked in:\n"
    "  1. FASTORT_ORT_ROOT='${FASTORT_ORT_ROOT}' (set it to an ORT release or install root)\n"
    "  2. the system include directories (e.g. Debian's libonnxruntime-dev)\n"
    "  3. Debian's libonnxruntime-dev fetched by scripts/fetch_ort_headers.sh (needs apt-get)")
endif()
message(STATUS "fastort: ONNX Runtime headers in ${FASTORT_ORT_INCLUDE_DIR}")
