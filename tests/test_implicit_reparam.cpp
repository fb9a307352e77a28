// Implicit reparameterisation (issue 15): draws of Gamma, Beta, Dirichlet,
// StudentT (and InverseGamma, LKJCholesky built on them) pass gradients to
// their concentrations / df, as JAX's samplers do for NumPyro. A draw is held at its CDF level, so the reference for one draw
// is the derivative of the quantile function at that level (Boost.Math's
// gamma_p_inv, by Richardson-extrapolated central differences); the reference
// for the estimator is the closed-form derivative of an expectation.
//
// A finite difference of the sampler itself at a fixed key is not a
// reference: Marsaglia and Tsang's rejection sampler moves its draws with
// alpha along a different path, whose derivative is not an unbiased gradient.
#include <catch2/catch.hpp>

#include "tyche/core/compiled.hpp"
#include "tyche/core/grad.hpp"
#include "tyche/core/indexing.hpp"
#include "tyche/core/reduce.hpp"
#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/multivariate.hpp"
#include "tyche/distributions/random.hpp"

#include <boost/math/special_functions/gamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>

#include <cmath>
#include <functional>
#include <vector>

namespace {

using tyche::Tensor;
namespace dist = tyche::dist;

// d/dalpha of g(alpha) by central differences at h and h/2, combined to
// cancel the h^2 term (Richardson): error O(h^4) plus rounding / h.
double implicit_reparam_derivative(const std::function<double(double)>& g, double alpha) {
  const auto central = [&](double h) { return (g(alpha + h) - g(alpha - h)) / (2.0 * h); };
  const double h = 1e-3 * alpha;
  return (4.0 * central(h / 2.0) - central(h)) / 3.0;
}

// log of the Gamma(alpha, 1) quantile at level u.
double implicit_reparam_log_quantile(double alpha, double u) { return std::log(boost::math::gamma_p_inv(alpha, u)); }

// The CDF level of a Gamma(alpha, 1) draw x, given as log x (x may underflow).
double implicit_reparam_level(double alpha, double x) { return boost::math::gamma_p(alpha, x); }

// Mean and standard error of per-draw values.
struct ImplicitReparamMean {
  double mean, standard_error;
};
ImplicitReparamMean implicit_reparam_mean(const Eigen::VectorXd& v) {
  const double m = v.mean();
  const double var = (v.array() - m).square().sum() / double(v.size() - 1);
  return {m, std::sqrt(var / double(v.size()))};
}

}  // namespace

TEST_CASE("implicit reparam: d log x / d alpha of a Gamma draw is the derivative of the quantile at its level") {
  // The derivative itself, over a grid of concentrations and CDF levels that
  // covers its three methods (series below max(alpha, 1), continued fraction
  // above, Wilson-Hilferty from alpha = 1e7) and the tails.
  for (double alpha : {1e-3, 0.01, 0.1, 0.3, 0.5, 0.9, 1.0, 1.1, 2.0, 3.7, 10.0, 30.0, 100.0, 1e3, 1e4, 1e6,
                       9.9e6, 1e7, 1e8}) {
    for (double u : {1e-12, 1e-6, 1e-3, 0.05, 0.2, 0.4, 0.5, 0.6, 0.8, 0.95, 0.999, 1.0 - 1e-9}) {
      const double x = boost::math::gamma_p_inv(alpha, u);
      if (x == 0.0) continue;  // below the smallest double: log x is not representable here
      INFO("alpha " << alpha << ", u " << u << ", x " << x);
      const double expected =
          implicit_reparam_derivative([&](double a) { return implicit_reparam_log_quantile(a, u); }, alpha);
      // The difference quotients carry rounding of about 1e-15 / 1e-3 relative.
      CHECK(tyche::detail::gamma_log_draw_derivative(alpha, std::log(x)) == Approx(expected).epsilon(1e-8));
    }
  }
  // A draw that underflowed to 0 still has its log-space derivative:
  // d log x / d alpha -> (psi(alpha + 1) - log x) / alpha as x -> 0.
  const double alpha = 1e-4, log_x = -5e4;
  CHECK(tyche::detail::gamma_log_draw_derivative(alpha, log_x) ==
        Approx((boost::math::digamma(alpha + 1.0) - log_x) / alpha).epsilon(1e-12));
  CHECK(std::isnan(tyche::detail::gamma_log_draw_derivative(-1.0, 0.0)));
}

TEST_CASE("implicit reparam: random::gamma's gradient per draw matches the quantile's derivative, 0.1 <= alpha <= 100") {
  const tyche::Key key = tyche::PRNGKey(11);
  const int n = 40;
  for (double alpha : {0.1, 0.5, 1.0, 2.5, 10.0, 100.0}) {
    INFO("alpha " << alpha);
    // One concentration per draw, so that the gradient holds each draw's derivative.
    const Eigen::VectorXd q = Eigen::VectorXd::Constant(n, alpha);
    Eigen::VectorXd x_values(n);
    const tyche::ValueAndGrad r = tyche::value_and_grad(
        [&](const Tensor& c) {
          const Tensor x = tyche::random::gamma(key, c, {n});
          x_values = x.to_vector();  // value_and_grad does not trace: values may be read
          return tyche::sum(x);
        },
        q);
    // The values are the draws made without gradients.
    const Tensor plain = tyche::random::gamma(key, alpha, {n});
    for (int i = 0; i < n; ++i) {
      REQUIRE(x_values[i] == plain.data()[i]);
      const double u = implicit_reparam_level(alpha, x_values[i]);
      const double expected =
          implicit_reparam_derivative([&](double a) { return std::exp(implicit_reparam_log_quantile(a, u)); }, alpha);
      CHECK(r.grad[i] == Approx(expected).epsilon(1e-7));
    }
  }
}

TEST_CASE("implicit reparam: Beta, Dirichlet and StudentT draws move with their gammas held at their levels") {
  const tyche::Key key = tyche::PRNGKey(12);
  const int n = 10;
  SECTION("Beta(a, b) = X / (X + Y) with X ~ Gamma(a) and Y ~ Gamma(b) on split(key)") {
    const double a = 0.7, b = 3.0;
    Eigen::VectorXd q(2 * n);
    q << Eigen::VectorXd::Constant(n, a), Eigen::VectorXd::Constant(n, b);
    const tyche::ValueAndGrad r = tyche::value_and_grad(
        [&](const Tensor& c) { return tyche::sum(dist::Beta(c.slice(0, n), c.slice(n, 2 * n)).sample(key)); }, q);
    const auto keys = tyche::split(key);
    const Tensor gx = tyche::random::gamma(keys[0], a, {n}), gy = tyche::random::gamma(keys[1], b, {n});
    for (int i = 0; i < n; ++i) {
      const double ux = implicit_reparam_level(a, gx.data()[i]), uy = implicit_reparam_level(b, gy.data()[i]);
      const auto beta_at = [&](double aa, double bb) {
        const double x = boost::math::gamma_p_inv(aa, ux), y = boost::math::gamma_p_inv(bb, uy);
        return x / (x + y);
      };
      CHECK(r.grad[i] == Approx(implicit_reparam_derivative([&](double v) { return beta_at(v, b); }, a)).epsilon(1e-7));
      CHECK(r.grad[n + i] ==
            Approx(implicit_reparam_derivative([&](double v) { return beta_at(a, v); }, b)).epsilon(1e-7));
    }
  }
  SECTION("Dirichlet: normalised gammas, each moving with its own concentration") {
    const std::vector<double> alpha{0.4, 1.5, 6.0};
    const std::vector<double> weight{1.0, 2.0, 5.0};  // sum(x) = 1 has no gradient: weigh the components
    Eigen::VectorXd q(3 * n);
    for (int i = 0; i < 3 * n; ++i) q[i] = alpha[std::size_t(i % 3)];
    const tyche::ValueAndGrad r = tyche::value_and_grad(
        [&](const Tensor& c) {
          return tyche::sum(dist::Dirichlet(c.reshape({n, 3})).sample(key) * Tensor{1.0, 2.0, 5.0});
        },
        q);
    const Tensor g = tyche::random::gamma(key, Tensor{0.4, 1.5, 6.0}, {n, 3});
    for (int i = 0; i < n; ++i) {
      std::vector<double> u(3);
      for (int j = 0; j < 3; ++j) u[std::size_t(j)] = implicit_reparam_level(alpha[std::size_t(j)], g.data()[3 * i + j]);
      for (int k = 0; k < 3; ++k) {
        const auto weighted = [&](double v) {
          double total = 0.0, dot = 0.0;
          for (int j = 0; j < 3; ++j) {
            const double x = boost::math::gamma_p_inv(j == k ? v : alpha[std::size_t(j)], u[std::size_t(j)]);
            total += x;
            dot += weight[std::size_t(j)] * x;
          }
          return dot / total;
        };
        CHECK(r.grad[3 * i + k] ==
              Approx(implicit_reparam_derivative(weighted, alpha[std::size_t(k)])).epsilon(1e-7).margin(1e-10));
      }
    }
  }
  SECTION("StudentT(df, loc, scale) = loc + scale z sqrt(df / V), V = 2 Gamma(df / 2) on split(key)") {
    const double df = 3.5, loc = 0.5, scale = 2.0;
    Eigen::VectorXd q(n + 2);
    q << Eigen::VectorXd::Constant(n, df), loc, scale;
    const tyche::ValueAndGrad r = tyche::value_and_grad(
        [&](const Tensor& c) { return tyche::sum(dist::StudentT(c.slice(0, n), c[n], c[n + 1]).sample(key)); }, q);
    const auto keys = tyche::split(key);
    const Tensor z = tyche::random::normal(keys[0], {n}), g = tyche::random::gamma(keys[1], 0.5 * df, {n});
    double sum_standard = 0.0;
    for (int i = 0; i < n; ++i) {
      const double u = implicit_reparam_level(0.5 * df, g.data()[i]);
      const auto t_at = [&](double v) {
        return loc + scale * z.data()[i] * std::sqrt(v / (2.0 * boost::math::gamma_p_inv(0.5 * v, u)));
      };
      CHECK(r.grad[i] == Approx(implicit_reparam_derivative(t_at, df)).epsilon(1e-7));
      sum_standard += (t_at(df) - loc) / scale;
    }
    // loc and scale keep their explicit gradients.
    CHECK(r.grad[n] == Approx(double(n)));
    CHECK(r.grad[n + 1] == Approx(sum_standard).epsilon(1e-12));
  }
}

TEST_CASE("implicit reparam: Monte Carlo gradients of expectations match their closed forms") {
  // Each check averages N per-draw gradients (one parameter per draw) and
  // allows 4.5 standard errors of that mean, estimated from the same draws:
  // with about a dozen checks the chance of a false failure is below 1e-4.
  const int n = 20000;
  const auto check_mean = [](const char* what, const Eigen::VectorXd& per_draw, double expected) {
    const ImplicitReparamMean m = implicit_reparam_mean(per_draw);
    INFO(what << ": mean " << m.mean << " +- " << m.standard_error << ", expected " << expected);
    CHECK(std::abs(m.mean - expected) < 4.5 * m.standard_error);
    CHECK(m.standard_error < 0.05 * std::abs(expected));  // the check has power
  };
  const tyche::Key key = tyche::PRNGKey(13);
  for (double alpha : {0.1, 1.0, 10.0, 100.0}) {
    // Gamma(alpha, rate 2): d E[x] / d alpha = 1 / 2 and d E[log x] / d alpha = trigamma(alpha).
    const Eigen::VectorXd q = Eigen::VectorXd::Constant(n, alpha);
    const Eigen::VectorXd d_mean =
        tyche::grad([&](const Tensor& c) { return tyche::sum(dist::Gamma(c, 2.0).sample(key)); }, q);
    const Eigen::VectorXd d_log =
        tyche::grad([&](const Tensor& c) { return tyche::sum(tyche::log(dist::Gamma(c, 2.0).sample(key))); }, q);
    INFO("alpha " << alpha);
    check_mean("Gamma, E[x]", d_mean, 0.5);
    check_mean("Gamma, E[log x]", d_log, boost::math::trigamma(alpha));
  }
  {
    // Beta(a, b): d E[x] / d a = b / (a + b)^2, d E[x] / d b = -a / (a + b)^2.
    const double a = 2.0, b = 0.5;
    Eigen::VectorXd q(2 * n);
    q << Eigen::VectorXd::Constant(n, a), Eigen::VectorXd::Constant(n, b);
    const Eigen::VectorXd g = tyche::grad(
        [&](const Tensor& c) { return tyche::sum(dist::Beta(c.slice(0, n), c.slice(n, 2 * n)).sample(key)); }, q);
    check_mean("Beta, d/da E[x]", g.head(n), b / ((a + b) * (a + b)));
    check_mean("Beta, d/db E[x]", g.tail(n), -a / ((a + b) * (a + b)));
  }
  {
    // Dirichlet(alpha): d E[x_0] / d alpha_k = (delta_0k alpha_sum - alpha_0) / alpha_sum^2.
    const double a0 = 0.5, a1 = 2.0, a2 = 4.0, total = a0 + a1 + a2;
    Eigen::VectorXd q(3 * n);
    for (int i = 0; i < n; ++i) q.segment(3 * i, 3) << a0, a1, a2;
    const Eigen::VectorXd g = tyche::grad(
        [&](const Tensor& c) {
          return tyche::sum(dist::Dirichlet(c.reshape({n, 3})).sample(key) * Tensor{1.0, 0.0, 0.0});
        },
        q);
    const Eigen::Map<const Eigen::VectorXd, 0, Eigen::InnerStride<3>> d0(g.data(), n), d1(g.data() + 1, n);
    check_mean("Dirichlet, d/dalpha_0 E[x_0]", d0, (total - a0) / (total * total));
    check_mean("Dirichlet, d/dalpha_1 E[x_0]", d1, -a0 / (total * total));
  }
  {
    // StudentT(df, 0, scale): E[t^2] = scale^2 df / (df - 2), so d/ddf = -2 scale^2 / (df - 2)^2.
    const double df = 9.0, scale = 1.5;
    const Eigen::VectorXd q = Eigen::VectorXd::Constant(n, df);
    const Eigen::VectorXd g = tyche::grad(
        [&](const Tensor& c) { return tyche::sum(tyche::square(dist::StudentT(c, 0.0, scale).sample(key))); }, q);
    check_mean("StudentT, d/ddf E[t^2]", g, -2.0 * scale * scale / ((df - 2.0) * (df - 2.0)));
  }
  {
    // LKJCholesky(3, eta): L_10^2 = y_1 and L_22^2 = 1 - y_2 with y_r ~ Beta(r / 2, eta + (2 - r) / 2), so
    // d E[L_10^2] / d eta = -a_1 / (a_1 + b_1)^2 and d E[L_22^2] / d eta = a_2 / (a_2 + b_2)^2.
    const double eta = 1.5, a1 = 0.5, b1 = eta + 0.5, a2 = 1.0, b2 = eta;
    const Eigen::VectorXd q = Eigen::VectorXd::Constant(n, eta);
    const auto entry_squared = [&](int entry) {
      return tyche::grad(
          [&](const Tensor& c) {
            const Tensor l = dist::LKJCholesky(3, c).sample(key).reshape({n, 9});
            return tyche::sum(tyche::square(tyche::slice(l, -1, entry, entry + 1)));
          },
          q);
    };
    check_mean("LKJCholesky, d/deta E[L_10^2]", entry_squared(3), -a1 / ((a1 + b1) * (a1 + b1)));
    check_mean("LKJCholesky, d/deta E[L_22^2]", entry_squared(8), a2 / ((a2 + b2) * (a2 + b2)));
  }
  {
    // InverseGamma(alpha, rate 3), a reciprocal Gamma draw: d E[x] / d alpha = -3 / (alpha - 1)^2.
    const double alpha = 6.0;
    const Eigen::VectorXd q = Eigen::VectorXd::Constant(n, alpha);
    const Eigen::VectorXd g =
        tyche::grad([&](const Tensor& c) { return tyche::sum(dist::InverseGamma(c, 3.0).sample(key)); }, q);
    check_mean("InverseGamma, d/dalpha E[x]", g, -3.0 / ((alpha - 1.0) * (alpha - 1.0)));
  }
}

TEST_CASE("implicit reparam: a compiled replay draws again at the new concentrations and equals value_and_grad") {
  const tyche::Key key = tyche::PRNGKey(14);
  // A scalar function of Gamma, Beta, Dirichlet, StudentT, InverseGamma and
  // LKJCholesky draws whose parameters are all in q (positive through exp).
  const auto f = [&](const Tensor& q) {
    const Tensor p = tyche::exp(q);
    const auto keys = tyche::split(key, 6);
    const Tensor gamma = dist::Gamma(p.slice(0, 2), p[2]).sample(keys[0], {3});
    const Tensor beta = dist::Beta(p[3], p[4]).sample(keys[1], {4});
    const Tensor simplex = dist::Dirichlet(p.slice(5, 8)).sample(keys[2], {2});
    const Tensor t = dist::StudentT(p[8], q[0], p[9]).sample(keys[3], {3});
    const Tensor inverse = dist::InverseGamma(p[9], p[1]).sample(keys[4], {2});
    const Tensor factor = dist::LKJCholesky(3, p[6]).sample(keys[5], {2});
    return tyche::sum(tyche::log(gamma)) + tyche::sum(tyche::square(beta)) +
           tyche::sum(simplex * Tensor{1.0, -2.0, 3.0}) + tyche::sum(tyche::sin(t)) + tyche::sum(inverse) +
           tyche::sum(factor * Tensor{{0.0, 0.0, 0.0}, {1.0, 2.0, 0.0}, {-1.0, 3.0, 0.5}});
  };
  Eigen::VectorXd x0(10), x1(10);
  x0 << 0.1, -0.5, 0.3, 0.2, -1.0, 0.0, 0.5, -0.3, 1.2, 0.4;
  x1 << -0.4, 0.6, -0.1, 1.0, 0.3, -1.5, 0.2, 0.8, 0.7, -0.2;
  auto compiled = tyche::compile_gradient(f, x0);
  for (const Eigen::VectorXd& x : {x0, x1, x0}) {
    Eigen::VectorXd g(10);
    const double value = compiled(x, g);
    const tyche::ValueAndGrad eager = tyche::value_and_grad(f, x);
    CHECK(value == Approx(eager.value).epsilon(1e-13));
    for (int i = 0; i < 10; ++i) CHECK(g[i] == Approx(eager.grad[i]).epsilon(1e-12).margin(1e-13));
    CHECK(eager.grad.cwiseAbs().minCoeff() > 0.0);  // every parameter reaches the value
  }
  // At a concentration that is not positive the replay is not finite (the
  // replay contract of core/compiled.hpp); nothing loops or throws.
  auto raw = tyche::compile_gradient(
      [&](const Tensor& q) { return tyche::sum(tyche::random::gamma(key, q, {3})); }, Eigen::VectorXd::Constant(1, 2.0));
  Eigen::VectorXd g(1);
  CHECK(std::isnan(raw(Eigen::VectorXd::Constant(1, -1.0), g)));
  CHECK(std::isfinite(raw(Eigen::VectorXd::Constant(1, 0.5), g)));
}

TEST_CASE("implicit reparam: draws that carry gradients have exactly the values of draws that do not") {
  const tyche::Key key = tyche::PRNGKey(15);
  const auto same = [](const Tensor& recorded, const Tensor& plain) {
    REQUIRE(recorded.shape() == plain.shape());
    CHECK(recorded.to_std_vector() == plain.to_std_vector());
  };
  Eigen::VectorXd q(3);
  q << 0.05, 2.0, 0.7;  // tiny concentrations too: values in log space
  tyche::value_and_grad(
      [&](const Tensor& c) {
        same(tyche::random::beta(key, c[0], c[1], {6}), tyche::random::beta(key, 0.05, 2.0, {6}));
        same(tyche::random::dirichlet(key, c, {4}), tyche::random::dirichlet(key, Tensor{0.05, 2.0, 0.7}, {4}));
        same(dist::LKJCholesky(4, c[2]).sample(key, {2}), dist::LKJCholesky(4, 0.7).sample(key, {2}));
        return tyche::sum(c);
      },
      q);
}
