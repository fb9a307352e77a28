// Univariate continuous distributions, with NumPyro's names and
// parameterisations: Normal, HalfNormal, Cauchy, HalfCauchy, StudentT, Laplace,
// Logistic, LogNormal, Exponential, Gamma, InverseGamma, Beta, Uniform, and
// ImproperUniform (a flat prior over a constraint's set).
//
//   tyche::dist::Gamma d(2.0, tyche::Tensor{1.0, 3.0});   // concentration, rate; batch (2,)
//   tyche::Tensor x = d.sample(tyche::PRNGKey(0), {5});    // shape (5, 2)
//   tyche::Tensor lp = d.log_prob(x);                      // shape (5, 2)
//
// Draws use NumPyro's algorithms, so a key gives what NumPyro gives for it (up
// to float32 rounding). Every draw is differentiable in every parameter, as
// in NumPyro: location-scale draws are array operations on the parameters
// (loc + scale * eps), and Gamma, InverseGamma, Beta and StudentT pass
// gradients to their concentrations and df by implicit reparameterisation of
// their Gamma draws (random.hpp). log_prob is differentiable in the value and
// every parameter, and is -infinity, never NaN, outside the support.
#pragma once

#include "tyche/core/fused_densities.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/random.hpp"

#include <limits>
#include <numbers>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace tyche::dist {
namespace detail {

inline constexpr double kInfinity = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// density(value) on the support, -infinity off it. Off it the density sees
// `stand_in`, a point of the support, instead of the value: `where` passes no
// gradient to the branch it drops, but that branch's own backward pass still
// multiplies the zero by its partials, and log(0) or log(-1) there would turn
// the parameters' gradients into NaN.
template <class Density>
Tensor on_support(const Tensor& value, const constraints::Constraint& support, double stand_in, Density density) {
  const Tensor inside = support.check(value);
  return where(inside, density(where(inside, value, stand_in)), -kInfinity);
}

// log B(a, b).
template <class T = Tensor>
Tensor log_beta(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  return lgamma(a) + lgamma(b) - lgamma(a + b);
}

}  // namespace detail

template <class = void>
class NormalT : public Distribution, public LocScaleFamily {
 public:
  DistributionPtr share() const override { return std::make_shared<NormalT>(*this); }
  explicit NormalT(Tensor loc = 0.0, Tensor scale = 1.0)
      : Distribution(detail::broadcast_parameters("Normal", {&loc, &scale}), {}),
        loc_(std::move(loc)),
        scale_(std::move(scale)) {
    detail::require_finite("Normal", "loc", loc_);
    detail::require_positive("Normal", "scale", scale_);
  }
  const Tensor& loc() const override { return loc_; }
  const Tensor& scale() const override { return scale_; }
  DistributionPtr with_loc_scale(Tensor loc, Tensor scale) const override {
    return std::make_shared<NormalT>(std::move(loc), std::move(scale));
  }

  std::string name() const override { return "Normal"; }
  constraints::Constraint support() const override { return constraints::real; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return loc_ + scale_ * random::normal(key, shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override { return normal_log_density(value, loc_, scale_); }
  Tensor log_prob_sum(const Tensor& value) const override { return normal_log_density_sum(value, loc_, scale_); }
  Tensor mean() const override { return detail::broadcast_to_shape(loc_, batch_shape()); }
  Tensor variance() const override { return detail::broadcast_to_shape(square(scale_), batch_shape()); }

 private:
  Tensor loc_, scale_;
};
using Normal = NormalT<>;

// |X| for X ~ Normal(0, scale).
template <class = void>
class HalfNormalT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<HalfNormalT>(*this); }
  explicit HalfNormalT(Tensor scale = 1.0)
      : Distribution(detail::broadcast_parameters("HalfNormal", {&scale}), {}), scale_(std::move(scale)) {
    detail::require_positive("HalfNormal", "scale", scale_);
  }
  const Tensor& scale() const { return scale_; }

  std::string name() const override { return "HalfNormal"; }
  constraints::Constraint support() const override { return constraints::positive; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return abs(scale_ * random::normal(key, shape(sample_shape)));
  }
  Tensor log_prob(const Tensor& value) const override {
    return detail::on_support(value, support(), 1.0, [&](const Tensor& x) {
      return normal_log_density(x, 0.0, scale_) + std::numbers::ln2;
    });
  }
  // Fused unless an element is known to lie outside the support; the fused
  // sum is -infinity for a negative value computed from the parameters.
  Tensor log_prob_sum(const Tensor& value) const override {
    if (!detail::fusable_value(value, [](double v) { return v > 0.0; })) return Distribution::log_prob_sum(value);
    return half_normal_log_density_sum(value, scale_);
  }
  Tensor mean() const override {
    return detail::broadcast_to_shape(std::sqrt(2.0 / std::numbers::pi) * scale_, batch_shape());
  }
  Tensor variance() const override {
    return detail::broadcast_to_shape((1.0 - 2.0 / std::numbers::pi) * square(scale_), batch_shape());
  }

 private:
  Tensor scale_;
};
using HalfNormal = HalfNormalT<>;

// Mean and variance are undefined: NaN, as in NumPyro.
template <class = void>
class CauchyT : public Distribution, public LocScaleFamily {
 public:
  DistributionPtr share() const override { return std::make_shared<CauchyT>(*this); }
  explicit CauchyT(Tensor loc = 0.0, Tensor scale = 1.0)
      : Distribution(detail::broadcast_parameters("Cauchy", {&loc, &scale}), {}),
        loc_(std::move(loc)),
        scale_(std::move(scale)) {
    detail::require_finite("Cauchy", "loc", loc_);
    detail::require_positive("Cauchy", "scale", scale_);
  }
  const Tensor& loc() const override { return loc_; }
  const Tensor& scale() const override { return scale_; }
  DistributionPtr with_loc_scale(Tensor loc, Tensor scale) const override {
    return std::make_shared<CauchyT>(std::move(loc), std::move(scale));
  }

  std::string name() const override { return "Cauchy"; }
  constraints::Constraint support() const override { return constraints::real; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return loc_ + scale_ * random::cauchy(key, shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override { return cauchy_log_density(value, loc_, scale_); }
  Tensor log_prob_sum(const Tensor& value) const override { return cauchy_log_density_sum(value, loc_, scale_); }
  Tensor mean() const override { return Tensor::full(batch_shape(), detail::kNaN); }
  Tensor variance() const override { return Tensor::full(batch_shape(), detail::kNaN); }

 private:
  Tensor loc_, scale_;
};
using Cauchy = CauchyT<>;

// |X| for X ~ Cauchy(0, scale). Mean and variance are infinite.
template <class = void>
class HalfCauchyT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<HalfCauchyT>(*this); }
  explicit HalfCauchyT(Tensor scale = 1.0)
      : Distribution(detail::broadcast_parameters("HalfCauchy", {&scale}), {}), scale_(std::move(scale)) {
    detail::require_positive("HalfCauchy", "scale", scale_);
  }
  const Tensor& scale() const { return scale_; }

  std::string name() const override { return "HalfCauchy"; }
  constraints::Constraint support() const override { return constraints::positive; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return abs(scale_ * random::cauchy(key, shape(sample_shape)));
  }
  Tensor log_prob(const Tensor& value) const override {
    return detail::on_support(value, support(), 1.0, [&](const Tensor& x) {
      return cauchy_log_density(x, 0.0, scale_) + std::numbers::ln2;
    });
  }
  // As HalfNormal's.
  Tensor log_prob_sum(const Tensor& value) const override {
    if (!detail::fusable_value(value, [](double v) { return v > 0.0; })) return Distribution::log_prob_sum(value);
    return half_cauchy_log_density_sum(value, scale_);
  }
  Tensor mean() const override { return Tensor::full(batch_shape(), detail::kInfinity); }
  Tensor variance() const override { return Tensor::full(batch_shape(), detail::kInfinity); }

 private:
  Tensor scale_;
};
using HalfCauchy = HalfCauchyT<>;

// Student's t with `df` degrees of freedom, shifted by loc and scaled by scale.
// As NumPyro (and SciPy): the mean is infinite for df <= 1; the variance is
// infinite for 1 < df <= 2 and NaN for df <= 1.
template <class = void>
class StudentTT : public Distribution, public LocScaleFamily {
 public:
  DistributionPtr share() const override { return std::make_shared<StudentTT>(*this); }
  explicit StudentTT(Tensor df, Tensor loc = 0.0, Tensor scale = 1.0)
      : Distribution(detail::broadcast_parameters("StudentT", {&df, &loc, &scale}), {}),
        df_(std::move(df)),
        loc_(std::move(loc)),
        scale_(std::move(scale)) {
    detail::require_positive("StudentT", "df", df_);
    detail::require_finite("StudentT", "loc", loc_);
    detail::require_positive("StudentT", "scale", scale_);
  }
  const Tensor& df() const { return df_; }
  const Tensor& loc() const override { return loc_; }
  const Tensor& scale() const override { return scale_; }
  DistributionPtr with_loc_scale(Tensor loc, Tensor scale) const override {
    return std::make_shared<StudentTT>(df_, std::move(loc), std::move(scale));
  }

  std::string name() const override { return "StudentT"; }
  constraints::Constraint support() const override { return constraints::real; }
  // Z sqrt(df / V) with Z standard normal and V ~ chi2(df) = Gamma(df / 2, rate 1/2),
  // on the two keys of split(key), as NumPyro; the Gamma draw carries the
  // gradient in df.
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [key_normal, key_chi2] = split(key);
    const Shape s = shape(sample_shape);
    const Tensor chi2 = random::gamma(key_chi2, 0.5 * df_, s) / 0.5;
    return loc_ + scale_ * (random::normal(key_normal, s) * sqrt(df_ / chi2));
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor y = (value - loc_) / scale_;
    const Tensor log_normalizer = log(scale_) + 0.5 * log(df_) + 0.5 * std::log(std::numbers::pi) +
                                  lgamma(0.5 * df_) - lgamma(0.5 * (df_ + 1.0));
    return -0.5 * (df_ + 1.0) * log1p(square(y) / df_) - log_normalizer;
  }
  Tensor mean() const override {
    return detail::broadcast_to_shape(where(df_ <= 1.0, detail::kInfinity, loc_), batch_shape());
  }
  Tensor variance() const override {
    const Tensor finite = df_ > 2.0;
    // The denominator is kept away from 0 where the finite branch is dropped.
    const Tensor var = where(finite, square(scale_) * df_ / where(finite, df_ - 2.0, 1.0), detail::kInfinity);
    return detail::broadcast_to_shape(where(df_ <= 1.0, detail::kNaN, var), batch_shape());
  }

 private:
  Tensor df_, loc_, scale_;
};
using StudentT = StudentTT<>;

template <class = void>
class LaplaceT : public Distribution, public LocScaleFamily {
 public:
  DistributionPtr share() const override { return std::make_shared<LaplaceT>(*this); }
  explicit LaplaceT(Tensor loc = 0.0, Tensor scale = 1.0)
      : Distribution(detail::broadcast_parameters("Laplace", {&loc, &scale}), {}),
        loc_(std::move(loc)),
        scale_(std::move(scale)) {
    detail::require_finite("Laplace", "loc", loc_);
    detail::require_positive("Laplace", "scale", scale_);
  }
  const Tensor& loc() const override { return loc_; }
  const Tensor& scale() const override { return scale_; }
  DistributionPtr with_loc_scale(Tensor loc, Tensor scale) const override {
    return std::make_shared<LaplaceT>(std::move(loc), std::move(scale));
  }

  std::string name() const override { return "Laplace"; }
  constraints::Constraint support() const override { return constraints::real; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return loc_ + scale_ * random::laplace(key, shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override {
    return -(abs(value - loc_) / scale_) - (log(scale_) + std::numbers::ln2);
  }
  Tensor mean() const override { return detail::broadcast_to_shape(loc_, batch_shape()); }
  Tensor variance() const override { return detail::broadcast_to_shape(2.0 * square(scale_), batch_shape()); }

 private:
  Tensor loc_, scale_;
};
using Laplace = LaplaceT<>;

template <class = void>
class LogisticT : public Distribution, public LocScaleFamily {
 public:
  DistributionPtr share() const override { return std::make_shared<LogisticT>(*this); }
  explicit LogisticT(Tensor loc = 0.0, Tensor scale = 1.0)
      : Distribution(detail::broadcast_parameters("Logistic", {&loc, &scale}), {}),
        loc_(std::move(loc)),
        scale_(std::move(scale)) {
    detail::require_finite("Logistic", "loc", loc_);
    detail::require_positive("Logistic", "scale", scale_);
  }
  const Tensor& loc() const override { return loc_; }
  const Tensor& scale() const override { return scale_; }
  DistributionPtr with_loc_scale(Tensor loc, Tensor scale) const override {
    return std::make_shared<LogisticT>(std::move(loc), std::move(scale));
  }

  std::string name() const override { return "Logistic"; }
  constraints::Constraint support() const override { return constraints::real; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return loc_ + scale_ * random::logistic(key, shape(sample_shape));
  }
  // With z = (loc - x) / scale: z - log(scale) - 2 log(1 + e^z), the softplus
  // keeping both tails finite.
  Tensor log_prob(const Tensor& value) const override {
    const Tensor z = (loc_ - value) / scale_;
    return z - (log(scale_) + 2.0 * softplus(z));
  }
  Tensor mean() const override { return detail::broadcast_to_shape(loc_, batch_shape()); }
  Tensor variance() const override {
    return detail::broadcast_to_shape(square(scale_) * (std::numbers::pi * std::numbers::pi / 3.0), batch_shape());
  }

 private:
  Tensor loc_, scale_;
};
using Logistic = LogisticT<>;

// exp(X) for X ~ Normal(loc, scale).
template <class = void>
class LogNormalT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<LogNormalT>(*this); }
  explicit LogNormalT(Tensor loc = 0.0, Tensor scale = 1.0)
      : Distribution(detail::broadcast_parameters("LogNormal", {&loc, &scale}), {}),
        loc_(std::move(loc)),
        scale_(std::move(scale)) {
    detail::require_finite("LogNormal", "loc", loc_);
    detail::require_positive("LogNormal", "scale", scale_);
  }
  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

  std::string name() const override { return "LogNormal"; }
  constraints::Constraint support() const override { return constraints::positive; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return exp(loc_ + scale_ * random::normal(key, shape(sample_shape)));
  }
  Tensor log_prob(const Tensor& value) const override {
    return detail::on_support(value, support(), 1.0, [&](const Tensor& x) {
      const Tensor log_x = log(x);
      return normal_log_density(log_x, loc_, scale_) - log_x;
    });
  }
  Tensor mean() const override { return detail::broadcast_to_shape(exp(loc_ + 0.5 * square(scale_)), batch_shape()); }
  Tensor variance() const override {
    const Tensor s2 = square(scale_);
    return detail::broadcast_to_shape(expm1(s2) * exp(2.0 * loc_ + s2), batch_shape());
  }

 private:
  Tensor loc_, scale_;
};
using LogNormal = LogNormalT<>;

template <class = void>
class ExponentialT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<ExponentialT>(*this); }
  explicit ExponentialT(Tensor rate = 1.0)
      : Distribution(detail::broadcast_parameters("Exponential", {&rate}), {}), rate_(std::move(rate)) {
    detail::require_positive("Exponential", "rate", rate_);
  }
  const Tensor& rate() const { return rate_; }

  std::string name() const override { return "Exponential"; }
  constraints::Constraint support() const override { return constraints::positive; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::exponential(key, shape(sample_shape)) / rate_;
  }
  Tensor log_prob(const Tensor& value) const override {
    return detail::on_support(value, support(), 1.0, [&](const Tensor& x) { return log(rate_) - rate_ * x; });
  }
  Tensor mean() const override { return detail::broadcast_to_shape(1.0 / rate_, batch_shape()); }
  Tensor variance() const override { return detail::broadcast_to_shape(1.0 / square(rate_), batch_shape()); }

 private:
  Tensor rate_;
};
using Exponential = ExponentialT<>;

template <class = void>
class GammaT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<GammaT>(*this); }
  explicit GammaT(Tensor concentration, Tensor rate = 1.0)
      : Distribution(detail::broadcast_parameters("Gamma", {&concentration, &rate}), {}),
        concentration_(std::move(concentration)),
        rate_(std::move(rate)) {
    detail::require_positive("Gamma", "concentration", concentration_);
    detail::require_positive("Gamma", "rate", rate_);
  }
  const Tensor& concentration() const { return concentration_; }
  const Tensor& rate() const { return rate_; }

  std::string name() const override { return "Gamma"; }
  constraints::Constraint support() const override { return constraints::positive; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::gamma(key, concentration_, shape(sample_shape)) / rate_;
  }
  Tensor log_prob(const Tensor& value) const override {
    return detail::on_support(value, support(), 1.0, [&](const Tensor& x) {
      return (concentration_ - 1.0) * log(x) - rate_ * x -
             (lgamma(concentration_) - concentration_ * log(rate_));
    });
  }
  Tensor mean() const override { return detail::broadcast_to_shape(concentration_ / rate_, batch_shape()); }
  Tensor variance() const override {
    return detail::broadcast_to_shape(concentration_ / square(rate_), batch_shape());
  }

 private:
  Tensor concentration_, rate_;
};
using Gamma = GammaT<>;

// 1 / X for X ~ Gamma(concentration, rate). As NumPyro: the mean is infinite
// for concentration <= 1, the variance for concentration <= 2.
template <class = void>
class InverseGammaT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<InverseGammaT>(*this); }
  explicit InverseGammaT(Tensor concentration, Tensor rate = 1.0)
      : Distribution(detail::broadcast_parameters("InverseGamma", {&concentration, &rate}), {}),
        concentration_(std::move(concentration)),
        rate_(std::move(rate)) {
    detail::require_positive("InverseGamma", "concentration", concentration_);
    detail::require_positive("InverseGamma", "rate", rate_);
  }
  const Tensor& concentration() const { return concentration_; }
  const Tensor& rate() const { return rate_; }

  std::string name() const override { return "InverseGamma"; }
  constraints::Constraint support() const override { return constraints::positive; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return rate_ / random::gamma(key, concentration_, shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override {
    return detail::on_support(value, support(), 1.0, [&](const Tensor& x) {
      return concentration_ * log(rate_) - lgamma(concentration_) - (concentration_ + 1.0) * log(x) - rate_ / x;
    });
  }
  // Denominators are kept away from 0 where the finite branch is dropped.
  Tensor mean() const override {
    const Tensor finite = concentration_ > 1.0;
    const Tensor m = rate_ / where(finite, concentration_ - 1.0, 1.0);
    return detail::broadcast_to_shape(where(finite, m, detail::kInfinity), batch_shape());
  }
  Tensor variance() const override {
    const Tensor finite = concentration_ > 2.0;
    const Tensor c = where(finite, concentration_, 3.0);
    const Tensor v = square(rate_ / (c - 1.0)) / (c - 2.0);
    return detail::broadcast_to_shape(where(finite, v, detail::kInfinity), batch_shape());
  }

 private:
  Tensor concentration_, rate_;
};
using InverseGamma = InverseGammaT<>;

// Beta(concentration1, concentration0) on [0, 1]: density proportional to
// x^(concentration1 - 1) (1 - x)^(concentration0 - 1).
template <class = void>
class BetaT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<BetaT>(*this); }
  BetaT(Tensor concentration1, Tensor concentration0)
      : Distribution(detail::broadcast_parameters("Beta", {&concentration1, &concentration0}), {}),
        concentration1_(std::move(concentration1)),
        concentration0_(std::move(concentration0)) {
    detail::require_positive("Beta", "concentration1", concentration1_);
    detail::require_positive("Beta", "concentration0", concentration0_);
  }
  const Tensor& concentration1() const { return concentration1_; }
  const Tensor& concentration0() const { return concentration0_; }

  std::string name() const override { return "Beta"; }
  constraints::Constraint support() const override { return constraints::unit_interval; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::beta(key, concentration1_, concentration0_, shape(sample_shape));
  }
  // Inside (0, 1) the usual formula, evaluated at 1/2 elsewhere (see
  // detail::on_support for why). At 0 the factor x^(c1 - 1) is 0, 1 or
  // infinite as c1 > 1, = 1 or < 1 (likewise (1 - x)^(c0 - 1) at 1), so an end
  // point gets -inf, a finite value or +inf, as the density does.
  Tensor log_prob(const Tensor& value) const override {
    const Tensor& a = concentration1_;
    const Tensor& b = concentration0_;
    const Tensor interior = (value > 0.0) * (value < 1.0);
    const Tensor x = where(interior, value, 0.5);
    const Tensor inside = (a - 1.0) * log(x) + (b - 1.0) * log1p(-x);
    const Tensor end_point = where(value == 0.0, end_point_term(a), end_point_term(b));
    const Tensor on_support = (value >= 0.0) * (value <= 1.0);
    return where(on_support, where(interior, inside, end_point) - detail::log_beta(a, b), -detail::kInfinity);
  }
  Tensor mean() const override {
    return detail::broadcast_to_shape(concentration1_ / (concentration1_ + concentration0_), batch_shape());
  }
  Tensor variance() const override {
    const Tensor total = concentration1_ + concentration0_;
    return detail::broadcast_to_shape(concentration1_ * concentration0_ / (square(total) * (total + 1.0)),
                                      batch_shape());
  }

 private:
  // log of 0^(c - 1).
  static Tensor end_point_term(const Tensor& c) {
    return where(c > 1.0, -detail::kInfinity, where(c < 1.0, detail::kInfinity, 0.0));
  }
  Tensor concentration1_, concentration0_;
};
using Beta = BetaT<>;

// Uniform on [low, high].
template <class = void>
class UniformT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<UniformT>(*this); }
  explicit UniformT(Tensor low = 0.0, Tensor high = 1.0)
      : Distribution(detail::broadcast_parameters("Uniform", {&low, &high}), {}),
        low_(std::move(low)),
        high_(std::move(high)) {
    detail::require_finite("Uniform", "low", low_);
    detail::require_finite("Uniform", "high", high_);
    // Read through a broadcast plan rather than broadcast arrays, which would
    // be recorded on the tape when the bounds depend on the parameters.
    // Validation only, as require_each.
    const double *l = detail::Access::values_unguarded(low_), *h = detail::Access::values_unguarded(high_);
    const auto plan = tyche::detail::BroadcastPlan<2>::make({low_.shape(), high_.shape()}, "Uniform");
    plan.for_each([&](std::int64_t i, const auto& at) {
      if (l[at[0]] < h[at[1]]) return;
      std::ostringstream message;
      message << "tyche: Uniform: low must be less than high, got low " << l[at[0]] << " and high " << h[at[1]];
      if (plan.out.numel() > 1) message << " (element " << i << " of the batch shape " << plan.out.str() << ")";
      throw std::invalid_argument(message.str());
    });
  }
  const Tensor& low() const { return low_; }
  const Tensor& high() const { return high_; }

  std::string name() const override { return "Uniform"; }
  constraints::Constraint support() const override { return constraints::interval(low_, high_); }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return low_ + (high_ - low_) * random::uniform(key, shape(sample_shape));
  }
  Tensor log_prob(const Tensor& value) const override {
    return where((value >= low_) * (value <= high_), -log(high_ - low_), -detail::kInfinity);
  }
  Tensor mean() const override { return detail::broadcast_to_shape(0.5 * (low_ + high_), batch_shape()); }
  Tensor variance() const override { return detail::broadcast_to_shape(square(high_ - low_) / 12.0, batch_shape()); }

 private:
  Tensor low_, high_;
};
using Uniform = UniformT<>;

// A flat log density, 0 over the support and -inf outside: a prior that says
// only where a parameter lives. It cannot be sampled (it is not a
// distribution: its density does not integrate to 1), so a site with this
// prior needs an initial value from an initialisation strategy, as in NumPyro.
//
//   tyche::dist::ImproperUniform d(tyche::constraints::positive, {}, {3});  // event (3,)
//   d.log_prob(tyche::Tensor{1.0, 2.0, 3.0});   // 0
template <class = void>
class ImproperUniformT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<ImproperUniformT>(*this); }
  ImproperUniformT(const constraints::Constraint& support, const Shape& batch_shape, const Shape& event_shape)
      : Distribution(batch_shape, event_shape), support_(reinterpreted(support, event_shape)) {}

  std::string name() const override { return "ImproperUniform"; }
  constraints::Constraint support() const override { return support_; }
  Tensor draw(Key, const Shape&) const override { throw not_a_distribution("be sampled"); }
  Tensor log_prob(const Tensor& value) const override {
    return where(support_.check(value), Tensor::zeros(batch_shape()), -detail::kInfinity);
  }
  Tensor mean() const override { throw not_a_distribution("have a mean"); }
  Tensor variance() const override { throw not_a_distribution("have a variance"); }

 private:
  // The support with every event axis beyond its own read as one element.
  static constraints::Constraint reinterpreted(const constraints::Constraint& support, const Shape& event_shape) {
    if (event_shape.rank() < support.event_dim())
      throw ShapeError("tyche: ImproperUniform: the support " + support.str() + " has " +
                       std::to_string(support.event_dim()) + " event dimensions but event_shape " +
                       event_shape.str() + " has only " + std::to_string(event_shape.rank()));
    return support.independent(event_shape.rank() - support.event_dim());
  }
  static std::logic_error not_a_distribution(const char* what) {
    return std::logic_error(std::string("tyche: ImproperUniform cannot ") + what +
                            ": it is a flat density, not a distribution; give its site an initial value "
                            "(an init strategy such as init_to_uniform or init_to_value) instead");
  }
  constraints::Constraint support_;
};
using ImproperUniform = ImproperUniformT<>;

}  // namespace tyche::dist
