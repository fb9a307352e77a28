// The handler stack and apply_stack: the whole mechanism of effect handlers.
//
// Each thread has its own stack of Messengers. A primitive builds a Message and
// calls apply_stack, which (exactly as NumPyro's):
//   1. lets each handler process the message, innermost (most recent) first,
//      stopping after a handler that sets msg.stop;
//   2. applies the default action: draw a sample site that has no value from
//      its distribution with its key, give a param site its initial value;
//   3. lets the handlers that processed it postprocess it, outermost first.
//
// Every handler is a class template over the model it wraps, deriving from
// Handler<Fn>. Wrapping, `tyche::condition(model, data)` is a callable that
// pushes the handler around each call of the model. With no model (Fn is
// NoModel), `tyche::condition guard(data);` is a scoped guard, on the stack
// until the end of the block (Python's `with`):
//
//   auto conditioned = tyche::condition(model, {{"slope", 3.0}});
//   conditioned(x);                                  // slope observed at 3
//   {
//     tyche::seed guard(0);                          // every site in this block is seeded
//     tyche::Tensor z = tyche::sample("z", tyche::dist::Normal(0.0, 1.0));
//   }
//
// A handler of your own (NumPyro's `class MyHandler(Messenger)`) derives from
// Handler<Fn> the same way and overrides process_message and/or
// postprocess_message; per-run state is `mutable` and cleared in reset():
//
//   template <class Fn = tyche::NoModel>
//   class count_draws : public tyche::Handler<Fn> {
//    public:
//     explicit count_draws(Fn fn) : tyche::Handler<Fn>(std::move(fn)) {}
//     count_draws() requires tyche::IsGuard<Fn> = default;
//     void process_message(tyche::Message& msg) override {
//       if (msg.type == tyche::SiteType::sample && !msg.value) ++count;
//     }
//     mutable int count = 0;
//    private:
//     void reset() const override { count = 0; }
//   };
//   template <class Fn> count_draws(Fn) -> count_draws<Fn>;   // guards deduce NoModel, the default
//
//   auto counted = count_draws(tyche::seed(model, 0));   // wraps a model
//   { count_draws guard; tyche::seed(model, 0)(); }     // or guards a block: guard.count
#pragma once

#include "tyche/distributions/noise_tap.hpp"
#include "tyche/effects/message.hpp"
#include "tyche/effects/site_errors.hpp"

#include <algorithm>
#include <concepts>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche {

class Messenger {
 public:
  virtual ~Messenger() = default;
  virtual void process_message(Message&) {}
  virtual void postprocess_message(Message&) {}

 protected:
  Messenger() = default;
  Messenger(const Messenger&) = default;
  Messenger& operator=(const Messenger&) = default;
};

// The Fn of a handler used as a scoped guard (it wraps no model).
struct NoModel {};

template <class Fn>
concept IsGuard = std::same_as<Fn, NoModel>;

namespace detail {

inline std::vector<Messenger*>& handler_stack() {
  thread_local std::vector<Messenger*> stack;
  return stack;
}

// Removes `m` from the stack. Normally it is on top; a guard destroyed out of
// order is still removed, so the stack never keeps a dangling handler.
inline void remove_from_stack(const Messenger* m) {
  auto& stack = handler_stack();
  if (!stack.empty() && stack.back() == m) {
    stack.pop_back();
    return;
  }
  const auto it = std::find(stack.rbegin(), stack.rend(), m);
  if (it != stack.rend()) stack.erase(std::next(it).base());
}

// Keeps a handler on the stack for its own lifetime, also when the model throws.
class StackEntry {
 public:
  explicit StackEntry(Messenger& m) : messenger_(&m) { handler_stack().push_back(&m); }
  ~StackEntry() { remove_from_stack(messenger_); }
  StackEntry(const StackEntry&) = delete;
  StackEntry& operator=(const StackEntry&) = delete;

 private:
  Messenger* messenger_;
};

[[noreturn]] inline void throw_missing_key(const Message& msg) {
  throw std::runtime_error("tyche: " + std::string(to_string(msg.type)) + " site `" + msg.name +
                           "` needs a random key: run the model under tyche::seed");
}

// A uniformly random subset of 0 .. size-1 of `count` indices, in random
// order: a partial Fisher-Yates shuffle driven by the key's bit stream.
inline Tensor random_subsample(Key key, std::int64_t size, std::int64_t count) {
  if (NoiseTap* tap = noise_tap()) tap->opaque("a subsampling plate's random subset");
  std::vector<double> order(static_cast<std::size_t>(size));
  std::iota(order.begin(), order.end(), 0.0);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint64_t bits = (std::uint64_t(random_bits(key, 2 * std::uint64_t(i))) << 32) |
                               random_bits(key, 2 * std::uint64_t(i) + 1);
    const auto j = i + std::int64_t(bits % std::uint64_t(size - i));
    std::swap(order[std::size_t(i)], order[std::size_t(j)]);
  }
  order.resize(static_cast<std::size_t>(count));
  return Tensor(order);
}

inline void default_process_message(Message& msg) {
  if (msg.value) return;
  switch (msg.type) {
    case SiteType::sample:
      if (!msg.rng_key) throw_missing_key(msg);
      msg.value = msg.fn->sample(*msg.rng_key, msg.sample_shape);
      break;
    case SiteType::param: msg.value = msg.init; break;
    case SiteType::plate:
      if (!msg.rng_key) throw_missing_key(msg);
      msg.value = random_subsample(*msg.rng_key, msg.plate_size, msg.subsample_size);
      break;
    default: break;
  }
}

}  // namespace detail

// Sends `msg` through the current thread's handler stack (see the top). A
// value the handlers leave on a sample site is checked (its shape, and an
// observation's finiteness: see site_errors.hpp), and whatever goes wrong
// names the site.
inline void apply_stack(Message& msg) {
  const auto& stack = detail::handler_stack();
  std::size_t reached = 0;
  try {
    // Indices, not iterators: a handler may send messages of its own
    // (do, reparam, uncondition) while this one is in flight.
    for (std::size_t i = stack.size(); i-- > 0;) {
      ++reached;
      stack[i]->process_message(msg);
      if (msg.stop) break;
    }
    detail::check_site_value(msg);
    detail::default_process_message(msg);
    for (std::size_t i = stack.size() - reached; i < stack.size(); ++i) stack[i]->postprocess_message(msg);
  } catch (...) {
    detail::rethrow_naming_site(msg);
  }
}

// The base of every handler wrapping a model: calling it runs the model with
// the handler on the stack. Per-run state (a seed's key, a trace) is `mutable`
// and reset before each call, so a handler can be called through a const
// reference and gives the same result every time; one handler object must not
// run on two threads at once (copy it).
template <class Fn = NoModel>
class Handler : public Messenger {
 public:
  template <class... Args>
  decltype(auto) operator()(Args&&... args) const {
    reset();
    detail::StackEntry entry(const_cast<Handler&>(*this));
    return std::invoke(fn_, std::forward<Args>(args)...);
  }

  const Fn& fn() const { return fn_; }

 protected:
  explicit Handler(Fn fn) : fn_(std::move(fn)) {}
  virtual void reset() const {}

 private:
  Fn fn_;
};

// A scoped guard: on the stack from construction to destruction.
template <>
class Handler<NoModel> : public Messenger {
 public:
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;
  ~Handler() override { detail::remove_from_stack(this); }

 protected:
  // Pushed before the derived handler's members are initialised, which is
  // safe: no message can arrive on this thread until the constructor returns.
  Handler() { detail::handler_stack().push_back(this); }
  virtual void reset() const {}
};

}  // namespace tyche
