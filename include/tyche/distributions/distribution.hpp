// Distribution: what every distribution in tyche::dist provides.
//
// A distribution has a batch shape (independent, not identically distributed
// copies) and an event shape (one draw of a multivariate distribution).
// sample(key, sample_shape) returns sample_shape + batch_shape + event_shape;
// log_prob(value) returns the batch shape (broadcast with the value's leading
// axes) and carries gradients with respect to the value and the parameters.
// A value outside the support has log_prob -infinity, never NaN.
// log_prob_sum(value) is sum(log_prob(value)) as one rank-0 array: what a
// model's log joint adds up. Normal, Cauchy, HalfNormal, HalfCauchy and
// Bernoulli by logits compute it with one fused node (core/fused_densities.hpp),
// and Independent, expand and Unit pass it on; the others sum their log_prob.
//
//   tyche::dist::Normal d(0.0, tyche::Tensor{1.0, 2.0});     // batch (2,)
//   tyche::Tensor x = d.sample(tyche::PRNGKey(0), {5});       // shape (5, 2)
//   tyche::Tensor lp = d.to_event(1).log_prob(x);              // shape (5,)
//
// Concrete distributions are class templates behind an alias, so that a
// program compiles only the distributions it uses (issue 17; see
// core/tensor.hpp): `template <class = void> class NormalT : public
// Distribution`, `using Normal = NormalT<>`; each defines `share` (the shared
// copy a trace keeps). The wrappers derive from DistributionBase<Self>, which
// defines it for them.
#pragma once

#include "tyche/core/elementwise.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/core/tensor.hpp"
#include "tyche/distributions/constraints.hpp"
#include "tyche/distributions/key.hpp"
#include "tyche/distributions/require.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace tyche::dist {

class Distribution;
using DistributionPtr = std::shared_ptr<const Distribution>;
class ExpandedDistribution;
class Independent;
class MaskedDistribution;

class Distribution {
 public:
  virtual ~Distribution() = default;

  const Shape& batch_shape() const { return batch_shape_; }
  const Shape& event_shape() const { return event_shape_; }
  int event_dim() const { return event_shape_.rank(); }
  // sample_shape + batch_shape + event_shape.
  Shape shape(const Shape& sample_shape = {}) const {
    Shape s = sample_shape;
    for (std::int64_t d : batch_shape_) s.push_back(d);
    for (std::int64_t d : event_shape_) s.push_back(d);
    return s;
  }

  virtual std::string name() const = 0;  // "Normal"
  Tensor sample(Key key, const Shape& sample_shape = {}) const { return draw(key, sample_shape); }
  virtual Tensor log_prob(const Tensor& value) const = 0;
  // The sum over all elements of log_prob(value), rank 0; equal to it up to
  // rounding, -infinity outside the support included.
  virtual Tensor log_prob_sum(const Tensor& value) const { return sum(log_prob(value)); }
  virtual constraints::Constraint support() const = 0;
  virtual Tensor mean() const = 0;
  virtual Tensor variance() const = 0;
  // A shared copy, for traces and wrappers to keep.
  virtual DistributionPtr share() const = 0;
  // What sample() returns; a virtual of its own so sample keeps its default.
  virtual Tensor draw(Key key, const Shape& sample_shape) const = 0;

  bool is_discrete() const { return support().is_discrete(); }

  // Whether enumerate_support can list the support: a finite discrete one
  // (Bernoulli, Categorical, Binomial, DiscreteUniform, BetaBinomial, and
  // expand or mask of one), as NumPyro's has_enumerate_support.
  virtual bool has_enumerate_support() const { return false; }
  // Every value of the support along a new leading axis, as NumPyro's
  // enumerate_support: shape (n,) + batch_shape with expand, (n,) and a 1 per
  // batch axis without. The support must be the same for the whole batch
  // (a Binomial's total_count equal everywhere), as in NumPyro.
  //
  //   dist::Bernoulli({.probs = tyche::Tensor{0.1, 0.2, 0.3}}).enumerate_support(false);   // (2, 1): 0, 1
  virtual Tensor enumerate_support(bool /*expand*/ = true) const {
    throw std::invalid_argument("tyche: " + name() + " has no enumerate_support: its support " + support().str() +
                                " is not a finite set tyche can list (Bernoulli, Categorical, Binomial, "
                                "DiscreteUniform and BetaBinomial can)");
  }

  // The same distribution broadcast to a larger batch shape; new batch
  // elements are independent draws.
  ExpandedDistribution expand(const Shape& batch_shape) const;
  // The rightmost `reinterpreted_batch_ndims` batch axes read as event axes
  // (all of them when negative, as NumPyro's to_event()).
  Independent to_event(int reinterpreted_batch_ndims = -1) const;
  // log_prob is 0 where `mask` (0/1, broadcast with the batch shape) is 0.
  MaskedDistribution mask(const Tensor& mask) const;
  // Which elements of a value log_prob counts: a 0/1 array that broadcasts
  // against the value (event axes included), 0 where a mask leaves the
  // element out; none when every element counts. A value may hold NaN where
  // this is 0 (observations with missing entries).
  virtual std::optional<Tensor> value_mask() const { return std::nullopt; }

  // "Normal(batch_shape=(2,), event_shape=())".
  std::string str() const {
    return name() + "(batch_shape=" + batch_shape_.str() + ", event_shape=" + event_shape_.str() + ")";
  }

 protected:
  Distribution(const Shape& batch_shape, const Shape& event_shape)
      : batch_shape_(batch_shape), event_shape_(event_shape) {}
  Distribution(const Distribution&) = default;
  Distribution& operator=(const Distribution&) = default;

 private:
  Shape batch_shape_, event_shape_;
};

// Implemented by location-scale families (Normal, Cauchy, StudentT, ...) so
// that LocScaleReparam can rebuild one with another loc and scale, keeping
// any shape parameter (StudentT's df).
class LocScaleFamily {
 public:
  virtual ~LocScaleFamily() = default;
  virtual const Tensor& loc() const = 0;
  virtual const Tensor& scale() const = 0;
  virtual DistributionPtr with_loc_scale(Tensor loc, Tensor scale) const = 0;
};

template <class Self>
class DistributionBase : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<Self>(static_cast<const Self&>(*this)); }

 protected:
  using Distribution::Distribution;
};

// Helpers for writing distributions.
namespace detail {

using tyche::detail::Access;

// The batch shape of parameters that broadcast against each other.
inline Shape broadcast_parameters(const char* distribution, std::initializer_list<const Tensor*> parameters) {
  Shape shape;
  for (const Tensor* p : parameters) shape = broadcast_shapes(shape, p->shape(), distribution);
  return shape;
}

// Throws unless every element of `parameter` satisfies `ok`:
//   "tyche: Normal: scale must be positive, got -1".
template <class Predicate>
void require(const char* distribution, const char* parameter, const Tensor& value, const char* requirement,
             Predicate ok) {
  tyche::detail::require_each(distribution, parameter, value, requirement, ok);
}

inline void require_positive(const char* distribution, const char* parameter, const Tensor& value) {
  require(distribution, parameter, value, "positive", [](double v) { return v > 0.0 && v < HUGE_VAL; });
}
inline void require_finite(const char* distribution, const char* parameter, const Tensor& value) {
  require(distribution, parameter, value, "finite", [](double v) { return std::isfinite(v); });
}
inline void require_probability(const char* distribution, const char* parameter, const Tensor& value) {
  require(distribution, parameter, value, "in [0, 1]", [](double v) { return v >= 0.0 && v <= 1.0; });
}

// The integers low .. high along a new leading axis, followed by a 1 per
// batch axis, or broadcast to (n,) + batch_shape with expand: the
// enumerate_support of a distribution whose support is integer_interval(low,
// high), which must be the same interval for every batch element.
template <class T = Tensor>
Tensor enumerate_integers(const std::string& distribution, const std::type_identity_t<T>& low, const Tensor& high,
                          const Shape& batch_shape, bool expand) {
  const auto homogeneous = [&](const Tensor& bound, const char* what) {
    const double* b = bound.data();
    if (!std::all_of(b, b + bound.size(), [&](double v) { return v == b[0]; }))
      throw std::invalid_argument("tyche: " + distribution + ".enumerate_support: the " + what +
                                  " differs across the batch (shape " + bound.shape().str() +
                                  "); enumeration needs one support for the whole batch, as in NumPyro");
    return b[0];
  };
  const double lo = homogeneous(low, "support's lower bound"), hi = homogeneous(high, "support's upper bound");
  Shape shape{std::int64_t(hi - lo) + 1};
  for (int i = 0; i < batch_shape.rank(); ++i) shape.push_back(1);
  Tensor values = (Tensor::arange(shape[0]) + lo).reshape(shape);
  if (!expand) return values;
  Shape full{shape[0]};
  for (std::int64_t d : batch_shape) full.push_back(d);
  return broadcast_to(values, full);
}

// log_prob with -infinity wherever the value lies outside the support.
template <class T = Tensor>
Tensor outside_support_to_minus_infinity(const std::type_identity_t<T>& log_prob, const std::type_identity_t<T>& value,
                                         const constraints::Constraint& support) {
  return where(support.check(value), log_prob, -std::numeric_limits<double>::infinity());
}

// Whether a fused summed density may take `value`: false when an element of
// it is known now to fail `ok` (the unfused log_prob then decides what it
// contributes). A value that depends on the parameters of a gradient being
// compiled cannot be read while recording; the fused kernels that need it
// re-check such a value in every replay.
template <class Predicate>
bool fusable_value(const Tensor& value, Predicate ok) {
  if (value.requires_grad() && tyche::detail::this_thread_tape().tracing()) return true;
  const double* x = value.data();
  return std::all_of(x, x + value.size(), ok);
}

// Broadcasts a parameter-shaped array (batch + event) to the full shape.
template <class T = Tensor>
Tensor broadcast_to_shape(const std::type_identity_t<T>& x, const Shape& shape) {
  return x.shape() == shape ? x : broadcast_to(x, shape);
}

// A wrapper's enumerate_support (expand, mask): the values its base lists,
// shape (n,) and 1s, laid out for the wrapper's batch shape as
// Distribution::enumerate_support says.
template <class T = Tensor>
Tensor enumerate_for_batch(const std::type_identity_t<T>& values, const Shape& batch_shape, bool expand) {
  Shape shape{values.dim(0)};
  for (int i = 0; i < batch_shape.rank(); ++i) shape.push_back(1);
  if (!expand) return values.reshape(shape);
  Shape full{values.dim(0)};
  for (std::int64_t d : batch_shape) full.push_back(d);
  return broadcast_to(values.reshape(shape), full);
}

}  // namespace detail
}  // namespace tyche::dist

#include "tyche/distributions/wrappers.hpp"
