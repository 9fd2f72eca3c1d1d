// transform_images: torchvision's sizing, the crop window, work split across threads, and the
// final pass that writes normalised values in the output layout.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#ifdef _WIN32
#define NOMINMAX
#include <windows.h>
#else
#include <unistd.h>
#endif

#include "fastort/error.hpp"
#include "fastort/image.hpp"
#include "fastort/thread_pool.hpp"
#include "resample_kernels.hpp"
#include "resample_plan.hpp"

namespace fastort {
namespace {

constexpr int kMaxSide = 1 << 16;
// Resized sizes are never allocated (only the crop window is), but must fit in int.
constexpr int kMaxResized = 1 << 28;

void check_side(const char* name, int value, bool zero_allowed) {
  if (value < (zero_allowed ? 0 : 1) || value > kMaxSide) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string(name) + " must be between " + (zero_allowed ? "0" : "1") + " and " +
                    std::to_string(kMaxSide) + ", got " + std::to_string(value));
  }
}

// a * b for sizes (>= 0), INT64_MAX when that overflows.
int64_t saturating_multiply(int64_t a, int64_t b) {
  return b != 0 && a > INT64_MAX / b ? INT64_MAX : a * b;
}

// This machine's RAM, read once; INT64_MAX when the system does not say.
int64_t physical_memory_bytes() {
  static const int64_t bytes = [] {
#ifdef _WIN32
    MEMORYSTATUSEX status;
    status.dwLength = sizeof status;
    if (GlobalMemoryStatusEx(&status)) return static_cast<int64_t>(status.ullTotalPhys);
#else
    const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page_size > 0) return saturating_multiply(pages, page_size);
#endif
    return INT64_MAX;
  }();
  return bytes;
}

// The shortest text that reads back as `value` (std::to_string prints 1e-40 as 0.000000).
std::string float_text(float value) {
  char text[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(value));
    if (std::strtof(text, nullptr) == value) break;
  }
  return text;
}

// torchvision's Resize: (h, w) as given, or the short side to S and the long side truncated.
std::array<int, 2> resized_size(const ImageTransformSpec& spec, int height, int width) {
  if (spec.resize_height == 0) return {height, width};
  if (spec.resize_width > 0) return {spec.resize_height, spec.resize_width};
  const int short_side = std::min(height, width);
  const int long_side = std::max(height, width);
  const int64_t scaled = static_cast<int64_t>(spec.resize_height) * long_side;
  const double new_long_exact = static_cast<double>(scaled) / short_side;
  if (new_long_exact > kMaxResized) {
    throw Error(ErrorKind::kInvalidArgument,
                "resizing a " + std::to_string(height) + "x" + std::to_string(width) +
                    " image to short side " + std::to_string(spec.resize_height) +
                    " gives a side over " + std::to_string(kMaxResized) + " pixels");
  }
  const int new_long = static_cast<int>(new_long_exact);
  return width <= height ? std::array<int, 2>{new_long, spec.resize_height}
                         : std::array<int, 2>{spec.resize_height, new_long};
}

// torchvision's CenterCrop offset along one axis (negative: zero padding before the image).
int crop_offset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  // int(round((size - crop) / 2.0)), with Python's round half to even.
  const int excess = size - crop;
  int half = excess / 2;
  if (excess % 2 == 1 && half % 2 == 1) ++half;
  return half;
}

// Where one image's output goes: N x 3 x H x W (NCHW) or N x H x W x 3 (NHWC) elements,
// and the value of each byte per output channel (normalised floats, or the byte itself).
template <typename T>
struct Writer {
  T* base;
  int height, width;
  Layout layout;
  const T (*values)[256];

  // Writes output row y from `pixels` (pixel_bytes apart; `channel_of[c]` picks the byte
  // of output channel c) for columns [x_begin, x_end), zero elsewhere.
  void write_row(int y, const uint8_t* pixels, int pixel_bytes, const int (&channel_of)[3],
                 int x_begin, int x_end) const {
    for (int c = 0; c < 3; ++c) {
      const T* table = values[c];
      const T zero = table[0];
      T* dst;
      int64_t step;
      if (layout == Layout::kNCHW) {
        dst = base + (static_cast<int64_t>(c) * height + y) * width;
        step = 1;
      } else {
        dst = base + static_cast<int64_t>(y) * width * 3 + c;
        step = 3;
      }
      int x = 0;
      for (; x < x_begin; ++x) dst[x * step] = zero;
      const uint8_t* p = pixels + channel_of[c];
      for (; x < x_end; ++x, p += pixel_bytes) dst[x * step] = table[*p];
      for (; x < width; ++x) dst[x * step] = zero;
    }
  }
};

struct ImageJob {
  ImageView image;
  int resized_h, resized_w, top, left, out_h, out_w;
};

// The resized window [y0, y1) x [x0, x1) of one image and how its bytes reach the output.
struct Window {
  image::AxisPlan plan_x, plan_y;
  int x0, y0;
  int channel_of[3];  // byte of each output channel within a pixel
};

// Pillow's order: horizontal pass over the source rows the vertical pass needs, then the
// vertical pass.
template <typename T>
void horizontal_then_vertical(const ImageJob& job, const Window& w, const Writer<T>& out) {
  const ImageView& image = job.image;
  int in_begin = 0, in_end = 0;
  w.plan_y.input_range(0, w.plan_y.size(), in_begin, in_end);
  image::Rows rows{image.data, image.row_stride, image.channels, image.width};
  int64_t column_offset = static_cast<int64_t>(w.x0) * image.channels;
  std::unique_ptr<uint8_t[]> horizontal;  // every byte is written before it is read
  if (!w.plan_x.identity) {
    const int pixel_bytes = image.channels == 1 ? 1 : 4;
    const int64_t stride = static_cast<int64_t>(w.plan_x.size()) * pixel_bytes;
    horizontal.reset(new uint8_t[static_cast<size_t>(std::max(in_end - in_begin, 1)) * stride]);
    image::resample_horizontal(rows, in_begin, in_end, w.plan_x, horizontal.get(), stride);
    // Only the source rows the vertical pass reads, numbered as source rows.
    rows = image::Rows{horizontal.get(), stride, pixel_bytes, w.plan_x.size(), in_begin};
    column_offset = 0;
  }
  const int lanes = w.plan_x.size() * rows.pixel_bytes;
  std::vector<uint8_t> values(lanes);
  const int x_begin = w.x0 - job.left, x_end = x_begin + w.plan_x.size();
  for (int i = 0; i < w.plan_y.size(); ++i) {
    image::resample_vertical(rows, w.plan_y, i, column_offset, lanes, values.data());
    out.write_row(w.y0 + i - job.top, values.data(), rows.pixel_bytes, w.channel_of, x_begin,
                  x_end);
  }
}

// Pillow 13's order when the height shrinks more than twice as much as the width: vertical
// pass over the source columns the horizontal pass needs, then the horizontal pass (w.plan_x
// is shifted to those columns in place).
template <typename T>
void vertical_then_horizontal(const ImageJob& job, Window& w, const Writer<T>& out) {
  const ImageView& image = job.image;
  int col_begin = 0, col_end = 0;
  w.plan_x.input_range(0, w.plan_x.size(), col_begin, col_end);
  const image::Rows source{image.data, image.row_stride, image.channels, image.width};
  const int columns = std::max(col_end - col_begin, 1);
  const int lanes = columns * image.channels;
  std::unique_ptr<uint8_t[]> vertical(new uint8_t[static_cast<size_t>(w.plan_y.size()) * lanes]);
  for (int i = 0; i < w.plan_y.size(); ++i) {
    image::resample_vertical(source, w.plan_y, i, static_cast<int64_t>(col_begin) * image.channels,
                             lanes, vertical.get() + static_cast<size_t>(i) * lanes);
  }
  const image::Rows rows{vertical.get(), lanes, image.channels, columns};
  // From here on plan_x indexes the columns of `vertical`, which start at col_begin.
  image::AxisPlan& plan_x = w.plan_x;
  for (int& first : plan_x.first) first -= col_begin;
  const int pixel_bytes = image.channels == 1 ? 1 : 4;
  std::vector<uint8_t> values(static_cast<size_t>(plan_x.size()) * pixel_bytes);
  const int x_begin = w.x0 - job.left, x_end = x_begin + plan_x.size();
  for (int i = 0; i < w.plan_y.size(); ++i) {
    const uint8_t* row = vertical.get() + static_cast<size_t>(i) * lanes;
    int bytes = image.channels;
    if (!plan_x.identity) {
      image::resample_horizontal(rows, i, i + 1, plan_x, values.data(), 0);
      row = values.data();
      bytes = pixel_bytes;
    }
    out.write_row(w.y0 + i - job.top, row, bytes, w.channel_of, x_begin, x_end);
  }
}

// Output rows [row_begin, row_end) of one image.
template <typename T>
void transform_band(const ImageJob& job, const ImageTransformSpec& spec, const Writer<T>& out,
                    int row_begin, int row_end) {
  const ImageView& image = job.image;
  const int y0 = std::max(job.top + row_begin, 0);
  const int y1 = std::min(job.top + row_end, job.resized_h);
  const int x0 = std::max(job.left, 0), x1 = std::min(job.left + job.out_w, job.resized_w);
  const int no_channel[3] = {0, 0, 0};
  for (int oy = row_begin; oy < row_end; ++oy) {
    if (job.top + oy < y0 || job.top + oy >= y1 || x0 >= x1) {
      out.write_row(oy, nullptr, 0, no_channel, 0, 0);  // zero padding
    }
  }
  if (y0 >= y1 || x0 >= x1) return;
  Window w{image::plan_axis(image.width, job.resized_w, x0, x1, spec.interpolation, spec.antialias,
                            image::horizontal_weight_layout(image.channels)),
           image::plan_axis(image.height, job.resized_h, y0, y1, spec.interpolation, spec.antialias,
                            image::WeightLayout::kInt32),
           x0,
           y0,
           {}};
  for (int c = 0; c < 3; ++c) {
    w.channel_of[c] = image.channels == 1 ? 0 : (spec.bgr_input ? 2 - c : c);
  }
  const int shrink_y = image.height - job.resized_h, shrink_x = image.width - job.resized_w;
  const bool vertical_first = spec.pass_order == PassOrder::kPillow13 &&
                              spec.interpolation != Interpolation::kNearest && shrink_y > 0 &&
                              shrink_y > shrink_x * 2;
  if (vertical_first) {
    vertical_then_horizontal(job, w, out);
  } else {
    horizontal_then_vertical(job, w, out);
  }
}

template <typename T>
void fill_values(const ImageTransformSpec& spec, T (&values)[3][256]);

template <>
void fill_values<float>(const ImageTransformSpec& spec, float (&values)[3][256]) {
  // torchvision: ToTensor divides by 255, Normalize subtracts and divides, all in float32.
  // One rounding per step, as there; the core builds with -ffp-contract=off.
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      const float scaled = static_cast<float>(v) / 255.0f;
      const float centred = scaled - spec.mean[c];
      values[c][v] = centred / spec.std[c];
    }
  }
}

template <>
void fill_values<uint8_t>(const ImageTransformSpec&, uint8_t (&values)[3][256]) {
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) values[c][v] = static_cast<uint8_t>(v);
}

void check_image(const ImageView& image, size_t index) {
  const auto which = [index] { return "image " + std::to_string(index); };
  if (image.data == nullptr || image.height <= 0 || image.width <= 0) {
    throw Error(ErrorKind::kInvalidArgument, which() + " is empty (" +
                                                 std::to_string(image.height) + "x" +
                                                 std::to_string(image.width) + ")");
  }
  if (image.channels != 1 && image.channels != 3 && image.channels != 4) {
    throw Error(ErrorKind::kInvalidArgument, which() + " has " + std::to_string(image.channels) +
                                                 " channels; expected 1 (grey), 3 or 4");
  }
  if (image.height > kMaxSide * 4 || image.width > kMaxSide * 4) {
    throw Error(ErrorKind::kInvalidArgument,
                which() + " is larger than " + std::to_string(kMaxSide * 4) + " pixels a side");
  }
  if (image.row_stride < static_cast<int64_t>(image.width) * image.channels) {
    throw Error(ErrorKind::kInvalidArgument, which() + " has rows shorter than its width");
  }
}

// Whether any byte of `image` lies in [begin, end). Exact for row-strided views, like
// np.shares_memory: bytes between the rows do not count.
bool overlaps(const ImageView& image, uintptr_t begin, uintptr_t end) {
  const auto first = reinterpret_cast<uintptr_t>(image.data);
  const auto row = static_cast<uintptr_t>(image.width) * image.channels;
  const auto stride = static_cast<uintptr_t>(image.row_stride);  // >= row > 0, checked
  // Rows lie in increasing order: the first row ending after `begin` is the only one that
  // can overlap without an earlier one doing so.
  uintptr_t y = 0;
  if (begin >= first + row) y = (begin - first - row) / stride + 1;
  return y < static_cast<uintptr_t>(image.height) && first + y * stride < end;
}

template <typename T>
void run(const std::vector<ImageView>& images, const ImageTransformSpec& spec, T* out,
         int threads) {
  spec.validate();
  if (images.empty()) return;
  std::vector<ImageJob> jobs;
  jobs.reserve(images.size());
  std::array<int, 2> first_size{};
  for (size_t i = 0; i < images.size(); ++i) {
    check_image(images[i], i);
    const auto resized = resized_size(spec, images[i].height, images[i].width);
    const auto size = output_size(spec, images[i].height, images[i].width);
    if (i == 0) first_size = size;
    if (size != first_size) {
      throw Error(ErrorKind::kInvalidArgument,
                  "images transform to different sizes (" + std::to_string(first_size[0]) + "x" +
                      std::to_string(first_size[1]) + " and " + std::to_string(size[0]) + "x" +
                      std::to_string(size[1]) + " for image " + std::to_string(i) +
                      "); set a crop or resize to (height, width)");
    }
    const bool cropped = spec.crop_height > 0;
    jobs.push_back(ImageJob{images[i], resized[0], resized[1],
                            cropped ? crop_offset(resized[0], size[0]) : 0,
                            cropped ? crop_offset(resized[1], size[1]) : 0, size[0], size[1]});
  }
  T values[3][256];
  fill_values<T>(spec, values);
  const size_t image_elements = static_cast<size_t>(first_size[0]) * first_size[1] * 3;
  // Enough bands that every thread has work even for one image; bands of one image
  // recompute a few shared source rows, which costs less than idle threads.
  const int thread_count = threads <= 0 ? hardware_threads() : threads;
  const int bands =
      std::max(1, std::min(first_size[0] / 16, (thread_count + static_cast<int>(jobs.size()) - 1) /
                                                   static_cast<int>(jobs.size())));
  parallel_for(jobs.size() * bands, thread_count, [&](size_t unit) {
    const size_t index = unit / bands;
    const int band = static_cast<int>(unit % bands);
    const ImageJob& job = jobs[index];
    const Writer<T> writer{out + index * image_elements, job.out_h, job.out_w, spec.layout, values};
    const int row_begin = job.out_h * band / bands, row_end = job.out_h * (band + 1) / bands;
    transform_band(job, spec, writer, row_begin, row_end);
  });
}

}  // namespace

void ImageTransformSpec::validate() const {
  check_side("resize height", resize_height, true);
  check_side("resize width", resize_width, true);
  if (resize_width > 0 && resize_height == 0) {
    throw Error(ErrorKind::kInvalidArgument, "resize width given without a resize height");
  }
  check_side("crop height", crop_height, true);
  check_side("crop width", crop_width, true);
  if ((crop_height == 0) != (crop_width == 0)) {
    throw Error(ErrorKind::kInvalidArgument, "crop height and width must both be set or both 0");
  }
  for (int c = 0; c < 3; ++c) {
    // Messages are built only when thrown: validate() runs on every call.
    auto channel = [c] { return " (channel " + std::to_string(c) + ")"; };
    if (!std::isfinite(mean[c])) {
      throw Error(ErrorKind::kInvalidArgument,
                  "mean must be finite as a float32, got " + float_text(mean[c]) + channel());
    }
    // A subnormal std passes a non-zero check but turns most values into inf.
    if (!std::isnormal(std[c])) {
      throw Error(ErrorKind::kInvalidArgument,
                  "std must be a normal float32 (finite, non-zero, not subnormal), got " +
                      float_text(std[c]) + channel());
    }
    // fill_values' arithmetic at bytes 0 and 255; the values between lie between these.
    const float low = (0.0f - mean[c]) / std[c], high = (1.0f - mean[c]) / std[c];
    if (!std::isfinite(low) || !std::isfinite(high)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "mean " + float_text(mean[c]) + " and std " + float_text(std[c]) +
                      " overflow float32 when normalising" + channel());
    }
  }
}

std::array<int, 2> output_size(const ImageTransformSpec& spec, int height, int width) {
  if (height < 1 || width < 1) {
    throw Error(ErrorKind::kInvalidArgument,
                "image is empty (" + std::to_string(height) + "x" + std::to_string(width) + ")");
  }
  if (spec.crop_height > 0) return {spec.crop_height, spec.crop_width};
  return resized_size(spec, height, width);
}

std::array<int64_t, 4> output_shape(const ImageTransformSpec& spec, int64_t count, int height,
                                    int width) {
  if (count < 0) {
    throw Error(ErrorKind::kInvalidArgument,
                "image count must be >= 0, got " + std::to_string(count));
  }
  if (height < 1 || width < 1) {
    throw Error(ErrorKind::kInvalidArgument,
                "image 0 is empty (" + std::to_string(height) + "x" + std::to_string(width) + ")");
  }
  const auto size = output_size(spec, height, width);
  if (spec.layout == Layout::kNCHW) return {count, 3, size[0], size[1]};
  return {count, size[0], size[1], 3};
}

void check_output_fits(ElementType type, const std::array<int64_t, 4>& shape) {
  int64_t bytes = static_cast<int64_t>(element_size(type));
  for (int64_t dim : shape) bytes = saturating_multiply(bytes, dim);
  const int64_t memory = physical_memory_bytes();
  if (bytes > memory) {
    throw Error(ErrorKind::kInvalidArgument,
                "the output " + describe_tensor(type, {shape.begin(), shape.end()}) + " needs " +
                    (bytes == INT64_MAX ? "over " : "") + std::to_string(bytes) +
                    " bytes, more than this machine's physical memory (" + std::to_string(memory) +
                    " bytes); use a smaller crop, resize or batch");
  }
}

void transform_images(const std::vector<ImageView>& images, const ImageTransformSpec& spec,
                      const TensorView& out, int threads) {
  spec.validate();
  check_threads("threads", threads);
  std::vector<int64_t> expected;
  if (!images.empty()) {
    check_image(images[0], 0);
    const auto shape =
        output_shape(spec, static_cast<int64_t>(images.size()), images[0].height, images[0].width);
    expected.assign(shape.begin(), shape.end());
  }
  if (out.type != ElementType::kFloat32 && out.type != ElementType::kUInt8) {
    throw Error(ErrorKind::kTypeMismatch,
                std::string("out must be float32 or uint8, got ") + element_type_name(out.type));
  }
  if (!images.empty() && out.shape != expected) {
    throw Error(ErrorKind::kInvalidArgument, "out: expected " +
                                                 describe_tensor(out.type, expected) + ", got " +
                                                 describe_tensor(out.type, out.shape));
  }
  if (!out.is_c_contiguous() || !out.writable ||
      reinterpret_cast<uintptr_t>(out.data) % element_size(out.type) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "out must be C-contiguous, aligned and writable");
  }
  // The kernels read each source row after writing earlier output rows, so an out that
  // shares memory with an image would overwrite pixels before they are read.
  const auto begin = reinterpret_cast<uintptr_t>(out.data);
  const auto end = begin + static_cast<uintptr_t>(out.element_count()) * element_size(out.type);
  for (size_t i = 0; i < images.size(); ++i) {
    check_image(images[i], i);
    if (overlaps(images[i], begin, end)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "out shares memory with image " + std::to_string(i) +
                      ": the output would overwrite pixels before they are read; pass an out "
                      "array separate from the images");
    }
  }
  if (out.type == ElementType::kFloat32) {
    run(images, spec, static_cast<float*>(out.data), threads);
  } else {
    run(images, spec, static_cast<uint8_t*>(out.data), threads);
  }
}

}  // namespace fastort
