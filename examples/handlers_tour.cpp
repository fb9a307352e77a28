// A tour of tyche's effect handlers, following NumPyro's tutorial "Effect
// Handlers in NumPyro: A Practical Guide" cell by cell on its Bayesian linear
// regression: seed and trace, condition and substitute, block, uncondition,
// lift, scope and replay, scale and mask, do, reparam, and the order of
// nested handlers. tyche's random keys and normal draws follow JAX's, so seed 0
// draws the numbers NumPyro draws with rng_seed=0: each section prints what
// the tutorial's cells print, in the same words, and says which cells it
// matches. Booleans print as Python's True and False, as in the tutorial.
// The MCMC runs of cells [22]-[33] (the e-mail campaign and eight schools)
// are whole programs of their own: examples/email_campaign.cpp and
// examples/eight_schools.cpp. The last section follows the posterior
// predictive recipe of cells [37]-[43]; its MCMC draws are tyche's own
// (NumPyro's sampler draws other random numbers), on the tutorial's data.
//
// --check compares every number and flag the tutorial prints with what this
// program computes: NumPyro's float32 values to a relative 1e-5 (float32
// keeps ~6e-8; erfinv amplifies rounding by at most ~100 this far in the
// tails), values the tutorial shows rounded to half a unit of their last
// digit, and the MCMC summary within 4 Monte Carlo standard errors of both
// runs (from each table's n_eff) plus the table's rounding.
//
// Run: cmake --build build --target handlers_tour && ./build/examples/handlers_tour
// ctest: --check --num-samples 500 --num-warmup 500
#include <tyche/tyche.hpp>

#include "example_options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace dist = tyche::dist;
using tyche::Tensor;
using tyche::Trace;

namespace {

// The tutorial's model (cell [3]).
auto linear_model = [](const Tensor& x) {
  auto intercept = tyche::sample("intercept", dist::Normal(0.0, 10.0));
  auto slope = tyche::sample("slope", dist::Normal(0.0, 5.0));
  auto sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  auto mu = tyche::deterministic("mu", intercept + slope * x);
  tyche::plate data("data", x.size());
  tyche::sample("obs", dist::Normal(mu, sigma));
};

using tyche::examples::Checks;

void section(const char* title, const char* matches) { std::printf("\n== %s\n-- %s\n", title, matches); }

const char* python_bool(bool b) { return b ? "True" : "False"; }

// A list of site names as Python prints one: ['a', 'b'].
std::string python_list(const Trace& tr) {
  std::string s = "[";
  for (const auto& name : tr.keys()) s += (s.size() > 1 ? ", '" : "'") + name + "'";
  return s + "]";
}

// The first three elements with `decimals` digits after the point.
std::string first_three(const Tensor& v, int decimals) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "[%.*f %.*f %.*f]", decimals, v.at({0}), decimals, v.at({1}), decimals, v.at({2}));
  return buf;
}

// A site's scale as NumPyro prints it: None when no handler set one.
std::string scale_of(const tyche::Message& site) {
  if (!site.scale) return "None";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", site.scale->item());
  return buf;
}

// NumPyro's float32 value, to float32's precision (see the top of the file).
void float32_value(Checks& checks, const std::string& what, double value, double numpyro) {
  checks.near(what, value, numpyro, 1e-5 * std::abs(numpyro), "NumPyro's float32 value, relative 1e-5");
}

// A value the tutorial prints with `decimals` digits after the point.
void shown_value(Checks& checks, const std::string& what, double value, double shown, int decimals) {
  checks.near(what, value, shown, 0.5 * std::pow(10.0, -decimals), "the tutorial's rounding");
}

void same_text(Checks& checks, const std::string& what, const std::string& value, const std::string& tutorial) {
  checks.that(what + " is " + tutorial + " (got " + value + ")", value == tutorial);
}

// One row of the tutorial's print_summary of cell [39]: mean and std agree
// within 4 Monte Carlo standard errors of the two runs plus the table's
// rounding to 0.005. The MCSE of a mean is sd / sqrt(n_eff), that of a
// standard deviation about sd / sqrt(2 n_eff).
void summary_row(Checks& checks, const tyche::Summary& table, const std::string& site, double mean, double sd,
                 double n_eff) {
  const tyche::SiteSummary& row = table.at(site);
  const double n_eff_here = row.n_eff.item();
  const double mean_error = sd * std::sqrt(1.0 / n_eff_here + 1.0 / n_eff);
  checks.near(site + " posterior mean", row.mean.item(), mean, 0.005 + 4.0 * mean_error,
              "4 MCSE of both runs + rounding");
  checks.near(site + " posterior sd", row.std.item(), sd, 0.005 + 4.0 * mean_error / std::sqrt(2.0),
              "4 MCSE of both runs + rounding");
}

int run(int argc, char** argv) {
  tyche::examples::Options options(
      "handlers_tour",
      "NumPyro's effect-handler tutorial, cell by cell, in tyche. --seed, --num-samples, --num-warmup and --chains\n"
      "set the MCMC run of the posterior predictive recipe; the other cells use the tutorial's own seeds.",
      {.seed = 1, .num_samples = 1000, .num_warmup = 1000, .chains = 4});
  if (!options.parse(argc, argv)) return options.exit_code();
  Checks checks(options.check);

  // Cell [2]: x = linspace(-2, 2, 50), y = 1 + 2 x + 0.5 eps, with eps drawn
  // from the second half of split(key(42)).
  std::vector<double> xs(50);
  for (int i = 0; i < 50; ++i) xs[std::size_t(i)] = -2.0 + 4.0 * i / 49.0;
  const Tensor x(xs);
  const Tensor y = 1.0 + 2.0 * x + 0.5 * tyche::random::normal(tyche::split(tyche::PRNGKey(42))[1], {50});

  section("seed and trace (cells [4]-[7])",
          "matches the tutorial's sampled values, its trace table, and the slope site's key and value "
          "(NumPyro prints -6.2873883 in float32)");
  {
    tyche::seed guard(0);
    const double guarded = tyche::sample("x", dist::Normal(0.0, 1.0)).item();
    std::printf("Sampled value: %.4f\n", guarded);
    float32_value(checks, "sampled value", guarded, -2.4424577);
  }
  const double wrapped = tyche::seed([] { return tyche::sample("x", dist::Normal(0.0, 1.0)); }, 0)().item();
  std::printf("Sampled value (wrapper): %.4f\n", wrapped);
  float32_value(checks, "sampled value (wrapper)", wrapped, -2.4424577);
  const Trace exec_trace = tyche::trace(tyche::seed(linear_model, 0)).get_trace(x);
  std::fputs(tyche::format_trace(exec_trace).c_str(), stdout);
  const auto& slope = exec_trace["slope"];
  std::printf("slope site: type %s, rng_key [%u %u], value %.7f, scale %s, is_observed %s\n",
              std::string(tyche::to_string(slope.type)).c_str(), slope.rng_key->hi, slope.rng_key->lo,
              slope.value->item(), scale_of(slope).c_str(), python_bool(slope.is_observed));
  same_text(checks, "the trace's sites", python_list(exec_trace),
            "['intercept', 'slope', 'sigma', 'mu', 'data', 'obs']");
  checks.that("the slope site's key is [1353695780 2116000888]",
              slope.rng_key->hi == 1353695780u && slope.rng_key->lo == 2116000888u);
  float32_value(checks, "slope value", slope.value->item(), -6.2873883);

  section("condition vs substitute (cells [8], [9])", "matches the tutorial's printed values and flags");
  const Trace conditioned = tyche::trace(tyche::seed(tyche::condition(linear_model, {{"slope", 3.0}}), 0)).get_trace(x);
  const Trace substituted = tyche::trace(tyche::seed(tyche::substitute(linear_model, {{"slope", 3.0}}), 0)).get_trace(x);
  for (const auto& [label, tr] : {std::pair{"condition", &conditioned}, std::pair{"substitute", &substituted}}) {
    std::printf("%s:\n", label);
    std::printf("  slope value: %.1f\n", (*tr)["slope"].value->item());
    std::printf("  slope is_observed: %s\n", python_bool((*tr)["slope"].is_observed));
  }
  checks.that("condition: slope 3.0, observed", conditioned["slope"].value->item() == 3.0 &&
                                                    conditioned["slope"].is_observed);
  checks.that("substitute: slope 3.0, not observed", substituted["slope"].value->item() == 3.0 &&
                                                         !substituted["slope"].is_observed);

  section("block: hide, expose, hide_fn (cells [10]-[12])", "matches the tutorial's site lists");
  const auto seeded = tyche::seed(linear_model, 0);
  const std::string blocked = python_list(tyche::trace(tyche::block(seeded, {.hide = {{"sigma"}}})).get_trace(x));
  std::printf("Sites in blocked trace: %s\n", blocked.c_str());
  const std::string exposed =
      python_list(tyche::trace(tyche::block(seeded, {.expose = {{"slope", "intercept"}}})).get_trace(x));
  std::printf("Sites in exposed trace: %s\n", exposed.c_str());
  const auto unobserved_sample = [](const tyche::Message& site) {
    return site.type == tyche::SiteType::sample && !site.is_observed;
  };
  const std::string hidden = python_list(tyche::trace(tyche::block(seeded, {.hide_fn = unobserved_sample})).get_trace(x));
  std::printf("Sites (hiding unobserved samples): %s\n", hidden.c_str());
  same_text(checks, "block(hide sigma)", blocked, "['intercept', 'slope', 'mu', 'data', 'obs']");
  same_text(checks, "block(expose slope, intercept)", exposed, "['intercept', 'slope']");
  same_text(checks, "block(hide_fn unobserved samples)", hidden, "['mu', 'data']");

  section("uncondition (cells [13], [14])",
          "matches the tutorial's flags, its data [-2.697118 -2.4372127 -3.127933] to the 6 decimals shown "
          "and its prior draws [-15.044792 -12.289793 -10.538498] (float32) to the 4 shown");
  const auto conditioned_linear_model = tyche::condition(linear_model, {{"obs", y}});
  const Trace obs_trace = tyche::trace(tyche::seed(conditioned_linear_model, 0)).get_trace(x);
  std::printf("obs is_observed: %s\n", python_bool(obs_trace["obs"].is_observed));
  std::printf("obs value[:3]: %s\n", first_three(*obs_trace["obs"].value, 6).c_str());
  std::printf("y_data[:3]: %s\n", first_three(y, 6).c_str());
  const Trace uncond_trace = tyche::trace(tyche::uncondition(tyche::seed(conditioned_linear_model, 0))).get_trace(x);
  std::printf("obs is_observed: %s\n", python_bool(uncond_trace["obs"].is_observed));
  std::printf("obs was_observed: %s\n", python_bool(std::get<bool>(uncond_trace["obs"].infer.at("was_observed"))));
  std::printf("obs value[:3]: %s (sampled, not y_data!)\n", first_three(*uncond_trace["obs"].value, 4).c_str());
  const Tensor& observed = *obs_trace["obs"].value;
  checks.that("conditioned obs is observed and is y_data",
              obs_trace["obs"].is_observed && observed.size() == y.size() &&
                  std::equal(observed.data(), observed.data() + observed.size(), y.data()));
  const double y_shown[] = {-2.697118, -2.4372127, -3.127933};
  const double prior_shown[] = {-15.044792, -12.289793, -10.538498};
  for (std::int64_t i = 0; i < 3; ++i) {
    float32_value(checks, "y_data[" + std::to_string(i) + "]", y.at({i}), y_shown[i]);
    float32_value(checks, "unconditioned obs[" + std::to_string(i) + "]", uncond_trace["obs"].value->at({i}),
                  prior_shown[i]);
  }
  checks.that("unconditioned obs: is_observed False, was_observed True",
              !uncond_trace["obs"].is_observed && std::get<bool>(uncond_trace["obs"].infer.at("was_observed")));

  section("lift (cell [15])", "matches the tutorial's site types and the lifted value");
  auto model_with_param = [](const Tensor& data) {
    auto s = tyche::param("s", 1.0, tyche::constraints::positive);
    auto loc = tyche::sample("loc", dist::Normal(0.0, s));
    tyche::sample("obs", dist::Normal(loc, 1.0), data);
  };
  const Trace param_trace = tyche::trace(tyche::seed(model_with_param, 0)).get_trace(Tensor::ones({5}));
  std::printf("Without lift: 's' type = %s\n", std::string(tyche::to_string(param_trace["s"].type)).c_str());
  const auto lifted_model = tyche::lift(model_with_param, {{"s", dist::Exponential(1.0).share()}});
  const Trace lifted_trace = tyche::trace(tyche::seed(lifted_model, 0)).get_trace(Tensor::ones({5}));
  std::printf("With lift: 's' type = %s\n", std::string(tyche::to_string(lifted_trace["s"].type)).c_str());
  std::printf("           's' value = %.4f\n", lifted_trace["s"].value->item());
  checks.that("lift turns the param s into a sample site",
              param_trace["s"].type == tyche::SiteType::param && lifted_trace["s"].type == tyche::SiteType::sample);
  shown_value(checks, "lifted s", lifted_trace["s"].value->item(), 0.0073, 4);

  section("scope and replay (cells [16], [17])", "matches the tutorial's site names and slopes");
  auto component = [] { return tyche::sample("z", dist::Normal(0.0, 1.0)); };
  auto composed_model = [&] {
    const Tensor z1 = tyche::scope(component, "first", "::")();
    const Tensor z2 = tyche::scope(component, "second", "/")();
    tyche::deterministic("diff", z1 - z2);
  };
  const std::string scoped = python_list(tyche::trace(tyche::seed(composed_model, 0)).get_trace());
  std::printf("Sites: %s\n", scoped.c_str());
  same_text(checks, "scoped sites", scoped, "['first::z', 'second/z', 'diff']");
  const Trace replayed_trace = tyche::trace(tyche::replay(tyche::seed(linear_model, 99), exec_trace)).get_trace(x);
  std::printf("Original slope: %.4f\n", exec_trace["slope"].value->item());
  std::printf("Replayed slope: %.4f\n", replayed_trace["slope"].value->item());
  if (replayed_trace["slope"].value->item() == exec_trace["slope"].value->item())
    std::puts("Values match despite different seed!");
  shown_value(checks, "replayed slope", replayed_trace["slope"].value->item(), -6.2874, 4);

  section("scale and mask (cells [18], [19])", "matches the tutorial's scales and distribution type");
  auto simple_obs_model = [] {
    auto z = tyche::sample("z", dist::Normal(0.0, 1.0));
    tyche::sample("obs", dist::Normal(z, 1.0), 0.5);
  };
  const Trace normal_trace = tyche::trace(tyche::seed(simple_obs_model, 0)).get_trace();
  std::printf("obs scale (no handler): %s\n", scale_of(normal_trace["obs"]).c_str());
  {
    tyche::trace scaled_trace;
    tyche::scale guard(10.0);
    tyche::seed(simple_obs_model, 0)();
    std::printf("obs scale (with handler): %s\n", scale_of(scaled_trace["obs"]).c_str());
    same_text(checks, "obs scale under scale(10)", scale_of(scaled_trace["obs"]), "10.0");
  }
  same_text(checks, "obs scale with no handler", scale_of(normal_trace["obs"]), "None");
  auto model_for_mask = [] {
    auto z = tyche::sample("z", dist::Normal(0.0, 1.0));
    tyche::sample("obs", dist::Normal(z, 1.0), Tensor{1.0, 2.0, 3.0});
  };
  const Trace masked_trace =
      tyche::trace(tyche::seed(tyche::mask(model_for_mask, Tensor{1.0, 0.0, 1.0}), 0)).get_trace();
  std::printf("obs fn type: %s\n", masked_trace["obs"].fn->name().c_str());
  same_text(checks, "masked obs fn type", masked_trace["obs"].fn->name(), "MaskedDistribution");
  // get_mask() inside a model: no mask in effect without the handler, the
  // mask itself under it; a model can skip work the mask would discard.
  auto model_asking_mask = [] {
    const std::optional<Tensor> in_effect = tyche::get_mask();
    std::string shown = "None";
    if (in_effect) {
      shown = "[";
      for (std::int64_t i = 0; i < in_effect->size(); ++i)
        shown += std::string(i ? " " : "") + python_bool(in_effect->at({i}) != 0.0);
      shown += "]";
    }
    std::printf("get_mask(): %s\n", shown.c_str());
    return shown;
  };
  same_text(checks, "get_mask() with no mask", tyche::seed(model_asking_mask, 0)(), "None");
  same_text(checks, "get_mask() under mask", tyche::seed(tyche::mask(model_asking_mask, Tensor{1.0, 0.0, 1.0}), 0)(),
            "[True False True]");

  section("do (cells [20], [21])", "matches the tutorial's values, sites and flags");
  auto causal_chain = [](double x0) {
    auto z = tyche::sample("z", dist::Normal(x0, 1.0));
    return tyche::sample("y", dist::Normal(z, 0.5));
  };
  const Trace natural_trace = tyche::trace(tyche::seed(causal_chain, 0)).get_trace(1.0);
  std::printf("Natural: z = %.3f, y = %.3f\n", natural_trace["z"].value->item(), natural_trace["y"].value->item());
  shown_value(checks, "natural z", natural_trace["z"].value->item(), -1.442, 3);
  shown_value(checks, "natural y", natural_trace["y"].value->item(), -2.071, 3);
  {
    tyche::trace int_trace;
    const double y_result = tyche::seed(tyche::do_(causal_chain, {{"z", 5.0}}), 0)(1.0).item();
    std::puts("After do(z=5.0):");
    std::printf("  Trace sites: %s\n", python_list(int_trace.get_trace()).c_str());
    std::printf("  'z' in trace (fresh sample, unused downstream): value=%.3f, is_observed=%s\n",
                int_trace["z"].value->item(), python_bool(int_trace["z"].is_observed));
    std::printf("  Returned y: %.3f (downstream used the intervened z=5.0)\n", y_result);
    same_text(checks, "sites under do", python_list(int_trace.get_trace()), "['z', 'y']");
    shown_value(checks, "z under do (a fresh draw)", int_trace["z"].value->item(), -1.442, 3);
    checks.that("z under do is not observed", !int_trace["z"].is_observed);
    shown_value(checks, "y under do(z=5)", y_result, 4.371, 3);
  }

  section("reparam: LocScaleReparam(centered=0) on eight schools (cell [34])", "matches the tutorial's table");
  auto eight_schools = [](const Tensor& sigma, std::optional<Tensor> y_schools) {
    auto mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
    auto tau = tyche::sample("tau", dist::HalfCauchy(5.0));
    tyche::plate schools("J", sigma.size());
    auto theta = tyche::sample("theta", dist::Normal(mu, tau));
    tyche::sample("obs", dist::Normal(theta, sigma), std::move(y_schools));
  };
  const Tensor sigma_schools{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  const auto reparam_eight_schools = tyche::reparam(eight_schools, {{"theta", tyche::LocScaleReparam(0.0)}});
  const Trace reparam_trace =
      tyche::trace(tyche::seed(reparam_eight_schools, 0)).get_trace(sigma_schools, std::nullopt);
  std::printf("%20s | %15s | %s\n%s\n", "Site", "Type", "Shape", std::string(55, '-').c_str());
  std::string rows;
  for (const tyche::Message& site : reparam_trace) {
    const std::string type(tyche::to_string(site.type));
    std::printf("%20s | %15s | %s\n", site.name.c_str(), type.c_str(), site.value->shape().str().c_str());
    rows += (rows.empty() ? "" : ", ") + site.name + " " + type + " " + site.value->shape().str();
  }
  same_text(checks, "the reparameterised trace", rows,
            "mu sample (), tau sample (), J plate (8,), theta_decentered sample (8,), theta deterministic (8,), "
            "obs sample (8,)");

  section("nesting order (cells [35], [36])", "matches the tutorial's values and flags");
  const Trace trace1 = tyche::trace(tyche::condition(tyche::substitute(seeded, {{"slope", 10.0}}), {{"slope", 3.0}}))
                           .get_trace(x);
  std::printf("condition(substitute(...)): slope=%.1f, is_observed=%s\n", trace1["slope"].value->item(),
              python_bool(trace1["slope"].is_observed));
  const Trace trace2 = tyche::trace(tyche::substitute(tyche::condition(seeded, {{"slope", 3.0}}), {{"slope", 10.0}}))
                           .get_trace(x);
  std::printf("substitute(condition(...)): slope=%.1f, is_observed=%s\n", trace2["slope"].value->item(),
              python_bool(trace2["slope"].is_observed));
  checks.that("condition(substitute(...)): slope 3.0, observed",
              trace1["slope"].value->item() == 3.0 && trace1["slope"].is_observed);
  checks.that("substitute(condition(...)): slope 10.0, observed",
              trace2["slope"].value->item() == 10.0 && trace2["slope"].is_observed);
  {
    tyche::trace tr;  // the first guard is the outermost handler, as the outer `with` is
    tyche::condition guard({{"slope", 2.5}});
    seeded(x);
    std::printf("Context manager style: slope = %.1f\n", tr["slope"].value->item());
    checks.that("guards: slope 2.5", tr["slope"].value->item() == 2.5);
  }

  section("posterior predictive with handlers (cells [37], [39], [40], [42], [43])",
          "matches the tutorial's shapes; the MCMC summary, the draw and the log-likelihood sum are tyche's own");
  const Trace prior_trace = tyche::trace(tyche::seed(linear_model, 1)).get_trace(x);
  std::printf("Prior predictive sample shape: %s\n", prior_trace["obs"].value->shape().str().c_str());
  same_text(checks, "prior predictive shape", prior_trace["obs"].value->shape().str(), "(50,)");
  tyche::MCMC mcmc_linear(tyche::NUTS(conditioned_linear_model), {.num_warmup = options.num_warmup,
                                                                   .num_samples = options.num_samples,
                                                                   .num_chains = options.chains,
                                                                   .progress_bar = false});
  mcmc_linear.run(options.seed, x);
  mcmc_linear.print_summary();
  // The tutorial's table, on the same data.
  const tyche::Summary table = tyche::summary(mcmc_linear.get_samples(/*group_by_chain=*/true));
  summary_row(checks, table, "intercept", 0.91, 0.06, 3982.28);
  summary_row(checks, table, "sigma", 0.45, 0.05, 3744.90);
  summary_row(checks, table, "slope", 2.02, 0.05, 3469.39);
  const tyche::ValueMap posterior_samples_linear = mcmc_linear.get_samples();
  // One posterior draw substituted into the model: one posterior predictive sample.
  tyche::ValueMap one_sample;
  for (const auto& [name, draws] : posterior_samples_linear) one_sample[name] = draws[0];
  const Trace post_pred_trace = tyche::trace(tyche::seed(tyche::substitute(linear_model, one_sample), 2)).get_trace(x);
  std::printf("Posterior predictive sample shape: %s\n", post_pred_trace["obs"].value->shape().str().c_str());
  same_text(checks, "posterior predictive shape", post_pred_trace["obs"].value->shape().str(), "(50,)");
  // The pointwise log-likelihood of that draw: the observed site's log density.
  const Trace ll_trace =
      tyche::trace(tyche::seed(tyche::substitute(conditioned_linear_model, one_sample), 3)).get_trace(x);
  const Tensor ll = ll_trace["obs"].fn->log_prob(*ll_trace["obs"].value);
  std::printf("Log-likelihood shape: %s, sum: %.2f\n", ll.shape().str().c_str(), tyche::sum(ll).item());
  same_text(checks, "log-likelihood shape", ll.shape().str(), "(50,)");
  // Predictive does the same for every draw.
  const tyche::ValueMap pred_samples = tyche::Predictive(linear_model, posterior_samples_linear)(/*seed=*/4, x);
  const Tensor& predicted = pred_samples.at("obs");
  const double last_x = x.at({49});
  std::printf("Predictive: obs of shape %s (draws, points); mean at x = %.2f: %.3f (the fitted line gives %.3f)\n",
              predicted.shape().str().c_str(), last_x, tyche::mean(tyche::slice(predicted, 1, 49, 50)).item(),
              tyche::mean(posterior_samples_linear.at("intercept") + posterior_samples_linear.at("slope") * last_x).item());
  const std::int64_t draws = std::int64_t(options.chains) * options.num_samples;
  checks.that("Predictive draws obs for every posterior draw",
              predicted.shape() == tyche::Shape{draws, 50});
  return options.check ? checks.finish() : 0;
}

}  // namespace

int main(int argc, char** argv) { return tyche::examples::main_reporting_errors("handlers_tour", run, argc, argv); }
