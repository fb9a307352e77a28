// Message: what a primitive (sample, param, deterministic, plate, ...) sends
// through the handler stack, with NumPyro's fields. Handlers read and rewrite
// it; `trace` keeps a copy of each one.
//
//   tyche::Message msg;                         // a sample site as sample() builds it
//   msg.type = tyche::SiteType::sample;
//   msg.name = "slope";
//   msg.fn = tyche::dist::Normal(0.0, 5.0).share();
//   tyche::apply_stack(msg);                    // msg.value now holds the draw
#pragma once

#include "tyche/core/tensor.hpp"
#include "tyche/distributions/constraints.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/key.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tyche {

enum class SiteType { sample, param, deterministic, plate, prng_key, inspect, subsample };

constexpr std::string_view to_string(SiteType type) {
  switch (type) {
    case SiteType::sample: return "sample";
    case SiteType::param: return "param";
    case SiteType::deterministic: return "deterministic";
    case SiteType::plate: return "plate";
    case SiteType::prng_key: return "prng_key";
    case SiteType::inspect: return "inspect";
    case SiteType::subsample: return "subsample";
  }
  return "unknown";
}

// One enclosing plate: its name, the (negative) batch axis it owns and its
// (subsample) size.
struct CondIndepStackFrame {
  std::string name;
  int dim = -1;
  std::int64_t size = 0;
  friend bool operator==(const CondIndepStackFrame&, const CondIndepStackFrame&) = default;
};

// Site metadata for inference algorithms (NumPyro's `infer` dict), e.g.
// infer["was_observed"] = true.
using InferValue = std::variant<bool, double, std::string, Tensor>;
using Infer = std::map<std::string, InferValue, std::less<>>;

// Site values by name, as condition, substitute and do take them.
using ValueMap = std::map<std::string, Tensor, std::less<>>;

struct Message {
  SiteType type = SiteType::sample;
  std::string name;  // empty for helper messages (prng_key, inspect, subsample), which traces skip
  dist::DistributionPtr fn;
  std::optional<Tensor> value;
  bool is_observed = false;
  std::optional<Tensor> scale;  // multiplies the site's log density; none means 1
  std::optional<Tensor> mask;   // inspect messages: the mask in effect (get_mask)
  std::vector<CondIndepStackFrame> cond_indep_stack;
  Infer infer;
  bool stop = false;  // set by a handler: outer handlers neither process nor postprocess it
  Shape sample_shape;
  std::optional<Key> rng_key;

  // param sites: the initial value and the constraint it lives in.
  std::optional<Tensor> init;
  std::optional<constraints::Constraint> constraint;
  // param and subsample messages: how many rightmost axes of the value are
  // not batch axes; the plates subsample the axes left of them. None: all are.
  std::optional<int> event_dim;
  // plate sites: the full size and the subsample size.
  std::int64_t plate_size = 0, subsample_size = 0;

  // The `do` handler that split this site, so that it does not split it twice.
  const void* intervener = nullptr;
};

}  // namespace tyche
