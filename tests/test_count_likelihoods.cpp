// Counts by a natural parameter (beyond NumPyro, as Stan's poisson_log and
// binomial_logit): Poisson({.log_rate}) and Binomial({.logits}) log masses
// against Boost.Math, including log rates and logits of +-50 where a rate or
// probability formed first overflows, underflows or rounds to 1; the fused
// log_prob_sum against the sum of log_prob; gradients against finite
// differences, eager and compiled; and NUTS on a Poisson log-linear and a
// binomial logistic regression against the posterior computed by quadrature.
#include <catch2/catch.hpp>
#include <tyche/distributions/discrete.hpp>
#include <tyche/tyche.hpp>

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/poisson.hpp>
#include <boost/math/special_functions/gamma.hpp>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "gradient_check.hpp"
#include "require_throws.hpp"

namespace dist = tyche::dist;
using tyche::Shape;
using tyche::Tensor;

namespace {

// log Poisson(k | exp(eta)) and log Binomial(k | n, sigmoid(eta)) in long
// double from Boost.Math's lgamma, an independent formula for where Boost's
// pmf itself under- or overflows (a mass below 1e-308).
double count_lik_poisson_reference(double k, double eta) {
  const long double rate = std::exp(static_cast<long double>(eta));
  return double(static_cast<long double>(k) * eta - rate - boost::math::lgamma(static_cast<long double>(k) + 1));
}
double count_lik_binomial_reference(double k, double n, double eta) {
  using L = long double;
  const L e = static_cast<L>(eta);
  // log sigmoid(eta) = -log1p(exp(-eta)), log sigmoid(-eta) = -log1p(exp(eta))
  const L log_p = -std::log1p(std::exp(-e)), log_q = -std::log1p(std::exp(e));
  const L log_choose = boost::math::lgamma(L(n) + 1) - boost::math::lgamma(L(k) + 1) - boost::math::lgamma(L(n - k) + 1);
  return double(log_choose + L(k) * log_p + L(n - k) * log_q);
}

struct CountLikMoments {
  double mean, sd, n_eff;
};

// Mean, sd and n_eff of a scalar site's (chain, draw) draws.
CountLikMoments count_lik_moments(const Tensor& grouped) {
  const double* x = grouped.data();
  const std::int64_t n = grouped.size();
  double mean = 0.0, square = 0.0;
  for (std::int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= double(n);
  for (std::int64_t i = 0; i < n; ++i) square += (x[i] - mean) * (x[i] - mean);
  return {mean, std::sqrt(square / double(n)), tyche::effective_sample_size(grouped).item()};
}

}  // namespace

TEST_CASE("Poisson by log rate matches Boost.Math's pmf, and stays finite where exp(log_rate) under- or overflows") {
  for (double eta : {-3.0, 0.0, 0.7, 2.5})
    for (double k : {0.0, 1.0, 4.0, 17.0}) {
      INFO("log rate " << eta << ", k " << k);
      const double expected = std::log(boost::math::pdf(boost::math::poisson(std::exp(eta)), k));
      CHECK(dist::Poisson({.log_rate = eta}).log_prob(Tensor(k)).item() == Approx(expected).epsilon(1e-12));
      CHECK(dist::PoissonLogRate(eta).log_prob(Tensor(k)).item() == Approx(expected).epsilon(1e-12));
      // the rate form is unchanged
      CHECK(dist::Poisson(std::exp(eta)).log_prob(Tensor(k)).item() == Approx(expected).epsilon(1e-12));
    }
  // eta = -800: exp(eta) is 0, so Poisson(exp(eta)) cannot even be made, and
  // its log mass at k = 3 would be -infinity; by log rate it is 3 eta - log 6.
  for (double eta : {-800.0, -50.0, 50.0, 300.0})
    for (double k : {0.0, 3.0, 1e20}) {
      INFO("log rate " << eta << ", k " << k);
      const double lp = dist::Poisson({.log_rate = eta}).log_prob(Tensor(k)).item();
      REQUIRE(std::isfinite(lp));
      CHECK(lp == Approx(count_lik_poisson_reference(k, eta)).epsilon(1e-12));
    }
  CHECK_THROWS_AS(dist::Poisson(std::exp(-800.0)), std::invalid_argument);
}

TEST_CASE("Binomial by logits matches Boost.Math's pmf, and keeps tiny log masses at logits of +-50") {
  for (double eta : {-2.0, -0.3, 0.0, 1.5})
    for (double n : {1.0, 10.0})
      for (double k : {0.0, 1.0, n}) {
        INFO("logit " << eta << ", n " << n << ", k " << k);
        const double p = 1.0 / (1.0 + std::exp(-eta));
        const double expected = std::log(boost::math::pdf(boost::math::binomial(n, p), k));
        CHECK(dist::BinomialLogits(eta, n).log_prob(Tensor(k)).item() == Approx(expected).epsilon(1e-12));
      }
  // sigmoid(50) rounds to 1: the probs form gives log mass 0 at k = n and
  // -infinity at k < n; by logits, -n e^-50 and about -50 (n - k).
  for (double eta : {-50.0, 50.0, -745.0, 745.0})
    for (double k : {0.0, 2.0, 7.0}) {
      INFO("logit " << eta << ", k " << k);
      const double lp = dist::BinomialLogits(eta, 7.0).log_prob(Tensor(k)).item();
      const double expected = count_lik_binomial_reference(k, 7.0, eta);
      REQUIRE(std::isfinite(lp));
      // (a margin for the -7 e^-745 of a subnormal, which has few digits)
      CHECK(lp == Approx(expected).epsilon(1e-12).margin(1e-320));
    }
  // e.g. -7 e^-50 (not rounded to 0): the relative error matters here
  CHECK(dist::BinomialLogits(50.0, 7.0).log_prob(Tensor(7.0)).item() ==
        Approx(-7.0 * std::exp(-50.0)).epsilon(1e-12));
}

TEST_CASE("Poisson by log rate and Binomial by logits: log_prob_sum is one node equal to the sum of log_prob") {
  const Tensor eta{-50.0, -1.2, 0.0, 0.8, 3.1, 50.0};
  const Tensor k{0.0, 2.0, 1.0, 0.0, 30.0, 1000.0};
  const dist::Poisson poisson({.log_rate = eta});
  const double poisson_sum = poisson.log_prob_sum(k).item();
  CHECK(poisson_sum == Approx(tyche::sum(poisson.log_prob(k)).item()).epsilon(1e-14));
  double reference = 0.0;
  for (std::int64_t i = 0; i < k.size(); ++i) reference += count_lik_poisson_reference(k.data()[i], eta.data()[i]);
  CHECK(poisson_sum == Approx(reference).epsilon(1e-12));

  const Tensor n{1.0, 4.0, 4.0, 10.0, 40.0, 9.0};
  const Tensor kb{1.0, 0.0, 4.0, 3.0, 40.0, 9.0};
  const dist::Binomial binomial({.total_count = n, .logits = eta});
  const double binomial_sum = binomial.log_prob_sum(kb).item();
  CHECK(binomial_sum == Approx(tyche::sum(binomial.log_prob(kb)).item()).epsilon(1e-14));
  reference = 0.0;
  for (std::int64_t i = 0; i < kb.size(); ++i)
    reference += count_lik_binomial_reference(kb.data()[i], n.data()[i], eta.data()[i]);
  CHECK(binomial_sum == Approx(reference).epsilon(1e-12));

  // broadcasting: one log rate (or logit) and total count for all counts, and a batch for one count
  const Tensor counts{0.0, 3.0, 5.0};
  CHECK(dist::PoissonLogRate(0.4).log_prob_sum(counts).item() ==
        Approx(tyche::sum(dist::Poisson(std::exp(0.4)).log_prob(counts)).item()).epsilon(1e-13));
  CHECK(dist::BinomialLogits(Tensor{0.1, -0.4, 2.0}, 6.0).log_prob_sum(Tensor(2.0)).item() ==
        Approx(tyche::sum(dist::BinomialProbs(tyche::sigmoid(Tensor{0.1, -0.4, 2.0}), 6.0).log_prob(Tensor(2.0))).item())
            .epsilon(1e-13));

  // outside the support the sum is -infinity (the unfused path), as log_prob's sum
  CHECK(poisson.log_prob_sum(Tensor{0.0, 2.0, 1.0, 0.0, 2.5, 1.0}).item() == -std::numeric_limits<double>::infinity());
  CHECK(binomial.log_prob_sum(Tensor{2.0, 0.0, 4.0, 3.0, 40.0, 9.0}).item() ==
        -std::numeric_limits<double>::infinity());  // 2 > total_count 1
  CHECK(binomial.log_prob_sum(Tensor{-1.0, 0.0, 4.0, 3.0, 40.0, 9.0}).item() == -std::numeric_limits<double>::infinity());

  // one node each in a compiled gradient (by rate, the Poisson records several)
  const Eigen::VectorXd q0 = Eigen::VectorXd::LinSpaced(6, -1.0, 1.0);
  auto fused_poisson = tyche::compile_gradient(
      [k](const Tensor& q) { return dist::PoissonLogRate(q).log_prob_sum(k); }, q0);
  auto fused_binomial = tyche::compile_gradient(
      [kb, n](const Tensor& q) { return dist::BinomialLogits(q, n).log_prob_sum(kb); }, q0);
  auto by_rate = tyche::compile_gradient(
      [k](const Tensor& q) { return dist::Poisson(tyche::exp(q)).log_prob_sum(k); }, q0);
  CHECK(fused_poisson.size() == 1);
  CHECK(fused_binomial.size() == 1);
  CHECK(by_rate.size() > 1);
}

TEST_CASE("Poisson by log rate and Binomial by logits: gradients match finite differences, eager and compiled") {
  using tyche_test::Inputs;
  const Tensor k{0.0, 3.0, 1.0, 7.0};
  const Tensor n{3.0, 5.0, 1.0, 9.0};
  tyche_test::check_gradient("poisson log rate log_prob_sum",
                             [k](const Inputs& in) { return dist::Poisson({.log_rate = in[0]}).log_prob_sum(k); },
                             {{Shape{4}}});
  tyche_test::check_gradient("poisson log rate log_prob",
                             [k](const Inputs& in) { return dist::PoissonLogRate(in[0]).log_prob(k); }, {{Shape{4}}});
  tyche_test::check_gradient("poisson single log rate log_prob_sum",
                             [k](const Inputs& in) { return dist::PoissonLogRate(in[0]).log_prob_sum(k); }, {{Shape{}}});
  tyche_test::check_gradient("binomial logits log_prob_sum",
                             [k, n](const Inputs& in) { return dist::BinomialLogits(in[0], n).log_prob_sum(k); },
                             {{Shape{4}}});
  tyche_test::check_gradient("binomial logits log_prob",
                             [k, n](const Inputs& in) { return dist::BinomialLogits(in[0], n).log_prob(k); },
                             {{Shape{4}}});
  tyche_test::check_gradient("binomial single logit log_prob_sum",
                             [k](const Inputs& in) { return dist::BinomialLogits(in[0], 9.0).log_prob_sum(k); },
                             {{Shape{}}});
  // a log-linear predictor (alpha + beta x), as a regression records it
  const Tensor x{-1.0, 0.0, 0.5, 2.0};
  tyche_test::check_gradient("poisson log-linear log_prob_sum",
                             [k, x](const Inputs& in) { return dist::PoissonLogRate(in[0] + in[1] * x).log_prob_sum(k); },
                             {{Shape{}}, {Shape{}}});
}

TEST_CASE("Poisson by log rate: sample, mean, variance and argument checks") {
  const dist::Poisson d({.log_rate = Tensor{std::log(2.5), std::log(40.0)}});
  CHECK(d.name() == "PoissonLogRate");
  CHECK(d.has_log_rate());
  CHECK(d.mean().data()[1] == Approx(40.0).epsilon(1e-14));
  CHECK(d.variance().data()[0] == Approx(2.5).epsilon(1e-14));
  CHECK(d.rate().data()[0] == Approx(2.5).epsilon(1e-14));
  CHECK(dist::Poisson(3.0).log_rate().item() == Approx(std::log(3.0)).epsilon(1e-15));
  // draws: means within 5 Monte Carlo standard errors sqrt(rate / n)
  const Tensor draws = d.sample(tyche::PRNGKey(3), {4000});
  REQUIRE(draws.shape() == Shape{4000, 2});
  for (std::int64_t j = 0; j < 2; ++j) {
    const double rate = j == 0 ? 2.5 : 40.0;
    double mean = 0.0;
    for (std::int64_t i = 0; i < 4000; ++i) mean += draws.data()[2 * i + j];
    mean /= 4000.0;
    CHECK(std::abs(mean - rate) < 5.0 * std::sqrt(rate / 4000.0));
  }
  REQUIRE_THROWS_CONTAINING(dist::Poisson({.log_rate = std::numeric_limits<double>::infinity()}),
                            std::invalid_argument, "PoissonLogRate", "log_rate");
  REQUIRE_THROWS_CONTAINING((dist::Poisson({.rate = 1.0, .log_rate = 0.0})), std::invalid_argument,
                            "exactly one of rate and log_rate", "both");
  REQUIRE_THROWS_CONTAINING(dist::Poisson(dist::PoissonArgs{}), std::invalid_argument, "neither");
}

namespace {

// One observation of a GLM with linear predictor eta: its log likelihood
// and the first and minus the second derivative in eta.
struct GlmPoint {
  double log_lik, slope, curvature;
};

// NUTS on alpha, beta ~ Normal(0, 2), y_i | eta_i = alpha + beta x_i (the
// model given), against the exact posterior moments by quadrature over a
// grid of +-8 sd around the mode (found by Newton's method; the Laplace
// approximation's covariance sets the grid), in plain doubles.
template <class Model, class Point>
void check_nuts_against_quadrature(const Model& model, const std::vector<double>& xs, const Point& point) {
  const auto log_posterior = [&](double a, double b) {
    double lp = -(a * a + b * b) / 8.0;
    for (std::size_t i = 0; i < xs.size(); ++i) lp += point(i, a + b * xs[i]).log_lik;
    return lp;
  };
  double a = 0.0, b = 0.0, haa = 0.0, hab = 0.0, hbb = 0.0;
  for (int iteration = 0; iteration < 50; ++iteration) {
    double ga = -a / 4.0, gb = -b / 4.0;
    haa = 0.25, hab = 0.0, hbb = 0.25;  // the negative Hessian
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double xi = xs[i];
      const GlmPoint p = point(i, a + b * xi);
      ga += p.slope, gb += p.slope * xi, haa += p.curvature, hab += p.curvature * xi, hbb += p.curvature * xi * xi;
    }
    const double det = haa * hbb - hab * hab;
    a += (hbb * ga - hab * gb) / det;
    b += (haa * gb - hab * ga) / det;
  }
  const double det = haa * hbb - hab * hab, sa = std::sqrt(hbb / det), sb = std::sqrt(haa / det);
  const double log_mode = log_posterior(a, b);
  constexpr int grid = 241;
  double total = 0.0, ma = 0.0, mb = 0.0, maa = 0.0, mbb = 0.0;
  for (int i = 0; i < grid; ++i)
    for (int j = 0; j < grid; ++j) {
      const double ai = a + sa * (-8.0 + 16.0 * i / (grid - 1)), bj = b + sb * (-8.0 + 16.0 * j / (grid - 1));
      const double w = std::exp(log_posterior(ai, bj) - log_mode);
      total += w, ma += w * ai, mb += w * bj, maa += w * ai * ai, mbb += w * bj * bj;
    }
  ma /= total, mb /= total;
  const double sd_a = std::sqrt(maa / total - ma * ma), sd_b = std::sqrt(mbb / total - mb * mb);

  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 500, .num_samples = 1000, .num_chains = 2, .progress_bar = false});
  mcmc.run(7);
  const tyche::ValueMap samples = mcmc.get_samples(true);
  // Tolerances: a mean within 4 sd / sqrt(n_eff) and an sd within
  // 4 sd / sqrt(2 n_eff) of the quadrature's (Monte Carlo standard errors).
  for (const auto& [site, mean, sd] : {std::tuple{"alpha", ma, sd_a}, std::tuple{"beta", mb, sd_b}}) {
    const CountLikMoments m = count_lik_moments(samples.at(site));
    INFO(site << ": draws mean " << m.mean << " sd " << m.sd << " n_eff " << m.n_eff << "; quadrature mean " << mean
              << " sd " << sd);
    REQUIRE(m.n_eff > 200);
    CHECK(std::abs(m.mean - mean) < 4.0 * sd / std::sqrt(m.n_eff));
    CHECK(std::abs(m.sd - sd) < 4.0 * sd / std::sqrt(2.0 * m.n_eff));
  }
}

// 30 points evenly spaced on [-1, 1].
std::vector<double> glm_design() {
  constexpr int points = 30;
  std::vector<double> xs(points);
  for (int i = 0; i < points; ++i) xs[std::size_t(i)] = -1.0 + 2.0 * i / (points - 1);
  return xs;
}

}  // namespace

TEST_CASE("NUTS on a Poisson log-linear regression by log rate recovers the posterior computed by quadrature",
          "[mcmc][statistical]") {
  // y_i ~ Poisson(exp(alpha + beta x_i)).
  const std::vector<double> xs = glm_design();
  const Tensor x(xs, Shape{std::int64_t(xs.size())});
  const Tensor y = dist::Poisson({.log_rate = 0.5 + 1.2 * x}).sample(tyche::PRNGKey(11));
  const auto model = [&] {
    const Tensor alpha = tyche::sample("alpha", dist::Normal(0.0, 2.0));
    const Tensor beta = tyche::sample("beta", dist::Normal(0.0, 2.0));
    tyche::plate data("data", x.size());
    tyche::sample("y", dist::Poisson({.log_rate = alpha + beta * x}), y);
  };
  // The log mass up to a constant in eta: y eta - exp(eta).
  check_nuts_against_quadrature(model, xs, [&](std::size_t i, double eta) {
    const double rate = std::exp(eta), k = y.data()[i];
    return GlmPoint{k * eta - rate, k - rate, rate};
  });
}

TEST_CASE("NUTS on a binomial logistic regression by logits recovers the posterior computed by quadrature",
          "[mcmc][statistical]") {
  // y_i ~ Binomial(8, sigmoid(alpha + beta x_i)), through the fused BinomialLogits.
  const std::vector<double> xs = glm_design();
  const Tensor x(xs, Shape{std::int64_t(xs.size())});
  constexpr double trials = 8.0;
  const Tensor y = dist::BinomialLogits(-0.3 + 1.5 * x, trials).sample(tyche::PRNGKey(12));
  const auto model = [&] {
    const Tensor alpha = tyche::sample("alpha", dist::Normal(0.0, 2.0));
    const Tensor beta = tyche::sample("beta", dist::Normal(0.0, 2.0));
    tyche::plate data("data", x.size());
    tyche::sample("y", dist::BinomialLogits(alpha + beta * x, trials), y);
  };
  // The log mass up to a constant in eta: k log sigmoid(eta) + (n - k) log sigmoid(-eta).
  check_nuts_against_quadrature(model, xs, [&](std::size_t i, double eta) {
    const double k = y.data()[i], p = 1.0 / (1.0 + std::exp(-eta));
    return GlmPoint{-k * std::log1p(std::exp(-eta)) - (trials - k) * std::log1p(std::exp(eta)), k - trials * p,
                    trials * p * (1.0 - p)};
  });
}
