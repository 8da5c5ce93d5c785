#!/usr/bin/env bash
# Installs the Debian packages the project builds and runs with. Idempotent:
# packages already present are not asked for, so a machine that has them all
# needs no network. Usage: scripts/install-deps.sh [--bench] [--mpi] [--fuzz]
#   --bench  also PyTorch CPU (Debian's python3-torch) for the benchmark twins
#   --mpi    also Open MPI (data-parallel training)
#   --fuzz   also clang (libFuzzer targets)
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config libeigen3-dev doctest-dev libcli11-dev
      nlohmann-json3-dev libstb-dev zlib1g-dev dataset-fashion-mnist python3 clang-format)
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(python3-torch python3-numpy python3-matplotlib) ;;
    --mpi) pkgs+=(libopenmpi-dev openmpi-bin) ;;
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    *) echo "install-deps.sh: unknown option '$arg' (expected --bench, --mpi or --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
