// Native JPEG decoding: files written here with libjpeg's own encoder, decoded back, and every
// kind of damaged or refused file. Run under the sanitizers by `make test-asan`.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

// clang-format off
#include <jpeglib.h>  // needs <cstdio> first
// clang-format on

#include "check.hpp"
#include "fastort/error.hpp"
#include "fastort/image_decode.hpp"

using namespace fastort;

namespace {

// A JPEG of a smooth gradient, `components` 1 (grey), 3 (YCbCr) or 4 (CMYK).
std::vector<uint8_t> encode(int width, int height, int components, bool progressive = false) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr errors{};
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = components;
  cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 90, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<uint8_t> row(static_cast<size_t>(width) * components);
  while (cinfo.next_scanline < cinfo.image_height) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < components; ++c) {
        row[static_cast<size_t>(x) * components + c] = static_cast<uint8_t>(
            (x * 255 / std::max(width - 1, 1) + c * 60 + static_cast<int>(cinfo.next_scanline)) %
            256);
      }
    }
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> file(buffer, buffer + size);
  std::free(buffer);
  return file;
}

std::optional<DecodedImage> decode(const std::vector<uint8_t>& file, DecodeOptions options = {}) {
  return decode_jpeg(file.data(), file.size(), options);
}

bool message_has(const std::function<void()>& call, const char* text) {
  try {
    call();
  } catch (const Error& error) {
    return std::strstr(error.what(), text) != nullptr;
  }
  return false;
}

}  // namespace

TEST_CASE(decodes_colour_grey_and_progressive_files) {
  for (bool progressive : {false, true}) {
    const auto colour = decode(encode(37, 21, 3, progressive));
    CHECK(colour && colour->width == 37 && colour->height == 21 && colour->channels == 3);
    const auto grey = decode(encode(5, 9, 1, progressive));
    CHECK(grey && grey->channels == 1 && grey->width == 5 && grey->height == 9);
    DecodeOptions rgb;
    rgb.rgb = true;
    const auto replicated = decode(encode(5, 9, 1, progressive), rgb);
    CHECK(replicated && replicated->channels == 3);
    bool equal = true;
    for (int i = 0; i < 5 * 9; ++i) {
      for (int c = 0; c < 3; ++c) equal &= replicated->pixels[i * 3 + c] == grey->pixels[i];
    }
    CHECK(equal);
  }
}

TEST_CASE(one_pixel_and_view) {
  const auto image = decode(encode(1, 1, 3));
  CHECK(image && image->width == 1 && image->height == 1);
  const ImageView view = image->view();
  CHECK(view.data == image->pixels.get() && view.row_stride == 3 && view.channels == 3);
}

TEST_CASE(draft_picks_pillows_reduction) {
  const auto file = encode(1920, 1080, 3);
  DecodeOptions options;
  options.draft = ImageSize{256, 256};  // min(1920 / 256, 1080 / 256) = 4
  auto image = decode(file, options);
  CHECK(image && image->width == 480 && image->height == 270);
  options.draft = ImageSize{100, 100};  // 10: 1/8, sides rounded up
  image = decode(file, options);
  CHECK(image && image->width == 240 && image->height == 135);
  options.draft = ImageSize{1080, 1000};  // 1: a full decode
  image = decode(file, options);
  CHECK(image && image->width == 1920);
}

TEST_CASE(a_window_read_by_a_transform_equals_the_full_decode_there) {
  for (bool progressive : {false, true}) {
    const auto file = encode(1920, 1080, 3, progressive);
    const auto full = decode(file);
    for (int crop : {224, 16}) {
      DecodeOptions options;
      options.read_by = ImageTransformSpec{};
      options.read_by->crop = ImageSize{crop, crop};
      const auto window = decode(file, options);
      CHECK(window && window->is_window() && window->height == 1080 && window->width == 1920);
      const ImageRegion region = read_region(*options.read_by, 1080, 1920);
      CHECK(window->first_row <= region.y_begin &&
            window->first_row + window->stored_height >= region.y_end);
      CHECK(window->first_column <= region.x_begin &&
            window->first_column + window->stored_width >= region.x_end);
      bool equal = true;
      for (int y = 0; y < window->stored_height; ++y) {
        const uint8_t* stored =
            window->pixels.get() + static_cast<size_t>(y) * window->stored_width * 3;
        const uint8_t* whole =
            full->pixels.get() +
            (static_cast<size_t>(y + window->first_row) * 1920 + window->first_column) * 3;
        // Only the region the transform reads must match: the margins around it may differ
        // (libjpeg treats the edges of a cropped window as image edges when upsampling).
        const int row = y + window->first_row;
        if (row < region.y_begin || row >= region.y_end) continue;
        const size_t skip = static_cast<size_t>(region.x_begin - window->first_column) * 3;
        const size_t bytes = static_cast<size_t>(region.x_end - region.x_begin) * 3;
        equal &= std::memcmp(stored + skip, whole + skip, bytes) == 0;
      }
      CHECK(equal);
      // Cut below the window: still an error.
      const std::vector<uint8_t> head(file.begin(),
                                      file.begin() + static_cast<long>(file.size() * 9 / 10));
      CHECK(message_has([&] { decode(head, options); }, "truncated"));
    }
  }
}

TEST_CASE(cmyk_is_left_to_pillow) { CHECK(!decode(encode(16, 16, 4)).has_value()); }

TEST_CASE(truncated_and_corrupt_files_throw) {
  const auto file = encode(64, 48, 3);
  for (size_t cut : {size_t{3}, size_t{40}, file.size() / 2, file.size() - 2}) {
    const std::vector<uint8_t> head(file.begin(), file.begin() + static_cast<long>(cut));
    CHECK_THROWS_KIND(decode(head), ErrorKind::kInvalidArgument);
  }
  const std::vector<uint8_t> half(file.begin(), file.begin() + static_cast<long>(file.size() / 2));
  CHECK(message_has([&] { decode(half); }, "truncated"));
  std::vector<uint8_t> garbage = {0xFF, 0xD8, 0xFF};
  for (int i = 0; i < 500; ++i) garbage.push_back(static_cast<uint8_t>(i * 37));
  CHECK_THROWS_KIND(decode(garbage), ErrorKind::kInvalidArgument);
  const std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  CHECK(message_has([&] { decode(text); }, "not a JPEG"));
  CHECK_THROWS_KIND(decode_jpeg(nullptr, 0, {}), ErrorKind::kInvalidArgument);
  // Every single-byte change decodes or throws; none crashes (ASan checks the reads).
  for (size_t at = 2; at < file.size(); at += 7) {
    std::vector<uint8_t> damaged = file;
    damaged[at] ^= 0x5A;
    try {
      decode(damaged);
    } catch (const Error&) {
    }
  }
}

TEST_CASE(files_that_end_early_are_left_to_the_fallback_when_there_is_one) {
  const auto file = encode(64, 48, 3);
  DecodeOptions fallback;
  fallback.end_of_data_to_fallback = true;
  for (size_t cut : {size_t{3}, size_t{40}, file.size() / 2, file.size() - 2, file.size() - 1}) {
    const std::vector<uint8_t> head(file.begin(), file.begin() + static_cast<long>(cut));
    CHECK(!decode(head, fallback).has_value());
  }
  CHECK(decode(file, fallback).has_value());
  // Without one, a file whose rows all came out before its data ended decodes: here the EOI
  // marker replaced by padding the decoder never reaches.
  std::vector<uint8_t> padded(file.begin(), file.end() - 2);
  padded.resize(padded.size() + 64, 0);
  const auto whole = decode(file), decoded = decode(padded);
  CHECK(decoded && std::memcmp(decoded->pixels.get(), whole->pixels.get(), 64 * 48 * 3) == 0);
  CHECK(!decode(padded, fallback).has_value());
}

TEST_CASE(too_many_pixels_are_refused_before_decoding) {
  auto file = encode(64, 48, 3);
  DecodeOptions options;
  options.max_pixels = 64 * 48 - 1;
  CHECK(message_has([&] { decode(file, options); }, "decompression bomb"));
  options.max_pixels = 64 * 48;
  CHECK(decode(file, options).has_value());
  options.max_pixels = 0;  // no limit
  CHECK(decode(file, options).has_value());
  // A header claiming 65000 x 65000 pixels.
  for (size_t i = 0; i + 9 < file.size(); ++i) {
    if (file[i] == 0xFF && file[i + 1] == 0xC0) {
      file[i + 5] = file[i + 7] = 0xFD;
      file[i + 6] = file[i + 8] = 0xE8;
      break;
    }
  }
  CHECK(message_has([&] { decode(file); }, "decompression bomb"));
}

TEST_CASE(batches_report_the_lowest_failing_index) {
  const auto good = encode(32, 32, 3);
  const std::vector<uint8_t> bad = {0xFF, 0xD8, 0xFF, 0x00};
  std::vector<EncodedImage> images;
  for (size_t i = 0; i < 6; ++i) {
    const auto& file = i == 2 || i == 4 ? bad : good;
    images.push_back(EncodedImage{file.data(), file.size(), {}, i + 10});
  }
  CHECK(message_has([&] { decode_images(images, {}, 2); }, "image 12: cannot decode"));
  images[2] = images[4] = images[0];
  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G'};
  images[3] = EncodedImage{png.data(), png.size(), {}, 13};
  const auto decoded = decode_images(images, {}, 2);
  CHECK(decoded.size() == 6 && decoded[0].has_value() && !decoded[3].has_value());
}

TEST_CASE(files_are_read_with_typed_errors) {
  const auto file = encode(20, 10, 3);
  const std::string path = "fastort_test_image_decode.jpg";
  std::FILE* out = std::fopen(path.c_str(), "wb");
  std::fwrite(file.data(), 1, file.size(), out);
  std::fclose(out);
  CHECK(read_file(path) == file);
  const auto decoded = decode_images({EncodedImage{nullptr, 0, path, 0}}, {}, 1);
  CHECK(decoded[0] && decoded[0]->width == 20);
  std::remove(path.c_str());
  {
    std::FILE* again = std::fopen(path.c_str(), "wb");
    std::fwrite(file.data(), 1, file.size(), again);
    std::fclose(again);
    CHECK_THROWS_KIND(read_file(path, file.size() - 1), ErrorKind::kInvalidArgument);
    std::remove(path.c_str());
  }
  // An endless device is not read to its end: not a JPEG after its first bytes.
  CHECK(read_file("/dev/zero").size() <= 3);
  CHECK_THROWS_KIND(read_file(path), ErrorKind::kFileNotFound);
  CHECK_THROWS_KIND(read_file("."), ErrorKind::kIsADirectory);
  CHECK_THROWS_KIND(decode_images({EncodedImage{nullptr, 0, path, 0}}, {}, 1),
                    ErrorKind::kFileNotFound);
}

TEST_CASE(library_info) {
  const JpegLibraryInfo info = jpeg_library_info();
  CHECK(!info.version.empty() && info.version.find('.') != std::string::npos);
  CHECK(info.simd == "avx2" || info.simd == "sse2" || info.simd == "neon" || info.simd == "none" ||
        info.simd == "unknown");
}

TEST_MAIN()
