// The per-thread gradient tape: an arena for array storage and a list of
// recorded nodes (forward and backward functions), one per array operation.
//
// Users never touch this directly; `value_and_grad` opens a recording session:
//
//   double v = tyche::value_and_grad(f, x, g);  // records f(x) here, runs it backwards
//
// Why an arena: a sampler evaluates the same gradient thousands of times. Every
// array an operation makes during a session lives in one block that is rewound,
// not freed, when the next session starts, so steady-state evaluations never
// touch the heap. Each session gets a fresh, globally unique generation number;
// arrays remember theirs, so an array kept past its session is detected when it
// is used again instead of silently reading reused memory.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <tuple>
#include <utility>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace tyche::detail {

// At least Eigen's widest SIMD alignment: Eigen's vectorised loops and
// reductions start with the elements before the first aligned address, so
// eager and compiled evaluations, whose arenas are different blocks, add in
// the same order only if every array has the same alignment in both.
inline constexpr std::size_t kArenaAlign = std::max<std::size_t>(32, EIGEN_MAX_ALIGN_BYTES);

inline std::size_t round_up(std::size_t n) { return (n + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }
inline std::byte* align_up(std::byte* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  return p + (round_up(address) - address);
}

// Zeroes [first, last), both aligned to kArenaAlign (gradient buffers with
// their padding), in aligned blocks: for the few dozen doubles of a small
// model a call to memset costs more than the stores.
inline void clear_aligned(double* first, double* last) {
  constexpr std::size_t kBlock = kArenaAlign / sizeof(double);
  for (; first != last; first += kBlock) {
    double* block = std::assume_aligned<kArenaAlign>(first);
    for (std::size_t i = 0; i < kBlock; ++i) block[i] = 0.0;
  }
}

// The memory behind a thread's arena. Allocation itself is a pointer bump in
// Tape; this is reached only when a session outgrows the block.
class ArenaStorage {
 public:
  // A chunk for a request that did not fit; the block grows at the next reset
  // so that the session after that fits entirely.
  std::byte* overflow(std::size_t bytes) {
    overflow_.push_back(std::make_unique<std::byte[]>(bytes + kArenaAlign));
    overflow_bytes_ += bytes;
    return align_up(overflow_.back().get());
  }

  bool overflowed() const { return !overflow_.empty(); }

  // The block for a new session: [begin, end).
  std::pair<std::byte*, std::byte*> reset() {
    if (!overflow_.empty()) {
      capacity_ = std::max(2 * capacity_, capacity_ + overflow_bytes_);
      block_ = std::make_unique<std::byte[]>(capacity_ + kArenaAlign);
      overflow_.clear();
      overflow_bytes_ = 0;
    }
    std::byte* begin = block_ ? align_up(block_.get()) : nullptr;
    return {begin, begin + capacity_};
  }

 private:
  std::unique_ptr<std::byte[]> block_;
  std::size_t capacity_ = 0;
  std::vector<std::unique_ptr<std::byte[]>> overflow_;
  std::size_t overflow_bytes_ = 0;
};

// Values (arrays, nodes, scratch) and gradients live apart, so that the
// gradients of a recording form one block that a replay clears at once.
struct Arenas {
  ArenaStorage values, gradients;
};

inline Arenas& this_thread_arenas() {
  thread_local Arenas arenas;
  return arenas;
}

// A bump allocator over one ArenaStorage block.
struct Region {
  std::byte* begin = nullptr;
  std::byte* cursor = nullptr;
  std::byte* limit = nullptr;
  ArenaStorage* storage = nullptr;

  void* allocate(std::size_t bytes) {
    bytes = round_up(bytes);
    if (std::size_t(limit - cursor) >= bytes) {
      std::byte* p = cursor;
      cursor += bytes;
      return p;
    }
    return storage->overflow(bytes);
  }

  void start(ArenaStorage& s) {
    storage = &s;
    std::tie(begin, limit) = s.reset();
    cursor = begin;
  }
};

struct Node;
struct FmaNode;
class NodeStore;

// An array a node reads or writes: its values, its gradient buffer (null for
// a constant) and its size.
struct Operand {
  const double* value = nullptr;
  double* gradient = nullptr;
  std::int64_t size = 0;
};

// Whether [p, p + size) and [begin, end) share an element; compared as
// addresses, because they may lie in different allocations.
inline bool overlaps(const double* p, std::int64_t size, const double* begin, const double* end) {
  const auto address = [](const double* q) { return reinterpret_cast<std::uintptr_t>(q); };
  return address(p) < address(end) && address(begin) < address(p + size);
}
inline bool overlaps(const Operand& a, const Operand& b) { return overlaps(a.value, a.size, b.value, b.value + b.size); }

// The nodes a compiled gradient's planner recognises (core/compiled.hpp);
// every other operation is `other`.
enum class NodeKind : std::uint8_t {
  other,
  add_n,             // AddNNode: the terms of a log joint
  fma,               // FmaNode: a * b + c
  multiply,          // a * b, one of them a single element or both of one shape
  add,               // a + b, likewise
  negate,            // -x
  scale_by_constant, // x * constant
  loc_scale_density, // LocScaleNode (core/fused_densities.hpp): gets its compiled-only kernels when planned
  // The rest only for compiled.hpp's scalar blocks (a run of one-element operations replayed by one kernel).
  subtract,          // a - b
  divide,            // a / b
  square_root,       // sqrt(x)
  add_constant,      // x + constant
  subtract_constant, // x - constant
  constant_minus,    // constant - x
  divide_by_constant,// x / constant
  move               // MoveNode (core/indexing.hpp): elements copied, possibly through index arrays
};

// Offered by a node that can compute one of its inputs itself when an fma
// makes it (a density whose location is mu + tau * theta): `input` is that
// input's values (or null), `absorb` builds the fused node in `store` (or
// returns null when it cannot take that fma).
struct FmaAbsorption {
  const double* (*input)(const Node&);
  const Node* (*absorb)(const Node& self, const FmaNode& fma, NodeStore& store);
};

// A recorded operation. Concrete nodes derive from it, live in the arena and are
// never destroyed, so they must be trivially destructible. `forward` recomputes
// the output from the inputs (a compiled gradient replays it), `backward` adds
// the output's gradient into the inputs' gradients. The rest is what the
// compiled gradient's planner reads (core/compiled.hpp): the operands (every
// array the node reads, then every array it writes), the kind, and the
// optional fast paths.
struct Node {
  Node* previous = nullptr;
  void (*forward)(const Node&) = nullptr;
  void (*backward)(const Node&) = nullptr;
  // For a node whose result is one number: computes the value and adds the
  // gradient for an output gradient of exactly 1 in one pass (compiled.hpp).
  // A fused density's two fast paths are set when a gradient is compiled
  // (set_compiled_kernels in core/fused_densities.hpp).
  void (*unit_seed)(const Node&) = nullptr;
  const FmaAbsorption* absorbs_fma = nullptr;
  const Operand* operands = nullptr;
  std::uint32_t input_count = 0, output_count = 0;
  NodeKind kind = NodeKind::other;

  const Operand* inputs_begin() const { return operands; }
  const Operand* inputs_end() const { return operands + input_count; }
  const Operand* outputs_begin() const { return operands + input_count; }
  const Operand* outputs_end() const { return operands + input_count + output_count; }
};

// Storage for the nodes a compiled gradient builds when it fuses recorded ones.
class NodeStore {
 public:
  template <class T>
  T& make() {
    static_assert(std::is_trivially_destructible_v<T>);
    return *new (allocate(sizeof(T))) T{};
  }
  Operand* operands(std::size_t n) { return new (allocate(n * sizeof(Operand))) Operand[n]; }
  template <class T>
  T* copy(std::span<const T> items) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);
    T* first = static_cast<T*>(allocate(std::max<std::size_t>(1, items.size()) * sizeof(T)));
    std::copy(items.begin(), items.end(), first);
    return first;
  }

 private:
  void* allocate(std::size_t bytes) {
    blocks_.push_back(std::make_unique<std::byte[]>(bytes + kArenaAlign));
    return align_up(blocks_.back().get());
  }
  std::vector<std::unique_ptr<std::byte[]>> blocks_;
};

// Trivially constructible and destructible, so that the per-thread instance is
// constant-initialised and reaching it costs no guard check.
class Tape {
 public:
  bool recording() const { return recording_; }
  std::uint64_t generation() const { return generation_; }

  void* allocate(std::size_t bytes) { return values_.allocate(bytes); }

  double* allocate_doubles(std::int64_t n) {
    return static_cast<double*>(allocate(static_cast<std::size_t>(n) * sizeof(double)));
  }

  // A gradient buffer, zeroed.
  double* allocate_gradient(std::int64_t n) {
    const std::size_t bytes = round_up(static_cast<std::size_t>(n) * sizeof(double));
    auto* p = static_cast<double*>(gradients_.allocate(bytes));
    clear_aligned(p, p + bytes / sizeof(double));
    return p;
  }

  // All gradient buffers of this session, when none overflowed: [begin, end).
  std::pair<double*, double*> gradient_block() const {
    return {reinterpret_cast<double*>(gradients_.begin), reinterpret_cast<double*>(gradients_.cursor)};
  }

  // Appends a node; its functions receive it as `const Node&` and downcast.
  template <class NodeT>
  NodeT& push(void (*forward)(const Node&), void (*backward)(const Node&)) {
    static_assert(std::is_trivially_destructible_v<NodeT>);
    auto* node = new (allocate(sizeof(NodeT))) NodeT{};
    node->previous = last_;
    node->forward = forward;
    node->backward = backward;
    last_ = node;
    return *node;
  }

  // The node an operation fills and runs: on the tape when its result is a
  // variable, otherwise the caller's local one, run once and forgotten. Every
  // operation makes its node this way, naming the arrays it reads and writes.
  template <class NodeT>
  NodeT& node_for(bool record, NodeT& local, void (*forward)(const Node&), void (*backward)(const Node&),
                  std::initializer_list<Operand> inputs, std::initializer_list<Operand> outputs) {
    if (!record) return local;
    NodeT& node = push<NodeT>(forward, backward);
    describe(node, std::span<const Operand>(inputs.begin(), inputs.size()),
             std::span<const Operand>(outputs.begin(), outputs.size()));
    return node;
  }

  // Gives a recorded node its operands (copied into the arena).
  void describe(Node& node, std::span<const Operand> inputs, std::span<const Operand> outputs) {
    auto* operands = static_cast<Operand*>(allocate((inputs.size() + outputs.size()) * sizeof(Operand)));
    std::copy(inputs.begin(), inputs.end(), operands);
    std::copy(outputs.begin(), outputs.end(), operands + inputs.size());
    node.operands = operands;
    node.input_count = std::uint32_t(inputs.size());
    node.output_count = std::uint32_t(outputs.size());
  }

  Node* last() const { return last_; }

  // `tracing`: recording a function to be replayed, which must not read the
  // values of arrays that depend on the parameters.
  void begin_session(Arenas& arenas, bool tracing) {
    if (recording_)
      throw std::logic_error(
          "tyche: a gradient evaluation was started while another one is recording on this "
          "thread; nested gradients are not supported");
    values_.start(arenas.values);
    gradients_.start(arenas.gradients);
    last_ = nullptr;
    generation_ = next_generation();
    recording_ = true;
    tracing_ = tracing;
  }

  void end_session() { recording_ = tracing_ = false; }
  bool tracing() const { return tracing_; }

  void run_backward() const {
    for (const Node* node = last_; node != nullptr; node = node->previous) node->backward(*node);
  }

 private:
  static std::uint64_t next_generation() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  Region values_;
  Region gradients_;
  Node* last_ = nullptr;
  std::uint64_t generation_ = 0;
  bool recording_ = false;
  bool tracing_ = false;
};

inline constinit thread_local Tape this_thread_tape_instance{};

inline Tape& this_thread_tape() { return this_thread_tape_instance; }

// Ends the session however the recorded function exits.
class RecordingSession {
 public:
  explicit RecordingSession(Arenas& arenas = this_thread_arenas(), bool tracing = false)
      : tape_(this_thread_tape()) {
    tape_.begin_session(arenas, tracing);
  }
  ~RecordingSession() { tape_.end_session(); }
  RecordingSession(const RecordingSession&) = delete;
  RecordingSession& operator=(const RecordingSession&) = delete;
  Tape& tape() { return tape_; }

 private:
  Tape& tape_;
};

}  // namespace tyche::detail
