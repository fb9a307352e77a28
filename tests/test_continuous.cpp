// The univariate continuous distributions: log densities against Boost.Math,
// gradients against finite differences, draws against their moments and
// Boost.Math's CDFs, shapes, supports and argument checks.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include "log_prob_check.hpp"
#include <tyche/tyche.hpp>

#include "gradient_check.hpp"
#include "statistics.hpp"

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/cauchy.hpp>
#include <boost/math/distributions/exponential.hpp>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/inverse_gamma.hpp>
#include <boost/math/distributions/laplace.hpp>
#include <boost/math/distributions/logistic.hpp>
#include <boost/math/distributions/lognormal.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/distributions/uniform.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace tyche_test;
using tyche_test::check_moments;  // beside other files' check_moments in a unity build
namespace dist = tyche::dist;
namespace bm = boost::math;
using dist::Distribution;
using dist::DistributionPtr;

using tyche_test::kInf;

// ---- log densities -----------------------------------------------------------

const std::vector<double> kRealPoints{-30.0, -4.5, -1.0, -0.3, 0.0, 0.2, 1.7, 6.0, 55.0};
const std::vector<double> kNormalPoints{-9.0, -4.5, -1.0, -0.3, 0.0, 0.2, 1.7, 6.0, 12.0};  // pdf > 1e-300
const std::vector<double> kPositivePoints{1e-3, 0.05, 0.4, 1.0, 1.3, 2.5, 7.0, 30.0};
const std::vector<double> kUnitPoints{1e-4, 0.01, 0.2, 0.5, 0.77, 0.99, 1.0 - 1e-6};

// Element j of a parameter array.
double at(const Tensor& t, std::int64_t j) { return t.at({j}); }

}  // namespace

TEST_CASE("Normal log_prob matches Boost.Math's pdf") {
  const Tensor loc{0.0, -2.0, 3.5}, scale{1.0, 0.8, 12.0};
  check_log_prob(dist::Normal(loc, scale), kNormalPoints, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::normal_distribution<>(at(loc, j), at(scale, j)), x));
  });
}

TEST_CASE("HalfNormal log_prob is the log of twice Boost.Math's normal pdf on x > 0") {
  const Tensor scale{1.0, 2.0, 12.0};
  check_log_prob(dist::HalfNormal(scale), kPositivePoints, [&](std::int64_t j, double x) {
    return std::log(2.0 * bm::pdf(bm::normal_distribution<>(0.0, at(scale, j)), x));
  });
}

TEST_CASE("Cauchy log_prob matches Boost.Math's pdf") {
  const Tensor loc{0.0, -2.0, 3.5}, scale{1.0, 0.3, 12.0};
  check_log_prob(dist::Cauchy(loc, scale), kRealPoints, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::cauchy_distribution<>(at(loc, j), at(scale, j)), x));
  });
}

TEST_CASE("HalfCauchy log_prob is the log of twice Boost.Math's Cauchy pdf on x > 0") {
  const Tensor scale{1.0, 0.3, 12.0};
  check_log_prob(dist::HalfCauchy(scale), kPositivePoints, [&](std::int64_t j, double x) {
    return std::log(2.0 * bm::pdf(bm::cauchy_distribution<>(0.0, at(scale, j)), x));
  });
}

TEST_CASE("StudentT log_prob matches Boost.Math's students_t pdf, shifted and scaled") {
  const Tensor df{0.7, 3.0, 45.0}, loc{0.0, -2.0, 3.5}, scale{1.0, 0.3, 12.0};
  check_log_prob(dist::StudentT(df, loc, scale), kRealPoints, [&](std::int64_t j, double x) {
    const double z = (x - at(loc, j)) / at(scale, j);
    return std::log(bm::pdf(bm::students_t_distribution<>(at(df, j)), z) / at(scale, j));
  });
}

TEST_CASE("Laplace log_prob matches Boost.Math's pdf") {
  const Tensor loc{0.0, -2.0, 3.5}, scale{1.0, 0.3, 12.0};
  check_log_prob(dist::Laplace(loc, scale), kRealPoints, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::laplace_distribution<>(at(loc, j), at(scale, j)), x));
  });
}

TEST_CASE("Logistic log_prob matches Boost.Math's pdf") {
  const Tensor loc{0.0, -2.0, 3.5}, scale{1.0, 0.3, 12.0};
  check_log_prob(dist::Logistic(loc, scale), kRealPoints, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::logistic_distribution<>(at(loc, j), at(scale, j)), x));
  });
}

TEST_CASE("LogNormal log_prob matches Boost.Math's pdf") {
  const Tensor loc{0.0, -2.0, 1.5}, scale{1.0, 0.3, 2.5};
  check_log_prob(dist::LogNormal(loc, scale), kPositivePoints, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::lognormal_distribution<>(at(loc, j), at(scale, j)), x));
  });
}

TEST_CASE("Exponential log_prob matches Boost.Math's pdf") {
  const Tensor rate{1.0, 0.3, 4.0};
  check_log_prob(dist::Exponential(rate), kPositivePoints, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::exponential_distribution<>(at(rate, j)), x));
  });
}

TEST_CASE("Gamma log_prob matches Boost.Math's gamma pdf with scale 1 / rate") {
  const Tensor concentration{0.4, 1.0, 7.5}, rate{1.0, 0.3, 4.0};
  check_log_prob(dist::Gamma(concentration, rate), kPositivePoints, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::gamma_distribution<>(at(concentration, j), 1.0 / at(rate, j)), x));
  });
}

TEST_CASE("InverseGamma log_prob matches Boost.Math's inverse_gamma pdf with scale = rate") {
  const Tensor concentration{0.4, 1.0, 7.5}, rate{1.0, 0.3, 4.0};
  const std::vector<double> points{0.05, 0.4, 1.0, 1.3, 2.5, 7.0, 30.0};  // pdf underflows near 0
  check_log_prob(dist::InverseGamma(concentration, rate), points, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::inverse_gamma_distribution<>(at(concentration, j), at(rate, j)), x));
  });
}

TEST_CASE("Beta log_prob matches Boost.Math's pdf") {
  const Tensor concentration1{0.4, 1.0, 7.5}, concentration0{2.0, 0.6, 3.0};
  check_log_prob(dist::Beta(concentration1, concentration0), kUnitPoints, [&](std::int64_t j, double x) {
    return std::log(bm::pdf(bm::beta_distribution<>(at(concentration1, j), at(concentration0, j)), x));
  });
}

TEST_CASE("Beta log_prob at the end points is the density's limit: finite, +inf or -inf") {
  // Beta(1, b) at 0 has density b; Beta(a, 1) at 1 has density a.
  CHECK(close_to_reference(dist::Beta(1.0, 3.0).log_prob(0.0).item(), std::log(bm::pdf(bm::beta_distribution<>(1.0, 3.0), 0.0))));
  CHECK(close_to_reference(dist::Beta(2.5, 1.0).log_prob(1.0).item(), std::log(bm::pdf(bm::beta_distribution<>(2.5, 1.0), 1.0))));
  CHECK(dist::Beta(2.0, 3.0).log_prob(0.0).item() == -kInf);
  CHECK(dist::Beta(2.0, 3.0).log_prob(1.0).item() == -kInf);
  CHECK(dist::Beta(0.5, 3.0).log_prob(0.0).item() == kInf);
  CHECK(dist::Beta(2.0, 0.5).log_prob(1.0).item() == kInf);
}

TEST_CASE("Uniform log_prob is -log(high - low) inside, as Boost.Math's pdf") {
  const Tensor low{0.0, -2.0, 3.5}, high{1.0, 0.3, 12.0};
  const std::vector<double> points{-2.0, -0.5, 0.0, 0.25, 0.3, 1.0, 3.5, 11.0, 12.0};
  check_log_prob(dist::Uniform(low, high), points, [&](std::int64_t j, double x) {
    if (x < at(low, j) || x > at(high, j)) return -kInf;
    return std::log(bm::pdf(bm::uniform_distribution<>(at(low, j), at(high, j)), x));
  });
}

// ---- gradients -----------------------------------------------------------------

namespace {

// A distribution made from parameter arrays, with the domains its value and
// parameters are drawn from in the gradient checks.
struct Family {
  std::string name;
  std::function<DistributionPtr(const Inputs&)> make;
  Domain value;
  std::vector<Domain> parameters;
};

template <class D>
std::function<DistributionPtr(const Inputs&)> maker() {
  return [](const Inputs& p) -> DistributionPtr {
    if constexpr (std::is_constructible_v<D, Tensor, Tensor, Tensor>)
      if (p.size() == 3) return std::make_shared<D>(p[0], p[1], p[2]);
    if constexpr (std::is_constructible_v<D, Tensor, Tensor>)
      if (p.size() == 2) return std::make_shared<D>(p[0], p[1]);
    if constexpr (std::is_constructible_v<D, Tensor>)
      if (p.size() == 1) return std::make_shared<D>(p[0]);
    throw std::logic_error("no constructor for that many parameters");
  };
}

// Uniform's value lies in [-0.9, 0.9], inside every [low, high] drawn here.
const std::vector<Family> kFamilies = {
    {"Normal", maker<dist::Normal>(), kReal, {kReal, kPositive}},
    {"HalfNormal", maker<dist::HalfNormal>(), kPositive, {kPositive}},
    {"Cauchy", maker<dist::Cauchy>(), kReal, {kReal, kPositive}},
    {"HalfCauchy", maker<dist::HalfCauchy>(), kPositive, {kPositive}},
    {"StudentT", maker<dist::StudentT>(), kReal, {kPositive, kReal, kPositive}},
    {"Laplace", maker<dist::Laplace>(), kReal, {kReal, kPositive}},
    {"Logistic", maker<dist::Logistic>(), kReal, {kReal, kPositive}},
    {"LogNormal", maker<dist::LogNormal>(), kPositive, {kReal, kPositive}},
    {"Exponential", maker<dist::Exponential>(), kPositive, {kPositive}},
    {"Gamma", maker<dist::Gamma>(), kPositive, {kPositive, kPositive}},
    {"InverseGamma", maker<dist::InverseGamma>(), kPositive, {kPositive, kPositive}},
    {"Beta", maker<dist::Beta>(), kUnitInterval, {kPositive, kPositive}},
    {"Uniform", maker<dist::Uniform>(), {-0.9, 0.9}, {{-2.0, -1.0}, {1.0, 2.0}}},
};

}  // namespace

TEST_CASE("log_prob gradients with respect to the value and every parameter match finite differences") {
  // Value shapes against parameter shapes: equal, a matrix of values against
  // vector and scalar parameters, and one value against vector parameters.
  struct Shapes {
    Shape value, first, rest;
  };
  const std::vector<Shapes> patterns = {
      {{3}, {3}, {3}}, {{2, 3}, {3}, {}}, {{2, 3}, {}, {2, 1}}, {{}, {3}, {3}}};
  for (const Family& family : kFamilies)
    for (const Shapes& s : patterns) {
      std::vector<Input> inputs{{s.value, family.value}};
      for (std::size_t k = 0; k < family.parameters.size(); ++k)
        inputs.push_back({k == 0 ? s.first : s.rest, family.parameters[k]});
      check_gradient(family.name + ".log_prob",
                     [&](const Inputs& in) {
                       return family.make(Inputs(in.begin() + 1, in.end()))->log_prob(in[0]);
                     },
                     inputs);
    }
}

TEST_CASE("reparameterised draws pass gradients to their parameters") {
  // With the key fixed a draw is a smooth function of the parameters (of the
  // rate only, for Gamma and InverseGamma: the concentration picks the draw).
  const tyche::Key key = tyche::PRNGKey(7);
  const std::vector<std::pair<std::string, std::function<DistributionPtr(const Inputs&)>>> draws = {
      {"Normal", maker<dist::Normal>()},
      {"HalfNormal", [](const Inputs& p) { return DistributionPtr(std::make_shared<dist::HalfNormal>(p[1])); }},
      {"Cauchy", maker<dist::Cauchy>()},
      {"HalfCauchy", [](const Inputs& p) { return DistributionPtr(std::make_shared<dist::HalfCauchy>(p[1])); }},
      {"Laplace", maker<dist::Laplace>()},
      {"Logistic", maker<dist::Logistic>()},
      {"LogNormal", maker<dist::LogNormal>()},
      {"Exponential", [](const Inputs& p) { return DistributionPtr(std::make_shared<dist::Exponential>(p[1])); }},
      {"Gamma", [](const Inputs& p) { return DistributionPtr(std::make_shared<dist::Gamma>(2.5, p[1])); }},
      {"InverseGamma",
       [](const Inputs& p) { return DistributionPtr(std::make_shared<dist::InverseGamma>(2.5, p[1])); }},
      {"Uniform", [](const Inputs& p) { return DistributionPtr(std::make_shared<dist::Uniform>(p[0], p[0] + p[1])); }},
  };
  for (const auto& [name, make] : draws)
    check_gradient(name + ".sample", [&](const Inputs& in) { return make(in)->sample(key, {4}); },
                   {{{3}, kReal}, {{3}, kPositive}});
}

TEST_CASE("log_prob gradients stay finite at values outside the support") {
  // The log density is -inf there and flat in every input: gradient 0, not NaN.
  auto check = [](const std::string& name, const std::function<Tensor(const Tensor&)>& f, const Eigen::VectorXd& q) {
    INFO(name);
    const tyche::ValueAndGrad r = tyche::value_and_grad(f, q);
    CHECK(r.value == -kInf);
    CHECK(r.grad.isZero());
  };
  Eigen::VectorXd q(3);
  q << -1.0, 2.0, 3.0;  // value, then parameters
  check("Gamma", [](const Tensor& p) { return dist::Gamma(p[1], p[2]).log_prob(p[0]); }, q);
  check("InverseGamma", [](const Tensor& p) { return dist::InverseGamma(p[1], p[2]).log_prob(p[0]); }, q);
  check("LogNormal", [](const Tensor& p) { return dist::LogNormal(p[1], p[2]).log_prob(p[0]); }, q);
  check("Exponential", [](const Tensor& p) { return dist::Exponential(p[1] * p[2]).log_prob(p[0]); }, q);
  check("HalfNormal", [](const Tensor& p) { return dist::HalfNormal(p[1] * p[2]).log_prob(p[0]); }, q);
  check("HalfCauchy", [](const Tensor& p) { return dist::HalfCauchy(p[1] * p[2]).log_prob(p[0]); }, q);
  check("Beta", [](const Tensor& p) { return dist::Beta(p[1], p[2]).log_prob(p[0]); }, q);
  check("Uniform", [](const Tensor& p) { return dist::Uniform(p[1], p[2]).log_prob(p[0]); }, q);
  q[0] = 0.0;  // on the boundary of the positive reals, outside them
  check("Gamma at 0", [](const Tensor& p) { return dist::Gamma(p[1], p[2]).log_prob(p[0]); }, q);
}

// ---- draws -----------------------------------------------------------------------

// check_moments (statistics.hpp): each element's sample mean and variance
// within 5 Monte Carlo standard errors of mean() and variance().
TEST_CASE("sample means and variances match mean() and variance() within Monte Carlo error") {
  check_moments(dist::Normal(Tensor{0.5, -2.0}, Tensor{1.0, 3.0}), 1);
  check_moments(dist::HalfNormal(Tensor{0.5, 2.0}), 2);
  check_moments(dist::StudentT(Tensor{10.0, 12.0}, Tensor{1.0, -1.0}, Tensor{2.0, 0.5}), 3);
  check_moments(dist::Laplace(Tensor{0.5, -1.0}, Tensor{1.0, 2.0}), 4);
  check_moments(dist::Logistic(Tensor{0.5, -1.0}, Tensor{1.0, 0.3}), 5);
  check_moments(dist::LogNormal(Tensor{0.0, 1.0}, Tensor{0.5, 0.25}), 6);
  check_moments(dist::Exponential(Tensor{0.5, 3.0}), 7);
  check_moments(dist::Gamma(Tensor{0.3, 4.0}, Tensor{2.0, 0.5}), 8);
  check_moments(dist::InverseGamma(Tensor{10.0, 12.0}, Tensor{2.0, 5.0}), 9);
  check_moments(dist::Beta(Tensor{0.5, 2.0}, Tensor{0.7, 5.0}), 10);
  check_moments(dist::Uniform(Tensor{-1.0, 2.0}, Tensor{1.0, 2.5}), 11);
}

TEST_CASE("draws follow Boost.Math's CDFs by a Kolmogorov-Smirnov test") {
  // 10000 draws: a correct sampler exceeds the distance 1.95 / sqrt(n) = 0.0195
  // with probability 0.001 (the keys are fixed, so the outcome is too). A
  // scale wrong by 20% moves a normal-like CDF by about 0.04; the moment
  // checks above catch smaller errors where the moments exist, this test
  // covers the shape of the whole distribution and the heavy-tailed ones.
  constexpr std::int64_t n = 10000;
  const double critical = tyche_test::ks_critical_value(n);
  struct Case {
    DistributionPtr d;
    std::function<double(double)> cdf;
  };
  const std::vector<Case> cases = {
      {dist::StudentT(2.5, 1.0, 3.0).share(),
       [](double x) { return bm::cdf(bm::students_t_distribution<>(2.5), (x - 1.0) / 3.0); }},
      {dist::StudentT(0.6).share(), [](double x) { return bm::cdf(bm::students_t_distribution<>(0.6), x); }},
      {dist::LogNormal(0.3, 1.5).share(), [](double x) { return bm::cdf(bm::lognormal_distribution<>(0.3, 1.5), x); }},
      {dist::InverseGamma(1.5, 2.0).share(),
       [](double x) { return bm::cdf(bm::inverse_gamma_distribution<>(1.5, 2.0), x); }},
      {dist::Uniform(-1.0, 3.0).share(), [](double x) { return bm::cdf(bm::uniform_distribution<>(-1.0, 3.0), x); }},
      {dist::Cauchy(1.0, 2.0).share(), [](double x) { return bm::cdf(bm::cauchy_distribution<>(1.0, 2.0), x); }},
      {dist::HalfCauchy(2.0).share(),
       [](double x) { return 2.0 * bm::cdf(bm::cauchy_distribution<>(0.0, 2.0), x) - 1.0; }},
      {dist::HalfNormal(2.0).share(),
       [](double x) { return 2.0 * bm::cdf(bm::normal_distribution<>(0.0, 2.0), x) - 1.0; }},
      {dist::Laplace(1.0, 2.0).share(), [](double x) { return bm::cdf(bm::laplace_distribution<>(1.0, 2.0), x); }},
      {dist::Logistic(1.0, 2.0).share(), [](double x) { return bm::cdf(bm::logistic_distribution<>(1.0, 2.0), x); }},
      {dist::Exponential(2.0).share(), [](double x) { return bm::cdf(bm::exponential_distribution<>(2.0), x); }},
      {dist::Gamma(0.5, 2.0).share(), [](double x) { return bm::cdf(bm::gamma_distribution<>(0.5, 0.5), x); }},
      {dist::Beta(0.5, 3.0).share(), [](double x) { return bm::cdf(bm::beta_distribution<>(0.5, 3.0), x); }},
  };
  std::uint64_t seed = 100;
  for (const Case& c : cases) {
    const Tensor x = c.d->sample(tyche::PRNGKey(seed++), {n});
    const double d = tyche_test::ks_statistic(x.to_std_vector(), c.cdf);
    INFO(c.d->name() << ": KS distance " << d << ", critical value " << critical);
    CHECK(d < critical);
  }
}

TEST_CASE("undefined moments follow NumPyro's conventions") {
  const auto all = [](const Tensor& t, bool (*test)(double)) { return std::all_of(t.data(), t.data() + t.size(), test); };
  const auto is_nan = [&](const Tensor& t) { return all(t, [](double v) { return std::isnan(v); }); };
  const auto is_inf = [&](const Tensor& t) { return all(t, [](double v) { return v == kInf; }); };
  CHECK(is_nan(dist::Cauchy(Tensor{0.0, 1.0}, 1.0).mean()));
  CHECK(is_nan(dist::Cauchy(Tensor{0.0, 1.0}, 1.0).variance()));
  CHECK(dist::Cauchy(Tensor{0.0, 1.0}, 1.0).mean().shape() == Shape{2});
  CHECK(is_inf(dist::HalfCauchy(Tensor{1.0, 2.0}).mean()));
  CHECK(is_inf(dist::HalfCauchy(Tensor{1.0, 2.0}).variance()));

  // df 0.5, 1.5 and 4 with loc 2, scale 3: mean inf, 2, 2; variance NaN, inf, 9 * 4 / 2.
  const dist::StudentT t(Tensor{0.5, 1.5, 4.0}, 2.0, 3.0);
  const Tensor mean = t.mean(), variance = t.variance();
  CHECK(mean.at({0}) == kInf);
  CHECK(mean.at({1}) == 2.0);
  CHECK(mean.at({2}) == 2.0);
  CHECK(std::isnan(variance.at({0})));
  CHECK(variance.at({1}) == kInf);
  CHECK(variance.at({2}) == Approx(18.0).epsilon(1e-14));

  // concentration 0.5, 1.5, 4 with rate 3: mean inf, 6, 1; variance inf, inf, 1 / 2.
  const dist::InverseGamma g(Tensor{0.5, 1.5, 4.0}, 3.0);
  CHECK(g.mean().at({0}) == kInf);
  CHECK(g.mean().at({1}) == Approx(6.0).epsilon(1e-14));
  CHECK(g.mean().at({2}) == Approx(1.0).epsilon(1e-14));
  CHECK(g.variance().at({0}) == kInf);
  CHECK(g.variance().at({1}) == kInf);
  CHECK(g.variance().at({2}) == Approx(0.5).epsilon(1e-14));
}

// ---- shapes --------------------------------------------------------------------

TEST_CASE("shapes: draws are sample + batch shape, log_prob broadcasts the value against the batch") {
  const dist::Gamma d(Tensor{1.0, 2.0, 3.0}, 2.0);
  REQUIRE(d.batch_shape() == Shape{3});
  REQUIRE(d.event_shape() == Shape{});
  CHECK(d.sample(tyche::PRNGKey(0), {4}).shape() == Shape{4, 3});
  CHECK(d.sample(tyche::PRNGKey(0)).shape() == Shape{3});
  CHECK(d.log_prob(1.5).shape() == Shape{3});
  CHECK(d.log_prob(Tensor{{1.0}, {2.0}}).shape() == Shape{2, 3});
  CHECK(dist::Uniform(Tensor{0.0, 1.0}, 2.0).log_prob(Tensor{{0.5}, {1.5}, {3.0}}).shape() == Shape{3, 2});
  CHECK_THROWS_AS(d.log_prob(Tensor{1.0, 2.0}), tyche::ShapeError);
  // Parameters of shapes (2, 1) and (3,) broadcast to the batch shape (2, 3).
  CHECK(dist::StudentT(Tensor{{3.0}, {4.0}}, Tensor{0.0, 1.0, 2.0}).batch_shape() == Shape{2, 3});
  CHECK(dist::StudentT(Tensor{{3.0}, {4.0}}, Tensor{0.0, 1.0, 2.0}).sample(tyche::PRNGKey(1), {5}).shape() ==
        Shape{5, 2, 3});
  CHECK_THROWS_AS(dist::Beta(Tensor{1.0, 2.0}, Tensor{1.0, 2.0, 3.0}), tyche::ShapeError);
}

TEST_CASE("expand, to_event and mask work on a continuous distribution") {
  const dist::LogNormal d(Tensor{0.0, 1.0, 2.0}, 0.5);
  const auto expanded = d.expand({4, 3});
  const Tensor x = expanded.sample(tyche::PRNGKey(3), {2});
  REQUIRE(x.shape() == Shape{2, 4, 3});
  const Tensor lp = expanded.log_prob(x);
  REQUIRE(lp.shape() == Shape{2, 4, 3});
  CHECK(lp.at({1, 2, 0}) == Approx(std::log(bm::pdf(bm::lognormal_distribution<>(0.0, 0.5), x.at({1, 2, 0})))));

  const auto independent = expanded.to_event(1);
  CHECK(independent.batch_shape() == Shape{4});
  CHECK(independent.event_shape() == Shape{3});
  const Tensor summed = independent.log_prob(x);
  REQUIRE(summed.shape() == Shape{2, 4});
  CHECK(summed.at({1, 2}) == Approx(lp.at({1, 2, 0}) + lp.at({1, 2, 1}) + lp.at({1, 2, 2})).epsilon(1e-13));

  const Tensor masked = d.mask(Tensor{1.0, 0.0, 1.0}).log_prob(Tensor{-1.0, -1.0, 2.0});
  CHECK(masked.at({0}) == -kInf);
  CHECK(masked.at({1}) == 0.0);
  CHECK(masked.at({2}) == Approx(std::log(bm::pdf(bm::lognormal_distribution<>(2.0, 0.5), 2.0))));
}

// ---- supports and arguments -----------------------------------------------------

TEST_CASE("a value outside the support has log_prob -inf, not NaN, for every bounded distribution") {
  const auto minus_inf = [](const Tensor& lp) {
    return std::all_of(lp.data(), lp.data() + lp.size(), [](double v) { return v == -kInf; });
  };
  const Tensor negative{-1.0, -1e-300, 0.0, -kInf};
  CHECK(minus_inf(dist::HalfNormal(1.0).log_prob(negative)));
  CHECK(minus_inf(dist::HalfCauchy(1.0).log_prob(negative)));
  CHECK(minus_inf(dist::LogNormal(0.0, 1.0).log_prob(negative)));
  CHECK(minus_inf(dist::Exponential(2.0).log_prob(negative)));
  CHECK(minus_inf(dist::Gamma(0.5, 2.0).log_prob(negative)));
  CHECK(minus_inf(dist::Gamma(3.0, 2.0).log_prob(negative)));
  CHECK(minus_inf(dist::InverseGamma(3.0, 2.0).log_prob(negative)));
  CHECK(minus_inf(dist::Beta(0.5, 0.5).log_prob(Tensor{-0.5, 1.5, -1e-12, 1.0 + 1e-12, kInf})));
  CHECK(minus_inf(dist::Uniform(-1.0, 2.0).log_prob(Tensor{-1.5, 2.0 + 1e-12, kInf, -kInf})));
  CHECK(minus_inf(dist::Uniform(Tensor{-1.0, 0.0}, Tensor{0.0, 1.0}).log_prob(Tensor{0.5, -0.5})));
  // The bounds themselves belong to the uniform's support.
  CHECK(dist::Uniform(-1.0, 2.0).log_prob(Tensor{-1.0, 2.0}).at({1}) == Approx(-std::log(3.0)));
  CHECK(dist::Uniform(-1.0, 2.0).log_prob(-1.0).item() == Approx(-std::log(3.0)));
}

TEST_CASE("supports are NumPyro's constraints") {
  namespace c = tyche::constraints;
  CHECK(dist::Normal().support().kind() == c::Kind::real);
  CHECK(dist::Cauchy().support().kind() == c::Kind::real);
  CHECK(dist::StudentT(3.0).support().kind() == c::Kind::real);
  CHECK(dist::Laplace().support().kind() == c::Kind::real);
  CHECK(dist::Logistic().support().kind() == c::Kind::real);
  CHECK(dist::HalfNormal().support().kind() == c::Kind::positive);
  CHECK(dist::HalfCauchy().support().kind() == c::Kind::positive);
  CHECK(dist::LogNormal().support().kind() == c::Kind::positive);
  CHECK(dist::Exponential().support().kind() == c::Kind::positive);
  CHECK(dist::Gamma(2.0).support().kind() == c::Kind::positive);
  CHECK(dist::InverseGamma(2.0).support().kind() == c::Kind::positive);
  CHECK(dist::Beta(2.0, 2.0).support().kind() == c::Kind::unit_interval);
  CHECK(dist::Uniform(-1.0, 2.0).support().str() == "Interval(lower_bound=-1, upper_bound=2)");
}

TEST_CASE("invalid parameters throw std::invalid_argument naming distribution, parameter and value") {
  using Catch::Contains;
  CHECK_THROWS_WITH(dist::Normal(0.0, -1.0), Contains("Normal: scale must be positive, got -1"));
  CHECK_THROWS_WITH(dist::HalfNormal(0.0), Contains("HalfNormal: scale must be positive, got 0"));
  CHECK_THROWS_WITH(dist::Cauchy(kInf, 1.0), Contains("Cauchy: loc must be finite, got inf"));
  CHECK_THROWS_WITH(dist::HalfCauchy(-2.0), Contains("HalfCauchy: scale must be positive, got -2"));
  CHECK_THROWS_WITH(dist::StudentT(Tensor{1.0, -3.0}), Contains("StudentT: df must be positive, got -3 (element 1"));
  CHECK_THROWS_WITH(dist::StudentT(1.0, 0.0, 0.0), Contains("StudentT: scale must be positive, got 0"));
  CHECK_THROWS_WITH(dist::Laplace(0.0, -1.0), Contains("Laplace: scale must be positive, got -1"));
  CHECK_THROWS_WITH(dist::Logistic(std::nan(""), 1.0), Contains("Logistic: loc must be finite, got nan"));
  CHECK_THROWS_WITH(dist::LogNormal(0.0, kInf), Contains("LogNormal: scale must be positive, got inf"));
  CHECK_THROWS_WITH(dist::Exponential(-0.5), Contains("Exponential: rate must be positive, got -0.5"));
  CHECK_THROWS_WITH(dist::Gamma(-1.0), Contains("Gamma: concentration must be positive, got -1"));
  CHECK_THROWS_WITH(dist::Gamma(1.0, 0.0), Contains("Gamma: rate must be positive, got 0"));
  CHECK_THROWS_WITH(dist::InverseGamma(0.0), Contains("InverseGamma: concentration must be positive, got 0"));
  CHECK_THROWS_WITH(dist::Beta(1.0, -1.0), Contains("Beta: concentration0 must be positive, got -1"));
  CHECK_THROWS_WITH(dist::Beta(-4.0, 1.0), Contains("Beta: concentration1 must be positive, got -4"));
  CHECK_THROWS_WITH(dist::Uniform(2.0, 1.0), Contains("Uniform: low must be less than high, got low 2 and high 1"));
  CHECK_THROWS_WITH(dist::Uniform(Tensor{0.0, 1.0}, 1.0),
                    Contains("Uniform: low must be less than high, got low 1 and high 1 (element 1"));
  CHECK_THROWS_WITH(dist::Uniform(-kInf, 1.0), Contains("Uniform: low must be finite, got -inf"));
  CHECK_THROWS_AS(dist::Gamma(-1.0), std::invalid_argument);
}

TEST_CASE("ImproperUniform has log density 0 on its support and -inf off it, and cannot be sampled") {
  using Catch::Contains;
  const dist::ImproperUniform d(tyche::constraints::positive, {2}, {3});
  CHECK(d.batch_shape() == Shape{2});
  CHECK(d.event_shape() == Shape{3});
  CHECK(d.support().event_dim() == 1);
  const Tensor lp = d.log_prob(Tensor{{1.0, 2.0, 3.0}, {1.0, -2.0, 3.0}});
  REQUIRE(lp.shape() == Shape{2});
  CHECK(lp.at({0}) == 0.0);
  CHECK(lp.at({1}) == -kInf);
  CHECK(d.log_prob(Tensor{0.5, 0.5, 0.5}).shape() == Shape{2});  // broadcast against the batch

  const dist::ImproperUniform real(tyche::constraints::real, {}, {});
  CHECK(real.log_prob(Tensor{-1e300, 0.0, 7.0}).shape() == Shape{3});
  CHECK(real.log_prob(Tensor{-1e300, 0.0, 7.0}).at({0}) == 0.0);
  const dist::ImproperUniform simplex(tyche::constraints::simplex, {}, {2});
  CHECK(simplex.log_prob(Tensor{0.25, 0.75}).item() == 0.0);
  CHECK(simplex.log_prob(Tensor{0.5, 0.75}).item() == -kInf);

  CHECK_THROWS_WITH(d.sample(tyche::PRNGKey(0)), Contains("ImproperUniform cannot be sampled"));
  CHECK_THROWS_AS(d.sample(tyche::PRNGKey(0)), std::logic_error);
  CHECK_THROWS_WITH(d.mean(), Contains("ImproperUniform cannot have a mean"));
  CHECK_THROWS_WITH(dist::ImproperUniform(tyche::constraints::simplex, {}, {}),
                    Contains("ImproperUniform: the support Simplex() has 1 event dimensions but event_shape ()"));

  // Gradient 0 in the value, inside the support.
  const auto r = tyche::value_and_grad(
      [&](const Tensor& q) { return tyche::sum(d.log_prob(q.reshape({2, 3}))); },
      Eigen::VectorXd::Constant(6, 1.5));
  CHECK(r.value == 0.0);
  CHECK(r.grad.isZero());
}

TEST_CASE("a compiled log density re-checks the support when replayed at new values") {
  // Recorded inside the support, replayed outside it and inside again.
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> cases = {
      {"Gamma", [](const Tensor& q) { return tyche::sum(dist::Gamma(2.0, 3.0).log_prob(q)); }},
      {"Beta", [](const Tensor& q) { return tyche::sum(dist::Beta(2.0, 3.0).log_prob(q)); }},
      {"Uniform", [](const Tensor& q) { return tyche::sum(dist::Uniform(0.0, 1.0).log_prob(q)); }},
  };
  for (const auto& [name, f] : cases) {
    INFO(name);
    auto compiled = tyche::compile_gradient(f, Eigen::Vector2d(0.25, 0.5));
    Eigen::VectorXd g(2);
    for (const Eigen::Vector2d& q : {Eigen::Vector2d(0.3, -0.5), Eigen::Vector2d(0.3, 0.6)}) {
      const tyche::ValueAndGrad expected = tyche::value_and_grad(f, q);
      CHECK(compiled(q, g) == expected.value);
      CHECK(g == expected.grad);
    }
  }
}

TEST_CASE("a compiled log_prob re-checks the support at the point it is replayed at") {
  const auto f = [](const tyche::Tensor& q) {
    return tyche::sum(tyche::dist::ImproperUniform(tyche::constraints::unit_interval, {2}, {}).log_prob(q));
  };
  Eigen::VectorXd inside(2), outside(2), g(2);
  inside << 0.25, 0.5;
  outside << 0.3, -0.5;
  auto compiled = tyche::compile_gradient(f, inside);
  CHECK(compiled(inside, g) == 0.0);
  CHECK(compiled(outside, g) == -std::numeric_limits<double>::infinity());
}

TEST_CASE("constraint bounds may have more axes than the value") {
  const tyche::Tensor ok = tyche::constraints::interval(tyche::Tensor{0.0, 1.0}, 2.0).check(0.5);
  CHECK(ok.shape() == tyche::Shape{2});
  CHECK(ok.at({0}) == 1.0);
  CHECK(ok.at({1}) == 0.0);
}
