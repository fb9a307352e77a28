// mean() and variance() of every distribution against Boost.Math's
// boost::math::mean / variance of the same distribution, element by element
// over batch arrays (parameters of shapes (2, 3) and (3,), broadcast), with no
// sampling. Where Boost has no such distribution the reference is a closed
// form from an independent derivation, cited where it is used; where a moment
// is undefined (Boost raises a domain error) the reference is NumPyro's
// convention (NaN or infinity).
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include <tyche/tyche.hpp>

#include <boost/math/distributions/bernoulli.hpp>
#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/exponential.hpp>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/inverse_gamma.hpp>
#include <boost/math/distributions/laplace.hpp>
#include <boost/math/distributions/logistic.hpp>
#include <boost/math/distributions/lognormal.hpp>
#include <boost/math/distributions/negative_binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/poisson.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/distributions/uniform.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace dist = tyche::dist;
namespace bm = boost::math;
using tyche::Shape;
using tyche::Tensor;

using tyche_test::kInf;

struct ClosedFormMoments {
  double mean, variance;
};

// Boost's moments of `d`, or NumPyro's stand-in where Boost finds a moment
// undefined (a domain error).
template <class BoostDistribution>
ClosedFormMoments boost_moments(const BoostDistribution& d, ClosedFormMoments undefined = {kInf, kInf}) {
  ClosedFormMoments m = undefined;
  try {
    m.mean = bm::mean(d);
  } catch (const std::domain_error&) {
  }
  try {
    m.variance = bm::variance(d);
  } catch (const std::domain_error&) {
  }
  return m;
}

// Same value to 1e-12 relative (both sides are a few roundings of the same
// closed form); infinities and NaNs must match exactly.
bool same(double value, double reference) {
  if (std::isnan(reference)) return std::isnan(value);
  if (std::isinf(reference)) return value == reference;
  return std::abs(value - reference) <= 1e-12 * std::max(1.0, std::abs(reference));
}

// Checks d.mean() and d.variance() (of shape d.shape()) element by element
// against reference(parameters at that element), the parameters broadcast to
// the distribution's shape.
void check_closed_form_moments(const dist::Distribution& d, const std::vector<Tensor>& parameters,
                   const std::function<ClosedFormMoments(const std::vector<double>&)>& reference) {
  const Shape shape = d.shape();
  const Tensor mean = d.mean(), variance = d.variance();
  REQUIRE(mean.shape() == shape);
  REQUIRE(variance.shape() == shape);
  std::vector<Tensor> broadcast;
  for (const Tensor& p : parameters) broadcast.push_back(tyche::broadcast_to(p, shape));
  for (std::int64_t k = 0; k < mean.size(); ++k) {
    std::vector<double> at;
    for (const Tensor& p : broadcast) at.push_back(p.data()[k]);
    const ClosedFormMoments expected = reference(at);
    INFO(d.name() << " element " << k << ": mean " << mean.data()[k] << " vs " << expected.mean << ", variance "
                  << variance.data()[k] << " vs " << expected.variance);
    CHECK(same(mean.data()[k], expected.mean));
    CHECK(same(variance.data()[k], expected.variance));
  }
}

// Parameters of shape (2, 3) and (3,), broadcast to batch shape (2, 3).
const Tensor kLoc{{-2.0, 0.0, 0.5}, {1.0, 3.5, -0.25}};
const Tensor kScale{0.3, 1.0, 2.5};
const Tensor kPositiveParams{{0.4, 1.0, 2.5}, {3.0, 7.5, 12.0}};

}  // namespace

TEST_CASE("moments of the location-scale families match Boost.Math's") {
  check_closed_form_moments(dist::Normal(kLoc, kScale), {kLoc, kScale},
                [](const auto& p) { return boost_moments(bm::normal_distribution<>(p[0], p[1])); });
  check_closed_form_moments(dist::Laplace(kLoc, kScale), {kLoc, kScale},
                [](const auto& p) { return boost_moments(bm::laplace_distribution<>(p[0], p[1])); });
  check_closed_form_moments(dist::Logistic(kLoc, kScale), {kLoc, kScale},
                [](const auto& p) { return boost_moments(bm::logistic_distribution<>(p[0], p[1])); });
  check_closed_form_moments(dist::Uniform(kLoc, kLoc + kScale), {kLoc, kLoc + kScale},
                [](const auto& p) { return boost_moments(bm::uniform_distribution<>(p[0], p[1])); });
  // The Cauchy distribution has no mean (Boost's mean() for it does not even
  // compile): NumPyro returns NaN for both moments.
  check_closed_form_moments(dist::Cauchy(kLoc, kScale), {kLoc, kScale},
                [](const auto&) { return ClosedFormMoments{std::nan(""), std::nan("")}; });
}

TEST_CASE("moments of StudentT match Boost.Math's, with NumPyro's values where they are undefined") {
  // Boost's students_t is the standard one: loc + scale * T has mean loc and
  // variance scale^2 var(T). df = 0.6 and 1 have no mean (NumPyro: infinity,
  // variance NaN); df = 1.5 and 2 an infinite variance (Boost: infinity).
  const Tensor df{{0.6, 1.0, 1.5}, {2.0, 2.5, 30.0}};
  check_closed_form_moments(dist::StudentT(df, kLoc, kScale), {df, kLoc, kScale}, [](const auto& p) {
    const bm::students_t_distribution<> t(p[0]);
    if (p[0] <= 1.0) {
      CHECK_THROWS_AS(bm::mean(t), std::domain_error);
      return ClosedFormMoments{kInf, std::nan("")};
    }
    const ClosedFormMoments m = boost_moments(t);
    return ClosedFormMoments{p[1] + p[2] * m.mean, p[2] * p[2] * m.variance};
  });
}

TEST_CASE("moments of the positive distributions match Boost.Math's") {
  check_closed_form_moments(dist::LogNormal(kLoc, kScale), {kLoc, kScale},
                [](const auto& p) { return boost_moments(bm::lognormal_distribution<>(p[0], p[1])); });
  check_closed_form_moments(dist::Exponential(kPositiveParams), {kPositiveParams},
                [](const auto& p) { return boost_moments(bm::exponential_distribution<>(p[0])); });
  // tyche (as NumPyro) takes a rate, Boost a scale = 1 / rate.
  check_closed_form_moments(dist::Gamma(kPositiveParams, kScale), {kPositiveParams, kScale},
                [](const auto& p) { return boost_moments(bm::gamma_distribution<>(p[0], 1.0 / p[1])); });
  // InverseGamma(concentration, rate) is Boost's inverse_gamma(shape, scale =
  // rate). Concentrations 0.4 and 1 have no mean, 1 .. 2 no variance: Boost
  // raises, NumPyro gives infinity.
  const Tensor concentration{{0.4, 1.0, 1.5}, {2.0, 2.5, 12.0}};
  check_closed_form_moments(dist::InverseGamma(concentration, kScale), {concentration, kScale},
                [](const auto& p) { return boost_moments(bm::inverse_gamma_distribution<>(p[0], p[1])); });
  check_closed_form_moments(dist::Beta(kPositiveParams, kScale), {kPositiveParams, kScale},
                [](const auto& p) { return boost_moments(bm::beta_distribution<>(p[0], p[1])); });
}

TEST_CASE("moments of the half distributions match closed forms") {
  // Boost has no half-normal. |X| for X ~ N(0, s) is s times a chi
  // distribution with k = 1 degree of freedom, whose mean is
  // sqrt(2) Gamma((k + 1) / 2) / Gamma(k / 2) and second moment k
  // (Johnson, Kotz and Balakrishnan, Continuous Univariate Distributions 1,
  // ch. 18): mean s sqrt(2) / Gamma(1/2), variance s^2 - mean^2.
  check_closed_form_moments(dist::HalfNormal(kPositiveParams), {kPositiveParams}, [](const auto& p) {
    const double mean = p[0] * std::sqrt(2.0) * std::tgamma(1.0) / std::tgamma(0.5);
    return ClosedFormMoments{mean, p[0] * p[0] - mean * mean};
  });
  // |X| for X ~ Cauchy(0, s): E|X| diverges (the density decays as 1 / x^2),
  // and NumPyro returns infinity for both moments.
  check_closed_form_moments(dist::HalfCauchy(kPositiveParams), {kPositiveParams}, [](const auto&) { return ClosedFormMoments{kInf, kInf}; });
}

TEST_CASE("moments of the discrete distributions match Boost.Math's") {
  const Tensor probs{{0.05, 0.5, 0.9}, {0.3, 0.999, 0.2}};
  check_closed_form_moments(dist::BernoulliProbs(probs), {probs},
                [](const auto& p) { return boost_moments(bm::bernoulli_distribution<>(p[0])); });
  // By logits: p = 1 / (1 + exp(-logit)).
  check_closed_form_moments(dist::BernoulliLogits(kLoc), {kLoc}, [](const auto& p) {
    return boost_moments(bm::bernoulli_distribution<>(1.0 / (1.0 + std::exp(-p[0]))));
  });
  const Tensor total_count{1.0, 7.0, 40.0};
  check_closed_form_moments(dist::BinomialProbs(probs, total_count), {total_count, probs},
                [](const auto& p) { return boost_moments(bm::binomial_distribution<>(p[0], p[1])); });
  check_closed_form_moments(dist::BinomialLogits(kLoc, total_count), {total_count, kLoc}, [](const auto& p) {
    return boost_moments(bm::binomial_distribution<>(p[0], 1.0 / (1.0 + std::exp(-p[1]))));
  });
  check_closed_form_moments(dist::Poisson(kPositiveParams), {kPositiveParams},
                [](const auto& p) { return boost_moments(bm::poisson_distribution<>(p[0])); });
  // NegativeBinomial2(mean m, concentration r) counts failures before the r-th
  // success with success probability r / (r + m): Boost's negative_binomial(r, p).
  check_closed_form_moments(dist::NegativeBinomial2(kPositiveParams, kScale), {kPositiveParams, kScale}, [](const auto& p) {
    return boost_moments(bm::negative_binomial_distribution<>(p[1], p[1] / (p[1] + p[0])));
  });
  // Categories have no mean: NumPyro returns NaN, with the batch shape.
  const dist::CategoricalProbs categorical(Tensor{{0.2, 0.8}, {0.5, 0.5}, {1.0, 0.0}});
  check_closed_form_moments(categorical, {}, [](const auto&) { return ClosedFormMoments{std::nan(""), std::nan("")}; });
}

TEST_CASE("moments of Dirichlet match its Beta marginals in Boost.Math") {
  // Component i of Dirichlet(a) is Beta(a_i, sum(a) - a_i).
  const Tensor concentration{{0.5, 1.0, 2.0, 4.0}, {3.0, 0.2, 0.7, 10.0}};
  const Tensor total = tyche::sum(concentration, -1, true);
  check_closed_form_moments(dist::Dirichlet(concentration), {concentration, total}, [](const auto& p) {
    return boost_moments(bm::beta_distribution<>(p[0], p[1] - p[0]));
  });
}

TEST_CASE("moments of expanded, independent and masked distributions are their base's, broadcast") {
  const dist::Normal base(kLoc, kScale);
  check_closed_form_moments(base.expand(Shape{4, 2, 3}), {kLoc, kScale},
                [](const auto& p) { return boost_moments(bm::normal_distribution<>(p[0], p[1])); });
  check_closed_form_moments(base.to_event(1), {kLoc, kScale},
                [](const auto& p) { return boost_moments(bm::normal_distribution<>(p[0], p[1])); });
  check_closed_form_moments(base.mask(false), {kLoc, kScale},
                [](const auto& p) { return boost_moments(bm::normal_distribution<>(p[0], p[1])); });
}
