// Univariate continuous distributions: Normal, ...
//
//   tyche::dist::Normal d(0.0, 5.0);
//   tyche::Tensor x = d.sample(tyche::PRNGKey(0));   // a draw of shape ()
//   tyche::Tensor lp = d.log_prob(x);
#pragma once

#include "tyche/core/log_density.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/random.hpp"

namespace tyche::dist {

class Normal : public DistributionBase<Normal> {
 public:
  Normal(Tensor loc, Tensor scale)
      : DistributionBase(detail::broadcast_parameters("Normal", {&loc, &scale}), {}),
        loc_(std::move(loc)),
        scale_(std::move(scale)) {
    detail::require_finite("Normal", "loc", loc_);
    detail::require_positive("Normal", "scale", scale_);
  }
  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

  std::string name() const override { return "Normal"; }
  constraints::Constraint support() const override { return constraints::real; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return loc_ + scale_ * random::normal(key, shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override { return normal_log_density(value, loc_, scale_); }
  Tensor mean() const override { return detail::broadcast_to_shape(loc_, batch_shape()); }
  Tensor variance() const override { return detail::broadcast_to_shape(square(scale_), batch_shape()); }

 private:
  Tensor loc_, scale_;
};

}  // namespace tyche::dist
