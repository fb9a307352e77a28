// Benchmark data, generated in-process: the project's own copy of the generator
// described in shared/data/bench/README.md, so the benchmarks run (and agree with
// the peer measurements bit for bit) whether or not the shared CSV files exist.
//
//   SplitMix64 rng(seed);        // state += 0x9e3779b97f4a7c15, then the usual mix
//   rng.uniform();               // (next >> 11) * 2^-53
//   rng.normal();                // Box-Muller, cos branch, two uniforms per call
//
// Problems (q is always the unconstrained parameter vector, see the README):
//   make_eight_schools()       y, sigma of the eight schools and the evaluation point
//   make_linreg50()            x_i = -2 + 4 i / 49, y_i = 1 + 2 x_i + 0.5 normal(), seed 20240501
//   make_logreg(N, D, seed)    X (row-major, filled row by row with normal()), then
//                              y_i = uniform() < sigmoid(0.5 + x_i . beta_true),
//                              beta_true_j = (j odd ? -1 : 1) / (1 + j);
//                              N=1000, D=3 uses seed 12345; N=100000, D=10 uses 67890.
// The evaluation points are those of the *_point.csv files.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "tyche/core/tensor.hpp"

namespace tyche_bench {

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // In [0, 1), 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

  // Box-Muller, cos branch only: every call draws u1 then u2.
  double normal() {
    const double u1 = std::max(uniform(), 1e-300);
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::uint64_t state_;
};

struct EightSchools {
  Eigen::VectorXd y, sigma;
  Eigen::VectorXd point;  // mu, log tau, theta_tilde[8]
};

inline EightSchools make_eight_schools() {
  EightSchools d;
  d.y.resize(8);
  d.y << 28, 8, -3, 7, -1, 1, 18, 12;
  d.sigma.resize(8);
  d.sigma << 15, 10, 16, 11, 9, 11, 10, 18;
  d.point.resize(10);
  d.point << 4.4000000000000004, 1.2809338454620642 /* log 3.6 */, 0.29999999999999999,
      -0.20000000000000001, 0.10000000000000001, 0.5, -0.69999999999999996, 0.050000000000000003,
      0.90000000000000002, -0.40000000000000002;
  return d;
}

struct LinReg {
  Eigen::VectorXd x, y;
  Eigen::VectorXd point;  // alpha, beta, log sigma
};

inline LinReg make_linreg50() {
  constexpr int n = 50;
  SplitMix64 rng(20240501);
  LinReg d;
  d.x.resize(n);
  d.y.resize(n);
  for (int i = 0; i < n; ++i) {
    d.x[i] = -2.0 + 4.0 * i / 49.0;
    d.y[i] = 1.0 + 2.0 * d.x[i] + 0.5 * rng.normal();
  }
  d.point.resize(3);
  d.point << 0.9, 2.1, -0.51082562376599072 /* log 0.6 */;
  return d;
}

struct LogReg {
  tyche::RowMatrixXd X;  // N x D, row-major
  Eigen::VectorXd y;     // 0 / 1
  Eigen::VectorXd point; // alpha, beta[D]
};

inline double logreg_beta_true(int j) { return (j % 2 == 1 ? -1.0 : 1.0) / (1.0 + j); }

inline LogReg make_logreg(int n, int dims, std::uint64_t seed) {
  constexpr double alpha_true = 0.5;
  SplitMix64 rng(seed);
  LogReg d;
  d.X.resize(n, dims);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < dims; ++j) d.X(i, j) = rng.normal();
  d.y.resize(n);
  for (int i = 0; i < n; ++i) {
    double dot = 0.0;
    for (int j = 0; j < dims; ++j) dot += d.X(i, j) * logreg_beta_true(j);
    const double p = 1.0 / (1.0 + std::exp(-(alpha_true + dot)));
    d.y[i] = rng.uniform() < p ? 1.0 : 0.0;
  }
  d.point.resize(dims + 1);
  d.point[0] = 0.4;
  for (int j = 0; j < dims; ++j) d.point[j + 1] = 0.9 * logreg_beta_true(j);
  return d;
}

}  // namespace tyche_bench
