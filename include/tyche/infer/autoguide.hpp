// Autoguides: guides built from a model's latent sites (NumPyro's
// numpyro.infer.autoguide). AutoNormal is a mean-field Normal on the
// unconstrained space; AutoDelta a point mass at each latent site (MAP).
//
//   auto guide = tyche::AutoNormal(model);                 // or {.init_loc_fn = tyche::init_to_median(), .init_scale = 0.05}
//   tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
//   auto result = svi.run(0, 5000, y);
//   result.params["mu_auto_loc"];                          // the unconstrained loc of site mu
//   tyche::ValueMap medians = guide.median(result.params); // constrained, by site
//   tyche::ValueMap bands = guide.quantiles(result.params, {0.05, 0.5, 0.95});
//   tyche::ValueMap draws = guide.sample_posterior(tyche::PRNGKey(1), result.params, 1000);
//
//   auto map = tyche::AutoDelta(model);                    // params `<site>_auto_loc`, constrained
//
// On its first call a guide runs the model once, under the key the guide's
// seed gives it (tyche::prng_key) and the init strategy, blocked from every
// handler outside (NumPyro's _setup_prototype): that trace fixes the latent
// sites, their shapes, supports and plates, and the params' initial values.
// Copies of a guide share that prototype, so the guide handed to SVI and the
// one kept to call median() on agree.
//
// Per latent site, in the order the model runs them, inside the site's plates:
// - AutoNormal: params `<site>_auto_loc` (unconstrained, from init_loc_fn,
//   init_to_uniform by default) and `<site>_auto_scale` (positive, init_scale
//   0.1), and the sample site `<site>` drawn from Normal(loc, scale) over the
//   unconstrained coordinates pushed through biject_to(support) (a
//   TransformedDistribution, whose log density carries the Jacobian), or the
//   Normal itself on the real line.
//   Unlike NumPyro, whose scale lives in softplus_positive, the scale lives
//   in positive (through exp): tyche has no softplus_positive constraint yet.
// - AutoDelta: the param `<site>_auto_loc` with the site's support as its
//   constraint (init_to_median by default) and the sample site `<site>` from
//   Delta(loc): SVI then maximises the log joint in the constrained space, with
//   no Jacobian term (the MAP), as NumPyro.
// The prototype fixes each support: a support that depends on another latent
// site (Uniform(0, b) with b sampled) is taken at the prototype's values.
// Refused with an exception naming the site, as for NUTS: discrete latent
// sites, latent Delta sites, subsampling plates.
#pragma once

#include "tyche/distributions/biject_to.hpp"
#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/delta.hpp"
#include "tyche/distributions/transformed.hpp"
#include "tyche/effects/handlers/block.hpp"
#include "tyche/effects/handlers/seed.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"
#include "tyche/effects/plate.hpp"
#include "tyche/effects/primitives.hpp"
#include "tyche/infer/initialization.hpp"
#include "tyche/infer/potential.hpp"

#include <boost/math/special_functions/erf.hpp>

#include <cmath>
#include <functional>
#include <memory>
#include <numbers>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche {

struct AutoNormalOptions {
  std::optional<InitStrategy> init_loc_fn = std::nullopt;  // none: init_to_uniform()
  double init_scale = 0.1;
  std::string prefix = "auto";
};

struct AutoDeltaOptions {
  std::optional<InitStrategy> init_loc_fn = std::nullopt;  // none: init_to_median()
  std::string prefix = "auto";
};

namespace detail {

// One latent site of the prototype trace.
struct AutoSite {
  std::string name;
  Shape shape;                                  // of its value
  constraints::Constraint support;
  int event_dim = 0;                            // of the site's distribution
  int unconstrained_event_dim = 0;              // of its unconstrained coordinates (NumPyro's _event_dims)
  std::vector<CondIndepStackFrame> plates;      // innermost first, as cond_indep_stack
  Tensor init_value;                            // constrained
  Tensor init_loc;                              // unconstrained
};

struct AutoPrototype {
  bool ready = false;
  std::vector<AutoSite> sites;
};

// The prototype of model(args...) (see the top of the file).
template <class Model, class... Args>
void setup_prototype(AutoPrototype& prototype, const Model& model, const InitStrategy& init, const Args&... args) {
  const Key key = prng_key().value_or(kDefaultKey);
  // Each initial value goes to the unconstrained space and back, as NumPyro's
  // initialize_model takes it: an elementwise median of simplex draws, say,
  // is no simplex, its image through stick-breaking is.
  const InitStrategy init_on_support = [&init](const Message& site) -> std::optional<Tensor> {
    std::optional<Tensor> value = init(site);
    if (!value) return value;
    const transforms::TransformPtr transform = biject_to(site.fn->support());
    return transform->forward(transform->inverse(*value));
  };
  Trace recorded;
  {
    tyche::block hide_from_outer_handlers;
    recorded =
        tyche::trace(tyche::substitute(tyche::seed(std::cref(model), key), init_on_support)).get_trace(args...);
  }
  const LatentLayout checked(recorded);  // refuses what cannot live in the unconstrained space
  (void)checked;
  for (const Message& site : recorded) {
    if (!is_latent(site)) continue;
    const constraints::Constraint support = site.fn->support();
    const Tensor& value = *site.value;
    const Tensor loc = biject_to(support)->inverse(value);
    const double* l = loc.data();
    for (std::int64_t i = 0; i < loc.size(); ++i)
      if (!std::isfinite(l[i]))
        throw std::invalid_argument("tyche: autoguide: the initial value of latent " + describe_site(site) +
                                    " is outside its support " + support.str() + " (unconstrained coordinate " +
                                    std::to_string(i) + " is " + std::to_string(l[i]) + ")");
    prototype.sites.push_back({site.name, value.shape(), support, site.fn->event_dim(),
                               site.fn->event_dim() + loc.ndim() - value.ndim(), site.cond_indep_stack, value, loc});
  }
  prototype.ready = true;
}

// Enters a site's plates (outermost first) for the guard's lifetime.
class PlatesOf {
 public:
  explicit PlatesOf(const std::vector<CondIndepStackFrame>& frames) {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it)
      plates_.push_back(std::make_unique<plate>(it->name, it->size, std::nullopt, it->dim));
  }
  ~PlatesOf() {
    while (!plates_.empty()) plates_.pop_back();  // innermost first
  }
  PlatesOf(const PlatesOf&) = delete;
  PlatesOf& operator=(const PlatesOf&) = delete;

 private:
  std::vector<std::unique_ptr<plate>> plates_;
};

inline const Tensor& param_value(const ValueMap& params, const std::string& name) {
  const auto it = params.find(name);
  if (it == params.end()) throw std::invalid_argument("tyche: autoguide: no param `" + name + "` in the params given");
  return it->second;
}

}  // namespace detail

template <class Model>
class AutoNormal {
 public:
  explicit AutoNormal(Model model, AutoNormalOptions options = {})
      : model_(std::move(model)), options_(std::move(options)), prototype_(std::make_shared<detail::AutoPrototype>()) {
    if (!(options_.init_scale > 0.0 && std::isfinite(options_.init_scale)))
      throw std::invalid_argument("tyche: AutoNormal: init_scale must be positive, got " +
                                  std::to_string(options_.init_scale));
  }

  // The guide: one sample site per latent site of the model; returns their values.
  template <class... Args>
  ValueMap operator()(const Args&... args) const {
    if (!prototype_->ready)
      detail::setup_prototype(*prototype_, model_, options_.init_loc_fn.value_or(init_to_uniform()), args...);
    ValueMap result;
    for (const detail::AutoSite& site : prototype_->sites) {
      const detail::PlatesOf plates(site.plates);
      const Tensor loc = param(loc_name(site), site.init_loc, {.event_dim = site.unconstrained_event_dim});
      const Tensor scale = param(scale_name(site), Tensor::full(site.init_loc.shape(), options_.init_scale),
                                 {.constraint = constraints::positive, .event_dim = site.unconstrained_event_dim});
      const dist::Normal normal(loc, scale);
      const dist::DistributionPtr fn =
          site.unconstrained_event_dim > 0 ? normal.to_event(site.unconstrained_event_dim).share() : normal.share();
      if (site.support.kind() == constraints::Kind::real)
        result.emplace(site.name, sample(site.name, *fn));
      else
        result.emplace(site.name, sample(site.name, dist::TransformedDistribution(fn, {biject_to(site.support)})));
    }
    return result;
  }

  // Each latent site's posterior median, constrained: biject_to(support)(loc).
  template <class T = ValueMap>
  ValueMap median(const std::type_identity_t<T>& params) const {
    ValueMap medians;
    for (const detail::AutoSite& site : sites())
      medians.emplace(site.name, biject_to(site.support)->forward(detail::param_value(params, loc_name(site))));
    return medians;
  }

  // Each latent site's posterior quantiles, constrained: shape (len(qs), site shape),
  // biject_to(support)(loc + scale * Phi^-1(q)).
  template <class T = ValueMap>
  ValueMap quantiles(const std::type_identity_t<T>& params, const std::vector<double>& qs) const {
    for (double q : qs)
      if (!(q > 0.0 && q < 1.0))
        throw std::invalid_argument("tyche: AutoNormal::quantiles: each quantile must lie in (0, 1), got " +
                                    std::to_string(q));
    ValueMap out;
    for (const detail::AutoSite& site : sites()) {
      const Tensor& loc = detail::param_value(params, loc_name(site));
      const Tensor& scale = detail::param_value(params, scale_name(site));
      std::vector<double> values;
      values.reserve(qs.size() * std::size_t(loc.size()));
      for (double q : qs) {
        const double z = std::numbers::sqrt2 * boost::math::erf_inv(2.0 * q - 1.0);
        for (std::int64_t i = 0; i < loc.size(); ++i) values.push_back(loc.data()[i] + scale.data()[i] * z);
      }
      Shape shape{std::int64_t(qs.size())};
      for (std::int64_t d : loc.shape()) shape.push_back(d);
      out.emplace(site.name, biject_to(site.support)->forward(Tensor(values, shape)));
    }
    return out;
  }

  // num_samples draws of each latent site from the fitted guide, constrained:
  // shape (num_samples, site shape). Drawn as NumPyro's sample_posterior,
  // under seed(key) one site after the other; mapped through
  // biject_to(support) without running the model (so no deterministic sites).
  template <class T = ValueMap>
  ValueMap sample_posterior(Key key, const std::type_identity_t<T>& params, std::int64_t num_samples) const {
    if (num_samples < 1)
      throw std::invalid_argument("tyche: AutoNormal::sample_posterior: num_samples must be >= 1, got " +
                                  std::to_string(num_samples));
    ValueMap draws;
    tyche::seed seeded(key);
    for (const detail::AutoSite& site : sites()) {
      const dist::Normal normal(detail::param_value(params, loc_name(site)), detail::param_value(params, scale_name(site)));
      const Tensor z = sample(site.name, normal, std::nullopt, {.sample_shape = {num_samples}});
      draws.emplace(site.name, biject_to(site.support)->forward(z));
    }
    return draws;
  }

  const Model& model() const { return model_; }

 private:
  const std::vector<detail::AutoSite>& sites() const {
    if (!prototype_->ready)
      throw std::logic_error("tyche: AutoNormal: the guide has not run yet (SVI::init runs it): its sites are unknown");
    return prototype_->sites;
  }
  std::string loc_name(const detail::AutoSite& site) const { return site.name + "_" + options_.prefix + "_loc"; }
  std::string scale_name(const detail::AutoSite& site) const { return site.name + "_" + options_.prefix + "_scale"; }

  Model model_;
  AutoNormalOptions options_;
  std::shared_ptr<detail::AutoPrototype> prototype_;
};

template <class Model>
class AutoDelta {
 public:
  explicit AutoDelta(Model model, AutoDeltaOptions options = {})
      : model_(std::move(model)), options_(std::move(options)), prototype_(std::make_shared<detail::AutoPrototype>()) {}

  // The guide: a point mass at each latent site of the model; returns their values.
  template <class... Args>
  ValueMap operator()(const Args&... args) const {
    if (!prototype_->ready)
      detail::setup_prototype(*prototype_, model_, options_.init_loc_fn.value_or(init_to_median()), args...);
    ValueMap result;
    for (const detail::AutoSite& site : prototype_->sites) {
      const detail::PlatesOf plates(site.plates);
      const Tensor loc = param(loc_name(site), site.init_value, {.constraint = site.support, .event_dim = site.event_dim});
      result.emplace(site.name, sample(site.name, dist::Delta(loc, 0.0, site.event_dim)));
    }
    return result;
  }

  // The point estimates, by site name (the params `<site>_auto_loc`).
  template <class T = ValueMap>
  ValueMap median(const std::type_identity_t<T>& params) const {
    if (!prototype_->ready)
      throw std::logic_error("tyche: AutoDelta: the guide has not run yet (SVI::init runs it): its sites are unknown");
    ValueMap medians;
    for (const detail::AutoSite& site : prototype_->sites)
      medians.emplace(site.name, detail::param_value(params, loc_name(site)));
    return medians;
  }

  // The point estimates repeated num_samples times: shape (num_samples, site shape).
  template <class T = ValueMap>
  ValueMap sample_posterior(Key, const std::type_identity_t<T>& params, std::int64_t num_samples) const {
    if (num_samples < 1)
      throw std::invalid_argument("tyche: AutoDelta::sample_posterior: num_samples must be >= 1, got " +
                                  std::to_string(num_samples));
    ValueMap draws;
    for (auto& [name, value] : median(params)) {
      Shape shape{num_samples};
      for (std::int64_t d : value.shape()) shape.push_back(d);
      draws.emplace(name, broadcast_to(value, shape));
    }
    return draws;
  }

  const Model& model() const { return model_; }

 private:
  std::string loc_name(const detail::AutoSite& site) const { return site.name + "_" + options_.prefix + "_loc"; }

  Model model_;
  AutoDeltaOptions options_;
  std::shared_ptr<detail::AutoPrototype> prototype_;
};

}  // namespace tyche
