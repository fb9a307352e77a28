// Distribution::log_prob_sum is sum(log_prob(value)) as one term of a log
// joint: the same number (to rounding) and gradient for every distribution
// that overrides it, for values that broadcast against the parameters either
// way and outside the support, eager and through compiled replays; and
// trace_log_density, one add_n of those terms, against a model's log joint
// written out from the densities' formulas.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include <tyche/tyche.hpp>

#include "require_throws.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <utility>
#include <vector>

namespace {

namespace dist = tyche::dist;
using tyche::Shape;
using tyche::Tensor;

using tyche_test::kInf;
using tyche_test::kNaN;

// The fused kernels add the z-dependent terms first and the constants once,
// sum(log_prob) adds whole terms: sums of a few dozen terms of size ~10 agree
// to a few ulps of the largest, far inside 1e-12 relative (or absolute near 0).
void check_same(double fused, double reference) {
  if (std::isnan(reference)) {
    CHECK(std::isnan(fused));
  } else if (std::isinf(reference)) {
    CHECK(fused == reference);
  } else {
    CHECK(fused == Approx(reference).epsilon(1e-12).margin(1e-12));
  }
}

void check_same(const Eigen::VectorXd& fused, const Eigen::VectorXd& reference) {
  REQUIRE(fused.size() == reference.size());
  for (Eigen::Index i = 0; i < fused.size(); ++i) {
    INFO("gradient component " << i);
    check_same(fused[i], reference[i]);
  }
}

// A distribution and a value built from the parameters q, so that the
// gradient reaches both.
using Build = std::function<std::pair<dist::DistributionPtr, Tensor>(const Tensor& q)>;

Tensor fused_sum(const Build& build, const Tensor& q) {
  const auto [d, value] = build(q);
  const Tensor total = d->log_prob_sum(value);
  REQUIRE(total.ndim() == 0);
  return total;
}
Tensor unfused_sum(const Build& build, const Tensor& q) {
  const auto [d, value] = build(q);
  return tyche::sum(d->log_prob(value));
}

// Eager: value and gradient of log_prob_sum against sum(log_prob) at each
// point. Compiled: log_prob_sum recorded at `points[0]` and replayed at every
// point gives what sum(log_prob) gives there (the gradient where the value is
// finite: outside the support only the value, -infinity, is specified).
void check_log_prob_sum(const Build& build, const std::vector<Eigen::VectorXd>& points) {
  const auto fused = [&](const Tensor& q) { return fused_sum(build, q); };
  const auto unfused = [&](const Tensor& q) { return unfused_sum(build, q); };
  auto compiled = tyche::compile_gradient(fused, points.front());
  for (std::size_t k = 0; k < points.size(); ++k) {
    INFO("point " << k);
    const tyche::ValueAndGrad expected = tyche::value_and_grad(unfused, points[k]);
    const tyche::ValueAndGrad eager = tyche::value_and_grad(fused, points[k]);
    check_same(eager.value, expected.value);
    check_same(eager.grad, expected.grad);
    Eigen::VectorXd g(points[k].size());
    const double replayed = compiled(points[k], g);
    check_same(replayed, expected.value);
    if (std::isfinite(expected.value)) check_same(g, expected.grad);
  }
}

Eigen::VectorXd random_point(Eigen::Index n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::VectorXd q(n);
  for (auto& x : q) x = normal(rng);
  return q;
}

// Consecutive slices of q reshaped to the given shapes.
std::vector<Tensor> split(const Tensor& q, const std::vector<Shape>& shapes) {
  std::vector<Tensor> parts;
  std::int64_t start = 0;
  for (const Shape& s : shapes) {
    parts.push_back(q.slice(start, start + s.numel()).reshape(s));
    start += s.numel();
  }
  return parts;
}

std::int64_t total_size(const std::vector<Shape>& shapes) {
  std::int64_t n = 0;
  for (const Shape& s : shapes) n += s.numel();
  return n;
}

struct LocScaleShapes {
  Shape loc, scale, value;
};

// Value shapes equal to, smaller than and larger than the batch shape, and
// one-element operands that broadcast.
const std::vector<LocScaleShapes> kLocScaleShapes = {
    {{3}, {}, {3}},     {{2, 3}, {3}, {}},     {{3}, {3}, {4, 2, 3}}, {{}, {}, {5}},
    {{1}, {2, 1}, {3}}, {{2, 3}, {2, 3}, {2, 3}}, {{}, {}, {}},
};

// A location-scale family (constructed from loc and a positive scale) with
// loc, log scale and the value read from q.
template <class Family>
Build loc_scale_build(const LocScaleShapes& s) {
  return [s](const Tensor& q) {
    const auto parts = split(q, {s.loc, s.scale, s.value});
    return std::pair{Family(parts[0], tyche::exp(parts[1])).share(), parts[2]};
  };
}

// A half family with its log scale and the value (not made positive) read
// from q.
template <class Family>
Build half_build(const Shape& scale, const Shape& value) {
  return [=](const Tensor& q) {
    const auto parts = split(q, {scale, value});
    return std::pair{Family(tyche::exp(parts[0])).share(), parts[1]};
  };
}

}  // namespace

TEST_CASE("Normal and Cauchy log_prob_sum equal sum(log_prob) for values broadcast either way") {
  for (const LocScaleShapes& s : kLocScaleShapes) {
    INFO("loc " << s.loc.str() << ", scale " << s.scale.str() << ", value " << s.value.str());
    const auto n = total_size({s.loc, s.scale, s.value});
    const std::vector<Eigen::VectorXd> points = {random_point(n, 1), random_point(n, 2), 3.0 * random_point(n, 3)};
    check_log_prob_sum(loc_scale_build<dist::Normal>(s), points);
    check_log_prob_sum(loc_scale_build<dist::Cauchy>(s), points);
  }
}

TEST_CASE("Normal log_prob_sum is NaN for a NaN value and rejects a value that does not broadcast, as log_prob") {
  const dist::Normal d(Tensor{0.0, 1.0, 2.0}, 1.5);
  CHECK(std::isnan(d.log_prob_sum(Tensor{0.0, kNaN, 1.0}).item()));
  CHECK(d.log_prob_sum(Tensor{0.0, kInf, 1.0}).item() == -kInf);
  REQUIRE_THROWS_AS(d.log_prob(Tensor{1.0, 2.0}), tyche::ShapeError);
  REQUIRE_THROWS_CONTAINING(d.log_prob_sum(Tensor{1.0, 2.0}), tyche::ShapeError, "normal_log_density");
}

TEST_CASE("HalfNormal and HalfCauchy log_prob_sum equal sum(log_prob), -infinity outside the support") {
  // The value is read from q directly, so that points with a negative element
  // lie outside the support; a compiled gradient recorded at the first
  // (inside) point gives -infinity when a replay makes an element negative.
  const std::vector<std::pair<Shape, Shape>> shapes = {{{}, {3}}, {{3}, {}}, {{3}, {2, 3}}, {{2, 1}, {3}}, {{}, {}}};
  for (const auto& [scale_shape, value_shape] : shapes) {
    INFO("scale " << scale_shape.str() << ", value " << value_shape.str());
    const auto n = scale_shape.numel() + value_shape.numel();
    Eigen::VectorXd inside = random_point(n, 4).cwiseAbs().array() + 0.1;
    Eigen::VectorXd other_inside = random_point(n, 5).cwiseAbs().array() + 0.1;
    Eigen::VectorXd one_negative = other_inside, all_negative = -other_inside;
    one_negative[n - 1] = -0.3;
    all_negative.head(scale_shape.numel()) = other_inside.head(scale_shape.numel());
    const std::vector<Eigen::VectorXd> points = {inside, one_negative, other_inside, all_negative};
    check_log_prob_sum(half_build<dist::HalfNormal>(scale_shape, value_shape), points);
    check_log_prob_sum(half_build<dist::HalfCauchy>(scale_shape, value_shape), points);
  }
}

TEST_CASE("HalfNormal log_prob_sum of a positive value computed from the parameters becomes -infinity in a replay") {
  // tau = 1 - q[0]^2 is positive where recorded and negative in the replay.
  const auto f = [](const Tensor& q) {
    const Tensor tau = 1.0 - tyche::square(q[0]);
    return dist::HalfNormal(2.0).log_prob_sum(tau) + dist::HalfCauchy(Tensor{1.0, 3.0}).log_prob_sum(tau);
  };
  auto compiled = tyche::compile_gradient(f, Eigen::VectorXd::Constant(1, 0.5));
  Eigen::VectorXd g(1);
  const double inside = compiled(Eigen::VectorXd::Constant(1, 0.25), g);
  const double tau = 1.0 - 0.0625;
  const double by_hand = (std::numbers::ln2 - 0.5 * std::log(2.0 * std::numbers::pi) - std::log(2.0) -
                          0.5 * (tau / 2.0) * (tau / 2.0)) +
                         2.0 * (std::numbers::ln2 - std::log(std::numbers::pi)) - std::log(3.0) -
                         std::log1p(tau * tau) - std::log1p(tau * tau / 9.0);
  CHECK(inside == Approx(by_hand).epsilon(1e-14));
  CHECK(compiled(Eigen::VectorXd::Constant(1, 1.5), g) == -kInf);
}

TEST_CASE("HalfNormal log_prob_sum of data at 0 or below is -infinity with the gradient of sum(log_prob)") {
  // Data outside the support: the unfused log_prob decides (0 is outside
  // the positive support, as log_prob says).
  for (const Tensor& data : {Tensor{1.0, 0.0}, Tensor{-1.0, 2.0}, Tensor{kNaN, 2.0}}) {
    const Build build = [&](const Tensor& q) { return std::pair{dist::HalfNormal(tyche::exp(q)).share(), data}; };
    check_log_prob_sum(build, {Eigen::VectorXd::Constant(2, 0.3), Eigen::VectorXd::Constant(2, -0.2)});
    CHECK(fused_sum(build, Tensor{0.0, 0.0}).item() == -kInf);
  }
}

TEST_CASE("Bernoulli log_prob_sum equals sum(log_prob) by logits and by probs, -infinity off {0, 1}") {
  const std::vector<std::pair<Shape, Tensor>> cases = {
      {{3}, Tensor{1.0, 0.0, 1.0}},
      {{3}, Tensor{{1.0, 0.0, 1.0}, {0.0, 0.0, 1.0}}},
      {{2, 3}, Tensor{1.0, 0.0, 0.0}},
      {{3}, Tensor(1.0)},
      {{1}, Tensor{0.0, 1.0, 1.0, 0.0}},
      {{3}, Tensor{1.0, 2.0, 0.0}},   // outside the support
      {{3}, Tensor{0.5, 1.0, 0.0}},   // outside the support
  };
  for (const auto& [shape, y] : cases) {
    INFO("logits " << shape.str() << ", y " << y.shape().str());
    const auto n = shape.numel();
    const std::vector<Eigen::VectorXd> points = {random_point(n, 6), 4.0 * random_point(n, 7)};
    check_log_prob_sum([&](const Tensor& q) { return std::pair{dist::BernoulliLogits(q.reshape(shape)).share(), y}; },
                       points);
    check_log_prob_sum(
        [&](const Tensor& q) { return std::pair{dist::BernoulliProbs(tyche::sigmoid(q.reshape(shape))).share(), y}; },
        points);
  }
}

TEST_CASE("Bernoulli log_prob_sum by logits rejects outcomes computed from the parameters, as log_prob") {
  const auto f = [](const Tensor& q) { return dist::BernoulliLogits(q).log_prob_sum(tyche::sigmoid(q)); };
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(f, Eigen::VectorXd::Zero(2)), std::invalid_argument,
                            "must be data");
}

TEST_CASE("Independent log_prob_sum equals sum(log_prob) of the reinterpreted distribution") {
  const std::vector<std::pair<int, Shape>> cases = {{1, {2, 3}}, {1, {4, 2, 3}}, {2, {2, 3}}, {2, {5, 2, 3}}, {1, {3}}};
  for (const auto& [ndims, value_shape] : cases) {
    INFO("to_event(" << ndims << "), value " << value_shape.str());
    const Shape loc{2, 3};
    const auto n = loc.numel() + 1 + value_shape.numel();
    check_log_prob_sum(
        [&](const Tensor& q) {
          const auto parts = split(q, {loc, {}, value_shape});
          return std::pair{dist::Normal(parts[0], tyche::exp(parts[1])).to_event(ndims).share(), parts[2]};
        },
        {random_point(n, 8), random_point(n, 9)});
  }
}

TEST_CASE("expanded log_prob_sum equals sum(log_prob), counting broadcast elements as log_prob does") {
  // (2, 3) and (5, 2, 3) values have the expanded shape: the base's fused sum.
  // (3,) and () values are broadcast by log_prob to the expanded batch shape,
  // which counts each base element twice (or six times).
  for (const Shape& value_shape : {Shape{2, 3}, Shape{5, 2, 3}, Shape{3}, Shape{}, Shape{1, 3}}) {
    INFO("value " << value_shape.str());
    const auto n = 3 + 1 + value_shape.numel();
    check_log_prob_sum(
        [&](const Tensor& q) {
          const auto parts = split(q, {{3}, {}, value_shape});
          return std::pair{dist::Normal(parts[0], tyche::exp(parts[1])).expand({2, 3}).share(), parts[2]};
        },
        {random_point(n, 10), random_point(n, 11)});
    Eigen::VectorXd positive = random_point(n, 12).cwiseAbs().array() + 0.1, one_negative = positive;
    one_negative[n - 1] = -1.0;
    check_log_prob_sum(
        [&](const Tensor& q) {
          const auto parts = split(q, {{3}, {}, value_shape});
          return std::pair{dist::HalfCauchy(tyche::exp(parts[0])).expand({2, 3}).share(), parts[2]};
        },
        {positive, one_negative});
  }
  CHECK(dist::Normal(0.0, 1.0).expand({2, 3}).log_prob_sum(Tensor(1.0)).item() ==
        Approx(6.0 * dist::Normal(0.0, 1.0).log_prob(1.0).item()).epsilon(1e-14));
}

TEST_CASE("Unit log_prob_sum is the factor's sum, broadcast as log_prob broadcasts it") {
  // Values as factor() gives them: shape batch + (0,); a value with leading
  // axes broadcasts the factor.
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3}, {3, 0}}, {{1}, {1, 0}}, {{}, {0}}, {{1}, {4, 1, 0}}, {{3}, {2, 3, 0}}, {{2, 3}, {2, 3, 0}}};
  for (const auto& [factor_shape, value_shape] : cases) {
    INFO("factor " << factor_shape.str() << ", value " << value_shape.str());
    const auto n = factor_shape.numel();
    check_log_prob_sum(
        [&](const Tensor& q) {
          return std::pair{dist::Unit(2.0 * q.reshape(factor_shape)).share(), Tensor::zeros(value_shape)};
        },
        {random_point(n, 13), random_point(n, 14)});
  }
  CHECK(dist::Unit(Tensor{1.5, -kInf}).log_prob_sum(Tensor::zeros({2, 0})).item() == -kInf);
  // A one-element factor comes back as a view: the multiplication is the only
  // recorded operation.
  auto compiled = tyche::compile_gradient(
      [](const Tensor& q) { return dist::Unit(2.0 * q).log_prob_sum(Tensor::zeros({1, 0})); },
      Eigen::VectorXd::Constant(1, 0.5));
  CHECK(compiled.size() == 1);
}

TEST_CASE("a masked distribution's log_prob_sum is sum(log_prob), NaN where masked out included") {
  const Tensor keep{1.0, 0.0, 1.0};
  check_log_prob_sum(
      [&](const Tensor& q) {
        return std::pair{dist::Normal(q.slice(0, 3), tyche::exp(q[3])).mask(keep).share(), Tensor{0.2, kNaN, -1.0}};
      },
      {random_point(4, 15), random_point(4, 16)});
  const double masked = dist::HalfNormal(2.0).mask(keep).log_prob_sum(Tensor{0.5, kNaN, 1.0}).item();
  CHECK(masked == Approx(dist::HalfNormal(2.0).log_prob_sum(Tensor{0.5, 1.0}).item()).epsilon(1e-14));
}

namespace {

using tyche_test::kSchoolsSigma;
using tyche_test::kSchoolsY;

// Eight schools, non-centred (README, shared/data/bench), with the school
// plate subsampled when `subsample` is given.
auto eight_schools(std::optional<std::int64_t> subsample = std::nullopt) {
  return [subsample] {
    const Tensor mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
    const Tensor tau = tyche::sample("tau", dist::HalfCauchy(5.0));
    tyche::plate schools("J", 8, subsample);
    const Tensor theta_tilde = tyche::sample("theta_tilde", dist::Normal(0.0, 1.0));
    tyche::sample("y", dist::Normal(mu + tau * theta_tilde, tyche::subsample(kSchoolsSigma, 0)),
                  tyche::subsample(kSchoolsY, 0));
  };
}

double log_normal(double x, double loc, double scale) {
  const double z = (x - loc) / scale;
  return -0.5 * z * z - std::log(scale) - 0.5 * std::log(2.0 * std::numbers::pi);
}
double log_half_cauchy(double x, double scale) {
  return std::log(2.0 / (std::numbers::pi * scale)) - std::log1p((x / scale) * (x / scale));
}

struct SchoolsPoint {
  double mu, tau;
  std::vector<double> theta_tilde;
  tyche::ValueMap values() const {
    return {{"mu", mu}, {"tau", tau}, {"theta_tilde", Tensor(theta_tilde)}};
  }
};

// The log joint from the formulas: the global priors weighted by
// `global_weight`, school j's two terms by weight[j] (0 where masked or not
// in the subsample).
double schools_by_hand(const SchoolsPoint& p, double global_weight, const std::vector<double>& weight) {
  double total = global_weight * (log_normal(p.mu, 0.0, 5.0) + log_half_cauchy(p.tau, 5.0));
  for (std::size_t j = 0; j < p.theta_tilde.size(); ++j) {
    const double y = kSchoolsY.at({std::int64_t(j)}), sigma = kSchoolsSigma.at({std::int64_t(j)});
    total += weight[j] * (log_normal(p.theta_tilde[j], 0.0, 1.0) + log_normal(y, p.mu + p.tau * p.theta_tilde[j], sigma));
  }
  return total;
}

const SchoolsPoint kPoint{1.3, 2.4, {0.4, -1.1, 0.3, 0.9, -0.2, 1.7, -0.6, 0.05}};

}  // namespace

TEST_CASE("trace_log_density of eight schools is the sum of the sites' densities written out") {
  const auto [log_joint, trace] = tyche::log_density(eight_schools(), std::tuple{}, kPoint.values());
  CHECK(log_joint.ndim() == 0);
  CHECK(log_joint.item() == Approx(schools_by_hand(kPoint, 1.0, std::vector<double>(8, 1.0))).epsilon(1e-13));
  CHECK(tyche::trace_log_density(trace).item() == log_joint.item());
}

TEST_CASE("eight schools' log joint compiles to one add_n of unit-seeded densities, replayed at new points") {
  const auto model = eight_schools();
  const auto log_joint = [&](const Tensor& q) {
    return tyche::log_density(model, std::tuple{}, {{"mu", q[0]}, {"tau", q[1]}, {"theta_tilde", q.slice(2, 10)}})
        .log_joint;
  };
  Eigen::VectorXd q(10);
  q << kPoint.mu, kPoint.tau, Eigen::Map<const Eigen::VectorXd>(kPoint.theta_tilde.data(), 8);
  auto compiled = tyche::compile_gradient(log_joint, q);
  // One fused density per site (the likelihood's location has its own nodes).
  CHECK(compiled.unit_seeded() == 4);
  Eigen::VectorXd g(10);
  for (unsigned k = 0; k < 3; ++k) {
    Eigen::VectorXd at = q + 0.3 * random_point(10, 20 + k);
    INFO("point " << k);
    const SchoolsPoint p{at[0], at[1], std::vector<double>(at.data() + 2, at.data() + 10)};
    CHECK(compiled(at, g) == Approx(schools_by_hand(p, 1.0, std::vector<double>(8, 1.0))).epsilon(1e-13));
    // Central differences of the formulas: h = 1e-5 gives ~1e-9 accuracy on
    // derivatives of size ~1 here.
    for (Eigen::Index i = 0; i < 10; ++i) {
      Eigen::VectorXd up = at, down = at;
      up[i] += 1e-5;
      down[i] -= 1e-5;
      const auto as_point = [](const Eigen::VectorXd& v) {
        return SchoolsPoint{v[0], v[1], std::vector<double>(v.data() + 2, v.data() + 10)};
      };
      const double fd = (schools_by_hand(as_point(up), 1.0, std::vector<double>(8, 1.0)) -
                         schools_by_hand(as_point(down), 1.0, std::vector<double>(8, 1.0))) /
                        2e-5;
      CHECK(g[i] == Approx(fd).epsilon(1e-7).margin(1e-7));
    }
  }
  // tau negative in a replay: outside HalfCauchy's support.
  q[1] = -0.5;
  CHECK(compiled(q, g) == -kInf);
}

TEST_CASE("trace_log_density applies scalar and array scales and subsample scales") {
  const std::vector<double> all(8, 1.0);
  SECTION("a scalar scale multiplies every site's sum") {
    const auto [lp, tr] = tyche::log_density(tyche::scale(eight_schools(), 0.25), std::tuple{}, kPoint.values());
    CHECK(lp.item() == Approx(0.25 * schools_by_hand(kPoint, 1.0, all)).epsilon(1e-13));
  }
  SECTION("an array scale weighs the elements of the plate's sites") {
    const std::vector<double> weight{1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 1.0, 0.25};
    const auto model = [&] {
      const Tensor mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
      const Tensor tau = tyche::sample("tau", dist::HalfCauchy(5.0));
      tyche::plate schools("J", 8);
      tyche::scale weighted{Tensor(weight)};
      const Tensor theta_tilde = tyche::sample("theta_tilde", dist::Normal(0.0, 1.0));
      tyche::sample("y", dist::Normal(mu + tau * theta_tilde, kSchoolsSigma), kSchoolsY);
    };
    const auto [lp, tr] = tyche::log_density(model, std::tuple{}, kPoint.values());
    CHECK(lp.item() == Approx(schools_by_hand(kPoint, 1.0, weight)).epsilon(1e-13));
  }
  SECTION("a subsampling plate scales its sites by size / subsample_size") {
    // Schools 1, 4 and 6, each counted 8/3 times; theta_tilde holds the subsample.
    const SchoolsPoint sub{kPoint.mu, kPoint.tau, {0.4, -1.1, 0.3}};
    tyche::ValueMap values = sub.values();
    values.insert({"J", Tensor{1.0, 4.0, 6.0}});
    const auto [lp, tr] = tyche::log_density(eight_schools(3), std::tuple{}, values);
    SchoolsPoint spread{kPoint.mu, kPoint.tau, std::vector<double>(8, 0.0)};
    spread.theta_tilde[1] = 0.4;
    spread.theta_tilde[4] = -1.1;
    spread.theta_tilde[6] = 0.3;
    std::vector<double> weight(8, 0.0);
    weight[1] = weight[4] = weight[6] = 8.0 / 3.0;
    CHECK(lp.item() == Approx(schools_by_hand(spread, 1.0, weight)).epsilon(1e-13));
  }
}

TEST_CASE("trace_log_density leaves masked-out elements out, NaN observations included") {
  const Tensor keep{1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0};
  const auto model = [&] {
    const Tensor mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
    const Tensor tau = tyche::sample("tau", dist::HalfCauchy(5.0));
    tyche::plate schools("J", 8);
    const Tensor theta_tilde = tyche::sample("theta_tilde", dist::Normal(0.0, 1.0));
    tyche::mask observed(keep);
    tyche::sample("y", dist::Normal(mu + tau * theta_tilde, kSchoolsSigma),
                  tyche::where(keep, kSchoolsY, kNaN));
  };
  const auto [lp, tr] = tyche::log_density(model, std::tuple{}, kPoint.values());
  double expected = schools_by_hand(kPoint, 1.0, std::vector<double>(8, 1.0));
  for (std::int64_t j : {2, 4})
    expected -= log_normal(kSchoolsY.at({j}), kPoint.mu + kPoint.tau * kPoint.theta_tilde[std::size_t(j)],
                           kSchoolsSigma.at({j}));
  CHECK(lp.item() == Approx(expected).epsilon(1e-13));
}

TEST_CASE("trace_log_density includes factors and is a rank-0 zero without sample sites") {
  const auto with_factor = [] {
    tyche::sample("x", dist::Normal(0.0, 1.0));
    tyche::factor("penalty", Tensor{-1.5, 0.25});
    tyche::factor("single", Tensor{{2.0}});
  };
  const auto [lp, tr] = tyche::log_density(with_factor, std::tuple{}, {{"x", 0.5}});
  CHECK(lp.item() == Approx(log_normal(0.5, 0.0, 1.0) - 1.25 + 2.0).epsilon(1e-14));
  const auto no_sample = [] { tyche::deterministic("d", Tensor{1.0, 2.0}); };
  const auto [zero, empty] = tyche::log_density(no_sample, std::tuple{}, {});
  CHECK(zero.ndim() == 0);
  CHECK(zero.item() == 0.0);
}

TEST_CASE("an error in a site's summed log density names the site") {
  const auto model = [](const Tensor& eta) {
    tyche::plate data("data", 2);
    tyche::sample("y", dist::BernoulliLogits(eta), tyche::sigmoid(eta));
  };
  const auto f = [&](const Tensor& q) { return tyche::log_density(model, std::tuple{q}, {}).log_joint; };
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(f, Eigen::VectorXd::Zero(2)), std::invalid_argument,
                            "site `y` (in plate `data` of size 2)", "must be data");
}
