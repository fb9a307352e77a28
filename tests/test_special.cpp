// Special functions and their derivatives against Boost.Math (evaluated with
// its default policy, which promotes double to long double) and long-double
// closed forms: lgamma, digamma, trigamma, erf, erfc, log_ndtr, and the
// logistic family at extreme arguments; then the forward values of every
// elementwise operation against the standard library on a grid of edge values.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include <tyche/tyche.hpp>

#include <boost/math/distributions/normal.hpp>
#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/erf.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

namespace {

using tyche::Tensor;
using Grid = std::vector<double>;
using UnaryFunction = Tensor (*)(const Tensor&);

Grid range(double from, double to, double step) {
  Grid g;
  for (double x = from; x <= to + 1e-9; x += step) g.push_back(x);
  return g;
}

template <class F>
Grid map(const Grid& x, F f) {
  Grid y;
  for (double v : x) y.push_back(double(f(v)));
  return y;
}

Grid values(UnaryFunction op, const Grid& x) { return op(Tensor(x)).to_std_vector(); }

// d op / dx at each point, through value_and_grad (op is elementwise, so the
// gradient of sum(op(x)) is the elementwise derivative).
Grid derivatives(UnaryFunction op, const Grid& x) {
  const Eigen::VectorXd g = tyche::grad([op](const Tensor& q) { return tyche::sum(op(q)); },
                                        Eigen::Map<const Eigen::VectorXd>(x.data(), Eigen::Index(x.size())));
  return {g.data(), g.data() + g.size()};
}

// |got - want| <= tolerance |want| at every point (so a zero is matched exactly).
void check_relative(const std::string& what, const Grid& x, const Grid& got, const Grid& want, double tolerance) {
  REQUIRE(got.size() == x.size());
  REQUIRE(want.size() == x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO(what << " at x = " << std::setprecision(17) << x[i] << ": got " << got[i] << ", expected " << want[i]
              << " (relative error " << std::abs(got[i] - want[i]) / std::abs(want[i]) << ")");
    CHECK(std::isfinite(got[i]));
    CHECK(std::abs(got[i] - want[i]) <= tolerance * std::abs(want[i]));
  }
}

constexpr double kTight = 1e-12;

// Near 0, the roots of lgamma (1, 2) and digamma (1.4616...), moderate, large
// and negative non-integer arguments.
const Grid kGammaGrid = {1e-150, 1e-10, 1e-5, 0.01, 0.1, 0.5, 0.999, 1.0, 1.001, 1.4616321449683622, 1.5,
                         1.9999, 2.0, 2.5, 3.7, 10.0, 30.5, 100.0, 171.5, 1e3, 1e5, 1e10, 1e15,
                         -0.5, -1.5, -2.5, -10.3};

const boost::math::normal kStandardNormal;

// log Phi(x) from Boost, accurate on both sides of 0: for x > 0, log Phi(x) =
// log1p(-Q(x)), since log(cdf) would lose Q's digits in the rounding of 1 - Q.
double log_phi_reference(double x) {
  return x <= 0.0 ? std::log(boost::math::cdf(kStandardNormal, x))
                  : std::log1p(-boost::math::cdf(boost::math::complement(kStandardNormal, x)));
}

long double sigmoid_reference(double x) { return 1.0L / (1.0L + std::exp(-static_cast<long double>(x))); }
long double softplus_reference(double x) {
  const long double v = x;
  return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

}  // namespace

TEST_CASE("special::lgamma, digamma and trigamma agree with Boost.Math at promoted precision") {
  const Grid& x = kGammaGrid;
  check_relative("lgamma", x, map(x, tyche::special::lgamma<>), map(x, [](double v) { return boost::math::lgamma(v); }), kTight);
  check_relative("digamma", x, map(x, tyche::special::digamma<>), map(x, [](double v) { return boost::math::digamma(v); }), kTight);
  check_relative("trigamma", x, map(x, tyche::special::trigamma<>), map(x, [](double v) { return boost::math::trigamma(v); }), kTight);
}

TEST_CASE("lgamma of an array agrees with Boost.Math and its derivative is digamma") {
  const Grid& x = kGammaGrid;
  check_relative("lgamma", x, values(tyche::lgamma, x), map(x, [](double v) { return boost::math::lgamma(v); }), kTight);
  check_relative("d lgamma", x, derivatives(tyche::lgamma, x), map(x, [](double v) { return boost::math::digamma(v); }), kTight);
}

TEST_CASE("digamma of an array agrees with Boost.Math and its derivative is trigamma") {
  const Grid& x = kGammaGrid;
  check_relative("digamma", x, values(tyche::digamma, x), map(x, [](double v) { return boost::math::digamma(v); }), kTight);
  check_relative("d digamma", x, derivatives(tyche::digamma, x), map(x, [](double v) { return boost::math::trigamma(v); }), kTight);
}

TEST_CASE("erf and erfc of an array agree with Boost.Math and their derivatives are +-2/sqrt(pi) exp(-x^2)") {
  const Grid x = {-6.0, -3.0, -1.0, -0.5, -1e-3, -1e-10, 0.0, 1e-300, 1e-10, 1e-3, 0.5, 1.0, 2.0, 3.0, 5.0, 6.0, 10.0, 26.0};
  const auto d_erf = [](double v) {
    const long double t = v;
    return 2.0L / std::sqrt(std::numbers::pi_v<long double>) * std::exp(-t * t);
  };
  check_relative("erf", x, values(tyche::erf, x), map(x, [](double v) { return boost::math::erf(v); }), kTight);
  check_relative("erfc", x, values(tyche::erfc, x), map(x, [](double v) { return boost::math::erfc(v); }), kTight);
  check_relative("d erf", x, derivatives(tyche::erf, x), map(x, d_erf), kTight);
  check_relative("d erfc", x, derivatives(tyche::erfc, x), map(x, [&](double v) { return -d_erf(v); }), kTight);
}

TEST_CASE("log_ndtr agrees with log Phi from Boost.Math between -20 and 3") {
  Grid x = range(-20.0, 3.0, 0.125);
  x.insert(x.end(), {-1e-300, 1e-300, 1e-8});
  check_relative("log_ndtr", x, values(tyche::log_ndtr, x), map(x, log_phi_reference), kTight);
}

TEST_CASE("log_ndtr keeps full relative accuracy in the upper tail, where it is a tiny negative number") {
  // log Phi(x) = log1p(-Q(x)) ~ -Q(x): 1e-12 relative needs Q's digits, which
  // neither log(Phi) (Phi rounds to 1 - k ulp) nor the approximation -Q
  // (relative error Q / 2) keeps for x between about 4 and 7.
  Grid x = range(3.0, 10.0, 0.25);
  x.push_back(std::nextafter(6.0, 7.0));
  check_relative("log_ndtr", x, values(tyche::log_ndtr, x), map(x, log_phi_reference), kTight);
}

TEST_CASE("log_ndtr keeps relative accuracy in the asymptotic lower tail from -35 to -20") {
  // The asymptotic series is truncated after the x^-10 term: ~1e-11 relative to
  // the series at x = -20, far less relative to log Phi itself (about -200).
  Grid x = range(-35.0, -20.0, 0.25);
  x.push_back(std::nextafter(-20.0, -21.0));
  const auto long_double_reference = [](double v) {
    return std::log(0.5L * std::erfc(-static_cast<long double>(v) / std::numbers::sqrt2_v<long double>));
  };
  const Grid got = values(tyche::log_ndtr, x);
  check_relative("log_ndtr vs Boost", x, got, map(x, log_phi_reference), 1e-10);
  check_relative("log_ndtr vs long double erfc", x, got, map(x, long_double_reference), 1e-10);
}

TEST_CASE("the derivative of log_ndtr is pdf / cdf from -35 to 10") {
  const auto pdf_over_cdf = [](double v) {
    return boost::math::pdf(kStandardNormal, v) / boost::math::cdf(kStandardNormal, v);
  };
  // x = -20 itself is in the asymptotic branch.
  const Grid tail = range(-35.0, -20.0, 0.25), body = range(-19.75, 10.0, 0.25);
  check_relative("d log_ndtr (lower tail)", tail, derivatives(tyche::log_ndtr, tail), map(tail, pdf_over_cdf), 1e-10);
  check_relative("d log_ndtr", body, derivatives(tyche::log_ndtr, body), map(body, pdf_over_cdf), kTight);
}

TEST_CASE("log_ndtr and its derivative stay finite and accurate far in the lower tail") {
  // Below x = -100 the first terms of the asymptotic series, in long double,
  // are exact to double precision: log Phi(x) = log phi(x) - log(-x) +
  // log(s) and phi / Phi = -x / s with s = 1 - r + 3 r^2 - 15 r^3, r = 1 / x^2.
  // The derivative must not be formed as exp(log phi - log Phi), a difference
  // of two numbers of size x^2 / 2.
  const Grid x = {-100.0, -1e3, -1e4, -1e6, -1e8, -1e150};
  const auto series = [](double v) {
    const long double r = 1.0L / (static_cast<long double>(v) * v);
    return 1.0L - r * (1.0L - 3.0L * r * (1.0L - 5.0L * r));
  };
  const auto log_phi = [&](double v) {
    const long double t = v;
    return -0.5L * t * t - 0.5L * std::log(2.0L * std::numbers::pi_v<long double>) - std::log(-t) + std::log(series(v));
  };
  check_relative("log_ndtr", x, values(tyche::log_ndtr, x), map(x, log_phi), 1e-10);
  check_relative("d log_ndtr", x, derivatives(tyche::log_ndtr, x), map(x, [&](double v) { return -v / series(v); }), 1e-10);
}

TEST_CASE("softplus, log_sigmoid and sigmoid are exact at extreme arguments") {
  const Grid x = {-700.0, -40.0, -30.0, -1.0, 0.0, 1.0, 30.0, 40.0, 700.0};
  const auto sigmoid = [](double v) { return sigmoid_reference(v); };
  const auto sigmoid_of_minus = [](double v) { return sigmoid_reference(-v); };
  check_relative("softplus", x, values(tyche::softplus, x), map(x, softplus_reference), kTight);
  check_relative("log_sigmoid", x, values(tyche::log_sigmoid, x), map(x, [](double v) { return -softplus_reference(-v); }), kTight);
  check_relative("sigmoid", x, values(tyche::sigmoid, x), map(x, sigmoid), kTight);
  check_relative("d softplus", x, derivatives(tyche::softplus, x), map(x, sigmoid), kTight);
  check_relative("d log_sigmoid", x, derivatives(tyche::log_sigmoid, x), map(x, sigmoid_of_minus), kTight);
  // sigmoid' = y (1 - y) from y = sigmoid(x): exact where y is small (x <= 0);
  // for x > 0, 1 - y carries y's rounding, so the derivative is only good to an
  // ulp of 1 in absolute terms (it is 0 rather than 4e-18 at x = 40).
  const Grid d = derivatives(tyche::sigmoid, x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = double(sigmoid_reference(x[i]) * sigmoid_reference(-x[i]));
    INFO("d sigmoid at x = " << x[i] << ": got " << d[i] << ", expected " << want);
    if (x[i] <= 0.0) CHECK(std::abs(d[i] - want) <= kTight * want);
    else CHECK(std::abs(d[i] - want) <= std::numeric_limits<double>::epsilon());
  }
  // The extreme values the brief singles out, spelt out.
  const Grid far = {-700.0, 700.0};
  const Grid sp = values(tyche::softplus, far), ls = values(tyche::log_sigmoid, far), sg = values(tyche::sigmoid, far);
  CHECK(sp[0] > 0.0);
  CHECK(sp[0] < 1e-300);
  CHECK(sp[1] == 700.0);
  CHECK(ls[0] == -700.0);
  CHECK(ls[1] < 0.0);
  CHECK(ls[1] > -1e-300);
  CHECK(sg[0] > 0.0);
  CHECK(sg[1] == 1.0);
}

TEST_CASE("the logistic family gives no NaN and stays in range for any finite argument") {
  const double big = std::numeric_limits<double>::max();
  const Grid x = {-big, -1e300, -1000.0, -745.0, -710.0, -700.0, -40.0, 0.0, 40.0, 700.0, 710.0, 745.0, 1000.0, 1e300, big};
  for (const auto& [name, op] : std::vector<std::pair<std::string, UnaryFunction>>{
           {"softplus", tyche::softplus}, {"log_sigmoid", tyche::log_sigmoid}, {"sigmoid", tyche::sigmoid}}) {
    const Grid y = values(op, x), d = derivatives(op, x);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO(name << " at x = " << x[i] << ": value " << y[i] << ", derivative " << d[i]);
      CHECK(!std::isnan(y[i]));
      CHECK(!std::isnan(d[i]));
      CHECK(d[i] >= 0.0);
      CHECK(d[i] <= 1.0);
      if (name == "softplus") CHECK(y[i] >= std::max(x[i], 0.0));
      if (name == "log_sigmoid") CHECK(y[i] <= std::min(x[i], 0.0));
      if (name == "sigmoid") CHECK((y[i] >= 0.0 && y[i] <= 1.0));
    }
  }
}

// ---- forward values of every elementwise operation ---------------------------
// Each operation on a grid with edge values (signed zeros, subnormal, tiny,
// large, overflowing, infinite and NaN arguments), evaluated both as one array
// (Eigen's vectorised loops) and one element at a time (the single-element
// path), against the standard library, or long double and Boost.Math where it
// has no such function. Finite differences only check derivatives of tyche's
// own forward values; these check the values themselves.

namespace {

using tyche_test::kInf;
using tyche_test::kNaN;
constexpr double kEps = std::numeric_limits<double>::epsilon();

const Grid kEdgeGrid = {-kInf, -1e300, -745.5, -710.0, -40.0, -2.5, -1.0, -0.5, -1e-10, -1e-300, -0.0,
                        0.0, 5e-324, 1e-300, 1e-10, 0.25, 0.5, 0.75, 1.0, 2.5, 40.0, 700.0, 710.0, 1e300, kInf, kNaN};

// got agrees with want: both NaN, the same infinity, or within `ulps` units of
// want's magnitude (exact for ulps = 0, so a zero must be matched exactly). A
// result too small to be a normal number may also be flushed to 0, as JAX's
// sigmoid(-710) = 1 / (1 + exp(710)) is: a subnormal has lost its relative
// precision anyway.
bool agrees(double got, double want, double ulps) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  if (got == 0.0 && std::abs(want) < std::numeric_limits<double>::min()) return true;
  return std::abs(got - want) <= ulps * kEps * std::abs(want);
}

// The operation on the whole grid and on each element alone, against reference.
// A function pointer, so that an operation is passed by its plain name (as
// tyche::square): operations are templates (issue 17), which a std::function
// would need named as tyche::square<>.
template <class Reference>
void check_forward(const std::string& name, Tensor (*op)(const Tensor&), const Grid& x, Reference reference,
                   double ulps) {
  const Grid whole = op(Tensor(x)).to_std_vector();
  REQUIRE(whole.size() == x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = double(reference(x[i])), alone = op(Tensor(x[i])).item();
    INFO(name << " at x = " << std::setprecision(17) << x[i] << ": as an array " << whole[i] << ", alone " << alone
              << ", expected " << want);
    CHECK(agrees(whole[i], want, ulps));
    CHECK(agrees(alone, want, ulps));
  }
}

Grid between(const Grid& x, double low, double high) {
  Grid out;
  for (double v : x)
    if (v >= low && v <= high) out.push_back(v);
  return out;
}

long double softplus_ld(long double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }

}  // namespace

TEST_CASE("forward values of the elementwise functions agree with the standard library", "[forward]") {
  // Exact (0 ulps): operations that are one IEEE operation or a selection.
  // 4 ulps for the transcendental functions: glibc's are correctly rounded or
  // within an ulp, and Eigen's vectorised exp, log, log1p and expm1 (from
  // Cephes) within 2 ulps of the true value; a wrong formula is off by far more.
  const Grid& x = kEdgeGrid;
  check_forward("neg", [](const Tensor& t) { return -t; }, x, [](double v) { return -v; }, 0);
  check_forward("square", tyche::square, x, [](double v) { return v * v; }, 0);
  check_forward("abs", tyche::abs, x, [](double v) { return std::abs(v); }, 0);
  check_forward("sqrt", tyche::sqrt, x, [](double v) { return std::sqrt(v); }, 0);
  check_forward("stop_gradient", tyche::stop_gradient, x, [](double v) { return v; }, 0);
  check_forward("exp", tyche::exp, x, [](double v) { return std::exp(v); }, 4);
  check_forward("log", tyche::log, x, [](double v) { return std::log(v); }, 4);
  check_forward("log1p", tyche::log1p, x, [](double v) { return std::log1p(v); }, 4);
  check_forward("expm1", tyche::expm1, x, [](double v) { return std::expm1(v); }, 4);
  check_forward("sin", tyche::sin, x, [](double v) { return std::sin(v); }, 4);
  check_forward("cos", tyche::cos, x, [](double v) { return std::cos(v); }, 4);
  check_forward("tanh", tyche::tanh, x, [](double v) { return std::tanh(v); }, 4);
  check_forward("erf", tyche::erf, x, [](double v) { return std::erf(v); }, 4);
  check_forward("erfc", tyche::erfc, x, [](double v) { return std::erfc(v); }, 4);
}

TEST_CASE("forward values of the logistic family, logit, log_ndtr, lgamma and digamma agree with references",
          "[forward]") {
  const Grid& x = kEdgeGrid;
  // long double references rounded once: 4 ulps covers the few roundings of
  // tyche's double formulas.
  check_forward("sigmoid", tyche::sigmoid, x, [](double v) { return 1.0L / (1.0L + std::exp(-(long double)v)); }, 4);
  check_forward("softplus", tyche::softplus, x, [](double v) { return softplus_ld(v); }, 4);
  check_forward("log_sigmoid", tyche::log_sigmoid, x, [](double v) { return -softplus_ld(-(long double)v); }, 4);
  // logit(p) = log p - log1p(-p): the relative error of a difference grows
  // near p = 1/2, where logit is 0, so the grid avoids 1/2 and takes 16 ulps.
  const Grid p = {-0.5, 0.0, 5e-324, 1e-300, 1e-10, 0.1, 0.25, 0.4, 0.6, 0.75, 0.9, 1.0 - 1e-10, 1.0, 1.5, kNaN};
  check_forward("logit", tyche::logit, p, [](double v) {
    return std::log((long double)v) - std::log1p(-(long double)v);
  }, 16);
  // log Phi from std::erfc in long double (log1p(-Q) above 0); below -30 the
  // reference underflows, and test cases above check the asymptotic tail.
  check_forward("log_ndtr", tyche::log_ndtr, between(x, -30.0, kInf), [](double v) {
    const long double t = v / std::numbers::sqrt2_v<long double>;
    return v <= 0.0 ? std::log(0.5L * std::erfc(-t)) : std::log1p(-0.5L * std::erfc(t));
  }, 4);
  // Boost.Math (promoted to long double by its default policy) against tyche's
  // double-precision evaluation, and std::lgamma: 8 ulps, but lgamma's roots
  // at 1 and 2 and digamma's at 1.4616 give zeros of no magnitude, checked
  // apart in the test cases above.
  const Grid g = {-kInf, -10.3, -2.5, -2.0, -1.0, -0.5, -0.0, 0.0, 1e-300, 1e-10, 0.25, 0.5, 2.5, 40.0, 710.0, 1e300, kInf, kNaN};
  check_forward("lgamma", tyche::lgamma, g, [](double v) { return std::lgamma(v); }, 8);
  check_forward("digamma", tyche::digamma, between(g, 1e-300, 1e300), [](double v) { return boost::math::digamma(v); }, 8);
}

TEST_CASE("forward values of arithmetic, pow, comparisons, clamp and where agree with the standard library",
          "[forward]") {
  // Every pair of grid values: as arrays, with a plain double on either side,
  // and one element at a time. One IEEE operation each, so exact.
  const Grid& x = kEdgeGrid;
  Grid a, b;
  for (double u : x)
    for (double v : x) {
      a.push_back(u);
      b.push_back(v);
    }
  struct Op {
    std::string name;
    std::function<Tensor(const Tensor&, const Tensor&)> tensor;
    std::function<Tensor(const Tensor&, double)> right_double;
    std::function<Tensor(double, const Tensor&)> left_double;
    std::function<double(double, double)> reference;
  };
  const std::vector<Op> ops = {
      {"+", [](const Tensor& u, const Tensor& v) { return u + v; }, [](const Tensor& u, double v) { return u + v; },
       [](double u, const Tensor& v) { return u + v; }, [](double u, double v) { return u + v; }},
      {"-", [](const Tensor& u, const Tensor& v) { return u - v; }, [](const Tensor& u, double v) { return u - v; },
       [](double u, const Tensor& v) { return u - v; }, [](double u, double v) { return u - v; }},
      {"*", [](const Tensor& u, const Tensor& v) { return u * v; }, [](const Tensor& u, double v) { return u * v; },
       [](double u, const Tensor& v) { return u * v; }, [](double u, double v) { return u * v; }},
      {"/", [](const Tensor& u, const Tensor& v) { return u / v; }, [](const Tensor& u, double v) { return u / v; },
       [](double u, const Tensor& v) { return u / v; }, [](double u, double v) { return u / v; }},
      {"pow", [](const Tensor& u, const Tensor& v) { return tyche::pow(u, v); },
       [](const Tensor& u, double v) { return tyche::pow(u, v); },
       [](double u, const Tensor& v) { return tyche::pow(Tensor(u), v); }, [](double u, double v) { return std::pow(u, v); }},
      {"<", [](const Tensor& u, const Tensor& v) { return u < v; }, [](const Tensor& u, double v) { return u < v; },
       [](double u, const Tensor& v) { return u < v; }, [](double u, double v) { return double(u < v); }},
      {"<=", [](const Tensor& u, const Tensor& v) { return u <= v; }, [](const Tensor& u, double v) { return u <= v; },
       [](double u, const Tensor& v) { return u <= v; }, [](double u, double v) { return double(u <= v); }},
      {">", [](const Tensor& u, const Tensor& v) { return u > v; }, [](const Tensor& u, double v) { return u > v; },
       [](double u, const Tensor& v) { return u > v; }, [](double u, double v) { return double(u > v); }},
      {">=", [](const Tensor& u, const Tensor& v) { return u >= v; }, [](const Tensor& u, double v) { return u >= v; },
       [](double u, const Tensor& v) { return u >= v; }, [](double u, double v) { return double(u >= v); }},
      {"==", [](const Tensor& u, const Tensor& v) { return u == v; }, [](const Tensor& u, double v) { return u == v; },
       [](double u, const Tensor& v) { return u == v; }, [](double u, double v) { return double(u == v); }},
      {"!=", [](const Tensor& u, const Tensor& v) { return u != v; }, [](const Tensor& u, double v) { return u != v; },
       [](double u, const Tensor& v) { return u != v; }, [](double u, double v) { return double(u != v); }},
  };
  for (const Op& op : ops) {
    const Grid whole = op.tensor(Tensor(a), Tensor(b)).to_std_vector();
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double want = op.reference(a[i], b[i]);
      INFO(std::setprecision(17) << a[i] << " " << op.name << " " << b[i] << ": expected " << want);
      CHECK(agrees(whole[i], want, 0));
      CHECK(agrees(op.tensor(Tensor(a[i]), Tensor(b[i])).item(), want, 0));
      CHECK(agrees(op.right_double(Tensor(a[i]), b[i]).item(), want, 0));
      CHECK(agrees(op.left_double(a[i], Tensor(b[i])).item(), want, 0));
    }
    // A plain double against a whole array takes the constant-operand kernels.
    for (double v : {-2.5, 0.0, 1.0, 3.0}) {
      const Grid right = op.right_double(Tensor(x), v).to_std_vector(), left = op.left_double(v, Tensor(x)).to_std_vector();
      for (std::size_t i = 0; i < x.size(); ++i) {
        INFO(std::setprecision(17) << op.name << " of " << x[i] << " and " << v);
        CHECK(agrees(right[i], op.reference(x[i], v), 0));
        CHECK(agrees(left[i], op.reference(v, x[i]), 0));
      }
    }
  }
  // clamp as std::clamp (NaN stays NaN), where as a selection.
  const Grid clamped = tyche::clamp(Tensor(x), -1.0, 2.5).to_std_vector();
  const Grid picked = tyche::where(Tensor(a) > Tensor(b), Tensor(a), Tensor(b)).to_std_vector();
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO("clamp at " << x[i]);
    CHECK(agrees(clamped[i], std::isnan(x[i]) ? kNaN : std::clamp(x[i], -1.0, 2.5), 0));
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("where at " << a[i] << ", " << b[i]);
    CHECK(agrees(picked[i], a[i] > b[i] ? a[i] : b[i], 0));
  }
  // fma(a, b, c) = a b + c with two roundings (or one, if the compiler fuses
  // them): within 1 ulp of the product-sum's magnitude where no cancellation occurs.
  const Grid u = {-2.5, -1.0, 0.25, 0.75, 40.0}, w = {0.5, 1.0, 2.5, 700.0, 1e-10};
  for (double c : {0.0, 1.0, 1e10}) {
    const Grid fused = tyche::fma(Tensor(u), Tensor(w), Tensor(c)).to_std_vector();
    for (std::size_t i = 0; i < u.size(); ++i) {
      INFO("fma(" << u[i] << ", " << w[i] << ", " << c << ")");
      CHECK(std::abs(fused[i] - (u[i] * w[i] + c)) <= kEps * (std::abs(u[i] * w[i]) + std::abs(c)));
    }
  }
}
