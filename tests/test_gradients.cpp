// Every differentiable operation's reverse-mode gradient against central finite
// differences, over random inputs of several shapes and every broadcasting
// pattern (scalar with array, vector with matrix, size-1 axes).
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include "gradient_check.hpp"

#include <cmath>
#include <functional>
#include <numbers>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace tyche_test;

// ---- elementwise -------------------------------------------------------------

const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {{}, {3, 4}},     {{3, 4}, {}},        {{4}, {3, 4}},    {{3, 4}, {4}},
    {{3, 1}, {1, 4}}, {{2, 1, 4}, {3, 1}}, {{3, 4}, {3, 4}}, {{5}, {5}},
    {{1}, {3, 4}},    {{3, 4}, {1, 1}},    {{1, 1}, {3}},    {{2, 3, 1}, {2, 1, 4}},
};

// All broadcasting pairs, plus a plain double on either side (as in 2.0 * x,
// which has overloads of its own). op is generic: it gets Tensors or doubles.
template <class Op>
void check_binary(const std::string& name, Op op, Domain a, Domain b, double a_constant, double b_constant) {
  for (const auto& [sa, sb] : kBroadcastPairs)
    check_gradient(name, [&](const Inputs& in) { return op(in[0], in[1]); }, {{sa, a}, {sb, b}});
  for (const Shape& s : {Shape{}, Shape{3, 4}, Shape{2, 1, 3}}) {
    check_gradient(name + " with a double on the left",
                   [&](const Inputs& in) { return op(a_constant, in[0]); }, {{s, b}});
    check_gradient(name + " with a double on the right",
                   [&](const Inputs& in) { return op(in[0], b_constant); }, {{s, a}});
  }
}

using Unary = std::function<Tensor(const Tensor&)>;

// Random inputs of rank 0, 1 and 2, then any listed points (one at a time, so
// that each point's gradient is checked on its own scale).
void check_unary(const std::string& name, const Unary& op, Domain domain,
                 const std::vector<double>& points = {}) {
  const Fn fn = [&](const Inputs& in) { return op(in[0]); };
  for (const Shape& s : {Shape{}, Shape{7}, Shape{2, 3}}) check_gradient(name, fn, {{s, domain}});
  for (double x : points) check_gradient_at(name + " at " + std::to_string(x), fn, {Shape{}}, Eigen::VectorXd::Constant(1, x));
}

}  // namespace

TEST_CASE("gradient of add matches finite differences under every broadcasting pattern") {
  check_binary("add", [](const auto& a, const auto& b) { return a + b; }, kReal, kReal, 2.0, -1.5);
}

TEST_CASE("gradient of subtract matches finite differences under every broadcasting pattern") {
  check_binary("subtract", [](const auto& a, const auto& b) { return a - b; }, kReal, kReal, 2.0, 1.5);
}

TEST_CASE("gradient of multiply matches finite differences under every broadcasting pattern") {
  check_binary("multiply", [](const auto& a, const auto& b) { return a * b; }, kReal, kReal, 2.0, -0.7);
}

TEST_CASE("gradient of divide matches finite differences under every broadcasting pattern") {
  check_binary("divide", [](const auto& a, const auto& b) { return a / b; }, kReal, kNonzero, 3.0, -1.7);
}

TEST_CASE("gradient of pow matches finite differences under every broadcasting pattern") {
  check_binary("pow", [](const auto& a, const auto& b) { return tyche::pow(a, b); }, kPositive, kReal,
               1.7, 1.3);
}

TEST_CASE("gradients of a binary operation accumulate when both operands are the same array") {
  using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::pair<std::string, Binary>> ops = {
      {"x + x", [](const Tensor& a, const Tensor& b) { return a + b; }},
      {"x - x", [](const Tensor& a, const Tensor& b) { return a - b; }},
      {"x * x", [](const Tensor& a, const Tensor& b) { return a * b; }},
      {"x / x", [](const Tensor& a, const Tensor& b) { return a / b; }},
      {"pow(x, x)", [](const Tensor& a, const Tensor& b) { return tyche::pow(a, b); }},
  };
  for (const auto& [name, op] : ops)
    check_gradient(name, [&](const Inputs& in) { return op(in[0], in[0]); }, {{{3, 4}, kPositive}});
}

TEST_CASE("gradient of neg matches finite differences") {
  check_unary("neg", [](const Tensor& x) { return -x; }, kReal);
}
TEST_CASE("gradient of exp matches finite differences") {
  check_unary("exp", [](const Tensor& x) { return tyche::exp(x); }, kReal);
}
TEST_CASE("gradient of log matches finite differences") {
  check_unary("log", [](const Tensor& x) { return tyche::log(x); }, kPositive);
}
TEST_CASE("gradient of log1p matches finite differences") {
  check_unary("log1p", [](const Tensor& x) { return tyche::log1p(x); }, {-0.5, 3.0});
}
TEST_CASE("gradient of expm1 matches finite differences") {
  check_unary("expm1", [](const Tensor& x) { return tyche::expm1(x); }, kReal);
}
TEST_CASE("gradient of sqrt matches finite differences") {
  check_unary("sqrt", [](const Tensor& x) { return tyche::sqrt(x); }, kPositive);
}
TEST_CASE("gradient of square matches finite differences") {
  check_unary("square", [](const Tensor& x) { return tyche::square(x); }, kReal);
}
TEST_CASE("gradient of abs matches finite differences away from 0") {
  check_unary("abs", [](const Tensor& x) { return tyche::abs(x); }, kNonzero);
}
TEST_CASE("gradient of sin matches finite differences") {
  check_unary("sin", [](const Tensor& x) { return tyche::sin(x); }, {-4.0, 4.0});
}
TEST_CASE("gradient of cos matches finite differences") {
  check_unary("cos", [](const Tensor& x) { return tyche::cos(x); }, {-4.0, 4.0});
}
TEST_CASE("gradient of tanh matches finite differences") {
  check_unary("tanh", [](const Tensor& x) { return tyche::tanh(x); }, {-3.0, 3.0});
}
TEST_CASE("gradient of sigmoid matches finite differences") {
  check_unary("sigmoid", [](const Tensor& x) { return tyche::sigmoid(x); }, {-5.0, 5.0}, {-30.0, 30.0});
}
TEST_CASE("gradient of log_sigmoid matches finite differences, also at large |x|") {
  check_unary("log_sigmoid", [](const Tensor& x) { return tyche::log_sigmoid(x); }, {-5.0, 5.0},
              {-30.0, -20.0, 20.0, 30.0});
}
TEST_CASE("gradient of softplus matches finite differences, also at large |x|") {
  check_unary("softplus", [](const Tensor& x) { return tyche::softplus(x); }, {-5.0, 5.0},
              {-30.0, -20.0, 20.0, 30.0});
}
TEST_CASE("gradient of logit matches finite differences") {
  check_unary("logit", [](const Tensor& x) { return tyche::logit(x); }, kUnitInterval, {1e-3, 0.999});
}
TEST_CASE("gradient of erf matches finite differences") {
  check_unary("erf", [](const Tensor& x) { return tyche::erf(x); }, {-2.5, 2.5});
}
TEST_CASE("gradient of erfc matches finite differences") {
  check_unary("erfc", [](const Tensor& x) { return tyche::erfc(x); }, {-2.5, 2.5});
}
TEST_CASE("gradient of log_ndtr matches finite differences in both tails") {
  // Points on both sides of the branch changes at -20 and 6.
  check_unary("log_ndtr", [](const Tensor& x) { return tyche::log_ndtr(x); }, {-5.0, 5.0},
              {-30.0, -25.0, -20.5, -19.5, -10.0, 5.5, 6.5, 8.0});
}
TEST_CASE("gradient of lgamma matches finite differences") {
  check_unary("lgamma", [](const Tensor& x) { return tyche::lgamma(x); }, {0.2, 6.0}, {-2.5, -0.5, 15.0, 100.0});
}
TEST_CASE("gradient of digamma matches finite differences") {
  check_unary("digamma", [](const Tensor& x) { return tyche::digamma(x); }, {0.3, 6.0}, {-2.5, 40.0});
}
TEST_CASE("gradient of pow with a constant exponent matches finite differences") {
  check_unary("pow(x, 2.5)", [](const Tensor& x) { return tyche::pow(x, 2.5); }, kPositive);
  check_unary("pow(x, -1.5)", [](const Tensor& x) { return tyche::pow(x, -1.5); }, kPositive);
  check_unary("pow(x, 3.0)", [](const Tensor& x) { return tyche::pow(x, 3.0); }, kReal);
}
TEST_CASE("gradient of clamp matches finite differences away from the bounds") {
  // Random points almost surely avoid the kinks at -1 and 1 by far more than a step.
  check_unary("clamp", [](const Tensor& x) { return tyche::clamp(x, -1.0, 1.0); }, {-2.0, 2.0},
              {-1.8, -0.5, 0.3, 1.6});
}

// ---- reductions --------------------------------------------------------------

namespace {
using Reduction = std::function<Tensor(const Tensor&, std::optional<int>, bool)>;
#define TYCHE_REDUCTION(f) \
  [](const Tensor& x, std::optional<int> axis, bool keep) { return axis ? tyche::f(x, *axis, keep) : tyche::f(x); }

// The whole array, and axes 0, 1 and -1 with and without keepdims, on ranks 1 to 3.
void check_reduction(const std::string& name, const Reduction& op) {
  for (const Shape& s : {Shape{5}, Shape{3, 4}, Shape{2, 3, 4}}) {
    check_gradient(name, [&](const Inputs& in) { return op(in[0], std::nullopt, false); }, {{s}});
    for (int axis : {0, 1, -1})
      for (bool keep : {false, true})
        if (axis < s.rank())
          check_gradient(name + " axis " + std::to_string(axis) + (keep ? " keepdims" : ""),
                         [&](const Inputs& in) { return op(in[0], axis, keep); }, {{s}});
  }
}
}  // namespace

TEST_CASE("gradient of sum matches finite differences over the whole array and along each axis") {
  check_reduction("sum", TYCHE_REDUCTION(sum));
}
TEST_CASE("gradient of mean matches finite differences over the whole array and along each axis") {
  check_reduction("mean", TYCHE_REDUCTION(mean));
}
TEST_CASE("gradient of max matches finite differences over the whole array and along each axis") {
  check_reduction("max", TYCHE_REDUCTION(max));
}
TEST_CASE("gradient of logsumexp matches finite differences over the whole array and along each axis") {
  check_reduction("logsumexp", TYCHE_REDUCTION(logsumexp));
}
#undef TYCHE_REDUCTION

TEST_CASE("gradient of max goes to the first of tied maxima") {
  Eigen::VectorXd q(4);
  q << 1.0, 3.0, 3.0, -2.0;
  const Eigen::VectorXd g = tyche::grad([](const Tensor& x) { return tyche::max(x); }, q);
  CHECK(g == (Eigen::VectorXd(4) << 0.0, 1.0, 0.0, 0.0).finished());
}

// ---- linear algebra ----------------------------------------------------------

TEST_CASE("gradient of dot and matmul matches finite differences for every rank combination") {
  const Fn matmul = [](const Inputs& in) { return tyche::matmul(in[0], in[1]); };
  for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{
           {{3, 4}, {4, 2}}, {{3, 4}, {4}}, {{4}, {4, 2}}, {{4}, {4}}, {{3, 4}, {4, 1}}, {{1, 4}, {4, 3}}})
    check_gradient("matmul", matmul, {{sa}, {sb}});
  check_gradient("dot", [](const Inputs& in) { return tyche::dot(in[0], in[1]); }, {{{5}}, {{5}}});
  check_gradient("dot(x, x)", [](const Inputs& in) { return tyche::dot(in[0], in[0]); }, {{{5}}});
  check_gradient("x^T x as matmul", [](const Inputs& in) { return tyche::matmul(tyche::transpose(in[0]), in[0]); },
                 {{{3, 2}}});
}

TEST_CASE("gradient of cholesky matches finite differences") {
  // A = B B^T + 3 I from free parameters B.
  check_gradient("cholesky(B B^T + 3 I)", [](const Inputs& in) {
    return tyche::cholesky(tyche::matmul(in[0], tyche::transpose(in[0])) + 3.0 * eye(3));
  }, {{{3, 3}}});
  // A fixed SPD matrix plus an unsymmetric perturbation: cholesky factors the
  // symmetric part, so every entry (upper triangle included) has a gradient.
  std::mt19937 rng(kSeed);
  const Eigen::MatrixXd b0 = random_tensor({4, 4}, kReal, rng).to_matrix();
  const Tensor a0(Eigen::MatrixXd(b0 * b0.transpose() + 4.0 * Eigen::MatrixXd::Identity(4, 4)));
  check_gradient("cholesky(A0 + P)", [&](const Inputs& in) { return tyche::cholesky(a0 + in[0]); },
                 {{{4, 4}, {-0.3, 0.3}}});
  check_gradient("cholesky(s A0)", [&](const Inputs& in) { return tyche::cholesky(a0 * in[0]); },
                 {{{}, kPositive}});
}

TEST_CASE("gradient of solve_triangular matches finite differences, lower and upper, vector and matrix") {
  for (bool lower : {true, false})
    for (const Shape& rhs : {Shape{4}, Shape{4, 3}})
      check_gradient(std::string("solve_triangular lower=") + (lower ? "true" : "false"), [&](const Inputs& in) {
        // The other triangle of T is ignored: its gradient must be 0.
        return tyche::solve_triangular(in[0] + 4.0 * eye(4), in[1], lower);
      }, {{{4, 4}}, {rhs}});
}

TEST_CASE("gradient of logdet matches finite differences") {
  // Diagonally dominant, hence well away from singular; the second has det < 0.
  const Tensor d1 = 3.0 * eye(4);
  const Tensor d2(Eigen::MatrixXd(Eigen::Vector4d(3.0, -3.0, 3.0, 3.0).asDiagonal()));
  for (const Tensor& d : {d1, d2})
    check_gradient("logdet", [&](const Inputs& in) { return tyche::logdet(in[0] + d); }, {{{4, 4}, {-0.5, 0.5}}});
}

// ---- indexing and shape operations ---------------------------------------------

TEST_CASE("gradient of integer indexing and slicing matches finite differences") {
  check_gradient("x[1]", [](const Inputs& in) { return in[0][1]; }, {{{3, 4}}});
  check_gradient("x[-1] of rank 3", [](const Inputs& in) { return in[0][-1]; }, {{{2, 3, 4}}});
  check_gradient("x[2] of rank 1", [](const Inputs& in) { return in[0][2]; }, {{{5}}});
  check_gradient("x[0] * x[2]", [](const Inputs& in) { return in[0][0] * in[0][2]; }, {{{3, 4}}});
  check_gradient("x.slice(1, 3)", [](const Inputs& in) { return in[0].slice(1, 3); }, {{{4, 3}}});
  check_gradient("x.slice(-2, 4)", [](const Inputs& in) { return in[0].slice(-2, 4); }, {{{5}}});
  check_gradient("slice(x, 0, 1, 3)", [](const Inputs& in) { return tyche::slice(in[0], 0, 1, 3); }, {{{4, 3}}});
  check_gradient("slice(x, 1, 1, 3)", [](const Inputs& in) { return tyche::slice(in[0], 1, 1, 3); }, {{{3, 4}}});
  check_gradient("slice(x, -1, -3, -1)", [](const Inputs& in) { return tyche::slice(in[0], -1, -3, -1); },
                 {{{2, 3, 4}}});
  check_gradient("slice(x, 1, 0, 2) * slice(x, 1, 1, 3)", [](const Inputs& in) {
    return tyche::slice(in[0], 1, 0, 2) * tyche::slice(in[0], 1, 1, 3);
  }, {{{3, 4}}});
}

TEST_CASE("gradient of reshape and transpose matches finite differences") {
  check_gradient("reshape", [](const Inputs& in) { return in[0].reshape({4, 3}) * Tensor::arange(3); }, {{{3, 4}}});
  check_gradient("reshape -1", [](const Inputs& in) { return in[0].reshape({-1}); }, {{{2, 3, 4}}});
  check_gradient("flatten", [](const Inputs& in) { return in[0].flatten(); }, {{{3, 4}}});
  check_gradient("transpose", [](const Inputs& in) { return tyche::transpose(in[0]); }, {{{3, 4}}});
  check_gradient("transpose rank 3", [](const Inputs& in) { return tyche::transpose(in[0]); }, {{{2, 3, 4}}});
  for (const std::vector<int>& axes : {std::vector<int>{1, 2, 0}, {2, 0, 1}, {0, 2, 1}})
    check_gradient("transpose with axes", [&](const Inputs& in) { return tyche::transpose(in[0], axes); },
                   {{{2, 3, 4}}});
}

TEST_CASE("gradient of take accumulates over repeated indices") {
  const Tensor index{2.0, 0.0, 2.0, -1.0, 2.0};
  const Tensor index2 = Tensor(std::vector<double>{0.0, 1.0, 1.0, 1.0}, Shape{2, 2});
  check_gradient("x[index] rank 1", [&](const Inputs& in) { return in[0][index]; }, {{{4}}});
  check_gradient("x[index] rank 2", [&](const Inputs& in) { return in[0][index]; }, {{{4, 3}}});
  check_gradient("x[index] with a rank-2 index", [&](const Inputs& in) { return in[0][index2]; }, {{{3, 2}}});
  check_gradient("take(x, {1, 1, 0})", [](const Inputs& in) { return tyche::take(in[0], std::vector<std::int64_t>{1, 1, 0}); }, {{{2, 3}}});
  // The exact accumulated gradient: element k gets its multiplicity.
  const Eigen::VectorXd g = tyche::grad([&](const Tensor& x) { return tyche::sum(x[index]); }, Eigen::VectorXd::Ones(4));
  CHECK(g == Eigen::Vector4d(1.0, 0.0, 3.0, 1.0));
}

TEST_CASE("gradient of diagonal, concatenate and stack matches finite differences") {
  check_gradient("diagonal", [](const Inputs& in) { return tyche::diagonal(in[0]); }, {{{4, 4}}});
  const Fn concat0 = [](const Inputs& in) { return tyche::concatenate({in[0], in[1]}, 0); };
  const Fn concat1 = [](const Inputs& in) { return tyche::concatenate({in[0], in[1], in[2]}, 1); };
  check_gradient("concatenate axis 0", concat0, {{{2, 3}}, {{4, 3}}});
  check_gradient("concatenate axis 0 rank 1", concat0, {{{2}}, {{3}}});
  check_gradient("concatenate axis 1", concat1, {{{3, 2}}, {{3, 1}}, {{3, 4}}});
  check_gradient("concatenate axis -1 rank 3", [](const Inputs& in) {
    return tyche::concatenate({in[0], in[1]}, -1);
  }, {{{2, 3, 1}}, {{2, 3, 2}}});
  check_gradient("concatenate {x, 2 x, x}", [](const Inputs& in) {
    return tyche::concatenate({in[0], 2.0 * in[0], in[0]});
  }, {{{2, 3}}});
  for (int axis : {0, 1, -1})
    check_gradient("stack axis " + std::to_string(axis), [&](const Inputs& in) {
      return tyche::stack({in[0], in[1], in[0] * in[1]}, axis);
    }, {{{2, 3}}, {{2, 3}}});
  check_gradient("stack of scalars", [](const Inputs& in) { return tyche::stack({in[0], in[1], in[0]}); },
                 {{{}}, {{}}});
}

TEST_CASE("gradient of fma matches finite differences for every pattern of single and full operands") {
  const std::vector<Shape> shapes{Shape{}, Shape{6}};
  for (const Shape& sa : shapes)
    for (const Shape& sb : shapes)
      for (const Shape& sc : shapes)
        check_gradient("fma " + sa.str() + " " + sb.str() + " " + sc.str(),
                       [](const Inputs& in) { return tyche::fma(in[0], in[1], in[2]); },
                       {{sa}, {sb}, {sc}});
  check_gradient("fma with broadcasting (3, 1) (4,) ()",
                 [](const Inputs& in) { return tyche::fma(in[0], in[1], in[2]); },
                 {{{3, 1}}, {{4}}, {{}}});
}

TEST_CASE("gradient of broadcast_to and add_n matches finite differences") {
  for (const auto& [from, to] : std::vector<std::pair<Shape, Shape>>{
           {{}, {2, 3}}, {{4}, {3, 4}}, {{3, 1}, {2, 3, 4}}, {{1, 4}, {3, 4}}, {{3, 4}, {3, 4}}})
    check_gradient("broadcast_to " + to.str(), [&](const Inputs& in) { return tyche::broadcast_to(in[0], to); },
                   {{from}});
  check_gradient("add_n", [](const Inputs& in) { return tyche::add_n({in[0], in[1], in[0] * in[1]}); },
                 {{{3, 4}}, {{3, 4}}});
  check_gradient("add_n {x, x, 2 x}", [](const Inputs& in) { return tyche::add_n({in[0], in[0], 2.0 * in[0]}); },
                 {{{2, 3}}});
  check_gradient("add_n of one", [](const Inputs& in) { return tyche::add_n({tyche::exp(in[0])}); }, {{{5}}});
}

TEST_CASE("gradient of where matches finite differences, with the condition broadcast") {
  const Tensor row{1.0, 0.0, 0.0, 1.0};
  const Tensor column(std::vector<double>{1.0, 0.0, 1.0}, Shape{3, 1});
  check_gradient("where(row, a, scalar b)", [&](const Inputs& in) { return tyche::where(row, in[0], in[1]); },
                 {{{3, 4}}, {{}}});
  check_gradient("where(column, a (1, 4), b (3, 4))",
                 [&](const Inputs& in) { return tyche::where(column, in[0], in[1]); }, {{{1, 4}}, {{3, 4}}});
  check_gradient("where(scalar, a, b)", [](const Inputs& in) { return tyche::where(0.0, in[0], in[1]); },
                 {{{4}}, {{3, 4}}});
  check_gradient("leaky relu via where(x > 0, ...)", [](const Inputs& in) {
    return tyche::where(in[0] > 0.0, in[0], 0.1 * in[0]);
  }, {{{3, 4}}});
  check_gradient("maximum via where(a > b, a, b)", [](const Inputs& in) {
    return tyche::where(in[0] > in[1], in[0], in[1]);
  }, {{{3, 4}}, {{4}}});
}

TEST_CASE("stop_gradient keeps the value and blocks the gradient along its path") {
  Eigen::VectorXd q(4);
  q << 0.5, -1.2, 2.0, 0.3;
  // sum(x * stop_gradient(x)) has value |x|^2 but gradient x, not 2 x.
  const auto r = tyche::value_and_grad([](const Tensor& x) { return tyche::sum(x * tyche::stop_gradient(x)); }, q);
  CHECK(r.value == Approx(q.squaredNorm()));
  CHECK(r.grad == q);
  // Only through stop_gradient: no gradient at all.
  const auto only = [](const Tensor& x) { return tyche::sum(tyche::exp(tyche::stop_gradient(x))); };
  CHECK(tyche::grad(only, q) == Eigen::VectorXd::Zero(4));
  // x = q[:2] live, y = q[2:] stopped: f = sum(x * exp(y)).
  const auto mixed = [](const Tensor& p) { return tyche::sum(p.slice(0, 2) * tyche::exp(tyche::stop_gradient(p.slice(2, 4)))); };
  const Eigen::VectorXd g = tyche::grad(mixed, q);
  CHECK(g[0] == Approx(std::exp(q[2])));
  CHECK(g[1] == Approx(std::exp(q[3])));
  CHECK(g[2] == 0.0);
  CHECK(g[3] == 0.0);
}

// ---- whole functions -----------------------------------------------------------

TEST_CASE("gradient of a normal log density written with array operations matches finite differences") {
  const Tensor y{0.3, -1.2, 2.5, 0.8, 1.1, -0.4, 0.0, 3.2};
  check_gradient("normal log density", [&](const Inputs& in) {
    const Tensor& mu = in[0];
    const Tensor& log_sigma = in[1];
    const Tensor z = (y - mu) / tyche::exp(log_sigma);
    return tyche::sum(-0.5 * tyche::square(z) - log_sigma - 0.5 * std::log(2.0 * std::numbers::pi));
  }, {{{}}, {{}}});
}

TEST_CASE("gradient of a mixture and a multivariate normal log density matches finite differences") {
  const Tensor data(std::vector<double>{-1.0, 0.2, 0.5, 1.7, 2.2, -0.3}, Shape{6, 1});
  check_gradient("mixture of normals", [&](const Inputs& in) {
    const Tensor log_weights = in[0] - tyche::logsumexp(in[0]);
    const Tensor locs = in[1], log_scales = in[2];
    const Tensor z = (data - locs) / tyche::exp(log_scales);  // (6, 3)
    return tyche::sum(tyche::logsumexp(log_weights - 0.5 * tyche::square(z) - log_scales, 1));
  }, {{{3}}, {{3}}, {{3}, {-0.5, 0.5}}});
  const Tensor y{0.4, -1.0, 2.0};
  check_gradient("multivariate normal via cholesky", [&](const Inputs& in) {
    const Tensor sigma = tyche::matmul(in[0], tyche::transpose(in[0])) + eye(3);
    const Tensor l = tyche::cholesky(sigma);
    const Tensor z = tyche::solve_triangular(l, y - in[1]);
    return -0.5 * tyche::dot(z, z) - tyche::sum(tyche::log(tyche::diagonal(l)));
  }, {{{3, 3}}, {{3}}});
  check_gradient("hierarchical means via gather", [](const Inputs& in) {
    const Tensor group{0.0, 2.0, 1.0, 2.0, 2.0, 0.0};
    const Tensor obs{0.1, 1.9, 1.2, 2.4, 1.7, -0.2};
    return tyche::sum(tyche::log_ndtr(obs - in[0][group])) + tyche::sum(tyche::lgamma(tyche::exp(in[0]) + 1.0));
  }, {{{3}}});
}

TEST_CASE("value_and_grad gives exact zeros for unused parameters and constant functions") {
  const Eigen::VectorXd q = Eigen::VectorXd::LinSpaced(5, -1.0, 1.5);
  // Only the first two parameters are used.
  const auto partial = [](const Tensor& x) { return tyche::sum(tyche::exp(x.slice(0, 2))); };
  const auto r = tyche::value_and_grad(partial, q);
  CHECK(r.grad[0] == Approx(std::exp(q[0])));
  CHECK(r.grad[1] == Approx(std::exp(q[1])));
  CHECK(r.grad.tail(3) == Eigen::VectorXd::Zero(3));
  // A constant function, and a caller's gradient vector full of junk, which
  // must be overwritten, not accumulated into.
  Eigen::VectorXd g = Eigen::VectorXd::Constant(5, 7.0);
  CHECK(tyche::value_and_grad([](const Tensor&) { return Tensor(3.5); }, q, g) == 3.5);
  CHECK(g == Eigen::VectorXd::Zero(5));
  g.setConstant(7.0);
  tyche::value_and_grad(partial, q, g);
  CHECK(g == r.grad);
}
