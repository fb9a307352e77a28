// GuideElbo: the ELBO (Trace_ELBO, TraceMeanField_ELBO, TraceGraph_ELBO or
// TraceEnum_ELBO) of any guide (a hand-written one, say), recorded once
// (compile_gradient) and replayed at every step, with fresh noise for the
// guide's draws at each replay. SVI::run and update take this path by
// themselves when the autoguide path (auto_guide_elbo.hpp) does not apply;
// it changes nothing but the speed.
//
//   auto guide = [](const tyche::Tensor&) {
//     auto loc = tyche::param("loc", 0.0);
//     auto scale = tyche::param("scale", 1.0, tyche::constraints::positive);
//     tyche::sample("mu", tyche::dist::Normal(loc, scale));
//   };
//   tyche::SVI svi(model, guide, tyche::optim::Adam({.step_size = 0.05}), tyche::Trace_ELBO{});
//   auto result = svi.run(0, 2000, y);   // each step: one replay
//
// How. The loss of one particle is a function of the params and of the
// noise the guide's reparameterised draws transform (Normal's eps, the
// uniforms of Cauchy or Uniform): loc + scale * eps and the like. The noise
// is drawn elementwise from a key's bits (distributions/random.hpp), and
// each draw's key is the key seed gives one of the guide's sample sites:
// from the guide's key g, site i of the guide takes k_i where
// (g_{i+1}, k_i) = split(g_i), g_0 = g. So:
// 1. one eager run with a NoiseTap set finds every noise draw, its size,
//    how it fills its numbers from a key, and the i of its key;
// 2. the loss is recorded as a function of x = (params, noise), each draw
//    returning its slice of x in place of its numbers;
// 3. each replay draws the noise from the step's keys into x (the particle
//    key splits into the model's and the guide's, as Trace_ELBO splits it)
//    and keeps the params' part of the gradient.
// The same keys give the same numbers, so the steps are update's, to
// rounding.
//
// When does it apply: every noise draw comes from a key the guide's seed
// hands a site (not from a key split inside a sampler, nor from the
// model's: TraceEnum_ELBO without max_plate_nesting runs the model under
// seed to guess it); no draw is opaque to the tap (Gamma, Beta, Dirichlet
// and StudentT draw by rejection, the discrete distributions of a
// TraceGraph_ELBO guide element by element, a subsampling plate draws a
// permutation); and the model and the guide can be recorded (they do not
// branch on a parameter's value). Otherwise SVI steps with handlers, and
// says so on standard error.
#pragma once

#include "tyche/core/compiled.hpp"
#include "tyche/distributions/noise_tap.hpp"
#include "tyche/infer/compiled_loss.hpp"
#include "tyche/infer/elbo.hpp"
#include "tyche/infer/trace_enum_elbo.hpp"
#include "tyche/infer/param_layout.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche::detail {

// A draw the tap cannot refill at a replay: the recording is abandoned.
class NoiseNotReplayable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The noise draws of one particle of the guide (see the top).
class GuideNoise : public NoiseTap {
 public:
  struct Draw {
    std::size_t site;            // the i of its key k_i
    std::int64_t offset, count;  // its numbers in the noise vector
    Fill fill;
  };

  // 1. Finding the draws: the guide runs with `guide_key`.
  explicit GuideNoise(Key guide_key) : guide_key_(guide_key) {}

  // 2. Recording: each draw, in the order found, returns its slice of `noise`.
  void record(const Tensor& noise) {
    recording_ = noise;
    next_ = 0;
  }
  void stop_recording() { recording_.reset(); }

  // 3. Replaying: the noise of the particle whose guide key is `guide_key`.
  void draw(Key guide_key, double* noise) {
    Key key = guide_key;
    for (std::size_t i = 0; i < site_keys_.size(); ++i) {
      const auto keys = split(key);
      key = keys[0];
      site_keys_[i] = keys[1];
    }
    for (const Draw& d : draws_) d.fill(site_keys_[d.site], noise + d.offset, d.count);
  }

  std::int64_t size() const { return size_; }
  const std::vector<double>& found_values() const { return found_; }

  Tensor elementwise(Key key, Tensor values, Fill fill) override {
    if (recording_) {
      if (next_ >= draws_.size() || draws_[next_].count != values.size())
        throw NoiseNotReplayable("the guide draws differently from one run to the next");
      const Draw& d = draws_[next_++];
      return recording_->slice(d.offset, d.offset + d.count).reshape(values.shape());
    }
    const std::size_t site = site_of(key);
    draws_.push_back({site, size_, values.size(), std::move(fill)});
    if (values.size() > 0) found_.insert(found_.end(), values.data(), values.data() + values.size());
    size_ += values.size();
    site_keys_.resize(std::max(site_keys_.size(), site + 1));
    return values;
  }
  void opaque(const char* what) override {
    throw NoiseNotReplayable(std::string("the guide or the model draws with ") + what +
                             ", whose numbers a replay cannot draw afresh");
  }

 private:
  // The i with k_i == key, among the first sites of the guide's seed.
  std::size_t site_of(Key key) const {
    constexpr std::size_t kSites = 1 << 16;  // more sites than a guide has
    Key chain = guide_key_;
    for (std::size_t i = 0; i < kSites; ++i) {
      const auto keys = split(chain);
      if (keys[1] == key) return i;
      chain = keys[0];
    }
    throw NoiseNotReplayable("a draw's key is not one the guide's seed hands a site (a sampler splits it, or the "
                             "model draws)");
  }

  Key guide_key_;
  std::vector<Draw> draws_;
  std::vector<double> found_;
  std::vector<Key> site_keys_;
  std::int64_t size_ = 0;
  std::optional<Tensor> recording_;
  std::size_t next_ = 0;
};

// Sets a thread's tap for its lifetime.
class NoiseTapGuard {
 public:
  explicit NoiseTapGuard(NoiseTap& tap) : previous_(noise_tap()) { noise_tap() = &tap; }
  ~NoiseTapGuard() { noise_tap() = previous_; }
  NoiseTapGuard(const NoiseTapGuard&) = delete;
  NoiseTapGuard& operator=(const NoiseTapGuard&) = delete;

 private:
  NoiseTap* previous_;
};

// The losses this path records: each averages particles keyed as
// negative_mean_over_particles keys them, each particle running the guide
// with split(particle key)[1] (elbo.hpp).
template <class Loss>
constexpr bool kParticleElbo = std::is_same_v<Loss, Trace_ELBO> || std::is_same_v<Loss, TraceMeanField_ELBO> ||
                               std::is_same_v<Loss, TraceGraph_ELBO> || std::is_same_v<Loss, TraceEnum_ELBO>;

template <class Loss, class Model, class Guide, class... Args>
class GuideElbo : public CompiledLoss {
 public:
  // Finds the noise and records the loss at the params u (throws
  // NoiseNotReplayable or ConcretizationError when the path does not apply).
  GuideElbo(const Loss& loss, const Model& model, const Guide& guide, std::tuple<Args...> args,
            const ParamLayout& layout, const Eigen::VectorXd& u)
      : one_particle_(loss),
        model_(model),
        guide_(guide),
        args_(std::move(args)),
        layout_(layout),
        num_particles_(loss.num_particles),
        noise_(std::make_unique<GuideNoise>(guide_key(kRecordingKey))) {
    one_particle_.num_particles = 1;
    {
      const NoiseTapGuard tap(*noise_);
      (void)one_particle_.loss(kRecordingKey, layout_.constrain(Tensor(u)), model_, guide_, args_);
    }
    x_.resize(u.size() + noise_->size());
    x_ << u, Eigen::Map<const Eigen::VectorXd>(noise_->found_values().data(), noise_->size());
    gradient_.resize(x_.size());
    compiled_.emplace(RecordedLoss{this}, x_);
    noise_->stop_recording();
  }
  GuideElbo(const GuideElbo&) = delete;
  GuideElbo& operator=(const GuideElbo&) = delete;

  // The loss at the unconstrained params (SVI's flat vector) for the step's
  // key; its gradient is written into `gradient`.
  double operator()(Key key, const Eigen::VectorXd& params, Eigen::VectorXd& gradient) override {
    gradient.setZero();
    const std::int64_t n = params.size();
    x_.head(n) = params;
    double loss = 0.0;
    for (int i = 0; i < num_particles_; ++i) {
      // One particle uses the key itself; fold_in(key, i) is split(key, num_particles)[i].
      const Key particle_key = num_particles_ == 1 ? key : fold_in(key, std::uint32_t(i));
      noise_->draw(guide_key(particle_key), x_.data() + n);
      loss += (*compiled_)(x_, gradient_);
      gradient += gradient_.head(n);
    }
    gradient /= double(num_particles_);
    return loss / double(num_particles_);
  }

 private:
  static constexpr Key kRecordingKey = PRNGKey(0);
  // The guide's key of a particle, as run_particle splits it.
  static Key guide_key(Key particle_key) { return split(particle_key)[1]; }

  // The recorded function of x = (params, noise).
  struct RecordedLoss {
    GuideElbo* self;
    Tensor operator()(const Tensor& x) const {
      const std::int64_t n = self->layout_.size();
      self->noise_->record(x.slice(n, x.size()));
      const NoiseTapGuard tap(*self->noise_);
      return self->one_particle_.loss(kRecordingKey, self->layout_.constrain(x.slice(0, n)), self->model_,
                                      self->guide_, self->args_);
    }
  };

  // The model, guide and layout are SVI's; the arguments are copies (a
  // Tensor copy shares its data), which the recording may read at replays.
  Loss one_particle_;
  const Model& model_;
  const Guide& guide_;
  std::tuple<Args...> args_;
  const ParamLayout& layout_;
  int num_particles_;
  std::unique_ptr<GuideNoise> noise_;
  Eigen::VectorXd x_, gradient_;
  std::optional<CompiledGradient<RecordedLoss>> compiled_;
};

// A GuideElbo of model(args...) (the arguments copied).
template <class Loss, class Model, class Guide, class... Args>
std::unique_ptr<CompiledLoss> guide_elbo(const Loss& loss, const Model& model, const Guide& guide,
                                         const std::tuple<Args...>& args, const ParamLayout& layout,
                                         const Eigen::VectorXd& u) {
  return std::make_unique<GuideElbo<Loss, Model, Guide, std::decay_t<Args>...>>(
      loss, model, guide, std::tuple<std::decay_t<Args>...>(args), layout, u);
}

}  // namespace tyche::detail
