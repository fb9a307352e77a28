// Gradients of scalar functions of a flat parameter vector.
//
//   auto f = [](const tyche::Tensor& q) { return tyche::sum(tyche::square(q)); };
//   Eigen::VectorXd x(3), g(3);
//   x << 1, 2, 3;
//   double v = tyche::value_and_grad(f, x, g);   // v = 14, g = (2, 4, 6)
//   auto [value, gradient] = tyche::value_and_grad(f, x);
//
// f receives the parameters as a rank-1 Tensor and must return an array of size 1.
// The three-argument form reuses the caller's gradient vector and, once the
// first call has sized the arena, allocates nothing; call it in a loop.
//
// For hot loops, compile_gradient records f once and replays the recorded
// operations for every later call, without running f, building arrays or
// touching the arena again (the way CppAD tapes and JAX traces):
//
//   auto compiled = tyche::compile_gradient(f, x);
//   double v2 = compiled(x, g);                 // same numbers as value_and_grad
//
// The guard: while recording, reading the value of an array that depends on
// the parameters (item(), data(), at(), ...) throws, because a branch taken on
// it would be frozen into the recording; such functions use value_and_grad.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <stdexcept>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tyche/core/tensor.hpp"

namespace tyche {

struct ValueAndGrad {
  double value;
  Eigen::VectorXd grad;
};

template <class F>
double value_and_grad(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x,
                      Eigen::Ref<Eigen::VectorXd> grad) {
  if (grad.size() != x.size())
    throw ShapeError("tyche: value_and_grad: gradient vector of length " +
                     std::to_string(grad.size()) + " for " + std::to_string(x.size()) +
                     " parameters");
  detail::RecordingSession session;
  const Tensor parameters = detail::Access::variable(x.data(), x.size());
  const Tensor out = std::forward<F>(f)(parameters);
  detail::Access::check_live(out);
  if (out.size() != 1)
    throw ShapeError("tyche: value_and_grad needs a function returning one value but got shape " +
                     out.shape().str());
  std::fill(grad.data(), grad.data() + grad.size(), 0.0);
  if (double* seed = detail::Access::grad(out)) {
    seed[0] = 1.0;
    session.tape().run_backward();
    grad = Eigen::Map<const Eigen::VectorXd>(detail::Access::grad(parameters), x.size());
  }
  return detail::Access::data(out)[0];
}

template <class F>
ValueAndGrad value_and_grad(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x) {
  ValueAndGrad result{0.0, Eigen::VectorXd(x.size())};
  result.value = value_and_grad(std::forward<F>(f), x, result.grad);
  return result;
}

template <class F>
Eigen::VectorXd grad(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x) {
  return value_and_grad(std::forward<F>(f), x).grad;
}

// A recording of f that replays its operations on new parameter values. Not for
// concurrent use: give each thread (each chain) its own.
template <class F>
class CompiledGradient {
 public:
  CompiledGradient(F f, const Eigen::Ref<const Eigen::VectorXd>& x)
      : f_(std::make_unique<F>(std::move(f))), arenas_(std::make_unique<detail::Arenas>()) {
    // A recording that outgrew the arenas is made again in the grown ones, so
    // that every gradient buffer lies in one block.
    for (int attempt = 0;; ++attempt) {
      record(x);
      if (!arenas_->gradients.overflowed() && !arenas_->values.overflowed()) break;
      if (attempt == 2)
        throw std::logic_error("tyche: compile_gradient: the function allocates differently each time it runs");
    }
  }

  double operator()(const Eigen::Ref<const Eigen::VectorXd>& x, Eigen::Ref<Eigen::VectorXd> grad) {
    if (x.size() != size_ || grad.size() != size_)
      throw ShapeError("tyche: compiled gradient of " + std::to_string(size_) +
                       " parameters called with " + std::to_string(x.size()) +
                       " values and a gradient vector of length " + std::to_string(grad.size()));
    // Plain loops: these arrays are small, and a call to memcpy or memset costs
    // more than the stores.
    const double* in = x.data();
    for (Eigen::Index i = 0; i < size_; ++i) parameters_[i] = in[i];
    for (double* g = gradients_begin_; g != gradients_end_; ++g) *g = 0.0;
    for (const detail::Node* node : nodes_) node->forward(*node);
    if (value_grad_) {
      value_grad_[0] = 1.0;
      for (auto node = nodes_.rbegin(); node != nodes_.rend(); ++node) (*node)->backward(**node);
    }
    double* out = grad.data();
    for (Eigen::Index i = 0; i < size_; ++i) out[i] = parameter_grad_[i];
    return value_[0];
  }

  // Operations recorded (views and constants are not).
  std::size_t size() const { return nodes_.size(); }

 private:
  void record(const Eigen::Ref<const Eigen::VectorXd>& x) {
    detail::RecordingSession session(*arenas_, /*tracing=*/true);
    const Tensor parameters = detail::Access::variable(x.data(), x.size());
    const Tensor out = (*f_)(parameters);
    detail::Access::check_live(out);
    if (out.size() != 1)
      throw ShapeError(
          "tyche: compile_gradient needs a function returning one value but got shape " +
          out.shape().str());
    nodes_.clear();
    for (const detail::Node* node = session.tape().last(); node; node = node->previous)
      nodes_.push_back(node);
    std::reverse(nodes_.begin(), nodes_.end());
    parameters_ = detail::Access::data(parameters);
    parameter_grad_ = detail::Access::grad(parameters);
    value_ = detail::Access::data(out);
    value_grad_ = detail::Access::grad(out);
    std::tie(gradients_begin_, gradients_end_) = session.tape().gradient_block();
    size_ = x.size();
  }

  std::unique_ptr<F> f_;  // kept, and kept in place: the recording points into its captures
  std::unique_ptr<detail::Arenas> arenas_;
  std::vector<const detail::Node*> nodes_;  // in execution order
  double* parameters_ = nullptr;
  double* parameter_grad_ = nullptr;
  const double* value_ = nullptr;
  double* value_grad_ = nullptr;
  double* gradients_begin_ = nullptr;
  double* gradients_end_ = nullptr;
  Eigen::Index size_ = 0;
};

template <class F>
CompiledGradient<std::decay_t<F>> compile_gradient(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x) {
  return CompiledGradient<std::decay_t<F>>(std::forward<F>(f), x);
}

}  // namespace tyche
