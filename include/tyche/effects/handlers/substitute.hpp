// substitute: gives sites (sample, param, plate, deterministic) values from a
// map or a function of the message, leaving is_observed as it was. Used to
// plug posterior samples or parameters into a model.
//
//   auto fixed = tyche::substitute(model, {{"slope", 10.0}});
//   tyche::trace(tyche::seed(fixed, 0)).get_trace(x)["slope"].is_observed;   // false
#pragma once

#include "tyche/effects/handlers/condition.hpp"

namespace tyche {

template <class Fn = NoModel>
class substitute : public Handler<Fn> {
 public:
  substitute(Fn fn, ValueMap data) : Handler<Fn>(std::move(fn)), data_(std::move(data)) {}
  substitute(Fn fn, SiteValueFn substitute_fn) : Handler<Fn>(std::move(fn)), fn_(std::move(substitute_fn)) {}
  explicit substitute(ValueMap data)
    requires IsGuard<Fn>
      : data_(std::move(data)) {}
  explicit substitute(SiteValueFn substitute_fn)
    requires IsGuard<Fn>
      : fn_(std::move(substitute_fn)) {}

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample && msg.type != SiteType::param && msg.type != SiteType::plate &&
        msg.type != SiteType::deterministic)
      return;
    if (auto value = detail::lookup(data_, fn_, msg)) msg.value = std::move(value);
  }

 private:
  ValueMap data_;
  SiteValueFn fn_;
};

template <class Fn>
substitute(Fn, ValueMap) -> substitute<Fn>;
template <class Fn>
substitute(Fn, SiteValueFn) -> substitute<Fn>;
substitute(ValueMap) -> substitute<NoModel>;
substitute(SiteValueFn) -> substitute<NoModel>;

}  // namespace tyche
