// Multivariate distributions: MultivariateNormal, Dirichlet, LKJCholesky.
//
// MultivariateNormal takes its location and exactly one of NumPyro's three
// matrix keywords, written with a designated initializer; leading axes of the
// location and of the matrix are batch axes and broadcast together:
//
//   namespace dist = tyche::dist;
//   tyche::Tensor S{{2.0, 0.5}, {0.5, 1.0}};
//   dist::MultivariateNormal a(tyche::Tensor{0.0, 1.0}, {.covariance_matrix = S});
//   dist::MultivariateNormal b(0.0, {.scale_tril = tyche::cholesky(S)});   // loc broadcasts
//   tyche::Tensor x = a.expand({5}).sample(tyche::PRNGKey(0));            // shape (5, 2)
//   tyche::Tensor lp = a.log_prob(x);                                      // shape (5,)
//   dist::Dirichlet d(tyche::Tensor{1.0, 2.0, 3.0});                       // event shape (3,)
//   dist::LKJCholesky c(3, 2.0);                                           // event shape (3, 3)
//
// Draws of Dirichlet and LKJCholesky are differentiable in the concentration
// (implicit reparameterisation of their Gamma and Beta draws, as NumPyro's;
// see random.hpp), so either can be a guide's distribution in SVI.
#pragma once

#include "tyche/core/linalg.hpp"
#include "tyche/core/xlogy.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/random.hpp"

#include <Eigen/Cholesky>
#include <cmath>
#include <numbers>
#include <optional>
#include <sstream>
#include <string>
#include <vector>
#include <type_traits>

namespace tyche::dist {

struct MultivariateNormalArgs {
  std::optional<Tensor> covariance_matrix = std::nullopt;
  std::optional<Tensor> precision_matrix = std::nullopt;
  std::optional<Tensor> scale_tril = std::nullopt;  // lower triangular, positive diagonal
};

namespace detail {

inline Shape with_axes(Shape shape, std::initializer_list<std::int64_t> trailing) {
  for (std::int64_t d : trailing) shape.push_back(d);
  return shape;
}
inline Shape batch_part(const Shape& shape, int trailing_axes) {
  return Shape(shape.begin(), shape.end() - std::min(trailing_axes, shape.rank()));
}

template <class = void>
Tensor identity_matrix(std::int64_t n) { return Tensor(Eigen::MatrixXd::Identity(n, n)); }

// The diagonals of a stack of square matrices (..., n, n) -> (..., n); a
// select, so that non-finite entries off the diagonal do not leak into it.
template <class T = Tensor>
Tensor diagonals(const std::type_identity_t<T>& m) { return sum(where(identity_matrix(m.dim(-1)), m, 0.0), -1); }

// Throws unless each matrix of a stack (..., n, n) satisfies `ok`, naming the
// distribution, the parameter, the requirement and the first bad matrix.
template <class Predicate>
void require_matrices(const char* distribution, const char* parameter, const Tensor& m, const char* requirement,
                      Predicate ok) {
  if (m.ndim() < 2 || m.dim(-1) != m.dim(-2) || m.dim(-1) == 0)
    throw ShapeError(std::string("tyche: ") + distribution + ": " + parameter +
                     " must be a non-empty square matrix (or a stack of them), got shape " + m.shape().str());
  const std::int64_t n = m.dim(-1), count = m.size() / (n * n);
  for (std::int64_t q = 0; q < count; ++q) {
    // Validation only, as require_each.
    const Eigen::Map<const RowMatrixXd> matrix(Access::values_unguarded(m) + q * n * n, n, n);
    if (ok(matrix)) continue;
    const Eigen::IOFormat numpy(Eigen::StreamPrecision, Eigen::DontAlignCols, ", ", ", ", "[", "]", "[", "]");
    std::ostringstream message;
    message << "tyche: " << distribution << ": " << parameter << " must be " << requirement << ", got "
            << matrix.format(numpy);
    if (count > 1) message << " (matrix " << q << " of a stack of shape " << m.shape().str() << ")";
    throw std::invalid_argument(message.str());
  }
}

// LKJCholesky's onion assembly of stacked n x n factors L from the Beta draws
// y (one per row below the first) and the normals z (r per row r): row r > 0
// is sqrt(y_r) z_r / |z_r| in its first r entries and sqrt(1 - y_r) on the
// diagonal. A node, so that gradients reach y (and the concentration behind
// it): dL_rc / dy_r = L_rc / (2 y_r) for c < r, dL_rr / dy_r = -1 / (2 L_rr).
// z is data: its rows' squared norms, L's zeros above the diagonal and
// L_00 = 1 are set once, when the node is made; a replay writes the rest.
struct OnionNode : tyche::detail::Node {
  const double* y;
  double* gy;
  const double* z;
  const double* squared_norms;  // |z_r|^2, n - 1 per matrix
  const double* l;
  const double* gl;
  std::int64_t matrices, n;
};

template <class = void>
void onion_forward(const tyche::detail::Node& base) {
  const auto& node = static_cast<const OnionNode&>(base);
  const std::int64_t n = node.n;
  double* out = const_cast<double*>(node.l);
  for (std::int64_t m = 0; m < node.matrices; ++m) {
    double* l = out + m * n * n;
    const double* ym = node.y + m * (n - 1);
    const double* zm = node.z + m * n * (n - 1) / 2;
    const double* squared_norms = node.squared_norms + m * (n - 1);
    for (std::int64_t r = 1; r < n; ++r) {
      const double* u = zm + r * (r - 1) / 2;
      const double radius = std::sqrt(ym[r - 1] / squared_norms[r - 1]);
      for (std::int64_t c = 0; c < r; ++c) l[r * n + c] = u[c] * radius;
      l[r * n + r] = std::sqrt(1.0 - ym[r - 1]);
    }
  }
}

template <class = void>
void onion_backward(const tyche::detail::Node& base) {
  const auto& node = static_cast<const OnionNode&>(base);
  const std::int64_t n = node.n;
  for (std::int64_t m = 0; m < node.matrices; ++m) {
    const double *l = node.l + m * n * n, *gl = node.gl + m * n * n;
    for (std::int64_t r = 1; r < n; ++r) {
      const double y = node.y[m * (n - 1) + r - 1];
      double g = 0.0;
      // The derivatives are infinite at y = 0 and y = 1, which draws reach only by rounding.
      if (y > 0.0)
        for (std::int64_t c = 0; c < r; ++c) g += gl[r * n + c] * l[r * n + c] / (2.0 * y);
      if (l[r * n + r] > 0.0) g -= gl[r * n + r] / (2.0 * l[r * n + r]);
      node.gy[m * (n - 1) + r - 1] += g;
    }
  }
}

template <class T = Tensor>
Tensor onion(const std::type_identity_t<T>& y, const Tensor& z, const Shape& shape) {
  namespace core = tyche::detail;
  core::Tape& tape = core::this_thread_tape();
  const bool grad = core::needs_grad(tape, y);
  Tensor l = core::Access::result(shape, grad);
  OnionNode local;
  auto& node = tape.node_for(grad, local, &onion_forward<>, &onion_backward<>,
                             {core::Access::operand(y), core::Access::operand(z)}, {core::Access::operand(l)});
  node.y = core::Access::data(y);
  node.gy = core::Access::grad(y);
  node.z = core::Access::data(z);
  node.l = core::Access::data(l);
  node.gl = core::Access::grad(l);
  const std::int64_t n = shape[shape.rank() - 1];
  node.n = n;
  node.matrices = shape.numel() / (n * n);
  // The constant parts (see OnionNode); the buffer must outlive the node's runs.
  Tensor squared_norms = core::Access::result(Shape{node.matrices * (n - 1)}, false);
  double* sq = core::Access::data(squared_norms);
  double* out = core::Access::data(l);
  std::fill(out, out + shape.numel(), 0.0);
  for (std::int64_t m = 0; m < node.matrices; ++m) {
    out[m * n * n] = 1.0;
    const double* zm = core::Access::values_unguarded(z) + m * n * (n - 1) / 2;  // z is data
    for (std::int64_t r = 1; r < n; ++r) {
      const double* u = zm + r * (r - 1) / 2;
      double norm = 0.0;
      for (std::int64_t c = 0; c < r; ++c) norm += u[c] * u[c];
      sq[m * (n - 1) + r - 1] = norm;
    }
  }
  node.squared_norms = sq;
  onion_forward<>(node);
  return l;
}

template <class Matrix>
bool positive_definite(const Matrix& m) {
  return m.allFinite() && m.isApprox(m.transpose(), 1e-6) && Eigen::LLT<Eigen::MatrixXd>(m).info() == Eigen::Success;
}

// f applied to each matrix of a stack (..., n, n), results stacked in its place.
template <class F>
Tensor map_matrices(const Tensor& m, F f) {
  const std::int64_t n = m.dim(-1);
  const Tensor flat = m.reshape({-1, n, n});
  if (flat.dim(0) == 1) return f(flat[0]).reshape(m.shape());
  std::vector<Tensor> parts;
  for (std::int64_t q = 0; q < flat.dim(0); ++q) parts.push_back(f(flat[q]));
  return stack(parts).reshape(m.shape());
}

// J a^T J with J the reversal permutation.
template <class T = Tensor>
Tensor flip_transpose(const std::type_identity_t<T>& a) {
  std::vector<std::int64_t> reversed;
  for (std::int64_t i = a.dim(0) - 1; i >= 0; --i) reversed.push_back(i);
  return take(transpose(take(a, reversed)), reversed);
}

// The lower Cholesky factor of P^-1 without inverting P: with J P J = K K^T,
// P = U U^T for the upper triangular U = J K J, so P^-1 = L L^T with
// L = (U^T)^-1 = (J K^T J)^-1 (NumPyro's cholesky_of_inverse).
template <class T = Tensor>
Tensor cholesky_of_inverse(const std::type_identity_t<T>& precision) {
  const Tensor u_transpose = flip_transpose(cholesky(flip_transpose(precision)));
  return solve_triangular(u_transpose, identity_matrix(precision.dim(0)));
}

// For rows (batch + (n,)) and matrices (batch' + (n, n)), batch' broadcasting
// to the trailing axes of batch: f(matrix, rows of that matrix as (p, n)) for
// each matrix, the results (p, ...) placed side by side as (p, matrices, ...)
// (or (p, ...) for one matrix), which reshape to batch + (...).
template <class F>
Tensor per_matrix(const Tensor& matrices, const Tensor& rows, const Shape& batch, F f) {
  const std::int64_t n = matrices.dim(-1);
  const Shape own(batch.end() - (matrices.ndim() - 2), batch.end());
  const Tensor stack_of = broadcast_to_shape(matrices, with_axes(own, {n, n})).reshape({-1, n, n});
  const std::int64_t count = own.numel(), per = count == 0 ? 0 : batch.numel() / count;
  const Tensor grouped = broadcast_to_shape(rows, with_axes(batch, {n})).reshape({per, count, n});
  if (count == 1) return f(stack_of[0], grouped.reshape({per, n}));
  std::vector<Tensor> parts;
  for (std::int64_t q = 0; q < count; ++q) parts.push_back(f(stack_of[q], slice(grouped, 1, q, q + 1).reshape({per, n})));
  return stack(parts, 1);
}

}  // namespace detail

// Batch shape: loc's leading axes broadcast with the matrix's; event shape (n,).
// A location of shape () or (..., 1) is repeated along the event axis.
template <class = void>
class MultivariateNormalT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<MultivariateNormalT>(*this); }
  MultivariateNormalT(Tensor loc, const MultivariateNormalArgs& args)
      : MultivariateNormalT(loc.ndim() == 0 ? loc.reshape({1}) : loc, scale_tril_from(args), 0) {}

  const Tensor& loc() const { return loc_; }
  const Tensor& scale_tril() const { return scale_tril_; }
  Tensor covariance_matrix() const {
    return detail::map_matrices(scale_tril_, [](const Tensor& l) { return matmul(l, transpose(l)); });
  }

  std::string name() const override { return "MultivariateNormal"; }
  constraints::Constraint support() const override { return constraints::real_vector; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const Tensor eps = random::normal(key, shape(sample_shape));
    const Tensor correlated = detail::per_matrix(scale_tril_, eps, detail::batch_part(eps.shape(), 1),
                                                 [](const Tensor& l, const Tensor& z) { return matmul(z, transpose(l)); });
    return loc_ + correlated.reshape(eps.shape());
  }
  // -1/2 |L^-1 (x - loc)|^2 - sum(log diag L) - n/2 log(2 pi), one triangular
  // solve per matrix with all the values for it as columns.
  Tensor log_prob(const Tensor& value) const override {
    const std::int64_t n = event_shape()[0];
    if (value.ndim() == 0 || (value.dim(-1) != n && value.dim(-1) != 1))
      throw ShapeError("tyche: MultivariateNormal: log_prob of a value of shape " + value.shape().str() +
                       " for events of shape " + event_shape().str());
    const Tensor diff = value - loc_;
    const Shape batch = broadcast_shapes(detail::batch_part(diff.shape(), 1), detail::batch_part(scale_tril_.shape(), 2),
                                         "MultivariateNormal.log_prob");
    const Tensor squared = detail::per_matrix(scale_tril_, diff, batch, [](const Tensor& l, const Tensor& rows) {
      return sum(square(solve_triangular(l, transpose(rows))), 0);
    });
    const Tensor half_log_det = sum(log(detail::diagonals(scale_tril_)), -1);
    return -0.5 * squared.reshape(batch) - half_log_det - double(n) * kLogSqrtTwoPi;
  }
  Tensor mean() const override { return detail::broadcast_to_shape(loc_, shape()); }
  Tensor variance() const override { return detail::broadcast_to_shape(sum(square(scale_tril_), -1), shape()); }

 private:
  static constexpr double kLogSqrtTwoPi = 0.91893853320467274178;

  // The third argument only tells this constructor from the public one.
  MultivariateNormalT(Tensor loc, Tensor scale_tril, int)
      : Distribution(batch_of(loc, scale_tril), {scale_tril.dim(-1)}),
        loc_(std::move(loc)),
        scale_tril_(std::move(scale_tril)) {
    detail::require_finite("MultivariateNormal", "loc", loc_);
  }

  static Shape batch_of(const Tensor& loc, const Tensor& scale_tril) {
    const std::int64_t n = scale_tril.dim(-1);
    if (loc.dim(-1) != n && loc.dim(-1) != 1)
      throw ShapeError("tyche: MultivariateNormal: loc of shape " + loc.shape().str() +
                       " does not match matrices of shape " + scale_tril.shape().str());
    return broadcast_shapes(detail::batch_part(loc.shape(), 1), detail::batch_part(scale_tril.shape(), 2),
                            "MultivariateNormal");
  }

  static Tensor scale_tril_from(const MultivariateNormalArgs& args) {
    const int given = args.covariance_matrix.has_value() + args.precision_matrix.has_value() + args.scale_tril.has_value();
    if (given != 1)
      throw std::invalid_argument(
          "tyche: MultivariateNormal: give exactly one of covariance_matrix, precision_matrix and scale_tril, got " +
          std::to_string(given));
    const auto positive_definite = [](const auto& m) { return detail::positive_definite(m); };
    if (args.covariance_matrix) {
      const Tensor& s = *args.covariance_matrix;
      detail::require_matrices("MultivariateNormal", "covariance_matrix", s, "positive definite", positive_definite);
      return detail::map_matrices(s, [](const Tensor& m) { return cholesky(m); });
    }
    if (args.precision_matrix) {
      const Tensor& p = *args.precision_matrix;
      detail::require_matrices("MultivariateNormal", "precision_matrix", p, "positive definite", positive_definite);
      return detail::map_matrices(p, detail::cholesky_of_inverse<>);
    }
    const Tensor& l = *args.scale_tril;
    detail::require_matrices("MultivariateNormal", "scale_tril", l, "lower triangular with a positive finite diagonal",
                             [](const auto& m) {
                               return m.allFinite() && (m.diagonal().array() > 0.0).all() &&
                                      m.template triangularView<Eigen::StrictlyUpper>().toDenseMatrix().isZero(0.0);
                             });
    return l;
  }

  Tensor loc_, scale_tril_;
};
using MultivariateNormal = MultivariateNormalT<>;

// Batch shape: concentration's leading axes; event shape (K,).
template <class = void>
class DirichletT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<DirichletT>(*this); }
  explicit DirichletT(Tensor concentration)
      : Distribution(batch_of(concentration), {categories(concentration)}),
        concentration_(std::move(concentration)) {
    detail::require_positive("Dirichlet", "concentration", concentration_);
  }
  const Tensor& concentration() const { return concentration_; }

  std::string name() const override { return "Dirichlet"; }
  constraints::Constraint support() const override { return constraints::simplex; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::dirichlet(key, concentration_, detail::batch_part(shape(sample_shape), 1));
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor& a = concentration_;
    const Tensor log_normalizer = sum(lgamma(a), -1) - lgamma(sum(a, -1));
    return detail::outside_support_to_minus_infinity(sum(xlogy(a - 1.0, value), -1) - log_normalizer, value,
                                                     support());
  }
  Tensor mean() const override {
    return detail::broadcast_to_shape(concentration_ / sum(concentration_, -1, true), shape());
  }
  Tensor variance() const override {
    const Tensor total = sum(concentration_, -1, true);
    return detail::broadcast_to_shape(
        concentration_ * (total - concentration_) / (square(total) * (total + 1.0)), shape());
  }

 private:
  // Called before anything else reads the concentration's last axis.
  static std::int64_t categories(const Tensor& concentration) {
    if (concentration.ndim() == 0)
      throw ShapeError("tyche: Dirichlet: concentration needs at least one axis, the K categories (its last axis), "
                       "but got shape (); for one Dirichlet over K categories give an array of shape (K,)");
    if (concentration.dim(-1) == 0)
      throw ShapeError("tyche: Dirichlet: concentration needs at least one category on its last axis, got shape " +
                       concentration.shape().str());
    return concentration.dim(-1);
  }
  static Shape batch_of(const Tensor& concentration) {
    categories(concentration);
    return detail::batch_part(concentration.shape(), 1);
  }
  Tensor concentration_;
};
using Dirichlet = DirichletT<>;

// Cholesky factors L of correlation matrices C = L L^T with density
// proportional to det(C)^(concentration - 1) (Lewandowski, Kurowicka and Joe
// 2009), normalised over the strictly lower entries of L. Drawn by the onion
// method, as NumPyro's default.
template <class = void>
class LKJCholeskyT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<LKJCholeskyT>(*this); }
  explicit LKJCholeskyT(int dimension, Tensor concentration = 1.0)
      : Distribution(concentration.shape(), event_of(dimension)),
        dimension_(dimension),
        concentration_(std::move(concentration)) {
    detail::require_positive("LKJCholesky", "concentration", concentration_);
  }
  int dimension() const { return dimension_; }
  const Tensor& concentration() const { return concentration_; }

  std::string name() const override { return "LKJCholesky"; }
  constraints::Constraint support() const override { return constraints::corr_cholesky; }

  // Row r > 0 of L is sqrt(y_r) u_r in its first r entries and sqrt(1 - y_r)
  // on the diagonal, with u_r uniform on the unit sphere in r dimensions and
  // y_r ~ Beta(r / 2, concentration + (n - 1 - r) / 2). Differentiable in the
  // concentration through the Beta draws, as NumPyro's.
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const std::int64_t n = dimension_;
    const Shape batch = shape(sample_shape);
    const Shape rows = detail::with_axes(detail::batch_part(batch, 2), {n - 1});
    const auto [beta_key, normal_key] = split(key);
    const Tensor y = random::beta(beta_key, row_index() * 0.5, beta_b(), rows);
    const Tensor z = random::normal(normal_key, detail::with_axes(detail::batch_part(batch, 2), {n * (n - 1) / 2}));
    return detail::onion(y, z, batch);
  }

  // NumPyro's: sum_i (2 concentration - 3 + n - i) log L_ii over i = 1..n-1,
  // minus the log of the normalising constant
  // (n-1)/2 log pi + log Gamma_{n-1}(alpha - 1/2) - (n-1) log Gamma(alpha),
  // alpha = concentration + (n-1)/2 and Gamma_d the multivariate gamma function.
  Tensor log_prob(const Tensor& value) const override {
    const std::int64_t n = dimension_;
    if (value.ndim() < 2 || value.dim(-1) != n || value.dim(-2) != n)
      throw ShapeError("tyche: LKJCholesky: log_prob of a value of shape " + value.shape().str() +
                       " for events of shape " + event_shape().str());
    const Tensor order = 2.0 * expanded_concentration() - (row_index() + double(3 - n));
    const Tensor lower_diagonal = slice(detail::diagonals(value), -1, 1, n);
    const Tensor unnormalized = sum(order * log(lower_diagonal), -1);
    const double m = double(n - 1);
    const Tensor alpha = concentration_ + 0.5 * m;
    Tensor log_multigamma = lgamma(alpha - 0.5);
    for (std::int64_t j = 1; j < n - 1; ++j) log_multigamma = log_multigamma + lgamma(alpha - 0.5 - 0.5 * double(j));
    const double log_pi = std::log(std::numbers::pi);
    const Tensor log_normalizer = 0.5 * m * log_pi + m * (m - 1.0) / 4.0 * log_pi + log_multigamma - m * lgamma(alpha);
    return detail::outside_support_to_minus_infinity(unnormalized - log_normalizer, value, support());
  }

  // Off the diagonal, entries have mean 0 (flipping the sign of a coordinate
  // leaves the distribution unchanged); with a = r / 2 and b as in draw,
  // E[L_rr] = E[sqrt(1 - y_r)] = B(b + 1/2, a) / B(b, a), E[L_rr^2] = b / (a + b)
  // and E[L_rc^2] = E[y_r] / r = a / ((a + b) r) for c < r.
  Tensor mean() const override { return moments(false); }
  Tensor variance() const override { return moments(true); }

 private:
  static Shape event_of(int dimension) {
    if (dimension < 2)
      throw std::invalid_argument("tyche: LKJCholesky: dimension must be at least 2, got " + std::to_string(dimension));
    return {dimension, dimension};
  }
  // 1, 2, ..., n - 1 (the rows below the first).
  Tensor row_index() const { return Tensor::arange(dimension_ - 1) + 1.0; }
  Tensor expanded_concentration() const {
    return concentration_.reshape(detail::with_axes(concentration_.shape(), {1}));
  }
  // concentration + (n - 1 - r) / 2 for each row r, shape batch + (n - 1,).
  Tensor beta_b() const { return expanded_concentration() + (double(dimension_ - 1) - row_index()) * 0.5; }

  Tensor moments(bool variance) const {
    const std::int64_t n = dimension_;
    const Tensor a = row_index() * 0.5, b = beta_b();
    const Tensor diagonal_mean = exp(lgamma(b + 0.5) + lgamma(a + b) - lgamma(b) - lgamma(a + b + 0.5));
    const Tensor diagonal = variance ? b / (a + b) - square(diagonal_mean) : diagonal_mean;
    const Tensor off_diagonal = a / ((a + b) * row_index());
    const Tensor zero = Tensor::zeros(batch_shape()), one = Tensor::full(batch_shape(), variance ? 0.0 : 1.0);
    std::vector<Tensor> entries;
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t c = 0; c < n; ++c) {
        if (r == 0 && c == 0) entries.push_back(one);
        else if (r == c) entries.push_back(slice(diagonal, -1, r - 1, r).reshape(batch_shape()));
        else if (c < r && variance) entries.push_back(slice(off_diagonal, -1, r - 1, r).reshape(batch_shape()));
        else entries.push_back(zero);
      }
    return stack(entries, -1).reshape(shape());
  }

  int dimension_;
  Tensor concentration_;
};
using LKJCholesky = LKJCholeskyT<>;

}  // namespace tyche::dist
