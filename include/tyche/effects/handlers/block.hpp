// block: hides sites from the handlers outside it. A hidden site still runs
// (the handlers inside the block see it) but outer ones, a trace for one,
// do not. Hide by name, expose by name, expose by type, or hide by predicate;
// with no option at all, everything is hidden.
//
//   tyche::block(model, {.hide = {"sigma"}});
//   tyche::block(model, {.expose = {"slope", "intercept"}});
//   tyche::block(model, {.hide_fn = [](const tyche::Message& m) { return m.is_observed; }});
#pragma once

#include "tyche/effects/runtime.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tyche {

struct BlockOptions {
  std::optional<std::vector<std::string>> hide = {};
  std::optional<std::vector<std::string>> expose = {};
  std::optional<std::vector<SiteType>> expose_types = {};
  std::function<bool(const Message&)> hide_fn = {};
};

namespace detail {

// The first option given wins, in NumPyro's order: hide_fn, hide,
// expose_types, expose; none hides everything.
inline std::function<bool(const Message&)> hide_predicate(BlockOptions o) {
  auto has = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (o.hide_fn) return std::move(o.hide_fn);
  if (o.hide) return [names = *o.hide, has](const Message& m) { return has(names, m.name); };
  if (o.expose_types)
    return [types = *o.expose_types](const Message& m) {
      return std::find(types.begin(), types.end(), m.type) == types.end();
    };
  if (o.expose) return [names = *o.expose, has](const Message& m) { return !has(names, m.name); };
  return [](const Message&) { return true; };
}

}  // namespace detail

template <class Fn = detail::NoModel>
class block : public Handler<Fn> {
 public:
  explicit block(Fn fn, BlockOptions options = {})
      : Handler<Fn>(std::move(fn)), hide_(detail::hide_predicate(std::move(options))) {}
  explicit block(BlockOptions options = {})
    requires detail::IsGuard<Fn>
      : hide_(detail::hide_predicate(std::move(options))) {}

  void process_message(Message& msg) override {
    if (hide_(msg)) msg.stop = true;
  }

 private:
  std::function<bool(const Message&)> hide_;
};

template <class Fn>
block(Fn, BlockOptions = {}) -> block<Fn>;
block(BlockOptions) -> block<detail::NoModel>;
block() -> block<detail::NoModel>;

}  // namespace tyche
