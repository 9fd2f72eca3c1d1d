// A batch of encoded images decoded on the thread pool, one image per task.
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "fastort/error.hpp"
#include "fastort/image_decode.hpp"
#include "fastort/thread_pool.hpp"

namespace fastort {
namespace {

std::optional<DecodedImage> decode_one(const EncodedImage& image, const DecodeOptions& options) {
  if (image.data != nullptr || image.path.empty()) {
    if (!looks_like_jpeg(image.data, image.size)) return std::nullopt;
    return decode_jpeg(image.data, image.size, options);
  }
  const std::vector<uint8_t> bytes = read_file(image.path);
  if (!looks_like_jpeg(bytes.data(), bytes.size())) return std::nullopt;
  return decode_jpeg(bytes.data(), bytes.size(), options);
}

}  // namespace

std::vector<std::optional<DecodedImage>> decode_images(const std::vector<EncodedImage>& images,
                                                       const DecodeOptions& options, int threads) {
  std::vector<std::optional<DecodedImage>> decoded(images.size());
  std::vector<std::exception_ptr> failures(images.size());
  parallel_for(images.size(), threads, [&](size_t i) {
    try {
      decoded[i] = decode_one(images[i], options);
    } catch (...) {
      failures[i] = std::current_exception();
    }
  });
  for (size_t i = 0; i < images.size(); ++i) {
    if (!failures[i]) continue;
    try {
      std::rethrow_exception(failures[i]);
    } catch (const Error& error) {
      throw Error(error.kind(), "image " + std::to_string(images[i].index) + ": " + error.what(),
                  error.ort_code(), error.path());
    }
  }
  return decoded;
}

}  // namespace fastort
