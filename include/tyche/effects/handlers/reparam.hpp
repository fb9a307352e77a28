// reparam: rewrites chosen sample sites as auxiliary sample sites plus a
// deterministic transformation of them, e.g. a non-centred parameterisation.
// Strategies: LocScaleReparam(centered) for location-scale families (0: fully
// decentred, 1: unchanged, none: a learnable `name_centered` param) and
// TransformReparam for TransformedDistribution sites.
//
//   auto noncentred = tyche::reparam(eight_schools, {{"theta", tyche::LocScaleReparam(0.0)}});
//   // trace: "theta_decentered" (sample, Normal(0, 1)), "theta" (deterministic, mu + tau * theta_decentered)
#pragma once

#include "tyche/core/elementwise.hpp"
#include "tyche/distributions/transformed.hpp"
#include "tyche/effects/primitives.hpp"
#include "tyche/effects/runtime.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace tyche {

// A reparameterisation strategy: given a site's name, distribution and
// observation, returns the distribution to keep at the site and the value to
// give it; no distribution means the site becomes deterministic.
class Reparam {
 public:
  virtual ~Reparam() = default;
  virtual std::pair<dist::DistributionPtr, std::optional<Tensor>> operator()(
      const std::string& name, const dist::DistributionPtr& fn, const std::optional<Tensor>& obs) const = 0;
};

namespace detail {

// Peels Independent and ExpandedDistribution wrappers off `fn`: the innermost
// distribution, the batch shape to expand it back to, and the event dim.
struct Unwrapped {
  dist::DistributionPtr base;
  Shape expand_shape;
  int event_dim;
};

inline Unwrapped unwrap(const dist::DistributionPtr& fn) {
  const Shape shape = fn->shape();
  dist::DistributionPtr base = fn;
  for (;;) {
    if (const auto* i = dynamic_cast<const dist::Independent*>(base.get())) base = i->base().share();
    else if (const auto* e = dynamic_cast<const dist::ExpandedDistribution*>(base.get())) base = e->base().share();
    else break;
  }
  return {base, Shape(shape.begin(), shape.end() - base->event_dim()), fn->event_dim()};
}

inline dist::DistributionPtr wrap(const dist::DistributionPtr& fn, const Shape& expand_shape, int event_dim) {
  dist::DistributionPtr out = fn->batch_shape() == expand_shape ? fn : fn->expand(expand_shape).share();
  if (out->event_dim() < event_dim) out = out->to_event(event_dim - out->event_dim()).share();
  return out;
}

}  // namespace detail

// Decentres a location-scale site: draws `name_decentered` from the family
// with loc * centered and scale ^ centered, and returns
// loc + scale^(1 - centered) * (decentered - centered * loc).
// A template so that only programs using it compile it (issue 17; see core/tensor.hpp).
template <class = void>
class LocScaleReparamT : public Reparam {
 public:
  explicit LocScaleReparamT(std::optional<double> centered = std::nullopt) : centered_(centered) {
    if (centered && !(*centered >= 0.0 && *centered <= 1.0))
      throw std::invalid_argument("tyche: LocScaleReparam: centered must be in [0, 1], got " +
                                  std::to_string(*centered));
  }

  std::pair<dist::DistributionPtr, std::optional<Tensor>> operator()(
      const std::string& name, const dist::DistributionPtr& fn, const std::optional<Tensor>& obs) const override {
    if (obs) throw std::invalid_argument("tyche: LocScaleReparam: site `" + name + "` is observed; it only applies to latent sites");
    if (fn->support().kind() != constraints::Kind::real)
      throw std::invalid_argument("tyche: LocScaleReparam only supports distributions with real support, but site `" +
                                  name + "` has support " + fn->support().str());
    if (centered_ == 1.0) return {fn, std::nullopt};
    const detail::Unwrapped u = detail::unwrap(fn);
    const auto* family = dynamic_cast<const dist::LocScaleFamily*>(u.base.get());
    if (!family)
      throw std::invalid_argument("tyche: LocScaleReparam: site `" + name + "` has a " + u.base->name() +
                                  " distribution, which is not a location-scale family");
    const Tensor& loc = family->loc();
    const Tensor& scale = family->scale();
    const Tensor centered = centered_ ? Tensor(*centered_)
                                      : param(name + "_centered", Tensor::full(fn->event_shape(), 0.5),
                                              constraints::unit_interval);
    const bool decentred = centered_ == 0.0;
    const dist::DistributionPtr decentered_fn =
        detail::wrap(decentred ? family->with_loc_scale(Tensor::zeros(loc.shape()), Tensor::ones(scale.shape()))
                               : family->with_loc_scale(loc * centered, pow(scale, centered)),
                     u.expand_shape, u.event_dim);
    const Tensor decentered = sample(name + "_decentered", *decentered_fn);
    if (decentred) return {nullptr, loc + scale * decentered};
    return {nullptr, loc + pow(scale, 1.0 - centered) * (decentered - centered * loc)};
  }

 private:
  std::optional<double> centered_;
};
using LocScaleReparam = LocScaleReparamT<>;

// Samples a TransformedDistribution site's base as `name_base` and applies
// the transforms to it: the site becomes deterministic.
template <class = void>
class TransformReparamT : public Reparam {
 public:
  std::pair<dist::DistributionPtr, std::optional<Tensor>> operator()(
      const std::string& name, const dist::DistributionPtr& fn, const std::optional<Tensor>& obs) const override {
    if (obs) throw std::invalid_argument("tyche: TransformReparam: site `" + name + "` is observed; it only applies to latent sites");
    const detail::Unwrapped u = detail::unwrap(fn);
    const auto* transformed = dynamic_cast<const dist::TransformedDistribution*>(u.base.get());
    if (!transformed)
      throw std::invalid_argument("tyche: TransformReparam: site `" + name + "` has a " + u.base->name() +
                                  " distribution; it needs a TransformedDistribution");
    int base_event_dim = u.event_dim;
    const auto& chain = transformed->transforms();
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
      base_event_dim += (*it)->domain().event_dim() - (*it)->codomain().event_dim();
    Tensor x = sample(name + "_base", *detail::wrap(transformed->base().share(), u.expand_shape, base_event_dim));
    for (const auto& t : chain) x = t->forward(x);
    return {nullptr, std::move(x)};
  }
};
using TransformReparam = TransformReparamT<>;

// Any strategy held by value: lets a config map read
// {{"theta", tyche::LocScaleReparam(0.0)}}.
class ReparamStrategy {
 public:
  template <class R>
    requires std::derived_from<R, Reparam>
  ReparamStrategy(R strategy) : strategy_(std::make_shared<R>(std::move(strategy))) {}
  const Reparam& operator*() const { return *strategy_; }

 private:
  std::shared_ptr<const Reparam> strategy_;
};

using ReparamConfig = std::map<std::string, ReparamStrategy, std::less<>>;
// A strategy for a site, or none to leave it alone.
using ReparamConfigFn = std::function<std::optional<ReparamStrategy>(const Message&)>;

template <class Fn = NoModel>
class reparam : public Handler<Fn> {
 public:
  reparam(Fn fn, ReparamConfig config) : Handler<Fn>(std::move(fn)), config_(std::move(config)) {}
  reparam(Fn fn, ReparamConfigFn config_fn) : Handler<Fn>(std::move(fn)), config_fn_(std::move(config_fn)) {}
  explicit reparam(ReparamConfig config)
    requires IsGuard<Fn>
      : config_(std::move(config)) {}
  explicit reparam(ReparamConfigFn config_fn)
    requires IsGuard<Fn>
      : config_fn_(std::move(config_fn)) {}

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample) return;
    std::optional<ReparamStrategy> strategy;
    if (config_fn_) strategy = config_fn_(msg);
    else if (const auto it = config_.find(msg.name); it != config_.end()) strategy = it->second;
    if (!strategy) return;
    auto [new_fn, value] = (**strategy)(msg.name, msg.fn, msg.is_observed ? msg.value : std::nullopt);
    if (value) {
      if (!new_fn) {
        // What remains is a deterministic site: only its name, value and plates.
        Message deterministic;
        deterministic.type = SiteType::deterministic;
        deterministic.name = std::move(msg.name);
        deterministic.value = std::move(value);
        deterministic.cond_indep_stack = std::move(msg.cond_indep_stack);
        msg = std::move(deterministic);
        return;
      }
      if (!msg.value) msg.is_observed = true;
      msg.value = std::move(value);
    }
    msg.fn = std::move(new_fn);
  }

 private:
  ReparamConfig config_;
  ReparamConfigFn config_fn_;
};

template <class Fn>
reparam(Fn, ReparamConfig) -> reparam<Fn>;
template <class Fn>
reparam(Fn, ReparamConfigFn) -> reparam<Fn>;
reparam(ReparamConfig) -> reparam<NoModel>;
reparam(ReparamConfigFn) -> reparam<NoModel>;

}  // namespace tyche
