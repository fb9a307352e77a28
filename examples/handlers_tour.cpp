// A tour of tyche's effect handlers on a Bayesian linear regression: seed and
// trace, condition and substitute, block, uncondition, lift, scope, replay,
// scale, mask, do and reparam, composed as in NumPyro. tyche's random keys
// follow JAX's, so seed 0 draws the numbers NumPyro draws with rng_seed=0.
//
// Run: cmake --build build --target handlers_tour && ./build/examples/handlers_tour
#include <tyche/tyche.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace dist = tyche::dist;
using tyche::Tensor;
using tyche::Trace;

namespace {

auto linear_model = [](const Tensor& x) {
  auto intercept = tyche::sample("intercept", dist::Normal(0.0, 10.0));
  auto slope = tyche::sample("slope", dist::Normal(0.0, 5.0));
  auto sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  auto mu = tyche::deterministic("mu", intercept + slope * x);
  tyche::plate data("data", x.size());
  tyche::sample("obs", dist::Normal(mu, sigma));
};

std::string keys(const Trace& tr) {
  std::string s = "[";
  for (const auto& name : tr.keys()) s += (s.size() > 1 ? ", '" : "'") + name + "'";
  return s + "]";
}

std::string head(const Tensor& v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "[%.6g %.6g %.6g]", v.at({0}), v.at({1}), v.at({2}));
  return buf;
}

}  // namespace

int main() {
  std::vector<double> xs(50);
  for (int i = 0; i < 50; ++i) xs[std::size_t(i)] = -2.0 + 4.0 * i / 49.0;
  const Tensor x(xs);
  const Tensor y = 1.0 + 2.0 * x + 0.5 * tyche::random::normal(tyche::split(tyche::PRNGKey(42))[1], {50});

  std::puts("== seed and trace");
  {
    tyche::seed guard(0);
    std::printf("sampled value: %.4f\n", tyche::sample("x", dist::Normal(0.0, 1.0)).item());
  }
  const Trace tr = tyche::trace(tyche::seed(linear_model, 0)).get_trace(x);
  std::fputs(tyche::format_trace(tr).c_str(), stdout);
  const auto& slope = tr["slope"];
  std::printf("slope: key [%u %u], value %.7f\n", slope.rng_key->hi, slope.rng_key->lo, slope.value->item());

  std::puts("\n== condition vs substitute");
  const Trace conditioned = tyche::trace(tyche::seed(tyche::condition(linear_model, {{"slope", 3.0}}), 0)).get_trace(x);
  const Trace substituted = tyche::trace(tyche::seed(tyche::substitute(linear_model, {{"slope", 3.0}}), 0)).get_trace(x);
  std::printf("condition:  slope %.1f, is_observed %d\n", conditioned["slope"].value->item(),
              conditioned["slope"].is_observed);
  std::printf("substitute: slope %.1f, is_observed %d\n", substituted["slope"].value->item(),
              substituted["slope"].is_observed);

  std::puts("\n== block");
  const auto seeded = tyche::seed(linear_model, 0);
  std::printf("hide sigma:             %s\n", keys(tyche::trace(tyche::block(seeded, {.hide = {{"sigma"}}})).get_trace(x)).c_str());
  std::printf("expose slope/intercept: %s\n",
              keys(tyche::trace(tyche::block(seeded, {.expose = {{"slope", "intercept"}}})).get_trace(x)).c_str());

  std::puts("\n== uncondition");
  const auto observed = tyche::condition(linear_model, {{"obs", y}});
  const Trace prior = tyche::trace(tyche::uncondition(tyche::seed(observed, 0))).get_trace(x);
  std::printf("y[:3] %s; unconditioned obs[:3] %s (sampled), was_observed %d\n", head(y).c_str(),
              head(*prior["obs"].value).c_str(), std::get<bool>(prior["obs"].infer.at("was_observed")));

  std::puts("\n== lift");
  auto model_with_param = [](const Tensor& data) {
    auto s = tyche::param("s", 1.0, tyche::constraints::positive);
    auto loc = tyche::sample("loc", dist::Normal(0.0, s));
    tyche::sample("obs", dist::Normal(loc, 1.0), data);
  };
  const Trace lifted =
      tyche::trace(tyche::seed(tyche::lift(model_with_param, {{"s", dist::Exponential(1.0).share()}}), 0))
          .get_trace(Tensor::ones({5}));
  std::printf("'s' is a %s site with value %.4f\n", std::string(tyche::to_string(lifted["s"].type)).c_str(),
              lifted["s"].value->item());

  std::puts("\n== scope and replay");
  auto component = [] { return tyche::sample("z", dist::Normal(0.0, 1.0)); };
  auto composed = [&] {
    const Tensor z1 = tyche::scope(component, "first", "::")();
    const Tensor z2 = tyche::scope(component, "second")();
    tyche::deterministic("diff", z1 - z2);
  };
  std::printf("sites: %s\n", keys(tyche::trace(tyche::seed(composed, 0)).get_trace()).c_str());
  const Trace replayed = tyche::trace(tyche::replay(tyche::seed(linear_model, 99), tr)).get_trace(x);
  std::printf("replayed slope under seed 99: %.4f\n", replayed["slope"].value->item());

  std::puts("\n== do");
  auto causal_chain = [](double x0) {
    auto z = tyche::sample("z", dist::Normal(x0, 1.0));
    return tyche::sample("y", dist::Normal(z, 0.5));
  };
  const Trace natural = tyche::trace(tyche::seed(causal_chain, 0)).get_trace(1.0);
  std::printf("natural:  z = %.3f, y = %.3f\n", natural["z"].value->item(), natural["y"].value->item());
  tyche::trace recorder;
  const double y_do = tyche::seed(tyche::do_(causal_chain, {{"z", 5.0}}), 0)(1.0).item();
  std::printf("do(z=5):  sites %s, z in trace %.3f (unused), returned y %.3f\n", keys(recorder.get_trace()).c_str(),
              recorder["z"].value->item(), y_do);
  return 0;
}
