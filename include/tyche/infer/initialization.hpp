// Init strategies: where a chain starts (NumPyro's numpyro.infer.initialization).
//
// A strategy gives the value of one latent site while the model runs under
// seed, so that a support that depends on another site (Uniform(0, b) with b
// sampled) is the one at the values already chosen. Observed sites, sites
// with a value and non-sample sites are left alone.
//
//   tyche::NUTS(model, {.init_strategy = tyche::init_to_median()});
//   tyche::NUTS(model, {.init_strategy = tyche::init_to_value({{"mu", 0.0}})});
//
// The strategies:
//   init_to_uniform(radius = 2)  uniform in (-radius, radius) on the unconstrained space (the default)
//   init_to_feasible()           the unconstrained point 0 (init_to_uniform with radius 0)
//   init_to_median(n = 15)       the elementwise median of n prior draws
//   init_to_mean()               the prior mean; the median where the mean is not finite (Cauchy)
//   init_to_sample()             one prior draw
//   init_to_value(values)        the given values; other sites as init_to_uniform
//
// Each is a template over a defaulted parameter (the idiom of
// core/tensor.hpp): it reaches biject_to and every transform, which a
// program that never samples should not compile.
#pragma once

#include "tyche/distributions/biject_to.hpp"
#include "tyche/distributions/random.hpp"
#include "tyche/effects/handlers/condition.hpp"
#include "tyche/effects/message.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <type_traits>
#include <vector>

namespace tyche {

// A site's initial value, or none to leave the site to the model.
using InitStrategy = std::function<std::optional<Tensor>(const Message&)>;

namespace detail {

inline bool takes_initial_value(const Message& site) {
  return site.type == SiteType::sample && !site.is_observed && !site.value && !site.fn->is_discrete();
}

inline Key init_key(const Message& site) {
  if (!site.rng_key)
    throw std::logic_error("tyche: init strategy: sample site `" + site.name + "` has no key: run the model under seed");
  return *site.rng_key;
}

// The elementwise median of draws stacked on axis 0 (the middle one of an
// odd count, the mean of the two middle ones of an even count).
template <class T = Tensor>
Tensor median_over_draws(const std::type_identity_t<T>& draws) {
  const std::int64_t n = draws.dim(0), m = draws.size() / n;
  const double* values = draws.data();
  std::vector<double> column(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(m));
  for (std::int64_t j = 0; j < m; ++j) {
    for (std::int64_t i = 0; i < n; ++i) column[std::size_t(i)] = values[i * m + j];
    std::sort(column.begin(), column.end());
    out[std::size_t(j)] = n % 2 ? column[std::size_t(n / 2)] : 0.5 * (column[std::size_t(n / 2 - 1)] + column[std::size_t(n / 2)]);
  }
  Shape shape;
  for (int axis = 1; axis < draws.ndim(); ++axis) shape.push_back(draws.dim(axis));
  return Tensor(out, shape);
}

}  // namespace detail

template <class T = double>
InitStrategy init_to_uniform(std::type_identity_t<T> radius = 2.0) {
  if (!(radius >= 0.0)) throw std::invalid_argument("tyche: init_to_uniform: radius must be >= 0, got " + std::to_string(radius));
  return [radius](const Message& site) -> std::optional<Tensor> {
    if (!detail::takes_initial_value(site)) return std::nullopt;
    const auto transform = biject_to(site.fn->support());
    const Shape coordinates = transform->inverse_shape(site.fn->shape(site.sample_shape));
    return transform->forward(random::uniform(detail::init_key(site), coordinates, -radius, radius));
  };
}

template <class T = double>
InitStrategy init_to_feasible() {
  return init_to_uniform<T>(0.0);
}

template <class T = double>
InitStrategy init_to_sample() {
  return [](const Message& site) -> std::optional<Tensor> {
    if (!detail::takes_initial_value(site)) return std::nullopt;
    return site.fn->sample(detail::init_key(site), site.sample_shape);
  };
}

template <class T = int>
InitStrategy init_to_median(std::type_identity_t<T> num_samples = 15) {
  if (num_samples < 1)
    throw std::invalid_argument("tyche: init_to_median: num_samples must be >= 1, got " + std::to_string(num_samples));
  return [num_samples](const Message& site) -> std::optional<Tensor> {
    if (!detail::takes_initial_value(site)) return std::nullopt;
    Shape draws_shape{num_samples};
    for (std::int64_t d : site.sample_shape) draws_shape.push_back(d);
    return detail::median_over_draws(site.fn->sample(detail::init_key(site), draws_shape));
  };
}

template <class T = int>
InitStrategy init_to_mean() {
  return [median = init_to_median<T>()](const Message& site) -> std::optional<Tensor> {
    if (!detail::takes_initial_value(site)) return std::nullopt;
    const Tensor mean = site.fn->mean();
    const auto finite = [](const Tensor& t) {
      return std::all_of(t.data(), t.data() + t.size(), [](double v) { return std::isfinite(v); });
    };
    if (!finite(mean)) return median(site);
    return broadcast_to(mean, site.fn->shape(site.sample_shape));
  };
}

// The given values (constrained, as the model's sites take them); sites
// without one start as init_to_uniform(radius) places them.
template <class T = double>
InitStrategy init_to_value(ValueMap values, std::type_identity_t<T> radius = 2.0) {
  return [values = std::move(values), uniform = init_to_uniform<T>(radius)](const Message& site) -> std::optional<Tensor> {
    if (!detail::takes_initial_value(site)) return std::nullopt;
    if (const auto it = values.find(site.name); it != values.end()) return it->second;
    return uniform(site);
  };
}

}  // namespace tyche
