// NUTS and HMC: the Hamiltonian Monte Carlo kernels MCMC runs on a model
// (NumPyro's numpyro.infer.NUTS and HMC), with their options.
//
//   auto kernel = tyche::NUTS(model, {.target_accept_prob = 0.9, .dense_mass = true});
//   tyche::MCMC mcmc(kernel, {.num_warmup = 1000, .num_samples = 1000});
//   tyche::MCMC hmc(tyche::HMC(model, {.num_steps = 10}), {.num_warmup = 500, .num_samples = 500});
//
// NUTS and HMC are functions returning a HamiltonianKernel<Model>, so that
// `tyche::MCMC mcmc(tyche::NUTS(model), {...})` declares a variable: were
// NUTS a class template, GCC reads that line as a function declaration.
//
// Defaults are NumPyro 0.21's, except find_heuristic_step_size, which is on
// (Stan's warm-up runs its step-size heuristic at the start and after each
// mass-matrix window; NumPyro's default is off), and max_delta_energy, which
// NumPyro fixes at 1000 and Stan calls max_deltaH.
#pragma once

#include "tyche/infer/hamiltonian.hpp"
#include "tyche/infer/initialization.hpp"
#include "tyche/infer/potential.hpp"

#include <numbers>
#include <string>
#include <utility>
#include <vector>

namespace tyche {

// dense_mass as NumPyro takes it: false (diagonal), true (one dense matrix),
// or blocks of site names, each block dense and the other sites diagonal.
//   .dense_mass = true
//   .dense_mass = tyche::DenseMass::blocks({{"mu", "tau"}})
struct DenseMass {
  DenseMass(bool dense = false) : all(dense) {}  // implicit on purpose: .dense_mass = true
  static DenseMass blocks(std::vector<std::vector<std::string>> site_blocks) {
    DenseMass mass;
    mass.site_blocks = std::move(site_blocks);
    return mass;
  }
  bool all = false;
  std::vector<std::vector<std::string>> site_blocks;
};

struct NUTSOptions {
  double step_size = 1.0;
  bool adapt_step_size = true;
  bool adapt_mass_matrix = true;
  DenseMass dense_mass = false;
  double target_accept_prob = 0.8;
  MaxTreeDepth max_tree_depth = 10;
  InitStrategy init_strategy = {};  // none: init_to_uniform()
  bool find_heuristic_step_size = true;
  bool regularize_mass_matrix = true;
  double max_delta_energy = 1000.0;
  double step_size_jitter = 0.0;  // Stan's stepsize_jitter: the step size is drawn from eps (1 +- jitter)
};

struct HMCOptions {
  double step_size = 1.0;
  int num_steps = 0;  // > 0: this many leapfrog steps; 0: trajectory_length / step_size of them
  double trajectory_length = 2 * std::numbers::pi;
  bool adapt_step_size = true;
  bool adapt_mass_matrix = true;
  DenseMass dense_mass = false;
  double target_accept_prob = 0.8;
  InitStrategy init_strategy = {};  // none: init_to_uniform()
  bool find_heuristic_step_size = true;
  bool regularize_mass_matrix = true;
  double max_delta_energy = 1000.0;
  double step_size_jitter = 0.0;
};

// A model and the settings of the chains that sample it; MCMC lays out its
// latent sites and runs one HamiltonianChain per chain.
template <class Model>
class HamiltonianKernel {
 public:
  HamiltonianKernel(Model model, HamiltonianSettings settings, DenseMass dense_mass, InitStrategy init_strategy)
      : model_(std::move(model)),
        settings_(std::move(settings)),
        dense_mass_(std::move(dense_mass)),
        init_strategy_(std::move(init_strategy)) {}

  const Model& model() const { return model_; }
  // The init strategy given, or init_to_uniform().
  InitStrategy init_strategy() const { return init_strategy_ ? init_strategy_ : init_to_uniform(); }
  // The chain settings for these latent sites: dense blocks of site names
  // become blocks of coordinates.
  HamiltonianSettings settings(const LatentLayout& layout) const {
    HamiltonianSettings settings = settings_;
    settings.dense_mass = dense_mass_.all;
    for (const std::vector<std::string>& names : dense_mass_.site_blocks) {
      std::vector<Eigen::Index> block;
      for (const std::string& name : names) {
        const LatentSite& site = layout[name];
        for (std::int64_t i = 0; i < site.size(); ++i) block.push_back(Eigen::Index(site.offset + i));
      }
      settings.dense_blocks.push_back(std::move(block));
    }
    return settings;
  }

 private:
  Model model_;
  HamiltonianSettings settings_;
  DenseMass dense_mass_;
  InitStrategy init_strategy_;
};

namespace detail {

template <class Options>
HamiltonianSettings common_settings(const Options& options) {
  HamiltonianSettings settings;
  settings.step_size = options.step_size;
  settings.adapt_step_size = options.adapt_step_size;
  settings.adapt_mass_matrix = options.adapt_mass_matrix;
  settings.target_accept_prob = options.target_accept_prob;
  settings.find_heuristic_step_size = options.find_heuristic_step_size;
  settings.regularize_mass_matrix = options.regularize_mass_matrix;
  settings.max_delta_energy = options.max_delta_energy;
  settings.step_size_jitter = options.step_size_jitter;
  return settings;
}

}  // namespace detail

// The No-U-Turn sampler on model (Stan's variant: see hamiltonian.hpp).
template <class Model>
HamiltonianKernel<Model> NUTS(Model model, NUTSOptions options = {}) {
  HamiltonianSettings settings = detail::common_settings(options);
  settings.algorithm = HamiltonianSettings::Algorithm::nuts;
  settings.max_tree_depth = options.max_tree_depth;
  return {std::move(model), std::move(settings), std::move(options.dense_mass), std::move(options.init_strategy)};
}

// Hamiltonian Monte Carlo with a fixed number of leapfrog steps, or a fixed
// trajectory length (2 pi by default, as Pyro's and NumPyro's HMC).
template <class Model>
HamiltonianKernel<Model> HMC(Model model, HMCOptions options = {}) {
  HamiltonianSettings settings = detail::common_settings(options);
  settings.algorithm = HamiltonianSettings::Algorithm::hmc;
  settings.num_steps = options.num_steps;
  settings.trajectory_length = options.trajectory_length;
  return {std::move(model), std::move(settings), std::move(options.dense_mass), std::move(options.init_strategy)};
}

}  // namespace tyche
