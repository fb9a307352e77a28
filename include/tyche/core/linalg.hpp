// Linear algebra with gradients: dot, matmul, Cholesky factor, triangular
// solve, log-determinant. Matrices are row-major rank-2 arrays.
//
//   tyche::Tensor A{{4.0, 2.0}, {2.0, 3.0}}, b{1.0, 2.0};
//   auto L = tyche::cholesky(A);                  // lower factor, A = L L^T
//   auto z = tyche::solve_triangular(L, b);       // L z = b
//   auto q = tyche::dot(z, z);                    // b^T A^-1 b
//   auto y = tyche::matmul(A, b);                 // shape (2,)
#pragma once

#include <Eigen/Core>
#include <Eigen/LU>
#include <cmath>
#include <string>
#include <type_traits>

#include "tyche/core/tensor.hpp"

namespace tyche {
namespace detail {

using RowMap = Eigen::Map<RowMatrixXd>;
using ConstRowMap = Eigen::Map<const RowMatrixXd>;

// ---- matmul: (m, k) @ (k, n); a vector on the left is a row, on the right a column.
struct MatmulNode : Node {
  const double* a;
  const double* b;
  const double* y;
  double* ga;
  double* gb;
  const double* gy;
  Eigen::Index m, k, n;
};

// Kernels and operations are templates so that only programs using them compile
// their Eigen products and solves (issue 17; see core/tensor.hpp).
template <class = void>
void matmul_forward(const Node& base) {
  const auto& nd = static_cast<const MatmulNode&>(base);
  double* y = const_cast<double*>(nd.y);
  ConstRowMap a(nd.a, nd.m, nd.k);
  if (nd.n == 1)  // matrix-vector: Eigen's GEMV kernel
    Eigen::Map<Eigen::VectorXd>(y, nd.m).noalias() = a * Eigen::Map<const Eigen::VectorXd>(nd.b, nd.k);
  else
    RowMap(y, nd.m, nd.n).noalias() = a * ConstRowMap(nd.b, nd.k, nd.n);
}

template <class = void>
void matmul_backward(const Node& base) {
  const auto& nd = static_cast<const MatmulNode&>(base);
  ConstRowMap gy(nd.gy, nd.m, nd.n);
  if (nd.ga) RowMap(nd.ga, nd.m, nd.k).noalias() += gy * ConstRowMap(nd.b, nd.k, nd.n).transpose();
  if (nd.gb) {
    if (nd.n == 1)
      Eigen::Map<Eigen::VectorXd>(nd.gb, nd.k).noalias() +=
          ConstRowMap(nd.a, nd.m, nd.k).transpose() * Eigen::Map<const Eigen::VectorXd>(nd.gy, nd.m);
    else
      RowMap(nd.gb, nd.k, nd.n).noalias() += ConstRowMap(nd.a, nd.m, nd.k).transpose() * gy;
  }
}

// ---- Cholesky factor of the symmetric part of a positive-definite matrix.
struct CholeskyNode : Node {
  const double* a;
  const double* l;
  double* ga;
  const double* gl;
  double* scratch;  // n * n, so that the backward pass allocates nothing
  Eigen::Index n;
};

template <class = void>
void cholesky_forward(const Node& base) {
  const auto& nd = static_cast<const CholeskyNode&>(base);
  const Eigen::Index n = nd.n;
  ConstRowMap a(nd.a, n, n);
  RowMap l(const_cast<double*>(nd.l), n, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < j; ++i) l(i, j) = 0.0;
    const double d = a(j, j) - l.row(j).head(j).squaredNorm();
    if (!(d > 0.0))
      throw std::domain_error("tyche: cholesky: the matrix is not positive definite (pivot " +
                              std::to_string(j) + " is " + std::to_string(d) + ")");
    l(j, j) = std::sqrt(d);
    for (Eigen::Index i = j + 1; i < n; ++i)
      l(i, j) = (0.5 * (a(i, j) + a(j, i)) - l.row(i).head(j).dot(l.row(j).head(j))) / l(j, j);
  }
}

// Murray (2016), "Differentiation of the Cholesky decomposition": with
// P = Phi(L^T Lbar) (lower triangle, halved diagonal), the gradient with
// respect to the symmetric input is sym(L^-T P L^-1).
template <class = void>
void cholesky_backward(const Node& base) {
  const auto& nd = static_cast<const CholeskyNode&>(base);
  const Eigen::Index n = nd.n;
  ConstRowMap l(nd.l, n, n);
  RowMap p(nd.scratch, n, n);
  p.noalias() = l.transpose() * ConstRowMap(nd.gl, n, n).triangularView<Eigen::Lower>();
  p.triangularView<Eigen::StrictlyUpper>().setZero();
  p.diagonal() *= 0.5;
  l.transpose().triangularView<Eigen::Upper>().solveInPlace(p);                 // L^-T P
  l.transpose().triangularView<Eigen::Upper>().solveInPlace(p.transpose());     // (L^-T P L^-1)^T
  RowMap ga(nd.ga, n, n);
  ga += 0.5 * (p + p.transpose());
}

// ---- triangular solve: x = T^-1 b for lower or upper triangular T.
struct TriangularSolveNode : Node {
  const double* t;
  const double* b;
  const double* x;
  double* gt;
  double* gb;
  const double* gx;
  double* scratch;  // n * columns, so that the backward pass allocates nothing
  Eigen::Index n, columns;
  bool lower;
};

template <class = void>
void solve_forward(const Node& base) {
  const auto& nd = static_cast<const TriangularSolveNode&>(base);
  const Eigen::Index n = nd.n, c = nd.columns;
  ConstRowMap t(nd.t, n, n);
  for (Eigen::Index i = 0; i < n; ++i)
    if (t(i, i) == 0.0)
      throw std::domain_error("tyche: solve_triangular: the matrix is singular (diagonal element " +
                              std::to_string(i) + " is 0)");
  RowMap x(const_cast<double*>(nd.x), n, c);
  x = ConstRowMap(nd.b, n, c);
  if (nd.lower) t.triangularView<Eigen::Lower>().solveInPlace(x);
  else t.triangularView<Eigen::Upper>().solveInPlace(x);
}

template <int UpLo>
void triangular_solve_backward(const TriangularSolveNode& nd) {
  const Eigen::Index n = nd.n, c = nd.columns;
  ConstRowMap t(nd.t, n, n);
  // bbar = T^-T xbar; Tbar = -bbar x^T restricted to T's triangle.
  RowMap bbar(nd.scratch, n, c);
  bbar = ConstRowMap(nd.gx, n, c);
  t.transpose().template triangularView<UpLo == Eigen::Lower ? Eigen::Upper : Eigen::Lower>().solveInPlace(bbar);
  if (nd.gb) RowMap(nd.gb, n, c) += bbar;
  if (nd.gt) {
    RowMap gt(nd.gt, n, n);
    gt.template triangularView<UpLo>() -= bbar * ConstRowMap(nd.x, n, c).transpose();
  }
}

template <class = void>
void solve_backward(const Node& base) {
  const auto& nd = static_cast<const TriangularSolveNode&>(base);
  if (nd.lower) triangular_solve_backward<Eigen::Lower>(nd);
  else triangular_solve_backward<Eigen::Upper>(nd);
}

// ---- log |det A| for a square matrix.
struct LogDetNode : Node {
  const double* a;
  const double* y;
  double* ga;
  const double* gy;
  Eigen::Index n;
};

template <class = void>
void logdet_forward(const Node& base) {
  const auto& nd = static_cast<const LogDetNode&>(base);
  const Eigen::PartialPivLU<Eigen::MatrixXd> lu{Eigen::MatrixXd(ConstRowMap(nd.a, nd.n, nd.n))};
  *const_cast<double*>(nd.y) = lu.matrixLU().diagonal().array().abs().log().sum();
}

template <class = void>
void logdet_backward(const Node& base) {
  const auto& nd = static_cast<const LogDetNode&>(base);
  ConstRowMap a(nd.a, nd.n, nd.n);
  RowMap(nd.ga, nd.n, nd.n) += nd.gy[0] * Eigen::MatrixXd(a.inverse().transpose());
}

inline void require_square(const Tensor& a, const char* op) {
  if (a.ndim() != 2 || a.shape()[0] != a.shape()[1])
    throw ShapeError(std::string("tyche: ") + op + " needs a square matrix but got shape " +
                     a.shape().str());
}

}  // namespace detail

// Matrix product with NumPy's rules for rank 1 and 2: (m,k)@(k,n), (m,k)@(k,),
// (k,)@(k,n), and (k,)@(k,) (the dot product, rank 0).
template <class T = Tensor>
Tensor matmul(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  using namespace detail;
  if (a.ndim() < 1 || a.ndim() > 2 || b.ndim() < 1 || b.ndim() > 2)
    throw ShapeError("tyche: matmul needs arrays of rank 1 or 2 but got shapes " + a.shape().str() +
                     " and " + b.shape().str());
  const Eigen::Index m = a.ndim() == 2 ? a.shape()[0] : 1, k = a.shape()[a.ndim() - 1];
  const Eigen::Index kb = b.shape()[0], n = b.ndim() == 2 ? b.shape()[1] : 1;
  if (k != kb)
    throw ShapeError("tyche: matmul: inner dimensions differ in shapes " + a.shape().str() +
                     " and " + b.shape().str());
  Shape out;
  if (a.ndim() == 2) out.push_back(m);
  if (b.ndim() == 2) out.push_back(n);
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, a, b);
  Tensor y = Access::result(out, grad);
  MatmulNode local;
  auto& node = tape.node_for(grad, local, &matmul_forward<>, &matmul_backward<>, {Access::operand(a), Access::operand(b)},
                             {Access::operand(y)});
  node.a = Access::data(a);
  node.b = Access::data(b);
  node.y = Access::data(y);
  node.ga = Access::grad(a);
  node.gb = Access::grad(b);
  node.gy = Access::grad(y);
  node.m = m;
  node.k = k;
  node.n = n;
  matmul_forward<>(node);
  return y;
}

// Inner product of two vectors of equal length.
template <class T = Tensor>
Tensor dot(const std::type_identity_t<T>& a, const std::type_identity_t<T>& b) {
  if (a.ndim() != 1 || b.ndim() != 1 || a.size() != b.size())
    throw ShapeError("tyche: dot needs two vectors of equal length but got shapes " +
                     a.shape().str() + " and " + b.shape().str());
  return matmul(a, b);
}

// Lower Cholesky factor L of (A + A^T) / 2, so that A = L L^T for symmetric A;
// throws std::domain_error when that matrix is not positive definite.
template <class T = Tensor>
Tensor cholesky(const std::type_identity_t<T>& a) {
  using namespace detail;
  require_square(a, "cholesky");
  const Eigen::Index n = a.shape()[0];
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, a);
  Tensor y = Access::result(a.shape(), grad);
  CholeskyNode local;
  auto& node = tape.node_for(grad, local, &cholesky_forward<>, &cholesky_backward<>, {Access::operand(a)},
                             {Access::operand(y)});
  node.a = Access::data(a);
  node.l = Access::data(y);
  node.ga = Access::grad(a);
  node.gl = Access::grad(y);
  node.scratch = grad ? tape.allocate_doubles(n * n) : nullptr;
  node.n = n;
  cholesky_forward<>(node);
  return y;
}

// Solves T x = b for x, reading only the lower (or upper) triangle of T; b is a
// vector of length n or an (n, k) matrix.
template <class T = Tensor>
Tensor solve_triangular(const std::type_identity_t<T>& t, const std::type_identity_t<T>& b, bool lower = true) {
  using namespace detail;
  require_square(t, "solve_triangular");
  const Eigen::Index n = t.shape()[0];
  if (b.ndim() < 1 || b.ndim() > 2 || b.shape()[0] != n)
    throw ShapeError("tyche: solve_triangular: right-hand side of shape " + b.shape().str() +
                     " does not match matrix of shape " + t.shape().str());
  const Eigen::Index columns = b.ndim() == 2 ? b.shape()[1] : 1;
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, t, b);
  Tensor x = Access::result(b.shape(), grad);
  TriangularSolveNode local;
  auto& node = tape.node_for(grad, local, &solve_forward<>, &solve_backward<>, {Access::operand(t), Access::operand(b)},
                             {Access::operand(x)});
  node.t = Access::data(t);
  node.b = Access::data(b);
  node.x = Access::data(x);
  node.gt = Access::grad(t);
  node.gb = Access::grad(b);
  node.gx = Access::grad(x);
  node.scratch = grad ? tape.allocate_doubles(n * columns) : nullptr;
  node.n = n;
  node.columns = columns;
  node.lower = lower;
  solve_forward<>(node);
  return x;
}

// log |det A|. Uses an LU factorisation (which allocates); for a positive-definite
// matrix 2 * sum(log(diagonal(cholesky(A)))) is cheaper.
template <class T = Tensor>
Tensor logdet(const std::type_identity_t<T>& a) {
  using namespace detail;
  require_square(a, "logdet");
  const Eigen::Index n = a.shape()[0];
  Tape& tape = this_thread_tape();
  const bool grad = needs_grad(tape, a);
  Tensor y = Access::result(Shape{}, grad);
  LogDetNode local;
  auto& node = tape.node_for(grad, local, &logdet_forward<>, &logdet_backward<>, {Access::operand(a)},
                             {Access::operand(y)});
  node.a = Access::data(a);
  node.y = Access::data(y);
  node.ga = Access::grad(a);
  node.gy = Access::grad(y);
  node.n = n;
  logdet_forward<>(node);
  return y;
}

}  // namespace tyche
