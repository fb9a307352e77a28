// Whole log joints and gradients against ../shared/data/bench/reference_values.txt:
// the four benchmark problems of shared/data/bench/README.md written as tyche
// models (sample, plate, observations), evaluated through log_density at the
// reference point in unconstrained space (positive sites through biject_to,
// log-Jacobian included) and differentiated by value_and_grad and by
// compile_gradient. The data are the shared CSV files; the large logistic
// regression (not shipped) comes from bench/bench_data.hpp, whose generator is
// first checked against the small CSV files bit for bit. Skips with a message
// when the shared data are absent.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include "../bench/bench_data.hpp"
#include "../bench/bench_models.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace dist = tyche::dist;
using tyche::Tensor;

const std::filesystem::path kBench = std::filesystem::path(TYCHE_SHARED_DATA_DIR) / "bench";

struct Reference {
  std::vector<double> q, grad;
  double logp = 0.0;
};

std::vector<double> numbers(const std::string& text) {
  std::vector<double> out;
  std::istringstream in(text);
  for (std::string token; in >> token;) out.push_back(std::strtod(token.c_str(), nullptr));
  return out;
}

// reference_values.txt: a line naming a problem, then "  q = ...",
// "  logp = ..." and "  grad = ...".
std::map<std::string, Reference> read_references() {
  std::map<std::string, Reference> out;
  std::ifstream in(kBench / "reference_values.txt");
  std::string line, problem;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] != ' ') {
      problem = line.substr(0, line.find(' '));
      continue;
    }
    const auto equals = line.find('=');
    std::string key = line.substr(0, equals);
    key.erase(0, key.find_first_not_of(' '));
    key.erase(key.find_last_not_of(' ') + 1);
    const std::vector<double> values = numbers(line.substr(equals + 1));
    if (key == "q") out[problem].q = values;
    else if (key == "logp") out[problem].logp = values.at(0);
    else if (key == "grad") out[problem].grad = values;
  }
  return out;
}

// A CSV file's numbers in reading order (rows, then columns).
std::vector<double> read_csv(const std::string& name) {
  std::ifstream in(kBench / name);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : text)
    if (c == ',') c = ' ';
  return numbers(text);
}

bool shared_data_present() {
  if (std::filesystem::exists(kBench / "reference_values.txt")) return true;
  WARN("skipped: no benchmark reference values at " << kBench.string());
  return false;
}

// The log joint at q, and its gradient two ways (eager and compiled), against
// the reference to 1e-10 relative: both are double-precision evaluations of
// the same sums, which differ by rounding (~1e-15 relative per term) only.
// `log_joint` is the tyche model's log density in unconstrained space; the
// reference leaves out log 2 for each half-Normal or half-Cauchy prior
// (README of the data), which tyche's log_prob includes as NumPyro's does.
template <class F>
void check_against_reference(const Reference& ref, const F& log_joint, int half_priors) {
  const Eigen::Map<const Eigen::VectorXd> q(ref.q.data(), Eigen::Index(ref.q.size()));
  const double offset = half_priors * std::numbers::ln2;
  const tyche::ValueAndGrad eager = tyche::value_and_grad(log_joint, q);
  CHECK(eager.value - offset == Approx(ref.logp).epsilon(1e-10));
  auto compiled = tyche::compile_gradient(log_joint, q);
  Eigen::VectorXd g(q.size());
  const double value = compiled(q, g);
  CHECK(value - offset == Approx(ref.logp).epsilon(1e-10));
  REQUIRE(ref.grad.size() == std::size_t(q.size()));
  for (Eigen::Index i = 0; i < q.size(); ++i) {
    INFO("gradient component " << i);
    // Absolute floor: a component that cancels to ~0 is judged against the
    // gradient's scale.
    const double scale = std::max(1.0, Eigen::Map<const Eigen::VectorXd>(ref.grad.data(), q.size()).cwiseAbs().maxCoeff());
    CHECK(std::abs(eager.grad[i] - ref.grad[std::size_t(i)]) <= 1e-10 * scale);
    CHECK(std::abs(g[i] - ref.grad[std::size_t(i)]) <= 1e-10 * scale);
  }
}

// A positive site's value from its unconstrained coordinate, adding the
// log-Jacobian of the map to `log_jacobian`.
Tensor positive(const Tensor& unconstrained, Tensor& log_jacobian) {
  const auto t = tyche::biject_to(tyche::constraints::positive);
  const Tensor value = t->forward(unconstrained);
  log_jacobian = log_jacobian + t->log_abs_det_jacobian(unconstrained, value);
  return value;
}

}  // namespace

TEST_CASE("the benchmark data generator reproduces the shared CSV files bit for bit") {
  if (!shared_data_present()) return;
  const auto linreg = tyche_bench::make_linreg50();
  const auto logreg = tyche_bench::make_logreg(1000, 3, 12345);
  const auto as_vector = [](const auto& m) { return std::vector<double>(m.data(), m.data() + m.size()); };
  CHECK(read_csv("linreg50_x.csv") == as_vector(linreg.x));
  CHECK(read_csv("linreg50_y.csv") == as_vector(linreg.y));
  CHECK(read_csv("logreg_N1000_D3_X.csv") == as_vector(logreg.X));
  CHECK(read_csv("logreg_N1000_D3_y.csv") == as_vector(logreg.y));
  CHECK(read_csv("logreg_N100000_D10_point.csv") == as_vector(tyche_bench::make_logreg(1, 10, 67890).point));
}

TEST_CASE("eight schools (non-centred) model: log joint and gradient match the reference values") {
  if (!shared_data_present()) return;
  const Reference ref = read_references().at("eight_schools_nc");
  const Tensor y{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
  const Tensor sigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  const auto model = tyche_bench::eight_schools_model(y, sigma);
  const auto log_joint = [&](const Tensor& q) {
    Tensor log_jacobian = 0.0;
    const Tensor tau = positive(q[1], log_jacobian);
    return tyche::log_density(model, std::tuple{}, {{"mu", q[0]}, {"tau", tau}, {"theta_tilde", q.slice(2, 10)}})
               .log_joint +
           log_jacobian;
  };
  CHECK(ref.q == read_csv("eight_schools_point.csv"));
  check_against_reference(ref, log_joint, 1);
}

TEST_CASE("linear regression (N = 50) model: log joint and gradient match the reference values") {
  if (!shared_data_present()) return;
  const Reference ref = read_references().at("linreg50");
  const Tensor x(read_csv("linreg50_x.csv")), y(read_csv("linreg50_y.csv"));
  REQUIRE(x.size() == 50);
  const auto model = tyche_bench::linreg_model(x, y);
  const auto log_joint = [&](const Tensor& q) {
    Tensor log_jacobian = 0.0;
    const Tensor sigma = positive(q[2], log_jacobian);
    return tyche::log_density(model, std::tuple{}, {{"alpha", q[0]}, {"beta", q[1]}, {"sigma", sigma}}).log_joint +
           log_jacobian;
  };
  CHECK(ref.q == read_csv("linreg50_point.csv"));
  check_against_reference(ref, log_joint, 1);
}

namespace {

// y ~ Bernoulli(logits = alpha + X beta), alpha ~ N(0, 2.5), beta ~ N(0, 1).
void check_logistic_regression(const std::string& problem, const tyche::RowMatrixXd& design,
                               const Eigen::VectorXd& outcome) {
  const Reference ref = read_references().at(problem);
  const Tensor X = Tensor::view(design), y = Tensor::view(outcome);
  const auto model = tyche_bench::logreg_model(X, y);
  const auto log_joint = [&](const Tensor& q) {
    return tyche::log_density(model, std::tuple{}, {{"alpha", q[0]}, {"beta", q.slice(1, q.size())}}).log_joint;
  };
  check_against_reference(ref, log_joint, 0);
}

}  // namespace

TEST_CASE("logistic regression (N = 1000, D = 3) model: log joint and gradient match the reference values") {
  if (!shared_data_present()) return;
  const std::vector<double> X = read_csv("logreg_N1000_D3_X.csv"), y = read_csv("logreg_N1000_D3_y.csv");
  REQUIRE(X.size() == 3000);
  const tyche::RowMatrixXd design = Eigen::Map<const tyche::RowMatrixXd>(X.data(), 1000, 3);
  CHECK(read_references().at("logreg_N1000_D3").q == read_csv("logreg_N1000_D3_point.csv"));
  check_logistic_regression("logreg_N1000_D3", design, Eigen::Map<const Eigen::VectorXd>(y.data(), 1000));
}

TEST_CASE("logistic regression (N = 100000, D = 10) model: log joint and gradient match the reference values") {
  if (!shared_data_present()) return;
  const auto data = tyche_bench::make_logreg(100000, 10, 67890);
  check_logistic_regression("logreg_N100000_D10", data.X, data.y);
}
