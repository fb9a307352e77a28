// MCMC with NUTS and HMC on models: posteriors against closed forms and the
// eight schools seed (001), the driver's behaviour (chains, seeds, thinning,
// continuing, extra fields, deterministic sites) and its errors.
//
// Tolerances: a posterior mean within 4 sd / sqrt(n_eff) and an sd within
// 4 sd / sqrt(2 n_eff) of the closed form, n_eff as print_summary computes it.
#include <catch2/catch.hpp>
#include "common_data.hpp"

#include <tyche/tyche.hpp>

#include <cmath>
#include <numbers>
#include <iostream>
#include <sstream>
#include <thread>

#include "require_throws.hpp"

namespace dist = tyche::dist;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kMcmcSamples = 300;  // fewer draws under the sanitizers; the tolerances follow n_eff
#else
constexpr int kMcmcSamples = 1000;
#endif

struct Moments {
  double mean, sd, n_eff;
};

// Mean, sd and n_eff of element `index` of a site's (chain, draw, ...) draws.
Moments moments(const tyche::Tensor& grouped, std::int64_t index = 0) {
  const std::int64_t chains = grouped.dim(0), draws = grouped.dim(1), stride = grouped.size() / (chains * draws);
  std::vector<double> element(std::size_t(chains * draws));
  for (std::int64_t k = 0; k < chains * draws; ++k) element[std::size_t(k)] = grouped.data()[k * stride + index];
  const tyche::Tensor x(element, tyche::Shape{chains, draws});
  double mean = 0, square = 0;
  for (double v : element) mean += v;
  mean /= double(element.size());
  for (double v : element) square += (v - mean) * (v - mean);
  return {mean, std::sqrt(square / double(element.size())), tyche::effective_sample_size(x).item()};
}

void check_moments(const Moments& m, double mean, double sd) {
  INFO("draws: mean " << m.mean << " sd " << m.sd << " n_eff " << m.n_eff << "; expected mean " << mean << " sd " << sd);
  REQUIRE(m.n_eff > 100);
  CHECK(std::abs(m.mean - mean) < 4 * sd / std::sqrt(m.n_eff));
  CHECK(std::abs(m.sd - sd) < 4 * sd / std::sqrt(2 * m.n_eff));
}

// mu ~ N(0, 10), y_i ~ N(mu, 2): the posterior of mu is normal with
// precision 1/100 + n/4 and mean (sum y / 4) / precision.
auto normal_normal(const tyche::Tensor& y) {
  return [y] {
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 10.0));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Normal(mu, 2.0), y);
  };
}

const tyche::Tensor kNormalData{1.2, 0.4, 2.9, 1.8, -0.3, 1.1, 2.2, 0.9, 1.5, 3.1};

using tyche_test::eight_schools;  // seed 001's, centred (common_data.hpp)
using tyche_test::kSchoolsSigma;
using tyche_test::kSchoolsY;

}  // namespace

TEST_CASE("MCMC: the README's usage compiles as written and runs", "[mcmc]") {
  const auto model = [](int J, const tyche::Tensor& sigma, const tyche::Tensor& y) { eight_schools(J, sigma, y); };
  tyche::MCMC mcmc(tyche::NUTS(model, {.target_accept_prob = 0.9}),
                   {.num_warmup = 100, .num_samples = 100, .num_chains = 2, .progress_bar = false});
  mcmc.run(/*seed=*/0, 8, kSchoolsSigma, kSchoolsY);
  std::ostringstream table;
  mcmc.print_summary(0.9, true, table);
  auto samples = mcmc.get_samples();
  auto divergences = tyche::sum(mcmc.get_extra_fields()["diverging"]).item();
  CHECK(samples.at("theta").shape() == tyche::Shape{200, 8});
  CHECK(samples.at("mu").shape() == tyche::Shape{200});
  CHECK(divergences >= 0);
  CHECK(table.str().find("Number of divergences: " + std::to_string(static_cast<long long>(divergences))) !=
        std::string::npos);
  tyche::MCMC plain(tyche::NUTS(model), {.num_warmup = 10, .num_samples = 10, .progress_bar = false});
  plain.run(1, 8, kSchoolsSigma, kSchoolsY);
  CHECK(plain.get_samples(/*group_by_chain=*/true).at("tau").shape() == tyche::Shape{1, 10});
}

TEST_CASE("MCMC NUTS: normal-normal posterior, diagonal and dense mass", "[mcmc][statistical]") {
  const double n = double(kNormalData.size()), precision = 1.0 / 100 + n / 4;
  const double mean = tyche::sum(kNormalData).item() / 4 / precision, sd = 1 / std::sqrt(precision);
  for (const bool dense : {false, true}) {
    INFO("dense_mass " << dense);
    tyche::MCMC mcmc(tyche::NUTS(normal_normal(kNormalData), {.dense_mass = dense}),
                     {.num_warmup = kMcmcSamples, .num_samples = kMcmcSamples, .num_chains = 2, .progress_bar = false});
    mcmc.run(3);
    check_moments(moments(mcmc.get_samples(true).at("mu")), mean, sd);
  }
}

TEST_CASE("MCMC NUTS: Gamma-Poisson posterior", "[mcmc][statistical]") {
  // rate ~ Gamma(2, 1), y_i ~ Poisson(rate): the posterior is Gamma(2 + sum y, 1 + n).
  const tyche::Tensor y{3.0, 5.0, 2.0, 4.0, 6.0, 1.0, 3.0, 4.0};
  const auto model = [&y] {
    const tyche::Tensor rate = tyche::sample("rate", dist::Gamma(2.0, 1.0));
    tyche::plate data("data", y.size());
    tyche::sample("y", dist::Poisson(rate), y);
  };
  const double shape = 2 + 28, rate = 1 + 8;
  for (const bool dense : {false, true}) {
    INFO("dense_mass " << dense);
    tyche::MCMC mcmc(tyche::NUTS(model, {.dense_mass = dense}),
                     {.num_warmup = kMcmcSamples, .num_samples = kMcmcSamples, .num_chains = 2, .progress_bar = false});
    mcmc.run(4);
    check_moments(moments(mcmc.get_samples(true).at("rate")), shape / rate, std::sqrt(shape) / rate);
  }
}

TEST_CASE("MCMC NUTS: constrained supports recover their known moments", "[mcmc][statistical]") {
  // No data: the posterior is the prior, whose moments are known.
  const tyche::Tensor loc{1.0, -2.0};
  const tyche::Tensor scale_tril{{2.0, 0.0}, {0.6, 0.5}};
  const auto model = [&] {
    tyche::sample("half_normal", dist::HalfNormal(2.0));
    tyche::sample("beta", dist::Beta(2.0, 5.0));
    tyche::sample("dirichlet", dist::Dirichlet(tyche::Tensor{1.0, 2.0, 3.0}));
    tyche::sample("lkj", dist::LKJCholesky(3, 2.0));
    tyche::sample("mvn", dist::MultivariateNormal(loc, {.scale_tril = scale_tril}));
  };
  tyche::MCMC mcmc(tyche::NUTS(model),
                   {.num_warmup = kMcmcSamples, .num_samples = kMcmcSamples, .num_chains = 2, .progress_bar = false});
  mcmc.run(5);
  const tyche::ValueMap samples = mcmc.get_samples(true);
  check_moments(moments(samples.at("half_normal")), 2 * std::sqrt(2 / std::numbers::pi),
                2 * std::sqrt(1 - 2 / std::numbers::pi));
  check_moments(moments(samples.at("beta")), 2.0 / 7, std::sqrt(10.0 / (49 * 8)));
  for (int i = 0; i < 3; ++i) {
    const double a = i + 1.0;
    check_moments(moments(samples.at("dirichlet"), i), a / 6, std::sqrt(a * (6 - a) / (36 * 7)));
  }
  // L L^T is an LKJ(2) correlation matrix of size 3: each correlation is
  // 2 B - 1 with B ~ Beta(2.5, 2.5), mean 0 and variance 1/6. L[1,0] is the
  // correlation of the first two.
  check_moments(moments(samples.at("lkj"), 3), 0.0, std::sqrt(1.0 / 6));
  // MVN: the mean is loc, the sd of x_1 is sqrt(0.6^2 + 0.5^2).
  check_moments(moments(samples.at("mvn"), 0), 1.0, 2.0);
  check_moments(moments(samples.at("mvn"), 1), -2.0, std::sqrt(0.36 + 0.25));
}

TEST_CASE("MCMC HMC: normal-normal posterior with a fixed number of steps", "[mcmc][statistical]") {
  const double n = double(kNormalData.size()), precision = 1.0 / 100 + n / 4;
  const double mean = tyche::sum(kNormalData).item() / 4 / precision, sd = 1 / std::sqrt(precision);
  tyche::MCMC mcmc(tyche::HMC(normal_normal(kNormalData), {.num_steps = 5}),
                   {.num_warmup = kMcmcSamples, .num_samples = kMcmcSamples, .num_chains = 2, .progress_bar = false});
  mcmc.run(6);
  check_moments(moments(mcmc.get_samples(true).at("mu")), mean, sd);
  CHECK(tyche::max(mcmc.get_extra_fields()["num_steps"]).item() == 5);
}

TEST_CASE("MCMC NUTS: eight schools as seed 001 runs it", "[mcmc][statistical][eight_schools]") {
  const auto centred = [](int J, const tyche::Tensor& sigma, const tyche::Tensor& y) { eight_schools(J, sigma, y); };
  const auto noncentred = tyche::reparam(centred, {{"theta", tyche::LocScaleReparam(0.0)}});
  const tyche::MCMCOptions options{.num_warmup = kMcmcSamples, .num_samples = kMcmcSamples, .num_chains = 4, .progress_bar = false};

  tyche::MCMC funnel(tyche::NUTS(centred, {.target_accept_prob = 0.9}), options);
  funnel.run(0, 8, kSchoolsSigma, kSchoolsY);
  // The seed saw 88 divergences in 4000 draws: the funnel is there.
  CHECK(tyche::sum(funnel.get_extra_fields()["diverging"]).item() > 0);

  tyche::MCMC mcmc(tyche::NUTS(noncentred, {.target_accept_prob = 0.9}), options);
  mcmc.run(0, 8, kSchoolsSigma, kSchoolsY);
  CHECK(tyche::sum(mcmc.get_extra_fields()["diverging"]).item() <= 10 * kMcmcSamples / 1000.0);
  const tyche::ValueMap samples = mcmc.get_samples(true);
  CHECK(samples.contains("theta"));  // the deterministic site the reparam adds
  CHECK(samples.contains("theta_decentered"));
  // The seed's table (4000 draws): its means, within 4 MCSE of ours (the
  // seed's own MCSE is below a third of ours and is ignored).
  const std::vector<std::pair<std::string, double>> seed_means = {{"mu", 4.37}, {"tau", 3.66}};
  double min_n_eff = 1e9;
  for (const auto& [name, seed_mean] : seed_means) {
    const Moments m = moments(samples.at(name));
    min_n_eff = std::min(min_n_eff, m.n_eff);
    INFO(name << ": mean " << m.mean << " sd " << m.sd << " n_eff " << m.n_eff);
    CHECK(std::abs(m.mean - seed_mean) < 4 * m.sd / std::sqrt(m.n_eff));
  }
  const double seed_theta_means[] = {6.15, 4.96, 3.94, 4.76, 3.53, 3.97, 6.40, 4.85};
  for (int j = 0; j < 8; ++j) {
    const Moments m = moments(samples.at("theta"), j);
    INFO("theta[" << j << "]: mean " << m.mean << " sd " << m.sd << " n_eff " << m.n_eff);
    CHECK(std::abs(m.mean - seed_theta_means[j]) < 4 * m.sd / std::sqrt(m.n_eff));
  }
  for (int j = 0; j < 8; ++j) min_n_eff = std::min(min_n_eff, moments(samples.at("theta_decentered"), j).n_eff);
  // The seed: n_eff 2674 at least over 4000 draws.
  CHECK(min_n_eff >= 0.5 * 4 * kMcmcSamples);
}

TEST_CASE("MCMC: chains do not depend on the chain method, a seed repeats its draws", "[mcmc]") {
  const auto run = [](tyche::ChainMethod method, std::uint64_t seed) {
    tyche::MCMC mcmc(tyche::NUTS(normal_normal(kNormalData)),
                     {.num_warmup = 50, .num_samples = 50, .num_chains = 3, .chain_method = method,
                      .progress_bar = false});
    mcmc.run(seed);
    return mcmc.get_samples(true).at("mu").to_std_vector();
  };
  const auto parallel = run(tyche::ChainMethod::parallel, 7);
  CHECK(parallel == run(tyche::ChainMethod::sequential, 7));
  CHECK(parallel == run(tyche::ChainMethod::parallel, 7));
  CHECK(parallel != run(tyche::ChainMethod::parallel, 8));
  // Chains differ from each other.
  CHECK(!std::equal(parallel.begin(), parallel.begin() + 50, parallel.begin() + 50));
}

TEST_CASE("MCMC: thinning keeps num_samples / thinning draws, extra fields have one value per draw", "[mcmc]") {
  tyche::MCMC mcmc(tyche::NUTS(normal_normal(kNormalData)),
                   {.num_warmup = 20, .num_samples = 10, .num_chains = 2, .thinning = 3, .progress_bar = false});
  mcmc.run(9);
  CHECK(mcmc.get_samples().at("mu").shape() == tyche::Shape{6});
  CHECK(mcmc.get_samples(true).at("mu").shape() == tyche::Shape{2, 3});
  const tyche::ValueMap extra = mcmc.get_extra_fields(true);
  for (const char* name : {"diverging", "accept_prob", "mean_accept_prob", "num_steps", "potential_energy", "energy",
                           "trajectory_length", "step_size", "tree_depth"}) {
    INFO(name);
    REQUIRE(extra.contains(name));
    CHECK(extra.at(name).shape() == tyche::Shape{2, 3});
  }
  // The potential energy of a kept draw is U at that draw.
  const auto potential = tyche::potential_energy(normal_normal(kNormalData));
  const tyche::Tensor mu = mcmc.get_samples(true).at("mu");
  const Eigen::VectorXd u = potential.pack({{"mu", mu.data()[4]}});
  CHECK(extra.at("potential_energy").data()[4] == Approx(potential(tyche::Tensor(u)).item()).epsilon(1e-12));
}

TEST_CASE("MCMC: continuing from last_state skips warm-up, warmup() then run()", "[mcmc]") {
  const auto model = normal_normal(kNormalData);
  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 200, .num_samples = 50, .num_chains = 2, .progress_bar = false});
  mcmc.run(10);
  const tyche::MCMCState state = mcmc.last_state();
  mcmc.post_warmup_state = state;
  mcmc.run(11);
  const tyche::ValueMap extra = mcmc.get_extra_fields(true);
  // No adaptation: every transition uses its chain's adapted step size.
  const std::vector<double> step_sizes = extra.at("step_size").to_std_vector();
  CHECK(state.chains[0].step_size != state.chains[1].step_size);
  for (std::size_t k = 0; k < step_sizes.size(); ++k) CHECK(step_sizes[k] == state.chains[k / 50].step_size);

  tyche::MCMC split_run(tyche::NUTS(model), {.num_warmup = 200, .num_samples = 50, .progress_bar = false});
  split_run.warmup(12, tyche::WarmupOptions{.collect_warmup = true});
  CHECK(split_run.get_samples().at("mu").shape() == tyche::Shape{200});
  REQUIRE(split_run.post_warmup_state);
  split_run.run(13);
  CHECK(split_run.get_samples().at("mu").shape() == tyche::Shape{50});
}

TEST_CASE("MCMC: deterministic sites and constrained sites come back constrained", "[mcmc]") {
  const auto model = [] {
    const tyche::Tensor sd = tyche::sample("sd", dist::HalfNormal(1.0));
    const tyche::Tensor b = tyche::sample("b", dist::Uniform(0.0, 3.0));
    const tyche::Tensor x = tyche::sample("x", dist::Uniform(0.0, b));  // a support that depends on b
    tyche::deterministic("var", sd * sd);
    tyche::deterministic("ratio", x / b);
  };
  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 100, .num_samples = 100, .progress_bar = false});
  mcmc.run(14);
  const tyche::ValueMap s = mcmc.get_samples();
  for (std::int64_t i = 0; i < 100; ++i) {
    const double sd = s.at("sd").data()[i], b = s.at("b").data()[i], x = s.at("x").data()[i];
    REQUIRE(sd > 0);
    REQUIRE((b > 0 && b < 3));
    REQUIRE((x > 0 && x < b));
    REQUIRE(s.at("var").data()[i] == Approx(sd * sd).epsilon(1e-14));
    REQUIRE(s.at("ratio").data()[i] == Approx(x / b).epsilon(1e-14));
  }
  std::ostringstream all, latent;
  mcmc.print_summary(0.9, false, all);
  mcmc.print_summary(0.9, true, latent);
  CHECK(all.str().find("ratio") != std::string::npos);
  CHECK(latent.str().find("ratio") == std::string::npos);
}

TEST_CASE("MCMC: init strategies and init_params", "[mcmc]") {
  const auto model = normal_normal(kNormalData);
  for (const tyche::InitStrategy& strategy :
       {tyche::init_to_uniform(), tyche::init_to_feasible(), tyche::init_to_median(), tyche::init_to_mean(),
        tyche::init_to_sample(), tyche::init_to_value({{"mu", 1.0}})}) {
    tyche::MCMC mcmc(tyche::NUTS(model, {.init_strategy = strategy}),
                     {.num_warmup = 20, .num_samples = 5, .progress_bar = false});
    mcmc.run(15);
    CHECK(std::isfinite(tyche::sum(mcmc.get_samples().at("mu")).item()));
  }
  // init_to_feasible starts at the unconstrained 0; with no warm-up and a
  // tiny fixed step the first draw stays near it.
  tyche::MCMC still(tyche::NUTS(model, {.step_size = 1e-9, .adapt_step_size = false, .max_tree_depth = 1,
                                         .init_strategy = tyche::init_to_feasible()}),
                    {.num_warmup = 0, .num_samples = 1, .progress_bar = false});
  still.run(16);
  CHECK(std::abs(still.get_samples().at("mu").data()[0]) < 1e-6);
  still.run(16, tyche::RunOptions{.init_params = tyche::ValueMap{{"mu", 2.5}}});
  CHECK(still.get_samples().at("mu").data()[0] == Approx(2.5).margin(1e-6));
}

TEST_CASE("MCMC: a model that reads a parameter's value falls back to value_and_grad", "[mcmc]") {
  const auto branching = [] {
    const tyche::Tensor x = tyche::sample("x", dist::Normal(0.0, 1.0));
    if (x.item() > 100) tyche::factor("never", tyche::Tensor(-1.0));  // a branch the recording would freeze
  };
  tyche::MCMC mcmc(tyche::NUTS(branching),
                   {.num_warmup = kMcmcSamples, .num_samples = kMcmcSamples, .num_chains = 2, .progress_bar = false});
  mcmc.run(17);
  check_moments(moments(mcmc.get_samples(true).at("x")), 0.0, 1.0);
}

TEST_CASE("MCMC: bad models and failing chains give clear errors", "[mcmc][errors]") {
  const tyche::MCMCOptions quick{.num_warmup = 5, .num_samples = 5, .num_chains = 2, .progress_bar = false};
  SECTION("no latent site") {
    const auto model = [] { tyche::sample("y", dist::Normal(0.0, 1.0), tyche::Tensor(0.5)); };
    tyche::MCMC mcmc(tyche::NUTS(model), quick);
    REQUIRE_THROWS_CONTAINING(mcmc.run(0), std::invalid_argument, "no latent site");
  }
  SECTION("a discrete latent site") {
    const auto model = [] { tyche::sample("k", dist::Poisson(3.0)); };
    tyche::MCMC mcmc(tyche::NUTS(model), quick);
    REQUIRE_THROWS_CONTAINING(mcmc.run(0), std::invalid_argument, "`k`", "Poisson", "marginalise");
  }
  SECTION("no finite starting point names the site and its value") {
    // The observation lies outside the Uniform's support for every mu.
    const auto model = [] {
      const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
      tyche::sample("y", dist::Uniform(mu - 10.0, mu + 10.0), tyche::Tensor(1e6));
    };
    tyche::MCMC mcmc(tyche::NUTS(model), quick);
    REQUIRE_THROWS_CONTAINING(mcmc.run(0), std::invalid_argument, "valid initial point", "`y`", "1000000");
  }
  SECTION("an exception in a chain reaches run, naming the chain; the handler stack is empty after") {
    // The model fails at the starting point init_to_value gives, in the chain
    // threads. (During a trajectory, an exception is a divergence instead.)
    const auto model = [] {
      const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
      if (!mu.requires_grad() && mu.item() == 0.25) throw std::runtime_error("model failed");
    };
    tyche::MCMC mcmc(tyche::NUTS(model, {.init_strategy = tyche::init_to_value({{"mu", 0.25}})}), quick);
    REQUIRE_THROWS_CONTAINING(mcmc.run(0), std::runtime_error, "MCMC chain 0", "model failed");
    // A model run afterwards sees no handler left behind.
    CHECK(tyche::sample("z", dist::Normal(0.0, 1.0), tyche::Tensor(0.0)).item() == 0.0);
  }
  SECTION("bad options") {
    const auto model = normal_normal(kNormalData);
    REQUIRE_THROWS_CONTAINING((tyche::MCMC(tyche::NUTS(model), {.num_chains = 0})), std::invalid_argument,
                              "num_chains", "0");
    REQUIRE_THROWS_CONTAINING((tyche::MCMC(tyche::NUTS(model), {.thinning = 0})), std::invalid_argument, "thinning");
  }
}

TEST_CASE("MCMC: dense mass over blocks of named sites", "[mcmc]") {
  // a and b strongly correlated, c independent: a dense block for (a, b).
  const auto model = [] {
    const tyche::Tensor a = tyche::sample("a", dist::Normal(0.0, 1.0));
    tyche::sample("b", dist::Normal(a, 0.1));
    tyche::sample("c", dist::Normal(0.0, 3.0));
  };
  tyche::MCMC mcmc(tyche::NUTS(model, {.dense_mass = tyche::DenseMass::blocks({{"a", "b"}})}),
                   {.num_warmup = kMcmcSamples, .num_samples = kMcmcSamples, .progress_bar = false});
  mcmc.run(18);
  const tyche::MCMCState state = mcmc.last_state();
  const tyche::InverseMassMatrix& inverse_mass = state.chains[0].inverse_mass_matrix;
  REQUIRE(inverse_mass.blocks.size() == 1);
  CHECK(inverse_mass.blocks[0] == std::vector<Eigen::Index>{0, 1});  // a and b lie first in u
  // The adapted block estimates the posterior covariance of (a, b):
  // var a = 1, var b = 1.01, cov = 1 (correlation 0.995); c is diagonal, var 9.
  const Eigen::MatrixXd& block = inverse_mass.block_matrices[0];
  CHECK(block(0, 1) / std::sqrt(block(0, 0) * block(1, 1)) > 0.95);
  CHECK(inverse_mass.diagonal[2] == Approx(9.0).epsilon(0.35));
  check_moments(moments(mcmc.get_samples(true).at("b")), 0.0, std::sqrt(1.01));
}

TEST_CASE("NUTS: the compiled potential and value_and_grad give the same chain, to rounding", "[mcmc]") {
  const auto potential = tyche::potential_energy(normal_normal(kNormalData));
  const Eigen::VectorXd u0 = potential.pack({{"mu", 0.3}});
  auto compiled = tyche::compile_gradient(potential, u0);
  const tyche::PotentialFunction replayed = [&](const Eigen::Ref<const Eigen::VectorXd>& u,
                                                Eigen::Ref<Eigen::VectorXd> grad) { return compiled(u, grad); };
  const tyche::PotentialFunction eager = [&](const Eigen::Ref<const Eigen::VectorXd>& u,
                                             Eigen::Ref<Eigen::VectorXd> grad) {
    return tyche::value_and_grad(potential, u, grad);
  };
  tyche::HamiltonianSettings settings;
  settings.step_size = 0.3;
  tyche::HamiltonianChain a(replayed, u0, tyche::PRNGKey(1), settings, 50);
  tyche::HamiltonianChain b(eager, u0, tyche::PRNGKey(1), settings, 50);
  for (int i = 0; i < 100; ++i) {
    a.transition();
    b.transition();
    REQUIRE(a.position()[0] == Approx(b.position()[0]).epsilon(1e-9));
  }
}

TEST_CASE("MCMC: a batch axis without a plate gets NumPyro's missing-plate warning", "[mcmc]") {
  const auto model = [] {
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
    tyche::sample("y", dist::Normal(mu, 1.0), tyche::Tensor{0.5, 1.5, 1.0});  // batch (3,), no plate
  };
  std::ostringstream captured;
  std::streambuf* const standard_error = std::cerr.rdbuf(captured.rdbuf());
  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 10, .num_samples = 10, .progress_bar = false});
  mcmc.run(19);
  std::cerr.rdbuf(standard_error);
  CHECK_THAT(captured.str(), Catch::Contains("missing a plate statement for batch axis -1 of site `y`"));
  // With the plate, no warning.
  const auto plated = [] {
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 1.0));
    tyche::plate data("data", 3);
    tyche::sample("y", dist::Normal(mu, 1.0), tyche::Tensor{0.5, 1.5, 1.0});
  };
  std::ostringstream quiet;
  std::cerr.rdbuf(quiet.rdbuf());
  tyche::MCMC plain(tyche::NUTS(plated), {.num_warmup = 10, .num_samples = 10, .progress_bar = false});
  plain.run(19);
  std::cerr.rdbuf(standard_error);
  CHECK(quiet.str().empty());
}
