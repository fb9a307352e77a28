// Predictive and log_likelihood: which sites come back (NumPyro's
// _predictive rules), the posterior predictive of a conjugate model against
// its closed form, Predictive with a guide (draws and keys against the guide
// and the model run by hand, a predictive in closed form, AutoNormal after
// SVI against the exact posterior predictive), and log_likelihood against
// direct log densities.
#include <catch2/catch.hpp>

#include <tyche/tyche.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "require_throws.hpp"

namespace dist = tyche::dist;

namespace {

// a ~ N(0, 1), d = 2 a (deterministic), y ~ N(a, 0.5) in a plate of n;
// y observed when given.
void model(std::int64_t n, const std::optional<tyche::Tensor>& y) {
  const tyche::Tensor a = tyche::sample("a", dist::Normal(0.0, 1.0));
  tyche::deterministic("d", 2.0 * a);
  tyche::plate data("data", n);
  tyche::sample("y", dist::Normal(a, 0.5), y);
}
const auto kModel = [](std::int64_t n, const std::optional<tyche::Tensor>& y) { model(n, y); };

const tyche::ValueMap kSamples = {{"a", tyche::Tensor{0.1, -0.4, 1.3, 0.7}}};

}  // namespace

TEST_CASE("Predictive: by default the sample sites the samples lack and the deterministic sites", "[predictive]") {
  const tyche::ValueMap out = tyche::Predictive(kModel, kSamples)(0, std::int64_t(3), std::nullopt);
  CHECK(out.size() == 2);
  REQUIRE(out.contains("y"));
  REQUIRE(out.contains("d"));
  CHECK(out.at("y").shape() == tyche::Shape{4, 3});
  // d is computed from each draw of a.
  for (int k = 0; k < 4; ++k) CHECK(out.at("d").data()[k] == 2 * kSamples.at("a").data()[k]);
  // y ~ N(a_k, 0.5): with a_2 = 1.3 the three draws lie near 1.3.
  for (int j = 0; j < 3; ++j) CHECK(std::abs(out.at("y").data()[2 * 3 + j] - 1.3) < 0.5 * 5);

  // An observation given is returned as it is, not redrawn.
  const tyche::Tensor y_obs{1.0, 2.0, 3.0};
  const tyche::ValueMap observed = tyche::Predictive(kModel, kSamples)(0, std::int64_t(3), std::optional(y_obs));
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j) CHECK(observed.at("y").data()[k * 3 + j] == j + 1.0);
}

TEST_CASE("Predictive: return_sites, exclude_deterministic, batch_ndims, unknown names", "[predictive]") {
  const tyche::ValueMap only_a =
      tyche::Predictive(kModel, kSamples, {.return_sites = std::vector<std::string>{"a"}})(0, std::int64_t(2),
                                                                                          std::nullopt);
  CHECK(only_a.size() == 1);
  CHECK(only_a.at("a").to_std_vector() == kSamples.at("a").to_std_vector());

  const tyche::ValueMap all =
      tyche::Predictive(kModel, kSamples, {.return_sites = std::vector<std::string>{}})(0, std::int64_t(2),
                                                                                       std::nullopt);
  CHECK(all.size() == 3);  // a, d, y: every site but the plate

  // d in the samples: recomputed by default, kept with exclude_deterministic = false.
  tyche::ValueMap with_d = kSamples;
  with_d.emplace("d", tyche::Tensor{9.0, 9.0, 9.0, 9.0});
  CHECK(tyche::Predictive(kModel, with_d)(0, std::int64_t(2), std::nullopt).at("d").data()[0] == 0.2);
  CHECK(tyche::Predictive(kModel, with_d, {.exclude_deterministic = false})(0, std::int64_t(2), std::nullopt)
            .at("d")
            .data()[0] == 9.0);

  // Samples grouped by chain: (chain, draw) in front.
  const tyche::ValueMap grouped = {{"a", tyche::Tensor{{0.1, -0.4, 1.3}, {0.7, 0.2, 0.0}}}};
  const tyche::ValueMap out = tyche::Predictive(kModel, grouped, {.batch_ndims = 2})(0, std::int64_t(5), std::nullopt);
  CHECK(out.at("y").shape() == tyche::Shape{2, 3, 5});
  CHECK(out.at("d").data()[4] == 0.4);

  // A sample the model does not have is ignored, as substitute ignores it.
  tyche::ValueMap extra = kSamples;
  extra.emplace("not_a_site", tyche::Tensor{1.0, 2.0, 3.0, 4.0});
  CHECK(tyche::Predictive(kModel, extra)(0, std::int64_t(2), std::nullopt).size() == 2);
}

TEST_CASE("Predictive: prior predictive, seeds and threads", "[predictive]") {
  const tyche::Predictive prior(kModel, {.num_samples = 200});
  const tyche::ValueMap draws = prior(7, std::int64_t(2), std::nullopt);
  CHECK(draws.at("a").shape() == tyche::Shape{200});
  CHECK(draws.at("y").shape() == tyche::Shape{200, 2});
  // batch_ndims = 2 without samples: NumPyro's batch shape (1, num_samples).
  const tyche::ValueMap one_chain = tyche::Predictive(kModel, {.num_samples = 200, .batch_ndims = 2})(7, std::int64_t(2), std::nullopt);
  CHECK(one_chain.at("a").shape() == tyche::Shape{1, 200});
  CHECK(one_chain.at("y").shape() == tyche::Shape{1, 200, 2});
  CHECK(one_chain.at("y").to_std_vector() == draws.at("y").to_std_vector());
  // The same seed gives the same draws, on threads or not; another seed others.
  const tyche::Predictive threaded(kModel, {.num_samples = 200, .parallel = true});
  CHECK(threaded(7, std::int64_t(2), std::nullopt).at("y").to_std_vector() == draws.at("y").to_std_vector());
  CHECK(prior(8, std::int64_t(2), std::nullopt).at("y").to_std_vector() != draws.at("y").to_std_vector());
  // Each draw has its own key: draws differ.
  CHECK(draws.at("a").data()[0] != draws.at("a").data()[1]);
}

TEST_CASE("Predictive: a do-intervention under Predictive, as seed 001 uses it", "[predictive]") {
  // treatment ~ Bernoulli(0.5); outcome ~ N(1 + effect * treatment, 1).
  const auto causal = [](const std::optional<tyche::Tensor>& outcome) {
    const tyche::Tensor effect = tyche::sample("effect", dist::Normal(0.0, 10.0));
    const tyche::Tensor treatment = tyche::sample("treatment", dist::BernoulliProbs(0.5));
    tyche::sample("outcome", dist::Normal(1.0 + effect * treatment, 1.0), outcome);
  };
  const tyche::ValueMap posterior = {{"effect", tyche::Tensor::full({400}, 4.0)}};
  const auto treated = tyche::do_(causal, {{"treatment", 1.0}});
  const auto untreated = tyche::do_(causal, {{"treatment", 0.0}});
  const double y1 = tyche::mean(tyche::Predictive(treated, posterior)(1, std::nullopt).at("outcome")).item();
  const double y0 = tyche::mean(tyche::Predictive(untreated, posterior)(2, std::nullopt).at("outcome")).item();
  // 400 draws of sd 1 each: the difference of means has sd sqrt(2 / 400).
  CHECK(std::abs((y1 - y0) - 4.0) < 4 * std::sqrt(2.0 / 400));
}

TEST_CASE("Predictive: the posterior predictive of a conjugate model", "[predictive][statistical]") {
  // mu | y ~ N(m, s) exactly; a new y ~ N(mu, 0.5): mean m, variance s^2 + 0.25.
  const double m = 0.8, s = 0.3;
  constexpr std::int64_t n = 4000;
  const tyche::Tensor mu = m + s * tyche::random::normal(tyche::PRNGKey(11), {n});
  const auto new_y = [] {
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 10.0));
    tyche::sample("y_new", dist::Normal(mu, 0.5));
  };
  const tyche::Tensor y = tyche::Predictive(new_y, {{"mu", mu}})(12).at("y_new");
  const double mean = tyche::mean(y).item(), variance = tyche::mean(tyche::square(y - mean)).item();
  const double sd = std::sqrt(s * s + 0.25);
  // Independent draws: the mean within 4 sd / sqrt(n), the variance within
  // 4 sd^2 sqrt(2 / n) (normal draws).
  CHECK(std::abs(mean - m) < 4 * sd / std::sqrt(double(n)));
  CHECK(std::abs(variance - sd * sd) < 4 * sd * sd * std::sqrt(2.0 / double(n)));
}

TEST_CASE("Predictive: errors name the site", "[predictive][errors]") {
  const tyche::ValueMap uneven = {{"a", tyche::Tensor{0.1, 0.2}}, {"b", tyche::Tensor{0.1, 0.2, 0.3}}};
  REQUIRE_THROWS_CONTAINING(tyche::Predictive(kModel, uneven), tyche::ShapeError, "`b`", "`a`");
  REQUIRE_THROWS_CONTAINING(tyche::Predictive(kModel, kSamples, {.num_samples = 10}), std::invalid_argument,
                            "num_samples is 10", "4 draws");
  REQUIRE_THROWS_CONTAINING(tyche::Predictive(kModel, tyche::PredictiveOptions{}), std::invalid_argument,
                            "num_samples");
  REQUIRE_THROWS_CONTAINING(
      (tyche::Predictive(kModel, kSamples, {.return_sites = std::vector<std::string>{"zz"}})(0, std::int64_t(2),
                                                                                            std::nullopt)),
      std::invalid_argument, "`zz`");
}

TEST_CASE("log_likelihood: each observed site's pointwise log density per draw", "[predictive]") {
  const tyche::Tensor y{0.3, -0.2, 1.1};
  const tyche::ValueMap loglik = tyche::log_likelihood(kModel, kSamples, std::int64_t(3), std::optional(y));
  REQUIRE(loglik.size() == 1);
  const tyche::Tensor& values = loglik.at("y");
  REQUIRE(values.shape() == tyche::Shape{4, 3});
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j) {
      const double z = (y.data()[j] - kSamples.at("a").data()[k]) / 0.5;
      CHECK(values.data()[k * 3 + j] == Approx(-0.5 * z * z - std::log(0.5) - 0.5 * std::log(2 * M_PI)));
    }
}

namespace {

// z ~ N(0, 1), y ~ N(z, 1) (y observed when given); the guide z ~ N(loc, scale).
const auto kLatentModel = [](const std::optional<tyche::Tensor>& y) {
  const tyche::Tensor z = tyche::sample("z", dist::Normal(0.0, 1.0));
  tyche::sample("y", dist::Normal(z, 1.0), y);
};
const auto kLatentGuide = [](const std::optional<tyche::Tensor>&) {
  const tyche::Tensor loc = tyche::param("loc", 0.0);
  const tyche::Tensor scale = tyche::param("scale", 1.0, tyche::constraints::positive);
  tyche::sample("z", dist::Normal(loc, scale));
};

}  // namespace

TEST_CASE("Predictive with a guide: the model's draws given the guide's, as NumPyro", "[predictive][statistical]") {
  const double loc = 1.5, scale = 0.7;
  const tyche::ValueMap params = {{"loc", tyche::Tensor(loc)}, {"scale", tyche::Tensor(scale)}};
  constexpr std::int64_t n = 4000;
  const tyche::Predictive predictive(kLatentModel, kLatentGuide, {.params = params, .num_samples = n});
  const tyche::ValueMap out = predictive(5, std::nullopt);
  // By default, as NumPyro: the model's sample sites the guide does not draw;
  // the guide's latent z is not returned.
  REQUIRE(out.size() == 1);
  const tyche::Tensor y = out.at("y");
  REQUIRE(y.shape() == tyche::Shape{n});
  // y = z + e with z ~ N(loc, scale), e ~ N(0, 1): mean loc, variance scale^2 + 1.
  // Independent draws: the mean within 4 sd / sqrt(n), the variance within
  // 4 sd^2 sqrt(2 / n) (normal draws).
  const double mean = tyche::mean(y).item(), variance = tyche::mean(tyche::square(y - mean)).item();
  const double sd = std::sqrt(scale * scale + 1.0);
  CHECK(std::abs(mean - loc) < 4 * sd / std::sqrt(double(n)));
  CHECK(std::abs(variance - sd * sd) < 4 * sd * sd * std::sqrt(2.0 / double(n)));

  // return_sites names the guide's latent: its values are the guide's draws,
  // the guide run on the guide's half of the key (model key first, then
  // guide key, as NumPyro), one key per draw.
  const tyche::ValueMap both = tyche::Predictive(kLatentModel, kLatentGuide,
                                                 {.params = params, .num_samples = 3,
                                                  .return_sites = std::vector<std::string>{"z", "y"}})(5, std::nullopt);
  REQUIRE(both.size() == 2);
  REQUIRE(both.at("z").shape() == tyche::Shape{3});
  const auto [model_key, guide_key] = tyche::split(tyche::PRNGKey(5));
  const std::vector<tyche::Key> guide_keys = tyche::split(guide_key, 3);
  const std::vector<tyche::Key> model_keys = tyche::split(model_key, 3);
  for (int k = 0; k < 3; ++k) {
    const tyche::Tensor z = tyche::trace(tyche::seed(tyche::substitute(kLatentGuide, params), guide_keys[std::size_t(k)]))
                                .get_trace(std::nullopt)["z"]
                                .value.value();
    CHECK(both.at("z").data()[k] == z.item());
    // The model on its own key with z fixed at the guide's draw.
    const tyche::Tensor y_k = tyche::trace(tyche::seed(tyche::substitute(kLatentModel, tyche::ValueMap{{"z", z}}),
                                                       model_keys[std::size_t(k)]))
                                  .get_trace(std::nullopt)["y"]
                                  .value.value();
    CHECK(both.at("y").data()[k] == y_k.item());
  }

  // An observation given comes back as it is.
  const tyche::Tensor y_obs(0.25);
  CHECK(tyche::Predictive(kLatentModel, kLatentGuide, {.params = params, .num_samples = 2})(5, std::optional(y_obs))
            .at("y")
            .to_std_vector() == std::vector<double>{0.25, 0.25});

  // A param name neither the guide nor the model has is ignored, as NumPyro's
  // substitute ignores it: the same draws.
  tyche::ValueMap extra = params;
  extra.emplace("not_a_param", tyche::Tensor(3.0));
  CHECK(tyche::Predictive(kLatentModel, kLatentGuide, {.params = extra, .num_samples = n})(5, std::nullopt)
            .at("y")
            .to_std_vector() == y.to_std_vector());
  // Threads give the same draws.
  CHECK(tyche::Predictive(kLatentModel, kLatentGuide, {.params = params, .num_samples = n, .parallel = true})(
            5, std::nullopt)
            .at("y")
            .to_std_vector() == y.to_std_vector());
}

TEST_CASE("Predictive with a guide that has no params", "[predictive]") {
  const auto fixed_guide = [](const std::optional<tyche::Tensor>&) { tyche::sample("z", dist::Normal(2.0, 0.5)); };
  const tyche::ValueMap out =
      tyche::Predictive(kLatentModel, fixed_guide,
                        {.num_samples = 50, .return_sites = std::vector<std::string>{}})(1, std::nullopt);
  CHECK(out.size() == 2);  // z and y: every site
  CHECK(out.at("z").shape() == tyche::Shape{50});
  CHECK(out.at("y").shape() == tyche::Shape{50});
  CHECK(out.at("z").data()[0] != out.at("z").data()[1]);
}

TEST_CASE("Predictive with AutoNormal fitted by SVI: the exact posterior predictive", "[predictive][statistical]") {
  // mu ~ N(m0, s0), y_i ~ N(mu, sigma): mu | y ~ N(m, s) with precision
  // 1/s0^2 + n/sigma^2; a new y_i ~ N(m, s^2 + sigma^2).
  constexpr double m0 = 1.0, s0 = 2.0, sigma = 1.5;
  const tyche::Tensor y_obs{2.1, 3.4, 1.7, 4.0, 2.9};
  const auto model = [&](const std::optional<tyche::Tensor>& y) {
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(m0, s0));
    tyche::plate data("data", 5);
    tyche::sample("y", dist::Normal(mu, sigma), y);
  };
  double sum = 0.0;
  for (std::int64_t i = 0; i < y_obs.size(); ++i) sum += y_obs.data()[i];
  const double precision = 1.0 / (s0 * s0) + 5.0 / (sigma * sigma);
  const double m = (m0 / (s0 * s0) + sum / (sigma * sigma)) / precision;

  // test_svi's AutoNormal fit of this model: Adam's step decaying from 0.05
  // to 1e-4 over 4000 steps, 4 particles (a fraction of a second).
  constexpr std::int64_t steps = 4000;
  const auto guide = tyche::AutoNormal(model);
  const tyche::optim::StepSize decaying = [](std::int64_t i) { return 0.05 * std::pow(0.002, double(i) / double(steps)); };
  tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = decaying}), tyche::Trace_ELBO{.num_particles = 4});
  const auto fitted = svi.run(3, steps, std::optional(y_obs), tyche::SVIRunOptions{.progress_bar = false});

  constexpr std::int64_t n = 4000;
  const tyche::ValueMap out =
      tyche::Predictive(model, guide, {.params = fitted.params, .num_samples = n})(4, std::nullopt);
  REQUIRE(out.size() == 1);
  const tyche::Tensor y = out.at("y");
  REQUIRE(y.shape() == tyche::Shape{n, 5});
  const double mean = tyche::mean(y).item();
  // Against the fitted guide: the mean of the n draws of mu ~ N(loc, scale),
  // each with five y's, has sd sqrt(scale^2 + sigma^2 / 5) / sqrt(n) (about
  // 0.015); 4 of them.
  const double loc = fitted.params.at("mu_auto_loc").item(), scale = fitted.params.at("mu_auto_scale").item();
  CHECK(std::abs(mean - loc) < 4 * std::sqrt(scale * scale + sigma * sigma / 5) / std::sqrt(double(n)));
  // Against the exact posterior predictive mean m: that Monte Carlo error
  // plus the fit's error in loc, which test_svi bounds by 0.03 for this fit
  // (below 0.013 over SVI seeds 0-7).
  CHECK(std::abs(mean - m) < 4 * std::sqrt(scale * scale + sigma * sigma / 5) / std::sqrt(double(n)) + 0.03);
}

TEST_CASE("Predictive with a guide: errors", "[predictive][errors]") {
  REQUIRE_THROWS_CONTAINING(tyche::Predictive(kLatentModel, kLatentGuide, tyche::PredictiveOptions{}),
                            std::invalid_argument, "a guide needs num_samples");
  REQUIRE_THROWS_CONTAINING(tyche::Predictive(kLatentModel, kLatentGuide, {.num_samples = 5, .batch_ndims = 1}),
                            std::invalid_argument, "batch_ndims with a guide must be 0, got 1");
}
