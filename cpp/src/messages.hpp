// Private: pieces of error messages shared by the core.
#pragma once

#include <string>
#include <vector>

#include "fastort/type_info.hpp"

namespace fastort::detail {

// "'a', 'b', 'c'"
inline std::string quoted_list(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "'" : ", '") + item + "'";
  return text;
}

// The names of model inputs or outputs, quoted: "'x', 'y'".
inline std::string quoted_names(const std::vector<ValueInfo>& infos) {
  std::vector<std::string> names;
  names.reserve(infos.size());
  for (const auto& info : infos) names.push_back(info.name);
  return quoted_list(names);
}

}  // namespace fastort::detail
