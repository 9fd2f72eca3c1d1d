// Private: the two passes of Pillow's separable resampling, in integer arithmetic exactly as
// Resample.c does it, with AVX2 versions chosen at run time.
#pragma once

#include <cstdint>

#include "resample_plan.hpp"

namespace fastort::image {

// Rows of uint8 pixels: row r starts at base + (r - first_row) * stride, or at pointers[r]
// where the rows lie apart (a PIL image stored in several blocks), or, in a ring of
// `ring_rows` rows, at base + ((r - first_row) % ring_rows) * stride; `width` pixels of
// `pixel_bytes` bytes each are readable in every row.
struct Rows {
  const uint8_t* base = nullptr;
  int64_t stride = 0;
  int pixel_bytes = 0;  // 1, 3 or 4
  int width = 0;
  int first_row = 0;
  const uint8_t* const* pointers = nullptr;
  int ring_rows = 0;  // 0: not a ring

  const uint8_t* row(int r) const {
    if (pointers != nullptr) return pointers[r];
    const int index = ring_rows > 0 ? (r - first_row) % ring_rows : r - first_row;
    return base + index * stride;
  }
};

// The weight layout resample_horizontal reads for pixels of `pixel_bytes` bytes on this
// machine (the vertical pass reads WeightLayout::kInt32).
WeightLayout horizontal_weight_layout(int pixel_bytes);

// Horizontal pass over rows [row_begin, row_end) of `src`: output row i (of plan.size()
// pixels) goes to dst + i * dst_stride, 1 byte per pixel for grey sources, 4 for colour
// (the 4th byte is padding, like Pillow's internal RGBX). `plan` has the weights in
// horizontal_weight_layout(src.pixel_bytes).
void resample_horizontal(const Rows& src, int row_begin, int row_end, const AxisPlan& plan,
                         uint8_t* dst, int64_t dst_stride);

// Vertical pass for output position `yy` of `plan`: `lanes` bytes starting at byte `offset`
// of the tapped rows of `src`, clamped to uint8 into out_row.
void resample_vertical(const Rows& src, const AxisPlan& plan, int yy, int64_t offset, int lanes,
                       uint8_t* out_row);

}  // namespace fastort::image
