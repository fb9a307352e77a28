// x log(y) and x log1p(y) that are 0 where x is 0 and the logarithm is not
// finite, as scipy.special and jax.scipy.special define them: the terms of
// the Bernoulli, binomial and Dirichlet log densities at the edges of their
// supports (0 log 0 = 0, not NaN).
//
//   tyche::xlogy(tyche::Tensor{0.0, 2.0}, tyche::Tensor{0.0, 3.0});  // {0, 2 log 3}
//   tyche::xlog1py(0.0, -1.0);                                       // 0
#pragma once

#include <type_traits>

#include "tyche/core/elementwise.hpp"
#include "tyche/core/indexing.hpp"

namespace tyche {

// Where x is 0 and y > 0 the product x log y is kept (it is 0), so that the
// gradient with respect to x is log y there too; only where the logarithm is
// -infinity or NaN is y swapped for 1 before it is taken, so no NaN reaches
// either the value or the gradient.
template <class T = Tensor>
Tensor xlogy(const std::type_identity_t<T>& x, const std::type_identity_t<T>& y) {
  const Tensor zero = (x == 0.0) * (y <= 0.0);
  return where(zero, 0.0, x * log(where(zero, 1.0, y)));
}

template <class T = Tensor>
Tensor xlog1py(const std::type_identity_t<T>& x, const std::type_identity_t<T>& y) {
  const Tensor zero = (x == 0.0) * (y <= -1.0);
  return where(zero, 0.0, x * log1p(where(zero, 0.0, y)));
}

}  // namespace tyche
