// ParamLayout: the param sites of a guide and a model laid out in one flat
// vector of unconstrained coordinates, the vector SVI's optimiser moves
// (NumPyro keeps a dict of params, each through biject_to(its constraint)).
//
//   tyche::ParamLayout layout(param_messages);     // the param sites of a trace
//   Eigen::VectorXd u = layout.unconstrain({{"loc", 0.5}, {"scale", 2.0}});
//   tyche::ValueMap params = layout.constrain(tyche::Tensor(u));   // differentiable in u
//   layout.find("scale")->offset;
#pragma once

#include "tyche/distributions/biject_to.hpp"
#include "tyche/effects/message.hpp"
#include "tyche/effects/site_errors.hpp"

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tyche {

// One param site's place in the flat unconstrained vector.
struct ParamSite {
  std::string name;
  std::int64_t offset = 0;
  Shape shape;                // of its (constrained) value
  Shape unconstrained_shape;  // biject_to(constraint)->inverse_shape(shape)
  constraints::Constraint constraint;
  transforms::TransformPtr transform;  // biject_to(constraint)
  std::int64_t size() const { return unconstrained_shape.numel(); }
};

// The param sites of a guide and a model, in the order of their names, and
// their coordinates in the flat vector the optimiser moves.
class ParamLayout {
 public:
  ParamLayout() = default;
  // From the param sites' messages (a later message of the same name wins).
  template <class M = Message>
  explicit ParamLayout(const std::vector<std::type_identity_t<M>>& params) {
    std::map<std::string, const Message*> by_name;
    for (const Message& site : params) by_name[site.name] = &site;
    for (const auto& [name, site] : by_name) {
      const constraints::Constraint constraint = site->constraint.value_or(constraints::real);
      if (constraint.is_discrete())
        throw std::invalid_argument("tyche: SVI: " + detail::describe_site(*site) + " has the discrete constraint " +
                                    constraint.str() + ": an optimiser moves params in a continuous space");
      transforms::TransformPtr transform = biject_to(constraint);
      const Shape shape = site->value->shape();
      sites_.push_back({name, size_, shape, transform->inverse_shape(shape), constraint, std::move(transform)});
      size_ += sites_.back().size();
    }
  }

  const std::vector<ParamSite>& sites() const { return sites_; }
  std::int64_t size() const { return size_; }
  std::string names() const {
    std::string out;
    for (const ParamSite& site : sites_) out += (out.empty() ? "`" : ", `") + site.name + "`";
    return out.empty() ? "none" : out;
  }
  const ParamSite* find(std::string_view name) const {
    for (const ParamSite& site : sites_)
      if (site.name == name) return &site;
    return nullptr;
  }

  // The constrained value of every param at the coordinates u (a rank-1
  // array of length size()); differentiable in u.
  template <class T = Tensor>
  ValueMap constrain(const std::type_identity_t<T>& u) const {
    ValueMap values;
    for (const ParamSite& site : sites_) {
      const Tensor coordinates = u.slice(site.offset, site.offset + site.size()).reshape(site.unconstrained_shape);
      values.emplace(site.name, site.constraint.kind() == constraints::Kind::real ? coordinates
                                                                                  : site.transform->forward(coordinates));
    }
    return values;
  }

  // The coordinates of constrained values, one for every param; a value
  // outside its constraint is an error naming the param.
  template <class T = Tensor>
  Eigen::VectorXd unconstrain(const std::map<std::string, std::type_identity_t<T>, std::less<>>& values) const {
    Eigen::VectorXd u(size_);
    for (const ParamSite& site : sites_) {
      const auto it = values.find(site.name);
      if (it == values.end()) throw std::invalid_argument("tyche: SVI: no value for param `" + site.name + "`");
      if (!(it->second.shape() == site.shape))
        throw ShapeError("tyche: SVI: param `" + site.name + "` has shape " + site.shape.str() + ", got a value of shape " +
                         it->second.shape().str());
      const Tensor coordinates = site.transform->inverse(it->second);
      const double* c = coordinates.data();
      for (std::int64_t i = 0; i < site.size(); ++i) {
        if (!std::isfinite(c[i]))
          throw std::invalid_argument("tyche: SVI: the value of param `" + site.name + "` lies outside its constraint " +
                                      site.constraint.str() + " (unconstrained coordinate " + std::to_string(i) +
                                      " is " + std::to_string(c[i]) + ")");
        u[Eigen::Index(site.offset + i)] = c[i];
      }
    }
    return u;
  }

 private:
  std::vector<ParamSite> sites_;
  std::int64_t size_ = 0;
};

}  // namespace tyche
