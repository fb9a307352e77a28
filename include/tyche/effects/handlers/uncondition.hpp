// uncondition: observed sample sites are sampled from their distribution
// instead: is_observed becomes false, infer["was_observed"] true and
// infer["obs"] keeps the observation. For prior predictive checks of models
// with observations built in.
//
//   auto prior_predictive = tyche::uncondition(tyche::seed(tyche::condition(model, {{"obs", y}}), 0));
//   tyche::trace(prior_predictive).get_trace(x)["obs"].is_observed;   // false
#pragma once

#include "tyche/effects/primitives.hpp"
#include "tyche/effects/runtime.hpp"

namespace tyche {

template <class Fn = NoModel>
class uncondition : public Handler<Fn> {
 public:
  explicit uncondition(Fn fn) : Handler<Fn>(std::move(fn)) {}
  uncondition()
    requires IsGuard<Fn>
  = default;

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample || !msg.is_observed) return;
    msg.is_observed = false;
    msg.infer["was_observed"] = true;
    msg.infer["obs"] = *msg.value;
    msg.value.reset();
    // A seed handler inside this one skipped the site because it had a value.
    if (!msg.rng_key) msg.rng_key = prng_key();
  }
};

template <class Fn>
uncondition(Fn) -> uncondition<Fn>;
uncondition() -> uncondition<NoModel>;

}  // namespace tyche
