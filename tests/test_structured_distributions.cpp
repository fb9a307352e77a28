// OrderedLogistic, GaussianRandomWalk and LowRankMultivariateNormal (issue 16):
// log probabilities against Boost.Math's logistic CDF, MultivariateNormal with
// the dense covariance and sums written out; gradients against finite
// differences; draws against NumPyro's construction on the same key, their
// moments and frequencies; shapes, argument checks; an enumerated latent
// OrderedLogistic; NUTS on models that use them; NumPyro's two ordered priors.
#include <catch2/catch.hpp>
#include <tyche/distributions/low_rank_mvn.hpp>
#include <tyche/distributions/ordinal.hpp>
#include <tyche/distributions/time_series.hpp>
#include <tyche/effects/handlers/enum.hpp>
#include <tyche/tyche.hpp>

#include "gradient_check.hpp"
#include "require_throws.hpp"

#include <Eigen/Cholesky>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/logistic.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

namespace {

using namespace tyche_test;
namespace dist = tyche::dist;
namespace bm = boost::math;

constexpr double kStructuredInf = std::numeric_limits<double>::infinity();

// Agreement to 1e-12 absolute below 1 and relative above (as test_continuous.cpp).
bool structured_close(double value, double reference, double tolerance = 1e-12) {
  if (std::isinf(reference)) return value == reference;
  return std::abs(value - reference) <= tolerance * std::max(1.0, std::abs(reference));
}

// P(Y = k) = P(c_(k-1) < predictor + e <= c_k), e ~ Logistic(0, 1), by
// Boost.Math's logistic CDF; above the predictor by its complement, so that
// neither side cancels in the tails.
double structured_ordinal_prob(double predictor, const std::vector<double>& c, std::size_t k) {
  const bm::logistic_distribution<> latent(predictor, 1.0);
  const bool has_lower = k > 0, has_upper = k < c.size();
  const double lower = has_lower ? c[k - 1] : 0.0, upper = has_upper ? c[k] : 0.0;
  if (has_lower && lower > predictor)
    return bm::cdf(bm::complement(latent, lower)) - (has_upper ? bm::cdf(bm::complement(latent, upper)) : 0.0);
  return (has_upper ? bm::cdf(latent, upper) : 1.0) - (has_lower ? bm::cdf(latent, lower) : 0.0);
}

// Pearson's chi-square of category counts against probabilities, at level
// 1e-4 (as test_discrete.cpp): the keys are fixed, and a wrong sampler or pmf
// is far off with 20000 draws.
void structured_check_frequencies(const std::vector<double>& draws, const std::vector<double>& probs) {
  std::vector<double> observed(probs.size(), 0.0);
  for (double k : draws) {
    REQUIRE((k >= 0.0 && k < double(probs.size()) && k == std::floor(k)));
    observed[std::size_t(k)] += 1.0;
  }
  double statistic = 0.0;
  for (std::size_t k = 0; k < probs.size(); ++k) {
    const double expected = probs[k] * double(draws.size());
    REQUIRE(expected > 5.0);
    statistic += (observed[k] - expected) * (observed[k] - expected) / expected;
  }
  const double critical = bm::quantile(bm::complement(bm::chi_squared(double(probs.size() - 1)), 1e-4));
  INFO("chi-square " << statistic << ", critical value " << critical);
  CHECK(statistic < critical);
}

// A column (rows, 1) of a (rows, columns) array, as a std::vector.
std::vector<double> structured_column(const Tensor& x, std::int64_t j) {
  std::vector<double> out;
  for (std::int64_t i = 0; i < x.dim(0); ++i) out.push_back(x.at({i, j}));
  return out;
}

}  // namespace

// ---- OrderedLogistic ---------------------------------------------------------

TEST_CASE("OrderedLogistic log_prob matches Boost.Math's logistic CDF differences, far into the tails") {
  // A narrow gap (0.4, 0.5) and predictors 40 away from the cutpoints: the
  // differences of sigmoids NumPyro takes round to 0 there (log -inf); the
  // log_sigmoid form keeps every digit.
  const std::vector<double> cuts{-1.2, 0.4, 0.5, 3.0};
  const std::vector<double> predictors{-40.0, -3.0, -0.2, 0.0, 0.45, 1.5, 6.0, 38.0};
  const dist::OrderedLogistic d{Tensor(predictors), Tensor(cuts)};
  REQUIRE(d.batch_shape() == Shape{8});
  REQUIRE(d.num_categories() == 5);
  const Tensor lp = d.log_prob(Tensor::arange(5).reshape({5, 1}));
  REQUIRE(lp.shape() == Shape{5, 8});
  for (std::size_t j = 0; j < predictors.size(); ++j) {
    double total = 0.0;
    for (std::size_t k = 0; k < 5; ++k) {
      const double expected = std::log(structured_ordinal_prob(predictors[j], cuts, k));
      const double got = lp.at({std::int64_t(k), std::int64_t(j)});
      INFO("predictor " << predictors[j] << ", category " << k << ": " << got << " vs " << expected);
      CHECK(structured_close(got, expected, 1e-11));
      total += std::exp(got);
    }
    CHECK(total == Approx(1.0).epsilon(1e-14));
  }
  // probs() and logits() are the same numbers, batch + (K,).
  REQUIRE(d.probs().shape() == Shape{8, 5});
  CHECK(d.logits().at({2, 3}) == lp.at({3, 2}));
  CHECK(d.probs().at({2, 3}) == Approx(std::exp(lp.at({3, 2}))).epsilon(1e-15));
}

TEST_CASE("OrderedLogistic with one cutpoint is BernoulliLogits(predictor - cutpoint)") {
  const Tensor predictor{-2.0, 0.3, 5.0};
  const dist::OrderedLogistic d(predictor, Tensor{0.7});
  const dist::BernoulliLogits b(predictor - 0.7);
  for (double y : {0.0, 1.0}) {
    const Tensor lp = d.log_prob(y), expected = b.log_prob(y);
    for (std::int64_t j = 0; j < 3; ++j) CHECK(structured_close(lp.at({j}), expected.at({j})));
  }
}

TEST_CASE("OrderedLogistic log_prob is -inf off 0..K-1, and its shapes broadcast predictor and cutpoints") {
  const dist::OrderedLogistic d(Tensor{{0.1}, {-0.4}}, Tensor{{-1.0, 1.0}, {0.0, 0.5}, {-2.0, 3.0}});
  REQUIRE(d.batch_shape() == Shape{2, 3});
  CHECK(d.event_shape() == Shape{});
  CHECK(d.probs().shape() == Shape{2, 3, 3});
  const Tensor x = d.sample(tyche::PRNGKey(3), {4});
  REQUIRE(x.shape() == Shape{4, 2, 3});
  for (double v : x.to_std_vector()) CHECK((v == 0.0 || v == 1.0 || v == 2.0));
  CHECK(d.log_prob(Tensor{0.0, 1.0, 2.0}).shape() == Shape{2, 3});
  CHECK(d.log_prob(x).shape() == Shape{4, 2, 3});
  for (double bad : {-1.0, 3.0, 1.5}) CHECK(tyche::sum(d.log_prob(bad) == -kStructuredInf).item() == 6.0);
  CHECK(std::isnan(d.mean().at({0, 0})));
  CHECK(d.variance().shape() == Shape{2, 3});
  CHECK(d.support().str() == "IntegerInterval(lower_bound=0, upper_bound=2)");
  CHECK(d.is_discrete());
  CHECK(d.name() == "OrderedLogistic");
  // Enumerable as Categorical: the K categories on a new leading axis.
  REQUIRE(d.has_enumerate_support());
  const Tensor all = d.enumerate_support();
  REQUIRE(all.shape() == Shape{3, 2, 3});
  CHECK(all.at({2, 1, 0}) == 2.0);
  CHECK(d.enumerate_support(false).shape() == Shape{3, 1, 1});
  CHECK(tyche::sum(tyche::exp(d.log_prob(all)), 0).at({1, 2}) == Approx(1.0).epsilon(1e-14));
  // A scalar predictor with a batch of cutpoints, and a batch of predictors with one row.
  CHECK(dist::OrderedLogistic(0.0, Tensor{{0.0, 1.0}, {1.0, 2.0}}).batch_shape() == Shape{2});
  CHECK(dist::OrderedLogistic(Tensor{1.0, 2.0, 3.0}, Tensor{0.0, 1.0}).batch_shape() == Shape{3});
  CHECK_THROWS_AS(dist::OrderedLogistic(Tensor{1.0, 2.0, 3.0}, Tensor{{0.0, 1.0}, {1.0, 2.0}}), tyche::ShapeError);
}

TEST_CASE("OrderedLogistic as an enumerated latent site sums out to the mixture over its categories") {
  // z ~ OrderedLogistic(0.3, (-0.5, 1)), y ~ Normal(locs[z], 1): with z
  // enumerated, the log density is log sum_k P(z = k) Normal(y | locs[k], 1).
  const Tensor locs{-2.0, 0.5, 3.0};
  const std::vector<double> cuts{-0.5, 1.0};
  const auto model = [&] {
    const Tensor z = tyche::sample("z", dist::OrderedLogistic(0.3, Tensor(cuts)));
    tyche::sample("y", dist::Normal(locs[z], 1.0), Tensor(0.8));
  };
  const tyche::Trace tr = tyche::trace(tyche::enumerate(tyche::config_enumerate(model), -1)).get_trace();
  REQUIRE(tr["z"].value->shape() == Shape{3});
  double expected = 0.0;
  for (std::size_t k = 0; k < 3; ++k)
    expected += structured_ordinal_prob(0.3, cuts, k) *
                std::exp(-0.5 * std::pow(0.8 - locs.at({std::int64_t(k)}), 2.0)) / std::sqrt(2.0 * std::numbers::pi);
  CHECK(structured_close(tyche::enum_log_density(tr, 0).item(), std::log(expected)));
}

TEST_CASE("OrderedLogistic draws have the frequencies of its probabilities") {
  const std::vector<double> cuts{-1.0, 0.5, 2.0};
  const dist::OrderedLogistic d(Tensor{0.3, -1.0}, Tensor(cuts));
  const Tensor x = d.sample(tyche::PRNGKey(17), {20000});
  REQUIRE(x.shape() == Shape{20000, 2});
  for (std::int64_t j = 0; j < 2; ++j) {
    const double predictor = j == 0 ? 0.3 : -1.0;
    std::vector<double> probs;
    for (std::size_t k = 0; k < 4; ++k) probs.push_back(structured_ordinal_prob(predictor, cuts, k));
    INFO("predictor " << predictor);
    structured_check_frequencies(structured_column(x, j), probs);
  }
}

TEST_CASE("OrderedLogistic log_prob gradients in predictor and cutpoints match finite differences") {
  const Tensor y{{0.0, 2.0, 4.0}, {1.0, 3.0, 2.0}};
  Eigen::VectorXd q(7);
  q << -0.7, 0.4, 1.9, /* cutpoints */ -1.5, -0.2, 0.6, 2.1;
  check_gradient_at("OrderedLogistic.log_prob",
                    [&](const Inputs& in) { return dist::OrderedLogistic(in[0], in[1]).log_prob(y); },
                    {Shape{3}, Shape{4}}, q);
  // A batch of cutpoint rows, one per predictor.
  Eigen::VectorXd r(8);
  r << 0.5, -3.0, /* row 0 */ -1.0, 0.0, 1.0, /* row 1 */ -2.0, -1.5, 4.0;
  for (double k : {0.0, 1.0, 2.0, 3.0})
    check_gradient_at("OrderedLogistic.log_prob, batched cutpoints",
                      [&](const Inputs& in) { return dist::OrderedLogistic(in[0], in[1]).log_prob(k); },
                      {Shape{2}, Shape{2, 3}}, r);
}

TEST_CASE("OrderedLogistic rejects unordered or non-finite cutpoints and non-finite predictors") {
  REQUIRE_THROWS_CONTAINING(dist::OrderedLogistic(0.0, Tensor{1.0, 0.5}), std::invalid_argument,
                            "OrderedLogistic: cutpoints must be strictly increasing along the last axis, got 1 then 0.5");
  REQUIRE_THROWS_CONTAINING(dist::OrderedLogistic(0.0, Tensor{{0.0, 1.0}, {2.0, 2.0}}), std::invalid_argument,
                            "got 2 then 2", "row 1 of an array of shape (2, 2)");
  REQUIRE_THROWS_CONTAINING(dist::OrderedLogistic(0.0, Tensor{0.0, kStructuredInf}), std::invalid_argument,
                            "OrderedLogistic: cutpoints must be finite, got inf");
  REQUIRE_THROWS_CONTAINING(dist::OrderedLogistic(std::nan(""), Tensor{0.0}), std::invalid_argument,
                            "OrderedLogistic: predictor must be finite, got nan");
  REQUIRE_THROWS_CONTAINING(dist::OrderedLogistic(0.0, 1.0), tyche::ShapeError,
                            "OrderedLogistic: cutpoints need a last axis of at least one cutpoint");
}

// ---- ordered priors: NumPyro's two ways ----------------------------------------

namespace {

// Independent Normal(0, 3) priors on the elements, restricted to ordered
// vectors: a flat ordered site plus a factor (NumPyro's
// ImproperUniform(ordered_vector) + numpyro.factor).
void structured_flat_ordered_prior() {
  const Tensor c = tyche::sample("c", dist::ImproperUniform(tyche::constraints::ordered_vector, {}, {3}));
  tyche::factor("c_prior", tyche::sum(dist::Normal(0.0, 3.0).log_prob(c)));
}

// Normal(0, 3) on the first element and on the log increments, pushed through
// OrderedTransform: a different prior on the same ordered vectors.
void structured_transformed_ordered_prior() {
  tyche::sample("c", dist::TransformedDistribution(dist::Normal(0.0, 3.0).expand({3}),
                                                   {std::make_shared<tyche::transforms::OrderedTransform>()}));
}

}  // namespace

TEST_CASE("ordered priors: ImproperUniform plus a factor and TransformedDistribution(OrderedTransform) differ") {
  const Tensor c{-1.0, 0.5, 2.5};
  const auto normal = [](double x) { return -0.5 * x * x / 9.0 - std::log(3.0) - 0.5 * std::log(2.0 * std::numbers::pi); };
  // Independent normals on the elements.
  const double flat = tyche::log_density(structured_flat_ordered_prior, std::tuple{}, {{"c", c}}).log_joint.item();
  CHECK(structured_close(flat, normal(-1.0) + normal(0.5) + normal(2.5)));
  // Normals on x = (c_0, log(c_1 - c_0), log(c_2 - c_1)), and log |d x / d c|
  // = -log(c_1 - c_0) - log(c_2 - c_1).
  const double transformed =
      tyche::log_density(structured_transformed_ordered_prior, std::tuple{}, {{"c", c}}).log_joint.item();
  const double x1 = std::log(1.5), x2 = std::log(2.0);
  CHECK(structured_close(transformed, normal(-1.0) + normal(x1) + normal(x2) - x1 - x2));
  // Unordered values lie outside both supports.
  CHECK(tyche::log_density(structured_flat_ordered_prior, std::tuple{}, {{"c", Tensor{1.0, 0.0, 2.0}}})
            .log_joint.item() == -kStructuredInf);
}

TEST_CASE("NUTS recovers an ordinal regression's cutpoints and slope", "[mcmc][statistical]") {
  // 300 outcomes simulated from OrderedLogistic(1.2 x, (-1, 0.5, 2)), with the
  // OrderedTransform prior on the cutpoints and a Normal(0, 3) slope. The
  // posterior concentrates around the truth with sd ~0.17: each posterior
  // mean must lie within 4 posterior sds of the truth plus 4 Monte Carlo
  // standard errors, which a correct sampler misses with tiny probability at
  // this fixed seed.
  const Tensor x = dist::Normal(0.0, 1.5).sample(tyche::PRNGKey(5), {300});
  const Tensor truth{-1.0, 0.5, 2.0};
  const Tensor y = dist::OrderedLogistic(1.2 * x, truth).sample(tyche::PRNGKey(6));
  const auto regression = [&] {
    const Tensor c = tyche::sample("c", dist::TransformedDistribution(
                                            dist::Normal(0.0, 3.0).expand({3}),
                                            {std::make_shared<tyche::transforms::OrderedTransform>()}));
    const Tensor slope = tyche::sample("slope", dist::Normal(0.0, 3.0));
    tyche::plate data("data", 300);
    tyche::sample("y", dist::OrderedLogistic(slope * x, c), y);
  };
  tyche::MCMC mcmc(tyche::NUTS(regression), {.num_warmup = 400, .num_samples = 400, .progress_bar = false});
  mcmc.run(7);
  const tyche::ValueMap samples = mcmc.get_samples(true);
  const auto check = [](const Tensor& draws, double expected) {
    const Tensor flat = draws.reshape({-1});
    const double n = double(flat.size()), m = tyche::sum(flat).item() / n;
    const double sd = std::sqrt(tyche::sum(tyche::square(flat - m)).item() / n);
    const double n_eff = tyche::effective_sample_size(draws.reshape({1, -1})).item();
    INFO("posterior mean " << m << " sd " << sd << " n_eff " << n_eff << ", truth " << expected);
    REQUIRE(n_eff > 50);
    CHECK(std::abs(m - expected) < 4.0 * sd + 4.0 * sd / std::sqrt(n_eff));
  };
  check(samples.at("slope"), 1.2);
  const Tensor c = samples.at("c");  // (1, 400, 3)
  REQUIRE(c.shape() == Shape{1, 400, 3});
  for (std::int64_t k = 0; k < 3; ++k) {
    INFO("cutpoint " << k);
    check(tyche::slice(c, -1, k, k + 1), truth.at({k}));
  }
}

// ---- GaussianRandomWalk ------------------------------------------------------

TEST_CASE("GaussianRandomWalk log_prob is MultivariateNormal's with covariance scale^2 (min(i, j) + 1)") {
  const std::int64_t n = 5;
  const std::vector<double> scales{0.5, 2.0};
  const dist::GaussianRandomWalk walk(Tensor(scales), n);
  REQUIRE(walk.batch_shape() == Shape{2});
  REQUIRE(walk.event_shape() == Shape{n});
  const Tensor x = dist::Normal(0.0, 2.0).sample(tyche::PRNGKey(1), {4, 2, n});
  const Tensor lp = walk.log_prob(x);
  REQUIRE(lp.shape() == Shape{4, 2});
  for (std::int64_t j = 0; j < 2; ++j) {
    const double s = scales[std::size_t(j)];
    Eigen::MatrixXd covariance(n, n);
    for (std::int64_t a = 0; a < n; ++a)
      for (std::int64_t b = 0; b < n; ++b) covariance(a, b) = s * s * double(std::min(a, b) + 1);
    const dist::MultivariateNormal reference(0.0, {.covariance_matrix = Tensor(covariance)});
    const Tensor expected = reference.log_prob(tyche::slice(x, 1, j, j + 1).reshape({4, n}));
    for (std::int64_t i = 0; i < 4; ++i) {
      // And the increments' normal densities written out.
      double by_hand = 0.0, previous = 0.0;
      for (std::int64_t t = 0; t < n; ++t) {
        const double step = x.at({i, j, t}) - previous;
        by_hand += -0.5 * step * step / (s * s) - std::log(s) - 0.5 * std::log(2.0 * std::numbers::pi);
        previous = x.at({i, j, t});
      }
      INFO("walk " << i << ", scale " << s);
      CHECK(structured_close(lp.at({i, j}), expected.at({i}), 1e-10));
      CHECK(structured_close(lp.at({i, j}), by_hand));
    }
  }
  // One step is Normal(0, scale).
  CHECK(structured_close(dist::GaussianRandomWalk(1.5).log_prob(Tensor{0.4}).item(),
                         dist::Normal(0.0, 1.5).log_prob(0.4).item()));
}

TEST_CASE("GaussianRandomWalk log_prob_sum is the sum of log_prob, broadcasting, and -inf for a non-finite walk") {
  const dist::GaussianRandomWalk walk(Tensor{0.5, 1.0, 3.0}, 4);
  const Tensor one = Tensor{0.3, -0.2, 0.9, 1.4};  // broadcast to all three scales
  CHECK(structured_close(walk.log_prob_sum(one).item(), tyche::sum(walk.log_prob(one)).item()));
  CHECK(walk.log_prob(one).shape() == Shape{3});
  const Tensor many = dist::Normal().sample(tyche::PRNGKey(2), {2, 3, 4});
  CHECK(structured_close(walk.log_prob_sum(many).item(), tyche::sum(walk.log_prob(many)).item()));
  const Tensor bad = tyche::where(Tensor{{1.0, 1.0, 1.0, 1.0}, {1.0, 0.0, 1.0, 1.0}, {1.0, 1.0, 1.0, 1.0}} == 1.0,
                                  many[0], kStructuredInf);
  const Tensor lp = walk.log_prob(bad);
  CHECK(std::isfinite(lp.at({0})));
  CHECK(lp.at({1}) == -kStructuredInf);
  CHECK(std::isfinite(lp.at({2})));
  CHECK(walk.log_prob_sum(bad).item() == -kStructuredInf);
  // A NaN entry gives NaN, as Normal's log_prob and NumPyro's.
  CHECK(std::isnan(walk.log_prob(Tensor{0.0, std::nan(""), 1.0, 2.0}).at({0})));
  CHECK(std::isnan(walk.log_prob_sum(Tensor{0.0, std::nan(""), 1.0, 2.0}).item()));
  CHECK(std::isnan(dist::Normal().log_prob(std::nan("")).item()));
  // No NaN gradient reaches the scale from the walk outside the support.
  const tyche::ValueAndGrad r = tyche::value_and_grad(
      [&](const Tensor& s) { return tyche::sum(dist::GaussianRandomWalk(s, 4).log_prob(bad)); },
      Eigen::Vector3d(0.5, 1.0, 3.0));
  CHECK(r.grad.allFinite());
  CHECK(r.grad[1] == 0.0);
}

TEST_CASE("GaussianRandomWalk gradients in the value and the scale match finite differences") {
  check_gradient("GaussianRandomWalk.log_prob",
                 [](const Inputs& in) { return dist::GaussianRandomWalk(in[1], 4).log_prob(in[0]); },
                 {{Shape{3, 2, 4}, kReal}, {Shape{2}, kPositive}});
  check_gradient("GaussianRandomWalk.log_prob_sum",
                 [](const Inputs& in) { return dist::GaussianRandomWalk(in[1], 4).log_prob_sum(in[0]); },
                 {{Shape{3, 2, 4}, kReal}, {Shape{2}, kPositive}});
  const tyche::Key key = tyche::PRNGKey(4);
  check_gradient("GaussianRandomWalk.sample",
                 [&](const Inputs& in) { return dist::GaussianRandomWalk(in[0], 3).sample(key, {2}); },
                 {{Shape{2}, kPositive}});
  check_gradient("GaussianRandomWalk.variance",
                 [](const Inputs& in) { return dist::GaussianRandomWalk(in[0], 3).variance(); },
                 {{Shape{2}, kPositive}});
}

TEST_CASE("GaussianRandomWalk draws are NumPyro's cumulative sums of normals, with its moments") {
  const tyche::Key key = tyche::PRNGKey(8);
  const dist::GaussianRandomWalk walk(Tensor{0.7, 1.5}, 4);
  // cumsum(normal(key, sample + batch + event), -1) * scale, as NumPyro.
  const Tensor x = walk.sample(key, {3});
  const Tensor eps = tyche::random::normal(key, {3, 2, 4});
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 2; ++j) {
      double total = 0.0;
      for (std::int64_t t = 0; t < 4; ++t) {
        total += eps.at({i, j, t});
        CHECK(x.at({i, j, t}) == Approx(total * (j == 0 ? 0.7 : 1.5)).epsilon(1e-14));
      }
    }
  // 20000 walks: each step's mean and variance within 5 standard errors of
  // mean() (0) and variance() (scale^2 (t + 1)), the variance's standard
  // error from the fourth moment; and Cov(x_1, x_3) = 2 scale^2 within 5
  // standard errors of the product's mean. Fixed key; a wrong law is far off.
  const std::int64_t draws = 20000;
  const Tensor w = walk.sample(tyche::PRNGKey(9), {draws});
  const Tensor mean = walk.mean(), variance = walk.variance();
  REQUIRE(mean.shape() == Shape{2, 4});
  REQUIRE(variance.shape() == Shape{2, 4});
  for (std::int64_t j = 0; j < 2; ++j) {
    const double s = j == 0 ? 0.7 : 1.5;
    for (std::int64_t t = 0; t < 4; ++t) {
      double m = 0.0, m2 = 0.0, m4 = 0.0;
      for (std::int64_t i = 0; i < draws; ++i) m += w.at({i, j, t});
      m /= double(draws);
      for (std::int64_t i = 0; i < draws; ++i) {
        const double c = w.at({i, j, t}) - m;
        m2 += c * c;
        m4 += c * c * c * c;
      }
      m2 /= double(draws);
      m4 /= double(draws);
      INFO("scale " << s << ", step " << t << ": mean " << m << ", variance " << m2);
      CHECK(mean.at({j, t}) == 0.0);
      CHECK(variance.at({j, t}) == Approx(s * s * double(t + 1)).epsilon(1e-14));
      CHECK(std::abs(m) <= 5.0 * std::sqrt(variance.at({j, t}) / double(draws)));
      CHECK(std::abs(m2 - variance.at({j, t})) <= 5.0 * std::sqrt((m4 - m2 * m2) / double(draws)));
    }
    double c13 = 0.0, c13_squared = 0.0;
    for (std::int64_t i = 0; i < draws; ++i) {
      const double p = w.at({i, j, 1}) * w.at({i, j, 3});
      c13 += p;
      c13_squared += p * p;
    }
    c13 /= double(draws);
    const double error = std::sqrt((c13_squared / double(draws) - c13 * c13) / double(draws));
    INFO("Cov(x_1, x_3) " << c13 << " vs " << 2.0 * s * s);
    CHECK(std::abs(c13 - 2.0 * s * s) <= 5.0 * error);
  }
}

TEST_CASE("GaussianRandomWalk checks its arguments, its values' shapes, and has support real_vector") {
  REQUIRE_THROWS_CONTAINING(dist::GaussianRandomWalk(-1.0, 3), std::invalid_argument,
                            "GaussianRandomWalk: scale must be positive, got -1");
  REQUIRE_THROWS_CONTAINING(dist::GaussianRandomWalk(1.0, 0), std::invalid_argument,
                            "GaussianRandomWalk: num_steps must be a positive integer, got 0");
  const dist::GaussianRandomWalk walk(1.0, 3);
  REQUIRE_THROWS_CONTAINING(walk.log_prob(Tensor{1.0, 2.0}), tyche::ShapeError,
                            "GaussianRandomWalk: log_prob of a value of shape (2,) for walks of shape (3,)");
  CHECK_THROWS_AS(walk.log_prob(1.0), tyche::ShapeError);
  CHECK(walk.support().str() == "RealVector()");
  CHECK(walk.support().event_dim() == 1);
  CHECK(walk.num_steps() == 3);
  CHECK(walk.sample(tyche::PRNGKey(0), {5}).shape() == Shape{5, 3});
  CHECK(dist::GaussianRandomWalk(Tensor{{1.0, 2.0}}, 6).shape({4}) == Shape{4, 1, 2, 6});
}

TEST_CASE("NUTS samples a GaussianRandomWalk latent observed with noise: the exact Gaussian posterior",
          "[mcmc][statistical]") {
  // x ~ GaussianRandomWalk(0.8, 4), y_t ~ Normal(x_t, 1): the posterior of x
  // is normal with precision Sigma^-1 + I (Sigma the walk's covariance) and
  // mean (Sigma^-1 + I)^-1 y. Each posterior mean lies within 4 Monte Carlo
  // standard errors sd / sqrt(n_eff), each sd within 10% (its standard error
  // is ~3% at these n_eff).
  const std::int64_t n = 4;
  const double s = 0.8;
  const Eigen::Vector4d y_values(0.5, 1.2, 0.3, -0.4);
  const Tensor y{Eigen::VectorXd(y_values)};
  const auto model = [&] {
    const Tensor x = tyche::sample("x", dist::GaussianRandomWalk(s, n));
    tyche::sample("y", dist::Normal(x, 1.0).to_event(1), y);
  };
  Eigen::Matrix4d covariance;
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b) covariance(a, b) = s * s * double(std::min(a, b) + 1);
  const Eigen::Matrix4d posterior_covariance = (covariance.inverse() + Eigen::Matrix4d::Identity()).inverse();
  const Eigen::Vector4d posterior_mean = posterior_covariance * y_values;
  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 500, .num_samples = 1000, .num_chains = 2, .progress_bar = false});
  mcmc.run(12);
  const Tensor x = mcmc.get_samples(true).at("x");
  REQUIRE(x.shape() == Shape{2, 1000, n});
  const Tensor n_eff = tyche::effective_sample_size(x);
  for (std::int64_t t = 0; t < n; ++t) {
    const Tensor draws = tyche::slice(x, -1, t, t + 1).reshape({-1});
    const double m = tyche::sum(draws).item() / 2000.0;
    const double sd = std::sqrt(tyche::sum(tyche::square(draws - m)).item() / 2000.0);
    const double expected_sd = std::sqrt(posterior_covariance(t, t));
    INFO("step " << t << ": mean " << m << " vs " << posterior_mean[t] << ", sd " << sd << " vs " << expected_sd
                 << ", n_eff " << n_eff.at({t}));
    REQUIRE(n_eff.at({t}) > 200);
    CHECK(std::abs(m - posterior_mean[t]) < 4.0 * expected_sd / std::sqrt(n_eff.at({t})));
    CHECK(sd == Approx(expected_sd).epsilon(0.1));
  }
}

// ---- LowRankMultivariateNormal -----------------------------------------------

namespace {

// W W^T + diag(D) for one batch element, in Eigen.
Eigen::MatrixXd structured_dense_covariance(const Tensor& w, const Tensor& d) {
  const std::int64_t n = w.dim(0), m = w.dim(1);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(n, n);
  for (std::int64_t a = 0; a < n; ++a) {
    s(a, a) += d.at({a});
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t k = 0; k < m; ++k) s(a, b) += w.at({a, k}) * w.at({b, k});
  }
  return s;
}

}  // namespace

TEST_CASE("LowRankMultivariateNormal log_prob is MultivariateNormal's with the dense covariance, batches broadcast") {
  // Also covariance_matrix(), precision_matrix() (Woodbury) and scale_tril()
  // against W W^T + diag(D), its inverse and its Cholesky factor by Eigen.
  // loc (4,), cov_factor (2, 4, 2), cov_diag (3, 1, 4): batch (3, 2); values
  // (5, 1, 1, 4) broadcast to (5, 3, 2).
  const std::int64_t n = 4, m = 2;
  const Tensor loc{0.3, -1.0, 2.0, 0.0};
  const Tensor w = dist::Normal().sample(tyche::PRNGKey(20), {2, n, m});
  const Tensor d = dist::Uniform(0.2, 2.0).sample(tyche::PRNGKey(21), {3, 1, n});
  const dist::LowRankMultivariateNormal low_rank(loc, w, d);
  REQUIRE(low_rank.batch_shape() == Shape{3, 2});
  REQUIRE(low_rank.event_shape() == Shape{n});
  const Tensor x = dist::Normal(0.0, 2.0).sample(tyche::PRNGKey(22), {5, 1, 1, n});
  const Tensor lp = low_rank.log_prob(x);
  REQUIRE(lp.shape() == Shape{5, 3, 2});
  const Tensor covariance = low_rank.covariance_matrix();
  REQUIRE(covariance.shape() == Shape{3, 2, n, n});
  const Tensor precision = low_rank.precision_matrix(), scale_tril = low_rank.scale_tril();
  REQUIRE(precision.shape() == Shape{3, 2, n, n});
  REQUIRE(scale_tril.shape() == Shape{3, 2, n, n});
  for (std::int64_t a = 0; a < 3; ++a)
    for (std::int64_t b = 0; b < 2; ++b) {
      const Eigen::MatrixXd dense = structured_dense_covariance(w[b], d[a].reshape({n}));
      const dist::MultivariateNormal reference(loc, {.covariance_matrix = Tensor(dense)});
      const Tensor expected = reference.log_prob(x.reshape({5, n}));
      for (std::int64_t i = 0; i < 5; ++i) {
        INFO("value " << i << ", batch element (" << a << ", " << b << ")");
        CHECK(structured_close(lp.at({i, a, b}), expected.at({i}), 1e-11));
      }
      const Eigen::MatrixXd inverse = dense.inverse();
      const Eigen::MatrixXd factor = Eigen::LLT<Eigen::MatrixXd>(dense).matrixL();
      for (std::int64_t r = 0; r < n; ++r) {
        for (std::int64_t c = 0; c < n; ++c) {
          CHECK(covariance.at({a, b, r, c}) == Approx(dense(r, c)).epsilon(1e-14));
          CHECK(precision.at({a, b, r, c}) == Approx(inverse(r, c)).epsilon(1e-10).margin(1e-12));
          CHECK(scale_tril.at({a, b, r, c}) == Approx(factor(r, c)).epsilon(1e-12).margin(1e-14));
        }
        CHECK(low_rank.variance().at({a, b, r}) == Approx(dense(r, r)).epsilon(1e-14));
        CHECK(low_rank.mean().at({a, b, r}) == loc.at({r}));
      }
    }
  // A scalar loc, a cov_diag of one entry (isotropic noise) and a single value.
  const Tensor w0 = w[0];
  const dist::LowRankMultivariateNormal isotropic(1.0, w0, Tensor{0.5});
  const Tensor value{0.1, 0.2, 0.3, 0.4};
  const dist::MultivariateNormal dense(1.0, {.covariance_matrix = Tensor(structured_dense_covariance(w0, Tensor::full({n}, 0.5)))});
  CHECK(isotropic.batch_shape() == Shape{});
  CHECK(structured_close(isotropic.log_prob(value).item(), dense.log_prob(value).item(), 1e-11));
}

TEST_CASE("LowRankMultivariateNormal gradients in the value and every parameter match finite differences") {
  check_gradient("LowRankMultivariateNormal.log_prob",
                 [](const Inputs& in) { return dist::LowRankMultivariateNormal(in[1], in[2], in[3]).log_prob(in[0]); },
                 {{Shape{3, 4}, kReal}, {Shape{4}, kReal}, {Shape{4, 2}, kReal}, {Shape{4}, kPositive}});
  check_gradient("LowRankMultivariateNormal.log_prob, batched",
                 [](const Inputs& in) { return dist::LowRankMultivariateNormal(in[1], in[2], in[3]).log_prob(in[0]); },
                 {{Shape{2, 1, 3}, kReal}, {Shape{3}, kReal}, {Shape{2, 3, 1}, kReal}, {Shape{3}, kPositive}});
  const tyche::Key key = tyche::PRNGKey(23);
  check_gradient("LowRankMultivariateNormal.sample",
                 [&](const Inputs& in) { return dist::LowRankMultivariateNormal(in[0], in[1], in[2]).sample(key, {2}); },
                 {{Shape{3}, kReal}, {Shape{3, 2}, kReal}, {Shape{3}, kPositive}});
  check_gradient("LowRankMultivariateNormal.precision_matrix",
                 [](const Inputs& in) { return dist::LowRankMultivariateNormal(0.0, in[0], in[1]).precision_matrix(); },
                 {{Shape{2, 3, 2}, kReal}, {Shape{3}, kPositive}});
  check_gradient("LowRankMultivariateNormal.covariance_matrix",
                 [](const Inputs& in) { return dist::LowRankMultivariateNormal(0.0, in[0], in[1]).covariance_matrix(); },
                 {{Shape{3, 2}, kReal}, {Shape{3}, kPositive}});
}

TEST_CASE("LowRankMultivariateNormal draws are NumPyro's loc + W eps_W + sqrt(D) eps_D, with its covariance") {
  const Tensor loc{1.0, -2.0, 0.5};
  const Tensor w{{1.0, 0.0}, {0.5, -1.0}, {-0.3, 0.8}};
  const Tensor d{0.1, 0.4, 0.9};
  const dist::LowRankMultivariateNormal low_rank(loc, w, d);
  // On the keys of split(key): m normals for W, n for D, as NumPyro.
  const tyche::Key key = tyche::PRNGKey(30);
  const auto [key_w, key_d] = tyche::split(key);
  const Tensor x = low_rank.sample(key, {2});
  const Tensor eps_w = tyche::random::normal(key_w, {2, 2}), eps_d = tyche::random::normal(key_d, {2, 3});
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t r = 0; r < 3; ++r) {
      const double expected = loc.at({r}) + w.at({r, 0}) * eps_w.at({i, 0}) + w.at({r, 1}) * eps_w.at({i, 1}) +
                              std::sqrt(d.at({r})) * eps_d.at({i, r});
      CHECK(x.at({i, r}) == Approx(expected).epsilon(1e-14));
    }
  // 20000 draws: each mean within 5 standard errors of loc, each covariance
  // entry within 5 standard errors (of the centred products' mean) of
  // covariance_matrix(). Fixed key; a wrong factor or diagonal is far off.
  const std::int64_t draws = 20000;
  const Tensor many = low_rank.sample(tyche::PRNGKey(31), {draws});
  const Tensor covariance = low_rank.covariance_matrix();
  for (std::int64_t r = 0; r < 3; ++r) {
    const double mean_r = tyche::sum(tyche::slice(many, 1, r, r + 1)).item() / double(draws);
    CHECK(std::abs(mean_r - loc.at({r})) <= 5.0 * std::sqrt(covariance.at({r, r}) / double(draws)));
    for (std::int64_t c = 0; c <= r; ++c) {
      double total = 0.0, total_squared = 0.0;
      for (std::int64_t i = 0; i < draws; ++i) {
        const double p = (many.at({i, r}) - loc.at({r})) * (many.at({i, c}) - loc.at({c}));
        total += p;
        total_squared += p * p;
      }
      const double estimate = total / double(draws);
      const double error = std::sqrt((total_squared / double(draws) - estimate * estimate) / double(draws));
      INFO("covariance (" << r << ", " << c << "): " << estimate << " vs " << covariance.at({r, c}));
      CHECK(std::abs(estimate - covariance.at({r, c})) <= 5.0 * error);
    }
  }
}

TEST_CASE("LowRankMultivariateNormal checks its arguments' values and shapes") {
  const Tensor w{{1.0}, {0.5}};
  REQUIRE_THROWS_CONTAINING(dist::LowRankMultivariateNormal(0.0, w, Tensor{1.0, -0.5}), std::invalid_argument,
                            "LowRankMultivariateNormal: cov_diag must be positive, got -0.5");
  REQUIRE_THROWS_CONTAINING(dist::LowRankMultivariateNormal(0.0, Tensor{{1.0}, {std::nan("")}}, 1.0),
                            std::invalid_argument, "LowRankMultivariateNormal: cov_factor must be finite, got nan");
  REQUIRE_THROWS_CONTAINING(dist::LowRankMultivariateNormal(Tensor{0.0, kStructuredInf}, w, 1.0), std::invalid_argument,
                            "LowRankMultivariateNormal: loc must be finite, got inf");
  REQUIRE_THROWS_CONTAINING(dist::LowRankMultivariateNormal(0.0, Tensor{1.0, 2.0}, 1.0), tyche::ShapeError,
                            "cov_factor must be an (n, m) matrix");
  REQUIRE_THROWS_CONTAINING(dist::LowRankMultivariateNormal(Tensor{0.0, 1.0, 2.0}, w, 1.0), tyche::ShapeError,
                            "loc of shape (3,) does not match cov_factor of shape (2, 1)");
  REQUIRE_THROWS_CONTAINING(dist::LowRankMultivariateNormal(0.0, w, Tensor{1.0, 1.0, 1.0}), tyche::ShapeError,
                            "cov_diag of shape (3,)");
  const dist::LowRankMultivariateNormal d(0.0, w, 1.0);
  REQUIRE_THROWS_CONTAINING(d.log_prob(Tensor{1.0, 2.0, 3.0}), tyche::ShapeError,
                            "LowRankMultivariateNormal: log_prob of a value of shape (3,) for events of shape (2,)");
  CHECK(d.support().str() == "RealVector()");
  CHECK(d.rank() == 1);
  CHECK(d.name() == "LowRankMultivariateNormal");
}

TEST_CASE("NUTS samples a model with an ImproperUniform(ordered_vector) site: NumPyro's first ordered prior",
          "[mcmc][statistical]") {
  // As the OrderedTransform regression above, with the flat ordered prior and
  // independent Normal(0, 3) factors: the run that finds the latent sites
  // starts the ImproperUniform site at a point of its support instead of
  // sampling it. Same tolerance argument as above.
  const Tensor x = dist::Normal(0.0, 1.5).sample(tyche::PRNGKey(5), {300});
  const Tensor truth{-1.0, 0.5, 2.0};
  const Tensor y = dist::OrderedLogistic(1.2 * x, truth).sample(tyche::PRNGKey(6));
  const auto regression = [&] {
    const Tensor c = tyche::sample("c", dist::ImproperUniform(tyche::constraints::ordered_vector, {}, {3}));
    tyche::factor("c_prior", tyche::sum(dist::Normal(0.0, 3.0).log_prob(c)));
    const Tensor slope = tyche::sample("slope", dist::Normal(0.0, 3.0));
    tyche::plate data("data", 300);
    tyche::sample("y", dist::OrderedLogistic(slope * x, c), y);
  };
  tyche::MCMC mcmc(tyche::NUTS(regression), {.num_warmup = 400, .num_samples = 400, .progress_bar = false});
  mcmc.run(7);
  const Tensor c = mcmc.get_samples(true).at("c");
  REQUIRE(c.shape() == Shape{1, 400, 3});
  for (std::int64_t k = 0; k < 3; ++k) {
    const Tensor draws = tyche::slice(c, -1, k, k + 1).reshape({-1});
    const double m = tyche::sum(draws).item() / 400.0;
    const double sd = std::sqrt(tyche::sum(tyche::square(draws - m)).item() / 400.0);
    const double n_eff = tyche::effective_sample_size(draws.reshape({1, -1})).item();
    INFO("cutpoint " << k << ": posterior mean " << m << " sd " << sd << " n_eff " << n_eff);
    REQUIRE(n_eff > 50);
    CHECK(std::abs(m - truth.at({k})) < 4.0 * sd + 4.0 * sd / std::sqrt(n_eff));
  }
}
