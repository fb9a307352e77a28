// Random variates drawn from a Key, in any shape, as plain (constant) arrays.
//
// Every sampler is a pure function of its key: the same key gives the same
// array on every run and platform. uniform, normal, exponential, gumbel,
// cauchy, laplace and logistic reproduce jax.random's algorithms on the same
// key bits, so they match NumPyro's draws up to float32 rounding.
//
// The other samplers (gamma, beta, dirichlet, poisson, binomial, bernoulli,
// categorical) need a varying number of uniforms per element, so each element
// owns a stream: element i (its row-major index in the result) uses the key
// k_i = threefry2x32(key, (i >> 32, i mod 2^32)), which is split(key, n)[i],
// and its j-th uniform is the 64-bit block threefry2x32(k_i, (j >> 32,
// j mod 2^32)) cut to 52 bits, ((bits >> 12) + 1/2) / 2^52, strictly inside
// (0, 1). An element's value therefore depends only on the key, its index and
// its own parameters, never on how many uniforms other elements used: a draw
// of shape (n, ...) is the first n rows of a draw of shape (m, ...) for m > n
// with the same parameters. beta draws its two gammas from split(key); the
// j-th component of dirichlet's row r is element r * K + j of its result.
//
// Parameters broadcast (right-aligned) to the requested shape, which is the
// shape of the result, as jax.random.gamma(key, a, shape). As in JAX, two
// draws from one key are not independent of each other: split the key.
//
// gamma, beta and dirichlet are differentiable in their concentrations
// inside value_and_grad and compile_gradient, as JAX's samplers are:
// implicit reparameterisation (Figurnov, Mohamed and Mnih 2018), which holds
// the draw's CDF level fixed, dx/dalpha = -(dF/dalpha)(x; alpha) / f(x; alpha).
// A compiled replay draws again from the same key at the new concentration,
// so it gives what value_and_grad gives there. The other samplers return
// constants.
//
//   tyche::Key key = tyche::PRNGKey(0);
//   tyche::Tensor z = tyche::random::normal(tyche::split(key)[1], {3});
//   tyche::Tensor g = tyche::random::gamma(key, tyche::Tensor{0.5, 2.0}, {10, 2});
//   tyche::Tensor c = tyche::random::categorical(key, tyche::Tensor{0.0, 1.0, -1.0}, {100});
#pragma once

#include "tyche/core/broadcast.hpp"
#include "tyche/core/elementwise.hpp"
#include "tyche/core/special.hpp"
#include "tyche/core/tensor.hpp"
#include "tyche/distributions/key.hpp"
#include "tyche/distributions/noise_tap.hpp"
#include "tyche/distributions/require.hpp"

#include <boost/math/special_functions/erf.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>
#include <type_traits>

namespace tyche::detail {

// An array whose element i is draw(u_i), u_i the uniform [0, 1) number from
// element i's random bits.
template <class Draw>
void fill_elementwise(Key key, double* out, std::int64_t count, Draw draw) {
  for (std::int64_t i = 0; i < count; ++i) out[i] = draw(unit_interval_from_bits(random_bits(key, std::uint64_t(i))));
}
template <class Draw>
Tensor draw_elementwise(Key key, const Shape& shape, Draw draw) {
  Tensor out = Tensor::zeros(shape);
  fill_elementwise(key, Access::data(out), shape.numel(), draw);
  if (NoiseTap* tap = noise_tap())
    return tap->elementwise(key, std::move(out),
                            [draw](Key k, double* values, std::int64_t count) { fill_elementwise(k, values, count, draw); });
  return out;
}

// A float32 uniform on [low, high) formed exactly as jax.random.uniform forms
// it (float32 arithmetic, clamped below at low), for the JAX-compatible draws.
inline float jax_uniform_float32(double unit, float low, float high) {
  return std::max(low, float(unit) * (high - low) + low);
}

// The random numbers of one element (see the header comment).
class ElementStream {
 public:
  ElementStream(Key key, std::uint64_t element) : key_(threefry_key(key, element)) {
    if (NoiseTap* tap = noise_tap()) tap->opaque("a sampler that draws element by element (Gamma, Poisson, ...)");
  }

  // Uniform strictly inside (0, 1), so logs and divisions need no guards.
  double uniform() {
    const auto w = threefry2x32(key_, std::uint32_t(next_ >> 32), std::uint32_t(next_));
    ++next_;
    const std::uint64_t bits = (std::uint64_t(w[0]) << 32 | w[1]) >> 12;
    return (double(bits) + 0.5) * 0x1p-52;
  }
  // Standard normal (Box-Muller, one of the pair).
  double normal() {
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    return r * std::cos(2.0 * std::numbers::pi * uniform());
  }

 private:
  static Key threefry_key(Key key, std::uint64_t element) {
    const auto w = threefry2x32(key, std::uint32_t(element >> 32), std::uint32_t(element));
    return {w[0], w[1]};
  }
  Key key_;
  std::uint64_t next_ = 0;
};

inline void require_broadcasts_to(const char* sampler, const char* parameter, const Shape& from, const Shape& to) {
  bool ok = from.rank() <= to.rank();
  for (int i = 1; ok && i <= from.rank(); ++i) {
    const std::int64_t d = from[from.rank() - i];
    ok = d == 1 || d == to[to.rank() - i];
  }
  if (!ok)
    throw ShapeError(std::string("tyche: random::") + sampler + ": " + parameter + " of shape " + from.str() +
                     " does not broadcast to the requested shape " + to.str());
}

// An array of `shape` whose element i is draw(stream_i, parameter values at i).
template <int K, class Draw>
Tensor sample_elementwise(Key key, const Shape& shape, const std::array<const Tensor*, K>& parameters, Draw draw) {
  std::array<Shape, K + 1> shapes{shape};
  std::array<const double*, K> values;
  for (int k = 0; k < K; ++k) {
    shapes[std::size_t(k + 1)] = parameters[std::size_t(k)]->shape();
    values[std::size_t(k)] = parameters[std::size_t(k)]->data();
  }
  const auto plan = BroadcastPlan<K + 1>::make(shapes, "random");
  Tensor out = Tensor::zeros(shape);
  double* out_data = Access::data(out);
  plan.for_each([&](std::int64_t i, const auto& at) {
    std::array<double, K> v;
    for (int k = 0; k < K; ++k) v[std::size_t(k)] = values[std::size_t(k)][at[std::size_t(k + 1)]];
    ElementStream stream(key, std::uint64_t(i));
    out_data[i] = draw(stream, v);
  });
  return out;
}

inline bool is_positive_finite(double v) { return v > 0.0 && v < HUGE_VAL; }

// Marsaglia & Tsang (2000), "A simple method for generating gamma variables":
// a Gamma(alpha, 1) draw for alpha >= 1.
inline double marsaglia_tsang(ElementStream& s, double alpha) {
  const double d = alpha - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = s.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = s.uniform(), x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2 || std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return d * v;
  }
}

// log of a Gamma(alpha, 1) draw. For alpha < 1, Gamma(alpha + 1) * U^(1/alpha)
// (Marsaglia & Tsang's boost) taken in logs, where U^(1/alpha) would underflow
// to 0 for tiny alpha although the log is finite.
inline double log_gamma_draw(ElementStream& s, double alpha) {
  if (alpha >= 1.0) return std::log(marsaglia_tsang(s, alpha));
  const double g = marsaglia_tsang(s, alpha + 1.0);
  return std::log(g) + std::log(s.uniform()) / alpha;
}

inline double gamma_draw(ElementStream& s, double alpha) {
  return alpha >= 1.0 ? marsaglia_tsang(s, alpha) : std::exp(log_gamma_draw(s, alpha));
}

// d log X / d alpha for X ~ Gamma(alpha, 1) held at its CDF level
// (implicit reparameterisation): -(dP/dalpha)(alpha, x) / (x f(x)), P the
// regularised lower incomplete gamma function and f the density. Taken from
// log x, so that a draw that underflows to 0 still has its derivative.
// Accurate to about 1e-10 relative (tested against finite differences of
// Boost's gamma_p_inv from alpha = 1e-3 to 1e8); the exact methods cost about
// 8 sqrt(alpha) terms, so from alpha = 1e7 on Wilson and Hilferty's cube-root
// normal approximation takes over, whose derivative errs by about
// z^3 / (10 alpha^1.5) at normal quantile z.
template <class = void>
double gamma_log_draw_derivative(double alpha, double log_x) {
  if (!(alpha > 0.0 && alpha < HUGE_VAL) || std::isnan(log_x)) return std::numeric_limits<double>::quiet_NaN();
  if (alpha >= 1e7) {
    // x = alpha w^3 with w = 1 - 1 / (9 alpha) + z / (3 sqrt(alpha)) at fixed z:
    // d log x / d alpha = 1 / alpha + 3 (dw / dalpha) / w.
    const double w = std::exp((log_x - std::log(alpha)) / 3.0), root = std::sqrt(alpha);
    const double z = 3.0 * root * (w - 1.0 + 1.0 / (9.0 * alpha));
    const double dw = 1.0 / (9.0 * alpha * alpha) - z / (6.0 * alpha * root);
    return 1.0 / alpha + 3.0 * dw / w;
  }
  constexpr double kEpsilon = 1e-17;
  constexpr int kMaxTerms = 100'000;
  const double x = std::exp(log_x);
  if (!(x > 1.0 && x >= alpha)) {
    // P = x^alpha e^-x sum_n x^n / Gamma(alpha + n + 1), differentiated term
    // by term: the result is sum_n t_n (psi(alpha + n + 1) - log x) with
    // t_n = Gamma(alpha) x^n / Gamma(alpha + n + 1). Below max(alpha, 1) the
    // t_n fall geometrically and the factors are positive (but for n = 0 when
    // alpha < x <= 1, where they are small), so nothing cancels.
    double term = 1.0 / alpha, psi = special::digamma(alpha + 1.0);
    double sum = term * (psi - log_x);
    for (int n = 1; n < kMaxTerms; ++n) {
      term *= x / (alpha + n);
      psi += 1.0 / (alpha + n);
      const double add = term * (psi - log_x);
      sum += add;
      if (std::abs(add) <= kEpsilon * std::abs(sum)) break;
    }
    return sum;
  }
  // Above: Gamma(alpha, x) = e^-x x^alpha / K with Legendre's continued
  // fraction K = b_0 + a_1 / (b_1 + a_2 / (b_2 + ...)), b_n = x + 2n + 1 - alpha,
  // a_n = -n (n - alpha), evaluated by Lentz's method carrying d/dalpha along
  // (forward mode). Then d log x / d alpha = (log x - psi(alpha)) / K - K' / K^2,
  // a sum of two positive terms since log x >= log alpha > psi(alpha).
  double k = x + 1.0 - alpha, dk = -1.0, c = k, dc = dk, d = 0.0, dd = 0.0;
  for (int n = 1; n < kMaxTerms; ++n) {
    const double an = -n * (n - alpha), dan = n, bn = x + 2.0 * n + 1.0 - alpha;
    const double denominator = bn + an * d, d_denominator = -1.0 + dan * d + an * dd;
    d = 1.0 / denominator;
    dd = -d_denominator * d * d;
    dc = -1.0 + dan / c - an * dc / (c * c);
    c = bn + an / c;
    const double delta = c * d, d_delta = dc * d + c * dd;
    const double change = k * d_delta;
    dk = dk * delta + change;
    k *= delta;
    if (std::abs(delta - 1.0) <= kEpsilon && std::abs(change) <= kEpsilon * std::abs(dk)) break;
  }
  return (log_x - special::digamma(alpha)) / k - dk / (k * k);
}

// Draws of Gamma(alpha, 1) (or their logs) whose concentration depends on the
// parameters: forward draws element i from its stream at the current alpha,
// as sample_elementwise does; backward adds gy dx/dalpha into alpha's
// gradient, summed over the elements alpha was broadcast to.
struct GammaDrawsNode : Node {
  Key key;
  const double* alpha;
  double* g_alpha;
  const double* y;
  const double* gy;
  BroadcastPlan<2> plan;  // the result, and alpha read at its shape
  bool log_space;         // y = log X, not X
};

template <class = void>
void gamma_draws_forward(const Node& base) {
  const auto& node = static_cast<const GammaDrawsNode&>(base);
  double* y = const_cast<double*>(node.y);
  node.plan.for_each([&](std::int64_t i, const auto& at) {
    const double alpha = node.alpha[at[1]];
    // A replay at an invalid concentration gives NaN (the replay contract of
    // core/compiled.hpp), never a loop of rejections.
    if (!is_positive_finite(alpha)) {
      y[i] = std::numeric_limits<double>::quiet_NaN();
      return;
    }
    ElementStream stream(node.key, std::uint64_t(i));
    y[i] = node.log_space ? log_gamma_draw(stream, alpha) : gamma_draw(stream, alpha);
  });
}

template <class = void>
void gamma_draws_backward(const Node& base) {
  const auto& node = static_cast<const GammaDrawsNode&>(base);
  node.plan.for_each([&](std::int64_t i, const auto& at) {
    const double g = node.gy[i];
    if (g == 0.0) return;
    const double alpha = node.alpha[at[1]], y = node.y[i];
    double derivative;
    if (node.log_space) derivative = gamma_log_draw_derivative(alpha, y);
    else derivative = y == 0.0 ? 0.0 : y * gamma_log_draw_derivative(alpha, std::log(y));  // x log x -> 0
    node.g_alpha[at[1]] += g * derivative;
  });
}

// The draws of gamma_draws_forward, recorded on the tape.
template <class = void>
Tensor recorded_gamma_draws(Key key, const Tensor& alpha, const Shape& shape, bool log_space) {
  Tape& tape = this_thread_tape();
  Tensor y = Access::result(shape, true);
  GammaDrawsNode unused;
  auto& node = tape.node_for(true, unused, &gamma_draws_forward<>, &gamma_draws_backward<>, {Access::operand(alpha)},
                             {Access::operand(y)});
  node.key = key;
  node.alpha = Access::data(alpha);
  node.g_alpha = Access::grad(alpha);
  node.y = Access::data(y);
  node.gy = Access::grad(y);
  node.plan = BroadcastPlan<2>::make({shape, alpha.shape()}, "random");
  node.log_space = log_space;
  gamma_draws_forward<>(node);
  return y;
}

// log X for X ~ Gamma(concentration, 1), recorded when the concentration
// depends on the parameters.
template <class = void>
Tensor log_gamma_draws(Key key, const Tensor& concentration, const Shape& shape) {
  if (needs_grad(this_thread_tape(), concentration)) return recorded_gamma_draws(key, concentration, shape, true);
  return sample_elementwise<1>(key, shape, {&concentration},
                               [](auto& s, const auto& v) { return log_gamma_draw(s, v[0]); });
}

// X / (X + Y) from log X and log Y, as 1 / (1 + e^(log Y - log X)); the
// partials y (1 - y) and -y (1 - y) take 1 - y as the other ratio, exact
// where y is near 1.
struct BetaFromLogGammasOp {
  static double f(double log_x, double log_y) { return 1.0 / (1.0 + std::exp(log_y - log_x)); }
  static double da(double log_x, double log_y, double y) { return y / (1.0 + std::exp(log_x - log_y)); }
  static double db(double log_x, double log_y, double y) { return -da(log_x, log_y, y); }
};

// Rows of length k of exp(x) / sum(exp(x)) (dirichlet's normalisation), with
// its gradient gx_j = y_j (gy_j - sum_l gy_l y_l).
struct NormalizeRowsNode : Node {
  const double* x;
  double* gx;
  const double* y;
  const double* gy;
  std::int64_t rows, k;
};

template <class = void>
void normalize_rows(const double* x, double* y, std::int64_t rows, std::int64_t k) {
  for (std::int64_t row = 0; row < rows; ++row) {
    const double* in = x + row * k;
    double* out = y + row * k;
    const double top = *std::max_element(in, in + k);
    double total = 0.0;
    for (std::int64_t j = 0; j < k; ++j) total += out[j] = std::exp(in[j] - top);
    for (std::int64_t j = 0; j < k; ++j) out[j] /= total;
  }
}

template <class = void>
void normalize_rows_forward(const Node& base) {
  const auto& node = static_cast<const NormalizeRowsNode&>(base);
  normalize_rows<>(node.x, const_cast<double*>(node.y), node.rows, node.k);
}

template <class = void>
void normalize_rows_backward(const Node& base) {
  const auto& node = static_cast<const NormalizeRowsNode&>(base);
  for (std::int64_t row = 0; row < node.rows; ++row) {
    const double *y = node.y + row * node.k, *gy = node.gy + row * node.k;
    double dot = 0.0;
    for (std::int64_t j = 0; j < node.k; ++j) dot += gy[j] * y[j];
    for (std::int64_t j = 0; j < node.k; ++j) node.gx[row * node.k + j] += y[j] * (gy[j] - dot);
  }
}

template <class = void>
Tensor recorded_normalize_rows(const Tensor& x, std::int64_t k) {
  Tape& tape = this_thread_tape();
  Tensor y = Access::result(x.shape(), true);
  NormalizeRowsNode unused;
  auto& node = tape.node_for(true, unused, &normalize_rows_forward<>, &normalize_rows_backward<>, {Access::operand(x)},
                             {Access::operand(y)});
  node.x = Access::data(x);
  node.gx = Access::grad(x);
  node.y = Access::data(y);
  node.gy = Access::grad(y);
  node.k = k;
  node.rows = k == 0 ? 0 : x.size() / k;
  normalize_rows_forward<>(node);
  return y;
}

// The Poisson and binomial samplers below are templates (over a defaulted
// parameter) because they reach special::lgamma, which only a program that
// draws from them should compile.

// log(k!) - Stirling's approximation, (k + 1/2) log k - k + log sqrt(2 pi):
// Loader (2000), "Fast and accurate computation of binomial probabilities".
template <class = void>
double stirling_error(double k) {
  constexpr double kLogSqrt2Pi = 0.91893853320467274178;
  if (k <= 15.0) return special::lgamma(k + 1.0) - (k + 0.5) * std::log(k) + k - kLogSqrt2Pi;
  const double kk = k * k;
  constexpr double s0 = 1.0 / 12, s1 = 1.0 / 360, s2 = 1.0 / 1260, s3 = 1.0 / 1680, s4 = 1.0 / 1188;
  if (k > 500) return (s0 - s1 / kk) / k;
  if (k > 80) return (s0 - (s1 - s2 / kk) / kk) / k;
  if (k > 35) return (s0 - (s1 - (s2 - s3 / kk) / kk) / kk) / k;
  return (s0 - (s1 - (s2 - (s3 - s4 / kk) / kk) / kk) / kk) / k;
}

// x log(x / m) + m - x without cancellation when x is near m (Loader 2000).
inline double deviance_term(double x, double m) {
  if (std::abs(x - m) >= 0.1 * (x + m)) return x * std::log(x / m) + m - x;
  const double v = (x - m) / (x + m), v2 = v * v;
  double sum = (x - m) * v, term = 2.0 * x * v;
  for (int j = 1; j < 1000; ++j) {
    term *= v2;
    const double next = sum + term / (2 * j + 1);
    if (next == sum) break;
    sum = next;
  }
  return sum;
}

// log P(X = k), X ~ Poisson(rate), accurate for huge k and rate where
// -rate + k log(rate) - log(k!) would lose all digits to cancellation.
template <class = void>
double log_poisson_pmf(double k, double rate) {
  if (k == 0.0) return -rate;
  return -stirling_error(k) - deviance_term(k, rate) - 0.5 * std::log(2.0 * std::numbers::pi * k);
}

// log P(X = k), X ~ Binomial(n, p), with q = 1 - p passed exactly.
template <class = void>
double log_binomial_pmf(double k, double n, double p, double q) {
  if (k == 0.0) return n * std::log(q);
  if (k == n) return n * std::log(p);
  return stirling_error(n) - stirling_error(k) - stirling_error(n - k) - deviance_term(k, n * p) -
         deviance_term(n - k, n * q) + 0.5 * std::log(n / (2.0 * std::numbers::pi * k * (n - k)));
}

// Knuth's multiplication method: the number of uniforms whose running product
// stays above exp(-rate); rate + 1 uniforms on average, so for small rates.
inline double poisson_small(ElementStream& s, double rate) {
  const double limit = std::exp(-rate);
  double k = 0.0, product = s.uniform();
  while (product > limit) {
    k += 1.0;
    product *= s.uniform();
  }
  return k;
}

// Hörmann (1993), "The transformed rejection method for generating Poisson
// random variables" (PTRS), valid for rate >= 10.
template <class = void>
double poisson_ptrs(ElementStream& s, double rate) {
  const double b = 0.931 + 2.53 * std::sqrt(rate), a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), v_r = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    const double u = s.uniform() - 0.5, v = s.uniform(), us = 0.5 - std::abs(u);
    const double k = std::floor((2.0 * a / us + b) * u + rate + 0.43);
    if (us >= 0.07 && v <= v_r) return k;
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (std::log(v * inv_alpha / (a / (us * us) + b)) <= log_poisson_pmf(k, rate)) return k;
  }
}

// Binomial(n, p) for p <= 1/2 and n p < 10 by waiting times (Devroye 1986,
// X.4.3): count geometric gaps until they pass n; n p + 1 uniforms on average.
inline double binomial_waiting_time(ElementStream& s, double n, double p) {
  const double log_q = std::log1p(-p);
  double k = 0.0, position = 0.0;
  for (;;) {
    position += std::ceil(std::log(s.uniform()) / log_q);
    if (position > n) return k;
    k += 1.0;
  }
}

// Hörmann (1993), "The generation of binomial random variates" (BTRS), for
// p <= 1/2 and n p >= 10; q = 1 - p exactly.
template <class = void>
double binomial_btrs(ElementStream& s, double n, double p, double q) {
  const double spq = std::sqrt(n * p * q), b = 1.15 + 2.53 * spq, a = -0.0873 + 0.0248 * b + 0.01 * p;
  const double c = n * p + 0.5, v_r = 0.92 - 4.2 / b, alpha = (2.83 + 5.1 / b) * spq;
  const double m = std::floor((n + 1.0) * p), log_pmf_mode = log_binomial_pmf(m, n, p, q);
  for (;;) {
    const double u = s.uniform() - 0.5, v = s.uniform(), us = 0.5 - std::abs(u);
    const double k = std::floor((2.0 * a / us + b) * u + c);
    if (k < 0.0 || k > n) continue;
    if (us >= 0.07 && v <= v_r) return k;
    if (std::log(v * alpha / (a / (us * us) + b)) <= log_binomial_pmf(k, n, p, q) - log_pmf_mode) return k;
  }
}

template <class = void>
double binomial_draw(ElementStream& s, double n, double p) {
  if (n == 0.0 || p == 0.0) return 0.0;
  if (p == 1.0) return n;
  // Draw the rarer outcome so that both algorithms see p <= 1/2.
  const bool flip = p > 0.5;
  const double small = flip ? 1.0 - p : p, large = flip ? p : 1.0 - p;
  const double k = n * small < 10.0 ? binomial_waiting_time(s, n, small) : binomial_btrs(s, n, small, large);
  return flip ? n - k : k;
}

// A standard normal from a uniform on [0, 1): sqrt(2) erfinv(u) with u on
// (-1, 1) formed in float32 as JAX forms it (see random::normal).
inline double standard_normal_from_unit(double unit) {
  constexpr float kLow = -0.99999994f;  // nextafter(-1, 0) in float32
  const float u = std::max(kLow, float(unit) * (1.0f - kLow) + kLow);
  return std::numbers::sqrt2 * boost::math::erf_inv(double(u));
}

// random::normal(key, {count}) written into `out`, allocating nothing.
inline void fill_standard_normal(Key key, double* out, std::int64_t count) {
  fill_elementwise(key, out, count, standard_normal_from_unit);
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
  return tyche::detail::draw_elementwise(key, shape, tyche::detail::standard_normal_from_unit);
}

// Standard exponential: -log1p(-u), as JAX draws it.
inline Tensor exponential(Key key, const Shape& shape) {
  return tyche::detail::draw_elementwise(key, shape, [](double u) { return -std::log1p(-u); });
}

// Standard Gumbel: -log(-log u), u uniform on [float32 tiny, 1), as JAX.
inline Tensor gumbel(Key key, const Shape& shape) {
  return tyche::detail::draw_elementwise(key, shape, [](double unit) {
    const float u = tyche::detail::jax_uniform_float32(unit, std::numeric_limits<float>::min(), 1.0f);
    return -std::log(-std::log(double(u)));
  });
}

// Standard Cauchy: tan(pi (u - 1/2)), u uniform on [float32 eps, 1), as JAX.
inline Tensor cauchy(Key key, const Shape& shape) {
  return tyche::detail::draw_elementwise(key, shape, [](double unit) {
    const float u = tyche::detail::jax_uniform_float32(unit, std::numeric_limits<float>::epsilon(), 1.0f);
    return std::tan(std::numbers::pi * (double(u) - 0.5));
  });
}

// Standard Laplace: sign(u) log1p(-|u|), u uniform on (-1, 1), as JAX.
inline Tensor laplace(Key key, const Shape& shape) {
  return tyche::detail::draw_elementwise(key, shape, [](double unit) {
    const double u = tyche::detail::jax_uniform_float32(unit, -0.99999994f, 1.0f);
    const double sign = double((u > 0.0) - (u < 0.0));
    return sign * std::log1p(-std::abs(u));
  });
}

// Standard logistic: log(u / (1 - u)), u uniform on [float32 eps, 1), as JAX.
inline Tensor logistic(Key key, const Shape& shape) {
  return tyche::detail::draw_elementwise(key, shape, [](double unit) {
    const double u = tyche::detail::jax_uniform_float32(unit, std::numeric_limits<float>::epsilon(), 1.0f);
    return std::log(u / (1.0 - u));
  });
}

// Gamma(concentration, rate 1), differentiable in the concentration.
template <class T = Tensor>
Tensor gamma(Key key, const std::type_identity_t<T>& concentration, const Shape& shape) {
  tyche::detail::require_broadcasts_to("gamma", "concentration", concentration.shape(), shape);
  tyche::detail::require_each("random::gamma", "concentration", concentration, "positive and finite",
                              tyche::detail::is_positive_finite);
  if (tyche::detail::needs_grad(tyche::detail::this_thread_tape(), concentration))
    return tyche::detail::recorded_gamma_draws(key, concentration, shape, /*log_space=*/false);
  return tyche::detail::sample_elementwise<1>(key, shape, {&concentration}, [](auto& s, const auto& v) {
    return tyche::detail::gamma_draw(s, v[0]);
  });
}

// Beta(a, b) as X / (X + Y), X ~ Gamma(a) and Y ~ Gamma(b) drawn with the two
// keys of split(key); the ratio is formed from the logs of X and Y, so small
// a and b give 0 or 1 rather than 0 / 0. Differentiable in a and b.
template <class T = Tensor>
Tensor beta(Key key, const std::type_identity_t<T>& a, const std::type_identity_t<T>& b, const Shape& shape) {
  tyche::detail::require_broadcasts_to("beta", "a", a.shape(), shape);
  tyche::detail::require_broadcasts_to("beta", "b", b.shape(), shape);
  tyche::detail::require_each("random::beta", "a", a, "positive and finite", tyche::detail::is_positive_finite);
  tyche::detail::require_each("random::beta", "b", b, "positive and finite", tyche::detail::is_positive_finite);
  const auto keys = split(key);
  const Tensor log_x = tyche::detail::log_gamma_draws(keys[0], a, shape);
  const Tensor log_y = tyche::detail::log_gamma_draws(keys[1], b, shape);
  return tyche::detail::binary<tyche::detail::BetaFromLogGammasOp>(log_x, log_y, "random::beta");
}

// Dirichlet(concentration), concentration of shape (..., K): the result has
// shape batch_shape + (K,), each row normalised Gamma draws (normalised in
// log space, so that rows with tiny concentrations still sum to 1).
// Differentiable in the concentration.
template <class T = Tensor>
Tensor dirichlet(Key key, const std::type_identity_t<T>& concentration, const Shape& batch_shape) {
  if (concentration.ndim() == 0)
    throw ShapeError("tyche: random::dirichlet: concentration must have at least one axis, got shape ()");
  const std::int64_t k = concentration.dim(-1);
  Shape shape = batch_shape;
  shape.push_back(k);
  tyche::detail::require_broadcasts_to("dirichlet", "concentration", concentration.shape(), shape);
  tyche::detail::require_each("random::dirichlet", "concentration", concentration, "positive and finite",
                              tyche::detail::is_positive_finite);
  const Tensor log_draws = tyche::detail::log_gamma_draws(key, concentration, shape);
  if (log_draws.requires_grad()) return tyche::detail::recorded_normalize_rows(log_draws, k);
  Tensor out = Tensor::zeros(shape);
  tyche::detail::normalize_rows<>(log_draws.data(), tyche::detail::Access::data(out), batch_shape.numel(), k);
  return out;
}

// Poisson(rate), exact for every rate: Knuth's method below 10, Hörmann's
// PTRS from 10 on. Rate 0 gives 0.
template <class T = Tensor>
Tensor poisson(Key key, const std::type_identity_t<T>& rate, const Shape& shape) {
  tyche::detail::require_broadcasts_to("poisson", "rate", rate.shape(), shape);
  tyche::detail::require_each("random::poisson", "rate", rate, "non-negative and finite",
                              [](double v) { return v >= 0.0 && v < HUGE_VAL; });
  return tyche::detail::sample_elementwise<1>(key, shape, {&rate}, [](auto& s, const auto& v) {
    return v[0] < 10.0 ? tyche::detail::poisson_small(s, v[0]) : tyche::detail::poisson_ptrs(s, v[0]);
  });
}

// Binomial(total_count, probs), exact: waiting times when n min(p, 1 - p) < 10,
// Hörmann's BTRS otherwise; n = 0, p = 0 and p = 1 give 0, 0 and n.
template <class T = Tensor>
Tensor binomial(Key key, const std::type_identity_t<T>& total_count, const std::type_identity_t<T>& probs,
                const Shape& shape) {
  tyche::detail::require_broadcasts_to("binomial", "total_count", total_count.shape(), shape);
  tyche::detail::require_broadcasts_to("binomial", "probs", probs.shape(), shape);
  tyche::detail::require_each("random::binomial", "total_count", total_count, "a non-negative integer",
                              [](double v) { return v >= 0.0 && v < HUGE_VAL && v == std::floor(v); });
  tyche::detail::require_each("random::binomial", "probs", probs, "in [0, 1]", [](double v) { return v >= 0.0 && v <= 1.0; });
  return tyche::detail::sample_elementwise<2>(key, shape, {&total_count, &probs}, [](auto& s, const auto& v) {
    return tyche::detail::binomial_draw(s, v[0], v[1]);
  });
}

// 1 with probability probs, else 0.
template <class T = Tensor>
Tensor bernoulli(Key key, const std::type_identity_t<T>& probs, const Shape& shape) {
  tyche::detail::require_broadcasts_to("bernoulli", "probs", probs.shape(), shape);
  tyche::detail::require_each("random::bernoulli", "probs", probs, "in [0, 1]", [](double v) { return v >= 0.0 && v <= 1.0; });
  return tyche::detail::sample_elementwise<1>(key, shape, {&probs}, [](auto& s, const auto& v) {
    return s.uniform() < v[0] ? 1.0 : 0.0;
  });
}

// Indices (as doubles) drawn with probabilities softmax(logits) along the last
// axis; logits of shape (..., K) with (...) broadcasting to `shape`. Inverse
// CDF with one uniform per element; categories with logit -inf never occur.
template <class T = Tensor>
Tensor categorical(Key key, const std::type_identity_t<T>& logits, const Shape& shape) {
  if (logits.ndim() == 0 || logits.dim(-1) == 0)
    throw ShapeError("tyche: random::categorical: logits need a last axis with at least one category, got shape " +
                     logits.shape().str());
  tyche::detail::require_each("random::categorical", "logits", logits, "a number below +inf",
                              [](double v) { return v < HUGE_VAL; });
  const std::int64_t k = logits.dim(-1);
  const Shape batch(logits.shape().begin(), logits.shape().end() - 1);
  tyche::detail::require_broadcasts_to("categorical", "logits' batch", batch, shape);
  // Per row: cumulative unnormalised probabilities and the last category that
  // can occur (where rounding leaves u * total at the very top).
  const double* l = logits.data();
  std::vector<double> cumulative(std::size_t(logits.size()));
  std::vector<std::int64_t> last(std::size_t(batch.numel()));
  for (std::int64_t row = 0; row < batch.numel(); ++row) {
    const double* x = l + row * k;
    const double top = *std::max_element(x, x + k);
    if (top == -HUGE_VAL)
      throw std::invalid_argument("tyche: random::categorical: logits of row " + std::to_string(row) +
                                  " are all -inf");
    double total = 0.0;
    for (std::int64_t j = 0; j < k; ++j) {
      const double p = std::exp(x[j] - top);
      if (p > 0.0) last[std::size_t(row)] = j;
      cumulative[std::size_t(row * k + j)] = total += p;
    }
  }
  const Tensor rows = Tensor::arange(batch.numel()).reshape(batch);
  return tyche::detail::sample_elementwise<1>(key, shape, {&rows}, [&](auto& s, const auto& v) {
    const auto row = std::int64_t(v[0]);
    const double* c = cumulative.data() + row * k;
    const double target = s.uniform() * c[k - 1];
    const std::int64_t j = std::upper_bound(c, c + k, target) - c;
    return double(std::min(j, last[std::size_t(row)]));
  });
}

}  // namespace tyche::random
