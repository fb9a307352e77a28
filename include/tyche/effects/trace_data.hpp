// Trace: the sites of one model run, in execution order, by name (NumPyro's
// OrderedDict of messages). `tyche::trace` records one; `format_trace` prints
// the table of site, type, observed flag and value shape.
//
//   tyche::Trace tr = tyche::trace(tyche::seed(model, 0)).get_trace(x);
//   tr["slope"].value->item();       // the sampled slope
//   for (const tyche::Message& site : tr) std::cout << site.name << "\n";
//   std::cout << tyche::format_trace(tr);
#pragma once

#include "tyche/effects/message.hpp"

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tyche {

class Trace {
 public:
  using const_iterator = std::vector<Message>::const_iterator;

  bool contains(std::string_view name) const { return index_.find(std::string(name)) != index_.end(); }
  const Message& operator[](std::string_view name) const { return sites_[position(name)]; }
  Message& operator[](std::string_view name) { return sites_[position(name)]; }

  std::size_t size() const { return sites_.size(); }
  bool empty() const { return sites_.empty(); }
  const_iterator begin() const { return sites_.begin(); }
  const_iterator end() const { return sites_.end(); }
  std::vector<std::string> keys() const {
    std::vector<std::string> names;
    for (const Message& m : sites_) names.push_back(m.name);
    return names;
  }

  // Adds a site, or replaces the one of the same name in its old position
  // (as assigning to an OrderedDict key does).
  void record(const Message& msg) {
    const auto [it, added] = index_.try_emplace(msg.name, sites_.size());
    if (added) sites_.push_back(msg);
    else sites_[it->second] = msg;
  }
  void clear() {
    sites_.clear();
    index_.clear();
  }

 private:
  std::size_t position(std::string_view name) const {
    const auto it = index_.find(std::string(name));
    if (it == index_.end()) throw std::out_of_range("tyche: the trace has no site named `" + std::string(name) + "`");
    return it->second;
  }
  std::vector<Message> sites_;
  std::unordered_map<std::string, std::size_t> index_;
};

// The seed tutorial's table: site, type, is_observed (N/A for sites that are
// not sample sites) and the value's shape.
inline std::string format_trace(const Trace& trace) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%12s | %15s | %12s | %s\n", "Site", "Type", "is_observed", "Value shape");
  out += line;
  out += std::string(70, '-') + "\n";
  for (const Message& site : trace) {
    const std::string observed =
        site.type == SiteType::sample ? (site.is_observed ? "True" : "False") : "N/A";
    const std::string shape = site.value ? site.value->shape().str() : "None";
    std::snprintf(line, sizeof line, "%12s | %15s | %12s | %s\n", site.name.c_str(),
                  std::string(to_string(site.type)).c_str(), observed.c_str(), shape.c_str());
    out += line;
  }
  return out;
}

}  // namespace tyche
