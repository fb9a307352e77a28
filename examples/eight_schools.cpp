// Eight schools (Rubin 1981; Gelman et al., Bayesian Data Analysis, sec. 5.5)
// sampled with NUTS twice, as seed 001's reparam section does: the centred
// model, whose funnel makes NUTS diverge, then the same model non-centred by
// `reparam` with LocScaleReparam(0). Each run is 4 chains of 1000 warm-up and
// 1000 kept draws, target_accept_prob 0.9, chains in parallel; each prints
// NumPyro's summary table and its divergences, and a last table sets the two
// side by side with the exact posterior of mu and tau (by quadrature, below).
//
//   ./build/examples/eight_schools                      # both runs, well under a second
//   ./build/examples/eight_schools --check              # also test mu and tau against the exact posterior
//   ./build/examples/eight_schools --output fit         # also fit/centered/output_1.csv ... (CmdStan's layout)
//   ./build/examples/eight_schools --graph model.dot    # also the two models' graphs (Graphviz DOT, and SVG)
//
// The exact posterior: integrating theta out, y_j | mu, tau ~ Normal(mu,
// sqrt(sigma_j^2 + tau^2)); mu then integrates out in closed form (a normal
// prior and normal likelihoods), leaving a one-dimensional integral over tau
// that the check does numerically. That is what --check compares the
// non-centred run with, within 4 Monte Carlo standard errors.
//
// ctest: --check
#include "example_options.hpp"
#include "example_support.hpp"

#include <tyche/infer/cmdstan_csv.hpp>
#include <tyche/infer/inspect.hpp>
#include <tyche/tyche.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

namespace dist = tyche::dist;
using tyche::Tensor;

namespace {

using namespace tyche::examples;

// Each school's estimated coaching effect and its standard error.
const std::vector<double> kEffects = {28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
const std::vector<double> kStandardErrors = {15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};

// The seed's model: theta_j ~ Normal(mu, tau), y_j ~ Normal(theta_j, sigma_j).
auto eight_schools = [](int J, const Tensor& sigma, const std::optional<Tensor>& y) {
  auto mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
  auto tau = tyche::sample("tau", dist::HalfCauchy(5.0));
  tyche::plate schools("J", J);
  auto theta = tyche::sample("theta", dist::Normal(mu, tau));
  tyche::sample("obs", dist::Normal(theta, sigma), y);
};

// The exact posterior moments of mu and tau.
struct ExactPosterior {
  double mu_mean, mu_sd, tau_mean, tau_sd;
};

// Given tau, the prior mu ~ Normal(0, 5) acts as one more observation 0 with
// variance 25, and the likelihoods y_j ~ Normal(mu, V_j), V_j = sigma_j^2 +
// tau^2, combine with it by precision: mu | tau, y ~ Normal(m, 1 / P) with
// P = sum 1 / V_j and m = sum (y_j / V_j) / P (the prior's term included), and
// p(y | tau) = (2 pi)^(-J/2) prod V_j^(-1/2) P^(-1/2) exp(-(sum y_j^2 / V_j - P m^2) / 2).
// The substitution tau = 5 tan(phi) turns the HalfCauchy(5) prior into the
// uniform density on (0, pi/2), so p(phi | y) is proportional to p(y | tau(phi)),
// which vanishes like tau^-8 at pi/2: the midpoint rule on 20000 cells gets
// the moments to about 1e-8.
ExactPosterior exact_posterior() {
  constexpr int kCells = 20000;
  const double width = std::numbers::pi / 2.0 / kCells;
  double total = 0.0, mu1 = 0.0, mu2 = 0.0, tau1 = 0.0, tau2 = 0.0;
  std::vector<double> log_weights(kCells), means(kCells), variances(kCells), taus(kCells);
  for (int c = 0; c < kCells; ++c) {
    const double tau = 5.0 * std::tan((c + 0.5) * width);
    double precision = 1.0 / 25.0, weighted = 0.0, squares = 0.0, log_det = std::log(25.0);
    for (std::size_t j = 0; j < kEffects.size(); ++j) {
      const double v = kStandardErrors[j] * kStandardErrors[j] + tau * tau;
      precision += 1.0 / v;
      weighted += kEffects[j] / v;
      squares += kEffects[j] * kEffects[j] / v;
      log_det += std::log(v);
    }
    const double m = weighted / precision;
    log_weights[std::size_t(c)] = -0.5 * (log_det + std::log(precision) + squares - precision * m * m);
    means[std::size_t(c)] = m;
    variances[std::size_t(c)] = 1.0 / precision;
    taus[std::size_t(c)] = tau;
  }
  const double top = *std::max_element(log_weights.begin(), log_weights.end());
  for (int c = 0; c < kCells; ++c) {
    const std::size_t i = std::size_t(c);
    const double w = std::exp(log_weights[i] - top);
    total += w;
    mu1 += w * means[i];
    mu2 += w * (variances[i] + means[i] * means[i]);
    tau1 += w * taus[i];
    tau2 += w * taus[i] * taus[i];
  }
  mu1 /= total, mu2 /= total, tau1 /= total, tau2 /= total;
  return {mu1, std::sqrt(mu2 - mu1 * mu1), tau1, std::sqrt(tau2 - tau1 * tau1)};
}

// What the comparison table shows of a run.
struct RunResult {
  tyche::ValueMap samples;  // (chain, draw, ...)
  long long divergences = 0;
  long long draws = 0;
  double seconds = 0.0;
};

// Runs NUTS on the model and prints its summary; with --output, writes the
// chains as CmdStan CSVs to <output>/<subdirectory>.
template <class Model>
RunResult run_nuts(const Model& model, const tyche::examples::Options& options, const Tensor& sigma, const Tensor& y,
                   const char* subdirectory) {
  tyche::MCMC mcmc(tyche::NUTS(model, {.target_accept_prob = 0.9}),
                   {.num_warmup = options.num_warmup,
                    .num_samples = options.num_samples,
                    .num_chains = options.chains,
                    .chain_method = tyche::ChainMethod::parallel});
  const auto start = std::chrono::steady_clock::now();
  mcmc.run(options.seed, int(kEffects.size()), sigma, std::optional(y));
  RunResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  mcmc.print_summary(0.9, /*exclude_deterministic=*/false);
  result.samples = mcmc.get_samples(/*group_by_chain=*/true);
  const Tensor diverging = mcmc.get_extra_fields()["diverging"];
  result.divergences = static_cast<long long>(tyche::sum(diverging).item());
  result.draws = diverging.size();
  if (options.has("--output")) {
    const std::filesystem::path dir = std::filesystem::path(options.get("--output")) / subdirectory;
    const auto paths = tyche::write_cmdstan_csv(dir, mcmc, {.model_name = std::string("eight_schools_") + subdirectory});
    std::printf("wrote %zu CmdStan CSV files: %s ... %s\n", paths.size(), paths.front().string().c_str(),
                paths.back().string().c_str());
  }
  return result;
}

// The smallest n_eff over every element of every site.
double min_n_eff(const tyche::ValueMap& samples) {
  double smallest = std::numeric_limits<double>::infinity();
  for (const auto& [name, site] : tyche::summary(samples))
    for (std::int64_t e = 0; e < site.n_eff.size(); ++e) smallest = std::min(smallest, site.n_eff.data()[e]);
  return smallest;
}

// The program; an exception (a file that cannot be written, say) ends it in main.
int run(int argc, char** argv) {
  tyche::examples::Options options(
      "eight_schools",
      "Eight schools with NUTS, centred and then non-centred by reparam (seed 001), side by side with the exact "
      "posterior of mu and tau.",
      {.seed = 0, .num_samples = 1000, .num_warmup = 1000, .chains = 4});
  options.add("--output", "DIR", "write each run's chains as CmdStan CSVs to DIR/centered and DIR/noncentered");
  options.add("--graph", "FILE",
              "write the centred model's graph as Graphviz DOT to FILE and the non-centred one's to FILE with "
              "_noncentered before its extension (and each as .svg when dot is installed)");
  if (!options.parse(argc, argv)) return options.exit_code();

  const Tensor y(kEffects), sigma(kStandardErrors);
  const auto noncentred_model = tyche::reparam(eight_schools, {{"theta", tyche::LocScaleReparam(0.0)}});
  if (options.has("--graph")) {
    const std::filesystem::path centred_path = options.get("--graph");
    std::filesystem::path noncentred_path = centred_path;
    noncentred_path.replace_filename(centred_path.stem().string() + "_noncentered" + centred_path.extension().string());
    const int J = int(kEffects.size());
    const tyche::RenderOptions legend{.render_distributions = true};
    if (!write_graph(centred_path, tyche::render_model(eight_schools, J, sigma, std::optional(y), legend), "eight_schools") ||
        !write_graph(noncentred_path, tyche::render_model(noncentred_model, J, sigma, std::optional(y), legend), "eight_schools"))
      return 1;
  }
  std::printf("Eight schools: y = 28 8 -3 7 -1 1 18 12, sigma = 15 10 16 11 9 11 10 18\n");
  std::printf("NUTS, target_accept_prob 0.9, %d chains x (%d warm-up + %d draws), seed %llu\n", options.chains,
              options.num_warmup, options.num_samples, static_cast<unsigned long long>(options.seed));

  std::printf("\n== Centred: theta ~ Normal(mu, tau)\n");
  const RunResult centred = run_nuts(eight_schools, options, sigma, y, "centered");

  std::printf("\n== Non-centred: reparam with LocScaleReparam(0) on theta\n");
  std::printf("theta_decentered ~ Normal(0, 1) is sampled; theta = mu + tau * theta_decentered is deterministic\n");
  const RunResult noncentred = run_nuts(noncentred_model, options, sigma, y, "noncentered");

  const ExactPosterior exact = exact_posterior();
  std::printf("\n== Side by side (exact: mu and tau integrated numerically, see the top of eight_schools.cpp)\n");
  std::printf("%-12s %12s %11s %10s %8s %8s %8s %8s %9s\n", "", "divergences", "n_eff(tau)", "min n_eff",
              "mu mean", "mu sd", "tau mean", "tau sd", "time (s)");
  for (const auto& [label, fit] : {std::pair{"centred", &centred}, std::pair{"non-centred", &noncentred}}) {
    const Tensor& mu = fit->samples.at("mu");
    const Tensor& tau = fit->samples.at("tau");
    std::printf("%-12s %12lld %11.0f %10.0f %8.2f %8.2f %8.2f %8.2f %9.2f\n", label, fit->divergences,
                tyche::effective_sample_size(tau).item(), min_n_eff(fit->samples), mean_of(flat(mu)),
                sd_of(flat(mu)), mean_of(flat(tau)), sd_of(flat(tau)), fit->seconds);
  }
  std::printf("%-12s %12s %11s %10s %8.2f %8.2f %8.2f %8.2f\n", "exact", "", "", "", exact.mu_mean, exact.mu_sd,
              exact.tau_mean, exact.tau_sd);
  std::printf(
      "\nWhy the centred model diverges: there, each theta_j's prior scale is tau, so where tau is small the\n"
      "thetas are held close to mu and the log density curves as sharply as 1/tau^2 -- the posterior is a funnel,\n"
      "wide at large tau and narrow at small tau. NUTS adapts one step size (and one mass matrix) for the whole\n"
      "posterior; a step that suits the funnel's mouth is too long for its neck, where the leapfrog integrator's\n"
      "energy error explodes and the trajectory is abandoned as a divergence. The neck is then explored badly:\n"
      "mostly too rarely, which biases tau upwards, or a chain that gets in sticks there; either way tau's\n"
      "estimates cannot be trusted and its effective draws are few. The non-centred model samples\n"
      "theta_decentered ~ Normal(0, 1), independent of tau a priori, and computes theta from it; with one noisy\n"
      "observation per school the posterior of (mu, tau, theta_decentered) keeps roughly the prior's shape,\n"
      "whose curvature does not depend on tau, so one step size fits everywhere. (With many observations per\n"
      "school the data would pin theta down and the centred form would be the better one.)\n");

  if (!options.check) return 0;
  std::printf("\n== Checks: the non-centred run against the exact posterior\n");
  tyche::examples::Checks checks;
  const auto within_4_mcse = [&](const std::string& what, const Estimate& estimate, double exact_value) {
    checks.near(what, estimate.value, exact_value, 4.0 * estimate.mcse, "4 MCSE, MCSE from tyche's n_eff");
  };
  within_4_mcse("mu mean", posterior_mean(noncentred.samples.at("mu")), exact.mu_mean);
  within_4_mcse("mu sd", posterior_sd(noncentred.samples.at("mu")), exact.mu_sd);
  within_4_mcse("tau mean", posterior_mean(noncentred.samples.at("tau")), exact.tau_mean);
  within_4_mcse("tau sd", posterior_sd(noncentred.samples.at("tau")), exact.tau_sd);
  checks.that("non-centred divergences " + std::to_string(noncentred.divergences) + " < 1% of " +
                  std::to_string(noncentred.draws) + " draws",
              double(noncentred.divergences) < 0.01 * double(noncentred.draws));
  return checks.finish();
}

}  // namespace

int main(int argc, char** argv) { return tyche::examples::main_reporting_errors("eight_schools", run, argc, argv); }
