// Diagnostics of MCMC draws, as numpyro.diagnostics: autocorrelation,
// autocovariance, effective sample size, (split) Gelman-Rubin R-hat and the
// highest posterior density interval. Arrays of draws have a leading
// (chain, draw) pair of axes; the statistics have the remaining shape.
//
//   tyche::Tensor x = mcmc.get_samples(/*group_by_chain=*/true).at("theta");  // (4, 1000, 8)
//   tyche::Tensor n_eff = tyche::effective_sample_size(x);                    // (8,)
//   tyche::Tensor r_hat = tyche::split_gelman_rubin(x);                       // (8,)
//   tyche::Tensor interval = tyche::hpdi(x.reshape({-1, 8}), 0.9);            // (2, 8): lower, upper
//
// The formulas, their degrees of freedom and their NaNs are NumPyro's: draws
// that do not vary give NaN for n_eff and r_hat. Like tyche's operations
// (core/tensor.hpp, "Lazy definitions"), each public function is a template
// over a non-deduced parameter, compiled only in programs that call it.
#pragma once

#include "tyche/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tyche {

namespace detail {

// An array seen as lines along one axis: element k of line (o, i) is at
// (o * length + k) * inner + i.
struct AxisLines {
  std::int64_t outer = 1, length = 0, inner = 1;

  AxisLines(const Shape& shape, int axis) : length(shape[axis]) {
    for (int a = 0; a < axis; ++a) outer *= shape[a];
    for (int a = axis + 1; a < shape.rank(); ++a) inner *= shape[a];
  }
  std::int64_t count() const { return outer * inner; }
  std::int64_t start(std::int64_t line) const { return (line / inner) * length * inner + line % inner; }
};

// np.minimum and np.clip(., 0, None): a NaN in either argument gives NaN,
// which std::min and std::max would drop.
inline double nan_minimum(double a, double b) {
  return std::isnan(a) || std::isnan(b) ? std::numeric_limits<double>::quiet_NaN() : std::min(a, b);
}
inline double nan_clip_below_zero(double a) { return std::isnan(a) ? a : std::max(a, 0.0); }

// NumPy's sort order: NaN after every number.
inline bool nan_last_less(double a, double b) { return a < b || (!std::isnan(a) && std::isnan(b)); }

// Sums of lagged products r[k] = sum_t c[t] c[t + k] of centred real series,
// two series per complex FFT of a power-of-two length L >= 2n, so that the
// circular correlation has no wrap-around: O(n log n) per series. Real and
// imaginary parts are kept in separate arrays (std::complex's arithmetic
// costs a library call or a store-forwarding stall per butterfly).
template <class = void>
class LaggedProducts {
 public:
  explicit LaggedProducts(std::int64_t n) : n_(n), size_(1) {
    while (size_ < 2 * n) size_ *= 2;
    cos_.resize(std::size_t(size_ / 2));
    sin_.resize(std::size_t(size_ / 2));
    for (std::int64_t k = 0; k < size_ / 2; ++k) {
      const double angle = -2.0 * std::numbers::pi * double(k) / double(size_);
      cos_[std::size_t(k)] = std::cos(angle);
      sin_[std::size_t(k)] = std::sin(angle);
    }
    re_.resize(std::size_t(size_));
    im_.resize(std::size_t(size_));
  }

  // Writes the lagged products of the centred `a` and `b` (n values each) to
  // ra and rb; b may be null (one series).
  void compute(const double* a, const double* b, double* ra, double* rb) {
    std::fill(re_.begin(), re_.end(), 0.0);
    std::fill(im_.begin(), im_.end(), 0.0);
    std::copy(a, a + n_, re_.begin());
    if (b) std::copy(b, b + n_, im_.begin());
    transform();
    // Z = A + iB with A, B the spectra of the real series a, b:
    // A_k = (Z_k + conj Z_{L-k}) / 2 and B_k = (Z_k - conj Z_{L-k}) / 2i.
    // |A|^2 and |B|^2 are real and even, so the inverse transform of
    // |A|^2 + i |B|^2 has the correlation of a in its real part and of b in
    // its imaginary part. It is taken as conj(FFT(conj(.))) / L. Bins k and
    // L - k are written together, from the values both read.
    for (std::int64_t k = 0; k <= size_ / 2; ++k) {
      const std::size_t i = std::size_t(k), j = std::size_t((size_ - k) % size_);
      const double sum_re = re_[i] + re_[j], sum_im = im_[i] - im_[j];
      const double diff_re = re_[i] - re_[j], diff_im = im_[i] + im_[j];
      const double power_a = (sum_re * sum_re + sum_im * sum_im) / 4.0;
      const double power_b = (diff_re * diff_re + diff_im * diff_im) / 4.0;
      re_[i] = re_[j] = power_a;
      im_[i] = im_[j] = -power_b;
    }
    transform();
    for (std::int64_t k = 0; k < n_; ++k) {
      ra[k] = re_[std::size_t(k)] / double(size_);
      if (rb) rb[k] = -im_[std::size_t(k)] / double(size_);
    }
  }

 private:
  // In-place iterative radix-2 decimation-in-time FFT of (re_, im_).
  void transform() {
    for (std::int64_t i = 1, j = 0; i < size_; ++i) {
      std::int64_t bit = size_ >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) {
        std::swap(re_[std::size_t(i)], re_[std::size_t(j)]);
        std::swap(im_[std::size_t(i)], im_[std::size_t(j)]);
      }
    }
    double* re = re_.data();
    double* im = im_.data();
    for (std::int64_t half = 1; half < size_; half *= 2) {
      const std::int64_t step = size_ / (2 * half);
      for (std::int64_t start = 0; start < size_; start += 2 * half)
        for (std::int64_t k = 0; k < half; ++k) {
          const double w_re = cos_[std::size_t(k * step)], w_im = sin_[std::size_t(k * step)];
          const std::int64_t e = start + k, o = start + k + half;
          const double odd_re = w_re * re[o] - w_im * im[o], odd_im = w_re * im[o] + w_im * re[o];
          re[o] = re[e] - odd_re;
          im[o] = im[e] - odd_im;
          re[e] += odd_re;
          im[e] += odd_im;
        }
    }
  }

  std::int64_t n_, size_;
  std::vector<double> cos_, sin_, re_, im_;
};

// NumPyro's autocorrelation (scale_by_variance = false) or autocovariance
// (true) along `axis`: the lagged products of the centred series, divided by
// n - k when not `bias`, over the value at lag 0, times the variance
// (ddof 0) for the autocovariance.
template <class = void>
Tensor lagged_moments(const Tensor& x, int axis, bool bias, bool scale_by_variance, const char* op) {
  if (x.ndim() == 0)
    throw ShapeError(std::string("tyche: ") + op + ": needs an array of rank >= 1, got shape ()");
  const AxisLines lines(x.shape(), normalize_axis(axis, x.ndim(), op));
  const std::int64_t n = lines.length;
  const double* in = x.data();
  std::vector<double> out(static_cast<std::size_t>(x.size()));
  if (n == 0) return Tensor(out, x.shape());
  LaggedProducts<> products(n);
  std::vector<double> centred(static_cast<std::size_t>(2 * n)), lagged(static_cast<std::size_t>(2 * n));
  std::vector<double> variance(2);
  for (std::int64_t first = 0; first < lines.count(); first += 2) {
    const std::int64_t pair = std::min<std::int64_t>(2, lines.count() - first);
    for (std::int64_t p = 0; p < pair; ++p) {
      const std::int64_t start = lines.start(first + p);
      double mean = 0.0;
      for (std::int64_t t = 0; t < n; ++t) mean += in[start + t * lines.inner];
      mean /= double(n);
      double sum_squares = 0.0;
      for (std::int64_t t = 0; t < n; ++t) {
        const double c = in[start + t * lines.inner] - mean;
        centred[std::size_t(p * n + t)] = c;
        sum_squares += c * c;
      }
      variance[std::size_t(p)] = sum_squares / double(n);
    }
    products.compute(centred.data(), pair == 2 ? centred.data() + n : nullptr, lagged.data(),
                     pair == 2 ? lagged.data() + n : nullptr);
    for (std::int64_t p = 0; p < pair; ++p) {
      double* r = lagged.data() + p * n;
      if (!bias)
        for (std::int64_t k = 0; k < n; ++k) r[k] /= double(n - k);
      const double scale = scale_by_variance ? variance[std::size_t(p)] : 1.0;
      const std::int64_t start = lines.start(first + p);
      for (std::int64_t k = 0; k < n; ++k) out[std::size_t(start + k * lines.inner)] = r[k] / r[0] * scale;
    }
  }
  return Tensor(out, x.shape());
}

// Checks a (chain, draw, ...) array with at least the given chains and draws.
inline void require_chains_and_draws(const Tensor& x, std::int64_t min_chains, std::int64_t min_draws,
                                     const char* op) {
  if (x.ndim() < 2 || x.dim(0) < min_chains || x.dim(1) < min_draws)
    throw ShapeError(std::string("tyche: ") + op +
                     ": needs an array of shape (chain, draw, ...) with at least " +
                     std::to_string(min_chains) + " chain(s) and " + std::to_string(min_draws) +
                     " draws, got shape " + x.shape().str());
}

// NumPyro's within-chain variance W and variance estimator of (chain, draw,
// ...) draws, per element: W is the mean over chains of the draws' variance
// (ddof 1) and the estimator (N - 1) / N W + the variance of the chain means
// (ddof 1). With one chain W is the estimator itself.
struct ChainVariances {
  std::vector<double> within, estimator;
};

template <class = void>
ChainVariances chain_variances(const Tensor& x) {
  const std::int64_t chains = x.dim(0), draws = x.dim(1), elements = x.size() / (chains * draws);
  const double* in = x.data();
  ChainVariances v{std::vector<double>(std::size_t(elements)), std::vector<double>(std::size_t(elements))};
  std::vector<double> chain_means(static_cast<std::size_t>(chains));
  for (std::int64_t e = 0; e < elements; ++e) {
    double within = 0.0;
    for (std::int64_t c = 0; c < chains; ++c) {
      const double* chain = in + c * draws * elements + e;
      double mean = 0.0;
      for (std::int64_t t = 0; t < draws; ++t) mean += chain[t * elements];
      mean /= double(draws);
      double sum_squares = 0.0;
      for (std::int64_t t = 0; t < draws; ++t)
        sum_squares += (chain[t * elements] - mean) * (chain[t * elements] - mean);
      within += sum_squares / double(draws - 1);
      chain_means[std::size_t(c)] = mean;
    }
    within /= double(chains);
    double estimator = within * double(draws - 1) / double(draws);
    if (chains > 1) {
      double grand_mean = 0.0;
      for (double m : chain_means) grand_mean += m;
      grand_mean /= double(chains);
      double between = 0.0;
      for (double m : chain_means) between += (m - grand_mean) * (m - grand_mean);
      estimator += between / double(chains - 1);
    } else {
      within = estimator;
    }
    v.within[std::size_t(e)] = within;
    v.estimator[std::size_t(e)] = estimator;
  }
  return v;
}

// How many steps of n sorted draws an HPDI at `prob` spans: floor(prob n),
// as NumPyro's int(prob * n).
inline std::int64_t hpdi_span(double prob, std::int64_t n) {
  if (!(prob > 0.0 && prob < 1.0))
    throw std::invalid_argument("tyche: hpdi: prob must be in (0, 1), got " + std::to_string(prob));
  return static_cast<std::int64_t>(prob * double(n));
}

// Where the HPDI of draws sorted by nan_last_less starts: the first i with
// the least sorted[i + span] - sorted[i], or the first NaN width (np.argmin's).
inline std::int64_t hpdi_lower_index(const std::vector<double>& sorted, std::int64_t span) {
  std::int64_t best = 0;
  double best_width = std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i + span < std::int64_t(sorted.size()); ++i) {
    const double width = sorted[std::size_t(i + span)] - sorted[std::size_t(i)];
    if (std::isnan(width)) return i;
    if (width < best_width) best = i, best_width = width;
  }
  return best;
}

}  // namespace detail

// Autocorrelation of the draws along `axis` (NumPyro's, through an FFT):
// element k of each series is sum_t c_t c_{t+k} / sum_t c_t^2, c the series
// minus its mean; with bias = false each sum is divided by its number of
// terms first. Same shape as x.
template <class T = Tensor>
Tensor autocorrelation(const std::type_identity_t<T>& x, int axis = 0, bool bias = true) {
  return detail::lagged_moments(x, axis, bias, /*scale_by_variance=*/false, "autocorrelation");
}

// Autocovariance along `axis`: the autocorrelation times the variance of
// each series (ddof 0), as NumPyro's.
template <class T = Tensor>
Tensor autocovariance(const std::type_identity_t<T>& x, int axis = 0, bool bias = true) {
  return detail::lagged_moments(x, axis, bias, /*scale_by_variance=*/true, "autocovariance");
}

// Gelman-Rubin R-hat of (chain, draw, ...) draws: sqrt(estimator / W) with
// NumPyro's variances (detail::chain_variances). At least 2 chains of 2 draws.
template <class T = Tensor>
Tensor gelman_rubin(const std::type_identity_t<T>& x) {
  detail::require_chains_and_draws(x, 2, 2, "gelman_rubin");
  const detail::ChainVariances v = detail::chain_variances(x);
  std::vector<double> r_hat(v.within.size());
  for (std::size_t e = 0; e < r_hat.size(); ++e) r_hat[e] = std::sqrt(v.estimator[e] / v.within[e]);
  return Tensor(r_hat, x.shape().drop_front(2));
}

// Split R-hat: each chain's first and last floor(N / 2) draws as two chains
// (the middle draw of an odd N is left out), then gelman_rubin. One chain is
// enough; at least 4 draws.
template <class T = Tensor>
Tensor split_gelman_rubin(const std::type_identity_t<T>& x) {
  detail::require_chains_and_draws(x, 1, 4, "split_gelman_rubin");
  const std::int64_t chains = x.dim(0), draws = x.dim(1), half = draws / 2;
  const std::int64_t elements = x.size() / (chains * draws);
  Shape split_shape = x.shape();
  split_shape.set(0, 2 * chains);
  split_shape.set(1, half);
  const double* in = x.data();
  std::vector<double> split(static_cast<std::size_t>(split_shape.numel()));
  const std::int64_t half_size = half * elements;
  for (std::int64_t c = 0; c < chains; ++c) {
    const double* chain = in + c * draws * elements;
    std::copy(chain, chain + half_size, split.begin() + c * half_size);
    std::copy(chain + (draws - half) * elements, chain + draws * elements,
              split.begin() + (chains + c) * half_size);
  }
  return gelman_rubin(Tensor(split, split_shape));
}

// NumPyro's effective sample size of (chain, draw, ...) draws: the chains'
// autocovariances give rho_k = 1 - (W - mean over chains of gamma_k) /
// estimator (rho_0 = 1); Geyer's initial monotone sequence sums the pairs
// P_m = rho_2m + rho_2m+1 (P_0 as is, then each later P_m clipped below at 0
// and capped by the ones before it, over all lags); n_eff = C N / (2 sum P - 1).
template <class T = Tensor>
Tensor effective_sample_size(const std::type_identity_t<T>& x, bool bias = true) {
  detail::require_chains_and_draws(x, 1, 2, "effective_sample_size");
  const std::int64_t chains = x.dim(0), draws = x.dim(1), elements = x.size() / (chains * draws);
  const Tensor gamma = autocovariance(x, 1, bias);
  const double* g = gamma.data();
  const detail::ChainVariances v = detail::chain_variances(x);
  std::vector<double> n_eff(static_cast<std::size_t>(elements));
  std::vector<double> rho(static_cast<std::size_t>(draws));
  for (std::int64_t e = 0; e < elements; ++e) {
    const double within = v.within[std::size_t(e)], estimator = v.estimator[std::size_t(e)];
    for (std::int64_t k = 0; k < draws; ++k) {
      double mean_gamma = 0.0;
      for (std::int64_t c = 0; c < chains; ++c) mean_gamma += g[(c * draws + k) * elements + e];
      mean_gamma /= double(chains);
      rho[std::size_t(k)] = 1.0 - (within - mean_gamma) / estimator;
    }
    rho[0] = 1.0;
    double sum = rho[0] + rho[1];
    double monotone = std::numeric_limits<double>::infinity();
    for (std::int64_t m = 1; m < draws / 2; ++m) {
      monotone = detail::nan_minimum(
          monotone, detail::nan_clip_below_zero(rho[std::size_t(2 * m)] + rho[std::size_t(2 * m + 1)]));
      sum += monotone;
    }
    n_eff[std::size_t(e)] = double(chains * draws) / (-1.0 + 2.0 * sum);
  }
  return Tensor(n_eff, x.shape().drop_front(2));
}

// Highest posterior density interval along `axis`: the narrowest interval
// [sorted[i], sorted[i + floor(prob n)]] (the first such i), as NumPyro's.
// The result has x's shape with 2 at `axis`: lower bound, then upper.
template <class T = Tensor>
Tensor hpdi(const std::type_identity_t<T>& x, double prob = 0.9, int axis = 0) {
  if (x.ndim() == 0) throw ShapeError("tyche: hpdi: needs an array of rank >= 1, got shape ()");
  const int a = normalize_axis(axis, x.ndim(), "hpdi");
  const detail::AxisLines lines(x.shape(), a);
  const std::int64_t n = lines.length, span = detail::hpdi_span(prob, n);
  if (n == 0)
    throw ShapeError("tyche: hpdi: needs at least one draw along axis " + std::to_string(axis) +
                     ", got shape " + x.shape().str());
  Shape out_shape = x.shape();
  out_shape.set(a, 2);
  const detail::AxisLines out_lines(out_shape, a);
  const double* in = x.data();
  std::vector<double> out(static_cast<std::size_t>(out_shape.numel())), sorted(static_cast<std::size_t>(n));
  for (std::int64_t line = 0; line < lines.count(); ++line) {
    const std::int64_t start = lines.start(line);
    for (std::int64_t t = 0; t < n; ++t) sorted[std::size_t(t)] = in[start + t * lines.inner];
    std::sort(sorted.begin(), sorted.end(), detail::nan_last_less);
    const std::int64_t lower = detail::hpdi_lower_index(sorted, span), out_start = out_lines.start(line);
    out[std::size_t(out_start)] = sorted[std::size_t(lower)];
    out[std::size_t(out_start + out_lines.inner)] = sorted[std::size_t(lower + span)];
  }
  return Tensor(out, out_shape);
}

}  // namespace tyche
