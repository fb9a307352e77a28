// fma(a, b, c) = a * b + c elementwise with broadcasting, as one tape node. The
// pattern is everywhere in models (mu + tau * theta_tilde, alpha + beta * x),
// and one node instead of two saves an intermediate array and a pass.
//
//   tyche::Tensor tau{2.0}, theta_tilde{0.5, -1.0}, mu{1.0};
//   auto theta = tyche::fma(tau, theta_tilde, mu);   // {2, -1}
#pragma once

#include <array>
#include <type_traits>
#include <utility>

#include "tyche/core/elementwise.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

struct FmaNode : Node {
  const double* a;
  const double* b;
  const double* c;
  const double* y;
  double* ga;
  double* gb;
  double* gc;
  const double* gy;
  std::int64_t n;
  int pattern;  // 4 SA + 2 SB + SC: which operands are full arrays
};

// SA, SB, SC: strides (0 for a single element, 1 for a full array).
template <int SA, int SB, int SC>
void fma_forward(const Node& base) {
  const auto& nd = static_cast<const FmaNode&>(base);
  const double* __restrict a = nd.a;
  const double* __restrict b = nd.b;
  const double* __restrict c = nd.c;
  double* __restrict y = const_cast<double*>(nd.y);
  for (std::int64_t i = 0; i < nd.n; ++i) y[i] = a[i * SA] * b[i * SB] + c[i * SC];
}

// Adds gy * factor into a gradient of stride S (stride 0 takes the sum).
template <int S, class Factor>
void fma_accumulate(double* __restrict g, const double* __restrict gy, std::int64_t n, Factor factor) {
  if constexpr (S == 1)
    for (std::int64_t i = 0; i < n; ++i) g[i] += gy[i] * factor(i);
  else
    g[0] += sum_of(n, [&](std::int64_t i) { return gy[i] * factor(i); });
}

template <int SA, int SB, int SC>
void fma_backward(const Node& base) {
  const auto& nd = static_cast<const FmaNode&>(base);
  const double *a = nd.a, *b = nd.b;
  if (nd.ga) fma_accumulate<SA>(nd.ga, nd.gy, nd.n, [&](std::int64_t i) { return b[i * SB]; });
  if (nd.gb) fma_accumulate<SB>(nd.gb, nd.gy, nd.n, [&](std::int64_t i) { return a[i * SA]; });
  if (nd.gc) fma_accumulate<SC>(nd.gc, nd.gy, nd.n, [](std::int64_t) { return 1.0; });
}

template <std::size_t... Pattern>
constexpr std::array<std::array<void (*)(const Node&), 2>, 8> fma_table(std::index_sequence<Pattern...>) {
  return {{{&fma_forward<(Pattern >> 2) & 1, (Pattern >> 1) & 1, Pattern & 1>,
            &fma_backward<(Pattern >> 2) & 1, (Pattern >> 1) & 1, Pattern & 1>}...}};
}

// A variable template, so that only a program that makes an fma compiles its kernels.
template <class = void>
inline constexpr auto kFmaFunctions = fma_table(std::make_index_sequence<8>());

}  // namespace detail

template <class T = Tensor>
Tensor fma(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b, const std::type_identity_t<T>& c) {
  using namespace detail;
  const auto operands = full_or_single({a, b, c}, "fma");
  const auto& [as, bs, cs] = operands;
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, as, bs, cs);
  Tensor y = Access::result(result_shape(operands), grad);
  const std::size_t pattern = (as.size() != 1) * 4 + (bs.size() != 1) * 2 + (cs.size() != 1);
  const auto [forward, backward] = kFmaFunctions<>[pattern];
  FmaNode local;
  auto& node = tape.node_for(grad, local, forward, backward, {Access::operand(as), Access::operand(bs), Access::operand(cs)},
                             {Access::operand(y)});
  node.kind = NodeKind::fma;
  node.pattern = int(pattern);
  node.a = Access::data(as);
  node.b = Access::data(bs);
  node.c = Access::data(cs);
  node.y = Access::data(y);
  node.ga = Access::grad(as);
  node.gb = Access::grad(bs);
  node.gc = Access::grad(cs);
  node.gy = Access::grad(y);
  node.n = y.size();
  forward(node);
  return y;
}

}  // namespace tyche
