// Fused image preprocessing: Resize -> CenterCrop -> ToTensor -> Normalize in one pass,
// bit-exact with torchvision on PIL images (Pillow's resampling, torchvision's sizing).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "fastort/tensor.hpp"

namespace fastort {

// A uint8 image, H x W x channels, pixels packed within a row; rows `row_stride` bytes apart.
struct ImageView {
  const uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;        // 1 (grey), 3 (RGB/BGR) or 4 (alpha is dropped)
  int64_t row_stride = 0;  // bytes; >= width * channels
};

enum class Interpolation { kNearest, kBilinear, kBicubic };
enum class Layout { kNCHW, kNHWC };

// Pillow resamples horizontally first; Pillow 13 goes vertical first when the height
// shrinks by more than twice as many pixels as the width. The results differ in the last bit.
enum class PassOrder { kPillow13, kHorizontalFirst };

struct ImageTransformSpec {
  // Resize: torchvision's Resize(int) when resize_width == 0 (the short side becomes
  // resize_height, the long side is truncated), Resize((h, w)) otherwise; no resize when
  // resize_height == 0.
  int resize_height = 256;
  int resize_width = 0;
  // CenterCrop((crop_height, crop_width)); 0 means no crop. Zero padding where the crop is
  // larger than the resized image, as torchvision does.
  int crop_height = 224;
  int crop_width = 224;
  Interpolation interpolation = Interpolation::kBilinear;
  // false: the filter is not widened when downscaling (like OpenCV's INTER_LINEAR).
  bool antialias = true;
  // Normalize, in output channel order (RGB). Ignored for uint8 output.
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
  Layout layout = Layout::kNCHW;
  bool bgr_input = false;  // 3/4-channel inputs are BGR(A) rather than RGB(A)
  PassOrder pass_order = PassOrder::kPillow13;

  // Throws Error(kInvalidArgument) naming the bad field.
  void validate() const;
};

// Height and width of one transformed image of the given input size.
std::array<int, 2> output_size(const ImageTransformSpec& spec, int height, int width);

// Shape of the output for `count` images whose first (image 0) is height x width:
// N x 3 x H x W (NCHW) or N x H x W x 3 (NHWC).
std::array<int64_t, 4> output_shape(const ImageTransformSpec& spec, int64_t count, int height,
                                    int width);

// Throws Error(kInvalidArgument), stating the bytes needed, when a new `type` tensor of
// `shape` could not fit in this machine's physical memory: refused before allocating, rather
// than swapping or being killed half way through.
void check_output_fits(ElementType type, const std::array<int64_t, 4>& shape);

// Transforms `images` into `out`: a C-contiguous, writable float32 (normalised) or uint8 (the
// exact crop, no normalisation) tensor of shape N x 3 x H x W (NCHW) or N x H x W x 3 (NHWC).
// Every image must give the same output size. Runs on up to `threads` threads (0: one per
// hardware thread; at most kMaxThreads). `out` may not share a byte with any image. Throws
// Error naming the bad image or argument.
void transform_images(const std::vector<ImageView>& images, const ImageTransformSpec& spec,
                      const TensorView& out, int threads);

}  // namespace fastort
