// Goodness-of-fit helpers shared by the sampler tests.
//
//   CHECK(tyche_test::ks_statistic(draws.to_std_vector(), cdf) < tyche_test::ks_critical_value(n));
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace tyche_test {

// Kolmogorov-Smirnov: sup |F_n - F| between the draws' empirical CDF and `cdf`.
template <class Cdf>
double ks_statistic(std::vector<double> x, Cdf cdf) {
  std::sort(x.begin(), x.end());
  const double n = double(x.size());
  double d = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double f = cdf(x[i]);
    d = std::max({d, f - double(i) / n, double(i + 1) / n - f});
  }
  return d;
}

// The asymptotic critical value at level 0.001: 1.9495 / sqrt(n), 1.9495
// being the 0.999 quantile of the Kolmogorov distribution.
inline double ks_critical_value(std::int64_t n) { return 1.9495 / std::sqrt(double(n)); }

}  // namespace tyche_test
