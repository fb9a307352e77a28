// infer_config: sets fields of sample sites' `infer` from a function of the
// site (entries it returns are added, replacing ones of the same key).
//
//   auto configured = tyche::infer_config(model, [](const tyche::Message& m) {
//     return tyche::Infer{{"enumerate", std::string("parallel")}};
//   });
#pragma once

#include "tyche/effects/runtime.hpp"

#include <functional>

namespace tyche {

using InferConfigFn = std::function<Infer(const Message&)>;

template <class Fn = NoModel>
class infer_config : public Handler<Fn> {
 public:
  infer_config(Fn fn, InferConfigFn config_fn) : Handler<Fn>(std::move(fn)), config_fn_(std::move(config_fn)) {}
  explicit infer_config(InferConfigFn config_fn)
    requires IsGuard<Fn>
      : config_fn_(std::move(config_fn)) {}

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample) return;
    for (auto& [key, value] : config_fn_(msg)) msg.infer.insert_or_assign(key, value);
  }

 private:
  InferConfigFn config_fn_;
};

template <class Fn>
infer_config(Fn, InferConfigFn) -> infer_config<Fn>;
infer_config(InferConfigFn) -> infer_config<NoModel>;

}  // namespace tyche
