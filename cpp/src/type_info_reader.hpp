// Private: reading ORT's type information into ValueInfo.
#pragma once

#include <string>

#include "fastort/ort.hpp"
#include "fastort/type_info.hpp"

namespace fastort::detail {

ValueInfo read_value_info(std::string name, const Ort::TypeInfo& type);
ValueKind value_kind(ONNXType type);

}  // namespace fastort::detail
