// Reading encoded images from files, and what the linked libjpeg-turbo is and does.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifdef __linux__
#include <dlfcn.h>
#include <link.h>
#endif

// clang-format off
#include <jpeglib.h>  // needs <cstdio> first
// clang-format on

#include "fastort/error.hpp"
#include "fastort/image_decode.hpp"

namespace fastort {
namespace {

[[noreturn]] void throw_file_error(const std::string& path, int code) {
  const std::string reason = std::strerror(code);
  switch (code) {
    case ENOENT:
      throw Error(ErrorKind::kFileNotFound, "no such image file", kNoOrtCode, path);
    case EISDIR:
      throw Error(ErrorKind::kIsADirectory, "image path is a directory", kNoOrtCode, path);
    case EACCES:
    case EPERM:
      throw Error(ErrorKind::kPermissionDenied, "permission denied reading the image file",
                  kNoOrtCode, path);
    default:
      throw Error(ErrorKind::kInvalidArgument, "cannot read image file '" + path + "': " + reason);
  }
}

struct CloseFile {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

#ifdef __linux__
// Whether the loaded object holding `address` contains `text` in a readable segment: the
// SIMD dispatcher's environment variable names are there only in builds with SIMD.
struct Search {
  const void* address;
  const char* text;
  bool found;
};

int search_object(dl_phdr_info* info, size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  const auto address = reinterpret_cast<uintptr_t>(search->address);
  bool holds = false;
  for (int i = 0; i < info->dlpi_phnum && !holds; ++i) {
    const ElfW(Phdr) & segment = info->dlpi_phdr[i];
    const uintptr_t begin = info->dlpi_addr + segment.p_vaddr;
    holds = segment.p_type == PT_LOAD && address >= begin && address < begin + segment.p_memsz;
  }
  if (!holds) return 0;
  const size_t length = std::strlen(search->text);
  for (int i = 0; i < info->dlpi_phnum && !search->found; ++i) {
    const ElfW(Phdr) & segment = info->dlpi_phdr[i];
    if (segment.p_type != PT_LOAD || !(segment.p_flags & PF_R) || segment.p_filesz < length) {
      continue;
    }
    const auto* begin = reinterpret_cast<const char*>(info->dlpi_addr + segment.p_vaddr);
    const char* end = begin + segment.p_filesz;
    for (const char* at = begin; at + length <= end; ++at) {
      at = static_cast<const char*>(std::memchr(at, search->text[0], end - at));
      if (at == nullptr || at + length > end) break;
      if (std::memcmp(at, search->text, length) == 0) {
        search->found = true;
        break;
      }
    }
  }
  return 1;
}

bool library_has_simd() {
  Search search{reinterpret_cast<const void*>(&jpeg_read_header), "JSIMD_FORCENONE", false};
  dl_iterate_phdr(search_object, &search);
  return search.found;
}
#endif

bool env_is_one(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::strcmp(value, "1") == 0;
}

std::string simd_in_use() {
#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
  if (!library_has_simd() || env_is_one("JSIMD_FORCENONE")) return "none";
  if (env_is_one("JSIMD_FORCESSE2")) return "sse2";
  return __builtin_cpu_supports("avx2") ? "avx2" : "sse2";
#elif defined(__linux__)
  return library_has_simd() && !env_is_one("JSIMD_FORCENONE") ? "neon" : "none";
#else
  return "unknown";
#endif
}

}  // namespace

std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes) {
  errno = 0;
  std::unique_ptr<std::FILE, CloseFile> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw_file_error(path, errno);
  // Sized once from a regular file's length; a file that grows meanwhile, or one whose size
  // the system does not know (a pipe, a device), is read on to its end, up to max_bytes.
  struct stat status{};
  if (fstat(fileno(file.get()), &status) != 0) throw_file_error(path, errno);
  if (S_ISDIR(status.st_mode)) throw_file_error(path, EISDIR);
  std::vector<uint8_t> bytes;
  if (S_ISREG(status.st_mode) && status.st_size > 0) {
    bytes.resize(std::min(static_cast<size_t>(status.st_size), max_bytes));
  }
  // The first bytes alone when the size is unknown: enough to tell a JPEG from anything else
  // (/dev/zero is not read to its end).
  if (bytes.empty()) bytes.resize(std::min<size_t>(3, max_bytes));
  size_t used = std::fread(bytes.data(), 1, bytes.size(), file.get());
  if (used < 3 || !looks_like_jpeg(bytes.data(), used)) {
    bytes.resize(used);
    return bytes;  // not a JPEG: the caller leaves it to Pillow, which reads it itself
  }
  while (used == bytes.size() && !std::feof(file.get()) && !std::ferror(file.get())) {
    if (bytes.size() >= max_bytes) {
      throw Error(ErrorKind::kInvalidArgument, "image file '" + path + "' is larger than " +
                                                   std::to_string(max_bytes) + " bytes");
    }
    bytes.resize(std::min(std::max<size_t>(bytes.size() * 2, 1 << 16), max_bytes));
    used += std::fread(bytes.data() + used, 1, bytes.size() - used, file.get());
  }
  bytes.resize(used);
  // A directory opens for reading on Linux; reading it fails with EISDIR.
  if (std::ferror(file.get())) throw_file_error(path, errno != 0 ? errno : EIO);
  return bytes;
}

JpegLibraryInfo jpeg_library_info() {
  constexpr int version = LIBJPEG_TURBO_VERSION_NUMBER;  // 2001005 is 2.1.5
  static const JpegLibraryInfo info{std::to_string(version / 1000000) + "." +
                                        std::to_string(version / 1000 % 1000) + "." +
                                        std::to_string(version % 1000),
                                    simd_in_use()};
  return info;
}

}  // namespace fastort
