// Constraints: membership of members and non-members for every kind, result
// shapes for event constraints and independent(), printed names, discreteness,
// and the recorded check inside compiled gradients.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include <tyche/tyche.hpp>

#include <Eigen/Cholesky>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

using tyche::Shape;
using tyche::Tensor;
namespace c = tyche::constraints;

namespace {

using tyche_test::kInf;
using tyche_test::kNaN;

std::vector<double> values(const Tensor& t) { return t.to_std_vector(); }

}  // namespace

TEST_CASE("scalar constraints accept their members and reject everything else elementwise") {
  const Tensor x{-kInf, -2.0, 0.0, 0.5, 1.0, 3.0, kInf, kNaN};
  using V = std::vector<double>;
  CHECK(values(c::real.check(x)) == V{0, 1, 1, 1, 1, 1, 0, 0});  // as NumPyro: infinities are not real
  CHECK(values(c::positive.check(x)) == V{0, 0, 0, 1, 1, 1, 1, 0});
  CHECK(values(c::nonnegative.check(x)) == V{0, 0, 1, 1, 1, 1, 1, 0});
  CHECK(values(c::unit_interval.check(x)) == V{0, 0, 1, 1, 1, 0, 0, 0});
  CHECK(values(c::interval(-2.0, 0.5).check(x)) == V{0, 1, 1, 1, 0, 0, 0, 0});
  CHECK(values(c::greater_than(0.5).check(x)) == V{0, 0, 0, 0, 1, 1, 1, 0});
  CHECK(values(c::less_than(0.5).check(x)) == V{1, 1, 1, 0, 0, 0, 0, 0});
  CHECK(values(c::boolean.check(x)) == V{0, 0, 1, 0, 1, 0, 0, 0});
  CHECK(values(c::nonnegative_integer.check(x)) == V{0, 0, 1, 0, 1, 1, 0, 0});
  CHECK(values(c::integer_interval(-2.0, 1.0).check(x)) == V{0, 1, 1, 0, 1, 0, 0, 0});
  CHECK(c::positive.check(x).shape() == x.shape());
  CHECK(c::positive.check(Tensor(2.0)).shape() == Shape{});
}

TEST_CASE("bounds are arrays that broadcast against the value") {
  const c::Constraint between = c::interval(Tensor{0.0, 10.0}, Tensor{{1.0}, {20.0}});
  // Per element (i, j): lower j, upper i.
  const Tensor x{{0.5, 0.5}, {0.5, 15.0}};
  CHECK(values(between.check(x)) == std::vector<double>{1, 0, 1, 1});
  CHECK(values(c::greater_than(Tensor{1.0, 2.0, 3.0}).check(Tensor{{2.0, 2.0, 2.0}})) == std::vector<double>{1, 0, 0});
  CHECK_THROWS_AS(c::greater_than(Tensor{1.0, 2.0}).check(Tensor{1.0, 2.0, 3.0}), tyche::ShapeError);
}

TEST_CASE("simplex checks nonnegative entries summing to 1 per vector") {
  const Tensor x{{0.2, 0.3, 0.5}, {0.5, 0.6, -0.1}, {0.2, 0.2, 0.2}, {0.0, 0.0, 1.0}, {0.3, kNaN, 0.7}};
  const Tensor ok = c::simplex.check(x);
  REQUIRE(ok.shape() == Shape{5});
  CHECK(values(ok) == std::vector<double>{1, 0, 0, 1, 0});
  CHECK(c::simplex.check(Tensor{1.0 - 1e-7, 0.0}).item() == 1.0);  // NumPyro's tolerance, 1e-6
  CHECK(c::simplex.check(Tensor{1.0 - 1e-5, 0.0}).item() == 0.0);
}

TEST_CASE("ordered_vector needs strictly increasing entries") {
  const Tensor x{{-1.0, 0.0, 2.0}, {0.0, 0.0, 1.0}, {3.0, 2.0, 1.0}, {0.0, kNaN, 1.0}};
  CHECK(values(c::ordered_vector.check(x)) == std::vector<double>{1, 0, 0, 0});
  CHECK(c::ordered_vector.check(Tensor{5.0}).item() == 1.0);
}

TEST_CASE("lower_cholesky and corr_cholesky check triangle, diagonal and row norms per matrix") {
  const Tensor lower{{2.0, 0.0}, {-3.0, 0.5}};
  const Tensor upper_entry{{2.0, 0.1}, {-3.0, 0.5}};
  const Tensor zero_diagonal{{2.0, 0.0}, {-3.0, 0.0}};
  const Tensor corr{{1.0, 0.0}, {0.6, 0.8}};
  const Tensor stack = tyche::stack({lower, upper_entry, zero_diagonal, corr});
  const Tensor ok = c::lower_cholesky.check(stack);
  REQUIRE(ok.shape() == Shape{4});
  CHECK(values(ok) == std::vector<double>{1, 0, 0, 1});
  CHECK(values(c::corr_cholesky.check(stack)) == std::vector<double>{0, 0, 0, 1});
  CHECK(c::corr_cholesky.check(Tensor{{1.0, 0.0}, {-0.6, -0.8}}).item() == 0.0);  // negative diagonal
}

TEST_CASE("positive_definite needs a symmetric matrix with positive eigenvalues") {
  const Tensor pd{{2.0, 0.5}, {0.5, 1.0}};
  const Tensor indefinite{{1.0, 2.0}, {2.0, 1.0}};  // eigenvalues 3 and -1
  const Tensor asymmetric{{2.0, 0.5}, {0.0, 1.0}};
  const Tensor semidefinite{{1.0, 1.0}, {1.0, 1.0}};
  CHECK(values(c::positive_definite.check(tyche::stack({pd, indefinite, asymmetric, semidefinite}))) ==
        std::vector<double>{1, 0, 0, 0});
  CHECK(c::positive_definite.check(pd).shape() == Shape{});
}

// The check is written out (no Eigen::LLT, issue 17); it must agree with the
// definition it replaces: finite, m.isApprox(m^T, 1e-6) and LLT succeeding.
TEST_CASE("positive_definite agrees with Eigen's isApprox and LLT, tolerance and non-finite entries included") {
  const auto eigen_says = [](const Eigen::MatrixXd& m) {
    return m.allFinite() && m.isApprox(m.transpose(), 1e-6) && Eigen::LLT<Eigen::MatrixXd>(m).info() == Eigen::Success;
  };
  const auto tyche_says = [](const Eigen::MatrixXd& m) {
    return c::positive_definite.check(Tensor(m)).item() == 1.0;
  };
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  Eigen::MatrixXd pd(3, 3);
  pd << 4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0;  // Frobenius norm about 5.3
  std::vector<Eigen::MatrixXd> cases{pd, -pd, Eigen::MatrixXd::Zero(3, 3), Eigen::MatrixXd::Identity(1, 1)};
  for (double asymmetry : {1e-7, 1e-5}) {  // within and beyond 1e-6 relative
    Eigen::MatrixXd m = pd;
    m(0, 2) += asymmetry;
    cases.push_back(m);
  }
  for (double bad : {inf, nan}) {
    Eigen::MatrixXd m = pd;
    m(1, 1) = bad;
    cases.push_back(m);
  }
  std::mt19937 rng(17);  // random symmetric matrices, about half of them definite
  std::normal_distribution<double> normal;
  for (int k = 0; k < 200; ++k) {
    const int n = 1 + k % 5;
    Eigen::MatrixXd a(n, n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) a(i, j) = normal(rng);
    cases.push_back(a * a.transpose() - 0.5 * n * Eigen::MatrixXd::Identity(n, n) * double(k % 2));
  }
  int definite = 0;
  for (const Eigen::MatrixXd& m : cases) {
    CAPTURE(m);
    CHECK(tyche_says(m) == eigen_says(m));
    definite += eigen_says(m);
  }
  CHECK(definite > 100);  // both outcomes exercised
  CHECK(definite < int(cases.size()) - 50);
}

TEST_CASE("independent() makes more trailing axes one element, all of which must pass") {
  const Tensor x({1.0, 2.0, 3.0, 4.0, 1.0, -2.0, 3.0, 4.0}, Shape{2, 2, 2});
  const c::Constraint rows = c::independent(c::positive, 1);
  CHECK(rows.event_dim() == 1);
  CHECK(rows.check(x).shape() == Shape{2, 2});
  CHECK(values(rows.check(x)) == std::vector<double>{1, 1, 0, 1});
  const c::Constraint matrices = c::independent(c::positive, 2);
  CHECK(values(matrices.check(x)) == std::vector<double>{1, 0});
  CHECK(c::independent(c::positive, 3).check(x).shape() == Shape{});
  CHECK(c::independent(c::positive, 3).check(x).item() == 0.0);

  // Simplexes grouped in pairs: shape (3, 2, 2) -> (3,).
  const Tensor s({0.5, 0.5, 1.0, 0.0, 0.5, 0.5, 0.9, 0.0, 0.0, 1.0, 0.3, 0.7}, Shape{3, 2, 2});
  const c::Constraint pairs = c::independent(c::simplex, 1);
  CHECK(pairs.event_dim() == 2);
  CHECK(values(pairs.check(s)) == std::vector<double>{1, 0, 1});
  CHECK(c::real_vector.event_dim() == 1);
  CHECK(values(c::real_vector.check(Tensor{{1.0, kInf}, {0.0, 2.0}})) == std::vector<double>{0, 1});
}

TEST_CASE("check rejects values with too few axes or non-square matrices") {
  CHECK_THROWS_WITH(c::simplex.check(Tensor(1.0)),
                    "tyche: Simplex(): a value of shape () has fewer than 1 axes");
  CHECK_THROWS_WITH(c::independent(c::positive, 2).check(Tensor{1.0}),
                    Catch::Contains("Independent(Positive(), 2): a value of shape (1,) has fewer than 2 axes"));
  CHECK_THROWS_WITH(c::lower_cholesky.check(Tensor{{1.0, 0.0, 0.0}, {1.0, 1.0, 0.0}}),
                    "tyche: LowerCholesky(): expects square matrices, got shape (2, 3)");
}

TEST_CASE("contains is true when every element passes") {
  CHECK(c::positive.contains(Tensor{1.0, 2.0}));
  CHECK_FALSE(c::positive.contains(Tensor{1.0, 0.0}));
  CHECK(c::simplex.contains(Tensor{{0.5, 0.5}, {0.25, 0.75}}));
}

TEST_CASE("constraints print as NumPyro names them") {
  CHECK(c::real.str() == "Real()");
  CHECK(c::real_vector.str() == "RealVector()");
  CHECK(c::positive.str() == "Positive()");
  CHECK(c::nonnegative.str() == "Nonnegative()");
  CHECK(c::unit_interval.str() == "UnitInterval()");
  CHECK(c::interval(0.0, 2.5).str() == "Interval(lower_bound=0, upper_bound=2.5)");
  CHECK(c::interval(Tensor{0.0, 1.0}, 3.0).str() == "Interval(lower_bound=array(2,), upper_bound=3)");
  CHECK(c::greater_than(-1.0).str() == "GreaterThan(lower_bound=-1)");
  CHECK(c::less_than(4.0).str() == "LessThan(upper_bound=4)");
  CHECK(c::simplex.str() == "Simplex()");
  CHECK(c::ordered_vector.str() == "OrderedVector()");
  CHECK(c::lower_cholesky.str() == "LowerCholesky()");
  CHECK(c::corr_cholesky.str() == "CorrCholesky()");
  CHECK(c::positive_definite.str() == "PositiveDefinite()");
  CHECK(c::boolean.str() == "Boolean()");
  CHECK(c::nonnegative_integer.str() == "NonnegativeInteger()");
  CHECK(c::integer_interval(0.0, 5.0).str() == "IntegerInterval(lower_bound=0, upper_bound=5)");
  CHECK(c::independent(c::positive, 1).str() == "Independent(Positive(), 1)");
  CHECK(c::independent(c::simplex, 2).str() == "Independent(Simplex(), 2)");
  CHECK(c::independent(c::real, 2).str() == "Independent(Real(), 2)");
}

TEST_CASE("only boolean and the integer constraints are discrete, independent or not") {
  for (const c::Constraint& d : {c::boolean, c::nonnegative_integer, c::integer_interval(0.0, 3.0)}) {
    CHECK(d.is_discrete());
    CHECK(c::independent(d, 1).is_discrete());
  }
  for (const c::Constraint& k : {c::real, c::real_vector, c::positive, c::nonnegative, c::unit_interval,
                                 c::interval(0.0, 1.0), c::greater_than(0.0), c::less_than(0.0), c::simplex,
                                 c::ordered_vector, c::lower_cholesky, c::corr_cholesky, c::positive_definite})
    CHECK_FALSE(k.is_discrete());
}

TEST_CASE("a check on parameter-dependent values is recorded and redone in a compiled gradient") {
  // sum of q where q > 0: the mask must follow the replayed values.
  const auto f = [](const Tensor& q) { return tyche::sum(tyche::where(c::positive.check(q), q, 0.0)); };
  auto compiled = tyche::compile_gradient(f, Eigen::Vector3d(1.0, -1.0, 2.0));
  Eigen::VectorXd g(3);
  CHECK(compiled(Eigen::Vector3d(-1.0, 3.0, 2.0), g) == 5.0);
  CHECK(g == Eigen::Vector3d(0.0, 1.0, 1.0));
  // The sums of the rows that are simplexes: one of two when recorded, both when replayed.
  const auto simplex_rows = [](const Tensor& q) {
    const Tensor rows = q.reshape({2, 2});
    return tyche::sum(tyche::where(c::simplex.check(rows), tyche::sum(rows, -1), 0.0));
  };
  auto compiled_simplex = tyche::compile_gradient(simplex_rows, Eigen::Vector4d(0.5, 0.5, 0.2, 0.2));
  Eigen::VectorXd g4(4);
  CHECK(compiled_simplex(Eigen::Vector4d(0.2, 0.8, 0.3, 0.7), g4) == Approx(2.0));
  CHECK(g4 == Eigen::Vector4d::Ones());
}
