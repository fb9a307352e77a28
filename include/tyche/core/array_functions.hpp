// NumPy/JAX array functions that models reach for: variance and standard
// deviation, constant grids (eye, linspace, arange), outer and Kronecker
// products, running products, pairwise squared distances for Gaussian-process
// kernels, and solves with a Cholesky factor or a stack of triangular matrices.
// Names and defaults are jax.numpy's (jax.scipy.linalg's for cho_solve), except
// where noted at the function.
//
//   tyche::Tensor x{{1.0, 2.0}, {3.0, 5.0}};
//   tyche::var(x);                          // 2.1875, over all elements (axis None)
//   tyche::stddev(x, 0, 1);                 // {sqrt(2), sqrt(4.5)}: axis 0, ddof 1
//   tyche::linspace(0.0, 1.0, 5);           // {0, 0.25, 0.5, 0.75, 1}
//   auto K = tyche::exp(-0.5 * tyche::cdist_sq(x, x));  // (2, 2) RBF kernel
//   auto a = tyche::cho_solve(tyche::cholesky(K), tyche::Tensor{1.0, 0.0});  // K^-1 b
//
// Everything that takes arrays is differentiable. Most functions are
// compositions of existing differentiable operations (reductions, elementwise
// arithmetic, reshape, indexing, solve_triangular), so their gradients and the
// compiled-gradient replay come from those; cumprod is one tape node of its own.
// eye and arange make constants.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "tyche/core/elementwise.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/linalg.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {

// ---- variance and standard deviation ------------------------------------------

// The variance over `axis` (all elements when empty, as JAX's axis=None),
// dividing the sum of squared deviations by n - ddof; ddof = 1 gives the
// unbiased estimate. Throws unless 0 <= ddof < n (JAX returns inf or nan there).
// Composed: mean, subtract, square, sum.
template <class T = Tensor>
Tensor var(const std::type_identity_t<T>& x, std::optional<int> axis = std::nullopt, int ddof = 0,
           bool keepdims = false) {
  const int a = axis ? normalize_axis(*axis, x.ndim(), "var") : 0;
  const Tensor values = axis ? x : x.flatten();
  const std::int64_t n = values.shape()[a];
  if (ddof < 0 || ddof >= n)
    throw std::invalid_argument("tyche: var: ddof is " + std::to_string(ddof) + " but needs 0 <= ddof < " +
                                std::to_string(n) + ", the number of elements reduced (array of shape " +
                                x.shape().str() + ")");
  const Tensor deviations = values - mean(values, a, true);
  Tensor v = sum(square(deviations), a, keepdims && axis.has_value()) / double(n - ddof);
  if (keepdims && !axis) v = v.reshape(std::vector<std::int64_t>(std::size_t(x.ndim()), 1));
  return v;
}

// sqrt(var(x, axis, ddof, keepdims)): jnp.std. Not named `std`, which would read
// as the namespace at every call (tyche::std(x)); its gradient is infinite
// where the variance is 0, as JAX's.
template <class T = Tensor>
Tensor stddev(const std::type_identity_t<T>& x, std::optional<int> axis = std::nullopt, int ddof = 0,
              bool keepdims = false) {
  return sqrt(var(x, axis, ddof, keepdims));
}

// ---- constant grids -------------------------------------------------------------

// The n x m matrix (m = n by default) with ones on diagonal k (k > 0 above the
// main diagonal, k < 0 below) and zeros elsewhere.
template <class T = Tensor>
Tensor eye(std::int64_t n, std::optional<std::int64_t> m = std::nullopt, std::int64_t k = 0) {
  const std::int64_t columns = m.value_or(n);
  if (n < 0 || columns < 0)
    throw ShapeError("tyche: eye: the number of rows (" + std::to_string(n) + ") and columns (" +
                     std::to_string(columns) + ") must not be negative");
  Tensor y = Tensor::zeros(Shape{n, columns});
  double* entries = const_cast<double*>(y.data());  // a fresh constant that nothing reads yet
  for (std::int64_t i = std::max<std::int64_t>(0, -k); i < n && i + k < columns; ++i)
    entries[i * columns + i + k] = 1.0;
  return y;
}

// start, start + step, ... up to but excluding stop: ceil((stop - start) / step)
// elements (none when that is negative). A constant (start, stop and step are
// numbers), as JAX's arange, which needs concrete bounds.
template <class T = Tensor>
Tensor arange(double start, double stop, double step = 1.0) {
  if (!(step != 0.0) || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
    throw std::invalid_argument("tyche: arange needs finite bounds and a finite non-zero step but got start " +
                                std::to_string(start) + ", stop " + std::to_string(stop) + ", step " +
                                std::to_string(step));
  const auto n = std::int64_t(std::max(0.0, std::ceil((stop - start) / step)));
  std::vector<double> values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) values[std::size_t(i)] = start + double(i) * step;
  return Tensor(values);
}
// 0, 1, ..., up to but excluding stop.
template <class T = Tensor>
Tensor arange(double stop) {
  return arange(0.0, stop, 1.0);
}

// `num` evenly spaced values from start to stop (included unless `endpoint` is
// false), along a new first axis: start and stop may be arrays that broadcast
// together, giving shape (num,) + their shape. Differentiable in start and stop.
// As JAX: element i is start + (i / d) * (stop - start), d = num - 1 (num without
// the endpoint), and the endpoint is stop itself. Composed: multiply, add,
// broadcast_to, concatenate.
template <class T = Tensor>
Tensor linspace(const std::type_identity_t<T>& start, const std::type_identity_t<T>& stop, std::int64_t num = 50,
                bool endpoint = true) {
  if (num < 0) throw std::invalid_argument("tyche: linspace: num is " + std::to_string(num) + ", which is negative");
  const Shape shape = broadcast_shapes(start.shape(), stop.shape(), "linspace");
  std::vector<std::int64_t> grid{num};  // the result's shape
  for (std::int64_t d : shape) grid.push_back(d);
  std::vector<std::int64_t> one_point = grid;
  one_point[0] = 1;
  if (num == 0) return Tensor::zeros(Shape(grid.begin(), grid.end()));
  const Tensor first = broadcast_to(start, shape).reshape(one_point);
  if (num == 1) return first;
  const std::int64_t steps = endpoint ? num - 1 : num;
  std::vector<double> fractions(static_cast<std::size_t>(steps));
  for (std::int64_t i = 0; i < steps; ++i) fractions[std::size_t(i)] = double(i) / double(steps);
  std::vector<std::int64_t> column(grid.size(), 1);  // the fractions along the first axis
  column[0] = steps;
  const Tensor body = start + Tensor(fractions).reshape(column) * (stop - start);
  if (!endpoint) return body;
  return concatenate({body, broadcast_to(stop, shape).reshape(one_point)}, 0);
}

// ---- products ----------------------------------------------------------------------

// a[i] * b[j] for the flattened arrays: shape (a.size(), b.size()). Composed:
// reshape and a broadcast multiply.
template <class T = Tensor>
Tensor outer(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return a.reshape({a.size(), 1}) * b.reshape({1, b.size()});
}

// The Kronecker product: the block array whose block i is a[i] * b, for arrays
// of rank up to 3 (the lower-rank one gains leading axes of length 1). Composed:
// a broadcast multiply of interleaved reshapes.
template <class T = Tensor>
Tensor kron(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  const int rank = std::max(a.ndim(), b.ndim());
  if (2 * rank > kMaxRank)
    throw ShapeError("tyche: kron needs arrays of rank up to " + std::to_string(kMaxRank / 2) + " but got shapes " +
                     a.shape().str() + " and " + b.shape().str());
  std::vector<std::int64_t> a_spread, b_spread, result;  // (a0, 1, a1, 1, ...), (1, b0, 1, b1, ...)
  for (int i = 0; i < rank; ++i) {
    const int ia = a.ndim() - rank + i, ib = b.ndim() - rank + i;
    const std::int64_t da = ia >= 0 ? a.shape()[ia] : 1, db = ib >= 0 ? b.shape()[ib] : 1;
    a_spread.insert(a_spread.end(), {da, 1});
    b_spread.insert(b_spread.end(), {1, db});
    result.push_back(da * db);
  }
  return (a.reshape(a_spread) * b.reshape(b_spread)).reshape(result);
}

namespace detail {

struct CumprodNode : Node {
  const double* x;
  const double* y;
  double* gx;
  const double* gy;
  std::int64_t outer, length, inner;
};

// Calls f(first, step) for each line along the axis.
template <class F>
void for_each_cumprod_line(const CumprodNode& nd, F&& f) {
  for (std::int64_t o = 0; o < nd.outer; ++o)
    for (std::int64_t i = 0; i < nd.inner; ++i) f(o * nd.length * nd.inner + i, nd.inner);
}

template <class = void>
void cumprod_forward(const Node& base) {
  const auto& nd = static_cast<const CumprodNode&>(base);
  double* y = const_cast<double*>(nd.y);
  for_each_cumprod_line(nd, [&](std::int64_t first, std::int64_t step) {
    double product = 1.0;
    for (std::int64_t k = 0, at = first; k < nd.length; ++k, at += step) y[at] = product *= nd.x[at];
  });
}

// d y[k] / d x[j] = prod_{i <= k, i != j} x[i] for k >= j, so
// gx[j] = y[j - 1] * s[j] with s[j] = sum_{k >= j} gy[k] prod_{j < i <= k} x[i],
// which satisfies s[j] = gy[j] + x[j + 1] s[j + 1]. No division by x, so zeros
// in x get their exact gradient.
template <class = void>
void cumprod_backward(const Node& base) {
  const auto& nd = static_cast<const CumprodNode&>(base);
  for_each_cumprod_line(nd, [&](std::int64_t first, std::int64_t step) {
    double s = 0.0;
    for (std::int64_t k = nd.length - 1; k >= 0; --k) {
      const std::int64_t at = first + k * step;
      s = nd.gy[at] + (k + 1 < nd.length ? nd.x[at + step] * s : 0.0);
      nd.gx[at] += (k > 0 ? nd.y[at - step] : 1.0) * s;
    }
  });
}

// The trailing two axes swapped.
template <class T = Tensor>
Tensor matrix_transpose(const std::type_identity_t<T>& m) {
  std::vector<int> axes;
  for (int i = 0; i < m.ndim(); ++i) axes.push_back(i);
  std::swap(axes[axes.size() - 1], axes[axes.size() - 2]);
  return transpose(m, axes);
}

}  // namespace detail

// y[..., k, ...] = x[..., 0, ...] * ... * x[..., k, ...] along `axis`. The
// default axis is the last, as tyche's cumsum (JAX's axis=None flattens first:
// pass x.flatten()). One tape node whose gradient is exact at zeros of x.
template <class T = Tensor>
Tensor cumprod(const std::type_identity_t<T>& x, int axis = -1) {
  using namespace detail;
  const int a = normalize_axis(axis, x.ndim(), "cumprod");
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, x);
  Tensor y = Access::result(x.shape(), grad);
  CumprodNode local;
  auto& node = tape.node_for(grad, local, &cumprod_forward<>, &cumprod_backward<>, {Access::operand(x)},
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
  cumprod_forward<>(node);
  return y;
}

// ---- distances -----------------------------------------------------------------------

// Squared Euclidean distances between the rows of x1 (n, d) and of x2 (m, d):
// shape (n, m), as scipy's cdist(x1, x2, "sqeuclidean"); vectors (n,) and (m,)
// are n and m points in one dimension. Computed from the differences, not as
// |a|^2 + |b|^2 - 2 a.b, so that it is never negative and exactly 0 on the
// diagonal of cdist_sq(x, x) (a GP kernel matrix stays symmetric positive
// semi-definite). Composed: reshape, subtract, square, sum; it holds an
// (n, m, d) intermediate.
template <class T = Tensor>
Tensor cdist_sq(const std::type_identity_t<T>& x1, const std::type_identity_t<T>& x2) {
  if (x1.ndim() < 1 || x1.ndim() > 2 || x2.ndim() < 1 || x2.ndim() > 2 || x1.ndim() != x2.ndim() ||
      (x1.ndim() == 2 && x1.dim(1) != x2.dim(1)))
    throw ShapeError("tyche: cdist_sq needs points as (n, d) and (m, d) matrices or (n,) and (m,) vectors "
                     "but got shapes " + x1.shape().str() + " and " + x2.shape().str());
  const std::int64_t d = x1.ndim() == 2 ? x1.dim(1) : 1;
  return sum(square(x1.reshape({x1.dim(0), 1, d}) - x2.reshape({1, x2.dim(0), d})), -1);
}

// ---- solves ----------------------------------------------------------------------------

// solve_triangular over a stack: t of shape (..., n, n) and b of shape
// (..., n) (vectors) or (..., n, k) (matrices), with equal leading axes, or t a
// single matrix shared by the whole stack of b. Solves T x = b reading only the
// lower (or upper) triangle. Composed: one solve_triangular per matrix, stacked.
template <class T = Tensor>
Tensor solve_triangular_batched(const std::type_identity_t<T>& t, const std::type_identity_t<T>& b, bool lower = true) {
  using namespace detail;
  const auto fail = [&] {
    throw ShapeError("tyche: solve_triangular_batched needs matrices (..., n, n) and right-hand sides (..., n) or "
                     "(..., n, k) with the same leading axes (or one matrix (n, n)) but got shapes " +
                     t.shape().str() + " and " + b.shape().str());
  };
  if (t.ndim() < 2 || t.dim(-1) != t.dim(-2) || b.ndim() < 1) fail();
  const std::int64_t n = t.dim(-1);
  const bool shared = t.ndim() == 2;
  // Each right-hand side has rank 1 or 2; with a stack of matrices the rank of
  // b tells which.
  const int rhs_rank = shared ? (b.ndim() == 1 ? 1 : 2) : b.ndim() - (t.ndim() - 2);
  if (rhs_rank < 1 || rhs_rank > 2 || b.dim(-rhs_rank) != n) fail();
  const Shape batch(b.shape().begin(), b.shape().end() - rhs_rank);
  if (!shared && !(batch == Shape(t.shape().begin(), t.shape().end() - 2))) fail();
  if (batch.rank() == 0) return solve_triangular(t, b, lower);
  const std::int64_t count = batch.numel();
  if (count == 0) return Tensor::zeros(b.shape());
  std::vector<std::int64_t> flat_b{count};
  for (int i = b.ndim() - rhs_rank; i < b.ndim(); ++i) flat_b.push_back(b.shape()[i]);
  const Tensor rhs = b.reshape(flat_b);
  const Tensor matrices = shared ? t : t.reshape({count, n, n});
  std::vector<Tensor> solutions;
  solutions.reserve(std::size_t(count));
  for (std::int64_t i = 0; i < count; ++i)
    solutions.push_back(solve_triangular(shared ? matrices : matrices[i], rhs[i], lower));
  return stack(solutions).reshape(b.shape());
}

// Solves A x = b given the Cholesky factor of A: L with A = L L^T (lower, the
// factor tyche::cholesky returns) or U with A = U^T U (lower = false). Works on
// stacks as solve_triangular_batched. jax.scipy.linalg.cho_solve((factor,
// lower), b), with lower = true by default to match tyche::cholesky. Composed:
// two triangular solves.
template <class T = Tensor>
Tensor cho_solve(const std::type_identity_t<T>& factor, const std::type_identity_t<T>& b, bool lower = true) {
  if (factor.ndim() < 2)
    throw ShapeError("tyche: cho_solve needs a Cholesky factor of shape (..., n, n) but got shape " +
                     factor.shape().str());
  const Tensor transposed = detail::matrix_transpose(factor);
  if (lower) return solve_triangular_batched(transposed, solve_triangular_batched(factor, b, true), false);
  return solve_triangular_batched(factor, solve_triangular_batched(transposed, b, true), false);
}

}  // namespace tyche
