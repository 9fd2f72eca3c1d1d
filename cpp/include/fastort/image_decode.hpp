// Encoded images decoded natively: JPEG with libjpeg-turbo, byte-identical to Pillow's
// decode (both run libjpeg's defaults: accurate integer IDCT, fancy upsampling). What is
// not provably identical (CMYK, YCCK, other formats) is left to the caller, which decodes it
// with Pillow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fastort/image.hpp"

namespace fastort {

// Pillow's default Image.MAX_IMAGE_PIXELS.
inline constexpr int64_t kDefaultMaxImagePixels = 89478485;

struct DecodeOptions {
  // Pillow's draft(mode, (width, height)): the largest DCT-domain reduction (1/2, 1/4, 1/8)
  // that keeps both sides at least this large. nullopt: a full decode.
  std::optional<ImageSize> draft;
  // Images of more pixels (at full size) are refused before anything is allocated; <= 0 for
  // no limit (Pillow's MAX_IMAGE_PIXELS = None).
  int64_t max_pixels = kDefaultMaxImagePixels;
  // Greyscale images as 3 equal channels (Pillow's convert("RGB")) rather than 1.
  bool rgb = false;
  // Decode only what this transform reads (read_region(), with a margin of two iMCUs each
  // side): columns outside it are not decompressed, rows above and below it are only
  // entropy-decoded (so a truncated file is still an error). The stored pixels equal the
  // full decode's. nullopt: the whole image.
  std::optional<ImageTransformSpec> read_by;
  // A JPEG whose data ends before the decoder is done with it (no EOI marker, or cut short)
  // is left to the fallback (nullopt) rather than decided here. Pillow decodes such a file
  // when every row came out before its decoder, fed the file in 64 KiB blocks, asked for more
  // data than there was: where that happens depends on how the blocks fell, which this
  // decoder, given the whole file at once, does not follow. Without a fallback, the image is
  // decoded when every row came out first, and refused as truncated otherwise.
  bool end_of_data_to_fallback = false;
};

// Pixels from malloc (the decoder's frames cannot throw), released with free().
struct FreePixels {
  void operator()(uint8_t* pixels) const noexcept { std::free(pixels); }
};
using PixelBuffer = std::unique_ptr<uint8_t[], FreePixels>;

// Decoded pixels, rows packed: height x width x channels (1 or 3), or (DecodeOptions::read_by)
// a window of them: rows [first_row, first_row + stored_height), columns [first_column,
// first_column + stored_width).
struct DecodedImage {
  PixelBuffer pixels;
  int height = 0;
  int width = 0;
  int channels = 0;
  int first_row = 0;
  int first_column = 0;
  int stored_height = 0;
  int stored_width = 0;

  bool is_window() const noexcept { return stored_height != height || stored_width != width; }
  // The whole image's geometry over the stored pixels.
  ImageView view() const {
    ImageView view{pixels.get(), height, width, channels,
                   static_cast<int64_t>(stored_width) * channels};
    if (is_window()) {
      view.first_row = first_row;
      view.first_column = first_column;
      view.stored_height = stored_height;
      view.stored_width = stored_width;
    }
    return view;
  }
};

// Whether `data` starts like a JPEG file (SOI marker then another marker).
bool looks_like_jpeg(const uint8_t* data, size_t size) noexcept;

// Decodes a JPEG held in memory. Returns nullopt when the file is a JPEG this decoder leaves
// to Pillow (CMYK, YCCK, component counts other than 1 and 3, precision other than 8 bits).
// Throws Error(kInvalidArgument) "cannot decode: ..." for corrupt or truncated data (a
// premature end is an error, as in Pillow, never a grey-filled image) and for images over
// options.max_pixels.
std::optional<DecodedImage> decode_jpeg(const uint8_t* data, size_t size,
                                        const DecodeOptions& options);

// The largest encoded image read from a file (a JPEG of Pillow's default pixel limit is far
// smaller): what stops an endless stream (a pipe, a device) from filling memory.
inline constexpr size_t kMaxEncodedBytes = size_t{1} << 31;

// The whole file at `path` if it starts like a JPEG, else (for the caller to hand to Pillow)
// only its first bytes. Throws Error: kFileNotFound, kIsADirectory, kPermissionDenied, or
// kInvalidArgument for a JPEG over max_bytes and anything else that stops the read.
std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes = kMaxEncodedBytes);

// One encoded image of a batch: `size` bytes at `data`, or (data null) the file at `path`.
struct EncodedImage {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::string path;
  size_t index = 0;  // its place in the caller's batch, for messages
};

// Decodes every image, one per task on up to `threads` threads (0: hardware_threads()).
// Entry i is nullopt where decode_jpeg() leaves the image to Pillow, or it is not a JPEG.
// An error names its image ("image 3: cannot decode: ..."); where several images fail, the
// one of the lowest index is thrown, after every task has ended.
std::vector<std::optional<DecodedImage>> decode_images(const std::vector<EncodedImage>& images,
                                                       const DecodeOptions& options, int threads);

// The linked libjpeg-turbo, for fastort.build_info().
struct JpegLibraryInfo {
  std::string version;  // "2.1.5"
  // The SIMD kernels its decoder uses on this CPU: "avx2", "sse2" or "none" (a build without
  // SIMD, or JSIMD_FORCENONE / JSIMD_FORCESSE2 set).
  std::string simd;
};
JpegLibraryInfo jpeg_library_info();

}  // namespace fastort
