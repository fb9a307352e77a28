// MCMC: runs chains of a Hamiltonian kernel on a model and keeps their draws
// (NumPyro's numpyro.infer.MCMC).
//
//   tyche::MCMC mcmc(tyche::NUTS(model, {.target_accept_prob = 0.9}),
//                    {.num_warmup = 1000, .num_samples = 1000, .num_chains = 4});
//   mcmc.run(/*seed=*/0, J, sigma, y);
//   mcmc.print_summary();
//   tyche::ValueMap samples = mcmc.get_samples();        // name -> (draw, ...) array
//   double divergences = tyche::sum(mcmc.get_extra_fields()["diverging"]).item();
//
// The helpers below are templates over a defaulted parameter (the idiom of
// core/tensor.hpp), so that including tyche compiles none of them.
//
// What a run does, per chain (each on its own thread with chain_method
// parallel, at most hardware_concurrency() at a time):
// 1. Its key is split from the seed's, so its draws depend on neither the
//    chain method nor the thread count.
// 2. It finds a starting point with the kernel's init strategy (up to 100
//    tries, each with a fresh key; init_params gives the point instead).
// 3. It records the potential energy once (compile_gradient) and replays the
//    recording at every leapfrog step: no handler, name, map or heap
//    allocation per step. A model that branches on a parameter's value
//    cannot be recorded; it is differentiated with value_and_grad at each
//    step instead, which is said once on standard error.
// 4. It runs num_warmup adapting transitions, then num_samples sampling
//    ones, and keeps every thinning-th of the latter (num_samples / thinning
//    draws, the last of each group of thinning, as NumPyro).
// 5. Each kept draw is mapped back to the constrained space; the model runs
//    once per kept draw, not per step, when it has deterministic sites or
//    latent sites off the real line.
// An exception in one chain stops the others and reaches run's caller,
// naming the chain.
//
// Continuing as NumPyro: `mcmc.post_warmup_state = mcmc.last_state();` and
// the next run starts from those states, skipping warm-up; the seed's keys
// replace the states' keys.
#pragma once

#include "tyche/core/compiled.hpp"
#include "tyche/core/grad.hpp"
#include "tyche/infer/nuts.hpp"
#include "tyche/infer/summary.hpp"
#include "tyche/infer/threads.hpp"
#include "tyche/infer/trailing_options.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>

namespace tyche {

enum class ChainMethod { parallel, sequential };

struct MCMCOptions {
  int num_warmup = 1000;
  int num_samples = 1000;
  int num_chains = 1;
  int thinning = 1;
  ChainMethod chain_method = ChainMethod::parallel;
  bool progress_bar = true;  // drawn only when standard error is a terminal
};

// The last argument of run: `mcmc.run(0, x, y, tyche::RunOptions{.init_params = values})`.
struct RunOptions {
  // Constrained values of latent sites to start every chain at; sites not
  // given start where the kernel's init strategy puts them.
  std::optional<ValueMap> init_params = std::nullopt;
};

// The last argument of warmup.
struct WarmupOptions {
  bool collect_warmup = false;  // keep the warm-up draws as the samples
  std::optional<ValueMap> init_params = std::nullopt;
};

// Every chain's state after a run: where the next run continues.
struct MCMCState {
  std::vector<ChainState> chains;
};

// What the last run or warmup did, for writers of its output
// (infer/cmdstan_csv.hpp); each chain's adapted step size and inverse mass
// matrix are in last_state().
struct MCMCRunInfo {
  std::uint64_t seed = 0;
  std::int64_t num_warmup = 0;    // warm-up transitions per chain (0 when continuing from post_warmup_state)
  std::int64_t num_samples = 0;   // sampling transitions per chain
  int thinning = 1;
  bool draws_are_warmup = false;  // warmup() with collect_warmup: the kept draws are warm-up ones
  HamiltonianSettings settings;   // the chains' settings (dense blocks as coordinates)
  std::vector<std::string> deterministic_sites;  // the sites of get_samples that are deterministic
  std::vector<double> warmup_seconds, sampling_seconds;  // per chain: its transitions' wall time, initialisation excluded
};

namespace detail {

// The extra fields kept per draw: name and how it is read off a transition.
struct ExtraField {
  const char* name;
  double (*read)(const TransitionInfo&);
};
inline constexpr std::array<ExtraField, 9> kExtraFields = {{
    {"accept_prob", [](const TransitionInfo& t) { return t.accept_prob; }},
    {"diverging", [](const TransitionInfo& t) { return double(t.diverging); }},
    {"energy", [](const TransitionInfo& t) { return t.energy; }},
    {"mean_accept_prob", [](const TransitionInfo& t) { return t.mean_accept_prob; }},
    {"num_steps", [](const TransitionInfo& t) { return double(t.num_steps); }},
    {"potential_energy", [](const TransitionInfo& t) { return t.potential_energy; }},
    {"step_size", [](const TransitionInfo& t) { return t.step_size; }},
    {"trajectory_length", [](const TransitionInfo& t) { return t.trajectory_length; }},
    {"tree_depth", [](const TransitionInfo& t) { return double(t.tree_depth); }},
}};
constexpr std::size_t extra_field_index(std::string_view name) {
  std::size_t f = 0;
  while (f < kExtraFields.size() && kExtraFields[f].name != name) ++f;
  return f;
}

// What a chain keeps: each output site's draws one after the other, and the
// extra fields of each kept transition.
struct ChainDraws {
  std::vector<std::vector<double>> sites;  // in the order of SamplePlan::sites
  std::array<std::vector<double>, kExtraFields.size()> extra;  // in kExtraFields' order
  std::int64_t count = 0;
  std::optional<ChainState> last_state;
  double warmup_seconds = 0.0, sampling_seconds = 0.0;
};

// The sites a draw is reported at: every latent site and, when the model has
// them, its deterministic sites. Draws are mapped to the constrained space
// in one batch per site, without running the model, unless the model has
// deterministic sites or a support that depends on another site's value
// (Uniform(0, b) with b sampled): then the model runs once per kept draw.
struct SamplePlan {
  struct Site {
    std::string name;
    Shape shape;
    std::optional<LatentSite> latent;                // none: a deterministic site
    std::optional<constraints::Constraint> support;  // a latent site's
    bool deterministic() const { return !latent; }
  };
  std::vector<Site> sites;
  bool run_model = false;

  template <class Potential>
  SamplePlan(const Trace& initial, const Potential& potential) {
    const LatentLayout& layout = potential.layout();
    for (const LatentSite& site : layout.sites())
      sites.push_back({site.name, site.shape, site, initial[site.name].fn->support()});
    for (const Message& msg : initial)
      if (msg.type == SiteType::deterministic) sites.push_back({msg.name, msg.value->shape(), std::nullopt, std::nullopt});
    std::sort(sites.begin(), sites.end(), [](const Site& a, const Site& b) { return a.name < b.name; });
    run_model = std::any_of(sites.begin(), sites.end(), [](const Site& s) { return s.deterministic(); }) ||
                supports_depend_on_parameters(potential);
  }

 private:
  // Whether a latent site's support bounds are computed from the
  // parameters: asked of one recorded evaluation at u = 0.
  template <class Potential>
  static bool supports_depend_on_parameters(const Potential& potential) {
    bool depends = false;
    try {
      value_and_grad(
          [&](const Tensor& u) {
            const Trace at_u = potential.run(u);
            for (const Message& msg : at_u)
              if (msg.type == SiteType::sample && potential.layout().contains(msg.name)) {
                const constraints::Constraint support = msg.fn->support();
                depends = depends || support.lower().requires_grad() || support.upper().requires_grad();
              }
            return -trace_log_density(at_u);
          },
          Eigen::VectorXd::Zero(potential.layout().size()));
    } catch (const std::exception&) {
      depends = true;  // the model cannot run there: run it per draw, at the draws
    }
    return depends;
  }
};

// Which transitions of [lower, upper) are kept with this thinning: the last
// of each group of `thinning`, the groups ending at upper (NumPyro's
// fori_collect).
struct Collection {
  std::int64_t lower = 0, upper = 0, thinning = 1;
  std::int64_t size() const { return (upper - lower) / thinning; }
  bool keeps(std::int64_t i) const {
    const std::int64_t start = lower + (upper - lower) % thinning;
    return i >= start && i < upper && (i - start) % thinning == thinning - 1;
  }
};

// A chain's progress, written by its thread with relaxed stores (no lock in
// the chain loop) and read by the progress line. A cache line each, so that
// chains on different cores do not invalidate each other's at every step.
struct alignas(64) ChainProgress {
  std::atomic<int> phase{0};  // 0 starting, 1 warm-up, 2 sampling, 3 done
  std::atomic<std::int64_t> done{0}, total{0}, divergences{0};
  std::atomic<double> step_size{0.0}, mean_accept_prob{0.0};
};

template <class = void>
class ProgressDisplay {
 public:
  ProgressDisplay(std::vector<ChainProgress>& chains, bool enabled) : chains_(chains) {
    if (!enabled || !isatty(STDERR_FILENO)) return;
    start_ = std::chrono::steady_clock::now();
    thread_ = std::thread([this] {
      while (!finished_.load(std::memory_order_acquire)) {
        draw();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      draw();
    });
  }
  ~ProgressDisplay() {
    finished_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
  }
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

 private:
  void draw() {
    static constexpr const char* kPhases[] = {"start", "warmup", "sample", "done"};
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (drawn_) std::fprintf(stderr, "\x1b[%zuA", chains_.size());
    for (std::size_t c = 0; c < chains_.size(); ++c) {
      const ChainProgress& p = chains_[c];
      const std::int64_t done = p.done.load(std::memory_order_relaxed);
      std::fprintf(stderr, "\x1b[2Kchain %zu %-6s %6lld/%-6lld %8.0f it/s  step %.3g  acc. prob %.2f  divergences %lld\n",
                   c, kPhases[p.phase.load(std::memory_order_relaxed)], static_cast<long long>(done),
                   static_cast<long long>(p.total.load(std::memory_order_relaxed)),
                   seconds > 0 ? double(done) / seconds : 0.0, p.step_size.load(std::memory_order_relaxed),
                   p.mean_accept_prob.load(std::memory_order_relaxed),
                   static_cast<long long>(p.divergences.load(std::memory_order_relaxed)));
    }
    drawn_ = true;
  }
  std::vector<ChainProgress>& chains_;
  std::atomic<bool> finished_{false};
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::thread thread_;
};

// Thrown in a chain that stops because another chain failed.
struct ChainStopped {};

template <class T = Tensor>
std::string short_value(const std::type_identity_t<T>& value) {
  std::string s = value.ndim() ? "[" : "";
  const std::int64_t shown = std::min<std::int64_t>(value.size(), 6);
  for (std::int64_t i = 0; i < shown; ++i) s += (i ? ", " : "") + std::to_string(value.data()[i]);
  if (shown < value.size()) s += ", ...";
  return value.ndim() ? s + "]" : s;
}

// Why u is not a valid starting point: each site whose log density, or
// latent site whose gradient, is not finite there, with its value.
template <class Potential>
std::string describe_invalid_point(const Potential& potential, const Eigen::VectorXd& u) {
  std::string why;
  try {
    const Trace at_u = potential.run(Tensor::view(u));
    for (const Message& msg : at_u) {
      if (msg.type != SiteType::sample || !msg.fn) continue;
      const double log_density = msg.fn->log_prob_sum(*msg.value).item();
      if (!std::isfinite(log_density))
        why += "\n  " + describe_site(msg) + " (" + msg.fn->name() + "): log density " + std::to_string(log_density) +
               " at value " + short_value(*msg.value);
    }
    const Eigen::VectorXd gradient = value_and_grad(potential, u).grad;
    for (const LatentSite& site : potential.layout().sites())
      if (!gradient.segment(site.offset, site.size()).allFinite())
        why += "\n  latent site `" + site.name + "`: gradient not finite at value " + short_value(*at_u[site.name].value);
  } catch (const std::exception& e) {
    why += "\n  the model threw: " + std::string(e.what());
  }
  return why.empty() ? "\n  (every site's log density and gradient is finite there: the sum is not)" : why;
}

template <class T = Eigen::VectorXd>
bool finite_potential(double value, const std::type_identity_t<T>& gradient) {
  return std::isfinite(value) && gradient.allFinite();
}

// A starting point on the unconstrained space (NumPyro's
// find_valid_initial_params): the strategy's point, tried with up to 100
// keys; init_params, when given, is the one try.
template <class Potential>
Eigen::VectorXd find_initial_point(const Potential& potential, Key key, const InitStrategy& strategy,
                                   const std::optional<ValueMap>& init_params) {
  constexpr int kTries = 100;
  const InitStrategy chosen = init_params ? init_to_value(*init_params) : strategy;
  Eigen::VectorXd u, gradient(potential.layout().size());
  std::string failure;
  for (int attempt = 0; attempt < (init_params ? 1 : kTries); ++attempt) {
    const auto [next, try_key] = split(key);
    key = next;
    try {
      const Trace initial = potential.seeded_trace(try_key, chosen);
      ValueMap values;
      for (const LatentSite& site : potential.layout().sites()) values.emplace(site.name, *initial[site.name].value);
      u = potential.pack(values);
      if (finite_potential(value_and_grad(potential, u, gradient), gradient)) return u;
      failure = describe_invalid_point(potential, u);
    } catch (const std::invalid_argument& e) {
      failure = "\n  " + std::string(e.what());
    }
  }
  throw std::invalid_argument(std::string("tyche: MCMC: cannot find a valid initial point ") +
                              (init_params ? "at the given init_params" : "in 100 tries") +
                              " (the potential energy or its gradient is not finite); at the last point tried:" +
                              failure);
}

// NumPyro's _validate_model: a batch axis of size > 1 that no plate claims
// is usually a forgotten plate (the site's log density is then summed over
// it without the plate's scale or subsampling). A warning, once per site;
// as NumPyro, not for the time axis of a site scan stacked.
template <class T = Trace>
void warn_missing_plates(const std::type_identity_t<T>& trace) {
  for (const Message& msg : trace) {
    if (msg.type != SiteType::sample || !msg.fn || !msg.value) continue;
    // The batch shape of the site's log density: the distribution's, broadcast
    // with the value's own batch axes (an observation may be larger).
    Shape value_batch;
    for (int a = 0; a < msg.value->ndim() - msg.fn->event_dim(); ++a) value_batch.push_back(msg.value->dim(a));
    const Shape batch = broadcast_shapes(msg.fn->batch_shape(), value_batch, "the missing-plate check");
    for (int i = 0; i < batch.rank(); ++i) {
      const int dim = -1 - i;
      const bool claimed = std::any_of(msg.cond_indep_stack.begin(), msg.cond_indep_stack.end(),
                                       [&](const CondIndepStackFrame& f) { return f.dim == dim; });
      // A scanned site's leftmost batch axis is time (tyche::scan), not a missing plate.
      const bool time_axis = i == batch.rank() - 1 && msg.infer.contains("_control_flow_done");
      if (!claimed && !time_axis && batch[batch.rank() - 1 - i] > 1) {
        std::cerr << "tyche: warning: missing a plate statement for batch axis " << dim << " of " << describe_site(msg)
                  << " (batch shape " << batch.str() << "); tyche::format_trace shows every site's shapes\n";
        break;
      }
    }
  }
}

// An exception from chain c, rethrown with the chain's number.
template <class T = std::exception_ptr>
void rethrow_naming_chain(const std::type_identity_t<T>& error, int c) {
  if (!error) return;
  const std::string chain = "tyche: MCMC chain " + std::to_string(c) + ": ";
  const auto message = [&](const std::exception& e) {
    std::string what = e.what();
    if (what.rfind("tyche: ", 0) == 0) what.erase(0, 7);
    return chain + what;
  };
  try {
    std::rethrow_exception(error);
  } catch (const ChainStopped&) {
    return;  // stopped because another chain failed: that one is reported
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(message(e));
  } catch (const std::exception& e) {
    throw std::runtime_error(message(e));
  }
}

// The kept draws of each output site, from the columns of `positions`.
template <class Potential>
std::vector<std::vector<double>> constrained_draws(const Potential& potential, const SamplePlan& plan,
                                                   const Eigen::MatrixXd& positions) {
  std::vector<std::vector<double>> sites(plan.sites.size());
  const std::int64_t count = positions.cols();
  for (std::size_t s = 0; s < sites.size(); ++s) sites[s].reserve(std::size_t(count * plan.sites[s].shape.numel()));
  if (!plan.run_model) {
    for (std::size_t s = 0; s < sites.size(); ++s) {
      const SamplePlan::Site& site = plan.sites[s];
      std::vector<double> coordinates;
      const LatentSite& latent = *site.latent;
      coordinates.reserve(std::size_t(count * latent.size()));
      for (Eigen::Index k = 0; k < count; ++k)
        coordinates.insert(coordinates.end(), positions.col(k).data() + latent.offset,
                           positions.col(k).data() + latent.offset + latent.size());
      if (site.support->kind() == constraints::Kind::real) {
        sites[s] = std::move(coordinates);
        continue;
      }
      Shape batch{count}, shape{count};
      for (std::int64_t d : latent.unconstrained_shape) batch.push_back(d);
      for (std::int64_t d : site.shape) shape.push_back(d);
      const Tensor values = broadcast_to(biject_to(*site.support)->forward(Tensor(coordinates, batch)), shape);
      sites[s].assign(values.data(), values.data() + values.size());
    }
    return sites;
  }
  Eigen::VectorXd u(positions.rows());
  for (Eigen::Index k = 0; k < count; ++k) {
    u = positions.col(k);
    const Trace at_u = potential.run(Tensor::view(u));
    for (std::size_t s = 0; s < sites.size(); ++s) {
      Tensor value = *at_u[plan.sites[s].name].value;
      if (value.shape() != plan.sites[s].shape && !plan.sites[s].deterministic())
        value = broadcast_to(value, plan.sites[s].shape);  // as pack() reads a latent value
      if (value.shape() != plan.sites[s].shape)
        throw ShapeError("tyche: MCMC: deterministic site `" + plan.sites[s].name + "` has shape " + value.shape().str() +
                         " at a draw but " + plan.sites[s].shape.str() + " at the first run of the model");
      sites[s].insert(sites[s].end(), value.data(), value.data() + value.size());
    }
  }
  return sites;
}

}  // namespace detail

template <class Kernel>
class MCMC {
 public:
  MCMC(Kernel kernel, MCMCOptions options = {}) : kernel_(std::move(kernel)), options_(options) {
    const auto require_at_least = [](const char* what, int value, int least) {
      if (value < least)
        throw std::invalid_argument(std::string("tyche: MCMC: ") + what + " must be >= " + std::to_string(least) +
                                    ", got " + std::to_string(value));
    };
    require_at_least("num_warmup", options.num_warmup, 0);
    require_at_least("num_samples", options.num_samples, 0);
    require_at_least("num_chains", options.num_chains, 1);
    require_at_least("thinning", options.thinning, 1);
  }

  // Set to last_state() (or the state a warmup() left) to continue from it:
  // the next run skips warm-up.
  std::optional<MCMCState> post_warmup_state;

  // Warm-up, then sampling, on model(args...); a RunOptions may follow args.
  template <class... Args>
  void run(std::uint64_t seed, Args&&... args) {
    auto [model_args, options] = detail::split_trailing_options<RunOptions>(std::forward<Args>(args)...);
    const std::int64_t warmup = post_warmup_state ? 0 : options_.num_warmup;
    run_chains(seed, model_args, options.init_params, warmup, options_.num_samples,
               {warmup, warmup + options_.num_samples, options_.thinning});
  }

  // Warm-up only; the states it ends in become post_warmup_state. With
  // collect_warmup the warm-up draws are the samples.
  template <class... Args>
  void warmup(std::uint64_t seed, Args&&... args) {
    auto [model_args, options] = detail::split_trailing_options<WarmupOptions>(std::forward<Args>(args)...);
    post_warmup_state.reset();
    const detail::Collection collection{0, options.collect_warmup ? options_.num_warmup : 0, options_.thinning};
    run_chains(seed, model_args, options.init_params, options_.num_warmup, 0, collection);
    post_warmup_state = last_state();
  }

  // Site name -> draws: (draw, ...) with the chains one after the other, or
  // (chain, draw, ...) with group_by_chain. Latent and deterministic sites,
  // in their constrained shapes.
  ValueMap get_samples(bool group_by_chain = false) const {
    ValueMap samples;
    for (std::size_t s = 0; s < plan_sites_.size(); ++s) {
      std::vector<double> values;
      for (const detail::ChainDraws& chain : chains_)
        values.insert(values.end(), chain.sites[s].begin(), chain.sites[s].end());
      samples.emplace(plan_sites_[s].name, Tensor(values, draws_shape(plan_sites_[s].shape, group_by_chain)));
    }
    return samples;
  }

  // accept_prob, diverging (0 or 1), energy, mean_accept_prob, num_steps,
  // potential_energy, step_size, trajectory_length, tree_depth: one value
  // per kept draw, shaped (draw,) or (chain, draw).
  ValueMap get_extra_fields(bool group_by_chain = false) const {
    ValueMap fields;
    for (std::size_t f = 0; f < detail::kExtraFields.size(); ++f) {
      std::vector<double> values;
      for (const detail::ChainDraws& chain : chains_)
        values.insert(values.end(), chain.extra[f].begin(), chain.extra[f].end());
      fields.emplace(detail::kExtraFields[f].name, Tensor(values, draws_shape({}, group_by_chain)));
    }
    return fields;
  }

  // Every chain's state at the end of the last run or warmup.
  MCMCState last_state() const {
    if (chains_.empty()) throw std::logic_error("tyche: MCMC::last_state: nothing has run yet");
    MCMCState state;
    for (const detail::ChainDraws& chain : chains_) state.chains.push_back(*chain.last_state);
    return state;
  }

  // NumPyro's table (mean, std, median, HPDI bounds, n_eff, r_hat per
  // scalar element, sites by name) of the latent sites (and deterministic
  // ones unless excluded), then the number of divergences.
  void print_summary(double prob = 0.9, bool exclude_deterministic = true, std::ostream& out = std::cout) const {
    ValueMap samples = get_samples(/*group_by_chain=*/true);
    if (exclude_deterministic)
      for (const detail::SamplePlan::Site& site : plan_sites_)
        if (site.deterministic()) samples.erase(site.name);
    tyche::print_summary(samples, prob, /*group_by_chain=*/true, out);
    double divergences = 0;
    for (const detail::ChainDraws& chain : chains_)
      for (double d : chain.extra[detail::extra_field_index("diverging")]) divergences += d;
    out << "Number of divergences: " << static_cast<long long>(divergences) << "\n";
  }

  const MCMCOptions& options() const { return options_; }
  const Kernel& kernel() const { return kernel_; }

  // What the last run or warmup did: seed, transitions, settings, timings.
  const MCMCRunInfo& last_run() const {
    if (chains_.empty()) throw std::logic_error("tyche: MCMC::last_run: nothing has run yet");
    return run_info_;
  }

 private:
  Shape draws_shape(const Shape& site, bool group_by_chain) const {
    const std::int64_t per_chain = chains_.empty() ? 0 : chains_.front().count;
    Shape shape = group_by_chain ? Shape{std::int64_t(chains_.size()), per_chain}
                                 : Shape{std::int64_t(chains_.size()) * per_chain};
    for (std::int64_t d : site) shape.push_back(d);
    return shape;
  }

  template <class ArgsTuple>
  void run_chains(std::uint64_t rng_seed, const ArgsTuple& model_args, const std::optional<ValueMap>& init_params,
                  std::int64_t num_warmup, std::int64_t num_samples, detail::Collection collection) {
    chains_.clear();
    plan_sites_.clear();
    const Trace initial = detail::initial_trace(kernel_.model(), model_args);
    detail::warn_missing_plates(initial);
    const PotentialEnergy potential(kernel_.model(), model_args, LatentLayout(initial));
    const detail::SamplePlan plan(initial, potential);
    const HamiltonianSettings settings = kernel_.settings(potential.layout());
    const int num_chains = options_.num_chains;
    if (post_warmup_state && post_warmup_state->chains.size() != std::size_t(num_chains))
      throw std::invalid_argument("tyche: MCMC: post_warmup_state holds " +
                                  std::to_string(post_warmup_state->chains.size()) + " chains but num_chains is " +
                                  std::to_string(num_chains));
    const std::vector<Key> keys = split(PRNGKey(rng_seed), num_chains);
    std::vector<detail::ChainDraws> draws(static_cast<std::size_t>(num_chains));
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(num_chains));
    std::vector<detail::ChainProgress> progress(static_cast<std::size_t>(num_chains));
    std::atomic<bool> stop{false}, fallback_reported{false};

    const auto run_one = [&](int c) {
      const std::size_t i = std::size_t(c);
      try {
        draws[i] = run_chain(potential, plan, settings, keys[i], init_params, num_warmup, num_samples, collection,
                             progress[i], stop, fallback_reported, c);
      } catch (...) {
        errors[i] = std::current_exception();
        stop.store(true, std::memory_order_relaxed);
      }
      progress[i].phase.store(3, std::memory_order_relaxed);
    };
    {
      detail::ProgressDisplay<> display(progress, options_.progress_bar);
      detail::for_each_index(num_chains,
                             detail::thread_count(num_chains, options_.chain_method == ChainMethod::parallel),
                             [&](std::int64_t c) { run_one(int(c)); });
    }
    for (int c = 0; c < num_chains; ++c) detail::rethrow_naming_chain(errors[std::size_t(c)], c);
    plan_sites_ = plan.sites;
    chains_ = std::move(draws);
    run_info_ = {rng_seed, num_warmup, num_samples, int(collection.thinning), num_samples == 0 && collection.size() > 0,
                 settings, {}, {}, {}};
    for (const detail::SamplePlan::Site& site : plan_sites_)
      if (site.deterministic()) run_info_.deterministic_sites.push_back(site.name);
    for (const detail::ChainDraws& chain : chains_) {
      run_info_.warmup_seconds.push_back(chain.warmup_seconds);
      run_info_.sampling_seconds.push_back(chain.sampling_seconds);
    }
  }

  // One chain: initial point, recording, transitions, kept draws.
  template <class Potential>
  detail::ChainDraws run_chain(const Potential& potential, const detail::SamplePlan& plan,
                               const HamiltonianSettings& settings, Key key,
                               const std::optional<ValueMap>& init_params, std::int64_t num_warmup,
                               std::int64_t num_samples, const detail::Collection& collection,
                               detail::ChainProgress& progress, const std::atomic<bool>& stop,
                               std::atomic<bool>& fallback_reported, int chain_index) const {
    const auto [init_key, chain_key] = split(key);
    std::optional<ChainState> resume;
    if (post_warmup_state) {
      resume = post_warmup_state->chains[std::size_t(chain_index)];
      if (resume->position.size() != potential.layout().size())
        throw std::invalid_argument("tyche: MCMC: post_warmup_state has " + std::to_string(resume->position.size()) +
                                    " coordinates but the model's latent sites (" + potential.layout().names() +
                                    ") have " + std::to_string(potential.layout().size()));
      resume->key = chain_key;
    }
    const Eigen::VectorXd u0 = resume ? resume->position
                                      : detail::find_initial_point(potential, init_key, kernel_.init_strategy(),
                                                                   init_params);
    // The compiled potential serves this thread only; it keeps its own copy.
    std::optional<CompiledGradient<Potential>> compiled;
    try {
      compiled.emplace(potential, u0);
    } catch (const ConcretizationError& e) {
      if (!fallback_reported.exchange(true))
        std::cerr << "tyche: MCMC: the model reads the value of a parameter while it runs, so its potential "
                     "energy cannot be recorded; every leapfrog step runs the model with value_and_grad instead ("
                  << e.what() << ")\n";
    }
    const PotentialFunction gradient =
        compiled ? PotentialFunction([&compiled](const Eigen::Ref<const Eigen::VectorXd>& u,
                                                 Eigen::Ref<Eigen::VectorXd> grad) { return (*compiled)(u, grad); })
                 : PotentialFunction([&potential](const Eigen::Ref<const Eigen::VectorXd>& u,
                                                  Eigen::Ref<Eigen::VectorXd> grad) {
                     return value_and_grad(potential, u, grad);
                   });
    HamiltonianChain chain = resume ? HamiltonianChain(*resume, gradient, settings)
                                    : HamiltonianChain(gradient, u0, chain_key, settings, int(num_warmup));

    detail::ChainDraws draws;
    const std::int64_t kept = collection.size(), total = num_warmup + num_samples;
    Eigen::MatrixXd positions(potential.layout().size(), kept);
    for (auto& field : draws.extra) field.reserve(std::size_t(kept));
    progress.total.store(total, std::memory_order_relaxed);
    std::int64_t divergences = 0;
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = Clock::now();
    Clock::time_point warmup_end = start;
    for (std::int64_t i = 0; i < total; ++i) {
      if (i == num_warmup) warmup_end = Clock::now();
      if (stop.load(std::memory_order_relaxed)) throw detail::ChainStopped{};
      progress.phase.store(i < num_warmup ? 1 : 2, std::memory_order_relaxed);
      const TransitionInfo& info = chain.transition();
      divergences += info.diverging;
      if (collection.keeps(i)) {
        positions.col(draws.count++) = chain.position();
        for (std::size_t f = 0; f < detail::kExtraFields.size(); ++f)
          draws.extra[f].push_back(detail::kExtraFields[f].read(info));
      }
      progress.done.store(i + 1, std::memory_order_relaxed);
      progress.divergences.store(divergences, std::memory_order_relaxed);
      progress.step_size.store(info.step_size, std::memory_order_relaxed);
      progress.mean_accept_prob.store(info.mean_accept_prob, std::memory_order_relaxed);
    }
    const Clock::time_point end = Clock::now();
    if (num_samples == 0) warmup_end = end;
    draws.warmup_seconds = std::chrono::duration<double>(warmup_end - start).count();
    draws.sampling_seconds = std::chrono::duration<double>(end - warmup_end).count();
    draws.last_state = chain.state();
    draws.sites = detail::constrained_draws(potential, plan, positions);
    return draws;
  }

  Kernel kernel_;
  MCMCOptions options_;
  std::vector<detail::SamplePlan::Site> plan_sites_;
  std::vector<detail::ChainDraws> chains_;
  MCMCRunInfo run_info_;
};

}  // namespace tyche
