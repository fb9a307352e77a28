# tyche_precompile_headers: compile <tyche/tyche.hpp> once per target instead
# of once per source file.
#
#   find_package(tyche 0.1 REQUIRED)        # or add_subdirectory(tyche)
#   add_executable(my_model model.cpp)
#   target_link_libraries(my_model PRIVATE tyche::tyche)
#   tyche_precompile_headers(my_model)
#
#   tyche_precompile_headers(<target>... [HEADERS <header>...])
#
# The first target gets a precompiled header of <tyche/tyche.hpp> (and of the
# HEADERS given, e.g. <catch2/catch.hpp>); every further target reuses that
# one (REUSE_FROM), so several one-file programs pay for one precompiled
# header, not one each. Targets that reuse it must be compiled with the same
# options and definitions as the first. Each target must link tyche::tyche,
# which is where the header's include directories come from. Setting
# CMAKE_DISABLE_PRECOMPILE_HEADERS turns this off, as for any target.
function(tyche_precompile_headers)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "" "HEADERS")
  set(targets ${arg_UNPARSED_ARGUMENTS})
  if(NOT targets)
    message(FATAL_ERROR "tyche_precompile_headers: give at least one target")
  endif()
  foreach(target IN LISTS targets)
    if(NOT TARGET ${target})
      message(FATAL_ERROR "tyche_precompile_headers: no target named '${target}'")
    endif()
  endforeach()
  list(POP_FRONT targets first)
  target_precompile_headers(${first} PRIVATE ${arg_HEADERS} <tyche/tyche.hpp>)
  foreach(target IN LISTS targets)
    target_precompile_headers(${target} REUSE_FROM ${first})
  endforeach()
endfunction()
