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

// Pillow's NEAREST resize is an affine transform whose source position is accumulated by
// repeated addition, so it is reproduced the same way (a product can differ in the last bit).
void plan_nearest(int in_size, int out_size, int out_begin, int out_end, AxisPlan& plan) {
  const double step = static_cast<double>(static_cast<float>(in_size)) / out_size;
  double position = step * 0.5;
  for (int i = 0; i < out_end; ++i, position += step) {
    if (i < out_begin) continue;
    const int source = position < 0.0 ? -1 : static_cast<int>(position);
    const bool inside = source >= 0 && source < in_size;
    plan.first.push_back(inside ? source : 0);
    plan.count.push_back(inside ? 1 : 0);  // outside: Pillow fills zero
    plan.coeffs.push_back(kOne);
  }
  plan.ksize = 1;
}

void plan_filter(int in_size, int out_size, int out_begin, int out_end, const Filter& filter,
                 bool antialias, AxisPlan& plan) {
  // Pillow computes the box width in float, then the scale in double.
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / out_size;
  const double filterscale = antialias ? std::max(scale, 1.0) : 1.0;
  const double support = filter.support * filterscale;
  plan.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  const double inverse = 1.0 / filterscale;  // Pillow multiplies by the reciprocal
  std::vector<double> weights(plan.ksize);
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
    plan.first.push_back(lo);
    plan.count.push_back(taps);
    for (int t = 0; t < plan.ksize; ++t) {
      const double weight = t < taps ? (total != 0.0 ? weights[t] / total : weights[t]) : 0.0;
      plan.coeffs.push_back(to_fixed(weight));
    }
  }
}

// Fills weights_hi / weights_lo from coeffs (see AxisPlan).
void split_weights(AxisPlan& plan) {
  constexpr int kLowBits = 11;
  plan.groups = (plan.ksize + 3) / 4;
  const size_t per_output = static_cast<size_t>(plan.groups) * 16;
  plan.weights_hi.assign(per_output * plan.size(), 0);
  plan.weights_lo.assign(per_output * plan.size(), 0);
  for (int i = 0; i < plan.size(); ++i) {
    for (int t = 0; t < plan.ksize; ++t) {
      const int32_t weight = plan.coeffs[static_cast<size_t>(i) * plan.ksize + t];
      const auto hi = static_cast<int16_t>(weight >> kLowBits);  // arithmetic: floor
      const auto lo = static_cast<int16_t>(weight & ((1 << kLowBits) - 1));
      const int group = t / 4, in_group = t % 4;
      // Half (128 bits) of the group holding this tap, and the lane within each pair.
      const size_t base = i * per_output + group * 16 + (in_group / 2) * 8 + in_group % 2;
      for (int channel = 0; channel < 4; ++channel) {
        plan.weights_hi[base + channel * 2] = hi;
        plan.weights_lo[base + channel * 2] = lo;
      }
    }
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
                   Interpolation interpolation, bool antialias) {
  AxisPlan plan;
  const int outputs = std::max(out_end - out_begin, 0);
  plan.first.reserve(outputs);
  plan.count.reserve(outputs);
  if (in_size == out_size) {
    plan.identity = true;
    plan.ksize = 1;
    for (int i = out_begin; i < out_end; ++i) {
      plan.first.push_back(i);
      plan.count.push_back(1);
      plan.coeffs.push_back(kOne);
    }
    return plan;  // identity axes are copied, never resampled with SIMD
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
  plan.ksize_even = plan.ksize + (plan.ksize & 1);
  plan.coeffs_x4.assign(static_cast<size_t>(plan.size()) * plan.ksize_even * 4, 0);
  for (int i = 0; i < plan.size(); ++i) {
    for (int t = 0; t < plan.ksize; ++t) {
      const int32_t coeff = plan.coeffs[static_cast<size_t>(i) * plan.ksize + t];
      std::fill_n(&plan.coeffs_x4[(static_cast<size_t>(i) * plan.ksize_even + t) * 4], 4, coeff);
    }
  }
  split_weights(plan);
  return plan;
}

}  // namespace fastort::image
