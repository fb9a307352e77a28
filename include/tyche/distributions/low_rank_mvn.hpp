// LowRankMultivariateNormal: a multivariate normal whose covariance is
// W W^T + diag(D), W an (n, m) factor of low rank m and D positive
// (NumPyro's dist.LowRankMultivariateNormal; factor-analysis models, and
// AutoLowRankMultivariateNormal's guide). log_prob costs O(n m^2) per matrix
// instead of the dense O(n^3): it works with the m x m capacitance matrix
// I + W^T D^-1 W (the Woodbury identity and the matrix determinant lemma).
//
//   namespace dist = tyche::dist;
//   tyche::Tensor W{{1.0}, {0.5}, {-0.3}};                           // n = 3, rank m = 1
//   dist::LowRankMultivariateNormal d(tyche::Tensor{0.0, 1.0, 2.0}, W, tyche::Tensor{0.1, 0.2, 0.3});
//   tyche::Tensor x = d.sample(tyche::PRNGKey(0), {5});              // shape (5, 3)
//   tyche::Tensor lp = d.log_prob(x);                                 // shape (5,)
//   tyche::Tensor S = d.covariance_matrix();                          // W W^T + diag(D), (3, 3)
//   tyche::Tensor P = d.precision_matrix();                           // S^-1 by Woodbury
//
// Leading axes of loc (..., n), cov_factor (..., n, m) and cov_diag (..., n)
// are batch axes and broadcast together; loc and cov_diag may also have a
// last axis of 1 (or be scalars), repeated along the event.
#pragma once

#include "tyche/core/linalg.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/multivariate.hpp"
#include "tyche/distributions/random.hpp"

#include <numbers>
#include <string>
#include <vector>

namespace tyche::dist {

template <class = void>
class LowRankMultivariateNormalT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<LowRankMultivariateNormalT>(*this); }
  LowRankMultivariateNormalT(Tensor loc, Tensor cov_factor, Tensor cov_diag)
      : Distribution(batch_of(loc, cov_factor, cov_diag), event_of(cov_factor)),
        loc_(loc.ndim() == 0 ? loc.reshape({1}) : std::move(loc)),
        cov_factor_(std::move(cov_factor)),
        cov_diag_(cov_diag.ndim() == 0 ? cov_diag.reshape({1}) : std::move(cov_diag)) {
    detail::require_finite("LowRankMultivariateNormal", "loc", loc_);
    detail::require_finite("LowRankMultivariateNormal", "cov_factor", cov_factor_);
    detail::require_positive("LowRankMultivariateNormal", "cov_diag", cov_diag_);
    factorize();
  }

  const Tensor& loc() const { return loc_; }
  const Tensor& cov_factor() const { return cov_factor_; }
  const Tensor& cov_diag() const { return cov_diag_; }
  std::int64_t rank() const { return cov_factor_.dim(-1); }
  // W W^T + diag(D), batch + (n, n).
  Tensor covariance_matrix() const {
    const std::int64_t n = event_shape()[0], m = rank();
    const Shape leading = detail::batch_part(cov_factor_.shape(), 2);
    const Tensor outer = sum(cov_factor_.reshape(detail::with_axes(leading, {n, 1, m})) *
                                 cov_factor_.reshape(detail::with_axes(leading, {1, n, m})),
                             -1);
    const Tensor diagonal = detail::broadcast_to_shape(cov_diag_, detail::with_axes(batch_shape(), {n}));
    const Tensor on_diagonal = diagonal.reshape(detail::with_axes(batch_shape(), {n, 1})) * detail::identity_matrix(n);
    return outer + on_diagonal;
  }

  // The lower Cholesky factor of the covariance, batch + (n, n) (dense: O(n^3)).
  Tensor scale_tril() const {
    return detail::map_matrices(covariance_matrix(), [](const Tensor& s) { return cholesky(s); });
  }
  // S^-1 = D^-1 - (L^-1 W^T D^-1)^T (L^-1 W^T D^-1) by Woodbury, batch + (n, n).
  Tensor precision_matrix() const {
    const std::int64_t n = event_shape()[0];
    const Tensor d = detail::broadcast_to_shape(cov_diag_, detail::with_axes(batch_shape(), {n})).reshape({-1, n});
    std::vector<Tensor> parts;
    for (std::size_t q = 0; q < wt_dinv_.size(); ++q) {
      const Tensor a = solve_triangular(capacitance_tril_[q], wt_dinv_[q]);  // (m, n)
      const Tensor inverse_diagonal = 1.0 / d[std::int64_t(q)];
      parts.push_back(inverse_diagonal.reshape({n, 1}) * detail::identity_matrix(n) - matmul(transpose(a), a));
    }
    if (parts.empty()) return Tensor::zeros(detail::with_axes(batch_shape(), {n, n}));
    return parts.size() == 1 ? parts[0].reshape(detail::with_axes(batch_shape(), {n, n}))
                             : stack(parts).reshape(detail::with_axes(batch_shape(), {n, n}));
  }

  std::string name() const override { return "LowRankMultivariateNormal"; }
  constraints::Constraint support() const override { return constraints::real_vector; }
  // loc + W eps_W + sqrt(D) eps_D with eps_W (m normals) and eps_D (n normals)
  // drawn on the two keys of split(key), as NumPyro (the same numbers up to
  // float32 rounding); reparameterised in all three parameters.
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [key_w, key_d] = split(key);
    const Shape batch = detail::batch_part(shape(sample_shape), 1);
    const Tensor eps_w = random::normal(key_w, detail::with_axes(batch, {rank()}));
    const Tensor eps_d = random::normal(key_d, shape(sample_shape));
    const Tensor w_eps = sum(cov_factor_ * eps_w.reshape(detail::with_axes(batch, {1, rank()})), -1);
    return loc_ + w_eps + sqrt(cov_diag_) * eps_d;
  }
  // -1/2 (n log(2 pi) + log det(S) + (x - loc)^T S^-1 (x - loc)) with, for
  // S = W W^T + D and the capacitance C = I + W^T D^-1 W = L L^T,
  //   S^-1 = D^-1 - D^-1 W C^-1 W^T D^-1    (Woodbury)
  //   det S = det C det D                  (matrix determinant lemma)
  // so the quadratic form is |r|^2_(D^-1) - |L^-1 W^T D^-1 r|^2, r = x - loc.
  Tensor log_prob(const Tensor& value) const override {
    const std::int64_t n = event_shape()[0];
    if (value.ndim() == 0 || (value.dim(-1) != n && value.dim(-1) != 1))
      throw ShapeError("tyche: LowRankMultivariateNormal: log_prob of a value of shape " + value.shape().str() +
                       " for events of shape " + event_shape().str());
    const Tensor diff0 = value - loc_;
    const Shape batch = broadcast_shapes(detail::batch_part(diff0.shape(), 1), batch_shape(),
                                         "LowRankMultivariateNormal.log_prob");
    const Tensor diff = detail::broadcast_to_shape(diff0, detail::with_axes(batch, {n}));
    const Tensor diagonal_term = sum(square(diff) / cov_diag_, -1);
    return -0.5 * (double(n) * kLogTwoPi + log_det_ + diagonal_term - capacitance_term(diff, batch));
  }
  Tensor mean() const override { return detail::broadcast_to_shape(loc_, shape()); }
  // diag(S): the row sums of W^2 plus D.
  Tensor variance() const override {
    return detail::broadcast_to_shape(sum(square(cov_factor_), -1) + cov_diag_, shape());
  }

 private:
  static constexpr double kLogTwoPi = 1.83787706640934548356;

  static Shape event_of(const Tensor& cov_factor) {
    if (cov_factor.ndim() < 2 || cov_factor.dim(-2) == 0 || cov_factor.dim(-1) == 0)
      throw ShapeError("tyche: LowRankMultivariateNormal: cov_factor must be an (n, m) matrix with n, m >= 1 (or a "
                       "stack of them), got shape " + cov_factor.shape().str());
    return {cov_factor.dim(-2)};
  }
  static Shape batch_of(const Tensor& loc, const Tensor& cov_factor, const Tensor& cov_diag) {
    const std::int64_t n = event_of(cov_factor)[0];
    const auto vector_batch = [&](const Tensor& v, const char* parameter) {
      if (v.ndim() == 0) return Shape{};
      if (v.dim(-1) != n && v.dim(-1) != 1)
        throw ShapeError(std::string("tyche: LowRankMultivariateNormal: ") + parameter + " of shape " +
                         v.shape().str() + " does not match cov_factor of shape " + cov_factor.shape().str() +
                         " (its last axis must be " + std::to_string(n) + " or 1)");
      return detail::batch_part(v.shape(), 1);
    };
    return broadcast_shapes(broadcast_shapes(vector_batch(loc, "loc"), vector_batch(cov_diag, "cov_diag"),
                                             "LowRankMultivariateNormal"),
                            detail::batch_part(cov_factor.shape(), 2), "LowRankMultivariateNormal");
  }

  // For each batch element q: W_q^T D_q^-1 (m, n), the Cholesky factor L_q of
  // its capacitance matrix (m, m), and log det S_q = 2 sum log diag L_q + sum log D_q.
  void factorize() {
    const std::int64_t n = event_shape()[0], m = rank(), count = batch_shape().numel();
    const Tensor w = detail::broadcast_to_shape(cov_factor_, detail::with_axes(batch_shape(), {n, m})).reshape({-1, n, m});
    const Tensor d = detail::broadcast_to_shape(cov_diag_, detail::with_axes(batch_shape(), {n})).reshape({-1, n});
    std::vector<Tensor> log_dets;
    for (std::int64_t q = 0; q < count; ++q) {
      const Tensor w_q = count == 1 ? w.reshape({n, m}) : w[q];
      const Tensor d_q = count == 1 ? d.reshape({n}) : d[q];
      const Tensor wt_dinv = transpose(w_q / d_q.reshape({n, 1}));
      const Tensor l = cholesky(matmul(wt_dinv, w_q) + detail::identity_matrix(m));
      wt_dinv_.push_back(wt_dinv);
      capacitance_tril_.push_back(l);
      log_dets.push_back(2.0 * sum(log(diagonal(l))) + sum(log(d_q)));
    }
    log_det_ = count == 0   ? Tensor::zeros(batch_shape())
               : count == 1 ? log_dets[0].reshape(batch_shape())
                            : stack(log_dets).reshape(batch_shape());
  }

  // |L_q^-1 W_q^T D_q^-1 r|^2 for each r of diff (batch + (n,)), with q the
  // batch element r is drawn against: one product and one triangular solve
  // per batch element of the distribution, with all its values as columns.
  Tensor capacitance_term(const Tensor& diff, const Shape& batch) const {
    const std::int64_t n = event_shape()[0], count = batch_shape().numel();
    // The trailing axes of `batch` are the distribution's batch axes, where
    // those of size 1 may have been broadcast: `owner` maps each of their
    // elements to the batch element of the distribution it belongs to.
    const Shape own(batch.end() - batch_shape().rank(), batch.end());
    const std::int64_t cells = own.numel(), per = cells == 0 ? 0 : batch.numel() / cells;
    if (batch.numel() == 0) return Tensor::zeros(batch);
    const Tensor owner = detail::broadcast_to_shape(Tensor::arange(count).reshape(batch_shape()), own);
    const Tensor grouped = diff.reshape({per, cells, n});
    const auto term = [&](std::int64_t cell, const Tensor& rows) {
      const auto q = std::size_t(owner.data()[cell]);
      const Tensor projected = matmul(rows, transpose(wt_dinv_[q]));                    // (per, m)
      return sum(square(solve_triangular(capacitance_tril_[q], transpose(projected))), 0);  // (per,)
    };
    if (cells == 1) return term(0, grouped.reshape({per, n})).reshape(batch);
    std::vector<Tensor> parts;
    for (std::int64_t cell = 0; cell < cells; ++cell)
      parts.push_back(term(cell, slice(grouped, 1, cell, cell + 1).reshape({per, n})));
    return stack(parts, 1).reshape(batch);
  }

  Tensor loc_, cov_factor_, cov_diag_;
  std::vector<Tensor> wt_dinv_, capacitance_tril_;  // per batch element, flattened
  Tensor log_det_;                                  // batch shape
};
using LowRankMultivariateNormal = LowRankMultivariateNormalT<>;

}  // namespace tyche::dist
