// Weibull, Pareto, VonMises, SkewNormal, BetaBinomial, GammaPoisson and the
// zero-inflated distributions: log densities against Boost.Math and closed forms,
// gradients against finite differences, draws against their moments, CDFs and
// mass functions, shapes, supports, argument checks, and NUTS on models that
// use them.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include "log_prob_check.hpp"
#include <tyche/distributions/extra_continuous.hpp>
#include <tyche/distributions/extra_discrete.hpp>
#include <tyche/tyche.hpp>

#include "gradient_check.hpp"
#include "statistics.hpp"

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/negative_binomial.hpp>
#include <boost/math/distributions/pareto.hpp>
#include <boost/math/distributions/poisson.hpp>
#include <boost/math/distributions/skew_normal.hpp>
#include <boost/math/distributions/weibull.hpp>
#include <boost/math/special_functions/bessel.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <vector>

namespace {

using namespace tyche_test;
using tyche_test::check_moments;  // beside other files' check_moments in a unity build
namespace dist = tyche::dist;
namespace bm = boost::math;
using dist::Distribution;
using dist::DistributionPtr;

using tyche_test::kInf;
constexpr double kPi = std::numbers::pi;

double element_at(const Tensor& t, std::int64_t j) { return t.at({j}); }

// The von Mises density, normalised with Boost's I_0.
double von_mises_pdf(double x, double loc, double concentration) {
  return std::exp(concentration * std::cos(x - loc)) / (2.0 * kPi * bm::cyl_bessel_i(0, concentration));
}

// The von Mises CDF on [-pi, pi] by the trapezoid rule on 2^17 intervals:
// the error, h^2 / 12 max |f'| with h = 2 pi / 2^17, is below 1e-8 for the
// concentrations used here, far below the KS distances that matter.
std::function<double(double)> von_mises_cdf(double loc, double concentration) {
  constexpr int intervals = 1 << 17;
  const double h = 2.0 * kPi / intervals;
  auto table = std::make_shared<std::vector<double>>(intervals + 1, 0.0);
  for (int i = 1; i <= intervals; ++i)
    (*table)[std::size_t(i)] = (*table)[std::size_t(i - 1)] +
                               0.5 * h * (von_mises_pdf(-kPi + (i - 1) * h, loc, concentration) +
                                          von_mises_pdf(-kPi + i * h, loc, concentration));
  return [table, h](double x) {
    const double position = std::clamp((x + kPi) / h, 0.0, double(intervals));
    const auto i = std::min(int(position), intervals - 1);
    const double t = position - i;
    return (1.0 - t) * (*table)[std::size_t(i)] + t * (*table)[std::size_t(i + 1)];
  };
}

// The BetaBinomial pmf written out: C(n, k) B(k + a, n - k + b) / B(a, b).
double beta_binomial_log_pmf(double k, double n, double a, double b) {
  const auto log_beta = [](double x, double y) { return std::lgamma(x) + std::lgamma(y) - std::lgamma(x + y); };
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1) + log_beta(k + a, n - k + b) -
         log_beta(a, b);
}

}  // namespace

// ---- log densities -------------------------------------------------------------

TEST_CASE("Weibull log_prob matches Boost.Math's weibull pdf (shape = concentration)") {
  const Tensor scale{1.0, 0.3, 4.0}, concentration{0.5, 1.0, 3.5};
  const std::vector<double> points{1e-3, 0.05, 0.4, 1.0, 1.3, 2.5, 7.0};
  check_log_prob(dist::Weibull(scale, concentration), points, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::weibull_distribution<>(element_at(concentration, j), element_at(scale, j)), x));
  });
}

TEST_CASE("Pareto log_prob matches Boost.Math's pareto pdf above the scale, -inf at and below it") {
  const Tensor scale{1.0, 0.3, 2.0}, alpha{0.5, 3.0, 7.5};
  const std::vector<double> points{0.1, 0.3, 0.31, 1.0, 1.3, 2.5, 7.0, 300.0};
  check_log_prob(dist::Pareto(scale, alpha), points, [&](std::int64_t j, double x) {
    if (x <= element_at(scale, j)) return -kInf;
    return std::log(bm::pdf(bm::pareto_distribution<>(element_at(scale, j), element_at(alpha, j)), x));
  });
}

TEST_CASE("SkewNormal log_prob matches Boost.Math's skew_normal pdf") {
  const Tensor loc{0.0, -2.0, 3.5}, scale{1.0, 0.8, 12.0}, skewness{0.0, 4.0, -2.5};
  const std::vector<double> points{-6.0, -4.5, -1.0, -0.3, 0.0, 0.2, 1.7, 6.0, 12.0};
  check_log_prob(dist::SkewNormal(loc, scale, skewness), points, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::skew_normal_distribution<>(element_at(loc, j), element_at(scale, j), element_at(skewness, j)), x));
  }, 1e-11);
  // Skewness 0 is the normal distribution.
  CHECK(close_to_reference(dist::SkewNormal(1.0, 2.0).log_prob(0.3).item(), dist::Normal(1.0, 2.0).log_prob(0.3).item()));
}

TEST_CASE("VonMises log_prob is log(exp(k cos(x - loc)) / (2 pi I0(k))) on -pi..pi, I0 from Boost.Math") {
  const Tensor loc{0.0, -2.0, 2.5}, concentration{0.01, 1.5, 45.0};
  const std::vector<double> points{-kPi, -3.0, -1.0, -0.3, 0.0, 0.2, 1.7, 3.0, kPi};
  check_log_prob(dist::VonMises(loc, concentration), points, [&](std::int64_t j, double x) {
    return std::log(von_mises_pdf(x, element_at(loc, j), element_at(concentration, j)));
  });
  // Outside [-pi, pi]: -inf, although the formula is periodic.
  CHECK(dist::VonMises(0.0, 1.0).log_prob(4.0).item() == -kInf);
  CHECK(dist::VonMises(0.0, 1.0).log_prob(-kPi - 1e-9).item() == -kInf);
  // The density integrates to 1 over the circle (Simpson's rule, error ~1e-12
  // at this smooth periodic integrand): checks the normaliser independently of Boost.
  for (double k : {0.2, 3.0, 60.0}) {
    const dist::VonMises d(1.0, k);
    const int n = 4000;
    const Tensor grid = Tensor::arange(n + 1) * (2.0 * kPi / n) - kPi;
    const Tensor density = tyche::exp(d.log_prob(grid));
    double total = 0.0;
    for (int i = 0; i <= n; ++i) total += density.at({i}) * (i == 0 || i == n ? 1.0 : i % 2 ? 4.0 : 2.0);
    INFO("concentration " << k);
    CHECK(total * (2.0 * kPi / n) / 3.0 == Approx(1.0).epsilon(1e-10));
  }
}

TEST_CASE("log I0 and I1 / I0 match Boost.Math's Bessel functions on both sides of the series switch at 30") {
  for (double x : {0.0, 1e-3, 0.5, 5.0, 29.9, 30.0, 30.1, 100.0, 600.0}) {
    INFO("x = " << x);
    const double i0 = bm::cyl_bessel_i(0, x), i1 = bm::cyl_bessel_i(1, x);
    CHECK(close_to_reference(tyche::dist::detail::log_bessel_i0(Tensor(x)).item(), std::log(i0), 1e-14));
    CHECK(tyche::dist::detail::bessel_i1_over_i0_array(Tensor(x)).item() == Approx(i1 / i0).epsilon(1e-14));
  }
  // Beyond Boost's overflow: log I0(x) = x - log(2 pi x) / 2 + 1 / (8 x) + 1 / (16 x^2) + O(x^-3).
  CHECK(tyche::dist::detail::log_bessel_i0(Tensor(1e4)).item() ==
        Approx(1e4 - 0.5 * std::log(2.0 * kPi * 1e4) + 1.0 / 8e4 + 1.0 / 16e8).epsilon(1e-15));
}

TEST_CASE("BetaBinomial log_prob is log(C(n, k) B(k + a, n - k + b) / B(a, b))") {
  for (double n : {0.0, 1.0, 7.0, 40.0})
    for (double a : {0.3, 2.0, 25.0})
      for (double b : {0.6, 4.0})
        for (double k = 0.0; k <= n; k += 1.0) {
          INFO("n = " << n << ", a = " << a << ", b = " << b << ", k = " << k);
          CHECK(close_to_reference(dist::BetaBinomial(a, b, n).log_prob(k).item(), beta_binomial_log_pmf(k, n, a, b)));
        }
  // Worked by hand: Beta(1, 1) mixing gives the uniform on 0..n; with a = 2,
  // b = 3, n = 4, P(0) = B(2, 7) / B(2, 3) = (1/56) / (1/12) = 3/14.
  for (double k : {0.0, 3.0, 9.0}) CHECK(dist::BetaBinomial(1.0, 1.0, 9.0).log_prob(k).item() == Approx(std::log(0.1)));
  CHECK(dist::BetaBinomial(2.0, 3.0, 4.0).log_prob(0.0).item() == Approx(std::log(3.0 / 14.0)));
  // The mass sums to 1; total_count defaults to 1.
  const Tensor mass = tyche::exp(dist::BetaBinomial(0.7, 2.5, 30.0).log_prob(Tensor::arange(31)));
  CHECK(tyche::sum(mass).item() == Approx(1.0).epsilon(1e-13));
  CHECK(dist::BetaBinomial(2.0, 3.0).total_count().item() == 1.0);
}

TEST_CASE("GammaPoisson log_prob matches Boost.Math's negative binomial pmf, and NegativeBinomial2's") {
  // Boost counts failures before r successes of probability p: r = concentration, p = rate / (1 + rate).
  for (double c : {0.3, 2.0, 25.0})
    for (double rate : {0.05, 1.0, 8.0})
      for (double k : {0.0, 1.0, 5.0, 70.0}) {
        INFO("concentration = " << c << ", rate = " << rate << ", k = " << k);
        const double expected = std::log(bm::pdf(bm::negative_binomial(c, rate / (1.0 + rate)), k));
        CHECK(close_to_reference(dist::GammaPoisson(c, rate).log_prob(k).item(), expected, 1e-11));
        // NegativeBinomial2(mean, c) is GammaPoisson(c, c / mean).
        CHECK(close_to_reference(dist::GammaPoisson(c, rate).log_prob(k).item(),
                    dist::NegativeBinomial2(c / rate, c).log_prob(k).item(), 1e-11));
      }
}

TEST_CASE("ZeroInflatedPoisson log_prob mixes a point mass at 0 with Boost.Math's Poisson pmf") {
  for (double gate : {0.0, 0.3, 0.95, 1.0})
    for (double rate : {0.05, 3.5, 150.0})
      for (double k : {0.0, 1.0, 4.0, 140.0}) {
        INFO("gate = " << gate << ", rate = " << rate << ", k = " << k);
        // Where Boost's pmf underflows, the closed form in the standard library's lgamma.
        const double log_poisson = k * std::log(rate) - rate - std::lgamma(k + 1.0);
        const double expected = k == 0.0 ? std::log(gate + (1.0 - gate) * bm::pdf(bm::poisson(rate), k))
                                         : std::log1p(-gate) + log_poisson;
        if (k > 0.0 && bm::pdf(bm::poisson(rate), k) > 0.0)
          CHECK(close_to_reference(log_poisson, std::log(bm::pdf(bm::poisson(rate), k)), 1e-11));
        CHECK(close_to_reference(dist::ZeroInflatedPoisson(gate, rate).log_prob(k).item(), expected, 1e-11));
      }
}

TEST_CASE("ZeroInflatedNegativeBinomial2 and ZeroInflatedProbs mix a point mass at 0 with their base") {
  // Boost's negative binomial with r = concentration, p = concentration / (concentration + mean).
  for (double gate : {0.0, 0.4})
    for (double mean : {0.4, 3.0, 80.0})
      for (double c : {0.3, 25.0})
        for (double k : {0.0, 1.0, 5.0, 70.0}) {
          INFO("gate = " << gate << ", mean = " << mean << ", concentration = " << c << ", k = " << k);
          const double nb = bm::pdf(bm::negative_binomial(c, c / (c + mean)), k);
          const double expected = std::log((k == 0.0 ? gate : 0.0) + (1.0 - gate) * nb);
          CHECK(close_to_reference(dist::ZeroInflatedNegativeBinomial2(mean, c, gate).log_prob(k).item(), expected, 1e-11));
        }
  // Over a binomial: P(0) = 0.2 + 0.8 * 0.6^5 and P(3) = 0.8 * C(5, 3) 0.4^3 0.6^2.
  const dist::ZeroInflatedProbs z(dist::Binomial({.total_count = 5, .probs = 0.4}).share(), 0.2);
  CHECK(z.log_prob(0.0).item() == Approx(std::log(0.2 + 0.8 * std::pow(0.6, 5))).epsilon(1e-13));
  CHECK(z.log_prob(3.0).item() == Approx(std::log(0.8 * 10 * std::pow(0.4, 3) * 0.36)).epsilon(1e-13));
  CHECK(z.log_prob(6.0).item() == -kInf);
  CHECK(z.name() == "ZeroInflatedProbs");
  CHECK(z.support().str() == "IntegerInterval(lower_bound=0, upper_bound=5)");
  // The batch shape broadcasts the gate's with the base's; draws follow it.
  const dist::ZeroInflatedProbs wide(dist::Poisson(Tensor{1.0, 2.0, 3.0}).share(), Tensor{{0.1}, {0.9}});
  CHECK(wide.batch_shape() == Shape{2, 3});
  CHECK(wide.sample(tyche::PRNGKey(0), {4}).shape() == Shape{4, 2, 3});
  CHECK(wide.mean().at({1, 2}) == Approx(0.1 * 3.0));
}

// ---- gradients -----------------------------------------------------------------

TEST_CASE("continuous log_prob gradients in the value and every parameter match finite differences") {
  const Domain above_scale{3.2, 6.0};  // Pareto values above every scale drawn from kPositive
  const Domain circle{-3.0, 3.0};
  const Domain concentrated{20.0, 40.0};  // across log I0's switch at 30
  struct Shapes {
    Shape value, first, rest;
  };
  const std::vector<Shapes> patterns = {{{3}, {3}, {3}}, {{2, 3}, {3}, {}}, {{}, {3}, {2, 1}}};
  for (const Shapes& s : patterns) {
    check_gradient("Weibull.log_prob",
                   [](const Inputs& in) { return dist::Weibull(in[1], in[2]).log_prob(in[0]); },
                   {{s.value, kPositive}, {s.first, kPositive}, {s.rest, kPositive}});
    check_gradient("Pareto.log_prob",
                   [](const Inputs& in) { return dist::Pareto(in[1], in[2]).log_prob(in[0]); },
                   {{s.value, above_scale}, {s.first, kPositive}, {s.rest, kPositive}});
    check_gradient("VonMises.log_prob",
                   [](const Inputs& in) { return dist::VonMises(in[1], in[2]).log_prob(in[0]); },
                   {{s.value, circle}, {s.first, kReal}, {s.rest, kPositive}});
    check_gradient("VonMises.log_prob, large concentration",
                   [](const Inputs& in) { return dist::VonMises(in[1], in[2]).log_prob(in[0]); },
                   {{s.value, circle}, {s.first, kReal}, {s.rest, concentrated}});
    check_gradient("SkewNormal.log_prob",
                   [](const Inputs& in) { return dist::SkewNormal(in[1], in[2], in[3]).log_prob(in[0]); },
                   {{s.value, kReal}, {s.first, kReal}, {s.rest, kPositive}, {s.rest, kReal}});
  }
  // Mean and variance carry gradients too.
  check_gradient("Weibull moments",
                 [](const Inputs& in) {
                   const dist::Weibull d(in[0], in[1]);
                   return d.mean() + d.variance();
                 },
                 {{{3}, kPositive}, {{3}, kPositive}});
  check_gradient("VonMises circular variance",
                 [](const Inputs& in) { return dist::VonMises(0.0, in[0]).variance(); }, {{{4}, {0.1, 60.0}}});
  check_gradient("SkewNormal moments",
                 [](const Inputs& in) {
                   const dist::SkewNormal d(in[0], in[1], in[2]);
                   return d.mean() + d.variance();
                 },
                 {{{3}, kReal}, {{3}, kPositive}, {{3}, kReal}});
}

TEST_CASE("discrete log_prob gradients in the parameters match finite differences") {
  const Tensor counts{0.0, 3.0, 7.0, 2.0};
  check_gradient("BetaBinomial",
                 [&](const Inputs& in) { return dist::BetaBinomial(in[0], in[1], 7.0).log_prob(counts); },
                 {{Shape{4}, kPositive}, {Shape{1}, kPositive}});
  check_gradient("GammaPoisson", [&](const Inputs& in) { return dist::GammaPoisson(in[0], in[1]).log_prob(counts); },
                 {{Shape{4}, kPositive}, {Shape{}, kPositive}});
  check_gradient("ZeroInflatedPoisson",
                 [&](const Inputs& in) { return dist::ZeroInflatedPoisson(in[0], in[1]).log_prob(counts); },
                 {{Shape{4}, kUnitInterval}, {Shape{4}, kPositive}});
  check_gradient("ZeroInflatedNegativeBinomial2",
                 [&](const Inputs& in) {
                   return dist::ZeroInflatedNegativeBinomial2(in[0], in[1], in[2]).log_prob(counts);
                 },
                 {{Shape{4}, kPositive}, {Shape{}, kPositive}, {Shape{4}, kUnitInterval}});
  check_gradient("BetaBinomial moments",
                 [](const Inputs& in) {
                   const dist::BetaBinomial d(in[0], in[1], 12.0);
                   return d.mean() + d.variance();
                 },
                 {{Shape{2}, kPositive}, {Shape{2}, kPositive}});
  check_gradient("ZeroInflatedPoisson moments",
                 [](const Inputs& in) {
                   const dist::ZeroInflatedPoisson d(in[0], in[1]);
                   return d.mean() + d.variance();
                 },
                 {{Shape{2}, kUnitInterval}, {Shape{2}, kPositive}});
}

TEST_CASE("more distributions: reparameterised draws pass gradients to their parameters") {
  const tyche::Key key = tyche::PRNGKey(7);
  check_gradient("Weibull.sample", [&](const Inputs& in) { return dist::Weibull(in[0], in[1]).sample(key, {4}); },
                 {{{3}, kPositive}, {{3}, kPositive}});
  check_gradient("Pareto.sample", [&](const Inputs& in) { return dist::Pareto(in[0], in[1]).sample(key, {4}); },
                 {{{3}, kPositive}, {{3}, kPositive}});
  check_gradient("SkewNormal.sample",
                 [&](const Inputs& in) { return dist::SkewNormal(in[0], in[1], in[2]).sample(key, {4}); },
                 {{{3}, kReal}, {{3}, kPositive}, {{3}, kReal}});
  // A VonMises draw moves with loc one for one (the wrap into [-pi, pi) is a constant shift).
  const auto r = tyche::value_and_grad(
      [&](const Tensor& q) { return tyche::sum(dist::VonMises(q[0], 2.0).sample(key, {5})); }, Eigen::VectorXd::Constant(1, 0.3));
  CHECK(r.grad[0] == 5.0);
}

TEST_CASE("log_prob outside the support is -inf with zero, not NaN, gradients") {
  auto check = [](const std::string& name, const std::function<Tensor(const Tensor&)>& f, const Eigen::VectorXd& q) {
    INFO(name);
    const tyche::ValueAndGrad r = tyche::value_and_grad(f, q);
    CHECK(r.value == -kInf);
    CHECK(r.grad.isZero());
  };
  Eigen::VectorXd q(3);
  q << -1.0, 2.0, 3.0;  // value, then parameters
  check("Weibull", [](const Tensor& p) { return dist::Weibull(p[1], p[2]).log_prob(p[0]); }, q);
  check("Pareto", [](const Tensor& p) { return dist::Pareto(p[1], p[2]).log_prob(p[0]); }, q);
  q[0] = 2.0;  // Pareto's scale itself is outside its support
  check("Pareto at the scale", [](const Tensor& p) { return dist::Pareto(p[1], p[2]).log_prob(p[0]); }, q);
  q[0] = 4.0;
  check("VonMises", [](const Tensor& p) { return dist::VonMises(p[1], p[2]).log_prob(p[0]); }, q);
  for (double k : {-1.0, 2.5, 8.0}) {
    const Tensor value(k);
    check("BetaBinomial", [&](const Tensor& p) { return dist::BetaBinomial(p[1], p[2], 7.0).log_prob(value); }, q);
    if (k == 8.0) continue;
    check("GammaPoisson", [&](const Tensor& p) { return dist::GammaPoisson(p[1], p[2]).log_prob(value); }, q);
    check("ZeroInflatedPoisson",
          [&](const Tensor& p) { return dist::ZeroInflatedPoisson(p[1] / 4.0, p[2]).log_prob(value); }, q);
    check("ZeroInflatedNegativeBinomial2",
          [&](const Tensor& p) { return dist::ZeroInflatedNegativeBinomial2(p[1], p[2], p[1] / 4.0).log_prob(value); }, q);
  }
}

// ---- draws -----------------------------------------------------------------------

// check_frequencies (statistics.hpp): Pearson's chi-square test of integer
// draws against a pmf at level 1e-4.

TEST_CASE("more distributions: sample means and variances match mean() and variance() within Monte Carlo error") {
  check_moments(dist::Weibull(Tensor{1.5, 0.4}, Tensor{0.8, 3.0}), 1);
  check_moments(dist::Pareto(Tensor{1.0, 2.5}, Tensor{6.0, 9.0}), 2);  // alpha > 4: finite fourth moment
  check_moments(dist::SkewNormal(Tensor{0.5, -2.0}, Tensor{1.0, 3.0}, Tensor{-4.0, 1.5}), 3);
  check_moments(dist::BetaBinomial(Tensor{0.5, 3.0}, Tensor{0.7, 2.0}, Tensor{10.0, 40.0}), 4);
  check_moments(dist::GammaPoisson(Tensor{0.4, 6.0}, Tensor{0.1, 2.0}), 5);
  check_moments(dist::ZeroInflatedPoisson(Tensor{0.3, 0.05}, Tensor{4.0, 25.0}), 6);
  check_moments(dist::ZeroInflatedNegativeBinomial2(Tensor{4.0, 25.0}, Tensor{2.0, 8.0}, Tensor{0.3, 0.05}), 7);
}

TEST_CASE("Weibull and Pareto draws transform JAX's exponential on the same key, as NumPyro's") {
  // jax.random.weibull_min: scale E^(1 / concentration); NumPyro's Pareto:
  // scale exp(E / alpha); E = -log1p(-u), the exponential that random.hpp
  // reproduces from JAX's bits.
  const tyche::Key key = tyche::PRNGKey(3);
  const Tensor e = tyche::random::exponential(key, {6, 2});
  const Tensor weibull = dist::Weibull(Tensor{1.5, 0.5}, Tensor{2.0, 0.7}).sample(key, {6});
  const Tensor pareto = dist::Pareto(Tensor{1.5, 0.5}, Tensor{2.0, 0.7}).sample(key, {6});
  for (std::int64_t i = 0; i < 6; ++i) {
    CHECK(weibull.at({i, 0}) == Approx(1.5 * std::pow(e.at({i, 0}), 1.0 / 2.0)).epsilon(1e-15));
    CHECK(weibull.at({i, 1}) == Approx(0.5 * std::pow(e.at({i, 1}), 1.0 / 0.7)).epsilon(1e-15));
    CHECK(pareto.at({i, 0}) == Approx(1.5 * std::exp(e.at({i, 0}) / 2.0)).epsilon(1e-15));
    CHECK(pareto.at({i, 1}) == Approx(0.5 * std::exp(e.at({i, 1}) / 0.7)).epsilon(1e-15));
  }
}

TEST_CASE("VonMises draws lie in -pi..pi (pi excluded) with mean resultant length I1 / I0 = 1 - variance()") {
  // E[cos(x - loc)] = I1(k) / I0(k) and E[sin(x - loc)] = 0; each sample mean
  // is within 5 standard errors (sd of cos or sin <= 1, estimated from the sample).
  const Tensor loc{3.0, -1.0, 0.0}, concentration{0.05, 2.0, 300.0};
  const dist::VonMises d(loc, concentration);
  constexpr std::int64_t kDraws = 20000;
  const Tensor x = d.sample(tyche::PRNGKey(9), {kDraws});
  REQUIRE(x.shape() == Shape{kDraws, 3});
  for (double v : x.to_std_vector()) REQUIRE((v >= -kPi && v < kPi));
  const Tensor variance = d.variance();
  for (std::int64_t j = 0; j < 3; ++j) {
    std::vector<double> c, s;
    for (std::int64_t i = 0; i < kDraws; ++i) {
      c.push_back(std::cos(x.at({i, j}) - element_at(loc, j)));
      s.push_back(std::sin(x.at({i, j}) - element_at(loc, j)));
    }
    const auto mean_and_error = [](const std::vector<double>& v) {
      double m = 0.0, m2 = 0.0;
      for (double e : v) m += e;
      m /= double(v.size());
      for (double e : v) m2 += (e - m) * (e - m);
      return std::pair{m, std::sqrt(m2 / double(v.size()) / double(v.size()))};
    };
    const auto [mean_cos, error_cos] = mean_and_error(c);
    const auto [mean_sin, error_sin] = mean_and_error(s);
    const double expected = bm::cyl_bessel_i(1, element_at(concentration, j)) / bm::cyl_bessel_i(0, element_at(concentration, j));
    INFO("concentration " << element_at(concentration, j) << ": mean cos " << mean_cos << " vs " << expected);
    CHECK(1.0 - element_at(variance, j) == Approx(expected).epsilon(1e-13));
    CHECK(std::abs(mean_cos - expected) <= 5.0 * error_cos + 1e-12);
    CHECK(std::abs(mean_sin) <= 5.0 * error_sin + 1e-12);
  }
  // mean() is loc wrapped into [-pi, pi), as NumPyro's.
  CHECK(dist::VonMises(4.0, 1.0).mean().item() == Approx(4.0 - 2.0 * kPi));
}

TEST_CASE("more distributions: draws follow Boost.Math's CDFs by a Kolmogorov-Smirnov test") {
  // 10000 draws: a correct sampler exceeds 1.95 / sqrt(n) with probability
  // 0.001, and the keys are fixed (as test_continuous.cpp). VonMises is
  // tested against its CDF integrated numerically.
  constexpr std::int64_t n = 10000;
  const double critical = ks_critical_value(n);
  struct Case {
    DistributionPtr d;
    std::function<double(double)> cdf;
  };
  const std::vector<Case> cases = {
      {dist::Weibull(2.0, 0.7).share(), [](double x) { return bm::cdf(bm::weibull_distribution<>(0.7, 2.0), x); }},
      {dist::Pareto(1.5, 1.2).share(), [](double x) { return bm::cdf(bm::pareto_distribution<>(1.5, 1.2), x); }},
      {dist::SkewNormal(1.0, 2.0, 5.0).share(),
       [](double x) { return bm::cdf(bm::skew_normal_distribution<>(1.0, 2.0, 5.0), x); }},
      {dist::SkewNormal(0.0, 1.0, -1.0).share(),
       [](double x) { return bm::cdf(bm::skew_normal_distribution<>(0.0, 1.0, -1.0), x); }},
      {dist::VonMises(2.5, 1.5).share(), von_mises_cdf(2.5, 1.5)},
      {dist::VonMises(-1.0, 0.3).share(), von_mises_cdf(-1.0, 0.3)},
      {dist::VonMises(0.0, 50.0).share(), von_mises_cdf(0.0, 50.0)},
  };
  std::uint64_t seed = 100;
  for (const Case& c : cases) {
    const Tensor x = c.d->sample(tyche::PRNGKey(seed++), {n});
    const double d = ks_statistic(x.to_std_vector(), c.cdf);
    INFO(c.d->name() << ": KS distance " << d << ", critical value " << critical);
    CHECK(d < critical);
  }
}

TEST_CASE("count draws have the frequencies of the mass function") {
  const Shape n{20000};
  SECTION("BetaBinomial") {
    const Tensor x = dist::BetaBinomial(0.6, 1.4, 12.0).sample(tyche::PRNGKey(21), n);
    check_frequencies(x, [](std::int64_t k) { return std::exp(beta_binomial_log_pmf(double(k), 12.0, 0.6, 1.4)); }, 12);
  }
  SECTION("GammaPoisson") {
    const Tensor x = dist::GammaPoisson(1.5, 0.5).sample(tyche::PRNGKey(22), n);
    const bm::negative_binomial nb(1.5, 0.5 / 1.5);
    check_frequencies(x, [&](std::int64_t k) { return bm::pdf(nb, double(k)); }, 60);
  }
  SECTION("ZeroInflatedPoisson") {
    const Tensor x = dist::ZeroInflatedPoisson(0.25, 3.0).sample(tyche::PRNGKey(23), n);
    check_frequencies(x, [](std::int64_t k) {
      return (k == 0 ? 0.25 : 0.0) + 0.75 * bm::pdf(bm::poisson(3.0), double(k));
    }, 20);
  }
  SECTION("ZeroInflatedNegativeBinomial2") {
    const Tensor x = dist::ZeroInflatedNegativeBinomial2(3.0, 1.5, 0.4).sample(tyche::PRNGKey(24), n);
    const bm::negative_binomial nb(1.5, 1.5 / 4.5);
    check_frequencies(x, [&](std::int64_t k) { return (k == 0 ? 0.4 : 0.0) + 0.6 * bm::pdf(nb, double(k)); }, 60);
  }
}

TEST_CASE("undefined and infinite moments follow NumPyro's conventions") {
  // alpha 0.5, 1.5 and 4 with scale 3: mean inf, 9, 4; variance inf, inf, 9 * 4 / (9 * 2).
  const dist::Pareto p(3.0, Tensor{0.5, 1.5, 4.0});
  CHECK(p.mean().at({0}) == kInf);
  CHECK(p.mean().at({1}) == Approx(9.0).epsilon(1e-14));
  CHECK(p.mean().at({2}) == Approx(4.0).epsilon(1e-14));
  CHECK(p.variance().at({0}) == kInf);
  CHECK(p.variance().at({1}) == kInf);
  CHECK(p.variance().at({2}) == Approx(2.0).epsilon(1e-14));
  // Weibull with concentration 1 is Exponential(1 / scale).
  CHECK(dist::Weibull(2.0, 1.0).mean().item() == Approx(2.0).epsilon(1e-14));
  CHECK(dist::Weibull(2.0, 1.0).variance().item() == Approx(4.0).epsilon(1e-14));
}

// ---- shapes, supports, arguments ----------------------------------------------

TEST_CASE("shapes: parameters broadcast to the batch shape, draws are sample + batch shape") {
  const dist::BetaBinomial b(Tensor{1.0, 2.0}, 3.0, Tensor{{5.0}, {10.0}});
  REQUIRE(b.batch_shape() == Shape{2, 2});
  CHECK(b.sample(tyche::PRNGKey(0), {4}).shape() == Shape{4, 2, 2});
  const Tensor lp = b.log_prob(6.0);
  CHECK(lp.at({0, 0}) == -kInf);  // above total_count 5
  CHECK(close_to_reference(lp.at({1, 1}), beta_binomial_log_pmf(6.0, 10.0, 2.0, 3.0)));
  for (const DistributionPtr& d :
       {dist::Weibull(Tensor{{1.0}, {2.0}}, Tensor{1.0, 2.0, 3.0}).share(),
        dist::Pareto(Tensor{{1.0}, {2.0}}, Tensor{1.0, 2.0, 3.0}).share(),
        dist::VonMises(Tensor{{1.0}, {2.0}}, Tensor{1.0, 2.0, 3.0}).share(),
        dist::SkewNormal(Tensor{{1.0}, {2.0}}, 1.0, Tensor{1.0, 2.0, 3.0}).share(),
        dist::GammaPoisson(Tensor{{1.0}, {2.0}}, Tensor{1.0, 2.0, 3.0}).share(),
        dist::ZeroInflatedPoisson(Tensor{{0.1}, {0.2}}, Tensor{1.0, 2.0, 3.0}).share(),
        dist::ZeroInflatedNegativeBinomial2(Tensor{{1.0}, {2.0}}, 2.0, Tensor{0.1, 0.2, 0.3}).share()}) {
    INFO(d->name());
    CHECK(d->batch_shape() == Shape{2, 3});
    CHECK(d->sample(tyche::PRNGKey(1), {5}).shape() == Shape{5, 2, 3});
    CHECK(d->log_prob(Tensor{3.0, 4.0}.reshape({2, 1, 1})).shape() == Shape{2, 2, 3});
    CHECK(d->mean().shape() == Shape{2, 3});
    CHECK(d->variance().shape() == Shape{2, 3});
  }
  CHECK_THROWS_AS(dist::Weibull(Tensor{1.0, 2.0}, Tensor{1.0, 2.0, 3.0}), tyche::ShapeError);
}

TEST_CASE("supports are NumPyro's constraints, and biject_to reaches the continuous ones") {
  namespace c = tyche::constraints;
  CHECK(dist::Weibull(1.0, 2.0).support().kind() == c::Kind::positive);
  CHECK(dist::Pareto(2.0, 3.0).support().str() == "GreaterThan(lower_bound=2)");
  CHECK(dist::VonMises(0.0, 1.0).support().kind() == c::Kind::interval);
  CHECK(dist::SkewNormal().support().kind() == c::Kind::real);
  CHECK(dist::BetaBinomial(1.0, 1.0, 5.0).support().str() == "IntegerInterval(lower_bound=0, upper_bound=5)");
  CHECK(dist::GammaPoisson(1.0).support().str() == "NonnegativeInteger()");
  CHECK(dist::ZeroInflatedPoisson(0.5).support().str() == "NonnegativeInteger()");
  CHECK(dist::BetaBinomial(1.0, 1.0).is_discrete());
  CHECK(dist::GammaPoisson(1.0).is_discrete());
  CHECK(dist::ZeroInflatedPoisson(0.5).is_discrete());
  CHECK(dist::ZeroInflatedNegativeBinomial2(1.0, 2.0, 0.5).support().str() == "NonnegativeInteger()");
  CHECK(!dist::VonMises(0.0, 1.0).is_discrete());
  const Tensor unconstrained{-30.0, 0.0, 30.0};
  for (const DistributionPtr& d : {dist::Pareto(2.0, 3.0).share(), dist::VonMises(0.0, 1.0).share(),
                                   dist::Weibull(1.0, 2.0).share()}) {
    INFO(d->name());
    const Tensor inside = d->support().check(tyche::biject_to(d->support())->forward(unconstrained));
    CHECK(tyche::sum(inside).item() == 3.0);
  }
  // SkewNormal is a location-scale family: LocScaleReparam keeps its skewness.
  const DistributionPtr moved = dist::SkewNormal(1.0, 2.0, 3.0).with_loc_scale(0.0, 1.0);
  CHECK(close_to_reference(moved->log_prob(0.5).item(), dist::SkewNormal(0.0, 1.0, 3.0).log_prob(0.5).item()));
}

TEST_CASE("more distributions: invalid parameters throw std::invalid_argument naming distribution, parameter and value") {
  using Catch::Contains;
  CHECK_THROWS_WITH(dist::Weibull(-1.0, 1.0), Contains("Weibull: scale must be positive, got -1"));
  CHECK_THROWS_WITH(dist::Weibull(1.0, Tensor{1.0, 0.0}),
                    Contains("Weibull: concentration must be positive, got 0 (element 1"));
  CHECK_THROWS_WITH(dist::Pareto(0.0, 1.0), Contains("Pareto: scale must be positive, got 0"));
  CHECK_THROWS_WITH(dist::Pareto(1.0, kInf), Contains("Pareto: alpha must be positive, got inf"));
  CHECK_THROWS_WITH(dist::VonMises(std::nan(""), 1.0), Contains("VonMises: loc must be finite, got nan"));
  CHECK_THROWS_WITH(dist::VonMises(0.0, 0.0), Contains("VonMises: concentration must be positive, got 0"));
  CHECK_THROWS_WITH(dist::SkewNormal(0.0, -2.0), Contains("SkewNormal: scale must be positive, got -2"));
  CHECK_THROWS_WITH(dist::SkewNormal(0.0, 1.0, kInf), Contains("SkewNormal: skewness must be finite, got inf"));
  CHECK_THROWS_WITH(dist::BetaBinomial(0.0, 1.0, 3.0), Contains("BetaBinomial: concentration1 must be positive, got 0"));
  CHECK_THROWS_WITH(dist::BetaBinomial(1.0, -1.0, 3.0), Contains("BetaBinomial: concentration0 must be positive, got -1"));
  CHECK_THROWS_WITH(dist::BetaBinomial(1.0, 1.0, 2.5),
                    Contains("BetaBinomial: total_count must be a nonnegative integer, got 2.5"));
  CHECK_THROWS_WITH(dist::GammaPoisson(-3.0), Contains("GammaPoisson: concentration must be positive, got -3"));
  CHECK_THROWS_WITH(dist::GammaPoisson(1.0, 0.0), Contains("GammaPoisson: rate must be positive, got 0"));
  CHECK_THROWS_WITH(dist::ZeroInflatedPoisson(1.5, 1.0), Contains("ZeroInflatedPoisson: gate must be in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(dist::ZeroInflatedPoisson(0.5, -1.0), Contains("ZeroInflatedPoisson: rate must be positive, got -1"));
  CHECK_THROWS_WITH(dist::ZeroInflatedNegativeBinomial2(-1.0, 1.0, 0.5),
                    Contains("ZeroInflatedNegativeBinomial2: mean must be positive, got -1"));
  CHECK_THROWS_WITH(dist::ZeroInflatedNegativeBinomial2(1.0, 0.0, 0.5),
                    Contains("ZeroInflatedNegativeBinomial2: concentration must be positive, got 0"));
  CHECK_THROWS_WITH(dist::ZeroInflatedNegativeBinomial2(1.0, 1.0, -0.5),
                    Contains("ZeroInflatedNegativeBinomial2: gate must be in [0, 1], got -0.5"));
  CHECK_THROWS_WITH(dist::ZeroInflatedProbs(dist::Normal().share(), 0.5),
                    Contains("ZeroInflatedProbs: the base distribution must be discrete and univariate, got Normal"));
  CHECK_THROWS_AS(dist::ZeroInflatedProbs(dist::Poisson(Tensor{1.0, 2.0}).share(), Tensor{0.1, 0.2, 0.3}),
                  tyche::ShapeError);
  CHECK_THROWS_AS(dist::Pareto(0.0, 1.0), std::invalid_argument);
}

// ---- in models ------------------------------------------------------------------

namespace {

constexpr int kMcmcDraws = 1000;

// Draws of a site, (chain, draw), against a known mean and sd. The mean lies
// within 4 Monte Carlo standard errors sd / sqrt(n_eff(x)); the sd within 4
// standard errors of its own, from the second moment's: sqrt(var((x - m)^2) /
// n_eff((x - m)^2)) / (2 sd), the delta method. The squared deviations get
// their own n_eff (as Stan's MCSE of the sd): NUTS mixes in the tails more
// slowly than near the mean, so the mean's n_eff would overstate the sd's
// precision (a von Mises site on its bounded interval, whose unconstrained
// tails are exponential, shows it).
void check_posterior(const Tensor& grouped, double mean, double sd) {
  const std::int64_t chains = grouped.dim(0), draws = grouped.dim(1);
  const Tensor x = grouped.reshape({chains, draws});
  const double m = tyche::sum(x).item() / double(x.size());
  const Tensor squared = tyche::square(x - m);
  const double m2 = tyche::sum(squared).item() / double(x.size());
  const double var_squared = tyche::sum(tyche::square(squared - m2)).item() / double(x.size());
  const double n_eff = tyche::effective_sample_size(x).item();
  const double n_eff_squared = tyche::effective_sample_size(squared).item();
  const double s = std::sqrt(m2);
  const double sd_error = std::sqrt(var_squared / n_eff_squared) / (2.0 * s);
  INFO("draws: mean " << m << " sd " << s << " n_eff " << n_eff << " (of the squares " << n_eff_squared
                      << "); expected mean " << mean << " sd " << sd << ", sd's standard error " << sd_error);
  REQUIRE(n_eff > 100);
  REQUIRE(n_eff_squared > 100);
  CHECK(std::abs(m - mean) < 4 * sd / std::sqrt(n_eff));
  CHECK(std::abs(s - sd) < 4 * sd_error);
}

}  // namespace

TEST_CASE("NUTS samples priors built from the new continuous distributions", "[mcmc][statistical]") {
  // No data: the posterior is the prior, whose moments are known.
  const auto model = [] {
    tyche::sample("weibull", dist::Weibull(1.5, 2.0));
    tyche::sample("pareto", dist::Pareto(1.5, 6.0));
    tyche::sample("von_mises", dist::VonMises(0.0, 2.0));
    tyche::sample("skew_normal", dist::SkewNormal(1.0, 2.0, 3.0));
  };
  tyche::MCMC mcmc(tyche::NUTS(model),
                   {.num_warmup = kMcmcDraws, .num_samples = kMcmcDraws, .num_chains = 2, .progress_bar = false});
  mcmc.run(11);
  const tyche::ValueMap samples = mcmc.get_samples(true);
  const auto check = [&](const std::string& site, const Distribution& d) {
    INFO(site);
    check_posterior(samples.at(site), d.mean().item(), std::sqrt(d.variance().item()));
  };
  check("weibull", dist::Weibull(1.5, 2.0));
  check("pareto", dist::Pareto(1.5, 6.0));
  check("skew_normal", dist::SkewNormal(1.0, 2.0, 3.0));
  // VonMises(0, 2) on [-pi, pi]: mean 0, and E[x^2] by Simpson's rule.
  const dist::VonMises von_mises(0.0, 2.0);
  const int n = 2000;
  double second_moment = 0.0;
  for (int i = 0; i <= n; ++i) {
    const double x = -kPi + 2.0 * kPi * i / n;
    second_moment += x * x * std::exp(von_mises.log_prob(x).item()) * (i == 0 || i == n ? 1.0 : i % 2 ? 4.0 : 2.0);
  }
  second_moment *= 2.0 * kPi / n / 3.0;
  INFO("von_mises");
  check_posterior(samples.at("von_mises"), 0.0, std::sqrt(second_moment));
}

TEST_CASE("the new count distributions work as observed sites of a model") {
  // log_density adds each site's log_prob: checked against the reference pmfs.
  const Tensor y{0.0, 3.0, 1.0, 0.0, 5.0};
  const auto model = [&y] {
    const Tensor p = tyche::sample("p", dist::Beta(2.0, 2.0));
    const Tensor rate = tyche::sample("rate", dist::Gamma(2.0, 1.0));
    tyche::plate data("data", y.size());
    tyche::sample("zip", dist::ZeroInflatedPoisson(p, rate), y);
    tyche::sample("gp", dist::GammaPoisson(2.5, rate), y);
    tyche::sample("bb", dist::BetaBinomial(p * 4.0, 2.0, 6.0), y);
  };
  const double p = 0.3, rate = 1.7;
  const auto [log_joint, trace] = tyche::log_density(model, std::tuple{}, {{"p", p}, {"rate", rate}});
  double expected = std::log(bm::pdf(bm::beta_distribution<>(2.0, 2.0), p)) +
                    std::log(bm::pdf(bm::gamma_distribution<>(2.0, 1.0), rate));
  for (double k : y.to_std_vector()) {
    expected += std::log((k == 0.0 ? p : 0.0) + (1.0 - p) * bm::pdf(bm::poisson(rate), k));
    expected += std::log(bm::pdf(bm::negative_binomial(2.5, rate / (1.0 + rate)), k));
    expected += beta_binomial_log_pmf(k, 6.0, p * 4.0, 2.0);
  }
  CHECK(log_joint.item() == Approx(expected).epsilon(1e-12));

  // NUTS samples the model's continuous sites with these likelihoods.
  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 200, .num_samples = 200, .progress_bar = false});
  mcmc.run(12);
  const tyche::ValueMap samples = mcmc.get_samples();
  for (double v : samples.at("p").to_std_vector()) REQUIRE((v > 0.0 && v < 1.0));
  for (double v : samples.at("rate").to_std_vector()) REQUIRE(v > 0.0);
}
