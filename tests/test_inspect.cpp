// The model's graph (infer/inspect.hpp) and the provenance it is built on
// (core/provenance.hpp). The expected graphs are worked out by hand from the
// models and from NumPyro 0.21's numpyro/infer/inspect.py (node attributes,
// cluster labels, nesting and __CLONE plates, the legend); the DOT text is
// read back with a small line scanner rather than compared as a whole.
#include <catch2/catch.hpp>

#include <tyche/tyche.hpp>
#include <tyche/infer/inspect.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace dist = tyche::dist;
using Names = std::vector<std::string>;

namespace {

// What the scanner reads from render_model's DOT text: each node's
// attributes and the clusters it is declared in, each cluster's attributes
// and parent (empty at the top), the edges in order.
struct Dot {
  struct Node {
    std::map<std::string, std::string> attributes;
    std::vector<std::string> clusters;  // every cluster declaring it, in order (empty: the top level)
  };
  std::map<std::string, Node> nodes;
  std::map<std::string, std::map<std::string, std::string>> cluster_attributes;
  std::map<std::string, std::string> cluster_parent;
  std::vector<std::pair<std::string, std::string>> edges;
};

// One DOT ID at `at` (a name, or a quoted string whose \" are quotes); moves
// `at` past it.
std::string read_id(const std::string& line, std::size_t& at) {
  std::string id;
  if (line[at] == '"') {
    for (++at; line.at(at) != '"'; ++at) {
      if (line[at] == '\\' && line.at(at + 1) == '"') ++at;
      id += line[at];
    }
    ++at;
  } else {
    while (at < line.size() && line[at] != ' ' && line[at] != '=' && line[at] != ']') id += line[at++];
  }
  return id;
}

std::map<std::string, std::string> read_attributes(const std::string& line, std::size_t at) {
  std::map<std::string, std::string> attributes;
  while (at < line.size() && line[at] != ']') {
    const std::string key = read_id(line, at);
    REQUIRE(line.at(at) == '=');
    ++at;
    attributes[key] = read_id(line, at);
    if (at < line.size() && line[at] == ' ') ++at;
  }
  return attributes;
}

Dot scan(const std::string& text) {
  Dot dot;
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> open;  // the clusters around the current line
  REQUIRE(std::getline(in, line));
  REQUIRE(line == "digraph {");
  bool closed = false;
  while (std::getline(in, line)) {
    REQUIRE_FALSE(closed);
    std::size_t tabs = line.find_first_not_of('\t');
    REQUIRE(tabs != std::string::npos);
    const std::string statement = line.substr(tabs);
    if (statement == "}") {
      if (open.empty()) {
        REQUIRE(tabs == 0);
        closed = true;
      } else {
        CHECK(tabs == open.size());
        open.pop_back();
      }
      continue;
    }
    CHECK(tabs == open.size() + 1);  // each level indented by one tab
    const std::string parent = open.empty() ? "" : open.back();
    std::size_t at = 0;
    if (statement.rfind("subgraph ", 0) == 0) {
      at = 9;
      const std::string name = read_id(statement, at);
      REQUIRE(statement.substr(at) == " {");
      dot.cluster_parent[name] = parent;
      open.push_back(name);
      continue;
    }
    const std::string first = read_id(statement, at);
    if (statement.compare(at, 4, " -> ") == 0) {
      at += 4;
      const std::string second = read_id(statement, at);
      REQUIRE(at == statement.size());
      dot.edges.emplace_back(first, second);
    } else if (statement.compare(at, 2, " [") == 0) {
      REQUIRE(statement.back() == ']');
      Dot::Node& node = dot.nodes[first];
      for (const auto& [key, value] : read_attributes(statement, at + 2)) node.attributes[key] = value;
      if (!parent.empty()) node.clusters.push_back(parent);
    } else {  // a cluster's own attributes: label=J labeljust=r labelloc=b
      REQUIRE_FALSE(parent.empty());
      dot.cluster_attributes[parent] = read_attributes(statement, 0);
    }
  }
  REQUIRE(closed);
  return dot;
}

// NumPyro's attributes of a sample site's node.
std::map<std::string, std::string> site_node(const std::string& name, bool observed = false, bool deterministic = false) {
  return {{"label", name},
          {"fillcolor", observed ? "grey" : "white"},
          {"shape", "ellipse"},
          {"style", deterministic ? "filled,dashed" : "filled"}};
}

std::map<std::string, std::string> plate_label(const std::string& name) {
  return {{"label", name}, {"labeljust", "r"}, {"labelloc", "b"}};
}

using Edges = std::vector<std::pair<std::string, std::string>>;

// Linear regression: intercept, slope, sigma -> obs, in plate "data".
void linear_regression(const tyche::Tensor& x, const std::optional<tyche::Tensor>& y) {
  const tyche::Tensor intercept = tyche::sample("intercept", dist::Normal(0.0, 10.0));
  const tyche::Tensor slope = tyche::sample("slope", dist::Normal(0.0, 10.0));
  const tyche::Tensor sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  tyche::plate data("data", x.size());
  tyche::sample("obs", dist::Normal(intercept + slope * x, sigma), y);
}

const tyche::Tensor kInspectSigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
const tyche::Tensor kInspectY{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};

void centred_schools(const tyche::Tensor& sigma, const std::optional<tyche::Tensor>& y) {
  const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
  const tyche::Tensor tau = tyche::sample("tau", dist::HalfCauchy(5.0));
  tyche::plate J("J", sigma.size());
  const tyche::Tensor theta = tyche::sample("theta", dist::Normal(mu, tau));
  tyche::sample("obs", dist::Normal(theta, sigma), y);
}

void eight_schools_noncentered(const tyche::Tensor& sigma, const std::optional<tyche::Tensor>& y) {
  const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
  const tyche::Tensor tau = tyche::sample("tau", dist::HalfCauchy(5.0));
  tyche::plate J("J", sigma.size());
  const tyche::Tensor theta_tilde = tyche::sample("theta_tilde", dist::Normal(0.0, 1.0));
  const tyche::Tensor theta = tyche::deterministic("theta", mu + tau * theta_tilde);
  tyche::sample("obs", dist::Normal(theta, sigma), y);
}

// c -> a (plate outer) -> b (plates outer and inner).
void nested_plates() {
  const tyche::Tensor c = tyche::sample("c", dist::Normal(0.0, 1.0));
  tyche::plate outer("outer", 3);
  const tyche::Tensor a = tyche::sample("a", dist::Normal(c, 1.0));
  tyche::plate inner("inner", 2);
  tyche::sample("b", dist::Normal(a, 1.0));  // batch (2, 3)
}

// Plates that cross: x in p, y in p and q, z in q only.
void crossing_plates() {
  {
    tyche::plate p("p", 2);
    const tyche::Tensor x = tyche::sample("x", dist::Normal(0.0, 1.0));
    tyche::plate q("q", 3);
    tyche::sample("y", dist::Normal(x, 1.0));  // batch (3, 2)
  }
  tyche::plate q("q", 3);
  tyche::sample("z", dist::Normal(0.0, 1.0));
}

}  // namespace

TEST_CASE("ProvenanceRecording: the leaves an array was computed from", "[inspect]") {
  tyche::ProvenanceRecording recording;
  const tyche::Tensor a = recording.leaf(tyche::Tensor{1.0, 2.0}, 0);
  const tyche::Tensor b = recording.leaf(tyche::Tensor(3.0), 1);
  const tyche::Tensor unused = recording.leaf(tyche::Tensor{{1.0, 2.0}, {3.0, 4.0}}, 2);
  // A leaf is a copy of the value, of the same shape.
  CHECK(a.to_std_vector() == std::vector<double>{1.0, 2.0});
  CHECK(unused.shape() == tyche::Shape{2, 2});
  CHECK(b.shape() == tyche::Shape{});

  const tyche::Tensor c = 2.0 * tyche::exp(a);
  CHECK(recording.sources(c) == std::vector<int>{0});
  CHECK(recording.sources(c[1] + b) == std::vector<int>{0, 1});   // through a view
  CHECK(recording.sources(b * c) == std::vector<int>{0, 1});      // broadcasting
  CHECK(recording.sources(tyche::sum(a.reshape({2, 1}))) == std::vector<int>{0});
  CHECK(recording.sources(unused[1]) == std::vector<int>{2});
  CHECK(recording.sources(tyche::Tensor{1.0, 2.0} * 3.0).empty());  // constants
  CHECK(recording.sources(b).size() == 1);
  // An array written in parts collects every part's labels.
  CHECK(recording.sources(tyche::concatenate({a, tyche::Tensor{5.0}, b.reshape({1})})) == std::vector<int>{0, 1});
  CHECK(recording.sources(tyche::concatenate({tyche::Tensor{5.0}, b.reshape({1})})) == std::vector<int>{1});
  // A gather keeps the array's labels and its index array's (as JAX's gather
  // takes the index as an operand); a mask (a constant here) passes both sides'.
  CHECK(recording.sources(tyche::take(unused, tyche::Tensor{1.0})) == std::vector<int>{2});
  const tyche::Tensor index = recording.leaf(tyche::Tensor{1.0, 0.0}, 3);
  CHECK(recording.sources(tyche::take(unused, index)) == std::vector<int>{2, 3});
  CHECK(recording.sources(tyche::take(tyche::Tensor{5.0, 6.0}, index)) == std::vector<int>{3});
  CHECK(recording.sources(a[index]) == std::vector<int>{0, 3});
  CHECK(recording.sources(tyche::where(tyche::Tensor{1.0, 0.0}, a, b)) == std::vector<int>{0, 1});
  // A value read as a number is a constant to the recording (the documented limit).
  CHECK(recording.sources(tyche::Tensor(a.at({0}))).empty());
}

TEST_CASE("take with a variable index array: the gradient reaches the gathered array only", "[inspect]") {
  // f(q) = sum(take(3 q, q)) at q = (1, 0) gathers (3 q1, 3 q0): the gradient
  // is (3, 3); the index, though a variable, receives none (it is read as
  // integers). take of a constant by a variable index has gradient 0.
  Eigen::VectorXd q(2), g(2);
  q << 1.0, 0.0;
  CHECK(tyche::value_and_grad([](const tyche::Tensor& p) { return tyche::sum(tyche::take(3.0 * p, p)); }, q, g) == 3.0);
  CHECK(g(0) == 3.0);
  CHECK(g(1) == 3.0);
  CHECK(tyche::value_and_grad([](const tyche::Tensor& p) { return tyche::sum(tyche::take(tyche::Tensor{5.0, 7.0}, p)) + 0.0 * p[0]; },
                              q, g) == 12.0);
  CHECK(g(0) == 0.0);
  CHECK(g(1) == 0.0);
}

TEST_CASE("get_model_relations: an index array is a dependency (seed 003's mixture)", "[inspect]") {
  // NumPyro draws assignment -> obs for Normal(locs[assignment], scale).
  const auto mixture = [](const tyche::Tensor& data) {
    const tyche::Tensor weights = tyche::sample("weights", dist::Dirichlet(tyche::Tensor{0.5, 0.5}));
    const tyche::Tensor scale = tyche::sample("scale", dist::LogNormal(0.0, 2.0));
    tyche::Tensor locs;
    {
      tyche::plate components("components", 2);
      locs = tyche::sample("locs", dist::Normal(0.0, 10.0));
    }
    tyche::plate points("data", data.size());
    const tyche::Tensor assignment = tyche::sample("assignment", dist::Categorical({.probs = weights}));
    tyche::sample("obs", dist::Normal(tyche::take(locs, assignment), scale), data);
  };
  const tyche::ModelRelations r = tyche::get_model_relations(mixture, tyche::Tensor{0.0, 1.0, 10.0, 11.0, 12.0});
  CHECK(r.sample_sample.at("assignment") == Names{"weights"});
  CHECK(r.sample_sample.at("obs") == Names{"scale", "locs", "assignment"});  // in site order
}

TEST_CASE("get_model_relations: NumPyro's docstring example", "[inspect]") {
  // NumPyro's get_model_relations docstring gives, for this model:
  // {'sample_sample': {'m': [], 'sd': ['m'], 'obs': ['m', 'sd']},
  //  'sample_dist': {'m': 'Normal', 'sd': 'LogNormal', 'obs': 'Normal'},
  //  'plate_sample': {'N': ['obs']}, 'observed': ['obs']}
  const auto model = [](const tyche::Tensor& data) {
    const tyche::Tensor m = tyche::sample("m", dist::Normal(0.0, 1.0));
    const tyche::Tensor sd = tyche::sample("sd", dist::LogNormal(m, 1.0));
    tyche::plate N("N", data.size());
    tyche::sample("obs", dist::Normal(m, sd), data);
  };
  const tyche::ModelRelations r = tyche::get_model_relations(model, tyche::Tensor{1.0, 2.0, 3.0});
  CHECK(r.sites == Names{"m", "sd", "obs"});
  CHECK(r.sample_sample.at("m").empty());
  CHECK(r.sample_sample.at("sd") == Names{"m"});
  CHECK(r.sample_sample.at("obs") == Names{"m", "sd"});
  CHECK(r.sample_dist.at("m") == "Normal");
  CHECK(r.sample_dist.at("sd") == "LogNormal");
  CHECK(r.sample_dist.at("obs") == "Normal");  // the plate's expand taken off
  CHECK(r.plates == Names{"N"});
  CHECK(r.plate_sample.at("N") == Names{"obs"});
  CHECK(r.sample_plate.at("obs") == Names{"N"});
  CHECK(r.sample_plate.at("m").empty());
  CHECK(r.observed == Names{"obs"});
  CHECK(r.params.empty());
  for (const std::string& site : r.sites) CHECK(r.sample_param.at(site).empty());
}

TEST_CASE("render_model: linear regression", "[inspect]") {
  const tyche::Tensor x{0.0, 1.0, 2.0, 3.0};
  const tyche::Tensor y{0.5, 1.4, 2.6, 3.5};
  const Dot dot = scan(tyche::render_model(linear_regression, x, std::optional(y)));
  CHECK(dot.nodes.size() == 4);
  for (const char* latent : {"intercept", "slope", "sigma"}) {
    REQUIRE(dot.nodes.contains(latent));
    CHECK(dot.nodes.at(latent).attributes == site_node(latent));
    CHECK(dot.nodes.at(latent).clusters.empty());
  }
  REQUIRE(dot.nodes.contains("obs"));
  CHECK(dot.nodes.at("obs").attributes == site_node("obs", /*observed=*/true));
  CHECK(dot.nodes.at("obs").clusters == Names{"cluster_data"});
  CHECK(dot.cluster_parent == std::map<std::string, std::string>{{"cluster_data", ""}});
  CHECK(dot.cluster_attributes.at("cluster_data") == plate_label("data"));
  CHECK(dot.edges == Edges{{"intercept", "obs"}, {"slope", "obs"}, {"sigma", "obs"}});

  // Left out, the observation is a latent site: white, same edges.
  const Dot prior = scan(tyche::render_model(linear_regression, x, std::nullopt));
  CHECK(prior.nodes.at("obs").attributes == site_node("obs"));
  CHECK(prior.edges == dot.edges);

  // The legend: one plain-text node listing "site ~ Distribution\l" per site.
  const Dot with_legend = scan(tyche::render_model(linear_regression, x, std::optional(y),
                                                   tyche::RenderOptions{.render_distributions = true}));
  REQUIRE(with_legend.nodes.contains("distribution_description_node"));
  const auto& legend = with_legend.nodes.at("distribution_description_node");
  CHECK(legend.clusters.empty());
  CHECK(legend.attributes == std::map<std::string, std::string>{
                                 {"label", "intercept ~ Normal\\lslope ~ Normal\\lsigma ~ HalfNormal\\lobs ~ Normal\\l"},
                                 {"shape", "plaintext"}});
  CHECK(with_legend.edges == dot.edges);
}

TEST_CASE("render_model: eight schools, centred and non-centred", "[inspect]") {
  const Dot dot = scan(tyche::render_model(centred_schools, kInspectSigma, std::optional(kInspectY)));
  CHECK(dot.nodes.size() == 4);
  CHECK(dot.nodes.at("mu").attributes == site_node("mu"));
  CHECK(dot.nodes.at("tau").attributes == site_node("tau"));
  CHECK(dot.nodes.at("theta").attributes == site_node("theta"));
  CHECK(dot.nodes.at("obs").attributes == site_node("obs", /*observed=*/true));
  CHECK(dot.nodes.at("mu").clusters.empty());
  CHECK(dot.nodes.at("theta").clusters == Names{"cluster_J"});
  CHECK(dot.nodes.at("obs").clusters == Names{"cluster_J"});
  CHECK(dot.cluster_attributes.at("cluster_J") == plate_label("J"));
  CHECK(dot.edges == Edges{{"mu", "theta"}, {"tau", "theta"}, {"theta", "obs"}});

  // Observed by a condition handler around the model: the same graph.
  const auto conditioned = tyche::condition(centred_schools, {{"obs", kInspectY}});
  const Dot by_condition = scan(tyche::render_model(conditioned, kInspectSigma, std::nullopt));
  CHECK(by_condition.nodes.at("obs").attributes == site_node("obs", /*observed=*/true));
  CHECK(by_condition.edges == dot.edges);

  // A deterministic site is dashed, and stands between the sites it is
  // computed from and those computed from it: obs depends on theta only.
  const Dot noncentered = scan(tyche::render_model(eight_schools_noncentered, kInspectSigma, std::optional(kInspectY)));
  CHECK(noncentered.nodes.at("theta").attributes == site_node("theta", false, /*deterministic=*/true));
  CHECK(noncentered.nodes.at("theta_tilde").attributes == site_node("theta_tilde"));
  CHECK(noncentered.nodes.at("theta").clusters == Names{"cluster_J"});
  CHECK(noncentered.edges == Edges{{"mu", "theta"}, {"tau", "theta"}, {"theta_tilde", "theta"}, {"theta", "obs"}});

  const tyche::ModelRelations r = tyche::get_model_relations(eight_schools_noncentered, kInspectSigma, std::optional(kInspectY));
  CHECK(r.sample_dist.at("theta") == "Deterministic");
  CHECK(r.sample_dist.at("tau") == "HalfCauchy");
  CHECK(r.plate_sample.at("J") == Names{"theta_tilde", "theta", "obs"});
}

TEST_CASE("render_model: nested plates are nested clusters", "[inspect]") {
  const tyche::ModelRelations r = tyche::get_model_relations(nested_plates);
  CHECK(r.plates == Names{"outer", "inner"});
  CHECK(r.plate_sample.at("outer") == Names{"a", "b"});
  CHECK(r.plate_sample.at("inner") == Names{"b"});
  CHECK(r.sample_plate.at("b") == Names{"inner", "outer"});  // innermost first

  const Dot dot = scan(tyche::render_model(nested_plates));
  CHECK(dot.cluster_parent == std::map<std::string, std::string>{{"cluster_outer", ""}, {"cluster_inner", "cluster_outer"}});
  CHECK(dot.cluster_attributes.at("cluster_inner") == plate_label("inner"));
  CHECK(dot.nodes.at("c").clusters.empty());
  CHECK(dot.nodes.at("a").clusters == Names{"cluster_outer"});
  // As NumPyro, a site is declared in every plate around it; Graphviz draws
  // it in the innermost.
  CHECK(dot.nodes.at("b").clusters == Names{"cluster_outer", "cluster_inner"});
  CHECK(dot.edges == Edges{{"c", "a"}, {"a", "b"}});
}

TEST_CASE("render_model: crossing plates split into a __CLONE, labelled as the plate", "[inspect]") {
  // NumPyro's _resolve_plate_samples: p = {x, y} and q = {y, z} cross, so q
  // keeps {y} (inside p) and q__CLONE takes {z}.
  const tyche::ModelRelations r = tyche::get_model_relations(crossing_plates);
  CHECK(r.plates == Names{"p", "q", "q__CLONE"});
  CHECK(r.plate_sample.at("p") == Names{"x", "y"});
  CHECK(r.plate_sample.at("q") == Names{"y"});
  CHECK(r.plate_sample.at("q__CLONE") == Names{"z"});

  const Dot dot = scan(tyche::render_model(crossing_plates));
  CHECK(dot.cluster_parent == std::map<std::string, std::string>{
                                  {"cluster_p", ""}, {"cluster_q", "cluster_p"}, {"cluster_q__CLONE", ""}});
  CHECK(dot.cluster_attributes.at("cluster_q__CLONE") == plate_label("q"));
  CHECK(dot.nodes.at("z").clusters == Names{"cluster_q__CLONE"});
  CHECK(dot.edges == Edges{{"x", "y"}});
}

TEST_CASE("get_model_relations: observations computed from sites, factors, params, ImproperUniform", "[inspect]") {
  const auto model = [] {
    const tyche::Tensor a = tyche::sample("a", dist::Normal(0.0, 1.0));
    const tyche::Tensor s = tyche::sample("s", dist::ImproperUniform(tyche::constraints::positive, {}, {}));
    const tyche::Tensor d = tyche::deterministic("d", a * a);
    tyche::sample("b", dist::Normal(0.0, s), 2.0 * a);   // an observation computed from a
    tyche::sample("c", dist::Normal(d, 1.0));
    const tyche::Tensor w = tyche::param("w", tyche::Tensor(1.0), tyche::constraints::positive);
    const tyche::Tensor v = tyche::param("v", tyche::Tensor(0.0));
    tyche::factor("f", -w * v * v);
  };
  const tyche::ModelRelations r = tyche::get_model_relations(model);
  CHECK(r.sites == Names{"a", "s", "d", "b", "c", "f"});
  CHECK(r.sample_sample.at("b") == Names{"a", "s"});
  CHECK(r.sample_sample.at("d") == Names{"a"});
  CHECK(r.sample_sample.at("c") == Names{"d"});  // not a: through d
  CHECK(r.sample_sample.at("f").empty());
  CHECK(r.sample_param.at("f") == Names{"w", "v"});
  CHECK(r.sample_dist.at("s") == "ImproperUniform");
  CHECK(r.sample_dist.at("f") == "Unit");
  CHECK(r.observed == Names{"b", "f"});
  CHECK(r.params == Names{"w", "v"});
  CHECK(r.param_constraint.at("w") == "Positive()");
  CHECK(r.param_constraint.at("v").empty());

  const Dot dot = scan(tyche::render_model(
      model, tyche::RenderOptions{.render_distributions = true, .render_params = true}));
  CHECK(dot.nodes.at("w").attributes ==
        std::map<std::string, std::string>{{"label", "w"}, {"fillcolor", "white"}, {"shape", "plain"}, {"style", "filled"}});
  CHECK(dot.nodes.at("f").attributes == site_node("f", /*observed=*/true));
  CHECK(dot.nodes.at("d").attributes == site_node("d", false, /*deterministic=*/true));
  CHECK(dot.edges == Edges{{"a", "d"}, {"a", "b"}, {"s", "b"}, {"d", "c"}, {"w", "f"}, {"v", "f"}});
  CHECK(dot.nodes.at("distribution_description_node").attributes.at("label") ==
        "a ~ Normal\\ls ~ ImproperUniform\\ld ~ Deterministic\\lb ~ Normal\\lc ~ Normal\\lf ~ Unit\\l"
        "w \u2208 Positive()\\l");
  // Without render_params, no param nodes or edges.
  const Dot plain = scan(tyche::render_model(model));
  CHECK_FALSE(plain.nodes.contains("w"));
  CHECK(plain.edges == Edges{{"a", "d"}, {"a", "b"}, {"s", "b"}, {"d", "c"}});
}

TEST_CASE("render_model: names that are not DOT identifiers are quoted as graphviz quotes them", "[inspect]") {
  // The Python graphviz package's quote() doctests.
  CHECK(tyche::detail::dot_quote("spam") == "spam");
  CHECK(tyche::detail::dot_quote("spam spam") == "\"spam spam\"");
  CHECK(tyche::detail::dot_quote("-4.2") == "-4.2");
  CHECK(tyche::detail::dot_quote(".42") == ".42");
  CHECK(tyche::detail::dot_quote("") == "\"\"");
  CHECK(tyche::detail::dot_quote("\"") == "\"\\\"\"");
  CHECK(tyche::detail::dot_quote("\\\"") == "\"\\\"\"");
  CHECK(tyche::detail::dot_quote("\\\\\"") == "\"\\\\\\\"\"");
  CHECK(tyche::detail::dot_quote("Node") == "\"Node\"");  // a keyword, in any case
  CHECK(tyche::detail::dot_quote("x1_") == "x1_");
  CHECK(tyche::detail::dot_quote("1x") == "\"1x\"");
  CHECK(tyche::detail::dot_quote("-") == "\"-\"");

  const auto model = [] {
    const tyche::Tensor beta = tyche::sample("M.beta", dist::Normal(0.0, 1.0));
    tyche::plate rows("data rows", 2);
    tyche::sample("node", dist::Normal(beta, 1.0));
  };
  const std::string text = tyche::render_model(model);
  CHECK(text.find("\t\"M.beta\" -> \"node\"\n") != std::string::npos);
  CHECK(text.find("\tsubgraph \"cluster_data rows\" {\n") != std::string::npos);
  const Dot dot = scan(text);
  CHECK(dot.nodes.at("M.beta").attributes == site_node("M.beta"));
  CHECK(dot.nodes.at("node").clusters == Names{"cluster_data rows"});
  CHECK(dot.cluster_attributes.at("cluster_data rows") == plate_label("data rows"));
}

TEST_CASE("render_model: a duplicated site name is an error naming it", "[inspect]") {
  const auto model = [] {
    tyche::sample("a", dist::Normal(0.0, 1.0));
    tyche::sample("a", dist::Normal(0.0, 1.0));
  };
  CHECK_THROWS_WITH(tyche::render_model(model), Catch::Contains("`a` duplicated"));
  // The recording ended with the error: a gradient can be taken again.
  CHECK(tyche::value_and_grad([](const tyche::Tensor& q) { return tyche::sum(q * q); }, Eigen::VectorXd::Ones(2)).value == 2.0);
}

TEST_CASE("render_model: Graphviz's dot renders the text to SVG", "[inspect]") {
  if (std::system("command -v dot > /dev/null 2>&1") != 0) {
    WARN("SKIPPED: Graphviz's dot is not installed (Debian: apt-get install graphviz)");
    return;
  }
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "tyche_test_inspect";
  std::filesystem::create_directories(dir);
  const std::vector<std::pair<std::string, std::string>> graphs = {
      {"eight_schools",
       tyche::render_model(eight_schools_noncentered, kInspectSigma, std::optional(kInspectY), tyche::RenderOptions{.render_distributions = true})},
      {"nested", tyche::render_model(nested_plates)},
      {"crossing", tyche::render_model(crossing_plates, tyche::RenderOptions{.render_distributions = true})}};
  for (const auto& [name, text] : graphs) {
    INFO(name << ":\n" << text);
    const std::filesystem::path dot_file = dir / (name + ".dot"), svg_file = dir / (name + ".svg");
    std::ofstream(dot_file) << text;
    const std::string command = "dot -Tsvg '" + dot_file.string() + "' -o '" + svg_file.string() + "' 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    std::ifstream svg(svg_file);
    const std::string rendered((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
    CHECK(rendered.find("<svg") != std::string::npos);
    if (name == "eight_schools") {
      CHECK(rendered.find("<title>obs</title>") != std::string::npos);
      CHECK(rendered.find("<title>cluster_J</title>") != std::string::npos);
    }
  }
  std::filesystem::remove_all(dir);
}
