#!/usr/bin/env bash
# The main job: install what is missing, build, train a DDPM on Fashion-MNIST
# with ddpm-train's embedded defaults (about 15 minutes on a 2-core CPU; a
# longer run on a GPU when the CUDA backend finds one), then sample a grid.
# Usage: scripts/quickstart.sh [RUN_DIR]   (default: runs/quickstart)
# Extra ddpm-train flags can be passed through DDPM_TRAIN_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

run=${1:-runs/quickstart}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target ddpm-train ddpm-sample

resume=()
[ -f "$run/state.safetensors" ] && resume=(--resume)
# shellcheck disable=SC2086
build/tools/ddpm-train --out "$run" "${resume[@]}" ${DDPM_TRAIN_FLAGS:-}
build/tools/ddpm-sample --model "$run/model.safetensors" --num 64 --sampler ddim --steps 50 --eta 1 --seed 1 \
  --out "$run/samples.png" --progression "$run/progression.png"
echo "quickstart: samples in $run/samples.png, training curve in $run/loss.png, run files in $run/"
