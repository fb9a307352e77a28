// NUTS on the benchmark problems of shared/data/bench/README.md, each written
// with sample and plate as a user writes it (bench/bench_models.hpp) and run
// through tyche::MCMC, the path users take: 1000 warm-up and 1000 sampling
// transitions, one chain, several seeds. Per problem it prints
// - wall time of warm-up plus sampling (initialisation, recording and
//   postprocessing included) and the gradient evaluations (leapfrog steps);
// - gradients per effective draw: gradients / min n_eff, n_eff as
//   print_summary computes it, the minimum over every scalar element; the
//   median over the seeds (Stan 2.32: 28, 13 and 11 on eight schools,
//   linreg50 and the logistic regressions);
// - min n_eff per second;
// - the share of wall time outside gradient evaluations: 1 - gradients x
//   (the time of one gradient, timed separately on the run's own draws) /
//   wall time. Targets: <= 15% on eight schools, <= 5% on the logistic
//   regressions.
// Then two chains run in parallel against the same two run one after the
// other (draws per second, median over rounds; target >= 1.8x).
//
//   ./build/bench/bench_nuts                       # all problems, 5 seeds
//   ./build/bench/bench_nuts linreg50 --seeds=3    # one problem
#include <tyche/tyche.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "bench_models.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The smallest n_eff over every scalar element of every site.
double min_n_eff(const tyche::ValueMap& grouped) {
  double least = 1e300;
  for (const auto& [name, draws] : grouped) {
    const tyche::Tensor n_eff = tyche::effective_sample_size(draws);
    for (std::int64_t i = 0; i < n_eff.size(); ++i) least = std::min(least, n_eff.data()[i]);
  }
  return least;
}

struct Run {
  double wall, gradients, n_eff, outside_share;
};

template <class Model>
Run run_once(const Model& model, std::uint64_t seed) {
  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 1000, .num_samples = 1000, .progress_bar = false});
  const Clock::time_point start = Clock::now();
  mcmc.warmup(seed, tyche::WarmupOptions{.collect_warmup = true});
  const double warmup_steps = tyche::sum(mcmc.get_extra_fields()["num_steps"]).item();
  mcmc.run(seed);
  const double wall = seconds_since(start);
  const double gradients = warmup_steps + tyche::sum(mcmc.get_extra_fields()["num_steps"]).item();

  // One gradient's time, on the run's own draws, through the compiled
  // potential the chain replays.
  const auto potential = tyche::potential_energy(model);
  const tyche::ValueMap samples = mcmc.get_samples();
  std::vector<Eigen::VectorXd> points;
  for (std::int64_t k = 0; k < 1000; k += 10) {
    tyche::ValueMap draw;
    for (const auto& [name, values] : samples) {
      if (!potential.layout().contains(name)) continue;
      const std::int64_t size = values.size() / values.dim(0);
      tyche::Shape shape;
      for (int a = 1; a < values.ndim(); ++a) shape.push_back(values.dim(a));
      draw.emplace(name, tyche::Tensor(std::vector<double>(values.data() + k * size, values.data() + (k + 1) * size),
                                       shape));
    }
    points.push_back(potential.pack(draw));
  }
  auto compiled = tyche::compile_gradient(potential, points.front());
  Eigen::VectorXd grad(points.front().size());
  double sink = 0;
  const int repeats = std::max(1, int(2e5 / double(points.size()) / double(points.front().size()) ));
  const Clock::time_point timing = Clock::now();
  std::int64_t evaluations = 0;
  for (int r = 0; r < repeats || seconds_since(timing) < 0.2; ++r)
    for (const Eigen::VectorXd& u : points) {
      sink += compiled(u, grad);
      ++evaluations;
    }
  const double per_gradient = seconds_since(timing) / double(evaluations);
  if (sink == 0.123456789) std::printf(" ");
  return {wall, gradients, min_n_eff(mcmc.get_samples(true)), 1 - gradients * per_gradient / wall};
}

// Draws per second of two chains, parallel over sequential.
template <class Model>
double parallel_speedup(const Model& model, int rounds) {
  std::vector<double> ratios;
  for (int r = 0; r < rounds; ++r) {
    double rate[2];
    for (const tyche::ChainMethod method : {tyche::ChainMethod::sequential, tyche::ChainMethod::parallel}) {
      tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 1000, .num_samples = 1000, .num_chains = 2,
                                            .chain_method = method, .progress_bar = false});
      const Clock::time_point start = Clock::now();
      mcmc.run(std::uint64_t(r));
      rate[method == tyche::ChainMethod::parallel] = 2000 / seconds_since(start);
    }
    ratios.push_back(rate[1] / rate[0]);
  }
  return median(ratios);
}

template <class Model>
void bench(const char* name, const Model& model, int seeds, double stan_gradients_per_draw) {
  std::vector<double> per_draw, wall, n_eff_per_second, outside, gradients;
  for (int seed = 0; seed < seeds; ++seed) {
    const Run run = run_once(model, std::uint64_t(seed));
    per_draw.push_back(run.gradients / run.n_eff);
    wall.push_back(run.wall);
    gradients.push_back(run.gradients);
    n_eff_per_second.push_back(run.n_eff / run.wall);
    outside.push_back(run.outside_share);
  }
  std::printf("%-20s %8.3f s %10.0f %10.1f (Stan %4.0f) %12.0f %8.1f%%", name, median(wall), median(gradients),
              median(per_draw), stan_gradients_per_draw, median(n_eff_per_second), 100 * median(outside));
  std::printf(" %8.2fx\n", parallel_speedup(model, 3));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  int seeds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seeds=", 8) == 0)
      seeds = std::max(1, std::atoi(argv[i] + 8));
    else
      only = argv[i];
  }
  const auto selected = [&](const char* name) { return only.empty() || only == name; };
  std::printf("NUTS, 1000 warm-up + 1000 draws, one chain; medians over %d seeds\n", seeds);
  std::printf("%-20s %10s %10s %22s %12s %9s %9s\n", "problem", "wall", "gradients", "gradients/eff. draw",
              "min n_eff/s", "outside", "2 chains");
  if (selected("eight_schools_nc")) {
    const auto schools = tyche_bench::make_eight_schools();
    bench("eight_schools_nc", tyche_bench::eight_schools_model(tyche::Tensor(schools.y), tyche::Tensor(schools.sigma)),
          seeds, 28);
  }
  if (selected("linreg50")) {
    const auto linreg = tyche_bench::make_linreg50();
    bench("linreg50", tyche_bench::linreg_model(tyche::Tensor(linreg.x), tyche::Tensor(linreg.y)), seeds, 13);
  }
  if (selected("logreg_N1000_D3")) {
    const auto data = tyche_bench::make_logreg(1000, 3, 12345);
    bench("logreg_N1000_D3", tyche_bench::logreg_model(tyche::Tensor::view(data.X), tyche::Tensor(data.y)), seeds, 11);
  }
  if (selected("logreg_N100000_D10")) {
    const auto data = tyche_bench::make_logreg(100000, 10, 67890);
    bench("logreg_N100000_D10", tyche_bench::logreg_model(tyche::Tensor::view(data.X), tyche::Tensor(data.y)), seeds,
          11);
  }
}
