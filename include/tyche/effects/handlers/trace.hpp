// trace: records every named site, in execution order, with all its message
// fields. A second sample or deterministic site of the same name is an error.
//
//   tyche::Trace tr = tyche::trace(tyche::seed(model, 0)).get_trace(x);
//   {
//     tyche::trace recorder;                  // a guard: records the block
//     tyche::seed(model, 0)(x);
//     recorder["slope"].value;               // == recorder.get_trace()["slope"].value
//   }
#pragma once

#include "tyche/effects/runtime.hpp"
#include "tyche/effects/trace_data.hpp"

#include <stdexcept>

namespace tyche {

template <class Fn = NoModel>
class trace : public Handler<Fn> {
 public:
  explicit trace(Fn fn) : Handler<Fn>(std::move(fn)) {}
  trace()
    requires IsGuard<Fn>
  = default;

  // Runs the model and returns what it recorded.
  template <class... Args>
    requires(!IsGuard<Fn>)
  Trace get_trace(Args&&... args) const {
    (*this)(std::forward<Args>(args)...);
    return trace_;
  }
  // Guard mode: what the block has recorded so far.
  const Trace& get_trace() const
    requires IsGuard<Fn>
  {
    return trace_;
  }
  const Message& operator[](std::string_view name) const { return trace_[name]; }

  void postprocess_message(Message& msg) override {
    if (msg.name.empty()) return;  // helper messages (prng_key, inspect)
    if ((msg.type == SiteType::sample || msg.type == SiteType::deterministic) && trace_.contains(msg.name))
      throw std::invalid_argument("tyche: all sites must have unique names but got `" + msg.name + "` duplicated");
    trace_.record(msg);
  }

 private:
  void reset() const override { trace_.clear(); }
  mutable Trace trace_;
};

template <class Fn>
trace(Fn) -> trace<Fn>;
trace() -> trace<NoModel>;

}  // namespace tyche
