// The discrete distributions: log mass functions against Boost.Math and
// closed forms, parameter gradients against finite differences, draws against
// the mass functions (chi-square) and against mean() and variance(), the
// support, and argument checking.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include "statistics.hpp"
#include <tyche/distributions/discrete.hpp>
#include <tyche/tyche.hpp>

#include <boost/math/distributions/bernoulli.hpp>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/negative_binomial.hpp>
#include <boost/math/distributions/poisson.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "gradient_check.hpp"

namespace dist = tyche::dist;
using tyche::Shape;
using tyche::Tensor;
using tyche_test::check_gradient;
using tyche_test::Input;
using tyche_test::Inputs;

namespace {

using tyche_test::check_frequencies;
using tyche_test::kInf;

double lp_at(const dist::Distribution& d, double k) { return d.log_prob(Tensor(k)).item(); }

// Sample mean and variance against mean() and variance(): the tolerance is
// 5 Monte Carlo standard errors, sqrt(var / n) for the mean and
// sqrt((m4 - var^2) / n) for the variance (m4 the sample fourth central
// moment), so a correct distribution fails with probability ~1e-6 and a wrong
// moment formula of the usual kind (off by a factor or a term) is caught.
void check_draw_moments(const Tensor& draws, double mean, double variance) {
  const Eigen::ArrayXd x = draws.to_vector().array();
  const double n = double(x.size()), m = x.mean();
  const double var = (x - m).square().sum() / (n - 1.0), m4 = (x - m).pow(4).mean();
  INFO("sample mean " << m << " vs " << mean << ", sample variance " << var << " vs " << variance);
  CHECK(std::abs(m - mean) < 5.0 * std::sqrt(variance / n));
  CHECK(std::abs(var - variance) < 5.0 * std::sqrt((m4 - var * var) / n));
}

}  // namespace

TEST_CASE("Bernoulli log_prob matches Boost.Math's pmf, by probs and by logits") {
  for (double p : {0.0, 0.1, 0.5, 0.93, 1.0})
    for (double k : {0.0, 1.0}) {
      INFO("p = " << p << ", k = " << k);
      const double expected = std::log(boost::math::pdf(boost::math::bernoulli(p), k));
      CHECK(lp_at(dist::Bernoulli({.probs = p}), k) == Approx(expected).epsilon(1e-13));
      CHECK(lp_at(dist::BernoulliProbs(p), k) == Approx(expected).epsilon(1e-13));
      if (p > 0.0 && p < 1.0) {
        const double eta = std::log(p / (1.0 - p));
        CHECK(lp_at(dist::Bernoulli({.logits = eta}), k) == Approx(expected).epsilon(1e-12));
        CHECK(lp_at(dist::BernoulliLogits(eta), k) == Approx(expected).epsilon(1e-12));
      }
    }
  const dist::Bernoulli d({.logits = Tensor{-1.0, 2.0}});
  CHECK(d.batch_shape() == Shape{2});
  CHECK(d.log_prob(Tensor{{1.0}, {0.0}, {1.0}}).shape() == Shape{3, 2});
  CHECK(d.name() == "BernoulliLogits");
  CHECK(dist::Bernoulli({.probs = 0.2}).name() == "BernoulliProbs");
  CHECK(dist::Bernoulli({.logits = 0.3}).probs().item() == Approx(1.0 / (1.0 + std::exp(-0.3))));
}

TEST_CASE("Binomial log_prob matches Boost.Math's pmf, by probs and by logits") {
  for (double n : {1.0, 12.0, 40.0})
    for (double p : {0.0, 0.3, 0.97, 1.0})
      for (double k = 0.0; k <= n; k += 1.0) {
        INFO("n = " << n << ", p = " << p << ", k = " << k);
        const double expected = std::log(boost::math::pdf(boost::math::binomial(n, p), k));
        CHECK(lp_at(dist::Binomial({.total_count = n, .probs = p}), k) == Approx(expected).epsilon(1e-12));
        if (p > 0.0 && p < 1.0)
          CHECK(lp_at(dist::BinomialLogits(std::log(p / (1.0 - p)), n), k) == Approx(expected).epsilon(1e-12));
      }
  // total_count broadcasts with the probabilities and bounds the support per element.
  const dist::Binomial d({.total_count = Tensor{{3.0}, {5.0}}, .probs = Tensor{0.2, 0.6}});
  CHECK(d.batch_shape() == Shape{2, 2});
  const Tensor lp = d.log_prob(4.0);
  CHECK(lp.at({0, 0}) == -kInf);
  CHECK(lp.at({1, 1}) == Approx(std::log(boost::math::pdf(boost::math::binomial(5.0, 0.6), 4.0))));
  CHECK(dist::BinomialProbs(0.5).total_count().item() == 1.0);
}

TEST_CASE("Poisson log_prob matches Boost.Math's pmf") {
  for (double rate : {0.05, 3.5, 150.0})
    for (double k : {0.0, 1.0, 4.0, 140.0, 300.0}) {
      INFO("rate = " << rate << ", k = " << k);
      // Where Boost's pmf underflows, the closed form in the standard library's lgamma.
      const double pmf = boost::math::pdf(boost::math::poisson(rate), k);
      const double expected = pmf > 0.0 ? std::log(pmf) : k * std::log(rate) - rate - std::lgamma(k + 1.0);
      CHECK(lp_at(dist::Poisson(rate), k) == Approx(expected).epsilon(1e-12));
    }
}

TEST_CASE("NegativeBinomial2 log_prob matches Boost.Math's negative binomial pmf") {
  // Boost counts failures k before r successes of probability p:
  // r = concentration, p = concentration / (concentration + mean).
  for (double mean : {0.4, 3.0, 80.0})
    for (double c : {0.3, 2.0, 25.0})
      for (double k : {0.0, 1.0, 5.0, 70.0}) {
        INFO("mean = " << mean << ", concentration = " << c << ", k = " << k);
        const double expected =
            std::log(boost::math::pdf(boost::math::negative_binomial(c, c / (c + mean)), k));
        CHECK(lp_at(dist::NegativeBinomial2(mean, c), k) == Approx(expected).epsilon(1e-11));
      }
}

TEST_CASE("Categorical log_prob is the log of the normalised probability of the category") {
  const Tensor logits{{0.5, -1.0, 2.0}, {0.0, 0.0, -3.0}};
  const dist::Categorical by_logits({.logits = logits});
  REQUIRE(by_logits.batch_shape() == Shape{2});
  const Tensor values{{2.0, 0.0}, {1.0, 2.0}, {0.0, 1.0}};
  const Tensor lp = by_logits.log_prob(values);
  REQUIRE(lp.shape() == Shape{3, 2});
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t b = 0; b < 2; ++b) {
      double total = 0.0;
      for (std::int64_t j = 0; j < 3; ++j) total += std::exp(logits.at({b, j}));
      const auto k = std::int64_t(values.at({i, b}));
      CHECK(lp.at({i, b}) == Approx(logits.at({b, k}) - std::log(total)).epsilon(1e-13));
    }
  const Tensor probs{0.1, 0.0, 0.25, 0.65};
  const dist::CategoricalProbs by_probs(probs);
  for (std::int64_t k = 0; k < 4; ++k) CHECK(lp_at(by_probs, double(k)) == Approx(std::log(probs.at({k}))));
  CHECK(lp_at(by_probs, 1.0) == -kInf);
  // A value of shape (n,) against batch (): shape (n,).
  CHECK(by_probs.log_prob(Tensor{0.0, 3.0, 3.0}).shape() == Shape{3});
  CHECK(by_probs.num_categories() == 4);
  const Tensor mean = by_logits.mean(), variance = by_logits.variance();
  CHECK(mean.shape() == Shape{2});
  CHECK(std::isnan(mean.at({0})));
  CHECK(std::isnan(variance.at({1})));
}

TEST_CASE("xlogy and xlog1py are 0 at x = 0 and differentiable elsewhere") {
  CHECK(tyche::xlogy(0.0, 0.0).item() == 0.0);
  CHECK(tyche::xlogy(0.0, 2.0).item() == 0.0);
  CHECK(tyche::xlogy(2.0, 3.0).item() == Approx(2.0 * std::log(3.0)));
  CHECK(tyche::xlogy(1.0, 0.0).item() == -kInf);
  CHECK(tyche::xlog1py(0.0, -1.0).item() == 0.0);
  CHECK(tyche::xlog1py(2.0, 0.5).item() == Approx(2.0 * std::log1p(0.5)));
  // At x = 0 the derivative in x is still log y.
  const auto g = tyche::value_and_grad([](const Tensor& q) { return tyche::xlogy(q[0], 3.0); }, Eigen::VectorXd::Zero(1));
  CHECK(g.grad[0] == Approx(std::log(3.0)));
  const auto h = tyche::value_and_grad([](const Tensor& q) { return tyche::xlogy(0.0, q[0]); }, Eigen::VectorXd::Zero(1));
  CHECK(h.grad[0] == 0.0);
  check_gradient("xlogy", [](const Inputs& in) { return tyche::xlogy(in[0], in[1]); },
                 {{Shape{4}, tyche_test::kReal}, {Shape{4}, tyche_test::kPositive}});
  check_gradient("xlog1py", [](const Inputs& in) { return tyche::xlog1py(in[0], in[1]); },
                 {{Shape{4}, tyche_test::kReal}, {Shape{4}, tyche_test::kUnitInterval}});
}

TEST_CASE("discrete log_prob gradients with respect to the parameters match finite differences") {
  const Tensor bits{1.0, 0.0, 0.0, 1.0}, counts{0.0, 3.0, 7.0, 2.0};
  check_gradient("BernoulliProbs", [&](const Inputs& in) { return dist::BernoulliProbs(in[0]).log_prob(bits); },
                 {{Shape{4}, tyche_test::kUnitInterval}});
  check_gradient("BernoulliLogits", [&](const Inputs& in) { return dist::BernoulliLogits(in[0]).log_prob(bits); },
                 {{Shape{4}, tyche_test::kReal}});
  check_gradient("BinomialProbs",
                 [&](const Inputs& in) { return dist::Binomial({.total_count = 7.0, .probs = in[0]}).log_prob(counts); },
                 {{Shape{4}, tyche_test::kUnitInterval}});
  check_gradient("BinomialLogits",
                 [&](const Inputs& in) { return dist::Binomial({.total_count = 7.0, .logits = in[0]}).log_prob(counts); },
                 {{Shape{4}, tyche_test::kReal}});
  check_gradient("Poisson", [&](const Inputs& in) { return dist::Poisson(in[0]).log_prob(counts); },
                 {{Shape{4}, tyche_test::kPositive}});
  check_gradient("NegativeBinomial2",
                 [&](const Inputs& in) { return dist::NegativeBinomial2(in[0], in[1]).log_prob(counts); },
                 {{Shape{4}, tyche_test::kPositive}, {Shape{1}, tyche_test::kPositive}});
  const Tensor categories{{2.0, 0.0, 1.0}, {2.0, 2.0, 0.0}};
  check_gradient("CategoricalLogits", [&](const Inputs& in) { return dist::CategoricalLogits(in[0]).log_prob(categories); },
                 {{Shape{3, 3}, tyche_test::kReal}});
  // Probabilities made from positive weights, so that every evaluation lies on the simplex.
  check_gradient("CategoricalProbs",
                 [&](const Inputs& in) { return dist::CategoricalProbs(in[0] / tyche::sum(in[0])).log_prob(categories); },
                 {{Shape{3}, tyche_test::kPositive}});
  // Mean and variance carry gradients too.
  check_gradient("NegativeBinomial2 variance",
                 [&](const Inputs& in) { return dist::NegativeBinomial2(in[0], in[1]).variance(); },
                 {{Shape{2}, tyche_test::kPositive}, {Shape{2}, tyche_test::kPositive}});
}

TEST_CASE("discrete draws have the frequencies of the mass function") {
  // 20000 draws each with fixed keys; see check_frequencies for the level.
  const Shape n{20000};
  SECTION("Bernoulli") {
    const Tensor x = dist::Bernoulli({.logits = -0.8}).sample(tyche::PRNGKey(1), n);
    const double p = 1.0 / (1.0 + std::exp(0.8));
    check_frequencies(x, [&](std::int64_t k) { return k == 1 ? p : 1.0 - p; }, 1);
  }
  SECTION("Binomial") {
    const Tensor x = dist::Binomial({.total_count = 10, .probs = 0.35}).sample(tyche::PRNGKey(2), n);
    check_frequencies(x, [](std::int64_t k) { return boost::math::pdf(boost::math::binomial(10, 0.35), double(k)); }, 10);
  }
  SECTION("Binomial by logits with a large count") {
    const Tensor x = dist::BinomialLogits(0.4, 200.0).sample(tyche::PRNGKey(3), n);
    const double p = 1.0 / (1.0 + std::exp(-0.4));
    check_frequencies(x, [&](std::int64_t k) { return boost::math::pdf(boost::math::binomial(200, p), double(k)); }, 200);
  }
  SECTION("Poisson") {
    for (double rate : {4.0, 35.0}) {
      const Tensor x = dist::Poisson(rate).sample(tyche::PRNGKey(4), n);
      check_frequencies(x, [&](std::int64_t k) { return boost::math::pdf(boost::math::poisson(rate), double(k)); }, 100);
    }
  }
  SECTION("NegativeBinomial2") {
    const Tensor x = dist::NegativeBinomial2(3.0, 1.5).sample(tyche::PRNGKey(5), n);
    const boost::math::negative_binomial nb(1.5, 1.5 / 4.5);
    check_frequencies(x, [&](std::int64_t k) { return boost::math::pdf(nb, double(k)); }, 60);
  }
  SECTION("Categorical") {
    const Tensor probs{0.1, 0.2, 0.3, 0.4};
    const Tensor x = dist::Categorical({.probs = probs}).sample(tyche::PRNGKey(6), n);
    check_frequencies(x, [&](std::int64_t k) { return k < 4 ? probs.at({k}) : 0.0; }, 3);
    const Tensor y = dist::Categorical({.logits = tyche::log(probs)}).sample(tyche::PRNGKey(7), n);
    check_frequencies(y, [&](std::int64_t k) { return k < 4 ? probs.at({k}) : 0.0; }, 3);
  }
}

TEST_CASE("discrete sample moments match mean() and variance()") {
  // 40000 draws each; check_moments explains the tolerance.
  const Shape n{40000};
  const auto check = [&](const dist::Distribution& d, std::uint32_t seed) {
    INFO(d.name());
    check_draw_moments(d.sample(tyche::PRNGKey(seed), n), d.mean().item(), d.variance().item());
  };
  check(dist::Bernoulli({.probs = 0.3}), 11);
  check(dist::Bernoulli({.logits = 1.7}), 12);
  check(dist::Binomial({.total_count = 25, .probs = 0.8}), 13);
  check(dist::Binomial({.total_count = 9, .logits = -0.5}), 14);
  check(dist::Poisson(7.5), 15);
  check(dist::NegativeBinomial2(6.0, 0.8), 16);
  CHECK(dist::NegativeBinomial2(6.0, 0.8).variance().item() == Approx(6.0 + 36.0 / 0.8));
}

TEST_CASE("discrete draws have shape sample_shape + batch_shape") {
  const Tensor p{0.2, 0.7, 0.5};
  CHECK(dist::Bernoulli({.probs = p}).sample(tyche::PRNGKey(0), {4}).shape() == Shape{4, 3});
  CHECK(dist::Poisson(Tensor{{1.0}, {2.0}}).sample(tyche::PRNGKey(0), {5}).shape() == Shape{5, 2, 1});
  CHECK(dist::Categorical({.logits = Tensor{{0.0, 1.0}, {1.0, 0.0}, {2.0, 2.0}}}).sample(tyche::PRNGKey(0), {6}).shape() ==
        Shape{6, 3});
  CHECK(dist::Binomial({.total_count = Tensor{3.0, 4.0}, .probs = 0.5}).sample(tyche::PRNGKey(0)).shape() == Shape{2});
  CHECK(dist::NegativeBinomial2(Tensor{1.0, 2.0}, 3.0).sample(tyche::PRNGKey(0), {2, 2}).shape() == Shape{2, 2, 2});
}

TEST_CASE("discrete log_prob is -infinity outside the support, never NaN, with a finite gradient") {
  const auto minus_inf = [](const Tensor& lp) {
    for (double v : lp.to_std_vector()) {
      INFO("log_prob " << v);
      CHECK(v == -kInf);
    }
  };
  minus_inf(dist::Poisson(3.0).log_prob(Tensor{2.5, -1.0, -0.5}));
  minus_inf(dist::Bernoulli({.probs = 0.4}).log_prob(Tensor{0.5, 2.0, -1.0}));
  minus_inf(dist::Bernoulli({.logits = 0.4}).log_prob(Tensor{0.5, 2.0, -1.0}));
  minus_inf(dist::Categorical({.logits = Tensor{0.0, 1.0, 2.0}}).log_prob(Tensor{3.0, -1.0, 1.5}));
  minus_inf(dist::Categorical({.probs = Tensor{0.5, 0.5}}).log_prob(Tensor{2.0, -1.0, 0.5}));
  minus_inf(dist::Binomial({.total_count = 5, .probs = 0.3}).log_prob(Tensor{6.0, -1.0, 2.5}));
  minus_inf(dist::Binomial({.total_count = 5, .logits = 0.3}).log_prob(Tensor{6.0, -1.0, 2.5}));
  minus_inf(dist::NegativeBinomial2(2.0, 3.0).log_prob(Tensor{-1.0, 0.5, -2.0}));
  CHECK(dist::Poisson(3.0).support().str() == "NonnegativeInteger()");
  CHECK(dist::Binomial({.total_count = 5, .probs = 0.3}).support().str() ==
        "IntegerInterval(lower_bound=0, upper_bound=5)");
  CHECK(dist::Categorical({.logits = Tensor{0.0, 1.0, 2.0}}).support().str() ==
        "IntegerInterval(lower_bound=0, upper_bound=2)");
  CHECK(dist::Bernoulli({.probs = 0.4}).is_discrete());
  // Outside the support the parameter gets a zero gradient, not NaN.
  const auto g = tyche::value_and_grad(
      [](const Tensor& q) {
        return tyche::sum(dist::Poisson(q[0]).log_prob(Tensor{2.5, -1.0, 2.0})) +
               tyche::sum(dist::Binomial({.total_count = 3.0, .probs = q[1]}).log_prob(Tensor{4.0, -1.0}));
      },
      Eigen::Vector2d(3.0, 0.4));
  CHECK(g.value == -kInf);
  CHECK(g.grad.allFinite());
}

TEST_CASE("discrete distributions reject invalid parameters with a message naming them") {
  using Catch::Contains;
  CHECK_THROWS_WITH(dist::Poisson(-1.0), Contains("Poisson: rate must be positive, got -1"));
  CHECK_THROWS_WITH(dist::Poisson(Tensor{1.0, 0.0}), Contains("Poisson: rate must be positive, got 0 (element 1"));
  CHECK_THROWS_WITH(dist::Bernoulli({.probs = 1.5}), Contains("BernoulliProbs: probs must be in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(dist::BernoulliProbs(-0.1), Contains("BernoulliProbs: probs must be in [0, 1], got -0.1"));
  CHECK_THROWS_WITH(dist::Bernoulli({}), Contains("Bernoulli: give exactly one of probs and logits, got neither"));
  CHECK_THROWS_WITH(dist::Bernoulli({.probs = 0.5, .logits = 0.0}),
                    Contains("Bernoulli: give exactly one of probs and logits, got both"));
  CHECK_THROWS_WITH(dist::Bernoulli({.logits = std::nan("")}), Contains("BernoulliLogits: logits must be finite"));
  CHECK_THROWS_WITH(dist::Binomial({.total_count = 10}), Contains("Binomial: give exactly one of probs and logits"));
  CHECK_THROWS_WITH(dist::Binomial({.total_count = 2.5, .probs = 0.5}),
                    Contains("BinomialProbs: total_count must be a nonnegative integer, got 2.5"));
  CHECK_THROWS_WITH(dist::Binomial({.total_count = 4, .probs = 1.2}), Contains("BinomialProbs: probs must be in [0, 1]"));
  CHECK_THROWS_WITH(dist::Categorical({.probs = Tensor{0.5, 0.6}}),
                    Contains("CategoricalProbs: probs summed over the last axis must be 1, got 1.1"));
  CHECK_THROWS_WITH(dist::Categorical({.probs = Tensor{0.5, 0.6}, .logits = Tensor{0.0, 1.0}}),
                    Contains("Categorical: give exactly one of probs and logits, got both"));
  CHECK_THROWS_WITH(dist::Categorical({.logits = Tensor{0.0, kInf}}), Contains("CategoricalLogits: logits must be"));
  CHECK_THROWS_AS(dist::Categorical({.logits = 1.0}), tyche::ShapeError);
  CHECK_THROWS_WITH(dist::NegativeBinomial2(2.0, 0.0), Contains("NegativeBinomial2: concentration must be positive"));
  CHECK_THROWS_WITH(dist::NegativeBinomial2(-2.0, 1.0), Contains("NegativeBinomial2: mean must be positive, got -2"));
}
