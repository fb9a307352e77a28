// Handlers and primitives as NumPyro 0.17+ defines them (numpyro/handlers.py,
// numpyro/primitives.py): block lets prng_key through and keys the sites it
// hides, plates check their sizes and subsample params and data, obs_mask,
// handlers written by users, and every handler's natural spelling.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using tyche::Message;
using tyche::SiteType;
using tyche::Tensor;
using tyche::Trace;
namespace dist = tyche::dist;

using Values = std::map<std::string, Tensor>;

std::set<std::string> site_names(const Trace& tr) {
  const auto keys = tr.keys();
  return {keys.begin(), keys.end()};
}

std::vector<double> elements(const Tensor& t) { return {t.data(), t.data() + t.size()}; }

double normal_log_pdf(double x, double loc, double scale) {
  const double z = (x - loc) / scale;
  return -0.5 * z * z - std::log(scale) - 0.5 * std::log(2.0 * M_PI);
}

// NumPyro's test_block_seed model, with its control-flow branch written as a
// plain branch (tyche has no cond primitive).
Values block_seed_model() {
  Values out;
  out["x"] = tyche::sample("x", dist::Normal(0.0, 1.0));
  out["y"] = tyche::sample("y", dist::Normal(out["x"], 1.0));
  {
    tyche::plate n("n", 10, 7);
    out["idx"] = n.indices();
    out["z"] = tyche::sample("z", dist::Normal(out["y"], 1.0));
  }
  out["cluster"] = tyche::sample("cluster", dist::Normal(0.0, 1.0));
  const bool positive = out["cluster"].item() > 0.0;
  out["a"] = tyche::sample("a", dist::Normal(positive ? 4.0 : 0.0, 1.0));
  out["b"] = tyche::deterministic("b", positive ? out["a"] - 2.0 : out["a"]);
  return out;
}

// The user-written handler of runtime.hpp's top comment: counts the draws.
template <class Fn = tyche::NoModel>
class count_draws : public tyche::Handler<Fn> {
 public:
  explicit count_draws(Fn fn) : tyche::Handler<Fn>(std::move(fn)) {}
  count_draws()
    requires tyche::IsGuard<Fn>
  = default;
  void process_message(Message& msg) override {
    if (msg.type == SiteType::sample && !msg.value) ++count;
  }
  mutable int count = 0;

 private:
  void reset() const override { count = 0; }
};
template <class Fn>
count_draws(Fn) -> count_draws<Fn>;

}  // namespace

TEST_CASE("seed(block(model)) and block(seed(model)) draw the same values (NumPyro's test_block_seed)") {
  struct Config {
    tyche::BlockOptions options;
    std::set<std::string> expected;
  };
  const std::vector<Config> configs = {
      {{.hide = {"y"}}, {"x", "z", "n", "cluster", "a", "b"}},
      {{.expose_types = {SiteType::prng_key}}, {}},
      {{.hide = {"n"}}, {"x", "y", "z", "cluster", "a", "b"}},
      {{.hide = {"cluster", "b"}}, {"x", "y", "z", "n", "a"}},
      {{.expose = {"x", "z"}}, {"x", "z"}},
  };
  const Values unblocked = tyche::seed(block_seed_model, 17)();
  for (const Config& config : configs) {
    Values blocked_seeded, seeded_blocked;
    {
      tyche::trace recorder;
      blocked_seeded = tyche::block(tyche::seed(block_seed_model, 17), config.options)();
      CHECK(site_names(recorder.get_trace()) == config.expected);
    }
    {
      tyche::trace recorder;
      seeded_blocked = tyche::seed(tyche::block(block_seed_model, config.options), 17)();
      CHECK(site_names(recorder.get_trace()) == config.expected);
    }
    // Hiding a site changes no draw: both orders give the unblocked values.
    for (const auto& [name, value] : unblocked) {
      INFO("site " << name);
      CHECK(elements(blocked_seeded.at(name)) == elements(value));
      CHECK(elements(seeded_blocked.at(name)) == elements(value));
    }
  }
}

TEST_CASE("block never hides prng_key messages") {
  std::optional<tyche::Key> unblocked, blocked;
  {
    tyche::seed s(5);
    unblocked = tyche::prng_key();
  }
  {
    tyche::seed s(5);
    tyche::block hide_all;
    blocked = tyche::prng_key();
  }
  REQUIRE(blocked.has_value());
  CHECK(*blocked == *unblocked);
}

TEST_CASE("a hidden subsampling plate and a hidden latent site take keys from the seed outside the block") {
  auto model = [] {
    tyche::plate batch("batch", 10, 4);
    return std::pair{batch.indices(), tyche::sample("z", dist::Normal(0.0, 1.0))};
  };
  const auto [indices, z] = tyche::seed(model, 3)();
  const auto [hidden_indices, hidden_z] = tyche::seed(tyche::block(model), 3)();
  CHECK(elements(hidden_indices) == elements(indices));
  CHECK(elements(hidden_z) == elements(z));
}

TEST_CASE("uncondition inside a block gets its key from the seed outside") {
  auto model = [] { return tyche::sample("obs", dist::Normal(0.0, 1.0), Tensor(7.0)); };
  const double unblocked = tyche::seed(tyche::uncondition(model), 2)().item();
  const double blocked = tyche::seed(tyche::block(tyche::uncondition(model)), 2)().item();
  CHECK(blocked != 7.0);
  CHECK(blocked == unblocked);
}

TEST_CASE("block's list options: an empty hide list hides nothing (NumPyro's empty hide list), double braces still list names") {
  auto model = [] {
    tyche::sample("slope", dist::Normal(0.0, 1.0));
    tyche::sample("intercept", dist::Normal(0.0, 1.0));
    tyche::sample("sigma", dist::HalfNormal(1.0));
  };
  const auto seeded = tyche::seed(model, 0);
  using Names = std::set<std::string>;
  CHECK(site_names(tyche::trace(tyche::block(seeded, {.hide = {}})).get_trace()) == Names{"slope", "intercept", "sigma"});
  CHECK(site_names(tyche::trace(tyche::block(seeded, {.expose = {}})).get_trace()).empty());
  CHECK(site_names(tyche::trace(tyche::block(seeded, {.expose = {{"slope", "intercept"}}})).get_trace()) ==
        Names{"slope", "intercept"});
  CHECK(site_names(tyche::trace(tyche::block(seeded, {.hide = {{"sigma"}}})).get_trace()) == Names{"slope", "intercept"});
  const std::vector<std::string> from_a_variable{"sigma", "slope"};
  CHECK(site_names(tyche::trace(tyche::block(seeded, {.hide = from_a_variable})).get_trace()) == Names{"intercept"});
  // hide wins over expose, as NumPyro's precedence says.
  CHECK(site_names(tyche::trace(tyche::block(seeded, {.hide = {"sigma"}, .expose = {"sigma"}})).get_trace()) ==
        Names{"slope", "intercept"});
}

TEST_CASE("a plate's size must be positive (NumPyro asserts size > 0)") {
  CHECK_THROWS_WITH(tyche::plate("empty", 0), Catch::Contains("plate `empty`") && Catch::Contains("size must be positive, got 0"));
  CHECK_THROWS_WITH(tyche::plate("negative", -2), Catch::Contains("size must be positive, got -2"));
}

TEST_CASE("subsample indices from substitute or replay must have the subsample size and lie in the plate") {
  auto model = [] {
    tyche::plate batch("batch", 10, 3);
    return batch.indices();
  };
  CHECK(elements(tyche::seed(tyche::substitute(model, {{"batch", Tensor{4.0, 0.0, 9.0}}}), 0)()) ==
        std::vector<double>{4.0, 0.0, 9.0});
  CHECK_THROWS_WITH(tyche::seed(tyche::substitute(model, {{"batch", Tensor{1.0, 2.0}}}), 0)(),
                    Catch::Contains("plate `batch` of size 10") && Catch::Contains("subsample_size is 3") &&
                        Catch::Contains("have length 2"));
  auto bigger = [] { tyche::plate batch("batch", 10, 5); };
  const Trace recorded = tyche::trace(tyche::seed(bigger, 0)).get_trace();
  CHECK_THROWS_WITH(tyche::seed(tyche::replay(model, recorded), 0)(), Catch::Contains("have length 5"));
  CHECK_THROWS_WITH(tyche::seed(tyche::substitute(model, {{"batch", Tensor{1.0, 10.0, 2.0}}}), 0)(),
                    Catch::Contains("subsample index 10") && Catch::Contains("[0, 10)"));
  CHECK_THROWS_WITH(tyche::seed(tyche::substitute(model, {{"batch", Tensor{1.0, 2.5, 2.0}}}), 0)(),
                    Catch::Contains("not an integer"));
  CHECK_THROWS_WITH(tyche::seed(tyche::substitute(model, {{"batch", Tensor::zeros({3, 1})}}), 0)(),
                    Catch::Contains("must be a vector, got shape (3, 1)"));
  // Without a subsample_size, any indices of the plate go (NumPyro too).
  auto whole = [] {
    tyche::plate rows("rows", 4);
    return rows.subsample_size();
  };
  CHECK(tyche::substitute(whole, {{"rows", Tensor{2.0, 3.0}}})() == 2);
}

TEST_CASE("a subsample of size 0 leaves the scale alone (NumPyro: size / subsample_size only when nonzero)") {
  auto model = [] {
    tyche::plate none("none", 5, 0);
    tyche::sample("z", dist::Normal(0.0, 1.0));
  };
  const Trace tr = tyche::trace(tyche::seed(model, 0)).get_trace();
  CHECK(tr["z"].value->shape() == tyche::Shape{0});
  CHECK_FALSE(tr["z"].scale.has_value());
}

TEST_CASE("a handler written by a user works wrapping a model and as a guard") {
  auto model = [] {
    tyche::sample("a", dist::Normal(0.0, 1.0));
    tyche::sample("b", dist::Normal(0.0, 1.0), Tensor(0.5));  // observed: not a draw
    tyche::sample("c", dist::Normal(0.0, 1.0));
  };
  const auto counted = count_draws(tyche::seed(model, 0));
  counted();
  CHECK(counted.count == 2);
  counted();  // reset() runs before each call
  CHECK(counted.count == 2);
  {
    count_draws guard;
    tyche::seed(model, 0)();
    tyche::seed(model, 1)();
    CHECK(guard.count == 4);
  }
  CHECK(tyche::detail::handler_stack().empty());
}

TEST_CASE("sample with obs_mask: observed, imputed and interleaved sites as NumPyro's _masked_observe") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor y{0.5, nan, -1.0}, seen{1.0, 0.0, 1.0};
  auto model = [&] {
    auto loc = tyche::sample("loc", dist::Normal(0.0, 1.0));
    tyche::plate data("data", 3);
    return tyche::sample("y", dist::Normal(loc, 1.0), y, {.obs_mask = seen});
  };
  const Trace tr = tyche::trace(tyche::seed(model, 0)).get_trace();
  CHECK(tr.keys() == std::vector<std::string>{"loc", "data", "y_observed", "y_unobserved", "y"});
  CHECK(tr["y_observed"].is_observed);
  CHECK_FALSE(tr["y_unobserved"].is_observed);
  CHECK(tr["y"].type == SiteType::deterministic);
  const std::vector<double> imputed = elements(*tr["y_unobserved"].value);
  CHECK(elements(*tr["y"].value) == std::vector<double>{0.5, imputed[1], -1.0});

  // The log joint counts y's observed elements once and the imputed one once;
  // the NaN the mask leaves out contributes nothing, to the value or the gradient.
  const double loc = 0.3, missing = 2.0;
  auto log_joint = [&](const Tensor& q) {
    return tyche::log_density(model, std::tuple{}, {{"loc", q.reshape(tyche::Shape{})}, {"y_unobserved", Tensor{9.0, missing, 9.0}}})
        .log_joint;
  };
  Eigen::VectorXd q(1);
  q << loc;
  const auto [value, gradient] = tyche::value_and_grad(log_joint, q);
  CHECK(value == Approx(normal_log_pdf(loc, 0.0, 1.0) + normal_log_pdf(0.5, loc, 1.0) + normal_log_pdf(-1.0, loc, 1.0) +
                        normal_log_pdf(missing, loc, 1.0)));
  CHECK(gradient[0] == Approx(-loc + (0.5 - loc) + (-1.0 - loc) + (missing - loc)));
}

TEST_CASE("a masked distribution draws its whole batch shape, the base's broadcast with the mask (as NumPyro's)") {
  const auto key = tyche::PRNGKey(8);
  const Tensor draws = dist::Normal(0.0, 1.0).mask(Tensor{1.0, 0.0, 1.0}).sample(key, {2});
  CHECK(draws.shape() == tyche::Shape{2, 3});
  CHECK(elements(draws) == elements(dist::Normal(0.0, 1.0).expand({3}).sample(key, {2})));
}

TEST_CASE("obs_mask masks whole events of a multivariate site, and rejects what it cannot mean") {
  const Tensor obs = Tensor{1.0, 2.0, 3.0, 4.0, 5.0, 6.0}.reshape({3, 2});
  auto model = [&](const Tensor& seen, tyche::Shape sample_shape) {
    return tyche::sample("y", dist::Normal(Tensor::zeros({3, 2}), 1.0).to_event(1), obs,
                         {.sample_shape = sample_shape, .obs_mask = seen});
  };
  const Trace tr = tyche::trace(tyche::seed(model, 0)).get_trace(Tensor{0.0, 1.0, 1.0}, tyche::Shape{});
  const std::vector<double> imputed = elements(*tr["y_unobserved"].value);
  CHECK(elements(*tr["y"].value) == std::vector<double>{imputed[0], imputed[1], 3.0, 4.0, 5.0, 6.0});
  CHECK_THROWS_WITH(tyche::seed(model, 0)(Tensor{0.0, 0.5, 1.0}, tyche::Shape{}),
                    Catch::Contains("site `y`") && Catch::Contains("obs_mask must be 0 or 1"));
  CHECK_THROWS_WITH(tyche::seed(model, 0)(Tensor{0.0, 1.0, 1.0}, tyche::Shape{2}),
                    Catch::Contains("site `y`") && Catch::Contains("sample_shape"));
}

TEST_CASE("subsample(data, event_dim) takes the enclosing plates' indices along their dims") {
  const Tensor x = Tensor::arange(10).reshape({5, 2});
  auto model = [&](int event_dim, std::optional<int> dim) {
    tyche::plate batch("batch", 5, 3, dim);
    return std::pair{batch.indices(), tyche::subsample(x, event_dim)};
  };
  {
    const auto [indices, rows] = tyche::seed(model, 4)(1, std::nullopt);
    CHECK(elements(rows) == elements(tyche::take(x, indices)));
    CHECK(rows.shape() == tyche::Shape{3, 2});
  }
  {
    const auto [indices, rows] = tyche::seed(model, 4)(0, -2);
    CHECK(elements(rows) == elements(tyche::take(x, indices)));
  }
  // Axis -1 of x has size 2, not the plate's 5.
  CHECK_THROWS_WITH(tyche::seed(model, 4)(0, std::nullopt),
                    Catch::Contains("subsample(data) with event_dim 0 in plate `batch` of size 5") &&
                        Catch::Contains("shape (5, 2)"));
  CHECK(elements(tyche::subsample(x, 1)) == elements(x));  // no plate: the data itself
  auto full = [&] {
    tyche::plate rows("rows", 5);
    return tyche::subsample(x, 1);
  };
  CHECK(elements(tyche::trace(full)()) == elements(x));
  CHECK_THROWS_WITH(tyche::subsample(x, -1), Catch::Contains("event_dim must be >= 0"));
}

TEST_CASE("param with event_dim inside a subsampling plate is subsampled, a trace outside keeps the whole value") {
  const Tensor init = Tensor::arange(5) * 10.0;
  Tensor indices, local;
  auto model = [&] {
    tyche::plate batch("batch", 5, 2);
    indices = batch.indices();
    local = tyche::param("local", init, {.constraint = tyche::constraints::real, .event_dim = 0});
    return tyche::param("global", init);  // no event_dim: not subsampled
  };
  tyche::trace recorder;
  const Tensor global = tyche::seed(model, 1)();
  CHECK(elements(local) == elements(tyche::take(init, indices)));
  CHECK(elements(global) == elements(init));
  CHECK(recorder["local"].value->shape() == tyche::Shape{5});  // NumPyro's trace copies the message first

  // The gradient flows to the subsampled elements of the whole param.
  auto f = [&](const Tensor& q) {
    auto run = [&] {
      tyche::plate batch("batch", 5, 2);
      return tyche::sum(tyche::param("local", q, {.event_dim = 0}));
    };
    return tyche::seed(run, 1)();
  };
  const Eigen::VectorXd g = tyche::value_and_grad(f, Eigen::VectorXd::Zero(5)).grad;
  Eigen::VectorXd expected = Eigen::VectorXd::Zero(5);
  for (double i : elements(indices)) expected[Eigen::Index(i)] = 1.0;
  CHECK(g.isApprox(expected));

  auto wrong = [] {
    tyche::plate batch("batch", 5, 2);
    tyche::param("w", Tensor::zeros({3, 4}), {.event_dim = 1});
  };
  CHECK_THROWS_WITH(tyche::seed(wrong, 0)(),
                    Catch::Contains("param `w` with event_dim 1 in plate `batch` of size 5") &&
                        Catch::Contains("shape (3, 4)"));
  CHECK_THROWS_WITH(tyche::param("w", Tensor(0.0), {.event_dim = -1}), Catch::Contains("event_dim must be >= 0"));
}

TEST_CASE("every handler's natural spelling compiles and works, wrapping a model and as a guard") {
  auto model = [] {
    const Tensor s = tyche::param("s", Tensor(1.0));
    const Tensor z = tyche::sample("z", dist::Normal(0.0, s));
    return tyche::sample("sigma", dist::Normal(z, 1.0));
  };
  const auto seeded = tyche::seed(model, 0);
  using Names = std::vector<std::string>;

  CHECK(tyche::trace(tyche::block(seeded, {.hide = {"sigma"}})).get_trace().keys() == Names{"s", "z"});
  CHECK(tyche::trace(tyche::block(seeded, {.expose = {"s", "z"}})).get_trace().keys() == Names{"s", "z"});
  CHECK(tyche::trace(tyche::block(seeded, {.expose_types = {SiteType::param}})).get_trace().keys() == Names{"s"});
  CHECK(tyche::trace(tyche::block(seeded, {.hide_fn = [](const Message& m) { return m.name == "z"; }}))
            .get_trace()
            .keys() == Names{"s", "sigma"});
  CHECK(tyche::trace(tyche::block(seeded)).get_trace().empty());
  {
    tyche::trace recorder;
    tyche::block guard({.hide = {"sigma"}});
    seeded();
    CHECK(recorder.get_trace().keys() == Names{"s", "z"});
  }
  {
    tyche::trace recorder;
    tyche::block guard;
    seeded();
    CHECK(recorder.get_trace().empty());
  }

  CHECK(tyche::trace(tyche::condition(seeded, {{"z", 2.0}})).get_trace()["z"].is_observed);
  CHECK(tyche::condition(seeded, [](const Message& m) -> std::optional<Tensor> {
          return m.name == "sigma" ? std::optional<Tensor>(3.0) : std::nullopt;
        })().item() == 3.0);
  CHECK(tyche::substitute(seeded, {{"sigma", 4.0}})().item() == 4.0);
  CHECK(tyche::trace(tyche::do_(seeded, {{"z", 5.0}})).get_trace().keys() == Names{"s", "z", "sigma"});
  CHECK(tyche::trace(tyche::reparam(seeded, {{"z", tyche::LocScaleReparam(0.0)}})).get_trace().contains("z_decentered"));
  CHECK(tyche::trace(tyche::seed(tyche::lift(model, {{"s", dist::Exponential(1.0)}}), 0)).get_trace()["s"].type == SiteType::sample);
  CHECK(tyche::trace(tyche::seed(tyche::lift(model, {{"s", dist::Exponential(1.0).share()}}), 0)).get_trace()["s"].type == SiteType::sample);
  CHECK(tyche::trace(tyche::seed(tyche::lift(model, dist::Exponential(1.0)), 0)).get_trace()["s"].type == SiteType::sample);
  CHECK(tyche::trace(tyche::scope(seeded, "inner")).get_trace().contains("inner/z"));
  CHECK(tyche::trace(tyche::scope(seeded, "inner", "::")).get_trace().contains("inner::z"));
  CHECK(tyche::seed(model, 0)().item() == tyche::seed(model, tyche::PRNGKey(0))().item());
  CHECK(tyche::trace(tyche::mask(seeded, false)).get_trace()["z"].fn->log_prob(0.0).item() == 0.0);
  CHECK(tyche::trace(tyche::mask(seeded, Tensor(0.0))).get_trace()["z"].fn->log_prob(0.0).item() == 0.0);
  CHECK(tyche::trace(tyche::scale(seeded, 10.0)).get_trace()["z"].scale->item() == 10.0);
  CHECK(std::get<bool>(tyche::trace(tyche::infer_config(seeded, [](const Message&) { return tyche::Infer{{"k", true}}; }))
                           .get_trace()["z"]
                           .infer.at("k")));
  const Trace recorded = tyche::trace(seeded).get_trace();
  CHECK(tyche::replay(tyche::seed(model, 9), recorded)().item() == recorded["sigma"].value->item());
  const auto observed = tyche::condition(seeded, {{"sigma", 1.5}});
  CHECK_FALSE(tyche::trace(tyche::uncondition(observed)).get_trace()["sigma"].is_observed);

  // The same as guards.
  tyche::trace recorder;
  {
    tyche::seed guard(0);
    tyche::scope prefix("outer");  // outside the others, so that they see the plain names
    tyche::uncondition unobserve;  // outside condition, so that it sees sigma observed
    tyche::condition observe({{"sigma", 1.5}});
    tyche::substitute fix({{"z", 0.25}});
    tyche::lift prior({{"s", dist::Exponential(1.0)}});
    tyche::do_ intervene({{"other", 5.0}});
    tyche::reparam decentre({{"other", tyche::LocScaleReparam(0.0)}});
    tyche::mask keep(true);
    tyche::scale upweight(2.0);
    tyche::infer_config configure([](const Message&) { return tyche::Infer{{"k", true}}; });
    tyche::replay again(Trace{});
    model();
  }
  const Trace& tr = recorder.get_trace();
  CHECK(tr.keys() == Names{"outer/s", "outer/z", "outer/sigma"});
  CHECK(tr["outer/s"].type == SiteType::sample);
  CHECK(tr["outer/z"].value->item() == 0.25);
  CHECK(std::get<bool>(tr["outer/sigma"].infer.at("was_observed")));
  CHECK(tr["outer/sigma"].scale->item() == 2.0);
}
