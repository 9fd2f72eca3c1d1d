// Tiny ONNX models written as protobuf bytes, for C++ tests that need shapes the bundled
// sample models lack (onnx.proto's field numbers; no protobuf library).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fastort::testing {

inline std::string varint(uint64_t value) {
  std::string bytes;
  while (value >= 0x80) {
    bytes += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  return bytes + static_cast<char>(value);
}

// A length-delimited field.
inline std::string field(int number, const std::string& payload) {
  return varint(static_cast<uint64_t>(number) << 3 | 2) + varint(payload.size()) + payload;
}

inline std::string number(int field_number, uint64_t value) {
  return varint(static_cast<uint64_t>(field_number) << 3) + varint(value);
}

// A dim: a name ("N") for a dynamic one, digits for a fixed one.
inline std::string dim(const std::string& size) {
  const bool fixed = !size.empty() && size.find_first_not_of("0123456789") == std::string::npos;
  return field(1, fixed ? number(1, std::stoull(size)) : field(2, size));
}

// ValueInfoProto: a tensor of ONNX element type `type` (1 float, 7 int64) and shape `dims`.
inline std::string tensor_info(const std::string& name, int type,
                               const std::vector<std::string>& dims) {
  std::string shape;
  for (const auto& d : dims) shape += dim(d);
  return field(1, name) + field(2, field(1, number(1, type) + field(2, shape)));
}

// NodeProto.
inline std::string node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs) {
  std::string bytes;
  for (const auto& input : inputs) bytes += field(1, input);
  for (const auto& output : outputs) bytes += field(2, output);
  return bytes + field(4, op);
}

// A float initializer of the given values (TensorProto with float_data).
inline std::string float_initializer(const std::string& name, const std::vector<float>& values) {
  std::string data;
  for (float value : values) data.append(reinterpret_cast<const char*>(&value), sizeof value);
  return number(1, values.size()) + number(2, 1) + field(4, data) + field(8, name);
}

// ModelProto, opset 17, of a graph with these parts (GraphProto fields, already encoded).
inline std::string model(const std::string& nodes, const std::string& inputs,
                         const std::string& outputs, const std::string& initializers = "") {
  const std::string graph = nodes + field(2, "g") + initializers + inputs + outputs;
  return number(1, 8) + field(8, field(1, "") + number(2, 17)) + field(7, graph);
}

}  // namespace fastort::testing
