// HamiltonianChain: one chain of NUTS or HMC on a potential energy U(u) over
// the unconstrained space, with Stan's warm-up. Model-free: MCMC builds the
// potential from a model and drives one chain per thread.
//
//   tyche::PotentialFunction potential = [](const auto& u, auto grad) { grad = u; return 0.5 * u.squaredNorm(); };
//   tyche::HamiltonianChain chain(potential, Eigen::VectorXd::Zero(3), tyche::PRNGKey(0), {}, /*num_warmup=*/500);
//   for (int i = 0; i < 1500; ++i) {
//     const tyche::TransitionInfo& info = chain.transition();
//     if (!chain.warming_up()) use(chain.position(), info.diverging);
//   }
//
// NUTS follows Stan 2.32's base_nuts.hpp, not NumPyro's iterative variant:
// the trajectory doubles in a random direction; a state is drawn from each
// new subtree in proportion to exp(-H) (multinomial), uniformly within
// subtrees and biased towards the new subtree at the top level; it stops at
// max_tree_depth, at a divergence (H - H0 > max_delta_energy, a potential that
// throws or is not finite) or when the generalised no-U-turn criterion on the
// summed momenta (rho) fails across the merged trajectory or across either
// end of its two halves (Stan's two extra checks).
//
// HMC is Pyro's and NumPyro's: num_steps leapfrog steps (or
// ceil(trajectory_length / step_size) of them), then a Metropolis accept.
//
// After warm-up, transition() allocates nothing: every buffer is a member.
//
// The classes here are templates behind their usual names (using
// HamiltonianChain = HamiltonianChainT<>) and the helpers templates over a
// defaulted parameter, the idiom of core/tensor.hpp: including tyche
// compiles none of the sampler, a program that samples compiles it once.
#pragma once

#include "tyche/distributions/key.hpp"
#include "tyche/distributions/random.hpp"
#include "tyche/infer/adaptation.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tyche {

// U(u), with its gradient written into grad. It may throw (any
// std::exception) or return a non-finite value: inside a trajectory either
// ends the trajectory as a divergence.
using PotentialFunction =
    std::function<double(const Eigen::Ref<const Eigen::VectorXd>& u, Eigen::Ref<Eigen::VectorXd> grad)>;

// NumPyro's max_tree_depth: one depth, or one for warm-up and one for sampling.
struct MaxTreeDepth {
  int warmup = 10, sampling = 10;
  MaxTreeDepth(int depth = 10) : warmup(depth), sampling(depth) {}  // implicit on purpose: .max_tree_depth = 12
  MaxTreeDepth(int warmup_depth, int sampling_depth) : warmup(warmup_depth), sampling(sampling_depth) {}
};

// Everything a chain needs, model-free; MCMC fills it from NUTSOptions or
// HMCOptions.
struct HamiltonianSettings {
  enum class Algorithm { nuts, hmc } algorithm = Algorithm::nuts;
  int num_steps = 0;                                // HMC: > 0 fixes the number of leapfrog steps
  double trajectory_length = 2 * std::numbers::pi;  // HMC when num_steps == 0
  double step_size = 1.0;
  bool adapt_step_size = true;
  bool adapt_mass_matrix = true;
  bool dense_mass = false;                              // one dense block over all coordinates
  std::vector<std::vector<Eigen::Index>> dense_blocks;  // or dense blocks of coordinates, the rest diagonal
  double target_accept_prob = 0.8;
  MaxTreeDepth max_tree_depth = {};
  bool find_heuristic_step_size = true;  // Stan's init_stepsize at the start and after each mass-matrix window
  bool regularize_mass_matrix = true;    // Stan's shrinkage of the Welford estimate
  double max_delta_energy = 1000.0;
  double step_size_jitter = 0.0;  // Stan's stepsize_jitter in [0, 1]: each step size uniform in eps (1 +- jitter)
  DualAveragingSettings dual_averaging = {};
};

// What one transition reports: NumPyro's extra fields and Stan's tree depth.
struct TransitionInfo {
  bool diverging = false;
  double accept_prob = 0.0;       // NUTS: mean of min(1, exp(H0 - H)) over the tree's leapfrog steps
  double mean_accept_prob = 0.0;  // running mean of accept_prob, restarted when sampling starts
  int num_steps = 0;              // leapfrog steps (gradient evaluations) in this transition
  int tree_depth = 0;             // NUTS: doublings kept (Stan's treedepth__); HMC: 0
  double potential_energy = 0.0;  // U at the new position
  double energy = 0.0;            // U + kinetic energy of the state drawn
  double trajectory_length = 0.0;  // step_size * num_steps
  double step_size = 0.0;          // the step size used (jittered when step_size_jitter > 0)
};

// The inverse mass matrix: a diagonal entry per coordinate, and with dense
// blocks each block's matrix over its coordinates (the diagonal repeats the
// blocks' diagonals).
struct InverseMassMatrix {
  Eigen::VectorXd diagonal;
  std::vector<std::vector<Eigen::Index>> blocks;
  std::vector<Eigen::MatrixXd> block_matrices;

  bool dense() const { return !blocks.empty(); }
  // The whole matrix, zero between blocks and off the diagonal elsewhere.
  template <class M = Eigen::MatrixXd>
  M matrix() const {
    M m = diagonal.asDiagonal();
    for (std::size_t b = 0; b < blocks.size(); ++b)
      for (std::size_t i = 0; i < blocks[b].size(); ++i)
        for (std::size_t j = 0; j < blocks[b].size(); ++j)
          m(blocks[b][i], blocks[b][j]) = block_matrices[b](Eigen::Index(i), Eigen::Index(j));
    return m;
  }
};

// A chain's state after warm-up (NumPyro's post_warmup_state): a chain
// constructed from it continues without warm-up.
struct ChainState {
  Eigen::VectorXd position;
  Eigen::VectorXd grad;
  double potential_energy = 0.0;
  double step_size = 1.0;
  InverseMassMatrix inverse_mass_matrix;
  Key key;
  std::int64_t iteration = 0;  // transitions done so far, warm-up included
};

namespace detail {

// Standard normals for a momentum: Marsaglia's polar method on the two
// 32-bit words of one Threefry block (the blocks of counters (0, n) under the
// key), a pair per accepted block (pi / 4 of them): one log, one sqrt and one
// division per pair where Box-Muller adds a sincos. On the grid of 2^-31 the
// radius's tail is exact down to probabilities near 1e-18 (s >= 2^-63; x and
// y are never 0); JAX's float32 normals that NumPyro draws stop nearer 5.4.
template <class = void>
inline void draw_standard_normals(Key key, Eigen::VectorXd& out) {
  const Eigen::Index n = out.size();
  std::uint32_t block = 0;
  for (Eigen::Index i = 0; i < n; i += 2) {
    double x, y, s;
    do {
      const auto words = threefry2x32(key, 0, block++);
      x = (double(words[0]) + 0.5) * 0x1p-31 - 1.0;
      y = (double(words[1]) + 0.5) * 0x1p-31 - 1.0;
      s = x * x + y * y;
    } while (s >= 1.0);
    const double factor = std::sqrt(-2.0 * std::log(s) / s);
    out[i] = x * factor;
    if (i + 1 < n) out[i + 1] = y * factor;
  }
}

// Uniforms in (0, 1) for the sampler's choices (direction, multinomial
// merges, Metropolis, jitter): two per Threefry block, 32 bits each, which is
// the resolution of the generator Stan draws them from (ecuyer1988). The
// blocks of counters (1, n) under the key: a transition draws its momentum
// and its uniforms from one key.
template <class = void>
class UniformStreamT {
 public:
  explicit UniformStreamT(Key key) : key_(key) {}
  double uniform() {
    if (spare_) {
      spare_ = false;
      return (double(word_) + 0.5) * 0x1p-32;
    }
    const auto words = threefry2x32(key_, 1, block_++);
    word_ = words[1];
    spare_ = true;
    return (double(words[0]) + 0.5) * 0x1p-32;
  }

 private:
  Key key_;
  std::uint32_t block_ = 0, word_ = 0;
  bool spare_ = false;
};
using UniformStream = UniformStreamT<>;

// Copies, sums and axpys of the hot loop written as plain loops: on the
// short vectors of small models Eigen's generic assignment costs several
// times the arithmetic, and these vectorise as well on long ones.
template <class = void>
inline void copy(Eigen::VectorXd& to, const Eigen::VectorXd& from) {
  std::copy_n(from.data(), from.size(), to.data());
}
template <class = void>
inline void add_scaled(Eigen::VectorXd& to, double alpha, const Eigen::VectorXd& x) {
  double* __restrict t = to.data();
  const double* y = x.data();
  for (Eigen::Index i = 0, n = to.size(); i < n; ++i) t[i] += alpha * y[i];
}

// The multinomial weight of a state is exp(H0 - H), H0 the energy the
// trajectory starts from. NUTS sums weights over subtrees and draws with
// their ratios. LinearWeights holds the weights themselves: one exp per
// leapfrog step (shared with the acceptance statistic) and a sum and a
// division per merge. A weight under exp(-708) rounds to zero, which only
// drops states whose chance of being drawn is below that (the starting state
// weighs 1); a weight over exp(650) (the energy falling by 650 within one
// trajectory, far out in warm-up; below that even 2^30 steps sum under
// the largest double) does not fit, and the transition is
// integrated again with LogWeights, Stan's log-sum-exp, one exp and one log1p
// per merge. Both draw from the same distribution.
struct LinearWeights {
  static constexpr double starting_state = 1.0;
  static bool fits(double log_weight) { return log_weight < 650; }
  static double of_state(double log_weight) { return std::exp(log_weight); }
  static double accept_prob(double, double weight) { return std::min(1.0, weight); }
  // The sum a + b, with the share of b in it.
  static double merge(double a, double b, double& share_of_b) {
    const double sum = a + b;
    share_of_b = b / sum;  // NaN when both round to zero: the first is kept
    return sum;
  }
  static double ratio(double a, double b) { return a / b; }
};

struct LogWeights {
  static constexpr double starting_state = 0.0;
  static bool fits(double) { return true; }
  static double of_state(double log_weight) { return log_weight; }
  static double accept_prob(double log_weight, double) { return log_weight > 0 ? 1.0 : std::exp(log_weight); }
  static double merge(double a, double b, double& share_of_b) {
    if (a > b) {
      const double e = std::exp(b - a);
      share_of_b = e / (1.0 + e);
      return a + std::log1p(e);
    }
    const double e = std::exp(a - b);
    share_of_b = 1.0 / (1.0 + e);
    return b + std::log1p(e);
  }
  static double ratio(double a, double b) { return std::exp(a - b); }
};

// Kinetic energy p' M^-1 p / 2 with a diagonal inverse mass matrix.
template <class = void>
class DiagonalMetricT {
 public:
  void set(const Eigen::VectorXd& inverse_mass) {
    if (!(inverse_mass.array() > 0).all() || !inverse_mass.allFinite())
      throw std::runtime_error("tyche: HamiltonianChain: the inverse mass matrix diagonal must be positive and finite");
    inverse_mass_ = inverse_mass;
    mass_sqrt_ = inverse_mass_.cwiseSqrt().cwiseInverse();
  }
  // velocity = M^-1 p, the derivative of the kinetic energy (Stan's p_sharp).
  void velocity(const Eigen::VectorXd& p, Eigen::VectorXd& v) const {
    double* __restrict out = v.data();
    const double *m = inverse_mass_.data(), *x = p.data();
    for (Eigen::Index i = 0, n = v.size(); i < n; ++i) out[i] = m[i] * x[i];
  }
  // A leapfrog step's first half, fused: p -= (eps / 2) grad, q += eps M^-1 p.
  void kick_and_drift(Eigen::VectorXd& q, Eigen::VectorXd& p, Eigen::VectorXd&, const Eigen::VectorXd& grad,
                      double eps) const {
    // Restrict-qualified parameters, which the compiler honours (unlike
    // restrict-qualified locals): no run-time checks of overlap.
    const auto pass = [](Eigen::Index n, double eps, const double* __restrict m, const double* __restrict g,
                         double* __restrict x, double* __restrict r) {
      for (Eigen::Index i = 0; i < n; ++i) {
        r[i] -= 0.5 * eps * g[i];
        x[i] += eps * (m[i] * r[i]);
      }
    };
    pass(q.size(), eps, inverse_mass_.data(), grad.data(), q.data(), p.data());
  }
  // Its second half: p -= (eps / 2) grad, and the velocity M^-1 p; returns
  // the kinetic energy p' M^-1 p / 2.
  double kick(Eigen::VectorXd& p, Eigen::VectorXd& v, const Eigen::VectorXd& grad, double eps) const {
    const auto pass = [](Eigen::Index n, double eps, const double* __restrict m, const double* __restrict g,
                         double* __restrict r, double* __restrict out) {
      double twice_kinetic = 0.0;
      for (Eigen::Index i = 0; i < n; ++i) {
        r[i] -= 0.5 * eps * g[i];
        out[i] = m[i] * r[i];
        twice_kinetic += r[i] * out[i];
      }
      return 0.5 * twice_kinetic;
    };
    return pass(p.size(), eps, inverse_mass_.data(), grad.data(), p.data(), v.data());
  }
  // p ~ N(0, M), from standard normals in p.
  void scale_momentum(Eigen::VectorXd& p) const { p.array() *= mass_sqrt_.array(); }

 private:
  Eigen::VectorXd inverse_mass_, mass_sqrt_;
};
using DiagonalMetric = DiagonalMetricT<>;

// Dense blocks of coordinates, each with its own inverse mass matrix, the
// other coordinates diagonal; dense_mass is one block of every coordinate.
template <class = void>
class BlockMetricT {
 public:
  void set(const InverseMassMatrix& inverse_mass) {
    const Eigen::Index d = inverse_mass.diagonal.size();
    std::vector<bool> in_block(std::size_t(d), false);
    blocks_.clear();
    for (std::size_t b = 0; b < inverse_mass.blocks.size(); ++b) {
      Block block;
      block.indices = inverse_mass.blocks[b];
      block.inverse_mass = inverse_mass.block_matrices[b];
      Eigen::LLT<Eigen::MatrixXd> llt(block.inverse_mass);
      if (llt.info() != Eigen::Success || !block.inverse_mass.allFinite())
        throw std::runtime_error("tyche: HamiltonianChain: the inverse mass matrix of dense block " + std::to_string(b) +
                                 " is not positive definite");
      block.cholesky = llt.matrixL();
      block.local_in.resize(Eigen::Index(block.indices.size()));
      block.local_out.resize(Eigen::Index(block.indices.size()));
      for (Eigen::Index i : block.indices) in_block[std::size_t(i)] = true;
      blocks_.push_back(std::move(block));
    }
    diagonal_indices_.clear();
    for (Eigen::Index i = 0; i < d; ++i)
      if (!in_block[std::size_t(i)]) diagonal_indices_.push_back(i);
    diagonal_ = inverse_mass.diagonal;
    for (Eigen::Index i : diagonal_indices_)
      if (!(diagonal_[i] > 0) || !std::isfinite(diagonal_[i]))
        throw std::runtime_error("tyche: HamiltonianChain: the inverse mass matrix diagonal must be positive and finite");
  }
  void velocity(const Eigen::VectorXd& p, Eigen::VectorXd& v) const {
    for (Eigen::Index i : diagonal_indices_) v[i] = diagonal_[i] * p[i];
    for (const Block& block : blocks_) {
      const Eigen::Index n = block.local_in.size();
      for (Eigen::Index k = 0; k < n; ++k) block.local_in[k] = p[block.indices[std::size_t(k)]];
      block.local_out.noalias() = block.inverse_mass * block.local_in;
      for (Eigen::Index k = 0; k < n; ++k) v[block.indices[std::size_t(k)]] = block.local_out[k];
    }
  }
  void kick_and_drift(Eigen::VectorXd& q, Eigen::VectorXd& p, Eigen::VectorXd& v, const Eigen::VectorXd& grad,
                      double eps) const {
    add_scaled(p, -0.5 * eps, grad);
    velocity(p, v);
    add_scaled(q, eps, v);
  }
  double kick(Eigen::VectorXd& p, Eigen::VectorXd& v, const Eigen::VectorXd& grad, double eps) const {
    add_scaled(p, -0.5 * eps, grad);
    velocity(p, v);
    return 0.5 * p.dot(v);
  }
  // With M^-1 = L L', p = L'^-1 z has covariance (L L')^-1 = M.
  void scale_momentum(Eigen::VectorXd& p) const {
    for (Eigen::Index i : diagonal_indices_) p[i] /= std::sqrt(diagonal_[i]);
    for (const Block& block : blocks_) {
      const Eigen::Index n = block.local_in.size();
      for (Eigen::Index k = 0; k < n; ++k) block.local_in[k] = p[block.indices[std::size_t(k)]];
      block.cholesky.transpose().template triangularView<Eigen::Upper>().solveInPlace(block.local_in);
      for (Eigen::Index k = 0; k < n; ++k) p[block.indices[std::size_t(k)]] = block.local_in[k];
    }
  }

 private:
  struct Block {
    std::vector<Eigen::Index> indices;
    Eigen::MatrixXd inverse_mass, cholesky;
    mutable Eigen::VectorXd local_in, local_out;  // gathered coordinates: scratch, not state
  };
  std::vector<Block> blocks_;
  std::vector<Eigen::Index> diagonal_indices_;
  Eigen::VectorXd diagonal_;
};
using BlockMetric = BlockMetricT<>;

// A point of the trajectory being integrated.
struct PhasePoint {
  Eigen::VectorXd position, momentum, grad, velocity;
  double potential = 0.0;
  explicit PhasePoint(Eigen::Index d) : position(d), momentum(d), grad(d), velocity(d) {}
};

// A state a (sub)tree proposes: what the next transition starts from.
struct Proposal {
  Eigen::VectorXd position, grad;
  double potential = 0.0, energy = 0.0;
  explicit Proposal(Eigen::Index d) : position(d), grad(d) {}
};

template <class = void>
inline void swap(Proposal& a, Proposal& b) noexcept {
  a.position.swap(b.position);
  a.grad.swap(b.grad);
  std::swap(a.potential, b.potential);
  std::swap(a.energy, b.energy);
}

// The first leaf of a pair: its state to propose, its momentum and velocity
// to the pair's start.
template <class = void>
inline void copy_first_leaf(const PhasePoint& z, Proposal& propose, Eigen::VectorXd& p_beg, Eigen::VectorXd& v_beg) {
  const auto pass = [](Eigen::Index n, const double* __restrict q, const double* __restrict g,
                       const double* __restrict p, const double* __restrict v, double* __restrict to_q,
                       double* __restrict to_g, double* __restrict to_p, double* __restrict to_v) {
    for (Eigen::Index i = 0; i < n; ++i) {
      to_q[i] = q[i];
      to_g[i] = g[i];
      to_p[i] = p[i];
      to_v[i] = v[i];
    }
  };
  pass(z.position.size(), z.position.data(), z.grad.data(), z.momentum.data(), z.velocity.data(),
       propose.position.data(), propose.grad.data(), p_beg.data(), v_beg.data());
}

// z's position and gradient to a proposal.
template <class = void>
inline void copy_state(const PhasePoint& z, Proposal& propose) {
  const auto pass = [](Eigen::Index n, const double* __restrict q, const double* __restrict g, double* __restrict to_q,
                       double* __restrict to_g) {
    for (Eigen::Index i = 0; i < n; ++i) {
      to_q[i] = q[i];
      to_g[i] = g[i];
    }
  };
  pass(z.position.size(), z.position.data(), z.grad.data(), propose.position.data(), propose.grad.data());
}

// The momentum and velocity at one end of a subtree.
template <class = void>
inline void copy_end(const PhasePoint& z, Eigen::VectorXd& p, Eigen::VectorXd& v) {
  const double *__restrict from_p = z.momentum.data(), *__restrict from_v = z.velocity.data();
  double *__restrict to_p = p.data(), *__restrict to_v = v.data();
  for (Eigen::Index i = 0, n = p.size(); i < n; ++i) {
    to_p[i] = from_p[i];
    to_v[i] = from_v[i];
  }
}

// The trajectory's backward end starts where its forward end does.
template <class = void>
inline void copy_phase_point(const PhasePoint& from, PhasePoint& to) {
  const double *__restrict q = from.position.data(), *__restrict g = from.grad.data(),
                           *__restrict p = from.momentum.data(), *__restrict v = from.velocity.data();
  double *__restrict to_q = to.position.data(), *__restrict to_g = to.grad.data(), *__restrict to_p = to.momentum.data(),
                     *__restrict to_v = to.velocity.data();
  for (Eigen::Index i = 0, n = from.position.size(); i < n; ++i) {
    to_q[i] = q[i];
    to_g[i] = g[i];
    to_p[i] = p[i];
    to_v[i] = v[i];
  }
  to.potential = from.potential;
}

// The ends of one half of a trajectory: the momentum and velocity at each
// end (velocity = M^-1 p, Stan's p_sharp) and the sum of its momenta rho.
struct HalfEnds {
  const Eigen::VectorXd &p_beg, &v_beg, &p_end, &v_end, &rho;
};

// Merges two adjacent halves, first then second in the direction of
// integration: writes rho = first.rho + second.rho and returns Stan's three
// generalised no-U-turn checks (Betancourt 2017): the summed momentum points
// forward at both ends of the merged trajectory, of first extended by
// second's first state, and of second extended by first's last state. One
// pass over the vectors, six dot products.
template <class = void>
inline bool merge_and_check_u_turn(const HalfEnds& first, const HalfEnds& second, Eigen::VectorXd& rho) {
  // Restrict-qualified parameters (which the compiler honours, unlike
  // restrict-qualified locals) spare the loop run-time checks of overlap.
  const auto pass = [](Eigen::Index n, const double* __restrict rho_a, const double* __restrict rho_b,
                       const double* __restrict v_a_beg, const double* __restrict p_a_end,
                       const double* __restrict v_a_end, const double* __restrict p_b_beg,
                       const double* __restrict v_b_beg, const double* __restrict v_b_end, double* __restrict out) {
    double whole_beg = 0, whole_end = 0, first_beg = 0, first_end = 0, second_beg = 0, second_end = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const double whole = rho_a[i] + rho_b[i];
      const double first_extended = rho_a[i] + p_b_beg[i];
      const double second_extended = rho_b[i] + p_a_end[i];
      out[i] = whole;
      whole_beg += v_a_beg[i] * whole;
      whole_end += v_b_end[i] * whole;
      first_beg += v_a_beg[i] * first_extended;
      first_end += v_b_beg[i] * first_extended;
      second_beg += v_a_end[i] * second_extended;
      second_end += v_b_end[i] * second_extended;
    }
    return whole_beg > 0 && whole_end > 0 && first_beg > 0 && first_end > 0 && second_beg > 0 && second_end > 0;
  };
  return pass(rho.size(), first.rho.data(), second.rho.data(), first.v_beg.data(), first.p_end.data(),
              first.v_end.data(), second.p_beg.data(), second.v_beg.data(), second.v_end.data(), rho.data());
}

// merge_and_check_u_turn for two adjacent leaves (p_a, v_a) then (p_b, v_b):
// rho = p_a + p_b, and the summed momentum points forward at both leaves.
// Stan's checks of the halves extended by one state are these same sums
// (rho_a + p_b_beg = p_a + p_b = rho_b + p_a_end), so the result is his.
template <class = void>
inline bool merge_leaves_and_check_u_turn(const Eigen::VectorXd& p_a, const Eigen::VectorXd& v_a,
                                          const Eigen::VectorXd& p_b, const Eigen::VectorXd& v_b,
                                          Eigen::VectorXd& rho) {
  const auto pass = [](Eigen::Index n, const double* __restrict pa, const double* __restrict va,
                       const double* __restrict pb, const double* __restrict vb, double* __restrict out) {
    double beg = 0, end = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const double whole = pa[i] + pb[i];
      out[i] = whole;
      beg += va[i] * whole;
      end += vb[i] * whole;
    }
    return beg > 0 && end > 0;
  };
  return pass(rho.size(), p_a.data(), v_a.data(), p_b.data(), v_b.data(), rho.data());
}

}  // namespace detail

template <class = void>
class HamiltonianChainT {
 public:
  // initial_u must have a finite potential and gradient; a potential that
  // throws there propagates the exception.
  HamiltonianChainT(PotentialFunction potential, Eigen::VectorXd initial_u, Key key, HamiltonianSettings settings,
                   int num_warmup)
      : potential_(std::move(potential)), settings_(std::move(settings)), num_warmup_(num_warmup), key_(key),
        dimension_(initial_u.size()), averaging_(settings_.dual_averaging, settings_.target_accept_prob),
        variance_(dimension_) {
    validate_settings();
    if (num_warmup < 0) throw std::invalid_argument("tyche: HamiltonianChain: num_warmup must be >= 0, got " +
                                                    std::to_string(num_warmup));
    allocate();
    current_.position = initial_u;
    evaluate_initial_point();
    inverse_mass_ = identity_inverse_mass();
    set_metric();
    step_size_ = settings_.step_size;
    if (settings_.adapt_mass_matrix) windows_ = mass_matrix_windows(num_warmup_);
    for (const auto& block : inverse_mass_.blocks) {
      covariances_.emplace_back(Eigen::Index(block.size()));
      block_positions_.emplace_back(Eigen::Index(block.size()));
    }
    if (num_warmup_ > 0 && settings_.adapt_step_size) {
      if (settings_.find_heuristic_step_size) step_size_ = heuristic_step_size(step_size_);
      // Stan's services set mu from the step size given, before the heuristic.
      averaging_.restart(std::log(10.0 * settings_.step_size));
    }
  }

  // Continues from a state (NumPyro's post_warmup_state): no warm-up; the
  // step size and inverse mass matrix are the state's.
  HamiltonianChainT(const ChainState& state, PotentialFunction potential, HamiltonianSettings settings)
      : potential_(std::move(potential)), settings_(std::move(settings)), num_warmup_(0), key_(state.key),
        dimension_(state.position.size()), averaging_(settings_.dual_averaging, settings_.target_accept_prob),
        variance_(dimension_), iterations_before_(state.iteration) {
    validate_settings();
    if (state.inverse_mass_matrix.diagonal.size() != dimension_)
      throw std::invalid_argument("tyche: HamiltonianChain: the state's inverse mass matrix has " +
                                  std::to_string(state.inverse_mass_matrix.diagonal.size()) +
                                  " coordinates, its position " + std::to_string(dimension_));
    if (!(state.step_size > 0) || !std::isfinite(state.step_size))
      throw std::invalid_argument("tyche: HamiltonianChain: the state's step size must be positive, got " +
                                  std::to_string(state.step_size));
    const InverseMassMatrix& mass = state.inverse_mass_matrix;
    bool blocks_fit = mass.blocks.size() == mass.block_matrices.size();
    for (std::size_t b = 0; blocks_fit && b < mass.blocks.size(); ++b) {
      const Eigen::Index n = Eigen::Index(mass.blocks[b].size());
      blocks_fit = mass.block_matrices[b].rows() == n && mass.block_matrices[b].cols() == n;
      for (Eigen::Index i : mass.blocks[b]) blocks_fit = blocks_fit && i >= 0 && i < dimension_;
    }
    if (!blocks_fit)
      throw std::invalid_argument(
          "tyche: HamiltonianChain: the state's inverse mass matrix blocks do not match their matrices or coordinates");
    allocate();
    current_.position = state.position;
    // Evaluated again rather than trusted: the potential may be a new recording.
    evaluate_initial_point();
    inverse_mass_ = state.inverse_mass_matrix;
    use_blocks_ = inverse_mass_.dense();
    set_metric();
    step_size_ = state.step_size;
  }

  // One transition: the first num_warmup adapt the step size and the mass
  // matrix; later ones sample with the adapted values.
  const TransitionInfo& transition() {
    const auto [next_key, transition_key] = split(key_);
    key_ = next_key;
    detail::UniformStream stream(transition_key);
    double step_size = step_size_;
    if (settings_.step_size_jitter > 0) step_size *= 1.0 + settings_.step_size_jitter * (2.0 * stream.uniform() - 1.0);
    const bool warming_up = this->warming_up();
    const int max_depth = warming_up ? settings_.max_tree_depth.warmup : settings_.max_tree_depth.sampling;
    const bool nuts = settings_.algorithm == HamiltonianSettings::Algorithm::nuts;
    if (use_blocks_ && nuts)
      nuts_transition(block_metric_, transition_key, stream, step_size, max_depth);
    else if (use_blocks_)
      hmc_transition(block_metric_, transition_key, stream, step_size);
    else if (nuts)
      nuts_transition(diagonal_metric_, transition_key, stream, step_size, max_depth);
    else
      hmc_transition(diagonal_metric_, transition_key, stream, step_size);
    info_.step_size = step_size;
    info_.trajectory_length = step_size * info_.num_steps;
    info_.potential_energy = current_.potential;
    // NumPyro's running mean, counted from the start of sampling once warm-up ends.
    ++iteration_;
    const double n = double(warming_up ? iteration_ : iteration_ - num_warmup_);
    mean_accept_prob_ += (info_.accept_prob - mean_accept_prob_) / n;
    info_.mean_accept_prob = mean_accept_prob_;
    if (warming_up) adapt();
    return info_;
  }

  const Eigen::VectorXd& position() const { return current_.position; }
  const Eigen::VectorXd& grad() const { return current_.grad; }
  double potential_energy() const { return current_.potential; }
  bool warming_up() const { return iteration_ < num_warmup_; }
  // The nominal step size: adapting during warm-up, fixed after.
  double step_size() const { return step_size_; }
  const InverseMassMatrix& inverse_mass_matrix() const { return inverse_mass_; }
  const TransitionInfo& last_transition() const { return info_; }
  std::int64_t iteration() const { return iteration_; }
  int num_warmup() const { return num_warmup_; }
  const HamiltonianSettings& settings() const { return settings_; }

  ChainState state() const {
    return {current_.position, current_.grad, current_.potential, step_size_, inverse_mass_, key_,
            iterations_before_ + iteration_};
  }

 private:
  void validate_settings() {
    const auto fail = [](const std::string& what) {
      throw std::invalid_argument("tyche: HamiltonianChain: " + what);
    };
    const HamiltonianSettings& s = settings_;
    if (!(s.step_size > 0) || !std::isfinite(s.step_size))
      fail("step_size must be positive and finite, got " + std::to_string(s.step_size));
    if (!(s.target_accept_prob > 0 && s.target_accept_prob < 1))
      fail("target_accept_prob must be in (0, 1), got " + std::to_string(s.target_accept_prob));
    if (s.max_tree_depth.warmup < 1 || s.max_tree_depth.sampling < 1 || s.max_tree_depth.warmup > 30 ||
        s.max_tree_depth.sampling > 30)
      fail("max_tree_depth must be in [1, 30], got (" + std::to_string(s.max_tree_depth.warmup) + ", " +
           std::to_string(s.max_tree_depth.sampling) + ")");
    if (s.num_steps < 0) fail("num_steps must be >= 0, got " + std::to_string(s.num_steps));
    if (s.algorithm == HamiltonianSettings::Algorithm::hmc && s.num_steps == 0 &&
        !(s.trajectory_length > 0 && std::isfinite(s.trajectory_length)))
      fail("trajectory_length must be positive and finite, got " + std::to_string(s.trajectory_length));
    if (!(s.step_size_jitter >= 0 && s.step_size_jitter <= 1))
      fail("step_size_jitter must be in [0, 1], got " + std::to_string(s.step_size_jitter));
    if (!(s.max_delta_energy > 0)) fail("max_delta_energy must be positive, got " + std::to_string(s.max_delta_energy));
    if (s.dense_mass && !s.dense_blocks.empty()) fail("dense_mass and dense_blocks are exclusive: give one");
    if (dimension_ == 0) fail("the initial point has no coordinates");
    std::vector<bool> seen(std::size_t(dimension_), false);
    for (const auto& block : s.dense_blocks) {
      if (block.empty()) fail("a dense block is empty");
      for (Eigen::Index i : block) {
        if (i < 0 || i >= dimension_)
          fail("dense block coordinate " + std::to_string(i) + " is outside [0, " + std::to_string(dimension_) + ")");
        if (seen[std::size_t(i)]) fail("coordinate " + std::to_string(i) + " is in more than one dense block");
        seen[std::size_t(i)] = true;
      }
    }
    use_blocks_ = s.dense_mass || !s.dense_blocks.empty();
  }

  InverseMassMatrix identity_inverse_mass() const {
    InverseMassMatrix m;
    m.diagonal = Eigen::VectorXd::Ones(dimension_);
    if (settings_.dense_mass) {
      m.blocks.emplace_back(std::size_t(dimension_));
      for (Eigen::Index i = 0; i < dimension_; ++i) m.blocks[0][std::size_t(i)] = i;
    } else {
      m.blocks = settings_.dense_blocks;
    }
    for (const auto& block : m.blocks)
      m.block_matrices.push_back(Eigen::MatrixXd::Identity(Eigen::Index(block.size()), Eigen::Index(block.size())));
    return m;
  }

  void set_metric() {
    if (use_blocks_)
      block_metric_.set(inverse_mass_);
    else
      diagonal_metric_.set(inverse_mass_.diagonal);
  }

  void allocate() {
    const Eigen::Index d = dimension_;
    current_ = detail::Proposal(d);
    forward_ = backward_ = trial_ = detail::PhasePoint(d);
    sample_ = propose_ = detail::Proposal(d);
    for (Eigen::VectorXd* v : {&p_fwd_bck_, &v_fwd_bck_, &p_bck_fwd_, &v_bck_fwd_, &rho_, &rho_fwd_, &rho_bck_})
      v->resize(d);
    // Subtrees of depth 2 to max_tree_depth - 1 (the deepest is a half of the
    // whole) have a level each; pairs and leaves need none.
    const int depth = std::max(settings_.max_tree_depth.warmup, settings_.max_tree_depth.sampling);
    levels_.assign(std::size_t(std::max(depth - 2, 0)), Level(d));
  }

  void evaluate_initial_point() {
    current_.grad.setZero();
    current_.potential = potential_(current_.position, current_.grad);
    if (!std::isfinite(current_.potential) || !current_.grad.allFinite())
      throw std::invalid_argument(
          "tyche: HamiltonianChain: the potential energy or its gradient is not finite at the initial point (U = " +
          std::to_string(current_.potential) + ")");
  }

  // U and its gradient at z.position; false when it throws or U is not
  // finite. A gradient that is not finite makes the momentum, and so H, not
  // finite: leapfrog's caller sees infinity either way.
  bool evaluate(detail::PhasePoint& z) {
    try {
      z.potential = potential_(z.position, z.grad);
    } catch (const std::exception&) {
      return false;
    }
    return std::isfinite(z.potential);
  }

  // One leapfrog step of (signed) size eps; leaves velocity = M^-1 p and
  // returns H = U + p' M^-1 p / 2, infinity when U fails or H is not finite.
  template <class Metric>
  double leapfrog(const Metric& metric, detail::PhasePoint& z, double eps) {
    constexpr double infinity = std::numeric_limits<double>::infinity();
    metric.kick_and_drift(z.position, z.momentum, z.velocity, z.grad, eps);
    if (!evaluate(z)) return infinity;
    const double h = z.potential + metric.kick(z.momentum, z.velocity, z.grad, eps);
    return std::isfinite(h) ? h : infinity;
  }

  // z at the current position with a fresh momentum ~ N(0, M); returns H.
  template <class Metric>
  double start_trajectory(const Metric& metric, Key momentum_key, detail::PhasePoint& z) {
    detail::copy(z.position, current_.position);
    detail::copy(z.grad, current_.grad);
    z.potential = current_.potential;
    detail::draw_standard_normals(momentum_key, z.momentum);
    metric.scale_momentum(z.momentum);
    metric.velocity(z.momentum, z.velocity);
    return z.potential + 0.5 * z.momentum.dot(z.velocity);
  }

  // Buffers of one level of build_tree's recursion (Stan's locals).
  struct Level {
    Eigen::VectorXd p_init_end, v_init_end, rho_init, p_final_beg, v_final_beg, rho_final;
    detail::Proposal propose_final;
    explicit Level(Eigen::Index d)
        : p_init_end(d), v_init_end(d), rho_init(d), p_final_beg(d), v_final_beg(d), rho_final(d), propose_final(d) {}
  };

  // What a tree accumulates over its leapfrog steps.
  struct TreeTotals {
    double H0 = 0.0;
    int num_steps = 0;
    double sum_accept_prob = 0.0;
    bool diverging = false;
    bool weight_overflow = false;  // a weight does not fit the Weights type: integrate again with LogWeights
  };

  // One leapfrog step of z as a new state of the tree: counts it, flags a
  // divergence and writes its weight and energy h; false when the tree ends
  // there (a divergence, or a weight that does not fit Weights).
  template <class Weights, class Metric>
  bool leaf(const Metric& metric, detail::PhasePoint& z, double eps, TreeTotals& totals, double& weight, double& h) {
    ++totals.num_steps;
    h = leapfrog(metric, z, eps);
    if (h - totals.H0 > settings_.max_delta_energy) totals.diverging = true;
    const double log_weight = totals.H0 - h;
    if (!Weights::fits(log_weight)) {
      totals.weight_overflow = true;
      return false;
    }
    weight = Weights::of_state(log_weight);
    totals.sum_accept_prob += Weights::accept_prob(log_weight, weight);
    return !totals.diverging;
  }

  // Stan's build_tree: a subtree of 2^depth steps (depth >= 1: the first
  // doubling is nuts_trajectory's) from z in the direction of eps; its end
  // is z itself (momentum and velocity), its start p_beg/v_beg, the sum of
  // its momenta rho (written, where Stan adds to a zeroed rho) and the sum
  // of its weights (written, where Stan adds to an empty sum).
  template <class Weights, class Metric>
  bool build_tree(const Metric& metric, int depth, detail::PhasePoint& z, detail::Proposal& propose,
                  Eigen::VectorXd& p_beg, Eigen::VectorXd& v_beg, Eigen::VectorXd& rho, double& sum_weight,
                  double eps, TreeTotals& totals, detail::UniformStream& stream) {
    if (depth == 1) return build_pair<Weights>(metric, z, propose, p_beg, v_beg, rho, sum_weight, eps, totals, stream);
    Level& level = levels_[std::size_t(depth - 2)];
    double weight_init;
    if (!build_tree<Weights>(metric, depth - 1, z, propose, p_beg, v_beg, level.rho_init, weight_init, eps, totals,
                             stream))
      return false;
    detail::copy_end(z, level.p_init_end, level.v_init_end);
    double weight_final;
    if (!build_tree<Weights>(metric, depth - 1, z, level.propose_final, level.p_final_beg, level.v_final_beg,
                             level.rho_final, weight_final, eps, totals, stream))
      return false;
    // Uniform (unbiased) multinomial choice between the two halves.
    double final_share;
    sum_weight = Weights::merge(weight_init, weight_final, final_share);
    if (stream.uniform() < final_share) detail::swap(propose, level.propose_final);
    return detail::merge_and_check_u_turn({p_beg, v_beg, level.p_init_end, level.v_init_end, level.rho_init},
                                          {level.p_final_beg, level.v_final_beg, z.momentum, z.velocity, level.rho_final},
                                          rho);
  }

  // build_tree at depth 1, two leaves, with no buffers of its own (half of a
  // tree's nodes are these): the first leaf's momentum and velocity are the
  // subtree's start, saved in p_beg/v_beg, and the end of its first half;
  // the second leaf's are z's. Its state is copied to propose only when
  // drawn. Stan's three checks reduce to two, on the same sums bit for bit:
  // each half extended by the other's nearest state is the whole, p1 + p2.
  template <class Weights, class Metric>
  bool build_pair(const Metric& metric, detail::PhasePoint& z, detail::Proposal& propose, Eigen::VectorXd& p_beg,
                  Eigen::VectorXd& v_beg, Eigen::VectorXd& rho, double& sum_weight, double eps, TreeTotals& totals,
                  detail::UniformStream& stream) {
    double weight_first, weight_second, h;
    if (!leaf<Weights>(metric, z, eps, totals, weight_first, h)) return false;
    propose.potential = z.potential;
    propose.energy = h;
    detail::copy_first_leaf(z, propose, p_beg, v_beg);
    if (!leaf<Weights>(metric, z, eps, totals, weight_second, h)) return false;
    double second_share;
    sum_weight = Weights::merge(weight_first, weight_second, second_share);
    if (stream.uniform() < second_share) {
      propose.potential = z.potential;
      propose.energy = h;
      detail::copy_state(z, propose);
    }
    return detail::merge_leaves_and_check_u_turn(p_beg, v_beg, z.momentum, z.velocity, rho);
  }

  template <class Metric>
  void nuts_transition(const Metric& metric, Key momentum_key, const detail::UniformStream& stream, double eps,
                       int max_depth) {
    detail::UniformStream linear_stream = stream;
    if (nuts_trajectory<detail::LinearWeights>(metric, momentum_key, linear_stream, eps, max_depth)) return;
    detail::UniformStream log_stream = stream;
    nuts_trajectory<detail::LogWeights>(metric, momentum_key, log_stream, eps, max_depth);
  }

  // Stan's transition; false (and nothing changed but the buffers) when a
  // weight does not fit Weights.
  template <class Weights, class Metric>
  bool nuts_trajectory(const Metric& metric, Key momentum_key, detail::UniformStream& stream, double eps,
                       int max_depth) {
    TreeTotals totals;
    totals.H0 = start_trajectory(metric, momentum_key, forward_);
    detail::copy_phase_point(forward_, backward_);
    // rho_, the sum of the momenta of the trajectory so far, and the momenta
    // and velocities at the inner ends of its two halves are written before use.
    double sum_weight = Weights::starting_state;
    bool moved = false;  // sample_ holds the state drawn; until then it is current_
    int depth = 0;
    while (depth < max_depth) {
      double weight_subtree, h = 0.0;  // h: the first doubling's energy, read only after it (GCC 12 cannot tell)
      bool valid;
      const bool forward = stream.uniform() > 0.5;
      detail::PhasePoint& end = forward ? forward_ : backward_;
      if (depth == 0) {
        // The first doubling, one leapfrog step from the starting state,
        // with no buffers: its states are the trajectory's two ends.
        valid = leaf<Weights>(metric, end, forward ? eps : -eps, totals, weight_subtree, h);
      } else if (forward) {
        rho_bck_.swap(rho_);
        detail::copy_end(forward_, p_bck_fwd_, v_bck_fwd_);
        valid = build_tree<Weights>(metric, depth, forward_, propose_, p_fwd_bck_, v_fwd_bck_, rho_fwd_, weight_subtree,
                                    eps, totals, stream);
      } else {
        rho_fwd_.swap(rho_);
        detail::copy_end(backward_, p_fwd_bck_, v_fwd_bck_);
        valid = build_tree<Weights>(metric, depth, backward_, propose_, p_bck_fwd_, v_bck_fwd_, rho_bck_,
                                    weight_subtree, -eps, totals, stream);
      }
      if (totals.weight_overflow) return false;
      if (!valid) break;
      ++depth;
      // Biased progressive sampling: the new subtree wins outright when it
      // weighs more than the old trajectory.
      if (weight_subtree > sum_weight || stream.uniform() < Weights::ratio(weight_subtree, sum_weight)) {
        if (depth == 1) {
          sample_.potential = end.potential;
          sample_.energy = h;
          detail::copy_state(end, sample_);
        } else {
          detail::swap(sample_, propose_);
        }
        moved = true;
      }
      double unused_share;
      sum_weight = Weights::merge(sum_weight, weight_subtree, unused_share);
      // The backward half first, in the direction of forward integration;
      // after the first doubling each half is one state (see build_pair).
      const bool no_u_turn =
          depth == 1 ? detail::merge_leaves_and_check_u_turn(backward_.momentum, backward_.velocity, forward_.momentum,
                                                             forward_.velocity, rho_)
                     : detail::merge_and_check_u_turn(
                           {backward_.momentum, backward_.velocity, p_bck_fwd_, v_bck_fwd_, rho_bck_},
                           {p_fwd_bck_, v_fwd_bck_, forward_.momentum, forward_.velocity, rho_fwd_}, rho_);
      if (!no_u_turn) break;
    }
    if (moved)
      detail::swap(current_, sample_);
    else
      current_.energy = totals.H0;
    info_.diverging = totals.diverging;
    info_.accept_prob = totals.sum_accept_prob / double(totals.num_steps);
    info_.num_steps = totals.num_steps;
    info_.tree_depth = depth;
    info_.energy = current_.energy;
    return true;
  }

  int hmc_num_steps(double eps) const {
    if (settings_.num_steps > 0) return settings_.num_steps;
    // NumPyro's _get_num_steps: ceil(trajectory_length / step_size), kept
    // within int.
    return int(std::clamp(std::ceil(settings_.trajectory_length / eps), 1.0, double(std::numeric_limits<int>::max())));
  }

  template <class Metric>
  void hmc_transition(const Metric& metric, Key momentum_key, detail::UniformStream& stream, double eps) {
    const double H0 = start_trajectory(metric, momentum_key, forward_);
    const int steps = hmc_num_steps(eps);
    int taken = 0;
    double h = H0;
    while (taken < steps && std::isfinite(h)) {
      h = leapfrog(metric, forward_, eps);
      ++taken;
    }
    const double delta = h - H0;
    info_.diverging = delta > settings_.max_delta_energy;
    info_.accept_prob = delta <= 0 ? 1.0 : std::exp(-delta);
    info_.num_steps = taken;
    info_.tree_depth = 0;
    if (stream.uniform() < info_.accept_prob) {
      current_.position = forward_.position;
      current_.grad = forward_.grad;
      current_.potential = forward_.potential;
      current_.energy = h;
    } else {
      current_.energy = H0;
    }
    info_.energy = current_.energy;
  }

  // Stan's init_stepsize: double or halve eps from eps0 until the acceptance
  // probability of one leapfrog step from the current point crosses 0.8.
  double heuristic_step_size(double eps) {
    if (eps == 0 || eps > 1e7 || std::isnan(eps)) return eps;
    const std::array<Key, 2> keys = split(key_);  // not a binding: the lambda captures it
    key_ = keys[0];
    const Key heuristic_key = keys[1];
    std::uint32_t trials = 0;
    const auto delta_H = [&](double step) {
      const Key momentum_key = fold_in(heuristic_key, trials++);
      const double H0 = use_blocks_ ? start_trajectory(block_metric_, momentum_key, trial_)
                                    : start_trajectory(diagonal_metric_, momentum_key, trial_);
      const double h = use_blocks_ ? leapfrog(block_metric_, trial_, step) : leapfrog(diagonal_metric_, trial_, step);
      return H0 - h;
    };
    const double log_target = std::log(0.8);
    const int direction = delta_H(eps) > log_target ? 1 : -1;
    for (;;) {
      const double delta = delta_H(eps);
      if (direction == 1 && !(delta > log_target)) break;
      if (direction == -1 && !(delta < log_target)) break;
      eps = direction == 1 ? 2 * eps : eps / 2;
      if (eps > 1e7)
        throw std::runtime_error("tyche: HamiltonianChain: the step-size heuristic passed 1e7: the posterior is improper");
      if (eps == 0)
        throw std::runtime_error(
            "tyche: HamiltonianChain: the step-size heuristic reached 0: no acceptably small step size (is the "
            "potential continuous?)");
    }
    return eps;
  }

  // After warm-up transition iteration_ - 1: dual averaging, the Welford
  // estimates in a window, and at a window's end the new inverse mass
  // matrix, the heuristic and a restart of dual averaging.
  void adapt() {
    const int i = int(iteration_ - 1);
    if (settings_.adapt_step_size) step_size_ = averaging_.update(info_.accept_prob);
    if (next_window_ < windows_.size() && i >= windows_[next_window_].begin) {
      add_to_estimates();
      if (i == windows_[next_window_].end - 1) {
        end_window();
        ++next_window_;
        if (settings_.adapt_step_size) {
          if (settings_.find_heuristic_step_size) step_size_ = heuristic_step_size(step_size_);
          averaging_.restart(std::log(10.0 * step_size_));
        }
      }
    }
    if (i == num_warmup_ - 1 && settings_.adapt_step_size) step_size_ = averaging_.final_step_size();
  }

  void add_to_estimates() {
    variance_.add(current_.position);
    for (std::size_t b = 0; b < covariances_.size(); ++b) {
      const auto& indices = inverse_mass_.blocks[b];
      Eigen::VectorXd& x = block_positions_[b];
      for (std::size_t k = 0; k < indices.size(); ++k) x[Eigen::Index(k)] = current_.position[indices[k]];
      covariances_[b].add(x);
    }
  }

  void end_window() {
    const long n = variance_.count();
    if (n < 2) return;
    const auto regularize = [&](const auto& estimate, auto shrink) {
      return settings_.regularize_mass_matrix ? shrink(estimate, n) : estimate;
    };
    inverse_mass_.diagonal = regularize(variance_.variance(), regularize_variance);
    for (std::size_t b = 0; b < covariances_.size(); ++b) {
      inverse_mass_.block_matrices[b] = regularize(covariances_[b].covariance(), regularize_covariance);
      for (std::size_t k = 0; k < inverse_mass_.blocks[b].size(); ++k)
        inverse_mass_.diagonal[inverse_mass_.blocks[b][k]] = inverse_mass_.block_matrices[b](Eigen::Index(k), Eigen::Index(k));
    }
    if (!inverse_mass_.diagonal.allFinite())
      throw std::runtime_error("tyche: HamiltonianChain: numerical overflow in the mass-matrix adaptation");
    set_metric();
    variance_.restart();
    for (WelfordCovariance& c : covariances_) c.restart();
  }

  PotentialFunction potential_;
  HamiltonianSettings settings_;
  int num_warmup_;
  Key key_;
  Eigen::Index dimension_;
  bool use_blocks_ = false;
  detail::DiagonalMetric diagonal_metric_;
  detail::BlockMetric block_metric_;
  InverseMassMatrix inverse_mass_;
  double step_size_ = 1.0;
  DualAveraging averaging_;
  std::vector<AdaptationWindow> windows_;
  std::size_t next_window_ = 0;
  WelfordVariance variance_;
  std::vector<WelfordCovariance> covariances_;
  std::vector<Eigen::VectorXd> block_positions_;  // each block's coordinates of the position, gathered
  std::int64_t iterations_before_ = 0;
  std::int64_t iteration_ = 0;
  double mean_accept_prob_ = 0.0;
  TransitionInfo info_;

  detail::Proposal current_{0}, sample_{0}, propose_{0};
  detail::PhasePoint forward_{0}, backward_{0}, trial_{0};
  Eigen::VectorXd p_fwd_bck_, v_fwd_bck_, p_bck_fwd_, v_bck_fwd_, rho_, rho_fwd_, rho_bck_;
  std::vector<Level> levels_;
};
using HamiltonianChain = HamiltonianChainT<>;

}  // namespace tyche
