// mask: masks the log density of sample sites elementwise: where the mask is
// 0 (false) a site's elements contribute nothing. The site's distribution
// becomes a MaskedDistribution; get_mask() inside sees the mask.
//
//   auto train_only = tyche::mask(model, tyche::Tensor{1.0, 0.0, 1.0});
//   auto off = tyche::mask(model, false);      // everything masked out
#pragma once

#include "tyche/distributions/distribution.hpp"
#include "tyche/effects/runtime.hpp"

namespace tyche {

template <class Fn = NoModel>
class mask : public Handler<Fn> {
 public:
  mask(Fn fn, Tensor keep) : Handler<Fn>(std::move(fn)), mask_(checked(std::move(keep))) {}
  mask(Fn fn, bool keep) : Handler<Fn>(std::move(fn)), mask_(keep ? 1.0 : 0.0) {}
  explicit mask(Tensor keep)
    requires IsGuard<Fn>
      : mask_(checked(std::move(keep))) {}
  explicit mask(bool keep)
    requires IsGuard<Fn>
      : mask_(keep ? 1.0 : 0.0) {}

  void process_message(Message& msg) override {
    if (msg.type == SiteType::inspect) {
      msg.mask = msg.mask ? mask_ * *msg.mask : mask_;
      return;
    }
    if (msg.type != SiteType::sample) return;
    msg.fn = msg.fn->mask(mask_).share();
  }

 private:
  static Tensor checked(Tensor keep) {
    dist::detail::require("mask", "the mask", keep, "0 or 1 (a boolean array)",
                          [](double v) { return v == 0.0 || v == 1.0; });
    return keep;
  }
  Tensor mask_;
};

template <class Fn>
mask(Fn, Tensor) -> mask<Fn>;
template <class Fn>
mask(Fn, bool) -> mask<Fn>;
mask(Tensor) -> mask<NoModel>;
mask(bool) -> mask<NoModel>;

}  // namespace tyche
