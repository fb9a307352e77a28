// condition: gives sample sites values and marks them observed, from a map of
// names to values or from a function of the message (none: leave the site).
// Only sample sites are affected; compare substitute, which does not mark.
//
//   auto conditioned = tyche::condition(model, {{"obs", y}});
//   auto by_fn = tyche::condition(model, [](const tyche::Message& m) -> std::optional<tyche::Tensor> {
//     return m.name == "obs" ? std::optional(y) : std::nullopt;
//   });
#pragma once

#include "tyche/effects/runtime.hpp"

#include <functional>
#include <optional>

namespace tyche {

// A value for a site, or none to leave it alone.
using SiteValueFn = std::function<std::optional<Tensor>(const Message&)>;

namespace detail {

inline std::optional<Tensor> lookup(const ValueMap& data, const SiteValueFn& fn, const Message& msg) {
  if (fn) return fn(msg);
  const auto it = data.find(msg.name);
  return it == data.end() ? std::nullopt : std::optional(it->second);
}

}  // namespace detail

template <class Fn = NoModel>
class condition : public Handler<Fn> {
 public:
  condition(Fn fn, ValueMap data) : Handler<Fn>(std::move(fn)), data_(std::move(data)) {}
  condition(Fn fn, SiteValueFn condition_fn) : Handler<Fn>(std::move(fn)), fn_(std::move(condition_fn)) {}
  explicit condition(ValueMap data)
    requires IsGuard<Fn>
      : data_(std::move(data)) {}
  explicit condition(SiteValueFn condition_fn)
    requires IsGuard<Fn>
      : fn_(std::move(condition_fn)) {}

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample) return;
    if (auto value = detail::lookup(data_, fn_, msg)) {
      msg.value = std::move(value);
      msg.is_observed = true;
    }
  }

 private:
  ValueMap data_;
  SiteValueFn fn_;
};

template <class Fn>
condition(Fn, ValueMap) -> condition<Fn>;
template <class Fn>
condition(Fn, SiteValueFn) -> condition<Fn>;
condition(ValueMap) -> condition<NoModel>;
condition(SiteValueFn) -> condition<NoModel>;

}  // namespace tyche
