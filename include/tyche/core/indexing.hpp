// Shape and indexing operations that move elements without arithmetic:
// transpose, gather, slicing along any axis, diagonal, concatenate, stack,
// where, comparisons (0/1 arrays) and stop_gradient.
//
//   tyche::Tensor locs{-1.0, 0.0, 5.0}, assignment{2.0, 0.0, 0.0, 1.0};
//   auto mu = locs[assignment];                      // {5, -1, -1, 0}, gradients flow to locs
//   auto m = tyche::stack({locs, 2.0 * locs});       // shape (2, 3)
//   auto t = tyche::transpose(m);                    // shape (3, 2)
//   auto pos = tyche::where(locs > 0.0, locs, 0.0);  // {0, 0, 5}
#pragma once

#include <cmath>
#include <array>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "tyche/core/broadcast.hpp"
#include "tyche/core/elementwise.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

// Element k of x lands at element k of y, through optional index arrays
// (null means the identity): y[y_index[k]] = x[x_index[k]].
struct MoveNode : Node {
  const std::int64_t* x_index;
  const std::int64_t* y_index;
  std::int64_t count;
  const double* x;
  const double* y;
  double* gx;
  const double* gy;
};

inline void move_forward(const Node& base) {
  const auto& nd = static_cast<const MoveNode&>(base);
  double* y = const_cast<double*>(nd.y);
  for (std::int64_t k = 0; k < nd.count; ++k)
    y[nd.y_index ? nd.y_index[k] : k] = nd.x[nd.x_index ? nd.x_index[k] : k];
}

inline void move_backward(const Node& base) {
  const auto& nd = static_cast<const MoveNode&>(base);
  for (std::int64_t k = 0; k < nd.count; ++k)
    nd.gx[nd.x_index ? nd.x_index[k] : k] += nd.gy[nd.y_index ? nd.y_index[k] : k];
}

// Scratch for index arrays: in the arena while recording (a node keeps them),
// otherwise a per-thread buffer reused by the next operation.
inline std::int64_t* index_buffer(std::int64_t n) {
  Tape& tape = this_thread_tape();
  if (tape.recording())
    return static_cast<std::int64_t*>(tape.allocate(std::size_t(n) * sizeof(std::int64_t)));
  thread_local std::vector<std::int64_t> scratch;
  scratch.resize(std::size_t(n));
  return scratch.data();
}

// Offsets of an array's elements, walked in the order of `shape` with the
// given strides, starting at `offset`.
inline std::int64_t* strided_offsets(const Shape& shape, const Strides& strides, std::int64_t offset) {
  std::int64_t* index = index_buffer(shape.numel());
  BroadcastPlan<1> plan;
  plan.out = shape;
  plan.strides[0] = strides;
  plan.for_each([&](std::int64_t i, const std::array<std::int64_t, 1>& at) { index[i] = offset + at[0]; });
  return index;
}

inline Strides row_major_strides(const Shape& shape) {
  Strides s{};
  std::int64_t stride = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    s[std::size_t(i)] = stride;
    stride *= shape[i];
  }
  return s;
}

inline void no_backward(const Node&) {}

// y[i] = x[index[i]] for a result of the given shape. `index_source`, when
// given, is the array the offsets were read from: a variable there is listed
// as an input the gradient does not flow to, so that provenance
// (core/provenance.hpp) sees that y depends on it (take(locs, z) with a
// latent z). Outside a provenance recording an index array is a constant and
// nothing changes.
template <class T = Tensor>
Tensor gather_flat(const std::type_identity_t<T>& x, const Shape& shape, const std::int64_t* index,
                   const T* index_source = nullptr) {
  Tape& tape = this_thread_tape();
  const bool index_is_variable = index_source != nullptr && needs_grad(tape, *index_source);
  const bool grad = needs_grad(tape, x) || index_is_variable;
  Tensor y = Access::result(shape, grad);
  MoveNode local;
  auto& node = index_is_variable
                   ? tape.node_for(grad, local, &move_forward, Access::grad(x) ? &move_backward : &no_backward,
                                   {Access::operand(x), Access::operand(*index_source)}, {Access::operand(y)})
                   : tape.node_for(grad, local, &move_forward, &move_backward, {Access::operand(x)},
                                   {Access::operand(y)});
  // A plain move may join a scalar block (core/scalar_block.hpp); one that
  // also lists its index array as an input stays an opaque node.
  if (!index_is_variable) node.kind = NodeKind::move;
  node.x_index = index;
  node.y_index = nullptr;
  node.count = shape.numel();
  node.x = Access::data(x);
  node.y = Access::data(y);
  node.gx = Access::grad(x);
  node.gy = Access::grad(y);
  move_forward(node);
  return y;
}

inline std::int64_t integer_index(double v, std::int64_t size, const char* op) {
  if (v != std::floor(v) || !std::isfinite(v))
    throw std::invalid_argument(std::string("tyche: ") + op + ": index " + std::to_string(v) +
                                " is not an integer");
  if (std::abs(v) > double(size))  // checked as a double: the conversion would overflow
    throw std::out_of_range(std::string("tyche: ") + op + ": index " + std::to_string(v) +
                            " is out of range for an axis of size " + std::to_string(size));
  return normalize_index(std::int64_t(v), size, op);
}

struct WhereNode : Node {
  BroadcastPlan<3> plan;
  const double* condition;
  const double* a;
  const double* b;
  const double* y;
  double* ga;
  double* gb;
  const double* gy;
};

inline void where_forward(const Node& base) {
  const auto& nd = static_cast<const WhereNode&>(base);
  double* y = const_cast<double*>(nd.y);
  nd.plan.for_each([&](std::int64_t i, const std::array<std::int64_t, 3>& at) {
    y[i] = nd.condition[at[0]] != 0.0 ? nd.a[at[1]] : nd.b[at[2]];
  });
}

inline void where_backward(const Node& base) {
  const auto& nd = static_cast<const WhereNode&>(base);
  nd.plan.for_each([&](std::int64_t i, const std::array<std::int64_t, 3>& at) {
    double* g = nd.condition[at[0]] != 0.0 ? nd.ga : nd.gb;
    if (g) g[at[nd.condition[at[0]] != 0.0 ? 1 : 2]] += nd.gy[i];
  });
}

#define TYCHE_COMPARISON(Name, expr)                            \
  struct Name {                                                 \
    static double f(double a, double b) { return (expr) ? 1.0 : 0.0; } \
    static double da(double, double, double) { return 0.0; }    \
    static double db(double, double, double) { return 0.0; }    \
  };
TYCHE_COMPARISON(LessOp, a < b)
TYCHE_COMPARISON(LessEqualOp, a <= b)
TYCHE_COMPARISON(GreaterOp, a > b)
TYCHE_COMPARISON(GreaterEqualOp, a >= b)
TYCHE_COMPARISON(EqualOp, a == b)
TYCHE_COMPARISON(NotEqualOp, a != b)
#undef TYCHE_COMPARISON

// Recorded like any operation (with zero partials) so that a compiled
// gradient recomputes the comparison.
template <class Op>
Tensor compare(const Tensor& a, const Tensor& b, const char* name) {
  return binary<Op>(a, b, name);
}

}  // namespace detail

// The same values with no gradient flowing back (JAX's stop_gradient).
template <class T = Tensor>
Tensor stop_gradient(const std::type_identity_t<T>& x) { return detail::unary<detail::StopGradientOp>(x); }

// Elementwise comparisons give arrays of 0 and 1 (the boolean arrays that
// `where` and masks take) and carry no gradient.
template <class T = Tensor>
Tensor operator<(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::compare<detail::LessOp>(a, b, "less");
}
template <class T = Tensor>
Tensor operator<=(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::compare<detail::LessEqualOp>(a, b, "less_equal");
}
template <class T = Tensor>
Tensor operator>(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::compare<detail::GreaterOp>(a, b, "greater");
}
template <class T = Tensor>
Tensor operator>=(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::compare<detail::GreaterEqualOp>(a, b, "greater_equal");
}
template <class T = Tensor>
Tensor operator==(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::compare<detail::EqualOp>(a, b, "equal");
}
template <class T = Tensor>
Tensor operator!=(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::compare<detail::NotEqualOp>(a, b, "not_equal");
}

// a where condition is non-zero, b elsewhere; all three broadcast together.
template <class T = Tensor>
Tensor where(const std::type_identity_t<T>& condition, const std::type_identity_t<T>& a,
             const std::type_identity_t<T>& b) {
  using namespace detail;
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, condition, a, b);
  const auto plan = BroadcastPlan<3>::make({condition.shape(), a.shape(), b.shape()}, "where");
  Tensor y = Access::result(plan.out, grad);
  WhereNode local;
  auto& node = tape.node_for(grad, local, &where_forward, &where_backward,
                             {Access::operand(condition), Access::operand(a), Access::operand(b)},
                             {Access::operand(y)});
  node.plan = plan;
  node.condition = Access::data(condition);
  node.a = Access::data(a);
  node.b = Access::data(b);
  node.y = Access::data(y);
  node.ga = Access::grad(a);
  node.gb = Access::grad(b);
  node.gy = Access::grad(y);
  where_forward(node);
  return y;
}

namespace detail {
template <class T = Tensor>
Tensor transpose_impl(const std::type_identity_t<T>& x, const int* axes, std::size_t count) {
  const int rank = x.ndim();
  std::array<int, kMaxRank> reversed{};
  if (count == 0 && rank > 0) {  // no axes given: reverse them, as NumPy does
    for (int i = 0; i < rank; ++i) reversed[std::size_t(i)] = rank - 1 - i;
    axes = reversed.data();
    count = std::size_t(rank);
  }
  std::array<bool, kMaxRank> seen{};
  bool permutation = int(count) == rank;
  std::array<int, kMaxRank> normalized{};  // negative axes count from the end
  for (std::size_t i = 0; permutation && i < count; ++i) {
    const int axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    permutation = axis >= 0 && axis < rank && !seen[std::size_t(axis)];
    if (permutation) seen[std::size_t(axis)] = true;
    normalized[i] = axis;
  }
  axes = normalized.data();
  if (!permutation)
    throw ShapeError("tyche: transpose: the axes are not a permutation of an array of shape " +
                     x.shape().str());
  const Strides source = row_major_strides(x.shape());
  Shape shape;
  Strides strides{};
  for (int i = 0; i < rank; ++i) {
    shape.push_back(x.shape()[axes[i]]);
    strides[std::size_t(i)] = source[std::size_t(axes[i])];
  }
  return gather_flat(x, shape, strided_offsets(shape, strides, 0));
}
}  // namespace detail

// Reverses the axes (NumPy's `.T`).
template <class T = Tensor>
Tensor transpose(const std::type_identity_t<T>& x) { return detail::transpose_impl(x, nullptr, 0); }
// Permutes the axes: axis i of the result is axis axes[i] of x (empty: reversed).
template <class T = Tensor>
Tensor transpose(const std::type_identity_t<T>& x, std::initializer_list<int> axes) {
  return detail::transpose_impl(x, axes.begin(), axes.size());
}
template <class T = Tensor>
Tensor transpose(const std::type_identity_t<T>& x, const std::vector<int>& axes) {
  return detail::transpose_impl(x, axes.data(), axes.size());
}

// Elements start..stop-1 along one axis (negative bounds count from the end).
template <class T = Tensor>
Tensor slice(const std::type_identity_t<T>& x, int axis, std::int64_t start, std::int64_t stop) {
  using namespace detail;
  const int a = normalize_axis(axis, x.ndim(), "slice");
  const std::int64_t n = x.shape()[a];
  start = std::clamp<std::int64_t>(start < 0 ? start + n : start, 0, n);
  stop = std::clamp<std::int64_t>(stop < 0 ? stop + n : stop, start, n);
  if (a == 0) return x.slice(start, stop);
  Shape shape = x.shape();
  shape.set(a, stop - start);
  const Strides strides = row_major_strides(x.shape());
  return gather_flat(x, shape, strided_offsets(shape, strides, start * strides[std::size_t(a)]));
}

namespace detail {
// Gathers rows index(0..count-1) of x into a result of shape index_shape +
// x.shape[1:]; `index_source` as gather_flat's.
template <class Index>
Tensor take_rows(const Tensor& x, const Shape& index_shape, Index index, const Tensor* index_source = nullptr) {
  if (x.ndim() == 0) throw ShapeError("tyche: cannot index an array of rank 0");
  const std::int64_t row = x.shape().drop_front().numel();
  Shape shape = index_shape;
  for (std::int64_t d : x.shape().drop_front()) shape.push_back(d);
  std::int64_t* offsets = index_buffer(shape.numel());
  for (std::int64_t j = 0; j < index_shape.numel(); ++j) {
    const std::int64_t first = index(j) * row;
    for (std::int64_t r = 0; r < row; ++r) offsets[j * row + r] = first + r;
  }
  return gather_flat(x, shape, offsets, index_source);
}
}  // namespace detail

// Gathers along the first axis: result shape index.shape + x.shape[1:]. The
// index array holds integers (as doubles, the way samplers return them).
template <class T = Tensor>
Tensor take(const std::type_identity_t<T>& x, const std::type_identity_t<T>& index) {
  const double* pi = index.data();
  return detail::take_rows(
      x, index.shape(), [&](std::int64_t j) { return detail::integer_index(pi[j], x.shape()[0], "take"); }, &index);
}

namespace detail {
template <class T = Tensor>
Tensor take_integers(const std::type_identity_t<T>& x, const std::int64_t* index, std::size_t count) {
  return take_rows(x, Shape{std::int64_t(count)}, [&](std::int64_t j) {
    return normalize_index(index[j], x.shape()[0], "take");
  });
}
}  // namespace detail

template <class T = Tensor>
Tensor take(const std::type_identity_t<T>& x, const std::vector<std::int64_t>& index) {
  return detail::take_integers(x, index.data(), index.size());
}
template <class T = Tensor>
Tensor take(const std::type_identity_t<T>& x, std::initializer_list<std::int64_t> index) {
  return detail::take_integers(x, index.begin(), index.size());
}

// The main diagonal of a square matrix.
template <class T = Tensor>
Tensor diagonal(const std::type_identity_t<T>& x) {
  using namespace detail;
  if (x.ndim() != 2 || x.shape()[0] != x.shape()[1])
    throw ShapeError("tyche: diagonal needs a square matrix but got shape " + x.shape().str());
  const std::int64_t n = x.shape()[0];
  std::int64_t* offsets = index_buffer(n);
  for (std::int64_t i = 0; i < n; ++i) offsets[i] = i * (n + 1);
  return gather_flat(x, Shape{n}, offsets);
}

namespace detail {
// Joins part(0..count-1), arrays of equal shape except along `axis`.
template <class Part>
Tensor concatenate_parts(std::size_t count, Part part, int axis) {
  if (count == 0) throw ShapeError("tyche: concatenate needs at least one array");
  const Shape first = part(0).shape();
  const int a = normalize_axis(axis, first.rank(), "concatenate");
  Shape shape = first;
  shape.set(a, 0);
  Tape& tape = this_thread_tape();
  bool grad = false;
  for (std::size_t i = 0; i < count; ++i) {
    const Tensor& p = part(i);
    Shape s = p.shape();
    bool match = s.rank() == first.rank();
    if (match) {
      s.set(a, first[a]);
      match = s == first;
    }
    if (!match)
      throw ShapeError("tyche: concatenate: shape " + p.shape().str() + " does not match shape " +
                       first.str() + " outside axis " + std::to_string(a));
    shape.set(a, shape[a] + p.shape()[a]);
    grad = needs_grad(tape, p) || grad;
  }
  Tensor y = Access::result(shape, grad);
  const Strides strides = row_major_strides(shape);
  std::int64_t start = 0;
  // Constant parts are written once; a replay rewrites only the recorded ones.
  for (std::size_t i = 0; i < count; ++i) {
    const Tensor& p = part(i);
    const bool record = grad && Access::grad(p);
    MoveNode local;
    auto& node = tape.node_for(record, local, &move_forward, &move_backward, {Access::operand(p)},
                               {Access::operand(y)});
    node.kind = NodeKind::move;
    node.x_index = nullptr;
    node.y_index = strided_offsets(p.shape(), strides, start * strides[std::size_t(a)]);
    node.count = p.size();
    node.x = Access::data(p);
    node.y = Access::data(y);
    node.gx = Access::grad(p);
    node.gy = Access::grad(y);
    move_forward(node);
    start += p.shape()[a];
  }
  return y;
}

template <class Parts>
Tensor stack_parts(const Parts& parts, int axis) {
  if (parts.size() == 0) throw ShapeError("tyche: stack needs at least one array");
  const Shape& shape = parts.begin()->shape();
  const int rank = shape.rank();
  const int a = axis < 0 ? axis + rank + 1 : axis;
  if (a < 0 || a > rank)
    throw ShapeError("tyche: stack: axis " + std::to_string(axis) + " is out of range for rank " +
                     std::to_string(rank));
  if (rank == kMaxRank)
    throw ShapeError("tyche: stack of arrays of shape " + shape.str() + " would need " +
                     std::to_string(rank + 1) + " dimensions; arrays have at most " +
                     std::to_string(kMaxRank) + " dimensions");
  std::array<std::int64_t, kMaxRank> dims{};
  for (int i = 0, j = 0; i <= rank; ++i) dims[std::size_t(i)] = i == a ? 1 : shape[j++];
  Tensor expanded;  // the current part with the new axis, alive while it is read
  return concatenate_parts(
      parts.size(),
      [&](std::size_t i) -> const Tensor& {
        const Tensor& p = *(parts.begin() + i);
        if (!(p.shape() == shape))
          throw ShapeError("tyche: stack needs arrays of one shape but got " + shape.str() +
                           " and " + p.shape().str());
        expanded = p.reshape(dims.data(), std::size_t(rank + 1));
        return expanded;
      },
      a);
}
}  // namespace detail

// Joins arrays of equal shape except along `axis`.
template <class T = Tensor>
Tensor concatenate(std::initializer_list<Tensor> parts, int axis = 0) {
  return detail::concatenate_parts(parts.size(), [&](std::size_t i) -> const Tensor& { return parts.begin()[i]; }, axis);
}
template <class T = Tensor>
Tensor concatenate(const std::vector<Tensor>& parts, int axis = 0) {
  return detail::concatenate_parts(parts.size(), [&](std::size_t i) -> const Tensor& { return parts[i]; }, axis);
}

// Joins arrays of equal shape along a new axis.
template <class T = Tensor>
Tensor stack(std::initializer_list<Tensor> parts, int axis = 0) {
  return detail::stack_parts(parts, axis);
}
template <class T = Tensor>
Tensor stack(const std::vector<Tensor>& parts, int axis = 0) {
  return detail::stack_parts(parts, axis);
}

// The array repeated along broadcast axes to the given shape (NumPy's broadcast_to).
template <class T = Tensor>
Tensor broadcast_to(const std::type_identity_t<T>& x, const Shape& shape) {
  using namespace detail;
  if (!(broadcast_shapes(x.shape(), shape, "broadcast_to") == shape))
    throw ShapeError("tyche: broadcast_to: cannot broadcast shape " + x.shape().str() + " to " +
                     shape.str());
  if (x.shape() == shape) return x;
  return gather_flat(x, shape, strided_offsets(shape, broadcast_strides(x.shape(), shape), 0));
}

namespace detail {
// The operands broadcast to their common shape, except that single elements
// stay single (the kernels read them with stride 0).
template <class T = Tensor>
std::array<Tensor, 3> full_or_single(std::array<Tensor, 3> operands, const char* name) {
  const Shape out = broadcast_shapes(
      broadcast_shapes(operands[0].shape(), operands[1].shape(), name), operands[2].shape(), name);
  for (Tensor& t : operands)
    if (t.size() != 1 && !(t.shape() == out)) t = broadcast_to(t, out);
  if (out.numel() == 1)  // all single: the result takes the broadcast shape, e.g. (1, 1)
    operands[0] = operands[0].reshape(out);
  return operands;
}

inline const Shape& result_shape(const std::array<Tensor, 3>& operands) {
  for (const Tensor& t : operands)
    if (t.size() != 1) return t.shape();
  return operands[0].shape();
}

}  // namespace detail

inline Tensor Tensor::operator[](const Tensor& index) const { return take(*this, index); }

}  // namespace tyche
