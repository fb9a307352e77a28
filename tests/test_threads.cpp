// Each thread records gradients on its own tape and arena: concurrent
// evaluations give bit-for-bit the single-thread results, and an array made on
// one thread's tape cannot be read from another thread.
#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include <atomic>
#include <cmath>
#include <latch>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

using tyche::Shape;
using tyche::Tensor;

namespace {

constexpr Eigen::Index kRows = 2000, kCols = 5;

// Logistic regression on a fixed design, plus broadcasting, reductions along
// an axis and stacking, so that many kinds of tape nodes run concurrently.
struct LogisticLogDensity {
  Tensor X, y, prior_scale, weights;  // (n, k), (n,), (k,), (2, 1): built once, shared by all threads

  LogisticLogDensity() {
    tyche::RowMatrixXd design(kRows, kCols);
    std::vector<double> outcome(kRows);
    for (Eigen::Index i = 0; i < kRows; ++i) {
      for (Eigen::Index j = 0; j < kCols; ++j) design(i, j) = std::sin(0.37 * double(i * kCols + j) + double(j));
      outcome[std::size_t(i)] = std::cos(0.11 * double(i)) > 0.2 ? 1.0 : 0.0;
    }
    X = Tensor(design);
    y = Tensor(outcome);
    prior_scale = Tensor{1.0, 2.0, 0.5, 1.5, 3.0};
    weights = Tensor(std::vector<double>{0.001, -0.001}, Shape{2, 1});
  }

  Tensor operator()(const Tensor& q) const {
    const Tensor alpha = q[0], beta = q.slice(1, kCols + 1);
    const Tensor eta = tyche::matmul(X, beta) + alpha;
    const Tensor eta_rows = tyche::sum(X * beta, 1) + alpha;  // (n, k) * (k,) broadcast
    const Tensor loglik = tyche::sum(y * eta - tyche::softplus(eta));
    const Tensor prior = -0.5 * tyche::sum(tyche::square(beta / prior_scale)) - 0.5 * tyche::square(alpha);
    const Tensor both = tyche::stack({eta, eta_rows}, -1);  // (n, 2)
    const Tensor spread = tyche::mean(tyche::logsumexp(both, 1) - tyche::max(both, 1));
    const Tensor columns = tyche::sum(tyche::sum(tyche::transpose(both), 1, true) * weights);
    return loglik + prior + 0.01 * spread + columns;
  }
};

std::vector<Eigen::VectorXd> make_inputs(int count) {
  std::vector<Eigen::VectorXd> inputs;
  for (int k = 0; k < count; ++k) {
    Eigen::VectorXd x(kCols + 1);
    for (Eigen::Index j = 0; j <= kCols; ++j) x[j] = 0.3 * std::sin(1.7 * double(k) + 0.9 * double(j));
    inputs.push_back(x);
  }
  return inputs;
}

}  // namespace

TEST_CASE("two threads computing gradients at the same time get exactly what one thread gets") {
  const LogisticLogDensity f;
  const std::vector<Eigen::VectorXd> inputs = make_inputs(8);
  std::vector<tyche::ValueAndGrad> expected;
  for (const auto& x : inputs) expected.push_back(tyche::value_and_grad(f, x));
  for (const auto& e : expected) REQUIRE(std::isfinite(e.value));
  REQUIRE(expected[0].value != expected[1].value);  // the inputs really differ

  constexpr int kCalls = 200;
  for (int threads : {2, 4}) {
    INFO(threads << " threads");
    std::atomic<int> evaluations{0}, mismatches{0}, exceptions{0};
    std::latch start(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        Eigen::VectorXd g(kCols + 1);
        start.arrive_and_wait();
        try {
          for (int call = 0; call < kCalls; ++call) {
            const std::size_t k = std::size_t(t + call) % inputs.size();
            const double value = tyche::value_and_grad(f, inputs[k], g);
            if (!(value == expected[k].value && g == expected[k].grad)) ++mismatches;
            ++evaluations;
          }
        } catch (...) {
          ++exceptions;
        }
      });
    for (auto& thread : pool) thread.join();
    CHECK(exceptions == 0);
    CHECK(evaluations == threads * kCalls);
    CHECK(mismatches == 0);
  }
}

TEST_CASE("an array made inside value_and_grad on one thread throws std::logic_error when used on another thread") {
  Tensor escaped;  // written by the worker before `made` is counted down
  std::latch made(1), release(1);
  std::thread worker([&] {
    Eigen::VectorXd x(3);
    x << 1.0, 2.0, 3.0;
    tyche::value_and_grad(
        [&](const Tensor& q) {
          escaped = tyche::sum(q) * 2.0;
          made.count_down();
          release.wait();  // the worker's session and arena stay alive meanwhile
          return escaped;
        },
        x);
  });
  {
    // Releases and joins the worker however this block exits.
    struct Release {
      std::latch& latch;
      std::thread& thread;
      ~Release() {
        latch.count_down();
        thread.join();
      }
    } guard{release, worker};
    made.wait();
    Eigen::VectorXd x(3);
    x << 1.0, 1.0, 1.0;
    REQUIRE_THROWS_AS(escaped + 1.0, std::logic_error);
    REQUIRE_THROWS_WITH(escaped + 1.0, Catch::Contains("another thread"));
    REQUIRE_THROWS_AS(escaped.item(), std::logic_error);
    REQUIRE_THROWS_AS(tyche::sum(escaped), std::logic_error);
    REQUIRE_THROWS_AS(escaped.copy(), std::logic_error);
    const auto uses_escaped = [&](const Tensor& q) { return tyche::sum(q * escaped); };
    REQUIRE_THROWS_AS(tyche::value_and_grad(uses_escaped, x), std::logic_error);
    const auto returns_escaped = [&](const Tensor&) { return escaped; };
    CHECK_THROWS_AS(tyche::value_and_grad(returns_escaped, x), std::logic_error);
  }
  // The worker has exited and its arena is gone: still an exception, not a read.
  REQUIRE_THROWS_AS(escaped + 1.0, std::logic_error);
  REQUIRE_THROWS_AS(escaped.to_vector(), std::logic_error);
}

TEST_CASE("arrays made outside value_and_grad can be shared by threads") {
  const Tensor shared = Tensor::arange(1000) * 0.5;  // on the heap, not in an arena
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 3; ++t)
    pool.emplace_back([&] {
      Eigen::VectorXd x = Eigen::VectorXd::Ones(1);
      for (int call = 0; call < 50; ++call) {
        const auto r = tyche::value_and_grad([&](const Tensor& q) { return tyche::sum(shared * q[0]); }, x);
        if (r.value != 249750.0 || r.grad[0] != 249750.0 || tyche::sum(shared).item() != 249750.0) ++wrong;
      }
    });
  for (auto& thread : pool) thread.join();
  CHECK(wrong == 0);
}

// Here rather than with the other handler tests so that TSan, which builds
// only this file, checks the handler stacks too.
TEST_CASE("handler stacks on different threads are independent") {
  // The tutorial's first two sites: slope is drawn with the second key split
  // from seed 0, -6.2873883 in NumPyro (float32, hence the tolerance).
  auto two_sites = [] {
    tyche::sample("intercept", tyche::dist::Normal(0.0, 10.0));
    tyche::sample("slope", tyche::dist::Normal(0.0, 5.0));
  };
  tyche::seed guard(0);
  std::size_t other_depth = 99;
  double other_draw = 0.0;
  std::thread t([&] {
    other_depth = tyche::detail::handler_stack().size();
    other_draw = tyche::trace(tyche::seed(two_sites, 0)).get_trace()["slope"].value->item();
  });
  t.join();
  CHECK(other_depth == 0);
  CHECK(other_draw == Approx(-6.2873883).epsilon(1e-5));
  CHECK(tyche::detail::handler_stack().size() == 1);
}

// MCMC chains on threads share the model's data and nothing else: each
// records its own potential, and the draws are those of the chains run one
// after the other. A failing chain stops the others and is reported.
TEST_CASE("MCMC: parallel chains give the sequential chains' draws, a thread's exception reaches run") {
  const tyche::Tensor y{1.2, 0.4, 2.9, 1.8, -0.3};
  const auto model = [&] {
    const tyche::Tensor mu = tyche::sample("mu", tyche::dist::Normal(0.0, 10.0));
    const tyche::Tensor sd = tyche::sample("sd", tyche::dist::HalfNormal(2.0));
    tyche::plate data("data", y.size());
    tyche::sample("y", tyche::dist::Normal(mu, sd), y);
  };
  const auto draws = [&](tyche::ChainMethod method) {
    tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 60, .num_samples = 40, .num_chains = 3,
                                          .chain_method = method, .progress_bar = false});
    mcmc.run(21);
    return mcmc.get_samples().at("sd").to_std_vector();
  };
  CHECK(draws(tyche::ChainMethod::parallel) == draws(tyche::ChainMethod::sequential));

  const auto failing = [] {
    const tyche::Tensor mu = tyche::sample("mu", tyche::dist::Normal(0.0, 1.0));
    if (!mu.requires_grad() && mu.item() == 0.5) throw std::runtime_error("chain failed");
  };
  tyche::MCMC mcmc(tyche::NUTS(failing, {.init_strategy = tyche::init_to_value({{"mu", 0.5}})}),
                   {.num_warmup = 10, .num_samples = 10, .num_chains = 3, .progress_bar = false});
  CHECK_THROWS_WITH(mcmc.run(0), Catch::Contains("MCMC chain 0") && Catch::Contains("chain failed"));
}

// Predictive on threads: each draw runs the model on its own thread's
// handler stack with its own key; the draws are those of the sequential run.
TEST_CASE("Predictive: draws on threads equal the sequential draws") {
  const auto model = [](const std::optional<tyche::Tensor>& y) {
    const tyche::Tensor mu = tyche::sample("mu", tyche::dist::Normal(0.0, 1.0));
    tyche::plate data("data", 4);
    tyche::sample("y", tyche::dist::Normal(mu, 0.5), y);
  };
  const tyche::ValueMap samples = {{"mu", tyche::random::normal(tyche::PRNGKey(3), {64})}};
  const auto draws = [&](bool parallel) {
    return tyche::Predictive(model, samples, {.parallel = parallel})(5, std::nullopt).at("y").to_std_vector();
  };
  CHECK(draws(true) == draws(false));
}
