// Two handler behaviours checked against independent references:
// - LocScaleReparam, against NumPyro's numpyro/infer/reparam.py: the site
//   `{name}_decentered` is drawn from the family with loc * c and scale ^ c
//   (StudentT keeps its df), `{name}` becomes the deterministic
//   loc + scale^(1 - c) (decentered - c loc), c = 1 leaves the site alone and
//   no c makes c a `{name}_centered` param in [0, 1] starting at 0.5 over the
//   event shape; the reparameterised model keeps the site's marginal (Boost.Math
//   CDFs) and its density up to the Jacobian;
// - subsampling plates: uniform subsets (chi-square), distinct indices in range,
//   different subsets for different keys.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include "statistics.hpp"

#include <boost/math/distributions/cauchy.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/laplace.hpp>
#include <boost/math/distributions/logistic.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace dist = tyche::dist;
namespace bm = boost::math;
using tyche::Message;
using tyche::Shape;
using tyche::SiteType;
using tyche::Tensor;
using tyche::Trace;

std::vector<std::string> reparam_site_names(const Trace& tr) {
  std::vector<std::string> out;
  for (const Message& site : tr) out.push_back(site.name);
  return out;
}

// A location-scale family, with its CDF from Boost.Math.
struct ReparamFamily {
  std::string name;
  std::function<dist::DistributionPtr(Tensor, Tensor)> make;
  std::function<double(double x, double loc, double scale)> cdf;
};

constexpr double kDf = 4.0;  // StudentT's df, which the decentred site keeps

std::vector<ReparamFamily> reparam_families() {
  return {
      {"Normal", [](Tensor l, Tensor s) { return dist::Normal(l, s).share(); },
       [](double x, double l, double s) { return bm::cdf(bm::normal_distribution<>(l, s), x); }},
      {"Cauchy", [](Tensor l, Tensor s) { return dist::Cauchy(l, s).share(); },
       [](double x, double l, double s) { return bm::cdf(bm::cauchy_distribution<>(l, s), x); }},
      {"StudentT", [](Tensor l, Tensor s) { return dist::StudentT(kDf, l, s).share(); },
       [](double x, double l, double s) { return bm::cdf(bm::students_t_distribution<>(kDf), (x - l) / s); }},
      {"Laplace", [](Tensor l, Tensor s) { return dist::Laplace(l, s).share(); },
       [](double x, double l, double s) { return bm::cdf(bm::laplace_distribution<>(l, s), x); }},
      {"Logistic", [](Tensor l, Tensor s) { return dist::Logistic(l, s).share(); },
       [](double x, double l, double s) { return bm::cdf(bm::logistic_distribution<>(l, s), x); }},
  };
}

const Tensor kReparamLoc{-1.5, 0.5, 2.0};
const Tensor kReparamScale{0.5, 1.0, 3.0};

// loc + scale^(1 - c) (decentered - c loc), in doubles, element by element.
std::vector<double> recentred(const std::vector<double>& decentered, double c) {
  std::vector<double> out;
  for (std::size_t i = 0; i < decentered.size(); ++i) {
    const double loc = kReparamLoc.data()[i], scale = kReparamScale.data()[i];
    out.push_back(loc + std::pow(scale, 1.0 - c) * (decentered[i] - c * loc));
  }
  return out;
}

}  // namespace

// ---- LocScaleReparam -----------------------------------------------------------

TEST_CASE("LocScaleReparam with 0 < centered < 1: the decentred site's distribution and the site's value are "
          "NumPyro's, and the joint density changes by the Jacobian only") {
  for (const ReparamFamily& family : reparam_families()) {
    const auto model = [&] { tyche::sample("x", *family.make(kReparamLoc, kReparamScale)); };
    for (const double c : {0.25, 0.6}) {
      INFO(family.name << ", centered " << c);
      const auto reparameterised = tyche::reparam(model, {{"x", tyche::LocScaleReparam(c)}});
      const Trace tr = tyche::trace(tyche::seed(reparameterised, 11)).get_trace();
      REQUIRE(reparam_site_names(tr) == std::vector<std::string>{"x_decentered", "x"});
      const Message& decentered = tr["x_decentered"];
      CHECK(decentered.type == SiteType::sample);
      CHECK(decentered.fn->name() == family.name);
      CHECK(decentered.fn->batch_shape() == Shape{3});
      const auto* loc_scale = dynamic_cast<const dist::LocScaleFamily*>(decentered.fn.get());
      REQUIRE(loc_scale != nullptr);
      for (std::int64_t i = 0; i < 3; ++i) {
        CHECK(tyche::broadcast_to(loc_scale->loc(), Shape{3}).at({i}) == Approx(c * kReparamLoc.at({i})).epsilon(1e-15));
        CHECK(tyche::broadcast_to(loc_scale->scale(), Shape{3}).at({i}) ==
              Approx(std::pow(kReparamScale.at({i}), c)).epsilon(1e-14));
      }
      if (const auto* t = dynamic_cast<const dist::StudentT*>(decentered.fn.get())) CHECK(t->df().item() == kDf);
      CHECK(tr["x"].type == SiteType::deterministic);
      const std::vector<double> expected = recentred(decentered.value->to_std_vector(), c);
      for (std::int64_t i = 0; i < 3; ++i)
        CHECK(tr["x"].value->at({i}) == Approx(expected[std::size_t(i)]).epsilon(1e-14));

      // x = loc + scale^(1 - c) (d - c loc) is affine in d with slope
      // scale^(1 - c): log p(d) = log p(x(d)) + (1 - c) sum log scale.
      const Tensor d{0.7, -2.0, 4.5};
      const auto [lp_reparameterised, tr_reparameterised] =
          tyche::log_density(reparameterised, std::tuple{}, {{"x_decentered", d}});
      const Tensor x = *tr_reparameterised["x"].value;
      const auto [lp_original, unused] = tyche::log_density(model, std::tuple{}, {{"x", x}});
      const double log_jacobian = (1.0 - c) * tyche::sum(tyche::log(kReparamScale)).item();
      CHECK(lp_reparameterised.item() == Approx(lp_original.item() + log_jacobian).epsilon(1e-12));
    }
  }
}

TEST_CASE("LocScaleReparam keeps the site's marginal: 4000 draws of the site against Boost.Math's CDF") {
  // One run of a plate of 4000 gives 4000 independent draws of x; the
  // Kolmogorov-Smirnov distance must stay below its critical value at level
  // 0.001 (statistics.hpp). Fixed seeds: 15 deterministic checks.
  constexpr std::int64_t n = 4000;
  const double loc = 1.5, scale = 2.5;
  std::uint64_t seed = 100;
  for (const ReparamFamily& family : reparam_families()) {
    const auto model = [&] {
      tyche::plate draws("draws", n);
      tyche::sample("x", *family.make(loc, scale));
    };
    for (const std::optional<double> c : {std::optional<double>(0.0), std::optional<double>(0.4), std::optional<double>()}) {
      INFO(family.name << ", centered " << (c ? std::to_string(*c) : "learnable (0.5)"));
      const Trace tr = tyche::trace(tyche::seed(tyche::reparam(model, {{"x", tyche::LocScaleReparam(c)}}), seed++)).get_trace();
      REQUIRE(tr["x"].type == SiteType::deterministic);
      const double d = tyche_test::ks_statistic(tr["x"].value->to_std_vector(),
                                                [&](double x) { return family.cdf(x, loc, scale); });
      INFO("KS distance " << d);
      CHECK(d < tyche_test::ks_critical_value(n));
    }
  }
}

TEST_CASE("LocScaleReparam(1) leaves the site unchanged and LocScaleReparam(0) draws from the standard family") {
  for (const ReparamFamily& family : reparam_families()) {
    INFO(family.name);
    const auto model = [&] { tyche::sample("x", *family.make(kReparamLoc, kReparamScale)); };
    const Trace plain = tyche::trace(tyche::seed(model, 5)).get_trace();
    const Trace centred = tyche::trace(tyche::seed(tyche::reparam(model, {{"x", tyche::LocScaleReparam(1.0)}}), 5)).get_trace();
    REQUIRE(reparam_site_names(centred) == std::vector<std::string>{"x"});
    CHECK(centred["x"].type == SiteType::sample);
    CHECK(centred["x"].fn->name() == family.name);
    const Tensor at{0.3, -1.0, 2.0};
    CHECK(centred["x"].fn->log_prob(at).to_std_vector() == plain["x"].fn->log_prob(at).to_std_vector());
    CHECK(centred["x"].value->to_std_vector() == plain["x"].value->to_std_vector());

    const Trace decentred = tyche::trace(tyche::seed(tyche::reparam(model, {{"x", tyche::LocScaleReparam(0.0)}}), 5)).get_trace();
    const auto* standard = dynamic_cast<const dist::LocScaleFamily*>(decentred["x_decentered"].fn.get());
    REQUIRE(standard != nullptr);
    CHECK(tyche::broadcast_to(standard->loc(), Shape{3}).to_std_vector() == std::vector<double>(3, 0.0));
    CHECK(tyche::broadcast_to(standard->scale(), Shape{3}).to_std_vector() == std::vector<double>(3, 1.0));
    const std::vector<double> expected = recentred(decentred["x_decentered"].value->to_std_vector(), 0.0);
    for (std::int64_t i = 0; i < 3; ++i)
      CHECK(decentred["x"].value->at({i}) == Approx(expected[std::size_t(i)]).epsilon(1e-15));
  }
}

TEST_CASE("LocScaleReparam without centered learns `{name}_centered`, a param in the unit interval over the event shape") {
  for (const ReparamFamily& family : reparam_families()) {
    INFO(family.name);
    const auto model = [&] { tyche::sample("x", *family.make(kReparamLoc, kReparamScale)); };
    const auto learnable = tyche::reparam(model, {{"x", tyche::LocScaleReparam()}});
    const Trace tr = tyche::trace(tyche::seed(learnable, 3)).get_trace();
    REQUIRE(reparam_site_names(tr) == std::vector<std::string>{"x_centered", "x_decentered", "x"});
    const Message& centered = tr["x_centered"];
    CHECK(centered.type == SiteType::param);
    CHECK(centered.value->shape() == Shape{});  // the event shape of a univariate site
    CHECK(centered.value->item() == 0.5);
    REQUIRE(centered.constraint.has_value());
    CHECK(centered.constraint->str() == tyche::constraints::unit_interval.str());

    // A substituted centered of 0.3 gives what LocScaleReparam(0.3) gives.
    const Trace fixed = tyche::trace(tyche::seed(tyche::substitute(learnable, {{"x_centered", 0.3}}), 3)).get_trace();
    const Trace reference = tyche::trace(tyche::seed(tyche::reparam(model, {{"x", tyche::LocScaleReparam(0.3)}}), 3)).get_trace();
    CHECK(fixed["x_decentered"].value->to_std_vector() == reference["x_decentered"].value->to_std_vector());
    CHECK(fixed["x"].value->to_std_vector() == reference["x"].value->to_std_vector());

    // x is differentiable in c: dx/dc = -scale^(1-c) (log(scale) (d - c loc) + loc).
    const auto scalar_model = [&] { tyche::sample("x", *family.make(2.0, 3.0)); };
    const auto scalar_learnable = tyche::reparam(scalar_model, {{"x", tyche::LocScaleReparam()}});
    const auto x_of = [&](const Tensor& q) {
      return *tyche::log_density(scalar_learnable, std::tuple{}, {{"x_centered", q[0]}, {"x_decentered", q[1]}})
                  .trace["x"]
                  .value;
    };
    const double c = 0.35, d = -0.8, power = std::pow(3.0, 1.0 - c);
    const tyche::ValueAndGrad vg = tyche::value_and_grad(x_of, Eigen::Vector2d(c, d));
    CHECK(vg.value == Approx(2.0 + power * (d - c * 2.0)).epsilon(1e-14));
    CHECK(vg.grad[0] == Approx(-power * (std::log(3.0) * (d - c * 2.0) + 2.0)).epsilon(1e-13));
    CHECK(vg.grad[1] == Approx(power).epsilon(1e-14));
  }
}

TEST_CASE("LocScaleReparam unwraps to_event and plates: centered has the event shape, batch axes are kept") {
  // As NumPyro's _unwrap / _wrap: the decentred site has the original site's
  // batch and event shapes, and the learnable centered one value per event element.
  const auto model = [] {
    tyche::plate outer("outer", 2);
    tyche::sample("x", dist::Normal(kReparamLoc, kReparamScale).to_event(1));
  };
  const auto learnable = tyche::reparam(model, {{"x", tyche::LocScaleReparam()}});
  const Trace tr = tyche::trace(tyche::seed(learnable, 8)).get_trace();
  REQUIRE(tr["x_centered"].value->shape() == Shape{3});
  CHECK(tr["x_decentered"].fn->batch_shape() == Shape{2});
  CHECK(tr["x_decentered"].fn->event_shape() == Shape{3});
  CHECK(tr["x"].value->shape() == (Shape{2, 3}));
  const Tensor c{0.1, 0.5, 0.9};
  const Trace fixed = tyche::trace(tyche::seed(tyche::substitute(learnable, {{"x_centered", c}}), 8)).get_trace();
  const Tensor d = *fixed["x_decentered"].value;
  for (std::int64_t row = 0; row < 2; ++row)
    for (std::int64_t i = 0; i < 3; ++i) {
      const double loc = kReparamLoc.at({i}), scale = kReparamScale.at({i}), ci = c.at({i});
      CHECK(fixed["x"].value->at({row, i}) ==
            Approx(loc + std::pow(scale, 1.0 - ci) * (d.at({row, i}) - ci * loc)).epsilon(1e-14));
    }
}

TEST_CASE("LocScaleReparam's error paths name the site and the problem") {
  using Catch::Contains;
  CHECK_THROWS_WITH(tyche::LocScaleReparam(1.5), "tyche: LocScaleReparam: centered must be in [0, 1], got 1.500000");
  CHECK_THROWS_AS(tyche::LocScaleReparam(-0.1), std::invalid_argument);
  const auto run = [](auto model) {
    return tyche::trace(tyche::seed(tyche::reparam(model, {{"x", tyche::LocScaleReparam(0.0)}}), 0)).get_trace();
  };
  CHECK_THROWS_WITH(run([] { tyche::sample("x", dist::Normal(0.0, 1.0), Tensor(0.5)); }),
                    Contains("site `x` is observed; it only applies to latent sites"));
  CHECK_THROWS_WITH(run([] { tyche::sample("x", dist::Exponential(1.0)); }),
                    Contains("only supports distributions with real support, but site `x` has support"));
  // Real support but no loc and scale.
  CHECK_THROWS_WITH(run([] { tyche::sample("x", dist::ImproperUniform(tyche::constraints::real, {}, {})); }),
                    Contains("site `x` has a ImproperUniform distribution, which is not a location-scale family"));
}

// ---- subsampling plates --------------------------------------------------------

namespace {

// The subsample a plate draws under seed(key).
std::vector<double> subsample(std::uint64_t key, std::int64_t size, std::int64_t subsample_size) {
  std::vector<double> indices;
  tyche::seed([&] { indices = tyche::plate("p", size, subsample_size).indices().to_std_vector(); }, key)();
  return indices;
}

// The 0.999 quantile of the chi-square distribution: a uniform sampler fails
// one such check in a thousand.
double chi_square_critical_value(double dof) {
  return bm::quantile(bm::complement(bm::chi_squared_distribution<>(dof), 0.001));
}

}  // namespace

TEST_CASE("a subsampling plate draws distinct indices in range, the same for the same key") {
  for (std::uint64_t key = 0; key < 200; ++key) {
    const std::vector<double> indices = subsample(key, 20, 7);
    REQUIRE(indices.size() == 7);
    std::set<double> distinct(indices.begin(), indices.end());
    CHECK(distinct.size() == 7);
    CHECK(*distinct.begin() >= 0.0);
    CHECK(*distinct.rbegin() <= 19.0);
    for (double i : indices) CHECK(i == std::floor(i));
    CHECK(subsample(key, 20, 7) == indices);
  }
  // subsample_size == size: every index in order, no key needed.
  std::vector<double> all;
  tyche::plate("p", 5, [&](const Tensor& idx) { all = idx.to_std_vector(); }, 5);
  CHECK(all == std::vector<double>{0.0, 1.0, 2.0, 3.0, 4.0});
}

TEST_CASE("a subsampling plate draws every ordered subsample equally often (chi-square over 4000 keys)") {
  // Size 5, subsample 2: 20 ordered pairs, each of probability 1 / 20 for a
  // uniform subsample in random order. Pearson's statistic over 4000 keys
  // (200 expected per cell) against chi-square with 19 degrees of freedom.
  constexpr int keys = 4000;
  std::map<std::pair<double, double>, int> counts;
  for (std::uint64_t key = 0; key < keys; ++key) {
    const std::vector<double> pair = subsample(key, 5, 2);
    ++counts[{pair[0], pair[1]}];
  }
  REQUIRE(counts.size() == 20);
  const double expected = keys / 20.0;
  double statistic = 0.0;
  for (const auto& [pair, count] : counts) statistic += (count - expected) * (count - expected) / expected;
  INFO("chi-square " << statistic << ", critical value " << chi_square_critical_value(19));
  CHECK(statistic < chi_square_critical_value(19));
}

TEST_CASE("a subsampling plate includes every index equally often (chi-square over 3000 keys)") {
  // Size 10, subsample 3: each index is in a subsample with probability
  // p = 3 / 10. Within one subsample the indices are distinct, so the counts
  // c_i over K keys are not multinomial: var c_i = K p (1 - p) and
  // cov(c_i, c_j) = -K p (1 - p) / (N - 1). Their sum is fixed, and
  // sum (c_i - K p)^2 / (K p (1 - p) N / (N - 1)) is asymptotically
  // chi-square with N - 1 = 9 degrees of freedom.
  constexpr int keys = 3000, size = 10, count = 3;
  std::vector<int> included(size, 0), first(size, 0);
  for (std::uint64_t key = 0; key < keys; ++key) {
    const std::vector<double> indices = subsample(key + 50000, size, count);
    for (double i : indices) ++included[std::size_t(i)];
    ++first[std::size_t(indices[0])];
  }
  const double p = double(count) / size;
  double statistic = 0.0;
  for (int c : included) statistic += (c - keys * p) * (c - keys * p);
  statistic /= keys * p * (1.0 - p) * size / (size - 1.0);
  INFO("inclusion chi-square " << statistic);
  CHECK(statistic < chi_square_critical_value(size - 1));
  // The first index alone is uniform over 0..9: multinomial, Pearson's statistic.
  double first_statistic = 0.0;
  for (int c : first) first_statistic += (c - keys / 10.0) * (c - keys / 10.0) / (keys / 10.0);
  INFO("first-index chi-square " << first_statistic);
  CHECK(first_statistic < chi_square_critical_value(size - 1));
}

TEST_CASE("different keys, and different plates under one key, give different subsamples") {
  // Two uniform subsets of 10 out of 1000 coincide with probability
  // 1 / C(1000, 10) < 1e-23: 50 keys give 50 different subsets.
  std::set<std::vector<double>> seen;
  for (std::uint64_t key = 0; key < 50; ++key) {
    std::vector<double> s = subsample(key, 1000, 10);
    std::sort(s.begin(), s.end());
    seen.insert(s);
  }
  CHECK(seen.size() == 50);
  std::vector<double> a, b;
  tyche::seed([&] {
    a = tyche::plate("a", 1000, 10).indices().to_std_vector();
    b = tyche::plate("b", 1000, 10).indices().to_std_vector();
  }, 0)();
  CHECK(a != b);
}
