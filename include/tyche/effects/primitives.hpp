// The primitives a model calls: sample, param, deterministic, factor,
// subsample, prng_key and get_mask. Each builds a Message and sends it through the handler
// stack; with no handler at all they do the obvious thing directly (sample
// draws with a default key, param returns its initial value).
//
//   auto model = [](const tyche::Tensor& x, std::optional<tyche::Tensor> y) {
//     auto slope = tyche::sample("slope", tyche::dist::Normal(0.0, 5.0));
//     auto mu = tyche::deterministic("mu", slope * x);
//     return tyche::sample("obs", tyche::dist::Normal(mu, 1.0), y);
//   };
//   // y with missing entries (NaN where `seen` is 0): observed where seen, imputed elsewhere
//   tyche::sample("obs", tyche::dist::Normal(mu, 1.0), y, {.obs_mask = seen});
#pragma once

#include "tyche/core/indexing.hpp"
#include "tyche/distributions/delta.hpp"
#include "tyche/effects/handlers/mask.hpp"
#include "tyche/effects/runtime.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tyche {

// The key `sample` draws with when no handler is active (jax.random.PRNGKey(0)).
inline constexpr Key kDefaultKey = PRNGKey(0);

struct SampleOptions {
  Shape sample_shape = {};  // extra leading axes drawn for this site
  Infer infer = {};
  std::optional<Key> rng_key = {};  // draw with this key instead of one from seed
  // 0/1, broadcasting with the batch shape: observe `obs` where 1, impute
  // (sample) where 0. See masked_observe below; NumPyro: not meant for MCMC.
  std::optional<Tensor> obs_mask = {};
};

namespace detail {

// NumPyro's _masked_observe: the site splits into `name_observed` (the
// observation, counted where the mask is 1), a latent `name_unobserved`
// (counted where it is 0) and the deterministic `name`, which interleaves
// them and is returned. Observations the mask leaves out may be NaN.
inline Tensor masked_observe(std::string_view name, const dist::Distribution& fn, std::optional<Tensor> obs,
                             SampleOptions options);

}  // namespace detail

// A random variable `name` with distribution `fn`; observed when `obs` is given.
inline Tensor sample(std::string_view name, const dist::Distribution& fn, std::optional<Tensor> obs = std::nullopt,
                     SampleOptions options = {}) {
  if (detail::handler_stack().empty())
    return obs ? *std::move(obs) : fn.sample(options.rng_key.value_or(kDefaultKey), options.sample_shape);
  if (options.obs_mask) return detail::masked_observe(name, fn, std::move(obs), std::move(options));
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

struct ParamOptions {
  constraints::Constraint constraint = constraints::real;  // where it lives (positive, simplex, ...)
  // How many rightmost axes are not batch axes: a plate around the param
  // then subsamples the axis at its dim (left of these). None: no plate
  // subsamples it.
  std::optional<int> event_dim = {};
};

// A parameter (for optimisation): its initial value unless a handler
// substitutes one.
//
//   auto loc = tyche::param("loc", tyche::Tensor::zeros({100}), {.event_dim = 0});   // inside plate("data", 100, ...)
inline Tensor param(std::string_view name, Tensor init, ParamOptions options) {
  if (options.event_dim && *options.event_dim < 0)
    throw std::invalid_argument("tyche: param `" + std::string(name) + "`: event_dim must be >= 0, got " +
                                std::to_string(*options.event_dim));
  if (detail::handler_stack().empty()) return init;
  Message msg;
  msg.type = SiteType::param;
  msg.name = name;
  msg.init = std::move(init);
  msg.constraint = std::move(options.constraint);
  msg.event_dim = options.event_dim;
  apply_stack(msg);
  return *std::move(msg.value);
}
inline Tensor param(std::string_view name, Tensor init, const constraints::Constraint& constraint = constraints::real) {
  return param(name, std::move(init), ParamOptions{.constraint = constraint});
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

namespace detail {

inline Tensor masked_observe(std::string_view name, const dist::Distribution& fn, std::optional<Tensor> obs,
                             SampleOptions options) {
  const std::string site(name);
  if (options.sample_shape.rank() > 0)
    throw std::invalid_argument("tyche: site `" + site + "`: obs_mask cannot be combined with sample_shape " +
                                options.sample_shape.str() + " (NumPyro ignores it): give the distribution that batch shape");
  Tensor keep = *std::move(options.obs_mask);
  options.obs_mask.reset();
  const double* k = keep.data();
  if (const auto bad = std::find_if(k, k + keep.size(), [](double v) { return v != 0.0 && v != 1.0; }); bad != k + keep.size())
    throw std::invalid_argument("tyche: site `" + site + "`: obs_mask must be 0 or 1 (a boolean array), got " +
                                std::to_string(*bad) + " at flat index " + std::to_string(bad - k));
  Tensor observed, unobserved;
  {
    tyche::mask counted(keep);
    observed = sample(site + "_observed", fn, std::move(obs), options);
  }
  {
    tyche::mask counted(1.0 - keep);
    unobserved = sample(site + "_unobserved", fn, std::nullopt, options);
  }
  Shape batch_mask_shape = keep.shape();
  for (int i = 0; i < fn.event_dim(); ++i) batch_mask_shape.push_back(1);
  return deterministic(name, where(keep.reshape(batch_mask_shape), observed, unobserved));
}

}  // namespace detail

// The part of `data` that the enclosing subsampling plates select: each takes
// its indices along its dim, counted left of the `event_dim` rightmost axes
// (NumPyro's numpyro.subsample). Outside a subsampling plate, `data` itself.
//
//   tyche::plate batch("batch", 1000, 32);
//   auto x_batch = tyche::subsample(x, 1);     // x: (1000, 3) -> (32, 3)
inline Tensor subsample(Tensor data, int event_dim) {
  if (event_dim < 0)
    throw std::invalid_argument("tyche: subsample: event_dim must be >= 0, got " + std::to_string(event_dim));
  if (detail::handler_stack().empty()) return data;
  Message msg;
  msg.type = SiteType::subsample;
  msg.value = std::move(data);
  msg.event_dim = event_dim;
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
