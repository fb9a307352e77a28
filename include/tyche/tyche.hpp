// tyche: header-only probabilistic programming with effect handlers.
// Include this header for everything, or one layer's header (tyche/core.hpp).
//
//   #include <tyche/tyche.hpp>
//   auto [logp, grad] = tyche::value_and_grad(
//       [](const tyche::Tensor& q) { return -0.5 * tyche::sum(tyche::square(q)); },
//       Eigen::VectorXd::Zero(10));
#pragma once

#include "tyche/core.hpp"
#include "tyche/distributions.hpp"
#include "tyche/effects.hpp"
#include "tyche/infer.hpp"
#include "tyche/version.hpp"
