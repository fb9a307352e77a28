// seed: gives every sample site that has neither a value nor a key a fresh
// key split from its own (also plate subsampling and prng_key()). The same
// seed gives the same trace, and a seeded model gives the same values each
// time it is called: the key restarts with each call.
//
//   auto seeded = tyche::seed(model, 0);     // or a tyche::Key
//   seeded(x);                               // draws as NumPyro's seed(model, rng_seed=0)
//   { tyche::seed guard(0); tyche::sample("x", tyche::dist::Normal(0.0, 1.0)); }   // -2.4425
#pragma once

#include "tyche/effects/runtime.hpp"

#include <algorithm>
#include <vector>

namespace tyche {

template <class Fn = NoModel>
class seed : public Handler<Fn> {
 public:
  seed(Fn fn, Key key, std::vector<SiteType> hide_types = {})
      : Handler<Fn>(std::move(fn)), initial_(key), key_(key), hide_types_(std::move(hide_types)) {}
  seed(Fn fn, std::uint64_t rng_seed, std::vector<SiteType> hide_types = {})
      : seed(std::move(fn), PRNGKey(rng_seed), std::move(hide_types)) {}
  explicit seed(Key key, std::vector<SiteType> hide_types = {})
    requires IsGuard<Fn>
      : initial_(key), key_(key), hide_types_(std::move(hide_types)) {}
  explicit seed(std::uint64_t rng_seed, std::vector<SiteType> hide_types = {})
    requires IsGuard<Fn>
      : seed(PRNGKey(rng_seed), std::move(hide_types)) {}

  void process_message(Message& msg) override {
    if (std::find(hide_types_.begin(), hide_types_.end(), msg.type) != hide_types_.end()) return;
    if (msg.type != SiteType::sample && msg.type != SiteType::prng_key && msg.type != SiteType::plate) return;
    if (msg.rng_key || msg.value) return;  // a value needs no key
    const auto [next, site_key] = split(key_);
    key_ = next;
    msg.rng_key = site_key;
  }

 private:
  void reset() const override { key_ = initial_; }
  Key initial_;
  mutable Key key_;
  std::vector<SiteType> hide_types_;
};

template <class Fn>
seed(Fn, Key, std::vector<SiteType> = {}) -> seed<Fn>;
template <class Fn>
seed(Fn, std::uint64_t, std::vector<SiteType> = {}) -> seed<Fn>;
seed(Key, std::vector<SiteType> = {}) -> seed<NoModel>;
seed(std::uint64_t, std::vector<SiteType> = {}) -> seed<NoModel>;

}  // namespace tyche
