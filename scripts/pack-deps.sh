#!/usr/bin/env bash
# Copies what the GPU machine lacks (it has nvcc, CMake, ninja, PyTorch and
# compute-sanitizer, but no network and no apt) into .deps/ of the checkout,
# which the device tool carries along (carry: [".deps"]; see docs/gpu.md):
#   .deps/include/  the header-only dependencies from this machine's
#                   /usr/include: Eigen, doctest, CLI11, nlohmann-json, stb;
#                   and zlib.h + zconf.h (the library itself, libz.so.1, is
#                   part of every Linux system; CMakeLists.txt uses it when
#                   the development link libz.so is missing)
#   .deps/data/fashion-mnist/  the 10,000 Fashion-MNIST test images and
#                   labels under the training-split names, for the GPU
#                   smoke run (ddpm-train --data .deps/data/fashion-mnist)
# CMake finds the headers through DDPM_DEPS_DIR (default: .deps).
# Usage: scripts/pack-deps.sh   (idempotent; about 19 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
dst=.deps
inc=/usr/include
mkdir -p "$dst/include" "$dst/data/fashion-mnist"

need() {
  if [ ! -e "$1" ]; then
    echo "pack-deps.sh: $1 is missing on this machine ($2); run scripts/install-deps.sh" >&2
    exit 1
  fi
}
need "$inc/eigen3/Eigen/Core" libeigen3-dev
need "$inc/doctest/doctest.h" doctest-dev
need "$inc/CLI/CLI.hpp" libcli11-dev
need "$inc/nlohmann/json.hpp" nlohmann-json3-dev
need "$inc/stb/stb_image_write.h" libstb-dev
need "$inc/zlib.h" zlib1g-dev

rm -rf "$dst/include/eigen3" "$dst/include/doctest" "$dst/include/CLI" "$dst/include/nlohmann" "$dst/include/stb"
mkdir -p "$dst/include/eigen3" "$dst/include/stb"
cp -r "$inc/eigen3/Eigen" "$dst/include/eigen3/"
cp -r "$inc/doctest" "$inc/CLI" "$inc/nlohmann" "$dst/include/"
cp "$inc/stb/stb_image.h" "$inc/stb/stb_image_write.h" "$dst/include/stb/"
# zconf.h sits next to zlib.h on Debian; some systems keep it per architecture.
cp "$inc/zlib.h" "$dst/include/"
zconf=$(ls "$inc/zconf.h" "$inc"/*-linux-gnu/zconf.h 2>/dev/null | head -n 1 || true)
need "${zconf:-$inc/zconf.h}" zlib1g-dev
cp "$zconf" "$dst/include/zconf.h"

fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/t10k-images-idx3-ubyte.gz" ]; then
  cp "$fm/t10k-images-idx3-ubyte.gz" "$dst/data/fashion-mnist/train-images-idx3-ubyte.gz"
  cp "$fm/t10k-labels-idx1-ubyte.gz" "$dst/data/fashion-mnist/train-labels-idx1-ubyte.gz"
else
  echo "pack-deps.sh: no $fm (dataset-fashion-mnist): the GPU smoke run will have no data" >&2
fi
echo "pack-deps.sh: $(du -sh "$dst" | cut -f1) in $dst"
