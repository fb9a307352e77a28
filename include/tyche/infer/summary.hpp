// summary and print_summary: NumPyro's table of posterior draws per site —
// mean, std, median, the HPDI bounds at `prob`, n_eff and split r_hat, per
// element — as data, or printed in NumPyro's layout.
//
//   tyche::ValueMap samples = mcmc.get_samples(/*group_by_chain=*/true);  // (chain, draw, ...)
//   tyche::print_summary(samples);   // the header, then a row per element:
//   //                 mean       std    median      5.0%     95.0%     n_eff     r_hat
//   double r_hat_mu = tyche::summary(samples).at("mu").r_hat.item();
//
// With group_by_chain = false each site is (draw, ...), taken as one chain.
// The draws are a tyche::ValueMap (effects/message.hpp), spelled out here so
// that this header does not need the distributions.
#pragma once

#include "tyche/core/tensor.hpp"
#include "tyche/infer/diagnostics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

namespace tyche {

// One site's statistics over all chains' draws, each in the site's shape:
// std has ddof 1 and the HPDI is at the summary's prob, as NumPyro's.
struct SiteSummary {
  Tensor mean, std, median, hpdi_lower, hpdi_upper, n_eff, r_hat;
};

using Summary = std::map<std::string, SiteSummary, std::less<>>;

namespace detail {

// A site's draws as (chain, draw, ...), checked: split r_hat needs 4 draws.
template <class = void>
Tensor draws_by_chain(const std::string& name, const Tensor& value, bool group_by_chain) {
  const int leading = group_by_chain ? 2 : 1;
  const char* expected = group_by_chain ? "(chain, draw, ...)" : "(draw, ...)";
  if (value.ndim() < leading || value.ndim() + 2 - leading > kMaxRank)
    throw ShapeError("tyche: summary: site '" + name + "' should have shape " + expected + ", got shape " +
                     value.shape().str());
  if (value.dim(leading - 1) < 4)
    throw ShapeError("tyche: summary: site '" + name + "' has " + std::to_string(value.dim(leading - 1)) +
                     " draws per chain (shape " + value.shape().str() + "); split r_hat needs at least 4");
  if (group_by_chain) return value;
  std::vector<std::int64_t> dims{1};
  dims.insert(dims.end(), value.shape().begin(), value.shape().end());
  return value.reshape(dims);
}

// "5.0%" for prob 0.9: a bound's probability in percent with one decimal.
inline std::string percent_label(double percent) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", percent);
  return text;
}

// Python's "{:>9.2f}": printf's, except that every NaN prints as "nan".
inline std::string fixed_column(double value) {
  char text[64];
  if (std::isnan(value))
    std::snprintf(text, sizeof text, " %9s", "nan");
  else
    std::snprintf(text, sizeof text, " %9.2f", value);
  return text;
}

}  // namespace detail

// The table as data, by site name. Sites with no chains are left out, as
// NumPyro does; a site whose shape does not fit, or with fewer than 4 draws
// per chain, throws a ShapeError naming it.
template <class T = std::map<std::string, Tensor, std::less<>>>  // tyche::ValueMap
Summary summary(const std::type_identity_t<T>& samples, double prob = 0.9, bool group_by_chain = true) {
  Summary table;
  for (const auto& [name, value] : samples) {
    if (group_by_chain && value.ndim() >= 1 && value.dim(0) == 0) continue;
    const Tensor draws = detail::draws_by_chain(name, value, group_by_chain);
    const Shape site_shape = draws.shape().drop_front(2);
    const std::int64_t n = draws.dim(0) * draws.dim(1), elements = site_shape.numel();
    const std::int64_t span = detail::hpdi_span(prob, n);
    const double* x = draws.data();  // (n, elements)
    std::vector<double> mean, sd, median, lower, upper, sorted(static_cast<std::size_t>(n));
    for (std::int64_t e = 0; e < elements; ++e) {
      double sum = 0.0;
      for (std::int64_t t = 0; t < n; ++t) sum += x[t * elements + e];
      const double m = sum / double(n);
      double sum_squares = 0.0;
      for (std::int64_t t = 0; t < n; ++t)
        sum_squares += (x[t * elements + e] - m) * (x[t * elements + e] - m);
      mean.push_back(m);
      sd.push_back(std::sqrt(sum_squares / double(n - 1)));
      for (std::int64_t t = 0; t < n; ++t) sorted[std::size_t(t)] = x[t * elements + e];
      std::sort(sorted.begin(), sorted.end(), detail::nan_last_less);
      // np.median: the middle draw, or the mean of the two; NaN if any is NaN.
      if (std::isnan(sorted.back()))
        median.push_back(sorted.back());
      else if (n % 2)
        median.push_back(sorted[std::size_t(n / 2)]);
      else
        median.push_back((sorted[std::size_t(n / 2 - 1)] + sorted[std::size_t(n / 2)]) / 2.0);
      const std::int64_t start = detail::hpdi_lower_index(sorted, span);
      lower.push_back(sorted[std::size_t(start)]);
      upper.push_back(sorted[std::size_t(start + span)]);
    }
    table.emplace(name, SiteSummary{.mean = Tensor(mean, site_shape),
                                    .std = Tensor(sd, site_shape),
                                    .median = Tensor(median, site_shape),
                                    .hpdi_lower = Tensor(lower, site_shape),
                                    .hpdi_upper = Tensor(upper, site_shape),
                                    .n_eff = effective_sample_size(draws),
                                    .r_hat = split_gelman_rubin(draws)});
  }
  return table;
}

// Prints NumPyro's table: a blank line, the header, a row per scalar element
// (`theta[0]`, `L[1,0]`; a scalar site by its name) in site-name order, a
// blank line. Every value is formatted as "{:>9.2f}"; the name column is as
// wide as the longest site name followed by its last index, at least 10.
// Nothing is printed when no site has draws.
template <class T = std::map<std::string, Tensor, std::less<>>>  // tyche::ValueMap
void print_summary(const std::type_identity_t<T>& samples, double prob = 0.9, bool group_by_chain = true,
                   std::ostream& out = std::cout) {
  const Summary table = summary(samples, prob, group_by_chain);
  if (table.empty()) return;
  // NumPyro sizes the column from every site's name with its last index
  // ("mu[]" for a scalar), sites without draws included.
  std::size_t width = 10;
  for (const auto& [name, value] : samples) {
    std::string row_name = name + "[";
    for (int a = group_by_chain ? 2 : 1; a < value.ndim(); ++a) {
      if (a > (group_by_chain ? 2 : 1)) row_name += ',';
      row_name += std::to_string(value.dim(a) - 1);
    }
    width = std::max(width, row_name.size() + 1);
  }
  const auto name_column = [&](const std::string& name) {
    return std::string(width > name.size() ? width - name.size() : 0, ' ') + name;
  };
  std::string text = "\n" + name_column("");
  for (const std::string& column :
       {std::string("mean"), std::string("std"), std::string("median"),
        detail::percent_label(50.0 * (1.0 - prob)), detail::percent_label(50.0 * (1.0 + prob)),
        std::string("n_eff"), std::string("r_hat")})
    text += " " + std::string(column.size() < 9 ? 9 - column.size() : 0, ' ') + column;
  text += "\n";
  for (const auto& [name, site] : table) {
    const Shape& shape = site.mean.shape();
    const Tensor* stats[] = {&site.mean, &site.std, &site.median, &site.hpdi_lower,
                             &site.hpdi_upper, &site.n_eff, &site.r_hat};
    for (std::int64_t e = 0; e < shape.numel(); ++e) {
      std::string row_name = name;
      if (shape.rank() > 0) {
        row_name += "[";
        std::int64_t rest = e, stride = shape.numel();
        for (int a = 0; a < shape.rank(); ++a) {
          stride /= shape[a];
          if (a) row_name += ',';  // appended apart: GCC 12 warns falsely on "," + to_string(...)
          row_name += std::to_string(rest / stride);
          rest %= stride;
        }
        row_name += "]";
      }
      text += name_column(row_name);
      for (const Tensor* stat : stats) text += detail::fixed_column(stat->data()[e]);
      text += "\n";
    }
  }
  out << text << "\n";
}

}  // namespace tyche
