// lift: param sites become sample sites drawn from a prior: one distribution
// for every param, or one per name (params without one stay params). A name
// used by several param statements is drawn once; the later ones reuse it.
//
//   auto lifted = tyche::lift(model, {{"s", tyche::dist::Exponential(1.0)}});
//   tyche::trace(tyche::seed(lifted, 0)).get_trace(x)["s"].type;   // SiteType::sample
#pragma once

#include "tyche/effects/runtime.hpp"

#include <map>
#include <string>

namespace tyche {

// A prior of PriorMap, from a distribution or a shared pointer to one.
class Prior {
 public:
  Prior(const dist::Distribution& prior) : prior_(prior.share()) {}
  Prior(dist::DistributionPtr prior) : prior_(std::move(prior)) {}
  const dist::DistributionPtr& get() const { return prior_; }

 private:
  dist::DistributionPtr prior_;
};

using PriorMap = std::map<std::string, Prior, std::less<>>;

template <class Fn = NoModel>
class lift : public Handler<Fn> {
 public:
  lift(Fn fn, PriorMap priors) : Handler<Fn>(std::move(fn)), priors_(std::move(priors)) {}
  lift(Fn fn, const dist::Distribution& prior) : Handler<Fn>(std::move(fn)), prior_(prior.share()) {}
  explicit lift(PriorMap priors)
    requires IsGuard<Fn>
      : priors_(std::move(priors)) {}
  explicit lift(const dist::Distribution& prior)
    requires IsGuard<Fn>
      : prior_(prior.share()) {}

  void process_message(Message& msg) override {
    if (msg.type != SiteType::param) return;
    dist::DistributionPtr prior = prior_;
    if (!prior) {
      const auto it = priors_.find(msg.name);
      if (it == priors_.end()) return;
      prior = it->second.get();
    }
    msg.type = SiteType::sample;
    msg.fn = std::move(prior);
    msg.init.reset();
    if (const auto seen = drawn_.find(msg.name); seen != drawn_.end()) {
      msg.value = seen->second;
      msg.is_observed = true;
      msg.stop = true;
    } else {
      msg.is_observed = false;
    }
  }
  void postprocess_message(Message& msg) override {
    if (msg.type == SiteType::sample && msg.value && (prior_ || priors_.count(msg.name)))
      drawn_.try_emplace(msg.name, *msg.value);
  }

 private:
  void reset() const override { drawn_.clear(); }
  PriorMap priors_;
  dist::DistributionPtr prior_;
  mutable std::map<std::string, Tensor, std::less<>> drawn_;
};

template <class Fn>
lift(Fn, PriorMap) -> lift<Fn>;
template <class Fn>
lift(Fn, const dist::Distribution&) -> lift<Fn>;
lift(PriorMap) -> lift<NoModel>;
lift(const dist::Distribution&) -> lift<NoModel>;

}  // namespace tyche
