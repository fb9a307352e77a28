// scope: prefixes site names with `prefix` + `divider` (default "/"), so one
// sub-model can be used twice in a model without name clashes. Nested scopes
// compose ("outer/inner/z"). Plate names in cond_indep_stack are prefixed too
// unless SiteType::plate is among hide_types (which also leaves plate sites'
// own names alone).
//
//   auto first = tyche::scope(component, "first", "::");   // site "first::z"
//   { tyche::scope guard("outer"); { tyche::scope inner("inner"); component(); } }   // "outer/inner/z"
#pragma once

#include "tyche/effects/runtime.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace tyche {

template <class Fn = NoModel>
class scope : public Handler<Fn> {
 public:
  scope(Fn fn, std::string prefix, std::string divider = "/", std::vector<SiteType> hide_types = {})
      : Handler<Fn>(std::move(fn)),
        prefix_(std::move(prefix) + std::move(divider)),
        hide_types_(std::move(hide_types)) {}
  explicit scope(std::string prefix, std::string divider = "/", std::vector<SiteType> hide_types = {})
    requires IsGuard<Fn>
      : prefix_(std::move(prefix) + std::move(divider)), hide_types_(std::move(hide_types)) {}

  void process_message(Message& msg) override {
    if (!msg.name.empty() && !hidden(msg.type)) msg.name.insert(0, prefix_);
    if (!hidden(SiteType::plate))
      for (auto& frame : msg.cond_indep_stack) frame.name.insert(0, prefix_);
  }

 private:
  bool hidden(SiteType type) const { return std::find(hide_types_.begin(), hide_types_.end(), type) != hide_types_.end(); }
  std::string prefix_;  // prefix + divider
  std::vector<SiteType> hide_types_;
};

template <class Fn>
  requires(!std::convertible_to<Fn, std::string>)
scope(Fn, std::string, std::string = "/", std::vector<SiteType> = {}) -> scope<Fn>;
scope(std::string, std::string = "/", std::vector<SiteType> = {}) -> scope<NoModel>;
scope(const char*, const char* = "/", std::vector<SiteType> = {}) -> scope<NoModel>;

}  // namespace tyche
