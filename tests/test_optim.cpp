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
static_assert(tyche::optim::Optimizer<tyche::optim::ClippedAdam>);
static_assert(tyche::optim::Optimizer<tyche::optim::SGD>);
static_assert(tyche::optim::Optimizer<tyche::optim::Momentum>);
static_assert(tyche::optim::Optimizer<tyche::optim::RMSProp>);
static_assert(tyche::optim::Optimizer<tyche::optim::RMSPropMomentum>);
static_assert(tyche::optim::Optimizer<tyche::optim::Adagrad>);
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
  // gradient is A (x - c). Plain gradient descent with step 0.1 diverges here
  // (0.1 * 100 > 2); Adam's steps are invariant to each coordinate's scale.
  // The gradient is exact (no noise), so Adam settles on the minimum to
  // rounding error; 1e-9 leaves room for platform differences.
  const Eigen::Vector3d curvature{1.0, 10.0, 100.0};
  const Eigen::Vector3d centre{3.0, -1.0, 0.5};
  const tyche::optim::Adam adam({.step_size = 0.1});
  auto state = adam.init(Eigen::VectorXd::Zero(3));
  for (int i = 0; i < 2000; ++i) {
    const Eigen::VectorXd grad = curvature.cwiseProduct(state.params - centre);
    adam.update(grad, state);
  }
  for (int k = 0; k < 3; ++k) CHECK_THAT(state.params[k], WithinAbs(centre[k], 1e-9));
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

// NumPyro's ClippedAdam: jnp.clip(g, -clip_norm, clip_norm) element by
// element, then jax's adam (numpyro/optim.py, ClippedAdam.update).
TEST_CASE("ClippedAdam: clipping engaged is Adam on the clipped gradient, not engaged is Adam", "[optim]") {
  const double lr = 0.1, b1 = 0.8, b2 = 0.99, eps = 1e-3;
  const tyche::optim::ClippedAdam clipped({.step_size = lr, .b1 = b1, .b2 = b2, .eps = eps, .clip_norm = 1.0});
  auto state = clipped.init(kStart);
  // g1 = (0.5, -3) clips to (0.5, -1); g2 = (-1, 2) clips to (-1, 1).
  double x[2] = {1.0, -2.0}, m[2] = {0.0, 0.0}, v[2] = {0.0, 0.0};
  const double g[2][2] = {{0.5, -1.0}, {-1.0, 1.0}};
  for (int i = 0; i < 2; ++i) {
    clipped.update(i == 0 ? kGrad1 : kGrad2, state);
    for (int k = 0; k < 2; ++k) {
      m[k] = (1 - b1) * g[i][k] + b1 * m[k];
      v[k] = (1 - b2) * g[i][k] * g[i][k] + b2 * v[k];
      x[k] = x[k] - lr * (m[k] / (1 - std::pow(b1, i + 1))) / (std::sqrt(v[k] / (1 - std::pow(b2, i + 1))) + eps);
    }
    require_close(state.params, x[0], x[1]);
    require_close(state.m, m[0], m[1]);
    require_close(state.v, v[0], v[1]);
  }
  // By hand, the first step: 1 - 0.1 * 0.5 / 0.501 and -2 + 0.1 * 1 / 1.001.
  auto first = clipped.init(kStart);
  clipped.update(kGrad1, first);
  require_close(first.params, 1.0 - 0.1 * 0.5 / 0.501, -2.0 + 0.1 * 1.0 / 1.001);

  // NumPyro's default clip_norm 10 leaves these gradients alone: exactly Adam.
  const tyche::optim::ClippedAdam unclipped({.step_size = lr, .b1 = b1, .b2 = b2, .eps = eps});
  CHECK(unclipped.options().clip_norm == 10.0);
  const tyche::optim::Adam adam({.step_size = lr, .b1 = b1, .b2 = b2, .eps = eps});
  auto clipped_state = unclipped.init(kStart);
  auto adam_state = adam.init(kStart);
  for (int i = 0; i < 2; ++i) {
    unclipped.update(i == 0 ? kGrad1 : kGrad2, clipped_state);
    adam.update(i == 0 ? kGrad1 : kGrad2, adam_state);
  }
  CHECK(clipped_state.params == adam_state.params);
  CHECK(clipped_state.m == adam_state.m);
  CHECK(clipped_state.v == adam_state.v);
}

// jax sgd: x = x - step_size(i) * g.
TEST_CASE("SGD: two updates by hand, and a schedule called with 0 then 1", "[optim]") {
  const tyche::optim::SGD sgd({.step_size = 0.1});
  auto state = sgd.init(kStart);
  sgd.update(kGrad1, state);
  require_close(state.params, 0.95, -1.7);
  sgd.update(kGrad2, state);
  require_close(state.params, 1.05, -1.9);
  REQUIRE(state.step == 2);

  // step_size(i) = 0.1 / (1 + i): 0.1 for the first update, 0.05 for the second.
  const tyche::optim::SGD scheduled({.step_size = [](std::int64_t i) { return 0.1 / (1.0 + static_cast<double>(i)); }});
  auto s = scheduled.init(kStart);
  scheduled.update(kGrad1, s);
  require_close(s.params, 0.95, -1.7);
  scheduled.update(kGrad2, s);
  require_close(s.params, 0.95 + 0.05, -1.7 - 0.1);
}

// jax momentum: velocity = mass * velocity + g; x = x - step_size(i) * velocity.
TEST_CASE("Momentum: two updates by hand", "[optim]") {
  const tyche::optim::Momentum momentum({.step_size = 0.1, .mass = 0.5});
  auto state = momentum.init(kStart);
  momentum.update(kGrad1, state);  // velocity (0.5, -3)
  require_close(state.velocity, 0.5, -3.0);
  require_close(state.params, 0.95, -1.7);
  momentum.update(kGrad2, state);  // velocity 0.5 * (0.5, -3) + (-1, 2) = (-0.75, 0.5)
  require_close(state.velocity, -0.75, 0.5);
  require_close(state.params, 1.025, -1.75);
}

// jax rmsprop: avg_sq_grad = avg_sq_grad * gamma + g^2 * (1 - gamma);
// x = x - step_size(i) * g / sqrt(avg_sq_grad + eps).
TEST_CASE("RMSProp: two updates as jax's rmsprop equations", "[optim]") {
  const tyche::optim::RMSProp defaults;
  CHECK(defaults.options().gamma == 0.9);
  CHECK(defaults.options().eps == 1e-8);
  const double lr = 0.1, gamma = 0.9, eps = 1e-2;
  const tyche::optim::RMSProp rmsprop({.step_size = lr, .gamma = gamma, .eps = eps});
  auto state = rmsprop.init(kStart);
  // By hand, the first step: avg = 0.1 g^2 = (0.025, 0.9).
  rmsprop.update(kGrad1, state);
  require_close(state.avg_sq_grad, 0.025, 0.9);
  require_close(state.params, 1.0 - 0.1 * 0.5 / std::sqrt(0.035), -2.0 + 0.1 * 3.0 / std::sqrt(0.91));
  // The second: avg = 0.9 avg + 0.1 g2^2 = (0.1225, 1.21).
  rmsprop.update(kGrad2, state);
  require_close(state.avg_sq_grad, 0.1225, 1.21);
  require_close(state.params, 1.0 - 0.1 * 0.5 / std::sqrt(0.035) + 0.1 * 1.0 / std::sqrt(0.1325),
                -2.0 + 0.1 * 3.0 / std::sqrt(0.91) - 0.1 * 2.0 / std::sqrt(1.22));
}

// jax rmsprop_momentum: avg_sq_grad as rmsprop;
// mom = momentum * mom + step_size(i) * g / sqrt(avg_sq_grad + eps); x = x - mom.
TEST_CASE("RMSPropMomentum: two updates as jax's rmsprop_momentum equations", "[optim]") {
  const tyche::optim::RMSPropMomentum defaults;
  CHECK(defaults.options().momentum == 0.9);
  const double lr = 0.1, gamma = 0.9, eps = 1e-2, mu = 0.5;
  const tyche::optim::RMSPropMomentum optimizer({.step_size = lr, .gamma = gamma, .eps = eps, .momentum = mu});
  auto state = optimizer.init(kStart);
  double x[2] = {1.0, -2.0}, avg[2] = {0.0, 0.0}, mom[2] = {0.0, 0.0};
  const double g[2][2] = {{0.5, -3.0}, {-1.0, 2.0}};
  for (int i = 0; i < 2; ++i) {
    optimizer.update(i == 0 ? kGrad1 : kGrad2, state);
    for (int k = 0; k < 2; ++k) {
      avg[k] = avg[k] * gamma + g[i][k] * g[i][k] * (1 - gamma);
      mom[k] = mu * mom[k] + lr * g[i][k] / std::sqrt(avg[k] + eps);
      x[k] = x[k] - mom[k];
    }
    require_close(state.avg_sq_grad, avg[0], avg[1]);
    require_close(state.mom, mom[0], mom[1]);
    require_close(state.params, x[0], x[1]);
  }
}

// jax adagrad: g_sq += g^2; m = (1 - momentum) * g / sqrt(g_sq) + momentum * m
// (0 where g_sq is 0); x = x - step_size(i) * m.
TEST_CASE("Adagrad: two updates by hand, and no step for an element never moved", "[optim]") {
  const tyche::optim::Adagrad defaults;
  CHECK(defaults.options().momentum == 0.9);
  const tyche::optim::Adagrad adagrad({.step_size = 0.1});
  auto state = adagrad.init(kStart);
  // First: g_sq = (0.25, 9), g / sqrt(g_sq) = (1, -1), m = (0.1, -0.1).
  adagrad.update(kGrad1, state);
  require_close(state.g_sq, 0.25, 9.0);
  require_close(state.m, 0.1, -0.1);
  require_close(state.params, 0.99, -1.99);
  // Second: g_sq = (1.25, 13), m = 0.1 * (-1 / sqrt(1.25), 2 / sqrt(13)) + 0.9 * (0.1, -0.1).
  adagrad.update(kGrad2, state);
  const double m0 = -0.1 / std::sqrt(1.25) + 0.09, m1 = 0.2 / std::sqrt(13.0) - 0.09;
  require_close(state.g_sq, 1.25, 13.0);
  require_close(state.m, m0, m1);
  require_close(state.params, 0.99 - 0.1 * m0, -1.99 - 0.1 * m1);

  auto zero = adagrad.init(kStart);
  adagrad.update(Eigen::Vector2d{0.0, 1.0}, zero);
  require_close(zero.params, 1.0, -2.0 - 0.1 * 0.1);
}

TEST_CASE("Every optimiser rejects a non-finite gradient, naming itself and the element", "[optim]") {
  const Eigen::Vector2d nan_grad{1.0, std::nan("")};
  auto check = [&](const auto& optimizer, const char* name) {
    auto state = optimizer.init(kStart);
    REQUIRE_THROWS_CONTAINING(optimizer.update(nan_grad, state), std::domain_error, name, "element 1");
    CHECK(state.step == 0);
    require_close(state.params, 1.0, -2.0);
  };
  check(tyche::optim::Adam(), "Adam");
  check(tyche::optim::ClippedAdam(), "ClippedAdam");
  check(tyche::optim::SGD(), "SGD");
  check(tyche::optim::Momentum({.mass = 0.9}), "Momentum");
  check(tyche::optim::RMSProp(), "RMSProp");
  check(tyche::optim::RMSPropMomentum(), "RMSPropMomentum");
  check(tyche::optim::Adagrad(), "Adagrad");
}

TEST_CASE("Bad options of the other optimisers are errors naming them", "[optim]") {
  using namespace tyche::optim;
  REQUIRE_THROWS_CONTAINING(Momentum({.step_size = 0.1}), std::invalid_argument, "Momentum", "mass must be given");
  REQUIRE_THROWS_CONTAINING(Momentum({.step_size = 0.1, .mass = -1.0}), std::invalid_argument, "mass", "-1");
  REQUIRE_THROWS_CONTAINING(ClippedAdam({.clip_norm = 0.0}), std::invalid_argument, "ClippedAdam", "clip_norm");
  REQUIRE_THROWS_CONTAINING(RMSProp({.gamma = 1.5}), std::invalid_argument, "RMSProp", "gamma", "1.5");
  REQUIRE_THROWS_CONTAINING(RMSProp({.eps = 0.0}), std::invalid_argument, "RMSProp", "eps");
  REQUIRE_THROWS_CONTAINING(RMSPropMomentum({.momentum = 2.0}), std::invalid_argument, "RMSPropMomentum",
                            "momentum");
  REQUIRE_THROWS_CONTAINING(Adagrad({.step_size = 0.0}), std::invalid_argument, "Adagrad", "step_size");
  REQUIRE_THROWS_CONTAINING(SGD({.step_size = std::nan("")}), std::invalid_argument, "SGD", "step_size");
}
