// Predictive and log_likelihood: the model run once per posterior draw
// (NumPyro's numpyro.infer.Predictive and numpyro.infer.util.log_likelihood).
//
//   tyche::Predictive predictive(model, mcmc.get_samples());
//   tyche::ValueMap draws = predictive(/*seed=*/1, x, std::nullopt);   // y left out: redrawn per draw
//   tyche::ValueMap prior = tyche::Predictive(model, {.num_samples = 500})(/*seed=*/2, x, std::nullopt);
//   tyche::ValueMap loglik = tyche::log_likelihood(model, mcmc.get_samples(), x, y);   // "y": (draws, N)
//   tyche::ValueMap fitted = tyche::Predictive(model, guide, {.params = svi_result.params, .num_samples = 1000})(
//       /*seed=*/3, x, std::nullopt);                                      // draws from a guide (after SVI)
//
// Per draw i, the model runs under seed with the i-th key split from the
// seed's and under substitute with draw i's values. What comes back, as
// NumPyro's _predictive, with a leading draw axis (two, (chain, draw), with
// batch_ndims = 2; from the prior, (1, num_samples) then, as NumPyro's):
// - by default, the sample sites the samples do not hold (observed ones
//   included: a site whose observation the caller left out is redrawn, one
//   whose observation was given returns it) and every deterministic site;
// - with return_sites, exactly the named sites (an empty list: every site).
// A deterministic site the samples hold is computed again from the draw,
// unless exclude_deterministic is false (then the samples' value is kept).
// Sample names the model does not have are ignored, as substitute ignores
// them; where NumPyro warns (draw counts that differ between sites, a value
// that does not fit its site), tyche throws, naming the site.
//
// With a guide (NumPyro's Predictive(model, guide=guide, params=params,
// num_samples=n)), each of the num_samples draws first runs the guide under
// substitute with `params` and under seed, and every site of the guide's
// trace (its sample sites, its params, its deterministic sites) is that
// draw's sample; then the model runs as above with them. So by default the
// guide's latent sites do not come back (the model's sites the guide does
// not draw do, with the deterministic ones); return_sites names them to get
// them. The key is split into the model's key and the guide's key (in that
// order, as NumPyro and Trace_ELBO), each split into one key per draw.
// `params` are substituted into the model too, as NumPyro; names that
// neither has are ignored, as substitute ignores them (NumPyro does the
// same). The guide is a constructor argument, not an option: a designated
// initialiser cannot hold a callable of any type without fixing the types of
// the model's arguments, which only the call knows. batch_ndims is then 0 and
// the draws have one leading axis of num_samples (NumPyro's batch_ndims = 1
// with a guide batches over stacked params; tyche does not have it).
//
// The helpers are templates (the idiom of core/tensor.hpp), so that
// including tyche compiles none of them.
#pragma once

#include "tyche/effects/handlers/seed.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"
#include "tyche/effects/site_errors.hpp"
#include "tyche/infer/infer_discrete.hpp"
#include "tyche/infer/threads.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche {

struct PredictiveOptions {
  // Values of param sites, substituted into the model and the guide (an SVI
  // run's result.params); names neither has are ignored.
  ValueMap params = {};
  // Draws for a prior predictive (no samples); with samples, their count.
  std::optional<std::int64_t> num_samples = std::nullopt;
  // The sites to return; none: NumPyro's default (see the top); empty: all.
  std::optional<std::vector<std::string>> return_sites = std::nullopt;
  bool exclude_deterministic = true;
  // Leading axes of the samples that index draws: 1 (the default), or 2 for
  // (chain, draw); with a guide 0 (the default there), as NumPyro.
  std::optional<int> batch_ndims = std::nullopt;
  bool parallel = false;  // draws on threads; the results do not depend on it
  // Draw the model's enumerable discrete latent sites from their posterior
  // given each draw's other sites (tyche::infer_discrete at temperature 1),
  // as NumPyro's Predictive(infer_discrete=True).
  bool infer_discrete = false;
};

namespace detail {

// The draws' batch shape: the leading batch_ndims axes every sample shares.
template <class T = ValueMap>
Shape predictive_batch_shape(const std::type_identity_t<T>& samples, int batch_ndims, const char* caller) {
  if (batch_ndims < 1 || batch_ndims > 2)
    throw std::invalid_argument(std::string("tyche: ") + caller + ": batch_ndims must be 1 or 2, got " +
                                std::to_string(batch_ndims));
  std::optional<Shape> batch;
  std::string first;
  for (const auto& [name, values] : samples) {
    if (values.ndim() < batch_ndims)
      throw ShapeError(std::string("tyche: ") + caller + ": the samples of `" + name + "` have shape " +
                       values.shape().str() + ", which has no " + std::to_string(batch_ndims) + " draw axes");
    Shape leading;
    for (int a = 0; a < batch_ndims; ++a) leading.push_back(values.dim(a));
    if (!batch) {
      batch = leading;
      first = name;
    } else if (leading != *batch) {
      throw ShapeError(std::string("tyche: ") + caller + ": the samples of `" + name + "` have draw axes " +
                       leading.str() + " but those of `" + first + "` have " + batch->str());
    }
  }
  return batch.value_or(Shape{});
}

// Draw k of a site's samples (the batch axes flattened).
template <class T = Tensor>
Tensor sample_at(const std::type_identity_t<T>& values, std::int64_t draws, std::int64_t k, int batch_ndims) {
  Shape shape;
  for (int a = batch_ndims; a < values.ndim(); ++a) shape.push_back(values.dim(a));
  const std::int64_t size = values.size() / draws;
  return Tensor(std::vector<double>(values.data() + k * size, values.data() + (k + 1) * size), shape);
}

// Draws of sites gathered into arrays with the batch shape in front; every
// draw of a site must have the same shape.
template <class = void>
class DrawCollectorT {
 public:
  DrawCollectorT(Shape batch, std::int64_t count) : batch_(std::move(batch)), count_(count) {}

  // Draw 0 (which runs first, alone) declares the sites kept; later draws
  // store into them from any thread, each draw into its own slots. A site
  // not declared is not kept.
  void declare(const std::string& name, const Shape& shape) {
    sites_.push_back({name, shape, std::vector<double>(std::size_t(count_ * shape.numel()))});
  }
  void store(const std::string& name, const Tensor& value, std::int64_t k) {
    for (Site& site : sites_) {
      if (site.name != name) continue;
      if (value.shape() != site.shape)
        throw ShapeError("tyche: Predictive: site `" + name + "` has shape " + value.shape().str() + " at draw " +
                         std::to_string(k) + " but " + site.shape.str() + " at draw 0");
      std::copy(value.data(), value.data() + value.size(), site.values.begin() + k * site.shape.numel());
      return;
    }
  }
  ValueMap result() && {
    ValueMap out;
    for (Site& site : sites_) {
      Shape shape = batch_;
      for (std::int64_t d : site.shape) shape.push_back(d);
      out.emplace(site.name, Tensor(site.values, shape));
    }
    return out;
  }

 private:
  struct Site {
    std::string name;
    Shape shape;
    std::vector<double> values;
  };
  Shape batch_;
  std::int64_t count_;
  std::vector<Site> sites_;
};
using DrawCollector = DrawCollectorT<>;

// The guide of a Predictive built without one.
struct NoGuide {};

}  // namespace detail

template <class Model, class Guide = detail::NoGuide>
class Predictive {
  static constexpr bool has_guide = !std::is_same_v<Guide, detail::NoGuide>;

 public:
  // Posterior predictive: one model run per draw of the samples. The samples
  // are a ValueMap or a braced list of (name, draws) pairs, never any other
  // braced list: std::map's unconstrained (first, last) constructor would
  // take {.num_samples = 100, .batch_ndims = 2} and make the prior
  // predictive's spelling ambiguous.
  template <class Samples>
    requires(!has_guide && std::is_same_v<std::remove_cvref_t<Samples>, ValueMap>)
  Predictive(Model model, Samples&& posterior_samples, PredictiveOptions options = {})
      : model_(std::move(model)), samples_(std::forward<Samples>(posterior_samples)), options_(std::move(options)) {
    batch_ndims_ = options_.batch_ndims.value_or(1);
    batch_ = detail::predictive_batch_shape(samples_, batch_ndims_, "Predictive");
    if (samples_.empty()) {
      batch_ = prior_batch();
    } else if (options_.num_samples && *options_.num_samples != batch_.numel()) {
      throw std::invalid_argument("tyche: Predictive: num_samples is " + std::to_string(*options_.num_samples) +
                                  " but the samples hold " + std::to_string(batch_.numel()) +
                                  " draws (NumPyro warns and uses the samples' count)");
    }
  }
  Predictive(Model model, std::initializer_list<ValueMap::value_type> posterior_samples,
             PredictiveOptions options = {})
    requires(!has_guide)
      : Predictive(std::move(model), ValueMap(posterior_samples), std::move(options)) {}
  // Prior predictive: num_samples runs of the model.
  Predictive(Model model, PredictiveOptions options)
    requires(!has_guide)
      : model_(std::move(model)), options_(std::move(options)) {
    batch_ndims_ = options_.batch_ndims.value_or(1);
    detail::predictive_batch_shape(samples_, batch_ndims_, "Predictive");  // checks batch_ndims
    batch_ = prior_batch();
  }
  // From a guide: num_samples runs of the guide, each followed by one of the
  // model with the guide's draw (see the top).
  Predictive(Model model, Guide guide, PredictiveOptions options)
    requires has_guide
      : model_(std::move(model)), guide_(std::move(guide)), options_(std::move(options)) {
    if (!options_.num_samples) throw std::invalid_argument("tyche: Predictive: a guide needs num_samples");
    batch_ = prior_batch();
    batch_ndims_ = options_.batch_ndims.value_or(0);
    if (batch_ndims_ != 0)
      throw std::invalid_argument("tyche: Predictive: batch_ndims with a guide must be 0, got " +
                                  std::to_string(batch_ndims_) +
                                  " (NumPyro's batch_ndims = 1 with a guide batches over stacked params; tyche does not)");
  }

  // The draws (see the top) for model(args...).
  template <class... Args>
  ValueMap operator()(std::uint64_t seed, const Args&... args) const {
    return (*this)(PRNGKey(seed), args...);
  }
  template <class... Args>
  ValueMap operator()(Key key, const Args&... args) const {
    const std::int64_t count = batch_.numel();
    std::vector<Key> keys, guide_keys;
    if constexpr (has_guide) {
      const auto [model_key, guide_key] = split(key);
      keys = split(model_key, int(count));
      guide_keys = split(guide_key, int(count));
    } else {
      keys = split(key, int(count));
    }
    detail::DrawCollector collector(batch_, count);
    const auto run_draw = [&](std::int64_t k) {
      ValueMap draw;
      if constexpr (has_guide) {
        const Trace guide_sites =
            trace(seed(substitute(std::cref(guide_), options_.params), guide_keys[std::size_t(k)])).get_trace(args...);
        for (const Message& msg : guide_sites)
          if (msg.type != SiteType::plate && msg.value) draw.insert_or_assign(msg.name, *msg.value);
      } else {
        for (const auto& [name, values] : samples_)
          draw.emplace(name, detail::sample_at(values, count, k, batch_ndims_));
      }
      const SiteValueFn values = [&](const Message& msg) -> std::optional<Tensor> {
        if (!(msg.type == SiteType::deterministic && options_.exclude_deterministic))
          if (const auto it = draw.find(msg.name); it != draw.end()) return it->second;
        if (const auto it = options_.params.find(msg.name); it != options_.params.end()) return it->second;
        return std::nullopt;
      };
      const Trace sites =
          options_.infer_discrete
              ? trace(tyche::infer_discrete(substitute(std::cref(model_), values), {.rng_key = keys[std::size_t(k)]}))
                    .get_trace(args...)
              : trace(seed(substitute(std::cref(model_), values), keys[std::size_t(k)])).get_trace(args...);
      if (k == 0) declare_sites(sites, draw, collector);
      for (const Message& msg : sites)
        if (msg.value) collector.store(msg.name, *msg.value, k);
    };
    if (count == 0) return {};
    run_draw(0);
    // Later draws on threads; the first failing draw (by index) is reported.
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(count));
    std::atomic<bool> failed{false};
    detail::for_each_index(count - 1, detail::thread_count(count - 1, options_.parallel), [&](std::int64_t k) {
      if (failed.load(std::memory_order_relaxed)) return;
      try {
        run_draw(k + 1);
      } catch (...) {
        errors[std::size_t(k + 1)] = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    });
    for (const std::exception_ptr& error : errors)
      if (error) std::rethrow_exception(error);
    return std::move(collector).result();
  }

 private:
  Shape prior_batch() const {
    if (!options_.num_samples)
      throw std::invalid_argument("tyche: Predictive: give posterior samples or num_samples");
    if (*options_.num_samples < 1)
      throw std::invalid_argument("tyche: Predictive: num_samples must be >= 1, got " +
                                  std::to_string(*options_.num_samples));
    // NumPyro's (1,) * (batch_ndims - 1) + (num_samples,): one chain of draws.
    return batch_ndims_ == 2 ? Shape{1, *options_.num_samples} : Shape{*options_.num_samples};
  }

  // `drawn`: draw 0's samples (the guide's sites with a guide).
  void declare_sites(const Trace& sites, const ValueMap& drawn, detail::DrawCollector& collector) const {
    if (options_.return_sites && !options_.return_sites->empty()) {
      for (const std::string& name : *options_.return_sites) {
        if (!sites.contains(name))
          throw std::invalid_argument("tyche: Predictive: return_sites names `" + name +
                                      "`, which the model does not have");
        collector.declare(name, sites[name].value->shape());
      }
      return;
    }
    for (const Message& msg : sites) {
      if (msg.type == SiteType::plate || !msg.value) continue;
      const bool returned = options_.return_sites || msg.type == SiteType::deterministic ||
                            (msg.type == SiteType::sample && !drawn.contains(msg.name));
      if (returned) collector.declare(msg.name, msg.value->shape());
    }
  }

  Model model_;
  [[no_unique_address]] Guide guide_;
  ValueMap samples_;
  PredictiveOptions options_;
  int batch_ndims_ = 0;
  Shape batch_;
};

template <class Model, class Samples>
  requires std::is_same_v<std::remove_cvref_t<Samples>, ValueMap>
Predictive(Model, Samples&&, PredictiveOptions = {}) -> Predictive<Model>;
template <class Model>
Predictive(Model, std::initializer_list<ValueMap::value_type>, PredictiveOptions = {}) -> Predictive<Model>;
template <class Model>
Predictive(Model, PredictiveOptions) -> Predictive<Model>;
template <class Model, class Guide>
  requires(!std::is_same_v<std::remove_cvref_t<Guide>, ValueMap>)
Predictive(Model, Guide, PredictiveOptions) -> Predictive<Model, Guide>;

// The pointwise log density of each observed sample site at each draw:
// name -> (draw, ...batch shape of the site's distribution and value), as
// numpyro.infer.util.log_likelihood: the site's distribution's log_prob, so
// a mask set on the distribution (fn.mask(...)) applies, while the mask and
// scale handlers and plate subsampling scales do not. Every latent site must
// be in the samples (the model runs without seed).
template <class Model, class... Args>
ValueMap log_likelihood(const Model& model, const ValueMap& samples, const Args&... args) {
  const Shape batch = detail::predictive_batch_shape(samples, 1, "log_likelihood");
  const std::int64_t count = batch.numel();
  if (samples.empty()) throw std::invalid_argument("tyche: log_likelihood: no samples");
  detail::DrawCollector collector(batch, count);
  for (std::int64_t k = 0; k < count; ++k) {
    ValueMap draw;
    for (const auto& [name, values] : samples) draw.emplace(name, detail::sample_at(values, count, k, 1));
    const Trace sites = trace(substitute(std::cref(model), draw)).get_trace(args...);
    for (const Message& msg : sites) {
      if (msg.type != SiteType::sample || !msg.is_observed) continue;
      const Tensor log_density = msg.fn->log_prob(*msg.value);
      if (k == 0) collector.declare(msg.name, log_density.shape());
      collector.store(msg.name, log_density, k);
    }
  }
  return std::move(collector).result();
}

}  // namespace tyche
