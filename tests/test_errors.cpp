// Bad shapes and invalid arguments throw exceptions with clear messages (the
// shapes involved, the offending index or value); nothing crashes, and a
// gradient evaluation that throws leaves the thread ready for the next one.
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

using tyche::Shape;
using tyche::ShapeError;
using tyche::Tensor;

namespace {

using tyche_test::kNaN;

Eigen::VectorXd params(std::initializer_list<double> v) {
  Eigen::VectorXd x(Eigen::Index(v.size()));
  Eigen::Index i = 0;
  for (double d : v) x[i++] = d;
  return x;
}

// A plain gradient evaluation still gives the right answer on this thread.
void require_gradients_still_work() {
  const auto [value, gradient] = tyche::value_and_grad(
      [](const Tensor& q) { return tyche::sum(tyche::square(q)); }, params({1.0, 2.0, 3.0}));
  REQUIRE(value == 14.0);
  REQUIRE(gradient == params({2.0, 4.0, 6.0}));
}

// Two evaluations that make a 4000-element temporary, so that the arena is
// already large enough for what the calling test records afterwards.
void size_the_arena() {
  for (int i = 0; i < 2; ++i)
    tyche::value_and_grad([](const Tensor& q) { return tyche::sum(q[0] * Tensor::ones(Shape{4000})); },
                          params({1.0}));
}

}  // namespace

TEST_CASE("adding arrays of shapes (2,3) and (4,) throws a ShapeError naming both shapes") {
  const Tensor a = Tensor::zeros(Shape{2, 3}), b = Tensor::zeros(Shape{4});
  REQUIRE_THROWS_CONTAINING(a + b, ShapeError, "(2, 3)", "(4,)", "add");
  REQUIRE_THROWS_CONTAINING(a - b, ShapeError, "(2, 3)", "(4,)", "subtract");
  REQUIRE_THROWS_CONTAINING(b * a, ShapeError, "(4,)", "(2, 3)", "multiply");
  REQUIRE_THROWS_CONTAINING(a / b, ShapeError, "(2, 3)", "(4,)", "divide");
  REQUIRE_THROWS_CONTAINING(a < b, ShapeError, "(2, 3)", "(4,)");
  REQUIRE_THROWS_CONTAINING(tyche::pow(a, b), ShapeError, "(2, 3)", "(4,)");
  const Tensor c = Tensor::zeros(Shape{3, 1}), d = Tensor::zeros(Shape{2, 4, 5});
  REQUIRE_THROWS_CONTAINING(c + d, ShapeError, "(3, 1)", "(2, 4, 5)");
  REQUIRE_THROWS_CONTAINING(Tensor::zeros(Shape{0}) + Tensor::zeros(Shape{3}), ShapeError, "(0,)", "(3,)");
}

TEST_CASE("where with shapes that do not broadcast throws a ShapeError naming the shapes") {
  const Tensor condition = Tensor::ones(Shape{2, 3}), a = Tensor::zeros(Shape{4});
  REQUIRE_THROWS_CONTAINING(tyche::where(condition, a, 1.0), ShapeError, "(2, 3)", "(4,)");
}

TEST_CASE("matmul and dot with mismatched inner dimensions throw a ShapeError naming both shapes") {
  const Tensor a = Tensor::zeros(Shape{2, 3}), b = Tensor::zeros(Shape{4, 5});
  REQUIRE_THROWS_CONTAINING(tyche::matmul(a, b), ShapeError, "(2, 3)", "(4, 5)");
  REQUIRE_THROWS_CONTAINING(tyche::matmul(a, Tensor::zeros(Shape{2})), ShapeError, "(2, 3)", "(2,)");
  REQUIRE_THROWS_CONTAINING(tyche::matmul(Tensor::zeros(Shape{4}), a), ShapeError, "(4,)", "(2, 3)");
  REQUIRE_THROWS_CONTAINING(tyche::matmul(Tensor(1.0), a), ShapeError, "()", "(2, 3)");
  REQUIRE_THROWS_CONTAINING(tyche::matmul(Tensor::zeros(Shape{2, 3, 4}), a), ShapeError, "(2, 3, 4)");
  REQUIRE_THROWS_CONTAINING(tyche::dot(Tensor::zeros(Shape{3}), Tensor::zeros(Shape{4})), ShapeError,
                            "(3,)", "(4,)");
  REQUIRE_THROWS_CONTAINING(tyche::dot(a, a), ShapeError, "(2, 3)");
}

TEST_CASE("reshape to a different size, or with two -1s, throws a ShapeError naming both shapes") {
  const Tensor x = Tensor::zeros(Shape{2, 3});
  REQUIRE_THROWS_CONTAINING(x.reshape({4, 2}), ShapeError, "(2, 3)", "(4, 2)");
  REQUIRE_THROWS_CONTAINING(x.reshape({4, -1}), ShapeError, "(2, 3)", "(4, -1)");
  REQUIRE_THROWS_CONTAINING(x.reshape({-1, -1}), ShapeError, "(2, 3)", "(-1, -1)");
  REQUIRE_THROWS_CONTAINING(x.reshape({7}), ShapeError, "(2, 3)", "(7,)");
  REQUIRE_THROWS_CONTAINING(x.reshape({-2, -3}), ShapeError, "(2, 3)");
}

TEST_CASE("building an array from the wrong number of values throws a ShapeError") {
  REQUIRE_THROWS_CONTAINING(Tensor(std::vector<double>{1.0, 2.0, 3.0}, Shape{2, 2}), ShapeError, "3", "(2, 2)");
  REQUIRE_THROWS_AS((Tensor{{1.0, 2.0}, {3.0}}), ShapeError);
}

TEST_CASE("item() on an array whose size is not 1 throws a ShapeError showing the shape") {
  REQUIRE_THROWS_CONTAINING(Tensor::zeros(Shape{2, 3}).item(), ShapeError, "(2, 3)");
  REQUIRE_THROWS_CONTAINING(Tensor().item(), ShapeError, "(0,)");
  REQUIRE_THROWS_CONTAINING((Tensor{1.0, 2.0}.item()), ShapeError, "(2,)");
}

TEST_CASE("an index out of range, positive or negative, throws std::out_of_range naming index and size") {
  const Tensor x{1.0, 2.0, 3.0};
  REQUIRE_THROWS_CONTAINING(x[3], std::out_of_range, "3", "size 3");
  REQUIRE_THROWS_CONTAINING(x[-4], std::out_of_range, "-4", "size 3");
  REQUIRE_THROWS_CONTAINING(Tensor()[0], std::out_of_range, "size 0");
  const Tensor m = Tensor::zeros(Shape{2, 3});
  REQUIRE_THROWS_CONTAINING(m.at({0, 3}), std::out_of_range, "3", "size 3");
  REQUIRE_THROWS_CONTAINING(m.at({-3, 0}), std::out_of_range, "-3", "size 2");
  REQUIRE_THROWS_CONTAINING(m.at({0}), ShapeError, "(2, 3)");
  REQUIRE_THROWS_CONTAINING((x[Tensor{0.0, 3.0}]), std::out_of_range, "3", "size 3");
  REQUIRE_THROWS_CONTAINING(x[Tensor{-4.0}], std::out_of_range, "-4", "size 3");
  REQUIRE_THROWS_CONTAINING(tyche::take(x, std::vector<std::int64_t>{5}), std::out_of_range, "5");
  REQUIRE_THROWS_CONTAINING(Tensor(1.0)[0], ShapeError, "rank 0");
  REQUIRE_THROWS_CONTAINING(x.dim(1), ShapeError, "axis 1");
}

TEST_CASE("a gather index that is not an integer, or is not finite, throws std::invalid_argument") {
  const Tensor locs{-1.0, 0.0, 5.0};
  REQUIRE_THROWS_CONTAINING((locs[Tensor{0.0, 1.5}]), std::invalid_argument, "not an integer", "1.5");
  REQUIRE_THROWS_CONTAINING(locs[Tensor{kNaN}], std::invalid_argument, "not an integer");
  REQUIRE_THROWS_CONTAINING(locs[Tensor{std::numeric_limits<double>::infinity()}], std::invalid_argument,
                            "not an integer");
  // Far outside the range of std::int64_t: still an ordinary out-of-range error.
  REQUIRE_THROWS_AS(locs[Tensor{1e300}], std::out_of_range);
  REQUIRE_THROWS_AS(locs[Tensor{-1e19}], std::out_of_range);
}

TEST_CASE("transpose with axes that are not a permutation throws a ShapeError showing the shape") {
  const Tensor x = Tensor::zeros(Shape{2, 3, 4});
  for (const std::vector<int>& axes : {std::vector<int>{0, 1}, {0, 0, 1}, {0, 1, 3}, {0, 1, 2, 3}}) {
    INFO("axes of length " << axes.size());
    REQUIRE_THROWS_CONTAINING(tyche::transpose(x, axes), ShapeError, "(2, 3, 4)", "permutation");
  }
}

TEST_CASE("concatenate and stack with mismatched shapes throw a ShapeError naming both shapes") {
  const Tensor a = Tensor::zeros(Shape{2, 3}), b = Tensor::zeros(Shape{2, 2}), v = Tensor::zeros(Shape{3});
  REQUIRE_THROWS_CONTAINING(tyche::concatenate({a, b}), ShapeError, "(2, 3)", "(2, 2)");
  REQUIRE_THROWS_CONTAINING(tyche::concatenate({a, v}, 1), ShapeError, "(2, 3)", "(3,)");
  REQUIRE_THROWS_CONTAINING(tyche::concatenate({a, a}, 2), ShapeError, "axis 2");
  REQUIRE_THROWS_CONTAINING(tyche::concatenate({Tensor(1.0), Tensor(2.0)}), ShapeError, "rank 0");
  REQUIRE_THROWS_AS(tyche::concatenate({}), ShapeError);
  REQUIRE_THROWS_CONTAINING(tyche::stack({a, b}), ShapeError, "(2, 3)", "(2, 2)");
  REQUIRE_THROWS_CONTAINING(tyche::stack({a, a}, 3), ShapeError, "axis 3");
  REQUIRE_THROWS_AS(tyche::stack({}), ShapeError);
}

TEST_CASE("reductions along a missing axis, or of an empty array, throw a ShapeError") {
  const Tensor x = Tensor::zeros(Shape{2, 3});
  REQUIRE_THROWS_CONTAINING(tyche::sum(x, 2), ShapeError, "axis 2", "rank 2");
  REQUIRE_THROWS_CONTAINING(tyche::mean(x, -3), ShapeError, "axis -3");
  REQUIRE_THROWS_CONTAINING(tyche::max(Tensor()), ShapeError, "max", "(0,)");
  REQUIRE_THROWS_CONTAINING(tyche::logsumexp(Tensor::zeros(Shape{2, 0}), 1), ShapeError, "(2, 0)");
  REQUIRE_THROWS_AS(tyche::mean(Tensor()), ShapeError);
  REQUIRE_THROWS_CONTAINING(tyche::sum(Tensor(1.0), 0), ShapeError, "rank 0");
}

TEST_CASE("cholesky of a matrix that is not positive definite throws std::domain_error") {
  REQUIRE_THROWS_CONTAINING((tyche::cholesky(Tensor{{1.0, 2.0}, {2.0, 1.0}})), std::domain_error,
                            "positive definite");
  REQUIRE_THROWS_CONTAINING((tyche::cholesky(Tensor(std::vector<double>{-1.0}, Shape{1, 1}))), std::domain_error, "positive definite");
  REQUIRE_THROWS_CONTAINING((tyche::cholesky(Tensor{{kNaN, 0.0}, {0.0, 1.0}})), std::domain_error,
                            "positive definite");
  REQUIRE_THROWS_CONTAINING(tyche::cholesky(Tensor::zeros(Shape{2, 3})), ShapeError, "square", "(2, 3)");
  REQUIRE_THROWS_CONTAINING(tyche::diagonal(Tensor::zeros(Shape{2, 3})), ShapeError, "square", "(2, 3)");
  REQUIRE_THROWS_CONTAINING(tyche::logdet(Tensor::zeros(Shape{3})), ShapeError, "square", "(3,)");
}

TEST_CASE("solve_triangular with a singular matrix or a mismatched right-hand side throws") {
  const Tensor singular{{1.0, 0.0}, {1.0, 0.0}};
  REQUIRE_THROWS_CONTAINING(tyche::solve_triangular(singular, Tensor{1.0, 1.0}), std::domain_error, "singular");
  REQUIRE_THROWS_CONTAINING(tyche::solve_triangular(singular, Tensor{1.0, 1.0}, false), std::domain_error,
                            "singular");
  const Tensor L{{2.0, 0.0}, {1.0, 3.0}};
  REQUIRE_THROWS_CONTAINING(tyche::solve_triangular(L, Tensor{1.0, 2.0, 3.0}), ShapeError, "(3,)", "(2, 2)");
  REQUIRE_THROWS_CONTAINING(tyche::solve_triangular(L, Tensor::zeros(Shape{3, 2})), ShapeError, "(3, 2)",
                            "(2, 2)");
  REQUIRE_THROWS_CONTAINING(tyche::solve_triangular(L, Tensor(1.0)), ShapeError, "()", "(2, 2)");
  REQUIRE_THROWS_CONTAINING(tyche::solve_triangular(Tensor::zeros(Shape{2, 3}), Tensor{1.0, 2.0}), ShapeError,
                            "(2, 3)");
}

TEST_CASE("clamp with low greater than high throws std::invalid_argument") {
  const Tensor x{1.0, 2.0};
  REQUIRE_THROWS_CONTAINING(tyche::clamp(x, 2.0, 1.0), std::invalid_argument, "low", "high");
  REQUIRE_THROWS_AS(tyche::clamp(x, kNaN, 1.0), std::invalid_argument);
}

TEST_CASE("more than kMaxRank dimensions throws a ShapeError") {
  REQUIRE(tyche::kMaxRank == 6);
  REQUIRE_THROWS_CONTAINING((Shape{1, 1, 1, 1, 1, 1, 1}), ShapeError, "at most 6 dimensions");
  const Tensor six = Tensor::zeros(Shape{1, 1, 1, 1, 1, 2});
  REQUIRE_THROWS_CONTAINING(six.reshape({1, 1, 1, 1, 1, 1, 2}), ShapeError, "at most 6 dimensions");
  REQUIRE_THROWS_CONTAINING(tyche::stack({six, six}), ShapeError, "at most 6 dimensions");
  // take: the result has index.shape + x.shape[1:], here rank 4 + 3.
  REQUIRE_THROWS_CONTAINING(tyche::take(Tensor::zeros(Shape{2, 1, 1, 1}), Tensor::zeros(Shape{1, 1, 1, 1})),
                            ShapeError, "at most 6 dimensions");
  REQUIRE_THROWS_CONTAINING(Shape{-1}, ShapeError, "negative dimension");
}

TEST_CASE("value_and_grad of a function that returns a non-scalar throws a ShapeError showing the shape") {
  const auto identity = [](const Tensor& q) { return q; };
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(identity, params({1.0, 2.0, 3.0})), ShapeError, "(3,)");
  const auto outer = [](const Tensor& q) { return q * Tensor(std::vector<double>{1.0, 2.0}, Shape{2, 1}); };
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(outer, params({1.0, 2.0})), ShapeError, "(2, 2)");
  require_gradients_still_work();
}

TEST_CASE("value_and_grad with a gradient vector of the wrong length throws a ShapeError") {
  Eigen::VectorXd g(2);
  const Eigen::VectorXd x = params({1.0, 2.0, 3.0});
  const auto f = [](const Tensor& q) { return tyche::sum(q); };
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(f, x, g), ShapeError, "length 2", "3 parameters");
  require_gradients_still_work();
}

TEST_CASE("value_and_grad nested inside value_and_grad throws std::logic_error") {
  const auto inner = [](const Tensor& q) { return tyche::sum(q); };
  const auto outer = [&](const Tensor& q) {
    const double v = tyche::value_and_grad(inner, params({1.0})).value;
    return tyche::sum(q) * v;
  };
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(outer, params({1.0, 2.0})), std::logic_error, "nested");
  require_gradients_still_work();
}

TEST_CASE("an array that escapes value_and_grad and is used after a later evaluation has started throws "
          "std::logic_error") {
  size_the_arena();
  Tensor escaped, kept;
  const auto v = tyche::value_and_grad(
      [&](const Tensor& q) {
        escaped = q * 2.0;
        kept = escaped.copy();  // the supported way to keep a value
        return tyche::sum(escaped);
      },
      params({1.0, 2.0, 3.0}));
  REQUIRE(v.value == 12.0);

  // Used inside a later evaluation.
  const auto uses_escaped = [&](const Tensor& q) { return tyche::sum(escaped * q); };
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(uses_escaped, params({1.0, 1.0, 1.0})), std::logic_error,
                            "gradient evaluation");
  // Used after that later evaluation ended.
  REQUIRE_THROWS_CONTAINING(escaped + 1.0, std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(tyche::sum(escaped), std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(escaped.at({0}), std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(escaped.to_vector(), std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(escaped[0], std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(escaped.reshape({3, 1}), std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(tyche::concatenate({kept, escaped}), std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(tyche::matmul(escaped, kept), std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(kept[escaped], std::logic_error, "gradient evaluation");
  REQUIRE_THROWS_CONTAINING(tyche::stop_gradient(escaped), std::logic_error, "gradient evaluation");
  // The copy made inside the evaluation stays valid.
  CHECK(kept.to_std_vector() == std::vector<double>{2.0, 4.0, 6.0});
  require_gradients_still_work();
}

TEST_CASE("value_and_grad of a function that returns an array from an earlier evaluation throws "
          "std::logic_error") {
  size_the_arena();  // so that the stale array points into live arena memory, not freed memory
  Tensor escaped;
  tyche::value_and_grad(
      [&](const Tensor& q) {
        escaped = tyche::sum(q) * 2.0;
        return escaped;
      },
      params({1.0, 2.0}));
  const auto returns_escaped = [&](const Tensor&) { return escaped; };
  REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(returns_escaped, params({5.0, 5.0})), std::logic_error,
                            "gradient evaluation");
  require_gradients_still_work();
}

TEST_CASE("after any exception inside value_and_grad the next value_and_grad call works") {
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> failing{
      {"shape mismatch", [](const Tensor& q) { return tyche::sum(q + Tensor::zeros(Shape{4})); }},
      {"matmul mismatch", [](const Tensor& q) { return tyche::sum(tyche::matmul(q, Tensor::zeros(Shape{2, 2}))); }},
      {"not positive definite", [](const Tensor& q) { return tyche::sum(tyche::cholesky(q[0].reshape({1, 1}) - 5.0)); }},
      {"index out of range", [](const Tensor& q) { return q[7]; }},
      {"non-integer index", [](const Tensor& q) { return tyche::sum(q[q]); }},
      {"bad permutation", [](const Tensor& q) { return tyche::sum(tyche::transpose(q, {1})); }},
      {"non-scalar result", [](const Tensor& q) { return q; }},
      {"nested evaluation", [](const Tensor& q) { return tyche::sum(q) * tyche::value_and_grad(
                                                      [](const Tensor& p) { return tyche::sum(p); }, params({1.0})).value; }},
      {"user exception", [](const Tensor& q) -> Tensor { if (q.size() > 0) throw std::runtime_error("user"); return q; }},
  };
  for (const auto& [name, f] : failing) {
    INFO(name);
    REQUIRE_THROWS(tyche::value_and_grad(f, params({0.5, 1.5, 2.5})));
    require_gradients_still_work();
  }
}

// Errors raised while a model runs name the site and its plates, the shapes,
// and what to change; they keep their types.
namespace {
namespace dist = tyche::dist;
}  // namespace

TEST_CASE("substituting a value of the wrong shape names the site, both shapes and the shape it needs") {
  auto model = [] { tyche::sample("z", dist::Normal(Tensor{0.0, 0.0, 0.0}, 1.0)); };
  REQUIRE_THROWS_CONTAINING(tyche::log_density(model, std::tuple{}, {{"z", Tensor{1.0, 2.0, 3.0, 4.0}}}), ShapeError,
                            "site `z`", "value has shape (4,)", "shape (3,) of the site's Normal",
                            "give the site a value of shape (3,)");
  // An event of the wrong size.
  auto simplex = [] { tyche::sample("p", dist::Dirichlet(Tensor{1.0, 1.0, 1.0})); };
  REQUIRE_THROWS_CONTAINING(tyche::log_density(simplex, std::tuple{}, {{"p", Tensor{0.5, 0.5}}}), ShapeError,
                            "site `p`", "value has shape (2,)", "where the event has size 3");
}

TEST_CASE("an observation that does not fit its plate names the site, the plate and both sizes") {
  auto model = [](const Tensor& y) {
    tyche::plate data("data", 5);
    tyche::sample("obs", dist::Normal(0.0, 1.0), y);
  };
  REQUIRE_THROWS_CONTAINING(tyche::trace(model).get_trace(Tensor{1.0, 2.0, 3.0}), ShapeError,
                            "site `obs` (in plate `data` of size 5)", "observed value has shape (3,)",
                            "size 3 where plate `data` has size 5", "value of shape (5,)");
  // The same through log_density (condition, then the log density).
  auto latent = [] {
    tyche::plate data("data", 5);
    tyche::sample("obs", dist::Normal(0.0, 1.0));
  };
  REQUIRE_THROWS_CONTAINING(
      tyche::log_density(tyche::condition(latent, {{"obs", Tensor{1.0, 2.0, 3.0}}}), std::tuple{}, {}), ShapeError,
      "site `obs` (in plate `data` of size 5)");
}

TEST_CASE("a distribution whose batch shape clashes with a plate names the site, the plate and the shapes") {
  auto model = [] {
    tyche::plate data("data", 3);
    tyche::sample("x", dist::Normal(Tensor{0.0, 0.0, 0.0, 0.0}, 1.0));
  };
  REQUIRE_THROWS_CONTAINING(tyche::trace(tyche::seed(model, 0)).get_trace(), ShapeError,
                            "site `x` (in plate `data` of size 3)", "Normal has batch shape (4,)",
                            "size 4 at dim -1, where plate `data` has size 3", "broadcasts with the plates' shape (3,)");
  REQUIRE_THROWS_WITH(tyche::trace(tyche::seed(model, 0)).get_trace(), !Catch::Contains("plate `x`"));
  // Two plates: the clash is at the outer one's axis.
  auto nested = [] {
    tyche::plate rows("rows", 2, std::nullopt, -2);
    tyche::plate cols("cols", 3);
    tyche::sample("w", dist::Normal(Tensor::zeros(Shape{4, 1}), 1.0));
  };
  REQUIRE_THROWS_CONTAINING(tyche::trace(tyche::seed(nested, 0)).get_trace(), ShapeError, "site `w`",
                            "size 4 at dim -2, where plate `rows` has size 2", "plates' shape (2, 3)");
}

TEST_CASE("an error in a site's log density names the site and keeps its type") {
  // (3, 1) broadcasts to the site's shape (3, 3), so only LKJCholesky's
  // log_prob, run by log_density, finds it wrong.
  auto model = [] { tyche::sample("L", dist::LKJCholesky(3)); };
  REQUIRE_THROWS_CONTAINING(tyche::log_density(model, std::tuple{}, {{"L", Tensor::ones(Shape{3, 1})}}), ShapeError,
                            "tyche: site `L`: LKJCholesky: log_prob of a value of shape (3, 1)");
}

TEST_CASE("errors raised by handlers name the site, a user's own exception types pass unchanged") {
  struct UserError : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  auto model = [] {
    tyche::plate data("data", 2);
    tyche::sample("z", dist::Normal(0.0, 1.0));
  };
  // A mask that does not broadcast with the site's batch shape.
  REQUIRE_THROWS_CONTAINING(tyche::trace(tyche::seed(tyche::mask(model, Tensor{1.0, 0.0, 1.0}), 0)).get_trace(),
                            ShapeError, "site `z` (in plate `data` of size 2)", "(2,)", "(3,)");
  auto throwing = tyche::condition(model, [](const tyche::Message&) -> std::optional<Tensor> { throw UserError("mine"); });
  REQUIRE_THROWS_AS(throwing(), UserError);
  REQUIRE_THROWS_WITH(throwing(), "mine");
  REQUIRE(tyche::detail::handler_stack().empty());
}
