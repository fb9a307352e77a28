// block: hides sites from the handlers outside it. A hidden site still runs
// (the handlers inside the block see it) but outer ones, a trace for one,
// do not. Hide by name, expose by name, expose by type, or hide by predicate;
// with no option at all, everything is hidden. prng_key messages are never
// hidden, and a hidden sample or plate site that still needs a key takes one
// from the enclosing seed, so seed(block(model)) draws what block(seed(model))
// draws.
//
//   tyche::block(model, {.hide = {"sigma"}});
//   tyche::block(model, {.expose = {"slope", "intercept"}});
//   tyche::block(model, {.expose_types = {tyche::SiteType::param}});
//   tyche::block(model, {.hide_fn = [](const tyche::Message& m) { return m.is_observed; }});
#pragma once

#include "tyche/effects/primitives.hpp"
#include "tyche/effects/runtime.hpp"

#include <algorithm>
#include <concepts>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tyche {

// A list option that may be left out, as NumPyro's None differs from []:
// `{.hide = {"a", "b"}}` and `{.hide = {}}` (an empty list) give one, a field
// not named gives none.
template <class T>
class OptionalList {
  // One element: a single-argument constructor, so that {"a", "b"} cannot be
  // mistaken for one std::string built from two pointers.
  struct Item {
    template <class U>
      requires std::constructible_from<T, U&&>
    Item(U&& value) : value(std::forward<U>(value)) {}
    T value;
  };

 public:
  OptionalList() = default;
  OptionalList(std::initializer_list<Item> items) {
    for (const Item& item : items) items_->push_back(item.value);
  }
  OptionalList(std::vector<T> items) : items_(std::move(items)) {}
  static OptionalList none() {
    OptionalList absent;
    absent.items_.reset();
    return absent;
  }

  bool given() const { return items_.has_value(); }
  bool contains(const T& value) const { return std::find(items_->begin(), items_->end(), value) != items_->end(); }

 private:
  std::optional<std::vector<T>> items_ = std::vector<T>{};
};

struct BlockOptions {
  OptionalList<std::string> hide = OptionalList<std::string>::none();
  OptionalList<std::string> expose = OptionalList<std::string>::none();
  OptionalList<SiteType> expose_types = OptionalList<SiteType>::none();
  std::function<bool(const Message&)> hide_fn = {};
};

namespace detail {

// The first option given wins, in NumPyro's order: hide_fn, hide,
// expose_types, expose; none hides everything.
inline std::function<bool(const Message&)> hide_predicate(BlockOptions o) {
  if (o.hide_fn) return std::move(o.hide_fn);
  if (o.hide.given()) return [names = std::move(o.hide)](const Message& m) { return names.contains(m.name); };
  if (o.expose_types.given())
    return [types = std::move(o.expose_types)](const Message& m) { return !types.contains(m.type); };
  if (o.expose.given()) return [names = std::move(o.expose)](const Message& m) { return !names.contains(m.name); };
  return [](const Message&) { return true; };
}

}  // namespace detail

template <class Fn = NoModel>
class block : public Handler<Fn> {
 public:
  explicit block(Fn fn, BlockOptions options = {})
      : Handler<Fn>(std::move(fn)), hide_(detail::hide_predicate(std::move(options))) {}
  explicit block(BlockOptions options = {})
    requires IsGuard<Fn>
      : hide_(detail::hide_predicate(std::move(options))) {}

  void process_message(Message& msg) override {
    if (msg.type == SiteType::prng_key || !hide_(msg)) return;
    msg.stop = true;
    // The seed outside would have keyed this site had it not been hidden:
    // ask it here, through a prng_key message (which block lets through).
    if ((msg.type == SiteType::sample || msg.type == SiteType::plate) && !msg.value && !msg.rng_key)
      msg.rng_key = prng_key();
  }

 private:
  std::function<bool(const Message&)> hide_;
};

template <class Fn>
block(Fn, BlockOptions = {}) -> block<Fn>;
block(BlockOptions) -> block<NoModel>;
block() -> block<NoModel>;

}  // namespace tyche
