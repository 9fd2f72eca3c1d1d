# Finds libjpeg-turbo, which the core links for native JPEG decoding. In order:
#   1. FASTORT_JPEG_ROOT (CMake or environment variable): a libjpeg-turbo install prefix, e.g.
#      a static, position-independent build for self-contained wheels
#   2. the system's (Debian's libjpeg62-turbo-dev or libturbojpeg0-dev, Fedora's
#      libjpeg-turbo-devel)
# A plain libjpeg (IJG's) is refused: only libjpeg-turbo's decode is known to equal Pillow's.
# Defines the imported target fastort::jpeg.

set(FASTORT_JPEG_ROOT "$ENV{FASTORT_JPEG_ROOT}" CACHE PATH "libjpeg-turbo install prefix")

if(FASTORT_JPEG_ROOT)
  find_path(FASTORT_JPEG_INCLUDE_DIR jpeglib.h PATHS "${FASTORT_JPEG_ROOT}/include"
            NO_DEFAULT_PATH)
  find_library(FASTORT_JPEG_LIBRARY NAMES libjpeg.a jpeg
               PATHS "${FASTORT_JPEG_ROOT}/lib" "${FASTORT_JPEG_ROOT}/lib64" NO_DEFAULT_PATH)
else()
  find_path(FASTORT_JPEG_INCLUDE_DIR jpeglib.h)
  find_library(FASTORT_JPEG_LIBRARY NAMES jpeg)
endif()

if(NOT FASTORT_JPEG_INCLUDE_DIR OR NOT FASTORT_JPEG_LIBRARY)
  message(FATAL_ERROR
    "libjpeg-turbo not found (jpeglib.h and libjpeg). Install it, e.g.\n"
    "  Debian/Ubuntu: apt-get install libjpeg62-turbo-dev (or libjpeg-turbo8-dev)\n"
    "  Fedora/RHEL:   dnf install libjpeg-turbo-devel\n"
    "or set FASTORT_JPEG_ROOT to a libjpeg-turbo install prefix.")
endif()

# jconfig.h may live in a multiarch folder beside jpeglib.h's.
find_file(FASTORT_JPEG_CONFIG jconfig.h
  HINTS "${FASTORT_JPEG_INCLUDE_DIR}" "${FASTORT_JPEG_INCLUDE_DIR}/${CMAKE_LIBRARY_ARCHITECTURE}")
set(_fastort_jpeg_version "")
if(FASTORT_JPEG_CONFIG)
  file(STRINGS "${FASTORT_JPEG_CONFIG}" _fastort_jpeg_line
       REGEX "^#define[ \t]+LIBJPEG_TURBO_VERSION[ \t]")
  string(REGEX REPLACE "^#define[ \t]+LIBJPEG_TURBO_VERSION[ \t]+([0-9.]+).*" "\\1"
         _fastort_jpeg_version "${_fastort_jpeg_line}")
endif()
if(NOT _fastort_jpeg_version)
  message(FATAL_ERROR
    "${FASTORT_JPEG_INCLUDE_DIR}/jpeglib.h is not libjpeg-turbo's (no LIBJPEG_TURBO_VERSION in "
    "jconfig.h); fastort needs libjpeg-turbo, whose decode equals Pillow's")
endif()

add_library(fastort::jpeg UNKNOWN IMPORTED)
set_target_properties(fastort::jpeg PROPERTIES
  IMPORTED_LOCATION "${FASTORT_JPEG_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${FASTORT_JPEG_INCLUDE_DIR}")
message(STATUS "fastort: libjpeg-turbo ${_fastort_jpeg_version}: ${FASTORT_JPEG_LIBRARY}")
