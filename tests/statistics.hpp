// Goodness-of-fit helpers shared by the sampler tests.
//
//   CHECK(tyche_test::ks_statistic(draws.to_std_vector(), cdf) < tyche_test::ks_critical_value(n));
//   tyche_test::check_moments(tyche::dist::Gamma(2.0, 0.5), /*seed=*/8);
#pragma once

#include <catch2/catch.hpp>
#include <tyche/distributions/distribution.hpp>
#include <tyche/distributions/key.hpp>

#include <boost/math/distributions/chi_squared.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
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

// 20000 draws of `d` (key `seed`), each element of a draw against its expected
// mean and variance: the sample mean within 5 standard errors
// sqrt(variance / n), the sample variance within 5 standard errors
// sqrt((m4 - m2^2) / n) (m2, m4 the sample's central moments: the delta-method
// error of a variance estimate). A correct sampler fails with probability
// below 1e-6 per element, and the keys are fixed; a wrong moment or sampler
// is off by far more.
inline void check_moments(const tyche::dist::Distribution& d, std::uint64_t seed, const std::vector<double>& mean,
                          const std::vector<double>& variance) {
  constexpr std::int64_t draws = 20000;
  INFO(d.str());
  const tyche::Tensor x = d.sample(tyche::PRNGKey(seed), {draws});
  const std::int64_t k = d.batch_shape().numel() * d.event_shape().numel();
  REQUIRE(x.shape() == d.shape({draws}));
  REQUIRE(std::int64_t(mean.size()) == k);
  REQUIRE(std::int64_t(variance.size()) == k);
  for (std::int64_t j = 0; j < k; ++j) {
    double m = 0.0, m2 = 0.0, m4 = 0.0;
    for (std::int64_t i = 0; i < draws; ++i) m += x.data()[i * k + j];
    m /= double(draws);
    for (std::int64_t i = 0; i < draws; ++i) {
      const double c = x.data()[i * k + j] - m;
      m2 += c * c;
      m4 += c * c * c * c;
    }
    m2 /= double(draws);
    m4 /= double(draws);
    const double expected_mean = mean[std::size_t(j)], expected_variance = variance[std::size_t(j)];
    INFO("element " << j << ": sample mean " << m << " vs " << expected_mean << ", sample variance " << m2 << " vs "
                    << expected_variance);
    CHECK(std::abs(m - expected_mean) <= 5.0 * std::sqrt(expected_variance / double(draws)));
    CHECK(std::abs(m2 - expected_variance) <= 5.0 * std::sqrt((m4 - m2 * m2) / double(draws)));
  }
}

// The same against d's own mean() and variance(), for a distribution with no
// event dimensions.
inline void check_moments(const tyche::dist::Distribution& d, std::uint64_t seed) {
  const tyche::Tensor mean = d.mean(), variance = d.variance();
  REQUIRE(mean.shape() == d.batch_shape());
  REQUIRE(variance.shape() == d.batch_shape());
  check_moments(d, seed, mean.to_std_vector(), variance.to_std_vector());
}

// Pearson's chi-square test of integer draws against pmf(k) on 0..max_k, with
// the rest of the mass (above max_k) as one more cell; cells with expected
// count below 5 are pooled with their neighbour so the chi-square
// approximation holds. Fails at level 1e-4: with fixed keys a correct sampler
// passes by construction, and a wrong one (a shifted or mis-scaled pmf) gives
// a statistic far beyond the critical value at these sample sizes.
inline void check_frequencies(const tyche::Tensor& draws, const std::function<double(std::int64_t)>& pmf, std::int64_t max_k) {
  const auto n = double(draws.size());
  std::vector<double> observed(std::size_t(max_k + 2), 0.0), expected(std::size_t(max_k + 2), 0.0);
  bool integers = true;
  for (double k : draws.to_std_vector()) {
    integers = integers && k == std::floor(k) && k >= 0.0;
    observed[std::size_t(std::clamp<double>(k, 0.0, double(max_k + 1)))] += 1.0;
  }
  REQUIRE(integers);
  double inside = 0.0;
  for (std::int64_t k = 0; k <= max_k; ++k) inside += expected[std::size_t(k)] = n * pmf(k);
  expected.back() = std::max(0.0, n - inside);
  // Pool small cells into the next one (the last pooled cell into the one before).
  std::vector<double> o, e;
  double po = 0.0, pe = 0.0;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    po += observed[i];
    pe += expected[i];
    if (pe >= 5.0) {
      o.push_back(po);
      e.push_back(pe);
      po = pe = 0.0;
    }
  }
  if (pe > 0.0 || po > 0.0) {
    o.back() += po;
    e.back() += pe;
  }
  double statistic = 0.0;
  for (std::size_t i = 0; i < o.size(); ++i) statistic += (o[i] - e[i]) * (o[i] - e[i]) / e[i];
  const double critical =
      boost::math::quantile(boost::math::complement(boost::math::chi_squared_distribution<>(double(o.size() - 1)), 1e-4));
  INFO("chi-square " << statistic << " with " << o.size() - 1 << " degrees of freedom, critical value " << critical);
  CHECK(statistic < critical);
}

}  // namespace tyche_test
