// Elementwise array operations with NumPy broadcasting, each recorded as one
// tape node: arithmetic, powers, exponentials and logs, trigonometry, the
// logistic family, and special functions.
//
//   tyche::Tensor x{0.5, 1.5}, m{{1.0}, {2.0}};
//   auto y = tyche::exp(-x) * m + 1.0;     // shape (2, 2)
//   auto z = tyche::softplus(x) - tyche::log_sigmoid(x);
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>

#include "tyche/core/broadcast.hpp"
#include "tyche/core/special.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

using ConstArray = Eigen::Map<const Eigen::ArrayXd>;
using MutableArray = Eigen::Map<Eigen::ArrayXd>;

// ---- unary operations ------------------------------------------------------
// An operation defines forward(x, y, p) and backward(x, y, gy, gx, p), where p
// holds up to two constants (an exponent, clamp bounds).

struct UnaryParams {
  double first = 0.0, second = 0.0;
};

template <class Op>
struct UnaryNode : Node {
  const double* x;
  const double* y;
  double* gx;
  const double* gy;
  std::int64_t n;
  UnaryParams params;
};

// Size 1 is common (scalar parameters) and gets Eigen's fixed-size code, which
// skips the loop set-up that dominates the cost of a one-element array.
using ConstScalar = Eigen::Map<const Eigen::Array<double, 1, 1>>;
using MutableScalar = Eigen::Map<Eigen::Array<double, 1, 1>>;

template <class Op>
void unary_forward(const Node& base) {
  const auto& node = static_cast<const UnaryNode<Op>&>(base);
  double* y = const_cast<double*>(node.y);
  // One element: evaluated as a coefficient, which Eigen inlines, where
  // assigning even a 1 x 1 expression is a call.
  if (node.n == 1) y[0] = Op::first(ConstScalar(node.x), node.params);
  else Op::forward(ConstArray(node.x, node.n), MutableArray(y, node.n), node.params);
}

template <class Op>
void unary_backward(const Node& base) {
  const auto& node = static_cast<const UnaryNode<Op>&>(base);
  const Eigen::Index n = node.n;
  if (n == 1)
    Op::backward(ConstScalar(node.x), ConstScalar(node.y), ConstScalar(node.gy),
                 MutableScalar(node.gx), node.params);
  else
    Op::backward(ConstArray(node.x, n), ConstArray(node.y, n), ConstArray(node.gy, n),
                 MutableArray(node.gx, n), node.params);
}

struct NegOp;
struct MulScalarOp;
struct SqrtOp;
struct AddScalarOp;
struct SubScalarOp;
struct ScalarSubOp;
struct DivScalarOp;

// Negation and scaling by a constant are what compiled.hpp looks for above a
// log joint (a potential is its negation); they and the operations below of
// one element join its scalar blocks.
template <class Op>
constexpr NodeKind unary_kind() {
  if constexpr (std::is_same_v<Op, NegOp>) return NodeKind::negate;
  else if constexpr (std::is_same_v<Op, MulScalarOp>) return NodeKind::scale_by_constant;
  else if constexpr (std::is_same_v<Op, SqrtOp>) return NodeKind::square_root;
  else if constexpr (std::is_same_v<Op, AddScalarOp>) return NodeKind::add_constant;
  else if constexpr (std::is_same_v<Op, SubScalarOp>) return NodeKind::subtract_constant;
  else if constexpr (std::is_same_v<Op, ScalarSubOp>) return NodeKind::constant_minus;
  else if constexpr (std::is_same_v<Op, DivScalarOp>) return NodeKind::divide_by_constant;
  else return NodeKind::other;
}

template <class Op>
Tensor unary(const Tensor& x, UnaryParams params = {}) {
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, x);
  Tensor y = Access::result(x.shape(), grad);
  UnaryNode<Op> local;
  auto& node = tape.node_for(grad, local, &unary_forward<Op>, &unary_backward<Op>, {Access::operand(x)},
                             {Access::operand(y)});
  node.kind = unary_kind<Op>();
  node.x = Access::data(x);
  node.y = Access::data(y);
  node.gx = Access::grad(x);
  node.gy = Access::grad(y);
  node.n = x.size();
  node.params = params;
  unary_forward<Op>(node);
  return y;
}

#define TYCHE_UNARY_OP(Name, forward_expr, derivative_expr)                                   \
  struct Name {                                                                               \
    template <class In, class Out>                                                            \
    static void forward(const In& x, Out y, UnaryParams p) {                                  \
      (void)p;                                                                                \
      y = forward_expr;                                                                       \
    }                                                                                         \
    template <class In>                                                                       \
    static double first(const In& x, UnaryParams p) {                                         \
      (void)p;                                                                                \
      return (forward_expr)(0);                                                               \
    }                                                                                         \
    template <class In, class Out>                                                            \
    static void backward(const In& x, const In& y, const In& gy, Out gx, UnaryParams p) {     \
      (void)x, (void)y, (void)p;                                                              \
      gx += gy * (derivative_expr);                                                           \
    }                                                                                         \
  };

inline double softplus_scalar(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
inline double sign_scalar(double x) { return double((x > 0.0) - (x < 0.0)); }
constexpr double kTwoOverSqrtPi = 2.0 * std::numbers::inv_sqrtpi;

// Why the odd forms: each derivative reuses the forward result y where that
// saves a transcendental call (d softplus = exp(x - y) is the sigmoid).
TYCHE_UNARY_OP(NegOp, -x, -1.0)
TYCHE_UNARY_OP(Log1pOp, x.log1p(), (1.0 + x).inverse())
TYCHE_UNARY_OP(Expm1Op, x.expm1(), y + 1.0)
TYCHE_UNARY_OP(SqrtOp, x.sqrt(), 0.5 * y.inverse())
TYCHE_UNARY_OP(SquareOp, x.square(), 2.0 * x)
TYCHE_UNARY_OP(AbsOp, x.abs(), x.unaryExpr(&sign_scalar))
TYCHE_UNARY_OP(SinOp, x.sin(), x.cos())
TYCHE_UNARY_OP(CosOp, x.cos(), -x.sin())
TYCHE_UNARY_OP(TanhOp, x.tanh(), 1.0 - y.square())
TYCHE_UNARY_OP(SigmoidOp, x.logistic(), y * (-x).logistic())  // 1 - y would cancel for large x
TYCHE_UNARY_OP(SoftplusOp, x.max(0.0) + (-x.abs()).exp().log1p(), (x - y).exp())
TYCHE_UNARY_OP(LogSigmoidOp, x.min(0.0) - (-x.abs()).exp().log1p(), (y - x).exp())
TYCHE_UNARY_OP(LogitOp, x.log() - (-x).log1p(), (x * (1.0 - x)).inverse())
TYCHE_UNARY_OP(ErfOp, x.unaryExpr([](double v) { return std::erf(v); }),
               kTwoOverSqrtPi * (-x.square()).exp())
TYCHE_UNARY_OP(ErfcOp, x.unaryExpr([](double v) { return std::erfc(v); }),
               -kTwoOverSqrtPi * (-x.square()).exp())
TYCHE_UNARY_OP(LogNdtrOp, x.unaryExpr(&special::log_ndtr),
               x.binaryExpr(y, &special::d_log_ndtr))
TYCHE_UNARY_OP(LgammaOp, x.unaryExpr(&special::lgamma<>), x.unaryExpr(&special::digamma<>))
TYCHE_UNARY_OP(DigammaOp, x.unaryExpr(&special::digamma<>), x.unaryExpr(&special::trigamma<>))
// Arithmetic with a constant keeps the constant in the node instead of making
// an array of it.
TYCHE_UNARY_OP(AddScalarOp, x + p.first, 1.0)
TYCHE_UNARY_OP(SubScalarOp, x - p.first, 1.0)
TYCHE_UNARY_OP(ScalarSubOp, p.first - x, -1.0)
TYCHE_UNARY_OP(MulScalarOp, x * p.first, p.first)
TYCHE_UNARY_OP(DivScalarOp, x / p.first, 1.0 / p.first)
TYCHE_UNARY_OP(ScalarDivOp, p.first / x, -y / x)
// The value passes, the gradient does not; still a node, so that a compiled
// gradient recomputes the value.
TYCHE_UNARY_OP(StopGradientOp, x, 0.0)
// x ** p for a constant exponent p.
TYCHE_UNARY_OP(PowScalarOp, x.pow(p.first), p.first * x.pow(p.first - 1.0))
// Clamped elements pass no gradient.
TYCHE_UNARY_OP(ClampOp, x.max(p.first).min(p.second),
               (x >= p.first && x <= p.second).template cast<double>())
#undef TYCHE_UNARY_OP

// Eigen's vectorised exp clamps its argument at -709.784, so that below
// it (and at -inf) it returns 5.6e-309 instead of a subnormal number or 0, and
// its vectorised log takes a subnormal argument for the smallest normal
// number (log(1e-310) = -708.4, not -713.8). The few elements whose result
// (exp) or argument (log) is not a normal number are recomputed with std::.
inline constexpr double kSmallestNormal = std::numeric_limits<double>::min();
inline constexpr double kLogSmallestNormal = -708.39641853226410622;

template <class Out, class In, class F>
void recompute_below(Out& y, const In& x, double threshold, F f) {
  for (Eigen::Index i = 0; i < x.size(); ++i)
    if (x[i] < threshold) y[i] = f(x[i]);
}

struct ExpOp {
  template <class In, class Out>
  static void forward(const In& x, Out y, UnaryParams) {
    y = x.exp();
    recompute_below(y, x, kLogSmallestNormal, [](double v) { return std::exp(v); });
  }
  template <class In>
  static double first(const In& x, UnaryParams) { return std::exp(x[0]); }
  template <class In, class Out>
  static void backward(const In&, const In& y, const In& gy, Out gx, UnaryParams) { gx += gy * y; }
};

struct LogOp {
  template <class In, class Out>
  static void forward(const In& x, Out y, UnaryParams) {
    y = x.log();
    recompute_below(y, x, kSmallestNormal, [](double v) { return std::log(v); });
  }
  template <class In>
  static double first(const In& x, UnaryParams) { return std::log(x[0]); }
  template <class In, class Out>
  static void backward(const In& x, const In&, const In& gy, Out gx, UnaryParams) { gx += gy * x.inverse(); }
};

// ---- binary operations -----------------------------------------------------
// An operation defines f(a, b) and the partials da(a, b, y), db(a, b, y).

enum class Layout { same, a_scalar, b_scalar };

template <class Op>
struct BinaryNode : Node {
  const double* a;
  const double* b;
  const double* y;
  double* ga;
  double* gb;
  const double* gy;
  std::int64_t n;
  Layout layout;
};

template <class Op>
struct BroadcastBinaryNode : BinaryNode<Op> {
  BroadcastPlan<2> plan;
};

// Results never alias inputs (each has fresh storage), which the restrict
// qualifiers tell the compiler so that it vectorises; single operands are
// read once, outside the loops.
template <class Op>
void binary_forward(const Node& base) {
  const auto& node = static_cast<const BinaryNode<Op>&>(base);
  const double* __restrict a = node.a;
  const double* __restrict b = node.b;
  double* __restrict y = const_cast<double*>(node.y);
  const std::int64_t n = node.n;
  switch (node.layout) {
    case Layout::same:
      for (std::int64_t i = 0; i < n; ++i) y[i] = Op::f(a[i], b[i]);
      break;
    case Layout::a_scalar: {
      const double a0 = a[0];
      for (std::int64_t i = 0; i < n; ++i) y[i] = Op::f(a0, b[i]);
      break;
    }
    case Layout::b_scalar: {
      const double b0 = b[0];
      for (std::int64_t i = 0; i < n; ++i) y[i] = Op::f(a[i], b0);
      break;
    }
  }
}

// Sum of f(i) over i < n with four accumulators, so that the additions do not
// wait on each other.
template <class F>
double sum_of(std::int64_t n, F&& f) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += f(i);
    s1 += f(i + 1);
    s2 += f(i + 2);
    s3 += f(i + 3);
  }
  for (; i < n; ++i) s0 += f(i);
  return (s0 + s1) + (s2 + s3);
}

template <class Op>
void binary_backward(const Node& base) {
  const auto& node = static_cast<const BinaryNode<Op>&>(base);
  const double* __restrict a = node.a;
  const double* __restrict b = node.b;
  const double* __restrict y = node.y;
  const double* __restrict gy = node.gy;
  double* __restrict ga = node.ga;
  double* __restrict gb = node.gb;
  const std::int64_t n = node.n;
  switch (node.layout) {
    case Layout::same:
      if (ga)
        for (std::int64_t i = 0; i < n; ++i) ga[i] += gy[i] * Op::da(a[i], b[i], y[i]);
      if (gb)
        for (std::int64_t i = 0; i < n; ++i) gb[i] += gy[i] * Op::db(a[i], b[i], y[i]);
      break;
    case Layout::a_scalar: {
      const double a0 = a[0];
      if (ga) ga[0] += sum_of(n, [&](std::int64_t i) { return gy[i] * Op::da(a0, b[i], y[i]); });
      if (gb)
        for (std::int64_t i = 0; i < n; ++i) gb[i] += gy[i] * Op::db(a0, b[i], y[i]);
      break;
    }
    case Layout::b_scalar: {
      const double b0 = b[0];
      if (ga)
        for (std::int64_t i = 0; i < n; ++i) ga[i] += gy[i] * Op::da(a[i], b0, y[i]);
      if (gb) gb[0] += sum_of(n, [&](std::int64_t i) { return gy[i] * Op::db(a[i], b0, y[i]); });
      break;
    }
  }
}

template <class Op>
void broadcast_binary_forward(const Node& base) {
  const auto& node = static_cast<const BroadcastBinaryNode<Op>&>(base);
  double* y = const_cast<double*>(node.y);
  node.plan.for_each([&](std::int64_t i, const std::array<std::int64_t, 2>& at) {
    y[i] = Op::f(node.a[at[0]], node.b[at[1]]);
  });
}

template <class Op>
void broadcast_binary_backward(const Node& base) {
  const auto& node = static_cast<const BroadcastBinaryNode<Op>&>(base);
  node.plan.for_each([&](std::int64_t i, const std::array<std::int64_t, 2>& at) {
    const double a = node.a[at[0]], b = node.b[at[1]];
    if (node.ga) node.ga[at[0]] += node.gy[i] * Op::da(a, b, node.y[i]);
    if (node.gb) node.gb[at[1]] += node.gy[i] * Op::db(a, b, node.y[i]);
  });
}

struct AddOp;
struct MulOp;
struct SubOp;
struct DivOp;

// A product and a sum that compiled.hpp may merge into an fma; these four of
// one element join its scalar blocks.
template <class Op>
constexpr NodeKind binary_kind() {
  if constexpr (std::is_same_v<Op, AddOp>) return NodeKind::add;
  else if constexpr (std::is_same_v<Op, MulOp>) return NodeKind::multiply;
  else if constexpr (std::is_same_v<Op, SubOp>) return NodeKind::subtract;
  else if constexpr (std::is_same_v<Op, DivOp>) return NodeKind::divide;
  else return NodeKind::other;
}

template <class Op>
void fill_binary_node(BinaryNode<Op>& node, const Tensor& a, const Tensor& b, const Tensor& y,
                      Layout layout) {
  node.a = Access::data(a);
  node.b = Access::data(b);
  node.y = Access::data(y);
  node.ga = Access::grad(a);
  node.gb = Access::grad(b);
  node.gy = Access::grad(y);
  node.n = y.size();
  node.layout = layout;
}

template <class Op>
Tensor binary(const Tensor& a, const Tensor& b, const char* name) {
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, a, b);
  // A single element is read with stride 0 only when its rank does not exceed
  // the other operand's, so that the other operand's shape is the result's:
  // (1,) with () is (1,), as in NumPy, and the single side is then b.
  const bool same = a.shape() == b.shape();
  const bool a_single = a.size() == 1 && a.ndim() <= b.ndim();
  const bool b_single = b.size() == 1 && b.ndim() <= a.ndim();
  if (same || a_single || b_single) {
    const Layout layout = same ? Layout::same : a_single ? Layout::a_scalar : Layout::b_scalar;
    Tensor y = Access::result(layout == Layout::a_scalar ? b.shape() : a.shape(), grad);
    BinaryNode<Op> local;
    auto& node = tape.node_for(grad, local, &binary_forward<Op>, &binary_backward<Op>,
                               {Access::operand(a), Access::operand(b)}, {Access::operand(y)});
    node.kind = binary_kind<Op>();
    fill_binary_node(node, a, b, y, layout);
    binary_forward<Op>(node);
    return y;
  }
  const auto plan = BroadcastPlan<2>::make({a.shape(), b.shape()}, name);
  Tensor y = Access::result(plan.out, grad);
  BroadcastBinaryNode<Op> local;
  auto& node = tape.node_for(grad, local, &broadcast_binary_forward<Op>, &broadcast_binary_backward<Op>,
                             {Access::operand(a), Access::operand(b)}, {Access::operand(y)});
  fill_binary_node(node, a, b, y, Layout::same);
  node.plan = plan;
  broadcast_binary_forward<Op>(node);
  return y;
}

struct AddOp {
  static double f(double a, double b) { return a + b; }
  static double da(double, double, double) { return 1.0; }
  static double db(double, double, double) { return 1.0; }
};
struct SubOp {
  static double f(double a, double b) { return a - b; }
  static double da(double, double, double) { return 1.0; }
  static double db(double, double, double) { return -1.0; }
};
struct MulOp {
  static double f(double a, double b) { return a * b; }
  static double da(double, double b, double) { return b; }
  static double db(double a, double, double) { return a; }
};
struct DivOp {
  static double f(double a, double b) { return a / b; }
  static double da(double, double b, double) { return 1.0 / b; }
  static double db(double, double b, double y) { return -y / b; }
};
struct PowOp {
  static double f(double a, double b) { return std::pow(a, b); }
  static double da(double a, double b, double) { return b == 0.0 ? 0.0 : b * std::pow(a, b - 1.0); }
  // y log a, taken as 0 where y is 0 so that 0 ** b does not give NaN.
  static double db(double a, double, double y) { return y == 0.0 ? 0.0 : y * std::log(a); }
};

}  // namespace detail

// The operations are templates only so that a program compiles just the ones
// it uses (issue 17; see core/tensor.hpp).
template <class T = Tensor>
Tensor operator+(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::binary<detail::AddOp>(a, b, "add");
}
template <class T = Tensor>
Tensor operator-(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::binary<detail::SubOp>(a, b, "subtract");
}
template <class T = Tensor>
Tensor operator*(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::binary<detail::MulOp>(a, b, "multiply");
}
template <class T = Tensor>
Tensor operator/(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return detail::binary<detail::DivOp>(a, b, "divide");
}
template <class T = Tensor>
Tensor operator-(const std::type_identity_t<T>& x) { return detail::unary<detail::NegOp>(x); }
template <class T = Tensor>
Tensor operator+(const std::type_identity_t<T>& a, double b) { return detail::unary<detail::AddScalarOp>(a, {b}); }
template <class T = Tensor>
Tensor operator+(double a, const std::type_identity_t<T>& b) { return detail::unary<detail::AddScalarOp>(b, {a}); }
template <class T = Tensor>
Tensor operator-(const std::type_identity_t<T>& a, double b) { return detail::unary<detail::SubScalarOp>(a, {b}); }
template <class T = Tensor>
Tensor operator-(double a, const std::type_identity_t<T>& b) { return detail::unary<detail::ScalarSubOp>(b, {a}); }
template <class T = Tensor>
Tensor operator*(const std::type_identity_t<T>& a, double b) { return detail::unary<detail::MulScalarOp>(a, {b}); }
template <class T = Tensor>
Tensor operator*(double a, const std::type_identity_t<T>& b) { return detail::unary<detail::MulScalarOp>(b, {a}); }
template <class T = Tensor>
Tensor operator/(const std::type_identity_t<T>& a, double b) { return detail::unary<detail::DivScalarOp>(a, {b}); }
template <class T = Tensor>
Tensor operator/(double a, const std::type_identity_t<T>& b) { return detail::unary<detail::ScalarDivOp>(b, {a}); }
template <class T = Tensor>
Tensor& operator+=(std::type_identity_t<T>& a, const std::type_identity_t<T>& b) { return a = a + b; }
template <class T = Tensor>
Tensor& operator-=(std::type_identity_t<T>& a, const std::type_identity_t<T>& b) { return a = a - b; }
template <class T = Tensor>
Tensor& operator*=(std::type_identity_t<T>& a, const std::type_identity_t<T>& b) { return a = a * b; }
template <class T = Tensor>
Tensor& operator/=(std::type_identity_t<T>& a, const std::type_identity_t<T>& b) { return a = a / b; }

template <class T = Tensor>
Tensor pow(const std::type_identity_t<T>& base, const std::type_identity_t<T>& exponent) {
  return detail::binary<detail::PowOp>(base, exponent, "pow");
}
template <class T = Tensor>
Tensor pow(const std::type_identity_t<T>& base, double exponent) {
  return detail::unary<detail::PowScalarOp>(base, {exponent, 0.0});
}

template <class T = Tensor>
Tensor exp(const std::type_identity_t<T>& x) { return detail::unary<detail::ExpOp>(x); }
template <class T = Tensor>
Tensor log(const std::type_identity_t<T>& x) { return detail::unary<detail::LogOp>(x); }
template <class T = Tensor>
Tensor log1p(const std::type_identity_t<T>& x) { return detail::unary<detail::Log1pOp>(x); }
template <class T = Tensor>
Tensor expm1(const std::type_identity_t<T>& x) { return detail::unary<detail::Expm1Op>(x); }
template <class T = Tensor>
Tensor sqrt(const std::type_identity_t<T>& x) { return detail::unary<detail::SqrtOp>(x); }
template <class T = Tensor>
Tensor square(const std::type_identity_t<T>& x) { return detail::unary<detail::SquareOp>(x); }
// The derivative of |x| at 0 is taken as 0.
template <class T = Tensor>
Tensor abs(const std::type_identity_t<T>& x) { return detail::unary<detail::AbsOp>(x); }
template <class T = Tensor>
Tensor sin(const std::type_identity_t<T>& x) { return detail::unary<detail::SinOp>(x); }
template <class T = Tensor>
Tensor cos(const std::type_identity_t<T>& x) { return detail::unary<detail::CosOp>(x); }
template <class T = Tensor>
Tensor tanh(const std::type_identity_t<T>& x) { return detail::unary<detail::TanhOp>(x); }
template <class T = Tensor>
Tensor sigmoid(const std::type_identity_t<T>& x) { return detail::unary<detail::SigmoidOp>(x); }
// log(1 + exp(x)) without overflow.
template <class T = Tensor>
Tensor softplus(const std::type_identity_t<T>& x) { return detail::unary<detail::SoftplusOp>(x); }
// log(sigmoid(x)) = -softplus(-x), without underflow.
template <class T = Tensor>
Tensor log_sigmoid(const std::type_identity_t<T>& x) { return detail::unary<detail::LogSigmoidOp>(x); }
// log(p / (1 - p)), the inverse of sigmoid.
template <class T = Tensor>
Tensor logit(const std::type_identity_t<T>& p) { return detail::unary<detail::LogitOp>(p); }
template <class T = Tensor>
Tensor erf(const std::type_identity_t<T>& x) { return detail::unary<detail::ErfOp>(x); }
template <class T = Tensor>
Tensor erfc(const std::type_identity_t<T>& x) { return detail::unary<detail::ErfcOp>(x); }
// log of the standard normal CDF, accurate far into the lower tail.
template <class T = Tensor>
Tensor log_ndtr(const std::type_identity_t<T>& x) { return detail::unary<detail::LogNdtrOp>(x); }
template <class T = Tensor>
Tensor lgamma(const std::type_identity_t<T>& x) { return detail::unary<detail::LgammaOp>(x); }
template <class T = Tensor>
Tensor digamma(const std::type_identity_t<T>& x) { return detail::unary<detail::DigammaOp>(x); }
// Elements limited to [low, high]; the gradient is 0 where clamping acted.
template <class T = Tensor>
Tensor clamp(const std::type_identity_t<T>& x, double low, double high) {
  if (!(low <= high))
    throw std::invalid_argument("tyche: clamp: low " + std::to_string(low) +
                                " is greater than high " + std::to_string(high));
  return detail::unary<detail::ClampOp>(x, {low, high});
}

}  // namespace tyche
