// plate: conditionally independent copies along one batch axis.
//
// Sample sites inside a plate have their distributions broadcast to the
// plate's size along the plate's axis (dims are allocated from the right:
// -1 for the innermost free axis, then -2, ...), carry the plate's frame in
// cond_indep_stack, and, when the plate subsamples, have their log density
// scaled by size / subsample_size. A subsampling plate also subsamples the
// param sites (given an event_dim) and the tyche::subsample data inside it
// along its dim.
//
//   {
//     tyche::plate data("data", 100);                       // a guard: sites below are in it
//     tyche::sample("obs", tyche::dist::Normal(mu, 1.0), y); // batch shape (100,)
//   }
//   tyche::plate("batch", 1000, [&](const tyche::Tensor& idx) { ... }, 32);   // idx: 32 indices
#pragma once

#include "tyche/core/indexing.hpp"
#include "tyche/effects/runtime.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tyche {

class plate : public Messenger {
 public:
  plate(std::string name, std::int64_t size, std::optional<std::int64_t> subsample_size = std::nullopt,
        std::optional<int> dim = std::nullopt)
      : name_(std::move(name)), size_(size) {
    enter(subsample_size, dim);
    detail::handler_stack().push_back(this);
  }

  // Runs body inside the plate, passing the subsample indices when it takes them.
  template <class Body>
    requires std::invocable<Body&, const Tensor&> || std::invocable<Body&>
  plate(std::string name, std::int64_t size, Body&& body, std::optional<std::int64_t> subsample_size = std::nullopt,
        std::optional<int> dim = std::nullopt)
      : name_(std::move(name)), size_(size) {
    enter(subsample_size, dim);
    detail::StackEntry entry(*this);
    if constexpr (std::invocable<Body&, const Tensor&>) body(indices_);
    else body();
  }

  ~plate() override { detail::remove_from_stack(this); }
  plate(const plate&) = delete;
  plate& operator=(const plate&) = delete;

  const std::string& name() const { return name_; }
  std::int64_t size() const { return size_; }
  std::int64_t subsample_size() const { return subsample_size_; }
  int dim() const { return dim_; }
  // The indices of this (sub)sample of 0 .. size-1.
  const Tensor& indices() const { return indices_; }

  void process_message(Message& msg) override {
    if (msg.type != SiteType::sample && msg.type != SiteType::param && msg.type != SiteType::plate &&
        msg.type != SiteType::deterministic)
      return;
    msg.cond_indep_stack.push_back({name_, dim_, subsample_size_});
    if (msg.type == SiteType::deterministic) return;
    if (msg.type == SiteType::sample) broadcast_distribution(msg);
    if (size_ != subsample_size_ && subsample_size_ > 0) {
      const double factor = double(size_) / double(subsample_size_);
      msg.scale = msg.scale ? *msg.scale * factor : Tensor(factor);
    }
  }

  // A param's value (given an event_dim) or subsample's data has this
  // plate's axis at its dim, counted left of the event_dim rightmost axes:
  // it must have the full size there (or 1), and a subsampling plate takes
  // its indices along it.
  void postprocess_message(Message& msg) override {
    if ((msg.type != SiteType::param && msg.type != SiteType::subsample) || !msg.event_dim) return;
    const Shape& shape = msg.value->shape();
    const int axis = shape.rank() + dim_ - *msg.event_dim;
    if (axis < 0 || shape[axis] == 1) return;
    if (shape[axis] != size_) {
      const std::string statement = msg.type == SiteType::param ? "param `" + msg.name + "`" : "subsample(data)";
      throw ShapeError("tyche: " + statement + " with event_dim " + std::to_string(*msg.event_dim) + " in plate `" +
                       name_ + "` of size " + std::to_string(size_) + " (dim " + std::to_string(dim_) +
                       "): the value has shape " + shape.str() + ", of size " + std::to_string(shape[axis]) +
                       " at axis " + std::to_string(axis) + "; give it the plate's full size " +
                       std::to_string(size_) + " (or 1) there, and the plate subsamples it");
    }
    if (subsample_size_ < size_) msg.value = take_along_axis(*msg.value, indices_, axis);
  }

 private:
  // Sends the plate's own message (so traces record it and seed can key its
  // subsampling), then takes the first axis left of every enclosing plate.
  void enter(std::optional<std::int64_t> subsample_size, std::optional<int> dim) {
    if (size_ <= 0)
      throw std::invalid_argument("tyche: plate `" + name_ + "`: size must be positive, got " + std::to_string(size_));
    subsample_size_ = subsample_size.value_or(size_);
    if (subsample_size_ < 0 || subsample_size_ > size_)
      throw std::invalid_argument("tyche: plate `" + name_ + "`: subsample_size " + std::to_string(subsample_size_) +
                                  " is not in [0, " + std::to_string(size_) + "]");
    if (dim && *dim >= 0)
      throw std::invalid_argument("tyche: plate `" + name_ + "`: dim must be negative, got " + std::to_string(*dim));
    Message msg;
    msg.type = SiteType::plate;
    msg.name = name_;
    msg.plate_size = size_;
    msg.subsample_size = subsample_size_;
    if (subsample_size_ == size_) msg.value = Tensor::arange(size_);
    if (!detail::handler_stack().empty()) apply_stack(msg);
    if (!msg.value) detail::default_process_message(msg);  // no handler: subsample here
    indices_ = *msg.value;
    check_indices(subsample_size);
    subsample_size_ = indices_.size();

    std::vector<int> occupied;
    for (const auto& frame : msg.cond_indep_stack) occupied.push_back(frame.dim);
    if (dim) {
      if (std::find(occupied.begin(), occupied.end(), *dim) != occupied.end())
        throw std::invalid_argument("tyche: plate `" + name_ + "`: dim " + std::to_string(*dim) +
                                    " is already used by an enclosing plate");
      dim_ = *dim;
    } else {
      dim_ = -1;
      while (std::find(occupied.begin(), occupied.end(), dim_) != occupied.end()) --dim_;
    }
  }

  // Indices a handler gave (substitute, replay) must be a subsample of
  // 0 .. size-1 of the size asked for (NumPyro only warns on the size).
  void check_indices(std::optional<std::int64_t> requested) const {
    const std::string where = "tyche: plate `" + name_ + "` of size " + std::to_string(size_) + ": ";
    if (indices_.ndim() != 1)
      throw ShapeError(where + "the subsample indices must be a vector, got shape " + indices_.shape().str());
    if (requested && indices_.size() != *requested)
      throw std::invalid_argument(where + "subsample_size is " + std::to_string(*requested) + " but the indices " +
                                  "given to the plate (by substitute or replay) have length " +
                                  std::to_string(indices_.size()) +
                                  "; did the model and the guide use different subsample sizes?");
    const double* index = indices_.data();
    for (std::int64_t i = 0; i < indices_.size(); ++i)
      if (!(index[i] >= 0.0 && index[i] < double(size_) && index[i] == std::floor(index[i])))
        throw std::invalid_argument(where + "subsample index " + std::to_string(index[i]) + " at position " +
                                    std::to_string(i) + " is not an integer in [0, " + std::to_string(size_) + ")");
  }

  // x's elements at `index` along `axis` (NumPy's take(x, index, axis)).
  static Tensor take_along_axis(const Tensor& x, const Tensor& index, int axis) {
    if (axis == 0) return take(x, index);
    std::vector<int> to_front{axis}, back;
    for (int a = 0; a < x.ndim(); ++a) {
      if (a != axis) to_front.push_back(a);
      back.push_back(a < axis ? a + 1 : a == axis ? 0 : a);
    }
    return transpose(take(transpose(x, to_front), index), back);
  }

  // Expands the site's distribution so its batch shape covers every plate axis.
  static void broadcast_distribution(Message& msg) {
    int rank = 0;
    for (const auto& frame : msg.cond_indep_stack) rank = std::max(rank, -frame.dim);
    std::vector<std::int64_t> expected(static_cast<std::size_t>(rank), 1);
    for (const auto& frame : msg.cond_indep_stack) expected[std::size_t(rank + frame.dim)] = frame.size;
    Shape dist_batch = msg.sample_shape;
    for (std::int64_t d : msg.fn->batch_shape()) dist_batch.push_back(d);
    const bool has_sample_shape = msg.sample_shape.rank() > 0;
    msg.sample_shape = Shape{};
    const int overlap = std::max(rank - dist_batch.rank(), 0);
    Shape batch(expected.begin(), expected.begin() + overlap);
    const Shape trailing(expected.begin() + overlap, expected.end());
    for (const auto& frame : msg.cond_indep_stack) {
      const int axis = dist_batch.rank() + frame.dim;
      if (axis < 0 || dist_batch[axis] == 1 || dist_batch[axis] == frame.size) continue;
      throw ShapeError("tyche: " + detail::describe_site(msg) + ": its " + msg.fn->name() + " has " +
                       (has_sample_shape ? "sample_shape + batch shape " : "batch shape ") +
                       dist_batch.str() + ", of size " + std::to_string(dist_batch[axis]) + " at dim " +
                       std::to_string(frame.dim) + ", where plate `" + frame.name + "` has size " +
                       std::to_string(frame.size) + "; give the distribution a batch shape that broadcasts with " +
                       "the plates' shape " + Shape(expected.begin(), expected.end()).str() +
                       " (size 1 or " + std::to_string(frame.size) + " at dim " + std::to_string(frame.dim) +
                       "), or give the plate another dim");
    }
    for (std::int64_t d : broadcast_shapes(trailing, dist_batch, "plate")) batch.push_back(d);
    if (!(batch == msg.fn->batch_shape())) msg.fn = msg.fn->expand(batch).share();
  }

  std::string name_;
  std::int64_t size_;
  std::int64_t subsample_size_ = 0;
  int dim_ = -1;
  Tensor indices_;
};

}  // namespace tyche
