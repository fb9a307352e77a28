// Shape: the dimensions of an N-dimensional array, with NumPy's broadcasting rule.
//
// Shapes are small fixed-capacity values (rank 0 to kMaxRank) so that building one
// never allocates. Broadcasting aligns shapes on the right; an axis of size 1
// stretches to match the other:
//
//   tyche::Shape a{5, 1, 3}, b{4, 3};
//   tyche::broadcast_shapes(a, b, "add");   // (5, 4, 3)
//   tyche::broadcast_shapes({2}, {3}, "add"); // throws ShapeError naming both shapes
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace tyche {

inline constexpr int kMaxRank = 6;

// Thrown for every shape mismatch; the message shows the shapes involved.
class ShapeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) : Shape(dims.begin(), dims.end()) {}
  explicit Shape(const std::vector<std::int64_t>& dims) : Shape(dims.begin(), dims.end()) {}
  template <class It>
  Shape(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<std::int64_t>(*first));
  }

  int rank() const { return rank_; }
  std::int64_t operator[](int axis) const { return dims_[static_cast<std::size_t>(axis)]; }
  void set(int axis, std::int64_t dim) {
    if (dim < 0) throw ShapeError("tyche: negative dimension " + std::to_string(dim));
    dims_[static_cast<std::size_t>(axis)] = dim;
    numel_ = 1;
    for (int i = 0; i < rank_; ++i) numel_ *= dims_[static_cast<std::size_t>(i)];
  }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }

  std::int64_t numel() const { return numel_; }

  void push_back(std::int64_t dim) {
    if (rank_ == kMaxRank)
      throw ShapeError("tyche: arrays have at most " + std::to_string(kMaxRank) + " dimensions");
    if (dim < 0) throw ShapeError("tyche: negative dimension " + std::to_string(dim));
    dims_[static_cast<std::size_t>(rank_++)] = dim;
    numel_ *= dim;
  }

  // The shape without its first `count` axes.
  Shape drop_front(int count = 1) const { return Shape(begin() + std::min(count, rank_), end()); }

  friend bool operator==(const Shape& a, const Shape& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

  // "(2, 3)", "(4,)" and "()" as NumPy prints them.
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + (rank_ == 1 ? ",)" : ")");
  }

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
  std::int64_t numel_ = 1;  // cached: every array operation asks for it
};

inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  const int rank = std::max(a.rank(), b.rank());
  std::array<std::int64_t, kMaxRank> dims{};
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(std::string("tyche: ") + op + ": cannot broadcast shapes " + a.str() +
                       " and " + b.str());
    dims[static_cast<std::size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(dims.begin(), dims.begin() + rank);
}

// Normalises a possibly negative axis (NumPy style) and checks it.
inline int normalize_axis(int axis, int rank, const char* op) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw ShapeError(std::string("tyche: ") + op + ": axis " + std::to_string(axis) +
                     " is out of range for an array of rank " + std::to_string(rank));
  return a;
}

}  // namespace tyche
