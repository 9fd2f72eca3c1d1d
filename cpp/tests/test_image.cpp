// Image kernels: every size, channel count and filter on exactly-sized buffers (run under
// AddressSanitizer by `make test-asan` to catch any read past an image), constant images
// staying constant, and bad input.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <vector>

#include "check.hpp"
#include "fastort/image.hpp"
#include "fastort/session_options.hpp"
#include "fastort/thread_pool.hpp"

using namespace fastort;

namespace {

TensorView u8_out(std::vector<uint8_t>& buffer, std::vector<int64_t> shape) {
  TensorView view;
  view.type = ElementType::kUInt8;
  view.shape = std::move(shape);
  int64_t count = 1;
  for (int64_t dim : view.shape) count *= dim;
  buffer.assign(static_cast<size_t>(count), 0xAB);
  view.data = buffer.data();
  return view;
}

}  // namespace

TEST_CASE(random_sizes_stay_in_bounds_and_constant_images_stay_constant) {
  std::mt19937 random(7);
  const Interpolation filters[] = {Interpolation::kBilinear, Interpolation::kBicubic,
                                   Interpolation::kNearest};
  for (int round = 0; round < 400; ++round) {
    const int height = 1 + static_cast<int>(random() % 300);
    const int width = 1 + static_cast<int>(random() % 300);
    const int channels = std::vector<int>{1, 3, 4}[random() % 3];
    const uint8_t level = static_cast<uint8_t>(random() % 256);
    // Exactly sized, so that any read past the image is caught by the sanitizer.
    std::vector<uint8_t> pixels(static_cast<size_t>(height) * width * channels, level);
    ImageView image{pixels.data(), height, width, channels, static_cast<int64_t>(width) * channels};
    ImageTransformSpec spec;
    spec.resize_height = 1 + static_cast<int>(random() % 200);
    spec.resize_width = random() % 2 ? 1 + static_cast<int>(random() % 200) : 0;
    spec.crop_height = spec.crop_width = 1 + static_cast<int>(random() % 150);
    spec.interpolation = filters[random() % 3];
    spec.antialias = random() % 4 != 0;
    spec.pass_order = random() % 2 ? PassOrder::kPillow13 : PassOrder::kHorizontalFirst;
    spec.layout = Layout::kNHWC;
    std::vector<uint8_t> buffer;
    const auto size = output_size(spec, height, width);
    const TensorView out = u8_out(buffer, {1, size[0], size[1], 3});
    transform_images({image}, spec, out, 1 + static_cast<int>(random() % 3));
    // Inside the resized image every value is the level; padding is zero.
    bool ok = true;
    for (uint8_t value : buffer) ok = ok && (value == level || value == 0);
    CHECK(ok);
  }
}

TEST_CASE(row_strides_wider_than_the_image_are_honoured) {
  const int height = 40, width = 30, stride = 100;
  std::vector<uint8_t> padded(static_cast<size_t>(height) * stride, 255);  // padding: 255
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width * 3; ++x) padded[y * stride + x] = 10;
  ImageView image{padded.data(), height, width, 3, stride};
  ImageTransformSpec spec;
  spec.resize_height = 17;
  spec.crop_height = spec.crop_width = 17;
  spec.layout = Layout::kNHWC;
  std::vector<uint8_t> buffer;
  transform_images({image}, spec, u8_out(buffer, {1, 17, 17, 3}), 1);
  bool all_ten = true;
  for (uint8_t value : buffer) all_ten = all_ten && value == 10;
  CHECK(all_ten);
}

TEST_CASE(float_output_uses_torchvision_arithmetic) {
  std::vector<uint8_t> pixels(4 * 4 * 3, 128);
  ImageView image{pixels.data(), 4, 4, 3, 12};
  ImageTransformSpec spec;
  spec.resize_height = 0;
  spec.crop_height = spec.crop_width = 2;
  std::vector<float> buffer(2 * 2 * 3);
  TensorView out;
  out.data = buffer.data();
  out.type = ElementType::kFloat32;
  out.shape = {1, 3, 2, 2};
  transform_images({image}, spec, out, 1);
  const float expected = (128.0f / 255.0f - spec.mean[1]) / spec.std[1];
  CHECK(buffer[4] == expected);
}

TEST_CASE(bad_images_and_specs_are_rejected) {
  std::vector<uint8_t> pixels(10 * 10 * 3);
  std::vector<uint8_t> buffer;
  ImageTransformSpec spec;
  const TensorView out = u8_out(buffer, {1, 3, 224, 224});
  ImageView two_channels{pixels.data(), 10, 10, 2, 20};
  CHECK_THROWS_KIND(transform_images({two_channels}, spec, out, 1), ErrorKind::kInvalidArgument);
  ImageView empty{pixels.data(), 0, 10, 3, 30};
  CHECK_THROWS_KIND(transform_images({empty}, spec, out, 1), ErrorKind::kInvalidArgument);
  ImageView short_rows{pixels.data(), 10, 10, 3, 20};
  CHECK_THROWS_KIND(transform_images({short_rows}, spec, out, 1), ErrorKind::kInvalidArgument);
  ImageView good{pixels.data(), 10, 10, 3, 30};
  const TensorView wrong_shape = u8_out(buffer, {1, 3, 224, 223});
  CHECK_THROWS_KIND(transform_images({good}, spec, wrong_shape, 1), ErrorKind::kInvalidArgument);
  ImageTransformSpec zero_std;
  zero_std.std = {1.0f, 0.0f, 1.0f};
  CHECK_THROWS_KIND(zero_std.validate(), ErrorKind::kInvalidArgument);
  ImageTransformSpec subnormal_std;
  subnormal_std.std = {1.0f, 1e-40f, 1.0f};
  CHECK_THROWS_KIND(subnormal_std.validate(), ErrorKind::kInvalidArgument);
  ImageTransformSpec infinite_std;
  infinite_std.std = {1.0f, 1.0f, INFINITY};
  CHECK_THROWS_KIND(infinite_std.validate(), ErrorKind::kInvalidArgument);
  ImageTransformSpec infinite_mean;
  infinite_mean.mean = {-INFINITY, 0.0f, 0.0f};
  CHECK_THROWS_KIND(infinite_mean.validate(), ErrorKind::kInvalidArgument);
  ImageTransformSpec overflowing;  // every field normal, but (1 - mean) / std is inf
  overflowing.mean = {-3e38f, 0.0f, 0.0f};
  overflowing.std = {1e-3f, 1.0f, 1.0f};
  CHECK_THROWS_KIND(overflowing.validate(), ErrorKind::kInvalidArgument);
  ImageTransformSpec smallest_normal;
  smallest_normal.mean = {0.0f, 0.0f, 0.0f};
  smallest_normal.std = {1.2e-38f, 1.0f, 1.0f};
  smallest_normal.validate();  // 1 / 1.2e-38 still fits in float32
  ImageTransformSpec half_crop;
  half_crop.crop_width = 0;
  CHECK_THROWS_KIND(half_crop.validate(), ErrorKind::kInvalidArgument);
}

TEST_CASE(out_sharing_memory_with_an_image_is_refused) {
  // One buffer: 16 rows of 64 bytes. The images are its first 4 pixels (12 bytes) of each
  // row; out is a 1 x 1 x 2 x 3 uint8 crop (6 bytes) placed at different offsets.
  std::vector<uint8_t> memory(16 * 64, 9);
  const ImageView image{memory.data(), 16, 4, 3, 64};
  ImageTransformSpec spec;
  spec.resize_height = 0;
  spec.crop_height = 1;
  spec.crop_width = 2;
  spec.layout = Layout::kNHWC;
  auto out_at = [&](size_t offset) {
    TensorView out;
    out.type = ElementType::kUInt8;
    out.shape = {1, 1, 2, 3};
    out.data = memory.data() + offset;
    return out;
  };
  for (size_t offset : {0, 6, 7, 64 * 3 + 11, 64 * 15}) {  // within a row of the image
    CHECK_THROWS_KIND(transform_images({image}, spec, out_at(offset), 1),
                      ErrorKind::kInvalidArgument);
  }
  CHECK_THROWS_KIND(transform_images({image}, spec, out_at(64 * 2 + 60), 1),  // across rows
                    ErrorKind::kInvalidArgument);
  for (size_t offset : {12, 64 * 5 + 12, 64 * 5 + 58, 64 * 15 + 12}) {  // between rows, after
    std::fill(memory.begin() + offset, memory.begin() + offset + 6, 0);
    transform_images({image}, spec, out_at(offset), 1);
    CHECK(memory[offset] == 9 && memory[offset + 5] == 9);  // the crop was written
  }
}

TEST_CASE(outputs_larger_than_memory_are_refused) {
  check_output_fits(ElementType::kFloat32, {32, 3, 224, 224});
  CHECK_THROWS_KIND(check_output_fits(ElementType::kFloat32, {64, 3, 65536, 65536}),
                    ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(check_output_fits(ElementType::kUInt8, {INT64_MAX, 3, 65536, 65536}),
                    ErrorKind::kInvalidArgument);  // no overflow to a small size
  ImageTransformSpec spec;
  spec.layout = Layout::kNHWC;
  CHECK((output_shape(spec, 5, 480, 640) == std::array<int64_t, 4>{5, 224, 224, 3}));
  CHECK_THROWS_KIND(output_shape(spec, 1, 0, 640), ErrorKind::kInvalidArgument);
}

TEST_CASE(one_thread_limit_for_every_option) {
  CHECK(SessionOptions::kMaxThreads == kMaxThreads);
  check_threads("threads", 0);
  check_threads("threads", kMaxThreads);
  CHECK_THROWS_KIND(check_threads("threads", -1), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(check_threads("threads", kMaxThreads + 1), ErrorKind::kInvalidArgument);
  std::vector<uint8_t> pixels(8 * 8 * 3, 7);
  const ImageView image{pixels.data(), 8, 8, 3, 24};
  ImageTransformSpec spec;
  spec.resize_height = 0;
  spec.crop_height = spec.crop_width = 4;
  std::vector<uint8_t> buffer;
  const TensorView out = u8_out(buffer, {1, 3, 4, 4});
  CHECK_THROWS_KIND(transform_images({image}, spec, out, -1), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(transform_images({image}, spec, out, kMaxThreads + 1),
                    ErrorKind::kInvalidArgument);
}

TEST_CASE(the_pool_runs_as_many_threads_as_the_limit_allows) {
  // Every body waits until all are inside at once, which only kMaxThreads threads can do.
  std::mutex mutex;
  std::condition_variable arrived;
  int inside = 0;
  std::atomic<int> saw_all{0};
  parallel_for(kMaxThreads, kMaxThreads, [&](size_t) {
    std::unique_lock<std::mutex> lock(mutex);
    ++inside;
    arrived.notify_all();
    if (arrived.wait_for(lock, std::chrono::seconds(5), [&] { return inside == kMaxThreads; })) {
      ++saw_all;
    }
  });
  CHECK(saw_all.load() == kMaxThreads);
}

TEST_MAIN()
