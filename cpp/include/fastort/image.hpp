// Fused image preprocessing: Resize -> CenterCrop -> ToTensor -> Normalize in one pass,
// bit-exact with torchvision on PIL images (Pillow's resampling, torchvision's sizing).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "fastort/element_type.hpp"
#include "fastort/tensor.hpp"

namespace fastort {

// The largest resize and crop side.
inline constexpr int kMaxImageSide = 1 << 16;
// The largest side of an input image.
inline constexpr int kMaxInputSide = 4 * kMaxImageSide;
// The largest side a short-side resize may give: never allocated (only the crop window is),
// but it must fit in int arithmetic.
inline constexpr int kMaxResizedSide = 1 << 28;

// A uint8 image, H x W x channels, pixels packed within a row; rows `row_stride` bytes apart,
// or, where `rows` is set, row y at rows[y] (rows stored apart, as Pillow stores large images:
// `data` is then rows[0] and row_stride the packed row length).
struct ImageView {
  const uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;                      // 1 (grey), 3 (RGB/BGR) or 4 (alpha is dropped)
  int64_t row_stride = 0;                // bytes; >= width * channels
  const uint8_t* const* rows = nullptr;  // `height` row pointers, or null
  // A window of the image (a decoder skipped what the transform never reads): height x width
  // is the whole image, but only rows [first_row, first_row + stored_height) and columns
  // [first_column, first_column + stored_width) are stored, `data` pointing at the first
  // stored pixel. Stored sizes of 0 mean the whole image. Not combined with `rows`.
  int first_row = 0;
  int first_column = 0;
  int stored_height = 0;
  int stored_width = 0;

  int stored_rows() const noexcept { return stored_height > 0 ? stored_height : height; }
  int stored_columns() const noexcept { return stored_width > 0 ? stored_width : width; }
};

// The pixels of a height x width image that a transform reads: rows [y_begin, y_end) and
// columns [x_begin, x_end), both empty when it reads none (the crop is all padding).
struct ImageRegion {
  int y_begin = 0;
  int y_end = 0;
  int x_begin = 0;
  int x_end = 0;
};

struct ImageSize {
  int height = 0;
  int width = 0;
};

// torchvision's Resize(int): the short side becomes `side`, the long side
// int(side * long / short); nothing is resized when the short side is already `side`.
struct ShortSide {
  int side = 0;
};

// torchvision's Resize: to a short side, or to exactly (height, width).
using Resize = std::variant<ShortSide, ImageSize>;

bool operator==(const ImageSize& a, const ImageSize& b) noexcept;
bool operator!=(const ImageSize& a, const ImageSize& b) noexcept;
bool operator==(const ShortSide& a, const ShortSide& b) noexcept;
bool operator!=(const ShortSide& a, const ShortSide& b) noexcept;

enum class Interpolation { kNearest, kBilinear, kBicubic };
enum class Layout { kNCHW, kNHWC };
// The order of the colour channels of 3- and 4-channel images; the output is always RGB.
enum class ChannelOrder { kRGB, kBGR };
// Pillow resamples horizontally first; Pillow 13 goes vertical first when the height
// shrinks by more than twice as many pixels as the width. The results differ in the last bit.
enum class PassOrder { kPillow13, kHorizontalFirst };

// The names Python uses. Each parse function throws Error(kInvalidArgument) naming the option
// and listing the valid names; each name function gives the name back.
Interpolation parse_interpolation(std::string_view name);  // "bilinear" | "bicubic" | "nearest"
const char* interpolation_name(Interpolation interpolation) noexcept;
Layout parse_layout(std::string_view name);  // "NCHW" | "NHWC"
const char* layout_name(Layout layout) noexcept;
ChannelOrder parse_channel_order(std::string_view name);  // "RGB" | "BGR"
const char* channel_order_name(ChannelOrder order) noexcept;
PassOrder parse_pass_order(std::string_view name);  // "pillow13" | "horizontal_first"
const char* pass_order_name(PassOrder order) noexcept;
// The output's element type, "float32" | "uint8" (option "dtype"); element_type_name() gives
// the name back.
ElementType parse_image_output_type(std::string_view name);

// What a transform does, as a value: checked once by validate(), compared with ==, hashed by
// std::hash. Messages name the options as Python spells them (std, dtype).
struct ImageTransformSpec {
  std::optional<Resize> resize = ShortSide{256};  // nullopt: no resize
  // CenterCrop, with zero padding where the crop is larger than the resized image, as
  // torchvision does; nullopt: no crop.
  std::optional<ImageSize> crop = ImageSize{224, 224};
  Interpolation interpolation = Interpolation::kBilinear;
  // false: the filter is not widened when downscaling (like OpenCV's INTER_LINEAR).
  bool antialias = true;
  // Normalize, per output channel (RGB): (value / 255 - mean) / stddev, in float32 with mean
  // and stddev rounded to float32, as torchvision does. Kept as given, so that a spec reads
  // back what it was made with. Not used for uint8 output.
  std::array<double, 3> mean = {0.485, 0.456, 0.406};
  std::array<double, 3> stddev = {0.229, 0.224, 0.225};
  Layout layout = Layout::kNCHW;
  ChannelOrder channel_order = ChannelOrder::kRGB;
  PassOrder pass_order = PassOrder::kPillow13;
  // kFloat32 (normalised) or kUInt8 (the exact resized crop, no normalisation).
  ElementType output_type = ElementType::kFloat32;
  // Threads for a batch or a large image: 0 for one per hardware thread, at most kMaxThreads.
  int threads = 0;

  // Throws Error(kInvalidArgument) naming the first bad option: sides outside
  // [1, kMaxImageSide], a thread count check_threads() refuses, a mean that is not finite or
  // a stddev that is not a normal number in float32 (or that overflow float32 together), an
  // output type other than float32 and uint8, an enum value outside its enum.
  void validate() const;

  bool operator==(const ImageTransformSpec& other) const noexcept;
  bool operator!=(const ImageTransformSpec& other) const noexcept { return !(*this == other); }
};

// Height and width of one transformed image of the given input size.
ImageSize output_size(const ImageTransformSpec& spec, int height, int width);

// What transforming a height x width image with `spec` reads of it (computed as the transform
// plans its filters, so exactly the pixels its kernels touch). Throws like output_size().
ImageRegion read_region(const ImageTransformSpec& spec, int height, int width);

// Shape of the output for `count` images of height x width: N x 3 x H x W (NCHW) or
// N x H x W x 3 (NHWC).
std::array<int64_t, 4> output_shape(const ImageTransformSpec& spec, int64_t count, int height,
                                    int width);

// Throws Error(kInvalidArgument), stating the bytes needed, when a new `type` tensor of
// `shape` could not fit in this machine's physical memory: refused before allocating, rather
// than swapping or being killed half way through.
void check_output_fits(ElementType type, const std::array<int64_t, 4>& shape);

// One call's work, sized once: every image checked and placed, the output's shape and type.
class ImageBatch {
 public:
  // `spec` must have passed validate(): nothing here checks it again. The images' memory
  // must stay valid while the batch is used. Throws Error naming the first bad image (none
  // given, empty, a channel count other than 1, 3 or 4, a side over kMaxInputSide, rows
  // shorter than their width, an output size other than image 0's).
  ImageBatch(const ImageTransformSpec& spec, std::vector<ImageView> images);

  const std::array<int64_t, 4>& output_shape() const noexcept { return shape_; }
  ElementType output_type() const noexcept { return spec_.output_type; }

  // check_output_fits() for a new output of this batch.
  void check_new_output() const;

  // Throws Error unless `out` is C-contiguous, aligned and writable, of exactly
  // output_type() and output_shape(), and shares no byte with any image.
  void check_output(const TensorView& out) const;

  // check_output(out), then the transform into it, on up to spec.threads threads.
  void run(const TensorView& out) const;

 private:
  ImageTransformSpec spec_;
  std::vector<ImageView> images_;
  std::vector<ImageSize> resized_;  // each image's size after Resize
  ImageSize size_;                  // every image's output size
  std::array<int64_t, 4> shape_{};
};

// spec.validate(), then ImageBatch(spec, images).run(out): the one-call form.
void transform_images(const std::vector<ImageView>& images, const ImageTransformSpec& spec,
                      const TensorView& out);

}  // namespace fastort

namespace std {
template <>
struct hash<fastort::ImageTransformSpec> {
  size_t operator()(const fastort::ImageTransformSpec& spec) const noexcept;
};
}  // namespace std
