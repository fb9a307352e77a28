#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

#include <string>

TEST_CASE("the header's version is the version of the CMake package") {
  const std::string header = std::to_string(tyche::version_major) + "." +
                             std::to_string(tyche::version_minor) + "." +
                             std::to_string(tyche::version_patch);
  REQUIRE(header == TYCHE_PROJECT_VERSION);
}
