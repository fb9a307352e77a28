// Scalar special functions and the derivatives that array operations need,
// from Boost.Math where the standard library has none.
//
//   tyche::special::log_ndtr(-40.0);  // log Phi(-40), finite where Phi underflows
//   tyche::special::digamma(0.5);     // derivative of lgamma at 0.5
#pragma once

#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>

namespace tyche::special {

namespace detail {
// NumPy's conventions: poles and domain errors give inf or NaN, they do not throw;
// distributions check their arguments before they get here.
using Policy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::pole_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
    boost::math::policies::promote_double<false>>;
}  // namespace detail

// These three are templates over a defaulted, non-deduced parameter (the
// idiom of core/tensor.hpp), called as functions of double: Boost compiles
// each with a static initializer that runs it at start-up, so a
// non-template would put that code in every program that includes tyche.
// Passed as a value they are special::lgamma<> and so on.

// +inf at the poles (0, -1, -2, ...) and at +-inf, as std::lgamma,
// scipy.special.gammaln and JAX give; Boost's ignored pole error gives NaN.
template <class T = double>
double lgamma(std::type_identity_t<T> x) {
  if (std::isinf(x) || (x <= 0.0 && x == std::floor(x))) return std::numeric_limits<double>::infinity();
  return boost::math::lgamma(x, detail::Policy());
}
template <class T = double>
double digamma(std::type_identity_t<T> x) { return boost::math::digamma(x, detail::Policy()); }
template <class T = double>
double trigamma(std::type_identity_t<T> x) { return boost::math::trigamma(x, detail::Policy()); }

// log of the standard normal density.
inline double log_normal_pdf(double x) {
  return -0.5 * x * x - 0.5 * std::log(2.0 * std::numbers::pi);
}

namespace detail {
// 1 - 1/x^2 + 3/x^4 - 15/x^6 + ...: Phi(x) = phi(x) / (-x) * series for x -> -inf.
inline double mills_series(double x) {
  const double r = 1.0 / (x * x);
  return 1.0 - r * (1.0 - 3.0 * r * (1.0 - 5.0 * r * (1.0 - 7.0 * r * (1.0 - 9.0 * r))));
}
inline constexpr double kAsymptoticBelow = -20.0;  // where the series is exact to double precision
}  // namespace detail

// log Phi(x), accurate in both tails: log1p(-Q(x)) keeps the tiny negative values
// of the upper tail; erfc keeps relative accuracy down to x = -20, below which
// the asymptotic series takes over before Phi underflows.
inline double log_ndtr(double x) {
  if (x > 0.0) return std::log1p(-0.5 * std::erfc(x / std::numbers::sqrt2));
  if (x > detail::kAsymptoticBelow) return std::log(0.5 * std::erfc(-x / std::numbers::sqrt2));
  return log_normal_pdf(x) - std::log(-x) + std::log(detail::mills_series(x));
}

// d/dx log Phi(x) = phi(x) / Phi(x); in the lower tail -x / series, which
// stays exact where phi and Phi have both underflowed.
inline double d_log_ndtr(double x, double log_ndtr_x) {
  if (x <= detail::kAsymptoticBelow) return -x / detail::mills_series(x);
  return std::exp(log_normal_pdf(x) - log_ndtr_x);
}

}  // namespace tyche::special
