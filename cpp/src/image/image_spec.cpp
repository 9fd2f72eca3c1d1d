// ImageTransformSpec: the names of its options, its one check, equality and hashing, and
// torchvision's sizing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../messages.hpp"
#include "fastort/error.hpp"
#include "fastort/image.hpp"
#include "fastort/thread_pool.hpp"
#include "sizing.hpp"

namespace fastort {
namespace {

template <typename E>
struct Choice {
  const char* name;
  E value;
};

constexpr Choice<Interpolation> kInterpolations[] = {
    {"bilinear", Interpolation::kBilinear},
    {"bicubic", Interpolation::kBicubic},
    {"nearest", Interpolation::kNearest},
};
constexpr Choice<Layout> kLayouts[] = {{"NCHW", Layout::kNCHW}, {"NHWC", Layout::kNHWC}};
constexpr Choice<ChannelOrder> kChannelOrders[] = {{"RGB", ChannelOrder::kRGB},
                                                   {"BGR", ChannelOrder::kBGR}};
constexpr Choice<PassOrder> kPassOrders[] = {{"pillow13", PassOrder::kPillow13},
                                             {"horizontal_first", PassOrder::kHorizontalFirst}};
constexpr Choice<ElementType> kOutputTypes[] = {{"float32", ElementType::kFloat32},
                                                {"uint8", ElementType::kUInt8}};

template <typename E, size_t N>
[[noreturn]] void refuse(const char* option, const Choice<E> (&choices)[N], std::string_view got) {
  std::vector<std::string> names;
  for (const auto& choice : choices) names.emplace_back(choice.name);
  throw Error(ErrorKind::kInvalidArgument, std::string(option) + " must be one of " +
                                               detail::quoted_list(names) + ", got '" +
                                               std::string(got) + "'");
}

template <typename E, size_t N>
E parse_choice(const char* option, const Choice<E> (&choices)[N], std::string_view name) {
  for (const auto& choice : choices) {
    if (name == choice.name) return choice.value;
  }
  refuse(option, choices, name);
}

// The name of `value`, or nullptr for a value outside the choices.
template <typename E, size_t N>
const char* find_name(const Choice<E> (&choices)[N], E value) noexcept {
  for (const auto& choice : choices) {
    if (choice.value == value) return choice.name;
  }
  return nullptr;
}

template <typename E, size_t N>
void check_known(const char* option, const Choice<E> (&choices)[N], E value) {
  if (find_name(choices, value) == nullptr) {
    refuse(option, choices, std::to_string(static_cast<int>(value)));
  }
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

bool valid_side(int side) { return side >= 1 && side <= kMaxImageSide; }

void check_size(const char* option, const ImageSize& size) {
  if (!valid_side(size.height) || !valid_side(size.width)) {
    throw Error(ErrorKind::kInvalidArgument, std::string(option) + " sizes must be between 1 and " +
                                                 std::to_string(kMaxImageSide) + ", got (" +
                                                 std::to_string(size.height) + ", " +
                                                 std::to_string(size.width) + ")");
  }
}

void check_resize(const Resize& resize) {
  if (const auto* exact = std::get_if<ImageSize>(&resize)) return check_size("resize", *exact);
  const int side = std::get<ShortSide>(resize).side;
  if (!valid_side(side)) {
    throw Error(ErrorKind::kInvalidArgument, "resize sizes must be between 1 and " +
                                                 std::to_string(kMaxImageSide) + ", got " +
                                                 std::to_string(side));
  }
}

void check_normalisation(const std::array<double, 3>& mean, const std::array<double, 3>& stddev) {
  for (int c = 0; c < 3; ++c) {
    auto channel = [c] { return " (channel " + std::to_string(c) + ")"; };
    const float m = image::to_float32(mean[c]), s = image::to_float32(stddev[c]);
    if (!std::isfinite(m)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "mean must be finite as a float32, got " + float_text(m) + channel());
    }
    // A subnormal std passes a non-zero check but turns most values into inf.
    if (!std::isnormal(s)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "std must be a normal float32 (finite, non-zero, not subnormal), got " +
                      float_text(s) + channel());
    }
    // The normalisation's arithmetic at bytes 0 and 255; the values between lie between these.
    const float low = (0.0f - m) / s, high = (1.0f - m) / s;
    if (!std::isfinite(low) || !std::isfinite(high)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "mean " + float_text(m) + " and std " + float_text(s) +
                      " overflow float32 when normalising" + channel());
    }
  }
}

void mix(size_t& seed, size_t value) {
  seed ^= value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
}

}  // namespace

bool operator==(const ImageSize& a, const ImageSize& b) noexcept {
  return a.height == b.height && a.width == b.width;
}
bool operator!=(const ImageSize& a, const ImageSize& b) noexcept { return !(a == b); }
bool operator==(const ShortSide& a, const ShortSide& b) noexcept { return a.side == b.side; }
bool operator!=(const ShortSide& a, const ShortSide& b) noexcept { return !(a == b); }

Interpolation parse_interpolation(std::string_view name) {
  return parse_choice("interpolation", kInterpolations, name);
}
const char* interpolation_name(Interpolation interpolation) noexcept {
  const char* name = find_name(kInterpolations, interpolation);
  return name != nullptr ? name : "unknown";
}
Layout parse_layout(std::string_view name) { return parse_choice("layout", kLayouts, name); }
const char* layout_name(Layout layout) noexcept {
  const char* name = find_name(kLayouts, layout);
  return name != nullptr ? name : "unknown";
}
ChannelOrder parse_channel_order(std::string_view name) {
  return parse_choice("channel_order", kChannelOrders, name);
}
const char* channel_order_name(ChannelOrder order) noexcept {
  const char* name = find_name(kChannelOrders, order);
  return name != nullptr ? name : "unknown";
}
PassOrder parse_pass_order(std::string_view name) {
  return parse_choice("pass_order", kPassOrders, name);
}
const char* pass_order_name(PassOrder order) noexcept {
  const char* name = find_name(kPassOrders, order);
  return name != nullptr ? name : "unknown";
}
ElementType parse_image_output_type(std::string_view name) {
  return parse_choice("dtype", kOutputTypes, name);
}

void ImageTransformSpec::validate() const {
  if (resize) check_resize(*resize);
  if (crop) check_size("crop", *crop);
  check_known("interpolation", kInterpolations, interpolation);
  check_known("layout", kLayouts, layout);
  check_known("channel_order", kChannelOrders, channel_order);
  check_known("pass_order", kPassOrders, pass_order);
  if (find_name(kOutputTypes, output_type) == nullptr) {
    refuse("dtype", kOutputTypes, element_type_name(output_type));
  }
  check_threads("threads", threads);
  check_normalisation(mean, stddev);
}

bool ImageTransformSpec::operator==(const ImageTransformSpec& other) const noexcept {
  return resize == other.resize && crop == other.crop && interpolation == other.interpolation &&
         antialias == other.antialias && mean == other.mean && stddev == other.stddev &&
         layout == other.layout && channel_order == other.channel_order &&
         pass_order == other.pass_order && output_type == other.output_type &&
         threads == other.threads;
}

namespace image {

ImageSize resized_size(const ImageTransformSpec& spec, int height, int width) {
  if (!spec.resize) return {height, width};
  if (const auto* exact = std::get_if<ImageSize>(&*spec.resize)) return *exact;
  const int side = std::get<ShortSide>(*spec.resize).side;
  const int short_side = std::min(height, width);
  const int long_side = std::max(height, width);
  const double new_long_exact =
      static_cast<double>(static_cast<int64_t>(side) * long_side) / short_side;
  if (new_long_exact > kMaxResizedSide) {
    throw Error(ErrorKind::kInvalidArgument, "resizing a " + std::to_string(height) + "x" +
                                                 std::to_string(width) + " image to short side " +
                                                 std::to_string(side) + " gives a side over " +
                                                 std::to_string(kMaxResizedSide) + " pixels");
  }
  const int new_long = static_cast<int>(new_long_exact);
  return width <= height ? ImageSize{new_long, side} : ImageSize{side, new_long};
}

int crop_offset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  // int(round((size - crop) / 2.0)), with Python's round half to even.
  const int excess = size - crop;
  int half = excess / 2;
  if (excess % 2 == 1 && half % 2 == 1) ++half;
  return half;
}

}  // namespace image

ImageSize output_size(const ImageTransformSpec& spec, int height, int width) {
  if (height < 1 || width < 1) {
    throw Error(ErrorKind::kInvalidArgument,
                "image is empty (" + std::to_string(height) + "x" + std::to_string(width) + ")");
  }
  if (spec.crop) return *spec.crop;
  return image::resized_size(spec, height, width);
}

std::array<int64_t, 4> output_shape(const ImageTransformSpec& spec, int64_t count, int height,
                                    int width) {
  if (count < 0) {
    throw Error(ErrorKind::kInvalidArgument,
                "image count must be >= 0, got " + std::to_string(count));
  }
  const ImageSize size = output_size(spec, height, width);
  if (spec.layout == Layout::kNCHW) return {count, 3, size.height, size.width};
  return {count, size.height, size.width, 3};
}

}  // namespace fastort

size_t std::hash<fastort::ImageTransformSpec>::operator()(
    const fastort::ImageTransformSpec& spec) const noexcept {
  using fastort::ImageSize;
  using fastort::ShortSide;
  size_t seed = 0;
  const auto mix_size = [&seed](const ImageSize& size) {
    fastort::mix(seed, std::hash<int>()(size.height));
    fastort::mix(seed, std::hash<int>()(size.width));
  };
  fastort::mix(seed, spec.resize ? spec.resize->index() + 1 : 0);
  if (spec.resize) {
    if (const auto* exact = std::get_if<ImageSize>(&*spec.resize)) {
      mix_size(*exact);
    } else {
      fastort::mix(seed, std::hash<int>()(std::get<ShortSide>(*spec.resize).side));
    }
  }
  fastort::mix(seed, spec.crop.has_value());
  if (spec.crop) mix_size(*spec.crop);
  for (double value : spec.mean) fastort::mix(seed, std::hash<double>()(value));
  for (double value : spec.stddev) fastort::mix(seed, std::hash<double>()(value));
  for (int value :
       {static_cast<int>(spec.interpolation), static_cast<int>(spec.antialias),
        static_cast<int>(spec.layout), static_cast<int>(spec.channel_order),
        static_cast<int>(spec.pass_order), static_cast<int>(spec.output_type), spec.threads}) {
    fastort::mix(seed, std::hash<int>()(value));
  }
  return seed;
}
