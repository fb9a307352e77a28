// Trace_ELBO: the evidence lower bound of a model and a guide, estimated with
// reparameterised draws from the guide (NumPyro's numpyro.infer.Trace_ELBO).
//
//   tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.05}), tyche::Trace_ELBO{.num_particles = 4});
//   tyche::Tensor loss = tyche::Trace_ELBO{}.loss(tyche::PRNGKey(0), params, model, guide, std::tuple{y});
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
// Delta, and TransformedDistribution over one of them; also under expand,
// to_event and mask. Gamma, InverseGamma, Beta, StudentT, Dirichlet,
// LKJCholesky and the discrete distributions draw without passing a gradient
// to their parameters: a guide site of one of them is an error naming it.
//
// Guide and model must agree: every latent site of the guide is a latent site
// of the model and the other way round (NumPyro warns; tyche throws, naming
// the sites), except guide sites marked infer["is_auxiliary"].
#pragma once

#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/delta.hpp"
#include "tyche/distributions/multivariate.hpp"
#include "tyche/distributions/transformed.hpp"
#include "tyche/effects/handlers/replay.hpp"
#include "tyche/effects/handlers/seed.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"
#include "tyche/effects/log_density.hpp"
#include "tyche/effects/site_errors.hpp"
#include "tyche/infer/potential.hpp"

#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace tyche {

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
         dynamic_cast<const dist::Delta*>(&d);
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
                             const char* loss_name) {
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
    if (!has_rsample(*site.fn))
      throw std::invalid_argument(std::string("tyche: ") + loss_name + ": the guide's " + describe_site(site) +
                                  " draws from " + site.fn->name() +
                                  ", which has no reparameterised sampler in tyche (its draws pass no gradient to "
                                  "its parameters); use a Normal (or a TransformedDistribution of one) there, as "
                                  "AutoNormal does");
  }
  for (const Message& site : model_trace) {
    if (site.type != SiteType::sample || site.is_observed || is_auxiliary(site)) continue;
    if (!guide_trace.contains(site.name))
      throw std::invalid_argument(std::string("tyche: ") + loss_name + ": the model's latent " + describe_site(site) +
                                  " is not in the guide (the guide's latent sites: " + latent_names(guide_trace) +
                                  "); every latent site of the model needs a guide site of the same name");
  }
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
    if (num_particles < 1)
      throw std::invalid_argument("tyche: Trace_ELBO: num_particles must be >= 1, got " +
                                  std::to_string(num_particles));
    if (num_particles == 1) return -particle_elbo(key, params, model, guide, args);
    std::vector<Tensor> elbos;
    elbos.reserve(std::size_t(num_particles));
    for (const Key& particle_key : split(key, num_particles))
      elbos.push_back(particle_elbo(particle_key, params, model, guide, args));
    return -add_n(elbos) / double(num_particles);
  }

 private:
  template <class Model, class Guide, class ArgsTuple>
  static Tensor particle_elbo(Key key, const ValueMap& params, const Model& model, const Guide& guide,
                              const ArgsTuple& args) {
    const auto [model_key, guide_key] = split(key);
    const Trace guide_trace = std::apply(
        [&](const auto&... a) { return trace(substitute(seed(std::cref(guide), guide_key), params)).get_trace(a...); },
        args);
    const Trace model_trace = std::apply(
        [&](const auto&... a) {
          return trace(substitute(replay(seed(std::cref(model), model_key), guide_trace), params)).get_trace(a...);
        },
        args);
    detail::check_model_guide_match(model_trace, guide_trace, "Trace_ELBO");
    return trace_log_density(model_trace) - trace_log_density(guide_trace);
  }
};

}  // namespace tyche
