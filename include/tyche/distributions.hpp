// Layer 2 of tyche: random keys, distributions, constraints and transforms.
//
//   #include <tyche/distributions.hpp>
//   auto [key, subkey] = tyche::split(tyche::PRNGKey(0));
//   tyche::Tensor x = tyche::dist::Normal(0.0, 1.0).sample(subkey, {3});
#pragma once

#include "tyche/distributions/biject_to.hpp"
#include "tyche/distributions/constraints.hpp"
#include "tyche/distributions/continuous.hpp"
#include "tyche/distributions/delta.hpp"
#include "tyche/distributions/discrete.hpp"
#include "tyche/distributions/extra_continuous.hpp"
#include "tyche/distributions/extra_discrete.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/distributions/key.hpp"
#include "tyche/distributions/low_rank_mvn.hpp"
#include "tyche/distributions/mixtures.hpp"
#include "tyche/distributions/multivariate.hpp"
#include "tyche/distributions/ordinal.hpp"
#include "tyche/distributions/random.hpp"
#include "tyche/distributions/time_series.hpp"
#include "tyche/distributions/transformed.hpp"
#include "tyche/distributions/transforms.hpp"
#include "tyche/distributions/wrappers.hpp"
