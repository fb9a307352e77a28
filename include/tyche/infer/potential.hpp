// The potential energy of a model on the unconstrained space: what HMC and
// NUTS move in (NumPyro's initialize_model, potential_energy, transform_fn and
// constrain_fn).
//
// The latent sites (sample sites that are not observed) are laid out in one
// flat vector u, each through biject_to(its support); the potential is
//   U(u) = -(log p(T(u)) + log |det J_T(u)|),
// a function of u usable with value_and_grad and compile_gradient.
//
//   auto model = [](const tyche::Tensor& y) {
//     auto mu = tyche::sample("mu", tyche::dist::Normal(0.0, 5.0));
//     auto tau = tyche::sample("tau", tyche::dist::HalfCauchy(5.0));
//     tyche::plate data("data", y.size());
//     tyche::sample("y", tyche::dist::Normal(mu, tau), y);
//   };
//   auto potential = tyche::potential_energy(model, y);   // finds mu, tau: u = (mu, log tau)
//   Eigen::VectorXd u = potential.pack({{"mu", 1.0}, {"tau", 2.0}});          // (1, log 2)
//   auto [energy, gradient] = tyche::value_and_grad(potential, u);
//   auto compiled = tyche::compile_gradient(potential, u);                    // for the hot loop
//   tyche::ValueMap values = potential.unpack(u);                             // mu 1, tau 2
//   potential.layout()["tau"].offset;                                         // 1
//
// As NumPyro's `_unconstrain_reparam`, each evaluation runs the model under
// substitute: a latent site takes its slice of u, mapped by the transform of
// its support *at this evaluation* (a support may depend on other sites, as
// Uniform(0, b) with b sampled), and adds that map's log |det J| (summed to
// the site's batch shape) as a factor site `_<name>_log_det`, issued while
// the site is in flight, so that the plates, scale and mask around the site
// apply to it too. A site on the real line adds no factor (its map is the
// identity). The sites lie in u in the order of their names, as NumPyro's
// ravel_pytree lays out its dict of parameters.
//
// Discrete latent sites whose support can be listed (Bernoulli, Categorical,
// Binomial, DiscreteUniform, BetaBinomial) are not in u: as NumPyro's
// initialize_model does, the potential runs the model under
// enumerate(config_enumerate(model)) and sums them out with
// enum_log_density (effects/handlers/enum.hpp), so HMC and NUTS sample the
// continuous sites from their marginal; a notice says so once per process.
// tyche::infer_discrete draws them afterwards. max_plate_nesting is guessed
// from the first run (guess_max_plate_nesting).
// Other discrete latent sites (Poisson, ...) are an error.
#pragma once

#include "tyche/distributions/biject_to.hpp"
#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/delta.hpp"
#include "tyche/effects/handlers/enum.hpp"
#include "tyche/effects/handlers/seed.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"
#include "tyche/effects/log_density.hpp"
#include "tyche/effects/primitives.hpp"
#include "tyche/infer/initial_trace.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace tyche {

// One latent site's place in the flat unconstrained vector.
struct LatentSite {
  std::string name;
  std::int64_t offset = 0;   // its first coordinate
  Shape shape;               // of its (constrained) value
  Shape unconstrained_shape; // of its coordinates: biject_to(support)->inverse_shape(shape)
  std::int64_t size() const { return unconstrained_shape.numel(); }
};

namespace detail {

inline bool is_latent(const Message& site) {
  if (site.type != SiteType::sample || site.is_observed) return false;
  const auto auxiliary = site.infer.find("is_auxiliary");
  return auxiliary == site.infer.end() || !std::holds_alternative<bool>(auxiliary->second) ||
         !std::get<bool>(auxiliary->second);
}

// Why a latent site cannot live in the unconstrained space; empty when it can.
inline std::string unsupported_latent(const Message& site) {
  const std::string name = "tyche: latent " + describe_site(site) + " ";
  if (dynamic_cast<const dist::Delta*>(&innermost(*site.fn)))
    return name + "has a Delta distribution, which has no density to move in: record the value with "
                  "tyche::deterministic, or observe the site";
  if (site.fn->is_discrete() && !site.fn->has_enumerate_support())
    return name + "has the discrete distribution " + site.fn->name() + " (support " + site.fn->support().str() +
           "), whose support tyche cannot enumerate: gradient-based inference needs continuous latent sites; "
           "marginalise it out by hand (sum its density over its values, e.g. with logsumexp, and add the result "
           "with tyche::factor), or give it a distribution with a finite support";
  return {};
}

// A discrete latent site the potential sums out (see the top).
inline bool enumerated_latent(const Message& site) {
  return is_latent(site) && site.fn->is_discrete() && site.fn->has_enumerate_support();
}

inline void notice_enumeration(const std::string& names) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::cerr << "tyche: the discrete latent site(s) " << names
              << " are summed out of the potential energy by enumeration, as NumPyro does (draw them with "
                 "tyche::infer_discrete)\n";
  });
}

}  // namespace detail

// The latent sites of a model run, in the order of their names, and their
// coordinates in the flat unconstrained vector (sizes add up to size()).
//
//   tyche::LatentLayout layout(tyche::trace(tyche::seed(model, 0)).get_trace(y));
//   for (const tyche::LatentSite& s : layout.sites()) std::cout << s.name << " " << s.offset << "\n";
class LatentLayout {
 public:
  // Throws std::invalid_argument for a trace without continuous latent
  // sites, with a latent Delta site or a discrete one that cannot be
  // enumerated, or with a subsampling plate (the compiled potential would
  // replay one subsample forever). Enumerable discrete sites are kept aside
  // (enumerated()), to be summed out.
  // A template so that only programs using it compile biject_to and the
  // transforms (issue 17; see core/tensor.hpp).
  template <class T = Trace>
  explicit LatentLayout(const std::type_identity_t<T>& trace) {
    for (const Message& site : trace) {
      if (site.type == SiteType::plate && site.subsample_size < site.plate_size)
        throw std::invalid_argument("tyche: plate `" + site.name + "` subsamples " + std::to_string(site.subsample_size) +
                                    " of " + std::to_string(site.plate_size) +
                                    " elements: the potential energy needs the whole data set (NumPyro would keep "
                                    "the first subsample for every evaluation); remove the subsample size");
      if (!detail::is_latent(site)) continue;
      if (const std::string why = detail::unsupported_latent(site); !why.empty()) throw std::invalid_argument(why);
      if (detail::enumerated_latent(site)) {
        enumerated_.push_back(site.name);
        continue;
      }
      const Shape shape = site.value->shape();
      sites_.push_back({site.name, 0, shape, biject_to(site.fn->support())->inverse_shape(shape)});
    }
    max_plate_nesting_ = guess_max_plate_nesting<T>(trace);
    std::string enumerated;
    for (const std::string& name : enumerated_) enumerated += (enumerated.empty() ? "`" : ", `") + name + "`";
    if (sites_.empty() && !enumerated_.empty())
      throw std::invalid_argument(std::string("tyche: the model has no continuous latent site: its discrete ") +
                                  (enumerated_.size() == 1 ? "latent site " : "latent sites ") + enumerated +
                                  " would be marginalised by enumeration, which leaves nothing for "
                                  "gradient-based inference to sample");
    if (sites_.empty())
      throw std::invalid_argument("tyche: the model has no latent site (a sample site that is not observed): there "
                                  "is nothing to infer");
    std::sort(sites_.begin(), sites_.end(), [](const LatentSite& a, const LatentSite& b) { return a.name < b.name; });
    for (std::size_t i = 0; i < sites_.size(); ++i) {
      sites_[i].offset = size_;
      size_ += sites_[i].size();
      index_[sites_[i].name] = i;
    }
  }

  const std::vector<LatentSite>& sites() const { return sites_; }
  // The length of the unconstrained vector.
  std::int64_t size() const { return size_; }
  bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }
  // The site of that name; none when it is not latent.
  const LatentSite* find(std::string_view name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &sites_[it->second];
  }
  const LatentSite& operator[](std::string_view name) const {
    if (const LatentSite* site = find(name)) return *site;
    throw std::out_of_range("tyche: `" + std::string(name) + "` is not a latent site (latent sites: " + names() + ")");
  }
  // "mu, tau, theta".
  std::string names() const {
    std::string out;
    for (const LatentSite& site : sites_) out += (out.empty() ? "" : ", ") + site.name;
    return out;
  }
  // The discrete latent sites summed out, in the order the model ran them.
  const std::vector<std::string>& enumerated() const { return enumerated_; }
  // The plate nesting the enumerated dims go left of.
  int max_plate_nesting() const { return max_plate_nesting_; }

 private:
  std::vector<LatentSite> sites_;
  std::vector<std::string> enumerated_;
  int max_plate_nesting_ = 0;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::int64_t size_ = 0;
};

namespace detail {

// A value on `support` (of a distribution with `event_dim` event axes) from
// its unconstrained coordinates, and log |det J| of that map summed to the
// value's batch shape.
struct ConstrainedValue {
  Tensor value, log_det;
};

template <class T = Tensor>
ConstrainedValue constrain_coordinates(const constraints::Constraint& support,
                                       const std::type_identity_t<T>& coordinates, int event_dim) {
  const transforms::TransformPtr transform = biject_to(support);
  Tensor value = transform->forward(coordinates);
  const Tensor log_det = transform->log_abs_det_jacobian(coordinates, value);
  return {value, transforms::detail::sum_rightmost(log_det, log_det.ndim() - value.ndim() + event_dim)};
}

// A latent site's value at u: its coordinates mapped onto its support, with
// the log-Jacobian of the map added as a factor site (inside the site's
// plates, scale and mask, which the factor passes through as well) unless
// `with_jacobian` is false.
template <class T = Tensor>
Tensor constrain_site(const Message& msg, const LatentSite& site, const std::type_identity_t<T>& u,
                      bool with_jacobian) {
  const Tensor coordinates = u.slice(site.offset, site.offset + site.size()).reshape(site.unconstrained_shape);
  const constraints::Constraint support = msg.fn->support();
  if (support.kind() == constraints::Kind::real) return coordinates;
  if (!with_jacobian) return biject_to(support)->forward(coordinates);
  ConstrainedValue constrained = constrain_coordinates(support, coordinates, msg.fn->event_dim());
  factor("_" + msg.name + "_log_det", constrained.log_det);
  return std::move(constrained.value);
}

}  // namespace detail

// The potential energy of `model` called with fixed arguments, over the
// latent sites of `layout` (see the top). A PotentialEnergy is a value: it
// keeps a copy of the model and of its arguments. With `with_jacobian`
// false it is -log p(T(u)) without the log |det J| factors: the objective of
// a point estimate in the constrained space (AutoDelta's MAP), not a density
// on u.
template <class Model, class... Args>
class PotentialEnergy {
 public:
  PotentialEnergy(Model model, std::tuple<Args...> args, LatentLayout layout, bool with_jacobian = true)
      : model_(std::move(model)), args_(std::move(args)), layout_(std::move(layout)), with_jacobian_(with_jacobian) {
    if (layout_.enumerated().empty()) return;
    std::string names;
    for (const std::string& name : layout_.enumerated()) names += (names.empty() ? "`" : ", `") + name + "`";
    detail::notice_enumeration(names);
  }

  // U(u) for a rank-1 u of length layout().size().
  Tensor operator()(const Tensor& u) const {
    if (layout_.enumerated().empty()) return -trace_log_density(run(u));
    return -enum_log_density(run(u), layout_.max_plate_nesting());
  }

  const LatentLayout& layout() const { return layout_; }

  // The model's trace at u: latent sites at their constrained values (and
  // the `_<name>_log_det` factors), deterministic sites computed from them.
  Trace run(const Tensor& u) const {
    if (u.ndim() != 1 || u.size() != layout_.size())
      throw ShapeError("tyche: potential energy: the unconstrained vector must have shape (" +
                       std::to_string(layout_.size()) + ",) for the latent sites " + layout_.names() + ", got shape " +
                       u.shape().str());
    std::size_t visited = 0;
    const SiteValueFn constrain = [&](const Message& msg) -> std::optional<Tensor> {
      if (msg.type != SiteType::sample) return std::nullopt;
      const LatentSite* site = layout_.find(msg.name);
      if (!site) {
        if (detail::is_latent(msg) && !msg.value)
          throw std::invalid_argument("tyche: latent " + detail::describe_site(msg) +
                                      " was not in the model when its latent sites were found (latent sites: " +
                                      layout_.names() + "): a model must run the same sites at every evaluation");
        return std::nullopt;
      }
      ++visited;
      return detail::constrain_site(msg, *site, u, with_jacobian_);
    };
    Trace recorded = record(constrain);
    if (visited != layout_.sites().size()) {
      std::string missing;
      for (const LatentSite& site : layout_.sites())
        if (!recorded.contains(site.name)) missing += (missing.empty() ? "`" : ", `") + site.name + "`";
      throw std::invalid_argument("tyche: potential energy: the model ran without its latent site(s) " + missing +
                                  ": a model must run the same sites at every evaluation");
    }
    return recorded;
  }

  // The model's trace under seed(key), with the sites `values` gives a value
  // (an init strategy) taking it: how a chain finds its starting point.
  Trace seeded_trace(Key key, const SiteValueFn& values) const {
    return std::apply(
        [&](const auto&... a) { return trace(substitute(seed(std::cref(model_), key), values)).get_trace(a...); },
        args_);
  }

  // The flat unconstrained vector of constrained values of every latent site
  // (NumPyro's transform_fn). The model runs with these values, so that a
  // support depending on another site is the one at these values.
  Eigen::VectorXd pack(const ValueMap& values) const {
    for (const auto& [name, value] : values)
      if (!layout_.contains(name))
        throw std::invalid_argument("tyche: pack: `" + name + "` is not a latent site (latent sites: " +
                                    layout_.names() + ")");
    for (const LatentSite& site : layout_.sites())
      if (!values.contains(site.name))
        throw std::invalid_argument("tyche: pack: no value for latent site `" + site.name + "`");
    const Trace recorded = record(values);
    Eigen::VectorXd u(layout_.size());
    for (const LatentSite& site : layout_.sites()) {
      const Message& msg = recorded[site.name];
      const Tensor value = msg.value->shape() == site.shape ? *msg.value : broadcast_to(*msg.value, site.shape);
      const Tensor coordinates = biject_to(msg.fn->support())->inverse(value);
      const Eigen::Map<const Eigen::VectorXd> flat(coordinates.data(), Eigen::Index(coordinates.size()));
      for (Eigen::Index i = 0; i < flat.size(); ++i)
        if (!std::isfinite(flat[i]))
          throw std::invalid_argument("tyche: pack: the value of latent " + detail::describe_site(msg) +
                                      " is outside its support " + msg.fn->support().str() +
                                      " (unconstrained coordinate " + std::to_string(i) + " is " +
                                      std::to_string(flat[i]) + ")");
      u.segment(site.offset, site.size()) = flat;
    }
    return u;
  }

  // The constrained value of each latent site at u (NumPyro's constrain_fn).
  ValueMap unpack(const Eigen::Ref<const Eigen::VectorXd>& u) const {
    const Trace recorded = run(Tensor(u));
    ValueMap values;
    for (const LatentSite& site : layout_.sites()) values.emplace(site.name, *recorded[site.name].value);
    return values;
  }

 private:
  // The model's trace with `values` (a ValueMap or a SiteValueFn)
  // substituted, its enumerable discrete sites enumerated.
  template <class Values>
  Trace record(const Values& values) const {
    return std::apply(
        [&](const auto&... a) {
          if (layout_.enumerated().empty()) return trace(substitute(std::cref(model_), values)).get_trace(a...);
          const auto enumerated = enumerate(config_enumerate(std::cref(model_)), -layout_.max_plate_nesting() - 1);
          return trace(substitute(enumerated, values)).get_trace(a...);
        },
        args_);
  }

  Model model_;
  std::tuple<Args...> args_;
  LatentLayout layout_;
  bool with_jacobian_;
};

// The potential energy of model(args...): one run under seed(0) finds the
// latent sites and their shapes (NumPyro's initialize_model), values are
// then given by u. The arguments are copied (a Tensor copy shares its data).
template <class Model, class... Args>
PotentialEnergy<Model, std::decay_t<Args>...> potential_energy(Model model, Args&&... args) {
  std::tuple<std::decay_t<Args>...> arguments(std::forward<Args>(args)...);
  LatentLayout layout(detail::initial_trace(model, arguments));
  return {std::move(model), std::move(arguments), std::move(layout)};
}

}  // namespace tyche
