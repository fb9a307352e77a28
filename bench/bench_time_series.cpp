// Time-series gradient cost: ARMA(1,1) and GARCH(1,1), T = 200, written
//   - loop: as a C++ loop over scalar Tensors building the location (ARMA) or
//     scale (GARCH) of each step, stacked into one observed site in a plate;
//   - scan: with tyche::scan, one observed site per step stacked by scan;
// each made into its potential energy (tyche::potential_energy, the sampler's
// path) and compiled (tyche::compile_gradient), against
//   - hand: the analytic gradient in plain C++, one forward pass carrying the
//     derivatives of the recursion (forward mode over 4 parameters).
// All three are first checked to agree (relative error < 1e-10 on the value
// and every gradient component; exit 1 otherwise), then timed in interleaved
// rounds of about 100 us each; the median and fastest ns per gradient and
// the median of the rounds' ratios loop/hand and scan/hand are printed
// (issue 16's target: scan at most 3x hand).
//
// Both compiled gradients record every step (the "ops" printed grow with T)
// and replay each step's one-element operations in scalar blocks
// (core/scalar_block.hpp): a table of instructions run by one call each way,
// the moves stacking a step's result folded into the instruction computing
// it. What is left per step is the instructions' own work and their reads
// and writes of the carry's value and gradient in memory, where the hand
// gradient keeps them in registers. On a 2-core AMD EPYC VM at -O2, scan/hand
// went from 9.1 (ARMA) and 5.2 (GARCH), one call per operation each way, to
// 6.1 and 3.0; loop/hand alike.
//
// Models (unconstrained coordinates in the order of the latent layout):
//   ARMA(1,1):  mu ~ N(0, 10), phi ~ N(0, 2), theta ~ N(0, 2), sigma ~ HalfCauchy(5);
//               nu_t = mu + phi y_{t-1} + theta e_{t-1}, e_t = y_t - nu_t (y_{-1} = e_{-1} = 0),
//               y_t ~ N(nu_t, sigma).
//   GARCH(1,1): mu ~ N(0, 10), alpha0 ~ HalfNormal(1), alpha1 ~ U(0, 1), beta1 ~ U(0, 1);
//               h_0 = 1, h_{t+1} = alpha0 + alpha1 (y_t - mu)^2 + beta1 h_t, y_t ~ N(mu, sqrt(h_t)).
// The data are simulated here with a fixed seed.
//
// Run:  cmake --build build --target bench_time_series && ./build/bench/bench_time_series
#include <tyche/effects/scan.hpp>
#include <tyche/tyche.hpp>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace {

using Eigen::VectorXd;
using tyche::Tensor;
namespace dist = tyche::dist;

constexpr std::int64_t kT = 200;
constexpr double kLog2Pi = 1.83787706640934548356;

// ---- ARMA(1,1) -----------------------------------------------------------------

void arma_priors(Tensor& mu, Tensor& phi, Tensor& theta, Tensor& sigma) {
  mu = tyche::sample("mu", dist::Normal(0.0, 10.0));
  phi = tyche::sample("phi", dist::Normal(0.0, 2.0));
  theta = tyche::sample("theta", dist::Normal(0.0, 2.0));
  sigma = tyche::sample("sigma", dist::HalfCauchy(5.0));
}

void arma_loop(const Tensor& y, const Tensor& y_prev) {
  Tensor mu, phi, theta, sigma;
  arma_priors(mu, phi, theta, sigma);
  std::vector<Tensor> nu;
  nu.reserve(std::size_t(y.size()));
  Tensor err = 0.0;
  for (std::int64_t t = 0; t < y.size(); ++t) {
    nu.push_back(mu + phi * y_prev[t] + theta * err);
    err = y[t] - nu.back();
  }
  tyche::plate data("data", y.size());
  tyche::sample("y", dist::Normal(tyche::stack(nu), sigma), y);
}

void arma_scan(const Tensor& y, const Tensor& y_prev) {
  Tensor mu, phi, theta, sigma;
  arma_priors(mu, phi, theta, sigma);
  tyche::scan(
      [&](const Tensor& err, const std::tuple<Tensor, Tensor>& x) {
        const auto& [y_t, y_p] = x;
        const Tensor nu = mu + phi * y_p + theta * err;
        tyche::sample("y", dist::Normal(nu, sigma), y_t);
        return std::pair{y_t - nu, std::nullopt};
      },
      Tensor(0.0), std::tuple{y, y_prev});
}

// -(log joint + log-Jacobian) and its gradient; q = (mu, phi, log sigma, theta), the layout's order.
double arma_hand(const std::vector<double>& y, const VectorXd& q, VectorXd& g) {
  const double mu = q[0], phi = q[1], s = std::exp(q[2]), theta = q[3];
  double lp = -0.5 * (mu * mu / 100 + phi * phi / 4 + theta * theta / 4) - 0.5 * 3 * kLog2Pi - std::log(10.0 * 2 * 2);
  double d_mu = -mu / 100, d_phi = -phi / 4, d_theta = -theta / 4;
  const double z = s / 5;
  lp += std::log(2 / (std::numbers::pi * 5)) - std::log1p(z * z) + q[2];
  double d_log_s = -2 * z * z / (1 + z * z) + 1;
  // Tangents of e_{t-1} with respect to mu, phi, theta.
  double e = 0, de_mu = 0, de_phi = 0, de_theta = 0, y_prev = 0, sum_e2 = 0;
  double a_mu = 0, a_phi = 0, a_theta = 0;  // sum of e_t * de_t/dparam
  for (double v : y) {
    const double nu = mu + phi * y_prev + theta * e;
    const double dnu_mu = 1 + theta * de_mu, dnu_phi = y_prev + theta * de_phi, dnu_theta = e + theta * de_theta;
    e = v - nu;
    de_mu = -dnu_mu;
    de_phi = -dnu_phi;
    de_theta = -dnu_theta;
    sum_e2 += e * e;
    a_mu += e * de_mu;
    a_phi += e * de_phi;
    a_theta += e * de_theta;
    y_prev = v;
  }
  const double n = double(y.size()), inv_s2 = 1 / (s * s);
  lp += -0.5 * sum_e2 * inv_s2 - n * std::log(s) - 0.5 * n * kLog2Pi;
  d_mu -= a_mu * inv_s2;
  d_phi -= a_phi * inv_s2;
  d_theta -= a_theta * inv_s2;
  d_log_s += sum_e2 * inv_s2 - n;
  g[0] = -d_mu;
  g[1] = -d_phi;
  g[2] = -d_log_s;
  g[3] = -d_theta;
  return -lp;
}

// ---- GARCH(1,1) ----------------------------------------------------------------

void garch_priors(Tensor& mu, Tensor& a0, Tensor& a1, Tensor& b1) {
  mu = tyche::sample("mu", dist::Normal(0.0, 10.0));
  a0 = tyche::sample("alpha0", dist::HalfNormal(1.0));
  a1 = tyche::sample("alpha1", dist::Uniform(0.0, 1.0));
  b1 = tyche::sample("beta1", dist::Uniform(0.0, 1.0));
}

void garch_loop(const Tensor& y) {
  Tensor mu, a0, a1, b1;
  garch_priors(mu, a0, a1, b1);
  std::vector<Tensor> scale;
  scale.reserve(std::size_t(y.size()));
  Tensor h = 1.0;
  for (std::int64_t t = 0; t < y.size(); ++t) {
    scale.push_back(tyche::sqrt(h));
    const Tensor r = y[t] - mu;
    h = a0 + a1 * r * r + b1 * h;
  }
  tyche::plate data("data", y.size());
  tyche::sample("y", dist::Normal(mu, tyche::stack(scale)), y);
}

void garch_scan(const Tensor& y) {
  Tensor mu, a0, a1, b1;
  garch_priors(mu, a0, a1, b1);
  tyche::scan(
      [&](const Tensor& h, const Tensor& y_t) {
        tyche::sample("y", dist::Normal(mu, tyche::sqrt(h)), y_t);
        const Tensor r = y_t - mu;
        return std::pair{a0 + a1 * r * r + b1 * h, std::nullopt};
      },
      Tensor(1.0), y);
}

// q = (log alpha0, logit alpha1, logit beta1, mu), the layout's order.
double garch_hand(const std::vector<double>& y, const VectorXd& q, VectorXd& g) {
  const double a0 = std::exp(q[0]), a1 = 1 / (1 + std::exp(-q[1])), b1 = 1 / (1 + std::exp(-q[2])), mu = q[3];
  // Priors and log-Jacobians: HalfNormal(1) on alpha0 (exp), U(0, 1) on alpha1, beta1 (sigmoid).
  double lp = -0.5 * mu * mu / 100 - 0.5 * kLog2Pi - std::log(10.0) + std::log(2.0) - 0.5 * kLog2Pi - 0.5 * a0 * a0 +
              q[0] + std::log(a1) + std::log1p(-a1) + std::log(b1) + std::log1p(-b1);
  double d_mu = -mu / 100, d_a0 = -a0, d_a1 = 0, d_b1 = 0;
  double h = 1, dh_mu = 0, dh_a0 = 0, dh_a1 = 0, dh_b1 = 0;
  for (double v : y) {
    const double r = v - mu, inv_h = 1 / h;
    lp += -0.5 * r * r * inv_h - 0.5 * std::log(h) - 0.5 * kLog2Pi;
    const double dl_dh = 0.5 * r * r * inv_h * inv_h - 0.5 * inv_h;
    d_mu += r * inv_h + dl_dh * dh_mu;
    d_a0 += dl_dh * dh_a0;
    d_a1 += dl_dh * dh_a1;
    d_b1 += dl_dh * dh_b1;
    // h_{t+1} = a0 + a1 r^2 + b1 h_t and its tangents.
    dh_mu = -2 * a1 * r + b1 * dh_mu;
    dh_a0 = 1 + b1 * dh_a0;
    dh_a1 = r * r + b1 * dh_a1;
    dh_b1 = h + b1 * dh_b1;
    h = a0 + a1 * r * r + b1 * h;
  }
  g[0] = -(a0 * d_a0 + 1);
  g[1] = -(a1 * (1 - a1) * d_a1 + 1 - 2 * a1);
  g[2] = -(b1 * (1 - b1) * d_b1 + 1 - 2 * b1);
  g[3] = -d_mu;
  return -lp;
}

// ---- timing --------------------------------------------------------------------

volatile double g_sink = 0;

template <class F>
double ns_per_call(F& f, const VectorXd& q, VectorXd& g, long iterations) {
  double acc = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) acc += f(q, g) + g[0];
  const auto stop = std::chrono::steady_clock::now();
  g_sink = g_sink + acc;
  return std::chrono::duration<double, std::nano>(stop - start).count() / double(iterations);
}

// Iterations for a batch of about 100 us: short batches, many rounds, so that
// a busy machine slows the three alike within a round.
template <class F>
long calibrate(F& f, const VectorXd& q, VectorXd& g) {
  ns_per_call(f, q, g, 1);
  long n = 1;
  while (ns_per_call(f, q, g, n) * double(n) < 1e5) n *= 2;
  return n;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool close(const char* what, double a, double b) {
  const bool ok = std::abs(a - b) <= 1e-10 * std::max(1.0, std::abs(b));
  if (!ok) std::printf("  MISMATCH %s: %.17g vs hand %.17g\n", what, a, b);
  return ok;
}

// Checks loop and scan against hand at q, then times the three.
template <class Loop, class Scan, class Hand>
bool run(const char* name, Loop& loop, Scan& scan, Hand& hand, const VectorXd& q, std::size_t loop_ops,
         std::size_t scan_ops) {
  const Eigen::Index n = q.size();
  VectorXd g_loop(n), g_scan(n), g_hand(n);
  const double v_loop = loop(q, g_loop), v_scan = scan(q, g_scan), v_hand = hand(q, g_hand);
  bool ok = close("loop value", v_loop, v_hand) && close("scan value", v_scan, v_hand);
  for (Eigen::Index i = 0; i < n; ++i)
    ok = close("loop gradient", g_loop[i], g_hand[i]) && close("scan gradient", g_scan[i], g_hand[i]) && ok;
  if (!ok) return false;
  VectorXd g(n);
  const long n_loop = calibrate(loop, q, g), n_scan = calibrate(scan, q, g), n_hand = calibrate(hand, q, g);
  std::vector<double> t_loop, t_scan, t_hand, loop_ratio, scan_ratio;
  for (int round = 0; round < 301; ++round) {
    t_loop.push_back(ns_per_call(loop, q, g, n_loop));
    t_scan.push_back(ns_per_call(scan, q, g, n_scan));
    t_hand.push_back(ns_per_call(hand, q, g, n_hand));
    loop_ratio.push_back(t_loop.back() / t_hand.back());
    scan_ratio.push_back(t_scan.back() / t_hand.back());
  }
  std::printf("%-11s T=%lld  ns per gradient (median; fastest round): loop %6.0f; %6.0f (%zu ops)  scan %6.0f; %6.0f "
              "(%zu ops)  hand %5.0f; %5.0f\n",
              name, static_cast<long long>(kT), median(t_loop), *std::min_element(t_loop.begin(), t_loop.end()),
              loop_ops, median(t_scan), *std::min_element(t_scan.begin(), t_scan.end()), scan_ops, median(t_hand),
              *std::min_element(t_hand.begin(), t_hand.end()));
  std::printf("%-11s median of the rounds' ratios: loop/hand %5.1f  scan/hand %5.1f (target <= 3)\n", "",
              median(loop_ratio), median(scan_ratio));
  return true;
}

}  // namespace

int main() {
  std::mt19937_64 rng(20261202);
  std::normal_distribution<double> normal(0.0, 1.0);

  // ARMA(1,1) data: mu 0.5, phi 0.6, theta 0.3, sigma 0.8.
  std::vector<double> arma_y(kT), arma_prev(kT, 0.0);
  {
    double e = 0, prev = 0;
    for (std::int64_t t = 0; t < kT; ++t) {
      const double eps = 0.8 * normal(rng);
      arma_y[std::size_t(t)] = 0.5 + 0.6 * prev + 0.3 * e + eps;
      arma_prev[std::size_t(t)] = prev;
      e = eps;
      prev = arma_y[std::size_t(t)];
    }
  }
  // GARCH(1,1) data: mu 0.1, alpha0 0.2, alpha1 0.3, beta1 0.5, h_0 = 1.
  std::vector<double> garch_y(kT);
  {
    double h = 1;
    for (std::int64_t t = 0; t < kT; ++t) {
      const double r = std::sqrt(h) * normal(rng);
      garch_y[std::size_t(t)] = 0.1 + r;
      h = 0.2 + 0.3 * r * r + 0.5 * h;
    }
  }
  const Tensor ay(arma_y), ap(arma_prev), gy(garch_y);

  bool ok = true;
  {
    const auto loop_potential = tyche::potential_energy(arma_loop, ay, ap);
    const auto scan_potential = tyche::potential_energy(arma_scan, ay, ap);
    if (loop_potential.layout().names() != "mu, phi, sigma, theta" ||
        scan_potential.layout().names() != "mu, phi, sigma, theta") {
      std::printf("unexpected ARMA layout\n");
      return 1;
    }
    VectorXd q(4);
    q << 0.4, 0.5, std::log(0.9), 0.2;
    auto loop = tyche::compile_gradient(loop_potential, q);
    auto scan = tyche::compile_gradient(scan_potential, q);
    auto hand = [&](const VectorXd& x, VectorXd& g) { return arma_hand(arma_y, x, g); };
    ok = run("ARMA(1,1)", loop, scan, hand, q, loop.size(), scan.size()) && ok;
  }
  {
    const auto loop_potential = tyche::potential_energy(garch_loop, gy);
    const auto scan_potential = tyche::potential_energy(garch_scan, gy);
    if (loop_potential.layout().names() != "alpha0, alpha1, beta1, mu" ||
        scan_potential.layout().names() != "alpha0, alpha1, beta1, mu") {
      std::printf("unexpected GARCH layout\n");
      return 1;
    }
    VectorXd q(4);
    q << std::log(0.25), -0.5, 0.3, 0.05;
    auto loop = tyche::compile_gradient(loop_potential, q);
    auto scan = tyche::compile_gradient(scan_potential, q);
    auto hand = [&](const VectorXd& x, VectorXd& g) { return garch_hand(garch_y, x, g); };
    ok = run("GARCH(1,1)", loop, scan, hand, q, loop.size(), scan.size()) && ok;
  }
  return ok ? 0 : 1;
}
