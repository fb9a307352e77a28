// AutoGuideElbo: Trace_ELBO (or TraceEnum_ELBO) of an autoguide (AutoNormal,
// AutoMultivariateNormal, AutoLaplaceApproximation, AutoDelta) computed from
// the model's potential energy, recorded once (compile_gradient) and replayed
// at every step. SVI::run and update take this path by themselves when the
// loss is one of these and the guide is one of these, the model having no
// param site of its own; it changes nothing but the speed.
//
//   auto guide = tyche::AutoNormal(model);
//   tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
//   auto result = svi.run(0, 5000, X, y);   // each step: one replay of the recorded potential
//
// Why it is the same loss. Each of these guides gives the potential's
// coordinates u as an affine function of its params and of standard normal
// noise eps, and pushes them through biject_to(support), so that its log q
// at T(u) is log q(u) - log |det J|, while the model's log density at T(u)
// minus that log |det J| is minus the potential energy U(u) (potential.hpp).
// A particle's loss is therefore U(u) + log q(u), with eps held fixed as the
// reparameterised draw holds it:
//   AutoNormal              u = loc + scale * eps, scale = softplus(raw):
//                           log q = -sum (eps^2 / 2 + log scale) - D log(2 pi) / 2;
//   AutoMultivariateNormal  u = loc + L eps, L = diag(d) (W + I) from
//                           scaled_unit_lower_cholesky, d = softplus(raw):
//                           log q = -|eps|^2 / 2 - sum log d - D log(2 pi) / 2;
//   AutoLaplaceApproximation  u = loc, log q = 0 (a Delta);
//   AutoDelta               u = the unconstrained coordinates of its
//                           constrained params; its Delta sits in the
//                           constrained space, so no log |det J| enters and
//                           the loss is U(u) without the Jacobian
//                           (PotentialEnergy's with_jacobian false).
// The eps are the guide's own draws: the step key is split as Trace_ELBO
// splits it (per particle, then model and guide keys) and each sample site of
// the guide takes the next key of the guide's, in the order the guide runs
// them, as seed hands them out (AutoNormal: one per site; the
// multivariate normal: one, for its latent vector). So a run gives the
// params a loop of SVI::update gives, to rounding.
//
// TraceEnum_ELBO sums the model's sites marked for enumeration out of the
// model's density; so does the potential (potential.hpp), which the loss
// above then reads as it stands.
//
// When does it apply: every latent site of the model is guided, with the
// same sizes, but for the discrete sites TraceEnum_ELBO sums out (exactly
// those marked for enumeration); the params are exactly the guide's; and
// the potential can be recorded (the model does not branch on a parameter's
// value; when it does, SVI::run says so on standard error and steps as
// update does).
//
// One difference remains for a support that depends on another site
// (Uniform(0, b) with b sampled): the guide maps u through the support it saw
// at its first run, as NumPyro's autoguides do, the potential through the
// support of each evaluation.
#pragma once

#include "tyche/core/compiled.hpp"
#include "tyche/core/elementwise.hpp"
#include "tyche/distributions/random.hpp"
#include "tyche/infer/autoguide.hpp"
#include "tyche/infer/compiled_loss.hpp"
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

// How an autoguide's params give the potential's coordinates u. z is the
// guide's own order of the coordinates (AutoNormal: its sites in the order it
// runs them; the others: their flat latent vector).
struct AutoGuidePlan {
  enum class Kind { normal, multivariate_normal, point };
  Kind kind = Kind::point;
  bool with_jacobian = true;               // false for AutoDelta (see the top)
  std::vector<std::int64_t> u_of_z;        // z_k is u[u_of_z[k]]
  std::vector<std::int64_t> loc;           // z_k's loc: params[loc[k]]
  std::vector<std::int64_t> scale;         // normal: z_k's raw scale, params[scale[k]]
  std::int64_t scale_tril = 0;             // multivariate normal: where L's D (D + 1) / 2 coordinates start
  std::vector<std::int64_t> noise_blocks;  // consecutive runs of z whose eps one guide key draws
};

template <class T>
struct IsCompiledAutoGuide : std::false_type {};
template <class M>
struct IsCompiledAutoGuide<AutoNormal<M>> : std::true_type {};
template <class M>
struct IsCompiledAutoGuide<AutoMultivariateNormal<M>> : std::true_type {};
template <class M>
struct IsCompiledAutoGuide<AutoLaplaceApproximation<M>> : std::true_type {};
template <class M>
struct IsCompiledAutoGuide<AutoDelta<M>> : std::true_type {};

template <class T>
struct IsAutoDelta : std::false_type {};
template <class M>
struct IsAutoDelta<AutoDelta<M>> : std::true_type {};

// What the autoguides keep private and this path needs: their sites and param names.
struct AutoGuideAccess {
  template <class Guide>
  static const AutoPrototype& prototype(const Guide& guide) { return *guide.prototype_; }

  // The plan for `guide` over the potential's `latent` sites and SVI's
  // `params`, or nullopt when the path does not apply (see the top).
  template <class M>
  static std::optional<AutoGuidePlan> plan(const AutoNormal<M>& guide, const LatentLayout& latent,
                                           const ParamLayout& params) {
    AutoGuidePlan plan{.kind = AutoGuidePlan::Kind::normal};
    for (const AutoSite& site : prototype(guide).sites) {
      const LatentSite* coordinates = latent.find(site.name);
      const ParamSite* loc = params.find(guide.loc_name(site));
      const ParamSite* scale = params.find(guide.scale_name(site));
      if (!coordinates || !loc || !scale || coordinates->size() != site.init_loc.size() ||
          loc->size() != coordinates->size() || scale->size() != coordinates->size() ||
          scale->constraint.kind() != constraints::Kind::softplus_positive)
        return std::nullopt;
      for (std::int64_t i = 0; i < coordinates->size(); ++i) {
        plan.u_of_z.push_back(coordinates->offset + i);
        plan.loc.push_back(loc->offset + i);
        plan.scale.push_back(scale->offset + i);
      }
      plan.noise_blocks.push_back(coordinates->size());
    }
    return plan;
  }

  template <class M>
  static std::optional<AutoGuidePlan> plan(const AutoDelta<M>& guide, const LatentLayout& latent,
                                           const ParamLayout& params) {
    AutoGuidePlan plan{.kind = AutoGuidePlan::Kind::point, .with_jacobian = false};
    for (const AutoSite& site : prototype(guide).sites) {
      const LatentSite* coordinates = latent.find(site.name);
      const ParamSite* loc = params.find(guide.loc_name(site));
      if (!coordinates || !loc || coordinates->size() != site.init_loc.size() || loc->size() != coordinates->size() ||
          loc->constraint.kind() != site.support.kind())
        return std::nullopt;
      for (std::int64_t i = 0; i < coordinates->size(); ++i) {
        plan.u_of_z.push_back(coordinates->offset + i);
        plan.loc.push_back(loc->offset + i);
      }
    }
    return plan;
  }

  template <class M>
  static std::optional<AutoGuidePlan> plan(const AutoMultivariateNormal<M>& guide, const LatentLayout& latent,
                                           const ParamLayout& params) {
    std::optional<AutoGuidePlan> plan = flat_plan(prototype(guide), latent, params.find(guide.loc_name()));
    const ParamSite* scale_tril = params.find(guide.scale_tril_name());
    if (!plan) return plan;
    const std::int64_t d = std::int64_t(plan->u_of_z.size());
    if (!scale_tril || scale_tril->size() != d * (d + 1) / 2 ||
        scale_tril->constraint.kind() != constraints::Kind::scaled_unit_lower_cholesky)
      return std::nullopt;
    plan->kind = AutoGuidePlan::Kind::multivariate_normal;
    plan->scale_tril = scale_tril->offset;
    plan->noise_blocks = {d};
    return plan;
  }

  template <class M>
  static std::optional<AutoGuidePlan> plan(const AutoLaplaceApproximation<M>& guide, const LatentLayout& latent,
                                           const ParamLayout& params) {
    return flat_plan(prototype(guide), latent, params.find(guide.loc_name()));
  }

 private:
  // AutoContinuous's flat latent vector, at params[loc...], as u.
  static std::optional<AutoGuidePlan> flat_plan(const AutoPrototype& prototype, const LatentLayout& latent,
                                                const ParamSite* loc) {
    AutoGuidePlan plan;
    for (const FlatSite& f : prototype.flat) {
      const LatentSite* coordinates = latent.find(f.site->name);
      if (!coordinates || coordinates->size() != f.size) return std::nullopt;
      for (std::int64_t i = 0; i < f.size; ++i) plan.u_of_z.push_back(coordinates->offset + i);
    }
    if (!loc || loc->size() != std::int64_t(plan.u_of_z.size())) return std::nullopt;
    for (std::int64_t k = 0; k < loc->size(); ++k) plan.loc.push_back(loc->offset + k);
    return plan;
  }
};

// The plan for an autoguide, when the path applies (see the top): the
// checks every kind shares, then the guide's own.
// `enumerates`: the loss sums the model's sites marked for enumeration out
// (TraceEnum_ELBO), as the potential does with its enumerated sites; with
// Trace_ELBO a discrete latent site has no place in this path.
template <class Guide>
std::optional<AutoGuidePlan> auto_guide_plan(const Guide& guide, const LatentLayout& latent,
                                             const ParamLayout& params, bool enumerates) {
  if ((!enumerates && !latent.enumerated().empty()) ||
      latent.sites().size() != AutoGuideAccess::prototype(guide).sites.size())
    return std::nullopt;
  std::optional<AutoGuidePlan> plan = AutoGuideAccess::plan(guide, latent, params);
  if (!plan || std::int64_t(plan->u_of_z.size()) != latent.size()) return std::nullopt;
  // Every param is the guide's: a param of the model's own would get no gradient here.
  std::int64_t guide_params = std::int64_t(plan->loc.size() + plan->scale.size());
  if (plan->kind == AutoGuidePlan::Kind::multivariate_normal) guide_params += latent.size() * (latent.size() + 1) / 2;
  if (guide_params != params.size()) return std::nullopt;
  return plan;
}

// Whether the sites the potential sums out are exactly those the model marks
// infer["enumerate"] = "parallel", the ones TraceEnum_ELBO sums out.
template <class Model, class ArgsTuple>
bool enumerates_as_marked(const Model& model, const ArgsTuple& args, const LatentLayout& latent) {
  if (latent.enumerated().empty()) return true;
  const Trace run = initial_trace(model, args);
  for (const std::string& name : latent.enumerated())
    if (!run.contains(name) || !marked_parallel(run[name])) return false;
  return true;
}

// The potential energy of model(args...), the model held by reference.
template <class Model, class... Args>
auto potential_of(const Model& model, const std::tuple<Args...>& args, bool with_jacobian) {
  using Potential = PotentialEnergy<std::reference_wrapper<const Model>, std::decay_t<Args>...>;
  LatentLayout layout(initial_trace(model, args));
  return Potential(std::cref(model), std::tuple<std::decay_t<Args>...>(args), std::move(layout), with_jacobian);
}

template <class Potential>
class AutoGuideElbo : public CompiledLoss {
 public:
  // Records the potential at u (throws ConcretizationError when the model
  // reads a parameter's value).
  AutoGuideElbo(const Potential& potential, AutoGuidePlan plan, int num_particles)
      : compiled_(potential, Eigen::VectorXd::Zero(potential.layout().size())),
        plan_(std::move(plan)),
        num_particles_(num_particles),
        u_(potential.layout().size()),
        potential_gradient_(potential.layout().size()),
        z_(u_.size()),
        eps_(u_.size()),
        z_gradient_(u_.size()) {}
  AutoGuideElbo(const AutoGuideElbo&) = delete;
  AutoGuideElbo& operator=(const AutoGuideElbo&) = delete;

  // The loss at the unconstrained params (SVI's flat vector) for the step's
  // key; its gradient is written into `gradient`.
  double operator()(Key key, const Eigen::VectorXd& params, Eigen::VectorXd& gradient) override {
    gradient.setZero();
    if (num_particles_ == 1) return particle(key, params, gradient, 1.0);
    double loss = 0.0;
    for (int i = 0; i < num_particles_; ++i)  // fold_in(key, i) is split(key, num_particles)[i], without the vector
      loss += particle(fold_in(key, std::uint32_t(i)), params, gradient, 1.0 / num_particles_);
    return loss;
  }

 private:
  using Kind = AutoGuidePlan::Kind;

  // Adds weight * this particle's gradient to `gradient`; returns weight * its loss.
  double particle(Key particle_key, const Eigen::VectorXd& params, Eigen::VectorXd& gradient, double weight) {
    draw_noise(particle_key);
    const double log_q = place(params);
    for (std::size_t k = 0; k < plan_.u_of_z.size(); ++k) u_[plan_.u_of_z[k]] = z_[Eigen::Index(k)];
    const double potential = compiled_(u_, potential_gradient_);
    for (std::size_t k = 0; k < plan_.u_of_z.size(); ++k) z_gradient_[Eigen::Index(k)] = potential_gradient_[plan_.u_of_z[k]];
    add_gradient(params, weight, gradient);
    return weight * (potential + log_q);
  }

  void draw_noise(Key particle_key) {
    Key guide_key = split(particle_key)[1];  // (model key, guide key), as particle_traces splits
    std::int64_t start = 0;
    for (const std::int64_t size : plan_.noise_blocks) {
      const auto keys = split(guide_key);
      guide_key = keys[0];
      fill_standard_normal(keys[1], eps_.data() + start, size);
      start += size;
    }
  }

  // z from the params and the noise; returns log q(z).
  double place(const Eigen::VectorXd& params) {
    const std::int64_t d = std::int64_t(plan_.loc.size());
    const double normalizer = -0.5 * double(d) * std::log(2.0 * std::numbers::pi);
    switch (plan_.kind) {
      case Kind::point:
        for (std::int64_t k = 0; k < d; ++k) z_[k] = params[plan_.loc[std::size_t(k)]];
        return 0.0;
      case Kind::normal: {
        double log_q = normalizer;
        for (std::int64_t k = 0; k < d; ++k) {
          const double e = eps_[k], scale = softplus_scalar(params[plan_.scale[std::size_t(k)]]);
          z_[k] = params[plan_.loc[std::size_t(k)]] + scale * e;
          log_q -= 0.5 * e * e + std::log(scale);
        }
        return log_q;
      }
      case Kind::multivariate_normal: {
        double log_q = normalizer;
        for (std::int64_t i = 0; i < d; ++i) {
          const double row_scale = softplus_scalar(params[diagonal_index(i)]);
          z_[i] = params[plan_.loc[std::size_t(i)]] + row_scale * unit_row_times_eps(params, i);
          log_q -= 0.5 * eps_[i] * eps_[i] + std::log(row_scale);
        }
        return log_q;
      }
    }
    return 0.0;
  }

  // weight * d loss / d params, from dU/dz held in z_gradient_.
  void add_gradient(const Eigen::VectorXd& params, double weight, Eigen::VectorXd& gradient) const {
    const std::int64_t d = std::int64_t(plan_.loc.size());
    for (std::int64_t k = 0; k < d; ++k) gradient[plan_.loc[std::size_t(k)]] += weight * z_gradient_[k];
    if (plan_.kind == Kind::normal) {
      for (std::int64_t k = 0; k < d; ++k) {
        // scale = softplus(raw) as biject_to(softplus_positive) maps it; its
        // derivative, the sigmoid, is exp(raw - scale).
        const double raw = params[plan_.scale[std::size_t(k)]], scale = softplus_scalar(raw);
        gradient[plan_.scale[std::size_t(k)]] += weight * (z_gradient_[k] * eps_[k] - 1.0 / scale) * std::exp(raw - scale);
      }
    } else if (plan_.kind == Kind::multivariate_normal) {
      // z_i = loc_i + d_i (eps_i + sum_{j<i} W_ij eps_j): dz_i/dW_ij = d_i eps_j,
      // dz_i/dd_i = the bracket; log q holds -log d_i.
      for (std::int64_t i = 0; i < d; ++i) {
        const double raw = params[diagonal_index(i)], row_scale = softplus_scalar(raw), g = z_gradient_[i];
        gradient[diagonal_index(i)] +=
            weight * (g * unit_row_times_eps(params, i) - 1.0 / row_scale) * std::exp(raw - row_scale);
        for (std::int64_t j = 0; j < i; ++j) gradient[strict_index(i, j)] += weight * g * row_scale * eps_[j];
      }
    }
  }

  // scaled_unit_lower_cholesky's coordinates: the strictly lower triangle
  // row by row, then the D raw diagonal scales.
  std::int64_t strict_index(std::int64_t i, std::int64_t j) const { return plan_.scale_tril + i * (i - 1) / 2 + j; }
  std::int64_t diagonal_index(std::int64_t i) const {
    const std::int64_t d = std::int64_t(plan_.loc.size());
    return plan_.scale_tril + d * (d - 1) / 2 + i;
  }
  // Row i of (W + I) times eps.
  double unit_row_times_eps(const Eigen::VectorXd& params, std::int64_t i) const {
    double sum = eps_[i];
    for (std::int64_t j = 0; j < i; ++j) sum += params[strict_index(i, j)] * eps_[j];
    return sum;
  }

  CompiledGradient<Potential> compiled_;
  AutoGuidePlan plan_;
  int num_particles_;
  Eigen::VectorXd u_, potential_gradient_, z_, eps_, z_gradient_;
};

}  // namespace tyche::detail
