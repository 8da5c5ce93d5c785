#!/usr/bin/env bash
# Installs the Debian packages the project builds and runs with. Idempotent:
# packages already present are not asked for, so a machine that has them all
# needs no network. Usage: scripts/install-deps.sh [--bench] [--mpi] [--fuzz] [--sass]
#   --bench  also PyTorch CPU (Debian's python3-torch) for the benchmark twins
#   --mpi    also Open MPI (data-parallel training)
#   --fuzz   also clang (libFuzzer targets)
#   --sass   also cuobjdump and nvdisasm, which the CUDA toolkit here lacks:
#            pip's nvidia-cuda-cuobjdump / nvidia-cuda-nvdisasm wheels, into
#            $DDPM_CUDA_TOOLS (default /opt/ddpm-cuda-tools as root, else
#            ~/.cache/ddpm-cuda-tools), for scripts/check-kernel-resources.sh.
#            When pip cannot get them, a warning; that check then skips.
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config libeigen3-dev doctest-dev libcli11-dev
      nlohmann-json3-dev libstb-dev zlib1g-dev dataset-fashion-mnist python3 clang-format)
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(python3-torch python3-numpy python3-matplotlib) ;;
    --mpi) pkgs+=(libopenmpi-dev openmpi-bin) ;;
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    --sass) sass=1; pkgs+=(python3-pip) ;;
    *) echo "install-deps.sh: unknown option '$arg' (expected --bench, --mpi, --fuzz or --sass)" >&2; exit 2 ;;
  esac
done

# The cuobjdump / nvdisasm wheels (after the Debian packages: pip is one).
install_sass_tools() {
  local dir=${DDPM_CUDA_TOOLS:-}
  [ -n "$dir" ] || { [ "$(id -u)" -eq 0 ] && dir=/opt/ddpm-cuda-tools || dir="$HOME/.cache/ddpm-cuda-tools"; }
  [ -x "$dir/nvidia/cu13/bin/cuobjdump" ] && return 0
  echo "install-deps.sh: installing cuobjdump and nvdisasm (pip wheels) into $dir"
  local wheels=(nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)
  python3 -m pip install --quiet --disable-pip-version-check --target "$dir" "${wheels[@]}" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages --target "$dir" "${wheels[@]}" ||
    echo "install-deps.sh: warning: pip could not install ${wheels[*]}; the SASS check will report itself skipped" >&2
}
sass=${sass:-0}

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  [ "$sass" -eq 1 ] && install_sass_tools
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$sass" -eq 1 ] && install_sass_tools
exit 0
