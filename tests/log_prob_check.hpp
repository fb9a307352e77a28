// Log densities against reference values (Boost.Math, closed forms), shared by
// the distribution tests.
//
//   tyche_test::check_log_prob(dist::Gamma(a, b), {0.5, 2.0},
//                              [&](std::int64_t j, double x) { return std::log(bm::pdf(gamma(j), x)); });
#pragma once

#include <catch2/catch.hpp>
#include <tyche/distributions/distribution.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace tyche_test {

// A log density agrees with the reference to `tolerance` (1e-12) absolute
// below 1 and relative above: a relative error of 1e-12 in the density
// itself, well above the ~1e-15 rounding of either side and far below any
// wrong term. Infinite references must match exactly.
inline bool close_to_reference(double value, double reference, double tolerance = 1e-12) {
  if (std::isinf(reference)) return value == reference;
  return std::abs(value - reference) <= tolerance * std::max(1.0, std::abs(reference));
}

// d has batch shape (k,); its log_prob at the points as a column (n, 1)
// broadcasts to (n, k), and element (i, j) must be reference(j, points[i]).
inline void check_log_prob(const tyche::dist::Distribution& d, const std::vector<double>& points,
                           const std::function<double(std::int64_t, double)>& reference,
                           double tolerance = 1e-12) {
  const auto n = std::int64_t(points.size()), k = d.batch_shape()[0];
  const tyche::Tensor lp = d.log_prob(tyche::Tensor(points).reshape({n, 1}));
  REQUIRE(lp.shape() == tyche::Shape{n, k});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < k; ++j) {
      const double expected = reference(j, points[std::size_t(i)]);
      INFO(d.name() << ": batch element " << j << " at " << points[std::size_t(i)] << ": " << lp.at({i, j})
                    << " vs " << expected);
      CHECK(close_to_reference(lp.at({i, j}), expected, tolerance));
    }
}

}  // namespace tyche_test
