// Random variates drawn from a Key, in any shape, as plain (constant) arrays.
//
// Every sampler is a pure function of its key: the same key gives the same
// array on every run and platform. uniform, normal and exponential reproduce
// jax.random's algorithms on the same key bits, so they match NumPyro's draws.
//
//   tyche::Key key = tyche::PRNGKey(0);
//   tyche::Tensor z = tyche::random::normal(tyche::split(key)[1], {3});
#pragma once

#include "tyche/core/tensor.hpp"
#include "tyche/distributions/key.hpp"

#include <boost/math/special_functions/erf.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <cstdint>

namespace tyche::detail {

// An array whose element i is draw(u_i), u_i the uniform [0, 1) number from
// element i's random bits.
template <class Draw>
Tensor draw_elementwise(Key key, const Shape& shape, Draw draw) {
  Tensor out = Tensor::zeros(shape);
  double* out_data = Access::data(out);
  for (std::int64_t i = 0; i < shape.numel(); ++i)
    out_data[i] = draw(unit_interval_from_bits(random_bits(key, std::uint64_t(i))));
  return out;
}

}  // namespace tyche::detail

namespace tyche::random {

// Uniform on [low, high).
inline Tensor uniform(Key key, const Shape& shape, double low = 0.0, double high = 1.0) {
  return tyche::detail::draw_elementwise(key, shape, [=](double u) { return std::max(low, u * (high - low) + low); });
}

// Standard normal: sqrt(2) erfinv(u) with u uniform on (-1, 1), as JAX draws it.
// u is formed in float32 exactly as JAX forms it, so that the same key gives
// the same number as NumPyro up to float32 rounding of the final value.
inline Tensor normal(Key key, const Shape& shape) {
  return tyche::detail::draw_elementwise(key, shape, [](double unit) {
    constexpr float kLow = -0.99999994f;  // nextafter(-1, 0) in float32
    const float u = std::max(kLow, float(unit) * (1.0f - kLow) + kLow);
    return std::numbers::sqrt2 * boost::math::erf_inv(double(u));
  });
}

// Standard exponential: -log1p(-u), as JAX draws it.
inline Tensor exponential(Key key, const Shape& shape) {
  return tyche::detail::draw_elementwise(key, shape, [](double u) { return -std::log1p(-u); });
}

}  // namespace tyche::random
