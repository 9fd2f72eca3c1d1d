// Private: which input pixels, with which fixed-point weights, make each output pixel of one
// axis. Computed the way Pillow's Resample.c computes them, for an output window only, and
// stored once, in the layout of the kernel that reads them.
#pragma once

#include <cstdint>
#include <vector>

#include "fastort/image.hpp"

namespace fastort::image {

// Pillow's fixed point: 8 bits of result, 2 of headroom for negative lobes, 22 of fraction.
inline constexpr int kPrecisionBits = 22;
inline constexpr int32_t kOne = 1 << kPrecisionBits;
inline constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
// Split weights: weight = hi * 2^kLowBits + lo, lo in [0, 2^kLowBits), both fitting int16.
inline constexpr int kLowBits = 11;

// How an axis stores its weights; each kernel reads one (resample_kernels.hpp says which).
enum class WeightLayout {
  // Pillow's: `ksize` int32 weights per output position.
  kInt32,
  // For kernels that multiply 16-bit pairs (pmaddwd): per output position, `groups` groups
  // of 4 taps, each 32 int16 values: the high parts [k0 k1] repeated 4 times (one pair per
  // byte of a 4-byte pixel), [k2 k3] repeated 4 times, then the low parts in the same order.
  kSplitInt16,
};

struct AxisPlan {
  // No resampling on this axis (sizes equal): output i reads input begin + i, one tap.
  bool identity = false;
  WeightLayout layout = WeightLayout::kInt32;
  int ksize = 0;                       // weight slots per output position (taps may be fewer)
  int groups = 0;                      // kSplitInt16: groups of 4 taps per output position
  std::vector<int> first;              // per output position: first input index
  std::vector<int> count;              // per output position: taps; 0 means a zero pixel
  std::vector<int32_t> weights;        // kInt32
  std::vector<int16_t> split_weights;  // kSplitInt16

  int size() const { return static_cast<int>(first.size()); }
  // The input range [begin, end) read by outputs [from, to); begin == end if none.
  void input_range(int from, int to, int& begin, int& end) const;

  // kInt32: the weights of output position i.
  const int32_t* weights_of(int i) const { return &weights[static_cast<size_t>(i) * ksize]; }
  // kSplitInt16: group g of output position i (16 high parts, then 16 low parts).
  const int16_t* group_of(int i, int g) const {
    return &split_weights[(static_cast<size_t>(i) * groups + g) * 32];
  }
  // kSplitInt16: the weight of tap t of output position i, put back together.
  int32_t split_weight(int i, int t) const {
    const int16_t* group = group_of(i, t / 4);
    const int at = (t % 4 / 2) * 8 + t % 2;
    return group[at] * (1 << kLowBits) + group[16 + at];
  }
};

// Outputs [out_begin, out_end) of resizing an axis of in_size pixels to out_size, with the
// weights in `layout`.
AxisPlan plan_axis(int in_size, int out_size, int out_begin, int out_end,
                   Interpolation interpolation, bool antialias, WeightLayout layout);

}  // namespace fastort::image
