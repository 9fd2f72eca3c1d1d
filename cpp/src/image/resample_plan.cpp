#include "resample_plan.hpp"

#include <algorithm>
#include <cmath>

namespace fastort::image {
namespace {

struct Filter {
  double (*weight)(double x);
  double support;
};

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic(double x) {
  constexpr double a = -0.5;  // Pillow's (and Keys') choice
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Pillow rounds half away from zero when converting weights to fixed point.
int32_t to_fixed(double weight) {
  return static_cast<int32_t>(weight < 0 ? -0.5 + weight * kOne : 0.5 + weight * kOne);
}

// Appends one output position: its first input, its taps and its plan.ksize weights (zero
// past the taps), in the plan's layout.
void append(AxisPlan& plan, int first, int taps, const int32_t* weights) {
  plan.first.push_back(first);
  plan.count.push_back(taps);
  if (plan.layout == WeightLayout::kInt32) {
    plan.weights.insert(plan.weights.end(), weights, weights + plan.ksize);
    return;
  }
  const size_t start = plan.split_weights.size();
  plan.split_weights.resize(start + static_cast<size_t>(plan.groups) * 32, 0);
  for (int t = 0; t < plan.ksize; ++t) {
    const auto hi = static_cast<int16_t>(weights[t] >> kLowBits);  // arithmetic: floor
    const auto lo = static_cast<int16_t>(weights[t] & ((1 << kLowBits) - 1));
    // The pair (half of the group) holding this tap, and the lane within each pair.
    int16_t* group = &plan.split_weights[start + static_cast<size_t>(t / 4) * 32];
    const int at = (t % 4 / 2) * 8 + t % 2;
    for (int channel = 0; channel < 4; ++channel) {
      group[at + channel * 2] = hi;
      group[16 + at + channel * 2] = lo;
    }
  }
}

void set_ksize(AxisPlan& plan, int ksize, int outputs) {
  plan.ksize = ksize;
  plan.groups = (ksize + 3) / 4;
  outputs = std::max(outputs, 0);
  plan.first.reserve(outputs);
  plan.count.reserve(outputs);
  if (plan.layout == WeightLayout::kInt32) {
    plan.weights.reserve(static_cast<size_t>(outputs) * ksize);
  } else {
    plan.split_weights.reserve(static_cast<size_t>(outputs) * plan.groups * 32);
  }
}

// Pillow's NEAREST resize is an affine transform whose source position is accumulated by
// repeated addition, so it is reproduced the same way (a product can differ in the last bit).
void plan_nearest(int in_size, int out_size, int out_begin, int out_end, AxisPlan& plan) {
  set_ksize(plan, 1, out_end - out_begin);
  const double step = static_cast<double>(static_cast<float>(in_size)) / out_size;
  double position = step * 0.5;
  for (int i = 0; i < out_end; ++i, position += step) {
    if (i < out_begin) continue;
    const int source = position < 0.0 ? -1 : static_cast<int>(position);
    const bool inside = source >= 0 && source < in_size;
    append(plan, inside ? source : 0, inside ? 1 : 0, &kOne);  // outside: Pillow fills zero
  }
}

void plan_filter(int in_size, int out_size, int out_begin, int out_end, const Filter& filter,
                 bool antialias, AxisPlan& plan) {
  // Pillow computes the box width in float, then the scale in double.
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / out_size;
  const double filterscale = antialias ? std::max(scale, 1.0) : 1.0;
  const double support = filter.support * filterscale;
  set_ksize(plan, static_cast<int>(std::ceil(support)) * 2 + 1, out_end - out_begin);
  const double inverse = 1.0 / filterscale;  // Pillow multiplies by the reciprocal
  std::vector<double> weights(plan.ksize);
  std::vector<int32_t> fixed(plan.ksize);
  for (int i = out_begin; i < out_end; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int taps = std::max(hi - lo, 0);
    double total = 0.0;
    for (int t = 0; t < taps; ++t) {
      weights[t] = filter.weight((t + lo - center + 0.5) * inverse);
      total += weights[t];
    }
    for (int t = 0; t < plan.ksize; ++t) {
      const double weight = t < taps ? (total != 0.0 ? weights[t] / total : weights[t]) : 0.0;
      fixed[t] = to_fixed(weight);
    }
    append(plan, lo, taps, fixed.data());
  }
}

}  // namespace

void AxisPlan::input_range(int from, int to, int& begin, int& end) const {
  begin = 0;
  end = 0;
  bool any = false;
  for (int i = from; i < to; ++i) {
    if (count[i] == 0) continue;
    if (!any || first[i] < begin) begin = first[i];
    if (!any || first[i] + count[i] > end) end = first[i] + count[i];
    any = true;
  }
}

AxisPlan plan_axis(int in_size, int out_size, int out_begin, int out_end,
                   Interpolation interpolation, bool antialias, WeightLayout layout) {
  AxisPlan plan;
  plan.layout = layout;
  if (in_size == out_size) {
    // An identity axis is never resampled: horizontally there is no horizontal pass and no
    // buffer for it (the vertical pass reads the source rows in place, or its own rows go
    // straight to the output); vertically, each row is read with one weight of kOne.
    plan.identity = true;
    plan.layout = WeightLayout::kInt32;
    set_ksize(plan, 1, out_end - out_begin);
    for (int i = out_begin; i < out_end; ++i) append(plan, i, 1, &kOne);
    return plan;
  }
  switch (interpolation) {
    case Interpolation::kNearest:
      plan_nearest(in_size, out_size, out_begin, out_end, plan);
      break;
    case Interpolation::kBilinear:
      plan_filter(in_size, out_size, out_begin, out_end, Filter{bilinear, 1.0}, antialias, plan);
      break;
    case Interpolation::kBicubic:
      plan_filter(in_size, out_size, out_begin, out_end, Filter{bicubic, 2.0}, antialias, plan);
      break;
  }
  return plan;
}

}  // namespace fastort::image
