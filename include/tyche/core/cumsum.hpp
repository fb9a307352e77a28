// Running sums along one axis, as one tape node: NumPy's cumsum, and the sums
// from the end (the tail sums that stick-breaking inverses need without the
// cancellation of 1 - cumsum).
//
//   tyche::Tensor x{1.0, 2.0, 3.0};
//   tyche::cumsum(x);                  // {1, 3, 6}
//   tyche::cumsum(x, -1, true);        // {6, 5, 3}: element i sums x[i:]
#pragma once

#include <type_traits>

#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

struct CumsumNode : Node {
  const double* x;
  const double* y;
  double* gx;
  const double* gy;
  std::int64_t outer, length, inner;
  bool reverse;
};

// Calls f(first, step) for each line along the axis: its elements are
// first + k * step for k < length, in summation order.
template <class F>
void for_each_line(const CumsumNode& nd, bool reverse, F&& f) {
  for (std::int64_t o = 0; o < nd.outer; ++o)
    for (std::int64_t i = 0; i < nd.inner; ++i) {
      const std::int64_t start = o * nd.length * nd.inner + i;
      if (reverse) f(start + (nd.length - 1) * nd.inner, -nd.inner);
      else f(start, nd.inner);
    }
}

inline void cumsum_forward(const Node& base) {
  const auto& nd = static_cast<const CumsumNode&>(base);
  double* y = const_cast<double*>(nd.y);
  for_each_line(nd, nd.reverse, [&](std::int64_t first, std::int64_t step) {
    double total = 0.0;
    for (std::int64_t k = 0, at = first; k < nd.length; ++k, at += step) {
      total += nd.x[at];
      y[at] = total;
    }
  });
}

// x[j] feeds every y[k] summed after it, so its gradient is the running sum
// of gy taken in the opposite direction.
inline void cumsum_backward(const Node& base) {
  const auto& nd = static_cast<const CumsumNode&>(base);
  for_each_line(nd, !nd.reverse, [&](std::int64_t first, std::int64_t step) {
    double total = 0.0;
    for (std::int64_t k = 0, at = first; k < nd.length; ++k, at += step) {
      total += nd.gy[at];
      nd.gx[at] += total;
    }
  });
}

}  // namespace detail

// y[..., k, ...] = x[..., 0, ...] + ... + x[..., k, ...] along `axis`; with
// `reverse`, the sum of x[..., k:, ...] instead.
template <class T = Tensor>
Tensor cumsum(const std::type_identity_t<T>& x, int axis = -1, bool reverse = false) {
  using namespace detail;
  const int a = normalize_axis(axis, x.ndim(), "cumsum");
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, x);
  Tensor y = Access::result(x.shape(), grad);
  CumsumNode local;
  auto& node = tape.node_for(grad, local, &cumsum_forward, &cumsum_backward, {Access::operand(x)},
                             {Access::operand(y)});
  node.x = Access::data(x);
  node.y = Access::data(y);
  node.gx = Access::grad(x);
  node.gy = Access::grad(y);
  node.outer = 1;
  node.inner = 1;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i < a) node.outer *= x.shape()[i];
    if (i > a) node.inner *= x.shape()[i];
  }
  node.length = x.shape()[a];
  node.reverse = reverse;
  cumsum_forward(node);
  return y;
}

}  // namespace tyche
