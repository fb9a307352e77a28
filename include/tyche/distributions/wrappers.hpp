// Distributions made from another one: expanded to a larger batch shape,
// with batch axes read as event axes (Independent), or masked.
//
//   auto d = tyche::dist::Normal(0.0, 1.0).expand({3, 2});      // batch (3, 2)
//   auto e = d.to_event(1);                                       // batch (3,), event (2,)
//   auto m = d.mask(tyche::Tensor{1.0, 0.0});                     // 0 log density in column 1
#pragma once

#include "tyche/distributions/distribution.hpp"

#include <algorithm>
#include <optional>
#include <vector>

namespace tyche::dist {

class ExpandedDistribution : public DistributionBase<ExpandedDistribution> {
 public:
  ExpandedDistribution(DistributionPtr base, const Shape& batch_shape)
      : DistributionBase(batch_shape, base->event_shape()), base_(std::move(base)) {
    const Shape& old = base_->batch_shape();
    if (old.rank() > batch_shape.rank() || broadcast_shapes(old, batch_shape, "expand") != batch_shape)
      throw ShapeError("tyche: " + base_->name() + ".expand: cannot expand batch shape " + old.str() + " to " +
                       batch_shape.str());
  }

  const Distribution& base() const { return *base_; }
  std::string name() const override { return base_->name(); }
  constraints::Constraint support() const override { return base_->support(); }

  // The base draws new axes as sample axes; axes where the base has size 1
  // are drawn as leading sample axes too, then moved into place.
  Tensor draw(Key key, const Shape& sample_shape) const override {
    const Shape& old = base_->batch_shape();
    const Shape& batch = batch_shape();
    const int offset = batch.rank() - old.rank();
    Shape draw_shape = sample_shape;
    std::vector<int> stretched;  // batch axes (of `batch`) that the base has as size 1
    for (int i = 0; i < offset; ++i) draw_shape.push_back(batch[i]);
    for (int i = 0; i < old.rank(); ++i)
      if (old[i] == 1 && batch[offset + i] != 1) {
        draw_shape.push_back(batch[offset + i]);
        stretched.push_back(offset + i);
      }
    Tensor draws = base_->sample(key, draw_shape);
    if (stretched.empty()) return draws;
    // draws: sample + prefix + stretched + old (with 1s) + event. Drop the 1s,
    // then move each stretched axis to its batch position.
    const int s = sample_shape.rank(), k = int(stretched.size()), e = event_dim();
    Shape compact(draws.shape().begin(), draws.shape().begin() + s + offset + k);
    for (int i = 0; i < old.rank(); ++i)
      if (!(old[i] == 1 && batch[offset + i] != 1)) compact.push_back(old[i]);
    for (std::int64_t d : event_shape()) compact.push_back(d);
    // Source axis of each output axis.
    std::vector<int> perm;
    for (int i = 0; i < s + offset; ++i) perm.push_back(i);
    int next_kept = s + offset + k, next_stretched = s + offset;
    for (int i = offset; i < batch.rank(); ++i)
      perm.push_back(std::find(stretched.begin(), stretched.end(), i) != stretched.end() ? next_stretched++
                                                                                          : next_kept++);
    for (int i = 0; i < e; ++i) perm.push_back(next_kept++);
    return transpose(draws.reshape(compact), perm);
  }

  Tensor log_prob(const Tensor& value) const override {
    const Tensor lp = base_->log_prob(value);
    const Shape lp_batch(lp.shape().begin(), lp.shape().end());
    return detail::broadcast_to_shape(lp, broadcast_shapes(lp_batch, batch_shape(), "expand.log_prob"));
  }
  // The base's sum when log_prob counts each of the base's elements once: the
  // value has the whole expanded shape (after any sample axes), so the base's
  // log_prob already has the expanded batch shape. Else a smaller value is
  // broadcast, and log_prob repeats elements that the base's sum would not.
  Tensor log_prob_sum(const Tensor& value) const override {
    const Shape whole = shape();
    const Shape& v = value.shape();
    if (v.rank() >= whole.rank() && std::equal(whole.begin(), whole.end(), v.end() - whole.rank()))
      return base_->log_prob_sum(value);
    return Distribution::log_prob_sum(value);
  }
  Tensor mean() const override { return detail::broadcast_to_shape(base_->mean(), shape()); }
  Tensor variance() const override { return detail::broadcast_to_shape(base_->variance(), shape()); }
  std::optional<Tensor> value_mask() const override { return base_->value_mask(); }
  // The support its base lists, laid out for this batch shape.
  bool has_enumerate_support() const override { return base_->has_enumerate_support(); }
  Tensor enumerate_support(bool expand = true) const override {
    if (!base_->has_enumerate_support()) return Distribution::enumerate_support(expand);  // which throws
    return detail::enumerate_for_batch(base_->enumerate_support(false), batch_shape(), expand);
  }

 private:
  DistributionPtr base_;
};

class Independent : public DistributionBase<Independent> {
 public:
  Independent(DistributionPtr base, int reinterpreted_batch_ndims)
      : DistributionBase(split_batch(*base, reinterpreted_batch_ndims).first,
                         split_batch(*base, reinterpreted_batch_ndims).second),
        base_(std::move(base)),
        reinterpreted_(reinterpreted_batch_ndims) {}

  const Distribution& base() const { return *base_; }
  int reinterpreted_batch_ndims() const { return reinterpreted_; }
  std::string name() const override { return "Independent"; }
  constraints::Constraint support() const override { return base_->support().independent(reinterpreted_); }
  Tensor draw(Key key, const Shape& sample_shape) const override { return base_->sample(key, sample_shape); }
  Tensor log_prob(const Tensor& value) const override {
    Tensor lp = base_->log_prob(value);
    for (int i = 0; i < reinterpreted_; ++i) lp = sum(lp, -1);
    return lp;
  }
  // Summing the reinterpreted axes first changes nothing in the total.
  Tensor log_prob_sum(const Tensor& value) const override { return base_->log_prob_sum(value); }
  Tensor mean() const override { return base_->mean(); }
  Tensor variance() const override { return base_->variance(); }
  std::optional<Tensor> value_mask() const override { return base_->value_mask(); }

 private:
  static std::pair<Shape, Shape> split_batch(const Distribution& base, int n) {
    const Shape& b = base.batch_shape();
    if (n < 0 || n > b.rank())
      throw std::invalid_argument("tyche: " + base.name() + ".to_event(" + std::to_string(n) +
                                  "): the batch shape " + b.str() + " has only " + std::to_string(b.rank()) +
                                  " axes");
    Shape batch(b.begin(), b.end() - n), event(b.end() - n, b.end());
    for (std::int64_t d : base.event_shape()) event.push_back(d);
    return {batch, event};
  }
  DistributionPtr base_;
  int reinterpreted_;
};

class MaskedDistribution : public DistributionBase<MaskedDistribution> {
 public:
  MaskedDistribution(DistributionPtr base, Tensor mask)
      : DistributionBase(broadcast_shapes(base->batch_shape(), mask.shape(), "mask"), base->event_shape()),
        base_(std::move(base)),
        mask_(std::move(mask)) {
    detail::require(base_->name().c_str(), "mask", mask_, "0 or 1 (a boolean array)",
                    [](double v) { return v == 0.0 || v == 1.0; });
  }

  const Distribution& base() const { return *base_; }
  const Tensor& mask_array() const { return mask_; }
  std::string name() const override { return "MaskedDistribution"; }
  constraints::Constraint support() const override { return base_->support(); }
  // Draws of the whole batch shape, the base's broadcast with the mask's
  // (NumPyro expands the base to it).
  Tensor draw(Key key, const Shape& sample_shape) const override {
    if (base_->batch_shape() == batch_shape()) return base_->sample(key, sample_shape);
    return base_->expand(batch_shape()).sample(key, sample_shape);
  }
  // Masked elements are exactly 0 and pass no gradient back, whatever they
  // hold (NaN for a missing observation): the base sees a point of its
  // support there instead, because `where` drops the base's value but not
  // the base's own backward pass, which would multiply the zero it gets by a
  // NaN partial.
  Tensor log_prob(const Tensor& value) const override {
    if (keeps_all_) return where(mask_, base_->log_prob(value), 0.0);
    const Tensor safe = where(event_aligned(mask_), value, base_->support().feasible_like(value));
    return where(mask_, base_->log_prob(safe), 0.0);
  }
  Tensor mean() const override { return base_->mean(); }
  Tensor variance() const override { return base_->variance(); }
  std::optional<Tensor> value_mask() const override {
    const Tensor own = event_aligned(mask_);
    const std::optional<Tensor> inner = base_->value_mask();
    return inner ? own * *inner : own;
  }
  // The support its base lists, laid out for this batch shape.
  bool has_enumerate_support() const override { return base_->has_enumerate_support(); }
  Tensor enumerate_support(bool expand = true) const override {
    if (!base_->has_enumerate_support()) return Distribution::enumerate_support(expand);  // which throws
    return detail::enumerate_for_batch(base_->enumerate_support(false), batch_shape(), expand);
  }

 private:
  // The mask with a trailing axis of size 1 per event axis, so that it lines
  // up with values.
  Tensor event_aligned(const Tensor& batch_mask) const {
    Shape shape = batch_mask.shape();
    for (int i = 0; i < event_dim(); ++i) shape.push_back(1);
    return batch_mask.reshape(shape);
  }
  static bool all_ones(const Tensor& mask) {
    const double* m = tyche::detail::Access::values_unguarded(mask);  // masks are data
    return std::all_of(m, m + mask.size(), [](double v) { return v != 0.0; });
  }
  DistributionPtr base_;
  Tensor mask_;
  bool keeps_all_ = all_ones(mask_);
};

inline ExpandedDistribution Distribution::expand(const Shape& batch_shape) const {
  return ExpandedDistribution(share(), batch_shape);
}
inline Independent Distribution::to_event(int reinterpreted_batch_ndims) const {
  return Independent(share(), reinterpreted_batch_ndims < 0 ? batch_shape_.rank() : reinterpreted_batch_ndims);
}
inline MaskedDistribution Distribution::mask(const Tensor& mask) const { return MaskedDistribution(share(), mask); }

}  // namespace tyche::dist
