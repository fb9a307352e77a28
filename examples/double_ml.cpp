// Double machine learning with `scope` (seed 000, Kyle Caron's "Double ML in
// Numpyro using scope"): sub-models written once and composed into one model
// by giving each use its own prefix.
//
// 1. A linear regression used directly and under scope(..., "M", "."): the
//    same draws, the sites renamed M.alpha, M.beta, M.sigma.
// 2. Double ML on simulated data with a confounded binary treatment A
//    (covariates X drive both A and the outcome y; the treatment effect tau is
//    0.4): a Logit propensity model of A given X (prefix Mt), a Linear outcome
//    model of y given X (prefix My), and a Linear model of the outcome's
//    residual on the treatment's residual (prefix M), whose slope M.beta is
//    the average treatment effect. The three are one model, sampled by NUTS.
// 3. The same composition without scope: the sub-models' sites collide, and
//    tracing the model fails with the duplicate-site error.
//
// The seed's NumPy draws cannot be reproduced; the data here are drawn with
// tyche's random keys from the fixed seed kDataSeed = 99 (the seed's SEED).
//
// Run: cmake --build build --target double_ml && ./build/examples/double_ml
// ctest: --check --num-samples 500 --num-warmup 500
#include <tyche/tyche.hpp>

#include "example_options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <utility>

namespace dist = tyche::dist;
using tyche::Tensor;

namespace {

constexpr std::uint64_t kDataSeed = 99;
constexpr std::int64_t kN = 1000;
constexpr double kTau = 0.4;  // the true average treatment effect

// The seed's Linear: y = alpha + X beta + Normal(0, sigma) noise, one beta per
// column of X (rows are observations). Returns the mean and the (observed or
// drawn) outcome, so that a caller can form residuals.
auto linear = [](const Tensor& X, const std::optional<Tensor>& y) {
  auto alpha = tyche::sample("alpha", dist::Normal(0.0, 1.0));
  auto sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  Tensor beta;
  {
    tyche::plate features("features", X.dim(1));
    beta = tyche::sample("beta", dist::Normal(0.0, 1.0));
  }
  tyche::plate obs_id("obs_id", X.dim(0));
  auto mu = tyche::deterministic("mu", alpha + tyche::matmul(X, beta));
  auto outcome = tyche::sample("obs", dist::Normal(mu, sigma), y);
  return std::pair{mu, outcome};
};

// The seed's Logit: a binary outcome with probability expit(alpha + X beta).
auto logit = [](const Tensor& X, const std::optional<Tensor>& y) {
  auto alpha = tyche::sample("alpha", dist::Normal(0.0, 2.5));
  Tensor beta;
  {
    tyche::plate features("features", X.dim(1));
    beta = tyche::sample("beta", dist::Normal(0.0, 1.0));
  }
  tyche::plate obs_id("obs_id", X.dim(0));
  auto eta = tyche::deterministic("eta", alpha + tyche::matmul(X, beta));
  auto mu = tyche::deterministic("mu", tyche::sigmoid(eta));
  auto outcome = tyche::sample("obs", dist::Bernoulli({.probs = mu}), y);
  return std::pair{mu, outcome};
};

// Double ML from three sub-models, each a callable (X, y) -> (mean, outcome):
// debias the treatment, denoise the outcome, regress residual on residual.
template <class Propensity, class Outcome, class Effect>
auto double_ml(Propensity propensity_model, Outcome outcome_model, Effect ate_model) {
  return [=](const Tensor& X, const Tensor& A, const Tensor& y) {
    const auto [mu_A, treatment] = propensity_model(X, A);  // E[A | X]
    const auto [mu_y, outcome] = outcome_model(X, y);        // E[y | X]
    const Tensor A_star = treatment - mu_A;
    const Tensor y_star = outcome - mu_y;
    return ate_model(A_star.reshape({A_star.size(), 1}), y_star);
  };
}

struct Data {
  Tensor X, A, y;
};

// The seed's simulation: X ~ Normal(0, 1.5) (N x 3); A ~ Bernoulli(expit(0.25
// + X b)) with b ~ Normal(0, 0.5); y ~ Normal(-1.2 + tau A + X b_y, 0.2) with
// b_y ~ Normal(0, 0.5).
Data simulate(std::uint64_t seed) {
  const auto keys = tyche::split(tyche::PRNGKey(seed), 5);
  const Tensor X = 1.5 * tyche::random::normal(keys[0], {kN, 3});
  const Tensor b = 0.5 * tyche::random::normal(keys[1], {3});
  const Tensor A = tyche::random::bernoulli(keys[2], tyche::sigmoid(0.25 + tyche::matmul(X, b)), {kN});
  const Tensor b_y = 0.5 * tyche::random::normal(keys[3], {3});
  const Tensor mu_y = -1.2 + kTau * A + tyche::matmul(X, b_y);
  return {X, A, mu_y + 0.2 * tyche::random::normal(keys[4], {kN})};
}

// The first three draws of each site but the deterministic mu, flattened, as
// the seed's peek().
void peek(const tyche::ValueMap& samples) {
  for (const auto& [name, draws] : samples) {
    if (name.ends_with("mu")) continue;
    std::printf("  %-8s [", name.c_str());
    const std::int64_t shown = 3 * (draws.size() / draws.dim(0));
    for (std::int64_t i = 0; i < shown; ++i) std::printf(i ? " %.7f" : "%.7f", draws.data()[i]);
    std::puts("]");
  }
}

}  // namespace

int main(int argc, char** argv) {
  tyche::examples::Options options("double_ml",
                                   "Seed 000: Double ML composed from sub-models with scope, sampled by NUTS; "
                                   "the same composition without scope fails.",
                                   {.seed = 99, .num_samples = 2000, .num_warmup = 1000, .chains = 2});
  if (!options.parse(argc, argv)) return options.exit_code();
  tyche::examples::Checks checks;
  const tyche::MCMCOptions mcmc_options{
      .num_warmup = options.num_warmup, .num_samples = options.num_samples, .num_chains = options.chains};

  std::puts("== scope renames sites, nothing else");
  {
    // The seed's first data: y = 1.2 + 0.4 x + Normal(0, 1) noise, x ~ Normal(0, 3).
    const auto keys = tyche::split(tyche::PRNGKey(kDataSeed), 2);
    const Tensor x = 3.0 * tyche::random::normal(keys[0], {kN, 1});
    const Tensor y = 1.2 + 0.4 * x.reshape({kN}) + tyche::random::normal(keys[1], {kN});
    tyche::MCMC plain(tyche::NUTS(linear), mcmc_options);
    plain.run(options.seed, x, std::optional(y));
    tyche::MCMC scoped(tyche::NUTS(tyche::scope(linear, "M", ".")), mcmc_options);
    scoped.run(options.seed, x, std::optional(y));
    std::puts("Linear:");
    peek(plain.get_samples());
    std::puts("scope(Linear, prefix=\"M\", divider=\".\"):");
    peek(scoped.get_samples());
    if (options.check) {
      const Tensor plain_beta = plain.get_samples().at("beta"), scoped_beta = scoped.get_samples().at("M.beta");
      checks.that("the scoped model draws what the plain one draws",
                  std::equal(plain_beta.data(), plain_beta.data() + plain_beta.size(), scoped_beta.data()));
    }
  }

  std::printf("\n== Double ML: N = %lld, tau = %.1f, data from seed %llu\n", static_cast<long long>(kN), kTau,
              static_cast<unsigned long long>(kDataSeed));
  const Data data = simulate(kDataSeed);
  const auto model = double_ml(tyche::scope(logit, "Mt", "."), tyche::scope(linear, "My", "."),
                               tyche::scope(linear, "M", "."));
  tyche::MCMC mcmc(tyche::NUTS(model), mcmc_options);
  mcmc.run(options.seed, data.X, data.A, data.y);
  mcmc.print_summary();
  const Tensor ate = mcmc.get_samples().at("M.beta").reshape({-1});
  const Tensor interval = tyche::hpdi(ate, 0.95);  // NumPyro's hpdi: the narrowest interval holding 95%
  const tyche::SiteSummary ate_summary = tyche::summary({{"ate", ate}}, 0.9, /*group_by_chain=*/false).at("ate");
  const double ate_mean = ate_summary.mean.item(), ate_sd = ate_summary.std.item();
  const double lower = interval.at({0}), upper = interval.at({1});
  std::printf("ATE (M.beta): mean %.3f, sd %.3f, 95%% HPDI [%.3f, %.3f]; true tau %.1f\n", ate_mean, ate_sd, lower,
              upper, kTau);
  if (options.check) {
    checks.that("the 95% HPDI covers tau = 0.4", lower <= kTau && kTau <= upper);
    checks.near("ATE posterior mean", ate_mean, kTau, 3 * ate_sd, "3 posterior sd");
  }

  std::puts("\n== the same composition without scope");
  try {
    tyche::MCMC unscoped(tyche::NUTS(double_ml(logit, linear, linear)), mcmc_options);
    unscoped.run(options.seed, data.X, data.A, data.y);
    std::puts("sampled: the duplicate sites were not caught");
    if (options.check) checks.that("the unscoped model fails", false);
  } catch (const std::invalid_argument& error) {
    std::printf("error: %s\n", error.what());
    if (options.check)
      checks.that("the unscoped model fails naming the duplicated site `alpha`",
                  std::string(error.what()).find("`alpha` duplicated") != std::string::npos);
  }
  return options.check ? checks.finish() : 0;
}
