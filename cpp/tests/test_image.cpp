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
    const int side = 1 + static_cast<int>(random() % 200);
    if (random() % 2) {
      spec.resize = ShortSide{side};
    } else {
      spec.resize = ImageSize{side, 1 + static_cast<int>(random() % 200)};
    }
    const int crop = 1 + static_cast<int>(random() % 150);
    spec.crop = ImageSize{crop, crop};
    spec.interpolation = filters[random() % 3];
    spec.antialias = random() % 4 != 0;
    spec.pass_order = random() % 2 ? PassOrder::kPillow13 : PassOrder::kHorizontalFirst;
    spec.layout = Layout::kNHWC;
    spec.output_type = ElementType::kUInt8;
    spec.threads = 1 + static_cast<int>(random() % 3);
    std::vector<uint8_t> buffer;
    const ImageSize size = output_size(spec, height, width);
    const TensorView out = u8_out(buffer, {1, size.height, size.width, 3});
    transform_images({image}, spec, out);
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
  spec.resize = ShortSide{17};
  spec.crop = ImageSize{17, 17};
  spec.layout = Layout::kNHWC;
  spec.output_type = ElementType::kUInt8;
  std::vector<uint8_t> buffer;
  transform_images({image}, spec, u8_out(buffer, {1, 17, 17, 3}));
  bool all_ten = true;
  for (uint8_t value : buffer) all_ten = all_ten && value == 10;
  CHECK(all_ten);
}

TEST_CASE(float_output_uses_torchvision_arithmetic) {
  std::vector<uint8_t> pixels(4 * 4 * 3, 128);
  ImageView image{pixels.data(), 4, 4, 3, 12};
  ImageTransformSpec spec;
  spec.resize = std::nullopt;
  spec.crop = ImageSize{2, 2};
  std::vector<float> buffer(2 * 2 * 3);
  TensorView out;
  out.data = buffer.data();
  out.type = ElementType::kFloat32;
  out.shape = {1, 3, 2, 2};
  transform_images({image}, spec, out);
  // mean and std rounded to float32 first, as torchvision's Normalize does.
  const float expected = (128.0f / 255.0f - 0.456f) / 0.224f;
  CHECK(buffer[4] == expected);
}

TEST_CASE(bad_images_and_specs_are_rejected) {
  std::vector<uint8_t> pixels(10 * 10 * 3);
  std::vector<uint8_t> buffer;
  ImageTransformSpec spec;
  spec.output_type = ElementType::kUInt8;
  const TensorView out = u8_out(buffer, {1, 3, 224, 224});
  ImageView two_channels{pixels.data(), 10, 10, 2, 20};
  CHECK_THROWS_KIND(transform_images({two_channels}, spec, out), ErrorKind::kInvalidArgument);
  ImageView empty{pixels.data(), 0, 10, 3, 30};
  CHECK_THROWS_KIND(transform_images({empty}, spec, out), ErrorKind::kInvalidArgument);
  ImageView short_rows{pixels.data(), 10, 10, 3, 20};
  CHECK_THROWS_KIND(transform_images({short_rows}, spec, out), ErrorKind::kInvalidArgument);
  CHECK_THROWS_KIND(transform_images({}, spec, out), ErrorKind::kInvalidArgument);
  ImageView good{pixels.data(), 10, 10, 3, 30};
  const TensorView wrong_shape = u8_out(buffer, {1, 3, 224, 223});
  CHECK_THROWS_KIND(transform_images({good}, spec, wrong_shape), ErrorKind::kInvalidArgument);
  ImageTransformSpec float_spec;  // a uint8 out for a float32 transform: the type is wrong
  CHECK_THROWS_KIND(transform_images({good}, float_spec, out), ErrorKind::kTypeMismatch);
  transform_images({good}, spec, out);
  const auto refused = [](auto change) {
    ImageTransformSpec changed;
    change(changed);
    try {
      changed.validate();
    } catch (const Error& error) {
      return error.kind() == ErrorKind::kInvalidArgument;
    }
    return false;
  };
  CHECK(refused([](ImageTransformSpec& s) { s.stddev = {1.0, 0.0, 1.0}; }));
  CHECK(refused([](ImageTransformSpec& s) { s.stddev = {1.0, 1e-40, 1.0}; }));  // subnormal
  CHECK(refused([](ImageTransformSpec& s) { s.stddev = {1.0, 1.0, INFINITY}; }));
  CHECK(refused([](ImageTransformSpec& s) { s.stddev = {1.0, 1e39, 1.0}; }));  // inf in float32
  CHECK(refused([](ImageTransformSpec& s) { s.mean = {-INFINITY, 0.0, 0.0}; }));
  CHECK(refused([](ImageTransformSpec& s) { s.mean = {NAN, 0.0, 0.0}; }));
  // Every field normal, but (1 - mean) / std is inf.
  CHECK(
      refused([](ImageTransformSpec& s) { s.mean = {-3e38, 0.0, 0.0}, s.stddev = {1e-3, 1, 1}; }));
  CHECK(refused([](ImageTransformSpec& s) { s.resize = ShortSide{0}; }));
  CHECK(refused([](ImageTransformSpec& s) { s.resize = ImageSize{10, kMaxImageSide + 1}; }));
  CHECK(refused([](ImageTransformSpec& s) { s.crop = ImageSize{0, 5}; }));
  CHECK(refused([](ImageTransformSpec& s) { s.threads = -1; }));
  CHECK(refused([](ImageTransformSpec& s) { s.output_type = ElementType::kFloat64; }));
  CHECK(refused([](ImageTransformSpec& s) { s.layout = static_cast<Layout>(7); }));
  ImageTransformSpec smallest_normal;
  smallest_normal.mean = {0.0, 0.0, 0.0};
  smallest_normal.stddev = {1.2e-38, 1.0, 1.0};
  smallest_normal.validate();  // 1 / 1.2e-38 still fits in float32
  ImageTransformSpec largest;
  largest.resize = ImageSize{kMaxImageSide, kMaxImageSide};
  largest.crop = std::nullopt;
  largest.validate();
}

TEST_CASE(every_name_parses_back_and_bad_names_list_the_valid_ones) {
  for (auto value : {Interpolation::kNearest, Interpolation::kBilinear, Interpolation::kBicubic}) {
    CHECK(parse_interpolation(interpolation_name(value)) == value);
  }
  for (auto value : {Layout::kNCHW, Layout::kNHWC})
    CHECK(parse_layout(layout_name(value)) == value);
  for (auto value : {ChannelOrder::kRGB, ChannelOrder::kBGR}) {
    CHECK(parse_channel_order(channel_order_name(value)) == value);
  }
  for (auto value : {PassOrder::kPillow13, PassOrder::kHorizontalFirst}) {
    CHECK(parse_pass_order(pass_order_name(value)) == value);
  }
  for (auto value : {ElementType::kFloat32, ElementType::kUInt8}) {
    CHECK(parse_image_output_type(element_type_name(value)) == value);
  }
  const auto message = [](auto parse, const char* name) {
    try {
      parse(name);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  CHECK(message(parse_interpolation, "lanczos") ==
        "interpolation must be one of 'bilinear', 'bicubic', 'nearest', got 'lanczos'");
  CHECK(message(parse_layout, "CHW") == "layout must be one of 'NCHW', 'NHWC', got 'CHW'");
  CHECK(message(parse_channel_order, "bgr") ==
        "channel_order must be one of 'RGB', 'BGR', got 'bgr'");
  CHECK(message(parse_pass_order, "pillow12") ==
        "pass_order must be one of 'pillow13', 'horizontal_first', got 'pillow12'");
  CHECK(message(parse_image_output_type, "float16") ==
        "dtype must be one of 'float32', 'uint8', got 'float16'");
}

TEST_CASE(specs_compare_and_hash_by_value) {
  const std::hash<ImageTransformSpec> hash;
  ImageTransformSpec a, b;
  CHECK(a == b && hash(a) == hash(b));
  std::vector<ImageTransformSpec> changed(12);
  changed[0].resize = std::nullopt;
  changed[1].resize = ImageSize{256, 256};
  changed[2].crop = std::nullopt;
  changed[3].crop = ImageSize{224, 225};
  changed[4].interpolation = Interpolation::kBicubic;
  changed[5].antialias = false;
  changed[6].mean[2] = 0.5;
  changed[7].stddev[0] = 0.5;
  changed[8].layout = Layout::kNHWC;
  changed[9].channel_order = ChannelOrder::kBGR;
  changed[10].output_type = ElementType::kUInt8;
  changed[11].threads = 2;
  for (const auto& spec : changed) CHECK(spec != a && hash(spec) != hash(a));
  b.pass_order = PassOrder::kHorizontalFirst;
  CHECK(b != a);
  b.pass_order = a.pass_order;
  b.resize = ShortSide{256};  // set again: the same value
  CHECK(b == a && hash(b) == hash(a));
}

TEST_CASE(a_batch_sizes_its_images_once_and_checks_the_output) {
  std::vector<uint8_t> pixels(480 * 640 * 3, 9);
  const ImageView landscape{pixels.data(), 480, 640, 3, 640 * 3};
  const ImageView portrait{pixels.data(), 640, 480, 3, 480 * 3};
  ImageTransformSpec spec;
  spec.crop = std::nullopt;
  spec.layout = Layout::kNHWC;
  const ImageBatch one(spec, {landscape});
  CHECK((one.output_shape() == std::array<int64_t, 4>{1, 256, 341, 3}));
  CHECK(one.output_type() == ElementType::kFloat32);
  CHECK_THROWS_KIND(ImageBatch(spec, {landscape, portrait}), ErrorKind::kInvalidArgument);
  spec.crop = ImageSize{224, 200};
  const ImageBatch two(spec, {landscape, portrait});
  CHECK((two.output_shape() == std::array<int64_t, 4>{2, 224, 200, 3}));
  two.check_new_output();
  std::vector<float> memory(2 * 224 * 200 * 3);
  TensorView out;
  out.data = memory.data();
  out.type = ElementType::kFloat32;
  out.shape = {2, 224, 200, 3};
  two.check_output(out);
  TensorView strided = out;
  strided.strides = {224 * 200 * 12, 4, 224 * 4 * 3, 4};
  CHECK_THROWS_KIND(two.check_output(strided), ErrorKind::kInvalidArgument);
  TensorView readonly = out;
  readonly.writable = false;
  CHECK_THROWS_KIND(two.check_output(readonly), ErrorKind::kInvalidArgument);
  two.run(out);
  CHECK(memory[0] == (9.0f / 255.0f - 0.485f) / 0.229f);
}

TEST_CASE(out_sharing_memory_with_an_image_is_refused) {
  // One buffer: 16 rows of 64 bytes. The images are its first 4 pixels (12 bytes) of each
  // row; out is a 1 x 1 x 2 x 3 uint8 crop (6 bytes) placed at different offsets.
  std::vector<uint8_t> memory(16 * 64, 9);
  const ImageView image{memory.data(), 16, 4, 3, 64};
  ImageTransformSpec spec;
  spec.resize = std::nullopt;
  spec.crop = ImageSize{1, 2};
  spec.layout = Layout::kNHWC;
  spec.output_type = ElementType::kUInt8;
  auto out_at = [&](size_t offset) {
    TensorView out;
    out.type = ElementType::kUInt8;
    out.shape = {1, 1, 2, 3};
    out.data = memory.data() + offset;
    return out;
  };
  for (size_t offset : {0, 6, 7, 64 * 3 + 11, 64 * 15}) {  // within a row of the image
    CHECK_THROWS_KIND(transform_images({image}, spec, out_at(offset)), ErrorKind::kInvalidArgument);
  }
  CHECK_THROWS_KIND(transform_images({image}, spec, out_at(64 * 2 + 60)),  // across rows
                    ErrorKind::kInvalidArgument);
  for (size_t offset : {12, 64 * 5 + 12, 64 * 5 + 58, 64 * 15 + 12}) {  // between rows, after
    std::fill(memory.begin() + offset, memory.begin() + offset + 6, 0);
    transform_images({image}, spec, out_at(offset));
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
  spec.resize = std::nullopt;
  spec.crop = ImageSize{4, 4};
  spec.output_type = ElementType::kUInt8;
  std::vector<uint8_t> buffer;
  const TensorView out = u8_out(buffer, {1, 3, 4, 4});
  for (int threads : {-1, kMaxThreads + 1}) {
    spec.threads = threads;
    CHECK_THROWS_KIND(transform_images({image}, spec, out), ErrorKind::kInvalidArgument);
  }
  spec.threads = kMaxThreads;
  transform_images({image}, spec, out);
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
