// Fused log densities: the log density of a common distribution, elementwise
// with broadcasting, as one tape node instead of a dozen. The distributions
// layer is built on these; they are here because they are plain arithmetic.
//
//   tyche::Tensor y{28.0, 8.0}, theta{1.0, 2.0}, sigma{15.0, 10.0};
//   auto lp = tyche::normal_log_density(y, theta, sigma);       // shape (2,)
//   auto total = tyche::normal_log_density_sum(y, theta, sigma); // rank 0, one node
//   auto ll = tyche::bernoulli_logit_log_mass_sum(tyche::Tensor{1.0, 0.0}, theta);
//   auto lc = tyche::poisson_log_rate_log_mass_sum(tyche::Tensor{3.0, 0.0}, theta); // k, log rate
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "tyche/core/blocked.hpp"
#include "tyche/core/elementwise.hpp"
#include "tyche/core/fma.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/special.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

inline constexpr double kLogSqrtTwoPi = 0.91893853320467274178;  // log(sqrt(2 pi))

// Location-scale families: log p(x) = phi(z) - log(scale) with z = (x - loc) / scale
// and phi(z) = kFactor * core(z) + kConstant. A summed density adds up core(z)
// alone and applies the factor and the constants once. slope(z) = -phi'(z).
// Each is written once for doubles and for Eigen array expressions.
struct StandardNormal {
  static constexpr std::uint8_t kFamily = 0;  // LocScaleNode::family
  static constexpr double kFactor = -0.5, kConstant = -kLogSqrtTwoPi;
  template <class Z>
  static auto core(const Z& z) { return z * z; }
  template <class Z>
  static auto slope(const Z& z) { return z; }
};
struct StandardCauchy {
  static constexpr std::uint8_t kFamily = 1;
  static constexpr double kFactor = -1.0, kConstant = -1.14472988584940017414;  // -log(pi)
  template <class Z>
  static auto core(const Z& z) {
    using Eigen::log1p, std::log1p;
    return log1p(z * z);
  }
  template <class Z>
  static auto slope(const Z& z) { return 2.0 * z / (1.0 + z * z); }
};

// One node per density: 1 / scale and log(scale) are computed once per scale
// element (and never again in a replay when the scale is a constant), and the
// loops are compiled for each pattern of single and full operands, summed or
// not, over SIMD blocks (blocked.hpp) so that they vectorise.
struct LocScaleNode : Node {
  const double* x;
  const double* loc;
  const double* scale;
  double* inverse_scale;  // scale_size elements each
  double* log_scale;      // then their sum
  const double* y;
  double* gx;
  double* gloc;
  double* gscale;
  const double* gy;
  std::int64_t n, scale_size;
  // The half families (summed only): log 2 added per element, and the
  // x_checked elements of x must be > 0, their support (0: no check).
  double shift;
  std::int64_t x_checked;
  int pattern;           // 8 SX + 4 SL + 2 SS + summed (the strides are below)
  bool scale_varies;     // recompute the scale terms in each forward pass
  std::uint8_t family;   // Family::kFamily, for set_compiled_kernels
};

TYCHE_NOINLINE void scale_terms(const LocScaleNode& nd) {
  double log_scale_sum = 0.0;
  for (std::int64_t i = 0; i < nd.scale_size; ++i) {
    nd.inverse_scale[i] = 1.0 / nd.scale[i];
    nd.log_scale[i] = std::log(nd.scale[i]);
    log_scale_sum += nd.log_scale[i];
  }
  nd.log_scale[nd.scale_size] = log_scale_sum;
}

// The sum of log(scale) over the n elements of a summed density.
template <int SS>
double total_log_scale(const LocScaleNode& nd) {
  return SS == 0 ? double(nd.n) * nd.log_scale[0] : nd.log_scale[nd.scale_size];
}

// The value of a density over a block: core(z) added into sums[0] when summed
// (summed_value applies the factor and the constants once), else stored.
template <class Family, int SS, bool Sum, int W, class Sums>
TYCHE_ALWAYS_INLINE void add_value(const Block<W>& z, double* y, const double* log_scale, std::int64_t i,
                                   Sums& sums) {
  if constexpr (Sum)
    sums[0] += Family::core(z);
  else
    store<W>(y, i, Family::kFactor * Family::core(z) + Family::kConstant - strided<SS>(log_scale).template at<W>(i));
}

// A half family's x is re-checked in every forward pass, because a replay
// skips the checks made while recording (x may be computed from parameters):
// an x outside the support (<= 0) makes the sum -infinity, never a finite wrong number.
template <class Family, int SS>
double summed_value(const LocScaleNode& nd, double core_sum) {
  if (nd.x_checked && !std::all_of(nd.x, nd.x + nd.x_checked, [](double v) { return v > 0.0; }))
    return -std::numeric_limits<double>::infinity();
  return Family::kFactor * core_sum + double(nd.n) * (Family::kConstant + nd.shift) - total_log_scale<SS>(nd);
}

// What a kernel computes: the value (forward), the gradient (backward), or
// both for a gradient seed of exactly 1 (a node's unit_seed: core/compiled.hpp).
enum class Pass { value, gradient, value_and_unit_gradient };

// The output's gradient as the kernel reads it: none in the value pass (gy may
// be null there), the constant 1 for a unit seed.
template <int S, Pass P>
Strided<S> seed(const double* gy) {
  if constexpr (P == Pass::value_and_unit_gradient) {
    static_assert(S == 0, "a unit seed is for a summed result");
    return {1.0};
  } else if constexpr (P == Pass::value) {
    return {};
  } else {
    return strided<S>(gy);
  }
}

// Adds (Sign 1) or subtracts (Sign -1) `term` into the block of a full
// gradient; a single one takes the sum afterwards.
template <int W, int S, int Sign = 1>
void add_block(double* g, std::int64_t i, const Block<W>& term) {
  if constexpr (S == 1) {
    if (g == nullptr) return;
    if constexpr (Sign > 0) store<W>(g, i, load<W>(g, i) + term);
    else store<W>(g, i, load<W>(g, i) - term);
  }
}

// SX, SL, SS: strides of x, loc and scale (0 for a single element, 1 for a full
// array). SingleGrads: whether a single operand has a gradient (the sums
// over elements it needs are skipped otherwise, as for a prior whose location
// and scale are constants). The kernels copy the node's fields into locals
// first, so that the inlined loops keep them in registers.
//
// The arithmetic is arranged so that a unit-seeded normal density costs what a
// hand-written one does: per element, z and its square for the value, and
// r = z / scale (d log p / d loc) for every gradient; no negations.
template <class Family, int SX, int SL, int SS, bool Sum, Pass P, bool SingleGrads = true>
void loc_scale_kernel(const Node& base) {
  constexpr bool value = P != Pass::gradient, gradient = P != Pass::value;
  const auto& nd = static_cast<const LocScaleNode&>(base);
  if (value && nd.scale_varies) scale_terms(nd);
  const auto x = strided<SX>(nd.x);  // one declaration each: the types differ (clang rejects a shared auto)
  const auto loc = strided<SL>(nd.loc);
  const auto inverse_scale = strided<SS>(nd.inverse_scale);
  const double* log_scale = nd.log_scale;
  const auto gy = seed<Sum ? 0 : 1, P>(nd.gy);
  double* y = const_cast<double*>(nd.y);
  double *gx = nd.gx, *gloc = nd.gloc, *gscale = nd.gscale;
  const auto [core_sum, r_sum, dscale_sum] = blocked<3, SX + SL + SS == 0>(nd.n, [=]<int W>(std::int64_t i, auto& sums) {
    const Block<W> inv = inverse_scale.template at<W>(i);
    const Block<W> z = (x.template at<W>(i) - loc.template at<W>(i)) * inv;
    if constexpr (value) add_value<Family, SS, Sum, W>(z, y, log_scale, i, sums);
    if constexpr (gradient) {
      const Block<W> g = gy.template at<W>(i) * inv;
      const Block<W> r = g * Family::slope(z);  // d log p / d loc = -d log p / d x
      const Block<W> dscale = r * z - g;        // d log p / d scale
      add_block<W, SX, -1>(gx, i, r);
      add_block<W, SL>(gloc, i, r);
      add_block<W, SS>(gscale, i, dscale);
      if constexpr (SingleGrads && (SX == 0 || SL == 0)) sums[1] += r;
      if constexpr (SingleGrads && SS == 0) sums[2] += dscale;
    }
  });
  if constexpr (value && Sum) y[0] = summed_value<Family, SS>(nd, core_sum);
  if constexpr (gradient) {
    if (SX == 0 && gx) gx[0] -= r_sum;
    if (SL == 0 && gloc) gloc[0] += r_sum;
    if (SS == 0 && gscale) gscale[0] += dscale_sum;
  }
}

using NodeFunctions = std::array<void (*)(const Node&), 2>;

// A single x with a full location never gets here: it takes the kernels of a
// full x and a single location, with the two exchanged (exchanges_x_and_loc).
template <std::size_t Pattern>
constexpr bool exchanged_pattern = ((Pattern >> 2) & 0b11) == 0b01;

// Nor does a density of single elements only (n = 1): it takes the kernels
// of full arrays, which read and write the same element 0, at the cost of a
// loop of one element (kernel_pattern). Its unit kernel stays its own.
template <std::size_t Pattern>
constexpr bool all_single_pattern = (Pattern >> 1) == 0;

template <class Family, std::size_t Pattern>
constexpr NodeFunctions loc_scale_functions() {
  constexpr int sx = (Pattern >> 3) & 1, sl = (Pattern >> 2) & 1, ss = (Pattern >> 1) & 1;
  constexpr bool sum = Pattern & 1;
  if constexpr (exchanged_pattern<Pattern> || all_single_pattern<Pattern>) return {nullptr, nullptr};
  else return {&loc_scale_kernel<Family, sx, sl, ss, sum, Pass::value>,
               &loc_scale_kernel<Family, sx, sl, ss, sum, Pass::gradient>};
}

template <class Family, std::size_t... Pattern>
constexpr std::array<NodeFunctions, 16> loc_scale_table(std::index_sequence<Pattern...>) {
  return {loc_scale_functions<Family, Pattern>()...};
}

using Kernel = void (*)(const Node&);

template <class Family, std::size_t Pattern>
constexpr Kernel loc_scale_unit_kernel() {
  if constexpr (exchanged_pattern<Pattern>) return nullptr;
  else return &loc_scale_kernel<Family, (Pattern >> 3) & 1, (Pattern >> 2) & 1, (Pattern >> 1) & 1, true,
                                Pass::value_and_unit_gradient, bool(Pattern & 1)>;
}

// For the summed patterns (index: 8 SX + 4 SL + 2 SS + SingleGrads).
template <class Family, std::size_t... Pattern>
constexpr std::array<Kernel, 16> loc_scale_unit_table(std::index_sequence<Pattern...>) {
  return {loc_scale_unit_kernel<Family, Pattern>()...};
}

// A density whose location is an fma, a * b + c with a and c single and b
// full (mu + tau * theta_tilde, alpha + beta * x): the shape of every
// regression and hierarchical model. One node computes the location, the
// density and all their gradients in one pass each way, instead of two nodes
// making five passes and an extra dispatch each way. A compiled gradient
// builds it (absorb_fma) when nothing but the density reads the location.
struct AffineLocScaleNode : LocScaleNode {
  const double* a;
  const double* b;
  const double* c;
  double* ga;
  double* gb;
  double* gc;
};

// Nothing else reads the location (compiled.hpp checks), so a unit-seeded
// pass neither stores it nor reads its gradient.
template <class Family, int SX, int SS, bool Sum, Pass P>
void affine_loc_scale_kernel(const Node& base) {
  constexpr bool value = P != Pass::gradient, gradient = P != Pass::value;
  constexpr bool unit = P == Pass::value_and_unit_gradient;
  const auto& nd = static_cast<const AffineLocScaleNode&>(base);
  if (value && nd.scale_varies) scale_terms(nd);
  const double a = *nd.a, c = *nd.c;
  const auto x = strided<SX>(nd.x);
  const auto b = strided<1>(nd.b);
  const auto loc_values = strided<1>(nd.loc);
  const auto inverse_scale = strided<SS>(nd.inverse_scale);
  const double* log_scale = nd.log_scale;
  const auto gloc = strided<1>(nd.gloc);
  const auto gy = seed<Sum ? 0 : 1, P>(nd.gy);
  double* loc = const_cast<double*>(nd.loc);
  double* y = const_cast<double*>(nd.y);
  double *gx = nd.gx, *gb = nd.gb, *gscale = nd.gscale;
  // Sums: core(z) for the value, the location's total gradient (for c), times
  // b (for a), and the scale's gradient and x's when they are single elements.
  const auto [core_sum, dloc_sum, dloc_b_sum, dscale_sum, r_sum] =
      blocked<5>(nd.n, [=]<int W>(std::int64_t i, auto& sums) {
        Block<W> l;
        if constexpr (value) {
          l = a * b.template at<W>(i) + c;
          if constexpr (!unit) store<W>(loc, i, l);
        } else {
          l = loc_values.template at<W>(i);
        }
        const Block<W> inv = inverse_scale.template at<W>(i);
        const Block<W> z = (x.template at<W>(i) - l) * inv;
        if constexpr (value) add_value<Family, SS, Sum, W>(z, y, log_scale, i, sums);
        if constexpr (gradient) {
          const Block<W> g = gy.template at<W>(i) * inv;
          const Block<W> r = g * Family::slope(z);  // d log p / d loc = -d log p / d x
          // plus the location's other consumers (none when unit seeded)
          Block<W> d;
          if constexpr (unit) d = r;
          else d = gloc.template at<W>(i) + r;
          const Block<W> dscale = r * z - g;  // d log p / d scale
          add_block<W, 1>(gb, i, a * d);
          add_block<W, SX, -1>(gx, i, r);
          add_block<W, SS>(gscale, i, dscale);
          sums[1] += d;
          sums[2] += d * b.template at<W>(i);
          if constexpr (SS == 0) sums[3] += dscale;
          if constexpr (SX == 0) sums[4] += r;
        }
      });
  if constexpr (value && Sum) y[0] = summed_value<Family, SS>(nd, core_sum);
  if constexpr (gradient) {
    if (nd.ga) nd.ga[0] += dloc_b_sum;
    if (nd.gc) nd.gc[0] += dloc_sum;
    if (SS == 0 && gscale) gscale[0] += dscale_sum;
    if (SX == 0 && gx) gx[0] -= r_sum;
  }
}

template <class Family, std::size_t... Pattern>
constexpr std::array<NodeFunctions, 8> affine_loc_scale_table(std::index_sequence<Pattern...>) {
  return {{{&affine_loc_scale_kernel<Family, (Pattern >> 2) & 1, (Pattern >> 1) & 1, Pattern & 1, Pass::value>,
            &affine_loc_scale_kernel<Family, (Pattern >> 2) & 1, (Pattern >> 1) & 1, Pattern & 1,
                                     Pass::gradient>}...}};
}

// For the summed patterns (index: 2 SX + SS).
template <class Family, std::size_t... Pattern>
constexpr std::array<Kernel, 4> affine_loc_scale_unit_table(std::index_sequence<Pattern...>) {
  return {&affine_loc_scale_kernel<Family, (Pattern >> 1) & 1, Pattern & 1, true, Pass::value_and_unit_gradient>...};
}

// The density's location, when it is a full array that an fma may compute.
inline const double* full_location(const Node& node) {
  const auto& nd = static_cast<const LocScaleNode&>(node);
  return nd.pattern & 0b0100 ? nd.loc : nullptr;
}

// The fused node for a density (a LocScaleNode) and the fma computing its
// location: a and c single and b full, or a and b the other way round.
template <class Family>
const Node* absorb_fma(const Node& node, const FmaNode& fma, NodeStore& store) {
  static constexpr auto table = affine_loc_scale_table<Family>(std::make_index_sequence<8>());
  static constexpr auto unit_table = affine_loc_scale_unit_table<Family>(std::make_index_sequence<4>());
  const auto& density = static_cast<const LocScaleNode&>(node);
  if ((fma.pattern != 0b010 && fma.pattern != 0b100) || fma.y != density.loc || fma.n != density.n) return nullptr;
  auto& fused = store.make<AffineLocScaleNode>();
  static_cast<LocScaleNode&>(fused) = density;
  const bool a_single = fma.pattern == 0b010;  // else b is the single factor: swap them
  fused.a = a_single ? fma.a : fma.b;
  fused.b = a_single ? fma.b : fma.a;
  fused.c = fma.c;
  fused.ga = a_single ? fma.ga : fma.gb;
  fused.gb = a_single ? fma.gb : fma.ga;
  fused.gc = fma.gc;
  const bool sum = density.pattern & 1;
  const std::size_t pattern = std::size_t((density.pattern >> 3) & 1) * 4 + std::size_t((density.pattern >> 1) & 1) * 2 + sum;
  fused.forward = table[pattern][0];
  fused.backward = table[pattern][1];
  fused.unit_seed = sum ? unit_table[pattern >> 1] : nullptr;
  fused.absorbs_fma = nullptr;
  fused.kind = NodeKind::other;  // its kernels are set: set_compiled_kernels leaves it alone
  // Reads x, the scale and the fma's operands; writes the density.
  Operand* operands = store.operands(6);
  operands[0] = density.operands[0];
  operands[1] = density.operands[2];
  std::copy(fma.inputs_begin(), fma.inputs_end(), operands + 2);
  operands[5] = density.operands[3];
  fused.operands = operands;
  fused.input_count = 5;
  fused.output_count = 1;
  return &fused;
}

template <class Family>
inline constexpr FmaAbsorption kLocScaleAbsorption{&full_location, &absorb_fma<Family>};

// Sets the fields of a density node over operands from full_or_single, with
// y the array its forward pass writes. `scale_terms_buffer` receives the
// buffer of 1 / scale and log(scale), which must outlive the node's runs (off
// the tape it is not in the arena).
inline void fill_loc_scale_node(LocScaleNode& node, const std::array<Tensor, 3>& operands, const Tensor& y,
                                Tensor& scale_terms_buffer, bool half) {
  const auto& [xs, locs, scales] = operands;
  const std::int64_t n = result_shape(operands).numel();
  node.x = Access::data(xs);
  node.loc = Access::data(locs);
  node.scale = Access::data(scales);
  node.scale_size = scales.size();
  node.scale_varies = Access::grad(scales) != nullptr;
  scale_terms_buffer = Access::result(Shape{2 * node.scale_size + 1}, false);
  node.inverse_scale = Access::data(scale_terms_buffer);
  node.log_scale = node.inverse_scale + node.scale_size;
  if (!node.scale_varies) scale_terms(node);
  node.y = Access::data(y);
  node.gx = Access::grad(xs);
  node.gloc = Access::grad(locs);
  node.gscale = Access::grad(scales);
  node.gy = Access::grad(y);
  node.n = n;
  node.shift = half ? std::numbers::ln2 : 0.0;
  node.x_checked = half ? xs.size() : 0;
}

// The kernels that only a compiled gradient runs (a summed density seeded with a
// gradient of 1, a density absorbing the fma that computes its location) are
// set on a recorded node when compile_gradient plans its replay, not when the
// node is recorded: a program that never compiles a gradient never compiles
// them (more than half of a family's kernels).
template <class Family>
void set_compiled_kernels_of(LocScaleNode& node) {
  static constexpr auto unit_table = loc_scale_unit_table<Family>(std::make_index_sequence<16>());
  const int pattern = node.pattern;
  const bool single_grads = (!(pattern & 0b1000) && node.gx) || (!(pattern & 0b0100) && node.gloc) ||
                            (!(pattern & 0b0010) && node.gscale);
  if (pattern & 1) node.unit_seed = unit_table[std::size_t(pattern >> 1) * 2 + single_grads];
  node.absorbs_fma = &kLocScaleAbsorption<Family>;
}

// Called by compile_gradient on each recorded node (a template so that only a
// program that compiles a gradient instantiates it).
template <class = void>
void set_compiled_kernels(Node& node) {
  if (node.kind != NodeKind::loc_scale_density) return;
  auto& density = static_cast<LocScaleNode&>(node);
  switch (density.family) {
    case StandardNormal::kFamily: return set_compiled_kernels_of<StandardNormal>(density);
    case StandardCauchy::kFamily: return set_compiled_kernels_of<StandardCauchy>(density);
  }
}

// With a single x and a full location, the kernels are given the location as
// x and x as the location (and their gradients): z and d log p / d loc change
// sign, which every family's core (even) and slope (odd) undo exactly, so
// that the pattern needs no kernels of its own. (Such a density does not
// absorb an fma computing its location: a single observation of a whole
// regression is rare enough.)
inline bool exchanges_x_and_loc(const std::array<Tensor, 3>& operands) {
  return operands[0].size() == 1 && operands[1].size() != 1;
}

template <class Family>
Tensor loc_scale_log_density(const Tensor& x, const Tensor& loc, const Tensor& scale, bool sum,
                             const char* name, bool half = false) {
  static constexpr auto table = loc_scale_table<Family>(std::make_index_sequence<16>());
  const auto operands = full_or_single({x, loc, scale}, name);
  const auto& [xs, locs, scales] = operands;
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, xs, locs, scales);
  const bool exchange = exchanges_x_and_loc(operands);
  const std::size_t pattern =
      (xs.size() != 1 || exchange) * 8 + (locs.size() != 1 && !exchange) * 4 + (scales.size() != 1) * 2 + sum;
  const std::size_t kernel_pattern = pattern >> 1 == 0 ? 0b1110 + sum : pattern;
  const auto [forward, backward] = table[kernel_pattern];
  Tensor y = Access::result(sum ? Shape{} : result_shape(operands), grad);
  LocScaleNode local;
  auto& node = tape.node_for(grad, local, forward, backward,
                             {Access::operand(xs), Access::operand(locs), Access::operand(scales)}, {Access::operand(y)});
  node.kind = NodeKind::loc_scale_density;
  node.pattern = int(pattern);
  node.family = Family::kFamily;
  Tensor terms;
  fill_loc_scale_node(node, exchange ? std::array<Tensor, 3>{locs, xs, scales} : operands, y, terms, half);
  forward(node);
  return y;
}

// Counts whose log mass is linear in a natural parameter eta (the logit of a
// Bernoulli or binomial, the log rate of a Poisson), as one node:
//   log p(k) = k eta - n A(eta) + c(k, n),
// Bernoulli: n = 1,        A = softplus, c = 0 (k in {0, 1})
// binomial:  n trials,     A = softplus, c = lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
// Poisson:   n = 1,        A = exp,      c = -lgamma(k + 1).
// No probability or rate is formed, so that no intermediate overflows or
// underflows to 0 for large |eta| (Stan's bernoulli_logit, binomial_logit and
// poisson_log). The forward pass keeps n A'(eta) (for the softplus, the
// sigmoid, from the same exponential), so that the backward pass,
// d log p / d eta = k - n A'(eta), needs no transcendental function.
// k and n are data: c(k, n) is computed once, when the node is made (summed
// for a summed node).
struct CountLogMassNode : Node {
  const double* k;
  const double* trials;     // null for one trial
  const double* eta;
  const double* out;
  const double* constants;  // c(k, n) per element (element-wise nodes of a family with c)
  double* expected;         // n A'(eta) per element, or null without a gradient
  double* g_eta;
  const double* g_out;
  double constant;          // the sum of c(k, n) (summed nodes)
  std::int64_t n;
  std::int64_t k_stride, trials_stride, eta_stride, out_stride;  // out_stride 0: summed
};

// Each family's kernel(k, n, eta, expected) is k eta - n A(eta), and sets
// expected; kHasConstant: whether c(k, n) is not 0.
struct BinomialLogitFamily {
  static constexpr bool kHasConstant = true;
  static constexpr const char* kData = "the counts (and numbers of trials)";
  // n softplus(eta) = n max(eta, 0) + n log1p(e^-|eta|), the sigmoid from the
  // same exponential. k eta - n max(eta, 0) is formed first: at k = n (or 0)
  // and a large |eta| it is exactly 0, so that a tiny log mass such as
  // -n e^-50 (or log sigmoid(40)) is kept instead of being rounded to 0.
  static double kernel(double k, double trials, double eta, double& expected) {
    const double e = std::exp(-std::abs(eta));
    expected = trials * (eta >= 0.0 ? 1.0 : e) / (1.0 + e);
    return (k * eta - trials * std::max(eta, 0.0)) - trials * std::log1p(e);
  }
  static double constant(double k, double trials) {
    return special::lgamma<>(trials + 1.0) - special::lgamma<>(k + 1.0) - special::lgamma<>(trials - k + 1.0);
  }
};
struct BernoulliLogitFamily {
  static constexpr bool kHasConstant = false;
  static constexpr const char* kData = "the outcomes y";
  static double kernel(double k, double, double eta, double& expected) {
    return BinomialLogitFamily::kernel(k, 1.0, eta, expected);
  }
};
struct PoissonLogFamily {
  static constexpr bool kHasConstant = true;
  static constexpr const char* kData = "the counts (and numbers of trials)";
  static double kernel(double k, double, double eta, double& expected) {
    expected = std::exp(eta);  // overflows only where the log mass is -infinity anyway
    return k * eta - expected;
  }
  static double constant(double k, double) { return -special::lgamma<>(k + 1.0); }
};

template <class Family>
void count_log_mass_forward(const Node& base) {
  const auto& nd = static_cast<const CountLogMassNode&>(base);
  double* out = const_cast<double*>(nd.out);
  double total = 0.0;
  for (std::int64_t i = 0; i < nd.n; ++i) {
    const double k = nd.k[i * nd.k_stride], eta = nd.eta[i * nd.eta_stride];
    const double trials = nd.trials ? nd.trials[i * nd.trials_stride] : 1.0;
    double expected;
    const double lp = Family::kernel(k, trials, eta, expected);
    if (!nd.out_stride) total += lp;
    else if constexpr (Family::kHasConstant) out[i] = lp + nd.constants[i];
    else out[i] = lp;
    if (nd.expected) nd.expected[i] = expected;
  }
  if (nd.out_stride) return;
  if constexpr (Family::kHasConstant) out[0] = total + nd.constant;
  else out[0] = total;
}

template <class = void>
void count_log_mass_backward(const Node& base) {
  const auto& nd = static_cast<const CountLogMassNode&>(base);
  for (std::int64_t i = 0; i < nd.n; ++i)
    nd.g_eta[i * nd.eta_stride] += nd.g_out[i * nd.out_stride] * (nd.k[i * nd.k_stride] - nd.expected[i]);
}

// trials: null for one trial.
template <class Family, class T = Tensor>
Tensor count_log_mass(const std::type_identity_t<T>& k, const std::type_identity_t<T>* trials,
                      const std::type_identity_t<T>& eta, bool sum, const char* name) {
  const std::array<Tensor, 3> operands = full_or_single({k, trials ? *trials : Tensor(1.0), eta}, name);
  const auto& [ks, ns, etas] = operands;
  const Shape out = result_shape(operands);
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, etas);
  Access::check_live(ks);
  Access::check_live(ns);
  if ((Access::grad(ks) || Access::grad(ns)) && tape.recording())
    throw std::invalid_argument(std::string("tyche: ") + name + ": " + Family::kData +
                                " must be data, not depend on parameters");
  Tensor result = Access::result(sum ? Shape{} : out, grad);
  CountLogMassNode local;
  auto& node = tape.node_for(grad, local, &count_log_mass_forward<Family>, &count_log_mass_backward<>,
                             {Access::operand(ks), Access::operand(ns), Access::operand(etas)},
                             {Access::operand(result)});
  node.k = Access::data(ks);
  node.trials = trials ? Access::data(ns) : nullptr;
  node.eta = Access::data(etas);
  node.out = Access::data(result);
  node.expected = grad ? tape.allocate_doubles(out.numel()) : nullptr;
  node.g_eta = Access::grad(etas);
  node.g_out = Access::grad(result);
  node.n = out.numel();
  node.k_stride = ks.size() == 1 ? 0 : 1;
  node.trials_stride = ns.size() == 1 ? 0 : 1;
  node.eta_stride = etas.size() == 1 ? 0 : 1;
  node.out_stride = sum ? 0 : 1;
  node.constant = 0.0;
  node.constants = nullptr;
  Tensor constants;  // the buffer of c(k, n) per element, which must outlive the node's runs
  if constexpr (Family::kHasConstant) {
    const auto constant = [&](std::int64_t i) {
      return Family::constant(node.k[i * node.k_stride], node.trials ? node.trials[i * node.trials_stride] : 1.0);
    };
    if (sum) {
      for (std::int64_t i = 0; i < node.n; ++i) node.constant += constant(i);
    } else {
      constants = Access::result(out, false);
      double* c = Access::data(constants);
      for (std::int64_t i = 0; i < node.n; ++i) c[i] = constant(i);
      node.constants = c;
    }
  }
  count_log_mass_forward<Family>(node);
  return result;
}

}  // namespace detail

// log N(x | loc, scale), elementwise with broadcasting; the _sum form returns
// the sum over all elements as one node (what a log joint needs).
template <class T = Tensor>
Tensor normal_log_density(const std::type_identity_t<T>& x, const std::type_identity_t<T>& loc,
                          const std::type_identity_t<T>& scale) {
  return detail::loc_scale_log_density<detail::StandardNormal>(x, loc, scale, false, "normal_log_density");
}
template <class T = Tensor>
Tensor normal_log_density_sum(const std::type_identity_t<T>& x, const std::type_identity_t<T>& loc,
                              const std::type_identity_t<T>& scale) {
  return detail::loc_scale_log_density<detail::StandardNormal>(x, loc, scale, true, "normal_log_density");
}

// log Cauchy(x | loc, scale), elementwise with broadcasting, and its sum.
template <class T = Tensor>
Tensor cauchy_log_density(const std::type_identity_t<T>& x, const std::type_identity_t<T>& loc,
                          const std::type_identity_t<T>& scale) {
  return detail::loc_scale_log_density<detail::StandardCauchy>(x, loc, scale, false, "cauchy_log_density");
}
template <class T = Tensor>
Tensor cauchy_log_density_sum(const std::type_identity_t<T>& x, const std::type_identity_t<T>& loc,
                              const std::type_identity_t<T>& scale) {
  return detail::loc_scale_log_density<detail::StandardCauchy>(x, loc, scale, true, "cauchy_log_density");
}

// The summed log densities of |X| for X ~ Normal(0, scale) and X ~ Cauchy(0,
// scale), -infinity when an element of x is not positive (checked again in every
// replay of a compiled gradient).
template <class T = Tensor>
Tensor half_normal_log_density_sum(const std::type_identity_t<T>& x, const std::type_identity_t<T>& scale) {
  return detail::loc_scale_log_density<detail::StandardNormal>(x, 0.0, scale, true, "half_normal_log_density", true);
}
template <class T = Tensor>
Tensor half_cauchy_log_density_sum(const std::type_identity_t<T>& x, const std::type_identity_t<T>& scale) {
  return detail::loc_scale_log_density<detail::StandardCauchy>(x, 0.0, scale, true, "half_cauchy_log_density", true);
}

// log Bernoulli(y | sigmoid(logits)) for y in {0, 1}, elementwise with
// broadcasting, and its sum. The gradient flows to the logits only: y is data.
template <class T = Tensor>
Tensor bernoulli_logit_log_mass(const std::type_identity_t<T>& y, const std::type_identity_t<T>& logits) {
  return detail::count_log_mass<detail::BernoulliLogitFamily, T>(y, nullptr, logits, false,
                                                                 "bernoulli_logit_log_mass");
}
template <class T = Tensor>
Tensor bernoulli_logit_log_mass_sum(const std::type_identity_t<T>& y, const std::type_identity_t<T>& logits) {
  return detail::count_log_mass<detail::BernoulliLogitFamily, T>(y, nullptr, logits, true,
                                                                 "bernoulli_logit_log_mass");
}

// log Poisson(k | exp(log_rate)) = k log_rate - exp(log_rate) - lgamma(k + 1)
// for counts k, elementwise with broadcasting, and its sum (Stan's
// poisson_log). The gradient flows to log_rate only: k is data.
template <class T = Tensor>
Tensor poisson_log_rate_log_mass(const std::type_identity_t<T>& k, const std::type_identity_t<T>& log_rate) {
  return detail::count_log_mass<detail::PoissonLogFamily, T>(k, nullptr, log_rate, false, "poisson_log_rate_log_mass");
}
template <class T = Tensor>
Tensor poisson_log_rate_log_mass_sum(const std::type_identity_t<T>& k, const std::type_identity_t<T>& log_rate) {
  return detail::count_log_mass<detail::PoissonLogFamily, T>(k, nullptr, log_rate, true, "poisson_log_rate_log_mass");
}

// log Binomial(k | total_count, sigmoid(logits)) for 0 <= k <= total_count,
// elementwise with broadcasting, and its sum (Stan's binomial_logit). The
// gradient flows to the logits only: k and total_count are data.
template <class T = Tensor>
Tensor binomial_logit_log_mass(const std::type_identity_t<T>& k, const std::type_identity_t<T>& total_count,
                               const std::type_identity_t<T>& logits) {
  return detail::count_log_mass<detail::BinomialLogitFamily, T>(k, &total_count, logits, false, "binomial_logit_log_mass");
}
template <class T = Tensor>
Tensor binomial_logit_log_mass_sum(const std::type_identity_t<T>& k, const std::type_identity_t<T>& total_count,
                                   const std::type_identity_t<T>& logits) {
  return detail::count_log_mass<detail::BinomialLogitFamily, T>(k, &total_count, logits, true, "binomial_logit_log_mass");
}

}  // namespace tyche
