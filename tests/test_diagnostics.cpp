// Diagnostics (infer/diagnostics.hpp) and the summary table (infer/summary.hpp)
// against NumPyro's formulas (numpyro/diagnostics.py): small arrays worked by
// hand (the steps are in the comments), direct O(n^2) sums and loops written
// out here independently of the library, AR(1) chains with known
// autocorrelation, and the printed table written out by hand. (The hand
// values and both tables were also reproduced by running NumPyro 0.21's
// diagnostics.py under NumPy, outside this suite.)
#include <catch2/catch.hpp>
#include <tyche/distributions/random.hpp>
#include <tyche/effects/message.hpp>
#include <tyche/infer/summary.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "require_throws.hpp"

namespace {

using tyche::Shape;
using tyche::Tensor;

// Chains (1, 2, 3, 4) and (2, 0, 1, 3): the array the hand computations use.
Tensor two_chains() { return Tensor({1.0, 2.0, 3.0, 4.0, 2.0, 0.0, 1.0, 3.0}, Shape{2, 4}); }

// A fixed array of the given shape with irregular values (a fixed seed).
Tensor fixed_normal_array(const Shape& shape, std::uint64_t seed) {
  tyche::detail::ElementStream stream(tyche::PRNGKey(seed), 0);
  std::vector<double> values(static_cast<std::size_t>(shape.numel()));
  for (double& v : values) v = stream.normal();
  return Tensor(values, shape);
}

// sum_t c_t c_{t+k} of one centred series, directly.
std::vector<double> direct_lagged_products(const std::vector<double>& x) {
  const std::size_t n = x.size();
  double mean = 0.0;
  for (double v : x) mean += v / double(n);
  std::vector<double> r(n, 0.0);
  for (std::size_t k = 0; k < n; ++k)
    for (std::size_t t = 0; t + k < n; ++t) r[k] += (x[t] - mean) * (x[t + k] - mean);
  return r;
}

// NumPyro's effective sample size of a (chain, draw) array, written out with
// direct sums: rho_k = 1 - (W - mean_c gamma_c,k) / var_plus with gamma the
// biased autocovariance r_k / N, W the mean within-chain variance (ddof 1),
// var_plus = (N - 1) / N W + var(chain means, ddof 1) (W = var_plus for one
// chain); pairs P_m = rho_2m + rho_2m+1, the later ones made non-negative and
// non-increasing; n_eff = C N / (2 sum P - 1).
double reference_ess(const std::vector<std::vector<double>>& chains) {
  const std::size_t c_count = chains.size(), n = chains[0].size();
  std::vector<double> mean_gamma(n, 0.0), means;
  double w = 0.0;
  for (const auto& chain : chains) {
    const std::vector<double> r = direct_lagged_products(chain);
    for (std::size_t k = 0; k < n; ++k) mean_gamma[k] += r[k] / double(n) / double(c_count);
    w += r[0] / double(n - 1) / double(c_count);
    double m = 0.0;
    for (double v : chain) m += v / double(n);
    means.push_back(m);
  }
  double var_plus = w * double(n - 1) / double(n);
  if (c_count > 1) {
    double grand = 0.0;
    for (double m : means) grand += m / double(c_count);
    double between = 0.0;
    for (double m : means) between += (m - grand) * (m - grand) / double(c_count - 1);
    var_plus += between;
  } else {
    w = var_plus;
  }
  std::vector<double> rho(n);
  for (std::size_t k = 0; k < n; ++k) rho[k] = k == 0 ? 1.0 : 1.0 - (w - mean_gamma[k]) / var_plus;
  double sum = rho[0] + rho[1], previous = std::numeric_limits<double>::infinity();
  for (std::size_t m = 1; 2 * m + 1 < n; ++m) {
    double pair = rho[2 * m] + rho[2 * m + 1];
    if (pair < 0.0) pair = 0.0;
    if (pair > previous) pair = previous;
    previous = pair;
    sum += pair;
  }
  return double(c_count * n) / (2.0 * sum - 1.0);
}

// Chain c, element e of a (chain, draw, element) array.
std::vector<double> chain_of(const Tensor& x, std::int64_t c, std::int64_t e) {
  const std::int64_t draws = x.dim(1), elements = x.size() / (x.dim(0) * draws);
  std::vector<double> chain;
  for (std::int64_t t = 0; t < draws; ++t) chain.push_back(x.data()[(c * draws + t) * elements + e]);
  return chain;
}

// `chains` AR(1) chains x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t started in the
// stationary N(0, 1), shifted by offsets[c]; shape (chains, draws).
Tensor ar1_chains(double rho, std::int64_t chains, std::int64_t draws, std::uint64_t seed,
                  const std::vector<double>& offsets = {}) {
  std::vector<double> values;
  for (std::int64_t c = 0; c < chains; ++c) {
    tyche::detail::ElementStream stream(tyche::PRNGKey(seed), std::uint64_t(c));
    double x = stream.normal();
    for (std::int64_t t = 0; t < draws; ++t) {
      if (t > 0) x = rho * x + std::sqrt(1.0 - rho * rho) * stream.normal();
      values.push_back(x + (offsets.empty() ? 0.0 : offsets[std::size_t(c)]));
    }
  }
  return Tensor(values, Shape{chains, draws});
}

}  // namespace

TEST_CASE("autocorrelation and autocovariance of a small series worked by hand") {
  // x = (1, 2, 3, 4): c = (-1.5, -0.5, 0.5, 1.5); sum c_t c_{t+k} for k = 0..3:
  // 5, 0.75 - 0.25 + 0.75 = 1.25, -0.75 - 0.75 = -1.5, -2.25. The variance is 5 / 4.
  const Tensor x{1.0, 2.0, 3.0, 4.0};
  const std::vector<double> correlation{1.0, 0.25, -0.3, -0.45};
  const std::vector<double> covariance{1.25, 0.3125, -0.375, -0.5625};
  // Unbiased: each sum over its n - k terms, 5/4, 1.25/3, -1.5/2, -2.25/1, over 5/4.
  const std::vector<double> unbiased_correlation{1.0, 1.0 / 3.0, -0.6, -1.8};
  const std::vector<double> a = tyche::autocorrelation(x).to_std_vector();
  const std::vector<double> g = tyche::autocovariance(x).to_std_vector();
  const std::vector<double> u = tyche::autocorrelation(x, 0, /*bias=*/false).to_std_vector();
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(a[k] == Approx(correlation[k]).margin(1e-14));
    CHECK(g[k] == Approx(covariance[k]).margin(1e-14));
    CHECK(u[k] == Approx(unbiased_correlation[k]).margin(1e-14));
  }
}

TEST_CASE("autocorrelation and autocovariance agree with the direct O(n^2) sums along any axis") {
  // Shape (3, 37, 2): along axis 1 there are 6 series of odd length (one
  // FFT carries two series, so an even and an odd count are both covered);
  // along axis 0 there are 74 series of length 3, along -1 111 of length 2.
  const Tensor x = fixed_normal_array(Shape{3, 37, 2}, 11);
  for (int axis : {0, 1, -1}) {
    for (bool bias : {true, false}) {
      const Tensor corr = tyche::autocorrelation(x, axis, bias);
      const Tensor cov = tyche::autocovariance(x, axis, bias);
      REQUIRE(corr.shape() == x.shape());
      REQUIRE(cov.shape() == x.shape());
      const int a = axis < 0 ? axis + 3 : axis;
      const std::int64_t n = x.dim(a);
      for (std::int64_t i = 0; i < x.dim(0); ++i)
        for (std::int64_t j = 0; j < x.dim(1); ++j)
          for (std::int64_t l = 0; l < x.dim(2); ++l) {
            std::int64_t index[3] = {i, j, l};
            if (index[a] != 0) continue;  // one series per starting point
            std::vector<double> series;
            for (std::int64_t t = 0; t < n; ++t) {
              index[a] = t;
              series.push_back(x.at({index[0], index[1], index[2]}));
            }
            std::vector<double> r = direct_lagged_products(series);
            const double variance = r[0] / double(n);
            if (!bias)
              for (std::int64_t k = 0; k < n; ++k) r[std::size_t(k)] /= double(n - k);
            for (std::int64_t k = 0; k < n; ++k) {
              index[a] = k;
              const double expected = r[std::size_t(k)] / r[0];
              CHECK(corr.at({index[0], index[1], index[2]}) == Approx(expected).margin(1e-12));
              CHECK(cov.at({index[0], index[1], index[2]}) == Approx(expected * variance).margin(1e-12));
            }
          }
    }
  }
  // A constant series has no correlation to normalise by: NaN, as NumPy's 0/0.
  CHECK(std::isnan(tyche::autocorrelation(Tensor{2.0, 2.0, 2.0}).to_std_vector()[1]));
}

TEST_CASE("effective_sample_size and r-hat of two short chains worked by hand") {
  // Chains (1, 2, 3, 4) and (2, 0, 1, 3). Biased autocovariances r_k / 4:
  // chain 0 (1.25, 0.3125, -0.375, -0.5625), chain 1 (c = (0.5, -1.5, -0.5, 1.5))
  // (1.25, -0.1875, -0.625, 0.1875); their means (1.25, 0.0625, -0.5, -0.1875).
  // W = 5/3 (both chains' variance, ddof 1); chain means 2.5, 1.5 have variance
  // 0.5 (ddof 1); var_plus = 3/4 W + 0.5 = 1.75.
  // rho_1 = 1 - (5/3 - 1/16) / 1.75 = 1/12, rho_2 = 1 - (5/3 + 1/2) / 1.75 = -5/21,
  // rho_3 = 1 - (5/3 + 3/16) / 1.75 = -5/84. P_0 = 13/12, P_1 = -25/84 -> 0.
  // n_eff = 8 / (2 * 13/12 - 1) = 48/7.
  const Tensor x = two_chains();
  CHECK(tyche::effective_sample_size(x).item() == Approx(48.0 / 7.0).epsilon(1e-13));
  // gelman_rubin: sqrt(var_plus / W) = sqrt(1.75 / (5/3)) = sqrt(1.05).
  CHECK(tyche::gelman_rubin(x).item() == Approx(std::sqrt(1.05)).epsilon(1e-13));
  // Split: chains (1, 2), (2, 0), (3, 4), (1, 3); variances 0.5, 2, 0.5, 2, W = 5/4;
  // means 1.5, 1, 3.5, 2 (around 2) have variance 3.5 / 3 = 7/6;
  // var_plus = W / 2 + 7/6 = 43/24; r-hat = sqrt(43/24 / (5/4)) = sqrt(43/30).
  CHECK(tyche::split_gelman_rubin(x).item() == Approx(std::sqrt(43.0 / 30.0)).epsilon(1e-13));
  // One chain (1, 2, 3, 4): W = var_plus = 3/4 * 5/3 = 1.25, so rho_k is the
  // autocorrelation (1, 0.25, -0.3, -0.45): P_0 = 1.25, P_1 < 0 -> 0,
  // n_eff = 4 / 1.5. Split: (1, 2), (3, 4), W = 0.5, var_plus = 0.25 + 2,
  // r-hat = sqrt(4.5).
  const Tensor one = Tensor({1.0, 2.0, 3.0, 4.0}, Shape{1, 4});
  CHECK(tyche::effective_sample_size(one).item() == Approx(8.0 / 3.0).epsilon(1e-13));
  CHECK(tyche::split_gelman_rubin(one).item() == Approx(std::sqrt(4.5)).epsilon(1e-13));
  // Split r-hat of an odd number of draws leaves the middle one out: chain
  // (1, 2, 100, 3, 4) splits as (1, 2) and (3, 4), as the even chain did.
  const Tensor odd = Tensor({1.0, 2.0, 100.0, 3.0, 4.0}, Shape{1, 5});
  CHECK(tyche::split_gelman_rubin(odd).item() == Approx(std::sqrt(4.5)).epsilon(1e-13));
}

TEST_CASE("effective_sample_size and split r-hat match NumPyro's formulas written out, per element") {
  // Shape (3, 25, 2): an odd number of draws (the last lag has no pair) and
  // a trailing element axis. Chain 1 is shifted so that the chains disagree.
  Tensor x = fixed_normal_array(Shape{3, 25, 2}, 5);
  std::vector<double> values = x.to_std_vector();
  for (std::size_t i = 50; i < 100; ++i) values[i] += 0.7;
  x = Tensor(values, x.shape());
  const Tensor n_eff = tyche::effective_sample_size(x), r_hat = tyche::split_gelman_rubin(x);
  REQUIRE(n_eff.shape() == Shape{2});
  REQUIRE(r_hat.shape() == Shape{2});
  for (std::int64_t e = 0; e < 2; ++e) {
    std::vector<std::vector<double>> chains, halves;
    for (std::int64_t c = 0; c < 3; ++c) chains.push_back(chain_of(x, c, e));
    CHECK(n_eff.at({e}) == Approx(reference_ess(chains)).epsilon(1e-11));
    // Split r-hat: halves of 12 draws (draw 12 left out), sqrt(var_plus / W).
    for (const auto& chain : chains) {
      halves.emplace_back(chain.begin(), chain.begin() + 12);
      halves.emplace_back(chain.end() - 12, chain.end());
    }
    double w = 0.0, grand = 0.0, between = 0.0;
    std::vector<double> means;
    for (const auto& half : halves) {
      const std::vector<double> r = direct_lagged_products(half);
      w += r[0] / 11.0 / 6.0;
      double m = 0.0;
      for (double v : half) m += v / 12.0;
      means.push_back(m);
      grand += m / 6.0;
    }
    for (double m : means) between += (m - grand) * (m - grand) / 5.0;
    CHECK(r_hat.at({e}) == Approx(std::sqrt((w * 11.0 / 12.0 + between) / w)).epsilon(1e-12));
  }
}

TEST_CASE("constant draws give NaN for n_eff and r-hat, as NumPyro's 0/0") {
  const Tensor x = Tensor::full(Shape{2, 10}, 3.0);
  CHECK(std::isnan(tyche::effective_sample_size(x).item()));
  CHECK(std::isnan(tyche::split_gelman_rubin(x).item()));
  CHECK(std::isnan(tyche::gelman_rubin(x).item()));
}

TEST_CASE("ESS of AR(1) chains is N (1 - rho) / (1 + rho) and their r-hat is near 1") {
  // 4 x 20000 draws take milliseconds, under the sanitizers too.
  const std::int64_t draws = 20000;
  const std::int64_t total = 4 * draws;
  for (double rho : {0.5, 0.9}) {
    const Tensor x = ar1_chains(rho, 4, draws, 2024);
    const double ess = tyche::effective_sample_size(x).item();
    // The integrated autocorrelation time of AR(1) is (1 + rho) / (1 - rho).
    // Its estimate summed up to lag M has relative sd about sqrt(2 (2M + 1) / N)
    // (Sokal's approximation), M the lag where the sum stops: Geyer's sequence
    // stopped near lag 15 for rho = 0.5 and 75 for rho = 0.9 (mean over 50
    // seeds at this N = 80000), so sd 0.028 and 0.061 and 4 sd 11% and 25%.
    // (Over 200 seeds the ratio to theory had sd 0.021 and 0.050.)
    const double expected = double(total) * (1.0 - rho) / (1.0 + rho);
    const double sd = std::sqrt(2.0 * (2.0 * (rho == 0.5 ? 15.0 : 75.0) + 1.0) / double(total));
    CHECK(ess == Approx(expected).epsilon(4.0 * sd));
    // Agreeing chains: r-hat - 1 is of order 1 / ESS per chain; < 1.01.
    const double r_hat = tyche::split_gelman_rubin(x).item();
    CHECK(r_hat < 1.01);
    CHECK(r_hat > 0.99);
  }
  // One chain of four shifted by one stationary sd: the 8 split chain means
  // (six near 0, two near 1) have variance 1.5 / 7 against W = 1, so r-hat is
  // near sqrt(1 + 0.21) = 1.10; the chain means' own noise (sd of a mean
  // sqrt(3 / 10000) = 0.017 for rho = 0.5) moves it by about 0.005.
  const Tensor shifted = ar1_chains(0.5, 4, draws, 7, {0.0, 0.0, 0.0, 1.0});
  const double r_hat = tyche::split_gelman_rubin(shifted).item();
  CHECK(r_hat == Approx(std::sqrt(1.0 + 1.5 / 7.0)).epsilon(0.02));
  // Unsplit, the 4 chain means (0, 0, 0, 1) have variance 1/4: sqrt(1.25).
  CHECK(tyche::gelman_rubin(shifted).item() == Approx(std::sqrt(1.25)).epsilon(0.02));
}

TEST_CASE("hpdi is the narrowest interval holding floor(prob n) + 1 sorted draws") {
  // The grid 0, 1, ..., 99 in a scrambled order: every window of 90 steps has
  // width 90, so NumPyro's argmin takes the first, [0, 90].
  std::vector<double> grid;
  for (int i = 0; i < 100; ++i) grid.push_back(double((i * 37) % 100));
  const Tensor interval = tyche::hpdi(Tensor(grid), 0.9);
  REQUIRE(interval.shape() == Shape{2});
  CHECK(interval.at({0}) == 0.0);
  CHECK(interval.at({1}) == 90.0);

  // Exponential quantiles x_i = -log(1 - (i + 0.5) / 1000): the density falls,
  // so the shortest 90% interval starts at the smallest draw and ends at
  // draw 900, -log(1 - 900.5 / 1000) (the exact HPD of Exp(1) is [0, log 10]),
  // not the equal-tailed [x_50, x_950]. Along axis 1 of a (2, 1000) array with
  // the second row reversed.
  std::vector<double> skewed;
  for (int row = 0; row < 2; ++row)
    for (int i = 0; i < 1000; ++i) {
      const int j = row == 0 ? i : 999 - i;
      skewed.push_back(-std::log(1.0 - (j + 0.5) / 1000.0));
    }
  const Tensor two = tyche::hpdi(Tensor(skewed, Shape{2, 1000}), 0.9, 1);
  REQUIRE(two.shape() == Shape{2, 2});
  for (std::int64_t row = 0; row < 2; ++row) {
    CHECK(two.at({row, 0}) == Approx(-std::log(1.0 - 0.5 / 1000.0)).epsilon(1e-14));
    CHECK(two.at({row, 1}) == Approx(-std::log(1.0 - 900.5 / 1000.0)).epsilon(1e-14));
    // And no window of 901 draws is narrower.
    const double width = two.at({row, 1}) - two.at({row, 0});
    for (int i = 0; i + 900 < 1000; ++i)
      CHECK(-std::log(1.0 - (i + 900.5) / 1000.0) + std::log(1.0 - (i + 0.5) / 1000.0) >= width);
  }
  // axis 0 of (draw, element) draws gives (2, element).
  const Tensor columns = tyche::hpdi(Tensor(skewed, Shape{2, 1000}).reshape({1000, 2}), 0.5, 0);
  CHECK(columns.shape() == Shape{2, 2});
}

TEST_CASE("summary returns NumPyro's statistics per site and element") {
  const Tensor x = two_chains();
  tyche::ValueMap samples{{"a", x}};
  const tyche::Summary table = tyche::summary(samples);
  REQUIRE(table.size() == 1);
  const tyche::SiteSummary& a = table.at("a");
  // Draws 1 2 3 4 2 0 1 3: mean 2, deviations' squares sum to 12, std
  // sqrt(12 / 7) (ddof 1); sorted 0 1 1 2 2 3 3 4: median 2; prob 0.9 of 8
  // draws spans floor(7.2) = 7 steps, the one window [0, 4].
  CHECK(a.mean.item() == Approx(2.0));
  CHECK(a.std.item() == Approx(std::sqrt(12.0 / 7.0)));
  CHECK(a.median.item() == Approx(2.0));
  CHECK(a.hpdi_lower.item() == 0.0);
  CHECK(a.hpdi_upper.item() == 4.0);
  CHECK(a.n_eff.item() == Approx(48.0 / 7.0));
  CHECK(a.r_hat.item() == Approx(std::sqrt(43.0 / 30.0)));
  CHECK(a.mean.shape() == Shape{});

  // Ungrouped, the 8 draws are one chain: c = (-1, 0, 1, 2, 0, -2, -1, 1),
  // lagged sums 12, 3, -7, -6, 1, 3, 1, -1, so rho = (1, 1/4, -7/12, -1/2, 1/12,
  // 1/4, 1/12, -1/12); P = (5/4, <0 -> 0, then capped at 0): n_eff = 8 / 1.5.
  // Split r-hat: the two halves are the chains above, sqrt(1.05).
  const tyche::Summary flat = tyche::summary(tyche::ValueMap{{"a", x.reshape({8})}}, 0.5, false);
  CHECK(flat.at("a").n_eff.item() == Approx(16.0 / 3.0));
  CHECK(flat.at("a").r_hat.item() == Approx(std::sqrt(1.05)));
  // prob 0.5: 4 steps; widths 2, 2, 2, 2, the first [0, 2].
  CHECK(flat.at("a").hpdi_upper.item() == 2.0);

  // Statistics have each site's shape.
  const tyche::Summary vector =
      tyche::summary(tyche::ValueMap{{"v", fixed_normal_array(Shape{2, 6, 3, 2}, 3)}});
  CHECK(vector.at("v").mean.shape() == Shape{3, 2});
  CHECK(vector.at("v").r_hat.shape() == Shape{3, 2});
  CHECK(vector.at("v").hpdi_upper.shape() == Shape{3, 2});
}

TEST_CASE("summary names the site and shape it cannot use") {
  REQUIRE_THROWS_CONTAINING(tyche::summary(tyche::ValueMap{{"mu", Tensor{1.0, 2.0, 3.0, 4.0}}}),
                            tyche::ShapeError, "'mu'", "(4,)", "(chain, draw, ...)");
  REQUIRE_THROWS_CONTAINING(tyche::summary(tyche::ValueMap{{"tau", Tensor::zeros(Shape{2, 3})}}),
                            tyche::ShapeError, "'tau'", "(2, 3)", "at least 4");
  REQUIRE_THROWS_CONTAINING(tyche::summary(tyche::ValueMap{{"s", Tensor(1.0)}}, 0.9, false),
                            tyche::ShapeError, "'s'", "()", "(draw, ...)");
  REQUIRE_THROWS_CONTAINING(tyche::gelman_rubin(Tensor::zeros(Shape{1, 10})), tyche::ShapeError,
                            "gelman_rubin", "2 chain(s)", "(1, 10)");
  REQUIRE_THROWS_CONTAINING(tyche::effective_sample_size(Tensor{1.0, 2.0}), tyche::ShapeError,
                            "effective_sample_size", "(2,)");
  REQUIRE_THROWS_CONTAINING(tyche::hpdi(Tensor{1.0, 2.0}, 1.0), std::invalid_argument, "hpdi", "prob", "1.0");
  // A site with no chains is left out, as NumPyro skips it.
  CHECK(tyche::summary(tyche::ValueMap{{"empty", Tensor::zeros(Shape{0, 4})}}).empty());
}

TEST_CASE("print_summary prints NumPyro's table") {
  // x: the chains (1, 2, 3, 4), (2, 0, 1, 3) as above (mean 2, std 1.31,
  // median 2, HPDI [0, 4], n_eff 48/7 = 6.86, split r-hat sqrt(43/30) = 1.20).
  // Sites are affine images of x (n_eff and r-hat unchanged) and a constant:
  // L (2, 2) = [[x, 2x - 1], [x + 100, 5]], c = x / 2, theta = (10 x, x - 3).
  const std::vector<double> x = two_chains().to_std_vector();
  std::vector<double> l, c, theta;
  for (double v : x) {
    l.insert(l.end(), {v, 2.0 * v - 1.0, v + 100.0, 5.0});
    c.push_back(v / 2.0);
    theta.insert(theta.end(), {10.0 * v, v - 3.0});
  }
  const tyche::ValueMap samples{{"theta", Tensor(theta, Shape{2, 4, 2})},
                                {"c", Tensor(c, Shape{2, 4})},
                                {"L", Tensor(l, Shape{2, 4, 2, 2})}};
  std::ostringstream out;
  tyche::print_summary(samples, 0.9, true, out);
  // The name column is max(10, longest "name[last index]") = 10 wide; every
  // value "{:>9.2f}" after a space; rows in site-name order ("L" < "c").
  const std::string expected =
      "\n"
      "                mean       std    median      5.0%     95.0%     n_eff     r_hat\n"
      "    L[0,0]      2.00      1.31      2.00      0.00      4.00      6.86      1.20\n"
      "    L[0,1]      3.00      2.62      3.00     -1.00      7.00      6.86      1.20\n"
      "    L[1,0]    102.00      1.31    102.00    100.00    104.00      6.86      1.20\n"
      "    L[1,1]      5.00      0.00      5.00      5.00      5.00       nan       nan\n"
      "         c      1.00      0.65      1.00      0.00      2.00      6.86      1.20\n"
      "  theta[0]     20.00     13.09     20.00      0.00     40.00      6.86      1.20\n"
      "  theta[1]     -1.00      1.31     -1.00     -3.00      1.00      6.86      1.20\n"
      "\n";
  CHECK(out.str() == expected);

  // Ungrouped draws of one scalar site at prob 0.5 (values above): NumPyro
  // sizes the name column from "sigma_group_level[]", two wider than the name.
  std::ostringstream one;
  tyche::print_summary(tyche::ValueMap{{"sigma_group_level", Tensor(x)}}, 0.5, false, one);
  CHECK(one.str() ==
        "\n"
        "                         mean       std    median     25.0%     75.0%     n_eff     r_hat\n"
        "  sigma_group_level      2.00      1.31      2.00      0.00      2.00      5.33      1.02\n"
        "\n");

  // Nothing to summarise prints nothing.
  std::ostringstream none;
  tyche::print_summary(tyche::ValueMap{}, 0.9, true, none);
  CHECK(none.str().empty());
}
