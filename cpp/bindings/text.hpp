// Text between ONNX Runtime and Python. Names, metadata and messages come from the model file
// and need not be UTF-8, so nothing here may throw on bad bytes.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <string_view>

namespace fastort::bindings {

// A name or value from the model as str. Bytes that are not UTF-8 become lone surrogates
// (like os.fsdecode), so utf8_bytes() gives the same bytes back.
pybind11::str model_text(std::string_view text);

// A message as str: bytes that are not UTF-8 show as \xNN escapes. Never fails.
pybind11::str message_text(std::string_view text);

// The UTF-8 bytes of a str, lone surrogates mapped back to the bytes model_text() decoded
// them from. Returns false (no Python error set) when `value` is not a str. The view stays
// valid while `value` and `keep` live.
bool utf8_bytes(pybind11::handle value, std::string_view& bytes, pybind11::object& keep);

// type(value).__name__, for messages.
std::string type_name(pybind11::handle value);

}  // namespace fastort::bindings
