// write_cmdstan_csv: an MCMC run's draws as CmdStan 2.32's sampler writes
// them, one CSV file per chain, for ArviZ's from_cmdstan, cmdstanpy's
// from_csv and Stan's other readers.
//
//   tyche::MCMC mcmc(tyche::NUTS(model), {.num_chains = 4});
//   mcmc.run(/*seed=*/0, J, sigma, y);
//   tyche::write_cmdstan_csv("fit", mcmc);   // fit/output_1.csv ... fit/output_4.csv
//   // Python: arviz.from_cmdstan("fit/output_*.csv"), or cmdstanpy.from_csv("fit")
//   // (which takes a directory's files in listing order: pass a sorted list to keep chain order)
//
// A file holds, as CmdStan's does: the configuration comments (`# model =`,
// `# method = sample`, num_samples, num_warmup, `save_warmup = 0`, thin,
// adapt's delta (target_accept_prob), `engine = nuts` (HMC: `static`),
// max_depth, `metric = diag_e` or `dense_e`, `# id =` the chain from 1,
// `#   seed =` the run's seed, `sig_figs = 17`); the header `lp__,
// accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__`
// then every site's elements; `# Adaptation terminated`, `# Step size =` and
// the inverse mass matrix (its diagonal on one line, or a dense one row by
// row; block-dense metrics are written whole, zero between blocks); one row
// per kept draw, every number with 17 significant digits, so that reading it
// back gives the same doubles; the `# Elapsed Time:` lines of the chain's
// warm-up and sampling transitions.
//
// Columns and names:
// - the latent sites by name (the order of the unconstrained vector, which
//   the inverse mass matrix is written in), then the deterministic sites by
//   name, as Stan writes parameters before transformed parameters and
//   generated quantities (.include_deterministic = false leaves them out);
// - element (i, j) of a site is the column `name.i+1.j+1`, in column-major
//   order as CmdStan's (name.1.1, name.2.1, name.1.2, ...); a scalar site is
//   `name`;
// - a site name that is not a Stan identifier becomes one by one rule
//   (cmdstan_variable_name): every character outside [A-Za-z0-9_] becomes
//   `_` (scope's `M/beta` and `M.beta` become `M_beta`), a name that does not
//   start with a letter gets an `x` in front (`_a` -> `x_a`, `1a` -> `x1a`),
//   and one ending in `__` gets an `x` after (`a__` -> `a__x`; ArviZ reads
//   columns ending in `__` as sampler statistics). ArviZ splits column names
//   at ".", which is why no "." may stay. Two sites that map to the same
//   name are an error naming both.
//
// The sampler columns: lp__ is minus the potential energy at the draw, the
// log density on the unconstrained space with the Jacobian and every
// normalising constant (Stan's lp__ drops the constants, so the two differ
// by a constant); accept_stat__ is the extra field accept_prob (the
// transition's mean acceptance statistic, as Stan's), stepsize__ step_size,
// treedepth__ tree_depth, n_leapfrog__ num_steps, divergent__ diverging and
// energy__ energy. HMC's files say `engine = static` (int_time the
// trajectory length) and keep the same seven columns, tree depth 0, where
// CmdStan's static HMC writes int_time__ instead; ArviZ reads them, but
// cmdstanpy's reader wants NUTS's max_depth and reads NUTS files only.
//
// Thinning keeps the last draw of each group of `thinning` (NumPyro's rule;
// Stan keeps the first), so num_samples is written as draws x thin, the
// transitions the kept draws cover, which is what cmdstanpy checks the draw
// count against. After warmup() with collect_warmup the draws are written as
// CmdStan's saved warm-up draws (`save_warmup = 1`, `num_samples = 0`).
#pragma once

#include "tyche/infer/mcmc.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche {

struct CmdStanCSVOptions {
  std::string prefix = "output";           // chain c's file is <dir>/<prefix>_<c>.csv, c from 1, as CmdStan's
  std::string model_name = "tyche_model";  // `# model = ...`
  bool include_deterministic = true;       // deterministic sites as columns after the latent ones
};

// The Stan identifier a site is written as (the rule above).
template <class = void>
std::string cmdstan_variable_name(std::string_view site) {
  const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::string name;
  for (char c : site) name += letter(c) || digit(c) || c == '_' ? c : '_';
  if (name.empty() || !letter(name.front())) name.insert(0, "x");
  if (name.size() >= 2 && name.ends_with("__")) name += "x";
  return name;
}

namespace detail {

// A double with 17 significant digits, as CmdStan writes with sig_figs = 17:
// enough for every double to read back as itself (CmdStan's default, 6, is not).
template <class = void>
void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "nan";  // glibc writes a negative NaN as "-nan"; Stan writes "nan"
    return;
  }
  char buffer[32];
  const int length = std::snprintf(buffer, sizeof buffer, "%.17g", value);
  out.append(buffer, std::size_t(length));
}

template <class = void>
std::string format_number(double value) {
  std::string s;
  append_number(s, value);
  return s;
}

// Seconds as CmdStan prints them (six significant digits).
template <class = void>
std::string format_seconds(double seconds) {
  char buffer[32];
  const int length = std::snprintf(buffer, sizeof buffer, "%g", seconds);
  return std::string(buffer, std::size_t(length));
}

// One site's columns: their names and, in column order, the row-major
// offsets of the elements they hold.
struct CmdStanColumns {
  std::string site;
  std::vector<std::string> names;
  std::vector<std::int64_t> offsets;
};

template <class = void>
CmdStanColumns cmdstan_columns(const std::string& site, const std::string& variable, const Shape& shape) {
  CmdStanColumns columns{site, {}, {}};
  const std::int64_t count = shape.numel();
  std::vector<std::int64_t> index(std::size_t(shape.rank()), 0);
  for (std::int64_t k = 0; k < count; ++k) {
    std::string name = variable;
    std::int64_t offset = 0;
    for (int a = 0; a < shape.rank(); ++a) {
      // Two appends, not "." + to_string(...): GCC 12 warns falsely on the
      // temporary's concatenation (-Wstringop-overflow).
      name += '.';
      name += std::to_string(index[std::size_t(a)] + 1);
      offset = offset * shape[a] + index[std::size_t(a)];
    }
    columns.names.push_back(std::move(name));
    columns.offsets.push_back(offset);
    for (int a = 0; a < shape.rank(); ++a) {  // column-major: the first index runs fastest
      if (++index[std::size_t(a)] < shape[a]) break;
      index[std::size_t(a)] = 0;
    }
  }
  return columns;
}

// Every written site's columns, latent sites first; throws when two sites
// map to one variable name.
template <class = void>
std::vector<CmdStanColumns> cmdstan_layout(const ValueMap& grouped_samples,
                                           const std::vector<std::string>& deterministic_sites,
                                           bool include_deterministic) {
  const auto is_deterministic = [&](const std::string& name) {
    return std::find(deterministic_sites.begin(), deterministic_sites.end(), name) != deterministic_sites.end();
  };
  std::vector<CmdStanColumns> layout;
  std::map<std::string, std::string> site_of_variable;
  for (const bool deterministic : {false, true}) {
    if (deterministic && !include_deterministic) break;
    for (const auto& [site, draws] : grouped_samples) {
      if (is_deterministic(site) != deterministic) continue;
      const std::string variable = cmdstan_variable_name(site);
      const auto [it, fresh] = site_of_variable.emplace(variable, site);
      if (!fresh)
        throw std::invalid_argument("tyche: write_cmdstan_csv: sites `" + it->second + "` and `" + site +
                                    "` are both written as `" + variable +
                                    "` (a site name that is not a Stan identifier has its other characters "
                                    "replaced by `_`); rename one of them");
      Shape shape;
      for (int a = 2; a < draws.ndim(); ++a) shape.push_back(draws.dim(a));
      layout.push_back(cmdstan_columns(site, variable, shape));
    }
  }
  return layout;
}

template <class = void>
std::string cmdstan_config_line(int depth, const std::string& key, const std::string& value, bool is_default) {
  return "#" + std::string(std::size_t(2 * depth + 1), ' ') + key + " = " + value + (is_default ? " (Default)" : "") +
         "\n";
}

// The comment block before the header, CmdStan 2.32's arguments in its
// order and indentation.
template <class = void>
std::string cmdstan_config(const MCMCRunInfo& run, const ChainState& state, std::int64_t draws, int chain,
                           int num_chains, const std::string& file_name, const CmdStanCSVOptions& options) {
  const HamiltonianSettings& s = run.settings;
  const bool nuts = s.algorithm == HamiltonianSettings::Algorithm::nuts;
  const std::int64_t covered = draws * run.thinning;  // the transitions the kept draws cover
  const std::int64_t num_samples = run.draws_are_warmup ? 0 : covered;
  const std::int64_t num_warmup = run.draws_are_warmup ? covered : run.num_warmup;
  const bool engaged = run.num_warmup > 0 && (s.adapt_step_size || s.adapt_mass_matrix);
  const auto line = [](int depth, const std::string& key, const auto& value, bool is_default) {
    if constexpr (std::is_floating_point_v<std::decay_t<decltype(value)>>)
      return cmdstan_config_line(depth, key, format_number(value), is_default);
    else if constexpr (std::is_arithmetic_v<std::decay_t<decltype(value)>>)
      return cmdstan_config_line(depth, key, std::to_string(value), is_default);
    else
      return cmdstan_config_line(depth, key, value, is_default);
  };
  const auto section = [](int depth, const std::string& name) {
    return "#" + std::string(std::size_t(2 * depth + 1), ' ') + name + "\n";
  };
  std::string c = "# stan_version_major = 2\n# stan_version_minor = 32\n# stan_version_patch = 2\n";
  c += "# model = " + options.model_name + "\n";
  c += "# method = sample (Default)\n";
  c += section(1, "sample");
  c += line(2, "num_samples", num_samples, num_samples == 1000);
  c += line(2, "num_warmup", num_warmup, num_warmup == 1000);
  c += line(2, "save_warmup", int(run.draws_are_warmup), !run.draws_are_warmup);
  c += line(2, "thin", run.thinning, run.thinning == 1);
  c += section(2, "adapt");
  c += line(3, "engaged", int(engaged), engaged);
  c += line(3, "gamma", s.dual_averaging.gamma, s.dual_averaging.gamma == 0.05);
  c += line(3, "delta", s.target_accept_prob, s.target_accept_prob == 0.8);
  c += line(3, "kappa", s.dual_averaging.kappa, s.dual_averaging.kappa == 0.75);
  c += line(3, "t0", s.dual_averaging.t0, s.dual_averaging.t0 == 10);
  c += line(3, "init_buffer", 75, true);  // the windows of adaptation.hpp, Stan's defaults
  c += line(3, "term_buffer", 50, true);
  c += line(3, "window", 25, true);
  c += line(2, "algorithm", std::string("hmc"), true);
  c += section(3, "hmc");
  if (nuts) {
    c += line(4, "engine", std::string("nuts"), true);
    c += section(5, "nuts");
    c += line(6, "max_depth", s.max_tree_depth.sampling, s.max_tree_depth.sampling == 10);
  } else {
    const double int_time = s.num_steps > 0 ? s.num_steps * state.step_size : s.trajectory_length;
    c += line(4, "engine", std::string("static"), false);
    c += section(5, "static");
    c += line(6, "int_time", int_time, false);
  }
  const bool dense = state.inverse_mass_matrix.dense();
  c += line(4, "metric", std::string(dense ? "dense_e" : "diag_e"), !dense);
  c += line(4, "metric_file", std::string(""), true);
  c += line(4, "stepsize", s.step_size, s.step_size == 1);
  c += line(4, "stepsize_jitter", s.step_size_jitter, s.step_size_jitter == 0);
  c += line(2, "num_chains", num_chains, num_chains == 1);
  c += line(0, "id", chain + 1, chain == 0);
  c += section(0, "data");
  c += line(1, "file", std::string(""), true);
  c += section(0, "random");
  c += line(1, "seed", run.seed, false);
  c += section(0, "output");
  c += line(1, "file", file_name, false);
  c += line(1, "diagnostic_file", std::string(""), true);
  c += line(1, "refresh", 100, true);
  c += line(1, "sig_figs", 17, false);
  c += "# written by tyche: lp__ is minus the potential energy, with every normalising constant\n";
  return c;
}

// After the header: the adapted step size and inverse mass matrix.
template <class = void>
std::string cmdstan_adaptation(const ChainState& state) {
  std::string a = "# Adaptation terminated\n# Step size = " + format_number(state.step_size) + "\n";
  const InverseMassMatrix& mass = state.inverse_mass_matrix;
  const auto row = [&a](const auto& values) {
    a += "# ";
    for (Eigen::Index i = 0; i < values.size(); ++i) {
      if (i) a += ", ";
      append_number(a, values(i));
    }
    a += "\n";
  };
  if (mass.dense()) {
    a += "# Elements of inverse mass matrix:\n";
    const Eigen::MatrixXd matrix = mass.matrix();
    for (Eigen::Index r = 0; r < matrix.rows(); ++r) row(matrix.row(r));
  } else {
    a += "# Diagonal elements of inverse mass matrix:\n";
    row(mass.diagonal);
  }
  return a;
}

}  // namespace detail

// Writes chain c of mcmc's last run to <dir>/<prefix>_<c + 1>.csv (dir is
// created when missing) and returns the paths written. Throws
// std::logic_error when nothing has run, std::invalid_argument when two sites
// map to one column name, std::runtime_error when a file cannot be written.
template <class Kernel>
std::vector<std::filesystem::path> write_cmdstan_csv(const std::filesystem::path& dir, const MCMC<Kernel>& mcmc,
                                                     const CmdStanCSVOptions& options = {}) {
  const MCMCRunInfo& run = mcmc.last_run();
  const MCMCState state = mcmc.last_state();
  const ValueMap samples = mcmc.get_samples(/*group_by_chain=*/true);
  const ValueMap extra = mcmc.get_extra_fields(/*group_by_chain=*/true);
  const std::vector<detail::CmdStanColumns> layout =
      detail::cmdstan_layout(samples, run.deterministic_sites, options.include_deterministic);
  const int num_chains = int(state.chains.size());
  const std::int64_t draws = extra.at("diverging").dim(1);

  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    throw std::runtime_error("tyche: write_cmdstan_csv: cannot create directory " + dir.string() + ": " +
                             error.message());

  std::string header = "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__";
  for (const detail::CmdStanColumns& site : layout)
    for (const std::string& name : site.names) header += "," + name;
  // lp__ and the six statistics, each read from its extra field.
  const std::array<std::pair<const char*, double>, 7> statistics = {{{"potential_energy", -1.0},
                                                                     {"accept_prob", 1.0},
                                                                     {"step_size", 1.0},
                                                                     {"tree_depth", 1.0},
                                                                     {"num_steps", 1.0},
                                                                     {"diverging", 1.0},
                                                                     {"energy", 1.0}}};

  std::vector<std::filesystem::path> paths;
  for (int c = 0; c < num_chains; ++c) {
    const std::string file_name = options.prefix + "_" + std::to_string(c + 1) + ".csv";
    const std::filesystem::path path = dir / file_name;
    const ChainState& chain_state = state.chains[std::size_t(c)];
    std::string text = detail::cmdstan_config(run, chain_state, draws, c, num_chains, file_name, options);
    text += header + "\n";
    const std::string adaptation = detail::cmdstan_adaptation(chain_state);
    if (!run.draws_are_warmup) text += adaptation;
    for (std::int64_t k = 0; k < draws; ++k) {
      const std::int64_t draw = std::int64_t(c) * draws + k;
      for (std::size_t f = 0; f < statistics.size(); ++f) {
        if (f) text += ',';
        detail::append_number(text, statistics[f].second * extra.at(statistics[f].first).data()[draw]);
      }
      for (const detail::CmdStanColumns& site : layout) {
        const Tensor& values = samples.at(site.site);
        const double* at_draw = values.data() + draw * (values.size() / (std::int64_t(num_chains) * draws));
        for (std::int64_t offset : site.offsets) {
          text += ',';
          detail::append_number(text, at_draw[offset]);
        }
      }
      text += '\n';
    }
    if (run.draws_are_warmup) text += adaptation;
    const double warmup = run.warmup_seconds[std::size_t(c)], sampling = run.sampling_seconds[std::size_t(c)];
    text += "# \n#  Elapsed Time: " + detail::format_seconds(warmup) + " seconds (Warm-up)\n";
    text += "#                " + detail::format_seconds(sampling) + " seconds (Sampling)\n";
    text += "#                " + detail::format_seconds(warmup + sampling) + " seconds (Total)\n# \n";

    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out)
      throw std::runtime_error("tyche: write_cmdstan_csv: cannot write " + path.string() + " (chain " +
                               std::to_string(c + 1) + ")");
    paths.push_back(path);
  }
  return paths;
}

}  // namespace tyche
