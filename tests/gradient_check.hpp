// Finite-difference gradient checks shared by the test files: draws inputs in
// a domain, compares value_and_grad with central differences, and checks that
// the compiled replay of the same function gives the same numbers.
//
//   check_gradient("exp", [](const Inputs& in) { return tyche::exp(in[0]); },
//                  {{Shape{3, 4}, kReal}});
#pragma once

#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace tyche_test {

using tyche::Shape;
using tyche::Tensor;
using Inputs = std::vector<Tensor>;
using Fn = std::function<Tensor(const Inputs&)>;

// Where an input's elements are drawn: uniform on [low, high], or, with
// either_sign, a magnitude on [low, high] with a random sign (away from 0).
struct Domain {
  double low = -2.0, high = 2.0;
  bool either_sign = false;
};
constexpr Domain kReal{-2.0, 2.0};
constexpr Domain kPositive{0.2, 3.0};
constexpr Domain kUnitInterval{0.05, 0.95};
constexpr Domain kNonzero{0.5, 2.0, true};

struct Input {
  Shape shape;
  Domain domain = kReal;
};

// Central differences with h = 1e-6 max(1, |x|) have truncation error
// ~h^2 |f'''| / 6 ~ 1e-12 and rounding error ~eps |f| / h ~ 1e-10 |f| for the
// modest |f| here, so a correct gradient agrees to ~1e-8 or better; a wrong one
// (a missed broadcast sum, a wrong sign or factor) is off by O(1). 1e-5 (relative
// to max(1, |derivative|)) sits safely between the two.
constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-5;
constexpr unsigned kSeed = 20240607;

inline std::string describe(const std::vector<Shape>& shapes) {
  std::string s;
  for (const Shape& shape : shapes) s += (s.empty() ? "" : ", ") + shape.str();
  return "(" + s + ")";
}

inline double draw(const Domain& d, std::mt19937& rng) {
  const double v = std::uniform_real_distribution<double>(d.low, d.high)(rng);
  return d.either_sign && std::bernoulli_distribution(0.5)(rng) ? -v : v;
}

inline Tensor random_tensor(const Shape& shape, const Domain& d, std::mt19937& rng) {
  std::vector<double> v(std::size_t(shape.numel()));
  for (double& x : v) x = draw(d, rng);
  return Tensor(v, shape);
}

inline Tensor eye(std::int64_t n) { return Tensor(Eigen::MatrixXd::Identity(n, n)); }

// The inputs as consecutive pieces of the flat parameter vector q.
inline Inputs split_inputs(const Tensor& q, const std::vector<Shape>& shapes) {
  Inputs inputs;
  std::int64_t at = 0;
  for (const Shape& s : shapes) {
    inputs.push_back(q.slice(at, at + s.numel()).reshape(s));
    at += s.numel();
  }
  return inputs;
}

// Checks the gradient of fn at q0 (all inputs packed into q0). The output is
// reduced with fixed random weights bounded away from 0, so each output
// element's gradient contributes and none can hide behind another.
inline void check_gradient_at(const std::string& name, const Fn& fn, const std::vector<Shape>& shapes,
                       const Eigen::VectorXd& q0) {
  INFO(name << " with inputs " << describe(shapes));
  std::mt19937 rng(kSeed);
  const Tensor out = fn(split_inputs(Tensor(q0), shapes));
  const Tensor w = random_tensor(out.shape(), kNonzero, rng);
  const auto scalar = [&](const Tensor& q) { return tyche::sum(fn(split_inputs(q, shapes)) * w); };
  const auto evaluate = [&](const Eigen::VectorXd& q) { return scalar(Tensor(q)).item(); };

  const tyche::ValueAndGrad result = tyche::value_and_grad(scalar, q0);
  CHECK(result.value == Approx(evaluate(q0)).epsilon(1e-12));
  for (Eigen::Index i = 0; i < q0.size(); ++i) {
    Eigen::VectorXd plus = q0, minus = q0;
    plus[i] += kStep * std::max(1.0, std::abs(q0[i]));
    minus[i] -= kStep * std::max(1.0, std::abs(q0[i]));
    const double fd = (evaluate(plus) - evaluate(minus)) / (plus[i] - minus[i]);
    INFO("parameter " << i << " = " << q0[i] << ": autodiff " << result.grad[i]
                      << ", finite difference " << fd);
    CHECK(std::abs(result.grad[i] - fd) <= kTolerance * std::max(1.0, std::abs(fd)));
  }

  // The compiled replay of the same function, recorded at q0 and run at a
  // nearby point (a relative change, so it stays in the domain), gives the
  // numbers value_and_grad gives there.
  Eigen::VectorXd q1 = q0;
  for (double& v : q1) v *= 1.0 + std::uniform_real_distribution<double>(-1e-3, 1e-3)(rng);
  auto compiled = tyche::compile_gradient(scalar, q0);
  Eigen::VectorXd compiled_grad(q0.size());
  const double compiled_value = compiled(q1, compiled_grad);
  const tyche::ValueAndGrad expected = tyche::value_and_grad(scalar, q1);
  INFO("compiled gradient: value " << compiled_value << " vs " << expected.value << ", gradient ["
                                   << compiled_grad.transpose() << "] vs [" << expected.grad.transpose() << "]");
  CHECK(compiled_value == Approx(expected.value).epsilon(1e-12));
  CHECK(((compiled_grad - expected.grad).array().abs() <=
         1e-12 * expected.grad.array().abs().max(1.0)).all());
}

inline void check_gradient(const std::string& name, const Fn& fn, const std::vector<Input>& inputs) {
  std::mt19937 rng(kSeed + 1);
  std::vector<Shape> shapes;
  std::vector<double> q;
  for (const Input& in : inputs) {
    shapes.push_back(in.shape);
    for (std::int64_t k = 0; k < in.shape.numel(); ++k) q.push_back(draw(in.domain, rng));
  }
  check_gradient_at(name, fn, shapes, Eigen::Map<const Eigen::VectorXd>(q.data(), Eigen::Index(q.size())));
}

}  // namespace tyche_test
