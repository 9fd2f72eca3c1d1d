#include "fastort/value.hpp"

#include "fastort/debug_counters.hpp"
#include "fastort/error.hpp"
#include "ort_error.hpp"
#include "type_info_reader.hpp"

namespace fastort {

OwnedValue::OwnedValue(Ort::Value value) : value_(std::move(value)) {
  if (value_) detail::count_value_created();
}

OwnedValue::~OwnedValue() {
  if (value_) detail::count_value_destroyed();
}

OwnedValue::OwnedValue(OwnedValue&& other) noexcept : value_(std::move(other.value_)) {}

OwnedValue& OwnedValue::operator=(OwnedValue&& other) noexcept {
  if (this != &other) {
    if (value_) detail::count_value_destroyed();
    value_ = std::move(other.value_);
  }
  return *this;
}

ValueKind OwnedValue::kind() const {
  return detail::call_ort(ErrorKind::kRuntime, "reading an output",
                          [&] { return detail::value_kind(value_.GetTypeInfo().GetONNXType()); });
}

bool OwnedValue::has_value() const {
  return detail::call_ort(ErrorKind::kRuntime, "reading an output",
                          [&] { return value_.HasValue(); });
}

namespace {

// A sparse tensor where a dense one was read: ONNX Runtime declares a sparse constant output as
// a tensor, and reading it as one fails with a message about type protos.
[[noreturn]] void refuse_sparse() {
  throw Error(ErrorKind::kInvalidArgument,
              "the model returns a sparse tensor, which fastort does not support (it returns "
              "dense tensors, sequences, maps and optionals)");
}

}  // namespace

bool OwnedValue::is_sparse() const noexcept {
  int sparse = 0;
  OrtStatus* status = Ort::GetApi().IsSparseTensor(value_, &sparse);
  if (status != nullptr) {
    Ort::GetApi().ReleaseStatus(status);
    return false;
  }
  return sparse != 0;
}

TensorView OwnedValue::tensor() const {
  try {
    return read_tensor();
  } catch (const Error&) {
    // Checked only on failure, as in tensor_header: the batcher reads every output this way.
    if (is_sparse()) refuse_sparse();
    throw;
  }
}

TensorView OwnedValue::read_tensor() const {
  return detail::call_ort(ErrorKind::kRuntime, "reading an output tensor", [&] {
    auto info = value_.GetTensorTypeAndShapeInfo();
    TensorView view;
    view.type = static_cast<ElementType>(info.GetElementType());
    view.shape = info.GetShape();
    if (view.type != ElementType::kString) {
      view.data = const_cast<Ort::Value&>(value_).GetTensorMutableRawData();
    }
    return view;
  });
}

bool OwnedValue::tensor_header(TensorHeader& header) const {
  try {
    return read_header(header);
  } catch (const Error&) {
    // Checked only on failure: the hot path asks nothing more of ORT.
    if (is_sparse()) refuse_sparse();
    throw;
  }
}

bool OwnedValue::read_header(TensorHeader& header) const {
  return detail::call_ort(ErrorKind::kRuntime, "reading an output tensor", [&] {
    // The C API: the C++ wrapper's GetShape() returns a vector.
    const OrtApi& api = Ort::GetApi();
    OrtTensorTypeAndShapeInfo* raw = nullptr;
    Ort::ThrowOnError(api.GetTensorTypeAndShape(value_, &raw));
    const Ort::TensorTypeAndShapeInfo info(raw);  // released on return
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    Ort::ThrowOnError(api.GetTensorElementType(raw, &type));
    size_t rank = 0;
    Ort::ThrowOnError(api.GetDimensionsCount(raw, &rank));
    if (rank > TensorHeader::kMaxRank) return false;
    Ort::ThrowOnError(api.GetDimensions(raw, header.dims, rank));
    header.type = static_cast<ElementType>(type);
    header.rank = rank;
    header.data = nullptr;
    if (header.type != ElementType::kString) {
      Ort::ThrowOnError(api.GetTensorMutableData(
          const_cast<OrtValue*>(static_cast<const OrtValue*>(value_)), &header.data));
    }
    return true;
  });
}

std::vector<std::string> OwnedValue::strings() const {
  return detail::call_ort(ErrorKind::kRuntime, "reading a string tensor", [&] {
    const size_t count = value_.GetTensorTypeAndShapeInfo().GetElementCount();
    std::vector<std::string> result;
    result.reserve(count);
    for (size_t i = 0; i < count; ++i) result.push_back(value_.GetStringTensorElement(i));
    return result;
  });
}

size_t OwnedValue::sequence_length() const {
  return detail::call_ort(ErrorKind::kRuntime, "reading a sequence",
                          [&] { return value_.GetCount(); });
}

OwnedValue OwnedValue::sequence_element(size_t index) const {
  return detail::call_ort(ErrorKind::kRuntime, "reading a sequence element", [&] {
    Ort::AllocatorWithDefaultOptions allocator;
    return OwnedValue(value_.GetValue(static_cast<int>(index), allocator));
  });
}

OwnedValue OwnedValue::map_keys() const {
  return detail::call_ort(ErrorKind::kRuntime, "reading map keys", [&] {
    Ort::AllocatorWithDefaultOptions allocator;
    return OwnedValue(value_.GetValue(0, allocator));
  });
}

OwnedValue OwnedValue::map_values() const {
  return detail::call_ort(ErrorKind::kRuntime, "reading map values", [&] {
    Ort::AllocatorWithDefaultOptions allocator;
    return OwnedValue(value_.GetValue(1, allocator));
  });
}

}  // namespace fastort
