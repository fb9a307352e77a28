#!/usr/bin/env bash
# Compile-time cost of tyche on the machine it runs on (issue 17).
#
#   bench/compile_time.sh            # from the repository root (or anywhere)
#   bench/compile_time.sh -n 5 -c clang++
#
# Options:
#   -n N     best of N compiles per row (default 3): user CPU time is noisy on a
#            shared machine, and the minimum is the least disturbed run
#   -c CXX   compiler (default: $CXX, else g++)
#   -q       quick: one run per row and no -O0 rows
#   -h       this help
#
# What it measures, each with `/usr/bin/time` (user CPU seconds, peak memory):
#   - `-fsyntax-only` of a file that only includes <tyche/tyche.hpp>, of each
#     layer header, and of the floor: Eigen/Dense plus every Boost header that
#     tyche includes (found by grep), i.e. what tyche cannot be cheaper than;
#   - a one-model program (eight schools, non-centered: sample, plate, trace,
#     seed, format_trace) compiled and linked at -O0 and -O2, without and with
#     a precompiled <tyche/tyche.hpp> (whose own build is a separate row);
# then prints the targets of issue 17 as met or MISSED. Ratios are to the
# floor of the same run, so that the machine's speed cancels. It exits 0
# whatever the figures (it is a measurement), non-zero if a compile fails.
set -euo pipefail

runs=3
cxx=${CXX:-g++}
quick=0
while getopts "n:c:qh" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    c) cxx=$OPTARG ;;
    q) quick=1 runs=1 ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "compile_time.sh: -n needs a positive count, got '$runs'" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
include=$root/include
[[ -x /usr/bin/time ]] || { echo "compile_time.sh: needs /usr/bin/time (Debian package 'time')" >&2; exit 1; }
command -v "$cxx" >/dev/null || { echo "compile_time.sh: compiler '$cxx' not found" >&2; exit 1; }
eigen=$(for d in /usr/include/eigen3 /usr/local/include/eigen3; do [[ -d $d ]] && echo "$d" && break; done)
[[ -n $eigen ]] || { echo "compile_time.sh: Eigen 3 headers not found" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tyche_compile_time.XXXXXX")
trap 'rm -rf "$work"' EXIT
flags=(-std=c++20 -I"$include" -I"$eigen")

# measure <label> <compiler arguments...>: best of $runs, sets best_s and best_mb.
declare -A seconds megabytes
labels=()
measure() {
  local label=$1 out s kb
  shift
  best_s="" best_mb=""
  for ((i = 0; i < runs; i++)); do
    if ! /usr/bin/time -f "%U %M" -o "$work/time" "$cxx" "$@" 2>"$work/errors"; then
      echo "compile_time.sh: compile failed: $label" >&2
      echo "  $cxx $*" >&2
      head -n 30 "$work/errors" >&2
      exit 1
    fi
    read -r s kb < <(tail -n 1 "$work/time")
    if [[ -z $best_s ]] || awk -v a="$s" -v b="$best_s" 'BEGIN { exit !(a < b) }'; then best_s=$s; fi
    if [[ -z $best_mb ]] || ((kb / 1024 < best_mb)); then best_mb=$((kb / 1024)); fi
  done
  seconds[$label]=$best_s
  megabytes[$label]=$best_mb
  labels+=("$label")
  printf '  %-44s %7.2f s %6d MB\n' "$label" "$best_s" "$best_mb" >&2
}

includes_file() {  # includes_file <name> <header...>: a file that includes the headers
  local file=$work/$1.cpp
  shift
  printf '#include <%s>\n' "$@" >"$file"
  echo "$file"
}

echo "compile_time.sh: $("$cxx" --version | head -n 1), best of $runs, on $(nproc) cores" >&2

# --- syntax-only rows ---------------------------------------------------------
boost_headers=($(grep -rhoE '#include <boost/[^>]+>' "$include" | sed 's/#include <\(.*\)>/\1/' | sort -u))
measure "floor: Eigen/Dense + Boost.Math (${#boost_headers[@]} headers)" \
  -fsyntax-only "${flags[@]}" "$(includes_file floor Eigen/Dense "${boost_headers[@]}")"
floor_label=${labels[0]}
measure "tyche/tyche.hpp" -fsyntax-only "${flags[@]}" "$(includes_file tyche tyche/tyche.hpp)"
for layer in core distributions effects infer; do
  [[ -f $include/tyche/$layer.hpp ]] || continue
  measure "tyche/$layer.hpp" -fsyntax-only "${flags[@]}" "$(includes_file "$layer" "tyche/$layer.hpp")"
done

# --- one model, compiled and linked -------------------------------------------
cat >"$work/eight_schools.cpp" <<'EOF'
// What a new user writes first: one model, traced once, printed.
#include <tyche/tyche.hpp>

#include <iostream>
#include <optional>

namespace dist = tyche::dist;

int main() {
  const tyche::Tensor sigma{15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0};
  const tyche::Tensor y{28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0};
  auto eight_schools = [](const tyche::Tensor& sigma, std::optional<tyche::Tensor> y) {
    auto mu = tyche::sample("mu", dist::Normal(0.0, 5.0));
    auto tau = tyche::sample("tau", dist::HalfCauchy(5.0));
    tyche::plate schools("J", sigma.size());
    auto theta_decentered = tyche::sample("theta_decentered", dist::Normal(0.0, 1.0));
    auto theta = tyche::deterministic("theta", mu + theta_decentered * tau);
    return tyche::sample("obs", dist::Normal(theta, sigma), std::move(y));
  };
  const tyche::Trace trace = tyche::trace(tyche::seed(eight_schools, 0)).get_trace(sigma, y);
  std::cout << tyche::format_trace(trace);
}
EOF
printf '#include <tyche/tyche.hpp>\n' >"$work/tyche_pch.hpp"

optimisations=(-O2)
((quick)) || optimisations=(-O0 -O2)
for opt in "${optimisations[@]}"; do
  measure "eight schools, $opt" "${flags[@]}" "$opt" "$work/eight_schools.cpp" -o "$work/eight_schools"
  "$work/eight_schools" >/dev/null || { echo "compile_time.sh: the eight schools program failed at $opt" >&2; exit 1; }
  # GCC and Clang use a precompiled header only if the macros it saw match
  # the program's (__OPTIMIZE__ among them): one per optimisation level.
  mkdir -p "$work/pch$opt"
  if [[ $("$cxx" --version) == *clang* ]]; then
    measure "precompiled tyche.hpp, $opt (once)" "${flags[@]}" "$opt" -x c++-header "$work/tyche_pch.hpp" \
      -o "$work/pch$opt/tyche_pch.hpp.pch"
    pch_use=(-include-pch "$work/pch$opt/tyche_pch.hpp.pch")
  else
    cp "$work/tyche_pch.hpp" "$work/pch$opt/"
    measure "precompiled tyche.hpp, $opt (once)" "${flags[@]}" "$opt" -x c++-header "$work/pch$opt/tyche_pch.hpp" \
      -o "$work/pch$opt/tyche_pch.hpp.gch"
    pch_use=(-Winvalid-pch -include "$work/pch$opt/tyche_pch.hpp")
  fi
  measure "eight schools, $opt, precompiled header" "${flags[@]}" "$opt" "${pch_use[@]}" \
    "$work/eight_schools.cpp" -o "$work/eight_schools"
  "$work/eight_schools" >/dev/null || { echo "compile_time.sh: the eight schools program failed at $opt" >&2; exit 1; }
done

# --- report ------------------------------------------------------------------
floor=${seconds[$floor_label]}
echo
printf '%-46s %9s %9s %9s\n' "compile" "user s" "peak MB" "x floor"
for label in "${labels[@]}"; do
  printf '%-46s %9.2f %9d %9s\n' "$label" "${seconds[$label]}" "${megabytes[$label]}" \
    "$(awk -v s="${seconds[$label]}" -v f="$floor" 'BEGIN { printf "%.1f", s / f }')"
done

# target <description> <value> <limit>: met when value <= limit.
target() {
  local verdict
  verdict=$(awk -v v="$2" -v l="$3" 'BEGIN { print (v <= l) ? "met" : "MISSED" }')
  printf '%-58s %9s %9s  %s\n' "$1" "$2" "<= $3" "$verdict"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
echo
echo "Targets of issue 17 (the full CI run's 20 minutes is not measured here):"
target "tyche.hpp syntax-only, x floor" "$(ratio "${seconds[tyche/tyche.hpp]}" "$floor")" 2
target "eight schools at -O2, user s" "${seconds[eight schools, -O2]}" 10
target "eight schools at -O2, x floor" "$(ratio "${seconds[eight schools, -O2]}" "$floor")" 5
target "eight schools at -O2, peak MB" "${megabytes[eight schools, -O2]}" 600
exit 0
