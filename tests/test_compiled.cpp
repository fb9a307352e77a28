// compile_gradient: a recording replayed must give exactly what value_and_grad
// gives, at any parameter values, and refuse what it cannot replay.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include <limits>
#include <random>
#include <vector>

using tyche::Tensor;

namespace {

Eigen::VectorXd random_vector(Eigen::Index n, unsigned seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  Eigen::VectorXd v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

// Replays at several points must equal fresh eager evaluations bit for bit.
template <class F>
void require_replay_matches_eager(F f, Eigen::Index n, int points = 5) {
  auto compiled = tyche::compile_gradient(f, random_vector(n, 1));
  Eigen::VectorXd g_compiled(n), g_eager(n);
  for (int k = 0; k < points; ++k) {
    const Eigen::VectorXd q = random_vector(n, 100 + unsigned(k));
    const double v_compiled = compiled(q, g_compiled);
    const double v_eager = tyche::value_and_grad(f, q, g_eager);
    REQUIRE(v_compiled == v_eager);
    for (Eigen::Index i = 0; i < n; ++i) REQUIRE(g_compiled[i] == g_eager[i]);
  }
}

// Replays at several points against eager evaluations, to rounding: terms whose
// gradient a compiled gradient adds in its forward sweep add their
// contributions in another order.
template <class F>
void require_replay_matches_eager_closely(F f, Eigen::Index n, std::size_t unit_seeded) {
  auto compiled = tyche::compile_gradient(f, random_vector(n, 1));
  REQUIRE(compiled.unit_seeded() == unit_seeded);
  Eigen::VectorXd g_compiled(n), g_eager(n);
  for (int k = 0; k < 5; ++k) {
    const Eigen::VectorXd q = random_vector(n, 200 + unsigned(k));
    REQUIRE(compiled(q, g_compiled) == Approx(tyche::value_and_grad(f, q, g_eager)).epsilon(1e-13));
    for (Eigen::Index i = 0; i < n; ++i) REQUIRE(g_compiled[i] == Approx(g_eager[i]).epsilon(1e-13).margin(1e-14));
  }
}


}  // namespace

TEST_CASE("a compiled gradient replays elementwise, reduction and broadcasting operations exactly") {
  const Tensor m{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  require_replay_matches_eager(
      [&](const Tensor& q) {
        const Tensor a = q.slice(0, 3), b = q.slice(3, 5).reshape({2, 1});
        const Tensor t = tyche::exp(a) * m + b - tyche::softplus(b * 2.0) / (1.0 + tyche::square(a));
        return tyche::sum(tyche::logsumexp(t, 1)) + tyche::mean(tyche::tanh(t)) + tyche::max(t) +
               tyche::sum(tyche::log_sigmoid(a)) - 3.0 * q[5];
      },
      6);
}

TEST_CASE("a compiled gradient replays linear algebra and indexing exactly") {
  require_replay_matches_eager(
      [](const Tensor& q) {
        const Tensor b = q.slice(0, 9).reshape({3, 3});
        const Tensor a = tyche::matmul(b, tyche::transpose(b)) + 3.0 * tyche::Tensor{{1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}, {0.0, 0.0, 1.0}};
        const Tensor l = tyche::cholesky(a);
        const Tensor z = tyche::solve_triangular(l, q.slice(9, 12));
        const Tensor picked = q[Tensor{0.0, 2.0, 2.0, 11.0}];
        const Tensor joined = tyche::concatenate({picked, tyche::diagonal(l), Tensor{7.0}});
        return tyche::dot(z, z) + 2.0 * tyche::sum(tyche::log(tyche::diagonal(l))) +
               tyche::sum(tyche::where(joined > 0.0, joined, -joined)) +
               tyche::sum(tyche::stack({z, tyche::stop_gradient(z)}, -1));
      },
      12);
}

TEST_CASE("a compiled gradient replays the fused log densities") {
  const Tensor y{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
  const Tensor sigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  const Tensor outcomes{1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0};
  require_replay_matches_eager_closely(
      [&](const Tensor& q) {
        const Tensor mu = q[0], tau = tyche::exp(q[1]), theta_tilde = q.slice(2, 10);
        return tyche::add_n({tyche::normal_log_density_sum(mu, 0.0, 5.0),
                             tyche::cauchy_log_density_sum(tau, 0.0, 5.0), q[1],
                             tyche::normal_log_density_sum(theta_tilde, 0.0, 1.0),
                             tyche::normal_log_density_sum(y, mu + tau * theta_tilde, sigma),
                             tyche::sum(tyche::normal_log_density(theta_tilde, mu, tau)),
                             tyche::bernoulli_logit_log_mass_sum(outcomes, theta_tilde)});
      },
      10, 4);
}

TEST_CASE("a compiled gradient refuses to read values that depend on the parameters, with its own exception type") {
  auto branchy = [](const Tensor& q) { return q[0].item() > 0.0 ? tyche::sum(q) : -tyche::sum(q); };
  REQUIRE_THROWS_WITH(tyche::compile_gradient(branchy, Eigen::VectorXd::Ones(2)),
                      Catch::Contains("compiled gradient cannot read the value"));
  REQUIRE_THROWS_AS(tyche::compile_gradient(branchy, Eigen::VectorXd::Ones(2)), tyche::ConcretizationError);
  // Reading a constant while recording is fine.
  const Tensor data = 2.0;
  auto reads_data = [&](const Tensor& q) { return data.item() > 0.0 ? tyche::sum(q) : Tensor(0.0); };
  Eigen::VectorXd g2(2);
  REQUIRE(tyche::compile_gradient(reads_data, Eigen::VectorXd::Ones(2))(Eigen::VectorXd::Ones(2), g2) == 2.0);
  // The eager path runs the function every time, so it may branch.
  Eigen::VectorXd g(2);
  REQUIRE(tyche::value_and_grad(branchy, Eigen::VectorXd::Constant(2, -1.0), g) == 2.0);
  REQUIRE(g[0] == -1.0);
}

TEST_CASE("a replayed operation that fails throws, and the next replay works") {
  auto f = [](const Tensor& q) {
    return tyche::sum(tyche::log(tyche::diagonal(tyche::cholesky(q.reshape({2, 2})))));
  };
  Eigen::VectorXd good(4), bad(4), g(4);
  good << 2.0, 0.5, 0.5, 3.0;
  bad << 1.0, 2.0, 2.0, 1.0;
  auto compiled = tyche::compile_gradient(f, good);
  const double expected = compiled(good, g);
  REQUIRE_THROWS_WITH(compiled(bad, g), Catch::Contains("positive definite"));
  REQUIRE(compiled(good, g) == expected);
}

TEST_CASE("a compiled gradient checks the sizes it is called with") {
  auto compiled = tyche::compile_gradient([](const Tensor& q) { return tyche::sum(q); },
                                          Eigen::VectorXd::Ones(3));
  Eigen::VectorXd g(2);
  REQUIRE_THROWS_AS(compiled(Eigen::VectorXd::Ones(3), g), tyche::ShapeError);
}

TEST_CASE("a compiled gradient keeps its own captures alive") {
  auto make = [] {
    const Tensor data{1.0, 2.0, 3.0};  // dies with this scope; the lambda holds a copy
    return tyche::compile_gradient([data](const Tensor& q) { return tyche::sum(data * q); },
                                   Eigen::VectorXd::Zero(3));
  };
  auto compiled = make();
  Eigen::VectorXd g(3);
  REQUIRE(compiled(Eigen::VectorXd::Ones(3), g) == 6.0);
  REQUIRE(g == Eigen::Vector3d(1.0, 2.0, 3.0));
}


TEST_CASE("a compiled log joint adds the gradients of its density terms in the forward sweep when it can") {
  const Tensor y{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
  const Tensor sigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  using tyche::add_n, tyche::normal_log_density_sum, tyche::cauchy_log_density_sum;
  SECTION("eight schools: every density term qualifies") {
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          const Tensor mu = q[0], tau = tyche::exp(q[1]), theta_tilde = q.slice(2, 10);
          return add_n({normal_log_density_sum(mu, 0.0, 5.0), cauchy_log_density_sum(tau, 0.0, 5.0), q[1],
                        normal_log_density_sum(theta_tilde, 0.0, 1.0),
                        normal_log_density_sum(y, tyche::fma(tau, theta_tilde, mu), sigma)});
        },
        10, 4);
  }
  SECTION("a term that appears twice in the sum does not") {
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          const Tensor a = normal_log_density_sum(q.slice(0, 3), q[3], tyche::exp(q[4]));
          const Tensor b = cauchy_log_density_sum(q[0], q[1], 2.0);
          return add_n({a, b, a, q[2], q[2]});
        },
        5, 1);
  }
  SECTION("a term that a later term reads does not") {
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          const Tensor first = normal_log_density_sum(q.slice(0, 3), q[3], tyche::exp(q[4]));
          const Tensor second = normal_log_density_sum(first, q[3], 40.0);
          return add_n({first, second});
        },
        5, 1);
  }
  SECTION("a location that two terms read is not fused, and both terms qualify") {
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          const Tensor loc = tyche::fma(q[0], q.slice(2, 10), q[1]);
          const Tensor likelihood = normal_log_density_sum(y, loc, sigma);
          const Tensor prior = normal_log_density_sum(loc, 0.0, 3.0);
          return add_n({likelihood, prior});
        },
        10, 2);
  }
  SECTION("nor when the other terms read it through a slice or an element") {
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          const Tensor loc = tyche::fma(q[0], q.slice(2, 10), q[1]);
          const Tensor likelihood = normal_log_density_sum(y, loc, sigma);
          const Tensor prior = normal_log_density_sum(loc.slice(3, 6), 0.0, 3.0);
          const Tensor other = cauchy_log_density_sum(1.5, loc[7], 2.0);
          return add_n({likelihood, prior, other});
        },
        10, 3);
  }
  SECTION("a negated or scaled sum keeps them (a potential is the negated log joint)") {
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          return -add_n({normal_log_density_sum(q.slice(0, 3), q[3], tyche::exp(q[4])), q[0]});
        },
        5, 1);
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          return 2.5 * add_n({normal_log_density_sum(q.slice(0, 3), q[3], tyche::exp(q[4])), q[0]});
        },
        5, 1);
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          return -(0.5 * -add_n({normal_log_density_sum(q.slice(0, 3), q[3], tyche::exp(q[4])), q[0]}));
        },
        5, 1);
  }
  SECTION("a sum that is not the result leaves every node to the backward sweep") {
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          return add_n({normal_log_density_sum(q.slice(0, 3), q[3], tyche::exp(q[4])), q[0]}) + q[1];
        },
        5, 0);
    require_replay_matches_eager_closely(
        [&](const Tensor& q) {
          return -tyche::exp(add_n({normal_log_density_sum(q.slice(0, 3), q[3], tyche::exp(q[4])), q[0]}) * 0.01);
        },
        5, 0);
  }
}

TEST_CASE("a compiled gradient does not replay what nothing on the way to the result reads") {
  const Tensor y{1.0, -2.0, 0.5};
  auto with_dead_values = [&](const Tensor& q) {
    const Tensor mu = q[0], sigma = tyche::exp(q[1]);
    const Tensor unused = tyche::exp(mu) * tyche::sin(sigma) + 4.0;   // three dead nodes
    const Tensor also_unused = tyche::normal_log_density(y, mu, sigma);  // a dead density
    return tyche::normal_log_density_sum(y, mu, sigma) + tyche::square(mu);
  };
  auto without = [&](const Tensor& q) {
    return tyche::normal_log_density_sum(y, q[0], tyche::exp(q[1])) + tyche::square(q[0]);
  };
  Eigen::VectorXd q(2);
  q << 0.3, -0.2;
  auto compiled = tyche::compile_gradient(with_dead_values, q);
  REQUIRE(compiled.recorded() == 9);
  REQUIRE(compiled.size() == tyche::compile_gradient(without, q).size());
  REQUIRE(compiled.size() == 4);
  for (int k = 0; k < 3; ++k) {
    const Eigen::VectorXd at = random_vector(2, 40 + unsigned(k));
    Eigen::VectorXd g(2), g_eager(2);
    REQUIRE(compiled(at, g) == tyche::value_and_grad(with_dead_values, at, g_eager));
    REQUIRE(g == g_eager);
  }
}

TEST_CASE("a compiled density absorbs its fma wherever the two were recorded") {
  const Tensor y{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
  const Tensor sigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  // As in a model: the location is computed, other sites run, and the
  // densities are evaluated in the order of the sites afterwards.
  auto model_order = [&](const Tensor& q) {
    const Tensor mu = q[0], tau = tyche::exp(q[1]), theta_tilde = q.slice(2, 10);
    const Tensor theta = tyche::fma(tau, theta_tilde, mu);
    const Tensor theta_copy_for_nobody = theta * 1.0;  // dead: does not block the fusion
    const Tensor prior_mu = tyche::normal_log_density_sum(mu, 0.0, 5.0);
    const Tensor prior_tau = tyche::half_cauchy_log_density_sum(tau, 5.0);
    const Tensor prior_theta = tyche::normal_log_density_sum(theta_tilde, 0.0, 1.0);
    const Tensor likelihood = tyche::normal_log_density_sum(y, theta, sigma);
    return -tyche::add_n({prior_mu, prior_tau, q[1], prior_theta, likelihood});
  };
  auto compiled = tyche::compile_gradient(model_order, random_vector(10, 3));
  REQUIRE(compiled.fused() == 1);
  REQUIRE(compiled.unit_seeded() == 4);
  REQUIRE(compiled.size() == 6);  // exp, four densities, the sum
  for (int k = 0; k < 4; ++k) {
    const Eigen::VectorXd q = random_vector(10, 60 + unsigned(k));
    Eigen::VectorXd g(10), g_eager(10);
    REQUIRE(compiled(q, g) == Approx(tyche::value_and_grad(model_order, q, g_eager)).epsilon(1e-13));
    for (Eigen::Index i = 0; i < 10; ++i) REQUIRE(g[i] == Approx(g_eager[i]).epsilon(1e-13).margin(1e-14));
  }
}

TEST_CASE("a replay at a point where the recorded model is invalid gives a non-finite value, never a finite wrong one") {
  const Tensor y{1.0, -2.0, 0.5};
  // The scale exp(q[1]) was checked positive while recording; at q[1] = -800 it underflows to 0.
  auto log_joint = [&](const Tensor& q) {
    const Tensor sigma = tyche::exp(q[1]);
    return tyche::add_n({tyche::normal_log_density_sum(y, q[0], sigma), tyche::cauchy_log_density_sum(y, q[0], sigma),
                         tyche::half_normal_log_density_sum(q[2] - 1.0, 2.0)});
  };
  Eigen::VectorXd q(3), g(3);
  q << 0.3, -0.2, 4.0;
  auto compiled = tyche::compile_gradient(log_joint, q);
  REQUIRE(std::isfinite(compiled(q, g)));
  q[1] = -800.0;
  REQUIRE_FALSE(std::isfinite(compiled(q, g)));
  // A half density's value, computed from the parameters, turning negative.
  q << 0.3, -0.2, 0.5;
  REQUIRE(compiled(q, g) == -std::numeric_limits<double>::infinity());
  q << 0.3, -0.2, 1.0;  // exactly 0: outside the positive support too, as log_prob says
  REQUIRE(compiled(q, g) == -std::numeric_limits<double>::infinity());
  // And the next replay at a valid point is right again.
  q << 0.3, -0.2, 4.0;
  Eigen::VectorXd g_eager(3);
  REQUIRE(compiled(q, g) == Approx(tyche::value_and_grad(log_joint, q, g_eager)).epsilon(1e-13));
}

TEST_CASE("a product and a sum written as users write them become an fma, which the density absorbs") {
  const Tensor x{0.5, -1.0, 2.0, 3.5, -0.25}, y{1.0, -2.0, 4.5, 7.0, 0.0};
  auto as_written = [&](const Tensor& q) {
    const Tensor alpha = q[0], beta = q[1], sigma = tyche::exp(q[2]);
    const Tensor mu = alpha + beta * x;
    return -tyche::add_n({tyche::normal_log_density_sum(alpha, 0.0, 10.0), tyche::normal_log_density_sum(beta, 0.0, 5.0),
                          tyche::half_normal_log_density_sum(sigma, 1.0), q[2],
                          tyche::normal_log_density_sum(y, mu, sigma)});
  };
  auto with_fma = [&](const Tensor& q) {
    const Tensor alpha = q[0], beta = q[1], sigma = tyche::exp(q[2]);
    return -tyche::add_n({tyche::normal_log_density_sum(alpha, 0.0, 10.0), tyche::normal_log_density_sum(beta, 0.0, 5.0),
                          tyche::half_normal_log_density_sum(sigma, 1.0), q[2],
                          tyche::normal_log_density_sum(y, tyche::fma(beta, x, alpha), sigma)});
  };
  auto compiled = tyche::compile_gradient(as_written, random_vector(3, 7));
  REQUIRE(compiled.fused() == 1);
  REQUIRE(compiled.size() == tyche::compile_gradient(with_fma, random_vector(3, 7)).size());
  REQUIRE(compiled.unit_seeded() == 4);
  for (int k = 0; k < 4; ++k) {
    const Eigen::VectorXd q = random_vector(3, 80 + unsigned(k));
    Eigen::VectorXd g(3), g_eager(3);
    REQUIRE(compiled(q, g) == Approx(tyche::value_and_grad(as_written, q, g_eager)).epsilon(1e-13));
    for (Eigen::Index i = 0; i < 3; ++i) REQUIRE(g[i] == Approx(g_eager[i]).epsilon(1e-13).margin(1e-14));
  }
  // A sum of the product with itself, or a product read elsewhere, stays as written.
  auto doubled = [](const Tensor& q) {
    const Tensor p = q[0] * q[1];
    return tyche::sum(p + p);
  };
  auto shared = [&](const Tensor& q) {
    const Tensor p = q[1] * x;
    return tyche::sum(q[0] + p) + tyche::sum(tyche::square(p));
  };
  Eigen::VectorXd q(2), g(2), g_eager(2);
  q << 1.5, -0.5;
  auto compiled_doubled = tyche::compile_gradient(doubled, q);
  REQUIRE(compiled_doubled(q, g) == tyche::value_and_grad(doubled, q, g_eager));
  REQUIRE(g == g_eager);
  auto compiled_shared = tyche::compile_gradient(shared, q);
  REQUIRE(compiled_shared(q, g) == tyche::value_and_grad(shared, q, g_eager));
  REQUIRE(g == g_eager);
}

TEST_CASE("a compiled gradient replays a run of one-element operations as one scalar block, exactly") {
  const auto every_scalar_operation = [](const Tensor& q) {
    const Tensor a = q[0], b = q[1], c = q[2];
    const Tensor d = (a + b) - c;
    const Tensor e = d * a / tyche::sqrt(b * b + 0.5);
    const Tensor f = -(e * 3.0) + tyche::fma(a, c, e);
    const Tensor h = (2.0 - f) / 4.0 - 1.5;
    // Moves stacking h, e and d: h's and e's fold into the instructions
    // computing them (e's readers then read it in the stacked array); d is
    // read after its move (by the fma of the second block below), which stays.
    const Tensor series = tyche::stack(std::vector<Tensor>{h, e, d});
    const Tensor d_squared = d * d;
    return tyche::sum(tyche::exp(series)) + tyche::sum(tyche::square(series)) + d_squared;
  };
  // add, subtract, multiply (2), add_constant, sqrt, divide, scale, negate,
  // fma, add, constant_minus, divide_by_constant, subtract_constant, three
  // moves; after the sums, a second block: their add, and d * d + that as an fma.
  REQUIRE(tyche::compile_gradient(every_scalar_operation, random_vector(3, 1)).in_scalar_blocks() == 19);
  require_replay_matches_eager(every_scalar_operation, 3);
}
