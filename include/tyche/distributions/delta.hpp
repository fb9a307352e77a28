// Degenerate distributions: Delta, all mass at one value (what `deterministic`
// records), and Unit, no value at all and a given log density (what `factor`
// records).
//
//   tyche::dist::Delta d(tyche::Tensor{1.0, 2.0});            // batch (2,), event ()
//   d.log_prob(tyche::Tensor{1.0, 0.0});                       // {0, -inf}
//   tyche::dist::Delta v(tyche::Tensor{1.0, 2.0}, -3.0, 1);    // batch (), event (2,)
//   tyche::dist::Unit u(tyche::Tensor{-1.5, 0.5});             // batch (2,)
//   u.sample(tyche::PRNGKey(0));                               // empty, shape (2, 0)
//   u.log_prob(u.sample(tyche::PRNGKey(0)));                   // {-1.5, 0.5}
#pragma once

#include "tyche/distributions/distribution.hpp"

#include <limits>
#include <string>

namespace tyche::dist {

// The last `event_dim` axes of `value` form one event. log_prob is
// `log_density` where the whole event equals `value`, -infinity elsewhere.
template <class = void>
class DeltaT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<DeltaT>(*this); }
  explicit DeltaT(Tensor value, Tensor log_density = 0.0, int event_dim = 0)
      : Distribution(shape_part(value, event_dim, 0), shape_part(value, event_dim, 1)),
        value_(std::move(value)),
        log_density_(std::move(log_density)),
        event_dim_(event_dim) {
    if (!(broadcast_shapes(log_density_.shape(), batch_shape(), "Delta") == batch_shape()))
      throw ShapeError("tyche: Delta: log_density of shape " + log_density_.shape().str() +
                       " does not broadcast to the batch shape " + batch_shape().str());
  }
  const Tensor& v() const { return value_; }
  const Tensor& log_density() const { return log_density_; }

  std::string name() const override { return "Delta"; }
  constraints::Constraint support() const override { return constraints::independent(constraints::real, event_dim_); }
  // The value itself, repeated: gradients flow back to it (a deterministic site).
  Tensor draw(Key, const Shape& sample_shape) const override {
    return detail::broadcast_to_shape(value_, shape(sample_shape));
  }
  Tensor log_prob(const Tensor& x) const override {
    Tensor mismatches = x != value_;
    for (int i = 0; i < event_dim_; ++i) mismatches = sum(mismatches, -1);
    return where(mismatches == 0.0, log_density_, -std::numeric_limits<double>::infinity());
  }
  Tensor mean() const override { return value_; }
  Tensor variance() const override { return Tensor::zeros(shape()); }

 private:
  // part 0: the batch shape, part 1: the event shape.
  static Shape shape_part(const Tensor& value, int event_dim, int part) {
    const Shape& s = value.shape();
    if (event_dim < 0 || event_dim > s.rank())
      throw ShapeError("tyche: Delta: event_dim must be between 0 and the rank of the value of shape " + s.str() +
                       ", got " + std::to_string(event_dim));
    return part == 0 ? Shape(s.begin(), s.end() - event_dim) : Shape(s.end() - event_dim, s.end());
  }
  Tensor value_, log_density_;
  int event_dim_;
};
using Delta = DeltaT<>;

// As NumPyro's Unit: the event shape is (0,), so a draw is an empty array of
// shape sample_shape + batch_shape + (0,), and log_prob of any value is
// log_factor, broadcast with the value's leading axes.
template <class = void>
class UnitT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<UnitT>(*this); }
  explicit UnitT(Tensor log_factor) : Distribution(log_factor.shape(), {0}), log_factor_(std::move(log_factor)) {}
  const Tensor& log_factor() const { return log_factor_; }

  std::string name() const override { return "Unit"; }
  constraints::Constraint support() const override { return constraints::real; }
  Tensor draw(Key, const Shape& sample_shape) const override { return Tensor::zeros(shape(sample_shape)); }
  Tensor log_prob(const Tensor& value) const override {
    const Shape leading(value.shape().begin(), value.shape().end() - (value.ndim() > 0 ? 1 : 0));
    return detail::broadcast_to_shape(log_factor_, broadcast_shapes(batch_shape(), leading, "Unit.log_prob"));
  }
  // The factor's own sum when log_prob would not broadcast it; a single
  // factor is returned as a rank-0 view of itself, adding no node.
  Tensor log_prob_sum(const Tensor& value) const override {
    const Shape leading(value.shape().begin(), value.shape().end() - (value.ndim() > 0 ? 1 : 0));
    if (!(broadcast_shapes(batch_shape(), leading, "Unit.log_prob") == batch_shape()))
      return Distribution::log_prob_sum(value);
    return log_factor_.size() == 1 ? log_factor_.reshape(Shape{}) : sum(log_factor_);
  }
  Tensor mean() const override { return Tensor::zeros(shape()); }
  Tensor variance() const override { return Tensor::zeros(shape()); }

 private:
  Tensor log_factor_;
};
using Unit = UnitT<>;

}  // namespace tyche::dist
