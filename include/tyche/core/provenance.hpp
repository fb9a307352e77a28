// Provenance: which labelled inputs an array was computed from, read off the
// gradient tape (NumPyro's numpyro.ops.provenance, which traces JAX programs
// for the same purpose). The model inspector (infer/inspect.hpp) uses it to
// find which sites a site's distribution depends on.
//
//   tyche::ProvenanceRecording recording;                      // records on this thread
//   tyche::Tensor a = recording.leaf(tyche::Tensor{1.0, 2.0}, 0);
//   tyche::Tensor b = recording.leaf(tyche::Tensor(3.0), 1);
//   tyche::Tensor c = 2.0 * tyche::exp(a);
//   recording.sources(c);                 // {0}
//   recording.sources(c[1] + b);          // {0, 1}
//   recording.sources(tyche::Tensor(1.0)); // {}: a constant
//
// How: while a recording is open, every array computed from a variable is a
// variable with a gradient buffer of its own, and every recorded node names
// the arrays it reads and writes by their values and gradient buffers
// (core/tape.hpp's Operand). Walking the nodes in the order they were
// recorded, each node's outputs take the union of its inputs' labels, where
// an input's labels are those of every labelled buffer it overlaps (a view,
// such as x[i] or a reshape, shares a slice of its base's buffer). Nothing is
// differentiated; the walk reads the operand tables only.
//
// An index array given to take (or operator[] with an array) is seen: take
// lists it as an input of its result, as JAX's gather takes it as an operand.
// What it cannot see, because the value enters the computation as a number
// and not as an array on the tape: an element read with item(), data() or
// at(); a comparison made into a mask or a branch.
//
// The recording is an ordinary gradient session: one per thread at a time,
// and the arrays made inside it must not be used after it ends.
#pragma once

#include "tyche/core/tape.hpp"
#include "tyche/core/tensor.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <vector>

namespace tyche {

// A class template behind its name (see core/tensor.hpp) so that including
// this header compiles none of it.
template <class = void>
class ProvenanceRecordingT {
 public:
  ProvenanceRecordingT() = default;
  ProvenanceRecordingT(const ProvenanceRecordingT&) = delete;
  ProvenanceRecordingT& operator=(const ProvenanceRecordingT&) = delete;

  // A copy of `value` (same shape and elements) that the recording follows
  // under `label`.
  Tensor leaf(const Tensor& value, int label) {
    const Tensor variable = detail::Access::variable(value.data(), value.size());
    const Tensor shaped = variable.reshape(value.shape());
    mark(detail::Access::grad(shaped), shaped.size(), {label});
    return shaped;
  }

  // The labels of the leaves `array` was computed from, ascending.
  std::vector<int> sources(const Tensor& array) {
    detail::Access::check_live(array);
    const double* gradient = detail::Access::grad(array);
    if (gradient == nullptr || array.size() == 0) return {};
    catch_up();
    return labels_of(gradient, array.size());
  }

 private:
  using Labels = std::vector<int>;  // sorted, unique

  // A labelled run of gradient elements, [begin, end) as addresses.
  struct Region {
    std::uintptr_t end;
    Labels labels;
  };

  static std::uintptr_t address(const double* p) { return reinterpret_cast<std::uintptr_t>(p); }

  static void merge_into(Labels& into, const Labels& from) {
    Labels merged;
    merged.reserve(into.size() + from.size());
    std::set_union(into.begin(), into.end(), from.begin(), from.end(), std::back_inserter(merged));
    into = std::move(merged);
  }

  // The labels of every region overlapping [gradient, gradient + size).
  // Regions never overlap each other (mark keeps them apart), so the only
  // one that starts before `gradient` and reaches into it is its predecessor.
  Labels labels_of(const double* gradient, std::int64_t size) const {
    const std::uintptr_t begin = address(gradient), end = address(gradient + size);
    Labels labels;
    auto it = regions_.upper_bound(begin);
    if (it != regions_.begin()) --it;
    for (; it != regions_.end() && it->first < end; ++it)
      if (it->second.end > begin) merge_into(labels, it->second.labels);
    return labels;
  }

  // Gives [gradient, gradient + size) the labels. An array is normally
  // written once, into fresh storage; one written by several nodes
  // (concatenate writes each part into the same result) collects the union,
  // and a write straddling other regions fuses them into one region with the
  // labels of all, which can only add dependencies, never lose one.
  void mark(const double* gradient, std::int64_t size, Labels labels) {
    std::uintptr_t begin = address(gradient), end = address(gradient + size);
    auto it = regions_.upper_bound(begin);
    if (it != regions_.begin() && std::prev(it)->second.end > begin) --it;
    while (it != regions_.end() && it->first < end) {
      begin = std::min(begin, it->first);
      end = std::max(end, it->second.end);
      merge_into(labels, it->second.labels);
      it = regions_.erase(it);
    }
    regions_.emplace(begin, Region{end, std::move(labels)});
  }

  // Propagates labels through the nodes recorded since the last call.
  void catch_up() {
    const detail::Node* last = detail::this_thread_tape().last();
    std::vector<const detail::Node*> pending;
    for (const detail::Node* node = last; node != walked_; node = node->previous) pending.push_back(node);
    walked_ = last;
    for (auto node = pending.rbegin(); node != pending.rend(); ++node) visit(**node);
  }

  void visit(const detail::Node& node) {
    if (node.operands == nullptr) return;
    Labels labels;
    for (const detail::Operand* in = node.inputs_begin(); in != node.inputs_end(); ++in)
      if (in->gradient != nullptr && in->size > 0) merge_into(labels, labels_of(in->gradient, in->size));
    if (labels.empty()) return;
    for (const detail::Operand* out = node.outputs_begin(); out != node.outputs_end(); ++out)
      if (out->gradient != nullptr && out->size > 0) mark(out->gradient, out->size, labels);
  }

  detail::RecordingSession session_;
  const detail::Node* walked_ = nullptr;
  std::map<std::uintptr_t, Region> regions_;
};

using ProvenanceRecording = ProvenanceRecordingT<>;

}  // namespace tyche
