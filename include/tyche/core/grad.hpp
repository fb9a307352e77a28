// Gradients of scalar functions of a flat parameter vector.
//
//   auto f = [](const tyche::Tensor& q) { return tyche::sum(tyche::square(q)); };
//   Eigen::VectorXd x(3), g(3);
//   x << 1, 2, 3;
//   double v = tyche::value_and_grad(f, x, g);   // v = 14, g = (2, 4, 6)
//   auto [value, gradient] = tyche::value_and_grad(f, x);
//
// f receives the parameters as a rank-1 Tensor and must return an array of size 1.
// The three-argument form reuses the caller's gradient vector and, once the
// first call has sized the arena, allocates nothing; call it in a loop.
//
// For hot loops, compile_gradient records f once and replays the recorded
// operations for every later call, without running f, building arrays or
// touching the arena again (the way CppAD tapes and JAX traces):
//
//   auto compiled = tyche::compile_gradient(f, x);
//   double v2 = compiled(x, g);                 // what value_and_grad gives
//
// (bit for bit, except where a returned sum's terms add their gradients in the
// forward sweep, in another order: see plan_final_sum).
//
// The guard: while recording, reading the value of an array that depends on
// the parameters (item(), data(), at(), ...) throws, because a branch taken on
// it would be frozen into the recording; such functions use value_and_grad.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <stdexcept>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tyche/core/blocked.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {

struct ValueAndGrad {
  double value;
  Eigen::VectorXd grad;
};

template <class F>
double value_and_grad(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x,
                      Eigen::Ref<Eigen::VectorXd> grad) {
  if (grad.size() != x.size())
    throw ShapeError("tyche: value_and_grad: gradient vector of length " +
                     std::to_string(grad.size()) + " for " + std::to_string(x.size()) +
                     " parameters");
  detail::RecordingSession session;
  const Tensor parameters = detail::Access::variable(x.data(), x.size());
  const Tensor out = std::forward<F>(f)(parameters);
  detail::Access::check_live(out);
  if (out.size() != 1)
    throw ShapeError("tyche: value_and_grad needs a function returning one value but got shape " +
                     out.shape().str());
  std::fill(grad.data(), grad.data() + grad.size(), 0.0);
  if (double* seed = detail::Access::grad(out)) {
    seed[0] = 1.0;
    session.tape().run_backward();
    grad = Eigen::Map<const Eigen::VectorXd>(detail::Access::grad(parameters), x.size());
  }
  return detail::Access::data(out)[0];
}

template <class F>
ValueAndGrad value_and_grad(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x) {
  ValueAndGrad result{0.0, Eigen::VectorXd(x.size())};
  result.value = value_and_grad(std::forward<F>(f), x, result.grad);
  return result;
}

template <class F>
Eigen::VectorXd grad(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x) {
  return value_and_grad(std::forward<F>(f), x).grad;
}

// A recording of f that replays its operations on new parameter values. Not for
// concurrent use: give each thread (each chain) its own.
template <class F>
class CompiledGradient {
 public:
  CompiledGradient(F f, const Eigen::Ref<const Eigen::VectorXd>& x)
      : f_(std::make_unique<F>(std::move(f))), arenas_(std::make_unique<detail::Arenas>()) {
    // A recording that outgrew the arenas is made again in the grown ones, so
    // that every gradient buffer lies in one block.
    for (int attempt = 0;; ++attempt) {
      record(x);
      if (!arenas_->gradients.overflowed() && !arenas_->values.overflowed()) break;
      if (attempt == 2)
        throw std::logic_error("tyche: compile_gradient: the function allocates differently each time it runs");
    }
  }

  double operator()(const Eigen::Ref<const Eigen::VectorXd>& x, Eigen::Ref<Eigen::VectorXd> grad) {
    if (x.size() != size_ || grad.size() != size_)
      throw ShapeError("tyche: compiled gradient of " + std::to_string(size_) +
                       " parameters called with " + std::to_string(x.size()) +
                       " values and a gradient vector of length " + std::to_string(grad.size()));
    detail::copy_blocks(x.data(), parameters_, size_);
    for (const auto& [first, last] : cleared_) detail::clear_aligned(first, last);
    for (double* g : sum_seeds_) *g += 1.0;
    for (const Step& step : forward_) step.run(*step.node);
    if (value_grad_) {
      value_grad_[0] = 1.0;
      for (auto step = backward_.rbegin(); step != backward_.rend(); ++step) step->run(*step->node);
    }
    detail::copy_blocks(parameter_grad_, grad.data(), size_);
    return value_[0];
  }

  // Operations recorded (views and constants are not).
  std::size_t size() const { return forward_.size(); }

  // Of those, the ones whose gradient is added in the forward sweep.
  std::size_t unit_seeded() const { return unit_seeded_; }

 private:
  void record(const Eigen::Ref<const Eigen::VectorXd>& x) {
    detail::RecordingSession session(*arenas_, /*tracing=*/true);
    const Tensor parameters = detail::Access::variable(x.data(), x.size());
    const Tensor out = (*f_)(parameters);
    detail::Access::check_live(out);
    if (out.size() != 1)
      throw ShapeError(
          "tyche: compile_gradient needs a function returning one value but got shape " +
          out.shape().str());
    std::vector<const detail::Node*> nodes;
    for (const detail::Node* node = session.tape().last(); node; node = node->previous) nodes.push_back(node);
    std::reverse(nodes.begin(), nodes.end());
    const FinalSum plan = plan_final_sum(nodes, detail::Access::data(out));
    unit_seeded_ = std::size_t(std::count(plan.unit.begin(), plan.unit.end(), true));
    sum_seeds_ = plan.seeds;
    forward_.clear();
    backward_.clear();
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      forward_.push_back({plan.unit[k] ? nodes[k]->unit_seed->run : nodes[k]->forward, nodes[k]});
      const bool final_sum = plan.active && k + 1 == nodes.size();
      if (!plan.unit[k] && !final_sum) backward_.push_back({nodes[k]->backward, nodes[k]});
    }
    parameters_ = detail::Access::data(parameters);
    parameter_grad_ = detail::Access::grad(parameters);
    value_ = detail::Access::data(out);
    value_grad_ = detail::Access::grad(out);
    const auto [gradients_begin, gradients_end] = session.tape().gradient_block();
    cleared_ = ranges_to_clear(gradients_begin, gradients_end, plan.unread);
    size_ = x.size();
  }

  // When the function returns a sum of scalar terms (add_n, the last node, as
  // a log joint density is), the sum's backward step is always the same: add
  // 1 to each term's gradient. `seeds` does that up front, once per
  // evaluation, instead of a node. And if the nodes just before the sum make
  // its terms, each such term's gradient is exactly that 1 unless something
  // else uses it: nodes that offer a UnitSeedKernel then compute value and
  // gradient in one pass of the forward sweep and drop out of the backward
  // one. A node qualifies when its result is one term of the sum, appearing
  // once, and no later node in that run reads any element of its result or
  // of its intermediate (whose gradient it reads): then nothing but the sum
  // adds into the gradients it relies on, and nothing reads those gradients
  // or the sum's own (`unread`) once their backward steps are skipped.
  struct FinalSum {
    bool active = false;
    std::vector<bool> unit;         // per node
    std::vector<double*> seeds;     // the other terms' gradients
    std::vector<detail::Written> unread;
  };

  static FinalSum plan_final_sum(const std::vector<const detail::Node*>& nodes, const double* value) {
    FinalSum plan;
    plan.unit.assign(nodes.size(), false);
    if (nodes.empty() || nodes.back()->forward != &detail::add_n_forward) return plan;
    const auto& sum = static_cast<const detail::AddNNode&>(*nodes.back());
    if (sum.n != 1 || sum.y != value) return plan;
    plan.active = true;
    plan.unread.push_back({sum.y, sum.gy, 1});
    std::vector<bool>& unit = plan.unit;
    std::size_t begin = nodes.size() - 1;
    while (begin > 0 && nodes[begin - 1]->unit_seed) --begin;
    for (std::size_t k = begin; k + 1 < nodes.size(); ++k) {
      const detail::UnitSeedKernel& kernel = *nodes[k]->unit_seed;
      const detail::Written result = kernel.result(*nodes[k]);
      const detail::Written intermediate = kernel.intermediate ? kernel.intermediate(*nodes[k]) : detail::Written{};
      const auto read_by = [&](const detail::Node& later, const detail::Written& array) {
        return array.value && later.unit_seed->reads(later, array.value, array.value + array.size);
      };
      bool read_later = false;
      for (std::size_t j = k + 1; j + 1 < nodes.size(); ++j)
        read_later = read_later || read_by(*nodes[j], result) || read_by(*nodes[j], intermediate);
      unit[k] = std::count(sum.inputs, sum.inputs + sum.count, result.value) == 1 && !read_later;
      if (!unit[k]) continue;
      plan.unread.push_back(result);
      if (intermediate.value) plan.unread.push_back(intermediate);
    }
    for (std::int64_t t = 0; t < sum.count; ++t) {
      bool unit_result = false;
      for (std::size_t k = begin; k + 1 < nodes.size(); ++k)
        unit_result = unit_result || (unit[k] && nodes[k]->unit_seed->result(*nodes[k]).value == sum.inputs[t]);
      if (sum.grads[t] && !unit_result) plan.seeds.push_back(sum.grads[t]);
    }
    return plan;
  }

  // The gradient block [begin, end) less the unread buffers, as aligned ranges
  // for clear_aligned. An unread buffer is a whole allocation (the result of
  // an operation), so the padding up to the next aligned address is unread too.
  static std::vector<std::pair<double*, double*>> ranges_to_clear(double* begin, double* end,
                                                                  const std::vector<detail::Written>& unread) {
    constexpr std::ptrdiff_t kBlock = detail::kArenaAlign / sizeof(double);
    std::vector<bool> clear(std::size_t(end - begin) / kBlock, true);
    for (const detail::Written& buffer : unread) {
      if (!buffer.gradient || !detail::overlaps(buffer.gradient, buffer.size, begin, end)) continue;
      const std::ptrdiff_t first = buffer.gradient - begin;
      if (first % kBlock != 0) continue;  // not an allocation of its own: cleared with the rest
      for (std::ptrdiff_t b = first / kBlock; b * kBlock < first + buffer.size; ++b) clear[std::size_t(b)] = false;
    }
    std::vector<std::pair<double*, double*>> ranges;
    for (std::size_t b = 0; b < clear.size(); ++b) {
      if (!clear[b]) continue;
      double* block = begin + std::ptrdiff_t(b) * kBlock;
      if (ranges.empty() || ranges.back().second != block) ranges.push_back({block, block});
      ranges.back().second = block + kBlock;
    }
    return ranges;
  }

  struct Step {
    void (*run)(const detail::Node&);
    const detail::Node* node;
  };

  std::unique_ptr<F> f_;  // kept, and kept in place: the recording points into its captures
  std::unique_ptr<detail::Arenas> arenas_;
  std::vector<Step> forward_;   // in execution order
  std::vector<Step> backward_;  // in execution order, run in reverse
  std::size_t unit_seeded_ = 0;
  std::vector<double*> sum_seeds_;  // see plan_final_sum
  double* parameters_ = nullptr;
  double* parameter_grad_ = nullptr;
  const double* value_ = nullptr;
  double* value_grad_ = nullptr;
  std::vector<std::pair<double*, double*>> cleared_;  // the gradient buffers a replay reads
  Eigen::Index size_ = 0;
};

template <class F>
CompiledGradient<std::decay_t<F>> compile_gradient(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x) {
  return CompiledGradient<std::decay_t<F>>(std::forward<F>(f), x);
}

}  // namespace tyche
