// What several examples compute or write alike: posterior estimates with
// their Monte Carlo standard errors (what --check tolerances are made of),
// and a model's graph written as DOT (and SVG when Graphviz is installed).
//
//   tyche::examples::Estimate mu = tyche::examples::posterior_mean(samples.at("mu"));  // (chain, draw)
//   checks.near("mu mean", mu.value, exact, 4 * mu.mcse, "4 MCSE");
//   tyche::examples::write_graph("model.dot", tyche::render_model(model, args...), "my_example");
#pragma once

#include <tyche/infer/diagnostics.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace tyche::examples {

// An array's elements as one list (draws of every chain, one after the other).
inline std::vector<double> flat(const Tensor& t) { return std::vector<double>(t.data(), t.data() + t.size()); }

inline double mean_of(const std::vector<double>& x) {
  double sum = 0.0;
  for (double v : x) sum += v;
  return sum / double(x.size());
}

// The sample standard deviation (ddof 1).
inline double sd_of(const std::vector<double>& x) {
  const double m = mean_of(x);
  double sum = 0.0;
  for (double v : x) sum += (v - m) * (v - m);
  return std::sqrt(sum / double(x.size() - 1));
}

struct Estimate {
  double value = 0.0;
  double mcse = 0.0;  // its Monte Carlo standard error
};

// The posterior mean of a scalar site's draws shaped (chain, draw), with MCSE
// sd / sqrt(n_eff), n_eff as print_summary's.
inline Estimate posterior_mean(const Tensor& draws) {
  const std::vector<double> x = flat(draws);
  return {mean_of(x), sd_of(x) / std::sqrt(effective_sample_size(draws).item())};
}

// The posterior sd of draws shaped (chain, draw). Its MCSE by the delta
// method: the variance is the mean of d = (x - mean)^2, whose MCSE is sd(d) /
// sqrt(n_eff of d), and d sd = d var / (2 sd). The n_eff of d, not of x:
// the tails mix more slowly than the centre.
inline Estimate posterior_sd(const Tensor& draws) {
  const std::vector<double> x = flat(draws);
  const double m = mean_of(x), sd = sd_of(x);
  std::vector<double> squares(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) squares[i] = (x[i] - m) * (x[i] - m);
  const double n_eff = effective_sample_size(Tensor(squares, draws.shape())).item();
  return {sd, sd_of(squares) / std::sqrt(n_eff) / (2.0 * sd)};
}

// The word as one argument of a POSIX shell command.
inline std::string shell_quoted(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Writes the DOT text to `path` and, when Graphviz's dot is on the PATH, an
// SVG drawing beside it (the same name ending in .svg). False, with the
// reason on standard error (after `program: `), when the file cannot be written.
inline bool write_graph(const std::filesystem::path& path, const std::string& dot, const char* program) {
  std::ofstream file(path);
  file << dot;
  file.close();
  if (!file) {
    std::fprintf(stderr, "%s: cannot write the model's graph to '%s'\n", program, path.c_str());
    return false;
  }
  std::printf("wrote the model's graph (Graphviz DOT) to %s\n", path.c_str());
  const std::filesystem::path svg = std::filesystem::path(path).replace_extension(".svg");
  if (svg == path || std::system("command -v dot > /dev/null 2>&1") != 0) return true;
  if (std::system(("dot -Tsvg " + shell_quoted(path.string()) + " -o " + shell_quoted(svg.string())).c_str()) == 0)
    std::printf("and drew it with Graphviz to %s\n", svg.c_str());
  return true;
}

}  // namespace tyche::examples
