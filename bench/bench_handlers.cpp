// Cost per site of running a model through the handler stack.
//
// The model has 10 scalar sample sites x0..x9 ~ Normal(0, 1). Three ways to
// get its log density at fixed values are timed in interleaved rounds (the
// median of each is printed, so a noisy machine shifts all of them alike):
//   - handlers: trace(substitute(seed(scope(model)))) records a trace, and the
//     log density is summed from it (what tyche::log_density does): every
//     site builds a message, walks four handlers and is copied into the trace;
//   - direct:   the same log density written with arrays, no handlers;
//   - compiled: tyche::compile_gradient of the handler version, replayed: the
//     path a sampler takes, which records the model once and then runs only
//     the recorded array operations: no messages, no site names, no handlers.
//
// Run:  cmake --build build --target bench_handlers && ./build/bench/bench_handlers
#include <tyche/tyche.hpp>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using tyche::Tensor;
namespace dist = tyche::dist;

constexpr int kSites = 10;
constexpr std::array<const char*, kSites> kNames = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9"};

auto model = [] {
  for (const char* name : kNames) tyche::sample(name, dist::Normal(0.0, 1.0));
};

template <class F>
double ns_per_call(F& f, long iterations) {
  const auto start = std::chrono::steady_clock::now();
  double sink = 0.0;
  for (long i = 0; i < iterations; ++i) sink += f();
  const auto stop = std::chrono::steady_clock::now();
  if (sink == 12345.678) std::puts("");  // keeps the calls from being optimised away
  return std::chrono::duration<double, std::nano>(stop - start).count() / double(iterations);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main() {
  Eigen::VectorXd q(kSites);
  for (int i = 0; i < kSites; ++i) q[i] = 0.1 * (i - 4.5);

  tyche::ValueMap values;
  for (int i = 0; i < kSites; ++i) values.emplace(std::string("m/") + kNames[std::size_t(i)], q[i]);
  const auto handled = tyche::trace(tyche::substitute(tyche::seed(tyche::scope(model, "m"), 0), values));
  auto via_handlers = [&] { return tyche::trace_log_density(handled.get_trace()).item(); };

  const Tensor x = Tensor::view(q);
  auto direct = [&] {
    Tensor total = 0.0;
    for (int i = 0; i < kSites; ++i) total = total + tyche::normal_log_density(x[i], 0.0, 1.0);
    return total.item();
  };

  // The sampler's path: the handler log density as a function of q, recorded
  // once through the handlers, then replayed.
  auto log_joint = [&](const Tensor& params) {
    tyche::ValueMap at;
    for (int i = 0; i < kSites; ++i) at.emplace(std::string("m/") + kNames[std::size_t(i)], params[i]);
    return tyche::trace_log_density(
        tyche::trace(tyche::substitute(tyche::seed(tyche::scope(model, "m"), 0), at)).get_trace());
  };
  auto compiled_gradient = tyche::compile_gradient(log_joint, q);
  Eigen::VectorXd g(kSites);
  auto compiled = [&] { return compiled_gradient(q, g); };

  const double expected = direct();
  if (std::abs(via_handlers() - expected) > 1e-12 || std::abs(compiled() - expected) > 1e-12) {
    std::printf("mismatch: handlers %.17g, compiled %.17g, direct %.17g\n", via_handlers(), compiled(), expected);
    return 1;
  }

  constexpr int kRounds = 15;
  std::vector<double> t_handlers, t_direct, t_compiled;
  for (int r = 0; r < kRounds; ++r) {
    t_handlers.push_back(ns_per_call(via_handlers, 20000));
    t_direct.push_back(ns_per_call(direct, 200000));
    t_compiled.push_back(ns_per_call(compiled, 200000));
  }
  const double h = median(t_handlers), d = median(t_direct), c = median(t_compiled);
  std::printf("model: %d scalar Normal sample sites; median of %d interleaved rounds\n", kSites, kRounds);
  std::printf("%-44s %10s %12s\n", "", "ns/eval", "ns/site");
  std::printf("%-44s %10.1f %12.1f\n", "trace+substitute+seed+scope, log density", h, h / kSites);
  std::printf("%-44s %10.1f %12.1f\n", "direct array log density", d, d / kSites);
  std::printf("%-44s %10.1f %12.1f\n", "compiled replay (value and gradient)", c, c / kSites);
  std::printf("handlers / direct: %.1fx; compiled replay / direct: %.2fx\n", h / d, c / d);
  return 0;
}
