// SVI, Trace_ELBO, AutoNormal and AutoDelta against closed forms:
// - the conjugate Normal-Normal model, whose exact posterior N(m_n, s_n^2)
//   is also the optimum of a Normal guide (AutoNormal's loc and scale);
// - the ELBO of a Normal guide, whose expectation has a closed form, and the
//   per-draw value log p(y, z) - log q(z) written out by hand;
// - MAP estimates in closed form (AutoDelta: no Jacobian term);
// - the param layout (names in order, unconstrained coordinates) and errors.
#include <catch2/catch.hpp>
#include <boost/math/special_functions/trigamma.hpp>

#include <cmath>
#include <iostream>
#include <numbers>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "require_throws.hpp"
#include "tyche/distributions/discrete.hpp"
#include "tyche/distributions/multivariate.hpp"
#include "tyche/infer/autoguide.hpp"
#include "tyche/infer/svi.hpp"

namespace {

namespace dist = tyche::dist;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

// mu ~ N(m0, s0), y_i ~ N(mu, sigma).
constexpr double kM0 = 1.0, kS0 = 2.0, kSigma = 1.5;
const tyche::Tensor kY{2.1, 3.4, 1.7, 4.0, 2.9};

auto normal_model = [](const tyche::Tensor& y) {
  auto mu = tyche::sample("mu", dist::Normal(kM0, kS0));
  tyche::plate data("data", y.size());
  tyche::sample("y", dist::Normal(mu, kSigma), y);
};

// The exact posterior of mu: precision 1/s0^2 + n/sigma^2.
struct Posterior {
  double mean, sd;
};
Posterior exact_posterior() {
  double sum = 0.0;
  for (std::int64_t i = 0; i < kY.size(); ++i) sum += kY.data()[i];
  const double precision = 1.0 / (kS0 * kS0) + double(kY.size()) / (kSigma * kSigma);
  return {(kM0 / (kS0 * kS0) + sum / (kSigma * kSigma)) / precision, 1.0 / std::sqrt(precision)};
}

// A hand-written guide: loc on the real line, scale positive.
auto normal_guide = [](const tyche::Tensor&) {
  auto loc = tyche::param("loc", 0.5);
  auto scale = tyche::param("scale", 0.8, tyche::constraints::positive);
  tyche::sample("mu", dist::Normal(loc, scale));
};

double log_normal_pdf(double x, double m, double s) {
  return -0.5 * std::log(2.0 * std::numbers::pi * s * s) - 0.5 * (x - m) * (x - m) / (s * s);
}

// The ELBO of q = N(m, s) for normal_model, in closed form:
// E_q log p(y | mu) + E_q log p(mu) + H(q), with E_q (x - mu)^2 = (x - m)^2 + s^2.
double closed_form_elbo(double m, double s) {
  double elbo = 0.0;
  for (std::int64_t i = 0; i < kY.size(); ++i) {
    const double y = kY.data()[i];
    elbo += -0.5 * std::log(2.0 * std::numbers::pi * kSigma * kSigma) - ((y - m) * (y - m) + s * s) / (2 * kSigma * kSigma);
  }
  elbo += -0.5 * std::log(2.0 * std::numbers::pi * kS0 * kS0) - ((m - kM0) * (m - kM0) + s * s) / (2 * kS0 * kS0);
  elbo += 0.5 * std::log(2.0 * std::numbers::pi * std::numbers::e * s * s);
  return elbo;
}

// A step size decaying from `start` to `start * end_fraction` over `steps`,
// so that the last iterates sit close to the optimum instead of rattling
// around it at Adam's constant step.
tyche::optim::StepSize decaying(double start, double end_fraction, std::int64_t steps) {
  return [=](std::int64_t i) { return start * std::pow(end_fraction, double(i) / double(steps)); };
}

}  // namespace

TEST_CASE("Trace_ELBO: one particle is log p(y, z) - log q(z) at the guide's draw, written out by hand", "[svi]") {
  const tyche::ValueMap params{{"loc", 2.0}, {"scale", 0.7}};
  const tyche::Key key = tyche::PRNGKey(3);
  const tyche::Tensor loss = tyche::Trace_ELBO{}.loss(key, params, normal_model, normal_guide, std::tuple{kY});
  // The guide's draw: the guide's half of the key, as Trace_ELBO splits it (model key first, then guide key).
  const auto [model_key, guide_key] = tyche::split(key);
  (void)model_key;
  const double z = tyche::trace(tyche::substitute(tyche::seed(normal_guide, guide_key), params))
                       .get_trace(kY)["mu"]
                       .value->item();
  double log_joint = log_normal_pdf(z, kM0, kS0);
  for (std::int64_t i = 0; i < kY.size(); ++i) log_joint += log_normal_pdf(kY.data()[i], z, kSigma);
  CHECK_THAT(loss.item(), WithinRel(-(log_joint - log_normal_pdf(z, 2.0, 0.7)), 1e-12));
}

TEST_CASE("Trace_ELBO: num_particles averages the single-particle losses of split(key, n)", "[svi]") {
  const tyche::ValueMap params{{"loc", 2.0}, {"scale", 0.7}};
  const tyche::Key key = tyche::PRNGKey(11);
  const double averaged = tyche::Trace_ELBO{.num_particles = 4}.loss(key, params, normal_model, normal_guide, std::tuple{kY}).item();
  double sum = 0.0;
  for (const tyche::Key& k : tyche::split(key, 4))
    sum += tyche::Trace_ELBO{}.loss(k, params, normal_model, normal_guide, std::tuple{kY}).item();
  CHECK_THAT(averaged, WithinRel(sum / 4.0, 1e-12));
}

TEST_CASE("Trace_ELBO: the mean single-particle loss matches the closed-form ELBO within Monte Carlo error", "[svi]") {
  const double m = 2.3, s = 0.6;
  const tyche::ValueMap params{{"loc", m}, {"scale", s}};
  constexpr int kDraws = 4000;
  double sum = 0.0, sum_squares = 0.0;
  for (const tyche::Key& k : tyche::split(tyche::PRNGKey(5), kDraws)) {
    const double loss = tyche::Trace_ELBO{}.loss(k, params, normal_model, normal_guide, std::tuple{kY}).item();
    sum += loss;
    sum_squares += loss * loss;
  }
  const double mean = sum / kDraws;
  const double standard_error = std::sqrt((sum_squares / kDraws - mean * mean) / kDraws);
  // Four standard errors of the mean of 4000 independent draws (fixed seed).
  CHECK_THAT(mean, WithinAbs(-closed_form_elbo(m, s), 4.0 * standard_error));
  CHECK(standard_error > 0.0);
}

TEST_CASE("SVI: a hand-written guide's params live on the unconstrained space through biject_to", "[svi]") {
  tyche::SVI svi(normal_model, normal_guide, tyche::optim::Adam({.step_size = 0.1}), tyche::Trace_ELBO{});
  auto state = svi.init(0, kY);
  const tyche::ParamLayout& layout = svi.layout();
  REQUIRE(layout.size() == 2);
  CHECK(layout.sites()[0].name == "loc");  // by name
  CHECK(layout.sites()[1].name == "scale");
  CHECK_THAT(state.optim_state.params[0], WithinAbs(0.5, 1e-15));
  CHECK_THAT(state.optim_state.params[1], WithinRel(std::log(0.8), 1e-14));  // exp maps onto positive
  const tyche::ValueMap params = svi.get_params(state);
  CHECK_THAT(params.at("scale").item(), WithinRel(0.8, 1e-14));

  // One update: the loss it reports is the loss at the old params with the
  // key it splits (what evaluate computes), and Adam's first step moves each
  // coordinate by step_size against the sign of its gradient.
  const double before = svi.evaluate(state, kY);
  const auto [next, loss] = svi.update(state, kY);
  CHECK_THAT(loss, WithinRel(before, 1e-13));
  const Eigen::VectorXd moved = next.optim_state.params - state.optim_state.params;
  CHECK_THAT(std::abs(moved[0]), WithinRel(0.1, 1e-6));
  CHECK_THAT(std::abs(moved[1]), WithinRel(0.1, 1e-6));
  CHECK(!(next.rng_key == state.rng_key));

  // init_params replaces initial values (constrained), and must name a param.
  auto given = svi.init(0, kY, tyche::SVIInitOptions{.init_params = tyche::ValueMap{{"scale", 2.0}}});
  CHECK_THAT(given.optim_state.params[1], WithinRel(std::log(2.0), 1e-14));
  REQUIRE_THROWS_CONTAINING(svi.init(0, kY, tyche::SVIInitOptions{.init_params = tyche::ValueMap{{"sigma", 2.0}}}),
                            std::invalid_argument, "`sigma`", "`loc`, `scale`");
  REQUIRE_THROWS_CONTAINING(svi.init(0, kY, tyche::SVIInitOptions{.init_params = tyche::ValueMap{{"scale", -1.0}}}),
                            std::invalid_argument, "param `scale`", "outside its constraint");
}

TEST_CASE("SVI: a hand-written guide fits the exact Normal-Normal posterior", "[svi]") {
  constexpr std::int64_t kSteps = 4000;
  tyche::SVI svi(normal_model, normal_guide, tyche::optim::Adam({.step_size = decaying(0.05, 0.002, kSteps)}),
                 tyche::Trace_ELBO{.num_particles = 4});
  const auto result = svi.run(1, kSteps, kY, tyche::SVIRunOptions{.progress_bar = false});
  const Posterior exact = exact_posterior();
  // The last steps are 1e-4 long, but the iterate still carries the noise of
  // the gradients (4 particles) averaged by Adam's moments: over seeds 0-7
  // the errors of loc and scale stay below 0.013 (sd of the posterior 0.63);
  // 0.03 leaves a margin of over 2x.
  CHECK_THAT(result.params.at("loc").item(), WithinAbs(exact.mean, 0.03));
  CHECK_THAT(result.params.at("scale").item(), WithinAbs(exact.sd, 0.03));
  REQUIRE(result.losses.size() == kSteps);
  // The loss falls: the mean of the last 500 below the first.
  double tail = 0.0;
  for (std::int64_t i = kSteps - 500; i < kSteps; ++i) tail += result.losses.data()[i];
  CHECK(tail / 500 < result.losses.data()[0]);
}

TEST_CASE("AutoNormal fits the exact Normal-Normal posterior, median and quantiles", "[svi]") {
  constexpr std::int64_t kSteps = 4000;
  const auto guide = tyche::AutoNormal(normal_model);
  tyche::SVI svi(normal_model, guide, tyche::optim::Adam({.step_size = decaying(0.05, 0.002, kSteps)}),
                 tyche::Trace_ELBO{.num_particles = 4});
  const auto result = svi.run(2, kSteps, kY, tyche::SVIRunOptions{.progress_bar = false});
  REQUIRE(svi.layout().names() == "`mu_auto_loc`, `mu_auto_scale`");
  const Posterior exact = exact_posterior();
  // As in the hand-written guide's test.
  CHECK_THAT(result.params.at("mu_auto_loc").item(), WithinAbs(exact.mean, 0.03));
  CHECK_THAT(result.params.at("mu_auto_scale").item(), WithinAbs(exact.sd, 0.03));
  // The copy handed to SVI shares the prototype with `guide`.
  CHECK_THAT(guide.median(result.params).at("mu").item(), WithinRel(result.params.at("mu_auto_loc").item(), 1e-15));
  const tyche::Tensor q = guide.quantiles(result.params, {0.05, 0.5, 0.975}).at("mu");
  const double loc = result.params.at("mu_auto_loc").item(), scale = result.params.at("mu_auto_scale").item();
  REQUIRE(q.shape() == tyche::Shape{3});
  CHECK_THAT(q.data()[0], WithinRel(loc - 1.6448536269514722 * scale, 1e-12));
  CHECK_THAT(q.data()[1], WithinRel(loc, 1e-12));
  CHECK_THAT(q.data()[2], WithinRel(loc + 1.959963984540054 * scale, 1e-12));

  // 4000 posterior draws: their mean within 4 standard errors (scale / sqrt(4000))
  // of loc, their sd within 4 standard errors (about scale / sqrt(2 * 4000)) of scale.
  const tyche::Tensor draws = guide.sample_posterior(tyche::PRNGKey(9), result.params, 4000).at("mu");
  REQUIRE(draws.shape() == tyche::Shape{4000});
  double sum = 0.0, sum_squares = 0.0;
  for (std::int64_t i = 0; i < draws.size(); ++i) {
    sum += draws.data()[i];
    sum_squares += draws.data()[i] * draws.data()[i];
  }
  const double mean = sum / 4000.0, sd = std::sqrt(sum_squares / 4000.0 - mean * mean);
  CHECK_THAT(mean, WithinAbs(loc, 4.0 * scale / std::sqrt(4000.0)));
  CHECK_THAT(sd, WithinAbs(scale, 4.0 * scale / std::sqrt(8000.0)));
}

TEST_CASE("AutoNormal on a positive site: a TransformedDistribution through exp, median exp(loc)", "[svi]") {
  // tau ~ Gamma(a, b), y_i ~ N(0, 1/sqrt(tau)).
  auto model = [](const tyche::Tensor& y) {
    auto tau = tyche::sample("tau", dist::Gamma(3.0, 2.0));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Normal(0.0, 1.0 / tyche::sqrt(tau)), y);
  };
  const auto guide = tyche::AutoNormal(model, {.init_loc_fn = tyche::init_to_value({{"tau", 2.0}}), .init_scale = 0.3});
  tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
  const auto state = svi.init(0, kY);
  const tyche::ValueMap params = svi.get_params(state);
  CHECK_THAT(params.at("tau_auto_loc").item(), WithinRel(std::log(2.0), 1e-14));
  CHECK_THAT(params.at("tau_auto_scale").item(), WithinRel(0.3, 1e-14));
  CHECK_THAT(guide.median(params).at("tau").item(), WithinRel(2.0, 1e-14));
  // The guide's site: log q(tau) = log N(log tau; loc, scale) - log tau.
  const tyche::Trace tr = tyche::trace(tyche::substitute(tyche::seed(guide, 4), params)).get_trace(kY);
  const double tau = tr["tau"].value->item();
  CHECK_THAT(tr["tau"].fn->log_prob(tau).item(),
             WithinRel(log_normal_pdf(std::log(tau), std::log(2.0), 0.3) - std::log(tau), 1e-12));
}

TEST_CASE("AutoDelta finds the MAP in the constrained space (no Jacobian term)", "[svi]") {
  // mu ~ N(m0, s0), y_i ~ N(mu, sigma); tau ~ Gamma(a, b), x_j ~ N(0, 1/sqrt(tau)).
  // MAP: mu = the posterior mean; tau = (a - 1 + n/2) / (b + S/2), S = sum x_j^2
  // (with the Jacobian of exp it would be (a + n/2) / (b + S/2)).
  constexpr double a = 3.0, b = 2.0;
  const tyche::Tensor x{0.3, -1.2, 0.8, 2.0};
  auto model = [&](const tyche::Tensor& y) {
    auto mu = tyche::sample("mu", dist::Normal(kM0, kS0));
    auto tau = tyche::sample("tau", dist::Gamma(a, b));
    {
      tyche::plate data("data", y.size());
      tyche::sample("y", dist::Normal(mu, kSigma), y);
    }
    tyche::plate other("other", x.size());
    tyche::sample("x", dist::Normal(0.0, 1.0 / tyche::sqrt(tau)), x);
  };
  double s = 0.0;
  for (std::int64_t j = 0; j < x.size(); ++j) s += x.data()[j] * x.data()[j];
  const double tau_map = (a - 1.0 + double(x.size()) / 2.0) / (b + s / 2.0);

  constexpr std::int64_t kSteps = 2000;
  const auto guide = tyche::AutoDelta(model);
  tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = decaying(0.05, 0.01, kSteps)}), tyche::Trace_ELBO{});
  const auto result = svi.run(0, kSteps, kY, tyche::SVIRunOptions{.progress_bar = false});
  REQUIRE(svi.layout().names() == "`mu_auto_loc`, `tau_auto_loc`");
  // The gradient is exact (a point mass draws no noise): Adam's last steps,
  // 5e-4 long, leave the params within a few of them of the optimum.
  CHECK_THAT(result.params.at("mu_auto_loc").item(), WithinAbs(exact_posterior().mean, 2e-3));
  CHECK_THAT(result.params.at("tau_auto_loc").item(), WithinAbs(tau_map, 2e-3));
  CHECK_THAT(guide.median(result.params).at("tau").item(), WithinRel(result.params.at("tau_auto_loc").item(), 1e-15));
  const tyche::Tensor repeated = guide.sample_posterior(tyche::PRNGKey(0), result.params, 3).at("tau");
  REQUIRE(repeated.shape() == tyche::Shape{3});
  CHECK(repeated.data()[2] == result.params.at("tau_auto_loc").item());
  // tau's param lives in the positive reals: its coordinate is log tau.
  CHECK_THAT(result.state.optim_state.params[1], WithinRel(std::log(result.params.at("tau_auto_loc").item()), 1e-12));
}

TEST_CASE("AutoNormal re-enters a site's plates: independent posteriors per element", "[svi]") {
  // theta_j ~ N(0, 1), y_j ~ N(theta_j, 1) in plate J: posterior N(y_j / 2, 1 / sqrt(2)) each.
  auto model = [](const tyche::Tensor& y) {
    tyche::plate schools("J", y.size());
    auto theta = tyche::sample("theta", dist::Normal(0.0, 1.0));
    tyche::sample("y", dist::Normal(theta, 1.0), y);
  };
  const tyche::Tensor y{-1.0, 0.5, 3.0};
  constexpr std::int64_t kSteps = 4000;
  const auto guide = tyche::AutoNormal(model);
  tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = decaying(0.05, 0.002, kSteps)}),
                 tyche::Trace_ELBO{.num_particles = 4});
  const auto result = svi.run(0, kSteps, y, tyche::SVIRunOptions{.progress_bar = false});
  const tyche::Trace tr = tyche::trace(tyche::substitute(tyche::seed(guide, 0), result.params)).get_trace(y);
  REQUIRE(tr["theta"].cond_indep_stack.size() == 1);
  CHECK(tr["theta"].cond_indep_stack[0].name == "J");
  const tyche::Tensor& loc = result.params.at("theta_auto_loc");
  const tyche::Tensor& scale = result.params.at("theta_auto_scale");
  REQUIRE(loc.shape() == tyche::Shape{3});
  // As the scalar Normal-Normal fit (posterior sd 0.71 here): over seeds 0-7 the
  // worst of the six errors is 0.015; 0.03 leaves a margin of 2x.
  for (std::int64_t j = 0; j < 3; ++j) {
    CHECK_THAT(loc.data()[j], WithinAbs(y.data()[j] / 2.0, 0.03));
    CHECK_THAT(scale.data()[j], WithinAbs(1.0 / std::sqrt(2.0), 0.03));
  }
}

TEST_CASE("AutoDelta on a simplex site: the Dirichlet-categorical MAP", "[svi]") {
  // w ~ Dirichlet(alpha), x_i ~ Categorical(w): MAP w_k = (n_k + alpha_k - 1) / (N + sum(alpha) - K).
  auto model = [](const tyche::Tensor& x) {
    auto w = tyche::sample("w", dist::Dirichlet(tyche::Tensor{2.0, 3.0, 4.0}));
    tyche::plate data("data", x.size());
    tyche::sample("x", dist::Categorical({.probs = w}), x);
  };
  const tyche::Tensor x{0.0, 0.0, 1.0, 2.0, 2.0, 2.0};  // n = (2, 1, 3)
  constexpr std::int64_t kSteps = 2000;
  const auto guide = tyche::AutoDelta(model);
  tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = decaying(0.05, 0.01, kSteps)}), tyche::Trace_ELBO{});
  const auto result = svi.run(0, kSteps, x, tyche::SVIRunOptions{.progress_bar = false});
  const tyche::Tensor& w = result.params.at("w_auto_loc");
  REQUIRE(w.shape() == tyche::Shape{3});
  REQUIRE(svi.layout().size() == 2);  // a simplex of 3 has 2 coordinates
  // Exact gradients, as in the Normal-Gamma MAP test.
  CHECK_THAT(w.data()[0], WithinAbs(0.25, 2e-3));
  CHECK_THAT(w.data()[1], WithinAbs(0.25, 2e-3));
  CHECK_THAT(w.data()[2], WithinAbs(0.5, 2e-3));

  // AutoNormal on the same site: a Normal over the 2 stick-breaking coordinates, event_dim 1.
  const auto normal = tyche::AutoNormal(model);
  tyche::SVI fit(model, normal, tyche::optim::Adam({.step_size = 0.05}), tyche::Trace_ELBO{});
  auto state = fit.init(0, x);
  for (int i = 0; i < 20; ++i) state = fit.update(state, x).first;
  const tyche::ValueMap params = fit.get_params(state);
  REQUIRE(params.at("w_auto_loc").shape() == tyche::Shape{2});
  const tyche::Tensor median = normal.median(params).at("w");
  REQUIRE(median.shape() == tyche::Shape{3});
  CHECK_THAT(median.data()[0] + median.data()[1] + median.data()[2], WithinAbs(1.0, 1e-12));
}

TEST_CASE("SVI: stable_update skips a step whose loss is not finite", "[svi]") {
  // A model param a with log factor log(a): started at a = -1 the loss is NaN.
  auto model = [](const tyche::Tensor&) { tyche::factor("f", tyche::log(tyche::param("a", 1.0))); };
  auto guide = [](const tyche::Tensor&) {};
  tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.1}), tyche::Trace_ELBO{});
  const auto state = svi.init(0, kY, tyche::SVIInitOptions{.init_params = tyche::ValueMap{{"a", -1.0}}});
  const auto [kept, loss] = svi.stable_update(state, kY);
  CHECK(std::isnan(loss));
  CHECK(kept.optim_state.params[0] == -1.0);
  CHECK(kept.optim_state.step == state.optim_state.step);
  CHECK(!(kept.rng_key == state.rng_key));
  // update steps regardless (the gradient -1/a is finite).
  CHECK(svi.update(state, kY).first.optim_state.step == 1);
  // From a = 1 both agree: the loss is -log(1) = 0.
  const auto fine = svi.init(0, kY);
  const auto [stable, stable_loss] = svi.stable_update(fine, kY);
  const auto [plain, plain_loss] = svi.update(fine, kY);
  CHECK(stable_loss == 0.0);
  CHECK(plain_loss == 0.0);
  CHECK(stable.optim_state.params[0] == plain.optim_state.params[0]);
}

TEST_CASE("Seed 003's Gaussian mixture MAP, with the assignments summed out by hand", "[svi]") {
  // The seed's model with each point's assignment marginalised with logsumexp
  // (what TraceEnum_ELBO does for it): log p(x_i) = logsumexp_k(log w_k + log N(x_i | loc_k, scale)).
  auto mixture = [](const tyche::Tensor& data) {
    auto weights = tyche::sample("weights", dist::Dirichlet(tyche::Tensor{0.5, 0.5}));
    auto scale = tyche::sample("scale", dist::LogNormal(0.0, 2.0));
    tyche::Tensor locs;
    {
      tyche::plate components("components", 2);
      locs = tyche::sample("locs", dist::Normal(0.0, 10.0));
    }
    tyche::plate points("data", data.size());
    const tyche::Tensor terms = tyche::log(weights) + dist::Normal(locs, scale).log_prob(data.reshape({data.size(), 1}));
    tyche::factor("obs", tyche::logsumexp(terms, -1));
  };
  const tyche::Tensor data{0.0, 1.0, 10.0, 11.0, 12.0};
  const auto guide = tyche::AutoDelta(tyche::block(mixture, {.expose = {"weights", "locs", "scale"}}));
  tyche::SVI svi(mixture, guide, tyche::optim::Adam({.step_size = 0.1, .b1 = 0.8, .b2 = 0.99}), tyche::Trace_ELBO{});
  // The seed's initialisation: uniform weights, scale sqrt(var(data) / 2) with
  // the unbiased variance (33.7), locs two distinct data points; the best initial
  // loss over all such pairs (the seed draws 100 pairs at random).
  std::optional<tyche::ValueMap> best;
  double best_loss = INFINITY;
  for (std::int64_t i = 0; i < data.size(); ++i)
    for (std::int64_t j = 0; j < data.size(); ++j) {
      if (i == j) continue;
      tyche::ValueMap init{{"weights_auto_loc", tyche::Tensor{0.5, 0.5}},
                           {"scale_auto_loc", std::sqrt(33.7 / 2.0)},
                           {"locs_auto_loc", tyche::Tensor{data.data()[i], data.data()[j]}}};
      const double loss = svi.evaluate(svi.init(0, data, tyche::SVIInitOptions{.init_params = init}), data);
      if (loss < best_loss) best_loss = loss, best = init;
    }
  const auto result = svi.run(0, 200, data, tyche::SVIRunOptions{.init_params = best, .progress_bar = false});
  const tyche::ValueMap map = guide.median(result.params);
  const tyche::Tensor &weights = map.at("weights"), &locs = map.at("locs");
  const bool swapped = locs.data()[0] > locs.data()[1];  // components sorted by loc
  // The seed printed weights [0.375, 0.625], locs [0.49887, 10.98446], scale
  // 0.65143 (float32, 200 steps from its initialisation); the issue asks for
  // 0.02. The loss is exact (point masses, no latent site left), so the fit
  // sits at the same optimum: 2e-3.
  CHECK_THAT(weights.data()[swapped ? 1 : 0], WithinAbs(0.375, 2e-3));
  CHECK_THAT(weights.data()[swapped ? 0 : 1], WithinAbs(0.625, 2e-3));
  CHECK_THAT(locs.data()[swapped ? 1 : 0], WithinAbs(0.49887, 2e-3));
  CHECK_THAT(locs.data()[swapped ? 0 : 1], WithinAbs(10.98446, 2e-3));
  CHECK_THAT(map.at("scale").item(), WithinAbs(0.65143, 2e-3));
}

TEST_CASE("SVI collects the model's param sites too", "[svi]") {
  // Empirical Bayes: the prior's loc is a param of the model, fitted with a point-mass guide.
  auto model = [](const tyche::Tensor& y) {
    auto prior_loc = tyche::param("prior_loc", 0.0);
    auto mu = tyche::sample("mu", dist::Normal(prior_loc, kS0));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Normal(mu, kSigma), y);
  };
  tyche::SVI svi(model, tyche::AutoDelta(model), tyche::optim::Adam({.step_size = 0.1}), tyche::Trace_ELBO{});
  svi.init(0, kY);
  CHECK(svi.layout().names() == "`mu_auto_loc`, `prior_loc`");
}

TEST_CASE("Trace_ELBO errors name the site", "[svi]") {
  const tyche::ValueMap params{{"loc", 2.0}, {"scale", 0.7}};
  auto extra_site_guide = [](const tyche::Tensor& y) {
    normal_guide(y);
    tyche::sample("nu", dist::Normal(0.0, 1.0));
  };
  REQUIRE_THROWS_CONTAINING(
      tyche::Trace_ELBO{}.loss(tyche::PRNGKey(0), params, normal_model, extra_site_guide, std::tuple{kY}),
      std::invalid_argument, "guide's site `nu`", "not a sample site of the model", "`mu`");

  auto missing_site_guide = [](const tyche::Tensor&) { tyche::param("loc", 0.5); };
  REQUIRE_THROWS_CONTAINING(
      tyche::Trace_ELBO{}.loss(tyche::PRNGKey(0), params, normal_model, missing_site_guide, std::tuple{kY}),
      std::invalid_argument, "model's latent site `mu`", "not in the guide");

  auto count_model = [](const tyche::Tensor&) { tyche::sample("k", dist::Poisson(3.0)); };
  auto count_guide = [](const tyche::Tensor&) {
    auto rate = tyche::param("rate", 2.0, tyche::constraints::positive);
    tyche::sample("k", dist::Poisson(rate));
  };
  tyche::SVI svi(count_model, count_guide, tyche::optim::Adam({.step_size = 0.1}), tyche::Trace_ELBO{});
  const auto state = svi.init(0, kY);
  REQUIRE_THROWS_CONTAINING(svi.update(state, kY), std::invalid_argument, "guide's site `k`", "Poisson",
                            "no reparameterised sampler");

  REQUIRE_THROWS_CONTAINING((tyche::Trace_ELBO{.num_particles = 0}.loss(tyche::PRNGKey(0), params, normal_model,
                                                                         normal_guide, std::tuple{kY})),
                            std::invalid_argument, "num_particles");
}

TEST_CASE("SVI and autoguide errors", "[svi]") {
  auto no_params = [](const tyche::Tensor&) { tyche::sample("mu", dist::Normal(0.0, 1.0)); };
  tyche::SVI svi(normal_model, no_params, tyche::optim::Adam(), tyche::Trace_ELBO{});
  REQUIRE_THROWS_CONTAINING(svi.init(0, kY), std::invalid_argument, "neither the guide nor the model has a param site");
  REQUIRE_THROWS_CONTAINING(svi.layout(), std::logic_error, "init");

  auto discrete = [](const tyche::Tensor&) { tyche::sample("k", dist::Bernoulli({.probs = 0.3})); };
  tyche::SVI with_discrete(discrete, tyche::AutoNormal(discrete), tyche::optim::Adam(), tyche::Trace_ELBO{});
  REQUIRE_THROWS_CONTAINING(with_discrete.init(0, kY), std::invalid_argument, "site `k`", "discrete");

  const auto unfitted = tyche::AutoNormal(normal_model);
  REQUIRE_THROWS_CONTAINING(unfitted.median({}), std::logic_error, "has not run yet");
  REQUIRE_THROWS_AS(tyche::AutoNormal(normal_model, {.init_scale = 0.0}), std::invalid_argument);
}

TEST_CASE("Trace_ELBO with a Gamma guide: the gradient in shape and rate is unbiased (implicit reparameterisation)", "[svi]") {
  namespace dist = tyche::dist;
  // tau ~ Gamma(3, 2), y_i ~ Normal(0, 1 / sqrt(tau)); guide tau ~ Gamma(a, b). With n = 8 and
  // s = sum y^2, ELBO(a, b) = (n/2 + 2)(psi(a) - log b) - (s/2 + 2) a / b + a - log b + lgamma(a)
  // + (1 - a) psi(a) + const, maximal at the exact posterior Gamma(n/2 + 3, s/2 + 2).
  const tyche::Tensor y{0.5, -1.2, 0.3, 2.0, -0.7, 1.1, -0.2, 0.9};
  auto model = [](const tyche::Tensor& y) {
    auto tau = tyche::sample("tau", dist::Gamma(3.0, 2.0));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Normal(0.0, 1.0 / tyche::sqrt(tau)), y);
  };
  auto guide = [](const tyche::Tensor&) {
    auto shape = tyche::param("shape", 2.0, tyche::constraints::positive);
    auto rate = tyche::param("rate", 1.0, tyche::constraints::positive);
    tyche::sample("tau", dist::Gamma(shape, rate));
  };
  const double a = 5.0, b = 4.0, c1 = 8.0 / 2.0 + 2.0;
  double s = 0.0;
  for (double v : y.to_std_vector()) s += v * v;
  const double c2 = s / 2.0 + 2.0;
  // d(-ELBO)/da and d(-ELBO)/db.
  const double expected_a = -(c1 * boost::math::trigamma(a) - c2 / b + 1.0 + (1.0 - a) * boost::math::trigamma(a));
  const double expected_b = -(-c1 / b + c2 * a / (b * b) - 1.0 / b);
  const int draws = 4000;
  Eigen::VectorXd q(2), sum = Eigen::VectorXd::Zero(2), sum_sq = Eigen::VectorXd::Zero(2);
  q << a, b;
  for (const tyche::Key& key : tyche::split(tyche::PRNGKey(1), draws)) {
    const Eigen::VectorXd g = tyche::grad(
        [&](const tyche::Tensor& p) {
          const tyche::ValueMap params{{"shape", p[0]}, {"rate", p[1]}};
          return tyche::Trace_ELBO{}.loss(key, params, model, guide, std::tuple{y});
        },
        q);
    sum += g;
    sum_sq += g.cwiseProduct(g);
  }
  const Eigen::VectorXd mean = sum / draws;
  const Eigen::VectorXd standard_error = ((sum_sq / draws - mean.cwiseProduct(mean)) / draws).cwiseSqrt();
  // 4.5 Monte Carlo standard errors (false failure below 1e-5 per component).
  CHECK(std::abs(mean[0] - expected_a) < 4.5 * standard_error[0]);
  CHECK(std::abs(mean[1] - expected_b) < 4.5 * standard_error[1]);
  CHECK(standard_error[0] < 0.25 * std::abs(expected_a));  // the check has power
  CHECK(standard_error[1] < 0.25 * std::abs(expected_b));
}

namespace {

// A model with a plate, a positive site and a simplex site, for SVI::run's
// compiled path: y_i ~ N(w . x_i, sigma), w ~ N(0, 1) per feature, sigma ~
// HalfNormal(1), p ~ Dirichlet(1, 2, 3) with counts ~ Multinomial-like factor.
auto regression_for_compiled_svi = [](const tyche::Tensor& x, const tyche::Tensor& y) {
  tyche::Tensor w;
  {
    tyche::plate features("features", x.dim(1));
    w = tyche::sample("w", dist::Normal(0.0, 1.0));
  }
  const tyche::Tensor sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  const tyche::Tensor p = tyche::sample("p", dist::Dirichlet(tyche::Tensor{1.0, 2.0, 3.0}));
  tyche::factor("counts", tyche::sum(tyche::Tensor{4.0, 1.0, 7.0} * tyche::log(p)));
  tyche::plate data("data", y.size());
  tyche::sample("y", dist::Normal(tyche::matmul(x, w), sigma), y);
};

const tyche::Tensor kRegressionX{{1.0, 0.5}, {-0.3, 1.2}, {0.8, -1.0}, {2.0, 0.1}, {-1.5, -0.4}, {0.2, 0.9}};
const tyche::Tensor kRegressionY{1.4, 0.9, -0.2, 2.3, -1.9, 1.1};

// A copy of the guide that SVI does not recognise as an autoguide: under
// Trace_ELBO it takes the path of any guide (infer/guide_elbo.hpp).
template <class Guide>
auto hidden_type(Guide guide) {
  return [guide](const auto&... args) { return guide(args...); };
}

// Trace_ELBO under another name, which SVI never records: every step runs
// the guide and the model under their handlers (the eager path, the
// reference of the compiled ones).
struct EagerTraceElbo {
  int num_particles = 1;
  template <class Model, class Guide, class... Args>
  tyche::Tensor loss(tyche::Key key, const tyche::ValueMap& params, const Model& model, const Guide& guide,
                     const std::tuple<Args...>& args) const {
    return tyche::Trace_ELBO{.num_particles = num_particles}.loss(key, params, model, guide, args);
  }
};
// Any ELBO under another name, likewise.
template <class Elbo>
struct Eagerly {
  Elbo elbo;
  template <class Model, class Guide, class... Args>
  tyche::Tensor loss(tyche::Key key, const tyche::ValueMap& params, const Model& model, const Guide& guide,
                     const std::tuple<Args...>& args) const {
    return elbo.loss(key, params, model, guide, args);
  }
};

}  // namespace

namespace {

// SVI::run and a loop of SVI::update on the compiled path for this guide,
// and SVI::run with the guide's type hidden (the path of any guide), against
// a loop of update on the eager path (EagerTraceElbo), the same seed and
// optimiser: the compiled paths draw the guide's noise with the keys seed
// would give and differentiate the same loss, so that they agree to
// rounding. Any other noise or a wrong gradient term would move the params
// by far more than 1e-9 in 60 Adam steps.
template <class MakeGuide>
void check_compiled_steps(const MakeGuide& make_guide, int particles) {
  const auto loop_of_update = [&](auto guide, auto loss) {
    tyche::SVI svi(regression_for_compiled_svi, std::move(guide), tyche::optim::Adam({.step_size = 0.05}), loss);
    auto state = svi.init(3, kRegressionX, kRegressionY);
    const tyche::ValueMap initial = svi.get_params(state);
    std::vector<double> losses;
    for (int i = 0; i < 60; ++i) {
      double loss_value = 0.0;
      std::tie(state, loss_value) = svi.update(state, kRegressionX, kRegressionY);
      losses.push_back(loss_value);
    }
    return std::tuple{initial, svi.get_params(state), tyche::Tensor(losses)};
  };
  const auto run = [&](auto guide) {
    tyche::SVI svi(regression_for_compiled_svi, std::move(guide), tyche::optim::Adam({.step_size = 0.05}),
                   tyche::Trace_ELBO{.num_particles = particles});
    return svi.run(3, 60, kRegressionX, kRegressionY, tyche::SVIRunOptions{.progress_bar = false});
  };
  const auto [initial, eager_params, eager_losses] =
      loop_of_update(make_guide(), EagerTraceElbo{.num_particles = particles});
  const auto recorded = run(make_guide());
  const auto any_guide = run(hidden_type(make_guide()));
  const auto [unused, updated_params, updated_losses] =
      loop_of_update(make_guide(), tyche::Trace_ELBO{.num_particles = particles});
  (void)unused;
  for (const auto& [path, params, losses] :
       {std::tuple{"run", recorded.params, recorded.losses}, std::tuple{"update", updated_params, updated_losses},
        std::tuple{"run, the guide's type hidden", any_guide.params, any_guide.losses}}) {
    INFO(path << " with " << particles << " particle(s)");
    for (int i = 0; i < 60; ++i) CHECK_THAT(losses.data()[i], WithinRel(eager_losses.data()[i], 1e-9));
    REQUIRE(params.size() == eager_params.size());
    for (const auto& [name, value] : eager_params) {
      INFO(name);
      for (std::int64_t i = 0; i < value.size(); ++i)
        CHECK_THAT(params.at(name).data()[i], WithinAbs(value.data()[i], 1e-9));
    }
  }
  // The steps moved the params: an optimiser that did nothing would agree too.
  double moved = 0.0;
  for (const auto& [name, value] : eager_params)
    for (std::int64_t i = 0; i < value.size(); ++i)
      moved = std::max(moved, std::abs(value.data()[i] - initial.at(name).data()[i]));
  CHECK(moved > 0.1);
}

}  // namespace

TEST_CASE("SVI::run and update with an autoguide and Trace_ELBO (the compiled path) take the eager steps", "[svi]") {
  SECTION("AutoNormal") {
    for (const int particles : {1, 3})
      check_compiled_steps([] { return tyche::AutoNormal(regression_for_compiled_svi); }, particles);
  }
  SECTION("AutoMultivariateNormal") {
    for (const int particles : {1, 3})
      check_compiled_steps([] { return tyche::AutoMultivariateNormal(regression_for_compiled_svi); },
                                   particles);
  }
  SECTION("AutoLaplaceApproximation") {
    check_compiled_steps([] { return tyche::AutoLaplaceApproximation(regression_for_compiled_svi); }, 1);
  }
  SECTION("AutoDelta: the MAP in the constrained space, without the Jacobian") {
    check_compiled_steps([] { return tyche::AutoDelta(regression_for_compiled_svi); }, 1);
  }
}

TEST_CASE("SVI::run with a hand-written guide and a param of the model's own takes the eager steps", "[svi]") {
  // The path of any guide (infer/guide_elbo.hpp): the loss recorded as a
  // function of the params (the guide's and the model's) and of the guide's
  // noise, replayed with fresh noise at each step.
  const auto model = [](const tyche::Tensor& y) {
    const tyche::Tensor offset = tyche::param("offset", 0.0);
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
    const tyche::Tensor tau = tyche::sample("tau", dist::LogNormal(0.0, 1.0));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Normal(mu + offset, tau), y);
  };
  const auto guide = [](const tyche::Tensor&) {
    const tyche::Tensor loc = tyche::param("loc", 0.0);
    const tyche::Tensor scale = tyche::param("scale", 1.0, tyche::constraints::positive);
    tyche::sample("mu", dist::Normal(loc, scale));
    const tyche::Tensor tau_loc = tyche::param("tau_loc", 0.0);
    tyche::sample("tau", dist::LogNormal(tau_loc, 0.5));
  };
  for (const int particles : {1, 3}) {
    INFO(particles << " particle(s)");
    const tyche::SVIRunOptions quiet{.progress_bar = false};
    tyche::SVI fast(model, guide, tyche::optim::Adam({.step_size = 0.05}), tyche::Trace_ELBO{.num_particles = particles});
    tyche::SVI eager(model, guide, tyche::optim::Adam({.step_size = 0.05}), EagerTraceElbo{.num_particles = particles});
    const auto recorded = fast.run(6, 80, kY, quiet), reference = eager.run(6, 80, kY, quiet);
    for (int i = 0; i < 80; ++i) CHECK_THAT(recorded.losses.data()[i], WithinRel(reference.losses.data()[i], 1e-9));
    for (const auto& [name, value] : reference.params) {
      INFO(name);
      CHECK_THAT(recorded.params.at(name).item(), WithinAbs(value.item(), 1e-9));
    }
    CHECK(std::abs(reference.params.at("offset").item()) > 0.1);  // the model's own param moved
  }
  // No particle: the error of the eager loss, not a silent NaN.
  tyche::SVI none(model, guide, tyche::optim::Adam({.step_size = 0.05}), tyche::Trace_ELBO{.num_particles = 0});
  REQUIRE_THROWS_CONTAINING(none.run(6, 5, kY, tyche::SVIRunOptions{.progress_bar = false}), std::invalid_argument,
                            "num_particles must be >= 1, got 0");
  tyche::SVI auto_none(model, tyche::AutoNormal(model), tyche::optim::Adam(), tyche::Trace_ELBO{.num_particles = 0});
  REQUIRE_THROWS_CONTAINING(auto_none.run(6, 5, kY, tyche::SVIRunOptions{.progress_bar = false}),
                            std::invalid_argument, "num_particles must be >= 1, got 0");
}

TEST_CASE("SVI records TraceMeanField_ELBO and TraceGraph_ELBO of any guide too, taking the eager steps", "[svi]") {
  // TraceMeanField_ELBO: mu's KL in closed form (Normal || Normal), tau's
  // by its draw. TraceGraph_ELBO: a discrete guide site, whose score-function
  // term reads its draw; recorded or not (SVI then says so), the steps are
  // the eager ones.
  const auto model = [](const tyche::Tensor& y) {
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
    const tyche::Tensor tau = tyche::sample("tau", dist::LogNormal(0.0, 1.0));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Normal(mu, tau), y);
  };
  const auto guide = [](const tyche::Tensor&) {
    const tyche::Tensor loc = tyche::param("loc", 0.0);
    const tyche::Tensor scale = tyche::param("scale", 1.0, tyche::constraints::positive);
    tyche::sample("mu", dist::Normal(loc, scale));
    tyche::sample("tau", dist::LogNormal(tyche::param("tau_loc", 0.0), 0.5));
  };
  const tyche::SVIRunOptions quiet{.progress_bar = false};
  const auto compare = [](const auto& recorded, const auto& reference) {
    for (std::int64_t i = 0; i < reference.losses.size(); ++i) {
      INFO("step " << i);
      CHECK_THAT(recorded.losses.data()[i], WithinRel(reference.losses.data()[i], 1e-9));
    }
    for (const auto& [name, value] : reference.params) {
      INFO(name);
      CHECK_THAT(recorded.params.at(name).item(), WithinAbs(value.item(), 1e-9));
    }
  };
  SECTION("TraceMeanField_ELBO") {
    tyche::SVI fast(model, guide, tyche::optim::Adam({.step_size = 0.05}), tyche::TraceMeanField_ELBO{.num_particles = 2});
    tyche::SVI eager(model, guide, tyche::optim::Adam({.step_size = 0.05}),
                     Eagerly<tyche::TraceMeanField_ELBO>{{.num_particles = 2}});
    compare(fast.run(7, 60, kY, quiet), eager.run(7, 60, kY, quiet));
  }
  SECTION("TraceGraph_ELBO with a discrete guide site") {
    const auto switching = [](const tyche::Tensor& y) {
      const tyche::Tensor wide = tyche::sample("wide", dist::Bernoulli({.probs = 0.3}));
      const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
      tyche::plate data("data", y.size());
      tyche::sample("y", dist::Normal(mu, 1.0 + wide), y);
    };
    const auto switching_guide = [](const tyche::Tensor&) {
      const tyche::Tensor p = tyche::param("p", 0.5, tyche::constraints::unit_interval);
      tyche::sample("wide", dist::Bernoulli({.probs = p}));
      tyche::sample("mu", dist::Normal(tyche::param("loc", 0.0), 0.5));
    };
    tyche::SVI fast(switching, switching_guide, tyche::optim::Adam({.step_size = 0.05}), tyche::TraceGraph_ELBO{});
    tyche::SVI eager(switching, switching_guide, tyche::optim::Adam({.step_size = 0.05}),
                     Eagerly<tyche::TraceGraph_ELBO>{});
    std::ostringstream notice;
    std::streambuf* const standard_error = std::cerr.rdbuf(notice.rdbuf());
    const auto recorded = fast.run(8, 40, kY, quiet);
    std::cerr.rdbuf(standard_error);
    compare(recorded, eager.run(8, 40, kY, quiet));
  }
}

TEST_CASE("SVI::update with changing data takes the eager steps: new values, a rewritten view, minibatches", "[svi]") {
  // update replays its recording only for the argument values it recorded
  // with, compared by value: a view whose memory the caller rewrites keeps
  // its address but not its data. Each schedule of data below gives the
  // eager path's steps.
  std::vector<double> buffer(kRegressionY.data(), kRegressionY.data() + kRegressionY.size());
  const tyche::Tensor view = tyche::Tensor::view(buffer.data(), kRegressionY.shape());
  const tyche::Tensor doubled = kRegressionY * 2.0;
  const auto steps = [&](auto guide, auto loss, const std::vector<int>& schedule) {
    buffer.assign(kRegressionY.data(), kRegressionY.data() + kRegressionY.size());
    tyche::SVI svi(regression_for_compiled_svi, std::move(guide), tyche::optim::Adam({.step_size = 0.05}), loss);
    auto state = svi.init(4, kRegressionX, view);
    std::vector<double> losses;
    for (const int data : schedule) {
      if (data == 2) buffer[0] = -3.0;  // rewritten in place
      double loss = 0.0;
      std::tie(state, loss) = svi.update(state, kRegressionX, data == 1 ? doubled : view);
      losses.push_back(loss);
    }
    return losses;
  };
  const auto guide = [] { return tyche::AutoNormal(regression_for_compiled_svi); };
  for (const std::vector<int>& schedule : {std::vector<int>{0, 0, 0, 1, 1, 1, 0, 0, 2, 2, 2},  // data sets in turn
                                           std::vector<int>{0, 1, 0, 1, 0, 1, 0, 1}}) {        // minibatches
    const std::vector<double> eager = steps(guide(), EagerTraceElbo{}, schedule);
    const std::vector<double> autoguide = steps(guide(), tyche::Trace_ELBO{}, schedule);
    const std::vector<double> any_guide = steps(hidden_type(guide()), tyche::Trace_ELBO{}, schedule);
    for (std::size_t i = 0; i < eager.size(); ++i) {
      INFO("step " << i);
      CHECK_THAT(autoguide[i], WithinRel(eager[i], 1e-9));
      CHECK_THAT(any_guide[i], WithinRel(eager[i], 1e-9));
    }
  }
}

TEST_CASE("SVI::run falls back to the eager steps, and says so, when the loss cannot be recorded", "[svi]") {
  // A model that branches on a parameter's value, and a guide whose Gamma
  // draws come from a rejection sampler, which a replay cannot draw afresh.
  const auto said = [](const auto& run) {
    std::ostringstream notice;
    std::streambuf* const standard_error = std::cerr.rdbuf(notice.rdbuf());
    const auto result = run();
    std::cerr.rdbuf(standard_error);
    return std::pair{result, notice.str()};
  };
  const tyche::SVIRunOptions quiet{.progress_bar = false};
  const auto branching = [](const tyche::Tensor& y) {
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
    const double spread = mu.item() > 0.0 ? 1.0 : 2.0;  // a branch on the parameter's value
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Normal(mu, spread), y);
  };
  tyche::SVI svi(branching, tyche::AutoNormal(branching), tyche::optim::Adam({.step_size = 0.05}));
  const auto [result, notice] = said([&] { return svi.run(1, 15, kY, quiet); });
  CHECK_THAT(notice, Catch::Contains("reads the value of a parameter") && Catch::Contains("cannot be recorded"));
  tyche::SVI eager(branching, tyche::AutoNormal(branching), tyche::optim::Adam({.step_size = 0.05}), EagerTraceElbo{});
  const auto reference = eager.run(1, 15, kY, quiet);
  CHECK_THAT(result.params.at("mu_auto_loc").item(), WithinAbs(reference.params.at("mu_auto_loc").item(), 1e-12));

  const auto exponential = [](const tyche::Tensor& y) {
    const tyche::Tensor rate = tyche::sample("rate", dist::Gamma(2.0, 1.0));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Exponential(rate), y);
  };
  const auto gamma_guide = [](const tyche::Tensor&) {
    const tyche::Tensor a = tyche::param("a", 2.0, tyche::constraints::positive);
    const tyche::Tensor b = tyche::param("b", 1.0, tyche::constraints::positive);
    tyche::sample("rate", dist::Gamma(a, b));
  };
  const tyche::Tensor waits{0.5, 1.2, 0.3, 2.2};
  tyche::SVI gamma(exponential, gamma_guide, tyche::optim::Adam({.step_size = 0.05}));
  const auto [gamma_result, gamma_notice] = said([&] { return gamma.run(2, 15, waits, quiet); });
  CHECK_THAT(gamma_notice, Catch::Contains("cannot be recorded") && Catch::Contains("element by element"));
  tyche::SVI gamma_eager(exponential, gamma_guide, tyche::optim::Adam({.step_size = 0.05}), EagerTraceElbo{});
  const auto gamma_reference = gamma_eager.run(2, 15, waits, quiet);
  for (int i = 0; i < 15; ++i)
    CHECK_THAT(gamma_result.losses.data()[i], WithinRel(gamma_reference.losses.data()[i], 1e-12));
}
