// tyche::optim: NumPyro's optimisers (numpyro.optim) over a flat vector of
// unconstrained parameters, minimising: each update moves the parameters
// against the gradient it is given.
//
//   tyche::optim::Adam adam({.step_size = 0.1, .b1 = 0.8, .b2 = 0.99});
//   auto state = adam.init(Eigen::VectorXd::Zero(3));
//   for (int i = 0; i < 200; ++i) adam.update(gradient_of_loss(adam.get_params(state)), state);
//
// The optimisers: Adam, ClippedAdam, SGD, Momentum, RMSProp, RMSPropMomentum
// and Adagrad, with NumPyro's option names and defaults. Every optimiser has
// the same shape, which the concept `Optimizer` states:
// an options struct `XOptions`, a `State` holding `params`, the optimiser's own
// vectors and `step` (the number of updates made, NumPyro's `i`), `init`,
// `update` (one step, in place: NumPyro's update(g, state) -> state) and
// `get_params`. The update equations are those of
// jax.example_libraries.optimizers, which numpyro.optim wraps, with the step
// counter starting at 0 as in NumPyro's _NumPyroOptim. NumPyro requires the
// step size (and Momentum's mass); tyche defaults every step size to Adam's
// 1e-3 and requires the mass. Not here: NumPyro's Minimize (BFGS), SM3 (on a
// flat vector it is Adagrad) and optax_to_numpyro.
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
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
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
  std::snprintf(text, sizeof text, "%.10g", value);
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

// eps keeps a gradient element that has been 0 so far from giving 0 / 0.
template <class = void>
void require_eps(const char* optimizer, double eps) {
  if (!(std::isfinite(eps) && eps > 0.0)) {
    throw std::invalid_argument(std::string("tyche::optim::") + optimizer + ": eps = " + optim_number(eps) +
                                " must be a positive finite number (it keeps a zero gradient from giving 0 / 0)");
  }
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
    detail::require_eps("Adam", options_.eps);
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

// ---------------------------------------------------------------------------
// ClippedAdam, as numpyro.optim.ClippedAdam: Adam on the gradient with each
// element clipped to [-clip_norm, clip_norm] (element-wise, not a rescaling
// by the global norm: NumPyro's jnp.clip). Pyro's `lrd` decay of the step
// size (numpyro.compat.optim.ClippedAdam) is the schedule
//   .step_size = [](std::int64_t i) { return lr * std::pow(lrd, i); }.
struct ClippedAdamOptions {
  StepSize step_size = 1e-3;
  double b1 = 0.9;
  double b2 = 0.999;
  double eps = 1e-8;
  double clip_norm = 10.0;
};

template <class = void>
class ClippedAdamT {
 public:
  explicit ClippedAdamT(ClippedAdamOptions options = {}) : options_(std::move(options)) {
    detail::require_step_size("ClippedAdam", options_.step_size);
    detail::require_option("ClippedAdam", "b1", options_.b1, 0.0, 1.0);
    detail::require_option("ClippedAdam", "b2", options_.b2, 0.0, 1.0);
    detail::require_eps("ClippedAdam", options_.eps);
    if (!(options_.clip_norm > 0.0)) {  // +inf is allowed: no clipping
      throw std::invalid_argument("tyche::optim::ClippedAdam: clip_norm = " + detail::optim_number(options_.clip_norm) +
                                  " must be positive");
    }
  }

  using State = typename AdamT<>::State;

  State init(const Eigen::VectorXd& params) const {
    return {params, Eigen::VectorXd::Zero(params.size()), Eigen::VectorXd::Zero(params.size()), 0};
  }

  void update(const Eigen::VectorXd& grad, State& state) const {
    detail::require_gradient("ClippedAdam", grad, state.params);
    const AdamOptions adam{options_.step_size, options_.b1, options_.b2, options_.eps};
    detail::adam_step("ClippedAdam", adam, grad.cwiseMax(-options_.clip_norm).cwiseMin(options_.clip_norm), state);
  }

  const Eigen::VectorXd& get_params(const State& state) const { return state.params; }
  const ClippedAdamOptions& options() const { return options_; }

 private:
  ClippedAdamOptions options_;
};

using ClippedAdam = ClippedAdamT<>;

// ---------------------------------------------------------------------------
// SGD, as jax.example_libraries.optimizers.sgd:  x <- x - step_size(i) g.
// NumPyro requires a step size; tyche's default is Adam's.
struct SGDOptions {
  StepSize step_size = 1e-3;
};

template <class = void>
class SGDT {
 public:
  explicit SGDT(SGDOptions options = {}) : options_(std::move(options)) {
    detail::require_step_size("SGD", options_.step_size);
  }

  struct State {
    Eigen::VectorXd params;
    std::int64_t step = 0;
  };

  State init(const Eigen::VectorXd& params) const { return {params, 0}; }

  void update(const Eigen::VectorXd& grad, State& state) const {
    detail::require_gradient("SGD", grad, state.params);
    state.params -= detail::step_size_at("SGD", options_.step_size, state.step) * grad;
    ++state.step;
  }

  const Eigen::VectorXd& get_params(const State& state) const { return state.params; }
  const SGDOptions& options() const { return options_; }

 private:
  SGDOptions options_;
};

using SGD = SGDT<>;

// ---------------------------------------------------------------------------
// Momentum (heavy ball), as jax.example_libraries.optimizers.momentum:
//   velocity <- mass velocity + g,   x <- x - step_size(i) velocity.
// `mass` has no default in NumPyro, so it must be given.
struct MomentumOptions {
  StepSize step_size = 1e-3;
  std::optional<double> mass = std::nullopt;
};

template <class = void>
class MomentumT {
 public:
  explicit MomentumT(MomentumOptions options = {}) : options_(std::move(options)) {
    detail::require_step_size("Momentum", options_.step_size);
    if (!options_.mass) {
      throw std::invalid_argument("tyche::optim::Momentum: mass must be given (NumPyro has no default), e.g. "
                                  "Momentum({.step_size = 0.01, .mass = 0.9})");
    }
    detail::require_option("Momentum", "mass", *options_.mass, 0.0, 1.0, /*high_inclusive=*/true);
  }

  struct State {
    Eigen::VectorXd params;
    Eigen::VectorXd velocity;
    std::int64_t step = 0;
  };

  State init(const Eigen::VectorXd& params) const { return {params, Eigen::VectorXd::Zero(params.size()), 0}; }

  void update(const Eigen::VectorXd& grad, State& state) const {
    detail::require_gradient("Momentum", grad, state.params);
    const double step_size = detail::step_size_at("Momentum", options_.step_size, state.step);
    state.velocity = *options_.mass * state.velocity + grad;
    state.params -= step_size * state.velocity;
    ++state.step;
  }

  const Eigen::VectorXd& get_params(const State& state) const { return state.params; }
  const MomentumOptions& options() const { return options_; }

 private:
  MomentumOptions options_;
};

using Momentum = MomentumT<>;

// ---------------------------------------------------------------------------
// RMSProp, as jax.example_libraries.optimizers.rmsprop (eps inside the root):
//   avg_sq_grad <- gamma avg_sq_grad + (1 - gamma) g^2,
//   x <- x - step_size(i) g / sqrt(avg_sq_grad + eps).
struct RMSPropOptions {
  StepSize step_size = 1e-3;
  double gamma = 0.9;
  double eps = 1e-8;
};

template <class = void>
class RMSPropT {
 public:
  explicit RMSPropT(RMSPropOptions options = {}) : options_(std::move(options)) {
    detail::require_step_size("RMSProp", options_.step_size);
    detail::require_option("RMSProp", "gamma", options_.gamma, 0.0, 1.0);
    detail::require_eps("RMSProp", options_.eps);
  }

  struct State {
    Eigen::VectorXd params;
    Eigen::VectorXd avg_sq_grad;
    std::int64_t step = 0;
  };

  State init(const Eigen::VectorXd& params) const { return {params, Eigen::VectorXd::Zero(params.size()), 0}; }

  void update(const Eigen::VectorXd& grad, State& state) const {
    detail::require_gradient("RMSProp", grad, state.params);
    const double step_size = detail::step_size_at("RMSProp", options_.step_size, state.step);
    state.avg_sq_grad = options_.gamma * state.avg_sq_grad + (1.0 - options_.gamma) * grad.cwiseAbs2();
    state.params.array() -= step_size * grad.array() / (state.avg_sq_grad.array() + options_.eps).sqrt();
    ++state.step;
  }

  const Eigen::VectorXd& get_params(const State& state) const { return state.params; }
  const RMSPropOptions& options() const { return options_; }

 private:
  RMSPropOptions options_;
};

using RMSProp = RMSPropT<>;

// ---------------------------------------------------------------------------
// RMSPropMomentum, as jax.example_libraries.optimizers.rmsprop_momentum:
//   avg_sq_grad <- gamma avg_sq_grad + (1 - gamma) g^2,
//   mom <- momentum mom + step_size(i) g / sqrt(avg_sq_grad + eps),   x <- x - mom.
struct RMSPropMomentumOptions {
  StepSize step_size = 1e-3;
  double gamma = 0.9;
  double eps = 1e-8;
  double momentum = 0.9;
};

template <class = void>
class RMSPropMomentumT {
 public:
  explicit RMSPropMomentumT(RMSPropMomentumOptions options = {}) : options_(std::move(options)) {
    detail::require_step_size("RMSPropMomentum", options_.step_size);
    detail::require_option("RMSPropMomentum", "gamma", options_.gamma, 0.0, 1.0);
    detail::require_eps("RMSPropMomentum", options_.eps);
    detail::require_option("RMSPropMomentum", "momentum", options_.momentum, 0.0, 1.0, /*high_inclusive=*/true);
  }

  struct State {
    Eigen::VectorXd params;
    Eigen::VectorXd avg_sq_grad;
    Eigen::VectorXd mom;
    std::int64_t step = 0;
  };

  State init(const Eigen::VectorXd& params) const {
    return {params, Eigen::VectorXd::Zero(params.size()), Eigen::VectorXd::Zero(params.size()), 0};
  }

  void update(const Eigen::VectorXd& grad, State& state) const {
    detail::require_gradient("RMSPropMomentum", grad, state.params);
    const double step_size = detail::step_size_at("RMSPropMomentum", options_.step_size, state.step);
    state.avg_sq_grad = options_.gamma * state.avg_sq_grad + (1.0 - options_.gamma) * grad.cwiseAbs2();
    state.mom.array() = options_.momentum * state.mom.array() +
                        step_size * grad.array() / (state.avg_sq_grad.array() + options_.eps).sqrt();
    state.params -= state.mom;
    ++state.step;
  }

  const Eigen::VectorXd& get_params(const State& state) const { return state.params; }
  const RMSPropMomentumOptions& options() const { return options_; }

 private:
  RMSPropMomentumOptions options_;
};

using RMSPropMomentum = RMSPropMomentumT<>;

// ---------------------------------------------------------------------------
// Adagrad, as jax.example_libraries.optimizers.adagrad (with momentum and no
// eps: an element whose gradients have all been 0 takes no step):
//   g_sq <- g_sq + g^2,   m <- (1 - momentum) g / sqrt(g_sq) + momentum m,
//   x <- x - step_size(i) m.
// (NumPyro's SM3 on a flat vector is this same update, so tyche has no SM3.)
struct AdagradOptions {
  StepSize step_size = 1e-3;
  double momentum = 0.9;
};

template <class = void>
class AdagradT {
 public:
  explicit AdagradT(AdagradOptions options = {}) : options_(std::move(options)) {
    detail::require_step_size("Adagrad", options_.step_size);
    detail::require_option("Adagrad", "momentum", options_.momentum, 0.0, 1.0, /*high_inclusive=*/true);
  }

  struct State {
    Eigen::VectorXd params;
    Eigen::VectorXd g_sq;  // the sum of squared gradients so far
    Eigen::VectorXd m;
    std::int64_t step = 0;
  };

  State init(const Eigen::VectorXd& params) const {
    return {params, Eigen::VectorXd::Zero(params.size()), Eigen::VectorXd::Zero(params.size()), 0};
  }

  void update(const Eigen::VectorXd& grad, State& state) const {
    detail::require_gradient("Adagrad", grad, state.params);
    const double step_size = detail::step_size_at("Adagrad", options_.step_size, state.step);
    state.g_sq += grad.cwiseAbs2();
    state.m.array() = (1.0 - options_.momentum) *
                          (state.g_sq.array() > 0.0).select(grad.array() / state.g_sq.array().sqrt(), 0.0) +
                      options_.momentum * state.m.array();
    state.params -= step_size * state.m;
    ++state.step;
  }

  const Eigen::VectorXd& get_params(const State& state) const { return state.params; }
  const AdagradOptions& options() const { return options_; }

 private:
  AdagradOptions options_;
};

using Adagrad = AdagradT<>;

}  // namespace tyche::optim
