// REQUIRE_THROWS_CONTAINING(expr, Exception, parts...): the expression throws
// `Exception` and its message contains every listed part. Parenthesise
// expressions that contain commas.
#pragma once

#include <catch2/catch.hpp>

#include <string>

#define REQUIRE_THROWS_CONTAINING(expr, Exception, ...)                  \
  do {                                                                   \
    REQUIRE_THROWS_AS(expr, Exception);                                  \
    for (const char* part_ : {__VA_ARGS__})                              \
      REQUIRE_THROWS_WITH(expr, Catch::Contains(std::string(part_)));   \
  } while (false)
