// Tensor: an immutable N-dimensional array of doubles (rank 0 to kMaxRank,
// row-major) that also carries reverse-mode gradients inside `value_and_grad`.
//
//   tyche::Tensor x{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};  // shape (2, 3)
//   tyche::Tensor b{10.0, 20.0, 30.0};                  // shape (3,)
//   auto y = x + b;                                     // NumPy broadcasting
//   Eigen::MatrixXd m = y.to_matrix();
//
// Copies are shallow: a copy shares the elements, so passing a large design
// matrix around (or capturing it in a model) never copies it again. Arrays built
// while a gradient is being recorded live in the recording thread's arena;
// everything else lives on the heap, or is a view of memory the caller owns
// (`Tensor::view`), which the caller must keep alive.
//
// Lazy definitions (issue 17). A header-only library costs every translation
// unit what its non-template functions name: their bodies, and every template
// they use (tape nodes, kernels, Eigen expressions), are compiled whether or
// not the program calls them. So tyche's operations and distributions are
// templates, instantiated only in programs that use them:
//
//   template <class T = Tensor>                       // T is always Tensor: it is
//   Tensor exp(const std::type_identity_t<T>& x);     // not deduced, so calls,
//                                                     // conversions and overloads
//                                                     // behave as for a function
//   template <class = void> class NormalT : public Distribution { ... };
//   using Normal = NormalT<>;                         // a class with virtual members
//
// A function pointer parameter takes such a function by its plain name
// (tyche::exp); a std::function or a deduced parameter needs tyche::exp<>. New
// code that builds tape nodes or instantiates Eigen kernels follows the same
// pattern.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "tyche/core/shape.hpp"
#include "tyche/core/tape.hpp"

namespace tyche {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

class Tensor;
namespace detail {
struct Access;
}

// Thrown while compile_gradient records a function that reads the value of an
// array depending on the parameters (item(), data(), at(), a comparison made
// into a branch...): the branch it takes would be frozen into the recording.
// Such a function is differentiated with value_and_grad instead; callers that
// compile when they can catch this type and fall back.
class ConcretizationError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class Tensor {
 public:
  // An empty array of shape (0,).
  Tensor() : shape_{0} {}
  // A rank-0 array. Implicit, so that `x * 2.0` and `2.0 - x` read naturally.
  Tensor(double value) : Tensor(Shape{}) { data_[0] = value; }
  // A template so that a nested list such as {{1.0}, {2.0}} is unambiguously a
  // matrix: an element type cannot be deduced from a braced element.
  template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>>>
  Tensor(std::initializer_list<T> values) : Tensor(Shape{std::int64_t(values.size())}) {
    std::copy(values.begin(), values.end(), data_);
  }
  Tensor(std::initializer_list<std::initializer_list<double>> rows);
  explicit Tensor(const std::vector<double>& values)
      : Tensor(values, Shape{std::int64_t(values.size())}) {}
  Tensor(const std::vector<double>& values, const Shape& shape);
  // Copies an Eigen vector (rank 1) or matrix (rank 2, stored row-major).
  template <class Derived>
  Tensor(const Eigen::DenseBase<Derived>& eigen);

  // A view of memory owned by the caller: nothing is copied, ever.
  static Tensor view(const double* data, const Shape& shape) {
    Tensor t;
    t.shape_ = shape;
    t.data_ = const_cast<double*>(data);
    return t;
  }
  static Tensor view(const Eigen::VectorXd& v) { return view(v.data(), Shape{v.size()}); }
  static Tensor view(const RowMatrixXd& m) { return view(m.data(), Shape{m.rows(), m.cols()}); }

  static Tensor full(const Shape& shape, double value) {
    Tensor t(shape);
    std::fill(t.data_, t.data_ + t.size(), value);
    return t;
  }
  static Tensor zeros(const Shape& shape) { return full(shape, 0.0); }
  static Tensor ones(const Shape& shape) { return full(shape, 1.0); }
  // 0, 1, ..., n - 1.
  static Tensor arange(std::int64_t n) {
    Tensor t(Shape{n});
    for (std::int64_t i = 0; i < n; ++i) t.data_[i] = double(i);
    return t;
  }

  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.rank(); }
  std::int64_t size() const { return shape_.numel(); }
  std::int64_t dim(int axis) const { return shape_[normalize_axis(axis, ndim(), "dim")]; }
  const double* data() const {
    check_live();
    if (grad_ && detail::this_thread_tape().tracing())
      throw ConcretizationError(
          "tyche: a compiled gradient cannot read the value of an array that depends on the "
          "parameters (control flow on such values would not be replayed); use value_and_grad");
    return data_;
  }
  // True inside `value_and_grad` for arrays that depend on the parameters.
  bool requires_grad() const { return grad_ != nullptr && is_live(); }

  // The single element of an array of size 1.
  double item() const {
    if (size() != 1)
      throw ShapeError("tyche: item() needs an array of size 1 but got shape " + shape_.str());
    return data()[0];
  }
  // Element at a full multi-index (negative indices count from the end).
  double at(std::initializer_list<std::int64_t> index) const;

  // Views along the first axis; gradients flow back into this array.
  Tensor operator[](std::int64_t i) const;
  // Gathers along the first axis with an array of integer indices, as NumPy's
  // `locs[assignment]`: the result has shape index.shape + shape[1:].
  Tensor operator[](const Tensor& index) const;
  Tensor slice(std::int64_t start, std::int64_t stop) const;
  // Same elements, new shape; one dimension may be -1 (inferred).
  Tensor reshape(std::initializer_list<std::int64_t> dims) const {
    return reshape(dims.begin(), dims.size());
  }
  Tensor reshape(const std::vector<std::int64_t>& dims) const { return reshape(dims.data(), dims.size()); }
  Tensor reshape(const Shape& shape) const { return reshape(shape.begin(), std::size_t(shape.rank())); }
  Tensor reshape(const std::int64_t* dims, std::size_t count) const;
  Tensor flatten() const { return reshape({size()}); }

  // A copy that owns its elements on the heap and carries no gradient: use it to
  // keep a value computed inside `value_and_grad` after the evaluation ends.
  Tensor copy() const;

  Eigen::Map<const Eigen::VectorXd> vec() const { return {data(), Eigen::Index(size())}; }
  Eigen::VectorXd to_vector() const { return vec(); }
  // Rank 2 as is; rank 0 and 1 as a column.
  Eigen::MatrixXd to_matrix() const;
  std::vector<double> to_std_vector() const { return {data(), data() + size()}; }

 private:
  friend struct detail::Access;

  // Uninitialised storage of the given shape, in the arena while recording.
  explicit Tensor(const Shape& shape) : shape_(shape) {
    detail::Tape& tape = detail::this_thread_tape();
    if (tape.recording()) {
      data_ = tape.allocate_doubles(shape.numel());
      generation_ = tape.generation();
    } else {
      owner_ = std::make_shared_for_overwrite<double[]>(std::size_t(shape.numel()));
      data_ = owner_.get();
    }
  }

  bool is_live() const {
    return generation_ == 0 || generation_ == detail::this_thread_tape().generation();
  }
  void check_live() const {
    if (!is_live())
      throw std::logic_error(
          "tyche: an array made inside a gradient evaluation was used after that evaluation "
          "ended (or on another thread); keep it with Tensor::copy() inside the evaluation");
  }

  Shape shape_;
  double* data_ = nullptr;
  double* grad_ = nullptr;        // non-null: a variable recorded on the tape
  std::uint64_t generation_ = 0;  // non-zero: lives in the arena of that session
  std::shared_ptr<double[]> owner_;
};

namespace detail {

// The internals that array operations need and users should not.
struct Access {
  static double* grad(const Tensor& t) { return t.grad_; }
  // Where the elements are, for wiring into a node (which reads them when it
  // runs, and again in every replay): never read through it while recording.
  static double* data(const Tensor& t) { return t.data_; }
  // The elements, read now, past the recording guard: each caller says why
  // the value may be read (it is a constant, or the read only validates or
  // prints and a replay re-checks what matters). Search for this name to
  // audit them.
  static const double* values_unguarded(const Tensor& t) { return t.data_; }
  static Operand operand(const Tensor& t) { return {t.data_, t.grad_, t.size()}; }
  static void check_live(const Tensor& t) { t.check_live(); }

  // Fresh storage for an operation's result, with a zeroed gradient buffer when
  // the result is a variable.
  static Tensor result(const Shape& shape, bool with_grad) {
    Tensor t(shape);
    if (with_grad) t.grad_ = this_thread_tape().allocate_gradient(shape.numel());
    return t;
  }

  // A recorded input: a copy of `values` with a zeroed gradient. Recording only.
  static Tensor variable(const double* values, std::int64_t n) {
    Tensor t = result(Shape{n}, true);
    std::copy(values, values + n, t.data_);
    return t;
  }

  // A view sharing data and gradient of `base` from element `offset` on.
  static Tensor alias(const Tensor& base, const Shape& shape, std::int64_t offset) {
    Tensor t = base;
    t.shape_ = shape;
    t.data_ += offset;
    if (t.grad_) t.grad_ += offset;
    return t;
  }
};

// Whether an operation on these inputs must record a node.
template <class... T>
bool needs_grad(const Tape& tape, const T&... inputs) {
  (Access::check_live(inputs), ...);
  return tape.recording() && ((Access::grad(inputs) != nullptr) || ...);
}

inline std::int64_t normalize_index(std::int64_t i, std::int64_t size, const char* op) {
  const std::int64_t j = i < 0 ? i + size : i;
  if (j < 0 || j >= size)
    throw std::out_of_range(std::string("tyche: ") + op + ": index " + std::to_string(i) +
                            " is out of range for an axis of size " + std::to_string(size));
  return j;
}

}  // namespace detail

inline Tensor::Tensor(std::initializer_list<std::initializer_list<double>> rows)
    : Tensor(Shape{std::int64_t(rows.size()), rows.size() ? std::int64_t(rows.begin()->size()) : 0}) {
  double* out = data_;
  for (const auto& row : rows) {
    if (std::int64_t(row.size()) != shape_[1])
      throw ShapeError("tyche: Tensor: rows of a nested initializer list must have equal lengths");
    out = std::copy(row.begin(), row.end(), out);
  }
}

inline Tensor::Tensor(const std::vector<double>& values, const Shape& shape) : Tensor(shape) {
  if (std::int64_t(values.size()) != shape.numel())
    throw ShapeError("tyche: Tensor: " + std::to_string(values.size()) +
                     " values cannot fill shape " + shape.str());
  std::copy(values.begin(), values.end(), data_);
}

template <class Derived>
Tensor::Tensor(const Eigen::DenseBase<Derived>& eigen)
    : Tensor(Derived::ColsAtCompileTime == 1 ? Shape{eigen.rows()}
                                             : Shape{eigen.rows(), eigen.cols()}) {
  Eigen::Map<RowMatrixXd>(data_, eigen.rows(), eigen.cols()) = eigen.derived().template cast<double>();
}

inline double Tensor::at(std::initializer_list<std::int64_t> index) const {
  if (int(index.size()) != ndim())
    throw ShapeError("tyche: at: " + std::to_string(index.size()) +
                     " indices for an array of shape " + shape_.str());
  std::int64_t offset = 0;
  int axis = 0;
  for (std::int64_t i : index) {
    offset = offset * shape_[axis] + detail::normalize_index(i, shape_[axis], "at");
    ++axis;
  }
  return data()[offset];
}

inline Tensor Tensor::operator[](std::int64_t i) const {
  check_live();
  if (ndim() == 0) throw ShapeError("tyche: cannot index an array of rank 0");
  const Shape rest = shape_.drop_front();
  return detail::Access::alias(*this, rest, detail::normalize_index(i, shape_[0], "index") * rest.numel());
}

inline Tensor Tensor::slice(std::int64_t start, std::int64_t stop) const {
  check_live();
  if (ndim() == 0) throw ShapeError("tyche: cannot slice an array of rank 0");
  const std::int64_t n = shape_[0];
  start = std::clamp<std::int64_t>(start < 0 ? start + n : start, 0, n);
  stop = std::clamp<std::int64_t>(stop < 0 ? stop + n : stop, start, n);
  Shape s = shape_;
  s.set(0, stop - start);
  return detail::Access::alias(*this, s, start * shape_.drop_front().numel());
}

inline Tensor Tensor::reshape(const std::int64_t* dims, std::size_t count) const {
  check_live();
  auto fail = [&] {
    std::string wanted = "(";
    for (std::size_t i = 0; i < count; ++i) wanted += (i ? ", " : "") + std::to_string(dims[i]);
    throw ShapeError("tyche: cannot reshape an array of shape " + shape_.str() + " into shape " +
                     wanted + (count == 1 ? ",)" : ")"));
  };
  if (count > std::size_t(kMaxRank))
    throw ShapeError("tyche: cannot reshape into " + std::to_string(count) + " dimensions: arrays have at most " +
                     std::to_string(kMaxRank) + " dimensions");
  std::int64_t known = 1;
  int unknown = -1;
  for (std::size_t i = 0; i < count; ++i) {
    if (dims[i] == -1 && unknown < 0) unknown = int(i);
    else if (dims[i] < 0) fail();
    else known *= dims[i];
  }
  Shape s;
  for (std::size_t i = 0; i < count; ++i) {
    if (int(i) != unknown) s.push_back(dims[i]);
    else if (known == 0 || size() % known != 0) fail();
    else s.push_back(size() / known);
  }
  if (s.numel() != size()) fail();
  return detail::Access::alias(*this, s, 0);
}

inline Tensor Tensor::copy() const {
  Tensor t;
  t.shape_ = shape_;
  t.owner_ = std::make_shared_for_overwrite<double[]>(std::size_t(size()));
  t.data_ = t.owner_.get();
  std::copy(data(), data() + size(), t.data_);
  return t;
}

inline Eigen::MatrixXd Tensor::to_matrix() const {
  if (ndim() > 2)
    throw ShapeError("tyche: to_matrix needs rank 2 or less but got shape " + shape_.str());
  if (ndim() < 2) return vec();
  return Eigen::Map<const RowMatrixXd>(data(), shape_[0], shape_[1]);
}

}  // namespace tyche
