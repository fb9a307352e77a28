// MixtureSameFamily and MixtureGeneral: log densities against sums of
// Boost.Math densities, gradients against finite differences, draws against
// the closed-form mixture mean and variance and against NumPyro's key use,
// shapes, argument checks, and NUTS on a two-component normal mixture.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include <tyche/distributions/mixtures.hpp>
#include <tyche/tyche.hpp>

#include "gradient_check.hpp"
#include "statistics.hpp"

#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace {

using namespace tyche_test;
using tyche_test::check_moments;  // beside other files' check_moments in a unity build
namespace dist = tyche::dist;
namespace bm = boost::math;
using dist::Distribution;
using dist::DistributionPtr;

using tyche_test::kInf;

double normal_pdf(double x, double loc, double scale) { return bm::pdf(bm::normal_distribution<>(loc, scale), x); }
double student_t_pdf(double x, double df, double loc, double scale) {
  return bm::pdf(bm::students_t_distribution<>(df), (x - loc) / scale) / scale;
}

// Mixture densities agree with the reference to 1e-12 relative: far below
// any wrong weight or term, above the rounding of a logsumexp of three terms.
bool mixture_close(double value, double reference) {
  if (std::isinf(reference)) return value == reference;
  return std::abs(value - reference) <= 1e-12 * std::max(1.0, std::abs(reference));
}

DistributionPtr categorical_probs(const Tensor& probs) { return dist::Categorical({.probs = probs}).share(); }

// The two-moment check of statistics.hpp against means and variances the test
// computes itself, and mean() and variance() giving the same closed forms.
void check_mixture_moments(const Distribution& d, std::uint64_t seed, const std::vector<double>& mean,
                           const std::vector<double>& variance) {
  check_moments(d, seed, mean, variance);
  for (std::size_t j = 0; j < mean.size(); ++j) {
    CHECK(d.mean().data()[j] == Approx(mean[j]).epsilon(1e-12));
    CHECK(d.variance().data()[j] == Approx(variance[j]).epsilon(1e-12));
  }
}

// sum_k w_k m_k and sum_k w_k (v_k + m_k^2) - mean^2, written out.
double mixture_mean(const std::vector<double>& w, const std::vector<double>& m) {
  double total = 0.0;
  for (std::size_t k = 0; k < w.size(); ++k) total += w[k] * m[k];
  return total;
}
double mixture_variance(const std::vector<double>& w, const std::vector<double>& m, const std::vector<double>& v) {
  double second = 0.0;
  for (std::size_t k = 0; k < w.size(); ++k) second += w[k] * (v[k] + m[k] * m[k]);
  const double mean = mixture_mean(w, m);
  return second - mean * mean;
}

}  // namespace

TEST_CASE("MixtureSameFamily log_prob is log(sum_k w_k N(x, mu_k, s_k)) with Boost.Math's normal pdf") {
  const std::vector<double> w{0.2, 0.5, 0.3}, mu{-1.0, 0.5, 3.0}, s{0.5, 1.0, 2.0};
  const std::vector<double> points{-30.0, -4.0, -1.0, 0.0, 0.7, 2.5, 6.0, 40.0};
  const dist::MixtureSameFamily by_probs(categorical_probs(Tensor(w)), dist::Normal(Tensor(mu), Tensor(s)).share());
  // Logits need not be normalised: shifting them changes nothing.
  const Tensor logits = tyche::log(Tensor(w)) + 1.7;
  const dist::MixtureSameFamily by_logits(dist::Categorical({.logits = logits}), dist::Normal(Tensor(mu), Tensor(s)));
  REQUIRE(by_probs.batch_shape() == Shape{});
  REQUIRE(by_probs.event_shape() == Shape{});
  const Tensor lp_probs = by_probs.log_prob(Tensor(points)), lp_logits = by_logits.log_prob(Tensor(points));
  REQUIRE(lp_probs.shape() == Shape{std::int64_t(points.size())});
  for (std::size_t i = 0; i < points.size(); ++i) {
    double density = 0.0;
    for (std::size_t k = 0; k < w.size(); ++k) density += w[k] * normal_pdf(points[i], mu[k], s[k]);
    INFO("x = " << points[i] << ": " << lp_probs.at({std::int64_t(i)}) << " vs log " << density);
    // Far out (x = -30, 40) the density underflows nowhere in Boost at these scales.
    CHECK(mixture_close(lp_probs.at({std::int64_t(i)}), std::log(density)));
    CHECK(mixture_close(lp_logits.at({std::int64_t(i)}), std::log(density)));
  }
  // Far beyond the range where exp underflows, the logsumexp still gives the
  // dominant component's log density: x = 300 is 150 scales from the widest.
  const double far = 300.0;
  const double dominant = std::log(0.3) + dist::Normal(3.0, 2.0).log_prob(far).item();
  CHECK(std::isfinite(by_probs.log_prob(far).item()));
  CHECK(by_probs.log_prob(far).item() == Approx(dominant).epsilon(1e-12));
}

TEST_CASE("MixtureGeneral log_prob is log(sum_k w_k p_k(x)) over components of different families") {
  const std::vector<double> w{0.6, 0.4};
  const dist::MixtureGeneral m(categorical_probs(Tensor(w)),
                               {dist::Normal(1.0, 0.5).share(), dist::StudentT(3.0, -2.0, 1.5).share()});
  CHECK(m.name() == "MixtureGeneral");
  CHECK(m.num_components() == 2);
  for (double x : {-25.0, -3.0, -1.0, 0.0, 1.2, 4.0}) {
    const double density = w[0] * normal_pdf(x, 1.0, 0.5) + w[1] * student_t_pdf(x, 3.0, -2.0, 1.5);
    INFO("x = " << x);
    CHECK(mixture_close(m.log_prob(x).item(), std::log(density)));
  }
}

TEST_CASE("mixtures with batch shapes: components (2, K), mixing weights per batch element or shared") {
  // Component batch (2, 3): two mixtures of three normals each.
  const Tensor mu = Tensor{-1.0, 0.0, 2.0, 4.0, 5.0, 9.0}.reshape({2, 3});
  const Tensor s = Tensor{0.5, 1.0, 1.5, 2.0, 0.3, 1.0}.reshape({2, 3});
  const Tensor shared_w{0.2, 0.3, 0.5};
  const Tensor per_row_w = Tensor{0.1, 0.1, 0.8, 0.6, 0.3, 0.1}.reshape({2, 3});
  for (const Tensor& w : {shared_w, per_row_w}) {
    const dist::MixtureSameFamily m(categorical_probs(w), dist::Normal(mu, s).share());
    REQUIRE(m.batch_shape() == Shape{2});
    REQUIRE(m.num_components() == 3);
    const std::vector<double> points{-2.0, 0.5, 4.5, 8.0};
    // Points as a column (4, 1) broadcast with the batch (2,) to (4, 2).
    const Tensor lp = m.log_prob(Tensor(points).reshape({4, 1}));
    REQUIRE(lp.shape() == Shape{4, 2});
    for (std::int64_t i = 0; i < 4; ++i)
      for (std::int64_t b = 0; b < 2; ++b) {
        double density = 0.0;
        for (std::int64_t k = 0; k < 3; ++k) {
          const double wk = w.ndim() == 1 ? w.at({k}) : w.at({b, k});
          density += wk * normal_pdf(points[std::size_t(i)], mu.at({b, k}), s.at({b, k}));
        }
        CHECK(mixture_close(lp.at({i, b}), std::log(density)));
      }
    CHECK(m.sample(tyche::PRNGKey(3), {5}).shape() == Shape{5, 2});
    CHECK(m.mean().shape() == Shape{2});
    CHECK(m.variance().shape() == Shape{2});
  }
  // Mixing weights of batch (2,) over components of batch (3,): the
  // components are shared, the mixture has batch (2,).
  const dist::MixtureSameFamily broadcast(categorical_probs(per_row_w),
                                          dist::Normal(Tensor{-1.0, 0.0, 2.0}, 1.0).share());
  CHECK(broadcast.batch_shape() == Shape{2});
  CHECK(broadcast.sample(tyche::PRNGKey(4), {7}).shape() == Shape{7, 2});
  CHECK(mixture_close(broadcast.log_prob(Tensor{0.3, 0.3}).at({1}),
              std::log(0.6 * normal_pdf(0.3, -1.0, 1.0) + 0.3 * normal_pdf(0.3, 0.0, 1.0) +
                       0.1 * normal_pdf(0.3, 2.0, 1.0))));
  // MixtureGeneral: components of batch () and (2,) broadcast to (2,).
  const dist::MixtureGeneral general(categorical_probs(Tensor{0.5, 0.5}),
                                     {dist::Normal(0.0, 1.0).share(), dist::Normal(Tensor{1.0, 2.0}, 1.0).share()});
  CHECK(general.batch_shape() == Shape{2});
  CHECK(general.log_prob(0.0).shape() == Shape{2});
  CHECK(general.sample(tyche::PRNGKey(5), {3}).shape() == Shape{3, 2});
}

TEST_CASE("a mixture of multivariate components: event shape (2,), the component axis before it") {
  // Three components, each a pair of independent normals: component batch (3,), event (2,).
  const Tensor mu = Tensor{-2.0, 1.0, 0.0, 0.0, 3.0, -1.0}.reshape({3, 2});
  const Tensor s = Tensor{0.5, 1.0, 1.0, 2.0, 0.7, 0.4}.reshape({3, 2});
  const std::vector<double> w{0.25, 0.25, 0.5};
  const dist::MixtureSameFamily m(categorical_probs(Tensor(w)), dist::Normal(mu, s).to_event(1).share());
  REQUIRE(m.batch_shape() == Shape{});
  REQUIRE(m.event_shape() == Shape{2});
  const Tensor x = Tensor{0.5, -0.5, 2.0, 1.0}.reshape({2, 2});
  const Tensor lp = m.log_prob(x);
  REQUIRE(lp.shape() == Shape{2});
  for (std::int64_t i = 0; i < 2; ++i) {
    double density = 0.0;
    for (std::int64_t k = 0; k < 3; ++k)
      density += w[std::size_t(k)] * normal_pdf(x.at({i, 0}), mu.at({k, 0}), s.at({k, 0})) *
                 normal_pdf(x.at({i, 1}), mu.at({k, 1}), s.at({k, 1}));
    CHECK(mixture_close(lp.at({i}), std::log(density)));
  }
  // The moments per coordinate: the mixture of each coordinate's normals.
  std::vector<double> mean, variance;
  for (std::int64_t j = 0; j < 2; ++j) {
    std::vector<double> m_j, v_j;
    for (std::int64_t k = 0; k < 3; ++k) {
      m_j.push_back(mu.at({k, j}));
      v_j.push_back(s.at({k, j}) * s.at({k, j}));
    }
    mean.push_back(mixture_mean(w, m_j));
    variance.push_back(mixture_variance(w, m_j, v_j));
  }
  check_mixture_moments(m, 11, mean, variance);
  CHECK_THROWS_WITH(m.log_prob(Tensor(0.0)), Catch::Contains("fewer axes than the event shape"));
}

TEST_CASE("mixture log_prob gradients in the weights, the component parameters and the value match finite differences") {
  check_gradient("MixtureSameFamily by logits",
                 [](const Inputs& in) {
                   return dist::MixtureSameFamily(dist::Categorical({.logits = in[0]}), dist::Normal(in[1], in[2]))
                       .log_prob(in[3]);
                 },
                 {{Shape{3}, kReal}, {Shape{3}, kReal}, {Shape{3}, kPositive}, {Shape{4}, kReal}});
  // By probabilities: the weights softmax(in[0]), so that they stay on the simplex.
  check_gradient("MixtureSameFamily by probs, batch (2,)",
                 [](const Inputs& in) {
                   const Tensor probs = tyche::exp(in[0] - tyche::logsumexp(in[0], -1, true));
                   return dist::MixtureSameFamily(dist::Categorical({.probs = probs}), dist::Normal(in[1], in[2]))
                       .log_prob(in[3]);
                 },
                 {{Shape{2, 3}, kReal}, {Shape{2, 3}, kReal}, {Shape{2, 3}, kPositive}, {Shape{4, 1}, kReal}});
  check_gradient("MixtureGeneral (Normal, StudentT, Gamma on positive values)",
                 [](const Inputs& in) {
                   return dist::MixtureGeneral(
                              dist::Categorical({.logits = in[0]}).share(),
                              {dist::Normal(in[1], in[2]).share(), dist::StudentT(3.0, in[1], in[2]).share(),
                               dist::Gamma(in[2], 1.5).share()},
                              tyche::constraints::positive)
                       .log_prob(in[3]);
                 },
                 {{Shape{3}, kReal}, {Shape{}, kReal}, {Shape{}, kPositive}, {Shape{3}, kPositive}});
  // mean and variance are differentiable too.
  check_gradient("MixtureSameFamily mean and variance",
                 [](const Inputs& in) {
                   const dist::MixtureSameFamily m(dist::Categorical({.logits = in[0]}), dist::Normal(in[1], in[2]));
                   return tyche::stack({m.mean(), m.variance()});
                 },
                 {{Shape{3}, kReal}, {Shape{3}, kReal}, {Shape{3}, kPositive}});
}

TEST_CASE("outside the components' support log_prob is -inf, with finite gradients") {
  const auto log_prob = [](const Tensor& q) {
    return dist::MixtureSameFamily(dist::Categorical({.logits = q.slice(0, 2)}), dist::Gamma(q.slice(2, 4), 1.0))
        .log_prob(-1.0);
  };
  Eigen::VectorXd q0(4);
  q0 << 0.3, -0.2, 1.5, 2.5;
  CHECK(log_prob(Tensor(q0)).item() == -kInf);
  const tyche::ValueAndGrad result = tyche::value_and_grad(log_prob, q0);
  CHECK(result.value == -kInf);
  INFO("gradient " << result.grad.transpose());
  CHECK(result.grad.array().isFinite().all());
}

TEST_CASE("mixture draws have the closed-form mixture mean and variance") {
  // Two batch elements of three normals, weights per element.
  const Tensor mu = Tensor{-3.0, 0.0, 4.0, 1.0, 2.0, 10.0}.reshape({2, 3});
  const Tensor s = Tensor{0.5, 1.0, 2.0, 1.0, 0.2, 3.0}.reshape({2, 3});
  const Tensor w = Tensor{0.3, 0.3, 0.4, 0.7, 0.2, 0.1}.reshape({2, 3});
  const dist::MixtureSameFamily same(categorical_probs(w), dist::Normal(mu, s).share());
  std::vector<double> mean, variance;
  for (std::int64_t b = 0; b < 2; ++b) {
    std::vector<double> wb, mb, vb;
    for (std::int64_t k = 0; k < 3; ++k) {
      wb.push_back(w.at({b, k}));
      mb.push_back(mu.at({b, k}));
      vb.push_back(s.at({b, k}) * s.at({b, k}));
    }
    mean.push_back(mixture_mean(wb, mb));
    variance.push_back(mixture_variance(wb, mb, vb));
  }
  check_mixture_moments(same, 1, mean, variance);

  // A normal and a gamma (mean a / b, variance a / b^2), on the real line.
  const dist::MixtureGeneral general(dist::Categorical({.logits = Tensor{0.0, std::log(3.0)}}).share(),
                                     {dist::Normal(-2.0, 1.0).share(), dist::Gamma(4.0, 0.5).share()},
                                     tyche::constraints::real);
  // Below 0 only the normal contributes: the gamma's log density is -inf there.
  CHECK(mixture_close(general.log_prob(-1.0).item(), std::log(0.25 * normal_pdf(-1.0, -2.0, 1.0))));
  CHECK(mixture_close(general.log_prob(3.0).item(),
              std::log(0.25 * normal_pdf(3.0, -2.0, 1.0) + 0.75 * bm::pdf(bm::gamma_distribution<>(4.0, 2.0), 3.0))));
  check_mixture_moments(general, 2, {mixture_mean({0.25, 0.75}, {-2.0, 8.0})},
                {mixture_variance({0.25, 0.75}, {-2.0, 8.0}, {1.0, 16.0})});

  // A discrete mixture is discrete: two Poissons.
  const dist::MixtureSameFamily counts(categorical_probs(Tensor{0.5, 0.5}), dist::Poisson(Tensor{1.0, 9.0}).share());
  CHECK(counts.is_discrete());
  check_mixture_moments(counts, 3, {5.0}, {mixture_variance({0.5, 0.5}, {1.0, 9.0}, {1.0, 9.0})});
}

TEST_CASE("mixture draws use the keys as NumPyro: components on the first half of split(key), the index on the second") {
  const Tensor mu{-5.0, 0.0, 5.0};
  const Tensor w{0.2, 0.3, 0.5};
  const dist::Normal component(mu, 1.0);
  const dist::Categorical mixing({.probs = w});
  const tyche::Key key = tyche::PRNGKey(7);
  const auto [key_component, key_index] = tyche::split(key);
  const Tensor draws = component.sample(key_component, {50});  // (50, 3)
  const Tensor indices = mixing.sample(key_index, {50});       // (50,)
  const Tensor x = dist::MixtureSameFamily(mixing, component).sample(key, {50});
  REQUIRE(x.shape() == Shape{50});
  for (std::int64_t i = 0; i < 50; ++i) CHECK(x.at({i}) == draws.at({i, std::int64_t(indices.at({i}))}));

  // MixtureGeneral: component k on split(split(key)[0], K)[k].
  const std::vector<tyche::Key> keys = tyche::split(key_component, 2);
  const Tensor normal_draws = dist::Normal(-5.0, 1.0).sample(keys[0], {50});
  const Tensor student_draws = dist::StudentT(4.0, 5.0).sample(keys[1], {50});
  const dist::Categorical two({.probs = Tensor{0.5, 0.5}});
  const Tensor picks = two.sample(key_index, {50});
  const Tensor y = dist::MixtureGeneral(two.share(), {dist::Normal(-5.0, 1.0).share(), dist::StudentT(4.0, 5.0).share()})
                       .sample(key, {50});
  for (std::int64_t i = 0; i < 50; ++i)
    CHECK(y.at({i}) == (picks.at({i}) == 0.0 ? normal_draws.at({i}) : student_draws.at({i})));
}

TEST_CASE("mixture arguments are checked with messages naming the mixture") {
  const DistributionPtr normals = dist::Normal(Tensor{0.0, 1.0, 2.0}, 1.0).share();
  CHECK_THROWS_WITH(dist::MixtureSameFamily(categorical_probs(Tensor{0.5, 0.5}), normals),
                    Catch::Contains("MixtureSameFamily") && Catch::Contains("2 categories") &&
                        Catch::Contains("3 components"));
  CHECK_THROWS_WITH(dist::MixtureSameFamily(dist::Normal(0.0, 1.0).share(), normals),
                    Catch::Contains("MixtureSameFamily: the mixing distribution must be a Categorical") &&
                        Catch::Contains("Normal"));
  CHECK_THROWS_WITH(dist::MixtureSameFamily(categorical_probs(Tensor{1.0}), dist::Normal(0.0, 1.0).share()),
                    Catch::Contains("rightmost batch axis of components"));
  // Mixing batch (2,) against components' batch (3,) without the component axis.
  CHECK_THROWS_WITH(dist::MixtureSameFamily(categorical_probs(Tensor{0.5, 0.5, 0.5, 0.5}.reshape({2, 2})),
                                            dist::Normal(Tensor::full({3, 2}, 0.0), 1.0).share()),
                    Catch::Contains("MixtureSameFamily"));
  CHECK_THROWS_WITH(dist::MixtureGeneral(categorical_probs(Tensor{0.2, 0.3, 0.5}), {normals, normals}),
                    Catch::Contains("MixtureGeneral") && Catch::Contains("3 categories but 2 components"));
  CHECK_THROWS_WITH(dist::MixtureGeneral(dist::Bernoulli({.probs = 0.5}).share(), {normals, normals}),
                    Catch::Contains("MixtureGeneral: the mixing distribution must be a Categorical"));
  CHECK_THROWS_WITH(dist::MixtureGeneral(categorical_probs(Tensor{0.5, 0.5}), {}),
                    Catch::Contains("MixtureGeneral: needs at least one component"));
  CHECK_THROWS_WITH(
      dist::MixtureGeneral(categorical_probs(Tensor{0.5, 0.5}),
                           {dist::Normal(0.0, 1.0).share(), dist::Normal(Tensor{0.0, 1.0}, 1.0).to_event(1).share()}),
      Catch::Contains("MixtureGeneral: component 1") && Catch::Contains("event shape"));
  CHECK_THROWS_WITH(dist::MixtureGeneral(categorical_probs(Tensor{0.5, 0.5}),
                                         {dist::Normal(0.0, 1.0).share(), dist::Gamma(2.0, 1.0).share()}),
                    Catch::Contains("MixtureGeneral: component 1 (Gamma) has support") &&
                        Catch::Contains("give the mixture's support"));
}

TEST_CASE("NUTS recovers the locations of a well-separated two-component normal mixture", "[mcmc][statistical]") {
  // 200 points from 0.4 N(-3, 1) + 0.6 N(3, 1), drawn with a fixed key.
  const dist::MixtureSameFamily truth(categorical_probs(Tensor{0.4, 0.6}), dist::Normal(Tensor{-3.0, 3.0}, 1.0).share());
  const Tensor y = truth.sample(tyche::PRNGKey(21), {200});
  // The posterior has a second mode with the labels switched (weights 0.4 and
  // 0.6 swapped onto the wrong clusters), six data scales away across a deep
  // trough. Starting at the prior medians -2 and 2 puts the chain in the
  // labelled mode, as the priors N(-2, 1) and N(2, 1) intend.
  const auto model = [&y] {
    const Tensor locs = tyche::sample("locs", dist::Normal(Tensor{-2.0, 2.0}, 1.0).to_event(1));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::MixtureSameFamily(categorical_probs(Tensor{0.4, 0.6}), dist::Normal(locs, 1.0).share()),
                  y);
  };
  tyche::MCMC mcmc(tyche::NUTS(model, {.init_strategy = tyche::init_to_median()}), {.num_warmup = 300, .num_samples = 300, .progress_bar = false});
  mcmc.run(5);
  const Tensor locs = mcmc.get_samples().at("locs");
  REQUIRE(locs.shape() == Shape{300, 2});
  // Each location's posterior sd is about 1 / sqrt(80) = 0.11 (left) and
  // 1 / sqrt(120) = 0.09 (right); its mean sits within ~0.1 of the truth by
  // the data's own noise. 0.4 is four of those sds plus generous Monte Carlo
  // error (300 draws: standard error ~0.01).
  const Tensor posterior_mean = tyche::mean(locs, 0);
  INFO("posterior means " << posterior_mean.at({0}) << ", " << posterior_mean.at({1}));
  CHECK(std::abs(posterior_mean.at({0}) + 3.0) < 0.4);
  CHECK(std::abs(posterior_mean.at({1}) - 3.0) < 0.4);
  // The data really has 40% of its points in the left cluster (within 4
  // binomial sds, 4 sqrt(0.24 / 200) = 0.14).
  CHECK(tyche::mean(y < 0.0).item() == Approx(0.4).margin(0.14));
}
