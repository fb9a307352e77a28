// WAIC and PSIS-LOO: a model's expected log pointwise predictive density
// (elpd) estimated from its pointwise log-likelihood, with ArviZ's
// conventions (arviz.waic, arviz.loo, arviz.psislw; Vehtari, Gelman and Gabry
// 2017, "Practical Bayesian model evaluation using leave-one-out
// cross-validation and WAIC"; Vehtari et al. 2024, "Pareto smoothed
// importance sampling").
//
//   tyche::ValueMap loglik = tyche::log_likelihood(model, mcmc.get_samples(), x, y);  // "obs": (4000, N)
//   tyche::LooResult loo = tyche::loo(loglik, {.var_name = "obs", .num_chains = 4});
//   tyche::WaicResult waic = tyche::waic(loglik);
//   std::cout << loo << "\n";          // ArviZ's printout, with the Pareto k table
//   double k_hat_of_point_3 = loo.pareto_k.data()[3];
//
// The log-likelihood of a site is (draws, ...): each element after the draw
// axis is a data point (n_data_points is their count). Draws are chain-major,
// as mcmc.get_samples() concatenates the chains: with num_chains C the first
// S / C draws are chain 0's, and so on. A map holding several sites needs
// var_name, as in ArviZ.
//
// WAIC, per point i over the S draws:
//   lppd_i = log(1/S sum_s exp(loglik_s,i)),  p_i = Var_s(loglik_s,i)  (ddof 0),
//   elpd_i = lppd_i - p_i,  elpd_waic = sum elpd_i,  p_waic = sum p_i,
//   se = sqrt(n Var_i(elpd_i)) (ddof 0, as ArviZ; R's loo uses ddof 1).
// The warning flag is set, and a warning printed, when any p_i > 0.4.
//
// PSIS-LOO, per point: the importance ratios 1 / p(y_i | theta_s), whose
// largest M = ceil(min(S / 5, 3 sqrt(S / r_eff))) are replaced by the
// expected order statistics of a generalised Pareto distribution fitted to
// them (Zhang and Stephens' estimate, its k shrunk towards 0.5 as ArviZ's),
// then truncated at the largest raw ratio and normalised (psislw below).
//   elpd_i = log sum_s w_s,i p(y_i | theta_s),  p_i = lppd_i - elpd_i,
//   elpd_loo = sum elpd_i, p_loo = sum p_i, se as for WAIC.
// pareto_k holds each point's k-hat; the warning flag is set, and a warning
// printed, when one exceeds good_k = min(1 - 1 / log10(S), 0.7), ArviZ's
// sample-size-dependent threshold (0.7 from S = 2154 on).
//
// r_eff, the relative efficiency ESS / S of each point's draws, sets the tail
// length. By default it is, per point, the effective sample size of
// exp(loglik) over the chains (tyche::effective_sample_size, NumPyro's
// estimator without splitting chains) over S: R's loo::relative_eff. ArviZ
// instead takes one r_eff for all points, the mean over the posterior's
// variables of their ESS, which needs the posterior; give that, or any value,
// as `.reff`. With one chain r_eff is 1, as ArviZ's (the order of the draws
// is not assumed to be a Markov chain's).
//
// Where tyche differs from ArviZ: the log-likelihood must be finite (ArviZ
// lets NaN through into NaN results); a GPD fit that fails (a tail whose
// weights round to the threshold's, a NaN or non-positive scale) gives k-hat
// = +inf and leaves the weights unsmoothed, where ArviZ returns a NaN k-hat,
// which no threshold flags, or NaN weights; only
// the log scale is computed (arviz-stats dropped "deviance" and
// "negative_log"); pointwise values are always returned (ArviZ's default
// stats.ic_pointwise is True).
//
// The functions are templates (over a non-deduced parameter, the idiom of
// core/tensor.hpp, or constrained to one argument type where overloads
// differ only in it), so that including tyche compiles none of them.
#pragma once

#include "tyche/core/tensor.hpp"
#include "tyche/infer/diagnostics.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tyche {

struct WaicOptions {
  // The site whose log-likelihood to use; needed when the map holds several.
  std::optional<std::string> var_name = std::nullopt;
};

struct LooOptions {
  std::optional<std::string> var_name = std::nullopt;
  // How many chains the draws come from, chain-major; they set r_eff.
  std::int64_t num_chains = 1;
  // ArviZ's reff: one relative efficiency for every point instead of each
  // point's own.
  std::optional<double> reff = std::nullopt;
};

// ArviZ's ELPDData of az.waic. The pointwise arrays have the site's shape
// (the log-likelihood's without the draw axis).
struct WaicResult {
  double elpd_waic = 0.0, se = 0.0, p_waic = 0.0;
  std::int64_t n_samples = 0, n_data_points = 0;
  std::string scale = "log";  // ArviZ's field; the log scale is the only one computed
  bool warning = false;       // some point's p_i exceeds 0.4
  Tensor elpd_i, p_i;
};

// ArviZ's ELPDData of az.loo, with each point's k-hat and the r_eff used.
struct LooResult {
  double elpd_loo = 0.0, se = 0.0, p_loo = 0.0;
  std::int64_t n_samples = 0, n_data_points = 0;
  std::string scale = "log";
  bool warning = false;  // some point's k-hat exceeds good_k
  double good_k = 0.7;   // min(1 - 1 / log10(n_samples), 0.7)
  Tensor elpd_i, p_i, pareto_k, r_eff;
};

// Smoothed log weights and each point's k-hat (arviz.psislw).
struct PsisResult {
  Tensor log_weights;  // the log ratios' shape, normalised per point
  Tensor pareto_k;     // one per point
};

// Zhang and Stephens' estimate of a generalised Pareto distribution's shape k
// and scale sigma, with k then shrunk as ArviZ's _gpdfit does:
// (n k + 10 * 0.5) / (n + 10). k = +inf when the fit fails.
struct GeneralizedParetoFit {
  double k = 0.0, sigma = 0.0;
};

namespace detail {

// log sum_i exp(x_i), shifted by the largest term.
template <class = void>
double log_sum_exp(const std::vector<double>& x) {
  const double largest = *std::max_element(x.begin(), x.end());
  if (std::isinf(largest)) return largest;
  double sum = 0.0;
  for (double v : x) sum += std::exp(v - largest);
  return largest + std::log(sum);
}

inline double mean_of(const std::vector<double>& x) {
  return std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
}

// np.var: the variance with ddof 0.
inline double population_variance(const std::vector<double>& x) {
  const double mean = mean_of(x);
  double sum_squares = 0.0;
  for (double v : x) sum_squares += (v - mean) * (v - mean);
  return sum_squares / double(x.size());
}

// A data point's position in the site's shape, "[1,2]" ("" for a scalar site).
inline std::string point_label(const Shape& site_shape, std::int64_t point) {
  if (site_shape.rank() == 0) return "";
  std::string label = "[";
  std::int64_t rest = point, stride = site_shape.numel();
  for (int a = 0; a < site_shape.rank(); ++a) {
    stride /= site_shape[a];
    label += (a ? "," : "") + std::to_string(rest / stride);
    rest %= stride;
  }
  return label + "]";
}

// A checked log-likelihood: S draws of n points, point j of draw s at s n + j.
struct PointwiseLogLikelihood {
  const double* values;
  std::int64_t draws, points;
  Shape site_shape;

  std::vector<double> point(std::int64_t j) const {
    std::vector<double> column(static_cast<std::size_t>(draws));
    for (std::int64_t s = 0; s < draws; ++s) column[std::size_t(s)] = values[s * points + j];
    return column;
  }
};

template <class = void>
PointwiseLogLikelihood check_log_likelihood(const Tensor& loglik, const std::string& what, const char* op) {
  if (loglik.ndim() < 1)
    throw ShapeError(std::string("tyche: ") + op + ": " + what +
                     " should have shape (draws, ...), one row per posterior draw, got shape " +
                     loglik.shape().str());
  const Shape site_shape = loglik.shape().drop_front(1);
  const PointwiseLogLikelihood ll{loglik.data(), loglik.dim(0), site_shape.numel(), site_shape};
  if (ll.draws < 2)
    throw std::invalid_argument(std::string("tyche: ") + op + ": " + what + " has " + std::to_string(ll.draws) +
                                " draw(s) (shape " + loglik.shape().str() + "); at least 2 are needed");
  if (ll.points == 0)
    throw std::invalid_argument(std::string("tyche: ") + op + ": " + what + " has no data points (shape " +
                                loglik.shape().str() + ")");
  for (std::int64_t s = 0; s < ll.draws; ++s)
    for (std::int64_t j = 0; j < ll.points; ++j)
      if (!std::isfinite(ll.values[s * ll.points + j]))
        throw std::invalid_argument(std::string("tyche: ") + op + ": " + what + " is " +
                                    std::to_string(ll.values[s * ll.points + j]) + " at draw " + std::to_string(s) +
                                    (site_shape.rank() ? ", point " + point_label(site_shape, j) : std::string()) +
                                    "; the log-likelihood must be finite");
  return ll;
}

// The site ArviZ would take: var_name, or the only one.
template <class T = std::map<std::string, Tensor, std::less<>>>
const Tensor& select_site(const std::type_identity_t<T>& loglik, const std::optional<std::string>& var_name,
                          std::string& what, const char* op) {
  std::string names;
  for (const auto& [name, value] : loglik) names += (names.empty() ? "`" : ", `") + name + "`";
  if (var_name) {
    const auto it = loglik.find(*var_name);
    if (it == loglik.end())
      throw std::invalid_argument(std::string("tyche: ") + op + ": no log-likelihood named `" + *var_name +
                                  "`; the map holds " + (names.empty() ? std::string("none") : names));
    what = "the log-likelihood of `" + *var_name + "`";
    return it->second;
  }
  if (loglik.empty()) throw std::invalid_argument(std::string("tyche: ") + op + ": the log-likelihood map is empty");
  if (loglik.size() > 1)
    throw std::invalid_argument(std::string("tyche: ") + op + ": the log-likelihood map holds several sites (" +
                                names + "); say which with .var_name");
  what = "the log-likelihood of `" + loglik.begin()->first + "`";
  return loglik.begin()->second;
}

// Python's "{:8.2f}": printf's, except that a NaN prints as "nan".
inline std::string fixed(double value, int width, int decimals) {
  char text[64];
  if (std::isnan(value))
    std::snprintf(text, sizeof text, "%*s", width, "nan");
  else
    std::snprintf(text, sizeof text, "%*.*f", width, decimals, value);
  return text;
}

// ArviZ's BASE_FMT: the sample counts, then the Estimate / SE table.
inline std::string elpd_table(const std::string& kind, double elpd, double se, double p, std::int64_t n_samples,
                              std::int64_t n_data_points, bool warning) {
  const std::size_t padding = 4 + kind.size() + 1;  // the width of "elpd_" + kind
  std::string text = "Computed from " + std::to_string(n_samples) + " posterior samples and " +
                     std::to_string(n_data_points) + " observations log-likelihood matrix.\n\n";
  text += std::string(padding, ' ') + " Estimate       SE\n";
  text += "elpd_" + kind + " " + fixed(elpd, 8, 2) + "  " + fixed(se, 7, 2) + "\n";
  text += "p_" + kind + std::string(padding - 2 - kind.size(), ' ') + " " + fixed(p, 8, 2) + "        -";
  if (warning) text += "\n\nThere has been a warning during the calculation. Please check the results.";
  return text;
}


// fit_generalized_pareto without its checks: PSIS calls it on exceedances
// that may round to 0 (a value just above the threshold), which ArviZ fits
// as they are.
template <class = void>
GeneralizedParetoFit zhang_stephens_fit(const std::vector<double>& exceedances) {
  const std::int64_t n = std::int64_t(exceedances.size());
  constexpr double prior_b_scale = 3.0, prior_k_weight = 10.0, prior_k = 0.5;
  const std::int64_t m = 30 + std::int64_t(std::sqrt(double(n)));
  const double first_quartile = exceedances[std::size_t(std::int64_t(double(n) / 4.0 + 0.5) - 1)];
  const double largest = exceedances.back();
  std::vector<double> b(static_cast<std::size_t>(m)), log_likelihood(static_cast<std::size_t>(m));
  const auto mean_log1p = [&](double b_value) {
    double sum = 0.0;
    for (double x : exceedances) sum += std::log1p(-b_value * x);
    return sum / double(n);
  };
  for (std::int64_t j = 0; j < m; ++j) {
    b[std::size_t(j)] =
        (1.0 - std::sqrt(double(m) / (double(j + 1) - 0.5))) / (prior_b_scale * first_quartile) + 1.0 / largest;
    const double k = mean_log1p(b[std::size_t(j)]);
    log_likelihood[std::size_t(j)] = double(n) * (std::log(-(b[std::size_t(j)] / k)) - k - 1.0);
  }
  // Weights 1 / sum_l exp(L_l - L_j), those under 10 eps (or NaN) dropped.
  std::vector<double> kept_b, weights;
  for (std::int64_t j = 0; j < m; ++j) {
    double sum = 0.0;
    for (double l : log_likelihood) sum += std::exp(l - log_likelihood[std::size_t(j)]);
    const double weight = 1.0 / sum;
    if (weight >= 10.0 * std::numeric_limits<double>::epsilon()) {
      kept_b.push_back(b[std::size_t(j)]);
      weights.push_back(weight);
    }
  }
  const double total_weight = std::accumulate(weights.begin(), weights.end(), 0.0);
  double b_posterior = 0.0;
  for (std::size_t j = 0; j < weights.size(); ++j) b_posterior += kept_b[j] * weights[j] / total_weight;
  const double k = mean_log1p(b_posterior);
  const double sigma = -k / b_posterior;
  const double shrunk_k = (double(n) * k + prior_k_weight * prior_k) / (double(n) + prior_k_weight);
  if (!std::isfinite(shrunk_k) || !(sigma > 0.0))
    return {std::numeric_limits<double>::infinity(), sigma};
  return {shrunk_k, sigma};
}

}  // namespace detail

// The generalised Pareto fit of Zhang and Stephens (2009) as ArviZ's _gpdfit:
// a grid of m = 30 + floor(sqrt(n)) values of b = -k / sigma, weighted by
// their profile likelihood, b's posterior mean, then k = mean log(1 - b x),
// sigma = -k / b and the shrinkage of k towards 0.5. `exceedances` are the
// tail's excesses over the threshold: positive, sorted ascending, at least 5.
template <class T = std::vector<double>>
GeneralizedParetoFit fit_generalized_pareto(const std::type_identity_t<T>& exceedances) {
  const std::int64_t n = std::int64_t(exceedances.size());
  if (n < 5)
    throw std::invalid_argument("tyche: fit_generalized_pareto: needs at least 5 exceedances, got " +
                                std::to_string(n));
  for (std::int64_t i = 0; i < n; ++i)
    if (!(exceedances[std::size_t(i)] > 0.0) || (i && exceedances[std::size_t(i)] < exceedances[std::size_t(i - 1)]))
      throw std::invalid_argument("tyche: fit_generalized_pareto: exceedances must be positive and sorted "
                                  "ascending; element " +
                                  std::to_string(i) + " is " + std::to_string(exceedances[std::size_t(i)]));
  return detail::zhang_stephens_fit(exceedances);
}

// The generalised Pareto quantile at p in (0, 1), as ArviZ's _gpinv:
// sigma ((1 - p)^-k - 1) / k, or -sigma log(1 - p) when |k| < eps.
template <class T = double>
double generalized_pareto_quantile(std::type_identity_t<T> p, double k, double sigma) {
  if (std::abs(k) < std::numeric_limits<double>::epsilon()) return -sigma * std::log1p(-p);
  return sigma * std::expm1(-k * std::log1p(-p)) / k;
}

namespace detail {

// ArviZ's _psislw on one point's log ratios, in place: shifted by their
// largest, the values above the (M+1)-th largest (and above log of the
// smallest normal double) form the tail; a tail of more than 4 is replaced by
// the GPD's quantiles at (i - 0.5) / tail length, capped at 0 (the largest
// raw ratio); then normalised. Returns k-hat (+inf when the tail is 4 or
// fewer values or the fit fails; no smoothing then).
template <class = void>
double pareto_smooth(std::vector<double>& x, double r_eff) {
  const std::int64_t n = std::int64_t(x.size());
  const double largest = *std::max_element(x.begin(), x.end());
  for (double& v : x) v -= largest;
  const auto tail_length = std::int64_t(std::ceil(std::min(double(n) / 5.0, 3.0 * std::sqrt(double(n) / r_eff))));
  // The (M+1)-th largest by selection: only the tail needs sorting.
  std::vector<double> ranked(x);
  const auto cutoff_rank = ranked.begin() + std::max<std::int64_t>(n - tail_length - 1, 0);
  std::nth_element(ranked.begin(), cutoff_rank, ranked.end());
  const double cutoff = std::max(*cutoff_rank, std::log(std::numeric_limits<double>::min()));
  std::vector<std::int64_t> tail;
  for (std::int64_t s = 0; s < n; ++s)
    if (x[std::size_t(s)] > cutoff) tail.push_back(s);
  double k = std::numeric_limits<double>::infinity();
  if (tail.size() > 4) {
    std::stable_sort(tail.begin(), tail.end(),
                     [&](std::int64_t a, std::int64_t b) { return x[std::size_t(a)] < x[std::size_t(b)]; });
    const double exp_cutoff = std::exp(cutoff);
    std::vector<double> exceedances;
    for (std::int64_t s : tail) exceedances.push_back(std::exp(x[std::size_t(s)]) - exp_cutoff);
    const GeneralizedParetoFit fit = zhang_stephens_fit(exceedances);
    k = fit.k;
    if (std::isfinite(k)) {
      const double m = double(tail.size());
      for (std::size_t i = 0; i < tail.size(); ++i) {
        const double smoothed =
            std::log(generalized_pareto_quantile((double(i) + 0.5) / m, fit.k, fit.sigma) + exp_cutoff);
        x[std::size_t(tail[i])] = std::min(smoothed, 0.0);
      }
    }
  }
  const double normaliser = log_sum_exp(x);
  for (double& v : x) v -= normaliser;
  return k;
}

// Each point's r_eff: ESS / S of exp(loglik) over the chains (see the top).
template <class = void>
std::vector<double> relative_efficiencies(const PointwiseLogLikelihood& ll, const LooOptions& options,
                                          const std::string& what) {
  if (options.reff) {
    if (!(*options.reff > 0.0) || !std::isfinite(*options.reff))
      throw std::invalid_argument("tyche: loo: reff must be a positive number, got " + std::to_string(*options.reff));
    return std::vector<double>(std::size_t(ll.points), *options.reff);
  }
  if (options.num_chains < 1 || ll.draws % options.num_chains != 0)
    throw std::invalid_argument("tyche: loo: num_chains is " + std::to_string(options.num_chains) + " but " + what +
                                " has " + std::to_string(ll.draws) + " draws, which is not a whole number per chain");
  const std::int64_t per_chain = ll.draws / options.num_chains;
  if (options.num_chains == 1) return std::vector<double>(std::size_t(ll.points), 1.0);
  if (per_chain < 2)
    throw std::invalid_argument("tyche: loo: " + what + " has " + std::to_string(per_chain) +
                                " draw(s) per chain over " + std::to_string(options.num_chains) +
                                " chains; r_eff needs at least 2 per chain (or give .reff)");
  // exp(loglik - its largest value per point): the ESS does not depend on the
  // scale, and this cannot overflow.
  std::vector<double> likelihood(static_cast<std::size_t>(ll.draws * ll.points));
  for (std::int64_t j = 0; j < ll.points; ++j) {
    const std::vector<double> column = ll.point(j);
    const double largest = *std::max_element(column.begin(), column.end());
    for (std::int64_t s = 0; s < ll.draws; ++s)
      likelihood[std::size_t(s * ll.points + j)] = std::exp(column[std::size_t(s)] - largest);
  }
  const Tensor ess =
      effective_sample_size(Tensor(likelihood, Shape{options.num_chains, per_chain, ll.points}));
  std::vector<double> r_eff(static_cast<std::size_t>(ll.points));
  for (std::int64_t j = 0; j < ll.points; ++j) {
    const double n_eff = ess.data()[j];
    // Draws that do not vary give no ESS (NaN): nothing to correct for.
    r_eff[std::size_t(j)] = std::isfinite(n_eff) && n_eff > 0.0 ? n_eff / double(ll.draws) : 1.0;
  }
  return r_eff;
}

}  // namespace detail

// Pareto-smoothed log importance weights (arviz.psislw) of log ratios of
// shape (draws, ...): each point's column smoothed, truncated and normalised
// (see the top), with the tail length from r_eff. For leave-one-out the log
// ratios are -loglik.
template <class T = Tensor>
PsisResult psislw(const std::type_identity_t<T>& log_ratios, double r_eff = 1.0) {
  const detail::PointwiseLogLikelihood ratios = detail::check_log_likelihood(log_ratios, "the log ratios", "psislw");
  if (!(r_eff > 0.0) || !std::isfinite(r_eff))
    throw std::invalid_argument("tyche: psislw: r_eff must be a positive number, got " + std::to_string(r_eff));
  std::vector<double> weights(static_cast<std::size_t>(log_ratios.size()));
  std::vector<double> k(static_cast<std::size_t>(ratios.points));
  for (std::int64_t j = 0; j < ratios.points; ++j) {
    std::vector<double> column = ratios.point(j);
    k[std::size_t(j)] = detail::pareto_smooth(column, r_eff);
    for (std::int64_t s = 0; s < ratios.draws; ++s) weights[std::size_t(s * ratios.points + j)] = column[std::size_t(s)];
  }
  return {Tensor(weights, log_ratios.shape()), Tensor(k, ratios.site_shape)};
}

namespace detail {

// WAIC of a log-likelihood of shape (draws, ...); `what` names it in errors.
template <class = void>
WaicResult waic_of(const Tensor& log_likelihood, const std::string& what) {
  const PointwiseLogLikelihood ll = check_log_likelihood(log_likelihood, what, "waic");
  std::vector<double> elpd(static_cast<std::size_t>(ll.points)), p(static_cast<std::size_t>(ll.points));
  for (std::int64_t j = 0; j < ll.points; ++j) {
    const std::vector<double> column = ll.point(j);
    p[std::size_t(j)] = population_variance(column);
    elpd[std::size_t(j)] = log_sum_exp(column) - std::log(double(ll.draws)) - p[std::size_t(j)];
  }
  WaicResult result;
  result.elpd_waic = std::accumulate(elpd.begin(), elpd.end(), 0.0);
  result.se = std::sqrt(double(ll.points) * population_variance(elpd));
  result.p_waic = std::accumulate(p.begin(), p.end(), 0.0);
  result.n_samples = ll.draws;
  result.n_data_points = ll.points;
  result.warning = std::any_of(p.begin(), p.end(), [](double v) { return v > 0.4; });
  if (result.warning)
    std::cerr << "tyche: warning: waic: for one or more samples the posterior variance of the log predictive "
                 "densities exceeds 0.4. This could be indication of WAIC starting to fail. See "
                 "http://arxiv.org/abs/1507.04544 for details\n";
  result.elpd_i = Tensor(elpd, ll.site_shape);
  result.p_i = Tensor(p, ll.site_shape);
  return result;
}

// PSIS-LOO of a log-likelihood of shape (draws, ...); `what` names it in errors.
template <class = void>
LooResult loo_of(const Tensor& log_likelihood, const LooOptions& options, const std::string& what) {
  const PointwiseLogLikelihood ll = check_log_likelihood(log_likelihood, what, "loo");
  const std::vector<double> r_eff = relative_efficiencies(ll, options, what);
  std::vector<double> elpd(static_cast<std::size_t>(ll.points)), p(static_cast<std::size_t>(ll.points));
  std::vector<double> k(static_cast<std::size_t>(ll.points));
  for (std::int64_t j = 0; j < ll.points; ++j) {
    const std::vector<double> column = ll.point(j);
    std::vector<double> log_weights(column.size());
    for (std::size_t s = 0; s < column.size(); ++s) log_weights[s] = -column[s];
    k[std::size_t(j)] = pareto_smooth(log_weights, r_eff[std::size_t(j)]);
    for (std::size_t s = 0; s < column.size(); ++s) log_weights[s] += column[s];
    elpd[std::size_t(j)] = log_sum_exp(log_weights);
    p[std::size_t(j)] = log_sum_exp(column) - std::log(double(ll.draws)) - elpd[std::size_t(j)];
  }
  LooResult result;
  result.elpd_loo = std::accumulate(elpd.begin(), elpd.end(), 0.0);
  result.se = std::sqrt(double(ll.points) * population_variance(elpd));
  result.p_loo = std::accumulate(p.begin(), p.end(), 0.0);
  result.n_samples = ll.draws;
  result.n_data_points = ll.points;
  result.good_k = std::min(1.0 - 1.0 / std::log10(double(ll.draws)), 0.7);
  result.warning = std::any_of(k.begin(), k.end(), [&](double v) { return v > result.good_k; });
  if (result.warning)
    std::cerr << "tyche: warning: loo: estimated shape parameter of Pareto distribution is greater than "
              << fixed(result.good_k, 0, 2)
              << " for one or more samples. You should consider using a more robust model, this is because "
                 "importance sampling is less likely to work well if the marginal posterior and LOO posterior "
                 "are very different. This is more likely to happen with a non-robust model and highly "
                 "influential observations.\n";
  result.elpd_i = Tensor(elpd, ll.site_shape);
  result.p_i = Tensor(p, ll.site_shape);
  result.pareto_k = Tensor(k, ll.site_shape);
  result.r_eff = Tensor(r_eff, ll.site_shape);
  return result;
}

}  // namespace detail

// WAIC of one log-likelihood array of shape (draws, ...) (see the top).
template <std::same_as<Tensor> LogLikelihood>
WaicResult waic(const LogLikelihood& log_likelihood) {
  return detail::waic_of(log_likelihood, "the log-likelihood");
}

// WAIC of one site of tyche::log_likelihood's map: var_name, or the only one.
template <std::same_as<std::map<std::string, Tensor, std::less<>>> LogLikelihood>  // tyche::ValueMap
WaicResult waic(const LogLikelihood& log_likelihood, const WaicOptions& options = {}) {
  std::string what;
  const Tensor& site = detail::select_site(log_likelihood, options.var_name, what, "waic");
  return detail::waic_of(site, what);
}

// PSIS-LOO of one log-likelihood array of shape (draws, ...) (see the top);
// var_name, which picks a site of a map, must not be given.
template <std::same_as<Tensor> LogLikelihood>
LooResult loo(const LogLikelihood& log_likelihood, const LooOptions& options = {}) {
  if (options.var_name)
    throw std::invalid_argument("tyche: loo: var_name `" + *options.var_name +
                                "` names a site of a map, but the log-likelihood given is one array");
  return detail::loo_of(log_likelihood, options, "the log-likelihood");
}

// PSIS-LOO of one site of tyche::log_likelihood's map: var_name, or the only one.
template <std::same_as<std::map<std::string, Tensor, std::less<>>> LogLikelihood>  // tyche::ValueMap
LooResult loo(const LogLikelihood& log_likelihood, const LooOptions& options = {}) {
  std::string what;
  const Tensor& site = detail::select_site(log_likelihood, options.var_name, what, "loo");
  return detail::loo_of(site, options, what);
}

// ArviZ's printout of az.waic (ELPDData.__str__):
//   Computed from 4000 posterior samples and 8 observations log-likelihood matrix.
//
//             Estimate       SE
//   elpd_waic   -30.81     1.23
//   p_waic        0.95        -
template <std::same_as<WaicResult> Result>
std::ostream& operator<<(std::ostream& out, const Result& result) {
  return out << detail::elpd_table("waic", result.elpd_waic, result.se, result.p_waic, result.n_samples,
                                   result.n_data_points, result.warning);
}

// ArviZ's printout of az.loo: the table as for WAIC, then the k-hat counts
// (ending with a newline, as ArviZ's):
//   ------
//
//   Pareto k diagnostic values:
//                            Count   Pct.
//   (-Inf, 0.70]   (good)        7   87.5%
//      (0.70, 1]   (bad)         1   12.5%
//       (1, Inf)   (very bad)    0    0.0%
template <std::same_as<LooResult> Result>
std::ostream& operator<<(std::ostream& out, const Result& result) {
  std::int64_t counts[3] = {0, 0, 0};
  for (std::int64_t j = 0; j < result.pareto_k.size(); ++j) {
    const double k = result.pareto_k.data()[j];
    ++counts[k <= result.good_k ? 0 : k <= 1.0 ? 1 : 2];
  }
  const int width = std::max(4, int(std::to_string(*std::max_element(counts, counts + 3)).size()));
  const auto row = [&](const std::string& interval, const char* label, std::int64_t count) {
    char text[128];
    std::snprintf(text, sizeof text, "%s   %-10s %*lld %s%%\n", interval.c_str(), label, width,
                  static_cast<long long>(count),
                  detail::fixed(100.0 * double(count) / double(result.pareto_k.size()), 6, 1).c_str());
    return std::string(text);
  };
  const std::string good_k = detail::fixed(result.good_k, 0, 2);
  std::string text = detail::elpd_table("loo", result.elpd_loo, result.se, result.p_loo, result.n_samples,
                                        result.n_data_points, result.warning);
  text += "\n------\n\nPareto k diagnostic values:\n";
  // "Count" right-aligned in the counts' width (at least 4, so it may overflow it), "Pct." in 6.
  text += std::string(25, ' ') + std::string(std::size_t(std::max(width - 5, 0)), ' ') + "Count   Pct.\n";
  text += row("(-Inf, " + good_k + "]", "(good)", counts[0]);
  text += row("   (" + good_k + ", 1]", "(bad)", counts[1]);
  text += row("    (1, Inf)", "(very bad)", counts[2]);
  return out << text;
}

}  // namespace tyche
