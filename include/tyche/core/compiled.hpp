// compile_gradient: records a function once and replays the recording for
// every later gradient, without running the function, building arrays or
// touching the heap again (the way CppAD tapes and JAX traces).
//
//   auto potential = [](const tyche::Tensor& q) { return -tyche::normal_log_density_sum(q, 0.0, 1.0); };
//   auto compiled = tyche::compile_gradient(potential, x);
//   double u = compiled(x, g);   // what value_and_grad(potential, x, g) gives, to rounding
//
// The replay contract
// - Recording. The function runs once, at the values it is compiled with.
//   Every operation on an array that depends on the parameters is recorded
//   as a node (core/tape.hpp): its forward and backward functions, the
//   arrays it reads and writes (its operands) and its kind. Everything else
//   is frozen: data and constants, operations on constants only, shapes,
//   broadcasting and index plans, and every branch the function took.
// - The guard. While recording, reading the value of an array that depends
//   on the parameters (item(), data(), at(), to_vector()...) throws
//   tyche::ConcretizationError, because a branch taken on it would be frozen.
//   Such a function is differentiated with value_and_grad; callers that
//   compile when they can catch that type and fall back. The library's own
//   reads past the guard are all named Access::values_unguarded.
// - What a replay re-checks. Nothing the C++ code checked while recording
//   (a distribution's argument checks, shapes) runs again; each node
//   computes its operation at the new values. A point where the recorded
//   model is invalid therefore gives a non-finite result, never a finite
//   wrong one: a scale that reaches 0 or below gives -inf or NaN through its
//   logarithm, the half families re-check the sign of their value, and a
//   support check recorded as a node (Constraint::check) reruns. Callers
//   treat a non-finite value as a rejection (NUTS: a divergence).
// - Planning, once, when compiled:
//   1. Dead nodes, whose results nothing on the way to the output reads
//      (a deterministic site, a value computed and dropped), are not replayed.
//   2. A product and a sum with single elements that nothing else reads
//      (alpha + beta * x) become an fma; a density whose location is an fma
//      that nothing else reads absorbs it, wherever the nodes were recorded
//      (FmaAbsorption: one node, one pass each way).
//   3. When the output is a sum of scalar terms (add_n: a log joint),
//      possibly negated or scaled by a constant (a potential is the negated
//      log joint), the sum's backward step is the same every time: a
//      gradient of 1 on each term. Terms whose node offers a unit_seed
//      kernel, and whose result nothing else reads, compute value and
//      gradient in one pass of the forward sweep and drop out of the
//      backward one; the other terms' gradients are seeded with 1 up front;
//      the negation or scale is applied to the value and gradient at the end.
//   4. Only the gradient buffers a replay reads are cleared before it.
//   5. A run of one-element operations in a row (a recursion over time:
//      tyche::scan's steps, or a loop over scalar Tensors) is replayed as
//      one scalar block (core/scalar_block.hpp): one call each way for the
//      run, each operation an instruction of a table, not a call. A copy of
//      one element into a larger array (stacking a step's result) is folded
//      into the instruction computing it, which writes the element in place.
// - Results equal value_and_grad's to rounding: bit for bit, except where
//   the plan changes the order of additions (unit terms add their gradients
//   in the forward sweep; a scaled output is multiplied at the end).
// - A CompiledGradient is not for concurrent use: give each thread (each
//   chain) its own. It keeps the function it recorded (moved in), because the
//   recording points into its captures.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tyche/core/blocked.hpp"
#include "tyche/core/elementwise.hpp"
#include "tyche/core/fma.hpp"
#include "tyche/core/fused_densities.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/core/scalar_block.hpp"
#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

struct ReplayStep {
  void (*run)(const Node&);
  const Node* node;
};

// What a replay runs, made once from a recording (steps 1 to 4 above).
struct ReplayPlan {
  std::vector<ReplayStep> forward;   // in execution order
  std::vector<ReplayStep> backward;  // in execution order, run in reverse
  std::vector<double*> seeds;        // gradients of the sum's terms that get 1 up front
  std::vector<std::pair<double*, double*>> cleared;  // aligned gradient ranges a replay reads
  const double* value = nullptr;     // the output, or the sum it scales
  double* value_grad = nullptr;      // seeded with 1 before the backward sweep (null: the sum's terms are seeded)
  double output_scale = 1.0;
  std::size_t operations = 0, recorded = 0, unit_seeded = 0, fused = 0, in_scalar_blocks = 0;
  NodeStore store;                   // the fused nodes and scalar blocks
};

// A template so that only a program that compiles a gradient compiles it.
template <class = void>
class ReplayPlanner {
 public:
  ReplayPlanner(std::vector<const Node*> nodes, const Operand& output) : nodes_(std::move(nodes)), output_(output) {
    plan_.recorded = nodes_.size();
    live_.assign(nodes_.size(), false);
    unit_.assign(nodes_.size(), false);
    // An empty output holds no element, and may start where the next
    // allocation does: left out, every array in the index holds its start.
    for (std::size_t k = 0; k < nodes_.size(); ++k)
      for (const Operand* out = nodes_[k]->outputs_begin(); out != nodes_[k]->outputs_end(); ++out)
        if (out->size > 0) arrays_.push_back({out->value, out->value + out->size, k, {}});
    std::sort(arrays_.begin(), arrays_.end(), [](const Written& a, const Written& b) { return a.begin < b.begin; });
    for (std::size_t k = 0; k < nodes_.size(); ++k) index_reads(k);
  }

  ReplayPlan make(const Operand& parameters, double* gradients_begin, double* gradients_end) && {
    mark_live();
    merge_multiply_add();
    absorb_fmas();
    plan_final_sum();
    make_steps();
    clear_what_is_read(parameters, gradients_begin, gradients_end);
    return std::move(plan_);
  }

 private:
  static bool reads(const Node& node, const Operand& array) {
    return std::any_of(node.inputs_begin(), node.inputs_end(), [&](const Operand& in) { return overlaps(in, array); });
  }

  // An array a node writes, and the nodes that read (part of) it: an index
  // so that the questions below cost the readers of one array, not a pass
  // over the whole recording (a scan over T steps records O(T) nodes).
  struct Written {
    const double* begin;
    const double* end;
    std::size_t writer;
    std::vector<std::size_t> readers;  // may hold nodes that no longer read it (fused): re-checked
  };

  // The place in arrays_ of the written array holding the element at `p`, or
  // npos (data, constants, the parameters).
  std::size_t written_index(const double* p) const {
    auto it = std::upper_bound(arrays_.begin(), arrays_.end(), p,
                               [](const double* q, const Written& a) { return q < a.begin; });
    if (it == arrays_.begin()) return npos;
    --it;
    return p < it->end ? std::size_t(it - arrays_.begin()) : npos;
  }
  const Written* written(const double* p) const {
    const std::size_t i = written_index(p);
    return i == npos ? nullptr : &arrays_[i];
  }
  void index_reads(std::size_t k) {
    for (const Operand* in = nodes_[k]->inputs_begin(); in != nodes_[k]->inputs_end(); ++in)
      if (const std::size_t i = written_index(in->value); i != npos) arrays_[i].readers.push_back(k);
  }

  // Whether a live node other than those at `except` reads any element of
  // `array`, which is always a node's output (the callers find it by its
  // writer).
  bool read_elsewhere(const Operand& array, std::size_t except, std::size_t except_too) const {
    const Written* w = written(array.value);
    if (!w) return false;  // an empty output, left out of the index: it has no element to read
    for (std::size_t k : w->readers)
      if (live_[k] && k != except && k != except_too && reads(*nodes_[k], array)) return true;
    return false;
  }

  // The live node that writes exactly `array` (its first output), or npos.
  std::size_t writer_of(const Operand& array) const {
    const Written* w = written(array.value);
    if (!w) return npos;
    const std::size_t k = w->writer;
    if (live_[k] && nodes_[k]->output_count == 1 && nodes_[k]->outputs_begin()->value == array.value &&
        nodes_[k]->outputs_begin()->size == array.size)
      return k;
    return npos;
  }

  // 1. Backwards from the output: a node is live when a live node (or the
  // output) reads something it writes.
  void mark_live() {
    std::vector<Operand> needed{output_};
    std::unordered_set<const double*> seen{output_.value};
    for (std::size_t k = nodes_.size(); k-- > 0;) {
      const Node& node = *nodes_[k];
      const bool needed_here = std::any_of(node.outputs_begin(), node.outputs_end(), [&](const Operand& out) {
        return std::any_of(needed.begin(), needed.end(), [&](const Operand& n) { return overlaps(out, n); });
      });
      if (!needed_here) continue;
      live_[k] = true;
      // Only variables are written by nodes. A node writes whole arrays, so
      // any part of one finds its writer: one entry per start address does.
      for (const Operand* in = node.inputs_begin(); in != node.inputs_end(); ++in)
        if (in->gradient && seen.insert(in->value).second) needed.push_back(*in);
    }
  }

  // 2a. A product with a single element and a sum with a single element
  // (alpha + beta * x, mu + tau * theta_tilde as users write them), when
  // nothing else reads the product, become one fma at the sum's place.
  void merge_multiply_add() {
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      if (!live_[k] || nodes_[k]->kind != NodeKind::add) continue;
      const Node& sum = *nodes_[k];
      const Operand& y = *sum.outputs_begin();
      for (int side = 0; side < 2; ++side) {
        const Operand& product = sum.inputs_begin()[side];
        const Operand& c = sum.inputs_begin()[1 - side];
        const std::size_t m = writer_of(product);
        if (m == npos || nodes_[m]->kind != NodeKind::multiply || c.size != 1 || product.size != y.size ||
            overlaps(c, product) || overlaps(product, output_) || read_elsewhere(product, k, m))
          continue;
        const Operand& a = nodes_[m]->inputs_begin()[0];
        const Operand& b = nodes_[m]->inputs_begin()[1];
        auto& fma = plan_.store.make<FmaNode>();
        fma.pattern = (a.size != 1) * 4 + (b.size != 1) * 2;
        fma.forward = kFmaFunctions<>[std::size_t(fma.pattern)][0];
        fma.backward = kFmaFunctions<>[std::size_t(fma.pattern)][1];
        fma.kind = NodeKind::fma;
        fma.a = a.value;
        fma.b = b.value;
        fma.c = c.value;
        fma.y = y.value;
        fma.ga = a.gradient;
        fma.gb = b.gradient;
        fma.gc = c.gradient;
        fma.gy = y.gradient;
        fma.n = y.size;
        Operand* operands = plan_.store.operands(4);
        operands[0] = a;
        operands[1] = b;
        operands[2] = c;
        operands[3] = y;
        fma.operands = operands;
        fma.input_count = 3;
        fma.output_count = 1;
        nodes_[k] = &fma;
        live_[m] = false;
        index_reads(k);
        break;
      }
    }
  }

  // 2b. A density and the fma computing its location, when nothing else reads
  // the location, become one node at the density's place.
  void absorb_fmas() {
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      if (!live_[k] || !nodes_[k]->absorbs_fma) continue;
      const FmaAbsorption& absorption = *nodes_[k]->absorbs_fma;
      const double* location = absorption.input(*nodes_[k]);
      if (!location) continue;
      const Written* w = written(location);
      const std::size_t f = w && w->begin == location ? w->writer : npos;
      if (f == npos || f >= k || !live_[f] || nodes_[f]->kind != NodeKind::fma) continue;
      const Operand& fma_result = *nodes_[f]->outputs_begin();
      if (overlaps(fma_result, output_) || read_elsewhere(fma_result, k, f)) continue;
      const Node* fused = absorption.absorb(*nodes_[k], static_cast<const FmaNode&>(*nodes_[f]), plan_.store);
      if (!fused) continue;
      nodes_[k] = fused;
      live_[f] = false;
      index_reads(k);
      ++plan_.fused;
    }
  }

  // 3. The output as scale * (sum of scalar terms), and the terms that can
  // take their unit seed in the forward sweep.
  void plan_final_sum() {
    std::size_t sum = writer_of(output_);
    if (sum == npos) return;
    // Through negations and constant scales, each read by nothing else.
    while (nodes_[sum]->kind == NodeKind::negate || nodes_[sum]->kind == NodeKind::scale_by_constant) {
      const Node& scaling = *nodes_[sum];
      const std::size_t below = writer_of(*scaling.inputs_begin());
      if (below == npos || read_elsewhere(*nodes_[below]->outputs_begin(), sum, below)) break;
      plan_.output_scale *= scaling.kind == NodeKind::negate
                                ? -1.0
                                : static_cast<const UnaryNode<MulScalarOp>&>(scaling).params.first;
      wrappers_.push_back(sum);
      sum = below;
    }
    const Node& total = *nodes_[sum];
    if (total.kind != NodeKind::add_n || total.outputs_begin()->size != 1) {
      wrappers_.clear();
      plan_.output_scale = 1.0;
      return;
    }
    sum_ = sum;
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      const Node& node = *nodes_[k];
      if (!live_[k] || k == sum_ || is_wrapper(k) || !node.unit_seed || node.output_count != 1) continue;
      const Operand& result = *node.outputs_begin();
      const auto uses = std::count_if(total.inputs_begin(), total.inputs_end(),
                                      [&](const Operand& term) { return term.value == result.value; });
      unit_[k] = result.size == 1 && uses == 1 && !read_elsewhere(result, k, sum_);
      plan_.unit_seeded += unit_[k];
    }
    for (const Operand* term = total.inputs_begin(); term != total.inputs_end(); ++term) {
      if (!term->gradient) continue;
      bool unit_result = false;
      for (std::size_t k = 0; k < nodes_.size(); ++k)
        unit_result = unit_result || (unit_[k] && nodes_[k]->outputs_begin()->value == term->value);
      if (!unit_result) plan_.seeds.push_back(term->gradient);
    }
  }

  // The nodes in execution order, runs of one-element operations as scalar
  // blocks (5.). A block's operations run in both sweeps, so it sits at the
  // same place in each.
  void make_steps() {
    std::vector<ScalarInstruction> run;
    std::vector<std::size_t> run_nodes;  // the node of each instruction
    const auto end_run = [&] {
      if (run.size() == 1) {
        const Node* node = nodes_[run_nodes.front()];
        plan_.forward.push_back({node->forward, node});
        plan_.backward.push_back({node->backward, node});
      } else if (run.size() > 1) {
        plan_.in_scalar_blocks += run.size();
        fold_moves(run, run_nodes);
        auto& block = plan_.store.make<ScalarBlockNode>();
        block.first = plan_.store.copy(std::span<const ScalarInstruction>(run));
        block.last = block.first + run.size();
        plan_.forward.push_back({&scalar_block_forward, &block});
        plan_.backward.push_back({&scalar_block_backward, &block});
      }
      run.clear();
      run_nodes.clear();
    };
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      if (!live_[k] || is_wrapper(k)) continue;
      const Node* node = nodes_[k];
      ++plan_.operations;
      if (!unit_[k] && k != sum_) {
        if (const auto instruction = scalar_instruction(*node)) {
          run.push_back(*instruction);
          run_nodes.push_back(k);
          continue;
        }
      }
      end_run();
      plan_.forward.push_back({unit_[k] ? node->unit_seed : node->forward, node});
      if (!unit_[k] && k != sum_) plan_.backward.push_back({node->backward, node});
    }
    end_run();
    if (sum_ != npos) {
      plan_.value = nodes_[sum_]->outputs_begin()->value;
    } else {
      plan_.value = output_.value;
      plan_.value_grad = output_.gradient;
    }
  }

  // A move of one element into a larger array (stack's parts, a series of
  // locations) whose source an earlier instruction of the run computes and
  // only the instructions between the two read: that instruction writes the
  // element in place, those between read it there, and the move goes. The
  // gradients add in the same order: the move's backward gave the source's
  // gradient (still 0) the element's, and those between added theirs to it.
  void fold_moves(std::vector<ScalarInstruction>& run, const std::vector<std::size_t>& run_nodes) const {
    std::vector<bool> folded(run.size(), false);
    for (std::size_t m = 1; m < run.size(); ++m) {
      const ScalarInstruction move = run[m];
      if (move.op != ScalarOp::move) continue;
      std::size_t w = m;
      while (w-- > 0 && (folded[w] || run[w].y != move.a)) {
      }
      if (w == npos || run[w].gy != move.ga) continue;
      const Written* source = written(move.a);
      if (!source || source->begin != move.a || source->end != move.a + 1 ||
          overlaps(move.a, 1, output_.value, output_.value + output_.size))
        continue;
      // Readers of the source: only the run's instructions from w to m (the
      // live nodes between two of a run are all in it, in order).
      const bool read_between = std::all_of(source->readers.begin(), source->readers.end(), [&](std::size_t k) {
        return !live_[k] || (k > run_nodes[w] && k <= run_nodes[m] && !is_wrapper(k));
      });
      const auto reads_element = [&](const ScalarInstruction& i) {
        return i.a == move.y || i.b == move.y || i.c == move.y;
      };
      if (!read_between || std::any_of(run.begin() + std::ptrdiff_t(w) + 1, run.begin() + std::ptrdiff_t(m), reads_element))
        continue;
      double* element_grad = const_cast<double*>(move.gy);
      for (std::size_t p = w + 1; p < m; ++p) {
        ScalarInstruction& i = run[p];
        for (const double** value : {&i.a, &i.b, &i.c})
          if (*value == move.a) *value = move.y;
        for (double** gradient : {&i.ga, &i.gb, &i.gc})
          if (*gradient == move.ga) *gradient = element_grad;
      }
      run[w].y = move.y;
      run[w].gy = move.gy;
      folded[m] = true;
    }
    std::size_t kept = 0;
    for (std::size_t p = 0; p < run.size(); ++p)
      if (!folded[p]) run[kept++] = run[p];
    run.resize(kept);
  }

  // 4. The gradient buffers that the backward sweep reads or adds into, the
  // unit kernels add into, and the seeds go to, in aligned blocks of the
  // recording's gradient block [begin, end). An operation's result is an
  // allocation of its own, so a block holds one array and its padding.
  void clear_what_is_read(const Operand& parameters, double* begin, double* end) {
    constexpr std::ptrdiff_t kBlock = kArenaAlign / sizeof(double);
    std::vector<bool> clear(std::size_t((end - begin + kBlock - 1) / kBlock), false);
    const auto mark = [&](const double* g, std::int64_t size) {
      if (!g || !overlaps(g, size, begin, end)) return;
      for (std::ptrdiff_t b = (g - begin) / kBlock; b * kBlock < (g - begin) + size; ++b) clear[std::size_t(b)] = true;
    };
    for (std::size_t k = 0; k < nodes_.size(); ++k)  // the nodes of the backward sweep
      if (live_[k] && !is_wrapper(k) && !unit_[k] && k != sum_)
        for (const Operand* o = nodes_[k]->operands; o != nodes_[k]->outputs_end(); ++o) mark(o->gradient, o->size);
    for (std::size_t k = 0; k < nodes_.size(); ++k)
      if (unit_[k])
        for (const Operand* in = nodes_[k]->inputs_begin(); in != nodes_[k]->inputs_end(); ++in)
          mark(in->gradient, in->size);
    for (double* seed : plan_.seeds) mark(seed, 1);
    mark(parameters.gradient, parameters.size);
    mark(plan_.value_grad, 1);
    for (std::size_t b = 0; b < clear.size(); ++b) {
      if (!clear[b]) continue;
      double* block = begin + std::ptrdiff_t(b) * kBlock;
      if (plan_.cleared.empty() || plan_.cleared.back().second != block) plan_.cleared.push_back({block, block});
      plan_.cleared.back().second = block + kBlock;
    }
  }

  static constexpr std::size_t npos = std::size_t(-1);
  std::vector<const Node*> nodes_;  // in recording order
  Operand output_;
  std::vector<bool> live_, unit_;
  bool is_wrapper(std::size_t k) const { return std::find(wrappers_.begin(), wrappers_.end(), k) != wrappers_.end(); }

  std::vector<Written> arrays_;  // by address
  std::size_t sum_ = npos;
  std::vector<std::size_t> wrappers_;  // the negations and scales above the sum
  ReplayPlan plan_;
};

}  // namespace detail

// A recording of f that replays its operations on new parameter values.
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
    for (const auto& [first, last] : plan_.cleared) detail::clear_aligned(first, last);
    for (double* g : plan_.seeds) *g += 1.0;
    for (const detail::ReplayStep& step : plan_.forward) step.run(*step.node);
    if (plan_.value_grad) plan_.value_grad[0] = 1.0;
    for (auto step = plan_.backward.rbegin(); step != plan_.backward.rend(); ++step) step->run(*step->node);
    const double scale = plan_.output_scale;
    if (scale == 1.0) detail::copy_blocks(parameter_grad_, grad.data(), size_);
    else grad = scale * Eigen::Map<const Eigen::VectorXd>(parameter_grad_, size_);
    return scale * plan_.value[0];
  }

  // Operations a replay runs (views and constants are not operations).
  std::size_t size() const { return plan_.operations; }
  // Of those, the ones scalar blocks took (see the top), moves folded into them included.
  std::size_t in_scalar_blocks() const { return plan_.in_scalar_blocks; }
  // Operations recorded, before dead ones were dropped and fused ones merged.
  std::size_t recorded() const { return plan_.recorded; }
  // Of those replayed, the ones that add their gradient in the forward sweep.
  std::size_t unit_seeded() const { return plan_.unit_seeded; }
  // Densities that absorbed the fma computing their location.
  std::size_t fused() const { return plan_.fused; }

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
    for (detail::Node* node = session.tape().last(); node; node = node->previous) {
      detail::set_compiled_kernels(*node);
      nodes.push_back(node);
    }
    std::reverse(nodes.begin(), nodes.end());
    const auto [gradients_begin, gradients_end] = session.tape().gradient_block();
    plan_ = detail::ReplayPlanner<>(std::move(nodes), detail::Access::operand(out))
                .make(detail::Access::operand(parameters), gradients_begin, gradients_end);
    parameters_ = detail::Access::data(parameters);
    parameter_grad_ = detail::Access::grad(parameters);
    size_ = x.size();
  }

  std::unique_ptr<F> f_;  // kept, and kept in place: the recording points into its captures
  std::unique_ptr<detail::Arenas> arenas_;
  detail::ReplayPlan plan_;
  double* parameters_ = nullptr;
  double* parameter_grad_ = nullptr;
  Eigen::Index size_ = 0;
};

template <class F>
CompiledGradient<std::decay_t<F>> compile_gradient(F&& f, const Eigen::Ref<const Eigen::VectorXd>& x) {
  return CompiledGradient<std::decay_t<F>>(std::forward<F>(f), x);
}

}  // namespace tyche
