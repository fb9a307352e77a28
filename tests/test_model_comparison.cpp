// WAIC and PSIS-LOO (infer/model_comparison.hpp) against values worked
// independently: WAIC of a 4 x 3 matrix in closed form; the generalised
// Pareto fit against a plain Zhang-Stephens written here from the GPD's log
// density, and its recovery of k and sigma from a large sample; PSIS-LOO
// against a plain PSIS written here and against numbers printed by ArviZ's
// own code; exact leave-one-out of a conjugate normal model; ArviZ's
// printouts (the expected strings were produced by ArviZ's format strings,
// BASE_FMT and POINTWISE_LOO_FMT of arviz_stats/utils.py, run under Python);
// and bad input.
#include <catch2/catch.hpp>

#include <tyche/tyche.hpp>
#include <tyche/infer/model_comparison.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "require_throws.hpp"

namespace dist = tyche::dist;
using tyche::Shape;
using tyche::Tensor;

namespace {

double plain_log_mean_exp(const std::vector<double>& x) {
  double largest = -std::numeric_limits<double>::infinity();
  for (double v : x) largest = std::max(largest, v);
  double sum = 0.0;
  for (double v : x) sum += std::exp(v - largest);
  return largest + std::log(sum / double(x.size()));
}

// Column j of a (draws, points) matrix.
std::vector<double> column(const Tensor& matrix, std::int64_t j) {
  std::vector<double> c;
  for (std::int64_t s = 0; s < matrix.dim(0); ++s) c.push_back(matrix.data()[s * matrix.dim(1) + j]);
  return c;
}

struct PlainFit {
  double k, sigma;
};

// Zhang and Stephens (2009) written plainly: for each grid value b of
// -k / sigma, the profile estimates k(b) = mean log(1 - b x), sigma(b) =
// -k(b) / b, and the profile log-likelihood summed from the GPD's log
// density log(1/sigma) - (1/k + 1) log(1 + k x / sigma); b's posterior mean
// under softmax weights; k and sigma at it; k shrunk towards 0.5 with weight
// 10 (Vehtari et al. 2024, as ArviZ's _gpdfit).
PlainFit plain_zhang_stephens(const std::vector<double>& sorted) {
  const std::size_t n = sorted.size();
  const int m = 30 + int(std::floor(std::sqrt(double(n))));
  const double quartile = sorted[std::size_t(std::floor(double(n) / 4.0 + 0.5)) - 1];
  const auto k_of = [&](double b) {
    double sum = 0.0;
    for (double x : sorted) sum += std::log(1.0 - b * x);
    return sum / double(n);
  };
  std::vector<double> grid, profile;
  for (int j = 1; j <= m; ++j) {
    const double b = 1.0 / sorted.back() + (1.0 - std::sqrt(double(m) / (j - 0.5))) / (3.0 * quartile);
    const double k = k_of(b), sigma = -k / b;
    double log_likelihood = 0.0;
    for (double x : sorted) log_likelihood += -std::log(sigma) - (1.0 / k + 1.0) * std::log(1.0 + k * x / sigma);
    grid.push_back(b);
    profile.push_back(log_likelihood);
  }
  const double best = *std::max_element(profile.begin(), profile.end());
  double total = 0.0, b_mean = 0.0;
  for (int j = 0; j < m; ++j) total += std::exp(profile[std::size_t(j)] - best);
  for (int j = 0; j < m; ++j) b_mean += grid[std::size_t(j)] * std::exp(profile[std::size_t(j)] - best) / total;
  const double k = k_of(b_mean);
  return {(double(n) * k + 10.0 * 0.5) / (double(n) + 10.0), -k / b_mean};
}

// PSIS of one point's log ratios written plainly (Vehtari et al. 2024,
// ArviZ's _psislw): shift by the largest; the tail is the values above the
// (M + 1)-th largest, M = ceil(min(S / 5, 3 sqrt(S / r_eff))); when it has
// more than 4, each tail value in increasing order becomes
// log(threshold weight + the GPD quantile at (i - 0.5) / tail size), capped
// at 0; then normalised. Returns k-hat (+inf without a fit).
double plain_psis(std::vector<double>& lw, double r_eff) {
  const std::size_t S = lw.size();
  const double largest = *std::max_element(lw.begin(), lw.end());
  for (double& v : lw) v -= largest;
  const auto M = std::size_t(std::ceil(std::min(double(S) / 5.0, 3.0 * std::sqrt(double(S) / r_eff))));
  std::vector<std::size_t> order(S);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lw[a] < lw[b]; });
  const double threshold = std::max(lw[order[S - M - 1]], std::log(std::numeric_limits<double>::min()));
  std::vector<std::size_t> tail;
  for (std::size_t r = S - M; r < S; ++r)
    if (lw[order[r]] > threshold) tail.push_back(order[r]);
  double k = std::numeric_limits<double>::infinity();
  if (tail.size() > 4) {
    std::vector<double> exceedances;
    for (std::size_t i : tail) exceedances.push_back(std::exp(lw[i]) - std::exp(threshold));
    const PlainFit fit = plain_zhang_stephens(exceedances);
    k = fit.k;
    for (std::size_t i = 0; i < tail.size(); ++i) {
      const double p = (double(i) + 0.5) / double(tail.size());
      const double quantile = fit.sigma * (std::pow(1.0 - p, -fit.k) - 1.0) / fit.k;
      lw[tail[i]] = std::min(std::log(std::exp(threshold) + quantile), 0.0);
    }
  }
  double total = 0.0;
  for (double v : lw) total += std::exp(v);
  for (double& v : lw) v -= std::log(total);
  return k;
}

struct PlainLoo {
  std::vector<double> elpd_i, p_i, k;
};

PlainLoo plain_loo(const Tensor& loglik, const std::vector<double>& r_eff) {
  PlainLoo out;
  for (std::int64_t j = 0; j < loglik.dim(1); ++j) {
    const std::vector<double> ll = column(loglik, j);
    std::vector<double> lw;
    for (double v : ll) lw.push_back(-v);
    out.k.push_back(plain_psis(lw, r_eff[std::size_t(j)]));
    double sum = 0.0;
    for (std::size_t s = 0; s < ll.size(); ++s) sum += std::exp(lw[s] + ll[s]);
    out.elpd_i.push_back(std::log(sum));
    out.p_i.push_back(plain_log_mean_exp(ll) - std::log(sum));
  }
  return out;
}

// log N(y | mu_s, 1) for mu_s = 0.5 z_s with z from a fixed seed, for the
// points y: a (draws, points) matrix whose tails are light for y near 0 and
// heavy for y far out.
Tensor normal_log_likelihood(std::int64_t draws, const std::vector<double>& y, std::uint64_t seed) {
  tyche::detail::ElementStream stream(tyche::PRNGKey(seed), 0);
  std::vector<double> values;
  for (std::int64_t s = 0; s < draws; ++s) {
    const double mu = 0.5 * stream.normal();
    for (double point : y) values.push_back(-0.5 * (point - mu) * (point - mu) - 0.5 * std::log(2.0 * std::numbers::pi));
  }
  return Tensor(values, Shape{draws, std::int64_t(y.size())});
}

std::string printed(const auto& result) {
  std::ostringstream out;
  out << result;
  return out.str();
}

}  // namespace

TEST_CASE("waic of a 4 x 3 log-likelihood matrix, worked by hand", "[model_comparison]") {
  // Rows are draws. Point 0 is -1 at every draw: lppd -1, variance 0.
  // Point 1 is (0, 0, -2, -2): lppd log((1 + e^-2) / 2), variance 1.
  // Point 2 is log(1, 2, 4, 8): lppd log(15 / 4), variance (ln 2)^2 var(0, 1, 2, 3) = 1.25 (ln 2)^2 = 0.6006,
  // above 0.4, so the warning is set.
  const double l2 = std::log(2.0);
  const Tensor loglik({{-1.0, 0.0, 0.0}, {-1.0, 0.0, l2}, {-1.0, -2.0, 2.0 * l2}, {-1.0, -2.0, 3.0 * l2}});
  const std::vector<double> elpd = {-1.0, std::log((1.0 + std::exp(-2.0)) / 2.0) - 1.0,
                                    std::log(3.75) - 1.25 * l2 * l2};
  const std::vector<double> p = {0.0, 1.0, 1.25 * l2 * l2};
  const double total = elpd[0] + elpd[1] + elpd[2], mean = total / 3.0;
  double sum_squares = 0.0;
  for (double e : elpd) sum_squares += (e - mean) * (e - mean);

  const tyche::WaicResult w = tyche::waic(tyche::ValueMap{{"obs", loglik}});
  CHECK(w.elpd_waic == Approx(total).epsilon(1e-14));
  CHECK(w.p_waic == Approx(p[0] + p[1] + p[2]).epsilon(1e-14));
  CHECK(w.se == Approx(std::sqrt(3.0 * sum_squares / 3.0)).epsilon(1e-13));  // np.var: ddof 0
  CHECK(w.n_samples == 4);
  CHECK(w.n_data_points == 3);
  CHECK(w.scale == "log");
  CHECK(w.warning);
  REQUIRE(w.elpd_i.shape() == Shape{3});
  for (int j = 0; j < 3; ++j) {
    CHECK(w.elpd_i.data()[j] == Approx(elpd[std::size_t(j)]).epsilon(1e-14));
    CHECK(w.p_i.data()[j] == Approx(p[std::size_t(j)]).margin(1e-15));
  }
  // ArviZ's printout of these numbers.
  CHECK(printed(w) ==
        "Computed from 4 posterior samples and 3 observations log-likelihood matrix.\n\n"
        "          Estimate       SE\n"
        "elpd_waic    -1.85     1.68\n"
        "p_waic        1.60        -\n\n"
        "There has been a warning during the calculation. Please check the results.");

  // Point 0 with (-0.2, -0.2, -1.2, -1.2), of variance 0.25: no warning. A site of shape (2, 1) keeps
  // its shape.
  const Tensor two_points({-1.0, -0.2, -1.0, -0.2, -1.0, -1.2, -1.0, -1.2}, Shape{4, 2, 1});
  const tyche::WaicResult quiet = tyche::waic(two_points);
  CHECK_FALSE(quiet.warning);
  CHECK(quiet.elpd_i.shape() == Shape{2, 1});
  CHECK(quiet.p_waic == Approx(0.25).epsilon(1e-14));
  CHECK(quiet.elpd_waic == Approx(-1.0 + std::log((std::exp(-0.2) + std::exp(-1.2)) / 2.0) - 0.25).epsilon(1e-14));
}

TEST_CASE("the generalised Pareto fit is Zhang and Stephens' with ArviZ's prior on k", "[model_comparison]") {
  SECTION("against the plain implementation on small samples") {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      tyche::detail::ElementStream stream(tyche::PRNGKey(seed), 0);
      for (std::size_t n : {5u, 9u, 40u, 400u}) {
        std::vector<double> x;
        for (std::size_t i = 0; i < n; ++i) x.push_back(std::exp(stream.normal()));
        std::sort(x.begin(), x.end());
        const tyche::GeneralizedParetoFit fit = tyche::fit_generalized_pareto(x);
        const PlainFit plain = plain_zhang_stephens(x);
        CHECK(fit.k == Approx(plain.k).epsilon(1e-10).margin(1e-12));
        CHECK(fit.sigma == Approx(plain.sigma).epsilon(1e-10));
      }
    }
  }
  SECTION("recovers k and sigma of a large sample drawn by the inverse CDF") {
    // n = 20000 draws of GPD(k = 0.3, sigma = 2): x = sigma ((1 - u)^-k - 1) / k. The estimator's sd is
    // about that of the maximum likelihood one, (1 + k) / sqrt(n) = 0.0092 for k and
    // sigma sqrt(2 (1 + k) / n) = 0.0228 for sigma; the prior's pull, 10 (0.5 - k) / (n + 10) = 1e-4, is
    // negligible. Tolerances: 4 sd.
    const double k = 0.3, sigma = 2.0;
    const std::size_t n = 20000;
    tyche::detail::ElementStream stream(tyche::PRNGKey(42), 0);
    std::vector<double> x;
    for (std::size_t i = 0; i < n; ++i) x.push_back(sigma * (std::pow(1.0 - stream.uniform(), -k) - 1.0) / k);
    std::sort(x.begin(), x.end());
    const tyche::GeneralizedParetoFit fit = tyche::fit_generalized_pareto(x);
    CHECK(fit.k == Approx(k).margin(4 * 0.0092));
    CHECK(fit.sigma == Approx(sigma).margin(4 * 0.0228));
  }
  SECTION("the quantile function") {
    // GPD(k, sigma) quantile at p: sigma ((1 - p)^-k - 1) / k; at k = 0, the exponential's -sigma log(1 - p).
    CHECK(tyche::generalized_pareto_quantile(0.75, 0.5, 2.0) == Approx(2.0 * (std::sqrt(4.0) - 1.0) / 0.5));
    CHECK(tyche::generalized_pareto_quantile(0.75, 0.0, 2.0) == Approx(2.0 * std::log(4.0)));
  }
}

TEST_CASE("psis-loo equals a plain implementation on fixed matrices", "[model_comparison]") {
  // S = 1000 draws: with r_eff = 1 the tail is ceil(min(200, 3 sqrt(1000))) = 95 ratios, with r_eff = 0.05
  // it is min(200, 425) = 200 (both branches of the min). y = 5 is far in the tail of the posterior
  // predictive: a heavy-tailed ratio and a large k-hat.
  const std::vector<double> y = {0.0, 0.8, 2.0, 5.0};
  const Tensor loglik = normal_log_likelihood(1000, y, 7);

  for (double reff : {1.0, 0.05}) {
    const tyche::LooResult loo = tyche::loo(loglik, {.reff = reff});
    const PlainLoo plain = plain_loo(loglik, std::vector<double>(y.size(), reff));
    double elpd = 0.0, p = 0.0;
    for (std::size_t j = 0; j < y.size(); ++j) {
      CHECK(loo.elpd_i.data()[j] == Approx(plain.elpd_i[j]).epsilon(1e-10));
      CHECK(loo.p_i.data()[j] == Approx(plain.p_i[j]).epsilon(1e-8).margin(1e-10));
      CHECK(loo.pareto_k.data()[j] == Approx(plain.k[j]).epsilon(1e-10));
      CHECK(loo.r_eff.data()[j] == reff);
      elpd += plain.elpd_i[j];
      p += plain.p_i[j];
    }
    CHECK(loo.elpd_loo == Approx(elpd).epsilon(1e-10));
    CHECK(loo.p_loo == Approx(p).epsilon(1e-8));
    CHECK(loo.n_samples == 1000);
    CHECK(loo.n_data_points == 4);
    CHECK(loo.good_k == Approx(2.0 / 3.0));  // min(1 - 1 / log10(1000), 0.7)
    CHECK(loo.pareto_k.data()[0] < 0.5);
    CHECK(loo.pareto_k.data()[3] > loo.good_k);
    CHECK(loo.warning);
  }

  SECTION("psislw gives the plain smoothed weights, normalised") {
    const tyche::PsisResult psis = tyche::psislw(-loglik, 0.7);
    REQUIRE(psis.log_weights.shape() == loglik.shape());
    REQUIRE(psis.pareto_k.shape() == Shape{4});
    for (std::int64_t j = 0; j < 4; ++j) {
      std::vector<double> lw;
      for (double v : column(loglik, j)) lw.push_back(-v);
      CHECK(psis.pareto_k.data()[j] == Approx(plain_psis(lw, 0.7)).epsilon(1e-10));
      const std::vector<double> smoothed = column(psis.log_weights, j);
      for (std::size_t s = 0; s < lw.size(); ++s) CHECK(smoothed[s] == Approx(lw[s]).epsilon(1e-10).margin(1e-12));
      double total = 0.0;
      for (double v : smoothed) total += std::exp(v);
      CHECK(total == Approx(1.0).epsilon(1e-12));
    }
  }

  SECTION("r_eff from the chains: ESS of exp(loglik) over S, per point") {
    // The same draws as 4 chains of 250: r_eff_j is NumPyro's ESS of the (4, 250) array of
    // exp(loglik_j) (any common factor cancels) over 1000.
    const tyche::LooResult loo = tyche::loo(tyche::ValueMap{{"y", loglik}}, {.num_chains = 4});
    std::vector<double> r_eff;
    for (std::int64_t j = 0; j < 4; ++j) {
      std::vector<double> likelihood;
      for (double v : column(loglik, j)) likelihood.push_back(std::exp(v));
      r_eff.push_back(tyche::effective_sample_size(Tensor(likelihood, Shape{4, 250})).item() / 1000.0);
      CHECK(loo.r_eff.data()[j] == Approx(r_eff.back()).epsilon(1e-9));
    }
    const PlainLoo plain = plain_loo(loglik, r_eff);
    for (std::size_t j = 0; j < 4; ++j) {
      CHECK(loo.elpd_i.data()[j] == Approx(plain.elpd_i[j]).epsilon(1e-9));
      CHECK(loo.pareto_k.data()[j] == Approx(plain.k[j]).epsilon(1e-8));
    }
    // One chain: r_eff is 1, as ArviZ's.
    CHECK(tyche::loo(loglik).r_eff.data()[2] == 1.0);
  }
}

TEST_CASE("loo and waic reproduce ArviZ's numbers", "[model_comparison]") {
  // The matrix of the test above, written out with 17 digits and given to ArviZ 0.23's own _psislw,
  // _gpdfit, _gpinv and logsumexp (arviz/stats/stats.py, stats_utils.py, run under NumPy 1.24) with
  // loo's and waic's arithmetic; the values it printed.
  const Tensor loglik = normal_log_likelihood(1000, {0.0, 0.8, 2.0, 5.0}, 7);
  struct Expected {
    double reff, elpd, se, p;
    double k[4], elpd_i[4];
  };
  const Expected expected[] = {
      {1.0, -22.9864042021088, 12.8792708944731, 7.13001068420194,
       {0.414882451842921, 0.247382730963831, 0.442187561371025, 1.00783263892849},
       {-1.06379204122091, -1.48297426825902, -3.67195484682653, -16.7676830458023}},
      {0.7, -23.0136414576865, 12.9056559595078, 7.15724793977963,
       {0.389691867416682, 0.347395173047665, 0.554862327824054, 1.16601629779279},
       {-1.06373122778869, -1.48206002111074, -3.67006926673618, -16.7977809420508}},
  };
  for (const Expected& e : expected) {
    const tyche::LooResult loo = tyche::loo(loglik, {.reff = e.reff});
    CHECK(loo.elpd_loo == Approx(e.elpd).epsilon(1e-12));
    CHECK(loo.se == Approx(e.se).epsilon(1e-12));
    CHECK(loo.p_loo == Approx(e.p).epsilon(1e-11));
    for (int j = 0; j < 4; ++j) {
      CHECK(loo.pareto_k.data()[j] == Approx(e.k[j]).epsilon(1e-12));
      CHECK(loo.elpd_i.data()[j] == Approx(e.elpd_i[j]).epsilon(1e-12));
    }
  }
  const tyche::WaicResult waic = tyche::waic(loglik);
  CHECK(waic.elpd_waic == Approx(-23.3414662100879).epsilon(1e-12));
  CHECK(waic.se == Approx(13.2086628601729).epsilon(1e-12));
  CHECK(waic.p_waic == Approx(7.48507269218109).epsilon(1e-12));
}

TEST_CASE("psis-loo of a conjugate normal model agrees with exact leave-one-out", "[model_comparison]") {
  // y_i ~ N(mu, 1), mu ~ N(0, 2), n = 20 points from N(1, 1) and one at 4.5. The posterior given the
  // points D is N(m_D, 1 / t_D) with t_D = 1/4 + |D| and m_D = sum_D y / t_D, so the exact leave-one-out
  // predictive of y_i is N(m_-i, 1 / t_-i + 1).
  std::vector<double> y;
  tyche::detail::ElementStream data_stream(tyche::PRNGKey(11), 0);
  for (int i = 0; i < 20; ++i) y.push_back(1.0 + data_stream.normal());
  y.push_back(4.5);
  const double n = double(y.size()), sum_y = std::accumulate(y.begin(), y.end(), 0.0);

  // S = 4000 exact posterior draws, as 4 chains of 1000 (independent draws: r_eff near 1).
  const double precision = 0.25 + n, posterior_mean = sum_y / precision;
  tyche::detail::ElementStream draw_stream(tyche::PRNGKey(12), 0);
  std::vector<double> mu;
  for (int s = 0; s < 4000; ++s) mu.push_back(posterior_mean + draw_stream.normal() / std::sqrt(precision));

  auto model = [](const Tensor& obs) {
    const Tensor location = tyche::sample("mu", dist::Normal(0.0, 2.0));
    tyche::plate data("data", obs.size());
    tyche::sample("obs", dist::Normal(location, 1.0), obs);
  };
  const tyche::ValueMap loglik = tyche::log_likelihood(model, {{"mu", Tensor(mu, Shape{4000})}}, Tensor(y, Shape{21}));
  const tyche::LooResult loo = tyche::loo(loglik, {.num_chains = 4});

  // MC error of each point's estimate, by the delta method for log of the importance sampling estimate
  // 1 / mean(1 / p(y_i | mu_s)): sd(r) / (sqrt(S) mean(r)) with r = 1 / p(y_i | mu_s). The points share
  // draws, so the total's sd is at most the sum of theirs.
  double exact_total = 0.0, sd_total = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double t = precision - 1.0, m = (sum_y - y[i]) / t, variance = 1.0 / t + 1.0;
    const double exact = -0.5 * std::log(2.0 * std::numbers::pi * variance) - 0.5 * (y[i] - m) * (y[i] - m) / variance;
    std::vector<double> r;
    for (double draw : mu) r.push_back(std::exp(0.5 * (y[i] - draw) * (y[i] - draw)) * std::sqrt(2.0 * std::numbers::pi));
    const double r_mean = std::accumulate(r.begin(), r.end(), 0.0) / 4000.0;
    double r_var = 0.0;
    for (double v : r) r_var += (v - r_mean) * (v - r_mean) / 3999.0;
    const double sd = std::sqrt(r_var / 4000.0) / r_mean;
    CHECK(loo.elpd_i.data()[i] == Approx(exact).margin(4.0 * sd));
    CHECK(loo.pareto_k.data()[i] < 0.7);
    CHECK(loo.r_eff.data()[i] == Approx(1.0).margin(0.25));  // independent draws; the ESS itself is noisy
    exact_total += exact;
    sd_total += sd;
  }
  CHECK(loo.elpd_loo == Approx(exact_total).margin(4.0 * sd_total));
  CHECK_FALSE(loo.warning);
  // One parameter: p_loo is about 1 (a little more with the outlier).
  CHECK(loo.p_loo == Approx(1.0).margin(0.5));
}

TEST_CASE("loo prints ArviZ's table with the Pareto k counts", "[model_comparison]") {
  tyche::LooResult result;
  result.elpd_loo = -30.8123;
  result.se = 1.234;
  result.p_loo = 0.95;
  result.n_samples = 4000;
  result.n_data_points = 8;
  result.good_k = 0.7;
  result.pareto_k = Tensor{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.75};
  CHECK(printed(result) ==
        "Computed from 4000 posterior samples and 8 observations log-likelihood matrix.\n\n"
        "         Estimate       SE\n"
        "elpd_loo   -30.81     1.23\n"
        "p_loo        0.95        -\n"
        "------\n\n"
        "Pareto k diagnostic values:\n"
        "                         Count   Pct.\n"
        "(-Inf, 0.70]   (good)        7   87.5%\n"
        "   (0.70, 1]   (bad)         1   12.5%\n"
        "    (1, Inf)   (very bad)    0    0.0%\n");

  // Counts of 5 digits widen the column; a warning adds ArviZ's line.
  std::vector<double> k(10001, 0.2);
  k.back() = std::numeric_limits<double>::infinity();
  result.elpd_loo = -12345.678;
  result.se = 98.765;
  result.p_loo = -0.004;
  result.n_samples = 1000;
  result.n_data_points = 10001;
  result.warning = true;
  result.good_k = 1.0 - 1.0 / 3.0;
  result.pareto_k = Tensor(k, Shape{10001});
  CHECK(printed(result) ==
        "Computed from 1000 posterior samples and 10001 observations log-likelihood matrix.\n\n"
        "         Estimate       SE\n"
        "elpd_loo -12345.68    98.77\n"
        "p_loo       -0.00        -\n\n"
        "There has been a warning during the calculation. Please check the results.\n"
        "------\n\n"
        "Pareto k diagnostic values:\n"
        "                         Count   Pct.\n"
        "(-Inf, 0.67]   (good)     10000  100.0%\n"
        "   (0.67, 1]   (bad)          0    0.0%\n"
        "    (1, Inf)   (very bad)     1    0.0%\n");
}

TEST_CASE("waic and loo reject bad input with clear messages", "[model_comparison]") {
  const Tensor good({{-1.0, -2.0}, {-1.5, -2.5}, {-0.5, -1.0}});
  REQUIRE_THROWS_CONTAINING(tyche::waic(Tensor(-1.0)), tyche::ShapeError, "waic", "(draws, ...)", "shape ()");
  REQUIRE_THROWS_CONTAINING(tyche::loo(Tensor(-1.0)), tyche::ShapeError, "loo", "(draws, ...)");
  REQUIRE_THROWS_CONTAINING(tyche::waic(Tensor({{-1.0, -2.0}})), std::invalid_argument, "1 draw(s)",
                            "at least 2");
  REQUIRE_THROWS_CONTAINING(tyche::loo(Tensor::zeros(Shape{4, 0})), std::invalid_argument, "no data points");

  const Tensor with_nan({{-1.0, -2.0}, {-1.5, std::nan("")}, {-0.5, -1.0}});
  REQUIRE_THROWS_CONTAINING(tyche::loo(tyche::ValueMap{{"obs", with_nan}}), std::invalid_argument,
                            "log-likelihood of `obs`", "nan at draw 1, point [1]", "finite");
  const Tensor with_inf({{-1.0, -2.0}, {-1.5, -2.0}, {-std::numeric_limits<double>::infinity(), -1.0}});
  REQUIRE_THROWS_CONTAINING(tyche::waic(with_inf), std::invalid_argument, "-inf at draw 2, point [0]");

  const tyche::ValueMap two_sites{{"y1", good}, {"y2", good}};
  REQUIRE_THROWS_CONTAINING(tyche::waic(two_sites), std::invalid_argument, "several sites", "`y1`, `y2`",
                            ".var_name");
  REQUIRE_THROWS_CONTAINING(tyche::loo(two_sites, {.var_name = "y3"}), std::invalid_argument,
                            "no log-likelihood named `y3`", "`y1`, `y2`");
  CHECK(tyche::waic(two_sites, {.var_name = "y2"}).n_data_points == 2);
  REQUIRE_THROWS_CONTAINING(tyche::loo(good, {.var_name = "y1"}), std::invalid_argument, "`y1`", "one array");
  REQUIRE_THROWS_CONTAINING(tyche::waic(tyche::ValueMap{}), std::invalid_argument, "empty");

  REQUIRE_THROWS_CONTAINING(tyche::loo(good, {.num_chains = 2}), std::invalid_argument, "num_chains is 2",
                            "3 draws");
  REQUIRE_THROWS_CONTAINING(tyche::loo(good, {.num_chains = 3}), std::invalid_argument,
                            "1 draw(s) per chain", ".reff");
  REQUIRE_THROWS_CONTAINING(tyche::loo(good, {.reff = 0.0}), std::invalid_argument, "reff must be a positive");
  REQUIRE_THROWS_CONTAINING(tyche::psislw(good, -1.0), std::invalid_argument, "r_eff must be a positive");

  REQUIRE_THROWS_CONTAINING(tyche::fit_generalized_pareto(std::vector<double>{1.0, 2.0, 3.0, 4.0}),
                            std::invalid_argument, "at least 5");
  REQUIRE_THROWS_CONTAINING(tyche::fit_generalized_pareto(std::vector<double>{1.0, 2.0, 3.0, 5.0, 4.0}),
                            std::invalid_argument, "sorted", "element 4");

  // A tail whose weights round to the threshold's (exceedances of 0) fails the fit: k-hat is +inf and the
  // weights are left unsmoothed (ArviZ's psislw returns k 1/6 and NaN weights here). Of 100 log ratios the
  // 20 largest are -1e-300 and the 21st largest, the threshold, is -3e-300: exp(tail) - exp(threshold) is
  // 1 - 1 = 0 for the whole tail.
  std::vector<double> flat_tail(79, -1.0);
  flat_tail.push_back(-3e-300);
  flat_tail.insert(flat_tail.end(), 20, -1e-300);
  const tyche::PsisResult flat = tyche::psislw(Tensor(flat_tail, Shape{100, 1}));
  CHECK(std::isinf(flat.pareto_k.item()));
  const double normaliser = std::log(79.0 * std::exp(-1.0) + 21.0);
  CHECK(flat.log_weights.data()[99] == Approx(-normaliser).epsilon(1e-14));
  CHECK(flat.log_weights.data()[0] == Approx(-1.0 - normaliser).epsilon(1e-14));

  // Too few draws for a tail of 5 is not an error (as ArviZ): k-hat is +inf and flagged.
  const tyche::LooResult few = tyche::loo(good);
  CHECK(std::isinf(few.pareto_k.data()[0]));
  CHECK(few.warning);
}
