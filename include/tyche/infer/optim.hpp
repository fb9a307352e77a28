// tyche::optim: NumPyro's optimisers (numpyro.optim) over a flat vector of
// unconstrained parameters, minimising: each update moves the parameters
// against the gradient it is given.
//
//   tyche::optim::Adam adam({.step_size = 0.1, .b1 = 0.8, .b2 = 0.99});
//   auto state = adam.init(Eigen::VectorXd::Zero(3));
//   for (int i = 0; i < 200; ++i) adam.update(gradient_of_loss(adam.get_params(state)), state);
//
// Every optimiser has the same shape, which the concept `Optimizer` states:
// an options struct `XOptions`, a `State` holding `params`, the optimiser's own
// vectors and `step` (the number of updates made, NumPyro's `i`), `init`,
// `update` (one step, in place: NumPyro's update(g, state) -> state) and
// `get_params`. The update equations are those of
// jax.example_libraries.optimizers, which numpyro.optim wraps, with the step
// counter starting at 0 as in NumPyro's _NumPyroOptim.
//
// `step_size` is a number or a schedule, a callable from the step counter
// (0 for the first update) to the step size, as NumPyro accepts either:
//   tyche::optim::SGD sgd({.step_size = [](std::int64_t i) { return 0.1 / (1.0 + i); }});
//
// A gradient holding NaN or an infinity is an error (std::domain_error naming
// the optimiser and the first bad element), not a silent corruption of the
// state; NumPyro leaves such guarding to SVI's stable_update.
//
// The optimisers are class templates behind plain names (the idiom of
// core/tensor.hpp), so that including tyche compiles none of them.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <cstdio>
#include <concepts>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace tyche::optim {

// A step size: a constant, or a schedule called with the step counter.
class StepSize {
 public:
  StepSize(double constant) : constant_(constant) {}  // NOLINT: implicit, so `.step_size = 0.1` reads
  template <class F>
    requires std::is_invocable_r_v<double, F&, std::int64_t> && (!std::is_convertible_v<F, double>)
  StepSize(F schedule) : schedule_(std::move(schedule)) {}  // NOLINT: implicit, as a lambda in `.step_size = ...`

  bool is_schedule() const { return static_cast<bool>(schedule_); }
  double operator()(std::int64_t step) const { return schedule_ ? schedule_(step) : constant_; }

 private:
  double constant_ = 0.0;
  std::function<double(std::int64_t)> schedule_;
};

namespace detail {

template <class = void>
std::string optim_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

// Throws std::invalid_argument unless `value` lies in [low, high) (or
// [low, high] when high is inclusive).
template <class = void>
void require_option(const char* optimizer, const char* option, double value, double low, double high,
                    bool high_inclusive = false) {
  const bool ok = std::isfinite(value) && value >= low && (high_inclusive ? value <= high : value < high);
  if (!ok) {
    throw std::invalid_argument(std::string("tyche::optim::") + optimizer + ": " + option + " = " +
                                optim_number(value) + " must lie in [" +
                                optim_number(low) + ", " + optim_number(high) +
                                (high_inclusive ? "]" : ")"));
  }
}

// A constant step size must be a positive finite number; a schedule is
// checked where it is called.
template <class = void>
void require_step_size(const char* optimizer, const StepSize& step_size) {
  if (step_size.is_schedule()) return;
  const double value = step_size(0);
  if (!(std::isfinite(value) && value > 0.0)) {
    throw std::invalid_argument(std::string("tyche::optim::") + optimizer +
                                ": step_size = " + optim_number(value) +
                                " must be a positive finite number");
  }
}

// The step size for this update, checked.
template <class = void>
double step_size_at(const char* optimizer, const StepSize& step_size, std::int64_t step) {
  const double value = step_size(step);
  if (!std::isfinite(value)) {
    throw std::domain_error(std::string("tyche::optim::") + optimizer + ": the step-size schedule gave " +
                            optim_number(value) + " at step " + std::to_string(step));
  }
  return value;
}

// A gradient must match the parameters in size and be finite.
template <class = void>
void require_gradient(const char* optimizer, const Eigen::VectorXd& grad, const Eigen::VectorXd& params) {
  if (grad.size() != params.size()) {
    throw std::invalid_argument(std::string("tyche::optim::") + optimizer + "::update: the gradient has " +
                                std::to_string(grad.size()) + " elements but the parameters have " +
                                std::to_string(params.size()));
  }
  for (Eigen::Index i = 0; i < grad.size(); ++i) {
    if (!std::isfinite(grad[i])) {
      throw std::domain_error(std::string("tyche::optim::") + optimizer + "::update: gradient element " +
                              std::to_string(i) + " is " + optim_number(grad[i]) +
                              " (a non-finite gradient would corrupt the optimiser's state)");
    }
  }
}

}  // namespace detail

// The interface every optimiser offers; SVI takes any type satisfying it.
template <class O>
concept Optimizer = std::copy_constructible<O> && requires(const O& optimizer, const Eigen::VectorXd& vector,
                                                           typename O::State& state) {
  { optimizer.init(vector) } -> std::same_as<typename O::State>;
  { optimizer.update(vector, state) } -> std::same_as<void>;
  { optimizer.get_params(std::as_const(state)) } -> std::same_as<const Eigen::VectorXd&>;
  { state.params } -> std::same_as<Eigen::VectorXd&>;
  { state.step } -> std::same_as<std::int64_t&>;
};

// ---------------------------------------------------------------------------
// Adam (Kingma & Ba), as jax.example_libraries.optimizers.adam:
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
//   x <- x - step_size(i) * (m / (1 - b1^(i+1))) / (sqrt(v / (1 - b2^(i+1))) + eps).
struct AdamOptions {
  StepSize step_size = 1e-3;
  double b1 = 0.9;
  double b2 = 0.999;
  double eps = 1e-8;
};

namespace detail {

// One Adam step on `state` (any state with params, m, v and step) with the
// gradient `grad` (a vector or an expression), shared with ClippedAdam.
template <class G, class S>
void adam_step(const char* name, const AdamOptions& options, const G& grad, S& state) {
  const double step_size = detail::step_size_at(name, options.step_size, state.step);
  const double n = static_cast<double>(state.step + 1);
  const double m_correction = 1.0 - std::pow(options.b1, n);
  const double v_correction = 1.0 - std::pow(options.b2, n);
  state.m = options.b1 * state.m + (1.0 - options.b1) * grad;
  state.v = options.b2 * state.v + (1.0 - options.b2) * grad.cwiseAbs2();
  state.params.array() -=
      step_size * (state.m.array() / m_correction) / ((state.v.array() / v_correction).sqrt() + options.eps);
  ++state.step;
}

}  // namespace detail

template <class = void>
class AdamT {
 public:
  explicit AdamT(AdamOptions options = {}) : options_(std::move(options)) {
    detail::require_step_size("Adam", options_.step_size);
    detail::require_option("Adam", "b1", options_.b1, 0.0, 1.0);
    detail::require_option("Adam", "b2", options_.b2, 0.0, 1.0);
    detail::require_option("Adam", "eps", options_.eps, 0.0, HUGE_VAL);
  }

  struct State {
    Eigen::VectorXd params;
    Eigen::VectorXd m;  // first-moment (mean) estimate
    Eigen::VectorXd v;  // second-moment (uncentred variance) estimate
    std::int64_t step = 0;
  };

  State init(const Eigen::VectorXd& params) const {
    return {params, Eigen::VectorXd::Zero(params.size()), Eigen::VectorXd::Zero(params.size()), 0};
  }

  void update(const Eigen::VectorXd& grad, State& state) const {
    detail::require_gradient("Adam", grad, state.params);
    detail::adam_step("Adam", options_, grad, state);
  }

  const Eigen::VectorXd& get_params(const State& state) const { return state.params; }
  const AdamOptions& options() const { return options_; }

 private:
  AdamOptions options_;
};

using Adam = AdamT<>;

}  // namespace tyche::optim
