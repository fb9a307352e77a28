// GaussianRandomWalk: x_0 ~ Normal(0, scale), x_t ~ Normal(x_(t-1), scale) for
// t < num_steps, one walk per event (NumPyro's dist.GaussianRandomWalk).
//
//   namespace dist = tyche::dist;
//   dist::GaussianRandomWalk walk(tyche::Tensor{0.5, 2.0}, 100);  // batch (2,), event (100,)
//   tyche::Tensor x = walk.sample(tyche::PRNGKey(0), {3});        // shape (3, 2, 100)
//   tyche::Tensor lp = walk.log_prob(x);                          // shape (3, 2)
//
//   // In a model: a latent trend whose steps have an unknown scale.
//   const auto sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
//   const auto trend = tyche::sample("trend", dist::GaussianRandomWalk(sigma, 100));
//
// The support is real_vector, so NUTS samples a walk without a transform.
// Draws are the cumulative sums of JAX's normals on the key times the scale,
// as NumPyro's (the same numbers up to float32 rounding), and pass gradients
// to the scale.
#pragma once

#include "tyche/core/cumsum.hpp"
#include "tyche/core/fused_densities.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/random.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace tyche::dist {

template <class = void>
class GaussianRandomWalkT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<GaussianRandomWalkT>(*this); }
  explicit GaussianRandomWalkT(Tensor scale = 1.0, std::int64_t num_steps = 1)
      : Distribution(scale.shape(), {steps_of(num_steps)}), scale_(std::move(scale)) {
    detail::require_positive("GaussianRandomWalk", "scale", scale_);
  }
  const Tensor& scale() const { return scale_; }
  std::int64_t num_steps() const { return event_shape()[0]; }

  std::string name() const override { return "GaussianRandomWalk"; }
  constraints::Constraint support() const override { return constraints::real_vector; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return cumsum(random::normal(key, shape(sample_shape)), -1) * scale_column();
  }
  // sum_t log Normal(x_t - x_(t-1) | 0, scale) with x_(-1) = 0; -infinity
  // for a walk with an infinite entry (outside real_vector), and NaN for one
  // with a NaN entry, as the other distributions (and NumPyro).
  Tensor log_prob(const Tensor& value) const override {
    require_walks(value);
    const Tensor inside = sum(abs(value) == std::numeric_limits<double>::infinity(), -1) == 0.0;
    Shape column = inside.shape();
    column.push_back(1);
    // Off the support the density sees 0 (see detail::on_support).
    const Tensor steps = increments(where(inside.reshape(column), value, 0.0));
    return where(inside, sum(normal_log_density(steps, 0.0, scale_column()), -1),
                 -std::numeric_limits<double>::infinity());
  }
  // One fused normal density over all the steps when every entry is finite.
  Tensor log_prob_sum(const Tensor& value) const override {
    require_walks(value);
    if (!detail::fusable_value(value, [](double v) { return std::isfinite(v); }))
      return Distribution::log_prob_sum(value);
    // The kernel broadcasts the steps with the scale, so a walk counts once
    // per batch element it is broadcast to, as in log_prob.
    return normal_log_density_sum(increments(value), 0.0, scale_column());
  }
  Tensor mean() const override { return Tensor::zeros(shape()); }
  // scale^2 (t + 1) for step t.
  Tensor variance() const override {
    return detail::broadcast_to_shape(square(scale_column()) * (Tensor::arange(num_steps()) + 1.0), shape());
  }

 private:
  static std::int64_t steps_of(std::int64_t num_steps) {
    if (num_steps < 1)
      throw std::invalid_argument("tyche: GaussianRandomWalk: num_steps must be a positive integer, got " +
                                  std::to_string(num_steps));
    return num_steps;
  }
  void require_walks(const Tensor& value) const {
    if (value.ndim() == 0 || value.dim(-1) != num_steps())
      throw ShapeError("tyche: GaussianRandomWalk: log_prob of a value of shape " + value.shape().str() +
                       " for walks of shape " + event_shape().str());
  }
  // The scale with a trailing axis, to broadcast along the steps.
  Tensor scale_column() const {
    Shape column = scale_.shape();
    column.push_back(1);
    return scale_.reshape(column);
  }
  // x_0, x_1 - x_0, ..., x_(n-1) - x_(n-2).
  Tensor increments(const Tensor& x) const {
    const std::int64_t n = num_steps();
    if (n == 1) return x;
    return concatenate({slice(x, -1, 0, 1), slice(x, -1, 1, n) - slice(x, -1, 0, n - 1)}, -1);
  }

  Tensor scale_;
};
using GaussianRandomWalk = GaussianRandomWalkT<>;

}  // namespace tyche::dist
