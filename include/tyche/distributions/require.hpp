// Argument checks shared by samplers and distributions: a clear exception
// naming who complains, the parameter, the requirement and the first bad value.
//
//   tyche::detail::require_each("Normal", "scale", scale, "positive", [](double v) { return v > 0; });
//   // throws "tyche: Normal: scale must be positive, got -1 (element 2 of an array of shape (3,))"
#pragma once

#include "tyche/core/tensor.hpp"

#include <sstream>
#include <stdexcept>
#include <string>

namespace tyche::detail {

template <class Predicate>
void require_each(const std::string& who, const char* parameter, const Tensor& value, const char* requirement,
                  Predicate ok) {
  // Validation may read values a compiled gradient traces: a replay skips it,
  // and the density then gives a non-finite value where these checks would throw.
  const double* p = Access::values_unguarded(value);
  for (std::int64_t i = 0; i < value.size(); ++i) {
    if (ok(p[i])) continue;
    std::ostringstream message;
    message << "tyche: " << who << ": " << parameter << " must be " << requirement << ", got " << p[i];
    if (value.size() > 1) message << " (element " << i << " of an array of shape " << value.shape().str() << ")";
    throw std::invalid_argument(message.str());
  }
}

}  // namespace tyche::detail
