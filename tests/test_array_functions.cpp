// The jnp-style array functions of core/array_functions.hpp: values against
// hand-worked numbers and plain loops written here, shapes and errors, and
// gradients against finite differences (with the compiled replay, which
// gradient_check.hpp runs for every check).
#include <catch2/catch.hpp>
#include <tyche/core/array_functions.hpp>
#include <tyche/tyche.hpp>

#include "gradient_check.hpp"

#include <Eigen/Cholesky>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

using namespace tyche_test;

void check_values(const Tensor& actual, const Shape& shape, const std::vector<double>& expected,
                  double tolerance = 1e-14) {
  REQUIRE(actual.shape() == shape);
  const std::vector<double> got = actual.to_std_vector();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": " << got[i] << " vs " << expected[i]);
    CHECK(std::abs(got[i] - expected[i]) <= tolerance * std::max(1.0, std::abs(expected[i])));
  }
}

// A symmetric positive-definite n x n matrix M M^T + n I from a random M.
Eigen::MatrixXd spd_matrix(Eigen::Index n, std::mt19937& rng) {
  Eigen::MatrixXd m(n, n);
  for (Eigen::Index i = 0; i < m.size(); ++i) m(i) = std::uniform_real_distribution<double>(-1.0, 1.0)(rng);
  return m * m.transpose() + double(n) * Eigen::MatrixXd::Identity(n, n);
}

}  // namespace

TEST_CASE("var and stddev: hand-worked values, over all elements and along an axis") {
  const Tensor x{{1.0, 2.0}, {3.0, 5.0}};
  // Mean 2.75; squared deviations 3.0625 + 0.5625 + 0.0625 + 5.0625 = 8.75.
  check_values(tyche::var(x), Shape{}, {8.75 / 4.0});
  check_values(tyche::var(x, {}, 1), Shape{}, {8.75 / 3.0});
  check_values(tyche::stddev(x), Shape{}, {std::sqrt(8.75 / 4.0)});
  // Columns {1, 3} and {2, 5}: squared deviations sum to 2 and 4.5.
  check_values(tyche::var(x, 0), Shape{2}, {1.0, 2.25});
  check_values(tyche::stddev(x, 0, 1), Shape{2}, {std::sqrt(2.0), std::sqrt(4.5)});
  // Rows {1, 2} and {3, 5}: 0.5 and 2 over 2.
  check_values(tyche::var(x, -1, 0, true), Shape{2, 1}, {0.25, 1.0});
  check_values(tyche::var(x, {}, 0, true), Shape{1, 1}, {8.75 / 4.0});
  check_values(tyche::var(Tensor(4.0)), Shape{}, {0.0});
}

TEST_CASE("var along each axis of a rank-3 array matches a two-pass loop") {
  std::mt19937 rng(7);
  const Shape shape{3, 4, 5};
  const Tensor x = random_tensor(shape, kReal, rng);
  for (int axis = 0; axis < 3; ++axis)
    for (int ddof : {0, 1, 2}) {
      INFO("axis " << axis << ", ddof " << ddof);
      std::vector<double> expected;
      const std::int64_t n = shape[axis];
      for (std::int64_t i = 0; i < 3; ++i)
        for (std::int64_t j = 0; j < 4; ++j)
          for (std::int64_t k = 0; k < 5; ++k) {
            const std::int64_t index[3] = {i, j, k};
            if (index[axis] != 0) continue;  // one output per line along the axis
            const auto element = [&](std::int64_t t) {
              std::int64_t at[3] = {i, j, k};
              at[axis] = t;
              return x.at({at[0], at[1], at[2]});
            };
            double mean = 0.0, squares = 0.0;
            for (std::int64_t t = 0; t < n; ++t) mean += element(t) / double(n);
            for (std::int64_t t = 0; t < n; ++t) squares += (element(t) - mean) * (element(t) - mean);
            expected.push_back(squares / double(n - ddof));
          }
      Shape reduced = shape;
      reduced.set(axis, 1);
      check_values(tyche::var(x, axis, ddof, true), reduced, expected, 1e-13);
      check_values(tyche::var(x, axis, ddof).reshape(reduced), reduced, expected, 1e-13);
    }
}

TEST_CASE("var and stddev reject a bad axis and ddof outside 0 <= ddof < n") {
  const Tensor x{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  CHECK_THROWS_AS(tyche::var(x, 2), tyche::ShapeError);
  CHECK_THROWS_AS(tyche::var(x, -3), tyche::ShapeError);
  CHECK_THROWS_AS(tyche::var(Tensor(1.0), 0), tyche::ShapeError);
  CHECK_THROWS_WITH(tyche::var(x, 0, 2), Catch::Contains("ddof is 2") && Catch::Contains("< 2"));
  CHECK_THROWS_AS(tyche::var(x, 1, 3), std::invalid_argument);
  CHECK_THROWS_AS(tyche::var(x, {}, 6), std::invalid_argument);
  CHECK_THROWS_AS(tyche::stddev(x, 0, -1), std::invalid_argument);
  CHECK_THROWS_AS(tyche::var(Tensor()), std::invalid_argument);  // no elements
}

TEST_CASE("eye: ones on the chosen diagonal of an n x m matrix") {
  check_values(tyche::eye(2), Shape{2, 2}, {1, 0, 0, 1});
  check_values(tyche::eye(2, 3), Shape{2, 3}, {1, 0, 0, 0, 1, 0});
  check_values(tyche::eye(3, 2, -1), Shape{3, 2}, {0, 0, 1, 0, 0, 1});
  check_values(tyche::eye(2, 3, 1), Shape{2, 3}, {0, 1, 0, 0, 0, 1});
  check_values(tyche::eye(2, {}, 5), Shape{2, 2}, {0, 0, 0, 0});
  CHECK(tyche::eye(0).shape() == Shape{0, 0});
  CHECK_THROWS_AS(tyche::eye(-1), tyche::ShapeError);
  CHECK_THROWS_AS(tyche::eye(2, -3), tyche::ShapeError);
}

TEST_CASE("arange: NumPy's lengths and values") {
  check_values(tyche::arange(4), Shape{4}, {0, 1, 2, 3});
  check_values(tyche::arange(1.0, 2.0, 0.25), Shape{4}, {1.0, 1.25, 1.5, 1.75});
  check_values(tyche::arange(5.0, 0.0, -2.0), Shape{3}, {5.0, 3.0, 1.0});
  check_values(tyche::arange(0.5, 3.0), Shape{3}, {0.5, 1.5, 2.5});
  CHECK(tyche::arange(0.0, 1.0, 0.1).size() == 10);  // np.arange(0, 1, 0.1) has 10 elements
  CHECK(tyche::arange(1.0, 0.0).size() == 0);
  CHECK(tyche::arange(-2).size() == 0);
  CHECK_THROWS_WITH(tyche::arange(0.0, 1.0, 0.0), Catch::Contains("non-zero step"));
  CHECK_THROWS_AS(tyche::arange(0.0, INFINITY), std::invalid_argument);
}

TEST_CASE("linspace: evenly spaced values, the endpoint exactly, array bounds on a new first axis") {
  check_values(tyche::linspace(0.0, 1.0, 5), Shape{5}, {0.0, 0.25, 0.5, 0.75, 1.0});
  check_values(tyche::linspace(0.0, 1.0, 4, false), Shape{4}, {0.0, 0.25, 0.5, 0.75});
  check_values(tyche::linspace(2.0, 3.0, 1), Shape{1}, {2.0});
  check_values(tyche::linspace(2.0, 3.0, 1, false), Shape{1}, {2.0});
  CHECK(tyche::linspace(2.0, 3.0, 0).shape() == Shape{0});
  const Tensor grid = tyche::linspace(0.1, 0.7);  // JAX's default num = 50
  REQUIRE(grid.shape() == Shape{50});
  CHECK(grid.at({49}) == 0.7);  // the endpoint is stop itself, not 0.1 + 1.0 * 0.6
  CHECK(grid.at({0}) == 0.1);
  CHECK(grid.at({7}) == Approx(0.1 + 7.0 * 0.6 / 49.0).epsilon(1e-15));
  // start (2,) with a scalar stop: shape (3, 2), column j runs from start[j] to 1.
  check_values(tyche::linspace(Tensor{0.0, 10.0}, 1.0, 3), Shape{3, 2}, {0.0, 10.0, 0.5, 5.5, 1.0, 1.0});
  CHECK_THROWS_WITH(tyche::linspace(0.0, 1.0, -1), Catch::Contains("num is -1"));
  CHECK_THROWS_AS(tyche::linspace(Tensor{0.0, 1.0}, Tensor{1.0, 2.0, 3.0}, 3), tyche::ShapeError);
}

TEST_CASE("outer and kron: hand-worked values and a plain loop") {
  check_values(tyche::outer(Tensor{1.0, 2.0}, Tensor{3.0, 4.0, 5.0}), Shape{2, 3}, {3, 4, 5, 6, 8, 10});
  // Inputs are flattened, as jnp.outer.
  CHECK(tyche::outer(Tensor{{1.0, 2.0}, {3.0, 4.0}}, Tensor(2.0)).shape() == Shape{4, 1});

  check_values(tyche::kron(Tensor{1.0, 2.0}, Tensor{1.0, 10.0, 100.0}), Shape{6}, {1, 10, 100, 2, 20, 200});
  // np.kron([[1, 2], [3, 4]], [1, 10]): the vector becomes a (1, 2) row.
  check_values(tyche::kron(Tensor{{1.0, 2.0}, {3.0, 4.0}}, Tensor{1.0, 10.0}), Shape{2, 4},
               {1, 10, 2, 20, 3, 30, 4, 40});
  check_values(tyche::kron(Tensor(3.0), Tensor(-2.0)), Shape{}, {-6.0});

  std::mt19937 rng(11);
  const Tensor a = random_tensor(Shape{2, 3}, kReal, rng), b = random_tensor(Shape{4, 2}, kReal, rng);
  std::vector<double> expected(2 * 4 * 3 * 2);
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t k = 0; k < 4; ++k)
        for (std::int64_t l = 0; l < 2; ++l)
          expected[std::size_t((i * 4 + k) * 6 + (j * 2 + l))] = a.at({i, j}) * b.at({k, l});
  check_values(tyche::kron(a, b), Shape{8, 6}, expected);
  CHECK_THROWS_AS(tyche::kron(Tensor::ones(Shape{1, 1, 1, 1}), Tensor(1.0)), tyche::ShapeError);
}

TEST_CASE("cumprod: running products along an axis") {
  check_values(tyche::cumprod(Tensor{1.0, 2.0, 3.0, 4.0}), Shape{4}, {1, 2, 6, 24});
  const Tensor m{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  check_values(tyche::cumprod(m), Shape{2, 3}, {1, 2, 6, 4, 20, 120});
  check_values(tyche::cumprod(m, 0), Shape{2, 3}, {1, 2, 3, 4, 10, 18});
  check_values(tyche::cumprod(Tensor{2.0, 0.0, 3.0}), Shape{3}, {2, 0, 0});
  CHECK(tyche::cumprod(Tensor::zeros(Shape{2, 0})).shape() == Shape{2, 0});
  CHECK_THROWS_AS(tyche::cumprod(m, 2), tyche::ShapeError);
  CHECK_THROWS_AS(tyche::cumprod(Tensor(1.0)), tyche::ShapeError);
}

TEST_CASE("cdist_sq: squared distances between rows, exactly 0 between a point and itself") {
  const Tensor x1{{0.0, 0.0}, {1.0, 2.0}}, x2{{3.0, 4.0}, {1.0, 0.0}, {0.0, 0.0}};
  check_values(tyche::cdist_sq(x1, x2), Shape{2, 3}, {25, 1, 0, 8, 4, 5});
  check_values(tyche::cdist_sq(Tensor{0.0, 1.5}, Tensor{1.0, -1.0, 0.0}), Shape{2, 3}, {1, 1, 0, 0.25, 6.25, 2.25});

  std::mt19937 rng(3);
  const Tensor x = random_tensor(Shape{6, 3}, kReal, rng);
  const Tensor d = tyche::cdist_sq(x, x);
  for (std::int64_t i = 0; i < 6; ++i)
    for (std::int64_t j = 0; j < 6; ++j) {
      double expected = 0.0;
      for (std::int64_t k = 0; k < 3; ++k) expected += std::pow(x.at({i, k}) - x.at({j, k}), 2);
      CHECK(d.at({i, j}) == Approx(expected).epsilon(1e-14));
      if (i == j) CHECK(d.at({i, j}) == 0.0);
    }
  CHECK_THROWS_AS(tyche::cdist_sq(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{2, 2})), tyche::ShapeError);
  CHECK_THROWS_AS(tyche::cdist_sq(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{3})), tyche::ShapeError);
  CHECK_THROWS_AS(tyche::cdist_sq(Tensor(1.0), Tensor(1.0)), tyche::ShapeError);
}

TEST_CASE("cho_solve solves A x = b from the lower or upper Cholesky factor, single and stacked") {
  std::mt19937 rng(5);
  const Eigen::MatrixXd a0 = spd_matrix(4, rng), a1 = spd_matrix(4, rng);
  Eigen::MatrixXd rhs(4, 2);
  for (Eigen::Index i = 0; i < rhs.size(); ++i) rhs(i) = std::uniform_real_distribution<double>(-1.0, 1.0)(rng);
  const Eigen::MatrixXd x0 = a0.llt().solve(rhs), x1 = a1.llt().solve(rhs);
  const auto close = [](const Tensor& got, const Eigen::MatrixXd& expected) {
    const Eigen::MatrixXd g = got.to_matrix();
    REQUIRE(g.rows() == expected.rows());
    REQUIRE(g.cols() == expected.cols());
    CHECK((g - expected).cwiseAbs().maxCoeff() <= 1e-12);
  };

  const Tensor l0 = tyche::cholesky(Tensor(a0)), l1 = tyche::cholesky(Tensor(a1));
  close(tyche::cho_solve(l0, Tensor(rhs)), x0);
  close(tyche::cho_solve(l0, Tensor(Eigen::VectorXd(rhs.col(0)))), x0.col(0));
  close(tyche::cho_solve(tyche::transpose(l0), Tensor(rhs), false), x0);

  // A stack of two factors with a stack of matrices, and with a stack of vectors.
  const Tensor factors = tyche::stack({l0, l1});
  const Tensor stacked = tyche::cho_solve(factors, tyche::stack({Tensor(rhs), Tensor(rhs)}));
  REQUIRE(stacked.shape() == Shape{2, 4, 2});
  close(stacked[0], x0);
  close(stacked[1], x1);
  const Tensor columns = tyche::cho_solve(factors, tyche::stack({Tensor(Eigen::VectorXd(rhs.col(1))),
                                                                 Tensor(Eigen::VectorXd(rhs.col(1)))}));
  REQUIRE(columns.shape() == Shape{2, 4});
  close(columns[0], x0.col(1));
  close(columns[1], x1.col(1));
  // One factor shared by a stack of right-hand sides.
  const Tensor shared = tyche::cho_solve(l1, tyche::stack({Tensor(rhs), Tensor(rhs), Tensor(rhs)}));
  REQUIRE(shared.shape() == Shape{3, 4, 2});
  close(shared[2], x1);
}

TEST_CASE("solve_triangular_batched matches solve_triangular per matrix and checks shapes") {
  std::mt19937 rng(9);
  const Tensor t = random_tensor(Shape{2, 3, 3, 3}, kReal, rng) + 4.0 * eye(3);
  const Tensor b = random_tensor(Shape{2, 3, 3}, kReal, rng);
  for (bool lower : {true, false}) {
    const Tensor x = tyche::solve_triangular_batched(t, b, lower);
    REQUIRE(x.shape() == Shape{2, 3, 3});
    for (std::int64_t i = 0; i < 2; ++i)
      for (std::int64_t j = 0; j < 3; ++j)
        check_values(x[i][j], Shape{3}, tyche::solve_triangular(t[i][j], b[i][j], lower).to_std_vector());
  }
  CHECK(tyche::solve_triangular_batched(Tensor::zeros(Shape{0, 2, 2}), Tensor::zeros(Shape{0, 2})).shape() ==
        Shape{0, 2});
  CHECK_THROWS_AS(tyche::solve_triangular_batched(t, Tensor::zeros(Shape{3, 3, 3})), tyche::ShapeError);
  CHECK_THROWS_AS(tyche::solve_triangular_batched(t, Tensor::zeros(Shape{2, 3, 4})), tyche::ShapeError);
  CHECK_THROWS_AS(tyche::solve_triangular_batched(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{2})),
                  tyche::ShapeError);
  CHECK_THROWS_AS(tyche::cho_solve(Tensor{1.0, 2.0}, Tensor{1.0, 2.0}), tyche::ShapeError);
}

TEST_CASE("gradients of the array functions match finite differences") {
  for (int axis : {0, 1, -1})
    for (int ddof : {0, 1}) {
      check_gradient("var", [&](const Inputs& in) { return tyche::var(in[0], axis, ddof); }, {{Shape{3, 4}}});
      check_gradient("stddev", [&](const Inputs& in) { return tyche::stddev(in[0], axis, ddof, true); },
                     {{Shape{3, 4}}});
    }
  check_gradient("var over all elements", [](const Inputs& in) { return tyche::var(in[0], {}, 1); }, {{Shape{2, 3}}});
  check_gradient("stddev over all elements", [](const Inputs& in) { return tyche::stddev(in[0]); }, {{Shape{5}}});

  check_gradient("linspace", [](const Inputs& in) { return tyche::linspace(in[0], in[1], 5); }, {{Shape{}}, {Shape{}}});
  check_gradient("linspace without endpoint",
                 [](const Inputs& in) { return tyche::linspace(in[0], in[1], 4, false); }, {{Shape{2}}, {Shape{}}});
  check_gradient("linspace of one point", [](const Inputs& in) { return tyche::linspace(in[0], in[1], 1); },
                 {{Shape{3}}, {Shape{3}}});

  check_gradient("outer", [](const Inputs& in) { return tyche::outer(in[0], in[1]); }, {{Shape{3}}, {Shape{2, 2}}});
  check_gradient("kron", [](const Inputs& in) { return tyche::kron(in[0], in[1]); }, {{Shape{2, 3}}, {Shape{2, 2}}});
  check_gradient("kron of ranks 3 and 1", [](const Inputs& in) { return tyche::kron(in[0], in[1]); },
                 {{Shape{2, 1, 2}}, {Shape{3}}});

  for (int axis : {0, 1})
    check_gradient("cumprod", [&](const Inputs& in) { return tyche::cumprod(in[0], axis); }, {{Shape{3, 4}}});
  // Zeros in x: the backward pass divides by nothing, so these are exact too
  // (one zero: later products depend on it linearly; two: every product after
  // the second is flat in each).
  const Fn cumprod_vector = [](const Inputs& in) { return tyche::cumprod(in[0]); };
  check_gradient_at("cumprod with a zero", cumprod_vector, {Shape{4}}, Eigen::Vector4d(1.5, 0.0, -2.0, 0.7));
  check_gradient_at("cumprod with two zeros", cumprod_vector, {Shape{4}}, Eigen::Vector4d(0.0, 1.3, 0.0, 2.0));

  check_gradient("cdist_sq", [](const Inputs& in) { return tyche::cdist_sq(in[0], in[1]); },
                 {{Shape{3, 2}}, {Shape{4, 2}}});
  check_gradient("cdist_sq of vectors", [](const Inputs& in) { return tyche::cdist_sq(in[0], in[1]); },
                 {{Shape{3}}, {Shape{2}}});
  // An RBF kernel matrix of one set of points with itself: the zero diagonal
  // has gradient 0 from both sides.
  check_gradient("RBF kernel", [](const Inputs& in) { return tyche::exp(-0.5 * tyche::cdist_sq(in[0], in[0])); },
                 {{Shape{4, 2}}});

  // Factors with diagonals in [2, 6], away from singular; only the read
  // triangle gets a gradient, and the finite differences agree that the other
  // triangle does not matter.
  for (bool lower : {true, false}) {
    check_gradient("cho_solve",
                   [&](const Inputs& in) { return tyche::cho_solve(in[0] + 4.0 * eye(3), in[1], lower); },
                   {{Shape{3, 3}}, {Shape{3, 2}}});
    check_gradient("cho_solve on a stack",
                   [&](const Inputs& in) {
                     return tyche::cho_solve(in[0] + 4.0 * eye(3), in[1], lower);
                   },
                   {{Shape{2, 3, 3}}, {Shape{2, 3}}});
    check_gradient("solve_triangular_batched",
                   [&](const Inputs& in) {
                     return tyche::solve_triangular_batched(in[0] + 4.0 * eye(3), in[1], lower);
                   },
                   {{Shape{2, 3, 3}}, {Shape{2, 3, 2}}});
  }
  // The Gaussian-process use: A = K + noise, x = A^-1 y through its factor.
  check_gradient("cho_solve of a kernel matrix",
                 [](const Inputs& in) {
                   const Tensor k = tyche::exp(-0.5 * tyche::cdist_sq(in[0], in[0])) + 0.5 * eye(4);
                   return tyche::cho_solve(tyche::cholesky(k), in[1]);
                 },
                 {{Shape{4}}, {Shape{4}}});
}
