// scan: a loop over time whose sites appear in a trace once per name, with a
// leading time axis (NumPyro's numpyro.contrib.control_flow.scan).
//
// scan(f, init, xs, {.length, .reverse, .history}) calls f(carry, x) -> (carry, y)
// once per step, x running over the leading axis of xs (a Tensor, a std::tuple
// of Tensors, or std::nullopt with .length), and returns the pair (last carry,
// ys stacked along a new leading axis). A Tensor y stacks to a Tensor; a tuple
// of them to a tuple of stacked Tensors; std::nullopt stacks to std::nullopt.
//
//   auto ar1 = [](std::int64_t T) {
//     auto phi = tyche::sample("phi", dist::Normal(0.0, 0.5));
//     auto [last, ys] = tyche::scan([&](const tyche::Tensor& prev, std::nullopt_t) {
//       tyche::Tensor y = tyche::sample("y", dist::Normal(phi * prev, 1.0));
//       return std::pair{y, y};
//     }, tyche::Tensor(0.0), std::nullopt, {.length = T});
//     return ys;                                                   // shape (T,)
//   };
//   auto tr = tyche::trace(tyche::seed(ar1, 0)).get_trace(100);   // one site "y" of shape (100,)
//   auto posterior = tyche::condition(ar1, {{"y", data}});        // data: shape (100,)
//
// How the handlers see it. A sample or deterministic site inside f reaches the
// handlers outside the scan as one message per name, not one per step:
// - when f first reaches the site, a message for the whole series (its
//   distribution expanded to a leading time axis of T) goes through the outer
//   handlers' process phase alone. What they leave on it is shared out per
//   step: a value of shape (T, ...) (condition, substitute, replay, the
//   potential energy of NUTS) is sliced, value[t] at step t; a value with the
//   step's own shape is given to every step (an init strategy); a value of
//   shorter length L < T is sliced for t < L and the steps after it draw
//   (forecasting, as NumPyro); a key (seed) is split into one key per step.
// - after the last step, the same message, now holding the stacked values and
//   a distribution whose log density is the sum of the steps' (each step's
//   own distribution at its own carry), goes through the postprocess phase of
//   the handlers that processed it: a trace records one site of shape (T, ...).
// So a latent site inside scan is one latent block with a leading time axis
// for the potential energy, and condition takes a (T, ...) array. Positions
// are the positions of xs and ys: with .reverse the steps run from T-1 down
// to 0, and step t's site value is at position t (and a condition's value[t]
// is given to it), so that a trace's values substituted back reproduce it
// (NumPyro slices by the step count, which differs under reverse). The series
// message carries NumPyro's infer["_control_flow_done"] = true: its leftmost
// batch axis is time, not a missing plate.
//
// Rules, as NumPyro's: plates go inside f (a scan inside a plate is an
// error: the time axis could not be aligned); every step must run the same
// sites; a site's support must not depend on the carry (it is taken from the
// first step, as the unconstrained space is laid out once). .history (the
// number of previous steps visible to discrete enumeration) is accepted for
// NumPyro's signature and has no effect: tyche enumerates discrete sites
// outside a scan only (no markov); a discrete latent site inside f is not
// summed out step by step.
//
// Compiled gradients. compile_gradient records every step's operations (the
// recording grows with T, as a loop's would); it does not record the step
// once. A step's one-element operations (a recursion's arithmetic on scalar
// parameters and carries) are replayed as scalar blocks, one table of
// instructions for a run of them (core/scalar_block.hpp), instead of one
// call per operation each way.
#pragma once

#include "tyche/core/indexing.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/effects/plate.hpp"
#include "tyche/effects/primitives.hpp"
#include "tyche/effects/runtime.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace tyche {

struct ScanOptions {
  std::optional<std::int64_t> length = {};  // the number of steps; needed when xs is std::nullopt
  bool reverse = false;                     // run the steps from the last position to the first
  int history = 1;                          // NumPyro's enumeration window; no effect (see the top)
};

namespace detail {

// The distribution of a scanned site: step t's own distribution at
// position t. Its density adds the steps' (one fused node each for the common
// families), each scaled by the step's scale (a plate subsampling inside f).
// When every step has the same location-scale family without a shape
// parameter (Normal(nu_t, sigma) at each step) and no scale of its own, the
// series is one distribution of the stacked locations and scales instead:
// one density node for T steps, not T (a parameter all steps share, the same
// array, is not stacked).
template <class = void>
class ScanStackedT : public dist::DistributionBase<ScanStackedT<>> {
 public:
  ScanStackedT(std::vector<dist::DistributionPtr> steps, std::vector<std::optional<Tensor>> scales,
               Shape step_sample_shape, const Shape& batch_shape)
      : dist::DistributionBase<ScanStackedT<>>(batch_shape, steps.front()->event_shape()),
        steps_(std::move(steps)),
        scales_(std::move(scales)),
        step_sample_shape_(step_sample_shape) {
    for (int i = 1; i < batch_shape.rank(); ++i) step_batch_.push_back(batch_shape[i]);
    joint_ = joint_location_scale();
  }

  std::string name() const override { return steps_.front()->name(); }
  constraints::Constraint support() const override { return steps_.front()->support(); }

  Tensor log_prob(const Tensor& value) const override {
    check(value);
    if (joint_) return joint_->log_prob(value);
    std::vector<Tensor> parts;
    parts.reserve(steps_.size());
    for (std::size_t t = 0; t < steps_.size(); ++t) {
      Tensor lp = steps_[t]->log_prob(value[std::int64_t(t)]);
      if (scales_[t]) lp = lp * *scales_[t];
      parts.push_back(lp.shape() == step_batch_ ? lp : broadcast_to(lp, step_batch_));
    }
    return stack(parts);
  }

  Tensor log_prob_sum(const Tensor& value) const override {
    check(value);
    if (joint_) return joint_->log_prob_sum(value);
    std::vector<Tensor> terms;
    terms.reserve(steps_.size());
    for (std::size_t t = 0; t < steps_.size(); ++t) {
      const Tensor step = value[std::int64_t(t)];
      const auto& s = scales_[t];
      if (!s) terms.push_back(steps_[t]->log_prob_sum(step));
      else if (s->size() == 1) terms.push_back(steps_[t]->log_prob_sum(step) * s->reshape(Shape{}));
      else terms.push_back(sum(*s * steps_[t]->log_prob(step)));
    }
    return add_n(terms);
  }

  Tensor mean() const override { return per_step([](const dist::Distribution& d) { return d.mean(); }); }
  Tensor variance() const override { return per_step([](const dist::Distribution& d) { return d.variance(); }); }

  // Each step draws from its own distribution with a key of its own; the
  // sample axes lead, the time axis follows them.
  Tensor draw(Key key, const Shape& sample_shape) const override {
    Shape shape = sample_shape;
    for (std::int64_t d : step_sample_shape_) shape.push_back(d);
    Shape step_shape = sample_shape;
    for (std::int64_t d : step_batch_) step_shape.push_back(d);
    for (std::int64_t d : this->event_shape()) step_shape.push_back(d);
    std::vector<Tensor> parts;
    for (const auto& step : steps_) {
      const auto [next, sub] = split(key);
      key = next;
      const Tensor x = step->sample(sub, shape);
      parts.push_back(x.shape() == step_shape ? x : broadcast_to(x, step_shape));
    }
    return stack(parts, sample_shape.rank());
  }

 private:
  void check(const Tensor& value) const {
    if (value.ndim() != this->batch_shape().rank() + this->event_dim() || value.dim(0) != std::int64_t(steps_.size()))
      throw ShapeError("tyche: the scanned " + name() + " of " + std::to_string(steps_.size()) +
                       " steps needs a value of shape " + this->shape().str() + " (time axis first), got " +
                       value.shape().str());
  }
  // The series as one distribution of the stacked parameters (see above), or null.
  dist::DistributionPtr joint_location_scale() const {
    const dist::Distribution& front = *steps_.front();
    const auto* family = dynamic_cast<const dist::LocScaleFamily*>(&front);
    // Families whose only parameters are loc and scale: a shape parameter
    // (StudentT's df) could differ between steps and would be lost.
    const std::string name = front.name();
    if (!family || step_sample_shape_.rank() > 0 ||
        (name != "Normal" && name != "Cauchy" && name != "Laplace" && name != "Logistic"))
      return nullptr;
    for (std::size_t t = 0; t < steps_.size(); ++t)
      if (const auto& step = *steps_[t]; scales_[t] || typeid(step) != typeid(front)) return nullptr;
    const auto series = [&](const Tensor& (dist::LocScaleFamily::*parameter)() const) {
      const Tensor& first = (family->*parameter)();
      bool shared = true;
      std::vector<Tensor> parts;
      parts.reserve(steps_.size());
      for (const auto& step : steps_) {
        const Tensor& p = (dynamic_cast<const dist::LocScaleFamily&>(*step).*parameter)();
        shared = shared && Access::data(p) == Access::data(first) && p.shape() == first.shape();
        parts.push_back(p.shape() == step_batch_ ? p : broadcast_to(p, step_batch_));
      }
      return shared ? first : stack(parts);
    };
    const Tensor loc = series(&dist::LocScaleFamily::loc);
    const Tensor scale = series(&dist::LocScaleFamily::scale);
    dist::DistributionPtr joint = family->with_loc_scale(loc, scale);
    if (!(joint->batch_shape() == this->batch_shape())) joint = joint->expand(this->batch_shape()).share();
    return joint;
  }

  template <class Moment>
  Tensor per_step(Moment moment) const {
    Shape step_shape = step_batch_;
    for (std::int64_t d : this->event_shape()) step_shape.push_back(d);
    std::vector<Tensor> parts;
    for (const auto& step : steps_) {
      const Tensor m = moment(*step);
      parts.push_back(m.shape() == step_shape ? m : broadcast_to(m, step_shape));
    }
    return stack(parts);
  }

  std::vector<dist::DistributionPtr> steps_;
  std::vector<std::optional<Tensor>> scales_;
  dist::DistributionPtr joint_;  // the series as one distribution, when it can be
  Shape step_sample_shape_;  // a sample_shape the steps' sites kept (no plate folded it in)
  Shape step_batch_;         // one step's batch shape (the site's, without the time axis)
};

// One scanned site: what the outer handlers made of its series message, and
// what each step recorded.
struct ScanSite {
  Message series;            // after the outer handlers' process phase
  std::size_t reached = 0;   // how many outer handlers processed it (from the bottom of their stack up)
  dist::DistributionPtr sent_fn;  // the distribution the series message went out with
  std::int64_t given = 0;    // positions 0 .. given-1 take series.value[t]; -1: every step takes it whole
  std::optional<Key> key;    // split once per drawing step
  Shape step_shape;          // one step's value
  std::vector<CondIndepStackFrame> cond_indep_stack;  // the plates inside f
  std::vector<dist::DistributionPtr> fns;
  std::vector<std::optional<Tensor>> scales;
  std::vector<Tensor> values;
  std::int64_t steps_run = 0, last_step = -1;
};

// Sits on the handler stack while scan runs f: below f's own handlers
// (plates), above the model's. It stops every named sample and deterministic
// message of a step from reaching the outer handlers, gives it its share of
// the series message's value or key, and records what the step did.
template <class = void>
class ScanMessengerT : public Messenger {
 public:
  ScanMessengerT(std::int64_t length, std::size_t position) : length_(length), position_(position) {}

  void set_step(std::int64_t step, std::int64_t position) {
    step_ = step;
    at_ = position;
  }

  void process_message(Message& msg) override {
    if ((msg.type != SiteType::sample && msg.type != SiteType::deterministic) || msg.name.empty()) return;
    ScanSite& site = find_or_announce(msg);
    if (site.last_step == step_)
      throw std::invalid_argument("tyche: all sites must have unique names but got `" + msg.name +
                                  "` twice in one step of scan");
    site.last_step = step_;
    ++site.steps_run;
    if (site.given < 0 || at_ < site.given) {
      msg.value = site.given < 0 ? *site.series.value : (*site.series.value)[at_];
      if (msg.type == SiteType::sample) msg.is_observed = msg.is_observed || site.series.is_observed;
    } else if (msg.type == SiteType::sample && !msg.value && !msg.rng_key && site.key) {
      const auto [next, sub] = split(*site.key);
      site.key = next;
      msg.rng_key = sub;
    }
    msg.stop = true;
  }

  void postprocess_message(Message& msg) override {
    if ((msg.type != SiteType::sample && msg.type != SiteType::deterministic) || msg.name.empty()) return;
    const auto it = index_.find(msg.name);
    if (it == index_.end()) return;
    ScanSite& site = sites_[it->second];
    if (!(msg.value->shape() == site.step_shape))
      throw ShapeError("tyche: " + describe_site(msg) + " inside scan has shape " + msg.value->shape().str() +
                       " at position " + std::to_string(at_) + " but " + site.step_shape.str() +
                       " at the first step: every step must give a site the same shape");
    const auto t = std::size_t(at_);
    site.values[t] = *msg.value;
    if (msg.type == SiteType::sample) {
      site.fns[t] = msg.fn;
      site.scales[t] = msg.scale;
    }
  }

  // After the last step, with this messenger off the stack: each site's
  // series message, holding the stacked values, through the postprocess
  // phase of the outer handlers that processed it.
  void finish() {
    auto& handlers = handler_stack();
    for (ScanSite& site : sites_) {
      Message& series = site.series;
      if (site.steps_run != length_)
        throw std::invalid_argument("tyche: " + describe_site(series) + " ran in " + std::to_string(site.steps_run) +
                                    " of the " + std::to_string(length_) +
                                    " steps of scan: every step must run the same sites");
      // Steps that all took their slice of a given series: keep it whole (no copy, one gradient path).
      if (site.given != length_) series.value = stack(site.values);
      if (series.type == SiteType::sample) {
        Shape batch = series.value->shape();
        Shape trimmed;
        for (int i = 0; i < batch.rank() - site.fns.front()->event_dim(); ++i) trimmed.push_back(batch[i]);
        Shape step_sample_shape;
        for (int i = 1; i < trimmed.rank() - site.fns.front()->batch_shape().rank(); ++i)
          step_sample_shape.push_back(trimmed[i]);
        dist::DistributionPtr stacked =
            std::make_shared<ScanStackedT<>>(site.fns, site.scales, step_sample_shape, trimmed);
        series.fn = rewrap(series.fn, site.sent_fn, std::move(stacked), series);
      }
      series.cond_indep_stack = site.cond_indep_stack;
      // NumPyro's mark of a scanned site: its leftmost batch axis is time, not a missing plate.
      series.infer["_control_flow_done"] = true;
      series.sample_shape = Shape{};
      series.stop = false;
      try {
        for (std::size_t i = position_ - site.reached; i < position_ && i < handlers.size(); ++i)
          handlers[i]->postprocess_message(series);
      } catch (...) {
        rethrow_naming_site(series);
      }
    }
  }

 private:
  ScanSite& find_or_announce(const Message& msg) {
    if (const auto it = index_.find(msg.name); it != index_.end()) return sites_[it->second];
    ScanSite site;
    site.step_shape = msg.type == SiteType::sample ? msg.fn->shape(msg.sample_shape) : msg.value->shape();
    site.cond_indep_stack = msg.cond_indep_stack;
    site.fns.resize(std::size_t(length_));
    site.scales.resize(std::size_t(length_));
    site.values.resize(std::size_t(length_));
    Message& series = site.series;
    series.type = msg.type;
    series.name = msg.name;
    series.infer = msg.infer;
    series.is_observed = msg.is_observed;
    if (msg.type == SiteType::sample) {
      Shape batch{length_};
      for (std::int64_t d : msg.sample_shape) batch.push_back(d);
      for (std::int64_t d : msg.fn->batch_shape()) batch.push_back(d);
      series.fn = msg.fn->expand(batch).share();
      site.sent_fn = series.fn;
    }
    announce(site);
    index_.emplace(msg.name, sites_.size());
    sites_.push_back(std::move(site));
    return sites_.back();
  }

  // The series message through the outer handlers' process phase, with f's
  // handlers and this one off the stack meanwhile, so that messages an outer
  // handler sends of its own (the potential's `_<name>_log_det` factor, a
  // block's prng_key) see only the outer handlers too.
  void announce(ScanSite& site) {
    Message& series = site.series;
    auto& stack = handler_stack();
    const std::vector<Messenger*> above(stack.begin() + std::ptrdiff_t(position_), stack.end());
    struct Restore {
      std::vector<Messenger*>& stack;
      const std::vector<Messenger*>& above;
      std::size_t position;
      ~Restore() {
        stack.resize(position);
        stack.insert(stack.end(), above.begin(), above.end());
      }
    } restore{stack, above, position_};
    stack.resize(position_);
    try {
      for (std::size_t i = position_; i-- > 0;) {
        ++site.reached;
        stack[i]->process_message(series);
        if (series.stop) break;
      }
      if (series.value) {
        const Tensor& v = *series.value;
        const Shape& step = site.step_shape;
        if (v.shape() == step) {
          site.given = -1;
        } else if (v.ndim() == step.rank() + 1 && v.dim(0) <= length_ &&
                   std::equal(step.begin(), step.end(), v.shape().begin() + 1)) {
          site.given = v.dim(0);
        } else {
          throw ShapeError("tyche: the value a handler gave to a site inside scan has shape " + v.shape().str() +
                           "; it takes (T, ...) = " + std::to_string(length_) + " steps of shape " + step.str() +
                           " (fewer steps: the rest are drawn), or one step's shape " + step.str());
        }
        if (site.given >= 0 && site.given < length_ && series.type == SiteType::sample && !series.rng_key)
          series.rng_key = prng_key();
      }
      site.key = series.rng_key;
    } catch (...) {
      rethrow_naming_site(series);
    }
  }

  // The series' distribution as the outer handlers left it, with the stacked
  // distribution in place of the one it went out with: a mask handler's
  // masks are kept; any other replacement is not supported.
  static dist::DistributionPtr rewrap(const dist::DistributionPtr& processed, const dist::DistributionPtr& sent,
                                      dist::DistributionPtr stacked, const Message& series) {
    if (processed == sent || processed->str() == sent->str()) return stacked;
    if (const auto* masked = dynamic_cast<const dist::MaskedDistribution*>(processed.get()))
      return rewrap(masked->base().share(), sent, std::move(stacked), series)->mask(masked->mask_array()).share();
    throw std::invalid_argument("tyche: " + describe_site(series) + " inside scan: a handler outside the scan " +
                                "replaced its distribution " + sent->str() + " by " + processed->str() +
                                "; only a mask is supported there (put the handler inside f)");
  }

  std::int64_t length_;
  std::size_t position_;  // this messenger's place on the stack: the outer handlers lie below it
  std::int64_t step_ = 0, at_ = 0;
  std::vector<ScanSite> sites_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// xs's element at one position along its leading axis.
inline std::nullopt_t scan_slice(std::nullopt_t, std::int64_t) { return std::nullopt; }
template <class T = Tensor>
Tensor scan_slice(const std::type_identity_t<T>& xs, std::int64_t t) {
  return xs[t];
}
template <class... Ts>
std::tuple<Ts...> scan_slice(const std::tuple<Ts...>& xs, std::int64_t t) {
  return std::apply([t](const auto&... x) { return std::tuple<Ts...>(scan_slice(x, t)...); }, xs);
}

inline std::optional<std::int64_t> scan_length(std::nullopt_t) { return std::nullopt; }
template <class T = Tensor>
std::optional<std::int64_t> scan_length(const std::type_identity_t<T>& xs) {
  if (xs.ndim() == 0) throw ShapeError("tyche: scan: xs must have a leading axis to scan over, got a scalar");
  return xs.dim(0);
}
template <class... Ts>
std::optional<std::int64_t> scan_length(const std::tuple<Ts...>& xs) {
  std::optional<std::int64_t> length;
  std::apply(
      [&](const auto&... x) {
        (
            [&](const auto& one) {
              const auto n = scan_length(one);
              if (length && n && *n != *length)
                throw ShapeError("tyche: scan: the arrays of xs have leading axes of different lengths " +
                                 std::to_string(*length) + " and " + std::to_string(*n));
              if (n) length = n;
            }(x),
            ...);
      },
      xs);
  return length;
}

// One position's y (std::nullopt, which std::optional cannot hold, as a bool).
template <class Y>
using ScanSlot = std::optional<std::conditional_t<std::is_same_v<Y, std::nullopt_t>, bool, Y>>;

// The ys of every position stacked along a new leading axis.
template <class Y>
auto stack_ys(std::vector<ScanSlot<Y>>& ys) {
  if constexpr (std::is_same_v<Y, std::nullopt_t>) {
    return std::nullopt;
  } else if constexpr (std::is_same_v<Y, Tensor> || std::is_arithmetic_v<Y>) {
    std::vector<Tensor> parts;
    parts.reserve(ys.size());
    for (auto& y : ys) parts.push_back(Tensor(*y));
    return stack(parts);
  } else {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      const auto column = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
        using Element = std::decay_t<std::tuple_element_t<K, Y>>;
        std::vector<ScanSlot<Element>> part;
        part.reserve(ys.size());
        for (auto& y : ys) {
          if constexpr (std::is_same_v<Element, std::nullopt_t>) part.emplace_back(true);
          else part.emplace_back(std::get<K>(*y));
        }
        return stack_ys<Element>(part);
      };
      return std::tuple{column(std::integral_constant<std::size_t, I>{})...};
    }(std::make_index_sequence<std::tuple_size_v<Y>>{});
  }
}

}  // namespace detail

// Runs f(carry, x) over the leading axis of xs (see the top) and returns
// (last carry, stacked ys).
template <class F, class Carry, class Xs = std::nullopt_t>
auto scan(F&& f, Carry init, const Xs& xs, ScanOptions options = {}) {
  const std::optional<std::int64_t> xs_length = detail::scan_length(xs);
  if (options.length && xs_length && *options.length != *xs_length)
    throw ShapeError("tyche: scan: length is " + std::to_string(*options.length) +
                     " but xs has a leading axis of " + std::to_string(*xs_length));
  if (!options.length && !xs_length)
    throw std::invalid_argument("tyche: scan: give xs or .length (the number of steps)");
  const std::int64_t length = options.length ? *options.length : *xs_length;
  if (length <= 0) throw std::invalid_argument("tyche: scan: the number of steps must be positive, got " + std::to_string(length));
  if (options.history < 0)
    throw std::invalid_argument("tyche: scan: history must be >= 0, got " + std::to_string(options.history));
  for (const Messenger* m : detail::handler_stack())
    if (const auto* p = dynamic_cast<const plate*>(m))
      throw std::invalid_argument("tyche: scan inside plate `" + p->name() +
                                  "`: put the plate inside the scanned function (its time axis could not be "
                                  "aligned with the plate's, as in NumPyro)");

  using X = decltype(detail::scan_slice(xs, 0));
  using Result = std::invoke_result_t<F&, const Carry&, X>;
  using Y = std::decay_t<std::tuple_element_t<1, Result>>;

  detail::ScanMessengerT<> messenger(length, detail::handler_stack().size());
  std::vector<detail::ScanSlot<Y>> ys(static_cast<std::size_t>(length));
  Carry carry = std::move(init);
  {
    detail::StackEntry entry(messenger);
    for (std::int64_t step = 0; step < length; ++step) {
      const std::int64_t at = options.reverse ? length - 1 - step : step;
      messenger.set_step(step, at);
      Result result = std::invoke(f, std::as_const(carry), detail::scan_slice(xs, at));
      carry = Carry(std::get<0>(std::move(result)));
      if constexpr (std::is_same_v<Y, std::nullopt_t>) ys[std::size_t(at)].emplace(true);
      else ys[std::size_t(at)].emplace(std::get<1>(std::move(result)));
    }
  }
  messenger.finish();
  return std::pair<Carry, decltype(detail::stack_ys<Y>(ys))>(std::move(carry), detail::stack_ys<Y>(ys));
}

}  // namespace tyche
