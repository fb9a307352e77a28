// A scalar block: a run of recorded one-element operations that a compiled
// gradient (core/compiled.hpp) replays as one node, stepping through a table
// of instructions instead of calling each operation's forward and backward
// functions. A recursion over time (tyche::scan, or a loop over scalar
// Tensors) records a few such operations per step, each costing more in its
// call and loop set-up than in its arithmetic:
//
//   nu = mu + phi * y_prev + theta * err;   // two fmas once compiled
//   err = y_t - nu;                          // a subtract
//
// become three instructions of one block. Each instruction computes what its
// node's kernels compute for one element, in the same order, so a replay's
// values and gradients are the nodes' own (bit for bit as compiled by
// default; where the compiler contracts a product and a sum into one fused
// multiply-add, -ffp-contract=fast with FMA instructions enabled, it may do so
// here and not in a node's kernel, or the reverse, and the last bit differ).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>

#include "tyche/core/elementwise.hpp"
#include "tyche/core/fma.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/tape.hpp"

namespace tyche::detail {

enum class ScalarOp : std::uint8_t {
  add, subtract, multiply, divide, fma,                                            // of arrays
  negate, scale, add_constant, subtract_constant, constant_minus, divide_by_constant,  // of an array and a constant
  square_root, move
};

// One operation on single elements: y = op(a, b, c); g* are the gradients
// (null for a constant input). A unary operation reads a.
struct ScalarInstruction {
  ScalarOp op;
  double constant;  // an operation with a constant: the constant
  const double* a;
  const double* b;
  const double* c;
  double* y;
  double* ga;
  double* gb;
  double* gc;
  const double* gy;
};

struct ScalarBlockNode : Node {
  const ScalarInstruction* first;
  const ScalarInstruction* last;
};

inline void scalar_block_forward(const Node& base) {
  const auto& block = static_cast<const ScalarBlockNode&>(base);
  for (const ScalarInstruction* i = block.first; i != block.last; ++i) {
    switch (i->op) {
      case ScalarOp::add: *i->y = *i->a + *i->b; break;
      case ScalarOp::subtract: *i->y = *i->a - *i->b; break;
      case ScalarOp::multiply: *i->y = *i->a * *i->b; break;
      case ScalarOp::divide: *i->y = *i->a / *i->b; break;
      case ScalarOp::fma: *i->y = *i->a * *i->b + *i->c; break;
      case ScalarOp::negate: *i->y = -*i->a; break;
      case ScalarOp::scale: *i->y = *i->a * i->constant; break;
      case ScalarOp::add_constant: *i->y = *i->a + i->constant; break;
      case ScalarOp::subtract_constant: *i->y = *i->a - i->constant; break;
      case ScalarOp::constant_minus: *i->y = i->constant - *i->a; break;
      case ScalarOp::divide_by_constant: *i->y = *i->a / i->constant; break;
      case ScalarOp::square_root: *i->y = std::sqrt(*i->a); break;
      case ScalarOp::move: *i->y = *i->a; break;
    }
  }
}

// The partials as the nodes' backward functions (elementwise.hpp, fma.hpp,
// indexing.hpp) write them, inputs in the same order.
inline void scalar_block_backward(const Node& base) {
  const auto& block = static_cast<const ScalarBlockNode&>(base);
  for (const ScalarInstruction* i = block.last; i != block.first;) {
    --i;
    const double gy = *i->gy;
    switch (i->op) {
      case ScalarOp::add:
        if (i->ga) *i->ga += gy;
        if (i->gb) *i->gb += gy;
        break;
      case ScalarOp::subtract:
        if (i->ga) *i->ga += gy;
        if (i->gb) *i->gb += -gy;
        break;
      case ScalarOp::multiply:
        if (i->ga) *i->ga += gy * *i->b;
        if (i->gb) *i->gb += gy * *i->a;
        break;
      case ScalarOp::divide:
        if (i->ga) *i->ga += gy * (1.0 / *i->b);
        if (i->gb) *i->gb += gy * (-*i->y / *i->b);
        break;
      case ScalarOp::fma:
        if (i->ga) *i->ga += gy * *i->b;
        if (i->gb) *i->gb += gy * *i->a;
        if (i->gc) *i->gc += gy;
        break;
      case ScalarOp::negate: *i->ga += -gy; break;
      case ScalarOp::scale: *i->ga += gy * i->constant; break;
      case ScalarOp::add_constant:
      case ScalarOp::subtract_constant: *i->ga += gy; break;
      case ScalarOp::constant_minus: *i->ga += -gy; break;
      case ScalarOp::divide_by_constant: *i->ga += gy * (1.0 / i->constant); break;
      case ScalarOp::square_root: *i->ga += gy * (0.5 * (1.0 / *i->y)); break;
      case ScalarOp::move: *i->ga += gy; break;
    }
  }
}

template <class Op>
double constant_of(const Node& node) {
  return static_cast<const UnaryNode<Op>&>(node).params.first;
}

// The instruction doing what `node` does, when it is an operation a block
// takes and every array it reads and writes has one element (a move: copies
// one); otherwise none.
inline std::optional<ScalarInstruction> scalar_instruction(const Node& node) {
  ScalarInstruction i{};
  if (node.kind == NodeKind::move) {
    const auto& move = static_cast<const MoveNode&>(node);
    if (move.count != 1 || !move.gx) return std::nullopt;
    const std::int64_t from = move.x_index ? move.x_index[0] : 0, to = move.y_index ? move.y_index[0] : 0;
    i.op = ScalarOp::move;
    i.a = move.x + from;
    i.ga = move.gx + from;
    i.y = const_cast<double*>(move.y) + to;
    i.gy = move.gy + to;
    return i.gy ? std::optional(i) : std::nullopt;
  }
  std::uint32_t inputs = 1;
  switch (node.kind) {
    case NodeKind::fma: i.op = ScalarOp::fma, inputs = 3; break;
    case NodeKind::add: i.op = ScalarOp::add, inputs = 2; break;
    case NodeKind::subtract: i.op = ScalarOp::subtract, inputs = 2; break;
    case NodeKind::multiply: i.op = ScalarOp::multiply, inputs = 2; break;
    case NodeKind::divide: i.op = ScalarOp::divide, inputs = 2; break;
    case NodeKind::negate: i.op = ScalarOp::negate; break;
    case NodeKind::scale_by_constant: i.op = ScalarOp::scale, i.constant = constant_of<MulScalarOp>(node); break;
    case NodeKind::add_constant: i.op = ScalarOp::add_constant, i.constant = constant_of<AddScalarOp>(node); break;
    case NodeKind::subtract_constant:
      i.op = ScalarOp::subtract_constant, i.constant = constant_of<SubScalarOp>(node);
      break;
    case NodeKind::constant_minus: i.op = ScalarOp::constant_minus, i.constant = constant_of<ScalarSubOp>(node); break;
    case NodeKind::divide_by_constant:
      i.op = ScalarOp::divide_by_constant, i.constant = constant_of<DivScalarOp>(node);
      break;
    case NodeKind::square_root: i.op = ScalarOp::square_root; break;
    default: return std::nullopt;
  }
  if (node.input_count != inputs || node.output_count != 1) return std::nullopt;
  for (const Operand* o = node.operands; o != node.outputs_end(); ++o)
    if (o->size != 1) return std::nullopt;
  const Operand* in = node.inputs_begin();
  i.a = in[0].value;
  i.ga = in[0].gradient;
  if (inputs >= 2) {
    i.b = in[1].value;
    i.gb = in[1].gradient;
  }
  if (inputs == 3) {
    i.c = in[2].value;
    i.gc = in[2].gradient;
  }
  const Operand& out = *node.outputs_begin();
  i.y = const_cast<double*>(out.value);
  i.gy = out.gradient;
  // A unary node is recorded only for a variable input, whose gradient a block updates unchecked.
  if (!i.gy || (inputs == 1 && !i.ga)) return std::nullopt;
  return i;
}

}  // namespace tyche::detail
