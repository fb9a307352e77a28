// Bijective transforms (NumPyro's numpyro.distributions.transforms): forward,
// inverse and log |det J| of the forward map, built from differentiable array
// operations so that gradients and compiled replays flow through them.
//
//   namespace tr = tyche::transforms;
//   tr::StickBreakingTransform t;
//   tyche::Tensor y = t.forward(tyche::Tensor{0.0, 0.0});   // {1/3, 1/3, 1/3}
//   tyche::Tensor x = t.inverse(y);                         // {0, 0}
//   tyche::Tensor ld = t.log_abs_det_jacobian(x, y);        // shape ()
//   tr::ComposeTransform positive_shifted(
//       {std::make_shared<tr::ExpTransform>(), std::make_shared<tr::AffineTransform>(2.0, 1.0)});
//
// A transform's domain and codomain are constraints; their event_dim says how
// many trailing axes form one element, and log_abs_det_jacobian sums over those
// axes of the domain, so its shape is x's batch shape. Transforms between spaces
// of different sizes (StickBreaking, LowerCholesky, CorrCholesky) report the
// log-determinant with respect to the free coordinates of the output, as NumPyro
// does: the first K - 1 simplex entries, the (strictly) lower triangle.
#pragma once

#include "tyche/core/cumsum.hpp"
#include "tyche/core/elementwise.hpp"
#include "tyche/core/fma.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/linalg.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/core/tensor.hpp"
#include "tyche/core/triangular.hpp"
#include "tyche/distributions/constraints.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <type_traits>

namespace tyche::transforms {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual std::string name() const = 0;  // "ExpTransform"
  virtual constraints::Constraint domain() const = 0;
  virtual constraints::Constraint codomain() const = 0;
  virtual Tensor forward(const Tensor& x) const = 0;
  virtual Tensor inverse(const Tensor& y) const = 0;
  // log |det dy/dx| summed over the domain's event axes: shape = x's batch shape.
  virtual Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const = 0;
  virtual Shape forward_shape(const Shape& x) const { return x; }
  virtual Shape inverse_shape(const Shape& y) const { return y; }
};
using TransformPtr = std::shared_ptr<const Transform>;

namespace detail {

using tyche::detail::Access;

// softplus^-1(y) = log(exp(y) - 1) = y + log(1 - exp(-y)), without overflow for large y.
template <class T = Tensor>
Tensor softplus_inverse(const std::type_identity_t<T>& y) { return log(-expm1(-y)) + y; }

inline Shape leading(const Shape& shape, int count) { return Shape(shape.begin(), shape.end() - count); }

inline Shape with_trailing(Shape shape, std::initializer_list<std::int64_t> dims) {
  for (std::int64_t d : dims) shape.push_back(d);
  return shape;
}

// Sum over the last `count` axes (none: x itself).
template <class T = Tensor>
Tensor sum_rightmost(const std::type_identity_t<T>& x, int count) {
  if (count == 0) return x;
  std::vector<std::int64_t> dims(x.shape().begin(), x.shape().end() - count);
  dims.push_back(-1);
  return sum(x.reshape(dims), -1);
}

inline void require_vectors(const std::string& transform, const Shape& shape, const char* what) {
  if (shape.rank() < 1)
    throw ShapeError("tyche: " + transform + ": expects " + what + " in the last axis but got shape ()");
}

inline void require_square(const std::string& transform, const Shape& shape) {
  if (shape.rank() < 2 || shape[shape.rank() - 1] != shape[shape.rank() - 2])
    throw ShapeError("tyche: " + transform + ": expects square matrices in the last two axes but got shape " +
                     shape.str());
}

// The side n of the matrices whose lower triangle (strict: below the
// diagonal) has as many entries as the last axis of `shape`.
inline std::int64_t triangle_side(const std::string& transform, const Shape& shape, bool strict) {
  require_vectors(transform, shape, "vectors");
  const std::int64_t m = shape[shape.rank() - 1];
  const double root = std::sqrt(1.0 + 8.0 * double(m));
  const auto n = std::int64_t(std::llround(strict ? (1.0 + root) / 2.0 : (root - 1.0) / 2.0));
  if ((strict ? n * (n - 1) : n * (n + 1)) / 2 != m)
    throw ShapeError("tyche: " + transform + ": the last axis of shape " + shape.str() + " has length " +
                     std::to_string(m) + ", which is not " + (strict ? "n (n - 1) / 2" : "n (n + 1) / 2") +
                     " for any n");
  return n;
}

template <class = void>
Tensor eye(std::int64_t n) { return Tensor(Eigen::MatrixXd::Identity(n, n)); }

// f applied to each trailing square matrix of x (f keeps the shape).
template <class F>
Tensor map_matrices(const Tensor& x, F f) {
  if (x.ndim() == 2) return f(x);
  if (x.size() == 0) return x;  // an empty batch: nothing to map, and stack needs one part
  const std::int64_t n = x.dim(-1);
  const Tensor flat = x.reshape({-1, n, n});
  std::vector<Tensor> out;
  for (std::int64_t b = 0; b < flat.dim(0); ++b) out.push_back(f(flat[b]));
  return stack(out).reshape(x.shape());
}

// "2" for a single value; "-1 (element 3 of an array of shape (4,))" otherwise.
inline std::string describe(const Tensor& t, std::int64_t element = 0) {
  std::ostringstream s;
  s << Access::values_unguarded(t)[element];  // printing
  if (t.size() > 1) s << " (element " << element << " of an array of shape " << t.shape().str() << ")";
  return s.str();
}

}  // namespace detail

template <class = void>
class IdentityTransformT : public Transform {
 public:
  std::string name() const override { return "IdentityTransform"; }
  constraints::Constraint domain() const override { return constraints::real; }
  constraints::Constraint codomain() const override { return constraints::real; }
  Tensor forward(const Tensor& x) const override { return x; }
  Tensor inverse(const Tensor& y) const override { return y; }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override { return Tensor::zeros(x.shape()); }
};
using IdentityTransform = IdentityTransformT<>;

// y = exp(x): real -> positive.
template <class = void>
class ExpTransformT : public Transform {
 public:
  std::string name() const override { return "ExpTransform"; }
  constraints::Constraint domain() const override { return constraints::real; }
  constraints::Constraint codomain() const override { return constraints::positive; }
  Tensor forward(const Tensor& x) const override { return exp(x); }
  Tensor inverse(const Tensor& y) const override { return log(y); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override { return x; }
};
using ExpTransform = ExpTransformT<>;

// y = sigmoid(x): real -> unit interval. As NumPyro, y is clipped to
// [tiny, 1 - eps] so that it never reaches 0 or 1, where logit is infinite.
template <class = void>
class SigmoidTransformT : public Transform {
 public:
  std::string name() const override { return "SigmoidTransform"; }
  constraints::Constraint domain() const override { return constraints::real; }
  constraints::Constraint codomain() const override { return constraints::unit_interval; }
  Tensor forward(const Tensor& x) const override {
    return clamp(sigmoid(x), std::numeric_limits<double>::min(), 1.0 - std::numeric_limits<double>::epsilon());
  }
  Tensor inverse(const Tensor& y) const override { return logit(y); }
  // log sigmoid'(x) = log sigmoid(x) + log sigmoid(-x), finite for every x.
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override {
    return -(softplus(x) + softplus(-x));
  }
};
using SigmoidTransform = SigmoidTransformT<>;

// y = log(1 + exp(x)): real -> positive (softplus_positive, as NumPyro, the
// set biject_to maps this way).
template <class = void>
class SoftplusTransformT : public Transform {
 public:
  std::string name() const override { return "SoftplusTransform"; }
  constraints::Constraint domain() const override { return constraints::real; }
  constraints::Constraint codomain() const override { return constraints::softplus_positive; }
  Tensor forward(const Tensor& x) const override { return softplus(x); }
  Tensor inverse(const Tensor& y) const override { return detail::softplus_inverse(y); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override { return -softplus(-x); }
};
using SoftplusTransform = SoftplusTransformT<>;

// y = loc + scale * x, with loc and scale broadcasting against x. The domain is
// the reals (event_dim trailing axes per element: the log-determinant sums over
// them), or a half-line or interval, which gives the codomain its bounds: that
// is how biject_to reports greater_than(a) for exp followed by x -> a + x.
template <class = void>
class AffineTransformT : public Transform {
 public:
  AffineTransformT(Tensor loc, Tensor scale, int event_dim = 0)
      : AffineTransformT(std::move(loc), std::move(scale), constraints::real.independent(event_dim)) {}

  AffineTransformT(Tensor loc, Tensor scale, constraints::Constraint domain)
      : loc_(std::move(loc)), scale_(std::move(scale)), domain_(std::move(domain)) {
    using constraints::Kind;
    if (domain_.event_dim() < 0)
      throw std::invalid_argument("tyche: AffineTransform: event_dim must be nonnegative, got " +
                                  std::to_string(domain_.event_dim()));
    const Kind kind = domain_.kind();
    if (kind != Kind::real && kind != Kind::positive && kind != Kind::softplus_positive &&
        kind != Kind::greater_than && kind != Kind::less_than && kind != Kind::unit_interval &&
        kind != Kind::interval)
      throw std::invalid_argument("tyche: AffineTransform: the domain must be the reals, a half-line or an interval, got " +
                                  domain_.str());
    // The sign of the scale decides the codomain, frozen when recorded: a
    // replay assumes the scale keeps its sign (a parameter scale is a
    // positive one in practice, through exp or softplus).
    const double* s = detail::Access::values_unguarded(scale_);
    bool positive = true, negative = true;
    for (std::int64_t i = 0; i < scale_.size(); ++i) {
      if (!std::isfinite(s[i]) || s[i] == 0.0)
        throw std::invalid_argument("tyche: AffineTransform: scale must be finite and nonzero, got " +
                                    detail::describe(scale_, i));
      positive = positive && s[i] > 0.0;
      negative = negative && s[i] < 0.0;
    }
    if (kind != Kind::real && !positive && !negative)
      throw std::invalid_argument("tyche: AffineTransform: scale must have one sign to map " + domain_.str() +
                                  " onto a set of the same kind, got values of both signs in an array of shape " +
                                  scale_.shape().str());
    flips_ = kind != Kind::real && negative;
  }

  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

  std::string name() const override { return "AffineTransform"; }
  constraints::Constraint domain() const override { return domain_; }
  constraints::Constraint codomain() const override {
    namespace c = constraints;
    const auto image = [&](const Tensor& bound) { return fma(scale_, bound, loc_); };
    const auto half_line = [&](const Tensor& bound, bool upward) {
      return upward != flips_ ? c::greater_than(bound) : c::less_than(bound);
    };
    c::Constraint base = c::real;
    switch (domain_.kind()) {
      case c::Kind::positive:
      case c::Kind::softplus_positive: base = half_line(loc_, true); break;
      case c::Kind::greater_than: base = half_line(image(domain_.lower()), true); break;
      case c::Kind::less_than: base = half_line(image(domain_.upper()), false); break;
      case c::Kind::unit_interval:
      case c::Kind::interval: {
        const Tensor a = image(domain_.lower()), b = image(domain_.upper());
        base = flips_ ? c::interval(b, a) : c::interval(a, b);
        break;
      }
      default: break;
    }
    return base.independent(domain_.event_dim());
  }
  Tensor forward(const Tensor& x) const override { return fma(scale_, x, loc_); }
  Tensor inverse(const Tensor& y) const override { return (y - loc_) / scale_; }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override {
    const Tensor log_scale = log(abs(scale_));
    const Shape shape = forward_shape(x.shape());
    return detail::sum_rightmost(log_scale.shape() == shape ? log_scale : broadcast_to(log_scale, shape),
                                 domain_.event_dim());
  }
  Shape forward_shape(const Shape& x) const override {
    return broadcast_shapes(broadcast_shapes(x, loc_.shape(), "AffineTransform"), scale_.shape(), "AffineTransform");
  }
  Shape inverse_shape(const Shape& y) const override { return forward_shape(y); }

 private:
  Tensor loc_, scale_;
  constraints::Constraint domain_;
  bool flips_ = false;  // a negative scale swaps the ends of a half-line or interval
};
using AffineTransform = AffineTransformT<>;

// R^(K-1) -> the K-simplex: y_i = z_i (1 - z_0) ... (1 - z_(i-1)) with
// z_i = sigmoid(x_i - log(K - 1 - i)), so that x = 0 maps to the uniform point;
// the last entry takes the rest of the stick. Computed in log space, so no
// entry rounds to 0 or 1 before it must.
template <class = void>
class StickBreakingTransformT : public Transform {
 public:
  std::string name() const override { return "StickBreakingTransform"; }
  constraints::Constraint domain() const override { return constraints::real_vector; }
  constraints::Constraint codomain() const override { return constraints::simplex; }
  Tensor forward(const Tensor& x) const override {
    forward_shape(x.shape());
    const Tensor shifted = x - offsets(x.dim(-1));
    const Tensor zero = Tensor::zeros(detail::with_trailing(detail::leading(x.shape(), 1), {1}));
    // log y_i = log z_i + sum_(j < i) log(1 - z_j), and log(1 - z) = log sigmoid(-x).
    const Tensor log_y = concatenate({log_sigmoid(shifted), zero}, -1) +
                         concatenate({zero, cumsum(log_sigmoid(-shifted))}, -1);
    return exp(log_y);
  }
  // logit z_i = log(y_i / (y_(i+1) + ... + y_(K-1))): the tail sums avoid the
  // cancellation in 1 - (y_0 + ... + y_i) when the remaining stick is short.
  Tensor inverse(const Tensor& y) const override {
    inverse_shape(y.shape());
    const std::int64_t k = y.dim(-1);
    const Tensor rest = slice(cumsum(y, -1, true), -1, 1, k);
    return log(slice(y, -1, 0, k - 1)) - log(rest) + offsets(k - 1);
  }
  // The Jacobian of the first K - 1 outputs is triangular with diagonal
  // z_i (1 - z_i) (1 - z_0) ... (1 - z_(i-1)); in log space from x alone.
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override {
    forward_shape(x.shape());
    const Tensor shifted = x - offsets(x.dim(-1));
    return sum(log_sigmoid(shifted) + cumsum(log_sigmoid(-shifted)), -1);
  }
  Shape forward_shape(const Shape& x) const override {
    detail::require_vectors(name(), x, "vectors");
    return detail::with_trailing(detail::leading(x, 1), {x[x.rank() - 1] + 1});
  }
  Shape inverse_shape(const Shape& y) const override {
    detail::require_vectors(name(), y, "simplexes");
    if (y[y.rank() - 1] < 1)
      throw ShapeError("tyche: " + name() + ": a simplex needs at least one entry but got shape " + y.str());
    return detail::with_trailing(detail::leading(y, 1), {y[y.rank() - 1] - 1});
  }

 private:
  // log(K - 1 - i) for i < K - 1 = n.
  static Tensor offsets(std::int64_t n) {
    std::vector<double> v(static_cast<std::size_t>(n), 0.0);
    for (std::int64_t i = 0; i < n; ++i) v[std::size_t(i)] = std::log(double(n - i));
    return Tensor(v);
  }
};
using StickBreakingTransform = StickBreakingTransformT<>;

// R^K -> increasing vectors: y_0 = x_0, y_i = y_(i-1) + exp(x_i).
template <class = void>
class OrderedTransformT : public Transform {
 public:
  std::string name() const override { return "OrderedTransform"; }
  constraints::Constraint domain() const override { return constraints::real_vector; }
  constraints::Constraint codomain() const override { return constraints::ordered_vector; }
  Tensor forward(const Tensor& x) const override {
    detail::require_vectors(name(), x.shape(), "vectors");
    const std::int64_t k = x.dim(-1);
    return cumsum(concatenate({slice(x, -1, 0, 1), exp(slice(x, -1, 1, k))}, -1));
  }
  Tensor inverse(const Tensor& y) const override {
    detail::require_vectors(name(), y.shape(), "ordered vectors");
    const std::int64_t k = y.dim(-1);
    return concatenate({slice(y, -1, 0, 1), log(slice(y, -1, 1, k) - slice(y, -1, 0, k - 1))}, -1);
  }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override {
    detail::require_vectors(name(), x.shape(), "vectors");
    return sum(slice(x, -1, 1, x.dim(-1)), -1);
  }
};
using OrderedTransform = OrderedTransformT<>;

// R^(n(n+1)/2) -> lower-triangular n x n matrices with positive diagonal: the
// first n(n-1)/2 entries fill the strictly lower triangle row by row, the last
// n are the logs of the diagonal (NumPyro's order).
template <class = void>
class LowerCholeskyTransformT : public Transform {
 public:
  std::string name() const override { return "LowerCholeskyTransform"; }
  constraints::Constraint domain() const override { return constraints::real_vector; }
  constraints::Constraint codomain() const override { return constraints::lower_cholesky; }
  Tensor forward(const Tensor& x) const override {
    const std::int64_t n = detail::triangle_side(name(), x.shape(), false), m = x.dim(-1);
    return vec_to_tril(slice(x, -1, 0, m - n), -1) + diag_embed(exp(slice(x, -1, m - n, m)));
  }
  Tensor inverse(const Tensor& y) const override {
    detail::require_square(name(), y.shape());
    return concatenate({tril_to_vec(y, -1), log(matrix_diagonal(y))}, -1);
  }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override {
    const std::int64_t n = detail::triangle_side(name(), x.shape(), false), m = x.dim(-1);
    return sum(slice(x, -1, m - n, m), -1);
  }
  Shape forward_shape(const Shape& x) const override {
    const std::int64_t n = detail::triangle_side(name(), x, false);
    return detail::with_trailing(detail::leading(x, 1), {n, n});
  }
  Shape inverse_shape(const Shape& y) const override {
    detail::require_square(name(), y);
    const std::int64_t n = y[y.rank() - 1];
    return detail::with_trailing(detail::leading(y, 2), {n * (n + 1) / 2});
  }
};
using LowerCholeskyTransform = LowerCholeskyTransformT<>;

namespace detail {

// The last n entries of x (the diagonal's coordinates) and the rest.
template <class T = Tensor>
Tensor diagonal_part(const std::type_identity_t<T>& x, std::int64_t n) { return slice(x, -1, x.dim(-1) - n, x.dim(-1)); }
template <class T = Tensor>
Tensor strict_part(const std::type_identity_t<T>& x, std::int64_t n) { return slice(x, -1, 0, x.dim(-1) - n); }
// (..., n) -> (..., n, 1): each entry scales a row.
template <class T = Tensor>
Tensor as_column(const std::type_identity_t<T>& d) {
  std::vector<std::int64_t> dims(d.shape().begin(), d.shape().end());
  dims.push_back(1);
  return d.reshape(dims);
}

}  // namespace detail

// As LowerCholeskyTransform with softplus in place of exp on the diagonal
// (NumPyro's SoftplusLowerCholeskyTransform): R^(n(n+1)/2) -> lower
// triangular matrices with positive diagonal.
template <class = void>
class SoftplusLowerCholeskyTransformT : public Transform {
 public:
  std::string name() const override { return "SoftplusLowerCholeskyTransform"; }
  constraints::Constraint domain() const override { return constraints::real_vector; }
  constraints::Constraint codomain() const override { return constraints::softplus_lower_cholesky; }
  Tensor forward(const Tensor& x) const override {
    const std::int64_t n = detail::triangle_side(name(), x.shape(), false);
    return vec_to_tril(detail::strict_part(x, n), -1) + diag_embed(softplus(detail::diagonal_part(x, n)));
  }
  Tensor inverse(const Tensor& y) const override {
    detail::require_square(name(), y.shape());
    return concatenate({tril_to_vec(y, -1), detail::softplus_inverse(matrix_diagonal(y))}, -1);
  }
  // Only the diagonal moves nonlinearly: log softplus'(x) = -softplus(-x).
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override {
    const std::int64_t n = detail::triangle_side(name(), x.shape(), false);
    return -sum(softplus(-detail::diagonal_part(x, n)), -1);
  }
  Shape forward_shape(const Shape& x) const override { return LowerCholeskyTransformT<>().forward_shape(x); }
  Shape inverse_shape(const Shape& y) const override { return LowerCholeskyTransformT<>().inverse_shape(y); }
};
using SoftplusLowerCholeskyTransform = SoftplusLowerCholeskyTransformT<>;

// R^(n(n+1)/2) -> lower triangular matrices with positive diagonal, as
// L = D (U + I): the first n(n-1)/2 entries fill the strictly lower triangle
// U of a unit lower triangular matrix, the last n give D = diag(softplus(.)),
// which scales its rows (NumPyro's ScaledUnitLowerCholeskyTransform, what
// AutoMultivariateNormal's scale_tril lives in: the scales and the
// correlations move separately).
template <class = void>
class ScaledUnitLowerCholeskyTransformT : public Transform {
 public:
  std::string name() const override { return "ScaledUnitLowerCholeskyTransform"; }
  constraints::Constraint domain() const override { return constraints::real_vector; }
  constraints::Constraint codomain() const override { return constraints::scaled_unit_lower_cholesky; }
  Tensor forward(const Tensor& x) const override {
    const std::int64_t n = detail::triangle_side(name(), x.shape(), false);
    const Tensor unit = vec_to_tril(detail::strict_part(x, n), -1) + detail::eye(n);
    return unit * detail::as_column(softplus(detail::diagonal_part(x, n)));
  }
  Tensor inverse(const Tensor& y) const override {
    detail::require_square(name(), y.shape());
    const Tensor d = matrix_diagonal(y);
    return concatenate({tril_to_vec(y / detail::as_column(d), -1), detail::softplus_inverse(d)}, -1);
  }
  // Row i holds i free entries, each scaled by d_i, and d_i = softplus(x_i):
  // log |det J| = sum_i i log d_i - softplus(-x_i).
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override {
    const std::int64_t n = detail::triangle_side(name(), x.shape(), false);
    return sum(log(matrix_diagonal(y)) * Tensor::arange(n) - softplus(-detail::diagonal_part(x, n)), -1);
  }
  Shape forward_shape(const Shape& x) const override { return LowerCholeskyTransformT<>().forward_shape(x); }
  Shape inverse_shape(const Shape& y) const override { return LowerCholeskyTransformT<>().inverse_shape(y); }
};
using ScaledUnitLowerCholeskyTransform = ScaledUnitLowerCholeskyTransformT<>;

// R^(n(n-1)/2) -> Cholesky factors of n x n correlation matrices (lower
// triangular, positive diagonal, rows of unit length). The entries, through
// tanh into (-1, 1), fill the strictly lower triangle row by row as r; row i
// then breaks a stick of squared length 1: y_ij = r_ij sqrt((1 - r_i0^2) ...
// (1 - r_i(j-1)^2)) and the diagonal takes what is left.
template <class = void>
class CorrCholeskyTransformT : public Transform {
 public:
  std::string name() const override { return "CorrCholeskyTransform"; }
  constraints::Constraint domain() const override { return constraints::real_vector; }
  constraints::Constraint codomain() const override { return constraints::corr_cholesky; }
  Tensor forward(const Tensor& x) const override {
    const std::int64_t n = detail::triangle_side(name(), x.shape(), true);
    const Tensor r = vec_to_tril(bounded_tanh(x), -1);
    return (r + detail::eye(n)) * exp(log_remaining(r));
  }
  // r_ij = y_ij / sqrt(y_ij^2 + ... + y_ii^2): the squared stick left at j is
  // the tail of the row's squares, which keeps precision when it is short.
  Tensor inverse(const Tensor& y) const override {
    detail::require_square(name(), y.shape());
    const Tensor r = tril_to_vec(y, -1) / sqrt(tril_to_vec(cumsum(square(y), -1, true), -1));
    return 0.5 * (log1p(r) - log1p(-r));  // atanh
  }
  // The stick-breaking Jacobian is triangular in each row, with diagonal the
  // remaining length sqrt((1 - r_i0^2) ... (1 - r_i(j-1)^2)); tanh adds
  // log(1 - tanh(x)^2) = 2 (log 2 - x - softplus(-2x)). Both from x, in log space.
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor&) const override {
    detail::triangle_side(name(), x.shape(), true);
    const Tensor stick = sum(tril_to_vec(log_remaining(vec_to_tril(bounded_tanh(x), -1)), -1), -1);
    const Tensor tanh_term = sum(std::numbers::ln2 - x - softplus(-2.0 * x), -1) * 2.0;
    return stick + tanh_term;
  }
  Shape forward_shape(const Shape& x) const override {
    const std::int64_t n = detail::triangle_side(name(), x, true);
    return detail::with_trailing(detail::leading(x, 1), {n, n});
  }
  Shape inverse_shape(const Shape& y) const override {
    detail::require_square(name(), y);
    const std::int64_t n = y[y.rank() - 1];
    return detail::with_trailing(detail::leading(y, 2), {n * (n - 1) / 2});
  }

 private:
  // As NumPyro: |r| <= 1 - eps, so that every row keeps a positive diagonal.
  static Tensor bounded_tanh(const Tensor& x) {
    const double bound = 1.0 - std::numeric_limits<double>::epsilon();
    return clamp(tanh(x), -bound, bound);
  }
  // log sqrt((1 - r_i0^2) ... (1 - r_i(j-1)^2)) at (i, j): an exclusive running
  // sum along each row of log sqrt(1 - r^2) (0 where r is 0).
  static Tensor log_remaining(const Tensor& r) {
    const Tensor half_log = 0.5 * log1p(-square(r));
    return cumsum(half_log) - half_log;
  }
};
using CorrCholeskyTransform = CorrCholeskyTransformT<>;

// Positive-definite matrices -> their lower Cholesky factors, x = y y^T. Used
// inverted (with InverseTransform) to reach positive-definite matrices.
template <class = void>
class CholeskyTransformT : public Transform {
 public:
  std::string name() const override { return "CholeskyTransform"; }
  constraints::Constraint domain() const override { return constraints::positive_definite; }
  constraints::Constraint codomain() const override { return constraints::lower_cholesky; }
  Tensor forward(const Tensor& x) const override {
    detail::require_square(name(), x.shape());
    return detail::map_matrices(x, [](const Tensor& m) { return cholesky(m); });
  }
  Tensor inverse(const Tensor& y) const override {
    detail::require_square(name(), y.shape());
    return detail::map_matrices(y, [](const Tensor& l) { return matmul(l, transpose(l)); });
  }
  // With respect to the lower triangle of x: d(y y^T) has determinant
  // 2^n prod_i y_ii^(n - i), so this map has its negative log.
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override {
    detail::require_square(name(), x.shape());
    const std::int64_t n = x.dim(-1);
    std::vector<double> powers(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) powers[std::size_t(i)] = double(n - i);
    return -(sum(Tensor(powers) * log(matrix_diagonal(y)), -1) + double(n) * std::numbers::ln2);
  }
};
using CholeskyTransform = CholeskyTransformT<>;

// The inverse of a transform: forward and inverse swapped, log-determinant negated.
template <class = void>
class InverseTransformT : public Transform {
 public:
  explicit InverseTransformT(TransformPtr base) : base_(std::move(base)) {
    if (!base_) throw std::invalid_argument("tyche: InverseTransform: the transform to invert is null");
  }
  const TransformPtr& base() const { return base_; }
  std::string name() const override { return "InverseTransform"; }
  constraints::Constraint domain() const override { return base_->codomain(); }
  constraints::Constraint codomain() const override { return base_->domain(); }
  Tensor forward(const Tensor& x) const override { return base_->inverse(x); }
  Tensor inverse(const Tensor& y) const override { return base_->forward(y); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override {
    return -base_->log_abs_det_jacobian(y, x);
  }
  Shape forward_shape(const Shape& x) const override { return base_->inverse_shape(x); }
  Shape inverse_shape(const Shape& y) const override { return base_->forward_shape(y); }

 private:
  TransformPtr base_;
};
using InverseTransform = InverseTransformT<>;

template <class = void>
TransformPtr inv(TransformPtr t) { return std::make_shared<InverseTransform>(std::move(t)); }

// parts[0], then parts[1], ...: the log-determinant adds each part's at its
// own input, summed over the axes that are event axes of the whole but batch
// axes of the part (exp, elementwise, inside a vector-valued chain).
template <class = void>
class ComposeTransformT : public Transform {
 public:
  explicit ComposeTransformT(std::vector<TransformPtr> parts) : parts_(std::move(parts)) {
    if (parts_.empty()) throw std::invalid_argument("tyche: ComposeTransform: needs at least one transform");
    for (std::size_t i = 0; i < parts_.size(); ++i)
      if (!parts_[i])
        throw std::invalid_argument("tyche: ComposeTransform: transform " + std::to_string(i) + " is null");
    // Event axes at the input: walk back from the output, each part keeping
    // the axes beyond its own codomain's as extra event axes.
    input_event_dim_ = parts_.back()->codomain().event_dim();
    for (auto part = parts_.rbegin(); part != parts_.rend(); ++part)
      input_event_dim_ =
          (*part)->domain().event_dim() + std::max(input_event_dim_ - (*part)->codomain().event_dim(), 0);
    output_event_dim_ = parts_.front()->domain().event_dim();
    for (const TransformPtr& part : parts_)
      output_event_dim_ = part->codomain().event_dim() + std::max(output_event_dim_ - part->domain().event_dim(), 0);
  }
  const std::vector<TransformPtr>& parts() const { return parts_; }

  std::string name() const override { return "ComposeTransform"; }
  constraints::Constraint domain() const override {
    const constraints::Constraint first = parts_.front()->domain();
    return first.independent(input_event_dim_ - first.event_dim());
  }
  constraints::Constraint codomain() const override {
    const constraints::Constraint last = parts_.back()->codomain();
    return last.independent(output_event_dim_ - last.event_dim());
  }
  Tensor forward(const Tensor& x) const override {
    Tensor y = x;
    for (const TransformPtr& part : parts_) y = part->forward(y);
    return y;
  }
  Tensor inverse(const Tensor& y) const override {
    Tensor x = y;
    for (auto part = parts_.rbegin(); part != parts_.rend(); ++part) x = (*part)->inverse(x);
    return x;
  }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override {
    Tensor total, input = x;
    int event_dim = input_event_dim_;
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      const Transform& part = *parts_[i];
      const Tensor output = i + 1 == parts_.size() ? y : part.forward(input);
      const int batch_dims = event_dim - part.domain().event_dim();
      const Tensor term = detail::sum_rightmost(part.log_abs_det_jacobian(input, output), batch_dims);
      total = i == 0 ? term : total + term;
      event_dim = part.codomain().event_dim() + batch_dims;
      input = output;
    }
    return total;
  }
  Shape forward_shape(const Shape& x) const override {
    Shape s = x;
    for (const TransformPtr& part : parts_) s = part->forward_shape(s);
    return s;
  }
  Shape inverse_shape(const Shape& y) const override {
    Shape s = y;
    for (auto part = parts_.rbegin(); part != parts_.rend(); ++part) s = (*part)->inverse_shape(s);
    return s;
  }

 private:
  std::vector<TransformPtr> parts_;
  int input_event_dim_ = 0, output_event_dim_ = 0;
};
using ComposeTransform = ComposeTransformT<>;

// A transform whose log-determinant is also summed over `reinterpreted_batch_ndims`
// more trailing axes: those axes become part of one element.
template <class = void>
class IndependentTransformT : public Transform {
 public:
  IndependentTransformT(TransformPtr base, int reinterpreted_batch_ndims)
      : base_(std::move(base)), ndims_(reinterpreted_batch_ndims) {
    if (!base_) throw std::invalid_argument("tyche: IndependentTransform: the base transform is null");
    if (ndims_ < 0)
      throw std::invalid_argument("tyche: IndependentTransform: reinterpreted_batch_ndims must be nonnegative, got " +
                                  std::to_string(ndims_));
  }
  const TransformPtr& base() const { return base_; }
  int reinterpreted_batch_ndims() const { return ndims_; }

  std::string name() const override { return "IndependentTransform"; }
  constraints::Constraint domain() const override { return base_->domain().independent(ndims_); }
  constraints::Constraint codomain() const override { return base_->codomain().independent(ndims_); }
  Tensor forward(const Tensor& x) const override { return base_->forward(x); }
  Tensor inverse(const Tensor& y) const override { return base_->inverse(y); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override {
    const Tensor base = base_->log_abs_det_jacobian(x, y);
    if (base.ndim() < ndims_)
      throw ShapeError("tyche: IndependentTransform: expects values with at least " +
                       std::to_string(domain().event_dim()) + " axes but got shape " + x.shape().str());
    return detail::sum_rightmost(base, ndims_);
  }
  Shape forward_shape(const Shape& x) const override { return base_->forward_shape(x); }
  Shape inverse_shape(const Shape& y) const override { return base_->inverse_shape(y); }

 private:
  TransformPtr base_;
  int ndims_;
};
using IndependentTransform = IndependentTransformT<>;

}  // namespace tyche::transforms
