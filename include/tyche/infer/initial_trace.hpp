// The run that finds a model's sites before inference (NumPyro's
// initialize_model does the same run): the model once under seed(0), traced,
// with each ImproperUniform site, which cannot be sampled, at a point of its
// support.
//
//   tyche::Trace initial = tyche::detail::initial_trace(model, std::tuple{y});
//   tyche::LatentLayout layout(initial);   // what potential_energy and MCMC do
//
// get_model_relations (inspect.hpp) makes the same run inside a provenance
// recording.
#pragma once

#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/wrappers.hpp"
#include "tyche/effects/handlers/seed.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"

#include <functional>
#include <optional>
#include <tuple>

namespace tyche::detail {

// The distribution under expand, to_event and mask wrappers.
inline const dist::Distribution& innermost(const dist::Distribution& fn) {
  if (const auto* d = dynamic_cast<const dist::ExpandedDistribution*>(&fn)) return innermost(d->base());
  if (const auto* d = dynamic_cast<const dist::Independent*>(&fn)) return innermost(d->base());
  if (const auto* d = dynamic_cast<const dist::MaskedDistribution*>(&fn)) return innermost(d->base());
  return fn;
}

// A point of the support for an unobserved ImproperUniform site (under any
// wrapper a plate or to_event adds); none for the other sites, which seed
// draws.
template <class = void>
std::optional<Tensor> feasible_if_improper(const Message& site) {
  if (site.type != SiteType::sample || site.is_observed || site.value) return std::nullopt;
  if (!dynamic_cast<const dist::ImproperUniform*>(&innermost(*site.fn))) return std::nullopt;
  return site.fn->support().feasible_like(Tensor::zeros(site.fn->shape(site.sample_shape)));
}

// The trace of model(args...) under seed(0), ImproperUniform sites given
// feasible values (see the top).
template <class Model, class ArgsTuple>
Trace initial_trace(const Model& model, const ArgsTuple& args) {
  return std::apply(
      [&](const auto&... a) {
        return tyche::trace(tyche::substitute(tyche::seed(std::cref(model), 0), feasible_if_improper<>))
            .get_trace(a...);
      },
      args);
}

}  // namespace tyche::detail
