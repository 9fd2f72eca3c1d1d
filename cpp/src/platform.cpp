#include "platform.hpp"

#include <sys/stat.h>

namespace fastort::platform {

std::string file_stamp(const std::string& path) {
#ifdef _WIN32
  struct _stat64 info{};
  if (::_stat64(path.c_str(), &info) != 0) return "missing";
  const long long seconds = info.st_mtime, nanoseconds = 0;
#else
  struct stat info{};
  if (::stat(path.c_str(), &info) != 0) return "missing";
#if defined(__APPLE__)
  const auto& mtime = info.st_mtimespec;
#else
  const auto& mtime = info.st_mtim;
#endif
  const long long seconds = mtime.tv_sec, nanoseconds = mtime.tv_nsec;
#endif
  return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" +
         std::to_string(info.st_size) + ":" + std::to_string(seconds) + "." +
         std::to_string(nanoseconds);
}

}  // namespace fastort::platform
