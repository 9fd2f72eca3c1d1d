// Private: reading the few fields of an ONNX model that fastort needs before ONNX Runtime
// loads it, straight from the protobuf wire format (the core does not depend on protobuf).
#pragma once

#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace fastort::detail {

// The `location` of every tensor stored as external data anywhere in a ModelProto: graph
// initializers and sparse initializers, tensors in node attributes, subgraphs, functions and
// training graphs. In order of first appearance, without repeats. Large fields are skipped
// unread; a malformed model yields what was found before the damage (ORT reports the rest).
std::vector<std::string> external_data_locations(std::string_view model);
std::vector<std::string> external_data_locations(std::istream& model);

}  // namespace fastort::detail
