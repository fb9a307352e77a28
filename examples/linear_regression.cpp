// Bayesian linear regression, the model of seed 001 (NumPyro's handler
// tutorial), taken through a whole analysis: the synthetic data, the model's
// trace, the prior predictive, NUTS on 4 chains and its summary, the
// posterior predictive, the pointwise log-likelihood, WAIC and PSIS-LOO.
//
//   ./build/examples/linear_regression                    # the analysis
//   ./build/examples/linear_regression --check            # also test it against the exact posterior
//   ./build/examples/linear_regression --graph model.dot  # also the model's graph (and model.svg with Graphviz)
//
// The data: x = linspace(-2, 2, 50), y = 1 + 2 x + 0.5 eps, eps ~ Normal(0, 1)
// drawn from the second half of split(PRNGKey(42)), as the tutorial draws
// them: tyche's keys are JAX's, so these are the tutorial's data.
//
// The exact posterior used by --check: given sigma, (intercept, slope) has
// normal priors and a linear-Gaussian likelihood, so its posterior is normal
// and p(y | sigma) is closed form; what is left is a one-dimensional
// integral over sigma, done numerically below.
//
// ctest: --check
#include "example_options.hpp"
#include "example_support.hpp"

#include <tyche/infer/inspect.hpp>
#include <tyche/infer/model_comparison.hpp>
#include <tyche/tyche.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dist = tyche::dist;
using tyche::Tensor;

namespace {

using namespace tyche::examples;

constexpr double kTrueIntercept = 1.0, kTrueSlope = 2.0, kTrueSigma = 0.5;
constexpr double kInterceptPriorSd = 10.0, kSlopePriorSd = 5.0;  // the model's priors, used by the exact posterior
constexpr int kPoints = 50;

// The tutorial's model (cell [3]); `obs` is observed through condition.
auto linear_model = [](const Tensor& x) {
  auto intercept = tyche::sample("intercept", dist::Normal(0.0, kInterceptPriorSd));
  auto slope = tyche::sample("slope", dist::Normal(0.0, kSlopePriorSd));
  auto sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  auto mu = tyche::deterministic("mu", intercept + slope * x);
  tyche::plate data("data", x.size());
  tyche::sample("obs", dist::Normal(mu, sigma));
};

// The q-quantile of a list (linear interpolation between order statistics,
// NumPy's default).
double quantile(std::vector<double> x, double q) {
  std::sort(x.begin(), x.end());
  const double position = q * double(x.size() - 1);
  const std::size_t below = std::size_t(position);
  const double fraction = position - double(below);
  return below + 1 < x.size() ? x[below] + fraction * (x[below + 1] - x[below]) : x[below];
}

struct ExactPosterior {
  double intercept_mean, intercept_sd, slope_mean, slope_sd, sigma_mean, sigma_sd;
};

// With beta = (intercept, slope), design rows (1, x_i) and prior precision
// D = diag(1/100, 1/25): given sigma, the posterior precision is
// L = X'X / sigma^2 + D, the mean m = L^-1 X'y / sigma^2, and
// log p(y | sigma) = -n log sigma - log|L| / 2 + (m' L m - y'y / sigma^2) / 2 + const.
// Times the HalfNormal(1) prior exp(-sigma^2 / 2), this is integrated by the
// midpoint rule over sigma in (0, 3] (the posterior sits near 0.5 with sd
// about 0.05; beyond 3 the likelihood is below e^-80 of its peak).
ExactPosterior exact_posterior(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sxx = 0, sy = 0, sxy = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sx += x[i], sxx += x[i] * x[i], sy += y[i], sxy += x[i] * y[i], syy += y[i] * y[i];
  }
  const double n = double(x.size());
  constexpr int kCells = 30000;
  const double width = 3.0 / kCells;
  std::vector<double> log_weights(kCells);
  struct Conditional {
    double a_mean, a_var, b_mean, b_var, sigma;
  };
  std::vector<Conditional> conditionals(kCells);
  for (int c = 0; c < kCells; ++c) {
    const double sigma = (c + 0.5) * width, s2 = sigma * sigma;
    const double l11 = n / s2 + 1.0 / (kInterceptPriorSd * kInterceptPriorSd), l12 = sx / s2,
                 l22 = sxx / s2 + 1.0 / (kSlopePriorSd * kSlopePriorSd);
    const double det = l11 * l22 - l12 * l12;
    const double b1 = sy / s2, b2 = sxy / s2;
    const double m1 = (l22 * b1 - l12 * b2) / det, m2 = (l11 * b2 - l12 * b1) / det;
    const double quadratic = m1 * b1 + m2 * b2;  // m' L m = m' b
    log_weights[std::size_t(c)] = -n * std::log(sigma) - 0.5 * std::log(det) + 0.5 * (quadratic - syy / s2) - 0.5 * s2;
    conditionals[std::size_t(c)] = {m1, l22 / det, m2, l11 / det, sigma};
  }
  const double top = *std::max_element(log_weights.begin(), log_weights.end());
  double total = 0, a1 = 0, a2 = 0, b1 = 0, b2 = 0, s1 = 0, s2 = 0;
  for (int c = 0; c < kCells; ++c) {
    const double w = std::exp(log_weights[std::size_t(c)] - top);
    const Conditional& k = conditionals[std::size_t(c)];
    total += w;
    a1 += w * k.a_mean, a2 += w * (k.a_var + k.a_mean * k.a_mean);
    b1 += w * k.b_mean, b2 += w * (k.b_var + k.b_mean * k.b_mean);
    s1 += w * k.sigma, s2 += w * k.sigma * k.sigma;
  }
  a1 /= total, a2 /= total, b1 /= total, b2 /= total, s1 /= total, s2 /= total;
  return {a1, std::sqrt(a2 - a1 * a1), b1, std::sqrt(b2 - b1 * b1), s1, std::sqrt(s2 - s1 * s1)};
}

double normal_log_density(double value, double mean, double sd) {
  const double z = (value - mean) / sd;
  return -0.5 * z * z - std::log(sd) - 0.5 * std::log(2.0 * std::numbers::pi);
}

// The program; an exception (a file that cannot be written, say) ends it in main.
int run(int argc, char** argv) {
  tyche::examples::Options options("linear_regression",
                                   "Bayesian linear regression (seed 001's model): trace, prior predictive, NUTS, "
                                   "posterior predictive, pointwise log-likelihood, WAIC and PSIS-LOO.",
                                   {.seed = 0, .num_samples = 1000, .num_warmup = 1000, .chains = 4});
  options.add("--graph", "FILE", "write the model's graph as Graphviz DOT to FILE (and FILE as .svg when dot is installed)");
  if (!options.parse(argc, argv)) return options.exit_code();
  // What --check compares, collected as the analysis goes.
  struct Comparison {
    std::string what;
    double value, expected, tolerance;
    std::string why;
  };
  std::vector<Comparison> comparisons;
  std::vector<std::pair<std::string, bool>> assertions;

  std::vector<double> xs(kPoints);
  for (int i = 0; i < kPoints; ++i) xs[std::size_t(i)] = -2.0 + 4.0 * i / (kPoints - 1);
  const Tensor x(xs);
  const Tensor y = kTrueIntercept + kTrueSlope * x +
                   kTrueSigma * tyche::random::normal(tyche::split(tyche::PRNGKey(42))[1], {kPoints});
  const std::vector<double> ys = flat(y);
  std::printf("== Data: %d points, y = %g + %g x + %g eps (eps from split(PRNGKey(42))[1], as the tutorial)\n",
              kPoints, kTrueIntercept, kTrueSlope, kTrueSigma);
  std::printf("x[:3] = [%.4f %.4f %.4f], y[:3] = [%.6f %.6f %.6f]\n", xs[0], xs[1], xs[2], ys[0], ys[1], ys[2]);

  std::printf("\n== The model's trace (seed 0)\n");
  std::fputs(tyche::format_trace(tyche::trace(tyche::seed(linear_model, 0)).get_trace(x)).c_str(), stdout);
  const auto conditioned_model = tyche::condition(linear_model, {{"obs", y}});
  if (options.has("--graph") &&
      !write_graph(options.get("--graph"),
                   tyche::render_model(conditioned_model, x, tyche::RenderOptions{.render_distributions = true}),
                   "linear_regression"))
    return 1;

  std::printf("\n== Prior predictive: Predictive(linear_model, {.num_samples = 500})\n");
  constexpr int kPriorDraws = 500;
  const tyche::ValueMap prior = tyche::Predictive(linear_model, {.num_samples = kPriorDraws})(options.seed, x);
  for (const auto& [name, draws] : prior) std::printf("%-10s %s\n", name.c_str(), draws.shape().str().c_str());
  std::printf("first draws:");
  for (int d = 0; d < 3; ++d)
    std::printf("  (intercept %.2f, slope %.2f, sigma %.2f)", prior.at("intercept").data()[d],
                prior.at("slope").data()[d], prior.at("sigma").data()[d]);
  std::printf("\n");
  // Under the prior, obs at x has mean 0 and variance 10^2 + 5^2 x^2 + E[sigma^2] = 101 + 25 x^2.
  std::printf("%8s %12s %12s %14s\n", "x", "obs mean", "obs sd", "exact sd");
  for (int i : {0, kPoints / 2, kPoints - 1}) {
    std::vector<double> at_x(kPriorDraws);
    for (int d = 0; d < kPriorDraws; ++d) at_x[std::size_t(d)] = prior.at("obs").data()[d * kPoints + i];
    const double exact_sd = std::sqrt(101.0 + 25.0 * xs[std::size_t(i)] * xs[std::size_t(i)]);
    std::printf("%8.2f %12.2f %12.2f %14.2f\n", xs[std::size_t(i)], mean_of(at_x), sd_of(at_x), exact_sd);
    // Independent draws: an sd's standard error is about sd / sqrt(2 n)
    // (the draws are nearly normal).
    char label[64];
    std::snprintf(label, sizeof label, "prior predictive sd of obs at x = %.2f", xs[std::size_t(i)]);
    comparisons.push_back({label, sd_of(at_x),
                           exact_sd, 4.0 * exact_sd / std::sqrt(2.0 * kPriorDraws),
                           "4 standard errors of an sd from 500 draws"});
  }

  std::printf("\n== NUTS on condition(linear_model, {{\"obs\", y}}), %d chains x (%d warm-up + %d draws), seed %llu\n",
              options.chains, options.num_warmup, options.num_samples, static_cast<unsigned long long>(options.seed));
  tyche::MCMC mcmc(tyche::NUTS(conditioned_model),
                   {.num_warmup = options.num_warmup, .num_samples = options.num_samples, .num_chains = options.chains});
  mcmc.run(options.seed, x);
  mcmc.print_summary();
  const tyche::ValueMap by_chain = mcmc.get_samples(/*group_by_chain=*/true);
  const tyche::ValueMap samples = mcmc.get_samples();

  const ExactPosterior exact = exact_posterior(xs, ys);
  std::printf("The posterior against the true values and the exact posterior (integrated over sigma, see the top):\n");
  std::printf("%-10s %8s %8s %8s %16s %11s %10s\n", "", "mean", "std", "true", "(true-mean)/std", "exact mean",
              "exact std");
  const struct {
    const char* name;
    double truth, exact_mean, exact_sd;
  } parameters[] = {{"intercept", kTrueIntercept, exact.intercept_mean, exact.intercept_sd},
                    {"slope", kTrueSlope, exact.slope_mean, exact.slope_sd},
                    {"sigma", kTrueSigma, exact.sigma_mean, exact.sigma_sd}};
  for (const auto& p : parameters) {
    const Estimate mean = posterior_mean(by_chain.at(p.name)), sd = posterior_sd(by_chain.at(p.name));
    const double z = (p.truth - mean.value) / sd.value;
    std::printf("%-10s %8.3f %8.3f %8.3f %16.2f %11.3f %10.3f\n", p.name, mean.value, sd.value, p.truth, z,
                p.exact_mean, p.exact_sd);
    assertions.emplace_back(std::string(p.name) + " covers its true value within 3 posterior sds", std::abs(z) <= 3.0);
    comparisons.push_back({std::string(p.name) + " posterior mean", mean.value, p.exact_mean, 4.0 * mean.mcse,
                           "4 MCSE, MCSE = sd / sqrt(n_eff)"});
    comparisons.push_back({std::string(p.name) + " posterior sd", sd.value, p.exact_sd, 4.0 * sd.mcse,
                           "4 MCSE, delta method on the variance's MCSE"});
  }

  std::printf("\n== Posterior predictive: Predictive(linear_model, mcmc.get_samples())\n");
  const tyche::ValueMap predictions = tyche::Predictive(linear_model, samples)(options.seed + 1, x);
  const Tensor& predicted = predictions.at("obs");
  const std::int64_t draws = predicted.dim(0);
  std::printf("obs: %s (a replicated data set per posterior draw)\n", predicted.shape().str().c_str());
  std::printf("%8s %10s %14s %10s %10s\n", "x", "y", "mean predicted", "5%", "95%");
  int inside = 0;
  for (int i = 0; i < kPoints; ++i) {
    std::vector<double> at_x(static_cast<std::size_t>(draws));
    for (std::int64_t d = 0; d < draws; ++d) at_x[std::size_t(d)] = predicted.data()[d * kPoints + i];
    const double lower = quantile(at_x, 0.05), upper = quantile(at_x, 0.95);
    inside += ys[std::size_t(i)] >= lower && ys[std::size_t(i)] <= upper;
    if (i % 12 == 0 || i == kPoints - 1)
      std::printf("%8.3f %10.3f %14.3f %10.3f %10.3f\n", xs[std::size_t(i)], ys[std::size_t(i)], mean_of(at_x), lower,
                  upper);
  }
  std::printf("%d of %d data points lie in their 90%% posterior predictive interval\n", inside, kPoints);

  std::printf("\n== Pointwise log-likelihood: log_likelihood(conditioned_model, mcmc.get_samples(), x)\n");
  const tyche::ValueMap loglik = tyche::log_likelihood(conditioned_model, samples, x);
  const Tensor& pointwise = loglik.at("obs");
  std::printf("obs: %s (draw, data point)\n", pointwise.shape().str().c_str());
  double total = 0.0;
  for (std::int64_t k = 0; k < pointwise.size(); ++k) total += pointwise.data()[k];
  std::printf("mean over draws of the total log-likelihood: %.3f\n", total / double(draws));
  // Draw 0's pointwise values against the normal density written out here.
  double largest_error = 0.0;
  const double intercept0 = samples.at("intercept").data()[0], slope0 = samples.at("slope").data()[0],
               sigma0 = samples.at("sigma").data()[0];
  for (int i = 0; i < kPoints; ++i)
    largest_error = std::max(largest_error, std::abs(pointwise.data()[i] -
                                                     normal_log_density(ys[std::size_t(i)],
                                                                        intercept0 + slope0 * xs[std::size_t(i)], sigma0)));
  std::printf("draw 0 against the normal density written out: largest difference %.3g\n", largest_error);
  comparisons.push_back({"log_likelihood at draw 0 minus the normal density by hand (largest)", largest_error, 0.0,
                         1e-12, "rounding"});

  std::printf("\n== WAIC and PSIS-LOO of the pointwise log-likelihood (ArviZ's conventions)\n");
  const tyche::WaicResult waic = tyche::waic(loglik);
  std::cout << "tyche::waic(loglik):\n" << waic << "\n";
  const tyche::LooResult loo = tyche::loo(loglik, {.num_chains = options.chains});
  std::cout << "tyche::loo(loglik, {.num_chains = " << options.chains << "}):\n" << loo << "\n";
  if (waic.warning) {
    const double* p_i = waic.p_i.data();
    const std::int64_t worst = std::max_element(p_i, p_i + waic.p_i.size()) - p_i;
    const double* k = loo.pareto_k.data();
    const auto high_k = std::count_if(k, k + loo.pareto_k.size(), [&](double v) { return v > loo.good_k; });
    std::printf("WAIC's warning: some point's p_i, the variance of its log-likelihood over the draws, exceeds 0.4\n"
                "(the largest, %.2f, at x = %.2f, y = %.2f). PSIS-LOO checks itself point by point instead: %lld of\n"
                "its %lld k-hats exceed %.2f.\n",
                p_i[worst], xs[std::size_t(worst)], ys[std::size_t(worst)], static_cast<long long>(high_k),
                static_cast<long long>(loo.pareto_k.size()), loo.good_k);
  }
  // WAIC written out: per point, lppd_i = log mean_s exp(l_si) and
  // p_i = Var_s(l_si) with ddof 0; elpd_waic = sum (lppd_i - p_i).
  double elpd_waic = 0.0;
  for (int i = 0; i < kPoints; ++i) {
    std::vector<double> column(static_cast<std::size_t>(draws));
    for (std::int64_t d = 0; d < draws; ++d) column[std::size_t(d)] = pointwise.data()[d * kPoints + i];
    const double top = *std::max_element(column.begin(), column.end());
    double sum_exp = 0.0, variance = 0.0;
    const double mean = mean_of(column);
    for (double l : column) sum_exp += std::exp(l - top), variance += (l - mean) * (l - mean);
    elpd_waic += top + std::log(sum_exp / double(draws)) - variance / double(draws);
  }
  comparisons.push_back({"elpd_waic against the formula written out", waic.elpd_waic, elpd_waic,
                         1e-9 * std::abs(elpd_waic), "rounding"});

  if (!options.check) return 0;
  std::printf("\n== Checks\n");
  tyche::examples::Checks checks;
  for (const auto& [what, ok] : assertions) checks.that(what, ok);
  for (const Comparison& c : comparisons) checks.near(c.what, c.value, c.expected, c.tolerance, c.why);
  return checks.finish();
}

}  // namespace

int main(int argc, char** argv) { return tyche::examples::main_reporting_errors("linear_regression", run, argc, argv); }
