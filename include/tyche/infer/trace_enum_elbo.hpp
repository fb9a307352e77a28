// TraceEnum_ELBO: the ELBO with the model's enumerated discrete sites summed
// out exactly (NumPyro's numpyro.infer.TraceEnum_ELBO, for guides without
// enumerated sites of their own).
//
//   auto model = tyche::config_enumerate([](const tyche::Tensor& data) {   // marks `z` "parallel"
//     auto weights = tyche::sample("weights", tyche::dist::Dirichlet(tyche::Tensor{0.5, 0.5}));
//     auto locs = tyche::param("locs", tyche::Tensor{0.0, 10.0});
//     tyche::plate points("data", data.size());
//     auto z = tyche::sample("z", tyche::dist::Categorical({.probs = weights}));
//     tyche::sample("x", tyche::dist::Normal(tyche::take(locs, z), 1.0), data);
//   });
//   tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.1}), tyche::TraceEnum_ELBO{.max_plate_nesting = 1});
//
// Each particle runs the guide under seed and substitute(params), then the
// model replayed against the guide's trace under
// enumerate(first_available_dim = -max_plate_nesting - 1): the model's latent
// sites marked infer["enumerate"] = "parallel" (config_enumerate marks every
// discrete one) take all their values, and the loss is
//   -(enum_log_density(model trace) - log q(guide trace)),
// the enumerated values summed out by variable elimination (see
// effects/handlers/enum.hpp), averaged over num_particles. Every other latent
// site of the model must be in the guide, drawn with a reparameterised
// sampler, as for Trace_ELBO (elbo.hpp). max_plate_nesting defaults to the
// deepest plate nesting of one run of the model (NumPyro guesses it the same
// way); give it to save that run.
#pragma once

#include "tyche/effects/handlers/enum.hpp"
#include "tyche/infer/elbo.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

namespace tyche {

struct TraceEnum_ELBO {
  int num_particles = 1;
  std::optional<int> max_plate_nesting = std::nullopt;

  // -ELBO at `params`, as Trace_ELBO::loss: rank 0, with gradients to them.
  template <class Model, class Guide, class... Args>
  Tensor loss(Key key, const ValueMap& params, const Model& model, const Guide& guide,
              const std::tuple<Args...>& args) const {
    const int nesting = max_plate_nesting ? *max_plate_nesting : std::apply([&](const auto&... a) {
      return guess_max_plate_nesting(trace(substitute(seed(std::cref(model), key), params)).get_trace(a...));
    }, args);
    if (nesting < 0)
      throw std::invalid_argument("tyche: TraceEnum_ELBO: max_plate_nesting must be >= 0, got " +
                                  std::to_string(nesting));
    return detail::negative_mean_over_particles(key, num_particles, "TraceEnum_ELBO", [&](Key particle_key) {
      const auto enumerated = [nesting](auto replayed) { return enumerate(std::move(replayed), -nesting - 1); };
      return particle_elbo(detail::run_particle(particle_key, params, model, guide, args, enumerated), nesting);
    });
  }

 private:
  static Tensor particle_elbo(const detail::ParticleTraces& traces, int nesting) {
    for (const Message& site : traces.guide)
      if (site.type == SiteType::sample && !site.is_observed && detail::marked_parallel(site))
        throw std::invalid_argument("tyche: TraceEnum_ELBO: the guide's " + detail::describe_site(site) +
                                    " is marked for enumeration; tyche enumerates the model's sites only");
    // The guide must cover the model's latent sites that are not enumerated.
    Trace not_enumerated;
    for (const Message& site : traces.model) {
      if (detail::enumerate_dim(site)) continue;
      if (detail::is_latent(site) && !traces.guide.contains(site.name) && site.fn->is_discrete())
        throw std::invalid_argument("tyche: TraceEnum_ELBO: the model's discrete latent " + detail::describe_site(site) +
                                    " is neither in the guide nor enumerated: mark it infer[\"enumerate\"] = "
                                    "\"parallel\", or wrap the model in tyche::config_enumerate");
      not_enumerated.record(site);
    }
    detail::check_model_guide_match(not_enumerated, traces.guide, "TraceEnum_ELBO");
    return enum_log_density(traces.model, nesting) - trace_log_density(traces.guide);
  }
};

}  // namespace tyche
