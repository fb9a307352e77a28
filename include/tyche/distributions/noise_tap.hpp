// NoiseTap: where the random draws of a recorded SVI loss go (see
// infer/guide_elbo.hpp). While SVI records a guide's loss, draws of
// parameter-free noise pass through the tap of their thread: it may hand the
// recording an input in place of the numbers, so that each replay feeds
// fresh ones, and it refuses draws it could not refill. No tap is set
// otherwise, and a draw then costs one thread-local read more.
//
//   struct Refuse : tyche::detail::NoiseTap { ... };
//   tyche::detail::noise_tap() = &refuse;   // and back to nullptr after
#pragma once

#include "tyche/core/tensor.hpp"
#include "tyche/distributions/key.hpp"

#include <cstdint>
#include <functional>

namespace tyche::detail {

class NoiseTap {
 public:
  using Fill = std::function<void(Key, double*, std::int64_t)>;
  virtual ~NoiseTap() = default;
  // `values` as fill(key, ...) drew them, element i from the key's bits i;
  // returns what the draw returns.
  virtual Tensor elementwise(Key key, Tensor values, Fill fill) = 0;
  // A draw that is no elementwise function of its key's bits (a rejection
  // sampler, a permutation): throws.
  virtual void opaque(const char* what) = 0;
};

inline NoiseTap*& noise_tap() {
  thread_local NoiseTap* tap = nullptr;
  return tap;
}

}  // namespace tyche::detail
