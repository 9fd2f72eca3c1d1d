// JPEG decoding with libjpeg-turbo, configured as Pillow's decoder configures it, so that the
// pixels are Pillow's byte for byte. libjpeg reports fatal errors through error_exit, which
// must not return: it longjmps back to decode_jpeg's setjmp. Between the two, only C objects
// live (no destructors are skipped); what must be freed is owned by the caller's frame.
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

// clang-format off
#include <jpeglib.h>  // needs <cstdio> first
#include <jerror.h>
// clang-format on

#include "fastort/error.hpp"
#include "fastort/image_decode.hpp"

namespace fastort {
namespace {

// libjpeg-turbo's own limit on scans (its tjDecompress stops there too): a hostile
// progressive file can otherwise make a small file cost minutes.
constexpr int kMaxScans = 500;

struct ErrorManager {
  jpeg_error_mgr base;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  // Running out of data (see DecodeOptions::end_of_data_to_fallback): left to the fallback,
  // or accepted once every row is out.
  bool end_of_data_to_fallback = false;
  bool end_of_data_accepted = false;
};

// longjmp values: a failure, or a file left to the fallback.
constexpr int kJumpFailed = 1;
constexpr int kJumpToFallback = 2;

[[noreturn]] void fail(j_common_ptr cinfo, const char* message) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  std::snprintf(errors->message, sizeof errors->message, "%s", message);
  std::longjmp(errors->jump, kJumpFailed);
}

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  char message[JMSG_LENGTH_MAX];
  cinfo->err->format_message(cinfo, message);
  std::snprintf(errors->message, sizeof errors->message, "%s", message);
  std::longjmp(errors->jump, kJumpFailed);
}

// Warnings (level -1) are ignored, as Pillow ignores them, except the one that says the data
// ended early: libjpeg would go on with a grey-filled remainder where Pillow raises.
void on_message(j_common_ptr cinfo, int level) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (level >= 0 || cinfo->err->msg_code != JWRN_JPEG_EOF) return;
  if (errors->end_of_data_to_fallback) std::longjmp(errors->jump, kJumpToFallback);
  if (!errors->end_of_data_accepted) fail(cinfo, "image file is truncated");
}

void on_progress(j_common_ptr cinfo) {
  if (cinfo->is_decompressor) {
    const auto* decompress = reinterpret_cast<j_decompress_ptr>(cinfo);
    if (decompress->input_scan_number > kMaxScans) {
      fail(cinfo, "too many scans (a progressive JPEG with over 500 scans is refused)");
    }
  }
}

// Pillow's draft(): scale = min(width // target width, height // target height), then the
// largest of 8, 4, 2, 1 not above it.
unsigned draft_denominator(const jpeg_decompress_struct& cinfo, const ImageSize& target) {
  if (target.width <= 0 || target.height <= 0) return 1;
  const unsigned scale = std::min(cinfo.image_width / static_cast<unsigned>(target.width),
                                  cinfo.image_height / static_cast<unsigned>(target.height));
  for (unsigned denominator : {8u, 4u, 2u}) {
    if (scale >= denominator) return denominator;
  }
  return 1;
}

// Rows [y_begin, y_end) and columns [x_begin, x_end) of the output to decode.
struct Window {
  int y_begin, y_end, x_begin, x_end;
};

// What `spec` reads of the image about to be decoded, with two iMCUs (the unit libjpeg crops
// and skips by, and more than fancy upsampling looks at) more on each side; the whole image
// when the window would save little, or when the transform will refuse the image anyway (it
// reports that itself). Must not throw: it runs between setjmp and a possible longjmp.
Window window_to_decode(const ImageTransformSpec& spec,
                        const jpeg_decompress_struct& cinfo) noexcept {
  const int height = static_cast<int>(cinfo.output_height);
  const int width = static_cast<int>(cinfo.output_width);
  const Window whole{0, height, 0, width};
  ImageRegion region;
  try {
    region = read_region(spec, height, width);
  } catch (...) {
    return whole;
  }
  if (region.y_begin >= region.y_end || region.x_begin >= region.x_end) return whole;
  const int unit = cinfo.min_DCT_scaled_size;
  const int margin_x = 2 * cinfo.max_h_samp_factor * unit;
  const int margin_y = 2 * cinfo.max_v_samp_factor * unit;
  const Window window{
      std::max(region.y_begin - margin_y, 0), std::min(region.y_end + margin_y, height),
      std::max(region.x_begin - margin_x, 0), std::min(region.x_end + margin_x, width)};
  const double kept = static_cast<double>(window.y_end - window.y_begin) *
                      (window.x_end - window.x_begin) / (static_cast<double>(height) * width);
  return kept > 0.9 ? whole : window;
}

enum class Outcome { kDecoded, kNotNative, kFailed, kTooLarge };

struct Decode {
  // In
  const uint8_t* data;
  size_t size;
  const DecodeOptions* options;
  jpeg_progress_mgr* progress;
  // Out: `pixels` is owned by the caller's frame, so a longjmp cannot leak it.
  PixelBuffer* pixels;
  int height = 0, width = 0, channels = 0;
  int first_row = 0, first_column = 0, stored_height = 0, stored_width = 0;
  int64_t full_pixels = 0;
  ErrorManager errors{};
};

// The part that may longjmp. Only trivially destructible objects live in this frame.
Outcome run_decode(Decode& d, jpeg_decompress_struct& cinfo) {
  switch (setjmp(d.errors.jump)) {  // one of the few places setjmp may be called from
    case 0:
      break;
    case kJumpToFallback:
      return Outcome::kNotNative;
    default:
      return Outcome::kFailed;
  }
  jpeg_create_decompress(&cinfo);  // clears every field but err
  cinfo.progress = d.progress;
  jpeg_mem_src(&cinfo, d.data, static_cast<unsigned long>(d.size));
  jpeg_read_header(&cinfo, TRUE);
  d.full_pixels = static_cast<int64_t>(cinfo.image_width) * cinfo.image_height;
  if (d.options->max_pixels > 0 && d.full_pixels > d.options->max_pixels) {
    return Outcome::kTooLarge;
  }
  const bool grey = cinfo.num_components == 1 && cinfo.jpeg_color_space == JCS_GRAYSCALE;
  const bool colour = cinfo.num_components == 3 &&
                      (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB);
  if ((!grey && !colour) || cinfo.data_precision != 8) return Outcome::kNotNative;
  // Pillow asks for "L" or "RGB" (its rawmode), libjpeg's defaults otherwise.
  cinfo.out_color_space = grey && !d.options->rgb ? JCS_GRAYSCALE : JCS_RGB;
  if (d.options->draft) {
    cinfo.scale_num = 1;
    cinfo.scale_denom = draft_denominator(cinfo, *d.options->draft);
  }
  jpeg_calc_output_dimensions(&cinfo);
  d.height = static_cast<int>(cinfo.output_height);
  d.width = static_cast<int>(cinfo.output_width);
  const Window window = d.options->read_by ? window_to_decode(*d.options->read_by, cinfo)
                                           : Window{0, d.height, 0, d.width};
  jpeg_start_decompress(&cinfo);
  auto x_begin = static_cast<JDIMENSION>(window.x_begin);
  auto columns = static_cast<JDIMENSION>(window.x_end - window.x_begin);
  // Widened to whole iMCU columns by the library; output_width becomes `columns`.
  if (columns < cinfo.output_width) jpeg_crop_scanline(&cinfo, &x_begin, &columns);
  d.first_column = static_cast<int>(x_begin);
  d.stored_width = static_cast<int>(cinfo.output_width);
  d.first_row = window.y_begin;
  d.stored_height = window.y_end - window.y_begin;
  d.channels = cinfo.output_components;
  const size_t row_bytes = static_cast<size_t>(d.stored_width) * d.channels;
  // new[] would throw through libjpeg's frames on failure; malloc reports it instead.
  // One row more than the window: the image's last row is read there (see below).
  auto* pixels = static_cast<uint8_t*>(std::malloc(row_bytes * (d.stored_height + 1)));
  if (pixels == nullptr) fail(reinterpret_cast<j_common_ptr>(&cinfo), "out of memory");
  d.pixels->reset(pixels);
  if (window.y_begin > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(window.y_begin));
  const auto end = static_cast<JDIMENSION>(window.y_end);
  while (cinfo.output_scanline < end) {
    JSAMPROW rows[4];
    const unsigned first = cinfo.output_scanline;
    const unsigned count = std::min(4u, end - first);
    for (unsigned i = 0; i < count; ++i) {
      rows[i] = pixels + (first + i - static_cast<unsigned>(window.y_begin)) * row_bytes;
    }
    jpeg_read_scanlines(&cinfo, rows, count);
  }
  // The rows below are still entropy-decoded, so that a file that ends early fails as in
  // Pillow: skipping to the very end would not read them, so the last row is read.
  if (end < cinfo.output_height) {
    if (end + 1 < cinfo.output_height) jpeg_skip_scanlines(&cinfo, cinfo.output_height - end - 1);
    JSAMPROW last[1] = {pixels + static_cast<size_t>(d.stored_height) * row_bytes};
    jpeg_read_scanlines(&cinfo, last, 1);
  }
  d.errors.end_of_data_accepted = true;  // every row is out
  jpeg_finish_decompress(&cinfo);
  return Outcome::kDecoded;
}

}  // namespace

bool looks_like_jpeg(const uint8_t* data, size_t size) noexcept {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

std::optional<DecodedImage> decode_jpeg(const uint8_t* data, size_t size,
                                        const DecodeOptions& options) {
  if (!looks_like_jpeg(data, size)) {
    throw Error(ErrorKind::kInvalidArgument, "cannot decode: not a JPEG file");
  }
  PixelBuffer pixels;
  jpeg_progress_mgr progress{};
  progress.progress_monitor = on_progress;
  Decode d{data, size, &options, &progress, &pixels};
  jpeg_decompress_struct cinfo{};
  cinfo.err = jpeg_std_error(&d.errors.base);
  d.errors.base.error_exit = on_error;
  d.errors.base.emit_message = on_message;
  d.errors.end_of_data_to_fallback = options.end_of_data_to_fallback;
  const Outcome outcome = run_decode(d, cinfo);
  jpeg_destroy_decompress(&cinfo);
  switch (outcome) {
    case Outcome::kNotNative:
      return std::nullopt;
    case Outcome::kFailed:
      throw Error(ErrorKind::kInvalidArgument, std::string("cannot decode: ") + d.errors.message);
    case Outcome::kTooLarge:
      throw Error(ErrorKind::kInvalidArgument,
                  "refused as a possible decompression bomb: " + std::to_string(d.full_pixels) +
                      " pixels, over the limit of " + std::to_string(options.max_pixels) +
                      " (PIL.Image.MAX_IMAGE_PIXELS)");
    case Outcome::kDecoded:
      break;
  }
  DecodedImage image;
  image.pixels = std::move(pixels);
  image.height = d.height;
  image.width = d.width;
  image.channels = d.channels;
  image.first_row = d.first_row;
  image.first_column = d.first_column;
  image.stored_height = d.stored_height;
  image.stored_width = d.stored_width;
  return image;
}

}  // namespace fastort
