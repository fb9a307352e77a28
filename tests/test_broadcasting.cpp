// Broadcasting of single-element arrays: every binary and ternary operation
// gives NumPy's result shape (np.broadcast_shapes) when one operand has one
// element, e.g. (1,) with () is (1,), never (), with the values and gradients
// (finite differences, and the compiled replay) of the elementwise formula;
// and the models this used to break, a plate of one element.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include "gradient_check.hpp"

#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace tyche_test;
namespace dist = tyche::dist;

// Operand shapes and NumPy's broadcast shape for them
// (np.broadcast_shapes((1,), ()) == (1,), and so on).
struct PairCase {
  Shape a, b, out;
};
const std::vector<PairCase> kPairs = {
    {{1}, {}, {1}},     {{}, {1}, {1}},     {{1, 1}, {1}, {1, 1}}, {{1}, {1, 1}, {1, 1}}, {{1}, {3}, {3}},
    {{3}, {1}, {3}},    {{}, {}, {}},       {{1}, {1}, {1}},       {{1, 1}, {}, {1, 1}},  {{}, {1, 1}, {1, 1}},
    {{1, 1}, {3}, {1, 3}},
};

struct TripleCase {
  Shape a, b, c, out;
};
const std::vector<TripleCase> kTriples = {
    {{1}, {}, {}, {1}},         {{}, {1}, {}, {1}},        {{}, {}, {1}, {1}},
    {{1, 1}, {1}, {}, {1, 1}},  {{}, {1}, {1, 1}, {1, 1}}, {{1}, {}, {1, 1}, {1, 1}},
    {{1}, {3}, {}, {3}},        {{}, {}, {3}, {3}},        {{3}, {1}, {}, {3}},
    {{1}, {}, {3}, {3}},        {{}, {}, {}, {}},          {{1}, {1}, {1}, {1}},
    {{1}, {1, 1}, {3}, {1, 3}},
};

// Every operand here has one element or as many as the result, laid out like
// it, so element i of the result reads element i of a full operand.
double element(const std::vector<double>& v, std::size_t i) { return v.size() == 1 ? v[0] : v[i]; }

// Deterministic values inside a domain: low + (k + 1) (high - low) / (n + 1).
Tensor values_in(const Shape& shape, const Domain& d, double shift = 0.0) {
  std::vector<double> v(std::size_t(shape.numel()));
  for (std::size_t k = 0; k < v.size(); ++k) {
    const double t = (double(k) + 1.0 + shift) / (double(v.size()) + 2.0);
    v[k] = d.low + t * (d.high - d.low);
    if (d.either_sign && k % 2 == 1) v[k] = -v[k];
  }
  return Tensor(v, shape);
}

constexpr double kLogSqrtTwoPi = 0.91893853320467274178;
double normal_lpdf(double x, double loc, double scale) {
  const double z = (x - loc) / scale;
  return -0.5 * z * z - std::log(scale) - kLogSqrtTwoPi;
}
double cauchy_lpdf(double x, double loc, double scale) {
  const double z = (x - loc) / scale;
  return -std::log(std::numbers::pi) - std::log(scale) - std::log1p(z * z);
}
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
double bernoulli_logit_lpmf(double y, double eta) { return y * eta - softplus(eta); }

using BinaryTensor = std::function<Tensor(const Tensor&, const Tensor&)>;
using BinaryScalar = std::function<double(double, double)>;

struct BinaryOp {
  std::string name;
  BinaryTensor tensor;
  BinaryScalar scalar;
  Domain a = kReal, b = kReal;
  bool differentiable = true;
  bool summed = false;  // the result is the sum of the elementwise formula, shape ()
};

// a is data (0 or 1) for the Bernoulli mass: only the logits are differentiable.
Domain kZeroOne{0.0, 1.0};

std::vector<BinaryOp> binary_ops() {
  using T = const Tensor&;
  return {
      {"add", [](T a, T b) { return a + b; }, [](double a, double b) { return a + b; }},
      {"subtract", [](T a, T b) { return a - b; }, [](double a, double b) { return a - b; }},
      {"multiply", [](T a, T b) { return a * b; }, [](double a, double b) { return a * b; }},
      {"divide", [](T a, T b) { return a / b; }, [](double a, double b) { return a / b; }, kReal, kNonzero},
      {"pow", [](T a, T b) { return tyche::pow(a, b); }, [](double a, double b) { return std::pow(a, b); },
       kPositive, kReal},
      {"less", [](T a, T b) { return a < b; }, [](double a, double b) { return double(a < b); }, kReal, kReal, false},
      {"less_equal", [](T a, T b) { return a <= b; }, [](double a, double b) { return double(a <= b); }, kReal, kReal,
       false},
      {"greater", [](T a, T b) { return a > b; }, [](double a, double b) { return double(a > b); }, kReal, kReal,
       false},
      {"greater_equal", [](T a, T b) { return a >= b; }, [](double a, double b) { return double(a >= b); }, kReal,
       kReal, false},
      {"equal", [](T a, T b) { return a == b; }, [](double a, double b) { return double(a == b); }, kReal, kReal,
       false},
      {"not_equal", [](T a, T b) { return a != b; }, [](double a, double b) { return double(a != b); }, kReal, kReal,
       false},
      {"xlogy", [](T a, T b) { return tyche::xlogy(a, b); }, [](double a, double b) { return a * std::log(b); },
       kReal, kPositive},
      {"xlog1py", [](T a, T b) { return tyche::xlog1py(a, b); }, [](double a, double b) { return a * std::log1p(b); },
       kReal, kPositive},
      {"bernoulli_logit_log_mass", [](T y, T eta) { return tyche::bernoulli_logit_log_mass(y, eta); },
       bernoulli_logit_lpmf, kZeroOne, kReal},
      {"bernoulli_logit_log_mass_sum", [](T y, T eta) { return tyche::bernoulli_logit_log_mass_sum(y, eta); },
       bernoulli_logit_lpmf, kZeroOne, kReal, true, true},
  };
}

using TernaryTensor = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>;
using TernaryScalar = std::function<double(double, double, double)>;

struct TernaryOp {
  std::string name;
  TernaryTensor tensor;
  TernaryScalar scalar;
  Domain a = kReal, b = kReal, c = kReal;
  bool summed = false;
};

// where's condition is data (0 or 1), not differentiated.
std::vector<TernaryOp> ternary_ops() {
  using T = const Tensor&;
  return {
      {"where", [](T c, T a, T b) { return tyche::where(c, a, b); },
       [](double c, double a, double b) { return c != 0.0 ? a : b; }, kZeroOne},
      {"fma", [](T a, T b, T c) { return tyche::fma(a, b, c); }, [](double a, double b, double c) { return a * b + c; }},
      {"normal_log_density", [](T x, T l, T s) { return tyche::normal_log_density(x, l, s); }, normal_lpdf, kReal,
       kReal, kPositive},
      {"normal_log_density_sum", [](T x, T l, T s) { return tyche::normal_log_density_sum(x, l, s); }, normal_lpdf,
       kReal, kReal, kPositive, true},
      {"cauchy_log_density", [](T x, T l, T s) { return tyche::cauchy_log_density(x, l, s); }, cauchy_lpdf, kReal,
       kReal, kPositive},
      {"cauchy_log_density_sum", [](T x, T l, T s) { return tyche::cauchy_log_density_sum(x, l, s); }, cauchy_lpdf,
       kReal, kReal, kPositive, true},
  };
}

// The zero-one "domain" gives 0 and 1 alternately rather than a spread.
Tensor operand(const Shape& shape, const Domain& d, double shift) {
  if (d.low == kZeroOne.low && d.high == kZeroOne.high) {
    std::vector<double> v(std::size_t(shape.numel()));
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = double((k + 1) % 2);
    return Tensor(v, shape);
  }
  return values_in(shape, d, shift);
}

bool is_data(const Domain& d) { return d.low == kZeroOne.low && d.high == kZeroOne.high; }

// The values of a result against the formula applied element by element
// (summed when the operation sums), to rounding.
void check_values(const Tensor& result, const std::vector<double>& expected, bool summed) {
  const std::vector<double> got = result.to_std_vector();
  if (summed) {
    double total = 0.0;
    for (double e : expected) total += e;
    REQUIRE(got.size() == 1);
    CHECK(got[0] == Approx(total).epsilon(1e-14));
    return;
  }
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(expected[i]).epsilon(1e-14));
  }
}

}  // namespace

TEST_CASE("binary operations on one-element operands give NumPy's broadcast shape, values and gradients",
          "[broadcasting]") {
  for (const BinaryOp& op : binary_ops()) {
    for (const PairCase& c : kPairs) {
      INFO(op.name << " of " << c.a.str() << " and " << c.b.str());
      const Tensor a = operand(c.a, op.a, 0.0), b = operand(c.b, op.b, 0.5);
      const Tensor result = op.tensor(a, b);
      CHECK(result.shape().str() == (op.summed ? Shape{} : c.out).str());
      const auto va = a.to_std_vector(), vb = b.to_std_vector();
      std::vector<double> expected(std::size_t(c.out.numel()));
      for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = op.scalar(element(va, i), element(vb, i));
      check_values(result, expected, op.summed);
      if (!op.differentiable) continue;
      // value_and_grad against finite differences, and the compiled replay
      // against value_and_grad (gradient_check.hpp).
      if (is_data(op.a))
        check_gradient(op.name, [&](const Inputs& in) { return op.tensor(a, in[0]); }, {{c.b, op.b}});
      else
        check_gradient(op.name, [&](const Inputs& in) { return op.tensor(in[0], in[1]); }, {{c.a, op.a}, {c.b, op.b}});
    }
  }
}

TEST_CASE("a plain double with a one-element array keeps the array's shape", "[broadcasting]") {
  for (const Shape& s : {Shape{}, Shape{1}, Shape{1, 1}}) {
    INFO("shape " << s.str());
    const Tensor x = values_in(s, kPositive);
    for (const Tensor& r : {x + 2.0, 2.0 + x, x - 2.0, 2.0 - x, x * 2.0, 2.0 * x, x / 2.0, 2.0 / x,
                            tyche::pow(x, 2.0), x == 0.0, x < 1.0, tyche::clamp(x, 0.0, 1.0)})
      CHECK(r.shape().str() == s.str());
  }
}

TEST_CASE("ternary operations on one-element operands give NumPy's broadcast shape, values and gradients",
          "[broadcasting]") {
  for (const TernaryOp& op : ternary_ops()) {
    for (const TripleCase& c : kTriples) {
      INFO(op.name << " of " << c.a.str() << ", " << c.b.str() << " and " << c.c.str());
      const Tensor a = operand(c.a, op.a, 0.0), b = operand(c.b, op.b, 0.5), x = operand(c.c, op.c, 0.25);
      const Tensor result = op.tensor(a, b, x);
      CHECK(result.shape().str() == (op.summed ? Shape{} : c.out).str());
      const auto va = a.to_std_vector(), vb = b.to_std_vector(), vc = x.to_std_vector();
      std::vector<double> expected(std::size_t(c.out.numel()));
      for (std::size_t i = 0; i < expected.size(); ++i)
        expected[i] = op.scalar(element(va, i), element(vb, i), element(vc, i));
      check_values(result, expected, op.summed);
      if (is_data(op.a))
        check_gradient(op.name, [&](const Inputs& in) { return op.tensor(a, in[0], in[1]); },
                       {{c.b, op.b}, {c.c, op.c}});
      else
        check_gradient(op.name, [&](const Inputs& in) { return op.tensor(in[0], in[1], in[2]); },
                       {{c.a, op.a}, {c.b, op.b}, {c.c, op.c}});
    }
  }
}

TEST_CASE("reductions and broadcast_to of one-element arrays give NumPy's shapes", "[broadcasting]") {
  const Tensor one{2.5}, one_by_one = Tensor{2.5}.reshape({1, 1});
  // np.sum(np.ones(1), axis=0).shape == (); with keepdims (1,); and so on.
  CHECK(tyche::sum(one, 0).shape().str() == "()");
  CHECK(tyche::sum(one, 0, true).shape().str() == "(1,)");
  CHECK(tyche::sum(one_by_one, 0).shape().str() == "(1,)");
  CHECK(tyche::mean(one_by_one, -1, true).shape().str() == "(1, 1)");
  CHECK(tyche::max(one_by_one, 1).shape().str() == "(1,)");
  CHECK(tyche::logsumexp(one, 0).item() == 2.5);
  CHECK(tyche::broadcast_to(Tensor(2.5), Shape{1}).shape().str() == "(1,)");
  CHECK(tyche::broadcast_to(one, Shape{1, 1}).shape().str() == "(1, 1)");
  CHECK(tyche::broadcast_to(one, Shape{3}).to_std_vector() == std::vector<double>{2.5, 2.5, 2.5});
  CHECK_THROWS_AS(tyche::broadcast_to(one, Shape{}), tyche::ShapeError);
}

TEST_CASE("a compiled log joint over one-element data matches value_and_grad and finite differences",
          "[broadcasting]") {
  // Data of shape (1,) and scalar parameters, ending in add_n so that the
  // compiled gradient takes its unit-seeded kernels.
  const Tensor x{0.7}, y{1.3}, outcome{1.0};
  const auto f = [&](const Tensor& q) {
    const Tensor slope = q[0], intercept = q[1], log_scale = q[2];
    const Tensor mu = x * slope + intercept;  // (1,) * () must stay (1,)
    return tyche::add_n({tyche::normal_log_density_sum(y, mu, tyche::exp(log_scale)),
                         tyche::cauchy_log_density_sum(slope, 0.0, 2.0),
                         tyche::bernoulli_logit_log_mass_sum(outcome, x * slope),
                         tyche::normal_log_density_sum(y, tyche::fma(x, slope, intercept), 1.5)});
  };
  const auto reference = [&](const Eigen::VectorXd& q) {
    const double mu = 0.7 * q[0] + q[1];
    return normal_lpdf(1.3, mu, std::exp(q[2])) + cauchy_lpdf(q[0], 0.0, 2.0) + bernoulli_logit_lpmf(1.0, 0.7 * q[0]) +
           normal_lpdf(1.3, mu, 1.5);
  };
  Eigen::VectorXd q0(3), q1(3);
  q0 << 0.4, -0.3, 0.2;
  q1 << -1.1, 0.5, -0.4;
  auto compiled = tyche::compile_gradient(f, q0);
  for (const Eigen::VectorXd& q : {q0, q1}) {
    Eigen::VectorXd g_compiled(3);
    const double v_compiled = compiled(q, g_compiled);
    const tyche::ValueAndGrad eager = tyche::value_and_grad(f, q);
    CHECK(eager.value == Approx(reference(q)).epsilon(1e-14));
    CHECK(v_compiled == Approx(eager.value).epsilon(1e-14));
    for (Eigen::Index i = 0; i < 3; ++i) {
      Eigen::VectorXd plus = q, minus = q;
      plus[i] += kStep;
      minus[i] -= kStep;
      const double fd = (reference(plus) - reference(minus)) / (2.0 * kStep);
      INFO("parameter " << i);
      CHECK(std::abs(eager.grad[i] - fd) <= kTolerance * std::max(1.0, std::abs(fd)));
      CHECK(g_compiled[i] == Approx(eager.grad[i]).epsilon(1e-13).margin(1e-14));
    }
  }
}

TEST_CASE("Poisson, Bernoulli and Binomial observations in a plate of one element have the right log density",
          "[broadcasting]") {
  // A regression on one data point: the linear predictor x * slope is (1,),
  // as is the plate's batch shape.
  const Tensor x{0.5}, counts{3.0}, flags{1.0};
  const double slope = 0.8, eta = 0.5 * slope;
  const double prior = normal_lpdf(slope, 0.0, 1.0);
  auto model = [&](const std::string& likelihood) {
    return [&, likelihood] {
      const Tensor s = tyche::sample("slope", dist::Normal(0.0, 1.0));
      const Tensor linear = x * s;
      tyche::plate data("data", 1);
      if (likelihood == "Poisson") tyche::sample("y", dist::Poisson(tyche::exp(linear)), counts);
      if (likelihood == "Bernoulli") tyche::sample("y", dist::Bernoulli({.logits = linear}), flags);
      if (likelihood == "Binomial") tyche::sample("y", dist::Binomial({.total_count = 5.0, .logits = linear}), counts);
    };
  };
  const double rate = std::exp(eta), p = 1.0 / (1.0 + std::exp(-eta));
  const std::vector<std::pair<std::string, double>> cases = {
      {"Poisson", 3.0 * std::log(rate) - rate - std::lgamma(4.0)},
      {"Bernoulli", std::log(p)},
      {"Binomial", std::log(10.0) + 3.0 * std::log(p) + 2.0 * std::log1p(-p)},  // C(5, 3) = 10
  };
  for (const auto& [likelihood, log_likelihood] : cases) {
    INFO(likelihood);
    const auto [log_joint, trace] = tyche::log_density(model(likelihood), std::tuple{}, {{"slope", slope}});
    CHECK(trace["y"].fn->batch_shape().str() == "(1,)");
    CHECK(log_joint.item() == Approx(prior + log_likelihood).epsilon(1e-13));
  }
}
