// Two small generative stories from Robert Ness's Pyro lecture (seed 003),
// in tyche:
//
// 1. The weather and ice-cream model, run forward. A day is cloudy with
//    probability 0.3; its temperature is Normal(55, 10) when cloudy and
//    Normal(75, 15) when sunny; ice-cream sales are Normal(200, 10) on a sunny
//    day above 80 degrees and Normal(50, 10) otherwise. The model branches on
//    the values it draws, which is fine for forward sampling: Predictive runs
//    it as plain C++.
// 2. The scale model: weight ~ Normal(guess, 1), measurement ~ Normal(weight,
//    0.75). Conditioned on measurement = 14 with guess = 10, the posterior of
//    weight is known in closed form, and HMC (as the lecture runs it: step
//    size 0.9, 4 leapfrog steps, 50 warm-up steps adapting the step size,
//    1000 draws) and NUTS are compared with it.
//
// Run: cmake --build build --target weather_and_scale && ./build/examples/weather_and_scale
// ctest: --check
#include <tyche/tyche.hpp>

#include "example_options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

namespace dist = tyche::dist;
using tyche::Tensor;

namespace {

// The lecture's weather(): whether the day is cloudy and its temperature.
auto weather = [] {
  const bool cloudy = tyche::sample("cloudy", dist::Bernoulli({.probs = 0.3})).item() == 1.0;
  const double mean_temp = cloudy ? 55.0 : 75.0;
  const double scale_temp = cloudy ? 10.0 : 15.0;
  const double temp = tyche::sample("temp", dist::Normal(mean_temp, scale_temp)).item();
  return std::pair{std::string(cloudy ? "cloudy" : "sunny"), temp};
};

// The lecture's ice_cream_sales(): weather() reused as a sub-program.
auto ice_cream_sales = [] {
  const auto [cloudy, temp] = weather();
  const double expected_sales = cloudy == "sunny" && temp > 80.0 ? 200.0 : 50.0;
  return tyche::sample("ice_cream", dist::Normal(expected_sales, 10.0));
};

// The lecture's scale(guess).
auto scale = [](double guess) {
  auto weight = tyche::sample("weight", dist::Normal(guess, 1.0));
  return tyche::sample("measurement", dist::Normal(weight, 0.75));
};

// The posterior of weight given the measurement m, normal-normal conjugate:
// prior N(g, 1), likelihood N(m | weight, 0.75), so the posterior precision is
// 1/1^2 + 1/0.75^2 = 1 + 16/9 = 25/9 (sd 3/5 = 0.6) and the posterior mean is
// the precision-weighted average (1 * g + 16/9 * m) / (25/9) = (9 g + 16 m) / 25,
// 12.56 for g = 10, m = 14.
constexpr double kGuess = 10.0, kMeasurement = 14.0;
constexpr double kPosteriorMean = (9.0 * kGuess + 16.0 * kMeasurement) / 25.0;
constexpr double kPosteriorSd = 0.6;

double mean_of(const Tensor& values) { return tyche::mean(values).item(); }

// Mean, sd, n_eff and Monte Carlo standard error of weight's draws (grouped
// by chain), printed with the sampler's final step size, mean acceptance
// probability and the draws' lag-1 autocorrelation.
//
// HMC with a fixed trajectory of about half a period of this Gaussian
// posterior (4 steps of ~0.8 in the adapted metric: ~pi) lands near the
// mirror image of where it started, so successive draws are anti-correlated
// (lag-1 autocorrelation near -1). NumPyro's n_eff, which tyche's summary
// reproduces, then divides by 2 (rho_0 + rho_1) - 1 + ..., which is negative:
// the table shows a negative n_eff. Such draws are better than independent
// ones for the mean, so its error bar below uses n_eff = the number of draws
// when the estimate is negative or larger than that: a conservative MCSE.
void report_weight(const char* sampler, const tyche::ValueMap& samples, const tyche::ValueMap& extra,
                   tyche::examples::Checks* checks) {
  const Tensor& draws = samples.at("weight");  // (chain, draw)
  const tyche::SiteSummary s = tyche::summary({{"weight", draws}}).at("weight");
  const double mean = s.mean.item(), sd = s.std.item(), n_eff = s.n_eff.item();
  const double n = double(draws.size());
  const double n_eff_for_error = n_eff > 0 && n_eff <= n ? n_eff : n;
  const double mcse = sd / std::sqrt(n_eff_for_error);
  const double lag1 = tyche::mean(tyche::autocorrelation(draws, 1), 0).at({1});  // averaged over chains
  const Tensor& step_sizes = extra.at("step_size");
  std::printf("%s: final step size %.3f, acceptance rate %.3f, lag-1 autocorrelation %.3f\n", sampler,
              step_sizes.at({step_sizes.size() - 1}), mean_of(extra.at("accept_prob")), lag1);
  std::printf("%s: weight mean %.3f (MCSE %.3f), sd %.3f, n_eff %.0f; closed form %.2f, %.2f\n", sampler, mean,
              mcse, sd, n_eff, kPosteriorMean, kPosteriorSd);
  if (!checks) return;
  checks->near(std::string(sampler) + " weight mean", mean, kPosteriorMean, 4 * mcse, "4 MCSE");
  // The sd's standard error, about sd / sqrt(2 n) for n independent draws of
  // a normal, counts the effective size of the squared deviations, which
  // anti-correlated draws do not make larger than n (x and -x square alike).
  const double n_eff_squares = tyche::effective_sample_size(tyche::square(draws - mean)).item();
  const double sd_error = kPosteriorSd / std::sqrt(2 * std::clamp(n_eff_squares, 1.0, n));
  checks->near(std::string(sampler) + " weight sd", sd, kPosteriorSd, 4 * sd_error,
               "4 standard errors of a sd, 0.6 / sqrt(2 n_eff of the squared deviations)");
}

}  // namespace

int main(int argc, char** argv) {
  tyche::examples::Options options("weather_and_scale",
                                   "Seed 003: the weather / ice-cream model run forward, and the scale model "
                                   "conditioned on a measurement, sampled with HMC and NUTS.",
                                   {.seed = 0, .num_samples = 1000, .num_warmup = 50, .chains = 1});
  options.add("--forward-draws", "N", "draws of the weather model (default 10000)");
  if (!options.parse(argc, argv)) return options.exit_code();
  const int forward_draws = std::stoi(options.get("--forward-draws", "10000"));
  tyche::examples::Checks checks;
  tyche::examples::Checks* check = options.check ? &checks : nullptr;

  std::puts("== weather, three days");
  {
    tyche::seed guard(options.seed);
    for (int day = 0; day < 3; ++day) {
      const auto [sky, temp] = weather();
      std::printf("('%s', %.4f)\n", sky.c_str(), temp);
    }
  }

  std::printf("\n== ice_cream_sales, %d draws with Predictive\n", forward_draws);
  const tyche::ValueMap days = tyche::Predictive(ice_cream_sales, {.num_samples = forward_draws})(options.seed + 1);
  const double cloudy_fraction = mean_of(days.at("cloudy"));
  // Sales are high on a sunny day (0.7) above 80 degrees: P(Normal(75, 15) >
  // 80) = 1 - Phi(1/3); the mean sales are 50 + 150 q, and their variance
  // 150^2 q (1 - q) + 10^2.
  const double q = 0.7 * 0.5 * std::erfc((80.0 - 75.0) / 15.0 / std::sqrt(2.0));
  const double sales_mean = 50.0 + 150.0 * q, sales_sd = std::sqrt(150.0 * 150.0 * q * (1 - q) + 100.0);
  const double sales = mean_of(days.at("ice_cream"));
  std::printf("fraction of cloudy days %.4f (model: 0.3)\n", cloudy_fraction);
  std::printf("mean ice-cream sales %.2f (exact: 50 + 150 * 0.7 * P(temp > 80 | sunny) = %.2f)\n", sales, sales_mean);
  if (check) {
    checks.near("cloudy fraction", cloudy_fraction, 0.3, 4 * std::sqrt(0.3 * 0.7 / forward_draws),
                "binomial: 4 sqrt(p (1 - p) / n)");
    checks.near("mean sales", sales, sales_mean, 4 * sales_sd / std::sqrt(double(forward_draws)),
                "4 sd / sqrt(n), sd of the two-level mixture");
  }

  std::printf("\n== scale conditioned on measurement = %.0f, guess = %.0f\n", kMeasurement, kGuess);
  const auto conditioned_scale = tyche::condition(scale, {{"measurement", kMeasurement}});
  const tyche::MCMCOptions mcmc_options{
      .num_warmup = options.num_warmup, .num_samples = options.num_samples, .num_chains = options.chains};
  // Pyro's HMC(step_size=0.9, num_steps=4): a fixed number of leapfrog steps;
  // the step size is adapted during warm-up (Pyro's default, and tyche's).
  tyche::MCMC hmc(tyche::HMC(conditioned_scale, {.step_size = 0.9, .num_steps = 4}), mcmc_options);
  hmc.run(options.seed, kGuess);
  hmc.print_summary();
  report_weight("HMC", hmc.get_samples(/*group_by_chain=*/true), hmc.get_extra_fields(), check);
  std::puts("(the lecture's Pyro run ended at step size 1.11, acceptance rate 0.974)");

  std::puts("");
  tyche::MCMC nuts(tyche::NUTS(conditioned_scale), mcmc_options);
  nuts.run(options.seed, kGuess);
  nuts.print_summary();
  report_weight("NUTS", nuts.get_samples(/*group_by_chain=*/true), nuts.get_extra_fields(), check);
  return check ? checks.finish() : 0;
}
