// SVI: stochastic variational inference (NumPyro's numpyro.infer.SVI). An
// optimiser moves the `param` sites of a guide (and of the model) to minimise
// a loss, the negative ELBO.
//
//   auto model = [](const tyche::Tensor& y) {
//     auto mu = tyche::sample("mu", tyche::dist::Normal(0.0, 1.0));
//     tyche::plate data("data", y.size());
//     tyche::sample("y", tyche::dist::Normal(mu, 1.0), y);
//   };
//   auto guide = [](const tyche::Tensor&) {
//     auto loc = tyche::param("loc", 0.0);
//     auto scale = tyche::param("scale", 1.0, tyche::constraints::positive);
//     tyche::sample("mu", tyche::dist::Normal(loc, scale));
//   };
//   tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.05}), tyche::Trace_ELBO{});
//   auto result = svi.run(/*seed=*/0, /*num_steps=*/2000, y);   // params, state, losses
//   result.params["loc"];                                        // constrained values by name
//   auto more = svi.run(0, 1000, y, tyche::SVIRunOptions{.init_state = result.state});  // 1000 steps further
//   // or step by step:
//   auto state = svi.init(0, y);
//   for (int i = 0; i < 100; ++i) std::tie(state, std::ignore) = svi.update(state, y);
//   tyche::ValueMap params = svi.get_params(state);
//
// As NumPyro: `init` runs the guide under seed, then the model replayed
// against the guide's trace, and collects every param site of both (the
// guide's win when a name is in both); each param lives on the unconstrained
// space through biject_to(its constraint), and the optimiser moves the flat
// vector of those coordinates, the sites laid out in the order of their
// names. `update` splits the state's key, differentiates the loss at the
// constrained params by reverse AD (value_and_grad) and takes one optimiser
// step. The model and the guide are called with the same arguments. `run`
// takes the same steps, faster: it records the loss once and replays it at
// every step, with the autoguides (AutoNormal, AutoMultivariateNormal,
// AutoLaplaceApproximation, AutoDelta) under Trace_ELBO or TraceEnum_ELBO
// from the model's potential energy (infer/auto_guide_elbo.hpp), with any
// guide and ELBO as a function of the params and the guide's noise
// (infer/guide_elbo.hpp); each says when it applies. `update` does the same
// while its argument values stay the same. Otherwise each step runs the
// guide and the model under their handlers.
//
// A template over a defaulted parameter where needed (the idiom of
// core/tensor.hpp): including tyche compiles none of this.
#pragma once

#include "tyche/core/grad.hpp"
#include "tyche/distributions/biject_to.hpp"
#include "tyche/infer/auto_guide_elbo.hpp"
#include "tyche/infer/compiled_loss.hpp"
#include "tyche/infer/guide_elbo.hpp"
#include "tyche/infer/elbo.hpp"
#include "tyche/infer/optim.hpp"
#include "tyche/infer/param_layout.hpp"
#include "tyche/infer/trace_enum_elbo.hpp"
#include "tyche/infer/trailing_options.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unistd.h>
#include <utility>
#include <vector>

namespace tyche {

// Where an SVI run is: the optimiser's state (the unconstrained params in
// it) and the key the next step splits.
template <class OptimState>
struct SVIState {
  OptimState optim_state;
  Key rng_key;
};

// What run returns (NumPyro's SVIRunResult).
template <class State>
struct SVIRunResult {
  ValueMap params;  // constrained, by name
  State state;
  Tensor losses;    // (num_steps,): the loss before each step
};

// The last argument of init: `svi.init(0, y, tyche::SVIInitOptions{.init_params = {{"loc", 1.0}}})`.
struct SVIInitOptions {
  std::optional<ValueMap> init_params = std::nullopt;  // constrained initial values of param sites
};

// What SVIRunOptions holds when no state to continue from is given.
struct NoSVIState {};

// The last argument of run. Its type follows the state given, if any
// (`tyche::SVIRunOptions{.init_state = previous.state}` is an
// SVIRunOptions<that state's type>; without one, SVIRunOptions<>).
template <class InitState = NoSVIState>
struct SVIRunOptions {
  // A state to continue from (a previous run's .state): run then neither
  // initialises nor reads the seed or init_params, as NumPyro's init_state.
  InitState init_state = {};
  std::optional<ValueMap> init_params = std::nullopt;  // as SVIInitOptions
  bool progress_bar = true;    // a line on standard error, drawn only when it is a terminal
  bool stable_update = false;  // skip steps whose loss or gradient is not finite (NumPyro's stable_update)
};

namespace detail {

template <class T>
struct IsSVIRunOptions : std::false_type {};
template <class S>
struct IsSVIRunOptions<SVIRunOptions<S>> : std::true_type {};

template <class... Args>
using LastOf = std::decay_t<std::tuple_element_t<sizeof...(Args) - 1, std::tuple<Args...>>>;

// Whether run's arguments end with an SVIRunOptions (of any init_state type).
template <class... Args>
constexpr bool ends_with_run_options() {
  if constexpr (sizeof...(Args) == 0)
    return false;
  else
    return IsSVIRunOptions<LastOf<Args...>>::value;
}

// "step 120/2000  loss 13.2  950 it/s", rewritten in place on a terminal.
template <class = void>
class SVIProgress {
 public:
  SVIProgress(std::int64_t total, bool enabled) : total_(total), enabled_(enabled && isatty(STDERR_FILENO)) {}
  void report(std::int64_t done, double loss) {
    if (!enabled_) return;
    const Clock::time_point now = Clock::now();
    if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r\x1b[2KSVI step %lld/%lld  loss %.6g  %.0f it/s", static_cast<long long>(done),
                 static_cast<long long>(total_), loss, seconds > 0 ? double(done) / seconds : 0.0);
    if (done == total_) std::fprintf(stderr, "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::int64_t total_;
  bool enabled_;
  Clock::time_point start_ = Clock::now(), last_ = {};
};

// The values of update's arguments, copied, so that a later call can tell
// whether it passes the same ones: the address of a Tensor's storage says
// nothing, as a view of memory the caller rewrites keeps its address.
template <class = void>
class ArgumentValuesT {
 public:
  template <class ArgsTuple>
  static constexpr bool supported = []<class... A>(std::type_identity<std::tuple<A...>>) {
    return ((std::is_same_v<std::decay_t<A>, Tensor> || std::is_arithmetic_v<std::decay_t<A>>) && ...);
  }(std::type_identity<std::decay_t<ArgsTuple>>{});

  template <class ArgsTuple>
  explicit ArgumentValuesT(const ArgsTuple& args) : types_(&typeid(std::decay_t<ArgsTuple>)) {
    std::apply([&](const auto&... a) { (append(a), ...); }, args);
  }
  // Bit for bit, so that NaN data still matches itself.
  template <class ArgsTuple>
  bool same(const ArgsTuple& args) const {
    std::size_t shape = 0, value = 0;
    bool equal = *types_ == typeid(std::decay_t<ArgsTuple>);
    const auto compare = [&](const auto& a) {
      if (!equal) return;
      if constexpr (std::is_same_v<std::decay_t<decltype(a)>, Tensor>) {
        equal = shape < shapes_.size() && shapes_[shape++] == a.shape() &&
                (a.size() == 0 ||  // memcmp must not see the null data of an empty array
                 std::memcmp(values_.data() + value, a.data(), sizeof(double) * std::size_t(a.size())) == 0);
        value += std::size_t(a.size());
      } else {
        const double d = double(a);
        equal = std::memcmp(values_.data() + value++, &d, sizeof d) == 0;
      }
    };
    std::apply([&](const auto&... a) { (compare(a), ...); }, args);
    return equal && shape == shapes_.size() && value == values_.size();
  }

 private:
  template <class A>
  void append(const A& a) {
    if constexpr (std::is_same_v<A, Tensor>) {
      shapes_.push_back(a.shape());
      if (a.size() > 0) values_.insert(values_.end(), a.data(), a.data() + a.size());
    } else {
      values_.push_back(double(a));
    }
  }
  const std::type_info* types_;
  std::vector<Shape> shapes_;
  std::vector<double> values_;
};
using ArgumentValues = ArgumentValuesT<>;

// Where SVI keeps update's recording (see SVI::update). A copy or a move of
// an SVI starts without one: the recording refers to its SVI's model and
// param layout.
struct UpdateRecordingSlot {
  struct Recording {
    ArgumentValues arguments;
    std::unique_ptr<CompiledLoss> loss;
    std::int64_t steps = 0;
  };
  UpdateRecordingSlot() = default;
  UpdateRecordingSlot(const UpdateRecordingSlot&) {}
  UpdateRecordingSlot& operator=(const UpdateRecordingSlot&) {
    recording.reset();  // the SVI assigned to holds another model now
    given_up = false;
    return *this;
  }

  std::mutex mutex;
  std::optional<Recording> recording;
  std::thread::id thread;     // the recording serves the thread that made it
  bool given_up = false;      // no recording applies, or the data change at every step
};

}  // namespace detail

template <class Model, class Guide, optim::Optimizer Optim, class Loss = Trace_ELBO>
class SVI {
 public:
  using State = SVIState<typename Optim::State>;

  SVI(Model model, Guide guide, Optim optimizer, Loss loss = {})
      : model_(std::move(model)), guide_(std::move(guide)), optimizer_(std::move(optimizer)), loss_(std::move(loss)) {}

  // Collects the param sites of the guide and the model and starts the
  // optimiser at their initial values (see the top). Optionally ends with
  // SVIInitOptions{.init_params}.
  template <class... Args>
  State init(std::uint64_t rng_seed, Args&&... args) {
    auto [model_args, options] = detail::split_trailing_options<SVIInitOptions>(std::forward<Args>(args)...);
    return init_from(PRNGKey(rng_seed), model_args, options.init_params);
  }

  // One optimiser step: (the new state, the loss at the old params). Where
  // run records the loss (see the top), the first call records it too, and
  // later calls with the same argument values (a Tensor or a number each,
  // compared by value) replay it: the same steps, faster. Arguments that
  // change between calls are differentiated with handlers; when they change
  // after a single step (a new minibatch each step) no recording is tried
  // again.
  template <class... Args>
  std::pair<State, double> update(const State& state, const Args&... args) const {
    return step(state, std::forward_as_tuple(args...), false);
  }
  // As update, but a step whose loss or gradient is not finite leaves the
  // params as they were (the key still moves on).
  template <class... Args>
  std::pair<State, double> stable_update(const State& state, const Args&... args) const {
    return step(state, std::forward_as_tuple(args...), true);
  }

  // The loss at the state's params, with the key update would use.
  template <class... Args>
  double evaluate(const State& state, const Args&... args) const {
    const auto [next_key, step_key] = split(state.rng_key);
    (void)next_key;
    return loss_.loss(step_key, get_params(state), model_, guide_, std::forward_as_tuple(args...)).item();
  }

  // The constrained value of every param, by name.
  ValueMap get_params(const State& state) const {
    return layout().constrain(Tensor(optimizer_.get_params(state.optim_state)));
  }

  // init (or the options' init_state), then num_steps updates; optionally
  // ends with SVIRunOptions.
  template <class... Args>
  SVIRunResult<State> run(std::uint64_t rng_seed, std::int64_t num_steps, Args&&... args) {
    if (num_steps < 1) throw std::invalid_argument("tyche: SVI::run: num_steps must be >= 1, got " + std::to_string(num_steps));
    if constexpr (detail::ends_with_run_options<Args...>()) {
      auto [model_args, options] = detail::split_trailing_options<detail::LastOf<Args...>>(std::forward<Args>(args)...);
      return run_steps(rng_seed, num_steps, model_args, options);
    } else {
      auto [model_args, options] = detail::split_trailing_options<SVIRunOptions<>>(std::forward<Args>(args)...);
      return run_steps(rng_seed, num_steps, model_args, options);
    }
  }

  // The param sites found by init.
  const ParamLayout& layout() const {
    if (!layout_) throw std::logic_error("tyche: SVI: call init (or run) first: the param sites are not known yet");
    return *layout_;
  }
  const Model& model() const { return model_; }
  const Guide& guide() const { return guide_; }

 private:
  template <class ArgsTuple, class InitState>
  SVIRunResult<State> run_steps(std::uint64_t rng_seed, std::int64_t num_steps, const ArgsTuple& model_args,
                                const SVIRunOptions<InitState>& options) {
    State state = [&]() -> State {
      if constexpr (std::is_same_v<InitState, State>) {
        // A fresh SVI (a copy, say) learns its param sites from one init,
        // whose state is then dropped.
        if (!layout_) (void)init_from(PRNGKey(rng_seed), model_args, std::nullopt);
        if (options.init_state.optim_state.params.size() != layout_->size())
          throw std::invalid_argument("tyche: SVI::run: init_state holds " +
                                      std::to_string(options.init_state.optim_state.params.size()) +
                                      " unconstrained coordinates, but the params of this SVI have " +
                                      std::to_string(layout_->size()) + " (" + layout_->names() + ")");
        return options.init_state;
      } else {
        static_assert(std::is_same_v<InitState, NoSVIState>,
                      "SVIRunOptions::init_state must be a state of this SVI (SVI::State), as its run or init returned");
        return init_from(PRNGKey(rng_seed), model_args, options.init_params);
      }
    }();
    if constexpr (kCompilable) {
      if (const auto compiled = compiled_loss(model_args, optimizer_.get_params(state.optim_state)))
        return run_loop(std::move(state), num_steps, options, *compiled);
    }
    const auto eager = [&](Key step_key, const Eigen::VectorXd& u, Eigen::VectorXd& gradient) {
      return eager_loss_and_grad(step_key, u, gradient, model_args);
    };
    return run_loop(std::move(state), num_steps, options, eager);
  }

  // num_steps steps from `state`, each differentiating the loss with
  // loss_and_grad(step key, params, gradient) -> loss, as step does.
  template <class InitState, class LossAndGrad>
  SVIRunResult<State> run_loop(State state, std::int64_t num_steps, const SVIRunOptions<InitState>& options,
                               LossAndGrad& loss_and_grad) const {
    std::vector<double> losses;
    losses.reserve(std::size_t(num_steps));
    detail::SVIProgress<> progress(num_steps, options.progress_bar);
    Eigen::VectorXd gradient(layout().size());
    for (std::int64_t i = 0; i < num_steps; ++i) {
      const auto [next_key, step_key] = split(state.rng_key);
      const double loss = loss_and_grad(step_key, optimizer_.get_params(state.optim_state), gradient);
      advance(state, next_key, loss, gradient, options.stable_update);
      losses.push_back(loss);
      progress.report(i + 1, loss);
    }
    ValueMap params = get_params(state);
    return {std::move(params), std::move(state), Tensor(losses)};
  }

  template <class ArgsTuple>
  State init_from(Key key, const ArgsTuple& args, const std::optional<ValueMap>& init_params) {
    const std::vector<Key> keys = split(key, 3);
    const Key rng_key = keys[0], model_seed = keys[1], guide_seed = keys[2];
    const Trace guide_trace =
        std::apply([&](const auto&... a) { return trace(seed(std::cref(guide_), guide_seed)).get_trace(a...); }, args);
    ValueMap initial;
    for (const Message& site : guide_trace)
      if (site.type == SiteType::param) initial.insert_or_assign(site.name, *site.value);
    if (init_params)
      for (const auto& [name, value] : *init_params) initial.insert_or_assign(name, value);
    const Trace model_trace = std::apply(
        [&](const auto&... a) {
          return trace(substitute(replay(seed(std::cref(model_), model_seed), guide_trace), initial)).get_trace(a...);
        },
        args);
    std::vector<Message> params;
    for (const Trace* t : {&model_trace, &guide_trace})
      for (const Message& site : *t)
        if (site.type == SiteType::param) params.push_back(site);
    ParamLayout layout(params);
    if (layout.size() == 0)
      throw std::invalid_argument("tyche: SVI: neither the guide nor the model has a param site: there is nothing "
                                  "to optimise");
    ValueMap values;
    for (const Message& site : params) values.insert_or_assign(site.name, *site.value);
    if (init_params)
      for (const auto& [name, value] : *init_params) {
        if (!layout.find(name))
          throw std::invalid_argument("tyche: SVI: init_params gives `" + name +
                                      "`, which is not a param site of the guide or the model (params: " +
                                      layout.names() + ")");
        values.insert_or_assign(name, value);
      }
    const Eigen::VectorXd u = layout.unconstrain(values);
    update_recording_ = detail::UpdateRecordingSlot{};  // a recording knows the old layout
    layout_ = std::move(layout);
    return {optimizer_.init(u), rng_key};
  }

  static constexpr bool kEnumerates = std::is_same_v<Loss, TraceEnum_ELBO>;
  static constexpr bool kAutoGuide = detail::IsCompiledAutoGuide<Guide>::value;
  static constexpr bool kCompilable = detail::kParticleElbo<Loss>;

  // The loss recorded once to be replayed at every step, when a path applies
  // (infer/auto_guide_elbo.hpp for the autoguides under Trace_ELBO and
  // TraceEnum_ELBO, infer/guide_elbo.hpp for any guide and ELBO), null
  // otherwise; u: the params to record at.
  template <class ArgsTuple>
  std::unique_ptr<detail::CompiledLoss> compiled_loss(const ArgsTuple& args, const Eigen::VectorXd& u) const {
    const auto say = [](const char* why, const std::exception& e) {
      std::cerr << "tyche: SVI: " << why << "; every step runs the guide and the model with value_and_grad instead ("
                << e.what() << ")\n";
    };
    if (loss_.num_particles < 1) return nullptr;  // the eager loss says what is wrong
    try {
      if constexpr (kAutoGuide && (std::is_same_v<Loss, Trace_ELBO> || kEnumerates)) {
        const auto potential = detail::potential_of(model_, args, !detail::IsAutoDelta<Guide>::value);
        auto plan = detail::auto_guide_plan(guide_, potential.layout(), layout(), kEnumerates);
        if (plan && detail::enumerates_as_marked(model_, args, potential.layout()))
          return std::make_unique<detail::AutoGuideElbo<std::remove_const_t<decltype(potential)>>>(
              potential, std::move(*plan), loss_.num_particles);
      }
      return detail::guide_elbo(loss_, model_, guide_, args, layout(), u);
    } catch (const ConcretizationError& e) {
      say("the model or the guide reads the value of a parameter while it runs, so the loss cannot be recorded", e);
    } catch (const detail::NoiseNotReplayable& e) {
      say("the loss cannot be recorded", e);
    } catch (const std::exception& e) {
      // Whatever else stops the recording: the eager steps are the
      // reference, and a mistake in the model they raise again.
      say("the loss could not be recorded", e);
    }
    return nullptr;
  }

  // update's loss and gradient: the recording of these argument values when
  // there is one or one can be made (see update), else eager_loss_and_grad.
  template <class ArgsTuple>
  double update_loss_and_grad(Key step_key, const Eigen::VectorXd& u, Eigen::VectorXd& gradient,
                              const ArgsTuple& args) const {
    if constexpr (kCompilable && detail::ArgumentValues::supported<ArgsTuple>) {
      detail::UpdateRecordingSlot& slot = update_recording_;
      const std::lock_guard<std::mutex> lock(slot.mutex);
      auto& recording = slot.recording;
      if (recording && slot.thread == std::this_thread::get_id() && recording->arguments.same(args)) {
        ++recording->steps;
        return (*recording->loss)(step_key, u, gradient);
      }
      if (recording && recording->steps <= 1) slot.given_up = true;
      recording.reset();
      if (!slot.given_up) {
        if (std::unique_ptr<detail::CompiledLoss> loss = compiled_loss(args, u)) {
          recording.emplace(detail::UpdateRecordingSlot::Recording{detail::ArgumentValues(args), std::move(loss), 1});
          slot.thread = std::this_thread::get_id();
          return (*recording->loss)(step_key, u, gradient);
        }
        slot.given_up = true;
      }
    }
    return eager_loss_and_grad(step_key, u, gradient, args);
  }

  template <class ArgsTuple>
  std::pair<State, double> step(const State& state, const ArgsTuple& args, bool stable) const {
    const auto [next_key, step_key] = split(state.rng_key);
    Eigen::VectorXd gradient(layout().size());
    const double loss = update_loss_and_grad(step_key, optimizer_.get_params(state.optim_state), gradient, args);
    State next = state;
    advance(next, next_key, loss, gradient, stable);
    return {std::move(next), loss};
  }

  // The loss at the unconstrained params u and its gradient, by reverse AD
  // through the loss (the guide and the model run under their handlers).
  template <class ArgsTuple>
  double eager_loss_and_grad(Key step_key, const Eigen::VectorXd& u, Eigen::VectorXd& gradient,
                             const ArgsTuple& args) const {
    const ParamLayout& params = layout();
    const auto loss_at = [&](const Tensor& t) { return loss_.loss(step_key, params.constrain(t), model_, guide_, args); };
    return value_and_grad(loss_at, u, gradient);
  }

  // The optimiser's step from the loss's gradient (skipped, under
  // stable_update, when either is not finite); the key moves on regardless.
  void advance(State& state, Key next_key, double loss, const Eigen::VectorXd& gradient, bool stable) const {
    state.rng_key = next_key;
    if (!stable || (std::isfinite(loss) && gradient.allFinite())) optimizer_.update(gradient, state.optim_state);
  }

  Model model_;
  Guide guide_;
  Optim optimizer_;
  Loss loss_;
  std::optional<ParamLayout> layout_;
  mutable detail::UpdateRecordingSlot update_recording_;
};

}  // namespace tyche
