// ELBO losses: the evidence lower bound of a model and a guide, estimated
// from draws of the guide (NumPyro's numpyro.infer.Trace_ELBO,
// TraceMeanField_ELBO and TraceGraph_ELBO), and the analytic KL divergences
// TraceMeanField_ELBO uses.
//
//   tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.05}), tyche::Trace_ELBO{.num_particles = 4});
//   tyche::Tensor loss = tyche::Trace_ELBO{}.loss(tyche::PRNGKey(0), params, model, guide, std::tuple{y});
//   tyche::SVI mf(model, guide, tyche::optim::Adam({.step_size = 0.05}), tyche::TraceMeanField_ELBO{});
//   tyche::Tensor kl = tyche::dist::kl_divergence(tyche::dist::Normal(0.0, 1.0), tyche::dist::Normal(1.0, 2.0));
//   tyche::SVI discrete(model, guide_with_a_bernoulli, tyche::optim::Adam({.step_size = 0.05}), tyche::TraceGraph_ELBO{});
//
// The loss is -ELBO = -E_q[log p(x, z) - log q(z)], averaged over
// num_particles draws. Each particle splits its key into the model's and the
// guide's (as NumPyro), runs the guide under seed and substitute(params),
// then the model replayed against the guide's trace; both log densities are
// trace_log_density of their traces, so plates, scale and mask weigh the
// sites as log_density does. The loss is differentiable with respect to the
// params through the guide's draws, which must therefore be
// reparameterised: value = f(params, noise).
//
// Guide sites tyche can differentiate through (NumPyro's has_rsample): the
// distributions whose draw is a differentiable function of their parameters
// and of parameter-free noise: Normal, HalfNormal, Cauchy, HalfCauchy,
// Laplace, Logistic, LogNormal, Exponential, Uniform, MultivariateNormal,
// Delta; Gamma, InverseGamma, Beta, StudentT, Dirichlet and LKJCholesky,
// whose Gamma draws are reparameterised implicitly (distributions/random.hpp);
// and TransformedDistribution over one of them; also under expand, to_event
// and mask. The discrete distributions draw without passing a gradient to
// their parameters: a guide site of one of them is an error naming it
// (TraceGraph_ELBO takes them).
//
// Guide and model must agree: every latent site of the guide is a latent site
// of the model and the other way round (NumPyro warns; tyche throws, naming
// the sites), except guide sites marked infer["is_auxiliary"].
//
// TraceMeanField_ELBO: as Trace_ELBO, but a latent site whose guide and model
// distributions have a KL divergence in closed form (kl_divergence below)
// contributes -KL(q || p), scaled by the guide site's scale and summed over
// its batch (its plates), in place of log p(z) - log q(z) at the draw; the
// other latent sites contribute that difference, observed sites log p, and
// the guide's auxiliary sites -log q, as NumPyro. The model's distribution
// is the one at the guide's draws of the sites before it, so the estimate is
// right when the guide is mean field, as NumPyro warns (tyche does not check).
//
// TraceGraph_ELBO: guide sites without a reparameterised sampler (discrete
// ones, say) are allowed, and their gradient comes from the score function
// (REINFORCE), as NumPyro's and Pyro's TraceGraph_ELBO: the loss's value is
// Trace_ELBO's (the non-reparameterised guide sites' log q held constant), and
// each such site k adds the surrogate sum(log q_k * stop_gradient(cost_k)) -
// stop_gradient(the same), worth 0, whose gradient is the score-function
// term. cost_k is the part of log p - log q that may depend on k: as Pyro's
// dense trace graphs, every guide site from k on (log p - log q of that
// site), and every model site after the first of those in the model's order
// (log p); a term in plates k is not in is summed over them, and over any
// other axis but k's own plates, so that element i of a plate sees only the
// costs of element i (Rao-Blackwellisation over plates). NumPyro finds the
// dependencies by provenance instead, which can leave out more terms; both
// are unbiased. No baseline (NumPyro has none either).
//
// kl_divergence(p, q), as NumPyro's registrations: Normal || Normal;
// MultivariateNormal || MultivariateNormal (one of each, no batch axes: a
// batched pair falls back to Monte Carlo in TraceMeanField_ELBO);
// Delta || anything (-log q(v) + the Delta's log_density); under expand (the
// KL broadcast to both batch shapes), to_event (Independent || Independent,
// summed over the shared event axes) and mask (Masked || Masked, zero where
// either masks). Other pairs throw std::invalid_argument naming them.
#pragma once

#include "tyche/core/indexing.hpp"
#include "tyche/core/linalg.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/core/triangular.hpp"
#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/delta.hpp"
#include "tyche/distributions/multivariate.hpp"
#include "tyche/distributions/transformed.hpp"
#include "tyche/distributions/wrappers.hpp"
#include "tyche/effects/handlers/replay.hpp"
#include "tyche/effects/handlers/seed.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"
#include "tyche/effects/log_density.hpp"
#include "tyche/effects/site_errors.hpp"
#include "tyche/infer/potential.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace tyche {

namespace dist::detail {

template <class T = Tensor>
Tensor kl_sum_rightmost(const std::type_identity_t<T>& x, int count) {
  if (count == 0) return x;
  std::vector<std::int64_t> dims(x.shape().begin(), x.shape().end() - count);
  dims.push_back(-1);
  return sum(x.reshape(dims), -1);
}

// KL(p || q) where a closed form is registered (see the top), else none.
template <class D = Distribution>
std::optional<Tensor> try_kl_divergence(const std::type_identity_t<D>& p, const Distribution& q) {
  const auto broadcast_kl = [&](const Distribution& base_p, const Distribution& base_q) -> std::optional<Tensor> {
    std::optional<Tensor> kl = try_kl_divergence<D>(base_p, base_q);
    if (!kl) return kl;
    const Shape shape = broadcast_shapes(p.batch_shape(), q.batch_shape(), "kl_divergence");
    return kl->shape() == shape ? *kl : broadcast_to(*kl, shape);
  };
  if (const auto* delta = dynamic_cast<const Delta*>(&p)) return delta->log_density() - q.log_prob(delta->v());
  if (const auto* e = dynamic_cast<const ExpandedDistribution*>(&q)) return broadcast_kl(p, e->base());
  if (const auto* e = dynamic_cast<const ExpandedDistribution*>(&p)) return broadcast_kl(e->base(), q);
  const auto* pi = dynamic_cast<const Independent*>(&p);
  const auto* qi = dynamic_cast<const Independent*>(&q);
  if (pi && qi) {
    const int shared = std::min(pi->reinterpreted_batch_ndims(), qi->reinterpreted_batch_ndims());
    const int p_left = pi->reinterpreted_batch_ndims() - shared, q_left = qi->reinterpreted_batch_ndims() - shared;
    const DistributionPtr p_rest = p_left ? pi->base().to_event(p_left).share() : pi->base().share();
    const DistributionPtr q_rest = q_left ? qi->base().to_event(q_left).share() : qi->base().share();
    std::optional<Tensor> kl = try_kl_divergence<D>(*p_rest, *q_rest);
    if (!kl) return kl;
    return kl_sum_rightmost(*kl, shared);
  }
  const auto* pm = dynamic_cast<const MaskedDistribution*>(&p);
  const auto* qm = dynamic_cast<const MaskedDistribution*>(&q);
  if (pm && qm) {
    std::optional<Tensor> kl = try_kl_divergence<D>(pm->base(), qm->base());
    if (!kl) return kl;
    return where(pm->mask_array() * qm->mask_array(), *kl, 0.0);
  }
  const auto* pv = dynamic_cast<const MultivariateNormal*>(&p);
  const auto* qv = dynamic_cast<const MultivariateNormal*>(&q);
  if (pv && qv && pv->scale_tril().ndim() == 2 && qv->scale_tril().ndim() == 2 && pv->loc().ndim() == 1 &&
      qv->loc().ndim() == 1 && pv->loc().dim(0) == qv->loc().dim(0)) {
    // 2 KL = tr(Sq^-1 Sp) + d^T Sq^-1 d - D + log det Sq - log det Sp, through the Cholesky factors.
    const Tensor m = solve_triangular(qv->scale_tril(), pv->scale_tril());
    const Tensor v = solve_triangular(qv->scale_tril(), (pv->loc() - qv->loc()).reshape({-1, 1}));
    const Tensor half_log_det_ratio =
        sum(log(matrix_diagonal(qv->scale_tril()))) - sum(log(matrix_diagonal(pv->scale_tril())));
    return 0.5 * (sum(square(m)) + sum(square(v)) - double(pv->loc().dim(0))) + half_log_det_ratio;
  }
  const auto* pn = dynamic_cast<const Normal*>(&p);
  const auto* qn = dynamic_cast<const Normal*>(&q);
  if (pn && qn) {
    const Tensor var_ratio = square(pn->scale() / qn->scale());
    const Tensor t1 = square((pn->loc() - qn->loc()) / qn->scale());
    return 0.5 * (var_ratio + t1 - 1.0 - log(var_ratio));
  }
  return std::nullopt;
}

}  // namespace dist::detail

namespace dist {

// KL(p || q) in closed form, shape: the broadcast batch shape of p and q.
// Throws std::invalid_argument for a pair without one (see the top).
template <class D = Distribution>
Tensor kl_divergence(const std::type_identity_t<D>& p, const Distribution& q) {
  std::optional<Tensor> kl = detail::try_kl_divergence<D>(p, q);
  if (!kl)
    throw std::invalid_argument("tyche: kl_divergence: no closed form for KL(" + p.name() + " || " + q.name() +
                                ") (tyche has Normal || Normal, MultivariateNormal || MultivariateNormal and Delta || any, under expand, to_event and mask)");
  return *kl;
}

}  // namespace dist

namespace detail {

// Whether a draw of `fn` carries gradients to fn's parameters (see the top).
template <class D = dist::Distribution>
bool has_rsample(const std::type_identity_t<D>& fn) {
  const dist::Distribution& d = innermost(fn);
  if (const auto* transformed = dynamic_cast<const dist::TransformedDistribution*>(&d))
    return has_rsample<D>(transformed->base());
  return dynamic_cast<const dist::Normal*>(&d) || dynamic_cast<const dist::HalfNormal*>(&d) ||
         dynamic_cast<const dist::Cauchy*>(&d) || dynamic_cast<const dist::HalfCauchy*>(&d) ||
         dynamic_cast<const dist::Laplace*>(&d) || dynamic_cast<const dist::Logistic*>(&d) ||
         dynamic_cast<const dist::LogNormal*>(&d) || dynamic_cast<const dist::Exponential*>(&d) ||
         dynamic_cast<const dist::Uniform*>(&d) || dynamic_cast<const dist::MultivariateNormal*>(&d) ||
         dynamic_cast<const dist::Delta*>(&d) || dynamic_cast<const dist::Gamma*>(&d) ||
         dynamic_cast<const dist::InverseGamma*>(&d) || dynamic_cast<const dist::Beta*>(&d) ||
         dynamic_cast<const dist::StudentT*>(&d) || dynamic_cast<const dist::Dirichlet*>(&d) ||
         dynamic_cast<const dist::LKJCholesky*>(&d);
}

inline bool is_auxiliary(const Message& site) {
  const auto it = site.infer.find("is_auxiliary");
  return it != site.infer.end() && std::holds_alternative<bool>(it->second) && std::get<bool>(it->second);
}

inline std::string latent_names(const Trace& trace) {
  std::string out;
  for (const Message& site : trace)
    if (site.type == SiteType::sample && !site.is_observed && !is_auxiliary(site))
      out += (out.empty() ? "`" : ", `") + site.name + "`";
  return out.empty() ? "none" : out;
}

// Throws unless the guide's latent sites are the model's latent sites, and
// every guide site draws with a reparameterised sampler (see the top).
template <class T = Trace>
void check_model_guide_match(const std::type_identity_t<T>& model_trace, const Trace& guide_trace,
                             const char* loss_name, bool require_rsample = true) {
  for (const Message& site : guide_trace) {
    if (site.type != SiteType::sample || site.is_observed || is_auxiliary(site)) continue;
    if (!model_trace.contains(site.name) || model_trace[site.name].type != SiteType::sample)
      throw std::invalid_argument(std::string("tyche: ") + loss_name + ": the guide's " + describe_site(site) +
                                  " is not a sample site of the model (the model's latent sites: " +
                                  latent_names(model_trace) +
                                  "); rename it, or mark it infer[\"is_auxiliary\"] = true if it is the guide's own");
    if (model_trace[site.name].is_observed)
      throw std::invalid_argument(std::string("tyche: ") + loss_name + ": the guide's " + describe_site(site) +
                                  " is observed in the model: a guide samples only the model's latent sites");
    if (require_rsample && !has_rsample(*site.fn))
      throw std::invalid_argument(std::string("tyche: ") + loss_name + ": the guide's " + describe_site(site) +
                                  " draws from " + site.fn->name() +
                                  ", which has no reparameterised sampler in tyche (its draws pass no gradient to "
                                  "its parameters); use TraceGraph_ELBO, whose score-function terms handle it, or a "
                                  "Normal (or a TransformedDistribution of one) there, as AutoNormal does");
  }
  for (const Message& site : model_trace) {
    if (site.type != SiteType::sample || site.is_observed || is_auxiliary(site)) continue;
    if (!guide_trace.contains(site.name))
      throw std::invalid_argument(std::string("tyche: ") + loss_name + ": the model's latent " + describe_site(site) +
                                  " is not in the guide (the guide's latent sites: " + latent_names(guide_trace) +
                                  "); every latent site of the model needs a guide site of the same name");
  }
}

// One particle's traces, as NumPyro: the key splits into the model's and the
// guide's; the guide runs under seed and substitute(params), then the model
// replayed against the guide's trace, inside `around_model` (TraceEnum_ELBO
// enumerates it there).
struct ParticleTraces {
  Trace model, guide;
};

template <class Model, class Guide, class ArgsTuple, class AroundModel = std::identity>
ParticleTraces run_particle(Key key, const ValueMap& params, const Model& model, const Guide& guide,
                            const ArgsTuple& args, const AroundModel& around_model = {}) {
  // Named keys, not a structured binding: lambdas below capture them, which
  // clang before 16 refuses for bindings.
  const std::array<Key, 2> keys = split(key);
  const Key model_key = keys[0], guide_key = keys[1];
  Trace guide_trace = std::apply(
      [&](const auto&... a) {
        return tyche::trace(tyche::substitute(tyche::seed(std::cref(guide), guide_key), params)).get_trace(a...);
      },
      args);
  Trace model_trace = std::apply(
      [&](const auto&... a) {
        return tyche::trace(around_model(tyche::substitute(
                                tyche::replay(tyche::seed(std::cref(model), model_key), guide_trace), params)))
            .get_trace(a...);
      },
      args);
  return {std::move(model_trace), std::move(guide_trace)};
}

// run_particle's traces, the guide checked against the model.
template <class Model, class Guide, class ArgsTuple>
ParticleTraces particle_traces(Key key, const ValueMap& params, const Model& model, const Guide& guide,
                               const ArgsTuple& args, const char* loss_name, bool require_rsample = true) {
  ParticleTraces traces = run_particle(key, params, model, guide, args);
  check_model_guide_match(traces.model, traces.guide, loss_name, require_rsample);
  return traces;
}

// -(mean over num_particles of particle(key)), each particle on its own key
// of split(key, num_particles); one particle uses the key itself.
template <class Particle>
Tensor negative_mean_over_particles(Key key, int num_particles, const char* loss_name, const Particle& particle) {
  if (num_particles < 1)
    throw std::invalid_argument(std::string("tyche: ") + loss_name + ": num_particles must be >= 1, got " +
                                std::to_string(num_particles));
  if (num_particles == 1) return -particle(key);
  std::vector<Tensor> elbos;
  elbos.reserve(std::size_t(num_particles));
  for (const Key& particle_key : split(key, num_particles)) elbos.push_back(particle(particle_key));
  return -add_n(elbos) / double(num_particles);
}

// A site's log_prob array, weighted by its scale (NumPyro's site["log_prob"]).
template <class M = Message>
Tensor scaled_log_prob(const std::type_identity_t<M>& site) {
  const Tensor log_prob = site.fn->log_prob(*site.value);
  return site.scale ? log_prob * *site.scale : log_prob;
}

// Sums `cost` (of a site in `frames`) over every axis but those of the
// plates it shares with the target, keeping them; then drops leading axes of
// length 1. Pyro's MultiFrameTensor.sum_to, which sums the plates the target
// is not in; here the axes of no plate are summed too, which can only add
// terms, never drop one.
template <class T = Tensor>
Tensor sum_to_plates(const std::type_identity_t<T>& cost, const std::vector<CondIndepStackFrame>& frames,
                     const std::vector<CondIndepStackFrame>& target) {
  Tensor out = cost;
  for (int axis = -out.ndim(); axis < 0; ++axis) {
    const bool kept = std::any_of(target.begin(), target.end(), [&](const CondIndepStackFrame& f) {
      return f.dim == axis && std::find(frames.begin(), frames.end(), f) != frames.end();
    });
    if (!kept && out.dim(axis) != 1) out = sum(out, axis, true);
  }
  std::vector<std::int64_t> dims(out.shape().begin(), out.shape().end());
  std::size_t lead = 0;
  while (lead < dims.size() && dims[lead] == 1) ++lead;
  return lead == 0 ? out : out.reshape(std::vector<std::int64_t>(dims.begin() + std::ptrdiff_t(lead), dims.end()));
}

// One particle of TraceGraph_ELBO (see the top).
template <class T = Trace>
Tensor tracegraph_particle(const std::type_identity_t<T>& model_trace, const Trace& guide_trace) {
  std::vector<const Message*> guide_sites, model_sites;
  for (const Message& site : guide_trace)
    if (site.type == SiteType::sample) guide_sites.push_back(&site);
  for (const Message& site : model_trace)
    if (site.type == SiteType::sample) model_sites.push_back(&site);
  const auto model_position = [&](const std::string& name) {
    for (std::size_t i = 0; i < model_sites.size(); ++i)
      if (model_sites[i]->name == name) return i;
    return model_sites.size();
  };
  const auto reparameterised = [](const Message& site) { return site.is_observed || has_rsample(*site.fn); };

  std::vector<Tensor> terms;
  for (const Message* site : model_sites) terms.push_back(site_log_density(*site));
  for (const Message* site : guide_sites)
    terms.push_back(reparameterised(*site) ? -site_log_density(*site) : -stop_gradient(site_log_density(*site)));

  for (std::size_t k = 0; k < guide_sites.size(); ++k) {
    const Message& node = *guide_sites[k];
    if (reparameterised(node)) continue;
    const std::vector<CondIndepStackFrame>& target = node.cond_indep_stack;
    Tensor cost = 0.0;  // broadcasting sums: the terms keep different plate axes
    std::size_t first_in_model = model_sites.size();
    std::vector<bool> counted(model_sites.size(), false);
    for (std::size_t j = k; j < guide_sites.size(); ++j) {
      const Message& later = *guide_sites[j];
      cost = cost - sum_to_plates(scaled_log_prob(later), later.cond_indep_stack, target);
      const std::size_t m = model_position(later.name);
      if (m == model_sites.size()) continue;  // an auxiliary site
      cost = cost + sum_to_plates(scaled_log_prob(*model_sites[m]), model_sites[m]->cond_indep_stack, target);
      counted[m] = true;
      first_in_model = std::min(first_in_model, m);
    }
    for (std::size_t m = first_in_model + 1; m < model_sites.size(); ++m)
      if (!counted[m])
        cost = cost + sum_to_plates(scaled_log_prob(*model_sites[m]), model_sites[m]->cond_indep_stack, target);
    const Tensor downstream = stop_gradient(cost);
    const Tensor surrogate = sum(scaled_log_prob(node) * downstream);
    terms.push_back(surrogate - stop_gradient(surrogate));
  }
  return add_n(terms);
}

}  // namespace detail

struct Trace_ELBO {
  int num_particles = 1;

  // -ELBO at `params` (constrained values of the param sites, by name), as
  // one rank-0 array carrying gradients to them. `args` is the tuple of
  // arguments both the model and the guide take.
  template <class Model, class Guide, class... Args>
  Tensor loss(Key key, const ValueMap& params, const Model& model, const Guide& guide,
              const std::tuple<Args...>& args) const {
    return detail::negative_mean_over_particles(key, num_particles, "Trace_ELBO", [&](Key particle_key) {
      const auto traces = detail::particle_traces(particle_key, params, model, guide, args, "Trace_ELBO");
      return trace_log_density(traces.model) - trace_log_density(traces.guide);
    });
  }
};

struct TraceGraph_ELBO {
  int num_particles = 1;

  // -ELBO at `params`, as Trace_ELBO::loss, with score-function terms for the
  // guide's non-reparameterised sites (see the top).
  template <class Model, class Guide, class... Args>
  Tensor loss(Key key, const ValueMap& params, const Model& model, const Guide& guide,
              const std::tuple<Args...>& args) const {
    return detail::negative_mean_over_particles(key, num_particles, "TraceGraph_ELBO", [&](Key particle_key) {
      const auto traces = detail::particle_traces(particle_key, params, model, guide, args, "TraceGraph_ELBO", false);
      return detail::tracegraph_particle(traces.model, traces.guide);
    });
  }
};

struct TraceMeanField_ELBO {
  int num_particles = 1;

  // -ELBO at `params`, as Trace_ELBO::loss, with analytic KL terms (see the top).
  template <class Model, class Guide, class... Args>
  Tensor loss(Key key, const ValueMap& params, const Model& model, const Guide& guide,
              const std::tuple<Args...>& args) const {
    return detail::negative_mean_over_particles(key, num_particles, "TraceMeanField_ELBO", [&](Key particle_key) {
      const auto traces = detail::particle_traces(particle_key, params, model, guide, args, "TraceMeanField_ELBO");
      std::vector<Tensor> terms;
      for (const Message& site : traces.model) {
        if (site.type != SiteType::sample) continue;
        try {
          if (site.is_observed) {
            terms.push_back(detail::site_log_density(site));
            continue;
          }
          const Message& guide_site = traces.guide[site.name];
          if (std::optional<Tensor> kl = dist::detail::try_kl_divergence(*guide_site.fn, *site.fn)) {
            terms.push_back(-(guide_site.scale ? sum(*kl * *guide_site.scale) : sum(*kl)));
          } else {
            terms.push_back(detail::site_log_density(site));
            terms.push_back(-detail::site_log_density(guide_site));
          }
        } catch (...) {
          detail::rethrow_naming_site(site);
        }
      }
      for (const Message& site : traces.guide)
        if (site.type == SiteType::sample && !traces.model.contains(site.name))
          terms.push_back(-detail::site_log_density(site));
      return terms.empty() ? Tensor(0.0) : add_n(terms);
    });
  }
};

}  // namespace tyche
