#include <catch2/catch.hpp>
#include <tyche/tyche.hpp>

TEST_CASE("tyche headers compile and the library version is set") {
  CHECK(tyche::version_major == 0);
  CHECK(tyche::version_minor == 1);
  CHECK(tyche::version_patch == 0);
}
