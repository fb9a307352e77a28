// The random keys and samplers: Threefry known answers, agreement with JAX /
// NumPyro draws, the per-element stream promise, and the distribution of every
// sampler against Boost.Math.
//
// Statistical tests use fixed keys, so they are deterministic; each one is a
// test at significance level 0.001, so a correct sampler fails a given test
// for one key in a thousand, while a wrong algorithm (a biased acceptance
// test, a wrong tail) fails it for almost every key at these sample sizes.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include "statistics.hpp"

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/cauchy.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/exponential.hpp>
#include <boost/math/distributions/extreme_value.hpp>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/laplace.hpp>
#include <boost/math/distributions/logistic.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/poisson.hpp>
#include <boost/math/distributions/uniform.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <vector>

using tyche::Key;
using tyche::Shape;
using tyche::Tensor;

namespace {

constexpr std::int64_t kRandomDraws = 20000;

using tyche_test::ks_critical_value;
using tyche_test::ks_statistic;

template <class Distribution>
void require_ks_passes(const Tensor& draws, const Distribution& d) {
  const double statistic = ks_statistic(draws.to_std_vector(), [&](double x) { return boost::math::cdf(d, x); });
  INFO("KS statistic " << statistic << " against critical value " << ks_critical_value(draws.size()));
  REQUIRE(statistic < ks_critical_value(draws.size()));
}

// Pearson's chi-square test of integer draws against a CDF on the integers:
// cells (-inf, e_0], (e_0, e_1], ..., (e_last, inf) chosen from `first` on so
// that every cell expects at least 5 draws, the usual validity rule. The
// critical value is the 0.999 quantile of chi-square with cells - 1 degrees of
// freedom.
void require_chi_square_passes(const Tensor& draws, const std::function<double(double)>& cdf, double first) {
  const double n = double(draws.size());
  std::vector<double> edges, probabilities;
  double below = 0.0;
  for (double k = first;; k += 1.0) {
    const double c = cdf(k);
    if (n * (1.0 - c) < 5.0) break;
    if (n * (c - below) < 5.0) continue;
    edges.push_back(k);
    probabilities.push_back(c - below);
    below = c;
  }
  probabilities.push_back(1.0 - below);
  std::vector<double> observed(probabilities.size(), 0.0);
  double non_integers = 0.0;
  for (double x : draws.to_std_vector()) {
    non_integers += x != std::floor(x);
    observed[std::size_t(std::lower_bound(edges.begin(), edges.end(), x) - edges.begin())] += 1.0;
  }
  REQUIRE(non_integers == 0.0);
  double statistic = 0.0;
  for (std::size_t c = 0; c < observed.size(); ++c) {
    const double expected = n * probabilities[c];
    statistic += (observed[c] - expected) * (observed[c] - expected) / expected;
  }
  REQUIRE(observed.size() >= 2);
  const boost::math::chi_squared_distribution<double> reference(double(observed.size() - 1));
  const double critical = boost::math::quantile(boost::math::complement(reference, 0.001));
  INFO("chi-square " << statistic << " with " << observed.size() - 1 << " degrees of freedom, critical value "
                     << critical);
  REQUIRE(statistic < critical);
}

}  // namespace

TEST_CASE("Threefry-2x32 reproduces Random123's known-answer vectors") {
  // random123/tests/kat_vectors, "threefry2x32 20 ctr0 ctr1 key0 key1 out0 out1".
  using tyche::detail::threefry2x32;
  REQUIRE(threefry2x32(Key{0, 0}, 0, 0) == std::array<std::uint32_t, 2>{0x6b200159u, 0x99ba4efeu});
  REQUIRE(threefry2x32(Key{0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu) ==
          std::array<std::uint32_t, 2>{0x1cb996fcu, 0xbb002be7u});
  REQUIRE(threefry2x32(Key{0x13198a2eu, 0x03707344u}, 0x243f6a88u, 0x85a308d3u) ==
          std::array<std::uint32_t, 2>{0xc4923a9cu, 0x483df7a0u});
  static_assert(tyche::detail::threefry2x32(Key{0, 0}, 0, 0)[0] == 0x6b200159u, "usable at compile time");
}

TEST_CASE("keys and normal draws agree with JAX and NumPyro") {
  // NumPyro: Normal(0, 1) with rng_seed=0 samples with split(PRNGKey(0))[1],
  // giving -2.4424577 in float32.
  const Key key = tyche::PRNGKey(0);
  REQUIRE(tyche::random::normal(tyche::split(key)[1], {}).item() == Approx(-2.4424577).epsilon(1e-6));
  // The second sample site of a seeded NumPyro model draws with this key;
  // Normal(0, 5) there gives -6.2873883 in float32.
  const Key second = tyche::split(tyche::split(key)[0])[1];
  REQUIRE(second == Key{1353695780u, 2116000888u});
  REQUIRE(tyche::dist::Normal(0.0, 5.0).sample(second).item() == Approx(-6.2873883).epsilon(1e-6));
  // split(key, n) and the two-key split agree; fold_in(key, i) is split(key, n)[i].
  const std::vector<Key> keys = tyche::split(key, 3);
  REQUIRE(keys[0] == tyche::split(key)[0]);
  REQUIRE(keys[1] == tyche::split(key)[1]);
  REQUIRE(keys[2] == tyche::fold_in(key, 2));
}

TEST_CASE("samplers are pure functions of the key, and split keys give different draws") {
  const auto [a, b] = tyche::split(tyche::PRNGKey(7));
  const Tensor alpha{0.3, 2.0, 40.0};
  const Tensor ga = tyche::random::gamma(a, alpha, {4, 3});
  REQUIRE(ga.to_std_vector() == tyche::random::gamma(a, alpha, {4, 3}).to_std_vector());
  const Tensor gb = tyche::random::gamma(b, alpha, {4, 3});
  for (std::int64_t i = 0; i < ga.size(); ++i) REQUIRE(ga.data()[i] != gb.data()[i]);
  REQUIRE(tyche::random::poisson(a, 1e4, {50}).to_std_vector() !=
          tyche::random::poisson(b, 1e4, {50}).to_std_vector());
}

TEST_CASE("an element depends only on the key, its index and its own parameters") {
  // The promise: element i of a draw of shape s is element i of any draw of a
  // shape with at least i + 1 elements and the same parameters at i, so a
  // draw of shape (n, ...) is the first n rows of one of shape (m, ...), m > n.
  const Key key = tyche::PRNGKey(3);
  const Tensor long_gamma = tyche::random::gamma(key, 0.7, {60});
  const Tensor short_gamma = tyche::random::gamma(key, 0.7, {5, 4});
  for (std::int64_t i = 0; i < 20; ++i) REQUIRE(short_gamma.data()[i] == long_gamma.data()[i]);

  // Rejection samplers use a varying number of uniforms per element; the
  // other element's rate (and so its uniform count) does not matter.
  const Tensor p1 = tyche::random::poisson(key, Tensor{3.0, 500.0}, {2});
  const Tensor p2 = tyche::random::poisson(key, Tensor{800.0, 500.0}, {2});
  REQUIRE(p1.at({1}) == p2.at({1}));
  const Tensor b1 = tyche::random::binomial(key, Tensor{5.0, 1000.0}, 0.5, {2});
  const Tensor b2 = tyche::random::binomial(key, Tensor{3e6, 1000.0}, 0.5, {2});
  REQUIRE(b1.at({1}) == b2.at({1}));

  const Tensor logits{0.1, -0.4, 1.2};
  const Tensor c_long = tyche::random::categorical(key, logits, {30});
  const Tensor c_short = tyche::random::categorical(key, logits, {3, 2});
  for (std::int64_t i = 0; i < 6; ++i) REQUIRE(c_short.data()[i] == c_long.data()[i]);

  const Tensor d_long = tyche::random::dirichlet(key, Tensor{0.5, 1.0, 2.0}, {8});
  const Tensor d_short = tyche::random::dirichlet(key, Tensor{0.5, 1.0, 2.0}, {2});
  for (std::int64_t i = 0; i < 6; ++i) REQUIRE(d_short.data()[i] == d_long.data()[i]);

  // The JAX-compatible samplers key element i by its index too.
  const Tensor n_long = tyche::random::normal(key, {10}), n_short = tyche::random::normal(key, {2, 2});
  for (std::int64_t i = 0; i < 4; ++i) REQUIRE(n_short.data()[i] == n_long.data()[i]);
}

TEST_CASE("parameters broadcast to the requested shape, which is the result's shape") {
  const Key key = tyche::PRNGKey(11);
  const Tensor g = tyche::random::gamma(key, Tensor{{1.0}, {1e6}}, {3, 2, 4});
  REQUIRE(g.shape() == Shape{3, 2, 4});
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 4; ++j) {
      REQUIRE(g.at({i, 0, j}) < 50.0);     // Gamma(1)
      REQUIRE(g.at({i, 1, j}) > 9.9e5);    // Gamma(1e6): mean 1e6, sd 1e3
    }
  const Tensor b = tyche::random::binomial(key, Tensor{0.0, 7.0}, Tensor{{1.0}, {0.0}}, {2, 2});
  REQUIRE(b.to_std_vector() == std::vector<double>{0.0, 7.0, 0.0, 0.0});
  REQUIRE(tyche::random::poisson(key, 2.0, {}).shape() == Shape{});
  REQUIRE(tyche::random::categorical(key, Tensor{{0.0, 1.0}, {1.0, 0.0}}, {5, 2}).shape() == Shape{5, 2});
  REQUIRE(tyche::random::dirichlet(key, Tensor{{1.0, 2.0}}, {4, 3}).shape() == Shape{4, 3, 2});
  REQUIRE(tyche::random::bernoulli(key, 0.5, {0}).size() == 0);
}

TEST_CASE("uniform, normal and exponential pass Kolmogorov-Smirnov tests against Boost.Math") {
  const Key key = tyche::PRNGKey(101);
  require_ks_passes(tyche::random::uniform(key, {kRandomDraws}, -2.0, 3.0), boost::math::uniform_distribution<>(-2.0, 3.0));
  require_ks_passes(tyche::random::normal(key, {kRandomDraws}), boost::math::normal_distribution<>());
  require_ks_passes(tyche::random::exponential(key, {kRandomDraws}), boost::math::exponential_distribution<>());
}

TEST_CASE("gumbel, cauchy, laplace and logistic pass Kolmogorov-Smirnov tests against Boost.Math") {
  const Key key = tyche::PRNGKey(102);
  require_ks_passes(tyche::random::gumbel(key, {kRandomDraws}), boost::math::extreme_value_distribution<>());
  require_ks_passes(tyche::random::cauchy(key, {kRandomDraws}), boost::math::cauchy_distribution<>());
  require_ks_passes(tyche::random::laplace(key, {kRandomDraws}), boost::math::laplace_distribution<>());
  require_ks_passes(tyche::random::logistic(key, {kRandomDraws}), boost::math::logistic_distribution<>());
}

TEST_CASE("gumbel, cauchy, laplace and logistic apply JAX's transforms to JAX's uniform bits") {
  // jax.random: gumbel -log(-log u), u on [tiny, 1); cauchy tan(pi (u - 1/2)),
  // u on [eps, 1); laplace sign(w) log1p(-|w|), w on (-1, 1); logistic
  // log(u / (1 - u)), u on [eps, 1) (eps, tiny: float32's). The samplers form
  // u in float32; here it comes from uniform() in double, so the two agree to
  // float32 rounding of u. uniform(key, shape, minval, maxval) is
  // u (maxval - minval) + minval; for laplace minval is -1 + 2^-24 and
  // maxval - minval rounds to 2 in float32.
  const Key key = tyche::PRNGKey(21);
  const std::int64_t n = 1000;
  const Tensor u = tyche::random::uniform(key, {n}), w = tyche::random::uniform(key, {n}, -1.0, 1.0);
  const Tensor gumbel = tyche::random::gumbel(key, {n}), cauchy = tyche::random::cauchy(key, {n});
  const Tensor laplace = tyche::random::laplace(key, {n}), logistic = tyche::random::logistic(key, {n});
  const double eps = 0x1p-23, tiny = 0x1p-126;
  for (std::int64_t i = 0; i < n; ++i) {
    const double ui = u.at({i}), u_eps = ui * (1 - eps) + eps, wi = w.at({i}) + 0x1p-24;
    INFO("u " << ui);
    REQUIRE(gumbel.at({i}) == Approx(-std::log(-std::log(std::max(tiny, ui)))).epsilon(1e-5).margin(1e-6));
    REQUIRE(cauchy.at({i}) == Approx(std::tan(std::numbers::pi * (u_eps - 0.5))).epsilon(1e-5).margin(1e-6));
    REQUIRE(laplace.at({i}) == Approx((wi > 0 ? 1.0 : -1.0) * std::log1p(-std::abs(wi))).epsilon(1e-5).margin(1e-6));
    REQUIRE(logistic.at({i}) == Approx(std::log(u_eps / (1 - u_eps))).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("gamma passes Kolmogorov-Smirnov tests against Boost.Math's gamma CDF") {
  const Key key = tyche::PRNGKey(103);
  for (double alpha : {0.1, 0.5, 1.0, 3.7, 50.0}) {
    INFO("concentration " << alpha);
    require_ks_passes(tyche::random::gamma(tyche::fold_in(key, std::uint32_t(alpha * 10)), alpha, {kRandomDraws}),
                      boost::math::gamma_distribution<>(alpha, 1.0));
  }
}

TEST_CASE("gamma with a tiny concentration is exact in log space and underflows only where the value does") {
  // Gamma(1e-3): P(G < x) ~ x^0.001 / Gamma(1.001), so 56% of the draws lie
  // below 1e-250 and 47% below the smallest subnormal double (those must be
  // 0). Drawn as exp(log G), the fraction below each threshold matches Boost's
  // CDF: binomial standard error at most 0.0036 for 20000 draws, 5 allowed.
  const std::vector<double> g = tyche::random::gamma(tyche::PRNGKey(104), 1e-3, {kRandomDraws}).to_std_vector();
  REQUIRE(*std::min_element(g.begin(), g.end()) >= 0.0);
  for (double threshold : {std::numeric_limits<double>::denorm_min(), 1e-250, 1e-100, 1e-10, 0.5}) {
    const double below = double(std::count_if(g.begin(), g.end(), [&](double x) { return x < threshold; }));
    const double p = boost::math::cdf(boost::math::gamma_distribution<>(1e-3, 1.0), threshold);
    INFO("threshold " << threshold << ", P(G < threshold) " << p);
    REQUIRE(below / kRandomDraws == Approx(p).margin(5 * std::sqrt(p * (1 - p) / kRandomDraws)));
  }
}

TEST_CASE("beta passes Kolmogorov-Smirnov tests against Boost.Math's beta CDF") {
  const Key key = tyche::PRNGKey(105);
  const double parameters[][2] = {{0.2, 0.3}, {0.5, 0.5}, {1.0, 1.0}, {2.0, 5.0}, {0.7, 30.0}, {100.0, 80.0}};
  std::uint32_t case_index = 0;
  for (const auto& ab : parameters) {
    INFO("a " << ab[0] << ", b " << ab[1]);
    require_ks_passes(tyche::random::beta(tyche::fold_in(key, case_index++), ab[0], ab[1], {kRandomDraws}),
                      boost::math::beta_distribution<>(ab[0], ab[1]));
  }
}

TEST_CASE("beta with tiny parameters gives values in the unit interval with the right mean") {
  // Beta(0.01, 0.03) puts nearly all mass within 1e-10 of 0 or 1; mean 0.25,
  // sd ~ 0.43, so the standard error of the mean of 20000 draws is 0.003.
  const Tensor x = tyche::random::beta(tyche::PRNGKey(106), 0.01, 0.03, {kRandomDraws});
  const std::vector<double> v = x.to_std_vector();
  REQUIRE(std::all_of(v.begin(), v.end(), [](double y) { return y >= 0.0 && y <= 1.0; }));
  REQUIRE(tyche::mean(x).item() == Approx(0.25).margin(5 * 0.0031));
}

TEST_CASE("dirichlet rows sum to 1 and their means are alpha / sum(alpha)") {
  // Component j has variance m_j (1 - m_j) / (sum(alpha) + 1); with 20000 rows
  // the standard error is below 0.0036 for these alphas; 5 of them allowed.
  const Key key = tyche::PRNGKey(107);
  const Tensor alphas[] = {Tensor{0.3, 1.0, 2.5}, Tensor{1e-4, 1e-4}, Tensor{50.0, 5.0, 0.5, 0.05}};
  std::uint32_t case_index = 0;
  for (const Tensor& alpha : alphas) {
    const Tensor x = tyche::random::dirichlet(tyche::fold_in(key, case_index++), alpha, {kRandomDraws});
    const std::int64_t k = alpha.size();
    REQUIRE(x.shape() == Shape{kRandomDraws, k});
    const double total = tyche::sum(alpha).item();
    double worst_row_error = 0.0, smallest = 1.0;
    for (std::int64_t row = 0; row < kRandomDraws; ++row) {
      double s = 0.0;
      for (std::int64_t j = 0; j < k; ++j) {
        smallest = std::min(smallest, x.at({row, j}));
        s += x.at({row, j});
      }
      // A NaN sum counts as an infinite error (std::max would drop it).
      worst_row_error = std::isnan(s) ? HUGE_VAL : std::max(worst_row_error, std::abs(s - 1.0));
    }
    REQUIRE(smallest >= 0.0);
    REQUIRE(worst_row_error < 1e-14);
    for (std::int64_t j = 0; j < k; ++j) {
      const double m = alpha.at({j}) / total, se = std::sqrt(m * (1 - m) / (total + 1) / double(kRandomDraws));
      double column = 0.0;
      for (std::int64_t row = 0; row < kRandomDraws; ++row) column += x.at({row, j});
      INFO("alpha " << alpha.at({j}) << " of total " << total);
      REQUIRE(column / double(kRandomDraws) == Approx(m).margin(5 * se));
    }
  }
}

TEST_CASE("dirichlet marginals pass Kolmogorov-Smirnov tests against the beta CDF") {
  // X_j ~ Beta(alpha_j, sum(alpha) - alpha_j).
  const Tensor x = tyche::random::dirichlet(tyche::PRNGKey(108), Tensor{0.4, 1.5, 3.0}, {kRandomDraws});
  const double alpha[] = {0.4, 1.5, 3.0};
  for (std::int64_t j = 0; j < 3; ++j) {
    std::vector<double> column(static_cast<std::size_t>(kRandomDraws));
    for (std::int64_t row = 0; row < kRandomDraws; ++row) column[std::size_t(row)] = x.at({row, j});
    require_ks_passes(Tensor(column), boost::math::beta_distribution<>(alpha[j], 4.9 - alpha[j]));
  }
}

// The rejection samplers (rate >= 10, n min(p, 1 - p) >= 10) get 200000 draws:
// enough to catch an acceptance test off by a factor 1.1 (checked by mutating
// it), which 20000 draws miss.
constexpr std::int64_t kRejectionDraws = 200000;

TEST_CASE("poisson passes chi-square tests against Boost.Math's Poisson CDF") {
  const Key key = tyche::PRNGKey(109);
  std::uint32_t case_index = 0;
  for (double rate : {0.3, 4.0, 9.99, 10.0, 25.0, 1000.0, 1e6}) {
    INFO("rate " << rate);
    const boost::math::poisson_distribution<> d(rate);
    const std::int64_t draws = rate < 10 ? kRandomDraws : kRejectionDraws;
    const Tensor x = tyche::random::poisson(tyche::fold_in(key, case_index++), rate, {draws});
    require_chi_square_passes(x, [&](double k) { return boost::math::cdf(d, k); },
                              std::max(0.0, std::floor(rate - 6 * std::sqrt(rate) - 10)));
  }
  REQUIRE(tyche::random::poisson(key, 0.0, {100}).to_std_vector() == std::vector<double>(100, 0.0));
}

TEST_CASE("binomial passes chi-square tests against Boost.Math's binomial CDF") {
  const Key key = tyche::PRNGKey(110);
  const double parameters[][2] = {{10, 0.3}, {2000, 0.6}, {50, 0.9}, {1, 0.5}, {1e6, 1e-5}, {1e6, 0.5}, {40, 0.25}};
  std::uint32_t case_index = 0;
  for (const auto& np : parameters) {
    INFO("n " << np[0] << ", p " << np[1]);
    const boost::math::binomial_distribution<> d(np[0], np[1]);
    const bool rejection = np[0] * std::min(np[1], 1 - np[1]) >= 10;
    const Tensor x = tyche::random::binomial(tyche::fold_in(key, case_index++), np[0], np[1],
                                             {rejection ? kRejectionDraws : kRandomDraws});
    const std::vector<double> v = x.to_std_vector();
    REQUIRE(std::all_of(v.begin(), v.end(), [&](double y) { return y >= 0.0 && y <= np[0]; }));
    const double sd = std::sqrt(np[0] * np[1] * (1 - np[1]));
    require_chi_square_passes(x, [&](double k) { return boost::math::cdf(d, std::min(k, np[0])); },
                              std::max(0.0, std::floor(np[0] * np[1] - 6 * sd - 10)));
  }
}

TEST_CASE("binomial is exact at p = 0, p = 1 and n = 0") {
  const Key key = tyche::PRNGKey(111);
  REQUIRE(tyche::random::binomial(key, 12.0, 0.0, {50}).to_std_vector() == std::vector<double>(50, 0.0));
  REQUIRE(tyche::random::binomial(key, 12.0, 1.0, {50}).to_std_vector() == std::vector<double>(50, 12.0));
  REQUIRE(tyche::random::binomial(key, 0.0, 0.4, {50}).to_std_vector() == std::vector<double>(50, 0.0));
  REQUIRE(tyche::random::binomial(key, 1e15, 1.0, {3}).to_std_vector() == std::vector<double>(3, 1e15));
}

TEST_CASE("the log pmfs behind the rejection tests match Boost.Math, far beyond naive cancellation") {
  using tyche::detail::log_binomial_pmf;
  using tyche::detail::log_poisson_pmf;
  for (double rate : {10.0, 37.5, 1e3, 1e6, 1e9}) {
    const boost::math::poisson_distribution<> d(rate);
    for (double z : {-6.0, -1.5, 0.0, 0.3, 2.0, 6.0}) {
      const double k = std::max(0.0, std::floor(rate + z * std::sqrt(rate)));
      INFO("rate " << rate << ", k " << k);
      REQUIRE(log_poisson_pmf(k, rate) == Approx(std::log(boost::math::pdf(d, k))).epsilon(1e-11).margin(1e-11));
    }
  }
  for (double n : {10.0, 333.0, 1e5, 1e9}) {
    for (double p : {0.01, 0.3, 0.5}) {
      const boost::math::binomial_distribution<> d(n, p);
      for (double k : {0.0, std::floor(n * p), std::min(n, std::floor(n * p + 3 * std::sqrt(n * p))), n - 1, n}) {
        const double expected = std::log(boost::math::pdf(d, k));
        if (!std::isfinite(expected)) continue;  // below the smallest double
        INFO("n " << n << ", p " << p << ", k " << k);
        REQUIRE(log_binomial_pmf(k, n, p, 1 - p) == Approx(expected).epsilon(1e-11).margin(1e-11));
      }
    }
  }
}

TEST_CASE("bernoulli passes a chi-square test and is exact at p = 0 and p = 1") {
  // One degree of freedom: critical value 10.83 at level 0.001.
  const Tensor x = tyche::random::bernoulli(tyche::PRNGKey(112), 0.3, {kRandomDraws});
  require_chi_square_passes(x, [](double k) { return k < 0 ? 0.0 : k < 1 ? 0.7 : 1.0; }, 0.0);
  REQUIRE(tyche::random::bernoulli(tyche::PRNGKey(113), 0.0, {100}).to_std_vector() == std::vector<double>(100, 0.0));
  REQUIRE(tyche::random::bernoulli(tyche::PRNGKey(113), 1.0, {100}).to_std_vector() == std::vector<double>(100, 1.0));
}

TEST_CASE("categorical passes chi-square tests per batch row and never draws a category of logit -inf") {
  // Two rows of unnormalised logits, the second shifted by 750 (exp would
  // overflow without subtracting the maximum).
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor logits{{std::log(0.1), std::log(0.2), -inf, std::log(0.65), std::log(0.05)},
                      {750 + std::log(0.5), 750 + std::log(0.25), 750 + std::log(0.125), 750 + std::log(0.125), -inf}};
  const double probabilities[2][5] = {{0.1, 0.2, 0.0, 0.65, 0.05}, {0.5, 0.25, 0.125, 0.125, 0.0}};
  const Tensor x = tyche::random::categorical(tyche::PRNGKey(114), logits, {kRandomDraws, 2});
  for (std::int64_t row = 0; row < 2; ++row) {
    std::vector<double> column(static_cast<std::size_t>(kRandomDraws));
    double impossible = 0.0;
    for (std::int64_t i = 0; i < kRandomDraws; ++i) {
      column[std::size_t(i)] = x.at({i, row});
      impossible += probabilities[row][std::int64_t(column[std::size_t(i)])] == 0.0;
    }
    REQUIRE(impossible == 0.0);
    require_chi_square_passes(Tensor(column), [&](double k) {
      double c = 0.0;
      for (int j = 0; j <= std::min(k, 4.0); ++j) c += probabilities[row][j];
      return c;
    }, 0.0);
  }
  REQUIRE(tyche::random::categorical(tyche::PRNGKey(115), Tensor{-inf, 3.0, -inf}, {20}).to_std_vector() ==
          std::vector<double>(20, 1.0));
}

TEST_CASE("samplers reject invalid parameters with messages naming the sampler and the value") {
  using Catch::Contains;
  const Key key = tyche::PRNGKey(0);
  CHECK_THROWS_WITH(tyche::random::gamma(key, Tensor{1.0, -2.0}, {2}),
                    Contains("random::gamma: concentration must be positive and finite, got -2 (element 1"));
  CHECK_THROWS_WITH(tyche::random::gamma(key, 0.0, {2}), Contains("concentration must be positive and finite, got 0"));
  CHECK_THROWS_WITH(tyche::random::beta(key, 1.0, -0.5, {}),
                    Contains("random::beta: b must be positive and finite, got -0.5"));
  CHECK_THROWS_WITH(tyche::random::dirichlet(key, Tensor{1.0, std::nan("")}, {}),
                    Contains("random::dirichlet: concentration must be positive and finite, got nan"));
  CHECK_THROWS_WITH(tyche::random::dirichlet(key, 1.0, {}),
                    Contains("random::dirichlet: concentration must have at least one axis"));
  CHECK_THROWS_WITH(tyche::random::poisson(key, -1.0, {}),
                    Contains("random::poisson: rate must be non-negative and finite, got -1"));
  CHECK_THROWS_WITH(tyche::random::binomial(key, 2.5, 0.5, {}),
                    Contains("random::binomial: total_count must be a non-negative integer, got 2.5"));
  CHECK_THROWS_WITH(tyche::random::binomial(key, -3.0, 0.5, {}),
                    Contains("random::binomial: total_count must be a non-negative integer, got -3"));
  CHECK_THROWS_WITH(tyche::random::binomial(key, 3.0, 1.5, {}),
                    Contains("random::binomial: probs must be in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(tyche::random::bernoulli(key, -0.1, {}),
                    Contains("random::bernoulli: probs must be in [0, 1], got -0.1"));
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(tyche::random::categorical(key, Tensor{{0.0, 1.0}, {-inf, -inf}}, {2}),
                    Contains("random::categorical: logits of row 1 are all -inf"));
  CHECK_THROWS_WITH(tyche::random::categorical(key, Tensor{0.0, inf}, {}),
                    Contains("random::categorical: logits must be a number below +inf, got inf"));
  CHECK_THROWS_WITH(tyche::random::categorical(key, Tensor(std::vector<double>{}), {}),
                    Contains("random::categorical: logits need a last axis with at least one category"));

  CHECK_THROWS_AS(tyche::random::gamma(key, Tensor{1.0, 2.0, 3.0}, {2}), tyche::ShapeError);
  CHECK_THROWS_WITH(tyche::random::gamma(key, Tensor{1.0, 2.0, 3.0}, {2}),
                    Contains("random::gamma: concentration of shape (3,) does not broadcast to the requested "
                             "shape (2,)"));
  CHECK_THROWS_WITH(tyche::random::binomial(key, 1.0, Tensor{{0.5, 0.5}}, {2}),
                    Contains("random::binomial: probs of shape (1, 2) does not broadcast to the requested shape (2,)"));
  CHECK_THROWS_WITH(tyche::random::dirichlet(key, Tensor{{1.0, 1.0}, {2.0, 2.0}}, {3}),
                    Contains("random::dirichlet: concentration of shape (2, 2) does not broadcast to the requested "
                             "shape (3, 2)"));
  CHECK_THROWS_WITH(tyche::random::categorical(key, Tensor{{0.0, 1.0}, {1.0, 0.0}}, {3}),
                    Contains("random::categorical: logits' batch of shape (2,) does not broadcast"));
}
