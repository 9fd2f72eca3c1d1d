// A walk over the protobuf wire format of onnx.proto, visiting only the messages on the way to
// a TensorProto. Field numbers are onnx.proto's and never change (protobuf compatibility).
#include "model_scan.hpp"

#include <algorithm>
#include <cstdint>

namespace fastort::detail {
namespace {

// Where the bytes come from: a model in memory, or a file read in order, skipping large
// fields (raw weights) with a seek instead of reading them.
class Source {
 public:
  virtual ~Source() = default;
  virtual bool next(uint8_t& byte) = 0;
  virtual bool skip(uint64_t count) = 0;
  virtual bool read(std::string& text, uint64_t count) = 0;
  uint64_t position = 0;
};

class MemorySource final : public Source {
 public:
  explicit MemorySource(std::string_view bytes) : bytes_(bytes) {}
  bool next(uint8_t& byte) override {
    if (position >= bytes_.size()) return false;
    byte = static_cast<uint8_t>(bytes_[position++]);
    return true;
  }
  bool skip(uint64_t count) override {
    if (count > bytes_.size() - position) return false;
    position += count;
    return true;
  }
  bool read(std::string& text, uint64_t count) override {
    if (count > bytes_.size() - position) return false;
    text.assign(bytes_.substr(position, count));
    position += count;
    return true;
  }

 private:
  std::string_view bytes_;
};

class StreamSource final : public Source {
 public:
  explicit StreamSource(std::istream& stream) : stream_(stream) {}
  bool next(uint8_t& byte) override {
    const auto value = stream_.get();
    if (value == std::char_traits<char>::eof()) return false;
    byte = static_cast<uint8_t>(value);
    ++position;
    return true;
  }
  bool skip(uint64_t count) override {
    if (!stream_.seekg(static_cast<std::streamoff>(count), std::ios::cur)) return false;
    position += count;
    return true;
  }
  bool read(std::string& text, uint64_t count) override {
    if (count > (uint64_t{1} << 20)) return false;  // no name or path is that long
    text.resize(count);
    if (!stream_.read(text.data(), static_cast<std::streamsize>(count))) return false;
    position += count;
    return true;
  }

 private:
  std::istream& stream_;
};

enum class Message {
  kModel,
  kTrainingInfo,
  kGraph,
  kNode,
  kAttribute,
  kFunction,
  kSparse,
  kTensor
};

// The field of `message` that holds a message on the way to tensors, or false.
bool child_of(Message message, uint64_t field, Message& child) {
  switch (message) {
    case Message::kModel:  // graph, training_info, functions
      if (field == 7) return child = Message::kGraph, true;
      if (field == 20) return child = Message::kTrainingInfo, true;
      if (field == 25) return child = Message::kFunction, true;
      return false;
    case Message::kTrainingInfo:  // initialization, algorithm
      if (field == 1 || field == 2) return child = Message::kGraph, true;
      return false;
    case Message::kGraph:  // node, initializer, sparse_initializer
      if (field == 1) return child = Message::kNode, true;
      if (field == 5) return child = Message::kTensor, true;
      if (field == 15) return child = Message::kSparse, true;
      return false;
    case Message::kNode:  // attribute
      if (field == 5) return child = Message::kAttribute, true;
      return false;
    case Message::kAttribute:  // t, g, tensors, graphs, sparse_tensor, sparse_tensors
      if (field == 5 || field == 10) return child = Message::kTensor, true;
      if (field == 6 || field == 11) return child = Message::kGraph, true;
      if (field == 22 || field == 23) return child = Message::kSparse, true;
      return false;
    case Message::kFunction:  // node
      if (field == 7) return child = Message::kNode, true;
      return false;
    case Message::kSparse:  // values, indices
      if (field == 1 || field == 2) return child = Message::kTensor, true;
      return false;
    case Message::kTensor:
      return false;
  }
  return false;
}

class Scanner {
 public:
  Scanner(Source& source, std::vector<std::string>& found) : in_(source), found_(found) {}

  // Reads fields up to `end`; false when the bytes are not a valid message.
  bool message(Message kind, uint64_t end, int depth) {
    // protobuf's own parser stops at 100 levels; so does this walk.
    if (depth > 100) return false;
    std::string location;
    bool external = false;
    while (in_.position < end) {
      uint64_t tag = 0, value = 0;
      if (!varint(tag)) return false;
      const uint64_t field = tag >> 3;
      switch (tag & 7) {
        case 0:  // varint
          if (!varint(value)) return false;
          if (kind == Message::kTensor && field == 14) external = value == 1;  // EXTERNAL
          break;
        case 1:
          if (!in_.skip(8)) return false;
          break;
        case 5:
          if (!in_.skip(4)) return false;
          break;
        case 2: {
          if (!varint(value) || in_.position > end || value > end - in_.position) return false;
          Message child;
          if (kind == Message::kTensor && field == 13) {  // external_data entry
            if (!entry(in_.position + value, location)) return false;
          } else if (child_of(kind, field, child)) {
            if (!message(child, in_.position + value, depth + 1)) return false;
          } else if (!in_.skip(value)) {
            return false;
          }
          break;
        }
        default:  // groups: not in onnx.proto
          return false;
      }
    }
    if (external && !location.empty() &&
        std::find(found_.begin(), found_.end(), location) == found_.end()) {
      found_.push_back(location);
    }
    return in_.position == end;
  }

 private:
  bool varint(uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte = 0;
      if (!in_.next(byte)) return false;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // A StringStringEntryProto; sets `location` when its key is "location".
  bool entry(uint64_t end, std::string& location) {
    std::string key, value;
    while (in_.position < end) {
      uint64_t tag = 0, size = 0;
      if (!varint(tag) || (tag & 7) != 2 || !varint(size) || in_.position > end ||
          size > end - in_.position) {
        return false;
      }
      std::string& text = (tag >> 3) == 1 ? key : value;
      if (!in_.read(text, size)) return false;
    }
    if (key == "location") location = value;
    return in_.position == end;
  }

  Source& in_;
  std::vector<std::string>& found_;
};

std::vector<std::string> scan(Source& source, uint64_t size) {
  std::vector<std::string> found;
  Scanner(source, found).message(Message::kModel, size, 0);
  return found;
}

}  // namespace

std::vector<std::string> external_data_locations(std::string_view model) {
  MemorySource source(model);
  return scan(source, model.size());
}

std::vector<std::string> external_data_locations(std::istream& model) {
  model.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(std::max<std::streamoff>(model.tellg(), 0));
  model.seekg(0, std::ios::beg);
  StreamSource source(model);
  return scan(source, size);
}

}  // namespace fastort::detail
