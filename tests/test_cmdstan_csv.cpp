// write_cmdstan_csv: files read back with a small parser of their own
// (comments, header, rows split at commas) give exactly the draws, extra
// fields, step sizes and inverse mass matrices of the run; the layout is
// CmdStan 2.32's (the seven sampler columns, `name.i.j` in column-major
// order, the configuration lines cmdstanpy and ArviZ read, the adaptation
// block and the elapsed-time footer); names that are not Stan identifiers are
// mapped, and a collision is an error.
#include <catch2/catch.hpp>
#include "common_data.hpp"

#include <tyche/infer/cmdstan_csv.hpp>
#include <tyche/tyche.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "require_throws.hpp"

namespace dist = tyche::dist;
namespace fs = std::filesystem;

namespace {

// A Stan CSV file as its readers see it.
struct StanCSV {
  std::vector<std::string> config;     // the comment lines before the header
  std::vector<std::string> header;     // the column names
  std::vector<std::string> after;      // the comment lines after the header, in order
  std::vector<std::vector<double>> rows;
  std::size_t first_row_line = 0, last_row_line = 0;  // positions in `lines`
  std::vector<std::string> lines;
};

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(line);
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!line.empty() && line.back() == separator) parts.emplace_back();
  return parts;
}

StanCSV read_stan_csv(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  StanCSV csv;
  std::string line;
  bool header_seen = false;
  while (std::getline(in, line)) {
    csv.lines.push_back(line);
    if (line.starts_with("#")) {
      (header_seen ? csv.after : csv.config).push_back(line);
    } else if (!header_seen) {
      csv.header = split(line, ',');
      header_seen = true;
    } else {
      std::vector<double> row;
      for (const std::string& field : split(line, ',')) {
        char* end = nullptr;
        row.push_back(std::strtod(field.c_str(), &end));
        REQUIRE(end == field.c_str() + field.size());  // the whole field is one number
      }
      if (csv.rows.empty()) csv.first_row_line = csv.lines.size() - 1;
      csv.last_row_line = csv.lines.size() - 1;
      csv.rows.push_back(std::move(row));
    }
  }
  return csv;
}

// cmdstanpy's scan_config: `key = value` comment lines, " (Default)" dropped.
std::map<std::string, std::string> config_values(const StanCSV& csv) {
  std::map<std::string, std::string> values;
  for (std::string line : csv.config) {
    if (line.ends_with("(Default)")) line.erase(line.size() - 9);
    line.erase(0, line.find_first_not_of(" #\t"));
    const std::vector<std::string> key_value = split(line, '=');
    if (key_value.size() != 2) continue;
    const auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(' '));
      s.erase(s.find_last_not_of(' ') + 1);
      return s;
    };
    values[trim(key_value[0])] = trim(key_value[1]);
  }
  return values;
}

std::vector<double> numbers_of_comment(const std::string& line) {
  std::vector<double> values;
  for (const std::string& field : split(line.substr(2), ',')) values.push_back(std::stod(field));
  return values;
}

// A directory of this process's own: ctest and the sanitizer builds may run
// these tests at the same time.
fs::path fresh_directory(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("tyche_test_cmdstan_csv_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  return dir;
}

using tyche_test::eight_schools;  // seed 001's, centred (common_data.hpp)
using tyche_test::kSchoolsSigma;
using tyche_test::kSchoolsY;

const std::vector<std::string> kSamplerColumns = {"lp__",         "accept_stat__", "stepsize__", "treedepth__",
                                                  "n_leapfrog__", "divergent__",   "energy__"};

}  // namespace

TEST_CASE("cmdstan_variable_name: Stan identifiers by one rule", "[cmdstan_csv]") {
  CHECK(tyche::cmdstan_variable_name("theta") == "theta");
  CHECK(tyche::cmdstan_variable_name("M.beta") == "M_beta");
  CHECK(tyche::cmdstan_variable_name("Mt/x") == "Mt_x");
  CHECK(tyche::cmdstan_variable_name("a::b c") == "a__b_c");
  CHECK(tyche::cmdstan_variable_name("1a") == "x1a");
  CHECK(tyche::cmdstan_variable_name("_a") == "x_a");
  CHECK(tyche::cmdstan_variable_name("a__") == "a__x");
  CHECK(tyche::cmdstan_variable_name("lp__") == "lp__x");
  CHECK(tyche::cmdstan_variable_name("") == "x");
}

TEST_CASE("write_cmdstan_csv: eight schools read back exactly, in CmdStan's layout", "[cmdstan_csv][eight_schools]") {
  const auto model = [](int J, const tyche::Tensor& sigma, const tyche::Tensor& y) { eight_schools(J, sigma, y); };
  constexpr int kChains = 2, kDraws = 200;
  constexpr std::uint64_t kSeed = 20261201;
  tyche::MCMC mcmc(tyche::NUTS(model, {.target_accept_prob = 0.9}),
                   {.num_warmup = 200, .num_samples = kDraws, .num_chains = kChains, .progress_bar = false});
  mcmc.run(kSeed, 8, kSchoolsSigma, kSchoolsY);
  const fs::path dir = fresh_directory("eight_schools");
  const std::vector<fs::path> paths = tyche::write_cmdstan_csv(dir, mcmc, {.model_name = "eight_schools_model"});
  REQUIRE(paths == std::vector<fs::path>{dir / "output_1.csv", dir / "output_2.csv"});

  const tyche::ValueMap samples = mcmc.get_samples(/*group_by_chain=*/true);
  const tyche::ValueMap extra = mcmc.get_extra_fields(/*group_by_chain=*/true);
  const tyche::MCMCState state = mcmc.last_state();
  std::vector<std::string> expected_header = kSamplerColumns;
  for (const char* site : {"mu", "tau"}) expected_header.emplace_back(site);
  for (int j = 1; j <= 8; ++j) expected_header.push_back("theta." + std::to_string(j));

  for (int c = 0; c < kChains; ++c) {
    INFO("chain " << c);
    const StanCSV csv = read_stan_csv(paths[std::size_t(c)]);
    CHECK(csv.header == expected_header);

    // The configuration as cmdstanpy's scan_config reads it.
    const std::map<std::string, std::string> config = config_values(csv);
    const std::map<std::string, std::string> expected_config = {
        {"stan_version_major", "2"}, {"stan_version_minor", "32"}, {"model", "eight_schools_model"},
        {"method", "sample"},        {"num_samples", "200"},       {"num_warmup", "200"},
        {"save_warmup", "0"},        {"thin", "1"},                {"engaged", "1"},
        {"delta", "0.90000000000000002"},                          {"algorithm", "hmc"},
        {"engine", "nuts"},          {"max_depth", "10"},          {"metric", "diag_e"},
        {"id", std::to_string(c + 1)},                             {"seed", std::to_string(kSeed)},
        {"num_chains", "2"},         {"sig_figs", "17"},           {"refresh", "100"}};
    for (const auto& [key, value] : expected_config) {
      INFO("config " << key);
      REQUIRE(config.contains(key));
      CHECK(config.at(key) == value);
    }
    // CmdStan's first lines and indentation, verbatim.
    REQUIRE(csv.config.size() > 12);
    CHECK(csv.config[0] == "# stan_version_major = 2");
    CHECK(csv.config[4] == "# method = sample (Default)");
    CHECK(csv.config[5] == "#   sample");
    CHECK(csv.config[6] == "#     num_samples = 200");
    CHECK(csv.config[8] == "#     save_warmup = 0 (Default)");
    CHECK(csv.config[10] == "#     adapt");
    CHECK(csv.config[11] == "#       engaged = 1 (Default)");
    CHECK(std::find(csv.config.begin(), csv.config.end(), "#             max_depth = 10 (Default)") !=
          csv.config.end());

    // The adaptation block, then the draws, then the footer (cmdstanpy's scan_hmc_params).
    REQUIRE(csv.after.size() == 4 + 5);
    CHECK(csv.after[0] == "# Adaptation terminated");
    REQUIRE(csv.after[1].starts_with("# Step size = "));
    const double step_size = std::stod(csv.after[1].substr(14));
    CHECK(step_size == state.chains[std::size_t(c)].step_size);
    CHECK(csv.after[2] == "# Diagonal elements of inverse mass matrix:");
    const std::vector<double> inverse_mass = numbers_of_comment(csv.after[3]);
    const Eigen::VectorXd& diagonal = state.chains[std::size_t(c)].inverse_mass_matrix.diagonal;
    REQUIRE(inverse_mass.size() == 10);  // mu, tau, theta: the unconstrained coordinates
    for (std::size_t i = 0; i < inverse_mass.size(); ++i) CHECK(inverse_mass[i] == diagonal(Eigen::Index(i)));
    CHECK(csv.lines[csv.first_row_line - 1] == csv.after[3]);  // the rows follow the matrix
    CHECK(csv.after[4] == "# ");
    CHECK(csv.after[5].starts_with("#  Elapsed Time: "));
    CHECK(csv.after[5].ends_with(" seconds (Warm-up)"));
    CHECK(csv.after[6].starts_with("#                "));
    CHECK(csv.after[6].ends_with(" seconds (Sampling)"));
    CHECK(csv.after[7].ends_with(" seconds (Total)"));
    CHECK(csv.after[8] == "# ");
    CHECK(csv.lines.size() == csv.last_row_line + 1 + 5);

    // Every number, exactly.
    REQUIRE(csv.rows.size() == std::size_t(kDraws));
    for (int k = 0; k < kDraws; ++k) {
      const std::vector<double>& row = csv.rows[std::size_t(k)];
      REQUIRE(row.size() == expected_header.size());
      const std::int64_t draw = std::int64_t(c) * kDraws + k;
      const auto field = [&](const char* name) { return extra.at(name).data()[draw]; };
      CHECK(row[0] == -field("potential_energy"));
      CHECK(row[1] == field("accept_prob"));
      CHECK(row[2] == field("step_size"));
      CHECK(row[2] == step_size);  // no jitter: every draw uses the adapted step size
      CHECK(row[3] == field("tree_depth"));
      CHECK(row[4] == field("num_steps"));
      CHECK(row[5] == field("diverging"));
      CHECK(row[6] == field("energy"));
      CHECK(row[7] == samples.at("mu").data()[draw]);
      CHECK(row[8] == samples.at("tau").data()[draw]);
      for (int j = 0; j < 8; ++j) CHECK(row[std::size_t(9 + j)] == samples.at("theta").data()[draw * 8 + j]);
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("write_cmdstan_csv: a matrix site column-major, deterministic sites last, mapped names, dense metric",
          "[cmdstan_csv]") {
  // w is a (2, 3) latent; `scaled/w` a deterministic (3, 2) site whose name
  // is not an identifier; `a.z` a scalar latent written `a_z`.
  const auto model = [] {
    const tyche::Tensor w = tyche::sample("w", dist::Normal(0.0, 1.0).expand({2, 3}).to_event(2));
    const tyche::Tensor z = tyche::sample("a.z", dist::Normal(0.0, 2.0));
    tyche::deterministic("scaled/w", tyche::transpose(w) * z);
  };
  tyche::MCMC mcmc(tyche::NUTS(model, {.dense_mass = true}),
                   {.num_warmup = 60, .num_samples = 41, .num_chains = 1, .thinning = 2, .progress_bar = false});
  mcmc.run(3);
  const fs::path dir = fresh_directory("matrix");
  const std::vector<fs::path> paths = tyche::write_cmdstan_csv(dir, mcmc, {.prefix = "fit"});
  REQUIRE(paths == std::vector<fs::path>{dir / "fit_1.csv"});
  const StanCSV csv = read_stan_csv(paths[0]);

  std::vector<std::string> expected_header = kSamplerColumns;
  for (const char* name : {"a_z", "w.1.1", "w.2.1", "w.1.2", "w.2.2", "w.1.3", "w.2.3", "scaled_w.1.1",
                           "scaled_w.2.1", "scaled_w.3.1", "scaled_w.1.2", "scaled_w.2.2", "scaled_w.3.2"})
    expected_header.emplace_back(name);
  CHECK(csv.header == expected_header);

  // Thinning 2 keeps 20 of the 41 draws; num_samples is written as 40, the
  // transitions they cover, so that cmdstanpy's ceil(num_samples / thin) is 20.
  const std::map<std::string, std::string> config = config_values(csv);
  CHECK(config.at("num_samples") == "40");
  CHECK(config.at("thin") == "2");
  CHECK(config.at("metric") == "dense_e");

  const tyche::ValueMap samples = mcmc.get_samples(true);
  REQUIRE(csv.rows.size() == 20);
  for (std::size_t k = 0; k < csv.rows.size(); ++k) {
    const std::vector<double>& row = csv.rows[k];
    CHECK(row[7] == samples.at("a.z").data()[k]);
    for (int j = 0; j < 3; ++j)  // w.(i+1).(j+1) is column 8 + i + 2 j
      for (int i = 0; i < 2; ++i) CHECK(row[std::size_t(8 + i + 2 * j)] == samples.at("w").data()[k * 6 + i * 3 + j]);
    for (int j = 0; j < 2; ++j)  // scaled_w is (3, 2): column 14 + i + 3 j
      for (int i = 0; i < 3; ++i)
        CHECK(row[std::size_t(14 + i + 3 * j)] == samples.at("scaled/w").data()[k * 6 + i * 2 + j]);
  }

  // The dense inverse mass matrix, row by row, 7 x 7 over (a.z, w).
  REQUIRE(csv.after.size() >= 3 + 7);
  CHECK(csv.after[2] == "# Elements of inverse mass matrix:");
  const Eigen::MatrixXd matrix = mcmc.last_state().chains[0].inverse_mass_matrix.matrix();
  REQUIRE(matrix.rows() == 7);
  for (Eigen::Index r = 0; r < 7; ++r) {
    const std::vector<double> values = numbers_of_comment(csv.after[std::size_t(3 + r)]);
    REQUIRE(values.size() == 7);
    for (Eigen::Index c = 0; c < 7; ++c) CHECK(values[std::size_t(c)] == matrix(r, c));
  }

  // Without the deterministic site.
  tyche::write_cmdstan_csv(dir, mcmc, {.prefix = "latent", .include_deterministic = false});
  const StanCSV latent = read_stan_csv(dir / "latent_1.csv");
  CHECK(latent.header == std::vector<std::string>(expected_header.begin(), expected_header.begin() + 14));
  fs::remove_all(dir);
}

TEST_CASE("write_cmdstan_csv: collected warm-up draws are CmdStan's saved warm-up", "[cmdstan_csv]") {
  const auto model = [] { tyche::sample("x", dist::Normal(1.0, 2.0)); };
  tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 30, .num_samples = 10, .progress_bar = false});
  mcmc.warmup(5, tyche::WarmupOptions{.collect_warmup = true});
  const fs::path dir = fresh_directory("warmup");
  const StanCSV csv = read_stan_csv(tyche::write_cmdstan_csv(dir, mcmc).at(0));
  const std::map<std::string, std::string> config = config_values(csv);
  CHECK(config.at("save_warmup") == "1");
  CHECK(config.at("num_warmup") == "30");
  CHECK(config.at("num_samples") == "0");
  REQUIRE(csv.rows.size() == 30);
  // The warm-up rows come before the adaptation block.
  CHECK(csv.lines[csv.last_row_line + 1] == "# Adaptation terminated");
  fs::remove_all(dir);
}

TEST_CASE("write_cmdstan_csv: HMC is CmdStan's static engine", "[cmdstan_csv]") {
  const auto model = [] { tyche::sample("x", dist::Normal(1.0, 2.0)); };
  tyche::MCMC mcmc(tyche::HMC(model, {.num_steps = 5}), {.num_warmup = 30, .num_samples = 10, .progress_bar = false});
  mcmc.run(2);
  const fs::path dir = fresh_directory("hmc");
  const StanCSV csv = read_stan_csv(tyche::write_cmdstan_csv(dir, mcmc).at(0));
  const std::map<std::string, std::string> config = config_values(csv);
  CHECK(config.at("engine") == "static");
  CHECK_FALSE(config.contains("max_depth"));
  CHECK(std::stod(config.at("int_time")) == 5 * mcmc.last_state().chains[0].step_size);
  CHECK(std::vector<std::string>(csv.header.begin(), csv.header.begin() + 7) == kSamplerColumns);
  REQUIRE(csv.rows.size() == 10);
  for (const std::vector<double>& row : csv.rows) CHECK(row[4] == 5);  // n_leapfrog__
  fs::remove_all(dir);
}

TEST_CASE("write_cmdstan_csv: errors", "[cmdstan_csv]") {
  const auto colliding = [] {
    tyche::sample("a.b", dist::Normal(0.0, 1.0));
    tyche::sample("a_b", dist::Normal(0.0, 1.0));
  };
  tyche::MCMC mcmc(tyche::NUTS(colliding), {.num_warmup = 5, .num_samples = 5, .progress_bar = false});
  const fs::path dir = fresh_directory("errors");
  REQUIRE_THROWS_CONTAINING(tyche::write_cmdstan_csv(dir, mcmc), std::logic_error, "nothing has run");
  mcmc.run(0);
  REQUIRE_THROWS_CONTAINING(tyche::write_cmdstan_csv(dir, mcmc), std::invalid_argument, "`a.b`", "`a_b`",
                            "written as `a_b`");
  // A directory that cannot be made: its parent is a file.
  const auto single = [] { tyche::sample("x", dist::Normal(0.0, 1.0)); };
  tyche::MCMC ok(tyche::NUTS(single), {.num_warmup = 5, .num_samples = 5, .progress_bar = false});
  ok.run(0);
  fs::create_directories(dir);
  std::ofstream(dir / "file") << "not a directory";
  REQUIRE_THROWS_CONTAINING(tyche::write_cmdstan_csv(dir / "file" / "out", ok), std::runtime_error,
                            "cannot create directory", "file/out");
  fs::remove_all(dir);
}
