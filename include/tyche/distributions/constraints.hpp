// Constraints: the sets distributions live on (their support) and parameters
// must lie in. A constraint is a small value: a kind, optional bounds (arrays,
// broadcast against the value) and an event dimension: how many trailing axes
// of a value form one element (0 for scalars, 1 for simplex, 2 for matrices).
//
//   namespace c = tyche::constraints;
//   c::positive.check(tyche::Tensor{1.0, -1.0});        // [1, 0]
//   c::interval(0.0, 2.0).str();                          // "Interval(lower_bound=0, upper_bound=2)"
//   c::independent(c::positive, 1).event_dim();           // 1
//   c::simplex.feasible_like(tyche::Tensor::zeros({4}));  // [0.25, 0.25, 0.25, 0.25]
//
// softplus_positive, softplus_lower_cholesky and scaled_unit_lower_cholesky
// are the sets positive and lower_cholesky again (same membership), marked so
// that biject_to reaches them through softplus rather than exp, as NumPyro's
// AutoNormal and AutoMultivariateNormal parameterise their scales.
#pragma once

#include "tyche/core/indexing.hpp"
#include "tyche/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

namespace tyche::constraints {

enum class Kind {
  real,
  positive,
  softplus_positive,
  nonnegative,
  unit_interval,
  interval,
  greater_than,
  less_than,
  simplex,
  ordered_vector,
  lower_cholesky,
  softplus_lower_cholesky,
  scaled_unit_lower_cholesky,
  corr_cholesky,
  positive_definite,
  boolean,
  nonnegative_integer,
  integer_interval,
};

class Constraint {
 public:
  explicit Constraint(Kind kind, Tensor lower = 0.0, Tensor upper = 0.0)
      : kind_(kind), lower_(std::move(lower)), upper_(std::move(upper)), event_dim_(base_event_dim(kind)) {}

  Kind kind() const { return kind_; }
  const Tensor& lower() const { return lower_; }  // interval, greater_than, integer_interval
  const Tensor& upper() const { return upper_; }  // interval, less_than, integer_interval
  int event_dim() const { return event_dim_; }
  bool is_discrete() const {
    return kind_ == Kind::boolean || kind_ == Kind::nonnegative_integer || kind_ == Kind::integer_interval;
  }

  // The same set with `n` more trailing axes read as one element.
  Constraint independent(int n) const {
    Constraint c = *this;
    c.event_dim_ += n;
    return c;
  }

  // 1 where the element (the trailing event_dim axes) lies in the set, else 0;
  // shape: value's shape without its event_dim trailing axes.
  Tensor check(const Tensor& value) const;
  // A point of the set with the prototype's shape (broadcast with the
  // bounds), inside it where the set has an inside: 0 for reals, 1 for
  // positive numbers, midpoints of intervals, the uniform simplex, identity
  // matrices (NumPyro's feasible_like). Only the prototype's shape is read.
  Tensor feasible_like(const Tensor& prototype) const;
  // True when every element lies in the set.
  bool contains(const Tensor& value) const {
    const Tensor ok = check(value);
    const double* p = detail::Access::values_unguarded(ok);  // a yes/no answer asked for now; check() is what replays
    return std::all_of(p, p + ok.size(), [](double v) { return v != 0.0; });
  }

  std::string str() const;

 private:
  static int base_event_dim(Kind kind) {
    switch (kind) {
      case Kind::simplex:
      case Kind::ordered_vector: return 1;
      case Kind::lower_cholesky:
      case Kind::softplus_lower_cholesky:
      case Kind::scaled_unit_lower_cholesky:
      case Kind::corr_cholesky:
      case Kind::positive_definite: return 2;
      default: return 0;
    }
  }
  Kind kind_;
  Tensor lower_, upper_;
  int event_dim_;
};

inline const Constraint real{Kind::real};
inline const Constraint real_vector = real.independent(1);
inline const Constraint positive{Kind::positive};
inline const Constraint softplus_positive{Kind::softplus_positive};
inline const Constraint nonnegative{Kind::nonnegative};
inline const Constraint unit_interval{Kind::unit_interval, 0.0, 1.0};
inline const Constraint simplex{Kind::simplex};
inline const Constraint ordered_vector{Kind::ordered_vector};
inline const Constraint lower_cholesky{Kind::lower_cholesky};
inline const Constraint softplus_lower_cholesky{Kind::softplus_lower_cholesky};
inline const Constraint scaled_unit_lower_cholesky{Kind::scaled_unit_lower_cholesky};
inline const Constraint corr_cholesky{Kind::corr_cholesky};
inline const Constraint positive_definite{Kind::positive_definite};
inline const Constraint boolean{Kind::boolean, 0.0, 1.0};
inline const Constraint nonnegative_integer{Kind::nonnegative_integer};

inline Constraint interval(Tensor lower, Tensor upper) { return Constraint(Kind::interval, std::move(lower), std::move(upper)); }
inline Constraint greater_than(Tensor lower) { return Constraint(Kind::greater_than, std::move(lower)); }
inline Constraint less_than(Tensor upper) { return Constraint(Kind::less_than, 0.0, std::move(upper)); }
inline Constraint integer_interval(Tensor lower, Tensor upper) {
  return Constraint(Kind::integer_interval, std::move(lower), std::move(upper));
}
inline Constraint independent(const Constraint& base, int reinterpreted_batch_ndims) {
  return base.independent(reinterpreted_batch_ndims);
}

namespace detail {

using tyche::detail::Access;

// Elementwise membership for the scalar kinds; lower and upper are already
// broadcast to the value's shape.
inline bool scalar_member(Kind kind, double x, double lower, double upper) {
  switch (kind) {
    case Kind::real: return std::isfinite(x);  // as NumPyro: infinities are not real numbers here
    case Kind::positive:
    case Kind::softplus_positive: return x > 0.0;
    case Kind::nonnegative: return x >= 0.0;
    case Kind::unit_interval:
    case Kind::interval: return x >= lower && x <= upper;
    case Kind::greater_than: return x > lower;
    case Kind::less_than: return x < upper;
    case Kind::boolean: return x == 0.0 || x == 1.0;
    case Kind::nonnegative_integer: return x >= 0.0 && x < HUGE_VAL && std::floor(x) == x;
    case Kind::integer_interval: return x >= lower && x <= upper && std::floor(x) == x;
    default: return false;
  }
}

// Whether the rows x rows matrix x (row-major) is finite, symmetric within
// `tolerance` (relative, in the Frobenius norm, as Eigen's isApprox) and has a
// Cholesky factor of its lower triangle (every pivot positive, as Eigen's LLT).
// Written out rather than with Eigen::LLT, whose kernels every program that
// samples would otherwise compile (issue 17).
inline bool positive_definite_matrix(const double* x, std::int64_t rows, double tolerance) {
  double norm = 0.0, asymmetry = 0.0;  // squared Frobenius norms of x and x - x^T
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < rows; ++j) {
      const double v = x[i * rows + j], d = v - x[j * rows + i];
      if (!std::isfinite(v)) return false;
      norm += v * v;
      asymmetry += d * d;
    }
  if (asymmetry > tolerance * tolerance * norm) return false;
  std::vector<double> l(x, x + rows * rows);  // factored in place, lower triangle
  for (std::int64_t j = 0; j < rows; ++j) {
    double pivot = l[j * rows + j];
    for (std::int64_t k = 0; k < j; ++k) pivot -= l[j * rows + k] * l[j * rows + k];
    if (!(pivot > 0.0)) return false;
    l[j * rows + j] = std::sqrt(pivot);
    for (std::int64_t i = j + 1; i < rows; ++i) {
      double v = l[i * rows + j];
      for (std::int64_t k = 0; k < j; ++k) v -= l[i * rows + k] * l[j * rows + k];
      l[i * rows + j] = v / l[j * rows + j];
    }
  }
  return true;
}

// Membership of one event: `n` trailing elements (a vector of n, or an
// n = rows x rows matrix).
inline bool event_member(Kind kind, const double* x, std::int64_t n, std::int64_t rows) {
  constexpr double kTolerance = 1e-6;
  switch (kind) {
    case Kind::simplex: {
      double total = 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        if (!(x[i] >= 0.0)) return false;
        total += x[i];
      }
      return std::abs(total - 1.0) < kTolerance;
    }
    case Kind::ordered_vector:
      for (std::int64_t i = 0; i < n; ++i)
        if (std::isnan(x[i]) || (i > 0 && !(x[i] > x[i - 1]))) return false;
      return true;
    case Kind::lower_cholesky:
    case Kind::softplus_lower_cholesky:
    case Kind::scaled_unit_lower_cholesky:
    case Kind::corr_cholesky:
      for (std::int64_t r = 0; r < rows; ++r) {
        double norm = 0.0;
        for (std::int64_t c = 0; c < rows; ++c) {
          const double v = x[r * rows + c];
          if (std::isnan(v) || (c > r && v != 0.0) || (c == r && !(v > 0.0))) return false;
          norm += v * v;
        }
        if (kind == Kind::corr_cholesky && std::abs(norm - 1.0) > kTolerance) return false;
      }
      return true;
    case Kind::positive_definite: return positive_definite_matrix(x, rows, kTolerance);
    default: return false;
  }
}

// A recorded node when the value depends on the parameters, so that a
// compiled gradient re-checks the value it is replayed at.
struct CheckNode : tyche::detail::Node {
  Kind constraint_kind;  // (Node::kind is the tape's)
  bool scalar_kind;
  const double* x;
  const double* lower;
  const double* upper;
  double* out;
  std::int64_t count, event_size, rows, group;
};

inline void check_forward(const tyche::detail::Node& base) {
  const auto& nd = static_cast<const CheckNode&>(base);
  std::fill(nd.out, nd.out + nd.count / nd.group, 1.0);
  for (std::int64_t i = 0; i < nd.count; ++i) {
    const bool member = nd.scalar_kind
                            ? scalar_member(nd.constraint_kind, nd.x[i], nd.lower[i], nd.upper[i])
                            : event_member(nd.constraint_kind, nd.x + i * nd.event_size, nd.event_size, nd.rows);
    if (!member) nd.out[i / nd.group] = 0.0;
  }
}

inline void check_backward(const tyche::detail::Node&) {}

}  // namespace detail

inline Tensor Constraint::check(const Tensor& value) const {
  if (value.ndim() < event_dim_)
    throw ShapeError("tyche: " + str() + ": a value of shape " + value.shape().str() + " has fewer than " +
                     std::to_string(event_dim_) + " axes");
  const int own_dims = base_event_dim(kind_);
  if (own_dims == 2 && value.dim(-1) != value.dim(-2))
    throw ShapeError("tyche: " + str() + ": expects square matrices, got shape " + value.shape().str());
  // Bounds broadcast with the value (either may be the larger).
  const Shape full = own_dims ? value.shape()
                              : broadcast_shapes(broadcast_shapes(value.shape(), lower_.shape(), "check"),
                                                 upper_.shape(), "check");
  const Tensor x = value.shape() == full ? value : broadcast_to(value, full);
  const Tensor lower = broadcast_to(lower_, own_dims ? Shape{} : full);
  const Tensor upper = broadcast_to(upper_, own_dims ? Shape{} : full);
  const Shape out_shape(full.begin(), full.end() - event_dim_);
  // The result carries a (zero) gradient when the value depends on the
  // parameters, so that what is computed from it is recorded and a compiled
  // gradient re-checks the value it is replayed at.
  auto& tape = tyche::detail::this_thread_tape();
  const bool record = tyche::detail::needs_grad(tape, x, lower, upper);
  Tensor out = detail::Access::result(out_shape, record);
  detail::CheckNode local;
  auto& node = tape.node_for(record, local, detail::check_forward, detail::check_backward,
                             {detail::Access::operand(x), detail::Access::operand(lower), detail::Access::operand(upper)},
                             {detail::Access::operand(out)});
  node.constraint_kind = kind_;
  node.scalar_kind = own_dims == 0;
  node.x = detail::Access::data(x);
  node.lower = detail::Access::data(lower);
  node.upper = detail::Access::data(upper);
  node.out = detail::Access::data(out);
  // Elements of the constraint's own event size (a scalar, a vector, a
  // rows x rows matrix), grouped by all() over the axes independent() added.
  node.event_size = own_dims == 0 ? 1 : own_dims == 1 ? value.dim(-1) : value.dim(-1) * value.dim(-2);
  node.rows = own_dims == 2 ? value.dim(-1) : 0;
  node.count = node.event_size == 0 ? 0 : x.size() / node.event_size;
  node.group = out_shape.numel() == 0 ? 1 : std::max<std::int64_t>(node.count / out_shape.numel(), 1);
  check_forward(node);
  return out;
}

inline Tensor Constraint::feasible_like(const Tensor& prototype) const {
  const Shape& shape = prototype.shape();
  const int own_dims = base_event_dim(kind_);
  if (prototype.ndim() < own_dims)
    throw ShapeError("tyche: " + str() + ".feasible_like: a prototype of shape " + shape.str() + " has fewer than " +
                     std::to_string(own_dims) + " axes");
  const std::int64_t n = own_dims ? prototype.dim(-1) : 0;
  switch (kind_) {
    case Kind::real:
    case Kind::boolean:
    case Kind::nonnegative_integer: return Tensor::zeros(shape);
    case Kind::positive:
    case Kind::nonnegative: return Tensor::ones(shape);
    case Kind::softplus_positive: return Tensor::full(shape, std::numbers::ln2);  // softplus(0)
    case Kind::unit_interval:
    case Kind::interval: return Tensor::zeros(shape) + 0.5 * (lower_ + upper_);
    case Kind::greater_than: return Tensor::zeros(shape) + (lower_ + 1.0);
    case Kind::less_than: return Tensor::zeros(shape) + (upper_ - 1.0);
    case Kind::integer_interval: return Tensor::zeros(shape) + lower_;
    case Kind::simplex: return Tensor::full(shape, 1.0 / double(n));
    case Kind::ordered_vector: return Tensor::zeros(shape) + Tensor::arange(n);
    case Kind::lower_cholesky:
    case Kind::scaled_unit_lower_cholesky:
    case Kind::corr_cholesky:
    case Kind::positive_definite: return Tensor::zeros(shape) + (Tensor::arange(n).reshape({n, 1}) == Tensor::arange(n));
    case Kind::softplus_lower_cholesky:
      return Tensor::zeros(shape) + std::numbers::ln2 * (Tensor::arange(n).reshape({n, 1}) == Tensor::arange(n));
  }
  return Tensor::zeros(shape);
}

inline std::string Constraint::str() const {
  std::ostringstream s;
  auto bound = [](const Tensor& t) {
    std::ostringstream b;
    if (t.size() == 1) b << tyche::detail::Access::values_unguarded(t)[0];  // printing
    else b << "array" << t.shape().str();
    return b.str();
  };
  switch (kind_) {
    case Kind::real: s << (event_dim_ == 1 ? "RealVector()" : "Real()"); break;
    case Kind::positive: s << "Positive()"; break;
    case Kind::softplus_positive: s << "SoftplusPositive()"; break;
    case Kind::nonnegative: s << "Nonnegative()"; break;
    case Kind::unit_interval: s << "UnitInterval()"; break;
    case Kind::interval: s << "Interval(lower_bound=" << bound(lower_) << ", upper_bound=" << bound(upper_) << ")"; break;
    case Kind::greater_than: s << "GreaterThan(lower_bound=" << bound(lower_) << ")"; break;
    case Kind::less_than: s << "LessThan(upper_bound=" << bound(upper_) << ")"; break;
    case Kind::simplex: s << "Simplex()"; break;
    case Kind::ordered_vector: s << "OrderedVector()"; break;
    case Kind::lower_cholesky: s << "LowerCholesky()"; break;
    case Kind::softplus_lower_cholesky: s << "SoftplusLowerCholesky()"; break;
    case Kind::scaled_unit_lower_cholesky: s << "ScaledUnitLowerCholesky()"; break;
    case Kind::corr_cholesky: s << "CorrCholesky()"; break;
    case Kind::positive_definite: s << "PositiveDefinite()"; break;
    case Kind::boolean: s << "Boolean()"; break;
    case Kind::nonnegative_integer: s << "NonnegativeInteger()"; break;
    case Kind::integer_interval:
      s << "IntegerInterval(lower_bound=" << bound(lower_) << ", upper_bound=" << bound(upper_) << ")";
      break;
  }
  const int extra = event_dim_ - base_event_dim(kind_) - (kind_ == Kind::real && event_dim_ == 1);
  return extra > 0 ? "Independent(" + s.str() + ", " + std::to_string(extra) + ")" : s.str();
}

}  // namespace tyche::constraints
