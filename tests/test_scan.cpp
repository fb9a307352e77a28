// scan (effects/scan.hpp) as numpyro.contrib.control_flow.scan: one site per
// name with a leading time axis, under seed, trace, condition, substitute,
// mask, Predictive and the potential energy; checked against the same model
// written as a loop with one site per step, closed-form log densities, and
// the exact posterior of an AR(1) coefficient under NUTS; the compiled
// gradients of ARMA and GARCH recursions against value_and_grad and
// finite differences.
#include <catch2/catch.hpp>

#include <tyche/effects/scan.hpp>
#include <tyche/tyche.hpp>

#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

namespace dist = tyche::dist;

namespace {

// f throws E, whose message holds every part.
template <class E, class F>
void scan_require_throws(F f, std::initializer_list<const char*> parts) {
  try {
    f();
  } catch (const E& e) {
    INFO(e.what());
    for (const char* part : parts) CHECK(std::string(e.what()).find(part) != std::string::npos);
    return;
  }
  FAIL("no exception");
}

double scan_normal_lpdf(double x, double mu, double sd) {
  const double z = (x - mu) / sd;
  return -0.5 * z * z - std::log(sd) - 0.5 * std::log(2 * std::numbers::pi);
}
double scan_half_normal_lpdf(double x, double sd) { return std::log(2.0) + scan_normal_lpdf(x, 0.0, sd); }

// y_t ~ Normal(phi y_{t-1}, sigma), y_{-1} = 0, written with scan.
void scan_ar1(std::int64_t T) {
  const tyche::Tensor phi = tyche::sample("phi", dist::Normal(0.0, 1.0));
  const tyche::Tensor sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  tyche::scan(
      [&](const tyche::Tensor& prev, std::nullopt_t) {
        tyche::Tensor y = tyche::sample("y", dist::Normal(phi * prev, sigma));
        return std::pair{y, y};
      },
      tyche::Tensor(0.0), std::nullopt, {.length = T});
}

// The AR(1) log joint by hand, y_{-1} = 0.
double scan_ar1_log_joint(double phi, double sigma, const std::vector<double>& y) {
  double lp = scan_normal_lpdf(phi, 0.0, 1.0) + scan_half_normal_lpdf(sigma, 1.0), prev = 0.0;
  for (double v : y) {
    lp += scan_normal_lpdf(v, phi * prev, sigma);
    prev = v;
  }
  return lp;
}

// A local level model: latent x_t ~ Normal(x_{t-1}, tau), y_t ~ Normal(x_t, sigma).
void scan_level(const tyche::Tensor& y) {
  const tyche::Tensor tau = tyche::sample("tau", dist::HalfNormal(1.0));
  const tyche::Tensor sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  tyche::scan(
      [&](const tyche::Tensor& prev, const tyche::Tensor& y_t) {
        tyche::Tensor x = tyche::sample("x", dist::Normal(prev, tau));
        tyche::sample("obs", dist::Normal(x, sigma), y_t);
        return std::pair{x, x};
      },
      tyche::Tensor(0.0), y);
}

// The same model as a loop with one site per step.
void scan_level_loop(const tyche::Tensor& y) {
  const tyche::Tensor tau = tyche::sample("tau", dist::HalfNormal(1.0));
  const tyche::Tensor sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  tyche::Tensor prev = 0.0;
  for (std::int64_t t = 0; t < y.size(); ++t) {
    prev = tyche::sample("x_" + std::to_string(t), dist::Normal(prev, tau));
    tyche::sample("obs_" + std::to_string(t), dist::Normal(prev, sigma), y[t]);
  }
}

const tyche::Tensor kScanLevelY{0.3, 0.9, 0.4, 1.5, 1.1, 2.0};

// ARMA(1,1) with y latent inside the step (condition gives it a series):
// nu_t = mu + phi y_{t-1} + theta e_{t-1}, e_t = y_t - nu_t, y_t ~ Normal(nu_t, sigma).
void scan_arma(const tyche::Tensor& y_prev, bool reverse) {
  const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 10.0));
  const tyche::Tensor phi = tyche::sample("phi", dist::Normal(0.0, 2.0));
  const tyche::Tensor theta = tyche::sample("theta", dist::Normal(0.0, 2.0));
  const tyche::Tensor sigma = tyche::sample("sigma", dist::HalfNormal(1.0));
  tyche::scan(
      [&](const tyche::Tensor& err, const tyche::Tensor& y_p) {
        const tyche::Tensor nu = mu + phi * y_p + theta * err;
        const tyche::Tensor y = tyche::sample("y", dist::Normal(nu, sigma));
        return std::pair{y - nu, std::nullopt};
      },
      tyche::Tensor(0.0), y_prev, {.reverse = reverse});
}

// GARCH(1,1): h_{t+1} = a0 + a1 (y_t - mu)^2 + b1 h_t, y_t ~ Normal(mu, sqrt(h_t)), h_0 = 1.
void scan_garch(const tyche::Tensor& y) {
  const tyche::Tensor mu = tyche::sample("mu", dist::Normal(0.0, 10.0));
  const tyche::Tensor a0 = tyche::sample("alpha0", dist::HalfNormal(1.0));
  const tyche::Tensor a1 = tyche::sample("alpha1", dist::Uniform(0.0, 1.0));
  const tyche::Tensor b1 = tyche::sample("beta1", dist::Uniform(0.0, 1.0));
  tyche::scan(
      [&](const tyche::Tensor& h, const tyche::Tensor& y_t) {
        tyche::sample("y", dist::Normal(mu, tyche::sqrt(h)), y_t);
        const tyche::Tensor r = y_t - mu;
        return std::pair{a0 + a1 * r * r + b1 * h, std::nullopt};
      },
      tyche::Tensor(1.0), y);
}

const std::vector<double> kScanSeries{0.4, 1.1, -0.3, 0.8, 1.6, 0.2, -0.9, 0.5, 1.3, 0.7, -0.1, 0.9};

// The first T values of kScanSeries and the same shifted by one (0 first).
std::pair<tyche::Tensor, tyche::Tensor> scan_series(std::size_t T) {
  std::vector<double> y(kScanSeries.begin(), kScanSeries.begin() + std::ptrdiff_t(T)), prev{0.0};
  prev.insert(prev.end(), y.begin(), y.end() - 1);
  return {tyche::Tensor(y), tyche::Tensor(prev)};
}

// The compiled gradient of a potential equals value_and_grad's at u and at a
// second point, and central differences; `in_blocks` of its operations
// replay in scalar blocks (core/scalar_block.hpp).
template <class Potential>
void scan_check_compiled(const Potential& potential, const Eigen::VectorXd& u, std::size_t in_blocks) {
  auto compiled = tyche::compile_gradient(potential, u);
  CHECK(compiled.in_scalar_blocks() == in_blocks);
  Eigen::VectorXd v = u;
  v[0] += 0.2;
  v[v.size() - 1] -= 0.3;
  for (const Eigen::VectorXd& at : {u, v}) {
    Eigen::VectorXd g(at.size()), g_compiled(at.size());
    const double eager = tyche::value_and_grad(potential, at, g);
    CHECK(compiled(at, g_compiled) == Approx(eager).epsilon(1e-14));
    for (Eigen::Index i = 0; i < at.size(); ++i) CHECK(g_compiled[i] == Approx(g[i]).epsilon(1e-13).margin(1e-14));
    for (Eigen::Index i = 0; i < at.size(); ++i) {
      Eigen::VectorXd a = at, b = at;
      a[i] += 1e-6;
      b[i] -= 1e-6;
      const double fd = (potential(tyche::Tensor(a)).item() - potential(tyche::Tensor(b)).item()) / 2e-6;
      CHECK(g_compiled[i] == Approx(fd).epsilon(1e-6).margin(1e-6));
    }
  }
}

}  // namespace

TEST_CASE("scan: the trace has one site per name with a leading time axis", "[scan]") {
  const tyche::Trace tr = tyche::trace(tyche::seed(scan_ar1, 0)).get_trace(std::int64_t(7));
  CHECK(tr.keys() == std::vector<std::string>{"phi", "sigma", "y"});
  const tyche::Message& y = tr["y"];
  CHECK(y.value->shape() == tyche::Shape{7});
  CHECK(y.fn->batch_shape() == tyche::Shape{7});
  CHECK_FALSE(y.is_observed);
  CHECK(std::get<bool>(y.infer.at("_control_flow_done")));  // NumPyro's mark: the leftmost axis is time
  // The stacked site's density is each step's at its own carry.
  const double phi = tr["phi"].value->item(), sigma = tr["sigma"].value->item();
  CHECK(tyche::trace_log_density(tr).item() == Approx(scan_ar1_log_joint(phi, sigma, y.value->to_std_vector())).epsilon(1e-12));
  const tyche::Tensor per_step = y.fn->log_prob(*y.value);
  REQUIRE(per_step.shape() == tyche::Shape{7});
  CHECK(per_step.at({3}) == Approx(scan_normal_lpdf(y.value->at({3}), phi * y.value->at({2}), sigma)).epsilon(1e-12));
  // The same seed gives the same trace; another seed another.
  CHECK(tyche::trace(tyche::seed(scan_ar1, 0)).get_trace(std::int64_t(7))["y"].value->to_std_vector() ==
        y.value->to_std_vector());
  CHECK(tyche::trace(tyche::seed(scan_ar1, 1)).get_trace(std::int64_t(7))["y"].value->at({0}) != y.value->at({0}));
}

TEST_CASE("scan: log density and gradient equal the per-step loop's", "[scan]") {
  const std::int64_t T = kScanLevelY.size();
  Eigen::VectorXd u(2 + T);
  u << 0.8, 0.5, 0.2, 0.7, 0.6, 1.2, 1.3, 1.7;
  const auto scan_fn = [&](const tyche::Tensor& v) {
    return tyche::log_density(scan_level, std::tuple{kScanLevelY},
                              {{"tau", v[0]}, {"sigma", v[1]}, {"x", v.slice(2, 2 + T)}})
        .log_joint;
  };
  const auto loop_fn = [&](const tyche::Tensor& v) {
    tyche::ValueMap values{{"tau", v[0]}, {"sigma", v[1]}};
    for (std::int64_t t = 0; t < T; ++t) values.emplace("x_" + std::to_string(t), v[2 + t]);
    return tyche::log_density(scan_level_loop, std::tuple{kScanLevelY}, values).log_joint;
  };
  Eigen::VectorXd g_scan(2 + T), g_loop(2 + T);
  const double v_scan = tyche::value_and_grad(scan_fn, u, g_scan);
  const double v_loop = tyche::value_and_grad(loop_fn, u, g_loop);
  double by_hand = scan_half_normal_lpdf(u[0], 1.0) + scan_half_normal_lpdf(u[1], 1.0), prev = 0.0;
  for (std::int64_t t = 0; t < T; ++t) {
    by_hand += scan_normal_lpdf(u[2 + t], prev, u[0]) + scan_normal_lpdf(kScanLevelY.at({t}), u[2 + t], u[1]);
    prev = u[2 + t];
  }
  CHECK(v_scan == Approx(by_hand).epsilon(1e-12));
  CHECK(v_scan == Approx(v_loop).epsilon(1e-13));
  for (Eigen::Index i = 0; i < u.size(); ++i) CHECK(g_scan[i] == Approx(g_loop[i]).epsilon(1e-12).margin(1e-14));
}

TEST_CASE("scan: a latent site is one block of the potential, compiled like value_and_grad", "[scan]") {
  const auto potential = tyche::potential_energy(scan_level, kScanLevelY);
  const auto& layout = potential.layout();
  CHECK(layout.names() == "sigma, tau, x");
  CHECK(layout["x"].shape == tyche::Shape{kScanLevelY.size()});
  CHECK(layout.size() == 2 + kScanLevelY.size());
  Eigen::VectorXd u(layout.size());
  u << -0.3, 0.2, 0.1, 0.5, 0.3, 1.0, 1.4, 1.6;
  // U(u) by hand: sigma, tau = exp(u0), exp(u1) with their log-Jacobians.
  const double sigma = std::exp(u[0]), tau = std::exp(u[1]);
  double log_joint = scan_half_normal_lpdf(sigma, 1.0) + scan_half_normal_lpdf(tau, 1.0) + u[0] + u[1], prev = 0.0;
  for (std::int64_t t = 0; t < kScanLevelY.size(); ++t) {
    log_joint += scan_normal_lpdf(u[2 + t], prev, tau) + scan_normal_lpdf(kScanLevelY.at({t}), u[2 + t], sigma);
    prev = u[2 + t];
  }
  Eigen::VectorXd g(layout.size()), g_compiled(layout.size());
  CHECK(tyche::value_and_grad(potential, u, g) == Approx(-log_joint).epsilon(1e-12));
  auto compiled = tyche::compile_gradient(potential, u);
  Eigen::VectorXd v = u;
  v[3] += 0.25;
  v[0] -= 0.1;
  const double eager = tyche::value_and_grad(potential, v, g);
  CHECK(compiled(v, g_compiled) == Approx(eager).epsilon(1e-12));
  for (Eigen::Index i = 0; i < v.size(); ++i) CHECK(g_compiled[i] == Approx(g[i]).epsilon(1e-12).margin(1e-14));
  // Central finite differences of the potential (step 1e-6: error ~1e-9).
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    Eigen::VectorXd a = v, b = v;
    a[i] += 1e-6;
    b[i] -= 1e-6;
    const double fd = (potential(tyche::Tensor(a)).item() - potential(tyche::Tensor(b)).item()) / 2e-6;
    CHECK(g[i] == Approx(fd).epsilon(1e-6).margin(1e-6));
  }
}

TEST_CASE("scan: condition with a (T,) array observes every step", "[scan]") {
  const tyche::Tensor data{0.5, -0.2, 0.3, 1.0};
  const auto conditioned = tyche::condition(scan_ar1, {{"y", data}});
  const tyche::Trace tr = tyche::trace(tyche::seed(conditioned, 1)).get_trace(std::int64_t(4));
  CHECK(tr["y"].is_observed);
  CHECK(tr["y"].value->to_std_vector() == data.to_std_vector());
  const double phi = tr["phi"].value->item(), sigma = tr["sigma"].value->item();
  CHECK(tyche::trace_log_density(tr).item() == Approx(scan_ar1_log_joint(phi, sigma, data.to_std_vector())).epsilon(1e-12));
  // A shorter series conditions the first steps; the rest are drawn (forecasting, as NumPyro).
  const tyche::Trace forecast = tyche::trace(tyche::seed(tyche::condition(scan_ar1, {{"y", tyche::Tensor{0.5, -0.2}}}), 1))
                                    .get_trace(std::int64_t(4));
  const tyche::Tensor y = *forecast["y"].value;
  REQUIRE(y.shape() == tyche::Shape{4});
  CHECK(y.at({0}) == 0.5);
  CHECK(y.at({1}) == -0.2);
  CHECK(std::isfinite(y.at({2})));
  CHECK(y.at({2}) != y.at({3}));
  // A value of another shape is an error naming the site.
  scan_require_throws<tyche::ShapeError>(
      [&] { tyche::trace(tyche::seed(tyche::condition(scan_ar1, {{"y", tyche::Tensor::zeros({4, 2})}}), 1)).get_trace(std::int64_t(4)); },
      {"`y`", "(4, 2)"});
}

TEST_CASE("scan: substitute gives each step its slice and keeps it latent", "[scan]") {
  const tyche::Tensor path{0.1, 0.2, -0.4};
  const tyche::Trace tr =
      tyche::trace(tyche::seed(tyche::substitute(scan_ar1, {{"y", path}, {"phi", 0.5}, {"sigma", 2.0}}), 0))
          .get_trace(std::int64_t(3));
  CHECK_FALSE(tr["y"].is_observed);
  CHECK(tr["y"].value->to_std_vector() == path.to_std_vector());
  CHECK(tyche::trace_log_density(tr).item() == Approx(scan_ar1_log_joint(0.5, 2.0, path.to_std_vector())).epsilon(1e-12));
  // A value of one step's shape goes to every step (as an init strategy's).
  const tyche::Trace same = tyche::trace(tyche::seed(tyche::substitute(scan_ar1, {{"y", 0.7}}), 0)).get_trace(std::int64_t(3));
  CHECK(same["y"].value->to_std_vector() == std::vector<double>{0.7, 0.7, 0.7});
}

TEST_CASE("scan: reverse runs from the last position and keeps positions", "[scan]") {
  const tyche::Tensor xs{1.0, 2.0, 3.0, 4.0};
  const auto cumulative = [&](bool reverse) {
    return [&xs, reverse] {
      return tyche::scan(
          [](const tyche::Tensor& c, const tyche::Tensor& x) {
            tyche::deterministic("d", c + x);
            return std::pair{c + x, c};
          },
          tyche::Tensor(0.0), xs, {.reverse = reverse});
    };
  };
  {
    tyche::trace recorder;
    const auto [last, ys] = cumulative(false)();
    CHECK(last.item() == 10.0);
    CHECK(ys.to_std_vector() == std::vector<double>{0, 1, 3, 6});
    CHECK(recorder["d"].value->to_std_vector() == std::vector<double>{1, 3, 6, 10});
  }
  {
    tyche::trace recorder;
    const auto [last, ys] = cumulative(true)();  // as jax.lax.scan(reverse=True)
    CHECK(last.item() == 10.0);
    CHECK(ys.to_std_vector() == std::vector<double>{9, 7, 4, 0});
    CHECK(recorder["d"].value->to_std_vector() == std::vector<double>{10, 9, 7, 4});
  }
  // A random walk in reverse: position t follows position t+1; the trace's
  // values substituted back reproduce it.
  const auto walk = [] {
    tyche::scan(
        [](const tyche::Tensor& prev, std::nullopt_t) {
          tyche::Tensor z = tyche::sample("z", dist::Normal(prev, 1.0));
          return std::pair{z, std::nullopt};
        },
        tyche::Tensor(0.0), std::nullopt, {.length = 5, .reverse = true});
  };
  const tyche::Trace tr = tyche::trace(tyche::seed(walk, 3)).get_trace();
  const std::vector<double> z = tr["z"].value->to_std_vector();
  double by_hand = 0.0;
  for (std::size_t t = 0; t < 5; ++t) by_hand += scan_normal_lpdf(z[t], t + 1 < 5 ? z[t + 1] : 0.0, 1.0);
  CHECK(tyche::trace_log_density(tr).item() == Approx(by_hand).epsilon(1e-12));
  const tyche::Trace again = tyche::trace(tyche::substitute(walk, {{"z", *tr["z"].value}})).get_trace();
  CHECK(again["z"].value->to_std_vector() == z);
  CHECK(tyche::trace_log_density(again).item() == Approx(by_hand).epsilon(1e-14));
}

TEST_CASE("scan: history only matters to enumeration, which tyche does not do", "[scan]") {
  const auto with_history = [](int history) {
    return [history] {
      tyche::scan(
          [](const tyche::Tensor& prev, std::nullopt_t) {
            tyche::Tensor z = tyche::sample("z", dist::Normal(0.5 * prev, 1.0));
            return std::pair{z, z};
          },
          tyche::Tensor(0.0), std::nullopt, {.length = 4, .history = history});
    };
  };
  const std::vector<double> one = tyche::trace(tyche::seed(with_history(1), 2)).get_trace()["z"].value->to_std_vector();
  CHECK(tyche::trace(tyche::seed(with_history(0), 2)).get_trace()["z"].value->to_std_vector() == one);
  CHECK(tyche::trace(tyche::seed(with_history(3), 2)).get_trace()["z"].value->to_std_vector() == one);
  scan_require_throws<std::invalid_argument>([&] { tyche::seed(with_history(-1), 2)(); }, {"history"});
}

TEST_CASE("scan: plates go inside f, the time axis leads the plate's", "[scan]") {
  const tyche::Tensor data{{0.1, 0.2, 0.3}, {0.4, -0.5, 0.6}};
  const auto panel = [](std::optional<tyche::Tensor> y) {
    const tyche::Tensor phi = tyche::sample("phi", dist::Normal(0.0, 1.0));
    tyche::scan(
        [&](const tyche::Tensor& prev, std::nullopt_t) {
          tyche::plate series("series", 3);
          tyche::Tensor v = tyche::sample("v", dist::Normal(phi * prev, 1.0));
          return std::pair{v, std::nullopt};
        },
        tyche::Tensor::zeros({3}), std::nullopt, {.length = 2});
    (void)y;
  };
  const tyche::Trace tr =
      tyche::trace(tyche::seed(tyche::condition(panel, {{"v", data}}), 0)).get_trace(std::nullopt);
  const tyche::Message& v = tr["v"];
  CHECK(v.value->shape() == tyche::Shape{2, 3});
  REQUIRE(v.cond_indep_stack.size() == 1);
  CHECK(v.cond_indep_stack[0].name == "series");
  CHECK(v.cond_indep_stack[0].dim == -1);
  const double phi = tr["phi"].value->item();
  double by_hand = scan_normal_lpdf(phi, 0.0, 1.0);
  for (std::int64_t i = 0; i < 3; ++i)
    by_hand += scan_normal_lpdf(data.at({0, i}), 0.0, 1.0) + scan_normal_lpdf(data.at({1, i}), phi * data.at({0, i}), 1.0);
  CHECK(tyche::trace_log_density(tr).item() == Approx(by_hand).epsilon(1e-12));
  const tyche::Tensor per_element = v.fn->log_prob(*v.value);  // each step's expanded Normal at its position
  REQUIRE(per_element.shape() == tyche::Shape{2, 3});
  CHECK(per_element.at({1, 2}) == Approx(scan_normal_lpdf(data.at({1, 2}), phi * data.at({0, 2}), 1.0)).epsilon(1e-12));
  // A scan inside a plate cannot align its time axis.
  const auto outside = [] {
    tyche::plate series("series", 3);
    tyche::scan([](const tyche::Tensor& c, std::nullopt_t) { return std::pair{c, c}; }, tyche::Tensor(0.0),
                std::nullopt, {.length = 2});
  };
  scan_require_throws<std::invalid_argument>([&] { tyche::seed(outside, 0)(); }, {"plate `series`", "inside"});
}

TEST_CASE("scan: mask outside the scan masks the stacked site", "[scan]") {
  const tyche::Trace tr = tyche::trace(tyche::seed(tyche::mask(scan_ar1, false), 0)).get_trace(std::int64_t(3));
  CHECK(tr["y"].fn->name() == "MaskedDistribution");
  CHECK(tr["y"].value->shape() == tyche::Shape{3});
  CHECK(tyche::trace_log_density(tr).item() == 0.0);
}

TEST_CASE("scan: every step must run the same sites, once each", "[scan]") {
  const auto uneven = [] {
    int step = 0;
    tyche::scan(
        [&](const tyche::Tensor& c, std::nullopt_t) {
          if (step++ == 0) tyche::sample("first", dist::Normal(0.0, 1.0));
          return std::pair{c, std::nullopt};
        },
        tyche::Tensor(0.0), std::nullopt, {.length = 3});
  };
  scan_require_throws<std::invalid_argument>([&] { tyche::seed(uneven, 0)(); }, {"`first`", "1 of the 3 steps"});
  const auto twice = [] {
    tyche::scan(
        [&](const tyche::Tensor& c, std::nullopt_t) {
          tyche::sample("a", dist::Normal(0.0, 1.0));
          tyche::sample("a", dist::Normal(0.0, 1.0));
          return std::pair{c, std::nullopt};
        },
        tyche::Tensor(0.0), std::nullopt, {.length = 2});
  };
  scan_require_throws<std::invalid_argument>([&] { tyche::seed(twice, 0)(); }, {"`a`", "one step"});
  scan_require_throws<std::invalid_argument>(
      [] { tyche::scan([](const tyche::Tensor& c, std::nullopt_t) { return std::pair{c, c}; }, tyche::Tensor(0.0), std::nullopt); },
      {"length"});
  scan_require_throws<tyche::ShapeError>(
      [] {
        tyche::scan([](const tyche::Tensor& c, const tyche::Tensor& x) { return std::pair{c, x}; }, tyche::Tensor(0.0),
                    tyche::Tensor{1.0, 2.0}, {.length = 3});
      },
      {"length is 3"});
}

TEST_CASE("scan: outside any handler, observed steps run and latent ones ask for a seed", "[scan]") {
  const auto [last, ys] = tyche::scan(
      [](const tyche::Tensor& c, const tyche::Tensor& x) {
        tyche::sample("obs", dist::Normal(c, 1.0), x);
        return std::pair{c + x, tyche::deterministic("total", c + x)};
      },
      tyche::Tensor(0.0), tyche::Tensor{1.0, 2.0});
  CHECK(last.item() == 3.0);
  CHECK(ys.to_std_vector() == std::vector<double>{1, 3});
  CHECK(tyche::detail::handler_stack().empty());
  scan_require_throws<std::runtime_error>(
      [] { tyche::scan([](const tyche::Tensor& c, std::nullopt_t) { return std::pair{c, tyche::sample("z", dist::Normal(c, 1.0))}; },
                       tyche::Tensor(0.0), std::nullopt, {.length = 2}); },
      {"`z`", "tyche::seed"});
  CHECK(tyche::detail::handler_stack().empty());
}

TEST_CASE("scan: Predictive draws whole series per draw", "[scan]") {
  const auto prior = tyche::Predictive(scan_ar1, {.num_samples = 6})(/*seed=*/2, std::int64_t(5));
  CHECK(prior.at("y").shape() == tyche::Shape{6, 5});
  CHECK(prior.at("phi").shape() == tyche::Shape{6});
  // With posterior draws of phi and sigma, y is redrawn from each: with
  // sigma tiny and phi = 0 each series is ~0; tuple ys stack per element.
  const tyche::ValueMap samples{{"phi", tyche::Tensor{0.0, 0.0}}, {"sigma", tyche::Tensor{1e-9, 1e-9}}};
  const auto posterior = tyche::Predictive(scan_ar1, samples)(/*seed=*/3, std::int64_t(4));
  CHECK(posterior.at("y").shape() == tyche::Shape{2, 4});
  CHECK(tyche::max(tyche::abs(posterior.at("y"))).item() < 1e-7);
  const auto [last, ys] = tyche::scan(
      [](const tyche::Tensor& c, const tyche::Tensor& x) { return std::pair{c + 1.0, std::tuple{c, x * 2.0}}; },
      tyche::Tensor(0.0), tyche::Tensor{1.0, 2.0, 3.0});
  CHECK(last.item() == 3.0);
  CHECK(std::get<0>(ys).to_std_vector() == std::vector<double>{0, 1, 2});
  CHECK(std::get<1>(ys).to_std_vector() == std::vector<double>{2, 4, 6});
  // A tuple carry: (count, running product) over xs.
  using Pair = std::tuple<tyche::Tensor, tyche::Tensor>;
  const auto [counted, products] = tyche::scan(
      [](const Pair& c, const tyche::Tensor& x) {
        const tyche::Tensor product = std::get<1>(c) * x;
        return std::pair{Pair{std::get<0>(c) + 1.0, product}, product};
      },
      Pair{0.0, 1.0}, tyche::Tensor{2.0, 3.0, 4.0});
  CHECK(std::get<0>(counted).item() == 3.0);
  CHECK(std::get<1>(counted).item() == 24.0);
  CHECK(products.to_std_vector() == std::vector<double>{2, 6, 24});
}

TEST_CASE("scan: NUTS recovers the exact posterior of an AR(1) coefficient", "[scan][statistical]") {
  // y_t ~ Normal(phi y_{t-1}, 1), phi ~ Normal(0, 1): the posterior of phi
  // is normal with precision 1 + sum y_{t-1}^2 and mean sum y_t y_{t-1} / precision.
  const auto ar1 = [](std::int64_t T) {
    const tyche::Tensor phi = tyche::sample("phi", dist::Normal(0.0, 1.0));
    tyche::scan(
        [&](const tyche::Tensor& prev, std::nullopt_t) {
          tyche::Tensor y = tyche::sample("y", dist::Normal(phi * prev, 1.0));
          return std::pair{y, std::nullopt};
        },
        tyche::Tensor(0.0), std::nullopt, {.length = T});
  };
  const std::int64_t T = 40;
  const tyche::Tensor y = *tyche::trace(tyche::seed(tyche::condition(ar1, {{"phi", 0.6}}), 11)).get_trace(T)["y"].value;
  double precision = 1.0, cross = 0.0, prev = 0.0;
  for (double v : y.to_std_vector()) {
    precision += prev * prev;
    cross += v * prev;
    prev = v;
  }
  const double mean = cross / precision, sd = 1.0 / std::sqrt(precision);
  tyche::MCMC mcmc(tyche::NUTS(tyche::condition(ar1, {{"y", y}})),
                   {.num_warmup = 300, .num_samples = 600, .progress_bar = false});
  mcmc.run(5, T);
  const tyche::Tensor draws = mcmc.get_samples(/*group_by_chain=*/true).at("phi");
  const std::vector<double> x = draws.to_std_vector();
  double m = 0.0, s = 0.0;
  for (double v : x) m += v;
  m /= double(x.size());
  for (double v : x) s += (v - m) * (v - m);
  s = std::sqrt(s / double(x.size()));
  const double n_eff = tyche::effective_sample_size(draws).item();
  // Within 4 Monte Carlo standard errors (sd / sqrt(n_eff)) for the mean, 4 sd / sqrt(2 n_eff) for the sd.
  INFO("draws: mean " << m << " sd " << s << " n_eff " << n_eff << "; exact mean " << mean << " sd " << sd);
  REQUIRE(n_eff > 100);
  CHECK(std::abs(m - mean) < 4 * sd / std::sqrt(n_eff));
  CHECK(std::abs(s - sd) < 4 * sd / std::sqrt(2 * n_eff));
}

TEST_CASE("scan: compiled ARMA gradient with a conditioned series equals value_and_grad and differences", "[scan]") {
  Eigen::VectorXd u(4);  // mu, phi, log sigma, theta
  u << 0.4, 0.5, std::log(0.9), 0.2;
  for (const std::size_t T : {std::size_t(1), std::size_t(2), kScanSeries.size()}) {
    for (const bool reverse : {false, true}) {
      INFO("T = " << T << ", reverse " << reverse);
      const auto [y, y_prev] = scan_series(T);
      const auto potential = tyche::potential_energy(tyche::condition(scan_arma, {{"y", y}}), y_prev, reverse);
      REQUIRE(potential.layout().names() == "mu, phi, sigma, theta");
      // Each step's two fmas (nu), subtract (e_t, but the last step's, which
      // nothing reads) and move (stacking nu for the density; one step's nu is used as it is).
      scan_check_compiled(potential, u, T == 1 ? 2 : 4 * T - 1);
    }
  }
}

TEST_CASE("scan: compiled GARCH gradient equals value_and_grad and differences", "[scan]") {
  Eigen::VectorXd u(4);  // log alpha0, logit alpha1, logit beta1, mu
  u << std::log(0.25), -0.5, 0.3, 0.05;
  for (const std::size_t T : {std::size_t(1), std::size_t(2), kScanSeries.size()}) {
    INFO("T = " << T);
    const auto potential = tyche::potential_energy(scan_garch, scan_series(T).first);
    REQUIRE(potential.layout().names() == "alpha0, alpha1, beta1, mu");
    // Each step's sqrt, move (stacking the scales), subtract, multiply and two
    // fmas, but the last step's update of h, which nothing reads; eight in the priors' transforms.
    scan_check_compiled(potential, u, 6 * (T - 1) + 2 + 8);
  }
}
