// Private: what differs between operating systems, in one place. Every other file of the core
// is portable C++17.
#pragma once

#include <string>

namespace fastort::platform {

// Identifies one version of a file: a rewrite changes its size or modification time, an
// atomic replace (write, then rename over it) its identity. "missing" when it cannot be read.
std::string file_stamp(const std::string& path);

}  // namespace fastort::platform
