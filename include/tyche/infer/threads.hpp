// Work spread over threads, shared by MCMC's chains and Predictive's draws.
//
//   detail::for_each_index(count, detail::thread_count(count, parallel), [&](std::int64_t k) { ... });
//
// Each index runs exactly once; which thread runs it does not matter to the
// result, because each index brings its own key. The body must not throw:
// callers keep each index's exception and decide which one to report.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace tyche::detail {

// Threads for `count` pieces of work: at most hardware_concurrency(), and
// one (the calling thread) unless asked to run in parallel.
template <class = void>
int thread_count(std::int64_t count, bool parallel) {
  if (!parallel) return 1;
  const std::int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  return int(std::max<std::int64_t>(1, std::min(count, cores)));
}

// body(k) for each k in [0, count), on `workers` threads taking indices in
// turn; on the calling thread alone when workers <= 1.
template <class Body>
void for_each_index(std::int64_t count, int workers, const Body& body) {
  if (workers <= 1) {
    for (std::int64_t k = 0; k < count; ++k) body(k);
    return;
  }
  std::atomic<std::int64_t> next{0};
  std::vector<std::thread> threads;
  threads.reserve(std::size_t(workers));
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&] {
      for (std::int64_t k = next.fetch_add(1); k < count; k = next.fetch_add(1)) body(k);
    });
  for (std::thread& t : threads) t.join();
}

}  // namespace tyche::detail
