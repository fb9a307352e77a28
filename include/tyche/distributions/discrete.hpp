// Discrete distributions: Bernoulli, Categorical and Binomial (each by
// probabilities or by logits), Poisson (by rate or by log rate), and
// NegativeBinomial2 (NumPyro's mean and concentration form of the
// gamma-Poisson mixture).
//
// C++ has no keyword arguments, so NumPyro's `Bernoulli(probs=p)` and
// `Bernoulli(logits=eta)` are written with designated initializers; exactly
// one of probs and logits must be given (a braced list needs `Tensor{...}`).
// NumPyro's class names are there too, as shorthands for the same classes:
//
//   namespace dist = tyche::dist;
//   dist::Bernoulli coin({.probs = 0.3});
//   dist::Bernoulli y({.logits = eta});                  // same as dist::BernoulliLogits(eta)
//   dist::Categorical die({.probs = tyche::Tensor{0.2, 0.3, 0.5}});
//   dist::Binomial b({.total_count = 10, .probs = 0.4}); // total_count defaults to 1
//   tyche::Tensor k = dist::Poisson(3.5).sample(tyche::PRNGKey(0), {100});
//   dist::Poisson counts({.log_rate = alpha + beta * x});  // same as dist::PoissonLogRate(eta)
//   tyche::Tensor lp = dist::NegativeBinomial2(4.0, 2.0).log_prob(k);
//
// Values are doubles holding integers (categories count from 0). A value
// outside the support (2.5, -1, a category >= K) has log_prob -infinity.
// Beyond NumPyro (as Stan's poisson_log and binomial_logit): a Poisson by log
// rate and a binomial by logits never form the rate or the probability, so
// their log mass stays exact where exp(eta) or sigmoid(eta) would overflow or
// round to 0 or 1, and their log_prob_sum is one fused node
// (poisson_log_rate_log_mass_sum, binomial_logit_log_mass_sum).
//
// Bernoulli, Categorical and Binomial list their support with
// enumerate_support(expand) (see distribution.hpp), as enumeration needs.
#pragma once

#include "tyche/core/fused_densities.hpp"
#include "tyche/core/xlogy.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/random.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <type_traits>

namespace tyche::dist {

struct BernoulliArgs {
  std::optional<Tensor> probs = std::nullopt;
  std::optional<Tensor> logits = std::nullopt;
};
struct CategoricalArgs {
  std::optional<Tensor> probs = std::nullopt;  // (..., K), rows on the simplex
  std::optional<Tensor> logits = std::nullopt; // (..., K), unnormalised
};
struct PoissonArgs {
  std::optional<Tensor> rate = std::nullopt;
  std::optional<Tensor> log_rate = std::nullopt;
};
struct BinomialArgs {
  Tensor total_count = 1.0;
  std::optional<Tensor> probs = std::nullopt;
  std::optional<Tensor> logits = std::nullopt;
};

namespace detail {

// The one of probs and logits that was given; throws unless exactly one was.
template <class T = Tensor>
Tensor probs_or_logits(const char* distribution, const std::optional<Tensor>& probs,
                       const std::optional<Tensor>& logits) {
  if (probs.has_value() == logits.has_value())
    throw std::invalid_argument(std::string("tyche: ") + distribution +
                                ": give exactly one of probs and logits, got " + (probs ? "both" : "neither"));
  return probs ? *probs : *logits;
}

// log_prob with -infinity outside the support; the value is broadcast to the
// log_prob's shape first so that array bounds (a binomial's total_count)
// line up with it.
template <class T = Tensor>
Tensor discrete_log_prob(const std::type_identity_t<T>& log_prob, const std::type_identity_t<T>& value,
                         const constraints::Constraint& support) {
  return outside_support_to_minus_infinity(log_prob, broadcast_to_shape(value, log_prob.shape()), support);
}

inline void require_nonnegative_integer(const char* distribution, const char* parameter, const Tensor& value) {
  require(distribution, parameter, value, "a nonnegative integer",
          [](double v) { return v >= 0.0 && v < HUGE_VAL && std::floor(v) == v; });
}

}  // namespace detail

template <class = void>
class BernoulliT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<BernoulliT>(*this); }
  explicit BernoulliT(const BernoulliArgs& args)
      : BernoulliT(detail::probs_or_logits("Bernoulli", args.probs, args.logits), args.logits.has_value()) {}

  bool has_logits() const { return by_logits_; }
  Tensor probs() const { return by_logits_ ? sigmoid(parameter_) : parameter_; }
  Tensor logits() const { return by_logits_ ? parameter_ : logit(parameter_); }

  std::string name() const override { return by_logits_ ? "BernoulliLogits" : "BernoulliProbs"; }
  constraints::Constraint support() const override { return constraints::boolean; }
  bool has_enumerate_support() const override { return true; }
  Tensor enumerate_support(bool expand = true) const override {
    return detail::enumerate_integers(name(), Tensor(0.0), Tensor(1.0), batch_shape(), expand);
  }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::bernoulli(key, probs(), shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor lp = by_logits_ ? bernoulli_logit_log_mass(value, parameter_)
                                 : xlogy(value, parameter_) + xlog1py(1.0 - value, -parameter_);
    return detail::discrete_log_prob(lp, value, support());
  }
  // Fused by logits when every outcome is 0 or 1 (the fused kernel checks no
  // support). Outcomes are data, so what is checked here holds in every replay.
  Tensor log_prob_sum(const Tensor& value) const override {
    if (!by_logits_ || value.requires_grad() ||
        !detail::fusable_value(value, [](double v) { return v == 0.0 || v == 1.0; }))
      return Distribution::log_prob_sum(value);
    return bernoulli_logit_log_mass_sum(value, parameter_);
  }
  Tensor mean() const override { return detail::broadcast_to_shape(probs(), batch_shape()); }
  Tensor variance() const override {
    const Tensor p = probs();
    return detail::broadcast_to_shape(p * (1.0 - p), batch_shape());
  }

 private:
  BernoulliT(Tensor parameter, bool by_logits)
      : Distribution(parameter.shape(), {}), parameter_(std::move(parameter)), by_logits_(by_logits) {
    if (by_logits_) detail::require_finite("BernoulliLogits", "logits", parameter_);
    else detail::require_probability("BernoulliProbs", "probs", parameter_);
  }
  Tensor parameter_;
  bool by_logits_;
};
using Bernoulli = BernoulliT<>;

template <class = void>
class BernoulliProbsT : public Bernoulli {
 public:
  explicit BernoulliProbsT(Tensor probs) : Bernoulli({.probs = std::move(probs)}) {}
};
using BernoulliProbs = BernoulliProbsT<>;
template <class = void>
class BernoulliLogitsT : public Bernoulli {
 public:
  explicit BernoulliLogitsT(Tensor logits) : Bernoulli({.logits = std::move(logits)}) {}
};
using BernoulliLogits = BernoulliLogitsT<>;

// Batch shape: the parameter's without its last axis (the K categories).
template <class = void>
class CategoricalT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<CategoricalT>(*this); }
  explicit CategoricalT(const CategoricalArgs& args)
      : CategoricalT(detail::probs_or_logits("Categorical", args.probs, args.logits), args.logits.has_value()) {}

  bool has_logits() const { return by_logits_; }
  std::int64_t num_categories() const { return parameter_.dim(-1); }
  Tensor probs() const { return by_logits_ ? exp(normalized_logits()) : parameter_; }
  // Normalised (log probabilities) when the distribution was made from probs.
  Tensor logits() const { return by_logits_ ? parameter_ : log(parameter_); }

  std::string name() const override { return by_logits_ ? "CategoricalLogits" : "CategoricalProbs"; }
  constraints::Constraint support() const override {
    return constraints::integer_interval(0.0, double(num_categories() - 1));
  }
  bool has_enumerate_support() const override { return true; }
  Tensor enumerate_support(bool expand = true) const override {
    return detail::enumerate_integers(name(), Tensor(0.0), Tensor(double(num_categories() - 1)), batch_shape(), expand);
  }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::categorical(key, logits(), shape(sample_shape));
  }
  // The log probability of category `value`, picked with a one-hot mask (a
  // select, not a product, so that a -infinity log probability elsewhere in
  // the row cannot turn into NaN).
  Tensor log_prob(const Tensor& value) const override {
    const Tensor log_pmf = by_logits_ ? normalized_logits() : log(parameter_);
    Shape expanded = value.shape();
    expanded.push_back(1);
    const Tensor one_hot = value.reshape(expanded) == Tensor::arange(num_categories());
    return detail::discrete_log_prob(sum(where(one_hot, log_pmf, 0.0), -1), value, support());
  }
  // Undefined for categories, as in NumPyro: NaN.
  Tensor mean() const override { return Tensor::full(batch_shape(), std::numeric_limits<double>::quiet_NaN()); }
  Tensor variance() const override { return mean(); }

 private:
  CategoricalT(Tensor parameter, bool by_logits)
      : Distribution(shape_of(parameter), {}), parameter_(std::move(parameter)), by_logits_(by_logits) {
    if (by_logits_) {
      // -infinity rules a category out; +infinity and NaN mean nothing.
      detail::require("CategoricalLogits", "logits", parameter_, "a number or -infinity",
                      [](double v) { return v < HUGE_VAL; });
      return;
    }
    detail::require_probability("CategoricalProbs", "probs", parameter_);
    const Tensor totals = sum(parameter_, -1);
    detail::require("CategoricalProbs", "probs summed over the last axis", totals, "1",
                    [](double v) { return std::abs(v - 1.0) < 1e-6; });
  }
  static Shape shape_of(const Tensor& parameter) {
    if (parameter.ndim() == 0 || parameter.dim(-1) == 0)
      throw ShapeError("tyche: Categorical: probs or logits must have a last axis of categories, got shape " +
                       parameter.shape().str());
    return Shape(parameter.shape().begin(), parameter.shape().end() - 1);
  }
  Tensor normalized_logits() const { return parameter_ - logsumexp(parameter_, -1, true); }
  Tensor parameter_;
  bool by_logits_;
};
using Categorical = CategoricalT<>;

template <class = void>
class CategoricalProbsT : public Categorical {
 public:
  explicit CategoricalProbsT(Tensor probs) : Categorical({.probs = std::move(probs)}) {}
};
using CategoricalProbs = CategoricalProbsT<>;
template <class = void>
class CategoricalLogitsT : public Categorical {
 public:
  explicit CategoricalLogitsT(Tensor logits) : Categorical({.logits = std::move(logits)}) {}
};
using CategoricalLogits = CategoricalLogitsT<>;

template <class = void>
class BinomialT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<BinomialT>(*this); }
  explicit BinomialT(const BinomialArgs& args)
      : BinomialT(args.total_count, detail::probs_or_logits("Binomial", args.probs, args.logits),
                 args.logits.has_value()) {}

  const Tensor& total_count() const { return total_count_; }
  bool has_logits() const { return by_logits_; }
  Tensor probs() const { return by_logits_ ? sigmoid(parameter_) : parameter_; }
  Tensor logits() const { return by_logits_ ? parameter_ : logit(parameter_); }

  std::string name() const override { return by_logits_ ? "BinomialLogits" : "BinomialProbs"; }
  constraints::Constraint support() const override { return constraints::integer_interval(0.0, total_count_); }
  bool has_enumerate_support() const override { return true; }
  Tensor enumerate_support(bool expand = true) const override {
    return detail::enumerate_integers(name(), Tensor(0.0), total_count_, batch_shape(), expand);
  }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::binomial(key, total_count_, probs(), shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor& n = total_count_;
    // By logits: k eta - n log(1 + e^eta), which stays exact for large |eta|;
    // one fused node when the counts are data (they always are outside a trace).
    if (by_logits_ && data_counts(value))
      return detail::discrete_log_prob(binomial_logit_log_mass(value, n, parameter_), value, support());
    const Tensor log_choose = lgamma(n + 1.0) - lgamma(value + 1.0) - lgamma(n - value + 1.0);
    const Tensor lp = by_logits_ ? log_choose + value * parameter_ - n * softplus(parameter_)
                                 : log_choose + xlogy(value, parameter_) + xlog1py(n - value, -parameter_);
    return detail::discrete_log_prob(lp, value, support());
  }
  // Fused by logits when every count is in the support (the fused kernel
  // checks none). Counts are data, so what is checked here holds in every replay.
  Tensor log_prob_sum(const Tensor& value) const override {
    if (!by_logits_ || !data_counts(value) ||
        !detail::fusable_value(value, [](double v) { return v >= 0.0 && std::floor(v) == v; }))
      return Distribution::log_prob_sum(value);
    const Tensor within = value <= total_count_;
    const double* w = within.data();
    if (!std::all_of(w, w + within.size(), [](double v) { return v != 0.0; })) return Distribution::log_prob_sum(value);
    return binomial_logit_log_mass_sum(value, total_count_, parameter_);
  }
  Tensor mean() const override { return detail::broadcast_to_shape(total_count_ * probs(), batch_shape()); }
  Tensor variance() const override {
    const Tensor p = probs();
    return detail::broadcast_to_shape(total_count_ * p * (1.0 - p), batch_shape());
  }

 private:
  BinomialT(Tensor total_count, Tensor parameter, bool by_logits)
      : Distribution(broadcast_shapes(total_count.shape(), parameter.shape(), "Binomial"), {}),
        total_count_(std::move(total_count)),
        parameter_(std::move(parameter)),
        by_logits_(by_logits) {
    const char* distribution = by_logits_ ? "BinomialLogits" : "BinomialProbs";
    detail::require_nonnegative_integer(distribution, "total_count", total_count_);
    if (by_logits_) detail::require_finite(distribution, "logits", parameter_);
    else detail::require_probability(distribution, "probs", parameter_);
  }
  bool data_counts(const Tensor& value) const { return !value.requires_grad() && !total_count_.requires_grad(); }
  Tensor total_count_, parameter_;
  bool by_logits_;
};
using Binomial = BinomialT<>;

// NumPyro's argument order: the probabilities first, total_count (default 1) second.
template <class = void>
class BinomialProbsT : public Binomial {
 public:
  explicit BinomialProbsT(Tensor probs, Tensor total_count = 1.0)
      : Binomial({.total_count = std::move(total_count), .probs = std::move(probs)}) {}
};
using BinomialProbs = BinomialProbsT<>;
template <class = void>
class BinomialLogitsT : public Binomial {
 public:
  explicit BinomialLogitsT(Tensor logits, Tensor total_count = 1.0)
      : Binomial({.total_count = std::move(total_count), .logits = std::move(logits)}) {}
};
using BinomialLogits = BinomialLogitsT<>;

// By rate, Poisson(rate) as NumPyro, or by log rate, Poisson({.log_rate = eta})
// (beyond NumPyro): k eta - exp(eta) - lgamma(k + 1), with no exp node whose
// overflow or underflow to 0 would make the log mass NaN or -infinity.
template <class = void>
class PoissonT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<PoissonT>(*this); }
  // A template, so that a braced Poisson({.log_rate = eta}) can only mean the
  // arguments (a Tensor is constructible from braces too).
  template <class Rate>
    requires std::is_convertible_v<Rate, Tensor>
  explicit PoissonT(Rate&& rate) : PoissonT(Tensor(std::forward<Rate>(rate)), false) {}
  explicit PoissonT(const PoissonArgs& args) : PoissonT(rate_or_log_rate(args), args.log_rate.has_value()) {}

  bool has_log_rate() const { return by_log_rate_; }
  Tensor rate() const { return by_log_rate_ ? exp(parameter_) : parameter_; }
  Tensor log_rate() const { return by_log_rate_ ? parameter_ : log(parameter_); }

  std::string name() const override { return by_log_rate_ ? "PoissonLogRate" : "Poisson"; }
  constraints::Constraint support() const override { return constraints::nonnegative_integer; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::poisson(key, rate(), shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor lp = !by_log_rate_          ? xlogy(value, parameter_) - lgamma(value + 1.0) - parameter_
                      : value.requires_grad() ? value * parameter_ - exp(parameter_) - lgamma(value + 1.0)
                                              : poisson_log_rate_log_mass(value, parameter_);
    return detail::discrete_log_prob(lp, value, support());
  }
  // Fused by log rate when every count is a nonnegative integer (the fused
  // kernel checks no support). Counts are data, so what is checked here
  // holds in every replay.
  Tensor log_prob_sum(const Tensor& value) const override {
    if (!by_log_rate_ || value.requires_grad() ||
        !detail::fusable_value(value, [](double v) { return v >= 0.0 && v < HUGE_VAL && std::floor(v) == v; }))
      return Distribution::log_prob_sum(value);
    return poisson_log_rate_log_mass_sum(value, parameter_);
  }
  Tensor mean() const override { return rate(); }
  Tensor variance() const override { return rate(); }

 private:
  PoissonT(Tensor parameter, bool by_log_rate)
      : Distribution(parameter.shape(), {}), parameter_(std::move(parameter)), by_log_rate_(by_log_rate) {
    if (by_log_rate_) detail::require_finite("PoissonLogRate", "log_rate", parameter_);
    else detail::require_positive("Poisson", "rate", parameter_);
  }
  static Tensor rate_or_log_rate(const PoissonArgs& args) {
    if (args.rate.has_value() == args.log_rate.has_value())
      throw std::invalid_argument(std::string("tyche: Poisson: give exactly one of rate and log_rate, got ") +
                                  (args.rate ? "both" : "neither"));
    return args.rate ? *args.rate : *args.log_rate;
  }
  Tensor parameter_;
  bool by_log_rate_;
};
using Poisson = PoissonT<>;

// Stan's poisson_log: Poisson({.log_rate = log_rate}).
template <class = void>
class PoissonLogRateT : public Poisson {
 public:
  explicit PoissonLogRateT(Tensor log_rate) : Poisson({.log_rate = std::move(log_rate)}) {}
};
using PoissonLogRate = PoissonLogRateT<>;

// Counts with mean `mean` and variance mean + mean^2 / concentration: Poisson
// counts whose rate is Gamma(concentration, concentration / mean).
template <class = void>
class NegativeBinomial2T : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<NegativeBinomial2T>(*this); }
  NegativeBinomial2T(Tensor mean, Tensor concentration)
      : Distribution(detail::broadcast_parameters("NegativeBinomial2", {&mean, &concentration}), {}),
        mean_(std::move(mean)),
        concentration_(std::move(concentration)) {
    detail::require_positive("NegativeBinomial2", "mean", mean_);
    detail::require_positive("NegativeBinomial2", "concentration", concentration_);
  }
  const Tensor& concentration() const { return concentration_; }

  std::string name() const override { return "NegativeBinomial2"; }
  constraints::Constraint support() const override { return constraints::nonnegative_integer; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [gamma_key, poisson_key] = split(key);
    const Shape s = shape(sample_shape);
    const Tensor rate = random::gamma(gamma_key, concentration_, s) * (mean_ / concentration_);
    return random::poisson(poisson_key, rate, s);
  }
  // With r = concentration, m = mean and p = m / (r + m):
  // log Gamma(r + k) - log Gamma(r) - log k! + r log(1 - p) + k log p.
  Tensor log_prob(const Tensor& value) const override {
    const Tensor& r = concentration_;
    const Tensor log_total = log(r + mean_);
    const Tensor lp = lgamma(r + value) - lgamma(r) - lgamma(value + 1.0) + r * (log(r) - log_total) +
                      value * (log(mean_) - log_total);
    return detail::discrete_log_prob(lp, value, support());
  }
  Tensor mean() const override { return detail::broadcast_to_shape(mean_, batch_shape()); }
  Tensor variance() const override {
    return detail::broadcast_to_shape(mean_ + square(mean_) / concentration_, batch_shape());
  }

 private:
  Tensor mean_, concentration_;
};
using NegativeBinomial2 = NegativeBinomial2T<>;

}  // namespace tyche::dist
