// AutoNormalElbo: Trace_ELBO of an AutoNormal guide computed from the model's
// potential energy, recorded once (compile_gradient) and replayed at every
// step. SVI::run takes this path by itself when the guide is an AutoNormal,
// the loss Trace_ELBO and the model has no param site of its own; it changes
// nothing but the speed.
//
//   auto guide = tyche::AutoNormal(model);
//   tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
//   auto result = svi.run(0, 5000, X, y);   // each step: one replay of the recorded potential
//
// Why it is the same loss. AutoNormal draws each latent site's unconstrained
// coordinates u = loc + scale * eps (eps standard normal, scale =
// softplus(raw)) and pushes them through biject_to(support), so that log q
// of the site is log N(u; loc, scale) - log |det J|, while the model's log
// density at T(u) minus that log |det J| is minus the potential energy U(u)
// (potential.hpp). A particle's loss is therefore
//   U(u) + sum log N(u; loc, scale) = U(u) - sum (eps^2 / 2 + log scale) - D log(2 pi) / 2,
// and its gradient, with eps held fixed as the reparameterised draw holds it,
//   d/d loc = grad U(u),   d/d raw = (grad U(u) * eps - 1 / scale) * sigmoid(raw).
// The eps are the guide's own draws: the step key is split as Trace_ELBO
// splits it (per particle, then model and guide keys) and each site takes the
// next key of the guide's, in the order the guide runs its sites, as seed
// hands them out. So a run gives the params a loop of SVI::update gives, to
// rounding (the guide's log density maps u to T(u) and back).
//
// When does it apply: every latent site of the model is guided (the
// potential's latent sites are the guide's, with the same sizes), the
// params are exactly the guide's `<site>_auto_loc` and `<site>_auto_scale`,
// no site is enumerated, and the potential can be recorded (the model does
// not branch on a parameter's value). Otherwise SVI::run steps as update does.
#pragma once

#include "tyche/core/compiled.hpp"
#include "tyche/core/elementwise.hpp"
#include "tyche/distributions/random.hpp"
#include "tyche/infer/autoguide.hpp"
#include "tyche/infer/potential.hpp"
#include "tyche/infer/param_layout.hpp"

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche::detail {

template <class T>
struct IsAutoNormal : std::false_type {};
template <class M>
struct IsAutoNormal<AutoNormal<M>> : std::true_type {};

// What AutoNormal keeps private and this path needs: its sites and param names.
struct AutoNormalAccess {
  template <class M>
  static const std::vector<AutoSite>& sites(const AutoNormal<M>& guide) { return guide.sites(); }
  template <class M>
  static std::string loc_name(const AutoNormal<M>& guide, const AutoSite& site) { return guide.loc_name(site); }
  template <class M>
  static std::string scale_name(const AutoNormal<M>& guide, const AutoSite& site) { return guide.scale_name(site); }
};

// Where each guided site's numbers live, in the order the guide runs its
// sites: its loc and raw scale in the params vector, its coordinates in the
// potential's u.
struct AutoNormalSite {
  std::int64_t loc = 0, scale = 0, u = 0, size = 0;
};

// The potential energy of model(args...), the model held by reference.
template <class Model, class... Args>
auto potential_of(const Model& model, const std::tuple<Args...>& args) {
  return std::apply([&](const auto&... a) { return potential_energy(std::cref(model), a...); }, args);
}

// The sites of the fast path when it applies (see the top), nullopt otherwise.
template <class GuideModel>
std::optional<std::vector<AutoNormalSite>> auto_normal_sites(const LatentLayout& latent,
                                                             const AutoNormal<GuideModel>& guide,
                                                             const ParamLayout& params) {
  const std::vector<AutoSite>& guided = AutoNormalAccess::sites(guide);
  if (!latent.enumerated().empty() || latent.sites().size() != guided.size() ||
      params.sites().size() != 2 * guided.size())
    return std::nullopt;
  std::vector<AutoNormalSite> sites;
  for (const AutoSite& guided_site : guided) {
    const LatentSite* site = latent.find(guided_site.name);
    const ParamSite* loc = params.find(AutoNormalAccess::loc_name(guide, guided_site));
    const ParamSite* scale = params.find(AutoNormalAccess::scale_name(guide, guided_site));
    if (!site || !loc || !scale || site->size() != guided_site.init_loc.size() || loc->size() != site->size() ||
        scale->size() != site->size() || scale->constraint.kind() != constraints::Kind::softplus_positive)
      return std::nullopt;
    sites.push_back({loc->offset, scale->offset, site->offset, site->size()});
  }
  return sites;
}

template <class Potential>
class AutoNormalElbo {
 public:
  // Records the potential at u (throws ConcretizationError when the model
  // reads a parameter's value).
  AutoNormalElbo(const Potential& potential, std::vector<AutoNormalSite> sites, int num_particles)
      : compiled_(potential, Eigen::VectorXd::Zero(potential.layout().size())),
        sites_(std::move(sites)),
        num_particles_(num_particles),
        u_(potential.layout().size()),
        eps_(potential.layout().size()),
        potential_gradient_(potential.layout().size()) {}
  AutoNormalElbo(const AutoNormalElbo&) = delete;
  AutoNormalElbo& operator=(const AutoNormalElbo&) = delete;

  // The loss at the unconstrained params (SVI's flat vector) for the step's
  // key; its gradient is written into `gradient`.
  double operator()(Key key, const Eigen::VectorXd& params, Eigen::VectorXd& gradient) {
    gradient.setZero();
    if (num_particles_ == 1) return particle(key, params, gradient, 1.0);
    double loss = 0.0;
    for (const Key& particle_key : split(key, num_particles_))
      loss += particle(particle_key, params, gradient, 1.0 / num_particles_);
    return loss;
  }

 private:
  // Adds weight * this particle's gradient to `gradient`; returns weight * its loss.
  double particle(Key particle_key, const Eigen::VectorXd& params, Eigen::VectorXd& gradient, double weight) {
    Key guide_key = split(particle_key)[1];  // (model key, guide key), as particle_traces splits
    double log_q = 0.0;
    for (const AutoNormalSite& site : sites_) {
      const auto [next, site_key] = split(guide_key);
      guide_key = next;
      fill_standard_normal(site_key, eps_.data() + site.u, site.size);
      for (std::int64_t i = 0; i < site.size; ++i) {
        const double e = eps_[site.u + i], scale = softplus_scalar(params[site.scale + i]);
        u_[site.u + i] = params[site.loc + i] + scale * e;
        log_q -= 0.5 * e * e + std::log(scale);
      }
    }
    log_q -= 0.5 * double(u_.size()) * std::log(2.0 * std::numbers::pi);
    const double potential = compiled_(u_, potential_gradient_);
    for (const AutoNormalSite& site : sites_)
      for (std::int64_t i = 0; i < site.size; ++i) {
        // scale = softplus(raw) as biject_to(softplus_positive) maps it; its
        // derivative, the sigmoid, is exp(raw - scale).
        const double raw = params[site.scale + i], scale = softplus_scalar(raw), g = potential_gradient_[site.u + i];
        gradient[site.loc + i] += weight * g;
        gradient[site.scale + i] += weight * (g * eps_[site.u + i] - 1.0 / scale) * std::exp(raw - scale);
      }
    return weight * (potential + log_q);
  }

  CompiledGradient<Potential> compiled_;
  std::vector<AutoNormalSite> sites_;
  int num_particles_;
  Eigen::VectorXd u_, eps_, potential_gradient_;
};

}  // namespace tyche::detail
