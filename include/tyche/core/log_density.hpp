// Fused log densities: the log density of a common distribution, elementwise
// with broadcasting, as one tape node instead of a dozen. The distributions
// layer is built on these; they are here because they are plain arithmetic.
//
//   tyche::Tensor y{28.0, 8.0}, theta{1.0, 2.0}, sigma{15.0, 10.0};
//   auto lp = tyche::normal_log_density(y, theta, sigma);       // shape (2,)
//   auto total = tyche::normal_log_density_sum(y, theta, sigma); // rank 0, one node
//   auto ll = tyche::bernoulli_logit_log_mass_sum(tyche::Tensor{1.0, 0.0}, theta);
#pragma once

#include <Eigen/Core>
#include <array>
#include <cmath>
#include <numbers>
#include <utility>

#include "tyche/core/elementwise.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

inline constexpr double kLogSqrtTwoPi = 0.91893853320467274178;  // log(sqrt(2 pi))

// Location-scale families: log p(x) = phi(z) - log(scale) with z = (x - loc) / scale.
// A family gives phi and its derivative, written once for doubles and for Eigen
// array expressions.
struct StandardNormal {
  template <class Z>
  static auto phi(const Z& z) { return -0.5 * (z * z) - kLogSqrtTwoPi; }
  template <class Z>
  static auto dphi(const Z& z) { return -z; }
};
struct StandardCauchy {
  template <class Z>
  static auto phi(const Z& z) {
    using Eigen::log1p, std::log1p;
    return -log1p(z * z) - std::log(std::numbers::pi);
  }
  template <class Z>
  static auto dphi(const Z& z) { return -2.0 * z / (1.0 + z * z); }
};

// One node per density: 1 / scale and log(scale) are computed once per scale
// element (and never again in a replay when the scale is a constant), and the
// loops are compiled for each pattern of single and full operands, summed or
// not, as Eigen expressions so that they vectorise.
struct LocScaleNode : Node {
  const double* x;
  const double* loc;
  const double* scale;
  double* inverse_scale;  // scale_size elements each
  double* log_scale;
  double* work;  // n elements for the vectorised backward pass
  const double* y;
  double* gx;
  double* gloc;
  double* gscale;
  const double* gy;
  std::int64_t n, scale_size;
  bool scale_varies;  // recompute the two scale buffers in each forward pass
};

inline void scale_terms(const LocScaleNode& nd) {
  for (std::int64_t i = 0; i < nd.scale_size; ++i) {
    nd.inverse_scale[i] = 1.0 / nd.scale[i];
    nd.log_scale[i] = std::log(nd.scale[i]);
  }
}

// An operand read with stride S: the array itself (1) or its one element repeated (0).
template <int S>
auto operand(const double* p, Eigen::Index n) {
  if constexpr (S == 1) return ConstArray(p, n);
  else return Eigen::ArrayXd::Constant(n, *p);
}

// Adds `term` into a gradient read with stride S (a stride-0 gradient takes the sum).
template <int S, class Term>
void accumulate(double* g, Eigen::Index n, const Term& term) {
  if constexpr (S == 1) MutableArray(g, n) += term;
  else g[0] += term.sum();
}

// Below this size Eigen's vectorised set-up costs more than plain loops save.
inline constexpr std::int64_t kVectorMinimum = 32;

// SX, SL, SS: strides of x, loc and scale (0 for a single element, 1 for a full array).
template <class Family, int SX, int SL, int SS, bool Sum>
void loc_scale_forward(const Node& base) {
  const auto& nd = static_cast<const LocScaleNode&>(base);
  if (nd.scale_varies) scale_terms(nd);
  double* y = const_cast<double*>(nd.y);
  if (nd.n < kVectorMinimum) {
    double total = 0.0;
    for (std::int64_t i = 0; i < nd.n; ++i) {
      const double z = (nd.x[i * SX] - nd.loc[i * SL]) * nd.inverse_scale[i * SS];
      const double lp = Family::phi(z) - nd.log_scale[i * SS];
      if constexpr (Sum) total += lp;
      else y[i] = lp;
    }
    if constexpr (Sum) y[0] = total;
    return;
  }
  const Eigen::Index n = nd.n;
  const auto z = (operand<SX>(nd.x, n) - operand<SL>(nd.loc, n)) * operand<SS>(nd.inverse_scale, n);
  const auto lp = Family::phi(z) - operand<SS>(nd.log_scale, n);
  if constexpr (Sum) y[0] = lp.sum();
  else MutableArray(y, n) = lp;
}

template <class Family, int SX, int SL, int SS, bool Sum>
void loc_scale_backward(const Node& base) {
  const auto& nd = static_cast<const LocScaleNode&>(base);
  if (nd.n < kVectorMinimum) {
    for (std::int64_t i = 0; i < nd.n; ++i) {
      const double inv = nd.inverse_scale[i * SS];
      const double z = (nd.x[i * SX] - nd.loc[i * SL]) * inv;
      const double g = nd.gy[Sum ? 0 : i] * inv, d = Family::dphi(z);
      if (nd.gx) nd.gx[i * SX] += g * d;
      if (nd.gloc) nd.gloc[i * SL] -= g * d;
      if (nd.gscale) nd.gscale[i * SS] -= g * (d * z + 1.0);
    }
    return;
  }
  const Eigen::Index n = nd.n;
  const auto inv = operand<SS>(nd.inverse_scale, n);
  const auto z = (operand<SX>(nd.x, n) - operand<SL>(nd.loc, n)) * inv;
  const auto g = operand<Sum ? 0 : 1>(nd.gy, n) * inv;
  MutableArray w(nd.work, n);  // d log p / d x, evaluated once
  w = g * Family::dphi(z);
  if (nd.gx) accumulate<SX>(nd.gx, n, w);
  if (nd.gloc) accumulate<SL>(nd.gloc, n, -w);
  if (nd.gscale) accumulate<SS>(nd.gscale, n, -(w * z + g));
}

using NodeFunctions = std::array<void (*)(const Node&), 2>;

template <class Family, std::size_t Pattern>
constexpr NodeFunctions loc_scale_functions() {
  constexpr int sx = (Pattern >> 3) & 1, sl = (Pattern >> 2) & 1, ss = (Pattern >> 1) & 1;
  constexpr bool sum = Pattern & 1;
  return {&loc_scale_forward<Family, sx, sl, ss, sum>, &loc_scale_backward<Family, sx, sl, ss, sum>};
}

template <class Family, std::size_t... Pattern>
constexpr std::array<NodeFunctions, 16> loc_scale_table(std::index_sequence<Pattern...>) {
  return {loc_scale_functions<Family, Pattern>()...};
}

template <class Family>
Tensor loc_scale_log_density(const Tensor& x, const Tensor& loc, const Tensor& scale, bool sum,
                             const char* name) {
  static constexpr auto table = loc_scale_table<Family>(std::make_index_sequence<16>());
  const auto operands = full_or_single({x, loc, scale}, name);
  const auto& [xs, locs, scales] = operands;
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, xs, locs, scales);
  const Shape elementwise = result_shape(operands);
  Tensor y = Access::result(sum ? Shape{} : elementwise, grad);
  const std::size_t pattern =
      (xs.size() != 1) * 8 + (locs.size() != 1) * 4 + (scales.size() != 1) * 2 + sum;
  const auto [forward, backward] = table[pattern];
  LocScaleNode local;
  auto& node = tape.node_for(grad, local, forward, backward);
  node.x = Access::data(xs);
  node.loc = Access::data(locs);
  node.scale = Access::data(scales);
  node.scale_size = scales.size();
  node.scale_varies = Access::grad(scales) != nullptr;
  const Tensor terms = Access::result(Shape{2 * node.scale_size}, false);
  node.inverse_scale = Access::data(terms);
  node.log_scale = node.inverse_scale + node.scale_size;
  if (!node.scale_varies) scale_terms(node);
  node.work = grad && elementwise.numel() >= kVectorMinimum ? tape.allocate_doubles(elementwise.numel()) : nullptr;
  node.y = Access::data(y);
  node.gx = Access::grad(xs);
  node.gloc = Access::grad(locs);
  node.gscale = Access::grad(scales);
  node.gy = Access::grad(y);
  node.n = elementwise.numel();
  forward(node);
  return y;
}

// y log sigmoid(eta) + (1 - y) log sigmoid(-eta) = y eta - softplus(eta). The
// forward pass keeps sigmoid(eta), computed from the same exponential as the
// softplus, so the backward pass needs no transcendental function.
struct BernoulliLogitNode : Node {
  const double* y;
  const double* eta;
  const double* out;
  double* sigmoid;
  double* g_eta;
  const double* g_out;
  std::int64_t n;
  std::int64_t y_stride, eta_stride, out_stride;  // out_stride 0: summed
};

inline void bernoulli_logit_forward(const Node& base) {
  const auto& nd = static_cast<const BernoulliLogitNode&>(base);
  double* out = const_cast<double*>(nd.out);
  if (nd.out_stride == 0) out[0] = 0.0;
  for (std::int64_t i = 0; i < nd.n; ++i) {
    const double eta = nd.eta[i * nd.eta_stride], e = std::exp(-std::abs(eta));
    // y eta - max(eta, 0) is exact for y in {0, 1}; subtracting log1p last keeps
    // tiny log probabilities such as log sigmoid(40) instead of rounding them to 0.
    const double lp = (nd.y[i * nd.y_stride] * eta - std::max(eta, 0.0)) - std::log1p(e);
    if (nd.out_stride) out[i] = lp;
    else out[0] += lp;
    if (nd.sigmoid) nd.sigmoid[i] = (eta >= 0.0 ? 1.0 : e) / (1.0 + e);
  }
}

inline void bernoulli_logit_backward(const Node& base) {
  const auto& nd = static_cast<const BernoulliLogitNode&>(base);
  for (std::int64_t i = 0; i < nd.n; ++i)
    nd.g_eta[i * nd.eta_stride] += nd.g_out[i * nd.out_stride] * (nd.y[i * nd.y_stride] - nd.sigmoid[i]);
}

inline Tensor bernoulli_logit(const Tensor& y, const Tensor& logits, bool sum) {
  const Shape out = broadcast_shapes(y.shape(), logits.shape(), "bernoulli_logit_log_mass");
  const Tensor ys = y.size() == 1 || y.shape() == out ? y : broadcast_to(y, out);
  const Tensor etas = logits.size() == 1 || logits.shape() == out ? logits : broadcast_to(logits, out);
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, etas);
  Access::check_live(ys);
  if (Access::grad(ys) && tape.recording())
    throw std::invalid_argument(
        "tyche: bernoulli_logit_log_mass: the outcomes y must be data, not depend on parameters");
  Tensor result = Access::result(sum ? Shape{} : out, grad);
  BernoulliLogitNode local;
  auto& node = tape.node_for(grad, local, &bernoulli_logit_forward, &bernoulli_logit_backward);
  node.y = Access::data(ys);
  node.eta = Access::data(etas);
  node.out = Access::data(result);
  node.sigmoid = grad ? tape.allocate_doubles(out.numel()) : nullptr;
  node.g_eta = Access::grad(etas);
  node.g_out = Access::grad(result);
  node.n = out.numel();
  node.y_stride = ys.size() == 1 ? 0 : 1;
  node.eta_stride = etas.size() == 1 ? 0 : 1;
  node.out_stride = sum ? 0 : 1;
  bernoulli_logit_forward(node);
  return result;
}

}  // namespace detail

// log N(x | loc, scale), elementwise with broadcasting; the _sum form returns
// the sum over all elements as one node (what a log joint needs).
inline Tensor normal_log_density(const Tensor& x, const Tensor& loc, const Tensor& scale) {
  return detail::loc_scale_log_density<detail::StandardNormal>(x, loc, scale, false, "normal_log_density");
}
inline Tensor normal_log_density_sum(const Tensor& x, const Tensor& loc, const Tensor& scale) {
  return detail::loc_scale_log_density<detail::StandardNormal>(x, loc, scale, true, "normal_log_density");
}

// log Cauchy(x | loc, scale), elementwise with broadcasting, and its sum.
inline Tensor cauchy_log_density(const Tensor& x, const Tensor& loc, const Tensor& scale) {
  return detail::loc_scale_log_density<detail::StandardCauchy>(x, loc, scale, false, "cauchy_log_density");
}
inline Tensor cauchy_log_density_sum(const Tensor& x, const Tensor& loc, const Tensor& scale) {
  return detail::loc_scale_log_density<detail::StandardCauchy>(x, loc, scale, true, "cauchy_log_density");
}

// log Bernoulli(y | sigmoid(logits)) for y in {0, 1}, elementwise with
// broadcasting, and its sum. The gradient flows to the logits only: y is data.
inline Tensor bernoulli_logit_log_mass(const Tensor& y, const Tensor& logits) {
  return detail::bernoulli_logit(y, logits, false);
}
inline Tensor bernoulli_logit_log_mass_sum(const Tensor& y, const Tensor& logits) {
  return detail::bernoulli_logit(y, logits, true);
}

}  // namespace tyche
