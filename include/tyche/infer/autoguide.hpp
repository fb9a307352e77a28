// Autoguides: guides built from a model's latent sites (NumPyro's
// numpyro.infer.autoguide). AutoNormal is a mean-field Normal on the
// unconstrained space; AutoDelta a point mass at each latent site (MAP);
// AutoMultivariateNormal a correlated Normal on the whole unconstrained
// space; AutoLaplaceApproximation the MAP there with the curvature of the
// log joint at it.
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
//   auto mvn = tyche::AutoMultivariateNormal(model);       // params `auto_loc`, `auto_scale_tril`
//   auto laplace = tyche::AutoLaplaceApproximation(model); // param `auto_loc`; after SVI:
//   tyche::dist::MultivariateNormal q = laplace.get_posterior(result.params);  // unconstrained
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
//   0.1, in softplus_positive: biject_to maps it through softplus, as
//   NumPyro), and the sample site `<site>` drawn from Normal(loc, scale) over the
//   unconstrained coordinates pushed through biject_to(support) (a
//   TransformedDistribution, whose log density carries the Jacobian), or the
//   Normal itself on the real line.
// - AutoDelta: the param `<site>_auto_loc` with the site's support as its
//   constraint (init_to_median by default) and the sample site `<site>` from
//   Delta(loc): SVI then maximises the log joint in the constrained space, with
//   no Jacobian term (the MAP), as NumPyro.
// - AutoMultivariateNormal and AutoLaplaceApproximation (NumPyro's
//   AutoContinuous): the latent sites' unconstrained coordinates, in the order
//   of the sites' names (as NumPyro ravels its dict, and as potential.hpp lays
//   out u), form one vector of length D. The guide draws it as the auxiliary
//   site `_auto_latent` (infer["is_auxiliary"]), from
//   MultivariateNormal(auto_loc, scale_tril = auto_scale_tril) (scale_tril in
//   scaled_unit_lower_cholesky, initially init_scale times the identity) or
//   from Delta(auto_loc) for the Laplace approximation, and each latent site
//   `<site>` is then Delta(biject_to(support)(its slice)) with log density
//   -log |det J| (so that log q of the sites is that of the latent vector
//   pushed onto the supports). The sites are issued outside their plates, as
//   NumPyro does.
//   AutoLaplaceApproximation's SVI finds the MAP in the unconstrained space
//   (Trace_ELBO of a Delta guide: the log joint plus log |det J|);
//   get_posterior(params) is then MultivariateNormal(auto_loc, H^-1) with H
//   the Hessian of that loss (Trace_ELBO at PRNGKey(0), the model run with the
//   arguments of the guide's first call, as NumPyro's closure) at auto_loc: by
//   central differences of its reverse-mode gradient, symmetrised. When H is
//   not positive definite the draws are the MAP itself, with a warning on
//   standard error, as NumPyro's (get_posterior then throws: tyche's
//   MultivariateNormal takes no zero scale_tril).
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
#include "tyche/core/grad.hpp"
#include "tyche/distributions/multivariate.hpp"
#include "tyche/infer/elbo.hpp"
#include "tyche/infer/initialization.hpp"
#include "tyche/infer/potential.hpp"

#include <boost/math/special_functions/erf.hpp>
#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdio>
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

struct AutoMultivariateNormalOptions {
  std::optional<InitStrategy> init_loc_fn = std::nullopt;  // none: init_to_uniform()
  double init_scale = 0.1;
  std::string prefix = "auto";
};

struct AutoLaplaceApproximationOptions {
  std::optional<InitStrategy> init_loc_fn = std::nullopt;  // none: init_to_uniform()
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

// A latent site's slice of the flat unconstrained vector of AutoContinuous.
struct FlatSite {
  const AutoSite* site;
  std::int64_t offset, size;
};

struct AutoPrototype {
  AutoPrototype() = default;
  AutoPrototype(const AutoPrototype&) = delete;  // `flat` points into `sites`
  AutoPrototype& operator=(const AutoPrototype&) = delete;

  bool ready = false;
  std::vector<AutoSite> sites;  // in the order the model runs them
  std::vector<FlatSite> flat;   // in the order of their names, one after the other
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
    // Enumerable discrete sites are summed out (TraceEnum_ELBO), not guided.
    if (!is_latent(site) || enumerated_latent(site)) continue;
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
  for (const AutoSite& site : prototype.sites) prototype.flat.push_back({&site, 0, site.init_loc.size()});
  std::sort(prototype.flat.begin(), prototype.flat.end(),
            [](const FlatSite& a, const FlatSite& b) { return a.site->name < b.site->name; });
  std::int64_t offset = 0;
  for (FlatSite& f : prototype.flat) {
    f.offset = offset;
    offset += f.size;
  }
  prototype.ready = true;
}

// Enters a site's plates (outermost first) for the guard's lifetime.
template <class = void>
class PlatesOfT {
 public:
  explicit PlatesOfT(const std::vector<CondIndepStackFrame>& frames) {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it)
      plates_.push_back(std::make_unique<plate>(it->name, it->size, std::nullopt, it->dim));
  }
  ~PlatesOfT() {
    while (!plates_.empty()) plates_.pop_back();  // innermost first
  }
  PlatesOfT(const PlatesOfT&) = delete;
  PlatesOfT& operator=(const PlatesOfT&) = delete;

 private:
  std::vector<std::unique_ptr<plate>> plates_;
};
using PlatesOf = PlatesOfT<>;

template <class M = ValueMap>
const Tensor& param_value(const std::type_identity_t<M>& params, const std::string& name) {
  const auto it = params.find(name);
  if (it == params.end()) throw std::invalid_argument("tyche: autoguide: no param `" + name + "` in the params given");
  return it->second;
}

}  // namespace detail

namespace detail {
struct AutoGuideAccess;  // infer/auto_guide_elbo.hpp: SVI::run's compiled path
}

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
                                 {.constraint = constraints::softplus_positive, .event_dim = site.unconstrained_event_dim});
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
  friend struct detail::AutoGuideAccess;

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
  friend struct detail::AutoGuideAccess;

  std::string loc_name(const detail::AutoSite& site) const { return site.name + "_" + options_.prefix + "_loc"; }

  Model model_;
  AutoDeltaOptions options_;
  std::shared_ptr<detail::AutoPrototype> prototype_;
};

namespace detail {

template <class P = AutoPrototype>
std::int64_t latent_dim(const std::type_identity_t<P>& prototype) {
  std::int64_t d = 0;
  for (const AutoSite& site : prototype.sites) d += site.init_loc.size();
  return d;
}

// The initial unconstrained locs, flat.
template <class P = AutoPrototype>
Tensor init_latent(const std::type_identity_t<P>& prototype) {
  std::vector<double> values;
  for (const FlatSite& f : prototype.flat)
    values.insert(values.end(), f.site->init_loc.data(), f.site->init_loc.data() + f.size);
  return Tensor(values, Shape{std::int64_t(values.size())});
}

// A site's coordinates in `latent` (..., D): shape (..., its unconstrained shape).
template <class T = Tensor>
Tensor site_coordinates(const std::type_identity_t<T>& latent, const FlatSite& f) {
  std::vector<std::int64_t> dims(latent.shape().begin(), latent.shape().end() - 1);
  for (std::int64_t d : f.site->init_loc.shape()) dims.push_back(d);
  return slice(latent, -1, f.offset, f.offset + f.size).reshape(dims);
}

// Each site's constrained value at `latent` (..., D), by name.
template <class P = AutoPrototype>
ValueMap unpack_and_constrain(const std::type_identity_t<P>& prototype, const Tensor& latent) {
  ValueMap values;
  for (const FlatSite& f : prototype.flat)
    values.emplace(f.site->name, biject_to(f.site->support)->forward(site_coordinates(latent, f)));
  return values;
}

// The sample sites of an AutoContinuous guide at `latent` (D,): one Delta
// per latent site carrying -log |det J| of its map (see the top).
template <class P = AutoPrototype>
ValueMap continuous_guide_sites(const std::type_identity_t<P>& prototype, const Tensor& latent) {
  ValueMap result;
  for (const FlatSite& f : prototype.flat) {
    const AutoSite& site = *f.site;
    const auto [value, log_det] = constrain_coordinates(site.support, site_coordinates(latent, f), site.event_dim);
    result.emplace(site.name, sample(site.name, dist::Delta(value, -log_det, site.event_dim)));
  }
  return result;
}

inline Infer auxiliary() { return {{"is_auxiliary", true}}; }

// Phi^-1(q) for each q in (0, 1), checked.
template <class V = std::vector<double>>
std::vector<double> normal_quantiles(const char* guide, const std::type_identity_t<V>& qs) {
  std::vector<double> z;
  for (double q : qs) {
    if (!(q > 0.0 && q < 1.0))
      throw std::invalid_argument(std::string("tyche: ") + guide + "::quantiles: each quantile must lie in (0, 1), got " +
                                  std::to_string(q));
    z.push_back(std::numbers::sqrt2 * boost::math::erf_inv(2.0 * q - 1.0));
  }
  return z;
}

// loc + scale * z for each z: shape (len(z), D); scale = the row norms of scale_tril,
// the marginal standard deviations (NumPyro's quantiles).
template <class V = Eigen::VectorXd, class M = Eigen::MatrixXd>
Tensor latent_quantiles(const std::type_identity_t<V>& loc, const std::type_identity_t<M>& scale_tril,
                        const std::vector<double>& z) {
  const Eigen::VectorXd scale = scale_tril.rowwise().norm();
  std::vector<double> values;
  for (double zq : z)
    for (Eigen::Index i = 0; i < loc.size(); ++i) values.push_back(loc[i] + scale[i] * zq);
  return Tensor(values, Shape{std::int64_t(z.size()), std::int64_t(loc.size())});
}

// num_samples draws loc + L eps, eps standard normal drawn with `key`: shape (num_samples, D).
template <class V = Eigen::VectorXd, class M = Eigen::MatrixXd>
Tensor latent_draws(Key key, const std::type_identity_t<V>& loc, const std::type_identity_t<M>& scale_tril,
                    std::int64_t num_samples) {
  const std::int64_t d = loc.size();
  const Tensor eps = dist::Normal(0.0, 1.0).sample(key, {num_samples, d});
  std::vector<double> values(std::size_t(num_samples * d));
  for (std::int64_t n = 0; n < num_samples; ++n) {
    const Eigen::Map<const Eigen::VectorXd> e(eps.data() + n * d, d);
    Eigen::Map<Eigen::VectorXd>(values.data() + n * d, d) = loc + scale_tril * e;
  }
  return Tensor(values, Shape{num_samples, d});
}

template <class T = Tensor>
Eigen::VectorXd as_vector(const std::type_identity_t<T>& t) { return Eigen::Map<const Eigen::VectorXd>(t.data(), t.size()); }

template <class T = Tensor>
Eigen::MatrixXd as_matrix(const std::type_identity_t<T>& t) {
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(t.data(), t.dim(0),
                                                                                                 t.dim(1));
}

// The Hessian of f: R^D -> R at z, by central differences of its reverse-mode
// gradient (exact for a quadratic up to rounding), symmetrised.
template <class F>
Eigen::MatrixXd hessian_by_differences(const F& f, const Eigen::VectorXd& z) {
  const Eigen::Index d = z.size();
  Eigen::MatrixXd h(d, d);
  Eigen::VectorXd up(d), down(d);
  for (Eigen::Index j = 0; j < d; ++j) {
    const double step = 1e-5 * std::max(1.0, std::abs(z[j]));
    Eigen::VectorXd x = z;
    x[j] = z[j] + step;
    value_and_grad(f, x, up);
    x[j] = z[j] - step;
    value_and_grad(f, x, down);
    h.col(j) = (up - down) / (2.0 * step);
  }
  return 0.5 * (h + h.transpose());
}

}  // namespace detail

template <class Model>
class AutoMultivariateNormal {
 public:
  explicit AutoMultivariateNormal(Model model, AutoMultivariateNormalOptions options = {})
      : model_(std::move(model)), options_(std::move(options)), prototype_(std::make_shared<detail::AutoPrototype>()) {
    if (!(options_.init_scale > 0.0 && std::isfinite(options_.init_scale)))
      throw std::invalid_argument("tyche: AutoMultivariateNormal: init_scale must be positive, got " +
                                  std::to_string(options_.init_scale));
  }

  // The guide: the latent vector from MultivariateNormal(auto_loc, auto_scale_tril), then
  // one Delta site per latent site of the model; returns their values.
  template <class... Args>
  ValueMap operator()(const Args&... args) const {
    if (!prototype_->ready)
      detail::setup_prototype(*prototype_, model_, options_.init_loc_fn.value_or(init_to_uniform()), args...);
    const std::int64_t d = detail::latent_dim(*prototype_);
    const Tensor loc = param(loc_name(), detail::init_latent(*prototype_));
    const Tensor scale_tril = param(scale_tril_name(), Tensor(Eigen::MatrixXd::Identity(d, d) * options_.init_scale),
                                    {.constraint = constraints::scaled_unit_lower_cholesky});
    const Tensor latent = sample("_" + options_.prefix + "_latent", dist::MultivariateNormal(loc, {.scale_tril = scale_tril}),
                                 std::nullopt, {.infer = detail::auxiliary()});
    return detail::continuous_guide_sites(*prototype_, latent);
  }

  // The Normal the guide draws the unconstrained latent vector from.
  template <class T = ValueMap>
  dist::MultivariateNormal get_posterior(const std::type_identity_t<T>& params) const {
    return dist::MultivariateNormal(detail::param_value(params, loc_name()),
                                    {.scale_tril = detail::param_value(params, scale_tril_name())});
  }

  // Each latent site's posterior median, constrained: biject_to(support) of its part of auto_loc.
  template <class T = ValueMap>
  ValueMap median(const std::type_identity_t<T>& params) const {
    return detail::unpack_and_constrain(prototype(), detail::param_value(params, loc_name()));
  }

  // Each site's marginal quantiles, constrained: shape (len(qs), site shape).
  template <class T = ValueMap>
  ValueMap quantiles(const std::type_identity_t<T>& params, const std::vector<double>& qs) const {
    const std::vector<double> z = detail::normal_quantiles("AutoMultivariateNormal", qs);
    return detail::unpack_and_constrain(
        prototype(), detail::latent_quantiles(detail::as_vector(detail::param_value(params, loc_name())),
                                              detail::as_matrix(detail::param_value(params, scale_tril_name())), z));
  }

  // num_samples draws of each latent site, constrained: shape (num_samples, site shape);
  // the latent vector drawn as NumPyro's sample_posterior, under seed(key).
  template <class T = ValueMap>
  ValueMap sample_posterior(Key key, const std::type_identity_t<T>& params, std::int64_t num_samples) const {
    if (num_samples < 1)
      throw std::invalid_argument("tyche: AutoMultivariateNormal::sample_posterior: num_samples must be >= 1, got " +
                                  std::to_string(num_samples));
    const detail::AutoPrototype& ready = prototype();
    tyche::seed seeded(key);
    const Tensor latent = sample("_" + options_.prefix + "_latent", get_posterior(params), std::nullopt,
                                 {.sample_shape = {num_samples}, .infer = detail::auxiliary()});
    return detail::unpack_and_constrain(ready, latent);
  }

  const Model& model() const { return model_; }

 private:
  friend struct detail::AutoGuideAccess;

  const detail::AutoPrototype& prototype() const {
    if (!prototype_->ready)
      throw std::logic_error(
          "tyche: AutoMultivariateNormal: the guide has not run yet (SVI::init runs it): its sites are unknown");
    return *prototype_;
  }
  std::string loc_name() const { return options_.prefix + "_loc"; }
  std::string scale_tril_name() const { return options_.prefix + "_scale_tril"; }

  Model model_;
  AutoMultivariateNormalOptions options_;
  std::shared_ptr<detail::AutoPrototype> prototype_;
};

template <class Model>
class AutoLaplaceApproximation {
 public:
  explicit AutoLaplaceApproximation(Model model, AutoLaplaceApproximationOptions options = {})
      : model_(std::move(model)),
        options_(std::move(options)),
        prototype_(std::make_shared<detail::AutoPrototype>()),
        loss_(std::make_shared<std::function<Tensor(const ValueMap&)>>()) {}

  // The guide: the latent vector at auto_loc (a Delta), then one Delta site per
  // latent site of the model; returns their values.
  template <class... Args>
  ValueMap operator()(const Args&... args) const {
    if (!prototype_->ready) {
      detail::setup_prototype(*prototype_, model_, options_.init_loc_fn.value_or(init_to_uniform()), args...);
      // Trace_ELBO of this guide at PRNGKey(0), with these arguments (NumPyro's _loss_fn).
      *loss_ = [model = model_, prototype = prototype_, prefix = options_.prefix,
                arguments = std::tuple<std::decay_t<Args>...>(args...)](const ValueMap& params) {
        const auto guide = [&](const auto&...) { return body(*prototype, prefix); };
        return Trace_ELBO{}.loss(PRNGKey(0), params, model, guide, arguments);
      };
    }
    return body(*prototype_, options_.prefix);
  }

  // MultivariateNormal(auto_loc, H^-1) on the unconstrained space (see the top).
  template <class T = ValueMap>
  dist::MultivariateNormal get_posterior(const std::type_identity_t<T>& params) const {
    const auto [loc, scale_tril] = loc_and_scale_tril(params);
    return dist::MultivariateNormal(Tensor(loc), {.scale_tril = Tensor(scale_tril)});
  }

  // Each latent site at the MAP, constrained.
  template <class T = ValueMap>
  ValueMap median(const std::type_identity_t<T>& params) const {
    return detail::unpack_and_constrain(prototype(), detail::param_value(params, loc_name()));
  }

  // Each site's marginal quantiles under the Laplace approximation, constrained:
  // shape (len(qs), site shape).
  template <class T = ValueMap>
  ValueMap quantiles(const std::type_identity_t<T>& params, const std::vector<double>& qs) const {
    const std::vector<double> z = detail::normal_quantiles("AutoLaplaceApproximation", qs);
    const auto [loc, scale_tril] = loc_and_scale_tril(params);
    return detail::unpack_and_constrain(prototype(), detail::latent_quantiles(loc, scale_tril, z));
  }

  // num_samples draws from get_posterior(params) with `key`, constrained: shape
  // (num_samples, site shape).
  template <class T = ValueMap>
  ValueMap sample_posterior(Key key, const std::type_identity_t<T>& params, std::int64_t num_samples) const {
    if (num_samples < 1)
      throw std::invalid_argument("tyche: AutoLaplaceApproximation::sample_posterior: num_samples must be >= 1, got " +
                                  std::to_string(num_samples));
    const auto [loc, scale_tril] = loc_and_scale_tril(params);
    return detail::unpack_and_constrain(prototype(), detail::latent_draws(key, loc, scale_tril, num_samples));
  }

  const Model& model() const { return model_; }

 private:
  friend struct detail::AutoGuideAccess;

  static ValueMap body(const detail::AutoPrototype& prototype, const std::string& prefix) {
    const Tensor loc = param(prefix + "_loc", detail::init_latent(prototype));
    const Tensor latent =
        sample("_" + prefix + "_latent", dist::Delta(loc, 0.0, 1), std::nullopt, {.infer = detail::auxiliary()});
    return detail::continuous_guide_sites(prototype, latent);
  }

  // auto_loc and the Cholesky factor of H^-1 (zero, with a warning, when H is not positive definite).
  std::pair<Eigen::VectorXd, Eigen::MatrixXd> loc_and_scale_tril(const ValueMap& params) const {
    prototype();
    const Eigen::VectorXd loc = detail::as_vector(detail::param_value(params, loc_name()));
    const auto loss_at = [&](const Tensor& z) {
      ValueMap moved = params;
      moved.insert_or_assign(loc_name(), z);
      return (*loss_)(moved);
    };
    const Eigen::MatrixXd precision = detail::hessian_by_differences(loss_at, loc);
    const Eigen::LLT<Eigen::MatrixXd> factor(precision);
    if (factor.info() != Eigen::Success) {
      std::fprintf(stderr,
                   "tyche: AutoLaplaceApproximation: the Hessian of the negative log posterior at the MAP point is "
                   "not positive definite; posterior draws will be constant (the MAP point). Consider AutoNormal.\n");
      return {loc, Eigen::MatrixXd::Zero(loc.size(), loc.size())};
    }
    const Eigen::MatrixXd covariance = factor.solve(Eigen::MatrixXd::Identity(loc.size(), loc.size()));
    return {loc, Eigen::LLT<Eigen::MatrixXd>(0.5 * (covariance + covariance.transpose())).matrixL()};
  }

  const detail::AutoPrototype& prototype() const {
    if (!prototype_->ready)
      throw std::logic_error(
          "tyche: AutoLaplaceApproximation: the guide has not run yet (SVI::init runs it): its sites are unknown");
    return *prototype_;
  }
  std::string loc_name() const { return options_.prefix + "_loc"; }

  Model model_;
  AutoLaplaceApproximationOptions options_;
  std::shared_ptr<detail::AutoPrototype> prototype_;
  std::shared_ptr<std::function<Tensor(const ValueMap&)>> loss_;
};

}  // namespace tyche
