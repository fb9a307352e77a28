// log_density: the log joint density of a model at given site values, with
// the trace of the run: every sample site's log_prob at its value, scaled by
// the site's scale, masked by its mask, summed; factors included.
//
//   auto [log_joint, tr] = tyche::log_density(model, std::tuple{x, y}, {{"slope", 2.0}, {"sigma", 0.5}});
#pragma once

#include "tyche/core/reduce.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"

#include <functional>
#include <tuple>

namespace tyche {

struct LogDensity {
  Tensor log_joint;
  Trace trace;
};

// The summed, scaled log densities of the sample sites of a recorded trace.
// An error in a site's log density names the site.
inline Tensor trace_log_density(const Trace& trace) {
  Tensor total = 0.0;
  for (const Message& site : trace) {
    if (site.type != SiteType::sample) continue;
    try {
      // The scale may be an array (per element of the log density): apply
      // it before summing.
      const Tensor lp = site.fn->log_prob(*site.value);
      total = total + sum(site.scale ? *site.scale * lp : lp);
    } catch (...) {
      detail::rethrow_naming_site(site);
    }
  }
  return total;
}

template <class Model, class... Args>
LogDensity log_density(const Model& model, const std::tuple<Args...>& args, const ValueMap& params) {
  const auto run = trace(substitute(std::cref(model), params));
  Trace recorded = std::apply([&](const auto&... a) { return run.get_trace(a...); }, args);
  Tensor log_joint = trace_log_density(recorded);
  return {std::move(log_joint), std::move(recorded)};
}

}  // namespace tyche
