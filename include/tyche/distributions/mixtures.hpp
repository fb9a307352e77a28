// Finite mixtures, as NumPyro's: a Categorical picks one of K components, and
// the value is that component's draw; the density is sum_k w_k p_k(x).
//
// MixtureSameFamily(mixing, component): K components of one family, laid
// along the component distribution's rightmost batch axis (a Normal of batch
// shape (K,) is K normals). MixtureGeneral(mixing, {components...}): K
// distributions of any families with the same event shape.
//
//   namespace dist = tyche::dist;
//   dist::MixtureSameFamily m(dist::Categorical({.probs = tyche::Tensor{0.3, 0.7}}).share(),
//                             dist::Normal(tyche::Tensor{-2.0, 2.0}, 1.0).share());   // batch ()
//   dist::MixtureGeneral g(dist::Categorical({.logits = tyche::Tensor{0.0, 1.0}}).share(),
//                          {dist::Normal(0.0, 1.0).share(), dist::StudentT(3.0, 0.0, 5.0).share()});
//   tyche::Tensor x = m.sample(tyche::PRNGKey(0), {100});   // shape (100,)
//   tyche::Tensor lp = m.log_prob(x);                        // log(0.3 N(x; -2, 1) + 0.7 N(x; 2, 1))
//
// The batch shape is the mixing distribution's broadcast with the
// components' (without the component axis); the event shape is the
// components'. log_prob is a logsumexp over the components of the log mixing
// weights plus the components' log densities: differentiable in the mixing
// logits or probabilities, the component parameters and the value. Draws take
// one draw of every component and select the mixing distribution's pick, on
// the two keys of split(key) as NumPyro, so a reparameterised component's draw
// carries its gradient. mean and variance follow the law of total variance.
#pragma once

#include "tyche/distributions/discrete.hpp"
#include "tyche/distributions/distribution.hpp"

#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tyche::dist {
namespace detail {

// The mixing distribution as a Categorical, or a clear error.
template <class T = Tensor>
const Categorical& mixing_categorical(const char* mixture, const std::type_identity_t<DistributionPtr>& mixing) {
  const auto* categorical = mixing ? dynamic_cast<const Categorical*>(mixing.get()) : nullptr;
  if (!categorical)
    throw std::invalid_argument(std::string("tyche: ") + mixture + ": the mixing distribution must be a Categorical, got " +
                                (mixing ? mixing->str() : std::string("a null pointer")));
  return *categorical;
}

// The log mixing weights, normalised: mixing batch + (K,).
template <class T = Tensor>
Tensor log_mixing_weights(const std::type_identity_t<Categorical>& mixing) {
  if (!mixing.has_logits()) return log(mixing.probs());
  const Tensor logits = mixing.logits();
  return logits - logsumexp(logits, -1, true);
}

// logsumexp over the last axis of the weighted component log densities; -inf
// with zero gradients where every term is -inf (a value outside every
// component's support), which a plain logsumexp would fill with NaN gradients
// (its softmax there is 0 / 0).
template <class T = Tensor>
Tensor logsumexp_components(const std::type_identity_t<T>& terms) {
  constexpr double minus_infinity = -std::numeric_limits<double>::infinity();
  const Tensor reachable = max(terms, -1, true) > minus_infinity;
  return where(sum(reachable, -1), logsumexp(where(reachable, terms, 0.0), -1), minus_infinity);
}

// `x` with `count` trailing axes of size 1, so that a batch + (K,) array lines
// up with batch + (K,) + event arrays.
template <class T = Tensor>
Tensor with_trailing_axes(const std::type_identity_t<T>& x, int count) {
  Shape shape = x.shape();
  for (int i = 0; i < count; ++i) shape.push_back(1);
  return x.reshape(shape);
}

// The draws (sample + batch + (K,) + event) at the component each index
// (sample + batch) names: a select and a sum, so that the picked draw's
// gradient flows and an unpicked draw's infinity or NaN does not.
template <class T = Tensor>
Tensor select_components(const std::type_identity_t<T>& draws, const std::type_identity_t<T>& indices,
                         std::int64_t components, int event_dim) {
  const Tensor picked = with_trailing_axes(indices, 1 + event_dim) ==
                        with_trailing_axes(Tensor::arange(components), event_dim);
  return sum(where(picked, draws, 0.0), -1 - event_dim);
}

// sum_k w_k m_k and sum_k w_k (v_k + (m_k - mean)^2), with probs
// mixing batch + (K,) and means, variances batch + (K,) + event.
template <class T = Tensor>
Tensor mixture_mean(const std::type_identity_t<T>& probs, const std::type_identity_t<T>& means, int event_dim) {
  return sum(with_trailing_axes(probs, event_dim) * means, -1 - event_dim);
}
template <class T = Tensor>
Tensor mixture_variance(const std::type_identity_t<T>& probs, const std::type_identity_t<T>& means,
                        const std::type_identity_t<T>& variances, int event_dim) {
  const Tensor weights = with_trailing_axes(probs, event_dim);
  const Tensor mean = sum(weights * means, -1 - event_dim, true);
  return sum(weights * (variances + square(means - mean)), -1 - event_dim);
}

// `d` expanded to `batch_shape` unless it has it already.
template <class T = Tensor>
DistributionPtr expanded_to(const std::type_identity_t<DistributionPtr>& d, const Shape& batch_shape) {
  return d->batch_shape() == batch_shape ? d : std::make_shared<ExpandedDistribution>(d, batch_shape);
}

}  // namespace detail

// MixtureSameFamily(mixing, component): component has batch shape
// batch + (K,), mixing is a Categorical over K categories whose batch shape
// broadcasts with batch.
template <class = void>
class MixtureSameFamilyT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<MixtureSameFamilyT>(*this); }
  MixtureSameFamilyT(const DistributionPtr& mixing, const DistributionPtr& component)
      : MixtureSameFamilyT(mixing, component, checked_batch_shape(mixing, component)) {}
  MixtureSameFamilyT(const Distribution& mixing, const Distribution& component)
      : MixtureSameFamilyT(mixing.share(), component.share()) {}

  const Categorical& mixing_distribution() const { return detail::mixing_categorical("MixtureSameFamily", mixing_); }
  // Expanded to batch + (K,) when it was given a smaller batch shape.
  const Distribution& component_distribution() const { return *component_; }
  std::int64_t num_components() const { return components_of(*component_); }

  std::string name() const override { return "MixtureSameFamily"; }
  constraints::Constraint support() const override { return component_->support(); }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [key_component, key_index] = split(key);
    const Tensor draws = component_->sample(key_component, sample_shape);
    const Tensor indices = expanded_mixing_->sample(key_index, sample_shape);
    return detail::select_components(draws, indices, num_components(), event_dim());
  }
  // logsumexp_k(log w_k + log p_k(value)), the value given a component axis
  // before its event axes.
  Tensor log_prob(const Tensor& value) const override {
    const int e = event_dim();
    if (value.ndim() < e)
      throw ShapeError("tyche: MixtureSameFamily: a value of shape " + value.shape().str() +
                       " has fewer axes than the event shape " + event_shape().str());
    Shape with_component(value.shape().begin(), value.shape().end() - e);
    with_component.push_back(1);
    for (std::int64_t d : event_shape()) with_component.push_back(d);
    const Tensor component_log_prob = component_->log_prob(value.reshape(with_component));
    return detail::logsumexp_components(detail::log_mixing_weights(mixing_distribution()) + component_log_prob);
  }
  Tensor mean() const override {
    return detail::mixture_mean(mixing_distribution().probs(), component_->mean(), event_dim());
  }
  Tensor variance() const override {
    return detail::mixture_variance(mixing_distribution().probs(), component_->mean(), component_->variance(),
                                    event_dim());
  }

 private:
  MixtureSameFamilyT(const DistributionPtr& mixing, const DistributionPtr& component, const Shape& batch_shape)
      : Distribution(batch_shape, component->event_shape()),
        mixing_(mixing),
        expanded_mixing_(detail::expanded_to(mixing, batch_shape)),
        component_(detail::expanded_to(component, with_components(batch_shape, components_of(*component)))) {}

  // The size of the component axis, the rightmost batch axis.
  static std::int64_t components_of(const Distribution& component) {
    return component.batch_shape()[component.batch_shape().rank() - 1];
  }
  static Shape with_components(Shape batch_shape, std::int64_t components) {
    batch_shape.push_back(components);
    return batch_shape;
  }
  // The mixture's batch shape, after checking the two distributions fit.
  static Shape checked_batch_shape(const DistributionPtr& mixing, const DistributionPtr& component) {
    const Categorical& categorical = detail::mixing_categorical("MixtureSameFamily", mixing);
    if (!component) throw std::invalid_argument("tyche: MixtureSameFamily: the component distribution is a null pointer");
    const Shape& components = component->batch_shape();
    if (components.rank() == 0)
      throw ShapeError("tyche: MixtureSameFamily: the component distribution needs a rightmost batch axis of "
                       "components, got " + component->str());
    if (components_of(*component) != categorical.num_categories())
      throw ShapeError("tyche: MixtureSameFamily: the mixing distribution has " +
                       std::to_string(categorical.num_categories()) + " categories but the component distribution " +
                       component->str() + " has " + std::to_string(components_of(*component)) + " components");
    return broadcast_shapes(mixing->batch_shape(), Shape(components.begin(), components.end() - 1),
                            "MixtureSameFamily");
  }

  DistributionPtr mixing_, expanded_mixing_, component_;
};
using MixtureSameFamily = MixtureSameFamilyT<>;

// MixtureGeneral(mixing, {components...}): K distributions, of any families,
// whose batch shapes broadcast with the mixing distribution's and whose event
// shapes and supports agree. NumPyro takes an explicit support when the
// components' differ; so does this, as the third argument.
template <class = void>
class MixtureGeneralT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<MixtureGeneralT>(*this); }
  MixtureGeneralT(const DistributionPtr& mixing, const std::vector<DistributionPtr>& components,
                  std::optional<constraints::Constraint> support = std::nullopt)
      : Distribution(checked_batch_shape(mixing, components), first_event_shape(components)),
        mixing_(mixing),
        expanded_mixing_(detail::expanded_to(mixing, batch_shape())),
        support_(support ? *support : common_support(components)) {
    for (const DistributionPtr& c : components) components_.push_back(detail::expanded_to(c, batch_shape()));
  }

  const Categorical& mixing_distribution() const { return detail::mixing_categorical("MixtureGeneral", mixing_); }
  // Each expanded to the mixture's batch shape when it was given a smaller one.
  const std::vector<DistributionPtr>& component_distributions() const { return components_; }
  std::int64_t num_components() const { return std::int64_t(components_.size()); }

  std::string name() const override { return "MixtureGeneral"; }
  constraints::Constraint support() const override { return support_; }
  // One draw of every component, on the keys of split(key_component, K).
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [key_component, key_index] = split(key);
    const std::vector<Key> keys = split(key_component, int(components_.size()));
    std::vector<Tensor> draws;
    for (std::size_t k = 0; k < components_.size(); ++k) draws.push_back(components_[k]->sample(keys[k], sample_shape));
    const Tensor indices = expanded_mixing_->sample(key_index, sample_shape);
    return detail::select_components(stack(draws, sample_shape.rank() + batch_shape().rank()), indices,
                                     num_components(), event_dim());
  }
  Tensor log_prob(const Tensor& value) const override {
    std::vector<Tensor> log_probs;
    for (const DistributionPtr& c : components_) log_probs.push_back(c->log_prob(value));
    return detail::logsumexp_components(detail::log_mixing_weights(mixing_distribution()) + stack(log_probs, -1));
  }
  Tensor mean() const override {
    return detail::mixture_mean(mixing_distribution().probs(), component_moments(&Distribution::mean), event_dim());
  }
  Tensor variance() const override {
    return detail::mixture_variance(mixing_distribution().probs(), component_moments(&Distribution::mean),
                                    component_moments(&Distribution::variance), event_dim());
  }

 private:
  // The components' means or variances, batch + (K,) + event.
  Tensor component_moments(Tensor (Distribution::*moment)() const) const {
    std::vector<Tensor> moments;
    for (const DistributionPtr& c : components_) moments.push_back(((*c).*moment)());
    return stack(moments, batch_shape().rank());
  }
  static const Shape& first_event_shape(const std::vector<DistributionPtr>& components) {
    if (components.empty() || !components.front())
      throw std::invalid_argument("tyche: MixtureGeneral: needs at least one component, and component 0 is missing");
    return components.front()->event_shape();
  }
  static Shape checked_batch_shape(const DistributionPtr& mixing, const std::vector<DistributionPtr>& components) {
    const Categorical& categorical = detail::mixing_categorical("MixtureGeneral", mixing);
    first_event_shape(components);
    if (std::int64_t(components.size()) != categorical.num_categories())
      throw ShapeError("tyche: MixtureGeneral: the mixing distribution has " +
                       std::to_string(categorical.num_categories()) + " categories but " +
                       std::to_string(components.size()) + " components were given");
    Shape batch = mixing->batch_shape();
    for (std::size_t k = 0; k < components.size(); ++k) {
      if (!components[k])
        throw std::invalid_argument("tyche: MixtureGeneral: component " + std::to_string(k) + " is a null pointer");
      if (components[k]->event_shape() != components.front()->event_shape())
        throw ShapeError("tyche: MixtureGeneral: component " + std::to_string(k) + ", " + components[k]->str() +
                         ", has another event shape than component 0, " + components.front()->str());
      batch = broadcast_shapes(batch, components[k]->batch_shape(), "MixtureGeneral");
    }
    return batch;
  }
  static constraints::Constraint common_support(const std::vector<DistributionPtr>& components) {
    const constraints::Constraint first = components.front()->support();
    for (std::size_t k = 1; k < components.size(); ++k)
      if (components[k]->support().str() != first.str())
        throw std::invalid_argument("tyche: MixtureGeneral: component " + std::to_string(k) + " (" +
                                    components[k]->name() + ") has support " + components[k]->support().str() +
                                    " but component 0 (" + components.front()->name() + ") has " + first.str() +
                                    "; give the mixture's support as the third argument");
    return first;
  }

  DistributionPtr mixing_, expanded_mixing_;
  std::vector<DistributionPtr> components_;
  constraints::Constraint support_;
};
using MixtureGeneral = MixtureGeneralT<>;

}  // namespace tyche::dist
