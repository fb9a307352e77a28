// TransformedDistribution: a base distribution pushed through bijective
// transforms; log_prob subtracts each transform's log |det J| at the inverse
// images. TransformReparam samples the base instead and applies the transforms.
//
//   namespace tr = tyche::transforms;
//   tyche::dist::TransformedDistribution log_normal(
//       tyche::dist::Normal(0.0, 1.0), {std::make_shared<tr::ExpTransform>()});
//   log_normal.log_prob(2.0);   // == LogNormal(0, 1).log_prob(2)
#pragma once

#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/transforms.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tyche::dist {

template <class = void>
class TransformedDistributionT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<TransformedDistributionT>(*this); }
  // A base with fewer event axes than the first transform reads gets its
  // rightmost batch axes read as event axes (as NumPyro does). `transforms` is
  // copied, not moved, into the delegate: the order in which arguments are
  // evaluated is unspecified, and with_event_dims must see the transforms.
  TransformedDistributionT(DistributionPtr base, const std::vector<transforms::TransformPtr>& transforms)
      : TransformedDistributionT(with_event_dims(std::move(base), transforms), transforms, 0) {}
  TransformedDistributionT(const Distribution& base, std::vector<transforms::TransformPtr> transforms)
      : TransformedDistributionT(base.share(), std::move(transforms)) {}

  const Distribution& base() const { return *base_; }
  const std::vector<transforms::TransformPtr>& transforms() const { return transforms_; }

  std::string name() const override { return "TransformedDistribution"; }
  constraints::Constraint support() const override {
    if (transforms_.empty()) return base_->support();
    const constraints::Constraint codomain = transforms_.back()->codomain();
    return codomain.independent(std::max(event_dim() - codomain.event_dim(), 0));
  }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    Tensor x = base_->sample(key, sample_shape);
    for (const auto& t : transforms_) x = t->forward(x);
    return x;
  }
  Tensor log_prob(const Tensor& value) const override {
    Tensor y = value, log_density = 0.0;
    int dims = event_dim();
    for (auto it = transforms_.rbegin(); it != transforms_.rend(); ++it) {
      const auto& t = **it;
      const Tensor x = t.inverse(y);
      dims += t.domain().event_dim() - t.codomain().event_dim();
      log_density = log_density - transforms::detail::sum_rightmost(t.log_abs_det_jacobian(x, y),
                                                                    dims - t.domain().event_dim());
      y = x;
    }
    return log_density + transforms::detail::sum_rightmost(base_->log_prob(y), dims - base_->event_dim());
  }
  // No closed form in general, as in NumPyro.
  Tensor mean() const override {
    throw std::logic_error("tyche: TransformedDistribution has no closed-form mean; estimate it from samples");
  }
  Tensor variance() const override {
    throw std::logic_error("tyche: TransformedDistribution has no closed-form variance; estimate it from samples");
  }

 private:
  TransformedDistributionT(DistributionPtr base, std::vector<transforms::TransformPtr> transforms, int)
      : Distribution(shapes(*base, transforms).first, shapes(*base, transforms).second),
        base_(std::move(base)),
        transforms_(std::move(transforms)) {}

  static DistributionPtr with_event_dims(DistributionPtr base, const std::vector<transforms::TransformPtr>& transforms) {
    if (transforms.empty()) return base;
    const int needed = transforms.front()->domain().event_dim();
    if (needed > base->shape().rank())
      throw ShapeError("tyche: TransformedDistribution: " + transforms.front()->name() + " reads " +
                       std::to_string(needed) + " event axes but the base draws have shape " + base->shape().str());
    const int missing = needed - base->event_dim();
    return missing > 0 ? base->to_event(missing).share() : base;
  }

  // The batch and event shapes of the pushed-forward draws.
  static std::pair<Shape, Shape> shapes(const Distribution& base,
                                        const std::vector<transforms::TransformPtr>& transforms) {
    Shape shape = base.shape();
    int event = base.event_dim();
    for (const auto& t : transforms) {
      shape = t->forward_shape(shape);
      event = std::max(t->codomain().event_dim(), event + t->codomain().event_dim() - t->domain().event_dim());
    }
    if (event > shape.rank())
      throw ShapeError("tyche: TransformedDistribution: the transforms need " + std::to_string(event) +
                       " event axes but the base draws have shape " + base.shape().str());
    return {Shape(shape.begin(), shape.end() - event), Shape(shape.end() - event, shape.end())};
  }
  DistributionPtr base_;
  std::vector<transforms::TransformPtr> transforms_;
};
using TransformedDistribution = TransformedDistributionT<>;

}  // namespace tyche::dist
