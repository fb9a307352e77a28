// An options struct after a parameter pack of model arguments: how MCMC's
// run and warmup and SVI's init and run take both.
//
//   template <class... Args> void run(std::uint64_t seed, Args&&... args) {
//     auto [model_args, options] = detail::split_trailing_options<RunOptions>(std::forward<Args>(args)...);
//     std::apply(model, model_args);   // copies of the arguments before the options
//   }
//
// C++ cannot deduce a braced list after a pack, so the caller names the
// struct: `mcmc.run(0, x, y, tyche::RunOptions{.init_params = values})`.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace tyche::detail {

// True when the last of Args is (a reference to) Options.
template <class Options, class... Args>
constexpr bool ends_with_options() {
  if constexpr (sizeof...(Args) == 0)
    return false;
  else
    return std::is_same_v<std::decay_t<std::tuple_element_t<sizeof...(Args) - 1, std::tuple<Args...>>>, Options>;
}

// (a tuple of copies of the arguments before a trailing Options, the options:
// default ones when none was given).
template <class Options, class... Args>
auto split_trailing_options(Args&&... args) {
  if constexpr (ends_with_options<Options, Args...>()) {
    auto all = std::forward_as_tuple(std::forward<Args>(args)...);
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::pair{std::tuple<std::decay_t<std::tuple_element_t<I, std::tuple<Args...>>>...>(std::get<I>(all)...),
                       Options(std::get<sizeof...(Args) - 1>(all))};
    }(std::make_index_sequence<sizeof...(Args) - 1>{});
  } else {
    return std::pair{std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...), Options{}};
  }
}

}  // namespace tyche::detail
