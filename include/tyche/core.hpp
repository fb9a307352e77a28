// Layer 1 of tyche: N-dimensional arrays with NumPy broadcasting and
// reverse-mode automatic differentiation over whole arrays.
//
//   #include <tyche/core.hpp>
//   auto f = [](const tyche::Tensor& q) { return tyche::sum(tyche::exp(q)); };
//   auto [value, gradient] = tyche::value_and_grad(f, Eigen::VectorXd::Ones(3));
#pragma once

#include "tyche/core/array_functions.hpp"
#include "tyche/core/cumsum.hpp"
#include "tyche/core/elementwise.hpp"
#include "tyche/core/fma.hpp"
#include "tyche/core/compiled.hpp"
#include "tyche/core/grad.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/linalg.hpp"
#include "tyche/core/provenance.hpp"
#include "tyche/core/fused_densities.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/core/shape.hpp"
#include "tyche/core/special.hpp"
#include "tyche/core/tensor.hpp"
#include "tyche/core/triangular.hpp"
#include "tyche/core/xlogy.hpp"
