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
#include <vector>

namespace tyche {

struct LogDensity {
  Tensor log_joint;
  Trace trace;
};

namespace detail {

// One site's summed log density, scaled. A scalar scale multiplies the sum;
// an array scale weighs the elements of log_prob before they are summed.
inline Tensor site_log_density(const Message& site) {
  const Tensor& value = *site.value;
  if (!site.scale) return site.fn->log_prob_sum(value);
  if (site.scale->size() == 1) return site.fn->log_prob_sum(value) * site.scale->reshape(Shape{});
  return sum(*site.scale * site.fn->log_prob(value));
}

}  // namespace detail

// The log joint of a recorded trace: one add_n of a term per sample site
// (factors included), each the site's log_prob_sum (one fused node for the
// common distributions), scaled; so that a compiled gradient sees a sum of
// summed densities. Rank 0; 0 when the trace has no sample site. An error in
// a site's log density names the site.
inline Tensor trace_log_density(const Trace& trace) {
  std::vector<Tensor> terms;
  terms.reserve(trace.size());
  for (const Message& site : trace) {
    if (site.type != SiteType::sample) continue;
    try {
      terms.push_back(detail::site_log_density(site));
    } catch (...) {
      detail::rethrow_naming_site(site);
    }
  }
  if (terms.empty()) return 0.0;
  return add_n(terms);
}

template <class Model, class... Args>
LogDensity log_density(const Model& model, const std::tuple<Args...>& args, const ValueMap& params) {
  const auto run = trace(substitute(std::cref(model), params));
  Trace recorded = std::apply([&](const auto&... a) { return run.get_trace(a...); }, args);
  Tensor log_joint = trace_log_density(recorded);
  return {std::move(log_joint), std::move(recorded)};
}

}  // namespace tyche
