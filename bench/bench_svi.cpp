// SVI on the logistic regression of shared/data/bench/README.md (N = 1000,
// D = 3), written with sample and plate as a user writes it
// (bench/bench_models.hpp), with an AutoNormal guide, Adam(0.01) and
// Trace_ELBO, through SVI::run, the path users take. Measured in one run:
// - steps per second of SVI::run, which replays the model's recorded
//   potential at each step (infer/auto_guide_elbo.hpp); of the same run with
//   the guide's type hidden from SVI, which records the whole loss with the
//   guide's noise as an input (infer/guide_elbo.hpp, the path of a
//   hand-written guide); and of the same run with Trace_ELBO under another
//   name, which differentiates the loss with handlers at every step; the
//   runs start from the same seed and must give the same losses (checked,
//   exit 1 if not);
// - steps per second of the same step written by hand (HandWrittenSvi:
//   Eigen and plain loops, the log joint's gradient derived on paper, Adam's
//   equations as optim.hpp's), and the median of the rounds' ratios SVI::run
//   time per step / hand-written time per step (SVI::run's time includes its
//   init and the recording of the potential, once per run). The hand-written
//   steps draw the guide's noise from the keys SVI::run uses and start from
//   the params of svi.init with the same seed, so their final params must
//   agree with SVI::run's to 1e-8 and their losses to 1e-9 relative
//   (checked, exit 1 if not);
// - the share of a step spent outside gradient evaluations: 1 - (the time of
//   one gradient of the recorded potential, timed on its own) / (the time of
//   one step). Target (issue 15): at most 20%.
// Each figure is the median of several rounds.
//
//   cmake --build build --target bench_svi && ./build/bench/bench_svi
#include <tyche/tyche.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <vector>

#include "bench_data.hpp"
#include "bench_models.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One SVI step of tyche_bench::logreg_model with an AutoNormal guide,
// Trace_ELBO (one particle) and Adam, written by hand. The latent
// coordinates are z = (alpha, beta), all real, so the potential energy is
// minus the log joint with no Jacobian:
//   U(z) = alpha^2 / (2 * 2.5^2) + log 2.5 + |beta|^2 / 2 + (1 + D) log(2 pi) / 2
//          - sum_i (y_i l_i - softplus(l_i)),   l = alpha + X beta,
//   dU/dalpha = alpha / 2.5^2 - sum_i r_i,   dU/dbeta = beta - X^T r,   r = y - sigmoid(l).
// The guide draws z = loc + softplus(raw) * eps; the loss and its gradient
// are those of infer/auto_guide_elbo.hpp's comment.
class HandWrittenSvi {
 public:
  // loc and raw in z's order; key: the state's key that SVI::run starts from.
  HandWrittenSvi(const tyche::RowMatrixXd& X, const Eigen::VectorXd& y, const Eigen::VectorXd& loc,
                 const Eigen::VectorXd& raw, tyche::Key key, double step_size)
      : X_(X), y_(y), dims_(loc.size()), key_(key), step_size_(step_size),
        params_(2 * dims_), m_(Eigen::VectorXd::Zero(2 * dims_)), v_(Eigen::VectorXd::Zero(2 * dims_)),
        gradient_(2 * dims_), eps_(dims_), scale_(dims_), z_(dims_), potential_gradient_(dims_), logits_(X.rows()),
        residuals_(X.rows()), exp_minus_abs_logits_(X.rows()) {
    params_ << loc, raw;
  }

  // One step; returns the loss at the params before it, as SVI::run records.
  double step() {
    // The keys of SVI::run: the step's key, the guide's key (the second of
    // the particle's split), then one key per site in the guide's order.
    const auto [next_key, step_key] = tyche::split(key_);
    key_ = next_key;
    const auto [after_alpha, alpha_key] = tyche::split(tyche::split(step_key)[1]);
    const tyche::Key beta_key = tyche::split(after_alpha)[1];
    tyche::detail::fill_standard_normal(alpha_key, eps_.data(), 1);
    tyche::detail::fill_standard_normal(beta_key, eps_.data() + 1, dims_ - 1);

    double minus_log_q = 0.0;  // -log q(z) less its constant (1 + D) log(2 pi) / 2
    for (Eigen::Index k = 0; k < dims_; ++k) {
      scale_[k] = tyche::detail::softplus_scalar(params_[dims_ + k]);
      z_[k] = params_[k] + scale_[k] * eps_[k];
      minus_log_q += 0.5 * eps_[k] * eps_[k] + std::log(scale_[k]);
    }

    // l = alpha + X beta and X^T r as matrix-vector products; between them
    // the log likelihood and r as array expressions, which Eigen vectorises
    // (exp and log1p included). softplus(l) = max(l, 0) + log1p(e) and
    // sigmoid(l) = (l >= 0 ? 1 : e) / (1 + e) with e = exp(-|l|), stable
    // for any l.
    const double alpha = z_[0];
    const auto beta = z_.tail(dims_ - 1);
    logits_.noalias() = X_ * beta;
    logits_.array() += alpha;
    const auto l = logits_.array();
    exp_minus_abs_logits_.array() = (-l.abs()).exp();
    const auto e = exp_minus_abs_logits_.array();
    const double log_likelihood = (y_.array() * l - l.max(0.0) - e.log1p()).sum();
    residuals_.array() = y_.array() - (l >= 0.0).select(1.0, e) / (1.0 + e);
    potential_gradient_.tail(dims_ - 1).noalias() = beta - X_.transpose() * residuals_;
    constexpr double alpha_variance = 2.5 * 2.5;
    potential_gradient_[0] = alpha / alpha_variance - residuals_.sum();
    // U's normalising constants (1 + D) log(2 pi) / 2 cancel the guide's.
    const double potential_without_constants =
        0.5 * alpha * alpha / alpha_variance + std::log(2.5) + 0.5 * beta.squaredNorm() - log_likelihood;
    const double loss = potential_without_constants - minus_log_q;

    for (Eigen::Index k = 0; k < dims_; ++k) {
      const double raw = params_[dims_ + k];
      gradient_[k] = potential_gradient_[k];
      gradient_[dims_ + k] = (potential_gradient_[k] * eps_[k] - 1.0 / scale_[k]) / (1.0 + std::exp(-raw));
    }
    adam_step();
    return loss;
  }

  Eigen::VectorXd loc() const { return params_.head(dims_); }
  Eigen::VectorXd raw() const { return params_.tail(dims_); }

 private:
  // optim.hpp's Adam with b1 = 0.9, b2 = 0.999, eps = 1e-8 and bias correction.
  void adam_step() {
    constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    ++steps_taken_;
    const double m_correction = 1.0 - std::pow(b1, double(steps_taken_));
    const double v_correction = 1.0 - std::pow(b2, double(steps_taken_));
    for (Eigen::Index k = 0; k < params_.size(); ++k) {
      m_[k] = b1 * m_[k] + (1.0 - b1) * gradient_[k];
      v_[k] = b2 * v_[k] + (1.0 - b2) * gradient_[k] * gradient_[k];
      params_[k] -= step_size_ * (m_[k] / m_correction) / (std::sqrt(v_[k] / v_correction) + eps);
    }
  }

  const tyche::RowMatrixXd& X_;
  const Eigen::VectorXd& y_;
  Eigen::Index dims_;  // 1 + D: alpha, then beta
  tyche::Key key_;
  double step_size_;
  std::int64_t steps_taken_ = 0;
  Eigen::VectorXd params_;  // loc, then raw scale
  Eigen::VectorXd m_, v_, gradient_, eps_, scale_, z_, potential_gradient_;
  Eigen::VectorXd logits_, residuals_, exp_minus_abs_logits_;  // of the data's size
};

// A site's values in SVI's flat params vector.
Eigen::VectorXd segment_of(const tyche::ParamLayout& layout, const Eigen::VectorXd& params, const char* name) {
  const tyche::ParamSite* site = layout.find(name);
  return params.segment(site->offset, site->size());
}

// Trace_ELBO under another name, which SVI never records.
struct EagerTraceElbo {
  template <class Model, class Guide, class... Args>
  tyche::Tensor loss(tyche::Key key, const tyche::ValueMap& params, const Model& model, const Guide& guide,
                     const std::tuple<Args...>& args) const {
    return tyche::Trace_ELBO{}.loss(key, params, model, guide, args);
  }
};

}  // namespace

int main() {
  const auto data = tyche_bench::make_logreg(1000, 3, 12345);
  const auto model = tyche_bench::logreg_model(tyche::Tensor::view(data.X), tyche::Tensor(data.y));
  constexpr int kSteps = 2000, kRounds = 5;
  const tyche::SVIRunOptions options{.progress_bar = false};

  std::vector<double> compiled_rates, any_guide_rates, eager_rates, hand_rates, run_over_hand, shares;
  double largest_difference = 0.0, largest_hand_param_difference = 0.0, largest_hand_loss_difference = 0.0;
  for (int round = 0; round < kRounds; ++round) {
    tyche::SVI compiled(model, tyche::AutoNormal(model), tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
    Clock::time_point start = Clock::now();
    const auto fast = compiled.run(round, kSteps, options);
    const double compiled_seconds = seconds_since(start);
    compiled_rates.push_back(kSteps / compiled_seconds);

    // The hand-written steps from the state SVI::run starts from: init of
    // an SVI alike with the same seed.
    tyche::SVI reference(model, tyche::AutoNormal(model), tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
    const auto initial = reference.init(round);
    const tyche::ParamLayout& layout = reference.layout();
    const auto loc_and_raw = [&](const Eigen::VectorXd& params) {
      Eigen::VectorXd loc(data.X.cols() + 1), raw(data.X.cols() + 1);
      loc << segment_of(layout, params, "alpha_auto_loc"), segment_of(layout, params, "beta_auto_loc");
      raw << segment_of(layout, params, "alpha_auto_scale"), segment_of(layout, params, "beta_auto_scale");
      return std::pair{loc, raw};
    };
    const auto [initial_loc, initial_raw] = loc_and_raw(initial.optim_state.params);
    HandWrittenSvi hand(data.X, data.y, initial_loc, initial_raw, initial.rng_key, 0.01);
    std::vector<double> hand_losses(kSteps);
    start = Clock::now();
    for (int i = 0; i < kSteps; ++i) hand_losses[std::size_t(i)] = hand.step();
    const double hand_seconds = seconds_since(start);
    hand_rates.push_back(kSteps / hand_seconds);
    run_over_hand.push_back(compiled_seconds / hand_seconds);
    const auto [final_loc, final_raw] = loc_and_raw(fast.state.optim_state.params);
    largest_hand_param_difference =
        std::max({largest_hand_param_difference, (hand.loc() - final_loc).lpNorm<Eigen::Infinity>(),
                  (hand.raw() - final_raw).lpNorm<Eigen::Infinity>()});
    for (int i = 0; i < kSteps; ++i)
      largest_hand_loss_difference =
          std::max(largest_hand_loss_difference, std::abs(fast.losses.data()[i] - hand_losses[std::size_t(i)]) /
                                                     std::max(1.0, std::abs(fast.losses.data()[i])));

    // A fresh AutoNormal behind a lambda: SVI sees a guide of any type and
    // records the loss with the guide's noise (infer/guide_elbo.hpp).
    const auto hidden_guide = [guide = tyche::AutoNormal(model)](const auto&... args) { return guide(args...); };
    tyche::SVI any(model, hidden_guide, tyche::optim::Adam({.step_size = 0.01}), tyche::Trace_ELBO{});
    start = Clock::now();
    const auto any_guide = any.run(round, kSteps, options);
    any_guide_rates.push_back(kSteps / seconds_since(start));

    // The same AutoNormal under Trace_ELBO by another name: every step runs
    // the guide and the model under their handlers.
    tyche::SVI eager(model, tyche::AutoNormal(model), tyche::optim::Adam({.step_size = 0.01}), EagerTraceElbo{});
    start = Clock::now();
    const auto slow = eager.run(round, kSteps / 10, options);
    eager_rates.push_back((kSteps / 10) / seconds_since(start));
    for (int i = 0; i < kSteps / 10; ++i)
      largest_difference = std::max(
          {largest_difference,
           std::abs(fast.losses.data()[i] - slow.losses.data()[i]) / std::max(1.0, std::abs(slow.losses.data()[i])),
           std::abs(any_guide.losses.data()[i] - slow.losses.data()[i]) /
               std::max(1.0, std::abs(slow.losses.data()[i]))});

    // One gradient of the recorded potential, at the fitted locs.
    const auto potential = tyche::potential_energy(model);
    const Eigen::VectorXd u = potential.pack(compiled.guide().median(fast.params));
    auto gradient_of = tyche::compile_gradient(potential, u);
    Eigen::VectorXd g(u.size());
    double sink = 0.0;
    const int evaluations = 20000;
    start = Clock::now();
    for (int i = 0; i < evaluations; ++i) sink += gradient_of(u, g);
    const double gradient_seconds = seconds_since(start) / evaluations;
    if (!std::isfinite(sink)) return 1;
    shares.push_back(1.0 - gradient_seconds / (compiled_seconds / kSteps));
  }
  std::printf("SVI, logistic regression N=1000 D=3, AutoNormal, Adam(0.01), Trace_ELBO, %d steps, median of %d rounds\n",
              kSteps, kRounds);
  std::printf("  SVI::run (recorded potential)     %9.0f steps/s\n", median(compiled_rates));
  std::printf("  SVI::run, the guide's type hidden %9.0f steps/s   (loss recorded with the guide's noise)\n",
              median(any_guide_rates));
  std::printf("  handlers at every step (eager)    %9.0f steps/s   (%.1fx slower)\n", median(eager_rates),
              median(compiled_rates) / median(eager_rates));
  std::printf("  hand-written Eigen step           %9.0f steps/s   (SVI::run / hand-written time per step: %.2f)\n",
              median(hand_rates), median(run_over_hand));
  std::printf("  share of a step outside the gradient: %.1f%% (target <= 20%%)\n", 100.0 * median(shares));
  std::printf("  largest relative loss difference between the recorded paths and the eager one: %.1e\n",
              largest_difference);
  std::printf("  hand-written against SVI::run: largest final param difference %.1e, relative loss difference %.1e\n",
              largest_hand_param_difference, largest_hand_loss_difference);
  const bool agree =
      largest_difference < 1e-9 && largest_hand_param_difference < 1e-8 && largest_hand_loss_difference < 1e-9;
  return agree ? 0 : 1;
}
