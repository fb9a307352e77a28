#!/usr/bin/env bash
# Installs tyche's build and test dependencies from Debian's packages, only the
# missing ones; through sudo unless already root. Used by the README's quick
# start and by .ci/run.
set -euo pipefail
packages=(g++ cmake ninja-build libeigen3-dev libboost-dev catch2 ccache)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "all packages present: ${packages[*]}"
  exit 0
fi
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
