// The multivariate and degenerate distributions: MultivariateNormal against a
// closed form written with Eigen, Dirichlet against lgamma sums, LKJCholesky's
// normalisation (numerically for dimension 2, against an independently derived
// constant for dimension 3) and its draws, gradients against finite
// differences, and Delta and Unit.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include <tyche/distributions/delta.hpp>
#include <tyche/distributions/multivariate.hpp>
#include <tyche/tyche.hpp>

#include <boost/math/quadrature/tanh_sinh.hpp>

#include <Eigen/Cholesky>
#include <Eigen/LU>
#include <cmath>
#include <limits>
#include <numbers>

#include "gradient_check.hpp"

namespace dist = tyche::dist;
using tyche::Shape;
using tyche::Tensor;
using tyche_test::check_gradient;
using tyche_test::Inputs;

namespace {

using tyche_test::kInf;

Eigen::MatrixXd covariance3() {
  Eigen::MatrixXd s(3, 3);
  s << 2.0, 0.6, -0.4,  //
      0.6, 1.5, 0.3,    //
      -0.4, 0.3, 0.8;
  return s;
}

// log N(x | mu, S) = -1/2 (x - mu)^T S^-1 (x - mu) - 1/2 log det(2 pi S).
double mvn_log_density(const Eigen::VectorXd& x, const Eigen::VectorXd& mu, const Eigen::MatrixXd& s) {
  const Eigen::VectorXd d = x - mu;
  return -0.5 * d.dot(Eigen::LLT<Eigen::MatrixXd>(s).solve(d)) -
         0.5 * std::log((2.0 * std::numbers::pi * s).determinant());
}

Eigen::VectorXd row(const Tensor& t, std::int64_t i) { return t[i].to_vector(); }

// 0/1 mask of the lower triangle (diagonal included).
Tensor lower_mask(std::int64_t n) {
  return Tensor(Eigen::MatrixXd(Eigen::MatrixXd::Ones(n, n).triangularView<Eigen::Lower>()));
}

// The Cholesky factor of a 2 x 2 correlation matrix with correlation r.
Tensor corr_cholesky2(const Tensor& r) {
  return tyche::stack({Tensor(1.0), Tensor(0.0), r, tyche::sqrt(1.0 - tyche::square(r))}).reshape({2, 2});
}

// The 3 x 3 one with strictly lower entries (a, b, c).
Tensor corr_cholesky3(const Tensor& a, const Tensor& b, const Tensor& c) {
  const Tensor one(1.0), zero(0.0);
  return tyche::stack({one, zero, zero, a, tyche::sqrt(1.0 - tyche::square(a)), zero, b, c,
                       tyche::sqrt(1.0 - tyche::square(b) - tyche::square(c))})
      .reshape({3, 3});
}

}  // namespace

TEST_CASE("MultivariateNormal log_prob matches the closed form for all three parameterisations") {
  const Eigen::MatrixXd s = covariance3();
  const Eigen::VectorXd mu = Eigen::Vector3d(0.5, -1.0, 2.0);
  const Tensor loc(mu);
  const dist::MultivariateNormal by_covariance(loc, {.covariance_matrix = Tensor(s)});
  const dist::MultivariateNormal by_precision(loc, {.precision_matrix = Tensor(Eigen::MatrixXd(s.inverse()))});
  const dist::MultivariateNormal by_scale_tril(loc, {.scale_tril = Tensor(Eigen::MatrixXd(s.llt().matrixL()))});
  const Tensor x{{0.0, 0.0, 0.0}, {1.0, -2.0, 3.5}, {-3.0, 4.0, 1.0}, {0.5, -1.0, 2.0}};
  for (const dist::MultivariateNormal* d : {&by_covariance, &by_precision, &by_scale_tril}) {
    REQUIRE(d->batch_shape() == Shape{});
    REQUIRE(d->event_shape() == Shape{3});
    const Tensor lp = d->log_prob(x);
    REQUIRE(lp.shape() == Shape{4});
    for (std::int64_t i = 0; i < 4; ++i) CHECK(lp.at({i}) == Approx(mvn_log_density(row(x, i), mu, s)).epsilon(1e-12));
    CHECK(d->covariance_matrix().to_matrix().isApprox(s, 1e-12));
    CHECK(d->variance().to_vector().isApprox(s.diagonal(), 1e-12));
    CHECK(d->mean().to_vector() == mu);
  }
}

TEST_CASE("MultivariateNormal batches loc and matrices, broadcasting them together") {
  const Eigen::MatrixXd s = covariance3(), s2 = 0.5 * Eigen::MatrixXd::Identity(3, 3) + 0.1 * s;
  const Tensor stack = tyche::stack({Tensor(s), Tensor(s2)});  // (2, 3, 3)
  const Tensor locs{{0.0, 1.0, 2.0}, {-1.0, 0.5, 0.0}};
  const Tensor x = Tensor{{0.3, 0.2, 0.1}, {1.0, 1.0, -1.0}, {2.0, 0.0, 0.5}}.reshape({3, 1, 3});
  SECTION("batched loc, one matrix") {
    const dist::MultivariateNormal d(locs, {.covariance_matrix = Tensor(s)});
    REQUIRE(d.batch_shape() == Shape{2});
    const Tensor lp = d.log_prob(x);
    REQUIRE(lp.shape() == Shape{3, 2});
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t b = 0; b < 2; ++b)
        CHECK(lp.at({i, b}) == Approx(mvn_log_density(x[i][0].to_vector(), row(locs, b), s)).epsilon(1e-12));
    CHECK(d.sample(tyche::PRNGKey(0), {7}).shape() == Shape{7, 2, 3});
  }
  SECTION("one loc, a stack of matrices") {
    const dist::MultivariateNormal d(Tensor{0.0, 1.0, 2.0}, {.scale_tril = tyche::stack({tyche::cholesky(Tensor(s)),
                                                                                         tyche::cholesky(Tensor(s2))})});
    REQUIRE(d.batch_shape() == Shape{2});
    const Tensor lp = d.log_prob(x);
    REQUIRE(lp.shape() == Shape{3, 2});
    for (std::int64_t i = 0; i < 3; ++i) {
      CHECK(lp.at({i, 0}) == Approx(mvn_log_density(x[i][0].to_vector(), row(locs, 0), s)).epsilon(1e-12));
      CHECK(lp.at({i, 1}) == Approx(mvn_log_density(x[i][0].to_vector(), row(locs, 0), s2)).epsilon(1e-12));
    }
    CHECK(d.variance().shape() == Shape{2, 3});
    CHECK(d.variance()[1].to_vector().isApprox(s2.diagonal(), 1e-12));
  }
  SECTION("batched loc and a stack of matrices, and a stretched matrix axis") {
    const dist::MultivariateNormal d(locs, {.precision_matrix = stack});
    const Tensor lp = d.log_prob(x);
    REQUIRE(lp.shape() == Shape{3, 2});
    for (std::int64_t i = 0; i < 3; ++i) {
      CHECK(lp.at({i, 0}) == Approx(mvn_log_density(x[i][0].to_vector(), row(locs, 0), s.inverse())).epsilon(1e-11));
      CHECK(lp.at({i, 1}) == Approx(mvn_log_density(x[i][0].to_vector(), row(locs, 1), s2.inverse())).epsilon(1e-11));
    }
    // A stack of one matrix is stretched along the batch of two locations.
    const dist::MultivariateNormal e(locs, {.covariance_matrix = Tensor(s2).reshape({1, 3, 3})});
    REQUIRE(e.batch_shape() == Shape{2});
    const Tensor lq = e.log_prob(x);
    REQUIRE(lq.shape() == Shape{3, 2});
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t b = 0; b < 2; ++b)
        CHECK(lq.at({i, b}) == Approx(mvn_log_density(x[i][0].to_vector(), row(locs, b), s2)).epsilon(1e-12));
    CHECK(e.sample(tyche::PRNGKey(1), {4}).shape() == Shape{4, 2, 3});
  }
  SECTION("a scalar loc is repeated along the event axis") {
    const dist::MultivariateNormal d(1.5, {.covariance_matrix = Tensor(s)});
    CHECK(d.event_shape() == Shape{3});
    CHECK(d.log_prob(Tensor{0.0, 1.0, 2.0}).item() ==
          Approx(mvn_log_density(Eigen::Vector3d(0.0, 1.0, 2.0), Eigen::Vector3d::Constant(1.5), s)).epsilon(1e-12));
    CHECK(d.mean().to_vector() == Eigen::Vector3d::Constant(1.5));
  }
}

TEST_CASE("MultivariateNormal of dimension 3 expanded to batch 5 samples (5, 3) with log_prob (5,)") {
  const dist::MultivariateNormal d(Tensor{0.0, 1.0, 2.0}, {.covariance_matrix = Tensor(covariance3())});
  const auto e = d.expand({5});
  const Tensor x = e.sample(tyche::PRNGKey(0));
  CHECK(x.shape() == Shape{5, 3});
  CHECK(e.log_prob(x).shape() == Shape{5});
  CHECK(e.sample(tyche::PRNGKey(0), {2}).shape() == Shape{2, 5, 3});
}

TEST_CASE("MultivariateNormal draws have mean loc and covariance covariance_matrix") {
  // 20000 draws with a fixed key. The sample mean of coordinate i has standard
  // error sqrt(S_ii / n); a sample covariance entry of normal draws has
  // standard error sqrt((S_ii S_jj + S_ij^2) / n). 5 standard errors: a
  // correct sampler fails with probability ~1e-6 per entry, and a wrong factor
  // (L^T for L, a missing loc) misses by tens of standard errors.
  const Eigen::MatrixXd s = covariance3();
  const Eigen::Vector3d mu(0.5, -1.0, 2.0);
  const dist::MultivariateNormal d(Tensor(Eigen::VectorXd(mu)), {.covariance_matrix = Tensor(s)});
  const double n = 20000;
  const Eigen::MatrixXd x = d.sample(tyche::PRNGKey(42), {20000}).to_matrix();
  const Eigen::RowVectorXd m = x.colwise().mean();
  const Eigen::MatrixXd centered = x.rowwise() - m;
  const Eigen::MatrixXd cov = centered.transpose() * centered / (n - 1.0);
  for (int i = 0; i < 3; ++i) {
    CHECK(std::abs(m[i] - mu[i]) < 5.0 * std::sqrt(s(i, i) / n));
    for (int j = 0; j < 3; ++j) {
      INFO("covariance entry " << i << ", " << j << ": " << cov(i, j) << " vs " << s(i, j));
      CHECK(std::abs(cov(i, j) - s(i, j)) < 5.0 * std::sqrt((s(i, i) * s(j, j) + s(i, j) * s(i, j)) / n));
    }
  }
}

TEST_CASE("MultivariateNormal log_prob gradients match finite differences") {
  const Tensor x{{0.3, -0.2, 1.0}, {-1.0, 0.5, 0.2}};
  const Tensor mask = lower_mask(3);
  check_gradient("MultivariateNormal by scale_tril: loc, scale_tril, value",
                 [&](const Inputs& in) {
                   return dist::MultivariateNormal(in[0], {.scale_tril = in[1] * mask}).log_prob(in[2]);
                 },
                 {{Shape{3}, tyche_test::kReal}, {Shape{3, 3}, tyche_test::kPositive}, {Shape{2, 3}, tyche_test::kReal}});
  // Covariance and precision A A^T + I, positive definite for every A.
  const auto spd = [](const Tensor& a) { return tyche::matmul(a, tyche::transpose(a)) + tyche_test::eye(3); };
  check_gradient("MultivariateNormal by covariance_matrix",
                 [&](const Inputs& in) {
                   return dist::MultivariateNormal(in[0], {.covariance_matrix = spd(in[1])}).log_prob(x);
                 },
                 {{Shape{3}, tyche_test::kReal}, {Shape{3, 3}, tyche_test::kReal}});
  check_gradient("MultivariateNormal by precision_matrix",
                 [&](const Inputs& in) {
                   return dist::MultivariateNormal(in[0], {.precision_matrix = spd(in[1])}).log_prob(x);
                 },
                 {{Shape{3}, tyche_test::kReal}, {Shape{3, 3}, tyche_test::kReal}});
  check_gradient("MultivariateNormal with batched loc and a stack of scale_tril",
                 [&](const Inputs& in) {
                   return dist::MultivariateNormal(in[0], {.scale_tril = in[1] * mask}).log_prob(x.reshape({2, 1, 3}));
                 },
                 {{Shape{2, 3}, tyche_test::kReal}, {Shape{2, 3, 3}, tyche_test::kPositive}});
}

TEST_CASE("MultivariateNormal rejects bad matrices with a message naming them") {
  using Catch::Contains;
  const Tensor loc{0.0, 0.0};
  CHECK_THROWS_WITH(dist::MultivariateNormal(loc, {.covariance_matrix = Tensor{{1.0, 2.0}, {2.0, 1.0}}}),
                    Contains("MultivariateNormal: covariance_matrix must be positive definite, got [[1, 2], [2, 1]]"));
  CHECK_THROWS_WITH(dist::MultivariateNormal(loc, {.covariance_matrix = Tensor{{1.0, 0.5}, {0.0, 1.0}}}),
                    Contains("MultivariateNormal: covariance_matrix must be positive definite"));
  CHECK_THROWS_WITH(dist::MultivariateNormal(loc, {.precision_matrix = Tensor{{-1.0, 0.0}, {0.0, 1.0}}}),
                    Contains("MultivariateNormal: precision_matrix must be positive definite"));
  CHECK_THROWS_WITH(dist::MultivariateNormal(loc, {.scale_tril = Tensor{{1.0, 0.5}, {0.0, 1.0}}}),
                    Contains("MultivariateNormal: scale_tril must be lower triangular with a positive finite diagonal"));
  CHECK_THROWS_WITH(dist::MultivariateNormal(loc, {.scale_tril = Tensor{{1.0, 0.0}, {0.3, -1.0}}}),
                    Contains("scale_tril must be lower triangular"));
  CHECK_THROWS_WITH(dist::MultivariateNormal(loc, {}), Contains("MultivariateNormal: give exactly one of"));
  const Tensor eye = tyche_test::eye(2);
  CHECK_THROWS_WITH(dist::MultivariateNormal(loc, {.covariance_matrix = eye, .scale_tril = eye}),
                    Contains("got 2"));
  CHECK_THROWS_AS(dist::MultivariateNormal(Tensor{0.0, 0.0, 0.0}, {.covariance_matrix = eye}), tyche::ShapeError);
  CHECK_THROWS_AS(dist::MultivariateNormal(loc, {.covariance_matrix = Tensor{1.0, 2.0}}), tyche::ShapeError);
  CHECK_THROWS_WITH(
      dist::MultivariateNormal(loc, {.covariance_matrix = tyche::stack({eye, Tensor{{1.0, 3.0}, {3.0, 1.0}}})}),
      Contains("(matrix 1 of a stack of shape (2, 2, 2))"));
  CHECK_THROWS_WITH(dist::MultivariateNormal(Tensor{0.0, std::nan("")}, {.covariance_matrix = eye}),
                    Contains("MultivariateNormal: loc must be finite"));
}

TEST_CASE("Dirichlet log_prob is the closed form with lgamma sums") {
  const Tensor a{{0.5, 1.0, 3.0}, {2.0, 2.0, 7.5}};
  const dist::Dirichlet d(a);
  REQUIRE(d.batch_shape() == Shape{2});
  REQUIRE(d.event_shape() == Shape{3});
  const Tensor x{{0.2, 0.3, 0.5}, {0.05, 0.9, 0.05}};
  const Tensor lp = d.log_prob(x);
  REQUIRE(lp.shape() == Shape{2});
  for (std::int64_t b = 0; b < 2; ++b) {
    double expected = 0.0, total = 0.0;
    for (std::int64_t k = 0; k < 3; ++k) {
      const double ak = a.at({b, k});
      expected += (ak - 1.0) * std::log(x.at({b, k})) - std::lgamma(ak);
      total += ak;
    }
    CHECK(lp.at({b}) == Approx(expected + std::lgamma(total)).epsilon(1e-12));
  }
  // Concentration 1 at a vertex: 0 log 0 counts as 0 (the density of the uniform Dirichlet is 2).
  CHECK(dist::Dirichlet(Tensor{1.0, 1.0, 1.0}).log_prob(Tensor{1.0, 0.0, 0.0}).item() == Approx(std::log(2.0)));
  // Outside the simplex: -inf.
  const Tensor outside = dist::Dirichlet(Tensor{2.0, 2.0}).log_prob(Tensor{{0.5, 0.6}, {-0.5, 1.5}});
  CHECK(outside.at({0}) == -kInf);
  CHECK(outside.at({1}) == -kInf);
  CHECK_THROWS_WITH(dist::Dirichlet(Tensor{1.0, 0.0}), Catch::Contains("Dirichlet: concentration must be positive"));
  CHECK_THROWS_AS(dist::Dirichlet(1.0), tyche::ShapeError);
}

TEST_CASE("multivariate parameters of too low a rank throw a ShapeError saying which axes they need") {
  CHECK_THROWS_WITH(dist::Dirichlet(1.0), Catch::Contains("Dirichlet: concentration needs at least one axis") &&
                                              Catch::Contains("shape (K,)"));
  CHECK_THROWS_WITH(dist::Dirichlet(Tensor::zeros(Shape{2, 0})),
                    Catch::Contains("at least one category on its last axis, got shape (2, 0)"));
  CHECK_THROWS_AS(dist::Dirichlet(Tensor::zeros(Shape{2, 0})), tyche::ShapeError);
  CHECK_THROWS_WITH(dist::Categorical({.logits = 0.0}), Catch::Contains("last axis of categories, got shape ()"));
  for (const Tensor& not_a_matrix : {Tensor(1.0), Tensor{1.0, 2.0}}) {
    CHECK_THROWS_WITH(dist::MultivariateNormal(0.0, {.covariance_matrix = not_a_matrix}),
                      Catch::Contains("covariance_matrix must be a non-empty square matrix"));
    CHECK_THROWS_WITH(dist::MultivariateNormal(0.0, {.scale_tril = not_a_matrix}),
                      Catch::Contains("scale_tril must be a non-empty square matrix"));
  }
  CHECK_THROWS_WITH(dist::MultivariateNormal(Tensor{0.0, 0.0, 0.0}, {.covariance_matrix = Tensor{{1.0, 0.0}, {0.0, 1.0}}}),
                    Catch::Contains("loc of shape (3,) does not match matrices of shape (2, 2)"));
  CHECK_THROWS_WITH(dist::LKJCholesky(3).log_prob(Tensor{1.0, 0.0, 0.0}),
                    Catch::Contains("LKJCholesky: log_prob of a value of shape (3,) for events of shape (3, 3)"));
  CHECK_THROWS_WITH(dist::MultivariateNormal(0.0, {.scale_tril = Tensor{{1.0, 0.0}, {0.0, 1.0}}}).log_prob(1.0),
                    Catch::Contains("log_prob of a value of shape () for events of shape (2,)"));
}

TEST_CASE("Dirichlet gradients match finite differences and draws match mean() and variance()") {
  // Values on the simplex for every evaluation: the last coordinate is 1 - the others.
  check_gradient("Dirichlet: concentration and value",
                 [](const Inputs& in) {
                   const Tensor value = tyche::concatenate({in[1], 1.0 - tyche::sum(in[1], -1, true)}, -1);
                   return dist::Dirichlet(in[0]).log_prob(value);
                 },
                 {{Shape{2, 3}, tyche_test::kPositive}, {Shape{2, 2}, {0.1, 0.4}}});
  // 20000 draws; 5 standard errors sqrt(var / n) for each mean (variance()
  // gives var), and for the variance sqrt((m4 - var^2) / n) with the sample
  // fourth central moment m4.
  const dist::Dirichlet d(Tensor{0.7, 2.0, 4.0});
  const Tensor draws = d.sample(tyche::PRNGKey(3), {20000});
  REQUIRE(draws.shape() == Shape{20000, 3});
  CHECK(tyche::constraints::simplex.contains(draws));
  const Eigen::MatrixXd x = draws.to_matrix();
  const Eigen::VectorXd mean = d.mean().to_vector(), variance = d.variance().to_vector();
  for (int k = 0; k < 3; ++k) {
    const Eigen::ArrayXd c = x.col(k).array();
    const double m = c.mean(), v = (c - m).square().mean(), m4 = (c - m).pow(4).mean();
    CHECK(std::abs(m - mean[k]) < 5.0 * std::sqrt(variance[k] / 20000.0));
    CHECK(std::abs(v - variance[k]) < 5.0 * std::sqrt((m4 - v * v) / 20000.0));
  }
  CHECK(dist::Dirichlet(Tensor{{1.0, 2.0}, {3.0, 4.0}}).sample(tyche::PRNGKey(0), {5}).shape() == Shape{5, 2, 2});
}

TEST_CASE("LKJCholesky of dimension 2 is normalised: the correlation has density (1 - r^2)^(c - 1) / B(1/2, c)") {
  for (double c : {0.5, 1.0, 2.5, 7.0}) {
    const dist::LKJCholesky d(2, c);
    const auto density = [&](double r) { return std::exp(d.log_prob(corr_cholesky2(Tensor(r))).item()); };
    // Over r = sin(t), dr = cos(t) dt, with L = ((1, 0), (sin t, cos t)): the
    // integrand is smooth up to the ends, where 1 - r^2 would round to 0.
    const auto integrand = [&](double t) {
      return std::exp(d.log_prob(Tensor{{1.0, 0.0}, {std::sin(t), std::cos(t)}}).item()) * std::cos(t);
    };
    const double total =
        boost::math::quadrature::tanh_sinh<double>().integrate(integrand, -std::numbers::pi / 2, std::numbers::pi / 2);
    INFO("concentration " << c);
    CHECK(total == Approx(1.0).epsilon(1e-8));
    const double beta = std::exp(std::lgamma(0.5) + std::lgamma(c) - std::lgamma(c + 0.5));
    CHECK(density(0.3) == Approx(std::pow(1.0 - 0.09, c - 1.0) / beta).epsilon(1e-12));
  }
}

TEST_CASE("LKJCholesky of dimension 3 has the independently derived normalising constant") {
  // Over the strictly lower entries (a, b, c) of L the density is
  // L_11^(2 eta - 1) L_22^(2 eta - 2) / Z, and Z factorises:
  // int (1 - a^2)^(eta - 1/2) da = B(1/2, eta + 1/2) and, in polar
  // coordinates, int int (1 - b^2 - c^2)^(eta - 1) db dc = pi / eta, so
  // Z = pi^(3/2) Gamma(eta + 1/2) / (eta Gamma(eta + 1)).
  for (double eta : {0.6, 1.0, 3.0}) {
    const double log_z = 1.5 * std::log(std::numbers::pi) + std::lgamma(eta + 0.5) - std::log(eta) - std::lgamma(eta + 1.0);
    const double a = 0.3, b = -0.4, c = 0.5;
    const double l11 = std::sqrt(1.0 - a * a), l22 = std::sqrt(1.0 - b * b - c * c);
    const double expected = (2.0 * eta - 1.0) * std::log(l11) + (2.0 * eta - 2.0) * std::log(l22) - log_z;
    INFO("concentration " << eta);
    CHECK(dist::LKJCholesky(3, eta).log_prob(corr_cholesky3(a, b, c)).item() == Approx(expected).epsilon(1e-12));
  }
}

TEST_CASE("LKJCholesky draws are Cholesky factors of correlation matrices with the LKJ marginals") {
  const dist::LKJCholesky batched(3, Tensor{1.0, 2.0});
  const Tensor many = batched.sample(tyche::PRNGKey(0), {5});
  CHECK(many.shape() == Shape{5, 2, 3, 3});
  CHECK(tyche::constraints::corr_cholesky.contains(many));
  CHECK(batched.log_prob(many).shape() == Shape{5, 2});
  for (double v : batched.log_prob(many).to_std_vector()) CHECK(std::isfinite(v));
  // Each correlation r of an LKJ(eta) matrix of dimension n has (r + 1) / 2 ~
  // Beta(eta + (n - 2) / 2, same): mean 0 and variance 1 / (2 eta + n - 1).
  // 20000 draws; 5 standard errors sqrt(var / n) for the mean and
  // sqrt((m4 - var^2) / n) for the variance (m4 the sample fourth moment).
  for (int n : {2, 3}) {
    const double eta = 1.7;
    const Tensor l = dist::LKJCholesky(n, eta).sample(tyche::PRNGKey(9), {20000});
    const double expected = 1.0 / (2.0 * eta + n - 1);
    for (int i = 1; i < n; ++i)
      for (int j = 0; j < i; ++j) {
        Eigen::ArrayXd r(20000);
        for (std::int64_t s = 0; s < 20000; ++s) {
          const Eigen::MatrixXd ls = l[s].to_matrix();
          r[s] = ls.row(i).dot(ls.row(j));
        }
        const double var = r.square().mean(), m4 = r.pow(4).mean();
        INFO("dimension " << n << ", correlation (" << i << ", " << j << "): variance " << var << " vs " << expected);
        CHECK(std::abs(r.mean()) < 5.0 * std::sqrt(expected / 20000.0));
        CHECK(std::abs(var - expected) < 5.0 * std::sqrt((m4 - var * var) / 20000.0));
      }
  }
}

TEST_CASE("LKJCholesky mean() and variance() match the moments of its draws") {
  // Dimension 4, 20000 draws, 5 standard errors per entry as above.
  const dist::LKJCholesky d(4, 1.5);
  const Tensor l = d.sample(tyche::PRNGKey(21), {20000});
  const Tensor mean = d.mean(), variance = d.variance();
  REQUIRE(mean.shape() == Shape{4, 4});
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 4; ++j) {
      Eigen::ArrayXd x(20000);
      for (std::int64_t s = 0; s < 20000; ++s) x[s] = l.at({s, i, j});
      const double m = x.mean(), v = (x - m).square().mean(), m4 = (x - m).pow(4).mean();
      INFO("entry (" << i << ", " << j << "): mean " << m << " vs " << mean.at({i, j}) << ", variance " << v << " vs "
                     << variance.at({i, j}));
      CHECK(std::abs(m - mean.at({i, j})) <= 5.0 * std::sqrt(variance.at({i, j}) / 20000.0));
      CHECK(std::abs(v - variance.at({i, j})) <= 5.0 * std::sqrt((m4 - v * v) / 20000.0) + 1e-15);
    }
  CHECK(dist::LKJCholesky(3, Tensor{1.0, 2.0, 3.0}).mean().shape() == Shape{3, 3, 3});
}

TEST_CASE("LKJCholesky log_prob gradients match finite differences, bad values and arguments") {
  check_gradient("LKJCholesky(2): concentration and value",
                 [](const Inputs& in) { return dist::LKJCholesky(2, in[0]).log_prob(corr_cholesky2(in[1][0])); },
                 {{Shape{2}, tyche_test::kPositive}, {Shape{1}, {-0.8, 0.8}}});
  check_gradient("LKJCholesky(3): concentration and value",
                 [](const Inputs& in) {
                   return dist::LKJCholesky(3, in[0]).log_prob(corr_cholesky3(in[1][0], in[1][1], in[1][2]));
                 },
                 {{Shape{1}, tyche_test::kPositive}, {Shape{3}, {-0.5, 0.5}}});
  const dist::LKJCholesky d(2, 2.0);
  CHECK(d.log_prob(Tensor{{1.0, 0.0}, {0.5, 0.5}}).item() == -kInf);  // row 1 not of unit length
  CHECK(d.log_prob(Tensor{{1.0, 0.1}, {0.6, 0.8}}).item() == -kInf);  // not lower triangular
  CHECK(d.support().str() == "CorrCholesky()");
  CHECK_THROWS_WITH(dist::LKJCholesky(1, 1.0), Catch::Contains("LKJCholesky: dimension must be at least 2, got 1"));
  CHECK_THROWS_WITH(dist::LKJCholesky(3, -1.0), Catch::Contains("LKJCholesky: concentration must be positive, got -1"));
  CHECK_THROWS_AS(d.log_prob(tyche_test::eye(3)), tyche::ShapeError);
}

TEST_CASE("Delta puts all mass on its value") {
  const dist::Delta d(Tensor{1.0, 2.0}, -0.5);
  CHECK(d.batch_shape() == Shape{2});
  CHECK(d.event_shape() == Shape{});
  CHECK(d.sample(tyche::PRNGKey(0), {3}).shape() == Shape{3, 2});
  CHECK(d.sample(tyche::PRNGKey(0), {3})[2].to_vector() == Eigen::Vector2d(1.0, 2.0));
  const Tensor lp = d.log_prob(Tensor{{1.0, 0.0}, {5.0, 2.0}});
  CHECK(lp.shape() == Shape{2, 2});
  CHECK(lp.at({0, 0}) == -0.5);
  CHECK(lp.at({0, 1}) == -kInf);
  CHECK(lp.at({1, 0}) == -kInf);
  CHECK(lp.at({1, 1}) == -0.5);
  CHECK(d.mean().to_vector() == Eigen::Vector2d(1.0, 2.0));
  CHECK(d.variance().to_vector() == Eigen::Vector2d::Zero());
  CHECK(d.support().str() == "Real()");
  // With event_dim 1 a whole row must match.
  const dist::Delta e(Tensor{{1.0, 2.0}, {3.0, 4.0}}, Tensor{0.0, 1.0}, 1);
  CHECK(e.batch_shape() == Shape{2});
  CHECK(e.event_shape() == Shape{2});
  CHECK(e.support().event_dim() == 1);
  const Tensor le = e.log_prob(Tensor{{1.0, 2.0}, {3.0, 5.0}});
  CHECK(le.at({0}) == 0.0);
  CHECK(le.at({1}) == -kInf);
  // A deterministic site: gradients flow from the draw to the value and from
  // log_prob to log_density.
  const auto g = tyche::value_and_grad(
      [](const Tensor& q) {
        const dist::Delta delta(q[0] * 2.0, q[1]);
        const Tensor x = delta.sample(tyche::PRNGKey(0), {3});
        return tyche::sum(x) + tyche::sum(delta.log_prob(x));
      },
      Eigen::Vector2d(1.5, -0.25));
  CHECK(g.value == Approx(9.0 - 0.75));
  CHECK(g.grad[0] == Approx(6.0));
  CHECK(g.grad[1] == Approx(3.0));
  CHECK_THROWS_AS(dist::Delta(Tensor{1.0, 2.0}, 0.0, 2), tyche::ShapeError);
  CHECK_THROWS_AS(dist::Delta(Tensor{1.0, 2.0}, Tensor{1.0, 2.0, 3.0}), tyche::ShapeError);
}

TEST_CASE("Unit draws an empty array and has log_prob log_factor") {
  const dist::Unit u(Tensor{-1.5, 0.5});
  CHECK(u.batch_shape() == Shape{2});
  CHECK(u.event_shape() == Shape{0});
  const Tensor x = u.sample(tyche::PRNGKey(0), {3});
  CHECK(x.shape() == Shape{3, 2, 0});
  CHECK(x.size() == 0);
  const Tensor lp = u.log_prob(x);
  CHECK(lp.shape() == Shape{3, 2});
  CHECK(lp.at({2, 0}) == -1.5);
  CHECK(lp.at({2, 1}) == 0.5);
  CHECK(u.log_prob(u.sample(tyche::PRNGKey(1))).to_vector() == Eigen::Vector2d(-1.5, 0.5));
  CHECK(dist::Unit(-2.0).log_prob(dist::Unit(-2.0).sample(tyche::PRNGKey(0))).item() == -2.0);
  const auto g = tyche::value_and_grad([](const Tensor& q) { return tyche::sum(dist::Unit(q * 3.0).log_prob(Tensor())); },
                                       Eigen::Vector2d(1.0, 2.0));
  CHECK(g.value == Approx(9.0));
  CHECK(g.grad == Eigen::Vector2d(3.0, 3.0));
}
