// Private: torchvision's sizing (Resize, CenterCrop) and Normalize's rounding to float32,
// shared by the spec's checks and the transform.
#pragma once

#include <cfloat>
#include <cmath>

#include "fastort/image.hpp"

namespace fastort::image {

// The float32 nearest to `value`, as IEEE rounding gives it: infinity from halfway past
// FLT_MAX on (a plain cast of a value beyond float's range is undefined behaviour).
inline float to_float32(double value) noexcept {
  constexpr double kOverflow = static_cast<double>(FLT_MAX) + 0x1p103;  // FLT_MAX + half an ulp
  if (std::fabs(value) >= kOverflow) return value < 0 ? -INFINITY : INFINITY;
  return static_cast<float>(value);
}

// The resized height and width of a height x width image (the image's own without resize).
// Throws Error(kInvalidArgument) when a short-side resize gives a side over kMaxResizedSide.
ImageSize resized_size(const ImageTransformSpec& spec, int height, int width);

// torchvision's CenterCrop offset along one axis (negative: zero padding before the image).
int crop_offset(int size, int crop);

}  // namespace fastort::image
