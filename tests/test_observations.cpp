// Observations: a NaN or infinite element of an observed value is bad input,
// an exception naming the site and the element, unless a mask leaves it out;
// masked elements, whatever they hold, add exactly 0 to the log density and
// to its gradient. References: the same model without the masked elements.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include <tyche/tyche.hpp>

#include "require_throws.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace dist = tyche::dist;
using tyche::Shape;
using tyche::Tensor;

namespace {

using tyche_test::kNaN;
using tyche_test::kInf;

// A family of observation distributions with two parameters: a real `a` and
// a positive `b` (exp of the second coordinate of q), and five observations
// in its support.
struct ObservedFamily {
  const char* name;
  std::function<dist::DistributionPtr(const Tensor& a, const Tensor& b)> make;
  std::vector<double> data;
};

const std::vector<ObservedFamily>& families() {
  static const std::vector<ObservedFamily> all = {
      {"Normal", [](const Tensor& a, const Tensor& b) { return dist::Normal(a, b).share(); }, {0.3, -0.7, -1.2, 0.4, 2.0}},
      {"Cauchy", [](const Tensor& a, const Tensor& b) { return dist::Cauchy(a, b).share(); }, {0.3, -0.7, -1.2, 0.4, 2.0}},
      {"StudentT", [](const Tensor& a, const Tensor& b) { return dist::StudentT(3.0, a, b).share(); },
       {0.3, -0.7, -1.2, 0.4, 2.0}},
      {"Laplace", [](const Tensor& a, const Tensor& b) { return dist::Laplace(a, b).share(); }, {0.3, -0.7, -1.2, 0.4, 2.0}},
      {"Logistic", [](const Tensor& a, const Tensor& b) { return dist::Logistic(a, b).share(); },
       {0.3, -0.7, -1.2, 0.4, 2.0}},
      {"LogNormal", [](const Tensor& a, const Tensor& b) { return dist::LogNormal(a, b).share(); },
       {0.3, 0.7, 1.2, 0.4, 2.0}},
      {"Exponential", [](const Tensor&, const Tensor& b) { return dist::Exponential(b).share(); }, {0.3, 0.7, 1.2, 0.4, 2.0}},
      {"Gamma", [](const Tensor& a, const Tensor& b) { return dist::Gamma(b, tyche::exp(a)).share(); },
       {0.3, 0.7, 1.2, 0.4, 2.0}},
      {"Beta", [](const Tensor& a, const Tensor& b) { return dist::Beta(b, tyche::exp(a)).share(); },
       {0.3, 0.7, 0.2, 0.4, 0.9}},
      {"Poisson", [](const Tensor&, const Tensor& b) { return dist::Poisson(b).share(); }, {0.0, 2.0, 3.0, 1.0, 1.0}},
      {"NegativeBinomial2", [](const Tensor& a, const Tensor& b) { return dist::NegativeBinomial2(b, tyche::exp(a)).share(); },
       {0.0, 2.0, 3.0, 1.0, 1.0}},
      {"Bernoulli", [](const Tensor& a, const Tensor&) { return dist::Bernoulli({.logits = a}).share(); },
       {0.0, 1.0, 1.0, 0.0, 1.0}},
      {"Binomial", [](const Tensor& a, const Tensor&) { return dist::Binomial({.total_count = 5.0, .logits = a}).share(); },
       {0.0, 4.0, 3.0, 2.0, 5.0}},
  };
  return all;
}

const Eigen::Vector2d kQ(0.4, -0.3);
const Tensor kKeep{1.0, 0.0, 1.0, 0.0, 1.0};

// The family's data with `bad` at the masked positions 1 and 3, and the data
// of the kept positions alone.
Tensor with_bad_values(const ObservedFamily& family, double bad) {
  std::vector<double> y = family.data;
  y[1] = y[3] = bad;
  return Tensor(y);
}
Tensor kept_values(const ObservedFamily& family) { return Tensor{family.data[0], family.data[2], family.data[4]}; }

// An observed site `obs` in a plate `data` of y's size.
auto plate_model(const ObservedFamily& family) {
  return [&family](const Tensor& q, const Tensor& y) {
    tyche::plate data("data", y.size());
    tyche::sample("obs", *family.make(q[0], tyche::exp(q[1])), y);
  };
}

template <class Model>
std::function<Tensor(const Tensor&)> log_joint(Model model, Tensor y) {
  return [model, y](const Tensor& q) { return tyche::log_density(model, std::tuple{q, y}, {}).log_joint; };
}

// value_and_grad and compile_gradient of `masked` agree with value_and_grad
// of `reference`: the value and every partial finite and equal.
void require_same_density(const std::function<Tensor(const Tensor&)>& masked,
                          const std::function<Tensor(const Tensor&)>& reference) {
  const auto expected = tyche::value_and_grad(reference, kQ);
  REQUIRE(std::isfinite(expected.value));
  const auto eager = tyche::value_and_grad(masked, kQ);
  auto compiled = tyche::compile_gradient(masked, kQ);
  Eigen::VectorXd compiled_grad(2);
  const double compiled_value = compiled(kQ, compiled_grad);
  for (const auto& [value, grad] : {std::pair{eager.value, eager.grad}, std::pair{compiled_value, compiled_grad}}) {
    REQUIRE(value == Approx(expected.value).epsilon(1e-12));
    for (Eigen::Index i = 0; i < 2; ++i) {
      REQUIRE(std::isfinite(grad[i]));
      REQUIRE(grad[i] == Approx(expected.grad[i]).epsilon(1e-12).margin(1e-14));
    }
  }
}

}  // namespace

TEST_CASE("an unmasked NaN or infinite observation throws naming the site, its plate and the element's index") {
  for (const ObservedFamily& family : families()) {
    for (double bad : {kNaN, kInf, -kInf}) {
      INFO(family.name << " observing " << bad);
      std::vector<double> y = family.data;
      y[3] = bad;
      const std::string shown = std::string("observed value is ") + (bad != bad ? "nan" : bad > 0 ? "inf" : "-inf");
      const auto model = plate_model(family);
      REQUIRE_THROWS_CONTAINING(tyche::trace(model).get_trace(Tensor(kQ), Tensor(y)), std::invalid_argument,
                                "site `obs` (in plate `data` of size 5)", shown.c_str(),
                                "at index 3 (of shape (5,))", "mask");
      // Made observed by condition: the same check, after the handlers.
      auto latent = [&family](const Tensor& q) {
        tyche::plate data("data", 5);
        tyche::sample("obs", *family.make(q[0], tyche::exp(q[1])));
      };
      REQUIRE_THROWS_CONTAINING(tyche::condition(latent, {{"obs", Tensor(y)}})(Tensor(kQ)), std::invalid_argument,
                                "site `obs`", "index 3");
    }
  }
}

TEST_CASE("a non-finite observation is named by its multi-index and a scalar one by its site") {
  auto grid = [](const Tensor& y) {
    tyche::plate rows("rows", 2, std::nullopt, -2);
    tyche::plate cols("cols", 3);
    tyche::sample("counts", dist::Poisson(2.0), y);
  };
  REQUIRE_THROWS_CONTAINING(tyche::trace(grid).get_trace(Tensor{{1.0, 2.0, 3.0}, {0.0, kNaN, 1.0}}),
                            std::invalid_argument, "site `counts` (in plates `rows` of size 2 and `cols` of size 3)",
                            "nan at index (1, 1) (of shape (2, 3))");
  auto scalar = [](const Tensor& y) { tyche::sample("y", dist::Normal(0.0, 1.0), y); };
  REQUIRE_THROWS_CONTAINING(tyche::trace(scalar).get_trace(Tensor(kInf)), std::invalid_argument,
                            "site `y`: the observed value is inf;");
  // Multivariate: the element of the event.
  auto mvn = [](const Tensor& y) {
    tyche::sample("x", dist::MultivariateNormal(Tensor{0.0, 0.0}, {.scale_tril = Tensor{{1.0, 0.0}, {0.5, 1.0}}}), y);
  };
  REQUIRE_THROWS_CONTAINING(tyche::trace(mvn).get_trace(Tensor{0.5, kNaN}), std::invalid_argument, "site `x`",
                            "index 1");
}

TEST_CASE("masked NaN and infinite observations add exactly 0 to the log density and to its gradient") {
  for (const ObservedFamily& family : families()) {
    for (double bad : {kNaN, kInf}) {
      INFO(family.name << " with " << bad << " at the masked elements");
      const Tensor y = with_bad_values(family, bad);
      const auto reference = log_joint(plate_model(family), kept_values(family));

      // By the mask handler around the model.
      require_same_density(log_joint(tyche::mask(plate_model(family), kKeep), y), reference);
      // By the distribution's mask.
      auto masked_distribution = [&family](const Tensor& q, const Tensor& y) {
        tyche::plate data("data", y.size());
        tyche::sample("obs", family.make(q[0], tyche::exp(q[1]))->mask(kKeep), y);
      };
      require_same_density(log_joint(masked_distribution, y), reference);
      // By a mask guard inside the plate, the site made observed by condition.
      auto guarded = [&family](const Tensor& q, const Tensor&) {
        tyche::plate data("data", 5);
        tyche::mask keep(kKeep);
        tyche::sample("obs", *family.make(q[0], tyche::exp(q[1])));
      };
      require_same_density(log_joint(tyche::condition(guarded, {{"obs", y}}), y), reference);
    }
  }
}

TEST_CASE("a masked observation's other elements must still be finite") {
  const ObservedFamily& normal = families().front();
  Tensor y = with_bad_values(normal, kNaN);
  std::vector<double> values = y.to_std_vector();
  values[4] = kNaN;
  REQUIRE_THROWS_CONTAINING(tyche::trace(tyche::mask(plate_model(normal), kKeep)).get_trace(Tensor(kQ), Tensor(values)),
                            std::invalid_argument, "site `obs`", "index 4");
}

TEST_CASE("a mask over a multivariate site leaves out whole events, which may hold NaN") {
  const Tensor scale_tril{{1.0, 0.0}, {0.5, 1.0}};
  const Tensor y{{0.5, -0.2}, {kNaN, kNaN}, {1.0, 2.0}};
  auto model = [&](const Tensor& q, const Tensor& y) {
    tyche::plate data("data", y.dim(0));
    tyche::sample("x", dist::MultivariateNormal(tyche::stack({q[0], q[1]}, 0), {.scale_tril = scale_tril}), y);
  };
  const auto reference = log_joint(model, Tensor{{0.5, -0.2}, {1.0, 2.0}});
  require_same_density(log_joint(tyche::mask(model, Tensor{1.0, 0.0, 1.0}), y), reference);
  // A Dirichlet's masked events, by the distribution's mask: the base sees
  // the uniform simplex there.
  auto simplex_model = [](const Tensor& q, const Tensor& y) {
    const Tensor concentration = tyche::stack({tyche::exp(q[0]), tyche::exp(q[1]), Tensor(1.5)}, 0);
    tyche::plate data("data", y.dim(0));
    tyche::sample("p", dist::Dirichlet(concentration).mask(Tensor{0.0, 1.0}), y);
  };
  auto simplex_reference = [](const Tensor& q, const Tensor& y) {
    const Tensor concentration = tyche::stack({tyche::exp(q[0]), tyche::exp(q[1]), Tensor(1.5)}, 0);
    tyche::sample("p", dist::Dirichlet(concentration), y);
  };
  require_same_density(log_joint(simplex_model, Tensor{{kNaN, 0.5, kInf}, {0.2, 0.3, 0.5}}),
                       log_joint(simplex_reference, Tensor{0.2, 0.3, 0.5}));
}

TEST_CASE("a mask read through to_event still lets masked elements hold NaN") {
  // Masked, then made one event: the masked elements drop out of the event's sum.
  auto model = [](const Tensor& q, const Tensor& y) {
    tyche::sample("obs", dist::Normal(q[0], tyche::exp(q[1])).expand({4}).mask(Tensor{1.0, 1.0, 0.0, 1.0}).to_event(1), y);
  };
  auto reference = [](const Tensor& q, const Tensor& y) {
    tyche::sample("obs", dist::Normal(q[0], tyche::exp(q[1])).expand({3}).to_event(1), y);
  };
  require_same_density(log_joint(model, Tensor{0.1, 0.2, kNaN, 0.4}), log_joint(reference, Tensor{0.1, 0.2, 0.4}));
}

TEST_CASE("an observation computed from the parameters is checked when evaluated eagerly, not while compiling") {
  // As seed 000's residuals: the observed value depends on the parameters.
  auto residuals = [](const Tensor& q, const Tensor& y) {
    tyche::plate data("data", y.size());
    tyche::sample("resid", dist::Normal(0.0, tyche::exp(q[1])), y - q[0]);
  };
  const Tensor finite{0.3, -1.0, 2.0};
  const auto f = log_joint(residuals, finite);
  auto compiled = tyche::compile_gradient(f, kQ);  // records without reading the residuals
  Eigen::VectorXd g(2);
  const double value = compiled(kQ, g);
  const auto eager = tyche::value_and_grad(f, kQ);
  REQUIRE(value == Approx(eager.value).epsilon(1e-12));
  REQUIRE(g.isApprox(eager.grad, 1e-12));
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(log_joint(residuals, Tensor{0.3, kNaN, 2.0}), kQ),
                            std::invalid_argument, "site `resid` (in plate `data` of size 3)", "nan at index 1");
}

TEST_CASE("an observation outside the support has log density -infinity and a finite gradient") {
  struct Case {
    const char* name;
    std::function<dist::DistributionPtr(const Tensor&, const Tensor&)> make;
    double outside;
  };
  const std::vector<Case> cases = {
      {"Exponential", [](const Tensor&, const Tensor& b) { return dist::Exponential(b).share(); }, -1.0},
      {"Gamma", [](const Tensor& a, const Tensor& b) { return dist::Gamma(b, tyche::exp(a)).share(); }, 0.0},
      {"Beta", [](const Tensor& a, const Tensor& b) { return dist::Beta(b, tyche::exp(a)).share(); }, 1.5},
      {"Uniform", [](const Tensor& a, const Tensor& b) { return dist::Uniform(a, a + b).share(); }, 5.0},
      {"Poisson", [](const Tensor&, const Tensor& b) { return dist::Poisson(b).share(); }, 2.5},
      {"Poisson", [](const Tensor&, const Tensor& b) { return dist::Poisson(b).share(); }, -1.0},
      {"Bernoulli", [](const Tensor& a, const Tensor&) { return dist::Bernoulli({.logits = a}).share(); }, 2.0},
      {"Binomial", [](const Tensor& a, const Tensor&) { return dist::Binomial({.total_count = 3.0, .logits = a}).share(); },
       4.0},
  };
  for (const Case& c : cases) {
    INFO(c.name << " observing " << c.outside);
    auto model = [&c](const Tensor& q, const Tensor& y) {
      tyche::plate data("data", y.size());
      tyche::sample("obs", *c.make(q[0], tyche::exp(q[1])), y);
    };
    const auto [value, grad] = tyche::value_and_grad(log_joint(model, Tensor{c.outside, c.outside}), kQ);
    REQUIRE(value == -kInf);
    REQUIRE(grad.allFinite());
  }
}

TEST_CASE("MaskedDistribution gives 0 and no NaN gradient for masked NaN values, the base's log_prob elsewhere") {
  const Tensor value{0.5, kNaN, -1.0};
  auto f = [&](const Tensor& q) {
    return tyche::sum(dist::Cauchy(q[0], tyche::exp(q[1])).mask(Tensor{1.0, 0.0, 1.0}).log_prob(value));
  };
  auto reference = [](const Tensor& q) { return tyche::sum(dist::Cauchy(q[0], tyche::exp(q[1])).log_prob(Tensor{0.5, -1.0})); };
  require_same_density(f, reference);
  const Tensor lp = dist::Cauchy(0.0, 1.0).mask(Tensor{1.0, 0.0, 1.0}).log_prob(value);
  REQUIRE(lp.at({1}) == 0.0);
  REQUIRE(lp.at({0}) == dist::Cauchy(0.0, 1.0).log_prob(0.5).item());
  // value_mask: what the site check reads, lined up with the values.
  const auto m = dist::Dirichlet(Tensor{1.0, 1.0}).expand({3}).mask(Tensor{1.0, 0.0, 1.0}).value_mask();
  REQUIRE(m);
  REQUIRE(m->shape() == Shape{3, 1});
  REQUIRE_FALSE(dist::Normal(0.0, 1.0).value_mask());
}

TEST_CASE("feasible_like gives a point of each constraint with the prototype's shape") {
  namespace c = tyche::constraints;
  const std::vector<std::pair<c::Constraint, Tensor>> cases = {
      {c::real, Tensor::zeros(Shape{2, 3})},
      {c::positive, Tensor::zeros(Shape{2, 3})},
      {c::nonnegative, Tensor::zeros(Shape{4})},
      {c::unit_interval, Tensor::zeros(Shape{4})},
      {c::interval(Tensor{-1.0, 2.0}, Tensor{0.0, 5.0}), Tensor::zeros(Shape{3, 2})},
      {c::greater_than(3.0), Tensor::zeros(Shape{2})},
      {c::less_than(-3.0), Tensor::zeros(Shape{2})},
      {c::boolean, Tensor::zeros(Shape{2})},
      {c::nonnegative_integer, Tensor::zeros(Shape{2})},
      {c::integer_interval(2.0, 7.0), Tensor::zeros(Shape{2})},
      {c::simplex, Tensor::zeros(Shape{2, 4})},
      {c::ordered_vector, Tensor::zeros(Shape{3})},
      {c::lower_cholesky, Tensor::zeros(Shape{2, 3, 3})},
      {c::corr_cholesky, Tensor::zeros(Shape{3, 3})},
      {c::positive_definite, Tensor::zeros(Shape{3, 3})},
      {c::independent(c::positive, 1), Tensor::zeros(Shape{2, 3})},
  };
  for (const auto& [constraint, prototype] : cases) {
    INFO(constraint.str());
    const Tensor point = constraint.feasible_like(prototype);
    REQUIRE(point.shape() == prototype.shape());
    REQUIRE(constraint.contains(point));
  }
  REQUIRE_THROWS_AS(c::simplex.feasible_like(Tensor(1.0)), tyche::ShapeError);
}
