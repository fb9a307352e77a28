// The command line every example shares: --seed, --num-samples, --num-warmup,
// --chains, --check and --help, plus options of the example's own.
//
//   tyche::examples::Options options("eight_schools", "NUTS on eight schools.",
//                                    {.seed = 0, .num_samples = 1000, .num_warmup = 1000, .chains = 4});
//   options.add("--output", "DIR", "write CmdStan-layout CSVs to DIR");
//   if (!options.parse(argc, argv)) return options.exit_code();
//   int n = options.num_samples;  std::string dir = options.get("--output");
//
// --check makes an example test its key numbers against the references its
// file states, print each comparison and exit non-zero when one fails; the
// example's ctest test runs it that way (see examples/CMakeLists.txt).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tyche::examples {

struct Defaults {
  std::uint64_t seed = 0;
  int num_samples = 1000;
  int num_warmup = 1000;
  int chains = 4;
};

class Options {
 public:
  Options(std::string program, std::string description, Defaults defaults)
      : seed(defaults.seed),
        num_samples(defaults.num_samples),
        num_warmup(defaults.num_warmup),
        chains(defaults.chains),
        program_(std::move(program)),
        description_(std::move(description)) {}

  // An option of the example's own taking one value (or none when value_name
  // is empty: a flag, read with has()).
  void add(std::string name, std::string value_name, std::string help) {
    extra_.push_back({std::move(name), std::move(value_name), std::move(help)});
  }

  // False when the program should exit now with exit_code(): after --help
  // (0) or on a bad command line (2, with the reason on standard error).
  bool parse(int argc, char** argv) {
    try {
      for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> std::string {
          if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
          return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
          print_help();
          exit_code_ = 0;
          return false;
        } else if (arg == "--seed") {
          seed = std::stoull(value());
        } else if (arg == "--num-samples") {
          num_samples = positive(arg, value());
        } else if (arg == "--num-warmup") {
          num_warmup = non_negative(arg, value());
        } else if (arg == "--chains") {
          chains = positive(arg, value());
        } else if (arg == "--check") {
          check = true;
        } else if (const Extra* extra = find(arg)) {
          values_[arg] = extra->value_name.empty() ? "1" : value();
        } else if (!arg.empty() && arg[0] != '-' && positional_.empty() && accepts_positional_) {
          positional_ = arg;
        } else {
          throw std::invalid_argument("unknown argument '" + arg + "'");
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s (see --help)\n", program_.c_str(), e.what());
      exit_code_ = 2;
      return false;
    }
    return true;
  }

  // One optional positional argument (a data file, say), shown in --help.
  void accept_positional(std::string name, std::string help) {
    accepts_positional_ = true;
    positional_name_ = std::move(name);
    positional_help_ = std::move(help);
  }
  const std::string& positional() const { return positional_; }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, std::string fallback = "") const {
    const auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  int exit_code() const { return exit_code_; }

  std::uint64_t seed;
  int num_samples;
  int num_warmup;
  int chains;
  bool check = false;

 private:
  struct Extra {
    std::string name, value_name, help;
  };

  const Extra* find(const std::string& name) const {
    for (const Extra& e : extra_)
      if (e.name == name) return &e;
    return nullptr;
  }

  static int non_negative(const std::string& name, const std::string& text) {
    std::size_t used = 0;
    const int n = std::stoi(text, &used);
    if (used != text.size() || n < 0) throw std::invalid_argument(name + " must be a whole number >= 0, got '" + text + "'");
    return n;
  }
  static int positive(const std::string& name, const std::string& text) {
    const int n = non_negative(name, text);
    if (n == 0) throw std::invalid_argument(name + " must be at least 1, got '" + text + "'");
    return n;
  }

  void print_help() const {
    std::printf("usage: %s [options]%s\n%s\n\noptions:\n", program_.c_str(),
                accepts_positional_ ? (" [" + positional_name_ + "]").c_str() : "", description_.c_str());
    std::printf("  --seed N          random seed (default %llu)\n", static_cast<unsigned long long>(seed));
    std::printf("  --num-samples N   draws kept per chain (default %d)\n", num_samples);
    std::printf("  --num-warmup N    warm-up iterations per chain (default %d)\n", num_warmup);
    std::printf("  --chains N        number of chains (default %d)\n", chains);
    std::printf("  --check           test the key numbers against their references; exit 1 if one fails\n");
    for (const Extra& e : extra_) {
      const std::string left = e.name + (e.value_name.empty() ? "" : " " + e.value_name);
      std::printf("  %-17s %s\n", left.c_str(), e.help.c_str());
    }
    if (accepts_positional_) std::printf("  %-17s %s\n", positional_name_.c_str(), positional_help_.c_str());
    std::printf("  --help            this text\n");
  }

  std::string program_, description_;
  std::vector<Extra> extra_;
  std::map<std::string, std::string> values_;
  bool accepts_positional_ = false;
  std::string positional_, positional_name_, positional_help_;
  int exit_code_ = 0;
};

// The --check comparisons: each prints one line and counts failures. A
// Checks made with `enabled` false (no --check) ignores them, so that an
// example can state its checks where it computes the numbers.
class Checks {
 public:
  explicit Checks(bool enabled = true) : enabled_(enabled) {}

  // |value - expected| <= tolerance, where the tolerance's reason is stated.
  void near(const std::string& what, double value, double expected, double tolerance, const std::string& why) {
    const bool ok = std::isfinite(value) && std::abs(value - expected) <= tolerance;
    report(ok, what + " = " + format(value) + ", expected " + format(expected) + " +/- " + format(tolerance) + " (" +
                   why + ")");
  }
  void that(const std::string& what, bool ok) { report(ok, what); }

  // The exit status: 0 when every check passed.
  int finish() const {
    std::printf("%d of %d checks passed\n", total_ - failed_, total_);
    return failed_ == 0 ? 0 : 1;
  }

 private:
  static std::string format(double x) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.4g", x);
    return buffer;
  }
  void report(bool ok, const std::string& line) {
    if (!enabled_) return;
    ++total_;
    if (!ok) ++failed_;
    std::printf("check %s: %s\n", ok ? "ok    " : "FAILED", line.c_str());
  }
  bool enabled_;
  int total_ = 0;
  int failed_ = 0;
};

// main's body: run(argc, argv), an exception reported on standard error as
// "<program>: <what>" with exit status 1 rather than ending in std::terminate.
template <class Run>
int main_reporting_errors(const char* program, Run run, int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace tyche::examples
