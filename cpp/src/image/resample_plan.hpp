// Private: which input pixels, with which fixed-point weights, make each output pixel of one
// axis. Computed the way Pillow's Resample.c computes them, for an output window only.
#pragma once

#include <cstdint>
#include <vector>

#include "fastort/image.hpp"

namespace fastort::image {

// Pillow's fixed point: 8 bits of result, 2 of headroom for negative lobes, 22 of fraction.
inline constexpr int kPrecisionBits = 22;
inline constexpr int32_t kOne = 1 << kPrecisionBits;
inline constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

struct AxisPlan {
  // No resampling on this axis (sizes equal): output i reads input begin + i, one tap.
  bool identity = false;
  int ksize = 0;                // coefficient slots per output position (taps may be fewer)
  std::vector<int> first;       // per output position: first input index
  std::vector<int> count;       // per output position: taps; 0 means a zero pixel
  std::vector<int32_t> coeffs;  // ksize per output position
  // coeffs with each value repeated 4 times (one multiplier per byte of a 4-byte pixel), in
  // ksize_even slots per output position: SIMD kernels take taps in pairs, and the padding
  // tap's weight is zero.
  std::vector<int32_t> coeffs_x4;
  int ksize_even = 0;
  // The weights split as hi * 2^11 + lo with lo in [0, 2^11), both fitting int16, for the
  // kernels that multiply 16-bit pairs (pmaddwd). Per output position, `groups` groups of 4
  // taps, each 16 values: [k0 k1] repeated 4 times, then [k2 k3] repeated 4 times.
  std::vector<int16_t> weights_hi, weights_lo;
  int groups = 0;

  int size() const { return static_cast<int>(first.size()); }
  // The input range [begin, end) read by outputs [from, to); begin == end if none.
  void input_range(int from, int to, int& begin, int& end) const;
};

// Outputs [out_begin, out_end) of resizing an axis of in_size pixels to out_size.
AxisPlan plan_axis(int in_size, int out_size, int out_begin, int out_end,
                   Interpolation interpolation, bool antialias);

}  // namespace fastort::image
