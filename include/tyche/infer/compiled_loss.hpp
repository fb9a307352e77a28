// CompiledLoss: what SVI steps with when it replays a recorded loss
// (auto_guide_elbo.hpp for the autoguides, guide_elbo.hpp for any guide
// under Trace_ELBO): the loss at the unconstrained params for a step's key,
// its gradient written into `gradient`, allocating nothing.
//
//   std::unique_ptr<tyche::detail::CompiledLoss> loss = ...;
//   double value = (*loss)(step_key, params, gradient);
#pragma once

#include "tyche/distributions/key.hpp"

#include <Eigen/Core>

namespace tyche::detail {

class CompiledLoss {
 public:
  virtual ~CompiledLoss() = default;
  virtual double operator()(Key key, const Eigen::VectorXd& params, Eigen::VectorXd& gradient) = 0;
};

}  // namespace tyche::detail
