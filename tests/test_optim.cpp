// tyche::optim: each optimiser's first two updates against its equations
// worked out in plain scalar arithmetic, element by element; Adam minimising
// a quadratic; the errors. The equations are those of
// jax/example_libraries/optimizers.py (which numpyro/optim.py wraps), cited
// at each test.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "require_throws.hpp"
#include "tyche/infer/optim.hpp"

namespace {

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

// A fixed two-step gradient sequence on a 2-element parameter vector.
const Eigen::Vector2d kStart{1.0, -2.0};
const Eigen::Vector2d kGrad1{0.5, -3.0};
const Eigen::Vector2d kGrad2{-1.0, 2.0};

void require_close(const Eigen::VectorXd& actual, double expected0, double expected1) {
  REQUIRE(actual.size() == 2);
  CHECK_THAT(actual[0], WithinRel(expected0, 1e-13) || WithinAbs(expected0, 1e-15));
  CHECK_THAT(actual[1], WithinRel(expected1, 1e-13) || WithinAbs(expected1, 1e-15));
}

static_assert(tyche::optim::Optimizer<tyche::optim::Adam>);
static_assert(!tyche::optim::Optimizer<int>);

}  // namespace

// jax adam: m = (1-b1) g + b1 m; v = (1-b2) g^2 + b2 v;
// mhat = m / (1 - b1^(i+1)); vhat = v / (1 - b2^(i+1));
// x = x - step_size(i) * mhat / (sqrt(vhat) + eps), i = 0, 1, ...
TEST_CASE("Adam: two updates as jax's adam equations", "[optim]") {
  const double lr = 0.1, b1 = 0.8, b2 = 0.99, eps = 1e-3;
  const tyche::optim::Adam adam({.step_size = lr, .b1 = b1, .b2 = b2, .eps = eps});
  auto state = adam.init(kStart);
  REQUIRE(state.step == 0);
  require_close(adam.get_params(state), 1.0, -2.0);

  // Element by element: the moments after each step and the parameter.
  double x[2] = {1.0, -2.0}, m[2] = {0.0, 0.0}, v[2] = {0.0, 0.0};
  const double g[2][2] = {{0.5, -3.0}, {-1.0, 2.0}};
  for (int i = 0; i < 2; ++i) {
    adam.update(i == 0 ? kGrad1 : kGrad2, state);
    for (int k = 0; k < 2; ++k) {
      m[k] = (1 - b1) * g[i][k] + b1 * m[k];
      v[k] = (1 - b2) * g[i][k] * g[i][k] + b2 * v[k];
      const double mhat = m[k] / (1 - std::pow(b1, i + 1));
      const double vhat = v[k] / (1 - std::pow(b2, i + 1));
      x[k] = x[k] - lr * mhat / (std::sqrt(vhat) + eps);
    }
    require_close(state.params, x[0], x[1]);
    require_close(state.m, m[0], m[1]);
    require_close(state.v, v[0], v[1]);
    REQUIRE(state.step == i + 1);
  }
  // The first step is lr * g / (|g| + eps), by hand: 1 - 0.1 * 0.5 / 0.501.
  tyche::optim::Adam::State first = adam.init(kStart);
  adam.update(kGrad1, first);
  require_close(first.params, 1.0 - 0.1 * 0.5 / 0.501, -2.0 + 0.1 * 3.0 / 3.001);
}

TEST_CASE("Adam: NumPyro's defaults and designated options", "[optim]") {
  const tyche::optim::Adam defaults;
  CHECK(defaults.options().step_size(0) == 1e-3);
  CHECK(defaults.options().b1 == 0.9);
  CHECK(defaults.options().b2 == 0.999);
  CHECK(defaults.options().eps == 1e-8);
  const auto adam = tyche::optim::Adam({.step_size = 0.1});
  CHECK(adam.options().step_size(7) == 0.1);
  CHECK(adam.options().b1 == 0.9);
}

TEST_CASE("Adam minimises a quadratic", "[optim]") {
  // f(x) = 1/2 (x - c)' A (x - c) with A diagonal and ill-conditioned; the
  // gradient is A (x - c). Adam's steps shrink with its step size, so a
  // decaying schedule brings it to the minimum.
  const Eigen::Vector3d curvature{1.0, 10.0, 100.0};
  const Eigen::Vector3d centre{3.0, -1.0, 0.5};
  const tyche::optim::Adam adam({.step_size = [](std::int64_t i) { return 0.1 / std::sqrt(1.0 + i / 10.0); }});
  auto state = adam.init(Eigen::VectorXd::Zero(3));
  for (int i = 0; i < 5000; ++i) {
    const Eigen::VectorXd grad = curvature.cwiseProduct(state.params - centre);
    adam.update(grad, state);
  }
  for (int k = 0; k < 3; ++k) CHECK_THAT(state.params[k], WithinAbs(centre[k], 1e-4));
}

TEST_CASE("Adam: bad options and gradients are errors naming what was wrong", "[optim]") {
  using tyche::optim::Adam;
  REQUIRE_THROWS_CONTAINING(Adam({.step_size = -0.1}), std::invalid_argument, "Adam", "step_size", "-0.1");
  REQUIRE_THROWS_CONTAINING(Adam({.step_size = 0.1, .b1 = 1.0}), std::invalid_argument, "Adam", "b1");
  REQUIRE_THROWS_CONTAINING(Adam({.step_size = 0.1, .b2 = -0.5}), std::invalid_argument, "Adam", "b2");
  REQUIRE_THROWS_CONTAINING(Adam({.step_size = 0.1, .eps = std::nan("")}), std::invalid_argument, "Adam", "eps");

  const Adam adam({.step_size = 0.1});
  auto state = adam.init(kStart);
  const Eigen::Vector2d nan_grad{0.5, std::numeric_limits<double>::quiet_NaN()};
  REQUIRE_THROWS_CONTAINING(adam.update(nan_grad, state), std::domain_error, "Adam", "element 1", "nan");
  const Eigen::Vector2d inf_grad{std::numeric_limits<double>::infinity(), 0.0};
  REQUIRE_THROWS_CONTAINING(adam.update(inf_grad, state), std::domain_error, "Adam", "element 0", "inf");
  CHECK(state.step == 0);  // a rejected gradient leaves the state as it was
  require_close(state.params, 1.0, -2.0);
  REQUIRE_THROWS_CONTAINING(adam.update(Eigen::VectorXd::Zero(3), state), std::invalid_argument, "Adam", "3",
                            "2");

  const Adam bad_schedule({.step_size = [](std::int64_t) { return std::numeric_limits<double>::infinity(); }});
  auto scheduled = bad_schedule.init(kStart);
  REQUIRE_THROWS_CONTAINING(bad_schedule.update(kGrad1, scheduled), std::domain_error, "Adam", "schedule",
                            "step 0");
}
