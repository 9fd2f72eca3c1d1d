#include "resample_kernels.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTORT_HAVE_AVX2_KERNELS 1
#include <immintrin.h>
#endif

namespace fastort::image {
namespace {

// Pillow's clip8: the rounded sum shifted down, clamped to [0, 255].
inline uint8_t clip8(int32_t sum) {
  const int32_t value = sum >> kPrecisionBits;
  return static_cast<uint8_t>(value < 0 ? 0 : (value > 255 ? 255 : value));
}

template <int kPixelBytes>
void horizontal_scalar(const Rows& src, int row_begin, int row_end, const AxisPlan& plan,
                       uint8_t* dst, int64_t dst_stride) {
  constexpr int kChannels = kPixelBytes == 1 ? 1 : 3;
  constexpr int kOutBytes = kPixelBytes == 1 ? 1 : 4;
  for (int r = row_begin; r < row_end; ++r) {
    const uint8_t* row = src.row(r);
    uint8_t* out = dst + (r - row_begin) * dst_stride;
    for (int xx = 0; xx < plan.size(); ++xx) {
      const int32_t* k = plan.weights_of(xx);
      const uint8_t* pixel = row + plan.first[xx] * kPixelBytes;
      int32_t sum[kChannels];
      for (int c = 0; c < kChannels; ++c) sum[c] = kHalf;
      for (int t = 0; t < plan.count[xx]; ++t, pixel += kPixelBytes) {
        for (int c = 0; c < kChannels; ++c) sum[c] += pixel[c] * k[t];
      }
      for (int c = 0; c < kChannels; ++c) out[xx * kOutBytes + c] = clip8(sum[c]);
      if (kOutBytes == 4) out[xx * 4 + 3] = 0;
    }
  }
}

// The vertical kernels read tap t of an output row at taps[t] (its row, already offset):
// rows need not be evenly spaced. Lanes [first_lane, lanes).
void vertical_scalar(const uint8_t* const* taps, const int32_t* k, int count, int first_lane,
                     int lanes, uint8_t* out_row) {
  for (int j = first_lane; j < lanes; ++j) {
    int32_t sum = kHalf;
    for (int t = 0; t < count; ++t) sum += taps[t][j] * k[t];
    out_row[j] = clip8(sum);
  }
}

#ifdef FASTORT_HAVE_AVX2_KERNELS

// Four int32 sums -> four clamped bytes, stored as one 32-bit word.
__attribute__((target("avx2"))) inline void store_pixel(__m128i sum, uint8_t* out) {
  const __m128i shifted = _mm_srai_epi32(_mm_add_epi32(sum, _mm_set1_epi32(kHalf)), kPrecisionBits);
  const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(shifted, shifted), shifted);
  const int32_t word = _mm_cvtsi128_si32(bytes);
  std::memcpy(out, &word, 4);
}

// One colour pixel widened to four int32 lanes (the 4th lane is not used for RGB). Reads
// 4 bytes where the row has them, else exactly the pixel's bytes.
template <int kPixelBytes>
__attribute__((target("avx2"))) inline __m128i load_pixel(const uint8_t* pixel, bool room) {
  int32_t word = 0;
  if (kPixelBytes == 4 || room) {
    std::memcpy(&word, pixel, 4);
  } else {
    std::memcpy(&word, pixel, kPixelBytes);
  }
  return _mm_cvtepu8_epi32(_mm_cvtsi32_si128(word));
}

// Byte shuffle turning 16 loaded bytes (4 pixels) into 16-bit lanes for pmaddwd: the low
// 128 bits hold [c0 of tap 0, c0 of tap 1, c1 of tap 0, ...] for taps 0-1, the high 128
// bits the same for taps 2-3. Missing channels (RGB) read as zero.
template <int kPixelBytes>
__attribute__((target("avx2"))) inline __m256i group_shuffle() {
  alignas(32) int8_t mask[32];
  for (int half = 0; half < 2; ++half) {
    for (int lane = 0; lane < 8; ++lane) {
      const int channel = lane / 2, tap = half * 2 + lane % 2;
      const bool present = kPixelBytes == 4 || channel < 3;
      mask[half * 16 + lane * 2] = static_cast<int8_t>(present ? tap * kPixelBytes + channel : -1);
      mask[half * 16 + lane * 2 + 1] = -1;
    }
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(mask));
}

// One group of four taps (its 32 split weights) over the 16 bytes at rows[r] + at, added to
// the sums of the high and the low parts of each of kRows rows. The weights are loaded once
// for all rows.
template <int kRows>
__attribute__((target("avx2"))) inline void add_group(const uint8_t* const* rows, int64_t at,
                                                      const int16_t* weights, __m256i gather,
                                                      __m256i* sum_hi, __m256i* sum_lo) {
  const __m256i weights_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(weights));
  const __m256i weights_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(weights + 16));
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r] + at));
    const __m256i pixels = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(raw), gather);
    sum_hi[r] = _mm256_add_epi32(sum_hi[r], _mm256_madd_epi16(pixels, weights_hi));
    sum_lo[r] = _mm256_add_epi32(sum_lo[r], _mm256_madd_epi16(pixels, weights_lo));
  }
}

// Output pixel xx of kRows consecutive rows.
template <int kPixelBytes, int kRows>
__attribute__((target("avx2"))) inline void horizontal_pixel_avx2(const uint8_t* const* rows,
                                                                  int64_t row_bytes,
                                                                  const AxisPlan& plan, int xx,
                                                                  uint8_t* const* outs,
                                                                  __m256i gather) {
  int64_t at = static_cast<int64_t>(plan.first[xx]) * kPixelBytes;
  __m256i wide[kRows];
  // Fully unrolled, so that the accumulators stay in registers.
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) wide[r] = _mm256_setzero_si256();

  // Four taps per step with 16-bit multiplies: pmaddwd sums two taps per channel, once for
  // the weights' high parts and once for their low parts; hi * 2^11 + lo is the exact sum.
  // (Lanes may wrap in between; the true sum fits int32, so the final value is exact.)
  const int groups = (plan.count[xx] + 3) / 4;
  int group = 0;
  if (groups > 0) {
    __m256i sum_hi[kRows], sum_lo[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) sum_hi[r] = sum_lo[r] = _mm256_setzero_si256();
    for (; group < groups && at + 16 <= row_bytes; ++group, at += 4 * kPixelBytes) {
      add_group<kRows>(rows, at, plan.group_of(xx, group), gather, sum_hi, sum_lo);
    }
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      wide[r] = _mm256_add_epi32(_mm256_slli_epi32(sum_hi[r], kLowBits), sum_lo[r]);
    }
  }
  // Near the row's end, two taps per step from an 8-byte load (which must not run past the
  // row's pixels), with the group's low half of the shuffle and of each weight vector. An odd
  // tap count is rounded up: the extra tap's weight is zero.
  const int pairs = (plan.count[xx] + 1) / 2;
  int pair = group * 2;
  if (pair < pairs && at + 8 <= row_bytes) {
    __m128i pair_hi[kRows], pair_lo[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) pair_hi[r] = pair_lo[r] = _mm_setzero_si128();
    for (; pair < pairs && at + 8 <= row_bytes; ++pair, at += 2 * kPixelBytes) {
      const int16_t* weights = plan.group_of(xx, pair / 2) + pair % 2 * 8;
      const __m128i weights_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(weights));
      const __m128i weights_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(weights + 16));
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) {
        const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rows[r] + at));
        const __m128i pixels = _mm_shuffle_epi8(raw, _mm256_castsi256_si128(gather));
        pair_hi[r] = _mm_add_epi32(pair_hi[r], _mm_madd_epi16(pixels, weights_hi));
        pair_lo[r] = _mm_add_epi32(pair_lo[r], _mm_madd_epi16(pixels, weights_lo));
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const __m128i sum = _mm_add_epi32(_mm_slli_epi32(pair_hi[r], kLowBits), pair_lo[r]);
      wide[r] = _mm256_add_epi32(wide[r], _mm256_inserti128_si256(_mm256_setzero_si256(), sum, 0));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
    __m128i sum =
        _mm_add_epi32(_mm256_castsi256_si128(wide[r]), _mm256_extracti128_si256(wide[r], 1));
    // At the row's very end: one pixel at a time, only the taps that exist.
    int64_t tail_at = at;
    for (int t = pair * 2; t < plan.count[xx]; ++t, tail_at += kPixelBytes) {
      const __m128i weight = _mm_set1_epi32(plan.split_weight(xx, t));
      const __m128i pixel = load_pixel<kPixelBytes>(rows[r] + tail_at, tail_at + 4 <= row_bytes);
      sum = _mm_add_epi32(sum, _mm_mullo_epi32(pixel, weight));
    }
    store_pixel(sum, outs[r] + xx * 4);
  }
}

// Output pixels [0, x_end) of four rows, when every group's 16-byte load of these pixels lies
// inside the row: all `kGroups` groups are read (a pixel's groups past its taps have zero
// weights) with no bounds checks. A template argument, so that the loop over groups unrolls.
template <int kPixelBytes, int kGroups>
__attribute__((target("avx2"))) void horizontal_interior_avx2(const uint8_t* const* rows,
                                                              const AxisPlan& plan, int x_end,
                                                              uint8_t* const* outs,
                                                              __m256i gather) {
  constexpr int kRows = 4;
  // Pillow's rounding term, added once: in the low half's four lanes of the low sums.
  const __m256i half = _mm256_setr_epi32(kHalf, kHalf, kHalf, kHalf, 0, 0, 0, 0);
  // Local copies: the byte stores below could alias the plan and the pointer arrays, which
  // would otherwise be read again for every pixel.
  const uint8_t* const row[kRows] = {rows[0], rows[1], rows[2], rows[3]};
  uint8_t* const out[kRows] = {outs[0], outs[1], outs[2], outs[3]};
  const int* const first = plan.first.data();
  const int16_t* weights = plan.group_of(0, 0);
  for (int xx = 0; xx < x_end; ++xx, weights += kGroups * 32) {
    const int64_t at = static_cast<int64_t>(first[xx]) * kPixelBytes;
    __m256i hi[kRows], lo[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      hi[r] = _mm256_setzero_si256();
      lo[r] = half;
    }
#pragma GCC unroll 8
    for (int g = 0; g < kGroups; ++g) {
      add_group<kRows>(row, at + g * 4 * kPixelBytes, weights + g * 32, gather, hi, lo);
      // Keeps the eight sums in registers: without it GCC regroups the additions into trees
      // whose partial products spill to the stack.
      asm(""
          : "+x"(hi[0]), "+x"(hi[1]), "+x"(hi[2]), "+x"(hi[3]), "+x"(lo[0]), "+x"(lo[1]),
            "+x"(lo[2]), "+x"(lo[3]));
    }
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const __m256i wide = _mm256_add_epi32(_mm256_slli_epi32(hi[r], kLowBits), lo[r]);
      const __m128i sum =
          _mm_add_epi32(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
      const __m128i shifted = _mm_srai_epi32(sum, kPrecisionBits);
      const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(shifted, shifted), shifted);
      const int32_t word = _mm_cvtsi128_si32(bytes);
      std::memcpy(out[r] + xx * 4, &word, 4);
    }
  }
}

// How many leading output pixels of `plan` have every group's 16-byte load inside a row of
// row_bytes bytes (all but the last few: the loads read past a pixel's taps).
template <int kPixelBytes>
int interior_pixels(const AxisPlan& plan, int64_t row_bytes) {
  const int64_t span = static_cast<int64_t>(plan.groups - 1) * 4 * kPixelBytes + 16;
  int xx = 0;
  while (xx < plan.size() && static_cast<int64_t>(plan.first[xx]) * kPixelBytes + span <= row_bytes)
    ++xx;
  return xx;
}

// The interior kernels of 1 to kUnrolledGroups groups, indexed by groups - 1.
constexpr int kUnrolledGroups = 8;
template <int kPixelBytes, size_t... kIndex>
constexpr auto interior_kernels(std::index_sequence<kIndex...>) {
  return std::array{&horizontal_interior_avx2<kPixelBytes, static_cast<int>(kIndex) + 1>...};
}

// Four rows' pixels [0, x_end), which interior_pixels says may be read without checks.
template <int kPixelBytes>
__attribute__((target("avx2"))) void horizontal_interior(const uint8_t* const* rows,
                                                         const AxisPlan& plan, int x_end,
                                                         uint8_t* const* outs, __m256i gather) {
  if (x_end == 0) return;
  static constexpr auto kKernels =
      interior_kernels<kPixelBytes>(std::make_index_sequence<kUnrolledGroups>());
  if (plan.groups >= 1 && plan.groups <= kUnrolledGroups) {
    return kKernels[plan.groups - 1](rows, plan, x_end, outs, gather);
  }
  for (int xx = 0; xx < x_end; ++xx) {
    horizontal_pixel_avx2<kPixelBytes, 4>(rows, std::numeric_limits<int64_t>::max(), plan, xx, outs,
                                          gather);
  }
}

template <int kPixelBytes>
__attribute__((target("avx2"))) void horizontal_avx2(const Rows& src, int row_begin, int row_end,
                                                     const AxisPlan& plan, uint8_t* dst,
                                                     int64_t dst_stride) {
  constexpr int kBlock = 4;
  const int64_t row_bytes = static_cast<int64_t>(src.width) * kPixelBytes;
  const __m256i gather = group_shuffle<kPixelBytes>();
  const int interior = interior_pixels<kPixelBytes>(plan, row_bytes);
  int r = row_begin;
  for (; r + kBlock <= row_end; r += kBlock) {
    const uint8_t* rows[kBlock];
    uint8_t* outs[kBlock];
    for (int i = 0; i < kBlock; ++i) {
      rows[i] = src.row(r + i);
      outs[i] = dst + (r + i - row_begin) * dst_stride;
    }
    horizontal_interior<kPixelBytes>(rows, plan, interior, outs, gather);
    for (int xx = interior; xx < plan.size(); ++xx) {
      horizontal_pixel_avx2<kPixelBytes, kBlock>(rows, row_bytes, plan, xx, outs, gather);
    }
  }
  for (; r < row_end; ++r) {
    const uint8_t* rows[1] = {src.row(r)};
    uint8_t* outs[1] = {dst + (r - row_begin) * dst_stride};
    for (int xx = 0; xx < plan.size(); ++xx) {
      horizontal_pixel_avx2<kPixelBytes, 1>(rows, row_bytes, plan, xx, outs, gather);
    }
  }
}

__attribute__((target("avx2"))) void vertical_avx2(const uint8_t* const* taps, const int32_t* k,
                                                   int count, int lanes, uint8_t* out_row) {
  const __m256i half = _mm256_set1_epi32(kHalf);
  int j = 0;
  for (; j + 8 <= lanes; j += 8) {
    __m256i sum = half;
    for (int t = 0; t < count; ++t) {
      const __m256i values =
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(taps[t] + j)));
      sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(values, _mm256_set1_epi32(k[t])));
    }
    const __m256i shifted = _mm256_srai_epi32(sum, kPrecisionBits);
    const __m128i words =
        _mm_packs_epi32(_mm256_castsi256_si128(shifted), _mm256_extracti128_si256(shifted, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out_row + j), _mm_packus_epi16(words, words));
  }
  vertical_scalar(taps, k, count, j, lanes, out_row);
}

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

#endif  // FASTORT_HAVE_AVX2_KERNELS

}  // namespace

WeightLayout horizontal_weight_layout(int pixel_bytes) {
#ifdef FASTORT_HAVE_AVX2_KERNELS
  if (cpu_has_avx2() && (pixel_bytes == 3 || pixel_bytes == 4)) return WeightLayout::kSplitInt16;
#else
  (void)pixel_bytes;
#endif
  return WeightLayout::kInt32;
}

void resample_horizontal(const Rows& src, int row_begin, int row_end, const AxisPlan& plan,
                         uint8_t* dst, int64_t dst_stride) {
#ifdef FASTORT_HAVE_AVX2_KERNELS
  if (cpu_has_avx2()) {
    if (src.pixel_bytes == 3)
      return horizontal_avx2<3>(src, row_begin, row_end, plan, dst, dst_stride);
    if (src.pixel_bytes == 4)
      return horizontal_avx2<4>(src, row_begin, row_end, plan, dst, dst_stride);
  }
#endif
  switch (src.pixel_bytes) {
    case 1:
      return horizontal_scalar<1>(src, row_begin, row_end, plan, dst, dst_stride);
    case 3:
      return horizontal_scalar<3>(src, row_begin, row_end, plan, dst, dst_stride);
    default:
      return horizontal_scalar<4>(src, row_begin, row_end, plan, dst, dst_stride);
  }
}

void resample_vertical(const Rows& src, const AxisPlan& plan, int yy, int64_t offset, int lanes,
                       uint8_t* out_row) {
  // One slot per tap, kept per thread: no allocation once a thread has seen its widest filter.
  thread_local std::vector<const uint8_t*> taps;
  const int count = plan.count[yy];
  if (taps.size() < static_cast<size_t>(count)) taps.resize(count);
  for (int t = 0; t < count; ++t) taps[t] = src.row(plan.first[yy] + t) + offset;
  const int32_t* k = plan.weights_of(yy);
#ifdef FASTORT_HAVE_AVX2_KERNELS
  if (cpu_has_avx2()) return vertical_avx2(taps.data(), k, count, lanes, out_row);
#endif
  vertical_scalar(taps.data(), k, count, 0, lanes, out_row);
}

}  // namespace fastort::image
