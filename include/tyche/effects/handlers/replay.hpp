// replay: unobserved sample sites take their values (and infer fields) from a
// recorded trace, whatever the seed; plate sites take its subsample indices.
//
//   tyche::Trace recorded = tyche::trace(tyche::seed(model, 0)).get_trace(x);
//   auto again = tyche::replay(tyche::seed(model, 99), recorded);   // same latent values
#pragma once

#include "tyche/effects/runtime.hpp"
#include "tyche/effects/trace_data.hpp"

#include <stdexcept>

namespace tyche {

template <class Fn = NoModel>
class replay : public Handler<Fn> {
 public:
  replay(Fn fn, Trace guide) : Handler<Fn>(std::move(fn)), guide_(std::move(guide)) {}
  explicit replay(Trace guide)
    requires IsGuard<Fn>
      : guide_(std::move(guide)) {}

  void process_message(Message& msg) override {
    if ((msg.type != SiteType::sample && msg.type != SiteType::plate) || !guide_.contains(msg.name)) return;
    const Message& recorded = guide_[msg.name];
    if (msg.type == SiteType::plate) {
      if (recorded.type != SiteType::plate)
        throw std::runtime_error("tyche: replay: site `" + msg.name + "` must be a plate in the trace");
      msg.value = recorded.value;
      return;
    }
    if (msg.is_observed) return;
    if (recorded.type != SiteType::sample || recorded.is_observed)
      throw std::runtime_error("tyche: replay: site `" + msg.name + "` must be sampled in the trace");
    msg.value = recorded.value;
    msg.infer = recorded.infer;
  }

 private:
  Trace guide_;
};

template <class Fn>
replay(Fn, Trace) -> replay<Fn>;
replay(Trace) -> replay<NoModel>;

}  // namespace tyche
