// value_and_grad, and a NUTS transition through MCMC::run, allocate nothing on the heap in steady state.
//
// Two hooks count heap calls while `g_counting` is on:
// - the C allocator: the linker redirects every call to malloc, calloc,
//   realloc, aligned_alloc, posix_memalign and free made from this
//   executable's own code (-Wl,--wrap, see tests/CMakeLists.txt) to the
//   __wrap_ functions below, which count and forward to the real ones. tyche
//   and Eigen are header-only, so all their calls (Eigen's temporaries go
//   through malloc) are compiled into this executable and are seen;
// - operator new and delete in every usual form (plain, array, sized,
//   aligned, nothrow), replaced for the whole executable by versions that
//   forward to malloc / aligned_alloc / free, counted there.
// Forwarding to the real allocator keeps this compatible with
// AddressSanitizer, which intercepts malloc and free (and new and delete stay
// paired with each other, so ASan sees no mismatch).
// Only the loops of gradient evaluations are counted, never Catch2's own
// assertions, which allocate.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>
#include <vector>

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
std::atomic<long> g_deallocations{0};

void count(std::atomic<long>& counter) {
  if (g_counting.load(std::memory_order_relaxed)) counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

#if defined(__linux__)
// The linker's --wrap=malloc turns this executable's calls to malloc into
// calls to __wrap_malloc, and its calls to __real_malloc into the real malloc.
#define TYCHE_TEST_COUNTS_MALLOC 1
extern "C" {
// NOLINTBEGIN(bugprone-reserved-identifier)
void* __real_malloc(std::size_t size);
void* __real_calloc(std::size_t count, std::size_t size);
void* __real_realloc(void* p, std::size_t size);
void* __real_aligned_alloc(std::size_t alignment, std::size_t size);
int __real_posix_memalign(void** p, std::size_t alignment, std::size_t size);
void __real_free(void* p);

void* __wrap_malloc(std::size_t size) {
  count(g_allocations);
  return __real_malloc(size);
}
void* __wrap_calloc(std::size_t n, std::size_t size) {
  count(g_allocations);
  return __real_calloc(n, size);
}
void* __wrap_realloc(void* p, std::size_t size) {
  count(g_allocations);
  return __real_realloc(p, size);
}
void* __wrap_aligned_alloc(std::size_t alignment, std::size_t size) {
  count(g_allocations);
  return __real_aligned_alloc(alignment, size);
}
int __wrap_posix_memalign(void** p, std::size_t alignment, std::size_t size) {
  count(g_allocations);
  return __real_posix_memalign(p, alignment, size);
}
void __wrap_free(void* p) {
  if (p != nullptr) count(g_deallocations);
  __real_free(p);
}
// NOLINTEND(bugprone-reserved-identifier)
}
#endif

namespace {

// Counted by the C allocator's wrappers where they exist, here otherwise.
void* allocate(std::size_t size, std::size_t alignment) noexcept {
#if !defined(TYCHE_TEST_COUNTS_MALLOC)
  count(g_allocations);
#endif
  if (size == 0) size = 1;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(size);
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

void* allocate_or_throw(std::size_t size, std::size_t alignment) {
  if (void* p = allocate(size, alignment)) return p;
  throw std::bad_alloc();
}

void deallocate(void* p) noexcept {
  if (p == nullptr) return;
#if !defined(TYCHE_TEST_COUNTS_MALLOC)
  count(g_deallocations);
#endif
  std::free(p);
}

constexpr std::size_t kDefault = alignof(std::max_align_t);

}  // namespace

// NOLINTBEGIN(misc-new-delete-overloads)
void* operator new(std::size_t n) { return allocate_or_throw(n, kDefault); }
void* operator new[](std::size_t n) { return allocate_or_throw(n, kDefault); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate_or_throw(n, std::size_t(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate_or_throw(n, std::size_t(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, kDefault); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, kDefault); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, std::size_t(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, std::size_t(a));
}
void operator delete(void* p) noexcept { deallocate(p); }
void operator delete[](void* p) noexcept { deallocate(p); }
void operator delete(void* p, std::size_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::size_t) noexcept { deallocate(p); }
void operator delete(void* p, std::align_val_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::align_val_t) noexcept { deallocate(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
// NOLINTEND(misc-new-delete-overloads)

using tyche::Shape;
using tyche::Tensor;

namespace {

struct Counts {
  long allocations, deallocations;
};

// Warms value_and_grad(f, x, g) up, then counts heap calls over 100 more calls
// (alternating between x and a second point).
template <class F>
Counts steady_state_counts(const F& f, const Eigen::VectorXd& x) {
  Eigen::VectorXd g(x.size());
  const Eigen::VectorXd x2 = 0.9 * x;
  for (int i = 0; i < 5; ++i) tyche::value_and_grad(f, x, g);
  double sink = 0.0;
  g_allocations = 0;
  g_deallocations = 0;
  g_counting = true;
  for (int i = 0; i < 100; ++i) sink += tyche::value_and_grad(f, i % 2 ? x2 : x, g);
  g_counting = false;
  REQUIRE(std::isfinite(sink));
  return {g_allocations.load(), g_deallocations.load()};
}

#define REQUIRE_NO_HEAP_CALLS(f, x)                \
  do {                                             \
    const Counts counts_ = steady_state_counts(f, x); \
    CHECK(counts_.deallocations == 0);             \
    REQUIRE(counts_.allocations == 0);             \
  } while (false)

Eigen::VectorXd linspace(Eigen::Index n, double low, double high) {
  return Eigen::VectorXd::LinSpaced(n, low, high);
}

}  // namespace

TEST_CASE("the allocation counter sees operator new in all its forms") {
  void* volatile sink = nullptr;  // keeps the compiler from eliding new/delete pairs
  g_allocations = 0;
  g_deallocations = 0;
  g_counting = true;
  sink = new int(1);
  delete static_cast<int*>(sink);
  sink = new double[3];
  delete[] static_cast<double*>(sink);
  sink = ::operator new(64, std::align_val_t(128));
  const bool aligned = reinterpret_cast<std::uintptr_t>(sink) % 128 == 0;
  ::operator delete(sink, std::align_val_t(128));
  sink = new (std::nothrow) int(2);
  delete static_cast<int*>(sink);
  std::vector<double> v(10);
  sink = v.data();
  g_counting = false;
  CHECK(aligned);
  CHECK(g_allocations == 5);
  CHECK(g_deallocations == 4);  // v is still alive
}

#if defined(TYCHE_TEST_COUNTS_MALLOC)
TEST_CASE("the allocation counter sees the C allocator, through which Eigen allocates") {
  void* volatile sink = nullptr;
  g_allocations = 0;
  g_deallocations = 0;
  g_counting = true;
  sink = std::malloc(16);
  sink = std::realloc(sink, 4096);
  std::free(sink);
  sink = std::calloc(4, 8);
  std::free(sink);
  {
    Eigen::MatrixXd m = Eigen::MatrixXd::Random(40, 40);  // one aligned_malloc
    sink = m.data();
  }
  {
    tyche::RowMatrixXd a = tyche::RowMatrixXd::Constant(3, 3, 1.0);  // a dynamic Eigen matrix
    sink = a.data();
  }
  g_counting = false;
  CHECK(g_allocations == 5);
  CHECK(g_deallocations == 4);
}
#endif

TEST_CASE("value_and_grad allocates nothing on the heap in steady state: eight schools, non-centered") {
  const Tensor y{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
  const Tensor sigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  // q = (mu, log tau, theta_tilde[8]); mu ~ N(0, 5), tau ~ HalfCauchy(5),
  // theta_tilde ~ N(0, 1), y ~ N(mu + tau theta_tilde, sigma); constants dropped.
  const auto log_density = [&](const Tensor& q) {
    const Tensor mu = q[0], log_tau = q[1], theta_tilde = q.slice(2, 10);
    const Tensor tau = tyche::exp(log_tau);
    const Tensor theta = mu + tau * theta_tilde;
    return -0.5 * tyche::square(mu / 5.0) - tyche::log1p(tyche::square(tau / 5.0)) + log_tau -
           0.5 * tyche::sum(tyche::square(theta_tilde)) - 0.5 * tyche::sum(tyche::square((y - theta) / sigma));
  };
  const Eigen::VectorXd x = linspace(10, -0.5, 1.2);
  // The same density in plain doubles.
  const double mu = x[0], tau = std::exp(x[1]);
  double expected = -0.5 * (mu / 5.0) * (mu / 5.0) - std::log1p((tau / 5.0) * (tau / 5.0)) + x[1];
  for (int j = 0; j < 8; ++j) {
    const double z = (y.at({j}) - (mu + tau * x[2 + j])) / sigma.at({j});
    expected -= 0.5 * x[2 + j] * x[2 + j] + 0.5 * z * z;
  }
  REQUIRE(tyche::value_and_grad(log_density, x).value == Approx(expected));
  REQUIRE_NO_HEAP_CALLS(log_density, x);
}

TEST_CASE("value_and_grad allocates nothing on the heap in steady state: logistic regression with matmul") {
  constexpr Eigen::Index n = 1000;
  tyche::RowMatrixXd design(n, 3);
  std::vector<double> outcome(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < 3; ++j) design(i, j) = std::sin(0.3 * double(i) + 1.1 * double(j));
    outcome[std::size_t(i)] = std::cos(0.7 * double(i)) > 0.0 ? 1.0 : 0.0;
  }
  const Tensor X = Tensor::view(design), y(outcome);
  const auto log_density = [&](const Tensor& q) {
    const Tensor eta = tyche::matmul(X, q.slice(1, 4)) + q[0];
    return tyche::sum(y * eta - tyche::softplus(eta)) - 0.5 * tyche::sum(tyche::square(q));
  };
  const Eigen::VectorXd x = linspace(4, -0.3, 0.4);
  const Eigen::VectorXd eta = (design * x.tail(3)).array() + x[0];
  double expected = -0.5 * x.squaredNorm();
  for (Eigen::Index i = 0; i < n; ++i)
    expected += outcome[std::size_t(i)] * eta[i] - std::log1p(std::exp(eta[i]));
  REQUIRE(tyche::value_and_grad(log_density, x).value == Approx(expected));
  REQUIRE_NO_HEAP_CALLS(log_density, x);
}

TEST_CASE("value_and_grad allocates nothing on the heap in steady state: take, concatenate, stack, transpose, "
          "axis reductions, cholesky and solve_triangular") {
  const Tensor index{2.0, 0.0, 1.0, 1.0};
  const Tensor jitter = Tensor{{1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}, {0.0, 0.0, 1.0}} * 2.0;
  const auto f = [&](const Tensor& q) {
    const Tensor a = q.slice(0, 3), b = q.slice(3, 6);
    const Tensor picked = tyche::take(a, index);                      // (4,)
    const Tensor ab = tyche::stack({a, b});                           // (2, 3)
    const Tensor both = tyche::concatenate({a, b});                   // (6,)
    const Tensor S = tyche::matmul(tyche::transpose(ab), ab) + jitter;  // (3, 3), positive definite
    const Tensor L = tyche::cholesky(S);
    const Tensor z = tyche::solve_triangular(L, a);
    return -0.5 * tyche::dot(z, z) - tyche::sum(tyche::log(tyche::diagonal(L))) +
           tyche::sum(tyche::logsumexp(ab, 1)) + tyche::sum(tyche::max(ab, 0)) + tyche::sum(tyche::mean(ab, 1, true)) +
           tyche::sum(picked) + 0.01 * tyche::sum(tyche::square(both));
  };
  REQUIRE_NO_HEAP_CALLS(f, linspace(6, -0.7, 0.9));
}

TEST_CASE("each array operation on its own allocates nothing on the heap in steady state") {
  const Tensor index{2.0, 0.0, 1.0, 1.0}, index2d{{0.0, 1.0}, {2.0, 0.0}};
  const std::vector<std::int64_t> index_vector{2, 0, 1, 1};
  const Tensor spd{{4.0, 1.0, 0.5}, {1.0, 3.0, 0.2}, {0.5, 0.2, 2.0}};
  // Columns (n, 1), built here: making one inside would go through a std::vector.
  const auto column = [](std::vector<double> v) { return Tensor(v, Shape{std::int64_t(v.size()), 1}); };
  const Tensor c12 = column({1.0, 2.0}), c1m2 = column({1.0, -2.0}), c123 = column({1.0, 2.0, 3.0}),
               c1to6 = column({1.0, 2.0, 3.0, 4.0, 5.0, 6.0});
  std::vector<Tensor> parts(2);  // reused storage for the parts of concatenate
  using Op = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Op>> ops{
      {"elementwise and broadcasting", [&](const Tensor& q) { return tyche::sum(tyche::exp(q) * c12 - q / 3.0); }},
      {"operator[] and member slice", [](const Tensor& q) { return q[1] * tyche::sum(q.slice(2, 5)); }},
      {"take with a Tensor index", [&](const Tensor& q) { return tyche::sum(q[index]) + tyche::sum(tyche::take(q, index2d)); }},
      {"take with a std::vector index", [&](const Tensor& q) { return tyche::sum(tyche::take(q, index_vector)); }},
      {"concatenate of a braced list", [](const Tensor& q) { return tyche::sum(tyche::concatenate({q, q * 2.0})); }},
      {"concatenate of a reused vector", [&](const Tensor& q) {
         parts[0] = q;
         parts[1] = q * 2.0;
         return tyche::sum(tyche::concatenate(parts));
       }},
      {"stack", [](const Tensor& q) { return tyche::sum(tyche::stack({q, q * 2.0}, -1)); }},
      {"transpose", [&](const Tensor& q) { return tyche::sum(tyche::transpose(tyche::where(q > 0.0, q, c12)) * Tensor{1.0, 2.0}); }},
      {"reshape", [](const Tensor& q) { return tyche::sum(tyche::square(q.reshape({2, -1}))); }},
      {"flatten", [](const Tensor& q) { return tyche::sum(tyche::where(q > 0.0, q, 0.0).flatten()); }},
      {"slice along axis 1 and diagonal", [&](const Tensor& q) {
         const Tensor m = q * c1to6;
         return tyche::sum(tyche::slice(m, 1, 1, 4)) + tyche::sum(tyche::diagonal(m));
       }},
      {"reductions along an axis", [&](const Tensor& q) {
         const Tensor m = q * c1m2;
         return tyche::sum(tyche::sum(m, 1) + tyche::max(m, 1) + tyche::logsumexp(m, -1)) +
                tyche::sum(tyche::mean(m, 0, true));
       }},
      {"cholesky and solve_triangular", [&](const Tensor& q) {
         const Tensor L = tyche::cholesky(spd * tyche::exp(q[0]));
         const Tensor rhs = q.slice(0, 3) * c123;  // (3, 3)
         return tyche::sum(tyche::solve_triangular(L, q.slice(0, 3))) + tyche::sum(tyche::solve_triangular(L, rhs)) +
                tyche::sum(tyche::solve_triangular(spd * tyche::exp(q[1]), q.slice(3, 6), false));
       }},
  };
  const Eigen::VectorXd x = linspace(6, -0.8, 1.1);
  for (const auto& [name, op] : ops) {
    INFO(name);
    const Counts counts = steady_state_counts(op, x);
    CHECK(counts.allocations == 0);
    CHECK(counts.deallocations == 0);
  }
}

// MCMC::run as users call it: recording, warm-up, sampling and the driver's
// own loop. Two runs with the same seed and warm-up, one with twice the
// sampling transitions (the first half of which are the shorter run's), must
// make the same number of heap calls: a sampling transition (the NUTS tree,
// every leapfrog step through the compiled potential, the driver's
// bookkeeping of the kept draw) allocates nothing.
TEST_CASE("a NUTS transition after warm-up allocates nothing on the heap, through MCMC::run") {
  const Tensor y{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
  const Tensor sigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  const auto model = [&] {
    const Tensor mu = tyche::sample("mu", tyche::dist::Normal(0.0, 5.0));
    const Tensor tau = tyche::sample("tau", tyche::dist::HalfCauchy(5.0));
    tyche::plate schools("schools", 8);
    const Tensor theta_tilde = tyche::sample("theta_tilde", tyche::dist::Normal(0.0, 1.0));
    tyche::sample("y", tyche::dist::Normal(mu + tau * theta_tilde, sigma), y);
  };
  const auto heap_calls = [&](int num_samples) {
    tyche::MCMC mcmc(tyche::NUTS(model),
                     {.num_warmup = 100, .num_samples = num_samples, .chain_method = tyche::ChainMethod::sequential,
                      .progress_bar = false});
    g_allocations = 0;
    g_counting = true;
    mcmc.run(3);
    g_counting = false;
    REQUIRE(mcmc.get_samples().at("mu").size() == num_samples);
    return g_allocations.load();
  };
  heap_calls(10);  // first uses: the thread's tape arenas and the like
  const long shorter = heap_calls(200);
  CHECK(shorter > 0);  // the counter sees the run's setup
  CHECK(heap_calls(400) == shorter);
}

// SVI::run with Trace_ELBO replays a recorded loss at each step
// (infer/auto_guide_elbo.hpp, infer/guide_elbo.hpp): two runs from the same
// seed, one with more steps, make the same number of heap calls, so a step
// allocates nothing (the eager path allocates in every one).
TEST_CASE("an SVI step with Trace_ELBO allocates nothing on the heap, through SVI::run") {
  const Tensor x{-1.2, -0.4, 0.3, 0.9, 1.6, 2.2};
  const Tensor y{0.1, 0.0, 1.0, 1.0, 1.0, 1.0};
  const auto model = [&] {
    const Tensor a = tyche::sample("a", tyche::dist::Normal(0.0, 2.0));
    const Tensor b = tyche::sample("b", tyche::dist::Normal(0.0, 2.0));
    const Tensor s = tyche::sample("s", tyche::dist::HalfNormal(1.0));
    tyche::plate data("data", 6);
    tyche::sample("y", tyche::dist::Normal(a + b * x, s), y);
  };
  const auto heap_calls = [&](const auto& make_guide, int num_steps, int particles) {
    tyche::SVI svi(model, make_guide(), tyche::optim::Adam({.step_size = 0.01}),
                   tyche::Trace_ELBO{.num_particles = particles});
    g_allocations = 0;
    g_counting = true;
    const auto result = svi.run(2, num_steps, tyche::SVIRunOptions{.progress_bar = false});
    g_counting = false;
    REQUIRE(result.losses.size() == num_steps);
    return g_allocations.load();
  };
  const auto steps_allocate_nothing = [&](const auto& make_guide, int particles = 1) {
    heap_calls(make_guide, 10, particles);  // first uses: the thread's tape arenas and the like
    const long shorter = heap_calls(make_guide, 50, particles);
    CHECK(shorter > 0);
    CHECK(heap_calls(make_guide, 250, particles) == shorter);
  };
  SECTION("AutoNormal") { steps_allocate_nothing([&] { return tyche::AutoNormal(model); }); }
  SECTION("AutoNormal, 3 particles") { steps_allocate_nothing([&] { return tyche::AutoNormal(model); }, 3); }
  SECTION("AutoMultivariateNormal") { steps_allocate_nothing([&] { return tyche::AutoMultivariateNormal(model); }); }
  SECTION("AutoDelta") { steps_allocate_nothing([&] { return tyche::AutoDelta(model); }); }
  SECTION("a guide of any type (infer/guide_elbo.hpp), 3 particles") {
    steps_allocate_nothing(
        [&] { return [guide = tyche::AutoNormal(model)](const auto&... args) { return guide(args...); }; }, 3);
  }
}
