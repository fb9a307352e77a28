// Loops over arrays in blocks of one SIMD register (kBlockWidth elements: 2
// with SSE2, 4 with AVX) held in Eigen fixed-size arrays, for the fused
// kernels: the arithmetic compiles to SIMD instructions with no runtime size or
// aliasing checks, and each running sum is kBlockWidth partial sums.
//
//   // the sums of x[i] * y[i] and of x[i], storing x[i] + y[i] into z on the way:
//   const auto xs = strided<1>(x), ys = strided<1>(y);
//   auto [dot, total] = tyche::detail::blocked<2>(n, [=]<int W>(std::int64_t i, auto& sums) {
//     const Block<W> xi = xs.template at<W>(i), yi = ys.template at<W>(i);
//     store<W>(z, i, xi + yi);
//     sums[0] += xi * yi;
//     sums[1] += xi;
//   });
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

// The kernels must be inlined into their callers, where the arrays' pointers
// are plain locals: left out of line, every SIMD store (whose vector type may
// alias anything) forces the closure's pointers to be reloaded.
// And a kernel's rare path (a varying scale's terms) is kept out of line, so
// that its registers are not saved and restored on every call of the kernel.
#if defined(__GNUC__)
#define TYCHE_ALWAYS_INLINE [[gnu::always_inline]] inline
#define TYCHE_NOINLINE [[gnu::noinline]] inline
#else
#define TYCHE_ALWAYS_INLINE inline
#define TYCHE_NOINLINE inline
#endif

namespace tyche::detail {

// One register per block: wider blocks take two registers per value, and a
// kernel with five running sums then runs out of SSE2's sixteen and spills
// (measured: 10% more instructions for eight schools and for linreg50).
// (At least 2, so that a block is an Eigen array even without vectorisation.)
inline constexpr int kBlockWidth = std::max(2, int(Eigen::internal::packet_traits<double>::size));

// A block of W elements; a single element is a plain double, because Eigen
// calls out of line to assign even a 1 x 1 array expression.
template <int W>
struct BlockOf {
  using type = Eigen::Array<double, W, 1>;
};
template <>
struct BlockOf<1> {
  using type = double;
};
template <int W>
using Block = typename BlockOf<W>::type;

template <int W>
Block<W> load(const double* p, std::int64_t i) {
  if constexpr (W == 1) return p[i];
  else return Eigen::Map<const Block<W>>(p + i);
}

// An operand read with stride S: a full array (1), or one element repeated (0),
// read once when the kernel starts so that no store in the loop forces a reload.
template <int S>
struct Strided {
  const double* p;
  template <int W>
  Block<W> at(std::int64_t i) const { return load<W>(p, i); }
};
template <>
struct Strided<0> {
  double value;
  template <int W>
  Block<W> at(std::int64_t) const {
    if constexpr (W == 1) return value;
    else return Block<W>::Constant(value);
  }
};

template <int S>
Strided<S> strided(const double* p) {
  if constexpr (S == 1) return {p};
  else return {*p};
}

template <int W>
void store(double* p, std::int64_t i, const Block<W>& values) {
  if constexpr (W == 1) p[i] = values;
  else Eigen::Map<Block<W>>(p + i) = values;
}

// Calls f.operator()<kBlockWidth>(i, sums) on blocks, then f.operator()<1>(i,
// sums) on the remaining elements; f adds its K terms into sums[0..K-1], and
// the result is the K sums over all elements.
// With Single, n is known to be 1 (every operand is a single element) and f
// runs once, with none of the loop's set-up.
template <std::size_t K, bool Single = false, class F>
TYCHE_ALWAYS_INLINE std::array<double, K> blocked(std::int64_t n, F&& f) {
  if constexpr (Single) {
    std::array<double, K> total{};
    f.template operator()<1>(0, total);
    return total;
  }
  std::array<Block<kBlockWidth>, K> partial;
  for (auto& p : partial) p.setZero();
  std::int64_t i = 0;
  for (; i + kBlockWidth <= n; i += kBlockWidth) f.template operator()<kBlockWidth>(i, partial);
  std::array<double, K> total;
  // Eigen's sum adds the lanes in registers; reading them one by one would
  // spill the vector to the stack and stall on the partial store forwarding.
  for (std::size_t k = 0; k < K; ++k) total[k] = partial[k].sum();
  for (; i < n; ++i) f.template operator()<1>(i, total);
  return total;
}

// Copies n doubles a block at a time: for the few parameters of a small model a
// call to memcpy costs more than the copy.
inline void copy_blocks(const double* from, double* to, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + kBlockWidth <= n; i += kBlockWidth) store<kBlockWidth>(to, i, load<kBlockWidth>(from, i));
  for (; i < n; ++i) to[i] = from[i];
}

}  // namespace tyche::detail
