// Enumeration of discrete latent sites (issue 15), against brute force:
// - enumerate_support of every enumerable distribution, listed by hand;
// - the enumerate handler's dims (-max_plate_nesting - 1, then leftwards)
//   and value shapes, as NumPyro allocates them;
// - enum_log_density (variable elimination) against the log of the sum of
//   exp(log joint) over every assignment, the log joint from tyche's plain
//   log_density with the discrete sites given: a mixture with a plate of
//   local assignments, a global site above a plate of local ones, an HMM of
//   length 3 (chained sites), and two nested plates with an enumerated site
//   in each;
// - TraceEnum_ELBO on seed 003's Gaussian mixture: the initial loss and the
//   MAP of the seed (as tests/test_svi.cpp does with the sum written by hand);
// - the potential energy (NUTS) of that mixture with its assignments
//   enumerated: value and gradient equal the hand-marginalised model's; NUTS
//   on a model with local discrete sites against the posterior mean by
//   quadrature;
// - infer_discrete: seed 003's MAP assignments, the joint MAP (Viterbi) of an
//   HMM against brute force, and the frequencies of its posterior draws
//   against the exact joint posterior.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "require_throws.hpp"
#include "tyche/distributions/delta.hpp"
#include "tyche/distributions/discrete.hpp"
#include "tyche/distributions/extra_discrete.hpp"
#include "tyche/distributions/multivariate.hpp"
#include "tyche/effects/handlers/block.hpp"
#include "tyche/effects/handlers/enum.hpp"
#include "tyche/infer/autoguide.hpp"
#include "tyche/infer/diagnostics.hpp"
#include "tyche/infer/infer_discrete.hpp"
#include "tyche/infer/mcmc.hpp"
#include "tyche/infer/nuts.hpp"
#include "tyche/infer/potential.hpp"
#include "tyche/infer/predictive.hpp"
#include "tyche/infer/svi.hpp"
#include "tyche/infer/trace_enum_elbo.hpp"

namespace {

namespace dist = tyche::dist;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using tyche::Tensor;

std::vector<double> enumeration_values(const Tensor& t) { return {t.data(), t.data() + t.size()}; }

// One discrete site of a brute-force sum: its name, the shape of its value
// and its number of values 0 .. count-1.
struct EnumerationSite {
  std::string name;
  tyche::Shape shape;
  int count;
};

// log sum over every assignment of the sites of exp(log joint), the log
// joint from log_density with all sites given: the reference for
// enum_log_density.
template <class Model, class... Args>
double enumeration_brute_force(const Model& model, const tyche::ValueMap& fixed,
                               const std::vector<EnumerationSite>& sites, const Args&... args) {
  std::vector<std::pair<std::size_t, std::int64_t>> owner;
  for (std::size_t s = 0; s < sites.size(); ++s)
    for (std::int64_t i = 0; i < sites[s].shape.numel(); ++i) owner.emplace_back(s, i);
  std::vector<int> digits(owner.size(), 0);
  double max_term = -INFINITY;
  std::vector<double> terms;
  while (true) {
    tyche::ValueMap values = fixed;
    for (std::size_t s = 0; s < sites.size(); ++s) {
      std::vector<double> v;
      for (std::size_t c = 0; c < owner.size(); ++c)
        if (owner[c].first == s) v.push_back(digits[c]);
      values.insert_or_assign(sites[s].name, Tensor(v, sites[s].shape));
    }
    terms.push_back(tyche::log_density(model, std::tuple<const Args&...>(args...), values).log_joint.item());
    max_term = std::max(max_term, terms.back());
    std::size_t c = 0;
    while (c < owner.size() && ++digits[c] == sites[owner[c].first].count) digits[c++] = 0;
    if (c == owner.size()) break;
  }
  double total = 0.0;
  for (double t : terms) total += std::exp(t - max_term);
  return max_term + std::log(total);
}

// enum_log_density of the model with `fixed` substituted and every discrete
// site enumerated.
template <class Model, class... Args>
double enumeration_summed(const Model& model, const tyche::ValueMap& fixed, int max_plate_nesting,
                          const Args&... args) {
  const auto enumerated =
      tyche::enumerate(tyche::config_enumerate(tyche::substitute(std::cref(model), fixed)), -max_plate_nesting - 1);
  return tyche::enum_log_density(tyche::trace(enumerated).get_trace(args...), max_plate_nesting).item();
}

// Seed 003's mixture priors, shared by the two ways of writing its likelihood.
struct MixtureParameters {
  Tensor weights, scale, locs;
};
MixtureParameters enumeration_mixture_priors() {
  MixtureParameters p;
  p.weights = tyche::sample("weights", dist::Dirichlet(Tensor{0.5, 0.5}));
  p.scale = tyche::sample("scale", dist::LogNormal(0.0, 2.0));
  tyche::plate components("components", 2);
  p.locs = tyche::sample("locs", dist::Normal(0.0, 10.0));
  return p;
}

// Seed 003's mixture with its assignments as a latent site.
auto enumeration_mixture = [](const Tensor& data) {
  const auto [weights, scale, locs] = enumeration_mixture_priors();
  tyche::plate points("data", data.size());
  auto assignment = tyche::sample("assignment", dist::Categorical({.probs = weights}));
  tyche::sample("obs", dist::Normal(tyche::take(locs, assignment), scale), data);
};

}  // namespace

TEST_CASE("enumerate_support lists the support of each enumerable distribution", "[enumeration]") {
  using V = std::vector<double>;
  const dist::Bernoulli coin({.probs = Tensor{0.1, 0.5, 0.9}});
  CHECK(coin.has_enumerate_support());
  CHECK(coin.enumerate_support(false).shape() == tyche::Shape{2, 1});
  CHECK(enumeration_values(coin.enumerate_support(false)) == V{0, 1});
  CHECK(coin.enumerate_support().shape() == tyche::Shape{2, 3});
  CHECK(enumeration_values(coin.enumerate_support()) == V{0, 0, 0, 1, 1, 1});
  const dist::Categorical die({.logits = Tensor::zeros({2, 4})});
  CHECK(die.enumerate_support(false).shape() == tyche::Shape{4, 1});
  CHECK(enumeration_values(die.enumerate_support(false)) == V{0, 1, 2, 3});
  CHECK(die.enumerate_support().shape() == tyche::Shape{4, 2});
  CHECK(enumeration_values(dist::Binomial({.total_count = 3.0, .probs = 0.2}).enumerate_support()) == V{0, 1, 2, 3});
  CHECK(enumeration_values(dist::BetaBinomial(2.0, 3.0, 2.0).enumerate_support()) == V{0, 1, 2});
  CHECK(enumeration_values(dist::DiscreteUniform(-1.0, 2.0).enumerate_support()) == V{-1, 0, 1, 2});
  // expand and mask lay the base's values out for their own batch shape.
  const auto expanded = dist::Bernoulli({.probs = 0.3}).expand({2, 3});
  CHECK(expanded.has_enumerate_support());
  CHECK(expanded.enumerate_support(false).shape() == tyche::Shape{2, 1, 1});
  CHECK(expanded.enumerate_support().shape() == tyche::Shape{2, 2, 3});
  CHECK(dist::Bernoulli({.probs = 0.3}).mask(Tensor{1.0, 0.0}).enumerate_support(false).shape() == tyche::Shape{2, 1});
  // Not enumerable: infinite supports; a support that differs across the batch.
  CHECK(!dist::Poisson(2.0).has_enumerate_support());
  CHECK(!dist::Normal(0.0, 1.0).expand({2}).has_enumerate_support());
  REQUIRE_THROWS_CONTAINING(dist::Poisson(2.0).enumerate_support(), std::invalid_argument, "Poisson",
                            "no enumerate_support");
  REQUIRE_THROWS_CONTAINING(dist::Binomial({.total_count = Tensor{2.0, 3.0}, .probs = 0.5}).enumerate_support(),
                            std::invalid_argument, "Binomial", "differs across the batch");
}

TEST_CASE("DiscreteUniform: mass, moments and draws", "[enumeration]") {
  const dist::DiscreteUniform die(1.0, 6.0);
  CHECK(enumeration_values(die.log_prob(Tensor{0.0, 1.0, 3.0, 6.0, 2.5, 7.0})) ==
        std::vector<double>{-INFINITY, -std::log(6.0), -std::log(6.0), -std::log(6.0), -INFINITY, -INFINITY});
  CHECK(die.mean().item() == 3.5);
  CHECK_THAT(die.variance().item(), WithinRel(35.0 / 12.0, 1e-14));
  // 6000 draws: each face's count is Binomial(6000, 1/6), sd 28.9; 5 sd.
  const Tensor draws = die.sample(tyche::PRNGKey(3), {6000});
  for (int face = 1; face <= 6; ++face) {
    int count = 0;
    for (double v : enumeration_values(draws)) count += v == face;
    CHECK(std::abs(count - 1000) < 145);
  }
  REQUIRE_THROWS_CONTAINING(dist::DiscreteUniform(2.0, 1.0), std::invalid_argument, "DiscreteUniform", "high - low");
}

TEST_CASE("enumerate puts each marked site on its own dim left of the plates", "[enumeration]") {
  auto model = [] {
    auto a = tyche::sample("a", dist::Bernoulli({.probs = 0.4}));
    tyche::plate points("points", 3);
    auto b = tyche::sample("b", dist::Categorical({.probs = Tensor{0.2, 0.3, 0.5}}));
    auto c = tyche::sample("c", dist::Poisson(2.0));  // not enumerable: drawn
    tyche::sample("x", dist::Normal(a + b, 1.0), Tensor{0.1, 0.2, 0.3});
  };
  const tyche::Trace tr = tyche::trace(tyche::enumerate(tyche::seed(tyche::config_enumerate(model), 0), -2)).get_trace();
  CHECK(tr["a"].value->shape() == tyche::Shape{2, 1});
  CHECK(tyche::detail::enumerate_dim(tr["a"]) == -2);
  CHECK(tr["b"].value->shape() == tyche::Shape{3, 1, 1});
  CHECK(tyche::detail::enumerate_dim(tr["b"]) == -3);
  CHECK(tr["c"].value->shape() == tyche::Shape{3});
  CHECK(!tyche::detail::enumerate_dim(tr["c"]));
  CHECK(!tr["x"].infer.contains("enumerate"));  // observed: not marked
  // log_prob of x depends on both enumerated dims and the plate.
  CHECK(tr["x"].fn->log_prob(*tr["x"].value).shape() == tyche::Shape{3, 2, 3});
  // The guess comes from a run without enumeration, whose batch axes are the plates'.
  CHECK(tyche::guess_max_plate_nesting(tyche::trace(tyche::seed(model, 0)).get_trace()) == 1);

  // A site marked by hand; the handler as a guard; errors.
  {
    tyche::enumerate guard(-1);
    tyche::trace recorder;
    tyche::sample("k", dist::Binomial({.total_count = 4.0, .probs = 0.5}), std::nullopt,
                  {.infer = {{"enumerate", std::string("parallel")}}});
    CHECK(enumeration_values(*recorder["k"].value) == std::vector<double>{0, 1, 2, 3, 4});
  }
  auto poisson = [] {
    tyche::sample("n", dist::Poisson(2.0), std::nullopt, {.infer = {{"enumerate", std::string("parallel")}}});
  };
  REQUIRE_THROWS_CONTAINING(tyche::enumerate(tyche::seed(poisson, 0), -1)(), std::invalid_argument, "site `n`",
                            "Poisson", "cannot list its support");
  auto too_deep = [] {
    tyche::plate outer("outer", 2);
    tyche::plate inner("inner", 3);
    tyche::sample("z", dist::Bernoulli({.probs = 0.5}), std::nullopt, {.infer = {{"enumerate", std::string("parallel")}}});
  };
  REQUIRE_THROWS_CONTAINING(tyche::enumerate(too_deep, -2)(), tyche::ShapeError, "site `z`", "max_plate_nesting");
  REQUIRE_THROWS_AS(tyche::enumerate(too_deep, 0), std::invalid_argument);
}

TEST_CASE("enum_log_density equals brute force on a mixture with local assignments", "[enumeration]") {
  const Tensor data{0.0, 1.0, 10.0};
  const tyche::ValueMap fixed{{"weights", Tensor{0.3, 0.7}}, {"scale", 1.5}, {"locs", Tensor{0.5, 9.0}}};
  const double brute = enumeration_brute_force(enumeration_mixture, fixed, {{"assignment", {3}, 2}}, data);
  CHECK_THAT(enumeration_summed(enumeration_mixture, fixed, 1, data), WithinRel(brute, 1e-12));
  // A larger max_plate_nesting moves the enumerated dim left, not the result.
  CHECK_THAT(enumeration_summed(enumeration_mixture, fixed, 3, data), WithinRel(brute, 1e-12));
}

TEST_CASE("enum_log_density equals brute force on a global site above local ones", "[enumeration]") {
  // shift ~ Bernoulli(0.3); per point: kind ~ Categorical(rows[shift]), x ~ Normal(centres[kind] + 2 shift, 1).
  auto model = [](const Tensor& x) {
    const Tensor rows{{0.2, 0.5, 0.3}, {0.6, 0.1, 0.3}};
    auto shift = tyche::sample("shift", dist::Bernoulli({.probs = 0.3}));
    tyche::plate points("points", x.size());
    auto kind = tyche::sample("kind", dist::Categorical({.probs = tyche::take(rows, shift)}));
    tyche::sample("x", dist::Normal(tyche::take(Tensor{-1.0, 0.5, 3.0}, kind) + 2.0 * shift, 1.0), x);
  };
  const Tensor x{-0.5, 2.5, 4.0};
  const double brute = enumeration_brute_force(model, {}, {{"shift", {}, 2}, {"kind", {3}, 3}}, x);
  CHECK_THAT(enumeration_summed(model, {}, 1, x), WithinRel(brute, 1e-12));
}

TEST_CASE("enum_log_density equals brute force on an HMM of length 3", "[enumeration]") {
  auto model = [](const Tensor& x) {
    const Tensor transition{{0.7, 0.2, 0.1}, {0.1, 0.8, 0.1}, {0.3, 0.3, 0.4}};
    const Tensor means{-2.0, 0.0, 3.0};
    Tensor state = tyche::sample("z0", dist::Categorical({.probs = Tensor{0.5, 0.3, 0.2}}));
    tyche::sample("x0", dist::Normal(tyche::take(means, state), 1.0), tyche::take(x, {0}).reshape({}));
    for (int t = 1; t < 3; ++t) {
      state = tyche::sample("z" + std::to_string(t), dist::Categorical({.probs = tyche::take(transition, state)}));
      tyche::sample("x" + std::to_string(t), dist::Normal(tyche::take(means, state), 1.0),
                    tyche::take(x, {t}).reshape({}));
    }
  };
  const Tensor x{-1.5, 0.4, 2.2};
  const double brute = enumeration_brute_force(model, {}, {{"z0", {}, 3}, {"z1", {}, 3}, {"z2", {}, 3}}, x);
  CHECK_THAT(enumeration_summed(model, {}, 0, x), WithinRel(brute, 1e-12));
  // The trace: z2's log_prob spans z1's dim and its own.
  const auto enumerated = tyche::enumerate(tyche::config_enumerate(std::cref(model)), -1);
  const tyche::Trace tr = tyche::trace(enumerated).get_trace(x);
  CHECK(tr["z2"].fn->log_prob(*tr["z2"].value).shape() == tyche::Shape{3, 3, 1});
}

TEST_CASE("enum_log_density equals brute force with two nested plates and two enumerated sites", "[enumeration]") {
  // groups (2) > a_g ~ Bernoulli(0.35); members (3) inside: b_gm ~ Bernoulli(p[a_g]), x_gm ~ Normal(b_gm + a_g, 0.8).
  auto model = [](const Tensor& x) {
    tyche::plate groups("groups", 2, std::nullopt, -2);
    auto a = tyche::sample("a", dist::Bernoulli({.probs = 0.35}));
    tyche::plate members("members", 3, std::nullopt, -1);
    auto b = tyche::sample("b", dist::Bernoulli({.probs = tyche::take(Tensor{0.2, 0.9}, a)}));
    tyche::sample("x", dist::Normal(b + a, 0.8), x);
  };
  // The brute-force model has a of shape (2, 1) (the groups' dim -2).
  const Tensor x{{0.1, 1.2, 0.9}, {2.1, 1.8, -0.3}};
  const double brute = enumeration_brute_force(model, {}, {{"a", {2, 1}, 2}, {"b", {2, 3}, 2}}, x);
  CHECK_THAT(enumeration_summed(model, {}, 2, x), WithinRel(brute, 1e-12));
}

TEST_CASE("enum_log_density: a subsampling plate scales its sum", "[enumeration]") {
  // With 2 of 4 points, each point's summed-out term counts twice.
  auto model = [](const Tensor& x) {
    tyche::plate points("points", 4, 2);
    const Tensor idx = points.indices();
    auto z = tyche::sample("z", dist::Bernoulli({.probs = 0.4}));
    tyche::sample("x", dist::Normal(3.0 * z, 1.0), tyche::take(x, idx));
  };
  const Tensor x{0.5, 2.0, 3.5, -1.0};
  const auto run = tyche::trace(tyche::enumerate(tyche::seed(tyche::config_enumerate(model), 1), -2));
  const tyche::Trace tr = run.get_trace(x);
  double expected = 0.0;
  for (double i : enumeration_values(tr["points"].value.value())) {
    const double xi = x.data()[std::size_t(i)];
    expected += 2.0 * std::log(0.6 * std::exp(dist::Normal(0.0, 1.0).log_prob(Tensor(xi)).item()) +
                               0.4 * std::exp(dist::Normal(3.0, 1.0).log_prob(Tensor(xi)).item()));
  }
  CHECK_THAT(tyche::enum_log_density(tr, 1).item(), WithinRel(expected, 1e-12));
}

TEST_CASE("TraceEnum_ELBO reproduces seed 003's mixture MAP", "[enumeration][svi]") {
  const Tensor data{0.0, 1.0, 10.0, 11.0, 12.0};
  const auto model = tyche::config_enumerate(enumeration_mixture);
  const auto guide = tyche::AutoDelta(tyche::block(enumeration_mixture, {.expose = {"weights", "locs", "scale"}}));
  tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.1, .b1 = 0.8, .b2 = 0.99}),
                 tyche::TraceEnum_ELBO{.max_plate_nesting = 1});
  // The seed's initialisation, the best initial loss over all pairs of
  // distinct data points as locs (as tests/test_svi.cpp).
  std::optional<tyche::ValueMap> best;
  double best_loss = INFINITY;
  for (std::int64_t i = 0; i < data.size(); ++i)
    for (std::int64_t j = 0; j < data.size(); ++j) {
      if (i == j) continue;
      tyche::ValueMap init{{"weights_auto_loc", Tensor{0.5, 0.5}},
                           {"scale_auto_loc", std::sqrt(33.7 / 2.0)},
                           {"locs_auto_loc", Tensor{data.data()[i], data.data()[j]}}};
      const double loss = svi.evaluate(svi.init(0, data, tyche::SVIInitOptions{.init_params = init}), data);
      if (loss < best_loss) best_loss = loss, best = init;
    }
  // The seed printed 25.665584564208984 (float32).
  CHECK_THAT(best_loss, WithinAbs(25.665584564208984, 1e-4));
  const auto result = svi.run(0, 200, data, tyche::SVIRunOptions{.init_params = best, .progress_bar = false});
  const tyche::ValueMap map = guide.median(result.params);
  const Tensor &weights = map.at("weights"), &locs = map.at("locs");
  const bool swapped = locs.data()[0] > locs.data()[1];
  // The seed's printed MAP (float32, 200 steps); the loss is exact, so 2e-3 as in test_svi.cpp.
  CHECK_THAT(weights.data()[swapped ? 1 : 0], WithinAbs(0.375, 2e-3));
  CHECK_THAT(weights.data()[swapped ? 0 : 1], WithinAbs(0.625, 2e-3));
  CHECK_THAT(locs.data()[swapped ? 1 : 0], WithinAbs(0.49887, 2e-3));
  CHECK_THAT(locs.data()[swapped ? 0 : 1], WithinAbs(10.98446, 2e-3));
  CHECK_THAT(map.at("scale").item(), WithinAbs(0.65143, 2e-3));
  // Guessing max_plate_nesting gives the same loss.
  const auto state = svi.init(0, data, tyche::SVIInitOptions{.init_params = best});
  const double guessed = tyche::TraceEnum_ELBO{}
                             .loss(tyche::PRNGKey(0), svi.get_params(state), model, guide, std::tuple{data})
                             .item();
  CHECK_THAT(guessed, WithinAbs(best_loss, 1e-12));
}

TEST_CASE("The guessed max_plate_nesting leaves room for a batch axis without a plate", "[enumeration][svi]") {
  // `beta` has batch shape (3,) outside any plate: the enumerated `z` must go
  // left of that axis, at dim -2, as if a plate of 3 were there.
  const auto model = tyche::config_enumerate([] {
    auto beta = tyche::sample("beta", dist::Normal(Tensor::zeros({3}), 1.0));
    auto z = tyche::sample("z", dist::Bernoulli({.probs = 0.3}));
    tyche::sample("x", dist::Normal(z + beta, 1.0), Tensor{0.1, 0.2, 0.3});
  });
  const auto guide = [] { tyche::sample("beta", dist::Normal(tyche::param("loc", Tensor{0.5, 0.0, -0.5}), 1.0)); };
  const tyche::ValueMap params{{"loc", Tensor{0.5, 0.0, -0.5}}};
  const auto loss = [&](std::optional<int> nesting) {
    return tyche::TraceEnum_ELBO{.max_plate_nesting = nesting}
        .loss(tyche::PRNGKey(1), params, model, guide, std::tuple<>{})
        .item();
  };
  CHECK(loss(std::nullopt) == loss(1));
  const auto map_of_z = [&](std::optional<int> first_available_dim) {
    return tyche::infer_discrete(model, {.temperature = 0, .first_available_dim = first_available_dim,
                                         .rng_key = tyche::PRNGKey(2)})
        .draw()
        .at("z")
        .item();
  };
  CHECK(map_of_z(std::nullopt) == map_of_z(-2));
}

TEST_CASE("TraceEnum_ELBO errors name the site", "[enumeration][svi]") {
  const Tensor data{0.0, 1.0};
  const auto guide = tyche::AutoDelta(tyche::block(enumeration_mixture, {.expose = {"weights", "locs", "scale"}}));
  tyche::SVI unmarked(enumeration_mixture, guide, tyche::optim::Adam(), tyche::TraceEnum_ELBO{.max_plate_nesting = 1});
  const auto state = unmarked.init(0, data);
  REQUIRE_THROWS_CONTAINING(unmarked.update(state, data), std::invalid_argument, "site `assignment`",
                            "neither in the guide nor enumerated", "config_enumerate");
  REQUIRE_THROWS_CONTAINING((tyche::TraceEnum_ELBO{.num_particles = 0}.loss(tyche::PRNGKey(0), {}, enumeration_mixture,
                                                                           guide, std::tuple{data})),
                            std::invalid_argument, "num_particles");
}

namespace {

// Seed 003's mixture with the assignments summed out by hand (as tests/test_svi.cpp).
auto enumeration_mixture_by_hand = [](const Tensor& data) {
  const auto [weights, scale, locs] = enumeration_mixture_priors();
  tyche::plate points("data", data.size());
  const Tensor terms = tyche::log(weights) + dist::Normal(locs, scale).log_prob(data.reshape({data.size(), 1}));
  tyche::factor("obs", tyche::logsumexp(terms, -1));
};

}  // namespace

TEST_CASE("The potential energy sums enumerable discrete latent sites out", "[enumeration][potential]") {
  const Tensor data{0.0, 1.0, 10.0, 11.0, 12.0};
  const auto enumerated = tyche::potential_energy(enumeration_mixture, data);
  const auto by_hand = tyche::potential_energy(enumeration_mixture_by_hand, data);
  CHECK(enumerated.layout().names() == "locs, scale, weights");
  CHECK(enumerated.layout().enumerated() == std::vector<std::string>{"assignment"});
  CHECK(enumerated.layout().max_plate_nesting() == 1);
  REQUIRE(enumerated.layout().size() == by_hand.layout().size());
  // The same marginal density, so the same energy and gradient everywhere.
  Eigen::VectorXd elsewhere(4);
  elsewhere << -1.0, 12.0, 0.3, -0.4;
  for (const Eigen::VectorXd& u : std::vector<Eigen::VectorXd>{Eigen::VectorXd::Zero(4), elsewhere}) {
    const auto [energy, gradient] = tyche::value_and_grad(enumerated, u);
    const auto [energy_by_hand, gradient_by_hand] = tyche::value_and_grad(by_hand, u);
    CHECK_THAT(energy, WithinRel(energy_by_hand, 1e-12));
    for (Eigen::Index i = 0; i < u.size(); ++i) CHECK_THAT(gradient[i], WithinAbs(gradient_by_hand[i], 1e-10));
  }
  // pack and unpack see the continuous sites only.
  const tyche::ValueMap values{{"weights", Tensor{0.3, 0.7}}, {"scale", 2.0}, {"locs", Tensor{0.5, 11.0}}};
  CHECK_THAT(enumerated.unpack(enumerated.pack(values)).at("scale").item(), WithinRel(2.0, 1e-12));
  // A model with only enumerated latent sites has nothing left to sample.
  auto only_discrete = [] { tyche::sample("coin", dist::Bernoulli({.probs = 0.3})); };
  REQUIRE_THROWS_CONTAINING(tyche::potential_energy(only_discrete), std::invalid_argument, "latent site `coin`",
                            "discrete", "marginalised");
}

TEST_CASE("NUTS samples the marginal of a model with enumerated local sites", "[enumeration][mcmc][statistical]") {
  // mu ~ N(0, 1); per point z ~ Bernoulli(0.3), y ~ N(mu + 2 z, 1). The
  // posterior of mu by quadrature: N(mu; 0, 1) prod_i (0.7 N(y_i; mu, 1) + 0.3 N(y_i; mu + 2, 1)).
  const Tensor y{0.3, 2.9, 1.1, -0.4, 2.2, 0.8};
  auto model = [](const Tensor& y) {
    auto mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
    tyche::plate points("points", y.size());
    auto z = tyche::sample("z", dist::Bernoulli({.probs = 0.3}));
    tyche::sample("y", dist::Normal(mu + 2.0 * z, 1.0), y);
  };
  double total = 0.0, first = 0.0, second = 0.0;
  for (double mu = -6.0; mu <= 6.0; mu += 1e-3) {
    double log_p = -0.5 * mu * mu;
    for (double yi : enumeration_values(y))
      log_p += std::log(0.7 * std::exp(-0.5 * (yi - mu) * (yi - mu)) + 0.3 * std::exp(-0.5 * (yi - mu - 2) * (yi - mu - 2)));
    const double w = std::exp(log_p);
    total += w, first += w * mu, second += w * mu * mu;
  }
  const double mean = first / total, sd = std::sqrt(second / total - mean * mean);
  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 500, .num_samples = 1000, .num_chains = 2, .progress_bar = false});
  mcmc.run(4, y);
  const Tensor draws = mcmc.get_samples(true).at("mu");
  CHECK(!mcmc.get_samples().contains("z"));
  const double n_eff = tyche::effective_sample_size(draws).item();
  const std::vector<double> v = enumeration_values(draws);
  double m = 0.0;
  for (double d : v) m += d;
  m /= double(v.size());
  INFO("NUTS mean " << m << ", n_eff " << n_eff << "; exact mean " << mean << ", sd " << sd);
  REQUIRE(n_eff > 200);
  CHECK(std::abs(m - mean) < 4 * sd / std::sqrt(n_eff));  // 4 Monte Carlo standard errors
}

TEST_CASE("infer_discrete at temperature 0 gives seed 003's MAP assignments", "[enumeration][infer_discrete]") {
  const Tensor data{0.0, 1.0, 10.0, 11.0, 12.0};
  const auto at_map = tyche::substitute(
      enumeration_mixture, {{"weights", Tensor{0.375, 0.625}}, {"locs", Tensor{0.49887, 10.98446}}, {"scale", 0.65143}});
  const tyche::Trace tr = tyche::trace(tyche::infer_discrete(at_map, {.temperature = 0})).get_trace(data);
  CHECK(enumeration_values(*tr["assignment"].value) == std::vector<double>{0, 0, 1, 1, 1});
  CHECK(!tr["assignment"].is_observed);
  // With the components' labels swapped, so are the assignments.
  const auto swapped = tyche::substitute(
      enumeration_mixture, {{"weights", Tensor{0.625, 0.375}}, {"locs", Tensor{10.98446, 0.49887}}, {"scale", 0.65143}});
  CHECK(enumeration_values(tyche::infer_discrete(swapped, {.temperature = 0}).draw(data).at("assignment")) ==
        std::vector<double>{1, 1, 0, 0, 0});
}

TEST_CASE("infer_discrete at temperature 0 is the joint MAP of an HMM (Viterbi)", "[enumeration][infer_discrete]") {
  // For the first observations the most probable path (0, 0, 0) differs
  // from the sequence of each step's most probable state (1, 0, 0).
  auto model = [](const Tensor& x) {
    const Tensor transition{{0.9, 0.1}, {0.5, 0.5}};
    const Tensor means{0.0, 1.0};
    Tensor state = tyche::sample("z0", dist::Categorical({.probs = Tensor{0.5, 0.5}}));
    tyche::sample("x0", dist::Normal(tyche::take(means, state), 0.8), tyche::take(x, {0}).reshape({}));
    for (int t = 1; t < 3; ++t) {
      state = tyche::sample("z" + std::to_string(t), dist::Categorical({.probs = tyche::take(transition, state)}));
      tyche::sample("x" + std::to_string(t), dist::Normal(tyche::take(means, state), 0.8),
                    tyche::take(x, {t}).reshape({}));
    }
  };
  for (const Tensor& x : {Tensor{0.6, 0.55, 0.9}, Tensor{1.0, 0.2, 0.7}, Tensor{0.1, 0.9, 0.52}}) {
    // Brute force: the argmax of the log joint over the 8 paths.
    double best = -INFINITY;
    std::vector<double> best_path;
    for (int path = 0; path < 8; ++path) {
      const tyche::ValueMap values{{"z0", double(path & 1)}, {"z1", double(path >> 1 & 1)}, {"z2", double(path >> 2 & 1)}};
      const double lp = tyche::log_density(model, std::tuple{x}, values).log_joint.item();
      if (lp > best) best = lp, best_path = {double(path & 1), double(path >> 1 & 1), double(path >> 2 & 1)};
    }
    const tyche::ValueMap map = tyche::infer_discrete(model, {.temperature = 0, .first_available_dim = -1}).draw(x);
    INFO("x = " << x.data()[0] << ", " << x.data()[1] << ", " << x.data()[2]);
    CHECK(std::vector<double>{map.at("z0").item(), map.at("z1").item(), map.at("z2").item()} == best_path);
  }
}

TEST_CASE("infer_discrete at temperature 1 draws from the joint posterior", "[enumeration][infer_discrete][statistical]") {
  // A global site above a plate of local ones; the exact posterior by brute force over 2 x 3^2 assignments.
  auto model = [](const Tensor& x) {
    const Tensor rows{{0.2, 0.5, 0.3}, {0.6, 0.1, 0.3}};
    auto shift = tyche::sample("shift", dist::Bernoulli({.probs = 0.3}));
    tyche::plate points("points", x.size());
    auto kind = tyche::sample("kind", dist::Categorical({.probs = tyche::take(rows, shift)}));
    tyche::sample("x", dist::Normal(tyche::take(Tensor{-1.0, 0.5, 3.0}, kind) + 1.5 * shift, 1.0), x);
  };
  const Tensor x{0.4, 3.1};
  std::vector<double> exact(18, 0.0);  // shift * 9 + kind0 * 3 + kind1
  double total = 0.0;
  for (int cell = 0; cell < 18; ++cell) {
    const tyche::ValueMap values{{"shift", double(cell / 9)}, {"kind", Tensor{double(cell / 3 % 3), double(cell % 3)}}};
    exact[std::size_t(cell)] = std::exp(tyche::log_density(model, std::tuple{x}, values).log_joint.item());
    total += exact[std::size_t(cell)];
  }
  constexpr int kDraws = 4000;
  std::vector<int> counts(18, 0);
  for (int i = 0; i < kDraws; ++i) {
    const tyche::ValueMap d = tyche::infer_discrete(model, {.rng_key = tyche::PRNGKey(std::uint64_t(i))}).draw(x);
    const Tensor& kind = d.at("kind");
    ++counts[std::size_t(int(d.at("shift").item()) * 9 + int(kind.data()[0]) * 3 + int(kind.data()[1]))];
  }
  // Each cell's count is Binomial(kDraws, p): within 5 standard errors.
  for (int cell = 0; cell < 18; ++cell) {
    const double p = exact[std::size_t(cell)] / total;
    INFO("cell " << cell << ": p " << p << ", frequency " << counts[std::size_t(cell)] / double(kDraws));
    CHECK(std::abs(counts[std::size_t(cell)] - kDraws * p) <= 5 * std::sqrt(kDraws * p * (1 - p)) + 1e-9);
  }
}

TEST_CASE("infer_discrete errors", "[enumeration][infer_discrete]") {
  const Tensor data{0.0, 1.0};
  REQUIRE_THROWS_CONTAINING(tyche::infer_discrete(enumeration_mixture, {.temperature = 0.5}), std::invalid_argument,
                            "temperature");
  REQUIRE_THROWS_CONTAINING(tyche::infer_discrete(enumeration_mixture)(data), std::runtime_error, "random key");
}

TEST_CASE("enum_log_density of a 5-step HMM equals the forward algorithm", "[enumeration]") {
  // 5 enumerated dims: the greedy elimination order sums the chain one step
  // at a time. Reference: alpha_t(j) = sum_i alpha_{t-1}(i) A(i, j) N(x_t | m_j, 1).
  const std::vector<std::vector<double>> transition{{0.7, 0.2, 0.1}, {0.1, 0.8, 0.1}, {0.3, 0.3, 0.4}};
  const std::vector<double> initial{0.5, 0.3, 0.2}, means{-2.0, 0.0, 3.0};
  const Tensor x{-1.5, 0.4, 2.2, 2.9, -0.1};
  auto model = [](const Tensor& x) {
    const Tensor a{{0.7, 0.2, 0.1}, {0.1, 0.8, 0.1}, {0.3, 0.3, 0.4}};
    Tensor state;
    for (int t = 0; t < 5; ++t) {
      state = tyche::sample("z" + std::to_string(t),
                            dist::Categorical({.probs = t == 0 ? Tensor{0.5, 0.3, 0.2} : tyche::take(a, state)}));
      tyche::sample("x" + std::to_string(t), dist::Normal(tyche::take(Tensor{-2.0, 0.0, 3.0}, state), 1.0),
                    tyche::take(x, {t}).reshape({}));
    }
  };
  const auto emission = [&](double xt, int j) {
    return std::exp(-0.5 * (xt - means[std::size_t(j)]) * (xt - means[std::size_t(j)])) / std::sqrt(2 * std::numbers::pi);
  };
  std::vector<double> alpha(3);
  for (int j = 0; j < 3; ++j) alpha[std::size_t(j)] = initial[std::size_t(j)] * emission(x.data()[0], j);
  for (int t = 1; t < 5; ++t) {
    std::vector<double> next(3, 0.0);
    for (int j = 0; j < 3; ++j) {
      for (int i = 0; i < 3; ++i) next[std::size_t(j)] += alpha[std::size_t(i)] * transition[std::size_t(i)][std::size_t(j)];
      next[std::size_t(j)] *= emission(x.data()[t], j);
    }
    alpha = next;
  }
  const double forward = std::log(alpha[0] + alpha[1] + alpha[2]);
  CHECK_THAT(enumeration_summed(model, {}, 0, x), WithinRel(forward, 1e-12));
  // A sixth site would need dim -7: a clear error.
  auto too_many = [] {
    for (int t = 0; t < 7; ++t)
      tyche::sample("c" + std::to_string(t), dist::Bernoulli({.probs = 0.5}), std::nullopt,
                    {.infer = {{"enumerate", std::string("parallel")}}});
  };
  REQUIRE_THROWS_CONTAINING(tyche::enumerate(too_many, -1)(), tyche::ShapeError, "site `c6`", "at most 6 dims");
}

TEST_CASE("TraceEnum_ELBO equals brute force with two plates and two enumerated sites", "[enumeration][svi]") {
  // mu ~ N(0, 1) guided by a point mass; groups (2) > a_g; members (3) > b_gm; x_gm ~ N(mu + b_gm + a_g, 0.8).
  // With q a point mass at mu = 0.3 (log q = 0), -ELBO = -log p(mu = 0.3, x), the assignments summed out.
  auto model = [](const Tensor& x) {
    auto mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
    tyche::plate groups("groups", 2, std::nullopt, -2);
    auto a = tyche::sample("a", dist::Bernoulli({.probs = 0.35}), std::nullopt,
                           {.infer = {{"enumerate", std::string("parallel")}}});
    tyche::plate members("members", 3, std::nullopt, -1);
    auto b = tyche::sample("b", dist::Bernoulli({.probs = tyche::take(Tensor{0.2, 0.9}, a)}), std::nullopt,
                           {.infer = {{"enumerate", std::string("parallel")}}});
    tyche::sample("x", dist::Normal(mu + b + a, 0.8), x);
  };
  auto guide = [](const Tensor&) { tyche::sample("mu", dist::Delta(tyche::param("mu_loc", 0.0))); };
  const Tensor x{{0.1, 1.2, 0.9}, {2.1, 1.8, -0.3}};
  const double brute = enumeration_brute_force(model, {{"mu", 0.3}}, {{"a", {2, 1}, 2}, {"b", {2, 3}, 2}}, x);
  for (const std::optional<int> nesting : {std::optional<int>(2), std::optional<int>()}) {
    const double loss = tyche::TraceEnum_ELBO{.num_particles = 2, .max_plate_nesting = nesting}
                            .loss(tyche::PRNGKey(0), {{"mu_loc", 0.3}}, model, guide, std::tuple{x})
                            .item();
    CHECK_THAT(loss, WithinRel(-brute, 1e-12));
  }
}

TEST_CASE("enum_log_density refuses plates that do not nest around an enumerated dim", "[enumeration]") {
  // a in plate rows, b in plate cols, x in both depending on a and b: not a tree (as in Pyro).
  auto crossed = [](const Tensor& x) {
    Tensor a, b;
    {
      tyche::plate rows("rows", 2, std::nullopt, -2);
      a = tyche::sample("a", dist::Bernoulli({.probs = 0.5}));
    }
    {
      tyche::plate cols("cols", 3, std::nullopt, -1);
      b = tyche::sample("b", dist::Bernoulli({.probs = 0.5}));
    }
    tyche::plate rows("rows", 2, std::nullopt, -2);
    tyche::plate cols("cols", 3, std::nullopt, -1);
    tyche::sample("x", dist::Normal(a + b, 1.0), x);
  };
  const auto run = tyche::trace(tyche::enumerate(tyche::config_enumerate(crossed), -3));
  const tyche::Trace tr = run.get_trace(Tensor::zeros({2, 3}));
  REQUIRE_THROWS_CONTAINING(tyche::enum_log_density(tr, 2), std::invalid_argument, "do not nest as a tree");
}


TEST_CASE("NUTS, then Predictive with infer_discrete, on seed 003's mixture",
          "[enumeration][infer_discrete][statistical]") {
  const Tensor data{0.0, 1.0, 10.0, 11.0, 12.0};
  tyche::MCMC mcmc(tyche::NUTS(enumeration_mixture), {.num_warmup = 500, .num_samples = 500, .progress_bar = false});
  mcmc.run(0, data);
  const tyche::ValueMap samples = mcmc.get_samples();
  const tyche::ValueMap drawn = tyche::Predictive(
      enumeration_mixture, samples,
      {.return_sites = std::vector<std::string>{"assignment"}, .infer_discrete = true})(1, data);
  const Tensor& z = drawn.at("assignment");
  REQUIRE(z.shape() == tyche::Shape{500, 5});
  // The check: the first two points in one component, the last three in the other.
  int split = 0;
  for (std::int64_t i = 0; i < 500; ++i) {
    const double* row = z.data() + 5 * i;
    split += row[0] == row[1] && row[2] == row[3] && row[3] == row[4] && row[0] != row[2];
  }
  CHECK(split > 450);
}

namespace {

// TraceEnum_ELBO under another name, which SVI never records.
struct EagerTraceEnum {
  tyche::TraceEnum_ELBO elbo;
  template <class Model, class Guide, class... Args>
  Tensor loss(tyche::Key key, const tyche::ValueMap& params, const Model& model, const Guide& guide,
              const std::tuple<Args...>& args) const {
    return elbo.loss(key, params, model, guide, args);
  }
};

}  // namespace

TEST_CASE("SVI with an autoguide and TraceEnum_ELBO: the recorded potential takes the eager steps", "[enumeration][svi]") {
  // SVI::run and update record the model's potential, which sums `assignment`
  // out as TraceEnum_ELBO does (infer/auto_guide_elbo.hpp); with the guide's
  // type hidden, SVI records the loss with the guide's noise
  // (infer/guide_elbo.hpp); both against TraceEnum_ELBO under another name,
  // which runs the guide and the model under their handlers at every step.
  // Seed 003's configuration and an AutoNormal, 100 steps.
  const Tensor data{0.0, 1.0, 10.0, 11.0, 12.0};
  const auto model = tyche::config_enumerate(enumeration_mixture);
  const auto blocked = tyche::block(enumeration_mixture, {.expose = {"weights", "locs", "scale"}});
  const tyche::ValueMap init{{"weights_auto_loc", Tensor{0.5, 0.5}},
                             {"scale_auto_loc", std::sqrt(33.7 / 2.0)},
                             {"locs_auto_loc", Tensor{0.0, 10.0}}};
  const auto losses = [&](auto guide, bool by_update, auto elbo) {
    tyche::SVI svi(model, std::move(guide), tyche::optim::Adam({.step_size = 0.1, .b1 = 0.8, .b2 = 0.99}), elbo);
    if (!by_update) return svi.run(0, 100, data, tyche::SVIRunOptions{.init_params = init, .progress_bar = false}).losses;
    auto state = svi.init(0, data, tyche::SVIInitOptions{.init_params = init});
    std::vector<double> out;
    for (int i = 0; i < 100; ++i) {
      auto [next, loss] = svi.update(state, data);
      out.push_back(loss);
      state = std::move(next);
    }
    return Tensor(out);
  };
  const auto hidden = [](auto guide) { return [guide](const auto&... args) { return guide(args...); }; };
  const auto compare = [&](const Tensor& fast, const Tensor& eager) {
    REQUIRE(fast.size() == eager.size());
    for (std::int64_t i = 0; i < fast.size(); ++i) {
      INFO("step " << i);
      CHECK_THAT(fast.data()[i], WithinRel(eager.data()[i], 1e-9));
    }
  };
  // The MAP's loss falls from 25.7 to about 16 (seed 003): the steps moved.
  const auto descends = [](const Tensor& l) { CHECK(l.data()[99] < l.data()[0] - 5.0); };
  const tyche::TraceEnum_ELBO elbo{.max_plate_nesting = 1};
  const EagerTraceEnum eagerly{elbo};
  SECTION("AutoDelta, run") {
    const Tensor eager = losses(tyche::AutoDelta(blocked), false, eagerly);
    compare(losses(tyche::AutoDelta(blocked), false, elbo), eager);
    compare(losses(hidden(tyche::AutoDelta(blocked)), false, elbo), eager);  // the path of any guide
    descends(eager);
  }
  SECTION("AutoDelta, update") {
    const Tensor eager = losses(tyche::AutoDelta(blocked), true, eagerly);
    compare(losses(tyche::AutoDelta(blocked), true, elbo), eager);
    descends(eager);
  }
  SECTION("AutoNormal, run") {
    const tyche::ValueMap normal_init{{"locs_auto_loc", Tensor{0.0, 10.0}}};
    tyche::SVI fast(model, tyche::AutoNormal(enumeration_mixture), tyche::optim::Adam({.step_size = 0.05}),
                    tyche::TraceEnum_ELBO{.max_plate_nesting = 1});
    tyche::SVI eager(model, tyche::AutoNormal(enumeration_mixture), tyche::optim::Adam({.step_size = 0.05}), eagerly);
    const tyche::SVIRunOptions options{.init_params = normal_init, .progress_bar = false};
    compare(fast.run(2, 100, data, options).losses, eager.run(2, 100, data, options).losses);
  }
}

TEST_CASE("AutoNormal leaves enumerated sites to TraceEnum_ELBO", "[enumeration][svi]") {
  const Tensor data{0.0, 1.0, 10.0, 11.0, 12.0};
  const auto model = tyche::config_enumerate(enumeration_mixture);
  tyche::SVI svi(model, tyche::AutoNormal(enumeration_mixture), tyche::optim::Adam({.step_size = 0.05}),
                 tyche::TraceEnum_ELBO{.max_plate_nesting = 1});
  const auto result = svi.run(0, 300, data, tyche::SVIRunOptions{.progress_bar = false});
  CHECK(std::isfinite(result.losses.data()[299]));
  CHECK(result.losses.data()[299] < result.losses.data()[0]);
  CHECK(!result.params.contains("assignment_auto_loc"));
}
