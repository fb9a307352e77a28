// OrderedLogistic: the likelihood of ordinal regression (NumPyro's
// dist.OrderedLogistic, Stan's ordered_logistic). An outcome in 0..K-1 is read
// off a latent predictor + Logistic(0, 1) noise cut at K - 1 increasing
// cutpoints c_0 < ... < c_(K-2):
//   P(Y = 0)     = sigmoid(c_0 - predictor)
//   P(Y = k)     = sigmoid(c_k - predictor) - sigmoid(c_(k-1) - predictor)
//   P(Y = K - 1) = 1 - sigmoid(c_(K-2) - predictor)
//
//   namespace dist = tyche::dist;
//   tyche::Tensor cutpoints{-1.0, 0.5, 2.0};                       // 3 cutpoints: K = 4 categories
//   dist::OrderedLogistic d(tyche::Tensor{0.3, -2.0}, cutpoints);  // batch (2,)
//   tyche::Tensor y = d.sample(tyche::PRNGKey(0), {5});           // shape (5, 2), values in 0..3
//   tyche::Tensor lp = d.log_prob(y);                              // shape (5, 2)
//
// The batch shape is the predictor's broadcast with the cutpoints' leading
// axes. In a model the cutpoints are usually a latent ordered vector: a site
// with support constraints::ordered_vector (ImproperUniform or a
// TransformedDistribution through OrderedTransform; see the README).
#pragma once

#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/random.hpp"

#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace tyche::dist {
namespace detail {

// Throws unless every row (last axis) of x strictly increases, naming the
// first offending pair (constraints::ordered_vector, with a message).
template <class T = Tensor>
void require_increasing_rows(const char* distribution, const char* parameter, const std::type_identity_t<T>& x) {
  const std::int64_t k = x.dim(-1), rows = k == 0 ? 0 : x.size() / k;
  const double* p = Access::values_unguarded(x);  // validation only, as require_each
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 1; j < k; ++j) {
      const double before = p[r * k + j - 1], after = p[r * k + j];
      if (after > before) continue;
      std::ostringstream message;
      message << "tyche: " << distribution << ": " << parameter
              << " must be strictly increasing along the last axis, got " << before << " then " << after
              << " (entries " << j - 1 << " and " << j;
      if (rows > 1) message << " of row " << r << " of an array of shape " << x.shape().str();
      message << ")";
      throw std::invalid_argument(message.str());
    }
}

}  // namespace detail

template <class = void>
class OrderedLogisticT : public Distribution {
 public:
  DistributionPtr share() const override { return std::make_shared<OrderedLogisticT>(*this); }
  OrderedLogisticT(Tensor predictor, Tensor cutpoints)
      : Distribution(batch_of(predictor, cutpoints), {}),
        predictor_(std::move(predictor)),
        cutpoints_(std::move(cutpoints)) {
    detail::require_finite("OrderedLogistic", "predictor", predictor_);
    detail::require_finite("OrderedLogistic", "cutpoints", cutpoints_);
    detail::require_increasing_rows("OrderedLogistic", "cutpoints", cutpoints_);
    log_probs_ = category_log_probs();
  }

  const Tensor& predictor() const { return predictor_; }
  const Tensor& cutpoints() const { return cutpoints_; }
  std::int64_t num_categories() const { return cutpoints_.dim(-1) + 1; }
  // batch + (K,): the probabilities of the categories, and their logs
  // (normalised logits, as Categorical's logits()).
  Tensor probs() const { return exp(log_probs_); }
  const Tensor& logits() const { return log_probs_; }

  std::string name() const override { return "OrderedLogistic"; }
  constraints::Constraint support() const override {
    return constraints::integer_interval(0.0, double(num_categories() - 1));
  }
  // The K categories, as Categorical's (NumPyro's OrderedLogistic is a
  // CategoricalProbs), so that enumeration can sum a latent one out.
  bool has_enumerate_support() const override { return true; }
  Tensor enumerate_support(bool expand = true) const override {
    return detail::enumerate_integers(name(), Tensor(0.0), Tensor(double(num_categories() - 1)), batch_shape(), expand);
  }
  Tensor draw(Key key, const Shape& sample_shape) const override {
    return random::categorical(key, log_probs_, shape(sample_shape));
  }
  // The log probability of category `value`, picked with a one-hot select
  // (as Categorical's); -infinity outside 0..K-1 and for non-integers.
  Tensor log_prob(const Tensor& value) const override {
    Shape expanded = value.shape();
    expanded.push_back(1);
    const Tensor one_hot = value.reshape(expanded) == Tensor::arange(num_categories());
    const Tensor lp = sum(where(one_hot, log_probs_, 0.0), -1);
    return detail::outside_support_to_minus_infinity(lp, detail::broadcast_to_shape(value, lp.shape()), support());
  }
  // Undefined for categories, as NumPyro's CategoricalProbs: NaN.
  Tensor mean() const override { return Tensor::full(batch_shape(), std::numeric_limits<double>::quiet_NaN()); }
  Tensor variance() const override { return mean(); }

 private:
  static Shape batch_of(const Tensor& predictor, const Tensor& cutpoints) {
    if (cutpoints.ndim() == 0 || cutpoints.dim(-1) == 0)
      throw ShapeError("tyche: OrderedLogistic: cutpoints need a last axis of at least one cutpoint (K - 1 of them "
                       "for K categories), got shape " + cutpoints.shape().str());
    return broadcast_shapes(predictor.shape(), Shape(cutpoints.shape().begin(), cutpoints.shape().end() - 1),
                            "OrderedLogistic");
  }

  // log P(Y = k) for every k, batch + (K,). NumPyro takes differences of
  // sigmoids, which cancel to 0 (log -inf) in the tails; here, with
  // a = c_(k-1) - predictor < b = c_k - predictor,
  //   sigmoid(b) - sigmoid(a) = sigmoid(b) sigmoid(-a) (1 - e^(a - b)),
  // whose log is a sum of log_sigmoid terms and log(-expm1(c_(k-1) - c_k)),
  // exact at any distance from the cutpoints.
  Tensor category_log_probs() const {
    const std::int64_t cuts = cutpoints_.dim(-1);
    Shape column = predictor_.shape();
    column.push_back(1);
    const Tensor shifted = cutpoints_ - predictor_.reshape(column);  // c_k - predictor, batch + (K - 1,)
    const Tensor first = log_sigmoid(slice(shifted, -1, 0, 1));
    const Tensor last = log_sigmoid(-slice(shifted, -1, cuts - 1, cuts));
    if (cuts == 1) return concatenate({first, last}, -1);
    const Tensor gaps = slice(cutpoints_, -1, 0, cuts - 1) - slice(cutpoints_, -1, 1, cuts);  // c_(k-1) - c_k < 0
    const Tensor middle = log_sigmoid(slice(shifted, -1, 1, cuts)) + log_sigmoid(-slice(shifted, -1, 0, cuts - 1)) +
                          log(-expm1(gaps));
    return concatenate({first, middle, last}, -1);
  }

  Tensor predictor_, cutpoints_, log_probs_;
};
using OrderedLogistic = OrderedLogisticT<>;

}  // namespace tyche::dist
