// Broadcast iteration: walks the elements of a broadcast result together with
// the matching element offsets of each input (a stride of 0 repeats an input).
//
//   auto plan = tyche::detail::BroadcastPlan<2>::make({a.shape(), b.shape()}, "add");
//   plan.for_each([&](std::int64_t i, const auto& at) { out[i] = pa[at[0]] + pb[at[1]]; });
#pragma once

#include <array>
#include <cstdint>

#include "tyche/core/shape.hpp"

namespace tyche::detail {

using Strides = std::array<std::int64_t, kMaxRank>;

// Strides of `input` read as an array of `out`'s shape (0 on broadcast axes).
inline Strides broadcast_strides(const Shape& input, const Shape& out) {
  Strides strides{};
  std::int64_t stride = 1;
  for (int i = input.rank() - 1, o = out.rank() - 1; i >= 0; --i, --o) {
    strides[std::size_t(o)] = input[i] == 1 ? 0 : stride;
    stride *= input[i];
  }
  return strides;
}

template <int K>
struct BroadcastPlan {
  Shape out;
  std::array<Strides, K> strides;

  static BroadcastPlan make(const std::array<Shape, K>& inputs, const char* op) {
    BroadcastPlan plan;
    plan.out = inputs[0];
    for (int k = 1; k < K; ++k) plan.out = broadcast_shapes(plan.out, inputs[k], op);
    for (int k = 0; k < K; ++k) plan.strides[k] = broadcast_strides(inputs[k], plan.out);
    return plan;
  }

  // f(i, offsets): i runs over the result in row-major order.
  template <class F>
  void for_each(F&& f) const {
    const int rank = out.rank();
    const std::int64_t n = out.numel();
    if (n == 0) return;
    std::array<std::int64_t, K> at{};
    if (rank == 0) {
      f(std::int64_t{0}, at);
      return;
    }
    const std::int64_t inner = out[rank - 1];
    std::array<std::int64_t, K> inner_stride;
    for (int k = 0; k < K; ++k) inner_stride[k] = strides[k][std::size_t(rank - 1)];
    Strides index{};
    for (std::int64_t i = 0; i < n;) {
      std::array<std::int64_t, K> cursor = at;
      for (std::int64_t j = 0; j < inner; ++j, ++i) {
        f(i, cursor);
        for (int k = 0; k < K; ++k) cursor[k] += inner_stride[k];
      }
      for (int axis = rank - 2; axis >= 0; --axis) {
        const auto a = std::size_t(axis);
        for (int k = 0; k < K; ++k) at[k] += strides[k][a];
        if (++index[a] < out[axis]) break;
        for (int k = 0; k < K; ++k) at[k] -= strides[k][a] * out[axis];
        index[a] = 0;
      }
    }
  }
};

}  // namespace tyche::detail
