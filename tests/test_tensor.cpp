// Values and shapes of tyche::Tensor and its operations, checked against
// explicit loops and Eigen computations written out in the tests.
#include <catch2/catch.hpp>
#include "common_data.hpp"
#include <tyche/tyche.hpp>

#include <Eigen/Cholesky>
#include <Eigen/LU>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using tyche::Shape;
using tyche::Tensor;

namespace {

using Dims = std::vector<std::int64_t>;
using tyche_test::kInf;
using tyche_test::kNaN;

std::vector<double> tensor_values(const Tensor& t) { return t.to_std_vector(); }
std::string shape_of(const Tensor& t) { return t.shape().str(); }
std::string str(const Dims& dims) { return Shape(dims).str(); }

// A column vector, shape (n, 1).
Tensor column(std::initializer_list<double> v) {
  return Tensor(std::vector<double>(v), Shape{std::int64_t(v.size()), 1});
}

// start, start + step, ... laid out in `shape`.
Tensor filled(const Shape& shape, double start, double step = 0.5) {
  std::vector<double> v(std::size_t(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + step * double(i);
  return Tensor(v, shape);
}

// All multi-indices of `dims` in row-major order.
std::vector<Dims> multi_indices(const Dims& dims) {
  std::int64_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<Dims> out;
  Dims index(dims.size(), 0);
  for (std::int64_t k = 0; k < n; ++k) {
    out.push_back(index);
    for (int axis = int(dims.size()) - 1; axis >= 0; --axis) {
      if (++index[std::size_t(axis)] < dims[std::size_t(axis)]) break;
      index[std::size_t(axis)] = 0;
    }
  }
  return out;
}

// Flat offset into an array of shape `in` of the element that NumPy broadcasting
// pairs with element `out_index` of the result (right-aligned, size-1 axes repeat).
std::int64_t broadcast_offset(const Shape& in, const Dims& out_index) {
  const int shift = int(out_index.size()) - in.rank();
  std::int64_t offset = 0;
  for (int d = 0; d < in.rank(); ++d)
    offset = offset * in[d] + (in[d] == 1 ? 0 : out_index[std::size_t(d + shift)]);
  return offset;
}

// Reduces `x` along `axis` (non-negative) with explicit loops.
std::vector<double> reduce_reference(const Tensor& x, int axis,
                                     const std::function<double(const std::vector<double>&)>& f) {
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i < axis) outer *= x.shape()[i];
    if (i > axis) inner *= x.shape()[i];
  }
  const std::int64_t length = x.shape()[axis];
  const std::vector<double> v = tensor_values(x);
  std::vector<double> out;
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      std::vector<double> run;
      for (std::int64_t k = 0; k < length; ++k) run.push_back(v[std::size_t((o * length + k) * inner + i)]);
      out.push_back(f(run));
    }
  return out;
}

double ref_sum(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}
double ref_mean(const std::vector<double>& v) { return ref_sum(v) / double(v.size()); }
double ref_max(const std::vector<double>& v) {
  double m = v[0];
  for (double x : v) m = x > m ? x : m;
  return m;
}
double ref_logsumexp(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += std::exp(x);
  return std::log(s);
}

void check_approx(const std::vector<double>& got, const std::vector<double>& expected) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(expected[i]).margin(1e-12));
  }
}

// A deterministic dense matrix with unremarkable entries.
Eigen::MatrixXd test_matrix(Eigen::Index rows, Eigen::Index cols, double seed) {
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < cols; ++j) m(i, j) = std::sin(1.3 * double(i) + 0.7 * double(j) + seed);
  return m;
}

Eigen::MatrixXd spd_matrix(Eigen::Index n) {
  const Eigen::MatrixXd m = test_matrix(n, n, 0.3);
  return m * m.transpose() + double(n) * Eigen::MatrixXd::Identity(n, n);
}

template <class T>
concept builds_from_one_element_rows = requires { T{{1.0}, {2.0}}; };

template <class T>
concept viewable = requires(const T& source) { Tensor::view(source); };

}  // namespace

// ---- construction and conversion -------------------------------------------

TEST_CASE("a Tensor built from a scalar has rank 0, size 1 and that value") {
  const Tensor t = 2.5;
  CHECK(t.ndim() == 0);
  CHECK(t.size() == 1);
  CHECK(shape_of(t) == "()");
  CHECK(t.item() == 2.5);
  CHECK(t.at({}) == 2.5);
  CHECK(t.to_matrix().rows() == 1);
  CHECK(t.to_matrix()(0, 0) == 2.5);
}

TEST_CASE("initializer lists build 1-D and 2-D arrays in row-major order") {
  const Tensor v{1.0, 2.0, 3.0};
  CHECK(shape_of(v) == "(3,)");
  CHECK(tensor_values(v) == std::vector<double>{1.0, 2.0, 3.0});
  const Tensor m{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  CHECK(shape_of(m) == "(2, 3)");
  CHECK(tensor_values(m) == std::vector<double>{1.0, 2.0, 3.0, 4.0, 5.0, 6.0});
  CHECK(m.dim(0) == 2);
  CHECK(m.dim(-1) == 3);
  CHECK(shape_of(Tensor{{7.0, 8.0}}) == "(1, 2)");
  CHECK(shape_of(Tensor()) == "(0,)");
}

TEST_CASE("a nested initializer list with one element per row builds a column, as documented for m{{1.0}, {2.0}}") {
  // elementwise.hpp documents `tyche::Tensor m{{1.0}, {2.0}};` with shape (2, 1).
  CHECK(builds_from_one_element_rows<Tensor>);
}

TEST_CASE("a std::vector builds a 1-D array, or any shape of the same size") {
  const std::vector<double> data{0.0, 1.0, 2.0, 3.0, 4.0, 5.0};
  CHECK(shape_of(Tensor(data)) == "(6,)");
  const Tensor a(data, Shape{2, 3}), b(data, Shape{3, 2}), c(data, Shape{1, 2, 3});
  CHECK(shape_of(a) == "(2, 3)");
  CHECK(a.at({1, 0}) == 3.0);
  CHECK(b.at({1, 0}) == 2.0);
  CHECK(c.at({0, 1, 2}) == 5.0);
  CHECK(tensor_values(c) == data);
}

TEST_CASE("an Eigen::VectorXd becomes a 1-D array and converts back") {
  Eigen::VectorXd v(4);
  v << 1.5, -2.0, 3.25, 0.0;
  const Tensor t(v);
  CHECK(shape_of(t) == "(4,)");
  CHECK(t.to_vector() == v);
  CHECK(tensor_values(t) == std::vector<double>{1.5, -2.0, 3.25, 0.0});
  const Eigen::MatrixXd column = t.to_matrix();  // rank 1 converts as a column
  CHECK(column.rows() == 4);
  CHECK(column.cols() == 1);
  CHECK(column.col(0) == v);
}

TEST_CASE("a column-major Eigen::MatrixXd becomes a row-major array with the same entries") {
  Eigen::MatrixXd m(2, 3);
  m << 0, 1, 2, 10, 11, 12;  // column-major storage is 0, 10, 1, 11, 2, 12
  const Tensor t(m);
  CHECK(shape_of(t) == "(2, 3)");
  CHECK(tensor_values(t) == std::vector<double>{0, 1, 2, 10, 11, 12});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(t.at({i, j}) == m(i, j));
  CHECK(t.to_matrix() == m);
  CHECK(Tensor(m.transpose()).to_matrix() == m.transpose());  // an Eigen expression
}

TEST_CASE("an Eigen::Map over a std::vector and a row-major Eigen matrix build arrays") {
  std::vector<double> storage{1.0, 2.0, 3.0, 4.0, 5.0, 6.0};
  const Eigen::Map<const Eigen::VectorXd> map(storage.data(), Eigen::Index(storage.size()));
  const Tensor from_map(map);
  CHECK(shape_of(from_map) == "(6,)");
  CHECK(tensor_values(from_map) == storage);

  tyche::RowMatrixXd r(3, 2);
  r << 1, 2, 3, 4, 5, 6;
  const Tensor from_rows(r);
  CHECK(shape_of(from_rows) == "(3, 2)");
  CHECK(tensor_values(from_rows) == storage);
  CHECK(from_rows.to_matrix() == Eigen::MatrixXd(r));
  const Tensor viewed = Tensor::view(r);
  CHECK(viewed.data() == r.data());
  CHECK(tensor_values(viewed) == storage);
}

TEST_CASE("item, at with negative indices, to_std_vector and to_matrix read the elements") {
  const Tensor m{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  CHECK(m.at({-1, -1}) == 6.0);
  CHECK(m.at({-2, 0}) == 1.0);
  CHECK(m.at({1, -3}) == 4.0);
  CHECK(m[1].at({-1}) == 6.0);
  CHECK(Tensor{9.0}.item() == 9.0);
  CHECK(column({4.0}).item() == 4.0);
  CHECK(m.to_matrix()(1, 2) == 6.0);
  CHECK(m.to_std_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("full, zeros, ones and arange make arrays of the requested shape") {
  CHECK(tensor_values(Tensor::full(Shape{2, 2}, 1.5)) == std::vector<double>(4, 1.5));
  CHECK(tensor_values(Tensor::zeros(Shape{3})) == std::vector<double>(3, 0.0));
  CHECK(shape_of(Tensor::ones(Shape{2, 1, 3})) == "(2, 1, 3)");
  CHECK(tensor_values(Tensor::arange(4)) == std::vector<double>{0, 1, 2, 3});
  CHECK(Tensor::zeros(Shape{}).item() == 0.0);
}

// ---- large inputs are not copied ---------------------------------------------

TEST_CASE("Tensor::view and Tensor copies share memory instead of copying it") {
  std::vector<double> storage{1.0, 2.0, 3.0, 4.0, 5.0, 6.0};
  const Tensor v = Tensor::view(storage.data(), Shape{2, 3});
  CHECK(v.data() == storage.data());
  CHECK(v.at({1, 2}) == 6.0);
  storage[5] = 60.0;  // a view sees later changes of the caller's memory
  CHECK(v.at({1, 2}) == 60.0);

  Eigen::VectorXd e = Eigen::VectorXd::LinSpaced(5, 0.0, 4.0);
  CHECK(Tensor::view(e).data() == e.data());

  const Tensor owned{1.0, 2.0, 3.0};
  const Tensor copy = owned;  // NOLINT: the copy is the point
  CHECK(copy.data() == owned.data());
  Tensor assigned;
  assigned = owned;
  CHECK(assigned.data() == owned.data());
  const Tensor deep = owned.copy();  // the explicit deep copy
  CHECK(deep.data() != owned.data());
  CHECK(tensor_values(deep) == tensor_values(owned));
}

TEST_CASE("Tensor::view accepts contiguous row-major Eigen objects only, never viewing a temporary copy") {
  CHECK(viewable<Eigen::VectorXd>);
  CHECK(viewable<tyche::RowMatrixXd>);
  // These would need a converted temporary, which the view would outlive.
  CHECK_FALSE(viewable<Eigen::MatrixXd>);
  CHECK_FALSE(viewable<Eigen::Map<const Eigen::VectorXd>>);
  CHECK_FALSE(viewable<Eigen::RowVectorXd>);
}

TEST_CASE("a 100000x10 matrix wrapped once with Tensor::view is used by value_and_grad without copying") {
  tyche::RowMatrixXd big(100000, 10);
  for (Eigen::Index i = 0; i < big.rows(); ++i)
    for (Eigen::Index j = 0; j < big.cols(); ++j) big(i, j) = std::cos(0.001 * double(i) + double(j));
  const Tensor X = Tensor::view(big);
  REQUIRE(X.data() == big.data());
  std::vector<const double*> seen;
  const auto f = [X, &seen](const Tensor& beta) {  // captured by value: still shallow
    seen.push_back(X.data());
    return tyche::sum(tyche::matmul(X, beta));
  };
  const Eigen::VectorXd beta = Eigen::VectorXd::LinSpaced(10, -1.0, 1.0);
  for (int call = 0; call < 2; ++call) {
    const auto [value, gradient] = tyche::value_and_grad(f, beta);
    CHECK(value == Approx((big * beta).sum()));
    CHECK(gradient.isApprox(Eigen::VectorXd(big.colwise().sum().transpose())));
  }
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == big.data());
  CHECK(seen[1] == big.data());
  CHECK(X.data() == big.data());
}

// ---- broadcasting ------------------------------------------------------------

TEST_CASE("+ - * / broadcast like NumPy for ranks 0 to 6, matching explicit loops") {
  struct Case {
    Shape a, b;
    Dims expected;
  };
  const std::vector<Case> cases{
      {{}, {}, {}},
      {{}, {3}, {3}},
      {{3}, {}, {3}},
      {{3}, {3}, {3}},
      {{1}, {}, {1}},
      {{}, {1}, {1}},
      {{1, 1}, {1}, {1, 1}},
      {{1}, {2, 3}, {2, 3}},
      {{1, 1}, {3}, {1, 3}},
      {{3}, {1, 1}, {1, 3}},
      {{3, 1}, {4}, {3, 4}},
      {{4}, {3, 1}, {3, 4}},
      {{3, 1}, {1, 4}, {3, 4}},
      {{2, 3, 4}, {4}, {2, 3, 4}},
      {{2, 3, 4}, {3, 1}, {2, 3, 4}},
      {{2, 1, 4}, {3, 1}, {2, 3, 4}},
      {{}, {2, 3, 4}, {2, 3, 4}},
      {{2, 1, 3, 1}, {4, 1, 5}, {2, 4, 3, 5}},
      {{2, 1, 3, 1, 2}, {3, 4, 2}, {2, 1, 3, 4, 2}},
      {{1, 2, 1, 2, 1, 2}, {2, 1, 2, 1, 2, 1}, {2, 2, 2, 2, 2, 2}},
      {{2, 0}, {2, 1}, {2, 0}},
  };
  struct Op {
    const char* name;
    Tensor (*tensor)(const Tensor&, const Tensor&);
    double (*scalar)(double, double);
  };
  const Op ops[] = {
      {"+", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double a, double b) { return a + b; }},
      {"-", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double a, double b) { return a - b; }},
      {"*", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double a, double b) { return a * b; }},
      {"/", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double a, double b) { return a / b; }},
  };
  for (const Case& c : cases) {
    const Tensor a = filled(c.a, 1.0, 0.5), b = filled(c.b, 2.0, -0.375);
    const auto pa = tensor_values(a), pb = tensor_values(b);
    for (const Op& op : ops) {
      INFO(c.a.str() << " " << op.name << " " << c.b.str());
      const Tensor r = op.tensor(a, b);
      REQUIRE(shape_of(r) == str(c.expected));
      const auto pr = tensor_values(r);
      const auto indices = multi_indices(c.expected);
      for (std::size_t k = 0; k < indices.size(); ++k)
        CHECK(pr[k] == op.scalar(pa[std::size_t(broadcast_offset(c.a, indices[k]))],
                                 pb[std::size_t(broadcast_offset(c.b, indices[k]))]));
    }
  }
}

TEST_CASE("broadcasting a (3,1) array with a (4,) array gives shape (3,4)") {
  const Tensor col = column({1.0, 2.0, 3.0}), row{10.0, 20.0, 30.0, 40.0};
  const Tensor sum = col + row;
  REQUIRE(shape_of(sum) == "(3, 4)");
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(sum.at({i, j}) == double(i + 1) + 10.0 * double(j + 1));
}

TEST_CASE("plain doubles combine with arrays on either side of + - * /") {
  const Tensor x{1.0, 2.0, 4.0};
  CHECK(tensor_values(x * 2.0) == std::vector<double>{2.0, 4.0, 8.0});
  CHECK(tensor_values(2.0 - x) == std::vector<double>{1.0, 0.0, -2.0});
  CHECK(tensor_values(1.0 / x) == std::vector<double>{1.0, 0.5, 0.25});
  CHECK(tensor_values(x + 0.5) == std::vector<double>{1.5, 2.5, 4.5});
  CHECK(tensor_values(-x) == std::vector<double>{-1.0, -2.0, -4.0});
  Tensor y = x;
  y += 1.0;
  y *= column({1.0, 2.0});
  CHECK(shape_of(y) == "(2, 3)");
  CHECK(tensor_values(y) == std::vector<double>{2.0, 3.0, 5.0, 4.0, 6.0, 10.0});
  CHECK(tensor_values(x) == std::vector<double>{1.0, 2.0, 4.0});  // compound assignment rebinds y only
}

// ---- shape operations ----------------------------------------------------------

TEST_CASE("reshape keeps the elements in order, infers a -1 dimension and shares memory") {
  const Tensor x = Tensor::arange(24);
  const Tensor r = x.reshape({2, -1, 4});
  CHECK(shape_of(r) == "(2, 3, 4)");
  CHECK(tensor_values(r) == tensor_values(x));
  CHECK(r.data() == x.data());
  CHECK(shape_of(x.reshape({-1, 6})) == "(4, 6)");
  CHECK(shape_of(x.reshape({24})) == "(24,)");
  CHECK(shape_of(x.reshape(Shape{1, 2, 1, 3, 1, 4})) == "(1, 2, 1, 3, 1, 4)");
  CHECK(shape_of(Tensor(5.0).reshape({1, 1})) == "(1, 1)");
  CHECK(shape_of(column({5.0}).reshape(std::vector<std::int64_t>{})) == "()");
  const Tensor flat = r.flatten();
  CHECK(shape_of(flat) == "(24,)");
  CHECK(tensor_values(flat) == tensor_values(x));
}

TEST_CASE("transpose reverses the axes by default and applies a given permutation") {
  const Tensor m = filled(Shape{2, 3}, 0.0, 1.0);
  const Tensor mt = tyche::transpose(m);
  REQUIRE(shape_of(mt) == "(3, 2)");
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(mt.at({j, i}) == m.at({i, j}));

  const Tensor x = filled(Shape{2, 3, 4}, 0.0, 1.0);
  struct Case {
    std::vector<int> axes;
    const char* shape;
  };
  const Case cases[] = {{{}, "(4, 3, 2)"}, {{1, 0, 2}, "(3, 2, 4)"}, {{2, 0, 1}, "(4, 2, 3)"},
                        {{0, 1, 2}, "(2, 3, 4)"}, {{0, 2, 1}, "(2, 4, 3)"}};
  for (const Case& c : cases) {
    std::vector<int> axes = c.axes.empty() ? std::vector<int>{2, 1, 0} : c.axes;
    const Tensor y = tyche::transpose(x, c.axes);
    INFO("axes " << axes[0] << axes[1] << axes[2]);
    REQUIRE(shape_of(y) == c.shape);
    for (const Dims& i : multi_indices({2, 3, 4}))  // y[i[axes[0]], i[axes[1]], i[axes[2]]] == x[i]
      CHECK(y.at({i[std::size_t(axes[0])], i[std::size_t(axes[1])], i[std::size_t(axes[2])]}) ==
            x.at({i[0], i[1], i[2]}));
  }
  CHECK(tyche::transpose(Tensor(3.0)).item() == 3.0);
  CHECK(tensor_values(tyche::transpose(Tensor{1.0, 2.0})) == std::vector<double>{1.0, 2.0});
}

TEST_CASE("subscripting with one integer picks along the first axis, counts negative indices from the end and shares memory") {
  const Tensor x = filled(Shape{2, 3, 4}, 0.0, 1.0);
  const Tensor second = x[1];
  CHECK(shape_of(second) == "(3, 4)");
  CHECK(second.data() == x.data() + 12);
  CHECK(tensor_values(x[-1]) == tensor_values(second));
  CHECK(tensor_values(x[-2]) == tensor_values(x[0]));
  CHECK(tensor_values(x[0][2]) == std::vector<double>{8, 9, 10, 11});
  CHECK(x[1][-1][-1].item() == 23.0);
  CHECK(shape_of(x[0][0][0]) == "()");
}

TEST_CASE("member slice takes a range of the first axis with NumPy's clipping of negative and large bounds") {
  const Tensor x = Tensor::arange(10);
  CHECK(tensor_values(x.slice(2, 5)) == std::vector<double>{2, 3, 4});
  CHECK(tensor_values(x.slice(-3, 10)) == std::vector<double>{7, 8, 9});
  CHECK(tensor_values(x.slice(-3, -1)) == std::vector<double>{7, 8});
  CHECK(tensor_values(x.slice(-100, 100)) == tensor_values(x));
  CHECK(shape_of(x.slice(5, 2)) == "(0,)");
  CHECK(shape_of(x.slice(12, 20)) == "(0,)");
  const Tensor m = filled(Shape{4, 3}, 0.0, 1.0);
  const Tensor rows = m.slice(1, 3);
  CHECK(shape_of(rows) == "(2, 3)");
  CHECK(tensor_values(rows) == std::vector<double>{3, 4, 5, 6, 7, 8});
  CHECK(rows.data() == m.data() + 3);
}

TEST_CASE("slice(x, axis, start, stop) slices any axis, with negative axes and bounds") {
  const Tensor m = filled(Shape{2, 4}, 0.0, 1.0);
  const Tensor cols = tyche::slice(m, 1, 1, 3);
  CHECK(shape_of(cols) == "(2, 2)");
  CHECK(tensor_values(cols) == std::vector<double>{1, 2, 5, 6});
  CHECK(tensor_values(tyche::slice(m, -1, -2, 100)) == std::vector<double>{2, 3, 6, 7});
  CHECK(tensor_values(tyche::slice(m, 0, -1, 2)) == std::vector<double>{4, 5, 6, 7});
  CHECK(shape_of(tyche::slice(m, 1, 3, 1)) == "(2, 0)");

  const Tensor x = filled(Shape{2, 3, 4}, 0.0, 1.0);
  const Tensor mid = tyche::slice(x, 1, -2, 3);
  REQUIRE(shape_of(mid) == "(2, 2, 4)");
  for (const Dims& i : multi_indices({2, 2, 4})) CHECK(mid.at({i[0], i[1], i[2]}) == x.at({i[0], i[1] + 1, i[2]}));
  const Tensor last = tyche::slice(x, -1, 1, -1);
  REQUIRE(shape_of(last) == "(2, 3, 2)");
  for (const Dims& i : multi_indices({2, 3, 2})) CHECK(last.at({i[0], i[1], i[2]}) == x.at({i[0], i[1], i[2] + 1}));
}

TEST_CASE("subscripting with an index array gathers like NumPy fancy indexing") {
  const Tensor locs{-1.0, 0.0, 5.0}, assignment{2.0, 0.0, 0.0, 1.0};
  CHECK(tensor_values(locs[assignment]) == std::vector<double>{5.0, -1.0, -1.0, 0.0});
  CHECK(tensor_values(tyche::take(locs, assignment)) == std::vector<double>{5.0, -1.0, -1.0, 0.0});
  CHECK(tensor_values(tyche::take(locs, std::vector<std::int64_t>{2, 0, 0, 1})) ==
        std::vector<double>{5.0, -1.0, -1.0, 0.0});
  CHECK(tensor_values(locs[Tensor{-1.0, -3.0}]) == std::vector<double>{5.0, -1.0});
  CHECK(shape_of(locs[Tensor::zeros(Shape{0})]) == "(0,)");

  const Tensor by_index2d = locs[Tensor{{0.0, 2.0}, {1.0, 1.0}}];
  CHECK(shape_of(by_index2d) == "(2, 2)");
  CHECK(tensor_values(by_index2d) == std::vector<double>{-1.0, 5.0, 0.0, 0.0});

  const Tensor locs2d{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}};
  const Tensor rows = locs2d[assignment];
  CHECK(shape_of(rows) == "(4, 2)");
  CHECK(tensor_values(rows) == std::vector<double>{5, 6, 1, 2, 1, 2, 3, 4});
  CHECK(shape_of(locs2d[Tensor(1.0)]) == "(2,)");  // a rank-0 index drops the axis
  CHECK(tensor_values(locs2d[Tensor(1.0)]) == std::vector<double>{3, 4});
}

TEST_CASE("concatenate joins along axis 0, 1 and -1") {
  const Tensor a = filled(Shape{2, 3}, 0.0, 1.0), b = filled(Shape{1, 3}, 10.0, 1.0),
               c = filled(Shape{2, 2}, 20.0, 1.0);
  const Tensor rows = tyche::concatenate({a, b});
  CHECK(shape_of(rows) == "(3, 3)");
  CHECK(tensor_values(rows) == std::vector<double>{0, 1, 2, 3, 4, 5, 10, 11, 12});
  const Tensor cols = tyche::concatenate({a, c, a}, 1);
  CHECK(shape_of(cols) == "(2, 8)");
  CHECK(tensor_values(cols) == std::vector<double>{0, 1, 2, 20, 21, 0, 1, 2, 3, 4, 5, 22, 23, 3, 4, 5});
  CHECK(tensor_values(tyche::concatenate({a, c}, -1)) == tensor_values(tyche::concatenate({a, c}, 1)));
  CHECK(tensor_values(tyche::concatenate({Tensor{1.0}, Tensor{2.0, 3.0}, Tensor()})) == std::vector<double>{1, 2, 3});
}

TEST_CASE("stack joins arrays along a new axis 0 or -1") {
  const Tensor a{1.0, 2.0, 3.0}, b{4.0, 5.0, 6.0};
  const Tensor s0 = tyche::stack({a, b});
  CHECK(shape_of(s0) == "(2, 3)");
  CHECK(tensor_values(s0) == std::vector<double>{1, 2, 3, 4, 5, 6});
  const Tensor s1 = tyche::stack({a, b}, -1);
  CHECK(shape_of(s1) == "(3, 2)");
  CHECK(tensor_values(s1) == std::vector<double>{1, 4, 2, 5, 3, 6});
  const Tensor m = filled(Shape{2, 2}, 0.0, 1.0);
  const Tensor s = tyche::stack({m, m * 10.0}, 1);
  REQUIRE(shape_of(s) == "(2, 2, 2)");
  CHECK(tensor_values(s) == std::vector<double>{0, 1, 0, 10, 2, 3, 20, 30});
  CHECK(shape_of(tyche::stack({Tensor(1.0), Tensor(2.0)})) == "(2,)");
}

TEST_CASE("where picks from two arrays by a 0/1 condition, all three broadcast together") {
  const Tensor condition = column({1.0, 0.0, 2.0}), a = Tensor::arange(4);
  const Tensor r = tyche::where(condition, a, -1.0);
  REQUIRE(shape_of(r) == "(3, 4)");
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(r.at({i, j}) == (i == 1 ? -1.0 : double(j)));
  const Tensor locs{-1.0, 0.0, 5.0};
  CHECK(tensor_values(tyche::where(locs > 0.0, locs, 0.0)) == std::vector<double>{0.0, 0.0, 5.0});
}

TEST_CASE("comparisons give broadcast arrays of 0 and 1, and false for NaN except !=") {
  struct Op {
    const char* name;
    Tensor (*tensor)(const Tensor&, const Tensor&);
    bool (*scalar)(double, double);
  };
  const Op ops[] = {
      {"<", [](const Tensor& a, const Tensor& b) { return a < b; }, [](double a, double b) { return a < b; }},
      {"<=", [](const Tensor& a, const Tensor& b) { return a <= b; }, [](double a, double b) { return a <= b; }},
      {">", [](const Tensor& a, const Tensor& b) { return a > b; }, [](double a, double b) { return a > b; }},
      {">=", [](const Tensor& a, const Tensor& b) { return a >= b; }, [](double a, double b) { return a >= b; }},
      {"==", [](const Tensor& a, const Tensor& b) { return a == b; }, [](double a, double b) { return a == b; }},
      {"!=", [](const Tensor& a, const Tensor& b) { return a != b; }, [](double a, double b) { return a != b; }},
  };
  const Tensor a = column({1.0, 2.0, kNaN}), b{0.0, 1.0, 2.0, 3.0};
  for (const Op& op : ops) {
    INFO("operator " << op.name);
    const Tensor r = op.tensor(a, b);
    REQUIRE(shape_of(r) == "(3, 4)");
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) CHECK(r.at({i, j}) == (op.scalar(a.at({i, 0}), b.at({j})) ? 1.0 : 0.0));
    CHECK(op.tensor(Tensor(kNaN), Tensor(kNaN)).item() == (std::string(op.name) == "!=" ? 1.0 : 0.0));
  }
}

TEST_CASE("clamp limits elements to low..high") {
  const Tensor x{-2.0, -1.0, 0.5, 1.0, 3.0, -kInf, kInf};
  CHECK(tensor_values(tyche::clamp(x, -1.0, 1.0)) == std::vector<double>{-1.0, -1.0, 0.5, 1.0, 1.0, -1.0, 1.0});
  CHECK(tensor_values(tyche::clamp(x, 0.5, 0.5)) == std::vector<double>(7, 0.5));
}

TEST_CASE("diagonal reads the main diagonal of a square matrix") {
  const Tensor m = filled(Shape{3, 3}, 0.0, 1.0);
  CHECK(tensor_values(tyche::diagonal(m)) == std::vector<double>{0.0, 4.0, 8.0});
  CHECK(tensor_values(tyche::diagonal(column({7.0}))) == std::vector<double>{7.0});
}

TEST_CASE("stop_gradient keeps the values and blocks the gradient") {
  const Tensor x{1.0, -2.0};
  CHECK(tensor_values(tyche::stop_gradient(x)) == tensor_values(x));
  Eigen::VectorXd q(2);
  q << 1.5, -0.5;
  // d/dq sum(stop(q) * q) = stop(q), not 2 q.
  const auto [value, gradient] = tyche::value_and_grad(
      [](const Tensor& p) { return tyche::sum(tyche::stop_gradient(p) * p); }, q);
  CHECK(value == Approx(2.5));
  CHECK(gradient == q);
}

// ---- reductions ----------------------------------------------------------------

TEST_CASE("sum, mean, max and logsumexp over the whole array and along each axis match explicit loops") {
  struct Reduction {
    const char* name;
    Tensor (*whole)(const Tensor&);
    Tensor (*along)(const Tensor&, int, bool);
    double (*reference)(const std::vector<double>&);
  };
  const Reduction reductions[] = {
      {"sum", [](const Tensor& x) { return tyche::sum(x); },
       [](const Tensor& x, int a, bool k) { return tyche::sum(x, a, k); }, &ref_sum},
      {"mean", [](const Tensor& x) { return tyche::mean(x); },
       [](const Tensor& x, int a, bool k) { return tyche::mean(x, a, k); }, &ref_mean},
      {"max", [](const Tensor& x) { return tyche::max(x); },
       [](const Tensor& x, int a, bool k) { return tyche::max(x, a, k); }, &ref_max},
      {"logsumexp", [](const Tensor& x) { return tyche::logsumexp(x); },
       [](const Tensor& x, int a, bool k) { return tyche::logsumexp(x, a, k); }, &ref_logsumexp},
  };
  std::vector<double> data(24);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::sin(0.9 * double(i)) * 3.0;
  const Tensor x(data, Shape{2, 3, 4});
  for (const Reduction& r : reductions) {
    INFO(r.name);
    const Tensor whole = r.whole(x);
    CHECK(shape_of(whole) == "()");
    CHECK(whole.item() == Approx(r.reference(data)).margin(1e-12));
    for (int axis = -3; axis < 3; ++axis)
      for (bool keepdims : {false, true}) {
        INFO("axis " << axis << " keepdims " << keepdims);
        const int a = axis < 0 ? axis + 3 : axis;
        Dims expected{2, 3, 4};
        if (keepdims) expected[std::size_t(a)] = 1;
        else expected.erase(expected.begin() + a);
        const Tensor y = r.along(x, axis, keepdims);
        CHECK(shape_of(y) == str(expected));
        check_approx(tensor_values(y), reduce_reference(x, a, r.reference));
      }
    CHECK(r.along(Tensor{1.0, 2.0}, 0, false).item() == Approx(r.reference({1.0, 2.0})));
  }
  CHECK(tyche::sum(Tensor()).item() == 0.0);
  CHECK(tensor_values(tyche::sum(Tensor::zeros(Shape{2, 0}), 1)) == std::vector<double>{0.0, 0.0});
}

TEST_CASE("logsumexp does not overflow for large inputs and gives -inf for all -inf") {
  CHECK(tyche::logsumexp(Tensor{1000.0, 1000.0}).item() == Approx(1000.0 + std::log(2.0)));
  CHECK(tyche::logsumexp(Tensor{-1000.0, -1000.0}).item() == Approx(-1000.0 + std::log(2.0)));
  CHECK(tyche::logsumexp(Tensor{-kInf, -kInf}).item() == -kInf);
  CHECK(tyche::logsumexp(Tensor{-kInf, 0.0}).item() == 0.0);
  CHECK(tyche::logsumexp(Tensor{kInf, 1.0}).item() == kInf);
  CHECK(std::isnan(tyche::logsumexp(Tensor{1.0, kNaN}).item()));
  const Tensor rows = tyche::logsumexp(Tensor{{1000.0, 1000.0}, {-kInf, -kInf}}, 1);
  CHECK(rows.at({0}) == Approx(1000.0 + std::log(2.0)));
  CHECK(rows.at({1}) == -kInf);
}

TEST_CASE("max propagates NaN like NumPy, wherever the NaN is") {
  CHECK(std::isnan(tyche::max(Tensor{1.0, kNaN, 3.0}).item()));
  CHECK(std::isnan(tyche::max(Tensor{kNaN, 1.0}).item()));
  CHECK(std::isnan(tyche::max(Tensor{1.0, 5.0, kNaN}).item()));
  const Tensor along = tyche::max(Tensor{{1.0, kNaN}, {2.0, 3.0}}, 1);
  CHECK(std::isnan(along.at({0})));
  CHECK(along.at({1}) == 3.0);
  const Tensor down = tyche::max(Tensor{{1.0, kNaN}, {2.0, 3.0}}, 0);
  CHECK(down.at({0}) == 2.0);
  CHECK(std::isnan(down.at({1})));
  CHECK(tyche::max(Tensor{-kInf, -kInf}).item() == -kInf);
}

// ---- linear algebra ---------------------------------------------------------------

TEST_CASE("matmul and dot follow NumPy's rank-1 and rank-2 rules and agree with Eigen") {
  const Eigen::MatrixXd A = test_matrix(3, 4, 0.1), B = test_matrix(4, 2, 0.2);
  const Eigen::VectorXd v = test_matrix(4, 1, 0.4).col(0), w = test_matrix(4, 1, 0.5).col(0);
  const Tensor a(A), b(B), tv(v), tw(w);
  const Tensor ab = tyche::matmul(a, b);
  CHECK(shape_of(ab) == "(3, 2)");
  CHECK(ab.to_matrix().isApprox(A * B, 1e-14));
  const Tensor av = tyche::matmul(a, tv);
  CHECK(shape_of(av) == "(3,)");
  CHECK(av.to_vector().isApprox(A * v, 1e-14));
  const Tensor vb = tyche::matmul(tv, b);
  CHECK(shape_of(vb) == "(2,)");
  CHECK(vb.to_vector().isApprox(B.transpose() * v, 1e-14));
  CHECK(shape_of(tyche::matmul(tv, tw)) == "()");
  CHECK(tyche::matmul(tv, tw).item() == Approx(v.dot(w)));
  CHECK(tyche::dot(tv, tw).item() == Approx(v.dot(w)));
  CHECK(tyche::matmul(a, Tensor::zeros(Shape{4, 0})).size() == 0);
}

TEST_CASE("cholesky gives Eigen's lower factor of the symmetric part, with an exactly zero upper triangle") {
  for (Eigen::Index n : {1, 2, 5}) {
    const Eigen::MatrixXd A = spd_matrix(n);
    const Eigen::MatrixXd expected = Eigen::LLT<Eigen::MatrixXd>(A).matrixL();
    const Eigen::MatrixXd L = tyche::cholesky(Tensor(A)).to_matrix();
    CHECK(L.isApprox(expected, 1e-12));
    CHECK(L.triangularView<Eigen::StrictlyUpper>().toDenseMatrix().isZero(0.0));
    CHECK((L * L.transpose()).isApprox(A, 1e-12));
    // A skew-symmetric perturbation does not change the symmetric part.
    const Eigen::MatrixXd skew = test_matrix(n, n, 2.0) - test_matrix(n, n, 2.0).transpose();
    CHECK(tyche::cholesky(Tensor(Eigen::MatrixXd(A + skew))).to_matrix().isApprox(expected, 1e-12));
  }
}

TEST_CASE("solve_triangular agrees with Eigen for lower and upper matrices, vector and matrix right-hand sides") {
  const Eigen::MatrixXd full = test_matrix(4, 4, 0.7) + 3.0 * Eigen::MatrixXd::Identity(4, 4);
  const Eigen::VectorXd b = test_matrix(4, 1, 1.1).col(0);
  const Eigen::MatrixXd B = test_matrix(4, 3, 1.7);
  const Tensor t(full);  // only the requested triangle may be read
  const auto lower = full.triangularView<Eigen::Lower>();
  const auto upper = full.triangularView<Eigen::Upper>();
  const Tensor xl = tyche::solve_triangular(t, Tensor(b));
  CHECK(shape_of(xl) == "(4,)");
  CHECK(xl.to_vector().isApprox(Eigen::VectorXd(lower.solve(b)), 1e-12));
  const Tensor XL = tyche::solve_triangular(t, Tensor(B));
  CHECK(shape_of(XL) == "(4, 3)");
  CHECK(XL.to_matrix().isApprox(Eigen::MatrixXd(lower.solve(B)), 1e-12));
  CHECK(tyche::solve_triangular(t, Tensor(b), false).to_vector().isApprox(Eigen::VectorXd(upper.solve(b)), 1e-12));
  CHECK(tyche::solve_triangular(t, Tensor(B), false).to_matrix().isApprox(Eigen::MatrixXd(upper.solve(B)), 1e-12));
}

TEST_CASE("logdet is log |det A| as Eigen computes it, also for a negative determinant") {
  for (double seed : {0.0, 0.9, 2.5}) {
    const Eigen::MatrixXd A = test_matrix(4, 4, seed) + 0.5 * Eigen::MatrixXd::Identity(4, 4);
    INFO("det " << A.determinant());
    CHECK(tyche::logdet(Tensor(A)).item() == Approx(std::log(std::abs(A.determinant()))));
  }
  const Eigen::MatrixXd S = spd_matrix(3);
  const Tensor L = tyche::cholesky(Tensor(S));
  CHECK(tyche::logdet(Tensor(S)).item() == Approx(2.0 * tyche::sum(tyche::log(tyche::diagonal(L))).item()));
}
