// biject_to(constraint): a transform from unconstrained real space onto the set
// a continuous constraint describes (NumPyro's biject_to registry). Samplers
// move in the unconstrained space; the transform's log-determinant corrects
// the density there.
//
//   auto t = tyche::biject_to(tyche::constraints::interval(0.0, 2.0));
//   tyche::Tensor x{-30.0, 0.0, 30.0};
//   tyche::Tensor y = t->forward(x);                    // inside [0, 2]
//   tyche::Tensor ld = t->log_abs_det_jacobian(x, y);   // shape (3,)
//   tyche::biject_to(tyche::constraints::simplex)->forward_shape({4});  // (5,)
#pragma once

#include "tyche/distributions/constraints.hpp"
#include "tyche/distributions/transforms.hpp"

#include <memory>
#include <stdexcept>
#include <type_traits>

namespace tyche {

template <class C = constraints::Constraint>
transforms::TransformPtr biject_to(const std::type_identity_t<C>& c) {
  namespace tr = transforms;
  using constraints::Kind;
  const constraints::Constraint base(c.kind(), c.lower(), c.upper());
  if (!c.is_discrete() && c.event_dim() > base.event_dim())
    return std::make_shared<tr::IndependentTransform>(biject_to<C>(base), c.event_dim() - base.event_dim());
  const auto compose = [](tr::TransformPtr first, tr::TransformPtr second) {
    return std::make_shared<tr::ComposeTransform>(std::vector<tr::TransformPtr>{std::move(first), std::move(second)});
  };
  switch (c.kind()) {
    case Kind::real: return std::make_shared<tr::IdentityTransform>();
    // As NumPyro, nonnegative too: the boundary 0 has no preimage, which no density notices.
    case Kind::positive:
    case Kind::nonnegative: return std::make_shared<tr::ExpTransform>();
    case Kind::softplus_positive: return std::make_shared<tr::SoftplusTransform>();
    case Kind::greater_than:
      return compose(std::make_shared<tr::ExpTransform>(),
                     std::make_shared<tr::AffineTransform>(c.lower(), 1.0, constraints::positive));
    case Kind::less_than:
      return compose(std::make_shared<tr::ExpTransform>(),
                     std::make_shared<tr::AffineTransform>(c.upper(), -1.0, constraints::positive));
    case Kind::unit_interval: return std::make_shared<tr::SigmoidTransform>();
    case Kind::interval: {
      const Tensor width = c.upper() - c.lower();
      // Validation only: a replay at bounds that cross gives NaN, not a wrong number.
      const double* w = detail::Access::values_unguarded(width);
      for (std::int64_t i = 0; i < width.size(); ++i)
        if (!(w[i] > 0.0 && std::isfinite(w[i])))
          throw std::invalid_argument("tyche: biject_to: " + c.str() +
                                      ": lower_bound must be finite and less than upper_bound");
      return compose(std::make_shared<tr::SigmoidTransform>(),
                     std::make_shared<tr::AffineTransform>(c.lower(), width, constraints::unit_interval));
    }
    case Kind::simplex: return std::make_shared<tr::StickBreakingTransform>();
    case Kind::ordered_vector: return std::make_shared<tr::OrderedTransform>();
    case Kind::lower_cholesky: return std::make_shared<tr::LowerCholeskyTransform>();
    case Kind::softplus_lower_cholesky: return std::make_shared<tr::SoftplusLowerCholeskyTransform>();
    case Kind::scaled_unit_lower_cholesky: return std::make_shared<tr::ScaledUnitLowerCholeskyTransform>();
    case Kind::corr_cholesky: return std::make_shared<tr::CorrCholeskyTransform>();
    // Through its Cholesky factor, L -> L L^T.
    case Kind::positive_definite:
      return compose(std::make_shared<tr::LowerCholeskyTransform>(),
                     tr::inv(std::make_shared<tr::CholeskyTransform>()));
    default:  // the discrete kinds
      throw std::invalid_argument("tyche: biject_to: " + c.str() +
                                  " is a discrete constraint; no bijection from real space reaches it");
  }
}

}  // namespace tyche
