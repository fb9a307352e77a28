// The potential energy on the unconstrained space (infer/potential.hpp):
// against the benchmark reference values (eight schools, non-centred), a hand
// computation and finite differences (a support depending on another site),
// pack/unpack both ways, the log-Jacobian factors NumPyro's
// _unconstrain_reparam adds, and the errors.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include "../bench/bench_data.hpp"
#include "../bench/bench_models.hpp"
#include "require_throws.hpp"

#include <cmath>
#include <numbers>

namespace {

namespace dist = tyche::dist;
using Eigen::VectorXd;
using tyche::Tensor;

// reference_values.txt of shared/data/bench, eight_schools_nc: the log joint
// in unconstrained space (u = mu, log tau, theta_tilde) without the log 2 of
// the half-Cauchy prior, and its gradient; also in bench_gradients.cpp.
constexpr double kEightSchoolsLogp = -42.512421996581196;
const VectorXd kEightSchoolsGrad = (VectorXd(10) << 0.0099468612896643112, 0.77491690354401399, 0.06032000000000004,
                                    0.35551999999999995, -0.20912500000000001, -0.47619834710743802,
                                    0.57199999999999995, -0.15651239669421488, -0.52703999999999995,
                                    0.50044444444444447)
                                       .finished();


// b ~ Exponential(1), x ~ Uniform(0, b), y ~ Normal(x, 0.5) observed: the
// support of x depends on b.
constexpr double kObserved = 0.3;
const auto kUniformBelowB = [] {
  const Tensor b = tyche::sample("b", dist::Exponential(1.0));
  const Tensor x = tyche::sample("x", dist::Uniform(0.0, b));
  tyche::sample("y", dist::Normal(x, 0.5), Tensor(kObserved));
};

// U by hand for kUniformBelowB, with u = (log b, logit(x / b)):
// -log p = b + log b - log N(y; x, 0.5), and log |J| = log b + log b + log s + log(1 - s).
double uniform_below_b_by_hand(double u_b, double u_x) {
  const double b = std::exp(u_b), s = 1.0 / (1.0 + std::exp(-u_x)), x = b * s;
  const double log_normal = -0.5 * std::pow((kObserved - x) / 0.5, 2) - std::log(0.5) - 0.5 * std::log(2 * std::numbers::pi);
  const double log_p = -b - std::log(b) + log_normal;
  const double log_jacobian = u_b + std::log(b) + std::log(s) + std::log1p(-s);
  return -(log_p + log_jacobian);
}

double relative_error(double got, double want) { return std::abs(got - want) / std::abs(want); }

}  // namespace

TEST_CASE("the latent layout lists the unobserved sample sites by name, with their unconstrained shapes") {
  const auto model = [] {
    const Tensor weights = tyche::sample("weights", dist::Dirichlet(Tensor{1.0, 2.0, 3.0}));
    tyche::factor("penalty", -tyche::sum(weights));
    tyche::plate data("data", 4);
    const Tensor z = tyche::sample("z", dist::Normal(0.0, 1.0));
    tyche::sample("a", dist::HalfNormal(1.0));
    tyche::sample("obs", dist::Normal(z, 1.0), Tensor{0.1, 0.2, 0.3, 0.4});
  };
  const auto potential = tyche::potential_energy(model);
  const tyche::LatentLayout& layout = potential.layout();
  // As NumPyro's ravel_pytree of the init_params dict: sorted by name.
  REQUIRE(layout.sites().size() == 3);
  CHECK(layout.names() == "a, weights, z");
  CHECK(layout["a"].offset == 0);
  CHECK(layout["a"].shape == tyche::Shape{4});
  CHECK(layout["weights"].offset == 4);
  CHECK(layout["weights"].shape == tyche::Shape{3});
  CHECK(layout["weights"].unconstrained_shape == tyche::Shape{2});  // stick-breaking: K - 1 coordinates
  CHECK(layout["z"].offset == 6);
  CHECK(layout.size() == 10);
  CHECK_FALSE(layout.contains("obs"));
  CHECK_FALSE(layout.contains("penalty"));
  CHECK(layout.find("obs") == nullptr);
  REQUIRE_THROWS_CONTAINING(layout["obs"], std::out_of_range, "`obs` is not a latent site", "a, weights, z");
}

TEST_CASE("eight schools (non-centred) as a model: the potential and its gradient equal the reference values") {
  const auto data = tyche_bench::make_eight_schools();
  const auto potential = tyche::potential_energy(tyche_bench::eight_schools_model(Tensor(data.y), Tensor(data.sigma)));
  REQUIRE(potential.layout().names() == "mu, tau, theta_tilde");  // the reference's order
  const VectorXd& u = data.point;
  // U = -(log joint + log 2): tyche's HalfCauchy has the log 2 the reference leaves out.
  const double expected = -(kEightSchoolsLogp + std::numbers::ln2);
  const VectorXd expected_grad = -kEightSchoolsGrad;
  const auto check = [&](double value, const VectorXd& grad) {
    CHECK(relative_error(value, expected) < 1e-10);
    for (Eigen::Index i = 0; i < u.size(); ++i) {
      INFO("gradient component " << i);
      CHECK(relative_error(grad[i], expected_grad[i]) < 1e-10);
    }
  };
  SECTION("eager") {
    const tyche::ValueAndGrad eager = tyche::value_and_grad(potential, u);
    check(eager.value, eager.grad);
  }
  SECTION("compiled, replayed twice") {
    auto compiled = tyche::compile_gradient(potential, VectorXd::Zero(10));
    VectorXd grad(10);
    for (int replay = 0; replay < 2; ++replay) check(compiled(u, grad), grad);
  }
  SECTION("the trace holds tau's log-Jacobian as a factor site, none for the real sites") {
    const tyche::Trace tr = potential.run(Tensor(u));
    REQUIRE(tr.contains("_tau_log_det"));
    const tyche::Message& factor = tr["_tau_log_det"];
    CHECK(factor.is_observed);
    CHECK(std::get<bool>(factor.infer.at("is_auxiliary")));
    CHECK(factor.fn->log_prob(*factor.value).item() == Approx(u[1]).epsilon(1e-15));  // log |d exp(v)/dv| = v
    CHECK(tr["tau"].value->item() == Approx(3.6).epsilon(1e-15));
    CHECK_FALSE(tr.contains("_mu_log_det"));
    CHECK_FALSE(tr.contains("_theta_tilde_log_det"));
  }
}

TEST_CASE("a support that depends on another site is derived at every evaluation, eager and compiled") {
  const auto potential = tyche::potential_energy(kUniformBelowB);
  REQUIRE(potential.layout().names() == "b, x");
  const VectorXd first = (VectorXd(2) << 0.4, -0.7).finished();
  const VectorXd second = (VectorXd(2) << -1.1, 1.3).finished();
  auto compiled = tyche::compile_gradient(potential, first);
  for (const VectorXd& u : {first, second}) {
    INFO("u = " << u.transpose());
    const tyche::ValueAndGrad eager = tyche::value_and_grad(potential, u);
    CHECK(eager.value == Approx(uniform_below_b_by_hand(u[0], u[1])).epsilon(1e-13));
    // Central differences of the hand computation: truncation error ~h^2 |U'''|,
    // rounding ~1e-16 / h; h = 1e-5 leaves both below 1e-8.
    constexpr double h = 1e-5;
    const double d_b = (uniform_below_b_by_hand(u[0] + h, u[1]) - uniform_below_b_by_hand(u[0] - h, u[1])) / (2 * h);
    const double d_x = (uniform_below_b_by_hand(u[0], u[1] + h) - uniform_below_b_by_hand(u[0], u[1] - h)) / (2 * h);
    CHECK(eager.grad[0] == Approx(d_b).margin(1e-8));
    CHECK(eager.grad[1] == Approx(d_x).margin(1e-8));
    // The replay recorded at `first` follows b to `second`: the interval's
    // transform is made of recorded operations, not frozen at b = e^0.4.
    VectorXd grad(2);
    CHECK(compiled(u, grad) == Approx(eager.value).epsilon(1e-14));
    CHECK(grad[0] == Approx(eager.grad[0]).epsilon(1e-14));
    CHECK(grad[1] == Approx(eager.grad[1]).epsilon(1e-14));
  }
}

TEST_CASE("the log-Jacobian factor is scaled and plated with its site") {
  // NumPyro issues the factor while the site is in flight, inside its
  // handlers: a scale of 3 multiplies the Jacobian term as well.
  const auto model = [] {
    tyche::scale weighted(3.0);
    tyche::plate data("data", 2);
    tyche::sample("s", dist::HalfNormal(1.0));
  };
  const auto potential = tyche::potential_energy(model);
  const VectorXd u = (VectorXd(2) << 0.2, -0.5).finished();
  double log_p = 0.0;
  for (double v : {u[0], u[1]}) {
    const double s = std::exp(v);
    log_p += std::log(2.0) - 0.5 * s * s - 0.5 * std::log(2 * std::numbers::pi) + v;  // half-normal density + log |J|
  }
  CHECK(tyche::value_and_grad(potential, u).value == Approx(-3.0 * log_p).epsilon(1e-14));
  const tyche::Trace tr = potential.run(Tensor(u));
  const tyche::Message& factor = tr["_s_log_det"];
  CHECK(factor.scale->item() == 3.0);
  REQUIRE(factor.cond_indep_stack.size() == 1);
  CHECK(factor.cond_indep_stack[0].name == "data");
}

TEST_CASE("pack and unpack map constrained values to the unconstrained vector and back") {
  SECTION("eight schools") {
    const auto data = tyche_bench::make_eight_schools();
    const auto potential = tyche::potential_energy(tyche_bench::eight_schools_model(Tensor(data.y), Tensor(data.sigma)));
    const Tensor theta_tilde{0.3, -0.2, 0.1, 0.5, -0.7, 0.05, 0.9, -0.4};
    const VectorXd u = potential.pack({{"mu", 4.4}, {"tau", 3.6}, {"theta_tilde", theta_tilde}});
    CHECK(u[0] == 4.4);
    CHECK(u[1] == Approx(std::log(3.6)).epsilon(1e-15));
    CHECK(u.tail(8) == theta_tilde.to_vector());
    const tyche::ValueMap values = potential.unpack(u);
    CHECK(values.size() == 3);
    CHECK(values.at("mu").item() == 4.4);
    CHECK(values.at("tau").item() == Approx(3.6).epsilon(1e-15));
    CHECK(values.at("theta_tilde").to_vector() == theta_tilde.to_vector());
  }
  SECTION("the interval of x is the one at the given b") {
    const auto potential = tyche::potential_energy(kUniformBelowB);
    const VectorXd u = potential.pack({{"b", 2.0}, {"x", 0.5}});
    CHECK(u[0] == Approx(std::log(2.0)).epsilon(1e-15));
    CHECK(u[1] == Approx(std::log(0.25 / 0.75)).epsilon(1e-14));  // logit(x / b)
    const tyche::ValueMap values = potential.unpack(u);
    CHECK(values.at("b").item() == Approx(2.0).epsilon(1e-15));
    CHECK(values.at("x").item() == Approx(0.5).epsilon(1e-14));
  }
  SECTION("a simplex and a value broadcast to its plate") {
    const auto model = [] {
      tyche::sample("w", dist::Dirichlet(Tensor{1.0, 1.0, 1.0}));
      tyche::plate data("data", 3);
      tyche::sample("z", dist::Exponential(1.0));
    };
    const auto potential = tyche::potential_energy(model);
    const VectorXd u = potential.pack({{"w", Tensor{0.2, 0.3, 0.5}}, {"z", 2.0}});
    REQUIRE(u.size() == 5);
    CHECK(u.tail(3).isApprox(VectorXd::Constant(3, std::log(2.0)), 1e-15));
    const tyche::ValueMap values = potential.unpack(u);
    CHECK(values.at("w").to_vector().isApprox((VectorXd(3) << 0.2, 0.3, 0.5).finished(), 1e-14));
    CHECK(values.at("z").shape() == tyche::Shape{3});
  }
}

TEST_CASE("the potential names the site or value it cannot handle") {
  SECTION("no latent site") {
    const auto observed_only = [] { tyche::sample("y", dist::Normal(0.0, 1.0), Tensor(0.5)); };
    REQUIRE_THROWS_CONTAINING(tyche::potential_energy(observed_only), std::invalid_argument, "no latent site");
  }
  SECTION("a latent Delta site, also inside a plate") {
    const auto model = [] {
      tyche::sample("mu", dist::Normal(0.0, 1.0));
      tyche::plate data("data", 3);
      tyche::sample("point_mass", dist::Delta(1.0));
    };
    REQUIRE_THROWS_CONTAINING(tyche::potential_energy(model), std::invalid_argument, "latent site `point_mass`",
                              "Delta", "tyche::deterministic");
  }
  SECTION("a discrete latent site") {
    const auto model = [] { tyche::sample("coin", dist::Bernoulli({.probs = 0.3})); };
    REQUIRE_THROWS_CONTAINING(tyche::potential_energy(model), std::invalid_argument, "latent site `coin`",
                              "discrete", "marginalise");
  }
  SECTION("a subsampling plate") {
    const auto model = [] {
      tyche::plate data("data", 100, 10);
      tyche::sample("z", dist::Normal(0.0, 1.0));
    };
    REQUIRE_THROWS_CONTAINING(tyche::potential_energy(model), std::invalid_argument, "plate `data`",
                              "subsamples 10 of 100");
  }
  SECTION("a vector of the wrong length") {
    const auto potential = tyche::potential_energy(kUniformBelowB);
    REQUIRE_THROWS_CONTAINING(tyche::value_and_grad(potential, VectorXd::Zero(3)), tyche::ShapeError, "(2,)",
                              "b, x", "(3,)");
  }
  SECTION("pack without a latent value, with a site that is not latent, outside the support") {
    const auto potential = tyche::potential_energy(kUniformBelowB);
    REQUIRE_THROWS_CONTAINING(potential.pack({{"b", 1.0}}), std::invalid_argument, "no value for latent site `x`");
    REQUIRE_THROWS_CONTAINING(potential.pack({{"b", 1.0}, {"x", 0.5}, {"y", 0.0}}), std::invalid_argument,
                              "`y` is not a latent site");
    REQUIRE_THROWS_CONTAINING(potential.pack({{"b", 1.0}, {"x", 1.5}}), std::invalid_argument, "site `x`",
                              "outside its support");
  }
  SECTION("a model that runs other latent sites than it did") {
    bool extra = false;
    const auto model = [&extra] {
      tyche::sample("a", dist::Normal(0.0, 1.0));
      if (extra) tyche::sample("b", dist::Normal(0.0, 1.0));
      else tyche::sample("c", dist::Normal(0.0, 1.0));
    };
    const auto potential = tyche::potential_energy(model);
    extra = true;
    REQUIRE_THROWS_CONTAINING(potential(Tensor{0.0, 0.0}), std::invalid_argument, "latent site `b`",
                              "the same sites");
    const auto without_c = [] { tyche::sample("a", dist::Normal(0.0, 1.0)); };
    const tyche::PotentialEnergy fewer(without_c, std::tuple<>{}, potential.layout());
    REQUIRE_THROWS_CONTAINING(fewer(Tensor{0.0, 0.0}), std::invalid_argument, "without its latent site(s) `c`");
  }
}

TEST_CASE("an observation computed from the parameters (seed 000's residuals) is differentiated through, compiled too") {
  // mu ~ Normal(0, 2), sigma ~ HalfNormal(1), and the residuals y - mu observed
  // as Normal(0, sigma): the observed value depends on mu.
  const Tensor y{0.4, -1.2, 2.5, 0.9};
  auto residuals = [y] {
    const Tensor mu = tyche::sample("mu", dist::Normal(0.0, 2.0));
    const Tensor sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
    tyche::plate data("data", 4);
    tyche::sample("r", dist::Normal(0.0, sigma), y - mu);
  };
  // By hand, u = (mu, log sigma): -U = log N(mu; 0, 2) + log HalfNormal(sigma; 1)
  // + sum log N(y_i - mu; 0, sigma) + log sigma.
  const auto by_hand = [&](double mu, double log_sigma) {
    const double sigma = std::exp(log_sigma), half_log_2pi = 0.5 * std::log(2 * std::numbers::pi);
    double log_p = -0.5 * mu * mu / 4.0 - std::log(2.0) - half_log_2pi;
    log_p += std::log(2.0) - 0.5 * sigma * sigma - half_log_2pi;
    for (Eigen::Index i = 0; i < 4; ++i) {
      const double r = y.at({i}) - mu;
      log_p += -0.5 * r * r / (sigma * sigma) - log_sigma - half_log_2pi;
    }
    return -(log_p + log_sigma);
  };
  const auto potential = tyche::potential_energy(residuals);
  REQUIRE(potential.layout().names() == "mu, sigma");
  VectorXd u(2);
  u << 0.3, -0.4;
  auto compiled = tyche::compile_gradient(potential, u);
  for (const VectorXd& at : {VectorXd(u), VectorXd((VectorXd(2) << -0.8, 0.6).finished())}) {
    const tyche::ValueAndGrad eager = tyche::value_and_grad(potential, at);
    CHECK(eager.value == Approx(by_hand(at[0], at[1])).epsilon(1e-13));
    // Central differences: truncation ~h^2 |U'''| and rounding ~1e-16 / h, both below 1e-8 at h = 1e-5.
    constexpr double h = 1e-5;
    CHECK(eager.grad[0] == Approx((by_hand(at[0] + h, at[1]) - by_hand(at[0] - h, at[1])) / (2 * h)).margin(1e-8));
    CHECK(eager.grad[1] == Approx((by_hand(at[0], at[1] + h) - by_hand(at[0], at[1] - h)) / (2 * h)).margin(1e-8));
    VectorXd grad(2);
    CHECK(compiled(at, grad) == Approx(eager.value).epsilon(1e-13));
    CHECK(grad[0] == Approx(eager.grad[0]).epsilon(1e-13));
    CHECK(grad[1] == Approx(eager.grad[1]).epsilon(1e-13));
  }
  // One fused density per site, the residuals and sigma's exp: nothing left to the handlers.
  CHECK(compiled.unit_seeded() == 3);
}
