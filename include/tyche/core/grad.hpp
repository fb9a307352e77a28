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
// For hot loops, compile_gradient (core/compiled.hpp) records f once and
// replays the recording for every later call.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <stdexcept>
#include <memory>
#include <string>
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
  return detail::Access::values_unguarded(out)[0];  // after the session: not tracing
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

}  // namespace tyche
