// The Hamiltonian sampler core (infer/adaptation.hpp, infer/hamiltonian.hpp)
// on model-free potentials written in Eigen: Stan's window schedule and dual
// averaging worked by hand, Welford estimates against direct formulas, the
// no-U-turn criterion where the stopping depth is known, Gaussian moments
// within Monte Carlo standard errors (ESS by batch means), the adapted mass
// matrix and step size, divergences from a potential that throws or returns
// NaN, HMC's step count, reproducibility and continuing from a state.
#include <catch2/catch.hpp>
#include <tyche/infer/hamiltonian.hpp>

#include <Eigen/LU>

#include "require_throws.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
using tyche::HamiltonianChain;
using tyche::HamiltonianSettings;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kDraws = 1000;
#else
constexpr int kDraws = 4000;
#endif

// U(u) = (u - mean)' precision (u - mean) / 2.
tyche::PotentialFunction gaussian_potential(VectorXd mean, MatrixXd precision) {
  return [mean, precision](const Eigen::Ref<const VectorXd>& u, Eigen::Ref<VectorXd> grad) {
    grad.noalias() = precision * (u - mean);
    return 0.5 * (u - mean).dot(grad);
  };
}

tyche::PotentialFunction diagonal_gaussian_potential(VectorXd mean, VectorXd sd) {
  return [mean, sd](const Eigen::Ref<const VectorXd>& u, Eigen::Ref<VectorXd> grad) {
    grad = ((u - mean).array() / sd.array().square()).matrix();
    return 0.5 * ((u - mean).array() / sd.array()).square().sum();
  };
}

// The draws of the sampling transitions, one row per draw, and the gradient
// evaluations they took.
struct Run {
  MatrixXd draws;
  long gradients = 0;
  double accept_prob_sum = 0.0;
  int divergences = 0;
};

Run run_chain(HamiltonianChain& chain, int num_draws) {
  while (chain.warming_up()) chain.transition();
  Run run;
  run.draws.resize(num_draws, chain.position().size());
  for (int i = 0; i < num_draws; ++i) {
    const tyche::TransitionInfo& info = chain.transition();
    run.draws.row(i) = chain.position().transpose();
    run.gradients += info.num_steps;
    run.accept_prob_sum += info.accept_prob;
    run.divergences += info.diverging;
  }
  return run;
}

double sample_mean(const VectorXd& x) { return x.mean(); }
double sample_sd(const VectorXd& x) { return std::sqrt((x.array() - x.mean()).square().sum() / double(x.size() - 1)); }

// Effective sample size by batch means: sqrt(n) batches of sqrt(n) draws;
// the integrated autocorrelation time is the batch size times the ratio of
// the batch means' variance to the draws' variance.
double batch_means_ess(const VectorXd& x) {
  const Eigen::Index n = x.size(), size = Eigen::Index(std::sqrt(double(n))), batches = n / size;
  VectorXd means(batches);
  for (Eigen::Index b = 0; b < batches; ++b) means[b] = x.segment(b * size, size).mean();
  const double variance = std::pow(sample_sd(x.head(batches * size)), 2);
  const double tau = double(size) * std::pow(sample_sd(means), 2) / variance;
  return double(n) / std::max(tau, 1e-3);
}

// Checks each coordinate's mean and sd against the truth within 4 Monte Carlo
// standard errors: sd / sqrt(ESS) for a mean, and for an sd of a Gaussian
// sd / sqrt(2 ESS) with the ESS of the squared deviations (NUTS is
// antithetic for x, with ESS above the number of draws, not for x^2).
void check_moments(const MatrixXd& draws, const VectorXd& mean, const VectorXd& sd) {
  for (Eigen::Index j = 0; j < draws.cols(); ++j) {
    const VectorXd x = draws.col(j);
    const double ess = batch_means_ess(x);
    const double ess_squares = batch_means_ess((x.array() - mean[j]).square().matrix());
    INFO("coordinate " << j << ", ESS " << ess << ", ESS of squares " << ess_squares);
    CHECK(std::abs(sample_mean(x) - mean[j]) < 4 * sd[j] / std::sqrt(ess));
    CHECK(std::abs(sample_sd(x) - sd[j]) < 4 * sd[j] / std::sqrt(2 * ess_squares));
  }
}

HamiltonianSettings fixed_step(double step_size) {
  HamiltonianSettings settings;
  settings.step_size = step_size;
  settings.adapt_step_size = false;
  settings.adapt_mass_matrix = false;
  return settings;
}

// Standard normals drawn with the library's stream, for starting points.
VectorXd standard_normals(Eigen::Index d, std::uint32_t seed) {
  VectorXd z(d);
  tyche::detail::ElementStream stream(tyche::PRNGKey(seed), 0);
  for (Eigen::Index i = 0; i < d; ++i) z[i] = stream.normal();
  return z;
}

}  // namespace

TEST_CASE("Stan's warm-up windows: 75, then 25 doubling, the last stretched, then 50") {
  using W = tyche::AdaptationWindow;
  CHECK(tyche::mass_matrix_windows(1000) == std::vector<W>{{75, 100}, {100, 150}, {150, 250}, {250, 450}, {450, 950}});
  // 75 + 25 + 50 > num_warmup: 15% / 75% / 10%, truncated as Stan's unsigned casts.
  CHECK(tyche::mass_matrix_windows(100) == std::vector<W>{{15, 90}});
  CHECK(tyche::mass_matrix_windows(20) == std::vector<W>{{3, 18}});
  CHECK(tyche::mass_matrix_windows(149) == std::vector<W>{{22, 135}});  // 22.35 and 14.9 truncated
  // Under 20 warm-up iterations only the step size adapts.
  CHECK(tyche::mass_matrix_windows(19).empty());
  CHECK(tyche::mass_matrix_windows(0).empty());
  // The first window keeps its 25; the next would end at 99 + 50 >= 110, so it
  // ends at the terminal buffer (Stan's compute_next_window).
  CHECK(tyche::mass_matrix_windows(160) == std::vector<W>{{75, 100}, {100, 110}});
  CHECK(tyche::mass_matrix_windows(150) == std::vector<W>{{75, 100}});
}

TEST_CASE("Dual averaging: the first update by hand, and convergence to the target") {
  tyche::DualAveraging averaging({}, 0.8);
  averaging.restart(std::log(10.0));
  // n = 1: eta = 1/11, s_bar = (0.8 - 1)/11, x = log 10 - s_bar sqrt(1) / 0.05,
  // x_bar = x (weight 1^-0.75); an accept_prob above 1 counts as 1.
  const double x = std::log(10.0) + 0.2 / 11 / 0.05;
  CHECK(averaging.update(1.7) == Approx(std::exp(x)).epsilon(1e-14));
  CHECK(averaging.final_step_size() == Approx(std::exp(x)).epsilon(1e-14));
  // n = 2 with accept 0.5: s_bar = (1 - 1/12) s_bar + (0.8 - 0.5)/12.
  const double s_bar = (1 - 1.0 / 12) * (-0.2 / 11) + 0.3 / 12;
  const double x2 = std::log(10.0) - s_bar * std::sqrt(2.0) / 0.05;
  const double w = std::pow(2.0, -0.75);
  CHECK(averaging.update(0.5) == Approx(std::exp(x2)).epsilon(1e-14));
  CHECK(averaging.final_step_size() == Approx(std::exp((1 - w) * x + w * x2)).epsilon(1e-14));

  // With accept_prob = exp(-eps) the target 0.8 is reached at eps = -log 0.8.
  averaging.restart(std::log(10.0));
  double eps = 1.0;
  for (int i = 0; i < 5000; ++i) eps = averaging.update(std::exp(-eps));
  CHECK(averaging.final_step_size() == Approx(-std::log(0.8)).epsilon(0.02));
}

TEST_CASE("Welford estimates equal the direct sample variance and covariance, Stan's shrinkage") {
  MatrixXd x(6, 3);
  x << 1.0, 2.0, -1.0, 0.5, 3.5, 0.0, -2.0, 1.0, 4.0, 3.0, 0.0, 2.5, 0.25, -1.0, 1.0, 1.5, 2.0, -3.0;
  tyche::WelfordVariance variance(3);
  tyche::WelfordCovariance covariance(3);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    variance.add(x.row(i).transpose());
    covariance.add(x.row(i).transpose());
  }
  const MatrixXd centered = x.rowwise() - x.colwise().mean();
  const MatrixXd direct = centered.transpose() * centered / 5.0;
  CHECK(variance.count() == 6);
  CHECK((variance.variance() - direct.diagonal()).norm() < 1e-12);
  CHECK((covariance.covariance() - direct).norm() < 1e-12);
  // (n / (n + 5)) estimate + 1e-3 (5 / (n + 5)), on the diagonal for a matrix.
  const VectorXd shrunk = tyche::regularize_variance(direct.diagonal(), 6);
  CHECK(shrunk[1] == Approx(6.0 / 11 * direct(1, 1) + 1e-3 * 5.0 / 11));
  const MatrixXd shrunk_matrix = tyche::regularize_covariance(direct, 6);
  CHECK(shrunk_matrix(0, 2) == Approx(6.0 / 11 * direct(0, 2)));
  CHECK(shrunk_matrix(2, 2) == Approx(6.0 / 11 * direct(2, 2) + 1e-3 * 5.0 / 11));
  variance.restart();
  covariance.restart();
  CHECK(variance.count() == 0);
  CHECK(covariance.count() == 0);
}

namespace {

// An independent account of where Stan's NUTS stops, from the trajectory
// itself: the states at times -backward..forward (time 0 the start, one
// leapfrog step apart), and the direction of each doubling. A span [a, b] of
// states passes the generalised criterion when rho = sum of p over it has a
// positive dot product with p at both ends (unit metric); two adjacent
// halves [a, m], [m + 1, b] merge when [a, b], [a, m + 1] and [m, b] pass.
class StoppingReference {
 public:
  explicit StoppingReference(std::function<const VectorXd&(long)> momentum_at) : momentum_at_(std::move(momentum_at)) {}

  // Replays the doublings in `directions` (+1 forward, -1 backward); returns
  // the depth Stan reports and the leapfrog steps it takes, up to max_depth.
  std::pair<int, long> stop(const std::vector<int>& directions, int max_depth) {
    long forward = 0, backward = 0, steps = 0;
    for (int depth = 0; depth < max_depth; ++depth) {
      const int s = directions.at(std::size_t(depth));
      const long start = (s > 0 ? forward : backward) + 1;
      if (!subtree(start, depth, s, steps)) return {depth, steps};
      const long old_forward = forward, old_backward = backward;
      (s > 0 ? forward : backward) += 1L << depth;
      const long m = s > 0 ? old_forward : -old_backward - 1;
      if (!merges(-backward, m, forward)) return {depth + 1, steps};
    }
    return {max_depth, steps};
  }

 private:
  bool passes(long a, long b) const {
    VectorXd rho = VectorXd::Zero(momentum_at_(a).size());
    for (long k = a; k <= b; ++k) rho += momentum_at_(k);
    return momentum_at_(a).dot(rho) > 0 && momentum_at_(b).dot(rho) > 0;
  }
  bool merges(long a, long m, long b) const { return passes(a, b) && passes(a, m + 1) && passes(m, b); }

  // The subtree of 2^depth steps from integration index start (1 = next to
  // the trajectory's end) in direction s, built first half first.
  bool subtree(long start, int depth, int s, long& steps) const {
    if (depth == 0) {
      ++steps;
      return true;
    }
    const long half = 1L << (depth - 1);
    if (!subtree(start, depth - 1, s, steps) || !subtree(start + half, depth - 1, s, steps)) return false;
    if (s > 0) return merges(start, start + half - 1, start + 2 * half - 1);
    return merges(-(start + 2 * half - 1), -(start + half), -start);
  }

  std::function<const VectorXd&(long)> momentum_at_;
};

}  // namespace

TEST_CASE("NUTS stops where Stan's criterion, applied to the trajectory it integrated, says") {
  // 1-D and correlated 2-D Gaussians at fixed steps with unit metric. The
  // potential records where it is evaluated; from the start q0 and the first
  // point the initial momentum follows (for either direction), hence the
  // whole trajectory both ways, which must reproduce every recorded point;
  // the reference then says where the tree stops. Long steps on the 1-D
  // normal make the extra checks across subtrees decide some trees.
  const int max_depth = 6;
  std::vector<int> depths_seen(max_depth + 1, 0);
  int stopped_inside_a_subtree = 0;
  for (const int dims : {1, 2}) {
    for (const double eps : {0.45, 0.9, 1.3, 1.7, 1.9}) {
      CAPTURE(dims, eps);
      MatrixXd covariance(dims, dims);
      if (dims == 1)
        covariance << 1.0;
      else
        covariance << 1.0, 0.6, 0.6, 4.0;
      const MatrixXd precision = covariance.inverse();
      std::vector<VectorXd> evaluated;
      const tyche::PotentialFunction potential = [&](const Eigen::Ref<const VectorXd>& u, Eigen::Ref<VectorXd> grad) {
        evaluated.push_back(u);
        grad.noalias() = precision * u;
        return 0.5 * u.dot(grad);
      };
      HamiltonianSettings settings = fixed_step(eps);
      settings.max_tree_depth = max_depth;
      HamiltonianChain chain(potential, VectorXd::Constant(dims, 0.5), tyche::PRNGKey(17), settings, 0);
      struct State {
        VectorXd q, p;
      };
      const auto leapfrog = [&](State z, double step) {
        z.p -= 0.5 * step * precision * z.q;
        z.q += step * z.p;
        z.p -= 0.5 * step * precision * z.q;
        return z;
      };
      for (int t = 0; t < 300; ++t) {
        const VectorXd q0 = chain.position();
        evaluated.clear();
        const tyche::TransitionInfo& info = chain.transition();
        REQUIRE(!info.diverging);
        REQUIRE(long(evaluated.size()) == info.num_steps);
        bool explained = false;
        for (const int first_direction : {1, -1}) {
          // The momentum that takes q0 to the first point in this direction.
          const VectorXd p0 = first_direction * (evaluated[0] - q0) / eps + 0.5 * eps * precision * q0;
          std::vector<State> forward{{q0, p0}}, backward{{q0, p0}};
          for (long k = 0; k < info.num_steps; ++k) {
            forward.push_back(leapfrog(forward.back(), eps));
            backward.push_back(leapfrog(backward.back(), -eps));
          }
          // Read the direction of each doubling off the recorded points.
          std::vector<int> directions;
          long used = 0, fwd = 0, bck = 0;
          bool consistent = true;
          for (int depth = 0; used < info.num_steps && consistent; ++depth) {
            const long block = std::min(1L << depth, info.num_steps - used);
            const bool is_forward = (evaluated[std::size_t(used)] - forward[std::size_t(fwd + 1)].q).norm() < 1e-9;
            const std::vector<State>& side = is_forward ? forward : backward;
            long& end = is_forward ? fwd : bck;
            for (long k = 0; k < block; ++k)
              consistent = consistent &&
                           (evaluated[std::size_t(used + k)] - side[std::size_t(end + 1 + k)].q).norm() < 1e-9;
            directions.push_back(is_forward ? 1 : -1);
            end += block;
            used += block;
          }
          if (!consistent) continue;
          directions.resize(max_depth, 1);  // doublings never taken do not matter
          StoppingReference reference([&](long k) -> const VectorXd& {
            return k >= 0 ? forward[std::size_t(k)].p : backward[std::size_t(-k)].p;
          });
          const auto [depth, steps] = reference.stop(directions, max_depth);
          CHECK(info.tree_depth == depth);
          CHECK(info.num_steps == steps);
          explained = true;
          break;
        }
        CHECK(explained);
        ++depths_seen[std::size_t(info.tree_depth)];
        stopped_inside_a_subtree += info.num_steps != (1L << info.tree_depth) - 1;
      }
    }
  }
  // The cases exercise several depths and trees abandoned inside a subtree.
  CHECK(std::count_if(depths_seen.begin(), depths_seen.end(), [](int n) { return n > 0; }) >= 4);
  CHECK(stopped_inside_a_subtree > 100);
}

TEST_CASE("NUTS stops where the no-U-turn criterion says on a high-dimensional standard normal") {
  // In d dimensions from q, p ~ N(0, I) the exact flow gives
  // p(t+) . (q(t+) - q(t-)) = p(t-) . (q(t+) - q(t-)) ~ d sin(T), T = t+ - t-,
  // with fluctuations of order sqrt(d): the criterion fails at the first
  // doubling whose trajectory, (2^depth - 1) steps long, exceeds pi. With
  // d = 400 the mean is at least 0.7 d = 280 from zero at these step sizes
  // against a standard deviation near 20.
  const Eigen::Index d = 400;
  const auto potential = gaussian_potential(VectorXd::Zero(d), MatrixXd::Identity(d, d));
  struct Case {
    double step_size;
    int depth;  // the first with (2^depth - 1) eps > pi: sin < -0.7 there, > 0.7 one doubling before
  };
  for (const Case c : {Case{0.15, 5}, Case{0.075, 6}, Case{0.04, 7}}) {
    CAPTURE(c.step_size);
    HamiltonianChain chain(potential, standard_normals(d, 1), tyche::PRNGKey(3), fixed_step(c.step_size), 0);
    for (int i = 0; i < 20; ++i) {
      const tyche::TransitionInfo& info = chain.transition();
      CHECK(info.tree_depth == c.depth);
      CHECK(info.num_steps == (1 << c.depth) - 1);
      CHECK(!info.diverging);
      CHECK(info.trajectory_length == Approx(c.step_size * info.num_steps));
    }
  }
}

TEST_CASE("NUTS on a flat potential never turns: the tree reaches max_tree_depth") {
  const tyche::PotentialFunction flat = [](const Eigen::Ref<const VectorXd>&, Eigen::Ref<VectorXd> grad) {
    grad.setZero();
    return 0.0;
  };
  HamiltonianSettings settings = fixed_step(0.5);
  settings.max_tree_depth = {4, 6};  // (warm-up, sampling)
  HamiltonianChain chain(flat, VectorXd::Zero(2), tyche::PRNGKey(0), settings, 3);
  for (int i = 0; i < 6; ++i) {
    const bool warmup = chain.warming_up();
    const tyche::TransitionInfo& info = chain.transition();
    CHECK(info.tree_depth == (warmup ? 4 : 6));
    CHECK(info.num_steps == (warmup ? 15 : 63));
    CHECK(info.accept_prob == 1.0);
  }
}

TEST_CASE("A near-perfect integrator accepts everything") {
  // Energy error of leapfrog on a harmonic oscillator is O(eps^2): 1e-6 here.
  const auto potential = gaussian_potential(VectorXd::Zero(1), MatrixXd::Identity(1, 1));
  HamiltonianChain chain(potential, VectorXd::Constant(1, 0.7), tyche::PRNGKey(1), fixed_step(1e-3), 0);
  for (int i = 0; i < 5; ++i) {
    const tyche::TransitionInfo& info = chain.transition();
    CHECK(info.accept_prob > 1 - 1e-5);
    CHECK(info.energy >= info.potential_energy);  // plus a kinetic energy
  }
  CHECK(chain.last_transition().mean_accept_prob > 1 - 1e-5);
}

TEST_CASE("NUTS samples a Gaussian with diagonal and with dense mass: moments within MCSE") {
  SECTION("diagonal, scales 0.5 to 3") {
    const VectorXd mean = (VectorXd(4) << 1.0, -2.0, 0.0, 5.0).finished();
    const VectorXd sd = (VectorXd(4) << 0.5, 1.0, 2.0, 3.0).finished();
    HamiltonianChain chain(diagonal_gaussian_potential(mean, sd), VectorXd::Zero(4), tyche::PRNGKey(11), {}, 1000);
    const Run run = run_chain(chain, kDraws);
    check_moments(run.draws, mean, sd);
    CHECK(run.divergences == 0);
  }
  SECTION("dense, correlated") {
    MatrixXd covariance(3, 3);
    covariance << 4.0, 1.8, -0.6, 1.8, 1.0, -0.3, -0.6, -0.3, 0.25;
    const VectorXd mean = (VectorXd(3) << -1.0, 0.5, 2.0).finished();
    HamiltonianSettings settings;
    settings.dense_mass = true;
    HamiltonianChain chain(gaussian_potential(mean, covariance.inverse()), VectorXd::Zero(3), tyche::PRNGKey(12),
                           settings, 1000);
    const Run run = run_chain(chain, kDraws);
    check_moments(run.draws, mean, covariance.diagonal().cwiseSqrt());
    // The adapted inverse mass matrix estimates the covariance.
    const MatrixXd adapted = chain.inverse_mass_matrix().matrix();
    CHECK(chain.inverse_mass_matrix().dense());
    CHECK((adapted - covariance).norm() < 0.3 * covariance.norm());
    CHECK(run.divergences == 0);
  }
  SECTION("a dense block and a diagonal coordinate") {
    MatrixXd covariance = MatrixXd::Zero(3, 3);
    covariance.topLeftCorner(2, 2) << 1.0, 0.9, 0.9, 1.0;
    covariance(2, 2) = 9.0;
    HamiltonianSettings settings;
    settings.dense_blocks = {{1, 0}};
    HamiltonianChain chain(gaussian_potential(VectorXd::Zero(3), covariance.inverse()), VectorXd::Zero(3),
                           tyche::PRNGKey(13), settings, 1000);
    const Run run = run_chain(chain, kDraws);
    check_moments(run.draws, VectorXd::Zero(3), covariance.diagonal().cwiseSqrt());
    const tyche::InverseMassMatrix& adapted = chain.inverse_mass_matrix();
    REQUIRE(adapted.blocks.size() == 1);
    CHECK(adapted.block_matrices[0](0, 1) == Approx(0.9).margin(0.25));
    CHECK(adapted.diagonal[2] == Approx(9.0).epsilon(0.3));
    CHECK(adapted.matrix()(2, 0) == 0.0);
  }
}

TEST_CASE("On a 2-D Gaussian with correlation 0.99 dense mass gives more ESS per gradient than diagonal") {
  MatrixXd covariance(2, 2);
  covariance << 1.0, 0.99, 0.99, 1.0;
  const auto potential = gaussian_potential(VectorXd::Zero(2), covariance.inverse());
  const auto ess_per_gradient = [&](bool dense) {
    HamiltonianSettings settings;
    settings.dense_mass = dense;
    HamiltonianChain chain(potential, VectorXd::Zero(2), tyche::PRNGKey(21), settings, 1000);
    const Run run = run_chain(chain, kDraws);
    check_moments(run.draws, VectorXd::Zero(2), VectorXd::Ones(2));
    return std::min(batch_means_ess(run.draws.col(0)), batch_means_ess(run.draws.col(1))) / double(run.gradients);
  };
  const double diagonal = ess_per_gradient(false), dense = ess_per_gradient(true);
  INFO("ESS per gradient: diagonal " << diagonal << ", dense " << dense);
  // Diagonal needs trajectories ~ 1 / sqrt(1 - 0.99) = 10 times longer.
  CHECK(dense > 3 * diagonal);
}

TEST_CASE("Warm-up adapts the inverse mass matrix to the variances and the step size to the target") {
  // N(0, diag(s^2)), s from 0.1 to 10 evenly in log.
  const Eigen::Index d = 10;
  VectorXd sd(d);
  for (Eigen::Index i = 0; i < d; ++i) sd[i] = std::pow(10.0, -1.0 + 2.0 * double(i) / double(d - 1));
  HamiltonianChain chain(diagonal_gaussian_potential(VectorXd::Zero(d), sd), VectorXd::Zero(d), tyche::PRNGKey(5),
                         {}, 1000);
  const Run run = run_chain(chain, kDraws);
  const VectorXd adapted = chain.inverse_mass_matrix().diagonal;
  // The last window has 500 draws (ESS a few hundred): the variance within
  // about 4 sqrt(2 / 300) ~ 35%.
  for (Eigen::Index i = 0; i < d; ++i) {
    CAPTURE(i);
    CHECK(adapted[i] / (sd[i] * sd[i]) == Approx(1.0).margin(0.35));
  }
  const double mean_accept = run.accept_prob_sum / kDraws;
  // Stan's warm-up ends with dual averaging over the 50 iterations of the
  // terminal buffer only, which leaves the mean acceptance above the target
  // (0.86 to 0.90 here for any num_warmup from 150 to 20000, as Stan's
  // accept_stat__ on Gaussians); the averaging itself converges to the target
  // (the dual averaging test).
  CHECK(mean_accept > 0.8);
  CHECK(mean_accept < 0.92);
  CHECK(chain.last_transition().mean_accept_prob == Approx(mean_accept).epsilon(1e-12));
  check_moments(run.draws, VectorXd::Zero(d), sd);
}

TEST_CASE("A potential that throws or returns NaN mid-trajectory gives divergences and finite draws") {
  // A standard normal whose potential fails beyond |u| = 1.5 in the first
  // coordinate: trajectories that go there end as divergences.
  enum class Failure { throws, nan_value, nan_gradient };
  for (const Failure failure : {Failure::throws, Failure::nan_value, Failure::nan_gradient}) {
    CAPTURE(int(failure));
    const tyche::PotentialFunction potential = [failure](const Eigen::Ref<const VectorXd>& u,
                                                         Eigen::Ref<VectorXd> grad) {
      grad = u;
      if (std::abs(u[0]) > 1.5) {
        if (failure == Failure::throws) throw std::domain_error("outside the support");
        grad[0] = std::nan("");
        if (failure == Failure::nan_value) return std::nan("");
      }
      return 0.5 * u.squaredNorm();
    };
    for (const auto algorithm : {HamiltonianSettings::Algorithm::nuts, HamiltonianSettings::Algorithm::hmc}) {
      HamiltonianSettings settings;
      settings.algorithm = algorithm;
      settings.num_steps = 5;
      HamiltonianChain chain(potential, VectorXd::Zero(2), tyche::PRNGKey(8), settings, 200);
      const Run run = run_chain(chain, 500);
      CHECK(run.divergences > 0);
      CHECK(run.draws.allFinite());
      CHECK((run.draws.col(0).array().abs() <= 1.5).all());
      CHECK(std::isfinite(chain.step_size()));
    }
  }
}

TEST_CASE("Momentum normals: mean 0, variance 1 and the two-sided tail beyond 2 of a standard normal") {
  // 20000 keys x 5 coordinates (odd: the last of a pair is dropped), each
  // statistic within 4 standard errors of its value.
  const int keys = 20000;
  const double n = 5.0 * keys;
  double sum = 0, sum_squares = 0, beyond_two = 0;
  VectorXd z(5);
  for (int k = 0; k < keys; ++k) {
    tyche::detail::draw_standard_normals(tyche::fold_in(tyche::PRNGKey(11), std::uint32_t(k)), z);
    sum += z.sum();
    sum_squares += z.squaredNorm();
    beyond_two += double((z.array().abs() > 2.0).count());
  }
  const double tail = std::erfc(2.0 / std::sqrt(2.0));  // P(|z| > 2) = 0.0455
  CHECK(std::abs(sum / n) < 4 / std::sqrt(n));
  CHECK(std::abs(sum_squares / n - 1.0) < 4 * std::sqrt(2.0 / n));
  CHECK(std::abs(beyond_two / n - tail) < 4 * std::sqrt(tail * (1 - tail) / n));
}

TEST_CASE("Multinomial weights in linear and in log space: the same sums, shares and ratios") {
  using tyche::detail::LinearWeights;
  using tyche::detail::LogWeights;
  double share = 0.0;
  // Weights 2 and 6: the sum 8, the second's share 6 / 8, either order.
  CHECK(LinearWeights::merge(2.0, 6.0, share) == Approx(8.0));
  CHECK(share == Approx(0.75));
  CHECK(LogWeights::merge(std::log(2.0), std::log(6.0), share) == Approx(std::log(8.0)));
  CHECK(share == Approx(0.75));
  CHECK(LogWeights::merge(std::log(6.0), std::log(2.0), share) == Approx(std::log(8.0)));
  CHECK(share == Approx(0.25));
  CHECK(LinearWeights::ratio(6.0, 8.0) == Approx(0.75));
  CHECK(LogWeights::ratio(std::log(6.0), std::log(8.0)) == Approx(0.75));
  // A state's weight exp(H0 - H) and its acceptance min(1, exp(H0 - H)).
  for (const double log_weight : {-3.0, 0.5}) {
    const double weight = LinearWeights::of_state(log_weight);
    CHECK(weight == Approx(std::exp(log_weight)));
    CHECK(LinearWeights::accept_prob(log_weight, weight) == Approx(std::min(1.0, std::exp(log_weight))));
    CHECK(LogWeights::accept_prob(log_weight, LogWeights::of_state(log_weight)) ==
          Approx(std::min(1.0, std::exp(log_weight))));
  }
  // Linear weights stop where a sum of 2^30 of them could overflow (a
  // depth of 30 at most); two weights that underflowed keep the first state.
  CHECK(LinearWeights::fits(649.0));
  CHECK_FALSE(LinearWeights::fits(651.0));
  CHECK(std::isfinite(std::ldexp(std::exp(649.0), 30)));
  CHECK(LogWeights::fits(1e6));
  LinearWeights::merge(0.0, 0.0, share);
  CHECK_FALSE(0.5 < share);
}

TEST_CASE("An energy that falls by 800 within a trajectory: the chain crosses and samples what lies beyond") {
  // U = 800 + 5 (1 - u) left of u = 1 (a slope towards the cliff), then
  // (u - 3)^2 / 2: crossing lowers the energy by about 800, beyond what a
  // weight exp(H0 - H) holds in a double, so those transitions are
  // integrated in log space. Beyond the cliff the target is N(3, 1) cut at 1
  // (coming back costs exp(-798)), whose mean is 3 + phi(2) / Phi(2).
  const tyche::PotentialFunction potential = [](const Eigen::Ref<const VectorXd>& u, Eigen::Ref<VectorXd> grad) {
    if (u[0] < 1) {
      grad[0] = -5.0;
      return 800.0 + 5.0 * (1.0 - u[0]);
    }
    grad[0] = u[0] - 3.0;
    return 0.5 * (u[0] - 3.0) * (u[0] - 3.0);
  };
  HamiltonianChain chain(potential, VectorXd::Zero(1), tyche::PRNGKey(9), fixed_step(0.2), 0);
  int first_beyond = -1;
  for (int i = 0; i < 50 && first_beyond < 0; ++i) {
    const double start = chain.potential_energy();
    chain.transition();
    REQUIRE(std::isfinite(chain.position()[0]));
    if (chain.position()[0] >= 1) {
      first_beyond = i;
      CHECK(start - chain.potential_energy() > 700);
      CHECK(std::isfinite(chain.last_transition().energy));
    }
  }
  REQUIRE(first_beyond >= 0);
  const Run run = run_chain(chain, kDraws);
  CHECK((run.draws.col(0).array() >= 1).all());
  const double phi2 = std::exp(-2.0) / std::sqrt(2 * std::numbers::pi), Phi2 = 0.5 * std::erfc(-2.0 / std::sqrt(2.0));
  const double mean = 3.0 + phi2 / Phi2;
  const double sd = std::sqrt(1.0 - 2.0 * phi2 / Phi2 - std::pow(phi2 / Phi2, 2));
  const VectorXd x = run.draws.col(0);
  CHECK(std::abs(sample_mean(x) - mean) < 4 * sd / std::sqrt(batch_means_ess(x)));
}

TEST_CASE("A potential that fails at the initial point is an error") {
  const tyche::PotentialFunction throwing = [](const Eigen::Ref<const VectorXd>&, Eigen::Ref<VectorXd>) -> double {
    throw std::domain_error("scale must be positive");
  };
  REQUIRE_THROWS_AS(HamiltonianChain(throwing, VectorXd::Zero(2), tyche::PRNGKey(0), {}, 10), std::domain_error);
  const tyche::PotentialFunction infinite = [](const Eigen::Ref<const VectorXd>&, Eigen::Ref<VectorXd> grad) {
    grad.setZero();
    return std::numeric_limits<double>::infinity();
  };
  REQUIRE_THROWS_CONTAINING(HamiltonianChain(infinite, VectorXd::Zero(2), tyche::PRNGKey(0), {}, 10),
                            std::invalid_argument, "not finite at the initial point");
}

TEST_CASE("HMC: num_steps fixed or ceil(trajectory_length / step_size), Gaussian moments") {
  SECTION("trajectory_length 2 pi at step 0.3 takes ceil(20.94) = 21 steps") {
    HamiltonianSettings settings = fixed_step(0.3);
    settings.algorithm = HamiltonianSettings::Algorithm::hmc;
    const auto potential = gaussian_potential(VectorXd::Zero(2), MatrixXd::Identity(2, 2));
    HamiltonianChain chain(potential, VectorXd::Ones(2), tyche::PRNGKey(0), settings, 0);
    const tyche::TransitionInfo& info = chain.transition();
    CHECK(info.num_steps == 21);
    CHECK(info.trajectory_length == Approx(0.3 * 21));
    CHECK(info.tree_depth == 0);
  }
  SECTION("num_steps 10 with adaptation") {
    const VectorXd mean = (VectorXd(3) << 2.0, 0.0, -1.0).finished();
    const VectorXd sd = (VectorXd(3) << 1.0, 0.3, 2.0).finished();
    HamiltonianSettings settings;
    settings.algorithm = HamiltonianSettings::Algorithm::hmc;
    settings.num_steps = 10;
    HamiltonianChain chain(diagonal_gaussian_potential(mean, sd), VectorXd::Zero(3), tyche::PRNGKey(4), settings, 500);
    const Run run = run_chain(chain, kDraws);
    CHECK(run.gradients == 10L * kDraws);
    check_moments(run.draws, mean, sd);
    // Above the target for the reason the warm-up test gives; with a fixed
    // number of steps the mean acceptance varies more from chain to chain
    // (over 60 keys: mean 0.92, sd 0.018, largest 0.975), and is never 1
    // unless adaptation or the Metropolis step is broken.
    CHECK(run.accept_prob_sum / kDraws > 0.8);
    CHECK(run.accept_prob_sum / kDraws < 0.99);
  }
}

TEST_CASE("The same key gives the same draws, another key other draws") {
  const auto potential = gaussian_potential(VectorXd::Zero(3), MatrixXd::Identity(3, 3));
  HamiltonianSettings settings;
  settings.step_size_jitter = 0.2;
  const auto draws = [&](std::uint64_t seed) {
    HamiltonianChain chain(potential, VectorXd::Zero(3), tyche::PRNGKey(seed), settings, 100);
    return run_chain(chain, 50).draws;
  };
  CHECK(draws(7) == draws(7));
  CHECK(draws(7) != draws(8));
}

TEST_CASE("A chain continued from its state draws what the original chain draws next") {
  const auto potential = gaussian_potential(VectorXd::Zero(3), MatrixXd::Identity(3, 3));
  HamiltonianSettings settings;
  settings.dense_mass = true;
  HamiltonianChain chain(potential, VectorXd::Zero(3), tyche::PRNGKey(9), settings, 150);
  run_chain(chain, 10);
  const tyche::ChainState state = chain.state();
  CHECK(state.iteration == 160);
  CHECK(state.step_size == chain.step_size());
  HamiltonianChain continued(state, potential, settings);
  CHECK(!continued.warming_up());
  CHECK(continued.inverse_mass_matrix().matrix() == chain.inverse_mass_matrix().matrix());
  for (int i = 0; i < 20; ++i) {
    chain.transition();
    continued.transition();
    CHECK(continued.position() == chain.position());
  }
  CHECK(continued.state().iteration == 180);
}

TEST_CASE("Invalid settings are errors naming the setting and the value") {
  const auto potential = gaussian_potential(VectorXd::Zero(2), MatrixXd::Identity(2, 2));
  const auto make = [&](HamiltonianSettings settings) {
    return HamiltonianChain(potential, VectorXd::Zero(2), tyche::PRNGKey(0), settings, 10);
  };
  HamiltonianSettings bad_target;
  bad_target.target_accept_prob = 1.0;
  REQUIRE_THROWS_CONTAINING(make(bad_target), std::invalid_argument, "target_accept_prob", "1.0");
  HamiltonianSettings bad_block;
  bad_block.dense_blocks = {{0, 2}};
  REQUIRE_THROWS_CONTAINING(make(bad_block), std::invalid_argument, "dense block coordinate 2");
  HamiltonianSettings bad_step;
  bad_step.step_size = -0.1;
  REQUIRE_THROWS_CONTAINING(make(bad_step), std::invalid_argument, "step_size", "-0.1");
  HamiltonianSettings bad_jitter;
  bad_jitter.step_size_jitter = 2;
  REQUIRE_THROWS_CONTAINING(make(bad_jitter), std::invalid_argument, "step_size_jitter");
}

TEST_CASE("The U-turn check of two adjacent leaves is Stan's three checks bit for bit") {
  // build_pair and the first doubling merge two one-state halves with the
  // two-sum check; Stan's general merge on the same halves (each half's
  // rho, start and end its one momentum) must give the same rho and the
  // same answer. Random momenta and velocities of mixed signs, so that
  // both answers occur; 1 to 9 coordinates cover the vector loops' tails.
  std::uint32_t counter = 0;
  int passed = 0, failed = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const Eigen::Index n = 1 + trial % 9;
    VectorXd p_a(n), v_a(n), p_b(n), v_b(n);
    for (VectorXd* x : {&p_a, &v_a, &p_b, &v_b})
      for (Eigen::Index i = 0; i < n; ++i) {
        const auto words = tyche::detail::threefry2x32(tyche::PRNGKey(5), 7, counter++);
        (*x)[i] = (double(words[0]) / 4294967296.0 - 0.35) * std::ldexp(1.0, int(words[1] % 9) - 4);
      }
    VectorXd rho_general(n), rho_leaves(n);
    const bool general = tyche::detail::merge_and_check_u_turn({p_a, v_a, p_a, v_a, p_a}, {p_b, v_b, p_b, v_b, p_b},
                                                               rho_general);
    const bool leaves = tyche::detail::merge_leaves_and_check_u_turn(p_a, v_a, p_b, v_b, rho_leaves);
    CHECK(general == leaves);
    CHECK((rho_general.array() == rho_leaves.array()).all());
    CHECK((rho_leaves.array() == (p_a + p_b).array()).all());
    (leaves ? passed : failed) += 1;
  }
  CHECK(passed > 50);
  CHECK(failed > 50);
}
