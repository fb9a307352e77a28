// do_: Pearl's intervention (`do` is a C++ keyword). The model downstream sees
// the intervened value, as if it were hard-coded; the trace shows a fresh,
// unobserved sample under the original name (its value is used nowhere), and
// the intervened site, renamed `name__CF` and observed, is hidden from outer
// handlers (Single World Intervention Graphs).
//
//   auto intervened = tyche::do_(causal_chain, {{"z", 5.0}});
//   tyche::trace(tyche::seed(intervened, 0)).get_trace(1.0).keys();   // {"z", "y"}
#pragma once

#include "tyche/effects/runtime.hpp"

namespace tyche {

template <class Fn = NoModel>
class do_ : public Handler<Fn> {
 public:
  do_(Fn fn, ValueMap data) : Handler<Fn>(std::move(fn)), data_(std::move(data)) {}
  explicit do_(ValueMap data)
    requires IsGuard<Fn>
      : data_(std::move(data)) {}

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample || msg.intervener == this) return;
    const auto it = data_.find(msg.name);
    if (it == data_.end()) return;
    msg.intervener = this;
    // The fresh sample: the whole stack sees it, this handler passes it by.
    Message fresh = msg;
    apply_stack(fresh);
    msg.name += "__CF";
    msg.value = it->second;
    msg.is_observed = true;
    msg.stop = true;
  }

 private:
  ValueMap data_;
};

template <class Fn>
do_(Fn, ValueMap) -> do_<Fn>;
do_(ValueMap) -> do_<NoModel>;

}  // namespace tyche
