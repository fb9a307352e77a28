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
#include <memory>
#include <new>
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

// An array a node writes: its values and its gradient buffer.
struct Written {
  const double* value = nullptr;
  const double* gradient = nullptr;
  std::int64_t size = 0;
};

// Whether [p, p + size) and [begin, end) share an element; compared as
// addresses, because they may lie in different allocations.
inline bool overlaps(const double* p, std::int64_t size, const double* begin, const double* end) {
  const auto address = [](const double* q) { return reinterpret_cast<std::uintptr_t>(q); };
  return address(p) < address(end) && address(begin) < address(p + size);
}

// What a node whose result is one number offers a compiled gradient that finds
// the result's gradient is always exactly 1 (a term of the sum the function
// returns): `run` computes the value and adds the gradient for that seed in
// one pass, so the node never runs backward. `result` is the number;
// `intermediate` is an array the node writes and whose gradient only its
// backward pass reads (or nullptr); `reads` tells whether the node reads any
// element of [begin, end). They let the compiled gradient check that nothing
// else adds into the gradients the node relies on, and skip clearing the
// gradients that nothing reads any more.
struct UnitSeedKernel {
  void (*run)(const Node&);
  Written (*result)(const Node&);
  Written (*intermediate)(const Node&);
  bool (*reads)(const Node&, const double* begin, const double* end);
};

// A recorded operation. Concrete nodes derive from it, live in the arena and are
// never destroyed, so they must be trivially destructible. `forward` recomputes
// the output from the inputs (a compiled gradient replays it), `backward` adds
// the output's gradient into the inputs' gradients.
struct Node {
  Node* previous = nullptr;
  void (*forward)(const Node&) = nullptr;
  void (*backward)(const Node&) = nullptr;
  const UnitSeedKernel* unit_seed = nullptr;  // set by the nodes that offer one
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
  // variable, otherwise the caller's local one, run once and forgotten.
  template <class NodeT>
  NodeT& node_for(bool record, NodeT& local, void (*forward)(const Node&),
                  void (*backward)(const Node&)) {
    return record ? push<NodeT>(forward, backward) : local;
  }

  Node* last() const { return last_; }

  // Takes the last node off the tape: a fused node that does its work replaces
  // it. Its memory stays in the arena until the session ends.
  void drop_last() { last_ = last_->previous; }

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
