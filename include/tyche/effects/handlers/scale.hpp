// scale: multiplies the log density of sample (and param, plate) sites by a
// positive factor, e.g. to weight a minibatch as the whole data set.
//
//   auto upweighted = tyche::scale(model, 10.0);   // trace shows scale 10 on each site
#pragma once

#include "tyche/distributions/distribution.hpp"
#include "tyche/effects/runtime.hpp"

namespace tyche {

template <class Fn = NoModel>
class scale : public Handler<Fn> {
 public:
  scale(Fn fn, Tensor factor) : Handler<Fn>(std::move(fn)), factor_(checked(std::move(factor))) {}
  explicit scale(Tensor factor)
    requires IsGuard<Fn>
      : factor_(checked(std::move(factor))) {}

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample && msg.type != SiteType::param && msg.type != SiteType::plate) return;
    msg.scale = msg.scale ? factor_ * *msg.scale : factor_;
  }

 private:
  static Tensor checked(Tensor factor) {
    dist::detail::require("scale", "the scale factor", factor, "positive", [](double v) { return v > 0.0; });
    return factor;
  }
  Tensor factor_;
};

template <class Fn>
scale(Fn, Tensor) -> scale<Fn>;
scale(Tensor) -> scale<NoModel>;
scale(double) -> scale<NoModel>;

}  // namespace tyche
