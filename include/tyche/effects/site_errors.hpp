// Errors that name the site: what apply_stack checks in a site's value, and
// the context it adds to any exception raised while a site is processed.
//
//   auto model = [](const tyche::Tensor& y) {
//     tyche::plate data("data", 5);
//     tyche::sample("obs", tyche::dist::Normal(0.0, 1.0), y);
//   };
//   tyche::trace(model).get_trace(tyche::Tensor{1.0, 2.0, 3.0});
//   // ShapeError: "tyche: site `obs` (in plate `data` of size 5): the observed value has
//   // shape (3,), which does not broadcast to the shape (5,) of the site's Normal ..."
//
// An observation must be finite wherever the site's log density counts it: a
// NaN or infinite element throws, naming the site and the element's index,
// unless a mask (tyche::mask, Distribution::mask) leaves it out.
#pragma once

#include "tyche/core/broadcast.hpp"
#include "tyche/effects/message.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

namespace tyche::detail {

// "site `obs`", "site `obs` (in plate `data` of size 5)", "param `w`", "plate `batch`".
inline std::string describe_site(const Message& msg) {
  std::string s = msg.type == SiteType::sample ? "site" : std::string(to_string(msg.type));
  s += " `" + msg.name + "`";
  // Outermost plate first: cond_indep_stack lists them innermost first.
  const auto& plates = msg.cond_indep_stack;
  for (std::size_t i = 0; i < plates.size(); ++i) {
    const CondIndepStackFrame& plate = plates[plates.size() - 1 - i];
    s += i == 0 ? (plates.size() == 1 ? " (in plate " : " (in plates ") : i + 1 == plates.size() ? " and " : ", ";
    s += "`" + plate.name + "` of size " + std::to_string(plate.size);
  }
  return plates.empty() ? s : s + ")";
}

// "index 1", "index (1, 2)": the multi-index of element `flat` of a
// row-major array of this shape.
inline std::string describe_index(const Shape& shape, std::int64_t flat) {
  std::vector<std::int64_t> index(std::size_t(shape.rank()));
  for (int axis = shape.rank() - 1; axis >= 0; --axis) {
    index[std::size_t(axis)] = flat % shape[axis];
    flat /= shape[axis];
  }
  if (index.size() == 1) return "index " + std::to_string(index[0]);
  std::string s = "index (";
  for (std::size_t i = 0; i < index.size(); ++i) s += (i ? ", " : "") + std::to_string(index[i]);
  return s + ")";
}

// A value given to a sample site (observed, substituted, replayed) must
// broadcast to the shape of the site's draws.
inline void check_value_shape(const Message& msg) {
  const Shape& value = msg.value->shape();
  const dist::Distribution& fn = *msg.fn;
  const Shape expected = fn.shape(msg.sample_shape);
  for (int i = 1; i <= std::min(value.rank(), expected.rank()); ++i) {
    const std::int64_t given = value[value.rank() - i], wanted = expected[expected.rank() - i];
    if (given == wanted || given == 1 || wanted == 1) continue;
    std::string where = "at dim " + std::to_string(-i) + " it has size " + std::to_string(given) + " where ";
    const int batch_dim = -(i - fn.event_dim());
    const auto plate = std::find_if(msg.cond_indep_stack.begin(), msg.cond_indep_stack.end(),
                                    [&](const CondIndepStackFrame& f) { return f.dim == batch_dim; });
    if (i <= fn.event_dim()) where += "the event has size " + std::to_string(wanted);
    else if (plate != msg.cond_indep_stack.end()) where += "plate `" + plate->name + "` has size " + std::to_string(wanted);
    else where += "the batch has size " + std::to_string(wanted);
    throw ShapeError("tyche: " + describe_site(msg) + ": the " + (msg.is_observed ? "observed value" : "value") +
                     " has shape " + value.str() + ", which does not broadcast to the shape " + expected.str() +
                     " of the site's " + fn.name() + " (batch shape " + fn.batch_shape().str() + ", event shape " +
                     fn.event_shape().str() + "): " + where + "; give the site a value of shape " + expected.str() +
                     " (or one that broadcasts to it)");
  }
}

// Throws at the first element of an observation that is NaN or infinite
// where the site's log density counts it. An observation computed from the
// parameters is not read while a compiled gradient records (its value then
// is the recording's, not the data's); the eager evaluation checks it.
inline void check_observation_finite(const Message& msg) {
  const Tensor& value = *msg.value;
  if (value.requires_grad() && this_thread_tape().tracing()) return;
  const double* v = Access::values_unguarded(value);  // not a parameter's value while tracing (returned above)
  const std::int64_t n = value.size();
  std::int64_t bad = std::find_if(v, v + n, [](double x) { return !std::isfinite(x); }) - v;
  if (bad == n) return;
  if (const std::optional<Tensor> mask = msg.fn->value_mask()) {
    // An element is left out when the mask is 0 everywhere it broadcasts to.
    std::vector<bool> counted(std::size_t(n), false);
    const double* m = Access::values_unguarded(*mask);  // masks are data
    const auto plan = BroadcastPlan<2>::make({value.shape(), mask->shape()}, "mask");
    plan.for_each([&](std::int64_t, const auto& at) {
      if (m[at[1]] != 0.0) counted[std::size_t(at[0])] = true;
    });
    while (bad < n && (std::isfinite(v[bad]) || !counted[std::size_t(bad)])) ++bad;
    if (bad == n) return;
  }
  std::ostringstream message;
  message << "tyche: " << describe_site(msg) << ": the observed value is " << v[bad];
  if (value.ndim() > 0) message << " at " << describe_index(value.shape(), bad) << " (of shape " << value.shape().str() << ")";
  message << "; an observation must be finite: drop the element, or leave it out of the log density with a mask "
             "(tyche::mask or the distribution's .mask(...)), under which it may be NaN";
  throw std::invalid_argument(message.str());
}

inline void check_site_value(const Message& msg) {
  if (msg.type != SiteType::sample || !msg.value || !msg.fn) return;
  check_value_shape(msg);
  if (msg.is_observed) check_observation_finite(msg);
}

// Call inside a catch block: rethrows the exception in flight with the site
// named in front of its message, keeping its type. Exceptions of other types
// (a user's own), and messages that already name the site, pass unchanged.
[[noreturn]] inline void rethrow_naming_site(const Message& msg) {
  try {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (msg.name.empty() || what.find("`" + msg.name + "`") != std::string::npos) throw;
    if (what.rfind("tyche: ", 0) == 0) what.erase(0, 7);
    const std::string message = "tyche: " + describe_site(msg) + ": " + what;
    const std::type_info& type = typeid(e);
    if (type == typeid(ShapeError)) throw ShapeError(message);
    if (type == typeid(std::invalid_argument)) throw std::invalid_argument(message);
    if (type == typeid(std::domain_error)) throw std::domain_error(message);
    if (type == typeid(std::out_of_range)) throw std::out_of_range(message);
    if (type == typeid(std::logic_error)) throw std::logic_error(message);
    if (type == typeid(std::runtime_error)) throw std::runtime_error(message);
    throw;
  }
}

}  // namespace tyche::detail
