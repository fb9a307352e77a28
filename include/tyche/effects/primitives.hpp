// The primitives a model calls: sample, param, deterministic, factor,
// prng_key and get_mask. Each builds a Message and sends it through the handler
// stack; with no handler at all they do the obvious thing directly (sample
// draws with a default key, param returns its initial value).
//
//   auto model = [](const tyche::Tensor& x, std::optional<tyche::Tensor> y) {
//     auto slope = tyche::sample("slope", tyche::dist::Normal(0.0, 5.0));
//     auto mu = tyche::deterministic("mu", slope * x);
//     return tyche::sample("obs", tyche::dist::Normal(mu, 1.0), y);
//   };
#pragma once

#include "tyche/distributions/delta.hpp"
#include "tyche/effects/runtime.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace tyche {

// The key `sample` draws with when no handler is active (jax.random.PRNGKey(0)).
inline constexpr Key kDefaultKey = PRNGKey(0);

struct SampleOptions {
  Shape sample_shape = {};  // extra leading axes drawn for this site
  Infer infer = {};
  std::optional<Key> rng_key = {};  // draw with this key instead of one from seed
};

// A random variable `name` with distribution `fn`; observed when `obs` is given.
inline Tensor sample(std::string_view name, const dist::Distribution& fn, std::optional<Tensor> obs = std::nullopt,
                     SampleOptions options = {}) {
  if (detail::handler_stack().empty())
    return obs ? *std::move(obs) : fn.sample(options.rng_key.value_or(kDefaultKey), options.sample_shape);
  Message msg;
  msg.type = SiteType::sample;
  msg.name = name;
  msg.fn = fn.share();
  msg.is_observed = obs.has_value();
  msg.value = std::move(obs);
  msg.sample_shape = options.sample_shape;
  msg.infer = std::move(options.infer);
  msg.rng_key = options.rng_key;
  apply_stack(msg);
  return *std::move(msg.value);
}

// A parameter (for optimisation): its initial value unless a handler
// substitutes one. `constraint` says where it lives (positive, simplex, ...).
inline Tensor param(std::string_view name, Tensor init, const constraints::Constraint& constraint = constraints::real) {
  if (detail::handler_stack().empty()) return init;
  Message msg;
  msg.type = SiteType::param;
  msg.name = name;
  msg.init = std::move(init);
  msg.constraint = constraint;
  apply_stack(msg);
  return *std::move(msg.value);
}

// Records `value` in the trace under `name` (a substitute handler may replace it).
inline Tensor deterministic(std::string_view name, Tensor value) {
  if (detail::handler_stack().empty()) return value;
  Message msg;
  msg.type = SiteType::deterministic;
  msg.name = name;
  msg.value = std::move(value);
  apply_stack(msg);
  return *std::move(msg.value);
}

// Adds `log_factor` (summed) to the model's log density: an observed site of
// the Unit distribution, marked infer["is_auxiliary"].
inline void factor(std::string_view name, const Tensor& log_factor) {
  const dist::Unit unit(log_factor);
  sample(name, unit, unit.sample(kDefaultKey), {.infer = {{"is_auxiliary", true}}});
}

// A fresh key from the enclosing seed handler; none outside one.
inline std::optional<Key> prng_key() {
  if (detail::handler_stack().empty()) return std::nullopt;
  Message msg;
  msg.type = SiteType::prng_key;
  apply_stack(msg);
  return msg.rng_key;
}

// The mask the enclosing mask handlers apply here (their product); none when
// unmasked. Lets a model skip work whose log density is masked out anyway.
inline std::optional<Tensor> get_mask() {
  if (detail::handler_stack().empty()) return std::nullopt;
  Message msg;
  msg.type = SiteType::inspect;
  apply_stack(msg);
  return msg.mask;
}

}  // namespace tyche
