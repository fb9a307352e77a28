// Parallel enumeration of discrete sample sites (NumPyro's `enum` handler,
// here `tyche::enumerate` since `enum` is a C++ keyword), config_enumerate,
// and enum_log_density: the log density of an enumerated trace with the
// enumerated values summed out exactly.
//
//   auto marked = tyche::config_enumerate(model);            // every discrete latent site: "parallel"
//   // or one site: tyche::sample("z", d, std::nullopt, {.infer = {{"enumerate", std::string("parallel")}}});
//   auto tr = tyche::trace(tyche::enumerate(marked, /*first_available_dim=*/-2)).get_trace(data);
//   tr["z"].value;                                            // (K, 1): every value of z along dim -2
//   tyche::Tensor log_p = tyche::enum_log_density(tr, /*max_plate_nesting=*/1);
//
// Under `enumerate(model, first_available_dim)` a latent sample site marked
// infer["enumerate"] = "parallel" (and without a value from an inner
// handler) takes every value of its support, along a new batch axis left of
// the model's plates: the first such site at first_available_dim (usually
// -max_plate_nesting - 1), the next one left of it, and so on, as NumPyro
// allocates them. Its value has shape (n, 1, ..., 1) with the n values at
// that dim, so everything computed from it broadcasts along the dim; the
// dim is kept in infer["_enumerate_dim"]. A marked site whose distribution
// cannot list its support is an error naming it.
//
// enum_log_density sums the enumerated axes out by variable elimination, as
// Pyro's and NumPyro's TraceEnum_ELBO do ("tensor variable elimination for
// plated factor graphs", Obermeyer et al. 2019): each site's log_prob is a
// factor over the enumerated dims it depends on and the plates it sits in;
// from the innermost plates out, the factors of one plate context are added
// and each enumerated dim whose site lives in that context is logsumexp'ed
// out once every factor that depends on it is in; then the plate axes no
// remaining enumerated dim needs are summed (a product of probabilities), and
// the result moves to the enclosing context. A subsampling plate scales its
// sum by size / subsample_size there, which is exact for a factor that
// varies along the plate. Sites whose log_prob depends on no enumerated dim
// simply add their (scaled) log density, as trace_log_density does. The
// plates must nest as a tree along every path of enumerated dims (as Pyro
// requires); otherwise the sum is an error. Each enumerated site keeps its
// own dim for the whole run (no markov dim recycling yet), so the plates and
// the enumerated sites together are at most kMaxRank (6) dims.
#pragma once

#include "tyche/core/reduce.hpp"
#include "tyche/effects/handlers/infer_config.hpp"
#include "tyche/effects/log_density.hpp"
#include "tyche/effects/runtime.hpp"
#include "tyche/effects/site_errors.hpp"
#include "tyche/effects/trace_data.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche {

namespace detail {

template <class M = Message>
bool marked_parallel(const std::type_identity_t<M>& msg) {
  const auto it = msg.infer.find("enumerate");
  return it != msg.infer.end() && std::holds_alternative<std::string>(it->second) &&
         std::get<std::string>(it->second) == "parallel";
}

// The dim the enumerate handler gave a site; none when it enumerated none.
template <class M = Message>
std::optional<int> enumerate_dim(const std::type_identity_t<M>& msg) {
  const auto it = msg.infer.find("_enumerate_dim");
  if (it == msg.infer.end() || !std::holds_alternative<double>(it->second)) return std::nullopt;
  return int(std::get<double>(it->second));
}

}  // namespace detail

template <class Fn = NoModel>
class enumerate : public Handler<Fn> {
 public:
  enumerate(Fn fn, int first_available_dim) : Handler<Fn>(std::move(fn)), first_(checked(first_available_dim)) {}
  explicit enumerate(int first_available_dim)
    requires IsGuard<Fn>
      : first_(checked(first_available_dim)) {
    next_ = first_;
  }

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample || msg.is_observed || msg.value || !detail::marked_parallel(msg)) return;
    const dist::Distribution& fn = *msg.fn;
    if (!fn.has_enumerate_support())
      throw std::invalid_argument("tyche: " + detail::describe_site(msg) +
                                  " is marked infer[\"enumerate\"] = \"parallel\" but its " + fn.name() +
                                  " (support " + fn.support().str() +
                                  ") cannot list its support; enumerate Bernoulli, Categorical, Binomial, "
                                  "DiscreteUniform or BetaBinomial sites");
    if (msg.sample_shape.rank() > 0)
      throw std::invalid_argument("tyche: " + detail::describe_site(msg) +
                                  ": an enumerated site cannot have a sample_shape (" + msg.sample_shape.str() +
                                  "); give the distribution that batch shape, inside plates");
    const int dim = next_--;
    if (dim < -kMaxRank)
      throw ShapeError("tyche: " + detail::describe_site(msg) + ": enumerating it needs dim " + std::to_string(dim) +
                       ", but tyche arrays have at most " + std::to_string(kMaxRank) +
                       " dims (the plates and one dim per enumerated site, which are not reused: there is no "
                       "markov handler yet); enumerate fewer sites, or sum some out by hand");
    if (fn.batch_shape().rank() > -1 - dim)
      throw ShapeError("tyche: " + detail::describe_site(msg) + ": its " + fn.name() + " has batch shape " +
                       fn.batch_shape().str() + ", which reaches past dim " + std::to_string(dim) +
                       " where the enumerated values go; max_plate_nesting (or first_available_dim " +
                       std::to_string(first_) + ") must leave room for every plate and batch axis");
    const Tensor support = fn.enumerate_support(false);
    Shape shape{support.dim(0)};
    for (int i = 0; i < -1 - dim; ++i) shape.push_back(1);
    msg.value = support.reshape(shape);
    msg.infer.insert_or_assign("_enumerate_dim", double(dim));
  }

 private:
  static int checked(int dim) {
    if (dim >= 0)
      throw std::invalid_argument("tyche: enumerate: first_available_dim must be negative (left of the plates, "
                                  "-max_plate_nesting - 1), got " + std::to_string(dim));
    return dim;
  }
  void reset() const override { next_ = first_; }
  int first_;
  mutable int next_ = -1;
};

template <class Fn>
enumerate(Fn, int) -> enumerate<Fn>;
enumerate(int) -> enumerate<NoModel>;

// Marks every latent sample site whose distribution can list its support
// with infer["enumerate"] = default_strategy ("parallel"), keeping a
// strategy the site gives itself (NumPyro's config_enumerate).
template <class Fn>
auto config_enumerate(Fn model, std::string default_strategy = "parallel") {
  return infer_config(std::move(model), InferConfigFn([strategy = std::move(default_strategy)](const Message& msg) {
                        if (msg.type != SiteType::sample || msg.is_observed || !msg.fn->has_enumerate_support())
                          return Infer{};
                        const auto it = msg.infer.find("enumerate");
                        return Infer{{"enumerate", it != msg.infer.end() ? it->second : InferValue(strategy)}};
                      }));
}

// max_plate_nesting guessed from a trace of one run (NumPyro's
// _guess_max_plate_nesting, which assumes every run has the same plates):
// how many dims right of the enumerated ones to leave free, the deepest
// plate nesting or, if larger, the batch rank of a sample site, since a
// batch axis without a plate counts as a plate of its own.
template <class T = Trace>
int guess_max_plate_nesting(const std::type_identity_t<T>& trace) {
  int nesting = 0;
  for (const Message& site : trace) {
    if (site.type == SiteType::sample) nesting = std::max(nesting, site.fn->batch_shape().rank());
    for (const CondIndepStackFrame& frame : site.cond_indep_stack) nesting = std::max(nesting, -frame.dim);
  }
  return nesting;
}

namespace detail {

// How an enumerated dim is eliminated: summed out (marginal) or maximised
// (the most probable values: infer_discrete at temperature 0).
enum class EnumReduce { logsumexp, max };

// One log factor of an enumerated trace: a site's log_prob, left-padded to
// the common rank, and the plates it varies along (bit i: dim -i-1).
struct EnumFactor {
  Tensor log_prob;
  std::uint32_t plates = 0;
  std::string site;
};

// The variable elimination of enum_log_density (see the top), on factors of
// rank `rank`. Plate dims are -1 .. -max_plate_nesting; every dim left of
// them with size > 1 in some factor is an enumerated one. plate_scale[i]
// and plate_size[i] are plate dim -i-1's subsampling scale and (subsample)
// size. With `target`, that dim is not eliminated: the terms that hold it,
// over its site's plates, go to *target_terms (what infer_discrete draws
// from), and the rest is returned.
template <class T = Tensor>
Tensor contract_enum_factors(std::vector<EnumFactor> factors, int rank, int max_plate_nesting,
                             const std::vector<double>& plate_scale, const std::vector<std::int64_t>& plate_size,
                             EnumReduce reduce, std::optional<int> target = std::nullopt,
                             std::vector<std::type_identity_t<T>>* target_terms = nullptr) {
  const auto axis = [rank](int dim) { return rank + dim; };
  const auto varies = [&](const Tensor& t, int dim) { return t.dim(axis(dim)) > 1; };
  const int first_enum = -max_plate_nesting - 1;
  // Each enumerated dim lives in the plates every factor holding it shares.
  std::map<int, std::uint32_t> var_plates;
  for (const EnumFactor& f : factors)
    for (int d = -rank; d <= first_enum; ++d)
      if (varies(f.log_prob, d)) {
        const auto [it, added] = var_plates.try_emplace(d, f.plates);
        if (!added) it->second &= f.plates;
      }
  if (target && !var_plates.contains(*target)) target.reset();  // a support of one value: nothing to draw
  const auto vars_of = [&](const Tensor& t) {
    std::vector<int> vars;
    for (int d = -rank; d <= first_enum; ++d)
      if (varies(t, d) && d != target) vars.push_back(d);
    return vars;
  };
  const auto holds_target = [&](const Tensor& t) { return target && varies(t, *target); };

  std::map<std::uint32_t, std::vector<Tensor>> tree;
  for (EnumFactor& f : factors) tree[f.plates].push_back(std::move(f.log_prob));
  std::vector<Tensor> done;  // fully reduced, rank 0
  while (!tree.empty()) {
    // The deepest plate context (most plates; ties broken by the mask).
    auto leaf = std::max_element(tree.begin(), tree.end(), [](const auto& a, const auto& b) {
      return std::pair(std::popcount(a.first), a.first) < std::pair(std::popcount(b.first), b.first);
    });
    const std::uint32_t plates = leaf->first;
    std::vector<Tensor> terms = std::move(leaf->second);
    tree.erase(leaf);
    // A term whose dims of this context are gone: to the target's terms, or
    // its other plates summed (a product of probabilities) and on to the
    // enclosing context that its remaining dims live in.
    const auto finish = [&](Tensor t) {
      const std::vector<int> remaining = vars_of(t);
      std::uint32_t parent = 0;
      for (int d : remaining) parent |= var_plates.at(d);
      if (holds_target(t)) {
        if (plates == var_plates.at(*target)) {
          if (!remaining.empty())
            throw std::invalid_argument(
                "tyche: infer_discrete: an enumerated site drawn after another one depends on it from outside "
                "its plates; draw it with the other one's plates, or give the sites another order");
          target_terms->push_back(std::move(t));
          return;
        }
        parent |= var_plates.at(*target);
      }
      if ((parent & ~plates) != 0 || (parent == plates && !remaining.empty()))
        throw std::invalid_argument(
            "tyche: enumeration: the plates of the enumerated sites do not nest as a tree (an enumerated dim is "
            "shared by factors in plates that are not nested); sum such sites out by hand");
      double multiplier = 1.0;
      for (int i = 0; i < max_plate_nesting; ++i) {
        if (!(plates >> i & 1u) || (parent >> i & 1u)) continue;
        const int dim = -i - 1;
        if (varies(t, dim)) t = sum(t, axis(dim), true);
        else multiplier *= double(plate_size[std::size_t(i)]);
        multiplier *= plate_scale[std::size_t(i)];
      }
      if (multiplier != 1.0) t = t * multiplier;
      if (parent == 0 && remaining.empty() && !holds_target(t)) done.push_back(sum(t));
      else tree[parent].push_back(std::move(t));
    };
    // This context's dims, one at a time: add the terms that hold the dim
    // (broadcasting), reduce it. Greedily the dim whose added term is
    // smallest first, which keeps a chain (an HMM) linear in its length.
    std::vector<Tensor> pool = std::move(terms);
    while (true) {
      std::optional<int> next;
      std::int64_t next_size = 0;
      for (const Tensor& term : pool)
        for (int d : vars_of(term)) {
          if (var_plates.at(d) != plates) continue;
          Shape joined;
          for (const Tensor& other : pool)
            if (varies(other, d)) joined = broadcast_shapes(joined, other.shape(), "enumeration");
          if (!next || joined.numel() < next_size) next = d, next_size = joined.numel();
        }
      if (!next) break;
      std::optional<Tensor> joined;
      std::vector<Tensor> rest;
      for (Tensor& term : pool) {
        if (!varies(term, *next)) rest.push_back(std::move(term));
        else joined = joined ? *joined + term : term;  // broadcasting, unlike add_n
      }
      const int a = axis(*next);
      rest.push_back(reduce == EnumReduce::logsumexp ? logsumexp(*joined, a, true) : max(*joined, a, true));
      pool = std::move(rest);
    }
    for (Tensor& t : pool) finish(std::move(t));
  }
  if (done.empty()) return 0.0;
  return done.size() == 1 ? done[0] : add_n(done);
}

// The factors of an enumerated trace (see the top): sites whose log_prob
// depends on an enumerated dim, unscaled, padded to a common rank; the
// others' scaled log densities go to *rest.
struct EnumFactors {
  std::vector<EnumFactor> factors;
  int rank = 0;
  std::vector<double> plate_scale;
  std::vector<std::int64_t> plate_size;
};

template <class T = Trace>
EnumFactors collect_enum_factors(const std::type_identity_t<T>& trace, int max_plate_nesting, std::vector<Tensor>* rest) {
  if (max_plate_nesting < 0 || max_plate_nesting > 31)
    throw std::invalid_argument("tyche: enumeration: max_plate_nesting must be in [0, 31], got " +
                                std::to_string(max_plate_nesting));
  EnumFactors out;
  out.plate_scale.assign(std::size_t(max_plate_nesting), 1.0);
  out.plate_size.assign(std::size_t(max_plate_nesting), 1);
  std::map<std::string, double, std::less<>> subsample_scale;  // by plate name
  for (const Message& site : trace)
    if (site.type == SiteType::plate && site.subsample_size > 0)
      subsample_scale[site.name] = double(site.plate_size) / double(site.subsample_size);
  for (const Message& site : trace) {
    if (site.type != SiteType::sample) continue;
    try {
      // The shape of log_prob(value): the value's batch axes with the distribution's.
      const dist::Distribution& fn = *site.fn;
      const Shape& value = site.value->shape();
      const Shape value_batch(value.begin(), value.end() - std::min(value.rank(), fn.event_dim()));
      const Shape shape = broadcast_shapes(value_batch, fn.batch_shape(), "log_prob");
      bool enumerated = false;
      for (int i = 0; i < shape.rank() - max_plate_nesting; ++i) enumerated |= shape[i] > 1;
      if (!enumerated) {
        rest->push_back(site_log_density(site));
        continue;
      }
      EnumFactor factor{.log_prob = fn.log_prob(*site.value), .plates = 0, .site = site.name};
      double plates_scale = 1.0;
      for (const CondIndepStackFrame& frame : site.cond_indep_stack) {
        if (-frame.dim > max_plate_nesting)
          throw std::invalid_argument("tyche: plate `" + frame.name + "` is at dim " + std::to_string(frame.dim) +
                                      ", beyond max_plate_nesting " + std::to_string(max_plate_nesting) +
                                      ": raise max_plate_nesting");
        const auto i = std::size_t(-frame.dim - 1);
        factor.plates |= 1u << i;
        out.plate_size[i] = frame.size;
        const auto it = subsample_scale.find(frame.name);
        out.plate_scale[i] = it == subsample_scale.end() ? 1.0 : it->second;
        plates_scale *= out.plate_scale[i];
      }
      // Batch axes without a plate count as plates of their own.
      for (int i = 0; i < std::min(shape.rank(), max_plate_nesting); ++i)
        if (shape[shape.rank() - 1 - i] > 1 && !(factor.plates >> i & 1u)) {
          factor.plates |= 1u << i;
          out.plate_size[std::size_t(i)] = shape[shape.rank() - 1 - i];
        }
      const double scale = site.scale ? site.scale->size() == 1 ? site.scale->data()[0] : -1.0 : 1.0;
      if (std::abs(scale - plates_scale) > 1e-12 * plates_scale)
        throw std::invalid_argument("tyche: enumeration: the site's log density is scaled (by tyche::scale, or an "
                                    "array scale) beyond its plates' subsampling, which summing out its enumerated "
                                    "values cannot honour; remove the scale");
      out.rank = std::max(out.rank, factor.log_prob.ndim());
      out.factors.push_back(std::move(factor));
    } catch (...) {
      rethrow_naming_site(site);
    }
  }
  for (EnumFactor& f : out.factors)
    if (f.log_prob.ndim() < out.rank) {
      Shape padded;
      for (int i = f.log_prob.ndim(); i < out.rank; ++i) padded.push_back(1);
      for (std::int64_t d : f.log_prob.shape()) padded.push_back(d);
      f.log_prob = f.log_prob.reshape(padded);
    }
  return out;
}

}  // namespace detail

// The log joint of a trace recorded under `enumerate`, with every enumerated
// dim summed out (see the top); rank 0, differentiable as trace_log_density.
// A trace with no enumerated site gives trace_log_density.
template <class T = Trace>
Tensor enum_log_density(const std::type_identity_t<T>& trace, int max_plate_nesting) {
  std::vector<Tensor> terms;
  detail::EnumFactors f = detail::collect_enum_factors<T>(trace, max_plate_nesting, &terms);
  if (!f.factors.empty())
    terms.push_back(detail::contract_enum_factors(std::move(f.factors), f.rank, max_plate_nesting, f.plate_scale,
                                                  f.plate_size, detail::EnumReduce::logsumexp));
  if (terms.empty()) return 0.0;
  return terms.size() == 1 ? terms[0] : add_n(terms);
}

}  // namespace tyche
