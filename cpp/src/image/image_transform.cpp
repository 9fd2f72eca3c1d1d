// ImageBatch: each call's images checked and placed once, the output checked, the work split
// across threads, and the final pass that writes normalised values in the output layout.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "../platform.hpp"
#include "fastort/error.hpp"
#include "fastort/image.hpp"
#include "fastort/thread_pool.hpp"
#include "resample_kernels.hpp"
#include "resample_plan.hpp"
#include "sizing.hpp"

namespace fastort {
namespace {

// a * b for sizes (>= 0), INT64_MAX when that overflows.
int64_t saturating_multiply(int64_t a, int64_t b) {
  return b != 0 && a > INT64_MAX / b ? INT64_MAX : a * b;
}

// One output channel of a row: columns [x_begin, x_end) from pixels kPixelBytes apart, zero
// elsewhere, kStep elements apart in the output (1: NCHW, 3: NHWC). Every output value goes
// through this loop, so the strides are constants here rather than registers to keep.
template <int kStep, int kPixelBytes, typename T>
void write_channel(T* dst, const uint8_t* p, const T* table, int x_begin, int x_end, int width) {
  const T zero = table[0];
  int x = 0;
  for (; x < x_begin; ++x) dst[x * kStep] = zero;
  for (; x < x_end; ++x, p += kPixelBytes) dst[x * kStep] = table[*p];
  for (; x < width; ++x) dst[x * kStep] = zero;
}

template <int kStep, typename T>
void write_channel(int pixel_bytes, T* dst, const uint8_t* p, const T* table, int x_begin,
                   int x_end, int width) {
  switch (pixel_bytes) {
    case 1:
      return write_channel<kStep, 1>(dst, p, table, x_begin, x_end, width);
    case 3:
      return write_channel<kStep, 3>(dst, p, table, x_begin, x_end, width);
    default:  // 4, or 0 for a row of padding (x_begin == x_end)
      return write_channel<kStep, 4>(dst, p, table, x_begin, x_end, width);
  }
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
      const uint8_t* p = pixels + channel_of[c];
      if (layout == Layout::kNCHW) {
        T* dst = base + (static_cast<int64_t>(c) * height + y) * width;
        write_channel<1>(pixel_bytes, dst, p, values[c], x_begin, x_end, width);
      } else {
        T* dst = base + static_cast<int64_t>(y) * width * 3 + c;
        write_channel<3>(pixel_bytes, dst, p, values[c], x_begin, x_end, width);
      }
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

// How many horizontally resampled rows the vertical pass of `plan_y` must hold at once when
// they are made in order, in chunks of up to 4, just before the first output row that
// reads them: every row an output reads is at most count + 2 rows behind the newest one.
// All `rows` of the range when the outputs do not read their rows in order.
int ring_rows(const image::AxisPlan& plan_y, int rows) {
  int widest = 0, first = 0, end = 0;
  for (int i = 0; i < plan_y.size(); ++i) {
    if (plan_y.count[i] == 0) continue;
    if (plan_y.first[i] < first || plan_y.first[i] + plan_y.count[i] < end) return rows;
    first = plan_y.first[i];
    end = first + plan_y.count[i];
    widest = std::max(widest, plan_y.count[i]);
  }
  const int ring = (widest + 3 + 3) / 4 * 4;  // a multiple of 4: chunks never wrap
  return ring < rows ? ring : rows;
}

// Pillow's order: horizontal pass over the source rows the vertical pass needs, then the
// vertical pass. Interleaved: each source row is resampled horizontally just before the
// first output row that reads it, into a ring of a few rows that stays in the L1 cache,
// rather than into a buffer of every row read (about 1 MB for a 1080p photo).
template <typename T>
void horizontal_then_vertical(const ImageJob& job, const Window& w, const Writer<T>& out) {
  const ImageView& image = job.image;
  int in_begin = 0, in_end = 0;
  w.plan_y.input_range(0, w.plan_y.size(), in_begin, in_end);
  const image::Rows source{image.data,      image.row_stride,
                           image.channels,  image.stored_columns(),
                           image.first_row, image.rows};
  image::Rows rows = source;
  int64_t column_offset = static_cast<int64_t>(w.x0 - image.first_column) * image.channels;
  std::unique_ptr<uint8_t[]> horizontal;  // every byte is written before it is read
  int ring = 0;
  int made = in_begin;  // source rows [in_begin, made) are resampled
  if (!w.plan_x.identity) {
    const int pixel_bytes = image.channels == 1 ? 1 : 4;
    const int64_t stride = static_cast<int64_t>(w.plan_x.size()) * pixel_bytes;
    ring = ring_rows(w.plan_y, std::max(in_end - in_begin, 1));
    horizontal.reset(new uint8_t[static_cast<size_t>(ring) * stride]);
    // Numbered as source rows.
    rows = image::Rows{horizontal.get(), stride,  pixel_bytes, w.plan_x.size(),
                       in_begin,         nullptr, ring};
    column_offset = 0;
  }
  const int lanes = w.plan_x.size() * rows.pixel_bytes;
  std::vector<uint8_t> values(lanes);
  const int x_begin = w.x0 - job.left, x_end = x_begin + w.plan_x.size();
  for (int i = 0; i < w.plan_y.size(); ++i) {
    const int needed = w.plan_y.first[i] + w.plan_y.count[i];
    while (ring > 0 && made < needed) {
      // Chunks start at in_begin + a multiple of 4, and a ring smaller than the range holds
      // a multiple of 4 rows, so a chunk's rows lie in one piece of the ring.
      const int chunk = std::min(4, in_end - made);
      uint8_t* slot =
          horizontal.get() + static_cast<int64_t>((made - in_begin) % ring) * rows.stride;
      image::resample_horizontal(source, made, made + chunk, w.plan_x, slot, rows.stride);
      made += chunk;
    }
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
  const image::Rows source{image.data,      image.row_stride,
                           image.channels,  image.stored_columns(),
                           image.first_row, image.rows};
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
  // From here on plan_x indexes the stored columns.
  if (image.first_column != 0) {
    for (int& first : w.plan_x.first) first -= image.first_column;
  }
  for (int c = 0; c < 3; ++c) {
    w.channel_of[c] =
        image.channels == 1 ? 0 : (spec.channel_order == ChannelOrder::kBGR ? 2 - c : c);
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
    const float mean = image::to_float32(spec.mean[c]);
    const float stddev = image::to_float32(spec.stddev[c]);
    for (int v = 0; v < 256; ++v) {
      const float scaled = static_cast<float>(v) / 255.0f;
      const float centred = scaled - mean;
      values[c][v] = centred / stddev;
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
  if (image.height > kMaxInputSide || image.width > kMaxInputSide) {
    throw Error(ErrorKind::kInvalidArgument,
                which() + " is larger than " + std::to_string(kMaxInputSide) + " pixels a side");
  }
  if (image.row_stride < static_cast<int64_t>(image.stored_columns()) * image.channels) {
    throw Error(ErrorKind::kInvalidArgument, which() + " has rows shorter than its width");
  }
  if (image.first_row < 0 || image.first_column < 0 || image.stored_height < 0 ||
      image.stored_width < 0 || image.first_row + image.stored_rows() > image.height ||
      image.first_column + image.stored_columns() > image.width) {
    throw Error(ErrorKind::kInvalidArgument, which() + " has a stored window outside the image");
  }
}

// A window of an image (a decoder's, for one transform) must hold every pixel `spec` reads:
// a window decoded for another transform is refused, never read beyond.
void check_window(const ImageTransformSpec& spec, const ImageView& image, size_t index) {
  if (image.stored_height == 0 && image.stored_width == 0) return;
  const ImageRegion region = read_region(spec, image.height, image.width);
  if (region.y_begin >= region.y_end || region.x_begin >= region.x_end) return;
  if (region.y_begin < image.first_row || region.y_end > image.first_row + image.stored_rows() ||
      region.x_begin < image.first_column ||
      region.x_end > image.first_column + image.stored_columns()) {
    throw Error(ErrorKind::kInvalidArgument,
                "image " + std::to_string(index) +
                    " holds only the part of the image another transform reads; decode it "
                    "again for this one");
  }
}

// Whether any byte of `image` lies in [begin, end). Exact for row-strided views, like
// np.shares_memory: bytes between the rows do not count.
bool overlaps(const ImageView& image, uintptr_t begin, uintptr_t end) {
  const auto row = static_cast<uintptr_t>(image.stored_columns()) * image.channels;
  if (image.rows != nullptr) {
    for (int y = 0; y < image.height; ++y) {
      const auto at = reinterpret_cast<uintptr_t>(image.rows[y]);
      if (at < end && begin < at + row) return true;
    }
    return false;
  }
  const auto first = reinterpret_cast<uintptr_t>(image.data);
  const auto stride = static_cast<uintptr_t>(image.row_stride);  // >= row > 0, checked
  // Rows lie in increasing order: the first row ending after `begin` is the only one that
  // can overlap without an earlier one doing so.
  uintptr_t y = 0;
  if (begin >= first + row) y = (begin - first - row) / stride + 1;
  return y < static_cast<uintptr_t>(image.stored_rows()) && first + y * stride < end;
}

template <typename T>
void run_jobs(const std::vector<ImageJob>& jobs, const ImageTransformSpec& spec, T* out) {
  T values[3][256];
  fill_values<T>(spec, values);
  const int height = jobs[0].out_h;
  const size_t image_elements = static_cast<size_t>(height) * jobs[0].out_w * 3;
  // Enough bands that every thread has work even for one image; bands of one image
  // recompute a few shared source rows, which costs less than idle threads.
  const int thread_count = spec.threads <= 0 ? hardware_threads() : spec.threads;
  const int images = static_cast<int>(jobs.size());
  const int bands = std::max(1, std::min(height / 16, (thread_count + images - 1) / images));
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

void check_output_fits(ElementType type, const std::array<int64_t, 4>& shape) {
  int64_t bytes = static_cast<int64_t>(element_size(type));
  for (int64_t dim : shape) bytes = saturating_multiply(bytes, dim);
  const int64_t memory = platform::physical_memory_bytes();
  if (bytes > memory) {
    throw Error(ErrorKind::kInvalidArgument,
                "the output " + describe_tensor(type, {shape.begin(), shape.end()}) + " needs " +
                    (bytes == INT64_MAX ? "over " : "") + std::to_string(bytes) +
                    " bytes, more than this machine's physical memory (" + std::to_string(memory) +
                    " bytes); use a smaller crop, resize or batch");
  }
}

ImageRegion read_region(const ImageTransformSpec& spec, int height, int width) {
  const ImageSize resized = image::resized_size(spec, height, width);
  const ImageSize size = spec.crop ? *spec.crop : resized;
  const int top = spec.crop ? image::crop_offset(resized.height, size.height) : 0;
  const int left = spec.crop ? image::crop_offset(resized.width, size.width) : 0;
  const int y0 = std::max(top, 0), y1 = std::min(top + size.height, resized.height);
  const int x0 = std::max(left, 0), x1 = std::min(left + size.width, resized.width);
  if (y0 >= y1 || x0 >= x1) return ImageRegion{};
  ImageRegion region;
  image::plan_axis(height, resized.height, y0, y1, spec.interpolation, spec.antialias,
                   image::WeightLayout::kInt32)
      .input_range(0, y1 - y0, region.y_begin, region.y_end);
  image::plan_axis(width, resized.width, x0, x1, spec.interpolation, spec.antialias,
                   image::WeightLayout::kInt32)
      .input_range(0, x1 - x0, region.x_begin, region.x_end);
  return region;
}

ImageBatch::ImageBatch(const ImageTransformSpec& spec, std::vector<ImageView> images)
    : spec_(spec), images_(std::move(images)) {
  if (images_.empty()) throw Error(ErrorKind::kInvalidArgument, "no images given");
  resized_.reserve(images_.size());
  for (size_t i = 0; i < images_.size(); ++i) {
    const ImageView& image = images_[i];
    check_image(image, i);
    check_window(spec_, image, i);
    resized_.push_back(image::resized_size(spec_, image.height, image.width));
    const ImageSize size = spec_.crop ? *spec_.crop : resized_.back();
    if (i == 0) size_ = size;
    if (size != size_) {
      throw Error(ErrorKind::kInvalidArgument,
                  "images transform to different sizes (" + std::to_string(size_.height) + "x" +
                      std::to_string(size_.width) + " and " + std::to_string(size.height) + "x" +
                      std::to_string(size.width) + " for image " + std::to_string(i) +
                      "); set a crop or resize to (height, width)");
    }
  }
  const auto count = static_cast<int64_t>(images_.size());
  shape_ = spec_.layout == Layout::kNCHW
               ? std::array<int64_t, 4>{count, 3, size_.height, size_.width}
               : std::array<int64_t, 4>{count, size_.height, size_.width, 3};
}

void ImageBatch::check_new_output() const { check_output_fits(spec_.output_type, shape_); }

void ImageBatch::check_output(const TensorView& out) const {
  if (out.type != spec_.output_type ||
      !std::equal(out.shape.begin(), out.shape.end(), shape_.begin(), shape_.end())) {
    throw Error(
        out.type != spec_.output_type ? ErrorKind::kTypeMismatch : ErrorKind::kInvalidArgument,
        "out must be " + describe_tensor(spec_.output_type, {shape_.begin(), shape_.end()}) +
            ", got " + describe_tensor(out.type, out.shape));
  }
  if (!out.is_c_contiguous() || !out.writable ||
      reinterpret_cast<uintptr_t>(out.data) % element_size(out.type) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "out must be C-contiguous, aligned and writable");
  }
  // The kernels read each source row after writing earlier output rows, so an out that
  // shares memory with an image would overwrite pixels before they are read.
  const auto begin = reinterpret_cast<uintptr_t>(out.data);
  const auto end = begin + static_cast<uintptr_t>(out.element_count()) * element_size(out.type);
  for (size_t i = 0; i < images_.size(); ++i) {
    if (overlaps(images_[i], begin, end)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "out shares memory with image " + std::to_string(i) +
                      ": the output would overwrite pixels before they are read; pass an out "
                      "array separate from the images");
    }
  }
}

void ImageBatch::run(const TensorView& out) const {
  check_output(out);
  std::vector<ImageJob> jobs;
  jobs.reserve(images_.size());
  for (size_t i = 0; i < images_.size(); ++i) {
    const ImageSize& resized = resized_[i];
    const bool cropped = spec_.crop.has_value();
    jobs.push_back(ImageJob{images_[i], resized.height, resized.width,
                            cropped ? image::crop_offset(resized.height, size_.height) : 0,
                            cropped ? image::crop_offset(resized.width, size_.width) : 0,
                            size_.height, size_.width});
  }
  if (spec_.output_type == ElementType::kFloat32) {
    run_jobs(jobs, spec_, static_cast<float*>(out.data));
  } else {
    run_jobs(jobs, spec_, static_cast<uint8_t*>(out.data));
  }
}

void transform_images(const std::vector<ImageView>& images, const ImageTransformSpec& spec,
                      const TensorView& out) {
  spec.validate();
  ImageBatch(spec, images).run(out);
}

}  // namespace fastort
