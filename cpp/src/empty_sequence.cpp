#include "empty_sequence.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "fastort/error.hpp"
#include "fastort/runtime.hpp"
#include "fork_hooks.hpp"

namespace fastort::detail {

namespace {

// Protocol-buffer encoding, as much of it as one small ModelProto needs.
void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_int(std::string& out, int field, uint64_t value) {
  put_varint(out, static_cast<uint64_t>(field) << 3);  // wire type 0: varint
  put_varint(out, value);
}

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | 2);  // wire type 2: length-delimited
  put_varint(out, bytes.size());
  out += bytes;
}

// A graph of one node, `s = SequenceEmpty(dtype=item_type)`, with output seq(tensor(item_type)).
std::string sequence_empty_model(ElementType item_type) {
  const auto type = static_cast<uint64_t>(item_type);
  std::string attribute;  // AttributeProto: name, i, type INT
  put_bytes(attribute, 1, "dtype");
  put_int(attribute, 3, type);
  put_int(attribute, 20, 2);
  std::string node;  // NodeProto: output, op_type, attribute
  put_bytes(node, 2, "s");
  put_bytes(node, 4, "SequenceEmpty");
  put_bytes(node, 5, attribute);
  std::string tensor_type;  // TypeProto.Tensor: elem_type
  put_int(tensor_type, 1, type);
  std::string element;  // TypeProto: tensor_type
  put_bytes(element, 1, tensor_type);
  std::string sequence_type;  // TypeProto.Sequence: elem_type
  put_bytes(sequence_type, 1, element);
  std::string value_type;  // TypeProto: sequence_type
  put_bytes(value_type, 4, sequence_type);
  std::string output;  // ValueInfoProto: name, type
  put_bytes(output, 1, "s");
  put_bytes(output, 2, value_type);
  std::string graph;  // GraphProto: node, name, output
  put_bytes(graph, 1, node);
  put_bytes(graph, 2, "empty_sequence");
  put_bytes(graph, 12, output);
  std::string opset;  // OperatorSetIdProto: domain "", version
  put_int(opset, 2, 13);
  std::string model;  // ModelProto: ir_version, graph, opset_import
  put_int(model, 1, 7);
  put_bytes(model, 7, graph);
  put_bytes(model, 8, opset);
  return model;
}

Ort::Session load(ElementType item_type) {
  const std::string model = sequence_empty_model(item_type);
  Ort::SessionOptions options;
  // No thread pools: the session outlives fork() and runs one trivial node.
  options.SetIntraOpNumThreads(1);
  options.SetInterOpNumThreads(1);
  options.SetGraphOptimizationLevel(ORT_DISABLE_ALL);
  return Ort::Session(ort_env(), model.data(), model.size(), options);
}

}  // namespace

Ort::Value empty_sequence(ElementType item_type) {
  // From first to last inside a state change, which fork() waits for: a child never finds
  // the mutex held or a load half done.
  const OrtStateChange changing;
  static std::mutex mutex;
  // Never destroyed: a session released at exit could outlive ORT's environment.
  static auto& sessions = *new std::map<ElementType, Ort::Session>();
  OrtSession* session = nullptr;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    auto found = sessions.find(item_type);
    if (found == sessions.end()) {
      try {
        found = sessions.emplace(item_type, load(item_type)).first;
      } catch (const Ort::Exception& error) {
        throw Error(ErrorKind::kInvalidArgument,
                    std::string("an empty sequence of ") + element_type_name(item_type) +
                        " cannot be made (ONNX Runtime's SequenceEmpty does not take that "
                        "type); give at least one element: " +
                        error.what());
      }
    }
    session = found->second;
  }
  const char* output = "s";
  OrtValue* value = nullptr;
  Ort::ThrowOnError(Ort::GetApi().Run(session, nullptr, nullptr, nullptr, 0, &output, 1, &value));
  return Ort::Value(value);
}

}  // namespace fastort::detail
