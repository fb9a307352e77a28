// The model's graph: get_model_relations finds which sites each site depends
// on, and render_model draws it as Graphviz DOT (NumPyro's
// numpyro.infer.inspect: get_model_relations, generate_graph_specification,
// render_graph and render_model).
//
//   std::string dot = tyche::render_model(model, x, y, tyche::RenderOptions{.render_distributions = true});
//   std::ofstream("model.dot") << dot;                  // then: dot -Tsvg model.dot -o model.svg
//   tyche::ModelRelations r = tyche::get_model_relations(model, x, y);
//   r.sample_sample["obs"];                             // {"intercept", "slope", "sigma"}
//
// How the dependencies are found (NumPyro traces the model's provenance with
// JAX; tyche reads its gradient tape, core/provenance.hpp): the model runs
// once under seed(0) inside a provenance recording. Each latent sample site's
// value, each deterministic site's value and each param's value is replaced,
// as the model receives it, by a fresh leaf of the recording labelled with the
// site's name. A sample site then depends on the labels its log density
// log_prob(value) was computed from, a deterministic site on those of the
// value the model gave it; a site never depends on itself. So an edge a -> b
// means that b's distribution (or an observation given to b) was computed
// from a's value; a deterministic site stands between the sites it was
// computed from and those computed from it. What the recording cannot follow
// is listed in core/provenance.hpp (comparisons, values read
// as numbers). A site with an ImproperUniform prior takes a feasible point of
// its support, since it cannot be sampled.
//
// The DOT text is what NumPyro's render_model gives (the Python graphviz
// package's source): every site an ellipse filled white, observed ones grey,
// deterministic ones dashed ("filled,dashed"), params (with render_params)
// plain text; each plate a `subgraph cluster_<plate>` labelled with the
// plate's name at the bottom right, nested as the plates' site sets nest; a
// site inside two plates that cross (neither contains the other) splits the
// second into `<plate>` and `<plate>__CLONE`, both labelled `<plate>`. With
// render_distributions, one plain-text node `distribution_description_node`
// lists "name ~ Distribution" per site (and "param ∈ Constraint" per
// constrained param), as NumPyro's legend. Names that are not DOT
// identifiers are quoted.
//
// Where tyche differs from NumPyro 0.21: an observation computed from other
// sites counts as a dependency (NumPyro 0.21 substitutes observed values
// before tracing, so it draws no such edge); params are listed in the order
// the model reached them (NumPyro: the order of a set); a param with the
// default constraint (real) has none to show, as a NumPyro param given no
// constraint.
//
// Everything here is a template (the idiom of core/tensor.hpp), so that
// including tyche compiles none of it.
#pragma once

#include "tyche/core/provenance.hpp"
#include "tyche/distributions/distribution.hpp"
#include "tyche/effects/handlers/trace.hpp"
#include "tyche/infer/initial_trace.hpp"
#include "tyche/infer/trailing_options.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace tyche {

struct RenderOptions {
  bool render_distributions = false;  // the legend of each site's distribution
  bool render_params = false;         // param sites as nodes, with edges to the sites computed from them
};

// NumPyro's get_model_relations dictionary. Sites are the sample and
// deterministic sites, in the order the model reached them; every list is in
// that order too.
struct ModelRelations {
  using Names = std::vector<std::string>;
  template <class V>
  using ByName = std::map<std::string, V, std::less<>>;

  Names sites;                       // NumPyro: the keys of sample_dist, in order
  ByName<Names> sample_sample;       // site -> the sites it depends on
  ByName<Names> sample_param;        // site -> the params it depends on
  ByName<std::string> sample_dist;   // site -> "Normal" (wrappers unwrapped), "Deterministic"
  Names params;                      // param sites, in order
  ByName<std::string> param_constraint;  // param -> "Positive()"; "" for the default (real)
  ByName<Names> sample_plate;        // site -> its plates, innermost first (NumPyro computes it but does not return it)
  Names plates;                      // the plates, in order (with any `__CLONE` split-offs last)
  ByName<Names> plate_sample;        // plate -> the sites inside it
  Names observed;                    // the observed sample sites
};

namespace detail {

// The handler around get_model_relations's run: gives every latent sample
// site, deterministic site and param the value the model receives as a leaf
// of the recording labelled with the site's name, and keeps for each sample
// site its log density and for each deterministic site the value the model
// gave it: the arrays whose provenance are the site's dependencies.
template <class = void>
class ProvenanceSitesT : public Handler<NoModel> {
 public:
  explicit ProvenanceSitesT(ProvenanceRecording& recording) : recording_(recording) {}

  void postprocess_message(Message& msg) override {
    if (msg.name.empty() || !msg.value) return;
    switch (msg.type) {
      case SiteType::sample:
        if (!msg.is_observed) msg.value = recording_.leaf(*msg.value, label(msg.name));
        computed_.insert_or_assign(msg.name, msg.fn->log_prob(*msg.value));
        break;
      case SiteType::deterministic:
        computed_.insert_or_assign(msg.name, *msg.value);
        msg.value = recording_.leaf(*msg.value, label(msg.name));
        break;
      case SiteType::param: msg.value = recording_.leaf(*msg.value, label(msg.name)); break;
      default: break;
    }
  }

  // The names of the sites (and params) the site's array was computed from.
  std::set<std::string, std::less<>> dependencies(std::string_view site) {
    std::set<std::string, std::less<>> names;
    const auto it = computed_.find(site);
    if (it == computed_.end()) return names;
    for (int l : recording_.sources(it->second)) names.insert(labels_[std::size_t(l)]);
    return names;
  }

 private:
  int label(const std::string& name) {
    const auto [it, added] = label_of_.try_emplace(name, int(labels_.size()));
    if (added) labels_.push_back(name);
    return it->second;
  }

  ProvenanceRecording& recording_;
  std::map<std::string, int, std::less<>> label_of_;
  std::vector<std::string> labels_;
  std::map<std::string, Tensor, std::less<>> computed_;
};

// NumPyro's _resolve_plate_samples: while two plates share sites and each
// has sites the other lacks, the second keeps the shared ones and a new
// `<name>__CLONE` takes the rest.
template <class T = std::string>
std::vector<std::pair<std::string, std::set<std::string>>> resolve_plate_samples(
    std::vector<std::pair<std::string, std::set<std::string>>> plates) {
  using Set = std::set<std::string>;
  const auto difference = [](const Set& a, const Set& b) {
    Set out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
    return out;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t p = 0; p < plates.size() && !changed; ++p)
      for (std::size_t q = 0; q < plates.size() && !changed; ++q) {
        const Set& pv = plates[p].second;
        const Set& qv = plates[q].second;
        Set shared;
        std::set_intersection(pv.begin(), pv.end(), qv.begin(), qv.end(), std::inserter(shared, shared.end()));
        Set only_q = difference(qv, pv);
        if (shared.empty() || difference(pv, qv).empty() || only_q.empty()) continue;
        std::string clone = plates[q].first + "__CLONE";
        plates[q].second = std::move(shared);
        plates.emplace_back(std::move(clone), std::move(only_q));
        changed = true;
      }
  }
  return plates;
}

// A DOT identifier as the Python graphviz package writes it: as is when it is
// a name ([A-Za-z_][A-Za-z0-9_]*) or a number and not a DOT keyword,
// otherwise in double quotes with its unescaped quotes escaped.
template <class T = std::string>
std::string dot_quote(const std::type_identity_t<T>& id) {
  const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const auto is_name = [&] {
    return !id.empty() && is_alpha(id[0]) &&
           std::all_of(id.begin(), id.end(), [&](char c) { return is_alpha(c) || is_digit(c); });
  };
  const auto is_number = [&] {  // -?(\.[0-9]+|[0-9]+(\.[0-9]*)?)
    std::size_t i = id.size() > 0 && id[0] == '-' ? 1 : 0;
    const std::size_t digits_from = i;
    while (i < id.size() && is_digit(id[i])) ++i;
    const bool integral = i > digits_from;
    if (i == id.size()) return integral;
    if (id[i] != '.') return false;
    const std::size_t fraction_from = ++i;
    while (i < id.size() && is_digit(id[i])) ++i;
    return i == id.size() && (integral || i > fraction_from);
  };
  std::string lower = id;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const bool keyword = lower == "node" || lower == "edge" || lower == "graph" || lower == "digraph" ||
                       lower == "subgraph" || lower == "strict";
  if ((is_name() || is_number()) && !keyword) return id;
  std::string quoted = "\"";
  std::size_t backslashes = 0;  // the run just before this character
  for (char c : id) {
    if (c == '"' && backslashes % 2 == 0) quoted += '\\';
    quoted += c;
    backslashes = c == '\\' ? backslashes + 1 : 0;
  }
  return quoted + "\"";
}

// One graph's statements, each a line without its indentation or newline:
// a subgraph's lines are indented once more where it is added.
struct DotBody {
  std::vector<std::string> lines;
};

template <class T = DotBody>
void add_subgraph(std::type_identity_t<T>& parent, const std::string& name, const T& child) {
  parent.lines.push_back("subgraph " + dot_quote(name) + " {");
  for (const std::string& line : child.lines) parent.lines.push_back("\t" + line);
  parent.lines.push_back("}");
}

}  // namespace detail

// Runs the model once (seed 0) and finds its sites, plates and the
// dependencies between them (see the top).
template <class Model, class... Args>
ModelRelations get_model_relations(Model&& model, Args&&... args) {
  ProvenanceRecording recording;
  detail::ProvenanceSitesT<> sites(recording);
  const Trace trace = detail::initial_trace(model, std::forward_as_tuple(args...));

  ModelRelations r;
  std::vector<std::pair<std::string, std::set<std::string>>> plate_sets;
  for (const Message& site : trace) {
    if (site.type == SiteType::plate) plate_sets.emplace_back(site.name, std::set<std::string>{});
    if (site.type == SiteType::param) {
      r.params.push_back(site.name);
      const bool real = !site.constraint || site.constraint->kind() == constraints::Kind::real;
      r.param_constraint[site.name] = real ? "" : site.constraint->str();
    }
    if (site.type != SiteType::sample && site.type != SiteType::deterministic) continue;
    r.sites.push_back(site.name);
    r.sample_dist[site.name] = site.type == SiteType::sample ? detail::innermost(*site.fn).name() : "Deterministic";
    if (site.type == SiteType::sample && site.is_observed) r.observed.push_back(site.name);
    auto& plates = r.sample_plate[site.name];
    for (const CondIndepStackFrame& frame : site.cond_indep_stack) plates.push_back(frame.name);
  }
  for (auto& [plate, members] : plate_sets)
    for (const auto& [site, plates] : r.sample_plate)
      if (std::find(plates.begin(), plates.end(), plate) != plates.end()) members.insert(site);
  for (const auto& [plate, members] : detail::resolve_plate_samples(std::move(plate_sets))) {
    r.plates.push_back(plate);
    auto& inside = r.plate_sample[plate];
    for (const std::string& site : r.sites)
      if (members.contains(site)) inside.push_back(site);
  }
  for (const std::string& site : r.sites) {
    const auto depends_on = sites.dependencies(site);
    auto& upstream = r.sample_sample[site];
    for (const std::string& other : r.sites)
      if (other != site && depends_on.contains(other)) upstream.push_back(other);
    auto& params = r.sample_param[site];
    for (const std::string& param : r.params)
      if (depends_on.contains(param)) params.push_back(param);
  }
  return r;
}

// The DOT text of the relations' graph (NumPyro's generate_graph_specification
// and render_graph in one; see the top).
template <class T = ModelRelations>
std::string render_graph(const std::type_identity_t<T>& relations, const RenderOptions& options = {}) {
  using Names = ModelRelations::Names;
  // Nodes grouped by plate, in the plates' order; no plate (none) last.
  std::vector<std::pair<std::optional<std::string>, Names>> groups;
  std::set<std::string> in_a_plate;
  for (const std::string& plate : relations.plates) {
    groups.emplace_back(plate, relations.plate_sample.at(plate));
    for (const std::string& site : groups.back().second) in_a_plate.insert(site);
  }
  Names outside;
  for (const std::string& site : relations.sites)
    if (!in_a_plate.contains(site)) outside.push_back(site);
  if (options.render_params)
    for (const std::string& param : relations.params)
      if (std::any_of(relations.sites.begin(), relations.sites.end(), [&](const std::string& site) {
            const Names& used = relations.sample_param.at(site);
            return std::find(used.begin(), used.end(), param) != used.end();
          }))
        outside.push_back(param);

  // Each plate's parent: the plate whose sites strictly contain its own (of
  // equal sets, the earlier one), looked for in NumPyro's order, in which a
  // later pair overrides an earlier one but the plate keeps its place.
  std::vector<std::pair<std::string, std::optional<std::string>>> parents;
  const auto set_parent = [&](const std::string& plate, const std::string& parent) {
    const auto it = std::find_if(parents.begin(), parents.end(), [&](const auto& p) { return p.first == plate; });
    if (it == parents.end()) parents.emplace_back(plate, parent);
    else it->second = parent;
  };
  for (std::size_t i = 0; i < groups.size(); ++i)
    for (std::size_t j = i + 1; j < groups.size(); ++j) {
      const std::set<std::string> a(groups[i].second.begin(), groups[i].second.end());
      const std::set<std::string> b(groups[j].second.begin(), groups[j].second.end());
      const bool a_in_b = std::includes(b.begin(), b.end(), a.begin(), a.end());
      const bool b_in_a = std::includes(a.begin(), a.end(), b.begin(), b.end());
      if (a_in_b && a != b) set_parent(*groups[i].first, *groups[j].first);
      else if (b_in_a) set_parent(*groups[j].first, *groups[i].first);
    }
  for (const auto& group : groups)
    if (std::none_of(parents.begin(), parents.end(), [&](const auto& p) { return p.first == *group.first; }))
      parents.emplace_back(*group.first, std::nullopt);

  const auto is_observed = [&](const std::string& site) {
    return std::find(relations.observed.begin(), relations.observed.end(), site) != relations.observed.end();
  };
  const auto node_line = [&](const std::string& name) {
    const auto dist = relations.sample_dist.find(name);
    const bool is_param = dist == relations.sample_dist.end();
    std::string label = name;
    if (is_param)
      for (std::size_t at; (at = label.find("$params")) != std::string::npos;) label.erase(at, 7);
    const bool dashed = !is_param && dist->second == "Deterministic";
    return detail::dot_quote(name) + " [label=" + detail::dot_quote(label) +
           " fillcolor=" + (is_observed(name) ? "grey" : "white") + " shape=" + (is_param ? "plain" : "ellipse") +
           " style=" + (dashed ? "\"filled,dashed\"" : "filled") + "]";
  };

  detail::DotBody graph;
  std::map<std::string, detail::DotBody> clusters;
  for (const auto& [plate, members] : groups) {
    std::string label = *plate;
    if (const auto at = label.find("__CLONE"); at != std::string::npos) label.erase(at);
    detail::DotBody& cluster = clusters[*plate];
    cluster.lines.push_back("label=" + detail::dot_quote(label) + " labeljust=r labelloc=b");
    for (const std::string& site : members) cluster.lines.push_back(node_line(site));
  }
  for (const std::string& name : outside) graph.lines.push_back(node_line(name));
  // Innermost plates first, so that each is complete when added to its parent.
  while (!parents.empty()) {
    const auto leaf = std::find_if(parents.begin(), parents.end(), [&](const auto& p) {
      return std::none_of(parents.begin(), parents.end(), [&](const auto& q) { return q.second == p.first; });
    });
    detail::add_subgraph(leaf->second ? clusters[*leaf->second] : graph, "cluster_" + leaf->first,
                         clusters[leaf->first]);
    parents.erase(leaf);
  }
  for (const std::string& site : relations.sites)
    for (const std::string& source : relations.sample_sample.at(site))
      graph.lines.push_back(detail::dot_quote(source) + " -> " + detail::dot_quote(site));
  if (options.render_params)
    for (const std::string& site : relations.sites)
      for (const std::string& param : relations.sample_param.at(site))
        graph.lines.push_back(detail::dot_quote(param) + " -> " + detail::dot_quote(site));
  if (options.render_distributions) {
    std::string legend;
    for (const std::string& site : relations.sites) legend += site + " ~ " + relations.sample_dist.at(site) + "\\l";
    if (options.render_params)
      for (const std::string& param : relations.params)
        if (const std::string& constraint = relations.param_constraint.at(param); !constraint.empty())
          legend += param + " \u2208 " + constraint + "\\l";
    graph.lines.push_back("distribution_description_node [label=" + detail::dot_quote(legend) + " shape=plaintext]");
  }

  std::string dot = "digraph {\n";
  for (const std::string& line : graph.lines) dot += "\t" + line + "\n";
  return dot + "}\n";
}

// The model's graph as Graphviz DOT: render_model(model, model args...), with
// RenderOptions as an optional last argument (see the top).
template <class Model, class... Args>
std::string render_model(Model&& model, Args&&... args) {
  const auto split = detail::split_trailing_options<RenderOptions>(std::forward<Args>(args)...);
  return std::apply([&](const auto&... a) { return render_graph(get_model_relations(model, a...), split.second); },
                    split.first);
}

}  // namespace tyche
