// Catch2 main for tyche_tests. Not precompiled (see tests/CMakeLists.txt).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
