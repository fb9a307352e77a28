// Bijective transforms and biject_to: round trips, log-determinants against
// finite-difference Jacobians, gradients (and their compiled replays) against
// finite differences, values against formulas computed here, shapes, errors;
// and the core operations they are built from (cumsum, triangular packing);
// TransformedDistribution through transforms that change the event rank.
#include "gradient_check.hpp"

#include <tyche/distributions/biject_to.hpp>
#include <tyche/distributions/continuous.hpp>
#include <tyche/distributions/multivariate.hpp>
#include <tyche/distributions/transformed.hpp>
#include <tyche/distributions/transforms.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <vector>

using tyche::Shape;
using tyche::Tensor;
using tyche_test::check_gradient;
using tyche_test::Inputs;
using tyche_test::kReal;
namespace c = tyche::constraints;
namespace tr = tyche::transforms;

namespace {

Tensor random_normal(const Shape& shape, unsigned seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> v(std::size_t(shape.numel()));
  for (double& x : v) x = normal(rng);
  return Tensor(v, shape);
}

Eigen::MatrixXd matrix(const Tensor& t) { return t.to_matrix(); }

// The entries (i, j) with j <= i + diagonal of a square matrix, row by row.
Eigen::VectorXd lower_entries(const Eigen::MatrixXd& m, int diagonal = 0) {
  std::vector<double> v;
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j <= i + diagonal && j < m.cols(); ++j) v.push_back(m(i, j));
  return Eigen::Map<Eigen::VectorXd>(v.data(), Eigen::Index(v.size()));
}

// Central differences, h = 1e-6: each entry is accurate to ~1e-10 relative
// for the smooth, O(1)-scaled maps tested here.
Eigen::MatrixXd jacobian(const std::function<Eigen::VectorXd(const Eigen::VectorXd&)>& f, const Eigen::VectorXd& x) {
  const Eigen::Index m = f(x).size();
  Eigen::MatrixXd j(m, x.size());
  for (Eigen::Index k = 0; k < x.size(); ++k) {
    const double h = 1e-6;
    Eigen::VectorXd up = x, down = x;
    up[k] += h;
    down[k] -= h;
    j.col(k) = (f(up) - f(down)) / (2 * h);
  }
  return j;
}

double log_abs_det(const Eigen::MatrixXd& j) { return std::log(std::abs(j.fullPivLu().determinant())); }

double max_abs_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return (a.to_vector() - b.to_vector()).cwiseAbs().maxCoeff();
}

// A transform on vectors, with the free coordinates of its output (as NumPyro's
// tests take them) for a square Jacobian.
struct VectorCase {
  std::string label;
  tr::TransformPtr transform;
  std::int64_t dim;
  std::function<Eigen::VectorXd(const Tensor&)> free;
};

Eigen::VectorXd all_entries(const Tensor& y) { return y.to_vector(); }

std::vector<VectorCase> vector_cases() {
  auto independent = [](tr::TransformPtr t) { return std::make_shared<tr::IndependentTransform>(std::move(t), 1); };
  return {
      {"Identity", independent(std::make_shared<tr::IdentityTransform>()), 4, all_entries},
      {"Exp", independent(std::make_shared<tr::ExpTransform>()), 4, all_entries},
      {"Sigmoid", independent(std::make_shared<tr::SigmoidTransform>()), 4, all_entries},
      {"Softplus", independent(std::make_shared<tr::SoftplusTransform>()), 4, all_entries},
      {"Affine(event_dim=1)",
       std::make_shared<tr::AffineTransform>(Tensor{1.0, -2.0, 0.5, 3.0}, Tensor{2.0, -0.5, 3.0, 0.25}, 1), 4,
       all_entries},
      // log(sigmoid(x)): the inverse of exp, fed positive values.
      {"Compose(Sigmoid, Inverse(Exp))",
       independent(std::make_shared<tr::ComposeTransform>(std::vector<tr::TransformPtr>{
           std::make_shared<tr::SigmoidTransform>(), tr::inv(std::make_shared<tr::ExpTransform>())})),
       4, all_entries},
      {"StickBreaking", std::make_shared<tr::StickBreakingTransform>(), 4,
       [](const Tensor& y) { return Eigen::VectorXd(y.to_vector().head(4)); }},
      {"Ordered", std::make_shared<tr::OrderedTransform>(), 5, all_entries},
      {"LowerCholesky", std::make_shared<tr::LowerCholeskyTransform>(), 6,
       [](const Tensor& y) { return lower_entries(matrix(y)); }},
      {"CorrCholesky", std::make_shared<tr::CorrCholeskyTransform>(), 6,
       [](const Tensor& y) { return lower_entries(matrix(y), -1); }},
      {"biject_to(positive_definite)", tyche::biject_to(c::positive_definite), 6,
       [](const Tensor& y) { return lower_entries(matrix(y)); }},
      {"Compose(Exp, StickBreaking)",
       std::make_shared<tr::ComposeTransform>(std::vector<tr::TransformPtr>{
           std::make_shared<tr::ExpTransform>(), std::make_shared<tr::StickBreakingTransform>()}),
       3, [](const Tensor& y) { return Eigen::VectorXd(y.to_vector().head(3)); }},
      {"Compose(StickBreaking, Inverse(StickBreaking))",
       std::make_shared<tr::ComposeTransform>(
           std::vector<tr::TransformPtr>{std::make_shared<tr::StickBreakingTransform>(),
                                         tr::inv(std::make_shared<tr::StickBreakingTransform>())}),
       3, all_entries},
  };
}

}  // namespace

// ---- core operations --------------------------------------------------------

TEST_CASE("cumsum runs along any axis, forwards or from the end") {
  const Tensor m{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  CHECK(tyche::cumsum(m).to_matrix() == (Eigen::MatrixXd(2, 3) << 1, 3, 6, 4, 9, 15).finished());
  CHECK(tyche::cumsum(m, 0).to_matrix() == (Eigen::MatrixXd(2, 3) << 1, 2, 3, 5, 7, 9).finished());
  CHECK(tyche::cumsum(m, -1, true).to_matrix() == (Eigen::MatrixXd(2, 3) << 6, 5, 3, 15, 11, 6).finished());
  CHECK(tyche::cumsum(m, 0, true).to_matrix() == (Eigen::MatrixXd(2, 3) << 5, 7, 9, 4, 5, 6).finished());
  CHECK_THROWS_AS(tyche::cumsum(Tensor(1.0)), tyche::ShapeError);
  CHECK_THROWS_WITH(tyche::cumsum(m, 2), Catch::Contains("cumsum: axis 2 is out of range"));
}

TEST_CASE("cumsum's gradient matches finite differences, in both directions and on every axis") {
  for (int axis : {0, 1, -1})
    for (bool reverse : {false, true})
      check_gradient("cumsum axis " + std::to_string(axis) + (reverse ? " reversed" : ""),
                     [=](const Inputs& in) { return tyche::cumsum(in[0], axis, reverse); },
                     {{Shape{3, 2, 4}, kReal}});
}

TEST_CASE("vec_to_tril fills rows of the lower triangle in NumPy's tril_indices order") {
  const Tensor v{1.0, 2.0, 3.0, 4.0, 5.0, 6.0};
  CHECK(tyche::vec_to_tril(v).to_matrix() == (Eigen::MatrixXd(3, 3) << 1, 0, 0, 2, 3, 0, 4, 5, 6).finished());
  CHECK(tyche::vec_to_tril(v, -1).to_matrix() ==
        (Eigen::MatrixXd(4, 4) << 0, 0, 0, 0, 1, 0, 0, 0, 2, 3, 0, 0, 4, 5, 6, 0).finished());
  CHECK(tyche::vec_to_tril(Tensor::zeros({0}), -1).shape() == Shape{1, 1});
  // Batches: each row of a (2, 3) array becomes one 2 x 2 matrix.
  const Tensor batch = tyche::vec_to_tril(Tensor{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  REQUIRE(batch.shape() == Shape{2, 2, 2});
  CHECK(batch[1].to_matrix() == (Eigen::MatrixXd(2, 2) << 4, 0, 5, 6).finished());
  CHECK_THROWS_WITH(tyche::vec_to_tril(Tensor{1.0, 2.0}), Catch::Contains("has length 2, which is not a triangular number"));
  CHECK_THROWS_WITH(tyche::vec_to_tril(v, 1), Catch::Contains("diagonal must be 0 or negative"));
}

TEST_CASE("tril_to_vec, matrix_diagonal and diag_embed read and write the trailing matrices") {
  const Tensor m{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}};
  CHECK(tyche::tril_to_vec(m).to_vector() == (Eigen::VectorXd(6) << 1, 4, 5, 7, 8, 9).finished());
  CHECK(tyche::tril_to_vec(m, -1).to_vector() == Eigen::Vector3d(4, 7, 8));
  CHECK(tyche::tril_to_vec(m, -2).to_vector() == Eigen::VectorXd::Constant(1, 7.0));
  CHECK(tyche::matrix_diagonal(m).to_vector() == Eigen::Vector3d(1, 5, 9));
  CHECK(tyche::diag_embed(Tensor{1.0, 2.0}).to_matrix() == (Eigen::MatrixXd(2, 2) << 1, 0, 0, 2).finished());
  const Tensor stack = tyche::stack({m, 2.0 * m});
  CHECK(tyche::matrix_diagonal(stack).shape() == Shape{2, 3});
  CHECK(tyche::matrix_diagonal(stack)[1].to_vector() == Eigen::Vector3d(2, 10, 18));
  CHECK(tyche::diag_embed(Tensor{{1.0, 2.0}, {3.0, 4.0}}).shape() == Shape{2, 2, 2});
  CHECK_THROWS_WITH(tyche::tril_to_vec(Tensor{{1.0, 2.0}}), Catch::Contains("needs square matrices"));
  CHECK_THROWS_WITH(tyche::matrix_diagonal(Tensor{1.0}), Catch::Contains("got shape (1,)"));
  CHECK_THROWS_AS(tyche::diag_embed(Tensor(1.0)), tyche::ShapeError);
}

TEST_CASE("gradients of the triangular packing operations match finite differences") {
  check_gradient("vec_to_tril", [](const Inputs& in) { return tyche::vec_to_tril(in[0]); }, {{Shape{2, 6}, kReal}});
  check_gradient("vec_to_tril strict", [](const Inputs& in) { return tyche::vec_to_tril(in[0], -1); },
                 {{Shape{3}, kReal}});
  check_gradient("tril_to_vec", [](const Inputs& in) { return tyche::tril_to_vec(in[0], -1); },
                 {{Shape{2, 3, 3}, kReal}});
  check_gradient("matrix_diagonal", [](const Inputs& in) { return tyche::matrix_diagonal(in[0]); },
                 {{Shape{2, 3, 3}, kReal}});
  check_gradient("diag_embed", [](const Inputs& in) { return tyche::diag_embed(in[0]); }, {{Shape{2, 3}, kReal}});
  // Placing, then reading back through arithmetic on the whole matrix.
  check_gradient("vec_to_tril then exp", [](const Inputs& in) { return tyche::exp(tyche::vec_to_tril(in[0])); },
                 {{Shape{3}, kReal}});
}

// ---- elementwise transforms -------------------------------------------------

TEST_CASE("elementwise transforms give the values, inverses and log-derivatives of their formulas") {
  const Tensor x{-3.0, -0.4, 0.0, 1.7, 5.0};
  struct Case {
    tr::TransformPtr t;
    std::function<double(double)> f, log_derivative;
  };
  const std::vector<Case> cases = {
      {std::make_shared<tr::ExpTransform>(), [](double v) { return std::exp(v); }, [](double v) { return v; }},
      {std::make_shared<tr::SigmoidTransform>(), [](double v) { return 1.0 / (1.0 + std::exp(-v)); },
       [](double v) { return std::log(std::exp(-v) / std::pow(1.0 + std::exp(-v), 2)); }},
      {std::make_shared<tr::SoftplusTransform>(), [](double v) { return std::log1p(std::exp(v)); },
       [](double v) { return std::log(1.0 / (1.0 + std::exp(-v))); }},
      {std::make_shared<tr::AffineTransform>(1.5, -2.0), [](double v) { return 1.5 - 2.0 * v; },
       [](double) { return std::log(2.0); }},
      {std::make_shared<tr::IdentityTransform>(), [](double v) { return v; }, [](double) { return 0.0; }},
  };
  for (const Case& k : cases) {
    INFO(k.t->name());
    const Tensor y = k.t->forward(x);
    const Tensor ld = k.t->log_abs_det_jacobian(x, y);
    REQUIRE(ld.shape() == x.shape());
    for (std::int64_t i = 0; i < x.size(); ++i) {
      CHECK(y.at({i}) == Approx(k.f(x.at({i}))).epsilon(1e-14));
      CHECK(ld.at({i}) == Approx(k.log_derivative(x.at({i}))).epsilon(1e-12).margin(1e-14));
    }
    CHECK(max_abs_difference(k.t->inverse(y), x) < 1e-12);
  }
}

TEST_CASE("SigmoidTransform stays strictly inside (0, 1), as NumPyro clips to tiny..1 - eps") {
  tr::SigmoidTransform t;
  const Tensor x{-800.0, -30.0, 30.0, 800.0};
  const Tensor y = t.forward(x);
  CHECK(y.at({0}) == std::numeric_limits<double>::min());
  CHECK(y.at({1}) == Approx(std::exp(-30.0)).epsilon(1e-12));
  CHECK(y.at({2}) < 1.0);
  CHECK(y.at({3}) == 1.0 - std::numeric_limits<double>::epsilon());
  const Tensor ld = t.log_abs_det_jacobian(x, y);
  // log sigmoid'(x) = -|x| - 2 log1p(exp(-|x|)).
  CHECK(ld.at({0}) == Approx(-800.0).epsilon(1e-14));
  CHECK(ld.at({1}) == Approx(-30.0 - 2 * std::log1p(std::exp(-30.0))).epsilon(1e-14));
  CHECK(std::isfinite(t.inverse(y).at({3})));
}

TEST_CASE("SoftplusTransform inverts accurately for large and small outputs") {
  tr::SoftplusTransform t;
  for (double v : {-20.0, -1.0, 0.5, 50.0}) {
    INFO(v);
    CHECK(t.inverse(t.forward(Tensor(v))).item() == Approx(v).epsilon(1e-12));
  }
}

TEST_CASE("AffineTransform broadcasts loc and scale and sums its log-determinant over event axes") {
  const tr::AffineTransform t(Tensor{1.0, 2.0, 3.0}, Tensor{{2.0}, {-4.0}});
  CHECK(t.forward_shape(Shape{}) == Shape{2, 3});
  CHECK(t.inverse_shape(Shape{5, 1, 1}) == Shape{5, 2, 3});
  const Tensor x = Tensor::full({3}, 0.5);
  const Tensor y = t.forward(x);
  CHECK(y.to_matrix() == (Eigen::MatrixXd(2, 3) << 2, 3, 4, -1, 0, 1).finished());
  const Tensor ld = t.log_abs_det_jacobian(x, y);
  REQUIRE(ld.shape() == Shape{2, 3});
  CHECK(ld.at({1, 2}) == Approx(std::log(4.0)));
  const tr::AffineTransform vector(0.0, Tensor{2.0, 3.0}, 1);
  CHECK(vector.domain().event_dim() == 1);
  CHECK(vector.log_abs_det_jacobian(Tensor::zeros({4, 2}), Tensor::zeros({4, 2})).shape() == Shape{4});
  CHECK(vector.log_abs_det_jacobian(Tensor{0.0, 0.0}, Tensor{0.0, 0.0}).item() == Approx(std::log(6.0)));
}

TEST_CASE("AffineTransform maps half-lines and intervals onto sets of the same kind") {
  CHECK(tr::AffineTransform(2.0, 1.0, c::positive).codomain().str() == "GreaterThan(lower_bound=2)");
  CHECK(tr::AffineTransform(2.0, -1.0, c::positive).codomain().str() == "LessThan(upper_bound=2)");
  CHECK(tr::AffineTransform(1.0, 3.0, c::unit_interval).codomain().str() ==
        "Interval(lower_bound=1, upper_bound=4)");
  CHECK(tr::AffineTransform(1.0, -3.0, c::unit_interval).codomain().str() ==
        "Interval(lower_bound=-2, upper_bound=1)");
  CHECK(tr::AffineTransform(1.0, 2.0, c::greater_than(3.0)).codomain().str() == "GreaterThan(lower_bound=7)");
  CHECK(tr::AffineTransform(1.0, -2.0, c::less_than(3.0)).codomain().str() == "GreaterThan(lower_bound=-5)");
  CHECK(tr::AffineTransform(0.0, 1.0, 2).codomain().str() == "Independent(Real(), 2)");
}

TEST_CASE("AffineTransform rejects a zero scale, a scale of both signs on a bounded domain, and other domains") {
  CHECK_THROWS_WITH(tr::AffineTransform(0.0, 0.0), "tyche: AffineTransform: scale must be finite and nonzero, got 0");
  CHECK_THROWS_WITH(tr::AffineTransform(0.0, Tensor{1.0, std::numeric_limits<double>::quiet_NaN()}),
                    Catch::Contains("got nan (element 1 of an array of shape (2,))"));
  CHECK_THROWS_WITH(tr::AffineTransform(0.0, Tensor{1.0, -1.0}, c::positive),
                    Catch::Contains("scale must have one sign to map Positive()"));
  CHECK_NOTHROW(tr::AffineTransform(0.0, Tensor{1.0, -1.0}));
  CHECK_THROWS_WITH(tr::AffineTransform(0.0, 1.0, c::simplex), Catch::Contains("got Simplex()"));
  CHECK_THROWS_WITH(tr::AffineTransform(0.0, 1.0, -1), Catch::Contains("event_dim must be nonnegative, got -1"));
}

// ---- vector and matrix transforms -------------------------------------------

TEST_CASE("StickBreakingTransform maps 0 to the uniform simplex and follows the stick-breaking formula") {
  tr::StickBreakingTransform t;
  const Tensor uniform = t.forward(Tensor::zeros({4}));
  for (std::int64_t i = 0; i < 5; ++i) CHECK(uniform.at({i}) == Approx(0.2).epsilon(1e-14));

  const Tensor x{0.3, -1.2, 2.0};
  const Tensor y = t.forward(x);
  double rest = 1.0;
  for (std::int64_t i = 0; i < 3; ++i) {
    const double z = 1.0 / (1.0 + std::exp(-(x.at({i}) - std::log(3.0 - double(i)))));
    CHECK(y.at({i}) == Approx(z * rest).epsilon(1e-13));
    rest *= 1.0 - z;
  }
  CHECK(y.at({3}) == Approx(rest).epsilon(1e-13));
}

TEST_CASE("OrderedTransform cumulates exponentials of the increments (NumPyro's example)") {
  const Tensor y = tr::OrderedTransform().forward(Tensor::ones({3}));
  CHECK(y.at({0}) == 1.0);
  CHECK(y.at({1}) == Approx(1.0 + std::exp(1.0)).epsilon(1e-15));
  CHECK(y.at({2}) == Approx(1.0 + 2.0 * std::exp(1.0)).epsilon(1e-15));
}

TEST_CASE("LowerCholeskyTransform fills the strict lower triangle first, then the log diagonal") {
  const Tensor y = tr::LowerCholeskyTransform().forward(Tensor{1.0, 2.0, 3.0, 0.0, -1.0, 0.5});
  const Eigen::MatrixXd expected =
      (Eigen::MatrixXd(3, 3) << 1, 0, 0, 1, std::exp(-1.0), 0, 2, 3, std::exp(0.5)).finished();
  CHECK(y.to_matrix().isApprox(expected, 1e-15));
}

TEST_CASE("CorrCholeskyTransform gives the Cholesky factor of a correlation matrix by signed stick-breaking") {
  tr::CorrCholeskyTransform t;
  const Tensor two = t.forward(Tensor{0.7});
  const double r = std::tanh(0.7);
  CHECK(two.to_matrix().isApprox((Eigen::MatrixXd(2, 2) << 1, 0, r, std::sqrt(1 - r * r)).finished(), 1e-15));

  const Tensor x{0.3, -1.1, 0.4, 2.0, -0.2, 0.9};
  const Eigen::MatrixXd l = t.forward(x).to_matrix();
  // Row i: y_ij = tanh(x) times the length left, sqrt(1 - sum of earlier squares).
  Eigen::MatrixXd expected = Eigen::MatrixXd::Zero(4, 4);
  std::int64_t k = 0;
  for (int i = 0; i < 4; ++i) {
    double left = 1.0;
    for (int j = 0; j < i; ++j) {
      expected(i, j) = std::tanh(x.at({k++})) * std::sqrt(left);
      left -= expected(i, j) * expected(i, j);
    }
    expected(i, i) = std::sqrt(left);
  }
  CHECK(l.isApprox(expected, 1e-14));
  CHECK((l * l.transpose()).diagonal().isApprox(Eigen::Vector4d::Ones(), 1e-14));
  CHECK(t.forward(Tensor::zeros({0})).to_matrix() == Eigen::MatrixXd::Ones(1, 1));
}

TEST_CASE("Inverse CholeskyTransform multiplies a factor by its transpose, batched") {
  const auto t = tr::inv(std::make_shared<tr::CholeskyTransform>());
  CHECK(t->name() == "InverseTransform");
  CHECK(t->domain().str() == "LowerCholesky()");
  CHECK(t->codomain().str() == "PositiveDefinite()");
  const Tensor l = tr::LowerCholeskyTransform().forward(random_normal({2, 3, 6}, 7));
  const Tensor sigma = t->forward(l);
  REQUIRE(sigma.shape() == Shape{2, 3, 3, 3});
  const Eigen::MatrixXd l12 = l[1][2].to_matrix();
  CHECK(sigma[1][2].to_matrix().isApprox(l12 * l12.transpose(), 1e-14));
  CHECK(max_abs_difference(t->inverse(sigma), l) < 1e-12);
  CHECK(t->log_abs_det_jacobian(l, sigma).shape() == Shape{2, 3});
}

TEST_CASE("every transform inverts its forward map to 1e-10 at random batched points") {
  int seed = 100;
  for (const VectorCase& k : vector_cases()) {
    INFO(k.label);
    const Tensor x = random_normal({2, 3, k.dim}, unsigned(seed++), 1.5);
    const Tensor y = k.transform->forward(x);
    CHECK(y.shape() == k.transform->forward_shape(x.shape()));
    CHECK(k.transform->inverse_shape(y.shape()) == x.shape());
    CHECK(max_abs_difference(k.transform->inverse(y), x) < 1e-10);
  }
}

TEST_CASE("log_abs_det_jacobian is log |det| of the finite-difference Jacobian onto the free coordinates") {
  // Entries of the Jacobian are accurate to ~1e-10 relative, so log |det| of
  // these well-conditioned 3 to 6 dimensional Jacobians is good to ~1e-8; a
  // wrong term (a missed factor, a shifted index) is off by O(0.1) or more.
  int seed = 200;
  for (const VectorCase& k : vector_cases()) {
    for (int repeat = 0; repeat < 3; ++repeat) {
      INFO(k.label << ", point " << repeat);
      const Tensor x = random_normal({k.dim}, unsigned(seed++), 1.0);
      const Tensor ld = k.transform->log_abs_det_jacobian(x, k.transform->forward(x));
      REQUIRE(ld.shape() == Shape{});
      const auto f = [&](const Eigen::VectorXd& v) { return k.free(k.transform->forward(Tensor(v))); };
      CHECK(ld.item() == Approx(log_abs_det(jacobian(f, x.to_vector()))).margin(1e-6));
    }
  }
}

TEST_CASE("CholeskyTransform's log-determinant is with respect to the lower triangle of a symmetric input") {
  tr::CholeskyTransform t;
  const Eigen::MatrixXd a = (Eigen::MatrixXd(3, 3) << 4, 1, 0.5, 1, 3, -0.2, 0.5, -0.2, 2).finished();
  const auto symmetric = [](const Eigen::VectorXd& v) {
    Eigen::MatrixXd m(3, 3);
    m << v[0], v[1], v[3], v[1], v[2], v[4], v[3], v[4], v[5];
    return m;
  };
  const auto f = [&](const Eigen::VectorXd& v) { return lower_entries(t.forward(Tensor(symmetric(v))).to_matrix()); };
  const Tensor x(a);
  CHECK(t.log_abs_det_jacobian(x, t.forward(x)).item() == Approx(log_abs_det(jacobian(f, lower_entries(a)))).margin(1e-6));
}

TEST_CASE("gradients through forward, inverse and log-determinant match finite differences") {
  for (const VectorCase& k : vector_cases()) {
    const tr::TransformPtr t = k.transform;
    const Shape shape{2, k.dim};
    check_gradient(k.label + " forward", [=](const Inputs& in) { return t->forward(in[0]); }, {{shape, kReal}});
    check_gradient(k.label + " inverse of forward", [=](const Inputs& in) { return t->inverse(t->forward(in[0])); },
                   {{shape, kReal}});
    check_gradient(k.label + " log-determinant",
                   [=](const Inputs& in) { return t->log_abs_det_jacobian(in[0], t->forward(in[0])); },
                   {{shape, kReal}});
  }
  check_gradient("Affine in loc and scale",
                 [](const Inputs& in) {
                   const tr::AffineTransform t(in[1], in[2]);
                   return t.forward(in[0]) + t.log_abs_det_jacobian(in[0], t.forward(in[0]));
                 },
                 {{Shape{3}, kReal}, {Shape{3}, kReal}, {Shape{3}, tyche_test::kNonzero}});
  check_gradient("Cholesky forward",
                 [](const Inputs& in) {
                   const Tensor a = tyche::matmul(in[0], tyche::transpose(in[0])) + 3.0 * tyche_test::eye(3);
                   tr::CholeskyTransform t;
                   return t.forward(a) + t.log_abs_det_jacobian(a, t.forward(a));
                 },
                 {{Shape{3, 3}, kReal}});
}

// ---- composition, independence, shapes ---------------------------------------

TEST_CASE("ComposeTransform applies its parts in order and inverts them in reverse") {
  const auto exp = std::make_shared<tr::ExpTransform>();
  const auto affine = std::make_shared<tr::AffineTransform>(2.0, -3.0);
  const tr::ComposeTransform t({exp, affine});
  const Tensor x{-1.0, 0.5};
  const Tensor y = t.forward(x);
  CHECK(y.at({1}) == Approx(2.0 - 3.0 * std::exp(0.5)));
  CHECK(max_abs_difference(t.inverse(y), x) < 1e-14);
  const Tensor ld = t.log_abs_det_jacobian(x, y);
  REQUIRE(ld.shape() == Shape{2});
  CHECK(ld.at({0}) == Approx(-1.0 + std::log(3.0)));
}

TEST_CASE("ComposeTransform tracks event dimensions through parts of different event ranks") {
  const tr::ComposeTransform t({std::make_shared<tr::ExpTransform>(), std::make_shared<tr::StickBreakingTransform>()});
  CHECK(t.domain().str() == "RealVector()");
  CHECK(t.domain().event_dim() == 1);
  CHECK(t.codomain().str() == "Simplex()");
  const Tensor x = random_normal({5, 3}, 11);
  const Tensor y = t.forward(x);
  CHECK(t.forward_shape(x.shape()) == Shape{5, 4});
  CHECK(t.inverse_shape(y.shape()) == Shape{5, 3});
  const Tensor ld = t.log_abs_det_jacobian(x, y);
  REQUIRE(ld.shape() == Shape{5});
  // exp's elementwise terms are summed over the vector, then stick-breaking's added.
  tr::StickBreakingTransform sb;
  const Tensor e = tyche::exp(x[4]);
  CHECK(ld.at({4}) == Approx(tyche::sum(x[4]).item() + sb.log_abs_det_jacobian(e, sb.forward(e)).item()));

  // positive_definite: vector -> matrix -> matrix keeps event rank 2 at the output.
  const auto pd = tyche::biject_to(c::positive_definite);
  CHECK(pd->domain().event_dim() == 1);
  CHECK(pd->codomain().event_dim() == 2);
  CHECK(pd->forward_shape(Shape{7, 10}) == Shape{7, 4, 4});
  CHECK(pd->inverse_shape(Shape{7, 4, 4}) == Shape{7, 10});
}

TEST_CASE("IndependentTransform sums the log-determinant over the reinterpreted axes") {
  const tr::IndependentTransform t(std::make_shared<tr::ExpTransform>(), 2);
  CHECK(t.domain().str() == "Independent(Real(), 2)");
  CHECK(t.codomain().str() == "Independent(Positive(), 2)");
  const Tensor x = random_normal({4, 2, 3}, 5);
  const Tensor ld = t.log_abs_det_jacobian(x, t.forward(x));
  REQUIRE(ld.shape() == Shape{4});
  CHECK(ld.at({3}) == Approx(tyche::sum(x[3]).item()));
  CHECK_THROWS_WITH(t.log_abs_det_jacobian(Tensor{1.0}, Tensor{1.0}),
                    "tyche: IndependentTransform: expects values with at least 2 axes but got shape (1,)");
}

TEST_CASE("batched inputs give batched outputs and log-determinants of the batch shape") {
  const Tensor x = random_normal({2, 3, 6}, 3);
  for (const tr::TransformPtr& t :
       {tr::TransformPtr(std::make_shared<tr::LowerCholeskyTransform>()), tr::TransformPtr(std::make_shared<tr::CorrCholeskyTransform>()),
        tr::TransformPtr(std::make_shared<tr::StickBreakingTransform>()), tr::TransformPtr(std::make_shared<tr::OrderedTransform>()),
        tyche::biject_to(c::positive_definite)}) {
    INFO(t->name());
    const Tensor y = t->forward(x);
    CHECK(y.shape() == t->forward_shape(x.shape()));
    const Tensor ld = t->log_abs_det_jacobian(x, y);
    REQUIRE(ld.shape() == Shape{2, 3});
    // Each batch element is transformed on its own.
    CHECK(max_abs_difference(t->forward(x[1][2]), y[1][2]) < 1e-14);
    CHECK(ld.at({1, 2}) == Approx(t->log_abs_det_jacobian(x[1][2], t->forward(x[1][2])).item()).epsilon(1e-14));
  }
}

TEST_CASE("shape errors name the transform and the offending shape") {
  CHECK_THROWS_WITH(tr::StickBreakingTransform().forward(Tensor(1.0)),
                    "tyche: StickBreakingTransform: expects vectors in the last axis but got shape ()");
  CHECK_THROWS_WITH(tr::StickBreakingTransform().inverse_shape(Shape{2, 0}),
                    Catch::Contains("a simplex needs at least one entry but got shape (2, 0)"));
  CHECK_THROWS_WITH(tr::LowerCholeskyTransform().forward(Tensor{1.0, 2.0, 3.0, 4.0}),
                    "tyche: LowerCholeskyTransform: the last axis of shape (4,) has length 4, which is not "
                    "n (n + 1) / 2 for any n");
  CHECK_THROWS_WITH(tr::CorrCholeskyTransform().forward_shape(Shape{2}), Catch::Contains("not n (n - 1) / 2"));
  CHECK_THROWS_WITH(tr::CorrCholeskyTransform().inverse(Tensor{{1.0, 0.0}}),
                    "tyche: CorrCholeskyTransform: expects square matrices in the last two axes but got shape (1, 2)");
  CHECK_THROWS_WITH(tr::CholeskyTransform().forward(Tensor{1.0, 2.0}), Catch::Contains("CholeskyTransform: expects square"));
  CHECK_THROWS_AS(tr::AffineTransform(Tensor{1.0, 2.0}, 1.0).forward(Tensor{1.0, 2.0, 3.0}), tyche::ShapeError);
}

TEST_CASE("wrappers reject null transforms and negative axis counts") {
  CHECK_THROWS_WITH(tr::ComposeTransform({}), Catch::Contains("ComposeTransform: needs at least one transform"));
  CHECK_THROWS_WITH(tr::ComposeTransform({std::make_shared<tr::ExpTransform>(), nullptr}),
                    Catch::Contains("transform 1 is null"));
  CHECK_THROWS_WITH(tr::IndependentTransform(std::make_shared<tr::ExpTransform>(), -1),
                    Catch::Contains("reinterpreted_batch_ndims must be nonnegative, got -1"));
  CHECK_THROWS_WITH(tr::InverseTransform(nullptr), Catch::Contains("InverseTransform: the transform to invert is null"));
}

// ---- biject_to -----------------------------------------------------------------

namespace {

struct Target {
  c::Constraint constraint;
  Shape x_shape;  // one unconstrained element
};

std::vector<Target> continuous_targets() {
  return {
      {c::real, {}},
      {c::real_vector, {3}},
      {c::positive, {}},
      {c::nonnegative, {}},
      {c::greater_than(-2.5), {}},
      {c::greater_than(Tensor{1.0, 3.0}), {2}},
      {c::less_than(3.0), {}},
      {c::unit_interval, {}},
      {c::interval(-1.0, 4.0), {}},
      {c::interval(Tensor{0.0, -5.0}, Tensor{0.5, 5.0}), {2}},
      {c::simplex, {4}},
      {c::ordered_vector, {5}},
      {c::lower_cholesky, {6}},
      {c::corr_cholesky, {6}},
      {c::positive_definite, {6}},
      {c::independent(c::positive, 1), {3}},
      {c::independent(c::simplex, 1), {2, 3}},
  };
}

Shape with_batch(const Shape& batch, const Shape& event) {
  Shape s = batch;
  for (std::int64_t d : event) s.push_back(d);
  return s;
}

}  // namespace

TEST_CASE("biject_to picks NumPyro's transform for each constraint and reports the constraint as codomain") {
  CHECK(tyche::biject_to(c::real)->name() == "IdentityTransform");
  CHECK(tyche::biject_to(c::positive)->name() == "ExpTransform");
  CHECK(tyche::biject_to(c::nonnegative)->name() == "ExpTransform");
  CHECK(tyche::biject_to(c::unit_interval)->name() == "SigmoidTransform");
  CHECK(tyche::biject_to(c::interval(0.0, 1.0))->name() == "ComposeTransform");
  CHECK(tyche::biject_to(c::simplex)->name() == "StickBreakingTransform");
  CHECK(tyche::biject_to(c::ordered_vector)->name() == "OrderedTransform");
  CHECK(tyche::biject_to(c::lower_cholesky)->name() == "LowerCholeskyTransform");
  CHECK(tyche::biject_to(c::corr_cholesky)->name() == "CorrCholeskyTransform");
  CHECK(tyche::biject_to(c::real_vector)->name() == "IndependentTransform");
  for (const Target& target : continuous_targets()) {
    if (target.constraint.kind() == c::Kind::nonnegative) continue;  // exp reaches the positive part only
    CHECK(tyche::biject_to(target.constraint)->codomain().str() == target.constraint.str());
    CHECK(tyche::biject_to(target.constraint)->codomain().event_dim() == target.constraint.event_dim());
  }
  const auto greater = tyche::biject_to(c::greater_than(1.5));
  CHECK(greater->forward(Tensor(0.0)).item() == Approx(2.5));
  const auto less = tyche::biject_to(c::less_than(1.5));
  CHECK(less->forward(Tensor(0.0)).item() == Approx(0.5));
  const auto interval = tyche::biject_to(c::interval(-1.0, 3.0));
  CHECK(interval->forward(Tensor(0.0)).item() == Approx(1.0));
  CHECK(interval->log_abs_det_jacobian(Tensor(0.0), Tensor(1.0)).item() == Approx(std::log(0.25 * 4.0)));
}

TEST_CASE("biject_to lands inside the support at random points, with log-determinants of the batch shape") {
  unsigned seed = 300;
  for (const Target& target : continuous_targets()) {
    INFO(target.constraint.str());
    const auto t = tyche::biject_to(target.constraint);
    const Tensor x = random_normal(with_batch({4, 2}, target.x_shape), seed++, 3.0);
    const Tensor y = t->forward(x);
    const Tensor ok = target.constraint.check(y);
    const int event_dim = target.constraint.event_dim();
    REQUIRE(ok.shape() == Shape(y.shape().begin(), y.shape().end() - event_dim));
    CHECK(ok.to_vector().minCoeff() == 1.0);
    const Tensor ld = t->log_abs_det_jacobian(x, y);
    CHECK(ld.shape() == Shape(x.shape().begin(), x.shape().end() - t->domain().event_dim()));
    CHECK(ld.to_vector().allFinite());
  }
}

TEST_CASE("biject_to lands inside the support for inputs of +-30, with finite log-determinants") {
  for (const Target& target : continuous_targets()) {
    const auto t = tyche::biject_to(target.constraint);
    for (double v : {-30.0, 30.0}) {
      INFO(target.constraint.str() << " at " << v);
      const Tensor x = Tensor::full(with_batch({3}, target.x_shape), v);
      const Tensor y = t->forward(x);
      const Tensor ld = t->log_abs_det_jacobian(x, y);
      CHECK(ld.to_vector().allFinite());
      CHECK(y.to_vector().allFinite());
      // L L^T with L = exp(-30) on the diagonal and -30 below it has a
      // condition number near 1e80: positive definite in exact arithmetic, but
      // no floating-point factorisation can confirm it. Its factor is checked.
      if (target.constraint.kind() == c::Kind::positive_definite && v < 0) {
        CHECK(c::lower_cholesky.check(tr::LowerCholeskyTransform().forward(x)).to_vector().minCoeff() == 1.0);
        continue;
      }
      CHECK(target.constraint.check(y).to_vector().minCoeff() == 1.0);
    }
  }
}

// Not ordered vectors (an increment exp(-30) after exp(30) is below the
// spacing of doubles there) nor positive-definite matrices (the same
// conditioning as above): those limits belong to the parametrisations.
TEST_CASE("biject_to keeps alternating +-30 inputs inside simplexes and correlation factors") {
  const Tensor x{30.0, -30.0, 30.0, -30.0, 30.0, -30.0};
  CHECK(c::corr_cholesky.check(tyche::biject_to(c::corr_cholesky)->forward(x)).item() == 1.0);
  CHECK(c::corr_cholesky.check(tyche::biject_to(c::corr_cholesky)->forward(-x)).item() == 1.0);
  CHECK(c::simplex.check(tyche::biject_to(c::simplex)->forward(x)).item() == 1.0);
  CHECK(c::simplex.check(tyche::biject_to(c::simplex)->forward(-x)).item() == 1.0);
}

TEST_CASE("biject_to rejects discrete constraints and empty intervals, naming them") {
  CHECK_THROWS_WITH(tyche::biject_to(c::boolean),
                    "tyche: biject_to: Boolean() is a discrete constraint; no bijection from real space reaches it");
  CHECK_THROWS_WITH(tyche::biject_to(c::nonnegative_integer), Catch::Contains("NonnegativeInteger()"));
  CHECK_THROWS_WITH(tyche::biject_to(c::integer_interval(0.0, 3.0)),
                    Catch::Contains("IntegerInterval(lower_bound=0, upper_bound=3) is a discrete constraint"));
  CHECK_THROWS_WITH(tyche::biject_to(c::independent(c::boolean, 1)), Catch::Contains("Independent(Boolean(), 1)"));
  CHECK_THROWS_AS(tyche::biject_to(c::boolean), std::invalid_argument);
  CHECK_THROWS_WITH(tyche::biject_to(c::interval(2.0, 1.0)),
                    "tyche: biject_to: Interval(lower_bound=2, upper_bound=1): lower_bound must be finite and less "
                    "than upper_bound");
}

TEST_CASE("biject_to's transforms record and replay inside compiled gradients") {
  // A log density in unconstrained space: base log density of y plus the
  // log-determinant, for a simplex, compiled once and replayed elsewhere.
  const auto t = tyche::biject_to(c::simplex);
  const auto f = [&](const Tensor& q) {
    const Tensor y = t->forward(q);
    return tyche::sum(tyche::log(y)) + t->log_abs_det_jacobian(q, y);
  };
  const Eigen::Vector3d q0(0.1, -0.2, 0.3), q1(1.5, 0.7, -2.0);
  auto compiled = tyche::compile_gradient(f, q0);
  Eigen::VectorXd g(3);
  const double value = compiled(q1, g);
  const tyche::ValueAndGrad expected = tyche::value_and_grad(f, q1);
  CHECK(value == Approx(expected.value).epsilon(1e-14));
  CHECK(g.isApprox(expected.grad, 1e-14));
}

// ---- TransformedDistribution across event ranks ---------------------------------

namespace {

namespace dist = tyche::dist;

// log N(x; loc, scale) in doubles.
double normal_log_density(double x, double loc, double scale) {
  const double z = (x - loc) / scale;
  return -0.5 * z * z - std::log(scale) - 0.5 * std::log(2.0 * M_PI);
}

// log Dirichlet(y; a) in doubles.
double dirichlet_log_pdf(const Eigen::VectorXd& y, const Eigen::VectorXd& a) {
  double lp = std::lgamma(a.sum());
  for (Eigen::Index i = 0; i < a.size(); ++i) lp += (a[i] - 1.0) * std::log(y[i]) - std::lgamma(a[i]);
  return lp;
}

// The first n coordinates of a transform's output: the free coordinates of a
// simplex, for a square Jacobian.
std::function<Eigen::VectorXd(const Eigen::VectorXd&)> head_of(const tr::Transform& t, Eigen::Index n) {
  return [&t, n](const Eigen::VectorXd& x) -> Eigen::VectorXd { return t.forward(Tensor(x)).to_vector().head(n); };
}

}  // namespace

TEST_CASE("TransformedDistribution through StickBreaking: a batch of simplexes, its shapes, support and draws") {
  // Normal of batch shape (2, 3) under StickBreaking (which reads vectors): as
  // NumPyro, the base's last batch axis becomes an event axis, so the result
  // has batch shape (2,) and event shape (4,).
  const Tensor loc{{0.1, -0.3, 0.5}, {1.0, 0.0, -1.0}};
  const dist::TransformedDistribution d(dist::Normal(loc, 0.7), {std::make_shared<tr::StickBreakingTransform>()});
  CHECK(d.base().batch_shape() == Shape{2});
  CHECK(d.base().event_shape() == Shape{3});
  CHECK(d.batch_shape() == Shape{2});
  CHECK(d.event_shape() == Shape{4});
  CHECK(d.support().str() == c::simplex.str());
  CHECK(d.support().event_dim() == 1);
  const Tensor draws = d.sample(tyche::PRNGKey(4), {5});
  REQUIRE(draws.shape() == (Shape{5, 2, 4}));
  const Tensor on_simplex = c::simplex.check(draws);
  REQUIRE(on_simplex.shape() == (Shape{5, 2}));
  CHECK(on_simplex.to_vector().minCoeff() == 1.0);
  CHECK(d.log_prob(draws).shape() == (Shape{5, 2}));
  CHECK(d.expand(Shape{3, 2}).sample(tyche::PRNGKey(4), {5}).shape() == (Shape{5, 3, 2, 4}));

  // log p(y) = sum_i log N(x_i; loc_i, 0.7) - log |det J(x)| at x = inverse(y),
  // J the finite-difference Jacobian of x -> y_{0..2} (accurate to ~1e-9).
  const tr::StickBreakingTransform sb;
  const Tensor lp = d.log_prob(draws);
  for (std::int64_t s = 0; s < 5; ++s)
    for (std::int64_t b = 0; b < 2; ++b) {
      const Eigen::VectorXd y = draws[s][b].to_vector();
      const Eigen::VectorXd x = sb.inverse(Tensor(y)).to_vector();
      double expected = -log_abs_det(jacobian(head_of(sb, 3), x));
      for (Eigen::Index i = 0; i < 3; ++i) expected += normal_log_density(x[i], loc.at({b, i}), 0.7);
      CHECK(lp.at({s, b}) == Approx(expected).epsilon(1e-8));
    }
}

TEST_CASE("TransformedDistribution through an elementwise transform, then StickBreaking, sums each log-determinant "
          "over the right axes") {
  // Affine (event rank 0) on a batch-(3,) Normal, then StickBreaking (rank 1):
  // the base stays batch (3,) with no event axis, the result has event shape
  // (4,) and no batch axes; the affine's log-determinant (one per element) and
  // the base's log densities are summed over the vector.
  const Tensor loc{0.2, -0.4, 0.9}, scale{1.5, 0.5, 2.0};
  const dist::TransformedDistribution d(
      dist::Normal(loc, scale),
      {std::make_shared<tr::AffineTransform>(Tensor{0.5, -1.0, 0.0}, Tensor{2.0, 0.5, -1.5}),
       std::make_shared<tr::StickBreakingTransform>()});
  CHECK(d.base().event_shape() == Shape{});
  CHECK(d.batch_shape() == Shape{});
  CHECK(d.event_shape() == Shape{4});
  CHECK(d.support().str() == c::simplex.str());
  const Tensor draws = d.sample(tyche::PRNGKey(9), {6});
  REQUIRE(draws.shape() == (Shape{6, 4}));
  const Tensor lp = d.log_prob(draws);
  REQUIRE(lp.shape() == Shape{6});
  const tr::ComposeTransform whole({d.transforms()[0], d.transforms()[1]});
  for (std::int64_t s = 0; s < 6; ++s) {
    const Eigen::VectorXd x = whole.inverse(draws[s]).to_vector();
    double expected = -log_abs_det(jacobian(head_of(whole, 3), x));
    for (Eigen::Index i = 0; i < 3; ++i) expected += normal_log_density(x[i], loc.at({i}), scale.at({i}));
    CHECK(lp.at({s}) == Approx(expected).epsilon(1e-8));
  }
}

TEST_CASE("TransformedDistribution from a simplex to real space: a Dirichlet through inverse StickBreaking") {
  // y = StickBreaking(x) ~ Dirichlet(a) gives x the density
  // Dirichlet(y; a) |det dy_{0..2}/dx|: rank 1 to rank 1, but one element shorter.
  const Tensor a{{0.5, 1.0, 2.0, 3.0}, {4.0, 1.5, 0.8, 1.0}};
  const dist::TransformedDistribution d(dist::Dirichlet(a), {tr::inv(std::make_shared<tr::StickBreakingTransform>())});
  CHECK(d.batch_shape() == Shape{2});
  CHECK(d.event_shape() == Shape{3});
  CHECK(d.support().str() == c::real_vector.str());
  const Tensor draws = d.sample(tyche::PRNGKey(2), {4});
  REQUIRE(draws.shape() == (Shape{4, 2, 3}));
  const Tensor lp = d.log_prob(draws);
  REQUIRE(lp.shape() == (Shape{4, 2}));
  const tr::StickBreakingTransform sb;
  for (std::int64_t s = 0; s < 4; ++s)
    for (std::int64_t b = 0; b < 2; ++b) {
      const Eigen::VectorXd x = draws[s][b].to_vector();
      const Eigen::VectorXd y = sb.forward(Tensor(x)).to_vector();
      const double expected = dirichlet_log_pdf(y, a[b].to_vector()) + log_abs_det(jacobian(head_of(sb, 3), x));
      CHECK(lp.at({s, b}) == Approx(expected).epsilon(1e-8));
    }
}

TEST_CASE("TransformedDistribution rejects transforms that need more event axes than the base draws have") {
  CHECK_THROWS_AS(dist::TransformedDistribution(dist::Normal(0.0, 1.0), {std::make_shared<tr::StickBreakingTransform>()}),
                  tyche::ShapeError);
  CHECK_THROWS_WITH(dist::TransformedDistribution(dist::Normal(0.0, 1.0), {std::make_shared<tr::StickBreakingTransform>()}),
                    "tyche: TransformedDistribution: StickBreakingTransform reads 1 event axes but the base draws have "
                    "shape ()");
}
