// Reductions over a whole array or along one axis: sum, mean, max, logsumexp.
//
//   tyche::Tensor m{{1.0, 2.0}, {3.0, 4.0}};
//   tyche::sum(m);              // 10, rank 0
//   tyche::logsumexp(m, 1);     // shape (2,)
//   tyche::mean(m, 0, true);    // shape (1, 2): keepdims as in NumPy
#pragma once

#include <cmath>
#include <initializer_list>
#include <span>
#include <type_traits>
#include <vector>
#include <limits>

#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

// A reduction sees the array as (outer, length, inner) and reduces the middle.
struct ReduceGeometry {
  std::int64_t outer = 1, length = 1, inner = 1;
  Shape out;

  static ReduceGeometry whole(const Tensor& x) { return {1, x.size(), 1, Shape{}}; }
  static ReduceGeometry along(const Tensor& x, int axis, bool keepdims, const char* op) {
    const int a = normalize_axis(axis, x.ndim(), op);
    ReduceGeometry g;
    for (int i = 0; i < x.ndim(); ++i) {
      if (i < a) g.outer *= x.shape()[i];
      if (i > a) g.inner *= x.shape()[i];
      if (i != a) g.out.push_back(x.shape()[i]);
      else if (keepdims) g.out.push_back(1);
    }
    g.length = x.shape()[a];
    return g;
  }
};

enum class Reduction { sum, max, logsumexp };

struct ReduceNode : Node {
  const double* x;
  const double* y;
  double* gx;
  const double* gy;
  ReduceGeometry geometry;
  double scale;  // 1 for sum, 1 / length for mean
  Reduction kind;
};

// Calls f(base, stride, y_offset): the reduced elements for output y_offset are
// x[base + k * stride] for k < length.
template <class F>
void for_each_output(const ReduceGeometry& g, F&& f) {
  for (std::int64_t o = 0; o < g.outer; ++o)
    for (std::int64_t i = 0; i < g.inner; ++i) f(o * g.length * g.inner + i, g.inner, o * g.inner + i);
}

inline void reduce_forward(const Node& base) {
  const auto& node = static_cast<const ReduceNode&>(base);
  const std::int64_t length = node.geometry.length;
  double* py = const_cast<double*>(node.y);
  if (node.kind == Reduction::sum && node.geometry.outer * node.geometry.inner == 1) {
    py[0] = node.scale * Eigen::Map<const Eigen::ArrayXd>(node.x, length).sum();
    return;
  }
  for_each_output(node.geometry, [&](std::int64_t first, std::int64_t stride, std::int64_t yi) {
    const double* xs = node.x + first;
    if (node.kind == Reduction::sum) {
      double total = 0.0;
      for (std::int64_t k = 0; k < length; ++k) total += xs[k * stride];
      py[yi] = node.scale * total;
      return;
    }
    double m = -std::numeric_limits<double>::infinity();
    for (std::int64_t k = 0; k < length; ++k) {
      const double v = xs[k * stride];
      if (v > m || std::isnan(v)) m = v;  // NaN wins, as in NumPy
      if (std::isnan(v)) break;
    }
    if (node.kind == Reduction::logsumexp && std::isfinite(m)) {
      // Shifted by the maximum so that exp cannot overflow.
      double total = 0.0;
      for (std::int64_t k = 0; k < length; ++k) total += std::exp(xs[k * stride] - m);
      m += std::log(total);
    }
    py[yi] = m;
  });
}

inline void reduce_backward(const Node& base) {
  const auto& node = static_cast<const ReduceNode&>(base);
  const std::int64_t length = node.geometry.length;
  if (node.kind == Reduction::sum && node.geometry.outer * node.geometry.inner == 1) {
    Eigen::Map<Eigen::ArrayXd>(node.gx, length) += node.gy[0] * node.scale;
    return;
  }
  for_each_output(node.geometry, [&](std::int64_t first, std::int64_t stride, std::int64_t yi) {
    const double* x = node.x + first;
    double* gx = node.gx + first;
    const double gy = node.gy[yi], y = node.y[yi];
    switch (node.kind) {
      case Reduction::sum:
        for (std::int64_t k = 0; k < length; ++k) gx[k * stride] += gy * node.scale;
        break;
      case Reduction::max:  // all to the first maximal element, as NumPy's argmax picks
        for (std::int64_t k = 0; k < length; ++k)
          if (x[k * stride] == y) {
            gx[k * stride] += gy;
            break;
          }
        break;
      case Reduction::logsumexp:
        for (std::int64_t k = 0; k < length; ++k) gx[k * stride] += gy * std::exp(x[k * stride] - y);
        break;
    }
  });
}

template <class T = Tensor>
Tensor reduce(const std::type_identity_t<T>& x, const ReduceGeometry& g, Reduction kind, double scale,
              const char* name) {
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, x);
  if (g.length == 0 && kind != Reduction::sum)
    throw ShapeError(std::string("tyche: ") + name + " of an empty array (shape " +
                     x.shape().str() + ")");
  Tensor y = Access::result(g.out, grad);
  ReduceNode local;
  auto& node = tape.node_for(grad, local, &reduce_forward, &reduce_backward, {Access::operand(x)},
                             {Access::operand(y)});
  node.x = Access::data(x);
  node.y = Access::data(y);
  node.gx = Access::grad(x);
  node.gy = Access::grad(y);
  node.geometry = g;
  node.scale = scale;
  node.kind = kind;
  reduce_forward(node);
  return y;
}

// Sum of k arrays of one shape: the node's operands are the k terms, then
// the result.
struct AddNNode : Node {
  std::int64_t n;
};

inline void add_n_forward(const Node& base) {
  const auto& nd = static_cast<const AddNNode&>(base);
  const Operand* terms = nd.inputs_begin();
  const std::int64_t count = nd.input_count;
  double* y = const_cast<double*>(nd.outputs_begin()->value);
  if (nd.n == 1) {
    double total = 0.0;
    for (std::int64_t k = 0; k < count; ++k) total += terms[k].value[0];
    y[0] = total;
    return;
  }
  for (std::int64_t i = 0; i < nd.n; ++i) y[i] = terms[0].value[i];
  for (std::int64_t k = 1; k < count; ++k)
    for (std::int64_t i = 0; i < nd.n; ++i) y[i] += terms[k].value[i];
}

inline void add_n_backward(const Node& base) {
  const auto& nd = static_cast<const AddNNode&>(base);
  const double* gy = nd.outputs_begin()->gradient;
  for (const Operand* term = nd.inputs_begin(); term != nd.inputs_end(); ++term)
    if (double* g = term->gradient)
      for (std::int64_t i = 0; i < nd.n; ++i) g[i] += gy[i];
}

}  // namespace detail

// a_0 + a_1 + ... as one node (the terms of a log joint); all of one shape.
// A log joint with a run-time number of terms passes them as a span (a
// std::vector converts).
template <class T = Tensor>
Tensor add_n(std::span<const Tensor> terms) {
  using namespace detail;
  if (terms.size() == 0) throw ShapeError("tyche: add_n needs at least one array");
  const Shape& shape = terms.front().shape();
  Tape& tape = this_thread_tape();
  bool grad = false;
  for (const Tensor& t : terms) {
    if (!(t.shape() == shape))
      throw ShapeError("tyche: add_n needs arrays of one shape but got " + shape.str() + " and " +
                       t.shape().str());
    grad = needs_grad(tape, t) || grad;
  }
  Tensor y = Access::result(shape, grad);
  const std::size_t count = terms.size();
  // The operand table lives in the arena while recording (a node keeps it).
  std::vector<Operand> heap_operands;
  Operand* operands;
  if (tape.recording()) {
    operands = static_cast<Operand*>(tape.allocate(sizeof(Operand) * (count + 1)));
  } else {
    heap_operands.resize(count + 1);
    operands = heap_operands.data();
  }
  for (std::size_t k = 0; k < count; ++k) operands[k] = Access::operand(terms[k]);
  operands[count] = Access::operand(y);
  AddNNode local;
  auto& node = grad ? tape.push<AddNNode>(&add_n_forward, &add_n_backward) : local;
  node.operands = operands;
  node.input_count = std::uint32_t(count);
  node.output_count = 1;
  node.kind = NodeKind::add_n;
  node.n = y.size();
  add_n_forward(node);
  return y;
}

template <class T = Tensor>
Tensor add_n(std::initializer_list<Tensor> terms) {
  return add_n(std::span<const Tensor>(terms.begin(), terms.size()));
}

template <class T = Tensor>
Tensor sum(const std::type_identity_t<T>& x) {
  return detail::reduce(x, detail::ReduceGeometry::whole(x), detail::Reduction::sum, 1.0, "sum");
}
template <class T = Tensor>
Tensor sum(const std::type_identity_t<T>& x, int axis, bool keepdims = false) {
  const auto g = detail::ReduceGeometry::along(x, axis, keepdims, "sum");
  return detail::reduce(x, g, detail::Reduction::sum, 1.0, "sum");
}
template <class T = Tensor>
Tensor mean(const std::type_identity_t<T>& x) {
  if (x.size() == 0) throw ShapeError("tyche: mean of an empty array");
  return detail::reduce(x, detail::ReduceGeometry::whole(x), detail::Reduction::sum,
                        1.0 / double(x.size()), "mean");
}
template <class T = Tensor>
Tensor mean(const std::type_identity_t<T>& x, int axis, bool keepdims = false) {
  const auto g = detail::ReduceGeometry::along(x, axis, keepdims, "mean");
  if (g.length == 0) throw ShapeError("tyche: mean over an empty axis of shape " + x.shape().str());
  return detail::reduce(x, g, detail::Reduction::sum, 1.0 / double(g.length), "mean");
}
template <class T = Tensor>
Tensor max(const std::type_identity_t<T>& x) {
  return detail::reduce(x, detail::ReduceGeometry::whole(x), detail::Reduction::max, 1.0, "max");
}
template <class T = Tensor>
Tensor max(const std::type_identity_t<T>& x, int axis, bool keepdims = false) {
  const auto g = detail::ReduceGeometry::along(x, axis, keepdims, "max");
  return detail::reduce(x, g, detail::Reduction::max, 1.0, "max");
}
// log(sum(exp(x))), stable for large and very negative x.
template <class T = Tensor>
Tensor logsumexp(const std::type_identity_t<T>& x) {
  return detail::reduce(x, detail::ReduceGeometry::whole(x), detail::Reduction::logsumexp, 1.0,
                        "logsumexp");
}
template <class T = Tensor>
Tensor logsumexp(const std::type_identity_t<T>& x, int axis, bool keepdims = false) {
  const auto g = detail::ReduceGeometry::along(x, axis, keepdims, "logsumexp");
  return detail::reduce(x, g, detail::Reduction::logsumexp, 1.0, "logsumexp");
}

}  // namespace tyche
