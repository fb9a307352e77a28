// The benchmark problems of shared/data/bench/README.md written as a user
// writes them, with sample and plate: one definition for bench_gradients and
// the tests that check them against the reference values.
//
//   auto model = tyche_bench::eight_schools_model(y, sigma);
//   auto potential = tyche::potential_energy(model);
#pragma once

#include <tyche/tyche.hpp>

namespace tyche_bench {

// Eight schools, non-centred: mu ~ N(0, 5), tau ~ HalfCauchy(5),
// theta_tilde ~ N(0, 1) in a plate of 8, y ~ N(mu + tau theta_tilde, sigma).
inline auto eight_schools_model(tyche::Tensor y, tyche::Tensor sigma) {
  return [y, sigma] {
    namespace dist = tyche::dist;
    const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
    const tyche::Tensor tau = tyche::sample("tau", dist::HalfCauchy(5.0));
    tyche::plate schools("schools", 8);
    const tyche::Tensor theta_tilde = tyche::sample("theta_tilde", dist::Normal(0.0, 1.0));
    tyche::sample("y", dist::Normal(mu + tau * theta_tilde, sigma), y);
  };
}

// Linear regression: alpha ~ N(0, 10), beta ~ N(0, 5), sigma ~ HalfNormal(1),
// y ~ N(alpha + beta x, sigma) in a plate.
inline auto linreg_model(tyche::Tensor x, tyche::Tensor y) {
  return [x, y] {
    namespace dist = tyche::dist;
    const tyche::Tensor alpha = tyche::sample("alpha", dist::Normal(0.0, 10.0));
    const tyche::Tensor beta = tyche::sample("beta", dist::Normal(0.0, 5.0));
    const tyche::Tensor sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
    tyche::plate data("data", x.size());
    tyche::sample("y", dist::Normal(alpha + beta * x, sigma), y);
  };
}

// Logistic regression: alpha ~ N(0, 2.5), beta ~ N(0, 1) in a plate of
// features, y ~ Bernoulli(logits = alpha + X beta) in a plate of data.
inline auto logreg_model(tyche::Tensor X, tyche::Tensor y) {
  return [X, y] {
    namespace dist = tyche::dist;
    const tyche::Tensor alpha = tyche::sample("alpha", dist::Normal(0.0, 2.5));
    tyche::Tensor beta;
    {
      tyche::plate features("features", X.dim(1));
      beta = tyche::sample("beta", dist::Normal(0.0, 1.0));
    }
    tyche::plate data("data", X.dim(0));
    tyche::sample("y", dist::BernoulliLogits(alpha + tyche::matmul(X, beta)), y);
  };
}

}  // namespace tyche_bench
