// Packing a vector into the lower triangle of a matrix and back, in NumPy's
// tril_indices order (row by row), and the diagonals of a stack of matrices.
// All act on the trailing axes, so leading axes are a batch; one tape node each.
//
//   tyche::Tensor v{1.0, 2.0, 3.0};
//   auto L = tyche::vec_to_tril(v);        // {{1, 0}, {2, 3}}
//   auto S = tyche::vec_to_tril(v, -1);    // {{0, 0, 0}, {1, 0, 0}, {2, 3, 0}}
//   tyche::tril_to_vec(L);                 // {1, 2, 3}
//   tyche::matrix_diagonal(L);             // {1, 3}
//   tyche::diag_embed(tyche::Tensor{1.0, 2.0});  // {{1, 0}, {0, 2}}
#pragma once

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "tyche/core/indexing.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

// Offsets within a row-major n x n matrix of the entries (i, j) with
// j <= i + diagonal, row by row.
inline std::vector<std::int64_t> tril_offsets(std::int64_t n, int diagonal) {
  std::vector<std::int64_t> offsets;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j <= std::min(i + diagonal, n - 1); ++j) offsets.push_back(i * n + j);
  return offsets;
}

inline std::vector<std::int64_t> diagonal_offsets(std::int64_t n) {
  std::vector<std::int64_t> offsets;
  for (std::int64_t i = 0; i < n; ++i) offsets.push_back(i * (n + 1));
  return offsets;
}

inline void require_diagonal(int diagonal, const char* op) {
  if (diagonal > 0)
    throw std::invalid_argument(std::string("tyche: ") + op +
                                ": diagonal must be 0 or negative (the lower triangle), got " +
                                std::to_string(diagonal));
}

// The leading axes of a shape, without its last `count`.
inline Shape leading(const Shape& shape, int count) { return Shape(shape.begin(), shape.end() - count); }

inline void require_square_stack(const Tensor& m, const char* op) {
  if (m.ndim() < 2 || m.dim(-1) != m.dim(-2))
    throw ShapeError(std::string("tyche: ") + op + " needs square matrices in the last two axes but got shape " +
                     m.shape().str());
}

// Per batch element b: result[b, offsets[e]] = x[b, e], zeros elsewhere; the
// result has shape batch + event.
template <class T = Tensor>
Tensor place(const std::type_identity_t<T>& x, const Shape& batch, const Shape& event,
             const std::vector<std::int64_t>& offsets) {
  Shape shape = batch;
  for (std::int64_t d : event) shape.push_back(d);
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, x);
  Tensor y = Access::result(shape, grad);
  // Written once: a replay rewrites only the placed entries.
  std::fill(Access::data(y), Access::data(y) + y.size(), 0.0);
  const auto m = std::int64_t(offsets.size());
  const std::int64_t count = batch.numel() * m;
  std::int64_t* index = index_buffer(count);
  for (std::int64_t b = 0; b < batch.numel(); ++b)
    for (std::int64_t e = 0; e < m; ++e) index[b * m + e] = b * event.numel() + offsets[std::size_t(e)];
  MoveNode local;
  auto& node = tape.node_for(grad, local, &move_forward, &move_backward, {Access::operand(x)}, {Access::operand(y)});
  node.kind = NodeKind::move;
  node.x_index = nullptr;
  node.y_index = index;
  node.count = count;
  node.x = Access::data(x);
  node.y = Access::data(y);
  node.gx = Access::grad(x);
  node.gy = Access::grad(y);
  move_forward(node);
  return y;
}

// Per batch element b: result[b, e] = x[b, offsets[e]], where x has shape
// batch + an event of `event_size` elements.
template <class T = Tensor>
Tensor pick(const std::type_identity_t<T>& x, const Shape& batch, std::int64_t event_size,
            const std::vector<std::int64_t>& offsets) {
  const auto m = std::int64_t(offsets.size());
  Shape shape = batch;
  shape.push_back(m);
  std::int64_t* index = index_buffer(batch.numel() * m);
  for (std::int64_t b = 0; b < batch.numel(); ++b)
    for (std::int64_t e = 0; e < m; ++e) index[b * m + e] = b * event_size + offsets[std::size_t(e)];
  return gather_flat(x, shape, index);
}

}  // namespace detail

// The last axis (length m) filled row by row into the entries (i, j) with
// j <= i + diagonal of an n x n matrix, zeros elsewhere; n is the size for
// which that triangle has m entries. NumPyro's vec_to_tril_matrix.
template <class T = Tensor>
Tensor vec_to_tril(const std::type_identity_t<T>& x, int diagonal = 0) {
  using namespace detail;
  require_diagonal(diagonal, "vec_to_tril");
  if (x.ndim() < 1) throw ShapeError("tyche: vec_to_tril needs at least one axis but got shape ()");
  const std::int64_t m = x.dim(-1);
  const auto rows = std::int64_t(std::llround((std::sqrt(1.0 + 8.0 * double(m)) - 1.0) / 2.0));
  if (rows * (rows + 1) / 2 != m)
    throw ShapeError("tyche: vec_to_tril: the last axis of shape " + x.shape().str() + " has length " +
                     std::to_string(m) + ", which is not a triangular number k (k + 1) / 2");
  const std::int64_t n = rows - diagonal;
  return place(x, leading(x.shape(), 1), Shape{n, n}, tril_offsets(n, diagonal));
}

// The entries (i, j) with j <= i + diagonal of the trailing square matrices,
// row by row: the inverse of vec_to_tril. NumPyro's matrix_to_tril_vec.
template <class T = Tensor>
Tensor tril_to_vec(const std::type_identity_t<T>& m, int diagonal = 0) {
  using namespace detail;
  require_diagonal(diagonal, "tril_to_vec");
  require_square_stack(m, "tril_to_vec");
  const std::int64_t n = m.dim(-1);
  return pick(m, leading(m.shape(), 2), n * n, tril_offsets(n, diagonal));
}

// The diagonals of the trailing square matrices: shape (..., n, n) -> (..., n).
template <class T = Tensor>
Tensor matrix_diagonal(const std::type_identity_t<T>& m) {
  using namespace detail;
  require_square_stack(m, "matrix_diagonal");
  const std::int64_t n = m.dim(-1);
  return pick(m, leading(m.shape(), 2), n * n, diagonal_offsets(n));
}

// Diagonal matrices with the last axis on their diagonal: (..., n) -> (..., n, n).
template <class T = Tensor>
Tensor diag_embed(const std::type_identity_t<T>& d) {
  using namespace detail;
  if (d.ndim() < 1) throw ShapeError("tyche: diag_embed needs at least one axis but got shape ()");
  const std::int64_t n = d.dim(-1);
  return place(d, leading(d.shape(), 1), Shape{n, n}, diagonal_offsets(n));
}

}  // namespace tyche
