// The fused log densities against Boost.Math's densities, their gradients
// against finite differences, and their broadcasting.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include <boost/math/distributions/cauchy.hpp>
#include <boost/math/distributions/normal.hpp>
#include <cmath>

using tyche::Tensor;

namespace {

// Central difference of a scalar function of q; step scaled to |q_i|.
template <class F>
Eigen::VectorXd finite_difference(F f, const Eigen::VectorXd& q) {
  Eigen::VectorXd g(q.size());
  for (Eigen::Index i = 0; i < q.size(); ++i) {
    const double h = 1e-6 * std::max(1.0, std::abs(q[i]));
    Eigen::VectorXd up = q, down = q;
    up[i] += h;
    down[i] -= h;
    g[i] = (tyche::value_and_grad(f, up).value - tyche::value_and_grad(f, down).value) / (2 * h);
  }
  return g;
}

template <class F>
void require_gradient_matches_finite_differences(F f, const Eigen::VectorXd& q) {
  const Eigen::VectorXd g = tyche::value_and_grad(f, q).grad, fd = finite_difference(f, q);
  for (Eigen::Index i = 0; i < q.size(); ++i)
    REQUIRE(g[i] == Approx(fd[i]).epsilon(1e-6).margin(1e-7));
}

}  // namespace

TEST_CASE("normal_log_density matches Boost.Math's normal pdf") {
  const Tensor x{-3.0, -0.5, 0.0, 1.25, 40.0}, loc{0.5, -1.0, 0.0, 2.0, 1.0}, scale{0.1, 1.0, 2.0, 7.5, 3.0};
  const Tensor lp = tyche::normal_log_density(x, loc, scale);
  REQUIRE(lp.shape() == tyche::Shape{5});
  double total = 0.0;
  for (std::int64_t i = 0; i < 5; ++i) {
    const boost::math::normal_distribution<double> d(loc.at({i}), scale.at({i}));
    const double expected = std::log(boost::math::pdf(d, x.at({i})));
    REQUIRE(lp.at({i}) == Approx(expected).epsilon(1e-13));
    total += expected;
  }
  REQUIRE(tyche::normal_log_density_sum(x, loc, scale).item() == Approx(total).epsilon(1e-13));
}

TEST_CASE("cauchy_log_density matches Boost.Math's Cauchy pdf") {
  for (double x : {-100.0, -1.0, 0.0, 0.3, 12.0}) {
    const boost::math::cauchy_distribution<double> d(0.5, 2.5);
    REQUIRE(tyche::cauchy_log_density(x, 0.5, 2.5).item() ==
            Approx(std::log(boost::math::pdf(d, x))).epsilon(1e-13));
  }
}

TEST_CASE("bernoulli_logit_log_mass is y log sigmoid(eta) + (1 - y) log sigmoid(-eta), stably") {
  const Tensor y{1.0, 0.0, 1.0, 0.0, 1.0}, eta{0.3, -2.0, 40.0, 40.0, -800.0};
  const Tensor lp = tyche::bernoulli_logit_log_mass(y, eta);
  for (std::int64_t i = 0; i < 5; ++i) {
    const double e = eta.at({i});
    // log sigmoid(e) = -log1p(exp(-e)) for e >= 0, e - log1p(exp(e)) otherwise.
    const double log_p = e >= 0 ? -std::log1p(std::exp(-e)) : e - std::log1p(std::exp(e));
    const double log_q = log_p - e;
    REQUIRE(lp.at({i}) == Approx(y.at({i}) * log_p + (1 - y.at({i})) * log_q).epsilon(1e-13));
  }
  REQUIRE(tyche::bernoulli_logit_log_mass_sum(y, eta).item() == Approx(tyche::sum(lp).item()));
}

TEST_CASE("fused log densities broadcast like NumPy, single operands included") {
  const Tensor x{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, loc{0.0, 1.0, 2.0}, scale{{1.0}, {2.0}};
  const Tensor lp = tyche::normal_log_density(x, loc, scale);
  REQUIRE(lp.shape() == tyche::Shape{2, 3});
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      REQUIRE(lp.at({i, j}) == Approx(tyche::normal_log_density(x.at({i, j}), loc.at({j}), scale.at({i, 0})).item()));
  REQUIRE(tyche::normal_log_density(Tensor(0.0), Tensor{0.0}, 1.0).shape() == tyche::Shape{1});
  REQUIRE_THROWS_AS(tyche::normal_log_density(Tensor{1.0, 2.0}, Tensor{1.0, 2.0, 3.0}, 1.0), tyche::ShapeError);
}

TEST_CASE("gradients of the fused log densities match finite differences for every operand pattern") {
  // q = (x[4], loc[4], log scale[4]); each operand either full or its first element.
  for (int pattern = 0; pattern < 8; ++pattern) {
    for (bool summed : {false, true}) {
      auto f = [&](const Tensor& q) {
        const Tensor x = pattern & 4 ? q.slice(0, 4) : q[0];
        const Tensor loc = pattern & 2 ? q.slice(4, 8) : q[4];
        const Tensor scale = tyche::exp(pattern & 1 ? q.slice(8, 12) : q[8]);
        const Tensor weights{0.3, -1.1, 0.7, 2.0};
        if (summed)
          return tyche::normal_log_density_sum(x, loc, scale) + 0.5 * tyche::cauchy_log_density_sum(x, loc, scale);
        return tyche::sum(weights * (tyche::normal_log_density(x, loc, scale) +
                                     tyche::cauchy_log_density(x, loc, scale)));
      };
      Eigen::VectorXd q(12);
      q << 0.1, -1.3, 2.2, 0.4, 0.5, -0.2, 1.0, 0.0, -0.3, 0.2, 0.9, -1.0;
      INFO("pattern " << pattern << (summed ? " summed" : ""));
      require_gradient_matches_finite_differences(f, q);
    }
  }
}

TEST_CASE("a compiled log joint of fused densities matches the eager one for every operand pattern") {
  // The kernels a compiled gradient adds (one pass computing the value and the
  // gradient for a seed of 1) exist per pattern of full and single operands,
  // and per whether a single operand has a gradient. A single x with a full
  // location runs the kernels of the opposite pattern with the two exchanged.
  // Each summed density is a term of add_n, so both are unit seeded; the replay
  // adds in another order than the eager evaluation, hence the tolerance.
  for (int pattern = 0; pattern < 8; ++pattern) {
    for (bool constant_singles : {false, true}) {
      if (pattern == 0 && constant_singles) continue;  // nothing would depend on the parameters
      auto f = [&](const Tensor& q) {
        const auto single = [&](std::int64_t i, double constant) { return constant_singles ? Tensor(constant) : q[i]; };
        const Tensor x = pattern & 4 ? q.slice(0, 4) : single(0, 0.7);
        const Tensor loc = pattern & 2 ? q.slice(4, 8) : single(4, -0.4);
        const Tensor scale = pattern & 1 ? tyche::exp(q.slice(8, 12)) : tyche::exp(single(8, 0.3));
        return tyche::add_n({tyche::normal_log_density_sum(x, loc, scale), tyche::cauchy_log_density_sum(x, loc, scale)});
      };
      Eigen::VectorXd q(12);
      q << 0.1, -1.3, 2.2, 0.4, 0.5, -0.2, 1.0, 0.0, -0.3, 0.2, 0.9, -1.0;
      INFO("pattern " << pattern << (constant_singles ? ", single operands constant" : ""));
      auto compiled = tyche::compile_gradient(f, q);
      REQUIRE(compiled.unit_seeded() == 2);
      Eigen::VectorXd g_compiled(12), g_eager(12);
      for (double shift : {0.0, 0.37, -1.1}) {
        const Eigen::VectorXd at = q.array() + shift;
        REQUIRE(compiled(at, g_compiled) == Approx(tyche::value_and_grad(f, at, g_eager)).epsilon(1e-13));
        for (Eigen::Index i = 0; i < 12; ++i) REQUIRE(g_compiled[i] == Approx(g_eager[i]).epsilon(1e-13).margin(1e-14));
      }
    }
  }
}

TEST_CASE("fused log densities agree with their element-by-element sum for every block remainder") {
  // The kernels run SIMD blocks (2, 4 or 8 elements), then the rest one by one.
  for (Eigen::Index n : {1, 3, 4, 5, 8, 50, 103}) {
    Eigen::VectorXd q = Eigen::VectorXd::LinSpaced(n + 2, -2.0, 3.0);
    auto f = [n](const Tensor& p) {
      return tyche::normal_log_density_sum(p.slice(0, n), p[n], tyche::exp(p[n + 1])) +
             tyche::bernoulli_logit_log_mass_sum(tyche::Tensor::ones(tyche::Shape{n}), p.slice(0, n));
    };
    INFO("n = " << n);
    require_gradient_matches_finite_differences(f, q);
    double by_element = 0.0;
    for (Eigen::Index i = 0; i < n; ++i)
      by_element += tyche::normal_log_density(q[i], q[n], std::exp(q[n + 1])).item();
    REQUIRE(tyche::normal_log_density_sum(Tensor(Eigen::VectorXd(q.head(n))), q[n], std::exp(q[n + 1])).item() ==
            Approx(by_element).epsilon(1e-13));
  }
}

namespace {

// A density of x with location a * b + c (a and c single, b of n elements),
// written with fma (which the density absorbs) or with * and + (which it does
// not); q = (a, b[n], c, x[n], log scale[n]).
struct AffineLocationCase {
  Eigen::Index n;
  bool cauchy, summed, a_first, x_is_parameter, full_scale, loc_used_after, loc_used_before;

  Tensor operator()(const Tensor& q, bool with_fma) const {
    const Tensor a = q[0], b = q.slice(1, n + 1), c = q[n + 1];
    const Tensor x = x_is_parameter ? q.slice(n + 2, 2 * n + 2)
                                    : Tensor(Eigen::VectorXd(Eigen::VectorXd::LinSpaced(n, -3.0, 4.0)));
    const Tensor scale = tyche::exp(full_scale ? q.slice(2 * n + 2, 3 * n + 2) : q[2 * n + 2]);
    const Tensor loc = with_fma ? (a_first ? tyche::fma(a, b, c) : tyche::fma(b, a, c))
                                : (a_first ? a * b + c : b * a + c);
    const Tensor before = loc_used_before ? tyche::sum(tyche::sin(loc)) : Tensor(0.0);
    const Tensor weights = tyche::exp(Tensor(Eigen::VectorXd(Eigen::VectorXd::LinSpaced(n, -1.0, 1.0))));
    Tensor lp;
    if (summed)
      lp = cauchy ? tyche::cauchy_log_density_sum(x, loc, scale) : tyche::normal_log_density_sum(x, loc, scale);
    else
      lp = tyche::sum(weights * (cauchy ? tyche::cauchy_log_density(x, loc, scale)
                                        : tyche::normal_log_density(x, loc, scale)));
    const Tensor after = loc_used_after ? 0.3 * tyche::sum(tyche::square(loc)) : Tensor(0.0);
    return lp + before + after;
  }
};

}  // namespace

TEST_CASE("a compiled density absorbs the fma computing its location when nothing else reads it, and keeps every gradient") {
  int cases = 0;
  for (Eigen::Index n : {3, 8, 13})
    for (int bits = 0; bits < 128; ++bits) {
      const AffineLocationCase k{n, bool(bits & 1), bool(bits & 2), bool(bits & 4), bool(bits & 8),
                                 bool(bits & 16), bool(bits & 32), bool(bits & 64)};
      auto fused = [&](const Tensor& q) { return k(q, true); };
      auto reference = [&](const Tensor& q) { return k(q, false); };
      Eigen::VectorXd q = Eigen::VectorXd::LinSpaced(3 * n + 3, -1.2, 0.9);
      q[0] = 0.8;
      INFO("n " << n << " cauchy " << k.cauchy << " summed " << k.summed << " a first " << k.a_first
                << " x parameter " << k.x_is_parameter << " full scale " << k.full_scale
                << " loc used after " << k.loc_used_after << " before " << k.loc_used_before);
      const auto want = tyche::value_and_grad(reference, q);
      const auto got = tyche::value_and_grad(fused, q);
      REQUIRE(got.value == Approx(want.value).epsilon(1e-12));
      for (Eigen::Index i = 0; i < q.size(); ++i) REQUIRE(got.grad[i] == Approx(want.grad[i]).epsilon(1e-11).margin(1e-12));
      // The replay recomputes the location at a new point.
      auto compiled = tyche::compile_gradient(fused, q);
      const Eigen::VectorXd q2 = q.reverse();
      Eigen::VectorXd g2(q.size());
      const auto want2 = tyche::value_and_grad(reference, q2);
      REQUIRE(compiled(q2, g2) == Approx(want2.value).epsilon(1e-12));
      for (Eigen::Index i = 0; i < q.size(); ++i) REQUIRE(g2[i] == Approx(want2.grad[i]).epsilon(1e-11).margin(1e-12));
      // Fused when nothing else reads the location: the density alone replays. The
      // reference's * and + become an fma first, and then fuse the same way.
      const bool fusable = !k.loc_used_before && !k.loc_used_after;
      const auto compiled_reference = tyche::compile_gradient(reference, q);
      REQUIRE(compiled.fused() == (fusable ? 1u : 0u));
      REQUIRE(compiled_reference.fused() == compiled.fused());
      REQUIRE(compiled.size() == compiled_reference.size());
      ++cases;
    }
  REQUIRE(cases == 3 * 128);
  // The reference itself against finite differences, for one case of each family.
  for (bool cauchy : {false, true}) {
    const AffineLocationCase k{5, cauchy, false, false, true, true, true, false};
    Eigen::VectorXd q = Eigen::VectorXd::LinSpaced(18, -1.2, 0.9);
    require_gradient_matches_finite_differences([&](const Tensor& p) { return k(p, true); }, q);
  }
}

TEST_CASE("add_n sums arrays of one shape and passes the gradient to each") {
  auto f = [](const Tensor& q) {
    return tyche::sum(tyche::add_n({q.slice(0, 2), 3.0 * q.slice(2, 4), Tensor{1.0, 1.0}}));
  };
  Eigen::VectorXd q(4), g(4);
  q << 1.0, 2.0, 3.0, 4.0;
  REQUIRE(tyche::value_and_grad(f, q, g) == 1 + 2 + 9 + 12 + 2);
  REQUIRE(g == Eigen::Vector4d(1.0, 1.0, 3.0, 3.0));
  REQUIRE_THROWS_AS(tyche::add_n({Tensor{1.0}, Tensor{1.0, 2.0}}), tyche::ShapeError);
}
