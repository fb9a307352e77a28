// Values and a model that several test files share, defined once so that the
// test files can also be compiled together (CMake's unity build: a definition
// in two files' anonymous namespaces would clash there).
//
//   using tyche_test::kInf;
//   mcmc.run(0, 8, tyche_test::kSchoolsSigma, tyche_test::kSchoolsY);
#pragma once

#include <tyche/distributions/continuous.hpp>
#include <tyche/effects/plate.hpp>
#include <tyche/effects/primitives.hpp>

#include <limits>

namespace tyche_test {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Seed 001's eight schools: the observed effects and their standard errors,
// and the centred model.
inline const tyche::Tensor kSchoolsY{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
inline const tyche::Tensor kSchoolsSigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
inline void eight_schools(int J, const tyche::Tensor& sigma, const tyche::Tensor& y) {
  const tyche::Tensor mu = tyche::sample("mu", tyche::dist::Normal(0.0, 5.0));
  const tyche::Tensor tau = tyche::sample("tau", tyche::dist::HalfCauchy(5.0));
  tyche::plate schools("J", J);
  const tyche::Tensor theta = tyche::sample("theta", tyche::dist::Normal(mu, tau));
  tyche::sample("obs", tyche::dist::Normal(theta, sigma), y);
}

}  // namespace tyche_test
