// More count distributions, with NumPyro's names and parameterisations:
// BetaBinomial (a binomial whose probability is Beta distributed),
// DiscreteUniform (equally likely integers low .. high),
// GammaPoisson (a Poisson whose rate is Gamma distributed) and
// ZeroInflatedProbs (extra zeros with probability gate, over any count
// distribution) with ZeroInflatedPoisson and ZeroInflatedNegativeBinomial2.
//
//   namespace dist = tyche::dist;
//   dist::BetaBinomial b(2.0, 3.0, 10.0);          // concentration1, concentration0, total_count
//   dist::DiscreteUniform u(1.0, 6.0);             // low, high: a die
//   dist::GammaPoisson g(tyche::Tensor{0.5, 4.0}, 2.0);   // concentration, rate; batch (2,)
//   dist::ZeroInflatedPoisson z(0.3, 4.5);         // gate, rate
//   dist::ZeroInflatedNegativeBinomial2 y(4.5, 2.0, 0.3);  // mean, concentration, gate
//   tyche::Tensor k = g.sample(tyche::PRNGKey(0), {100});  // shape (100, 2)
//   tyche::Tensor lp = g.log_prob(k);
//
// As discrete.hpp: values are doubles holding integers, log_prob is
// -infinity outside the support (with zero, not NaN, gradients there) and
// differentiable in every continuous parameter.
#pragma once

#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/discrete.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/random.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tyche::dist {
namespace detail {

// density(value) on the support, -infinity off it, where the density sees 0
// (a point of every support here) instead of the value, so that no lgamma of
// a negative integer puts NaN into the parameters' gradients.
template <class Density>
Tensor on_count_support(const Tensor& value, const constraints::Constraint& support, Density density) {
  const Tensor inside = support.check(value);
  return where(inside, density(where(inside, value, 0.0)), -kInfinity);
}

}  // namespace detail

// BetaBinomial(concentration1, concentration0, total_count = 1): the number of
// successes in total_count trials whose success probability is
// Beta(concentration1, concentration0), integrated out:
// P(k) = C(n, k) B(k + a, n - k + b) / B(a, b). Draws the probability, then
// the binomial, on the two keys of split(key), as NumPyro.
template <class = void>
class BetaBinomialT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<BetaBinomialT>(*this); }
  BetaBinomialT(Tensor concentration1, Tensor concentration0, Tensor total_count = 1.0)
      : Distribution(
            detail::broadcast_parameters("BetaBinomial", {&concentration1, &concentration0, &total_count}), {}),
        concentration1_(std::move(concentration1)),
        concentration0_(std::move(concentration0)),
        total_count_(std::move(total_count)) {
    detail::require_positive("BetaBinomial", "concentration1", concentration1_);
    detail::require_positive("BetaBinomial", "concentration0", concentration0_);
    detail::require_nonnegative_integer("BetaBinomial", "total_count", total_count_);
  }
  const Tensor& concentration1() const { return concentration1_; }
  const Tensor& concentration0() const { return concentration0_; }
  const Tensor& total_count() const { return total_count_; }

  std::string name() const override { return "BetaBinomial"; }
  constraints::Constraint support() const override { return constraints::integer_interval(0.0, total_count_); }
  bool has_enumerate_support() const override { return true; }
  Tensor enumerate_support(bool expand = true) const override {
    return detail::enumerate_integers(name(), Tensor(0.0), total_count_, batch_shape(), expand);
  }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [key_beta, key_binomial] = split(key);
    const Shape s = shape(sample_shape);
    const Tensor probs = random::beta(key_beta, concentration1_, concentration0_, s);
    return random::binomial(key_binomial, total_count_, probs, s);
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor &a = concentration1_, &b = concentration0_, &n = total_count_;
    return detail::on_count_support(value, support(), [&](const Tensor& k) {
      return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + detail::log_beta(k + a, n - k + b) -
             detail::log_beta(a, b);
    });
  }
  // n p and n p (1 - p) (a + b + n) / (a + b + 1), p = a / (a + b).
  Tensor mean() const override {
    return detail::broadcast_to_shape(total_count_ * concentration1_ / (concentration1_ + concentration0_),
                                      batch_shape());
  }
  Tensor variance() const override {
    const Tensor total = concentration1_ + concentration0_;
    const Tensor p = concentration1_ / total;
    return detail::broadcast_to_shape(
        total_count_ * p * (1.0 - p) * (total + total_count_) / (total + 1.0), batch_shape());
  }

 private:
  Tensor concentration1_, concentration0_, total_count_;
};
using BetaBinomial = BetaBinomialT<>;

// DiscreteUniform(low = 0, high = 1): the integers low .. high, equally
// likely (NumPyro's): log_prob -log(high - low + 1) on them, -infinity off.
// Draws floor(low + U (high - low + 1)) with U uniform on [0, 1).
//
//   dist::DiscreteUniform die(1.0, 6.0);
//   die.enumerate_support();                       // 1, 2, 3, 4, 5, 6
template <class = void>
class DiscreteUniformT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<DiscreteUniformT>(*this); }
  explicit DiscreteUniformT(Tensor low = 0.0, Tensor high = 1.0)
      : Distribution(detail::broadcast_parameters("DiscreteUniform", {&low, &high}), {}),
        low_(std::move(low)),
        high_(std::move(high)) {
    const auto integer = [](double v) { return std::isfinite(v) && std::floor(v) == v; };
    detail::require("DiscreteUniform", "low", low_, "a finite integer", integer);
    detail::require("DiscreteUniform", "high", high_, "a finite integer", integer);
    detail::require("DiscreteUniform", "high - low", high_ - low_, ">= 0", [](double v) { return v >= 0.0; });
  }
  const Tensor& low() const { return low_; }
  const Tensor& high() const { return high_; }

  std::string name() const override { return "DiscreteUniform"; }
  constraints::Constraint support() const override { return constraints::integer_interval(low_, high_); }
  bool has_enumerate_support() const override { return true; }
  Tensor enumerate_support(bool expand = true) const override {
    return detail::enumerate_integers(name(), low_, high_, batch_shape(), expand);
  }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const Shape s = shape(sample_shape);
    const Tensor u = random::uniform(key, s), low = broadcast_to(low_, s), high = broadcast_to(high_, s);
    std::vector<double> draws(static_cast<std::size_t>(u.size()));
    // min() guards against low + U (high - low + 1) rounding up to high + 1.
    for (std::size_t i = 0; i < draws.size(); ++i)
      draws[i] = std::min(std::floor(low.data()[i] + u.data()[i] * (high.data()[i] - low.data()[i] + 1.0)),
                          high.data()[i]);
    return Tensor(draws, s);
  }
  Tensor log_prob(const Tensor& value) const override {
    return detail::on_count_support(value, support(), [&](const Tensor&) { return -log(high_ - low_ + 1.0); });
  }
  Tensor mean() const override { return detail::broadcast_to_shape(0.5 * (low_ + high_), batch_shape()); }
  Tensor variance() const override {
    return detail::broadcast_to_shape((square(high_ - low_ + 1.0) - 1.0) / 12.0, batch_shape());
  }

 private:
  Tensor low_, high_;
};
using DiscreteUniform = DiscreteUniformT<>;

// GammaPoisson(concentration, rate = 1): Poisson counts whose rate is
// Gamma(concentration, rate), integrated out: the negative binomial
// P(k) = Gamma(c + k) / (Gamma(c) k!) (rate / (1 + rate))^c (1 / (1 + rate))^k.
// NegativeBinomial2(mean, concentration) is GammaPoisson(concentration,
// concentration / mean). Draws the rate, then the count, on the two keys of
// split(key), as NumPyro.
template <class = void>
class GammaPoissonT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<GammaPoissonT>(*this); }
  explicit GammaPoissonT(Tensor concentration, Tensor rate = 1.0)
      : Distribution(detail::broadcast_parameters("GammaPoisson", {&concentration, &rate}), {}),
        concentration_(std::move(concentration)),
        rate_(std::move(rate)) {
    detail::require_positive("GammaPoisson", "concentration", concentration_);
    detail::require_positive("GammaPoisson", "rate", rate_);
  }
  const Tensor& concentration() const { return concentration_; }
  const Tensor& rate() const { return rate_; }

  std::string name() const override { return "GammaPoisson"; }
  constraints::Constraint support() const override { return constraints::nonnegative_integer; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [key_gamma, key_poisson] = split(key);
    const Shape s = shape(sample_shape);
    return random::poisson(key_poisson, random::gamma(key_gamma, concentration_, s) / rate_, s);
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor& c = concentration_;
    return detail::on_count_support(value, support(), [&](const Tensor& k) {
      return lgamma(c + k) - lgamma(c) - lgamma(k + 1.0) + c * log(rate_) - (c + k) * log1p(rate_);
    });
  }
  Tensor mean() const override { return detail::broadcast_to_shape(concentration_ / rate_, batch_shape()); }
  Tensor variance() const override {
    return detail::broadcast_to_shape(concentration_ / square(rate_) * (1.0 + rate_), batch_shape());
  }

 private:
  Tensor concentration_, rate_;
};
using GammaPoisson = GammaPoissonT<>;

// ZeroInflatedProbs(base, gate): 0 with probability gate, else a draw of the
// discrete distribution `base`: P(0) = gate + (1 - gate) base(0) and
// P(k) = (1 - gate) base(k) for k != 0. The batch shape broadcasts gate's
// with the base's. Draws the Bernoulli gate and the base on the two keys of
// split(key), as NumPyro. ZeroInflatedPoisson and ZeroInflatedNegativeBinomial2
// are the usual two.
//
//   dist::ZeroInflatedProbs z(dist::Binomial({.total_count = 5, .probs = 0.4}).share(), 0.2);
template <class = void>
class ZeroInflatedProbsT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<ZeroInflatedProbsT>(*this); }
  ZeroInflatedProbsT(const DistributionPtr& base, Tensor gate) : ZeroInflatedProbsT("ZeroInflatedProbs", base, std::move(gate)) {}
  const Distribution& base() const { return *base_; }
  const Tensor& gate() const { return gate_; }

  std::string name() const override { return name_; }
  constraints::Constraint support() const override { return base_->support(); }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [key_gate, key_base] = split(key);
    return where(random::bernoulli(key_gate, gate_, shape(sample_shape)), 0.0, base_->sample(key_base, sample_shape));
  }
  // NumPyro's form: log(1 - gate) + the base's log mass, and at 0 log(gate +
  // e^that). The branch for 0 is computed at 0 itself, so that a value where
  // the base's log mass is -infinity sends no NaN into the gradients; outside
  // the support the log mass is -infinity and flat.
  Tensor log_prob(const Tensor& value) const override {
    const Tensor log_kept = log1p(-gate_);
    const Tensor at_zero = log(gate_ + exp(log_kept + base_->log_prob(Tensor(0.0))));
    return detail::discrete_log_prob(where(value == 0.0, at_zero, log_kept + base_->log_prob(value)), value,
                                     support());
  }
  Tensor mean() const override { return detail::broadcast_to_shape((1.0 - gate_) * base_->mean(), batch_shape()); }
  // (1 - gate) (m^2 + v) - mean^2, m and v the base's mean and variance.
  Tensor variance() const override {
    const Tensor m = base_->mean();
    const Tensor kept = 1.0 - gate_;
    return detail::broadcast_to_shape(kept * (square(m) + base_->variance()) - square(kept * m), batch_shape());
  }

 protected:
  ZeroInflatedProbsT(std::string name, const DistributionPtr& base, Tensor gate)
      : Distribution(broadcast_shapes(base->batch_shape(), gate.shape(), name.c_str()), {}),
        name_(std::move(name)),
        gate_(std::move(gate)) {
    if (!base->is_discrete() || base->event_dim() != 0)
      throw std::invalid_argument("tyche: " + name_ + ": the base distribution must be discrete and univariate, got " +
                                  base->str() + " with support " + base->support().str());
    detail::require_probability(name_.c_str(), "gate", gate_);
    base_ = base->batch_shape() == batch_shape() ? base : std::make_shared<ExpandedDistribution>(base, batch_shape());
  }

 private:
  std::string name_;
  DistributionPtr base_;
  Tensor gate_;
};
using ZeroInflatedProbs = ZeroInflatedProbsT<>;

// ZeroInflatedPoisson(gate, rate = 1): ZeroInflatedProbs(Poisson(rate), gate).
template <class = void>
class ZeroInflatedPoissonT : public ZeroInflatedProbs {
 public:
  DistributionPtr share() const override { return std::make_shared<ZeroInflatedPoissonT>(*this); }
  explicit ZeroInflatedPoissonT(Tensor gate, Tensor rate = 1.0)
      : ZeroInflatedProbs("ZeroInflatedPoisson", poisson(rate), std::move(gate)), rate_(std::move(rate)) {}
  const Tensor& rate() const { return rate_; }

 private:
  // Checked here, so that the message names ZeroInflatedPoisson.
  static DistributionPtr poisson(const Tensor& rate) {
    detail::require_positive("ZeroInflatedPoisson", "rate", rate);
    return std::make_shared<Poisson>(rate);
  }
  Tensor rate_;
};
using ZeroInflatedPoisson = ZeroInflatedPoissonT<>;

// ZeroInflatedNegativeBinomial2(mean, concentration, gate):
// ZeroInflatedProbs(NegativeBinomial2(mean, concentration), gate). NumPyro
// takes the gate as a keyword, by probability or by logits; here it is the
// probability, third.
template <class = void>
class ZeroInflatedNegativeBinomial2T : public ZeroInflatedProbs {
 public:
  DistributionPtr share() const override { return std::make_shared<ZeroInflatedNegativeBinomial2T>(*this); }
  ZeroInflatedNegativeBinomial2T(Tensor mean, Tensor concentration, Tensor gate)
      : ZeroInflatedProbs("ZeroInflatedNegativeBinomial2", negative_binomial(mean, concentration), std::move(gate)) {}

 private:
  static DistributionPtr negative_binomial(const Tensor& mean, const Tensor& concentration) {
    detail::require_positive("ZeroInflatedNegativeBinomial2", "mean", mean);
    detail::require_positive("ZeroInflatedNegativeBinomial2", "concentration", concentration);
    return std::make_shared<NegativeBinomial2>(mean, concentration);
  }
};
using ZeroInflatedNegativeBinomial2 = ZeroInflatedNegativeBinomial2T<>;

}  // namespace tyche::dist
