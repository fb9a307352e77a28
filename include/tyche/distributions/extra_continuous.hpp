// More univariate continuous distributions, with NumPyro's names and
// parameterisations: Weibull, Pareto and VonMises; and SkewNormal, which
// NumPyro does not have (Azzalini's skew normal, as PyMC's and SciPy's skewnorm).
//
//   tyche::dist::Weibull w(2.0, tyche::Tensor{0.5, 3.0});   // scale, concentration; batch (2,)
//   tyche::dist::Pareto p(1.0, 3.0);                        // scale, alpha: support x > 1
//   tyche::dist::VonMises v(0.5, 4.0);                      // loc, concentration: angles in [-pi, pi]
//   tyche::dist::SkewNormal s(0.0, 1.0, -3.0);              // loc, scale, skewness
//   tyche::Tensor x = w.sample(tyche::PRNGKey(0), {5});     // shape (5, 2)
//   tyche::Tensor lp = w.log_prob(x);                       // shape (5, 2)
//
// As the distributions of continuous.hpp: log_prob is differentiable in the
// value and every parameter and is -infinity, never NaN, outside the support;
// Weibull, Pareto and SkewNormal draws are reparameterised (array operations
// on the parameters), VonMises draws in its loc. Weibull and Pareto draw
// from JAX's exponential on the key, so they give NumPyro's draws (up to
// float32 rounding); VonMises's rejection sampler draws from per-element
// streams (random.hpp), so its draws follow NumPyro's law, not its numbers.
#pragma once

#include "tyche/core/elementwise.hpp"
#include "tyche/core/fused_densities.hpp"
#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/random.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <type_traits>

namespace tyche::dist {
namespace detail {

// log I_nu(x) for nu = 0 or 1 and x >= 0, the modified Bessel function of
// the first kind. Below 30 its power series, sum_k (x/2)^(2k+nu) / (k! (k+nu)!),
// whose terms are all positive; from 30 on the asymptotic series
// e^x / sqrt(2 pi x) sum_k c_k / x^k, c_k = c_(k-1) (2k - 1 - 2nu)(2k - 1 + 2nu) / (8k),
// whose smallest term there is below e^-2x ~ 1e-26, so both are exact to rounding.
template <class T = double>
double log_bessel_i(int nu, std::type_identity_t<T> x) {
  if (x < 30.0) {
    const double q = 0.25 * x * x;
    double term = nu == 0 ? 1.0 : 0.5 * x, total = term;
    for (int k = 1; term > 1e-17 * total; ++k) total += term *= q / (double(k) * double(k + nu));
    return std::log(total);
  }
  double term = 1.0, total = 1.0;
  for (int k = 1; k < 60; ++k) {
    const double next = term * (2.0 * k - 1.0 - 2.0 * nu) * (2.0 * k - 1.0 + 2.0 * nu) / (8.0 * k * x);
    if (std::abs(next) >= std::abs(term) || std::abs(next) < 1e-17) break;
    total += term = next;
  }
  return x - 0.5 * std::log(2.0 * std::numbers::pi * x) + std::log(total);
}

// I_1(x) / I_0(x), the derivative of log I_0.
template <class T = double>
double bessel_i1_over_i0(std::type_identity_t<T> x) {
  return x == 0.0 ? 0.0 : std::exp(log_bessel_i<T>(1, x) - log_bessel_i<T>(0, x));
}

// log I_0 and I_1 / I_0 as array operations, for VonMises's normaliser and
// circular variance. The ratio R = I_1 / I_0 is the derivative of log I_0;
// R's own derivative is 1 - R / x - R^2 (from I_0' = I_1 and
// I_1' = I_0 - I_1 / x), with the limit 1/2 at 0. Their members are templates,
// so that including this header compiles none of it (see special.hpp).
struct LogBesselI0Op {
  template <class In, class Out>
  static void forward(const In& x, Out y, tyche::detail::UnaryParams) {
    y = x.unaryExpr([](double v) { return log_bessel_i(0, v); });
  }
  template <class In>
  static double first(const In& x, tyche::detail::UnaryParams) { return log_bessel_i(0, x(0)); }
  template <class In, class Out>
  static void backward(const In& x, const In&, const In& gy, Out gx, tyche::detail::UnaryParams) {
    gx += gy * x.unaryExpr([](double v) { return bessel_i1_over_i0(v); });
  }
};
struct BesselRatioOp {
  template <class In, class Out>
  static void forward(const In& x, Out y, tyche::detail::UnaryParams) {
    y = x.unaryExpr([](double v) { return bessel_i1_over_i0(v); });
  }
  template <class In>
  static double first(const In& x, tyche::detail::UnaryParams) { return bessel_i1_over_i0(x(0)); }
  template <class In, class Out>
  static void backward(const In& x, const In& y, const In& gy, Out gx, tyche::detail::UnaryParams) {
    gx += gy * x.binaryExpr(y, [](double v, double r) { return v == 0.0 ? 0.5 : 1.0 - r / v - r * r; });
  }
};

template <class T = Tensor>
Tensor log_bessel_i0(const std::type_identity_t<T>& x) { return tyche::detail::unary<LogBesselI0Op>(x); }
template <class T = Tensor>
Tensor bessel_i1_over_i0_array(const std::type_identity_t<T>& x) { return tyche::detail::unary<BesselRatioOp>(x); }

// Draws of VonMises(0, concentration) by Best and Fisher's (1979) rejection
// method, as NumPyro's von_mises_centered (its cutoff for float64 included:
// below it the proposal's s is 1 / concentration). Each element rejects with
// its own stream (random.hpp); like NumPyro, an element gives up after 100
// proposals and keeps the last, which only an extreme concentration reaches.
template <class T = Tensor>
Tensor von_mises_centered(Key key, const std::type_identity_t<T>& concentration, const Shape& shape) {
  return tyche::detail::sample_elementwise<1>(key, shape, {&concentration}, [](auto& stream, const auto& v) {
    const double kappa = v[0];
    const double r = 1.0 + std::sqrt(1.0 + 4.0 * kappa * kappa);
    const double rho = (r - std::sqrt(2.0 * r)) / (2.0 * kappa);
    const double s = kappa > 1.2e-4 ? (1.0 + rho * rho) / (2.0 * rho) : 1.0 / kappa;
    double u = 0.0, w = 1.0;
    for (int proposal = 0; proposal < 100; ++proposal) {
      u = 2.0 * stream.uniform() - 1.0;
      const double z = std::cos(std::numbers::pi * u);
      w = std::clamp((1.0 + s * z) / (s + z), -1.0, 1.0);
      const double y = kappa * (s - w), accept = stream.uniform();
      if (y * (2.0 - y) >= accept || std::log(y / accept) + 1.0 >= y) break;
    }
    return (u < 0.0 ? -1.0 : 1.0) * std::acos(w);
  });
}

// x + 2 pi k with the integer k that puts it in [-pi, pi): NumPyro's
// (x + pi) % (2 pi) - pi, with the shift a constant so that gradients pass.
template <class T = Tensor>
Tensor wrap_angle(const std::type_identity_t<T>& x) {
  constexpr double two_pi = 2.0 * std::numbers::pi;
  Tensor shift = Tensor::zeros(x.shape());
  double* s = tyche::detail::Access::data(shift);
  const double* v = x.data();
  for (std::int64_t i = 0; i < x.size(); ++i) s[i] = -two_pi * std::floor((v[i] + std::numbers::pi) / two_pi);
  return x + shift;
}

}  // namespace detail

// Weibull(scale, concentration): density (k / s) (x / s)^(k - 1) exp(-(x / s)^k)
// on x > 0, k the concentration and s the scale. Draws s E^(1 / k), E standard
// exponential, as jax.random.weibull_min.
template <class = void>
class WeibullT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<WeibullT>(*this); }
  WeibullT(Tensor scale, Tensor concentration)
      : Distribution(detail::broadcast_parameters("Weibull", {&scale, &concentration}), {}),
        scale_(std::move(scale)),
        concentration_(std::move(concentration)) {
    detail::require_positive("Weibull", "scale", scale_);
    detail::require_positive("Weibull", "concentration", concentration_);
  }
  const Tensor& scale() const { return scale_; }
  const Tensor& concentration() const { return concentration_; }

  std::string name() const override { return "Weibull"; }
  constraints::Constraint support() const override { return constraints::positive; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return scale_ * pow(random::exponential(key, shape(sample_shape)), 1.0 / concentration_);
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor& k = concentration_;
    return detail::on_support(value, support(), 1.0, [&](const Tensor& x) {
      return log(k) - k * log(scale_) + (k - 1.0) * log(x) - pow(x / scale_, k);
    });
  }
  Tensor mean() const override {
    return detail::broadcast_to_shape(scale_ * exp(lgamma(1.0 + 1.0 / concentration_)), batch_shape());
  }
  Tensor variance() const override {
    const Tensor g1 = lgamma(1.0 + 1.0 / concentration_), g2 = lgamma(1.0 + 2.0 / concentration_);
    return detail::broadcast_to_shape(square(scale_) * (exp(g2) - exp(2.0 * g1)), batch_shape());
  }

 private:
  Tensor scale_, concentration_;
};
using Weibull = WeibullT<>;

// Pareto(scale, alpha): density alpha scale^alpha / x^(alpha + 1) on x > scale
// (NumPyro's support greater_than(scale), which leaves out scale itself).
// Draws scale exp(E / alpha), E standard exponential, as NumPyro's transformed
// Exponential. As NumPyro: the mean is infinite for alpha <= 1, the variance
// for alpha <= 2.
template <class = void>
class ParetoT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<ParetoT>(*this); }
  ParetoT(Tensor scale, Tensor alpha)
      : Distribution(detail::broadcast_parameters("Pareto", {&scale, &alpha}), {}),
        scale_(std::move(scale)),
        alpha_(std::move(alpha)) {
    detail::require_positive("Pareto", "scale", scale_);
    detail::require_positive("Pareto", "alpha", alpha_);
  }
  const Tensor& scale() const { return scale_; }
  const Tensor& alpha() const { return alpha_; }

  std::string name() const override { return "Pareto"; }
  constraints::Constraint support() const override { return constraints::greater_than(scale_); }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return scale_ * exp(random::exponential(key, shape(sample_shape)) / alpha_);
  }
  // Off the support the density sees 2 scale, a point of it (see detail::on_support).
  Tensor log_prob(const Tensor& value) const override {
    const Tensor inside = support().check(value);
    const Tensor x = where(inside, value, 2.0 * scale_);
    const Tensor density = log(alpha_) + alpha_ * log(scale_) - (alpha_ + 1.0) * log(x);
    return where(inside, density, -detail::kInfinity);
  }
  // Denominators are kept away from 0 where the finite branch is dropped.
  Tensor mean() const override {
    const Tensor finite = alpha_ > 1.0;
    const Tensor m = alpha_ * scale_ / where(finite, alpha_ - 1.0, 1.0);
    return detail::broadcast_to_shape(where(finite, m, detail::kInfinity), batch_shape());
  }
  Tensor variance() const override {
    const Tensor finite = alpha_ > 2.0;
    const Tensor a = where(finite, alpha_, 3.0);
    const Tensor v = square(scale_ / (a - 1.0)) * a / (a - 2.0);
    return detail::broadcast_to_shape(where(finite, v, detail::kInfinity), batch_shape());
  }

 private:
  Tensor scale_, alpha_;
};
using Pareto = ParetoT<>;

// VonMises(loc, concentration), the circular normal: density
// exp(concentration cos(x - loc)) / (2 pi I_0(concentration)) on [-pi, pi].
// Draws by Best and Fisher's method around 0, shifted by loc and wrapped into
// [-pi, pi), as NumPyro. As NumPyro, mean() is loc wrapped into [-pi, pi) and
// variance() the circular variance 1 - I_1(concentration) / I_0(concentration).
// NumPyro's log_prob is periodic and ignores its support; tyche's is
// -infinity outside [-pi, pi], as for every distribution here.
template <class = void>
class VonMisesT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<VonMisesT>(*this); }
  VonMisesT(Tensor loc, Tensor concentration)
      : Distribution(detail::broadcast_parameters("VonMises", {&loc, &concentration}), {}),
        loc_(std::move(loc)),
        concentration_(std::move(concentration)) {
    detail::require_finite("VonMises", "loc", loc_);
    detail::require_positive("VonMises", "concentration", concentration_);
  }
  const Tensor& loc() const { return loc_; }
  const Tensor& concentration() const { return concentration_; }

  std::string name() const override { return "VonMises"; }
  constraints::Constraint support() const override {
    return constraints::interval(-std::numbers::pi, std::numbers::pi);
  }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return detail::wrap_angle(loc_ + detail::von_mises_centered(key, concentration_, shape(sample_shape)));
  }
  Tensor log_prob(const Tensor& value) const override {
    return detail::on_support(value, support(), 0.0, [&](const Tensor& x) {
      return concentration_ * cos(x - loc_) - (detail::log_bessel_i0(concentration_) + std::log(2.0 * std::numbers::pi));
    });
  }
  Tensor mean() const override { return detail::broadcast_to_shape(detail::wrap_angle(loc_), batch_shape()); }
  Tensor variance() const override {
    return detail::broadcast_to_shape(1.0 - detail::bessel_i1_over_i0_array(concentration_), batch_shape());
  }

 private:
  Tensor loc_, concentration_;
};
using VonMises = VonMisesT<>;

// SkewNormal(loc, scale, skewness), Azzalini's skew normal (not in NumPyro):
// density (2 / scale) phi(z) Phi(skewness z), z = (x - loc) / scale, phi and
// Phi the standard normal density and CDF; skewness 0 is Normal(loc, scale).
// Draws loc + scale (delta |U| + sqrt(1 - delta^2) V), delta = skewness /
// sqrt(1 + skewness^2), U and V standard normal on the two keys of split(key).
template <class = void>
class SkewNormalT : public Distribution, public LocScaleFamily {
 public:
  DistributionPtr share() const override { return std::make_shared<SkewNormalT>(*this); }
  explicit SkewNormalT(Tensor loc = 0.0, Tensor scale = 1.0, Tensor skewness = 0.0)
      : Distribution(detail::broadcast_parameters("SkewNormal", {&loc, &scale, &skewness}), {}),
        loc_(std::move(loc)),
        scale_(std::move(scale)),
        skewness_(std::move(skewness)) {
    detail::require_finite("SkewNormal", "loc", loc_);
    detail::require_positive("SkewNormal", "scale", scale_);
    detail::require_finite("SkewNormal", "skewness", skewness_);
  }
  const Tensor& loc() const override { return loc_; }
  const Tensor& scale() const override { return scale_; }
  const Tensor& skewness() const { return skewness_; }
  DistributionPtr with_loc_scale(Tensor loc, Tensor scale) const override {
    return std::make_shared<SkewNormalT>(std::move(loc), std::move(scale), skewness_);
  }

  std::string name() const override { return "SkewNormal"; }
  constraints::Constraint support() const override { return constraints::real; }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const auto [key_u, key_v] = split(key);
    const Shape s = shape(sample_shape);
    const Tensor spread = 1.0 / sqrt(1.0 + square(skewness_));  // sqrt(1 - delta^2)
    const Tensor z = skewness_ * spread * abs(random::normal(key_u, s)) + spread * random::normal(key_v, s);
    return loc_ + scale_ * z;
  }
  Tensor log_prob(const Tensor& value) const override {
    const Tensor z = (value - loc_) / scale_;
    return normal_log_density(value, loc_, scale_) + log_ndtr(skewness_ * z) + std::numbers::ln2;
  }
  // With delta as above: loc + scale delta sqrt(2 / pi) and scale^2 (1 - 2 delta^2 / pi).
  Tensor mean() const override {
    const Tensor delta = skewness_ / sqrt(1.0 + square(skewness_));
    return detail::broadcast_to_shape(loc_ + scale_ * delta * std::sqrt(2.0 / std::numbers::pi), batch_shape());
  }
  Tensor variance() const override {
    const Tensor delta_squared = square(skewness_) / (1.0 + square(skewness_));
    return detail::broadcast_to_shape(square(scale_) * (1.0 - (2.0 / std::numbers::pi) * delta_squared),
                                      batch_shape());
  }

 private:
  Tensor loc_, scale_, skewness_;
};
using SkewNormal = SkewNormalT<>;

}  // namespace tyche::dist
