// infer_discrete: draws the discrete latent sites of a model from their
// posterior given everything else (temperature 1), or their most probable
// joint values (temperature 0, the MAP: Viterbi for an HMM), as NumPyro's
// numpyro.contrib.funsor.infer_discrete.
//
//   auto posterior = tyche::substitute(model, {{"weights", w}, {"locs", locs}, {"scale", s}});
//   auto discrete = tyche::infer_discrete(posterior, {.temperature = 0});       // MAP assignments
//   tyche::Trace tr = tyche::trace(discrete).get_trace(data);
//   tr["assignment"].value;                                                        // (5,): 0 0 1 1 1
//   tyche::infer_discrete(posterior, {.temperature = 1, .rng_key = tyche::PRNGKey(3)})(data);   // a draw
//
// Calling the result runs the model once more, visibly to the handlers
// around it, with the discrete sites at their drawn values. The sites drawn
// are those config_enumerate marks (every latent site of Bernoulli,
// Categorical, Binomial, DiscreteUniform or BetaBinomial). They are drawn
// one after the other in the order the model runs them, each from its
// conditional given the ones drawn before it, with the later ones summed out
// (maximised at temperature 0) by the variable elimination of
// enum_log_density (effects/handlers/enum.hpp): a draw from the joint
// posterior, one model run per site. Sites of one plate are drawn
// independently per plate element, which is exact when no later site outside
// that plate depends on them (otherwise an error).
//
// The other sites keep the values the model gets from the handlers inside
// infer_discrete (substitute or condition the continuous sites there, as
// with NumPyro); a continuous latent site left without one is drawn from its
// prior with the same key in every run, so all runs see the same value.
// The key is .rng_key, else one from the enclosing seed handler.
#pragma once

#include "tyche/distributions/random.hpp"
#include "tyche/effects/handlers/block.hpp"
#include "tyche/effects/handlers/enum.hpp"
#include "tyche/effects/handlers/seed.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"
#include "tyche/effects/primitives.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche {

struct InferDiscreteOptions {
  double temperature = 1.0;                // 1: draw from the posterior; 0: the MAP
  std::optional<int> first_available_dim = std::nullopt;  // -max_plate_nesting - 1; guessed from one run if not given
  std::optional<Key> rng_key = std::nullopt;              // default: a key from the enclosing seed
};

namespace detail {

// One discrete site's draw from the terms that hold its dim (its
// conditional's log density, unnormalised, over its values and plates): per
// element of its batch shape, Gumbel-max over the values (temperature 1) or
// their argmax (temperature 0).
template <class T = Tensor>
Tensor draw_enumerated(const Message& site, int dim, const std::vector<std::type_identity_t<T>>& terms, int rank,
                       double temperature, Key key) {
  const Tensor support = site.fn->enumerate_support(false);
  const std::int64_t count = support.dim(0);
  const Shape& batch = site.fn->batch_shape();
  std::vector<std::int64_t> dims(std::size_t(rank), 1);
  dims[std::size_t(rank + dim)] = count;
  for (int i = 0; i < batch.rank(); ++i) dims[std::size_t(rank - batch.rank() + i)] = batch[i];
  const Shape full(dims);
  // No term: the site's values are equally likely given the rest.
  Tensor logits = Tensor::zeros(full);
  for (const Tensor& term : terms) logits = logits + stop_gradient(term);
  logits = broadcast_to(logits, full);
  const std::int64_t n = batch.numel();
  const Tensor noise = temperature == 0.0 ? Tensor::zeros({count, n}) : random::gumbel(key, {count, n});
  std::vector<double> values(static_cast<std::size_t>(n));
  const double *l = logits.data(), *g = noise.data(), *s = support.data();
  for (std::int64_t j = 0; j < n; ++j) {
    std::int64_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (std::int64_t k = 0; k < count; ++k)
      if (const double score = l[k * n + j] + g[k * n + j]; score > best_score) best_score = score, best = k;
    values[std::size_t(j)] = s[best];
  }
  return Tensor(values, batch);
}

}  // namespace detail

template <class Model>
class InferDiscrete {
 public:
  InferDiscrete(Model model, InferDiscreteOptions options) : model_(std::move(model)), options_(options) {
    if (options_.temperature != 0.0 && options_.temperature != 1.0)
      throw std::invalid_argument("tyche: infer_discrete: temperature must be 0 (MAP) or 1 (a posterior draw), got " +
                                  std::to_string(options_.temperature));
    if (options_.first_available_dim && *options_.first_available_dim >= 0)
      throw std::invalid_argument("tyche: infer_discrete: first_available_dim must be negative, got " +
                                  std::to_string(*options_.first_available_dim));
  }

  // The discrete sites' values, by name, without running the model visibly.
  template <class... Args>
  ValueMap draw(const Args&... args) const {
    std::optional<Key> key = options_.rng_key ? options_.rng_key : prng_key();
    if (!key && options_.temperature != 0.0)
      throw std::runtime_error("tyche: infer_discrete needs a random key: give .rng_key, or run it under tyche::seed");
    const auto [model_key, draw_key] = split(key.value_or(kDefaultKey));
    tyche::block hide_from_outer_handlers;
    const auto seeded = seed(std::cref(model_), model_key);
    const int nesting = options_.first_available_dim ? -*options_.first_available_dim - 1
                                                     : guess_max_plate_nesting(trace(std::cref(seeded)).get_trace(args...));
    const auto reduce = options_.temperature == 0.0 ? detail::EnumReduce::max : detail::EnumReduce::logsumexp;
    ValueMap drawn;
    const auto enumerated_trace = [&] {
      return trace(enumerate(config_enumerate(substitute(std::cref(seeded), drawn)), -nesting - 1)).get_trace(args...);
    };
    std::vector<std::string> names;
    for (const Message& site : enumerated_trace())
      if (detail::enumerate_dim(site)) names.push_back(site.name);
    const std::vector<Key> keys = split(draw_key, int(names.size()) + 1);
    for (std::size_t i = 0; i < names.size(); ++i) {
      const Trace tr = enumerated_trace();
      const Message& site = tr[names[i]];
      const int dim = *detail::enumerate_dim(site);
      std::vector<Tensor> ignored, terms;
      detail::EnumFactors f = detail::collect_enum_factors<Trace>(tr, nesting, &ignored);
      (void)detail::contract_enum_factors(std::move(f.factors), f.rank, nesting, f.plate_scale, f.plate_size, reduce, dim,
                                  &terms);
      drawn.insert_or_assign(site.name, detail::draw_enumerated(site, dim, terms, std::max(f.rank, -dim), options_.temperature,
                                                        keys[i]));
    }
    seed_ = model_key;
    return drawn;
  }

  // Runs the model with its discrete sites at drawn values (see the top).
  template <class... Args>
  decltype(auto) operator()(const Args&... args) const {
    ValueMap drawn = draw(args...);
    return seed(substitute(std::cref(model_), std::move(drawn)), *seed_)(args...);
  }

 private:
  Model model_;
  InferDiscreteOptions options_;
  mutable std::optional<Key> seed_;  // the key of the last draw's runs, for the visible run
};

template <class Model>
InferDiscrete<Model> infer_discrete(Model model, InferDiscreteOptions options = {}) {
  return InferDiscrete<Model>(std::move(model), options);
}

}  // namespace tyche
