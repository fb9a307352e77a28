// Effect handlers, each behaviour of the NumPyro handler tutorial (seed
// 001 in ../shared/seeds) reproduced in C++. tyche's keys and uniform and
// normal draws follow JAX bit for bit, so the tutorial's printed numbers
// (NumPyro computes them in float32) are checked to float32 precision: a
// relative tolerance of 1e-5 (float32 has 24 bits, ~6e-8, and erfinv
// amplifies rounding by at most ~100 this far in the tails).
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using tyche::Message;
using tyche::SiteType;
using tyche::Tensor;
using tyche::Trace;
namespace dist = tyche::dist;

constexpr double kFloat32 = 1e-5;

// jnp.linspace(-2, 2, 50)
Tensor x_data() {
  std::vector<double> x(50);
  for (int i = 0; i < 50; ++i) x[std::size_t(i)] = -2.0 + 4.0 * i / 49.0;
  return Tensor(x);
}

// The tutorial's synthetic data: 1 + 2 x + 0.5 eps with eps drawn from the
// second half of split(key(42)).
Tensor y_data() {
  const auto subkey = tyche::split(tyche::PRNGKey(42))[1];
  return 1.0 + 2.0 * x_data() + 0.5 * tyche::random::normal(subkey, {50});
}

// The tutorial's linear regression.
auto linear_model = [](const Tensor& x) {
  auto intercept = tyche::sample("intercept", dist::Normal(0.0, 10.0));
  auto slope = tyche::sample("slope", dist::Normal(0.0, 5.0));
  auto sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  auto mu = tyche::deterministic("mu", intercept + slope * x);
  tyche::plate data("data", x.size());
  tyche::sample("obs", dist::Normal(mu, sigma));
};

std::vector<std::string> names(const Trace& tr) { return tr.keys(); }

double value(const Trace& tr, const char* name) { return tr[name].value->item(); }

}  // namespace

TEST_CASE("sample without handlers draws with the default key or returns the observation") {
  const Tensor x = tyche::sample("x", dist::Normal(0.0, 1.0));
  CHECK(x.item() == dist::Normal(0.0, 1.0).sample(tyche::kDefaultKey).item());
  CHECK(tyche::sample("x", dist::Normal(0.0, 1.0), 0.25).item() == 0.25);
  CHECK(tyche::param("p", 3.0).item() == 3.0);
  CHECK(tyche::deterministic("d", 4.0).item() == 4.0);
  CHECK_FALSE(tyche::prng_key().has_value());
  CHECK_FALSE(tyche::get_mask().has_value());
}

TEST_CASE("seed as a guard and as a wrapper draws NumPyro's value for seed 0") {
  double guarded = 0.0;
  {
    tyche::seed guard(0);
    guarded = tyche::sample("x", dist::Normal(0.0, 1.0)).item();
  }
  const double wrapped = tyche::seed([] { return tyche::sample("x", dist::Normal(0.0, 1.0)); }, 0)().item();
  CHECK(guarded == Approx(-2.4424577).epsilon(kFloat32));  // printed as -2.4425
  CHECK(wrapped == guarded);
}

TEST_CASE("seed gives the same trace for the same seed and keeps no state between calls") {
  const auto seeded = tyche::seed(linear_model, 0);
  const Trace first = tyche::trace(seeded).get_trace(x_data());
  const Trace second = tyche::trace(seeded).get_trace(x_data());
  for (const char* site : {"intercept", "slope", "sigma"}) CHECK(value(first, site) == value(second, site));
  const Trace other = tyche::trace(tyche::seed(linear_model, 1)).get_trace(x_data());
  CHECK(value(other, "slope") != value(first, "slope"));
  // Each site got its own key: the three draws are not one number scaled.
  CHECK(value(first, "intercept") / 10.0 != Approx(value(first, "slope") / 5.0));
}

TEST_CASE("trace records every site in execution order with its type, observed flag and shape") {
  const Trace tr = tyche::trace(tyche::seed(linear_model, 0)).get_trace(x_data());
  CHECK(names(tr) == std::vector<std::string>{"intercept", "slope", "sigma", "mu", "data", "obs"});
  CHECK(tyche::format_trace(tr) ==
        "        Site |            Type |  is_observed | Value shape\n"
        "----------------------------------------------------------------------\n"
        "   intercept |          sample |        False | ()\n"
        "       slope |          sample |        False | ()\n"
        "       sigma |          sample |        False | ()\n"
        "          mu |   deterministic |          N/A | (50,)\n"
        "        data |           plate |          N/A | (50,)\n"
        "         obs |          sample |        False | (50,)\n");
}

TEST_CASE("trace keeps the message fields of a site as NumPyro shows them") {
  const Trace tr = tyche::trace(tyche::seed(linear_model, 0)).get_trace(x_data());
  const Message& slope = tr["slope"];
  CHECK(slope.type == SiteType::sample);
  CHECK(slope.name == "slope");
  CHECK(slope.fn->str() == "Normal(batch_shape=(), event_shape=())");
  REQUIRE(slope.rng_key.has_value());
  CHECK(*slope.rng_key == tyche::Key{1353695780u, 2116000888u});
  CHECK(slope.value->item() == Approx(-6.2873883).epsilon(kFloat32));
  CHECK_FALSE(slope.scale.has_value());
  CHECK_FALSE(slope.is_observed);
  CHECK(slope.cond_indep_stack.empty());
  CHECK(slope.infer.empty());
  const Message& obs = tr["obs"];
  REQUIRE(obs.cond_indep_stack.size() == 1);
  CHECK(obs.cond_indep_stack[0] == tyche::CondIndepStackFrame{"data", -1, 50});
  CHECK(obs.fn->batch_shape() == tyche::Shape{50});
}

TEST_CASE("trace rejects a second sample site with the same name") {
  auto twice = [] {
    tyche::sample("alpha", dist::Normal(0.0, 1.0));
    tyche::sample("alpha", dist::Normal(0.0, 1.0));
  };
  CHECK_THROWS_WITH(tyche::trace(tyche::seed(twice, 0)).get_trace(),
                    Catch::Contains("all sites must have unique names but got `alpha` duplicated"));
  CHECK(tyche::detail::handler_stack().empty());
}

TEST_CASE("the tutorial's synthetic data reproduces its printed values") {
  const Tensor y = y_data();
  CHECK(y[0].item() == Approx(-2.697118).epsilon(kFloat32));
  CHECK(y[1].item() == Approx(-2.4372127).epsilon(kFloat32));
  CHECK(y[2].item() == Approx(-3.127933).epsilon(kFloat32));
}

TEST_CASE("condition sets a value and marks the site observed") {
  const Trace tr = tyche::trace(tyche::seed(tyche::condition(linear_model, {{"slope", 3.0}}), 0)).get_trace(x_data());
  CHECK(value(tr, "slope") == 3.0);
  CHECK(tr["slope"].is_observed);
  // By a function of the message instead of a map.
  const auto by_fn = tyche::condition(linear_model, [](const Message& m) -> std::optional<Tensor> {
    return m.name == "slope" ? std::optional<Tensor>(3.0) : std::nullopt;
  });
  const Trace tr2 = tyche::trace(tyche::seed(by_fn, 0)).get_trace(x_data());
  CHECK(value(tr2, "slope") == 3.0);
  CHECK(tr2["slope"].is_observed);
  CHECK_FALSE(tr2["intercept"].is_observed);
}

TEST_CASE("substitute sets a value and leaves the site unobserved") {
  const Trace tr = tyche::trace(tyche::seed(tyche::substitute(linear_model, {{"slope", 3.0}}), 0)).get_trace(x_data());
  CHECK(value(tr, "slope") == 3.0);
  CHECK_FALSE(tr["slope"].is_observed);
  // Deterministic sites can be substituted too; mu follows.
  const Trace mu = tyche::trace(tyche::seed(tyche::substitute(linear_model, {{"mu", Tensor::zeros({50})}}), 0))
                       .get_trace(x_data());
  CHECK(mu["mu"].value->at({7}) == 0.0);
}

TEST_CASE("the outer of condition and substitute decides the value") {
  const auto seeded = tyche::seed(linear_model, 0);
  const Trace outer_condition =
      tyche::trace(tyche::condition(tyche::substitute(seeded, {{"slope", 10.0}}), {{"slope", 3.0}})).get_trace(x_data());
  CHECK(value(outer_condition, "slope") == 3.0);
  CHECK(outer_condition["slope"].is_observed);
  const Trace outer_substitute =
      tyche::trace(tyche::substitute(tyche::condition(seeded, {{"slope", 3.0}}), {{"slope", 10.0}})).get_trace(x_data());
  CHECK(value(outer_substitute, "slope") == 10.0);
  CHECK(outer_substitute["slope"].is_observed);
}

TEST_CASE("condition as a guard under a trace guard") {
  tyche::trace recorder;
  {
    tyche::condition guard({{"slope", 2.5}});
    tyche::seed(linear_model, 0)(x_data());
  }
  CHECK(recorder["slope"].value->item() == 2.5);
  CHECK(recorder.get_trace().size() == 6);
}

TEST_CASE("block hides listed sites, exposes listed sites, or hides by predicate") {
  const auto seeded = tyche::seed(linear_model, 0);
  CHECK(names(tyche::trace(tyche::block(seeded, {.hide = {"sigma"}})).get_trace(x_data())) ==
        std::vector<std::string>{"intercept", "slope", "mu", "data", "obs"});
  CHECK(names(tyche::trace(tyche::block(seeded, {.expose = {"slope", "intercept"}})).get_trace(x_data())) ==
        std::vector<std::string>{"intercept", "slope"});
  const auto unobserved = [](const Message& m) { return m.type == SiteType::sample && !m.is_observed; };
  CHECK(names(tyche::trace(tyche::block(seeded, {.hide_fn = unobserved})).get_trace(x_data())) ==
        std::vector<std::string>{"mu", "data"});
  CHECK(tyche::trace(tyche::block(seeded)).get_trace(x_data()).empty());
}

TEST_CASE("blocked sites still run and inner handlers see them") {
  const Trace outer = tyche::trace([] {
    tyche::block hide_all;
    tyche::trace inner;
    tyche::seed(linear_model, 0)(x_data());
    CHECK(inner.get_trace().size() == 6);
  }).get_trace();
  CHECK(outer.empty());
}

TEST_CASE("uncondition samples observed sites from their distribution") {
  const auto conditioned = tyche::condition(linear_model, {{"obs", y_data()}});
  const Trace observed = tyche::trace(tyche::seed(conditioned, 0)).get_trace(x_data());
  CHECK(observed["obs"].is_observed);
  CHECK(observed["obs"].value->at({0}) == Approx(-2.697118).epsilon(kFloat32));

  const Trace tr = tyche::trace(tyche::uncondition(tyche::seed(conditioned, 0))).get_trace(x_data());
  const Message& obs = tr["obs"];
  CHECK_FALSE(obs.is_observed);
  CHECK(std::get<bool>(obs.infer.at("was_observed")));
  CHECK(std::get<Tensor>(obs.infer.at("obs")).at({1}) == observed["obs"].value->at({1}));
  // NumPyro prints [-15.044792 -12.289793 -10.538498] (sampled, not y_data).
  CHECK(obs.value->at({0}) == Approx(-15.044792).epsilon(kFloat32));
  CHECK(obs.value->at({1}) == Approx(-12.289793).epsilon(kFloat32));
  CHECK(obs.value->at({2}) == Approx(-10.538498).epsilon(kFloat32));
}

TEST_CASE("lift turns param sites into sample sites from a prior") {
  auto model_with_param = [](const Tensor& x) {
    auto s = tyche::param("s", 1.0, tyche::constraints::positive);
    auto loc = tyche::sample("loc", dist::Normal(0.0, s));
    tyche::sample("obs", dist::Normal(loc, 1.0), x);
  };
  const Tensor ones = Tensor::ones({5});
  const Trace plain = tyche::trace(tyche::seed(model_with_param, 0)).get_trace(ones);
  CHECK(plain["s"].type == SiteType::param);
  CHECK(plain["s"].value->item() == 1.0);
  const auto lifted = tyche::lift(model_with_param, {{"s", dist::Exponential(1.0).share()}});
  const Trace tr = tyche::trace(tyche::seed(lifted, 0)).get_trace(ones);
  CHECK(tr["s"].type == SiteType::sample);
  CHECK(tr["s"].value->item() == Approx(0.0073).margin(5e-5));  // printed as 0.0073
  // One prior for every param site.
  const Trace all = tyche::trace(tyche::seed(tyche::lift(model_with_param, dist::Exponential(1.0)), 0)).get_trace(ones);
  CHECK(all["s"].value->item() == tr["s"].value->item());
}

TEST_CASE("scope prefixes site names and nested scopes compose") {
  auto component = [] { return tyche::sample("z", dist::Normal(0.0, 1.0)); };
  auto composed = [&] {
    const Tensor z1 = tyche::scope(component, "first", "::")();
    const Tensor z2 = tyche::scope(component, "second", "/")();
    tyche::deterministic("diff", z1 - z2);
  };
  CHECK(names(tyche::trace(tyche::seed(composed, 0)).get_trace()) ==
        std::vector<std::string>{"first::z", "second/z", "diff"});

  auto nested = [&] {
    tyche::scope outer("outer");
    tyche::scope inner("inner");
    component();
  };
  CHECK(names(tyche::trace(tyche::seed(nested, 0)).get_trace()) == std::vector<std::string>{"outer/inner/z"});
}

TEST_CASE("scope renames plates unless plates are hidden from it") {
  auto in_plate = [] {
    tyche::plate p("rows", 3);
    tyche::sample("z", dist::Normal(0.0, 1.0));
  };
  const Trace renamed = tyche::trace(tyche::seed(tyche::scope(in_plate, "m"), 0)).get_trace();
  CHECK(names(renamed) == std::vector<std::string>{"m/rows", "m/z"});
  CHECK(renamed["m/z"].cond_indep_stack[0].name == "m/rows");
  const Trace kept =
      tyche::trace(tyche::seed(tyche::scope(in_plate, "m", "/", {SiteType::plate}), 0)).get_trace();
  CHECK(names(kept) == std::vector<std::string>{"rows", "m/z"});
  CHECK(kept["m/z"].cond_indep_stack[0].name == "rows");
}

TEST_CASE("scope lets one sub-model be used twice (the Double ML pattern)") {
  auto linear = [](const Tensor& x, std::optional<Tensor> y) {
    auto alpha = tyche::sample("alpha", dist::Normal(0.0, 1.0));
    auto sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
    tyche::plate rows("obs_id", x.size());
    auto mu = tyche::deterministic("mu", alpha + 0.5 * x);
    return tyche::sample("obs", dist::Normal(mu, sigma), std::move(y));
  };
  const Tensor x{0.5, -1.0, 2.0};
  auto with_scope = [&] {
    const Tensor a = tyche::scope(linear, "Mt", ".")(x, std::nullopt);
    const Tensor y = tyche::scope(linear, "My", ".")(x, std::nullopt);
    tyche::scope(linear, "M", ".")(a - y, std::nullopt);
  };
  const Trace tr = tyche::trace(tyche::seed(with_scope, 0)).get_trace();
  CHECK(tr.contains("Mt.alpha"));
  CHECK(tr.contains("My.alpha"));
  CHECK(tr.contains("M.obs"));
  CHECK(tr.size() == 15);
  auto without_scope = [&] {
    linear(x, std::nullopt);
    linear(x, std::nullopt);
  };
  CHECK_THROWS_WITH(tyche::trace(tyche::seed(without_scope, 0)).get_trace(),
                    Catch::Contains("all sites must have unique names but got `alpha` duplicated"));
}

TEST_CASE("replay takes unobserved values from a recorded trace whatever the seed") {
  const Trace original = tyche::trace(tyche::seed(linear_model, 0)).get_trace(x_data());
  CHECK(value(original, "slope") == Approx(-6.2874).margin(5e-5));
  const Trace replayed = tyche::trace(tyche::replay(tyche::seed(linear_model, 99), original)).get_trace(x_data());
  for (const char* site : {"intercept", "slope", "sigma"}) CHECK(value(replayed, site) == value(original, site));
  CHECK(replayed["obs"].value->at({3}) == original["obs"].value->at({3}));
}

TEST_CASE("scale multiplies a site's scale and must be positive") {
  auto simple_obs_model = [] {
    auto z = tyche::sample("z", dist::Normal(0.0, 1.0));
    tyche::sample("obs", dist::Normal(z, 1.0), 0.5);
  };
  const Trace plain = tyche::trace(tyche::seed(simple_obs_model, 0)).get_trace();
  CHECK_FALSE(plain["obs"].scale.has_value());
  {
    tyche::trace recorder;
    tyche::scale guard(10.0);
    tyche::seed(simple_obs_model, 0)();
    CHECK(recorder["obs"].scale->item() == 10.0);
  }
  const Trace twice =
      tyche::trace(tyche::seed(tyche::scale(tyche::scale(simple_obs_model, 2.0), 3.0), 0)).get_trace();
  CHECK(twice["z"].scale->item() == 6.0);
  CHECK_THROWS_WITH(tyche::scale(simple_obs_model, -1.0), Catch::Contains("must be positive, got -1"));
}

TEST_CASE("mask wraps a site's distribution and masks its log density elementwise") {
  auto model_for_mask = [] {
    auto z = tyche::sample("z", dist::Normal(0.0, 1.0));
    tyche::sample("obs", dist::Normal(z, 1.0), Tensor{1.0, 2.0, 3.0});
  };
  const Tensor keep{1.0, 0.0, 1.0};
  const Trace tr = tyche::trace(tyche::seed(tyche::mask(model_for_mask, keep), 0)).get_trace();
  CHECK(tr["obs"].fn->name() == "MaskedDistribution");
  // The latent z is masked too, so it has the mask's batch shape: three draws
  // (NumPyro expands a masked distribution's base to the mask's shape).
  REQUIRE(tr["z"].value->shape() == tyche::Shape{3});
  const Tensor& z = *tr["z"].value;
  const Tensor lp = tr["obs"].fn->log_prob(*tr["obs"].value);
  const double log_norm = -0.5 * std::log(2.0 * M_PI);
  CHECK(lp.at({0}) == Approx(log_norm - 0.5 * (1.0 - z.at({0})) * (1.0 - z.at({0}))));
  CHECK(lp.at({1}) == 0.0);
  CHECK(lp.at({2}) == Approx(log_norm - 0.5 * (3.0 - z.at({2})) * (3.0 - z.at({2}))));
  CHECK_THROWS_WITH(tyche::mask(model_for_mask, Tensor{0.5}), Catch::Contains("0 or 1"));
}

TEST_CASE("get_mask shows the masks in effect") {
  std::optional<Tensor> seen;
  auto model = [&] { seen = tyche::get_mask(); };
  tyche::mask(model, false)();
  REQUIRE(seen.has_value());
  CHECK(seen->item() == 0.0);
  tyche::mask(tyche::mask(model, Tensor{1.0, 0.0}), Tensor{1.0, 1.0})();
  CHECK(seen->at({1}) == 0.0);
  tyche::seed(model, 0)();
  CHECK_FALSE(seen.has_value());
}

TEST_CASE("do intervenes downstream while the trace keeps a fresh sample under the original name") {
  auto causal_chain = [](double x) {
    auto z = tyche::sample("z", dist::Normal(x, 1.0));
    return tyche::sample("y", dist::Normal(z, 0.5));
  };
  const Trace natural = tyche::trace(tyche::seed(causal_chain, 0)).get_trace(1.0);
  CHECK(value(natural, "z") == Approx(-1.442).margin(5e-4));
  CHECK(value(natural, "y") == Approx(-2.071).margin(5e-4));

  const auto intervened = tyche::do_(causal_chain, {{"z", 5.0}});
  tyche::trace recorder;
  const double y = tyche::seed(intervened, 0)(1.0).item();
  const Trace& tr = recorder.get_trace();
  CHECK(names(tr) == std::vector<std::string>{"z", "y"});
  CHECK(value(tr, "z") == value(natural, "z"));
  CHECK_FALSE(tr["z"].is_observed);
  CHECK(y == Approx(4.371).margin(5e-4));
}

TEST_CASE("do renames the intervened site name__CF, observed, seen only inside") {
  auto model = [] {
    auto z = tyche::sample("z", dist::Normal(0.0, 1.0));
    tyche::sample("y", dist::Normal(z, 1.0));
  };
  const Trace outside = tyche::trace(tyche::do_(tyche::seed(model, 0), {{"z", 5.0}})).get_trace();
  CHECK(names(outside) == std::vector<std::string>{"z", "y"});
  // The inner trace (inside do) sees both the fresh site and the renamed one.
  tyche::trace outer;
  tyche::do_ guard({{"z", 5.0}});
  tyche::trace inside;
  tyche::seed(model, 0)();
  CHECK(names(inside.get_trace()) == std::vector<std::string>{"z", "z__CF", "y"});
  CHECK(inside["z__CF"].is_observed);
  CHECK(inside["z__CF"].value->item() == 5.0);
}

TEST_CASE("reparam with LocScaleReparam(0) decentres eight schools with the same joint density") {
  auto eight_schools = [](const Tensor& sigma, std::optional<Tensor> y) {
    auto mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
    auto tau = tyche::sample("tau", dist::HalfCauchy(5.0));
    tyche::plate schools("J", sigma.size());
    auto theta = tyche::sample("theta", dist::Normal(mu, tau));
    tyche::sample("obs", dist::Normal(theta, sigma), std::move(y));
  };
  const Tensor sigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  const Tensor y{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
  const auto noncentred = tyche::reparam(eight_schools, {{"theta", tyche::LocScaleReparam(0.0)}});
  const Trace tr = tyche::trace(tyche::seed(noncentred, 0)).get_trace(sigma, std::nullopt);
  CHECK(names(tr) == std::vector<std::string>{"mu", "tau", "J", "theta_decentered", "theta", "obs"});
  CHECK(tr["theta_decentered"].type == SiteType::sample);
  CHECK(tr["theta_decentered"].value->shape() == tyche::Shape{8});
  CHECK(tr["theta"].type == SiteType::deterministic);
  CHECK(tr["theta"].value->shape() == tyche::Shape{8});

  // theta = mu + tau * theta_decentered, and the densities differ by exactly
  // the Jacobian: p(mu, tau, dec) = p(mu, tau, theta) * tau^8.
  const double mu = 1.5, tau = 2.5;
  const Tensor dec{0.3, -1.0, 0.2, 0.8, -0.4, 1.1, 0.0, -0.6};
  const auto [lp_noncentred, tr_noncentred] = tyche::log_density(
      noncentred, std::tuple{sigma, std::optional<Tensor>(y)}, {{"mu", mu}, {"tau", tau}, {"theta_decentered", dec}});
  const Tensor theta = mu + tau * dec;
  CHECK(tr_noncentred["theta"].value->at({1}) == Approx(theta.at({1})));
  const auto [lp_centred, tr_centred] = tyche::log_density(
      eight_schools, std::tuple{sigma, std::optional<Tensor>(y)}, {{"mu", mu}, {"tau", tau}, {"theta", theta}});
  CHECK(lp_noncentred.item() == Approx(lp_centred.item() + 8.0 * std::log(tau)).epsilon(1e-12));
}

TEST_CASE("infer_config sets infer fields of sample sites") {
  auto model = [] {
    tyche::sample("z", dist::Normal(0.0, 1.0));
    tyche::deterministic("d", 1.0);
  };
  const auto configured =
      tyche::infer_config(model, [](const Message& m) { return tyche::Infer{{"tag", m.name + "!"}}; });
  const Trace tr = tyche::trace(tyche::seed(configured, 0)).get_trace();
  CHECK(std::get<std::string>(tr["z"].infer.at("tag")) == "z!");
  CHECK(tr["d"].infer.empty());
}

TEST_CASE("every handler also works as a scoped guard") {
  auto model = [] {
    auto p = tyche::param("p", 1.0);
    auto z = tyche::sample("z", dist::Normal(p, 1.0));
    tyche::sample("y", dist::Normal(z, 1.0), 0.5);
  };
  {
    tyche::trace tr;
    tyche::seed sd(0);
    tyche::scope sc("a");  // outermost of the three, so the others see the plain names
    tyche::substitute s({{"p", 2.0}});
    tyche::infer_config c([](const Message&) { return tyche::Infer{{"k", true}}; });
    tyche::uncondition u;
    tyche::reparam r({{"z", tyche::LocScaleReparam(0.0)}});
    model();
    CHECK(names(tr.get_trace()) == std::vector<std::string>{"a/p", "a/z_decentered", "a/z", "a/y"});
    CHECK(tr["a/p"].value->item() == 2.0);
    CHECK(tr["a/z"].value->item() == Approx(2.0 + tr["a/z_decentered"].value->item()));
    CHECK(std::get<bool>(tr["a/y"].infer.at("was_observed")));
    CHECK(std::get<bool>(tr["a/y"].infer.at("k")));
  }
  const Trace recorded = tyche::trace(tyche::seed(model, 3)).get_trace();
  {
    tyche::trace tr;
    tyche::seed sd(0);
    tyche::lift l(dist::Normal(0.0, 1.0));
    tyche::replay rp(recorded);
    tyche::scale sc(2.0);
    tyche::mask m(false);
    model();
    CHECK(tr["p"].type == SiteType::sample);
    CHECK(tr["z"].value->item() == recorded["z"].value->item());
    CHECK(tr["z"].scale->item() == 2.0);
    CHECK(tr["y"].fn->log_prob(0.5).item() == 0.0);
  }
  {
    tyche::trace tr;
    tyche::seed sd(0);
    tyche::block b({.hide = {"p"}});
    tyche::do_ d({{"z", 5.0}});
    tyche::condition cd({{"y", 1.0}});
    model();
    CHECK(names(tr.get_trace()) == std::vector<std::string>{"z", "y"});
    CHECK(tr["y"].value->item() == 1.0);
    CHECK(tr["y"].fn->log_prob(5.0).item() == Approx(-0.5 * std::log(2.0 * M_PI)));  // y's loc is the intervened z
  }
  CHECK(tyche::detail::handler_stack().empty());
}

TEST_CASE("a model that throws leaves the handler stack as it was") {
  auto failing = [] {
    tyche::plate p("rows", 3);
    tyche::sample("z", dist::Normal(0.0, 1.0));
    throw std::runtime_error("model failed");
  };
  const auto wrapped = tyche::trace(tyche::scale(tyche::seed(failing, 0), 2.0));
  CHECK_THROWS_WITH(wrapped.get_trace(), "model failed");
  CHECK(tyche::detail::handler_stack().empty());
  {
    tyche::seed guard(0);
    CHECK_THROWS_WITH(tyche::condition(failing, {{"z", 1.0}})(), "model failed");
    REQUIRE(tyche::detail::handler_stack().size() == 1);
  }
  CHECK(tyche::detail::handler_stack().empty());
  CHECK_THROWS_WITH(tyche::trace(linear_model).get_trace(x_data()), Catch::Contains("needs a random key"));
  CHECK(tyche::detail::handler_stack().empty());
}

TEST_CASE("plate broadcasts distributions, records frames and allocates dims from the right") {
  auto model = [] {
    tyche::plate outer("outer", 3);
    tyche::plate inner("inner", 4);
    tyche::sample("a", dist::Normal(0.0, 1.0));
    tyche::sample("b", dist::Normal(Tensor::zeros({3}), 1.0));
  };
  // The outer plate takes dim -1, the inner one -2 (NumPyro's allocation).
  const Trace tr = tyche::trace(tyche::seed(model, 0)).get_trace();
  CHECK(tr["a"].value->shape() == tyche::Shape{4, 3});
  CHECK(tr["b"].fn->batch_shape() == tyche::Shape{4, 3});
  CHECK(tr["a"].cond_indep_stack == std::vector<tyche::CondIndepStackFrame>{{"inner", -2, 4}, {"outer", -1, 3}});
  CHECK(tr["inner"].cond_indep_stack == std::vector<tyche::CondIndepStackFrame>{{"outer", -1, 3}});

  auto explicit_dim = [] {
    tyche::plate p("p", 2, std::nullopt, -2);
    tyche::sample("c", dist::Normal(0.0, 1.0));
  };
  CHECK(tyche::trace(tyche::seed(explicit_dim, 0)).get_trace()["c"].value->shape() == tyche::Shape{2, 1});
  CHECK_THROWS_WITH(tyche::plate("bad", 3, std::nullopt, 0), Catch::Contains("dim must be negative"));
}

TEST_CASE("a subsampling plate returns indices and scales the log density by size / subsample_size") {
  std::vector<double> seen;
  auto model = [&] {
    tyche::plate("batch", 10, [&](const Tensor& idx) {
      seen = idx.to_std_vector();
      tyche::sample("x", dist::Normal(0.0, 1.0));
    }, 4);
  };
  const Trace tr = tyche::trace(tyche::seed(model, 0)).get_trace();
  REQUIRE(seen.size() == 4);
  std::vector<double> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::unique(sorted.begin(), sorted.end()) == sorted.end());
  CHECK((sorted.front() >= 0.0 && sorted.back() <= 9.0));
  CHECK(tr["x"].scale->item() == 2.5);
  CHECK(tr["x"].value->shape() == tyche::Shape{4});
  CHECK(tr["batch"].value->to_std_vector() == seen);
  // log_density applies the scale.
  const Tensor x{0.1, -0.2, 0.3, 0.4};
  const auto [lp, t] = tyche::log_density(tyche::seed(model, 0), std::tuple{}, {{"x", x}});
  CHECK(lp.item() == Approx(2.5 * tyche::sum(dist::Normal(0.0, 1.0).log_prob(x)).item()));
  CHECK_THROWS_WITH(tyche::trace(model).get_trace(), Catch::Contains("needs a random key"));
}

TEST_CASE("log_density sums scaled and masked log densities and factors") {
  auto model = [](const Tensor& y) {
    auto m = tyche::sample("m", dist::Normal(0.0, 2.0));
    tyche::mask(
        [&] { tyche::sample("y", dist::Normal(m, 1.0), y); }, Tensor{1.0, 1.0, 0.0})();
    tyche::factor("penalty", Tensor{-0.5, -0.25});
  };
  const Tensor y{0.5, 1.5, 100.0};
  const auto [lp, tr] = tyche::log_density(model, std::tuple{y}, {{"m", 1.0}});
  const double log_norm = -0.5 * std::log(2.0 * M_PI);
  const double expected = log_norm - std::log(2.0) - 0.5 * 0.25            // m ~ Normal(0, 2) at 1
                          + 2.0 * log_norm - 0.5 * (0.25 + 0.25)           // y[0], y[1]; y[2] masked
                          - 0.75;                                           // factor
  CHECK(lp.item() == Approx(expected).epsilon(1e-12));
  CHECK(tr["penalty"].is_observed);
  CHECK(std::get<bool>(tr["penalty"].infer.at("is_auxiliary")));
}

TEST_CASE("log_density gives gradients through the handlers") {
  auto model = [] {
    auto m = tyche::sample("m", dist::Normal(0.0, 2.0));
    tyche::sample("y", dist::Normal(m, 1.0), Tensor{0.5, 1.5});
  };
  const auto f = [&](const Tensor& q) { return tyche::log_density(model, std::tuple{}, {{"m", q[0]}}).log_joint; };
  const auto [value, grad] = tyche::value_and_grad(f, Eigen::VectorXd::Constant(1, 1.0));
  // d/dm [-m^2/8 - (0.5-m)^2/2 - (1.5-m)^2/2] at m = 1
  CHECK(grad[0] == Approx(-0.25 + (0.5 - 1.0) + (1.5 - 1.0)));
  CHECK(std::isfinite(value));
}

TEST_CASE("prng_key gives keys under seed") {
  std::optional<tyche::Key> a, b;
  tyche::seed([&] {
    a = tyche::prng_key();
    b = tyche::prng_key();
  }, 0)();
  REQUIRE((a && b));
  CHECK(*a == tyche::split(tyche::PRNGKey(0))[1]);
  CHECK(*a != *b);
}

TEST_CASE("reparam with TransformReparam samples the base and applies the transforms") {
  namespace tf = tyche::transforms;
  const dist::TransformedDistribution log_normal(
      dist::Normal(0.0, 1.0), {std::make_shared<tf::AffineTransform>(1.0, 2.0), std::make_shared<tf::ExpTransform>()});
  CHECK(log_normal.log_prob(3.0).item() == Approx(dist::LogNormal(1.0, 2.0).log_prob(3.0).item()).epsilon(1e-12));
  auto model = [&] {
    tyche::plate rows("rows", 3);
    tyche::sample("x", log_normal);
  };
  const auto reparametrised = tyche::reparam(model, {{"x", tyche::TransformReparam()}});
  const Trace tr = tyche::trace(tyche::seed(reparametrised, 0)).get_trace();
  CHECK(names(tr) == std::vector<std::string>{"rows", "x_base", "x"});
  CHECK(tr["x_base"].fn->batch_shape() == tyche::Shape{3});
  CHECK(tr["x"].type == SiteType::deterministic);
  CHECK(tr["x"].value->at({2}) == Approx(std::exp(1.0 + 2.0 * tr["x_base"].value->at({2}))));
  // Densities differ by the Jacobian: log |dx/dbase| = log 2 + log x per element.
  const Tensor base{0.1, -0.3, 0.7};
  const Tensor x = tyche::exp(1.0 + 2.0 * base);
  const double lp_base = tyche::log_density(reparametrised, std::tuple{}, {{"x_base", base}}).log_joint.item();
  const double lp_x = tyche::log_density(model, std::tuple{}, {{"x", x}}).log_joint.item();
  CHECK(lp_base == Approx(lp_x + tyche::sum(std::log(2.0) + tyche::log(x)).item()).epsilon(1e-12));
  CHECK_THROWS_WITH(tyche::trace(tyche::seed(tyche::reparam(linear_model, {{"slope", tyche::TransformReparam()}}), 0))
                        .get_trace(x_data()),
                    Catch::Contains("needs a TransformedDistribution"));
}

TEST_CASE("log_density applies an array scale elementwise before summing") {
  auto model = [] {
    tyche::plate rows("rows", 2);
    tyche::sample("x", dist::Normal(0.0, 1.0));
  };
  const Tensor x{0.5, -1.0};
  const auto [lp, tr] = tyche::log_density(tyche::scale(model, Tensor{1.0, 3.0}), std::tuple{}, {{"x", x}});
  const Tensor each = dist::Normal(0.0, 1.0).log_prob(x);
  CHECK(lp.item() == Approx(each.at({0}) + 3.0 * each.at({1})).epsilon(1e-12));
}
