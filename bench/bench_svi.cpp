// SVI on the logistic regression of shared/data/bench/README.md (N = 1000,
// D = 3), written with sample and plate as a user writes it
// (bench/bench_models.hpp), with an AutoNormal guide, Adam(0.01) and
// Trace_ELBO, through SVI::run, the path users take. Measured in one run:
// - steps per second of SVI::run, which replays the model's recorded
//   potential at each step (infer/auto_normal_elbo.hpp), against the same
//   run with the guide's type hidden from SVI, which differentiates the loss
//   with handlers at every step as SVI::update does; both runs start from
//   the same seed and must end at the same params (checked, exit 1 if not);
// - the share of a step spent outside gradient evaluations: 1 - (the time of
//   one gradient of the recorded potential, timed on its own) / (the time of
//   one step). Target (issue 15): at most 20%.
// Each figure is the median of several rounds.
//
//   cmake --build build --target bench_svi && ./build/bench/bench_svi
#include <tyche/tyche.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "bench_data.hpp"
#include "bench_models.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main() {
  const auto data = tyche_bench::make_logreg(1000, 3, 12345);
  const auto model = tyche_bench::logreg_model(tyche::Tensor::view(data.X), tyche::Tensor(data.y));
  constexpr int kSteps = 2000, kRounds = 5;
  const tyche::SVIRunOptions options{.progress_bar = false};

  std::vector<double> compiled_rates, eager_rates, shares;
  double largest_difference = 0.0;
  for (int round = 0; round < kRounds; ++round) {
    tyche::SVI compiled(model, tyche::AutoNormal(model), tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
    Clock::time_point start = Clock::now();
    const auto fast = compiled.run(round, kSteps, options);
    const double compiled_seconds = seconds_since(start);
    compiled_rates.push_back(kSteps / compiled_seconds);

    // A fresh AutoNormal, as the compiled run's, behind a lambda.
    const auto hidden_guide = [guide = tyche::AutoNormal(model)](const auto&... args) { return guide(args...); };
    tyche::SVI eager(model, hidden_guide, tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
    start = Clock::now();
    const auto slow = eager.run(round, kSteps / 10, options);
    eager_rates.push_back((kSteps / 10) / seconds_since(start));
    for (int i = 0; i < kSteps / 10; ++i)
      largest_difference =
          std::max(largest_difference, std::abs(fast.losses.data()[i] - slow.losses.data()[i]) /
                                           std::max(1.0, std::abs(slow.losses.data()[i])));

    // One gradient of the recorded potential, at the fitted locs.
    const auto potential = tyche::potential_energy(model);
    const Eigen::VectorXd u = potential.pack(compiled.guide().median(fast.params));
    auto gradient_of = tyche::compile_gradient(potential, u);
    Eigen::VectorXd g(u.size());
    double sink = 0.0;
    const int evaluations = 20000;
    start = Clock::now();
    for (int i = 0; i < evaluations; ++i) sink += gradient_of(u, g);
    const double gradient_seconds = seconds_since(start) / evaluations;
    if (!std::isfinite(sink)) return 1;
    shares.push_back(1.0 - gradient_seconds / (compiled_seconds / kSteps));
  }
  std::printf("SVI, logistic regression N=1000 D=3, AutoNormal, Adam(0.01), Trace_ELBO, %d steps, median of %d rounds\n",
              kSteps, kRounds);
  std::printf("  SVI::run (recorded potential)     %9.0f steps/s\n", median(compiled_rates));
  std::printf("  handlers at every step (update's) %9.0f steps/s   (%.1fx slower)\n", median(eager_rates),
              median(compiled_rates) / median(eager_rates));
  std::printf("  share of a step outside the gradient: %.1f%% (target <= 20%%)\n", 100.0 * median(shares));
  std::printf("  largest relative loss difference between the two paths: %.1e\n", largest_difference);
  return largest_difference < 1e-9 ? 0 : 1;
}
