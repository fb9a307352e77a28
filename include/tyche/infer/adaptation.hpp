// Warm-up adaptation as Stan 2.32 does it: dual averaging of the step size,
// Welford estimates of the posterior (co)variance for the inverse mass matrix,
// and the schedule of mass-matrix windows. HamiltonianChain uses these; they
// are public because a user may want the schedule or an estimator by itself.
//
//   tyche::DualAveraging averaging({}, 0.8);
//   averaging.restart(std::log(10 * step_size));
//   step_size = averaging.update(accept_prob);    // each warm-up transition
//   step_size = averaging.final_step_size();      // at the end of warm-up
//
//   for (tyche::AdaptationWindow w : tyche::mass_matrix_windows(1000)) ...  // [75,100) [100,150) ... [450,950)
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace tyche {

// Nesterov dual averaging of log(step size) (Hoffman & Gelman 2014, section
// 3.2; Stan's stepsize_adaptation). mu is set at each restart.
struct DualAveragingSettings {
  double t0 = 10.0;      // stabilises the first iterations
  double kappa = 0.75;   // decay of the averaging weights
  double gamma = 0.05;   // shrinkage towards mu
};

template <class = void>
class DualAveragingT {
 public:
  DualAveragingT(DualAveragingSettings settings, double target_accept_prob)
      : settings_(settings), target_(target_accept_prob) {}

  // Forgets the history and shrinks towards mu (Stan: mu = log(10 eps)).
  void restart(double mu) {
    mu_ = mu;
    count_ = 0;
    mean_error_ = 0.0;
    averaged_log_step_size_ = 0.0;
  }

  // The step size for the next transition, given the last one's acceptance
  // statistic (above 1 counts as 1, as in Stan).
  double update(double accept_prob) {
    ++count_;
    const double n = double(count_);
    const double accept = accept_prob > 1.0 ? 1.0 : accept_prob;
    const double eta = 1.0 / (n + settings_.t0);
    mean_error_ = (1.0 - eta) * mean_error_ + eta * (target_ - accept);
    const double log_step_size = mu_ - mean_error_ * std::sqrt(n) / settings_.gamma;
    const double weight = std::pow(n, -settings_.kappa);
    averaged_log_step_size_ = (1.0 - weight) * averaged_log_step_size_ + weight * log_step_size;
    return std::exp(log_step_size);
  }

  // exp of the averaged log step size: the step size sampling uses.
  double final_step_size() const { return std::exp(averaged_log_step_size_); }

 private:
  DualAveragingSettings settings_;
  double target_;
  double mu_ = 0.0;
  long count_ = 0;
  double mean_error_ = 0.0;              // Stan's s_bar
  double averaged_log_step_size_ = 0.0;  // Stan's x_bar
};
using DualAveraging = DualAveragingT<>;

// A mass-matrix window: warm-up iterations [begin, end) (0-based) whose
// draws are averaged; the estimate replaces the inverse mass matrix after
// iteration end - 1.
struct AdaptationWindow {
  int begin = 0, end = 0;
  friend bool operator==(const AdaptationWindow&, const AdaptationWindow&) = default;
};

// Stan's windowed adaptation: a fast initial buffer of 75 iterations, slow
// windows of 25, 50, 100, ... (the last stretched to the terminal buffer when
// the next one would not fit twice), a final fast buffer of 50. When
// 75 + 25 + 50 > num_warmup the buffers are 15% and 10% (truncated) and one
// window takes the rest; under 20 warm-up iterations there is no window (only
// the step size adapts). The first window is never stretched, as in Stan.
template <class = void>
inline std::vector<AdaptationWindow> mass_matrix_windows(int num_warmup, int init_buffer = 75, int base_window = 25,
                                                         int term_buffer = 50) {
  if (num_warmup < 20) return {};
  if (init_buffer + base_window + term_buffer > num_warmup) {
    init_buffer = int(0.15 * num_warmup);
    term_buffer = int(0.1 * num_warmup);
    base_window = num_warmup - (init_buffer + term_buffer);
  }
  const int slow_end = num_warmup - term_buffer;  // first iteration of the terminal buffer
  std::vector<AdaptationWindow> windows;
  int begin = init_buffer, size = base_window;
  while (begin < slow_end) {
    int end = begin + size;
    // After the first, a window stretches to the terminal buffer when the
    // next (twice as long) would cross it.
    if (!windows.empty() && end + 2 * size > slow_end) end = slow_end;
    windows.push_back({begin, end});
    begin = end;
    size *= 2;
  }
  return windows;
}

// Welford's running mean and variance of each coordinate (Stan's
// welford_var_estimator).
template <class = void>
class WelfordVarianceT {
 public:
  explicit WelfordVarianceT(Eigen::Index dimension)
      : mean_(Eigen::VectorXd::Zero(dimension)), sum_squares_(Eigen::VectorXd::Zero(dimension)),
        delta_(dimension) {}

  void restart() {
    count_ = 0;
    mean_.setZero();
    sum_squares_.setZero();
  }
  void add(const Eigen::Ref<const Eigen::VectorXd>& x) {
    ++count_;
    delta_ = x - mean_;
    mean_ += delta_ / double(count_);
    sum_squares_.array() += (x - mean_).array() * delta_.array();
  }
  long count() const { return count_; }
  // The sample variance (divisor n - 1); needs two draws.
  Eigen::VectorXd variance() const { return sum_squares_ / double(count_ - 1); }

 private:
  long count_ = 0;
  Eigen::VectorXd mean_, sum_squares_, delta_;
};
using WelfordVariance = WelfordVarianceT<>;

// Welford's running mean and covariance (Stan's welford_covar_estimator).
template <class = void>
class WelfordCovarianceT {
 public:
  explicit WelfordCovarianceT(Eigen::Index dimension)
      : mean_(Eigen::VectorXd::Zero(dimension)), sum_products_(Eigen::MatrixXd::Zero(dimension, dimension)),
        delta_(dimension), deviation_(dimension) {}

  void restart() {
    count_ = 0;
    mean_.setZero();
    sum_products_.setZero();
  }
  void add(const Eigen::Ref<const Eigen::VectorXd>& x) {
    ++count_;
    delta_ = x - mean_;
    mean_ += delta_ / double(count_);
    deviation_ = x - mean_;  // a member: Eigen would evaluate x - mean_ into a heap temporary for the product
    sum_products_.noalias() += deviation_ * delta_.transpose();
  }
  long count() const { return count_; }
  // The sample covariance (divisor n - 1); needs two draws.
  Eigen::MatrixXd covariance() const { return sum_products_ / double(count_ - 1); }

 private:
  long count_ = 0;
  Eigen::VectorXd mean_;
  Eigen::MatrixXd sum_products_;
  Eigen::VectorXd delta_, deviation_;
};
using WelfordCovariance = WelfordCovarianceT<>;

// Stan's shrinkage of an estimate from n draws towards 1e-3 (times the
// identity): (n / (n + 5)) estimate + 1e-3 (5 / (n + 5)).
template <class = void>
inline Eigen::VectorXd regularize_variance(const Eigen::VectorXd& variance, long n) {
  const double w = double(n) / (double(n) + 5.0);
  return (w * variance.array() + 1e-3 * (1.0 - w)).matrix();
}
template <class = void>
inline Eigen::MatrixXd regularize_covariance(const Eigen::MatrixXd& covariance, long n) {
  const double w = double(n) / (double(n) + 5.0);
  Eigen::MatrixXd regularized = w * covariance;
  regularized.diagonal().array() += 1e-3 * (1.0 - w);
  return regularized;
}

}  // namespace tyche
